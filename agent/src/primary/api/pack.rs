//! `POST /repos/{repo}/pack`: the pack exchange's primary side. The walk runs on a blocking
//! thread and writes frames into a bounded channel that the response body drains, so a slow
//! backup slows the walk instead of filling the primary's memory, and a backup that hangs up
//! stops it.

use std::io::{self, Read, Write};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use seaf_seafile::RepoStores;
use tokio::sync::mpsc;

use super::{parse_repo, ApiState, Rejection};
use crate::pack::{self, PackOut, MAX_HAVES};
use crate::protocol::{PackRequest, PACK_CONTENT_TYPE};

/// Bytes per chunk handed to the response.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the walk and the socket (bounds the memory of one pack).
const CHUNKS_IN_FLIGHT: usize = 8;

pub(super) async fn pack(
    State(state): State<ApiState>,
    Path(repo): Path<String>,
    Json(request): Json<PackRequest>,
) -> Response {
    let repo = match parse_repo(&repo) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if request.have.len() > MAX_HAVES {
        let message = format!("at most {MAX_HAVES} haves, got {}", request.have.len());
        return Rejection(StatusCode::BAD_REQUEST, message).into_response();
    }
    let objects = match state.object_store_of(&repo).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let stores = RepoStores { repo, objects };
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        // An error here is the backup hanging up: nothing to tell anyone.
        let _ = pack::write_pack(&store, stores, request.want, &request.have, out);
    });
    let body = Body::from_stream(tokio_stream_of(rx));
    ([(header::CONTENT_TYPE, PACK_CONTENT_TYPE)], body).into_response()
}

fn tokio_stream_of(rx: mpsc::Receiver<io::Result<Bytes>>) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) })
}

/// A `Write` that hands full chunks to the response; fails once the response is gone.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the backup hung up"))
    }
}

impl PackOut for ChannelWriter {
    /// Reads the block's file straight into the chunk being filled (`io::copy` into a `Vec`
    /// reads into its spare room, up to a chunk a call), so its bytes are copied once here, by
    /// the kernel, on their way to the socket.
    fn copy_from(&mut self, file: &mut impl Read, len: u64) -> io::Result<u64> {
        let mut left = len;
        while left > 0 {
            let room = (CHUNK - self.buf.len()) as u64;
            let n = io::copy(&mut (&mut *file).take(left.min(room)), &mut self.buf)?;
            if n == 0 {
                break;
            }
            left -= n;
            if self.buf.len() >= CHUNK {
                self.send()?;
            }
        }
        Ok(len - left)
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
