//! Security events ("Sikkerhedshændelser"): the site's list with upstream's filters (level,
//! default critical and high; status, default new and assigned; period) and paging, an
//! event's page, and handling chosen events at once (status, assignee, note) through the
//! store's all-or-none update, which audits each event.

use super::{Fields, Here, Pager, Problem, Section, Viewer, Web, text};
use crate::export::{cell, excel_csv};
use crate::store::access::Role;
use crate::store::events::{EventStatus, LEVELS};
use crate::store::job_views::COUNT_CAP;
use crate::store::operator::EventChange;
use crate::store::tenants::Site;
use crate::store::views::{EventFilter, EventRow, EventSort};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use service_kit::web::time::local_time;
use service_kit::web::{Form, Lang};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/sikkerhed", get(list))
        .route("/steder/{site}/sikkerhed.csv", get(csv))
        .route("/steder/{site}/sikkerhed/haandter", post(handle))
        .route("/steder/{site}/sikkerhed/{id}", get(event))
}

/// The levels shown when the address names none (upstream's default).
const DEFAULT_LEVELS: [&str; 2] = ["CRITICAL", "HIGH"];
/// The statuses shown when the address names none (upstream's default).
const DEFAULT_STATUSES: [EventStatus; 2] = [EventStatus::New, EventStatus::Assigned];
/// Events on a page of the list.
const PAGE_ROWS: i64 = 50;
/// The most events one export holds (a year of a large site's events, several times over).
const CSV_ROWS: i64 = 100_000;

pub(super) fn level_label(t: &text::Msgs, level: &str) -> &'static str {
    match level {
        "CRITICAL" => t.level_critical,
        "HIGH" => t.level_high,
        "NORMAL" => t.level_normal,
        _ => t.level_unknown,
    }
}

fn sort_label(t: &text::Msgs, s: EventSort) -> &'static str {
    match s {
        EventSort::Newest => t.events_sort_newest,
        EventSort::Oldest => t.events_sort_oldest,
        EventSort::Level => t.events_sort_level,
        EventSort::Pc => t.events_sort_pc,
    }
}

fn status_label(t: &text::Msgs, s: EventStatus) -> &'static str {
    match s {
        EventStatus::New => t.event_status_new,
        EventStatus::Assigned => t.event_status_assigned,
        EventStatus::Resolved => t.event_status_resolved,
    }
}

/// The list's filters as the address carries them
/// (`?niveau=CRITICAL&status=NEW&fra=2026-12-01&til=2026-12-05&sorter=niveau&side=2`).
struct Filters {
    levels: Vec<&'static str>,
    sort: EventSort,
    statuses: Vec<EventStatus>,
    from: String,
    to: String,
    page: i64,
    /// The address's query without the page, for the pager and for coming back.
    query: String,
}

/// Midnight in Copenhagen starting `date` (`YYYY-MM-DD`), as ms; `days` later for an end.
fn local_midnight(date: &str, days: u64) -> Option<i64> {
    use chrono::TimeZone as _;
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let d = d.checked_add_days(chrono::Days::new(days))?;
    let t = chrono_tz::Europe::Copenhagen
        .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some(t.timestamp_millis())
}

impl Filters {
    fn of(f: &Fields) -> Filters {
        let mut levels: Vec<&'static str> = LEVELS
            .iter()
            .copied()
            .filter(|l| f.all("niveau").any(|x| x == *l))
            .collect();
        if levels.is_empty() {
            levels = DEFAULT_LEVELS.to_vec();
        }
        let mut statuses: Vec<EventStatus> = EventStatus::ALL
            .into_iter()
            .filter(|s| f.all("status").any(|x| x == s.as_str()))
            .collect();
        if statuses.is_empty() {
            statuses = DEFAULT_STATUSES.to_vec();
        }
        let date = |k: &str| {
            let v = f.one(k).trim();
            if local_midnight(v, 0).is_some() {
                v.to_owned()
            } else {
                String::new()
            }
        };
        Filters {
            levels,
            sort: EventSort::parse(f.one("sorter")).unwrap_or_default(),
            statuses,
            from: date("fra"),
            to: date("til"),
            page: f.one("side").parse().unwrap_or(1).max(1),
            query: f.query_without(&["side", "csrf"]),
        }
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            levels: self.levels.iter().map(|l| (*l).to_owned()).collect(),
            statuses: self.statuses.clone(),
            from: local_midnight(&self.from, 0),
            // The end date is inclusive: up to the midnight after it.
            to: local_midnight(&self.to, 1),
        }
    }
}

/// An event as a row or a page shows it.
struct EventLine {
    id: i64,
    when: String,
    pc_id: i64,
    pc_name: String,
    summary: String,
    level: &'static str,
    status: &'static str,
    /// The status as stored (for the form's choice and a style); the text is `status`.
    status_key: &'static str,
    assignee: String,
    assignee_id: i64,
    rule: String,
    note: String,
}

fn line(r: &EventRow, t: &text::Msgs, lang: Lang) -> EventLine {
    EventLine {
        id: r.id,
        when: local_time(r.occurred_at, lang),
        pc_id: r.pc_id,
        pc_name: r.pc_name.clone(),
        summary: r.summary.clone(),
        level: level_label(t, &r.level),
        status: status_label(t, r.status),
        status_key: r.status.as_str(),
        assignee: r
            .assignee
            .clone()
            .unwrap_or_else(|| t.event_nobody.to_owned()),
        assignee_id: r.assigned_user_id.unwrap_or(0),
        rule: if r.rule_name.is_empty() {
            t.event_rule_gone.to_owned()
        } else {
            r.rule_name.clone()
        },
        note: r.note.clone(),
    }
}

/// The handling form's choices, shared by the list and an event's page.
struct HandleForm<'a> {
    statuses: Vec<(&'static str, &'static str)>,
    users: &'a [(i64, String)],
}

fn handle_form<'a>(t: &text::Msgs, users: &'a [(i64, String)]) -> HandleForm<'a> {
    HandleForm {
        statuses: EventStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), status_label(t, s)))
            .collect(),
        users,
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    f: &'a Filters,
    levels: Vec<(&'static str, &'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    /// (key, label, chosen) of each order.
    sorts: Vec<(&'static str, &'static str, bool)>,
    csv_href: String,
    /// How many match, or "more than" the cap.
    count: String,
    rows: &'a [EventLine],
    pager: &'a Pager,
    can_handle: bool,
    form: HandleForm<'a>,
    problem: Option<&'a Problem>,
    /// What the form held when it was refused: kept for the next try.
    chosen: &'a [i64],
    current_status: &'a str,
    current_assignee: i64,
    current_note: &'a str,
}

async fn list(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    list_page(&web, &v, &site, &q, None, &[], &Fields::default()).await
}

async fn list_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    q: &Fields,
    problem: Option<&Problem>,
    chosen: &[i64],
    sent: &Fields,
) -> Response {
    let f = Filters::of(q);
    let found = async {
        let (rows, count) = web
            .store
            .event_rows(
                site.id,
                &f.filter(),
                f.sort,
                PAGE_ROWS,
                (f.page - 1) * PAGE_ROWS,
            )
            .await?;
        let users = web.store.site_user_names(site.id).await?;
        Ok::<_, crate::store::Error>((rows, count, users))
    };
    let (rows, count, users) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let path = format!("/steder/{}/sikkerhed", site.uid);
    let pager = Pager::new(f.page, count.min(COUNT_CAP), PAGE_ROWS, &path, &f.query);
    let t = v.t;
    let rows: Vec<EventLine> = rows.iter().map(|r| line(r, t, v.visit.lang())).collect();
    let body = ListBody {
        t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        levels: LEVELS
            .iter()
            .map(|l| (*l, level_label(t, l), f.levels.contains(l)))
            .collect(),
        statuses: EventStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), status_label(t, s), f.statuses.contains(&s)))
            .collect(),
        sorts: EventSort::ALL
            .into_iter()
            .map(|s| (s.key(), sort_label(t, s), s == f.sort))
            .collect(),
        csv_href: format!("/steder/{}/sikkerhed.csv?{}", site.uid, f.query),
        f: &f,
        count: if count > COUNT_CAP {
            format!("{} {COUNT_CAP}", v.t.more_than)
        } else {
            count.to_string()
        },
        rows: &rows,
        pager: &pager,
        can_handle: v.role_on(site.id) >= Some(Role::SiteUser),
        form: handle_form(t, &users),
        problem,
        chosen,
        current_status: "",
        current_assignee: 0,
        current_note: sent.one("note"),
    };
    let title = format!("{} – {}", t.events_title, site.name);
    let here = Here {
        section: Section::Events,
        site: Some(site),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    v.page_with(web, here, title, body, status, None).await
}

/// The list as its filters and order choose it, every page at once, as CSV.
async fn csv(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<Fields>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = Filters::of(&q);
    let rows = match web
        .store
        .event_rows(site.id, &f.filter(), f.sort, CSV_ROWS, 0)
        .await
    {
        Ok((rows, _)) => rows,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let lang = v.visit.lang();
    let header = [
        t.event_time,
        t.event_pc,
        t.event_summary,
        t.event_level,
        t.event_status,
        t.event_assignee,
        t.event_rule,
        t.event_note,
    ];
    let lines = rows.iter().map(|r| {
        let l = line(r, t, lang);
        [
            l.when,
            cell(&l.pc_name),
            cell(&l.summary),
            l.level.to_owned(),
            l.status.to_owned(),
            cell(&l.assignee),
            cell(&l.rule),
            cell(&l.note),
        ]
    });
    match excel_csv(
        &format!("sikkerhedshaendelser-{}", site.uid),
        &header,
        lines,
    ) {
        Ok(res) => res,
        Err(e) => v.failed(e),
    }
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    e: &'a EventLine,
    reported: String,
    can_handle: bool,
    form: HandleForm<'a>,
    problem: Option<&'a Problem>,
    current_status: &'a str,
    current_assignee: i64,
    current_note: &'a str,
}

async fn event(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    event_page(&web, &v, &site, id, None, &Fields::default()).await
}

async fn event_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    id: i64,
    problem: Option<&Problem>,
    sent: &Fields,
) -> Response {
    let found = async {
        let Some(row) = web.store.event_row(site.id, id).await? else {
            return Ok(None);
        };
        let users = web.store.site_user_names(site.id).await?;
        Ok::<_, crate::store::Error>(Some((row, users)))
    };
    let (row, mut users) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let lang = v.visit.lang();
    let e = line(&row, t, lang);
    // A superuser may hold the event without working on the site: keep them choosable.
    if let (Some(id), Some(name)) = (row.assigned_user_id, &row.assignee)
        && !users.iter().any(|(u, _)| *u == id)
    {
        users.push((id, name.clone()));
    }
    let note = match sent.all("note").next() {
        Some(n) => n,
        None => &row.note,
    };
    let body = EventBody {
        t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        e: &e,
        reported: local_time(row.reported_at, lang),
        can_handle: v.role_on(site.id) >= Some(Role::SiteUser),
        form: handle_form(t, &users),
        problem,
        current_status: e.status_key,
        current_assignee: e.assignee_id,
        current_note: note,
    };
    let title = format!("{} {} – {}", t.event_title, row.id, site.name);
    let here = Here {
        section: Section::Events,
        site: Some(site),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    v.page_with(web, here, title, body, status, None).await
}

/// The handling a form asks for, or what is wrong with it.
fn change_of(f: &Fields, t: &text::Msgs) -> Result<EventChange, Problem> {
    let status = match f.one("ny_status") {
        "" => None,
        s => match EventStatus::parse(s) {
            Some(s) => Some(s.as_str().to_owned()),
            None => {
                return Err(Problem::new(
                    "ny_status",
                    t.event_status,
                    t.event_no_such_status,
                ));
            }
        },
    };
    let assigned_user = match f.one("ansvarlig") {
        "" => None,
        "ingen" => Some(None),
        id => match id.parse::<i64>() {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                return Err(Problem::new(
                    "ansvarlig",
                    t.event_assignee,
                    t.event_no_such_user,
                ));
            }
        },
    };
    // The list's form leaves the notes as they are unless a note is written; an event's own
    // page shows its note, so what is sent there is the note, even empty.
    let note = f.one("note");
    let note = (!note.trim().is_empty() || f.one("erstat_note") == "ja").then(|| note.to_owned());
    if status.is_none() && assigned_user.is_none() && note.is_none() {
        return Err(Problem::new(
            "ny_status",
            t.event_status,
            t.event_nothing_to_do,
        ));
    }
    Ok(EventChange {
        status,
        assigned_user,
        note,
    })
}

/// Handles the chosen events (`haendelse`, one or many): back to the list (with its
/// filters, `filtre`) or to the event's page (`detalje`).
async fn handle(
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
    let t = v.t;
    let detail: Option<i64> = f.one("detalje").parse().ok();
    let filters = Fields::parse(f.one("filtre"));
    let ids = f.ids("haendelse");
    let refused = |problem: Problem, ids: Vec<i64>| {
        let (web, v, site, filters, f) = (&web, &v, &site, &filters, &f);
        async move {
            match detail {
                Some(id) => event_page(web, v, site, id, Some(&problem), f).await,
                None => list_page(web, v, site, filters, Some(&problem), &ids, f).await,
            }
        }
    };
    let ids = match ids {
        Some(ids) if !ids.is_empty() => ids,
        _ => {
            let p = Problem::new("haendelse", t.events_chosen, t.events_none_chosen);
            return refused(p, Vec::new()).await;
        }
    };
    let change = match change_of(&f, t) {
        Ok(c) => c,
        Err(p) => return refused(p, ids).await,
    };
    let done = web
        .store
        .api_update_events(&[site.id], &ids, &change, &scope.actor)
        .await;
    match done {
        Ok(Some(_)) => {}
        Ok(None) => return v.visit.not_found(),
        Err(e) => {
            let field = |key: &str| {
                let (name, label) = match key {
                    "status" => ("ny_status", t.event_status),
                    "assigned_user" => ("ansvarlig", t.event_assignee),
                    "note" => ("note", t.event_note),
                    "events" => ("haendelse", t.events_chosen),
                    _ => return None,
                };
                Some((name.to_owned(), label.to_owned()))
            };
            return match Problem::of_store(&e, v.t, field) {
                Some(p) => refused(p, ids).await,
                None => v.failed(e),
            };
        }
    }
    let to = match detail {
        Some(id) => format!("/steder/{}/sikkerhed/{id}", site.uid),
        None => {
            let q = filters.query_without(&["csrf"]);
            format!(
                "/steder/{}/sikkerhed{}{q}",
                site.uid,
                if q.is_empty() { "" } else { "?" }
            )
        }
    };
    Redirect::to(&to).into_response()
}
