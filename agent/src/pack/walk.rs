//! The primary's side of the pack: every object of `want`'s closure the backup lacks, in
//! closure order (each object after everything it points at), read from the primary's store.
//!
//! New commits go oldest first. Each one's tree is compared with its parents' trees, which the
//! backup has (a parent is either had — the closure invariant — or was sent just before): a
//! directory entry whose id is among the parent directory's entries is skipped, a changed
//! directory is compared with the directory of the same name, a changed file sends only the
//! blocks the file of the same name lacked. Before a commit's tree is sent, the parents'
//! directories along the paths that changed are read once more for their entries (`learn`):
//! a file or folder moved to another folder is among them, so it is not sent again. Only what
//! changed is read; what is had is never walked beyond the directories beside a change.

use std::collections::{HashMap, HashSet};

use seaf_seafile::{Commit, FsObject, ObjectId, ObjectKind, StoreError};

use super::negotiate::{new_commits, CommitInfo};
use super::order::{levels, Cycle};

/// Deepest directory nesting walked (a store pointing a directory at itself must not
/// overflow the stack).
pub const MAX_DEPTH: usize = 1000;
/// Ids remembered as sent in one pack; past this the set starts over (costing only repeats).
const MAX_SENT: usize = 4_000_000;

/// The primary's objects of one library (fs objects from its origin's store if virtual).
pub trait Source {
    fn commit(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError>;
    fn fs(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError>;
}

/// What the walk hands on, in order.
pub enum Item<'a> {
    /// A commit or fs object, its stored bytes.
    Object(ObjectKind, Vec<u8>),
    /// A block to send (the sink reads it, so large blocks are streamed, not held).
    Block { id: ObjectId, path: &'a str },
    Missing {
        kind: ObjectKind,
        id: ObjectId,
        path: String,
    },
}

/// Where the walk's items go (the HTTP response, or a buffer in tests).
pub trait Sink {
    fn send(&mut self, item: Item<'_>) -> Result<(), WalkError>;
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("reading the primary's store: {0}")]
    Store(#[from] StoreError),
    #[error("the history has a cycle through commit {0}: run seaf-fsck on the primary")]
    Cycle(ObjectId),
    #[error("directories nested deeper than {MAX_DEPTH} at {0:?}: run seaf-fsck on the primary")]
    TooDeep(String),
    /// The receiver went away.
    #[error("the backup hung up")]
    Hangup,
}

/// Sends every object of `want`'s closure that `haves`' closures lack.
pub fn walk(source: &impl Source, want: ObjectId, haves: &[ObjectId], sink: &mut impl Sink) -> Result<(), WalkError> {
    let found = new_commits(want, haves, |id| load_commit(source, id))?;
    for id in &found.missing {
        sink.send(Item::Missing {
            kind: ObjectKind::Commit,
            id: *id,
            path: String::new(),
        })?;
    }
    let ids: Vec<ObjectId> = found.new.iter().map(|c| c.id).collect();
    let order = levels(&ids, |id| found.known[id].parents.clone()).map_err(|Cycle(id)| WalkError::Cycle(id))?;
    let mut trees = Trees {
        source,
        sink,
        sent: HashSet::new(),
        known: HashSet::new(),
    };
    for id in order.into_iter().flatten() {
        let commit = &found.known[&id];
        let bases: Vec<ObjectId> = commit
            .parents
            .iter()
            .filter_map(|p| found.known.get(p).map(|c| c.root))
            .collect();
        trees.learn(commit.root, &bases, 0)?;
        trees.fs(commit.root, &bases, "/", 0)?;
        match source.commit(&id)? {
            Some(bytes) => trees.sink.send(Item::Object(ObjectKind::Commit, bytes))?,
            None => trees.missing(ObjectKind::Commit, id, "")?,
        }
    }
    Ok(())
}

/// A commit as the negotiation needs it. A commit that does not parse is sent as it is (the
/// backup reports it) with nothing under it.
fn load_commit(source: &impl Source, id: &ObjectId) -> Result<Option<CommitInfo>, StoreError> {
    let Some(bytes) = source.commit(id)? else {
        return Ok(None);
    };
    Ok(Some(match Commit::parse(&bytes) {
        Ok(c) => CommitInfo {
            id: *id,
            root: c.root_id,
            parents: c.parents().collect(),
            ctime: c.ctime,
        },
        Err(_) => CommitInfo {
            id: *id,
            root: ObjectId::from_digest([0; 20]),
            parents: Vec::new(),
            ctime: i64::MAX,
        },
    }))
}

struct Trees<'s, S, K> {
    source: &'s S,
    sink: &'s mut K,
    sent: HashSet<(ObjectKind, ObjectId)>,
    /// Fs ids in directories the backup has (the parents' trees), met beside a change.
    known: HashSet<ObjectId>,
}

impl<S: Source, K: Sink> Trees<'_, S, K> {
    /// Sends fs object `id` (at `path`) and what it needs, unless a base has it.
    fn fs(&mut self, id: ObjectId, bases: &[ObjectId], path: &str, depth: usize) -> Result<(), WalkError> {
        if id.is_zero() || bases.contains(&id) || self.known.contains(&id) || self.was_sent(ObjectKind::Fs, id) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(WalkError::TooDeep(path.to_string()));
        }
        let Some(bytes) = self.source.fs(&id)? else {
            return self.missing(ObjectKind::Fs, id, path);
        };
        match FsObject::parse_verified(&id, &bytes) {
            Ok(FsObject::Dir(dir)) => {
                let base_dirs = self.parsed(bases);
                let had: HashSet<ObjectId> = base_dirs.iter().flat_map(entries).map(|(_, id)| id).collect();
                let by_name = by_name(&base_dirs);
                for d in dir.dirents.iter().filter(|d| !had.contains(&d.id)) {
                    let child_bases = by_name.get(d.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                    self.fs(d.id, child_bases, &child_path(path, &d.name), depth + 1)?;
                }
            }
            Ok(FsObject::File(file)) => {
                let had: HashSet<ObjectId> = self
                    .parsed(bases)
                    .iter()
                    .flat_map(|b| match b {
                        FsObject::File(f) => f.block_ids.clone(),
                        FsObject::Dir(_) => Vec::new(),
                    })
                    .collect();
                for block in file.block_ids.iter().filter(|b| !had.contains(b)) {
                    if !self.was_sent(ObjectKind::Block, *block) {
                        self.sink.send(Item::Block { id: *block, path })?;
                    }
                }
            }
            // Corrupt on the primary: sent as it is, for the backup to report.
            Err(_) => {}
        }
        self.sink.send(Item::Object(ObjectKind::Fs, bytes))
    }

    /// Remembers the entries of `bases` (directories the backup has) along every path where
    /// the directory `id` differs from them, down to where the bases end. Reads nothing for a
    /// tree without bases (a first commit), and only the changed paths otherwise.
    fn learn(&mut self, id: ObjectId, bases: &[ObjectId], depth: usize) -> Result<(), WalkError> {
        if bases.is_empty() || id.is_zero() || bases.contains(&id) || depth > MAX_DEPTH {
            return Ok(());
        }
        let Some(bytes) = self.source.fs(&id)? else {
            return Ok(());
        };
        let Ok(FsObject::Dir(dir)) = FsObject::parse_verified(&id, &bytes) else {
            return Ok(());
        };
        let base_dirs = self.parsed(bases);
        if self.known.len() >= MAX_SENT {
            self.known.clear();
        }
        self.known.extend(base_dirs.iter().flat_map(entries).map(|(_, id)| id));
        let by_name = by_name(&base_dirs);
        let changed: Vec<(ObjectId, Vec<ObjectId>)> = dir
            .dirents
            .iter()
            .filter(|d| d.is_dir() && !self.known.contains(&d.id))
            .map(|d| (d.id, by_name.get(d.name.as_str()).cloned().unwrap_or_default()))
            .collect();
        for (child, child_bases) in changed {
            self.learn(child, &child_bases, depth + 1)?;
        }
        Ok(())
    }

    /// The bases that exist and parse (a base the primary lost only means more is sent).
    fn parsed(&self, bases: &[ObjectId]) -> Vec<FsObject> {
        bases
            .iter()
            .filter_map(|b| self.source.fs(b).ok().flatten().map(|bytes| (b, bytes)))
            .filter_map(|(b, bytes)| FsObject::parse_verified(b, &bytes).ok())
            .collect()
    }

    /// Records `id` as sent; `true` if it already was.
    fn was_sent(&mut self, kind: ObjectKind, id: ObjectId) -> bool {
        if self.sent.len() >= MAX_SENT {
            self.sent.clear();
        }
        !self.sent.insert((kind, id))
    }

    fn missing(&mut self, kind: ObjectKind, id: ObjectId, path: &str) -> Result<(), WalkError> {
        self.sink.send(Item::Missing {
            kind,
            id,
            path: path.to_string(),
        })
    }
}

/// The ids the entries of `base_dirs` have under each name (several where the bases are a
/// merge's parents and differ).
fn by_name(base_dirs: &[FsObject]) -> HashMap<&str, Vec<ObjectId>> {
    let mut by_name: HashMap<&str, Vec<ObjectId>> = HashMap::new();
    for (name, id) in base_dirs.iter().flat_map(entries) {
        by_name.entry(name).or_default().push(id);
    }
    by_name
}

/// A directory's entries as (name, id); nothing for a file.
fn entries(object: &FsObject) -> Vec<(&str, ObjectId)> {
    match object {
        FsObject::Dir(dir) => dir.dirents.iter().map(|d| (d.name.as_str(), d.id)).collect(),
        FsObject::File(_) => Vec::new(),
    }
}

/// The library path of `name` inside the folder at `dir` (`/` is the root).
pub(crate) fn child_path(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_seafile::{Dirent, SeafDir, SeafFile};

    /// A store in memory; `add` returns the id.
    #[derive(Default)]
    struct Mem {
        commits: HashMap<ObjectId, Vec<u8>>,
        fs: HashMap<ObjectId, Vec<u8>>,
    }

    impl Source for Mem {
        fn commit(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.commits.get(id).cloned())
        }
        fn fs(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.fs.get(id).cloned())
        }
    }

    impl Mem {
        fn file(&mut self, content: &[u8]) -> ObjectId {
            self.add(FsObject::File(SeafFile {
                block_ids: vec![ObjectId::hash_of(content)],
                size: content.len() as u64,
            }))
        }
        /// A directory of `(name, id, is_dir)` entries.
        fn dir(&mut self, entries: &[(&str, ObjectId, bool)]) -> ObjectId {
            let mut dirents: Vec<Dirent> = entries
                .iter()
                .map(|(name, id, is_dir)| Dirent {
                    id: *id,
                    mode: if *is_dir { 0o040000 } else { 0o100644 },
                    modifier: None,
                    mtime: 1,
                    name: name.to_string(),
                    size: (!is_dir).then_some(1),
                })
                .collect();
            dirents.sort_by(|a, b| b.name.cmp(&a.name));
            self.add(FsObject::Dir(SeafDir { dirents }))
        }
        fn add(&mut self, object: FsObject) -> ObjectId {
            let (id, bytes) = object.encode();
            self.fs.insert(id, bytes);
            id
        }
        fn commit_on(&mut self, root: ObjectId, parent: Option<ObjectId>, n: i64) -> ObjectId {
            let id = ObjectId::hash_of(&n.to_be_bytes());
            let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
            let json = format!(
                r#"{{"commit_id": "{id}", "root_id": "{root}", "repo_id": "300ca0c9-310b-4344-8289-441bcd1e031c", "creator": "x", "description": "d", "ctime": {n}, "parent_id": {parent}, "version": 1}}"#
            );
            self.commits.insert(id, json.into_bytes());
            id
        }
    }

    /// What a walk sends: fs object ids and block ids.
    #[derive(Default)]
    struct Sent {
        fs: Vec<ObjectId>,
        blocks: Vec<ObjectId>,
    }

    impl Sink for Sent {
        fn send(&mut self, item: Item<'_>) -> Result<(), WalkError> {
            match item {
                Item::Object(ObjectKind::Fs, bytes) => self
                    .fs
                    .push(ObjectId::hash_of(&seaf_seafile::fs::inflate(&bytes).unwrap())),
                Item::Block { id, .. } => self.blocks.push(id),
                _ => {}
            }
            Ok(())
        }
    }

    /// A file moved from /a to /b keeps its id: the backup has it (in /a of the parent), so
    /// neither it nor its block is sent again; the two folders and the root are.
    #[test]
    fn a_file_moved_to_another_folder_is_not_sent_again() {
        let mut m = Mem::default();
        let x = m.file(b"x");
        let y = m.file(b"y");
        let a1 = m.dir(&[("x", x, false), ("y", y, false)]);
        let b1 = m.dir(&[]);
        let root1 = m.dir(&[("a", a1, true), ("b", b1, true)]);
        let c1 = m.commit_on(root1, None, 1);
        let a2 = m.dir(&[("y", y, false)]);
        let b2 = m.dir(&[("x", x, false)]);
        let root2 = m.dir(&[("a", a2, true), ("b", b2, true)]);
        let c2 = m.commit_on(root2, Some(c1), 2);

        let mut sent = Sent::default();
        walk(&m, c2, &[c1], &mut sent).unwrap();
        let mut want = vec![a2, b2, root2];
        want.sort();
        sent.fs.sort();
        assert_eq!(sent.fs, want, "only the changed folders and the root");
        assert!(sent.blocks.is_empty(), "no block: every one is had");

        // From scratch everything goes, each once.
        let mut all = Sent::default();
        walk(&m, c2, &[], &mut all).unwrap();
        assert_eq!(all.blocks.len(), 2);
        assert_eq!(all.fs.len(), 8, "x, y, a1, b1, root1, then a2, b2, root2");
    }
}
