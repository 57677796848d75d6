//! Which topic a name stands for. A topic deleted and created again, or a new cluster with the
//! same topic name, is another topic: what a primary remembers having published there is not
//! there. Offsets never go back within one topic's life, so a partition whose end is now
//! before where it was seen last, or a cluster id that changed, means another topic.

use std::collections::BTreeMap;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};

use crate::client::ClientError;
use crate::settings::KafkaSettings;

/// The cluster a topic lives on and how far its partitions had grown when seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicIdentity {
    pub cluster_id: Option<String>,
    /// Partition → high watermark (the offset of the next message).
    pub high_watermarks: BTreeMap<i32, i64>,
}

impl TopicIdentity {
    /// Why `self` (seen now) cannot be the topic seen as `earlier`, or `None` when it can be.
    pub fn differs_from(&self, earlier: &TopicIdentity) -> Option<String> {
        if let (Some(now), Some(then)) = (&self.cluster_id, &earlier.cluster_id) {
            if now != then {
                return Some(format!("the cluster changed (id {then} then, {now} now)"));
            }
        }
        earlier.high_watermarks.iter().find_map(|(partition, then)| {
            let now = self.high_watermarks.get(partition).copied().unwrap_or(0);
            (now < *then).then(|| {
                format!("partition {partition} ends at offset {now}, before {then} where it ended before: the topic was created again")
            })
        })
    }
}

/// Reads the topic's identity from the brokers (a missing topic has no partitions).
pub async fn topic_identity(settings: &KafkaSettings) -> Result<TopicIdentity, ClientError> {
    let config = settings.consumer_config()?;
    let owned = settings.clone();
    let unreachable = |detail: String| ClientError::Unreachable {
        brokers: settings.brokers.clone(),
        timeout: settings.timeout,
        detail,
    };
    // On a thread of its own: see `detached`.
    crate::detached::run("identity", move || -> Result<TopicIdentity, String> {
        let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
        let metadata = consumer
            .fetch_metadata(Some(&owned.topic), owned.timeout)
            .map_err(|e| e.to_string())?;
        let partitions = crate::topic::partition_ids(&metadata, &owned.topic);
        let mut high_watermarks = BTreeMap::new();
        for p in partitions {
            let (_, high) = consumer
                .fetch_watermarks(&owned.topic, p, owned.timeout)
                .map_err(|e| e.to_string())?;
            high_watermarks.insert(p, high);
        }
        let cluster_id = consumer.client().fetch_cluster_id(owned.timeout);
        Ok(TopicIdentity {
            cluster_id,
            high_watermarks,
        })
    })
    .await
    .unwrap_or_else(|| Err("the identity request's thread failed".into()))
    .map_err(unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(cluster: &str, marks: &[(i32, i64)]) -> TopicIdentity {
        TopicIdentity {
            cluster_id: Some(cluster.into()),
            high_watermarks: marks.iter().copied().collect(),
        }
    }

    #[test]
    fn a_grown_topic_is_the_same_and_a_new_one_is_not() {
        let then = seen("c1", &[(0, 10), (1, 4)]);
        assert_eq!(seen("c1", &[(0, 12), (1, 4), (2, 0)]).differs_from(&then), None);
        assert!(seen("c1", &[(0, 0), (1, 0)])
            .differs_from(&then)
            .unwrap()
            .contains("created again"));
        assert!(seen("c1", &[]).differs_from(&then).is_some(), "a deleted topic");
        assert!(seen("c2", &[(0, 50), (1, 50)])
            .differs_from(&then)
            .unwrap()
            .contains("cluster"));
        let unknown = TopicIdentity {
            cluster_id: None,
            ..seen("", &[(0, 10), (1, 4)])
        };
        assert_eq!(unknown.differs_from(&then), None, "no cluster id: the offsets decide");
    }
}
