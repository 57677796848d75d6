//! Serving the object API: our own accept loop over hyper, so that what reaches the router is
//! bounded before any authentication — a connection cap, a time limit for a request's headers
//! (which also closes connections that sit idle), a time limit for producing an answer — and so
//! that the API can speak HTTPS itself (rustls) for operators without a reverse proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::internal_events::api::ConnectionRefused;
use crate::internal_events::InternalEvent;

/// How the object API is served.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A request's headers must arrive within this; a connection idle this long is closed.
    pub header_timeout: Duration,
    /// An answer must be ready within this (a streamed block's body may take longer).
    pub request_timeout: Duration,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// Certificate chain and private key (PEM) to serve HTTPS; plain HTTP without.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 512,
            tls: None,
        }
    }
}

/// Binds `listen` and serves `app` until the process ends.
pub async fn serve(listen: &str, app: Router, options: ServerOptions) -> anyhow::Result<SocketAddr> {
    let tls = options
        .tls
        .as_ref()
        .map(|(cert, key)| acceptor(cert, key))
        .transpose()?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on [primary] listen = {listen:?} (address in use?)"))?;
    let addr = listener.local_addr()?;
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        options.request_timeout,
    ));
    tokio::spawn(accept_loop(listener, app, tls, options));
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, app: Router, tls: Option<TlsAcceptor>, options: ServerOptions) {
    let open = Arc::new(Semaphore::new(options.max_connections));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "the object API cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            ConnectionRefused {
                peer,
                open: options.max_connections,
            }
            .emit();
            continue;
        };
        let (app, tls, header_timeout) = (app.clone(), tls.clone(), options.header_timeout);
        tokio::spawn(async move {
            connection(tcp, app, tls, header_timeout).await;
            drop(permit);
        });
    }
}

/// One connection: TLS first when configured (within the header time limit), then HTTP/1.1.
async fn connection(tcp: TcpStream, app: Router, tls: Option<TlsAcceptor>, header_timeout: Duration) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => http(tcp, app, header_timeout).await,
        Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => http(stream, app, header_timeout).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

async fn http<IO>(io: IO, app: Router, header_timeout: Duration)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "object API connection ended");
    }
}

/// The TLS acceptor of a certificate chain and key in PEM files.
fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .with_context(|| {
            format!(
                "[primary] tls_cert = {}: not a readable PEM certificate chain",
                cert.display()
            )
        })?;
    anyhow::ensure!(
        !certs.is_empty(),
        "[primary] tls_cert = {}: no certificate in it",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("[primary] tls_key = {}: not a readable PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("[primary] tls_cert and tls_key do not belong together")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
