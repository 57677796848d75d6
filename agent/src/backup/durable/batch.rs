//! [`Batch`]: the objects of one sync, staged in memory (or, for large blocks, in a staging
//! file) until the sync hands them to the committer in one piece.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;

use seaf_seafile::{ObjectId, ObjectKind, RepoId, StoreError};
use tokio::sync::oneshot;

use super::journal::Entry;
use super::Shared;

/// Where a staged object's bytes are.
#[derive(Debug)]
pub enum Payload {
    /// A small object, in memory.
    Bytes(Vec<u8>),
    /// A large block, already written to a file of the staging folder.
    File { path: PathBuf, len: u64 },
}

/// One staged object.
#[derive(Debug)]
pub struct Staged {
    pub entry: Entry,
    pub payload: Payload,
}

impl Staged {
    pub fn len(&self) -> u64 {
        match &self.payload {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }
}

/// Objects of one sync, staged in the order they must become visible (closure order:
/// everything an object references comes before it or is already in the store).
///
/// One batch holds one library's objects (its commits under its id, its fs objects and blocks
/// under its objects store): recovery finds a commit's root under the store the batch staged
/// it in, since a virtual library's commit does not name its origin's store.
///
/// Staging costs no I/O; [`Batch::commit`] makes them all visible and durable, sharing one
/// barrier with every other batch committed at the same time. Dropping a batch uncommitted
/// removes its staging files.
pub struct Batch {
    shared: Arc<Shared>,
    objects: Vec<Staged>,
    index: HashSet<(ObjectKind, ObjectId)>,
    bytes: u64,
    in_memory: u64,
}

impl Batch {
    pub(super) fn new(shared: Arc<Shared>) -> Batch {
        Batch {
            shared,
            objects: Vec::new(),
            index: HashSet::new(),
            bytes: 0,
            in_memory: 0,
        }
    }

    /// Keeps a small verified object (bytes in memory). Cheap, no I/O. An object the batch
    /// already holds is not staged twice.
    pub fn stage(&mut self, kind: ObjectKind, store: RepoId, id: ObjectId, data: Vec<u8>) {
        self.push(Entry { kind, store, id }, Payload::Bytes(data));
    }

    /// A temp file in the staging directory for a large block streamed from the network
    /// (written by the caller, e.g. via `tokio::fs` or in `spawn_blocking`); [`Batch::stage_file`]
    /// then adds it in order. It is on the store's file system, so committing renames it into
    /// place instead of copying it.
    pub fn staging_file(&self) -> Result<(PathBuf, File), StoreError> {
        let path = self.shared.next_staging_path();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                action: "creating",
                path: path.clone(),
                source,
            })?;
        Ok((path, file))
    }

    /// Adds a block the caller wrote (and verified) into a file from [`Batch::staging_file`];
    /// the batch owns the file from now on.
    pub fn stage_file(&mut self, kind: ObjectKind, store: RepoId, id: ObjectId, path: PathBuf, len: u64) {
        debug_assert!(
            path.parent() == Some(self.shared.layout.staging_dir().as_path()),
            "{} is not a staging file",
            path.display()
        );
        self.push(Entry { kind, store, id }, Payload::File { path, len });
    }

    fn push(&mut self, entry: Entry, payload: Payload) {
        let staged = Staged { entry, payload };
        if !self.index.insert((entry.kind, entry.id)) {
            remove_staging_files(std::slice::from_ref(&staged));
            return;
        }
        self.bytes += staged.len();
        if let Payload::Bytes(data) = &staged.payload {
            self.in_memory += data.len() as u64;
        }
        self.objects.push(staged);
    }

    /// Whether this batch already holds `id` of `kind` (the caller checks references against
    /// the store OR the batch).
    pub fn contains(&self, kind: ObjectKind, id: &ObjectId) -> bool {
        self.index.contains(&(kind, *id))
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Bytes staged, in memory and in staging files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes staged in memory (what the batch costs the process's RSS).
    pub fn memory_bytes(&self) -> u64 {
        self.in_memory
    }

    /// Hands the batch to the committer; resolves when every object is in place AND durable
    /// (after the group's barrier). Objects already present in the store are skipped, not
    /// rewritten. Dropping the future does not take the batch back: the committer still
    /// writes it (harmlessly: every object is whole and its references are in place).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let (answer, answered) = oneshot::channel();
        let job = Job {
            objects: std::mem::take(&mut self.objects),
            bytes: self.bytes,
            answer,
        };
        self.shared.submit(job)?;
        answered.await.unwrap_or_else(|_| Err(self.shared.stopped()))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        remove_staging_files(&self.objects);
    }
}

/// A batch handed to the committer, with where its answer goes.
pub struct Job {
    pub objects: Vec<Staged>,
    pub bytes: u64,
    pub answer: oneshot::Sender<Result<(), StoreError>>,
}

/// Removes the staging files among `objects` (those not renamed into place).
pub fn remove_staging_files(objects: &[Staged]) {
    for s in objects {
        if let Payload::File { path, .. } = &s.payload {
            let _ = fs::remove_file(path);
        }
    }
}
