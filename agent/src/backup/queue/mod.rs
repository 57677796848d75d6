//! The backup's sync queue: one row per library in `SeafBackupRepoState`, in the backup's
//! seafile database beside Seafile's tables, so that moving a library's head and recording that
//! it is synced happen in one transaction.
//!
//! - [`state`]: the state machine, pure and table-tested; the SQL here only stores its result.
//! - [`lease`]: one worker's fenced hold on one library.
//! - [`reaper`]: handing back the leases of processes that are gone.

pub mod lease;
pub mod reaper;
pub mod retry;
pub mod state;
mod wanted;

use std::collections::HashSet;

use seaf_seafile::{Bind, DbError, DbKind, ObjectId, RepoId, SeafileDb};

pub use lease::{FinishRecord, Lease};
use state::{next_state, Transition};
pub use state::{Finish, SyncState};
use wanted::{placeholders, wanted_groups, wanted_update};

/// Libraries per `IN (…)` statement.
const CHUNK: usize = 500;

/// Why the queue refused.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the lease on library {repo} was lost{}; this worker's result is discarded (another worker syncs the library)", holder.as_ref().map(|h| format!(" to {h}")).unwrap_or_default())]
    LeaseLost { repo: RepoId, holder: Option<String> },
}

/// One row of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSyncState {
    pub repo_id: RepoId,
    pub state: SyncState,
    pub head: Option<ObjectId>,
    /// The head before the primary last moved it backwards or elsewhere (seaf-fsck).
    pub old_head: Option<ObjectId>,
    /// Every head so replaced, oldest first.
    pub old_heads: Vec<ObjectId>,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// The queue in one backup database.
#[derive(Debug, Clone)]
pub struct Queue {
    db: SeafileDb,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Queue {
    pub fn new(db: SeafileDb) -> Queue {
        Queue { db }
    }

    pub fn db(&self) -> &SeafileDb {
        &self.db
    }

    /// Creates the table where missing (`schemas/sql/`).
    pub async fn create_table(&self) -> Result<(), DbError> {
        let schema = match self.db.kind() {
            DbKind::MySql => include_str!("../../../../schemas/sql/mysql/seaf-backup-state.sql"),
            DbKind::Postgres => include_str!("../../../../schemas/sql/pgsql/seaf-backup-state.sql"),
            DbKind::Sqlite => include_str!("../../../../schemas/sql/sqlite/seaf-backup-state.sql"),
        };
        self.db.run_schema(schema, "creating seaf-backup's state table").await?;
        // Tables created before a column existed get it now (nullable, nothing dropped).
        let catalogue = self.db.catalogue().await?;
        let have: Vec<&str> = catalogue
            .iter()
            .find(|(table, _)| table.eq_ignore_ascii_case("SeafBackupRepoState"))
            .map(|(_, columns)| columns.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        if !have.iter().any(|c| c.eq_ignore_ascii_case("old_heads")) {
            let add = "ALTER TABLE SeafBackupRepoState ADD COLUMN old_heads TEXT";
            self.db
                .execute("adding SeafBackupRepoState.old_heads", add, &[])
                .await?;
        }
        Ok(())
    }

    /// Records that `repos` need a sync, one transaction per 500 libraries. Durable when this
    /// returns: the events that asked for it may be forgotten.
    pub async fn mark_waiting(&self, repos: &[RepoId]) -> Result<(), DbError> {
        for chunk in repos.chunks(CHUNK) {
            let now = now_ms();
            let ids: Vec<&str> = chunk.iter().map(RepoId::as_str).collect();
            let mut tx = self.db.begin().await?;
            let mut updated = 0;
            for (to, from) in wanted_groups() {
                let (sql, binds) = wanted_update(to, &from, &ids, now);
                updated += tx.execute("marking libraries waiting", &sql, &binds).await?;
            }
            tx.commit().await?;
            if updated as usize >= ids.len() {
                continue;
            }
            // Some have no row yet (or the server counts only changed rows): find which.
            let existing = self.existing(&ids).await?;
            for repo in chunk.iter().filter(|r| !existing.contains(r.as_str())) {
                self.insert_waiting(repo, now).await?;
            }
        }
        Ok(())
    }

    async fn existing(&self, ids: &[&str]) -> Result<HashSet<String>, DbError> {
        let sql = format!(
            "SELECT repo_id FROM SeafBackupRepoState WHERE repo_id IN ({})",
            placeholders(ids.len())
        );
        let binds: Vec<Bind> = ids.iter().map(|id| Bind::Text(id)).collect();
        let rows = self
            .db
            .fetch_texts("marking libraries waiting", &sql, &binds, "repo_id")
            .await?;
        Ok(rows.into_iter().map(|s| s.trim().to_string()).collect())
    }

    async fn insert_waiting(&self, repo: &RepoId, now: i64) -> Result<(), DbError> {
        let inserted = self
            .db
            .execute(
                "marking a library waiting",
                "INSERT INTO SeafBackupRepoState (repo_id, state, wanted_at, updated_at) VALUES (?, ?, ?, ?)",
                &[
                    Bind::Text(repo.as_str()),
                    Bind::Text(SyncState::Waiting.as_str()),
                    Bind::Int(now),
                    Bind::Int(now),
                ],
            )
            .await;
        if inserted.is_err() {
            // Another process inserted it first: its row exists now, so update it.
            for (to, from) in wanted_groups() {
                let (sql, binds) = wanted_update(to, &from, &[repo.as_str()], now);
                self.db.execute("marking a library waiting", &sql, &binds).await?;
            }
        }
        Ok(())
    }

    /// Libraries ready for a worker: waiting, or syncing under an expired lease; oldest first.
    pub async fn ready(&self, limit: u32) -> Result<Vec<RepoId>, DbError> {
        let rows = self
            .db
            .fetch_texts(
                "listing libraries to sync",
                "SELECT repo_id FROM SeafBackupRepoState WHERE state = ? OR (state = ? AND lock_expires < ?) ORDER BY wanted_at LIMIT ?",
                &[Bind::Text(SyncState::Waiting.as_str()), Bind::Text(SyncState::Syncing.as_str()), Bind::Int(now_ms()), Bind::Int(i64::from(limit))],
                "repo_id",
            )
            .await?;
        Ok(rows.iter().filter_map(|r| RepoId::parse(r.trim()).ok()).collect())
    }

    /// How many libraries are in each state (states without any are left out).
    pub async fn counts(&self) -> Result<Vec<(SyncState, u64)>, DbError> {
        let rows = self
            .db
            .fetch_rows(
                "counting sync states",
                "SELECT state, COUNT(*) AS n FROM SeafBackupRepoState GROUP BY state",
                &[],
                &["state", "n"],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| Some((r[0].take()?.trim().parse().ok()?, r[1].take()?.parse().ok()?)))
            .collect())
    }

    /// Hands back every lease `owner` holds (a clean shutdown, or a process that is gone).
    pub async fn release_owner(&self, owner: &str) -> Result<u64, DbError> {
        let waiting = next_state(SyncState::Syncing, Transition::Released, false).expect("syncing can be released");
        self.db
            .execute(
                "releasing leases",
                "UPDATE SeafBackupRepoState SET state = ?, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE lock_owner = ? AND state = ?",
                &[Bind::Text(waiting.as_str()), Bind::Int(now_ms()), Bind::Text(owner), Bind::Text(SyncState::Syncing.as_str())],
            )
            .await
    }

    /// Every process that holds a lease now.
    pub async fn lock_owners(&self) -> Result<Vec<String>, DbError> {
        self.db
            .fetch_texts(
                "listing lease owners",
                "SELECT DISTINCT lock_owner FROM SeafBackupRepoState WHERE lock_owner IS NOT NULL",
                &[],
                "lock_owner",
            )
            .await
    }

    /// Every library's row, by library id.
    pub async fn states(&self) -> Result<Vec<RepoSyncState>, DbError> {
        self.read_states("", &[]).await
    }

    /// One library's row.
    pub async fn state(&self, repo: &RepoId) -> Result<Option<RepoSyncState>, DbError> {
        Ok(self
            .read_states(" WHERE repo_id = ?", &[Bind::Text(repo.as_str())])
            .await?
            .pop())
    }

    /// The rows of `repos` (those that have one), 500 libraries a query.
    pub async fn states_of(&self, repos: &[RepoId]) -> Result<Vec<RepoSyncState>, DbError> {
        let mut out = Vec::with_capacity(repos.len());
        for chunk in repos.chunks(CHUNK) {
            let filter = format!(" WHERE repo_id IN ({})", placeholders(chunk.len()));
            let binds: Vec<Bind> = chunk.iter().map(|r| Bind::Text(r.as_str())).collect();
            out.extend(self.read_states(&filter, &binds).await?);
        }
        Ok(out)
    }

    async fn read_states(&self, filter: &str, binds: &[Bind<'_>]) -> Result<Vec<RepoSyncState>, DbError> {
        let sql = format!(
            "SELECT repo_id, state, head, old_head, error, updated_at, old_heads FROM SeafBackupRepoState{filter} ORDER BY repo_id"
        );
        let cols = [
            "repo_id",
            "state",
            "head",
            "old_head",
            "error",
            "updated_at",
            "old_heads",
        ];
        let rows = self.db.fetch_rows("reading sync states", &sql, binds, &cols).await?;
        rows.into_iter().filter_map(parse_state_row).collect()
    }
}

fn parse_state_row(mut r: Vec<Option<String>>) -> Option<Result<RepoSyncState, DbError>> {
    let repo_id = RepoId::parse(r[0].take()?.trim()).ok()?;
    let object = |v: Option<String>| v.and_then(|s| ObjectId::parse(s.trim()).ok());
    let state = match r[1].take().unwrap_or_default().trim().parse() {
        Ok(s) => s,
        Err(_) => {
            return Some(Err(DbError::BadValue {
                table: "SeafBackupRepoState",
                column: "state",
                value: repo_id.to_string(),
            }))
        }
    };
    Some(Ok(RepoSyncState {
        repo_id,
        state,
        head: object(r[2].take()),
        old_head: object(r[3].take()),
        error: r[4].take(),
        updated_at: r[5].take().and_then(|s| s.parse().ok()).unwrap_or(0),
        old_heads: parse_heads(r[6].take().as_deref()),
    }))
}

/// A space-separated list of heads (unreadable entries are left out).
pub(crate) fn parse_heads(list: Option<&str>) -> Vec<ObjectId> {
    list.unwrap_or_default()
        .split_whitespace()
        .filter_map(|h| ObjectId::parse(h).ok())
        .collect()
}
