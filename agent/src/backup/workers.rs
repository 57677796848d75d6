//! The worker pool: takes waiting libraries from the queue and syncs them, `workers` at a
//! time, each sync a task in one `JoinSet`. While the primary is away the pool pauses (doubling
//! up to [`PAUSE_MAX`]), so an absent primary is not hammered and the log stays readable.
//!
//! On cancellation the pool stops taking work, cancels the running syncs (a sync dropped
//! mid-way leaves only whole objects, and its transaction rolls back) and returns once every
//! task has ended; the caller then hands the leases back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seaf_seafile::RepoId;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::error::{Disposition, SyncError};
use super::library::{Backup, SyncOutcome};
use super::replicate::SyncOptions;
use super::rpo::{self, SharedWatermark};
use crate::internal_events::backup::{SyncDiscarded, SyncFailed, SyncFinished, SyncRetried, Synced};
use crate::internal_events::InternalEvent;
use crate::telemetry::Health;

const PAUSE_MIN: Duration = Duration::from_secs(1);
const PAUSE_MAX: Duration = Duration::from_secs(10);
/// The longest wait between looks at the queue when idle (other processes share it).
const IDLE_MAX: Duration = Duration::from_secs(2);

/// How one sync task ended, for the pool's pause.
enum Ended {
    /// The primary answered.
    Reached,
    /// The primary could not be reached.
    PrimaryAway,
    /// Neither tells anything about the primary (busy, database error, cancelled).
    Other,
}

/// The workers' pause while the primary is away.
#[derive(Default)]
struct PrimaryPause(Option<(Instant, Duration)>);

impl PrimaryPause {
    /// How long until syncs may start again (zero when not paused).
    fn left(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |(until, _)| {
            until.saturating_duration_since(Instant::now())
        })
    }

    fn unreachable(&mut self) {
        let wait = self.0.map_or(PAUSE_MIN, |(_, w)| (w * 2).min(PAUSE_MAX));
        self.0 = Some((Instant::now() + wait, wait));
    }

    fn reached(&mut self) {
        self.0 = None;
    }
}

/// Syncs waiting libraries until `cancel`; returns when every sync task has ended.
pub async fn run(
    backup: Backup,
    workers: usize,
    wake: Arc<Notify>,
    health: Health,
    watermark: SharedWatermark,
    cancel: CancellationToken,
) {
    let mut running: JoinSet<(RepoId, Ended)> = JoinSet::new();
    let mut active: HashSet<RepoId> = HashSet::new();
    let mut pause = PrimaryPause::default();
    let mut idle = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        let free = workers.saturating_sub(running.len());
        let mut started = 0;
        if free > 0 && pause.left().is_zero() {
            for repo in ready(&backup, workers, &health).await {
                if started == free {
                    break;
                }
                if active.insert(repo) {
                    let sync = Sync {
                        backup: backup.clone(),
                        health: health.clone(),
                        watermark: watermark.clone(),
                    };
                    running.spawn(sync.one(repo, cancel.clone()));
                    started += 1;
                }
            }
        }
        // Nothing started: look again after a growing idle wait, unless woken (an event, a
        // finished sync) first.
        idle = if started > 0 {
            Duration::from_millis(200)
        } else {
            (idle * 2).min(IDLE_MAX)
        };
        let wait = if pause.left().is_zero() { idle } else { pause.left() };
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Some((repo, ended)) = ended(done) {
                    active.remove(&repo);
                    match ended {
                        Ended::Reached => pause.reached(),
                        Ended::PrimaryAway => pause.unreachable(),
                        Ended::Other => {}
                    }
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    while running.join_next().await.is_some() {}
}

/// Libraries ready to sync, a few per worker.
async fn ready(backup: &Backup, workers: usize, health: &Health) -> Vec<RepoId> {
    match backup.queue.ready(workers as u32 * 4).await {
        Ok(r) => {
            health.ok("database");
            r
        }
        Err(e) => {
            health.failed("database", &e);
            tracing::warn!(error = %e, "cannot read the sync queue");
            Vec::new()
        }
    }
}

fn ended(done: Result<(RepoId, Ended), tokio::task::JoinError>) -> Option<(RepoId, Ended)> {
    match done {
        Ok(d) => Some(d),
        Err(e) => {
            // A panicked sync leaves its repo in `active`; its lease expires and another
            // process (or this one after a restart) takes it.
            tracing::error!(error = %e, "a sync task panicked");
            None
        }
    }
}

/// What one sync task needs.
struct Sync {
    backup: Backup,
    health: Health,
    watermark: SharedWatermark,
}

impl Sync {
    /// One sync, cancelled with the pool.
    async fn one(self, repo: RepoId, cancel: CancellationToken) -> (RepoId, Ended) {
        let started = Instant::now();
        let ticket = rpo::lock(&self.watermark).sync_started();
        let quiet = |_: &str, _: u64| {};
        let result = tokio::select! {
            _ = cancel.cancelled() => return (repo, Ended::Other),
            r = self.backup.sync_library(repo, SyncOptions::default(), &quiet) => r,
        };
        let ended = match &result {
            Ok(SyncOutcome::Busy) => Ended::Other,
            Ok(_) => Ended::Reached,
            Err(e) if e.disposition() == Disposition::WaitForPrimary => Ended::PrimaryAway,
            Err(_) => Ended::Other,
        };
        if matches!(ended, Ended::Reached) {
            rpo::sync_succeeded(&self.watermark, ticket, &repo);
        }
        record_outcome(&repo, &result, started.elapsed(), &self.health);
        (repo, ended)
    }
}

fn record_outcome(repo: &RepoId, result: &Result<SyncOutcome, SyncError>, took: Duration, health: &Health) {
    let repo = *repo;
    let outcome = match result {
        Ok(SyncOutcome::Busy) => return,
        Ok(SyncOutcome::NoOp) => Synced::NoOp,
        Ok(SyncOutcome::Applied { head, report, old_head }) => Synced::Applied {
            head: *head,
            old_head: *old_head,
            objects: report.objects(),
            bytes: report.bytes,
        },
        Ok(SyncOutcome::Trashed { head, report }) => Synced::Trashed {
            head: *head,
            objects: report.objects(),
            bytes: report.bytes,
        },
        Ok(SyncOutcome::Deleted) => Synced::Deleted,
        Err(error) => {
            match error.disposition() {
                Disposition::WaitForPrimary => {
                    health.failed("primary", error);
                    SyncRetried { repo, error }.emit();
                }
                Disposition::Retry => SyncRetried { repo, error }.emit(),
                Disposition::Discard => SyncDiscarded { repo, error }.emit(),
                Disposition::Fail => SyncFailed { repo, error }.emit(),
            }
            return;
        }
    };
    health.ok("primary");
    SyncFinished { repo, outcome, took }.emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_doubles_up_to_the_cap_and_ends_when_the_primary_answers() {
        let mut pause = PrimaryPause::default();
        assert!(pause.left().is_zero());
        let mut waits = Vec::new();
        for _ in 0..6 {
            pause.unreachable();
            waits.push(pause.0.unwrap().1);
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert!(!pause.left().is_zero());
        pause.reached();
        assert!(pause.left().is_zero());
    }
}
