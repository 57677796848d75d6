//! The schema registry client against a small registry served over real HTTP on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use seaf_kafka::codec::SCHEMA_JSON;
use seaf_kafka::registry::CONTENT_TYPE_V1;
use seaf_kafka::{RegistryError, SchemaRegistry};

/// What the fake registry saw and knows: (subject, schema) -> id, and the last auth header.
#[derive(Default)]
struct Registry {
    ids: HashMap<(String, String), u32>,
    last_auth: Option<String>,
}

type Shared = Arc<Mutex<Registry>>;

/// Follows the Confluent API: same schema under the same subject, same id.
async fn register(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut state = state.lock().unwrap();
    state.last_auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some(CONTENT_TYPE_V1) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            r#"{"error_code":415,"message":"wrong content type"}"#.to_owned(),
        );
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error_code":400,"message":"not json"}"#.to_owned(),
        );
    };
    let Some(schema) = body["schema"].as_str() else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error_code":42201,"message":"Invalid schema"}"#.to_owned(),
        );
    };
    let next = state.ids.len() as u32 + 7;
    let id = *state.ids.entry((subject, schema.to_owned())).or_insert(next);
    (StatusCode::OK, format!(r#"{{"id":{id}}}"#))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn registry_app(state: Shared) -> Router {
    Router::new()
        .route("/subjects/{subject}/versions", post(register))
        .with_state(state)
}

#[tokio::test]
async fn registers_the_schema_under_the_topic_value_subject() {
    let state = Shared::default();
    let url = serve(registry_app(state.clone())).await;
    let registry = SchemaRegistry::new(&url).unwrap();

    let id = registry.register_repo_update("seafile-repo-updates").await.unwrap();
    assert_eq!(id, 7);
    // Idempotent: the same schema again gets the same id.
    assert_eq!(registry.register_repo_update("seafile-repo-updates").await.unwrap(), 7);
    // Another topic is another subject.
    assert_eq!(registry.register_repo_update("other").await.unwrap(), 8);

    let state = state.lock().unwrap();
    let key = ("seafile-repo-updates-value".to_owned(), SCHEMA_JSON.to_owned());
    assert_eq!(
        state.ids.get(&key),
        Some(&7),
        "the schema text is sent unchanged: {:?}",
        state.ids.keys()
    );
    assert_eq!(state.last_auth, None);
}

#[tokio::test]
async fn keeps_a_path_prefix_and_sends_url_credentials_as_basic_auth() {
    let state = Shared::default();
    let url = serve(Router::new().nest("/registry", registry_app(state.clone()))).await;
    let with_auth = url.replacen("http://", "http://seaf:s3cret@", 1);
    let registry = SchemaRegistry::new(&format!("{with_auth}/registry")).unwrap();
    assert!(
        !registry.url().contains("s3cret"),
        "credentials leak into logs: {}",
        registry.url()
    );
    assert_eq!(registry.register_repo_update("t").await.unwrap(), 7);
    // base64("seaf:s3cret")
    assert_eq!(
        state.lock().unwrap().last_auth.as_deref(),
        Some("Basic c2VhZjpzM2NyZXQ=")
    );
}

#[tokio::test]
async fn a_refusal_names_the_url_status_and_registry_message() {
    let app = Router::new().route(
        "/subjects/{subject}/versions",
        post(|| async {
            (
                StatusCode::CONFLICT,
                r#"{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}"#,
            )
        }),
    );
    let url = serve(app).await;
    let err = SchemaRegistry::new(&url)
        .unwrap()
        .register_repo_update("t")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Refused { status: 409, .. }), "{err:?}");
    let text = err.to_string();
    for needle in [
        url.as_str(),
        "\"t-value\"",
        "HTTP 409",
        "incompatible with an earlier schema",
        "compatib",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[tokio::test]
async fn a_server_error_with_a_foreign_body_is_reported() {
    let app = Router::new().route(
        "/subjects/{subject}/versions",
        post(|| async { (StatusCode::BAD_GATEWAY, "<html>proxy error</html>") }),
    );
    let url = serve(app).await;
    let err = SchemaRegistry::new(&url)
        .unwrap()
        .register_repo_update("t")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 502") && text.contains("proxy error") && text.contains("logs"),
        "{text}"
    );
}

#[tokio::test]
async fn a_non_registry_answer_is_a_bad_response() {
    let app = Router::new().route("/subjects/{subject}/versions", post(|| async { "hello" }));
    let url = serve(app).await;
    let err = SchemaRegistry::new(&url)
        .unwrap()
        .register_repo_update("t")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("really a schema registry"), "{err}");
}

#[tokio::test]
async fn an_unreachable_registry_names_the_url() {
    // A port that was free a moment ago: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let registry = SchemaRegistry::with_timeout(&url, Duration::from_secs(5)).unwrap();
    let err = registry.register_repo_update("t").await.unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("kafka.schema_registry_url"),
        "{text}"
    );
}

#[test]
fn bad_urls_are_refused_up_front() {
    for url in ["registry:8081", "ftp://registry:8081", "not a url", "mailto:x@y"] {
        let err = SchemaRegistry::new(url).unwrap_err();
        assert!(matches!(err, RegistryError::BadUrl { .. }), "{url}: {err:?}");
        assert!(err.to_string().contains("kafka.schema_registry_url"), "{err}");
    }
}

#[tokio::test]
async fn a_server_error_is_tried_again_and_a_lasting_one_reported_after_three_tries() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flaky = calls.clone();
    // 500 to the first request (as a registry racing two first registrations does), then an id.
    let app = Router::new().route(
        "/subjects/{subject}/versions",
        post(move || {
            let n = flaky.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        r#"{"error_code":500,"message":"lock timeout"}"#,
                    )
                } else {
                    (StatusCode::OK, r#"{"id":42}"#)
                }
            }
        }),
    );
    let url = serve(app).await;
    let id = SchemaRegistry::new(&url)
        .unwrap()
        .register_repo_update("t")
        .await
        .unwrap();
    assert_eq!(id, 42);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);

    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new().route(
        "/subjects/{subject}/versions",
        post(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { (StatusCode::SERVICE_UNAVAILABLE, "down") }
        }),
    );
    let url = serve(app).await;
    let err = SchemaRegistry::new(&url)
        .unwrap()
        .register_repo_update("t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}
