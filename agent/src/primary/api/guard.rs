//! What every request passes first: the token check and the request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::{error, ApiState};
use crate::internal_events::api::{ApiRequestServed, TokenRefused};
use crate::internal_events::InternalEvent;
use crate::protocol::{self};

pub(super) async fn authenticate(
    State(state): State<ApiState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
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

pub(super) async fn record_metrics(req: Request, next: Next) -> Response {
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
