//! Groups: the site's list and a new group; a group's page with its name, description and
//! supervisors, its members (joining runs its policy scripts on the PC), its configuration,
//! its ordered policy scripts with their parameter values (files too: attached, changed,
//! moved up or down in the order, taken off), the monitoring rules that watch it, and
//! deleting it.
//!
//! Every change goes through the store functions the API uses, which check the scope, write
//! the audit log and start the policy jobs in the same transaction.

use super::scripts::{ParamField, param_fields, param_values, remove_file_field};
use super::{ConfigEntry, Fields, Here, Nothing, Section, Viewer, Web, refusal, text};
use crate::store::access::{Role, Scope};
use crate::store::config::{EntryView, Owner};
use crate::store::groups::{GroupChange, GroupView};
use crate::store::job_views::{ScriptFilter, ScriptKind, ScriptRow};
use crate::store::jobs::{Input, ParamValue};
use crate::store::policies::PolicyDetail;
use crate::store::rules::RuleKind;
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::{Form, Upload};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/grupper", get(list).post(create))
        .route("/steder/{site}/grupper/{id}", get(group).post(change))
        .route("/steder/{site}/grupper/{id}/medlemmer", post(members))
        .route("/steder/{site}/grupper/{id}/konfiguration", post(config))
        .route(
            "/steder/{site}/grupper/{id}/politik",
            get(policy_form).post(add_policy),
        )
        .route(
            "/steder/{site}/grupper/{id}/politik/{policy}",
            get(policy_edit_form).post(change_policy),
        )
        .route(
            "/steder/{site}/grupper/{id}/politik/{policy}/flyt",
            post(move_policy),
        )
        .route(
            "/steder/{site}/grupper/{id}/politik/{policy}/fjern",
            post(remove_policy),
        )
        .route("/steder/{site}/grupper/{id}/slet", post(delete))
}

fn here(site: &Site) -> Here<'_> {
    Here {
        section: Section::Groups,
        site: Some(site),
    }
}

fn to_group(site: &Site, id: i64) -> Response {
    Redirect::to(&format!("/steder/{}/grupper/{id}", site.uid)).into_response()
}

#[derive(Template)]
#[template(path = "groups.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    groups: &'a [GroupView],
    can_create: bool,
    error: Option<String>,
    draft: &'a str,
}

async fn list(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    list_page(&web, &v, &site, None, "").await
}

async fn list_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    error: Option<String>,
    draft: &str,
) -> Response {
    let groups = match web.store.groups(&[site.id]).await {
        Ok(g) => g,
        Err(e) => return v.failed(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = ListBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        groups: &groups,
        can_create: v.role_on(site.id) >= Some(Role::SiteUser),
        error,
        draft,
    };
    let title = format!("{} – {}", v.t.nav_groups, site.name);
    v.page_with(web, here(site), title, body, status, None)
        .await
}

#[derive(Deserialize)]
struct NewGroup {
    navn: String,
    #[serde(default)]
    beskrivelse: String,
}

async fn create(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<NewGroup>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web
        .store
        .create_group(&scope, site.id, &f.navn, &f.beskrivelse, &[])
        .await
    {
        Ok(Some(g)) => to_group(&site, g.id),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let error = format!("{}: {}", v.t.group_name, m.reason.text(v.t));
                list_page(&web, &v, &site, Some(error), &f.navn).await
            }
            Err(e) => v.failed(e),
        },
    }
}

/// The store's message without its own name of the field (`name: …`).
/// A PC or user offered as a checkbox: (id, name, chosen).
type Choice = (i64, String, bool);

#[derive(Template)]
#[template(path = "group.html")]
struct GroupBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    g: &'a GroupView,
    pcs: Vec<Choice>,
    users: Vec<Choice>,
    entries: &'a [EntryView],
    config_action: String,
    draft_key: &'a str,
    draft_value: &'a str,
    scripts: &'a [ScriptRow],
    rules: Vec<(String, String)>,
    can_change: bool,
    can_delete: bool,
    error: Option<String>,
}

/// What a group's page shows again after a refused change: the message and what was typed;
/// or what a change just did.
#[derive(Default)]
struct Shown<'a> {
    error: Option<String>,
    key: &'a str,
    value: &'a str,
    notice: Option<String>,
}

/// What a change that redirects back to the group's page did (`?gjort=parametre&jobs=2`), to
/// say so: a policy's new parameters, and the jobs that run it again (none without `jobs`:
/// the site does not rerun).
#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    gjort: String,
    #[serde(default)]
    jobs: String,
}

impl Done {
    fn notice(&self, t: &text::Msgs) -> Option<String> {
        if self.gjort != "parametre" {
            return None;
        }
        Some(match self.jobs.parse::<u64>() {
            Ok(0) => t.group_policy_saved_no_members.to_owned(),
            Ok(n) => format!("{} {n}", t.group_policy_saved_rerun),
            Err(_) => t.group_policy_saved_no_rerun.to_owned(),
        })
    }
}

async fn group(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Query(done): Query<Done>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let shown = Shown {
        notice: done.notice(v.t),
        ..Shown::default()
    };
    group_page(&web, &v, &site, id, shown).await
}

async fn group_page(web: &Web, v: &Viewer, site: &Site, id: i64, shown: Shown<'_>) -> Response {
    let found = async {
        let Some(g) = web.store.group(&[site.id], id).await? else {
            return Ok(None);
        };
        let pcs = web.store.runnable_pcs(site.id, 2_000).await?;
        let users = web.store.site_user_names(site.id).await?;
        let entries = web
            .store
            .config_entries(&[site.id], Owner::Group(id))
            .await?
            .unwrap_or_default();
        let scripts = web
            .store
            .script_rows(site.id, &ScriptFilter::default())
            .await?;
        let mut rules = Vec::new();
        for kind in [RuleKind::Security, RuleKind::Offline] {
            for r in web.store.rules(&[site.id], kind).await? {
                if r.groups.is_empty() || r.groups.contains(&id) {
                    rules.push((r.name, r.level));
                }
            }
        }
        Ok::<_, crate::store::Error>(Some((g, pcs, users, entries, scripts, rules)))
    };
    let (g, pcs, users, entries, scripts, rules) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    // Members that are no longer activated stay listed, so they can be taken out.
    let mut pcs: Vec<Choice> = pcs
        .into_iter()
        .map(|(pid, name)| (pid, name, g.members.contains(&pid)))
        .collect();
    for m in &g.members {
        if !pcs.iter().any(|(pid, _, _)| pid == m) {
            pcs.push((*m, format!("#{m}"), true));
        }
    }
    let users = users
        .into_iter()
        .map(|(uid, name)| (uid, name, g.supervisors.contains(&uid)))
        .collect();
    let role = v.role_on(site.id);
    let status = if shown.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = GroupBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        pcs,
        users,
        entries: &entries,
        config_action: format!("/steder/{}/grupper/{id}/konfiguration", site.uid),
        draft_key: shown.key,
        draft_value: shown.value,
        scripts: &scripts,
        rules,
        can_change: role >= Some(Role::SiteUser),
        can_delete: role >= Some(Role::SiteAdmin),
        error: shown.error,
        g: &g,
    };
    let title = format!("{} – {}", v.t.group_title, g.name);
    v.page_with(web, here(site), title, body, status, shown.notice)
        .await
}

/// The group's page again with a refusal, or our failure.
async fn refused(
    web: &Web,
    v: &Viewer,
    site: &Site,
    id: i64,
    label: &str,
    e: crate::store::Error,
) -> Response {
    match refusal(e) {
        Ok(m) => {
            let shown = Shown {
                error: Some(format!("{label}: {}", m.reason.text(v.t))),
                ..Shown::default()
            };
            group_page(web, v, site, id, shown).await
        }
        Err(e) => v.failed(e),
    }
}

/// Name, description and supervisors.
async fn change(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Fields>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(supervisors) = f.ids("ansvarlig") else {
        return v
            .visit
            .message(StatusCode::UNPROCESSABLE_ENTITY, v.t.group_supervisors);
    };
    let change = GroupChange {
        name: Some(f.one("navn").to_owned()),
        description: Some(f.one("beskrivelse").to_owned()),
        supervisors: Some(supervisors),
    };
    match web.store.change_group(&scope, id, &change).await {
        Ok(Some(_)) => to_group(&site, id),
        Ok(None) => v.visit.not_found(),
        Err(e) => refused(&web, &v, &site, id, v.t.group_details, e).await,
    }
}

/// Members: the ticked PCs join (their policy scripts run), the others leave.
async fn members(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Fields>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(wanted) = f.ids("pc") else {
        return v
            .visit
            .message(StatusCode::UNPROCESSABLE_ENTITY, v.t.group_members);
    };
    let current = match web.store.group(&[site.id], id).await {
        Ok(Some(g)) => g.members,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let done = apply_members(&web, &scope, id, &current, &wanted).await;
    match done {
        Ok(true) => to_group(&site, id),
        Ok(false) => v.visit.not_found(),
        Err(e) => refused(&web, &v, &site, id, v.t.group_members, e).await,
    }
}

/// Joins and leaves one PC at a time through the store (each its own transaction, as the
/// API's); `false` if the group or a PC is not in scope.
async fn apply_members(
    web: &Web,
    scope: &Scope,
    id: i64,
    current: &[i64],
    wanted: &[i64],
) -> crate::store::Result<bool> {
    for pc in wanted.iter().filter(|p| !current.contains(p)) {
        if web.store.join_group(scope, id, *pc).await?.is_none() {
            return Ok(false);
        }
    }
    for pc in current.iter().filter(|p| !wanted.contains(p)) {
        if web.store.leave_group(scope, id, *pc).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn config(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<ConfigEntry>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web
        .store
        .change_config(&scope, Owner::Group(id), &[f.change()])
        .await
    {
        Ok(Some(_)) => to_group(&site, id),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let shown = Shown {
                    error: Some(format!(
                        "{}: {}",
                        v.t.settings_config_key,
                        m.reason.text(v.t)
                    )),
                    key: &f.noegle,
                    value: &f.vaerdi,
                    notice: None,
                };
                group_page(&web, &v, &site, id, shown).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Template)]
#[template(path = "group_policy.html")]
struct PolicyBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    g: &'a GroupView,
    script: &'a ScriptRow,
    fields: Vec<ParamField>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PolicyQuery {
    script: Option<i64>,
}

/// The form of a new policy script: its parameters.
async fn policy_form(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Query(q): Query<PolicyQuery>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(script) = q.script else {
        // No script chosen: back to the group, if it is one of the site's.
        return match web.store.group(&[site.id], id).await {
            Ok(Some(_)) => to_group(&site, id),
            Ok(None) => v.visit.not_found(),
            Err(e) => v.failed(e),
        };
    };
    policy_page(&web, &v, &site, id, script, None, None).await
}

async fn policy_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    id: i64,
    script: i64,
    sent: Option<&Upload>,
    error: Option<String>,
) -> Response {
    let found = async {
        let g = web.store.group(&[site.id], id).await?;
        let s = web
            .store
            .script_page(site.id, ScriptKind::Normal, script)
            .await?;
        Ok::<_, crate::store::Error>(g.zip(s))
    };
    let (g, s) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = PolicyBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        g: &g,
        script: &s.row,
        fields: param_fields(&s.inputs, v.t, sent, &[]),
        error,
    };
    let title = format!("{} – {}", v.t.group_policy_add, g.name);
    v.page_with(web, here(site), title, body, status, None)
        .await
}

/// A policy script at the end of the group's list; it runs on every member at once.
async fn add_policy(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    up: Upload,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(script) = up.field("script").parse::<i64>() else {
        return v
            .visit
            .message(StatusCode::UNPROCESSABLE_ENTITY, v.t.group_policy_script);
    };
    let inputs = match web
        .store
        .script_page(site.id, ScriptKind::Normal, script)
        .await
    {
        Ok(Some(s)) => s.inputs,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let params = param_values(&inputs, &up);
    match web.store.add_policy(&scope, id, script, &params).await {
        Ok(Some(_)) => to_group(&site, id),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let error = format!("{} {}", v.t.group_policy_refused, m.text(v.t));
                policy_page(&web, &v, &site, id, script, Some(&up), Some(error)).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Template)]
#[template(path = "group_policy_edit.html")]
struct PolicyEditBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    g: &'a GroupView,
    policy: &'a PolicyDetail,
    fields: Vec<ParamField>,
    rerun: bool,
    error: Option<String>,
}

/// The form that changes a policy's parameter values, filled with what is stored.
async fn policy_edit_form(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id, policy)): Path<(String, i64, i64)>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    policy_edit_page(&web, &v, &site, id, policy, None, None).await
}

/// A group's policy and its script's parameters; `None` if either is not the site's.
async fn policy_and_inputs(
    web: &Web,
    site: &Site,
    id: i64,
    policy: i64,
) -> crate::store::Result<Option<(PolicyDetail, Vec<Input>)>> {
    let Some(p) = web.store.policy(&[site.id], id, policy).await? else {
        return Ok(None);
    };
    let inputs = web
        .store
        .script_page(site.id, ScriptKind::Normal, p.script_id)
        .await?;
    Ok(inputs.map(|s| (p, s.inputs)))
}

async fn policy_edit_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    id: i64,
    policy: i64,
    sent: Option<&Upload>,
    error: Option<String>,
) -> Response {
    let found = async {
        let Some(g) = web.store.group(&[site.id], id).await? else {
            return Ok(None);
        };
        let rerun = web.store.reruns_policies(site.id).await?;
        let found = policy_and_inputs(web, site, id, policy).await?;
        Ok::<_, crate::store::Error>(found.map(|(p, inputs)| (g, p, inputs, rerun)))
    };
    let (g, p, inputs, rerun) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = PolicyEditBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        g: &g,
        fields: param_fields(&inputs, v.t, sent, &p.params),
        policy: &p,
        rerun,
        error,
    };
    let title = format!("{} – {}", v.t.group_policy_edit_title, p.script);
    v.page_with(web, here(site), title, body, status, None)
        .await
}

/// The values of the form that changes a policy: a FILE left empty keeps the policy's file
/// (unless its removal is ticked), a PASSWORD left empty its password, as the form says; the
/// page never holds either, so "empty" cannot mean "as it was shown".
fn changed_values(inputs: &[Input], up: &Upload) -> Vec<ParamValue> {
    param_values(inputs, up)
        .into_iter()
        .zip(inputs)
        .map(|(value, i)| match (i.value_type.as_str(), value) {
            ("FILE", ParamValue::Text(_)) if up.field(&remove_file_field(i)) != "ja" => {
                ParamValue::Kept
            }
            ("PASSWORD", ParamValue::Text(t)) if t.is_empty() => ParamValue::Kept,
            (_, value) => value,
        })
        .collect()
}

/// New parameter values for a policy; it runs again on every member if the site says so, and
/// the group's page says which.
async fn change_policy(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id, policy)): Path<(String, i64, i64)>,
    up: Upload,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let found = async {
        let rerun = web.store.reruns_policies(site.id).await?;
        let found = policy_and_inputs(&web, &site, id, policy).await?;
        Ok::<_, crate::store::Error>(found.map(|(_, inputs)| (inputs, rerun)))
    };
    let (inputs, rerun) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let params = changed_values(&inputs, &up);
    match web.store.set_policy_params(&scope, policy, &params).await {
        Ok(Some(run)) => {
            let jobs = if rerun {
                format!("&jobs={}", run.job_ids.len())
            } else {
                String::new()
            };
            let to = format!("/steder/{}/grupper/{id}?gjort=parametre{jobs}", site.uid);
            Redirect::to(&to).into_response()
        }
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let error = format!("{} {}", v.t.group_policy_not_saved, m.text(v.t));
                policy_edit_page(&web, &v, &site, id, policy, Some(&up), Some(error)).await
            }
            Err(e) => v.failed(e),
        },
    }
}

/// Which way a policy moves in its group's order: the button pressed.
#[derive(Deserialize)]
struct Move {
    #[serde(default)]
    retning: String,
}

/// A policy one place earlier or later in the order its group's policies run in.
async fn move_policy(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id, policy)): Path<(String, i64, i64)>,
    Form(f): Form<Move>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let up = match f.retning.as_str() {
        "op" => true,
        "ned" => false,
        // A policy that is not the group's is "not found" whatever the button said.
        _ => {
            return match web.store.policy(&[site.id], id, policy).await {
                Ok(Some(_)) => v.visit.message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    v.t.group_policy_move_unknown,
                ),
                Ok(None) => v.visit.not_found(),
                Err(e) => v.failed(e),
            };
        }
    };
    match web.store.move_policy(&scope, id, policy, up).await {
        Ok(Some(_)) => {
            Redirect::to(&format!("/steder/{}/grupper/{id}#politikker", site.uid)).into_response()
        }
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

/// Takes a policy script off the group; what it did on the PCs stays.
async fn remove_policy(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id, policy)): Path<(String, i64, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.store.remove_policy(&scope, id, policy).await {
        Ok(Some(())) => to_group(&site, id),
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

async fn delete(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.store.delete_group(&scope, id).await {
        Ok(Some(())) => Redirect::to(&format!("/steder/{}/grupper", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => refused(&web, &v, &site, id, v.t.group_delete, e).await,
    }
}
