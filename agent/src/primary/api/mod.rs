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
//! - `POST /repos/{repo}/pack`             every object the backup lacks, in one streamed pack

mod catalogue;
mod guard;
mod listing;
mod objects;
mod pack;
mod server;

use guard::{authenticate, record_metrics};
use listing::{library_rows, list_repos, repo_metadata, trash};
use objects::{batch_blocks, batch_commits, batch_fs, one_block, one_commit};
pub use server::ServerOptions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use seaf_seafile::{ObjectId, ObjectStore, RepoId, SeafileDb};
use sha1::{Digest, Sha1};

use crate::internal_events::api::{PathTraversalRefused, RequestFailed};
use crate::internal_events::InternalEvent;
use crate::protocol::ApiError;

/// Most libraries whose object store is remembered.
const MAX_CACHED_STORES: usize = 200_000;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub(super) store: ObjectStore,
    pub(super) db: SeafileDb,
    /// SHA-1 of the token: comparing digests keeps the comparison constant-time whatever the
    /// length of what the client sent.
    token_digest: [u8; 20],
    /// Virtual library → origin (or itself). A library's origin never changes, so no expiry;
    /// the map is emptied when it reaches [`MAX_CACHED_STORES`], so ids a client makes up
    /// cannot grow it without end.
    stores: Arc<Mutex<HashMap<RepoId, RepoId>>>,
    /// The columns of Seafile's tables, for `rows`.
    pub(super) catalogue: catalogue::CachedCatalogue,
}

impl ApiState {
    pub fn new(store: ObjectStore, db: SeafileDb, sync_token: &str) -> Self {
        ApiState {
            store,
            db,
            token_digest: Sha1::digest(sync_token.as_bytes()).into(),
            stores: Arc::new(Mutex::new(HashMap::new())),
            catalogue: catalogue::CachedCatalogue::default(),
        }
    }

    /// The store holding `repo`'s fs objects and blocks.
    pub(super) async fn object_store_of(&self, repo: &RepoId) -> Result<RepoId, Response> {
        if let Some(s) = self.stores.lock().expect("stores lock").get(repo) {
            return Ok(*s);
        }
        let origins = self.db.virtual_origins().await.map_err(internal)?;
        let store = origins.get(repo).copied().unwrap_or(*repo);
        let mut stores = self.stores.lock().expect("stores lock");
        if stores.len() >= MAX_CACHED_STORES {
            stores.clear();
        }
        stores.insert(*repo, store);
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
        .route("/api/v1/repos/{repo}/pack", post(pack::pack))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    // Outermost: count every request, including refused ones.
    api.layer(middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
}

/// Binds `listen` and serves the API with `options` until the process ends.
pub async fn serve(listen: &str, state: ApiState, options: ServerOptions) -> anyhow::Result<std::net::SocketAddr> {
    server::serve(listen, router(state), options).await
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ApiError { error: message.into() })).into_response()
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    // The details (paths of the data directory, database messages) go to the primary's log,
    // not to the client: the answer only says where to look.
    RequestFailed { error: &e }.emit();
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the primary could not read its store or database; its log has the details",
    )
}

pub(super) async fn not_found(req: Request) -> Response {
    if req.uri().path().split('/').any(|seg| seg == ".." || seg == ".") {
        PathTraversalRefused { path: req.uri().path() }.emit();
        return error(StatusCode::BAD_REQUEST, "path traversal is not allowed");
    }
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

/// A refused request: small, so `Result`s carrying it stay cheap.
pub(super) struct Rejection(pub(super) StatusCode, pub(super) String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

pub(super) fn parse_repo(s: &str) -> Result<RepoId, Rejection> {
    RepoId::parse(s).map_err(|e| Rejection(StatusCode::BAD_REQUEST, e.to_string()))
}

pub(super) fn parse_object(s: &str) -> Result<ObjectId, Rejection> {
    ObjectId::parse(s).map_err(|e| Rejection(StatusCode::BAD_REQUEST, e.to_string()))
}
