//! The committer: one std thread per backup process that does every write of committed
//! batches. It takes all batches queued when it becomes free (natural group commit: no timer,
//! a lone batch goes at once, a busy disk gathers more per barrier), up to
//! [`MAX_GROUP_OBJECTS`] objects or [`MAX_GROUP_BYTES`] bytes a group.
//!
//! Groups run strictly one after another, so a group starts only after the previous group's
//! barrier: whatever a sync found already in the store when it staged its batch is durable
//! before any object of that batch gets a name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

use super::batch::{Job, Staged};
use super::group::{GroupWriter, Outcome};
use super::writers::WriterClaim;
use crate::internal_events::durable::{GroupCommitted, StoreFlushFailed};
use crate::internal_events::InternalEvent;

/// Objects per group at most: bounds the journal and the time one group holds the others.
pub const MAX_GROUP_OBJECTS: usize = 20_000;
/// Bytes per group at most (a batch larger than this is a group of its own).
pub const MAX_GROUP_BYTES: u64 = 64 << 20;

/// Counters since the committer started (for tests and the bench; the metrics count the same).
#[derive(Debug, Default)]
pub struct Counters {
    groups: AtomicU64,
    barriers: AtomicU64,
    batches: AtomicU64,
    written: AtomicU64,
    skipped: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub groups: u64,
    /// `syncfs` calls that completed (two per group).
    pub barriers: u64,
    pub batches: u64,
    pub written: u64,
    /// Objects already present, not rewritten.
    pub skipped: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CommitStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CommitStats {
            groups: get(&self.groups),
            barriers: get(&self.barriers),
            batches: get(&self.batches),
            written: get(&self.written),
            skipped: get(&self.skipped),
        }
    }

    fn add(&self, batches: usize, o: &Outcome) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.barriers.fetch_add(o.barriers.len() as u64, Ordering::Relaxed);
        self.batches.fetch_add(batches as u64, Ordering::Relaxed);
        self.written.fetch_add(o.written, Ordering::Relaxed);
        self.skipped.fetch_add(o.skipped, Ordering::Relaxed);
    }
}

/// The committer thread's state.
pub struct Committer {
    pub writer: GroupWriter,
    pub claim: WriterClaim,
    pub queue: Receiver<Job>,
    pub counters: Arc<Counters>,
    /// A batch that did not fit the last group: the first of the next.
    carry: Option<Job>,
    seq: u64,
    /// Why writes are refused: a barrier failed, so the kernel may have dropped data it had
    /// accepted, and only a restart (whose recovery reads the disk again) can tell.
    poisoned: Option<String>,
}

impl Committer {
    pub fn new(writer: GroupWriter, claim: WriterClaim, queue: Receiver<Job>, counters: Arc<Counters>) -> Self {
        Committer {
            writer,
            claim,
            queue,
            counters,
            carry: None,
            seq: 0,
            poisoned: None,
        }
    }

    /// Commits groups until every handle is gone or stopped and the queue is empty.
    pub fn run(mut self) {
        while let Some(jobs) = self.next_group() {
            self.commit(jobs);
        }
        // A clean stop leaves nothing to recover; after a failed barrier the journals stay
        // for the next start, and so does the name.
        if self.poisoned.is_none() {
            self.claim.release();
        }
    }

    /// Every batch queued now, within the group's bounds; `None` once the queue is closed.
    fn next_group(&mut self) -> Option<Vec<Job>> {
        let first = self.carry.take().or_else(|| self.queue.recv().ok())?;
        let (mut objects, mut bytes) = (first.objects.len(), first.bytes);
        let mut jobs = vec![first];
        while objects < MAX_GROUP_OBJECTS && bytes < MAX_GROUP_BYTES {
            let Ok(job) = self.queue.try_recv() else { break };
            if objects + job.objects.len() > MAX_GROUP_OBJECTS || bytes + job.bytes > MAX_GROUP_BYTES {
                self.carry = Some(job);
                break;
            }
            objects += job.objects.len();
            bytes += job.bytes;
            jobs.push(job);
        }
        Some(jobs)
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let (answers, objects): (Vec<_>, Vec<Vec<Staged>>) = jobs.into_iter().map(|j| (j.answer, j.objects)).unzip();
        let batches: Vec<&[Staged]> = objects.iter().map(Vec::as_slice).collect();
        let started = Instant::now();
        let outcome = match &self.poisoned {
            Some(why) => self.writer.refuse(why, batches.len()),
            None => {
                let outcome = self.writer.commit(self.seq, &batches);
                self.account(&batches, &outcome, started);
                outcome
            }
        };
        self.writer.tidy(&batches);
        let keep_journal = outcome.barrier_failed;
        for (answer, result) in answers.into_iter().zip(outcome.answers) {
            let _ = answer.send(result);
        }
        self.writer.finish(self.seq, keep_journal);
        self.seq += 1;
    }

    fn account(&mut self, batches: &[&[Staged]], outcome: &Outcome, started: Instant) {
        self.counters.add(batches.len(), outcome);
        GroupCommitted {
            batches: batches.len() as u64,
            written: outcome.written,
            skipped: outcome.skipped,
            bytes: outcome.bytes,
            barriers: &outcome.barriers,
            took: started.elapsed(),
        }
        .emit();
        if outcome.barrier_failed {
            let error = outcome.answers.iter().find_map(|a| a.as_ref().err());
            let why = error.map_or_else(|| "a flush failed".to_string(), |e| e.to_string());
            StoreFlushFailed { error: &why }.emit();
            self.poisoned = Some(why);
        }
    }
}
