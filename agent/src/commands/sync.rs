//! `seaf-backup sync <repo> [--force]`: one library now, waiting for a running backup's lease.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use seaf_seafile::RepoId;

use crate::backup::replicate::{SyncOptions, SyncReport};
use crate::backup::{Backup, SyncOutcome};
use crate::config::Config;

pub async fn run(config: &Path, repo_id: &str, force: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let repo = RepoId::parse(repo_id).context("the repo_id argument")?;
    let backup = Backup::open(&config).await?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = move |phase: &str, n: u64| {
        if tty {
            eprint!("\r{phase}: {n} objects   ");
        }
    };
    let outcome = loop {
        match backup.sync_library(repo, SyncOptions { force }, &progress).await {
            // A running backup holds the library; wait for its lease.
            Ok(SyncOutcome::Busy) => tokio::time::sleep(Duration::from_millis(500)).await,
            other => break other,
        }
    };
    if tty {
        eprintln!();
    }
    backup.stop_commits().await;
    print_outcome(&repo, outcome?);
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(repo: &RepoId, outcome: SyncOutcome) {
    match outcome {
        SyncOutcome::NoOp => println!("{repo}: already up to date"),
        SyncOutcome::Deleted => println!("{repo}: deleted on the primary; the backup keeps its data"),
        SyncOutcome::Trashed { head, report } => {
            println!(
                "{repo}: in the primary's trash; in the backup's trash at {head} ({} objects fetched)",
                report.objects()
            );
            print_skipped(&report);
        }
        SyncOutcome::Busy => unreachable!("waited for above"),
        SyncOutcome::Applied { head, report, old_head } => {
            println!(
                "{repo}: synced to {head}: {} commits, {} fs objects, {} blocks, {} bytes",
                report.commits, report.fs_objects, report.blocks, report.bytes
            );
            if let Some(old) = old_head {
                println!("note: the primary moved the head backwards or elsewhere; the old head {old} and its history are kept");
            }
            print_skipped(&report);
        }
    }
}

/// What `sync --force` skipped, one object a line.
fn print_skipped(report: &SyncReport) {
    if !report.skipped.is_empty() {
        println!("skipped {} objects (--force):", report.skipped.len());
        for s in &report.skipped {
            println!("  {s}");
        }
    }
}
