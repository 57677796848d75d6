//! `seaf-backup`: real-time, full-history Seafile backup through Kafka.

use seaf_backup::{backup, commands, config, primary};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "seaf-backup", version, about, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const LONG_ABOUT: &str = "Real-time, full-history, always-consistent backup of a Seafile server through Kafka.

The primary role (beside Seafile) publishes every library update to a Kafka topic and serves
library objects; the backup role consumes the topic and keeps a Seafile data directory and
database that never point at missing data. See docs/ for set-up and operations.";

const AFTER_HELP: &str = "Examples:
  seaf-backup primary -c /etc/seaf-backup/primary.toml     # beside Seafile
  seaf-backup backup  -c /etc/seaf-backup/backup.toml      # on the backup host
  seaf-backup status  -c /etc/seaf-backup/backup.toml
  seaf-backup verify  -c /etc/seaf-backup/backup.toml

Every configuration key can be overridden by SEAF_BACKUP_<SECTION>_<KEY> (e.g.
SEAF_BACKUP_KAFKA_BROKERS); SEAF_BACKUP_LOG sets the log filter (default: info).
Exit codes: 0 success, 1 verify found problems, 2 the command could not run.
`seaf-backup help COMMAND` describes each command.";

/// Where a reading command looks: a configuration file, or a data directory and database.
#[derive(clap::Args)]
struct StoreArgs {
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
}

impl StoreArgs {
    fn source(self) -> seaf_backup::restore::Source {
        seaf_backup::restore::Source {
            config: self.config,
            data_dir: self.data_dir,
            database_url: self.database_url,
        }
    }
}

/// A library, a folder or file in it and a point of its history (`ls`, `export`).
#[derive(clap::Args)]
struct PointArgs {
    /// The library's id.
    library: String,
    /// A folder or file in the library.
    #[arg(default_value = "/")]
    path: String,
    /// A commit (id or a prefix of at least 6 digits) or an RFC 3339 time: the newest commit at
    /// or before it. Default: the head.
    #[arg(long, value_name = "COMMIT|RFC3339")]
    at: Option<String>,
}

impl PointArgs {
    fn point(self) -> seaf_backup::restore::Point {
        seaf_backup::restore::Point {
            library: self.library,
            path: self.path,
            at: self.at,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the primary role beside a Seafile server: publish every library update to Kafka and
    /// serve library objects to backups. Runs until SIGINT/SIGTERM.
    #[command(after_help = "Example:\n  seaf-backup primary -c /etc/seaf-backup/primary.toml\n\n\
        Serves the object API on [primary] listen and /metrics, /healthz on [primary] metrics_listen.")]
    Primary {
        /// Configuration file (sections: sync_token, [kafka], [primary]).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the backup role: consume the topic, pull missing objects from the primary, keep the
    /// backup data directory and database consistent. Runs until SIGINT/SIGTERM.
    #[command(after_help = "Example:\n  seaf-backup backup -c /etc/seaf-backup/backup.toml\n\n\
        Serves /metrics and /healthz on [backup] metrics_listen. Several processes with the same\n\
        [kafka] group_id share the work (at most one per topic partition).")]
    Backup {
        /// Configuration file (sections: sync_token, [kafka], [backup]).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show the backup's state, as Seafile Pro's `seaf-backup-cmd.sh status` did.
    #[command(after_help = "Examples:\n  seaf-backup status -c /etc/seaf-backup/backup.toml\n  \
        seaf-backup status -c /etc/seaf-backup/backup.toml --json\n\n\
        Asks the backup database only (not the primary or Kafka); works while the backup runs.")]
    Status {
        /// Configuration file of the backup (its [backup] database_url is read).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON (counts, lists, and the error of every failed library).
        #[arg(long)]
        json: bool,
    },
    /// Sync one library now; blocks until it is done.
    #[command(after_help = "Examples:\n  \
        seaf-backup sync -c /etc/seaf-backup/backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c\n  \
        seaf-backup sync -c /etc/seaf-backup/backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c --force\n\n\
        Works while the backup runs: if a backup worker holds the library, sync waits for it.\n\
        For a library that failed: run seaf-fsck on the primary first, then sync --force.")]
    Sync {
        /// Configuration file of the backup (sync_token, [backup]).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Skip objects that are missing or corrupt on the primary, finish, and list them.
        /// Use after seaf-fsck on the primary could not repair the library's history.
        #[arg(long)]
        force: bool,
        /// The library id (a UUID, as in `seaf-backup status` and Seafile's web UI).
        repo_id: String,
    },
    /// Compare every library with the primary now and queue the differences for the running
    /// backup (the periodic full scan, on demand).
    #[command(after_help = "Example:\n  seaf-backup scan -c /etc/seaf-backup/backup.toml\n\n\
        Only marks libraries waiting: the running backup processes sync them. Use it after an\n\
        outage longer than the topic keeps events, or to check nothing was missed.")]
    Scan {
        /// Configuration file of the backup (sync_token, [backup]).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Move the consumer group back so the backup re-reads the topic (harmless: events only make
    /// the backup compare libraries with the primary). Stop the backup processes first.
    #[command(after_help = "Examples:\n  \
        seaf-backup replay -c /etc/seaf-backup/backup.toml --from-beginning\n  \
        seaf-backup replay -c /etc/seaf-backup/backup.toml --from-offset 3:1200\n  \
        seaf-backup replay -c /etc/seaf-backup/backup.toml --from-time 2026-11-22T03:00:00Z\n\n\
        Kafka changes a group's offsets only while no member of the group runs: stop every\n\
        backup process of [kafka] group_id first, start them again afterwards.")]
    Replay {
        /// Configuration file of the backup ([kafka] brokers, topic and group_id are used).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// From the oldest event the topic still holds.
        #[arg(long, conflicts_with_all = ["from_offset", "from_time"], required_unless_present_any = ["from_offset", "from_time"])]
        from_beginning: bool,
        /// From offset O of partition P (that partition only; the others keep their offsets).
        #[arg(long, value_name = "P:O")]
        from_offset: Option<String>,
        /// From the first event at or after this time (RFC 3339, e.g. 2026-11-22T03:00:00Z).
        #[arg(long, value_name = "RFC3339")]
        from_time: Option<String>,
    },
    /// List a library's commits, newest first (time, author, description, id; merges marked),
    /// from the backup alone. Works on a library in the trash too.
    #[command(
        after_help = "Examples:\n  seaf-backup history -c /etc/seaf-backup/backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c\n  \
        seaf-backup history -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c --limit 20 --json"
    )]
    History {
        #[command(flatten)]
        store: StoreArgs,
        /// The library's id.
        library: String,
        /// At most this many commits.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// List a folder (or one file) of a library as of a commit or a time: names, sizes, mtimes,
    /// ids. From the backup alone.
    #[command(
        after_help = "Examples:\n  seaf-backup ls -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c /docs\n  \
        seaf-backup ls -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c / --at 2026-11-30T12:00:00Z\n  \
        seaf-backup ls -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c / --at 4f1a2b3c"
    )]
    Ls {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        point: PointArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write a folder or file of a library, as of a commit or a time, as plain files (sizes and
    /// mtimes as in Seafile), checking every block against its id. Refuses to overwrite.
    #[command(after_help = "Examples:\n  \
        seaf-backup export -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c --to /tmp/restore\n  \
        seaf-backup export -c backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c /docs/report.odt \\\n      \
        --at 2026-11-30T12:00:00Z --to /tmp/restore\n  \
        seaf-backup export -c backup.toml 93db6fa3-9640-4451-b106-e53ed56de966 --to /tmp/restore \\\n      \
        --password-file /root/library.pw\n\n\
        A folder's contents go into --to (created if missing); a file goes into --to when it is a\n\
        folder, else to that path. An encrypted library (enc_version 2, 3, 4) needs its password in\n\
        --password-file; a wrong one is refused before anything is written.")]
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        point: PointArgs,
        /// Where to write.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Replace files that exist at the destination.
        #[arg(long)]
        overwrite: bool,
        /// An encrypted library's password, on the first line of this file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Check that every library head in a seafile database has its complete, id-verified history
    /// on disk. Exits 1 and prints one line per missing or corrupt object when not.
    #[command(after_help = "Examples:\n  seaf-backup verify -c /etc/seaf-backup/backup.toml\n  \
        seaf-backup verify -c /etc/seaf-backup/backup.toml 300ca0c9-310b-4344-8289-441bcd1e031c\n  \
        seaf-backup verify --data-dir /opt/seafile/seafile-data \\\n      \
        --database-url mysql://seafile:secret@127.0.0.1:3306/seafile_db --quick\n\n\
        Exit codes: 0 clean, 1 problems found (MISSING / CORRUPT / UNREADABLE lines; WARNING\n\
        lines too with --strict), 2 could not run. It only reads.")]
    Verify {
        #[command(flatten)]
        store: StoreArgs,
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
    // `FAILPOINTS=<name>=return;…` arms the crash points for the fault tests
    // (docs/reliability.md); without it none is. Armed for the whole process, so never released.
    std::mem::forget(fail::FailScenario::setup());
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
            primary::run(&config::Config::load(&config)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { config } => {
            backup::run(&config::Config::load(&config)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { config, json } => commands::status::run(&config, json).await,
        Command::Sync { config, force, repo_id } => commands::sync::run(&config, &repo_id, force).await,
        Command::Scan { config } => commands::scan::run(&config).await,
        Command::Replay {
            config,
            from_beginning,
            from_offset,
            from_time,
        } => {
            let from = commands::replay::From {
                beginning: from_beginning,
                offset: from_offset,
                time: from_time,
            };
            commands::replay::run(&config, from).await
        }
        Command::History {
            store,
            library,
            limit,
            json,
        } => commands::history::command(store.source(), &library, limit, json).await,
        Command::Ls { store, point, json } => commands::ls::command(store.source(), point.point(), json).await,
        Command::Export {
            store,
            point,
            to,
            overwrite,
            password_file,
        } => {
            let request = commands::export::Request {
                point: point.point(),
                to,
                overwrite,
                password_file,
            };
            commands::export::command(store.source(), request).await
        }
        Command::Verify {
            store,
            quick,
            strict,
            repo_id,
        } => commands::verify::command(store.source(), repo_id, quick, strict).await,
    }
}
