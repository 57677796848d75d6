//! The layers over the TOML file: `SEAF_BACKUP_<SECTION>_<KEY>` environment variables and
//! Seafile Pro's `seafile.conf` `[backup]` keys.

use std::path::Path;

use anyhow::{anyhow, bail, Context};

const SECTIONS: [&str; 3] = ["kafka", "primary", "backup"];

/// Sets `SECTION_KEY` (or a top-level `KEY`) from an environment variable. Values that parse as
/// TOML scalars (numbers, booleans) keep their type; anything else is a string.
pub(super) fn apply_env(table: &mut toml::Table, rest: &str, value: &str) -> anyhow::Result<()> {
    let lower = rest.to_ascii_lowercase();
    // A secret stays a string even when it is all digits: parsed as a number, an error about
    // its type would print it.
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array() && !is_secret(&lower))
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

/// Keys whose values must never appear in an error message.
fn is_secret(key: &str) -> bool {
    key == "sync_token" || key.contains("password") || key.contains("secret")
}

/// Fills `sync_token` and `[backup]` `primary_url` / `sync_poll_interval` from Seafile Pro's
/// `seafile.conf` `[backup]` section, where this configuration does not set them.
pub(super) fn apply_seafile_conf(table: &mut toml::Table, path: &Path) -> anyhow::Result<()> {
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
