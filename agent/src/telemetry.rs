//! Prometheus `/metrics` and `/healthz`, served on `metrics_listen`.
//!
//! Health is a set of named dependencies (broker, database, primary…), each remembering when it
//! last worked. `/healthz` answers 503 naming every dependency that has failed for longer than
//! its grace period, so a blip does not page anyone but an outage does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::internal_events::{describe_all, MetricKind, METRICS};

/// Bucket bounds of every histogram, in seconds: from a fast API request to an hour-long first
/// sync of a large library.
const BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// The exporter's settings: every histogram of the catalogue gets [`BUCKETS`] (without them the
/// exporter writes summaries, which cannot be aggregated across processes).
pub fn prometheus_builder() -> anyhow::Result<PrometheusBuilder> {
    let mut builder = PrometheusBuilder::new();
    for m in METRICS.iter().filter(|m| m.kind == MetricKind::Histogram) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(m.name.into()), BUCKETS)
            .context("configuring Prometheus buckets")?;
    }
    Ok(builder)
}

/// Installs the global Prometheus recorder (once per process) and describes every catalogued
/// metric to it.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = prometheus_builder()?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe_all();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

#[derive(Debug)]
struct Dependency {
    grace: Duration,
    failing_since: Option<Instant>,
    last_error: Option<String>,
}

/// Shared health state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    deps: Arc<Mutex<BTreeMap<&'static str, Dependency>>>,
}

impl Health {
    /// Registers a dependency that may fail for `grace` before the process is unhealthy.
    pub fn register(&self, name: &'static str, grace: Duration) {
        self.deps.lock().expect("health lock").insert(
            name,
            Dependency {
                grace,
                failing_since: None,
                last_error: None,
            },
        );
    }

    pub fn ok(&self, name: &'static str) {
        if let Some(d) = self.deps.lock().expect("health lock").get_mut(name) {
            d.failing_since = None;
            d.last_error = None;
        }
    }

    pub fn failed(&self, name: &'static str, error: impl ToString) {
        if let Some(d) = self.deps.lock().expect("health lock").get_mut(name) {
            d.failing_since.get_or_insert_with(Instant::now);
            d.last_error = Some(error.to_string());
        }
    }

    /// Every dependency failing past its grace period, with its error.
    pub fn problems(&self) -> Vec<String> {
        let deps = self.deps.lock().expect("health lock");
        deps.iter()
            .filter_map(|(name, d)| {
                let since = d.failing_since?;
                (since.elapsed() >= d.grace).then(|| {
                    format!(
                        "{name} failing for {}s: {}",
                        since.elapsed().as_secs(),
                        d.last_error.as_deref().unwrap_or("unknown error")
                    )
                })
            })
            .collect()
    }
}

#[derive(Clone)]
struct TelemetryState {
    prometheus: PrometheusHandle,
    health: Health,
}

/// Serves `/metrics` and `/healthz` on `listen` until the process ends.
pub async fn serve(listen: &str, prometheus: PrometheusHandle, health: Health) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(TelemetryState { prometheus, health });
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on metrics_listen = {listen:?} (address in use, or not an address of this host)")
    })?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(addr)
}

async fn metrics(State(s): State<TelemetryState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.prometheus.render(),
    )
}

async fn healthz(State(s): State<TelemetryState>) -> impl IntoResponse {
    let problems = s.health.problems();
    if problems.is_empty() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy\n{}\n", problems.join("\n")),
        )
    }
}
