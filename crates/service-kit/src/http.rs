//! What every HTTP service of ours has at the request level: the operational endpoints —
//! `/healthz` (the process runs), `/readyz` (its dependencies answer) and `/metrics`
//! (Prometheus text) —, the caller's credential from the `Authorization` header, and request
//! bodies read within the limit their route declares. ([`crate::listener`] owns connections.)
//!
//! Authentication comes first: a credential is a header, so an extractor that checks it runs
//! before [`Body`] (axum runs header extractors before the one body extractor), and a request
//! with a wrong token is refused without a byte of its body being read.

use crate::listener::BodyTimedOut;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Body as HttpBody;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// A readiness check: resolves to `Err(reason)` when the service should not get traffic.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Upper bounds (seconds) of the buckets of every `*_seconds` histogram: HTTP requests, SOAP
/// calls, SFTP operations, from a fast loopback answer to a platform call near its timeout.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds of `db_group_commit_batch_size` (writes per SQLite commit).
pub const BATCH_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often the recorder's upkeep runs: it moves recorded samples into the rendered
/// histograms, so samples do not pile up between scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed on first use).
///
/// Histograms are rendered as Prometheus histograms with fixed buckets: cumulative counts that
/// never reset, so `histogram_quantile()` over any range gives real values. Without buckets the
/// exporter renders summaries over a rolling 60-second window, whose quantiles read 0 whenever
/// nothing happened in the last minute before a scrape, and which cannot be aggregated.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = recorder_builder().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); our handle then renders ours only.
            let _ = metrics::set_global_recorder(recorder);
            // `build_recorder` leaves upkeep to the caller. A thread rather than a task: the
            // recorder outlives any one runtime (tests start many), and the work is tiny.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                // Rendering drains the samples too; only memory between scrapes grows.
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
            handle
        })
        .clone()
}

fn recorder_builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("db_group_commit_batch_size".into()),
                &BATCH_SIZE_BUCKETS,
            )
        })
        // Refused only for an empty bucket list, and both are constants that are not empty;
        // summaries would still be correct output.
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

/// Brings gauges that are read from elsewhere (a database) up to date just before `/metrics`
/// renders, so a scrape sees the state at that moment.
pub type MetricsRefresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How long a scrape waits for [`MetricsRefresh`]: a slow database must not make the scrape
/// time out, and then the gauges show the previous refresh.
const REFRESH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Who may read `/metrics`. Its numbers are nobody's personal data, but they tell an outsider
/// how large, how busy and how failing a service is, so it is not open to the network: a
/// scraper on the same machine that did not come through a reverse proxy may read it, anyone
/// else needs the configured bearer token (`server.metrics_token` in both products).
#[derive(Clone, Default)]
pub struct MetricsAccess {
    token: Option<Arc<str>>,
    /// A proxy's own client-address header besides the standard ones.
    proxy_header: Option<axum::http::HeaderName>,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.as_ref().map(|_| ".."))
            .finish()
    }
}

/// The headers a reverse proxy adds: a request with one came from elsewhere, whatever the
/// socket's peer says.
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

impl MetricsAccess {
    /// Local scrapers only.
    pub fn local_only() -> Self {
        Self::default()
    }

    /// Local scrapers, and any that send `token` (`Authorization: Bearer …`).
    pub fn with_token(token: Option<String>) -> Self {
        Self {
            token: token.map(Arc::from),
            proxy_header: None,
        }
    }

    /// Also takes a request with `header` (the product's configured client-address header)
    /// as one that came through a proxy.
    pub fn proxied_by(mut self, header: &str) -> Self {
        self.proxy_header = axum::http::HeaderName::from_bytes(header.as_bytes()).ok();
        self
    }

    /// `Err` says why, for [`unauthorized`] (a `Response` is too large to be an `Err`).
    fn check(&self, request: &Request) -> Result<(), &'static str> {
        let headers = request.headers();
        if let Some(expected) = &self.token
            && let Some(value) = headers.get(header::AUTHORIZATION)
        {
            return match after_scheme(value, &["Bearer "]) {
                Some(given) if same_secret(given, expected) => Ok(()),
                _ => Err("metrics: wrong token\n"),
            };
        }
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let proxied = PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
            || self
                .proxy_header
                .as_ref()
                .is_some_and(|h| headers.contains_key(h));
        let local = peer.is_some_and(|ip| ip.is_loopback()) && !proxied;
        if local {
            return Ok(());
        }
        let why = if self.token.is_some() {
            "metrics: send the token of server.metrics_token (Authorization: Bearer …)\n"
        } else {
            "metrics: only for scrapers on this machine; set server.metrics_token to scrape \
             over the network\n"
        };
        Err(why)
    }
}

fn unauthorized(why: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        why,
    )
        .into_response()
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn ops_router(ready: ReadyCheck, access: MetricsAccess) -> Router {
    ops_router_with(ready, None, access)
}

/// [`ops_router`], with gauges refreshed by `refresh` at each scrape.
pub fn ops_router_with(
    ready: ReadyCheck,
    refresh: Option<MetricsRefresh>,
    access: MetricsAccess,
) -> Router {
    let handle = metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    match ready().await {
                        Ok(()) => (StatusCode::OK, "ready".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move |request: Request| {
                let (handle, refresh, access) = (handle.clone(), refresh.clone(), access.clone());
                async move {
                    access.check(&request).map_err(unauthorized)?;
                    if let Some(refresh) = refresh
                        && tokio::time::timeout(REFRESH_TIMEOUT, refresh())
                            .await
                            .is_err()
                    {
                        tracing::warn!(
                            "metrics: refreshing gauges took too long; showing the last values"
                        );
                    }
                    Ok::<_, Response>(handle.render())
                }
            }),
        )
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop): the moment to shut down
/// gracefully. The signals are caught from the call on, not from the first poll, so a caller
/// that calls this before it says it is ready is never killed by an early SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
            .ok()
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The credential in the `Authorization` header after one of `schemes`, tried in order (e.g.
/// `["Bearer "]`; an empty scheme takes the whole value as it is), trimmed. `None` when the
/// header is missing, is not visible ASCII, or starts with none of the schemes.
///
/// Extractors authenticate with [`crate::auth`], which reads the header this way and also
/// bounds the credential's length.
pub fn credential<'a>(headers: &'a HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    after_scheme(headers.get(header::AUTHORIZATION)?, schemes)
}

/// An `Authorization` value's credential after one of `schemes` (see [`credential`]).
pub(crate) fn after_scheme<'a>(value: &'a HeaderValue, schemes: &[&str]) -> Option<&'a str> {
    let value = value.to_str().ok()?;
    schemes.iter().find_map(|scheme| {
        let head = value.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| value[scheme.len()..].trim())
            .filter(|c| !c.is_empty())
    })
}

/// Compares a given secret with the expected one in constant time, so a token cannot be
/// guessed byte by byte from how long a refusal takes.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The most a route accepts as a request body, declared with [`BodyLimit::layer`] on the route
/// or on a router (the innermost declaration applies); [`BodyLimit::SMALL`] where none is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    /// The most bytes a body may have.
    pub max: usize,
    /// The configuration key that sets it, named when a body is refused.
    pub key: Option<&'static str>,
}

impl BodyLimit {
    /// For routes that take a small JSON document, and wherever no limit is declared.
    pub const SMALL: BodyLimit = BodyLimit::bytes(64 * 1024);

    /// A limit of `max` bytes, not configurable (the refusal names no key).
    pub const fn bytes(max: usize) -> Self {
        Self { max, key: None }
    }

    /// The same limit, set by the configuration key `key`, which a refusal names so an operator
    /// knows what to raise.
    pub const fn configured_by(self, key: &'static str) -> Self {
        Self {
            key: Some(key),
            ..self
        }
    }

    /// Declares the limit for [`Body`], and as axum's `DefaultBodyLimit` for `Json`, `Bytes`
    /// and the other extractors, so every way of reading a body keeps to it.
    pub fn layer(self) -> (axum::Extension<BodyLimit>, DefaultBodyLimit) {
        (axum::Extension(self), DefaultBodyLimit::max(self.max))
    }
}

/// A request body, read whole within its route's [`BodyLimit`]. A body declared larger
/// (`Content-Length`) is refused before any of it is read; a chunked one as soon as it passes
/// the limit.
pub struct Body(pub Bytes);

/// Why a request body was not read; `status()` and the message are what the caller gets.
#[derive(Debug)]
pub enum BodyError {
    /// The body is larger than the route accepts (413).
    TooLarge(BodyLimit),
    /// The body did not arrive within the listener's body timeout (408).
    TimedOut(std::time::Duration),
    /// The peer closed the connection or sent broken chunked encoding.
    Broken,
}

impl BodyError {
    /// The HTTP status the refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken => StatusCode::BAD_REQUEST,
        }
    }

    fn from_read(e: &axum::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(t) = c.downcast_ref::<BodyTimedOut>() {
                return BodyError::TimedOut(t.0);
            }
            cause = c.source();
        }
        BodyError::Broken
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(l) => {
                write!(
                    f,
                    "body: larger than the {} bytes this endpoint accepts",
                    l.max
                )?;
                match l.key {
                    Some(key) => write!(f, " ({key})"),
                    None => Ok(()),
                }
            }
            BodyError::TimedOut(d) => BodyTimedOut(*d).fmt(f),
            BodyError::Broken => {
                f.write_str("body: the connection broke off before it was complete")
            }
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = BodyError;

    async fn from_request(req: Request, _: &S) -> Result<Self, BodyError> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit::SMALL);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit.max as u64) {
            return Err(BodyError::TooLarge(limit));
        }
        let mut body = req.into_body();
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| BodyError::from_read(&e))?;
            if let Ok(data) = frame.into_data() {
                total += data.len();
                if total > limit.max {
                    return Err(BodyError::TooLarge(limit));
                }
                chunks.push(data);
            }
        }
        // Most bodies arrive as one chunk, which is kept as it is; else one copy.
        Ok(Body(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => {
                let mut whole = Vec::with_capacity(total);
                for c in &chunks {
                    whole.extend_from_slice(c);
                }
                Bytes::from(whole)
            }
        }))
    }
}
