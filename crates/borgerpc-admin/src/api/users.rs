//! Users, their roles, and API keys: what site and customer admins manage.

use super::{
    ApiError, ApiResult, Caller, JsonBody, QueryIn, SiteAdmin, SiteQuery, body, created, forbidden,
    no_content, not_found, ok, query,
};
use crate::store::Store;
use crate::store::access::Grant;
use crate::store::access::Role;
use crate::store::operator::Object;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

pub(super) async fn users(
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
    let role = Role::membership(&g.role);
    if matches!(role, Ok(Role::CustomerAdmin)) && c.scope.customers.is_empty() {
        return Err(forbidden(Role::CustomerAdmin, c.scope.highest()));
    }
    let site_id = match &g.site {
        Some(uid) => Some(c.site_id(store, uid).await?),
        None => None,
    };
    Ok(Grant {
        role: role?,
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

pub(super) async fn create_user(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    b: JsonBody,
) -> ApiResult {
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
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn grant_role(
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
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn remove_user(
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
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn api_keys(
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

pub(super) async fn create_api_key(
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

pub(super) async fn revoke_api_key(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.revoke_api_key(&c.scope, id).await;
    c.found(&store, done, Object::ApiKey(id)).await?;
    no_content()
}
