//! The backup's consumer of [`crate::RepoUpdate`] events.
//!
//! It is an rdkafka `StreamConsumer` subscribed to the topic, configured by
//! [`KafkaSettings::consumer_config`] (librdkafka commits only offsets stored explicitly, see
//! [`crate::client`]) and carrying a [`LagContext`] for the lag metric. The roles read and
//! commit with rdkafka's own API; wrapping it would only hide `commit_message` and friends.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;

use crate::client::{ClientError, KafkaSettings};
use crate::codec::{Codec, DecodeError};
use crate::event::RepoUpdate;
use crate::lag::LagContext;

/// The consumer type the backup role uses.
pub type EventConsumer = StreamConsumer<LagContext>;

/// A consumer in group `settings.group_id`, subscribed to `settings.topic`. Lag:
/// `consumer.context().consumer_lag()`.
pub fn subscribe(settings: &KafkaSettings) -> Result<EventConsumer, ClientError> {
    let consumer: EventConsumer = settings
        .consumer_config()?
        .create_with_context(LagContext::default())
        .map_err(ClientError::Config)?;
    consumer.subscribe(&[&settings.topic]).map_err(ClientError::Config)?;
    Ok(consumer)
}

/// Decodes a message's payload; a message without one (a tombstone) is [`DecodeError::Empty`].
pub fn decode_message<M: Message>(codec: &Codec, message: &M) -> Result<RepoUpdate, DecodeError> {
    codec.decode(message.payload().unwrap_or_default())
}
