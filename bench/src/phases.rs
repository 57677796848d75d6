//! The measurements. One generated primary (Seafile data directory + database) with a running
//! primary and backup process serves the copy, incremental, latency and replay phases; the
//! link and bigfiles phases build their own primaries (`link.rs`, `bigfiles.rs`), the full-scan
//! phase its own 100k-library databases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use seaf_backup::backup::queue::{Queue, SyncState};
use seaf_kafka::rdkafka::config::ClientConfig;
use seaf_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use seaf_kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use seaf_kafka::rdkafka::message::Message;
use seaf_kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use seaf_kafka::{Codec, DetectionSource, RepoUpdate};
use seaf_seafile::{DbKind, ObjectId, RepoId};
use seaf_testgen::{GeneratedLibrary, Generator, LibrarySpec};
use support::agent::{Agent, Binary};
use support::broker::Broker;
use support::e2e::Deployment;

use crate::site::{initial_copy, with_properties, BackupSide, Env, Primary, KAFKA_PROPERTIES};
use crate::util::{self, mib, ms, percentile, secs, timed, wait_for};
use crate::{Args, Db, Phase, Row, Scale};

/// The update rate for the binary log figures.
pub const BINLOG_RATE: f64 = 10.0;

/// Runs `phases` and returns their rows in the order of [`Phase::ALL`], with the work directory,
/// which the caller removes after printing them (at `--full` that takes many minutes).
///
/// The phases that build their own data run first (`link`, `bigfiles`, which removes its
/// gigabytes when done), then the four on the shared primary, then `scan`: the disk never holds
/// the big files and the shared primary's three copies at once.
pub fn run_all(
    args: &Args,
    scale: &Scale,
    bin: &std::path::Path,
    phases: &[Phase],
) -> anyhow::Result<(Vec<Row>, tempfile::TempDir)> {
    let properties = args
        .kafka_properties
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--kafka-property takes KEY=VALUE, not {p:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let _ = KAFKA_PROPERTIES.set(properties);
    let broker = Broker::start().context("Apache Kafka is not installed (scripts/broker.sh install)")?;
    let kind = match args.db {
        Db::Mysql => DbKind::MySql,
        Db::Sqlite => DbKind::Sqlite,
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix("seaf-bench-");
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            builder.tempdir_in(d)?
        }
        None => builder.tempdir()?,
    };
    let env = Env {
        rt: tokio::runtime::Runtime::new()?,
        brokers: broker.bootstrap(),
        kind,
        bin: bin.to_path_buf(),
        work: work.path().to_path_buf(),
    };
    let mut rows: BTreeMap<Phase, Vec<Row>> = BTreeMap::new();
    let timed_phase = |name: &str, started: Instant| eprintln!("=== phase {name}: {}", secs(started.elapsed()));
    if phases.contains(&Phase::Link) {
        let started = Instant::now();
        rows.insert(Phase::Link, crate::link::run(&env, scale)?);
        timed_phase("link", started);
    }
    if phases.contains(&Phase::Bigfiles) {
        let started = Instant::now();
        rows.insert(Phase::Bigfiles, crate::bigfiles::run(&env, scale)?);
        timed_phase("bigfiles", started);
    }
    let on_site = [Phase::Copy, Phase::Incremental, Phase::Latency, Phase::Replay];
    if phases.iter().any(|p| on_site.contains(p)) {
        let started = Instant::now();
        let mut site = Site::generate(&env, scale)?;
        timed_phase("site generation", started);
        let started = Instant::now();
        if phases.contains(&Phase::Copy) {
            rows.insert(Phase::Copy, site.copy()?);
            timed_phase("copy", started);
        } else {
            eprintln!("bringing the backup in step…");
            site.backup.start();
            site.backup
                .wait_converged(&env, &site.primary, Duration::from_secs(3600))?;
            timed_phase("initial copy (untimed)", started);
        }
        if phases.contains(&Phase::Incremental) {
            let started = Instant::now();
            rows.insert(Phase::Incremental, site.incremental(scale)?);
            timed_phase("incremental", started);
        }
        if phases.contains(&Phase::Latency) {
            let started = Instant::now();
            rows.insert(Phase::Latency, site.latency(scale)?);
            timed_phase("latency", started);
        }
        if phases.contains(&Phase::Replay) {
            let started = Instant::now();
            rows.insert(Phase::Replay, site.replay(scale)?);
            timed_phase("replay", started);
        }
    }
    if phases.contains(&Phase::Scan) {
        let started = Instant::now();
        rows.insert(Phase::Scan, scan(&env, scale)?);
        timed_phase("scan", started);
    }
    if phases.contains(&Phase::Dbcost) {
        let started = Instant::now();
        rows.insert(Phase::Dbcost, crate::dbcost::run(&env, scale)?);
        timed_phase("dbcost", started);
    }
    if phases.contains(&Phase::Marker) {
        let started = Instant::now();
        rows.insert(Phase::Marker, crate::marker::run(&env, scale)?);
        timed_phase("marker", started);
    }
    Ok((rows.into_values().flatten().collect(), work))
}

/// A generated primary with its processes, and a backup of it.
struct Site<'a> {
    env: &'a Env,
    dir: PathBuf,
    gen: Generator,
    libs: Vec<GeneratedLibrary>,
    primary: Primary,
    backup: BackupSide,
    /// The `cp -a` copy of the primary's `storage/`, which the incremental cycle's rsync
    /// brings up to date.
    cp_copy: Option<PathBuf>,
}

impl<'a> Site<'a> {
    fn generate(env: &'a Env, scale: &Scale) -> anyhow::Result<Site<'a>> {
        let dir = env.work.join("site");
        let primary_data = dir.join("primary/seafile-data");
        std::fs::create_dir_all(&primary_data)?;
        let started = Instant::now();
        eprintln!("generating {} libraries…", scale.libraries);
        let mut gen = Generator::new(&primary_data, 42);
        let mut libs = Vec::with_capacity(scale.libraries);
        for i in 0..scale.libraries {
            let spec = LibrarySpec {
                commits: scale.commits,
                changes_per_commit: 4,
                max_file_size: 16 << 10,
                ..LibrarySpec::small(&format!("bench {i}"))
            };
            libs.push(gen.create_library(spec)?);
            if (i + 1) % 1000 == 0 {
                eprintln!("  {} libraries in {}", i + 1, secs(started.elapsed()));
            }
        }
        let records: Vec<_> = libs.iter().map(|l| &l.record).collect();
        let primary = Primary::start(env, &dir, &primary_data, &records)?;
        let storage = util::files(&primary_data.join("storage"));
        eprintln!(
            "generated {} libraries, {} objects, {} in {}",
            libs.len(),
            storage.len(),
            mib(storage.values().sum::<u64>() as f64),
            secs(started.elapsed())
        );
        let backup = BackupSide::new(env, &primary, &dir.join("backup"), None)?;
        Ok(Site {
            env,
            dir,
            gen,
            libs,
            primary,
            backup,
            cp_copy: None,
        })
    }

    fn backup(&self) -> &Agent {
        self.backup.agent()
    }

    fn wait_converged(&self, timeout: Duration) -> anyhow::Result<()> {
        self.backup.wait_converged(self.env, &self.primary, timeout)
    }

    /// Initial copy vs `cp -a` + `sync`, and the backup's memory meanwhile.
    fn copy(&mut self) -> anyhow::Result<Vec<Row>> {
        let cp = self.dir.join("cp/seafile-data");
        let what = format!("{} libraries", self.libs.len());
        let rows = initial_copy(self.env, &self.primary, &mut self.backup, &cp, &what)?;
        self.cp_copy = Some(cp);
        Ok(rows)
    }

    /// One incremental cycle (1% of libraries) vs `rsync -a --ignore-existing`, and the bytes
    /// pulled for it.
    fn incremental(&mut self, scale: &Scale) -> anyhow::Result<Vec<Row>> {
        let storage = self.primary.data.join("storage");
        let copy = match &self.cp_copy {
            Some(c) => c.clone(),
            None => {
                // rsync's destination: the state before the cycle, as the copy phase leaves it.
                let c = self.dir.join("cp/seafile-data");
                std::fs::create_dir_all(&c)?;
                timed("cp", &["-a", storage.to_str().unwrap(), c.to_str().unwrap()])?;
                timed("sync", &[])?;
                self.cp_copy = Some(c.clone());
                c
            }
        };
        let before = util::files(&storage);

        // 1% of the libraries get a commit with 4 changes.
        let step = (self.libs.len() / scale.changed.max(1)).max(1);
        let changed: Vec<usize> = (0..self.libs.len()).step_by(step).take(scale.changed).collect();
        eprintln!(
            "incremental cycle: {} of {} libraries change…",
            changed.len(),
            self.libs.len()
        );
        for &i in &changed {
            self.gen.update_library(&mut self.libs[i], 4)?;
        }
        let after = util::files(&storage);
        let new_bytes: u64 = after
            .iter()
            .filter(|(p, _)| !before.contains_key(*p))
            .map(|(_, s)| s)
            .sum();
        let fetched_before = self.backup().metric("seaf_backup_bytes_fetched_total", &[]);
        let started = Instant::now();
        for &i in &changed {
            self.env.rt.block_on(self.primary.db.write_repo(&self.libs[i].record))?;
        }
        self.wait_converged(Duration::from_secs(600))?;
        let seaf = started.elapsed();
        let fetched = self.backup().metric("seaf_backup_bytes_fetched_total", &[]) - fetched_before;
        let storage_slash = format!("{}/", storage.display());
        let copy_slash = format!("{}/", copy.join("storage").display());
        let rsync = timed("rsync", &["-a", "--ignore-existing", &storage_slash, &copy_slash])?;
        eprintln!(
            "incremental: seaf-backup {}, rsync {}; fetched {fetched} bytes for {new_bytes} new",
            secs(seaf),
            secs(rsync)
        );
        let ratio = rsync.as_secs_f64() / seaf.as_secs_f64();
        let mut rows = vec![Row {
            figure: format!(
                "Incremental cycle: {} of {} libraries changed ({} new objects; {} objects in all)",
                changed.len(),
                self.libs.len(),
                after.len() - before.len(),
                after.len()
            ),
            measured: format!(
                "{} (update → every head consistent, {})",
                ms(seaf),
                crate::site::detection(&self.primary.test_db.url)
            ),
            baseline: format!("`rsync -a --ignore-existing`: {}", ms(rsync)),
            ratio: format!("{ratio:.1}×"),
            target: "≥ 100× faster than rsync".into(),
            met: Some(ratio >= 100.0),
        }];
        let ratio = fetched / new_bytes as f64;
        rows.push(Row {
            figure: "Bytes pulled / bytes of new objects (same cycle)".into(),
            measured: format!("{fetched:.0} B pulled"),
            baseline: format!("{new_bytes} B of new objects on the primary"),
            ratio: format!("{ratio:.3}"),
            target: "≤ 1.02".into(),
            met: Some(ratio <= 1.02),
        });
        Ok(rows)
    }

    /// Steady updates; time from each update's commit (its Branch row written) to the backup
    /// database holding the new head. With the poll at 200 ms and at 1 s (default) at the
    /// scale's rate; then, on MariaDB, the binary log beside the 1 s poll at 10 updates/s.
    fn latency(&mut self, scale: &Scale) -> anyhow::Result<Vec<Row>> {
        let mut rows = Vec::new();
        let mut runs = vec![
            ("200ms", false, scale.rate, "p50 ≤ 300 ms, p99 ≤ 1 s"),
            ("1s", false, scale.rate, "p50 ≤ 300 ms, p99 ≤ 1 s"),
        ];
        if self.env.kind == DbKind::MySql {
            runs.push(("1s", false, BINLOG_RATE, "— (the poll beside the binary log)"));
            runs.push(("1s", true, BINLOG_RATE, "p50 ≤ 150 ms, p99 ≤ 500 ms"));
        }
        for (poll, binlog, rate, target) in runs {
            let config = if binlog {
                self.primary.binlog_config(poll)
            } else {
                self.primary.config(poll)
            };
            let path = if binlog {
                "binary log".to_string()
            } else {
                format!("poll {poll}")
            };
            self.primary.agent.restart_with(&config);
            std::thread::sleep(Duration::from_secs(2));
            let mean = |p: &Agent, name: &str| {
                (
                    p.metric(&format!("{name}_sum"), &[]),
                    p.metric(&format!("{name}_count"), &[]),
                )
            };
            let publish0 = mean(&self.primary.agent, "seaf_primary_publish_seconds");
            let sync0 = mean(self.backup(), "seaf_backup_repo_sync_seconds");
            let mut samples = self.latency_run(scale, rate)?;
            let publish1 = mean(&self.primary.agent, "seaf_primary_publish_seconds");
            let sync1 = mean(self.backup(), "seaf_backup_repo_sync_seconds");
            let avg = |a: (f64, f64), b: (f64, f64)| 1000.0 * (b.0 - a.0) / (b.1 - a.1).max(1.0);
            eprintln!(
                "latency, {path} at {rate}/s: mean publish (detection → broker ack) {:.0} ms, mean worker sync {:.0} ms",
                avg(publish0, publish1),
                avg(sync0, sync1)
            );
            samples.sort();
            let (p50, p99) = (percentile(&samples, 50.0), percentile(&samples, 99.0));
            eprintln!(
                "latency, {path} at {rate}/s: {} samples, p50 {}, p99 {}, max {}",
                samples.len(),
                ms(p50),
                ms(p99),
                ms(*samples.last().unwrap_or(&Duration::ZERO))
            );
            let how = if binlog {
                "`change_capture = \"binlog\"`".to_string()
            } else {
                format!("`poll_interval = \"{poll}\"`")
            };
            let met = match (binlog, rate == BINLOG_RATE) {
                (true, _) => Some(p50 <= Duration::from_millis(150) && p99 <= Duration::from_millis(500)),
                (false, true) => None,
                (false, false) => Some(p50 <= Duration::from_millis(300) && p99 <= Duration::from_secs(1)),
            };
            rows.push(Row {
                figure: format!(
                    "Update → backup consistent, {how} ({} updates at {rate}/s)",
                    samples.len()
                ),
                measured: format!("p50 {}, p99 {}", ms(p50), ms(p99)),
                baseline: "—".into(),
                ratio: "—".into(),
                target: target.into(),
                met,
            });
        }
        Ok(rows)
    }

    fn latency_run(&mut self, scale: &Scale, rate: f64) -> anyhow::Result<Vec<Duration>> {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let end = Instant::now() + Duration::from_secs(scale.latency_secs);
        let mut next = Instant::now();
        let mut outstanding: Vec<(usize, ObjectId, Instant)> = Vec::new();
        let mut samples = Vec::new();
        let mut cursor = 0usize;
        let give_up = end + Duration::from_secs(60);
        while Instant::now() < end || !outstanding.is_empty() {
            if Instant::now() > give_up {
                bail!("{} updates never reached the backup", outstanding.len());
            }
            let now = Instant::now();
            if now >= next && now < end {
                let i = cursor % self.libs.len();
                cursor += 1;
                if !outstanding.iter().any(|(j, _, _)| *j == i) {
                    let head = self.gen.update_library(&mut self.libs[i], 2)?;
                    self.env.rt.block_on(self.primary.db.write_repo(&self.libs[i].record))?;
                    outstanding.push((i, head, Instant::now()));
                }
                next += interval;
            }
            let mut k = 0;
            while k < outstanding.len() {
                let (i, head, at) = outstanding[k];
                if self.env.rt.block_on(self.backup.db.head(&self.libs[i].repo_id))? == Some(head) {
                    samples.push(at.elapsed());
                    outstanding.swap_remove(k);
                } else {
                    k += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(samples)
    }

    /// No-op events (the backup's own heads) through the backup, and through a raw consumer.
    fn replay(&mut self, scale: &Scale) -> anyhow::Result<Vec<Row>> {
        let heads: Vec<(RepoId, ObjectId)> = self.env.heads(&self.backup.db).into_iter().collect();
        anyhow::ensure!(heads == self.env.heads(&self.primary.db).into_iter().collect::<Vec<_>>());
        self.backup.agent_mut().stop();

        let produced = Instant::now();
        produce(&self.primary.dep.brokers, &self.primary.dep.topic, &heads, scale.events)?;
        eprintln!("produced {} no-op events in {}", scale.events, secs(produced.elapsed()));

        let (raw_count, raw_took) = raw_consume(&self.primary.dep.brokers, &self.primary.dep.topic)?;
        let raw_rate = raw_count as f64 / raw_took.as_secs_f64();
        eprintln!("raw consumer: {raw_count} events in {}", secs(raw_took));

        // The backup resumes at its committed offsets: exactly the events just produced (and a
        // few heartbeats).
        let started = Instant::now();
        self.backup.agent_mut().spawn();
        // Timed like the raw consumer: from the moment it starts consuming (here: /healthz
        // answers, the consumer starts right after) to the last event read, group join included.
        let backup = self.backup();
        let consuming = Instant::now();
        let want = scale.events as f64;
        let read = wait_for(Duration::from_secs(3600), Duration::from_millis(10), || {
            backup.metric("seaf_backup_events_total", &["result=\"queued\""]) >= want
        });
        anyhow::ensure!(read, "the backup did not read the events\n{}", backup.log_tail());
        let done = Instant::now();
        let took = done - consuming;
        let rate = want / took.as_secs_f64();
        // Then every library it marked is compared with the primary (one metadata request each).
        let settled = wait_for(Duration::from_secs(600), Duration::from_millis(50), || {
            self.env
                .rt
                .block_on(Queue::new(self.backup.db.clone()).states())
                .map(|s| s.iter().all(|s| s.state == SyncState::Synced))
                .unwrap_or(false)
        });
        eprintln!(
            "backup consumer: {} events in {} ({} from process start); all handled {} after start{}",
            scale.events,
            secs(took),
            secs(done - started),
            secs(started.elapsed()),
            if settled { "" } else { " (NOT settled)" }
        );
        let applied = backup.metric("seaf_backup_objects_fetched_total", &[]).max(0.0);
        Ok(vec![Row {
            figure: format!("Replay of {} no-op events ({} libraries)", scale.events, heads.len()),
            measured: format!("{:.0} events/s ({}; {:.0} objects fetched)", rate, secs(took), applied),
            baseline: format!("raw rdkafka consumer + Avro decode: {raw_rate:.0} events/s"),
            ratio: format!("{:.2}×", rate / raw_rate),
            target: "≥ 0.8× the raw consumer".into(),
            met: Some(rate >= 0.8 * raw_rate),
        }])
    }
}

/// Produces `n` UPDATE events cycling over `heads`, in large compressed batches.
fn produce(brokers: &str, topic: &str, heads: &[(RepoId, ObjectId)], n: usize) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "100")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "600000")
        .set("log_level", "3")
        .create()?;
    let codec = Codec::single_object();
    for i in 0..n {
        let (repo, head) = heads[i % heads.len()];
        let event = RepoUpdate::update(repo, head, Some(head), "bench", DetectionSource::Poll);
        let payload = codec.encode(&event)?;
        let key = event.key();
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(&payload)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => bail!("producing: {e}"),
            }
        }
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(1800))?;
    Ok(())
}

/// Reads the whole topic in a group of its own, decoding every event; returns the count and
/// the time from subscribing (group join included) to the last message.
fn raw_consume(brokers: &str, topic: &str) -> anyhow::Result<(u64, Duration)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-raw-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()?;
    let timeout = Duration::from_secs(30);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut total = 0i64;
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
            total += high - low;
        }
    }
    let subscribed = Instant::now();
    consumer.subscribe(&[topic])?;
    let codec = Codec::single_object();
    let (mut count, mut errors) = (0u64, 0u64);
    let mut last = Instant::now();
    let mut idle_since = Instant::now();
    while (count as i64) < total {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                last = Instant::now();
                idle_since = last;
                if codec.decode(m.payload().unwrap_or_default()).is_err() {
                    errors += 1;
                }
                count += 1;
            }
            Some(Err(e)) => eprintln!("raw consumer: {e}"),
            None if idle_since.elapsed() > Duration::from_secs(20) => break,
            None => {}
        }
    }
    anyhow::ensure!(errors == 0, "{errors} events did not decode");
    Ok((count, last - subscribed))
}

/// Full scan and peak memory at `scale.scan_libraries` libraries, all in sync: Branch rows on
/// both sides (the scan reads nothing else but the backup's state rows), bulk-inserted.
fn scan(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    let (rt, kind, bin) = (&env.rt, env.kind, &env.bin);
    let dir = env.work.join("scan");
    let data = dir.join("primary/seafile-data");
    std::fs::create_dir_all(data.join("storage"))?;
    std::fs::create_dir_all(dir.join("state"))?;
    let primary_test_db = env.test_db()?;
    let backup_test_db = env.test_db()?;
    let n = scale.scan_libraries;
    let heads: Vec<(String, String)> = (0..n)
        .map(|_| (uuid::Uuid::new_v4().to_string(), util::random_hex40()))
        .collect();
    let started = Instant::now();
    eprintln!("full scan: inserting {n} libraries on both sides…");
    rt.block_on(async {
        for (db, backup) in [(&primary_test_db, false), (&backup_test_db, true)] {
            let seaf = db.connect().await;
            seaf.create_core_tables().await?;
            if backup {
                Queue::new(seaf.clone()).create_table().await?;
            }
            seaf.close().await;
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await?;
            for chunk in heads.chunks(500) {
                let values: Vec<String> = chunk
                    .iter()
                    .map(|(r, h)| format!("('master', '{r}', '{h}')"))
                    .collect();
                let sql = format!("INSERT INTO Branch (name, repo_id, commit_id) VALUES {}", values.join(", "));
                sqlx::query(&sql).execute(&pool).await?;
                if backup {
                    let now = 1_700_000_000_000i64;
                    let values: Vec<String> = chunk
                        .iter()
                        .map(|(r, h)| format!("('{r}', 'synced', '{h}', {now}, {now}, {now})"))
                        .collect();
                    let sql = format!(
                        "INSERT INTO SeafBackupRepoState (repo_id, state, head, wanted_at, sync_started, updated_at) VALUES {}",
                        values.join(", ")
                    );
                    sqlx::query(&sql).execute(&pool).await?;
                }
            }
            pool.close().await;
        }
        anyhow::Ok(())
    })?;
    eprintln!("inserted {n} libraries on both sides in {}", secs(started.elapsed()));

    let dep = Deployment::new(&env.brokers);
    // The primary already published these heads (its state file says so): it starts quiet,
    // as a long-running primary would, instead of publishing a 100k-event snapshot.
    let published: serde_json::Map<String, serde_json::Value> =
        heads.iter().map(|(r, h)| (r.clone(), h.clone().into())).collect();
    let state = serde_json::json!({"version": 1, "topic": dep.topic, "published": published});
    std::fs::write(dir.join("state/primary-published.json"), state.to_string())?;
    let primary = Agent::start_binary(
        &Binary::at(bin),
        "primary",
        &dir,
        &with_properties(dep.primary_config(&data, &primary_test_db.url, &dir.join("state"))),
        &dep.primary_metrics,
    );
    let backup_data = dir.join("backup/seafile-data");
    let backup = Agent::start_binary(
        &Binary::at(bin),
        "backup",
        &dir,
        &with_properties(
            dep.backup_config(&backup_data, &backup_test_db.url, &dep.backup_metrics, "1h")
                .replace("workers = 4", &crate::site::backup_keys()),
        ),
        &dep.backup_metrics,
    );
    // The backup scans once at start.
    let scanned = wait_for(Duration::from_secs(600), Duration::from_millis(20), || {
        backup.metric("seaf_backup_full_scan_seconds", &[]) > 0.0
    });
    anyhow::ensure!(scanned, "no full scan\n{}\n{}", backup.log_tail(), primary.log_tail());
    let scan_secs = backup.metric("seaf_backup_full_scan_seconds", &[]);
    std::thread::sleep(Duration::from_secs(3));
    let rss = backup.peak_rss().unwrap_or(0) as f64;
    let waiting = backup.metric("seaf_backup_repos", &["state=\"waiting\""]);
    let cli = timed(
        bin.to_str().unwrap(),
        &["scan", "-c", backup.config_path().to_str().unwrap()],
    )?;
    // Steady state: `Backup::full_scan` itself, in this process, three times (median), with
    // both processes idle.
    let config = seaf_backup::config::Config::load(backup.config_path())?;
    let mut runs: Vec<Duration> = rt.block_on(async {
        let client = seaf_backup::backup::Backup::open(&config).await?;
        let mut runs = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let marked = client.full_scan().await?;
            runs.push(started.elapsed());
            anyhow::ensure!(marked == 0, "the scan found {marked} differences");
        }
        anyhow::Ok(runs)
    })?;
    runs.sort();
    let steady = runs[1];
    eprintln!(
        "full scan of {n}: Backup::full_scan {runs:?}; {scan_secs:.3} s at the backup process's start; `scan` command {} (whole process); peak RSS {}; waiting {waiting}",
        secs(cli),
        mib(rss)
    );
    Ok(vec![
        Row {
            figure: format!("Full scan of {n} libraries, all in sync ({kind:?} → HTTP → {kind:?})"),
            measured: format!("{} (`Backup::full_scan`, median of 3)", secs(steady)),
            baseline: format!(
                "at the backup's start: {scan_secs:.2} s; `seaf-backup scan` command, whole process: {}",
                secs(cli)
            ),
            ratio: "—".into(),
            target: "≤ 2 s".into(),
            met: Some(steady <= Duration::from_secs(2)),
        },
        Row {
            figure: format!("Peak RSS (VmHWM) of the backup process after a full scan of {n} libraries"),
            measured: mib(rss),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 64 MiB".into(),
            met: Some(rss <= 64.0 * (1u64 << 20) as f64),
        },
    ])
}
