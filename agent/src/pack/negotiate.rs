//! Which commits the backup lacks: those reachable from the primary's head (`want`) and not
//! from what the backup has (`haves`), like `git rev-list want --not haves`.
//!
//! The closure invariant makes a have mean its whole history, so the walk goes newest first (by
//! `ctime`) and stops as soon as every commit still queued is reachable from a have: it reads
//! the new commits and a few old ones, never the whole history. Clock skew can only make it
//! send a commit the backup has (harmless: ids are checked, present objects are not
//! rewritten), never leave out one it lacks.

use std::collections::{BinaryHeap, HashMap};

use seaf_seafile::ObjectId;

/// What the walk needs of a commit.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub root: ObjectId,
    pub parents: Vec<ObjectId>,
    pub ctime: i64,
}

/// The outcome: new commits (any order) and the ones they name that the primary lacks (with
/// clock skew, possibly one the backup has: the backup ignores those).
#[derive(Debug, Default)]
pub struct NewCommits {
    pub new: Vec<CommitInfo>,
    /// Every commit met, new or had, by id: the tree walk diffs a commit against its parents.
    pub known: HashMap<ObjectId, CommitInfo>,
    pub missing: Vec<ObjectId>,
}

struct Entry {
    uninteresting: bool,
    queued: bool,
}

/// Walks from `want` down to `haves`. `load` reads a commit (`None`: the primary lacks it).
pub fn new_commits<E>(
    want: ObjectId,
    haves: &[ObjectId],
    mut load: impl FnMut(&ObjectId) -> Result<Option<CommitInfo>, E>,
) -> Result<NewCommits, E> {
    let mut out = NewCommits::default();
    let mut flags: HashMap<ObjectId, Entry> = HashMap::new();
    let mut heap: BinaryHeap<(i64, ObjectId)> = BinaryHeap::new();
    let mut interesting_queued = 0usize;
    let starts = std::iter::once((want, false)).chain(haves.iter().map(|h| (*h, true)));
    for (id, uninteresting) in starts {
        if let Some(entry) = flags.get_mut(&id) {
            // A have equal to the want: nothing is new.
            if uninteresting && !entry.uninteresting {
                entry.uninteresting = true;
                interesting_queued -= 1;
            }
            continue;
        }
        match load(&id)? {
            Some(info) => {
                heap.push((info.ctime, id));
                interesting_queued += usize::from(!uninteresting);
                flags.insert(
                    id,
                    Entry {
                        uninteresting,
                        queued: true,
                    },
                );
                out.known.insert(id, info);
            }
            // An unknown have (the backup is ahead, or the primary was reset) says nothing.
            None if !uninteresting => out.missing.push(id),
            None => {}
        }
    }
    while interesting_queued > 0 {
        let Some((_, id)) = heap.pop() else { break };
        let entry = flags.get_mut(&id).expect("queued ids have flags");
        entry.queued = false;
        let uninteresting = entry.uninteresting;
        if !uninteresting {
            interesting_queued -= 1;
        }
        let parents = out.known[&id].parents.clone();
        for p in parents {
            match flags.get_mut(&p) {
                Some(e) => {
                    if uninteresting && !e.uninteresting {
                        if e.queued {
                            interesting_queued -= 1;
                        }
                        mark_uninteresting(&p, &mut flags, &out.known, &mut interesting_queued);
                    }
                }
                None => match load(&p)? {
                    Some(info) => {
                        heap.push((info.ctime, p));
                        interesting_queued += usize::from(!uninteresting);
                        flags.insert(
                            p,
                            Entry {
                                uninteresting,
                                queued: true,
                            },
                        );
                        out.known.insert(p, info);
                    }
                    None => {
                        if !uninteresting {
                            out.missing.push(p);
                        }
                        flags.insert(
                            p,
                            Entry {
                                uninteresting: true,
                                queued: false,
                            },
                        );
                    }
                },
            }
        }
    }
    out.new = out
        .known
        .values()
        .filter(|c| flags.get(&c.id).is_some_and(|e| !e.uninteresting))
        .cloned()
        .collect();
    Ok(out)
}

/// Marks `id` and its known ancestors uninteresting (a commit first reached from the want and
/// later from a have: its history was wrongly queued as new).
fn mark_uninteresting(
    id: &ObjectId,
    flags: &mut HashMap<ObjectId, Entry>,
    known: &HashMap<ObjectId, CommitInfo>,
    interesting_queued: &mut usize,
) {
    let mut stack = vec![*id];
    let mut first = true;
    while let Some(c) = stack.pop() {
        let Some(e) = flags.get_mut(&c) else { continue };
        if e.uninteresting {
            continue;
        }
        e.uninteresting = true;
        // The caller adjusted the count for `id` itself.
        if e.queued && !first {
            *interesting_queued -= 1;
        }
        first = false;
        if let Some(info) = known.get(&c) {
            stack.extend(info.parents.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> ObjectId {
        ObjectId::hash_of(&n.to_be_bytes())
    }

    /// Commits `n` with parents and ctime n (unless skewed).
    fn graph(edges: &[(u32, &[u32])]) -> HashMap<ObjectId, CommitInfo> {
        edges
            .iter()
            .map(|(n, ps)| {
                let info = CommitInfo {
                    id: id(*n),
                    root: id(1000 + n),
                    parents: ps.iter().map(|p| id(*p)).collect(),
                    ctime: *n as i64,
                };
                (id(*n), info)
            })
            .collect()
    }

    fn walk(g: &HashMap<ObjectId, CommitInfo>, want: u32, haves: &[u32]) -> (Vec<u32>, Vec<ObjectId>, usize) {
        let mut loads = 0;
        let haves: Vec<ObjectId> = haves.iter().map(|h| id(*h)).collect();
        let out = new_commits::<()>(id(want), &haves, |c| {
            loads += 1;
            Ok(g.get(c).cloned())
        })
        .unwrap();
        let mut new: Vec<u32> = out
            .new
            .iter()
            .map(|c| (0..100).find(|n| id(*n) == c.id).unwrap())
            .collect();
        new.sort();
        (new, out.missing, loads)
    }

    #[test]
    fn a_linear_history_reads_only_what_is_new() {
        let edges: Vec<(u32, Vec<u32>)> = (1..60)
            .map(|n| (n, if n == 1 { vec![] } else { vec![n - 1] }))
            .collect();
        let edges: Vec<(u32, &[u32])> = edges.iter().map(|(n, p)| (*n, p.as_slice())).collect();
        let g = graph(&edges);
        let (new, missing, loads) = walk(&g, 59, &[50]);
        assert_eq!(new, (51..60).collect::<Vec<_>>());
        assert!(missing.is_empty());
        assert!(loads <= 12, "read {loads} commits for 9 new ones");
        assert_eq!(walk(&g, 59, &[]).0.len(), 59, "no have: the whole history");
        assert!(walk(&g, 59, &[59]).0.is_empty(), "up to date");
    }

    #[test]
    fn a_merge_of_an_old_branch_does_not_resend_shared_history() {
        // 1-2-3-4 (backup has 4); a branch 5 off 2; merge 6 = (4, 5).
        let g = graph(&[(1, &[]), (2, &[1]), (3, &[2]), (4, &[3]), (5, &[2]), (6, &[4, 5])]);
        assert_eq!(walk(&g, 6, &[4]).0, vec![5, 6]);
    }

    #[test]
    fn clock_skew_only_costs_extra() {
        // The branch commit 5 claims an old ctime; its parent 2 is shared.
        let mut g = graph(&[(1, &[]), (2, &[1]), (3, &[2]), (4, &[3]), (5, &[2]), (6, &[4, 5])]);
        g.get_mut(&id(5)).unwrap().ctime = 0;
        let new = walk(&g, 6, &[4]).0;
        assert!(new.contains(&5) && new.contains(&6), "{new:?}");
        assert!(!new.contains(&3) && !new.contains(&4), "{new:?}");
    }

    #[test]
    fn missing_and_unknown_commits() {
        // 3's parent 2 is gone on the primary; the backup names a have the primary never had.
        let g = graph(&[(3, &[2]), (4, &[3])]);
        let (new, missing, _) = walk(&g, 4, &[77]);
        assert_eq!(new, vec![3, 4]);
        assert_eq!(missing, vec![id(2)]);
        let (new, missing, _) = walk(&g, 9, &[]);
        assert!(new.is_empty());
        assert_eq!(missing, vec![id(9)], "the want itself");
    }

    #[test]
    fn a_cycle_ends() {
        let g = graph(&[(1, &[2]), (2, &[1])]);
        assert_eq!(walk(&g, 2, &[]).0, vec![1, 2]);
    }
}
