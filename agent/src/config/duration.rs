//! Durations as operators write them: humantime strings or bare numbers of a unit.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

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

pub(super) fn seconds_or_humantime<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = toml::Value::deserialize(d)?;
    parse_duration(&v, Duration::from_secs(1), "seconds").map_err(serde::de::Error::custom)
}

pub(super) fn hours_or_humantime<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = toml::Value::deserialize(d)?;
    parse_duration(&v, Duration::from_secs(3600), "hours").map_err(serde::de::Error::custom)
}
