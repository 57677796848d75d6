//! The primary's loop: poll `Branch` (or follow the binary log, with the poll as a slow safety
//! net), publish what the topic lacks, take the broker's acknowledgements, save what was
//! published and how far the log was read, send heartbeats, and stop cleanly. Each happening is
//! one method of [`Publisher`]; the decisions are the [`Reconciler`]'s, the
//! [`PositionTracker`]'s and [`QuietPolls`]'.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use seaf_kafka::{Codec, DetectionSource, EventProducer, KafkaSettings, RepoUpdate, TopicIdentity};
use seaf_seafile::{ChangeMarker, Commit, ObjectId, ObjectKind, ObjectStore, RepoId, SeafileDb};
use tokio::sync::mpsc;

use super::binlog::{BinlogPosition, BinlogSource, PositionStore, PositionTracker, StreamMsg};
use super::quiet::QuietPolls;
use super::reconcile::{Intent, Reconciler, Target};
use super::state::PublishedState;
use crate::config::PrimaryConfig;
use crate::internal_events::{primary as events, InternalEvent};
use crate::telemetry::Health;

/// Most events awaiting the broker's acknowledgement. Beyond this, changes wait in the
/// `Branch` table itself and are sent as room frees up.
const MAX_IN_FLIGHT: usize = 20_000;

/// The outcome of one publish, reported back to the loop.
struct Delivery {
    /// The event's number in the [`PositionTracker`].
    seq: u64,
    repo: RepoId,
    target: Target,
    result: Result<(), String>,
}

/// Everything the loop works with.
pub(super) struct Publisher {
    settings: KafkaSettings,
    codec: Codec,
    producer: Arc<EventProducer>,
    store: ObjectStore,
    db: SeafileDb,
    health: Health,
    node_id: String,
    reconciler: Reconciler,
    state: PublishedState,
    tx: mpsc::UnboundedSender<Delivery>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    /// Acknowledgements not saved yet.
    dirty: bool,
    /// Every head of the first poll is a snapshot.
    first_poll: bool,
    poll_interval: Duration,
    heartbeat_interval: Duration,
    /// Numbers events so a binlog position is saved only behind acknowledged ones.
    tracker: PositionTracker,
    /// With binlog capture: the stream's messages and where the position is kept.
    binlog: Option<Follow>,
    /// PostgreSQL's and SQLite's cheap "anything committed?" (taken again after an error).
    marker: Option<ChangeMarker>,
    /// When a poll may skip reading `Branch`.
    quiet: QuietPolls,
}

/// The binary log side of the loop.
struct Follow {
    rx: Option<mpsc::UnboundedReceiver<StreamMsg>>,
    store: PositionStore,
    /// The last transaction end the stream reported.
    last_seen: Option<BinlogPosition>,
    /// The last position written to the store.
    saved: Option<BinlogPosition>,
    /// A full read is owed (a failed delivery, no room in flight, a failed read).
    full_read_owed: bool,
}

impl Publisher {
    pub(super) fn new(
        primary: &PrimaryConfig,
        settings: KafkaSettings,
        codec: Codec,
        store: ObjectStore,
        db: SeafileDb,
        health: Health,
        identity: Option<TopicIdentity>,
    ) -> anyhow::Result<Publisher> {
        let producer = Arc::new(EventProducer::new(&settings, codec.clone())?);
        let mut state = PublishedState::new(&primary.state_dir, &settings.topic).with_identity(identity);
        let reconciler = Reconciler::new(state.load(), MAX_IN_FLIGHT);
        let (tx, deliveries) = mpsc::unbounded_channel();
        Ok(Publisher {
            settings,
            codec,
            producer,
            store,
            db,
            health,
            node_id: primary.node_id.clone(),
            reconciler,
            state,
            tx,
            deliveries,
            dirty: false,
            first_poll: true,
            poll_interval: primary.poll_interval,
            heartbeat_interval: primary.heartbeat_interval,
            tracker: PositionTracker::default(),
            binlog: None,
            marker: None,
            quiet: QuietPolls::new(primary.full_read_interval),
        })
    }

    /// Follows the binary log of `source` (when given): the full read then runs every
    /// `full_read_interval` only, as the safety net.
    pub(super) fn following(mut self, source: Option<BinlogSource>, primary: &PrimaryConfig) -> Publisher {
        let Some(source) = source else { return self };
        let follow = start_following(source, primary, !self.reconciler.published().is_empty());
        // Resuming the log: the topic already holds every head.
        self.first_poll = follow.saved.is_none();
        self.poll_interval = primary.full_read_interval;
        self.binlog = Some(follow);
        self
    }

    /// Libraries whose published head was remembered from the last run.
    pub(super) fn remembered(&self) -> usize {
        self.reconciler.published().len()
    }

    /// Runs until `shutdown` resolves, then flushes and saves.
    pub(super) async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        // Following the log, the stream asks for the first full read when one is needed.
        let first = match self.binlog {
            Some(_) => tokio::time::Instant::now() + self.poll_interval,
            None => tokio::time::Instant::now(),
        };
        let mut poll = tokio::time::interval_at(first, self.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(self.heartbeat_interval);
        let mut save = tokio::time::interval(Duration::from_secs(1));
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        let mut stream = self.binlog.as_mut().and_then(|f| f.rx.take());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = poll.tick() => self.poll().await,
                Some(msg) = next_msg(&mut stream) => self.followed(msg).await,
                _ = retry.tick(), if self.full_read_owed() => self.poll().await,
                Some(d) = self.deliveries.recv() => self.delivered(d)?,
                _ = heartbeat.tick() => self.heartbeat(),
                _ = save.tick() => self.save(),
                _ = &mut shutdown => return self.stop(),
            }
        }
    }

    /// Reads `Branch` and publishes what the topic lacks, unless the database's change marker
    /// says nothing was committed since the last read ([`QuietPolls`]).
    async fn poll(&mut self) {
        let started = Instant::now();
        let marker = self.read_marker().await;
        if self.quiet.may_skip(marker.as_deref(), started) {
            events::BranchReadSkipped.emit();
            self.polled(started);
            return;
        }
        match self.db.heads().await {
            Ok(rows) => {
                self.health.ok("database");
                let heads: HashMap<RepoId, ObjectId> = rows.into_iter().collect();
                events::LibrariesListed { count: heads.len() }.emit();
                for intent in self.reconciler.plan(&heads) {
                    let source = if self.first_poll || intent.first_seen {
                        DetectionSource::Snapshot
                    } else {
                        DetectionSource::Poll
                    };
                    self.publish(intent, source);
                }
                self.first_poll = false;
                let full = self.reconciler.in_flight() >= MAX_IN_FLIGHT;
                self.quiet.read_done(marker, started, !full);
                if let Some(follow) = &mut self.binlog {
                    // The read covered every change the stream had reported, and any it failed to send.
                    self.tracker.covered_by_full_read();
                    if let Some(p) = follow.last_seen.clone() {
                        self.tracker.transaction_end(p);
                    }
                    follow.full_read_owed = full;
                }
            }
            Err(e) => {
                self.health.failed("database", &e);
                events::BranchReadFailed { error: &e }.emit();
                self.quiet.owe_read();
                if let Some(follow) = &mut self.binlog {
                    follow.full_read_owed = true;
                }
            }
        }
        self.polled(started);
    }

    fn polled(&self, started: Instant) {
        events::BranchPolled {
            took: started.elapsed(),
            in_flight: self.reconciler.in_flight(),
        }
        .emit();
    }

    /// The change marker's reading, `None` where there is none or it failed (then read).
    async fn read_marker(&mut self) -> Option<String> {
        if self.marker.is_none() {
            self.marker = self.db.change_marker().await.ok().flatten();
        }
        match self.marker.as_mut()?.read().await {
            Ok(reading) => Some(reading),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the change marker; reading Branch");
                self.marker = None;
                None
            }
        }
    }

    /// Hands one change to the producer.
    fn publish(&mut self, intent: Intent, source: DetectionSource) {
        if !intent.first_seen {
            record_detection_latency(&self.store, &intent);
        }
        events::ChangeFound { source }.emit();
        let seq = self.tracker.issue();
        spawn_publish(&self.producer, &self.node_id, seq, intent, source, self.tx.clone());
    }

    fn full_read_owed(&self) -> bool {
        self.binlog.as_ref().is_some_and(|f| f.full_read_owed)
    }

    /// One message of the binary log stream.
    async fn followed(&mut self, msg: StreamMsg) {
        let Some(follow) = &mut self.binlog else { return };
        match msg {
            StreamMsg::Resync { at, lost } => {
                if let Some(lost) = &lost {
                    events::BinlogPositionLost { lost, now: &at }.emit();
                }
                follow.last_seen = Some(at);
                self.poll().await;
            }
            StreamMsg::Changes(changes) => {
                for (repo, head) in changes {
                    tracing::debug!(%repo, head = ?head.map(|h| h.to_string()), "binary log: library changed");
                    match self.reconciler.plan_one(repo, head) {
                        Ok(Some(intent)) => self.publish(intent, DetectionSource::Binlog),
                        Ok(None) => {}
                        Err(_full) => {
                            if let Some(f) = &mut self.binlog {
                                f.full_read_owed = true;
                            }
                        }
                    }
                }
            }
            StreamMsg::TransactionEnd(p) => {
                follow.last_seen = Some(p.clone());
                self.tracker.transaction_end(p);
            }
            StreamMsg::Streaming => self.health.ok("database"),
            StreamMsg::Interrupted(error) => {
                self.health.failed("database", &error);
                events::BinlogInterrupted { error: &error }.emit();
            }
        }
    }

    /// The broker's answer to one publish.
    fn delivered(&mut self, d: Delivery) -> anyhow::Result<()> {
        self.tracker.delivered(d.seq, d.result.is_ok());
        if d.result.is_err() {
            // The log and the change marker will not say it again: a full read re-sends it.
            self.quiet.owe_read();
            if let Some(f) = &mut self.binlog {
                f.full_read_owed = true;
            }
        }
        match d.result {
            Ok(()) => {
                self.health.ok("broker");
                self.reconciler.acknowledged(d.repo, d.target);
                self.dirty = true;
            }
            Err(e) => {
                self.health.failed("broker", &e);
                self.reconciler.failed(d.repo, d.target);
                // Only a fatal error needs a new producer (see `fatal_error`); events are
                // idempotent, so one the old producer did deliver is a harmless duplicate when
                // the reconciler re-plans it.
                if let Some(fatal) = self.producer.fatal_error() {
                    tracing::warn!(error = %fatal, "the Kafka producer failed fatally; replacing it");
                    self.producer.discard_pending();
                    self.producer = Arc::new(EventProducer::new(&self.settings, self.codec.clone())?);
                }
            }
        }
        Ok(())
    }

    fn heartbeat(&self) {
        let producer = self.producer.clone();
        let event = RepoUpdate::heartbeat(self.node_id.clone());
        tokio::spawn(async move {
            if let Err(e) = producer.publish(&event).await {
                tracing::debug!(error = %e, "heartbeat not published");
            }
        });
    }

    /// Saves what the broker acknowledged, then how far the log may be resumed from (in that
    /// order: a position never runs ahead of the published state it relies on).
    fn save(&mut self) {
        if self.dirty {
            match self.state.save(self.reconciler.published()) {
                Ok(()) => self.dirty = false,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot save the published state; a restart may republish");
                    return;
                }
            }
        }
        self.save_position();
    }

    fn save_position(&mut self) {
        let Some(follow) = &mut self.binlog else { return };
        let Some(p) = self.tracker.safe() else { return };
        if follow.saved.as_ref() == Some(&p) {
            return;
        }
        match follow.store.save(&p) {
            Ok(()) => follow.saved = Some(p),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot save the binary log position; a restart resumes from an older one")
            }
        }
    }

    /// Flushes what is in flight (at most 10 s) and saves what the broker acknowledged.
    fn stop(mut self) -> anyhow::Result<()> {
        tracing::info!("stopping: flushing events and saving state");
        let _ = self.producer.flush(Duration::from_secs(10));
        while let Ok(d) = self.deliveries.try_recv() {
            self.tracker.delivered(d.seq, d.result.is_ok());
            if d.result.is_ok() {
                self.reconciler.acknowledged(d.repo, d.target);
            }
        }
        self.state.save(self.reconciler.published())?;
        self.save_position();
        Ok(())
    }
}

/// Starts the stream task: from the saved position when the topic's state is known too
/// (`resume`), else from now after a full read.
fn start_following(source: BinlogSource, primary: &PrimaryConfig, resume: bool) -> Follow {
    let store = PositionStore::new(&primary.state_dir, &source.identity());
    let saved = if resume { store.load() } else { None };
    if let Some(p) = &saved {
        tracing::info!(position = %p, "resuming the binary log");
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(source.follow(saved.clone(), tx));
    Follow {
        rx: Some(rx),
        store,
        last_seen: None,
        saved,
        full_read_owed: false,
    }
}

/// The next stream message; never, without a stream.
async fn next_msg(stream: &mut Option<mpsc::UnboundedReceiver<StreamMsg>>) -> Option<StreamMsg> {
    match stream {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends one event in the background and reports its fate to the loop.
fn spawn_publish(
    producer: &Arc<EventProducer>,
    node: &str,
    seq: u64,
    intent: Intent,
    source: DetectionSource,
    tx: mpsc::UnboundedSender<Delivery>,
) {
    let event = match intent.target {
        Target::Head(head) => RepoUpdate::update(intent.repo, head, intent.previous, node, source),
        Target::Deleted => RepoUpdate::delete(intent.repo, intent.previous, node, source),
    };
    let producer = producer.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let result = producer.publish(&event).await;
        let result = match result {
            Ok(_) => {
                events::EventPublished {
                    repo: intent.repo,
                    kind: event.kind,
                    took: started.elapsed(),
                }
                .emit();
                Ok(())
            }
            Err(e) => {
                events::PublishFailed {
                    repo: intent.repo,
                    error: &e,
                }
                .emit();
                Err(e.to_string())
            }
        };
        let _ = tx.send(Delivery {
            seq,
            repo: intent.repo,
            target: intent.target,
            result,
        });
    });
}

/// Seconds from the commit (its ctime) to its detection: how far behind the primary is.
fn record_detection_latency(store: &ObjectStore, intent: &Intent) {
    let Target::Head(head) = intent.target else { return };
    let Ok(bytes) = store.read(ObjectKind::Commit, &intent.repo, &head) else {
        return;
    };
    let Ok(commit) = Commit::parse(&bytes) else { return };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    events::ChangeDetected {
        seconds_since_commit: now - commit.ctime as f64,
    }
    .emit();
}
