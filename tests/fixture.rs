//! The real Seafile fixture (shared/fixtures/real-seafile-v1.tar.gz) read through the seafile
//! connector: every object parses and verifies, every head's closure is complete, and file
//! contents at head are what was uploaded.

use std::collections::BTreeSet;

use seaf_seafile::{
    walk_closure, ClosureVisitor, Commit, FsObject, IdFormula, ObjectId, ObjectKind, Problem, RepoId, RepoStores,
    SeafileDb, WalkOptions,
};
use support::{file_bytes, files_at, Fixture};

#[derive(Default)]
struct Collect {
    commits: BTreeSet<ObjectId>,
    problems: Vec<Problem>,
}

impl ClosureVisitor for Collect {
    fn commit(&mut self, id: &ObjectId, _commit: &Commit) {
        self.commits.insert(*id);
    }
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

fn repo(s: &str) -> RepoId {
    RepoId::parse(s).unwrap()
}

#[test]
fn every_stored_object_parses_and_verifies() {
    let Some(fx) = Fixture::unpack() else { return };
    let store = fx.store();
    let mut counts = [0usize; 3];
    for (i, kind) in ObjectKind::ALL.into_iter().enumerate() {
        for store_id in store.stores(kind).unwrap() {
            for id in store.list(kind, &store_id).unwrap() {
                let bytes = store.read(kind, &store_id, &id).unwrap();
                match kind {
                    ObjectKind::Commit => {
                        let (c, formula) = Commit::parse_verified(&id, &bytes)
                            .unwrap_or_else(|e| panic!("commit {id} of {store_id}: {e}"));
                        assert_eq!(formula, IdFormula::C, "real seaf-server commits use the C formula");
                        assert_eq!(c.repo_id, store_id, "a commit is stored under its own library");
                    }
                    ObjectKind::Fs => {
                        FsObject::parse_verified(&id, &bytes).unwrap_or_else(|e| panic!("fs {id}: {e}"));
                    }
                    ObjectKind::Block => assert_eq!(ObjectId::hash_of(&bytes), id, "block {id}"),
                }
                counts[i] += 1;
            }
        }
    }
    assert_eq!(counts, [44, 103, 24], "commits, fs objects, blocks in the fixture");
}

#[tokio::test]
async fn closure_of_every_head_is_complete_with_full_history() {
    let Some(fx) = Fixture::unpack() else { return };
    let db = SeafileDb::connect(&fx.database_url()).await.unwrap();
    let heads = db.heads().await.unwrap();
    assert_eq!(heads.len(), 4);
    let manifest = fx.manifest();
    let store = fx.store();
    for (repo_id, head) in heads {
        let mut seen = Collect::default();
        walk_closure(
            &store,
            RepoStores::new(repo_id, None),
            head,
            WalkOptions::default(),
            &mut seen,
        );
        assert!(seen.problems.is_empty(), "{repo_id}: {:?}", seen.problems);
        let lib = manifest_library(&manifest, &repo_id);
        assert_eq!(lib["head_commit"].as_str().unwrap(), head.to_hex());
        let history: BTreeSet<ObjectId> = lib["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| ObjectId::parse(c["commit_id"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(
            seen.commits, history,
            "{repo_id}: the walk reaches exactly the manifest's history"
        );
    }
}

fn manifest_library<'a>(manifest: &'a serde_json::Value, repo: &RepoId) -> &'a serde_json::Value {
    let libs = manifest["repos"].as_array().expect("manifest.repos");
    libs.iter()
        .find(|l| l["repo_id"] == repo.as_str())
        .unwrap_or_else(|| panic!("{repo} not in manifest"))
}

#[test]
fn merge_head_walks_both_parents() {
    let Some(fx) = Fixture::unpack() else { return };
    let documents = repo("300ca0c9-310b-4344-8289-441bcd1e031c");
    let merge = ObjectId::parse(fx.expected()["merge_head"].as_str().unwrap()).unwrap();
    let store = fx.store();
    let (c, _) = Commit::parse_verified(&merge, &store.read(ObjectKind::Commit, &documents, &merge).unwrap()).unwrap();
    let (p1, p2) = (c.parent_id.unwrap(), c.second_parent_id.unwrap());
    let mut seen = Collect::default();
    walk_closure(
        &store,
        RepoStores::new(documents, None),
        merge,
        WalkOptions::default(),
        &mut seen,
    );
    assert!(seen.commits.contains(&p1) && seen.commits.contains(&p2));
    assert_eq!(seen.commits.len(), 18);
}

#[tokio::test]
async fn file_contents_at_head_match_what_was_uploaded() {
    let Some(fx) = Fixture::unpack() else { return };
    let expected = fx.expected();
    let encrypted: BTreeSet<&str> = ["93db6fa3-9640-4451-b106-e53ed56de966"].into();
    let db = SeafileDb::connect(&fx.database_url()).await.unwrap();
    let store = fx.store();
    let mut checked = 0;
    for (repo_str, files) in expected["expected"].as_object().unwrap() {
        let repo_id = repo(repo_str);
        let head = db.head(&repo_id).await.unwrap().unwrap();
        let (commit, _) =
            Commit::parse_verified(&head, &store.read(ObjectKind::Commit, &repo_id, &head).unwrap()).unwrap();
        let stores = RepoStores::new(repo_id, None);
        let at_head = files_at(&store, stores, commit.root_id);
        let want: BTreeSet<&String> = files.as_object().unwrap().keys().collect();
        assert_eq!(
            at_head.keys().collect::<BTreeSet<_>>(),
            want,
            "{repo_id}: paths at head"
        );
        if encrypted.contains(repo_str.as_str()) {
            continue; // blocks are ciphertext; their ids were verified above
        }
        for (path, spec) in files.as_object().unwrap() {
            let (file_id, file) = &at_head[path];
            let bytes = match file {
                Some(f) => file_bytes(&store, stores, f),
                None => {
                    assert!(file_id.is_zero(), "an empty file has the zero id");
                    Vec::new()
                }
            };
            assert_eq!(bytes.len() as u64, spec["size"].as_u64().unwrap(), "{path}");
            assert_eq!(
                ObjectId::hash_of(&bytes).to_hex(),
                spec["sha1"].as_str().unwrap(),
                "{path}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 11);
}

#[test]
fn commits_sharing_an_id_across_libraries_are_kept_apart() {
    let Some(fx) = Fixture::unpack() else { return };
    let store = fx.store();
    let created = ObjectId::parse("702cfc7abb5678fc2abb557b1ee5f05df956637f").unwrap();
    let mut seen = Vec::new();
    for store_id in store.stores(ObjectKind::Commit).unwrap() {
        if store.exists(ObjectKind::Commit, &store_id, &created).unwrap() {
            let bytes = store.read(ObjectKind::Commit, &store_id, &created).unwrap();
            let (c, _) = Commit::parse_verified(&created, &bytes).unwrap();
            assert_eq!(c.repo_id, store_id);
            seen.push(bytes);
        }
    }
    assert_eq!(seen.len(), 3, "three libraries hold a commit with this id");
    assert!(
        seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2],
        "with different bytes"
    );
}

#[test]
fn empty_files_and_dirs_have_no_object() {
    let Some(fx) = Fixture::unpack() else { return };
    for kind in ObjectKind::ALL {
        for store_id in fx.store().stores(kind).unwrap() {
            assert!(!fx.store().exists(kind, &store_id, &ObjectId::ZERO).unwrap());
        }
    }
}
