//! The store's blocking calls (stat, write, fsync/syncfs), run on tokio's blocking pool so a
//! slow disk stalls one sync, not the runtime's workers and every other sync with them.

use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId, StoreError};

use crate::backup::durable::GroupCommit;

use super::fetch::Wanted;

/// `wanted` without the objects `store_id` already has, in order.
pub async fn missing(
    store: &ObjectStore,
    kind: ObjectKind,
    store_id: RepoId,
    wanted: Vec<Wanted>,
) -> Result<Vec<Wanted>, StoreError> {
    if wanted.is_empty() {
        return Ok(wanted);
    }
    let store = store.clone();
    blocking(move || {
        let mut out = Vec::with_capacity(wanted.len());
        for w in wanted {
            if !store.exists(kind, &store_id, &w.id)? {
                out.push(w);
            }
        }
        Ok(out)
    })
    .await
}

/// Writes `objects` of `kind` into `store_id` as one durable batch, through the group commit
/// (sharing barriers with the other syncs).
pub async fn write_batch(
    commit: &GroupCommit,
    kind: ObjectKind,
    store_id: RepoId,
    objects: Vec<(ObjectId, Vec<u8>)>,
) -> Result<(), StoreError> {
    let mut batch = commit.batch();
    for (id, data) in objects {
        batch.stage(kind, store_id, id, data);
    }
    batch.commit().await
}

/// Runs `f` on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
