//! The boundary between the intake and whoever keeps the events: [`EventSink`].

use std::future::Future;

use rdkafka::error::KafkaError;

use super::batch::Batch;
use crate::client::ClientError;
use crate::lag::PartitionLag;

/// Where the intake delivers. The intake owns everything Kafka (subscribing, reading, decoding,
/// offsets, lag); the sink owns what a batch means and how the process reports on it.
///
/// The intake calls these from one task, never two at once. Every method but `accept` must
/// return quickly: they run between reads.
pub trait EventSink: Sync {
    /// Why `accept` did not take a batch; the intake logs it when it offers the batch again.
    type Error: std::fmt::Display + Send;

    /// Makes the batch durable. Only after `Ok` are the batch's offsets stored for commit, so
    /// a crash before it re-reads the batch. On `Err` the intake offers the same batch again
    /// after a short pause (and stops offering when it is cancelled). A batch may therefore be
    /// accepted more than once across a crash or a rebalance: acceptance must be idempotent.
    fn accept(&self, batch: &Batch) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The broker could not be used: called once per error as it happens (librdkafka reports
    /// every failed reconnect, many a second during an outage), so rate-limit any log line.
    /// The intake goes on by itself: librdkafka reconnects, and the intake retries subscribing.
    fn broker_error(&self, error: &BrokerError);

    /// Messages arrived: the broker answers (again).
    fn broker_ok(&self);

    /// The lag of every partition assigned to this consumer now, the complete set each time
    /// (empty when none is assigned), every few seconds and at each rebalance. A partition
    /// missing from one report was revoked: its series should be dropped or zeroed.
    fn lag(&self, lag: &[PartitionLag]);
}

/// Why the intake could not read, as reported to [`EventSink::broker_error`].
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Finding or creating the topic failed (the broker is away, or refuses); retried every 5 s.
    #[error("cannot reach the topic yet, retrying in 5 s: {0}")]
    Topic(ClientError),
    /// Creating or subscribing the consumer failed; retried every 5 s.
    #[error("cannot subscribe to the topic yet, retrying in 5 s: {0}")]
    Subscribe(ClientError),
    /// librdkafka reported an error while reading (a broker connection lost, a fetch failed);
    /// it reconnects by itself.
    #[error("Kafka consumer error (librdkafka keeps reconnecting): {0}")]
    Consumer(KafkaError),
}

impl BrokerError {
    /// True for the errors librdkafka repeats on every reconnect attempt: the ones to
    /// rate-limit in the log.
    pub fn repeats(&self) -> bool {
        matches!(self, BrokerError::Consumer(_))
    }
}
