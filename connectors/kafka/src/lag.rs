//! Consumer lag from librdkafka's own statistics, not from extra broker round-trips.
//!
//! With `statistics.interval.ms` set, librdkafka hands its client a JSON report on that period;
//! each assigned partition carries `consumer_lag` (high watermark minus committed offset). Since
//! the backup commits only after handing an event on, that is exactly "events not yet safe",
//! which `seaf_backup_consumer_lag{topic,partition}` exports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{ConsumerContext, Rebalance};
use serde::Deserialize;

/// The lag of one partition at the last statistics report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Messages after the committed offset.
    pub lag: i64,
}

#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    topics: BTreeMap<String, TopicStats>,
}

#[derive(Deserialize)]
struct TopicStats {
    #[serde(default)]
    partitions: BTreeMap<String, PartitionStats>,
}

#[derive(Deserialize)]
struct PartitionStats {
    partition: i32,
    #[serde(default = "unknown")]
    consumer_lag: i64,
}

fn unknown() -> i64 {
    -1
}

/// Per-partition consumer lag in one librdkafka statistics JSON report, sorted by topic and
/// partition. Partitions whose lag librdkafka does not know (-1: not assigned here, nothing
/// committed or fetched yet) and its internal partition -1 are left out.
pub fn parse_consumer_lag(stats_json: &[u8]) -> Result<Vec<PartitionLag>, serde_json::Error> {
    let stats: Stats = serde_json::from_slice(stats_json)?;
    let mut out: Vec<PartitionLag> = stats
        .topics
        .into_iter()
        .flat_map(|(topic, t)| {
            t.partitions
                .into_values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(move |p| PartitionLag {
                    topic: topic.clone(),
                    partition: p.partition,
                    lag: p.consumer_lag,
                })
        })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}

/// A librdkafka client context that keeps the latest per-partition lag and logs rebalances.
/// Cheap to clone: clones share the same numbers.
#[derive(Debug, Clone, Default)]
pub struct LagContext {
    latest: Arc<Mutex<Vec<PartitionLag>>>,
}

impl LagContext {
    /// The lag at the last statistics report (empty before the first one).
    pub fn consumer_lag(&self) -> Vec<PartitionLag> {
        self.latest.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl ClientContext for LagContext {
    fn stats_raw(&self, statistics: &[u8]) {
        match parse_consumer_lag(statistics) {
            Ok(lag) => {
                if let Ok(mut latest) = self.latest.lock() {
                    *latest = lag;
                }
            }
            Err(e) => tracing::warn!("could not read librdkafka statistics: {e}"),
        }
    }
}

impl ConsumerContext for LagContext {
    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(partitions = ?parts, "consumer group assigned partitions");
            }
            Rebalance::Revoke(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(partitions = ?parts, "consumer group revoked partitions");
            }
            Rebalance::Error(e) => tracing::warn!("consumer group rebalance failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumer_lag_per_partition() {
        // Trimmed from a real librdkafka 2.x report.
        let json = br#"{
          "name": "seaf-backup#consumer-1", "type": "consumer", "ts": 1,
          "topics": {
            "seafile-repo-updates": {
              "topic": "seafile-repo-updates", "age": 1, "metadata_age": 1,
              "partitions": {
                "1": {"partition": 1, "desired": true, "hi_offset": 10, "committed_offset": 7, "consumer_lag": 3, "consumer_lag_stored": 2},
                "0": {"partition": 0, "desired": true, "hi_offset": 5, "committed_offset": 5, "consumer_lag": 0},
                "2": {"partition": 2, "desired": false, "consumer_lag": -1},
                "-1": {"partition": -1, "consumer_lag": -1}
              }
            }
          }
        }"#;
        let lag = parse_consumer_lag(json).unwrap();
        let t = "seafile-repo-updates".to_owned();
        assert_eq!(
            lag,
            vec![
                PartitionLag {
                    topic: t.clone(),
                    partition: 0,
                    lag: 0
                },
                PartitionLag {
                    topic: t,
                    partition: 1,
                    lag: 3
                },
            ]
        );
        assert!(parse_consumer_lag(br#"{"type": "producer"}"#).unwrap().is_empty());
        assert!(parse_consumer_lag(b"not json").is_err());
    }
}
