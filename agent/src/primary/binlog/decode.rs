//! From a decoded row change of Seafile's `Branch` table to what it means for a library.
//!
//! The binary log names no columns (only their order), so [`BranchColumns`] says where
//! `name`, `repo_id` and `commit_id` sit; the server's `information_schema` tells the adapter.
//! Only the `master` branch is a library's head: other rows are ignored.

use seaf_seafile::{ObjectId, RepoId};

/// One row image: each column's value as bytes (`None` for SQL NULL or a column not logged).
pub type RowImage = Vec<Option<Vec<u8>>>;

/// A row change: before and after images (insert: no before; delete: no after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub before: Option<RowImage>,
    pub after: Option<RowImage>,
}

/// What a change says about one library: its new head, or that it has none now.
pub type LibraryChange = (RepoId, Option<ObjectId>);

/// Zero-based positions of the columns read from `Branch` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchColumns {
    pub name: usize,
    pub repo_id: usize,
    pub commit_id: usize,
}

impl BranchColumns {
    /// From `(column name, 1-based ordinal position)` pairs as `information_schema.COLUMNS`
    /// lists them; `None` when a column is missing (not a Seafile `Branch` table).
    pub fn from_ordinals<'a>(columns: impl IntoIterator<Item = (&'a str, usize)>) -> Option<Self> {
        let (mut name, mut repo_id, mut commit_id) = (None, None, None);
        for (column, ordinal) in columns {
            let slot = match column.to_ascii_lowercase().as_str() {
                "name" => &mut name,
                "repo_id" => &mut repo_id,
                "commit_id" => &mut commit_id,
                _ => continue,
            };
            *slot = ordinal.checked_sub(1);
        }
        Some(BranchColumns {
            name: name?,
            repo_id: repo_id?,
            commit_id: commit_id?,
        })
    }

    /// The library changes one row change makes, in order.
    pub fn decode(&self, change: &RowChange) -> Vec<LibraryChange> {
        let before = change.before.as_ref().and_then(|r| self.master(r));
        let after = change.after.as_ref().and_then(|r| self.master(r));
        match (before, after) {
            (_, Some((repo, head))) => {
                let mut out = Vec::new();
                // An update that moves the row to another library leaves the old one headless.
                if let Some((old, _)) = before.filter(|(old, _)| *old != repo) {
                    out.push((old, None));
                }
                out.push((repo, head));
                out
            }
            (Some((repo, _)), None) => vec![(repo, None)],
            (None, None) => Vec::new(),
        }
    }

    /// The library and head of a `master` row; `None` for other branches or unreadable ids
    /// (a head that does not parse is treated as no head: the full read sorts it out).
    fn master(&self, row: &RowImage) -> Option<(RepoId, Option<ObjectId>)> {
        let text = |i: usize| {
            let bytes = row.get(i)?.as_deref()?;
            // CHAR columns may come padded.
            std::str::from_utf8(bytes).ok().map(str::trim_end)
        };
        if text(self.name)? != "master" {
            return None;
        }
        let repo = RepoId::parse(text(self.repo_id)?).ok()?;
        let head = text(self.commit_id).and_then(|c| ObjectId::parse(c).ok());
        Some((repo, head))
    }
}

/// One transaction's changes, the last one per library kept (in the order of those last
/// changes). A library whose rows are replaced (delete, then insert, as one transaction) has
/// a new head, not a deletion: its readers never see the delete.
pub fn coalesce(changes: Vec<LibraryChange>) -> Vec<LibraryChange> {
    let last: std::collections::HashMap<RepoId, usize> =
        changes.iter().enumerate().map(|(i, (repo, _))| (*repo, i)).collect();
    changes
        .into_iter()
        .enumerate()
        .filter(|(i, (repo, _))| last[repo] == *i)
        .map(|(_, change)| change)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";
    const OTHER: &str = "400ca0c9-310b-4344-8289-441bcd1e031c";

    fn cols() -> BranchColumns {
        BranchColumns::from_ordinals([("id", 1), ("name", 2), ("repo_id", 3), ("commit_id", 4)]).unwrap()
    }

    fn row(name: &str, repo: &str, head: &ObjectId) -> RowImage {
        vec![
            Some(b"7".to_vec()),
            Some(name.as_bytes().to_vec()),
            Some(repo.as_bytes().to_vec()),
            Some(head.to_string().into_bytes()),
        ]
    }

    #[test]
    fn columns_come_from_their_ordinals() {
        assert_eq!(
            cols(),
            BranchColumns {
                name: 1,
                repo_id: 2,
                commit_id: 3
            }
        );
        assert_eq!(BranchColumns::from_ordinals([("name", 1), ("repo_id", 2)]), None);
    }

    #[test]
    fn insert_update_and_delete_of_master() {
        let (h1, h2) = (ObjectId::hash_of(b"1"), ObjectId::hash_of(b"2"));
        let repo = RepoId::parse(REPO).unwrap();
        let insert = RowChange {
            before: None,
            after: Some(row("master", REPO, &h1)),
        };
        assert_eq!(cols().decode(&insert), vec![(repo, Some(h1))]);
        let update = RowChange {
            before: Some(row("master", REPO, &h1)),
            after: Some(row("master", REPO, &h2)),
        };
        assert_eq!(cols().decode(&update), vec![(repo, Some(h2))]);
        let delete = RowChange {
            before: Some(row("master", REPO, &h2)),
            after: None,
        };
        assert_eq!(cols().decode(&delete), vec![(repo, None)]);
    }

    #[test]
    fn a_replaced_row_is_a_new_head_not_a_deletion() {
        let (a, b) = (RepoId::parse(REPO).unwrap(), RepoId::parse(OTHER).unwrap());
        let (h1, h2) = (ObjectId::hash_of(b"1"), ObjectId::hash_of(b"2"));
        let changes = vec![(a, None), (b, Some(h1)), (a, Some(h2))];
        assert_eq!(coalesce(changes), vec![(b, Some(h1)), (a, Some(h2))]);
    }

    #[test]
    fn other_branches_are_ignored_and_a_moved_row_leaves_the_old_library() {
        let h = ObjectId::hash_of(b"1");
        let local = RowChange {
            before: None,
            after: Some(row("local", REPO, &h)),
        };
        assert!(cols().decode(&local).is_empty());
        let moved = RowChange {
            before: Some(row("master", REPO, &h)),
            after: Some(row("master", OTHER, &h)),
        };
        let (a, b) = (RepoId::parse(REPO).unwrap(), RepoId::parse(OTHER).unwrap());
        assert_eq!(cols().decode(&moved), vec![(a, None), (b, Some(h))]);
    }
}
