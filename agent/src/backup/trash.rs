//! Libraries in the primary's trash that the backup's trash does not hold yet.
//!
//! A library the primary moves to its trash while the backup runs arrives as a DELETE event.
//! One that was already in the trash when the backup started never does: the primary publishes
//! heads from `Branch`, where a trashed library has none. So the full scan also compares the
//! primary's trash with the backup's, and marks what differs waiting; the worker then copies its
//! history and trash row. A library purged from the primary's trash is simply absent from the
//! primary's list, which marks nothing: the backup keeps it in its own trash.

use std::collections::HashMap;

use seaf_seafile::{ObjectId, RepoId};

use crate::protocol::TrashedHead;

/// The primary's trashed libraries whose restorable head the backup's trash (`backup`: library →
/// head of its `RepoTrash` row) does not have. Rows without a head cannot be restored, on
/// either side, and are skipped.
pub fn to_sync(primary: &[TrashedHead], backup: &HashMap<RepoId, Option<ObjectId>>) -> Vec<RepoId> {
    primary
        .iter()
        .filter(|t| t.head.is_some() && backup.get(&t.repo_id) != Some(&t.head))
        .map(|t| t.repo_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(n: u8) -> RepoId {
        RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap()
    }

    #[test]
    fn only_trash_the_backup_lacks_or_holds_at_another_head_is_synced() {
        let (h1, h2) = (ObjectId::hash_of(b"1"), ObjectId::hash_of(b"2"));
        let primary = [
            TrashedHead {
                repo_id: repo(1),
                head: Some(h1),
            },
            TrashedHead {
                repo_id: repo(2),
                head: Some(h1),
            },
            TrashedHead {
                repo_id: repo(3),
                head: Some(h2),
            },
            TrashedHead {
                repo_id: repo(4),
                head: None,
            },
        ];
        let backup: HashMap<RepoId, Option<ObjectId>> = [(repo(2), Some(h1)), (repo(3), Some(h1)), (repo(9), Some(h2))]
            .into_iter()
            .collect();
        assert_eq!(to_sync(&primary, &backup), [repo(1), repo(3)]);
        assert!(to_sync(&[], &backup).is_empty(), "purged on the primary: nothing to do");
    }
}
