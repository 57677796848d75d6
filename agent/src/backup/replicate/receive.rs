//! Receive: the backup's side of the pack exchange (see `crate::pack`). One request brings
//! every missing object in closure order; each is verified here before it is staged:
//!
//! - its id is computed from its bytes (blocks and fs objects are named by their hash, commits
//!   carry theirs), so a primary cannot send an object under a false name;
//! - everything it points at must already be on the backup, staged, or named missing (with
//!   `--force`): a primary that leaves something out or sends it out of order stops the sync;
//! - everything sent must be pointed at by something sent later, or be the wanted head: a pack
//!   carrying objects nothing asked for is refused at its end (the head does not move).
//!
//! Objects are staged in batches that the group commit makes durable in the background while
//! the next batch is received. A commit whose batch is durable has its whole closure durable,
//! so a broken stream resumes from the newest such commit instead of from the start.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use seaf_seafile::fs::inflate;
use seaf_seafile::{Commit, FsObject, ObjectError, ObjectId, ObjectKind, ObjectStore, RepoStores, StoreError};
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::remote::RemoteError;
use super::report::{Progress, ReplicateError, Skipped, SyncOptions, SyncReport};
use super::resume::Durable;
use crate::backup::durable::{start_writeback, Batch, GroupCommit, MAX_GROUP_BYTES};
use crate::internal_events::store::{BytesFetched, ObjectsWritten};
use crate::internal_events::InternalEvent;
use crate::pack::frame::{Decoder, Frame};

/// The crash point after a whole pack arrived, before its last batch is handed over
/// (docs/reliability.md).
pub const PACK_CRASH_POINT: &str = "pack.received";

/// A pack as it arrives: its chunks, or why the connection failed.
pub type Chunks = mpsc::Receiver<Result<Bytes, RemoteError>>;

/// Objects staged before the batch is handed to the group commit (few in unit tests, so that
/// they cross batches).
const BATCH_OBJECTS: usize = if cfg!(test) { 64 } else { 4096 };
/// Bytes staged in memory before the batch is handed over (per sync: bounds the backup's RSS).
const BATCH_BYTES: u64 = 4 << 20;
/// Bytes staged in all (large blocks in staging files included) before the batch is handed
/// over: a group's bound, so one barrier flushes at most about that much. Large blocks cost no
/// memory, so they do not count against [`BATCH_BYTES`]: counted there, every block of a few
/// MiB was a batch and a barrier of its own, and a library's stream waited on each.
const BATCH_STAGED_BYTES: u64 = MAX_GROUP_BYTES;
/// Blocks at least this large are written to a staging file as they arrive, never held whole.
const LARGE_BLOCK: u32 = 1 << 20;
/// Bytes gathered before they are decoded and verified on the blocking pool.
const GATHER: usize = 256 << 10;
/// Objects received but not yet pointed at. A closure-ordered pack keeps this to about the
/// width of one path through a tree; past this the primary is sending what nobody asked for.
const MAX_PENDING: usize = 1_000_000;

type Key = (ObjectKind, ObjectId);

/// Where the pack goes and how.
#[derive(Clone)]
pub struct Target<'a> {
    pub store: &'a ObjectStore,
    pub stores: RepoStores,
    pub commit: &'a GroupCommit,
    pub want: ObjectId,
    pub options: SyncOptions,
}

/// Receives one pack into the store. `durable` is updated to the newest commit whose closure
/// is durable, so a caller can resume a broken pack from it.
pub async fn receive(
    mut chunks: Chunks,
    target: &Target<'_>,
    report: &mut SyncReport,
    durable: &mut Durable,
    progress: Progress<'_>,
) -> Result<(), ReplicateError> {
    let mut inflight = None;
    let state = Receiver::new(target);
    let result = drive(&mut chunks, state, &mut inflight, target, report, durable, progress).await;
    // A batch already handed over still lands (its objects are whole): wait for it, so that
    // `durable` names what really is durable.
    if let Some(batch) = inflight.take() {
        let landed = land(batch, report, durable).await;
        if result.is_ok() {
            landed?;
        }
    }
    result?.finish()
}

/// Receives until the pack ends; returns the state for the final checks.
async fn drive(
    chunks: &mut Chunks,
    mut state: Receiver,
    inflight: &mut Option<Inflight>,
    target: &Target<'_>,
    report: &mut SyncReport,
    durable: &mut Durable,
    progress: Progress<'_>,
) -> Result<Receiver, ReplicateError> {
    loop {
        gather(chunks, &mut state).await?;
        loop {
            let (s, step) = run_blocking(state).await;
            state = s;
            report.skipped.append(&mut state.skipped);
            match step? {
                Step::NeedBytes => break,
                Step::BatchFull => flush(&mut state, inflight, target, report, durable).await?,
                Step::Ended => {
                    // A crash here: earlier batches are durable, the last one never handed over.
                    fail::fail_point!(PACK_CRASH_POINT, |_| std::process::abort());
                    flush(&mut state, inflight, target, report, durable).await?;
                    if let Some(batch) = inflight.take() {
                        land(batch, report, durable).await?;
                    }
                    state.inflight.clear();
                    progress("objects", report.objects());
                    return Ok(state);
                }
            }
            progress("objects", report.objects());
        }
    }
}

/// [`Receiver::process`] on the blocking pool (hashing, inflating, stat calls).
async fn run_blocking(mut state: Receiver) -> (Receiver, Result<Step, ReplicateError>) {
    let done = tokio::task::spawn_blocking(move || {
        let step = state.process();
        (state, step)
    })
    .await;
    match done {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Feeds the decoder the next chunk and whatever else has already arrived, up to [`GATHER`].
async fn gather(chunks: &mut Chunks, state: &mut Receiver) -> Result<(), ReplicateError> {
    let Some(first) = chunks.recv().await else {
        return Err(RemoteError::Unreachable {
            url: "the primary".into(),
            detail: format!("the pack broke off after {} bytes", state.decoder.received()),
        }
        .into());
    };
    let first = first?;
    let mut gathered = first.len();
    state.decoder.feed_bytes(first);
    while gathered < GATHER {
        match chunks.try_recv() {
            Ok(chunk) => {
                let chunk = chunk?;
                gathered += chunk.len();
                state.decoder.feed_bytes(chunk);
            }
            Err(_) => break,
        }
    }
    BytesFetched { bytes: gathered as u64 }.emit();
    Ok(())
}

/// Hands the staged batch to the group commit, after the one before it landed.
async fn flush(
    state: &mut Receiver,
    inflight: &mut Option<Inflight>,
    target: &Target<'_>,
    report: &mut SyncReport,
    durable: &mut Durable,
) -> Result<(), ReplicateError> {
    if state.staged.is_empty() {
        return Ok(());
    }
    if let Some(batch) = inflight.take() {
        land(batch, report, durable).await?;
    }
    let staged = std::mem::replace(&mut state.staged, Staged::new(target.commit.batch()));
    state.inflight = staged.ids;
    *inflight = Some(Inflight {
        handle: tokio::spawn(staged.batch.commit()),
        counts: staged.counts,
        newest_commit: staged.newest_commit,
    });
    Ok(())
}

/// Waits for a batch to be durable and counts it.
async fn land(batch: Inflight, report: &mut SyncReport, durable: &mut Durable) -> Result<(), ReplicateError> {
    match batch.handle.await {
        Ok(result) => result?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    for kind in ObjectKind::ALL {
        let (count, bytes) = batch.counts.of(kind);
        if count > 0 {
            report.wrote(kind, count as usize, bytes);
            ObjectsWritten { kind, count, bytes }.emit();
        }
    }
    if let Some(commit) = batch.newest_commit {
        durable.advance(commit).await;
    }
    Ok(())
}

/// A batch the group commit is making durable.
struct Inflight {
    handle: JoinHandle<Result<(), StoreError>>,
    counts: Counts,
    newest_commit: Option<ObjectId>,
}

#[derive(Default, Clone, Copy)]
struct Counts([(u64, u64); 3]);

impl Counts {
    fn index(kind: ObjectKind) -> usize {
        match kind {
            ObjectKind::Commit => 0,
            ObjectKind::Fs => 1,
            ObjectKind::Block => 2,
        }
    }

    fn add(&mut self, kind: ObjectKind, bytes: u64) {
        let c = &mut self.0[Self::index(kind)];
        c.0 += 1;
        c.1 += bytes;
    }

    fn of(&self, kind: ObjectKind) -> (u64, u64) {
        self.0[Self::index(kind)]
    }
}

/// The batch being filled.
struct Staged {
    batch: Batch,
    ids: HashSet<Key>,
    counts: Counts,
    newest_commit: Option<ObjectId>,
}

impl Staged {
    fn new(batch: Batch) -> Self {
        Staged {
            batch,
            ids: HashSet::new(),
            counts: Counts::default(),
            newest_commit: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn full(&self) -> bool {
        self.ids.len() >= BATCH_OBJECTS
            || self.batch.memory_bytes() >= BATCH_BYTES
            || self.batch.bytes() >= BATCH_STAGED_BYTES
    }
}

enum Step {
    NeedBytes,
    BatchFull,
    Ended,
}

/// The verifying state of one pack; owned, so it can move to the blocking pool and back.
struct Receiver {
    store: ObjectStore,
    stores: RepoStores,
    want: ObjectId,
    force: bool,
    decoder: Decoder,
    staged: Staged,
    /// Ids of the batch being made durable (not yet visible in the store).
    inflight: HashSet<Key>,
    /// Received, not yet pointed at.
    pending: HashSet<Key>,
    skipped_ids: HashSet<Key>,
    /// Skips not yet moved into the report.
    skipped: Vec<Skipped>,
    frames: u64,
    /// A large block being received.
    large: Option<LargeBlock>,
}

/// A large block on its way to a staging file, hashed as it comes.
struct LargeBlock {
    id: ObjectId,
    len: u64,
    hasher: Sha1,
    file: File,
    path: PathBuf,
}

/// A verified object's bytes: in memory, or (a large block) in a staging file.
enum Payload {
    Bytes(Vec<u8>),
    File(PathBuf, u64),
}

impl Receiver {
    fn new(target: &Target<'_>) -> Self {
        Receiver {
            store: target.store.clone(),
            stores: target.stores,
            want: target.want,
            force: target.options.force,
            decoder: Decoder::new(),
            staged: Staged::new(target.commit.batch()),
            inflight: HashSet::new(),
            pending: HashSet::new(),
            skipped_ids: HashSet::new(),
            skipped: Vec::new(),
            frames: 0,
            large: None,
        }
    }

    /// Handles every complete frame, stopping when the batch is full or the pack ended.
    fn process(&mut self) -> Result<Step, ReplicateError> {
        loop {
            if self.staged.full() {
                return Ok(Step::BatchFull);
            }
            if self.large.is_some() {
                if !self.continue_large()? {
                    return Ok(Step::NeedBytes);
                }
                continue;
            }
            let large = self
                .decoder
                .start_large_block(LARGE_BLOCK)
                .map_err(|e| protocol(e.to_string()))?;
            if let Some((id, len)) = large {
                self.frames += 1;
                self.start_large(id, len.into())?;
                continue;
            }
            let frame = self.decoder.next_frame().map_err(|e| protocol(e.to_string()))?;
            let Some(frame) = frame else { return Ok(Step::NeedBytes) };
            match frame {
                Frame::Object(kind, bytes) => {
                    self.frames += 1;
                    self.object(kind, bytes)?;
                }
                Frame::Block { id, bytes } => {
                    self.frames += 1;
                    match ObjectId::hash_of(&bytes) {
                        actual if actual == id => {
                            self.accept(ObjectKind::Block, id, Vec::new(), Payload::Bytes(bytes))?
                        }
                        actual => {
                            self.corrupt(ObjectKind::Block, id, ObjectError::IdMismatch { expected: id, actual })?
                        }
                    }
                }
                Frame::Missing { kind, id, path } => {
                    self.frames += 1;
                    self.missing(kind, id, path)?;
                }
                Frame::End { objects } if objects == self.frames => {
                    // Before the last batch is handed over: a pack with extras lands nothing more.
                    self.check_nothing_extra()?;
                    return Ok(Step::Ended);
                }
                Frame::End { objects } => {
                    return Err(protocol(format!(
                        "its pack says it held {objects} objects, but {} came",
                        self.frames
                    )))
                }
                Frame::Failed(detail) => return Err(RemoteError::PackFailed { detail }.into()),
            }
        }
    }

    fn object(&mut self, kind: ObjectKind, bytes: Vec<u8>) -> Result<(), ReplicateError> {
        let (id, refs) = match identify(kind, &bytes) {
            Ok(named) => named,
            Err((Some(id), error)) => return self.corrupt(kind, id, error),
            Err((None, error)) => return self.unnamed_corrupt(kind, error),
        };
        self.accept(kind, id, refs, Payload::Bytes(bytes))
    }

    fn start_large(&mut self, id: ObjectId, len: u64) -> Result<(), ReplicateError> {
        let (path, file) = self.staged.batch.staging_file()?;
        self.large = Some(LargeBlock {
            id,
            len,
            hasher: Sha1::new(),
            file,
            path,
        });
        Ok(())
    }

    /// Writes what has arrived of the large block; `true` once it is whole (and handled).
    fn continue_large(&mut self) -> Result<bool, ReplicateError> {
        let large = self.large.as_mut().expect("a large block in progress");
        loop {
            // One chunk as received at a time, until what has arrived is written.
            let part = self.decoder.body_part();
            if part.is_empty() {
                break;
            }
            large.hasher.update(&part);
            let written = large.file.write_all(&part);
            written.map_err(|e| StoreError::io("writing", &large.path, e))?;
        }
        if self.decoder.body_left() > 0 {
            return Ok(false);
        }
        let large = self.large.take().expect("a large block in progress");
        let actual = ObjectId::from_digest(large.hasher.finalize().into());
        start_writeback(&large.file);
        drop(large.file);
        if actual != large.id {
            let _ = std::fs::remove_file(&large.path);
            let error = ObjectError::IdMismatch {
                expected: large.id,
                actual,
            };
            self.corrupt(ObjectKind::Block, large.id, error)?;
            return Ok(true);
        }
        self.accept(
            ObjectKind::Block,
            large.id,
            Vec::new(),
            Payload::File(large.path, large.len),
        )?;
        Ok(true)
    }

    /// A verified object: what it points at is checked, then it is staged unless present.
    fn accept(
        &mut self,
        kind: ObjectKind,
        id: ObjectId,
        refs: Vec<Key>,
        payload: Payload,
    ) -> Result<(), ReplicateError> {
        for r in refs {
            self.resolve(r, (kind, id))?;
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(protocol(format!(
                "its pack sent over {MAX_PENDING} objects that nothing pointed at yet"
            )));
        }
        self.pending.insert((kind, id));
        if self.has((kind, id))? {
            if let Payload::File(path, _) = payload {
                let _ = std::fs::remove_file(path);
            }
            return Ok(());
        }
        self.stage(kind, id, payload);
        Ok(())
    }

    /// Keeps a verified object for the batch.
    fn stage(&mut self, kind: ObjectKind, id: ObjectId, payload: Payload) {
        let store = self.stores.store_for(kind);
        let len = match payload {
            Payload::Bytes(bytes) => {
                let len = bytes.len() as u64;
                self.staged.batch.stage(kind, store, id, bytes);
                len
            }
            Payload::File(path, len) => {
                self.staged.batch.stage_file(kind, store, id, path, len);
                len
            }
        };
        self.staged.ids.insert((kind, id));
        self.staged.counts.add(kind, len);
        if kind == ObjectKind::Commit {
            self.staged.newest_commit = Some(id);
        }
    }

    /// `needed`, which `by` points at, must be on the backup, staged or skipped.
    fn resolve(&mut self, needed: Key, by: Key) -> Result<(), ReplicateError> {
        self.pending.remove(&needed);
        if self.skipped_ids.contains(&needed) || self.has(needed)? {
            return Ok(());
        }
        let (kind, id) = needed;
        if self.force {
            let reason = format!(
                "not in the primary's pack, or sent corrupt (needed by {} {})",
                by.0, by.1
            );
            return self.skip(kind, id, reason, None);
        }
        Err(protocol(format!(
            "its pack sent {} {} before {kind} object {id}, which it needs, or left that out",
            by.0, by.1
        )))
    }

    fn missing(&mut self, kind: ObjectKind, id: ObjectId, path: String) -> Result<(), ReplicateError> {
        // With clock skew the primary may name a commit the backup has: nothing is missing.
        if self.has((kind, id))? {
            return Ok(());
        }
        let path = Some(path).filter(|p| !p.is_empty());
        if self.force {
            return self.skip(kind, id, "missing on the primary".into(), path);
        }
        Err(ReplicateError::MissingOnPrimary { kind, id, path })
    }

    fn corrupt(&mut self, kind: ObjectKind, id: ObjectId, error: ObjectError) -> Result<(), ReplicateError> {
        if self.force {
            return self.skip(kind, id, format!("corrupt on the primary ({error})"), None);
        }
        Err(ReplicateError::Corrupt {
            kind,
            id,
            path: None,
            error,
        })
    }

    /// An object too damaged to know its id: with `--force`, whatever needed it is skipped
    /// when that turns up.
    fn unnamed_corrupt(&mut self, kind: ObjectKind, error: ObjectError) -> Result<(), ReplicateError> {
        if self.force {
            tracing::warn!(%kind, %error, "a corrupt object from the primary left out (--force)");
            return Ok(());
        }
        Err(ReplicateError::CorruptUnnamed { kind, error })
    }

    fn skip(
        &mut self,
        kind: ObjectKind,
        id: ObjectId,
        reason: String,
        path: Option<String>,
    ) -> Result<(), ReplicateError> {
        tracing::warn!(%kind, %id, %reason, "skipping (--force)");
        self.skipped_ids.insert((kind, id));
        self.skipped.push(Skipped { kind, id, path, reason });
        Ok(())
    }

    /// Whether the backup has `key` or is writing it.
    fn has(&self, key: Key) -> Result<bool, StoreError> {
        if self.staged.ids.contains(&key) || self.inflight.contains(&key) {
            return Ok(true);
        }
        let (kind, id) = key;
        self.store.exists(kind, &self.stores.store_for(kind), &id)
    }

    /// At the end of the pack: everything received was pointed at, but the head. With
    /// `--force`, objects only a skipped one pointed at are left over, and allowed.
    fn check_nothing_extra(&self) -> Result<(), ReplicateError> {
        let want = (ObjectKind::Commit, self.want);
        let extra: Vec<&Key> = self.pending.iter().filter(|k| **k != want).collect();
        match extra.first() {
            Some((kind, id)) if !self.force => Err(protocol(format!(
                "its pack held {} objects nothing asked for (e.g. {kind} object {id}); they were not recorded as synced",
                extra.len()
            ))),
            _ => Ok(()),
        }
    }

    /// After every batch landed: the head is there.
    fn finish(&self) -> Result<(), ReplicateError> {
        if !self.has((ObjectKind::Commit, self.want))? {
            return Err(ReplicateError::MissingOnPrimary {
                kind: ObjectKind::Commit,
                id: self.want,
                path: None,
            });
        }
        Ok(())
    }
}

/// An object's id and the ids it points at, from its bytes alone; or its id if that can be
/// known, and why it is corrupt.
fn identify(kind: ObjectKind, bytes: &[u8]) -> Result<(ObjectId, Vec<Key>), (Option<ObjectId>, ObjectError)> {
    match kind {
        ObjectKind::Block => Ok((ObjectId::hash_of(bytes), Vec::new())),
        ObjectKind::Fs => {
            let json = inflate(bytes).map_err(|e| (None, e))?;
            let id = ObjectId::hash_of(&json);
            let refs = match FsObject::parse_json(&json).map_err(|e| (Some(id), e))? {
                FsObject::Dir(dir) => dir.dirents.iter().map(|d| (ObjectKind::Fs, d.id)).collect(),
                FsObject::File(file) => file.block_ids.iter().map(|b| (ObjectKind::Block, *b)).collect(),
            };
            Ok((id, without_zero(refs)))
        }
        ObjectKind::Commit => {
            let commit = Commit::parse(bytes).map_err(|e| (None, e))?;
            let parents = commit.parents().map(|p| (ObjectKind::Commit, p));
            let refs = std::iter::once((ObjectKind::Fs, commit.root_id))
                .chain(parents)
                .collect();
            Ok((commit.commit_id, without_zero(refs)))
        }
    }
}

/// Seafile names an empty file or directory by the all-zero id, which has no object.
fn without_zero(mut refs: Vec<Key>) -> Vec<Key> {
    refs.retain(|(_, id)| !id.is_zero());
    refs
}

fn protocol(detail: String) -> ReplicateError {
    RemoteError::Protocol { detail }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large blocks cost no memory, so a batch of them fills at a group's bound, not at the
    /// in-memory bound: a library of blocks of a few MiB is not one barrier a block.
    #[test]
    fn a_batch_is_full_at_its_memory_bound_or_at_a_groups_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let commit = GroupCommit::open(ObjectStore::new(dir.path())).unwrap();
        let store = seaf_seafile::RepoId::parse("0b2d1a7e-5c1e-4c3e-9a1b-1f2e3d4c5b6a").unwrap();
        let block = |n: u8| ObjectId::hash_of(&[n]);
        let mut staged = Staged::new(commit.batch());
        for n in 0..15 {
            let (path, _file) = staged.batch.staging_file().unwrap();
            staged
                .batch
                .stage_file(ObjectKind::Block, store, block(n), path, 4 << 20);
            staged.ids.insert((ObjectKind::Block, block(n)));
        }
        assert!(!staged.full(), "60 MiB of large blocks in staging files");
        let (path, _file) = staged.batch.staging_file().unwrap();
        staged
            .batch
            .stage_file(ObjectKind::Block, store, block(15), path, 4 << 20);
        assert!(staged.full(), "64 MiB staged: a group's bound");

        let mut small = Staged::new(commit.batch());
        small
            .batch
            .stage(ObjectKind::Block, store, block(99), vec![0; BATCH_BYTES as usize]);
        assert!(small.full(), "4 MiB in memory");
    }
}
