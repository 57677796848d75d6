//! The primary's memory of what the topic holds, kept across restarts so a restart does not
//! republish every unchanged head.
//!
//! One JSON file, replaced atomically (temp file, fsync, rename). It is tied to the topic — its
//! name, and its [`TopicIdentity`] (cluster id and partition ends): a file written for another
//! topic name, another cluster, or a topic deleted and created again is ignored, and the new
//! topic gets a full snapshot.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use seaf_kafka::TopicIdentity;
use seaf_seafile::{ObjectId, RepoId};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    topic: String,
    /// The topic as seen when this run started (absent in files of older releases).
    #[serde(default)]
    identity: Option<TopicIdentity>,
    published: HashMap<RepoId, ObjectId>,
}

/// Where the published heads are kept.
#[derive(Debug, Clone)]
pub struct PublishedState {
    path: PathBuf,
    topic: String,
    /// The topic as seen at start (`None` when the brokers did not answer then).
    identity: Option<TopicIdentity>,
}

impl PublishedState {
    pub fn new(state_dir: &Path, topic: &str) -> Self {
        PublishedState {
            path: state_dir.join("primary-published.json"),
            topic: topic.to_string(),
            identity: None,
        }
    }

    /// The topic as the brokers describe it now: a file written for another topic of the same
    /// name is then ignored.
    pub fn with_identity(mut self, identity: Option<TopicIdentity>) -> Self {
        self.identity = identity;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The heads published by an earlier run, or nothing (first start, other topic, unreadable
    /// file: all mean "publish a snapshot").
    pub fn load(&mut self) -> HashMap<RepoId, ObjectId> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return HashMap::new();
        };
        match serde_json::from_slice::<StateFile>(&bytes) {
            Ok(f) if f.version == 1 && f.topic == self.topic => match (&self.identity, f.identity) {
                (Some(now), Some(then)) => match now.differs_from(&then) {
                    Some(why) => {
                        tracing::info!(path = %self.path.display(), %why, "the topic is not the one the state file was written for; publishing a snapshot");
                        HashMap::new()
                    }
                    None => f.published,
                },
                // The brokers did not answer at start: keep what the file says it was.
                (None, then) => {
                    self.identity = then;
                    f.published
                }
                (Some(_), None) => f.published,
            },
            Ok(_) => {
                tracing::info!(path = %self.path.display(), "state file is for another topic; publishing a snapshot");
                HashMap::new()
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "state file unreadable; publishing a snapshot");
                HashMap::new()
            }
        }
    }

    /// Replaces the file atomically.
    pub fn save(&self, published: &HashMap<RepoId, ObjectId>) -> anyhow::Result<()> {
        let dir = self.path.parent().expect("state file has a parent");
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the state directory {} (set [primary] state_dir)",
                dir.display()
            )
        })?;
        let body = serde_json::to_vec(&StateFile {
            version: 1,
            topic: self.topic.clone(),
            identity: self.identity.clone(),
            published: published.clone(),
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&body)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("cannot replace {}", self.path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_tied_to_the_topic() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = PublishedState::new(&dir.path().join("state"), "t1");
        assert!(state.load().is_empty());
        let repo = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
        let published = HashMap::from([(repo, ObjectId::hash_of(b"x"))]);
        state.save(&published).unwrap();
        assert_eq!(state.load(), published);
        assert!(PublishedState::new(&dir.path().join("state"), "t2").load().is_empty());
        std::fs::write(state.path(), b"{garbage").unwrap();
        assert!(state.load().is_empty());
    }

    fn seen(marks: &[(i32, i64)]) -> Option<TopicIdentity> {
        Some(TopicIdentity {
            cluster_id: Some("c1".into()),
            high_watermarks: marks.iter().copied().collect(),
        })
    }

    #[test]
    fn a_topic_created_again_under_the_same_name_gets_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let at = |marks: &[(i32, i64)]| PublishedState::new(&dir.path().join("s"), "t").with_identity(seen(marks));
        let repo = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
        let published = HashMap::from([(repo, ObjectId::hash_of(b"x"))]);
        at(&[(0, 5)]).save(&published).unwrap();
        assert_eq!(at(&[(0, 9)]).load(), published, "the same topic, grown");
        assert!(
            at(&[(0, 0)]).load().is_empty(),
            "created again: everything is published anew"
        );
        let mut unknown = PublishedState::new(&dir.path().join("s"), "t");
        assert_eq!(unknown.load(), published, "brokers away at start: the file is trusted");
        unknown.save(&published).unwrap();
        assert!(
            at(&[(0, 0)]).load().is_empty(),
            "the file kept the identity it was written for"
        );
    }
}
