//! Consumer lag of every assigned partition, measured by the intake itself.
//!
//! librdkafka's statistics report lag late (a statistics period after start), only for
//! partitions that have a committed offset, and only while messages flow. The intake instead
//! asks the brokers for each assigned partition's watermarks every few seconds and at every
//! rebalance, so every partition has a lag from its assignment on, also while idle.
//!
//! The lag of a partition is the messages the sink has not accepted yet: the high watermark
//! minus the first offset not accepted. That offset is the one after the last batch the sink
//! accepted in this assignment, or, before the first, the group's committed offset, or, when
//! the group has none, the low watermark (where `auto.offset.reset=earliest` starts reading).
//! Messages read but not yet accepted (the sink's database is down) are lag: they are not safe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{Offset, TopicPartitionList};

use crate::consumer::EventConsumer;

/// The lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Messages after the first offset not accepted (zero: nothing left to do).
    pub lag: i64,
}

/// `high - next`, `next` being the first offset not handled (`None`: nothing committed, so
/// reading starts at `low`). An offset outside the watermarks, such as a committed offset whose
/// messages retention has deleted, counts from the nearest watermark, where reading resumes.
pub fn lag(low: i64, high: i64, next: Option<i64>) -> i64 {
    let next = next.unwrap_or(low).max(low).min(high);
    (high - next).max(0)
}

/// Why a lag measurement failed (it is skipped; the next one may succeed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MeasureError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("the brokers gave no high watermark for partition {0}")]
    NoWatermark(i32),
}

/// Asks the brokers for the lag of every partition of `topic` assigned to `consumer`, given the
/// offsets after what was accepted (`accepted`). Blocking, and done within about `budget`: every
/// request gets what is left of it. At most three requests, whatever the number of partitions:
/// the high watermarks, the committed offsets and low watermarks of partitions nothing was
/// accepted on yet.
pub(crate) fn measure(
    consumer: &EventConsumer,
    topic: &str,
    accepted: &BTreeMap<i32, i64>,
    budget: Duration,
) -> Result<Vec<PartitionLag>, MeasureError> {
    let deadline = Instant::now() + budget;
    let left = || deadline.saturating_duration_since(Instant::now());
    let assigned: Vec<i32> = consumer
        .assignment()?
        .elements_for_topic(topic)
        .iter()
        .map(|e| e.partition())
        .collect();
    let high = list_offsets(consumer, topic, &assigned, Offset::End, left())?;
    let fresh: Vec<i32> = assigned.iter().copied().filter(|p| !accepted.contains_key(p)).collect();
    let committed = committed(consumer, topic, &fresh, left())?;
    let low = list_offsets(consumer, topic, &fresh, Offset::Beginning, left())?;
    assigned
        .into_iter()
        .map(|partition| {
            let high = *high.get(&partition).ok_or(MeasureError::NoWatermark(partition))?;
            let next = accepted.get(&partition).or_else(|| committed.get(&partition));
            Ok(PartitionLag {
                topic: topic.to_owned(),
                partition,
                lag: lag(low.get(&partition).copied().unwrap_or(0), high, next.copied()),
            })
        })
        .collect()
}

/// The latest (`Offset::End`) or earliest (`Offset::Beginning`) offset of each of
/// `partitions`, in one ListOffsets request per leader.
fn list_offsets(
    consumer: &EventConsumer,
    topic: &str,
    partitions: &[i32],
    at: Offset,
    timeout: Duration,
) -> KafkaResult<BTreeMap<i32, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut query = TopicPartitionList::new();
    for &partition in partitions {
        query.add_partition_offset(topic, partition, at)?;
    }
    offsets(&consumer.offsets_for_times(query, timeout)?)
}

/// The group's committed offsets of `partitions`; those without one are left out.
fn committed(
    consumer: &EventConsumer,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> KafkaResult<BTreeMap<i32, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut query = TopicPartitionList::new();
    for &partition in partitions {
        query.add_partition(topic, partition);
    }
    offsets(&consumer.committed_offsets(query, timeout)?)
}

/// The real offsets of a broker's answer, by partition; a partition's error fails it all.
fn offsets(answer: &TopicPartitionList) -> KafkaResult<BTreeMap<i32, i64>> {
    let mut out = BTreeMap::new();
    for e in answer.elements() {
        e.error()?;
        if let Offset::Offset(o) = e.offset() {
            out.insert(e.partition(), o);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::lag;

    #[test]
    fn lag_counts_from_the_first_offset_not_handled() {
        // Accepted (or committed) up to 7 of a partition holding 0..10: 3 to go.
        assert_eq!(lag(0, 10, Some(7)), 3);
        assert_eq!(lag(0, 10, Some(10)), 0);
        // Nothing committed: from the low watermark, all that the partition still holds.
        assert_eq!(lag(4, 10, None), 6);
        assert_eq!(lag(0, 0, None), 0);
        // A committed offset below what retention kept: reading resumes at the low watermark.
        assert_eq!(lag(4, 10, Some(2)), 6);
        // Never negative, whatever a broker answers.
        assert_eq!(lag(0, 10, Some(12)), 0);
        assert_eq!(lag(10, 5, None), 0);
    }
}
