//! The operator's JSON API (`/api/...`): it mirrors the CLI: status, list, show (the timeline
//! of every attempt and receipt), retry (one or many), resend as a new transaction, and
//! resolve. Every handler takes an [`Operator`] (the configured bearer token) before anything
//! else; what the store refuses is answered by `StoreError`'s one mapping to HTTP.

use super::{BEARER_OR_BARE, OPENAPI, Web, error, unread};
use crate::config::MAX_TOKEN_LEN;
use crate::store::{Resent, State};
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
use service_kit::auth::{Authenticator, Credential, Sources, authenticate};
use service_kit::http::{Body, same_secret};
use std::sync::Arc;

type ApiResult = Result<Response, Response>;

/// The operator, authenticated by `Authorization: Bearer <server.api_token>`.
pub struct Operator;

fn api_off() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "the operator API is off: set [server] api_token",
    )
}

fn not_the_operator() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "Authorization: Bearer <api token> is missing or wrong",
    )
}

impl Authenticator for Operator {
    type State = Arc<Web>;
    type Principal = Self;
    type Rejection = Response;
    const SOURCES: Sources = Sources::authorization(&BEARER_OR_BARE, MAX_TOKEN_LEN);

    async fn unauthenticated(_: &mut Parts, w: &Arc<Web>) -> Response {
        match w.tokens.api {
            None => api_off(),
            Some(_) => not_the_operator(),
        }
    }

    async fn authenticate(
        credential: Credential<'_>,
        _: &mut Parts,
        w: &Arc<Web>,
    ) -> Result<Self, Response> {
        let Some(expected) = &w.tokens.api else {
            return Err(api_off());
        };
        let Credential::Bearer(given) = credential;
        if !same_secret(given, expected) {
            return Err(not_the_operator());
        }
        Ok(Operator)
    }
}

impl FromRequestParts<Arc<Web>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        authenticate::<Self>(parts, w).await
    }
}

/// A JSON document in an operator API request, read after [`Operator`] within the route's
/// limit; refusals in the API's shape. Optional where an empty body means "no details".
pub(super) struct ApiJson<T>(T);

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

/// The contract: every route, with what it takes and answers. Public, like the routes' paths.
pub(super) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

pub(super) async fn status(AxState(w): AxState<Arc<Web>>, _: Operator) -> ApiResult {
    let rows = w.intake.store.status().await?;
    let mut forms: serde_json::Map<String, Value> = serde_json::Map::new();
    for (form, state, n) in rows {
        let entry = forms.entry(form).or_insert_with(|| json!({}));
        entry[state.as_str()] = json!(n);
    }
    Ok(Json(json!({"forms": forms})).into_response())
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    form: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn list(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let state = match q.state.as_deref().map(|s| State::parse(s).ok_or(s)) {
        Some(Err(s)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("state: `{s}` is not one of pending, waiting, delivered, failed, resolved"),
            ));
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let rows = w
        .intake
        .store
        .list(
            state,
            q.form.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 10_000),
        )
        .await?;
    Ok(Json(rows).into_response())
}

pub(super) async fn show(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(key): Path<String>,
) -> ApiResult {
    let store = &w.intake.store;
    let found = store.find(&key).await?;
    if found.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no delivery or submission {key}"),
        ));
    }
    let mut out = Vec::new();
    for d in found {
        let events = store.events(&d.id).await.unwrap_or_default();
        out.push(json!({"delivery": d, "timeline": events}));
    }
    Ok(Json(out).into_response())
}

/// An operator's field that must be given (not blank): its value, or the refusal naming it.
#[allow(clippy::result_large_err)] // the Err is the response itself, built once per refusal
fn required(value: Option<String>, refusal: &'static str) -> Result<String, Response> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, refusal))
}

#[derive(Deserialize, Default)]
pub(super) struct Actor {
    by: Option<String>,
    note: Option<String>,
}

pub(super) async fn retry(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> ApiResult {
    let by = body
        .and_then(|ApiJson(a)| a.by)
        .unwrap_or_else(|| "api".into());
    w.intake.store.retry(&id, &by).await?;
    w.wake.notify_one();
    Ok(Json(json!({"status": "retrying"})).into_response())
}

/// A new transaction for one delivery ([`crate::store::Store::resend`]); `by` is required,
/// as a resend creates a second case-system object if the first did arrive after all.
pub(super) async fn resend(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> ApiResult {
    let ApiJson(a) = body.unwrap_or(ApiJson(Actor::default()));
    let by = required(a.by, "by: say who resends it")?;
    let Resent { old, new } = w.intake.store.resend(&id, &by).await?;
    w.wake.notify_one();
    Ok(
        Json(json!({"status": "resent", "anvender_transaktions_id": new, "earlier": old}))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub(super) struct Bulk {
    form: Option<String>,
    state: Option<String>,
    by: Option<String>,
}

pub(super) async fn bulk_retry(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    ApiJson(b): ApiJson<Bulk>,
) -> ApiResult {
    let state = match b.state.as_deref().unwrap_or("failed") {
        s @ ("failed" | "waiting") => State::parse(s),
        s => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("state: bulk retry works on failed or waiting deliveries, not `{s}`"),
            ));
        }
    };
    let by = b.by.unwrap_or_else(|| "api".into());
    let rows = w
        .intake
        .store
        .list(state, b.form.as_deref(), 100_000)
        .await?;
    let mut n = 0;
    for d in rows {
        if w.intake.store.retry(&d.id, &by).await.is_ok() {
            n += 1;
        }
    }
    w.wake.notify_one();
    Ok(Json(json!({"retrying": n})).into_response())
}

pub(super) async fn resolve(
    AxState(w): AxState<Arc<Web>>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<ApiJson<Actor>>,
) -> ApiResult {
    let ApiJson(a) = body.unwrap_or(ApiJson(Actor::default()));
    let note = required(a.note, "note: say how the submission was handled")?;
    let by = required(a.by, "by: say who handled it")?;
    w.intake.store.resolve(&id, &by, &note).await?;
    Ok(Json(json!({"status": "resolved"})).into_response())
}
