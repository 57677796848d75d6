//! The poll's change marker on PostgreSQL and SQLite: what one poll costs when it reads the whole
//! `Branch` table (`SeafileDb::heads`, the primary's read) and when the marker's reading lets it
//! skip that read (`ChangeMarker::read`), at the database-cost phase's library count. Wall time
//! per poll, and CPU seconds a minute at a 1 s `poll_interval` (this process's CPU: SQLite runs
//! inside it; PostgreSQL's server work adds to the wall time, not to this figure).

use std::time::Instant;

use anyhow::Context;
use seaf_seafile::{DbKind, SeafileDb};
use support::agent::cpu_ticks;
use support::db::TestDb;

use crate::site::Env;
use crate::{Row, Scale};

/// Polls timed each way.
const POLLS: u32 = 30;

pub fn run(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (kind, name) in [(DbKind::Postgres, "PostgreSQL"), (DbKind::Sqlite, "SQLite")] {
        let test_db = env
            .rt
            .block_on(TestDb::create(kind))
            .with_context(|| format!("no {kind:?} server (scripts/setup.sh databases)"))?;
        let n = scale.scan_libraries;
        crate::dbcost::fill(env, &test_db.url, n)?;
        let (read, marker) = env.rt.block_on(measure(&test_db.url))?;
        eprintln!(
            "marker {name}: a Branch read of {n} libraries {:.2} ms ({:.3} CPU ms), the marker {:.3} ms ({:.4} CPU ms)",
            read.wall_ms, read.cpu_ms, marker.wall_ms, marker.cpu_ms
        );
        rows.push(Row {
            figure: format!("{name} poll while nothing changes, {n} libraries, 1 s poll"),
            measured: format!(
                "change marker: {:.3} ms a poll, {:.4} CPU s/min",
                marker.wall_ms,
                marker.cpu_ms * 60.0 / 1000.0
            ),
            baseline: format!(
                "Branch read: {:.1} ms a poll, {:.2} CPU s/min",
                read.wall_ms,
                read.cpu_ms * 60.0 / 1000.0
            ),
            ratio: format!("{:.0}× less time", read.wall_ms / marker.wall_ms.max(1e-6)),
            target: "cheaper where possible".into(),
            met: Some(marker.wall_ms < read.wall_ms),
        });
    }
    Ok(rows)
}

/// Mean wall and CPU milliseconds of one poll.
struct PerPoll {
    wall_ms: f64,
    cpu_ms: f64,
}

async fn measure(url: &str) -> anyhow::Result<(PerPoll, PerPoll)> {
    let db = SeafileDb::connect(url).await?;
    let mut marker = db.change_marker().await?.context("no change marker on this database")?;
    db.heads().await?; // warm: the first read pays for the cache
    let started = Clock::now();
    for _ in 0..POLLS {
        db.heads().await?;
    }
    let read = started.per_poll();
    let started = Clock::now();
    for _ in 0..POLLS {
        marker.read().await?;
    }
    let skip = started.per_poll();
    db.close().await;
    Ok((read, skip))
}

/// Wall time and this process's CPU ticks at a start.
struct Clock(Instant, u64);

impl Clock {
    fn now() -> Clock {
        Clock(Instant::now(), cpu_ticks(std::process::id()))
    }

    fn per_poll(&self) -> PerPoll {
        let cpu = cpu_ticks(std::process::id()).saturating_sub(self.1) as f64 / crate::dbcost::clock_ticks_per_second();
        PerPoll {
            wall_ms: self.0.elapsed().as_secs_f64() * 1000.0 / f64::from(POLLS),
            cpu_ms: cpu * 1000.0 / f64::from(POLLS),
        }
    }
}
