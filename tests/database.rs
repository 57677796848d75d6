//! The seafile database layer on real MariaDB, PostgreSQL and SQLite servers: Seafile's own
//! schema per kind, the fixture's rows round-tripping, heads moving in one transaction.

use seaf_seafile::{DbKind, ObjectId, RepoId, RepoInfo, RepoRecord, SeafileDb, TrashedRepo, VirtualRepo};
use sqlx::any::AnyPoolOptions;
use sqlx::Row;
use support::db::{copy_core_rows, TestDb, ALL_KINDS};
use support::Fixture;

fn repo(s: &str) -> RepoId {
    RepoId::parse(s).unwrap()
}

fn oid(s: &str) -> ObjectId {
    ObjectId::parse(s).unwrap()
}

fn sample(repo_id: RepoId, head: ObjectId) -> RepoRecord {
    RepoRecord {
        repo_id,
        head,
        info: Some(RepoInfo {
            name: "Ünïcödé library — 文件".into(),
            update_time: Some(1_795_311_124),
            version: Some(1),
            is_encrypted: Some(0),
            last_modifier: Some("a@example.com".into()),
            status: Some(0),
        }),
        owner: Some("a@example.com".into()),
        virtual_repo: None,
        storage_id: Some("default".into()),
    }
}

#[tokio::test]
async fn fixture_rows_round_trip_on_every_kind() {
    let Some(fx) = Fixture::unpack() else { return };
    let source = SeafileDb::connect(&fx.database_url()).await.unwrap();
    let heads = source.heads().await.unwrap();
    assert_eq!(heads.len(), 4);
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let db = test_db.connect().await;
        assert_eq!(db.kind(), kind);
        copy_core_rows(&source, &db).await;
        assert_eq!(db.heads().await.unwrap(), heads, "{kind:?}");
        for (r, _) in &heads {
            assert_eq!(
                db.repo_record(r).await.unwrap(),
                source.repo_record(r).await.unwrap(),
                "{kind:?}: record of {r}"
            );
        }
        let docs = db
            .repo_record(&repo("300ca0c9-310b-4344-8289-441bcd1e031c"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(docs.info.as_ref().unwrap().name, "Documents");
        assert_eq!(docs.owner.as_deref(), Some("a@example.com"));
        assert_eq!(docs.head, oid("ffa520c929912c8b6a5e63d93b9481a2dffa303e"));
    }
}

#[tokio::test]
async fn real_schema_per_kind_and_idempotent_creation() {
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let db = test_db.connect().await;
        db.create_core_tables().await.unwrap();
        db.create_core_tables().await.expect("creating twice is harmless");
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&test_db.url)
            .await
            .unwrap();
        // MySQL and PostgreSQL tables have Seafile's surrogate `id` column; SQLite's do not.
        let has_id = match kind {
            DbKind::MySql => sqlx::query(
                "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'Branch' AND column_name = 'id' AND extra LIKE '%auto_increment%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap(),
            DbKind::Postgres => sqlx::query(
                "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 'branch' AND column_name = 'id'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap(),
            DbKind::Sqlite => sqlx::query("SELECT COUNT(*) AS n FROM pragma_table_info('Branch') WHERE name = 'id'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>("n")
                .unwrap(),
        };
        assert_eq!(has_id, if kind == DbKind::Sqlite { 0 } else { 1 }, "{kind:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn head_moves_and_rows_are_replaced_in_one_transaction() {
    let r = repo("11111111-2222-4333-8444-555555555555");
    let origin = repo("99999999-2222-4333-8444-555555555555");
    let (h1, h2) = (oid(&"1".repeat(40)), oid(&"2".repeat(40)));
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let db = test_db.connect().await;
        db.create_core_tables().await.unwrap();
        db.write_repo(&sample(r, h1)).await.unwrap();
        assert_eq!(db.head(&r).await.unwrap(), Some(h1), "{kind:?}");

        // A transaction dropped without commit leaves the old state.
        {
            let mut tx = db.begin().await.unwrap();
            tx.write_repo(&sample(r, h2)).await.unwrap();
        }
        assert_eq!(db.head(&r).await.unwrap(), Some(h1), "{kind:?}: rollback on drop");

        let mut moved = sample(r, h2);
        moved.owner = Some("b@example.com".into());
        moved.virtual_repo = Some(VirtualRepo {
            origin_repo: origin,
            path: "/docs/2024".into(),
            base_commit: Some(h1),
        });
        moved.storage_id = None;
        db.write_repo(&moved).await.unwrap();
        assert_eq!(db.repo_record(&r).await.unwrap().unwrap(), moved, "{kind:?}");
        assert_eq!(
            db.heads().await.unwrap(),
            vec![(r, h2)],
            "{kind:?}: one row per library"
        );
        assert_eq!(db.virtual_origins().await.unwrap().get(&r), Some(&origin));

        let trash = TrashedRepo {
            repo_id: origin,
            repo_name: Some("gone".into()),
            head_id: Some(h1),
            owner_id: Some("a@example.com".into()),
            size: Some(12345),
            org_id: Some(-1),
            del_time: Some(1_795_311_200),
        };
        let mut tx = db.begin().await.unwrap();
        tx.write_trash(&trash).await.unwrap();
        tx.write_trash(&trash).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.trashed_repos().await.unwrap(), vec![trash], "{kind:?}");
        assert_eq!(db.head(&origin).await.unwrap(), None);
    }
}

#[tokio::test]
async fn malformed_ids_in_the_database_are_clear_errors() {
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let db = test_db.connect().await;
        db.create_core_tables().await.unwrap();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&test_db.url)
            .await
            .unwrap();
        sqlx::query("INSERT INTO Branch (name, repo_id, commit_id) VALUES ('master', '../../etc', 'zz')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = db.heads().await.unwrap_err().to_string();
        assert!(
            err.contains("Branch.repo_id") && err.contains("../../etc"),
            "{kind:?}: {err}"
        );
    }
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let err = SeafileDb::connect("mysql://seafile:secret@127.0.0.1:1/seafile_db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect") && err.contains("seafile:***@"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
