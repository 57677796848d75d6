//! The one Confluent Schema Registry call seaf-backup needs: register `schemas/repo_update.avsc`
//! under the topic's value subject and learn its id.
//!
//! Registering is idempotent on the registry side (the same schema under the same subject gets
//! the same id back), so both roles simply register at start-up: no separate "look up" path, and
//! an incompatible schema change fails loudly before any event is written.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use crate::codec::{Codec, SCHEMA_JSON};
use crate::settings::KafkaSettings;

/// The registry's own media type (accepted and sent).
pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";

/// How often a registration answered with a server error is tried again.
const SERVER_ERROR_RETRIES: usize = 2;

/// How long one registry request may take before it is reported as unreachable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The subject Confluent's default `TopicNameStrategy` uses for a topic's message values.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

impl Codec {
    /// The codec both roles use with `settings`: the Confluent wire format when
    /// `schema_registry_url` is set, after registering the schema there (so both roles learn the
    /// same id, and an incompatible schema fails at start rather than at the first event), else
    /// Avro single-object encoding.
    pub async fn for_settings(settings: &KafkaSettings) -> Result<Codec, RegistryError> {
        let Some(url) = &settings.schema_registry_url else {
            return Ok(Codec::single_object());
        };
        let registry = SchemaRegistry::new(url)?;
        let id = registry.register_repo_update(&settings.topic).await?;
        tracing::info!(schema_id = id, registry = %registry.url(), "registered the RepoUpdate schema");
        Ok(Codec::confluent(id))
    }
}

/// A Confluent Schema Registry (or a compatible one: Karapace, Redpanda, Apicurio's ccompat API).
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    base: Url,
    http: reqwest::Client,
}

/// Why the registry did not give us an id.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry URL {url:?} is not a usable http(s) URL: {reason}; check kafka.schema_registry_url")]
    BadUrl { url: String, reason: String },
    #[error("could not reach the schema registry at {url}: {detail}. Is it running, and is kafka.schema_registry_url right?")]
    Unreachable { url: String, detail: String },
    #[error(
        "the schema registry at {url} refused schemas/repo_update.avsc for subject {subject:?}: \
         HTTP {status}{registry_message}. {hint}"
    )]
    Refused {
        url: String,
        subject: String,
        status: u16,
        registry_message: String,
        hint: &'static str,
    },
    #[error("the schema registry at {url} answered something that is not a schema id ({detail}); is that URL really a schema registry?")]
    BadResponse { url: String, detail: String },
}

impl SchemaRegistry {
    /// A client for the registry at `url` (for example `http://registry:8081`; a path prefix is
    /// kept, user:password in the URL becomes basic auth).
    pub fn new(url: &str) -> Result<Self, RegistryError> {
        Self::with_timeout(url, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, RegistryError> {
        let bad = |reason: String| RegistryError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let mut base = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(format!("scheme {:?} is not http or https", base.scheme())));
        }
        if base.cannot_be_a_base() {
            return Err(bad("it cannot have a path".into()));
        }
        // Treat the URL as a directory whatever its spelling, so `join`ing keeps a path prefix.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| bad(format!("HTTP client set-up failed: {e}")))?;
        Ok(SchemaRegistry { base, http })
    }

    /// The registry's base URL, without credentials (safe to log).
    pub fn url(&self) -> String {
        redact(&self.base)
    }

    /// Registers `schemas/repo_update.avsc` for `topic`'s values; returns its id.
    pub async fn register_repo_update(&self, topic: &str) -> Result<u32, RegistryError> {
        self.register(&value_subject(topic), SCHEMA_JSON).await
    }

    /// `POST /subjects/{subject}/versions` with `{"schema": schema_json}`; returns the schema id
    /// (the same id again if the subject already has this schema).
    ///
    /// An answer of 5xx is tried again, twice, after 0.5 s and 1 s: registering is idempotent,
    /// and registries answer 500 to one of two first registrations of a schema at the same
    /// moment (seen with Apicurio 2.1 when both roles start together).
    pub async fn register(&self, subject: &str, schema_json: &str) -> Result<u32, RegistryError> {
        let mut pause = Duration::from_millis(500);
        for _ in 0..SERVER_ERROR_RETRIES {
            match self.register_once(subject, schema_json).await {
                Err(RegistryError::Refused { status: 500..=599, .. }) => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                done => return done,
            }
        }
        self.register_once(subject, schema_json).await
    }

    async fn register_once(&self, subject: &str, schema_json: &str) -> Result<u32, RegistryError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| RegistryError::BadUrl {
                url: self.url(),
                reason: "it cannot have a path".into(),
            })?
            .pop_if_empty()
            .extend(["subjects", subject, "versions"]);
        let shown = redact(&url);

        // reqwest turns user:password in the URL into basic auth. The content type is set
        // before `.json()`, which then keeps it instead of writing application/json.
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, CONTENT_TYPE_V1)
            .header(ACCEPT, format!("{CONTENT_TYPE_V1}, application/json"))
            .json(&serde_json::json!({ "schema": schema_json }))
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: shown.clone(),
                detail: error_chain(&e),
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| RegistryError::Unreachable {
            url: shown.clone(),
            detail: error_chain(&e),
        })?;

        if !status.is_success() {
            return Err(RegistryError::Refused {
                url: shown,
                subject: subject.to_owned(),
                status: status.as_u16(),
                registry_message: registry_message(&body),
                hint: hint(status),
            });
        }
        #[derive(serde::Deserialize)]
        struct Registered {
            id: u32,
        }
        serde_json::from_slice::<Registered>(&body)
            .map(|r| r.id)
            .map_err(|e| RegistryError::BadResponse {
                url: shown,
                detail: format!(
                    "{e}; body starts {:?}",
                    String::from_utf8_lossy(&body[..body.len().min(120)])
                ),
            })
    }
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "Check the credentials in kafka.schema_registry_url",
        404 => "Is the URL the registry's root (no /subjects suffix)?",
        409 => "The subject's compatibility rule rejects this schema: make the change compatible (see schemas/README.md) or change the subject's compatibility level",
        422 => "The registry considers the schema invalid; was schemas/repo_update.avsc edited by hand?",
        500..=599 => "The registry has a problem of its own; see its logs and retry",
        _ => "See the registry's logs",
    }
}

/// `: <message> (error code N)` from a registry error body, or an excerpt of a foreign body.
fn registry_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct RegistryErrorBody {
        error_code: Option<i64>,
        message: Option<String>,
    }
    match serde_json::from_slice::<RegistryErrorBody>(body) {
        Ok(RegistryErrorBody {
            message: Some(m),
            error_code: Some(c),
        }) => format!(": {m} (error code {c})"),
        Ok(RegistryErrorBody {
            message: Some(m),
            error_code: None,
        }) => format!(": {m}"),
        _ if body.is_empty() => String::new(),
        _ => format!(": {:?}", String::from_utf8_lossy(&body[..body.len().min(200)])),
    }
}

fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// reqwest's top-level message is "error sending request"; the cause is further down.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
