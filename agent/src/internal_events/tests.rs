//! The catalogue is what the events record, and repeated happenings log once per period.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seaf_kafka::RepoUpdateKind;
use seaf_seafile::{ObjectId, ObjectKind, RepoId};

use super::backup::{FullScanDone, ReposInState, SyncFailed, SyncFinished, SyncRetried, Synced};
use super::consumer::*;
use super::durable::GroupCommitted;
use super::primary::*;
use super::recovery::{ConsistentAsOf, EventApplied};
use super::scrub::{FullPassDone, HeadCompared, HeadMismatch, ObjectDamaged, ObjectScrubbed, Repair};
use super::store::{BytesFetched, ObjectsWritten};
use super::{api::*, InternalEvent, MetricKind, METRICS};

fn repo() -> RepoId {
    RepoId::parse("0b4e2a8a-3c3a-4c7e-9d1e-5f1f2a3b4c5d").unwrap()
}

fn head() -> ObjectId {
    ObjectId::parse("1234567890abcdef1234567890abcdef12345678").unwrap()
}

/// One of every event; `emit_rate_limited` only the rate-limited ones.
/// One of each event: the primary's here, then the backup's.
fn emit_all() {
    emit_recovery_and_scrub();
    LibrariesListed { count: 3 }.emit();
    BranchPolled {
        took: Duration::from_millis(4),
        in_flight: 1,
    }
    .emit();
    BranchReadSkipped.emit();
    ChangeDetected {
        seconds_since_commit: -1.0,
    }
    .emit();
    EventPublished {
        repo: repo(),
        kind: RepoUpdateKind::Update,
        took: Duration::from_millis(9),
    }
    .emit();
    ChangeFound {
        source: seaf_kafka::DetectionSource::Binlog,
    }
    .emit();
    ChangeCaptureChosen {
        binlog: true,
        why_not: None,
    }
    .emit();
    BinlogPositionLost {
        lost: &"mysql-bin.000001:4",
        now: &"mysql-bin.000002:4",
    }
    .emit();
    ApiRequestServed {
        route: "/api/v1/repos".into(),
        status: 200,
        bytes: 10,
        took: Duration::from_millis(1),
    }
    .emit();
    ConnectionRefused {
        peer: "127.0.0.1:1".parse().unwrap(),
        open: 1,
    }
    .emit();
    emit_backup_events();
}

/// One of each backup event (the consumer's, the workers', the store's).
fn emit_backup_events() {
    EventsQueued { count: 2 }.emit();
    HeartbeatsReceived { count: 1 }.emit();
    SecondsBehindPrimary {
        behind: Duration::from_secs(1),
    }
    .emit();
    ConsumerLag {
        topic: "t",
        partition: 0,
        lag: 5,
    }
    .emit();
    let outcomes = [
        Synced::NoOp,
        Synced::Applied {
            head: head(),
            old_head: None,
            objects: 3,
            bytes: 30,
        },
        Synced::Trashed {
            head: head(),
            objects: 1,
            bytes: 10,
        },
        Synced::Deleted,
    ];
    for outcome in outcomes {
        SyncFinished {
            repo: repo(),
            outcome,
            took: Duration::from_secs(2),
        }
        .emit();
    }
    SyncFailed {
        repo: repo(),
        error: &"corrupt commit",
    }
    .emit();
    FullScanDone {
        libraries: 4,
        marked: 1,
        took: Duration::from_secs(3),
    }
    .emit();
    ReposInState {
        state: "waiting",
        count: 1,
    }
    .emit();
    ObjectsWritten {
        kind: ObjectKind::Block,
        count: 2,
        bytes: 20,
    }
    .emit();
    BytesFetched { bytes: 25 }.emit();
    GroupCommitted {
        batches: 3,
        written: 10,
        skipped: 1,
        bytes: 100,
        barriers: &[Duration::from_millis(2), Duration::from_millis(3)],
        steps: crate::backup::durable::StepTimes::default(),
        took: Duration::from_millis(9),
    }
    .emit();
    emit_rate_limited();
}

fn emit_rate_limited() {
    BinlogInterrupted { error: "gone" }.emit();
    BranchReadFailed {
        error: &"database away",
    }
    .emit();
    PublishFailed {
        repo: repo(),
        error: &"broker away",
    }
    .emit();
    TokenRefused { path: "/api/v1/repos" }.emit();
    PathTraversalRefused { path: "/api/v1/../etc" }.emit();
    RequestFailed { error: &"disk error" }.emit();
    UndecodableMessage {
        partition: 1,
        offset: 7,
        error: &"no magic",
    }
    .emit();
    BrokerError {
        error: &"all brokers down",
    }
    .emit();
    SyncRetried {
        repo: repo(),
        error: &"primary away",
    }
    .emit();
}

/// The recovery point and the scrub (their own block, so merges stay easy).
fn emit_recovery_and_scrub() {
    EventApplied {
        rpo: Duration::from_millis(1500),
    }
    .emit();
    ConsistentAsOf {
        at: std::time::SystemTime::now(),
    }
    .emit();
    ObjectScrubbed {
        kind: ObjectKind::Block,
        bytes: 10,
    }
    .emit();
    let id = ObjectId::hash_of(b"x");
    ObjectDamaged {
        kind: ObjectKind::Block,
        store: repo(),
        id,
        path: std::path::Path::new("/data/storage/blocks/x"),
        error: &seaf_seafile::ObjectError::IdMismatch {
            expected: id,
            actual: ObjectId::hash_of(b"y"),
        },
        repair: Repair::Repaired,
    }
    .emit();
    HeadCompared.emit();
    HeadMismatch {
        repo: repo(),
        backup: Some(id),
        primary: None,
    }
    .emit();
    FullPassDone {
        objects: 1,
        bytes: 10,
        damaged: 1,
        took: Duration::from_secs(1),
        at: 1_700_000_000,
    }
    .emit();
}

/// A log sink for `tracing_subscriber::fmt`.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a private recorder (built as `/metrics`'s is) and log sink; returns the
/// Prometheus text and the log.
fn observe(f: impl FnOnce()) -> (String, String) {
    let recorder = crate::telemetry::prometheus_builder().unwrap().build_recorder();
    let handle = recorder.handle();
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            super::describe_all();
            f();
        })
    });
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (handle.render(), log)
}

/// `# TYPE` of each metric, and the label names of its samples (`le` of buckets left out).
fn exported(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
        } else if let Some((series, labels)) = line.split_once('{') {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| series.strip_suffix(s).filter(|b| out.contains_key(*b)))
                .unwrap_or(series);
            let names = labels.split(',').filter_map(|l| l.split_once('=')).map(|(k, _)| k);
            let entry = out.get_mut(base).unwrap_or_else(|| panic!("{series}: no # TYPE line"));
            entry.1.extend(names.filter(|k| *k != "le").map(str::to_string));
        }
    }
    out
}

#[test]
fn the_catalogue_names_each_metric_once_in_the_projects_conventions() {
    let mut seen = BTreeSet::new();
    for m in METRICS {
        assert!(seen.insert(m.name), "{} is catalogued twice", m.name);
        assert!(
            m.name.starts_with("seaf_primary_") || m.name.starts_with("seaf_backup_"),
            "{}",
            m.name
        );
        assert_eq!(
            m.kind == MetricKind::Counter,
            m.name.ends_with("_total"),
            "{}: counters end in _total",
            m.name
        );
        assert!(
            !m.help.is_empty() && !m.help.contains(['\n', '\\']),
            "{}: help text",
            m.name
        );
    }
}

#[test]
fn events_record_exactly_the_catalogued_metrics_and_repeats_log_once_per_period() {
    // The only test that emits events: the rate limits are process-wide statics.
    let (text, log) = observe(|| {
        emit_all();
        emit_rate_limited();
        emit_rate_limited();
    });
    let exported = exported(&text);
    for m in METRICS {
        let labels: BTreeSet<String> = m.labels.iter().map(|l| l.to_string()).collect();
        let want = (m.kind.as_str().to_string(), labels);
        assert_eq!(exported.get(m.name), Some(&want), "{} in\n{text}", m.name);
        assert!(
            text.contains(&format!("# HELP {} {}\n", m.name, m.help)),
            "{}: no HELP",
            m.name
        );
    }
    let uncatalogued: Vec<_> = exported.keys().filter(|n| super::metric(n).is_none()).collect();
    assert!(uncatalogued.is_empty(), "recorded but not catalogued: {uncatalogued:?}");

    for message in [
        "skipping an undecodable message",
        "refused a path-traversal request",
        "sync interrupted",
        "binary log stream interrupted",
    ] {
        assert_eq!(log.matches(message).count(), 1, "{message} logged once in\n{log}");
    }
    assert_eq!(
        log.matches("unlogged=0").count(),
        10,
        "each rate-limited line says what it left out\n{log}"
    );
    // Every occurrence is counted all the same.
    assert!(
        text.contains("seaf_backup_events_total{result=\"undecodable\"} 3\n"),
        "{text}"
    );
    assert_eq!(log.matches("moved to the trash").count(), 1, "{log}");
    assert!(
        text.contains("seaf_primary_detection_seconds_sum 0\n"),
        "negative delay clamped\n{text}"
    );
}
