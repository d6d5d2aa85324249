//! Monitoring rules ("Overvågningsregler"): the site's security rules (a security script
//! runs on the PCs) and offline rules (PCs silent too long in a daily window), each with its
//! level, description, monitored groups and e-mail recipients; creating and changing them
//! (site users and up) and deleting them (site admins and up, as upstream).

use super::events::level_label;
use super::{Fields, Here, Nothing, Problem, Section, Viewer, Web, text};
use crate::store::access::Role;
use crate::store::events::LEVELS;
use crate::store::rules::{RuleFields, RuleKind, RuleView};
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use service_kit::web::Form;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/regler", get(list))
        .route("/steder/{site}/regler/ny", get(new_form).post(create))
        .route("/steder/{site}/regler/{kind}/{id}", get(rule).post(change))
        .route("/steder/{site}/regler/{kind}/{id}/slet", post(delete))
}

/// The kind in an address: `sikkerhed` or `offline`.
fn kind_of(key: &str) -> Option<RuleKind> {
    match key {
        "sikkerhed" => Some(RuleKind::Security),
        "offline" => Some(RuleKind::Offline),
        _ => None,
    }
}

fn kind_key(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Security => "sikkerhed",
        RuleKind::Offline => "offline",
    }
}

/// What a rule's list row and form show, names instead of ids.
struct RuleLine {
    id: i64,
    kind: &'static str,
    name: String,
    level: &'static str,
    script: String,
    window: String,
    minutes: i64,
    groups: String,
    recipients: String,
}

/// The names of `ids` among `named`, joined; `none` if there are none.
fn names(ids: &[i64], named: &[(i64, String)], none: &str) -> String {
    let list: Vec<&str> = named
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .map(|(_, n)| n.as_str())
        .collect();
    if list.is_empty() {
        none.to_owned()
    } else {
        list.join(", ")
    }
}

/// What a rule form needs besides the rule: the site's choices.
struct Choices {
    scripts: Vec<(i64, String)>,
    groups: Vec<(i64, String)>,
    users: Vec<(i64, String)>,
}

async fn choices(web: &Web, site: &Site) -> Result<Choices, crate::store::Error> {
    let scripts = web
        .store
        .api_scripts(site.id)
        .await?
        .into_iter()
        .filter(|s| s.is_security)
        .map(|s| (s.id, s.name))
        .collect();
    Ok(Choices {
        scripts,
        groups: web.store.group_names(site.id).await?,
        users: web.store.site_user_names(site.id).await?,
    })
}

#[derive(Template)]
#[template(path = "rules.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    security: &'a [RuleLine],
    offline: &'a [RuleLine],
    can_change: bool,
}

async fn list(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = async {
        let security = web.store.rules(&[site.id], RuleKind::Security).await?;
        let offline = web.store.rules(&[site.id], RuleKind::Offline).await?;
        let c = choices(&web, &site).await?;
        Ok::<_, crate::store::Error>((security, offline, c))
    };
    let (security, offline, c) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let line = |r: &RuleView| RuleLine {
        id: r.id,
        kind: kind_key(r.kind),
        name: r.name.clone(),
        level: level_label(t, &r.level),
        script: r
            .script_id
            .map(|s| names(&[s], &c.scripts, &format!("#{s}")))
            .unwrap_or_default(),
        window: match (&r.monitor_start, &r.monitor_end) {
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => String::new(),
        },
        minutes: r.max_offline_minutes.unwrap_or_default(),
        groups: names(&r.groups, &c.groups, t.rule_whole_site),
        recipients: names(&r.alert_users, &c.users, t.rule_nobody),
    };
    let security: Vec<RuleLine> = security.iter().map(line).collect();
    let offline: Vec<RuleLine> = offline.iter().map(line).collect();
    let body = ListBody {
        t,
        site: &site.uid,
        security: &security,
        offline: &offline,
        can_change: v.role_on(site.id) >= Some(Role::SiteUser),
    };
    let title = format!("{} – {}", t.rules_title, site.name);
    let here = Here {
        section: Section::Rules,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}

/// A rule's form as the page holds it: text as typed, so a refused form comes back as sent.
struct RuleForm {
    name: String,
    level: String,
    description: String,
    script: i64,
    start: String,
    end: String,
    minutes: String,
    groups: Vec<i64>,
    users: Vec<i64>,
}

impl RuleForm {
    fn new() -> RuleForm {
        RuleForm {
            name: String::new(),
            level: "HIGH".to_owned(),
            description: String::new(),
            script: 0,
            start: "08:00".to_owned(),
            end: "20:00".to_owned(),
            minutes: "60".to_owned(),
            groups: Vec::new(),
            users: Vec::new(),
        }
    }

    fn of(r: &RuleView) -> RuleForm {
        RuleForm {
            name: r.name.clone(),
            level: r.level.clone(),
            description: r.description.clone(),
            script: r.script_id.unwrap_or_default(),
            start: r.monitor_start.clone().unwrap_or_default(),
            end: r.monitor_end.clone().unwrap_or_default(),
            minutes: r
                .max_offline_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            groups: r.groups.clone(),
            users: r.alert_users.clone(),
        }
    }

    fn sent(f: &Fields) -> RuleForm {
        RuleForm {
            name: f.one("navn").to_owned(),
            level: f.one("niveau").to_owned(),
            description: f.one("beskrivelse").to_owned(),
            script: f.one("script").parse().unwrap_or_default(),
            start: f.one("fra").to_owned(),
            end: f.one("til").to_owned(),
            minutes: f.one("minutter").to_owned(),
            groups: f.ids("gruppe").unwrap_or_default(),
            users: f.ids("modtager").unwrap_or_default(),
        }
    }

    /// The store's fields, or the first thing wrong, named as the form names it.
    fn fields(&self, kind: RuleKind, t: &text::Msgs, f: &Fields) -> Result<RuleFields, Problem> {
        if self.name.trim().is_empty() {
            return Err(Problem::new("navn", t.rule_name, t.rule_required));
        }
        if !LEVELS.contains(&self.level.as_str()) {
            return Err(Problem::new("niveau", t.event_level, t.rule_choose));
        }
        let Some(groups) = f.ids("gruppe") else {
            return Err(Problem::new("gruppe", t.rule_groups, t.rule_choose));
        };
        let Some(users) = f.ids("modtager") else {
            return Err(Problem::new("modtager", t.rule_recipients, t.rule_choose));
        };
        let mut out = RuleFields {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            level: Some(self.level.clone()),
            groups: Some(groups),
            alert_users: Some(users),
            ..RuleFields::default()
        };
        match kind {
            RuleKind::Security => {
                if self.script == 0 {
                    return Err(Problem::new("script", t.rule_script, t.rule_choose));
                }
                out.script_id = Some(self.script);
            }
            RuleKind::Offline => {
                let minutes = match self.minutes.trim().parse::<i64>() {
                    Ok(m) if m >= 15 => m,
                    _ => {
                        return Err(Problem::new(
                            "minutter",
                            t.rule_max_minutes,
                            t.rule_minutes_hint,
                        ));
                    }
                };
                out.monitor_start = Some(self.start.trim().to_owned());
                out.monitor_end = Some(self.end.trim().to_owned());
                out.max_offline_minutes = Some(minutes);
            }
        }
        Ok(out)
    }
}

/// The form's name and label for a field the store names.
fn form_field(t: &text::Msgs, key: &str) -> Option<(String, String)> {
    let key = key.split('[').next().unwrap_or(key);
    let (name, label) = match key {
        "name" => ("navn", t.rule_name),
        "description" => ("beskrivelse", t.rule_description),
        "level" => ("niveau", t.event_level),
        "script_id" => ("script", t.rule_script),
        "monitor_start" => ("fra", t.rule_start),
        "monitor_end" => ("til", t.rule_end),
        "max_offline_minutes" => ("minutter", t.rule_max_minutes),
        "groups" => ("gruppe", t.rule_groups),
        "alert_users" => ("modtager", t.rule_recipients),
        _ => return None,
    };
    Some((name.to_owned(), label.to_owned()))
}

#[derive(Template)]
#[template(path = "rule_form.html")]
struct FormBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    kind: &'static str,
    /// The rule's id; 0 for a new one.
    id: i64,
    r: &'a RuleForm,
    levels: Vec<(&'static str, &'static str)>,
    c: &'a Choices,
    can_change: bool,
    can_delete: bool,
    problem: Option<&'a Problem>,
}

/// The form page of a rule (`id` 0: a new one), with a problem and its status if refused.
async fn form_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: RuleKind,
    id: i64,
    r: &RuleForm,
    problem: Option<&Problem>,
) -> Response {
    let c = match choices(web, site).await {
        Ok(c) => c,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let role = v.role_on(site.id);
    let body = FormBody {
        t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        kind: kind_key(kind),
        id,
        r,
        levels: LEVELS.iter().map(|l| (*l, level_label(t, l))).collect(),
        c: &c,
        can_change: role >= Some(Role::SiteUser),
        can_delete: id != 0 && role >= Some(Role::SiteAdmin),
        problem,
    };
    let heading = match (kind, id) {
        (RuleKind::Security, 0) => t.rule_new_security,
        (RuleKind::Offline, 0) => t.rule_new_offline,
        (RuleKind::Security, _) => t.rule_security,
        (RuleKind::Offline, _) => t.rule_offline,
    };
    let title = if id == 0 {
        format!("{heading} – {}", site.name)
    } else {
        format!("{heading}: {} – {}", r.name, site.name)
    };
    let here = Here {
        section: Section::Rules,
        site: Some(site),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    v.page_with(web, here, title, body, status, None).await
}

#[derive(serde::Deserialize)]
struct NewQuery {
    #[serde(default, rename = "type")]
    kind: String,
}

async fn new_form(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<NewQuery>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if v.needs(Role::SiteUser, &site).is_none() {
        return v.visit.not_found();
    }
    let Some(kind) = kind_of(&q.kind) else {
        return v.visit.not_found();
    };
    form_page(&web, &v, &site, kind, 0, &RuleForm::new(), None).await
}

async fn create(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(scope) = v.needs(Role::SiteUser, &site) else {
        return v.visit.not_found();
    };
    let Some(kind) = kind_of(f.one("type")) else {
        return v.visit.not_found();
    };
    let form = RuleForm::sent(&f);
    let fields = match form.fields(kind, v.t, &f) {
        Ok(x) => x,
        Err(p) => return form_page(&web, &v, &site, kind, 0, &form, Some(&p)).await,
    };
    match web.store.create_rule(&scope, kind, site.id, &fields).await {
        Ok(Some(r)) => Redirect::to(&format!(
            "/steder/{}/regler/{}/{}",
            site.uid,
            kind_key(kind),
            r.id
        ))
        .into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match Problem::of_store(&e, v.t, |k| form_field(v.t, k)) {
            Some(p) => form_page(&web, &v, &site, kind, 0, &form, Some(&p)).await,
            None => v.failed(e),
        },
    }
}

/// The rule an address names, if it is the site's and the viewer sees it.
async fn found_rule(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: &str,
    id: i64,
) -> Result<(RuleKind, RuleView), Response> {
    let Some(kind) = kind_of(kind) else {
        return Err(v.visit.not_found());
    };
    match web.store.rule(&[site.id], kind, id).await {
        Ok(Some(r)) => Ok((kind, r)),
        Ok(None) => Err(v.visit.not_found()),
        Err(e) => Err(v.failed(e)),
    }
}

async fn rule(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, kind, id)): Path<(String, String, i64)>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (kind, r) = match found_rule(&web, &v, &site, &kind, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    form_page(&web, &v, &site, kind, id, &RuleForm::of(&r), None).await
}

async fn change(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, kind, id)): Path<(String, String, i64)>,
    Form(f): Form<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(scope) = v.needs(Role::SiteUser, &site) else {
        return v.visit.not_found();
    };
    let (kind, _) = match found_rule(&web, &v, &site, &kind, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = RuleForm::sent(&f);
    let fields = match form.fields(kind, v.t, &f) {
        Ok(x) => x,
        Err(p) => return form_page(&web, &v, &site, kind, id, &form, Some(&p)).await,
    };
    // The site's scope only: an id of another site of the viewer's is not this page's.
    let mut scope = scope;
    scope.sites = vec![site.id];
    match web.store.change_rule(&scope, kind, id, &fields).await {
        Ok(Some(_)) => Redirect::to(&format!(
            "/steder/{}/regler/{}/{id}",
            site.uid,
            kind_key(kind)
        ))
        .into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match Problem::of_store(&e, v.t, |k| form_field(v.t, k)) {
            Some(p) => form_page(&web, &v, &site, kind, id, &form, Some(&p)).await,
            None => v.failed(e),
        },
    }
}

async fn delete(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, kind, id)): Path<(String, String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(mut scope) = v.needs(Role::SiteAdmin, &site) else {
        return v.visit.not_found();
    };
    let Some(kind) = kind_of(&kind) else {
        return v.visit.not_found();
    };
    scope.sites = vec![site.id];
    match web.store.delete_rule(&scope, kind, id).await {
        Ok(Some(())) => Redirect::to(&format!("/steder/{}/regler", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}
