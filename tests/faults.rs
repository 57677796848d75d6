//! The fault suite: crashes, outages, a full disk and hostile input against real processes, a
//! real broker and real databases. Every scenario ends with the same questions an operator asks:
//! does `verify` find a database head pointing at missing data (a *dangling head*), did any
//! update fail to reach the backup (a *lost update*), and how long did the backup take to catch
//! up once the fault was over?
//!
//! Each scenario prints one row of that table and appends it to
//! `<target>/tmp/fault-table.md`; `scripts/faults.sh` runs the suite and prints the table.
//!
//! Knobs (environment): `SEAF_FAULT_CYCLES` (kill cycles, default 20), `SEAF_FAULT_OUTAGE`
//! (seconds each outage lasts, default 60), `SEAF_FAULT_LONG=1` (100 kill cycles).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use seaf_backup::backup::queue::SyncState;
use seaf_kafka::rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use seaf_kafka::rdkafka::client::DefaultClientContext;
use seaf_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use seaf_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use seaf_kafka::rdkafka::types::RDKafkaErrorCode;
use seaf_kafka::{Codec, DetectionSource, RepoUpdate};
use seaf_seafile::{DbKind, ObjectId, ObjectKind, ObjectStore};
use seaf_testgen::{write_database, LibrarySpec};
use support::agent::{cpu_ticks, wait_until};
use support::broker::{Broker, Cluster};
use support::e2e::TOKEN;
use support::site::{generated_primary, generated_site, Generated, Site, SiteOptions};

/// One line of the fault table.
struct Row {
    scenario: &'static str,
    cycles: usize,
    dangling_heads: usize,
    lost_updates: usize,
    converged_in: Duration,
    note: String,
}

const TABLE_HEADER: &str =
    "| scenario | cycles | dangling heads | lost updates | time to converge | note |\n|---|---|---|---|---|---|";

/// Prints the row and appends it to the suite's table file.
fn report(row: &Row) {
    let line = format!(
        "| {} | {} | {} | {} | {:.1} s | {} |",
        row.scenario,
        row.cycles,
        row.dangling_heads,
        row.lost_updates,
        row.converged_in.as_secs_f64(),
        row.note
    );
    println!("{TABLE_HEADER}\n{line}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-table.md");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("fault table file");
    writeln!(f, "{line}").expect("append to the fault table");
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn kill_cycles() -> usize {
    let long = std::env::var("SEAF_FAULT_LONG").is_ok_and(|v| v == "1");
    env_usize("SEAF_FAULT_CYCLES", if long { 100 } else { 20 })
}

fn outage() -> Duration {
    Duration::from_secs(env_usize("SEAF_FAULT_OUTAGE", 60) as u64)
}

/// Waits (up to `timeout`) for the backup to hold every primary head. Returns how long it took
/// and how many libraries still differ.
fn converge(site: &Site, timeout: Duration) -> (Duration, usize) {
    let started = Instant::now();
    loop {
        let differing = site.differing().len();
        if differing == 0 || started.elapsed() > timeout {
            return (started.elapsed(), differing);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Libraries with files of up to 4 MiB in 256 KiB blocks, so a sync takes long enough to be
/// interrupted.
fn chunky(name: &str) -> LibrarySpec {
    LibrarySpec {
        max_file_size: 4 << 20,
        block_size: 256 << 10,
        ..LibrarySpec::small(name)
    }
}

/// Updates `count` random libraries and writes their rows on the primary.
fn update_some(g: &mut Generated, site: &Site, rng: &mut impl Rng, count: usize) {
    for _ in 0..count {
        let i = rng.gen_range(0..g.libs.len());
        let changes = rng.gen_range(1..5);
        g.gen.update_library(&mut g.libs[i], changes).unwrap();
        site.publish(&g.libs[i]);
    }
}

#[test]
fn backup_killed_at_random_points_never_dangles_and_converges() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 8, chunky, DbKind::MySql) else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let cycles = kill_cycles();
    let (mut dangling, mut mid_sync) = (0, 0);
    let mut failures = Vec::new();
    for cycle in 0..cycles {
        let before = files(&g.data.join("storage"));
        update_some(&mut g, &site, &mut rng, 3);
        let new_objects: Vec<PathBuf> = files(&g.data.join("storage")).difference(&before).cloned().collect();
        let backup_storage = site.backup_data.join("storage");
        let arrived = |objects: &[PathBuf]| objects.iter().filter(|p| backup_storage.join(p).exists()).count();
        // A random point: mostly the moment the first new object lands in the backup (a sync is
        // writing), sometimes before the event arrives or around the head move.
        if rng.gen_bool(0.8) {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && arrived(&new_objects) == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..1200)));
        }
        site.backup.kill();
        // Killed mid-sync: some of this cycle's objects were written, not all of them.
        let written = arrived(&new_objects);
        if written > 0 && written < new_objects.len() {
            mid_sync += 1;
        }
        let (code, out) = site.verify_backup();
        if code != 0 {
            dangling += 1;
            failures.push(format!("cycle {cycle}: {out}"));
        }
        site.backup.restart();
    }
    let (took, lost) = converge(&site, Duration::from_secs(180));
    let (code, out) = site.verify_backup();
    if code != 0 {
        dangling += 1;
        failures.push(format!("after converging: {out}"));
    }
    report(&Row {
        scenario: "kill -9 backup at random points",
        cycles,
        dangling_heads: dangling,
        lost_updates: lost,
        converged_in: took,
        note: format!("{mid_sync} kills between a sync's first and last object"),
    });
    assert!(failures.is_empty(), "verify failed:\n{}", failures.join("\n"));
    assert_eq!(
        lost,
        0,
        "not converged\n{}\n{}",
        site.backup.log_tail(),
        site.status_text()
    );
    assert!(
        mid_sync > 0,
        "no kill landed during a sync: the scenario tested nothing"
    );
}

#[test]
fn primary_killed_mid_publish_loses_no_update() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 30, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let cycles = 10;
    for _ in 0..cycles {
        update_some(&mut g, &site, &mut rng, 10);
        // The primary polls every 200 ms: somewhere in detect, produce, acknowledge, save.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        site.primary.kill();
        site.primary.restart();
    }
    let (took, lost) = converge(&site, Duration::from_secs(120));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "kill -9 primary mid-publish",
        cycles,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: "backup never restarted, so no start-up scan helped".into(),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lost,
        0,
        "updates lost\n{}\n{}",
        site.primary.log_tail(),
        site.backup.log_tail()
    );
}

#[test]
fn broker_down_under_load_loses_no_update() {
    let Some(mut broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 20) else {
        return;
    };
    let Some(mut site) = Site::start(&broker, &g.data, &g.test_db.url, DbKind::MySql, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    broker.stop();
    let down = Instant::now();
    let backup_pid = site.backup.pid().expect("the backup runs");
    let backup_cpu = cpu_ticks(backup_pid);
    let mut updates = 0;
    // Load: an update every 250 ms for the whole outage.
    while down.elapsed() < outage() {
        update_some(&mut g, &site, &mut rng, 1);
        updates += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(site.primary.alive(), "the primary exited\n{}", site.primary.log_tail());
    assert!(site.backup.alive(), "the backup exited\n{}", site.backup.log_tail());
    // Waiting for the broker, not spinning: well under a tenth of a core over the outage.
    let spent = cpu_ticks(backup_pid) - backup_cpu;
    let allowed = outage().as_secs() * 100 / 10;
    assert!(
        spent < allowed,
        "the backup used {spent} clock ticks of CPU in the outage (limit {allowed})"
    );
    broker.restart();
    let (took, lost) = converge(&site, Duration::from_secs(180));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "broker stopped under load",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!("{} s outage, {updates} updates during it", outage().as_secs()),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lost,
        0,
        "updates lost\n{}\n{}\n--- broker ---\n{}",
        site.primary.log_tail(),
        site.backup.log_tail(),
        broker.log_tail()
    );
}

/// SIGTERM with the broker killed first: both roles stop within 30 s (nothing waits on the
/// broker forever), and what the backup had not committed is read again on the next start.
#[test]
fn sigterm_with_the_broker_killed_stops_both_roles_and_loses_nothing() {
    let Some(mut broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 10) else {
        return;
    };
    let Some(mut site) = Site::start(&broker, &g.data, &g.test_db.url, DbKind::MySql, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(31);
    update_some(&mut g, &site, &mut rng, 5);
    broker.kill();
    // Changes the backup has not seen yet, made while the broker is gone.
    update_some(&mut g, &site, &mut rng, 5);
    assert!(
        site.backup.alive() && site.primary.alive(),
        "a role exited before SIGTERM"
    );
    let limit = Duration::from_secs(30);
    let (backup, primary) = (site.backup.terminate(limit), site.primary.terminate(limit));
    let logs = format!("{}\n{}", site.backup.log_tail(), site.primary.log_tail());
    assert!(
        backup.is_some(),
        "the backup did not stop within {limit:?} of SIGTERM\n{logs}"
    );
    assert!(
        primary.is_some(),
        "the primary did not stop within {limit:?} of SIGTERM\n{logs}"
    );
    broker.restart();
    site.primary.restart();
    site.backup.restart();
    let (took, lost) = converge(&site, Duration::from_secs(180));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "SIGTERM with the broker killed",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!(
            "backup stopped in {:.1} s, primary in {:.1} s",
            backup.unwrap_or_default().as_secs_f64(),
            primary.unwrap_or_default().as_secs_f64()
        ),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(lost, 0, "updates lost\n{}", site.backup.log_tail());
}

#[test]
fn primary_api_unreachable_loses_no_update() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 20) else {
        return;
    };
    let opts = SiteOptions {
        proxy: true,
        ..SiteOptions::new(DbKind::MySql)
    };
    let Some(site) = Site::start_with(&broker, &g.data, &g.test_db.url, opts) else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let proxy = site.proxy.as_ref().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    proxy.cut();
    let down = Instant::now();
    let mut updates = 0;
    while down.elapsed() < outage() {
        update_some(&mut g, &site, &mut rng, 1);
        updates += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    let retried = site.backup.metric("seaf_backup_events_total", &["result=\"retried\""]);
    let failed_during = site.backup.metric("seaf_backup_events_total", &["result=\"failed\""]);
    proxy.restore();
    let (took, lost) = converge(&site, Duration::from_secs(120));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "primary object API unreachable",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!(
            "{} s partition, {updates} updates, {retried} retried syncs",
            outage().as_secs()
        ),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lost,
        0,
        "updates lost\n{}\n{}",
        site.backup.log_tail(),
        site.status_text()
    );
    assert!(
        retried >= 1.0,
        "the partition was not noticed\n{}",
        site.backup.metrics()
    );
    assert_eq!(
        failed_during,
        0.0,
        "a partition must not fail libraries\n{}",
        site.status_text()
    );
    // The workers back off (1 s doubling to 10 s) instead of hammering an absent primary.
    assert!(
        retried <= 4.0 * (outage().as_secs_f64() / 1.0).max(10.0),
        "{retried} retries in a {} s partition: the workers do not back off",
        outage().as_secs()
    );
}

/// A tmpfs of `size` mounted at `dir` for as long as this value lives.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return support::missing("mounting a small tmpfs (needs root)");
        }
        Some(SmallDisk { dir: dir.to_path_buf() })
    }

    fn grow(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting {} with size {size}", self.dir.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Every file under `root`, relative to it.
fn files(root: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.insert(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    found
}

/// Bytes of every file under `root`.
fn dir_bytes(root: &Path) -> u64 {
    files(root)
        .iter()
        .map(|f| std::fs::metadata(root.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Temporary files of interrupted writes under `root`.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    files(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".seaf-backup-tmp"))
        .collect()
}

#[test]
fn full_backup_disk_fails_the_library_cleanly_and_resumes() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 4) else {
        return;
    };
    let mnt = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(mnt.path(), "3m") else {
        return;
    };
    let opts = SiteOptions {
        backup_data: Some(mnt.path().join("seafile-data")),
        ..SiteOptions::new(DbKind::MySql)
    };
    let Some(mut site) = Site::start_with(&broker, &g.data, &g.test_db.url, opts) else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));

    // A library bigger than the disk: 8 files of up to 4 MiB.
    let spec = LibrarySpec {
        max_file_size: 4 << 20,
        commits: 8,
        changes_per_commit: 1,
        ..LibrarySpec::small("too big")
    };
    let mut big = g.gen.create_library(spec).unwrap();
    while dir_bytes(&g.data.join("storage/blocks").join(big.repo_id.as_str())) < 8 << 20 {
        g.gen.update_library(&mut big, 2).unwrap();
    }
    let db = site.rt.block_on(g.test_db.connect());
    site.rt.block_on(write_database(&db, &[&big])).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the big library to fail on the full disk",
        || {
            site.rt
                .block_on(site.queue().state(&big.repo_id))
                .unwrap()
                .is_some_and(|s| s.state == SyncState::Failed)
        },
        || format!("{}\n{}", site.backup.log_tail(), site.status_text()),
    );
    let state = site.rt.block_on(site.queue().state(&big.repo_id)).unwrap().unwrap();
    let error = state.error.clone().unwrap_or_default();
    assert!(
        error.contains("the disk is full") && error.contains("free space"),
        "the error must say what happened and what to do: {error}"
    );
    assert!(site.backup.alive(), "{}", site.backup.log_tail());
    let (code, out) = site.verify_backup();
    assert_eq!(
        code, 0,
        "nothing in the backup may be corrupt after a full disk:\n{out}"
    );
    assert_eq!(
        temp_files(&site.backup_data),
        Vec::<PathBuf>::new(),
        "partial files left"
    );
    assert!(
        !site.backup_heads().contains_key(&big.repo_id),
        "the head of a library whose objects did not fit must not be recorded"
    );

    // Space returns; the library's next update resumes it, without an operator.
    disk.grow("256m");
    let resumed = Instant::now();
    g.gen.update_library(&mut big, 1).unwrap();
    site.publish(&big);
    let (took, lost) = converge(&site, Duration::from_secs(120));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "backup disk full (3 MiB tmpfs)",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!(
            "library failed with \"the disk is full\", resumed {:.1} s after space returned",
            resumed.elapsed().as_secs_f64()
        ),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(lost, 0, "{}\n{}", site.backup.log_tail(), site.status_text());
}

/// A GET with a bearer token; the status code.
fn api_status(addr: &str, path: &str, token: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect to the object API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn bad_input_is_counted_logged_and_harmless() {
    let Some((broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 5, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);

    // Garbage on the topic.
    let producer: FutureProducer = {
        let _guard = site.rt.enter();
        seaf_kafka::rdkafka::ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("message.max.bytes", (12 << 20).to_string())
            .create()
            .unwrap()
    };
    let codec = Codec::single_object();
    let valid = codec
        .encode(&RepoUpdate::update(
            g.libs[0].repo_id,
            g.libs[0].head,
            None,
            "fault-suite",
            DetectionSource::Poll,
        ))
        .unwrap();
    let mut random = vec![0u8; 4096];
    rng.fill_bytes(&mut random);
    let truncated = valid[..valid.len() / 2].to_vec();
    let mut wrong_fingerprint = valid.clone();
    wrong_fingerprint[2..10].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_le_bytes());
    // A 10 MiB message: the topic is made to accept it (as an operator's topic with a larger
    // max.message.bytes would), and the backup must skip it without stalling the partition.
    allow_large_messages(&site, &broker.bootstrap(), 12 << 20);
    let mut huge = vec![0u8; 10 << 20];
    rng.fill_bytes(&mut huge);
    let garbage: [(&str, &[u8]); 4] = [
        ("random bytes", &random),
        ("truncated Avro", &truncated),
        ("wrong schema fingerprint", &wrong_fingerprint),
        ("10 MiB message", &huge),
    ];
    let on_topic = garbage.len();
    for (what, payload) in garbage {
        let key = g.libs[0].repo_id.to_string();
        // The raised max.message.bytes reaches the partition's log shortly after the alter
        // call returns (through the metadata log): until then the broker says too large.
        let started = Instant::now();
        loop {
            let record = FutureRecord::to(&site.dep.topic).key(&key).payload(payload);
            match site.rt.block_on(producer.send(record, Duration::from_secs(60))) {
                Ok(_) => break,
                Err((e, _))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge)
                        && started.elapsed() < Duration::from_secs(60) =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err((e, _)) => panic!("the broker refused the {what}: {e}\n{}", broker.log_tail()),
            }
        }
    }
    wait_until(
        Duration::from_secs(60),
        &format!("{on_topic} undecodable messages to be counted"),
        || {
            site.backup
                .metric("seaf_backup_events_total", &["result=\"undecodable\""])
                >= on_topic as f64
        },
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
    let undecodable_lines = site.backup.log_lines("undecodable").lines().count();

    // A wrong token and path traversal at the object API.
    let api = &site.dep.api;
    let repo = g.libs[0].repo_id;
    assert_eq!(
        api_status(api, &format!("/api/v1/repos/{repo}"), "not-the-token-at-all"),
        401
    );
    assert_eq!(api_status(api, &format!("/api/v1/repos/{repo}"), TOKEN), 200);
    for path in [
        "/api/v1/repos/../../../../etc/passwd".to_string(),
        format!("/api/v1/repos/{repo}/blocks/..%2f..%2f..%2fetc%2fpasswd"),
        format!("/api/v1/repos/{repo}/commits/../../seafile.conf"),
    ] {
        let status = api_status(api, &path, TOKEN);
        assert!(status == 400 || status == 404, "{path} answered {status}");
    }
    let rejected = site
        .primary
        .metric("seaf_primary_api_requests_total", &["status=\"401\""])
        + site
            .primary
            .metric("seaf_primary_api_requests_total", &["status=\"400\""]);
    assert!(rejected >= 3.0, "rejections counted\n{}", site.primary.metrics());

    // The primary serves wrong bytes for an id: one new block of an update is damaged on its disk.
    let before = files(&g.data.join("storage/blocks"));
    let victim = 1;
    loop {
        g.gen.update_library(&mut g.libs[victim], 2).unwrap();
        if files(&g.data.join("storage/blocks")).len() > before.len() {
            break;
        }
    }
    let new_block = files(&g.data.join("storage/blocks"))
        .difference(&before)
        .next()
        .cloned()
        .unwrap();
    let block_path = g.data.join("storage/blocks").join(&new_block);
    let mut bytes = std::fs::read(&block_path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&block_path, &bytes).unwrap();
    site.publish(&g.libs[victim]);
    wait_until(
        Duration::from_secs(60),
        "the library with the damaged block to fail",
        || {
            site.rt
                .block_on(site.queue().state(&g.libs[victim].repo_id))
                .unwrap()
                .is_some_and(|s| s.state == SyncState::Failed)
        },
        || format!("{}\n{}", site.backup.log_tail(), site.status_text()),
    );
    let block_id = ObjectId::parse(&new_block.to_string_lossy().replace('/', "")[36..]).unwrap();
    assert!(
        !ObjectStore::new(&site.backup_data)
            .exists(ObjectKind::Block, &g.libs[victim].repo_id, &block_id)
            .unwrap(),
        "the damaged block was written to the backup"
    );

    // Good updates still flow through after all that.
    for i in [0, 2, 3, 4] {
        g.gen.update_library(&mut g.libs[i], 1).unwrap();
        site.publish(&g.libs[i]);
    }
    let started = Instant::now();
    let mut others_converged = false;
    while started.elapsed() < Duration::from_secs(60) {
        let differing = site.differing();
        if differing == vec![g.libs[victim].repo_id] {
            others_converged = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "bad input (topic garbage, token, traversal, wrong bytes)",
        cycles: 7,
        dangling_heads: usize::from(code != 0),
        lost_updates: if others_converged {
            0
        } else {
            site.differing().len() - 1
        },
        converged_in: took,
        note: format!(
            "{on_topic} undecodable counted ({undecodable_lines} log lines, one 10 MiB), {rejected} API rejections, damaged block refused"
        ),
    });
    assert!(site.backup.alive() && site.primary.alive(), "a process crashed");
    assert_eq!(code, 0, "{out}");
    assert!(others_converged, "{}\n{}", site.backup.log_tail(), site.status_text());
    // Counted every one, logged rate-limited: the first line, the rest in a later one's
    // `unlogged` count (a writer of foreign messages can produce thousands).
    assert!(
        (1..=2).contains(&undecodable_lines),
        "bad messages are logged rate-limited:\n{}",
        site.backup.log_lines("undecodable")
    );
    let failed = site.backup.metric("seaf_backup_events_total", &["result=\"failed\""]);
    assert!(failed >= 1.0, "the damaged block counted\n{}", site.backup.metrics());
}

/// Raises the topic's `max.message.bytes` (and so what a fetch may return) to `bytes`.
fn allow_large_messages(site: &Site, bootstrap: &str, bytes: usize) {
    let _guard = site.rt.enter();
    let admin: AdminClient<DefaultClientContext> = seaf_kafka::rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let value = bytes.to_string();
    let config = AlterConfig::new(ResourceSpecifier::Topic(&site.dep.topic)).set("max.message.bytes", &value);
    let results = site
        .rt
        .block_on(admin.alter_configs([&config], &AdminOptions::new()))
        .expect("alter the topic's max.message.bytes");
    for r in results {
        r.unwrap_or_else(|(res, e)| panic!("altering {res:?} failed: {e}"));
    }
}

/// The broker id leading partition `partition` of `topic`, from the cluster's metadata. The
/// backup can converge from its start-up scan alone, before the primary has created the topic,
/// so this waits for the partition to have a leader.
fn partition_leader(bootstrap: &str, topic: &str, partition: i32) -> i32 {
    let consumer: BaseConsumer = seaf_kafka::rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let leader = || {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).ok()?;
        let p = metadata
            .topics()
            .first()?
            .partitions()
            .iter()
            .find(|p| p.id() == partition)?;
        (p.leader() >= 0).then_some(p.leader())
    };
    let mut found = None;
    wait_until(
        Duration::from_secs(60),
        &format!("partition {partition} of {topic} to have a leader"),
        || {
            found = leader();
            found.is_some()
        },
        String::new,
    );
    found.expect("waited for")
}

/// Keeps updating libraries, one every 250 ms, for `how_long`; returns how many updates.
fn load_for(g: &mut Generated, site: &mut Site, rng: &mut impl Rng, how_long: Duration) -> usize {
    let started = Instant::now();
    let mut updates = 0;
    while started.elapsed() < how_long {
        update_some(g, site, rng, 1);
        updates += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(site.primary.alive(), "the primary exited\n{}", site.primary.log_tail());
    assert!(site.backup.alive(), "the backup exited\n{}", site.backup.log_tail());
    updates
}

/// A three-broker cluster, topic at replication factor 3 and min.insync.replicas 2: the leader
/// of a busy partition is killed under load (publication goes on through the new leader), then
/// a second broker (too few in-sync replicas: publication pauses), then both come back.
#[test]
fn cluster_leader_kill_and_two_brokers_down_lose_nothing() {
    let Some(cluster) = Cluster::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 20) else {
        return;
    };
    let Some(mut site) = Site::start(&cluster, &g.data, &g.test_db.url, DbKind::MySql, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(180));
    let mut rng = rand::rngs::StdRng::seed_from_u64(31);
    let phase = outage() / 3;

    // The leader of partition 0 dies under load.
    let leader = partition_leader(&cluster.bootstrap(), &site.dep.topic, 0);
    cluster.kill(leader as u32);
    let killed = Instant::now();
    let mut updates = load_for(&mut g, &mut site, &mut rng, phase);
    let (took, lost) = converge(&site, Duration::from_secs(180));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "Kafka cluster: leader of a busy partition killed under load",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!(
            "3 brokers, RF 3, min.insync.replicas 2; broker {leader} kill -9, {updates} updates in {} s on the other two",
            killed.elapsed().as_secs()
        ),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lost,
        0,
        "updates lost with one broker down\n{}\n{}\n{}",
        site.primary.log_tail(),
        site.backup.log_tail(),
        cluster.log_tail()
    );

    // A second broker dies: one replica left, below min.insync.replicas, so acks=all cannot be
    // met and publication must pause without losing anything.
    let second = cluster.ids().into_iter().find(|&id| id != leader as u32).unwrap();
    cluster.kill(second);
    updates = load_for(&mut g, &mut site, &mut rng, phase);
    cluster.restart(leader as u32);
    cluster.restart(second);
    let (took, lost) = converge(&site, Duration::from_secs(300));
    let (code, out) = site.verify_backup();
    report(&Row {
        scenario: "Kafka cluster: two of three brokers down, then back",
        cycles: 1,
        dangling_heads: usize::from(code != 0),
        lost_updates: lost,
        converged_in: took,
        note: format!(
            "brokers {leader} and {second} kill -9, {updates} updates in {} s below min.insync.replicas; converge timed from both restarted",
            phase.as_secs()
        ),
    });
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lost,
        0,
        "updates lost with two brokers down\n{}\n{}\n{}",
        site.primary.log_tail(),
        site.backup.log_tail(),
        cluster.log_tail()
    );
}
