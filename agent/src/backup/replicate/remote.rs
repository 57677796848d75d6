//! The primary as the replication sees it: objects by kind and id, and what can go wrong in
//! asking. Nothing here knows about HTTP; `backup::client` implements [`Remote`] over the
//! object API, and the tests over a local store.

use std::future::Future;

use seaf_seafile::{ObjectId, ObjectKind};

pub use super::receive::Chunks;

/// One object fetched from the primary: its bytes, or `None` when the primary does not have it.
pub type Fetched = (ObjectId, Option<Vec<u8>>);

/// The primary's objects of one library.
pub trait Remote: Sync {
    /// Objects of one kind, one entry per id asked for (fs objects and blocks of a virtual
    /// library come from its origin's store).
    fn fetch(
        &self,
        kind: ObjectKind,
        ids: &[ObjectId],
    ) -> impl Future<Output = Result<Vec<Fetched>, RemoteError>> + Send;

    /// The pack of every object of `want`'s closure that the closures of `haves` lack, as it
    /// arrives; `None` when the primary predates packs (the caller then walks with `fetch`).
    fn pack(
        &self,
        want: ObjectId,
        haves: &[ObjectId],
    ) -> impl Future<Output = Result<Option<Chunks>, RemoteError>> + Send;
}

/// Why the primary could not give an answer. Only [`RemoteError::Unreachable`] is worth
/// waiting out; the others need an operator, and their messages say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the primary at {url}: {detail}; is it running and is [backup] primary_url right?")]
    Unreachable { url: String, detail: String },
    #[error("the primary at {url} refused the sync_token (HTTP {status}): set the same sync_token on the primary and the backup")]
    Unauthorized { url: String, status: u16 },
    #[error("the primary at {url} failed (HTTP {status}: {body}); see the primary's log for the cause (e.g. its database lacks a table)")]
    Server { url: String, status: u16, body: String },
    #[error("the primary broke the protocol: {detail}; are the primary and the backup the same seaf-backup release?")]
    Protocol { detail: String },
    #[error("the primary failed while sending the pack: {detail}; see the primary's log")]
    PackFailed { detail: String },
}

impl RemoteError {
    /// The primary is away (or a proxy in front of it says so): try again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, RemoteError::Unreachable { .. })
    }
}
