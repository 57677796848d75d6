//! A worker's lease on one library: taken with [`Lease::take`], renewed in the background while
//! it lives, and finished in the head's transaction, which it **fences**: the transaction is
//! refused when the lease was lost (expired and taken by another worker, or released), so a
//! worker that was paused past its lease can never move `Branch` after another worker did.
//!
//! The fence is the pair (`lock_owner`, `sync_started`): every take writes a `sync_started`
//! this process never wrote before, so even a second take by the same process invalidates the
//! first one's lease.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::retry::retry_transaction;

use seaf_seafile::{Bind, DbError, DbTransaction, ObjectId, RepoId, SeafileDb};
use tokio::task::JoinHandle;

use super::state::{next_state, Finish, SyncState, Transition};
use super::{now_ms, Queue, QueueError};

/// A lease lasts this long and is renewed at a third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// One worker's hold on one library.
pub struct Lease {
    db: SeafileDb,
    repo: RepoId,
    owner: String,
    /// The fencing token: this take's `sync_started`.
    started: i64,
    lost: Arc<AtomicBool>,
    renewal: JoinHandle<()>,
}

/// What the head's transaction records besides the state.
#[derive(Debug, Clone, Default)]
pub struct FinishRecord {
    /// The head the library was synced to.
    pub head: Option<ObjectId>,
    /// The head it replaced when that was not an ancestor (the primary ran seaf-fsck).
    pub old_head: Option<ObjectId>,
    /// The error of a failed sync.
    pub error: Option<String>,
}

/// The columns a finish reads, locked for the rest of the transaction.
struct LockedRow {
    state: SyncState,
    wanted_at: i64,
    started: Option<i64>,
    owner: Option<String>,
    error: Option<String>,
    old_heads: Option<String>,
}

impl Lease {
    /// Takes the lease of `repo` for `owner`: `None` when another worker holds it. Works in any
    /// state (a manual `sync` of a synced library) and creates the library's row if needed.
    pub async fn take(queue: &Queue, repo: RepoId, owner: &str) -> Result<Option<Lease>, DbError> {
        let db = queue.db().clone();
        let id = repo.as_str();
        let known = db
            .fetch_texts(
                "reading sync state",
                "SELECT repo_id FROM SeafBackupRepoState WHERE repo_id = ?",
                &[Bind::Text(id)],
                "repo_id",
            )
            .await?;
        if known.is_empty() {
            queue.mark_waiting(&[repo]).await?;
        }
        let (now, started) = (now_ms(), fencing_token());
        let syncing = next_state(SyncState::Waiting, Transition::Taken, false).expect("any state can be taken");
        let n = db
            .execute(
                "taking a library lease",
                "UPDATE SeafBackupRepoState SET state = ?, lock_owner = ?, lock_expires = ?, sync_started = ?, updated_at = ? WHERE repo_id = ? AND (lock_owner IS NULL OR lock_expires < ? OR lock_owner = ?)",
                &[Bind::Text(syncing.as_str()), Bind::Text(owner), Bind::Int(now + ttl_ms()), Bind::Int(started), Bind::Int(now), Bind::Text(id), Bind::Int(now), Bind::Text(owner)],
            )
            .await?;
        if n != 1 {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(db.clone(), repo, owner.to_string(), started, lost.clone()));
        Ok(Some(Lease {
            db,
            repo,
            owner: owner.to_string(),
            started,
            lost,
            renewal,
        }))
    }

    pub fn repo(&self) -> RepoId {
        self.repo
    }

    /// Whether renewing found the lease taken by someone else (the finish will be refused).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Records how the sync ended and releases the lease, inside `tx` (the transaction that
    /// moves the head). Fails with [`QueueError::LeaseLost`], writing nothing, when this lease
    /// no longer holds the library: roll the transaction back.
    pub async fn finish_in(
        &self,
        tx: &mut DbTransaction,
        finish: Finish,
        record: &FinishRecord,
    ) -> Result<SyncState, QueueError> {
        let row = self.lock_row(tx).await?;
        if row.owner.as_deref() != Some(self.owner.as_str()) || row.started != Some(self.started) {
            return Err(self.lost_to(row.owner));
        }
        let changed = row.started.is_some_and(|s| row.wanted_at > s);
        let next = next_state(row.state, Transition::Finished(finish), changed).map_err(|_| self.lost_to(row.owner))?;
        let error = match finish {
            Finish::Retry => row.error.clone(),
            _ => record.error.clone(),
        };
        let (head, old) = (record.head.map(|h| h.to_hex()), record.old_head.map(|h| h.to_hex()));
        let old_heads = match &old {
            Some(o) => Some(row.old_heads.as_deref().map_or(o.clone(), |list| format!("{list} {o}"))),
            None => row.old_heads.clone(),
        };
        let n = tx
            .execute(
                "recording how a sync ended",
                "UPDATE SeafBackupRepoState SET state = ?, head = COALESCE(?, head), old_head = COALESCE(?, old_head), old_heads = ?, error = ?, updated_at = ?, lock_owner = NULL, lock_expires = NULL WHERE repo_id = ? AND lock_owner = ? AND sync_started = ? AND wanted_at = ?",
                &[Bind::Text(next.as_str()), Bind::OptText(head.as_deref()), Bind::OptText(old.as_deref()), Bind::OptText(old_heads.as_deref()), Bind::OptText(error.as_deref()), Bind::Int(now_ms()), Bind::Text(self.repo.as_str()), Bind::Text(&self.owner), Bind::Int(self.started), Bind::Int(row.wanted_at)],
            )
            .await?;
        if n != 1 {
            return Err(self.lost_to(None));
        }
        Ok(next)
    }

    /// [`Lease::finish_in`] in a transaction of its own, repeated while the database reports
    /// a deadlock or is busy ([`retry_transaction`]).
    pub async fn finish(&self, finish: Finish, record: &FinishRecord) -> Result<SyncState, QueueError> {
        let transaction = || async {
            let mut tx = self.db.begin().await?;
            let state = self.finish_in(&mut tx, finish, record).await?;
            tx.commit().await?;
            Ok(state)
        };
        retry_transaction(
            "finishing a lease",
            transaction,
            |e: &QueueError| matches!(e, QueueError::Db(e) if e.is_retryable()),
        )
        .await
    }

    async fn lock_row(&self, tx: &mut DbTransaction) -> Result<LockedRow, QueueError> {
        let query = format!(
            "SELECT state, wanted_at, sync_started, lock_owner, error, old_heads FROM SeafBackupRepoState WHERE repo_id = ?{}",
            self.db.kind().lock_clause()
        );
        let cols = ["state", "wanted_at", "sync_started", "lock_owner", "error", "old_heads"];
        let mut rows = tx
            .fetch_rows("reading a lease", &query, &[Bind::Text(self.repo.as_str())], &cols)
            .await?;
        let Some(mut r) = rows.pop() else {
            return Err(self.lost_to(None));
        };
        let int = |v: Option<String>| v.and_then(|s| s.trim().parse::<i64>().ok());
        Ok(LockedRow {
            state: r[0]
                .take()
                .unwrap_or_default()
                .trim()
                .parse()
                .map_err(|_| self.lost_to(None))?,
            wanted_at: int(r[1].take()).unwrap_or(0),
            started: int(r[2].take()),
            owner: r[3].take().map(|s| s.trim().to_string()),
            error: r[4].take(),
            old_heads: r[5].take().filter(|s| !s.trim().is_empty()),
        })
    }

    fn lost_to(&self, holder: Option<String>) -> QueueError {
        QueueError::LeaseLost {
            repo: self.repo,
            holder: holder.filter(|h| *h != self.owner),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

fn ttl_ms() -> i64 {
    LEASE_TTL.as_millis() as i64
}

/// A `sync_started` value this process never handed out before (and not before now).
fn fencing_token() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Extends the lease every third of its lifetime until it is dropped or lost. A database error
/// is logged and retried: the lease may still be renewed before it expires.
async fn renew(db: SeafileDb, repo: RepoId, owner: String, started: i64, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(LEASE_TTL / 3).await;
        let renewed = db
            .execute(
                "renewing a library lease",
                "UPDATE SeafBackupRepoState SET lock_expires = ? WHERE repo_id = ? AND lock_owner = ? AND sync_started = ?",
                &[Bind::Int(now_ms() + ttl_ms()), Bind::Text(repo.as_str()), Bind::Text(&owner), Bind::Int(started)],
            )
            .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                lost.store(true, Ordering::Relaxed);
                tracing::warn!(%repo, "the library's lease was taken by another worker; this sync's result will be discarded");
                return;
            }
            Err(e) => tracing::warn!(%repo, error = %e, "cannot renew the library's lease; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fencing_token;

    #[test]
    fn fencing_tokens_never_repeat() {
        let tokens: Vec<i64> = (0..1000).map(|_| fencing_token()).collect();
        assert!(tokens.windows(2).all(|w| w[1] > w[0]));
    }
}
