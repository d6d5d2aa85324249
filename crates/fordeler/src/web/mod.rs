//! The HTTP face of the Fordeler: the intake endpoints OS2forms calls (`intake`) and the
//! operator's JSON API (`api`). This module owns the router (every route declared once, in
//! [`ROUTES`] too, for the test that holds it to `openapi.json`), the error shape both sides
//! answer with, and the one mapping of a [`StoreError`] to HTTP.
//!
//! Every route authenticates from the headers before it reads a body (the extractors
//! [`Operator`], [`RemotePoster`], [`Pinger`] come before the body in each handler), and a body
//! is read within its route's limit: a Remote post up to `server.max_submission_bytes`, pings
//! and the operator API a small JSON document ([`BodyLimit::SMALL`]).

mod api;
mod intake;

pub use api::Operator;
pub use intake::{Pinger, RemotePoster};

use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use service_kit::http::{BodyError, BodyLimit};
use std::collections::HashMap;
use std::sync::Arc;

/// The operator API's contract, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Secrets read at start-up: per-form intake tokens and the operator token.
#[derive(Clone, Default)]
pub struct Tokens {
    pub api: Option<String>,
    pub remote_post: HashMap<String, String>,
    pub ping: HashMap<String, String>,
}

#[derive(Clone)]
pub struct Web {
    pub intake: crate::intake::Intake,
    pub tokens: Tokens,
    pub wake: Arc<tokio::sync::Notify>,
    /// Per form: where to pull submissions from (ping and polling).
    pub sites: HashMap<String, crate::pull::Os2forms>,
}

/// Declares the routes once: the router, and [`ROUTES`] for the test that holds them to
/// `openapi.json`. `[limit]` names a function giving the route's body limit where it is not
/// [`BodyLimit::SMALL`].
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path $([$limit:path])?,)*) => {
        /// Every route as (method, path), in `openapi.json`'s terms.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn router(web: Web) -> axum::Router {
            let router = axum::Router::new()
                $(.route($path, axum::routing::$method($handler)$(.layer($limit(&web).layer()))?))*;
            router.layer(BodyLimit::SMALL.layer()).with_state(Arc::new(web))
        }
    };
}

routes! {
    post "/intake/{webform_id}/remote-post" => intake::remote_post [submission_limit],
    post "/intake/ping" => intake::ping,
    get "/api/openapi.json" => api::openapi,
    get "/api/status" => api::status,
    get "/api/deliveries" => api::list,
    get "/api/deliveries/{key}" => api::show,
    post "/api/deliveries/{id}/retry" => api::retry,
    post "/api/deliveries/{id}/resend" => api::resend,
    post "/api/deliveries/{id}/resolve" => api::resolve,
    post "/api/retry" => api::bulk_retry,
}

/// A Remote post carries the submission's files: up to `server.max_submission_bytes`.
fn submission_limit(web: &Web) -> BodyLimit {
    BodyLimit::bytes(web.intake.config.server.max_submission_bytes)
        .configured_by("server.max_submission_bytes")
}

/// A JSON error that names what is wrong.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
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
/// `Authorization` value it is configured with (the operator's token is read the same way).
const BEARER_OR_BARE: [&str; 2] = ["Bearer ", ""];

/// What the store could not do, as the caller sees it: a missing delivery 404, a state that
/// does not allow the action 409 (both naming the delivery and why), a failing database a
/// plain 503 (logged for the operator; the caller may try again), a value this version cannot
/// read 500 (naming its column).
impl IntoResponse for StoreError {
    fn into_response(self) -> Response {
        match self {
            StoreError::NotFound(_) => error(StatusCode::NOT_FOUND, self.to_string()),
            StoreError::Conflict { .. } => error(StatusCode::CONFLICT, self.to_string()),
            StoreError::Database(_) => {
                tracing::error!(error = %self, "database error in the API");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database does not answer; try again",
                )
            }
            // Written by a newer version, or by hand: trying again will not help.
            StoreError::UnknownText { .. } => {
                tracing::error!(error = %self, "unreadable value in the database");
                error(StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
            }
        }
    }
}

/// Lets a handler answer a store error with `?` (through the mapping above).
impl From<StoreError> for Response {
    fn from(e: StoreError) -> Self {
        e.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{OPENAPI, ROUTES};

    /// The router and the contract name the same routes.
    #[test]
    fn every_route_is_documented_and_nothing_else_is() {
        let problems = service_kit::testing::routes_against_openapi(ROUTES, OPENAPI);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
