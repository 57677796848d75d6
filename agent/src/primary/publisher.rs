//! The primary's loop: poll `Branch`, publish what the topic lacks, take the broker's
//! acknowledgements, save what was published, send heartbeats, and stop cleanly. Each happening
//! is one method of [`Publisher`]; the decisions are the [`Reconciler`]'s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use seaf_kafka::{Codec, DetectionSource, EventProducer, KafkaSettings, RepoUpdate, TopicIdentity};
use seaf_seafile::{Commit, ObjectId, ObjectKind, ObjectStore, RepoId, SeafileDb};
use tokio::sync::mpsc;

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
        })
    }

    /// Libraries whose published head was remembered from the last run.
    pub(super) fn remembered(&self) -> usize {
        self.reconciler.published().len()
    }

    /// Runs until `shutdown` resolves, then flushes and saves.
    pub(super) async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut poll = tokio::time::interval(self.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(self.heartbeat_interval);
        let mut save = tokio::time::interval(Duration::from_secs(1));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = poll.tick() => self.poll().await,
                Some(d) = self.deliveries.recv() => self.delivered(d)?,
                _ = heartbeat.tick() => self.heartbeat(),
                _ = save.tick(), if self.dirty => self.save(),
                _ = &mut shutdown => return self.stop(),
            }
        }
    }

    /// Reads `Branch` and publishes what the topic lacks.
    async fn poll(&mut self) {
        let started = Instant::now();
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
                    if !intent.first_seen {
                        record_detection_latency(&self.store, &intent);
                    }
                    spawn_publish(&self.producer, &self.node_id, intent, source, self.tx.clone());
                }
                self.first_poll = false;
            }
            Err(e) => {
                self.health.failed("database", &e);
                events::BranchReadFailed { error: &e }.emit();
            }
        }
        let in_flight = self.reconciler.in_flight();
        events::BranchPolled {
            took: started.elapsed(),
            in_flight,
        }
        .emit();
    }

    /// The broker's answer to one publish.
    fn delivered(&mut self, d: Delivery) -> anyhow::Result<()> {
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

    fn save(&mut self) {
        match self.state.save(self.reconciler.published()) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot save the published state; a restart may republish")
            }
        }
    }

    /// Flushes what is in flight (at most 10 s) and saves what the broker acknowledged.
    fn stop(mut self) -> anyhow::Result<()> {
        tracing::info!("stopping: flushing events and saving state");
        let _ = self.producer.flush(Duration::from_secs(10));
        while let Ok(d) = self.deliveries.try_recv() {
            if d.result.is_ok() {
                self.reconciler.acknowledged(d.repo, d.target);
            }
        }
        self.state.save(self.reconciler.published())
    }
}

/// Sends one event in the background and reports its fate to the loop.
fn spawn_publish(
    producer: &Arc<EventProducer>,
    node: &str,
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
