//! A primary on loopback that serves real libraries but lies about one of them, in the ways a
//! broken or hostile primary can: the lying library fails with an error naming the cause and
//! never gets a head; the other libraries sync beside it; the backup verifies clean.

use std::sync::Arc;

use seaf_backup::backup::queue::SyncState;
use seaf_backup::backup::replicate::SyncOptions;
use seaf_backup::backup::{Backup, SyncOutcome};
use seaf_backup::commands::verify;
use seaf_backup::config::Config;
use seaf_backup::pack::frame::{self, Decoder, Frame, MAGIC};
use seaf_seafile::{Commit, DbKind, ObjectId, ObjectKind, RepoId, WalkOptions};
use support::db::TestDb;
use support::e2e::TOKEN;
use support::fake_primary::{batch_answer, Answer, FakePrimary, Honest, Request};
use support::site::{generated_primary, Generated};

type Fetched = Vec<(ObjectId, Option<Vec<u8>>)>;

/// How the primary lies about the victim's objects of one kind.
type Lie = Arc<dyn Fn(ObjectKind, Fetched) -> Fetched + Send + Sync>;

/// How the primary lies in the victim's pack (its bytes).
type PackLie = Arc<dyn Fn(Vec<u8>) -> Vec<u8> + Send + Sync>;

/// Serves `g`'s libraries honestly, but passes the victim's object answers through `lie`. It
/// predates packs (404), so the backup walks object by object.
fn lying_primary(g: &Generated, rt: &tokio::runtime::Runtime, victim: RepoId, lie: Lie) -> FakePrimary {
    serve(g, rt, victim, Some(lie), None)
}

/// Serves `g`'s libraries honestly, packs included, but passes the victim's pack through `lie`.
fn lying_pack_primary(g: &Generated, rt: &tokio::runtime::Runtime, victim: RepoId, lie: PackLie) -> FakePrimary {
    serve(g, rt, victim, None, Some(lie))
}

fn serve(
    g: &Generated,
    rt: &tokio::runtime::Runtime,
    victim: RepoId,
    lie: Option<Lie>,
    pack_lie: Option<PackLie>,
) -> FakePrimary {
    let honest = Honest {
        store: seaf_seafile::ObjectStore::new(&g.data),
        db: rt.block_on(g.test_db.connect()),
        rt: rt.handle().clone(),
    };
    let not_served = || (404, b"{\"error\": \"not served by this test\"}".to_vec());
    FakePrimary::with_body(move |method, path, body| -> Answer {
        match Honest::parse(method, path, body) {
            Request::Rows(repo) => honest.rows(&repo),
            Request::Batch(repo, kind, ids) => {
                let answer = honest.objects(&repo, kind, &ids);
                let lie = lie.as_ref().filter(|_| repo == victim);
                batch_answer(&match lie {
                    Some(lie) => lie(kind, answer),
                    None => answer,
                })
            }
            Request::Pack(repo, request) => match &pack_lie {
                None => not_served(),
                Some(lie) if repo == victim => (200, lie(honest.pack(&repo, &request))),
                Some(_) => (200, honest.pack(&repo, &request)),
            },
            Request::Other => not_served(),
        }
    })
}

/// Syncs every library once through `primary`; returns the victim's error.
fn sync_all(g: &Generated, rt: &tokio::runtime::Runtime, primary: &FakePrimary, victim: RepoId) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(TestDb::create(DbKind::Sqlite)).unwrap();
    let data = dir.path().join("seafile-data");
    let text = format!(
        "sync_token = \"{TOKEN}\"\n[backup]\nprimary_url = \"{}\"\nseafile_data_dir = {data:?}\ndatabase_url = \"{}\"\n",
        primary.url(),
        db.url
    );
    let backup = rt
        .block_on(Backup::open(
            &Config::from_parts(&text, "test.toml", Vec::new()).unwrap(),
        ))
        .unwrap();
    let quiet = |_: &str, _: u64| {};
    let mut victim_error = None;
    for lib in &g.libs {
        let result = rt.block_on(backup.sync_library(lib.repo_id, SyncOptions::default(), &quiet));
        let state = rt.block_on(backup.queue.state(&lib.repo_id)).unwrap().unwrap();
        if lib.repo_id == victim {
            let err = result.expect_err("the lying library must not sync");
            assert_eq!(state.state, SyncState::Failed, "{err}");
            assert_eq!(state.head, None, "the lying library got a head");
            victim_error = Some(err.to_string());
        } else {
            assert!(
                matches!(result, Ok(SyncOutcome::Applied { .. })),
                "{}: {result:?}",
                lib.repo_id
            );
            assert_eq!(state.state, SyncState::Synced);
        }
    }
    let heads = rt.block_on(backup.db.heads()).unwrap();
    assert!(
        heads.iter().all(|(repo, _)| *repo != victim),
        "a Branch row for the lying library"
    );
    assert_eq!(heads.len(), g.libs.len() - 1, "every other library has its head");
    let outcome = rt
        .block_on(verify::run(data, &db.url, None, WalkOptions::default()))
        .unwrap();
    assert_eq!(outcome.errors, 0, "the backup verifies clean");
    victim_error.unwrap()
}

#[test]
fn a_commit_that_is_its_own_ancestor_fails_only_its_library() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, DbKind::Sqlite, 3) else {
        return;
    };
    let (victim, head) = (g.libs[1].repo_id, g.libs[1].head);
    // A commit's id does not cover its parents: every older commit now names the head as its
    // parent, and each still passes the id check.
    let lie: Lie = Arc::new(move |kind, answer| {
        if kind != ObjectKind::Commit {
            return answer;
        }
        let tamper = |(id, bytes): (ObjectId, Option<Vec<u8>>)| {
            let bytes = bytes.map(|b| {
                let mut c = Commit::parse(&b).unwrap();
                if c.commit_id != head {
                    c.parent_id = Some(head);
                }
                c.to_stored()
            });
            (id, bytes)
        };
        answer.into_iter().map(tamper).collect()
    });
    let primary = lying_primary(&g, &rt, victim, lie);
    let error = sync_all(&g, &rt, &primary, victim);
    assert!(error.contains("cycle") && error.contains("seaf-fsck"), "{error}");
}

#[test]
fn an_answer_that_leaves_an_object_out_fails_only_its_library() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, DbKind::Sqlite, 3) else {
        return;
    };
    let victim = g.libs[2].repo_id;
    // Every fs answer about the victim drops its last object.
    let lie: Lie = Arc::new(|kind, mut answer| {
        if kind == ObjectKind::Fs {
            answer.pop();
        }
        answer
    });
    let primary = lying_primary(&g, &rt, victim, lie);
    let error = sync_all(&g, &rt, &primary, victim);
    assert!(error.contains("left out") && error.contains("protocol"), "{error}");
}

/// `pack` with its frames passed through `edit` (and the end frame's count kept true).
fn edit_frames(pack: Vec<u8>, edit: impl Fn(&mut Vec<Frame>)) -> Vec<u8> {
    let mut decoder = Decoder::new();
    decoder.feed(&pack);
    let mut frames = Vec::new();
    while let Some(f) = decoder.next_frame().unwrap() {
        frames.push(f);
    }
    frames.pop();
    edit(&mut frames);
    let mut out = MAGIC.to_vec();
    for f in &frames {
        frame::encode(&mut out, f);
    }
    frame::encode(
        &mut out,
        &Frame::End {
            objects: frames.len() as u64,
        },
    );
    out
}

#[test]
fn a_pack_that_leaves_an_object_out_fails_only_its_library() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, DbKind::Sqlite, 3) else {
        return;
    };
    let victim = g.libs[0].repo_id;
    let lie: PackLie = Arc::new(|pack| {
        edit_frames(pack, |frames| {
            let fs = frames
                .iter()
                .position(|f| matches!(f, Frame::Object(ObjectKind::Fs, _)));
            frames.remove(fs.expect("an fs object in the pack"));
        })
    });
    let primary = lying_pack_primary(&g, &rt, victim, lie);
    let error = sync_all(&g, &rt, &primary, victim);
    assert!(error.contains("left that out") && error.contains("protocol"), "{error}");
}

#[test]
fn a_pack_with_objects_nobody_asked_for_or_garbage_fails_only_its_library() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, DbKind::Sqlite, 3) else {
        return;
    };
    let victim = g.libs[1].repo_id;
    let lie: PackLie = Arc::new(|pack| {
        edit_frames(pack, |frames| {
            let junk = b"a block nobody asked for".to_vec();
            frames.insert(
                0,
                Frame::Block {
                    id: ObjectId::hash_of(&junk),
                    bytes: junk,
                },
            );
        })
    });
    let primary = lying_pack_primary(&g, &rt, victim, lie);
    let error = sync_all(&g, &rt, &primary, victim);
    assert!(error.contains("nothing asked for"), "{error}");
    let garbage: PackLie = Arc::new(|_| b"<html>Welcome to nginx!</html>".to_vec());
    let primary = lying_pack_primary(&g, &rt, victim, garbage);
    let error = sync_all(&g, &rt, &primary, victim);
    assert!(error.contains("not a pack") && error.contains("protocol"), "{error}");
}
