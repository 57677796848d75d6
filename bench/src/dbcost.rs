//! What the primary costs the database server: MariaDB's CPU seconds per minute, at many
//! libraries, idle and at 10 updates/s, with the primary following the binary log and polling
//! `Branch` every second.
//!
//! Two readings, both from `/proc`: the CPU time of the server threads that serve the
//! primary's own connections (`information_schema.PROCESSLIST.TID` of the connections whose
//! database is the test database: the poll's queries, the binlog dump thread), which is what
//! the primary costs; and the whole `mariadbd` process (utime + stime), which on a shared server
//! also counts everyone else's work. The bench's updates run on a connection of another default
//! database, so their own cost is in neither the first reading nor the comparison.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use support::agent::{cpu_ticks, wait_until, Agent, Binary};
use support::e2e::Deployment;

use crate::phases::BINLOG_RATE;
use crate::site::{binlog, primary_config, Env};
use crate::util;
use crate::{Row, Scale};

/// One minute's worth of a core: the goal is 1% of it.
const GOAL_SECS_PER_MIN: f64 = 0.6;

pub fn run(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        env.kind == seaf_seafile::DbKind::MySql,
        "the dbcost phase measures MariaDB: run it with --db mysql"
    );
    let pid = mariadbd_pid()?;
    let n = scale.scan_libraries;
    let dir = env.work.join("dbcost");
    let data = dir.join("seafile-data");
    std::fs::create_dir_all(data.join("storage"))?;
    let test_db = env.test_db()?;
    let repos = fill(env, &test_db.url, n)?;
    let server = test_db.url.rsplit_once('/').map(|(s, _)| s).unwrap_or(&test_db.url);
    let admin = env.rt.block_on(
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{server}/mysql")),
    )?;
    let dep = Deployment::new(&env.brokers);
    let measure = Duration::from_secs(scale.dbcost_secs);
    let mut cost = Vec::new();
    for mode in ["none", "poll 1s", "binlog"] {
        let state = dir.join(format!("state-{}", mode.replace(' ', "-")));
        std::fs::create_dir_all(&state)?;
        // Everything already published (as for a long-running primary): no 100k-event snapshot.
        let published: serde_json::Map<String, serde_json::Value> =
            repos.iter().map(|(r, h)| (r.clone(), h.clone().into())).collect();
        let file = serde_json::json!({"version": 1, "topic": dep.topic, "published": published});
        std::fs::write(state.join("primary-published.json"), file.to_string())?;
        let config = primary_config(&dep, &data, &test_db.url, &dir, "1s").replace(
            &format!("state_dir = {:?}", dir.join("state")),
            &format!("state_dir = {state:?}"),
        );
        let agent = match mode {
            "none" => None,
            "binlog" => Some(start(env, &dir, &binlog(config), &dep)),
            _ => Some(start(env, &dir, &config, &dep)),
        };
        if let Some(a) = &agent {
            // Past the start-up read (the binary log's first full read, the poll's first).
            wait_until(
                Duration::from_secs(120),
                "the primary's first Branch read",
                || a.metric("seaf_primary_poll_seconds_count", &[]) >= 1.0,
                || a.log_tail(),
            );
            std::thread::sleep(Duration::from_secs(2));
        }
        let db_name = test_db.url.rsplit('/').next().unwrap_or_default().to_string();
        let threads = Threads {
            env,
            admin: &admin,
            db: &db_name,
        };
        let idle = per_minute(pid, &threads, measure, || Ok(()))?;
        let mut next = Instant::now();
        let mut k = 0usize;
        let busy = per_minute(pid, &threads, measure, || {
            if Instant::now() >= next {
                let repo = &repos[k % repos.len()].0;
                k += 1;
                update(env, &admin, &db_name, repo)?;
                next += Duration::from_secs_f64(1.0 / BINLOG_RATE);
            }
            Ok(())
        })?;
        eprintln!(
            "dbcost {mode}: the primary's MariaDB threads {:.3} CPU s/min idle, {:.3} at {BINLOG_RATE}/s; whole mariadbd {:.2} and {:.2} ({n} libraries, {k} updates)",
            idle.0, busy.0, idle.1, busy.1
        );
        cost.push((mode, idle, busy));
        drop(agent);
    }
    Ok(rows(n, &cost))
}

/// (mode, idle, busy), each (the primary's threads, whole mariadbd) in CPU s/min.
type Cost<'a> = (&'a str, (f64, f64), (f64, f64));

fn rows(n: usize, cost: &[Cost<'_>]) -> Vec<Row> {
    let get = |mode: &str| cost.iter().find(|c| c.0 == mode).copied().unwrap_or_default();
    let (none, poll, log) = (get("none"), get("poll 1s"), get("binlog"));
    let row = |what: &str, pick: fn(&Cost<'_>) -> (f64, f64)| {
        let (ours, whole) = pick(&log);
        Row {
            figure: format!("MariaDB CPU for the primary, {n} libraries, {what}"),
            measured: format!(
                "binary log: {ours:.3} s/min in the primary's server threads (whole mariadbd {whole:.2}; with no primary {:.2})",
                pick(&none).1
            ),
            baseline: format!(
                "1 s poll: {:.3} s/min (whole mariadbd {:.2})",
                pick(&poll).0,
                pick(&poll).1
            ),
            ratio: format!("{:.2}% of a core", 100.0 * ours / 60.0),
            target: format!("≤ 1% of a core ({GOAL_SECS_PER_MIN} s/min)"),
            met: Some(ours <= GOAL_SECS_PER_MIN),
        }
    };
    vec![
        row("idle", |c| c.1),
        row(&format!("at {BINLOG_RATE} updates/s"), |c| c.2),
    ]
}

fn start(env: &Env, dir: &Path, config: &str, dep: &Deployment) -> Agent {
    Agent::start_binary(&Binary::at(&env.bin), "primary", dir, config, &dep.primary_metrics)
}

/// The server threads of the primary's connections.
struct Threads<'a> {
    env: &'a Env,
    admin: &'a sqlx::AnyPool,
    db: &'a str,
}

impl Threads<'_> {
    /// The server threads serving a connection to the test database now.
    fn ours(&self) -> anyhow::Result<Vec<u32>> {
        use sqlx::Row as _;
        let sql = format!(
            "SELECT CAST(TID AS SIGNED) AS tid FROM information_schema.PROCESSLIST WHERE DB = '{}'",
            self.db
        );
        let rows = self.env.rt.block_on(sqlx::query(&sql).fetch_all(self.admin))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<i64, _>("tid").ok())
            .map(|tid| tid as u32)
            .collect())
    }
}

/// CPU ticks of every thread of `pid`. A thread the server takes from its cache for a new
/// connection carries the ticks of the connections it served before: only the difference
/// counts.
fn all_threads(pid: u32) -> HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(|tid| (tid, thread_ticks(pid, tid)))
        .collect()
}

/// utime + stime of one thread (`/proc/<pid>/task/<tid>/stat`; `/proc/<tid>/stat` would give
/// the whole process's).
fn thread_ticks(pid: u32, tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// CPU seconds per minute over `span` of (the primary's server threads, the whole mariadbd),
/// calling `tick` every few milliseconds.
fn per_minute(
    pid: u32,
    threads: &Threads<'_>,
    span: Duration,
    mut tick: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, f64)> {
    let hz = clock_ticks_per_second();
    let (before, first, t0, started) = (all_threads(pid), threads.ours()?, cpu_ticks(pid), Instant::now());
    while started.elapsed() < span {
        tick()?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let whole = (cpu_ticks(pid) - t0) as f64 / hz;
    let mut tids = threads.ours()?;
    tids.extend(first);
    tids.sort_unstable();
    tids.dedup();
    let ours: u64 = tids
        .iter()
        .map(|tid| thread_ticks(pid, *tid).saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    let per_min = 60.0 / started.elapsed().as_secs_f64();
    Ok((ours as f64 / hz * per_min, whole * per_min))
}

/// `n` libraries' Branch rows (random heads), bulk-inserted; returns (repo, head).
pub(crate) fn fill(env: &Env, url: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let repos: Vec<(String, String)> = (0..n)
        .map(|_| (uuid::Uuid::new_v4().to_string(), util::random_hex40()))
        .collect();
    env.rt.block_on(async {
        let seaf = seaf_seafile::SeafileDb::connect(url).await?;
        seaf.create_core_tables().await?;
        seaf.close().await;
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
        for chunk in repos.chunks(500) {
            let values: Vec<String> = chunk.iter().map(|(r, h)| format!("('master', '{r}', '{h}')")).collect();
            let sql = format!(
                "INSERT INTO Branch (name, repo_id, commit_id) VALUES {}",
                values.join(", ")
            );
            sqlx::query(&sql).execute(&pool).await?;
        }
        pool.close().await;
        anyhow::Ok(())
    })?;
    Ok(repos)
}

/// One library's head moves (one autocommitted UPDATE, as Seafile's own), on a connection of
/// another default database, so its server thread is not counted as the primary's.
fn update(env: &Env, admin: &sqlx::AnyPool, db: &str, repo: &str) -> anyhow::Result<()> {
    let sql = format!(
        "UPDATE {db}.Branch SET commit_id = '{}' WHERE name = 'master' AND repo_id = '{repo}'",
        util::random_hex40()
    );
    env.rt.block_on(sqlx::query(&sql).execute(admin))?;
    Ok(())
}

fn mariadbd_pid() -> anyhow::Result<u32> {
    let out = Command::new("pidof").arg("mariadbd").output().context("pidof")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pid = text.split_whitespace().next().and_then(|p| p.parse().ok());
    pid.or_else(|| {
        std::fs::read_to_string("/run/mysqld/mysqld.pid")
            .ok()
            .and_then(|p| p.trim().parse().ok())
    })
    .context("no mariadbd process on this machine (the dbcost phase reads its CPU time from /proc)")
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
