//! The backup role end to end: real broker, real primary process, real backup process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use seaf_backup::backup::queue::SyncState;
use seaf_seafile::{
    walk_closure, ClosureVisitor, Commit, DbKind, FsObject, ObjectId, ObjectKind, ObjectStore, Problem, RepoId,
    RepoStores, SeafileDb, WalkOptions,
};
use seaf_testgen::LibrarySpec;
use support::agent::{wait_until, Agent};
use support::broker::Broker;
use support::e2e::{committed, topic_index, watermarks};
use support::site::{generated_primary, generated_site, Site};
use support::{run_cli, Fixture};

/// Storage paths (relative to storage/) of every object in the closure of every fixture head.
fn reachable_paths(fx: &Fixture) -> BTreeSet<PathBuf> {
    struct Paths<'a> {
        store: &'a ObjectStore,
        root: PathBuf,
        repo: RepoId,
        out: &'a mut BTreeSet<PathBuf>,
    }
    impl Paths<'_> {
        fn insert(&mut self, kind: ObjectKind, id: &ObjectId) {
            let full = self.store.path(kind, &self.repo, id);
            self.out.insert(full.strip_prefix(&self.root).unwrap().to_path_buf());
        }
    }
    impl ClosureVisitor for Paths<'_> {
        fn commit(&mut self, id: &ObjectId, _: &Commit) {
            self.insert(ObjectKind::Commit, id);
        }
        fn fs_object(&mut self, id: &ObjectId, _: &str, _: &FsObject) {
            self.insert(ObjectKind::Fs, id);
        }
        fn block(&mut self, id: &ObjectId, _: &str, _: u64) {
            self.insert(ObjectKind::Block, id);
        }
        fn problem(&mut self, p: Problem) {
            panic!("{p}");
        }
    }
    let store = fx.store();
    let root = fx.data_dir().join("storage");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(SeafileDb::connect(&fx.database_url())).unwrap();
    let mut out = BTreeSet::new();
    for (repo, head) in rt.block_on(db.heads()).unwrap() {
        let mut v = Paths {
            store: &store,
            root: root.clone(),
            repo,
            out: &mut out,
        };
        walk_closure(
            &store,
            RepoStores::new(repo, None),
            head,
            WalkOptions::default(),
            &mut v,
        );
    }
    out
}

/// Every file under `root`, relative path → bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn fixture_backs_up_byte_for_byte(kind: DbKind) {
    let Some(fx) = Fixture::unpack() else { return };
    let Some(broker) = Broker::start() else { return };
    let Some(site) = Site::start(&broker, &fx.data_dir(), &fx.database_url(), kind, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));

    // Every object of every head's closure is there, byte for byte; nothing else is. (The
    // fixture also holds 7 fs objects no commit refers to: garbage Seafile's GC would remove,
    // which no backup that follows history can see.)
    let want = tree(&fx.data_dir().join("storage"));
    let got = tree(&site.backup_data.join("storage"));
    let reachable = reachable_paths(&fx);
    assert_eq!(reachable.len(), 164);
    for path in &reachable {
        assert!(
            got.get(path) == want.get(path),
            "{kind:?}: {} differs or is missing",
            path.display()
        );
    }
    assert_eq!(got.len(), reachable.len(), "{kind:?}: no extra objects");
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{kind:?}: {out}");
    assert!(out.contains("verified 4 libraries: 44 commits"), "{out}");

    // The backup role laid out what seaf-server and seaf-fsck look for, and a whole Seafile
    // database (tables the primary's libraries do not use included).
    for dir in [
        "tmpfiles",
        "httptemp",
        "storage/commits",
        "storage/fs",
        "storage/blocks",
    ] {
        assert!(site.backup_data.join(dir).is_dir(), "{kind:?}: {dir}/ is missing");
    }
    let tables = site.rt.block_on(site.backup_db.table_columns()).unwrap();
    let column = |table: &str, column: &str| {
        tables
            .iter()
            .any(|(t, cols)| t.eq_ignore_ascii_case(table) && cols.iter().any(|c| c == column))
    };
    for (table, col) in [
        ("RepoInfo", "type"),
        ("RepoInfo", "archive_status"),
        ("SystemInfo", "info_key"),
        ("RepoSize", "size"),
    ] {
        assert!(column(table, col), "{kind:?}: {table}.{col} is missing");
    }

    // Metadata rows came along.
    let docs = RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap();
    let rec = site.rt.block_on(site.backup_db.repo_record(&docs)).unwrap().unwrap();
    assert_eq!(rec.info.unwrap().name, "Documents");
    assert_eq!(rec.owner.as_deref(), Some("a@example.com"));
    // Every carried row with every column: sizes, file counts, the template's SystemInfo row.
    for repo in site.primary_heads().keys() {
        let (primary, backup) =
            site.rt
                .block_on(support::seafile13::both_sides(&site.primary_db, &site.backup_db, repo));
        assert_eq!(primary, backup, "{kind:?}: the rows of {repo}");
    }

    let status = site.status_text();
    assert!(
        status.starts_with("Total number of libraries: 4\nNumber of synchronized libraries: 4\n"),
        "{status}"
    );
}

#[test]
fn fixture_backs_up_byte_for_byte_mariadb() {
    fixture_backs_up_byte_for_byte(DbKind::MySql);
}

#[test]
fn fixture_backs_up_byte_for_byte_sqlite() {
    fixture_backs_up_byte_for_byte(DbKind::Sqlite);
}

#[test]
fn random_updates_converge_and_replay_changes_nothing() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 50, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));

    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for _ in 0..200 {
        let i = rng.gen_range(0..g.libs.len());
        let changes = rng.gen_range(1..4);
        g.gen.update_library(&mut g.libs[i], changes).unwrap();
        site.rt.block_on(site.primary_db.write_repo(&g.libs[i].record)).unwrap();
    }
    let last_update = Instant::now();
    site.wait_converged(Duration::from_secs(60));
    let took = last_update.elapsed();
    assert!(
        took <= Duration::from_secs(10),
        "converged {took:?} after the last update (limit 10 s)\n{}",
        site.backup.log_tail()
    );
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");

    // Replay the whole topic into a fresh backup process: nothing fetched, nothing moved.
    let heads_before = site.backup_heads();
    site.backup.stop();
    let (code, out, err) = run_cli(&[
        "replay",
        "-c",
        site.backup.config_path().to_str().unwrap(),
        "--from-beginning",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    site.backup.restart();
    // Updates made faster than the poll interval coalesce into one event per library and poll.
    let published = site
        .primary
        .metric("seaf_primary_events_published_total", &["kind=\"UPDATE\""]);
    assert!(published >= 50.0, "published {published}");
    wait_until(
        Duration::from_secs(120),
        "the replayed backup to consume every update event again",
        || site.backup.metric("seaf_backup_events_total", &["result=\"queued\""]) >= published,
        || site.backup.metrics(),
    );
    wait_until(
        Duration::from_secs(60),
        "the replayed events to be handled",
        || {
            let states = site.rt.block_on(site.queue().states()).unwrap();
            states.iter().all(|s| s.state == SyncState::Synced)
        },
        || site.status_text(),
    );
    assert_eq!(
        site.backup.metric("seaf_backup_objects_fetched_total", &[]),
        0.0,
        "{}",
        site.backup.metrics()
    );
    assert_eq!(site.backup_heads(), heads_before);
    let _ = site.dir.path();
}

#[test]
fn corrupt_block_fails_one_library_and_force_skips_it() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(g) = generated_primary(&rt, DbKind::Sqlite, 4) else {
        return;
    };
    // Corrupt one block of library 0 on the primary before anything is backed up.
    let victim = &g.libs[0];
    let (_, file) = victim.files.iter().find(|(_, f)| !f.file_id.is_zero()).unwrap();
    let bytes = g
        .gen
        .store()
        .read(ObjectKind::Fs, &victim.repo_id, &file.file_id)
        .unwrap();
    let seaf_seafile::FsObject::File(f) = seaf_seafile::FsObject::parse_verified(&file.file_id, &bytes).unwrap() else {
        panic!()
    };
    let block = f.block_ids[0];
    std::fs::write(
        g.gen.store().path(ObjectKind::Block, &victim.repo_id, &block),
        b"not the right bytes",
    )
    .unwrap();

    let Some(site) = Site::start(&broker, &g.data, &g.test_db.url, DbKind::Sqlite, "1h") else {
        return;
    };
    let others: Vec<RepoId> = g.libs[1..].iter().map(|l| l.repo_id).collect();
    wait_until(
        Duration::from_secs(60),
        "the other libraries synced and the victim failed",
        || {
            let states: HashMap<RepoId, SyncState> = site
                .rt
                .block_on(site.queue().states())
                .unwrap()
                .into_iter()
                .map(|s| (s.repo_id, s.state))
                .collect();
            others.iter().all(|r| states.get(r) == Some(&SyncState::Synced))
                && states.get(&victim.repo_id) == Some(&SyncState::Failed)
        },
        || site.status_text(),
    );
    let state = site.rt.block_on(site.queue().state(&victim.repo_id)).unwrap().unwrap();
    let error = state.error.unwrap();
    assert!(error.contains(&block.to_hex()) && error.contains("--force"), "{error}");
    let status = site.status_text();
    assert!(status.contains("Number of libraries failed to sync: 1"), "{status}");
    // Seafile Pro's text, then the scrub's line.
    let pro = status.split("\nScrub: ").next().unwrap();
    assert!(
        pro.ends_with(&format!("List of libraries failed to sync:\n{}\n", victim.repo_id)),
        "{status}"
    );
    let (code, json, _) = run_cli(&["status", "-c", site.backup.config_path().to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["failed"], 1);
    assert!(json["failed_libraries"][0]["error"]
        .as_str()
        .unwrap()
        .contains(&block.to_hex()));

    let (code, out, err) = run_cli(&[
        "sync",
        "-c",
        site.backup.config_path().to_str().unwrap(),
        "--force",
        victim.repo_id.as_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("skipped 1 objects") && out.contains(&block.to_hex()),
        "{out}"
    );
    let state = site.rt.block_on(site.queue().state(&victim.repo_id)).unwrap().unwrap();
    assert_eq!(state.state, SyncState::Synced);
    assert_eq!(site.backup_heads(), site.primary_heads());
    let _ = &site.primary_data;
}

#[test]
fn lost_event_is_caught_by_scan() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 5, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    // The backup may converge through its start-up scan before it has read the primary's
    // snapshot events; a snapshot event read later would sync the change below and hide the
    // loss this test stages. Wait until every snapshot event was handled.
    wait_until(
        Duration::from_secs(60),
        "the backup to read the primary's 5 snapshot events",
        || {
            site.backup.metric("seaf_backup_events_total", &["result=\"queued\""]) >= 5.0
                && site
                    .rt
                    .block_on(site.queue().states())
                    .unwrap()
                    .iter()
                    .all(|s| s.state == SyncState::Synced)
        },
        || site.backup.metrics(),
    );

    // The primary is down while a library changes, and comes back believing it published the
    // change (its state file says so): the event is lost.
    site.primary.stop();
    let head = g.gen.update_library(&mut g.libs[3], 2).unwrap();
    site.rt.block_on(site.primary_db.write_repo(&g.libs[3].record)).unwrap();
    let state_file = site.dir.path().join("state/primary-published.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state["published"][g.libs[3].repo_id.as_str()] = serde_json::Value::String(head.to_hex());
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    site.primary.restart();
    assert_ne!(site.backup_heads().get(&g.libs[3].repo_id), Some(&head));

    let (code, out, err) = run_cli(&["scan", "-c", site.backup.config_path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("1 libraries differ"), "{out}");
    site.wait_converged(Duration::from_secs(30));

    // The periodic full scan does the same without being asked.
    site.backup.stop();
    let config = std::fs::read_to_string(site.backup.config_path())
        .unwrap()
        .replace("sync_poll_interval = \"1h\"", "sync_poll_interval = \"2s\"");
    std::fs::write(site.backup.config_path(), config).unwrap();
    site.backup.restart();
    site.primary.stop();
    let head = g.gen.update_library(&mut g.libs[1], 1).unwrap();
    site.rt.block_on(site.primary_db.write_repo(&g.libs[1].record)).unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state["published"][g.libs[1].repo_id.as_str()] = serde_json::Value::String(head.to_hex());
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    site.primary.restart();
    site.wait_converged(Duration::from_secs(30));
}

#[test]
fn backup_restart_resumes_from_committed_offsets() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::Sqlite, 20, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    let published_before = site
        .primary
        .metric("seaf_primary_events_published_total", &["kind=\"UPDATE\""]);

    // The start-up scan may converge before the consumer has read the snapshot events; let it
    // read them, so what it reads after the restart is only what was published while it was down.
    wait_until(
        Duration::from_secs(60),
        "the backup to read every event published so far",
        || site.backup.metric("seaf_backup_events_total", &["result=\"queued\""]) >= published_before,
        || site.backup.metrics(),
    );
    site.backup.stop();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..100 {
        let i = rng.gen_range(0..g.libs.len());
        g.gen.update_library(&mut g.libs[i], 1).unwrap();
        site.rt.block_on(site.primary_db.write_repo(&g.libs[i].record)).unwrap();
    }
    wait_until(
        Duration::from_secs(30),
        "the primary to publish the changes made while the backup was down",
        || {
            site.primary.metric("seaf_primary_events_in_flight", &[]) == 0.0
                && site
                    .primary
                    .metric("seaf_primary_events_published_total", &["kind=\"UPDATE\""])
                    > published_before
        },
        || site.primary.log_tail(),
    );
    site.backup.restart();
    site.wait_converged(Duration::from_secs(60));
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
    // It reads on from its committed offsets: every event published while it was down (the
    // start-up scan may have synced the libraries first), and not the whole topic again.
    let published = site
        .primary
        .metric("seaf_primary_events_published_total", &["kind=\"UPDATE\""]);
    let while_down = published - published_before;
    wait_until(
        Duration::from_secs(60),
        "the restarted backup to read the events published while it was down",
        || site.backup.metric("seaf_backup_events_total", &["result=\"queued\""]) >= while_down,
        || site.backup.metrics(),
    );
    let consumed = site.backup.metric("seaf_backup_events_total", &["result=\"queued\""]);
    assert!(
        consumed <= while_down + 1.0,
        "consumed {consumed}, published while down {while_down}"
    );
}

#[test]
fn two_backups_in_one_group_share_the_work() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 30, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    // A second backup process: same group, same backup database and data directory.
    let second_metrics = format!("127.0.0.1:{}", support::agent::free_port());
    let config = site
        .dep
        .backup_config(&site.backup_data, &site.backup_test_db.url, &second_metrics, "1h");
    let second_dir = site.dir.path().join("second");
    std::fs::create_dir_all(&second_dir).unwrap();
    let second = Agent::start("backup", &second_dir, &config, &second_metrics);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..60 {
        let i = rng.gen_range(0..g.libs.len());
        g.gen.update_library(&mut g.libs[i], 1).unwrap();
        site.rt.block_on(site.primary_db.write_repo(&g.libs[i].record)).unwrap();
    }
    // Two processes share the partitions: neither one's watermark speaks for every library.
    site.wait_heads_converged(Duration::from_secs(90));
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
    let a = site.backup.metric("seaf_backup_events_total", &["result=\"applied\""]);
    let b = second.metric("seaf_backup_events_total", &["result=\"applied\""]);
    assert!(a + b >= 30.0, "applied {a} + {b}\n{}", site.backup.metrics());
    // No library was written by both at once: the lease makes the other process skip it.
    let failed = site.backup.metric("seaf_backup_events_total", &["result=\"failed\""])
        + second.metric("seaf_backup_events_total", &["result=\"failed\""]);
    let (_, status, _) = run_cli(&["status", "-c", site.backup.config_path().to_str().unwrap(), "--json"]);
    assert_eq!(
        failed,
        0.0,
        "{status}\n{}\n{}",
        site.backup.log_lines("sync failed"),
        second.log_lines("sync failed")
    );
    site.backup.kill();
}

#[test]
fn garbage_rewinds_and_deletions_are_handled() {
    use seaf_kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let Some((broker, _rt, mut g, site)) = generated_site(DbKind::MySql, 4, LibrarySpec::small, DbKind::Sqlite) else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));

    // Garbage on the topic: counted, skipped, the consumer goes on.
    let producer: BaseProducer = seaf_kafka::rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    for payload in [
        &b"\x00\x01garbage"[..],
        b"",
        &[0xC3, 0x01, 1, 2, 3],
        &vec![0x5a; 900_000],
    ] {
        producer
            .send(BaseRecord::to(&site.dep.topic).key("junk").payload(payload))
            .map_err(|(e, _)| e)
            .expect("queue a junk message");
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the garbage to be counted as undecodable",
        || {
            site.backup
                .metric("seaf_backup_events_total", &["result=\"undecodable\""])
                >= 4.0
        },
        || site.backup.log_tail(),
    );

    // The primary's head moves back to an older commit (seaf-fsck): the backup follows, keeps the
    // history and records the old head.
    let lib = &mut g.libs[0];
    let old_commit = lib.commits[0];
    let newest = lib.head;
    let mut rewound = lib.record.clone();
    rewound.head = old_commit;
    site.rt.block_on(site.primary_db.write_repo(&rewound)).unwrap();
    site.wait_converged(Duration::from_secs(30));
    let state = site.rt.block_on(site.queue().state(&lib.repo_id)).unwrap().unwrap();
    assert_eq!(state.head, Some(old_commit));
    assert_eq!(state.old_head, Some(newest), "the old head is recorded");
    assert!(site
        .backup_data
        .join("storage/commits")
        .join(lib.repo_id.as_str())
        .is_dir());
    let newest_path = seaf_seafile::ObjectStore::new(&site.backup_data).path(ObjectKind::Commit, &lib.repo_id, &newest);
    assert!(newest_path.is_file(), "history after the rewind is kept");

    // Forward to a new head, then back again: every rewind is kept, oldest first.
    let h3 = g.gen.update_library(&mut g.libs[0], 1).unwrap();
    site.publish(&g.libs[0]);
    site.wait_converged(Duration::from_secs(30));
    let mut rewound = g.libs[0].record.clone();
    rewound.head = g.libs[0].commits[1];
    site.rt.block_on(site.primary_db.write_repo(&rewound)).unwrap();
    site.wait_converged(Duration::from_secs(30));
    let state = site
        .rt
        .block_on(site.queue().state(&g.libs[0].repo_id))
        .unwrap()
        .unwrap();
    assert_eq!(state.old_head, Some(h3), "the last rewind's old head");
    assert_eq!(state.old_heads, vec![newest, h3], "every rewind is kept");

    // A deleted library: marked deleted, its data and rows kept.
    let gone = g.libs[1].repo_id;
    site.rt.block_on(async {
        let mut tx = site.primary_db.begin().await.unwrap();
        tx.remove_repo_rows(&gone).await.unwrap();
        tx.commit().await.unwrap();
    });
    wait_until(
        Duration::from_secs(30),
        "the deleted library to be marked deleted",
        || {
            site.rt
                .block_on(site.queue().state(&gone))
                .unwrap()
                .is_some_and(|s| s.state == SyncState::Deleted)
        },
        || site.status_text(),
    );
    assert!(
        site.backup_heads().contains_key(&gone),
        "the backup keeps the deleted library"
    );
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
    let status = site.status_text();
    assert!(
        status.starts_with("Total number of libraries: 3\nNumber of synchronized libraries: 3\n"),
        "{status}"
    );
}

/// Every event the backup process has read since it started, whatever became of it.
fn events_read(backup: &Agent) -> f64 {
    ["queued", "heartbeat", "undecodable"]
        .iter()
        .map(|r| backup.metric("seaf_backup_events_total", &[&format!("result=\"{r}\"")]))
        .sum()
}

/// Restarts the stopped backup and waits until its group has committed the end of every
/// partition; returns how many events it read to get there.
fn read_to_the_end(site: &mut Site) -> f64 {
    site.backup.restart();
    let ends: BTreeMap<i32, i64> = watermarks(&site.dep.brokers, &site.dep.topic)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect();
    wait_until(
        Duration::from_secs(120),
        "the backup to commit the end of every partition after the replay",
        || committed(&site.dep.brokers, &site.dep.group, &site.dep.topic) == ends,
        || format!("{}\n{}", site.backup.metrics(), site.backup.log_tail()),
    );
    events_read(&site.backup)
}

fn replay(site: &Site, how: &[&str]) -> String {
    let config = site.backup.config_path().to_str().unwrap().to_string();
    let mut args = vec!["replay", "-c", &config];
    args.extend_from_slice(how);
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "replay {how:?}: {out}{err}");
    out
}

/// `replay --from-time` and `--from-offset` make the backup read again exactly the events from
/// that point: counted against the topic's own messages and timestamps.
#[test]
fn replay_from_a_time_or_an_offset_rereads_exactly_what_follows() {
    let Some((_broker, _rt, mut g, mut site)) = generated_site(DbKind::MySql, 12, LibrarySpec::small, DbKind::MySql)
    else {
        return;
    };
    site.wait_converged(Duration::from_secs(120));
    let since = SystemTime::now();
    for lib in g.libs.iter_mut().take(6) {
        g.gen.update_library(lib, 1).unwrap();
        site.rt.block_on(site.primary_db.write_repo(&lib.record)).unwrap();
    }
    site.wait_converged(Duration::from_secs(60));
    // The topic stops growing: every count below is exact.
    site.primary.stop();
    site.backup.stop();
    let heads = site.backup_heads();
    let index = topic_index(&site.dep.brokers, &site.dep.topic);

    // From a time: per partition, everything from the first message at or after it.
    let since_ms = since.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let expected = index
        .iter()
        .filter(|m| {
            let first = index
                .iter()
                .filter(|o| o.partition == m.partition && o.timestamp_ms >= since_ms)
                .map(|o| o.offset)
                .min();
            first.is_some_and(|f| m.offset >= f)
        })
        .count();
    assert!(
        expected >= 6 && expected < index.len(),
        "{expected} of {} events after the time",
        index.len()
    );
    let at = humantime::format_rfc3339_millis(since).to_string();
    replay(&site, &["--from-time", &at]);
    let read = read_to_the_end(&mut site);
    assert_eq!(read, expected as f64, "events read after --from-time {at}");

    // From an offset of one partition: that partition from there, the others not at all.
    let (partition, high) = watermarks(&site.dep.brokers, &site.dep.topic)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .max_by_key(|(_, high)| *high)
        .unwrap();
    let from = (high - 5).max(0);
    site.backup.stop();
    let out = replay(&site, &["--from-offset", &format!("{partition}:{from}")]);
    assert!(
        out.contains(&format!("{partition}:{from}")),
        "replay prints the new position: {out}"
    );
    let read = read_to_the_end(&mut site);
    assert_eq!(
        read,
        (high - from) as f64,
        "events read after --from-offset {partition}:{from}"
    );

    // Nothing was fetched again and no head moved: a replay is harmless.
    assert_eq!(site.backup.metric("seaf_backup_objects_fetched_total", &[]), 0.0);
    assert_eq!(site.backup_heads(), heads);
}
