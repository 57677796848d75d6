//! The primary's loop: comparing the `Branch` table, publishing, acknowledgements.

use std::fmt::Display;
use std::time::Duration;

use seaf_kafka::RepoUpdateKind;
use seaf_seafile::RepoId;

use super::catalogue::*;
use super::{limit, InternalEvent};
use crate::log_limit::SharedLogLimit;

/// The `Branch` table was read: how many libraries it lists.
pub struct LibrariesListed {
    pub count: usize,
}

impl InternalEvent for LibrariesListed {
    fn emit(self) {
        metrics::gauge!(PRIMARY_LIBRARIES).set(self.count as f64);
    }
}

/// The `Branch` table could not be read (the poll tries again at the next interval, so this
/// repeats every `poll_interval` while the database is away).
pub struct BranchReadFailed<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for BranchReadFailed<'_> {
    fn emit(self) {
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(error = %self.error, unlogged, "cannot read Seafile's Branch table; retrying");
        }
    }
}

/// One poll of the `Branch` table ended, read or not.
pub struct BranchPolled {
    pub took: Duration,
    /// Events awaiting the broker's acknowledgement after the poll.
    pub in_flight: usize,
}

impl InternalEvent for BranchPolled {
    fn emit(self) {
        metrics::histogram!(PRIMARY_POLL_SECONDS).record(self.took.as_secs_f64());
        metrics::gauge!(PRIMARY_EVENTS_IN_FLIGHT).set(self.in_flight as f64);
    }
}

/// A poll skipped reading `Branch`: the change marker said nothing was committed since the
/// last read.
pub struct BranchReadSkipped;

impl InternalEvent for BranchReadSkipped {
    fn emit(self) {
        metrics::counter!(PRIMARY_BRANCH_READS_SKIPPED).increment(1);
    }
}

/// A changed head was detected, `seconds_since_commit` after its commit's ctime.
pub struct ChangeDetected {
    pub seconds_since_commit: f64,
}

impl InternalEvent for ChangeDetected {
    fn emit(self) {
        // A clock behind the committer's would give a negative delay.
        metrics::histogram!(PRIMARY_DETECTION_SECONDS).record(self.seconds_since_commit.max(0.0));
    }
}

/// The broker acknowledged an event, `took` after it was handed to the producer.
pub struct EventPublished {
    pub repo: RepoId,
    pub kind: RepoUpdateKind,
    pub took: Duration,
}

impl InternalEvent for EventPublished {
    fn emit(self) {
        metrics::counter!(PRIMARY_EVENTS_PUBLISHED, "kind" => self.kind.symbol()).increment(1);
        metrics::histogram!(PRIMARY_PUBLISH_SECONDS).record(self.took.as_secs_f64());
        tracing::debug!(repo = %self.repo, kind = %self.kind, "published");
    }
}

/// The broker did not acknowledge an event. During an outage every in-flight event fails, so
/// the line is rate-limited; the reconciler re-plans each one.
pub struct PublishFailed<'a> {
    pub repo: RepoId,
    pub error: &'a dyn Display,
}

impl InternalEvent for PublishFailed<'_> {
    fn emit(self) {
        metrics::counter!(PRIMARY_PUBLISH_ERRORS).increment(1);
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(
                repo = %self.repo, error = %self.error, unlogged,
                "event not published; it is sent again once the broker answers"
            );
        }
    }
}

/// A change was handed to the producer, seen by `source` (which path saw it).
pub struct ChangeFound {
    pub source: seaf_kafka::DetectionSource,
}

impl InternalEvent for ChangeFound {
    fn emit(self) {
        metrics::counter!(PRIMARY_CHANGES_DETECTED, "source" => self.source.symbol()).increment(1);
    }
}

/// How this run finds changes, and why.
pub struct ChangeCaptureChosen<'a> {
    pub binlog: bool,
    /// Why not the binary log (what to set), when it was wanted and is not used.
    pub why_not: Option<&'a str>,
}

impl InternalEvent for ChangeCaptureChosen<'_> {
    fn emit(self) {
        match (self.binlog, self.why_not) {
            (true, _) => tracing::info!("following the database's binary log (the Branch poll is the safety net)"),
            (false, Some(why)) => tracing::warn!(%why, "polling the Branch table instead of following the binary log"),
            (false, None) => tracing::info!("polling the Branch table"),
        }
    }
}

/// The binary log stream broke (server restarted, link lost); it reconnects from the last
/// transaction end it saw, so nothing is skipped.
pub struct BinlogInterrupted<'a> {
    pub error: &'a str,
}

impl InternalEvent for BinlogInterrupted<'_> {
    fn emit(self) {
        metrics::counter!(PRIMARY_BINLOG_INTERRUPTIONS).increment(1);
        static LOG: SharedLogLimit = limit();
        if let Some(unlogged) = LOG.admit() {
            tracing::warn!(error = %self.error, unlogged, "binary log stream interrupted; reconnecting");
        }
    }
}

/// The saved position is gone from the server (its log purged while the primary was away):
/// one full read of `Branch` covers the gap, then the stream goes on from `now`.
pub struct BinlogPositionLost<'a> {
    pub lost: &'a dyn Display,
    pub now: &'a dyn Display,
}

impl InternalEvent for BinlogPositionLost<'_> {
    fn emit(self) {
        metrics::counter!(PRIMARY_BINLOG_POSITION_LOST).increment(1);
        tracing::warn!(
            lost = %self.lost, now = %self.now,
            "the saved binary log position is gone from the server (purged?); reading the whole Branch table once, then following the log from now"
        );
    }
}
