//! seaf-backup's own per-library state, kept in the backup's seafile database so that moving a
//! library's head and recording that it is synced happen in one transaction.
//!
//! States: `waiting` (work recorded, durable: the consumer may commit its offset), `syncing`
//! (leased by one worker), `synced`, `failed` (with the error), `deleted` (gone from the
//! primary; data kept). A lease (`lock_owner`, `lock_expires`) makes one worker of one process
//! sync a library at a time; a crashed worker's lease simply expires.

use std::fmt;
use std::str::FromStr;

use crate::db::{Bind, DbError, DbTransaction, SeafileDb};
use crate::id::{ObjectId, RepoId};

/// A library's sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncState {
    Waiting,
    Syncing,
    Synced,
    Failed,
    Deleted,
}

impl SyncState {
    pub const ALL: [SyncState; 5] = [
        SyncState::Waiting,
        SyncState::Syncing,
        SyncState::Synced,
        SyncState::Failed,
        SyncState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Waiting => "waiting",
            SyncState::Syncing => "syncing",
            SyncState::Synced => "synced",
            SyncState::Failed => "failed",
            SyncState::Deleted => "deleted",
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SyncState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncState::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown sync state {s:?}"))
    }
}

/// One row of `SeafBackupRepoState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSyncState {
    pub repo_id: RepoId,
    pub state: SyncState,
    pub head: Option<ObjectId>,
    /// The head before the primary moved it backwards or elsewhere (seaf-fsck).
    pub old_head: Option<ObjectId>,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn opt_object(v: Option<String>) -> Option<ObjectId> {
    v.and_then(|s| ObjectId::parse(s.trim()).ok())
}

impl SeafileDb {
    /// Creates the state table where missing.
    pub async fn create_state_tables(&self) -> Result<(), DbError> {
        self.run_schema(self.kind().state_schema(), "creating seaf-backup's state table")
            .await
    }

    /// Records that `repo` needs a sync. Durable when this returns: the event may be forgotten.
    pub async fn mark_waiting(&self, repo: &RepoId) -> Result<(), DbError> {
        let now = now_ms();
        let id = repo.as_str().to_string();
        // A library being synced stays `syncing`; the newer `wanted_at` makes its worker leave it
        // `waiting` when done, so the change is not lost.
        let updated = self
            .execute(
                "marking a library waiting",
                "UPDATE SeafBackupRepoState SET wanted_at = ?, updated_at = ?, state = CASE WHEN state = 'syncing' THEN 'syncing' ELSE 'waiting' END WHERE repo_id = ?",
                &[Bind::Int(now), Bind::Int(now), Bind::Text(&id)],
            )
            .await?;
        if updated == 0 {
            let inserted = self
                .execute(
                    "marking a library waiting",
                    "INSERT INTO SeafBackupRepoState (repo_id, state, wanted_at, updated_at) VALUES (?, 'waiting', ?, ?)",
                    &[Bind::Text(&id), Bind::Int(now), Bind::Int(now)],
                )
                .await;
            if inserted.is_err() {
                // Another process inserted it first; its row now exists.
                self.execute(
                    "marking a library waiting",
                    "UPDATE SeafBackupRepoState SET wanted_at = ?, updated_at = ?, state = CASE WHEN state = 'syncing' THEN 'syncing' ELSE 'waiting' END WHERE repo_id = ?",
                    &[Bind::Int(now), Bind::Int(now), Bind::Text(&id)],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// [`SeafileDb::mark_waiting`] for many libraries at once: one `UPDATE … IN (…)` per 500
    /// libraries (plus inserts for libraries without a row), instead of a round trip and a
    /// commit per library. Durable when this returns.
    pub async fn mark_waiting_many(&self, repos: &[RepoId]) -> Result<(), DbError> {
        if repos.len() == 1 {
            return self.mark_waiting(&repos[0]).await;
        }
        for chunk in repos.chunks(500) {
            let now = now_ms();
            let ids: Vec<&str> = chunk.iter().map(RepoId::as_str).collect();
            let list = vec!["?"; ids.len()].join(", ");
            let mut binds = vec![Bind::Int(now), Bind::Int(now)];
            binds.extend(ids.iter().map(|id| Bind::Text(id)));
            let updated = self
                .execute(
                    "marking libraries waiting",
                    &format!("UPDATE SeafBackupRepoState SET wanted_at = ?, updated_at = ?, state = CASE WHEN state = 'syncing' THEN 'syncing' ELSE 'waiting' END WHERE repo_id IN ({list})"),
                    &binds,
                )
                .await?;
            if updated as usize >= ids.len() {
                continue;
            }
            // Some have no row yet (or the server counts only changed rows): find which.
            let existing: std::collections::HashSet<String> = self
                .fetch_texts(
                    "marking libraries waiting",
                    &format!("SELECT repo_id FROM SeafBackupRepoState WHERE repo_id IN ({list})"),
                    &binds[2..],
                    "repo_id",
                )
                .await?
                .into_iter()
                .map(|s| s.trim().to_string())
                .collect();
            for repo in chunk.iter().filter(|r| !existing.contains(r.as_str())) {
                self.mark_waiting(repo).await?;
            }
        }
        Ok(())
    }

    /// How many libraries are in each state (states without any are left out).
    pub async fn state_counts(&self) -> Result<Vec<(SyncState, u64)>, DbError> {
        let rows = self
            .fetch_rows(
                "counting sync states",
                "SELECT state, COUNT(*) AS n FROM SeafBackupRepoState GROUP BY state",
                &[],
                &["state", "n"],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| {
                let state = r[0].take()?.trim().parse().ok()?;
                Some((state, r[1].take()?.parse().ok()?))
            })
            .collect())
    }

    /// Libraries ready for a worker: waiting, or syncing under an expired lease.
    pub async fn ready_to_sync(&self, limit: u32) -> Result<Vec<RepoId>, DbError> {
        let rows = self
            .fetch_texts(
                "listing libraries to sync",
                "SELECT repo_id FROM SeafBackupRepoState WHERE state = 'waiting' OR (state = 'syncing' AND lock_expires < ?) ORDER BY wanted_at LIMIT ?",
                &[Bind::Int(now_ms()), Bind::Int(i64::from(limit))],
                "repo_id",
            )
            .await?;
        Ok(rows.iter().filter_map(|r| RepoId::parse(r.trim()).ok()).collect())
    }

    /// Takes the lease of `repo` for `owner` for `ttl_ms`. False when someone else holds it.
    /// Also takes libraries in any state (a manual `sync`).
    pub async fn try_lock(&self, repo: &RepoId, owner: &str, ttl_ms: i64) -> Result<bool, DbError> {
        let now = now_ms();
        let id = repo.as_str().to_string();
        // Make sure the row exists (a manual sync of a library never seen before).
        let exists = self
            .fetch_texts(
                "reading sync state",
                "SELECT repo_id FROM SeafBackupRepoState WHERE repo_id = ?",
                &[Bind::Text(&id)],
                "repo_id",
            )
            .await?;
        if exists.is_empty() {
            self.mark_waiting(repo).await?;
        }
        let n = self
            .execute(
                "taking a library lease",
                "UPDATE SeafBackupRepoState SET state = 'syncing', lock_owner = ?, lock_expires = ?, sync_started = ?, updated_at = ? WHERE repo_id = ? AND (lock_owner IS NULL OR lock_expires < ? OR lock_owner = ?)",
                &[Bind::Text(owner), Bind::Int(now + ttl_ms), Bind::Int(now), Bind::Int(now), Bind::Text(&id), Bind::Int(now), Bind::Text(owner)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Extends a lease while a long sync runs.
    pub async fn renew_lock(&self, repo: &RepoId, owner: &str, ttl_ms: i64) -> Result<bool, DbError> {
        let n = self
            .execute(
                "renewing a library lease",
                "UPDATE SeafBackupRepoState SET lock_expires = ? WHERE repo_id = ? AND lock_owner = ?",
                &[
                    Bind::Int(now_ms() + ttl_ms),
                    Bind::Text(repo.as_str()),
                    Bind::Text(owner),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records a failed sync and releases the lease.
    pub async fn fail_sync(&self, repo: &RepoId, owner: &str, error: &str) -> Result<(), DbError> {
        let now = now_ms();
        self.execute(
            "recording a failed sync",
            "UPDATE SeafBackupRepoState SET state = 'failed', error = ?, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE repo_id = ? AND lock_owner = ?",
            &[Bind::Text(error), Bind::Int(now), Bind::Text(repo.as_str()), Bind::Text(owner)],
        )
        .await?;
        Ok(())
    }

    /// Releases a lease without changing anything else (the sync was a no-op or was retried).
    pub async fn release(&self, repo: &RepoId, owner: &str, state_if_current: SyncState) -> Result<(), DbError> {
        self.execute(
            "releasing a library lease",
            "UPDATE SeafBackupRepoState SET state = CASE WHEN wanted_at > sync_started THEN 'waiting' ELSE ? END, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE repo_id = ? AND lock_owner = ?",
            &[Bind::Text(state_if_current.as_str()), Bind::Int(now_ms()), Bind::Text(repo.as_str()), Bind::Text(owner)],
        )
        .await?;
        Ok(())
    }

    /// Releases every lease `owner` holds, leaving those libraries waiting (a clean shutdown).
    pub async fn release_all(&self, owner: &str) -> Result<u64, DbError> {
        self.execute(
            "releasing leases",
            "UPDATE SeafBackupRepoState SET state = 'waiting', updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE lock_owner = ?",
            &[Bind::Int(now_ms()), Bind::Text(owner)],
        )
        .await
    }

    /// Every process that holds a lease now.
    pub async fn lock_owners(&self) -> Result<Vec<String>, DbError> {
        self.fetch_texts(
            "listing lease owners",
            "SELECT DISTINCT lock_owner FROM SeafBackupRepoState WHERE lock_owner IS NOT NULL",
            &[],
            "lock_owner",
        )
        .await
    }

    /// Every library's state, by library id.
    pub async fn sync_states(&self) -> Result<Vec<RepoSyncState>, DbError> {
        let rows = self
            .fetch_rows(
                "reading sync states",
                "SELECT repo_id, state, head, old_head, error, updated_at FROM SeafBackupRepoState ORDER BY repo_id",
                &[],
                &["repo_id", "state", "head", "old_head", "error", "updated_at"],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            let Some(repo_id) = r[0].take().and_then(|s| RepoId::parse(s.trim()).ok()) else {
                continue;
            };
            let state = r[1]
                .take()
                .unwrap_or_default()
                .trim()
                .parse()
                .map_err(|_| DbError::BadValue {
                    table: "SeafBackupRepoState",
                    column: "state",
                    value: repo_id.to_string(),
                })?;
            out.push(RepoSyncState {
                repo_id,
                state,
                head: opt_object(r[2].take()),
                old_head: opt_object(r[3].take()),
                error: r[4].take(),
                updated_at: r[5].take().and_then(|s| s.parse().ok()).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// One library's state.
    pub async fn sync_state(&self, repo: &RepoId) -> Result<Option<RepoSyncState>, DbError> {
        Ok(self.sync_states().await?.into_iter().find(|s| s.repo_id == *repo))
    }
}

impl DbTransaction {
    /// Marks `repo` synced to `head` (or `waiting` again if a newer change arrived meanwhile)
    /// and releases the lease. Call in the transaction that moves the library's head.
    pub async fn finish_sync(
        &mut self,
        repo: &RepoId,
        owner: &str,
        head: &ObjectId,
        old_head: Option<&ObjectId>,
    ) -> Result<(), DbError> {
        let old = old_head.map(|h| h.to_hex());
        let head = head.to_hex();
        self.exec(
            "recording a finished sync",
            "UPDATE SeafBackupRepoState SET state = CASE WHEN wanted_at > sync_started THEN 'waiting' ELSE 'synced' END, head = ?, old_head = COALESCE(?, old_head), error = NULL, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE repo_id = ? AND lock_owner = ?",
            &[Bind::Text(&head), Bind::OptText(old.as_deref()), Bind::Int(now_ms()), Bind::Text(repo.as_str()), Bind::Text(owner)],
        )
        .await
    }

    /// Marks `repo` deleted on the primary (its data stays) and releases the lease.
    pub async fn mark_deleted(&mut self, repo: &RepoId, owner: &str) -> Result<(), DbError> {
        self.exec(
            "recording a deleted library",
            "UPDATE SeafBackupRepoState SET state = CASE WHEN wanted_at > sync_started THEN 'waiting' ELSE 'deleted' END, error = NULL, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE repo_id = ? AND lock_owner = ?",
            &[Bind::Int(now_ms()), Bind::Text(repo.as_str()), Bind::Text(owner)],
        )
        .await
    }

    /// Removes a library's live rows (Repo, Branch, RepoHead, RepoInfo, RepoOwner, VirtualRepo,
    /// RepoStorageId), as Seafile does when it moves a library to the trash.
    pub async fn remove_repo_rows(&mut self, repo: &RepoId) -> Result<(), DbError> {
        self.delete_repo_rows(repo).await
    }
}
