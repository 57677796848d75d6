//! History depth through a slow link: one library with a long linear history, backed up from
//! scratch once directly (loopback) and once through [`DelayProxy`] with 50 ms of round-trip
//! time. The difference is what the link costs; divided by the round-trip time it is the number
//! of round trips the backup waited for one after the other, whatever its protocol.

use std::time::{Duration, Instant};

use seaf_testgen::{Generator, LibrarySpec};

use crate::proxy::DelayProxy;
use crate::site::{BackupSide, Env, Primary};
use crate::util::{mib, secs};
use crate::{Row, Scale};

/// The link's round-trip time, half of it each way.
const RTT: Duration = Duration::from_millis(50);

/// One backup from scratch: how long from starting the process to the head in its database,
/// the primary's request count meanwhile, and the sum of its sync histogram.
struct Run {
    took: Duration,
    requests: f64,
    sync_secs: f64,
}

pub fn run(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    let dir = env.work.join("link");
    let data = dir.join("primary/seafile-data");
    std::fs::create_dir_all(&data)?;
    let commits = scale.link_commits;
    eprintln!("link: generating one library of {commits} commits…");
    let started = Instant::now();
    let mut gen = Generator::new(&data, 1000);
    // Small changes: 2 per commit, files up to 4 KiB. The figure is about depth, not bytes.
    let lib = gen.create_library(LibrarySpec {
        commits,
        changes_per_commit: 2,
        max_file_size: 4 << 10,
        ..LibrarySpec::small("deep history")
    })?;
    let storage = crate::util::files(&data.join("storage"));
    let bytes = storage.values().sum::<u64>() as f64;
    eprintln!(
        "link: {} commits, {} objects, {} in {}",
        lib.commits.len(),
        storage.len(),
        mib(bytes),
        secs(started.elapsed())
    );
    let primary = Primary::start(env, &dir.join("primary"), &data, &[&lib.record])?;

    let direct = backup_once(env, &primary, "direct", None)?;
    let proxy = DelayProxy::start(&primary.dep.api, RTT / 2)?;
    let slow = backup_once(env, &primary, "through the link", Some(&proxy))?;
    eprintln!("link: {} TCP connections through the proxy", proxy.connections());

    let extra = slow.took.saturating_sub(direct.took);
    let round_trips = extra.as_secs_f64() / RTT.as_secs_f64();
    eprintln!(
        "link: direct {}, through the link {}: {} extra = {round_trips:.1} round trips of {} ms",
        secs(direct.took),
        secs(slow.took),
        secs(extra),
        RTT.as_millis()
    );
    Ok(vec![Row {
        figure: format!(
            "History depth: 1 library, {} new commits ({} objects), backed up from scratch through a link of {} ms RTT",
            lib.commits.len(),
            storage.len(),
            RTT.as_millis()
        ),
        measured: format!(
            "{} through the link: {} extra, {:.0} HTTP requests",
            secs(slow.took),
            secs(extra),
            slow.requests
        ),
        baseline: format!(
            "direct (loopback): {}, {:.0} HTTP requests (sync histogram {:.2} s direct, {:.2} s through the link)",
            secs(direct.took),
            direct.requests,
            direct.sync_secs,
            slow.sync_secs
        ),
        ratio: format!("{round_trips:.1} round trips' worth"),
        target: "≤ 60 round trips' worth of extra time".into(),
        met: Some(round_trips <= 60.0),
    }])
}

/// Backs `primary` up from scratch with a new backup (through `proxy` if given), then stops it.
fn backup_once(env: &Env, primary: &Primary, name: &str, proxy: Option<&DelayProxy>) -> anyhow::Result<Run> {
    let dir = primary.dir.with_file_name(format!("backup-{}", name.replace(' ', "-")));
    let mut backup = BackupSide::new(env, primary, &dir, proxy.map(|p| p.addr()))?;
    let (requests0, routes0) = (primary.requests(), primary.requests_by_route());
    eprintln!("link: backup from scratch, {name}…");
    let started = Instant::now();
    backup.start();
    backup.wait_converged(env, primary, Duration::from_secs(3600))?;
    let took = started.elapsed();
    let requests = primary.requests() - requests0;
    let routes: Vec<String> = primary
        .requests_by_route()
        .into_iter()
        .map(|(route, n)| (route.clone(), n - routes0.get(&route).copied().unwrap_or(0.0)))
        .filter(|(_, n)| *n > 0.0)
        .map(|(route, n)| format!("{route}: {n:.0}"))
        .collect();
    let sync_secs = backup.agent().metric("seaf_backup_repo_sync_seconds_sum", &[]);
    eprintln!(
        "link: {name}: {} from start to consistent, {requests:.0} requests to the primary ({})",
        secs(took),
        routes.join(", ")
    );
    backup.agent_mut().stop();
    Ok(Run {
        took,
        requests,
        sync_secs,
    })
}
