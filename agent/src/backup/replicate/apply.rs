//! Apply: write a [`Plan`] in closure order — blocks, then fs objects level by level, then
//! commits oldest first — each level one durable batch, so that when a level is written
//! everything it points at is already on disk. Blocks are fetched here, in batches of at most
//! [`BLOCK_BATCH_BYTES`], because they are the bulk of the data.

use seaf_seafile::{ObjectKind, RepoStores, StoreError};

use crate::backup::durable::GroupCommit;

use crate::internal_events::store::{BytesFetched, ObjectsWritten};
use crate::internal_events::InternalEvent;

use super::disk;
use super::fetch::{fetch_verified, Wanted, BATCH};
use super::plan::{Level, Plan};
use super::remote::Remote;
use super::report::{Progress, ReplicateError, SyncOptions, SyncReport};

/// Bytes of blocks written per durable batch.
pub const BLOCK_BATCH_BYTES: usize = 64 << 20;

/// Writes everything `plan` holds or lists. When it returns `Ok`, the head's closure is whole
/// and durable (or, with `force`, whole but for `report.skipped`).
pub async fn apply<R: Remote>(
    remote: &R,
    commit: &GroupCommit,
    stores: RepoStores,
    plan: Plan,
    options: SyncOptions,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> Result<(), ReplicateError> {
    write_blocks(remote, commit, stores, &plan.blocks, options, report, progress).await?;
    for level in plan.fs_levels {
        write_level(commit, ObjectKind::Fs, stores, level, report).await?;
    }
    progress("fs", report.fs_objects);
    for level in plan.commit_levels {
        write_level(commit, ObjectKind::Commit, stores, level, report).await?;
    }
    progress("commits", report.commits);
    Ok(())
}

async fn write_blocks<R: Remote>(
    remote: &R,
    commit: &GroupCommit,
    stores: RepoStores,
    blocks: &[Wanted],
    options: SyncOptions,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> Result<(), ReplicateError> {
    let mut pending: Level = Vec::new();
    let mut pending_bytes = 0;
    for chunk in blocks.chunks(BATCH) {
        for v in fetch_verified(remote, ObjectKind::Block, chunk, options, report).await? {
            pending_bytes += v.bytes.len();
            pending.push((v.id, v.bytes));
            if pending_bytes >= BLOCK_BATCH_BYTES {
                write_level(commit, ObjectKind::Block, stores, std::mem::take(&mut pending), report).await?;
                pending_bytes = 0;
                progress("blocks", report.blocks);
            }
        }
    }
    write_level(commit, ObjectKind::Block, stores, pending, report).await?;
    progress("blocks", report.blocks);
    Ok(())
}

/// One durable batch of objects of one kind.
async fn write_level(
    commit: &GroupCommit,
    kind: ObjectKind,
    stores: RepoStores,
    objects: Level,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    if objects.is_empty() {
        return Ok(());
    }
    let (count, bytes) = (objects.len(), objects.iter().map(|(_, d)| d.len() as u64).sum());
    disk::write_batch(commit, kind, stores.store_for(kind), objects).await?;
    report.wrote(kind, count, bytes);
    BytesFetched { bytes }.emit();
    ObjectsWritten {
        kind,
        count: count as u64,
        bytes,
    }
    .emit();
    Ok(())
}
