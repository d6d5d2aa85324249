//! The operator API: `/api/system/*`, compatible with the upstream portal's read API (Bearer
//! API key bound to a site, paginated `{"items": [...], "count": n}`), plus writes — run a
//! script on PCs and groups, activate PCs, handle security events — and `/api/auth/*` for
//! users. The contract is `openapi.json`, served at `/api/openapi.json`.
//!
//! Tenancy: every request carries a scope (the sites its key or user may see), every query is
//! filtered by it, and anything outside it answers 404 exactly as a missing id does.
//!
//! Bodies: [`Caller`] authenticates from the header before a handler's body is read; bodies
//! are small JSON documents ([`BodyLimit::SMALL`]) except where a script's file parameter is
//! uploaded (up to `server.max_body_bytes`).

use crate::store::Store;
use crate::store::accounts::Scope;
use crate::store::jobs::{ParamValue, RunScript};
use crate::store::operator::{EventChange, Page};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_kit::http::{Body, BodyError, BodyLimit};

pub const OPENAPI: &str = include_str!("../openapi.json");
const DAY_MS: i64 = 86_400_000;

/// `uploads`: the limit of the routes that take a script's file parameters.
pub fn router(store: Store, uploads: BodyLimit) -> Router {
    let uploads = uploads.layer();
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/system/sites", get(sites))
        .route("/api/system/computers", get(computers))
        .route("/api/system/pcs", get(computers))
        .route("/api/system/pc/{id}", get(pc))
        .route("/api/system/pc/{id}/activate", post(activate))
        .route(
            "/api/system/pcs/activate",
            post(activate_many).layer(BodyLimit::bytes(ACTIVATE_BODY).layer()),
        )
        .route("/api/system/configuration/{id}", get(configuration))
        .route(
            "/api/system/computers/logins-per-day",
            get(logins_per_day_all),
        )
        .route(
            "/api/system/computers/{id}/logins-per-day",
            get(logins_per_day),
        )
        .route(
            "/api/system/jobs",
            get(jobs).post(run_script).layer(uploads),
        )
        .route("/api/system/job/{id}", get(job))
        .route("/api/system/job/{id}/restart", post(restart_job))
        .route("/api/system/events", get(events))
        .route("/api/system/event/{id}", get(event).patch(update_event))
        .route("/api/system/scripts", get(scripts))
        .route("/api/system/group/{id}/members", post(join_group))
        .route(
            "/api/system/group/{id}/policies",
            post(add_policy).layer(uploads),
        )
        .route(
            "/api/system/policy/{id}",
            axum::routing::patch(set_policy).layer(uploads),
        )
        .layer(BodyLimit::SMALL.layer())
        .with_state(store)
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

/// A store error is the database's, never the caller's: 503, logged, and `?` gives it.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        unavailable(e)
    }
}

/// Marks a store refusal that is a conflict with the current state (409), not bad input.
#[derive(Debug)]
struct Conflict;

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("conflict")
    }
}

/// The end of every scoped write: `None` (nothing of that id in scope) is 404; an error from
/// the database is 503; any other error is the store refusing the caller's request (422, or
/// 409 for a [`Conflict`]); what was done goes into the audit log.
async fn audited<T>(
    store: &Store,
    scope: &Scope,
    done: anyhow::Result<Option<T>>,
    action: &str,
    target: impl FnOnce(&T) -> String,
) -> Result<T, ApiError> {
    let done = match done {
        Ok(Some(v)) => v,
        Ok(None) => return Err(not_found()),
        Err(e) if e.chain().any(|c| c.is::<sqlx::Error>()) => return Err(unavailable(e)),
        Err(e) => {
            let status = if e.is::<Conflict>() {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            // The store's own reason, without the marker.
            let reason = e
                .chain()
                .skip(usize::from(e.is::<Conflict>()))
                .map(|c| c.to_string());
            return Err(ApiError(status, reason.collect::<Vec<_>>().join(": ")));
        }
    };
    store
        .audit(&scope.actor, None, action, &target(&done))
        .await?;
    Ok(done)
}

fn unavailable(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %e, "operator API: database unavailable");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the portal's database is unavailable; try again later".into(),
    )
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    service_kit::http::credential(headers, &["Bearer "])
}

/// The caller, from `Authorization: Bearer <API key or session token>`.
pub struct Caller(pub Scope);

impl FromRequestParts<Store> for Caller {
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
        match store.scope_of_token(token).await? {
            Some(scope) => Ok(Caller(scope)),
            None => Err(unauthorized()),
        }
    }
}

impl Caller {
    fn writer(&self) -> Result<&Scope, ApiError> {
        if self.0.can_write {
            Ok(&self.0)
        } else {
            Err(ApiError(
                StatusCode::FORBIDDEN,
                "this API key may only read; create a key with write access to change things"
                    .into(),
            ))
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

fn query<T: DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| unprocessable(format!("query: {}", e.body_text())))
}

/// The scope narrowed to one site (by uid) when the caller asks for one.
async fn narrowed(store: &Store, scope: &Scope, site: Option<&str>) -> Result<Vec<i64>, ApiError> {
    match site {
        None => Ok(scope.sites.clone()),
        Some(uid) => match store.site_by_uid(uid).await? {
            Some(s) if scope.sees(s.id) => Ok(vec![s.id]),
            _ => Err(not_found()),
        },
    }
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(store): State<Store>, b: JsonBody) -> ApiResult {
    let l: Login = body(b)?;
    match store.login(&l.username, &l.password).await? {
        Some((token, expires_at)) => ok(json!({"token": token, "expires_at": expires_at})),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong username or password".into(),
        )),
    }
}

async fn logout(State(store): State<Store>, headers: HeaderMap, _c: Caller) -> ApiResult {
    if let Some(t) = bearer(&headers) {
        store.logout(t).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sites(State(store): State<Store>, Caller(scope): Caller) -> ApiResult {
    let all = store.sites(None).await?;
    ok(all
        .into_iter()
        .filter(|s| scope.sees(s.id))
        .collect::<Vec<_>>())
}

async fn computers(
    State(store): State<Store>,
    Caller(scope): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let sites = narrowed(&store, &scope, q.site.as_deref()).await?;
    ok(store.api_pcs(&sites, None, &q.page()?).await?)
}

async fn pc(State(store): State<Store>, Caller(scope): Caller, Path(id): Path<i64>) -> ApiResult {
    match store.api_pc(&scope.sites, id).await? {
        Some(pc) => ok(pc),
        None => Err(not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activate {
    is_activated: bool,
}

async fn activate(
    State(store): State<Store>,
    caller: Caller,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let scope = caller.writer()?;
    let a: Activate = body(b)?;
    if !store
        .api_set_activated(&scope.sites, id, a.is_activated)
        .await?
    {
        return Err(not_found());
    }
    let pc = store
        .api_pc(&scope.sites, id)
        .await?
        .ok_or_else(not_found)?;
    let site = store.site_by_uid(&pc.site).await?.map(|s| s.id);
    let action = if a.is_activated {
        "pc.activate"
    } else {
        "pc.deactivate"
    };
    store
        .audit(&scope.actor, site, action, &format!("pc:{id}"))
        .await?;
    ok(pc)
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
async fn activate_many(State(store): State<Store>, caller: Caller, b: JsonBody) -> ApiResult {
    let scope = caller.writer()?;
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
        .api_set_activated_many(&scope.sites, &uids, a.is_activated, &scope.actor)
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
    Caller(scope): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    match store.api_configuration(&scope.sites, id).await? {
        Some(entries) => ok(entries
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect::<Vec<_>>()),
        None => Err(not_found()),
    }
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
    Caller(scope): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let pc = store
        .api_pc(&scope.sites, id)
        .await?
        .ok_or_else(not_found)?;
    let entries = store
        .api_configuration(&scope.sites, id)
        .await?
        .unwrap_or_default();
    ok(logins_view(&pc.name, &entries))
}

async fn logins_per_day_all(
    State(store): State<Store>,
    Caller(scope): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let sites = narrowed(&store, &scope, q.site.as_deref()).await?;
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

async fn jobs(
    State(store): State<Store>,
    Caller(scope): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let sites = narrowed(&store, &scope, q.site.as_deref()).await?;
    let (from, to) = q.period(90)?;
    ok(store.api_jobs(&sites, from, to, &q.page()?).await?)
}

async fn job(State(store): State<Store>, Caller(scope): Caller, Path(id): Path<i64>) -> ApiResult {
    match store.api_job(&scope.sites, id).await? {
        Some(j) => ok(j),
        None => Err(not_found()),
    }
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
async fn run_script(State(store): State<Store>, caller: Caller, b: JsonBody) -> ApiResult {
    let scope = caller.writer()?;
    let r: RunIn = body(b)?;
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
        let s = store
            .api_pc_site(&scope.sites, *id)
            .await?
            .ok_or_else(not_found)?;
        same_site(s, format!("pcs: {id}"))?;
        pc_ids.push(*id);
    }
    for g in &r.groups {
        let (s, members) = store
            .api_group_members(&scope.sites, *g)
            .await?
            .ok_or_else(not_found)?;
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
            created_by: &scope.actor,
        })
        .await
        .map_err(|e| unprocessable(format!("{e:#}")))?;
    store
        .audit(
            &scope.actor,
            Some(site),
            "script.run",
            &format!("script:{} batch:{}", r.script_id, batch.batch_id),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(batch)).into_response())
}

async fn events(
    State(store): State<Store>,
    Caller(scope): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let sites = narrowed(&store, &scope, q.site.as_deref()).await?;
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

async fn event(
    State(store): State<Store>,
    Caller(scope): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    match store.api_event(&scope.sites, id).await? {
        Some(e) => ok(e),
        None => Err(not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventPatch {
    status: Option<String>,
    #[serde(default, deserialize_with = "explicit_null")]
    assigned_user: Option<Option<i64>>,
    note: Option<String>,
}

/// `"assigned_user": null` clears the assignee; leaving the field out keeps it.
fn explicit_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(Option::<i64>::deserialize(d)?))
}

async fn update_event(
    State(store): State<Store>,
    caller: Caller,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let scope = caller.writer()?;
    let p: EventPatch = body(b)?;
    let change = EventChange {
        status: p.status.map(|s| s.to_uppercase()),
        assigned_user: p.assigned_user,
        note: p.note,
    };
    if store.api_event(&scope.sites, id).await?.is_none() {
        return Err(not_found());
    }
    let done = store.api_update_event(&scope.sites, id, &change).await;
    ok(audited(&store, scope, done, "event.update", |_| {
        format!("event:{id}")
    })
    .await?)
}

async fn scripts(
    State(store): State<Store>,
    Caller(scope): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let sites = narrowed(&store, &scope, q.site.as_deref()).await?;
    let [site] = sites[..] else {
        return Err(unprocessable(
            "site: give the site (uid) whose scripts to list",
        ));
    };
    ok(store.api_scripts(site).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinIn {
    pc_id: i64,
}

/// Puts a PC in a group; the group's policies run on it.
async fn join_group(
    State(store): State<Store>,
    caller: Caller,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let scope = caller.writer()?;
    let j: JoinIn = body(b)?;
    let done = store
        .join_group(&scope.sites, id, j.pc_id, &scope.actor)
        .await;
    let runs = audited(&store, scope, done, "group.join", |_| {
        format!("group:{id} pc:{}", j.pc_id)
    })
    .await?;
    ok(json!({"policies": runs}))
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
    caller: Caller,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let scope = caller.writer()?;
    let p: PolicyIn = body(b)?;
    let params = param_values(p.parameters)?;
    let done = store
        .add_policy(&scope.sites, id, p.script_id, &params, &scope.actor)
        .await;
    let run = audited(&store, scope, done, "policy.add", |run| {
        format!("group:{id} policy:{}", run.policy_id)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(run)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyPatch {
    parameters: Vec<ParamIn>,
}

/// Changes a policy's parameters; it reruns on every member if the site says so.
async fn set_policy(
    State(store): State<Store>,
    caller: Caller,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let scope = caller.writer()?;
    let p: PolicyPatch = body(b)?;
    let params = param_values(p.parameters)?;
    let done = store
        .set_policy_params(&scope.sites, id, &params, &scope.actor)
        .await;
    ok(audited(&store, scope, done, "policy.change", |_| {
        format!("policy:{id}")
    })
    .await?)
}

/// Runs a finished job again (a new job with the same script version and parameters); the old
/// one becomes RESOLVED.
async fn restart_job(State(store): State<Store>, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    let scope = caller.writer()?;
    if store.api_job(&scope.sites, id).await?.is_none() {
        return Err(not_found());
    }
    let done = store
        .restart_job(&scope.sites, id, &scope.actor)
        .await
        .map_err(|e| e.context(Conflict));
    let new_job = audited(&store, scope, done, "job.restart", |new_job| {
        format!("job:{id} new:{new_job}")
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"job_id": new_job}))).into_response())
}
