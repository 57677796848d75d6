//! Replication of one library's objects, keeping the closure invariant.
//!
//! The pack exchange ([`receive`], and `crate::pack` for the primary's side) is the way: one
//! request tells the primary what the backup has and wants, and the answer streams every
//! missing object in closure order, each verified and staged, in batches made durable by the
//! group commit (`backup::durable`). A broken stream resumes from the newest commit whose
//! batch is durable, and so does the next sync after a restart ([`resume`]).
//!
//! Primaries older than packs are walked object by object:
//! 1. [`plan`]: walk from the primary's head down to what the backup has — commits one
//!    generation a request, fs objects one tree level a request — verifying every id, and put
//!    the new objects in closure order (`crate::pack::order`); a commit cycle stops the sync.
//! 2. [`apply`]: fetch the missing blocks and write everything in that order, each level one
//!    durable batch: blocks, fs objects from the leaves up, commits oldest first.
//!
//! "Object X exists on the backup" therefore means "X's whole subtree and history exist",
//! which is why a walk may stop at the first object present, why a sync can be killed
//! anywhere and resumed, and why the caller may move the head once [`replicate`] returns. The
//! primary is reached only through [`Remote`]: nothing here knows about HTTP.

pub mod apply;
pub mod disk;
pub mod fetch;
pub mod plan;
pub mod receive;
pub mod remote;
pub mod report;
pub mod resume;
#[cfg(test)]
mod tests;

use seaf_seafile::{ObjectId, ObjectStore, RepoStores};

use super::durable::GroupCommit;
use crate::pack::MAX_HAVES;
use receive::Target;
pub use remote::{Chunks, Fetched, Remote, RemoteError};
pub use report::{Progress, ReplicateError, Skipped, SyncOptions, SyncReport};
use resume::Durable;

/// Times a broken pack is asked for again, each time from where the last one got to.
const MAX_RESUMES: usize = 5;

/// Where a library's objects go.
#[derive(Clone, Copy)]
pub struct Local<'a> {
    pub store: &'a ObjectStore,
    pub commit: &'a GroupCommit,
}

/// Brings every object of `head`'s closure into the store; `haves` are commits the backup has
/// (their closures are not asked for). When it returns `Ok`, the closure is complete and
/// durable (or, with `force`, complete but for `report.skipped`).
pub async fn replicate<R: Remote>(
    remote: &R,
    local: Local<'_>,
    stores: RepoStores,
    head: ObjectId,
    haves: &[ObjectId],
    options: SyncOptions,
    progress: Progress<'_>,
) -> Result<SyncReport, ReplicateError> {
    let mut report = SyncReport::default();
    let target = Target {
        store: local.store,
        stores,
        commit: local.commit,
        want: head,
        options,
    };
    // Where an earlier, unfinished sync got to (a restart in the middle of a first copy).
    let mut durable = {
        let store = local.store.clone();
        disk::blocking(move || Ok(Durable::load(&store, stores.repo))).await?
    };
    for attempt in 0.. {
        let asked: Vec<ObjectId> = haves.iter().copied().chain(durable.newest()).take(MAX_HAVES).collect();
        let Some(chunks) = remote.pack(head, &asked).await? else {
            return walk_object_by_object(remote, local, stores, head, options, progress).await;
        };
        let before = durable.newest();
        match receive::receive(chunks, &target, &mut report, &mut durable, progress).await {
            Ok(()) => {
                durable.finished().await;
                return Ok(report);
            }
            Err(ReplicateError::Remote(e))
                if e.is_transient() && durable.newest() != before && attempt < MAX_RESUMES =>
            {
                tracing::warn!(repo = %stores.repo, error = %e, resume_from = ?durable.newest(), "the pack broke off; asking again from the newest durable commit");
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// The walk for primaries older than packs.
async fn walk_object_by_object<R: Remote>(
    remote: &R,
    local: Local<'_>,
    stores: RepoStores,
    head: ObjectId,
    options: SyncOptions,
    progress: Progress<'_>,
) -> Result<SyncReport, ReplicateError> {
    let mut report = SyncReport::default();
    let plan = plan::plan(remote, local.store, stores, head, options, &mut report, progress).await?;
    apply::apply(remote, local.commit, stores, plan, options, &mut report, progress).await?;
    Ok(report)
}
