//! The object API the backup pulls from (axum). Every request carries the shared `sync_token`
//! (compared in constant time); every id is validated before it reaches the store; objects are
//! sent as stored bytes.
//!
//! Routes, under `/api/v1`:
//! - `GET  /repos?after=&limit=`           one page of library heads, by library id
//! - `GET  /repos/{repo}`                  head and core rows in a fixed record (older backups)
//! - `GET  /repos/{repo}/rows`             every carried row with every column (live or trashed)
//! - `GET  /trash`                         the libraries in the trash and their heads
//! - `GET  /repos/{repo}/commits/{id}`     one commit
//! - `POST /repos/{repo}/commits`          batch of commits (JSON array of ids in the body)
//! - `POST /repos/{repo}/fs`               batch of fs objects
//! - `GET  /repos/{repo}/blocks/{id}`      one block, streamed
//! - `POST /repos/{repo}/blocks`           batch of small blocks

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId, SeafileDb, StoreError};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::internal_events::api::{ApiRequestServed, PathTraversalRefused, RequestFailed, TokenRefused};
use crate::internal_events::InternalEvent;
use crate::protocol::{self, ApiError, BatchEntry, RepoHead, ReposPage, TrashList, TrashedHead};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    store: ObjectStore,
    db: SeafileDb,
    /// SHA-1 of the token: comparing digests keeps the comparison constant-time whatever the
    /// length of what the client sent.
    token_digest: [u8; 20],
    /// Virtual library → origin (or itself). A library's origin never changes, so no expiry.
    stores: Arc<Mutex<HashMap<RepoId, RepoId>>>,
}

impl ApiState {
    pub fn new(store: ObjectStore, db: SeafileDb, sync_token: &str) -> Self {
        ApiState {
            store,
            db,
            token_digest: Sha1::digest(sync_token.as_bytes()).into(),
            stores: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The store holding `repo`'s fs objects and blocks.
    async fn object_store_of(&self, repo: &RepoId) -> Result<RepoId, Response> {
        if let Some(s) = self.stores.lock().expect("stores lock").get(repo) {
            return Ok(*s);
        }
        let origins = self.db.virtual_origins().await.map_err(internal)?;
        let store = origins.get(repo).copied().unwrap_or(*repo);
        self.stores.lock().expect("stores lock").insert(*repo, store);
        Ok(store)
    }
}

/// The router, with authentication and request metrics.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/v1/repos", get(list_repos))
        .route("/api/v1/repos/{repo}", get(repo_metadata))
        .route("/api/v1/repos/{repo}/rows", get(library_rows))
        .route("/api/v1/trash", get(trash))
        .route("/api/v1/repos/{repo}/commits/{id}", get(one_commit))
        .route("/api/v1/repos/{repo}/commits", post(batch_commits))
        .route("/api/v1/repos/{repo}/fs", post(batch_fs))
        .route("/api/v1/repos/{repo}/blocks/{id}", get(one_block))
        .route("/api/v1/repos/{repo}/blocks", post(batch_blocks))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    // Outermost: count every request, including refused ones.
    api.layer(middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
}

/// Binds `listen` and serves until the process ends.
pub async fn serve(listen: &str, state: ApiState) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on [primary] listen = {listen:?} (address in use?)"))?;
    let addr = listener.local_addr()?;
    let app = router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "object API stopped");
        }
    });
    Ok(addr)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ApiError { error: message.into() })).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    RequestFailed { error: &e }.emit();
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().split('/').any(|seg| seg == ".." || seg == ".") {
        PathTraversalRefused { path: req.uri().path() }.emit();
        return error(StatusCode::BAD_REQUEST, "path traversal is not allowed");
    }
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn authenticate(State(state): State<ApiState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(protocol::AUTH_SCHEME))
        .unwrap_or("");
    let digest: [u8; 20] = Sha1::digest(presented.as_bytes()).into();
    if presented.is_empty() || !bool::from(digest.ct_eq(&state.token_digest)) {
        TokenRefused { path: req.uri().path() }.emit();
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong sync_token: send `Authorization: Bearer <sync_token>` with the token both sides share",
        );
    }
    next.run(req).await
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    ApiRequestServed {
        route,
        status: response.status().as_u16(),
        bytes,
        took: started.elapsed(),
    }
    .emit();
    response
}

/// A refused request: small, so `Result`s carrying it stay cheap.
struct Rejection(StatusCode, String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn parse_repo(s: &str) -> Result<RepoId, Rejection> {
    RepoId::parse(s).map_err(|e| Rejection(StatusCode::BAD_REQUEST, e.to_string()))
}

fn parse_object(s: &str) -> Result<ObjectId, Rejection> {
    ObjectId::parse(s).map_err(|e| Rejection(StatusCode::BAD_REQUEST, e.to_string()))
}

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

async fn list_repos(State(state): State<ApiState>, Query(q): Query<PageQuery>) -> Response {
    let after = match q.after.as_deref().map(parse_repo).transpose() {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let limit = q.limit.unwrap_or(protocol::MAX_PAGE).clamp(1, protocol::MAX_PAGE);
    match state.db.heads_page(after.as_ref(), limit).await {
        Ok(rows) => {
            let next = if rows.len() as u32 == limit {
                rows.last().map(|(r, _)| *r)
            } else {
                None
            };
            let repos = rows
                .into_iter()
                .map(|(repo_id, head)| RepoHead { repo_id, head })
                .collect();
            Json(ReposPage { repos, next }).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn repo_metadata(State(state): State<ApiState>, Path(repo): Path<String>) -> Response {
    let repo = match parse_repo(&repo) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match state.db.repo_record(&repo).await {
        Ok(Some(record)) => Json(record).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("library {repo} does not exist (or was deleted)"),
        ),
        Err(e) => internal(e),
    }
}

async fn library_rows(State(state): State<ApiState>, Path(repo): Path<String>) -> Response {
    let repo = match parse_repo(&repo) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match state.db.library_rows(&repo).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => internal(e),
    }
}

async fn trash(State(state): State<ApiState>) -> Response {
    match state.db.trashed_repos().await {
        Ok(trashed) => {
            let repos = trashed
                .into_iter()
                .map(|t| TrashedHead {
                    repo_id: t.repo_id,
                    head: t.head_id,
                })
                .collect();
            Json(TrashList { repos }).into_response()
        }
        Err(e) => internal(e),
    }
}

fn object_response(result: Result<Vec<u8>, StoreError>) -> Response {
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e @ StoreError::NotFound { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => internal(e),
    }
}

async fn one_commit(State(state): State<ApiState>, Path((repo, id)): Path<(String, String)>) -> Response {
    let (repo, id) = match (parse_repo(&repo), parse_object(&id)) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || store.read(ObjectKind::Commit, &repo, &id)).await;
    match result {
        Ok(r) => object_response(r),
        Err(e) => internal(e),
    }
}

async fn one_block(State(state): State<ApiState>, Path((repo, id)): Path<(String, String)>) -> Response {
    let (repo, id) = match (parse_repo(&repo), parse_object(&id)) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let store_id = match state.object_store_of(&repo).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let path = state.store.path(ObjectKind::Block, &store_id, &id);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return error(
                StatusCode::NOT_FOUND,
                format!("block {id} of library {repo} is missing"),
            )
        }
        Err(e) => return internal(format!("opening {}: {e}", path.display())),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return internal(e),
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response()
}

/// Parses a batch request body: a JSON array of object ids.
fn batch_ids(ids: &[String]) -> Result<Vec<ObjectId>, Rejection> {
    if ids.len() > protocol::MAX_BATCH_IDS {
        return Err(Rejection(
            StatusCode::BAD_REQUEST,
            format!("at most {} ids per batch, got {}", protocol::MAX_BATCH_IDS, ids.len()),
        ));
    }
    ids.iter().map(|s| parse_object(s)).collect()
}

async fn batch(state: ApiState, repo: String, ids: Vec<String>, kind: ObjectKind) -> Response {
    let repo = match parse_repo(&repo) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let ids = match batch_ids(&ids) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    let store_id = match kind {
        ObjectKind::Commit => repo,
        _ => match state.object_store_of(&repo).await {
            Ok(s) => s,
            Err(r) => return r,
        },
    };
    let store = state.store.clone();
    let built = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        for id in &ids {
            let full = out.len() >= protocol::MAX_BATCH_BYTES;
            let entry = if full || (kind == ObjectKind::Block && !fits_batch(&store, &store_id, id)?) {
                BatchEntry::Deferred
            } else {
                match store.read(kind, &store_id, id) {
                    Ok(bytes) => BatchEntry::Found(bytes),
                    Err(StoreError::NotFound { .. }) => BatchEntry::Missing,
                    Err(e) => return Err(e),
                }
            };
            protocol::encode_entry(&mut out, id, &entry);
        }
        Ok(out)
    })
    .await;
    match built {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

/// Whether a block is small enough to travel in a batch (missing blocks "fit": they cost nothing).
fn fits_batch(store: &ObjectStore, store_id: &RepoId, id: &ObjectId) -> Result<bool, StoreError> {
    let path = store.path(ObjectKind::Block, store_id, id);
    match std::fs::metadata(&path) {
        Ok(m) => Ok(m.len() <= protocol::MAX_BATCHED_BLOCK),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(StoreError::Io {
            action: "checking",
            path,
            source: e,
        }),
    }
}

async fn batch_commits(State(s): State<ApiState>, Path(repo): Path<String>, Json(ids): Json<Vec<String>>) -> Response {
    batch(s, repo, ids, ObjectKind::Commit).await
}

async fn batch_fs(State(s): State<ApiState>, Path(repo): Path<String>, Json(ids): Json<Vec<String>>) -> Response {
    batch(s, repo, ids, ObjectKind::Fs).await
}

async fn batch_blocks(State(s): State<ApiState>, Path(repo): Path<String>, Json(ids): Json<Vec<String>>) -> Response {
    batch(s, repo, ids, ObjectKind::Block).await
}
