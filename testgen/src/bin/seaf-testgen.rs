//! `seaf-testgen`: writes demo Seafile libraries (objects + database rows), then optionally
//! keeps changing them, as users of a live server would. Used by `scripts/demo.sh`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use seaf_seafile::SeafileDb;
use seaf_testgen::{write_database, Generator, LibrarySpec};

#[derive(Parser)]
#[command(
    name = "seaf-testgen",
    about = "Write demo Seafile libraries in the real on-disk format, then change them live",
    after_help = "Example:\n  seaf-testgen --data-dir demo/seafile-data --database-url sqlite:///tmp/demo/seafile.db \\\n      --libraries 20 --updates 10 --interval-ms 1000 --updates-after demo/go"
)]
struct Args {
    /// Seafile's `seafile-data` directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Seafile database to write the library rows into (core tables are created if missing):
    /// `sqlite:///abs/path/seafile.db?mode=rwc`, `mysql://…`, `postgres://…`.
    #[arg(long, value_name = "URL")]
    database_url: String,
    /// Libraries to create.
    #[arg(long, default_value_t = 20)]
    libraries: usize,
    /// Then make this many live updates (one commit each, to a random library).
    #[arg(long, default_value_t = 0)]
    updates: usize,
    /// Milliseconds between live updates.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    interval_ms: u64,
    /// Start the live updates only once this file exists (the demo creates it when the backup
    /// has caught up).
    #[arg(long, value_name = "FILE")]
    updates_after: Option<PathBuf>,
    /// Seed: the same seed and arguments write the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut gen = Generator::new(&args.data_dir, args.seed);
    let mut libs = Vec::with_capacity(args.libraries);
    for i in 0..args.libraries {
        let spec = if i % 5 == 0 {
            LibrarySpec::rich(&format!("Demo library {i}"))
        } else {
            LibrarySpec::small(&format!("Demo library {i}"))
        };
        libs.push(gen.create_library(spec).context("writing a library")?);
    }
    let db = SeafileDb::connect(&args.database_url)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    write_database(&db, &libs.iter().collect::<Vec<_>>()).await?;
    println!(
        "created {} libraries in {} and {}",
        libs.len(),
        args.data_dir.display(),
        args.database_url
    );
    if args.updates == 0 || libs.is_empty() {
        return Ok(());
    }
    if let Some(flag) = &args.updates_after {
        while !flag.exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for n in 0..args.updates {
        let i = (n * 7 + 3) % libs.len();
        let head = gen.update_library(&mut libs[i], 2)?;
        db.write_repo(&libs[i].record).await?;
        println!(
            "update {}/{}: library {} head {head}",
            n + 1,
            args.updates,
            libs[i].repo_id
        );
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    Ok(())
}
