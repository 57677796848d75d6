//! The scrub: a low-rate background pass over the backup store that re-reads and re-hashes
//! every object (bit rot, a bad sector, a file changed by hand), replaces a damaged one with the
//! primary's verified copy when the primary still has it, and, on its own interval, compares a
//! random library's head with the primary's ([`heads`]).
//!
//! - [`pace`]: the bytes-per-second limit (`[backup] scrub_bytes_per_second`);
//! - [`verify`]: the check of one object;
//! - [`heads`]: when a differing head is a fault;
//! - [`report`]: what it found, for `seaf-backup status`.
//!
//! Both loops end at the role's cancellation, between two objects or looks.

pub mod heads;
pub mod pace;
pub mod report;
pub mod verify;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use seaf_seafile::{ObjectId, ObjectKind, RepoId, StoreError};
use tokio_util::sync::CancellationToken;

use super::library::Backup;
use super::replicate::disk::blocking;
use super::replicate::Remote;
use crate::internal_events::scrub::{FullPassDone, HeadCompared, HeadMismatch, ObjectDamaged, ObjectScrubbed, Repair};
use crate::internal_events::InternalEvent;
use heads::{judge, Look, Verdict};
use pace::Pace;
use report::{Damaged, ScrubReport};

/// The pause between two full passes (a small store is not re-read in a loop).
const PASS_PAUSE: Duration = Duration::from_secs(10);
/// The pause after a pass failed (the store could not be listed).
const RETRY_PAUSE: Duration = Duration::from_secs(60);

/// How fast and how often.
#[derive(Debug, Clone, Copy)]
pub struct ScrubSettings {
    /// Zero: no re-reading.
    pub bytes_per_second: u64,
    /// Zero: no head comparison.
    pub head_interval: Duration,
}

type SharedReport = Arc<Mutex<ScrubReport>>;

/// Runs both loops until `cancel`.
pub async fn run(backup: Backup, settings: ScrubSettings, cancel: CancellationToken) {
    let data_dir = backup.store.data_dir().to_path_buf();
    let report: SharedReport = Arc::new(Mutex::new(ScrubReport::load(&data_dir)));
    tokio::join!(
        objects_loop(&backup, settings.bytes_per_second, &report, &cancel),
        heads_loop(&backup, settings.head_interval, &report, &cancel),
    );
}

/// Full passes, one after another, until cancelled.
async fn objects_loop(backup: &Backup, bytes_per_second: u64, report: &SharedReport, cancel: &CancellationToken) {
    if bytes_per_second == 0 {
        tracing::info!("scrub of the backup store disabled (scrub_bytes_per_second = 0)");
        return cancel.cancelled().await;
    }
    let mut pace = Pace::new(bytes_per_second, Instant::now());
    loop {
        let pause = match pass(backup, &mut pace, report, cancel).await {
            Ok(true) => PASS_PAUSE,
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "scrub: cannot list the backup store; trying again in a minute");
                RETRY_PAUSE
            }
        };
        if !pause_or_stop(pause, cancel).await {
            return;
        }
    }
}

/// One pass over every object; false when cancelled before its end.
async fn pass(
    backup: &Backup,
    pace: &mut Pace,
    report: &SharedReport,
    cancel: &CancellationToken,
) -> Result<bool, StoreError> {
    let started = Instant::now();
    let (mut objects, mut bytes, mut damaged) = (0u64, 0u64, 0u64);
    for kind in ObjectKind::ALL {
        let store = backup.store.clone();
        for repo in blocking(move || store.stores(kind)).await? {
            let store = backup.store.clone();
            for id in blocking(move || store.list(kind, &repo)).await? {
                // A repair waits on the primary: the stop does not wait for it (a write already
                // handed to the blocking pool ends by itself, atomically).
                let scrubbed = tokio::select! {
                    _ = cancel.cancelled() => return Ok(false),
                    s = scrub_one(backup, kind, repo, id, report) => s,
                };
                let Some((size, ok)) = scrubbed else {
                    continue;
                };
                (objects, bytes, damaged) = (objects + 1, bytes + size, damaged + u64::from(!ok));
                if !pause_or_stop(pace.read(size, Instant::now()), cancel).await {
                    return Ok(false);
                }
            }
        }
    }
    let at = unix_now();
    {
        let mut r = lock(report);
        (r.last_full_pass, r.objects, r.bytes) = (Some(at), objects, bytes);
    }
    save(backup, report);
    let took = started.elapsed();
    FullPassDone {
        objects,
        bytes,
        damaged,
        took,
        at,
    }
    .emit();
    Ok(true)
}

/// Re-reads and checks one object, repairing it when damaged (its content wrong, or the disk
/// failing to read it): its size and whether it was sound, or `None` when it is gone (removed
/// meanwhile).
async fn scrub_one(
    backup: &Backup,
    kind: ObjectKind,
    repo: RepoId,
    id: ObjectId,
    report: &SharedReport,
) -> Option<(u64, bool)> {
    let store = backup.store.clone();
    let (size, error) = match blocking(move || store.read(kind, &repo, &id)).await {
        Ok(bytes) => {
            ObjectScrubbed {
                kind,
                bytes: bytes.len() as u64,
            }
            .emit();
            match verify::check(kind, &id, &bytes) {
                Ok(()) => return Some((bytes.len() as u64, true)),
                Err(e) => (bytes.len() as u64, e.to_string()),
            }
        }
        Err(e) if e.is_not_found() => return None,
        // An I/O error (a bad sector) is damage too.
        Err(e) => (0, e.to_string()),
    };
    damaged(backup, kind, repo, id, &error, report).await;
    Some((size, false))
}

/// Repairs a damaged object when the primary has it, and reports it either way.
async fn damaged(backup: &Backup, kind: ObjectKind, repo: RepoId, id: ObjectId, error: &str, report: &SharedReport) {
    let path = backup.store.path(kind, &repo, &id);
    let repair = repair(backup, kind, repo, id).await.map_err(|e| format!("{e:#}"));
    ObjectDamaged {
        kind,
        store: repo,
        id,
        path: &path,
        error: &error,
        repair: match &repair {
            Ok(true) => Repair::Repaired,
            Ok(false) => Repair::NotOnPrimary,
            Err(why) => Repair::Failed(why),
        },
    }
    .emit();
    lock(report).add_damaged(Damaged {
        kind: kind.name().to_string(),
        store: repo.to_string(),
        id: id.to_hex(),
        path,
        error: error.to_string(),
        repaired: matches!(repair, Ok(true)),
    });
    save(backup, report);
}

/// Fetches the primary's copy, checks it and writes it over the damaged one (atomically, like
/// every write of the store). `Ok(false)`: the primary does not have a good copy.
async fn repair(backup: &Backup, kind: ObjectKind, repo: RepoId, id: ObjectId) -> anyhow::Result<bool> {
    let fetched = backup.primary.library(repo).fetch(kind, &[id]).await?;
    let Some((_, Some(bytes))) = fetched.into_iter().find(|(got, _)| *got == id) else {
        return Ok(false);
    };
    if verify::check(kind, &id, &bytes).is_err() {
        return Ok(false);
    }
    let store = backup.store.clone();
    blocking(move || store.write(kind, &repo, &id, &bytes)).await?;
    Ok(true)
}

/// One random library's head compared every `interval`, a suspect one again after it.
async fn heads_loop(backup: &Backup, interval: Duration, report: &SharedReport, cancel: &CancellationToken) {
    if interval.is_zero() {
        return cancel.cancelled().await;
    }
    let mut suspect: Option<Look> = None;
    while pause_or_stop(interval, cancel).await {
        let repo = match suspect {
            Some(s) => Some(s.repo),
            None => random_library(backup).await,
        };
        let Some(repo) = repo else { continue };
        let looked = tokio::select! {
            _ = cancel.cancelled() => return,
            l = look_at(backup, repo) => l,
        };
        let look = match looked {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, %repo, "scrub: cannot compare a head now");
                continue;
            }
        };
        HeadCompared.emit();
        suspect = match judge(&look, suspect.as_ref()) {
            Verdict::Fine => None,
            Verdict::Suspect => Some(look),
            Verdict::Mismatch => {
                mismatch(backup, &look, report).await;
                None
            }
        };
    }
}

async fn mismatch(backup: &Backup, look: &Look, report: &SharedReport) {
    HeadMismatch {
        repo: look.repo,
        backup: look.backup,
        primary: look.primary,
    }
    .emit();
    if let Err(e) = backup.queue.mark_waiting(&[look.repo]).await {
        tracing::warn!(error = %e, repo = %look.repo, "scrub: cannot mark the library waiting; the next full scan will");
    }
    lock(report).add_mismatch(look.repo.to_string());
    save(backup, report);
}

async fn look_at(backup: &Backup, repo: RepoId) -> anyhow::Result<Look> {
    let state = backup.queue.state(&repo).await?.map(|s| s.state);
    let local = backup.db.head(&repo).await?;
    let primary = backup.primary.metadata(&repo).await?.map(|m| m.head);
    Ok(Look {
        repo,
        state,
        backup: local,
        primary,
    })
}

/// The first library of the backup at or after a random id (or the first of all).
async fn random_library(backup: &Backup) -> Option<RepoId> {
    let after = RepoId::parse(&uuid::Uuid::new_v4().to_string()).ok();
    let page = backup.db.heads_page(after.as_ref(), 1).await.ok()?;
    match page.first() {
        Some((repo, _)) => Some(*repo),
        None => backup.db.heads_page(None, 1).await.ok()?.first().map(|(r, _)| *r),
    }
}

/// Waits `pause`; false when cancelled first.
async fn pause_or_stop(pause: Duration, cancel: &CancellationToken) -> bool {
    if pause.is_zero() {
        return !cancel.is_cancelled();
    }
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(pause) => true,
    }
}

fn save(backup: &Backup, report: &SharedReport) {
    let snapshot = lock(report).clone();
    if let Err(e) = snapshot.save(backup.store.data_dir()) {
        tracing::warn!(error = %e, "scrub: cannot save its report; `seaf-backup status` shows an older one");
    }
}

fn lock(report: &SharedReport) -> std::sync::MutexGuard<'_, ScrubReport> {
    report.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
