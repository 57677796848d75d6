//! The scrub's speed limit: a token bucket over bytes read, with one second of burst, so the
//! scrub never takes more than its share of the disk even after it paused.

use std::time::{Duration, Instant};

/// Bytes per second, and when the next read may start.
#[derive(Debug, Clone)]
pub struct Pace {
    bytes_per_second: u64,
    ready_at: Instant,
}

/// The most the bucket may save up while the scrub is idle.
const BURST: Duration = Duration::from_secs(1);

impl Pace {
    /// `bytes_per_second` must not be zero (zero disables the scrub before it starts).
    pub fn new(bytes_per_second: u64, now: Instant) -> Pace {
        Pace {
            bytes_per_second: bytes_per_second.max(1),
            ready_at: now,
        }
    }

    /// `bytes` were just read at `now`: how long to wait before the next read.
    pub fn read(&mut self, bytes: u64, now: Instant) -> Duration {
        let floor = now.checked_sub(BURST).unwrap_or(now);
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        self.ready_at = self.ready_at.max(floor) + cost;
        self.ready_at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_spaced_to_the_rate() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut pace = Pace::new(1_000, t0);
        assert_eq!(pace.read(500, t0), Duration::from_millis(500));
        // Read again as soon as allowed: each 500 bytes costs half a second.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(pace.read(500, t1), Duration::from_millis(500));
        // 10 MB at 1 kB/s: a long wait, never a burst.
        assert_eq!(pace.read(10_000, t0 + Duration::from_secs(1)), Duration::from_secs(10));
    }

    #[test]
    fn an_idle_scrub_saves_up_at_most_a_second() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut pace = Pace::new(1_000, t0);
        let later = t0 + Duration::from_secs(3600);
        // The first second's worth is free, the next costs time again.
        assert_eq!(pace.read(1_000, later), Duration::ZERO);
        assert_eq!(pace.read(1_000, later), Duration::from_secs(1));
    }
}
