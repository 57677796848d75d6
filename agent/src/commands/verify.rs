//! `seaf-backup verify`: is every library head in the database backed by a complete,
//! id-verified closure on disk?

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use seaf_seafile::{
    walk_closure, ClosureStats, ClosureVisitor, ObjectStore, Problem, RepoId, RepoStores, SeafileDb, WalkOptions,
};

/// What `verify` found.
#[derive(Debug, Default)]
pub struct VerifyOutcome {
    pub libraries: usize,
    pub stats: ClosureStats,
    pub errors: usize,
    pub warnings: usize,
}

struct Printer {
    errors: usize,
    warnings: usize,
}

impl ClosureVisitor for Printer {
    fn problem(&mut self, problem: Problem) {
        if problem.defect.is_warning() {
            self.warnings += 1;
        } else {
            self.errors += 1;
        }
        println!("{problem}");
    }
}

/// Checks `repo` (or every library) and prints one line per problem, then a summary.
pub async fn run(
    data_dir: PathBuf,
    database_url: &str,
    repo: Option<RepoId>,
    options: WalkOptions,
) -> anyhow::Result<VerifyOutcome> {
    anyhow::ensure!(
        data_dir.join("storage").is_dir(),
        "{} has no storage/ folder: point --data-dir at the seafile-data directory",
        data_dir.display()
    );
    let db = SeafileDb::connect(database_url).await?;
    let heads = match repo {
        Some(r) => {
            let head = db
                .head(&r)
                .await?
                .with_context(|| format!("library {r} has no head in the database"))?;
            vec![(r, head)]
        }
        None => db.heads().await?,
    };
    let origins = db.virtual_origins().await?;
    db.close().await;

    let store = ObjectStore::new(&data_dir);
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut printer = Printer { errors: 0, warnings: 0 };
        let mut stats = ClosureStats::default();
        for (repo, head) in &heads {
            let stores = RepoStores::new(*repo, origins.get(repo).copied());
            stats.add(&walk_closure(&store, stores, *head, options, &mut printer));
        }
        VerifyOutcome {
            libraries: heads.len(),
            stats,
            errors: printer.errors,
            warnings: printer.warnings,
        }
    })
    .await?;

    let s = &outcome.stats;
    println!(
        "verified {} libraries: {} commits, {} fs objects, {} blocks ({} bytes) in {:.1?}",
        outcome.libraries,
        s.commits,
        s.fs_objects,
        s.blocks,
        s.block_bytes,
        started.elapsed()
    );
    if outcome.errors == 0 {
        println!(
            "clean: every head has its complete history on disk ({} warnings)",
            outcome.warnings
        );
    } else {
        println!(
            "NOT CLEAN: {} problems, {} warnings. A backup fixes itself on its next sync of the library; on a primary, run seaf-fsck.",
            outcome.errors, outcome.warnings
        );
    }
    Ok(outcome)
}
