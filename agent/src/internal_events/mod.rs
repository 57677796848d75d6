//! Every observable happening of the agent, one small type each (after Vector's
//! `internal_events`): its `emit()` writes the log line and updates the metrics, so what a
//! happening logs and what it counts cannot drift apart, and a call site says what happened, not
//! how it is measured.
//!
//! - [`catalogue`]: every exported metric (name, kind, help, labels); the only place metric
//!   names are written.
//! - [`primary`]: the Branch table poll and publishing; [`api`]: the object API.
//! - [`consumer`]: what the backup reads from the topic; [`backup`]: the workers' syncs, full
//!   scans and library states; [`store`]: objects written to the backup's store; [`durable`]:
//!   group commits of the store, a failed barrier, start-up recovery.
//! - [`recovery`]: the recovery point (per event) and the consistent-as-of watermark;
//!   [`scrub`]: the background re-hash of the store and head comparison.
//!
//! Happenings that can repeat many times a second (refused requests, broker and publish errors,
//! undecodable messages, retried syncs) log through a [`SharedLogLimit`]: the first occurrence,
//! then at most one line per [`LOG_PERIOD`] carrying `unlogged`, the count left out since. Their
//! metrics count every occurrence. One-off debug and info lines stay plain `tracing` calls
//! where they happen.

pub mod api;
pub mod backup;
pub mod catalogue;
pub mod consumer;
pub mod durable;
pub mod primary;
pub mod recovery;
pub mod scrub;
pub mod store;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use catalogue::{describe_all, metric, MetricDef, MetricKind, METRICS};

use crate::log_limit::SharedLogLimit;

/// Something that happened, worth a log line, a metric, or both.
pub trait InternalEvent {
    fn emit(self);
}

/// At most one line per period for each rate-limited happening (the consumer's broker errors
/// were already logged so: librdkafka queues one error per failed reconnect).
pub const LOG_PERIOD: Duration = Duration::from_secs(30);

/// A fresh limit for one happening, for its `static`.
const fn limit() -> SharedLogLimit {
    SharedLogLimit::new(LOG_PERIOD)
}
