//! librdkafka set-up for both roles: the settings, the producer and consumer configurations
//! with the guarantees seaf-backup relies on, and creating the topic.
//!
//! Two guarantees are not negotiable, so operator properties cannot switch them off:
//! - the producer is idempotent with `acks=all`: a published event survives a broker failover
//!   and a retry never duplicates or reorders one repo's events;
//! - the consumer never commits on its own (`enable.auto.commit=false`): an offset is committed
//!   only after the event was handed on, so a crash redelivers and never loses.
//!
//! Everything else in `[kafka.properties]` goes to librdkafka unchanged (SASL, TLS, tuning) and
//! overrides our defaults.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// Where the events go and how the clients connect. Field docs are the configuration reference
/// for the `[kafka]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated `host:port` (`[kafka] brokers`).
    pub brokers: String,
    /// The topic of `RepoUpdate` events (`[kafka] topic`).
    pub topic: String,
    /// The backup role's consumer group (`[kafka] group_id`). Backups sharing it share the work;
    /// a second backup site needs its own.
    pub group_id: String,
    /// Partitions when seaf-backup creates the topic: the most backup consumers that can work in
    /// parallel. Ignored for an existing topic.
    pub partitions: i32,
    /// Replication factor when seaf-backup creates the topic (3 on a real cluster, 1 on a single
    /// broker). Ignored for an existing topic.
    pub replication_factor: i32,
    /// Create the topic with `cleanup.policy=compact`, so it keeps the latest event per library
    /// (and per primary, for heartbeats) forever instead of dropping old ones by age.
    pub compacted: bool,
    /// How often librdkafka reports statistics (consumer lag); zero turns them off.
    pub statistics_interval: Duration,
    /// How long broker round-trips at start-up (metadata, topic creation) may take.
    pub timeout: Duration,
    /// librdkafka properties passed through unchanged (`[kafka.properties]`), overriding ours.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            topic: "seafile-repo-updates".into(),
            group_id: "seaf-backup".into(),
            partitions: 6,
            replication_factor: 1,
            compacted: true,
            statistics_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            properties: BTreeMap::new(),
        }
    }
}

/// Why a Kafka client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kafka setting {setting}: {problem}")]
    BadSetting { setting: &'static str, problem: String },
    #[error("kafka.properties.{key} = {value:?} is not allowed: {reason}")]
    ForbiddenProperty {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("invalid Kafka client configuration (check [kafka.properties]): {0}")]
    Config(KafkaError),
    #[error(
        "could not reach the Kafka brokers {brokers} within {timeout:?}: {detail}. Is the broker \
         running and kafka.brokers right (and, for a secured cluster, [kafka.properties])?"
    )]
    Unreachable {
        brokers: String,
        timeout: Duration,
        detail: String,
    },
    #[error("could not create topic {topic:?} on {brokers}: {detail}{hint}")]
    CreateTopic {
        topic: String,
        brokers: String,
        detail: String,
        hint: &'static str,
    },
}

/// Properties that name something `KafkaSettings` already holds: one source of truth each.
const OWNED_BY_SETTINGS: &[(&str, &str)] = &[
    ("bootstrap.servers", "set kafka.brokers instead"),
    ("metadata.broker.list", "set kafka.brokers instead"),
    ("group.id", "set kafka.group_id instead"),
    (
        "statistics.interval.ms",
        "it is set from the statistics interval setting",
    ),
];

/// A property that must keep our value: key, the values that keep the guarantee, why.
type Guarantee = (&'static str, &'static [&'static str], &'static str);

/// Producer properties that must keep our value.
const PRODUCER_GUARANTEES: &[Guarantee] = &[
    (
        "enable.idempotence",
        &["true"],
        "seaf-backup's producer must be idempotent (no duplicated or reordered events on retry)",
    ),
    (
        "acks",
        &["all", "-1"],
        "events must be on every in-sync replica before they count as published",
    ),
    (
        "request.required.acks",
        &["all", "-1"],
        "events must be on every in-sync replica before they count as published",
    ),
];

/// Consumer properties that must keep our value.
const CONSUMER_GUARANTEES: &[Guarantee] = &[(
    "enable.auto.commit",
    &["false"],
    "offsets are committed only after an event is handed on, or a crash would lose events",
)];

impl KafkaSettings {
    /// Settings with the given brokers and topic, defaults otherwise.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            topic: topic.into(),
            ..Default::default()
        }
    }

    /// Checks what librdkafka would only report late or obscurely.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |setting, problem: String| Err(ClientError::BadSetting { setting, problem });
        if self.brokers.trim().is_empty() {
            return bad("brokers", "is empty (expected host:port[,host:port...])".into());
        }
        if self.topic.is_empty()
            || self.topic.len() > 249
            || self.topic == "."
            || self.topic == ".."
            || !self
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return bad(
                "topic",
                format!(
                    "{:?} is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)",
                    self.topic
                ),
            );
        }
        if self.group_id.is_empty() {
            return bad("group_id", "is empty".into());
        }
        if self.partitions < 1 {
            return bad("partitions", format!("{} (at least 1)", self.partitions));
        }
        if self.replication_factor < 1 {
            return bad(
                "replication_factor",
                format!("{} (at least 1)", self.replication_factor),
            );
        }
        Ok(())
    }

    /// What every client shares: the brokers and the operator's properties.
    fn base_config(&self, guarantees: &[Guarantee]) -> Result<ClientConfig, ClientError> {
        self.validate()?;
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        config.set("client.id", "seaf-backup");
        for (key, value) in &self.properties {
            let key = key.trim();
            if let Some((_, reason)) = OWNED_BY_SETTINGS.iter().find(|(k, _)| *k == key) {
                return Err(ClientError::ForbiddenProperty {
                    key: key.into(),
                    value: value.clone(),
                    reason,
                });
            }
            if let Some((_, allowed, reason)) = guarantees.iter().find(|(k, _, _)| *k == key) {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) {
                    return Err(ClientError::ForbiddenProperty {
                        key: key.into(),
                        value: value.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(config)
    }

    fn apply_properties(&self, config: &mut ClientConfig) {
        for (key, value) in &self.properties {
            config.set(key.trim(), value);
        }
    }

    /// The primary's producer: idempotent, `acks=all`, then `[kafka.properties]`.
    pub fn producer_config(&self) -> Result<ClientConfig, ClientError> {
        let mut config = self.base_config(PRODUCER_GUARANTEES)?;
        config.set("enable.idempotence", "true");
        config.set("acks", "all");
        // A broker outage shorter than this does not lose an event; after it the primary's
        // re-detection on reconnect takes over.
        config.set("message.timeout.ms", "300000");
        // Cannot weaken the two above: base_config refused any value but theirs.
        self.apply_properties(&mut config);
        Ok(config)
    }

    /// The backup's consumer: group `group_id`, no auto-commit, from the earliest offset when
    /// the group has none, statistics for lag, then `[kafka.properties]`.
    pub fn consumer_config(&self) -> Result<ClientConfig, ClientError> {
        let mut config = self.base_config(CONSUMER_GUARANTEES)?;
        config.set("group.id", &self.group_id);
        config.set("enable.auto.commit", "false");
        config.set("auto.offset.reset", "earliest");
        config.set("enable.partition.eof", "false");
        config.set(
            "statistics.interval.ms",
            self.statistics_interval.as_millis().to_string(),
        );
        self.apply_properties(&mut config);
        Ok(config)
    }

    /// For admin and metadata requests.
    pub fn admin_config(&self) -> Result<ClientConfig, ClientError> {
        let mut config = self.base_config(&[])?;
        self.apply_properties(&mut config);
        Ok(config)
    }
}

/// What [`ensure_topic`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicStatus {
    /// Created now, with this many partitions.
    Created { partitions: usize },
    /// Was there already (made by us earlier, or by the operator), with this many partitions.
    Existed { partitions: usize },
}

impl TopicStatus {
    pub fn partitions(self) -> usize {
        match self {
            TopicStatus::Created { partitions } | TopicStatus::Existed { partitions } => partitions,
        }
    }
}

/// Asks the brokers for the topic's partition count; `Ok(None)` when the topic does not exist.
/// Fails with [`ClientError::Unreachable`] when no broker answers within `settings.timeout`.
pub async fn topic_partitions(settings: &KafkaSettings) -> Result<Option<usize>, ClientError> {
    let config = settings.admin_config()?;
    let owned = settings.clone();
    tokio::task::spawn_blocking(move || {
        let client: BaseProducer = config.create().map_err(ClientError::Config)?;
        metadata_partitions(&client, &owned, owned.timeout)
    })
    .await
    .map_err(|e| {
        unreachable(
            &settings.brokers,
            settings.timeout,
            format!("metadata task failed: {e}"),
        )
    })?
}

fn unreachable(brokers: &str, timeout: Duration, detail: impl Into<String>) -> ClientError {
    ClientError::Unreachable {
        brokers: brokers.to_owned(),
        timeout,
        detail: detail.into(),
    }
}

/// Blocking metadata request (librdkafka's is synchronous).
fn metadata_partitions(
    client: &BaseProducer,
    settings: &KafkaSettings,
    timeout: Duration,
) -> Result<Option<usize>, ClientError> {
    let metadata = client
        .client()
        .fetch_metadata(Some(&settings.topic), timeout)
        .map_err(|e| unreachable(&settings.brokers, timeout, e.to_string()))?;
    if metadata.brokers().is_empty() {
        return Err(unreachable(
            &settings.brokers,
            timeout,
            "the cluster reported no brokers",
        ));
    }
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == settings.topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// `min.insync.replicas` for a topic seaf-backup creates: with three or more replicas, 2, so an
/// event acknowledged with `acks=all` is on two brokers and one broker may be down without
/// stopping publication; below three, the broker's default (where a second required copy
/// would stop publication whenever one broker is away).
pub fn min_insync_replicas(replication_factor: i32) -> Option<&'static str> {
    (replication_factor >= 3).then_some("2")
}

/// Creates the topic unless it exists (idempotent, safe to race with another process), then
/// waits until the brokers report it, so a producer or consumer started next finds it.
///
/// Brokers that do not auto-create topics (most production clusters) need this; the roles
/// call it at start-up.
pub async fn ensure_topic(settings: &KafkaSettings) -> Result<TopicStatus, ClientError> {
    if let Some(partitions) = topic_partitions(settings).await? {
        return Ok(TopicStatus::Existed { partitions });
    }
    let admin: AdminClient<DefaultClientContext> = settings.admin_config()?.create().map_err(ClientError::Config)?;
    let mut topic = NewTopic::new(
        &settings.topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication_factor),
    );
    if settings.compacted {
        topic = topic.set("cleanup.policy", "compact");
    }
    if let Some(min_isr) = min_insync_replicas(settings.replication_factor) {
        topic = topic.set("min.insync.replicas", min_isr);
    }
    let options = AdminOptions::new()
        .request_timeout(Some(settings.timeout))
        .operation_timeout(Some(settings.timeout));
    let create_error = |detail: String, hint: &'static str| ClientError::CreateTopic {
        topic: settings.topic.clone(),
        brokers: settings.brokers.clone(),
        detail,
        hint,
    };
    let results = admin.create_topics([&topic], &options).await.map_err(|e| match e {
        KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)
        | KafkaError::AdminOp(RDKafkaErrorCode::BrokerTransportFailure)
        | KafkaError::AdminOp(RDKafkaErrorCode::AllBrokersDown) => {
            unreachable(&settings.brokers, settings.timeout, e.to_string())
        }
        other => create_error(other.to_string(), ""),
    })?;
    let mut created = false;
    for result in results {
        match result {
            Ok(_) => created = true,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(create_error(code.to_string(), create_hint(code))),
        }
    }

    // Creation is asynchronous on the broker side: wait until metadata shows the topic.
    let deadline = Instant::now() + settings.timeout;
    loop {
        if let Some(partitions) = topic_partitions(settings).await? {
            return Ok(if created {
                TopicStatus::Created { partitions }
            } else {
                TopicStatus::Existed { partitions }
            });
        }
        if Instant::now() >= deadline {
            return Err(create_error(
                format!(
                    "the brokers accepted it but did not report it within {:?}",
                    settings.timeout
                ),
                "",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn create_hint(code: RDKafkaErrorCode) -> &'static str {
    match code {
        RDKafkaErrorCode::InvalidReplicationFactor => {
            ". The cluster has fewer brokers than kafka.replication_factor: lower it or add brokers"
        }
        RDKafkaErrorCode::InvalidPartitions => ". Check kafka.partitions",
        RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            ". seaf-backup's principal may not create topics: ask the operator to create it, or grant CREATE"
        }
        RDKafkaErrorCode::PolicyViolation | RDKafkaErrorCode::InvalidConfig => {
            ". The broker refused the topic's settings (cleanup.policy=compact?)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings::new("127.0.0.1:1", "seafile-repo-updates")
    }

    #[test]
    fn created_topics_need_two_in_sync_copies_from_three_replicas() {
        assert_eq!(min_insync_replicas(1), None);
        assert_eq!(min_insync_replicas(2), None);
        assert_eq!(min_insync_replicas(3), Some("2"));
        assert_eq!(min_insync_replicas(5), Some("2"));
    }

    #[test]
    fn producer_keeps_idempotence_and_acks_all() {
        let mut s = settings();
        s.properties.insert("linger.ms".into(), "50".into());
        s.properties.insert("message.timeout.ms".into(), "1000".into());
        s.properties.insert("acks".into(), "-1".into());
        let c = s.producer_config().unwrap();
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("-1"));
        assert_eq!(c.get("linger.ms"), Some("50"));
        assert_eq!(
            c.get("message.timeout.ms"),
            Some("1000"),
            "user properties override defaults"
        );
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:1"));
    }

    #[test]
    fn weakening_the_producer_is_an_error() {
        for (k, v) in [
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("request.required.acks", "0"),
        ] {
            let mut s = settings();
            s.properties.insert(k.into(), v.into());
            let err = s.producer_config().unwrap_err();
            assert!(matches!(err, ClientError::ForbiddenProperty { .. }), "{k}={v}: {err}");
            assert!(err.to_string().contains(k), "{err}");
        }
    }

    #[test]
    fn consumer_never_auto_commits() {
        let mut s = settings();
        s.statistics_interval = Duration::from_millis(500);
        let c = s.consumer_config().unwrap();
        assert_eq!(c.get("group.id"), Some("seaf-backup"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("statistics.interval.ms"), Some("500"));

        s.properties.insert("enable.auto.commit".into(), "true".into());
        assert!(s
            .consumer_config()
            .unwrap_err()
            .to_string()
            .contains("enable.auto.commit"));
        // The producer does not care about a consumer property.
        assert!(s.producer_config().is_ok());
    }

    #[test]
    fn settings_are_not_overridden_by_properties() {
        let mut s = settings();
        s.properties.insert("group.id".into(), "other".into());
        let err = s.consumer_config().unwrap_err().to_string();
        assert!(err.contains("kafka.group_id"), "{err}");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let mut s = settings();
        s.topic = "no spaces".into();
        assert!(s.validate().unwrap_err().to_string().contains("kafka setting topic"));
        let mut s = settings();
        s.partitions = 0;
        assert!(s.validate().unwrap_err().to_string().contains("partitions"));
    }

    #[tokio::test]
    async fn unreachable_brokers_are_named_in_the_error() {
        // Port 1 on loopback: nothing listens, connections are refused at once.
        let mut s = settings();
        s.timeout = Duration::from_secs(2);
        let err = ensure_topic(&s).await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }
}
