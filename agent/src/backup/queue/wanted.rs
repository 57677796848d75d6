//! Marking libraries waiting in bulk: the states grouped by where a change takes them
//! ([`next_state`] decides), one `UPDATE … IN (…)` per group.

use seaf_seafile::Bind;

use super::state::{next_state, SyncState, Transition};

/// The states grouped by where a change takes them: one `UPDATE` per group.
pub(super) fn wanted_groups() -> Vec<(SyncState, Vec<SyncState>)> {
    let mut groups: Vec<(SyncState, Vec<SyncState>)> = Vec::new();
    for from in SyncState::ALL {
        let to = next_state(from, Transition::Wanted, false).expect("every state can be wanted");
        match groups.iter_mut().find(|(t, _)| *t == to) {
            Some((_, froms)) => froms.push(from),
            None => groups.push((to, vec![from])),
        }
    }
    groups
}

pub(super) fn wanted_update<'a>(
    to: SyncState,
    from: &[SyncState],
    ids: &[&'a str],
    now: i64,
) -> (String, Vec<Bind<'a>>) {
    let sql = format!(
        "UPDATE SeafBackupRepoState SET state = ?, wanted_at = ?, updated_at = ? WHERE repo_id IN ({}) AND state IN ({})",
        placeholders(ids.len()),
        placeholders(from.len())
    );
    let mut binds = vec![Bind::Text(to.as_str()), Bind::Int(now), Bind::Int(now)];
    binds.extend(ids.iter().map(|id| Bind::Text(id)));
    binds.extend(from.iter().map(|s| Bind::Text(s.as_str())));
    (sql, binds)
}

pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_needs_two_statements_one_per_destination() {
        let groups = wanted_groups();
        assert_eq!(groups.len(), 2);
        let covered: usize = groups.iter().map(|(_, from)| from.len()).sum();
        assert_eq!(covered, SyncState::ALL.len());
        assert!(groups.contains(&(SyncState::Syncing, vec![SyncState::Syncing])));
    }
}
