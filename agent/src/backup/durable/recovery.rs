//! Recovery: what a crash or a power loss left of the groups in flight, made whole again before
//! anything else is written. Run by [`super::GroupCommit::open`] on the journals of writers that
//! are gone; idempotent (a crash during recovery leaves the journals, and the next run does the
//! same again).
//!
//! 1. **verify**: every listed object that is present is checked against its id (blocks: the
//!    SHA-1 of the bytes; fs objects and commits: their parsers, as the sync checked them) and
//!    removed when torn;
//! 2. **references**: in list order, a present object is removed when an object it points at
//!    *and that its own batch staged* is missing (lost, torn, or removed just before). What a
//!    batch did not stage was in the store, durable, before the batch was handed over (barrier
//!    1 of its group saw to it), so only the batch's own objects can be missing. Repeated until
//!    nothing changes, so an out-of-order batch is handled too;
//! 3. temp files of the listed objects and staging files of the dead writers are removed;
//! 4. one `syncfs`, then the journals are deleted.
//!
//! Checking only what the batch staged is also what keeps objects a `sync --force` wrote over
//! a block missing on the primary, and the commits of a virtual library, whose root lives
//! under the origin's store that the commit does not name.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

use seaf_seafile::{ObjectId, ObjectKind, RepoId, StoreError};

use super::disk::Disk;
use super::group::io_error;
use super::journal::{self, Batches, Entry};
use super::layout::{parse_journal_name, writer_of, Layout};
use super::references::{is_intact, references, Reference};

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub journals: usize,
    pub listed: usize,
    /// Removed for bytes that do not match their id.
    pub torn: usize,
    /// Removed because an object of their batch they point at was missing.
    pub orphaned: usize,
    pub temp_files: usize,
    pub staging_files: usize,
    /// Journal lines that did not parse (a journal torn before it was durable).
    pub bad_lines: usize,
}

impl Recovered {
    pub fn removed(&self) -> usize {
        self.torn + self.orphaned
    }
}

/// Which steps run: both in production; the power-loss model switches one off to show that it
/// would then find a broken closure (so it tests something).
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub verify: bool,
    pub references: bool,
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            verify: true,
            references: true,
        }
    }
}

/// A journal of a dead writer.
struct Journal {
    name: String,
    writer: String,
    seq: u64,
    batches: Batches,
}

/// Recovers the journals and staging files of every writer `is_dead` says is gone.
pub fn recover(
    disk: &dyn Disk,
    layout: &Layout,
    is_dead: &dyn Fn(&str) -> bool,
    steps: Steps,
) -> Result<Recovered, StoreError> {
    let mut done = Recovered::default();
    let journals = read_journals(disk, layout, is_dead, &mut done)?;
    let mut presence = Presence::new(disk, layout);
    if steps.verify {
        verify_listed(&journals, &mut presence, &mut done)?;
    }
    if steps.references {
        remove_orphans(&journals, &mut presence, &mut done)?;
    }
    remove_temp_files(disk, layout, &journals, &mut done)?;
    remove_staging_files(disk, layout, is_dead, &mut done)?;
    if journals.is_empty() && done.staging_files == 0 {
        return Ok(done);
    }
    let storage = layout.store().data_dir().join("storage");
    disk.syncfs().map_err(|e| io_error("flushing", &storage, e))?;
    for j in &journals {
        let path = layout.journal_dir().join(&j.name);
        disk.remove(&path).map_err(|e| io_error("removing", &path, e))?;
    }
    Ok(done)
}

/// The dead writers' journals, by writer and sequence.
fn read_journals(
    disk: &dyn Disk,
    layout: &Layout,
    is_dead: &dyn Fn(&str) -> bool,
    done: &mut Recovered,
) -> Result<Vec<Journal>, StoreError> {
    let dir = layout.journal_dir();
    let mut journals = Vec::new();
    for name in disk.list(&dir).map_err(|e| io_error("listing", &dir, e))? {
        let Some((writer, seq)) = parse_journal_name(&name) else {
            continue;
        };
        if !is_dead(writer) {
            continue;
        }
        let path = dir.join(&name);
        let bytes = disk.read(&path).map_err(|e| io_error("reading", &path, e))?;
        let (batches, bad) = journal::parse(&bytes.unwrap_or_default());
        done.bad_lines += bad;
        done.listed += batches.iter().map(Vec::len).sum::<usize>();
        journals.push(Journal {
            writer: writer.to_string(),
            seq,
            name,
            batches,
        });
    }
    journals.sort_by(|a, b| (&a.writer, a.seq).cmp(&(&b.writer, b.seq)));
    done.journals = journals.len();
    Ok(journals)
}

/// Step 1: every present listed object whose bytes do not match its id is removed.
fn verify_listed(journals: &[Journal], presence: &mut Presence, done: &mut Recovered) -> Result<(), StoreError> {
    let mut checked = HashSet::new();
    for entry in journals.iter().flat_map(|j| j.batches.iter().flatten()) {
        if !checked.insert(*entry) {
            continue;
        }
        if let Some(bytes) = presence.read(entry)? {
            if !is_intact(entry, &bytes) {
                presence.remove(entry)?;
                done.torn += 1;
            }
        }
    }
    Ok(())
}

/// Step 2: present objects pointing at a missing object of their own batch are removed, in
/// list order, until nothing changes.
fn remove_orphans(journals: &[Journal], presence: &mut Presence, done: &mut Recovered) -> Result<(), StoreError> {
    let mut references_of: HashMap<Entry, Vec<Reference>> = HashMap::new();
    loop {
        let mut removed = 0;
        for batch in journals.iter().flat_map(|j| j.batches.iter()) {
            let staged = Staged::of(batch);
            for entry in batch {
                if entry.kind == ObjectKind::Block || !presence.exists(entry)? {
                    continue;
                }
                if !references_of.contains_key(entry) {
                    let bytes = presence.read(entry)?.unwrap_or_default();
                    references_of.insert(*entry, references(entry, &bytes));
                }
                if staged.misses_any(entry, &references_of[entry], presence)? {
                    presence.remove(entry)?;
                    removed += 1;
                }
            }
        }
        done.orphaned += removed;
        if removed == 0 {
            return Ok(());
        }
    }
}

/// The objects one batch staged, by kind and id (with every store it staged them under).
struct Staged(HashMap<(ObjectKind, ObjectId), Vec<RepoId>>);

impl Staged {
    fn of(batch: &[Entry]) -> Staged {
        let mut map: HashMap<(ObjectKind, ObjectId), Vec<RepoId>> = HashMap::new();
        for e in batch {
            map.entry((e.kind, e.id)).or_default().push(e.store);
        }
        Staged(map)
    }

    /// Whether one of `refs` (of `entry`) is an object of this batch that is missing. A
    /// reference without a store (a commit's root) counts under every store the batch staged
    /// that id under.
    fn misses_any(&self, entry: &Entry, refs: &[Reference], presence: &mut Presence) -> Result<bool, StoreError> {
        for r in refs {
            let Some(stores) = self.0.get(&(r.kind, r.id)) else {
                continue;
            };
            for store in stores.iter().filter(|s| r.store.is_none_or(|own| own == **s)) {
                let target = Entry {
                    kind: r.kind,
                    store: *store,
                    id: r.id,
                };
                if target != *entry && !presence.exists(&target)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Step 3a: the temp files each journal's group may have left beside its objects.
fn remove_temp_files(
    disk: &dyn Disk,
    layout: &Layout,
    journals: &[Journal],
    done: &mut Recovered,
) -> Result<(), StoreError> {
    for j in journals {
        for e in j.batches.iter().flatten() {
            let temp = layout.temp(e.kind, &e.store, &e.id, &j.writer, j.seq);
            if disk.remove(&temp).map_err(|err| io_error("removing", &temp, err))? {
                done.temp_files += 1;
            }
        }
    }
    Ok(())
}

/// Step 3b: staging files of dead writers (blocks whose batch never committed).
fn remove_staging_files(
    disk: &dyn Disk,
    layout: &Layout,
    is_dead: &dyn Fn(&str) -> bool,
    done: &mut Recovered,
) -> Result<(), StoreError> {
    let dir = layout.staging_dir();
    for name in disk.list(&dir).map_err(|e| io_error("listing", &dir, e))? {
        if is_dead(writer_of(&name)) {
            let path = dir.join(&name);
            if disk.remove(&path).map_err(|e| io_error("removing", &path, e))? {
                done.staging_files += 1;
            }
        }
    }
    Ok(())
}

/// Which listed objects are present, asked of the disk once each and kept up to date as
/// recovery removes them.
struct Presence<'a> {
    disk: &'a dyn Disk,
    layout: &'a Layout,
    known: HashMap<Entry, bool>,
}

impl<'a> Presence<'a> {
    fn new(disk: &'a dyn Disk, layout: &'a Layout) -> Self {
        Presence {
            disk,
            layout,
            known: HashMap::new(),
        }
    }

    fn path(&self, e: &Entry) -> std::path::PathBuf {
        self.layout.object(e.kind, &e.store, &e.id)
    }

    fn exists(&mut self, e: &Entry) -> Result<bool, StoreError> {
        if let Some(known) = self.known.get(e) {
            return Ok(*known);
        }
        let path = self.path(e);
        let present = self
            .disk
            .exists(&path)
            .map_err(|err| io_error("checking", &path, err))?;
        self.known.insert(*e, present);
        Ok(present)
    }

    fn read(&mut self, e: &Entry) -> Result<Option<Vec<u8>>, StoreError> {
        if self.known.get(e) == Some(&false) {
            return Ok(None);
        }
        let path = self.path(e);
        let bytes = self.disk.read(&path).map_err(|err| io_error("reading", &path, err))?;
        self.known.insert(*e, bytes.is_some());
        Ok(bytes)
    }

    fn remove(&mut self, e: &Entry) -> Result<(), StoreError> {
        let path = self.path(e);
        remove(self.disk, &path)?;
        self.known.insert(*e, false);
        Ok(())
    }
}

fn remove(disk: &dyn Disk, path: &Path) -> Result<bool, StoreError> {
    disk.remove(path).map_err(|e: io::Error| io_error("removing", path, e))
}
