//! Small generated histories for the power-loss model: two or three groups of syncs of three
//! libraries (two plain ones and a virtual library of the first, whose fs objects and blocks
//! live under its origin's store), each sync one batch in closure order of real Seafile
//! objects — blocks (some staged as files, as large blocks are), files, sub-folders, a root
//! folder, a commit on the previous head. Files keep blocks already in the store, folders keep
//! files and empty entries (the zero id); the virtual library re-stages an object its origin's
//! batch of the same group stages too, so one of the two finds it present and skips it.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seaf_seafile::{Commit, Dirent, FsObject, ObjectId, ObjectKind, RepoId, SeafDir, SeafFile};

use super::super::journal::Entry;

/// An object of the history: its bytes and the objects it points at, with their exact stores
/// (which the model knows and recovery has to work out).
#[derive(Debug, Clone)]
pub struct Object {
    pub data: Vec<u8>,
    pub refs: Vec<Entry>,
}

/// One staged object of a planned batch.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub data: Vec<u8>,
    /// Staged as a file of the staging folder (a large block).
    pub as_file: bool,
}

#[derive(Debug, Default)]
pub struct History {
    /// Groups of batches, in the order the committer takes them.
    pub groups: Vec<Vec<Vec<Planned>>>,
    pub universe: HashMap<Entry, Object>,
}

/// A library as the history has left it so far.
struct Library {
    commits: RepoId,
    objects: RepoId,
    head: Option<ObjectId>,
    root: Vec<Dirent>,
    blocks: Vec<ObjectId>,
}

pub fn generate(seed: u64) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let repo = |s: &str| RepoId::parse(s).unwrap();
    let origin = repo("11111111-1111-4111-8111-111111111111");
    let mut libs = [
        Library::new(origin, origin),
        Library::new(
            repo("22222222-2222-4222-8222-222222222222"),
            repo("22222222-2222-4222-8222-222222222222"),
        ),
        Library::new(repo("33333333-3333-4333-8333-333333333333"), origin),
    ];
    let mut history = History::default();
    let mut n = 0u64;
    for _ in 0..rng.gen_range(2..=3) {
        let mut group = Vec::new();
        let mut shared = None;
        for (i, lib) in libs.iter_mut().enumerate() {
            if rng.gen_bool(0.3) && !(i == 2 && shared.is_some()) {
                continue;
            }
            let reuse = if i == 2 { shared.take() } else { None };
            let batch = lib.sync(&mut rng, &mut history.universe, &mut n, reuse);
            if i == 0 {
                shared = shared_file(&batch);
            }
            group.push(batch);
        }
        if group.is_empty() {
            group.push(libs[1].sync(&mut rng, &mut history.universe, &mut n, None));
        }
        let swap = rng.gen_range(0..group.len());
        group.swap(0, swap);
        history.groups.push(group);
    }
    history
}

/// The first file of an origin's batch with its blocks, for its virtual library to stage too.
fn shared_file(batch: &[Planned]) -> Option<Vec<Planned>> {
    let file_at = batch.iter().position(|p| p.entry.kind == ObjectKind::Fs)?;
    Some(
        batch[..=file_at]
            .iter()
            .filter(|p| p.entry.kind != ObjectKind::Fs || p.entry.id == batch[file_at].entry.id)
            .cloned()
            .collect(),
    )
}

impl Library {
    fn new(commits: RepoId, objects: RepoId) -> Library {
        Library {
            commits,
            objects,
            head: None,
            root: Vec::new(),
            blocks: Vec::new(),
        }
    }

    fn entry(&self, kind: ObjectKind, id: ObjectId) -> Entry {
        let store = if kind == ObjectKind::Commit {
            self.commits
        } else {
            self.objects
        };
        Entry { kind, store, id }
    }

    /// One sync: a batch in closure order, its objects added to `universe`.
    fn sync(
        &mut self,
        rng: &mut StdRng,
        universe: &mut HashMap<Entry, Object>,
        n: &mut u64,
        reuse: Option<Vec<Planned>>,
    ) -> Vec<Planned> {
        let mut batch = Vec::new();
        let mut entries = Vec::new();
        if let Some(shared) = reuse {
            let file = shared.last().expect("a file").entry.id;
            batch.extend(shared);
            entries.push(file_dirent(file, "shared", *n));
        }
        for _ in 0..rng.gen_range(1..=2) {
            *n += 1;
            let file = self.new_file(rng, universe, &mut batch, *n);
            entries.push(file_dirent(file, &format!("f{n}"), *n));
        }
        if rng.gen_bool(0.3) {
            entries.push(file_dirent(
                ObjectId::parse(&"0".repeat(40)).unwrap(),
                &format!("empty{n}"),
                *n,
            ));
        }
        if rng.gen_bool(0.5) {
            let (id, data) = dir(entries.clone());
            self.add(universe, &mut batch, ObjectKind::Fs, id, data, false, &entries);
            entries = vec![dir_dirent(id, &format!("d{n}"), *n)];
        }
        let mut root = self.root.clone();
        root.extend(entries);
        let (root_id, data) = dir(root.clone());
        self.add(universe, &mut batch, ObjectKind::Fs, root_id, data, false, &root);
        self.root = root;
        let commit = self.commit(root_id, *n);
        let refs = [
            Some(self.entry(ObjectKind::Fs, root_id)),
            self.head.map(|p| self.entry(ObjectKind::Commit, p)),
        ];
        let entry = self.entry(ObjectKind::Commit, commit.commit_id);
        universe.insert(
            entry,
            Object {
                data: commit.to_stored(),
                refs: refs.into_iter().flatten().collect(),
            },
        );
        batch.push(Planned {
            entry,
            data: commit.to_stored(),
            as_file: false,
        });
        self.head = Some(commit.commit_id);
        batch
    }

    /// New blocks (and maybe one already in the store), and the file made of them.
    fn new_file(
        &mut self,
        rng: &mut StdRng,
        universe: &mut HashMap<Entry, Object>,
        batch: &mut Vec<Planned>,
        n: u64,
    ) -> ObjectId {
        let mut block_ids = Vec::new();
        for b in 0..rng.gen_range(1..=2) {
            let len = rng.gen_range(8..40);
            let mut data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            data.extend(format!("{n}.{b}").bytes());
            let id = ObjectId::hash_of(&data);
            let as_file = rng.gen_bool(0.25);
            self.add(universe, batch, ObjectKind::Block, id, data, as_file, &[]);
            block_ids.push(id);
        }
        if !self.blocks.is_empty() && rng.gen_bool(0.4) {
            block_ids.push(self.blocks[rng.gen_range(0..self.blocks.len())]);
        }
        self.blocks.extend(&block_ids);
        let file = FsObject::File(SeafFile {
            block_ids: block_ids.clone(),
            size: 100,
        });
        let (id, data) = file.encode();
        let refs = block_ids
            .into_iter()
            .map(|b| self.entry(ObjectKind::Block, b))
            .collect::<Vec<_>>();
        let entry = self.entry(ObjectKind::Fs, id);
        universe.insert(
            entry,
            Object {
                data: data.clone(),
                refs,
            },
        );
        batch.push(Planned {
            entry,
            data,
            as_file: false,
        });
        id
    }

    /// Stages an fs object or block whose references are `dirents`' ids.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        universe: &mut HashMap<Entry, Object>,
        batch: &mut Vec<Planned>,
        kind: ObjectKind,
        id: ObjectId,
        data: Vec<u8>,
        as_file: bool,
        dirents: &[Dirent],
    ) {
        let refs = dirents
            .iter()
            .filter(|d| !d.id.is_zero())
            .map(|d| self.entry(ObjectKind::Fs, d.id))
            .collect();
        let entry = self.entry(kind, id);
        universe.insert(
            entry,
            Object {
                data: data.clone(),
                refs,
            },
        );
        batch.push(Planned { entry, data, as_file });
    }

    fn commit(&self, root_id: ObjectId, n: u64) -> Commit {
        Commit {
            commit_id: ObjectId::hash_of(format!("commit {} {n}", self.commits).as_bytes()),
            root_id,
            repo_id: self.commits,
            creator_name: Some("model@example.com".into()),
            creator: "0".repeat(40),
            description: format!("sync {n}"),
            ctime: n as i64,
            parent_id: self.head,
            second_parent_id: None,
            repo_name: "model".into(),
            repo_desc: String::new(),
            repo_category: None,
            encrypted: None,
            enc_version: None,
            magic: None,
            key: None,
            no_local_history: 0,
            version: 1,
            new_merge: None,
        }
    }
}

fn dir(dirents: Vec<Dirent>) -> (ObjectId, Vec<u8>) {
    let mut d = SeafDir { dirents };
    d.sort_entries();
    FsObject::Dir(d).encode()
}

fn file_dirent(id: ObjectId, name: &str, n: u64) -> Dirent {
    Dirent {
        id,
        mode: 0o100644,
        modifier: Some("model@example.com".into()),
        mtime: n as i64,
        name: name.to_string(),
        size: Some(100),
    }
}

fn dir_dirent(id: ObjectId, name: &str, n: u64) -> Dirent {
    Dirent {
        id,
        mode: 0o040000,
        modifier: None,
        mtime: n as i64,
        name: name.to_string(),
        size: None,
    }
}
