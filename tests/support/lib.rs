//! Shared set-up for the end-to-end tests: the real fixture, real database servers, the binary.
//!
//! Services are real. When one is missing, a test run under CI (`CI=true`) fails; a local run
//! skips that test with a loud message, so a laptop without PostgreSQL still runs the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use seaf_seafile::{FsObject, ObjectId, ObjectKind, ObjectStore, RepoStores, SeafFile};

pub mod agent;
pub mod broker;
pub mod db;
pub mod e2e;
pub mod fake_primary;
pub mod primary_run;
pub mod private_mariadb;
pub mod proxy;
pub mod registry;
pub mod runbook;
pub mod seafile13;
pub mod site;

/// True under CI, where a missing service or fixture must fail the run.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false)
}

/// Fails under CI, skips (with a message on stderr) elsewhere. Returns `None` to the caller,
/// which should return early.
pub fn missing<T>(what: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is required under CI=true (scripts/setup.sh installs and starts the services; the fixture comes with shared/ beside the repository)");
    }
    eprintln!("\n!!! SKIPPING: {what} is not available (scripts/setup.sh installs and starts the services; the fixture comes with shared/ beside the repository) !!!\n");
    None
}

/// The repository root (the folder holding the workspace Cargo.toml).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The shared/ folder beside the repository (override with SEAF_SHARED_DIR).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SEAF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// The real Seafile fixture, unpacked into a temp dir that lives as long as this value.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Fixture {
    /// Unpacks shared/fixtures/real-seafile-v1.tar.gz; `None` (or a CI failure) when absent.
    pub fn unpack() -> Option<Fixture> {
        let archive = shared_dir().join("fixtures/real-seafile-v1.tar.gz");
        if !archive.is_file() {
            return missing(&format!("the real Seafile fixture {}", archive.display()));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = std::fs::File::open(&archive).expect("open fixture");
        tar::Archive::new(flate2::read::GzDecoder::new(file))
            .unpack(dir.path())
            .expect("unpack fixture");
        let root = dir.path().join("real-seafile-fixture");
        Some(Fixture { _dir: dir, root })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("seafile-data")
    }

    pub fn store(&self) -> ObjectStore {
        ObjectStore::new(self.data_dir())
    }

    /// The fixture's own SQLite seafile database, opened read-only.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}?mode=ro", self.data_dir().join("seafile.db").display())
    }

    pub fn manifest(&self) -> serde_json::Value {
        read_json(&self.root.join("manifest.json"))
    }

    pub fn expected(&self) -> serde_json::Value {
        read_json(&self.root.join("expected.json"))
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// Every file reachable from the dir `root`, by path ("/a/b.txt").
pub fn files_at(
    store: &ObjectStore,
    stores: RepoStores,
    root: ObjectId,
) -> BTreeMap<String, (ObjectId, Option<SeafFile>)> {
    let mut out = BTreeMap::new();
    let mut pending = vec![(root, String::new())];
    while let Some((id, path)) = pending.pop() {
        if id.is_zero() {
            continue;
        }
        let bytes = store.read(ObjectKind::Fs, &stores.objects, &id).expect("dir object");
        let FsObject::Dir(dir) = FsObject::parse_verified(&id, &bytes).expect("valid dir") else {
            panic!("{id} is not a dir")
        };
        for d in dir.dirents {
            let p = format!("{path}/{}", d.name);
            if d.is_dir() {
                pending.push((d.id, p));
            } else if d.id.is_zero() {
                out.insert(p, (d.id, None));
            } else {
                let bytes = store.read(ObjectKind::Fs, &stores.objects, &d.id).expect("file object");
                let FsObject::File(f) = FsObject::parse_verified(&d.id, &bytes).expect("valid file") else {
                    panic!("{} is not a file", d.id)
                };
                out.insert(p, (d.id, Some(f)));
            }
        }
    }
    out
}

/// The bytes of a file, reassembled from its blocks.
pub fn file_bytes(store: &ObjectStore, stores: RepoStores, file: &SeafFile) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.size as usize);
    for b in &file.block_ids {
        out.extend(store.read(ObjectKind::Block, &stores.objects, b).expect("block"));
    }
    out
}

/// The seaf-backup binary that `cargo test --workspace` built beside this test, or the one
/// `SEAF_TESTS_BIN` names (for a target directory that several checkouts share, where
/// `target/debug/seaf-backup` is whichever checkout built last; not `SEAF_BACKUP_…`, which the
/// agent reads as configuration).
pub fn seaf_backup_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SEAF_TESTS_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = dir.join("seaf-backup");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds the binary), or `cargo build -p seaf-backup` first",
        bin.display()
    );
    bin
}

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(seaf_backup_bin())
        .args(args)
        .output()
        .expect("run seaf-backup");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `root` (recursively), sorted.
pub fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
