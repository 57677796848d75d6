//! What every phase builds on: a primary process over a generated data directory, backups of
//! it (each with its own database, data directory, consumer group and metrics port, optionally
//! through a proxy), and the initial copy measured against `cp -a` + `sync`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use seaf_seafile::{DbKind, ObjectId, RepoId, RepoRecord, SeafileDb};
use support::agent::{free_port, Agent, Binary};
use support::db::TestDb;
use support::e2e::Deployment;

use crate::util::{self, mib, secs, timed, wait_for, RssSampler};
use crate::Row;

/// What the phases share: the runtime for database calls, the broker, the database kind, the
/// binary under measurement and the work directory.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub brokers: String,
    pub kind: DbKind,
    pub bin: PathBuf,
    pub work: PathBuf,
}

impl Env {
    pub fn test_db(&self) -> anyhow::Result<TestDb> {
        self.rt
            .block_on(TestDb::create(self.kind))
            .with_context(|| format!("no {:?} server", self.kind))
    }

    pub fn heads(&self, db: &SeafileDb) -> BTreeMap<RepoId, ObjectId> {
        self.rt.block_on(db.heads()).unwrap_or_default().into_iter().collect()
    }
}

/// A primary process over a data directory and its database.
pub struct Primary {
    pub dep: Deployment,
    pub dir: PathBuf,
    pub data: PathBuf,
    pub test_db: TestDb,
    pub db: SeafileDb,
    pub agent: Agent,
}

impl Primary {
    /// Writes Seafile's core tables and `records` into a new database, starts a primary (poll
    /// 200 ms) over `data` (already generated) with its files in `dir`, and returns once its
    /// first poll has published every head, so that what follows is timed on its own.
    pub fn start(env: &Env, dir: &Path, data: &Path, records: &[&RepoRecord]) -> anyhow::Result<Primary> {
        std::fs::create_dir_all(dir)?;
        let test_db = env.test_db()?;
        let db = env.rt.block_on(test_db.connect());
        env.rt.block_on(async {
            db.create_core_tables().await?;
            for r in records {
                db.write_repo(r).await?;
            }
            anyhow::Ok(())
        })?;
        let dep = Deployment::new(&env.brokers);
        let agent = Agent::start_binary(
            &Binary::at(&env.bin),
            "primary",
            dir,
            &shared_primary_config(&dep, data, &test_db.url, dir),
            &dep.primary_metrics,
        );
        let want = records.len() as f64;
        if !wait_for(Duration::from_secs(600), Duration::from_millis(100), || {
            agent.metric("seaf_primary_events_published_total", &[]) >= want
        }) {
            bail!("the primary did not publish its snapshot\n{}", agent.log_tail());
        }
        Ok(Primary {
            dep,
            dir: dir.to_path_buf(),
            data: data.to_path_buf(),
            test_db,
            db,
            agent,
        })
    }

    /// This primary's configuration with another `poll_interval` (polling `Branch`).
    pub fn config(&self, poll: &str) -> String {
        primary_config(&self.dep, &self.data, &self.test_db.url, &self.dir, poll)
    }

    /// This primary's configuration following the binary log, the poll at `poll` as safety net.
    pub fn binlog_config(&self, poll: &str) -> String {
        binlog(self.config(poll))
    }

    /// `seaf_primary_api_requests_total`, every route and status: the HTTP requests the
    /// primary's object API answered.
    pub fn requests(&self) -> f64 {
        self.agent.metric("seaf_primary_api_requests_total", &[])
    }

    /// The same counter by route and status (`/repos/{repo}/commits 200` → count).
    pub fn requests_by_route(&self) -> BTreeMap<String, f64> {
        let name = "seaf_primary_api_requests_total{";
        self.agent
            .metrics()
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|l| {
                let (labels, value) = l.rsplit_once(' ')?;
                let label = |key: &str| {
                    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
                    let len = labels[start..].find('"')?;
                    Some(labels[start..start + len].to_string())
                };
                let route = label("route").unwrap_or_default();
                let route = route.strip_prefix("/api/v1").unwrap_or(&route).to_string();
                let key = format!("{route} {}", label("status").unwrap_or_default());
                Some((key, value.parse().ok()?))
            })
            .collect()
    }
}

/// A backup of a [`Primary`], empty until it runs: its own database, data directory, consumer
/// group and metrics port, so that several can back up one primary from scratch one after the
/// other.
pub struct BackupSide {
    dep: Deployment,
    bin: PathBuf,
    pub dir: PathBuf,
    pub data: PathBuf,
    pub test_db: TestDb,
    pub db: SeafileDb,
    agent: Option<Agent>,
}

impl BackupSide {
    /// A backup of `primary` with its files in `dir`. `via`: the address it reaches the
    /// primary's object API at instead of the primary's own (a proxy).
    pub fn new(env: &Env, primary: &Primary, dir: &Path, via: Option<&str>) -> anyhow::Result<BackupSide> {
        std::fs::create_dir_all(dir)?;
        let mut dep = primary.dep.clone();
        dep.group = format!("backup-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        dep.backup_metrics = format!("127.0.0.1:{}", free_port());
        if let Some(addr) = via {
            dep.api = addr.to_string();
        }
        let test_db = env.test_db()?;
        let db = env.rt.block_on(test_db.connect());
        Ok(BackupSide {
            dep,
            bin: env.bin.clone(),
            data: dir.join("seafile-data"),
            dir: dir.to_path_buf(),
            test_db,
            db,
            agent: None,
        })
    }

    fn config(&self) -> String {
        with_properties(
            self.dep
                .backup_config(&self.data, &self.test_db.url, &self.dep.backup_metrics, "1h")
                .replace("workers = 4", &backup_keys()),
        )
    }

    /// Starts the backup process and waits for its `/healthz`.
    pub fn start(&mut self) {
        let config = self.config();
        self.agent = Some(Agent::start_binary(
            &Binary::at(&self.bin),
            "backup",
            &self.dir,
            &config,
            &self.dep.backup_metrics,
        ));
    }

    pub fn agent(&self) -> &Agent {
        self.agent.as_ref().expect("the backup runs")
    }

    pub fn agent_mut(&mut self) -> &mut Agent {
        self.agent.as_mut().expect("the backup runs")
    }

    /// Waits until every head of the primary's database is the head in the backup's.
    pub fn wait_converged(&self, env: &Env, primary: &Primary, timeout: Duration) -> anyhow::Result<()> {
        let want = env.heads(&primary.db);
        if !wait_for(timeout, Duration::from_millis(20), || env.heads(&self.db) == want) {
            bail!("the backup did not converge\n{}", self.agent().log_tail());
        }
        Ok(())
    }
}

/// The initial copy of `primary` by the empty `backup`, against `cp -a` + `sync` of the same
/// `storage/` into `cp_dir`, with the backup process's memory sampled throughout. `what`
/// describes the data for the figure. Returns the copy's row and the memory row.
///
/// The baseline runs first: both read the primary's storage from the page cache (it was just
/// generated, and is flushed before either starts), and its `sync` leaves no dirty pages
/// behind. Run after the backup, it would find the backup's writes already flushed either way;
/// run before without `sync`, the backup's `syncfs` batches would flush `cp`'s writes for it.
pub fn initial_copy(
    env: &Env,
    primary: &Primary,
    backup: &mut BackupSide,
    cp_dir: &Path,
    what: &str,
) -> anyhow::Result<Vec<Row>> {
    let storage = primary.data.join("storage");
    let before = util::files(&storage);
    let (objects, bytes) = (before.len(), before.values().sum::<u64>() as f64);

    std::fs::create_dir_all(cp_dir)?;
    // The generator does not flush (it writes through an unsynced store): flushed here,
    // untimed, the baseline's `sync` flushes only what `cp` wrote.
    timed("sync", &[])?;
    eprintln!("baseline: cp -a + sync of {objects} objects, {}", mib(bytes));
    let cp = timed("cp", &["-a", storage.to_str().unwrap(), cp_dir.to_str().unwrap()])?;
    let sync = timed("sync", &[])?;
    let baseline = cp + sync;
    eprintln!(
        "cp -a: {}, sync: {} (together {})",
        secs(cp),
        secs(sync),
        secs(baseline)
    );

    eprintln!("initial copy by an empty backup…");
    let started = Instant::now();
    backup.start();
    let pid = backup.agent().pid().expect("the backup runs");
    let sampler = RssSampler::start(pid, Duration::from_millis(100));
    backup.wait_converged(env, primary, Duration::from_secs(4 * 3600))?;
    let took = started.elapsed();
    let (peak, samples) = sampler.stop();
    let hwm = backup.agent().peak_rss().unwrap_or(0);
    let copied = util::files(&backup.data.join("storage"));
    eprintln!("{}", where_the_copy_went(backup.agent()));
    for line in primary.agent.metrics().lines() {
        if line.starts_with("seaf_primary_api_request_seconds_sum")
            || line.starts_with("seaf_primary_api_request_seconds_count")
        {
            eprintln!("  primary: {line}");
        }
    }
    eprintln!(
        "initial copy: {} in {} ({} objects on the backup); RSS peak {} over {samples} samples, VmHWM {}",
        objects,
        secs(took),
        copied.len(),
        mib(peak as f64),
        mib(hwm as f64)
    );
    let (ours, theirs) = (bytes / took.as_secs_f64(), bytes / baseline.as_secs_f64());
    let limit = 64u64 << 20;
    Ok(vec![
        Row {
            figure: format!("Initial full copy: {what}, {objects} objects, {}", mib(bytes)),
            measured: format!("{}/s ({}, every id verified)", mib(ours), secs(took)),
            baseline: format!("`cp -a` + `sync`: {}/s ({} + {})", mib(theirs), secs(cp), secs(sync)),
            ratio: format!("{:.0}%", 100.0 * ours / theirs),
            target: "≥ 70% of `cp -a` + `sync`".into(),
            met: Some(ours / theirs >= 0.7),
        },
        Row {
            figure: "Peak RSS of the backup process during that copy".into(),
            measured: format!("{} (VmRSS every 100 ms; VmHWM {})", mib(peak as f64), mib(hwm as f64)),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 64 MiB".into(),
            met: Some(peak.max(hwm) <= limit),
        },
    ])
}

/// The backup's own account of a copy, from its metrics: how many groups and barriers the
/// group commit made and what they cost, and what the syncs cost in all (workers run in
/// parallel, so the sums exceed the wall time).
fn where_the_copy_went(agent: &Agent) -> String {
    let m = |name: &str| agent.metric(name, &[]);
    let step = |step: &str| {
        agent.metric(
            "seaf_backup_group_commit_step_seconds_sum",
            &[&format!("step=\"{step}\"")],
        )
    };
    format!(
        "backup's breakdown: {} groups of {} batches and {} objects taking {:.2} s in all; {} barriers taking {:.2} s in all; \
         journals {:.2} s, temp files {:.2} s, renames {:.2} s; {} syncs taking {:.2} s in all; {} bytes fetched, {} written",
        m("seaf_backup_group_commits_total"),
        m("seaf_backup_group_commit_batches_total"),
        m("seaf_backup_group_commit_objects_total"),
        m("seaf_backup_group_commit_seconds_sum"),
        m("seaf_backup_store_barrier_seconds_count"),
        m("seaf_backup_store_barrier_seconds_sum"),
        step("journal"),
        step("temp_files"),
        step("renames"),
        m("seaf_backup_repo_sync_seconds_count"),
        m("seaf_backup_repo_sync_seconds_sum"),
        m("seaf_backup_bytes_fetched_total"),
        m("seaf_backup_bytes_written_total"),
    )
}

/// `[backup] workers` of the bench's backups: 16 (the default), or `SEAF_BENCH_BACKUP_WORKERS`.
pub fn backup_workers() -> usize {
    std::env::var("SEAF_BENCH_BACKUP_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// The `[backup]` keys the bench sets: its workers, and no scrub (it would read the store
/// beside what is measured).
pub fn backup_keys() -> String {
    format!("workers = {}\nscrub_bytes_per_second = 0", backup_workers())
}

/// A primary that polls `Branch` every `poll` (explicitly: on MariaDB the default would follow
/// the binary log, and the figures of the other phases are measured with the poll).
pub fn primary_config(dep: &Deployment, data: &Path, url: &str, dir: &Path, poll: &str) -> String {
    with_properties(dep.primary_config(data, url, &dir.join("state")).replace(
        "poll_interval = \"200ms\"",
        &format!("poll_interval = \"{poll}\"\nchange_capture = \"poll\""),
    ))
}

/// The shared primary (copy, incremental, latency, replay): on MariaDB it follows the binary
/// log, as the shipped default does there; elsewhere it polls every 200 ms.
fn shared_primary_config(dep: &Deployment, data: &Path, url: &str, dir: &Path) -> String {
    let config = primary_config(dep, data, url, dir, "200ms");
    if detection(url) == BINLOG_DETECTION {
        binlog(config)
    } else {
        config
    }
}

const BINLOG_DETECTION: &str = "binary log";

/// How the shared primary detects changes, for the tables: the binary log on MySQL/MariaDB.
pub fn detection(url: &str) -> &'static str {
    if url.starts_with("mysql:") {
        BINLOG_DETECTION
    } else {
        "poll 200 ms"
    }
}

/// `config` following the binary log instead of polling (the poll becomes the 5 min safety net).
pub fn binlog(config: String) -> String {
    config.replace("change_capture = \"poll\"", "change_capture = \"binlog\"")
}

/// The bench's `--kafka-property` settings, set once at start.
pub static KAFKA_PROPERTIES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Adds the `--kafka-property` settings to a configuration's `[kafka.properties]`.
pub fn with_properties(config: String) -> String {
    let anchor = "\"message.timeout.ms\" = \"20000\"\n";
    let extra: String = KAFKA_PROPERTIES
        .get()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k:?} = {v:?}\n"))
        .collect();
    config.replacen(anchor, &format!("{anchor}{extra}"), 1)
}
