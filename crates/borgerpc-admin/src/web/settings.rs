//! A site's settings (site admins and up): its name (the UID is fixed: PCs register with
//! it), whether 2.x agents may use the legacy XML-RPC protocol (with what that exposes),
//! the registration token (a new one is shown once), its opening hours (what the
//! availability report's uptime within opening hours is measured against), and the site's
//! own configuration entries. Every change is in the audit log with its values before and
//! after.

use super::pcs::yes_no;
use super::{ConfigEntry, Here, Section, Viewer, Web, refusal, refusal_text, text};
use crate::store::access::{Role, Scope};
use crate::store::config::{EntryView, Owner};
use crate::store::opening_hours::{OpeningTimes, typed};
use crate::store::tenants::{Site, SiteChange};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::Form;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/indstillinger", get(page))
        .route("/steder/{site}/indstillinger/navn", post(rename))
        .route("/steder/{site}/indstillinger/xmlrpc", post(legacy))
        .route(
            "/steder/{site}/indstillinger/registreringsnoegle",
            post(registration_token),
        )
        .route("/steder/{site}/indstillinger/konfiguration", post(config))
        .route(
            "/steder/{site}/indstillinger/aabningstider",
            post(opening_hours),
        )
}

#[derive(Template)]
#[template(path = "settings.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a Site,
    name: &'a str,
    has_token: bool,
    new_token: Option<String>,
    entries: &'a [EntryView],
    config_action: String,
    draft_key: &'a str,
    draft_value: &'a str,
    error: Option<String>,
    hours: Vec<HoursRow>,
}

/// A weekday of the opening hours form.
struct HoursRow {
    label: &'static str,
    opens: String,
    closes: String,
    opens_invalid: bool,
    closes_invalid: bool,
}

/// What the page shows besides the site: a refusal, what was typed, a token made now.
#[derive(Default)]
struct Shown<'a> {
    error: Option<String>,
    name: Option<&'a str>,
    key: &'a str,
    value: &'a str,
    new_token: Option<String>,
    /// The opening hours as typed, and the form field refused (`aabner2`, `lukker2`).
    hours: Option<Vec<OpeningTimes>>,
    invalid: String,
}

async fn page(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    show(&web, &v, &site, &scope, Shown::default()).await
}

async fn show(web: &Web, v: &Viewer, site: &Site, scope: &Scope, shown: Shown<'_>) -> Response {
    let found = async {
        let token = web.store.site_registration_token(site.id).await?;
        let entries = web
            .store
            .config_entries(&scope.sites, Owner::Site(site.id))
            .await?
            .unwrap_or_default();
        let hours = web.store.opening_hours(site.id).await?;
        Ok::<_, crate::store::Error>((token.is_some(), entries, hours))
    };
    let (has_token, entries, hours) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let status = if shown.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t: v.t,
        csrf: v.visit.csrf(),
        site,
        name: shown.name.unwrap_or(&site.name),
        has_token,
        new_token: shown.new_token,
        entries: &entries,
        config_action: format!("/steder/{}/indstillinger/konfiguration", site.uid),
        draft_key: shown.key,
        draft_value: shown.value,
        error: shown.error,
        hours: shown
            .hours
            .unwrap_or_else(|| typed(&hours))
            .into_iter()
            .zip(weekdays(v.t))
            .enumerate()
            .map(|(i, (h, label))| HoursRow {
                label,
                opens_invalid: shown.invalid == format!("aabner{i}"),
                closes_invalid: shown.invalid == format!("lukker{i}"),
                opens: h.opens,
                closes: h.closes,
            })
            .collect(),
    };
    let here = Here {
        section: Section::Settings,
        site: Some(site),
    };
    let title = format!("{} – {}", v.t.settings_title, site.name);
    v.page_with(web, here, title, body, status, None).await
}

fn back(site: &Site) -> Response {
    Redirect::to(&format!("/steder/{}/indstillinger", site.uid)).into_response()
}

/// A site change, then back to the page, or the page with the refusal.
async fn change(
    web: &Web,
    v: &Viewer,
    site: &Site,
    scope: &Scope,
    change: SiteChange,
    labels: &[(&str, &str)],
) -> Response {
    let typed = change.name.clone();
    match web.store.change_site(scope, site.id, &change).await {
        Ok(Some(_)) => back(site),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let shown = Shown {
                    error: Some(refusal_text(&m, v.t, labels)),
                    name: typed.as_deref(),
                    ..Shown::default()
                };
                show(web, v, site, scope, shown).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Deserialize)]
struct Name {
    #[serde(default)]
    navn: String,
}

async fn rename(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<Name>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let c = SiteChange {
        name: Some(f.navn),
        ..SiteChange::default()
    };
    change(&web, &v, &site, &scope, c, &[("name", v.t.settings_name)]).await
}

#[derive(Deserialize)]
struct Legacy {
    #[serde(default)]
    xmlrpc: String,
}

async fn legacy(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<Legacy>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(on) = yes_no(&f.xmlrpc) else {
        let shown = Shown {
            error: Some(format!("{} – xmlrpc: ja | nej", v.t.settings_legacy_choice)),
            ..Shown::default()
        };
        return show(&web, &v, &site, &scope, shown).await;
    };
    let c = SiteChange {
        legacy_xmlrpc: Some(on),
        ..SiteChange::default()
    };
    change(&web, &v, &site, &scope, c, &[]).await
}

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    til: String,
}

/// A new token is answered with the page showing it, the only time it is shown.
async fn registration_token(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<Token>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(on) = yes_no(&f.til) else {
        let shown = Shown {
            error: Some(format!("{} – til: ja | nej", v.t.settings_token)),
            ..Shown::default()
        };
        return show(&web, &v, &site, &scope, shown).await;
    };
    match web
        .store
        .change_registration_token(&scope, site.id, on)
        .await
    {
        Ok(Some(Some(token))) => {
            let shown = Shown {
                new_token: Some(token),
                ..Shown::default()
            };
            show(&web, &v, &site, &scope, shown).await
        }
        Ok(Some(None)) => back(&site),
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

async fn config(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<ConfigEntry>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web
        .store
        .change_config(&scope, Owner::Site(site.id), &[f.change()])
        .await
    {
        Ok(Some(_)) => back(&site),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                // The store names the field `entries.<key>`; the page calls it the key.
                let shown = Shown {
                    error: Some(format!(
                        "{}: {}",
                        v.t.settings_config_key,
                        m.reason.text(v.t)
                    )),
                    key: &f.noegle,
                    value: &f.vaerdi,
                    ..Shown::default()
                };
                show(&web, &v, &site, &scope, shown).await
            }
            Err(e) => v.failed(e),
        },
    }
}

fn weekdays(t: &text::Msgs) -> [&'static str; 7] {
    [
        t.day_monday,
        t.day_tuesday,
        t.day_wednesday,
        t.day_thursday,
        t.day_friday,
        t.day_saturday,
        t.day_sunday,
    ]
}

/// The opening hours form: `aabner0`…`aabner6` and `lukker0`…`lukker6`, Monday first.
async fn opening_hours(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let field = |name: &str| f.get(name).map(|s| s.trim().to_owned()).unwrap_or_default();
    let days: Vec<OpeningTimes> = (0..7)
        .map(|i| OpeningTimes {
            opens: field(&format!("aabner{i}")),
            closes: field(&format!("lukker{i}")),
        })
        .collect();
    match web.store.set_opening_hours(&scope, site.id, &days).await {
        Ok(Some(_)) => back(&site),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                // The store names the field `week[2].closes`; the form `lukker2`, "Onsdag: Lukker".
                let name = m.field.name().unwrap_or_default();
                let day: Option<usize> = name
                    .split(['[', ']'])
                    .nth(1)
                    .and_then(|i| i.parse().ok())
                    .filter(|i| *i < 7);
                let (input, what) = if name.ends_with(".opens") {
                    ("aabner", v.t.settings_hours_opens)
                } else {
                    ("lukker", v.t.settings_hours_closes)
                };
                let (invalid, label) = match day {
                    Some(i) => (
                        format!("{input}{i}"),
                        format!("{} – {}: {what}", v.t.settings_hours, weekdays(v.t)[i]),
                    ),
                    None => (String::new(), v.t.settings_hours.to_owned()),
                };
                let shown = Shown {
                    error: Some(format!("{label}: {}", m.reason.text(v.t))),
                    hours: Some(days),
                    invalid,
                    ..Shown::default()
                };
                show(&web, &v, &site, &scope, shown).await
            }
            Err(e) => v.failed(e),
        },
    }
}
