//! PCs: upstream's read API (computers, their configuration, logins per day), activation one
//! by one and in bulk, and approving a PC's client key.

use super::{
    ApiError, ApiResult, Caller, JsonBody, ListQuery, QueryIn, Reader, SiteUser, body, ok, query,
    unprocessable,
};
use crate::store::Store;
use crate::store::operator::Object;
use crate::store::pcs::PcRef;
use crate::store::pcs::short_fingerprint;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;

pub(super) async fn computers(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    ok(store.api_pcs(&sites, None, &q.page()?).await?)
}

pub(super) async fn pc(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.api_pc(&c.scope.sites, id).await?;
    ok(c.found(&store, Ok(done), Object::Pc(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activate {
    is_activated: bool,
}

pub(super) async fn activate(
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
pub(super) async fn approve_key(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let a: ApproveKey = body(b)?;
    let done = store
        .approve_client_key(&c.scope.sites, PcRef::Id(id), &a.fingerprint)
        .await;
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
pub(super) const ACTIVATE_BODY: usize = 128 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateMany {
    uids: Vec<String>,
    is_activated: bool,
}

/// Activates or deactivates many PCs by uid, all or none.
pub(super) async fn activate_many(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
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

pub(super) async fn configuration(
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

pub(super) async fn logins_per_day(
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

pub(super) async fn logins_per_day_all(
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
