//! The primary role: beside a running Seafile server, publish every library change to Kafka and
//! serve library objects to backups.
//!
//! One loop: every `poll_interval` it reads the `Branch` table, asks the [`Reconciler`] what the
//! topic is missing, and publishes that; acknowledgements come back on a channel and update what
//! is known to be published, which is saved so a restart does not republish. The object API and
//! the metrics server run beside it.

pub mod api;
pub mod reconcile;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use seaf_kafka::{Codec, DetectionSource, EventProducer, KafkaSettings, RepoUpdate};
use seaf_seafile::{Commit, ObjectId, ObjectKind, ObjectStore, RepoId, SeafileDb};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::telemetry::{self, Health};
use reconcile::{Intent, Reconciler, Target};
use state::PublishedState;

use crate::internal_events::{primary as events, InternalEvent};

/// Most events awaiting the broker's acknowledgement. Beyond this, changes wait in the
/// `Branch` table itself and are sent as room frees up.
const MAX_IN_FLIGHT: usize = 20_000;

/// How long the broker or database may fail before `/healthz` reports unhealthy.
const HEALTH_GRACE: Duration = Duration::from_secs(30);

/// The outcome of one publish, reported back to the loop.
struct Delivery {
    repo: RepoId,
    target: Target,
    result: Result<(), String>,
}

/// Runs the primary role until the process is stopped.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let primary = config.primary()?.clone();
    let token = config.sync_token()?.to_string();
    let prometheus = telemetry::install_recorder()?;
    let health = Health::default();
    health.register("database", HEALTH_GRACE);
    health.register("broker", HEALTH_GRACE);
    let metrics_addr = telemetry::serve(&primary.metrics_listen, prometheus, health.clone()).await?;

    anyhow::ensure!(
        primary.seafile_data_dir.join("storage").is_dir(),
        "{}: [primary] seafile_data_dir = {} has no storage/ folder; point it at Seafile's seafile-data directory",
        config.source,
        primary.seafile_data_dir.display()
    );
    let store = ObjectStore::new(&primary.seafile_data_dir);
    let db = SeafileDb::connect(&primary.database_url)
        .await
        .with_context(|| format!("{}: [primary] database_url", config.source))?;
    let api_addr = api::serve(
        &primary.listen,
        api::ApiState::new(store.clone(), db.clone(), &token),
        api::ServerOptions {
            header_timeout: primary.api_header_timeout,
            request_timeout: primary.api_request_timeout,
            max_connections: primary.api_max_connections.max(1),
            tls: primary.tls()?,
        },
    )
    .await?;

    let settings = config.kafka.clone();
    let codec = Codec::for_settings(&config.kafka).await?;
    let mut producer = Arc::new(EventProducer::new(&settings, codec.clone())?);
    tokio::spawn(ensure_topic_until_done(settings.clone(), health.clone()));

    let state = PublishedState::new(&primary.state_dir, &settings.topic);
    let mut reconciler = Reconciler::new(state.load(), MAX_IN_FLIGHT);
    tracing::info!(
        api = %api_addr, metrics = %metrics_addr, topic = %settings.topic, brokers = %settings.brokers,
        remembered = reconciler.published().len(), "primary started"
    );

    let (tx, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
    let mut poll = tokio::time::interval(primary.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat = tokio::time::interval(primary.heartbeat_interval);
    let mut save = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = false;
    let mut first_poll = true;
    let shutdown = crate::shutdown::signal();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            _ = poll.tick() => {
                let started = Instant::now();
                match db.heads().await {
                    Ok(rows) => {
                        health.ok("database");
                        let heads: HashMap<RepoId, ObjectId> = rows.into_iter().collect();
                        events::LibrariesListed { count: heads.len() }.emit();
                        let intents = reconciler.plan(&heads);
                        for intent in intents {
                            let source = if first_poll || intent.first_seen { DetectionSource::Snapshot } else { DetectionSource::Poll };
                            if !intent.first_seen {
                                record_detection_latency(&store, &intent);
                            }
                            spawn_publish(&producer, &primary.node_id, intent, source, tx.clone());
                        }
                        first_poll = false;
                    }
                    Err(e) => {
                        health.failed("database", &e);
                        events::BranchReadFailed { error: &e }.emit();
                    }
                }
                events::BranchPolled { took: started.elapsed(), in_flight: reconciler.in_flight() }.emit();
            }
            Some(d) = deliveries.recv() => {
                match d.result {
                    Ok(()) => {
                        health.ok("broker");
                        reconciler.acknowledged(d.repo, d.target);
                        dirty = true;
                    }
                    Err(e) => {
                        health.failed("broker", &e);
                        reconciler.failed(d.repo, d.target);
                        // Only a fatal error needs a new producer (see `fatal_error`); events
                        // are idempotent, so one the old producer did deliver is a harmless
                        // duplicate when the reconciler re-plans it.
                        if let Some(fatal) = producer.fatal_error() {
                            tracing::warn!(error = %fatal, "the Kafka producer failed fatally; replacing it");
                            producer.discard_pending();
                            producer = Arc::new(EventProducer::new(&settings, codec.clone())?);
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                let producer = producer.clone();
                let event = RepoUpdate::heartbeat(primary.node_id.clone());
                tokio::spawn(async move {
                    if let Err(e) = producer.publish(&event).await {
                        tracing::debug!(error = %e, "heartbeat not published");
                    }
                });
            }
            _ = save.tick(), if dirty => {
                if let Err(e) = state.save(reconciler.published()) {
                    tracing::warn!(error = %format!("{e:#}"), "cannot save the published state; a restart may republish");
                } else {
                    dirty = false;
                }
            }
            _ = &mut shutdown => {
                tracing::info!("stopping: flushing events and saving state");
                let _ = producer.flush(Duration::from_secs(10));
                while let Ok(d) = deliveries.try_recv() {
                    if d.result.is_ok() {
                        reconciler.acknowledged(d.repo, d.target);
                    }
                }
                state.save(reconciler.published())?;
                return Ok(());
            }
        }
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

/// Creates the topic, retrying while the broker is away (the primary never exits for that).
async fn ensure_topic_until_done(settings: KafkaSettings, health: Health) {
    let mut delay = Duration::from_secs(1);
    loop {
        match seaf_kafka::ensure_topic(&settings).await {
            Ok(status) => {
                tracing::info!(topic = %settings.topic, ?status, "topic ready");
                return;
            }
            Err(e) => {
                health.failed("broker", &e);
                tracing::warn!(error = %e, "cannot create or find the topic yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
