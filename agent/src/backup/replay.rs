//! `seaf-backup replay`: moves the consumer group's committed offsets back (or to any point),
//! so the backup re-reads the topic. Harmless by design: every event makes the backup compare
//! a library with the primary's current head, nothing more.
//!
//! Kafka only accepts offset changes for a group with no active members, so the backup
//! processes of the group must be stopped first; the error says so when they are not.

use std::time::Duration;

use anyhow::{bail, Context};
use seaf_kafka::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use seaf_kafka::rdkafka::{Offset, TopicPartitionList};
use seaf_kafka::KafkaSettings;

/// Where to restart reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    Beginning,
    /// One partition at one offset: `P:O`.
    Offset {
        partition: i32,
        offset: i64,
    },
    /// Every partition at the first event at or after this time (ms since the epoch).
    Time(i64),
}

impl ReplayFrom {
    pub fn parse_offset(s: &str) -> anyhow::Result<ReplayFrom> {
        let (p, o) = s
            .split_once(':')
            .context("--from-offset takes PARTITION:OFFSET, e.g. 0:1234")?;
        Ok(ReplayFrom::Offset {
            partition: p.trim().parse().context("the partition of --from-offset P:O")?,
            offset: o.trim().parse().context("the offset of --from-offset P:O")?,
        })
    }
}

/// Commits the new positions for the group; returns them as `partition:offset` strings.
pub fn reposition(settings: &KafkaSettings, from: &ReplayFrom) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = settings.consumer_config()?.create()?;
    let timeout = Duration::from_secs(30);
    let metadata = consumer
        .fetch_metadata(Some(&settings.topic), timeout)
        .with_context(|| {
            format!(
                "cannot read the metadata of topic {:?} from {}",
                settings.topic, settings.brokers
            )
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == settings.topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        bail!("topic {:?} does not exist on {}", settings.topic, settings.brokers);
    }
    let mut tpl = TopicPartitionList::new();
    match from {
        ReplayFrom::Beginning => {
            for p in &partitions {
                let (low, _) = consumer.fetch_watermarks(&settings.topic, *p, timeout)?;
                tpl.add_partition_offset(&settings.topic, *p, Offset::Offset(low))?;
            }
        }
        ReplayFrom::Offset { partition, offset } => {
            if !partitions.contains(partition) {
                bail!(
                    "topic {:?} has no partition {partition} (it has {:?})",
                    settings.topic,
                    partitions
                );
            }
            tpl.add_partition_offset(&settings.topic, *partition, Offset::Offset(*offset))?;
        }
        ReplayFrom::Time(ms) => {
            let mut query = TopicPartitionList::new();
            for p in &partitions {
                query.add_partition_offset(&settings.topic, *p, Offset::Offset(*ms))?;
            }
            let found = consumer.offsets_for_times(query, timeout)?;
            for e in found.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    // No event at or after the time: start at the end.
                    _ => Offset::Offset(consumer.fetch_watermarks(&settings.topic, e.partition(), timeout)?.1),
                };
                tpl.add_partition_offset(&settings.topic, e.partition(), offset)?;
            }
        }
    }
    consumer.commit(&tpl, CommitMode::Sync).with_context(|| {
        format!(
            "cannot move the offsets of consumer group {:?}: stop every `seaf-backup backup` process of the group first, then replay, then start them again",
            settings.group_id
        )
    })?;
    Ok(tpl
        .elements()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e.partition(),
                match e.offset() {
                    Offset::Offset(o) => o.to_string(),
                    other => format!("{other:?}"),
                }
            )
        })
        .collect())
}
