//! The backup's workers and its periodic jobs: library syncs, full scans, library states.
//!
//! A sync ends in exactly one of [`SyncFinished`], [`SyncRetried`], [`SyncFailed`] or
//! [`SyncDiscarded`] (a sync
//! that found the library leased elsewhere emits nothing); each counts one
//! `seaf_backup_events_total{result}`.

use std::fmt::Display;
use std::time::Duration;

use seaf_seafile::{ObjectId, RepoId};

use super::catalogue::*;
use super::{limit, InternalEvent};
use crate::log_limit::SharedLogLimit;

/// What a finished sync did to the library.
pub enum Synced {
    /// The backup was already at the primary's head and rows.
    NoOp,
    /// New objects and rows written; `old_head` when the new head does not descend from it
    /// (seaf-fsck on the primary).
    Applied {
        head: ObjectId,
        old_head: Option<ObjectId>,
        objects: u64,
        bytes: u64,
    },
    /// Moved to the backup's trash, its history up to `head` kept.
    Trashed { head: ObjectId, objects: u64, bytes: u64 },
    /// Gone from the primary (purged or deleted without a trash); its backup is kept.
    Deleted,
}

impl Synced {
    /// The `result` label.
    pub fn label(&self) -> &'static str {
        match self {
            Synced::NoOp => "no_op",
            Synced::Applied { .. } => "applied",
            Synced::Trashed { .. } => "trashed",
            Synced::Deleted => "deleted",
        }
    }
}

/// A library's sync completed, `took` from the start of the sync: the RPO histogram.
pub struct SyncFinished {
    pub repo: RepoId,
    pub outcome: Synced,
    pub took: Duration,
}

impl InternalEvent for SyncFinished {
    fn emit(self) {
        metrics::histogram!(BACKUP_REPO_SYNC_SECONDS).record(self.took.as_secs_f64());
        metrics::counter!(BACKUP_EVENTS, "result" => self.outcome.label()).increment(1);
        let repo = self.repo;
        match self.outcome {
            Synced::Applied {
                head,
                old_head,
                objects,
                bytes,
            } => tracing::info!(%repo, %head, objects, bytes, old_head = ?old_head, "synced"),
            Synced::Trashed { head, objects, bytes } => {
                tracing::info!(%repo, %head, objects, bytes, "moved to the trash")
            }
            Synced::NoOp | Synced::Deleted => {}
        }
    }
}

/// A sync was interrupted by a transient error (the primary away, a database deadlock); the
/// library stays waiting. While the primary is away every worker hits this for every library,
/// so the line is rate-limited.
pub struct SyncRetried<'a> {
    pub repo: RepoId,
    /// Written with `{:#}`: an `anyhow::Error` shows its causes.
    pub error: &'a dyn Display,
}

impl InternalEvent for SyncRetried<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "retried").increment(1);
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::info!(
                repo = %self.repo, error = %format_args!("{:#}", self.error), unlogged,
                "sync interrupted; the library stays waiting and is retried"
            );
        }
    }
}

/// A sync failed for good (corrupt or missing data on the primary): the library is `failed`
/// until an operator forces it. Each is logged: they are rare and each needs a look.
pub struct SyncFailed<'a> {
    pub repo: RepoId,
    /// Written with `{:#}`: an `anyhow::Error` shows its causes.
    pub error: &'a dyn Display,
}

impl InternalEvent for SyncFailed<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "failed").increment(1);
        tracing::warn!(repo = %self.repo, error = %format_args!("{:#}", self.error), "sync failed");
    }
}

/// A sync's result was discarded: another worker took the library's lease meanwhile (this one
/// was paused or slow past it), and that worker's sync counts.
pub struct SyncDiscarded<'a> {
    pub repo: RepoId,
    pub error: &'a dyn Display,
}

impl InternalEvent for SyncDiscarded<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "discarded").increment(1);
        tracing::warn!(repo = %self.repo, error = %self.error, "sync discarded");
    }
}

/// A full scan compared `libraries` of the primary with the backup and marked `marked` waiting.
pub struct FullScanDone {
    pub libraries: usize,
    pub marked: usize,
    pub took: Duration,
}

impl InternalEvent for FullScanDone {
    fn emit(self) {
        metrics::gauge!(BACKUP_FULL_SCAN_SECONDS).set(self.took.as_secs_f64());
        tracing::info!(libraries = self.libraries, marked = self.marked, took = ?self.took, "full scan done");
    }
}

/// `count` libraries are in `state` (emit one per state, zeros included, so a state that
/// emptied shows 0 rather than its last count).
pub struct ReposInState {
    /// The state's name as `docs/metrics.md` lists it: `synced`, `waiting`, `syncing`,
    /// `failed`, `deleted` (a name, so this does not depend on where the state type lives).
    pub state: &'static str,
    pub count: u64,
}

impl InternalEvent for ReposInState {
    fn emit(self) {
        metrics::gauge!(BACKUP_REPOS, "state" => self.state).set(self.count as f64);
    }
}
