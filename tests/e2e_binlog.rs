//! Binlog change capture end to end: a real MariaDB writing its binary log, a real broker, the
//! real binary.
//!
//! Every test sets the `Branch` poll's safety net to an hour, so an event that arrives within
//! seconds can only have come from the binary log (and says so: `BINLOG`). The server is shared
//! by parallel tests, each in a database of its own; the tests of this file run one at a time,
//! because one of them purges the server's binary logs, which would cut another's stopped
//! primary off its position.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use seaf_kafka::{DetectionSource, RepoUpdate, RepoUpdateKind};
use seaf_seafile::{DbKind, ObjectId, RepoId, TrashedRepo};
use seaf_testgen::{write_database, Generator, LibrarySpec};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};
use support::agent::{wait_until, Agent};
use support::broker::Broker;
use support::db::{move_to_trash, TestDb};
use support::e2e::{heads_seen, Deployment, TopicReader};
use support::primary_run::PrimaryRun;

static SERIAL: Mutex<()> = Mutex::new(());

/// The safety net: long enough that it cannot explain anything a test sees.
const SAFETY_NET: &str = "full_read_interval = \"1h\"\nchange_capture = \"binlog\"\n";

/// A primary following the binary log of its database, with plain SQL beside it.
struct Primary {
    run: PrimaryRun,
    /// Plain SQL on the test database (transactions, DDL).
    sql: AnyPool,
}

impl Primary {
    fn start(broker: &Broker, libraries: usize) -> Option<Primary> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let test_db = rt.block_on(TestDb::create(DbKind::MySql))?;
        let url = test_db.url.clone();
        Some(Primary::start_on(broker, libraries, rt, Some(test_db), &url))
    }

    /// A primary of `libraries` libraries whose seafile database is at `url`.
    fn start_on(
        broker: &Broker,
        libraries: usize,
        rt: tokio::runtime::Runtime,
        test_db: Option<TestDb>,
        url: &str,
    ) -> Primary {
        let sql = rt
            .block_on(AnyPoolOptions::new().max_connections(2).connect(url))
            .unwrap();
        let run = PrimaryRun::start(rt, &broker.bootstrap(), (url, test_db), (libraries, 17), |c| {
            c.replace("[primary]\n", &format!("[primary]\n{SAFETY_NET}"))
        });
        Primary { run, sql }
    }

    fn exec(&self, statement: &str) {
        self.rt
            .block_on(self.sql.execute(statement))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    fn position_file(&self) -> std::path::PathBuf {
        self.dir.path().join("state").join("primary-binlog.json")
    }
}

impl std::ops::Deref for Primary {
    type Target = PrimaryRun;
    fn deref(&self) -> &PrimaryRun {
        &self.run
    }
}

impl std::ops::DerefMut for Primary {
    fn deref_mut(&mut self) -> &mut PrimaryRun {
        &mut self.run
    }
}

fn event_for(events: &[RepoUpdate], repo: RepoId, head: ObjectId) -> Option<&RepoUpdate> {
    events
        .iter()
        .find(|e| e.repo_id == Some(repo) && e.head_commit_id == Some(head))
}

/// Waits for one library's head on the topic; returns the event and how long it took.
fn await_head(
    p: &mut Primary,
    reader: &mut TopicReader,
    i: usize,
    head: ObjectId,
    what: &str,
) -> (RepoUpdate, Duration) {
    let started = Instant::now();
    let repo = p.libs[i].repo_id;
    let ev = reader.read_until(Duration::from_secs(20), what, |ev| event_for(ev, repo, head).is_some());
    (event_for(&ev, repo, head).unwrap().clone(), started.elapsed())
}

fn snapshot(p: &Primary, reader: &mut TopicReader) {
    let want: HashMap<RepoId, ObjectId> = p.libs.iter().map(|l| (l.repo_id, l.head)).collect();
    reader.read_until(Duration::from_secs(60), "the start-up snapshot", |ev| {
        want.iter().all(|(r, h)| heads_seen(ev).get(r) == Some(h))
    });
}

/// Waits until the primary has saved a position (a kill after that resumes from it).
fn await_position(p: &Primary) -> String {
    let path = p.position_file();
    wait_until(
        Duration::from_secs(20),
        "the binlog position to be saved",
        || path.exists(),
        || p.agent.log_tail(),
    );
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn committed_changes_arrive_from_the_binlog_and_rolled_back_ones_never() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(broker) = Broker::start() else { return };
    let Some(mut p) = Primary::start(&broker, 4) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    snapshot(&p, &mut reader);

    // An update: at once, from the log.
    let before = p.libs[0].head;
    let head = p.update(0);
    let (e, took) = await_head(&mut p, &mut reader, 0, head, "the update");
    assert_eq!(e.detection_source, DetectionSource::Binlog, "{e:?}");
    assert_eq!(e.previous_head_id, Some(before));
    assert!(took < Duration::from_secs(2), "the update took {took:?}");

    // A transaction that rolls back never reaches the log; the commit after it does.
    let ghost = ObjectId::hash_of(b"rolled back");
    let repo1 = p.libs[1].repo_id;
    p.rt.block_on(async {
        let mut tx = p.sql.begin().await.unwrap();
        sqlx::query(&format!(
            "UPDATE Branch SET commit_id = '{ghost}' WHERE name = 'master' AND repo_id = '{repo1}'"
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
    });
    let head2 = p.update(2);
    let repo2 = p.libs[2].repo_id;
    let ev = reader.read_until(Duration::from_secs(20), "the commit after the rollback", |ev| {
        event_for(ev, repo2, head2).is_some()
    });
    assert!(
        !ev.iter().any(|e| e.head_commit_id == Some(ghost)),
        "a rolled-back head was published: {ev:#?}"
    );

    // A schema change on an unrelated table does not break the stream.
    p.exec("CREATE TABLE Unrelated (id INT PRIMARY KEY)");
    p.exec("INSERT INTO Unrelated VALUES (1)");
    p.exec("ALTER TABLE Unrelated ADD COLUMN note VARCHAR(20) NULL");
    p.exec("UPDATE Unrelated SET note = 'x'");
    let head3 = p.update(3);
    let (e, _) = await_head(&mut p, &mut reader, 3, head3, "an update after the unrelated DDL");
    assert_eq!(e.detection_source, DetectionSource::Binlog);

    // Branch's own columns moving is read again.
    p.exec("ALTER TABLE Branch ADD COLUMN seafbk_note VARCHAR(8) NULL FIRST");
    let head = p.update(0);
    let (e, _) = await_head(&mut p, &mut reader, 0, head, "an update after Branch changed shape");
    assert_eq!(e.detection_source, DetectionSource::Binlog);

    // A deletion: to the trash.
    let gone = p.libs[1].clone();
    p.rt.block_on(move_to_trash(
        &p.db,
        &TrashedRepo {
            repo_id: gone.repo_id,
            repo_name: Some("lib 1".into()),
            head_id: Some(gone.head),
            owner_id: Some("a@example.com".into()),
            size: Some(0),
            org_id: Some(-1),
            del_time: Some(0),
        },
    ));
    let ev = reader.read_until(Duration::from_secs(20), "the delete", |ev| {
        ev.iter()
            .any(|e| e.repo_id == Some(gone.repo_id) && e.kind == RepoUpdateKind::Delete)
    });
    let e = ev.iter().find(|e| e.kind == RepoUpdateKind::Delete).unwrap();
    assert_eq!(e.detection_source, DetectionSource::Binlog);
    assert!(
        !ev.iter()
            .any(|e| e.kind == RepoUpdateKind::Delete && e.repo_id != Some(gone.repo_id)),
        "a replaced Branch row (delete + insert in one transaction) is not a deletion: {ev:#?}\n{}",
        p.agent.log_lines("binary log")
    );
    wait_until(
        Duration::from_secs(10),
        "the binlog changes to be counted",
        || {
            p.agent
                .metric("seaf_primary_changes_detected_total", &["source=\"BINLOG\""])
                >= 5.0
        },
        || p.agent.metrics(),
    );
    assert_eq!(
        p.agent.metric("seaf_primary_binlog_interruptions_total", &[]),
        0.0,
        "{}",
        p.agent.log_tail()
    );
    assert_eq!(
        p.agent.metric("seaf_primary_binlog_position_lost_total", &[]),
        0.0,
        "the reconnect after Branch's ALTER found its position\n{}",
        p.agent.log_tail()
    );
}

#[test]
fn a_killed_primary_resumes_from_its_position_and_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(broker) = Broker::start() else { return };
    let Some(mut p) = Primary::start(&broker, 3) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    snapshot(&p, &mut reader);
    let head = p.update(0);
    await_head(&mut p, &mut reader, 0, head, "the update before the crash");
    let saved: serde_json::Value = serde_json::from_str(&await_position(&p)).unwrap();
    let file = saved["position"]["file"].as_str().unwrap().to_string();
    let logs = p.rt.block_on(p.sql.fetch_all("SHOW BINARY LOGS")).unwrap();
    assert!(
        logs.iter().any(|r| r.get::<String, _>(0) == file),
        "the saved position names a log the server has: {saved}"
    );

    p.agent.kill();
    let while_down: Vec<(usize, ObjectId)> = (0..3).map(|i| (i, p.update(i))).collect();
    let last = p.update(1);
    p.agent.spawn();
    let ev = reader.read_until(Duration::from_secs(30), "every change made while down", |ev| {
        event_for(ev, p.libs[0].repo_id, while_down[0].1).is_some()
            && event_for(ev, p.libs[2].repo_id, while_down[2].1).is_some()
            && event_for(ev, p.libs[1].repo_id, last).is_some()
    });
    for e in ev.iter().filter(|e| e.kind == RepoUpdateKind::Update) {
        assert_eq!(
            e.detection_source,
            DetectionSource::Binlog,
            "resumed from the log, not read from the table: {e:?}\n{}",
            p.agent.log_tail()
        );
    }
    assert!(
        p.agent.log_tail().contains("resuming the binary log"),
        "{}",
        p.agent.log_tail()
    );
    let _ = &p.test_db;
}

#[test]
fn a_purged_position_falls_back_to_one_full_read_and_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(broker) = Broker::start() else { return };
    let Some(mut p) = Primary::start(&broker, 3) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    snapshot(&p, &mut reader);
    let saved: serde_json::Value = serde_json::from_str(&await_position(&p)).unwrap();
    let saved_file = saved["position"]["file"].as_str().unwrap().to_string();

    p.agent.stop();
    let head = p.update(1);
    // Purge every log up to a new one, until the saved file is gone (a live replica reading
    // an old file keeps it a moment).
    let sql = p.sql.clone();
    wait_until(
        Duration::from_secs(30),
        "the saved binlog file to be purged",
        || {
            p.rt.block_on(async {
                sql.execute("FLUSH BINARY LOGS").await.unwrap();
                let logs = sql.fetch_all("SHOW BINARY LOGS").await.unwrap();
                let newest: String = logs.last().unwrap().get(0);
                let _ = sql.execute(format!("PURGE BINARY LOGS TO '{newest}'").as_str()).await;
                let logs = sql.fetch_all("SHOW BINARY LOGS").await.unwrap();
                !logs.iter().any(|r| r.get::<String, _>(0) == saved_file)
            })
        },
        String::new,
    );
    p.agent.spawn();
    let (e, _) = await_head(&mut p, &mut reader, 1, head, "the change made while the log was purged");
    assert_eq!(
        e.detection_source,
        DetectionSource::Poll,
        "found by the full read: {e:?}"
    );
    wait_until(
        Duration::from_secs(10),
        "the lost position to be counted",
        || p.agent.metric("seaf_primary_binlog_position_lost_total", &[]) >= 1.0,
        || p.agent.metrics(),
    );
    assert!(
        p.agent.log_tail().contains("gone from the server"),
        "{}",
        p.agent.log_tail()
    );
    // And the log is followed again from there.
    let head = p.update(2);
    let (e, _) = await_head(&mut p, &mut reader, 2, head, "an update after the fallback");
    assert_eq!(e.detection_source, DetectionSource::Binlog);
}

#[test]
fn missing_replication_grants_are_an_error_that_says_what_to_grant() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(test_db) = rt.block_on(TestDb::create(DbKind::MySql)) else {
        return;
    };
    let db = rt.block_on(test_db.connect());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seafile-data");
    let mut gen = Generator::new(&data, 5);
    let lib = gen.create_library(LibrarySpec::small("one")).unwrap();
    rt.block_on(write_database(&db, &[&lib])).unwrap();
    let name = test_db.url.rsplit('/').next().unwrap().to_string();
    let user = format!("u{}", &name[name.len() - 12..]);
    let sql = rt
        .block_on(AnyPoolOptions::new().max_connections(1).connect(&test_db.url))
        .unwrap();
    rt.block_on(async {
        sql.execute(format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw'").as_str())
            .await
            .unwrap();
        sql.execute(format!("GRANT ALL PRIVILEGES ON {name}.* TO '{user}'@'127.0.0.1'").as_str())
            .await
            .unwrap();
    });
    let url = format!("mysql://{user}:pw@127.0.0.1:3306/{name}");
    let Some(broker) = Broker::start() else { return };
    let dep = Deployment::new(&broker.bootstrap());
    let config = dep
        .primary_config(&data, &url, &dir.path().join("state"))
        .replace("[primary]\n", "[primary]\nchange_capture = \"binlog\"\n");
    std::fs::write(dir.path().join("primary.toml"), &config).unwrap();
    let (code, _out, err) = support::run_cli(&["primary", "-c", dir.path().join("primary.toml").to_str().unwrap()]);
    let grant = format!("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{user}'@'127.0.0.1';");

    // "auto" (the default) polls instead, and warns with the same text.
    let auto = dep.primary_config(&data, &url, &dir.path().join("state"));
    let mut agent = Agent::start("primary", dir.path(), &auto, &dep.primary_metrics);
    let mut reader = TopicReader::new(&dep.brokers, &dep.topic);
    reader.read_until(Duration::from_secs(60), "the polled snapshot", |ev| {
        event_for(ev, lib.repo_id, lib.head).is_some()
    });
    let log = agent.log_tail();
    agent.stop();
    rt.block_on(async {
        let _ = sql.execute(format!("DROP USER '{user}'@'127.0.0.1'").as_str()).await;
    });
    assert_ne!(code, 0, "{err}");
    assert!(err.contains(&grant), "{err}");
    assert!(
        log.contains("polling the Branch table instead") && log.contains(&grant),
        "{log}"
    );
}

/// MariaDB restarted under a running primary (a server of the test's own, so that the shared
/// one is never restarted): the primary reconnects where it was and follows the new log file
/// the restarted server writes; every change made after the restart arrives from the log.
#[test]
fn a_restarted_mariadb_is_followed_again_and_nothing_is_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(broker) = Broker::start() else { return };
    let mut server = support::private_mariadb::PrivateMariaDb::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut p = Primary::start_on(&broker, 3, rt, None, &server.url());
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    snapshot(&p, &mut reader);
    let before = p.update(0);
    let (ev, _) = await_head(&mut p, &mut reader, 0, before, "the update before the restart");
    assert_eq!(ev.detection_source, DetectionSource::Binlog);

    server.restart();
    // The pools reconnect on their own; the primary's stream has to find its place again.
    let after: Vec<(RepoId, ObjectId)> = (0..3).map(|i| (p.libs[i].repo_id, p.update(i))).collect();
    let events = reader.read_until(Duration::from_secs(30), "every change made after the restart", |ev| {
        after.iter().all(|(r, h)| event_for(ev, *r, *h).is_some())
    });
    for (repo, head) in &after {
        let ev = event_for(&events, *repo, *head).unwrap();
        assert_eq!(
            ev.detection_source,
            DetectionSource::Binlog,
            "followed from the log again, not found by the hour's safety net: {ev:?}\n{}",
            p.agent.log_tail()
        );
    }
    assert!(
        p.agent.metric("seaf_primary_binlog_interruptions_total", &[]) >= 1.0,
        "the restart cut the stream, and the primary counted it: {}",
        p.agent.log_tail()
    );
}
