//! Seafile's seafile database on MySQL/MariaDB, PostgreSQL or SQLite: the connection, heads,
//! and the core rows of a library in a fixed record ([`RepoRecord`]: `Repo`, `Branch`,
//! `RepoHead`, `RepoInfo`, `RepoOwner`, `VirtualRepo`, `RepoStorageId`; `RepoTrash` as
//! [`TrashedRepo`]), which test data generators and older backups use. What the backup carries
//! is every column of every table describing a library: [`crate::library_rows`]. The schema
//! itself (every table of Seafile's `seafile.sql`, created and upgraded) is [`crate::schema`].
//!
//! One type, [`SeafileDb`], hides which database is behind the URL; its API speaks in this
//! crate's types, so nothing above it sees sqlx. Table and column names are written exactly as
//! Seafile creates them (MySQL table names are case-sensitive on Linux; PostgreSQL folds the
//! unquoted names to lower case, as Seafile's own schema does).
//!
//! A library's encryption parameters live where Seafile keeps them, in its commit objects
//! (`encrypted`, `enc_version`, `magic`, `key`, `salt`, `pwd_hash`…), which are copied byte for
//! byte; `RepoInfo` holds only `is_encrypted`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Once;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::id::{ObjectId, RepoId};

/// The branch Seafile keeps a library's head in.
pub const MASTER: &str = "master";

/// Which database server a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    MySql,
    Postgres,
    Sqlite,
}

impl DbKind {
    pub fn from_url(url: &str) -> Result<DbKind, DbError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "mysql" | "mariadb" => Ok(DbKind::MySql),
            "postgres" | "postgresql" => Ok(DbKind::Postgres),
            "sqlite" => Ok(DbKind::Sqlite),
            _ => Err(DbError::UnsupportedUrl(redact(url))),
        }
    }

    /// What ends a `SELECT` that must read the newest committed row and lock it until the
    /// transaction ends: `FOR UPDATE` on MySQL and PostgreSQL (whose plain reads in a
    /// transaction may see an older snapshot); nothing on SQLite, where a transaction that has
    /// written holds the database's only write lock and reads the newest data.
    pub fn lock_clause(self) -> &'static str {
        match self {
            DbKind::MySql | DbKind::Postgres => " FOR UPDATE",
            DbKind::Sqlite => "",
        }
    }

    /// Seafile's whole seafile schema for this kind of database (`connectors/seafile/sql/`).
    pub(crate) fn seafile_schema(self) -> &'static str {
        match self {
            DbKind::MySql => include_str!("../sql/mysql/seafile.sql"),
            DbKind::Postgres => include_str!("../sql/pgsql/seafile.sql"),
            DbKind::Sqlite => include_str!("../sql/sqlite/seafile.sql"),
        }
    }
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use mysql://user:password@host:3306/seafile_db, postgres://user@host:5432/seafile_db or sqlite:///path/to/seafile.db")]
    UnsupportedUrl(String),
    #[error("cannot connect to the seafile database at {url}: {source} (check that the server runs and that the URL, user and password are right)")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("seafile database query failed ({what}): {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the seafile database holds a malformed value in {table}.{column}: {value:?}")]
    BadValue {
        table: &'static str,
        column: &'static str,
        value: String,
    },
}

impl DbError {
    /// The database could not be reached or went away mid-statement (as opposed to refusing
    /// the statement): worth trying again once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Connect { .. } => true,
            DbError::Query { source, .. } => matches!(
                source,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
            ),
            _ => false,
        }
    }

    /// A deadlock, lock timeout or busy database: the same transaction may succeed if repeated.
    pub fn is_retryable(&self) -> bool {
        let DbError::Query {
            source: sqlx::Error::Database(e),
            ..
        } = self
        else {
            return false;
        };
        let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
        // MySQL 1213 deadlock / 1205 lock wait timeout (SQLSTATE 40001, HY000); PostgreSQL 40001
        // serialization failure / 40P01 deadlock; SQLite 5 busy / 6 locked.
        matches!(code.as_str(), "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "517")
            || e.message().contains("Deadlock")
            || e.message().contains("database is locked")
    }
}

/// Hides the password in a database URL.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `RepoInfo`: what the web interface shows of a library.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoInfo {
    pub name: String,
    pub update_time: Option<i64>,
    pub version: Option<i64>,
    pub is_encrypted: Option<i64>,
    pub last_modifier: Option<String>,
    pub status: Option<i64>,
}

/// `VirtualRepo`: a shared sub-folder of another library.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VirtualRepo {
    pub origin_repo: RepoId,
    pub path: String,
    pub base_commit: Option<ObjectId>,
}

/// `RepoTrash`: a deleted library, restorable until garbage collection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrashedRepo {
    pub repo_id: RepoId,
    pub repo_name: Option<String>,
    pub head_id: Option<ObjectId>,
    pub owner_id: Option<String>,
    pub size: Option<i64>,
    pub org_id: Option<i64>,
    pub del_time: Option<i64>,
}

/// Everything seaf-backup carries for one live library.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoRecord {
    pub repo_id: RepoId,
    pub head: ObjectId,
    pub info: Option<RepoInfo>,
    pub owner: Option<String>,
    pub virtual_repo: Option<VirtualRepo>,
    pub storage_id: Option<String>,
}

/// A connection pool to a seafile database.
#[derive(Debug, Clone)]
pub struct SeafileDb {
    pool: AnyPool,
    kind: DbKind,
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

pub(crate) fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

/// CHAR columns are read through `TRIM(col) AS col`: PostgreSQL pads them, and sqlx's Any driver
/// cannot decode PostgreSQL's `bpchar` type, but it can decode TRIM's `text`.
fn text(row: &AnyRow, col: &str) -> Result<String, sqlx::Error> {
    opt_text(row, col)?.ok_or_else(|| sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: "unexpected NULL".into(),
    })
}

/// MySQL reports TEXT columns with a binary collation as BLOB, so fall back to bytes.
fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    let value = match row.try_get::<Option<String>, _>(col) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(col)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    Ok(value.map(|s| s.trim_end().to_string()))
}

fn parse_repo(table: &'static str, column: &'static str, s: &str) -> Result<RepoId, DbError> {
    RepoId::parse(s).map_err(|_| DbError::BadValue {
        table,
        column,
        value: s.to_string(),
    })
}

fn parse_object(table: &'static str, column: &'static str, s: &str) -> Result<ObjectId, DbError> {
    ObjectId::parse(s).map_err(|_| DbError::BadValue {
        table,
        column,
        value: s.to_string(),
    })
}

impl SeafileDb {
    /// Connects to `url` (`mysql://`, `postgres://` or `sqlite://`).
    pub async fn connect(url: &str) -> Result<SeafileDb, DbError> {
        Self::connect_with(url, 4).await
    }

    pub async fn connect_with(url: &str, max_connections: u32) -> Result<SeafileDb, DbError> {
        install_drivers();
        let kind = DbKind::from_url(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact(url),
                source,
            })?;
        Ok(SeafileDb { pool, kind })
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Rewrites `?` placeholders to `$1, $2, …` for PostgreSQL.
    pub(crate) fn sql<'a>(&self, query: &'a str) -> Cow<'a, str> {
        if self.kind != DbKind::Postgres {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len() + 8);
        let mut n = 0;
        for c in query.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// Makes this a complete Seafile database: every table of Seafile's `seafile.sql` created
    /// where missing, missing columns added, nothing dropped
    /// ([`ensure_seafile_schema`](Self::ensure_seafile_schema), which also says what changed).
    pub async fn create_core_tables(&self) -> Result<(), DbError> {
        self.ensure_seafile_schema().await.map(drop)
    }

    /// Runs every statement of a schema file (`;` at a line end ends one; `--` comments).
    pub async fn run_schema(&self, schema: &str, what: &'static str) -> Result<(), DbError> {
        for stmt in split_statements(schema) {
            sqlx::query(stmt).execute(&self.pool).await.map_err(q(what))?;
        }
        Ok(())
    }

    /// Runs one statement; returns the rows affected. `?` placeholders work on every database.
    ///
    /// This and the `fetch_*` functions are the statement API for tables beside Seafile's in the
    /// same database (seaf-backup's sync queue): same pool, same placeholder rewriting.
    pub async fn execute(&self, what: &'static str, query: &str, binds: &[Bind<'_>]) -> Result<u64, DbError> {
        let sql = self.sql(query);
        let result = bind_all(sqlx::query(&sql), binds)
            .execute(&self.pool)
            .await
            .map_err(q(what))?;
        Ok(result.rows_affected())
    }

    /// Runs a query and reads one text column of every row.
    pub async fn fetch_texts(
        &self,
        what: &'static str,
        query: &str,
        binds: &[Bind<'_>],
        column: &str,
    ) -> Result<Vec<String>, DbError> {
        let rows = self.fetch_rows(what, query, binds, &[column]).await?;
        Ok(rows.into_iter().filter_map(|mut r| r.remove(0)).collect())
    }

    /// Runs a query and reads the named columns of every row as text (integers included).
    pub async fn fetch_rows(
        &self,
        what: &'static str,
        query: &str,
        binds: &[Bind<'_>],
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let sql = self.sql(query);
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.pool)
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|row| row_texts(row, columns).map_err(q(what)))
            .collect()
    }

    /// The head (`master` branch) of every library.
    pub async fn heads(&self) -> Result<Vec<(RepoId, ObjectId)>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT TRIM(repo_id) AS repo_id, TRIM(commit_id) AS commit_id FROM Branch WHERE name = ? ORDER BY repo_id",
        ))
        .bind(MASTER)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading Branch"))?;
        rows.iter().map(branch_row).collect()
    }

    /// One page of heads, ordered by library id, after `after` (exclusive). Pages keep each
    /// query short on servers with 100k libraries.
    pub async fn heads_page(&self, after: Option<&RepoId>, limit: u32) -> Result<Vec<(RepoId, ObjectId)>, DbError> {
        let query = self.sql(
            "SELECT TRIM(repo_id) AS repo_id, TRIM(commit_id) AS commit_id FROM Branch WHERE name = ? AND repo_id > ? ORDER BY repo_id LIMIT ?",
        );
        let rows = sqlx::query(&query)
            .bind(MASTER)
            .bind(after.map(|r| r.as_str()).unwrap_or("").to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading Branch"))?;
        rows.iter().map(branch_row).collect()
    }

    /// The head of one library, if it exists.
    pub async fn head(&self, repo: &RepoId) -> Result<Option<ObjectId>, DbError> {
        let row =
            sqlx::query(&self.sql("SELECT TRIM(commit_id) AS commit_id FROM Branch WHERE name = ? AND repo_id = ?"))
                .bind(MASTER)
                .bind(repo.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(q("reading Branch"))?;
        match row {
            Some(row) => {
                let commit = text(&row, "commit_id").map_err(q("reading Branch"))?;
                Ok(Some(parse_object("Branch", "commit_id", &commit)?))
            }
            None => Ok(None),
        }
    }

    /// Every virtual library and its origin, so callers can find where its objects are stored.
    pub async fn virtual_origins(&self) -> Result<HashMap<RepoId, RepoId>, DbError> {
        let rows = sqlx::query("SELECT TRIM(repo_id) AS repo_id, TRIM(origin_repo) AS origin_repo FROM VirtualRepo")
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading VirtualRepo"))?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            let repo = text(row, "repo_id").map_err(q("reading VirtualRepo"))?;
            let origin = text(row, "origin_repo").map_err(q("reading VirtualRepo"))?;
            out.insert(
                parse_repo("VirtualRepo", "repo_id", &repo)?,
                parse_repo("VirtualRepo", "origin_repo", &origin)?,
            );
        }
        Ok(out)
    }

    /// The full record of one library (head and metadata rows), if it exists.
    pub async fn repo_record(&self, repo: &RepoId) -> Result<Option<RepoRecord>, DbError> {
        let Some(head) = self.head(repo).await? else {
            return Ok(None);
        };
        let id = repo.as_str();
        let info = sqlx::query(&self.sql(
            "SELECT name, update_time, version, is_encrypted, last_modifier, status FROM RepoInfo WHERE repo_id = ?",
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("reading RepoInfo"))?
        .map(|row| -> Result<RepoInfo, sqlx::Error> {
            Ok(RepoInfo {
                name: text(&row, "name")?,
                update_time: get_i64(&row, "update_time")?,
                version: get_i64(&row, "version")?,
                is_encrypted: get_i64(&row, "is_encrypted")?,
                last_modifier: opt_text(&row, "last_modifier")?,
                status: get_i64(&row, "status")?,
            })
        })
        .transpose()
        .map_err(q("reading RepoInfo"))?;

        let owner = sqlx::query(&self.sql("SELECT owner_id FROM RepoOwner WHERE repo_id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading RepoOwner"))?
            .map(|row| opt_text(&row, "owner_id"))
            .transpose()
            .map_err(q("reading RepoOwner"))?
            .flatten();

        let virtual_repo = match sqlx::query(&self.sql(
            "SELECT TRIM(origin_repo) AS origin_repo, path, TRIM(base_commit) AS base_commit FROM VirtualRepo WHERE repo_id = ?",
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("reading VirtualRepo"))?
        {
            Some(row) => {
                let origin = text(&row, "origin_repo").map_err(q("reading VirtualRepo"))?;
                let base = opt_text(&row, "base_commit").map_err(q("reading VirtualRepo"))?;
                Some(VirtualRepo {
                    origin_repo: parse_repo("VirtualRepo", "origin_repo", &origin)?,
                    path: opt_text(&row, "path").map_err(q("reading VirtualRepo"))?.unwrap_or_default(),
                    base_commit: base
                        .filter(|b| !b.is_empty())
                        .map(|b| parse_object("VirtualRepo", "base_commit", &b))
                        .transpose()?,
                })
            }
            None => None,
        };

        let storage_id = sqlx::query(&self.sql("SELECT storage_id FROM RepoStorageId WHERE repo_id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading RepoStorageId"))?
            .map(|row| text(&row, "storage_id"))
            .transpose()
            .map_err(q("reading RepoStorageId"))?;

        Ok(Some(RepoRecord {
            repo_id: *repo,
            head,
            info,
            owner,
            virtual_repo,
            storage_id,
        }))
    }

    /// Every row of `RepoTrash`.
    pub async fn trashed_repos(&self) -> Result<Vec<TrashedRepo>, DbError> {
        let rows = sqlx::query(
            "SELECT TRIM(repo_id) AS repo_id, repo_name, TRIM(head_id) AS head_id, owner_id, size, org_id, del_time FROM RepoTrash ORDER BY repo_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading RepoTrash"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let read = || -> Result<_, sqlx::Error> {
                Ok((
                    text(row, "repo_id")?,
                    opt_text(row, "repo_name")?,
                    opt_text(row, "head_id")?,
                    opt_text(row, "owner_id")?,
                    get_i64(row, "size")?,
                    get_i64(row, "org_id")?,
                    get_i64(row, "del_time")?,
                ))
            };
            let (repo, repo_name, head, owner_id, size, org_id, del_time) = read().map_err(q("reading RepoTrash"))?;
            out.push(TrashedRepo {
                repo_id: parse_repo("RepoTrash", "repo_id", &repo)?,
                repo_name,
                head_id: head
                    .filter(|h| !h.is_empty())
                    .map(|h| parse_object("RepoTrash", "head_id", &h))
                    .transpose()?,
                owner_id,
                size,
                org_id,
                del_time,
            });
        }
        Ok(out)
    }

    /// Starts a transaction for writing library rows.
    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a deferred transaction that reads first and writes later cannot wait for the lock when
    /// another connection wrote meanwhile, and fails with "database is locked" at once, while
    /// an immediate one waits for the busy timeout like a single statement does.
    pub async fn begin(&self) -> Result<DbTransaction, DbError> {
        let tx = match self.kind {
            DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DbKind::MySql | DbKind::Postgres => self.pool.begin().await,
        }
        .map_err(q("starting a transaction"))?;
        Ok(DbTransaction { tx, db: self.clone() })
    }

    /// Writes one library's rows in one transaction.
    pub async fn write_repo(&self, record: &RepoRecord) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        tx.write_repo(record).await?;
        tx.commit().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A `(repo_id, commit_id)` row of `Branch`.
fn branch_row(row: &AnyRow) -> Result<(RepoId, ObjectId), DbError> {
    let repo = text(row, "repo_id").map_err(q("reading Branch"))?;
    let commit = text(row, "commit_id").map_err(q("reading Branch"))?;
    Ok((
        parse_repo("Branch", "repo_id", &repo)?,
        parse_object("Branch", "commit_id", &commit)?,
    ))
}

/// Integers come back as i32 or i64 depending on the column type and database.
/// The named columns of a row as text (integers included).
fn row_texts(row: &AnyRow, columns: &[&str]) -> Result<Vec<Option<String>>, sqlx::Error> {
    columns
        .iter()
        .map(|c| match get_i64(row, c) {
            Ok(Some(i)) => Ok(Some(i.to_string())),
            _ => opt_text(row, c),
        })
        .collect()
}

pub(crate) fn get_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    match row.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<i32>, _>(col)?.map(i64::from)),
    }
}

/// A transaction on the seafile database. Dropping it without [`commit`](Self::commit) rolls back.
pub struct DbTransaction {
    tx: Transaction<'static, Any>,
    db: SeafileDb,
}

impl DbTransaction {
    pub(crate) fn kind(&self) -> DbKind {
        self.db.kind
    }

    pub(crate) async fn exec(&mut self, what: &'static str, query: &str, binds: &[Bind<'_>]) -> Result<(), DbError> {
        self.execute(what, query, binds).await.map(drop)
    }

    /// Runs one statement in the transaction; returns the rows affected.
    pub async fn execute(&mut self, what: &'static str, query: &str, binds: &[Bind<'_>]) -> Result<u64, DbError> {
        let sql = self.db.sql(query);
        let result = bind_all(sqlx::query(&sql), binds)
            .execute(&mut *self.tx)
            .await
            .map_err(q(what))?;
        Ok(result.rows_affected())
    }

    /// [`SeafileDb::fetch_rows`] in the transaction. On MySQL and PostgreSQL, end the query
    /// with [`DbKind::lock_clause`] to read the newest committed row and lock it.
    pub async fn fetch_rows(
        &mut self,
        what: &'static str,
        query: &str,
        binds: &[Bind<'_>],
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let sql = self.db.sql(query);
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|row| row_texts(row, columns).map_err(q(what)))
            .collect()
    }

    /// Removes a library's live rows (Repo, Branch, RepoHead, RepoInfo, RepoOwner, VirtualRepo,
    /// RepoStorageId), as Seafile does when it moves a library to the trash.
    pub async fn remove_repo_rows(&mut self, repo: &RepoId) -> Result<(), DbError> {
        self.delete_repo_rows(repo).await
    }

    /// Deletes one library's live rows.
    pub(crate) async fn delete_repo_rows(&mut self, repo: &RepoId) -> Result<(), DbError> {
        let id = repo.as_str();
        for table in [
            "Repo",
            "RepoHead",
            "RepoInfo",
            "RepoOwner",
            "VirtualRepo",
            "RepoStorageId",
        ] {
            let sql = format!("DELETE FROM {table} WHERE repo_id = ?");
            self.exec("removing library rows", &sql, &[Bind::Text(id)]).await?;
        }
        self.exec(
            "removing Branch",
            "DELETE FROM Branch WHERE repo_id = ? AND name = ?",
            &[Bind::Text(id), Bind::Text(MASTER)],
        )
        .await
    }

    /// Replaces all rows of one library: Repo, Branch (master), RepoHead, RepoInfo, RepoOwner,
    /// VirtualRepo, RepoStorageId. Rows the record leaves out are removed. Delete-then-insert
    /// works on every schema variant (SQLite's RepoStorageId has no unique key to upsert on).
    pub async fn write_repo(&mut self, r: &RepoRecord) -> Result<(), DbError> {
        use Bind::*;
        let id = r.repo_id.as_str();
        let head = r.head.to_hex();
        self.delete_repo_rows(&r.repo_id).await?;
        self.exec("writing Repo", "INSERT INTO Repo (repo_id) VALUES (?)", &[Text(id)])
            .await?;
        self.exec(
            "writing Branch",
            "INSERT INTO Branch (name, repo_id, commit_id) VALUES (?, ?, ?)",
            &[Text(MASTER), Text(id), Text(&head)],
        )
        .await?;
        self.exec(
            "writing RepoHead",
            "INSERT INTO RepoHead (repo_id, branch_name) VALUES (?, ?)",
            &[Text(id), Text(MASTER)],
        )
        .await?;
        if let Some(info) = &r.info {
            self.exec(
                "writing RepoInfo",
                "INSERT INTO RepoInfo (repo_id, name, update_time, version, is_encrypted, last_modifier, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    Text(id),
                    Text(&info.name),
                    OptInt(info.update_time),
                    OptInt(info.version),
                    OptInt(info.is_encrypted),
                    OptText(info.last_modifier.as_deref()),
                    OptInt(info.status),
                ],
            )
            .await?;
        }
        if let Some(owner) = &r.owner {
            self.exec(
                "writing RepoOwner",
                "INSERT INTO RepoOwner (repo_id, owner_id) VALUES (?, ?)",
                &[Text(id), Text(owner)],
            )
            .await?;
        }
        if let Some(v) = &r.virtual_repo {
            let base = v.base_commit.map(|b| b.to_hex());
            self.exec(
                "writing VirtualRepo",
                "INSERT INTO VirtualRepo (repo_id, origin_repo, path, base_commit) VALUES (?, ?, ?, ?)",
                &[
                    Text(id),
                    Text(v.origin_repo.as_str()),
                    Text(&v.path),
                    OptText(base.as_deref()),
                ],
            )
            .await?;
        }
        if let Some(storage) = &r.storage_id {
            self.exec(
                "writing RepoStorageId",
                "INSERT INTO RepoStorageId (repo_id, storage_id) VALUES (?, ?)",
                &[Text(id), Text(storage)],
            )
            .await?;
        }
        Ok(())
    }

    /// Records a deleted library in `RepoTrash` (replacing an older row for it).
    pub async fn write_trash(&mut self, t: &TrashedRepo) -> Result<(), DbError> {
        use Bind::*;
        let id = t.repo_id.as_str();
        let head = t.head_id.map(|h| h.to_hex());
        self.exec(
            "replacing RepoTrash",
            "DELETE FROM RepoTrash WHERE repo_id = ?",
            &[Text(id)],
        )
        .await?;
        self.exec(
            "writing RepoTrash",
            "INSERT INTO RepoTrash (repo_id, repo_name, head_id, owner_id, size, org_id, del_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                Text(id),
                OptText(t.repo_name.as_deref()),
                OptText(head.as_deref()),
                OptText(t.owner_id.as_deref()),
                OptInt(t.size),
                OptInt(t.org_id),
                OptInt(t.del_time),
            ],
        )
        .await
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await.map_err(q("committing"))
    }
}

/// A value bound to a `?` placeholder.
pub enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &[Bind<'_>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s.to_string()),
            Bind::OptText(s) => query.bind(s.map(str::to_string)),
            Bind::Int(i) => query.bind(*i),
            Bind::OptInt(i) => query.bind(*i),
        };
    }
    query
}

/// Splits a schema file into statements (`;` at a line end), dropping comments.
pub(crate) fn split_statements(schema: &str) -> impl Iterator<Item = &str> {
    schema
        .split(";\n")
        .map(|s| s.trim().trim_end_matches(';'))
        .map(|s| {
            // Leading comment lines belong to no statement.
            let start = s
                .lines()
                .take_while(|l| l.trim_start().starts_with("--"))
                .map(|l| l.len() + 1)
                .sum::<usize>();
            s[start.min(s.len())..].trim()
        })
        .filter(|s| !s.is_empty())
}

impl FromStr for DbKind {
    type Err = DbError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DbKind::from_url(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_kind_and_hide_passwords() {
        assert_eq!(DbKind::from_url("mysql://root@127.0.0.1/x").unwrap(), DbKind::MySql);
        assert_eq!(DbKind::from_url("postgres://u@h/x").unwrap(), DbKind::Postgres);
        assert_eq!(DbKind::from_url("sqlite:///tmp/x.db").unwrap(), DbKind::Sqlite);
        assert!(DbKind::from_url("oracle://x").is_err());
        assert_eq!(
            redact("mysql://seafile:secret@db:3306/s"),
            "mysql://seafile:***@db:3306/s"
        );
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }

    #[test]
    fn schemas_split_into_create_statements() {
        for kind in [DbKind::MySql, DbKind::Postgres, DbKind::Sqlite] {
            let stmts: Vec<_> = split_statements(kind.seafile_schema()).collect();
            assert!(stmts.len() >= 8, "{kind:?}");
            assert!(stmts.iter().all(|s| s.starts_with("CREATE")), "{kind:?}: {stmts:?}");
        }
    }
}
