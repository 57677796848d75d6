//! The `seaf-backup` agent: CLI commands, configuration, the primary and backup roles.
//!
//! - [`config`]: the TOML file, environment overrides and seafile.conf keys.
//! - [`backup`]: the consumer, the delta sync, full scans, the status report.
//! - [`primary`]: change detection, event publishing and the object API.
//! - [`protocol`]: the primary ↔ backup HTTP API contract (paths, bodies, batch framing).
//! - [`telemetry`]: `/metrics` and `/healthz`.
//! - [`internal_events`]: every logged or measured happening, and the catalogue of metrics.
//! - [`restore`]: reading one library's history and trees from a store, without Seafile.
//! - [`commands`]: one module per subcommand that is not a role (`verify`).
//! - [`pack`]: the pack exchange (one request per sync: negotiation, tree walk, wire format).
//! - [`log_limit`]: one log line per period for happenings that repeat many times a second.
//! - [`shutdown`]: the stop signal (SIGINT, SIGTERM) both roles end on.

pub mod backup;
pub mod commands;
pub mod config;
pub mod internal_events;
pub mod log_limit;
pub mod pack;
pub mod primary;
pub mod protocol;
pub mod restore;
pub mod shutdown;
pub mod telemetry;
