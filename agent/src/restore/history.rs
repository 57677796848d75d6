//! A library's commits, newest first, as Seafile's history page lists them.

use std::collections::{BinaryHeap, HashMap, HashSet};

use seaf_seafile::{Commit, ObjectId, ObjectKind};
use serde::Serialize;

use super::Library;

/// One commit of the history.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub id: ObjectId,
    /// Seconds since the epoch.
    pub ctime: i64,
    pub author: String,
    pub description: String,
    pub root: ObjectId,
    pub parents: Vec<ObjectId>,
}

impl Entry {
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// Why the history cannot be read whole.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("commit {id} is missing from the store (run `seaf-backup verify`)")]
    Missing { id: ObjectId },
    #[error("commit {id}: {error}")]
    Unreadable { id: ObjectId, error: String },
}

/// The commits reachable from the head, newest first (by `ctime`, ties by id), at most `limit`.
/// A merge's two lines are interleaved by time, as Seafile shows them.
pub fn history(lib: &Library, limit: Option<usize>) -> Result<Vec<Entry>, HistoryError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut queued: HashMap<ObjectId, Entry> = HashMap::new();
    let mut queue: BinaryHeap<(i64, ObjectId)> = BinaryHeap::new();
    let mut enqueue = |id: ObjectId, queued: &mut HashMap<ObjectId, Entry>, queue: &mut BinaryHeap<_>| {
        if seen.insert(id) {
            let entry = read(lib, id)?;
            queue.push((entry.ctime, id));
            queued.insert(id, entry);
        }
        Ok::<(), HistoryError>(())
    };
    enqueue(lib.head, &mut queued, &mut queue)?;
    while let Some((_, id)) = queue.pop() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let entry = queued.remove(&id).expect("queued entries are kept");
        for p in &entry.parents {
            enqueue(*p, &mut queued, &mut queue)?;
        }
        out.push(entry);
    }
    Ok(out)
}

fn read(lib: &Library, id: ObjectId) -> Result<Entry, HistoryError> {
    let bytes = lib
        .store
        .read(ObjectKind::Commit, &lib.stores.repo, &id)
        .map_err(|e| match e.is_not_found() {
            true => HistoryError::Missing { id },
            false => HistoryError::Unreadable {
                id,
                error: e.to_string(),
            },
        })?;
    let c = Commit::parse(&bytes).map_err(|e| HistoryError::Unreadable {
        id,
        error: e.to_string(),
    })?;
    Ok(Entry {
        id,
        ctime: c.ctime,
        author: c.creator_name.clone().unwrap_or_else(|| c.creator.clone()),
        description: c.description.clone(),
        root: c.root_id,
        parents: c.parents().collect(),
    })
}
