//! Group commit on the real file system: what a batch does, how batches share barriers, what
//! `open` recovers and what it leaves alone.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use seaf_seafile::{Commit, FsObject, ObjectId, ObjectKind, ObjectStore, RepoId, SeafFile};

use super::super::disk::{Disk, RealDisk};
use super::super::journal::{self, Entry};
use super::super::layout::Layout;
use super::super::GroupCommit;

fn repo() -> RepoId {
    RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A block, the file made of it and a commit on it: one sync's closure.
fn closure(n: u8) -> Vec<(ObjectKind, ObjectId, Vec<u8>)> {
    let block = vec![n; 100];
    let block_id = ObjectId::hash_of(&block);
    let (file_id, file) = FsObject::File(SeafFile {
        block_ids: vec![block_id],
        size: 100,
    })
    .encode();
    let commit = Commit::parse(
        format!(
            r#"{{"commit_id": "{}", "root_id": "{file_id}", "repo_id": "{}", "creator": "x", "description": "d", "ctime": 1, "version": 1}}"#,
            ObjectId::hash_of(&[n, 1]),
            repo()
        )
        .as_bytes(),
    )
    .unwrap();
    vec![
        (ObjectKind::Block, block_id, block),
        (ObjectKind::Fs, file_id, file),
        (ObjectKind::Commit, commit.commit_id, commit.to_stored()),
    ]
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".seaf-backup-tmp"))
        .collect()
}

#[test]
fn a_committed_batch_is_in_place_with_two_barriers_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let commit = GroupCommit::open(store.clone()).unwrap();
    let mut batch = commit.batch();
    assert!(batch.is_empty());
    for (kind, id, data) in closure(1) {
        assert!(!batch.contains(kind, &id));
        batch.stage(kind, repo(), id, data);
        assert!(batch.contains(kind, &id));
    }
    let (block, ..) = closure(1)[0].clone();
    batch.stage(block, repo(), closure(1)[0].1, vec![1; 100]);
    assert_eq!(batch.len(), 3, "staged twice, kept once");
    let bytes: u64 = closure(1).iter().map(|(_, _, d)| d.len() as u64).sum();
    assert_eq!(batch.bytes(), bytes);
    rt().block_on(batch.commit()).unwrap();
    for (kind, id, data) in closure(1) {
        assert_eq!(store.read(kind, &repo(), &id).unwrap(), data);
    }
    let stats = commit.stats();
    assert_eq!(
        (stats.groups, stats.barriers, stats.batches, stats.written),
        (1, 2, 1, 3)
    );
    commit.stop();
    assert!(temp_files(dir.path()).is_empty());
    let leftovers: Vec<_> = files(&dir.path().join("seaf-backup"))
        .into_iter()
        .filter(|p| !p.ends_with("recovery.lock"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "a clean stop leaves no journal, staging or writer file: {leftovers:?}"
    );
    assert!(
        rt().block_on(commit.batch().commit()).is_ok(),
        "an empty batch needs no committer"
    );
    let mut late = commit.batch();
    late.stage(ObjectKind::Block, repo(), ObjectId::hash_of(b"x"), b"x".to_vec());
    let err = rt().block_on(late.commit()).unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    commit.stop();
}

#[test]
fn objects_already_present_are_skipped_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let (kind, id, _) = closure(2)[0].clone();
    // Whatever is at an object's name stays: the committer does not read it, let alone
    // replace it.
    store.write(kind, &repo(), &id, b"already here").unwrap();
    let commit = GroupCommit::open(store.clone()).unwrap();
    let mut batch = commit.batch();
    for (kind, id, data) in closure(2) {
        batch.stage(kind, repo(), id, data);
    }
    rt().block_on(batch.commit()).unwrap();
    assert_eq!(store.read(kind, &repo(), &id).unwrap(), b"already here");
    assert_eq!((commit.stats().written, commit.stats().skipped), (2, 1));
    commit.stop();
}

#[test]
fn object_folders_are_made_when_missing_even_after_the_writer_has_used_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let commit = GroupCommit::open(store.clone()).unwrap();
    let big = vec![9u8; 1 << 20];
    let big_id = ObjectId::hash_of(&big);
    for round in 0..2 {
        let mut batch = commit.batch();
        for (kind, id, data) in closure(4) {
            batch.stage(kind, repo(), id, data);
        }
        let (path, mut file) = batch.staging_file().unwrap();
        file.write_all(&big).unwrap();
        batch.stage_file(ObjectKind::Block, repo(), big_id, path, big.len() as u64);
        rt().block_on(batch.commit())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        for (kind, id, data) in closure(4) {
            assert_eq!(store.read(kind, &repo(), &id).unwrap(), data, "round {round}");
        }
        assert_eq!(store.read(ObjectKind::Block, &repo(), &big_id).unwrap(), big);
        // The library's folders go (an operator cleaning up, a restore from elsewhere): the
        // writer keeps no list of folders it believes exist, so the next round makes them again.
        for kind in ObjectKind::ALL {
            std::fs::remove_dir_all(dir.path().join("storage").join(kind.dir_name()).join(repo().as_str())).unwrap();
        }
    }
    assert!(temp_files(dir.path()).is_empty());
    commit.stop();
}

#[test]
fn staging_files_are_renamed_into_place_or_removed_with_their_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let commit = GroupCommit::open(store.clone()).unwrap();
    let staging = dir.path().join("seaf-backup/staging");
    let big = vec![7u8; 1 << 20];
    let id = ObjectId::hash_of(&big);

    let mut dropped = commit.batch();
    let (path, mut file) = dropped.staging_file().unwrap();
    file.write_all(&big).unwrap();
    dropped.stage_file(ObjectKind::Block, repo(), id, path.clone(), big.len() as u64);
    assert_eq!(dropped.bytes(), big.len() as u64);
    drop(dropped);
    assert!(
        !path.exists() && files(&staging).is_empty(),
        "dropped uncommitted: its file goes"
    );

    let mut batch = commit.batch();
    let (path, mut file) = batch.staging_file().unwrap();
    file.write_all(&big).unwrap();
    batch.stage_file(ObjectKind::Block, repo(), id, path.clone(), big.len() as u64);
    rt().block_on(batch.commit()).unwrap();
    assert_eq!(store.read(ObjectKind::Block, &repo(), &id).unwrap(), big);
    assert!(!path.exists());

    // Present already: the staged copy is removed, the object kept.
    let mut again = commit.batch();
    let (path, mut file) = again.staging_file().unwrap();
    file.write_all(&big).unwrap();
    again.stage_file(ObjectKind::Block, repo(), id, path.clone(), big.len() as u64);
    rt().block_on(again.commit()).unwrap();
    assert!(!path.exists() && files(&staging).is_empty());
    assert_eq!(commit.stats().skipped, 1);
    commit.stop();
}

/// A gate the disk's barriers wait at until the test opens it.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    waiting: bool,
    open: bool,
}

impl Gate {
    fn wait_for_barrier(&self) {
        let mut g = self.state.lock().unwrap();
        while !g.waiting {
            g = self.changed.wait(g).unwrap();
        }
    }

    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut g = self.state.lock().unwrap();
        g.waiting = true;
        self.changed.notify_all();
        while !g.open {
            g = self.changed.wait(g).unwrap();
        }
    }
}

/// The real disk, except that barriers wait at `gate` and writing a file whose name contains
/// `failing` fails as a full disk would.
struct TestDisk {
    inner: RealDisk,
    gate: Option<Arc<Gate>>,
    failing: Option<String>,
}

impl TestDisk {
    fn new(dir: &Path) -> TestDisk {
        TestDisk {
            inner: RealDisk::new(&[dir.to_path_buf()]).unwrap(),
            gate: None,
            failing: None,
        }
    }
}

impl Disk for TestDisk {
    fn write(&self, p: &Path, d: &[u8]) -> std::io::Result<()> {
        if self
            .failing
            .as_ref()
            .is_some_and(|f| p.to_string_lossy().contains(f.as_str()))
        {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.inner.write(p, d)
    }
    fn rename(&self, f: &Path, t: &Path) -> std::io::Result<()> {
        self.inner.rename(f, t)
    }
    fn remove(&self, p: &Path) -> std::io::Result<bool> {
        self.inner.remove(p)
    }
    fn read(&self, p: &Path) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.read(p)
    }
    fn exists(&self, p: &Path) -> std::io::Result<bool> {
        self.inner.exists(p)
    }
    fn create_dir_all(&self, d: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(d)
    }
    fn list(&self, d: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(d)
    }
    fn syncfs(&self) -> std::io::Result<()> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.inner.syncfs()
    }
}

#[test]
fn batches_handed_over_while_a_group_is_at_work_share_the_next_groups_barriers() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(ObjectStore::new(dir.path()));
    for d in layout.dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let gate = Arc::new(Gate::default());
    let disk = Arc::new(TestDisk {
        gate: Some(gate.clone()),
        ..TestDisk::new(dir.path())
    });
    let commit = GroupCommit::open_on(layout, disk).unwrap();
    let rt = rt();
    let batch = |n: u8| {
        let mut b = commit.batch();
        for (kind, id, data) in closure(n) {
            b.stage(kind, repo(), id, data);
        }
        b
    };
    // One poll of `commit` hands its batch over.
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(batch(0).commit());
    assert!(matches!(first.as_mut().poll(&mut cx), Poll::Pending));
    gate.wait_for_barrier();
    // The committer is inside the first group's barrier: hand ten more batches over.
    let mut rest: Vec<_> = (1..=10).map(|n| Box::pin(batch(n).commit())).collect();
    for f in &mut rest {
        assert!(matches!(f.as_mut().poll(&mut cx), Poll::Pending));
    }
    gate.open();
    rt.block_on(async {
        first.await.unwrap();
        for f in rest {
            f.await.unwrap();
        }
    });
    let stats = commit.stats();
    assert_eq!(
        (stats.groups, stats.barriers, stats.batches, stats.written),
        (2, 3, 11, 33),
        "ten syncs, one group; its first barrier is also the first group's second"
    );
    commit.stop();
}

#[test]
fn open_recovers_a_dead_writers_group_and_leaves_a_live_writers_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let layout = Layout::new(store.clone());
    let live = GroupCommit::open(store.clone()).unwrap();
    let mut live_batch = live.batch();
    let (live_staging, _) = live_batch.staging_file().unwrap();
    live_batch.stage_file(
        ObjectKind::Block,
        repo(),
        ObjectId::hash_of(b""),
        live_staging.clone(),
        0,
    );

    // A writer that died mid-group: its journal lists two syncs' closures. Of the first, the
    // block is torn and the file and commit were renamed anyway; of the second, all is whole.
    let dead = "1-dead";
    let entries = |n: u8| -> Vec<Entry> {
        closure(n)
            .into_iter()
            .map(|(kind, id, _)| Entry {
                kind,
                store: repo(),
                id,
            })
            .collect()
    };
    let (torn, whole) = (entries(3), entries(4));
    std::fs::write(
        layout.journal(dead, 5),
        journal::encode([torn.as_slice(), whole.as_slice()]),
    )
    .unwrap();
    for (i, (kind, id, data)) in closure(3).into_iter().chain(closure(4)).enumerate() {
        let data = if i == 0 { data[..10].to_vec() } else { data };
        store.write(kind, &repo(), &id, &data).unwrap();
    }
    let temp = layout.temp(ObjectKind::Block, &repo(), &torn[0].id, dead, 5);
    std::fs::write(&temp, b"half").unwrap();
    let dead_staging = layout.staging(dead, 0);
    std::fs::write(&dead_staging, b"block").unwrap();
    std::fs::write(layout.writer_lock(dead), b"").unwrap();

    let opened = GroupCommit::open(store.clone()).unwrap();
    let r = opened.recovered().clone();
    assert_eq!((r.journals, r.listed, r.torn, r.orphaned), (1, 6, 1, 2), "{r:?}");
    assert_eq!((r.temp_files, r.staging_files), (1, 1), "{r:?}");
    for e in &torn {
        assert!(
            !store.exists(e.kind, &e.store, &e.id).unwrap(),
            "{e:?} stays only if whole and closed"
        );
    }
    for e in &whole {
        assert!(store.exists(e.kind, &e.store, &e.id).unwrap(), "{e:?} was whole");
    }
    assert!(!temp.exists() && !dead_staging.exists() && !layout.journal(dead, 5).exists());
    assert!(!layout.writer_lock(dead).exists());
    assert!(live_staging.exists(), "the live writer's staging file is not touched");

    // Recovering again changes nothing.
    opened.stop();
    let again = GroupCommit::open(store).unwrap();
    assert_eq!(again.recovered().journals, 0);
    again.stop();
    drop(live_batch);
    assert!(!live_staging.exists());
    live.stop();
}

/// Temp files are written on several threads, but objects get their names in closure order:
/// when one cannot be written, the objects before it are in place and none after it is, not
/// even those whose temp file was written, and no temp file stays behind.
#[test]
fn a_batch_that_fails_midway_names_nothing_after_the_failure_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    let layout = Layout::new(store.clone());
    for d in layout.dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let blocks: Vec<Vec<u8>> = (0..60u8).map(|n| vec![n; 64]).collect();
    let ids: Vec<ObjectId> = blocks.iter().map(|b| ObjectId::hash_of(b)).collect();
    let (file_id, file) = FsObject::File(SeafFile {
        block_ids: ids.clone(),
        size: 60 * 64,
    })
    .encode();
    let failing = 25;
    let disk = Arc::new(TestDisk {
        failing: Some(ids[failing].to_hex()[2..].to_string()),
        ..TestDisk::new(dir.path())
    });
    let commit = GroupCommit::open_on(layout, disk).unwrap();
    let mut batch = commit.batch();
    for (id, data) in ids.iter().zip(&blocks) {
        batch.stage(ObjectKind::Block, repo(), *id, data.clone());
    }
    batch.stage(ObjectKind::Fs, repo(), file_id, file);
    let err = rt().block_on(batch.commit()).unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            store.exists(ObjectKind::Block, &repo(), id).unwrap(),
            n < failing,
            "block {n}: in place exactly when it comes before the failed one"
        );
    }
    assert!(
        !store.exists(ObjectKind::Fs, &repo(), &file_id).unwrap(),
        "the file names a missing block"
    );
    assert!(temp_files(dir.path()).is_empty(), "{:?}", temp_files(dir.path()));
    commit.stop();
}
