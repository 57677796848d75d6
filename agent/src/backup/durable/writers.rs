//! Which processes write to the store: each live one holds `writers/<writer>.lock` locked
//! (`flock`, released by the kernel when the process dies, however it dies), so a process that
//! starts beside a running backup (`seaf-backup sync`) recovers only the journals and staging
//! files of writers that are gone, never those of the one at work. A pid alone would not do:
//! after a reboot another process may well have the dead writer's pid.
//!
//! Opening is serialized by `recovery.lock`: a process recovers and claims its name under it,
//! so no process writes while another is still removing what a power loss tore, and a writer
//! is never seen between creating its lock file and locking it.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::layout::{new_writer, writer_of, Layout};

/// Held while this process recovers and claims its writer name.
pub struct RecoveryLock(#[allow(dead_code)] File);

/// Waits for (then holds) the store's recovery lock.
pub fn lock_recovery(layout: &Layout) -> io::Result<RecoveryLock> {
    let file = open_lock(&layout.recovery_lock())?;
    flock(&file, libc::LOCK_EX)?;
    Ok(RecoveryLock(file))
}

/// This process's writer name, locked for as long as the value lives.
pub struct WriterClaim {
    pub name: String,
    path: PathBuf,
    _lock: File,
}

impl WriterClaim {
    /// Gives the name up for good (after a clean stop: nothing of it is left to recover).
    pub fn release(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A fresh writer name, its lock file created and locked.
pub fn claim(layout: &Layout) -> io::Result<WriterClaim> {
    let name = new_writer();
    let path = layout.writer_lock(&name);
    let file = open_lock(&path)?;
    if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
        return Err(io::Error::other(format!(
            "{} is locked by another process",
            path.display()
        )));
    }
    Ok(WriterClaim {
        name,
        path,
        _lock: file,
    })
}

/// The writers whose lock is held now (by this process or another).
pub fn live_writers(layout: &Layout) -> io::Result<HashSet<String>> {
    let mut live = HashSet::new();
    let dir = layout.writers_dir();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(file) = File::open(entry.path()) else { continue };
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
            live.insert(writer_of(&name).to_string());
        }
    }
    Ok(live)
}

/// Removes the lock files of writers not in `live` (after their files were recovered).
pub fn remove_dead_locks(layout: &Layout, live: &HashSet<String>) -> io::Result<()> {
    for entry in fs::read_dir(layout.writers_dir())? {
        let entry = entry?;
        let name = entry.file_name();
        if !live.contains(writer_of(&name.to_string_lossy())) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn open_lock(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `flock(op)`: `false` when a non-blocking lock is held elsewhere.
fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_seafile::ObjectStore;

    #[test]
    fn a_held_claim_is_live_and_a_released_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(ObjectStore::new(dir.path()));
        for d in layout.dirs() {
            fs::create_dir_all(d).unwrap();
        }
        let _recovering = lock_recovery(&layout).unwrap();
        let a = claim(&layout).unwrap();
        let b = claim(&layout).unwrap();
        // A writer that died without a clean stop: its lock file stays, unlocked.
        let gone = layout.writer_lock("1-dead");
        File::create(&gone).unwrap();
        let live = live_writers(&layout).unwrap();
        assert_eq!(live, HashSet::from([a.name.clone(), b.name.clone()]));
        remove_dead_locks(&layout, &live).unwrap();
        assert!(!gone.exists());
        let b_name = b.name.clone();
        drop(b);
        assert!(!live_writers(&layout).unwrap().contains(&b_name), "unlocked at drop");
        a.release();
        assert!(live_writers(&layout).unwrap().is_empty());
    }
}
