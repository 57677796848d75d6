//! The binlog position, kept in the primary's state directory beside the published state.
//!
//! One small JSON file, replaced atomically (temp file, fsync, rename). It names the database
//! it was written for: a file for another database is ignored (and the stream starts with a
//! full read, as on a first start).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::BinlogPosition;

#[derive(Serialize, Deserialize)]
struct PositionFile {
    version: u32,
    /// The database (`host:port/schema`) whose log this is a place in.
    database: String,
    position: BinlogPosition,
}

/// Where the position is kept.
#[derive(Debug, Clone)]
pub struct PositionStore {
    path: PathBuf,
    database: String,
}

impl PositionStore {
    pub fn new(state_dir: &Path, database: &str) -> Self {
        PositionStore {
            path: state_dir.join("primary-binlog.json"),
            database: database.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position, if any (a missing, unreadable or foreign file means none).
    pub fn load(&self) -> Option<BinlogPosition> {
        let bytes = std::fs::read(&self.path).ok()?;
        match serde_json::from_slice::<PositionFile>(&bytes) {
            Ok(f) if f.version == 1 && f.database == self.database => Some(f.position),
            Ok(_) => {
                tracing::info!(path = %self.path.display(), "binlog position is for another database; starting with a full read");
                None
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "binlog position unreadable; starting with a full read");
                None
            }
        }
    }

    /// Replaces the file atomically.
    pub fn save(&self, position: &BinlogPosition) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&PositionFile {
            version: 1,
            database: self.database.clone(),
            position: position.clone(),
        })?;
        let dir = self.path.parent().expect("position file has a parent");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&body)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("cannot replace {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_tied_to_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionStore::new(dir.path(), "127.0.0.1:3306/seafile_db");
        assert_eq!(store.load(), None);
        let p = BinlogPosition {
            file: "mysql-bin.000003".into(),
            offset: 1234,
        };
        store.save(&p).unwrap();
        assert_eq!(store.load(), Some(p));
        assert_eq!(PositionStore::new(dir.path(), "127.0.0.1:3306/other").load(), None);
        std::fs::write(store.path(), b"{").unwrap();
        assert_eq!(store.load(), None);
    }
}
