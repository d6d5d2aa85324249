//! Jobs and scripts: listing jobs, running a script on PCs and groups (with file parameters),
//! restarting a finished job, and listing a site's scripts.

use super::{
    ApiError, ApiResult, Caller, JsonBody, ListQuery, QueryIn, Reader, SiteUser, body, created,
    not_found, ok, query, unprocessable,
};
use crate::store::Store;
use crate::store::jobs::ParamValue;
use crate::store::jobs::RunScript;
use crate::store::operator::Object;
use axum::extract::Path;
use axum::extract::State;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

pub(super) async fn jobs(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let (from, to) = q.period(90)?;
    ok(store.api_jobs(&sites, from, to, &q.page()?).await?)
}

pub(super) async fn job(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.api_job(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::Job(id)).await?)
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum ParamIn {
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

pub(super) fn param_values(given: Vec<ParamIn>) -> Result<Vec<ParamValue>, ApiError> {
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
pub(super) async fn run_script(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
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
        .await?;
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
pub(super) async fn restart_job(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.restart_job(&c.scope.sites, id, &c.scope.actor).await;
    let new_job = c
        .audited(&store, done, Object::Job(id), "job.restart", |new_job| {
            format!("job:{id} new:{new_job}")
        })
        .await?;
    created(json!({"job_id": new_job}))
}

pub(super) async fn scripts(
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
