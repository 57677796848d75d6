//! `seaf-backup status`: Seafile Pro's `seaf-backup-cmd.sh status` text, line for line, or JSON.

use super::queue::{RepoSyncState, SyncState};
use serde::Serialize;

/// Counts and lists, as the status command shows them.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub total: usize,
    pub synced: usize,
    pub waiting: usize,
    pub syncing: usize,
    pub failed: usize,
    /// Libraries deleted on the primary whose backup is kept (not counted in `total`, as Seafile
    /// Pro did not know them).
    pub deleted: usize,
    pub syncing_libraries: Vec<String>,
    pub failed_libraries: Vec<FailedLibrary>,
}

#[derive(Debug, Serialize)]
pub struct FailedLibrary {
    pub repo_id: String,
    pub error: String,
}

impl StatusReport {
    pub fn from_states(states: &[RepoSyncState]) -> Self {
        let count = |s: SyncState| states.iter().filter(|r| r.state == s).count();
        StatusReport {
            total: states.iter().filter(|r| r.state != SyncState::Deleted).count(),
            synced: count(SyncState::Synced),
            waiting: count(SyncState::Waiting),
            syncing: count(SyncState::Syncing),
            failed: count(SyncState::Failed),
            deleted: count(SyncState::Deleted),
            syncing_libraries: states
                .iter()
                .filter(|r| r.state == SyncState::Syncing)
                .map(|r| r.repo_id.to_string())
                .collect(),
            failed_libraries: states
                .iter()
                .filter(|r| r.state == SyncState::Failed)
                .map(|r| FailedLibrary {
                    repo_id: r.repo_id.to_string(),
                    error: r.error.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Seafile Pro's text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Total number of libraries: {}\nNumber of synchronized libraries: {}\nNumber of libraries waiting for sync: {}\nNumber of libraries syncing: {}\nNumber of libraries failed to sync: {}\n\nList of syncing libraries:\n",
            self.total, self.synced, self.waiting, self.syncing, self.failed
        );
        for r in &self.syncing_libraries {
            out.push_str(r);
            out.push('\n');
        }
        out.push_str("\nList of libraries failed to sync:\n");
        for f in &self.failed_libraries {
            out.push_str(&f.repo_id);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_seafile::RepoId;

    #[test]
    fn text_matches_seafile_pro_line_for_line() {
        let state = |n: u8, s: SyncState| RepoSyncState {
            repo_id: RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap(),
            state: s,
            head: None,
            old_head: None,
            old_heads: Vec::new(),
            error: (s == SyncState::Failed).then(|| "block x missing".to_string()),
            updated_at: 0,
        };
        let states = vec![
            state(1, SyncState::Synced),
            state(2, SyncState::Synced),
            state(3, SyncState::Waiting),
            state(4, SyncState::Syncing),
            state(5, SyncState::Failed),
            state(6, SyncState::Deleted),
        ];
        let text = StatusReport::from_states(&states).to_text();
        let expected = "Total number of libraries: 5
Number of synchronized libraries: 2
Number of libraries waiting for sync: 1
Number of libraries syncing: 1
Number of libraries failed to sync: 1

List of syncing libraries:
00000004-0000-4000-8000-000000000000

List of libraries failed to sync:
00000005-0000-4000-8000-000000000000
";
        assert_eq!(text, expected);
    }
}
