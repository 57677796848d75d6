//! The pack exchange: one request per sync, whatever the history's depth.
//!
//! The backup says what it has (commits: by the closure invariant, each means its whole
//! history and trees) and what it wants (the primary's head); the primary walks its own store
//! and streams back every missing commit, fs object and block, in closure order, in one
//! response. It is git's fetch negotiation and Seafile's `fs-id-list`/`pack-fs` in one step.
//!
//! - [`frame`]: the wire format (shared by both sides, free of HTTP types).
//! - [`negotiate`]: which commits are new (`want --not haves`).
//! - [`walk`]: their trees compared with their parents', in closure order.
//! - [`order`]: dependencies-first ordering (also used by the object-by-object walk).
//!
//! The backup's side, which verifies every object and refuses anything not asked for, is
//! `backup::replicate::receive`.

pub mod frame;
pub mod negotiate;
pub mod order;
pub mod walk;

use std::io::{self, Read, Write};

use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoStores, StoreError};

use frame::{Frame, MAGIC};
use walk::{Item, Sink, Source, WalkError};

/// Most haves a request may name.
pub const MAX_HAVES: usize = 32;

/// Where a pack is written. Blocks are most of a pack's bytes: [`PackOut::copy_from`] lets a
/// writer read them from their files straight into its own buffers (the primary's response
/// does), instead of through `io::copy`'s 8 KiB stack buffer and a second copy.
pub trait PackOut: Write {
    /// Copies `len` bytes of `file` (fewer at its end) into the pack; returns how many.
    fn copy_from(&mut self, file: &mut impl Read, len: u64) -> io::Result<u64> {
        io::copy(&mut file.take(len), self)
    }
}

/// Packs built in memory (tests, a fake primary): `io::copy` already reads into a `Vec`'s room.
impl PackOut for Vec<u8> {}

/// A library's objects in a store.
pub struct StoreSource<'a> {
    pub store: &'a ObjectStore,
    pub stores: RepoStores,
}

impl Source for StoreSource<'_> {
    fn commit(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
        found(self.store.read(ObjectKind::Commit, &self.stores.repo, id))
    }

    fn fs(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
        found(self.store.read(ObjectKind::Fs, &self.stores.objects, id))
    }
}

fn found(result: Result<Vec<u8>, StoreError>) -> Result<Option<Vec<u8>>, StoreError> {
    match result {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the pack of `want` over `haves` to `out`: the magic, the objects, then `End` — or
/// `Failed` when the primary's store fails midway. An `Err` means `out` failed (the backup hung
/// up).
pub fn write_pack<W: PackOut>(
    store: &ObjectStore,
    stores: RepoStores,
    want: ObjectId,
    haves: &[ObjectId],
    out: W,
) -> io::Result<W> {
    write_pack_from(&StoreSource { store, stores }, store, stores, want, haves, out)
}

/// [`write_pack`] with commits and fs objects read through `source` (blocks from `store`).
pub fn write_pack_from<W: PackOut>(
    source: &impl Source,
    store: &ObjectStore,
    stores: RepoStores,
    want: ObjectId,
    haves: &[ObjectId],
    out: W,
) -> io::Result<W> {
    let mut sink = FrameSink {
        out,
        store,
        blocks: stores.objects,
        objects: 0,
        error: None,
    };
    sink.out.write_all(MAGIC)?;
    let last = match walk::walk(source, want, haves, &mut sink) {
        Ok(()) => Frame::End { objects: sink.objects },
        Err(WalkError::Hangup) => return Err(sink.error.take().unwrap_or_else(|| io::ErrorKind::BrokenPipe.into())),
        Err(e) => {
            tracing::warn!(%want, error = %e, "pack failed");
            Frame::Failed(e.to_string())
        }
    };
    let mut tail = Vec::new();
    frame::encode(&mut tail, &last);
    sink.out.write_all(&tail)?;
    sink.out.flush()?;
    Ok(sink.out)
}

/// Frames onto a writer; blocks are copied from their files as they are sent.
struct FrameSink<'a, W> {
    out: W,
    store: &'a ObjectStore,
    blocks: seaf_seafile::RepoId,
    objects: u64,
    /// The writer's error behind a `Hangup`.
    error: Option<io::Error>,
}

impl<W: PackOut> FrameSink<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), WalkError> {
        self.out.write_all(bytes).map_err(|e| self.hangup(e))
    }

    fn hangup(&mut self, e: io::Error) -> WalkError {
        self.error = Some(e);
        WalkError::Hangup
    }

    fn frame(&mut self, frame: &Frame) -> Result<(), WalkError> {
        let mut buf = Vec::new();
        frame::encode(&mut buf, frame);
        self.write(&buf)
    }

    fn block(&mut self, id: ObjectId, path: &str) -> Result<(), WalkError> {
        let mut file = match self.store.open(ObjectKind::Block, &self.blocks, &id) {
            Ok(f) => f,
            Err(e) if e.is_not_found() => {
                return self.frame(&Frame::Missing {
                    kind: ObjectKind::Block,
                    id,
                    path: path.to_string(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let (store, blocks) = (self.store, self.blocks);
        let path_of = || store.path(ObjectKind::Block, &blocks, &id);
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("reading", &path_of(), e))?
            .len();
        if len + 20 > u64::from(frame::MAX_FRAME) {
            return Err(WalkError::Store(StoreError::io(
                "sending",
                &path_of(),
                io::Error::other(format!("a block of {len} bytes is larger than a pack frame")),
            )));
        }
        self.write(&frame::block_header(&id, len as u32))?;
        // A block that changes size while it is read would break the framing: copy exactly `len`.
        let copied = match self.out.copy_from(&mut file, len) {
            Ok(n) => n,
            Err(e) => return Err(self.hangup(e)),
        };
        if copied != len {
            return Err(WalkError::Store(StoreError::io(
                "reading",
                &path_of(),
                io::Error::new(io::ErrorKind::UnexpectedEof, "the block shrank while it was sent"),
            )));
        }
        Ok(())
    }
}

impl<W: PackOut> Sink for FrameSink<'_, W> {
    fn send(&mut self, item: Item<'_>) -> Result<(), WalkError> {
        self.objects += 1;
        match item {
            Item::Object(kind, bytes) => {
                self.write(&frame::object_header(kind, bytes.len() as u32))?;
                self.write(&bytes)
            }
            Item::Block { id, path } => self.block(id, path),
            Item::Missing { kind, id, path } => self.frame(&Frame::Missing { kind, id, path }),
        }
    }
}
