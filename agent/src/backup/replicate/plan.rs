//! Plan: what the backup is missing of a head's closure, fetched and verified (commits and fs
//! objects) or listed (blocks), in closure order. The walk stops at the first object present,
//! which the closure invariant makes safe: a present object's subtree and history are present.

use std::collections::{HashMap, HashSet};

use seaf_seafile::{FsObject, ObjectId, ObjectKind, ObjectStore, RepoStores};

use super::disk;
use super::fetch::{fetch_verified, Parsed, Wanted};
use super::remote::Remote;
use super::report::{Progress, ReplicateError, SyncOptions, SyncReport};
use crate::pack::order::{levels, Cycle};
use crate::pack::walk::child_path;

/// Objects as they will be written: id and bytes.
pub type Level = Vec<(ObjectId, Vec<u8>)>;

/// Everything a sync writes, in the order it must be written.
#[derive(Default)]
pub struct Plan {
    /// Blocks of new files that the backup lacks (blocks have no order among them).
    pub blocks: Vec<Wanted>,
    /// New fs objects, files and leaf directories first, each directory after its children.
    pub fs_levels: Vec<Level>,
    /// New commits, oldest first, each after its parents.
    pub commit_levels: Vec<Level>,
}

/// A new object and the ids it points at (parents of a commit, entries of a directory).
struct Node {
    bytes: Vec<u8>,
    deps: Vec<ObjectId>,
}

/// Walks the primary from `head` down to what `store` has.
pub async fn plan<R: Remote>(
    remote: &R,
    store: &ObjectStore,
    stores: RepoStores,
    head: ObjectId,
    options: SyncOptions,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> Result<Plan, ReplicateError> {
    let (commits, roots) = walk_commits(remote, store, stores, head, options, report, progress).await?;
    let (fs, files_blocks) = walk_trees(remote, store, stores, roots, options, report, progress).await?;
    let blocks = disk::missing(store, ObjectKind::Block, stores.objects, files_blocks).await?;
    let fs_levels = in_levels(fs).map_err(|Cycle(id)| ReplicateError::Corrupt {
        kind: ObjectKind::Fs,
        id,
        path: None,
        error: seaf_seafile::ObjectError::BadJson("a directory that contains itself".into()),
    })?;
    let commit_levels = in_levels(commits).map_err(|Cycle(id)| ReplicateError::CommitCycle(id))?;
    Ok(Plan {
        blocks,
        fs_levels,
        commit_levels,
    })
}

/// New commits from `head` down, one request per generation; returns them and their roots.
async fn walk_commits<R: Remote>(
    remote: &R,
    store: &ObjectStore,
    stores: RepoStores,
    head: ObjectId,
    options: SyncOptions,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> Result<(HashMap<ObjectId, Node>, Vec<ObjectId>), ReplicateError> {
    let mut new: HashMap<ObjectId, Node> = HashMap::new();
    let mut roots = Vec::new();
    let mut seen = HashSet::new();
    let mut frontier = vec![head];
    while !frontier.is_empty() {
        let unseen = frontier.drain(..).filter(|id| seen.insert(*id));
        let unseen: Vec<Wanted> = unseen.map(|id| Wanted { id, path: None }).collect();
        let wanted = disk::missing(store, ObjectKind::Commit, stores.repo, unseen).await?;
        for v in fetch_verified(remote, ObjectKind::Commit, &wanted, options, report).await? {
            let Parsed::Commit(commit) = v.object else { continue };
            let deps: Vec<ObjectId> = commit.parents().collect();
            frontier.extend(deps.iter().copied());
            roots.push(commit.root_id);
            new.insert(v.id, Node { bytes: v.bytes, deps });
        }
        progress("commits", new.len() as u64);
    }
    Ok((new, roots))
}

/// New fs objects under `roots`, one request per tree level; returns them and the blocks of
/// the new files (each once, with a path for messages).
async fn walk_trees<R: Remote>(
    remote: &R,
    store: &ObjectStore,
    stores: RepoStores,
    roots: Vec<ObjectId>,
    options: SyncOptions,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> Result<(HashMap<ObjectId, Node>, Vec<Wanted>), ReplicateError> {
    let mut new: HashMap<ObjectId, Node> = HashMap::new();
    let mut blocks = Vec::new();
    let (mut seen, mut seen_blocks) = (HashSet::new(), HashSet::new());
    let mut level: Vec<Wanted> = roots
        .into_iter()
        .map(|id| Wanted {
            id,
            path: Some("/".into()),
        })
        .collect();
    while !level.is_empty() {
        let unseen: Vec<Wanted> = level
            .drain(..)
            .filter(|w| !w.id.is_zero() && seen.insert(w.id))
            .collect();
        let wanted = disk::missing(store, ObjectKind::Fs, stores.objects, unseen).await?;
        for v in fetch_verified(remote, ObjectKind::Fs, &wanted, options, report).await? {
            let Parsed::Fs(object) = v.object else { continue };
            let here = v.path.unwrap_or_default();
            let deps = match object {
                FsObject::Dir(dir) => dir
                    .dirents
                    .into_iter()
                    .filter(|d| !d.id.is_zero())
                    .map(|d| {
                        level.push(Wanted {
                            id: d.id,
                            path: Some(child_path(&here, &d.name)),
                        });
                        d.id
                    })
                    .collect(),
                FsObject::File(file) => {
                    let fresh = file.block_ids.into_iter().filter(|b| seen_blocks.insert(*b));
                    blocks.extend(fresh.map(|id| Wanted {
                        id,
                        path: Some(here.clone()),
                    }));
                    Vec::new()
                }
            };
            new.insert(v.id, Node { bytes: v.bytes, deps });
        }
        progress("fs", new.len() as u64);
    }
    Ok((new, blocks))
}

/// The nodes in closure order, their bytes moved into the levels.
fn in_levels(mut nodes: HashMap<ObjectId, Node>) -> Result<Vec<Level>, Cycle<ObjectId>> {
    let ids: Vec<ObjectId> = nodes.keys().copied().collect();
    let order = levels(&ids, |id| nodes[id].deps.clone())?;
    Ok(order
        .into_iter()
        .map(|level| {
            level
                .into_iter()
                .map(|id| (id, nodes.remove(&id).expect("planned").bytes))
                .collect()
        })
        .collect())
}
