//! The primary role end to end: a real broker, real databases, the real binary.
//!
//! A library update, a new library and a deleted library each reach the topic as a decodable
//! `RepoUpdate` within 2 s (on PostgreSQL and SQLite, after idle polls that skipped reading
//! `Branch` because the change marker stayed put); a 30 s broker outage loses nothing; a restart
//! does not republish.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use seaf_kafka::{RepoUpdate, RepoUpdateKind};
use seaf_seafile::{DbKind, ObjectId, RepoId, TrashedRepo};
use seaf_testgen::LibrarySpec;
use support::agent::{cpu_ticks, wait_until};
use support::broker::Broker;
use support::db::{move_to_trash, TestDb};
use support::e2e::{heads_seen, TopicReader};
use support::primary_run::PrimaryRun;

/// A primary polling its own test database every second.
fn start(kind: DbKind, broker: &Broker, libraries: usize) -> Option<PrimaryRun> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test_db = rt.block_on(TestDb::create(kind))?;
    let url = test_db.url.clone();
    Some(PrimaryRun::start(
        rt,
        &broker.bootstrap(),
        (&url, Some(test_db)),
        (libraries, 11),
        |c| c.replace("poll_interval = \"200ms\"", "poll_interval = \"1s\""),
    ))
}

fn changes_reach_the_topic_within_2s(kind: DbKind) {
    let Some(broker) = Broker::start() else { return };
    let Some(mut p) = start(kind, &broker, 5) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    let want: HashMap<RepoId, ObjectId> = p.libs.iter().map(|l| (l.repo_id, l.head)).collect();
    reader.read_until(
        Duration::from_secs(60),
        "the start-up snapshot of every library",
        |ev| want.iter().all(|(r, h)| heads_seen(ev).get(r) == Some(h)),
    );
    if kind != DbKind::MySql {
        // Nothing changes now: the polls ask the change marker and skip reading Branch.
        wait_until(
            Duration::from_secs(60),
            "two polls to skip reading Branch on an unchanged database",
            || p.agent.metric("seaf_primary_branch_reads_skipped_total", &[]) >= 2.0,
            || p.agent.metrics(),
        );
    }

    // An update (on PostgreSQL and SQLite, seen through the change marker).
    let started = Instant::now();
    let head = p.update(0);
    let repo = p.libs[0].repo_id;
    let ev = reader.read_until(Duration::from_secs(10), "the update event", |ev| {
        ev.iter()
            .any(|e| e.repo_id == Some(repo) && e.head_commit_id == Some(head))
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "{kind:?}: update reached the topic after {took:?}"
    );
    let e = ev.iter().find(|e| e.head_commit_id == Some(head)).unwrap();
    assert_eq!(e.kind, RepoUpdateKind::Update);
    assert_eq!(e.origin_node, "primary-test");
    assert!(e.previous_head_id.is_some());

    // A new library.
    let started = Instant::now();
    let lib = p.gen.create_library(LibrarySpec::small("brand new")).unwrap();
    p.rt.block_on(p.db.write_repo(&lib.record)).unwrap();
    reader.read_until(Duration::from_secs(10), "the new library's event", |ev| {
        ev.iter()
            .any(|e| e.repo_id == Some(lib.repo_id) && e.head_commit_id == Some(lib.head))
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "{kind:?}: new library reached the topic after {took:?}"
    );

    // A deleted library: Seafile moves it to the trash.
    let started = Instant::now();
    let gone = p.libs[1].clone();
    p.rt.block_on(async {
        move_to_trash(
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
        )
        .await;
    });
    let ev = reader.read_until(Duration::from_secs(10), "the delete event", |ev| {
        ev.iter()
            .any(|e| e.repo_id == Some(gone.repo_id) && e.kind == RepoUpdateKind::Delete)
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "{kind:?}: deletion reached the topic after {took:?}"
    );
    let e = ev.iter().find(|e| e.kind == RepoUpdateKind::Delete).unwrap();
    assert_eq!(e.previous_head_id, Some(gone.head));
    // The counter moves when the primary handles the broker's acknowledgement, which can come
    // a moment after a reader already sees the event on the topic.
    wait_until(
        Duration::from_secs(10),
        "the 8 published events to be counted",
        || p.agent.metric("seaf_primary_events_published_total", &[]) >= 8.0,
        || p.agent.metrics(),
    );
}

#[test]
fn changes_reach_the_topic_within_2s_mariadb() {
    changes_reach_the_topic_within_2s(DbKind::MySql);
}

#[test]
fn changes_reach_the_topic_within_2s_sqlite() {
    changes_reach_the_topic_within_2s(DbKind::Sqlite);
}

#[test]
fn changes_reach_the_topic_within_2s_postgres() {
    changes_reach_the_topic_within_2s(DbKind::Postgres);
}

#[test]
fn broker_outage_loses_no_update() {
    let Some(mut broker) = Broker::start() else { return };
    let Some(mut p) = start(DbKind::MySql, &broker, 10) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    reader.read_until(Duration::from_secs(60), "the snapshot", |ev| heads_seen(ev).len() == 10);

    broker.stop();
    let outage = Instant::now();
    let pid = p.agent.pid().unwrap();
    let ticks_before = cpu_ticks(pid);
    let mut latest = HashMap::new();
    for n in 0..20 {
        let i = n % 7;
        latest.insert(p.libs[i].repo_id, p.update(i));
    }
    // The outage lasts 30 s: long enough for librdkafka's message timeout (20 s here) to expire
    // and the primary to re-detect and resend.
    while outage.elapsed() < Duration::from_secs(30) {
        assert!(
            p.agent.alive(),
            "the primary exited during the outage\n{}",
            p.agent.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let cpu = cpu_ticks(pid) - ticks_before;
    assert!(
        cpu < 1500,
        "the primary used {cpu} clock ticks of CPU in a 30 s outage: spinning?"
    );
    assert!(p.agent.alive());
    broker.restart();

    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.read_until(
            Duration::from_secs(120),
            "every library's latest head after the outage",
            |ev| {
                let seen = heads_seen(ev);
                latest.iter().all(|(r, h)| seen.get(r) == Some(h))
            },
        )
    }));
    if read.is_err() {
        panic!(
            "not every latest head reached the topic\n{}\n--- broker ---\n{}",
            p.agent.log_tail(),
            broker.log_tail()
        );
    }
    assert!(
        p.agent.metric("seaf_primary_publish_errors_total", &[]) >= 1.0,
        "the outage was noticed"
    );
    let _ = p.dir.path();
}

#[test]
fn restart_does_not_republish_unchanged_heads() {
    let Some(broker) = Broker::start() else { return };
    let Some(mut p) = start(DbKind::Sqlite, &broker, 6) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    reader.read_until(Duration::from_secs(60), "the snapshot", |ev| heads_seen(ev).len() == 6);

    p.agent.stop();
    let restarted = SystemTime::now();
    p.agent.restart();
    let after_restart = |e: &RepoUpdate| e.detected_at >= restarted;
    let ev = reader.read_until(Duration::from_secs(30), "two heartbeats after the restart", |ev| {
        ev.iter()
            .filter(|e| e.kind == RepoUpdateKind::Heartbeat && after_restart(e))
            .count()
            >= 2
    });
    let republished: Vec<_> = ev
        .iter()
        .filter(|e| e.kind != RepoUpdateKind::Heartbeat && after_restart(e))
        .collect();
    assert!(republished.is_empty(), "republished after restart: {republished:#?}");

    // And a change after the restart is still published, with its previous head known.
    let head = p.update(2);
    let repo = p.libs[2].repo_id;
    let ev = reader.read_until(Duration::from_secs(10), "the update after restart", |ev| {
        ev.iter()
            .any(|e| e.repo_id == Some(repo) && e.head_commit_id == Some(head))
    });
    assert!(ev
        .iter()
        .any(|e| e.head_commit_id == Some(head) && e.previous_head_id.is_some()));
}

/// The same topic name on a new cluster (a rebuilt Kafka, a failover to another site's
/// cluster) is another topic: the restarted primary publishes every head again instead of
/// trusting what it remembers having published to the old one.
#[test]
fn a_new_cluster_with_the_same_topic_name_gets_a_snapshot() {
    let Some(old) = Broker::start() else { return };
    let Some(mut p) = start(DbKind::Sqlite, &old, 4) else {
        return;
    };
    let mut reader = TopicReader::new(&p.dep.brokers, &p.dep.topic);
    reader.read_until(Duration::from_secs(60), "the snapshot", |ev| heads_seen(ev).len() == 4);
    p.agent.stop();

    let Some(new) = Broker::start() else { return };
    let config = std::fs::read_to_string(p.agent.config_path())
        .unwrap()
        .replace(&old.bootstrap(), &new.bootstrap());
    p.agent.restart_with(&config);
    let mut reader = TopicReader::new(&new.bootstrap(), &p.dep.topic);
    reader.read_until(Duration::from_secs(60), "every head on the new cluster", |ev| {
        heads_seen(ev).len() == 4
    });
}
