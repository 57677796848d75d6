//! Crash points: the real backup process aborted (as `kill -9` would end it) at each step of a
//! group commit — after the journal is durable, halfway through the renames, before the
//! barrier, after the barrier before the answers — and just before a head's transaction
//! commits. Each time `verify` must find the store closed as it is (a crash tears nothing, so
//! the invariant holds even before recovery), the restarted backup must recover, converge and
//! lose no update, and `verify` must be clean again. The points are armed with
//! `FAILPOINTS=<name>=return` (docs/reliability.md).

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use seaf_backup::backup::durable::CRASH_POINTS;
use seaf_backup::backup::replicate::receive::PACK_CRASH_POINT;
use seaf_backup::backup::HEAD_CRASH_POINT;
use seaf_seafile::DbKind;
use seaf_testgen::LibrarySpec;
use support::site::{generated_site, Generated, Site};

/// What `std::process::abort` ends a process with.
const SIGABRT: i32 = 6;

const RECOVERED: &str = "recovered the backup store after a crash";

/// Files of up to 2 MiB in 256 KiB blocks: each update is a few groups of several objects.
fn chunky(name: &str) -> LibrarySpec {
    LibrarySpec {
        max_file_size: 2 << 20,
        block_size: 256 << 10,
        ..LibrarySpec::small(name)
    }
}

/// Updates `count` random libraries on the primary.
fn update_some(g: &mut Generated, site: &Site, rng: &mut impl Rng, count: usize) {
    for _ in 0..count {
        let i = rng.gen_range(0..g.libs.len());
        g.gen.update_library(&mut g.libs[i], rng.gen_range(1..4)).unwrap();
        site.publish(&g.libs[i]);
    }
}

/// One crash point: updates made while the backup is down, the backup started armed until it
/// aborts, `verify`, a clean restart, convergence, `verify`. Returns what went wrong.
fn crash_at(point: &str, g: &mut Generated, site: &mut Site, rng: &mut impl Rng) -> Vec<String> {
    let mut failures = Vec::new();
    site.backup.stop();
    update_some(g, site, rng, 4);
    site.backup.set_env("FAILPOINTS", Some(&format!("{point}=return")));
    site.backup.launch();
    let status = site.backup.wait_exit(Duration::from_secs(120));
    site.backup.set_env("FAILPOINTS", None);
    if status.and_then(|s| s.signal()) != Some(SIGABRT) {
        site.backup.kill();
        failures.push(format!(
            "{point}: the armed backup did not abort there ({status:?})\n{}",
            site.backup.log_tail()
        ));
        return failures;
    }
    let (code, out) = site.verify_backup();
    if code != 0 {
        failures.push(format!("{point}: verify right after the abort:\n{out}"));
    }
    let recovered_before = site.backup.log_lines(RECOVERED).lines().count();
    let started = Instant::now();
    site.backup.spawn();
    site.wait_converged(Duration::from_secs(120));
    let converged_in = started.elapsed();
    let (code, out) = site.verify_backup();
    if code != 0 {
        failures.push(format!("{point}: verify after converging:\n{out}"));
    }
    let lines = site.backup.log_lines(RECOVERED);
    let recovered = lines.lines().count() > recovered_before;
    // The counts of the last recovery: journals, listed objects, torn, orphaned, temp files.
    let counts = lines
        .lines()
        .last()
        .filter(|_| recovered)
        .map(strip_ansi)
        .and_then(|l| l.split_once("journals=").map(|(_, rest)| rest.to_string()))
        .map(|rest| format!("journals={}", rest.split(" took_ms").next().unwrap_or(&rest)))
        .unwrap_or_else(|| "none".into());
    // Every committer point leaves its group's journal (it goes only after the answers).
    if point.starts_with("group_commit.") && !recovered {
        failures.push(format!("{point}: the restart found no journal to recover"));
    }
    if point == "group_commit.mid_renames" && counts.contains("listed=1 ") {
        failures.push(format!("{point}: fired in a group of one object ({counts})"));
    }
    println!(
        "| {point} | aborted | verify clean | converged in {:.1} s | recovery: {counts} |",
        converged_in.as_secs_f64()
    );
    failures
}

/// A log line without its terminal colours.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn backup_aborted_at_every_crash_point_recovers_and_loses_nothing() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 6, chunky, DbKind::MySql) else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let points = CRASH_POINTS.iter().copied().chain([PACK_CRASH_POINT, HEAD_CRASH_POINT]);
    let failures: Vec<String> = points.flat_map(|p| crash_at(p, &mut g, &mut site, &mut rng)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(site.differing().is_empty(), "no update may be lost");
}
