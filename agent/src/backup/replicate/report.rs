//! What a replication did, what it may skip, and why it stops.

use seaf_seafile::{ObjectError, ObjectId, ObjectKind, StoreError};

use super::remote::RemoteError;

/// Why bringing a library's objects over stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("{kind} object {id} is missing on the primary{}; run seaf-fsck on the primary, then `seaf-backup sync --force` to skip it", at(.path))]
    MissingOnPrimary {
        kind: ObjectKind,
        id: ObjectId,
        path: Option<String>,
    },
    #[error("{kind} object {id} from the primary is corrupt{}: {error}; run seaf-fsck on the primary, then `seaf-backup sync --force` to skip it", at(.path))]
    Corrupt {
        kind: ObjectKind,
        id: ObjectId,
        path: Option<String>,
        error: ObjectError,
    },
    #[error("a {kind} object from the primary is too corrupt to tell its id: {error}; run seaf-fsck on the primary, then `seaf-backup sync --force` to skip it")]
    CorruptUnnamed { kind: ObjectKind, error: ObjectError },
    #[error("the primary's history has a cycle through commit {0} (a commit that is its own ancestor); nothing of it was recorded as synced: run seaf-fsck on the primary")]
    CommitCycle(ObjectId),
    #[error("writing the backup store failed: {0}")]
    Store(#[from] StoreError),
}

fn at(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!(" (at {p:?})")).unwrap_or_default()
}

/// An object `--force` skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: ObjectKind,
    pub id: ObjectId,
    pub path: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}{}: {}", self.kind, self.id, at(&self.path), self.reason)
    }
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub commits: u64,
    pub fs_objects: u64,
    pub blocks: u64,
    /// Bytes of objects fetched and written.
    pub bytes: u64,
    pub skipped: Vec<Skipped>,
}

impl SyncReport {
    pub fn objects(&self) -> u64 {
        self.commits + self.fs_objects + self.blocks
    }

    /// Counts `n` objects of `kind` (`bytes` in all) as written.
    pub(super) fn wrote(&mut self, kind: ObjectKind, n: usize, bytes: u64) {
        self.bytes += bytes;
        let counter = match kind {
            ObjectKind::Commit => &mut self.commits,
            ObjectKind::Fs => &mut self.fs_objects,
            ObjectKind::Block => &mut self.blocks,
        };
        *counter += n as u64;
    }

    /// With `force`, records a missing or corrupt object as skipped; otherwise (or for any
    /// other error) returns the error.
    pub(super) fn skip_or_fail(&mut self, options: SyncOptions, error: ReplicateError) -> Result<(), ReplicateError> {
        let (kind, id, path, reason) = match &error {
            ReplicateError::MissingOnPrimary { kind, id, path } if options.force => {
                (*kind, *id, path.clone(), "missing on the primary".to_string())
            }
            ReplicateError::Corrupt { kind, id, path, error } if options.force => {
                (*kind, *id, path.clone(), format!("corrupt on the primary ({error})"))
            }
            _ => return Err(error),
        };
        tracing::warn!(%kind, %id, %reason, "skipping (--force)");
        self.skipped.push(Skipped { kind, id, path, reason });
        Ok(())
    }
}

/// Options of one sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Skip objects that are missing or corrupt on the primary instead of failing.
    pub force: bool,
}

/// Progress callback: (phase, objects done so far).
pub type Progress<'a> = &'a (dyn Fn(&str, u64) + Sync);
