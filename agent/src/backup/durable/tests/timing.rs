//! Not a test of behaviour: a timing of a first copy written the old way (every tree level of
//! every library its own `ObjectStore::write_batch`, two flushes each) and through group
//! commit (every level a `Batch::commit`, concurrent syncs sharing barriers), on the disk the
//! target directory is on. Ignored by default; run it with
//!
//! ```sh
//! cargo test -p seaf-backup --lib durable::tests::timing -- --ignored --nocapture
//! ```
//!
//! Knobs: `SEAF_TIMING_LIBRARIES` (default 64), `SEAF_TIMING_WORKERS` (concurrent syncs,
//! default 8, the backup's default `workers`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seaf_seafile::{NewObject, ObjectId, ObjectKind, ObjectStore, RepoId};
use tokio::sync::Semaphore;

use super::super::GroupCommit;

/// One level of a library: its objects, all of one kind.
type Level = (ObjectKind, Vec<(ObjectId, Vec<u8>)>);

/// One library's first copy, level by level as `replicate::apply` writes it: blocks, fs
/// objects from the leaves up, the commit.
fn library(n: usize) -> (RepoId, Vec<Level>) {
    let repo = RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap();
    let level = |kind, count: usize, size: usize, tag: &str| {
        let objects = (0..count)
            .map(|i| {
                let data = format!("{tag} {n} {i} {}", "x".repeat(size)).into_bytes();
                (ObjectId::hash_of(&data), data)
            })
            .collect();
        (kind, objects)
    };
    let levels = vec![
        level(ObjectKind::Block, 24, 8 << 10, "block"),
        level(ObjectKind::Fs, 16, 200, "file"),
        level(ObjectKind::Fs, 6, 400, "dir"),
        level(ObjectKind::Fs, 2, 400, "dir2"),
        level(ObjectKind::Fs, 1, 400, "root"),
        level(ObjectKind::Commit, 1, 300, "commit"),
    ];
    (repo, levels)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Flushes the old `write_batch` makes for one level: an fsync per file up to 64 objects (one
/// `syncfs` above), then one per directory holding them or created for them.
fn old_flushes(
    store: &ObjectStore,
    repo: &RepoId,
    kind: ObjectKind,
    objects: &[(ObjectId, Vec<u8>)],
    seen: &mut HashSet<std::path::PathBuf>,
) -> usize {
    let mut dirs = HashSet::new();
    for (id, _) in objects {
        let dir = store.path(kind, repo, id).parent().unwrap().to_path_buf();
        if seen.insert(dir.clone()) {
            // A new prefix folder: its parent is flushed too (and the store's, the first time).
            dirs.insert(dir.parent().unwrap().to_path_buf());
        }
        dirs.insert(dir);
    }
    let files = if objects.len() > 64 { 1 } else { objects.len() };
    files + dirs.len()
}

async fn old_way(data: &Path, libraries: usize, workers: usize) -> (Duration, usize) {
    let store = ObjectStore::new(data);
    let permits = Arc::new(Semaphore::new(workers));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..libraries {
        let (store, permits) = (store.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            let (repo, levels) = library(n);
            let mut flushes = 0;
            let mut seen = HashSet::new();
            for (kind, objects) in levels {
                flushes += old_flushes(&store, &repo, kind, &objects, &mut seen);
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    let batch: Vec<NewObject> = objects
                        .iter()
                        .map(|(id, data)| NewObject {
                            kind,
                            store: repo,
                            id: *id,
                            data,
                        })
                        .collect();
                    store.write_batch(&batch).unwrap();
                })
                .await
                .unwrap();
            }
            flushes
        });
    }
    let mut flushes = 0;
    while let Some(f) = tasks.join_next().await {
        flushes += f.unwrap();
    }
    (started.elapsed(), flushes)
}

async fn group_way(data: &Path, libraries: usize, workers: usize) -> (Duration, u64, u64) {
    let commit = GroupCommit::open(ObjectStore::new(data)).unwrap();
    let permits = Arc::new(Semaphore::new(workers));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..libraries {
        let (commit, permits) = (commit.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            let (repo, levels) = library(n);
            for (kind, objects) in levels {
                let mut batch = commit.batch();
                for (id, data) in objects {
                    batch.stage(kind, repo, id, data);
                }
                batch.commit().await.unwrap();
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    let took = started.elapsed();
    let stats = commit.stats();
    commit.stop();
    (took, stats.barriers, stats.groups)
}

#[test]
#[ignore = "a timing, not a test: run with --ignored --nocapture"]
fn first_copy_old_write_batch_vs_group_commit() {
    let libraries = env("SEAF_TIMING_LIBRARIES", 64);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let objects: usize = library(0).1.iter().map(|(_, o)| o.len()).sum::<usize>() * libraries;
    let levels = library(0).1.len() * libraries;
    // On the disk of the build (the target directory), not a tmpfs.
    let base = std::env::var_os("CARGO_TARGET_DIR").map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    println!(
        "{libraries} libraries, {levels} levels, {objects} objects; dir {}",
        base.display()
    );
    println!("| workers | old: time | old: flushes | group: time | group: barriers (groups) |");
    for workers in [1, env("SEAF_TIMING_WORKERS", 8)] {
        let (old_dir, new_dir) = (
            tempfile::tempdir_in(&base).unwrap(),
            tempfile::tempdir_in(&base).unwrap(),
        );
        let (old, flushes) = rt.block_on(old_way(old_dir.path(), libraries, workers));
        let (new, barriers, groups) = rt.block_on(group_way(new_dir.path(), libraries, workers));
        println!(
            "| {workers} | {:.2} s | {flushes} | {:.2} s | {barriers} ({groups}) |",
            old.as_secs_f64(),
            new.as_secs_f64()
        );
    }
}
