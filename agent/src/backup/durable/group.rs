//! One group: the batches the committer took together, made visible and durable with two
//! barriers however many batches and objects they hold.
//!
//! 1. the journal (every object of the group, batch by batch, in closure order) is written,
//!    then **barrier 1** (`syncfs`): the journal is durable, and so is everything any process
//!    put into the store before this group began;
//! 2. each small object goes to a temp file beside its final path and is renamed into place,
//!    each staged large block is renamed into place, nothing flushed; objects already present
//!    are skipped; a batch whose object fails stops there (its later objects may need it) and
//!    gets the error, the other batches go on;
//! 3. **barrier 2** (`syncfs`): every name and byte of the group is durable;
//! 4. the batches are answered, then the journal is unlinked (no flush: a journal that comes
//!    back after a power loss lists objects that are all whole, and recovery keeps them).
//!
//! A barrier that fails leaves the journal for recovery and the committer refuses further
//! writes (see [`super::committer`]). docs/architecture.md ("Durability") proves the order.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seaf_seafile::StoreError;

use super::batch::{Payload, Staged};
use super::disk::Disk;
use super::journal::{self, Entry};
use super::layout::Layout;
use super::prepare::{prepare, Prepared};

/// The committer's crash points (`FAILPOINTS=<name>=return` aborts the process there, as a
/// `kill -9` would; docs/reliability.md).
pub const CRASH_POINTS: [&str; 4] = [
    "group_commit.after_journal",
    "group_commit.mid_renames",
    "group_commit.before_barrier",
    "group_commit.after_barrier",
];

/// Aborts the process at `name` when the failpoint is configured (a no-op otherwise).
fn crash_point(name: &str) {
    fail::fail_point!(name, |_| std::process::abort());
}

/// What one group came to.
#[derive(Debug)]
pub struct Outcome {
    /// One per batch, in order.
    pub answers: Vec<Result<(), StoreError>>,
    /// A barrier failed: what was written may not be durable; the journal stays for recovery.
    pub barrier_failed: bool,
    pub written: u64,
    pub skipped: u64,
    pub bytes: u64,
    /// The time each completed barrier took.
    pub barriers: Vec<Duration>,
}

/// Writes groups for one writer (process) on one disk.
pub struct GroupWriter {
    disk: Arc<dyn Disk>,
    layout: Layout,
    writer: String,
    /// Object folders known to exist, so each is created once.
    dirs: HashSet<PathBuf>,
}

impl GroupWriter {
    pub fn new(disk: Arc<dyn Disk>, layout: Layout, writer: String) -> GroupWriter {
        GroupWriter {
            disk,
            layout,
            writer,
            dirs: HashSet::new(),
        }
    }

    /// Steps 1–3 for the group `seq` made of `batches`.
    pub fn commit(&mut self, seq: u64, batches: &[&[Staged]]) -> Outcome {
        let mut outcome = Outcome {
            answers: Vec::with_capacity(batches.len()),
            barrier_failed: false,
            written: 0,
            skipped: 0,
            bytes: 0,
            barriers: Vec::new(),
        };
        let journal = self.layout.journal(&self.writer, seq);
        if let Err(e) = self.write_journal(&journal, batches) {
            let _ = self.disk.remove(&journal);
            return fail_all(outcome, batches.len(), "writing the journal", &journal, &e);
        }
        if let Err(e) = self.barrier(&mut outcome) {
            outcome.barrier_failed = true;
            return fail_all(outcome, batches.len(), "flushing the journal", &journal, &e);
        }
        crash_point("group_commit.after_journal");
        self.place_all(seq, batches, &mut outcome);
        crash_point("group_commit.before_barrier");
        if let Err(e) = self.barrier(&mut outcome) {
            outcome.barrier_failed = true;
            let dir = self.layout.store().data_dir().join("storage");
            return fail_all(outcome, batches.len(), "flushing the store", &dir, &e);
        }
        crash_point("group_commit.after_barrier");
        outcome
    }

    /// Before the batches are answered: staging files that were not renamed go (their object
    /// was already present, or their batch failed before them).
    pub fn tidy(&self, batches: &[&[Staged]]) {
        for s in batches.iter().flat_map(|b| b.iter()) {
            if let Payload::File { path, .. } = &s.payload {
                let _ = self.disk.remove(path);
            }
        }
    }

    /// Step 4, after the batches were answered: the journal goes, unless a barrier failed.
    pub fn finish(&self, seq: u64, keep_journal: bool) {
        if !keep_journal {
            let _ = self.disk.remove(&self.layout.journal(&self.writer, seq));
        }
    }

    /// The outcome of a group refused because an earlier barrier failed: the kernel may have
    /// dropped data it had accepted, and only a restart, whose recovery reads the disk again,
    /// can tell what is whole.
    pub fn refuse(&self, why: &str, batches: usize) -> Outcome {
        let error = io::Error::other(format!(
            "an earlier flush of the store failed ({why}); seaf-backup writes nothing more until it is restarted and has recovered the store"
        ));
        let outcome = Outcome {
            answers: Vec::new(),
            barrier_failed: true,
            written: 0,
            skipped: 0,
            bytes: 0,
            barriers: Vec::new(),
        };
        let storage = self.layout.store().data_dir().join("storage");
        fail_all(outcome, batches, "writing", &storage, &error)
    }

    fn write_journal(&self, path: &Path, batches: &[&[Staged]]) -> io::Result<()> {
        let entries: Vec<Vec<Entry>> = batches.iter().map(|b| b.iter().map(|s| s.entry).collect()).collect();
        self.disk
            .write(path, &journal::encode(entries.iter().map(Vec::as_slice)))
    }

    fn barrier(&self, outcome: &mut Outcome) -> io::Result<()> {
        let started = Instant::now();
        self.disk.syncfs()?;
        outcome.barriers.push(started.elapsed());
        Ok(())
    }

    /// Step 2 for every batch; each batch's answer is pushed to `outcome`. The temp files are
    /// written first, on several threads ([`prepare`]); then, in closure order, each object is
    /// renamed into place, and a batch stops at its first object that failed.
    fn place_all(&mut self, seq: u64, batches: &[&[Staged]], outcome: &mut Outcome) {
        let all: Vec<&Staged> = batches.iter().flat_map(|b| b.iter()).collect();
        let mut prepared: Vec<Option<Prepared>> = {
            let (disk, layout, dirs) = (&*self.disk, &self.layout, &mut self.dirs);
            let mut ensure = |dir: &Path| ensure_dir(disk, dirs, dir);
            prepare(disk, layout, (&self.writer, seq), &all, &mut ensure)
                .into_iter()
                .map(Some)
                .collect()
        };
        let halfway = all.len().div_ceil(2);
        let mut start = 0;
        for batch in batches {
            let mut answer = Ok(());
            let slots = &mut prepared[start..start + batch.len()];
            for (k, (s, slot)) in batch.iter().zip(slots).enumerate() {
                match self.finish_one(seq, s, slot.take()) {
                    Ok(true) => {
                        outcome.written += 1;
                        outcome.bytes += s.len();
                    }
                    Ok(false) => outcome.skipped += 1,
                    Err(e) => {
                        answer = Err(e);
                        break;
                    }
                }
                // Halfway through a group of two objects or more: some in place, some not.
                if start + k + 1 == halfway && all.len() > 1 {
                    crash_point("group_commit.mid_renames");
                }
            }
            start += batch.len();
            outcome.answers.push(answer);
        }
        // Temp files of objects a failed batch never reached.
        for slot in prepared {
            if let Some(Prepared::Temp(temp)) = slot {
                let _ = self.disk.remove(&temp);
            }
        }
    }

    /// The rename pass for one object: `false` when it was already in place.
    fn finish_one(&mut self, seq: u64, s: &Staged, prepared: Option<Prepared>) -> Result<bool, StoreError> {
        match prepared {
            Some(Prepared::Present) => Ok(false),
            Some(Prepared::Failed(e)) => Err(e),
            Some(Prepared::Temp(temp)) => {
                let path = self.layout.object(s.entry.kind, &s.entry.store, &s.entry.id);
                self.disk.rename(&temp, &path).map_err(|e| {
                    let _ = self.disk.remove(&temp);
                    io_error("renaming into place", &path, e)
                })?;
                Ok(true)
            }
            Some(Prepared::Later) | None => self.place(seq, s),
        }
    }

    /// Puts one object in place: `false` when it already was.
    fn place(&mut self, seq: u64, s: &Staged) -> Result<bool, StoreError> {
        let Entry { kind, store, id } = s.entry;
        let path = self.layout.object(kind, &store, &id);
        if self.disk.exists(&path).map_err(|e| io_error("checking", &path, e))? {
            return Ok(false);
        }
        self.ensure_dir(path.parent().expect("object paths have a parent"))?;
        match &s.payload {
            Payload::Bytes(data) => {
                let temp = self.layout.temp(kind, &store, &id, &self.writer, seq);
                let placed = self
                    .disk
                    .write(&temp, data)
                    .map_err(|e| io_error("writing", &temp, e))
                    .and_then(|()| {
                        self.disk
                            .rename(&temp, &path)
                            .map_err(|e| io_error("renaming into place", &path, e))
                    });
                if placed.is_err() {
                    let _ = self.disk.remove(&temp);
                }
                placed?;
            }
            Payload::File { path: staged, .. } => self
                .disk
                .rename(staged, &path)
                .map_err(|e| io_error("renaming into place", &path, e))?,
        }
        Ok(true)
    }

    fn ensure_dir(&mut self, dir: &Path) -> Result<(), StoreError> {
        ensure_dir(&*self.disk, &mut self.dirs, dir)
    }
}

/// Creates an object folder unless `dirs` says it exists.
fn ensure_dir(disk: &dyn Disk, dirs: &mut HashSet<PathBuf>, dir: &Path) -> Result<(), StoreError> {
    if !dirs.contains(dir) {
        disk.create_dir_all(dir)
            .map_err(|e| io_error("creating directory", dir, e))?;
        dirs.insert(dir.to_path_buf());
    }
    Ok(())
}

/// Every batch (those already answered included) gets `action` on `path` failed with `e`.
fn fail_all(mut outcome: Outcome, batches: usize, action: &'static str, path: &Path, e: &io::Error) -> Outcome {
    outcome.answers = (0..batches).map(|_| Err(io_error(action, path, copy(e)))).collect();
    outcome
}

pub fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// An equal error for another batch (`io::Error` is not `Clone`); the OS code is kept, so the
/// disk-full hint still shows.
pub fn copy(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}
