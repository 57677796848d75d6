//! The primary's object API.
//!
//! A misconfigured backup (wrong `sync_token`) or a scanner is refused on every request, and a
//! broken store fails every request: those lines are rate-limited, the request counter still
//! counts each one by status.

use std::fmt::Display;
use std::time::Duration;

use super::catalogue::*;
use super::{limit, InternalEvent};
use crate::log_limit::SharedLogLimit;

/// A request was answered (refused ones included).
pub struct ApiRequestServed {
    /// The matched route pattern (`/api/v1/repos/{repo}/fs`), or `unmatched`: a bounded set of
    /// label values, unlike the request path.
    pub route: String,
    pub status: u16,
    /// The response's `Content-Length` (0 when streamed without one).
    pub bytes: u64,
    pub took: Duration,
}

impl InternalEvent for ApiRequestServed {
    fn emit(self) {
        let status = self.status.to_string();
        metrics::counter!(PRIMARY_API_REQUESTS, "route" => self.route.clone(), "status" => status).increment(1);
        metrics::counter!(PRIMARY_API_RESPONSE_BYTES, "route" => self.route.clone()).increment(self.bytes);
        metrics::histogram!(PRIMARY_API_REQUEST_SECONDS, "route" => self.route).record(self.took.as_secs_f64());
    }
}

/// A request without the right `sync_token` was refused (401).
pub struct TokenRefused<'a> {
    pub path: &'a str,
}

impl InternalEvent for TokenRefused<'_> {
    fn emit(self) {
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(path = %self.path, unlogged, "refused a request with a missing or wrong sync_token");
        }
    }
}

/// A path with `..` or `.` segments was refused (400).
pub struct PathTraversalRefused<'a> {
    pub path: &'a str,
}

impl InternalEvent for PathTraversalRefused<'_> {
    fn emit(self) {
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(path = %self.path, unlogged, "refused a path-traversal request");
        }
    }
}

/// A request failed on the primary's side (500): the store or the database.
pub struct RequestFailed<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for RequestFailed<'_> {
    fn emit(self) {
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::error!(error = %self.error, unlogged, "object API request failed");
        }
    }
}

/// A connection was closed at accept: `open` connections were open already.
pub struct ConnectionRefused {
    pub peer: std::net::SocketAddr,
    pub open: usize,
}

impl InternalEvent for ConnectionRefused {
    fn emit(self) {
        metrics::counter!(PRIMARY_API_CONNECTIONS_REFUSED).increment(1);
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(peer = %self.peer, open = self.open, unlogged, "refused an object API connection: api_max_connections are open");
        }
    }
}
