//! A site's API keys (site admins and up): the list (description, access, when and by whom
//! made), a new key — shown once on the answer page, stored only hashed, never logged —, a
//! new description, and revoking one after a page that asks (so it works without
//! JavaScript).

use super::{Here, Nothing, Section, Viewer, Web, refusal, refusal_text, text};
use crate::store::access::Role;
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::Form;
use service_kit::web::time::local_time;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/api-noegler", get(list).post(create))
        .route(
            "/steder/{site}/api-noegler/{id}/beskrivelse",
            post(describe),
        )
        .route(
            "/steder/{site}/api-noegler/{id}/tilbagekald",
            get(ask_revoke).post(revoke),
        )
}

struct KeyLine {
    id: i64,
    description: String,
    can_write: bool,
    created: String,
    created_by: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    rows: &'a [KeyLine],
    draft: &'a str,
    error: Option<String>,
}

fn here(site: &Site) -> Here<'_> {
    Here {
        section: Section::ApiKeys,
        site: Some(site),
    }
}

async fn list(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    show_list(&web, &v, &site, "", None).await
}

async fn show_list(
    web: &Web,
    v: &Viewer,
    site: &Site,
    draft: &str,
    error: Option<String>,
) -> Response {
    let rows = match web.store.api_key_rows(site.id).await {
        Ok(r) => r,
        Err(e) => return v.failed(e),
    };
    let lang = v.visit.lang();
    let rows: Vec<KeyLine> = rows
        .into_iter()
        .map(|k| KeyLine {
            id: k.id,
            description: k.description,
            can_write: k.can_write,
            created: local_time(k.created, lang),
            created_by: k.created_by.unwrap_or_else(|| v.t.key_unknown.to_owned()),
            last_used: match k.last_used {
                Some(at) => local_time(at, lang),
                None => v.t.key_never_used.to_owned(),
            },
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = ListBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        rows: &rows,
        draft,
        error,
    };
    let title = format!("{} – {}", v.t.keys_title, site.name);
    v.page_with(web, here(site), title, body, status, None)
        .await
}

#[derive(Deserialize)]
struct NewKey {
    #[serde(default)]
    beskrivelse: String,
    #[serde(default)]
    skriv: String,
}

#[derive(Template)]
#[template(path = "api_key_new.html")]
struct NewBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    description: &'a str,
    key: &'a str,
    can_write: bool,
}

/// Makes a key and answers with it: the one time it is shown (the page is `no-store`).
async fn create(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<NewKey>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let can_write = f.skriv == "ja";
    let made = web
        .store
        .create_api_key(&scope, site.id, &f.beskrivelse, can_write)
        .await;
    let new = match made {
        Ok(Some(k)) => k,
        Ok(None) => return v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let m = refusal_text(&m, v.t, &[("description", v.t.key_description)]);
                return show_list(&web, &v, &site, &f.beskrivelse, Some(m)).await;
            }
            Err(e) => return v.failed(e),
        },
    };
    let body = NewBody {
        t: v.t,
        site: &site.uid,
        description: &new.view.description,
        key: &new.key,
        can_write,
    };
    v.page(&web, here(&site), v.t.key_new_title, body).await
}

#[derive(Deserialize)]
struct Description {
    #[serde(default)]
    beskrivelse: String,
}

async fn describe(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Description>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The key must be this site's: the scope may reach other sites of the viewer's.
    let narrowed = crate::store::access::Scope {
        sites: vec![site.id],
        ..scope
    };
    match web
        .store
        .describe_api_key(&narrowed, id, &f.beskrivelse)
        .await
    {
        Ok(Some(())) => Redirect::to(&format!("/steder/{}/api-noegler", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let m = refusal_text(&m, v.t, &[("description", v.t.key_description)]);
                show_list(&web, &v, &site, "", Some(m)).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Template)]
#[template(path = "api_key_revoke.html")]
struct RevokeBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    id: i64,
    description: &'a str,
}

/// The question before a key is revoked.
async fn ask_revoke(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = match web.store.api_key_rows(site.id).await {
        Ok(rows) => rows.into_iter().find(|k| k.id == id),
        Err(e) => return v.failed(e),
    };
    let Some(key) = key else {
        return v.visit.not_found();
    };
    let body = RevokeBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        id,
        description: &key.description,
    };
    v.page(&web, here(&site), v.t.key_revoke_title, body).await
}

async fn revoke(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let narrowed = crate::store::access::Scope {
        sites: vec![site.id],
        ..scope
    };
    match web.store.revoke_api_key(&narrowed, id).await {
        Ok(Some(())) => Redirect::to(&format!("/steder/{}/api-noegler", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}
