//! How the object API serves, before any request reaches a handler: slow or silent connections
//! are closed within the header time limit, connections past the cap are closed at once, and
//! HTTPS works with a backup that pins the primary's CA (and refuses any other certificate).

use std::path::Path;
use std::time::{Duration, Instant};

use seaf_backup::backup::client::PrimaryClient;
use seaf_backup::backup::replicate::RemoteError;
use seaf_backup::primary::api::{self, ApiState, ServerOptions};
use seaf_seafile::SeafileDb;
use support::e2e::TOKEN;
use support::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serve(fx: &Fixture, options: ServerOptions) -> std::net::SocketAddr {
    let db = SeafileDb::connect(&fx.database_url()).await.unwrap();
    api::serve("127.0.0.1:0", ApiState::new(fx.store(), db, TOKEN), options)
        .await
        .unwrap()
}

/// How long until the server closes `conn` (reads until EOF or a reset).
async fn closed_after(mut conn: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, conn.read_to_end(&mut buf)).await;
    started.elapsed()
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_within_the_header_timeout() {
    let Some(fx) = Fixture::unpack() else { return };
    let header_timeout = Duration::from_secs(1);
    let addr = serve(
        &fx,
        ServerOptions {
            header_timeout,
            ..ServerOptions::default()
        },
    )
    .await;
    let idle = TcpStream::connect(addr).await.unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/v1/repos HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (idle, slow) = tokio::join!(
        closed_after(idle, Duration::from_secs(30)),
        closed_after(slow, Duration::from_secs(30))
    );
    for (what, took) in [("an idle connection", idle), ("a slow header", slow)] {
        assert!(
            took >= header_timeout / 2 && took < header_timeout * 5,
            "{what} was closed after {took:?} (header timeout {header_timeout:?})"
        );
    }
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_accept() {
    let Some(fx) = Fixture::unpack() else { return };
    let options = ServerOptions {
        header_timeout: Duration::from_secs(20),
        max_connections: 2,
        ..ServerOptions::default()
    };
    let addr = serve(&fx, options).await;
    let _held = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    // The two held connections are accepted before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = TcpStream::connect(addr).await.unwrap();
    let took = closed_after(third, Duration::from_secs(15)).await;
    assert!(
        took < Duration::from_secs(5),
        "the connection past the cap stayed open {took:?}"
    );
}

/// A CA and a certificate for 127.0.0.1 it signed, as PEM files in `dir`.
fn certificates(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[tokio::test]
async fn https_with_a_pinned_ca_and_nothing_else() {
    let Some(fx) = Fixture::unpack() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), "primary");
    let (other_ca, _, _) = certificates(dir.path(), "other");
    let options = ServerOptions {
        tls: Some((cert, key)),
        ..ServerOptions::default()
    };
    let addr = serve(&fx, options).await;
    let url = format!("https://{addr}");

    let pinned = PrimaryClient::new(&url, TOKEN, Some(&ca)).unwrap();
    let heads = pinned.all_heads().await.expect("the pinned CA is trusted");
    assert!(!heads.is_empty(), "the fixture's libraries are listed over HTTPS");

    for (what, client) in [
        ("another CA", PrimaryClient::new(&url, TOKEN, Some(&other_ca)).unwrap()),
        ("the system's roots", PrimaryClient::new(&url, TOKEN, None).unwrap()),
    ] {
        let err = client.all_heads().await.expect_err(what);
        assert!(matches!(err, RemoteError::Unreachable { .. }), "{what}: {err}");
    }
    // Plain HTTP to the HTTPS port gets nothing.
    let plain = PrimaryClient::new(&format!("http://{addr}"), TOKEN, None).unwrap();
    assert!(plain.all_heads().await.is_err());
}
