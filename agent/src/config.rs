//! The configuration: one TOML file per process, `SEAF_BACKUP_<SECTION>_<KEY>` environment
//! overrides, and Seafile Pro's `seafile.conf` `[backup]` keys.
//!
//! Layering, lowest first: built-in defaults, `seafile.conf` `[backup]` (when `seafile_conf`
//! points at one), the TOML file, the environment. Unknown keys are errors (a typo must not
//! silently fall back to a default), and every error names the key and the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use seaf_kafka::KafkaSettings;
use serde::{Deserialize, Deserializer};

/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "SEAF_BACKUP_";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where this configuration came from, for messages.
    #[serde(skip)]
    pub source: String,
    /// Shared secret between primary and backup; every object API request carries it.
    pub sync_token: Option<String>,
    /// A Seafile `seafile.conf` whose `[backup]` section (`primary_url`, `sync_token`,
    /// `sync_poll_interval` in hours) supplies values this file leaves out.
    pub seafile_conf: Option<PathBuf>,
    /// `[kafka]`: the topic both roles share; its fields document its keys.
    #[serde(default)]
    pub kafka: KafkaSettings,
    pub primary: Option<PrimaryConfig>,
    pub backup: Option<BackupConfig>,
}

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
    /// How often a heartbeat event is sent, so backups can measure lag while idle.
    #[serde(default = "default_heartbeat", deserialize_with = "seconds_or_humantime")]
    pub heartbeat_interval: Duration,
    /// Where the primary remembers what it published (so a restart does not republish).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
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
fn default_heartbeat() -> Duration {
    Duration::from_secs(10)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/seaf-backup")
}
fn default_scan() -> Duration {
    Duration::from_secs(3600)
}
fn default_workers() -> usize {
    8
}

/// A duration as a humantime string ("1s", "500ms", "1h 30m") or a bare number of `unit`s.
fn parse_duration(value: &toml::Value, unit: Duration, unit_name: &str) -> Result<Duration, String> {
    match value {
        toml::Value::Integer(n) if *n >= 0 => Ok(unit * (*n as u32)),
        toml::Value::Float(f) if *f >= 0.0 => Ok(unit.mul_f64(*f)),
        toml::Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) if n >= 0.0 => Ok(unit.mul_f64(n)),
            _ => humantime::parse_duration(s.trim()).map_err(|e| {
                format!(
                    "{s:?} is not a duration ({e}); write e.g. \"1s\", \"500ms\", \"1h\" or a number of {unit_name}"
                )
            }),
        },
        other => Err(format!(
            "{other} is not a duration; write e.g. \"1s\" or a number of {unit_name}"
        )),
    }
}

fn seconds_or_humantime<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = toml::Value::deserialize(d)?;
    parse_duration(&v, Duration::from_secs(1), "seconds").map_err(serde::de::Error::custom)
}

fn hours_or_humantime<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = toml::Value::deserialize(d)?;
    parse_duration(&v, Duration::from_secs(3600), "hours").map_err(serde::de::Error::custom)
}

const SECTIONS: [&str; 3] = ["kafka", "primary", "backup"];

impl Config {
    /// Loads `path`, then applies `seafile.conf` and the environment.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Self::from_parts(&text, &path.display().to_string(), std::env::vars())
    }

    /// Builds a configuration from TOML text and environment variables (testable without a
    /// process environment).
    pub fn from_parts(
        text: &str,
        source: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| anyhow!("{source}: invalid TOML: {}", e.message()))?;
        let mut overridden = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if rest == "LOG" {
                continue; // the log filter, not a configuration key
            }
            apply_env(&mut table, rest, &value).with_context(|| format!("environment variable {name}"))?;
            overridden.push(name);
        }
        if let Some(conf) = table.get("seafile_conf").and_then(|v| v.as_str()).map(PathBuf::from) {
            apply_seafile_conf(&mut table, &conf)?;
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let origin = if overridden.is_empty() {
                String::new()
            } else {
                format!(" (with {})", overridden.join(", "))
            };
            let key = e.path().to_string();
            let key = if key == "." {
                String::new()
            } else {
                format!(" key `{key}`:")
            };
            anyhow!("{source}{origin}:{key} {}", e.inner().message().trim())
        })?;
        config.source = source.to_string();
        Ok(config)
    }

    pub fn primary(&self) -> anyhow::Result<&PrimaryConfig> {
        self.primary.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: no [primary] section; add one with seafile_data_dir and database_url",
                self.source
            )
        })
    }

    pub fn backup(&self) -> anyhow::Result<&BackupConfig> {
        self.backup.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: no [backup] section; add one with primary_url, seafile_data_dir and database_url",
                self.source
            )
        })
    }

    /// The shared secret, required by both roles.
    pub fn sync_token(&self) -> anyhow::Result<&str> {
        match self.sync_token.as_deref() {
            Some(t) if t.len() >= 16 => Ok(t),
            Some(_) => bail!(
                "{}: `sync_token` is too short; use 40 random hex characters (`uuidgen | openssl sha1`)",
                self.source
            ),
            None => bail!(
                "{}: missing key `sync_token` (the secret shared by primary and backup)",
                self.source
            ),
        }
    }

    /// The Seafile side `verify` checks: `[backup]` when present, else `[primary]`.
    pub fn storage_side(&self) -> anyhow::Result<(PathBuf, String)> {
        match (&self.backup, &self.primary) {
            (Some(b), _) => Ok((b.seafile_data_dir.clone(), b.database_url.clone())),
            (None, Some(p)) => Ok((p.seafile_data_dir.clone(), p.database_url.clone())),
            (None, None) => bail!(
                "{}: neither a [backup] nor a [primary] section; add one with seafile_data_dir and database_url",
                self.source
            ),
        }
    }
}

/// Sets `SECTION_KEY` (or a top-level `KEY`) from an environment variable. Values that parse as
/// TOML scalars (numbers, booleans) keep their type; anything else is a string.
fn apply_env(table: &mut toml::Table, rest: &str, value: &str) -> anyhow::Result<()> {
    let lower = rest.to_ascii_lowercase();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    if let Some((section, key)) = lower.split_once('_').filter(|(s, _)| SECTIONS.contains(s)) {
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = entry.as_table_mut() else {
            bail!("[{section}] is not a section")
        };
        if let Some(prop) = key.strip_prefix("properties_").filter(|_| section == "kafka") {
            // SEAF_BACKUP_KAFKA_PROPERTIES_SASL_USERNAME -> properties."sasl.username"
            let props = section_table
                .entry("properties")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(props) = props.as_table_mut() else {
                bail!("[kafka.properties] is not a table")
            };
            props.insert(prop.replace('_', "."), toml::Value::String(value.to_string()));
        } else {
            section_table.insert(key.to_string(), parsed);
        }
    } else {
        table.insert(lower, parsed);
    }
    Ok(())
}

/// Fills `sync_token` and `[backup]` `primary_url` / `sync_poll_interval` from Seafile Pro's
/// `seafile.conf` `[backup]` section, where this configuration does not set them.
fn apply_seafile_conf(table: &mut toml::Table, path: &Path) -> anyhow::Result<()> {
    let ini = ini::Ini::load_from_file(path)
        .with_context(|| format!("cannot read seafile.conf {} (named by `seafile_conf`)", path.display()))?;
    let Some(section) = ini.section(Some("backup")) else {
        return Ok(());
    };
    if let Some(token) = section.get("sync_token") {
        table
            .entry("sync_token")
            .or_insert_with(|| toml::Value::String(token.trim().to_string()));
    }
    let backup_has = |key: &str| section.get(key).map(|v| v.trim().to_string());
    if section.get("primary_url").is_some() || section.get("sync_poll_interval").is_some() {
        let backup = table
            .entry("backup")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(backup) = backup.as_table_mut() else {
            bail!("[backup] is not a section")
        };
        if let Some(url) = backup_has("primary_url") {
            backup.entry("primary_url").or_insert(toml::Value::String(url));
        }
        if let Some(hours) = backup_has("sync_poll_interval") {
            let hours: f64 = hours.parse().map_err(|_| {
                anyhow!(
                    "{}: [backup] sync_poll_interval = {hours:?} is not a number of hours",
                    path.display()
                )
            })?;
            backup.entry("sync_poll_interval").or_insert(toml::Value::Float(hours));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
sync_token = "c7a78c0210c2470e14a20a8244562ab8ad509734"

[kafka]
brokers = "127.0.0.1:9092"
topic = "seafile-repo-updates"
group_id = "seaf-backup"
[kafka.properties]
"security.protocol" = "SASL_SSL"

[primary]
seafile_data_dir = "/opt/seafile/seafile-data"
database_url = "mysql://seafile:secret@127.0.0.1:3306/seafile_db"
listen = "0.0.0.0:8083"
metrics_listen = "127.0.0.1:9108"
node_id = "primary-1"
poll_interval = "1s"

[backup]
primary_url = "http://primary:8083"
seafile_data_dir = "/backup/seafile-data"
database_url = "mysql://seafile:secret@127.0.0.1:3306/seafile_db"
metrics_listen = "127.0.0.1:9109"
sync_poll_interval = "1h"
workers = 8
"#;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn design_example_loads() {
        let c = Config::from_parts(EXAMPLE, "example.toml", env(&[])).unwrap();
        assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
        let p = c.primary().unwrap();
        assert_eq!(p.poll_interval, Duration::from_secs(1));
        assert_eq!(p.node_id, "primary-1");
        let b = c.backup().unwrap();
        assert_eq!(b.sync_poll_interval, Duration::from_secs(3600));
        assert_eq!(b.workers, 8);
        assert_eq!(c.sync_token().unwrap().len(), 40);
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = Config::from_parts(
            EXAMPLE,
            "example.toml",
            env(&[
                ("SEAF_BACKUP_KAFKA_BROKERS", "k1:9092,k2:9092"),
                ("SEAF_BACKUP_BACKUP_WORKERS", "3"),
                ("SEAF_BACKUP_BACKUP_SYNC_POLL_INTERVAL", "2"),
                ("SEAF_BACKUP_PRIMARY_POLL_INTERVAL", "250ms"),
                ("SEAF_BACKUP_SYNC_TOKEN", "0123456789abcdef0123"),
                ("SEAF_BACKUP_KAFKA_PROPERTIES_SASL_USERNAME", "svc"),
                ("SEAF_BACKUP_KAFKA_PARTITIONS", "12"),
                ("SEAF_BACKUP_KAFKA_SCHEMA_REGISTRY_URL", "http://registry:8081"),
                ("SEAF_BACKUP_LOG", "debug"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "k1:9092,k2:9092");
        assert_eq!(c.backup().unwrap().workers, 3);
        assert_eq!(c.backup().unwrap().sync_poll_interval, Duration::from_secs(7200));
        assert_eq!(c.primary().unwrap().poll_interval, Duration::from_millis(250));
        assert_eq!(c.sync_token().unwrap(), "0123456789abcdef0123");
        assert_eq!(c.kafka.properties["sasl.username"], "svc");
        assert_eq!(c.kafka.partitions, 12);
        assert_eq!(c.kafka.schema_registry_url.as_deref(), Some("http://registry:8081"));
        assert_eq!(
            c.kafka.topic, "seafile-repo-updates",
            "keys not overridden keep the file's"
        );
    }

    #[test]
    fn kafka_section_is_seaf_kafkas_settings() {
        let c = Config::from_parts("", "empty.toml", env(&[])).unwrap();
        assert_eq!(c.kafka, KafkaSettings::default());

        let err = Config::from_parts("[kafka]\nbrokerz = \"k:9092\"\n", "my.toml", env(&[])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("my.toml") && msg.contains("kafka.brokerz"), "{msg}");
        // Not configurable: internal to the kafka crate.
        let err = Config::from_parts("[kafka]\ncompacted = false\n", "my.toml", env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("kafka.compacted"), "{err:#}");

        let err = Config::from_parts("", "my.toml", env(&[("SEAF_BACKUP_KAFKA_PARTITIONS", "many")])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("SEAF_BACKUP_KAFKA_PARTITIONS") && msg.contains("kafka.partitions"),
            "{msg}"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let err = Config::from_parts("[backup]\nseafile_data_dir = \"/x\"\n", "my.toml", env(&[])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("my.toml") && msg.contains("database_url"), "{msg}");

        let err = Config::from_parts(
            "[primary]\nseafile_data_dir = \"/x\"\ndatabase_url = \"sqlite:///x\"\npoll_intervall = \"1s\"\n",
            "my.toml",
            env(&[]),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("my.toml") && msg.contains("poll_intervall"), "{msg}");

        let err = Config::from_parts(EXAMPLE, "my.toml", env(&[("SEAF_BACKUP_BACKUP_WORKERS", "many")])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("SEAF_BACKUP_BACKUP_WORKERS") && msg.contains("workers"),
            "{msg}"
        );

        let err = Config::from_parts(
            "[primary]\nseafile_data_dir = \"/x\"\ndatabase_url = \"sqlite:///x\"\npoll_interval = \"soon\"\n",
            "my.toml",
            env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("not a duration"), "{err:#}");
    }

    #[test]
    fn seafile_conf_backup_keys_fill_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("seafile.conf");
        std::fs::write(
            &conf,
            "[fileserver]\nport = 8082\n\n[backup]\nprimary_url = http://primary-server\nsync_token = c7a78c0210c2470e14a20a8244562ab8ad509734\nsync_poll_interval = 3\n",
        )
        .unwrap();
        let text = format!(
            "seafile_conf = {:?}\n[backup]\nseafile_data_dir = \"/b\"\ndatabase_url = \"sqlite:///b.db\"\n",
            conf
        );
        let c = Config::from_parts(&text, "my.toml", env(&[])).unwrap();
        let b = c.backup().unwrap();
        assert_eq!(b.primary_url.as_deref(), Some("http://primary-server"));
        assert_eq!(b.sync_poll_interval, Duration::from_secs(3 * 3600));
        assert_eq!(c.sync_token().unwrap(), "c7a78c0210c2470e14a20a8244562ab8ad509734");

        // The TOML file wins over seafile.conf.
        let text = format!("{text}primary_url = \"http://other\"\nsync_poll_interval = \"30m\"\n");
        let c = Config::from_parts(&text, "my.toml", env(&[])).unwrap();
        assert_eq!(c.backup().unwrap().primary_url.as_deref(), Some("http://other"));
        assert_eq!(c.backup().unwrap().sync_poll_interval, Duration::from_secs(1800));
    }
}
