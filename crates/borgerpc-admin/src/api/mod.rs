//! The operator API: `/api/system/*`, compatible with the upstream portal's read API (Bearer
//! API key bound to a site, paginated `{"items": [...], "count": n}`), the reports as JSON
//! (`/api/reports/*`, issue 14), plus what operators
//! manage — run scripts, activate PCs, handle events, groups and their members and policies,
//! configuration entries, security and offline rules, wake plans, users and API keys, approving
//! a PC's key — and `/api/auth/logout` for users (logging in is [`crate::login`]'s). The contract is `openapi.json`, served at `/api/openapi.json`;
//! [`ROUTES`] is the list of routes, and a test keeps the two the same.
//!
//! Roles (`store/access.rs`) are enforced in one place: every handler takes a [`Caller<R>`],
//! which admits only a caller whose role is at least `R` on some site and narrows the caller's
//! scope to those sites. A handler without a `Caller` has no scope to query with. The role
//! each route needs is written in `openapi.json` (`x-role`) and checked by a test that calls
//! every route as every role.
//!
//! Tenancy: every query is filtered by the scope, and anything outside it answers 404 exactly
//! as a missing id does; an object the caller sees with too small a role answers 403. Every
//! write is in the audit log with its actor.
//!
//! Bodies: [`Caller`] authenticates from the header before a handler's body is read; bodies
//! are small JSON documents ([`BodyLimit::SMALL`]) except where a script's file parameter is
//! uploaded (up to `server.max_body_bytes`).
//!
//! Layout: this module holds the router ([`ROUTES`]), the [`Caller`] extractor, the one
//! mapping of store errors to HTTP ([`ApiError`]) and the helpers every handler shares; each
//! submodule owns the handlers of one part of the API (`sites`, `config`, `pcs`, `jobs`,
//! `events`, `groups`, `rules`, `wakeplans`, `users`, `reports`).

use crate::store::access::{Role, Scope};
use crate::store::operator::{Object, Page};
use crate::store::{Error as StoreError, Result as StoreResult, Store};
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_kit::auth::{Authenticator, Credential, Sources, authenticate};
use service_kit::http::{Body, BodyError, BodyLimit};
use std::marker::PhantomData;

mod config;
mod events;
mod groups;
mod jobs;
mod pcs;
pub(crate) mod reports;
mod rules;
mod sites;
mod users;
mod wakeplans;

pub const OPENAPI: &str = include_str!("../../openapi.json");
const DAY_MS: i64 = 86_400_000;

/// Declares the routes once: the router, and [`ROUTES`] for the test that holds them to
/// `openapi.json`.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path $([$limit:ident])?,)*) => {
        /// Every route as (method, path), in `openapi.json`'s terms.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// `uploads`: the limit of the routes that take a script's file parameters.
        pub fn router(store: Store, uploads: BodyLimit) -> Router {
            Router::new()
                $(.route(
                    $path,
                    limited(axum::routing::$method($handler), None $(.or(Some(Limit::$limit)))?, uploads),
                ))*
                .layer(BodyLimit::SMALL.layer())
                .with_state(store)
        }
    };
}

/// A route's body limit, where it is not [`BodyLimit::SMALL`].
#[derive(Clone, Copy)]
enum Limit {
    /// A script's file parameters: up to `server.max_body_bytes`.
    Upload,
    /// A bulk activation's list of uids.
    Activate,
}

fn limited(
    route: axum::routing::MethodRouter<Store>,
    limit: Option<Limit>,
    uploads: BodyLimit,
) -> axum::routing::MethodRouter<Store> {
    match limit {
        None => route,
        Some(Limit::Upload) => route.layer(uploads.layer()),
        Some(Limit::Activate) => route.layer(BodyLimit::bytes(pcs::ACTIVATE_BODY).layer()),
    }
}

routes! {
    get "/api/openapi.json" => openapi,
    post "/api/auth/logout" => logout,
    get "/api/system/sites" => sites::sites,
    post "/api/system/sites" => sites::create_site,
    patch "/api/system/site/{id}" => sites::change_site,
    get "/api/system/site/{id}/config" => config::site_config,
    patch "/api/system/site/{id}/config" => config::change_site_config,
    get "/api/system/site/{id}/opening-hours" => sites::opening_hours,
    put "/api/system/site/{id}/opening-hours" => sites::set_opening_hours,
    get "/api/system/computers" => pcs::computers,
    get "/api/system/pcs" => pcs::computers,
    get "/api/system/pc/{id}" => pcs::pc,
    post "/api/system/pc/{id}/activate" => pcs::activate,
    post "/api/system/pc/{id}/approve-key" => pcs::approve_key,
    post "/api/system/pcs/activate" => pcs::activate_many [Activate],
    get "/api/system/pc/{id}/config" => config::pc_config,
    patch "/api/system/pc/{id}/config" => config::change_pc_config,
    get "/api/system/configuration/{id}" => pcs::configuration,
    get "/api/system/computers/logins-per-day" => pcs::logins_per_day_all,
    get "/api/system/computers/{id}/logins-per-day" => pcs::logins_per_day,
    get "/api/system/jobs" => jobs::jobs,
    post "/api/system/jobs" => jobs::run_script [Upload],
    get "/api/system/job/{id}" => jobs::job,
    post "/api/system/job/{id}/restart" => jobs::restart_job,
    get "/api/system/events" => events::events,
    get "/api/system/event/{id}" => events::event,
    patch "/api/system/event/{id}" => events::update_event,
    get "/api/system/scripts" => jobs::scripts,
    get "/api/system/groups" => groups::groups,
    post "/api/system/groups" => groups::create_group,
    get "/api/system/group/{id}" => groups::group,
    patch "/api/system/group/{id}" => groups::change_group,
    delete "/api/system/group/{id}" => groups::delete_group,
    post "/api/system/group/{id}/members" => groups::join_group,
    delete "/api/system/group/{id}/members/{pc_id}" => groups::leave_group,
    get "/api/system/group/{id}/config" => config::group_config,
    patch "/api/system/group/{id}/config" => config::change_group_config,
    post "/api/system/group/{id}/policies" => groups::add_policy [Upload],
    patch "/api/system/policy/{id}" => groups::set_policy [Upload],
    get "/api/system/security-rules" => rules::security_rules,
    post "/api/system/security-rules" => rules::create_security_rule,
    get "/api/system/security-rule/{id}" => rules::security_rule,
    patch "/api/system/security-rule/{id}" => rules::change_security_rule,
    delete "/api/system/security-rule/{id}" => rules::delete_security_rule,
    get "/api/system/offline-rules" => rules::offline_rules,
    post "/api/system/offline-rules" => rules::create_offline_rule,
    get "/api/system/offline-rule/{id}" => rules::offline_rule,
    patch "/api/system/offline-rule/{id}" => rules::change_offline_rule,
    delete "/api/system/offline-rule/{id}" => rules::delete_offline_rule,
    get "/api/system/wake-plans" => wakeplans::wake_plans,
    post "/api/system/wake-plans" => wakeplans::create_wake_plan,
    get "/api/system/wake-plan/{id}" => wakeplans::wake_plan,
    patch "/api/system/wake-plan/{id}" => wakeplans::change_wake_plan,
    delete "/api/system/wake-plan/{id}" => wakeplans::delete_wake_plan,
    get "/api/system/users" => users::users,
    post "/api/system/users" => users::create_user,
    post "/api/system/user/{id}/roles" => users::grant_role,
    delete "/api/system/user/{id}" => users::remove_user,
    get "/api/system/api-keys" => users::api_keys,
    post "/api/system/api-keys" => users::create_api_key,
    delete "/api/system/api-key/{id}" => users::revoke_api_key,
    get "/api/reports/availability" => reports::availability,
    get "/api/reports/usage" => reports::usage,
    get "/api/reports/changes" => reports::changes::changes,
    get "/api/reports/jobs" => reports::jobs::jobs,
    get "/api/reports/security" => reports::security::security,
    get "/api/reports/inventory" => reports::inventory::inventory,
}

/// An error as JSON `{"detail": "..."}`.
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// The status it answers with, for a page that calls the same code (the reports' files).
    pub(crate) fn status(&self) -> StatusCode {
        self.0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"detail": self.1}))).into_response()
    }
}

fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not found".into())
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
}

/// The one mapping of the store's errors to HTTP: the input refused (422, naming the field),
/// the object's state in the way (409), a name not found (404), and the portal's own trouble
/// (503 for the database, 500 for data it cannot read), logged and never shown.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => unprocessable(m.to_string()),
            StoreError::Conflict(m) => ApiError(StatusCode::CONFLICT, m.to_string()),
            StoreError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m),
            StoreError::Database(_) => {
                tracing::error!(error = %e, "operator API: database unavailable");
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the portal's database is unavailable; try again later".into(),
                )
            }
            StoreError::Hash(_) => {
                tracing::error!(error = %e, "operator API: password hashing failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the portal could not hash the password; see its log".into(),
                )
            }
            StoreError::UnknownValue { .. } | StoreError::Json(_) => {
                tracing::error!(error = %e, "operator API: stored data this version cannot read");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the portal's database holds data this version cannot read; see its log".into(),
                )
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

fn created(v: impl serde::Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The one scheme the operator API takes, for API keys and session tokens alike.
const BEARER: [&str; 1] = ["Bearer "];

fn bearer(headers: &HeaderMap) -> Option<&str> {
    service_kit::http::credential(headers, &BEARER)
}

/// The least role a route needs (a marker type for [`Caller`]).
pub trait Need {
    const ROLE: Role;
}

/// Any caller with a role: reads.
pub struct Reader;
/// The daily work: site users and API keys with write access.
pub struct SiteUser;
/// Deleting, and managing users and API keys.
pub struct SiteAdmin;
/// Creating sites and customer admins.
pub struct CustomerAdmin;

impl Need for Reader {
    const ROLE: Role = Role::Reader;
}
impl Need for SiteUser {
    const ROLE: Role = Role::SiteUser;
}
impl Need for SiteAdmin {
    const ROLE: Role = Role::SiteAdmin;
}
impl Need for CustomerAdmin {
    const ROLE: Role = Role::CustomerAdmin;
}

/// The caller, from `Authorization: Bearer <API key or session token>`, admitted only with at
/// least the role `N` somewhere; its scope holds only the sites where it has that role. (The
/// body is read after this, so nothing is read from a caller who may not make the request.)
pub struct Caller<N> {
    scope: Scope,
    _need: PhantomData<N>,
}

fn unauthorized() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "Authorization: give 'Bearer <API key>' or 'Bearer <session token>' from /api/auth/login"
            .into(),
    )
}

impl<N: Need + Send + Sync> Authenticator for Caller<N> {
    type State = Store;
    type Principal = Self;
    type Rejection = ApiError;
    /// API keys and session tokens are far shorter; a longer value is not looked up.
    const SOURCES: Sources = Sources::authorization(&BEARER, 200);

    async fn unauthenticated(_: &mut Parts, _: &Store) -> ApiError {
        unauthorized()
    }

    async fn authenticate(
        credential: Credential<'_>,
        _: &mut Parts,
        store: &Store,
    ) -> Result<Self, ApiError> {
        let Credential::Bearer(token) = credential;
        let scope = store
            .scope_of_token(token)
            .await?
            .ok_or_else(unauthorized)?;
        let highest = scope.highest();
        match scope.narrowed(N::ROLE) {
            Some(scope) => Ok(Caller {
                scope,
                _need: PhantomData,
            }),
            None => Err(forbidden(N::ROLE, highest)),
        }
    }
}

impl<N: Need + Send + Sync> FromRequestParts<Store> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, store: &Store) -> Result<Self, ApiError> {
        authenticate::<Self>(parts, store).await
    }
}

fn forbidden(need: Role, have: Option<Role>) -> ApiError {
    let detail = match have {
        Some(Role::Reader) => {
            "this API key may only read; create a key with write access to change things".into()
        }
        Some(have) => format!(
            "this needs the role {} (or higher) on the site; you are {}",
            need.name(),
            have.name()
        ),
        None => "you have no role on any site; ask an administrator for one".into(),
    };
    ApiError(StatusCode::FORBIDDEN, detail)
}

impl<N: Need> Caller<N> {
    /// Why an object is not there for this request: 403 if the caller sees its site (with
    /// too small a role), else 404, as for an id that does not exist.
    async fn missing(&self, store: &Store, object: Object) -> ApiError {
        match store.site_of(object).await {
            Ok(Some(site)) if self.scope.visible(site) => forbidden(
                N::ROLE,
                self.scope
                    .roles
                    .iter()
                    .find(|(s, _)| *s == site)
                    .map(|(_, r)| *r),
            ),
            Ok(_) => not_found(),
            Err(e) => e.into(),
        }
    }

    /// The end of a scoped store call: the value, or 404/403 for `None`, or the refusal.
    async fn found<T>(
        &self,
        store: &Store,
        done: StoreResult<Option<T>>,
        object: Object,
    ) -> Result<T, ApiError> {
        match done {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.missing(store, object).await),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Caller::found`] for a store write that does not record itself: records it.
    async fn audited<T>(
        &self,
        store: &Store,
        done: StoreResult<Option<T>>,
        object: Object,
        action: &str,
        target: impl FnOnce(&T) -> String,
    ) -> Result<T, ApiError> {
        let done = self.found(store, done, object).await?;
        let site = store.site_of(object).await?;
        store
            .audit(&self.scope.actor, site, action, &target(&done))
            .await?;
        Ok(done)
    }

    /// The request's sites, narrowed to one site (by uid) when the caller asks for one.
    async fn sites(&self, store: &Store, site: Option<&str>) -> Result<Vec<i64>, ApiError> {
        match site {
            None => Ok(self.scope.sites.clone()),
            Some(uid) => Ok(vec![self.site_id(store, uid).await?]),
        }
    }

    /// A site named by uid in a query or body, within the request's scope.
    async fn site_id(&self, store: &Store, uid: &str) -> Result<i64, ApiError> {
        match store.site_by_uid(uid).await? {
            Some(s) if self.scope.sees(s.id) => Ok(s.id),
            Some(s) => Err(self.missing(store, Object::Site(s.id)).await),
            None => Err(not_found()),
        }
    }
}

/// A handler's JSON body, read after [`Caller`] (when it has one) within the route's limit.
type JsonBody = Result<Body, BodyError>;

fn body<T: DeserializeOwned>(b: JsonBody) -> Result<T, ApiError> {
    let Body(b) = b.map_err(|e| ApiError(e.status(), e.to_string()))?;
    let text = std::str::from_utf8(&b).map_err(|_| unprocessable("body: is not valid UTF-8"))?;
    let v: Value =
        serde_json::from_str(text).map_err(|e| unprocessable(format!("body: not JSON ({e})")))?;
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        unprocessable(format!("{path}: {}", e.into_inner()))
    })
}

type QueryIn<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    site: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
    status: Option<String>,
}

impl ListQuery {
    fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(100);
        let offset = self.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(unprocessable("limit: must be 1 to 1000"));
        }
        if offset < 0 {
            return Err(unprocessable("offset: must not be negative"));
        }
        Ok(Page { limit, offset })
    }

    /// [from, to) in Unix ms from `YYYY-MM-DD` dates (to_date inclusive), default the last
    /// `default_days`.
    fn period(&self, default_days: i64) -> Result<(i64, i64), ApiError> {
        let day = |field: &str, s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc().timestamp_millis())
                        .unwrap_or(0)
                })
                .map_err(|_| unprocessable(format!("{field}: {s:?} is not a date like 2026-11-30")))
        };
        let now = service_kit::db::now_ms();
        let to = match &self.to_date {
            Some(s) => day("to_date", s)? + DAY_MS,
            None => now + DAY_MS,
        };
        let from = match &self.from_date {
            Some(s) => day("from_date", s)?,
            None => now - default_days * DAY_MS,
        };
        Ok((from, to))
    }
}

fn query<T: DeserializeOwned>(q: QueryIn<T>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| unprocessable(format!("query: {}", e.body_text())))
}

/// `?site=<uid>` and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteQuery {
    site: Option<String>,
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn logout(State(store): State<Store>, headers: HeaderMap, _c: Caller<Reader>) -> ApiResult {
    if let Some(t) = bearer(&headers) {
        store.logout(t).await?;
    }
    no_content()
}

#[cfg(test)]
mod tests {
    use super::{OPENAPI, ROUTES};
    use service_kit::testing::{openapi_operations, routes_against_openapi};

    /// The router and the contract name the same routes, and the contract says for each the
    /// role it needs (the role matrix test in `tests/api.rs` holds the server to it).
    #[test]
    fn every_route_is_documented_with_its_role_and_nothing_else_is() {
        let routes: Vec<_> = ROUTES
            .iter()
            .copied()
            .chain([("post", crate::login::LOGIN_PATH)])
            .collect();
        let problems = routes_against_openapi(&routes, OPENAPI);
        assert!(problems.is_empty(), "{problems:#?}");
        let roles = [
            "none",
            "reader",
            "site_user",
            "site_admin",
            "customer_admin",
        ];
        for ((method, path), op) in openapi_operations(OPENAPI) {
            let role = op["x-role"].as_str().unwrap_or("missing");
            assert!(roles.contains(&role), "{method} {path}: x-role {role}");
        }
    }
}
