//! The `RepoUpdate` event as plain Rust values, independent of Avro and of Kafka.
//!
//! The roles build and read these; only [`crate::codec`] knows how they look on the wire. The
//! contract between fields (an UPDATE names a library and its new head, a HEARTBEAT names no
//! library, ...) is checked in one place, [`RepoUpdate::check`], which both encoding and decoding
//! call: a producer cannot publish what a consumer would reject.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seaf_seafile::{ObjectId, RepoId};
use uuid::Uuid;

/// What happened to a library. Mirrors the Avro enum `RepoUpdateKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepoUpdateKind {
    /// The library's head moved, or the library is new.
    Update,
    /// The library went to the trash. The backup marks it deleted and keeps its data.
    Delete,
    /// Nothing changed; the primary is alive. Lets the backup measure how far behind it is even
    /// when no library changes.
    Heartbeat,
}

impl RepoUpdateKind {
    /// Symbols in Avro schema order: the index is what goes on the wire.
    pub(crate) const SYMBOLS: [&'static str; 3] = ["UPDATE", "DELETE", "HEARTBEAT"];
    const ALL: [Self; 3] = [Self::Update, Self::Delete, Self::Heartbeat];

    /// The Avro symbol.
    pub fn symbol(self) -> &'static str {
        Self::SYMBOLS[self.index()]
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_symbol(symbol: &str) -> Option<Self> {
        Self::SYMBOLS.iter().position(|s| *s == symbol).map(|i| Self::ALL[i])
    }
}

impl fmt::Display for RepoUpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// How the primary noticed the change. Mirrors the Avro enum `DetectionSource`; informational
/// only (logs, metrics), it never changes what the backup does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetectionSource {
    /// The primary's start-up scan of every library.
    Snapshot,
    /// A periodic comparison of Seafile's `Branch` table.
    Poll,
    /// A file-system watch on the commits directory.
    Inotify,
    /// Seafile's event channel.
    Redis,
    /// A heartbeat, not a detection.
    Heartbeat,
    /// An operator asked (`seaf-backup sync`).
    Manual,
    /// The database's binary log (MySQL/MariaDB change capture).
    Binlog,
}

impl DetectionSource {
    pub(crate) const SYMBOLS: [&'static str; 7] =
        ["SNAPSHOT", "POLL", "INOTIFY", "REDIS", "HEARTBEAT", "MANUAL", "BINLOG"];
    const ALL: [Self; 7] = [
        Self::Snapshot,
        Self::Poll,
        Self::Inotify,
        Self::Redis,
        Self::Heartbeat,
        Self::Manual,
        Self::Binlog,
    ];

    /// The Avro symbol.
    pub fn symbol(self) -> &'static str {
        Self::SYMBOLS[self.index()]
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_symbol(symbol: &str) -> Option<Self> {
        Self::SYMBOLS.iter().position(|s| *s == symbol).map(|i| Self::ALL[i])
    }
}

impl fmt::Display for DetectionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One event on the topic: "library X has head Y now", "library X was deleted", or "primary P
/// is alive".
///
/// Fields are public so tests and tools can build odd values; [`RepoUpdate::check`] says whether
/// a value keeps the contract, and the codec refuses to encode one that does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUpdate {
    pub event_id: Uuid,
    pub kind: RepoUpdateKind,
    /// `None` only for heartbeats.
    pub repo_id: Option<RepoId>,
    /// The new head; `Some` exactly for updates.
    pub head_commit_id: Option<ObjectId>,
    /// The head before the change, when the primary knows it.
    pub previous_head_id: Option<ObjectId>,
    /// The primary's `node_id`.
    pub origin_node: String,
    /// Whole milliseconds: that is all the wire keeps, so a decoded event equals the original.
    pub detected_at: SystemTime,
    pub detection_source: DetectionSource,
}

/// Prefix of heartbeat keys. Repo ids are UUIDs, so a key with this prefix is never a repo's.
pub const HEARTBEAT_KEY_PREFIX: &str = "heartbeat:";

impl RepoUpdate {
    /// Library `repo` has head `head` now (detected now, by `source`).
    pub fn update(
        repo: RepoId,
        head: ObjectId,
        previous_head: Option<ObjectId>,
        origin_node: impl Into<String>,
        source: DetectionSource,
    ) -> Self {
        RepoUpdate {
            event_id: Uuid::new_v4(),
            kind: RepoUpdateKind::Update,
            repo_id: Some(repo),
            head_commit_id: Some(head),
            previous_head_id: previous_head,
            origin_node: origin_node.into(),
            detected_at: now_millis(),
            detection_source: source,
        }
    }

    /// Library `repo` went to the trash (its last head was `previous_head`, if known).
    pub fn delete(
        repo: RepoId,
        previous_head: Option<ObjectId>,
        origin_node: impl Into<String>,
        source: DetectionSource,
    ) -> Self {
        RepoUpdate {
            event_id: Uuid::new_v4(),
            kind: RepoUpdateKind::Delete,
            repo_id: Some(repo),
            head_commit_id: None,
            previous_head_id: previous_head,
            origin_node: origin_node.into(),
            detected_at: now_millis(),
            detection_source: source,
        }
    }

    /// Primary `origin_node` is alive and has looked at everything up to now.
    pub fn heartbeat(origin_node: impl Into<String>) -> Self {
        RepoUpdate {
            event_id: Uuid::new_v4(),
            kind: RepoUpdateKind::Heartbeat,
            repo_id: None,
            head_commit_id: None,
            previous_head_id: None,
            origin_node: origin_node.into(),
            detected_at: now_millis(),
            detection_source: DetectionSource::Heartbeat,
        }
    }

    /// The Kafka message key: the repo id, so one library's events stay in order in one
    /// partition and compaction keeps its latest; `heartbeat:<origin_node>` for heartbeats, so
    /// compaction keeps one per primary. (An out-of-contract event with no repo id is keyed
    /// like a heartbeat; the codec refuses to encode it anyway.)
    pub fn key(&self) -> String {
        match (self.kind, &self.repo_id) {
            (RepoUpdateKind::Heartbeat, _) | (_, None) => {
                format!("{HEARTBEAT_KEY_PREFIX}{}", self.origin_node)
            }
            (_, Some(repo)) => repo.to_string(),
        }
    }

    /// `detected_at` in milliseconds since the Unix epoch, as on the wire.
    pub fn detected_at_millis(&self) -> i64 {
        system_time_to_millis(self.detected_at)
    }

    /// How long ago the primary detected this, as seen by a clock reading `now`; zero when the
    /// clocks disagree the other way.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.detected_at).unwrap_or_default()
    }

    /// Whether the fields keep the contract of `schemas/repo_update.avsc`.
    pub fn check(&self) -> Result<(), ContractError> {
        use RepoUpdateKind::*;
        let broken = |field: &'static str, problem: &str| {
            Err(ContractError {
                kind: self.kind,
                field,
                problem: problem.to_owned(),
            })
        };
        if self.origin_node.is_empty() {
            return broken("origin_node", "is empty (every event names the primary that sent it)");
        }
        match (self.kind, &self.repo_id, &self.head_commit_id) {
            (Update | Delete, None, _) => broken("repo_id", "is missing"),
            (Update, _, None) => broken("head_commit_id", "is missing (an UPDATE carries the new head)"),
            (Delete, _, Some(_)) => broken("head_commit_id", "is set (a DELETE has no new head)"),
            (Heartbeat, Some(_), _) => broken("repo_id", "is set (a HEARTBEAT names no library)"),
            (Heartbeat, _, Some(_)) => broken("head_commit_id", "is set (a HEARTBEAT names no commit)"),
            (Heartbeat, _, _) if self.previous_head_id.is_some() => {
                broken("previous_head_id", "is set (a HEARTBEAT names no commit)")
            }
            _ => Ok(()),
        }
    }
}

/// An event whose fields contradict each other or the schema's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} event out of contract: {field} {problem}")]
pub struct ContractError {
    pub kind: RepoUpdateKind,
    pub field: &'static str,
    pub problem: String,
}

/// Now, truncated to whole milliseconds (what the wire keeps).
pub fn now_millis() -> SystemTime {
    millis_to_system_time(system_time_to_millis(SystemTime::now())).unwrap_or(UNIX_EPOCH)
}

pub(crate) fn system_time_to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        // Round towards the past, like Java's Instant.toEpochMilli floor semantics.
        Err(before) => {
            let d = before.duration();
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            let extra = if d.subsec_nanos() % 1_000_000 != 0 { 1 } else { 0 };
            -ms.saturating_add(extra)
        }
    }
}

/// `None` when the platform's `SystemTime` cannot represent the instant.
pub(crate) fn millis_to_system_time(ms: i64) -> Option<SystemTime> {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap()
    }

    fn head() -> ObjectId {
        ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap()
    }

    #[test]
    fn constructors_keep_the_contract() {
        let u = RepoUpdate::update(repo(), head(), None, "primary-1", DetectionSource::Poll);
        let d = RepoUpdate::delete(repo(), Some(head()), "primary-1", DetectionSource::Poll);
        let h = RepoUpdate::heartbeat("primary-1");
        for e in [&u, &d, &h] {
            e.check().unwrap();
        }
        assert_eq!(u.key(), "300ca0c9-310b-4344-8289-441bcd1e031c");
        assert_eq!(d.key(), "300ca0c9-310b-4344-8289-441bcd1e031c");
        assert_eq!(h.key(), "heartbeat:primary-1");
        assert_ne!(u.event_id, d.event_id);
    }

    #[test]
    fn contract_violations_name_the_field() {
        let mut e = RepoUpdate::update(repo(), head(), None, "p", DetectionSource::Poll);
        e.head_commit_id = None;
        let err = e.check().unwrap_err();
        assert_eq!(err.field, "head_commit_id");
        assert!(
            err.to_string()
                .contains("UPDATE event out of contract: head_commit_id is missing"),
            "{err}"
        );

        let mut h = RepoUpdate::heartbeat("p");
        h.repo_id = Some(repo());
        assert_eq!(h.check().unwrap_err().field, "repo_id");

        let mut d = RepoUpdate::delete(repo(), None, "p", DetectionSource::Manual);
        d.origin_node.clear();
        assert_eq!(d.check().unwrap_err().field, "origin_node");
    }

    #[test]
    fn millis_round_trip_including_before_the_epoch() {
        for ms in [0i64, 1, -1, 1_700_000_000_123, -62_135_596_800_000] {
            let t = millis_to_system_time(ms).unwrap();
            assert_eq!(system_time_to_millis(t), ms);
        }
        let now = now_millis();
        assert_eq!(millis_to_system_time(system_time_to_millis(now)), Some(now));
    }
}
