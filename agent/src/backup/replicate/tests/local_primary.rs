//! A primary that answers from a local store, and can be told to fail or lie.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use seaf_seafile::{Commit, ObjectId, ObjectKind, ObjectStore, RepoStores, StoreError};

use crate::backup::replicate::{Chunks, Fetched, Remote, RemoteError};
use crate::pack::frame::{self, Decoder, Frame, MAGIC};
use crate::pack::walk::Source;
use crate::pack::{write_pack_from, StoreSource};

/// Rewrites the frames of a pack before it is sent.
pub type Edit = Box<dyn Fn(Vec<Frame>) -> Vec<Frame> + Send + Sync>;

/// The primary of the replication tests.
pub struct LocalPrimary {
    pub store: ObjectStore,
    pub stores: RepoStores,
    /// Whether it serves packs (a newer primary) or only objects by id (an older one).
    pub packs: bool,
    pub calls: AtomicUsize,
    /// The request (0-based) that fails as if the primary went away.
    pub fail_at: Option<usize>,
    /// Rewrites a commit before it is sent.
    pub tamper: Option<Box<dyn Fn(Commit) -> Commit + Send + Sync>>,
    /// Leaves the last entry out of every answer.
    pub short: bool,
    /// Rewrites each pack.
    pub edit: Option<Edit>,
    /// Cuts the first pack after this many bytes, as a connection that breaks.
    pub cut_first_pack_at: Option<usize>,
    /// Ids asked for, by kind.
    pub asked: Mutex<Vec<(ObjectKind, usize)>>,
    /// The haves of each pack asked for.
    pub packs_asked: Mutex<Vec<Vec<ObjectId>>>,
}

impl LocalPrimary {
    pub fn new(store: &ObjectStore, stores: RepoStores) -> Self {
        LocalPrimary {
            store: store.clone(),
            stores,
            packs: true,
            calls: AtomicUsize::new(0),
            fail_at: None,
            tamper: None,
            short: false,
            edit: None,
            cut_first_pack_at: None,
            asked: Mutex::default(),
            packs_asked: Mutex::default(),
        }
    }

    /// One that predates packs.
    pub fn old(store: &ObjectStore, stores: RepoStores) -> Self {
        LocalPrimary {
            packs: false,
            ..Self::new(store, stores)
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

    pub fn requests(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn call(&self) -> Result<usize, RemoteError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_at == Some(n) {
            let detail = "connection refused".into();
            return Err(RemoteError::Unreachable {
                url: "test".into(),
                detail,
            });
        }
        Ok(n)
    }

    fn tampered(&self, kind: ObjectKind, bytes: Vec<u8>) -> Vec<u8> {
        match (&self.tamper, kind) {
            (Some(f), ObjectKind::Commit) => f(Commit::parse(&bytes).unwrap()).to_stored(),
            _ => bytes,
        }
    }

    /// Bytes of the pack of `want` from nothing.
    pub fn pack_len(&self, want: ObjectId) -> usize {
        self.pack_bytes(want, &[]).len()
    }

    /// Bytes of the pack of `want` for a backup that has `haves`.
    pub fn pack_len_from(&self, want: ObjectId, haves: &[ObjectId]) -> usize {
        self.pack_bytes(want, haves).len()
    }

    /// The honest pack, edited.
    fn pack_bytes(&self, want: ObjectId, haves: &[ObjectId]) -> Vec<u8> {
        let honest = write_pack_from(self, &self.store, self.stores, want, haves, Vec::new()).unwrap();
        let Some(edit) = &self.edit else { return honest };
        let mut decoder = Decoder::new();
        decoder.feed(&honest);
        let mut frames = Vec::new();
        while let Some(f) = decoder.next_frame().unwrap() {
            frames.push(f);
        }
        let mut out = MAGIC.to_vec();
        for f in edit(frames) {
            frame::encode(&mut out, &f);
        }
        out
    }
}

impl Source for LocalPrimary {
    fn commit(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
        let honest = StoreSource {
            store: &self.store,
            stores: self.stores,
        };
        Ok(honest.commit(id)?.map(|b| self.tampered(ObjectKind::Commit, b)))
    }

    fn fs(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
        let honest = StoreSource {
            store: &self.store,
            stores: self.stores,
        };
        honest.fs(id)
    }
}

impl Remote for LocalPrimary {
    async fn fetch(&self, kind: ObjectKind, ids: &[ObjectId]) -> Result<Vec<Fetched>, RemoteError> {
        self.call()?;
        self.asked.lock().unwrap().push((kind, ids.len()));
        let mut out: Vec<Fetched> = ids
            .iter()
            .map(|id| {
                let bytes = self.store.read(kind, &self.stores.store_for(kind), id).ok();
                (*id, bytes.map(|b| self.tampered(kind, b)))
            })
            .collect();
        if self.short {
            out.pop();
        }
        Ok(out)
    }

    async fn pack(&self, want: ObjectId, haves: &[ObjectId]) -> Result<Option<Chunks>, RemoteError> {
        if !self.packs {
            return Ok(None);
        }
        let first = self.packs_asked.lock().unwrap().is_empty();
        self.call()?;
        self.packs_asked.lock().unwrap().push(haves.to_vec());
        let mut bytes = self.pack_bytes(want, haves);
        if let (true, Some(cut)) = (first, self.cut_first_pack_at) {
            bytes.truncate(cut);
        }
        let chunks: Vec<&[u8]> = bytes.chunks(4096).collect();
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len() + 1);
        for c in chunks {
            tx.try_send(Ok(bytes::Bytes::copy_from_slice(c))).unwrap();
        }
        Ok(Some(rx))
    }
}
