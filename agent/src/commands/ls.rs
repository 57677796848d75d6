//! `seaf-backup ls LIBRARY [PATH] [--at COMMIT|TIME]`: a folder (or file) of a library as of a
//! commit, from the store alone.

use std::process::ExitCode;

use serde_json::json;

use crate::restore::tree::{at_path, time, Found, Item};
use crate::restore::{open, Point, Source};

pub async fn command(source: Source, point: Point, json: bool) -> anyhow::Result<ExitCode> {
    let at = point.at()?;
    let lib = open(source, &point.library).await?;
    let (commit, found) = tokio::task::spawn_blocking(move || at_path(&lib, &at, &point.path)).await??;
    let items = match found {
        Found::Dir { items, .. } => items,
        Found::File(item) => vec![item],
    };
    if json {
        let out = json!({"commit": commit.id, "ctime": commit.ctime, "items": items});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "as of commit {} ({}, {})",
        commit.id.short(),
        time(commit.ctime),
        commit.description
    );
    for item in &items {
        println!("{}", line(item));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(item: &Item) -> String {
    let name = if item.is_dir {
        format!("{}/", item.name)
    } else {
        item.name.clone()
    };
    format!("{:>12}  {}  {}  {name}", item.size, time(item.mtime), item.id.short())
}
