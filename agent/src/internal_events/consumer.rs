//! What the backup's consumer reads from the topic.
//!
//! All of `seaf_backup_events_total` but the workers' results (see [`super::backup`]).

use std::fmt::Display;
use std::time::Duration;

use super::catalogue::*;
use super::{limit, InternalEvent};
use crate::log_limit::SharedLogLimit;

/// Events of libraries read and recorded as waiting, `count` of them (one batch).
pub struct EventsQueued {
    pub count: u64,
}

impl InternalEvent for EventsQueued {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "queued").increment(self.count);
    }
}

/// Heartbeats (or events naming no library) were read, `count` of them (one batch): the
/// primary is alive and publishing.
pub struct HeartbeatsReceived {
    pub count: u64,
}

impl InternalEvent for HeartbeatsReceived {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "heartbeat").increment(self.count);
    }
}

/// A message that is no `RepoUpdate` was skipped. The line says where it is, for
/// `kafka-console-consumer`; a writer of foreign messages can produce thousands, so it is
/// rate-limited, and the full scan still covers every library.
pub struct UndecodableMessage<'a> {
    pub partition: i32,
    pub offset: i64,
    pub error: &'a dyn Display,
}

impl InternalEvent for UndecodableMessage<'_> {
    fn emit(self) {
        metrics::counter!(BACKUP_EVENTS, "result" => "undecodable").increment(1);
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(
                partition = self.partition, offset = self.offset, error = %self.error, unlogged,
                "skipping an undecodable message"
            );
        }
    }
}

/// How long ago the newest event read was detected on the primary (heartbeats keep it fresh
/// while nothing changes).
pub struct SecondsBehindPrimary {
    pub behind: Duration,
}

impl InternalEvent for SecondsBehindPrimary {
    fn emit(self) {
        metrics::gauge!(BACKUP_SECONDS_BEHIND_PRIMARY).set(self.behind.as_secs_f64());
    }
}

/// The lag of one assigned partition: messages after the first one not yet recorded (zero for
/// a partition revoked since the last report, whose lag another consumer reports now).
pub struct ConsumerLag<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub lag: i64,
}

impl InternalEvent for ConsumerLag<'_> {
    fn emit(self) {
        metrics::gauge!(
            BACKUP_CONSUMER_LAG,
            "topic" => self.topic.to_string(),
            "partition" => self.partition.to_string()
        )
        .set(self.lag as f64);
    }
}

/// The consumer reported an error. librdkafka reconnects by itself and queues one error per
/// failed attempt: hundreds during an outage of a few minutes, hence the limit.
pub struct BrokerError<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for BrokerError<'_> {
    fn emit(self) {
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(error = %self.error, unlogged, "consumer error (librdkafka keeps reconnecting)");
        }
    }
}
