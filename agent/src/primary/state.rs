//! The primary's memory of what the topic holds, kept across restarts so a restart does not
//! republish every unchanged head.
//!
//! One JSON file, replaced atomically (temp file, fsync, rename). It is tied to the topic: a
//! file written for another topic is ignored, and the new topic gets a full snapshot.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use seaf_seafile::{ObjectId, RepoId};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    topic: String,
    published: HashMap<RepoId, ObjectId>,
}

/// Where the published heads are kept.
#[derive(Debug, Clone)]
pub struct PublishedState {
    path: PathBuf,
    topic: String,
}

impl PublishedState {
    pub fn new(state_dir: &Path, topic: &str) -> Self {
        PublishedState {
            path: state_dir.join("primary-published.json"),
            topic: topic.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The heads published by an earlier run, or nothing (first start, other topic, unreadable
    /// file: all mean "publish a snapshot").
    pub fn load(&self) -> HashMap<RepoId, ObjectId> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return HashMap::new();
        };
        match serde_json::from_slice::<StateFile>(&bytes) {
            Ok(f) if f.version == 1 && f.topic == self.topic => f.published,
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
        let state = PublishedState::new(&dir.path().join("state"), "t1");
        assert!(state.load().is_empty());
        let repo = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
        let published = HashMap::from([(repo, ObjectId::hash_of(b"x"))]);
        state.save(&published).unwrap();
        assert_eq!(state.load(), published);
        assert!(PublishedState::new(&dir.path().join("state"), "t2").load().is_empty());
        std::fs::write(state.path(), b"{garbage").unwrap();
        assert!(state.load().is_empty());
    }
}
