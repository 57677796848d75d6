//! Building blocks of the end-to-end tests: configuration files for the two roles, and a
//! reader that watches the topic as a backup would.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use seaf_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use seaf_kafka::rdkafka::ClientConfig;
use seaf_kafka::{decode_message, Codec, RepoUpdate, RepoUpdateKind};
use seaf_seafile::{ObjectId, RepoId};

pub const TOKEN: &str = "5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e";

/// Addresses and names of one test's deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub api: String,
    pub primary_metrics: String,
    pub backup_metrics: String,
    /// `kafka.replication_factor`: 1 on one broker, 3 on a three-node cluster.
    pub replication_factor: i32,
}

impl Deployment {
    pub fn new(brokers: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Deployment {
            brokers: brokers.to_string(),
            topic: format!("repo-updates-{}", &id[..8]),
            group: format!("backup-{}", &id[..8]),
            api: format!("127.0.0.1:{}", super::agent::free_port()),
            primary_metrics: format!("127.0.0.1:{}", super::agent::free_port()),
            backup_metrics: format!("127.0.0.1:{}", super::agent::free_port()),
            replication_factor: 1,
        }
    }

    /// The same deployment with topics of `replication_factor` replicas.
    pub fn with_replication(mut self, replication_factor: i32) -> Self {
        self.replication_factor = replication_factor;
        self
    }

    fn kafka(&self) -> String {
        format!(
            "sync_token = \"{TOKEN}\"\n\n[kafka]\nbrokers = \"{}\"\ntopic = \"{}\"\ngroup_id = \"{}\"\npartitions = 3\nreplication_factor = {}\n[kafka.properties]\n\"message.timeout.ms\" = \"20000\"\n",
            self.brokers, self.topic, self.group, self.replication_factor
        )
    }

    /// A primary over `data_dir` and `database_url`, polling every 200 ms.
    pub fn primary_config(&self, data_dir: &Path, database_url: &str, state_dir: &Path) -> String {
        format!(
            "{}\n[primary]\nseafile_data_dir = {:?}\ndatabase_url = {:?}\nlisten = \"{}\"\nmetrics_listen = \"{}\"\nnode_id = \"primary-test\"\npoll_interval = \"200ms\"\nheartbeat_interval = \"1s\"\nstate_dir = {:?}\n",
            self.kafka(),
            data_dir,
            database_url,
            self.api,
            self.primary_metrics,
            state_dir
        )
    }

    /// A backup of this deployment's primary.
    pub fn backup_config(&self, data_dir: &Path, database_url: &str, metrics: &str, scan: &str) -> String {
        format!(
            "{}\n[backup]\nprimary_url = \"http://{}\"\nseafile_data_dir = {:?}\ndatabase_url = {:?}\nmetrics_listen = \"{}\"\nsync_poll_interval = \"{scan}\"\nworkers = 4\n",
            self.kafka(),
            self.api,
            data_dir,
            database_url,
            metrics
        )
    }
}

/// Reads the topic from the beginning in a group of its own.
pub struct TopicReader {
    consumer: StreamConsumer,
    codec: Codec,
    rt: tokio::runtime::Runtime,
}

impl TopicReader {
    pub fn new(brokers: &str, topic: &str) -> TopicReader {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // rdkafka's stream consumer needs a runtime around it.
        let _guard = rt.enter();
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        drop(_guard);
        TopicReader {
            consumer,
            codec: Codec::single_object(),
            rt,
        }
    }

    /// The next event within `timeout`. Panics on an undecodable message.
    pub fn next(&mut self, timeout: Duration) -> Option<RepoUpdate> {
        let (consumer, codec) = (&self.consumer, &self.codec);
        self.rt.block_on(async {
            match tokio::time::timeout(timeout, consumer.recv()).await {
                Ok(Ok(m)) => Some(decode_message(codec, &m).expect("every message on the topic decodes")),
                // The topic not created yet, a broker restarting: the reader retries, as a backup would.
                Ok(Err(e)) => {
                    eprintln!("topic reader: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    None
                }
                Err(_) => None,
            }
        })
    }

    /// Reads until `done` returns true for the events read so far; returns them.
    pub fn read_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[RepoUpdate]) -> bool,
    ) -> Vec<RepoUpdate> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while !done(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; read {} events: {:#?}",
                    events.len(),
                    events.iter().rev().take(10).collect::<Vec<_>>()
                );
            }
            if let Some(e) = self.next(left.min(Duration::from_millis(500))) {
                events.push(e);
            }
        }
        events
    }
}

/// One message's place and broker timestamp, as [`topic_index`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
}

fn metadata_consumer(brokers: &str, group: &str) -> seaf_kafka::rdkafka::consumer::BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("metadata consumer")
}

/// Every message now on `topic`, read by partition from its low to its high watermark.
pub fn topic_index(brokers: &str, topic: &str) -> Vec<Placed> {
    use seaf_kafka::rdkafka::{Message, Offset, TopicPartitionList};
    let consumer = metadata_consumer(brokers, &format!("index-{}", uuid::Uuid::new_v4().simple()));
    let timeout = Duration::from_secs(30);
    let mut placed = Vec::new();
    for (partition, (low, high)) in watermarks(brokers, topic) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(low)).unwrap();
        consumer.assign(&tpl).expect("assign");
        let mut next = low;
        let deadline = Instant::now() + timeout;
        while next < high {
            assert!(
                Instant::now() < deadline,
                "partition {partition}: read to {next} of {high} in {timeout:?}"
            );
            if let Some(Ok(m)) = consumer.poll(Duration::from_secs(1)) {
                placed.push(Placed {
                    partition,
                    offset: m.offset(),
                    timestamp_ms: m.timestamp().to_millis().expect("a broker timestamp"),
                });
                next = m.offset() + 1;
            }
        }
    }
    placed
}

/// The partition ids of `topic`, from the cluster's metadata.
fn partitions(consumer: &seaf_kafka::rdkafka::consumer::BaseConsumer, topic: &str) -> Vec<i32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("topic metadata");
    metadata.topics()[0].partitions().iter().map(|p| p.id()).collect()
}

/// `partition -> (low, high)` watermarks of every partition of `topic`.
pub fn watermarks(brokers: &str, topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let consumer = metadata_consumer(brokers, "watermarks");
    partitions(&consumer, topic)
        .into_iter()
        .map(|p| {
            let marks = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(30))
                .expect("watermarks");
            (p, marks)
        })
        .collect()
}

/// `partition -> offset` the consumer group `group` has committed on `topic` (-1: none; empty
/// when the coordinator could not answer).
pub fn committed(brokers: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    use seaf_kafka::rdkafka::{Offset, TopicPartitionList};
    let consumer = metadata_consumer(brokers, group);
    let mut tpl = TopicPartitionList::new();
    for partition in partitions(&consumer, topic) {
        tpl.add_partition(topic, partition);
    }
    // An empty answer on error (a coordinator that is moving or loading): callers poll.
    let got = match consumer.committed_offsets(tpl, Duration::from_secs(30)) {
        Ok(got) => got,
        Err(e) => {
            eprintln!("committed offsets of group {group}: {e}");
            return BTreeMap::new();
        }
    };
    got.elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            (e.partition(), offset)
        })
        .collect()
}

/// The newest head each library's `Update` events named, in topic order.
pub fn heads_seen(events: &[RepoUpdate]) -> HashMap<RepoId, ObjectId> {
    let mut out = HashMap::new();
    for e in events {
        if let (RepoUpdateKind::Update, Some(r), Some(h)) = (e.kind, e.repo_id, e.head_commit_id) {
            out.insert(r, h);
        }
    }
    out
}
