//! Sites: listing those the caller sees, creating them (customer admins) and changing their
//! settings.

use super::{
    ApiResult, Caller, CustomerAdmin, JsonBody, Reader, SiteAdmin, body, created, not_found, ok,
};
use crate::store::Store;
use crate::store::operator::Object;
use crate::store::tenants::SiteChange;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;

pub(super) async fn sites(State(store): State<Store>, c: Caller<Reader>) -> ApiResult {
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

pub(super) async fn create_site(
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
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SitePatch {
    name: Option<String>,
    legacy_xmlrpc: Option<bool>,
    rerun_asc: Option<bool>,
}

pub(super) async fn change_site(
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
