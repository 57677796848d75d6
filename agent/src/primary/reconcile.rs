//! Which events the primary must send: the difference between the `Branch` table and what the
//! topic is known to hold.
//!
//! The table is the truth. An event counts as published only when the broker acknowledged it;
//! until then the library stays "in flight", and if delivery fails it simply differs again on the
//! next comparison and is sent again. So a broker outage loses nothing and needs no spool: the
//! in-flight set is bounded, and whatever does not fit waits in the table itself.

use std::collections::HashMap;

use seaf_seafile::{ObjectId, RepoId};

/// The state an event announces for a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Head(ObjectId),
    Deleted,
}

/// One event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub repo: RepoId,
    pub target: Target,
    /// The last head the topic holds for this library, if any.
    pub previous: Option<ObjectId>,
    /// True for libraries the topic has never seen (the start-up snapshot of a new primary).
    pub first_seen: bool,
}

/// No room for another event in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Published and in-flight state of every library.
#[derive(Debug, Default)]
pub struct Reconciler {
    published: HashMap<RepoId, ObjectId>,
    in_flight: HashMap<RepoId, Target>,
    max_in_flight: usize,
}

impl Reconciler {
    /// Starts from what an earlier run recorded as published.
    pub fn new(published: HashMap<RepoId, ObjectId>, max_in_flight: usize) -> Self {
        Reconciler {
            published,
            in_flight: HashMap::new(),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// Compares a full snapshot of the `Branch` table with the topic and returns what to send.
    /// At most `max_in_flight` events are outstanding; the rest are found again next time.
    pub fn plan(&mut self, heads: &HashMap<RepoId, ObjectId>) -> Vec<Intent> {
        let mut out = Vec::new();
        for (repo, head) in heads {
            let target = Target::Head(*head);
            if self.published.get(repo) == Some(head) || self.in_flight.get(repo) == Some(&target) {
                continue;
            }
            if !self.reserve(repo) {
                break;
            }
            self.in_flight.insert(*repo, target);
            out.push(Intent {
                repo: *repo,
                target,
                previous: self.published.get(repo).copied(),
                first_seen: !self.published.contains_key(repo),
            });
        }
        let deleted: Vec<RepoId> = self
            .published
            .keys()
            .filter(|r| !heads.contains_key(r) && self.in_flight.get(r) != Some(&Target::Deleted))
            .copied()
            .collect();
        for repo in deleted {
            if !self.reserve(&repo) {
                break;
            }
            self.in_flight.insert(repo, Target::Deleted);
            out.push(Intent {
                repo,
                target: Target::Deleted,
                previous: self.published.get(&repo).copied(),
                first_seen: false,
            });
        }
        out
    }

    /// One library changed (the binary log said so): its new head, or `None` when its
    /// `master` branch is gone. `Err(Full)` when no event may be added now: the caller must
    /// find the change again (a full read), as [`Reconciler::plan`] leaves the rest in the table.
    pub fn plan_one(&mut self, repo: RepoId, head: Option<ObjectId>) -> Result<Option<Intent>, Full> {
        let target = match head {
            Some(head) if self.published.get(&repo) == Some(&head) && !self.in_flight.contains_key(&repo) => {
                return Ok(None)
            }
            Some(head) => Target::Head(head),
            // Never published and nothing on its way: the topic has nothing to take back.
            None if !self.published.contains_key(&repo) && !self.in_flight.contains_key(&repo) => return Ok(None),
            None => Target::Deleted,
        };
        if self.in_flight.get(&repo) == Some(&target) {
            return Ok(None);
        }
        if !self.reserve(&repo) {
            return Err(Full);
        }
        self.in_flight.insert(repo, target);
        Ok(Some(Intent {
            repo,
            target,
            previous: self.published.get(&repo).copied(),
            first_seen: head.is_some() && !self.published.contains_key(&repo),
        }))
    }

    /// Room for one more event (a library already in flight may be re-targeted).
    fn reserve(&self, repo: &RepoId) -> bool {
        self.in_flight.contains_key(repo) || self.in_flight.len() < self.max_in_flight
    }

    /// The broker holds the event. Events of one library keep their order (one key, one
    /// partition, idempotent producer), so the latest acknowledgement is the topic's state.
    pub fn acknowledged(&mut self, repo: RepoId, target: Target) {
        match target {
            Target::Head(head) => {
                self.published.insert(repo, head);
            }
            Target::Deleted => {
                self.published.remove(&repo);
            }
        }
        if self.in_flight.get(&repo) == Some(&target) {
            self.in_flight.remove(&repo);
        }
    }

    /// The event could not be delivered; the next plan sends the library's state again.
    pub fn failed(&mut self, repo: RepoId, target: Target) {
        if self.in_flight.get(&repo) == Some(&target) {
            self.in_flight.remove(&repo);
        }
    }

    pub fn published(&self) -> &HashMap<RepoId, ObjectId> {
        &self.published
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(n: u8) -> RepoId {
        RepoId::parse(&format!("{:08x}-0000-4000-8000-000000000000", n)).unwrap()
    }

    fn head(n: u8) -> ObjectId {
        ObjectId::hash_of(&[n])
    }

    fn heads(pairs: &[(u8, u8)]) -> HashMap<RepoId, ObjectId> {
        pairs.iter().map(|(r, h)| (repo(*r), head(*h))).collect()
    }

    #[test]
    fn snapshot_then_only_changes() {
        let mut r = Reconciler::new(HashMap::new(), 100);
        let first = r.plan(&heads(&[(1, 1), (2, 2)]));
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|i| i.first_seen && i.previous.is_none()));
        assert!(
            r.plan(&heads(&[(1, 1), (2, 2)])).is_empty(),
            "in flight: not sent twice"
        );
        for i in first {
            r.acknowledged(i.repo, i.target);
        }
        assert_eq!(r.in_flight(), 0);
        assert!(r.plan(&heads(&[(1, 1), (2, 2)])).is_empty());

        let next = r.plan(&heads(&[(1, 3), (2, 2)]));
        assert_eq!(
            next,
            vec![Intent {
                repo: repo(1),
                target: Target::Head(head(3)),
                previous: Some(head(1)),
                first_seen: false
            }]
        );
    }

    #[test]
    fn failed_delivery_is_sent_again_with_the_latest_head() {
        let mut r = Reconciler::new(heads(&[(1, 1)]), 100);
        let sent = r.plan(&heads(&[(1, 2)]));
        r.failed(sent[0].repo, sent[0].target);
        let again = r.plan(&heads(&[(1, 5)]));
        assert_eq!(again[0].target, Target::Head(head(5)));
        assert_eq!(again[0].previous, Some(head(1)));
    }

    #[test]
    fn deleted_libraries_are_announced_once() {
        let mut r = Reconciler::new(heads(&[(1, 1), (2, 2)]), 100);
        let sent = r.plan(&heads(&[(1, 1)]));
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].repo, sent[0].target, sent[0].previous),
            (repo(2), Target::Deleted, Some(head(2)))
        );
        assert!(r.plan(&heads(&[(1, 1)])).is_empty());
        r.acknowledged(repo(2), Target::Deleted);
        assert!(!r.published().contains_key(&repo(2)));
        assert!(r.plan(&heads(&[(1, 1)])).is_empty());
    }

    #[test]
    fn in_flight_is_bounded_and_the_rest_waits_in_the_table() {
        let mut r = Reconciler::new(HashMap::new(), 3);
        let all: HashMap<_, _> = (0..10).map(|i| (repo(i), head(i))).collect();
        let first = r.plan(&all);
        assert_eq!(first.len(), 3);
        assert!(r.plan(&all).is_empty(), "full");
        for i in &first {
            r.acknowledged(i.repo, i.target);
        }
        let mut total = 3;
        loop {
            let batch = r.plan(&all);
            if batch.is_empty() {
                break;
            }
            total += batch.len();
            for i in batch {
                r.acknowledged(i.repo, i.target);
            }
        }
        assert_eq!(total, 10);
        assert_eq!(r.published().len(), 10);
    }

    #[test]
    fn one_library_at_a_time() {
        let mut r = Reconciler::new(heads(&[(1, 1)]), 2);
        assert_eq!(r.plan_one(repo(1), Some(head(1))), Ok(None), "already published");
        let moved = r.plan_one(repo(1), Some(head(2))).unwrap().unwrap();
        assert_eq!(
            (moved.target, moved.previous, moved.first_seen),
            (Target::Head(head(2)), Some(head(1)), false)
        );
        assert_eq!(r.plan_one(repo(1), Some(head(2))), Ok(None), "in flight");
        let back = r.plan_one(repo(1), Some(head(1))).unwrap().unwrap();
        assert_eq!(back.target, Target::Head(head(1)), "moved back while in flight: sent");
        let new = r.plan_one(repo(2), Some(head(7))).unwrap().unwrap();
        assert!(new.first_seen);
        assert_eq!(r.plan_one(repo(3), Some(head(3))), Err(Full), "bounded like plan");
        assert_eq!(r.plan_one(repo(9), None), Ok(None), "never seen: nothing to delete");
        let gone = r.plan_one(repo(1), None).unwrap().unwrap();
        assert_eq!((gone.target, gone.previous), (Target::Deleted, Some(head(1))));
        r.acknowledged(repo(1), Target::Deleted);
        assert_eq!(r.plan_one(repo(1), None), Ok(None));
    }

    #[test]
    fn late_ack_of_an_older_head_does_not_clear_the_newer_in_flight() {
        let mut r = Reconciler::new(HashMap::new(), 10);
        let a = r.plan(&heads(&[(1, 1)]));
        let b = r.plan(&heads(&[(1, 2)]));
        assert_eq!(b.len(), 1, "a newer head is sent while the older is in flight");
        r.acknowledged(a[0].repo, a[0].target);
        assert_eq!(r.in_flight(), 1);
        assert!(r.plan(&heads(&[(1, 2)])).is_empty());
        r.acknowledged(b[0].repo, b[0].target);
        assert_eq!(r.published()[&repo(1)], head(2));
    }
}
