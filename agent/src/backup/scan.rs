//! The full scan: every head and the trash compared with the primary, the differences marked
//! waiting. It catches whatever the log missed (an outage longer than the topic's retention,
//! libraries trashed before the backup started) at start and every `sync_poll_interval`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seaf_seafile::{ObjectId, RepoId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::error::SyncError;
use super::library::Backup;
use super::queue::SyncState;
use super::trash;
use crate::internal_events::backup::FullScanDone;
use crate::internal_events::InternalEvent;
use crate::telemetry::Health;

/// Local heads read per query.
const SCAN_PAGE: u32 = 20_000;

impl Backup {
    /// Compares every library and the trash with the primary and marks the differences
    /// waiting ([`trash::to_sync`] for the trash). Returns how many were marked.
    pub async fn full_scan(&self) -> Result<usize, SyncError> {
        let started = Instant::now();
        // The lists at once: each is a database read (the primary's over HTTP).
        let (primary, local, primary_trash) =
            tokio::join!(self.primary.all_heads(), self.local_heads(), self.primary.trash());
        let primary: HashMap<RepoId, ObjectId> = primary?.into_iter().collect();
        let (primary_trash, local) = (primary_trash?.repos, local?);
        let mut differ: Vec<RepoId> = primary
            .iter()
            .filter(|(repo, head)| local.get(*repo) != Some(*head))
            .map(|(repo, _)| *repo)
            .collect();
        differ.extend(self.gone_from_primary(&primary, &local).await?);
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
        self.queue.mark_waiting(&differ).await?;
        FullScanDone {
            libraries: primary.len(),
            marked: differ.len(),
            took: started.elapsed(),
        }
        .emit();
        Ok(differ.len())
    }

    /// Local libraries the primary no longer lists and that are not yet recorded deleted.
    async fn gone_from_primary(
        &self,
        primary: &HashMap<RepoId, ObjectId>,
        local: &HashMap<RepoId, ObjectId>,
    ) -> Result<Vec<RepoId>, SyncError> {
        // Sync states matter only for these (usually none): read them only then.
        let gone: Vec<RepoId> = local.keys().filter(|r| !primary.contains_key(*r)).copied().collect();
        if gone.is_empty() {
            return Ok(gone);
        }
        let states: HashMap<RepoId, SyncState> = self
            .queue
            .states()
            .await?
            .into_iter()
            .map(|s| (s.repo_id, s.state))
            .collect();
        Ok(gone
            .into_iter()
            .filter(|r| states.get(r) != Some(&SyncState::Deleted))
            .collect())
    }

    /// Every head in the backup database, read page by page so the database rows of 100k
    /// libraries are never all in memory at once.
    async fn local_heads(&self) -> Result<HashMap<RepoId, ObjectId>, SyncError> {
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
}

/// A full scan at start and every `period`, until cancelled.
pub async fn scan_loop(backup: Backup, period: Duration, wake: Arc<Notify>, health: Health, cancel: CancellationToken) {
    loop {
        let scanned = tokio::select! {
            _ = cancel.cancelled() => return,
            scanned = backup.full_scan() => scanned,
        };
        let pause = match scanned {
            Ok(marked) => {
                health.ok("primary");
                if marked > 0 {
                    wake.notify_one();
                }
                period
            }
            Err(e) => {
                health.failed("primary", &e);
                tracing::warn!(error = %e, "full scan failed; retrying in 30 s");
                Duration::from_secs(30).min(period)
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
