//! The open [`GroupCommit`] of each data directory in this process, by path: a bridge for
//! `replicate/disk.rs`, which has only an `ObjectStore`, until replicate is handed the
//! backup's `GroupCommit` (then this file goes). Entries are weak: the registry keeps nothing
//! alive.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use super::{GroupCommit, Shared};

static OPEN: Mutex<Vec<(PathBuf, Weak<Shared>)>> = Mutex::new(Vec::new());

pub fn register(commit: &GroupCommit) {
    let mut open = OPEN.lock().expect("registry");
    open.retain(|(_, w)| w.strong_count() > 0);
    open.push((commit.store().data_dir().to_path_buf(), Arc::downgrade(&commit.shared)));
}

pub fn unregister(commit: &GroupCommit) {
    let mut open = OPEN.lock().expect("registry");
    open.retain(|(_, w)| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(&commit.shared)));
}

/// The most recently opened handle still serving `data_dir`.
pub fn lookup(data_dir: &Path) -> Option<GroupCommit> {
    let open = OPEN.lock().expect("registry");
    open.iter()
        .rev()
        .filter(|(dir, _)| dir == data_dir)
        .find_map(|(_, w)| w.upgrade())
        .map(|shared| GroupCommit { shared })
}
