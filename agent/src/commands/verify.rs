//! `seaf-backup verify`: is every library head in the database backed by a complete,
//! id-verified closure on disk?

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use seaf_seafile::{
    walk_closure, ClosureStats, ClosureVisitor, ObjectId, ObjectStore, Problem, RepoId, RepoStores, SeafileDb,
    WalkOptions,
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

/// Every live head (`Branch`), then the head of every library in the trash with no live head:
/// a library restored from the trash needs its whole history as much as a live one. Returns
/// them with how many came from the trash.
async fn heads_to_verify(db: &SeafileDb, repo: Option<RepoId>) -> anyhow::Result<(Vec<(RepoId, ObjectId)>, usize)> {
    let mut heads = match repo {
        Some(r) => db.head(&r).await?.map(|h| vec![(r, h)]).unwrap_or_default(),
        None => db.heads().await?,
    };
    let live: std::collections::HashSet<RepoId> = heads.iter().map(|(r, _)| *r).collect();
    let trashed: Vec<(RepoId, ObjectId)> = db
        .trashed_repos()
        .await?
        .into_iter()
        .filter(|t| repo.is_none_or(|r| r == t.repo_id) && !live.contains(&t.repo_id))
        .filter_map(|t| Some((t.repo_id, t.head_id?)))
        .collect();
    let in_trash = trashed.len();
    heads.extend(trashed);
    if let Some(r) = repo {
        anyhow::ensure!(
            !heads.is_empty(),
            "library {r} has no head in the database, live or in the trash"
        );
    }
    Ok((heads, in_trash))
}

/// Checks `repo` (or every library, those in the trash included) and prints one line per
/// problem, then a summary.
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
    let (heads, in_trash) = heads_to_verify(&db, repo).await?;
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
    if in_trash > 0 {
        println!("{in_trash} of the libraries are in the trash (RepoTrash), checked from their trash head");
    }
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

/// The command: exit 0 when clean, 1 when errors (or, with `strict`, warnings) were found.
pub async fn command(
    source: crate::restore::Source,
    repo_id: Option<String>,
    quick: bool,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let (data_dir, database_url) = source.resolve()?;
    let repo = repo_id
        .map(|r| RepoId::parse(&r).context("the repo_id argument"))
        .transpose()?;
    let outcome = run(data_dir, &database_url, repo, WalkOptions { hash_blocks: !quick }).await?;
    let failed = outcome.errors > 0 || (strict && outcome.warnings > 0);
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
