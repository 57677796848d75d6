//! The primary ↔ backup object API: its paths, its JSON bodies and the framing of batched
//! object responses. Shared by the server (primary role) and the client (backup role), and free
//! of HTTP library types.
//!
//! Objects travel as their stored bytes; the receiver verifies every id before writing.
//!
//! Compatibility: the API is `/api/v1`, and within it endpoints and fields are only ever added.
//! A backup asks for [`LibraryRowsBody`] and [`TrashList`] first and falls back to
//! [`RepoMetadata`] (and an empty trash) when an older primary answers 404 for them; an older
//! backup never asks for them and keeps getting the fixed record it knows.

use seaf_seafile::{LibraryRows, ObjectId, RepoId, RepoRecord};
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

/// `GET /api/v1/repos/<repo_id>`: the library's head and its core rows in a fixed record (its
/// JSON field names are the contract). Kept for backups older than [`LibraryRowsBody`]; 404
/// when the library has no head.
pub type RepoMetadata = RepoRecord;

/// `GET /api/v1/repos/<repo_id>/rows`: every row of the library in every carried table of the
/// primary's database, with all their columns (`{"repo_id", "tables": {"RepoInfo": {"columns":
/// [{"name", "kind"}], "rows": [{"column": value}]}}}`, values a JSON string, integer or null).
/// Always 200 for a valid id: a library in the trash has its `RepoTrash` row, one that is gone
/// has no rows at all, and the backup tells which from the rows.
pub type LibraryRowsBody = LibraryRows;

/// `GET /api/v1/trash`: every library in the primary's trash and the head it can be restored
/// from, so a backup finds libraries that were trashed before it started (no event names them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashList {
    pub repos: Vec<TrashedHead>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashedHead {
    pub repo_id: RepoId,
    pub head: Option<ObjectId>,
}

/// `POST /api/v1/repos/<repo_id>/pack`: every object of `want`'s closure that the closures of
/// `have` lack, as one pack (see [`crate::pack`]); `have` holds at most
/// [`crate::pack::MAX_HAVES`] commits the backup has. Always 200 and a pack for a valid request:
/// what the primary lacks is named in the pack. Answered 404 (no such endpoint) by primaries
/// older than it; the backup then walks object by object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRequest {
    pub want: ObjectId,
    #[serde(default)]
    pub have: Vec<ObjectId>,
}

/// Media type of a pack.
pub const PACK_CONTENT_TYPE: &str = "application/x-seaf-backup-pack";

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
