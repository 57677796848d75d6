//! The scrub: the backup store re-read and re-hashed at a low rate, random libraries' heads
//! compared with the primary's.

use std::path::Path;
use std::time::Duration;

use seaf_seafile::{ObjectId, ObjectKind, RepoId};

use super::catalogue::*;
use super::InternalEvent;

/// One object re-read and checked (whatever the check found).
pub struct ObjectScrubbed {
    pub kind: ObjectKind,
    pub bytes: u64,
}

impl InternalEvent for ObjectScrubbed {
    fn emit(self) {
        metrics::counter!(BACKUP_SCRUB_OBJECTS, "kind" => self.kind.name()).increment(1);
        metrics::counter!(BACKUP_SCRUB_BYTES).increment(self.bytes);
    }
}

/// What was done about a damaged object.
pub enum Repair<'a> {
    /// A good copy from the primary replaced it.
    Repaired,
    /// The primary does not have it (any more) either.
    NotOnPrimary,
    /// The primary could not be asked, or its copy could not be written.
    Failed(&'a dyn std::fmt::Display),
}

/// An object on the backup's disk no longer matches its id (bit rot, a bad sector, a file
/// changed by hand). Every one is logged, with what to do.
pub struct ObjectDamaged<'a> {
    pub kind: ObjectKind,
    pub store: RepoId,
    pub id: ObjectId,
    pub path: &'a Path,
    /// Why it is damaged: its content does not match its id, or the disk failed to read it.
    pub error: &'a dyn std::fmt::Display,
    pub repair: Repair<'a>,
}

impl InternalEvent for ObjectDamaged<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_SCRUB_CORRUPT, "kind" => self.kind.name()).increment(1);
        let (kind, store, id, path, error) = (self.kind, self.store, self.id, self.path.display(), self.error);
        match self.repair {
            Repair::Repaired => tracing::warn!(
                %kind, library = %store, %id, %path, %error,
                "damaged object in the backup store, replaced by the primary's verified copy; check the disk (SMART, the file system's log): see docs/operations.md, \"The scrub found damage\""
            ),
            Repair::NotOnPrimary => tracing::error!(
                %kind, library = %store, %id, %path, %error,
                "damaged object in the backup store, and the primary no longer has it: the library's history that needs it cannot be restored from this backup; restore the file from another copy (docs/operations.md, \"The scrub found damage\")"
            ),
            Repair::Failed(why) => tracing::error!(
                %kind, library = %store, %id, %path, %error, repair_error = %why,
                "damaged object in the backup store, not repaired yet (the next pass tries again); check the disk and the primary (docs/operations.md, \"The scrub found damage\")"
            ),
        }
    }
}

/// A random library's backup head was compared with the primary's.
pub struct HeadCompared;

impl InternalEvent for HeadCompared {
    fn emit(self) {
        metrics::counter!(BACKUP_SCRUB_HEADS_COMPARED).increment(1);
    }
}

/// A library the queue calls synced stayed behind the primary for a whole interval: an event
/// was lost or a sync stopped short. It is marked waiting, so the workers sync it again.
pub struct HeadMismatch {
    pub repo: RepoId,
    pub backup: Option<ObjectId>,
    pub primary: Option<ObjectId>,
}

impl InternalEvent for HeadMismatch {
    fn emit(self) {
        metrics::counter!(BACKUP_SCRUB_HEAD_MISMATCHES).increment(1);
        tracing::warn!(
            repo = %self.repo, backup = ?self.backup, primary = ?self.primary,
            "the backup's head of a synced library differs from the primary's; marked waiting to sync it again (if this repeats, see docs/operations.md, \"The scrub found damage\")"
        );
    }
}

/// The whole store was re-read.
pub struct FullPassDone {
    pub objects: u64,
    pub bytes: u64,
    pub damaged: u64,
    pub took: Duration,
    /// Unix seconds of its end.
    pub at: u64,
}

impl InternalEvent for FullPassDone {
    fn emit(self) {
        metrics::gauge!(BACKUP_SCRUB_LAST_FULL_PASS).set(self.at as f64);
        tracing::info!(
            objects = self.objects, bytes = self.bytes, damaged = self.damaged, took = ?self.took,
            "scrub: full pass over the backup store done"
        );
    }
}
