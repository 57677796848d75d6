//! A library's rows end to end, with the real binary, broker and databases: a Seafile 13
//! primary (a wiki, `archive_status`, sizes, limits, the template row and a column no release
//! has yet) backs up with every carried row equal to the primary's, live; and the trash: a
//! library already in the primary's trash at the first sync, one moved there while the backup
//! runs, one restored from it, and one purged from it, which the backup keeps.

use std::time::Duration;

use seaf_backup::backup::queue::SyncState;
use seaf_seafile::{
    walk_closure, ClosureVisitor, DbKind, Problem, RepoId, RepoStores, SeafileDb, TrashedRepo, WalkOptions,
};
use seaf_testgen::GeneratedLibrary;
use support::agent::wait_until;
use support::broker::Broker;
use support::db::move_to_trash;
use support::run_cli;
use support::seafile13::{self, both_sides, FUTURE_COLUMN};
use support::site::{generated_primary, Site};

/// Waits until every carried row of `repo` is the same on both sides.
fn wait_rows_equal(site: &Site, repo: &RepoId, what: &str) {
    let rows = || site.rt.block_on(both_sides(&site.primary_db, &site.backup_db, repo));
    wait_until(
        Duration::from_secs(60),
        what,
        || {
            let (p, b) = rows();
            p == b
        },
        || {
            let (p, b) = rows();
            format!("primary: {p:#?}\nbackup: {b:#?}\n{}", site.backup.log_tail())
        },
    );
}

/// One text column of the backup, read with plain SQL (not the code under test).
fn backup_text(site: &Site, sql: &str) -> Option<String> {
    site.rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&site.backup_test_db.url)
            .await
            .unwrap();
        let row = sqlx::query(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        // MySQL reports TEXT columns as BLOB.
        sqlx::Row::try_get::<Option<String>, _>(&row, 0).unwrap_or_else(|_| {
            let bytes: Option<Vec<u8>> = sqlx::Row::try_get(&row, 0).unwrap();
            bytes.map(|b| String::from_utf8(b).unwrap())
        })
    })
}

fn seafile13_rows_back_up_intact(kind: DbKind) {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, kind, 3) else {
        return;
    };
    let url = g.test_db.url.clone();
    rt.block_on(async {
        seafile13::add_future_column(&url).await;
        seafile13::write_rows(&url, &g.libs[0], Some("wiki"), 0).await;
        seafile13::write_rows(&url, &g.libs[1], None, 1).await;
        seafile13::set_default_library(&url, &g.libs[2]).await;
    });
    let Some(site) = Site::start(&broker, &g.data, &url, kind, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    for lib in &g.libs {
        wait_rows_equal(&site, &lib.repo_id, "every carried row on the backup");
    }
    let wiki = g.libs[0].repo_id;
    let info = |column: &str| {
        backup_text(
            &site,
            &format!("SELECT {column} FROM RepoInfo WHERE repo_id = '{wiki}'"),
        )
    };
    assert_eq!(info("type").as_deref(), Some("wiki"), "{kind:?}");
    assert_eq!(info("archive_status").as_deref(), Some("archived"), "{kind:?}");
    assert_eq!(
        info(FUTURE_COLUMN).as_deref(),
        Some("v0"),
        "{kind:?}: tomorrow's column"
    );
    assert_eq!(
        backup_text(
            &site,
            "SELECT info_value FROM SystemInfo WHERE info_key = 'default_repo_id'"
        )
        .as_deref(),
        Some(g.libs[2].repo_id.as_str()),
        "{kind:?}: the template row"
    );

    // Live: a new head, then new sizes (seaf-server computes them after the commit). The
    // backup may sync the head before the sizes; a later sync of the same head rewrites the
    // rows that changed, here asked for by hand (it waits for any running sync's lease).
    g.gen.update_library(&mut g.libs[0], 2).unwrap();
    site.publish(&g.libs[0]);
    rt.block_on(seafile13::write_rows(&url, &g.libs[0], Some("wiki"), 5));
    site.wait_converged(Duration::from_secs(30));
    let config = site.backup.config_path().to_str().unwrap().to_string();
    let (code, out, err) = run_cli(&["sync", "-c", &config, wiki.as_str()]);
    assert_eq!(code, 0, "{out}{err}");
    wait_rows_equal(&site, &wiki, "the wiki's new rows on the backup");
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{kind:?}: {out}");
}

#[test]
fn seafile13_rows_back_up_intact_mariadb() {
    seafile13_rows_back_up_intact(DbKind::MySql);
}

#[test]
fn seafile13_rows_back_up_intact_sqlite() {
    seafile13_rows_back_up_intact(DbKind::Sqlite);
}

#[test]
fn seafile13_rows_back_up_intact_postgres() {
    seafile13_rows_back_up_intact(DbKind::Postgres);
}

/// Moves `lib` to the primary's trash as seaf-server's `seaf_repo_manager_del_repo` does: a
/// `RepoTrash` row, the live rows removed.
fn trash_on_primary(site: &Site, lib: &GeneratedLibrary) {
    site.rt.block_on(trash(&site.primary_db, lib));
}

async fn trash(db: &SeafileDb, lib: &GeneratedLibrary) {
    move_to_trash(
        db,
        &TrashedRepo {
            repo_id: lib.repo_id,
            repo_name: Some(lib.spec.name.clone()),
            head_id: Some(lib.head),
            owner_id: Some(lib.spec.owner.clone()),
            size: Some(4096),
            org_id: Some(-1),
            del_time: Some(1_795_400_000),
        },
    )
    .await;
}

fn backup_trash(site: &Site) -> Vec<TrashedRepo> {
    site.rt.block_on(site.backup_db.trashed_repos()).unwrap()
}

/// Walks the library's whole history in the backup's store; panics on anything missing.
fn assert_restorable(site: &Site, lib: &GeneratedLibrary) {
    struct Strict;
    impl ClosureVisitor for Strict {
        fn problem(&mut self, p: Problem) {
            panic!("{p}");
        }
    }
    let store = seaf_seafile::ObjectStore::new(&site.backup_data);
    let stats = walk_closure(
        &store,
        RepoStores::new(lib.repo_id, None),
        lib.head,
        WalkOptions::default(),
        &mut Strict,
    );
    assert_eq!(
        stats.commits,
        lib.commits.len() as u64,
        "the whole history of {}",
        lib.repo_id
    );
}

fn trash_cases(primary_kind: DbKind, backup_kind: DbKind) {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, primary_kind, 4) else {
        return;
    };
    let db = rt.block_on(g.test_db.connect());
    // Already in the primary's trash before the backup ever ran: no event will name it.
    let early = &g.libs[3];
    rt.block_on(trash(&db, early));
    let Some(site) = Site::start(&broker, &g.data, &g.test_db.url, backup_kind, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    let primary_trash = || site.rt.block_on(site.primary_db.trashed_repos()).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the library trashed before the first sync in the backup's trash",
        || backup_trash(&site) == primary_trash(),
        || format!("{:?}\n{}", backup_trash(&site), site.backup.log_tail()),
    );
    assert_restorable(&site, early);

    // Moved to the trash while the backup runs: the DELETE event moves it there too.
    let moved = &g.libs[0];
    trash_on_primary(&site, moved);
    wait_until(
        Duration::from_secs(30),
        "the library trashed live in the backup's trash",
        || backup_trash(&site) == primary_trash(),
        || format!("{:?}\n{}", backup_trash(&site), site.backup.log_tail()),
    );
    assert!(
        !site.backup_heads().contains_key(&moved.repo_id),
        "its live rows went, as on the primary"
    );
    // The DELETE event and the sync it started may overlap: wait for the last pass.
    wait_until(
        Duration::from_secs(30),
        "the library trashed live to be recorded deleted",
        || {
            let state = site.rt.block_on(site.queue().state(&moved.repo_id)).unwrap();
            state.is_some_and(|s| s.state == SyncState::Deleted)
        },
        || site.status_text(),
    );
    assert_restorable(&site, moved);
    site.wait_converged(Duration::from_secs(30));

    // Moved to the trash and restored from it (seaf-server's restore: the trash row goes, the
    // live rows come back): live again on the backup, out of its trash.
    let restored = &g.libs[1];
    trash_on_primary(&site, restored);
    wait_until(
        Duration::from_secs(30),
        "the second trashed library in the backup's trash",
        || backup_trash(&site) == primary_trash(),
        || format!("{:?}\n{}", backup_trash(&site), site.backup.log_tail()),
    );
    let unlist = format!("DELETE FROM RepoTrash WHERE repo_id = '{}'", restored.repo_id);
    rt.block_on(seafile13::run(&g.test_db.url, &[unlist]));
    site.publish(restored);
    wait_until(
        Duration::from_secs(30),
        "the restored library live on the backup and out of its trash",
        || {
            site.backup_heads().get(&restored.repo_id) == Some(&restored.head)
                && !backup_trash(&site).iter().any(|t| t.repo_id == restored.repo_id)
        },
        || format!("{:?}\n{}", backup_trash(&site), site.backup.log_tail()),
    );

    // Purged from the primary's trash: the backup keeps it in its own, also when asked.
    let purge = format!("DELETE FROM RepoTrash WHERE repo_id = '{}'", moved.repo_id);
    rt.block_on(seafile13::run(&g.test_db.url, &[purge]));
    let config = site.backup.config_path().to_str().unwrap().to_string();
    let (code, out, err) = run_cli(&["sync", "-c", &config, moved.repo_id.as_str()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the backup keeps its data"), "{out}");
    let (code, out, err) = run_cli(&["scan", "-c", &config]);
    assert_eq!(code, 0, "{out}{err}");
    let kept: Vec<RepoId> = backup_trash(&site).iter().map(|t| t.repo_id).collect();
    assert!(
        kept.contains(&moved.repo_id) && kept.contains(&early.repo_id),
        "{kept:?}"
    );
    assert_restorable(&site, moved);
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
    let status = site.status_text();
    assert!(status.starts_with("Total number of libraries: 2\n"), "{status}");
}

#[test]
fn trash_is_carried_kept_and_never_purged_sqlite_to_mariadb() {
    trash_cases(DbKind::Sqlite, DbKind::MySql);
}

#[test]
fn trash_is_carried_kept_and_never_purged_mariadb_to_sqlite() {
    trash_cases(DbKind::MySql, DbKind::Sqlite);
}

#[test]
fn trash_is_carried_kept_and_never_purged_postgres() {
    trash_cases(DbKind::Postgres, DbKind::Postgres);
}
