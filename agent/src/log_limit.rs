//! At most one log line per period for a happening that can repeat many times a second.
//!
//! librdkafka reports every failed reconnect as an error event; during a broker outage of a few
//! minutes that is hundreds of identical lines. The consumer must still take each event off its
//! queue at once (pausing per event left a backlog that delayed recovery by minutes after the
//! broker returned), so it logs through this instead: the first occurrence, then at most one line
//! per period saying how many were not logged.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Decides which occurrences of one happening get a log line.
#[derive(Debug)]
pub struct LogLimit {
    period: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub const fn new(period: Duration) -> Self {
        LogLimit {
            period,
            last_logged: None,
            suppressed: 0,
        }
    }

    /// For an occurrence at `now`: `Some(n)` when it should be logged, `n` being how many
    /// occurrences since the last logged one were not; `None` when it should not be.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_logged
            .is_none_or(|last| now.duration_since(last) >= self.period);
        if due {
            self.last_logged = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// A [`LogLimit`] for a happening emitted from many places and tasks: one `static` per
/// happening (see `internal_events`), so every emitter shares the same count and period.
#[derive(Debug)]
pub struct SharedLogLimit(Mutex<LogLimit>);

impl SharedLogLimit {
    pub const fn new(period: Duration) -> Self {
        SharedLogLimit(Mutex::new(LogLimit::new(period)))
    }

    /// [`LogLimit::admit`] for an occurrence now. A poisoned lock is used as is: the state is
    /// two numbers, and a log line is no reason to panic.
    pub fn admit(&self) -> Option<u64> {
        let mut limit = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        limit.admit(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_once_per_period_with_the_count_left_out() {
        let start = Instant::now();
        let mut limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.admit(start), Some(0));
        for ms in [1, 500, 9_999] {
            assert_eq!(limit.admit(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(limit.admit(start + Duration::from_secs(10)), Some(3));
        assert_eq!(limit.admit(start + Duration::from_secs(11)), None);
        assert_eq!(limit.admit(start + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn a_shared_limit_counts_across_emitters() {
        static LIMIT: SharedLogLimit = SharedLogLimit::new(Duration::from_secs(3600));
        assert_eq!(LIMIT.admit(), Some(0));
        let others: Vec<_> = (0..3).map(|_| std::thread::spawn(|| LIMIT.admit())).collect();
        for other in others {
            assert_eq!(other.join().unwrap(), None);
        }
    }
}
