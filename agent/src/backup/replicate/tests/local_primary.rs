//! A primary that answers from a local store, and can be told to fail or lie.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use seaf_seafile::{Commit, ObjectId, ObjectKind, ObjectStore, RepoStores};

use crate::backup::replicate::{Fetched, Remote, RemoteError};

/// The primary of the replication tests.
pub struct LocalPrimary {
    pub store: ObjectStore,
    pub stores: RepoStores,
    pub calls: AtomicUsize,
    /// The request (0-based) that fails as if the primary went away.
    pub fail_at: Option<usize>,
    /// Rewrites a commit before it is sent.
    pub tamper: Option<Box<dyn Fn(Commit) -> Commit + Send + Sync>>,
    /// Leaves the last entry out of every answer.
    pub short: bool,
    /// Ids asked for, by kind.
    pub asked: Mutex<Vec<(ObjectKind, usize)>>,
}

impl LocalPrimary {
    pub fn new(store: &ObjectStore, stores: RepoStores) -> Self {
        LocalPrimary {
            store: store.clone(),
            stores,
            calls: AtomicUsize::new(0),
            fail_at: None,
            tamper: None,
            short: false,
            asked: Mutex::default(),
        }
    }

    pub fn asked(&self, kind: ObjectKind) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }
}

impl Remote for LocalPrimary {
    async fn fetch(&self, kind: ObjectKind, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        if self.fail_at == Some(self.calls.fetch_add(1, Ordering::SeqCst)) {
            let detail = "connection refused".into();
            return Err(RemoteError::Unreachable {
                url: "test".into(),
                detail,
            });
        }
        self.asked.lock().unwrap().push((kind, ids.len()));
        let mut out: Vec<Fetched> = ids
            .iter()
            .map(|id| {
                let bytes = self.store.read(kind, &self.stores.store_for(kind), id).ok();
                let bytes = match (&self.tamper, kind, bytes) {
                    (Some(f), ObjectKind::Commit, Some(b)) => Some(f(Commit::parse(&b).unwrap()).to_stored()),
                    (_, _, b) => b,
                };
                (*id, bytes)
            })
            .collect();
        if self.short {
            out.pop();
        }
        Ok(out)
    }
}
