//! The backup's HTTP client for the primary's object API (reqwest). Implements [`Remote`] for
//! one library, and lists libraries and metadata for full scans.

use std::time::Duration;

use seaf_seafile::{LibraryRows, ObjectId, RepoId};

use super::sync::{Fetched, Remote, RemoteError};
use crate::protocol::{self, BatchEntry, LibraryRowsBody, RepoMetadata, ReposPage, TrashList};

/// A connection to one primary.
#[derive(Clone)]
pub struct PrimaryClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl PrimaryClient {
    pub fn new(primary_url: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(PrimaryClient {
            http,
            base: format!("{}/api/v1", primary_url.trim_end_matches('/')),
            token: token.to_string(),
        })
    }

    fn describe(&self, e: reqwest::Error) -> RemoteError {
        RemoteError(format!(
            "{} ({}): is the primary running and is [backup] primary_url right?",
            e, self.base
        ))
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
            " (the sync_token differs between primary and backup)"
        } else {
            ""
        };
        Err(RemoteError(format!(
            "primary answered {status}{hint}: {}",
            body.chars().take(300).collect::<String>()
        )))
    }

    /// One page of library heads.
    pub async fn heads_page(&self, after: Option<&RepoId>, limit: u32) -> Result<ReposPage, RemoteError> {
        // Ids are validated types: nothing in them needs escaping.
        let mut url = format!("{}/repos?limit={limit}", self.base);
        if let Some(a) = after {
            url.push_str(&format!("&after={a}"));
        }
        let req = self.http.get(url).bearer_auth(&self.token);
        let resp = self.check(req.send().await.map_err(|e| self.describe(e))?).await?;
        resp.json()
            .await
            .map_err(|e| RemoteError(format!("unreadable library list from the primary: {e}")))
    }

    /// Every library head, page by page.
    pub async fn all_heads(&self) -> Result<Vec<(RepoId, ObjectId)>, RemoteError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.heads_page(after.as_ref(), protocol::MAX_PAGE).await?;
            out.extend(page.repos.iter().map(|r| (r.repo_id, r.head)));
            match page.next {
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
        resp.json()
            .await
            .map(Some)
            .map_err(|e| RemoteError(format!("unreadable metadata from the primary: {e}")))
    }

    /// Every carried row of a library. A primary older than the `rows` endpoint answers 404
    /// (for a valid id the endpoint always answers 200): then its fixed record, or no rows at
    /// all when it does not have the library.
    pub async fn library_rows(&self, repo: &RepoId) -> Result<LibraryRows, RemoteError> {
        if let Some(resp) = self.get_found(&format!("/repos/{repo}/rows")).await? {
            let rows: LibraryRowsBody = resp
                .json()
                .await
                .map_err(|e| RemoteError(format!("unreadable rows of {repo} from the primary: {e}")))?;
            if rows.repo_id != *repo {
                return Err(RemoteError(format!(
                    "the primary sent the rows of {} when asked for {repo}",
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
        resp.json()
            .await
            .map_err(|e| RemoteError(format!("unreadable trash list from the primary: {e}")))
    }

    /// The objects of one library.
    pub fn library(&self, repo: RepoId) -> LibraryRemote<'_> {
        LibraryRemote { client: self, repo }
    }

    async fn batch(&self, repo: &RepoId, route: &str, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        let body: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
        let resp = self
            .http
            .post(format!("{}/repos/{repo}/{route}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.describe(e))?;
        let bytes = self.check(resp).await?.bytes().await.map_err(|e| self.describe(e))?;
        let entries = protocol::decode_batch(&bytes).map_err(|e| RemoteError(e.to_string()))?;
        let mut out = Vec::with_capacity(entries.len());
        for (id, entry) in entries {
            if !ids.contains(&id) {
                return Err(RemoteError(format!("the primary sent {id}, which was not asked for")));
            }
            match entry {
                BatchEntry::Found(data) => out.push((id, Some(data))),
                BatchEntry::Missing => out.push((id, None)),
                BatchEntry::Deferred => out.push((id, self.single_block(repo, &id).await?)),
            }
        }
        Ok(out)
    }

    /// One block, fetched alone (large blocks are not batched).
    async fn single_block(&self, repo: &RepoId, id: &ObjectId) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(resp) = self.get_found(&format!("/repos/{repo}/blocks/{id}")).await? else {
            return Ok(None);
        };
        Ok(Some(resp.bytes().await.map_err(|e| self.describe(e))?.to_vec()))
    }

    /// GET `path` (under `/api/v1`): the successful response, or `None` on 404.
    async fn get_found(&self, path: &str) -> Result<Option<reqwest::Response>, RemoteError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.describe(e))?;
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
    async fn commits(&self, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        self.client.batch(&self.repo, "commits", ids).await
    }

    async fn fs_objects(&self, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        self.client.batch(&self.repo, "fs", ids).await
    }

    async fn blocks(&self, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        self.client.batch(&self.repo, "blocks", ids).await
    }
}
