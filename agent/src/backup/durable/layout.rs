//! Where group commit keeps its files, and how they are named.
//!
//! Everything lives under `<data_dir>/seaf-backup/`, beside `storage/` and on the same file
//! system, so a staged block is renamed into place rather than copied, and one `syncfs` covers
//! the journal and the objects alike. Seafile reads only `storage/`, `tmpfiles/` and
//! `httptemp/`; this folder is invisible to it, to `verify` and to the closure walk.
//!
//! - `journal/<writer>.<seq>.list`: the objects of one group in flight (see [`super::journal`]);
//! - `staging/<writer>.<n>`: large blocks being streamed in, before their batch commits;
//! - `writers/<writer>.lock`: held locked by the live process `<writer>`, so a process that
//!   starts beside it (`seaf-backup sync` while the backup runs) recovers only the files of
//!   processes that are gone ([`super::writers`]);
//! - `recovery.lock`: held while a process recovers and claims its writer name, so nothing is
//!   written to the store while another process is still removing what a power loss tore.
//!
//! Names carry the writer (`<pid>-<nanoseconds>`, unique across restarts and containers that
//! reuse pids) and never contain a dot of their own, so `<writer>.<rest>` splits cleanly.

use std::path::PathBuf;

use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId};

/// Suffix of the temp files the committer writes beside an object's final path (the same as
/// [`ObjectStore::write_batch`]'s, so `sweep_temp_files` knows them too).
const TEMP_SUFFIX: &str = ".seaf-backup-tmp";

/// The paths group commit uses for one store.
#[derive(Debug, Clone)]
pub struct Layout {
    store: ObjectStore,
    root: PathBuf,
}

impl Layout {
    pub fn new(store: ObjectStore) -> Layout {
        let root = store.data_dir().join("seaf-backup");
        Layout { store, root }
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub fn writers_dir(&self) -> PathBuf {
        self.root.join("writers")
    }

    pub fn recovery_lock(&self) -> PathBuf {
        self.root.join("recovery.lock")
    }

    /// Every folder group commit needs, parents first.
    pub fn dirs(&self) -> [PathBuf; 4] {
        [
            self.root.clone(),
            self.journal_dir(),
            self.staging_dir(),
            self.writers_dir(),
        ]
    }

    /// The final path of an object.
    pub fn object(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId) -> PathBuf {
        self.store.path(kind, store, id)
    }

    /// The temp file beside an object's final path that group `seq` of `writer` writes it to:
    /// `.<rest>.<writer>-<seq>.seaf-backup-tmp`, never an object name, and known to recovery
    /// from the journal alone (no directory has to be listed to remove it).
    pub fn temp(&self, kind: ObjectKind, store: &RepoId, id: &ObjectId, writer: &str, seq: u64) -> PathBuf {
        let path = self.object(kind, store, id);
        let rest = path.file_name().expect("object paths have a name").to_string_lossy();
        path.with_file_name(format!(".{rest}.{writer}-{seq}{TEMP_SUFFIX}"))
    }

    pub fn journal(&self, writer: &str, seq: u64) -> PathBuf {
        self.journal_dir().join(format!("{writer}.{seq:020}.list"))
    }

    pub fn staging(&self, writer: &str, n: u64) -> PathBuf {
        self.staging_dir().join(format!("{writer}.{n}"))
    }

    pub fn writer_lock(&self, writer: &str) -> PathBuf {
        self.writers_dir().join(format!("{writer}.lock"))
    }
}

/// The writer and sequence number of a journal file's name, `None` for any other name.
pub fn parse_journal_name(name: &str) -> Option<(&str, u64)> {
    let stem = name.strip_suffix(".list")?;
    let (writer, seq) = stem.split_once('.')?;
    Some((writer, seq.parse().ok()?))
}

/// The writer of a staging or lock file's name (`<writer>.<anything>`).
pub fn writer_of(name: &str) -> &str {
    name.split_once('.').map_or(name, |(w, _)| w)
}

/// A fresh writer name for this process.
pub fn new_writer() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_temp_files_are_never_objects() {
        let layout = Layout::new(ObjectStore::new("/data"));
        let writer = new_writer();
        assert!(!writer.contains('.'));
        let journal = layout.journal(&writer, 42);
        let name = journal.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_journal_name(name), Some((writer.as_str(), 42)));
        assert_eq!(parse_journal_name("junk"), None);
        assert_eq!(
            writer_of(layout.staging(&writer, 7).file_name().unwrap().to_str().unwrap()),
            writer
        );

        let repo = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
        let id = ObjectId::hash_of(b"x");
        let temp = layout.temp(ObjectKind::Block, &repo, &id, &writer, 3);
        let object = layout.object(ObjectKind::Block, &repo, &id);
        assert_eq!(temp.parent(), object.parent());
        let temp_name = temp.file_name().unwrap().to_str().unwrap();
        assert!(temp_name.starts_with('.') && temp_name.ends_with(TEMP_SUFFIX));
        // `ObjectStore::sweep_temp_files` reads the writer's pid after the last dot.
        let stem = temp_name.strip_suffix(TEMP_SUFFIX).unwrap();
        let pid = stem.rsplit('.').next().unwrap().split('-').next().unwrap();
        assert_eq!(pid, std::process::id().to_string());
    }
}
