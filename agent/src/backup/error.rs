//! Why syncing one library stopped, and what the worker does about it — decided by the error's
//! type, never by reading its text.

use seaf_seafile::library_rows::{BadRow, PlanError};
use seaf_seafile::{DbError, StoreError};

use super::queue::QueueError;
use super::replicate::{RemoteError, ReplicateError};

/// Why syncing one library stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Replicate(ReplicateError),
    #[error("the primary sent rows the backup cannot use: {0}")]
    BadRow(#[from] BadRow),
    #[error("the backup database cannot hold the library's rows: {0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(QueueError),
    #[error("reading the backup store failed: {0}")]
    Store(#[from] StoreError),
}

/// What the worker does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The primary is away: the library waits, and workers pause before asking again.
    WaitForPrimary,
    /// A deadlock or busy database: the library waits and is retried at once.
    Retry,
    /// Another worker holds the library now: nothing to record, its sync counts.
    Discard,
    /// An operator has to act: the library is marked failed with the error, which says what.
    Fail,
}

impl SyncError {
    pub fn disposition(&self) -> Disposition {
        match self {
            SyncError::Remote(e) | SyncError::Replicate(ReplicateError::Remote(e)) if e.is_transient() => {
                Disposition::WaitForPrimary
            }
            SyncError::Db(e) | SyncError::Queue(QueueError::Db(e)) if e.is_retryable() || e.is_unavailable() => {
                Disposition::Retry
            }
            SyncError::Queue(QueueError::LeaseLost { .. }) => Disposition::Discard,
            _ => Disposition::Fail,
        }
    }
}

impl From<ReplicateError> for SyncError {
    fn from(e: ReplicateError) -> Self {
        match e {
            ReplicateError::Remote(r) => SyncError::Remote(r),
            other => SyncError::Replicate(other),
        }
    }
}

impl From<QueueError> for SyncError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Db(d) => SyncError::Db(d),
            lost => SyncError::Queue(lost),
        }
    }
}
