//! `seaf-backup replay`: moves the consumer group's committed offsets back (or to any point),
//! so the backup re-reads the topic. Harmless by design: every event makes the backup compare
//! a library with the primary's current head, nothing more.
//!
//! Kafka only accepts offset changes for a group with no active members, so the backup
//! processes of the group must be stopped first; the error says so when they are not.

use std::fmt;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{ClientError, KafkaSettings};

/// How long each broker request of a replay may take.
const TIMEOUT: Duration = Duration::from_secs(30);

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
    /// `--from-offset P:O`.
    pub fn parse_offset(s: &str) -> Result<ReplayFrom, ReplayError> {
        let bad = || ReplayError::BadOffset(s.to_owned());
        let (p, o) = s.split_once(':').ok_or_else(bad)?;
        Ok(ReplayFrom::Offset {
            partition: p.trim().parse().map_err(|_| bad())?,
            offset: o.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// Where one partition will be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

/// Why the offsets were not moved.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("--from-offset takes PARTITION:OFFSET, e.g. 0:1234 (got {0:?})")]
    BadOffset(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("topic {topic:?} does not exist on {brokers}; check kafka.topic and kafka.brokers")]
    NoTopic { topic: String, brokers: String },
    #[error("topic {topic:?} has no partition {partition} (it has {partitions:?})")]
    NoPartition {
        topic: String,
        partition: i32,
        partitions: Vec<i32>,
    },
    #[error("cannot {what} of topic {topic:?} from {brokers}: {detail}. Is the broker running?")]
    Broker {
        what: &'static str,
        topic: String,
        brokers: String,
        detail: String,
    },
    #[error(
        "cannot move the offsets of consumer group {group:?}: {detail}. Stop every `seaf-backup \
         backup` process of the group first, then replay, then start them again"
    )]
    Commit { group: String, detail: String },
}

/// Commits the new positions for the group and returns them. Blocking (broker round trips of
/// up to 30 s each): call it off the async runtime.
pub fn reposition(settings: &KafkaSettings, from: &ReplayFrom) -> Result<Vec<Position>, ReplayError> {
    let consumer: BaseConsumer = settings.consumer_config()?.create().map_err(ClientError::Config)?;
    let topic = settings.topic.as_str();
    let broker = |what| {
        move |e: KafkaError| ReplayError::Broker {
            what,
            topic: topic.to_owned(),
            brokers: settings.brokers.clone(),
            detail: e.to_string(),
        }
    };
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(broker("read the metadata"))?;
    let partitions = crate::topic::partition_ids(&metadata, topic);
    if partitions.is_empty() {
        return Err(ReplayError::NoTopic {
            topic: topic.to_owned(),
            brokers: settings.brokers.clone(),
        });
    }
    let watermarks = |p| {
        consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(broker("read the watermarks"))
    };
    let mut positions = Vec::new();
    match from {
        ReplayFrom::Beginning => {
            for &partition in &partitions {
                positions.push(Position {
                    partition,
                    offset: watermarks(partition)?.0,
                });
            }
        }
        ReplayFrom::Offset { partition, offset } => {
            if !partitions.contains(partition) {
                return Err(ReplayError::NoPartition {
                    topic: topic.to_owned(),
                    partition: *partition,
                    partitions,
                });
            }
            positions.push(Position {
                partition: *partition,
                offset: *offset,
            });
        }
        ReplayFrom::Time(ms) => {
            let mut query = TopicPartitionList::new();
            for &p in &partitions {
                query
                    .add_partition_offset(topic, p, Offset::Offset(*ms))
                    .map_err(broker("query"))?;
            }
            let found = consumer
                .offsets_for_times(query, TIMEOUT)
                .map_err(broker("find the offsets at that time"))?;
            for e in found.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => o,
                    // No event at or after the time: start at the end.
                    _ => watermarks(e.partition())?.1,
                };
                positions.push(Position {
                    partition: e.partition(),
                    offset,
                });
            }
        }
    }
    let mut tpl = TopicPartitionList::new();
    for p in &positions {
        tpl.add_partition_offset(topic, p.partition, Offset::Offset(p.offset))
            .map_err(broker("prepare the offsets"))?;
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| ReplayError::Commit {
            group: settings.group_id.clone(),
            detail: e.to_string(),
        })?;
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_offset_is_partition_colon_offset() {
        assert_eq!(
            ReplayFrom::parse_offset(" 3 : 1200").unwrap(),
            ReplayFrom::Offset {
                partition: 3,
                offset: 1200
            }
        );
        for bad in ["3", "a:1", "3:x", ""] {
            let err = ReplayFrom::parse_offset(bad).unwrap_err().to_string();
            assert!(err.contains("PARTITION:OFFSET"), "{bad}: {err}");
        }
        assert_eq!(
            Position {
                partition: 2,
                offset: 9
            }
            .to_string(),
            "2:9"
        );
    }
}
