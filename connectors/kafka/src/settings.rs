//! `[kafka]`: the one model of the section both roles share.
//!
//! The field docs of [`KafkaSettings`] are the configuration reference for `[kafka]`
//! (docs/configuration.md's table says the same in a line each, and tests/deploy.rs checks the
//! two agree). Every default is in [`KafkaSettings::default`] and nowhere else: serde fills a
//! missing key from it. Unknown keys are refused, so a typo cannot silently fall back to a
//! default.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::client::ClientError;

/// Where the events go and how the clients connect: the `[kafka]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated `host:port` (default `127.0.0.1:9092`).
    pub brokers: String,
    /// The topic of `RepoUpdate` events (default `seafile-repo-updates`). Created, compacted, when
    /// missing.
    pub topic: String,
    /// The backups' consumer group (default `seaf-backup`). Backups sharing it share the work; a
    /// second backup site needs its own.
    pub group_id: String,
    /// Partitions when seaf-backup creates the topic (default `6`): the most backup consumers
    /// that can work in parallel. Ignored for an existing topic.
    pub partitions: i32,
    /// Replication factor when seaf-backup creates the topic (default `1`; 3 on a real cluster,
    /// where the topic also gets `min.insync.replicas=2`). Ignored for an existing topic.
    pub replication_factor: i32,
    /// A Confluent Schema Registry (default none). When set, both roles register the schema at
    /// start and events use the Confluent wire format; set it on both roles or on neither.
    pub schema_registry_url: Option<String>,
    /// librdkafka properties passed through unchanged (`[kafka.properties]`: SASL, TLS, tuning),
    /// overriding seaf-backup's; those that would break a guarantee are refused (see
    /// [`crate::client`]).
    pub properties: BTreeMap<String, String>,
    /// Create the topic with `cleanup.policy=compact`, so it keeps the latest event per library
    /// (and per primary, for heartbeats) forever instead of dropping old ones by age. Not a key:
    /// always on for the roles; tests turn it off to check exact offsets.
    #[serde(skip)]
    pub compacted: bool,
    /// How long broker round-trips at start-up (metadata, topic creation) may take. Not a key.
    #[serde(skip)]
    pub timeout: Duration,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            topic: "seafile-repo-updates".into(),
            group_id: "seaf-backup".into(),
            partitions: 6,
            replication_factor: 1,
            schema_registry_url: None,
            properties: BTreeMap::new(),
            compacted: true,
            timeout: Duration::from_secs(30),
        }
    }
}

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
        if !is_topic_name(&self.topic) {
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
}

/// Kafka's rule for topic names.
fn is_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<KafkaSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_empty_section_is_the_defaults() {
        assert_eq!(from_toml("").unwrap(), KafkaSettings::default());
        let d = KafkaSettings::default();
        assert_eq!(
            (d.brokers.as_str(), d.topic.as_str(), d.group_id.as_str()),
            ("127.0.0.1:9092", "seafile-repo-updates", "seaf-backup")
        );
        assert_eq!((d.partitions, d.replication_factor), (6, 1));
        assert!(d.compacted && d.schema_registry_url.is_none() && d.properties.is_empty());
    }

    #[test]
    fn keys_given_override_their_default_only() {
        let s = from_toml(
            "brokers = \"k1:9092,k2:9092\"\npartitions = 12\nschema_registry_url = \"http://r:8081\"\n\
             [properties]\n\"security.protocol\" = \"SASL_SSL\"\n",
        )
        .unwrap();
        assert_eq!(s.brokers, "k1:9092,k2:9092");
        assert_eq!(s.partitions, 12);
        assert_eq!(s.schema_registry_url.as_deref(), Some("http://r:8081"));
        assert_eq!(s.properties["security.protocol"], "SASL_SSL");
        assert_eq!(s.topic, KafkaSettings::default().topic);
    }

    #[test]
    fn unknown_and_internal_keys_are_refused() {
        for key in ["brokerz", "compacted", "timeout", "statistics_interval"] {
            let err = from_toml(&format!("{key} = 1\n")).unwrap_err().to_string();
            assert!(err.contains(&format!("unknown field `{key}`")), "{key}: {err}");
        }
        let err = from_toml("partitions = \"six\"\n").unwrap_err().to_string();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let mut s = KafkaSettings::new("127.0.0.1:1", "no spaces");
        assert!(s.validate().unwrap_err().to_string().contains("kafka setting topic"));
        s.topic = "t".into();
        s.partitions = 0;
        assert!(s.validate().unwrap_err().to_string().contains("partitions"));
        s.partitions = 1;
        assert!(s.validate().is_ok());
    }
}
