//! The primary role: beside a running Seafile server, publish every library change to Kafka and
//! serve library objects to backups.
//!
//! One loop ([`publisher`]): every `poll_interval` it reads the `Branch` table, asks the
//! [`Reconciler`] what the topic is missing, and publishes that; acknowledgements come back on a
//! channel and update what is known to be published, which is saved so a restart does not
//! republish. On MySQL/MariaDB it follows the server's binary log instead ([`binlog`]): each
//! committed change of `Branch` is published at once, and the full read runs only every
//! `full_read_interval` as a safety net. On PostgreSQL and SQLite a poll first asks the
//! database's change marker ([`quiet`]) and skips the read when nothing was committed. The object API and the metrics server run beside it.

pub mod api;
pub mod binlog;
mod publisher;
mod quiet;
pub mod reconcile;
pub mod state;

use std::time::Duration;

use anyhow::Context;
use seaf_kafka::{Codec, KafkaSettings};
use seaf_seafile::{ObjectStore, SeafileDb};

use crate::config::{ChangeCapture, Config, PrimaryConfig};
use crate::internal_events::{primary as events, InternalEvent};
use crate::telemetry::{self, Health};
use publisher::Publisher;

/// Connections to Seafile's database. The `rows` requests of a backup's workers come at once
/// (a first copy asks for every library's), and with 4 connections they queued: at 32 workers
/// the request took 123 ms on average, most of it waiting for a connection.
const DB_CONNECTIONS: u32 = 16;

/// How long the broker or database may fail before `/healthz` reports unhealthy.
const HEALTH_GRACE: Duration = Duration::from_secs(30);

/// Runs the primary role until the process is stopped.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let primary = config.primary()?.clone();
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
    let db = SeafileDb::connect_with(&primary.database_url, DB_CONNECTIONS)
        .await
        .with_context(|| format!("{}: [primary] database_url", config.source))?;
    let api_addr = serve_api(&primary, config.sync_token()?, &store, &db).await?;
    let settings = config.kafka.clone();
    let codec = Codec::for_settings(&settings).await?;
    // The topic first, at once: reading its identity must not delay creating it.
    tokio::spawn(ensure_topic_until_done(settings.clone(), health.clone()));
    // Briefly: with the brokers away the primary starts anyway, trusting its state file.
    let quick = KafkaSettings {
        timeout: Duration::from_secs(5),
        ..settings.clone()
    };
    let identity = match seaf_kafka::topic_identity(&quick).await {
        Ok(identity) => Some(identity),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether the topic is the one last published to; trusting the state file");
            None
        }
    };
    let binlog = choose_capture(&primary)
        .await
        .with_context(|| format!("{}: [primary] change_capture", config.source))?;
    let publisher = Publisher::new(&primary, settings, codec, store, db, health, identity)?.following(binlog, &primary);
    tracing::info!(
        api = %api_addr, metrics = %metrics_addr, topic = %config.kafka.topic, brokers = %config.kafka.brokers,
        remembered = publisher.remembered(), "primary started"
    );
    publisher.run(crate::shutdown::signal()).await
}

/// The binary log source when this run follows it; `None` to poll. `change_capture = "binlog"`
/// fails here when the server cannot provide it; `"auto"` then polls with a warning that says
/// what to set.
async fn choose_capture(primary: &PrimaryConfig) -> anyhow::Result<Option<binlog::BinlogSource>> {
    let url = &primary.database_url;
    let mysql = url.starts_with("mysql:") || url.starts_with("mariadb:");
    let wanted = primary.change_capture;
    if wanted == ChangeCapture::Poll || (!mysql && wanted == ChangeCapture::Auto) {
        events::ChangeCaptureChosen {
            binlog: false,
            why_not: None,
        }
        .emit();
        return Ok(None);
    }
    anyhow::ensure!(
        mysql,
        "\"binlog\" needs MySQL or MariaDB, and database_url is not mysql://…; PostgreSQL and SQLite are polled: set change_capture = \"auto\" or \"poll\""
    );
    let server_id = primary.binlog_server_id.unwrap_or_else(random_server_id);
    let source = binlog::BinlogSource::new(url.replacen("mariadb:", "mysql:", 1).as_str(), server_id)?;
    let problem = match source.check().await {
        Ok(Ok(())) => None,
        Ok(Err(what_to_set)) => Some(what_to_set),
        Err(e) => Some(format!("cannot check the binary log settings: {e:#}")),
    };
    match (problem, wanted) {
        (None, _) => {
            events::ChangeCaptureChosen {
                binlog: true,
                why_not: None,
            }
            .emit();
            Ok(Some(source))
        }
        (Some(problem), ChangeCapture::Binlog) => anyhow::bail!("{problem}"),
        (Some(problem), _) => {
            events::ChangeCaptureChosen {
                binlog: false,
                why_not: Some(&problem),
            }
            .emit();
            Ok(None)
        }
    }
}

/// A replica id unlikely to meet another's (replicas of one server need distinct ids).
fn random_server_id() -> u32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) | 0x8000_0000
}

/// The object API, as `[primary]` configures it.
async fn serve_api(
    primary: &PrimaryConfig,
    token: &str,
    store: &ObjectStore,
    db: &SeafileDb,
) -> anyhow::Result<std::net::SocketAddr> {
    let options = api::ServerOptions {
        header_timeout: primary.api_header_timeout,
        request_timeout: primary.api_request_timeout,
        max_connections: primary.api_max_connections.max(1),
        tls: primary.tls()?,
    };
    api::serve(
        &primary.listen,
        api::ApiState::new(store.clone(), db.clone(), token),
        options,
    )
    .await
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
