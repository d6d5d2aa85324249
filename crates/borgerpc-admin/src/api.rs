//! The operator API: `/api/system/*`, compatible with the upstream portal's read API (Bearer
//! API key bound to a site, paginated `{"items": [...], "count": n}`), plus what operators
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

use crate::store::Store;
use crate::store::access::{Grant, Role, Scope};
use crate::store::config::Owner;
use crate::store::groups::GroupChange;
use crate::store::jobs::{ParamValue, RunScript};
use crate::store::operator::{EventChange, Object, Page};
use crate::store::pcs::{ApprovalRefused, PcRef, short_fingerprint};
use crate::store::rules::{RuleFields, RuleKind};
use crate::store::tenants::SiteChange;
use crate::store::wakeplans::{Day, Exception, PlanFields};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_kit::http::{Body, BodyError, BodyLimit};
use std::marker::PhantomData;

pub const OPENAPI: &str = include_str!("../openapi.json");
const DAY_MS: i64 = 86_400_000;

/// Declares the routes once: the router, and [`ROUTES`] for the test that holds them to
/// `openapi.json`.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:ident $([$limit:ident])?,)*) => {
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
        Some(Limit::Activate) => route.layer(BodyLimit::bytes(ACTIVATE_BODY).layer()),
    }
}

routes! {
    get "/api/openapi.json" => openapi,
    post "/api/auth/logout" => logout,
    get "/api/system/sites" => sites,
    post "/api/system/sites" => create_site,
    patch "/api/system/site/{id}" => change_site,
    get "/api/system/site/{id}/config" => site_config,
    patch "/api/system/site/{id}/config" => change_site_config,
    get "/api/system/computers" => computers,
    get "/api/system/pcs" => computers,
    get "/api/system/pc/{id}" => pc,
    post "/api/system/pc/{id}/activate" => activate,
    post "/api/system/pc/{id}/approve-key" => approve_key,
    post "/api/system/pcs/activate" => activate_many [Activate],
    get "/api/system/pc/{id}/config" => pc_config,
    patch "/api/system/pc/{id}/config" => change_pc_config,
    get "/api/system/configuration/{id}" => configuration,
    get "/api/system/computers/logins-per-day" => logins_per_day_all,
    get "/api/system/computers/{id}/logins-per-day" => logins_per_day,
    get "/api/system/jobs" => jobs,
    post "/api/system/jobs" => run_script [Upload],
    get "/api/system/job/{id}" => job,
    post "/api/system/job/{id}/restart" => restart_job,
    get "/api/system/events" => events,
    get "/api/system/event/{id}" => event,
    patch "/api/system/event/{id}" => update_event,
    get "/api/system/scripts" => scripts,
    get "/api/system/groups" => groups,
    post "/api/system/groups" => create_group,
    get "/api/system/group/{id}" => group,
    patch "/api/system/group/{id}" => change_group,
    delete "/api/system/group/{id}" => delete_group,
    post "/api/system/group/{id}/members" => join_group,
    delete "/api/system/group/{id}/members/{pc_id}" => leave_group,
    get "/api/system/group/{id}/config" => group_config,
    patch "/api/system/group/{id}/config" => change_group_config,
    post "/api/system/group/{id}/policies" => add_policy [Upload],
    patch "/api/system/policy/{id}" => set_policy [Upload],
    get "/api/system/security-rules" => security_rules,
    post "/api/system/security-rules" => create_security_rule,
    get "/api/system/security-rule/{id}" => security_rule,
    patch "/api/system/security-rule/{id}" => change_security_rule,
    delete "/api/system/security-rule/{id}" => delete_security_rule,
    get "/api/system/offline-rules" => offline_rules,
    post "/api/system/offline-rules" => create_offline_rule,
    get "/api/system/offline-rule/{id}" => offline_rule,
    patch "/api/system/offline-rule/{id}" => change_offline_rule,
    delete "/api/system/offline-rule/{id}" => delete_offline_rule,
    get "/api/system/wake-plans" => wake_plans,
    post "/api/system/wake-plans" => create_wake_plan,
    get "/api/system/wake-plan/{id}" => wake_plan,
    patch "/api/system/wake-plan/{id}" => change_wake_plan,
    delete "/api/system/wake-plan/{id}" => delete_wake_plan,
    get "/api/system/users" => users,
    post "/api/system/users" => create_user,
    post "/api/system/user/{id}/roles" => grant_role,
    delete "/api/system/user/{id}" => remove_user,
    get "/api/system/api-keys" => api_keys,
    post "/api/system/api-keys" => create_api_key,
    delete "/api/system/api-key/{id}" => revoke_api_key,
}

/// An error as JSON `{"detail": "..."}`.
pub struct ApiError(StatusCode, String);

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

fn unavailable(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %e, "operator API: database unavailable");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the portal's database is unavailable; try again later".into(),
    )
}

fn is_database(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<sqlx::Error>())
}

/// A store error is the database's, never the caller's: 503, logged, and `?` gives it.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        unavailable(e)
    }
}

/// A store function's error: the database's (503), a conflict with the current state (409),
/// or the store refusing the request, naming the field (422).
fn refused(e: anyhow::Error) -> ApiError {
    if is_database(&e) {
        return unavailable(e);
    }
    let status = if e.chain().any(|c| c.is::<crate::store::Conflict>()) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    ApiError(status, format!("{e:#}"))
}

/// What a store refusal becomes when it is about the object's state, not the input.
fn as_conflict(e: anyhow::Error) -> anyhow::Error {
    if is_database(&e) {
        e
    } else {
        anyhow::Error::new(crate::store::Conflict(format!("{e:#}")))
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    service_kit::http::credential(headers, &["Bearer "])
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

impl<N: Need + Send + Sync> FromRequestParts<Store> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, store: &Store) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "Authorization: give 'Bearer <API key>' or 'Bearer <session token>' from /api/auth/login".into(),
            )
        };
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        if token.len() > 200 {
            return Err(unauthorized());
        }
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
            Err(e) => unavailable(e),
        }
    }

    /// The end of a scoped store call: the value, or 404/403 for `None`, or the refusal.
    async fn found<T>(
        &self,
        store: &Store,
        done: anyhow::Result<Option<T>>,
        object: Object,
    ) -> Result<T, ApiError> {
        match done {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.missing(store, object).await),
            Err(e) => Err(refused(e)),
        }
    }

    /// [`Caller::found`] for a store write that does not record itself: records it.
    async fn audited<T>(
        &self,
        store: &Store,
        done: anyhow::Result<Option<T>>,
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

// --- Sites ---

async fn sites(State(store): State<Store>, c: Caller<Reader>) -> ApiResult {
    let all = store.sites(None).await?;
    ok(all
        .into_iter()
        .filter(|s| c.scope.sees(s.id))
        .collect::<Vec<_>>())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteIn {
    customer_id: i64,
    uid: String,
    name: String,
}

async fn create_site(
    State(store): State<Store>,
    c: Caller<CustomerAdmin>,
    b: JsonBody,
) -> ApiResult {
    let s: SiteIn = body(b)?;
    match store
        .create_site(&c.scope, s.customer_id, &s.uid, &s.name)
        .await
    {
        Ok(Some(site)) => created(site),
        Ok(None) => Err(not_found()),
        Err(e) => Err(refused(e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SitePatch {
    name: Option<String>,
    legacy_xmlrpc: Option<bool>,
    rerun_asc: Option<bool>,
}

async fn change_site(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: SitePatch = body(b)?;
    let change = SiteChange {
        name: p.name,
        legacy_xmlrpc: p.legacy_xmlrpc,
        rerun_asc: p.rerun_asc,
    };
    let done = store.change_site(&c.scope, id, &change).await;
    ok(c.found(&store, done, Object::Site(id)).await?)
}

// --- Configuration entries ---

/// `{"entries": {"key": "value", "other": null}}`: set the first, remove the second.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    entries: serde_json::Map<String, Value>,
}

async fn config_of<N: Need>(store: &Store, c: &Caller<N>, owner: Owner) -> ApiResult {
    let done = store.config_entries(&c.scope.sites, owner).await;
    ok(json!({"entries": c.found(store, done, owner.object()).await?}))
}

async fn change_config_of(
    store: &Store,
    c: &Caller<SiteUser>,
    owner: Owner,
    b: JsonBody,
) -> ApiResult {
    let p: ConfigPatch = body(b)?;
    let mut changes = Vec::with_capacity(p.entries.len());
    for (key, value) in p.entries {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => {
                return Err(unprocessable(format!(
                    "entries.{key}: give a string, or null to remove the key"
                )));
            }
        };
        changes.push((key, value));
    }
    let done = store.change_config(&c.scope, owner, &changes).await;
    ok(json!({"entries": c.found(store, done, owner.object()).await?}))
}

async fn site_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Site(id)).await
}

async fn change_site_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Site(id), b).await
}

async fn group_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Group(id)).await
}

async fn change_group_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Group(id), b).await
}

async fn pc_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Pc(id)).await
}

async fn change_pc_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Pc(id), b).await
}

// --- PCs (upstream's read API, and activation) ---

async fn computers(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    ok(store.api_pcs(&sites, None, &q.page()?).await?)
}

async fn pc(State(store): State<Store>, c: Caller<Reader>, Path(id): Path<i64>) -> ApiResult {
    let done = store.api_pc(&c.scope.sites, id).await.map_err(refused)?;
    ok(c.found(&store, Ok(done), Object::Pc(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activate {
    is_activated: bool,
}

async fn activate(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let a: Activate = body(b)?;
    if !store
        .api_set_activated(&c.scope.sites, id, a.is_activated)
        .await?
    {
        return Err(c.missing(&store, Object::Pc(id)).await);
    }
    let action = if a.is_activated {
        "pc.activate"
    } else {
        "pc.deactivate"
    };
    let pc = store.api_pc(&c.scope.sites, id).await;
    ok(
        c.audited(&store, pc, Object::Pc(id), action, |_| format!("pc:{id}"))
            .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveKey {
    fingerprint: String,
}

/// Binds a client key to a PC that had none (see `Store::approve_client_key`). The role that
/// activates PCs approves their keys: both admit a machine, and only by what the operator
/// read on its screen.
async fn approve_key(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let a: ApproveKey = body(b)?;
    let done = store
        .approve_client_key(&c.scope.sites, PcRef::Id(id), &a.fingerprint)
        .await
        .map_err(|e| match e.downcast_ref::<ApprovalRefused>() {
            Some(ApprovalRefused::Malformed) | None => e,
            Some(_) => as_conflict(e),
        });
    let done = c
        .audited(&store, done, Object::Pc(id), "pc.approve_key", |d| {
            format!("pc:{id} key:{}", short_fingerprint(&d.fingerprint))
        })
        .await?;
    ok(json!({"pc_id": done.pc_id, "uid": done.uid, "fingerprint": done.fingerprint}))
}

/// Most PCs one bulk activation may name: a municipality's whole new batch, still one
/// short transaction.
const ACTIVATE_MAX: usize = 1000;
/// Room for [`ACTIVATE_MAX`] uids of the most characters allowed.
const ACTIVATE_BODY: usize = 128 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateMany {
    uids: Vec<String>,
    is_activated: bool,
}

/// Activates or deactivates many PCs by uid, all or none.
async fn activate_many(State(store): State<Store>, c: Caller<SiteUser>, b: JsonBody) -> ApiResult {
    let a: ActivateMany = body(b)?;
    if a.uids.is_empty() || a.uids.len() > ACTIVATE_MAX {
        return Err(unprocessable(format!(
            "uids: give between 1 and {ACTIVATE_MAX} PC uids, not {}",
            a.uids.len()
        )));
    }
    if let Some((i, _)) = a
        .uids
        .iter()
        .enumerate()
        .find(|(_, u)| u.is_empty() || u.len() > 64)
    {
        return Err(unprocessable(format!(
            "uids.{i}: a PC uid is 1 to 64 characters"
        )));
    }
    let mut uids = a.uids;
    uids.sort();
    uids.dedup();
    match store
        .api_set_activated_many(&c.scope.sites, &uids, a.is_activated, &c.scope.actor)
        .await?
    {
        Ok(changed) => ok(json!({"changed": changed, "unchanged": uids.len() as u64 - changed})),
        Err(missing) => {
            let shown: Vec<&str> = missing.iter().take(20).map(String::as_str).collect();
            Err(ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "uids: {} unknown PC(s), nothing changed: {}{}",
                    missing.len(),
                    shown.join(", "),
                    if missing.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                ),
            ))
        }
    }
}

async fn configuration(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.api_configuration(&c.scope.sites, id).await;
    let entries = c.found(&store, done, Object::Pc(id)).await?;
    ok(entries
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect::<Vec<_>>())
}

/// Logins per day as the PC's own `login_counts` entry reports them (a core script pushes it).
fn logins_view(name: &str, entries: &[(String, String)]) -> Value {
    let counts = entries
        .iter()
        .find(|(k, _)| k == "login_counts")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    json!({"pc_name": name, "logins_per_day": counts})
}

async fn logins_per_day(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.api_pc(&c.scope.sites, id).await;
    let pc = c.found(&store, done, Object::Pc(id)).await?;
    let entries = store
        .api_configuration(&c.scope.sites, id)
        .await?
        .unwrap_or_default();
    ok(logins_view(&pc.name, &entries))
}

async fn logins_per_day_all(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let pcs = store.api_pcs(&sites, None, &q.page()?).await?;
    let mut out = Vec::with_capacity(pcs.items.len());
    for pc in &pcs.items {
        let entries = store
            .api_configuration(&sites, pc.id)
            .await?
            .unwrap_or_default();
        out.push(logins_view(&pc.name, &entries));
    }
    ok(out)
}

// --- Jobs ---

async fn jobs(State(store): State<Store>, c: Caller<Reader>, q: QueryIn<ListQuery>) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let (from, to) = q.period(90)?;
    ok(store.api_jobs(&sites, from, to, &q.page()?).await?)
}

async fn job(State(store): State<Store>, c: Caller<Reader>, Path(id): Path<i64>) -> ApiResult {
    let done = store.api_job(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::Job(id)).await?)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ParamIn {
    Text(String),
    File {
        name: String,
        content_base64: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunIn {
    script_id: i64,
    #[serde(default)]
    pcs: Vec<i64>,
    #[serde(default)]
    groups: Vec<i64>,
    #[serde(default)]
    parameters: Vec<ParamIn>,
}

fn param_values(given: Vec<ParamIn>) -> Result<Vec<ParamValue>, ApiError> {
    let mut params = Vec::with_capacity(given.len());
    for (i, p) in given.into_iter().enumerate() {
        params.push(match p {
            ParamIn::Text(t) => ParamValue::Text(t),
            ParamIn::File {
                name,
                content_base64,
            } => ParamValue::File {
                name,
                data: base64::engine::general_purpose::STANDARD
                    .decode(content_base64.as_bytes())
                    .map_err(|_| {
                        unprocessable(format!("parameters[{i}].content_base64: is not Base64"))
                    })?,
            },
        });
    }
    Ok(params)
}

/// Runs a script on PCs and groups of one site: one batch, one NEW job per PC.
async fn run_script(State(store): State<Store>, c: Caller<SiteUser>, b: JsonBody) -> ApiResult {
    let r: RunIn = body(b)?;
    if r.pcs.len() + r.groups.len() > crate::store::MAX_IDS {
        return Err(unprocessable(format!(
            "pcs, groups: at most {} together",
            crate::store::MAX_IDS
        )));
    }
    let mut site = None;
    let mut pc_ids = Vec::new();
    let mut same_site = |s: i64, what: String| -> Result<(), ApiError> {
        match site {
            Some(x) if x != s => Err(unprocessable(format!(
                "{what}: all PCs and groups must be on one site"
            ))),
            _ => {
                site = Some(s);
                Ok(())
            }
        }
    };
    for id in &r.pcs {
        let s = store.api_pc_site(&c.scope.sites, *id).await;
        let s = c.found(&store, s, Object::Pc(*id)).await?;
        same_site(s, format!("pcs: {id}"))?;
        pc_ids.push(*id);
    }
    for g in &r.groups {
        let found = store.api_group_members(&c.scope.sites, *g).await;
        let (s, members) = c.found(&store, found, Object::Group(*g)).await?;
        same_site(s, format!("groups: {g}"))?;
        pc_ids.extend(members);
    }
    let Some(site) = site else {
        return Err(unprocessable("pcs: give at least one PC or group"));
    };
    pc_ids.sort_unstable();
    pc_ids.dedup();
    if store.script_for_site(site, r.script_id).await?.is_none() {
        return Err(not_found());
    }
    let params = param_values(r.parameters)?;
    let batch = store
        .run_script(RunScript {
            site_id: site,
            script_id: r.script_id,
            pc_ids: &pc_ids,
            params,
            created_by: &c.scope.actor,
        })
        .await
        .map_err(refused)?;
    store
        .audit(
            &c.scope.actor,
            Some(site),
            "script.run",
            &format!("script:{} batch:{}", r.script_id, batch.batch_id),
        )
        .await?;
    created(batch)
}

/// Runs a finished job again (a new job with the same script version and parameters); the old
/// one becomes RESOLVED.
async fn restart_job(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store
        .restart_job(&c.scope.sites, id, &c.scope.actor)
        .await
        .map_err(as_conflict);
    let new_job = c
        .audited(&store, done, Object::Job(id), "job.restart", |new_job| {
            format!("job:{id} new:{new_job}")
        })
        .await?;
    created(json!({"job_id": new_job}))
}

// --- Events ---

async fn events(State(store): State<Store>, c: Caller<Reader>, q: QueryIn<ListQuery>) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let (from, to) = q.period(90)?;
    // Upstream's default: the new ones. `status=NEW,ASSIGNED` or `status=ALL` widen it.
    let statuses: Vec<String> = match q.status.as_deref() {
        None => vec!["NEW".into()],
        Some("ALL") => Vec::new(),
        Some(s) => {
            let list: Vec<String> = s.split(',').map(|x| x.trim().to_uppercase()).collect();
            for x in &list {
                if !crate::store::events::EVENT_STATUSES.contains(&x.as_str()) {
                    return Err(unprocessable(format!(
                        "status: {x:?} is not NEW, ASSIGNED, RESOLVED or ALL"
                    )));
                }
            }
            list
        }
    };
    ok(store
        .api_events(&sites, from, to, &statuses, &q.page()?)
        .await?)
}

async fn event(State(store): State<Store>, c: Caller<Reader>, Path(id): Path<i64>) -> ApiResult {
    let done = store.api_event(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::Event(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventPatch {
    status: Option<String>,
    #[serde(default, deserialize_with = "explicit_null")]
    assigned_user: Option<Option<i64>>,
    note: Option<String>,
}

/// `"field": null` clears it; leaving the field out keeps it.
fn explicit_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?))
}

async fn update_event(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: EventPatch = body(b)?;
    let change = EventChange {
        status: p.status.map(|s| s.to_uppercase()),
        assigned_user: p.assigned_user,
        note: p.note,
    };
    let done = store.api_update_event(&c.scope.sites, id, &change).await;
    ok(
        c.audited(&store, done, Object::Event(id), "event.update", |_| {
            format!("event:{id}")
        })
        .await?,
    )
}

async fn scripts(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let [site] = sites[..] else {
        return Err(unprocessable(
            "site: give the site (uid) whose scripts to list",
        ));
    };
    ok(store.api_scripts(site).await?)
}

// --- Groups, members, policies ---

async fn groups(State(store): State<Store>, c: Caller<Reader>, q: QueryIn<SiteQuery>) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    ok(store.groups(&sites).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupIn {
    site: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    supervisors: Vec<i64>,
}

async fn create_group(State(store): State<Store>, c: Caller<SiteUser>, b: JsonBody) -> ApiResult {
    let g: GroupIn = body(b)?;
    let site = c.site_id(&store, &g.site).await?;
    let done = store
        .create_group(&c.scope, site, &g.name, &g.description, &g.supervisors)
        .await;
    created(c.found(&store, done, Object::Site(site)).await?)
}

async fn group(State(store): State<Store>, c: Caller<Reader>, Path(id): Path<i64>) -> ApiResult {
    let done = store.group(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::Group(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    name: Option<String>,
    description: Option<String>,
    supervisors: Option<Vec<i64>>,
}

async fn change_group(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: GroupPatch = body(b)?;
    let change = GroupChange {
        name: p.name,
        description: p.description,
        supervisors: p.supervisors,
    };
    let done = store.change_group(&c.scope, id, &change).await;
    ok(c.found(&store, done, Object::Group(id)).await?)
}

async fn delete_group(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.delete_group(&c.scope, id).await;
    c.found(&store, done, Object::Group(id)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinIn {
    pc_id: i64,
}

/// Puts a PC in a group; the group's policies run on it.
async fn join_group(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let j: JoinIn = body(b)?;
    let done = store.join_group(&c.scope, id, j.pc_id).await;
    let runs = c.found(&store, done, Object::Group(id)).await?;
    ok(json!({"policies": runs}))
}

/// Takes a PC out of a group.
async fn leave_group(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path((id, pc_id)): Path<(i64, i64)>,
) -> ApiResult {
    let done = store.leave_group(&c.scope, id, pc_id).await;
    let was_member = c.found(&store, done, Object::Group(id)).await?;
    ok(json!({"removed": was_member}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyIn {
    script_id: i64,
    #[serde(default)]
    parameters: Vec<ParamIn>,
}

/// Adds a policy to a group; it runs on every member.
async fn add_policy(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: PolicyIn = body(b)?;
    let params = param_values(p.parameters)?;
    let done = store.add_policy(&c.scope, id, p.script_id, &params).await;
    created(c.found(&store, done, Object::Group(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyPatch {
    parameters: Vec<ParamIn>,
}

/// Changes a policy's parameters; it reruns on every member if the site says so.
async fn set_policy(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: PolicyPatch = body(b)?;
    let params = param_values(p.parameters)?;
    let done = store.set_policy_params(&c.scope, id, &params).await;
    ok(c.found(&store, done, Object::Policy(id)).await?)
}

// --- Security and offline rules ---

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    /// Only when creating: the site (uid).
    site: Option<String>,
    name: Option<String>,
    description: Option<String>,
    level: Option<String>,
    script_id: Option<i64>,
    monitor_start: Option<String>,
    monitor_end: Option<String>,
    max_offline_minutes: Option<i64>,
    groups: Option<Vec<i64>>,
    alert_users: Option<Vec<i64>>,
}

impl RuleIn {
    fn fields(self) -> RuleFields {
        RuleFields {
            name: self.name,
            description: self.description,
            level: self.level,
            script_id: self.script_id,
            monitor_start: self.monitor_start,
            monitor_end: self.monitor_end,
            max_offline_minutes: self.max_offline_minutes,
            groups: self.groups,
            alert_users: self.alert_users,
        }
    }
}

async fn rules_of(
    store: &Store,
    c: &Caller<Reader>,
    kind: RuleKind,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(store, q.site.as_deref()).await?;
    ok(store.rules(&sites, kind).await?)
}

async fn create_rule_of(
    store: &Store,
    c: &Caller<SiteUser>,
    kind: RuleKind,
    b: JsonBody,
) -> ApiResult {
    let r: RuleIn = body(b)?;
    let Some(uid) = r.site.clone() else {
        return Err(unprocessable("site: give the site (uid) of the rule"));
    };
    let site = c.site_id(store, &uid).await?;
    let done = store.create_rule(&c.scope, kind, site, &r.fields()).await;
    created(c.found(store, done, Object::Site(site)).await?)
}

async fn rule_of(store: &Store, c: &Caller<Reader>, kind: RuleKind, id: i64) -> ApiResult {
    let done = store.rule(&c.scope.sites, kind, id).await;
    ok(c.found(store, done, Object::Rule(kind, id)).await?)
}

async fn change_rule_of(
    store: &Store,
    c: &Caller<SiteUser>,
    kind: RuleKind,
    id: i64,
    b: JsonBody,
) -> ApiResult {
    let r: RuleIn = body(b)?;
    if r.site.is_some() {
        return Err(unprocessable("site: a rule stays on its site"));
    }
    let done = store.change_rule(&c.scope, kind, id, &r.fields()).await;
    ok(c.found(store, done, Object::Rule(kind, id)).await?)
}

async fn delete_rule_of(
    store: &Store,
    c: &Caller<SiteAdmin>,
    kind: RuleKind,
    id: i64,
) -> ApiResult {
    let done = store.delete_rule(&c.scope, kind, id).await;
    c.found(store, done, Object::Rule(kind, id)).await?;
    no_content()
}

async fn security_rules(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    rules_of(&store, &c, RuleKind::Security, q).await
}

async fn create_security_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    create_rule_of(&store, &c, RuleKind::Security, b).await
}

async fn security_rule(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    rule_of(&store, &c, RuleKind::Security, id).await
}

async fn change_security_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_rule_of(&store, &c, RuleKind::Security, id, b).await
}

async fn delete_security_rule(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    delete_rule_of(&store, &c, RuleKind::Security, id).await
}

async fn offline_rules(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    rules_of(&store, &c, RuleKind::Offline, q).await
}

async fn create_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    create_rule_of(&store, &c, RuleKind::Offline, b).await
}

async fn offline_rule(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    rule_of(&store, &c, RuleKind::Offline, id).await
}

async fn change_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_rule_of(&store, &c, RuleKind::Offline, id, b).await
}

async fn delete_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    delete_rule_of(&store, &c, RuleKind::Offline, id).await
}

// --- Wake plans ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanIn {
    /// Only when creating: the site (uid).
    site: Option<String>,
    name: Option<String>,
    enabled: Option<bool>,
    sleep_state: Option<String>,
    week: Option<Vec<Day>>,
    exceptions: Option<Vec<Exception>>,
    groups: Option<Vec<i64>>,
}

impl PlanIn {
    fn fields(self) -> PlanFields {
        PlanFields {
            name: self.name,
            enabled: self.enabled,
            sleep_state: self.sleep_state,
            week: self.week,
            exceptions: self.exceptions,
            groups: self.groups,
        }
    }
}

async fn wake_plans(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    ok(store.wake_plans(&sites).await?)
}

async fn create_wake_plan(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    let p: PlanIn = body(b)?;
    let Some(uid) = p.site.clone() else {
        return Err(unprocessable("site: give the site (uid) of the plan"));
    };
    let site = c.site_id(&store, &uid).await?;
    let done = store.create_wake_plan(&c.scope, site, &p.fields()).await;
    created(c.found(&store, done, Object::Site(site)).await?)
}

async fn wake_plan(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.wake_plan(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::WakePlan(id)).await?)
}

async fn change_wake_plan(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: PlanIn = body(b)?;
    if p.site.is_some() {
        return Err(unprocessable("site: a plan stays on its site"));
    }
    let done = store.change_wake_plan(&c.scope, id, &p.fields()).await;
    ok(c.found(&store, done, Object::WakePlan(id)).await?)
}

async fn delete_wake_plan(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.delete_wake_plan(&c.scope, id).await;
    c.found(&store, done, Object::WakePlan(id)).await?;
    no_content()
}

// --- Users and API keys ---

async fn users(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let site = match &q.site {
        Some(uid) => Some(c.site_id(&store, uid).await?),
        None => None,
    };
    ok(store.users(&c.scope, site).await?)
}

/// A role: `customer_admin` with `customer_id`, `site_admin` or `site_user` with `site` (uid).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantIn {
    role: String,
    site: Option<String>,
    customer_id: Option<i64>,
}

async fn grant_of(store: &Store, c: &Caller<SiteAdmin>, g: GrantIn) -> Result<Grant, ApiError> {
    if g.role == "customer_admin" && c.scope.customers.is_empty() {
        return Err(forbidden(Role::CustomerAdmin, c.scope.highest()));
    }
    let site_id = match &g.site {
        Some(uid) => Some(c.site_id(store, uid).await?),
        None => None,
    };
    Ok(Grant {
        role: g.role,
        site_id,
        customer_id: g.customer_id,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserIn {
    username: String,
    #[serde(default)]
    email: String,
    password: String,
    role: String,
    site: Option<String>,
    customer_id: Option<i64>,
}

async fn create_user(State(store): State<Store>, c: Caller<SiteAdmin>, b: JsonBody) -> ApiResult {
    let u: UserIn = body(b)?;
    let grant = grant_of(
        &store,
        &c,
        GrantIn {
            role: u.role,
            site: u.site,
            customer_id: u.customer_id,
        },
    )
    .await?;
    match store
        .create_user(&c.scope, &u.username, &u.email, &u.password, &grant)
        .await
    {
        Ok(Some(user)) => created(user),
        Ok(None) => Err(not_found()),
        Err(e) => Err(refused(e)),
    }
}

async fn grant_role(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let g: GrantIn = body(b)?;
    let grant = grant_of(&store, &c, g).await?;
    match store.grant_role(&c.scope, id, &grant).await {
        Ok(Some(user)) => ok(user),
        Ok(None) => Err(not_found()),
        Err(e) => Err(refused(e)),
    }
}

async fn remove_user(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let site = match &q.site {
        Some(uid) => Some(c.site_id(&store, uid).await?),
        None => None,
    };
    match store.remove_user(&c.scope, id, site).await {
        Ok(Some(deleted)) => ok(json!({"deleted": deleted})),
        Ok(None) => Err(not_found()),
        Err(e) => Err(refused(e)),
    }
}

async fn api_keys(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let site = match &q.site {
        Some(uid) => Some(c.site_id(&store, uid).await?),
        None => None,
    };
    ok(store.api_keys(&c.scope, site).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyIn {
    site: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    can_write: bool,
}

async fn create_api_key(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    b: JsonBody,
) -> ApiResult {
    let k: ApiKeyIn = body(b)?;
    let site = c.site_id(&store, &k.site).await?;
    let done = store
        .create_api_key(&c.scope, site, &k.description, k.can_write)
        .await;
    created(c.found(&store, done, Object::Site(site)).await?)
}

async fn revoke_api_key(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.revoke_api_key(&c.scope, id).await;
    c.found(&store, done, Object::ApiKey(id)).await?;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::{OPENAPI, ROUTES};
    use std::collections::BTreeSet;

    /// The router and the contract name the same routes, and the contract says for each the
    /// role it needs (the role matrix test in `tests/api.rs` holds the server to it).
    #[test]
    fn every_route_is_documented_with_its_role_and_nothing_else_is() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented = BTreeSet::new();
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for (method, op) in methods.as_object().unwrap() {
                documented.insert((method.clone(), path.clone()));
                let role = op["x-role"].as_str().unwrap_or("missing");
                assert!(
                    [
                        "none",
                        "reader",
                        "site_user",
                        "site_admin",
                        "customer_admin"
                    ]
                    .contains(&role),
                    "{method} {path}: x-role {role}"
                );
            }
        }
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .chain([&("post", crate::login::LOGIN_PATH)])
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(routed.len(), ROUTES.len() + 1, "a route is declared twice");
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routed but not in openapi.json"
        );
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "in openapi.json but not routed"
        );
    }
}
