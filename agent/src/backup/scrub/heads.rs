//! Comparing a library's head on the backup with the primary's, without false alarms: a change
//! the backup has not applied *yet* is no fault. A library the queue calls `synced` whose head
//! differs is looked at again one interval later; only if the backup's head has not moved and
//! still differs is it a mismatch (an event lost, or a sync that wrongly stopped short).

use seaf_seafile::{ObjectId, RepoId};

use crate::backup::queue::SyncState;

/// One look at a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub repo: RepoId,
    /// The queue's state of the library (`None`: no row).
    pub state: Option<SyncState>,
    pub backup: Option<ObjectId>,
    /// `None`: the primary does not have the library.
    pub primary: Option<ObjectId>,
}

/// What one look means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Equal, or not ours to judge: the queue has work for it (waiting, syncing), it failed
    /// (the status shows why) or it is deleted.
    Fine,
    /// Differs while synced: look again after an interval.
    Suspect,
    /// Differed at two looks an interval apart, the backup not moving: a mismatch.
    Mismatch,
}

/// `look`, given the previous look at the same library (when it was a suspect).
pub fn judge(look: &Look, previous: Option<&Look>) -> Verdict {
    if look.state != Some(SyncState::Synced) || look.backup == look.primary {
        return Verdict::Fine;
    }
    match previous {
        Some(p) if p.repo == look.repo && p.backup == look.backup => Verdict::Mismatch,
        _ => Verdict::Suspect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(state: SyncState, backup: u8, primary: u8) -> Look {
        let id = |n: u8| Some(ObjectId::hash_of(&[n]));
        Look {
            repo: RepoId::parse("00000001-0000-4000-8000-000000000000").unwrap(),
            state: Some(state),
            backup: id(backup),
            primary: id(primary),
        }
    }

    #[test]
    fn only_a_synced_library_that_stays_behind_is_a_mismatch() {
        assert_eq!(judge(&look(SyncState::Synced, 1, 1), None), Verdict::Fine);
        assert_eq!(judge(&look(SyncState::Waiting, 1, 2), None), Verdict::Fine);
        assert_eq!(judge(&look(SyncState::Failed, 1, 2), None), Verdict::Fine);
        let first = look(SyncState::Synced, 1, 2);
        assert_eq!(judge(&first, None), Verdict::Suspect);
        // The event arrived and the backup moved on: not a fault.
        assert_eq!(judge(&look(SyncState::Synced, 2, 2), Some(&first)), Verdict::Fine);
        assert_eq!(judge(&look(SyncState::Synced, 3, 4), Some(&first)), Verdict::Suspect);
        // Nothing moved on the backup in a whole interval.
        assert_eq!(judge(&look(SyncState::Synced, 1, 5), Some(&first)), Verdict::Mismatch);
    }
}
