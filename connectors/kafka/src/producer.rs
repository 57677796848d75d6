//! Publishing one event and knowing it is safe.
//!
//! The primary must not forget a change until the brokers hold it: [`EventProducer::publish`]
//! resolves only when the event is acknowledged by every in-sync replica (idempotent producer,
//! `acks=all`), or fails with the reason. Events are keyed by [`RepoUpdate::key`].

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};

use crate::client::{ClientError, KafkaSettings};
use crate::codec::{Codec, EncodeError};
use crate::event::RepoUpdate;

/// Where an event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub partition: i32,
    pub offset: i64,
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("publishing to topic {topic:?} on {brokers} failed: {detail}")]
    Kafka {
        topic: String,
        brokers: String,
        detail: String,
    },
}

/// The primary's producer of [`RepoUpdate`] events.
pub struct EventProducer {
    producer: FutureProducer,
    codec: Codec,
    topic: String,
    brokers: String,
    queue_timeout: Duration,
}

impl EventProducer {
    /// A producer for `settings.topic` (see [`KafkaSettings::producer_config`]); does not
    /// contact the brokers yet.
    pub fn new(settings: &KafkaSettings, codec: Codec) -> Result<Self, ClientError> {
        let producer = settings.producer_config()?.create().map_err(ClientError::Config)?;
        Ok(EventProducer {
            producer,
            codec,
            topic: settings.topic.clone(),
            brokers: settings.brokers.clone(),
            queue_timeout: settings.timeout,
        })
    }

    /// Encodes and sends `event`, and waits for the brokers' acknowledgement. While the brokers
    /// are away librdkafka keeps retrying (up to `message.timeout.ms`) before this fails.
    pub async fn publish(&self, event: &RepoUpdate) -> Result<Published, PublishError> {
        let payload = self.codec.encode(event)?;
        let key = event.key();
        let record = FutureRecord::to(&self.topic).key(&key).payload(&payload);
        match self.producer.send(record, self.queue_timeout).await {
            Ok(delivery) => Ok(Published {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((e, _)) => Err(PublishError::Kafka {
                topic: self.topic.clone(),
                brokers: self.brokers.clone(),
                detail: e.to_string(),
            }),
        }
    }

    /// Waits until everything queued is acknowledged (for shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), PublishError> {
        self.producer.flush(timeout).map_err(|e| PublishError::Kafka {
            topic: self.topic.clone(),
            brokers: self.brokers.clone(),
            detail: format!("flush: {e}"),
        })
    }

    /// The underlying rdkafka producer, for what this wrapper does not cover.
    pub fn inner(&self) -> &FutureProducer {
        &self.producer
    }

    /// The fatal error that left this producer unusable, if one did. An idempotent producer
    /// raises one when it can no longer keep its ordering guarantee (for example a broker that
    /// lost the producer's state); only a new producer, with a new producer id, publishes again.
    /// A broker outage alone is not fatal: librdkafka reconnects and resends by itself.
    pub fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }

    /// Drops every queued and in-flight event, so a producer being replaced does not resend
    /// them later with its stale producer id (their fate is reported as failed).
    pub fn discard_pending(&self) {
        self.producer.purge(PurgeConfig::default().queue().inflight());
    }
}
