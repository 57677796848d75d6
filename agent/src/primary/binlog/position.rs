//! Where the binlog stream stands, and which of those places may be saved.
//!
//! A position may be saved only when every change the stream found before it is on the topic:
//! a restart resumes there, so a change whose event was still in flight (or failed) behind a
//! saved position would be lost. [`PositionTracker`] keeps that rule, without any I/O.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// A place in the server's binary log: the file and the byte offset of the next event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogPosition {
    pub file: String,
    pub offset: u64,
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

/// Numbers every published event and tells which transaction ends are fully on the topic.
#[derive(Debug, Default)]
pub struct PositionTracker {
    next: u64,
    /// Events handed to the producer and not answered yet.
    outstanding: BTreeSet<u64>,
    /// Events the broker refused: pending until a full read of `Branch` covers them again.
    failed: BTreeSet<u64>,
    /// (events issued before it, position): transaction ends in stream order.
    marks: VecDeque<(u64, BinlogPosition)>,
}

impl PositionTracker {
    /// A new event is about to be published; its number comes back with its delivery.
    pub fn issue(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.outstanding.insert(seq);
        seq
    }

    /// The broker answered event `seq`.
    pub fn delivered(&mut self, seq: u64, ok: bool) {
        if self.outstanding.remove(&seq) && !ok {
            self.failed.insert(seq);
        }
    }

    /// A transaction ended at `position`: everything issued so far belongs before it.
    pub fn transaction_end(&mut self, position: BinlogPosition) {
        // Only the latest of the ends that wait behind the same event matters.
        if let Some(last) = self.marks.back_mut() {
            if last.0 == self.next {
                last.1 = position;
                return;
            }
        }
        self.marks.push_back((self.next, position));
    }

    /// A full read of `Branch` was planned: it re-sent whatever the failed events announced.
    pub fn covered_by_full_read(&mut self) {
        self.failed.clear();
    }

    /// The latest position behind which every event is on the topic, if it moved.
    pub fn safe(&mut self) -> Option<BinlogPosition> {
        let pending = self
            .outstanding
            .first()
            .into_iter()
            .chain(self.failed.first())
            .min()
            .copied();
        let mut safe = None;
        while let Some((before, _)) = self.marks.front() {
            if pending.is_some_and(|p| p < *before) {
                break;
            }
            safe = self.marks.pop_front().map(|(_, p)| p);
        }
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> BinlogPosition {
        BinlogPosition {
            file: "mysql-bin.000001".into(),
            offset,
        }
    }

    #[test]
    fn a_position_is_safe_once_every_event_before_it_is_acknowledged() {
        let mut t = PositionTracker::default();
        t.transaction_end(at(100));
        assert_eq!(t.safe(), Some(at(100)), "nothing was sent before it");
        let a = t.issue();
        t.transaction_end(at(200));
        let b = t.issue();
        t.transaction_end(at(300));
        assert_eq!(t.safe(), None);
        t.delivered(b, true);
        assert_eq!(t.safe(), None, "a is still in flight");
        t.delivered(a, true);
        assert_eq!(t.safe(), Some(at(300)));
        assert_eq!(t.safe(), None, "nothing new");
    }

    #[test]
    fn a_failed_event_holds_the_position_until_a_full_read() {
        let mut t = PositionTracker::default();
        let a = t.issue();
        t.transaction_end(at(200));
        t.delivered(a, false);
        t.transaction_end(at(300));
        assert_eq!(t.safe(), None);
        t.covered_by_full_read();
        assert_eq!(t.safe(), Some(at(300)));
    }

    #[test]
    fn later_events_do_not_hold_earlier_ends() {
        let mut t = PositionTracker::default();
        let a = t.issue();
        t.transaction_end(at(200));
        let _b = t.issue();
        t.delivered(a, true);
        assert_eq!(t.safe(), Some(at(200)));
    }
}
