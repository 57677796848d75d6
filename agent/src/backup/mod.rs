//! The backup role: turn the topic into a consistent, full-history Seafile backup.
//!
//! Three loops share the backup database:
//! - the **consumer** reads `RepoUpdate` events and records each library as `waiting` (durable)
//!   before its offset may be committed, so a crash redelivers and never loses;
//! - the **workers** take waiting libraries under a lease (one worker of one process per
//!   library), pull the primary's *current* head with [`sync::sync_objects`], then move the head
//!   and record the state in one transaction;
//! - the **full scan** compares every head and the trash with the primary every
//!   `sync_poll_interval` (and at start) and marks the differences waiting, catching whatever
//!   the log missed and libraries trashed before the backup started.
//!
//! A worker reads the library's rows from the primary and lets them decide (see
//! [`seaf_seafile::library_rows`]): live, it syncs to the head in `Branch`; in the trash, it
//! copies the history up to the trash's head and moves the library to the backup's trash; gone
//! (purged from the trash), it changes nothing but the sync state.
//!
//! Because the worker always syncs the primary's current head, a stale, duplicated or replayed
//! event costs one request for the library's rows (and a read of the backup's) and changes
//! nothing.

pub mod client;
pub mod consumer;
pub mod status;
pub mod sync;
pub mod trash;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use seaf_seafile::library_rows::{self, Catalogue, TableWrite};
use seaf_seafile::{
    Commit, LibraryRows, LibraryState, ObjectId, ObjectKind, ObjectStore, RepoId, RepoStores, SeafileDb, SyncState,
};
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;
use crate::telemetry::{self, Health};
use client::PrimaryClient;
use sync::{SyncError, SyncOptions, SyncReport};

/// Local heads read per query in a full scan.
const SCAN_PAGE: u32 = 20_000;

/// A lease lasts this long and is renewed at a third of it while a sync runs.
const LEASE_MS: i64 = 30_000;

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

/// What the head's transaction records besides the rows.
enum Finish {
    /// Synced to `head` (`old_head`: the head it replaced when that was not an ancestor).
    Synced { head: ObjectId, old_head: Option<ObjectId> },
    /// Moved to the trash.
    Trashed,
}

/// Everything a backup process works with.
#[derive(Clone)]
pub struct Backup {
    pub db: SeafileDb,
    pub store: ObjectStore,
    pub primary: PrimaryClient,
    /// This process's name in leases.
    pub owner: String,
    /// The backup database's tables and columns, read once: only [`Backup::plan_rows`] changes
    /// them (and reads them again), so each sync does not ask the catalogue.
    catalogue: Arc<std::sync::Mutex<Option<Arc<Catalogue>>>>,
}

impl Backup {
    /// Lays out the backup's data directory as a Seafile server expects it (`storage/`,
    /// `tmpfiles/`, `httptemp/`), makes the backup database a complete Seafile database (every
    /// table of Seafile's `seafile.sql`, missing columns added) with seaf-backup's state table,
    /// and prepares the primary client.
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
        db.create_state_tables().await?;
        let owner = format!(
            "{}:{}:{}",
            host_name(),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(Backup {
            db,
            store,
            primary: PrimaryClient::new(primary_url, config.sync_token()?)?,
            owner,
            catalogue: Arc::default(),
        })
    }

    /// Releases the leases of earlier backup processes on this host that are gone (killed,
    /// crashed, a restarted container that got the same pid), so their libraries are synced
    /// now rather than when the leases expire. Returns how many libraries were released.
    pub async fn release_dead_leases(&self) -> anyhow::Result<u64> {
        let host = host_name();
        let mut released = 0;
        for owner in self.db.lock_owners().await? {
            if owner == self.owner {
                continue;
            }
            // `host:pid:nonce`; the host name itself may contain colons.
            let mut parts = owner.rsplitn(3, ':');
            let (Some(_nonce), Some(pid), Some(owner_host)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            let gone = pid == std::process::id() || !std::path::Path::new(&format!("/proc/{pid}")).exists();
            if owner_host == host && gone {
                let n = self.db.release_all(&owner).await?;
                tracing::info!(%owner, libraries = n, "released the leases of a backup process that is gone");
                released += n;
            }
        }
        Ok(released)
    }

    /// Syncs one library to the primary's current head.
    pub async fn sync_library(
        &self,
        repo: RepoId,
        options: SyncOptions,
        progress: sync::Progress<'_>,
    ) -> anyhow::Result<SyncOutcome> {
        if !self.db.try_lock(&repo, &self.owner, LEASE_MS).await? {
            return Ok(SyncOutcome::Busy);
        }
        let renew = {
            let (db, owner) = (self.db.clone(), self.owner.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(LEASE_MS as u64 / 3)).await;
                    if !matches!(db.renew_lock(&repo, &owner, LEASE_MS).await, Ok(true)) {
                        return;
                    }
                }
            })
        };
        let started = Instant::now();
        let result = self.sync_locked(repo, options, progress).await;
        renew.abort();
        match &result {
            Ok(
                SyncOutcome::Applied { .. } | SyncOutcome::NoOp | SyncOutcome::Deleted | SyncOutcome::Trashed { .. },
            ) => {
                metrics::histogram!("seaf_backup_repo_sync_seconds").record(started.elapsed().as_secs_f64());
            }
            Ok(SyncOutcome::Busy) => {}
            Err(e) => {
                let message = format!("{e:#}");
                if is_transient(e) {
                    // The primary is away or the database deadlocked: back to waiting, retried.
                    self.db.release(&repo, &self.owner, SyncState::Waiting).await?;
                } else {
                    self.db.fail_sync(&repo, &self.owner, &message).await?;
                }
            }
        }
        result
    }

    async fn sync_locked(
        &self,
        repo: RepoId,
        options: SyncOptions,
        progress: sync::Progress<'_>,
    ) -> anyhow::Result<SyncOutcome> {
        let rows = self.primary.library_rows(&repo).await.map_err(SyncError::Remote)?;
        match rows.state()? {
            LibraryState::Live { head } => self.sync_live(&rows, head, options, progress).await,
            LibraryState::Trashed { head } => self.sync_trashed(&rows, head, options, progress).await,
            LibraryState::Gone => {
                // Purged from the primary's trash, or deleted without one: nothing is removed.
                let mut tx = self.db.begin().await?;
                tx.mark_deleted(&repo, &self.owner).await?;
                tx.commit().await?;
                tracing::info!(%repo, "library gone from the primary; its backup is kept");
                Ok(SyncOutcome::Deleted)
            }
        }
    }

    /// A library in use on the primary: its objects up to `head`, then its rows and head in one
    /// transaction. Rows are rewritten also when only they changed (a size, a type).
    async fn sync_live(
        &self,
        rows: &LibraryRows,
        head: ObjectId,
        options: SyncOptions,
        progress: sync::Progress<'_>,
    ) -> anyhow::Result<SyncOutcome> {
        let repo = rows.repo_id;
        let stores = RepoStores::new(repo, rows.origin()?);
        let writes = self.plan_rows(rows).await?;
        let local_head = self.db.head(&repo).await?;
        let present = local_head == Some(head) && self.store.exists(ObjectKind::Commit, &repo, &head)?;
        if present && !library_rows::differs(&writes, &self.db.current_rows(&repo, &writes).await?) {
            self.db.release(&repo, &self.owner, SyncState::Synced).await?;
            return Ok(SyncOutcome::NoOp);
        }
        let report = if present {
            SyncReport::default()
        } else {
            let remote = self.primary.library(repo);
            sync::sync_objects(&remote, &self.store, stores, head, options, progress).await?
        };
        // A head that does not descend from the old one: the primary ran seaf-fsck (or reset).
        // History is kept; the old head is recorded.
        let old_head = match local_head {
            Some(old) if old != head && !self.is_ancestor(&repo, &old, &head)? => {
                tracing::warn!(%repo, %old, new = %head, "the primary moved the head backwards or elsewhere; keeping all history");
                Some(old)
            }
            _ => None,
        };
        self.write_rows(&repo, &writes, Finish::Synced { head, old_head })
            .await?;
        Ok(SyncOutcome::Applied { head, report, old_head })
    }

    /// A library in the primary's trash: its whole history up to the trash's head (nothing to
    /// fetch when it was backed up live), then the primary's rows (the trash row, the live ones
    /// gone) in one transaction, as Seafile moved them.
    async fn sync_trashed(
        &self,
        rows: &LibraryRows,
        head: ObjectId,
        options: SyncOptions,
        progress: sync::Progress<'_>,
    ) -> anyhow::Result<SyncOutcome> {
        let repo = rows.repo_id;
        // Seafile removes virtual libraries with their origin instead of trashing them.
        let stores = RepoStores::new(repo, None);
        let remote = self.primary.library(repo);
        let report = sync::sync_objects(&remote, &self.store, stores, head, options, progress).await?;
        let writes = self.plan_rows(rows).await?;
        self.write_rows(&repo, &writes, Finish::Trashed).await?;
        tracing::info!(%repo, %head, "library in the primary's trash; moved to the backup's trash, data kept");
        Ok(SyncOutcome::Trashed { head, report })
    }

    /// The writes that make the backup hold `rows`, after adding the columns a newer primary has
    /// and the backup lacks (never dropping any). Schema changes happen here, outside the head's
    /// transaction, because MySQL commits a transaction at every `ALTER TABLE`.
    async fn plan_rows(&self, rows: &LibraryRows) -> anyhow::Result<Vec<TableWrite>> {
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
    async fn catalogue(&self, refresh: bool) -> Result<Arc<Catalogue>, seaf_seafile::DbError> {
        if !refresh {
            if let Some(c) = self.catalogue.lock().expect("catalogue lock").clone() {
                return Ok(c);
            }
        }
        let fresh = Arc::new(self.db.catalogue().await?);
        *self.catalogue.lock().expect("catalogue lock") = Some(fresh.clone());
        Ok(fresh)
    }

    /// Writes a library's rows and its sync state in one transaction, repeated when the
    /// database reports a deadlock or is busy: concurrent transactions on other libraries can
    /// deadlock on MySQL's gap locks (or find SQLite busy), and the transaction is safe to repeat.
    async fn write_rows(&self, repo: &RepoId, writes: &[TableWrite], finish: Finish) -> anyhow::Result<()> {
        let mut attempt = 0;
        loop {
            let result = async {
                let mut tx = self.db.begin().await?;
                tx.write_library(repo, writes).await?;
                match &finish {
                    Finish::Synced { head, old_head } => {
                        tx.finish_sync(repo, &self.owner, head, old_head.as_ref()).await?
                    }
                    Finish::Trashed => tx.mark_deleted(repo, &self.owner).await?,
                }
                tx.commit().await
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 8 && e.is_retryable() => {
                    attempt += 1;
                    tracing::debug!(%repo, error = %e, attempt, "retrying the head transaction");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether `ancestor` is in the local history of `head` (both present, by the invariant).
    fn is_ancestor(&self, repo: &RepoId, ancestor: &ObjectId, head: &ObjectId) -> anyhow::Result<bool> {
        let mut seen = HashSet::new();
        let mut stack = vec![*head];
        while let Some(id) = stack.pop() {
            if id == *ancestor {
                return Ok(true);
            }
            if !seen.insert(id) {
                continue;
            }
            let Ok(bytes) = self.store.read(ObjectKind::Commit, repo, &id) else {
                continue;
            };
            if let Ok(c) = Commit::parse(&bytes) {
                stack.extend(c.parents());
            }
        }
        Ok(false)
    }

    /// Every head in the backup database, read page by page so the database rows of 100k
    /// libraries are never all in memory at once.
    async fn local_heads(&self) -> anyhow::Result<HashMap<RepoId, ObjectId>> {
        let mut local = HashMap::new();
        let mut after = None;
        loop {
            let page = self.db.heads_page(after.as_ref(), SCAN_PAGE).await?;
            after = page.last().map(|(repo, _)| *repo);
            let full = page.len() == SCAN_PAGE as usize;
            local.extend(page);
            if !full {
                return Ok(local);
            }
        }
    }

    /// Compares every library and the trash with the primary and marks the differences
    /// waiting ([`trash::to_sync`] for the trash). Returns how many were marked.
    pub async fn full_scan(&self) -> anyhow::Result<usize> {
        let started = Instant::now();
        // The lists at once: each is a database read (the primary's over HTTP).
        let (primary, local, primary_trash) =
            tokio::join!(self.primary.all_heads(), self.local_heads(), self.primary.trash());
        let primary: HashMap<RepoId, ObjectId> = primary.map_err(SyncError::Remote)?.into_iter().collect();
        let primary_trash = primary_trash.map_err(SyncError::Remote)?.repos;
        let local = local?;
        // Sync states matter only for libraries the primary no longer lists (usually none).
        let states: HashMap<RepoId, SyncState> = if local.keys().any(|repo| !primary.contains_key(repo)) {
            self.db
                .sync_states()
                .await?
                .into_iter()
                .map(|s| (s.repo_id, s.state))
                .collect()
        } else {
            HashMap::new()
        };
        let mut differ: Vec<RepoId> = primary
            .iter()
            .filter(|(repo, head)| local.get(*repo) != Some(*head))
            .map(|(repo, _)| *repo)
            .collect();
        differ.extend(
            local
                .keys()
                .filter(|repo| !primary.contains_key(*repo) && states.get(*repo) != Some(&SyncState::Deleted)),
        );
        if !primary_trash.is_empty() {
            let local_trash: HashMap<RepoId, Option<ObjectId>> = self
                .db
                .trashed_repos()
                .await?
                .into_iter()
                .map(|t| (t.repo_id, t.head_id))
                .collect();
            differ.extend(trash::to_sync(&primary_trash, &local_trash));
        }
        let mut seen = HashSet::new();
        differ.retain(|repo| seen.insert(*repo));
        self.db.mark_waiting_many(&differ).await?;
        let marked = differ.len();
        metrics::gauge!("seaf_backup_full_scan_seconds").set(started.elapsed().as_secs_f64());
        tracing::info!(libraries = primary.len(), marked, took = ?started.elapsed(), "full scan done");
        Ok(marked)
    }
}

/// Runs the backup role until the process is stopped.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let settings = config.backup()?.clone();
    let prometheus = telemetry::install_recorder()?;
    let health = Health::default();
    health.register("broker", Duration::from_secs(60));
    health.register("primary", Duration::from_secs(60));
    health.register("database", Duration::from_secs(60));
    // Tables first: once /healthz answers, the backup database is ready for status and sync.
    let backup = Backup::open(config).await?;
    let metrics_addr = telemetry::serve(&settings.metrics_listen, prometheus, health.clone()).await?;
    backup.store.sweep_temp_files()?;
    backup.release_dead_leases().await?;
    let wake = Arc::new(Notify::new());
    tracing::info!(metrics = %metrics_addr, owner = %backup.owner, "backup started");

    let codec = seaf_kafka::Codec::for_settings(&config.kafka).await?;
    let intake = seaf_kafka::Intake::new(config.kafka.clone(), codec)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let sink = consumer::BackupSink::new(backup.clone(), wake.clone(), health.clone());
    let consumer = tokio::spawn(consumer::run(intake, sink, stop.clone()));
    tokio::spawn(scan_loop(
        backup.clone(),
        settings.sync_poll_interval,
        wake.clone(),
        health.clone(),
    ));
    tokio::spawn(state_gauges(backup.db.clone()));
    let workers = tokio::spawn(worker_loop(backup.clone(), settings.workers.max(1), wake, health));
    tokio::select! {
        _ = crate::shutdown::signal() => tracing::info!("stopping"),
        r = workers => r?,
    }
    stop.cancel();
    if tokio::time::timeout(Duration::from_secs(15), consumer).await.is_err() {
        tracing::warn!("the consumer did not stop within 15 s");
    }
    // Hand unfinished libraries back at once instead of leaving them to lease expiry. Objects
    // already written stay: they are whole, and the next sync starts above them.
    let released = backup.db.release_all(&backup.owner).await?;
    tracing::info!(released, "stopped");
    Ok(())
}

/// This machine's name, as leases record it.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// After the primary could not be reached, workers pause this long before trying again; the
/// pause doubles up to [`PAUSE_MAX`], so an absent primary is not hammered and the log stays
/// readable, and it ends at the first sync that reaches the primary.
const PAUSE_MIN: Duration = Duration::from_secs(1);
const PAUSE_MAX: Duration = Duration::from_secs(10);

/// The workers' pause while the primary is away.
#[derive(Default)]
struct PrimaryPause(Option<(Instant, Duration)>);

impl PrimaryPause {
    /// How long until syncs may start again (zero when not paused).
    fn left(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |(until, _)| {
            until.saturating_duration_since(Instant::now())
        })
    }

    fn unreachable(&mut self) {
        let wait = self.0.map_or(PAUSE_MIN, |(_, w)| (w * 2).min(PAUSE_MAX));
        self.0 = Some((Instant::now() + wait, wait));
    }

    fn reached(&mut self) {
        self.0 = None;
    }
}

/// Takes waiting libraries and syncs them, `workers` at a time.
async fn worker_loop(backup: Backup, workers: usize, wake: Arc<Notify>, health: Health) {
    let permits = Arc::new(Semaphore::new(workers));
    let active: Arc<std::sync::Mutex<HashSet<RepoId>>> = Arc::default();
    let pause: Arc<std::sync::Mutex<PrimaryPause>> = Arc::default();
    let mut backoff = Duration::from_millis(200);
    loop {
        let left = pause.lock().expect("pause lock").left();
        if !left.is_zero() {
            tokio::time::sleep(left).await;
        }
        let ready = match backup.db.ready_to_sync(workers as u32 * 4).await {
            Ok(r) => {
                health.ok("database");
                r
            }
            Err(e) => {
                health.failed("database", &e);
                tracing::warn!(error = %e, "cannot read the sync queue");
                Vec::new()
            }
        };
        let mut started = 0;
        for repo in ready {
            if !pause.lock().expect("pause lock").left().is_zero() {
                break;
            }
            if !active.lock().expect("active lock").insert(repo) {
                continue;
            }
            let permit = permits.clone().acquire_owned().await.expect("semaphore open");
            started += 1;
            let (backup, active, pause, health, wake) = (
                backup.clone(),
                active.clone(),
                pause.clone(),
                health.clone(),
                wake.clone(),
            );
            tokio::spawn(async move {
                let quiet = |_: &str, _: u64| {};
                let result = backup.sync_library(repo, SyncOptions::default(), &quiet).await;
                record_outcome(&repo, &result, &health);
                match &result {
                    Err(e) if primary_unreachable(e) => pause.lock().expect("pause lock").unreachable(),
                    Ok(_) => pause.lock().expect("pause lock").reached(),
                    Err(_) => {}
                }
                active.lock().expect("active lock").remove(&repo);
                drop(permit);
                wake.notify_one();
            });
        }
        if started == 0 {
            // Nothing to do: wait for the consumer or a finished sync, or look again shortly
            // (other processes share the queue).
            let _ = tokio::time::timeout(backoff, wake.notified()).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        } else {
            backoff = Duration::from_millis(200);
        }
    }
}

fn record_outcome(repo: &RepoId, result: &anyhow::Result<SyncOutcome>, health: &Health) {
    let label = match result {
        Ok(SyncOutcome::NoOp) => "no_op",
        Ok(SyncOutcome::Applied { head, report, old_head }) => {
            tracing::info!(%repo, %head, objects = report.objects(), bytes = report.bytes, old_head = ?old_head, "synced");
            "applied"
        }
        Ok(SyncOutcome::Trashed { head, report }) => {
            tracing::info!(%repo, %head, objects = report.objects(), "moved to the trash");
            "trashed"
        }
        Ok(SyncOutcome::Deleted) => "deleted",
        Ok(SyncOutcome::Busy) => return,
        Err(e) if is_transient(e) => {
            if primary_unreachable(e) {
                health.failed("primary", e);
            }
            tracing::info!(%repo, error = %format!("{e:#}"), "sync interrupted; the library stays waiting and is retried");
            "retried"
        }
        Err(e) => {
            tracing::warn!(%repo, error = %format!("{e:#}"), "sync failed");
            "failed"
        }
    };
    if result.is_ok() {
        health.ok("primary");
    }
    metrics::counter!("seaf_backup_events_total", "result" => label).increment(1);
}

/// The primary did not answer (or answered with a server error).
fn primary_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<SyncError>()
            .is_some_and(|s| matches!(s, SyncError::Remote(_)))
    })
}

/// Errors a later attempt can get past without an operator: the primary away, a database
/// deadlock or busy timeout.
fn is_transient(e: &anyhow::Error) -> bool {
    primary_unreachable(e)
        || e.chain().any(|cause| {
            cause
                .downcast_ref::<seaf_seafile::DbError>()
                .is_some_and(|d| d.is_retryable())
        })
}

/// A full scan at start and every `period`.
async fn scan_loop(backup: Backup, period: Duration, wake: Arc<Notify>, health: Health) {
    loop {
        match backup.full_scan().await {
            Ok(marked) => {
                health.ok("primary");
                if marked > 0 {
                    wake.notify_one();
                }
                tokio::time::sleep(period).await;
            }
            Err(e) => {
                health.failed("primary", &e);
                tracing::warn!(error = %format!("{e:#}"), "full scan failed; retrying in 30 s");
                tokio::time::sleep(Duration::from_secs(30).min(period)).await;
            }
        }
    }
}

/// Keeps `seaf_backup_repos{state}` current.
async fn state_gauges(db: SeafileDb) {
    loop {
        // Counted by the database: reading every row every 5 s would cost memory and time in
        // proportion to the number of libraries.
        if let Ok(counts) = db.state_counts().await {
            for state in SyncState::ALL {
                let n = counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
                metrics::gauge!("seaf_backup_repos", "state" => state.as_str()).set(n as f64);
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_doubles_up_to_the_cap_and_ends_when_the_primary_answers() {
        let mut pause = PrimaryPause::default();
        assert!(pause.left().is_zero());
        let mut waits = Vec::new();
        for _ in 0..6 {
            pause.unreachable();
            waits.push(pause.0.unwrap().1);
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert!(!pause.left().is_zero());
        pause.reached();
        assert!(pause.left().is_zero());
    }
}
