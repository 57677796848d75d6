//! Listing libraries and their rows: heads page by page, one library's record or rows, the trash.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{error, internal, parse_repo, ApiState};
use crate::protocol::{self, RepoHead, ReposPage, TrashList, TrashedHead};

#[derive(Deserialize)]
pub(super) struct PageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list_repos(State(state): State<ApiState>, Query(q): Query<PageQuery>) -> Response {
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

pub(super) async fn repo_metadata(State(state): State<ApiState>, Path(repo): Path<String>) -> Response {
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

pub(super) async fn library_rows(State(state): State<ApiState>, Path(repo): Path<String>) -> Response {
    let repo = match parse_repo(&repo) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let rows = match state.catalogue.get(&state.db).await {
        Ok(catalogue) => state.db.library_rows_in(&repo, &catalogue).await,
        Err(e) => Err(e),
    };
    match rows {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => {
            state.catalogue.forget().await;
            internal(e)
        }
    }
}

pub(super) async fn trash(State(state): State<ApiState>) -> Response {
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
