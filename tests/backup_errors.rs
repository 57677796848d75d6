//! What a failing sync does to the library, decided by the error's type: a wrong token and a
//! primary's server error fail the library at once with an error that names the cause; a
//! primary that is down (or behind a proxy that says so) only makes it wait. And leases fence:
//! a worker paused past its lease can never move `Branch` after another worker did.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seaf_backup::backup::queue::{Queue, SyncState};
use seaf_backup::backup::replicate::SyncOptions;
use seaf_backup::backup::{Backup, Disposition, SyncError};
use seaf_backup::config::Config;
use seaf_seafile::{DbKind, RepoId};
use seaf_testgen::LibrarySpec;
use support::agent::{free_port, wait_until};
use support::db::TestDb;
use support::e2e::TOKEN;
use support::fake_primary::FakePrimary;
use support::site::generated_site;

const REPO: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";

/// An in-process backup of `primary_url` on a fresh `kind` database.
async fn backup_of(primary_url: &str, kind: DbKind, dir: &Path) -> Option<(Backup, TestDb)> {
    let db = TestDb::create(kind).await?;
    let data = dir.join("seafile-data");
    let backup = open(primary_url, &db.url, &data).await;
    Some((backup, db))
}

async fn open(primary_url: &str, database_url: &str, data: &Path) -> Backup {
    let text = format!(
        "sync_token = \"{TOKEN}\"\n[backup]\nprimary_url = \"{primary_url}\"\nseafile_data_dir = {data:?}\ndatabase_url = \"{database_url}\"\n"
    );
    let config = Config::from_parts(&text, "test.toml", Vec::new()).unwrap();
    Backup::open(&config).await.unwrap()
}

/// Syncs `REPO` once and returns the error and the state it left.
async fn sync_once(backup: &Backup) -> (SyncError, SyncState, Option<String>) {
    let repo = RepoId::parse(REPO).unwrap();
    let quiet = |_: &str, _: u64| {};
    let err = match backup.sync_library(repo, SyncOptions::default(), &quiet).await {
        Ok(outcome) => panic!("the sync succeeded: {outcome:?}"),
        Err(e) => e,
    };
    let state = backup.queue.state(&repo).await.unwrap().expect("the library has a row");
    (err, state.state, state.error)
}

fn answering(status: u16, body: &'static str) -> FakePrimary {
    FakePrimary::start(move |_, _| (status, body.as_bytes().to_vec()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_fails_the_library_with_an_error_naming_the_token() {
    for kind in [DbKind::MySql, DbKind::Sqlite] {
        let dir = tempfile::tempdir().unwrap();
        let primary = answering(401, "unauthorized");
        let Some((backup, _db)) = backup_of(primary.url(), kind, dir.path()).await else {
            return;
        };
        let (err, state, error) = sync_once(&backup).await;
        assert_eq!(err.disposition(), Disposition::Fail, "{kind:?}: {err}");
        assert_eq!(state, SyncState::Failed, "{kind:?}");
        let error = error.unwrap_or_default();
        assert!(
            error.contains("sync_token") && error.contains("401"),
            "{kind:?}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_answering_500_fails_the_library_with_its_answer() {
    for kind in [DbKind::MySql, DbKind::Sqlite] {
        let dir = tempfile::tempdir().unwrap();
        let primary = answering(500, "Table 'seafile.RepoInfo' doesn't exist");
        let Some((backup, _db)) = backup_of(primary.url(), kind, dir.path()).await else {
            return;
        };
        let (err, state, error) = sync_once(&backup).await;
        assert_eq!(err.disposition(), Disposition::Fail, "{kind:?}: {err}");
        assert_eq!(state, SyncState::Failed);
        let error = error.unwrap_or_default();
        assert!(
            error.contains("HTTP 500") && error.contains("RepoInfo") && error.contains("primary's log"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_that_is_down_or_behind_a_proxy_saying_so_only_waits() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let proxy = answering(503, "no upstream");
    for url in [down.as_str(), proxy.url()] {
        let dir = tempfile::tempdir().unwrap();
        let Some((backup, _db)) = backup_of(url, DbKind::MySql, dir.path()).await else {
            return;
        };
        let (err, state, error) = sync_once(&backup).await;
        assert_eq!(err.disposition(), Disposition::WaitForPrimary, "{url}: {err}");
        assert_eq!(state, SyncState::Waiting, "{url}: {error:?}");
        assert!(err.to_string().contains("primary_url"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_another_library_break_the_protocol() {
    let other = "c3bd2ae0-3e40-4bcb-9dbb-c5e6c3ee8d07";
    let body = format!("{{\"repo_id\": \"{other}\", \"tables\": {{}}}}");
    let primary = FakePrimary::start(move |_, _| (200, body.clone().into_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let Some((backup, _db)) = backup_of(primary.url(), DbKind::MySql, dir.path()).await else {
        return;
    };
    let (err, state, error) = sync_once(&backup).await;
    assert_eq!(err.disposition(), Disposition::Fail, "{err}");
    assert_eq!(state, SyncState::Failed);
    assert!(error.unwrap_or_default().contains(other));
}

/// A worker that stalls mid-sync past its lease (as a paused process or a stalled disk would)
/// while a second backup process takes the library and moves it on: the stalled worker's head
/// transaction is refused, and `Branch` never moves back to the older head it had read.
#[test]
fn a_worker_that_lost_its_lease_cannot_move_the_head() {
    let Some((_broker, rt, mut g, mut site)) = generated_site(DbKind::MySql, 1, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    site.backup.stop();
    let repo = g.libs[0].repo_id;

    // Worker A reads the primary at head h1, then stalls in the middle of its sync.
    let h1 = g.gen.update_library(&mut g.libs[0], 2).unwrap();
    site.publish(&g.libs[0]);
    let stalled = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let url = format!("http://{}", site.dep.api);
    let a = rt.block_on(open(&url, &site.backup_test_db.url, &site.backup_data));
    let (s, g2) = (stalled.clone(), go.clone());
    let worker_a = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let stall = move |_: &str, _: u64| {
            s.store(true, Ordering::SeqCst);
            while !g2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        rt.block_on(a.sync_library(repo, SyncOptions::default(), &stall))
    });
    wait_until(
        Duration::from_secs(60),
        "worker A to stall mid-sync",
        || stalled.load(Ordering::SeqCst),
        String::new,
    );

    // Its lease runs out (the stall outlasts it); the backup process takes the library and
    // syncs it to a newer head h2.
    let h2 = g.gen.update_library(&mut g.libs[0], 2).unwrap();
    site.publish(&g.libs[0]);
    let expire =
        format!("UPDATE SeafBackupRepoState SET lock_expires = 0 WHERE repo_id = '{repo}' AND lock_owner <> ''");
    site.backup.restart();
    wait_until(
        Duration::from_secs(120),
        "the backup process to take the library over and sync it to h2",
        || {
            // Time passes for A's lease on every look: renewals cannot keep it alive.
            let _ = site.rt.block_on(site.backup_db.execute("expiring", &expire, &[]));
            site.backup_heads().get(&repo) == Some(&h2)
        },
        || site.backup.log_tail(),
    );

    // A wakes up: its objects are whole and harmless, its head transaction is refused.
    go.store(true, Ordering::SeqCst);
    let result = worker_a.join().unwrap();
    let err = result.expect_err("the stalled worker's sync must not succeed");
    assert_eq!(err.disposition(), Disposition::Discard, "{err}");
    assert!(err.to_string().contains("lease"), "{err}");
    assert_ne!(h1, h2);
    assert_eq!(
        site.backup_heads().get(&repo),
        Some(&h2),
        "Branch moved back to the stalled worker's head"
    );
    let state = site
        .rt
        .block_on(Queue::new(site.backup_db.clone()).state(&repo))
        .unwrap()
        .unwrap();
    assert_eq!(state.head, Some(h2));
    assert_eq!(state.old_head, None, "no rewind happened, so none is recorded");
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_list_that_never_advances_stops_the_scan_with_a_protocol_error() {
    let page = format!("{{\"repos\": [], \"next\": \"{REPO}\"}}");
    let primary = FakePrimary::start(move |_, path| match path {
        p if p.starts_with("/api/v1/repos?") => (200, page.clone().into_bytes()),
        _ => (200, b"{\"repos\": []}".to_vec()),
    });
    let dir = tempfile::tempdir().unwrap();
    let Some((backup, _db)) = backup_of(primary.url(), DbKind::Sqlite, dir.path()).await else {
        return;
    };
    let scan = tokio::time::timeout(Duration::from_secs(30), backup.full_scan()).await;
    let err = scan.expect("the scan must not loop").expect_err("the scan must fail");
    assert!(err.to_string().contains("does not advance"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_past_its_limit_is_refused_before_it_is_held() {
    let huge: Arc<Vec<u8>> = Arc::new(vec![b' '; 65 << 20]);
    let primary = FakePrimary::start(move |_, _| (200, huge.to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let Some((backup, _db)) = backup_of(primary.url(), DbKind::Sqlite, dir.path()).await else {
        return;
    };
    let (err, state, _) = sync_once(&backup).await;
    assert!(err.to_string().contains("over the limit"), "{err}");
    assert_eq!(state, SyncState::Failed);
}
