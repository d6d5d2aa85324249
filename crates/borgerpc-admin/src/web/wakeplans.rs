//! Wake plans ("Tænd/sluk"): the site's plans, and a plan's form — enabled, name, sleep
//! state, the week (on and off per weekday), exceptions (closed days, altered hours) and the
//! groups that follow it. Saving goes through the store, which sends the `wake_plan_set` and
//! `wake_plan_remove` jobs to the PCs concerned; site users create and change plans, site
//! admins also delete them.

use super::{Fields, Here, Nothing, Problem, Section, Viewer, Web, text};
use crate::store::access::Role;
use crate::store::tenants::Site;
use crate::store::wakeplans::{
    Day, EXCEPTION_KINDS, Exception, PlanFields, SLEEP_STATES, WakePlanView,
};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use service_kit::web::Form;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/taend-sluk", get(list))
        .route("/steder/{site}/taend-sluk/ny", get(new_form).post(create))
        .route("/steder/{site}/taend-sluk/{id}", get(plan).post(change))
        .route("/steder/{site}/taend-sluk/{id}/slet", post(delete))
}

/// Empty exception rows under a plan's own, for adding some without a script.
const BLANK_EXCEPTIONS: usize = 3;

fn days(t: &text::Msgs) -> [&'static str; 7] {
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

fn sleep_label(t: &text::Msgs, state: &str) -> &'static str {
    match state {
        "STANDBY" => t.sleep_standby,
        "FREEZE" => t.sleep_freeze,
        "MEM" => t.sleep_mem,
        _ => t.sleep_off,
    }
}

fn kind_label(t: &text::Msgs, kind: &str) -> &'static str {
    match kind {
        "CLOSED" => t.exception_closed,
        _ => t.exception_altered,
    }
}

struct PlanLine {
    id: i64,
    name: String,
    enabled: bool,
    sleep: &'static str,
    groups: String,
}

#[derive(Template)]
#[template(path = "wake_plans.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    plans: &'a [PlanLine],
    can_change: bool,
}

async fn list(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = async {
        let plans = web.store.wake_plans(&[site.id]).await?;
        let groups = web.store.group_names(site.id).await?;
        Ok::<_, crate::store::Error>((plans, groups))
    };
    let (plans, groups) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let plans: Vec<PlanLine> = plans
        .iter()
        .map(|p| PlanLine {
            id: p.id,
            name: p.name.clone(),
            enabled: p.enabled,
            sleep: sleep_label(t, &p.sleep_state),
            groups: {
                let names: Vec<&str> = groups
                    .iter()
                    .filter(|(id, _)| p.groups.contains(id))
                    .map(|(_, n)| n.as_str())
                    .collect();
                if names.is_empty() {
                    t.plan_no_groups.to_owned()
                } else {
                    names.join(", ")
                }
            },
        })
        .collect();
    let body = ListBody {
        t,
        site: &site.uid,
        plans: &plans,
        can_change: v.role_on(site.id) >= Some(Role::SiteUser),
    };
    let title = format!("{} – {}", t.plans_title, site.name);
    let here = Here {
        section: Section::WakePlans,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}

/// One weekday of the form.
struct DayForm {
    label: &'static str,
    open: bool,
    on: String,
    off: String,
}

/// One exception row of the form.
struct ExceptionForm {
    name: String,
    kind: String,
    from: String,
    to: String,
    on: String,
    off: String,
}

/// A plan's form as the page holds it: text as typed, so a refused form comes back as sent.
struct PlanForm {
    name: String,
    enabled: bool,
    sleep: String,
    week: Vec<DayForm>,
    exceptions: Vec<ExceptionForm>,
    groups: Vec<i64>,
}

impl PlanForm {
    fn new(t: &text::Msgs) -> PlanForm {
        PlanForm {
            name: String::new(),
            enabled: true,
            sleep: "OFF".to_owned(),
            week: days(t)
                .into_iter()
                .enumerate()
                .map(|(i, label)| DayForm {
                    label,
                    open: i < 5,
                    on: "08:00".to_owned(),
                    off: "20:00".to_owned(),
                })
                .collect(),
            exceptions: Vec::new(),
            groups: Vec::new(),
        }
        .with_blanks()
    }

    fn of(p: &WakePlanView, t: &text::Msgs) -> PlanForm {
        PlanForm {
            name: p.name.clone(),
            enabled: p.enabled,
            sleep: p.sleep_state.clone(),
            week: days(t)
                .into_iter()
                .zip(&p.week)
                .map(|(label, d)| DayForm {
                    label,
                    open: d.open,
                    on: d.on.clone().unwrap_or_default(),
                    off: d.off.clone().unwrap_or_default(),
                })
                .collect(),
            exceptions: p
                .exceptions
                .iter()
                .map(|e| ExceptionForm {
                    name: e.name.clone(),
                    kind: e.kind.clone(),
                    from: e.date_start.clone(),
                    to: e.date_end.clone(),
                    on: e.time_start.clone().unwrap_or_default(),
                    off: e.time_end.clone().unwrap_or_default(),
                })
                .collect(),
            groups: p.groups.clone(),
        }
        .with_blanks()
    }

    fn sent(f: &Fields, t: &text::Msgs) -> PlanForm {
        let rows: usize = f.one("undtagelser").parse().unwrap_or(0);
        PlanForm {
            name: f.one("navn").to_owned(),
            enabled: f.one("aktiv") == "ja",
            sleep: f.one("dvale").to_owned(),
            week: days(t)
                .into_iter()
                .enumerate()
                .map(|(i, label)| DayForm {
                    label,
                    open: f.one(&format!("dag{i}_aaben")) == "ja",
                    on: f.one(&format!("dag{i}_taend")).to_owned(),
                    off: f.one(&format!("dag{i}_sluk")).to_owned(),
                })
                .collect(),
            // At most what a plan may hold, whatever the form says.
            exceptions: (0..rows.min(200 + BLANK_EXCEPTIONS))
                .map(|i| {
                    let get = |k: &str| f.one(&format!("undtagelse{i}_{k}")).trim().to_owned();
                    ExceptionForm {
                        name: get("navn"),
                        kind: get("type"),
                        from: get("fra"),
                        to: get("til"),
                        on: get("taend"),
                        off: get("sluk"),
                    }
                })
                .collect(),
            groups: f.ids("gruppe").unwrap_or_default(),
        }
    }

    fn with_blanks(mut self) -> PlanForm {
        for _ in 0..BLANK_EXCEPTIONS {
            self.exceptions.push(ExceptionForm {
                name: String::new(),
                kind: "CLOSED".to_owned(),
                from: String::new(),
                to: String::new(),
                on: String::new(),
                off: String::new(),
            });
        }
        self
    }

    fn blank(e: &ExceptionForm) -> bool {
        e.name.is_empty() && e.from.is_empty() && e.to.is_empty()
    }

    /// The store's fields and, for each exception it gets, the form's row; or what is wrong.
    fn fields(&self, t: &text::Msgs, f: &Fields) -> Result<(PlanFields, Vec<usize>), Problem> {
        if self.name.trim().is_empty() {
            return Err(Problem::new("navn", t.plan_name, t.rule_required));
        }
        if !SLEEP_STATES.contains(&self.sleep.as_str()) {
            return Err(Problem::new("dvale", t.plan_sleep, t.rule_choose));
        }
        let Some(groups) = f.ids("gruppe") else {
            return Err(Problem::new("gruppe", t.plan_groups, t.rule_choose));
        };
        let week = self
            .week
            .iter()
            .map(|d| Day {
                open: d.open,
                on: d.open.then(|| d.on.trim().to_owned()),
                off: d.open.then(|| d.off.trim().to_owned()),
            })
            .collect();
        let mut rows = Vec::new();
        let mut exceptions = Vec::new();
        for (i, e) in self.exceptions.iter().enumerate() {
            if Self::blank(e) {
                continue;
            }
            if !EXCEPTION_KINDS.contains(&e.kind.as_str()) {
                return Err(Problem::new(
                    &format!("undtagelse{i}_type"),
                    &format!("{} {} ({})", t.plan_exception, i + 1, t.plan_exception_kind),
                    t.rule_choose,
                ));
            }
            let altered = e.kind == "ALTERED_HOURS";
            rows.push(i);
            exceptions.push(Exception {
                name: e.name.clone(),
                kind: e.kind.clone(),
                date_start: e.from.clone(),
                date_end: e.to.clone(),
                time_start: altered.then(|| e.on.clone()),
                time_end: altered.then(|| e.off.clone()),
            });
        }
        Ok((
            PlanFields {
                name: Some(self.name.clone()),
                enabled: Some(self.enabled),
                sleep_state: Some(self.sleep.clone()),
                week: Some(week),
                exceptions: Some(exceptions),
                groups: Some(groups),
            },
            rows,
        ))
    }
}

/// The form's name and label for a field the store names (`week[2].on`,
/// `exceptions[0].date_end`); `rows` maps the store's exceptions to the form's rows.
fn form_field(t: &text::Msgs, key: &str, rows: &[usize]) -> Option<(String, String)> {
    let index = |k: &str| -> Option<usize> { k.split(['[', ']']).nth(1)?.parse().ok() };
    let (base, part) = key.split_once('.').unwrap_or((key, ""));
    let day = days(t);
    let out = match base.split('[').next().unwrap_or(base) {
        "name" => ("navn".to_owned(), t.plan_name.to_owned()),
        "sleep_state" => ("dvale".to_owned(), t.plan_sleep.to_owned()),
        "groups" => ("gruppe".to_owned(), t.plan_groups.to_owned()),
        "week" => {
            let i = index(base)?;
            let (name, what) = match part {
                "off" => ("sluk", t.plan_off),
                _ => ("taend", t.plan_on),
            };
            (
                format!("dag{i}_{name}"),
                format!("{} ({what})", day.get(i)?),
            )
        }
        "exceptions" => {
            let row = *rows.get(index(base)?)?;
            let (name, what) = match part {
                "name" => ("navn", t.plan_exception_name),
                "kind" => ("type", t.plan_exception_kind),
                "date_end" => ("til", t.plan_exception_to),
                "time_start" => ("taend", t.plan_on),
                "time_end" => ("sluk", t.plan_off),
                _ => ("fra", t.plan_exception_from),
            };
            (
                format!("undtagelse{row}_{name}"),
                format!("{} {} ({what})", t.plan_exception, row + 1),
            )
        }
        _ => return None,
    };
    Some(out)
}

#[derive(Template)]
#[template(path = "wake_plan.html")]
struct FormBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    /// The plan's id; 0 for a new one.
    id: i64,
    p: &'a PlanForm,
    sleeps: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    groups: &'a [(i64, String)],
    can_change: bool,
    can_delete: bool,
    problem: Option<&'a Problem>,
}

impl FormBody<'_> {
    /// Whether the problem is about the form's field `{prefix}{row}_{part}` (a day's or an
    /// exception's input).
    fn invalid(&self, prefix: &str, row: impl std::fmt::Display, part: &str) -> bool {
        self.problem
            .is_some_and(|p| p.field == format!("{prefix}{row}_{part}"))
    }
}

async fn form_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    id: i64,
    p: &PlanForm,
    problem: Option<&Problem>,
) -> Response {
    let groups = match web.store.group_names(site.id).await {
        Ok(g) => g,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let role = v.role_on(site.id);
    let body = FormBody {
        t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        id,
        p,
        sleeps: SLEEP_STATES
            .iter()
            .map(|s| (*s, sleep_label(t, s)))
            .collect(),
        kinds: EXCEPTION_KINDS
            .iter()
            .map(|k| (*k, kind_label(t, k)))
            .collect(),
        groups: &groups,
        can_change: role >= Some(Role::SiteUser),
        can_delete: id != 0 && role >= Some(Role::SiteAdmin),
        problem,
    };
    let title = if id == 0 {
        format!("{} – {}", t.plan_new, site.name)
    } else {
        format!("{}: {} – {}", t.plan_title, p.name, site.name)
    };
    let here = Here {
        section: Section::WakePlans,
        site: Some(site),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    v.page_with(web, here, title, body, status, None).await
}

/// The form for a new plan; `?kopi=<id>` fills it from that plan of the site (upstream's
/// "Kopiér"), named as a copy and without groups, since a group follows one plan at a time.
async fn new_form(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if v.needs(Role::SiteUser, &site).is_none() {
        return v.visit.not_found();
    }
    let form = match q.one("kopi").parse::<i64>() {
        Err(_) => PlanForm::new(v.t),
        Ok(id) => match web.store.wake_plan(&[site.id], id).await {
            Ok(Some(p)) => {
                let mut form = PlanForm::of(&p, v.t);
                form.name = format!("{} {}", v.t.plan_copy_of, p.name);
                form.groups.clear();
                form
            }
            Ok(None) => return v.visit.not_found(),
            Err(e) => return v.failed(e),
        },
    };
    form_page(&web, &v, &site, 0, &form, None).await
}

async fn plan(State(web): State<Web>, v: Viewer, Path((uid, id)): Path<(String, i64)>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match web.store.wake_plan(&[site.id], id).await {
        Ok(Some(p)) => form_page(&web, &v, &site, id, &PlanForm::of(&p, v.t), None).await,
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}

/// Creates (`id` 0) or changes a plan from its form.
async fn save(web: &Web, v: &Viewer, site: &Site, id: i64, f: &Fields) -> Response {
    let Some(mut scope) = v.needs(Role::SiteUser, site) else {
        return v.visit.not_found();
    };
    // This site's plans only, whatever other sites the viewer has.
    scope.sites = vec![site.id];
    if id != 0 {
        match web.store.wake_plan(&scope.sites, id).await {
            Ok(Some(_)) => {}
            Ok(None) => return v.visit.not_found(),
            Err(e) => return v.failed(e),
        }
    }
    let t = v.t;
    let form = PlanForm::sent(f, t);
    let (fields, rows) = match form.fields(t, f) {
        Ok(x) => x,
        Err(p) => return form_page(web, v, site, id, &form, Some(&p)).await,
    };
    let done = if id == 0 {
        web.store.create_wake_plan(&scope, site.id, &fields).await
    } else {
        web.store.change_wake_plan(&scope, id, &fields).await
    };
    match done {
        Ok(Some(p)) => {
            Redirect::to(&format!("/steder/{}/taend-sluk/{}", site.uid, p.id)).into_response()
        }
        Ok(None) => v.visit.not_found(),
        Err(e) => match Problem::of_store(&e, t, |k| form_field(t, k, &rows)) {
            Some(p) => form_page(web, v, site, id, &form, Some(&p)).await,
            None => v.failed(e),
        },
    }
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
    save(&web, &v, &site, 0, &f).await
}

async fn change(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if id == 0 {
        return v.visit.not_found();
    }
    save(&web, &v, &site, id, &f).await
}

async fn delete(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(mut scope) = v.needs(Role::SiteAdmin, &site) else {
        return v.visit.not_found();
    };
    scope.sites = vec![site.id];
    match web.store.delete_wake_plan(&scope, id).await {
        Ok(Some(())) => Redirect::to(&format!("/steder/{}/taend-sluk", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match Problem::of_store(&e, v.t, |_| None) {
            Some(p) => v.visit.message(StatusCode::UNPROCESSABLE_ENTITY, &p.text),
            None => v.failed(e),
        },
    }
}
