//! The endpoints OS2forms calls: a Remote post (the submission in the body) and a ping (the
//! submission is pulled, then stored). Each answers 2xx only after the submission is
//! committed; its errors name the field. Callers authenticate with their form's token
//! ([`RemotePoster`], [`Pinger`]) before the body is read.

use super::{BEARER_OR_BARE, Web, error, unread, wrong_token};
use crate::config::MAX_TOKEN_LEN;
use crate::intake::{NotAccepted, Refused, Submission};
use crate::store::Accepted;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State as AxState};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use service_kit::auth::{Authenticator, Credential, Sources, authenticate};
use service_kit::http::{Body, BodyError, same_secret};
use std::sync::Arc;

/// The ping handler sends its configured header value as is, e.g. `Token abc`.
const PING_SCHEMES: [&str; 3] = ["Bearer ", "Token ", ""];

/// A Remote post to a form, authenticated by that form's `remote_post_token`.
pub struct RemotePoster {
    webform_id: String,
}

/// The form the request's path names, and its Remote post token: 404 when it takes none.
async fn form_token<'w>(parts: &mut Parts, w: &'w Web) -> Result<(String, &'w str), Response> {
    let Path(webform_id) = Path::<String>::from_request_parts(parts, &())
        .await
        .map_err(IntoResponse::into_response)?;
    match w.tokens.remote_post.get(&webform_id) {
        Some(expected) => Ok((webform_id, expected)),
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("form {webform_id}: Remote post is not configured for it (remote_post_token)"),
        )),
    }
}

impl Authenticator for RemotePoster {
    type State = Arc<Web>;
    type Principal = Self;
    type Rejection = Response;
    const SOURCES: Sources = Sources::authorization(&BEARER_OR_BARE, MAX_TOKEN_LEN);

    async fn unauthenticated(parts: &mut Parts, w: &Arc<Web>) -> Response {
        form_token(parts, w).await.err().unwrap_or_else(wrong_token)
    }

    async fn authenticate(
        credential: Credential<'_>,
        parts: &mut Parts,
        w: &Arc<Web>,
    ) -> Result<Self, Response> {
        let (webform_id, expected) = form_token(parts, w).await?;
        let Credential::Bearer(given) = credential;
        if !same_secret(given, expected) {
            return Err(wrong_token());
        }
        Ok(RemotePoster { webform_id })
    }
}

impl FromRequestParts<Arc<Web>> for RemotePoster {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        authenticate::<Self>(parts, w).await
    }
}

/// A ping, authenticated by some form's `ping_token`. The form is named in the body, so the
/// extractor admits any form's token, and `Pinger::admits` then checks that it is that
/// form's.
pub struct Pinger {
    token: String,
}

fn no_ping_intake() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "the ping intake is not configured for any form (ping_token)",
    )
}

impl Authenticator for Pinger {
    type State = Arc<Web>;
    type Principal = Self;
    type Rejection = Response;
    const SOURCES: Sources = Sources::authorization(&PING_SCHEMES, MAX_TOKEN_LEN);

    async fn unauthenticated(_: &mut Parts, w: &Arc<Web>) -> Response {
        if w.tokens.ping.is_empty() {
            no_ping_intake()
        } else {
            wrong_token()
        }
    }

    async fn authenticate(
        credential: Credential<'_>,
        _: &mut Parts,
        w: &Arc<Web>,
    ) -> Result<Self, Response> {
        if w.tokens.ping.is_empty() {
            return Err(no_ping_intake());
        }
        let Credential::Bearer(given) = credential;
        if !w.tokens.ping.values().any(|t| same_secret(given, t)) {
            return Err(wrong_token());
        }
        Ok(Pinger {
            token: given.to_owned(),
        })
    }
}

impl FromRequestParts<Arc<Web>> for Pinger {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, w: &Arc<Web>) -> Result<Self, Response> {
        authenticate::<Self>(parts, w).await
    }
}

impl Pinger {
    /// The ping's form, when the token is that form's: else the refusal (404 when the form
    /// takes no pings, 401 when the token is another form's).
    #[allow(clippy::result_large_err)] // the Err is the response itself, built once per refusal
    fn admits(&self, w: &Web, form: &str) -> Result<(), Response> {
        let Some(expected) = w.tokens.ping.get(form) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("form {form}: the ping intake is not configured for it (ping_token)"),
            ));
        };
        if !same_secret(&self.token, expected) {
            return Err(wrong_token());
        }
        Ok(())
    }
}

pub(super) async fn remote_post(
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
        Err(Refused::NotCompleted(why)) => return ignored(why),
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
        Ok(Accepted::Duplicate { submission_id }) => duplicate(submission_id),
        Err(e) => not_accepted(&webform_id, e),
    }
}

/// A submission that is not completed (a draft, say): answered 200, so the sender does not
/// send it again, and not stored.
fn ignored(why: String) -> Response {
    (
        StatusCode::OK,
        Json(json!({"status": "ignored", "reason": why})),
    )
        .into_response()
}

fn duplicate(submission_id: String) -> Response {
    (
        StatusCode::OK,
        Json(json!({"status": "duplicate", "id": submission_id})),
    )
        .into_response()
}

/// Intake refused the submission (over a limit: 413, else 422, naming the field), or could not
/// store it (503: the sender should try again).
fn not_accepted(webform_id: &str, e: NotAccepted) -> Response {
    match e {
        NotAccepted::Refused(r @ Refused::TooLarge(_)) => {
            tracing::warn!(webform_id, error = %r, "submission refused");
            error(StatusCode::PAYLOAD_TOO_LARGE, r.to_string())
        }
        NotAccepted::Refused(r) => error(StatusCode::UNPROCESSABLE_ENTITY, r.to_string()),
        NotAccepted::Store(e) => {
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
pub(super) async fn ping(
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
    if let Err(refused) = pinger.admits(&w, &form) {
        return refused;
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
        Err(crate::pull::PullError::Refused(Refused::NotCompleted(why))) => return ignored(why),
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
        Ok(Accepted::Duplicate { submission_id }) => duplicate(submission_id),
        Err(e) => not_accepted(&form, e),
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
