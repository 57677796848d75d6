//! The recovery point metrics and the scrub, end to end: a real broker, a primary process and a
//! backup process.
//!
//! - `seaf_backup_rpo_seconds` observes every event once it is applied, and
//!   `seaf_backup_consistent_as_of_seconds` follows the primary's heartbeats while idle, stops
//!   while the backup cannot reach the primary (a cut link) and catches up after, also across a
//!   restart of the backup process;
//! - the scrub finds blocks damaged on the backup's disk, replaces the one the primary still has
//!   and names the one it cannot, in its metrics, its log and `seaf-backup status`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seaf_seafile::{DbKind, ObjectId};
use seaf_testgen::LibrarySpec;
use support::agent::{wait_until, Agent};
use support::broker::Broker;
use support::run_cli;
use support::site::{generated_primary, generated_site, Site, SiteOptions};

const WATERMARK: &str = "seaf_backup_consistent_as_of_seconds";
const RPO_BUCKET: &str = "seaf_backup_rpo_seconds_bucket";

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Events applied so far (the histogram's `+Inf` bucket).
fn rpo_count(backup: &Agent) -> f64 {
    backup.metric(RPO_BUCKET, &["le=\"+Inf\""])
}

/// Events applied so far with a recovery point above `secs` (a bucket bound).
fn rpo_above(backup: &Agent, secs: &str) -> f64 {
    rpo_count(backup) - backup.metric(RPO_BUCKET, &[&format!("le=\"{secs}\"")])
}

fn heartbeats(backup: &Agent) -> f64 {
    backup.metric("seaf_backup_events_total", &["result=\"heartbeat\""])
}

fn queued(backup: &Agent) -> f64 {
    backup.metric("seaf_backup_events_total", &["result=\"queued\""])
}

/// Waits until the backup has read `n` more heartbeats: time passes on the primary's clock,
/// and the consumer reports its lag in between.
fn wait_heartbeats(site: &Site, n: f64) {
    let from = heartbeats(&site.backup);
    wait_until(
        Duration::from_secs(30),
        &format!("{n} more heartbeats read by the backup"),
        || heartbeats(&site.backup) >= from + n,
        || site.backup.metrics(),
    );
}

/// Waits until every event the backup read has been observed as applied (the recovery point
/// task reads the queue rows every second).
fn wait_all_observed(site: &Site) {
    wait_until(
        Duration::from_secs(30),
        "every event read to be observed as applied, once",
        || rpo_count(&site.backup) == queued(&site.backup),
        || site.backup.metrics(),
    );
}

fn wait_watermark_near_now(site: &Site, within: f64, what: &str) {
    wait_until(
        Duration::from_secs(60),
        what,
        || {
            let w = site.backup.metric(WATERMARK, &[]);
            w > 0.0 && now() - w < within
        },
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
}

#[test]
fn rpo_and_watermark_under_load_and_through_a_cut_link() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::Sqlite, 20) else {
        return;
    };
    let opts = SiteOptions {
        proxy: true,
        ..SiteOptions::new(DbKind::MySql)
    };
    let Some(mut site) = Site::start_with(&broker, &g.data, &g.test_db.url, opts) else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    // Idle: heartbeats reach one partition of three, and carry the watermark on all of them.
    wait_watermark_near_now(&site, 5.0, "the watermark to follow the heartbeats while idle");

    wait_all_observed(&site);

    // Load: 60 changes to the 20 libraries as fast as the database takes them.
    let (count0, queued0) = (rpo_count(&site.backup), queued(&site.backup));
    for round in 0..3 {
        for i in 0..g.libs.len() {
            g.gen.update_library(&mut g.libs[i], 1 + round).unwrap();
            site.publish(&g.libs[i]);
        }
    }
    site.wait_converged(Duration::from_secs(120));
    let read = queued(&site.backup) - queued0;
    assert!(
        read >= 20.0,
        "the primary published {read} events for 20 changed libraries"
    );
    wait_all_observed(&site);
    let under_load = rpo_count(&site.backup) - count0;
    assert_eq!(under_load, read, "each event is observed once");
    assert_eq!(
        rpo_above(&site.backup, "60"),
        0.0,
        "no event took a minute under this load"
    );
    let sum = site.backup.metric("seaf_backup_rpo_seconds_sum", &[]);
    eprintln!(
        "under load: {under_load} events applied, mean recovery point over the whole run {:.3} s",
        sum / rpo_count(&site.backup)
    );
    wait_watermark_near_now(&site, 5.0, "the watermark to catch up with the load");

    // The link to the primary's object API is cut: events are read, nothing can be applied.
    let proxy = site.proxy.as_ref().unwrap();
    proxy.cut();
    let cut_at = now();
    let (count1, queued1) = (rpo_count(&site.backup), queued(&site.backup));
    let slow0 = rpo_above(&site.backup, "5");
    for i in 0..10 {
        g.gen.update_library(&mut g.libs[i], 1).unwrap();
        site.publish(&g.libs[i]);
    }
    let written_at = now();
    wait_until(
        Duration::from_secs(30),
        "the backup to read the 10 changes made while the link is cut",
        || queued(&site.backup) >= queued1 + 10.0,
        || site.backup.metrics(),
    );
    wait_heartbeats(&site, 3.0);
    let stopped = site.backup.metric(WATERMARK, &[]);
    assert!(
        stopped >= cut_at - 5.0 && stopped <= written_at + 1.0,
        "the watermark {stopped} should stay at the first change detected after the cut ({cut_at}..{written_at}), {} s ago",
        now() - stopped
    );
    wait_heartbeats(&site, 3.0);
    assert_eq!(site.backup.metric(WATERMARK, &[]), stopped, "the watermark stays put");
    assert_eq!(
        rpo_count(&site.backup),
        count1,
        "nothing is applied while the link is cut"
    );
    wait_heartbeats(&site, 2.0);

    // The link is back: the changes are applied, each with the outage in its recovery point.
    proxy.restore();
    let restored_at = now();
    site.wait_converged(Duration::from_secs(120));
    wait_until(
        Duration::from_secs(60),
        "the watermark to pass the moment the link came back",
        || site.backup.metric(WATERMARK, &[]) >= restored_at,
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
    let outage = rpo_count(&site.backup) - count1;
    assert!(outage >= 10.0, "{outage} events applied after the outage");
    // Each was detected before `written_at` and applied after `restored_at`, 8 s later at least.
    assert!(restored_at - written_at > 5.0);
    let slow = rpo_above(&site.backup, "5") - slow0;
    assert!(slow >= 10.0, "{slow} events with a recovery point above 5 s");
    eprintln!(
        "outage of {:.1} s: {outage} events applied after it, {slow} of them above 5 s",
        restored_at - cut_at
    );

    // The backup process itself down: changes pile up in the topic. Restarted while it still
    // cannot reach the primary, it holds the watermark at what it had not applied, not at now.
    site.backup.stop();
    proxy.cut();
    let stopped_at = now();
    for i in 10..15 {
        g.gen.update_library(&mut g.libs[i], 1).unwrap();
        site.publish(&g.libs[i]);
    }
    let written_at = now();
    site.backup.restart();
    wait_until(
        Duration::from_secs(60),
        "the restarted backup to read the changes made while it was down",
        || queued(&site.backup) >= 5.0,
        || site.backup.log_tail(),
    );
    // Not exported while rows it inherited from before the restart are not applied, and never
    // later than the changes made while it was down.
    for _ in 0..3 {
        wait_heartbeats(&site, 1.0);
        let held = site.backup.metric(WATERMARK, &[]);
        assert!(
            held <= written_at + 1.0,
            "after the restart the watermark {held} should be before the changes made while down ({stopped_at}..{written_at}), {} s ago",
            now() - held
        );
    }
    proxy.restore();
    let restored_at = now();
    site.wait_converged(Duration::from_secs(120));
    wait_until(
        Duration::from_secs(60),
        "the watermark to catch up after the restart",
        || site.backup.metric(WATERMARK, &[]) >= restored_at,
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
}

/// Every block file under the backup's (or primary's) `storage/blocks`.
fn blocks(data: &Path) -> Vec<PathBuf> {
    support::files_under(&data.join("storage/blocks"))
}

/// The block's id, from its path (`…/<2 hex>/<38 hex>`).
fn block_id(path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    let prefix = path.parent().unwrap().file_name().unwrap().to_str().unwrap();
    format!("{prefix}{name}")
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_scrub_finds_blocks_damaged_on_the_backups_disk() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::Sqlite, 4, LibrarySpec::small, DbKind::Sqlite)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    wait_until(
        Duration::from_secs(60),
        "a first full scrub pass",
        || {
            site.backup
                .metric("seaf_backup_scrub_last_full_pass_timestamp_seconds", &[])
                > 0.0
        },
        || site.backup.log_tail(),
    );

    // One block damaged on the backup only (the primary has a good copy), one damaged on both.
    let found = blocks(&site.backup_data);
    assert!(found.len() >= 2, "{found:?}");
    let (repairable, lost) = (&found[0], &found[found.len() - 1]);
    let (repairable_id, lost_id) = (block_id(repairable), block_id(lost));
    let lost_on_primary = g.data.join(lost.strip_prefix(&site.backup_data).unwrap());
    flip_a_byte(repairable);
    flip_a_byte(lost);
    flip_a_byte(&lost_on_primary);

    wait_until(
        Duration::from_secs(60),
        "the scrub to find both damaged blocks",
        || {
            site.backup
                .metric("seaf_backup_scrub_corrupt_objects_total", &["kind=\"block\""])
                >= 2.0
        },
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
    let repaired_log = site.backup.log_lines(&repairable_id);
    assert!(
        repaired_log.contains("replaced by the primary's verified copy"),
        "{repaired_log}"
    );
    let lost_log = site.backup.log_lines(&lost_id);
    assert!(lost_log.contains("the primary no longer has it"), "{lost_log}");
    assert!(
        lost_log.contains("docs/operations.md"),
        "the log says where to read on: {lost_log}"
    );
    let bytes = std::fs::read(repairable).unwrap();
    assert_eq!(
        ObjectId::hash_of(&bytes).to_hex(),
        repairable_id,
        "the good copy is in place"
    );

    let status = site.status_text();
    assert!(
        status.contains("2 damaged objects (1 repaired from the primary)"),
        "{status}"
    );
    assert!(
        status.contains(&format!("damaged block {lost_id} of library")),
        "{status}"
    );
    assert!(!status.contains(&format!("damaged block {repairable_id}")), "{status}");
    let config = site.backup.config_path().to_str().unwrap().to_string();
    let (code, json, err) = run_cli(&["status", "-c", &config, "--json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["scrub"]["damaged"].as_array().map(Vec::len), Some(2), "{json}");

    // A synced library whose head on the backup is older than the primary's, as if an event
    // had been lost: found by the head comparison, counted, and synced again.
    let config_text = std::fs::read_to_string(site.backup.config_path()).unwrap();
    site.backup
        .restart_with(&format!("{config_text}scrub_head_interval = \"500ms\"\n"));
    let lib = &mut g.libs[0];
    let old_head = lib.head;
    g.gen.update_library(lib, 1).unwrap();
    site.publish(&g.libs[0]);
    site.wait_converged(Duration::from_secs(60));
    let mut behind = g.libs[0].record.clone();
    behind.head = old_head;
    site.rt.block_on(site.backup_db.write_repo(&behind)).unwrap();
    wait_until(
        Duration::from_secs(90),
        "the scrub to find the library behind the primary",
        || site.backup.metric("seaf_backup_scrub_head_mismatches_total", &[]) >= 1.0,
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
    site.wait_converged(Duration::from_secs(60));
    let mismatch_log = site.backup.log_lines("differs from the primary's");
    assert!(mismatch_log.contains(g.libs[0].repo_id.as_str()), "{mismatch_log}");
    assert!(
        site.status_text().contains("1 head mismatches"),
        "{}",
        site.status_text()
    );

    // The scrub ends with the role, between two objects.
    let took = site.backup.terminate(Duration::from_secs(25));
    assert!(
        took.is_some(),
        "the backup did not stop by itself:\n{}",
        site.backup.log_tail()
    );
    assert!(
        site.backup.log_lines("stopped").contains("released"),
        "{}",
        site.backup.log_tail()
    );
    eprintln!("the backup stopped in {:?} with the scrub running", took.unwrap());
}
