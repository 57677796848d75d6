//! The backup's consumer of [`crate::RepoUpdate`] events: an rdkafka `StreamConsumer`
//! subscribed to the topic, configured by [`KafkaSettings::consumer_config`] (librdkafka commits
//! only offsets stored explicitly, see [`crate::client`]), with a context that follows
//! rebalances for the lag. [`crate::intake`] drives it; tests drive it by hand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use tokio::sync::Notify;

use crate::client::{ClientError, KafkaSettings};
use crate::codec::{Codec, DecodeError};
use crate::event::RepoUpdate;

/// The consumer type of the backup role.
pub type EventConsumer = StreamConsumer<IntakeContext>;

/// A consumer in group `settings.group_id`, subscribed to `settings.topic`.
pub fn subscribe(settings: &KafkaSettings) -> Result<EventConsumer, ClientError> {
    subscribe_with(settings, IntakeContext::default())
}

pub(crate) fn subscribe_with(settings: &KafkaSettings, context: IntakeContext) -> Result<EventConsumer, ClientError> {
    let consumer: EventConsumer = settings
        .consumer_config()?
        .create_with_context(context)
        .map_err(ClientError::Config)?;
    consumer.subscribe(&[&settings.topic]).map_err(ClientError::Config)?;
    Ok(consumer)
}

/// Decodes a message's payload; a message without one (a tombstone) is [`DecodeError::Empty`].
pub fn decode_message<M: Message>(codec: &Codec, message: &M) -> Result<RepoUpdate, DecodeError> {
    codec.decode(message.payload().unwrap_or_default())
}

/// Per partition, the offset after the last batch the sink accepted while this consumer has
/// held the partition (the lag counts from there). Shared by the intake, which records, the
/// context, which forgets a partition when it moves, and the lag measurement, which reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accepted(Arc<Mutex<BTreeMap<i32, i64>>>);

impl Accepted {
    pub(crate) fn record(&self, next: &BTreeMap<i32, i64>) {
        if let Ok(mut accepted) = self.0.lock() {
            for (&partition, &offset) in next {
                let entry = accepted.entry(partition).or_insert(offset);
                *entry = (*entry).max(offset);
            }
        }
    }

    fn forget(&self, partitions: impl Iterator<Item = i32>) {
        if let Ok(mut accepted) = self.0.lock() {
            for partition in partitions {
                accepted.remove(&partition);
            }
        }
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<i32, i64> {
        self.0.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// The consumer's librdkafka context: logs rebalances, and after each one forgets what was
/// accepted on the partitions that moved (another consumer may have read on meanwhile) and
/// asks for a lag measurement at once, so a new assignment has its lag within moments.
#[derive(Debug, Clone, Default)]
pub struct IntakeContext {
    pub(crate) accepted: Accepted,
    pub(crate) rebalanced: Arc<Notify>,
}

impl ClientContext for IntakeContext {}

impl ConsumerContext for IntakeContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = match rebalance {
            Rebalance::Assign(tpl) | Rebalance::Revoke(tpl) => {
                tpl.elements().iter().map(|e| e.partition()).collect::<Vec<i32>>()
            }
            Rebalance::Error(e) => {
                tracing::warn!("consumer group rebalance failed: {e}");
                return;
            }
        };
        if matches!(rebalance, Rebalance::Assign(_)) {
            tracing::info!(?partitions, "consumer group assigned partitions");
        } else {
            tracing::info!(?partitions, "consumer group revoked partitions");
        }
        self.accepted.forget(partitions.into_iter());
        self.rebalanced.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_offsets_only_move_forward_and_are_forgotten_per_partition() {
        let accepted = Accepted::default();
        accepted.record(&BTreeMap::from([(0, 10), (1, 5)]));
        accepted.record(&BTreeMap::from([(0, 8), (1, 6)]));
        assert_eq!(accepted.snapshot(), BTreeMap::from([(0, 10), (1, 6)]));
        accepted.forget([1, 2].into_iter());
        assert_eq!(accepted.snapshot(), BTreeMap::from([(0, 10)]));
    }
}
