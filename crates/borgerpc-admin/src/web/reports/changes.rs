//! The changes report's page (`/rapporter/aendringer`, issue 14, report 6): the audit log of
//! the sites the user administers as a report, with the shared filter form (`read`) and three
//! fields of its own (`bruger`, `handling`, `per`): actions per day or week as an SVG bar chart
//! with the numbers in a table beside it, tables per action, per user (with the PCs their
//! script runs reached) and per site, the newest settings changes, and a page of records that
//! link to the PC, group, run, script, job or site they name. The figures are
//! `store::reports::changes`' (the JSON API's too); this module only lays them out.
//!
//! Who sees it: site administrators and up, on the sites where they are, as the log page
//! (`web/logs.rs`); for anyone else the page does not exist ("not found"). A superuser who
//! chooses neither a site nor a customer also sees the portal-wide records (those without a
//! site). A customer's administrators (and superusers choosing the customer) see its own
//! records without a site too, as "the customer itself" (`store::reports::changes`).

use super::{Choice, Choices, Files, Form, ROWS, Report, back, day, deliver, read, report_page};
use crate::api::reports::changes::changes_file;
use crate::store::access::Role;
use crate::store::reports::changes::{
    ChangeEntry, Changes, ChangesFilter, Counts, action as parse_action, actor as parse_actor,
};
use crate::web::chart::{Bars, bar_chart};
use crate::web::{Pager, Problem, Viewer, Web, filter_query, text};
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use service_kit::web::Lang;
use service_kit::web::time::local_time;

const PATH: &str = "/rapporter/aendringer";

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/aendringer", get(page))
        .route("/rapporter/aendringer.csv", get(csv))
        .route("/rapporter/aendringer.xlsx", get(xlsx))
}

/// The report's own fields, as the form shows them (`extra` in the shared form).
#[derive(Template)]
#[template(path = "report_changes_filters.html")]
struct OwnFields<'a> {
    t: &'static text::Msgs,
    users: &'a [Choice],
    /// Per object: its name and its actions (the first is the object, all its actions).
    actions: &'a [(String, Vec<Choice>)],
    /// The field a problem is about, if one is.
    invalid: &'a str,
    weeks: bool,
    all_actions: bool,
}

#[derive(Template)]
#[template(path = "report_changes.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<View>,
}

/// A bar of the chart as the table beside it shows it.
struct Row {
    label: String,
    /// The date (`2026-11-03`) or the ISO week (`2026-W45`), for `<time datetime>`.
    iso: String,
    counts: Counts,
}

struct View {
    files: Option<Files>,
    weeks: bool,
    chart: String,
    rows: Vec<Row>,
    totals: Counts,
    activated_pcs: i64,
    by_action: Vec<(String, i64, String)>,
    users: Vec<UserLine>,
    sites: Vec<SiteLine>,
    settings: Vec<Line>,
    count: i64,
    lines: Vec<Line>,
    pager: Pager,
}

struct UserLine {
    label: String,
    /// The page filtered to the user.
    href: String,
    counts: Counts,
}

struct SiteLine {
    label: String,
    /// The page filtered to the site; `None` for the portal-wide records and deleted sites.
    href: Option<String>,
    actions: i64,
}

/// A record as the tables show it.
struct Line {
    id: i64,
    at: String,
    user: String,
    site: Option<String>,
    /// For a customer's record without a site: the customer's name (in the site column).
    customer: Option<String>,
    action: String,
    target: String,
    /// What the target names, where it has a page.
    href: Option<String>,
    pcs: Option<i64>,
    before: String,
    after: String,
}

/// A user as the form and the tables name them: the user name, or the actor for an API key
/// or the CLI (what the API's `user` and the form's `bruger` take back).
fn user_name(actor: &str) -> &str {
    actor.strip_prefix("user:").unwrap_or(actor)
}

/// The page of what a record names: a script run's run, else its PC, group, script, job or
/// site. Nothing for a deletion (the object is gone) or a record without a site.
fn href(e: &ChangeEntry) -> Option<String> {
    let site = e.site.as_deref()?;
    if e.action.ends_with(".delete") {
        return None;
    }
    let base = format!("/steder/{site}");
    Some(if let Some(b) = e.batch_id {
        format!("{base}/koersler/{b}")
    } else if let Some(pc) = e.pc_id {
        format!("{base}/pc/{pc}")
    } else if let Some(g) = e.group_id {
        format!("{base}/grupper/{g}")
    } else if let Some(s) = e.script_id {
        format!("{base}/scripts/{s}")
    } else if let Some(j) = e.job_id {
        format!("{base}/jobs/{j}")
    } else if e.target.starts_with("site:") {
        base
    } else {
        return None;
    })
}

fn line(e: &ChangeEntry, lang: Lang, t: &text::Msgs) -> Line {
    let part = |k: &str| {
        e.detail
            .as_ref()
            .and_then(|d| d.get(k))
            .filter(|v| !v.is_null())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    Line {
        id: e.id,
        at: local_time(e.at, lang),
        user: user_name(&e.actor).to_owned(),
        site: e.site.clone(),
        customer: e
            .customer
            .clone()
            .filter(|_| e.site_id.is_none())
            .map(|c| format!("{c} ({})", t.reports_changes_customer_own)),
        action: e.action.clone(),
        target: e.target.clone(),
        href: href(e),
        pcs: e.pcs,
        before: part("before"),
        after: part("after"),
    }
}

/// The address of this page with the form's filters and one of them set to `value`.
fn filtered(form_query: &str, key: &str, value: &str) -> String {
    let fields = crate::web::Fields::parse(form_query);
    let mut pairs: Vec<(&str, &str)> =
        ["sted", "gruppe", "fra", "til", "bruger", "handling", "per"]
            .iter()
            .map(|k| (*k, fields.one(k)))
            .filter(|(k, _)| *k != key)
            .collect();
    pairs.push((key, value));
    format!("{PATH}?{}", filter_query(&pairs))
}

fn view(r: &Changes, weeks: bool, page: i64, form: &Form, v: &Viewer) -> View {
    let (t, lang) = (v.t, v.visit.lang());
    let rows: Vec<Row> = if weeks {
        r.weeks
            .iter()
            .map(|w| Row {
                label: match lang {
                    Lang::Da => format!("uge {}", &w.week[6..]),
                    Lang::En => format!("week {}", &w.week[6..]),
                },
                iso: w.week.clone(),
                counts: w.counts.clone(),
            })
            .collect()
    } else {
        r.days
            .iter()
            .map(|d| Row {
                label: day(d.date, lang),
                iso: d.date.format("%Y-%m-%d").to_string(),
                counts: d.counts.clone(),
            })
            .collect()
    };
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|row| (row.label.clone(), row.counts.actions as f64))
        .collect();
    let (title, desc) = if weeks {
        (t.reports_changes_chart_weeks, t.reports_changes_desc_weeks)
    } else {
        (t.reports_changes_chart, t.reports_changes_desc)
    };
    let chart = bar_chart(&Bars {
        title,
        desc,
        bars: &bars,
        max: None,
        unit: "",
    });
    View {
        files: Files::of(
            Report::Changes,
            form,
            r.count <= crate::export::MAX_ROWS as i64,
        ),
        weeks,
        chart,
        rows,
        totals: r.totals.clone(),
        activated_pcs: r.activated_pcs,
        by_action: r
            .by_action
            .iter()
            .map(|a| {
                let href = filtered(&form.query, "handling", &a.action);
                (a.action.clone(), a.count, href)
            })
            .collect(),
        users: r
            .users
            .iter()
            .map(|u| UserLine {
                label: user_name(&u.actor).to_owned(),
                href: filtered(&form.query, "bruger", user_name(&u.actor)),
                counts: u.counts.clone(),
            })
            .collect(),
        sites: r
            .sites
            .iter()
            .map(|s| SiteLine {
                label: match (&s.name, s.site_id, &s.customer) {
                    (Some(name), _, _) => name.clone(),
                    (None, None, Some(c)) => format!("{c} ({})", t.reports_changes_customer_own),
                    (None, None, None) => t.reports_changes_portal_wide.to_owned(),
                    (None, Some(id), _) => format!("{} {id}", t.reports_changes_deleted_site),
                },
                href: s
                    .site
                    .as_ref()
                    .map(|uid| filtered(&form.query, "sted", uid)),
                actions: s.actions,
            })
            .collect(),
        settings: r.latest_settings.iter().map(|e| line(e, lang, t)).collect(),
        count: r.count,
        lines: r.items.iter().map(|e| line(e, lang, t)).collect(),
        pager: Pager::new(page, r.count, ROWS, PATH, &form.query),
    }
}

/// The choices of the report's own fields: the actors and the actions of the period's
/// records (and what the address names, if it is not among them).
fn choices(
    actors: &[String],
    actions: &[String],
    user: &str,
    action: &str,
    t: &text::Msgs,
) -> (Vec<Choice>, Vec<(String, Vec<Choice>)>) {
    let mut users = vec![(String::new(), t.all.to_owned(), user.is_empty())];
    let mut names: Vec<&str> = actors.iter().map(|a| user_name(a)).collect();
    if !user.is_empty() && !names.contains(&user) {
        names.push(user);
    }
    names.sort_unstable();
    names.dedup();
    users.extend(
        names
            .into_iter()
            .map(|n| (n.to_owned(), n.to_owned(), n == user)),
    );
    let mut all: Vec<&str> = actions.iter().map(String::as_str).collect();
    if !action.is_empty() && !all.contains(&action) {
        all.push(action);
    }
    all.sort_unstable();
    let mut groups: Vec<(String, Vec<Choice>)> = Vec::new();
    for a in all {
        let object = a.split_once('.').map_or(a, |(o, _)| o);
        if groups.last().is_none_or(|(o, _)| o != object) {
            let label = format!("{object} ({})", t.reports_changes_all_of);
            groups.push((
                object.to_owned(),
                vec![(object.to_owned(), label, object == action)],
            ));
        }
        if a != object
            && let Some((_, list)) = groups.last_mut()
        {
            list.push((a.to_owned(), a.to_owned(), a == action));
        }
    }
    (users, groups)
}

/// The form read with the sites the user administers (their whole scope on this page), and
/// the report's filter with the page and `per` (or the problem to show). `Err`: not found for
/// users who administer no site, another customer's site, or a failure.
#[allow(clippy::type_complexity)]
async fn chosen(
    web: &Web,
    v: &mut Viewer,
    f: &crate::web::Fields,
) -> Result<(Form, Choices, Result<(ChangesFilter, i64, bool), Problem>), Response> {
    let Some(admin) = v.scope.clone().narrowed(Role::SiteAdmin) else {
        return Err(v.visit.not_found());
    };
    let everywhere = std::mem::replace(&mut v.scope, admin);
    let portal_wide = v.scope.superuser;
    let administers = v.scope.customers.clone();
    let read = read(web, v, f).await;
    v.scope = everywhere;
    let (form, filters, chosen) = read?;
    let t = v.t;
    let user = f.one("bruger").trim();
    let action = f.one("handling").trim();
    let chosen = chosen.and_then(|c| {
        let actor = (!user.is_empty())
            .then(|| parse_actor(user))
            .transpose()
            .map_err(|_| {
                Problem::new("bruger", t.reports_changes_user, t.reports_changes_bad_user)
            })?;
        let act = (!action.is_empty())
            .then(|| parse_action(action))
            .transpose()
            .map_err(|_| {
                Problem::new(
                    "handling",
                    t.reports_changes_action,
                    t.reports_changes_bad_action,
                )
            })?;
        let weeks = match f.one("per") {
            "" | "dag" => false,
            "uge" => true,
            _ => {
                return Err(Problem::new(
                    "per",
                    t.reports_changes_per,
                    t.reports_changes_bad_per,
                ));
            }
        };
        // The customers whose records are read whole, their own without a site too: the one
        // chosen, or with no site chosen all those the user administers.
        let customers = if !form.site.is_empty() {
            Vec::new()
        } else if form.customer.is_empty() {
            administers.clone()
        } else {
            administers
                .iter()
                .copied()
                .filter(|c| form.customer == c.to_string())
                .collect()
        };
        let filter = ChangesFilter {
            customers,
            portal_wide: portal_wide && form.site.is_empty() && form.customer.is_empty(),
            report: c.filter,
            actor,
            action: act,
        };
        Ok((filter, c.page, weeks))
    });
    Ok((form, filters, chosen))
}

async fn csv(
    State(web): State<Web>,
    mut v: Viewer,
    Query(f): Query<crate::web::Fields>,
) -> Response {
    file(&web, &mut v, &f, false).await
}

async fn xlsx(
    State(web): State<Web>,
    mut v: Viewer,
    Query(f): Query<crate::web::Fields>,
) -> Response {
    file(&web, &mut v, &f, true).await
}

/// The page's records as the file the link asks for: the API's `format=` file.
async fn file(web: &Web, v: &mut Viewer, f: &crate::web::Fields, xlsx: bool) -> Response {
    let (form, _, chosen) = match chosen(web, v, f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok((filter, _, _)) = chosen else {
        return back(Report::Changes, f);
    };
    let table = changes_file(&web.store, &filter).await;
    let period = filter.report.period;
    deliver(v, f, Report::Changes, &form, &period, table, xlsx).await
}

async fn page(
    State(web): State<Web>,
    mut v: Viewer,
    Query(f): Query<crate::web::Fields>,
) -> Response {
    let (mut form, filters, chosen) = match chosen(&web, &mut v, &f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let t = v.t;
    let user = f.one("bruger").trim().to_owned();
    let action = f.one("handling").trim().to_owned();
    let (problem, report, known) = match chosen {
        Err(p) => (Some(p), None, (Vec::new(), Vec::new())),
        Ok((filter, page, weeks)) => {
            let r = match web.store.changes_report(&filter).await {
                Ok(Some(r)) => r,
                Ok(None) => return v.visit.not_found(),
                Err(e) => return v.failed(e),
            };
            // Unnarrowed by user, action or group, the report's own lists are the choices.
            let narrowed =
                filter.actor.is_some() || filter.action.is_some() || filter.report.group.is_some();
            let known = if narrowed {
                match web.store.change_choices(&filter).await {
                    Ok(k) => k,
                    Err(e) => return v.failed(e),
                }
            } else {
                let mut actions: Vec<String> =
                    r.by_action.iter().map(|a| a.action.clone()).collect();
                actions.sort();
                (r.users.iter().map(|u| u.actor.clone()).collect(), actions)
            };
            (None, Some(view(&r, weeks, page, &form, &v)), known)
        }
    };
    let (users, actions) = choices(&known.0, &known.1, &user, &action, t);
    let own = OwnFields {
        t,
        users: &users,
        actions: &actions,
        invalid: problem.as_ref().map_or("", |p| p.field.as_str()),
        weeks: f.one("per") == "uge",
        all_actions: action.is_empty(),
    };
    form.extra = match own.render() {
        Ok(html) => html,
        Err(e) => return v.failed(anyhow::anyhow!("template: {e}")),
    };
    let body = Body {
        t,
        form: &form,
        choices: &filters,
        problem: problem.as_ref(),
        report,
    };
    report_page(&web, &v, t.reports_changes, body, problem.is_some()).await
}
