//! Reading the primary's answers: a status turned into the [`RemoteError`] that says what it
//! means, and bodies read within a limit (a broken or hostile primary must not make the backup
//! hold what it sends without end).

use crate::backup::replicate::RemoteError;

/// The most a JSON answer (a page of heads, a library's rows, the trash) may hold.
pub(super) const MAX_JSON_ANSWER: usize = 64 << 20;
/// The most an object answer (a batch, one block) may hold: a batch stops adding objects past
/// 16 MiB but its first may be larger, and Seafile's blocks are 8 MiB by default.
pub(super) const MAX_OBJECT_ANSWER: usize = 256 << 20;
/// What is read of an error's body (the message is cut to 300 characters anyway).
pub(super) const MAX_ERROR_BODY: usize = 4 << 10;

/// The successful response, or what its status means.
pub(super) async fn check(resp: reqwest::Response, base: &str) -> Result<reqwest::Response, RemoteError> {
    use reqwest::StatusCode;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let url = base.to_string();
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RemoteError::Unauthorized {
            url,
            status: status.as_u16(),
        },
        // A proxy in front of a primary that is down, or a primary starting up.
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            RemoteError::Unreachable {
                url,
                detail: format!("HTTP {status}"),
            }
        }
        _ => {
            let body = read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
            let body: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            if status.is_server_error() {
                RemoteError::Server {
                    url,
                    status: status.as_u16(),
                    body,
                }
            } else {
                protocol(format!("it answered HTTP {status} ({body}) at {url}"))
            }
        }
    })
}

/// The body, or a protocol error once it passes `limit` bytes (a broken or hostile primary
/// must not make the backup hold what it sends without end).
pub(super) async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, RemoteError> {
    let unreachable = |e: reqwest::Error| RemoteError::Unreachable {
        url: resp_url(&e),
        detail: e.to_string(),
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(protocol(format!(
            "an answer of {} bytes is over the limit of {limit}",
            resp.content_length().unwrap_or(0)
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > limit {
            return Err(protocol(format!("an answer went past the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn resp_url(e: &reqwest::Error) -> String {
    e.url().map(|u| u.to_string()).unwrap_or_default()
}

/// A JSON answer, read within [`MAX_JSON_ANSWER`].
pub(super) async fn json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, RemoteError> {
    let body = read_limited(resp, MAX_JSON_ANSWER).await?;
    serde_json::from_slice(&body).map_err(|e| protocol(format!("unreadable {what}: {e}")))
}

pub(super) fn protocol(detail: String) -> RemoteError {
    RemoteError::Protocol { detail }
}
