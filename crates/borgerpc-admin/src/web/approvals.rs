//! What waits for a person at a site (site users and up): new PCs to activate and keys
//! offered by PCs without one, in one queue, the longest waiting first. A PC is activated
//! or (by a site admin) rejected and deleted; a key is approved only with its fingerprint as
//! read on the PC, or rejected. Every decision is in the audit log.

use super::{Here, Nothing, Pager, Section, Viewer, Web, refusal, refusal_text, text};
use crate::store::access::{Role, Scope};
use crate::store::pcs::{PcRef, short_fingerprint};
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::Form;
use service_kit::web::time::local_time;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/godkendelser", get(page))
        .route("/steder/{site}/godkendelser/{id}/aktiver", post(activate))
        .route("/steder/{site}/godkendelser/{id}/afvis", post(reject_pc))
        .route("/steder/{site}/godkendelser/{id}/noegle", post(approve_key))
        .route(
            "/steder/{site}/godkendelser/{id}/afvis-noegle",
            post(reject_key),
        )
}

struct Line {
    id: i64,
    name: String,
    mac: String,
    activated: bool,
    /// The start of the waiting key's fingerprint.
    fingerprint: Option<String>,
    since: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    count: i64,
    rows: &'a [Line],
    pager: &'a Pager,
    can_delete: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct PageNumber {
    #[serde(default)]
    side: Option<i64>,
}

/// Rows on a page of the queue.
const PAGE_ROWS: i64 = 50;

async fn page(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<PageNumber>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    show(&web, &v, &site, q.side.unwrap_or(1), None).await
}

async fn show(web: &Web, v: &Viewer, site: &Site, page: i64, error: Option<String>) -> Response {
    let page = page.max(1);
    let (rows, count) = match web
        .store
        .waiting_pcs(site.id, PAGE_ROWS, (page - 1) * PAGE_ROWS)
        .await
    {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let lang = v.visit.lang();
    let rows: Vec<Line> = rows
        .into_iter()
        .map(|r| Line {
            id: r.id,
            activated: r.is_activated,
            fingerprint: (!r.pending_key.is_empty())
                .then(|| short_fingerprint(&r.pending_key).to_owned()),
            since: local_time(r.pending_key_at.unwrap_or(r.created_at), lang),
            name: r.name,
            mac: r.mac,
        })
        .collect();
    let pager = Pager::new(
        page,
        count,
        PAGE_ROWS,
        &format!("/steder/{}/godkendelser", site.uid),
        "",
    );
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        count,
        rows: &rows,
        pager: &pager,
        can_delete: v.role_on(site.id) >= Some(Role::SiteAdmin),
        error,
    };
    let here = Here {
        section: Section::Approvals,
        site: Some(site),
    };
    let title = format!("{} – {}", v.t.approvals_title, site.name);
    v.page_with(web, here, title, body, status, None).await
}

fn back(site: &Site) -> Response {
    Redirect::to(&format!("/steder/{}/godkendelser", site.uid)).into_response()
}

async fn audited(
    web: &Web,
    v: &Viewer,
    scope: &Scope,
    site: &Site,
    action: &str,
    target: &str,
) -> Response {
    match web
        .store
        .audit(&scope.actor, Some(site.id), action, target)
        .await
    {
        Ok(()) => back(site),
        Err(e) => v.failed(e),
    }
}

async fn activate(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.store.api_set_activated(&[site.id], id, true).await {
        Ok(true) => audited(&web, &v, &scope, &site, "pc.activate", &format!("pc:{id}")).await,
        Ok(false) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

async fn reject_pc(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Only a PC still waiting is rejected here; an activated one is deleted from its page.
    let pc = match web.store.pc_row(site.id, id).await {
        Ok(Some((pc, _))) if !pc.is_activated => pc,
        Ok(_) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    match web.store.delete_pc(site.id, &pc.uid).await {
        Ok(true) => {
            let target = format!("pc:{id} uid:{}", pc.uid);
            audited(&web, &v, &scope, &site, "pc.reject", &target).await
        }
        Ok(false) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

#[derive(Deserialize)]
struct Fingerprint {
    #[serde(default)]
    fingeraftryk: String,
}

async fn approve_key(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Fingerprint>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let done = web
        .store
        .approve_client_key(&[site.id], PcRef::Id(id), &f.fingeraftryk)
        .await;
    match done {
        Ok(Some(d)) => {
            let target = format!("pc:{id} key:{}", short_fingerprint(&d.fingerprint));
            audited(&web, &v, &scope, &site, "pc.approve_key", &target).await
        }
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let m = refusal_text(&m, v.t, &[("fingerprint", v.t.approval_typed)]);
                show(&web, &v, &site, 1, Some(m)).await
            }
            Err(e) => v.failed(e),
        },
    }
}

async fn reject_key(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.store.reject_client_key(site.id, id).await {
        Ok(Some(hash)) => {
            let target = format!("pc:{id} key:{}", short_fingerprint(&hash));
            audited(&web, &v, &scope, &site, "pc.reject_key", &target).await
        }
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}
