//! Keeps `seaf_backup_rpo_seconds` and `seaf_backup_consistent_as_of_seconds`: the consumer
//! records every event it reads in the shared [`Watermark`]; this task reads, every second, the
//! queue rows of the libraries with events pending and hands the finished ones back to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::queue::{Queue, SyncState};
use super::watermark::Watermark;
use crate::internal_events::recovery::{ConsistentAsOf, EventApplied};
use crate::internal_events::InternalEvent;

/// The watermark the consumer and this task share.
pub type SharedWatermark = Arc<Mutex<Watermark>>;

const PERIOD: Duration = Duration::from_secs(1);

/// Updates the two metrics every [`PERIOD`] until `cancel`.
pub async fn run(queue: Queue, watermark: SharedWatermark, cancel: CancellationToken) {
    loop {
        check(&queue, &watermark).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PERIOD) => {}
        }
    }
}

async fn check(queue: &Queue, watermark: &SharedWatermark) {
    let (ticket, repos) = lock(watermark).to_check();
    if !repos.is_empty() {
        match queue.states_of(&repos).await {
            Ok(rows) => {
                let mut w = lock(watermark);
                let finished = rows
                    .iter()
                    .filter(|r| matches!(r.state, SyncState::Synced | SyncState::Deleted));
                for row in finished {
                    for ms in w.applied(ticket, &row.repo_id, row.updated_at) {
                        EventApplied {
                            rpo: Duration::from_millis(ms as u64),
                        }
                        .emit();
                    }
                }
            }
            // The database is away: the workers report it; the watermark simply stays.
            Err(e) => tracing::debug!(error = %e, "cannot read the queue rows for the recovery point"),
        }
    }
    if let Some(ms) = lock(watermark).consistent_as_of() {
        ConsistentAsOf {
            at: UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
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
