//! The HTTPS (mutual TLS) and plain HTTP listeners of the simulator: the SOAP port, the
//! inspection API, and the receipt endpoints that tests and the demo stand up.
//!
//! Accepting and serving is `service_kit::listener`, the code the products' own listeners run,
//! so the simulator holds up against slow, idle or hostile peers exactly as they do (TLS
//! handshake and header timeout, body timeout, idle keep-alive close, connection limit with the
//! longest-idle connection closed to make room) with the products' default limits. What this
//! module adds is the simulator's shape around it: the client chain of each request as
//! `axum::Extension<PeerCerts>` (the platform's only authentication), and a [`ServerHandle`]
//! that stops the listener when dropped.

use crate::tls::PeerCerts;
use anyhow::{Context, Result};
use service_kit::listener::{self, Limits};
use service_kit::tls::ClientCertificates;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running listener. Dropping it stops accepting at once and closes idle connections;
/// requests in progress still get their answer. [`ServerHandle::shutdown`] also waits for them.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// The bound address (with the real port when the listener was asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in progress finish (idle keep-alive connections are closed
    /// at once), and returns when every connection has ended.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            // Ends by our signal; an error would be a panic in the loop, and we are stopping.
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // The listener closes its socket as soon as it sees the signal; connections finish on
        // their own, bounded by the listener's timeouts.
        self.stop.send_replace(true);
    }
}

/// Serves `router` over HTTPS on `listen`, with the client chain of each connection available to
/// handlers as `axum::Extension<PeerCerts>` (empty when the peer sent no certificate, which
/// only a `tls` without mandatory client authentication allows).
pub async fn serve_https(
    listen: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
) -> Result<ServerHandle> {
    // Translated once per request from the listener's own extension, so the handlers keep the
    // simulator's type (with its fingerprint and subject helpers).
    let router = router.layer(axum::middleware::map_request(
        |mut req: axum::extract::Request| async move {
            let chain = req
                .extensions()
                .get::<ClientCertificates>()
                .map(|c| c.0.clone())
                .unwrap_or_default();
            req.extensions_mut().insert(PeerCerts(chain));
            req
        },
    ));
    spawn("kombit-sim-https", listen, Some(tls), router).await
}

/// Serves `router` over plain HTTP on `listen` (the inspection API; loopback only by config).
pub async fn serve_http(listen: SocketAddr, router: axum::Router) -> Result<ServerHandle> {
    spawn("kombit-sim-http", listen, None, router).await
}

async fn spawn(
    name: &'static str,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
) -> Result<ServerHandle> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop, mut stop_rx) = watch::channel(false);
    let stopped = async move {
        // An error means the handle is gone, which also means "stop".
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    // The products' default limits: the simulator stands in for a platform that a product's
    // client must cope with, and is itself exposed to the same kinds of peers.
    let served = listener::serve(name, listen, Limits::default(), tls, router, stopped)
        .await
        .with_context(|| format!("cannot listen on {listen} ({scheme})"))?;
    tracing::debug!(local_addr = %served.addr, scheme, "listening");
    Ok(ServerHandle {
        local_addr: served.addr,
        stop,
        task: Some(served.task),
    })
}
