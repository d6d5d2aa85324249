//! Groups of PCs: the groups themselves, their members, and their policies (scripts that
//! run on every member).

use super::jobs::ParamIn;
use super::jobs::param_values;
use super::{
    ApiResult, Caller, JsonBody, QueryIn, Reader, SiteAdmin, SiteQuery, SiteUser, body, created,
    no_content, ok, query,
};
use crate::store::Store;
use crate::store::groups::GroupChange;
use crate::store::operator::Object;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

pub(super) async fn groups(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
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

pub(super) async fn create_group(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    let g: GroupIn = body(b)?;
    let site = c.site_id(&store, &g.site).await?;
    let done = store
        .create_group(&c.scope, site, &g.name, &g.description, &g.supervisors)
        .await;
    created(c.found(&store, done, Object::Site(site)).await?)
}

pub(super) async fn group(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
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

pub(super) async fn change_group(
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

pub(super) async fn delete_group(
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
pub(super) async fn join_group(
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
pub(super) async fn leave_group(
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
pub(super) async fn add_policy(
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
pub(super) async fn set_policy(
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
