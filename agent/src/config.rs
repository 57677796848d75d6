//! The configuration file: one TOML file per process (see docs/configuration.md).
//!
//! Only the keys the current commands use are read so far; the primary and backup roles add
//! theirs. A missing or malformed key is an error that names the key and the file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// `[primary]` or `[backup]`: the Seafile side of a role.
#[derive(Debug, Clone, Deserialize)]
pub struct SeafileSide {
    /// The `seafile-data` directory (the one that holds `storage/`).
    pub seafile_data_dir: Option<PathBuf>,
    /// The seafile database: `mysql://…`, `postgres://…` or `sqlite:///…/seafile.db`.
    pub database_url: Option<String>,
    /// Keys of later roles (listen addresses, intervals…), read by those roles.
    #[serde(flatten)]
    #[allow(dead_code)]
    pub other: toml::Table,
}

/// The whole file. Sections the current build does not use are accepted and kept for later.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(skip)]
    pub path: PathBuf,
    #[allow(dead_code)]
    pub sync_token: Option<String>,
    #[allow(dead_code)]
    pub kafka: Option<toml::Table>,
    pub primary: Option<SeafileSide>,
    pub backup: Option<SeafileSide>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))?;
        config.path = path.to_path_buf();
        Ok(config)
    }

    /// The Seafile side that `verify` checks: `[backup]` when present, else `[primary]`.
    pub fn storage_side(&self) -> anyhow::Result<(&'static str, &SeafileSide)> {
        match (&self.backup, &self.primary) {
            (Some(b), _) => Ok(("backup", b)),
            (None, Some(p)) => Ok(("primary", p)),
            (None, None) => bail!(
                "{}: neither a [backup] nor a [primary] section; add one with seafile_data_dir and database_url",
                self.path.display()
            ),
        }
    }

    /// Reads a required key of a section, naming both in the error.
    pub fn require<'a, T>(&self, section: &str, key: &str, value: Option<&'a T>) -> anyhow::Result<&'a T>
    where
        T: ?Sized,
    {
        value.with_context(|| format!("{}: missing key `{key}` in section [{section}]", self.path.display()))
    }
}
