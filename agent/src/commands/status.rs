//! `seaf-backup status`: the backup's state from its database alone.

use std::path::Path;
use std::process::ExitCode;

use seaf_seafile::SeafileDb;

use crate::backup::queue::Queue;
use crate::backup::scrub::report::ScrubReport;
use crate::backup::status::StatusReport;
use crate::config::Config;

pub async fn run(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let queue = Queue::new(SeafileDb::connect(&config.backup()?.database_url).await?);
    queue.create_table().await?;
    let report = StatusReport::from_states(&queue.states().await?);
    // The scrub's findings, from its file in the store (another process writes it).
    let scrub = ScrubReport::load(&config.backup()?.seafile_data_dir);
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["scrub"] = serde_json::to_value(&scrub)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}{}", report.to_text(), scrub.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
