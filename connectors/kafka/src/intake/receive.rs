//! The read loop: receive, gather a batch, offer it to the sink, store its offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::{Batch, BrokerError, EventSink, MAX_BATCH};
use crate::codec::Codec;
use crate::consumer::{EventConsumer, IntakeContext};

/// Pause before a batch the sink refused is offered again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Reads until cancelled.
pub(super) async fn receive<S: EventSink>(
    consumer: &EventConsumer,
    topic: &str,
    codec: &Codec,
    context: &IntakeContext,
    sink: &S,
    cancel: &CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            first = consumer.recv() => first,
        };
        let batch = match first {
            // Taken off the queue at once, never with a pause per error: librdkafka reconnects
            // by itself and queues one error per failed attempt, so pausing here would leave a
            // backlog of errors to work through after the broker is back (it delayed recovery
            // by minutes). The sink rate-limits its log line.
            Err(e) => {
                sink.broker_error(&BrokerError::Consumer(e));
                continue;
            }
            Ok(first) => gather(consumer, codec, first, sink),
        };
        sink.broker_ok();
        if !offer(&batch, sink, cancel).await {
            return;
        }
        let next = batch.next_offsets();
        match store_offsets(consumer, topic, &next) {
            Ok(()) => context.accepted.record(&next),
            Err(e) => {
                tracing::warn!(error = %e, ?next, "cannot store the offsets; the events will be read again")
            }
        }
    }
}

/// The batch starting with `first`: whatever else is already fetched, without waiting, so the
/// sink handles a whole batch at once and a replay reads at the broker's pace. `now_or_never`
/// polls once: no timer per message, which a zero timeout would cost.
fn gather<S: EventSink>(consumer: &EventConsumer, codec: &Codec, first: BorrowedMessage<'_>, sink: &S) -> Batch {
    let mut batch = Batch::default();
    add(&mut batch, codec, first);
    while batch.len() < MAX_BATCH {
        match consumer.recv().now_or_never() {
            Some(Ok(message)) => add(&mut batch, codec, message),
            Some(Err(e)) => {
                sink.broker_error(&BrokerError::Consumer(e));
                break;
            }
            None => break,
        }
    }
    batch
}

fn add(batch: &mut Batch, codec: &Codec, message: BorrowedMessage<'_>) {
    batch.push(codec, message.partition(), message.offset(), message.payload());
}

/// Offers `batch` until the sink accepts it (true) or the intake is cancelled (false: the
/// batch is not stored, so it is read again on the next start).
async fn offer<S: EventSink>(batch: &Batch, sink: &S, cancel: &CancellationToken) -> bool {
    loop {
        let refused = tokio::select! {
            _ = cancel.cancelled() => return false,
            accepted = sink.accept(batch) => match accepted {
                Ok(()) => return true,
                Err(e) => e,
            },
        };
        tracing::warn!(error = %refused, messages = batch.len(), "the batch was not accepted; offering it again in 1 s");
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = tokio::time::sleep(RETRY_PAUSE) => {}
        }
    }
}

/// Stores, for librdkafka's next commit, `partition -> offset of the next message to read`.
fn store_offsets(consumer: &EventConsumer, topic: &str, next: &BTreeMap<i32, i64>) -> KafkaResult<()> {
    let mut tpl = TopicPartitionList::new();
    for (&partition, &offset) in next {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    consumer.store_offsets(&tpl)
}
