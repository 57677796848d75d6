//! The backup's intake: the topic in, decoded batches out to an [`EventSink`], offsets stored
//! only for what the sink accepted, lag reported for every assigned partition.
//!
//! [`Intake::run`] ensures the topic and subscribes (retrying while the broker is away), then
//! reads until cancelled: it takes what the consumer has already fetched, up to [`MAX_BATCH`]
//! messages, decodes it into a [`Batch`], offers it to the sink until the sink accepts it, and
//! then stores the batch's offsets, which librdkafka commits within a second (see
//! [`crate::client`] for the commit mode). Beside that, it measures the lag every
//! [`LAG_INTERVAL`] and at each rebalance.
//!
//! After cancellation it returns within [`SHUTDOWN_BOUND`], whatever the broker does: the last
//! commit and the consumer's close run on a thread of their own, and when the broker does not
//! answer in time the intake stops waiting. Offsets left uncommitted are read again on the next
//! start, which the sink must tolerate anyway.

mod batch;
mod receive;
mod sink;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

pub use batch::{Batch, Received, Undecodable};
pub use sink::{BrokerError, EventSink};
/// The cancellation [`Intake::run`] ends on, re-exported so callers use the same version.
pub use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, KafkaSettings};
use crate::codec::Codec;
use crate::consumer::{subscribe_with, EventConsumer, IntakeContext};
use crate::{detached, lag};

/// Most messages in one batch: large enough that a replay of the topic costs the sink few
/// round trips (one database statement per batch), small enough to hold in memory.
pub const MAX_BATCH: usize = 20_000;

/// How often the lag of every assigned partition is measured (and at each rebalance).
pub const LAG_INTERVAL: Duration = Duration::from_secs(2);

/// The most [`Intake::run`] takes to return after its cancellation.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// The most one lag measurement may take; one in progress when the intake is cancelled is
/// waited for, so the close below owns the consumer alone.
const LAG_BUDGET: Duration = Duration::from_secs(3);

/// The most the final commit and close are waited for: what is left of [`SHUTDOWN_BOUND`].
const CLOSE_BOUND: Duration = Duration::from_secs(6);

/// Pause before finding the topic or subscribing again after a failure.
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// The consumer side of the backup, ready to run.
pub struct Intake {
    settings: KafkaSettings,
    codec: Codec,
}

impl Intake {
    /// Checks the consumer configuration now (a forbidden `[kafka.properties]` entry fails here,
    /// at start, not in a retry loop); does not contact the brokers.
    pub fn new(settings: KafkaSettings, codec: Codec) -> Result<Intake, ClientError> {
        settings.consumer_config()?;
        Ok(Intake { settings, codec })
    }

    /// Reads into `sink` until `cancel` is cancelled; returns within [`SHUTDOWN_BOUND`] of that.
    pub async fn run<S: EventSink>(&self, sink: &S, cancel: CancellationToken) {
        let context = IntakeContext::default();
        let Some(consumer) = self.connect(&context, sink, &cancel).await else {
            return;
        };
        let consumer = Arc::new(consumer);
        let topic = &self.settings.topic;
        tokio::join!(
            receive::receive(&consumer, topic, &self.codec, &context, sink, &cancel),
            report_lag(&consumer, topic, &context, sink, &cancel),
        );
        close(consumer).await;
    }

    /// Finds (or creates) the topic and subscribes, retrying every [`RECONNECT_PAUSE`]; `None`
    /// when cancelled first.
    async fn connect<S: EventSink>(
        &self,
        context: &IntakeContext,
        sink: &S,
        cancel: &CancellationToken,
    ) -> Option<EventConsumer> {
        loop {
            let attempt = async {
                crate::topic::ensure_topic(&self.settings)
                    .await
                    .map_err(BrokerError::Topic)?;
                subscribe_with(&self.settings, context.clone()).map_err(BrokerError::Subscribe)
            };
            let failed = tokio::select! {
                _ = cancel.cancelled() => return None,
                attempt = attempt => match attempt {
                    Ok(consumer) => return Some(consumer),
                    Err(e) => e,
                },
            };
            sink.broker_error(&failed);
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
    }
}

/// Measures the lag every [`LAG_INTERVAL`] and right after each rebalance, off the runtime
/// (the requests block), and tells the sink; a measurement that fails (the broker is away) is
/// skipped, so the sink keeps the last one.
async fn report_lag<S: EventSink>(
    consumer: &Arc<EventConsumer>,
    topic: &str,
    context: &IntakeContext,
    sink: &S,
    cancel: &CancellationToken,
) {
    loop {
        let (c, t, accepted) = (consumer.clone(), topic.to_owned(), context.accepted.snapshot());
        match detached::run("lag", move || lag::measure(&c, &t, &accepted, LAG_BUDGET)).await {
            Some(Ok(lag)) => sink.lag(&lag),
            Some(Err(e)) => tracing::debug!(error = %e, "cannot measure the consumer lag now"),
            None => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(LAG_INTERVAL) => {}
            _ = context.rebalanced.notified() => {}
        }
    }
}

/// Commits the stored offsets and closes the consumer (leaving the group, so the partitions
/// move to another member at once), on a thread of its own, waiting at most [`CLOSE_BOUND`].
async fn close(consumer: Arc<EventConsumer>) {
    let done = detached::run("close", move || {
        let committed = consumer.commit_consumer_state(CommitMode::Sync);
        drop(consumer);
        committed
    });
    match tokio::time::timeout(CLOSE_BOUND, done).await {
        Ok(Some(Ok(()))) | Ok(Some(Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)))) => {
            tracing::info!("consumer closed, its offsets committed")
        }
        Ok(Some(Err(e))) => {
            tracing::warn!(error = %e, "cannot commit the offsets on shutdown; the events since the last commit will be read again")
        }
        Ok(None) => tracing::warn!("the consumer's close failed; the events since the last commit will be read again"),
        Err(_) => tracing::warn!(
            "the broker did not take the last commit within {CLOSE_BOUND:?}; stopped waiting, the events since the last commit will be read again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_property_that_breaks_the_commit_mode_fails_at_once() {
        let mut settings = KafkaSettings::new("127.0.0.1:1", "seafile-repo-updates");
        assert!(Intake::new(settings.clone(), Codec::single_object()).is_ok());
        settings
            .properties
            .insert("enable.auto.offset.store".into(), "true".into());
        let err = Intake::new(settings, Codec::single_object()).err().expect("refused");
        assert!(matches!(err, ClientError::ForbiddenProperty { .. }), "{err}");
    }

    #[test]
    fn stopping_fits_its_bound() {
        assert!(LAG_BUDGET + CLOSE_BOUND < SHUTDOWN_BOUND);
    }
}
