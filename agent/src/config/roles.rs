//! `[primary]` and `[backup]`: each role's section, its field docs the reference, its defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration::{hours_or_humantime, seconds_or_humantime};

/// `[primary]`: beside the Seafile server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryConfig {
    /// Seafile's `seafile-data` directory (holding `storage/`).
    pub seafile_data_dir: PathBuf,
    /// Seafile's database: `mysql://…`, `postgres://…` or `sqlite:///…/seafile.db`.
    pub database_url: String,
    /// Object API address for backup servers.
    #[serde(default = "default_primary_listen")]
    pub listen: String,
    /// Prometheus `/metrics` and `/healthz`.
    #[serde(default = "default_primary_metrics")]
    pub metrics_listen: String,
    /// This node's name in events (`origin_node`).
    #[serde(default = "default_node_id")]
    pub node_id: String,
    /// How often the `Branch` table is compared with what was published.
    #[serde(default = "default_poll", deserialize_with = "seconds_or_humantime")]
    pub poll_interval: Duration,
    /// How changes are found: `"auto"` (the binary log on MySQL/MariaDB when the server
    /// provides it, otherwise the poll, with a warning that says what to set), `"binlog"`
    /// (the binary log or an error at start), `"poll"` (read `Branch` every `poll_interval`).
    /// PostgreSQL and SQLite always poll.
    #[serde(default)]
    pub change_capture: ChangeCapture,
    /// With the binary log: how often the whole `Branch` table is still compared, as a safety
    /// net (the log is the fast path, never the only one).
    #[serde(default = "default_full_read", deserialize_with = "seconds_or_humantime")]
    pub full_read_interval: Duration,
    /// The replica server id the primary uses on the binary log; unique among the server's
    /// replicas. Unset: a random one at each start.
    pub binlog_server_id: Option<u32>,
    /// How often a heartbeat event is sent, so backups can measure lag while idle.
    #[serde(default = "default_heartbeat", deserialize_with = "seconds_or_humantime")]
    pub heartbeat_interval: Duration,
    /// Where the primary remembers what it published (so a restart does not republish).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// A request's headers must arrive within this, and a connection idle this long is closed
    /// (before any token check: slow or silent clients cannot hold connections).
    #[serde(default = "default_api_header_timeout", deserialize_with = "seconds_or_humantime")]
    pub api_header_timeout: Duration,
    /// An answer must be ready within this, or the request gets 408 (a streamed block's body
    /// may take longer).
    #[serde(default = "default_api_request_timeout", deserialize_with = "seconds_or_humantime")]
    pub api_request_timeout: Duration,
    /// Object API connections open at once; more are closed at accept.
    #[serde(default = "default_api_max_connections")]
    pub api_max_connections: usize,
    /// PEM certificate chain to serve the object API over HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// `[primary] change_capture`: how the primary finds changed libraries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeCapture {
    /// The binary log where the database provides it, else the poll.
    #[default]
    Auto,
    /// The binary log (MySQL/MariaDB), or an error at start.
    Binlog,
    /// The `Branch` poll.
    Poll,
}

/// `[backup]`: on the backup host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// The primary's object API, e.g. `http://primary:8083`.
    pub primary_url: Option<String>,
    /// The backup's `seafile-data` directory.
    pub seafile_data_dir: PathBuf,
    /// The backup's seafile database.
    pub database_url: String,
    /// Prometheus `/metrics` and `/healthz`.
    #[serde(default = "default_backup_metrics")]
    pub metrics_listen: String,
    /// Full-scan period; a bare number means hours, as in seafile.conf.
    #[serde(default = "default_scan", deserialize_with = "hours_or_humantime")]
    pub sync_poll_interval: Duration,
    /// Libraries synced in parallel.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// PEM file of the CA (or CAs) the primary's HTTPS certificate must chain to; only these
    /// are trusted then, not the system's roots. Without it, an `https://` primary_url is
    /// checked against the system's roots.
    pub primary_ca: Option<PathBuf>,
    /// How fast the scrub re-reads the backup store, in bytes per second; 0 turns it off.
    #[serde(default = "default_scrub_rate")]
    pub scrub_bytes_per_second: u64,
    /// How often the scrub compares a random library's head with the primary's; 0 turns it off.
    #[serde(default = "default_scrub_heads", deserialize_with = "seconds_or_humantime")]
    pub scrub_head_interval: Duration,
}

fn default_scrub_rate() -> u64 {
    8 * 1024 * 1024
}
fn default_scrub_heads() -> Duration {
    Duration::from_secs(60)
}

fn default_primary_listen() -> String {
    "0.0.0.0:8083".into()
}
fn default_primary_metrics() -> String {
    "127.0.0.1:9108".into()
}
fn default_backup_metrics() -> String {
    "127.0.0.1:9109".into()
}
fn default_node_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "primary-1".into())
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_full_read() -> Duration {
    Duration::from_secs(300)
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(10)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/seaf-backup")
}
fn default_scan() -> Duration {
    Duration::from_secs(3600)
}
fn default_api_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_api_request_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_api_max_connections() -> usize {
    512
}
/// Syncs wait on round trips, barriers and database commits far more than on the CPU, so
/// more run at once than there are cores: a first copy of 1,000 small libraries took 17.3 s
/// with 8 and 15.6 s with 32 (docs/benchmarks.md), at 33–44 MiB of RSS.
fn default_workers() -> usize {
    16
}

impl PrimaryConfig {
    /// `tls_cert` and `tls_key` together, or neither.
    pub fn tls(&self) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
            (None, None) => Ok(None),
            _ => anyhow::bail!("[primary] tls_cert and tls_key go together: set both (HTTPS) or neither (HTTP)"),
        }
    }
}
