//! One group: the batches the committer took together, made visible and durable with one
//! barrier of its own and one it shares with the next group, however many batches and objects
//! they hold.
//!
//! 1. the journal (every object of the group, batch by batch, in closure order) is written,
//!    then **barrier 1** (`syncfs`): the journal is durable, and so is everything any process
//!    put into the store before this group began, the previous group's names included;
//! 2. each small object goes to a temp file beside its final path and is renamed into place,
//!    each staged large block is renamed into place, nothing flushed; objects already present
//!    are skipped; a batch whose object fails stops there (its later objects may need it) and
//!    gets the error, the other batches go on;
//! 3. **barrier 2** (`syncfs`): every name and byte of the group is durable;
//! 4. the batches are answered, then the journal is unlinked (no flush: a journal that comes
//!    back after a power loss lists objects that are all whole, and recovery keeps them).
//!
//! Barrier 2 of one group and barrier 1 of the next are the same `syncfs` when the next
//! group's batches are already queued ([`GroupWriter::advance`]: the next journal is written
//! first, then the one barrier settles the placed group and makes the journal durable), so a
//! busy committer pays one barrier a group, not two. A barrier that fails leaves the journals
//! for recovery and the committer refuses further writes (see [`super::committer`]).
//! docs/architecture.md ("Durability") proves the order.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seaf_seafile::StoreError;

use super::batch::{Payload, Staged};
use super::disk::Disk;
use super::journal::{self, Entry};
use super::layout::Layout;
use super::prepare::{in_folder, prepare, write_temp, Prepared, WRITER_THREADS};

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
#[derive(Debug, Default)]
pub struct Outcome {
    /// One per batch, in order.
    pub answers: Vec<Result<(), StoreError>>,
    /// A barrier failed: what was written may not be durable; the journal stays for recovery.
    pub barrier_failed: bool,
    pub written: u64,
    pub skipped: u64,
    pub bytes: u64,
    /// The time each completed barrier took (a barrier shared with the next group counts
    /// here, in the group it settled).
    pub barriers: Vec<Duration>,
    /// The committer's time on the group's other steps.
    pub steps: StepTimes,
}

/// Where a group's time went, besides its barriers.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepTimes {
    pub journal: Duration,
    /// Writing small objects to temp files (on several threads).
    pub temp_files: Duration,
    /// Renaming them, and staged blocks, into place.
    pub renames: Duration,
}

impl Outcome {
    /// The committer's own time on this group: what the syncs waited for.
    pub fn took(&self) -> Duration {
        let StepTimes {
            journal,
            temp_files,
            renames,
        } = self.steps;
        self.barriers.iter().sum::<Duration>() + journal + temp_files + renames
    }
}

/// A group whose objects have their names but are not yet durable (steps 1–2 done): its
/// batches are answered after the next barrier.
#[derive(Debug)]
pub struct Placed {
    seq: u64,
    outcome: Outcome,
}

/// What one [`GroupWriter::advance`] came to.
#[derive(Debug, Default)]
pub struct Advanced {
    /// The group placed before, settled by this barrier (or failed with it): its answers.
    pub settled: Option<(u64, Outcome)>,
    /// The group given: placed, its answers waiting for the next barrier; or failed already.
    pub next: Option<Result<Placed, (u64, Outcome)>>,
}

/// When a group's temp files are written, relative to the barrier that makes its journal
/// durable. They are no object names, so any order keeps the invariant; the power-loss model
/// runs both extremes of what [`Overlap::Concurrent`] can give, with the renames on one
/// thread so that a history's disk operations always come in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// On the committer's thread while another thread waits in the barrier (production: the
    /// disk flushes while the next files are created); independent batches renamed on
    /// several threads.
    Concurrent,
    /// All before the barrier starts (the model: each may be durable, or not, with or without
    /// the journal).
    #[cfg_attr(not(test), allow(dead_code))]
    TempFilesFirst,
    /// All after the barrier returns (the model: none of them is covered by it).
    #[cfg_attr(not(test), allow(dead_code))]
    BarrierFirst,
}

/// What [`GroupWriter::barrier_and_temp_files`] came to.
struct Flushed {
    barrier: io::Result<()>,
    took: Duration,
    prepared: Option<Vec<Option<Prepared>>>,
    temp_files: Duration,
}

/// Writes groups for one writer (process) on one disk.
pub struct GroupWriter {
    disk: Arc<dyn Disk>,
    layout: Layout,
    writer: String,
    overlap: Overlap,
}

impl GroupWriter {
    pub fn new(disk: Arc<dyn Disk>, layout: Layout, writer: String) -> GroupWriter {
        GroupWriter {
            disk,
            layout,
            writer,
            overlap: Overlap::Concurrent,
        }
    }

    /// The same writer with temp files written in the order `overlap` (for the model).
    #[cfg(test)]
    pub fn with_overlap(self, overlap: Overlap) -> GroupWriter {
        GroupWriter { overlap, ..self }
    }

    /// One barrier: step 3 of `placed` (the group placed before, if any) and step 1 of
    /// `next` (the group `seq` made of `batches`, if any), whose journal is written before
    /// it; then step 2 of `next`. Step 4 is the caller's, for what comes back settled.
    pub fn advance(&mut self, placed: Option<Placed>, next: Option<(u64, &[&[Staged]])>) -> Advanced {
        let mut advanced = Advanced::default();
        let journaled = next.and_then(|(seq, batches)| {
            let journal = self.layout.journal(&self.writer, seq);
            let started = Instant::now();
            match self.write_journal(&journal, batches) {
                Ok(()) => Some((seq, batches, started.elapsed())),
                Err(e) => {
                    let _ = self.disk.remove(&journal);
                    let failed = fail_all(Outcome::default(), batches.len(), "writing the journal", &journal, &e);
                    advanced.next = Some(Err((seq, failed)));
                    None
                }
            }
        });
        if placed.is_none() && journaled.is_none() {
            return advanced;
        }
        if placed.is_some() {
            crash_point("group_commit.before_barrier");
        }
        let to_prepare = journaled.map(|(seq, batches, _)| (seq, batches));
        let Flushed {
            barrier,
            took,
            prepared,
            temp_files,
        } = self.barrier_and_temp_files(to_prepare);
        if let Some(Placed { seq, mut outcome }) = placed {
            if barrier.is_ok() {
                outcome.barriers.push(took);
                crash_point("group_commit.after_barrier");
            }
            advanced.settled = Some((seq, self.settle(outcome, &barrier)));
        }
        if let (Some((seq, batches, journal)), Some(prepared)) = (journaled, prepared) {
            let mut outcome = Outcome::default();
            outcome.steps.journal = journal;
            outcome.steps.temp_files = temp_files;
            if advanced.settled.is_none() && barrier.is_ok() {
                outcome.barriers.push(took);
            }
            advanced.next = Some(match &barrier {
                Err(e) => {
                    self.remove_temp_files(prepared);
                    outcome.barrier_failed = true;
                    let journal = self.layout.journal(&self.writer, seq);
                    Err((
                        seq,
                        fail_all(outcome, batches.len(), "flushing the journal", &journal, e),
                    ))
                }
                Ok(()) => {
                    crash_point("group_commit.after_journal");
                    self.rename_all(seq, batches, prepared, &mut outcome);
                    Ok(Placed { seq, outcome })
                }
            });
        }
        advanced
    }

    /// The barrier, and the temp files of the group `next` (if any) in the order
    /// [`Overlap`] says.
    fn barrier_and_temp_files(&mut self, next: Option<(u64, &[&[Staged]])>) -> Flushed {
        let flush = |disk: &dyn Disk| {
            let started = Instant::now();
            let barrier = disk.syncfs();
            (barrier, started.elapsed())
        };
        let prepare = |writer: &mut GroupWriter| {
            let started = Instant::now();
            let prepared = next.map(|(seq, batches)| writer.prepare_all(seq, batches));
            (prepared, started.elapsed())
        };
        let disk = self.disk.clone();
        let ((barrier, took), (prepared, temp_files)) = match self.overlap {
            Overlap::BarrierFirst => (flush(&*disk), prepare(self)),
            Overlap::TempFilesFirst => {
                let prepared = prepare(self);
                (flush(&*disk), prepared)
            }
            Overlap::Concurrent => std::thread::scope(|scope| {
                let flushing = scope.spawn(|| flush(&*disk));
                let prepared = prepare(self);
                (flushing.join().expect("the barrier thread panicked"), prepared)
            }),
        };
        Flushed {
            barrier,
            took,
            prepared,
            temp_files,
        }
    }

    /// A placed group's outcome once its barrier 2 returned `barrier`.
    fn settle(&self, outcome: Outcome, barrier: &io::Result<()>) -> Outcome {
        match barrier {
            Ok(()) => outcome,
            Err(e) => {
                let batches = outcome.answers.len();
                let outcome = Outcome {
                    barrier_failed: true,
                    ..outcome
                };
                let dir = self.layout.store().data_dir().join("storage");
                fail_all(outcome, batches, "flushing the store", &dir, e)
            }
        }
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
            barrier_failed: true,
            ..Outcome::default()
        };
        let storage = self.layout.store().data_dir().join("storage");
        fail_all(outcome, batches, "writing", &storage, &error)
    }

    fn write_journal(&self, path: &Path, batches: &[&[Staged]]) -> io::Result<()> {
        let entries: Vec<Vec<Entry>> = batches.iter().map(|b| b.iter().map(|s| s.entry).collect()).collect();
        self.disk
            .write(path, &journal::encode(entries.iter().map(Vec::as_slice)))
    }

    /// The first half of step 2: the group's small objects written to temp files, on
    /// several threads ([`prepare`]).
    fn prepare_all(&mut self, seq: u64, batches: &[&[Staged]]) -> Vec<Option<Prepared>> {
        let all: Vec<&Staged> = batches.iter().flat_map(|b| b.iter()).collect();
        prepare(&*self.disk, &self.layout, (&self.writer, seq), &all)
            .into_iter()
            .map(Some)
            .collect()
    }

    /// The second half of step 2, for every batch; each batch's answer is pushed to
    /// `outcome`. In closure order, each object is renamed into place, and a batch stops at
    /// its first object that failed. Batches that share no object are independent (what one
    /// points at is staged earlier in it, or was present before the group), so they are
    /// renamed on several threads; batches that share one go on one thread, in order.
    fn rename_all(&mut self, seq: u64, batches: &[&[Staged]], prepared: Vec<Option<Prepared>>, outcome: &mut Outcome) {
        let started = Instant::now();
        let total = prepared.len();
        let mut slots = prepared.into_iter();
        let mut per_batch: Vec<Option<Vec<Option<Prepared>>>> = batches
            .iter()
            .map(|b| Some(slots.by_ref().take(b.len()).collect()))
            .collect();
        let mut work: Vec<Vec<(usize, Vec<Option<Prepared>>)>> = Vec::new();
        for component in components(batches) {
            work.push(
                component
                    .into_iter()
                    .map(|b| (b, per_batch[b].take().expect("one component a batch")))
                    .collect(),
            );
        }
        let renamed = AtomicUsize::new(0);
        let halfway = total.div_ceil(2);
        let this = &*self;
        let rename_component = |component: Vec<(usize, Vec<Option<Prepared>>)>| {
            component
                .into_iter()
                .map(|(b, slots)| (b, this.rename_batch(seq, batches[b], slots, (&renamed, halfway, total))))
                .collect::<Vec<_>>()
        };
        let threads = if self.overlap == Overlap::Concurrent {
            WRITER_THREADS
        } else {
            1
        };
        let mut results: Vec<(usize, Renamed)> = run_all(work, threads, &rename_component)
            .into_iter()
            .flatten()
            .collect();
        results.sort_by_key(|(b, _)| *b);
        for (_, r) in results {
            outcome.written += r.written;
            outcome.skipped += r.skipped;
            outcome.bytes += r.bytes;
            outcome.answers.push(r.answer);
            // Temp files of objects a failed batch never reached.
            self.remove_temp_files(r.left);
        }
        outcome.steps.renames = started.elapsed();
    }

    /// One batch's renames, in order, stopping at its first failure.
    fn rename_batch(
        &self,
        seq: u64,
        batch: &[Staged],
        mut slots: Vec<Option<Prepared>>,
        (renamed, halfway, total): (&AtomicUsize, usize, usize),
    ) -> Renamed {
        let mut r = Renamed {
            answer: Ok(()),
            written: 0,
            skipped: 0,
            bytes: 0,
            left: Vec::new(),
        };
        for (s, slot) in batch.iter().zip(slots.iter_mut()) {
            match self.finish_one(seq, s, slot.take()) {
                Ok(true) => {
                    r.written += 1;
                    r.bytes += s.len();
                }
                Ok(false) => r.skipped += 1,
                Err(e) => {
                    r.answer = Err(e);
                    break;
                }
            }
            // Halfway through a group of two objects or more: some in place, some not.
            if renamed.fetch_add(1, Ordering::Relaxed) + 1 == halfway && total > 1 {
                crash_point("group_commit.mid_renames");
            }
        }
        r.left = slots;
        r
    }

    fn remove_temp_files(&self, prepared: Vec<Option<Prepared>>) {
        for slot in prepared {
            if let Some(Prepared::Temp(temp)) = slot {
                let _ = self.disk.remove(&temp);
            }
        }
    }

    /// The rename pass for one object: `false` when it was already in place.
    fn finish_one(&self, seq: u64, s: &Staged, prepared: Option<Prepared>) -> Result<bool, StoreError> {
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

    /// Puts in place one object the prepare pass left (a staged file, or bytes it did not get
    /// to): `false` when it already was. Bytes go the prepare pass's way, a temp file renamed.
    fn place(&self, seq: u64, s: &Staged) -> Result<bool, StoreError> {
        let Entry { kind, store, id } = s.entry;
        let path = self.layout.object(kind, &store, &id);
        let Payload::File { path: staged, .. } = &s.payload else {
            let temp = write_temp(&*self.disk, &self.layout, (&self.writer, seq), s);
            return self.finish_one(seq, s, Some(temp));
        };
        if self.disk.exists(&path).map_err(|e| io_error("checking", &path, e))? {
            return Ok(false);
        }
        in_folder(&*self.disk, &path, || self.disk.rename(staged, &path))
            .map_err(|e| io_error("renaming into place", &path, e))?;
        Ok(true)
    }
}

/// One batch's renames.
struct Renamed {
    answer: Result<(), StoreError>,
    written: u64,
    skipped: u64,
    bytes: u64,
    /// Its slots the renames did not reach.
    left: Vec<Option<Prepared>>,
}

/// The batches of a group in sets that share no object with each other, each set in order
/// (union-find over the objects they stage).
fn components(batches: &[&[Staged]]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..batches.len()).collect();
    fn root(parent: &mut [usize], mut b: usize) -> usize {
        while parent[b] != b {
            parent[b] = parent[parent[b]];
            b = parent[b];
        }
        b
    }
    let mut first: HashMap<Entry, usize> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        for s in batch.iter() {
            let a = *first.entry(s.entry).or_insert(b);
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut sets: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for b in 0..batches.len() {
        let r = root(&mut parent, b);
        let i = *index.entry(r).or_insert_with(|| {
            sets.push(Vec::new());
            sets.len() - 1
        });
        sets[i].push(b);
    }
    sets
}

/// `work` on each item, on `threads` threads (one when there are few items).
fn run_all<T: Send, R: Send>(items: Vec<T>, threads: usize, work: &(dyn Fn(T) -> R + Sync)) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return items.into_iter().map(work).collect();
    }
    let queue = Mutex::new(items.into_iter());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let Some(item) = queue.lock().expect("the work queue").next() else {
                            return done;
                        };
                        done.push(work(item));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a rename thread panicked"))
            .collect()
    })
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

#[cfg(test)]
mod tests {
    use seaf_seafile::{ObjectId, ObjectKind, RepoId};

    use super::*;

    fn staged(n: u8) -> Staged {
        let store = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
        Staged {
            entry: Entry {
                kind: ObjectKind::Block,
                store,
                id: ObjectId::hash_of(&[n]),
            },
            payload: Payload::Bytes(vec![n]),
        }
    }

    #[test]
    fn batches_that_share_an_object_are_renamed_together_in_order() {
        let batches: Vec<Vec<Staged>> = vec![
            vec![staged(1), staged(2)],
            vec![staged(3)],
            vec![staged(4), staged(2)],
            vec![staged(5), staged(4)],
            vec![staged(6)],
        ];
        let slices: Vec<&[Staged]> = batches.iter().map(Vec::as_slice).collect();
        assert_eq!(components(&slices), vec![vec![0, 2, 3], vec![1], vec![4]]);
        assert_eq!(components(&[]), Vec::<Vec<usize>>::new());
    }
}
