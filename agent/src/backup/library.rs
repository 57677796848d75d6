//! [`Backup`]: everything a backup process works with, and syncing one library under a lease.
//!
//! A sync reads the library's rows from the primary and lets them decide (see
//! [`seaf_seafile::library_rows`]): live, it replicates to the head in `Branch`; in the trash,
//! it copies the history up to the trash's head and moves the library to the backup's trash;
//! gone (purged from the trash), it changes nothing but the sync state. Because it always syncs
//! the primary's *current* head, a stale, duplicated or replayed event costs one request for the
//! library's rows (and a read of the backup's) and changes nothing.

use std::sync::Arc;

use anyhow::Context;
use seaf_seafile::library_rows::Catalogue;
use seaf_seafile::{LibraryState, ObjectId, ObjectStore, RepoId, SeafileDb};

use super::client::PrimaryClient;
use super::durable::GroupCommit;
use super::error::{Disposition, SyncError};
use super::queue::{reaper, Finish, FinishRecord, Lease, Queue};
use super::replicate::{Local, Progress, SyncOptions, SyncReport};
use crate::config::Config;

/// What syncing one library came to.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The backup already had the primary's head.
    NoOp,
    /// New objects were written and the head moved.
    Applied {
        head: ObjectId,
        report: SyncReport,
        old_head: Option<ObjectId>,
    },
    /// The library is in the primary's trash: moved to the backup's trash with its whole
    /// history (`report`: what had to be fetched for that).
    Trashed { head: ObjectId, report: SyncReport },
    /// The primary no longer has the library, not even in its trash; the backup keeps it.
    Deleted,
    /// Another worker holds the library's lease.
    Busy,
}

/// Everything a backup process works with.
#[derive(Clone)]
pub struct Backup {
    pub db: SeafileDb,
    pub queue: Queue,
    pub store: ObjectStore,
    /// Every object write goes through it, so concurrent syncs share durability barriers;
    /// stopped (after the workers) by the role's stop path.
    pub commit: GroupCommit,
    pub primary: PrimaryClient,
    /// This process's name in leases.
    pub owner: String,
    /// The backup database's tables and columns, read once: only `plan_rows` changes them
    /// (and reads them again), so each sync does not ask the catalogue.
    pub(super) catalogue: Arc<std::sync::Mutex<Option<Arc<Catalogue>>>>,
}

impl Backup {
    /// Lays out the backup's data directory as a Seafile server expects it (`storage/`,
    /// `tmpfiles/`, `httptemp/`), makes the backup database a complete Seafile database (every
    /// table of Seafile's `seafile.sql`, missing columns added) with seaf-backup's queue table,
    /// recovers the store from a crash or power loss and starts its committer
    /// ([`GroupCommit::open`]), and prepares the primary client.
    pub async fn open(config: &Config) -> anyhow::Result<Backup> {
        let b = config.backup()?;
        let primary_url = b.primary_url.as_deref().with_context(|| {
            format!(
                "{}: missing key `primary_url` in [backup] (or in seafile.conf's [backup])",
                config.source
            )
        })?;
        let store = ObjectStore::new(&b.seafile_data_dir);
        store
            .prepare_data_dir()
            .with_context(|| format!("{}: [backup] seafile_data_dir", config.source))?;
        let commit = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || GroupCommit::open(store))
                .await?
                .with_context(|| format!("{}: recovering [backup] seafile_data_dir", config.source))?
        };
        let db = SeafileDb::connect_with(&b.database_url, (b.workers as u32 + 4).max(4))
            .await
            .with_context(|| format!("{}: [backup] database_url", config.source))?;
        let schema = db.ensure_seafile_schema().await?;
        if !schema.is_empty() {
            tracing::info!(
                created_tables = ?schema.created_tables,
                added_columns = ?schema.added_columns,
                "brought the backup database up to Seafile's schema"
            );
        }
        for (table, column) in &schema.missing_key_columns {
            tracing::warn!(%table, %column, "a key column of Seafile's schema is missing and cannot be added; the table is left as it is");
        }
        let queue = Queue::new(db.clone());
        queue.create_table().await?;
        Ok(Backup {
            db,
            queue,
            store,
            commit,
            primary: PrimaryClient::new(primary_url, config.sync_token()?, b.primary_ca.as_deref())?,
            owner: reaper::owner_name(),
            catalogue: Arc::default(),
        })
    }

    /// Where replication writes.
    pub fn local(&self) -> Local<'_> {
        Local {
            store: &self.store,
            commit: &self.commit,
        }
    }

    /// Stops the committer once the batches handed to it are durable (call it after the
    /// syncs have ended).
    pub async fn stop_commits(&self) {
        let commit = self.commit.clone();
        let _ = tokio::task::spawn_blocking(move || commit.stop()).await;
    }

    /// Hands back the leases of earlier backup processes on this host that are gone.
    pub async fn release_dead_leases(&self) -> anyhow::Result<u64> {
        Ok(reaper::release_dead_leases(&self.queue, &self.owner).await?)
    }

    /// Syncs one library to the primary's current head, under its lease. On an error the lease
    /// is finished as the error's [`Disposition`] says (waiting again, or failed with the
    /// error's text); a lost lease records nothing.
    pub async fn sync_library(
        &self,
        repo: RepoId,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncOutcome, SyncError> {
        let Some(lease) = Lease::take(&self.queue, repo, &self.owner).await? else {
            return Ok(SyncOutcome::Busy);
        };
        match self.sync_leased(&lease, options, progress).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                let finish = match e.disposition() {
                    Disposition::WaitForPrimary | Disposition::Retry => Some((Finish::Retry, None)),
                    Disposition::Fail => Some((Finish::Failed, Some(e.to_string()))),
                    Disposition::Discard => None,
                };
                if let Some((finish, error)) = finish {
                    let record = FinishRecord {
                        error,
                        ..FinishRecord::default()
                    };
                    if let Err(lost) = lease.finish(finish, &record).await {
                        tracing::warn!(%repo, error = %lost, "cannot record how the sync ended; the lease expires instead");
                    }
                }
                Err(e)
            }
        }
    }

    async fn sync_leased(
        &self,
        lease: &Lease,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncOutcome, SyncError> {
        let repo = lease.repo();
        let rows = self.primary.library_rows(&repo).await?;
        match rows.state()? {
            LibraryState::Live { head } => self.sync_live(lease, &rows, head, options, progress).await,
            LibraryState::Trashed { head } => self.sync_trashed(lease, &rows, head, options, progress).await,
            LibraryState::Gone => {
                // Purged from the primary's trash, or deleted without one: nothing is removed.
                let record = FinishRecord::default();
                self.commit_head(lease, &[], Finish::Deleted, &record).await?;
                tracing::info!(%repo, "library gone from the primary; its backup is kept");
                Ok(SyncOutcome::Deleted)
            }
        }
    }
}
