//! librdkafka configurations for both roles, with the guarantees seaf-backup relies on.
//!
//! Two guarantees are not negotiable, so operator properties cannot switch them off:
//! - the producer is idempotent with `acks=all`: a published event survives a broker failover
//!   and a retry never duplicates or reorders one repo's events;
//! - the consumer's committed offsets pass only events the backup has made durable. This is the
//!   one commit mode: `enable.auto.offset.store=false`, so librdkafka never marks a message done
//!   by itself (the intake stores a batch's offsets after its sink accepted the batch), with
//!   `enable.auto.commit=true`, so librdkafka commits the *stored* offsets every
//!   `auto.commit.interval.ms` (one second) and when partitions are revoked or the consumer
//!   closes. A crash re-reads at most what was accepted in the last second, and never skips an
//!   event that was not accepted.
//!
//! Everything else in `[kafka.properties]` goes to librdkafka unchanged (SASL, TLS, tuning) and
//! overrides our defaults.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

pub use crate::settings::KafkaSettings;

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

/// Consumer properties that must keep our value: the commit mode of the module doc.
const CONSUMER_GUARANTEES: &[Guarantee] = &[
    (
        "enable.auto.offset.store",
        &["false"],
        "only offsets of events the backup recorded may be committed, or a crash would lose events",
    ),
    (
        "enable.auto.commit",
        &["true"],
        "librdkafka commits the offsets the backup stored; without it nothing is committed until \
         the backup stops, and a crash re-reads everything since its start",
    ),
];

impl KafkaSettings {
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

    /// The backup's consumer: group `group_id`, the commit mode of the module doc (periodic
    /// commits of explicitly stored offsets), from the earliest offset when the group has none,
    /// a 10 s session, then `[kafka.properties]`.
    pub fn consumer_config(&self) -> Result<ClientConfig, ClientError> {
        let mut config = self.base_config(CONSUMER_GUARANTEES)?;
        config.set("group.id", &self.group_id);
        config.set("enable.auto.offset.store", "false");
        config.set("enable.auto.commit", "true");
        config.set("auto.commit.interval.ms", "1000");
        config.set("auto.offset.reset", "earliest");
        config.set("enable.partition.eof", "false");
        // After a broker restart the group coordinator waits out the session of the member this
        // consumer was before it rejoined: with librdkafka's 45 s default a one-broker outage
        // cost 46 s of catching up (tests/faults.rs), with 10 s (Kafka's default before 3.0)
        // about 11 s. Heartbeats come from librdkafka's own thread, so a busy backup does not
        // miss them.
        config.set("session.timeout.ms", "10000");
        config.set("heartbeat.interval.ms", "3000");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings::new("127.0.0.1:1", "seafile-repo-updates")
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
    fn consumer_commits_only_stored_offsets() {
        let mut s = settings();
        s.properties.insert("auto.commit.interval.ms".into(), "5000".into());
        let c = s.consumer_config().unwrap();
        assert_eq!(c.get("group.id"), Some("seaf-backup"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("enable.auto.commit"), Some("true"));
        assert_eq!(c.get("auto.commit.interval.ms"), Some("5000"), "the period is tunable");
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));

        for (key, value) in [("enable.auto.offset.store", "true"), ("enable.auto.commit", "false")] {
            let mut s = settings();
            s.properties.insert(key.into(), value.into());
            let err = s.consumer_config().unwrap_err();
            assert!(
                matches!(err, ClientError::ForbiddenProperty { .. }),
                "{key}={value}: {err}"
            );
            assert!(err.to_string().contains(key), "{err}");
            // The producer does not care about a consumer property.
            assert!(s.producer_config().is_ok());
        }
        // Our own values, spelt otherwise, are fine.
        s.properties.insert("enable.auto.offset.store".into(), " FALSE ".into());
        assert!(s.consumer_config().is_ok());
    }

    #[test]
    fn settings_are_not_overridden_by_properties() {
        let mut s = settings();
        s.properties.insert("group.id".into(), "other".into());
        let err = s.consumer_config().unwrap_err().to_string();
        assert!(err.contains("kafka.group_id"), "{err}");
    }
}
