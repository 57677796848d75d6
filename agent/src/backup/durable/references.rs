//! What a stored object points at directly, and whether its bytes match its id: the two
//! questions recovery asks of every object a journal lists.

use seaf_seafile::{Commit, FsObject, ObjectId, ObjectKind, RepoId};

use super::journal::Entry;

/// An object another one points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub kind: ObjectKind,
    /// `None`: the library's objects store, which for a commit's root is the commit's own store,
    /// or, for a virtual library, its origin's — which the commit does not say (the database
    /// does), so recovery looks for the root under the stores the commit's batch used.
    pub store: Option<RepoId>,
    pub id: ObjectId,
}

/// Whether `bytes` are a whole, uncorrupted object of `entry`'s kind and id, by the checks
/// the sync made before staging it (so recovery never removes what a sync accepted).
pub fn is_intact(entry: &Entry, bytes: &[u8]) -> bool {
    match entry.kind {
        ObjectKind::Block => ObjectId::hash_of(bytes) == entry.id,
        ObjectKind::Fs => FsObject::parse_verified(&entry.id, bytes).is_ok(),
        ObjectKind::Commit => Commit::parse_verified(&entry.id, bytes).is_ok(),
    }
}

/// The objects `bytes` (an intact object of `entry`) points at directly. The all-zero id
/// (an empty file or folder) has no object and is left out.
pub fn references(entry: &Entry, bytes: &[u8]) -> Vec<Reference> {
    let same = |kind, id| Reference {
        kind,
        store: Some(entry.store),
        id,
    };
    let mut out = Vec::new();
    match entry.kind {
        ObjectKind::Block => {}
        ObjectKind::Fs => match FsObject::parse_verified(&entry.id, bytes) {
            Ok(FsObject::Dir(dir)) => out.extend(dir.dirents.iter().map(|d| same(ObjectKind::Fs, d.id))),
            Ok(FsObject::File(file)) => out.extend(file.block_ids.iter().map(|b| same(ObjectKind::Block, *b))),
            Err(_) => {}
        },
        ObjectKind::Commit => {
            if let Ok((commit, _)) = Commit::parse_verified(&entry.id, bytes) {
                out.push(Reference {
                    kind: ObjectKind::Fs,
                    store: None,
                    id: commit.root_id,
                });
                out.extend(commit.parents().map(|p| same(ObjectKind::Commit, p)));
            }
        }
    }
    out.retain(|r| !r.id.is_zero());
    out
}
