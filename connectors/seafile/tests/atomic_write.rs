//! A writer killed with SIGKILL in the middle of an object leaves no partial object visible.
//!
//! The test re-runs its own binary as the writer (the `writer_child` test, which only acts when
//! SEAF_WRITER_DIR is set), waits until a large object is half written, kills it, and checks that
//! every object at a final path is whole.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId};

const REPO: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";
const OBJECT_SIZE: usize = 64 << 20;

fn object(i: u32) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; OBJECT_SIZE];
    v[..4].copy_from_slice(&i.to_le_bytes());
    v
}

/// The writer: writes large objects one after another until killed.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os("SEAF_WRITER_DIR") else {
        return;
    };
    let store = ObjectStore::new(Path::new(&dir));
    let repo = RepoId::parse(REPO).unwrap();
    for i in 0.. {
        let data = object(i);
        store
            .write(ObjectKind::Block, &repo, &ObjectId::hash_of(&data), &data)
            .unwrap();
    }
}

/// Any temp file of the writer that holds some bytes.
fn temp_file_with_data(root: &Path) -> bool {
    let Ok(prefixes) = std::fs::read_dir(root) else {
        return false;
    };
    prefixes.flatten().any(|p| {
        std::fs::read_dir(p.path()).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".seaf-backup-tmp")
                && e.metadata()
                    .map(|m| m.len() > 0 && (m.len() as usize) < OBJECT_SIZE)
                    .unwrap_or(false)
        })
    })
}

#[test]
fn killed_writer_leaves_no_partial_object() {
    if std::env::var_os("SEAF_WRITER_DIR").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blocks = dir.path().join("storage/blocks").join(REPO);
    let mut kills = 0;
    for _round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env("SEAF_WRITER_DIR", dir.path())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !temp_file_with_data(&blocks) {
            assert!(
                Instant::now() < deadline,
                "the writer never had an object half written within 60 s"
            );
            assert!(child.try_wait().unwrap().is_none(), "the writer exited early");
            std::thread::yield_now();
        }
        // SIGKILL: no destructor, no cleanup, exactly like a crash.
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert_eq!(kills, 3);

    let store = ObjectStore::new(dir.path());
    let repo = RepoId::parse(REPO).unwrap();
    let ids = store.list(ObjectKind::Block, &repo).unwrap();
    for id in &ids {
        let bytes = store.read(ObjectKind::Block, &repo, id).unwrap();
        assert_eq!(bytes.len(), OBJECT_SIZE, "object {id} is partial");
        assert_eq!(ObjectId::hash_of(&bytes), *id, "object {id} is corrupt");
    }
    let swept = store.sweep_temp_files().unwrap();
    assert!(
        swept >= 1,
        "the killed writer's temp files are left for the sweep (found {swept})"
    );
    assert!(!temp_file_with_data(&blocks));
}
