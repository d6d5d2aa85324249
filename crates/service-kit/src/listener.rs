//! Listeners that hold up: every socket the products serve (plain HTTP, or HTTPS with client
//! certificates) is accepted and served here, so what a slow, idle or hostile peer can make a
//! server do is bounded in one place.
//!
//! - A peer gets [`Limits::header_timeout`] to finish the TLS handshake, and again to send each
//!   request's headers, counted from connecting or from the previous answer; so it is also how
//!   long an idle keep-alive connection stays open (hyper times both with one timer).
//! - A request's body must have arrived [`Limits::body_timeout`] after its headers, and an
//!   answer the peer stops taking (nothing written for as long) ends the connection.
//! - At most [`Limits::max_connections`] connections are open at once. When all are taken, the
//!   connection that has been idle longest (no request in progress: a TLS handshake, half a
//!   request line, or kept alive between requests) is closed to make room, so idle sockets
//!   cannot lock out a client with a real request; only when every connection has a request in
//!   progress does accepting wait. The limits of all listeners must fit below the process's
//!   open-file limit with [`FD_HEADROOM`] to spare; the soft limit is raised to the hard one.
//!
//! HTTP/1.1 only: every peer of these services speaks it (OS2forms, the OS2borgerPC agents, a
//! reverse proxy, Serviceplatformen's receipt client), and hyper's HTTP/1 server has the header
//! timer (its protocol-sniffing "auto" server reads the first bytes without one).

use crate::tls::ClientCertificates;
use axum::extract::ConnectInfo;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};

/// Default of `server.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default of `server.header_timeout_seconds`.
pub const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 30;
/// Default of `server.body_timeout_seconds`.
pub const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 60;
/// Open files kept free beside the listeners' connections: database connections and their
/// files, stored files, outgoing HTTPS and SFTP, logs.
pub const FD_HEADROOM: u64 = 256;
/// The most connections one listener may be configured for (the semaphore counts in `u32`).
const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

/// What one listener allows its peers (`[server]` keys in both products).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; at the limit the connection idle longest is closed for a new one.
    pub max_connections: usize,
    /// How long a peer may take to send a request's headers, and to start one on a kept-alive
    /// connection.
    pub header_timeout: Duration,
    /// How long a peer may take to send a request's body, and an answer may stall.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECONDS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECONDS),
        }
    }
}

impl Limits {
    /// From the `[server]` keys, checked; an error names the key.
    pub fn from_config(
        max_connections: usize,
        header_timeout_seconds: u64,
        body_timeout_seconds: u64,
    ) -> Result<Self, String> {
        if !(1..=MAX_CONNECTIONS_CEILING).contains(&max_connections) {
            return Err(format!(
                "server.max_connections: must be 1 to {MAX_CONNECTIONS_CEILING}, not {max_connections}"
            ));
        }
        for (key, secs) in [
            ("server.header_timeout_seconds", header_timeout_seconds),
            ("server.body_timeout_seconds", body_timeout_seconds),
        ] {
            if !(1..=86_400).contains(&secs) {
                return Err(format!("{key}: must be 1 to 86400 seconds, not {secs}"));
            }
        }
        Ok(Self {
            max_connections,
            header_timeout: Duration::from_secs(header_timeout_seconds),
            body_timeout: Duration::from_secs(body_timeout_seconds),
        })
    }
}

/// A bound listener, serving until its shutdown future resolves.
pub struct Served {
    /// The address actually bound (with the port the system chose for port 0).
    pub addr: SocketAddr,
    /// Ends once the socket is closed and every connection has finished.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a request body yields when it has not arrived within [`Limits::body_timeout`];
/// [`crate::http::Body`] answers it with 408.
#[derive(Debug)]
pub struct BodyTimedOut(pub Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "body: not received within {} seconds (server.body_timeout_seconds)",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimedOut {}

/// Binds `listen` and serves `router` on it (over TLS when `tls` is given) within `limits`
/// until `shutdown` resolves; then requests in progress finish and idle connections close.
/// `name` labels the listener in logs and metrics. Handlers find the peer's address as
/// `ConnectInfo<SocketAddr>` and, over TLS, its certificates as [`ClientCertificates`].
pub async fn serve(
    name: &'static str,
    listen: SocketAddr,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Served> {
    let descriptors = Descriptors::reserve(limits.max_connections)?;
    let socket = TcpListener::bind(listen).await?;
    let addr = socket.local_addr()?;
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let shared = Arc::new(Shared {
        name,
        limits,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        service: TowerToHyperService::new(router),
        slots: Slots::default(),
        closing: watch::channel(false).0,
        http1,
    });
    let task = tokio::spawn(async move {
        let _descriptors = descriptors;
        accept_loop(shared, socket, shutdown).await;
        Ok(())
    });
    Ok(Served { addr, task })
}

/// What the accept loop and every connection of one listener share.
struct Shared {
    name: &'static str,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: TowerToHyperService<axum::Router>,
    slots: Slots,
    /// Set once at shutdown: connections finish their request and close.
    closing: watch::Sender<bool>,
    http1: hyper::server::conn::http1::Builder,
}

async fn accept_loop(
    shared: Arc<Shared>,
    socket: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) {
    let max = shared.limits.max_connections;
    let permits = Arc::new(Semaphore::new(max));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or memory: back off instead of spinning.
                    tracing::warn!(listener = shared.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if shared.slots.close_longest_idle() {
                    metrics::counter!("http_connections_closed_total", "listener" => shared.name, "reason" => "make_room").increment(1);
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        tokio::spawn(connection(shared.clone(), tcp, peer, permit));
    }
    drop(socket);
    shared.closing.send_replace(true);
    shared.slots.close_all_idle();
    // Every connection holds a permit until it has finished.
    let _ = permits.acquire_many(max as u32).await;
}

async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    let slot = shared.slots.open();
    metrics::gauge!("http_connections", "listener" => shared.name).increment(1.0);
    tokio::select! {
        biased;
        // Closed to make room, or at shutdown, while no request was in progress.
        _ = slot.closed.notified() => {}
        _ = serve_connection(&shared, tcp, peer, &slot) => {}
    }
    shared.slots.forget(&slot);
    metrics::gauge!("http_connections", "listener" => shared.name).decrement(1.0);
}

async fn serve_connection(shared: &Shared, tcp: TcpStream, peer: SocketAddr, slot: &Arc<Slot>) {
    // Request/response on one connection: without NODELAY, Nagle and delayed ACKs add tens of
    // milliseconds to every keep-alive round trip.
    let _ = tcp.set_nodelay(true);
    let io = Stalls::new(tcp, shared.limits.body_timeout);
    match &shared.tls {
        None => serve_http(shared, io, peer, None, slot).await,
        Some(acceptor) => {
            let tls = match tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(io))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(listener = shared.name, %peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    metrics::counter!("http_connections_closed_total", "listener" => shared.name, "reason" => "timeout").increment(1);
                    tracing::debug!(listener = shared.name, %peer, "TLS handshake timed out");
                    return;
                }
            };
            let certs = tls.get_ref().1.peer_certificates().map(|chain| {
                ClientCertificates(Arc::new(
                    chain.iter().map(|c| c.clone().into_owned()).collect(),
                ))
            });
            serve_http(shared, tls, peer, certs, slot).await
        }
    }
}

async fn serve_http<I>(
    shared: &Shared,
    io: I,
    peer: SocketAddr,
    certs: Option<ClientCertificates>,
    slot: &Arc<Slot>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = shared.service.clone();
    let body_timeout = shared.limits.body_timeout;
    let slot = slot.clone();
    let name = shared.name;
    // Per request: one counter update, the peer's address and certificates as extensions (an
    // Arc clone; layering the router per connection would rebuild every route), and the body
    // deadline.
    let per_request = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let request = InProgress::begin(&slot);
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(c) = &certs {
            req.extensions_mut().insert(c.clone());
        }
        let started = std::time::Instant::now();
        let answer = request
            .is_some()
            .then(|| service.call(req.map(|b| Deadline::new(b, body_timeout))));
        Box::pin(async move {
            match (answer, request) {
                (Some(answer), Some(request)) => {
                    let answer: axum::response::Response = match answer.await {
                        Ok(a) => a,
                        Err(never) => match never {},
                    };
                    // Until the answer's head is ready: the time the application took, and
                    // body reading; not how fast the peer takes the answer. Labelled by
                    // listener only: paths carry ids, which would make a series per delivery.
                    metrics::histogram!("http_request_duration_seconds", "listener" => name)
                        .record(started.elapsed().as_secs_f64());
                    Ok(answer.map(|b| {
                        axum::body::Body::new(Answer {
                            inner: b,
                            _request: request,
                        })
                    }))
                }
                // Closed to make room a moment ago: hyper ends the connection unanswered, and
                // the request was never seen by the application.
                _ => Err(ClosedWhileIdle),
            }
        })
    });
    let mut conn = shared.http1.serve_connection(TokioIo::new(io), per_request);
    let mut closing = shared.closing.subscribe();
    let mut closing = std::pin::pin!(async move { drop(closing.wait_for(|c| *c).await) });
    let mut shutting_down = false;
    let done = std::future::poll_fn(|cx| {
        if !shutting_down && closing.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        conn.poll_without_shutdown(cx)
    })
    .await;
    match done {
        Ok(()) => linger(conn.into_parts().io.into_inner()).await,
        Err(e) => {
            if e.is_timeout() {
                metrics::counter!("http_connections_closed_total", "listener" => shared.name, "reason" => "timeout").increment(1);
            }
            // Mostly peers that go away or are too slow; of interest when debugging a client.
            tracing::debug!(listener = shared.name, %peer, error = %e, "connection ended");
        }
    }
}

/// A request that arrived on a connection just closed to make room: it gets no answer.
#[derive(Debug)]
struct ClosedWhileIdle;

impl std::fmt::Display for ClosedWhileIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection was closed to make room for another")
    }
}

impl std::error::Error for ClosedWhileIdle {}

/// How long a closing connection goes on reading what the peer still sends.
const LINGER: Duration = Duration::from_secs(5);

/// Closes a connection after its last answer the way nginx does ("lingering close"): the
/// sending side first, then whatever the peer still sends is read and dropped for a while.
/// A peer still sending a body that was refused unread (401, 413) would otherwise get a reset
/// from our kernel, which can discard the answer before the peer has read it.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = tokio::time::timeout(LINGER, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut sink = vec![0u8; 16 * 1024];
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                return;
            }
        }
    })
    .await;
}

/// The open connections of one listener, for closing idle ones.
#[derive(Default)]
struct Slots {
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
}

/// One open connection.
struct Slot {
    id: u64,
    /// Requests in progress, or [`CLOSED`] once closed while idle.
    requests: AtomicUsize,
    /// When it last became idle, as a tick of [`IDLE_TICKS`]: lower is idle longer.
    idle_since: AtomicU64,
    closed: Notify,
}

const CLOSED: usize = usize::MAX;

/// A process-wide order of "became idle" moments; cheaper than reading a clock.
static IDLE_TICKS: AtomicU64 = AtomicU64::new(0);

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        // The map holds no invariant a panicking holder could break.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            requests: AtomicUsize::new(0),
            idle_since: AtomicU64::new(IDLE_TICKS.fetch_add(1, Ordering::Relaxed)),
            closed: Notify::new(),
        });
        self.lock().insert(slot.id, slot.clone());
        slot
    }

    fn forget(&self, slot: &Slot) {
        self.lock().remove(&slot.id);
    }

    /// Closes the connection idle for longest; false when every one has a request in progress.
    fn close_longest_idle(&self) -> bool {
        let open = self.lock();
        let mut idle: Vec<&Arc<Slot>> = open
            .values()
            .filter(|s| s.requests.load(Ordering::Acquire) == 0)
            .collect();
        idle.sort_unstable_by_key(|s| s.idle_since.load(Ordering::Relaxed));
        // A request may begin between the look and the close: then try the next one.
        idle.into_iter().any(|s| s.close_if_idle())
    }

    fn close_all_idle(&self) {
        for s in self.lock().values() {
            s.close_if_idle();
        }
    }
}

impl Slot {
    /// Closes the connection unless a request is in progress; a request that begins after this
    /// is refused ([`InProgress::begin`]), so a close never cuts one.
    fn close_if_idle(&self) -> bool {
        let closed = self
            .requests
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if closed {
            self.closed.notify_one();
        }
        closed
    }
}

/// A request in progress on a connection, from its headers until its answer is written.
struct InProgress(Arc<Slot>);

impl InProgress {
    fn begin(slot: &Arc<Slot>) -> Option<Self> {
        slot.requests
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != CLOSED).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(slot.clone()))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(
                IDLE_TICKS.fetch_add(1, Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
    }
}

/// An answer's body; the request counts as in progress until hyper has written and dropped it.
struct Answer {
    inner: axum::body::Body,
    _request: InProgress,
}

impl HttpBody for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with [`BodyTimedOut`] once its deadline has passed. The timer is
/// only set when the body has to be waited for, so a body that came with its headers costs none.
struct Deadline<B> {
    inner: B,
    deadline: Instant,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + timeout,
            timeout,
            timer: None,
        }
    }
}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes fail when the peer takes nothing for `limit`: a client that stops
/// reading its answer must not hold a connection for ever.
struct Stalls<T> {
    inner: T,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> Stalls<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            timer: None,
        }
    }

    /// Called when a write is pending: Ready(error) once it has been pending for `limit`.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the peer stopped taking the answer",
        )))
    }

    fn progressed<R>(
        &mut self,
        r: Poll<std::io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalls<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalls<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progressed(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open files promised to listeners' connections, process-wide.
static RESERVED: AtomicU64 = AtomicU64::new(0);

/// A listener's share of the process's open-file limit, returned when the listener ends.
struct Descriptors(u64);

impl Descriptors {
    fn reserve(max_connections: usize) -> anyhow::Result<Self> {
        let n = max_connections as u64;
        let others = RESERVED.fetch_add(n, Ordering::SeqCst);
        let reserved = Self(n);
        if let Some(limit) = open_file_limit() {
            let needed = others + n + FD_HEADROOM;
            anyhow::ensure!(
                needed <= limit,
                "server.max_connections = {max_connections} does not fit: with {others} \
                 connections of this process's other listeners and {FD_HEADROOM} files for the \
                 database and outgoing connections it needs {needed} open files, but the process \
                 may open {limit} (ulimit -n; LimitNOFILE= in a systemd unit). Lower \
                 server.max_connections or raise the limit."
            );
        }
        Ok(reserved)
    }
}

impl Drop for Descriptors {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// The process's open-file limit (None: unlimited), after raising the soft limit to the hard
/// one once: the soft default of 1024 is a relic of `select()`, which nothing here uses.
fn open_file_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut l = getrlimit(Resource::Nofile);
        if l.current != l.maximum {
            let raised = rustix::process::Rlimit {
                current: l.maximum,
                maximum: l.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                l = raised;
            }
        }
        l.current
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_must_fit_below_the_open_file_limit() {
        let limit = open_file_limit().expect("Linux always has an open-file limit");
        let room = (limit - FD_HEADROOM) as usize;
        let e = Descriptors::reserve(room + 1)
            .err()
            .expect("over the limit");
        assert!(
            e.to_string().starts_with("server.max_connections = "),
            "{e}"
        );
        // Listeners of one process share the limit, and give their part back when they end.
        let first = Descriptors::reserve(room - 10).unwrap();
        assert!(Descriptors::reserve(11).is_err());
        let second = Descriptors::reserve(10).unwrap();
        drop(first);
        drop(second);
        Descriptors::reserve(room).unwrap();
    }
}
