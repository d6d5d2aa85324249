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
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Body as HttpBody;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// A readiness check: resolves to `Err(reason)` when the service should not get traffic.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); our handle then renders ours only.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn ops_router(ready: ReadyCheck) -> Router {
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
        .route("/metrics", get(move || std::future::ready(handle.render())))
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
pub fn credential<'a>(headers: &'a HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
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
    pub max: usize,
    /// The configuration key that sets it, named when a body is refused.
    pub key: Option<&'static str>,
}

impl BodyLimit {
    /// For routes that take a small JSON document, and wherever no limit is declared.
    pub const SMALL: BodyLimit = BodyLimit::bytes(64 * 1024);

    pub const fn bytes(max: usize) -> Self {
        Self { max, key: None }
    }

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
    TooLarge(BodyLimit),
    TimedOut(std::time::Duration),
    /// The peer closed the connection or sent broken chunked encoding.
    Broken,
}

impl BodyError {
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
