//! The backup's recovery point: how far behind the primary what the backup holds is.
//!
//! Not a sync's duration (`seaf_backup_repo_sync_seconds`): an event waits in the topic and the
//! queue before any sync starts, and that wait is what a failover loses.

use std::time::{Duration, SystemTime};

use super::catalogue::*;
use super::InternalEvent;

/// One event read from the topic is applied: its library's head on the backup is at least the
/// one the primary detected, `rpo` after that detection.
pub struct EventApplied {
    pub rpo: Duration,
}

impl InternalEvent for EventApplied {
    fn emit(self) {
        metrics::histogram!(BACKUP_RPO_SECONDS).record(self.rpo.as_secs_f64());
    }
}

/// Every change the primary detected before `at` is applied on the backup.
pub struct ConsistentAsOf {
    pub at: SystemTime,
}

impl InternalEvent for ConsistentAsOf {
    fn emit(self) {
        let secs = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        metrics::gauge!(BACKUP_CONSISTENT_AS_OF_SECONDS).set(secs);
    }
}
