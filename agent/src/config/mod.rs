//! The configuration: one TOML file per process, `SEAF_BACKUP_<SECTION>_<KEY>` environment
//! overrides, and Seafile Pro's `seafile.conf` `[backup]` keys.
//!
//! Layering, lowest first: built-in defaults, `seafile.conf` `[backup]` (when `seafile_conf`
//! points at one), the TOML file, the environment. Unknown keys are errors (a typo must not
//! silently fall back to a default), and every error names the key and the file.

mod duration;
mod layers;
mod roles;
#[cfg(test)]
mod tests;
mod token;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use seaf_kafka::KafkaSettings;
use serde::Deserialize;

pub use roles::{BackupConfig, ChangeCapture, PrimaryConfig};

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
            layers::apply_env(&mut table, rest, &value).with_context(|| format!("environment variable {name}"))?;
            overridden.push(name);
        }
        if let Some(conf) = table.get("seafile_conf").and_then(|v| v.as_str()).map(PathBuf::from) {
            layers::apply_seafile_conf(&mut table, &conf)?;
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
        token::check(self.sync_token.as_deref()).map_err(|problem| anyhow!("{}: {problem}", self.source))
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
