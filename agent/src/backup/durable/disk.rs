//! The file system operations the committer and recovery use, and nothing more, behind one
//! trait: [`RealDisk`] in production, an in-memory disk in the tests that can lose power
//! (`tests/sim.rs`), so the power-loss proof runs the very code that runs here.
//!
//! No operation flushes anything but [`Disk::syncfs`]: the protocol has exactly one kind of
//! barrier, which is also the only thing the simulated disk has to model.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What group commit does to a disk.
pub trait Disk: Send + Sync {
    /// Creates `path` (or truncates it) and writes `data`; nothing is flushed.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Renames `from` to `to` (a new name; objects are never overwritten).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; `false` when there was none.
    fn remove(&self, path: &Path) -> io::Result<bool>;
    /// A whole file; `None` when there is none.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir` (none when it does not exist).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The barrier: everything written, renamed or removed before it is durable when it
    /// returns, on every file system the store uses.
    fn syncfs(&self) -> io::Result<()>;
}

/// The real file system. `syncfs` flushes each file system the store spans (usually one; an
/// operator may have put `storage/blocks` on another disk).
#[derive(Debug)]
pub struct RealDisk {
    /// One open directory per distinct file system.
    filesystems: Vec<(PathBuf, File)>,
}

impl RealDisk {
    /// A disk whose barrier covers the file systems of `dirs` (which must exist).
    pub fn new(dirs: &[PathBuf]) -> io::Result<RealDisk> {
        let mut filesystems: Vec<(u64, PathBuf, File)> = Vec::new();
        for dir in dirs {
            let dev = fs::metadata(dir)?.dev();
            if filesystems.iter().all(|(d, _, _)| *d != dev) {
                filesystems.push((dev, dir.clone(), File::open(dir)?));
            }
        }
        Ok(RealDisk {
            filesystems: filesystems.into_iter().map(|(_, p, f)| (p, f)).collect(),
        })
    }
}

impl Disk for RealDisk {
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        file.write_all(data)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match fs::rename(from, to) {
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_into_place(from, to),
            other => other,
        }
    }

    fn remove(&self, path: &Path) -> io::Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn syncfs(&self) -> io::Result<()> {
        for (_, dir) in &self.filesystems {
            // SAFETY: the descriptor is open and owned by `self` for the duration of the call.
            if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Starts writing `file`'s dirty pages to the disk without waiting for them (Linux
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`, what RocksDB's `bytes_per_sync` and PostgreSQL's
/// `backend_flush_after` do). This is no barrier and promises nothing: it only lets the disk
/// write a large staged block while the next one arrives, so the group's barrier finds less
/// left to flush. Errors are ignored for the same reason (the barrier reports real ones).
pub fn start_writeback(file: &File) {
    // SAFETY: the descriptor is open for the duration of the call; the call reads no memory.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// A staged block on another file system than its store: copied to a temp file beside its
/// final path (named as `ObjectStore::sweep_temp_files` expects), then renamed, so its final
/// name never shows a partial copy.
fn copy_into_place(from: &Path, to: &Path) -> io::Result<()> {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = to.with_file_name(format!(".{name}.{}-copy.seaf-backup-tmp", std::process::id()));
    let copied = fs::copy(from, &temp).and_then(|_| fs::rename(&temp, to));
    if copied.is_err() {
        let _ = fs::remove_file(&temp);
        return copied;
    }
    fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_disk_does_what_the_trait_says() {
        let dir = tempfile::tempdir().unwrap();
        let disk = RealDisk::new(&[dir.path().to_path_buf(), dir.path().to_path_buf()]).unwrap();
        assert_eq!(disk.filesystems.len(), 1, "one file system, one syncfs");
        let (a, b) = (dir.path().join("a"), dir.path().join("sub/b"));
        assert_eq!(disk.read(&a).unwrap(), None);
        disk.write(&a, b"hello").unwrap();
        disk.create_dir_all(b.parent().unwrap()).unwrap();
        disk.rename(&a, &b).unwrap();
        assert!(!disk.exists(&a).unwrap() && disk.exists(&b).unwrap());
        assert_eq!(disk.read(&b).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(disk.list(dir.path()).unwrap(), vec!["sub".to_string()]);
        assert!(disk.list(&dir.path().join("none")).unwrap().is_empty());
        disk.syncfs().unwrap();
        assert!(disk.remove(&b).unwrap());
        assert!(!disk.remove(&b).unwrap());
    }
}
