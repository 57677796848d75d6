//! Group commit: the groups the committer made durable, a barrier that failed, and what
//! recovery found at start.

use std::fmt::Display;
use std::time::Duration;

use super::catalogue::*;
use super::InternalEvent;
use crate::backup::durable::{Recovered, StepTimes};

/// One group made durable: `batches` syncs' batches sharing its barriers.
pub struct GroupCommitted<'a> {
    pub batches: u64,
    pub written: u64,
    /// Objects already present, not rewritten.
    pub skipped: u64,
    pub bytes: u64,
    /// The time of each barrier that completed.
    pub barriers: &'a [Duration],
    /// The other steps' times.
    pub steps: StepTimes,
    /// The committer's time on the group in all (barriers and steps).
    pub took: Duration,
}

impl InternalEvent for GroupCommitted<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_GROUP_COMMITS).increment(1);
        metrics::counter!(BACKUP_GROUP_COMMIT_BATCHES).increment(self.batches);
        metrics::counter!(BACKUP_GROUP_COMMIT_OBJECTS, "result" => "written").increment(self.written);
        metrics::counter!(BACKUP_GROUP_COMMIT_OBJECTS, "result" => "skipped").increment(self.skipped);
        metrics::histogram!(BACKUP_GROUP_COMMIT_SECONDS).record(self.took.as_secs_f64());
        for barrier in self.barriers {
            metrics::histogram!(BACKUP_STORE_BARRIER_SECONDS).record(barrier.as_secs_f64());
        }
        let StepTimes {
            journal,
            temp_files,
            renames,
        } = self.steps;
        for (step, took) in [("journal", journal), ("temp_files", temp_files), ("renames", renames)] {
            metrics::histogram!(BACKUP_GROUP_COMMIT_STEP_SECONDS, "step" => step).record(took.as_secs_f64());
        }
        tracing::debug!(
            batches = self.batches,
            written = self.written,
            skipped = self.skipped,
            bytes = self.bytes,
            barrier_ms = self.barriers.iter().sum::<Duration>().as_secs_f64() * 1e3,
            took_ms = self.took.as_secs_f64() * 1e3,
            "group committed"
        );
    }
}

/// A barrier (`syncfs`) failed: the kernel may have dropped written data, so the committer
/// refuses every later write until a restart recovers the store. Once per process.
pub struct StoreFlushFailed<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for StoreFlushFailed<'_> {
    fn emit(self) {
        tracing::error!(
            error = %self.error,
            "flushing the backup store failed; no more objects are written until seaf-backup is restarted (its start-up recovery checks what the failed flush may have lost)"
        );
    }
}

/// Start-up recovery ran over the journals of writers that are gone.
pub struct StoreRecovered<'a> {
    pub recovered: &'a Recovered,
    pub took: Duration,
}

impl InternalEvent for StoreRecovered<'_> {
    fn emit(self) {
        let r = self.recovered;
        if r.journals == 0 && r.staging_files == 0 {
            return;
        }
        tracing::info!(
            journals = r.journals,
            listed = r.listed,
            torn = r.torn,
            orphaned = r.orphaned,
            temp_files = r.temp_files,
            staging_files = r.staging_files,
            bad_lines = r.bad_lines,
            took_ms = self.took.as_secs_f64() * 1e3,
            "recovered the backup store after a crash: {} objects removed (the next syncs fetch them again)",
            r.removed()
        );
    }
}
