//! Replication of one library's objects, keeping the closure invariant.
//!
//! 1. [`plan`]: walk from the primary's head down to what the backup has — commits one
//!    generation a request, fs objects one tree level a request — verifying every id, and put
//!    the new objects in closure order ([`order`]); a commit cycle stops the sync here.
//! 2. [`apply`]: fetch the missing blocks and write everything in that order, each level one
//!    durable batch: blocks, fs objects from the leaves up, commits oldest first.
//!
//! "Object X exists on the backup" therefore means "X's whole subtree and history exist",
//! which is why the walk may stop at the first object present, why a sync can be killed
//! anywhere and resumed without refetching, and why the caller may move the head once
//! [`replicate`] returns. Every object goes through one fetch/verify/skip path ([`fetch`]),
//! and the primary is reached only through [`Remote`]: nothing here knows about HTTP.

pub mod apply;
pub mod disk;
pub mod fetch;
pub mod order;
pub mod plan;
pub mod remote;
pub mod report;
#[cfg(test)]
mod tests;

use seaf_seafile::{ObjectId, ObjectStore, RepoStores};

pub use remote::{Fetched, Remote, RemoteError};
pub use report::{Progress, ReplicateError, Skipped, SyncOptions, SyncReport};

/// Brings every object of `head`'s closure into `store`. When it returns `Ok`, the closure is
/// complete and durable (or, with `force`, complete but for `report.skipped`).
pub async fn replicate<R: Remote>(
    remote: &R,
    store: &ObjectStore,
    stores: RepoStores,
    head: ObjectId,
    options: SyncOptions,
    progress: Progress<'_>,
) -> Result<SyncReport, ReplicateError> {
    let mut report = SyncReport::default();
    let plan = plan::plan(remote, store, stores, head, options, &mut report, progress).await?;
    apply::apply(remote, store, stores, plan, options, &mut report, progress).await?;
    Ok(report)
}
