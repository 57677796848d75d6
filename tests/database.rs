//! The seafile database layer on real MariaDB, PostgreSQL and SQLite servers: Seafile's own
//! schema per kind (created whole, upgraded by adding columns), the fixture's rows
//! round-tripping, heads moving in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use seaf_seafile::library_rows::{self, Value};
use seaf_seafile::{
    DbKind, LibraryRows, LibraryState, ObjectId, RepoId, RepoInfo, RepoRecord, SeafileDb, TrashedRepo, VirtualRepo,
};
use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row};
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

/// The primary's poll skips reading `Branch` while the change marker stays put: it must move
/// whenever another connection commits a head, and (on SQLite, a database per file) only then.
#[tokio::test]
async fn the_change_marker_moves_when_another_connection_commits() {
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let writer = test_db.connect().await;
        writer.create_core_tables().await.unwrap();
        let watcher = SeafileDb::connect(&test_db.url).await.unwrap();
        let Some(mut marker) = watcher.change_marker().await.unwrap() else {
            assert_eq!(kind, DbKind::MySql, "only MySQL/MariaDB has no marker");
            continue;
        };
        assert_ne!(kind, DbKind::MySql);
        let r = repo("1b2c3d4e-0000-4000-8000-000000000001");
        let mut before = marker.read().await.unwrap();
        for head in [
            "1111111111111111111111111111111111111111",
            "2222222222222222222222222222222222222222",
        ] {
            writer.write_repo(&sample(r, oid(head))).await.unwrap();
            let after = marker.read().await.unwrap();
            assert_ne!(after, before, "{kind:?}: a committed head must move the marker");
            before = after;
        }
        // PostgreSQL's marker is the whole server's (other tests write beside this one).
        if kind == DbKind::Sqlite {
            assert_eq!(
                marker.read().await.unwrap(),
                before,
                "nothing committed: the marker stays"
            );
        }
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

/// Every table of haiwen/seafile-server's scripts/sql/mysql/seafile.sql as of release 13
/// (v13.0.25-server; 11 and 12 have a subset), with RepoInfo.archive_status (added by seahub's
/// 13.0.0 upgrade), and whether scripts/sql/sqlite/seafile.sql has it too. MySQL and PostgreSQL
/// tables also have the surrogate `id`; SQLite's do not.
const SEAFILE_TABLES: &[(&str, bool, &[&str])] = &[
    ("Branch", true, &["name", "repo_id", "commit_id"]),
    (
        "FileLocks",
        true,
        &["repo_id", "path", "user_name", "lock_time", "expire"],
    ),
    ("FileLockTimestamp", true, &["repo_id", "update_time"]),
    ("FolderGroupPerm", true, &["repo_id", "path", "permission", "group_id"]),
    ("FolderPermTimestamp", true, &["repo_id", "timestamp"]),
    ("FolderUserPerm", true, &["repo_id", "path", "permission", "user"]),
    ("GarbageRepos", true, &["repo_id"]),
    ("GCID", false, &["repo_id", "gc_id"]),
    ("InnerPubRepo", true, &["repo_id", "permission"]),
    ("LastGCID", false, &["repo_id", "client_id", "gc_id"]),
    ("OrgDownloadRateLimit", false, &["org_id", "download_limit"]),
    (
        "OrgGroupRepo",
        true,
        &["org_id", "repo_id", "group_id", "owner", "permission"],
    ),
    ("OrgInnerPubRepo", true, &["org_id", "repo_id", "permission"]),
    ("OrgQuota", true, &["org_id", "quota"]),
    ("OrgRepo", true, &["org_id", "repo_id", "user"]),
    (
        "OrgSharedRepo",
        true,
        &["org_id", "repo_id", "from_email", "to_email", "permission"],
    ),
    ("OrgUploadRateLimit", false, &["org_id", "upload_limit"]),
    ("OrgUserDefaultQuota", false, &["org_id", "quota"]),
    ("OrgUserQuota", true, &["org_id", "user", "quota"]),
    ("Repo", true, &["repo_id"]),
    ("RepoFileCount", true, &["repo_id", "file_count"]),
    ("RepoGroup", true, &["repo_id", "group_id", "user_name", "permission"]),
    ("RepoHead", true, &["repo_id", "branch_name"]),
    ("RepoHistoryLimit", true, &["repo_id", "days"]),
    (
        "RepoInfo",
        true,
        &[
            "repo_id",
            "name",
            "update_time",
            "version",
            "is_encrypted",
            "last_modifier",
            "status",
            "type",
            "archive_status",
        ],
    ),
    ("RepoOwner", true, &["repo_id", "owner_id"]),
    ("RepoSize", true, &["repo_id", "size", "head_id"]),
    ("RepoStorageId", true, &["repo_id", "storage_id"]),
    ("RepoSyncError", true, &["token", "error_time", "error_con"]),
    (
        "RepoTokenPeerInfo",
        true,
        &["token", "peer_id", "peer_ip", "peer_name", "sync_time", "client_ver"],
    ),
    (
        "RepoTrash",
        true,
        &[
            "repo_id",
            "repo_name",
            "head_id",
            "owner_id",
            "size",
            "org_id",
            "del_time",
        ],
    ),
    ("RepoUserToken", true, &["repo_id", "email", "token"]),
    ("RepoValidSince", true, &["repo_id", "timestamp"]),
    ("RoleDownloadRateLimit", false, &["role", "download_limit"]),
    ("RoleQuota", true, &["role", "quota"]),
    ("RoleUploadRateLimit", false, &["role", "upload_limit"]),
    ("SeafileConf", true, &["cfg_group", "cfg_key", "value", "property"]),
    ("SharedRepo", true, &["repo_id", "from_email", "to_email", "permission"]),
    ("SystemInfo", true, &["info_key", "info_value"]),
    ("UserDownloadRateLimit", false, &["user", "download_limit"]),
    ("UserQuota", true, &["user", "quota"]),
    ("UserShareQuota", true, &["user", "quota"]),
    ("UserUploadRateLimit", false, &["user", "upload_limit"]),
    ("VirtualRepo", true, &["repo_id", "origin_repo", "path", "base_commit"]),
    ("WebAP", true, &["repo_id", "access_property"]),
    ("WebUploadTempFiles", true, &["repo_id", "file_path", "tmp_file_path"]),
];

/// What a database holds: table → columns, read with the database's own catalogue.
type Columns = BTreeMap<String, BTreeSet<String>>;

fn expected_columns(kind: DbKind) -> Columns {
    let mut out = Columns::new();
    for (table, on_sqlite, columns) in SEAFILE_TABLES {
        if kind == DbKind::Sqlite && !on_sqlite {
            continue;
        }
        let table = match kind {
            DbKind::Postgres => table.to_lowercase(),
            _ => table.to_string(),
        };
        let mut set: BTreeSet<String> = columns.iter().map(|c| c.to_string()).collect();
        if kind != DbKind::Sqlite {
            set.insert("id".into());
        }
        out.insert(table, set);
    }
    out
}

async fn catalogue(url: &str, kind: DbKind) -> Columns {
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap();
    let query = match kind {
        DbKind::MySql => "SELECT CAST(table_name AS CHAR) AS t, CAST(column_name AS CHAR) AS c FROM information_schema.columns WHERE table_schema = DATABASE()",
        DbKind::Postgres => "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns WHERE table_schema = 'public'",
        DbKind::Sqlite => "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
    };
    let mut out = Columns::new();
    for row in sqlx::query(query).fetch_all(&pool).await.unwrap() {
        let (t, c): (String, String) = (row.try_get("t").unwrap(), row.try_get("c").unwrap());
        out.entry(t).or_default().insert(c);
    }
    pool.close().await;
    out
}

async fn run_sql(url: &str, sql: &str) {
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap();
    for stmt in sql.split(";\n") {
        let stmt: String = stmt
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if !stmt.trim().is_empty() {
            pool.execute(stmt.as_str()).await.unwrap();
        }
    }
    pool.close().await;
}

fn old_core_schema(kind: DbKind) -> &'static str {
    match kind {
        DbKind::MySql => include_str!("data/old-core-schema/mysql.sql"),
        DbKind::Postgres => include_str!("data/old-core-schema/pgsql.sql"),
        DbKind::Sqlite => include_str!("data/old-core-schema/sqlite.sql"),
    }
}

#[tokio::test]
async fn an_empty_database_gets_exactly_seafiles_tables_and_columns() {
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let db = test_db.connect().await;
        let report = db.ensure_seafile_schema().await.unwrap();
        let expected = expected_columns(kind);
        assert_eq!(report.created_tables.len(), expected.len(), "{kind:?}");
        assert!(
            report.added_columns.is_empty() && report.missing_key_columns.is_empty(),
            "{kind:?}: {report:?}"
        );
        assert_eq!(catalogue(&test_db.url, kind).await, expected, "{kind:?}");
        // What the crate reads back is the same catalogue.
        let own: Columns = db
            .table_columns()
            .await
            .unwrap()
            .into_iter()
            .map(|(t, c)| (t, c.into_iter().collect()))
            .collect();
        assert_eq!(own, expected, "{kind:?}");
        assert!(
            db.ensure_seafile_schema().await.unwrap().is_empty(),
            "{kind:?}: idempotent"
        );
        assert_eq!(catalogue(&test_db.url, kind).await, expected, "{kind:?}: unchanged");
    }
}

#[tokio::test]
async fn the_old_subset_is_upgraded_by_adding_columns_and_keeps_its_rows() {
    let r = repo("11111111-2222-4333-8444-555555555555");
    let record = sample(r, oid(&"1".repeat(40)));
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        run_sql(&test_db.url, old_core_schema(kind)).await;
        let db = test_db.connect().await;
        db.write_repo(&record).await.unwrap();
        let old = catalogue(&test_db.url, kind).await;
        assert_eq!(old.len(), 8, "{kind:?}");

        let report = db.ensure_seafile_schema().await.unwrap();
        let repo_info = if kind == DbKind::Postgres {
            "repoinfo"
        } else {
            "RepoInfo"
        };
        assert_eq!(
            report.added_columns,
            [
                (repo_info.to_string(), "type".to_string()),
                (repo_info.to_string(), "archive_status".to_string())
            ],
            "{kind:?}"
        );
        let mut expected = expected_columns(kind);
        assert_eq!(report.created_tables.len(), expected.len() - 8, "{kind:?}");
        if kind == DbKind::MySql {
            // Never dropped: the old MySQL RepoInfo had two columns of its own.
            let info = expected.get_mut("RepoInfo").unwrap();
            info.insert("enc_version".into());
            info.insert("salt".into());
        }
        assert_eq!(catalogue(&test_db.url, kind).await, expected, "{kind:?}");
        assert_eq!(
            db.repo_record(&r).await.unwrap().as_ref(),
            Some(&record),
            "{kind:?}: the row is kept"
        );
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&test_db.url)
            .await
            .unwrap();
        let row = sqlx::query("SELECT type, archive_status FROM RepoInfo")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<Option<String>, _>("type").unwrap(), None, "{kind:?}");
        assert_eq!(
            row.try_get::<Option<String>, _>("archive_status").unwrap(),
            None,
            "{kind:?}"
        );
        // The new columns take values.
        sqlx::query("UPDATE RepoInfo SET type = 'wiki', archive_status = 'archived'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        assert!(
            db.ensure_seafile_schema().await.unwrap().is_empty(),
            "{kind:?}: idempotent"
        );
        assert_eq!(catalogue(&test_db.url, kind).await, expected, "{kind:?}: unchanged");
        assert_eq!(db.repo_record(&r).await.unwrap().as_ref(), Some(&record), "{kind:?}");
    }
}

#[tokio::test]
async fn a_database_written_by_seaf_server_needs_only_archive_status() {
    let Some(fx) = Fixture::unpack() else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("seafile.db");
    std::fs::copy(fx.data_dir().join("seafile.db"), &copy).unwrap();
    let url = format!("sqlite://{}", copy.display());
    let db = SeafileDb::connect(&url).await.unwrap();
    let before = db.heads().await.unwrap();
    let report = db.ensure_seafile_schema().await.unwrap();
    assert!(report.created_tables.is_empty(), "{report:?}");
    assert_eq!(
        report.added_columns,
        [("RepoInfo".to_string(), "archive_status".to_string())]
    );
    assert_eq!(catalogue(&url, DbKind::Sqlite).await, expected_columns(DbKind::Sqlite));
    assert_eq!(db.heads().await.unwrap(), before);
}

/// Seafile 13's rows of `r` at `head` beyond the core record, and a column no release has yet.
fn seafile13_sql(r: RepoId, head: ObjectId) -> String {
    format!(
        "ALTER TABLE RepoInfo ADD COLUMN tomorrow VARCHAR(32);\n\
         UPDATE RepoInfo SET type = 'wiki', archive_status = 'archived', tomorrow = 'x' WHERE repo_id = '{r}';\n\
         INSERT INTO RepoSize (repo_id, size, head_id) VALUES ('{r}', 12345678901, '{head}');\n\
         INSERT INTO RepoFileCount (repo_id, file_count) VALUES ('{r}', 42);\n\
         INSERT INTO RepoHistoryLimit (repo_id, days) VALUES ('{r}', -1);\n\
         INSERT INTO RepoValidSince (repo_id, timestamp) VALUES ('{r}', 1795311000);\n\
         INSERT INTO SystemInfo (info_key, info_value) VALUES ('default_repo_id', '{r}');\n\
         INSERT INTO SystemInfo (info_key, info_value) VALUES ('other_key', 'kept');\n"
    )
}

/// The rows as the primary sent them, and `rows` projected on the primary's columns.
fn projected(rows: &LibraryRows, primary: &LibraryRows) -> Vec<(String, Vec<Vec<String>>)> {
    support::seafile13::comparable(rows, primary)
}

/// Writes `rows` into `db` as the backup does: missing columns added first, then one
/// transaction.
async fn write_as_backup(db: &SeafileDb, rows: &LibraryRows) -> Vec<library_rows::TableWrite> {
    let missing = library_rows::missing_columns(rows, &db.catalogue().await.unwrap()).unwrap();
    db.add_columns(&missing).await.unwrap();
    let writes = library_rows::plan_writes(rows, &db.catalogue().await.unwrap()).unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.write_library(&rows.repo_id, &writes).await.unwrap();
    tx.commit().await.unwrap();
    writes
}

#[tokio::test]
async fn a_librarys_rows_travel_with_every_column_between_every_kind() {
    let r = repo("11111111-2222-4333-8444-555555555555");
    let h = oid(&"1".repeat(40));
    for source_kind in ALL_KINDS {
        let Some(source_db) = TestDb::create(source_kind).await else {
            continue;
        };
        let source = source_db.connect().await;
        source.create_core_tables().await.unwrap();
        source.write_repo(&sample(r, h)).await.unwrap();
        run_sql(&source_db.url, &seafile13_sql(r, h)).await;
        let rows = source.library_rows(&r).await.unwrap();
        assert_eq!(rows.state().unwrap(), LibraryState::Live { head: h }, "{source_kind:?}");
        let info = &rows.table("RepoInfo").unwrap().rows[0];
        assert_eq!(info["type"], Value::Text("wiki".into()), "{source_kind:?}");
        assert_eq!(info["tomorrow"], Value::Text("x".into()), "{source_kind:?}");
        assert!(!info.contains_key("id"), "{source_kind:?}: the surrogate id stays home");
        assert_eq!(
            rows.table("RepoSize").unwrap().rows[0]["size"],
            Value::Int(12_345_678_901),
            "{source_kind:?}"
        );
        assert_eq!(rows.table("SystemInfo").unwrap().rows.len(), 1, "only the template row");

        for target_kind in ALL_KINDS {
            let Some(target_db) = TestDb::create(target_kind).await else {
                continue;
            };
            let target = target_db.connect().await;
            target.ensure_seafile_schema().await.unwrap();
            let writes = write_as_backup(&target, &rows).await;
            let back = target.library_rows(&r).await.unwrap();
            let what = format!("{source_kind:?} -> {target_kind:?}");
            assert_eq!(projected(&back, &rows), projected(&rows, &rows), "{what}");
            assert!(
                !library_rows::differs(&writes, &target.current_rows(&r, &writes).await.unwrap()),
                "{what}: nothing left to write"
            );
            assert_eq!(
                target.repo_record(&r).await.unwrap(),
                source.repo_record(&r).await.unwrap(),
                "{what}"
            );
            // Again: replaced, not doubled.
            write_as_backup(&target, &rows).await;
            assert_eq!(
                projected(&target.library_rows(&r).await.unwrap(), &rows),
                projected(&rows, &rows)
            );

            // Moved to the trash on the primary: the same write moves it on the backup.
            let mut trashed = LibraryRows::new(r);
            for (table, t) in &rows.tables {
                let keep = matches!(table.as_str(), "RepoFileCount" | "SystemInfo");
                let rows = if keep { t.rows.clone() } else { Vec::new() };
                trashed.tables.insert(
                    table.clone(),
                    library_rows::TableRows {
                        columns: t.columns.clone(),
                        rows,
                    },
                );
            }
            let trash_row: library_rows::Row = [
                ("repo_id", Value::Text(r.to_string())),
                ("repo_name", Value::Text("gone".into())),
                ("head_id", Value::Text(h.to_hex())),
                ("owner_id", Value::Text("a@example.com".into())),
                ("size", Value::Int(12_345_678_901)),
                ("org_id", Value::Int(-1)),
                ("del_time", Value::Int(1_795_400_000)),
            ]
            .into_iter()
            .map(|(c, v)| (c.to_string(), v))
            .collect();
            trashed.tables.get_mut("RepoTrash").unwrap().rows.push(trash_row);
            assert_eq!(trashed.state().unwrap(), LibraryState::Trashed { head: h });
            write_as_backup(&target, &trashed).await;
            assert_eq!(target.head(&r).await.unwrap(), None, "{what}");
            let trash = target.trashed_repos().await.unwrap();
            assert_eq!(trash.len(), 1, "{what}");
            assert_eq!(
                (trash[0].head_id, trash[0].size),
                (Some(h), Some(12_345_678_901)),
                "{what}"
            );
            let template = target.library_rows(&r).await.unwrap();
            assert_eq!(
                template.table("SystemInfo").unwrap().rows.len(),
                1,
                "{what}: the template row stays"
            );
        }
    }
}
