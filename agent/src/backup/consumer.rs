//! The backup's consumer: every event becomes a durable `waiting` row before its offset is
//! stored for commit.
//!
//! Offsets are stored (`enable.auto.offset.store=false`) only after the row is written, and
//! librdkafka commits stored offsets periodically and synchronously when partitions are revoked
//! or the consumer closes; so a crash redelivers events, never loses them. Undecodable messages
//! are counted, logged with partition and offset, and skipped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use seaf_kafka::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use seaf_kafka::rdkafka::message::Message;
use seaf_kafka::rdkafka::{Offset, TopicPartitionList};
use seaf_kafka::{decode_message, Codec, KafkaSettings, LagContext, RepoUpdateKind};
use tokio::sync::{watch, Notify};

use super::Backup;
use crate::log_limit::LogLimit;
use crate::telemetry::Health;

/// Most events taken off the queue before their libraries are recorded (one statement per
/// 500 distinct libraries): large enough that a replay pays few database round trips.
const MAX_BATCH: usize = 20_000;

/// Builds the group consumer (its commit mode comes with the configuration) and subscribes it.
pub fn subscribe(settings: &KafkaSettings) -> anyhow::Result<StreamConsumer<LagContext>> {
    let config = settings.consumer_config()?;
    let consumer: StreamConsumer<LagContext> = config.create_with_context(LagContext::default())?;
    consumer.subscribe(&[&settings.topic])?;
    Ok(consumer)
}

/// Consumes until `stop` turns true, reconnecting after errors. On stop, the offsets stored so
/// far are committed synchronously, so a restart reads on exactly where this one ended.
pub async fn run(
    settings: KafkaSettings,
    codec: Codec,
    backup: Backup,
    wake: Arc<Notify>,
    health: Health,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        if let Err(e) = seaf_kafka::ensure_topic(&settings).await {
            health.failed("broker", &e);
            tracing::warn!(error = %e, "cannot reach the topic yet; retrying");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        let consumer = match subscribe(&settings) {
            Ok(c) => c,
            Err(e) => {
                health.failed("broker", format!("{e:#}"));
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        consume(&consumer, &settings, &codec, &backup, &wake, &health, &mut stop).await;
        if *stop.borrow() {
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::warn!(error = %e, "cannot commit offsets on shutdown; some events will be read again");
            }
        }
    }
}

async fn consume(
    consumer: &StreamConsumer<LagContext>,
    settings: &KafkaSettings,
    codec: &Codec,
    backup: &Backup,
    wake: &Notify,
    health: &Health,
    stop: &mut watch::Receiver<bool>,
) {
    let mut lag_published = Instant::now();
    let mut errors = LogLimit::new(Duration::from_secs(30));
    loop {
        let next = tokio::select! {
            _ = stop.changed() => return,
            next = tokio::time::timeout(Duration::from_secs(5), consumer.recv()) => next,
        };
        let message = match next {
            Err(_) => {
                publish_lag(consumer, &settings.topic);
                continue;
            }
            // Taken off the queue at once: librdkafka reconnects by itself and queues one error
            // per failed attempt, so pausing here would leave a backlog to work through after
            // the broker is back (it delayed recovery by minutes). Logged at most every 30 s.
            Ok(Err(e)) => {
                health.failed("broker", &e);
                if let Some(unlogged) = errors.admit(Instant::now()) {
                    tracing::warn!(error = %e, unlogged, "consumer error (librdkafka keeps reconnecting)");
                }
                continue;
            }
            Ok(Ok(m)) => m,
        };
        health.ok("broker");
        // Take whatever else is already fetched (without waiting), so one database statement
        // records a whole batch of events: a replay of the topic reads at the broker's pace,
        // not at one database commit per event.
        let mut batch = vec![message];
        // `now_or_never` polls once: no timer per event, which a zero timeout would cost.
        while batch.len() < MAX_BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.push(m),
                _ => break,
            }
        }
        let mut repos = Vec::new();
        let mut seen = HashSet::new();
        let mut queued = 0u64;
        // Per batch, not per event: the newest detection time, and the next offset of each
        // partition (one offset store for the batch instead of one per event).
        let mut newest: Option<SystemTime> = None;
        let mut next_offsets: HashMap<i32, i64> = HashMap::new();
        for message in &batch {
            let (partition, offset) = (message.partition(), message.offset());
            let next = next_offsets.entry(partition).or_insert(offset + 1);
            *next = (*next).max(offset + 1);
            match decode_message(codec, message) {
                Ok(event) => {
                    newest = newest.max(Some(event.detected_at));
                    match (event.kind, event.repo_id) {
                        (RepoUpdateKind::Heartbeat, _) | (_, None) => {
                            metrics::counter!("seaf_backup_events_total", "result" => "heartbeat").increment(1);
                        }
                        (_, Some(repo)) => {
                            queued += 1;
                            if seen.insert(repo) {
                                repos.push(repo);
                            }
                        }
                    }
                }
                Err(e) => {
                    metrics::counter!("seaf_backup_events_total", "result" => "undecodable").increment(1);
                    tracing::warn!(partition, offset, error = %e, "skipping an undecodable message");
                }
            }
        }
        if let Some(newest) = newest {
            let age = SystemTime::now().duration_since(newest).unwrap_or_default();
            metrics::gauge!("seaf_backup_seconds_behind_primary").set(age.as_secs_f64());
        }
        if !repos.is_empty() {
            // Durable before the offsets may be committed; retried until the database answers.
            loop {
                match backup.db.mark_waiting_many(&repos).await {
                    Ok(()) => break,
                    Err(e) => {
                        health.failed("database", &e);
                        tracing::warn!(error = %e, "cannot record pending work; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            metrics::counter!("seaf_backup_events_total", "result" => "queued").increment(queued);
            wake.notify_one();
        }
        store_offsets(consumer, &settings.topic, &next_offsets);
        if lag_published.elapsed() > Duration::from_secs(5) {
            publish_lag(consumer, &settings.topic);
            lag_published = Instant::now();
        }
    }
}

/// Stores, for the next commit, `partition -> offset of the next event to read`.
fn store_offsets(consumer: &StreamConsumer<LagContext>, topic: &str, next: &HashMap<i32, i64>) {
    let mut tpl = TopicPartitionList::new();
    for (&partition, &offset) in next {
        if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::warn!(partition, offset, error = %e, "cannot store the offset; the events will be redelivered");
        }
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        tracing::warn!(error = %e, ?next, "cannot store the offsets; the events will be redelivered");
    }
}

fn publish_lag(consumer: &StreamConsumer<LagContext>, topic: &str) {
    for p in consumer.context().consumer_lag() {
        if p.topic == topic {
            metrics::gauge!("seaf_backup_consumer_lag", "topic" => p.topic.clone(), "partition" => p.partition.to_string())
                .set(p.lag as f64);
        }
    }
}
