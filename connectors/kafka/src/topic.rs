//! Creating the topic and asking for its partitions.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::{ClientError, KafkaSettings};

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
    // On a thread of its own: see `detached` (a caller that gives up must not hold up the exit).
    crate::detached::run("metadata", move || {
        let client: BaseProducer = config.create().map_err(ClientError::Config)?;
        metadata_partitions(&client, &owned, owned.timeout)
    })
    .await
    .unwrap_or_else(|| {
        Err(unreachable(
            &settings.brokers,
            settings.timeout,
            "the metadata request's thread failed",
        ))
    })
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
    let partitions = partition_ids(&metadata, &settings.topic);
    Ok((!partitions.is_empty()).then_some(partitions.len()))
}

/// The partitions of `topic` in `metadata`: none when the topic is missing or the broker
/// reported an error for it.
pub fn partition_ids(metadata: &rdkafka::metadata::Metadata, topic: &str) -> Vec<i32> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect()
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
