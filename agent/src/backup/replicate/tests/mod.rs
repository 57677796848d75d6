//! The replication against an in-memory primary (a generated Seafile store behind [`Remote`]),
//! over a temporary backup store: no HTTP, no database.

use seaf_seafile::{
    walk_closure, ClosureVisitor, Commit, FsObject, ObjectId, ObjectKind, ObjectStore, Problem, RepoStores, WalkOptions,
};
use seaf_testgen::{Generator, LibrarySpec};

use super::*;
use crate::backup::durable::GroupCommit;
use local_primary::LocalPrimary;

mod local_primary;
mod pack;

struct Problems(Vec<Problem>);

impl ClosureVisitor for Problems {
    fn problem(&mut self, problem: Problem) {
        self.0.push(problem);
    }
}

fn problems(store: &ObjectStore, stores: RepoStores, head: ObjectId) -> Vec<Problem> {
    let mut found = Problems(Vec::new());
    walk_closure(store, stores, head, WalkOptions::default(), &mut found);
    found.0.into_iter().filter(|p| !p.defect.is_warning()).collect()
}

/// The closure invariant over everything in the backup store: every commit's whole history
/// and trees are there, and every fs object's children and blocks are.
fn assert_closure_invariant(store: &ObjectStore, stores: RepoStores) {
    for commit in store.list(ObjectKind::Commit, &stores.repo).unwrap_or_default() {
        let found = problems(store, stores, commit);
        assert!(
            found.is_empty(),
            "commit {commit} is present but its closure is not: {found:?}"
        );
    }
    for id in store.list(ObjectKind::Fs, &stores.objects).unwrap_or_default() {
        let object = FsObject::parse_verified(&id, &store.read(ObjectKind::Fs, &stores.objects, &id).unwrap()).unwrap();
        let (children, kind) = match object {
            FsObject::Dir(d) => (d.dirents.iter().map(|e| e.id).collect::<Vec<_>>(), ObjectKind::Fs),
            FsObject::File(f) => (f.block_ids, ObjectKind::Block),
        };
        for child in children.into_iter().filter(|c| !c.is_zero()) {
            assert!(
                store.exists(kind, &stores.objects, &child).unwrap(),
                "fs object {id} is present, {kind} {child} is not"
            );
        }
    }
}

fn quiet() -> impl Fn(&str, u64) + Sync {
    |_: &str, _: u64| {}
}

/// Replicates `head` into `backup`, the backup having nothing it could name as a have.
async fn run(
    primary: &LocalPrimary,
    backup: &ObjectStore,
    head: ObjectId,
    force: bool,
) -> Result<SyncReport, ReplicateError> {
    run_with(primary, backup, head, &[], force).await
}

async fn run_with(
    primary: &LocalPrimary,
    backup: &ObjectStore,
    head: ObjectId,
    haves: &[ObjectId],
    force: bool,
) -> Result<SyncReport, ReplicateError> {
    let commit = GroupCommit::open(backup.clone()).unwrap();
    let local = Local {
        store: backup,
        commit: &commit,
    };
    let result = replicate(
        primary,
        local,
        primary.stores,
        head,
        haves,
        SyncOptions { force },
        &quiet(),
    )
    .await;
    commit.stop();
    result
}

struct World {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    gen: Generator,
    backup: ObjectStore,
}

fn world() -> World {
    let (p, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gen = Generator::new(p.path(), 7);
    let backup = ObjectStore::new(b.path());
    World {
        _dirs: (p, b),
        gen,
        backup,
    }
}

#[tokio::test]
async fn a_merge_history_is_copied_whole_and_a_second_pass_fetches_nothing() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Docs")).unwrap();
    assert!(!lib.merge_commits.is_empty());
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    let report = run(&primary, &w.backup, lib.head, false).await.unwrap();
    assert_eq!(report.commits as usize, lib.commits.len());
    assert!(problems(&w.backup, lib.stores, lib.head).is_empty());
    assert_eq!(primary.requests(), 1, "the whole history in one request");
    let again = LocalPrimary::new(w.gen.store(), lib.stores);
    assert_eq!(
        run_with(&again, &w.backup, lib.head, &[lib.head], false).await.unwrap(),
        SyncReport::default()
    );
    // Without a have, everything comes again and nothing is rewritten.
    let blind = LocalPrimary::new(w.gen.store(), lib.stores);
    assert_eq!(
        run(&blind, &w.backup, lib.head, false).await.unwrap(),
        SyncReport::default()
    );
    let old = LocalPrimary::old(w.gen.store(), lib.stores);
    assert_eq!(
        run(&old, &w.backup, lib.head, false).await.unwrap(),
        SyncReport::default()
    );
    assert_eq!(old.asked(ObjectKind::Commit), 0, "the head is present: nothing to ask");
}

#[tokio::test]
async fn an_update_fetches_only_what_is_new() {
    let mut w = world();
    let mut lib = w.gen.create_library(LibrarySpec::small("Notes")).unwrap();
    run(
        &LocalPrimary::new(w.gen.store(), lib.stores),
        &w.backup,
        lib.head,
        false,
    )
    .await
    .unwrap();
    let old = lib.head;
    let head = w.gen.update_library(&mut lib, 2).unwrap();
    let primary = LocalPrimary::old(w.gen.store(), lib.stores);
    let report = run(&primary, &w.backup, head, false).await.unwrap();
    assert_eq!(report.commits, 1);
    assert_eq!(primary.asked(ObjectKind::Commit), 1);
    assert!(problems(&w.backup, lib.stores, head).is_empty());
    // The same through a pack, from a second backup that has the old head.
    let other = world();
    let old_primary = LocalPrimary::new(w.gen.store(), lib.stores);
    run(&old_primary, &other.backup, old, false).await.unwrap();
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    let by_pack = run_with(&primary, &other.backup, head, &[old], false).await.unwrap();
    assert_eq!((by_pack.commits, by_pack.objects()), (report.commits, report.objects()));
    assert_eq!(primary.requests(), 1, "one request");
    assert!(problems(&other.backup, lib.stores, head).is_empty());
}

#[tokio::test]
async fn a_virtual_library_takes_its_trees_from_the_origin_store() {
    let mut w = world();
    let origin = w.gen.create_library(LibrarySpec::rich("Origin")).unwrap();
    let sub = w.gen.create_virtual_library(&origin, "/docs").unwrap();
    assert_ne!(sub.stores.objects, sub.stores.repo);
    run(
        &LocalPrimary::new(w.gen.store(), sub.stores),
        &w.backup,
        sub.head,
        false,
    )
    .await
    .unwrap();
    assert!(problems(&w.backup, sub.stores, sub.head).is_empty());
    assert!(w
        .backup
        .list(ObjectKind::Fs, &sub.stores.repo)
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn a_failure_at_any_request_leaves_the_store_closed_and_the_next_pass_finishes() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Flaky")).unwrap();
    for fail_at in 0.. {
        let primary = LocalPrimary {
            fail_at: Some(fail_at),
            ..LocalPrimary::old(w.gen.store(), lib.stores)
        };
        let result = run(&primary, &w.backup, lib.head, false).await;
        assert_closure_invariant(&w.backup, lib.stores);
        match result {
            Err(ReplicateError::Remote(e)) => assert!(e.is_transient(), "{e}"),
            Err(e) => panic!("unexpected error after {fail_at} requests: {e}"),
            Ok(_) => break,
        }
        assert!(fail_at < 1000, "the sync never finished");
    }
    assert!(problems(&w.backup, lib.stores, lib.head).is_empty());
}

#[tokio::test]
async fn a_missing_block_fails_the_sync_unless_forced_and_is_named_with_its_path() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Holes")).unwrap();
    let (path, file) = lib.files.iter().find(|(_, f)| !f.file_id.is_zero()).unwrap();
    let object = w
        .gen
        .store()
        .read(ObjectKind::Fs, &lib.stores.objects, &file.file_id)
        .unwrap();
    let FsObject::File(f) = FsObject::parse_verified(&file.file_id, &object).unwrap() else {
        panic!("not a file")
    };
    std::fs::remove_file(
        w.gen
            .store()
            .path(ObjectKind::Block, &lib.stores.objects, &f.block_ids[0]),
    )
    .unwrap();
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    let err = run(&primary, &w.backup, lib.head, false).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReplicateError::MissingOnPrimary {
                kind: ObjectKind::Block,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("seaf-fsck"), "{err}");
    assert!(w
        .backup
        .list(ObjectKind::Commit, &lib.stores.repo)
        .unwrap_or_default()
        .is_empty());
    let report = run(&primary, &w.backup, lib.head, true).await.unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].path.as_deref().is_some_and(|p| p.starts_with('/')),
        "{:?} vs {path}",
        report.skipped
    );
}

#[tokio::test]
async fn a_commit_that_is_its_own_ancestor_is_refused_and_no_commit_is_written() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::small("Loop")).unwrap();
    let head = lib.head;
    let primary = LocalPrimary {
        // The commit id does not cover parent_id, so the tampered commit still verifies.
        tamper: Some(Box::new(move |mut c: Commit| {
            if c.commit_id != head {
                c.parent_id = Some(head);
            }
            c
        })),
        ..LocalPrimary::new(w.gen.store(), lib.stores)
    };
    let err = run(&primary, &w.backup, lib.head, false).await.unwrap_err();
    assert!(err.to_string().contains("cycle"), "the primary's walk finds it: {err}");
    let old = LocalPrimary {
        packs: false,
        ..primary
    };
    let err = run(&old, &w.backup, lib.head, false).await.unwrap_err();
    assert!(matches!(err, ReplicateError::CommitCycle(_)), "{err}");
    assert!(w
        .backup
        .list(ObjectKind::Commit, &lib.stores.repo)
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn an_answer_that_leaves_an_object_out_is_a_protocol_error() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::small("Short")).unwrap();
    let primary = LocalPrimary {
        short: true,
        ..LocalPrimary::old(w.gen.store(), lib.stores)
    };
    let err = run(&primary, &w.backup, lib.head, false).await.unwrap_err();
    assert!(
        matches!(err, ReplicateError::Remote(RemoteError::Protocol { .. })),
        "{err}"
    );
    assert!(w
        .backup
        .list(ObjectKind::Commit, &lib.stores.repo)
        .unwrap_or_default()
        .is_empty());
}
