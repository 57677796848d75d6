//! seaf-kafka against a real Apache Kafka (see scripts/broker.sh): topic creation, the
//! idempotent producer, a consumer group that commits only what it handed on, a broker restart
//! (graceful and kill -9) that keeps events and committed offsets, the backup's intake (offsets
//! only for what its sink accepted, the lag of every assigned partition, a bounded shutdown with
//! the broker gone), and the backup process's lag metric.
//!
//! Offsets are checked exactly on topics without compaction. Kafka compacts a compacted topic
//! in the background, on closed segments, whenever its cleaner gets to them; the compaction test
//! checks what the backup relies on whatever the cleaner has done: the latest event of every
//! library survives, in order, duplicates allowed.
//!
//! No sleeps: every wait is a receive or request with a generous timeout and a message that says
//! what did not happen, with the broker's log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seaf_kafka::intake::{CancellationToken, SHUTDOWN_BOUND};
use seaf_kafka::rdkafka::consumer::{CommitMode, Consumer};
use seaf_kafka::rdkafka::message::BorrowedMessage;
use seaf_kafka::rdkafka::producer::FutureRecord;
use seaf_kafka::rdkafka::{Message, Offset, TopicPartitionList};
use seaf_kafka::{
    decode_message, ensure_topic, subscribe, topic_partitions, Batch, BrokerError, Codec, DetectionSource,
    EventConsumer, EventProducer, EventSink, Intake, KafkaSettings, PartitionLag, RepoUpdate, TopicStatus,
};
use seaf_seafile::{ObjectId, RepoId};
use support::agent::{wait_until, Agent};
use support::broker::Broker;
use support::e2e::{self, Deployment};

/// Per message; the first one includes joining the consumer group.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 3;

fn settings(broker: &Broker, topic: &str) -> KafkaSettings {
    let mut s = KafkaSettings::new(broker.bootstrap(), topic);
    s.group_id = format!("{topic}-backup");
    s.partitions = PARTITIONS;
    s.timeout = Duration::from_secs(30);
    // Exact offsets: see the module doc.
    s.compacted = false;
    s
}

/// `per_repo` successive updates of each of `repos` libraries, interleaved across libraries.
fn history(repos: usize, per_repo: usize) -> Vec<RepoUpdate> {
    let ids: Vec<RepoId> = (0..repos)
        .map(|r| RepoId::parse(&format!("{r:08x}-1b2c-4d3e-8f40-5a6b7c8d9e0f")).unwrap())
        .collect();
    let mut heads: Vec<Option<ObjectId>> = vec![None; repos];
    let mut out = Vec::new();
    for i in 0..per_repo {
        for (r, repo) in ids.iter().enumerate() {
            let head = ObjectId::hash_of(format!("{r}/{i}").as_bytes());
            out.push(RepoUpdate::update(
                *repo,
                head,
                heads[r],
                "primary-1",
                DetectionSource::Poll,
            ));
            heads[r] = Some(head);
        }
    }
    out
}

async fn next<'c>(consumer: &'c EventConsumer, broker: &Broker, what: &str) -> BorrowedMessage<'c> {
    match tokio::time::timeout(RECEIVE_TIMEOUT, consumer.recv()).await {
        Ok(Ok(message)) => message,
        Ok(Err(e)) => panic!("{what}: consumer error: {e}\n--- broker log ---\n{}", broker.log_tail()),
        Err(_) => panic!(
            "{what}: no message within {RECEIVE_TIMEOUT:?}\n--- broker log ---\n{}",
            broker.log_tail()
        ),
    }
}

/// The group's committed offsets, partitions without one left out. Right after a broker
/// restart the group coordinator is still loading __consumer_offsets and cannot answer
/// (`support::e2e::committed` is empty then): ask again, as a client would.
fn committed(s: &KafkaSettings) -> BTreeMap<i32, i64> {
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    loop {
        let all = e2e::committed(&s.brokers, &s.group_id, &s.topic);
        if !all.is_empty() {
            return all.into_iter().filter(|(_, offset)| *offset >= 0).collect();
        }
        assert!(
            Instant::now() < deadline,
            "group {} got no committed offsets within {RECEIVE_TIMEOUT:?}",
            s.group_id
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn high_watermarks(s: &KafkaSettings) -> BTreeMap<i32, i64> {
    e2e::watermarks(&s.brokers, &s.topic)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect()
}

/// Reads `want` events with a fresh group, checking each decodes.
async fn read_all(s: &KafkaSettings, broker: &Broker, group: &str, want: usize) -> Vec<(i32, i64, String, RepoUpdate)> {
    let mut fresh = s.clone();
    fresh.group_id = group.into();
    let consumer = subscribe(&fresh).unwrap();
    let codec = Codec::single_object();
    let mut out = Vec::new();
    while out.len() < want {
        let what = format!("group {group} after {} of {want} events", out.len());
        let m = next(&consumer, broker, &what).await;
        let event = decode_message(&codec, &m).unwrap_or_else(|e| panic!("{what}: {e}"));
        let key = String::from_utf8(m.key().expect("keyed").to_vec()).unwrap();
        out.push((m.partition(), m.offset(), key, event));
    }
    out
}

/// Each library's events in the order they were published, and each library on one partition.
fn assert_in_order_per_key(published: &[RepoUpdate], received: &[(i32, i64, String, RepoUpdate)]) {
    let mut want: BTreeMap<String, Vec<&RepoUpdate>> = BTreeMap::new();
    for e in published {
        want.entry(e.key()).or_default().push(e);
    }
    let mut got: BTreeMap<String, Vec<&RepoUpdate>> = BTreeMap::new();
    let mut partition_of: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for (p, _, key, e) in received {
        assert_eq!(*key, e.key(), "message key is the event's key");
        got.entry(key.clone()).or_default().push(e);
        partition_of.entry(key).or_default().insert(*p);
    }
    assert_eq!(got, want, "events per key, in publish order");
    for (key, partitions) in partition_of {
        assert_eq!(partitions.len(), 1, "{key} is spread over partitions {partitions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_topic_creates_once_and_tolerates_races() {
    let Some(broker) = Broker::start() else { return };
    let mut s = settings(&broker, "seafile-repo-updates");
    s.compacted = true;
    assert_eq!(topic_partitions(&s).await.unwrap(), None);
    assert_eq!(ensure_topic(&s).await.unwrap(), TopicStatus::Created { partitions: 3 });
    assert_eq!(ensure_topic(&s).await.unwrap(), TopicStatus::Existed { partitions: 3 });
    assert_eq!(topic_partitions(&s).await.unwrap(), Some(3));

    // Settings only apply to a topic seaf-backup creates.
    let mut more = s.clone();
    more.partitions = 5;
    assert_eq!(
        ensure_topic(&more).await.unwrap(),
        TopicStatus::Existed { partitions: 3 }
    );

    // Two processes starting at once: both succeed, the topic is created once.
    let plain = settings(&broker, "not-compacted");
    let (a, b) = tokio::join!(ensure_topic(&plain), ensure_topic(&plain));
    let statuses = [a.unwrap(), b.unwrap()];
    assert!(statuses.iter().all(|s| s.partitions() == 3), "{statuses:?}");
    assert_eq!(topic_partitions(&plain).await.unwrap(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resumes_after_its_committed_offsets_across_a_broker_restart() {
    let Some(mut broker) = Broker::start() else { return };
    let s = settings(&broker, "seafile-repo-updates");
    ensure_topic(&s).await.unwrap();
    let codec = Codec::single_object();

    // Publish: the first half one by one, the rest pipelined (many in flight at once, which
    // is where an idempotent producer earns its keep).
    let events = history(5, 12);
    let total = events.len();
    let producer = EventProducer::new(&s, codec.clone()).unwrap();
    let mut partition_of_key = BTreeMap::new();
    for e in &events[..total / 2] {
        let published = producer
            .publish(e)
            .await
            .unwrap_or_else(|err| panic!("{err}\n{}", broker.log_tail()));
        let first = *partition_of_key.entry(e.key()).or_insert(published.partition);
        assert_eq!(first, published.partition, "{} changed partition", e.key());
    }
    let mut in_flight = Vec::new();
    for e in &events[total / 2..] {
        let payload = codec.encode(e).unwrap();
        let key = e.key();
        let record = FutureRecord::to(&s.topic).key(&key).payload(&payload);
        in_flight.push(producer.inner().send_result(record).map_err(|(e, _)| e).expect("queue"));
    }
    for delivery in in_flight {
        delivery
            .await
            .expect("delivery future")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let high = high_watermarks(&s);
    assert_eq!(
        high.values().sum::<i64>(),
        total as i64,
        "exactly {total} messages, no duplicates: {high:?}"
    );

    // Consumer A hands on (and commits, one by one) the first 25 events it gets, then stops.
    let handed_on = 25;
    let mut committed_by_a: BTreeMap<i32, i64> = BTreeMap::new();
    {
        let a = subscribe(&s).unwrap();
        for n in 0..handed_on {
            let m = next(&a, &broker, &format!("consumer A, event {n}")).await;
            decode_message(&codec, &m).unwrap();
            a.commit_message(&m, CommitMode::Sync).expect("commit");
            committed_by_a.insert(m.partition(), m.offset() + 1);
        }
        // Dropping A closes it: it leaves the group.
    }
    assert_eq!(
        committed(&s),
        committed_by_a,
        "committed offsets as the broker reports them"
    );

    broker.restart();
    assert_eq!(
        committed(&s),
        committed_by_a,
        "committed offsets after the broker restart"
    );
    assert_eq!(high_watermarks(&s), high, "messages after the broker restart");

    // Consumer B, same group: gets exactly what A did not commit, starting at the commits.
    let b = subscribe(&s).unwrap();
    let mut got: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut to_commit = Vec::new();
    for n in 0..total - handed_on {
        let m = next(&b, &broker, &format!("consumer B, event {n} of {}", total - handed_on)).await;
        decode_message(&codec, &m).unwrap();
        got.entry(m.partition()).or_default().push(m.offset());
        to_commit.push((m.partition(), m.offset()));
    }
    for p in 0..PARTITIONS {
        let start = committed_by_a.get(&p).copied().unwrap_or(0);
        let want: Vec<i64> = (start..high[&p]).collect();
        assert_eq!(
            got.get(&p).cloned().unwrap_or_default(),
            want,
            "partition {p}: B resumes at A's commit"
        );
    }

    // B commits what it read: the group's offsets are the end of every partition.
    let mut tpl = TopicPartitionList::new();
    for (p, offset) in to_commit {
        tpl.add_partition_offset(&s.topic, p, Offset::Offset(offset + 1))
            .unwrap();
    }
    b.commit(&tpl, CommitMode::Sync).expect("commit B's offsets");
    let ends: BTreeMap<i32, i64> = high.iter().filter(|(_, h)| **h > 0).map(|(p, h)| (*p, *h)).collect();
    assert_eq!(committed(&s), ends, "committed offsets after B's commit");
    drop(b);

    // A new group reads everything, decoded, in publish order per library.
    let all = read_all(&s, &broker, "fresh-group", total).await;
    assert_in_order_per_key(&events, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_broker_crash_and_publishing_waits_out_an_outage() {
    let Some(mut broker) = Broker::start() else { return };
    let s = settings(&broker, "seafile-repo-updates");
    ensure_topic(&s).await.unwrap();
    let producer = Arc::new(EventProducer::new(&s, Codec::confluent(1)).unwrap());
    let mut events = history(4, 5);
    for e in &events {
        producer.publish(e).await.unwrap();
    }

    // kill -9: everything acknowledged must be there afterwards.
    broker.kill();
    // Published while the broker is down: resolves once it is back.
    let late = RepoUpdate::heartbeat("primary-1");
    let pending = tokio::spawn({
        let (producer, late) = (producer.clone(), late.clone());
        async move { producer.publish(&late).await }
    });
    broker.restart();
    tokio::time::timeout(RECEIVE_TIMEOUT, pending)
        .await
        .unwrap_or_else(|_| panic!("publish did not complete after the restart\n{}", broker.log_tail()))
        .unwrap()
        .unwrap_or_else(|e| panic!("publish across the outage failed: {e}\n{}", broker.log_tail()));
    events.push(late);

    let high = high_watermarks(&s);
    assert_eq!(
        high.values().sum::<i64>(),
        events.len() as i64,
        "after kill -9 and restart: {high:?}"
    );
    let mut group = s.clone();
    group.group_id = "after-crash".into();
    let consumer = subscribe(&group).unwrap();
    let codec = Codec::confluent(1);
    let mut got = Vec::new();
    while got.len() < events.len() {
        let m = next(&consumer, &broker, &format!("after the crash, event {}", got.len())).await;
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        got.push((m.partition(), m.offset(), key, decode_message(&codec, &m).unwrap()));
    }
    assert_in_order_per_key(&events, &got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_keeps_the_latest_event_of_every_library() {
    let Some(mut broker) = Broker::start() else { return };
    let mut s = settings(&broker, "seafile-repo-updates");
    s.compacted = true;
    ensure_topic(&s).await.unwrap();
    let producer = EventProducer::new(&s, Codec::single_object()).unwrap();
    let mut events = history(4, 6);
    events.push(RepoUpdate::heartbeat("primary-1"));
    events.push(RepoUpdate::heartbeat("primary-1"));
    for e in &events {
        producer.publish(e).await.unwrap();
    }
    // A restart in between: what the log cleaner keeps must survive it too.
    broker.restart();

    let position: BTreeMap<uuid::Uuid, usize> = events.iter().enumerate().map(|(i, e)| (e.event_id, i)).collect();
    let mut last_of_key: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        last_of_key.insert(e.key(), i);
    }
    let mut group = s.clone();
    group.group_id = "after-compaction".into();
    let consumer = subscribe(&group).unwrap();
    let codec = Codec::single_object();
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut offsets = BTreeSet::new();
    let mut duplicates = 0;
    while last_of_key
        .iter()
        .any(|(k, last)| seen.get(k).and_then(|v| v.last()) != Some(last))
    {
        let m = next(&consumer, &broker, &format!("compacted topic, seen {seen:?}")).await;
        if !offsets.insert((m.partition(), m.offset())) {
            duplicates += 1;
            continue;
        }
        let e = decode_message(&codec, &m).unwrap();
        seen.entry(e.key()).or_default().push(position[&e.event_id]);
    }
    for (key, positions) in &seen {
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{key}: events out of order: {positions:?}"
        );
    }
    eprintln!(
        "compacted topic after restart: {} of {} events left, {duplicates} repeated deliveries",
        offsets.len(),
        events.len()
    );
}

/// An [`EventSink`] that records what it is given, and refuses batches until opened.
#[derive(Default)]
struct Recorder {
    open: AtomicBool,
    refused: AtomicUsize,
    /// Offsets accepted, per partition, in the order accepted.
    accepted: Mutex<BTreeMap<i32, Vec<i64>>>,
    /// The last lag report, partition -> lag.
    lag: Mutex<Option<BTreeMap<i32, i64>>>,
}

impl Recorder {
    fn opened() -> Arc<Recorder> {
        let r = Recorder::default();
        r.open.store(true, Ordering::SeqCst);
        Arc::new(r)
    }
    fn lag(&self) -> Option<BTreeMap<i32, i64>> {
        self.lag.lock().unwrap().clone()
    }
    fn accepted(&self) -> BTreeMap<i32, Vec<i64>> {
        self.accepted.lock().unwrap().clone()
    }
    fn count(&self) -> usize {
        self.accepted().values().map(Vec::len).sum()
    }
    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl EventSink for Recorder {
    type Error = &'static str;

    async fn accept(&self, batch: &Batch) -> Result<(), &'static str> {
        if !self.open.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err("refused by the test");
        }
        let mut accepted = self.accepted.lock().unwrap();
        for r in &batch.events {
            accepted.entry(r.partition).or_default().push(r.offset);
        }
        for u in &batch.undecodable {
            accepted.entry(u.partition).or_default().push(u.offset);
        }
        Ok(())
    }

    fn broker_error(&self, _: &BrokerError) {}

    fn broker_ok(&self) {}

    fn lag(&self, lag: &[PartitionLag]) {
        *self.lag.lock().unwrap() = Some(lag.iter().map(|l| (l.partition, l.lag)).collect());
    }
}

/// Runs an intake of `s` into `sink` on the runtime; cancel the token to stop it.
fn start_intake(s: &KafkaSettings, sink: &Arc<Recorder>) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    let intake = Intake::new(s.clone(), Codec::single_object()).expect("intake settings");
    let cancel = CancellationToken::new();
    let (sink, token) = (sink.clone(), cancel.clone());
    (tokio::spawn(async move { intake.run(&*sink, token).await }), cancel)
}

/// Polls `check` every 50 ms without blocking the runtime; panics after `timeout`.
async fn eventually(timeout: Duration, what: &str, check: impl Fn() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The group's committed offsets now, partitions without one left out.
fn committed_now(s: &KafkaSettings) -> BTreeMap<i32, i64> {
    let all = e2e::committed(&s.brokers, &s.group_id, &s.topic);
    all.into_iter().filter(|(_, offset)| *offset >= 0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intake_commits_only_what_its_sink_accepted_reports_every_partitions_lag_and_stops_in_time() {
    let Some(mut broker) = Broker::start() else { return };
    let s = settings(&broker, "seafile-repo-updates");
    ensure_topic(&s).await.unwrap();
    let producer = EventProducer::new(&s, Codec::single_object()).unwrap();
    for e in &history(12, 2) {
        producer.publish(e).await.unwrap();
    }
    let high = high_watermarks(&s);
    assert!(
        high.len() == PARTITIONS as usize && high.values().all(|h| *h > 0),
        "the test needs a backlog on every partition: {high:?}"
    );
    // The group coordinator ready (as on any cluster that has had a consumer group before).
    assert!(committed(&s).is_empty());
    let log = || broker.log_tail();

    // While the sink refuses: every partition's lag is its whole backlog from the assignment on,
    // read but refused messages included, and nothing is committed.
    let first = Arc::new(Recorder::default());
    let (first_run, stop_first) = start_intake(&s, &first);
    let lag = |r: &Recorder| format!("lag {:?}\n{}", r.lag(), log());
    eventually(
        Duration::from_secs(5),
        "the lag of every partition, its backlog",
        || first.lag() == Some(high.clone()),
        || lag(&first),
    )
    .await;
    eventually(
        RECEIVE_TIMEOUT,
        "the batch to be refused three times",
        || first.refused() >= 3,
        || lag(&first),
    )
    .await;
    assert_eq!(
        first.lag(),
        Some(high.clone()),
        "messages read but not accepted are lag"
    );
    assert_eq!(
        committed_now(&s),
        BTreeMap::new(),
        "offsets committed while the sink refused"
    );

    // Accepted: the same messages, each once and in order; no lag; committed to the end.
    first.open.store(true, Ordering::SeqCst);
    let every: BTreeMap<i32, Vec<i64>> = high.iter().map(|(p, h)| (*p, (0..*h).collect())).collect();
    let got = |r: &Recorder| format!("accepted {:?}\n{}", r.accepted(), log());
    eventually(
        RECEIVE_TIMEOUT,
        "every message accepted once",
        || first.accepted() == every,
        || got(&first),
    )
    .await;
    let zero: BTreeMap<i32, i64> = high.keys().map(|p| (*p, 0)).collect();
    eventually(
        RECEIVE_TIMEOUT,
        "zero lag",
        || first.lag() == Some(zero.clone()),
        || lag(&first),
    )
    .await;
    eventually(
        RECEIVE_TIMEOUT,
        "the accepted offsets committed",
        || committed_now(&s) == high,
        || format!("{:?}", committed_now(&s)),
    )
    .await;

    // A second member: each report names exactly the partitions its member holds now.
    let second = Recorder::opened();
    let (second_run, stop_second) = start_intake(&s, &second);
    let split = || match (first.lag(), second.lag()) {
        (Some(a), Some(b)) => {
            let (a, b): (BTreeSet<i32>, BTreeSet<i32>) = (a.into_keys().collect(), b.into_keys().collect());
            !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.union(&b).count() == PARTITIONS as usize
        }
        _ => false,
    };
    let both = || format!("first {:?}, second {:?}\n{}", first.lag(), second.lag(), log());
    eventually(
        RECEIVE_TIMEOUT,
        "the partitions split between the two members",
        split,
        both,
    )
    .await;

    // Events accepted just before the broker is killed: stopping takes at most SHUTDOWN_BOUND
    // even though the last commit cannot reach a broker.
    let before = first.count() + second.count();
    for e in &history(3, 1) {
        producer.publish(e).await.unwrap();
    }
    eventually(
        RECEIVE_TIMEOUT,
        "the last events accepted",
        || first.count() + second.count() >= before + 3,
        both,
    )
    .await;
    broker.kill();
    let stopping = Instant::now();
    stop_first.cancel();
    stop_second.cancel();
    let (a, b) = tokio::time::timeout(SHUTDOWN_BOUND, async { tokio::join!(first_run, second_run) })
        .await
        .unwrap_or_else(|_| panic!("the intakes did not stop within {SHUTDOWN_BOUND:?} of their cancellation"));
    a.unwrap();
    b.unwrap();
    eprintln!(
        "with the broker killed, the intakes stopped in {:?}",
        stopping.elapsed()
    );
}

/// `partition -> seaf_backup_consumer_lag` on the backup's /metrics.
fn lag_series(backup: &Agent) -> BTreeMap<i32, f64> {
    backup
        .metrics()
        .lines()
        .filter(|l| l.starts_with("seaf_backup_consumer_lag{"))
        .filter_map(|l| {
            let partition = l.split("partition=\"").nth(1)?.split('"').next()?.parse().ok()?;
            Some((partition, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn the_backup_reports_every_partitions_lag_from_its_start_and_reads_a_backlog_down_to_zero() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dep = Deployment::new(&broker.bootstrap());
    let mut s = KafkaSettings::new(&dep.brokers, &dep.topic);
    (s.group_id, s.partitions, s.compacted) = (dep.group.clone(), PARTITIONS, false);
    rt.block_on(ensure_topic(&s)).unwrap();
    assert!(committed(&s).is_empty(), "the group coordinator ready");
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("backup.db").display());
    let config = dep.backup_config(&dir.path().join("seafile-data"), &database, &dep.backup_metrics, "1h");

    // No primary is needed: only the consumer is under test.
    let mut backup = Agent::start("backup", dir.path(), &config, &dep.backup_metrics);
    let context = |b: &Agent| format!("{}\n{}", b.metrics(), b.log_tail());
    let every_partition = |b: &Agent| lag_series(b).len() == PARTITIONS as usize;
    wait_until(
        Duration::from_secs(5),
        "a lag series for every partition within 5 s of the backup's start",
        || every_partition(&backup),
        || context(&backup),
    );
    assert!(
        lag_series(&backup).values().all(|l| *l == 0.0),
        "{:?}",
        lag_series(&backup)
    );
    backup.stop();

    // A backlog while the backup is stopped: heartbeats of 30 primaries, on every partition.
    let producer = EventProducer::new(&s, Codec::single_object()).unwrap();
    for i in 0..30 {
        rt.block_on(producer.publish(&RepoUpdate::heartbeat(format!("primary-{i}"))))
            .unwrap();
    }
    let high = high_watermarks(&s);
    assert!(high.values().all(|h| *h > 0), "a backlog on every partition: {high:?}");

    backup.restart();
    wait_until(
        Duration::from_secs(5),
        "a lag series for every partition within 5 s of the restart",
        || every_partition(&backup),
        || context(&backup),
    );
    wait_until(
        RECEIVE_TIMEOUT,
        "the backlog read: every heartbeat counted, no lag left",
        || {
            backup.metric("seaf_backup_events_total", &["result=\"heartbeat\""]) == 30.0
                && lag_series(&backup).values().all(|l| *l == 0.0)
        },
        || format!("{:?}\n{}", lag_series(&backup), context(&backup)),
    );
    wait_until(
        RECEIVE_TIMEOUT,
        "the group's offsets committed to the end",
        || committed_now(&s) == high,
        || format!("{:?}", committed_now(&s)),
    );
}
