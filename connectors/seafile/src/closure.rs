//! The closure of a library head: every commit of its full history (parents and second
//! parents), every fs object those commits reach, every block those files list.
//!
//! The walk streams: it holds one object at a time plus the set of ids already visited, never a
//! whole library. It does not stop at a broken object; it reports it as a [`Problem`], skips what
//! lies beneath, and goes on, so one pass names every problem.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use sha1::{Digest, Sha1};

use crate::commit::{Commit, IdFormula};
use crate::fs::FsObject;
use crate::id::{ObjectId, RepoId};
use crate::object::ObjectKind;
use crate::store::{ObjectStore, RepoStores, StoreError};

/// What is wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// Not on disk.
    Missing,
    /// On disk but unusable: wrong id, bad compression, bad JSON, unsupported version.
    Corrupt(String),
    /// The disk would not give it to us (permissions, I/O error).
    Unreadable(String),
    /// A commit whose JSON id matches its name but neither id formula. Real data from other
    /// Seafile versions may look like this, so it is a warning, not a failure.
    UnverifiedCommitId,
}

impl Defect {
    /// Warnings do not make a closure incomplete.
    pub fn is_warning(&self) -> bool {
        matches!(self, Defect::UnverifiedCommitId)
    }
}

/// One problem found in a closure, with enough context to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub repo: RepoId,
    pub kind: ObjectKind,
    pub id: ObjectId,
    /// The store the object should be in (differs from `repo` for fs/blocks of virtual repos).
    pub store: RepoId,
    /// The path in the library's tree where the object was first reached (fs objects, blocks).
    pub path: Option<String>,
    /// The commit through which the object was first reached: the commit itself, or the child
    /// commit that names a missing parent.
    pub commit: Option<ObjectId>,
    pub defect: Defect,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.defect {
            Defect::Missing => "MISSING".to_string(),
            Defect::Corrupt(_) => "CORRUPT".to_string(),
            Defect::Unreadable(_) => "UNREADABLE".to_string(),
            Defect::UnverifiedCommitId => "WARNING".to_string(),
        };
        write!(f, "{what} {} {} in library {}", self.kind, self.id, self.repo)?;
        if let Some(path) = &self.path {
            write!(f, " at {path:?}")?;
        }
        match (&self.kind, &self.commit) {
            (ObjectKind::Commit, Some(child)) if *child != self.id => write!(f, " (parent of commit {child})")?,
            (ObjectKind::Commit, _) => {}
            (_, Some(c)) => write!(f, " (reached from commit {c})")?,
            (_, None) => {}
        }
        match &self.defect {
            Defect::Missing => write!(f, ": not in the store"),
            Defect::Corrupt(why) => write!(f, ": {why}"),
            Defect::Unreadable(why) => write!(f, ": {why}"),
            Defect::UnverifiedCommitId => {
                write!(
                    f,
                    ": id matches its name but neither the C nor the Go commit-id formula"
                )
            }
        }
    }
}

/// Counts of what a walk visited.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClosureStats {
    pub commits: u64,
    pub fs_objects: u64,
    pub blocks: u64,
    pub block_bytes: u64,
}

impl ClosureStats {
    pub fn add(&mut self, other: &ClosureStats) {
        self.commits += other.commits;
        self.fs_objects += other.fs_objects;
        self.blocks += other.blocks;
        self.block_bytes += other.block_bytes;
    }
}

/// Receives what a walk finds. Every method but `problem` has an empty default.
pub trait ClosureVisitor {
    fn commit(&mut self, _id: &ObjectId, _commit: &Commit) {}
    fn fs_object(&mut self, _id: &ObjectId, _path: &str, _object: &FsObject) {}
    fn block(&mut self, _id: &ObjectId, _path: &str, _size: u64) {}
    fn problem(&mut self, problem: Problem);
}

/// How thoroughly to check.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    /// Hash every block (true) or only check that it exists (false).
    pub hash_blocks: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { hash_blocks: true }
    }
}

/// Walks the closure of `head` in `store`, reporting to `visitor`.
pub fn walk_closure(
    store: &ObjectStore,
    stores: RepoStores,
    head: ObjectId,
    options: WalkOptions,
    visitor: &mut dyn ClosureVisitor,
) -> ClosureStats {
    let mut walk = Walk {
        store,
        stores,
        options,
        visitor,
        stats: ClosureStats::default(),
        seen_commits: HashSet::new(),
        seen_fs: HashSet::new(),
        seen_blocks: HashSet::new(),
    };
    walk.run(head);
    walk.stats
}

struct Walk<'a> {
    store: &'a ObjectStore,
    stores: RepoStores,
    options: WalkOptions,
    visitor: &'a mut dyn ClosureVisitor,
    stats: ClosureStats,
    seen_commits: HashSet<ObjectId>,
    seen_fs: HashSet<ObjectId>,
    seen_blocks: HashSet<ObjectId>,
}

impl Walk<'_> {
    fn problem(
        &mut self,
        kind: ObjectKind,
        id: ObjectId,
        path: Option<&str>,
        commit: Option<ObjectId>,
        defect: Defect,
    ) {
        self.visitor.problem(Problem {
            repo: self.stores.repo,
            kind,
            id,
            store: self.stores.store_for(kind),
            path: path.map(str::to_owned),
            commit,
            defect,
        });
    }

    /// Reads an object, turning store errors into problems.
    fn load(
        &mut self,
        kind: ObjectKind,
        id: ObjectId,
        path: Option<&str>,
        commit: Option<ObjectId>,
    ) -> Option<Vec<u8>> {
        match self.store.read(kind, &self.stores.store_for(kind), &id) {
            Ok(bytes) => Some(bytes),
            Err(StoreError::NotFound { .. }) => {
                self.problem(kind, id, path, commit, Defect::Missing);
                None
            }
            Err(e) => {
                self.problem(kind, id, path, commit, Defect::Unreadable(e.to_string()));
                None
            }
        }
    }

    fn run(&mut self, head: ObjectId) {
        // (commit id, the child that named it)
        let mut pending = vec![(head, None::<ObjectId>)];
        while let Some((id, child)) = pending.pop() {
            if !self.seen_commits.insert(id) {
                continue;
            }
            let Some(bytes) = self.load(ObjectKind::Commit, id, None, child) else {
                continue;
            };
            let commit = match Commit::parse_verified(&id, &bytes) {
                Ok((commit, formula)) => {
                    if formula == IdFormula::Unverified {
                        self.problem(ObjectKind::Commit, id, None, Some(id), Defect::UnverifiedCommitId);
                    }
                    commit
                }
                Err(e) => {
                    self.problem(ObjectKind::Commit, id, None, child, Defect::Corrupt(e.to_string()));
                    continue;
                }
            };
            self.stats.commits += 1;
            self.visitor.commit(&id, &commit);
            for parent in commit.parents() {
                pending.push((parent, Some(id)));
            }
            self.walk_tree(commit.root_id, id);
        }
    }

    fn walk_tree(&mut self, root: ObjectId, commit: ObjectId) {
        // (fs id, path, expected to be a dir)
        let mut pending = vec![(root, String::from("/"), true)];
        while let Some((id, path, _is_dir)) = pending.pop() {
            if id.is_zero() || !self.seen_fs.insert(id) {
                continue;
            }
            let Some(bytes) = self.load(ObjectKind::Fs, id, Some(&path), Some(commit)) else {
                continue;
            };
            let object = match FsObject::parse_verified(&id, &bytes) {
                Ok(o) => o,
                Err(e) => {
                    self.problem(
                        ObjectKind::Fs,
                        id,
                        Some(&path),
                        Some(commit),
                        Defect::Corrupt(e.to_string()),
                    );
                    continue;
                }
            };
            self.stats.fs_objects += 1;
            self.visitor.fs_object(&id, &path, &object);
            match &object {
                FsObject::Dir(dir) => {
                    for d in &dir.dirents {
                        let child = if path == "/" {
                            format!("/{}", d.name)
                        } else {
                            format!("{path}/{}", d.name)
                        };
                        pending.push((d.id, child, d.is_dir()));
                    }
                }
                FsObject::File(file) => {
                    for block in &file.block_ids {
                        if self.seen_blocks.insert(*block) {
                            self.check_block(*block, &path, commit);
                        }
                    }
                }
            }
        }
    }

    fn check_block(&mut self, id: ObjectId, path: &str, commit: ObjectId) {
        let store_id = self.stores.store_for(ObjectKind::Block);
        let result = if self.options.hash_blocks {
            self.store.open(ObjectKind::Block, &store_id, &id).and_then(|f| {
                hash_reader(f).map_err(|e| StoreError::Io {
                    action: "reading",
                    path: self.store.path(ObjectKind::Block, &store_id, &id),
                    source: e,
                })
            })
        } else {
            let path = self.store.path(ObjectKind::Block, &store_id, &id);
            match std::fs::metadata(&path) {
                Ok(m) => Ok((id, m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound {
                    kind: ObjectKind::Block,
                    store: store_id,
                    id,
                    path,
                }),
                Err(e) => Err(StoreError::Io {
                    action: "checking",
                    path,
                    source: e,
                }),
            }
        };
        match result {
            Ok((actual, size)) if actual == id => {
                self.stats.blocks += 1;
                self.stats.block_bytes += size;
                self.visitor.block(&id, path, size);
            }
            Ok((actual, _)) => self.problem(
                ObjectKind::Block,
                id,
                Some(path),
                Some(commit),
                Defect::Corrupt(format!("content hashes to {actual}, not to its id")),
            ),
            Err(StoreError::NotFound { .. }) => {
                self.problem(ObjectKind::Block, id, Some(path), Some(commit), Defect::Missing)
            }
            Err(e) => self.problem(
                ObjectKind::Block,
                id,
                Some(path),
                Some(commit),
                Defect::Unreadable(e.to_string()),
            ),
        }
    }
}

/// SHA-1 and length of everything `r` yields, read in 1 MiB pieces.
pub fn hash_reader(mut r: impl Read) -> std::io::Result<(ObjectId, u64)> {
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((ObjectId::from_digest(h.finalize().into()), total))
}
