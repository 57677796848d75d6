//! The generated data must be indistinguishable from a real server's: every object verifies with
//! the same checks a backup applies to real data, and every closure is complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use seaf_seafile::{
    walk_closure, ClosureStats, ClosureVisitor, Commit, FsObject, IdFormula, ObjectId, ObjectKind, ObjectStore,
    Problem, RepoStores, SeafileDb, WalkOptions,
};
use seaf_testgen::{write_database, GenError, GeneratedLibrary, Generator, LibrarySpec};

#[derive(Default)]
struct Collect {
    commits: BTreeMap<ObjectId, Commit>,
    /// (path, file object) of every file version reached.
    files: Vec<(String, FsObject)>,
    problems: Vec<Problem>,
}

impl ClosureVisitor for Collect {
    fn commit(&mut self, id: &ObjectId, commit: &Commit) {
        self.commits.insert(*id, commit.clone());
    }
    fn fs_object(&mut self, _id: &ObjectId, path: &str, object: &FsObject) {
        if matches!(object, FsObject::File(_)) {
            self.files.push((path.to_owned(), object.clone()));
        }
    }
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

/// Walks the closure of the library's head and insists it is complete, without even warnings.
fn complete_closure(store: &ObjectStore, lib: &GeneratedLibrary) -> (ClosureStats, Collect) {
    let mut seen = Collect::default();
    let stats = walk_closure(store, lib.stores, lib.head, WalkOptions::default(), &mut seen);
    assert!(
        seen.problems.is_empty(),
        "{}",
        seen.problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    (stats, seen)
}

/// The file's stored bytes: its blocks in order.
fn reassemble(store: &ObjectStore, stores: RepoStores, file_id: &ObjectId) -> (Vec<u8>, u64) {
    if file_id.is_zero() {
        return (Vec::new(), 0);
    }
    let stored = store.read(ObjectKind::Fs, &stores.objects, file_id).unwrap();
    let FsObject::File(file) = FsObject::parse_verified(file_id, &stored).unwrap() else {
        panic!("{file_id} is not a file");
    };
    let mut out = Vec::new();
    for block in &file.block_ids {
        out.extend(store.read(ObjectKind::Block, &stores.objects, block).unwrap());
    }
    (out, file.size)
}

fn dir_at(store: &ObjectStore, lib: &GeneratedLibrary, id: &ObjectId) -> seaf_seafile::SeafDir {
    let stored = store.read(ObjectKind::Fs, &lib.stores.objects, id).unwrap();
    match FsObject::parse_verified(id, &stored).unwrap() {
        FsObject::Dir(d) => d,
        FsObject::File(_) => panic!("{id} is a file"),
    }
}

fn head_commit(store: &ObjectStore, lib: &GeneratedLibrary) -> Commit {
    Commit::parse(&store.read(ObjectKind::Commit, &lib.repo_id, &lib.head).unwrap()).unwrap()
}

#[test]
fn rich_library_has_every_case_in_the_real_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut gen = Generator::new(dir.path(), 7);
    let lib = gen.create_library(LibrarySpec::rich("Documents")).unwrap();
    let store = gen.store();
    let repo = lib.repo_id;

    // Every object on disk verifies as a backup would verify real data.
    let fs_ids = store.list(ObjectKind::Fs, &repo).unwrap();
    assert!(fs_ids.len() > 20);
    for id in &fs_ids {
        FsObject::parse_verified(id, &store.read(ObjectKind::Fs, &repo, id).unwrap()).unwrap();
    }
    let mut on_disk = store.list(ObjectKind::Commit, &repo).unwrap();
    on_disk.sort();
    let mut listed = lib.commits.clone();
    listed.sort();
    assert_eq!(on_disk, listed, "every commit written is in the history");
    let mut descriptions = Vec::new();
    for id in &lib.commits {
        let stored = store.read(ObjectKind::Commit, &repo, id).unwrap();
        assert_eq!(stored.first(), Some(&b'{'), "commits are stored uncompressed");
        let (commit, formula) = Commit::parse_verified(id, &stored).unwrap();
        assert_eq!(formula, IdFormula::C);
        assert_eq!(commit.to_stored(), stored, "stored exactly as serialized");
        assert_eq!((commit.version, commit.no_local_history, commit.repo_id), (1, 1, repo));
        assert_eq!(commit.repo_name, "Documents");
        assert!(commit.encrypted.is_none() && commit.magic.is_none());
        descriptions.push(commit.description);
    }
    assert_eq!(descriptions[0], "Created library");
    for wanted in [
        "Added \"Ünïcödé 文件 — résumé.txt\"",
        "Added directory \"docs/2024/notes\"",
        "Modified \"large.bin\"",
        "Renamed \"report.txt\"",
        "Moved \"draft.txt\"",
        "Deleted \"obsolete.txt\"",
        "Removed directory \"tmp-folder\"",
        "Auto merge by system",
    ] {
        assert!(
            descriptions.iter().any(|d| d == wanted),
            "no commit {wanted:?} in {descriptions:#?}"
        );
    }
    assert!(descriptions.iter().any(|d| d.contains('\n')), "a multi-change commit");

    // The head is a real merge of two branches forked from one commit.
    assert_eq!(lib.merge_commits, vec![lib.head]);
    let (stats, seen) = complete_closure(store, &lib);
    assert_eq!(stats.commits as usize, lib.commits.len());
    assert_eq!(stats.fs_objects as usize, fs_ids.len(), "no unreferenced fs objects");
    assert_eq!(
        stats.blocks as usize,
        store.list(ObjectKind::Block, &repo).unwrap().len(),
        "no unreferenced blocks"
    );
    assert_eq!(
        seen.commits.keys().copied().collect::<BTreeSet<_>>(),
        lib.commits.iter().copied().collect()
    );
    let merge = &seen.commits[&lib.head];
    assert_eq!(merge.new_merge, Some(1));
    let (ours, theirs) = (merge.parent_id.unwrap(), merge.second_parent_id.unwrap());
    assert_eq!(seen.commits[&ours].parent_id, seen.commits[&theirs].parent_id);
    assert!(seen.commits[&ours].second_parent_id.is_none());

    // Tree features at head.
    assert!(lib.dirs.contains("/docs/2024/notes"), "{:?}", lib.dirs);
    assert!(lib.dirs.contains("/Ärchiv 档案"));
    for path in [
        "/Ünïcödé 文件 — résumé.txt",
        "/docs/2024/report-final.txt",
        "/docs/draft.txt",
        "/readme-copy.md",
    ] {
        assert!(lib.files.contains_key(path), "{path} missing: {:?}", lib.files.keys());
    }
    for gone in [
        "/obsolete.txt",
        "/draft.txt",
        "/docs/2024/report.txt",
        "/tmp-folder/x.txt",
    ] {
        assert!(!lib.files.contains_key(gone), "{gone} still there");
    }
    let empty = &lib.files["/empty.txt"];
    assert_eq!((empty.file_id, empty.size), (ObjectId::ZERO, 0));
    assert!(
        !store.exists(ObjectKind::Fs, &repo, &ObjectId::ZERO).unwrap(),
        "zero id has no object"
    );
    let root = dir_at(store, &lib, &head_commit(store, &lib).root_id);
    let names: Vec<&str> = root.dirents.iter().map(|d| d.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    assert_eq!(names, sorted, "Seafile's order: name descending");
    let empty_dir = root.dirents.iter().find(|d| d.name == "empty folder").unwrap();
    assert!(empty_dir.is_dir() && empty_dir.id.is_zero());
    assert_eq!((empty_dir.modifier.as_deref(), empty_dir.size), (None, None));
    let readme = root.dirents.iter().find(|d| d.name == "readme.md").unwrap();
    assert_eq!(
        (readme.mode, readme.modifier.as_deref()),
        (33188, Some("a@example.com"))
    );

    // The large file: 4 blocks, and its edit replaced only the middle one.
    let versions: Vec<&FsObject> = seen
        .files
        .iter()
        .filter(|(p, _)| p == "/big/large.bin")
        .map(|(_, f)| f)
        .collect();
    let blocks: Vec<&Vec<ObjectId>> = versions
        .iter()
        .map(|f| match f {
            FsObject::File(f) => &f.block_ids,
            FsObject::Dir(_) => unreachable!(),
        })
        .collect();
    assert_eq!(blocks.len(), 2, "two versions of large.bin");
    assert!(blocks.iter().all(|b| b.len() == 4));
    assert_eq!(blocks[0].iter().zip(blocks[1]).filter(|(a, b)| a != b).count(), 1);

    // Every file at head reassembles to its expected content.
    for (path, expected) in &lib.files {
        let (bytes, size) = reassemble(store, lib.stores, &expected.file_id);
        assert_eq!(ObjectId::hash_of(&bytes), expected.sha1, "{path}");
        assert_eq!((bytes.len() as u64, size), (expected.size, expected.size), "{path}");
    }
    assert_eq!(lib.files["/big/large.bin"].size, 3 * (1 << 20) + (1 << 19));

    let info = lib.record.info.as_ref().unwrap();
    assert_eq!(
        (info.name.as_str(), info.update_time, info.is_encrypted),
        ("Documents", Some(merge.ctime), Some(0))
    );
    assert_eq!(lib.record.owner.as_deref(), Some("a@example.com"));
    assert_eq!(lib.record.head, lib.head);
}

#[test]
fn encrypted_library_looks_like_seafile_enc_v2() {
    let dir = tempfile::tempdir().unwrap();
    let mut gen = Generator::new(dir.path(), 8);
    let spec = LibrarySpec {
        encrypted: true,
        block_size: 64 << 10,
        ..LibrarySpec::rich("Secret")
    };
    let lib = gen.create_library(spec).unwrap();
    let store = gen.store();
    let (_, seen) = complete_closure(store, &lib);
    for commit in seen.commits.values() {
        assert_eq!(commit.encrypted.as_deref(), Some("true"));
        assert_eq!(commit.enc_version, Some(2));
        let (magic, key) = (commit.magic.as_deref().unwrap(), commit.key.as_deref().unwrap());
        assert_eq!((magic.len(), key.len()), (64, 96));
        assert!(magic
            .bytes()
            .chain(key.bytes())
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    assert_eq!(lib.record.info.as_ref().unwrap().is_encrypted, Some(1));
    assert!(lib.files["/empty.txt"].file_id.is_zero());
    for (path, expected) in &lib.files {
        let (bytes, size) = reassemble(store, lib.stores, &expected.file_id);
        assert_eq!(ObjectId::hash_of(&bytes), expected.sha1, "{path}");
        assert_eq!(size, expected.size, "{path}: the plaintext size is recorded");
        if size > 0 {
            assert_eq!(bytes.len() % 16, 0, "{path}: AES-sized blocks");
            assert!(bytes.len() as u64 > size, "{path}");
        }
    }
}

/// Every file under `root`, relative path → content.
fn tree_bytes(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let run = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let mut gen = Generator::new(dir.path(), seed);
        let spec = LibrarySpec {
            block_size: 4096,
            ..LibrarySpec::rich("R")
        };
        let mut rich = gen.create_library(spec).unwrap();
        let small = gen.create_library(LibrarySpec::small("S")).unwrap();
        gen.update_library(&mut rich, 5).unwrap();
        let v = gen.create_virtual_library(&rich, "/docs").unwrap();
        let ids: Vec<_> = [&rich, &small, &v]
            .iter()
            .map(|l| (l.repo_id, l.commits.clone(), l.files.clone()))
            .collect();
        (ids, tree_bytes(dir.path()))
    };
    let (a, a_bytes) = run(42);
    let (b, b_bytes) = run(42);
    assert_eq!(a, b);
    assert_eq!(a_bytes.keys().collect::<Vec<_>>(), b_bytes.keys().collect::<Vec<_>>());
    assert!(a_bytes == b_bytes, "same seed, same bytes");
    let (c, _) = run(43);
    assert_ne!(a[0].0, c[0].0, "another seed, other repo ids");
}

#[test]
fn updates_extend_history_and_keep_closures_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut gen = Generator::new(dir.path(), 9);
    let mut libs: Vec<GeneratedLibrary> = (0..5)
        .map(|i| {
            let spec = LibrarySpec {
                block_size: 4096,
                max_file_size: 20_000,
                ..LibrarySpec::small(&format!("lib {i}"))
            };
            gen.create_library(spec).unwrap()
        })
        .collect();
    for round in 0..40 {
        let lib = &mut libs[(round * 7) % 5];
        let old_head = lib.head;
        let old_len = lib.commits.len();
        let head = gen.update_library(lib, 1 + round % 5).unwrap();
        assert_eq!((lib.head, lib.record.head), (head, head));
        assert_eq!(lib.commits.len(), old_len + 1);
        let (_, seen) = complete_closure(gen.store(), lib);
        assert_eq!(seen.commits[&head].parent_id, Some(old_head));
        assert!(seen.commits.contains_key(&old_head));
        assert_eq!(seen.commits.len(), lib.commits.len());
        assert_eq!(
            lib.record.info.as_ref().unwrap().update_time,
            Some(seen.commits[&head].ctime)
        );
    }
    let mut multi_block = 0;
    for lib in &libs {
        let (stats, _) = complete_closure(gen.store(), lib);
        assert_eq!(
            stats.fs_objects as usize,
            gen.store().list(ObjectKind::Fs, &lib.repo_id).unwrap().len()
        );
        assert_eq!(
            stats.blocks as usize,
            gen.store().list(ObjectKind::Block, &lib.repo_id).unwrap().len()
        );
        for (path, expected) in &lib.files {
            let (bytes, size) = reassemble(gen.store(), lib.stores, &expected.file_id);
            assert_eq!(
                (ObjectId::hash_of(&bytes), size),
                (expected.sha1, expected.size),
                "{path}"
            );
            multi_block += usize::from(size > 4096);
        }
    }
    assert!(multi_block > 0, "some random files span several blocks");

    // As on a real server, libraries created in the same second by the same owner share the id
    // of their first commit, but not its bytes.
    let first = libs[0].commits[0];
    assert_eq!(libs[1].commits[0], first);
    let read = |lib: &GeneratedLibrary| gen.store().read(ObjectKind::Commit, &lib.repo_id, &first).unwrap();
    assert_ne!(read(&libs[0]), read(&libs[1]));
}

#[test]
fn virtual_library_lives_in_the_origin_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut gen = Generator::new(dir.path(), 10);
    let origin = gen
        .create_library(LibrarySpec {
            block_size: 4096,
            ..LibrarySpec::rich("Origin")
        })
        .unwrap();
    let mut v = gen.create_virtual_library(&origin, "/docs").unwrap();
    let store = gen.store();

    assert_eq!(v.stores, RepoStores::new(v.repo_id, Some(origin.repo_id)));
    assert_eq!(v.origin(), Some(origin.repo_id));
    let vr = v.record.virtual_repo.clone().unwrap();
    assert_eq!(
        (vr.origin_repo, vr.path.as_str(), vr.base_commit),
        (origin.repo_id, "/docs", Some(origin.head))
    );
    assert_eq!(v.record.owner, origin.record.owner);
    let origin_root = dir_at(store, &origin, &head_commit(store, &origin).root_id);
    let docs = origin_root.dirents.iter().find(|d| d.name == "docs").unwrap();
    assert_eq!(head_commit(store, &v).root_id, docs.id);
    let expected: BTreeMap<String, _> = origin
        .files
        .iter()
        .filter_map(|(p, f)| p.strip_prefix("/docs").map(|rest| (rest.to_owned(), f.clone())))
        .collect();
    assert_eq!(v.files, expected);
    complete_closure(store, &v);

    gen.update_library(&mut v, 6).unwrap();
    let store = gen.store();
    let (stats, _) = complete_closure(store, &v);
    assert_eq!(stats.commits, 2);
    assert!(store.stores(ObjectKind::Commit).unwrap().contains(&v.repo_id));
    for kind in [ObjectKind::Fs, ObjectKind::Block] {
        assert!(
            !store.stores(kind).unwrap().contains(&v.repo_id),
            "no {kind} store of its own"
        );
    }
    complete_closure(store, &origin);

    for bad in ["/readme.md", "/nope", "/"] {
        assert!(
            matches!(
                gen.create_virtual_library(&origin, bad),
                Err(GenError::NotAFolder { .. })
            ),
            "{bad}"
        );
    }
    assert!(
        gen.create_virtual_library(&v, "/2024").is_err(),
        "no sub-library of a sub-library"
    );
}

#[tokio::test]
async fn database_holds_the_generated_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let mut gen = Generator::new(&dir.path().join("seafile-data"), 11);
    let rich = gen
        .create_library(LibrarySpec {
            block_size: 4096,
            ..LibrarySpec::rich("Rich")
        })
        .unwrap();
    let secret = gen
        .create_library(LibrarySpec {
            encrypted: true,
            ..LibrarySpec::small("Secret")
        })
        .unwrap();
    let v = gen.create_virtual_library(&rich, "/docs/2024").unwrap();

    let db = SeafileDb::connect(&format!("sqlite://{}/seafile.db?mode=rwc", dir.path().display()))
        .await
        .unwrap();
    write_database(&db, &[&rich, &secret, &v]).await.unwrap();
    let mut expected: Vec<_> = [&rich, &secret, &v].iter().map(|l| (l.repo_id, l.head)).collect();
    expected.sort();
    assert_eq!(db.heads().await.unwrap(), expected);
    for lib in [&rich, &secret, &v] {
        assert_eq!(db.repo_record(&lib.repo_id).await.unwrap().as_ref(), Some(&lib.record));
    }
    assert_eq!(db.virtual_origins().await.unwrap().get(&v.repo_id), Some(&rich.repo_id));
    // Writing again (after more commits) replaces the rows.
    write_database(&db, &[&rich, &secret, &v]).await.unwrap();
    assert_eq!(db.heads().await.unwrap().len(), 3);
    db.close().await;
}
