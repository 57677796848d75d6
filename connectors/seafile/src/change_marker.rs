//! A cheap, exact answer to "was anything committed to this database since I last asked?", so
//! the primary's poll can skip reading the whole `Branch` table (100k rows at a large site) when
//! the answer is no.
//!
//! - **SQLite:** `PRAGMA data_version`, which SQLite documents for exactly this: two readings on
//!   one connection differ when another connection (any process) committed in between.
//! - **PostgreSQL:** `txid_current_snapshot()`: `xmin:xmax:in-progress ids`. A transaction that
//!   writes gets a transaction id; when it commits it leaves the in-progress list, or it raises
//!   `xmax` (one past the newest completed id). Either changes the text, so equal readings mean
//!   no writing transaction committed in between. Writes to any table change it (Seahub writes
//!   often on a busy server), so it helps most when the server is quiet: a false "changed" only
//!   costs the read the poll would have done anyway.
//! - **MySQL/MariaDB:** none: nothing cheap is exact (`information_schema.TABLES.UPDATE_TIME` is
//!   cached and has 1 s granularity). The binary log is the fast path there.
//!
//! Take the marker *before* the read it stands for: a commit between the two is then seen by the
//! read and also changes the next marker (one extra read), never missed.

use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

use crate::db::{q, DbError, DbKind, SeafileDb};

/// One connection kept for the readings (SQLite's `data_version` is per connection).
pub struct ChangeMarker {
    conn: PoolConnection<Any>,
    kind: DbKind,
}

impl SeafileDb {
    /// A marker on a connection of its own, or `None` where the database has no cheap exact one
    /// (MySQL/MariaDB).
    pub async fn change_marker(&self) -> Result<Option<ChangeMarker>, DbError> {
        if self.kind() == DbKind::MySql {
            return Ok(None);
        }
        let conn = self
            .pool()
            .acquire()
            .await
            .map_err(q("connecting for the change marker"))?;
        Ok(Some(ChangeMarker {
            conn,
            kind: self.kind(),
        }))
    }
}

impl ChangeMarker {
    /// The current reading: equal to an earlier one when nothing was committed in between.
    pub async fn read(&mut self) -> Result<String, DbError> {
        let what = "reading the change marker";
        match self.kind {
            DbKind::Sqlite => {
                let row = sqlx::query("PRAGMA data_version")
                    .fetch_one(&mut *self.conn)
                    .await
                    .map_err(q(what))?;
                Ok(row.try_get::<i64, _>(0).map_err(q(what))?.to_string())
            }
            // Never MySQL: `change_marker` gives none there.
            DbKind::Postgres | DbKind::MySql => {
                let row = sqlx::query("SELECT txid_current_snapshot()::text AS marker")
                    .fetch_one(&mut *self.conn)
                    .await
                    .map_err(q(what))?;
                row.try_get::<String, _>("marker").map_err(q(what))
            }
        }
    }
}
