//! `seaf-bench`: measures seaf-backup against the figures of the "Prove it" issue, in one run, on
//! real processes (release build), a real Apache Kafka (scripts/broker.sh) and real databases, and
//! prints one table.
//!
//! Not a test: `cargo test` never runs it. `scripts/bench.sh [--full]` builds and runs it;
//! docs/benchmarks.md explains every figure and what limits it.

mod bigfiles;
mod dbcost;
mod link;
mod marker;
mod phases;
mod proxy;
mod site;
mod util;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaleName {
    /// A minute or two: for developing the bench itself.
    Tiny,
    /// About 10 minutes on 2 cores.
    Default,
    /// The sizes (10k libraries, ~1M objects, 1M events).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Db {
    Mysql,
    Sqlite,
}

/// In the order of the table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Phase {
    /// Initial full copy vs `cp -a` + `sync`, and the backup's peak RSS meanwhile.
    Copy,
    /// 1% of the libraries changed: update → consistent vs `rsync -a --ignore-existing`.
    Incremental,
    /// Update → backup consistent at a steady rate.
    Latency,
    /// No-op events through the backup vs a raw consumer.
    Replay,
    /// One library's long history from scratch, directly and through 50 ms of RTT.
    Link,
    /// Real-sized files (blocks of 1–8 MiB): initial copy vs `cp -a` + `sync`.
    Bigfiles,
    /// Full scan of many libraries in sync, and the backup's peak RSS after it.
    Scan,
    /// The primary's cost to MariaDB (CPU seconds per minute) at many libraries, idle and at
    /// 10 updates/s: binary log vs 1 s poll (MariaDB only).
    Dbcost,
    /// The poll's change marker on PostgreSQL and SQLite at many libraries: a poll that skips
    /// reading `Branch` vs one that reads it.
    Marker,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::Copy,
        Phase::Incremental,
        Phase::Latency,
        Phase::Replay,
        Phase::Link,
        Phase::Bigfiles,
        Phase::Scan,
        Phase::Dbcost,
        Phase::Marker,
    ];
}

#[derive(Debug, Parser)]
#[command(about = "Benchmarks seaf-backup (release build) on a real broker and databases")]
pub struct Args {
    /// Data sizes.
    #[arg(long, value_enum, default_value = "default")]
    pub scale: ScaleName,
    /// Same as --scale full.
    #[arg(long)]
    pub full: bool,
    /// Databases for the primary's and the backup's seafile database.
    #[arg(long, value_enum, default_value = "mysql")]
    pub db: Db,
    /// Only these phases (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Phase>,
    /// The seaf-backup binary (default: beside this one).
    #[arg(long)]
    pub seaf_backup: Option<PathBuf>,
    /// Extra librdkafka property for both roles' `[kafka.properties]`, `KEY=VALUE` (repeatable).
    #[arg(long = "kafka-property")]
    pub kafka_properties: Vec<String>,
    /// Where the data goes (default: the system temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Leave the work directory in place at the end (scripts/bench.sh --scratch-fs passes it:
    /// the file system goes whole, where deleting a --full run's 3.7M files took 48 minutes).
    #[arg(long)]
    pub keep_work_dir: bool,
    /// No-op events of the replay phase, instead of the scale's (e.g. 1000000).
    #[arg(long)]
    pub events: Option<usize>,
}

/// How big each phase is.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub name: &'static str,
    /// Libraries of the copy, incremental, latency and replay phases.
    pub libraries: usize,
    /// Random commits per library (each with 4 changes).
    pub commits: usize,
    /// Libraries changed in the incremental cycle (1%).
    pub changed: usize,
    /// Steady update rate and duration of each latency run.
    pub rate: f64,
    pub latency_secs: u64,
    /// No-op events replayed.
    pub events: usize,
    /// Libraries of the full-scan and memory phase, and of the database-cost phase.
    pub scan_libraries: usize,
    /// Seconds of each database-cost measurement.
    pub dbcost_secs: u64,
    /// Commits of the link phase's one library.
    pub link_commits: usize,
    /// Libraries and bytes (of blocks) of the bigfiles phase.
    pub big_libraries: usize,
    pub big_bytes: u64,
}

impl Scale {
    fn of(name: ScaleName) -> Scale {
        match name {
            ScaleName::Tiny => Scale {
                name: "tiny",
                libraries: 100,
                commits: 8,
                changed: 1,
                rate: 5.0,
                latency_secs: 10,
                events: 20_000,
                scan_libraries: 10_000,
                dbcost_secs: 10,
                link_commits: 100,
                big_libraries: 2,
                big_bytes: 128 << 20,
            },
            ScaleName::Default => Scale {
                name: "default",
                libraries: 1_000,
                commits: 8,
                changed: 10,
                rate: 5.0,
                latency_secs: 30,
                events: 200_000,
                scan_libraries: 100_000,
                dbcost_secs: 60,
                link_commits: 1_000,
                big_libraries: 4,
                big_bytes: 1 << 30,
            },
            ScaleName::Full => Scale {
                name: "full",
                libraries: 10_000,
                // About 100 objects per library: ~1M objects.
                commits: 16,
                changed: 100,
                rate: 5.0,
                latency_secs: 60,
                events: 1_000_000,
                scan_libraries: 100_000,
                dbcost_secs: 60,
                link_commits: 1_000,
                big_libraries: 8,
                big_bytes: 4 << 30,
            },
        }
    }
}

/// One row of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub met: Option<bool>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut scale = Scale::of(if args.full { ScaleName::Full } else { args.scale });
    if let Some(events) = args.events {
        scale.events = events;
    }
    let bin = match &args.seaf_backup {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .expect("the bench binary is in a folder")
            .join("seaf-backup"),
    };
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it (cargo build --release -p seaf-backup) or pass --seaf-backup",
        bin.display()
    );
    let phases: Vec<Phase> = if args.only.is_empty() {
        Phase::ALL.to_vec()
    } else {
        args.only.clone()
    };
    eprintln!("{}", util::machine());
    eprintln!("scale {}: {scale:?}", scale.name);
    let (rows, work) = phases::run_all(&args, &scale, &bin, &phases)?;
    println!();
    println!("{}", util::machine());
    println!(
        "scale `{}`: {} libraries ({} random commits each), {} changed per incremental cycle, latency at {}/s for {} s per poll interval, {} replayed events, link: 1 library of {} commits, bigfiles: {} MiB in {} libraries, full scan of {} libraries; databases: {:?}; phases: {:?}",
        scale.name,
        scale.libraries,
        scale.commits,
        scale.changed,
        scale.rate,
        scale.latency_secs,
        scale.events,
        scale.link_commits,
        scale.big_bytes >> 20,
        scale.big_libraries,
        scale.scan_libraries,
        args.db,
        phases
    );
    println!();
    println!("| Figure | seaf-backup | Baseline | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.measured, r.baseline, r.ratio, r.target, met
        );
    }
    if args.keep_work_dir {
        eprintln!("left in place: {}", work.keep().display());
        return Ok(());
    }
    let started = std::time::Instant::now();
    eprintln!("removing {}…", work.path().display());
    drop(work);
    eprintln!("=== removing the work directory: {}", util::secs(started.elapsed()));
    Ok(())
}
