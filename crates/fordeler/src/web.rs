//! The HTTP face of the Fordeler: intake endpoints for OS2forms and the operator's JSON API.
//!
//! Intake answers 2xx only after the submission is committed; its errors name the field. The
//! operator API needs the configured bearer token and mirrors the CLI: status, list, show
//! (the timeline of every attempt and receipt), retry (one or many), resend as a new
//! transaction, and resolve.
//!
//! Every route authenticates from the headers before it reads a body (the extractors
//! [`Operator`], [`RemotePoster`], [`Pinger`] come before the body in each handler), and a body
//! is read within its route's limit: a Remote post up to `server.max_submission_bytes`, pings
//! and the operator API a small JSON document ([`BodyLimit::SMALL`]).

use crate::intake::{Intake, Refused, Submission};
use crate::store::{Accepted, Resend, State};
use axum::Json;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequest, Path, Query, Request, State as AxState,
};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_kit::http::{Body, BodyError, BodyLimit, credential, same_secret};
use std::collections::HashMap;
use std::sync::Arc;

/// Secrets read at start-up: per-form intake tokens and the operator token.
#[derive(Clone, Default)]
pub struct Tokens {
    pub api: Option<String>,
    pub remote_post: HashMap<String, String>,
    pub ping: HashMap<String, String>,
}

#[derive(Clone)]
pub struct Web {
    pub intake: Intake,
    pub tokens: Tokens,
    pub wake: Arc<tokio::sync::Notify>,
    /// Per form: where to pull submissions from (ping and polling).
    pub sites: HashMap<String, crate::pull::Os2forms>,
}

pub fn router(web: Web) -> axum::Router {
    use axum::routing::{get, post};
    let submission = BodyLimit::bytes(web.intake.config.server.max_submission_bytes)
        .configured_by("server.max_submission_bytes");
    let state = Arc::new(web);
    axum::Router::new()
        .route(
            "/intake/{webform_id}/remote-post",
            post(remote_post).layer(submission.layer()),
        )
        .route("/intake/ping", post(ping))
        .route("/api/status", get(status))
        .route("/api/deliveries", get(list))
        .route("/api/deliveries/{key}", get(show))
        .route("/api/deliveries/{id}/retry", post(retry))
        .route("/api/deliveries/{id}/resend", post(resend))
        .route("/api/deliveries/{id}/resolve", post(resolve))
        .route("/api/retry", post(bulk_retry))
        .layer(BodyLimit::SMALL.layer())
        .with_state(state)
}

/// A JSON error that names what is wrong.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The database failed us: logged for the operator, a plain 503 for the caller.
fn unavailable(e: &anyhow::Error) -> Response {
    tracing::error!(error = %e, "database error in the API");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database does not answer; try again",
    )
}

/// A body that could not be read, answered in the API's shape.
fn unread(e: BodyError) -> Response {
    error(e.status(), e.to_string())
}

fn wrong_token() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "Authorization: missing or wrong token",
    )
}

/// `Bearer <token>`, or the token alone: OS2forms' Remote post handler sends the
/// `Authorization` value it is configured with.
const BEARER_OR_BARE: [&str; 2] = ["Bearer ", ""];
/// The ping handler sends its configured header value as is, e.g. `Token abc`.
const PING_SCHEMES: [&str; 3] = ["Bearer ", "Token ", ""];

/// A Remote post to a form, authenticated by that form's `remote_post_token`.
pub struct RemotePoster {
    webform_id: String,
}

impl FromRequestParts<Arc<Web>> for RemotePoster {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        let Path(webform_id) = Path::<String>::from_request_parts(parts, w)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(expected) = w.tokens.remote_post.get(&webform_id) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!(
                    "form {webform_id}: Remote post is not configured for it (remote_post_token)"
                ),
            ));
        };
        if !credential(&parts.headers, &BEARER_OR_BARE).is_some_and(|t| same_secret(t, expected)) {
            return Err(wrong_token());
        }
        Ok(RemotePoster { webform_id })
    }
}

/// A ping, authenticated by some form's `ping_token`; the form is named in the body, so
/// [`ping`] then checks that the token is that form's.
pub struct Pinger {
    token: String,
}

impl FromRequestParts<Arc<Web>> for Pinger {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        if w.tokens.ping.is_empty() {
            return Err(error(
                StatusCode::NOT_FOUND,
                "the ping intake is not configured for any form (ping_token)",
            ));
        }
        match credential(&parts.headers, &PING_SCHEMES) {
            Some(given) if w.tokens.ping.values().any(|t| same_secret(given, t)) => Ok(Pinger {
                token: given.to_owned(),
            }),
            _ => Err(wrong_token()),
        }
    }
}

/// The operator, authenticated by `Authorization: Bearer <server.api_token>`.
pub struct Operator;

impl FromRequestParts<Arc<Web>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        match &w.tokens.api {
            None => Err(error(
                StatusCode::FORBIDDEN,
                "the operator API is off: set [server] api_token",
            )),
            Some(t)
                if credential(&parts.headers, &BEARER_OR_BARE)
                    .is_some_and(|b| same_secret(b, t)) =>
            {
                Ok(Operator)
            }
            Some(_) => Err(error(
                StatusCode::UNAUTHORIZED,
                "Authorization: Bearer <api token> is missing or wrong",
            )),
        }
    }
}

/// A JSON document in an operator API request, read after [`Operator`] within the route's
/// limit; refusals in the API's shape. Optional where an empty body means "no details".
pub struct ApiJson<T>(T);

impl<T: DeserializeOwned> ApiJson<T> {
    #[allow(clippy::result_large_err)] // the Err is the response itself, built once per refusal
    fn parse(b: &[u8]) -> Result<Self, Response> {
        serde_json::from_slice(b).map(ApiJson).map_err(|e| {
            let status = if e.is_data() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            error(status, format!("body: {e}"))
        })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let Body(b) = Body::from_request(req, state).await.map_err(unread)?;
        Self::parse(&b)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Response> {
        let Body(b) = Body::from_request(req, state).await.map_err(unread)?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        Self::parse(&b).map(Some)
    }
}

async fn remote_post(
    AxState(w): AxState<Arc<Web>>,
    RemotePoster { webform_id }: RemotePoster,
    body: Result<Body, BodyError>,
) -> Response {
    let body = match body {
        Ok(Body(b)) => b,
        Err(e) => return unread(e),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body: not JSON ({})", json_error_kind(&e)),
            );
        }
    };
    let submission = match Submission::from_remote_post(&webform_id, &value) {
        Ok(s) => s,
        Err(Refused::NotCompleted(why)) => {
            return (
                StatusCode::OK,
                Json(json!({"status": "ignored", "reason": why})),
            )
                .into_response();
        }
        Err(e @ Refused::Config(_)) => {
            tracing::error!(webform_id, error = %e, "submission refused");
            return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    match w.intake.accept(submission, "remote_post").await {
        Ok(Accepted::New {
            submission_id,
            deliveries,
        }) => {
            w.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({"status": "accepted", "id": submission_id, "deliveries": deliveries})),
            )
                .into_response()
        }
        Ok(Accepted::Duplicate { submission_id }) => (
            StatusCode::OK,
            Json(json!({"status": "duplicate", "id": submission_id})),
        )
            .into_response(),
        Err(e) => not_accepted(&webform_id, &e),
    }
}

/// Intake refused the submission (over a limit: 413, else 422, naming the field), or could not
/// store it (503: the sender should try again).
fn not_accepted(webform_id: &str, e: &anyhow::Error) -> Response {
    match e.downcast_ref::<Refused>() {
        Some(r @ Refused::TooLarge(_)) => {
            tracing::warn!(webform_id, error = %r, "submission refused");
            error(StatusCode::PAYLOAD_TOO_LARGE, r.to_string())
        }
        Some(r) => error(StatusCode::UNPROCESSABLE_ENTITY, r.to_string()),
        None => {
            tracing::error!(webform_id, error = %e, "storing a submission failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the submission could not be stored; send it again",
            )
        }
    }
}

#[derive(Deserialize)]
struct Ping {
    data: PingData,
    links: PingLinks,
}
#[derive(Deserialize)]
struct PingData {
    webform: PingId,
    submission: PingUuid,
}
#[derive(Deserialize)]
struct PingId {
    id: String,
}
#[derive(Deserialize)]
struct PingUuid {
    uuid: String,
}
#[derive(Deserialize)]
struct PingLinks {
    get_submission_url: Option<String>,
}

/// The queued "ping" handler (Aarhus' os2forms_api_request_handler): `{data: {webform: {id},
/// submission: {uuid}}, links: {get_submission_url}}` with the configured `Authorization`
/// header. The submission is pulled and committed before we answer 2xx; an error makes the
/// handler's queue try again.
async fn ping(
    AxState(w): AxState<Arc<Web>>,
    pinger: Pinger,
    body: Result<Body, BodyError>,
) -> Response {
    let body = match body {
        Ok(Body(b)) => b,
        Err(e) => return unread(e),
    };
    let ping: Ping = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "body: expected {{data: {{webform: {{id}}, submission: {{uuid}}}}, links: {{get_submission_url}}}} ({e})"
                ),
            );
        }
    };
    let form = ping.data.webform.id;
    let Some(expected) = w.tokens.ping.get(&form) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("form {form}: the ping intake is not configured for it (ping_token)"),
        );
    };
    if !same_secret(&pinger.token, expected) {
        return wrong_token();
    }
    if sf2900::types::parse_uuid(&ping.data.submission.uuid).is_err() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "data.submission.uuid: not a UUID",
        );
    }
    let Some(site) = w.sites.get(&form) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("form {form}: set os2forms_url and api_key to pull its submissions"),
        );
    };
    let url = ping
        .links
        .get_submission_url
        .unwrap_or_else(|| site.submission_url(&form, &ping.data.submission.uuid));
    let submission = match site.pull(&form, &url).await {
        Ok(s) => s,
        Err(crate::pull::PullError::Refused(Refused::NotCompleted(why))) => {
            return (
                StatusCode::OK,
                Json(json!({"status": "ignored", "reason": why})),
            )
                .into_response();
        }
        Err(e) => {
            tracing::warn!(webform_id = %form, submission_uuid = %ping.data.submission.uuid, error = %e, "pull after ping failed");
            let status = if e.retryable() {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return error(status, e.to_string());
        }
    };
    if submission.uuid != ping.data.submission.uuid {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "links.get_submission_url: leads to another submission than data.submission.uuid",
        );
    }
    match w.intake.accept(submission, "ping").await {
        Ok(Accepted::New { submission_id, .. }) => {
            w.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({"status": "accepted", "id": submission_id})),
            )
                .into_response()
        }
        Ok(Accepted::Duplicate { submission_id }) => (
            StatusCode::OK,
            Json(json!({"status": "duplicate", "id": submission_id})),
        )
            .into_response(),
        Err(e) => not_accepted(&form, &e),
    }
}

/// What kind of JSON error, without the parser's excerpt of the input (it may be personal data).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong data",
        serde_json::error::Category::Eof => "cut short",
    }
}

async fn status(AxState(w): AxState<Arc<Web>>, _: Operator) -> Response {
    match w.intake.store.status().await {
        Ok(rows) => {
            let mut forms: serde_json::Map<String, Value> = serde_json::Map::new();
            for (form, state, n) in rows {
                let entry = forms.entry(form).or_insert_with(|| json!({}));
                entry[state] = json!(n);
            }
            Json(json!({"forms": forms})).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    form: Option<String>,
    limit: Option<i64>,
}

async fn list(AxState(w): AxState<Arc<Web>>, _: Operator, Query(q): Query<ListQuery>) -> Response {
    let state = match q.state.as_deref().map(|s| State::parse(s).ok_or(s)) {
        Some(Err(s)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("state: `{s}` is not one of pending, waiting, delivered, failed, resolved"),
            );
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    match w
        .intake
        .store
        .list(
            state,
            q.form.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 10_000),
        )
        .await
    {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => unavailable(&e),
    }
}

async fn show(AxState(w): AxState<Arc<Web>>, _: Operator, Path(key): Path<String>) -> Response {
    let store = &w.intake.store;
    let found = match store.find(&key).await {
        Ok(f) => f,
        Err(e) => return unavailable(&e),
    };
    if found.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no delivery or submission {key}"),
        );
    }
    let mut out = Vec::new();
    for d in found {
        let events = store.events(&d.id).await.unwrap_or_default();
        out.push(json!({"delivery": d, "timeline": events}));
    }
    Json(out).into_response()
}

/// An operator's field that must be given (not blank): its value, or the refusal naming it.
fn required(value: Option<String>, refusal: &'static str) -> Result<String, &'static str> {
    value.filter(|v| !v.trim().is_empty()).ok_or(refusal)
}

#[derive(Deserialize, Default)]
struct Actor {
    by: Option<String>,
    note: Option<String>,
}

async fn retry(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> Response {
    let by = body
        .and_then(|ApiJson(a)| a.by)
        .unwrap_or_else(|| "api".into());
    match w.intake.store.retry(&id, &by).await {
        Ok(true) => {
            w.wake.notify_one();
            Json(json!({"status": "retrying"})).into_response()
        }
        Ok(false) => error(
            StatusCode::CONFLICT,
            format!("delivery {id}: not found, or delivered/resolved already"),
        ),
        Err(e) => unavailable(&e),
    }
}

/// A new transaction for one delivery ([`crate::store::Store::resend`]); `by` is required,
/// as a resend creates a second case-system object if the first did arrive after all.
async fn resend(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> Response {
    let ApiJson(a) = body.unwrap_or(ApiJson(Actor::default()));
    let by = match required(a.by, "by: say who resends it") {
        Ok(by) => by,
        Err(refused) => return error(StatusCode::BAD_REQUEST, refused),
    };
    match w.intake.store.resend(&id, &by).await {
        Ok(Resend::Resent { old, new }) => {
            w.wake.notify_one();
            Json(json!({"status": "resent", "anvender_transaktions_id": new, "earlier": old}))
                .into_response()
        }
        Ok(Resend::NotFound) => error(StatusCode::NOT_FOUND, format!("delivery {id}: not found")),
        Ok(Resend::Settled(state)) => error(
            StatusCode::CONFLICT,
            format!("delivery {id}: {}; it is not sent again", state.as_str()),
        ),
        Ok(Resend::Busy) => error(
            StatusCode::CONFLICT,
            format!("delivery {id}: being sent right now; try again in a minute"),
        ),
        Ok(Resend::Purged) => error(
            StatusCode::CONFLICT,
            format!("delivery {id}: its content was purged; nothing to build from"),
        ),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct Bulk {
    form: Option<String>,
    state: Option<String>,
    by: Option<String>,
}

async fn bulk_retry(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    ApiJson(b): ApiJson<Bulk>,
) -> Response {
    let state = match b.state.as_deref().unwrap_or("failed") {
        s @ ("failed" | "waiting") => State::parse(s),
        s => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("state: bulk retry works on failed or waiting deliveries, not `{s}`"),
            );
        }
    };
    let by = b.by.unwrap_or_else(|| "api".into());
    let rows = match w.intake.store.list(state, b.form.as_deref(), 100_000).await {
        Ok(r) => r,
        Err(e) => return unavailable(&e),
    };
    let mut n = 0;
    for d in rows {
        if w.intake.store.retry(&d.id, &by).await.unwrap_or(false) {
            n += 1;
        }
    }
    w.wake.notify_one();
    Json(json!({"retrying": n})).into_response()
}

async fn resolve(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> Response {
    let ApiJson(a) = body.unwrap_or(ApiJson(Actor::default()));
    let (note, by) = match (
        required(a.note, "note: say how the submission was handled"),
        required(a.by, "by: say who handled it"),
    ) {
        (Ok(note), Ok(by)) => (note, by),
        (Err(refused), _) | (_, Err(refused)) => {
            return error(StatusCode::BAD_REQUEST, refused);
        }
    };
    match w.intake.store.resolve(&id, &by, &note).await {
        Ok(true) => Json(json!({"status": "resolved"})).into_response(),
        Ok(false) => error(
            StatusCode::CONFLICT,
            format!("delivery {id}: not found, or delivered/resolved already"),
        ),
        Err(e) => unavailable(&e),
    }
}
