//! Moving a library's head: its objects first ([`replicate`]), then its rows, its head and its
//! queue state in one transaction, fenced by the lease.

use std::collections::HashSet;
use std::sync::Arc;

use seaf_seafile::library_rows::{self, Catalogue, TableWrite};
use seaf_seafile::{Commit, DbError, LibraryRows, ObjectId, ObjectKind, RepoId, RepoStores};

use super::error::SyncError;
use super::library::{Backup, SyncOutcome};
use super::queue::retry::retry_transaction;
use super::queue::{Finish, FinishRecord, Lease};
use super::replicate::{disk, replicate, Progress, SyncOptions, SyncReport};

/// The crash point just before the head's transaction commits (docs/reliability.md).
pub const HEAD_CRASH_POINT: &str = "head.before_commit";

impl Backup {
    /// A library in use on the primary: its objects up to `head`, then its rows and head in one
    /// transaction. Rows are rewritten also when only they changed (a size, a type).
    pub(super) async fn sync_live(
        &self,
        lease: &Lease,
        rows: &LibraryRows,
        head: ObjectId,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncOutcome, SyncError> {
        let repo = rows.repo_id;
        let stores = RepoStores::new(repo, rows.origin()?);
        let writes = self.plan_rows(rows).await?;
        let local_head = self.db.head(&repo).await?;
        let present = local_head == Some(head) && {
            let store = self.store.clone();
            disk::blocking(move || store.exists(ObjectKind::Commit, &repo, &head)).await?
        };
        if present && !library_rows::differs(&writes, &self.db.current_rows(&repo, &writes).await?) {
            lease.finish(Finish::Synced, &FinishRecord::default()).await?;
            return Ok(SyncOutcome::NoOp);
        }
        let report = if present {
            SyncReport::default()
        } else {
            let remote = self.primary.library(repo);
            let haves: Vec<ObjectId> = local_head.into_iter().collect();
            replicate(&remote, self.local(), stores, head, &haves, options, progress).await?
        };
        // A head that does not descend from the old one: the primary ran seaf-fsck (or reset).
        // History is kept; the old head is recorded.
        let old_head = match local_head {
            Some(old) if old != head && !self.is_ancestor(repo, old, head).await? => {
                tracing::warn!(%repo, %old, new = %head, "the primary moved the head backwards or elsewhere; keeping all history");
                Some(old)
            }
            _ => None,
        };
        let record = FinishRecord {
            head: Some(head),
            old_head,
            error: None,
        };
        self.commit_head(lease, &writes, Finish::Synced, &record).await?;
        Ok(SyncOutcome::Applied { head, report, old_head })
    }

    /// A library in the primary's trash: its whole history up to the trash's head (nothing to
    /// fetch when it was backed up live), then the primary's rows (the trash row, the live ones
    /// gone) in one transaction, as Seafile moved them.
    pub(super) async fn sync_trashed(
        &self,
        lease: &Lease,
        rows: &LibraryRows,
        head: ObjectId,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncOutcome, SyncError> {
        let repo = rows.repo_id;
        // Seafile removes virtual libraries with their origin instead of trashing them.
        let stores = RepoStores::new(repo, None);
        let remote = self.primary.library(repo);
        let haves: Vec<ObjectId> = self.db.head(&repo).await?.into_iter().collect();
        let report = replicate(&remote, self.local(), stores, head, &haves, options, progress).await?;
        let writes = self.plan_rows(rows).await?;
        self.commit_head(lease, &writes, Finish::Deleted, &FinishRecord::default())
            .await?;
        tracing::info!(%repo, %head, "library in the primary's trash; moved to the backup's trash, data kept");
        Ok(SyncOutcome::Trashed { head, report })
    }

    /// The writes that make the backup hold `rows`, after adding the columns a newer primary has
    /// and the backup lacks (never dropping any). Schema changes happen here, outside the head's
    /// transaction, because MySQL commits a transaction at every `ALTER TABLE`.
    async fn plan_rows(&self, rows: &LibraryRows) -> Result<Vec<TableWrite>, SyncError> {
        let mut catalogue = self.catalogue(false).await?;
        let missing = library_rows::missing_columns(rows, &catalogue)?;
        if !missing.is_empty() {
            // Another backup process may have added them already: adding is idempotent.
            self.db.add_columns(&missing).await?;
            catalogue = self.catalogue(true).await?;
        }
        Ok(library_rows::plan_writes(rows, &catalogue)?)
    }

    /// The backup database's catalogue, from the cache unless `refresh`.
    async fn catalogue(&self, refresh: bool) -> Result<Arc<Catalogue>, DbError> {
        if !refresh {
            if let Some(c) = self.catalogue.lock().expect("catalogue lock").clone() {
                return Ok(c);
            }
        }
        let fresh = Arc::new(self.db.catalogue().await?);
        *self.catalogue.lock().expect("catalogue lock") = Some(fresh.clone());
        Ok(fresh)
    }

    /// Writes a library's rows and finishes its lease in one transaction, repeated when the
    /// database reports a deadlock or is busy: concurrent transactions on other libraries can
    /// deadlock on MySQL's gap locks (or find SQLite busy), and the transaction is safe to
    /// repeat. The lease is checked first, so a lost lease writes nothing.
    pub(super) async fn commit_head(
        &self,
        lease: &Lease,
        writes: &[TableWrite],
        finish: Finish,
        record: &FinishRecord,
    ) -> Result<(), SyncError> {
        let repo = lease.repo();
        let transaction = || async {
            let mut tx = self.db.begin().await?;
            lease.finish_in(&mut tx, finish, record).await?;
            if !writes.is_empty() {
                tx.write_library(&repo, writes).await?;
            }
            // A crash here (`FAILPOINTS=head.before_commit=return`) rolls the head back.
            fail::fail_point!(HEAD_CRASH_POINT, |_| std::process::abort());
            Ok(tx.commit().await?)
        };
        retry_transaction(
            "the head transaction",
            transaction,
            |e: &SyncError| matches!(e, SyncError::Db(e) if e.is_retryable()),
        )
        .await
    }

    /// Whether `ancestor` is in the local history of `head` (both present, by the invariant).
    async fn is_ancestor(&self, repo: RepoId, ancestor: ObjectId, head: ObjectId) -> Result<bool, SyncError> {
        let store = self.store.clone();
        let found = disk::blocking(move || {
            let mut seen = HashSet::new();
            let mut stack = vec![head];
            while let Some(id) = stack.pop() {
                if id == ancestor {
                    return Ok(true);
                }
                if !seen.insert(id) {
                    continue;
                }
                let Ok(bytes) = store.read(ObjectKind::Commit, &repo, &id) else {
                    continue;
                };
                if let Ok(c) = Commit::parse(&bytes) {
                    stack.extend(c.parents());
                }
            }
            Ok(false)
        });
        Ok(found.await?)
    }
}
