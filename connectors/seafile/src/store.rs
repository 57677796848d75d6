//! The object store on Seafile's real layout:
//! `seafile-data/storage/{commits,fs,blocks}/<store_id>/<id[0:2]>/<id[2:40]>`.
//!
//! Writes are atomic (a temp file beside the final name, then a rename) and durable in barriers:
//! [`ObjectStore::write_batch`] makes every object of a batch durable before it returns, with one
//! flush for the batch instead of one per object. Callers write a level of the object graph per
//! batch (blocks, then files, then dirs bottom-up, then commits), which is what keeps the closure
//! invariant true across a power loss.
//!
//! [`ObjectStore::prepare_data_dir`] also lays out what a Seafile server looks for beside the
//! objects ([`SERVER_DIRS`]), so seaf-server and seaf-fsck start on a backup as it is.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::id::{ObjectId, RepoId};
use crate::object::ObjectKind;

/// Past this many files in one batch, one `syncfs` is cheaper than an fsync per file.
const SYNCFS_THRESHOLD: usize = 64;

/// Suffix of in-flight temp files. Their names are never 38 hex characters, so neither this
/// crate nor Seafile takes them for objects.
const TEMP_SUFFIX: &str = ".seaf-backup-tmp";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The folders of a Seafile data directory besides `storage/`, as haiwen/seafile-server uses them:
/// - `tmpfiles/`: temp files of the block and object backends; seaf-fsck and seafserv-gc refuse
///   to start without it (server/gc/seafile-session.c), seaf-server creates it at start;
/// - `httptemp/`: the upload temp folder of seaf-server (server/upload-file.c) and the Go
///   fileserver (fileserver/fileop.go), which create it too.
///
/// Not created: `library-template/` (optional: seaf-server only warns when it is missing while
/// it makes the template library) and `seafile.conf` (configuration, the operator's).
pub const SERVER_DIRS: [&str; 2] = ["tmpfiles", "httptemp"];

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} object {id} of store {store} is missing ({path})")]
    NotFound {
        kind: ObjectKind,
        store: RepoId,
        id: ObjectId,
        path: PathBuf,
    },
    #[error("{action} {path}: {source}{}", hint(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            " (the disk is full: free space or grow the volume; nothing partial was kept and the next sync resumes where this one stopped)"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => {
            " (permission denied: run as the user that owns the Seafile data directory)"
        }
        Some(libc::EROFS) => " (the file system is read-only)",
        _ => "",
    }
}

impl StoreError {
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// Where a library's objects live: commits under the library's own id; fs objects and blocks
/// under the origin library's id for a virtual library (a shared sub-folder), else its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepoStores {
    pub repo: RepoId,
    pub objects: RepoId,
}

impl RepoStores {
    pub fn new(repo: RepoId, virtual_origin: Option<RepoId>) -> Self {
        RepoStores {
            repo,
            objects: virtual_origin.unwrap_or(repo),
        }
    }

    /// The store id holding objects of `kind`.
    pub fn store_for(&self, kind: ObjectKind) -> RepoId {
        match kind {
            ObjectKind::Commit => self.repo,
            ObjectKind::Fs | ObjectKind::Block => self.objects,
        }
    }
}

/// One object to write in a batch.
#[derive(Debug, Clone, Copy)]
pub struct NewObject<'a> {
    pub kind: ObjectKind,
    pub store: RepoId,
    pub id: ObjectId,
    pub data: &'a [u8],
}

/// A Seafile object store rooted at a `seafile-data` directory.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    data_dir: PathBuf,
    /// Whether [`ObjectStore::write_batch`] flushes (see [`ObjectStore::unsynced`]).
    synced: bool,
}

impl ObjectStore {
    /// A store over `data_dir` (the directory that holds `storage/`).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ObjectStore {
            data_dir: data_dir.into(),
            synced: true,
        }
    }

    /// A store whose writes skip both barriers: each object still appears whole under its
    /// name (temp file, then rename), but nothing is flushed, so a power loss may lose or
    /// truncate anything written. Only for data that is thrown away after a crash anyway:
    /// generated test and benchmark libraries, where the barriers were nearly all of the
    /// generator's time (one `fsync` per object and per directory, level by level).
    pub fn unsynced(data_dir: impl Into<PathBuf>) -> Self {
        ObjectStore {
            synced: false,
            ..ObjectStore::new(data_dir)
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Creates the data directory's layout where missing: `storage/{commits,fs,blocks}` and
    /// [`SERVER_DIRS`]. Existing folders and their contents are left alone.
    pub fn prepare_data_dir(&self) -> Result<(), StoreError> {
        let storage = ObjectKind::ALL.into_iter().map(|kind| self.kind_dir(kind));
        let server = SERVER_DIRS.iter().map(|d| self.data_dir.join(d));
        for dir in storage.chain(server) {
            fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        }
        Ok(())
    }

    fn kind_dir(&self, kind: ObjectKind) -> PathBuf {
        self.data_dir.join("storage").join(kind.dir_name())
    }

    /// The final path of an object. Ids are validated types, so this never leaves the store.
    pub fn path(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.kind_dir(kind).join(store.as_str()).join(&hex[..2]).join(&hex[2..])
    }

    pub fn exists(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId) -> Result<bool, StoreError> {
        let path = self.path(kind, store, id);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("checking", &path, e)),
        }
    }

    /// Opens an object for streaming (large blocks).
    pub fn open(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId) -> Result<File, StoreError> {
        let path = self.path(kind, store, id);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound {
                    kind,
                    store: *store,
                    id: *id,
                    path: path.clone(),
                }
            } else {
                StoreError::io("opening", &path, e)
            }
        })
    }

    /// Reads a whole object.
    pub fn read(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId) -> Result<Vec<u8>, StoreError> {
        let path = self.path(kind, store, id);
        fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound {
                    kind,
                    store: *store,
                    id: *id,
                    path: path.clone(),
                }
            } else {
                StoreError::io("reading", &path, e)
            }
        })
    }

    /// Writes one object atomically and durably.
    pub fn write(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId, data: &[u8]) -> Result<(), StoreError> {
        self.write_batch(&[NewObject {
            kind,
            store: *store,
            id: *id,
            data,
        }])
    }

    /// Writes a batch of objects; when it returns `Ok`, all of them are in place and durable
    /// (in place only, for an [`ObjectStore::unsynced`] store).
    ///
    /// Each object goes to a temp file first; all temp files are flushed, then renamed into place,
    /// then their directories are flushed. A crash at any point leaves each object either absent
    /// or complete. On error the batch's temp files are removed; objects already renamed stay
    /// (they are complete, and their children were made durable by an earlier batch).
    pub fn write_batch(&self, objects: &[NewObject<'_>]) -> Result<(), StoreError> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut dirs_to_sync = BTreeSet::new();
        let mut staged: Vec<(PathBuf, PathBuf, File)> = Vec::with_capacity(objects.len());
        let result = self.stage_and_commit(objects, &mut dirs_to_sync, &mut staged);
        if result.is_err() {
            for (tmp, _, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    fn stage_and_commit(
        &self,
        objects: &[NewObject<'_>],
        dirs_to_sync: &mut BTreeSet<PathBuf>,
        staged: &mut Vec<(PathBuf, PathBuf, File)>,
    ) -> Result<(), StoreError> {
        for obj in objects {
            let final_path = self.path(obj.kind, &obj.store, &obj.id);
            let dir = final_path.parent().expect("object paths have a parent").to_path_buf();
            self.ensure_dir(&dir, dirs_to_sync)?;
            let tmp = dir.join(format!(
                ".{}.{}-{}{}",
                &obj.id.to_hex()[2..],
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed),
                TEMP_SUFFIX
            ));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| StoreError::io("creating", &tmp, e))?;
            // Registered before writing so a failed write still removes the temp file.
            staged.push((
                tmp.clone(),
                final_path,
                file.try_clone().map_err(|e| StoreError::io("opening", &tmp, e))?,
            ));
            file.write_all(obj.data)
                .map_err(|e| StoreError::io("writing", &tmp, e))?;
            dirs_to_sync.insert(dir);
        }
        // Barrier 1: contents durable before any name points at them.
        if self.synced {
            flush_contents(staged)?;
        }
        for (tmp, final_path, _) in staged.iter() {
            fs::rename(tmp, final_path).map_err(|e| StoreError::io("renaming into place", final_path, e))?;
        }
        staged.clear();
        // Barrier 2: the names durable before the caller writes anything that points at them.
        if self.synced {
            for dir in dirs_to_sync.iter() {
                sync_dir(dir)?;
            }
        }
        Ok(())
    }

    /// Creates `dir` and any missing parents, remembering each new directory's parent so the new
    /// entry is flushed with the batch.
    fn ensure_dir(&self, dir: &Path, dirs_to_sync: &mut BTreeSet<PathBuf>) -> Result<(), StoreError> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cur = dir;
        while !cur.exists() {
            missing.push(cur.to_path_buf());
            match cur.parent() {
                Some(p) => cur = p,
                None => break,
            }
        }
        for d in missing.iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io("creating directory", d, e)),
            }
            if let Some(p) = d.parent() {
                dirs_to_sync.insert(p.to_path_buf());
            }
        }
        Ok(())
    }

    /// Every object id of `kind` under `store`, in no particular order. Temp files and foreign
    /// names are skipped.
    pub fn list(&self, kind: ObjectKind, store: &RepoId) -> Result<Vec<ObjectId>, StoreError> {
        let root = self.kind_dir(kind).join(store.as_str());
        let mut ids = Vec::new();
        let prefixes = match fs::read_dir(&root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(StoreError::io("listing", &root, e)),
        };
        for prefix in prefixes {
            let prefix = prefix.map_err(|e| StoreError::io("listing", &root, e))?;
            let pname = prefix.file_name();
            let Some(pname) = pname.to_str().filter(|p| p.len() == 2) else {
                continue;
            };
            let entries = fs::read_dir(prefix.path()).map_err(|e| StoreError::io("listing", &prefix.path(), e))?;
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io("listing", &prefix.path(), e))?;
                if let Some(rest) = entry.file_name().to_str() {
                    if let Ok(id) = ObjectId::parse(&format!("{pname}{rest}")) {
                        ids.push(id);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The store ids (library ids) present for `kind`.
    pub fn stores(&self, kind: ObjectKind) -> Result<Vec<RepoId>, StoreError> {
        let root = self.kind_dir(kind);
        let rd = match fs::read_dir(&root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("listing", &root, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| StoreError::io("listing", &root, e))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| RepoId::parse(n).ok()) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes temp files left by a writer that was killed: those whose writing process is gone,
    /// or older than an hour (a writer on another host sharing the store). Temp files of live
    /// writers (another backup process at work) are left alone. Returns how many were removed.
    pub fn sweep_temp_files(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        for kind in ObjectKind::ALL {
            for store in self.stores(kind)? {
                let root = self.kind_dir(kind).join(store.as_str());
                let Ok(prefixes) = fs::read_dir(&root) else { continue };
                for prefix in prefixes.flatten() {
                    let Ok(entries) = fs::read_dir(prefix.path()) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        if is_abandoned_temp(&entry) {
                            fs::remove_file(entry.path()).map_err(|e| StoreError::io("removing", &entry.path(), e))?;
                            removed += 1;
                        }
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// A temp file whose writer is gone: `.<rest>.<pid>-<n>.seaf-backup-tmp` with a dead pid, or
/// untouched for an hour.
fn is_abandoned_temp(entry: &fs::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy().into_owned();
    let Some(stem) = name.strip_suffix(TEMP_SUFFIX) else {
        return false;
    };
    let pid = stem
        .rsplit('.')
        .next()
        .and_then(|tail| tail.split('-').next())
        .and_then(|p| p.parse::<i32>().ok());
    let writer_gone = match pid {
        Some(pid) if pid as u32 == std::process::id() => false,
        // SAFETY: kill with signal 0 only checks whether the process exists.
        Some(pid) => {
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            !alive && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
        None => true,
    };
    let stale = entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(3600));
    writer_gone || stale
}

/// Flushes the contents of a batch's temp files: one `syncfs` for a large batch, else one
/// `fsync` each.
fn flush_contents(staged: &[(PathBuf, PathBuf, File)]) -> Result<(), StoreError> {
    if staged.len() > SYNCFS_THRESHOLD {
        let fd = staged[0].2.as_raw_fd();
        // SAFETY: fd is an open descriptor owned by `staged` for the duration of the call.
        if unsafe { libc::syncfs(fd) } != 0 {
            return Err(StoreError::io("flushing", &staged[0].0, io::Error::last_os_error()));
        }
    } else {
        for (tmp, _, file) in staged {
            file.sync_all().map_err(|e| StoreError::io("flushing", tmp, e))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("flushing directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap()
    }

    #[test]
    fn write_read_list_on_the_seafile_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let data = b"hello";
        let id = ObjectId::hash_of(data);
        assert!(!store.exists(ObjectKind::Block, &repo(), &id).unwrap());
        store.write(ObjectKind::Block, &repo(), &id, data).unwrap();
        let expected = dir
            .path()
            .join("storage/blocks/300ca0c9-310b-4344-8289-441bcd1e031c")
            .join(&id.to_hex()[..2])
            .join(&id.to_hex()[2..]);
        assert_eq!(fs::read(expected).unwrap(), data);
        assert_eq!(store.read(ObjectKind::Block, &repo(), &id).unwrap(), data);
        assert_eq!(store.list(ObjectKind::Block, &repo()).unwrap(), vec![id]);
        assert_eq!(store.stores(ObjectKind::Block).unwrap(), vec![repo()]);
        let missing = ObjectId::hash_of(b"other");
        assert!(store
            .read(ObjectKind::Block, &repo(), &missing)
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn the_data_dir_gets_what_seafile_expects_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("seafile-data");
        let store = ObjectStore::new(&data);
        store.prepare_data_dir().unwrap();
        for sub in [
            "storage/commits",
            "storage/fs",
            "storage/blocks",
            "tmpfiles",
            "httptemp",
        ] {
            assert!(data.join(sub).is_dir(), "{sub}");
        }
        let id = ObjectId::hash_of(b"kept");
        store.write(ObjectKind::Block, &repo(), &id, b"kept").unwrap();
        fs::write(data.join("tmpfiles/in-use"), b"x").unwrap();
        store.prepare_data_dir().expect("preparing twice is harmless");
        assert_eq!(store.read(ObjectKind::Block, &repo(), &id).unwrap(), b"kept");
        assert!(data.join("tmpfiles/in-use").is_file());
        // The server's folders are not stores.
        assert_eq!(store.stores(ObjectKind::Block).unwrap(), vec![repo()]);
        assert_eq!(store.sweep_temp_files().unwrap(), 0);
    }

    #[test]
    fn large_batches_land_whole() {
        for unsynced in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = if unsynced {
                ObjectStore::unsynced(dir.path())
            } else {
                ObjectStore::new(dir.path())
            };
            batch_of_200_lands_whole(&store);
        }
    }

    /// The same objects under the same names, with no temp file left, whether or not the store
    /// flushes.
    fn batch_of_200_lands_whole(store: &ObjectStore) {
        let datas: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let batch: Vec<NewObject> = datas
            .iter()
            .map(|d| NewObject {
                kind: ObjectKind::Block,
                store: repo(),
                id: ObjectId::hash_of(d),
                data: d,
            })
            .collect();
        store.write_batch(&batch).unwrap();
        assert_eq!(store.list(ObjectKind::Block, &repo()).unwrap().len(), 200);
        assert_eq!(store.sweep_temp_files().unwrap(), 0);
    }
}
