//! Writes Seafile libraries in the exact on-disk format of a real server (repo version 1), so
//! tests and benchmarks run against data that looks like production data without a Seafile
//! server.
//!
//! What "exact" means here (checked against a real server's data set):
//! - commits are plain jansson JSON under `storage/commits/<repo>/`, their id is the C server's
//!   formula ([`Commit::compute_id_c`]); merge commits have a second parent, the description
//!   `Auto merge by system` and `new_merge: 1`;
//! - fs objects are zlib-compressed sorted-key JSON, blocks are raw, both under
//!   `storage/{fs,blocks}/<store>/` where the store is the origin library for a virtual library;
//! - empty files and empty directories have the all-zero id and no object on disk;
//! - encrypted libraries carry `encrypted`/`enc_version`/`magic`/`key` in their commits and
//!   opaque blocks (AES-CBC sized: plaintext rounded up to the next 16 bytes) whose id is the
//!   SHA-1 of the stored bytes; their dirents record the plaintext size.
//!
//! Everything is deterministic for a seed: repo ids come from the seeded generator and commit
//! times from a clock that starts at [`EPOCH`] and ticks once per commit, so the same calls give
//! the same bytes.
//!
//! Objects are written in the order that keeps the closure invariant (blocks, then file
//! objects, then directories deepest level first, then the commit, each level durable through
//! [`ObjectStore::write_batch`] before the next), so a generated store is a valid live store at
//! every moment, also while a backup agent watches it.

mod content;
mod tree;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seaf_seafile::{
    Commit, DbError, FsObject, NewObject, ObjectId, ObjectKind, ObjectStore, RepoId, RepoInfo, RepoRecord, RepoStores,
    SeafFile, SeafileDb, StoreError, VirtualRepo,
};
use sha1::{Digest, Sha1};

use content::Change;
use tree::{components, join, DirNode, FileNode, Node, NodeRef};

/// The time of every library's first commit (2026-11-21); the clock gives the other commits
/// EPOCH + 1, EPOCH + 2, … in the order they are made.
pub const EPOCH: i64 = 1_795_311_100;

/// Default block size: 1 MiB keeps multi-block files cheap in tests.
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;

/// Seafile never writes blocks larger than 8 MiB.
pub const MAX_BLOCK_SIZE: usize = 8 << 20;

/// The creator id Seafile writes into commits made by the server (web, API, merges).
const CREATOR_ID: &str = "0000000000000000000000000000000000000000";

/// Blocks of one commit are held back (and written in one batch) up to this many bytes.
const PENDING_BLOCK_BYTES: usize = 64 << 20;

/// Why generating failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path:?} is not a folder of library {repo}")]
    NotAFolder { path: String, repo: RepoId },
}

/// What library to generate. Start from a preset ([`LibrarySpec::rich`], [`LibrarySpec::small`])
/// or [`Default`] and override fields with struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySpec {
    /// Library name (`repo_name` in commits, `RepoInfo.name`).
    pub name: String,
    /// Library description (`repo_desc` in commits).
    pub desc: String,
    /// Owner's email: `RepoOwner`, the commits' `creator_name` and the files' `modifier`.
    pub owner: String,
    /// Random commits after the initial `Created library` commit (and after the scripted history
    /// when `rich_history` is set), each with `changes_per_commit` random changes.
    pub commits: usize,
    pub changes_per_commit: usize,
    /// Start with the scripted history that covers every case a backup must get right (see
    /// [`LibrarySpec::rich`]).
    pub rich_history: bool,
    /// Write an encrypted (enc_version 2) library: encryption fields in commits, opaque blocks.
    pub encrypted: bool,
    /// Largest block (plaintext bytes per block). At most [`MAX_BLOCK_SIZE`].
    pub block_size: usize,
    /// Largest size of a randomly generated file. Some random files are empty.
    pub max_file_size: u64,
}

impl Default for LibrarySpec {
    fn default() -> Self {
        LibrarySpec {
            name: "Library".to_owned(),
            desc: String::new(),
            owner: "a@example.com".to_owned(),
            commits: 3,
            changes_per_commit: 3,
            rich_history: false,
            encrypted: false,
            block_size: DEFAULT_BLOCK_SIZE,
            max_file_size: 64 << 10,
        }
    }
}

impl LibrarySpec {
    /// A library whose history covers every case a backup must get right, like the real
    /// server's fixture: nested folders three deep, non-ASCII file and folder names, an empty
    /// file and an empty folder (zero ids, no objects), a file of four blocks (three full) later
    /// edited in the middle block only, a copy sharing its file object, a folder added and
    /// removed again, a commit with several changes (newlines in its description), renames,
    /// a move, deletes, modifications, and a head that is a real merge of two branches forked
    /// from one parent.
    ///
    /// Paths at head: `/readme.md`, `/readme-copy.md`, `/empty.txt`,
    /// `/Ünïcödé 文件 — résumé.txt`, `/docs/draft.txt`, `/docs/2024/report-final.txt`,
    /// `/docs/2024/notes/nested.txt`, `/Ärchiv 档案/alt – 旧.txt`, `/big/large.bin`, and the
    /// empty folder `/empty folder`.
    pub fn rich(name: &str) -> Self {
        LibrarySpec {
            name: name.to_owned(),
            desc: "rich history: nested folders, renames, deletes and a merge".to_owned(),
            commits: 0,
            changes_per_commit: 4,
            rich_history: true,
            max_file_size: 256 << 10,
            ..LibrarySpec::default()
        }
    }

    /// A few small files over a few commits: cheap enough to generate hundreds of libraries.
    pub fn small(name: &str) -> Self {
        LibrarySpec {
            name: name.to_owned(),
            commits: 2,
            changes_per_commit: 3,
            max_file_size: 16 << 10,
            ..LibrarySpec::default()
        }
    }
}

/// What a file at head should be, for checking a backup or a restore against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    /// The size Seafile records (the plaintext size for encrypted libraries, whose stored blocks
    /// are longer).
    pub size: u64,
    /// SHA-1 of the content: the blocks concatenated in order (for encrypted libraries that is
    /// the ciphertext, which is all a backup can check).
    pub sha1: ObjectId,
    /// The file object id; [`ObjectId::ZERO`] for an empty file.
    pub file_id: ObjectId,
}

/// Encryption fields of an encrypted library's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub enc_version: i64,
    /// 64 hex characters.
    pub magic: String,
    /// 96 hex characters.
    pub key: String,
}

/// A generated library: its ids, its metadata row and what it holds at head. Keeps its current
/// tree so [`Generator::update_library`] can add commits later.
#[derive(Debug, Clone)]
pub struct GeneratedLibrary {
    pub repo_id: RepoId,
    /// Where its objects are: commits under `repo_id`, fs objects and blocks under the origin
    /// for a virtual library.
    pub stores: RepoStores,
    pub spec: LibrarySpec,
    pub encryption: Option<Encryption>,
    pub head: ObjectId,
    /// Every commit of the history, oldest first (both branches of a merge included).
    pub commits: Vec<ObjectId>,
    pub merge_commits: Vec<ObjectId>,
    /// Every file at head by path (`/docs/a.txt`).
    pub files: BTreeMap<String, ExpectedFile>,
    /// Every folder at head (`/docs`, `/docs/2024`; the root is not listed), empty ones included.
    pub dirs: BTreeSet<String>,
    /// The rows Seafile's database holds for it (head, RepoInfo, RepoOwner, VirtualRepo).
    pub record: RepoRecord,
    tree: DirNode,
}

impl GeneratedLibrary {
    /// The origin library of a virtual library.
    pub fn origin(&self) -> Option<RepoId> {
        self.record.virtual_repo.as_ref().map(|v| v.origin_repo)
    }

    /// The head commit's time (`RepoInfo.update_time`).
    pub fn head_ctime(&self) -> i64 {
        self.record.info.as_ref().and_then(|i| i.update_time).unwrap_or(EPOCH)
    }
}

/// What one commit's changes need to know about their library.
#[derive(Debug, Clone)]
struct Ctx {
    repo_id: RepoId,
    objects: RepoId,
    spec: LibrarySpec,
    encryption: Option<Encryption>,
}

impl Ctx {
    fn of(lib: &GeneratedLibrary) -> Self {
        Ctx {
            repo_id: lib.repo_id,
            objects: lib.stores.objects,
            spec: lib.spec.clone(),
            encryption: lib.encryption.clone(),
        }
    }
}

/// Objects of the commit being built that are not written yet. Blocks are written early only
/// when they exceed [`PENDING_BLOCK_BYTES`] (and may then stay unreferenced if the commit drops
/// their file again, as happens on real servers too).
#[derive(Debug, Default)]
struct Pending {
    blocks: Vec<(ObjectId, Vec<u8>)>,
    /// Position of each block in `blocks`.
    block_index: HashMap<ObjectId, usize>,
    block_bytes: usize,
    files: Vec<(ObjectId, Vec<u8>)>,
}

/// Writes libraries into one `seafile-data` directory. Deterministic for a seed and a sequence
/// of calls.
#[derive(Debug)]
pub struct Generator {
    store: ObjectStore,
    rng: StdRng,
    clock: i64,
    pending: Pending,
}

impl Generator {
    /// A generator writing under `data_dir/storage/` (the directory Seafile calls
    /// `seafile-data`).
    pub fn new(data_dir: &Path, seed: u64) -> Self {
        Generator {
            // Generated data is thrown away after a crash: no barriers (they were nearly all
            // of the generator's time).
            store: ObjectStore::unsynced(data_dir),
            rng: StdRng::seed_from_u64(seed),
            clock: EPOCH + 1,
            pending: Pending::default(),
        }
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// The time the next commit gets.
    fn tick(&mut self) -> i64 {
        let now = self.clock;
        self.clock += 1;
        now
    }

    /// Creates a library: the `Created library` commit (empty root, as Seafile starts every
    /// library), the scripted history if the spec asks for it, then `spec.commits` random commits.
    ///
    /// Panics if `spec.block_size` is 0 or above [`MAX_BLOCK_SIZE`].
    pub fn create_library(&mut self, spec: LibrarySpec) -> Result<GeneratedLibrary, GenError> {
        assert!(
            (1..=MAX_BLOCK_SIZE).contains(&spec.block_size),
            "block_size must be 1..=8 MiB, not {}",
            spec.block_size
        );
        self.pending = Pending::default();
        let repo_id = RepoId::parse(&content::uuid_v4(&mut self.rng)).expect("uuid_v4 is a canonical uuid");
        let encryption = spec.encrypted.then(|| Encryption {
            enc_version: 2,
            magic: content::random_hex(&mut self.rng, 32),
            key: content::random_hex(&mut self.rng, 48),
        });
        let mut lib = GeneratedLibrary {
            repo_id,
            stores: RepoStores::new(repo_id, None),
            encryption,
            head: ObjectId::ZERO,
            commits: Vec::new(),
            merge_commits: Vec::new(),
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            record: RepoRecord {
                repo_id,
                head: ObjectId::ZERO,
                info: None,
                owner: Some(spec.owner.clone()),
                virtual_repo: None,
                storage_id: None,
            },
            tree: DirNode::new(EPOCH),
            spec,
        };
        let ctx = Ctx::of(&lib);
        // Every library is created at EPOCH, as if a script set them all up within one second.
        // Like on a real server, the `Created library` commits of one owner then share their id
        // (the id formula does not include the repo id) while their bytes differ: commits are
        // only unique per (repo id, commit id).
        let first = self.write_commit(&ctx, &mut lib.tree, [None, None], "Created library".to_owned(), EPOCH)?;
        self.advance(&mut lib, first, EPOCH);

        if lib.spec.rich_history {
            self.rich_history(&ctx, &mut lib)?;
        }
        for _ in 0..lib.spec.commits {
            let changes = lib.spec.changes_per_commit;
            self.update_library(&mut lib, changes)?;
        }
        Ok(lib)
    }

    /// Adds one commit with `changes` random changes (add, modify, delete, rename or move a
    /// file, copy a file, add or remove a folder) on top of the library's head, and returns the
    /// new head. `lib` is updated (head, commits, files, dirs, record).
    ///
    /// For a virtual library the new objects go to the origin's store, as Seafile does; the
    /// origin library itself is not brought in step.
    pub fn update_library(&mut self, lib: &mut GeneratedLibrary, changes: usize) -> Result<ObjectId, GenError> {
        self.pending = Pending::default();
        let ctx = Ctx::of(lib);
        let now = self.tick();
        let mut done = Vec::with_capacity(changes);
        for _ in 0..changes.max(1) {
            done.push(self.random_change(&ctx, &mut lib.tree, now)?);
        }
        let head = self.write_commit(
            &ctx,
            &mut lib.tree,
            [Some(lib.head), None],
            content::describe(&done),
            now,
        )?;
        self.advance(lib, head, now);
        Ok(head)
    }

    /// Shares the folder `path` of `origin` as a virtual library (a sub-library), as Seafile's
    /// `create_virtual_repo` does: one commit under the new library's own id whose root is the
    /// origin's folder object at `path` (which stays in the origin's store), owned by the
    /// origin's owner, with `VirtualRepo(origin, path, base_commit = origin's head)`.
    pub fn create_virtual_library(
        &mut self,
        origin: &GeneratedLibrary,
        path: &str,
    ) -> Result<GeneratedLibrary, GenError> {
        self.pending = Pending::default();
        let parts = components(path);
        let not_a_folder = || GenError::NotAFolder {
            path: path.to_owned(),
            repo: origin.repo_id,
        };
        if parts.is_empty() || origin.origin().is_some() {
            // Seafile refuses sub-libraries of the root and of sub-libraries.
            return Err(not_a_folder());
        }
        let Some(NodeRef::Dir(dir)) = origin.tree.get(&parts) else {
            return Err(not_a_folder());
        };
        let mut tree = dir.clone();
        let name = parts.last().expect("non-empty").clone();
        let repo_id = RepoId::parse(&content::uuid_v4(&mut self.rng)).expect("uuid_v4 is a canonical uuid");
        let encryption = origin.encryption.as_ref().map(|e| Encryption {
            enc_version: e.enc_version,
            // The magic depends on the repo id; the random key is the origin's.
            magic: content::random_hex(&mut self.rng, 32),
            key: e.key.clone(),
        });
        let spec = LibrarySpec {
            name: name.clone(),
            desc: name,
            rich_history: false,
            commits: 0,
            ..origin.spec.clone()
        };
        let mut lib = GeneratedLibrary {
            repo_id,
            stores: RepoStores::new(repo_id, Some(origin.repo_id)),
            encryption,
            head: ObjectId::ZERO,
            commits: Vec::new(),
            merge_commits: Vec::new(),
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            record: RepoRecord {
                repo_id,
                head: ObjectId::ZERO,
                info: None,
                owner: Some(spec.owner.clone()),
                virtual_repo: Some(VirtualRepo {
                    origin_repo: origin.repo_id,
                    path: join(&parts),
                    base_commit: Some(origin.head),
                }),
                storage_id: None,
            },
            tree: DirNode::new(EPOCH),
            spec,
        };
        let ctx = Ctx::of(&lib);
        let now = self.tick();
        let description = lib.spec.desc.clone();
        let head = self.write_commit(&ctx, &mut tree, [None, None], description, now)?;
        lib.tree = tree;
        self.advance(&mut lib, head, now);
        Ok(lib)
    }

    /// The scripted part of [`LibrarySpec::rich`], one commit per step like a user working
    /// through the web interface.
    fn rich_history(&mut self, ctx: &Ctx, lib: &mut GeneratedLibrary) -> Result<(), GenError> {
        type Step = fn(&mut Generator, &Ctx, &mut DirNode, i64) -> Result<Vec<Change>, GenError>;
        let steps: &[Step] = &[
            |g, c, t, now| g.add_file(c, t, "/readme.md", 23, now),
            |g, c, t, now| g.add_file(c, t, "/empty.txt", 0, now),
            |_, _, t, now| Ok(vec![mkdir(t, "/docs/2024/notes", now)]),
            |g, c, t, now| g.add_file(c, t, "/docs/2024/report.txt", 5000, now),
            |g, c, t, now| g.add_file(c, t, "/docs/2024/notes/nested.txt", 37, now),
            |g, c, t, now| g.add_file(c, t, "/Ünïcödé 文件 — résumé.txt", 30, now),
            |_, _, t, now| Ok(vec![mkdir(t, "/empty folder", now)]),
            |g, c, t, now| {
                let mut changes = vec![mkdir(t, "/Ärchiv 档案", now)];
                changes.extend(g.add_file(c, t, "/Ärchiv 档案/alt – 旧.txt", 1234, now)?);
                Ok(changes)
            },
            |g, c, t, now| g.add_file(c, t, "/obsolete.txt", 14, now),
            |g, c, t, now| g.add_file(c, t, "/draft.txt", 700, now),
            |_, _, t, now| Ok(vec![mkdir(t, "/big", now)]),
            |g, c, t, now| {
                let bs = c.spec.block_size as u64;
                g.add_file(c, t, "/big/large.bin", 3 * bs + bs / 2, now)
            },
            |g, c, t, now| g.modify_file(c, t, "/readme.md", now),
            |_, _, t, now| {
                Ok(vec![move_entry(
                    t,
                    "/docs/2024/report.txt",
                    "/docs/2024/report-final.txt",
                    now,
                )])
            },
            |_, _, t, now| Ok(vec![move_entry(t, "/draft.txt", "/docs/draft.txt", now)]),
            |_, _, t, now| Ok(vec![remove(t, "/obsolete.txt", now)]),
            |g, c, t, now| g.modify_file(c, t, "/big/large.bin", now),
            |_, _, t, now| Ok(vec![copy(t, "/readme.md", "/readme-copy.md", now)]),
            |g, c, t, now| {
                let mut changes = vec![mkdir(t, "/tmp-folder", now)];
                changes.extend(g.add_file(c, t, "/tmp-folder/x.txt", 4, now)?);
                changes.extend(g.add_file(c, t, "/tmp-folder/y.txt", 9, now)?);
                Ok(changes)
            },
            |_, _, t, now| Ok(vec![remove(t, "/tmp-folder", now)]),
        ];
        for step in steps {
            let now = self.tick();
            let changes = step(self, ctx, &mut lib.tree, now)?;
            let head = self.write_commit(
                ctx,
                &mut lib.tree,
                [Some(lib.head), None],
                content::describe(&changes),
                now,
            )?;
            self.advance(lib, head, now);
        }

        // Two branches from one parent, then Seafile's merge: the parent is the head the server
        // had, the second parent the commit that arrived based on an older head.
        let fork = lib.head;
        let mut other = lib.tree.clone();
        let now = self.tick();
        let changes = self.modify_file(ctx, &mut lib.tree, "/readme.md", now)?;
        let ours = self.write_commit(ctx, &mut lib.tree, [Some(fork), None], content::describe(&changes), now)?;
        self.advance(lib, ours, now);

        let now = self.tick();
        let nested = "/docs/2024/notes/nested.txt";
        let changes = self.modify_file(ctx, &mut other, nested, now)?;
        let theirs = self.write_commit(ctx, &mut other, [Some(fork), None], content::describe(&changes), now)?;
        lib.commits.push(theirs);

        let now = self.tick();
        let Some(NodeRef::File(merged)) = other.get(&components(nested)) else {
            unreachable!("modified above")
        };
        let merged = merged.clone();
        put(&mut lib.tree, nested, Node::File(merged), now);
        let merge = self.write_commit(
            ctx,
            &mut lib.tree,
            [Some(ours), Some(theirs)],
            "Auto merge by system".to_owned(),
            now,
        )?;
        lib.merge_commits.push(merge);
        self.advance(lib, merge, now);
        Ok(())
    }

    /// One random change at `now`.
    fn random_change(&mut self, ctx: &Ctx, tree: &mut DirNode, now: i64) -> Result<Change, GenError> {
        let mut files = Vec::new();
        let mut dirs = vec![Vec::new()];
        tree.walk(&mut Vec::new(), &mut files, &mut dirs);
        let files: Vec<String> = files.into_iter().map(|(p, _)| join(&p)).collect();
        let dirs: Vec<String> = dirs.iter().map(|d| join(d)).collect();
        let roll = self.rng.gen_range(0..100);
        let random_file = |rng: &mut StdRng| files[rng.gen_range(0..files.len())].clone();
        let random_dir = |rng: &mut StdRng| dirs[rng.gen_range(0..dirs.len())].clone();
        let change = match roll {
            35..=59 if !files.is_empty() => {
                let path = random_file(&mut self.rng);
                self.modify_file(ctx, tree, &path, now)?.remove(0)
            }
            60..=69 if !files.is_empty() => remove(tree, &random_file(&mut self.rng), now),
            70..=79 if !files.is_empty() => {
                let from = random_file(&mut self.rng);
                let to_dir = if self.rng.gen_bool(0.5) {
                    parent_of(&from)
                } else {
                    random_dir(&mut self.rng)
                };
                let name = if to_dir == parent_of(&from) {
                    content::file_name(&mut self.rng)
                } else {
                    base_name(&from).to_owned()
                };
                let to = free_path(tree, &to_dir, &name);
                move_entry(tree, &from, &to, now)
            }
            80..=89 => {
                // One new folder, sometimes with a sub-folder (`Added directory "a/b"`).
                let name = content::dir_name(&mut self.rng);
                let mut path = free_path(tree, &random_dir(&mut self.rng), &name);
                if self.rng.gen_bool(0.3) {
                    path = format!("{path}/{}", content::dir_name(&mut self.rng));
                }
                mkdir(tree, &path, now)
            }
            90..=94 if !files.is_empty() => {
                let from = random_file(&mut self.rng);
                let to = free_path(tree, &random_dir(&mut self.rng), base_name(&from));
                copy(tree, &from, &to, now)
            }
            95..=99 if dirs.len() > 1 => {
                let dir = dirs[self.rng.gen_range(1..dirs.len())].clone();
                remove(tree, &dir, now)
            }
            _ => {
                let dir = random_dir(&mut self.rng);
                let name = content::file_name(&mut self.rng);
                let path = free_path(tree, &dir, &name);
                let size = self.random_size(ctx);
                self.add_file(ctx, tree, &path, size, now)?.remove(0)
            }
        };
        Ok(change)
    }

    /// A file size: some empty, most small, a few up to `max_file_size`.
    fn random_size(&mut self, ctx: &Ctx) -> u64 {
        let max = ctx.spec.max_file_size;
        match self.rng.gen_range(0..100) {
            0..=9 => 0,
            _ if max == 0 => 0,
            10..=79 => self.rng.gen_range(1..=max.min(4096)),
            _ => self.rng.gen_range(1..=max),
        }
    }

    /// Creates a file of `size` random bytes at `path` (replacing what is there).
    fn add_file(
        &mut self,
        ctx: &Ctx,
        tree: &mut DirNode,
        path: &str,
        size: u64,
        now: i64,
    ) -> Result<Vec<Change>, GenError> {
        let file = self.new_file(ctx, size, now)?;
        put(tree, path, Node::File(file), now);
        Ok(vec![Change::Added(base_name(path).to_owned())])
    }

    /// Changes the content of the file at `path`. A file of three or more blocks gets its middle
    /// block replaced (the others stay shared with the old version, as with Seafile's
    /// content-defined chunking); a smaller one gets new content of a new random size.
    fn modify_file(&mut self, ctx: &Ctx, tree: &mut DirNode, path: &str, now: i64) -> Result<Vec<Change>, GenError> {
        let Some(NodeRef::File(old)) = tree.get(&components(path)) else {
            panic!("no file at {path:?}");
        };
        let old = old.clone();
        let file = if old.block_ids.len() >= 3 {
            self.rewrite_middle_block(ctx, &old, now)?
        } else {
            let mut size = self.random_size(ctx);
            if size == old.size {
                size += 1;
            }
            self.new_file(ctx, size, now)?
        };
        put(tree, path, Node::File(file), now);
        Ok(vec![Change::Modified(base_name(path).to_owned())])
    }

    /// A new file's blocks (staged) and file object (pending), `size` bytes of content.
    fn new_file(&mut self, ctx: &Ctx, size: u64, now: i64) -> Result<FileNode, GenError> {
        let modifier = ctx.spec.owner.clone();
        if size == 0 {
            return Ok(FileNode {
                id: ObjectId::ZERO,
                block_ids: Vec::new(),
                size: 0,
                sha1: ObjectId::hash_of(b""),
                mtime: now,
                modifier,
            });
        }
        let mut hasher = Sha1::new();
        let mut block_ids = Vec::new();
        let mut left = size;
        while left > 0 {
            let plain = left.min(ctx.spec.block_size as u64);
            let data = self.block_content(ctx, plain, size);
            hasher.update(&data);
            let id = ObjectId::hash_of(&data);
            self.stage_block(ctx, id, data)?;
            block_ids.push(id);
            left -= plain;
        }
        self.finish_file(
            block_ids,
            size,
            ObjectId::from_digest(hasher.finalize().into()),
            now,
            modifier,
        )
    }

    /// Replaces the middle block of a multi-block file with new bytes of the same length.
    fn rewrite_middle_block(&mut self, ctx: &Ctx, old: &FileNode, now: i64) -> Result<FileNode, GenError> {
        let middle = old.block_ids.len() / 2;
        let old_block = self.read_block(ctx, &old.block_ids[middle])?;
        let data = content::random_bytes(&mut self.rng, old_block.len());
        let new_id = ObjectId::hash_of(&data);
        self.stage_block(ctx, new_id, data)?;
        let mut block_ids = old.block_ids.clone();
        block_ids[middle] = new_id;
        let mut hasher = Sha1::new();
        for id in &block_ids {
            hasher.update(self.read_block(ctx, id)?);
        }
        let sha1 = ObjectId::from_digest(hasher.finalize().into());
        self.finish_file(block_ids, old.size, sha1, now, ctx.spec.owner.clone())
    }

    fn finish_file(
        &mut self,
        block_ids: Vec<ObjectId>,
        size: u64,
        sha1: ObjectId,
        mtime: i64,
        modifier: String,
    ) -> Result<FileNode, GenError> {
        let (id, stored) = FsObject::File(SeafFile {
            block_ids: block_ids.clone(),
            size,
        })
        .encode();
        self.pending.files.push((id, stored));
        Ok(FileNode {
            id,
            block_ids,
            size,
            sha1,
            mtime,
            modifier,
        })
    }

    /// The stored bytes of one block holding `plain` bytes of a file of `file_size` bytes.
    fn block_content(&mut self, ctx: &Ctx, plain: u64, file_size: u64) -> Vec<u8> {
        if ctx.encryption.is_some() {
            // AES-CBC with PKCS#7 padding: always 1..=16 bytes longer.
            let stored = (plain / 16 + 1) * 16;
            content::random_bytes(&mut self.rng, stored as usize)
        } else if file_size <= content::TEXT_LIMIT {
            content::text(&mut self.rng, plain as usize)
        } else {
            content::random_bytes(&mut self.rng, plain as usize)
        }
    }

    /// Queues a block for the next block batch (or skips it if the store has it already).
    fn stage_block(&mut self, ctx: &Ctx, id: ObjectId, data: Vec<u8>) -> Result<(), GenError> {
        if self.pending.block_index.contains_key(&id) || self.store.exists(ObjectKind::Block, &ctx.objects, &id)? {
            return Ok(());
        }
        self.pending.block_bytes += data.len();
        self.pending.block_index.insert(id, self.pending.blocks.len());
        self.pending.blocks.push((id, data));
        if self.pending.block_bytes > PENDING_BLOCK_BYTES {
            self.flush_blocks(ctx)?;
        }
        Ok(())
    }

    fn flush_blocks(&mut self, ctx: &Ctx) -> Result<(), GenError> {
        let blocks = std::mem::take(&mut self.pending.blocks);
        self.pending.block_index.clear();
        self.pending.block_bytes = 0;
        self.write_level(ObjectKind::Block, ctx.objects, &blocks, &mut HashSet::new())
    }

    fn read_block(&self, ctx: &Ctx, id: &ObjectId) -> Result<Vec<u8>, GenError> {
        if let Some(&i) = self.pending.block_index.get(id) {
            return Ok(self.pending.blocks[i].1.clone());
        }
        Ok(self.store.read(ObjectKind::Block, &ctx.objects, id)?)
    }

    /// Writes the objects of one level in one durable batch, skipping what is on disk already.
    fn write_level(
        &self,
        kind: ObjectKind,
        store: RepoId,
        objects: &[(ObjectId, Vec<u8>)],
        written: &mut HashSet<ObjectId>,
    ) -> Result<(), GenError> {
        let mut batch = Vec::with_capacity(objects.len());
        for (id, data) in objects {
            if written.insert(*id) && !self.store.exists(kind, &store, id)? {
                batch.push(NewObject {
                    kind,
                    store,
                    id: *id,
                    data,
                });
            }
        }
        Ok(self.store.write_batch(&batch)?)
    }

    /// Writes everything the commit needs, level by level, then the commit itself.
    fn write_commit(
        &mut self,
        ctx: &Ctx,
        tree: &mut DirNode,
        parents: [Option<ObjectId>; 2],
        description: String,
        ctime: i64,
    ) -> Result<ObjectId, GenError> {
        // Only what the tree still references is written: a file added and removed again within
        // the commit leaves nothing behind, so the store holds exactly the closures.
        let mut live = HashSet::new();
        let mut files = Vec::new();
        tree.walk(&mut Vec::new(), &mut files, &mut Vec::new());
        for (_, f) in files {
            live.insert(f.id);
            live.extend(f.block_ids.iter().copied());
        }
        self.pending.blocks.retain(|(id, _)| live.contains(id));
        self.pending.files.retain(|(id, _)| live.contains(id));
        self.flush_blocks(ctx)?;
        let files = std::mem::take(&mut self.pending.files);
        self.write_level(ObjectKind::Fs, ctx.objects, &files, &mut HashSet::new())?;
        let mut levels = Vec::new();
        let root_id = tree.encode(0, &mut levels);
        let mut written = HashSet::new();
        for level in levels.iter().rev() {
            self.write_level(ObjectKind::Fs, ctx.objects, level, &mut written)?;
        }
        let enc = ctx.encryption.as_ref();
        let mut commit = Commit {
            commit_id: ObjectId::ZERO,
            root_id,
            repo_id: ctx.repo_id,
            creator_name: Some(ctx.spec.owner.clone()),
            creator: CREATOR_ID.to_owned(),
            description,
            ctime,
            parent_id: parents[0],
            second_parent_id: parents[1],
            repo_name: ctx.spec.name.clone(),
            repo_desc: ctx.spec.desc.clone(),
            repo_category: None,
            encrypted: enc.map(|_| "true".to_owned()),
            enc_version: enc.map(|e| e.enc_version),
            magic: enc.map(|e| e.magic.clone()),
            key: enc.map(|e| e.key.clone()),
            no_local_history: 1,
            version: 1,
            new_merge: parents[1].map(|_| 1),
        };
        commit.commit_id = commit.compute_id_c();
        let stored = commit.to_stored();
        self.store
            .write(ObjectKind::Commit, &ctx.repo_id, &commit.commit_id, &stored)?;
        Ok(commit.commit_id)
    }

    /// Makes `head` (committed at `ctime`) the library's head and refreshes what it holds.
    fn advance(&self, lib: &mut GeneratedLibrary, head: ObjectId, ctime: i64) {
        lib.head = head;
        lib.commits.push(head);
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        lib.tree.walk(&mut Vec::new(), &mut files, &mut dirs);
        lib.files = files
            .into_iter()
            .map(|(path, f)| {
                (
                    join(&path),
                    ExpectedFile {
                        size: f.size,
                        sha1: f.sha1,
                        file_id: f.id,
                    },
                )
            })
            .collect();
        lib.dirs = dirs.iter().map(|d| join(d)).collect();
        lib.record.head = head;
        lib.record.info = Some(RepoInfo {
            name: lib.spec.name.clone(),
            update_time: Some(ctime),
            version: Some(1),
            is_encrypted: Some(i64::from(lib.encryption.is_some())),
            last_modifier: Some(lib.spec.owner.clone()),
            status: Some(0),
        });
    }
}

/// Writes Seafile's core tables and every library's rows (Repo, Branch, RepoHead, RepoInfo,
/// RepoOwner, VirtualRepo) into `db`, as the server would hold them.
pub async fn write_database(db: &SeafileDb, libs: &[&GeneratedLibrary]) -> Result<(), DbError> {
    db.create_core_tables().await?;
    for lib in libs {
        db.write_repo(&lib.record).await?;
    }
    Ok(())
}

fn parent_of(path: &str) -> String {
    let parts = components(path);
    join(&parts[..parts.len().saturating_sub(1)])
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `dir/name`, or `dir/name (1)` etc. if that is taken.
fn free_path(tree: &DirNode, dir: &str, name: &str) -> String {
    let dir_parts = components(dir);
    let Some(NodeRef::Dir(d)) = tree.get(&dir_parts) else {
        panic!("no folder at {dir:?}");
    };
    let name = content::unique_name(name, |n| d.entries.contains_key(n));
    let mut parts = dir_parts;
    parts.push(name);
    join(&parts)
}

/// Puts `node` at `path`, whose parent folder must exist.
fn put(tree: &mut DirNode, path: &str, node: Node, now: i64) {
    let mut parts = components(path);
    let name = parts.pop().expect("not the root");
    let parent = tree
        .dir_mut(&parts, now)
        .unwrap_or_else(|| panic!("no folder above {path:?}"));
    parent.entries.insert(name, node);
}

/// Takes the entry at `path` out of the tree.
fn take(tree: &mut DirNode, path: &str, now: i64) -> Node {
    let mut parts = components(path);
    let name = parts.pop().expect("not the root");
    tree.dir_mut(&parts, now)
        .and_then(|parent| parent.entries.remove(&name))
        .unwrap_or_else(|| panic!("nothing at {path:?}"))
}

/// Creates the folder `path` and any missing parents (`mkdir -p`).
fn mkdir(tree: &mut DirNode, path: &str, now: i64) -> Change {
    let parts = components(path);
    let mut first_new = None;
    for depth in 1..=parts.len() {
        if tree.get(&parts[..depth]).is_none() {
            first_new.get_or_insert(depth - 1);
            put(tree, &join(&parts[..depth]), Node::Dir(DirNode::new(now)), now);
        }
    }
    // Seafile names the new folders by their path below the deepest existing one.
    Change::AddedDir(parts[first_new.unwrap_or(parts.len() - 1)..].join("/"))
}

/// Removes a file or folder.
fn remove(tree: &mut DirNode, path: &str, now: i64) -> Change {
    let name = base_name(path).to_owned();
    match take(tree, path, now) {
        Node::File(_) => Change::Deleted(name),
        Node::Dir(_) => Change::RemovedDir(name),
    }
}

/// Renames (same folder) or moves (other folder) an entry; its content and mtime stay.
fn move_entry(tree: &mut DirNode, from: &str, to: &str, now: i64) -> Change {
    let node = take(tree, from, now);
    put(tree, to, node, now);
    let name = base_name(from).to_owned();
    if parent_of(from) == parent_of(to) {
        Change::Renamed(name)
    } else {
        Change::Moved(name)
    }
}

/// Copies a file: the copy shares the file object (and blocks) and gets a new mtime.
fn copy(tree: &mut DirNode, from: &str, to: &str, now: i64) -> Change {
    let Some(NodeRef::File(f)) = tree.get(&components(from)) else {
        panic!("no file at {from:?}");
    };
    let file = FileNode {
        mtime: now,
        ..f.clone()
    };
    put(tree, to, Node::File(file), now);
    Change::Added(base_name(to).to_owned())
}
