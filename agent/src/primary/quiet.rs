//! [`QuietPolls`]: when a poll may skip reading `Branch` because the database's change marker
//! ([`seaf_seafile::ChangeMarker`]) says nothing was committed since the last complete read.
//!
//! A skip is allowed only when the last read left nothing owed: every change it planned was
//! published or is still awaiting the broker, none failed since (a failed delivery is re-planned
//! from a read), and the reconciler had room for all of them. And never for longer than
//! `full_read_interval`: the full read stays the safety net, whatever the marker says.

use std::time::{Duration, Instant};

/// The state of the poll's skipping.
#[derive(Debug)]
pub(super) struct QuietPolls {
    /// The marker taken just before the last complete read.
    read_at: Option<String>,
    /// When that read was.
    last_read: Option<Instant>,
    /// Something needs a read whatever the marker says.
    owed: bool,
    full_read_interval: Duration,
}

impl QuietPolls {
    pub(super) fn new(full_read_interval: Duration) -> QuietPolls {
        QuietPolls {
            read_at: None,
            last_read: None,
            owed: true,
            full_read_interval,
        }
    }

    /// Whether the poll may skip its read, given the marker just taken (`None`: none could be
    /// read, so read).
    pub(super) fn may_skip(&self, marker: Option<&str>, now: Instant) -> bool {
        let recent = self
            .last_read
            .is_some_and(|t| now.saturating_duration_since(t) < self.full_read_interval);
        !self.owed && recent && marker.is_some() && marker == self.read_at.as_deref()
    }

    /// A read completed, with `marker` taken before it; `complete`: every change it found was
    /// planned (the reconciler had room).
    pub(super) fn read_done(&mut self, marker: Option<String>, now: Instant, complete: bool) {
        self.read_at = marker;
        self.last_read = Some(now);
        self.owed = !complete;
    }

    /// The next poll must read: a read failed, or a delivery did.
    pub(super) fn owe_read(&mut self) {
        self.owed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: Duration = Duration::from_secs(300);

    fn after_a_read(marker: &str, at: Instant) -> QuietPolls {
        let mut q = QuietPolls::new(FULL);
        q.read_done(Some(marker.to_string()), at, true);
        q
    }

    #[test]
    fn the_first_poll_reads() {
        let q = QuietPolls::new(FULL);
        assert!(!q.may_skip(Some("7"), Instant::now()));
    }

    #[test]
    fn an_unchanged_marker_skips_and_a_changed_one_reads() {
        let t = Instant::now();
        let q = after_a_read("7", t);
        assert!(q.may_skip(Some("7"), t + Duration::from_secs(1)));
        assert!(!q.may_skip(Some("8"), t + Duration::from_secs(1)));
        assert!(!q.may_skip(None, t + Duration::from_secs(1)), "no marker: read");
    }

    #[test]
    fn the_full_read_interval_forces_a_read_whatever_the_marker() {
        let t = Instant::now();
        let q = after_a_read("7", t);
        assert!(q.may_skip(Some("7"), t + FULL - Duration::from_millis(1)));
        assert!(!q.may_skip(Some("7"), t + FULL));
    }

    #[test]
    fn a_failure_or_an_incomplete_plan_owes_a_read_until_the_next_complete_one() {
        let t = Instant::now();
        let mut q = after_a_read("7", t);
        q.owe_read();
        assert!(!q.may_skip(Some("7"), t), "a delivery failed: re-plan from a read");
        q.read_done(Some("7".into()), t, false);
        assert!(!q.may_skip(Some("7"), t), "the reconciler had no room for every change");
        q.read_done(Some("7".into()), t, true);
        assert!(q.may_skip(Some("7"), t));
    }
}
