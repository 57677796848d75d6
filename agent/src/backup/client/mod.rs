//! The backup's HTTP client for the primary's object API (reqwest). Implements [`Remote`] for
//! one library, and lists libraries and metadata for full scans. Every failure becomes the
//! [`RemoteError`] variant that says what it means: unreachable (wait), unauthorized (the
//! token), a server error (the primary's log), a protocol violation.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use seaf_seafile::{LibraryRows, ObjectId, RepoId};

use seaf_seafile::ObjectKind;

use super::replicate::{Chunks, Fetched, Remote, RemoteError};
use answer::{json, protocol, read_limited, MAX_OBJECT_ANSWER};

mod answer;
use crate::protocol::{self, BatchEntry, LibraryRowsBody, PackRequest, RepoMetadata, ReposPage, TrashList};

/// Longest silence within an answer before the primary counts as away.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a pack may stream (a first copy of a very large library).
const PACK_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Chunks of a pack buffered between the socket and the verifier.
const PACK_CHUNKS_IN_FLIGHT: usize = 8;

/// A connection to one primary.
#[derive(Clone)]
pub struct PrimaryClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl PrimaryClient {
    /// A client of `primary_url`; with `ca`, HTTPS certificates must chain to the CAs in that
    /// PEM file (and only to them).
    pub fn new(primary_url: &str, token: &str, ca: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            // A pack may stream for hours (it has no total timeout), but never go silent.
            .read_timeout(READ_TIMEOUT)
            .pool_max_idle_per_host(32);
        if let Some(ca) = ca {
            let pem =
                std::fs::read(ca).with_context(|| format!("[backup] primary_ca = {}: cannot read it", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("[backup] primary_ca = {}: not PEM certificates", ca.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "[backup] primary_ca = {}: no certificate in it",
                ca.display()
            );
            builder = builder.tls_certs_only(certs);
        }
        Ok(PrimaryClient {
            http: builder.build()?,
            base: format!("{}/api/v1", primary_url.trim_end_matches('/')),
            token: token.to_string(),
        })
    }

    /// A request that got no (complete) answer.
    fn unreachable(&self, e: reqwest::Error) -> RemoteError {
        RemoteError::Unreachable {
            url: self.base.clone(),
            detail: e.to_string(),
        }
    }

    /// The successful response, or what its status means.
    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
        answer::check(resp, &self.base).await
    }

    /// One page of library heads.
    pub async fn heads_page(&self, after: Option<&RepoId>, limit: u32) -> Result<ReposPage, RemoteError> {
        // Ids are validated types: nothing in them needs escaping.
        let mut url = format!("{}/repos?limit={limit}", self.base);
        if let Some(a) = after {
            url.push_str(&format!("&after={a}"));
        }
        let req = self.http.get(url).bearer_auth(&self.token);
        let resp = self.check(req.send().await.map_err(|e| self.unreachable(e))?).await?;
        json(resp, "library list").await
    }

    /// Every library head, page by page.
    pub async fn all_heads(&self) -> Result<Vec<(RepoId, ObjectId)>, RemoteError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.heads_page(after.as_ref(), protocol::MAX_PAGE).await?;
            out.extend(page.repos.iter().map(|r| (r.repo_id, r.head)));
            match page.next {
                // A cursor must move forwards, or a broken primary keeps the scan going forever.
                Some(n) if after.is_some_and(|a| n <= a) => {
                    return Err(protocol(format!(
                        "its library list does not advance (next {n} after {})",
                        after.unwrap()
                    )))
                }
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// A library's head and metadata; `None` when the primary does not have it (deleted).
    pub async fn metadata(&self, repo: &RepoId) -> Result<Option<RepoMetadata>, RemoteError> {
        let Some(resp) = self.get_found(&format!("/repos/{repo}")).await? else {
            return Ok(None);
        };
        let record: RepoMetadata = json(resp, "library metadata").await?;
        if record.repo_id != *repo {
            return Err(protocol(format!(
                "it sent the metadata of {} when asked for {repo}",
                record.repo_id
            )));
        }
        Ok(Some(record))
    }

    /// Every carried row of a library. A primary older than the `rows` endpoint answers 404
    /// (for a valid id the endpoint always answers 200): then its fixed record, or no rows at
    /// all when it does not have the library.
    pub async fn library_rows(&self, repo: &RepoId) -> Result<LibraryRows, RemoteError> {
        if let Some(resp) = self.get_found(&format!("/repos/{repo}/rows")).await? {
            let rows: LibraryRowsBody = json(resp, "library rows").await?;
            if rows.repo_id != *repo {
                return Err(protocol(format!(
                    "it sent the rows of {} when asked for {repo}",
                    rows.repo_id
                )));
            }
            return Ok(rows);
        }
        Ok(match self.metadata(repo).await? {
            Some(record) => LibraryRows::from_record(&record),
            None => LibraryRows::new(*repo),
        })
    }

    /// The libraries in the primary's trash; none from a primary older than the endpoint.
    pub async fn trash(&self) -> Result<TrashList, RemoteError> {
        let Some(resp) = self.get_found("/trash").await? else {
            return Ok(TrashList { repos: Vec::new() });
        };
        json(resp, "trash list").await
    }

    /// The objects of one library.
    pub fn library(&self, repo: RepoId) -> LibraryRemote<'_> {
        LibraryRemote { client: self, repo }
    }

    /// One batch request; deferred entries come back `None` in the second list.
    async fn batch_once(
        &self,
        repo: &RepoId,
        kind: ObjectKind,
        ids: &[ObjectId],
    ) -> Result<(Vec<Fetched>, Vec<ObjectId>), RemoteError> {
        let body: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
        let resp = self
            .http
            .post(format!("{}/repos/{repo}/{}", self.base, route(kind)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let bytes = read_limited(self.check(resp).await?, MAX_OBJECT_ANSWER).await?;
        let entries = protocol::decode_batch(&bytes).map_err(|e| protocol(e.to_string()))?;
        let (mut found, mut deferred) = (Vec::with_capacity(entries.len()), Vec::new());
        for (id, entry) in entries {
            match entry {
                BatchEntry::Found(data) => found.push((id, Some(data))),
                BatchEntry::Missing => found.push((id, None)),
                BatchEntry::Deferred => deferred.push(id),
            }
        }
        Ok((found, deferred))
    }

    /// Objects of one kind. The primary defers what does not fit one answer: blocks are then
    /// fetched alone; commits and fs objects are asked for again in a batch of their own (the
    /// first entry of an answer is never deferred, so each round makes progress).
    async fn batch(&self, repo: &RepoId, kind: ObjectKind, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        let (mut out, mut deferred) = self.batch_once(repo, kind, ids).await?;
        while !deferred.is_empty() {
            if kind == ObjectKind::Block {
                for id in deferred.drain(..) {
                    out.push((id, self.single_block(repo, &id).await?));
                }
                break;
            }
            let (more, still) = self.batch_once(repo, kind, &deferred).await?;
            if more.is_empty() {
                return Err(protocol(format!(
                    "it deferred every one of {} {kind} objects asked for again",
                    deferred.len()
                )));
            }
            out.extend(more);
            deferred = still;
        }
        Ok(out)
    }

    /// One block, fetched alone (large blocks are not batched).
    async fn single_block(&self, repo: &RepoId, id: &ObjectId) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(resp) = self.get_found(&format!("/repos/{repo}/blocks/{id}")).await? else {
            return Ok(None);
        };
        Ok(Some(read_limited(resp, MAX_OBJECT_ANSWER).await?))
    }

    /// Asks for a pack and streams it into a channel; `None` from a primary without packs.
    async fn pack(&self, repo: &RepoId, want: ObjectId, haves: &[ObjectId]) -> Result<Option<Chunks>, RemoteError> {
        let body = PackRequest {
            want,
            have: haves.to_vec(),
        };
        let resp = self
            .http
            .post(format!("{}/repos/{repo}/pack", self.base))
            .bearer_auth(&self.token)
            .timeout(PACK_TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let mut resp = self.check(resp).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(PACK_CHUNKS_IN_FLIGHT);
        let client = self.clone();
        tokio::spawn(async move {
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(chunk)) => Ok(chunk),
                    Ok(None) => return,
                    Err(e) => Err(client.unreachable(e)),
                };
                let failed = chunk.is_err();
                // The receiver stopped (it refused the pack): dropping the response hangs up.
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }

    /// GET `path` (under `/api/v1`): the successful response, or `None` on 404.
    async fn get_found(&self, path: &str) -> Result<Option<reqwest::Response>, RemoteError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.check(resp).await.map(Some)
    }
}

/// [`Remote`] for one library of a primary.
pub struct LibraryRemote<'a> {
    client: &'a PrimaryClient,
    repo: RepoId,
}

impl Remote for LibraryRemote<'_> {
    async fn fetch(&self, kind: ObjectKind, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        self.client.batch(&self.repo, kind, ids).await
    }

    async fn pack(&self, want: ObjectId, haves: &[ObjectId]) -> Result<Option<Chunks>, RemoteError> {
        self.client.pack(&self.repo, want, haves).await
    }
}

/// The batch route of each kind.
fn route(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Commit => "commits",
        ObjectKind::Fs => "fs",
        ObjectKind::Block => "blocks",
    }
}
