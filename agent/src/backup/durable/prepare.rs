//! The costly half of a group's step 2, on several threads: writing each small object to its
//! temp file. A first copy of many small objects spends its time creating and writing files of
//! about a kilobyte, which the kernel does for several files at once; the committer's single
//! thread doing it one after the other was the copy's bottleneck.
//!
//! Only the temp files are written here. The renames that give objects their names stay on
//! the committer's thread, in closure order (see [`super::group`]), so a batch whose object
//! fails still leaves every later object of it without a name, exactly as before. A temp file
//! has no object name, and recovery removes those of every journal's objects, so writing them
//! early changes nothing a crash can leave behind.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use seaf_seafile::StoreError;

use super::batch::{Payload, Staged};
use super::disk::Disk;
use super::group::io_error;
use super::journal::Entry;
use super::layout::Layout;

/// Threads writing temp files. More than the cores: each spends most of its time in the
/// kernel, waiting on the file system's locks and the journal as much as computing.
pub const WRITER_THREADS: usize = 4;
/// Below this many objects one thread does it: starting threads would cost more than it saves.
const PARALLEL_FROM: usize = 32;

/// What the rename pass does with one object.
#[derive(Debug)]
pub enum Prepared {
    /// Already in the store: nothing to do.
    Present,
    /// Written to this temp file; its rename is next.
    Temp(PathBuf),
    /// It could not be written: its batch fails here.
    Failed(StoreError),
    /// Left to the rename pass: a large block (already in a staging file), or the second
    /// occurrence of an object in the group (the first one's fate decides it).
    Later,
}

/// Prepares `objects` (every object of the group, in order) for the rename pass; one answer
/// each, in the same order; temp files are named for `writer`'s group `seq`.
pub fn prepare(disk: &dyn Disk, layout: &Layout, (writer, seq): (&str, u64), objects: &[&Staged]) -> Vec<Prepared> {
    let mut out: Vec<Prepared> = objects.iter().map(|_| Prepared::Later).collect();
    // The first occurrence of each small object; the rename pass handles the rest.
    let mut seen = HashSet::with_capacity(objects.len());
    let todo: Vec<usize> = (0..objects.len())
        .filter(|&i| seen.insert(objects[i].entry) && !matches!(objects[i].payload, Payload::File { .. }))
        .collect();
    let work = |i: usize| write_temp(disk, layout, (writer, seq), objects[i]);
    for (i, prepared) in run(&todo, &work) {
        out[i] = prepared;
    }
    out
}

/// `work` for every index of `todo`, on [`WRITER_THREADS`] threads when there are enough.
fn run(todo: &[usize], work: &(dyn Fn(usize) -> Prepared + Sync)) -> Vec<(usize, Prepared)> {
    if todo.len() < PARALLEL_FROM {
        return todo.iter().map(|&i| (i, work(i))).collect();
    }
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = todo.get(n) else { return done };
            done.push((i, work(i)));
        }
    };
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..WRITER_THREADS).map(|_| scope.spawn(take)).collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a temp-file writer panicked"))
            .collect()
    })
}

/// One small object: present already, or written to its temp file.
pub(super) fn write_temp(disk: &dyn Disk, layout: &Layout, (writer, seq): (&str, u64), s: &Staged) -> Prepared {
    let Payload::Bytes(data) = &s.payload else {
        return Prepared::Later;
    };
    let Entry { kind, store, id } = s.entry;
    let path = layout.object(kind, &store, &id);
    match disk.exists(&path) {
        Ok(true) => return Prepared::Present,
        Ok(false) => {}
        Err(e) => return Prepared::Failed(io_error("checking", &path, e)),
    }
    let temp = layout.temp(kind, &store, &id, writer, seq);
    match in_folder(disk, &temp, || disk.write(&temp, data)) {
        Ok(()) => Prepared::Temp(temp),
        Err(e) => {
            let _ = disk.remove(&temp);
            Prepared::Failed(io_error("writing", &temp, e))
        }
    }
}

/// Runs `op`, which creates `path`; when that fails because the object's folder is not there
/// yet, creates the folder and runs `op` once more. Folders are made on demand instead of
/// being looked up first: a first copy puts most objects in a folder of their own, so the
/// set of known folders this replaced hardly ever hit and grew with the store (1.1M entries,
/// 190 MiB, for 1.2M objects).
pub(super) fn in_folder(disk: &dyn Disk, path: &Path, op: impl Fn() -> io::Result<()>) -> io::Result<()> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            disk.create_dir_all(path.parent().expect("object paths have a parent"))?;
            op()
        }
        done => done,
    }
}
