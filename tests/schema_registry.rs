//! The Confluent wire format end to end, against a real schema registry (Apicurio Registry's
//! Confluent-compatible API, run by `scripts/registry.sh`) and a real broker.
//!
//! - the `SchemaRegistry` client registers `schemas/repo_update.avsc` and gets an id, the same
//!   one when registering again, and that id names the schema at the registry;
//! - what the primary's code publishes (`00`, the id, the datum) decodes on the backup's code by
//!   that id, and only by that id;
//! - both roles, as real processes with `kafka.schema_registry_url`, back up every library;
//! - a registry that is down at start is a clear error naming `kafka.schema_registry_url`, with
//!   nothing published and nothing lost: once it is back, every library is backed up. Once
//!   started, neither role needs the registry any more.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use seaf_kafka::codec::{CONFLUENT_MAGIC, SCHEMA_JSON};
use seaf_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use seaf_kafka::rdkafka::{ClientConfig, Message};
use seaf_kafka::{
    decode_message, ensure_topic, subscribe, topic_partitions, Codec, DecodeError, DetectionSource, EventProducer,
    KafkaSettings, RepoUpdate, SchemaRegistry,
};
use seaf_seafile::{DbKind, ObjectId, RepoId, SeafileDb};
use support::agent::{wait_until, Agent};
use support::broker::Broker;
use support::db::TestDb;
use support::e2e::Deployment;
use support::registry::Registry;
use support::seaf_backup_bin;
use support::site::{generated_primary, Generated};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// `config` with `kafka.schema_registry_url = url` (Deployment writes a `[kafka]` section).
fn with_registry(config: &str, url: &str) -> String {
    assert!(config.contains("[kafka]\n"), "no [kafka] section in\n{config}");
    config.replacen("[kafka]\n", &format!("[kafka]\nschema_registry_url = \"{url}\"\n"), 1)
}

/// What the registry says schema `id` is.
fn schema_by_id(registry: &Registry, id: u32) -> serde_json::Value {
    let url = format!("{}/schemas/ids/{id}", registry.url());
    let body: serde_json::Value = runtime().block_on(async {
        reqwest::get(&url)
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", registry.log_tail()))
            .json()
            .await
            .expect("a JSON body")
    });
    let text = body["schema"].as_str().unwrap_or_else(|| panic!("no schema in {body}"));
    serde_json::from_str(text).expect("the registry's schema is JSON")
}

#[test]
fn repo_update_registers_and_gets_the_same_id_again() {
    let Some(registry) = Registry::start() else { return };
    let rt = runtime();
    let client = SchemaRegistry::new(&registry.url()).expect("client");
    let register = |topic: &str| {
        rt.block_on(client.register_repo_update(topic))
            .unwrap_or_else(|e| panic!("{e}\n{}", registry.log_tail()))
    };

    let id = register("seafile-repo-updates");
    assert_eq!(
        register("seafile-repo-updates"),
        id,
        "registering again gives another id"
    );
    // A second client (the other role) learns the same id.
    let other = SchemaRegistry::new(&format!("{}/", registry.url())).expect("client");
    assert_eq!(
        rt.block_on(other.register_repo_update("seafile-repo-updates")).unwrap(),
        id
    );

    // The id names exactly schemas/repo_update.avsc.
    let expected: serde_json::Value = serde_json::from_str(SCHEMA_JSON).unwrap();
    assert_eq!(schema_by_id(&registry, id), expected);

    // What a codec with that id writes is `00`, the id (big-endian), the datum; it decodes by
    // that id and is refused with any other.
    let event = RepoUpdate::update(
        RepoId::parse("0b1ad3c2-7d52-4d93-9b7c-2f6f8b3a1e01").unwrap(),
        ObjectId::parse("4f1a3e8e0c8b9d2f7a6b5c4d3e2f1a0b9c8d7e6f").unwrap(),
        None,
        "primary-test",
        DetectionSource::Poll,
    );
    let bytes = Codec::confluent(id).encode(&event).unwrap();
    assert_eq!(bytes[0], CONFLUENT_MAGIC);
    assert_eq!(bytes[1..5], id.to_be_bytes());
    assert_eq!(Codec::confluent(id).decode(&bytes).unwrap(), event);
    match Codec::confluent(id + 1).decode(&bytes) {
        Err(DecodeError::SchemaIdMismatch { found, expected }) if found == id && expected == id + 1 => {}
        other => panic!("a codec of another id decoded it: {other:?}"),
    }
}

/// `[kafka]` with `brokers`, `topic` and `url`.
fn kafka_config(brokers: &str, topic: &str, url: &str) -> KafkaSettings {
    KafkaSettings {
        brokers: brokers.to_string(),
        topic: topic.to_string(),
        group_id: format!("backup-{topic}"),
        partitions: 1,
        schema_registry_url: Some(url.to_string()),
        ..KafkaSettings::default()
    }
}

#[test]
fn events_the_primary_publishes_decode_on_the_backup_by_the_registered_id() {
    let Some(broker) = Broker::start() else { return };
    let Some(registry) = Registry::start() else { return };
    let rt = runtime();
    let topic = format!("registry-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let settings = kafka_config(&broker.bootstrap(), &topic, &registry.url());

    // Each role registers at start (the same function both call): the same id.
    let primary_codec = rt.block_on(Codec::for_settings(&settings)).expect("primary codec");
    let backup_codec = rt.block_on(Codec::for_settings(&settings)).expect("backup codec");
    assert_eq!(primary_codec.format(), backup_codec.format());
    let seaf_kafka::WireFormat::Confluent { schema_id } = primary_codec.format() else {
        panic!(
            "a registry URL must select the Confluent wire format, got {:?}",
            primary_codec.format()
        );
    };

    // The primary's producer publishes three events.
    rt.block_on(ensure_topic(&settings)).expect("topic");
    let producer = EventProducer::new(&settings, primary_codec).expect("producer");
    let events: Vec<RepoUpdate> = (0..3)
        .map(|i| {
            RepoUpdate::update(
                RepoId::parse(&format!("0b1ad3c2-7d52-4d93-9b7c-2f6f8b3a1e0{i}")).unwrap(),
                ObjectId::parse(&format!("4f1a3e8e0c8b9d2f7a6b5c4d3e2f1a0b9c8d7e6{i}")).unwrap(),
                None,
                "primary-test",
                DetectionSource::Poll,
            )
        })
        .collect();
    for e in &events {
        rt.block_on(producer.publish(e)).expect("published");
    }

    // The backup's consumer reads them: Confluent-framed with that id, decoded by that id.
    let received = rt.block_on(async {
        let consumer = subscribe(&settings).expect("consumer");
        let mut received = Vec::new();
        while received.len() < events.len() {
            let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
                .await
                .expect("the events within 60 s")
                .expect("a message");
            let payload = message.payload().expect("a payload");
            assert_eq!(payload[0], CONFLUENT_MAGIC, "not the Confluent wire format");
            assert_eq!(payload[1..5], schema_id.to_be_bytes(), "not the registered id");
            received.push(decode_message(&backup_codec, &message).expect("decodes by the registered id"));
        }
        received
    });
    assert_eq!(received, events);
}

/// Raw payloads on `topic` (from the beginning) until `done` holds for them.
fn read_payloads(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut payloads = Vec::new();
    while !done(&payloads) {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; read {} messages",
            payloads.len()
        );
        // Errors (the topic not created yet) are retried, as a backup would.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            payloads.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    payloads
}

/// Every update event's head by library, decoded with `codec`; panics on anything undecodable.
fn heads_in(payloads: &[Vec<u8>], codec: &Codec) -> std::collections::BTreeMap<RepoId, ObjectId> {
    payloads
        .iter()
        .map(|p| codec.decode(p).unwrap_or_else(|e| panic!("{e}")))
        .filter_map(|e| Some((e.repo_id?, e.head_commit_id?)))
        .collect()
}

/// A primary of three generated libraries on SQLite and an empty SQLite backup database.
struct Setup {
    rt: tokio::runtime::Runtime,
    primary: Generated,
    primary_db: SeafileDb,
    backup_test_db: TestDb,
    backup_db: SeafileDb,
    dir: tempfile::TempDir,
    dep: Deployment,
}

impl Setup {
    fn new(broker: &Broker) -> Option<Setup> {
        let rt = runtime();
        let primary = generated_primary(&rt, DbKind::Sqlite, 3)?;
        let primary_db = rt.block_on(primary.test_db.connect());
        let backup_test_db = rt.block_on(TestDb::create(DbKind::Sqlite))?;
        let backup_db = rt.block_on(backup_test_db.connect());
        Some(Setup {
            rt,
            primary,
            primary_db,
            backup_test_db,
            backup_db,
            dir: tempfile::tempdir().unwrap(),
            dep: Deployment::new(&broker.bootstrap()),
        })
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn primary_config(&self, registry: &Registry) -> String {
        let config = self
            .dep
            .primary_config(&self.primary.data, &self.primary.test_db.url, &self.state_dir());
        with_registry(&config, &registry.url())
    }

    fn backup_config(&self, registry: &Registry) -> String {
        let config = self.dep.backup_config(
            &self.dir.path().join("backup/seafile-data"),
            &self.backup_test_db.url,
            &self.dep.backup_metrics,
            "1h",
        );
        with_registry(&config, &registry.url())
    }

    fn primary_heads(&self) -> std::collections::BTreeMap<RepoId, ObjectId> {
        self.rt.block_on(self.primary_db.heads()).unwrap().into_iter().collect()
    }

    fn backup_heads(&self) -> std::collections::BTreeMap<RepoId, ObjectId> {
        self.rt
            .block_on(self.backup_db.heads())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    fn wait_converged(&self, primary: &Agent, backup: &Agent, what: &str) {
        wait_until(
            Duration::from_secs(120),
            what,
            || self.primary_heads() == self.backup_heads(),
            || format!("{}\n{}", primary.log_tail(), backup.log_tail()),
        );
    }

    /// Starts the primary, waits until it has registered the schema, then starts the backup.
    ///
    /// One after the other: Apicurio 2.1.5's SQL storage answers HTTP 500 (a unique-key or
    /// lock-timeout error from its H2 database) to one of two first registrations of the same
    /// schema that arrive at the same moment, and the role that gets it stops with that error.
    fn start_roles(&self, registry: &Registry) -> (Agent, Agent) {
        let primary = Agent::start(
            "primary",
            self.dir.path(),
            &self.primary_config(registry),
            &self.dep.primary_metrics,
        );
        wait_until(
            Duration::from_secs(60),
            "the primary to register the schema",
            || !primary.log_lines("registered the RepoUpdate schema").is_empty(),
            || format!("{}\n--- registry ---\n{}", primary.log_tail(), registry.log_tail()),
        );
        let backup = Agent::start(
            "backup",
            self.dir.path(),
            &self.backup_config(registry),
            &self.dep.backup_metrics,
        );
        (primary, backup)
    }

    /// A new head for library `i`, written to the primary's database.
    fn update(&mut self, i: usize) -> ObjectId {
        let lib = &mut self.primary.libs[i];
        let head = self.primary.gen.update_library(lib, 1).unwrap();
        self.rt.block_on(self.primary_db.write_repo(&lib.record)).unwrap();
        head
    }
}

#[test]
fn both_roles_back_up_over_the_confluent_wire_format() {
    let Some(broker) = Broker::start() else { return };
    let Some(mut registry) = Registry::start() else { return };
    let Some(mut s) = Setup::new(&broker) else { return };

    let (primary, backup) = s.start_roles(&registry);
    s.wait_converged(&primary, &backup, "the backup to hold every library's head");

    // Every message on the topic is `00` + the registered id + the datum.
    let client = SchemaRegistry::new(&registry.url()).unwrap();
    let id = s.rt.block_on(client.register_repo_update(&s.dep.topic)).unwrap();
    let want = s.primary_heads();
    let payloads = read_payloads(
        &s.dep.brokers,
        &s.dep.topic,
        Duration::from_secs(60),
        "every library's event",
        |p| {
            want.iter()
                .all(|(r, h)| heads_in(p, &Codec::confluent(id)).get(r) == Some(h))
        },
    );
    for p in &payloads {
        assert_eq!(
            p[0], CONFLUENT_MAGIC,
            "a message not in the Confluent wire format: {p:02x?}"
        );
        assert_eq!(p[1..5], id.to_be_bytes(), "a message with another schema id: {p:02x?}");
    }

    // An update while the registry runs, then one while it is down: the roles registered at
    // start and need it no more.
    let head = s.update(0);
    s.wait_converged(&primary, &backup, "the backup to follow an update");
    assert_eq!(s.backup_heads().get(&s.primary.libs[0].repo_id), Some(&head));
    registry.stop();
    let head = s.update(1);
    s.wait_converged(
        &primary,
        &backup,
        "the backup to follow an update while the registry is down",
    );
    assert_eq!(s.backup_heads().get(&s.primary.libs[1].repo_id), Some(&head));
    drop((primary, backup));
}

/// Runs `seaf-backup ROLE -c config` and waits for it to exit (it must, within 60 s);
/// returns (exit code, stderr).
fn run_until_exit(role: &str, dir: &Path, config_text: &str) -> (Option<i32>, String) {
    let config = dir.join(format!("{role}-refused.toml"));
    std::fs::write(&config, config_text).unwrap();
    let child = Command::new(seaf_backup_bin())
        .args([role, "-c", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seaf-backup");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.expect("wait for seaf-backup");
            (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("seaf-backup {role} kept running for 60 s without its schema registry");
        }
    }
}

#[test]
fn registry_down_at_start_is_a_clear_error_that_loses_nothing() {
    let Some(broker) = Broker::start() else { return };
    let Some(mut registry) = Registry::start() else { return };
    let Some(s) = Setup::new(&broker) else { return };
    registry.stop();

    // Both roles refuse to start, naming the key and the URL.
    for (role, config) in [
        ("primary", s.primary_config(&registry)),
        ("backup", s.backup_config(&registry)),
    ] {
        let (code, stderr) = run_until_exit(role, s.dir.path(), &config);
        assert_eq!(code, Some(2), "{role}: exit code {code:?}, stderr:\n{stderr}");
        assert!(
            stderr.contains("kafka.schema_registry_url") && stderr.contains(&format!("127.0.0.1:{}", registry.port())),
            "{role}: the error should name kafka.schema_registry_url and the registry; stderr:\n{stderr}"
        );
    }
    // The primary published nothing and remembered nothing as published.
    let settings = kafka_config(&s.dep.brokers, &s.dep.topic, &registry.url());
    let partitions = s.rt.block_on(topic_partitions(&settings)).expect("topic metadata");
    assert_eq!(partitions, None, "the refused primary created the topic");
    assert!(
        !s.state_dir().join("primary-published.json").exists(),
        "the refused primary saved a published state"
    );

    // The registry back (empty: a fresh in-memory registry): every library is backed up.
    registry.start_again();
    let (primary, backup) = s.start_roles(&registry);
    s.wait_converged(
        &primary,
        &backup,
        "the backup to hold every library once the registry is back",
    );
    assert_eq!(s.backup_heads().len(), s.primary.libs.len());
}
