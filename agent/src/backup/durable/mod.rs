//! Group commit: many syncs share one durability barrier.
//!
//! The closure invariant (an object in the store implies everything it references is there)
//! must survive a power loss, so an object may only get its name once everything it points at
//! is durable. Flushing each sync's batches on their own costs two barriers per tree level per
//! library: thousands on a first copy. Here every sync stages its objects in a [`Batch`] and
//! hands it to one committer thread per process, which writes whatever batches are queued as
//! one *group* with two barriers in all, however many syncs it serves:
//!
//! ```text
//!  sync ─ stage … ─▶ Batch::commit ─┐                 journal/<writer>.<seq>.list
//!  sync ─ stage … ─▶ Batch::commit ─┼─▶ committer ──▶ syncfs ──▶ temp+rename … ──▶ syncfs ──▶ answers
//!  sync ─ stage … ─▶ Batch::commit ─┘   (one group)    (1)                          (2)
//! ```
//!
//! The journal names every object of the group before any of them exists; after a crash or a
//! power loss, [`GroupCommit::open`] removes what the journals show to be torn, or to point at
//! something torn, before anything else is written. docs/architecture.md ("Durability") proves
//! that this keeps the invariant.
//!
//! - [`batch`]: [`Batch`], what a sync stages; [`committer`]: the thread that forms groups;
//!   [`group`]: the steps of one group; [`journal`]: its file; [`recovery`]: what `open` does
//!   with the journals of writers that are gone; [`references`]: what an object points at;
//!   [`writers`]: which processes are alive; [`layout`]: file names; [`disk`]: the file system
//!   operations, behind a trait the power-loss model (tests) replays.

mod batch;
mod committer;
mod disk;
mod group;
mod journal;
mod layout;
mod prepare;
mod recovery;
mod references;
mod writers;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use seaf_seafile::{ObjectKind, ObjectStore, StoreError};

pub use batch::Batch;
pub use committer::{CommitStats, MAX_GROUP_BYTES, MAX_GROUP_OBJECTS};
pub use disk::start_writeback;
pub use group::{StepTimes, CRASH_POINTS};
pub use recovery::Recovered;

use batch::{remove_staging_files, Job};
use committer::{Committer, Counters};
use disk::{Disk, RealDisk};
use group::{io_error, GroupWriter};
use layout::Layout;
use recovery::Steps;

use crate::internal_events::durable::StoreRecovered;
use crate::internal_events::InternalEvent;

/// One per backup process (cheap Clone handle). A dedicated std thread (the committer) does
/// all writes of committed batches.
#[derive(Clone)]
pub struct GroupCommit {
    shared: Arc<Shared>,
}

/// What the handles and batches share.
struct Shared {
    layout: Layout,
    writer: String,
    staging_files: AtomicU64,
    queue: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    recovered: Recovered,
}

impl GroupCommit {
    /// Recovers whatever a crash or power loss left (the journals and staging files of writers
    /// that are gone), then starts the committer thread. Waits while another process of the
    /// same store is recovering.
    pub fn open(store: ObjectStore) -> Result<GroupCommit, StoreError> {
        let layout = Layout::new(store);
        let mut dirs: Vec<PathBuf> = layout.dirs().to_vec();
        dirs.extend(ObjectKind::ALL.map(|k| layout.store().data_dir().join("storage").join(k.dir_name())));
        for dir in &dirs {
            fs::create_dir_all(dir).map_err(|e| io_error("creating directory", dir, e))?;
        }
        let disk = RealDisk::new(&dirs[1..]).map_err(|e| io_error("opening", &dirs[0], e))?;
        GroupCommit::open_on(layout, Arc::new(disk))
    }

    /// [`GroupCommit::open`] over another [`Disk`] (the tests'), on a prepared layout.
    fn open_on(layout: Layout, disk: Arc<dyn Disk>) -> Result<GroupCommit, StoreError> {
        let lock_path = layout.recovery_lock();
        let locked = |e| io_error("locking", &lock_path, e);
        let recovering = writers::lock_recovery(&layout).map_err(locked)?;
        let live = writers::live_writers(&layout).map_err(locked)?;
        let started = Instant::now();
        let recovered = recovery::recover(&*disk, &layout, &|w| !live.contains(w), Steps::default())?;
        writers::remove_dead_locks(&layout, &live).map_err(locked)?;
        StoreRecovered {
            recovered: &recovered,
            took: started.elapsed(),
        }
        .emit();
        let claim = writers::claim(&layout).map_err(locked)?;
        drop(recovering);

        let (sender, queue) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let name = claim.name.clone();
        let writer = GroupWriter::new(disk, layout.clone(), name.clone());
        let committer = Committer::new(writer, claim, queue, counters.clone());
        let thread = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || committer.run())
            .map_err(|e| io_error("starting the committer for", &layout.journal_dir(), e))?;
        let shared = Arc::new(Shared {
            writer: name,
            layout,
            staging_files: AtomicU64::new(0),
            queue: Mutex::new(Some(sender)),
            thread: Mutex::new(None),
            counters,
            recovered,
        });
        *shared.thread.lock().expect("committer handle") = Some(thread);
        let commit = GroupCommit { shared };
        Ok(commit)
    }

    /// An empty batch for one sync.
    pub fn batch(&self) -> Batch {
        Batch::new(self.shared.clone())
    }

    /// Stops the committer after the batches already handed over are done (joins the thread).
    /// Later commits fail. Idempotent.
    pub fn stop(&self) {
        drop(self.shared.queue.lock().expect("committer queue").take());
        let thread = self.shared.thread.lock().expect("committer handle").take();
        if let Some(thread) = thread {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Groups, barriers and objects since `open`.
    pub fn stats(&self) -> CommitStats {
        self.shared.counters.snapshot()
    }

    /// What `open`'s recovery did.
    pub fn recovered(&self) -> &Recovered {
        &self.shared.recovered
    }

    /// The store this commits to.
    pub fn store(&self) -> &ObjectStore {
        self.shared.layout.store()
    }
}

impl Shared {
    fn next_staging_path(&self) -> PathBuf {
        let n = self.staging_files.fetch_add(1, Ordering::Relaxed);
        self.layout.staging(&self.writer, n)
    }

    /// Queues a job for the committer; when it has stopped, the job's staging files go and
    /// the answer is an error.
    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let queue = self.queue.lock().expect("committer queue");
        let refused = match queue.as_ref() {
            Some(q) => match q.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        remove_staging_files(&refused.objects);
        Err(self.stopped())
    }

    fn stopped(&self) -> StoreError {
        io_error(
            "committing to",
            &self.layout.journal_dir(),
            std::io::Error::other("the committer has stopped (the backup is stopping)"),
        )
    }
}
