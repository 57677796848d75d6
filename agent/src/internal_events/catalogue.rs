//! Every metric the agent exports, in one place: its name, kind, help text and label names.
//!
//! The events use these name constants (no metric name is written anywhere else), the recorder
//! describes every entry (the `# HELP` lines of `/metrics`) and gives every histogram its
//! buckets, and `tests/deploy.rs` checks the alert rules, the dashboard and `docs/metrics.md`
//! against [`METRICS`]. Dashboards and alerts select on these names and labels: renaming one
//! breaks them.

/// How a metric is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    /// Exported as a Prometheus histogram (`_bucket{le}`, `_sum`, `_count`).
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name (`# TYPE` lines, the tables of docs/metrics.md).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricKind,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The label names every sample carries.
    pub labels: &'static [&'static str],
}

// The primary.
pub const PRIMARY_EVENTS_PUBLISHED: &str = "seaf_primary_events_published_total";
pub const PRIMARY_PUBLISH_ERRORS: &str = "seaf_primary_publish_errors_total";
pub const PRIMARY_EVENTS_IN_FLIGHT: &str = "seaf_primary_events_in_flight";
pub const PRIMARY_LIBRARIES: &str = "seaf_primary_libraries";
pub const PRIMARY_POLL_SECONDS: &str = "seaf_primary_poll_seconds";
pub const PRIMARY_BRANCH_READS_SKIPPED: &str = "seaf_primary_branch_reads_skipped_total";
pub const PRIMARY_DETECTION_SECONDS: &str = "seaf_primary_detection_seconds";
pub const PRIMARY_PUBLISH_SECONDS: &str = "seaf_primary_publish_seconds";
pub const PRIMARY_CHANGES_DETECTED: &str = "seaf_primary_changes_detected_total";
pub const PRIMARY_BINLOG_INTERRUPTIONS: &str = "seaf_primary_binlog_interruptions_total";
pub const PRIMARY_BINLOG_POSITION_LOST: &str = "seaf_primary_binlog_position_lost_total";
pub const PRIMARY_API_REQUESTS: &str = "seaf_primary_api_requests_total";
pub const PRIMARY_API_RESPONSE_BYTES: &str = "seaf_primary_api_response_bytes_total";
pub const PRIMARY_API_REQUEST_SECONDS: &str = "seaf_primary_api_request_seconds";
pub const PRIMARY_API_CONNECTIONS_REFUSED: &str = "seaf_primary_api_connections_refused_total";

// The backup.
pub const BACKUP_CONSUMER_LAG: &str = "seaf_backup_consumer_lag";
pub const BACKUP_SECONDS_BEHIND_PRIMARY: &str = "seaf_backup_seconds_behind_primary";
pub const BACKUP_REPOS: &str = "seaf_backup_repos";
pub const BACKUP_EVENTS: &str = "seaf_backup_events_total";
pub const BACKUP_OBJECTS_FETCHED: &str = "seaf_backup_objects_fetched_total";
pub const BACKUP_BYTES_FETCHED: &str = "seaf_backup_bytes_fetched_total";
pub const BACKUP_BYTES_WRITTEN: &str = "seaf_backup_bytes_written_total";
pub const BACKUP_REPO_SYNC_SECONDS: &str = "seaf_backup_repo_sync_seconds";
pub const BACKUP_FULL_SCAN_SECONDS: &str = "seaf_backup_full_scan_seconds";
pub const BACKUP_GROUP_COMMITS: &str = "seaf_backup_group_commits_total";
pub const BACKUP_GROUP_COMMIT_BATCHES: &str = "seaf_backup_group_commit_batches_total";
pub const BACKUP_GROUP_COMMIT_OBJECTS: &str = "seaf_backup_group_commit_objects_total";
pub const BACKUP_STORE_BARRIER_SECONDS: &str = "seaf_backup_store_barrier_seconds";
pub const BACKUP_GROUP_COMMIT_SECONDS: &str = "seaf_backup_group_commit_seconds";
pub const BACKUP_GROUP_COMMIT_STEP_SECONDS: &str = "seaf_backup_group_commit_step_seconds";

// The backup's recovery point and scrub.
pub const BACKUP_RPO_SECONDS: &str = "seaf_backup_rpo_seconds";
pub const BACKUP_CONSISTENT_AS_OF_SECONDS: &str = "seaf_backup_consistent_as_of_seconds";
pub const BACKUP_SCRUB_OBJECTS: &str = "seaf_backup_scrub_objects_total";
pub const BACKUP_SCRUB_BYTES: &str = "seaf_backup_scrub_bytes_total";
pub const BACKUP_SCRUB_CORRUPT: &str = "seaf_backup_scrub_corrupt_objects_total";
pub const BACKUP_SCRUB_HEADS_COMPARED: &str = "seaf_backup_scrub_heads_compared_total";
pub const BACKUP_SCRUB_HEAD_MISMATCHES: &str = "seaf_backup_scrub_head_mismatches_total";
pub const BACKUP_SCRUB_LAST_FULL_PASS: &str = "seaf_backup_scrub_last_full_pass_timestamp_seconds";

const fn def(name: &'static str, kind: MetricKind, labels: &'static [&'static str], help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        help,
        labels,
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric the agent exports.
pub const METRICS: &[MetricDef] = &[
    def(
        PRIMARY_EVENTS_PUBLISHED,
        Counter,
        &["kind"],
        "Events the broker acknowledged, by kind (UPDATE, DELETE).",
    ),
    def(
        PRIMARY_PUBLISH_ERRORS,
        Counter,
        &[],
        "Events the broker did not acknowledge (re-detected and sent again).",
    ),
    def(
        PRIMARY_EVENTS_IN_FLIGHT,
        Gauge,
        &[],
        "Events awaiting the broker's acknowledgement.",
    ),
    def(PRIMARY_LIBRARIES, Gauge, &[], "Libraries in Seafile's Branch table."),
    def(
        PRIMARY_CHANGES_DETECTED,
        Counter,
        &["source"],
        "Library changes handed to the producer, by the path that saw them (SNAPSHOT, POLL, BINLOG).",
    ),
    def(
        PRIMARY_BINLOG_INTERRUPTIONS,
        Counter,
        &[],
        "Times the binary log stream broke and reconnected.",
    ),
    def(
        PRIMARY_BINLOG_POSITION_LOST,
        Counter,
        &[],
        "Times the saved binary log position was gone from the server (a full read covered the gap).",
    ),
    def(
        PRIMARY_POLL_SECONDS,
        Histogram,
        &[],
        "One poll: a read and comparison of the Branch table, or a change-marker reading that made it unnecessary.",
    ),
    def(
        PRIMARY_BRANCH_READS_SKIPPED,
        Counter,
        &[],
        "Polls that skipped reading Branch because PostgreSQL's or SQLite's change marker said nothing was committed since the last read.",
    ),
    def(
        PRIMARY_DETECTION_SECONDS,
        Histogram,
        &[],
        "Commit time (ctime) to detection.",
    ),
    def(
        PRIMARY_PUBLISH_SECONDS,
        Histogram,
        &[],
        "Detection to the broker's acknowledgement.",
    ),
    def(
        PRIMARY_API_REQUESTS,
        Counter,
        &["route", "status"],
        "Object API requests, by route and HTTP status.",
    ),
    def(
        PRIMARY_API_RESPONSE_BYTES,
        Counter,
        &["route"],
        "Object API response bytes sent, by route.",
    ),
    def(
        PRIMARY_API_REQUEST_SECONDS,
        Histogram,
        &["route"],
        "Object API request latency, by route.",
    ),
    def(
        PRIMARY_API_CONNECTIONS_REFUSED,
        Counter,
        &[],
        "Object API connections closed at accept because api_max_connections were open.",
    ),
    def(
        BACKUP_CONSUMER_LAG,
        Gauge,
        &["topic", "partition"],
        "Messages behind the end of the partition (librdkafka statistics).",
    ),
    def(
        BACKUP_SECONDS_BEHIND_PRIMARY,
        Gauge,
        &[],
        "Now minus the detection time of the last event read.",
    ),
    def(BACKUP_REPOS, Gauge, &["state"], "Libraries per sync state."),
    def(
        BACKUP_EVENTS,
        Counter,
        &["result"],
        "What events came to: read by the consumer, or handled by a worker.",
    ),
    def(
        BACKUP_OBJECTS_FETCHED,
        Counter,
        &["kind"],
        "Objects fetched, verified and written, by kind (commit, fs, block).",
    ),
    def(
        BACKUP_BYTES_FETCHED,
        Counter,
        &[],
        "Bytes received from the primary: objects and the pack's framing (5 bytes an object).",
    ),
    def(
        BACKUP_BYTES_WRITTEN,
        Counter,
        &[],
        "Bytes of the objects verified and written to the backup store.",
    ),
    def(
        BACKUP_REPO_SYNC_SECONDS,
        Histogram,
        &[],
        "One library's sync, from taking its lease to its head committed (not the RPO: see seaf_backup_rpo_seconds).",
    ),
    def(BACKUP_FULL_SCAN_SECONDS, Gauge, &[], "Duration of the last full scan."),
    def(
        BACKUP_GROUP_COMMITS,
        Counter,
        &[],
        "Groups the committer made durable (one journal and two barriers each).",
    ),
    def(
        BACKUP_GROUP_COMMIT_BATCHES,
        Counter,
        &[],
        "Batches (one sync's objects each) committed; per group, the syncs that shared its barriers.",
    ),
    def(
        BACKUP_GROUP_COMMIT_OBJECTS,
        Counter,
        &["result"],
        "Objects of committed batches: written, or skipped as already present.",
    ),
    def(
        BACKUP_STORE_BARRIER_SECONDS,
        Histogram,
        &[],
        "One barrier (syncfs) of the backup store.",
    ),
    def(
        BACKUP_GROUP_COMMIT_SECONDS,
        Histogram,
        &[],
        "The committer's time on one group: journal, barriers, temp files and renames. Their sum over time near 1 means the committer is what syncs wait for.",
    ),
    def(
        BACKUP_GROUP_COMMIT_STEP_SECONDS,
        Histogram,
        &["step"],
        "The committer's time on one step of a group besides its barriers: journal, temp_files or renames.",
    ),
    // The backup's recovery point and scrub.
    def(
        BACKUP_RPO_SECONDS,
        Histogram,
        &[],
        "Per event: its detection on the primary to its library's head applied on the backup (the recovery point).",
    ),
    def(
        BACKUP_CONSISTENT_AS_OF_SECONDS,
        Gauge,
        &[],
        "Unix time before which every change the primary detected is applied on the backup.",
    ),
    def(
        BACKUP_SCRUB_OBJECTS,
        Counter,
        &["kind"],
        "Objects of the backup store re-read and re-hashed by the scrub, by kind.",
    ),
    def(
        BACKUP_SCRUB_BYTES,
        Counter,
        &[],
        "Bytes of the backup store re-read by the scrub.",
    ),
    def(
        BACKUP_SCRUB_CORRUPT,
        Counter,
        &["kind"],
        "Objects the scrub found damaged (their content no longer matches their id), by kind.",
    ),
    def(
        BACKUP_SCRUB_HEADS_COMPARED,
        Counter,
        &[],
        "Random libraries whose backup head the scrub compared with the primary's.",
    ),
    def(
        BACKUP_SCRUB_HEAD_MISMATCHES,
        Counter,
        &[],
        "Libraries marked synced whose head still differed from the primary's after a grace period.",
    ),
    def(
        BACKUP_SCRUB_LAST_FULL_PASS,
        Gauge,
        &[],
        "Unix time the scrub last finished re-hashing the whole backup store.",
    ),
];

/// The catalogue entry of `name`.
pub fn metric(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// Describes every metric to the installed recorder, so `/metrics` has a `# HELP` line for each
/// (once it has a sample).
pub fn describe_all() {
    for m in METRICS {
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, m.help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, m.help),
            MetricKind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}
