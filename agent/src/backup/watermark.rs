//! The recovery point, without Kafka or a database: which events read from the topic are
//! applied on the backup, how long each took from its detection on the primary
//! (`seaf_backup_rpo_seconds`), and the time before which every detected change is applied
//! (`seaf_backup_consistent_as_of_seconds`).
//!
//! An event is *applied* once a sync of its library that read the primary after the event was
//! read (so at a head at least as new) has committed. Two ways tell:
//!
//! - a worker of this process: its sync started after the event was recorded, and succeeded
//!   ([`Watermark::sync_started`]); exact, also for a library that changes all the time;
//! - the library's queue row, read after the event was durably marked waiting, is `synced` or
//!   `deleted`: marking it made the row waiting (or left a running sync marked as changed,
//!   which then finishes as waiting), so a finished row seen afterwards comes from a sync that
//!   started after; its `updated_at` is when that sync committed. This covers syncs by other
//!   backup processes.
//!
//! Rows that were already waiting when partitions were assigned (a restart, a rebalance) were
//! marked by events this process never read, whose detection times it does not know: they are
//! *inherited*, and the watermark is unknown until each has been applied.
//!
//! Per partition, the bound is the detection time of the oldest event not yet applied; with
//! none pending, the newest detection time read from it (later messages were detected later).
//! The primary sends heartbeats to one partition only (their key is the node), so an idle,
//! caught-up partition (its lag measured as zero) takes the newest detection time read from
//! *any* partition before that lag was measured: whatever the primary had published to it by
//! then is recorded. The watermark is the minimum over the assigned partitions, `None` while
//! one of them has told nothing yet. Everything is in milliseconds since the Unix epoch.

use std::collections::{BTreeMap, HashMap};

use seaf_seafile::RepoId;

/// One partition assigned to this consumer.
#[derive(Debug, Default)]
struct Partition {
    /// Offsets below this were recorded: a redelivered message is not counted twice.
    next_offset: i64,
    /// The newest detection time read from it.
    newest: Option<i64>,
    /// Detection times of its events not yet applied, with how many events have each.
    pending: BTreeMap<i64, usize>,
    /// Its lag was zero at the last report: everything published to it had been recorded.
    caught_up: bool,
}

/// One event waiting to be applied.
#[derive(Debug, Clone, Copy)]
struct Pending {
    partition: i32,
    detected_ms: i64,
    /// When it was recorded (see [`Watermark::made_durable`]).
    seq: u64,
}

/// Which events a sync or a row read can apply: those recorded (and, for a row, durable)
/// before it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    recorded: u64,
    durable: u64,
}

/// The events of the assigned partitions and what became of them.
#[derive(Debug, Default)]
pub struct Watermark {
    partitions: BTreeMap<i32, Partition>,
    pending: HashMap<RepoId, Vec<Pending>>,
    /// The newest detection time read from any partition.
    newest: Option<i64>,
    /// [`Self::newest`] when the last lag report came: the bound of idle, caught-up
    /// partitions once the next report shows them caught up.
    newest_at_last_report: Option<i64>,
    /// The bound of idle, caught-up partitions.
    idle_bound: Option<i64>,
    /// Libraries whose rows were waiting when partitions were assigned, each with the `seq`
    /// of that moment.
    inherited: HashMap<RepoId, u64>,
    /// The partitions of the last lag report.
    known: std::collections::BTreeSet<i32>,
    /// Partitions were newly assigned: the waiting rows are to be inherited.
    inherit_requested: bool,
    recorded: u64,
    durable: u64,
}

impl Watermark {
    /// One message read: an event of `repo`, or a heartbeat (`None`). Returns false for a
    /// message already recorded (redelivered in the same assignment).
    pub fn record(&mut self, partition: i32, offset: i64, repo: Option<RepoId>, detected_ms: i64) -> bool {
        let p = self.partitions.entry(partition).or_default();
        if offset < p.next_offset {
            return false;
        }
        p.next_offset = offset + 1;
        p.newest = p.newest.max(Some(detected_ms));
        self.newest = self.newest.max(Some(detected_ms));
        if let Some(repo) = repo {
            *p.pending.entry(detected_ms).or_default() += 1;
            self.recorded += 1;
            let seq = self.recorded;
            self.pending.entry(repo).or_default().push(Pending {
                partition,
                detected_ms,
                seq,
            });
        }
        true
    }

    /// Everything recorded so far is now durable in the queue (marked waiting): only from now
    /// on does a finished row of its library mean it is applied.
    pub fn made_durable(&mut self) {
        self.durable = self.recorded;
    }

    /// The libraries with durable events (or inherited rows) not yet applied: the rows to
    /// read. The ticket goes back to [`Self::applied`] with each row read, so events made
    /// durable after it was taken wait for the next read.
    pub fn to_check(&self) -> (Ticket, Vec<RepoId>) {
        let durable = self.durable;
        let mut repos: Vec<RepoId> = self
            .pending
            .iter()
            .filter(|(repo, events)| events.iter().any(|e| e.seq <= durable) && !self.inherited.contains_key(repo))
            .map(|(repo, _)| *repo)
            .collect();
        repos.extend(self.inherited.keys());
        let ticket = Ticket {
            recorded: self.recorded,
            durable,
        };
        (ticket, repos)
    }

    /// A worker of this process starts a sync: if it succeeds, it applies every event recorded
    /// until now (the sync reads the primary after this).
    pub fn sync_started(&self) -> Ticket {
        Ticket {
            recorded: self.recorded,
            durable: self.recorded,
        }
    }

    /// `repo` was applied at `applied_ms` by what `ticket` was taken for: a row read after it
    /// that is finished (`synced` or `deleted`), or a sync started after it that succeeded.
    /// Returns the recovery point of each of its events so applied, in milliseconds (zero when
    /// the clocks disagree); inherited rows have none.
    pub fn applied(&mut self, ticket: Ticket, repo: &RepoId, applied_ms: i64) -> Vec<i64> {
        if self.inherited.get(repo).is_some_and(|seq| *seq <= ticket.recorded) {
            self.inherited.remove(repo);
        }
        let Some(events) = self.pending.get_mut(repo) else {
            return Vec::new();
        };
        let mut rpo = Vec::new();
        events.retain(|e| {
            if e.seq > ticket.durable {
                return true;
            }
            if let Some(p) = self.partitions.get_mut(&e.partition) {
                remove_one(&mut p.pending, e.detected_ms);
            }
            rpo.push((applied_ms - e.detected_ms).max(0));
            false
        });
        if events.is_empty() {
            self.pending.remove(repo);
        }
        rpo
    }

    /// Whether the waiting rows are to be read and inherited (once per request).
    pub fn take_inherit_request(&mut self) -> bool {
        std::mem::take(&mut self.inherit_requested)
    }

    /// Asks again (the read failed).
    pub fn request_inherit(&mut self) {
        self.inherit_requested = true;
    }

    /// The libraries whose rows are waiting or syncing now: until each is applied, the
    /// watermark is unknown.
    pub fn inherit(&mut self, repos: impl IntoIterator<Item = RepoId>) {
        self.recorded += 1;
        let seq = self.recorded;
        for repo in repos {
            self.inherited.entry(repo).or_insert(seq);
        }
    }

    /// A lag report: `lags` holds every partition assigned now, with its lag. Partitions not
    /// in it were revoked (another consumer has them): their events leave the watermark.
    pub fn assigned(&mut self, lags: &[(i32, i64)]) {
        let now: HashMap<i32, i64> = lags.iter().copied().collect();
        if now.keys().any(|p| !self.known.contains(p)) {
            self.inherit_requested = true;
        }
        self.known = now.keys().copied().collect();
        self.partitions.retain(|p, _| now.contains_key(p));
        for (partition, lag) in &now {
            self.partitions.entry(*partition).or_default().caught_up = *lag <= 0;
        }
        let kept = &self.partitions;
        self.pending.retain(|_, events| {
            events.retain(|e| kept.contains_key(&e.partition));
            !events.is_empty()
        });
        // The newest time read before this lag was measured (the previous report came before
        // its measurement started).
        self.idle_bound = self.newest_at_last_report;
        self.newest_at_last_report = self.newest;
    }

    /// Every change the primary detected before this time is applied; `None` when not known
    /// (no partition assigned, one that has told nothing yet, or inherited rows not applied).
    pub fn consistent_as_of(&self) -> Option<i64> {
        if !self.inherited.is_empty() {
            return None;
        }
        let mut min: Option<i64> = None;
        for p in self.partitions.values() {
            let bound = match p.pending.keys().next() {
                Some(oldest) => Some(*oldest),
                None if p.caught_up => p.newest.max(self.idle_bound),
                None => p.newest,
            }?;
            min = Some(min.map_or(bound, |m| m.min(bound)));
        }
        min
    }

    /// Events recorded and not yet applied.
    pub fn pending_events(&self) -> usize {
        self.pending.values().map(Vec::len).sum()
    }
}

fn remove_one(counts: &mut BTreeMap<i64, usize>, key: i64) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(n: u8) -> RepoId {
        RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap()
    }

    /// Three partitions assigned, none with lag.
    fn three() -> Watermark {
        let mut w = Watermark::default();
        w.assigned(&[(0, 0), (1, 0), (2, 0)]);
        w
    }

    /// One partition assigned, without lag.
    fn one() -> Watermark {
        let mut w = Watermark::default();
        w.assigned(&[(0, 0)]);
        w
    }

    #[test]
    fn unknown_until_every_partition_has_told_something() {
        let mut w = Watermark::default();
        assert_eq!(w.consistent_as_of(), None, "nothing assigned");
        w.assigned(&[(0, 5), (1, 5)]);
        w.record(0, 0, Some(repo(1)), 100);
        assert_eq!(w.consistent_as_of(), None, "partition 1 has told nothing");
        w.record(1, 0, None, 150);
        assert_eq!(w.consistent_as_of(), Some(100));
    }

    #[test]
    fn applying_out_of_order_moves_to_the_oldest_left() {
        let mut w = one();
        for (i, (r, t)) in [(1, 100), (2, 200), (3, 300)].into_iter().enumerate() {
            w.record(0, i as i64, Some(repo(r)), t);
        }
        w.made_durable();
        assert_eq!(w.consistent_as_of(), Some(100));
        assert_eq!(w.applied(w.to_check().0, &repo(3), 1_300), vec![1_000]);
        assert_eq!(w.consistent_as_of(), Some(100), "the oldest is still pending");
        assert_eq!(w.applied(w.to_check().0, &repo(1), 1_500), vec![1_400]);
        assert_eq!(w.consistent_as_of(), Some(200));
        assert_eq!(w.applied(w.to_check().0, &repo(2), 1_600), vec![1_400]);
        assert_eq!(w.consistent_as_of(), Some(300), "all applied: the newest read");
        assert_eq!(w.pending_events(), 0);
    }

    #[test]
    fn the_minimum_over_partitions() {
        let mut w = Watermark::default();
        w.assigned(&[(0, 3), (1, 3)]);
        w.record(0, 0, Some(repo(1)), 500);
        w.record(1, 0, Some(repo(2)), 200);
        w.record(1, 1, None, 900);
        w.made_durable();
        assert_eq!(w.consistent_as_of(), Some(200));
        w.applied(w.to_check().0, &repo(2), 1_000);
        assert_eq!(w.consistent_as_of(), Some(500));
        w.applied(w.to_check().0, &repo(1), 1_000);
        // Partition 0 is behind (lag 3): only what was read from it counts.
        assert_eq!(w.consistent_as_of(), Some(500));
    }

    #[test]
    fn an_idle_caught_up_partition_follows_the_heartbeats_of_another() {
        let mut w = three();
        w.record(0, 0, None, 1_000);
        // Partitions 1 and 2 have never had a message; the lag measured after the heartbeat
        // was read shows them caught up.
        assert_eq!(w.consistent_as_of(), None);
        w.assigned(&[(0, 0), (1, 0), (2, 0)]);
        assert_eq!(w.consistent_as_of(), None, "the heartbeat came after the last report");
        w.record(0, 1, None, 2_000);
        w.assigned(&[(0, 0), (1, 0), (2, 0)]);
        assert_eq!(w.consistent_as_of(), Some(1_000));
        w.assigned(&[(0, 0), (1, 0), (2, 0)]);
        assert_eq!(w.consistent_as_of(), Some(2_000));
        // A partition with lag does not follow: it may hold older events not read yet.
        w.assigned(&[(0, 0), (1, 4), (2, 0)]);
        assert_eq!(w.consistent_as_of(), None);
    }

    #[test]
    fn an_event_recorded_but_not_yet_durable_is_not_applied() {
        let mut w = one();
        w.record(0, 0, Some(repo(1)), 100);
        assert!(w.to_check().1.is_empty());
        let (early, _) = w.to_check();
        assert!(
            w.applied(early, &repo(1), 500).is_empty(),
            "the row may predate the event"
        );
        w.made_durable();
        let (ticket, repos) = w.to_check();
        assert_eq!(repos, vec![repo(1)]);
        // Recorded and made durable while the row was being read: not applied by that row.
        w.record(0, 1, Some(repo(1)), 200);
        w.made_durable();
        assert_eq!(w.applied(ticket, &repo(1), 500), vec![400]);
        assert_eq!(w.consistent_as_of(), Some(200), "the second is pending");
        assert_eq!(w.applied(w.to_check().0, &repo(1), 600), vec![400]);
    }

    #[test]
    fn duplicates_count_once() {
        let mut w = three();
        assert!(w.record(1, 7, Some(repo(1)), 100));
        assert!(!w.record(1, 7, Some(repo(1)), 100), "the same message again");
        assert!(!w.record(1, 3, Some(repo(1)), 50), "an older offset: already read");
        w.made_durable();
        assert_eq!(w.applied(w.to_check().0, &repo(1), 300), vec![200]);
        // Two events of one library in one sync: both applied by it.
        w.record(2, 0, Some(repo(2)), 100);
        w.record(2, 1, Some(repo(2)), 150);
        w.made_durable();
        assert_eq!(w.applied(w.to_check().0, &repo(2), 1_000), vec![900, 850]);
        assert_eq!(w.pending_events(), 0);
    }

    #[test]
    fn a_revoked_partition_leaves_the_watermark_and_a_reassigned_one_starts_over() {
        let mut w = three();
        w.record(0, 0, Some(repo(1)), 100);
        w.record(1, 0, Some(repo(2)), 400);
        w.record(2, 0, None, 500);
        w.made_durable();
        assert_eq!(w.consistent_as_of(), Some(100));
        w.assigned(&[(1, 0), (2, 0)]);
        assert_eq!(w.consistent_as_of(), Some(400), "partition 0 went to another consumer");
        assert!(
            w.applied(w.to_check().0, &repo(1), 900).is_empty(),
            "its event left with it"
        );
        w.assigned(&[(0, 2), (1, 0), (2, 0)]);
        assert_eq!(
            w.consistent_as_of(),
            None,
            "partition 0 is back, nothing read from it yet"
        );
        assert!(w.record(0, 0, Some(repo(1)), 100), "re-read from the committed offset");
        assert_eq!(w.consistent_as_of(), Some(100));
    }

    #[test]
    fn a_worker_sync_applies_what_was_read_before_it_started() {
        let mut w = one();
        w.record(0, 0, Some(repo(1)), 100);
        // Not yet durable: the worker's sync still reads the primary after the event was read.
        let ticket = w.sync_started();
        w.record(0, 1, Some(repo(1)), 200);
        w.made_durable();
        assert_eq!(w.applied(ticket, &repo(1), 700), vec![600]);
        assert_eq!(
            w.consistent_as_of(),
            Some(200),
            "the one read after the sync began waits"
        );
        // A library that changes all the time: each sync applies what came before it.
        let ticket = w.sync_started();
        w.record(0, 2, Some(repo(1)), 300);
        assert_eq!(w.applied(ticket, &repo(1), 800), vec![600]);
        assert_eq!(w.consistent_as_of(), Some(300));
    }

    #[test]
    fn rows_waiting_at_an_assignment_hold_the_watermark_until_applied() {
        let mut w = Watermark::default();
        w.assigned(&[(0, 0)]);
        assert!(w.take_inherit_request(), "the first assignment");
        assert!(!w.take_inherit_request(), "asked once");
        w.inherit([repo(7)]);
        w.record(0, 0, None, 1_000);
        assert_eq!(
            w.consistent_as_of(),
            None,
            "repo 7 was marked by an event not read here"
        );
        let (before, _) = w.to_check();
        let (ticket, repos) = {
            w.inherit([repo(8)]);
            w.to_check()
        };
        assert!(repos.contains(&repo(7)) && repos.contains(&repo(8)), "{repos:?}");
        assert!(w.applied(before, &repo(8), 2_000).is_empty());
        assert_eq!(w.consistent_as_of(), None, "repo 8 was inherited after that read began");
        assert!(
            w.applied(ticket, &repo(7), 2_000).is_empty(),
            "no recovery point: no detection time"
        );
        assert!(w.applied(ticket, &repo(8), 2_000).is_empty());
        assert_eq!(w.consistent_as_of(), Some(1_000));
        // The same partitions again: nothing to inherit; one more (a rebalance): inherit again.
        w.assigned(&[(0, 0)]);
        assert!(!w.take_inherit_request());
        w.assigned(&[(0, 0), (1, 0)]);
        assert!(w.take_inherit_request());
    }

    #[test]
    fn clocks_that_disagree_give_a_zero_recovery_point() {
        let mut w = three();
        w.record(0, 0, Some(repo(1)), 1_000);
        w.made_durable();
        assert_eq!(w.applied(w.to_check().0, &repo(1), 900), vec![0]);
    }
}
