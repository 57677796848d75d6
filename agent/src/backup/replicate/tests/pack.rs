//! The pack exchange against an honest, a broken and a lying primary.

use seaf_seafile::{ObjectKind, ObjectStore};
use seaf_testgen::LibrarySpec;

use super::local_primary::LocalPrimary;
use super::*;
use crate::pack::frame::Frame;

fn no_commits(store: &ObjectStore, stores: RepoStores) -> bool {
    store
        .list(ObjectKind::Commit, &stores.repo)
        .unwrap_or_default()
        .is_empty()
}

fn protocol_error(err: &ReplicateError) -> bool {
    matches!(err, ReplicateError::Remote(RemoteError::Protocol { .. }))
}

#[tokio::test]
async fn a_deep_history_comes_in_one_request() {
    let mut w = world();
    let mut lib = w.gen.create_library(LibrarySpec::small("Deep")).unwrap();
    let first = lib.head;
    let mut head = first;
    for _ in 0..200 {
        head = w.gen.update_library(&mut lib, 1).unwrap();
    }
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    run_with(&primary, &w.backup, first, &[], false).await.unwrap();
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    let report = run_with(&primary, &w.backup, head, &[first], false).await.unwrap();
    assert_eq!(report.commits, 200);
    assert_eq!(primary.requests(), 1, "200 commits, one round trip");
    assert!(problems(&w.backup, lib.stores, head).is_empty());
    assert_closure_invariant(&w.backup, lib.stores);
}

#[tokio::test]
async fn a_pack_broken_anywhere_leaves_the_store_closed_and_resumes_from_what_is_durable() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Broken")).unwrap();
    let whole = {
        let primary = LocalPrimary::new(w.gen.store(), lib.stores);
        let probe = world();
        run(&primary, &probe.backup, lib.head, false).await.unwrap();
        primary.calls.load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(whole, 1);
    for cut in [0, 7, 10, 100, 1000, 5000, 20_000, 60_000] {
        let b = world();
        let primary = LocalPrimary {
            cut_first_pack_at: Some(cut),
            ..LocalPrimary::new(w.gen.store(), lib.stores)
        };
        let result = run(&primary, &b.backup, lib.head, false).await;
        assert_closure_invariant(&b.backup, lib.stores);
        match result {
            Ok(_) => assert!(problems(&b.backup, lib.stores, lib.head).is_empty(), "cut at {cut}"),
            Err(ReplicateError::Remote(e)) => assert!(e.is_transient(), "cut at {cut}: {e}"),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[tokio::test]
async fn a_resumed_pack_names_the_newest_durable_commit() {
    let mut w = world();
    let mut lib = w.gen.create_library(LibrarySpec::small("Resume")).unwrap();
    let mut head = lib.head;
    // Enough commits for several batches.
    for _ in 0..60 {
        head = w.gen.update_library(&mut lib, 1).unwrap();
    }
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    let full = primary.pack_len(head);
    let primary = LocalPrimary {
        cut_first_pack_at: Some(full * 3 / 4),
        ..LocalPrimary::new(w.gen.store(), lib.stores)
    };
    run(&primary, &w.backup, head, false).await.unwrap();
    let asked = primary.packs_asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "one resume");
    assert_eq!(asked[1].len(), 1, "resumed from a durable commit: {asked:?}");
    assert!(problems(&w.backup, lib.stores, head).is_empty());
}

/// A sync that dies halfway (here: the primary goes away for good) leaves where it got to, so
/// the next sync, as after a restart, asks only for what is newer than that.
#[tokio::test]
async fn the_next_sync_resumes_from_where_an_unfinished_one_got_to() {
    let mut w = world();
    let mut lib = w.gen.create_library(LibrarySpec::small("Restart")).unwrap();
    let mut head = lib.head;
    for _ in 0..60 {
        head = w.gen.update_library(&mut lib, 1).unwrap();
    }
    let full = LocalPrimary::new(w.gen.store(), lib.stores).pack_len(head);
    let dying = LocalPrimary {
        cut_first_pack_at: Some(full * 3 / 4),
        fail_at: Some(1),
        ..LocalPrimary::new(w.gen.store(), lib.stores)
    };
    run(&dying, &w.backup, head, false).await.unwrap_err();
    assert_closure_invariant(&w.backup, lib.stores);

    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    run(&primary, &w.backup, head, false).await.unwrap();
    let asked = primary.packs_asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].len(),
        1,
        "the durable commit the first sync reached: {asked:?}"
    );
    let rest = primary.pack_len_from(head, &asked[0]);
    assert!(
        rest < full / 2,
        "only what is newer comes again: {rest} of {full} bytes"
    );
    assert!(problems(&w.backup, lib.stores, head).is_empty());
    let asked_again = LocalPrimary::new(w.gen.store(), lib.stores);
    run(&asked_again, &w.backup, head, false).await.unwrap();
    assert_eq!(
        asked_again.packs_asked.lock().unwrap()[0].len(),
        0,
        "a finished sync leaves nothing to resume from"
    );
}

#[tokio::test]
async fn lies_in_a_pack_stop_the_sync_before_the_head_could_move() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Lies")).unwrap();
    let edits: Vec<(&str, local_primary::Edit)> = vec![
        (
            "an object left out",
            Box::new(|mut f: Vec<Frame>| {
                let i = f
                    .iter()
                    .position(|x| matches!(x, Frame::Object(ObjectKind::Fs, _)))
                    .unwrap();
                f.remove(i);
                fix_count(f)
            }),
        ),
        (
            "an object nothing asked for",
            Box::new(|mut f: Vec<Frame>| {
                let end = f.len() - 1;
                let junk = b"junk".to_vec();
                let id = seaf_seafile::ObjectId::hash_of(&junk);
                f.insert(end, Frame::Block { id, bytes: junk });
                fix_count(f)
            }),
        ),
        (
            "the head before its tree",
            Box::new(|mut f: Vec<Frame>| {
                let end = f.len() - 1;
                let head = f.remove(end - 1);
                f.insert(0, head);
                f
            }),
        ),
        (
            "a wrong count",
            Box::new(|mut f: Vec<Frame>| {
                let end = f.len() - 1;
                f[end] = Frame::End { objects: 3 };
                f
            }),
        ),
    ];
    for (what, edit) in edits {
        let b = world();
        let primary = LocalPrimary {
            edit: Some(edit),
            ..LocalPrimary::new(w.gen.store(), lib.stores)
        };
        let err = run(&primary, &b.backup, lib.head, false).await.unwrap_err();
        assert!(protocol_error(&err), "{what}: {err}");
        assert!(
            !b.backup
                .exists(ObjectKind::Commit, &lib.stores.repo, &lib.head)
                .unwrap(),
            "{what}"
        );
        assert_closure_invariant(&b.backup, lib.stores);
    }
}

#[tokio::test]
async fn a_corrupt_object_is_refused_unless_forced() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::rich("Rot")).unwrap();
    let flip = |mut f: Vec<Frame>| {
        let i = f
            .iter()
            .position(|x| matches!(x, Frame::Object(ObjectKind::Fs, _)))
            .unwrap();
        if let Frame::Object(_, bytes) = &mut f[i] {
            let n = bytes.len() / 2;
            bytes[n] ^= 0xff;
        }
        f
    };
    let primary = LocalPrimary {
        edit: Some(Box::new(flip)),
        ..LocalPrimary::new(w.gen.store(), lib.stores)
    };
    let err = run(&primary, &w.backup, lib.head, false).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReplicateError::CorruptUnnamed {
                kind: ObjectKind::Fs,
                ..
            }
        ),
        "{err}"
    );
    assert!(no_commits(&w.backup, lib.stores));
    let report = run(&primary, &w.backup, lib.head, true).await.unwrap();
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(
        report.skipped[0].reason.contains("sent corrupt"),
        "{:?}",
        report.skipped
    );
    // Complete but for what was skipped, as `--force` promises.
    let holes: Vec<_> = problems(&w.backup, lib.stores, lib.head)
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert!(holes.iter().all(|id| *id == report.skipped[0].id), "{holes:?}");
}

#[tokio::test]
async fn garbage_instead_of_a_pack_is_a_protocol_error() {
    let mut w = world();
    let lib = w.gen.create_library(LibrarySpec::small("Garbage")).unwrap();
    let primary = LocalPrimary {
        edit: Some(Box::new(|_| vec![Frame::Failed("disk on fire".into())])),
        ..LocalPrimary::new(w.gen.store(), lib.stores)
    };
    let err = run(&primary, &w.backup, lib.head, false).await.unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert!(no_commits(&w.backup, lib.stores));
}

/// The end frame counting what is there.
fn fix_count(mut f: Vec<Frame>) -> Vec<Frame> {
    let end = f.len() - 1;
    f[end] = Frame::End { objects: end as u64 };
    f
}

#[tokio::test]
async fn large_blocks_arrive_whole_and_a_damaged_one_is_named() {
    let mut w = world();
    let spec = LibrarySpec {
        // 20% of the files are above 4 KiB: some of these are over 1 MiB.
        commits: 8,
        changes_per_commit: 4,
        block_size: 3 << 20,
        max_file_size: 7 << 20,
        ..LibrarySpec::small("Large")
    };
    let lib = w.gen.create_library(spec).unwrap();
    let blocks = w.gen.store().list(ObjectKind::Block, &lib.stores.objects).unwrap();
    let large = blocks
        .iter()
        .find(|b| {
            let path = w.gen.store().path(ObjectKind::Block, &lib.stores.objects, b);
            std::fs::metadata(path).unwrap().len() >= 1 << 20
        })
        .copied()
        .expect("a block of 1 MiB or more");
    let primary = LocalPrimary::new(w.gen.store(), lib.stores);
    run(&primary, &w.backup, lib.head, false).await.unwrap();
    assert!(problems(&w.backup, lib.stores, lib.head).is_empty());
    assert_eq!(
        w.backup.read(ObjectKind::Block, &lib.stores.objects, &large).unwrap(),
        w.gen
            .store()
            .read(ObjectKind::Block, &lib.stores.objects, &large)
            .unwrap()
    );
    // The same block damaged on the primary: refused by name.
    let b = world();
    let path = w.gen.store().path(ObjectKind::Block, &lib.stores.objects, &large);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12345] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = run(
        &LocalPrimary::new(w.gen.store(), lib.stores),
        &b.backup,
        lib.head,
        false,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ReplicateError::Corrupt { kind: ObjectKind::Block, id, .. } if id == large),
        "{err}"
    );
    assert!(!b.backup.exists(ObjectKind::Block, &lib.stores.objects, &large).unwrap());
}
