//! The HTTPS (mutual TLS) and plain HTTP listeners.
//!
//! A hand-rolled tokio-rustls accept loop rather than `axum::serve`, because the application
//! needs the client certificate of every request (the platform's only authentication), and we
//! want handshake failures under our control: a peer without a valid certificate is logged at
//! debug level and counted, never a panic and never a log flood at `info`.
//!
//! Throughput matters (the target is thousands of SOAP requests per second with keep-alive on two
//! cores), so per connection we do one `Arc` clone of the router and of the peer chain, and per
//! request one extension insert. Connections run in a `JoinSet` owned by the accept loop, so
//! dropping the [`ServerHandle`] aborts everything and [`ServerHandle::shutdown`] can drain.

use crate::tls::PeerCerts;
use anyhow::{Context, Result};
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A peer gets this long to finish the TLS handshake; a stalled peer must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`ServerHandle::shutdown`] lets open requests finish before cutting connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters of one listener, for the inspection API and tests.
#[derive(Debug, Default)]
pub struct ServerStats {
    connections: AtomicU64,
    handshake_failures: AtomicU64,
}

impl ServerStats {
    /// TCP connections accepted (including those whose handshake later failed).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// TLS handshakes that failed or timed out (no/untrusted client certificate, wrong protocol…).
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }
}

/// A running listener. Dropping it stops the listener and aborts its connections at once;
/// [`ServerHandle::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    stats: Arc<ServerStats>,
}

impl ServerHandle {
    /// The bound address (with the real port when the listener was asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Stops accepting, lets requests in progress finish (idle keep-alive connections are closed
    /// at once), and after a few seconds cuts whatever is left.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            // The loop only ends by our signal or a panic inside it; either way we are done.
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting the loop drops its JoinSet, which aborts every connection task with it.
            task.abort();
        }
    }
}

/// Serves `router` over HTTPS on `listen`, with the client chain of each connection available to
/// handlers as `axum::Extension<PeerCerts>`.
pub async fn serve_https(
    listen: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
) -> Result<ServerHandle> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    spawn_loop(
        listen,
        router,
        "https",
        move |tcp, peer, router, builder, stats, stop| {
            let acceptor = acceptor.clone();
            async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let chain: Vec<_> = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default();
                let peer_certs = PeerCerts(Arc::new(chain));
                serve_connection(tls, peer, router, Some(peer_certs), builder, stop).await;
            }
        },
    )
    .await
}

/// Serves `router` over plain HTTP on `listen` (the inspection API; loopback only by config).
pub async fn serve_http(listen: SocketAddr, router: axum::Router) -> Result<ServerHandle> {
    spawn_loop(
        listen,
        router,
        "http",
        |tcp, peer, router, builder, _stats, stop| {
            serve_connection(tcp, peer, router, None, builder, stop)
        },
    )
    .await
}

type Builder = Arc<auto::Builder<TokioExecutor>>;

async fn spawn_loop<F, Fut>(
    listen: SocketAddr,
    router: axum::Router,
    scheme: &'static str,
    on_connection: F,
) -> Result<ServerHandle>
where
    F: Fn(
            TcpStream,
            SocketAddr,
            axum::Router,
            Builder,
            Arc<ServerStats>,
            watch::Receiver<bool>,
        ) -> Fut
        + Send
        + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} ({scheme})"))?;
    let local_addr = listener.local_addr().context("listener address")?;
    let (stop, stop_rx) = watch::channel(false);
    let stats = Arc::new(ServerStats::default());

    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer lets hyper enforce its header-read timeout, so idle or slow peers are dropped
    // instead of pinning a connection task forever.
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    let builder: Builder = Arc::new(builder);

    let loop_stats = stats.clone();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        let mut stop_rx = stop_rx;
        loop {
            tokio::select! {
                _ = stop_rx.changed() => break,
                // Reap finished connections so the set does not grow with every client.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        loop_stats.connections.fetch_add(1, Ordering::Relaxed);
                        // SOAP is request/response on one connection: without NODELAY, Nagle and
                        // delayed ACKs add tens of milliseconds to every keep-alive round trip.
                        let _ = tcp.set_nodelay(true);
                        connections.spawn(on_connection(
                            tcp,
                            peer,
                            router.clone(),
                            builder.clone(),
                            loop_stats.clone(),
                            stop_rx.clone(),
                        ));
                    }
                    Err(e) => {
                        // Typically EMFILE; back off briefly instead of spinning on the error.
                        tracing::warn!(%local_addr, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        // Connections saw the same signal and are finishing their current request.
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::debug!(%local_addr, left = connections.len(), "cutting connections after drain timeout");
            connections.shutdown().await;
        }
        tracing::debug!(%local_addr, "listener stopped");
    });
    tracing::debug!(%local_addr, scheme, "listening");
    Ok(ServerHandle {
        local_addr,
        stop,
        task: Some(task),
        stats,
    })
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: axum::Router,
    peer_certs: Option<PeerCerts>,
    builder: Builder,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Inserting the extension per request (instead of `router.layer(Extension(..))` per
    // connection) keeps connection setup to an Arc clone: layering rebuilds every route.
    let inner = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        if let Some(certs) = &peer_certs {
            req.extensions_mut().insert(certs.clone());
        }
        inner.call(req)
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Mostly peers that vanish mid-request; interesting when debugging clients only.
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
