//! `seaf-backup`: real-time, full-history Seafile backup through Kafka.

use seaf_backup::{commands, config, primary};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use seaf_seafile::{RepoId, WalkOptions};

#[derive(Parser)]
#[command(name = "seaf-backup", version, about, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const LONG_ABOUT: &str = "Real-time, full-history, always-consistent backup of a Seafile server through Kafka.

The primary role (beside Seafile) publishes every library update to a Kafka topic and serves
library objects; the backup role consumes the topic and keeps a Seafile data directory and
database that never point at missing data. See docs/ for set-up and operations.";

#[derive(Subcommand)]
enum Command {
    /// Run the primary role beside a Seafile server: publish every library update to Kafka and
    /// serve library objects to backups. Runs until SIGINT/SIGTERM.
    Primary {
        /// Configuration file (sections: sync_token, [kafka], [primary]).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check that every library head in a seafile database has its complete, id-verified history
    /// on disk. Exits 1 and prints one line per missing or corrupt object when not.
    Verify {
        /// Configuration file; its [backup] section (or [primary] when there is none) names the
        /// data directory and database.
        #[arg(short, long, value_name = "FILE", required_unless_present_all = ["data_dir", "database_url"])]
        config: Option<PathBuf>,
        /// The seafile-data directory (holding storage/), instead of a configuration file.
        #[arg(long, value_name = "DIR", requires = "database_url", conflicts_with = "config")]
        data_dir: Option<PathBuf>,
        /// The seafile database URL: mysql://…, postgres://… or sqlite:///path/seafile.db.
        #[arg(long, value_name = "URL", requires = "data_dir", conflicts_with = "config")]
        database_url: Option<String>,
        /// Only check blocks exist, without hashing their content (much faster on large data).
        #[arg(long)]
        quick: bool,
        /// Also fail on warnings (commits whose id matches neither Seafile id formula).
        #[arg(long)]
        strict: bool,
        /// Check only this library.
        repo_id: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEAF_BACKUP_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Primary { config } => {
            let config = config::Config::load(&config)?;
            primary::run(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            config,
            data_dir,
            database_url,
            quick,
            strict,
            repo_id,
        } => {
            let (data_dir, database_url) = match (config, data_dir, database_url) {
                (_, Some(dir), Some(url)) => (dir, url),
                (Some(path), _, _) => config::Config::load(&path)?.storage_side()?,
                _ => anyhow::bail!("give either -c FILE or both --data-dir and --database-url"),
            };
            let repo = repo_id
                .map(|r| RepoId::parse(&r).context("the repo_id argument"))
                .transpose()?;
            let outcome =
                commands::verify::run(data_dir, &database_url, repo, WalkOptions { hash_blocks: !quick }).await?;
            let failed = outcome.errors > 0 || (strict && outcome.warnings > 0);
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}
