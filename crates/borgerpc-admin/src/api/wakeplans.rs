//! Wake plans: when a site's PCs sleep and wake, and which groups follow each plan.

use super::{
    ApiResult, Caller, JsonBody, QueryIn, Reader, SiteAdmin, SiteQuery, SiteUser, body, created,
    no_content, ok, query, unprocessable,
};
use crate::store::Store;
use crate::store::operator::Object;
use crate::store::wakeplans::Day;
use crate::store::wakeplans::Exception;
use crate::store::wakeplans::PlanFields;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;

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

pub(super) async fn wake_plans(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    ok(store.wake_plans(&sites).await?)
}

pub(super) async fn create_wake_plan(
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

pub(super) async fn wake_plan(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.wake_plan(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::WakePlan(id)).await?)
}

pub(super) async fn change_wake_plan(
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

pub(super) async fn delete_wake_plan(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.delete_wake_plan(&c.scope, id).await;
    c.found(&store, done, Object::WakePlan(id)).await?;
    no_content()
}
