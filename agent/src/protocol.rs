//! The primary ↔ backup object API: its paths, its JSON bodies and the framing of batched
//! object responses. Shared by the server (primary role) and the client (backup role), and free
//! of HTTP library types.
//!
//! Objects travel as their stored bytes; the receiver verifies every id before writing.

use seaf_seafile::{ObjectId, RepoId, RepoRecord};
use serde::{Deserialize, Serialize};

/// Header carrying the shared secret: `Authorization: Bearer <sync_token>`.
pub const AUTH_SCHEME: &str = "Bearer ";

/// Most ids in one batch request.
pub const MAX_BATCH_IDS: usize = 1000;
/// A batch response stops including objects past this many bytes (the rest are `Deferred`).
pub const MAX_BATCH_BYTES: usize = 16 << 20;
/// Blocks larger than this are never batched; fetch them one at a time (streamed).
pub const MAX_BATCHED_BLOCK: u64 = 1 << 20;
/// Most libraries in one page of `GET /api/v1/repos`.
pub const MAX_PAGE: u32 = 10_000;

/// `GET /api/v1/repos?after=<repo_id>&limit=<n>`: one page of heads, ordered by library id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReposPage {
    pub repos: Vec<RepoHead>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<RepoId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoHead {
    pub repo_id: RepoId,
    pub head: ObjectId,
}

/// `GET /api/v1/repos/<repo_id>`: the library's head and metadata rows, exactly the record the
/// backup writes (its JSON field names are the contract).
pub type RepoMetadata = RepoRecord;

/// An error body: `{"error": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// One entry of a batch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEntry {
    Found(Vec<u8>),
    Missing,
    /// Not included (too large for a batch, or the batch is full): ask again, alone.
    Deferred,
}

const FOUND: u8 = 0;
const MISSING: u8 = 1;
const DEFERRED: u8 = 2;

/// Appends one entry: 20 id bytes, 1 status byte, 4-byte big-endian length, the bytes.
pub fn encode_entry(out: &mut Vec<u8>, id: &ObjectId, entry: &BatchEntry) {
    out.extend_from_slice(id.as_bytes());
    match entry {
        BatchEntry::Found(data) => {
            out.push(FOUND);
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
        BatchEntry::Missing => {
            out.push(MISSING);
            out.extend_from_slice(&0u32.to_be_bytes());
        }
        BatchEntry::Deferred => {
            out.push(DEFERRED);
            out.extend_from_slice(&0u32.to_be_bytes());
        }
    }
}

/// Why a batch response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed batch response from the primary at byte {offset}: {what}")]
pub struct FramingError {
    pub offset: usize,
    pub what: &'static str,
}

/// Reads a whole batch response.
pub fn decode_batch(mut bytes: &[u8]) -> Result<Vec<(ObjectId, BatchEntry)>, FramingError> {
    let total = bytes.len();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let offset = total - bytes.len();
        if bytes.len() < 25 {
            return Err(FramingError {
                offset,
                what: "truncated entry header",
            });
        }
        let mut id = [0u8; 20];
        id.copy_from_slice(&bytes[..20]);
        let status = bytes[20];
        let len = u32::from_be_bytes(bytes[21..25].try_into().expect("4 bytes")) as usize;
        bytes = &bytes[25..];
        let entry = match status {
            FOUND => {
                if bytes.len() < len {
                    return Err(FramingError {
                        offset,
                        what: "truncated object",
                    });
                }
                let data = bytes[..len].to_vec();
                bytes = &bytes[len..];
                BatchEntry::Found(data)
            }
            MISSING => BatchEntry::Missing,
            DEFERRED => BatchEntry::Deferred,
            _ => {
                return Err(FramingError {
                    offset,
                    what: "unknown entry status",
                })
            }
        };
        out.push((ObjectId::from_digest(id), entry));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_truncation_is_an_error() {
        let a = ObjectId::hash_of(b"a");
        let b = ObjectId::hash_of(b"b");
        let c = ObjectId::hash_of(b"c");
        let mut buf = Vec::new();
        encode_entry(&mut buf, &a, &BatchEntry::Found(b"a".to_vec()));
        encode_entry(&mut buf, &b, &BatchEntry::Missing);
        encode_entry(&mut buf, &c, &BatchEntry::Deferred);
        let decoded = decode_batch(&buf).unwrap();
        assert_eq!(
            decoded,
            vec![
                (a, BatchEntry::Found(b"a".to_vec())),
                (b, BatchEntry::Missing),
                (c, BatchEntry::Deferred)
            ]
        );
        for cut in 1..buf.len() {
            if cut == 26 || cut == 51 {
                continue; // entry boundaries
            }
            assert!(decode_batch(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }
}
