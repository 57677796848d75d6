//! The backup role: turn the topic into a consistent, full-history Seafile backup.
//!
//! ```text
//!  Kafka ──▶ consumer ──▶ queue ──▶ workers ──▶ library ──▶ replicate ──▶ store
//!  (intake)   (sink)    (SQL +      (JoinSet)   (rows,      (plan, apply)  (objects)
//!                        state        ▲          head tx)        │
//!                        machine)     │                          ▼
//!              scan ─────────────────┘                  client ──▶ primary's object API
//! ```
//!
//! - [`consumer`]: the topic's events become durable `waiting` rows before their offsets are
//!   stored for commit, so a crash redelivers and never loses;
//! - [`queue`]: the sync state machine ([`queue::state`]), leases that fence the head's
//!   transaction ([`queue::lease`]);
//! - [`workers`]: take waiting libraries under a lease, `workers` at a time;
//! - [`library`], [`head`]: one library's sync — its rows decide live, trashed or gone — and
//!   the transaction that moves its head;
//! - [`replicate`]: the objects of the closure, in closure order, every id verified, through
//!   [`replicate::Remote`] ([`client`] over HTTP);
//! - [`durable`]: group commit: every sync's objects written by one committer thread, many
//!   syncs sharing each durability barrier, and recovery after a crash or power loss;
//! - [`scan`]: the periodic full comparison with the primary;
//! - [`watermark`], [`rpo`]: the recovery point of each event read and the time before which
//!   every detected change is applied;
//! - [`scrub`]: the low-rate re-hash of the store and comparison of random heads;
//! - [`error`]: what each failure means for the library (wait, retry, fail).

pub mod client;
pub mod consumer;
pub mod durable;
pub mod error;
mod head;
pub mod library;
pub mod queue;
pub mod replicate;
pub mod rpo;
pub mod scan;
pub mod scrub;
pub mod status;
pub mod trash;
pub mod watermark;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use error::{Disposition, SyncError};
pub use head::HEAD_CRASH_POINT;
pub use library::{Backup, SyncOutcome};
use queue::{Queue, SyncState};

use crate::config::Config;
use crate::internal_events::backup::ReposInState;
use crate::internal_events::InternalEvent;
use crate::telemetry::{self, Health};

/// How long the tasks get to end after a stop before the leases are handed back anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the backup role until SIGINT/SIGTERM (or a task ends it), then stops every task and
/// hands back this process's leases.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let settings = config.backup()?.clone();
    let prometheus = telemetry::install_recorder()?;
    let health = Health::default();
    for part in ["broker", "primary", "database"] {
        health.register(part, Duration::from_secs(60));
    }
    // Tables first: once /healthz answers, the backup database is ready for status and sync.
    let backup = Backup::open(config).await?;
    let metrics_addr = telemetry::serve(&settings.metrics_listen, prometheus, health.clone()).await?;
    backup.store.sweep_temp_files()?;
    backup.release_dead_leases().await?;
    tracing::info!(metrics = %metrics_addr, owner = %backup.owner, "backup started");

    let (wake, cancel) = (Arc::new(Notify::new()), CancellationToken::new());
    let mut tasks = JoinSet::new();
    let codec = seaf_kafka::Codec::for_settings(&config.kafka).await?;
    let intake = seaf_kafka::Intake::new(config.kafka.clone(), codec)?;
    let watermark = rpo::SharedWatermark::default();
    let sink = consumer::BackupSink::new(backup.clone(), wake.clone(), health.clone(), watermark.clone());
    tasks.spawn(consumer::run(intake, sink, cancel.clone()));
    tasks.spawn(rpo::run(backup.queue.clone(), watermark.clone(), cancel.clone()));
    let (period, workers) = (settings.sync_poll_interval, settings.workers.max(1));
    tasks.spawn(scan::scan_loop(
        backup.clone(),
        period,
        wake.clone(),
        health.clone(),
        cancel.clone(),
    ));
    tasks.spawn(state_gauges(backup.queue.clone(), cancel.clone()));
    let scrub = scrub::ScrubSettings {
        bytes_per_second: settings.scrub_bytes_per_second,
        head_interval: settings.scrub_head_interval,
    };
    tasks.spawn(scrub::run(backup.clone(), scrub, cancel.clone()));
    tasks.spawn(workers::run(
        backup.clone(),
        workers,
        wake,
        health,
        watermark,
        cancel.clone(),
    ));
    tokio::select! {
        _ = crate::shutdown::signal() => tracing::info!("stopping"),
        _ = tasks.join_next() => tracing::warn!("a backup task ended; stopping"),
    }
    cancel.cancel();
    if tokio::time::timeout(STOP_TIMEOUT, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?STOP_TIMEOUT, "some tasks did not stop in time; stopping anyway");
    }
    // The syncs are over: what they handed to the committer becomes durable, then it ends.
    backup.stop_commits().await;
    // Hand unfinished libraries back at once instead of leaving them to lease expiry. Objects
    // already written stay: they are whole, and the next sync starts above them.
    let released = backup.queue.release_owner(&backup.owner).await?;
    tracing::info!(released, "stopped");
    Ok(())
}

/// Keeps `seaf_backup_repos{state}` current, counted by the database (reading every row every
/// 5 s would cost memory and time in proportion to the number of libraries).
async fn state_gauges(queue: Queue, cancel: CancellationToken) {
    loop {
        if let Ok(counts) = queue.counts().await {
            for state in SyncState::ALL {
                let n = counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
                ReposInState {
                    state: state.as_str(),
                    count: n,
                }
                .emit();
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
