//! `seaf-backup scan`: the periodic full comparison, on demand; it only marks libraries waiting.

use std::path::Path;
use std::process::ExitCode;

use crate::backup::Backup;
use crate::config::Config;

pub async fn run(config: &Path) -> anyhow::Result<ExitCode> {
    let backup = Backup::open(&Config::load(config)?).await?;
    let marked = backup.full_scan().await;
    backup.stop_commits().await;
    let marked = marked?;
    println!("{marked} libraries differ from the primary and are queued for the backup");
    Ok(ExitCode::SUCCESS)
}
