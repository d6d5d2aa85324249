//! Configuration entries of a site, a group or a PC: reading and changing them, one handler
//! pair for all three owners.

use super::{ApiResult, Caller, JsonBody, Need, Reader, SiteUser, body, ok, unprocessable};
use crate::store::Store;
use crate::store::config::Owner;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;

/// `{"entries": {"key": "value", "other": null}}`: set the first, remove the second.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    entries: serde_json::Map<String, Value>,
}

pub(super) async fn config_of<N: Need>(store: &Store, c: &Caller<N>, owner: Owner) -> ApiResult {
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

pub(super) async fn site_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Site(id)).await
}

pub(super) async fn change_site_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Site(id), b).await
}

pub(super) async fn group_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Group(id)).await
}

pub(super) async fn change_group_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Group(id), b).await
}

pub(super) async fn pc_config(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    config_of(&store, &c, Owner::Pc(id)).await
}

pub(super) async fn change_pc_config(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_config_of(&store, &c, Owner::Pc(id), b).await
}
