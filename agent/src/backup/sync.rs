//! Delta sync of one library, keeping the closure invariant.
//!
//! 1. Commits: walk from the primary's head until commits the backup already has.
//! 2. fs objects: walk the new commits' trees top-down until objects already present.
//! 3. Blocks: every block of a new file object that is not present.
//! 4. Write in closure order: blocks, then fs objects by height (files, then directories from
//!    the bottom up), then commits oldest first, each level one durable batch.
//!
//! "Object X exists on the backup" therefore means "X's whole subtree and history exist", which
//! is why the walk may stop at the first object present, why a sync can be killed anywhere and
//! resumed without refetching, and why the caller may move the head once [`sync_objects`]
//! returns. Every id is verified before anything is written.
//!
//! The primary is reached through [`Remote`]; nothing here knows about HTTP.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use seaf_seafile::{
    Commit, FsObject, NewObject, ObjectError, ObjectId, ObjectKind, ObjectStore, RepoStores, StoreError,
};

/// Ids fetched per request.
pub const BATCH: usize = 500;
/// Bytes of blocks written per durable batch.
const BLOCK_BATCH_BYTES: usize = 64 << 20;

/// One object fetched from the primary: its bytes, or `None` when the primary does not have it.
pub type Fetched = (ObjectId, Option<Vec<u8>>);

/// The primary's objects, as the sync needs them.
pub trait Remote: Sync {
    /// Commits of the library, in request order.
    fn commits(&self, ids: &[ObjectId]) -> impl Future<Output = Result<Vec<Fetched>, RemoteError>> + Send;
    /// fs objects of the library (from its origin's store for a virtual library).
    fn fs_objects(&self, ids: &[ObjectId]) -> impl Future<Output = Result<Vec<Fetched>, RemoteError>> + Send;
    /// Blocks of the library.
    fn blocks(&self, ids: &[ObjectId]) -> impl Future<Output = Result<Vec<Fetched>, RemoteError>> + Send;
}

/// The primary could not be asked (network, auth, protocol); retrying later may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RemoteError(pub String);

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot reach the primary: {0}")]
    Remote(#[from] RemoteError),
    #[error("{kind} object {id} is missing on the primary{}; run seaf-fsck on the primary, then `seaf-backup sync --force` to skip it", at(.path))]
    MissingOnPrimary {
        kind: ObjectKind,
        id: ObjectId,
        path: Option<String>,
    },
    #[error("{kind} object {id} from the primary is corrupt{}: {error}; run seaf-fsck on the primary, then `seaf-backup sync --force` to skip it", at(.path))]
    Corrupt {
        kind: ObjectKind,
        id: ObjectId,
        path: Option<String>,
        error: ObjectError,
    },
    #[error("writing the backup store failed: {0}")]
    Store(#[from] StoreError),
}

fn at(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!(" (at {p:?})")).unwrap_or_default()
}

impl SyncError {
    /// Errors that a retry cannot fix without an operator (corrupt data on the primary).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SyncError::MissingOnPrimary { .. } | SyncError::Corrupt { .. })
    }
}

/// An object `--force` skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: ObjectKind,
    pub id: ObjectId,
    pub path: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}{}: {}", self.kind, self.id, at(&self.path), self.reason)
    }
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub commits: u64,
    pub fs_objects: u64,
    pub blocks: u64,
    /// Bytes of objects fetched and written.
    pub bytes: u64,
    pub skipped: Vec<Skipped>,
}

impl SyncReport {
    pub fn objects(&self) -> u64 {
        self.commits + self.fs_objects + self.blocks
    }
}

/// Options of one sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Skip objects that are missing or corrupt on the primary instead of failing.
    pub force: bool,
}

/// Progress callback: (phase, objects done so far).
pub type Progress<'a> = &'a (dyn Fn(&str, u64) + Sync);

/// Brings every object of `head`'s closure into `store`. When it returns `Ok`, the closure is
/// complete and durable (or, with `force`, complete but for `report.skipped`).
pub async fn sync_objects<R: Remote>(
    remote: &R,
    store: &ObjectStore,
    stores: RepoStores,
    head: ObjectId,
    options: SyncOptions,
    progress: Progress<'_>,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();

    // 1. Commits, newest first, down to what is present.
    let mut new_commits: Vec<(ObjectId, Vec<u8>, Commit)> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut frontier = vec![head];
    while !frontier.is_empty() {
        let mut wanted = Vec::new();
        for id in frontier.drain(..) {
            if seen.insert(id) && !store.exists(ObjectKind::Commit, &stores.repo, &id)? {
                wanted.push(id);
            }
        }
        for chunk in wanted.chunks(BATCH) {
            for (id, bytes) in remote.commits(chunk).await? {
                let Some(bytes) = bytes else {
                    skip_or_fail(
                        &mut report,
                        options,
                        SyncError::MissingOnPrimary {
                            kind: ObjectKind::Commit,
                            id,
                            path: None,
                        },
                    )?;
                    continue;
                };
                match Commit::parse_verified(&id, &bytes) {
                    Ok((commit, _formula)) => {
                        frontier.extend(commit.parents());
                        new_commits.push((id, bytes, commit));
                    }
                    Err(error) => skip_or_fail(
                        &mut report,
                        options,
                        SyncError::Corrupt {
                            kind: ObjectKind::Commit,
                            id,
                            path: None,
                            error,
                        },
                    )?,
                }
            }
        }
        progress("commits", new_commits.len() as u64);
    }

    // 2. fs objects, top-down, down to what is present.
    let mut fs_new: HashMap<ObjectId, (Vec<u8>, Vec<ObjectId>)> = HashMap::new(); // id -> (bytes, new children)
    let mut blocks_wanted: Vec<(ObjectId, String)> = Vec::new();
    let mut seen_fs: HashSet<ObjectId> = HashSet::new();
    let mut seen_blocks: HashSet<ObjectId> = HashSet::new();
    let mut level: Vec<(ObjectId, String)> = new_commits
        .iter()
        .map(|(_, _, c)| (c.root_id, "/".to_string()))
        .collect();
    // Which parent asked for each object, so children can be attached after fetching.
    let mut parent_of: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    while !level.is_empty() {
        let mut wanted = Vec::new();
        for (id, path) in level.drain(..) {
            if !id.is_zero() && seen_fs.insert(id) && !store.exists(ObjectKind::Fs, &stores.objects, &id)? {
                wanted.push((id, path));
            }
        }
        let paths: HashMap<ObjectId, String> = wanted.iter().cloned().collect();
        let ids: Vec<ObjectId> = wanted.iter().map(|(i, _)| *i).collect();
        let mut next = Vec::new();
        for chunk in ids.chunks(BATCH) {
            for (id, bytes) in remote.fs_objects(chunk).await? {
                let path = paths.get(&id).cloned();
                let Some(bytes) = bytes else {
                    skip_or_fail(
                        &mut report,
                        options,
                        SyncError::MissingOnPrimary {
                            kind: ObjectKind::Fs,
                            id,
                            path,
                        },
                    )?;
                    continue;
                };
                let object = match FsObject::parse_verified(&id, &bytes) {
                    Ok(o) => o,
                    Err(error) => {
                        skip_or_fail(
                            &mut report,
                            options,
                            SyncError::Corrupt {
                                kind: ObjectKind::Fs,
                                id,
                                path,
                                error,
                            },
                        )?;
                        continue;
                    }
                };
                let here = path.unwrap_or_default();
                match object {
                    FsObject::Dir(dir) => {
                        for d in dir.dirents {
                            let child_path = if here == "/" {
                                format!("/{}", d.name)
                            } else {
                                format!("{here}/{}", d.name)
                            };
                            if !d.id.is_zero() {
                                parent_of.entry(d.id).or_default().push(id);
                                next.push((d.id, child_path));
                            }
                        }
                    }
                    FsObject::File(file) => {
                        for b in file.block_ids {
                            if seen_blocks.insert(b) {
                                blocks_wanted.push((b, here.clone()));
                            }
                        }
                    }
                }
                fs_new.insert(id, (bytes, Vec::new()));
            }
        }
        level = next;
        progress("fs", fs_new.len() as u64);
    }
    // Children edges among new objects only: present objects are already whole.
    for (child, parents) in &parent_of {
        if fs_new.contains_key(child) {
            for p in parents {
                if let Some((_, children)) = fs_new.get_mut(p) {
                    children.push(*child);
                }
            }
        }
    }

    // 3. Blocks: fetch, verify, write (no dependencies among blocks).
    let mut missing_blocks = Vec::new();
    for (id, path) in blocks_wanted {
        if !store.exists(ObjectKind::Block, &stores.objects, &id)? {
            missing_blocks.push((id, path));
        }
    }
    let block_paths: HashMap<ObjectId, String> = missing_blocks.iter().cloned().collect();
    let mut pending: Vec<(ObjectId, Vec<u8>)> = Vec::new();
    let mut pending_bytes = 0usize;
    let ids: Vec<ObjectId> = missing_blocks.iter().map(|(i, _)| *i).collect();
    for chunk in ids.chunks(BATCH) {
        for (id, bytes) in remote.blocks(chunk).await? {
            let path = block_paths.get(&id).cloned();
            let Some(bytes) = bytes else {
                skip_or_fail(
                    &mut report,
                    options,
                    SyncError::MissingOnPrimary {
                        kind: ObjectKind::Block,
                        id,
                        path,
                    },
                )?;
                continue;
            };
            let actual = ObjectId::hash_of(&bytes);
            if actual != id {
                let error = ObjectError::IdMismatch { expected: id, actual };
                skip_or_fail(
                    &mut report,
                    options,
                    SyncError::Corrupt {
                        kind: ObjectKind::Block,
                        id,
                        path,
                        error,
                    },
                )?;
                continue;
            }
            pending_bytes += bytes.len();
            pending.push((id, bytes));
            if pending_bytes >= BLOCK_BATCH_BYTES {
                write_level(store, ObjectKind::Block, &stores, &pending, &mut report)?;
                pending.clear();
                pending_bytes = 0;
                progress("blocks", report.blocks);
            }
        }
    }
    write_level(store, ObjectKind::Block, &stores, &pending, &mut report)?;
    progress("blocks", report.blocks);

    // 4. fs objects by height: files (0), then each directory after all its new children.
    let heights = heights(&fs_new);
    let max = heights.values().copied().max().unwrap_or(0);
    let mut by_height: Vec<Vec<ObjectId>> = vec![Vec::new(); max + 1];
    for (id, h) in &heights {
        by_height[*h].push(*id);
    }
    for ids in by_height {
        let level: Vec<(ObjectId, Vec<u8>)> = ids
            .into_iter()
            .map(|id| (id, fs_new.remove(&id).expect("fetched").0))
            .collect();
        write_level(store, ObjectKind::Fs, &stores, &level, &mut report)?;
    }
    progress("fs", report.fs_objects);

    // 5. Commits, oldest first: a commit after every new parent of it.
    let generations = commit_generations(&new_commits);
    for generation in generations {
        let level: Vec<(ObjectId, Vec<u8>)> = generation
            .into_iter()
            .map(|i| (new_commits[i].0, std::mem::take(&mut new_commits[i].1)))
            .collect();
        write_level(store, ObjectKind::Commit, &stores, &level, &mut report)?;
    }
    progress("commits", report.commits);
    Ok(report)
}

fn skip_or_fail(report: &mut SyncReport, options: SyncOptions, error: SyncError) -> Result<(), SyncError> {
    if !options.force {
        return Err(error);
    }
    let (kind, id, path) = match &error {
        SyncError::MissingOnPrimary { kind, id, path } | SyncError::Corrupt { kind, id, path, .. } => {
            (*kind, *id, path.clone())
        }
        _ => return Err(error),
    };
    let reason = match &error {
        SyncError::MissingOnPrimary { .. } => "missing on the primary".to_string(),
        SyncError::Corrupt { error, .. } => format!("corrupt on the primary ({error})"),
        _ => unreachable!(),
    };
    tracing::warn!(%kind, %id, %reason, "skipping (--force)");
    report.skipped.push(Skipped { kind, id, path, reason });
    Ok(())
}

fn write_level(
    store: &ObjectStore,
    kind: ObjectKind,
    stores: &RepoStores,
    objects: &[(ObjectId, Vec<u8>)],
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    if objects.is_empty() {
        return Ok(());
    }
    let store_id = stores.store_for(kind);
    let batch: Vec<NewObject> = objects
        .iter()
        .map(|(id, data)| NewObject {
            kind,
            store: store_id,
            id: *id,
            data,
        })
        .collect();
    store.write_batch(&batch)?;
    let bytes: u64 = objects.iter().map(|(_, d)| d.len() as u64).sum();
    report.bytes += bytes;
    match kind {
        ObjectKind::Commit => report.commits += objects.len() as u64,
        ObjectKind::Fs => report.fs_objects += objects.len() as u64,
        ObjectKind::Block => report.blocks += objects.len() as u64,
    }
    metrics::counter!("seaf_backup_objects_fetched_total", "kind" => kind.name()).increment(objects.len() as u64);
    metrics::counter!("seaf_backup_bytes_fetched_total").increment(bytes);
    Ok(())
}

/// Height of each new fs object: 0 for files and directories without new children, else one
/// more than the highest new child. Writing by increasing height puts children first.
fn heights(fs_new: &HashMap<ObjectId, (Vec<u8>, Vec<ObjectId>)>) -> HashMap<ObjectId, usize> {
    let mut out: HashMap<ObjectId, usize> = HashMap::with_capacity(fs_new.len());
    for root in fs_new.keys() {
        // Iterative post-order: trees can be deep.
        let mut stack = vec![(*root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if out.contains_key(&id) {
                continue;
            }
            let children = &fs_new[&id].1;
            if expanded {
                let h = children
                    .iter()
                    .filter_map(|c| out.get(c))
                    .map(|h| h + 1)
                    .max()
                    .unwrap_or(0);
                out.insert(id, h);
            } else {
                stack.push((id, true));
                for c in children {
                    if !out.contains_key(c) {
                        stack.push((*c, false));
                    }
                }
            }
        }
    }
    out
}

/// New commits grouped so every commit comes after its new parents (oldest generation first).
fn commit_generations(commits: &[(ObjectId, Vec<u8>, Commit)]) -> Vec<Vec<usize>> {
    let index: HashMap<ObjectId, usize> = commits.iter().enumerate().map(|(i, (id, _, _))| (*id, i)).collect();
    let mut generation: Vec<Option<usize>> = vec![None; commits.len()];
    for start in 0..commits.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if generation[i].is_some() {
                continue;
            }
            let parents: Vec<usize> = commits[i].2.parents().filter_map(|p| index.get(&p).copied()).collect();
            if expanded {
                let g = parents
                    .iter()
                    .filter_map(|p| generation[*p])
                    .map(|g| g + 1)
                    .max()
                    .unwrap_or(0);
                generation[i] = Some(g);
            } else {
                stack.push((i, true));
                stack.extend(
                    parents
                        .into_iter()
                        .filter(|p| generation[*p].is_none())
                        .map(|p| (p, false)),
                );
            }
        }
    }
    let max = generation.iter().flatten().copied().max().unwrap_or(0);
    let mut out = vec![Vec::new(); if commits.is_empty() { 0 } else { max + 1 }];
    for (i, g) in generation.into_iter().enumerate() {
        out[g.expect("every commit has a generation")].push(i);
    }
    out
}
