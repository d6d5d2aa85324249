//! Jobs: the site's list (filters for status, batch, PC and group, paging), a job's page with
//! its parameters and log, restarting a finished job, and a batch's progress (the page the
//! run wizard ends on, which refreshes itself until every job has an outcome).

use super::{Here, Nothing, Pager, Section, Viewer, Web, text};
use crate::store::access::Role;
use crate::store::job_views::{BatchPage, COUNT_CAP, JobFilter, JobLine, ParamLine};
use crate::store::jobs::JobStatus;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::time::local_time;
use service_kit::web::{Form, Lang};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/jobs", get(list))
        .route("/steder/{site}/jobs/{id}", get(job))
        .route("/steder/{site}/jobs/{id}/genstart", post(restart))
        .route("/steder/{site}/koersler/{id}", get(batch))
}

/// A status as a person reads it, in the page's language.
pub(super) fn status_label(t: &text::Msgs, s: JobStatus) -> &'static str {
    match s {
        JobStatus::New => t.job_status_new,
        JobStatus::Submitted => t.job_status_submitted,
        JobStatus::Done => t.job_status_done,
        JobStatus::Failed => t.job_status_failed,
        JobStatus::Resolved => t.job_status_resolved,
    }
}

/// The CSS class that goes with the status's text (never the only sign of it).
pub(super) fn status_class(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Done => "status-ok",
        JobStatus::Failed => "status-bad",
        JobStatus::New | JobStatus::Submitted => "status-warn",
        JobStatus::Resolved => "",
    }
}

/// A job as a table row shows it.
pub(super) struct Row {
    pub(super) id: i64,
    pub(super) batch_id: i64,
    pub(super) script: String,
    pub(super) by: String,
    pub(super) pc_id: i64,
    pub(super) pc_name: String,
    pub(super) status: &'static str,
    pub(super) class: &'static str,
    pub(super) created: String,
    pub(super) started: String,
    pub(super) finished: String,
}

pub(super) fn rows(lines: &[JobLine], lang: Lang, t: &text::Msgs) -> Vec<Row> {
    lines
        .iter()
        .map(|j| Row {
            id: j.id,
            batch_id: j.batch_id,
            script: j.script.clone(),
            by: j.created_by.clone(),
            pc_id: j.pc_id,
            pc_name: j.pc_name.clone(),
            status: status_label(t, j.status),
            class: status_class(j.status),
            created: local_time(j.created_at, lang),
            started: j.started.clone().unwrap_or_default(),
            finished: j.finished.clone().unwrap_or_default(),
        })
        .collect()
}

/// The list's filters as the address carries them (`?status=FAILED&pc=12&side=2`).
#[derive(Deserialize, Default)]
struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    koersel: String,
    #[serde(default)]
    pc: String,
    #[serde(default)]
    gruppe: String,
    #[serde(default)]
    side: Option<i64>,
}

impl Filters {
    fn filter(&self) -> JobFilter {
        JobFilter {
            status: JobStatus::parse(&self.status),
            batch: self.koersel.parse().ok(),
            pc: self.pc.parse().ok(),
            group: self.gruppe.parse().ok(),
        }
    }

    fn query(&self) -> String {
        let pairs = [
            ("status", self.status.as_str()),
            ("koersel", self.koersel.as_str()),
            ("pc", self.pc.as_str()),
            ("gruppe", self.gruppe.as_str()),
        ];
        super::filter_query(&pairs)
    }
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    f: &'a Filters,
    statuses: Vec<(&'static str, &'static str)>,
    groups: &'a [(i64, String)],
    pcs: &'a [(i64, String)],
    /// The filter's PC when it is not among `pcs` (a large site's, from its page's link).
    pc_unlisted: bool,
    count: String,
    rows: &'a [Row],
    pager: &'a Pager,
}

/// Jobs on a page of the list.
const PAGE_ROWS: i64 = 50;

/// PCs the filter offers by name; a larger site filters by a PC from its page's link.
const FILTER_PCS: i64 = 500;

async fn list(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(f): Query<Filters>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page = f.side.unwrap_or(1).clamp(1, COUNT_CAP / PAGE_ROWS + 1);
    let found = async {
        let (lines, count) = web
            .store
            .job_rows(site.id, &f.filter(), PAGE_ROWS, (page - 1) * PAGE_ROWS)
            .await?;
        let groups = web.store.group_names(site.id).await?;
        let pcs = web.store.runnable_pcs(site.id, FILTER_PCS).await?;
        Ok::<_, crate::store::Error>((lines, count, groups, pcs))
    };
    let (lines, count, groups, pcs) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let query = f.query();
    let path = format!("/steder/{}/jobs", site.uid);
    let pager = Pager::new(page, count.min(COUNT_CAP), PAGE_ROWS, &path, &query);
    let rows = rows(&lines, v.visit.lang(), v.t);
    let body = ListBody {
        t: v.t,
        site: &site.uid,
        f: &f,
        statuses: JobStatus::ALL
            .iter()
            .map(|s| (s.as_str(), status_label(v.t, *s)))
            .collect(),
        groups: &groups,
        pc_unlisted: !f.pc.is_empty() && !pcs.iter().any(|(id, _)| id.to_string() == f.pc),
        pcs: &pcs,
        count: if count > COUNT_CAP {
            format!("{} {COUNT_CAP}", v.t.more_than)
        } else {
            count.to_string()
        },
        rows: &rows,
        pager: &pager,
    };
    let title = format!("{} – {}", v.t.nav_jobs, site.name);
    let here = Here {
        section: Section::Jobs,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    job: &'a Row,
    script_id: i64,
    script_deleted: bool,
    version: i64,
    log: &'a str,
    /// (name, type, value shown; `None` for a password).
    params: Vec<(&'a str, &'static str, Option<&'a str>)>,
    restarted_as: Option<i64>,
    can_restart: bool,
}

async fn job(State(web): State<Web>, v: Viewer, Path((uid, id)): Path<(String, i64)>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page = match web.store.job_page(site.id, id).await {
        Ok(Some(p)) => p,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let row = rows(std::slice::from_ref(&page.line), v.visit.lang(), v.t)
        .pop()
        .expect("one line gives one row");
    let body = JobBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        job: &row,
        script_id: page.script_id,
        script_deleted: page.script_deleted,
        version: page.version,
        log: page.log.as_deref().unwrap_or(""),
        params: page
            .params
            .iter()
            .map(|p: &ParamLine| {
                (
                    p.name.as_str(),
                    super::scripts::type_label(v.t, &p.value_type),
                    p.shown.as_deref(),
                )
            })
            .collect(),
        restarted_as: page.restarted_as,
        can_restart: page.line.status.is_finished()
            && !page.script_deleted
            && v.role_on(site.id) >= Some(Role::SiteUser),
    };
    let title = format!("{} {} – {}", v.t.job_title, id, page.line.script);
    let here = Here {
        section: Section::Jobs,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}

async fn restart(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(scope) = v.needs(Role::SiteUser, &site) else {
        return v.visit.not_found();
    };
    let done = async {
        let Some(new_job) = web.store.restart_job(&[site.id], id, &scope.actor).await? else {
            return Ok(None);
        };
        web.store
            .audit(
                &scope.actor,
                Some(site.id),
                "job.restart",
                &format!("job:{id} new:{new_job}"),
            )
            .await?;
        Ok::<_, crate::store::Error>(Some(new_job))
    };
    match done.await {
        Ok(Some(new_job)) => {
            Redirect::to(&format!("/steder/{}/jobs/{new_job}", site.uid)).into_response()
        }
        Ok(None) => v.visit.not_found(),
        // The job is not finished, or its script was deleted since.
        Err(crate::store::Error::Conflict(_)) => {
            let deleted = match web.store.job_page(site.id, id).await {
                Ok(p) => p.is_some_and(|p| p.script_deleted),
                Err(e) => return v.failed(e),
            };
            let why = if deleted {
                v.t.job_restart_deleted
            } else {
                v.t.job_restart_unfinished
            };
            v.visit.message(StatusCode::CONFLICT, why)
        }
        Err(e) => v.failed(e),
    }
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    batch: &'a BatchPage,
    created: String,
    counts: Vec<(&'static str, &'static str, usize)>,
    finished: bool,
    rows: &'a [Row],
}

async fn batch(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page = match web.store.batch_page(site.id, id).await {
        Ok(Some(p)) => p,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let rows = rows(&page.jobs, v.visit.lang(), v.t);
    let body = BatchBody {
        t: v.t,
        site: &site.uid,
        created: local_time(page.created_at, v.visit.lang()),
        counts: JobStatus::ALL
            .iter()
            .map(|s| (status_label(v.t, *s), status_class(*s), page.count(*s)))
            .filter(|(_, _, n)| *n > 0)
            .collect(),
        finished: page.finished(),
        batch: &page,
        rows: &rows,
    };
    let title = format!("{} {} – {}", v.t.batch_title, id, page.script);
    let here = Here {
        section: Section::Jobs,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}
