//! `seaf-backup status`: the backup's state from its database alone.

use std::path::Path;
use std::process::ExitCode;

use seaf_seafile::SeafileDb;

use crate::backup::queue::Queue;
use crate::backup::status::StatusReport;
use crate::config::Config;

pub async fn run(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let queue = Queue::new(SeafileDb::connect(&config.backup()?.database_url).await?);
    queue.create_table().await?;
    let report = StatusReport::from_states(&queue.states().await?);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
