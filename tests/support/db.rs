//! Fresh, throw-away databases on the machine's real servers.
//!
//! MariaDB at 127.0.0.1:3306 (root, no password) and PostgreSQL at 127.0.0.1:5432 (trust) by
//! default; override with SEAF_TEST_MYSQL_URL / SEAF_TEST_POSTGRES_URL (a server URL without a
//! database name). Each [`TestDb`] is a new database, dropped when the value goes away.

use seaf_seafile::{DbKind, SeafileDb, TrashedRepo};
use sqlx::any::AnyPoolOptions;
use sqlx::Executor;

pub const ALL_KINDS: [DbKind; 3] = [DbKind::MySql, DbKind::Postgres, DbKind::Sqlite];

fn server_url(kind: DbKind) -> String {
    match kind {
        DbKind::MySql => std::env::var("SEAF_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        DbKind::Postgres => {
            std::env::var("SEAF_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        }
        DbKind::Sqlite => String::new(),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub kind: DbKind,
    pub url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new empty database of `kind`; `None` (or a CI failure) when its server is down.
    pub async fn create(kind: DbKind) -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let name = format!("seafbk_{}", uuid::Uuid::new_v4().simple());
        match kind {
            DbKind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("seafile.db").display());
                Some(TestDb {
                    kind,
                    url,
                    name,
                    _dir: Some(dir),
                })
            }
            DbKind::MySql | DbKind::Postgres => {
                let server = server_url(kind);
                let admin_url = match kind {
                    DbKind::MySql => format!("{server}/mysql"),
                    _ => format!("{server}/postgres"),
                };
                let admin = match AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    .connect(&admin_url)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => return super::missing(&format!("{kind:?} server at {server} ({e})")),
                };
                let create = match kind {
                    DbKind::MySql => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
                    _ => format!("CREATE DATABASE {name} ENCODING 'UTF8'"),
                };
                admin.execute(create.as_str()).await.expect("create test database");
                admin.close().await;
                Some(TestDb {
                    kind,
                    url: format!("{server}/{name}"),
                    name,
                    _dir: None,
                })
            }
        }
    }

    pub async fn connect(&self) -> SeafileDb {
        SeafileDb::connect(&self.url).await.expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kind == DbKind::Sqlite {
            return;
        }
        // Best effort, on a thread of its own: Drop may run inside a runtime.
        let (kind, name) = (self.kind, self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let server = server_url(kind);
                let (admin_url, drop) = match kind {
                    DbKind::MySql => (format!("{server}/mysql"), format!("DROP DATABASE IF EXISTS {name}")),
                    _ => (
                        format!("{server}/postgres"),
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ),
                };
                let admin = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url)
                    .await
                    .ok()?;
                admin.execute(drop.as_str()).await.ok()?;
                admin.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// Copies the core rows of every library from `from` into `to` (tables created on `to`).
pub async fn copy_core_rows(from: &SeafileDb, to: &SeafileDb) {
    to.create_core_tables().await.expect("create core tables");
    for (repo, _) in from.heads().await.expect("heads") {
        let record = from.repo_record(&repo).await.expect("record").expect("exists");
        to.write_repo(&record).await.expect("write record");
    }
}

/// Moves a library to the trash as seaf-server's `seaf_repo_manager_del_repo` does: its live
/// rows removed and its `RepoTrash` row written, in one transaction.
pub async fn move_to_trash(db: &SeafileDb, trash: &TrashedRepo) {
    let mut tx = db.begin().await.unwrap();
    tx.remove_repo_rows(&trash.repo_id).await.unwrap();
    tx.write_trash(trash).await.unwrap();
    tx.commit().await.unwrap();
}
