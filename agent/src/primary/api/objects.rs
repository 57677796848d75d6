//! Objects by id: one commit, one block (streamed), batches of each kind.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId, StoreError};

use super::{error, internal, parse_object, parse_repo, ApiState, Rejection};
use crate::protocol::{self, BatchEntry};

fn object_response(result: Result<Vec<u8>, StoreError>) -> Response {
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e @ StoreError::NotFound { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => internal(e),
    }
}

pub(super) async fn one_commit(State(state): State<ApiState>, Path((repo, id)): Path<(String, String)>) -> Response {
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

pub(super) async fn one_block(State(state): State<ApiState>, Path((repo, id)): Path<(String, String)>) -> Response {
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

pub(super) async fn batch_commits(
    State(s): State<ApiState>,
    Path(repo): Path<String>,
    Json(ids): Json<Vec<String>>,
) -> Response {
    batch(s, repo, ids, ObjectKind::Commit).await
}

pub(super) async fn batch_fs(
    State(s): State<ApiState>,
    Path(repo): Path<String>,
    Json(ids): Json<Vec<String>>,
) -> Response {
    batch(s, repo, ids, ObjectKind::Fs).await
}

pub(super) async fn batch_blocks(
    State(s): State<ApiState>,
    Path(repo): Path<String>,
    Json(ids): Json<Vec<String>>,
) -> Response {
    batch(s, repo, ids, ObjectKind::Block).await
}
