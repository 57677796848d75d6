//! The sync state machine of one library, without a database.
//!
//! ```text
//!             wanted                 taken                 finished
//!  (any) ──────────────▶ waiting ─────────────▶ syncing ───────────────▶ synced / deleted / failed
//!                           ▲                    │  │ wanted: stays syncing, remembers the change
//!                           └──── released ──────┘  │
//!                           └──── finished, but a change arrived since the sync started
//! ```
//!
//! The queue's SQL stores what [`next_state`] decides and checks that exactly one row changed;
//! no `CASE WHEN` in SQL repeats these rules.

use std::fmt;
use std::str::FromStr;

/// A library's sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncState {
    /// Work recorded, durable: the consumer may commit the event's offset.
    Waiting,
    /// Leased by one worker.
    Syncing,
    Synced,
    /// Stopped by an error an operator has to look at (its text is kept).
    Failed,
    /// Gone from the primary (or moved to the trash); the backup keeps the data.
    Deleted,
}

/// What happens to a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A change was seen (an event, a full scan, a manual sync).
    Wanted,
    /// A worker took the lease.
    Taken,
    /// The worker that holds the lease finished with this result.
    Finished(Finish),
    /// The lease was handed back unfinished (shutdown, a dead process's lease).
    Released,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// At the primary's head (moved, or already there).
    Synced,
    /// Gone from the primary, or moved to the trash.
    Deleted,
    /// A permanent error.
    Failed,
    /// A transient error: try again.
    Retry,
}

/// A transition that makes no sense from the current state: the caller's lease is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a library in state {from} cannot take {transition:?}: its lease was lost")]
pub struct InvalidTransition {
    pub from: SyncState,
    pub transition: Transition,
}

/// The state after `transition`. `changed_since_start`: a change was recorded after the
/// current sync started, so finishing must leave the library waiting for another pass.
pub fn next_state(
    from: SyncState,
    transition: Transition,
    changed_since_start: bool,
) -> Result<SyncState, InvalidTransition> {
    use SyncState::*;
    Ok(match (from, transition) {
        // The running sync may have read the primary before the change: it stays syncing and
        // its finish sees `changed_since_start`.
        (Syncing, Transition::Wanted) => Syncing,
        (_, Transition::Wanted) => Waiting,
        (_, Transition::Taken) => Syncing,
        (Syncing, Transition::Released) => Waiting,
        (Syncing, Transition::Finished(_)) if changed_since_start => Waiting,
        (Syncing, Transition::Finished(finish)) => match finish {
            Finish::Synced => Synced,
            Finish::Deleted => Deleted,
            Finish::Failed => Failed,
            Finish::Retry => Waiting,
        },
        (from, transition) => return Err(InvalidTransition { from, transition }),
    })
}

impl SyncState {
    pub const ALL: [SyncState; 5] = [
        SyncState::Waiting,
        SyncState::Syncing,
        SyncState::Synced,
        SyncState::Failed,
        SyncState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Waiting => "waiting",
            SyncState::Syncing => "syncing",
            SyncState::Synced => "synced",
            SyncState::Failed => "failed",
            SyncState::Deleted => "deleted",
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SyncState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncState::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown sync state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::SyncState::*;
    use super::Transition::*;
    use super::*;

    const SYNCED: Transition = Finished(Finish::Synced);
    const DELETED: Transition = Finished(Finish::Deleted);
    const FAILED: Transition = Finished(Finish::Failed);
    const RETRY: Transition = Finished(Finish::Retry);

    #[test]
    fn every_state_and_transition() {
        #[rustfmt::skip]
        let table: &[(SyncState, Transition, bool, Option<SyncState>)] = &[
            // A change makes any library waiting, except one being synced.
            (Waiting, Wanted, false, Some(Waiting)),
            (Synced,  Wanted, false, Some(Waiting)),
            (Failed,  Wanted, false, Some(Waiting)),
            (Deleted, Wanted, false, Some(Waiting)),
            (Syncing, Wanted, false, Some(Syncing)),
            // A lease can be taken in every state (a manual sync of a synced library).
            (Waiting, Taken, false, Some(Syncing)),
            (Synced,  Taken, false, Some(Syncing)),
            (Syncing, Taken, false, Some(Syncing)),
            // Finishing records the result, unless a change arrived meanwhile.
            (Syncing, SYNCED,  false, Some(Synced)),
            (Syncing, DELETED, false, Some(Deleted)),
            (Syncing, FAILED,  false, Some(Failed)),
            (Syncing, RETRY,   false, Some(Waiting)),
            (Syncing, SYNCED,  true,  Some(Waiting)),
            (Syncing, DELETED, true,  Some(Waiting)),
            (Syncing, FAILED,  true,  Some(Waiting)),
            (Syncing, Released, false, Some(Waiting)),
            (Syncing, Released, true,  Some(Waiting)),
            // Without the lease's state there is nothing to finish or release.
            (Waiting, SYNCED,   false, None),
            (Synced,  SYNCED,   false, None),
            (Failed,  Released, false, None),
            (Deleted, FAILED,   true,  None),
        ];
        for &(from, transition, changed, expected) in table {
            assert_eq!(
                next_state(from, transition, changed).ok(),
                expected,
                "{from} + {transition:?} (changed since start: {changed})"
            );
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in SyncState::ALL {
            assert_eq!(s.as_str().parse::<SyncState>().unwrap(), s);
        }
        assert!("paused".parse::<SyncState>().is_err());
    }
}
