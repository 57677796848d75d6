//! The committer: one std thread per backup process that does every write of committed
//! batches. It takes all batches queued when it becomes free (natural group commit: no timer,
//! a lone batch goes at once, a busy disk gathers more per barrier), up to
//! [`MAX_GROUP_OBJECTS`] objects or [`MAX_GROUP_BYTES`] bytes a group.
//!
//! Groups overlap by one barrier: once a group's objects have their names, the batches queued
//! meanwhile form the next group, whose journal is written before the barrier that settles the
//! first (see [`super::group`]). The next group's names come only after that barrier, so
//! whatever a sync found already in the store when it staged its batch is durable before any
//! object of that batch gets a name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use super::batch::{Job, Staged};
use super::group::{Advanced, GroupWriter, Outcome, Placed};
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
    /// `syncfs` calls that completed (two per group, one when groups follow each other).
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
        let mut placed: Option<InFlight> = None;
        loop {
            let jobs = match placed {
                Some(_) => self.queued_group(),
                None => match self.next_group() {
                    Some(jobs) => Some(jobs),
                    None => break,
                },
            };
            placed = self.advance(placed, jobs);
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
        Some(self.fill(first))
    }

    /// Like [`Self::next_group`], without waiting: `None` when nothing is queued.
    fn queued_group(&mut self) -> Option<Vec<Job>> {
        let first = self.carry.take().or_else(|| self.queue.try_recv().ok())?;
        Some(self.fill(first))
    }

    /// `first` and whatever else is queued, within the group's bounds.
    fn fill(&mut self, first: Job) -> Vec<Job> {
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
        jobs
    }

    /// One barrier: settles `placed` and answers it, and places `jobs` (the next group).
    fn advance(&mut self, placed: Option<InFlight>, jobs: Option<Vec<Job>>) -> Option<InFlight> {
        let next = jobs.map(|jobs| {
            let seq = self.seq;
            self.seq += 1;
            InFlight::new(seq, jobs)
        });
        if let Some(why) = self.poisoned.clone() {
            // A barrier failed: it settled (failed) whatever was placed, so nothing is.
            if let Some(next) = next {
                let outcome = self.writer.refuse(&why, next.objects.len());
                self.answer(next, outcome, true);
            }
            return None;
        }
        let (previous, placed) = match placed {
            Some(mut f) => {
                let placed = f.placed.take();
                (Some(f), placed)
            }
            None => (None, None),
        };
        let Advanced { settled, next: result } = {
            let batches = next.as_ref().map(InFlight::batches);
            let given = batches
                .as_deref()
                .map(|b| (next.as_ref().expect("batches of it").seq, b));
            self.writer.advance(placed, given)
        };
        if let (Some((_, outcome)), Some(previous)) = (settled, previous) {
            self.settled(previous, outcome);
        }
        let mut next = next?;
        match result.expect("a group given comes back") {
            Ok(placed) => {
                next.placed = Some(placed);
                Some(next)
            }
            Err((_, outcome)) => {
                self.settled(next, outcome);
                None
            }
        }
    }

    /// Step 4 for a group the barrier settled (or failed).
    fn settled(&mut self, group: InFlight, outcome: Outcome) {
        self.account(group.objects.len(), &outcome);
        self.answer(group, outcome, false);
    }

    fn answer(&self, group: InFlight, outcome: Outcome, keep_journal: bool) {
        let batches = group.batches();
        self.writer.tidy(&batches);
        let keep_journal = keep_journal || outcome.barrier_failed;
        for (answer, result) in group.answers.into_iter().zip(outcome.answers) {
            let _ = answer.send(result);
        }
        self.writer.finish(group.seq, keep_journal);
    }

    fn account(&mut self, batches: usize, outcome: &Outcome) {
        self.counters.add(batches, outcome);
        GroupCommitted {
            batches: batches as u64,
            written: outcome.written,
            skipped: outcome.skipped,
            bytes: outcome.bytes,
            barriers: &outcome.barriers,
            steps: outcome.steps,
            took: outcome.took(),
        }
        .emit();
        if outcome.barrier_failed && self.poisoned.is_none() {
            let error = outcome.answers.iter().find_map(|a| a.as_ref().err());
            let why = error.map_or_else(|| "a flush failed".to_string(), |e| e.to_string());
            StoreFlushFailed { error: &why }.emit();
            self.poisoned = Some(why);
        }
    }
}

/// A group the committer took: its batches, where their answers go, and, once its objects
/// have their names, what waits for the barrier that settles it.
struct InFlight {
    seq: u64,
    answers: Vec<tokio::sync::oneshot::Sender<Result<(), seaf_seafile::StoreError>>>,
    objects: Vec<Vec<Staged>>,
    placed: Option<Placed>,
}

impl InFlight {
    fn new(seq: u64, jobs: Vec<Job>) -> InFlight {
        let (answers, objects) = jobs.into_iter().map(|j| (j.answer, j.objects)).unzip();
        InFlight {
            seq,
            answers,
            objects,
            placed: None,
        }
    }

    fn batches(&self) -> Vec<&[Staged]> {
        self.objects.iter().map(Vec::as_slice).collect()
    }
}
