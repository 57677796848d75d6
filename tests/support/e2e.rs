//! Building blocks of the end-to-end tests: configuration files for the two roles, and a
//! reader that watches the topic as a backup would.

use std::path::Path;
use std::time::{Duration, Instant};

use seaf_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use seaf_kafka::rdkafka::ClientConfig;
use seaf_kafka::{decode_message, Codec, RepoUpdate};

pub const TOKEN: &str = "c7a78c0210c2470e14a20a8244562ab8ad509734";

/// Addresses and names of one test's deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub api: String,
    pub primary_metrics: String,
    pub backup_metrics: String,
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
        }
    }

    fn kafka(&self) -> String {
        format!(
            "sync_token = \"{TOKEN}\"\n\n[kafka]\nbrokers = \"{}\"\ntopic = \"{}\"\ngroup_id = \"{}\"\npartitions = 3\n[kafka.properties]\n\"message.timeout.ms\" = \"20000\"\n",
            self.brokers, self.topic, self.group
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
