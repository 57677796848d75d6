//! Libraries of real-sized files, in Seafile's format: files of 1–4 blocks of 1–8 MiB of random
//! (incompressible) bytes, as photos, videos and archives are, written through seaf_seafile.
//!
//! testgen's random libraries are made of small files (most under 4 KiB) and cut every file
//! into blocks of one fixed size, so their per-object costs dominate; these libraries show the
//! cost per byte. Each library is a linear history: the `Created library` commit (empty root,
//! as Seafile starts every library), then commits that each add a folder of `FILES_PER_COMMIT`
//! new files, until the library holds its share of the bytes. Every level is written as one
//! durable batch before the level that points at it (blocks, file objects, the new folder, the
//! root, the commit), as testgen and Seafile do.

use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use seaf_seafile::{
    Commit, Dirent, FsObject, NewObject, ObjectId, ObjectKind, ObjectStore, RepoId, RepoInfo, RepoRecord, SeafDir,
    SeafFile,
};

use crate::site::{initial_copy, BackupSide, Env, Primary};
use crate::util::{free_bytes, gib, mib, secs};
use crate::{Row, Scale};

const MIB: u64 = 1 << 20;
/// New files per commit.
const FILES_PER_COMMIT: usize = 4;
const FILE_MODE: u32 = 0o100644;
const DIR_MODE: u32 = 0o040000;
const OWNER: &str = "big@example.com";
/// The creator id Seafile writes into commits made by the server.
const CREATOR_ID: &str = "0000000000000000000000000000000000000000";
/// testgen's epoch: the first commit's time.
const EPOCH: i64 = seaf_testgen::EPOCH;

/// The `bigfiles` phase: `scale.big_bytes` of real-sized files in `scale.big_libraries`
/// libraries, copied by an empty backup, against `cp -a` + `sync`.
pub fn run(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    let dir = env.work.join("bigfiles");
    std::fs::create_dir_all(&dir)?;
    // Three copies (the primary's, `cp -a`'s, the backup's) and some room for everything else.
    let need = 3 * scale.big_bytes + (2 << 30);
    let free = free_bytes(&dir)?;
    anyhow::ensure!(
        free >= need,
        "the bigfiles phase needs about {} free under {}, there are {} (--work-dir elsewhere, or a smaller --scale)",
        gib(need as f64),
        dir.display(),
        gib(free as f64)
    );
    let data = dir.join("primary/seafile-data");
    let libraries = scale.big_libraries.max(1);
    eprintln!(
        "bigfiles: generating {} in {libraries} libraries ({} free)…",
        gib(scale.big_bytes as f64),
        gib(free as f64)
    );
    let started = Instant::now();
    let big = generate(&data, 8, libraries, scale.big_bytes / libraries as u64)?;
    eprintln!(
        "bigfiles: {} files, {} blocks, {} of blocks (average block {}) in {}",
        big.files,
        big.blocks,
        gib(big.block_bytes as f64),
        mib(big.block_bytes as f64 / big.blocks.max(1) as f64),
        secs(started.elapsed())
    );
    let records: Vec<_> = big.records.iter().collect();
    let primary = Primary::start(env, &dir.join("primary"), &data, &records)?;
    let mut backup = BackupSide::new(env, &primary, &dir.join("backup"), None)?;
    let what = format!(
        "{libraries} libraries of real-sized files ({} files, {} blocks of 1–8 MiB)",
        big.files, big.blocks
    );
    let rows = initial_copy(env, &primary, &mut backup, &dir.join("cp/seafile-data"), &what);
    drop(backup);
    drop(primary);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

/// What was generated.
pub struct BigData {
    pub records: Vec<RepoRecord>,
    pub files: usize,
    pub blocks: usize,
    /// Bytes of blocks (the objects' sizes on disk are a little more: fs objects, commits).
    pub block_bytes: u64,
}

/// `libraries` libraries of about `bytes_per_library` each under `data_dir/storage`.
pub fn generate(data_dir: &Path, seed: u64, libraries: usize, bytes_per_library: u64) -> anyhow::Result<BigData> {
    let store = ObjectStore::new(data_dir);
    store.prepare_data_dir()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = BigData {
        records: Vec::with_capacity(libraries),
        files: 0,
        blocks: 0,
        block_bytes: 0,
    };
    let mut clock = EPOCH;
    for lib in 0..libraries {
        let repo_id = RepoId::parse(&uuid::Uuid::new_v4().to_string())?;
        let name = format!("big {lib}");
        let mut head = write_commit(&store, repo_id, &name, ObjectId::ZERO, None, "Created library", clock)?;
        let mut root: Vec<Dirent> = Vec::new();
        let mut bytes = 0u64;
        let mut folder = 0;
        while bytes < bytes_per_library {
            clock += 1;
            folder += 1;
            let mut entries: Vec<Dirent> = Vec::with_capacity(FILES_PER_COMMIT);
            let mut file_objects = Vec::with_capacity(FILES_PER_COMMIT);
            for f in 0..FILES_PER_COMMIT {
                if f > 0 && bytes >= bytes_per_library {
                    break;
                }
                let mut block_ids = Vec::new();
                let mut size = 0u64;
                let mut blocks: Vec<(ObjectId, Vec<u8>)> = Vec::new();
                for _ in 0..rng.gen_range(1..=4) {
                    let mut data = vec![0u8; rng.gen_range(MIB..=8 * MIB) as usize];
                    rng.fill_bytes(&mut data);
                    let id = ObjectId::hash_of(&data);
                    size += data.len() as u64;
                    block_ids.push(id);
                    blocks.push((id, data));
                }
                write_level(&store, ObjectKind::Block, repo_id, &blocks)?;
                out.blocks += blocks.len();
                out.block_bytes += size;
                bytes += size;
                let (id, stored) = FsObject::File(SeafFile { block_ids, size }).encode();
                file_objects.push((id, stored));
                entries.push(Dirent {
                    id,
                    mode: FILE_MODE,
                    modifier: Some(OWNER.into()),
                    mtime: clock,
                    name: format!("video {folder}-{f}.mp4"),
                    size: Some(size),
                });
            }
            out.files += entries.len();
            write_level(&store, ObjectKind::Fs, repo_id, &file_objects)?;
            let mut dir = SeafDir { dirents: entries };
            dir.sort_entries();
            let (dir_id, dir_stored) = FsObject::Dir(dir).encode();
            write_level(&store, ObjectKind::Fs, repo_id, &[(dir_id, dir_stored)])?;
            let folder_name = format!("upload {folder}");
            root.push(Dirent {
                id: dir_id,
                mode: DIR_MODE,
                modifier: None,
                mtime: clock,
                name: folder_name.clone(),
                size: None,
            });
            let mut root_dir = SeafDir { dirents: root.clone() };
            root_dir.sort_entries();
            let (root_id, root_stored) = FsObject::Dir(root_dir).encode();
            write_level(&store, ObjectKind::Fs, repo_id, &[(root_id, root_stored)])?;
            let description = format!("Added directory \"{folder_name}\"");
            head = write_commit(&store, repo_id, &name, root_id, Some(head), &description, clock)?;
        }
        out.records.push(RepoRecord {
            repo_id,
            head,
            info: Some(RepoInfo {
                name,
                update_time: Some(clock),
                version: Some(1),
                is_encrypted: Some(0),
                last_modifier: Some(OWNER.into()),
                status: Some(0),
            }),
            owner: Some(OWNER.into()),
            virtual_repo: None,
            storage_id: None,
        });
    }
    Ok(out)
}

fn write_level(
    store: &ObjectStore,
    kind: ObjectKind,
    repo: RepoId,
    objects: &[(ObjectId, Vec<u8>)],
) -> anyhow::Result<()> {
    let batch: Vec<NewObject<'_>> = objects
        .iter()
        .map(|(id, data)| NewObject {
            kind,
            store: repo,
            id: *id,
            data,
        })
        .collect();
    Ok(store.write_batch(&batch)?)
}

fn write_commit(
    store: &ObjectStore,
    repo_id: RepoId,
    name: &str,
    root_id: ObjectId,
    parent: Option<ObjectId>,
    description: &str,
    ctime: i64,
) -> anyhow::Result<ObjectId> {
    let mut commit = Commit {
        commit_id: ObjectId::ZERO,
        root_id,
        repo_id,
        creator_name: Some(OWNER.into()),
        creator: CREATOR_ID.into(),
        description: description.into(),
        ctime,
        parent_id: parent,
        second_parent_id: None,
        repo_name: name.into(),
        repo_desc: String::new(),
        repo_category: None,
        encrypted: None,
        enc_version: None,
        magic: None,
        key: None,
        no_local_history: 1,
        version: 1,
        new_merge: None,
    };
    commit.commit_id = commit.compute_id_c();
    store.write(ObjectKind::Commit, &repo_id, &commit.commit_id, &commit.to_stored())?;
    Ok(commit.commit_id)
}
