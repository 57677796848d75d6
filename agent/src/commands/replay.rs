//! `seaf-backup replay`: moves the consumer group's offsets (the backup processes stopped).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use seaf_kafka::ReplayFrom;

use crate::config::Config;

/// Where to read from, as the command line says it.
pub struct From {
    pub beginning: bool,
    pub offset: Option<String>,
    pub time: Option<String>,
}

pub async fn run(config: &Path, from: From) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let from = match from {
        From { beginning: true, .. } => ReplayFrom::Beginning,
        From { offset: Some(o), .. } => ReplayFrom::parse_offset(&o)?,
        From { time: Some(t), .. } => {
            let at = humantime::parse_rfc3339_weak(&t).with_context(|| format!("--from-time {t:?} is not RFC 3339"))?;
            ReplayFrom::Time(at.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64)
        }
        _ => anyhow::bail!("give --from-beginning, --from-offset P:O or --from-time RFC3339"),
    };
    let settings = config.kafka.clone();
    let positions = tokio::task::spawn_blocking(move || seaf_kafka::replay::reposition(&settings, &from)).await??;
    let positions: Vec<String> = positions.iter().map(|p| p.to_string()).collect();
    println!(
        "consumer group {:?} will re-read from {}",
        config.kafka.group_id,
        positions.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
