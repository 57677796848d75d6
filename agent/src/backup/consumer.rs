//! The backup's consumer: the [`EventSink`] that [`seaf_kafka::Intake`] delivers to.
//!
//! Accepting a batch means recording its libraries as `waiting` in the backup database, one
//! statement per batch; the intake stores the batch's offsets for commit only after that, so a
//! crash re-reads events and never loses one. Stale, duplicated or replayed events are
//! harmless: a waiting library is only compared with the primary's current head. The sink also
//! keeps `/healthz` and the metrics current, and logs librdkafka's errors at most every 30 s.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use seaf_kafka::{Batch, EventSink, Intake, PartitionLag, RepoUpdateKind};
use seaf_seafile::DbError;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::rpo::{self, SharedWatermark};
use super::Backup;
use crate::internal_events::consumer::{
    BrokerError, ConsumerLag, EventsQueued, HeartbeatsReceived, SecondsBehindPrimary, UndecodableMessage,
};
use crate::internal_events::InternalEvent;
use crate::telemetry::Health;

/// Reads the topic into `sink` until `cancel` is cancelled; returns within
/// [`seaf_kafka::intake::SHUTDOWN_BOUND`] of that, whatever the broker does.
pub async fn run(intake: Intake, sink: BackupSink, cancel: CancellationToken) {
    intake.run(&sink, cancel).await;
}

/// Records what the topic says needs a sync, and wakes the workers.
pub struct BackupSink {
    backup: Backup,
    wake: Arc<Notify>,
    health: Health,
    /// Every event read, until applied (the recovery point metrics).
    watermark: SharedWatermark,
    /// The (topic, partition) lag series of the last report: those missing from the next one
    /// were revoked and are set to zero (another consumer of the group has their lag now).
    lag_series: Mutex<BTreeSet<(String, i32)>>,
}

impl BackupSink {
    pub fn new(backup: Backup, wake: Arc<Notify>, health: Health, watermark: SharedWatermark) -> BackupSink {
        BackupSink {
            backup,
            wake,
            health,
            watermark,
            lag_series: Mutex::default(),
        }
    }
}

impl BackupSink {
    /// Records the batch's events in the watermark, before the queue: a sync that starts after
    /// this reads the primary at a head at least as new as each event's. A batch offered again
    /// is not recorded twice.
    fn record(&self, batch: &Batch) {
        let mut watermark = rpo::lock(&self.watermark);
        for received in &batch.events {
            let (event, millis) = (&received.event, rpo::millis(received.event.detected_at));
            watermark.record(received.partition, received.offset, event.repo_id, millis);
        }
    }
}

impl EventSink for BackupSink {
    type Error = DbError;

    async fn accept(&self, batch: &Batch) -> Result<(), DbError> {
        let mut repos = Vec::new();
        let mut seen = HashSet::new();
        let (mut queued, mut heartbeats) = (0u64, 0u64);
        let mut newest: Option<SystemTime> = None;
        self.record(batch);
        for received in &batch.events {
            let event = &received.event;
            newest = newest.max(Some(event.detected_at));
            match (event.kind, event.repo_id) {
                (RepoUpdateKind::Heartbeat, _) | (_, None) => heartbeats += 1,
                (_, Some(repo)) => {
                    queued += 1;
                    if seen.insert(repo) {
                        repos.push(repo);
                    }
                }
            }
        }
        if !repos.is_empty() {
            // Durable before the intake stores the offsets; on an error the intake offers the
            // same batch again, so nothing below is counted twice.
            if let Err(e) = self.backup.queue.mark_waiting(&repos).await {
                self.health.failed("database", &e);
                return Err(e);
            }
        }
        rpo::lock(&self.watermark).made_durable();
        if heartbeats > 0 {
            HeartbeatsReceived { count: heartbeats }.emit();
        }
        for skipped in &batch.undecodable {
            let (partition, offset, error) = (skipped.partition, skipped.offset, &skipped.error);
            UndecodableMessage {
                partition,
                offset,
                error,
            }
            .emit();
        }
        if let Some(newest) = newest {
            let behind = SystemTime::now().duration_since(newest).unwrap_or_default();
            SecondsBehindPrimary { behind }.emit();
        }
        if !repos.is_empty() {
            EventsQueued { count: queued }.emit();
            self.wake.notify_one();
        }
        Ok(())
    }

    fn broker_error(&self, error: &seaf_kafka::BrokerError) {
        self.health.failed("broker", error);
        if !error.repeats() {
            tracing::warn!(error = %error, "Kafka consumer not ready");
            return;
        }
        BrokerError { error }.emit();
    }

    fn broker_ok(&self) {
        self.health.ok("broker");
    }

    fn lag(&self, lag: &[PartitionLag]) {
        let now: BTreeSet<(String, i32)> = lag.iter().map(|l| (l.topic.clone(), l.partition)).collect();
        let assigned: Vec<(i32, i64)> = lag.iter().map(|l| (l.partition, l.lag)).collect();
        rpo::lock(&self.watermark).assigned(&assigned);
        let Ok(mut series) = self.lag_series.lock() else { return };
        for (topic, partition) in series.difference(&now) {
            ConsumerLag {
                topic,
                partition: *partition,
                lag: 0,
            }
            .emit();
        }
        for l in lag {
            ConsumerLag {
                topic: &l.topic,
                partition: l.partition,
                lag: l.lag,
            }
            .emit();
        }
        *series = now;
    }
}
