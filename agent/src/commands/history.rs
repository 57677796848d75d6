//! `seaf-backup history LIBRARY`: the library's commits, newest first, from the store alone.

use std::process::ExitCode;

use crate::restore::history::history;
use crate::restore::tree::time;
use crate::restore::{open, Source};

pub async fn command(source: Source, repo: &str, limit: Option<usize>, json: bool) -> anyhow::Result<ExitCode> {
    let lib = open(source, repo).await?;
    let entries = tokio::task::spawn_blocking(move || history(&lib, limit).map(|h| (lib, h))).await??;
    let (lib, entries) = entries;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if lib.in_trash {
        println!("(library {} is in the trash)", lib.stores.repo);
    }
    for e in &entries {
        let merge = if e.is_merge() { " [merge]" } else { "" };
        println!(
            "{}  {}  {}  {}{merge}",
            time(e.ctime),
            e.id.short(),
            e.author,
            e.description
        );
    }
    Ok(ExitCode::SUCCESS)
}
