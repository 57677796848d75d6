//! Keeps `seaf_backup_rpo_seconds` and `seaf_backup_consistent_as_of_seconds`: the consumer
//! records every event it reads in the shared [`Watermark`], the workers report their
//! successful syncs ([`sync_succeeded`]), and this task reads, every second, the queue rows of
//! the libraries with events pending (synced by another process, perhaps) and hands the
//! finished ones back to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use seaf_seafile::RepoId;

use super::queue::{Queue, SyncState};
use super::watermark::{Ticket, Watermark};
use crate::internal_events::recovery::{ConsistentAsOf, EventApplied};
use crate::internal_events::InternalEvent;

/// The watermark the consumer and this task share.
pub type SharedWatermark = Arc<Mutex<Watermark>>;

const PERIOD: Duration = Duration::from_secs(1);

/// Most rows read per [`PERIOD`] (two queries): after a replay of the whole topic, tens of
/// thousands of libraries have events pending; this process's workers report their own syncs
/// anyway, the rows only tell about other processes', so they are read a window at a time.
const ROWS_PER_CHECK: usize = 1_000;

/// Updates the two metrics every [`PERIOD`] until `cancel`.
pub async fn run(queue: Queue, watermark: SharedWatermark, cancel: CancellationToken) {
    for tick in 0usize.. {
        check(&queue, &watermark, tick).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PERIOD) => {}
        }
    }
}

async fn check(queue: &Queue, watermark: &SharedWatermark, tick: usize) {
    if lock(watermark).take_inherit_request() {
        inherit(queue, watermark).await;
    }
    let (ticket, repos) = lock(watermark).to_check();
    let repos = window(repos, tick);
    if !repos.is_empty() {
        match queue.states_of(&repos).await {
            Ok(rows) => {
                let mut w = lock(watermark);
                let finished = rows
                    .iter()
                    .filter(|r| matches!(r.state, SyncState::Synced | SyncState::Deleted));
                for row in finished {
                    emit(w.applied(ticket, &row.repo_id, row.updated_at));
                }
            }
            // The database is away: the workers report it; the watermark simply stays.
            Err(e) => tracing::debug!(error = %e, "cannot read the queue rows for the recovery point"),
        }
    }
    // Not known (yet, or again after a rebalance): 0, the only time that is surely true; a
    // value kept from before would claim changes this process has not seen.
    let ms = lock(watermark).consistent_as_of().unwrap_or(0);
    ConsistentAsOf {
        at: UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
    }
    .emit();
}

/// The `tick`-th window of [`ROWS_PER_CHECK`] libraries, going round.
fn window(repos: Vec<RepoId>, tick: usize) -> Vec<RepoId> {
    if repos.len() <= ROWS_PER_CHECK {
        return repos;
    }
    let start = tick.wrapping_mul(ROWS_PER_CHECK) % repos.len();
    repos.iter().cycle().skip(start).take(ROWS_PER_CHECK).copied().collect()
}

/// Partitions were assigned: the rows already waiting or syncing were marked by events this
/// process did not read, and hold the watermark until applied.
async fn inherit(queue: &Queue, watermark: &SharedWatermark) {
    match queue.states().await {
        Ok(rows) => {
            let open = rows
                .into_iter()
                .filter(|r| matches!(r.state, SyncState::Waiting | SyncState::Syncing))
                .map(|r| r.repo_id);
            lock(watermark).inherit(open);
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the queue for the recovery point; trying again");
            lock(watermark).request_inherit();
        }
    }
}

/// A worker's sync of `repo`, started when `ticket` was taken, succeeded: it applied every
/// event of the library read before it started.
pub fn sync_succeeded(watermark: &SharedWatermark, ticket: Ticket, repo: &RepoId) {
    let now = millis(SystemTime::now());
    emit(lock(watermark).applied(ticket, repo, now));
}

fn emit(rpo_ms: Vec<i64>) {
    for ms in rpo_ms {
        EventApplied {
            rpo: Duration::from_millis(ms as u64),
        }
        .emit();
    }
}

/// The lock, even after a panic elsewhere (the watermark has no invariant a panic can break
/// half-way that matters more than keeping the metrics).
pub fn lock(watermark: &SharedWatermark) -> std::sync::MutexGuard<'_, Watermark> {
    watermark.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Milliseconds since the Unix epoch of `t` (zero before it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_pending_libraries_are_read_a_window_at_a_time_going_round() {
        let repos: Vec<RepoId> = (0..2_500u32)
            .map(|n| RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for tick in 0..3 {
            let w = window(repos.clone(), tick);
            assert_eq!(w.len(), ROWS_PER_CHECK);
            seen.extend(w);
        }
        assert_eq!(seen.len(), repos.len(), "three windows cover every library");
        assert_eq!(window(repos[..10].to_vec(), 7).len(), 10, "a few are all read");
    }
}
