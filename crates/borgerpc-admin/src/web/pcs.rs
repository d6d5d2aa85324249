//! Computers: the site's list (search, filters for online, activated, group and client
//! version, sort, paging, CSV export), a PC's page (details, groups, configuration with what
//! it inherits, latest jobs), activating it and deleting it.

use super::{Here, Nothing, Pager, Section, Viewer, Web, text};
use crate::export::{cell, excel_csv};
use crate::store::access::Role;
use crate::store::views::{PcFilter, PcRow, PcSort};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::db::now_ms;
use service_kit::web::time::local_time;
use service_kit::web::{Form, Lang};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/pc", get(list))
        .route("/steder/{site}/pc.csv", get(csv))
        .route("/steder/{site}/pc/{id}", get(pc))
        .route("/steder/{site}/pc/{id}/aktivering", post(activation))
        .route("/steder/{site}/pc/{id}/slet", post(delete))
}

/// A PC as a table row shows it: times in the reader's language and zone.
pub(super) struct PcLine {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) location: String,
    pub(super) version: String,
    pub(super) online: bool,
    pub(super) activated: bool,
    pub(super) key_pending: bool,
    pub(super) last_seen: String,
    pub(super) created: String,
}

pub(super) fn lines(rows: &[PcRow], lang: Lang, now: i64, t: &text::Msgs) -> Vec<PcLine> {
    rows.iter()
        .map(|r| PcLine {
            id: r.id,
            name: r.name.clone(),
            location: r.location.clone(),
            version: r.client_version.clone(),
            online: r.online(now),
            activated: r.is_activated,
            key_pending: r.key_pending,
            last_seen: r
                .last_seen
                .map_or_else(|| t.never.to_owned(), |ms| local_time(ms, lang)),
            created: local_time(r.created_at, lang),
        })
        .collect()
}

/// The list's filters as the address carries them (`?q=…&online=ja&sorter=navn&side=2`).
#[derive(Deserialize, Default, Clone)]
struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    online: String,
    #[serde(default)]
    aktiveret: String,
    #[serde(default)]
    gruppe: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    sorter: String,
    #[serde(default)]
    side: Option<i64>,
}

pub(super) fn yes_no(s: &str) -> Option<bool> {
    match s {
        "ja" => Some(true),
        "nej" => Some(false),
        _ => None,
    }
}

impl Filters {
    fn filter(&self) -> PcFilter {
        PcFilter {
            text: self.q.chars().take(200).collect(),
            online: yes_no(&self.online),
            activated: yes_no(&self.aktiveret),
            group: self.gruppe.parse().ok(),
            version: (!self.version.is_empty()).then(|| self.version.clone()),
        }
    }

    fn sort(&self) -> PcSort {
        PcSort::parse(&self.sorter).unwrap_or_default()
    }

    /// The address of the list with these filters, ready for `side=`.
    fn query(&self) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("online", self.online.as_str()),
            ("aktiveret", self.aktiveret.as_str()),
            ("gruppe", self.gruppe.as_str()),
            ("version", self.version.as_str()),
            ("sorter", self.sorter.as_str()),
        ];
        super::filter_query(&pairs)
    }
}

#[derive(Template)]
#[template(path = "pcs.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    f: &'a Filters,
    groups: &'a [(i64, String)],
    versions: &'a [String],
    sorts: Vec<(&'static str, &'static str)>,
    count: i64,
    csv_href: String,
    caption: &'a str,
    rows: &'a [PcLine],
    pager: &'a Pager,
}

/// PCs on a page of the list.
const PAGE_ROWS: i64 = 50;

fn sort_label(t: &text::Msgs, s: PcSort) -> &'static str {
    match s {
        PcSort::Attention => t.pc_state,
        PcSort::Name => t.pc_name,
        PcSort::LastSeen => t.pc_last_seen,
        PcSort::Created => t.pc_created,
        PcSort::Version => t.pc_version,
    }
}

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
    let now = now_ms();
    let page = f.side.unwrap_or(1).max(1);
    let found = async {
        let (rows, count) = web
            .store
            .pc_rows(
                site.id,
                &f.filter(),
                f.sort(),
                PAGE_ROWS,
                (page - 1) * PAGE_ROWS,
                now,
                None,
            )
            .await?;
        let groups = web.store.group_names(site.id).await?;
        let versions = web.store.pc_versions(site.id).await?;
        Ok::<_, crate::store::Error>((rows, count, groups, versions))
    };
    let (rows, count, groups, versions) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let query = f.query();
    let path = format!("/steder/{}/pc", site.uid);
    let pager = Pager::new(page, count, PAGE_ROWS, &path, &query);
    let rows = lines(&rows, v.visit.lang(), now, v.t);
    let body = ListBody {
        t: v.t,
        site: &site.uid,
        f: &f,
        groups: &groups,
        versions: &versions,
        sorts: PcSort::ALL
            .iter()
            .map(|s| (s.key(), sort_label(v.t, *s)))
            .collect(),
        count,
        csv_href: format!("/steder/{}/pc.csv?{query}", site.uid),
        caption: v.t.pcs_title,
        rows: &rows,
        pager: &pager,
    };
    let title = format!("{} – {}", v.t.pcs_title, site.name);
    let here = Here {
        section: Section::Pcs,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}

/// The most rows one export holds: every PC of the largest municipality, many times over.
const CSV_ROWS: i64 = 200_000;

/// The list as CSV that Danish Excel opens as it is: UTF-8 with a byte-order mark, `;`
/// between fields, CRLF, times in Copenhagen.
async fn csv(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(f): Query<Filters>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = now_ms();
    let (rows, _) = match web
        .store
        .pc_rows(site.id, &f.filter(), f.sort(), CSV_ROWS, 0, now, None)
        .await
    {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let lang = v.visit.lang();
    let header = [
        t.pc_name,
        t.pc_uid,
        t.pc_mac,
        t.pc_location,
        t.online,
        t.activated,
        t.pc_last_seen,
        t.pc_version,
        t.pc_created,
    ];
    let yes_no = |b: bool| if b { t.yes } else { t.no };
    let lines = rows.iter().map(|r| {
        [
            cell(&r.name),
            cell(&r.uid),
            cell(&r.mac),
            cell(&r.location),
            yes_no(r.online(now)).to_owned(),
            yes_no(r.is_activated).to_owned(),
            r.last_seen
                .map(|ms| local_time(ms, lang))
                .unwrap_or_default(),
            cell(&r.client_version),
            local_time(r.created_at, lang),
        ]
    });
    match excel_csv(&format!("computere-{}", site.uid), &header, lines) {
        Ok(res) => res,
        Err(e) => v.failed(e),
    }
}

struct JobLine {
    id: i64,
    script: String,
    status: &'static str,
    class: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "pc.html")]
struct PcBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    pc: &'a PcRow,
    description: &'a str,
    online: bool,
    last_seen: String,
    created: String,
    groups: &'a [(i64, String)],
    config: Vec<(String, String, bool)>,
    jobs: &'a [JobLine],
    can_change: bool,
    can_delete: bool,
}

async fn pc(State(web): State<Web>, v: Viewer, Path((uid, id)): Path<(String, i64)>) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = async {
        let Some((pc, description)) = web.store.pc_row(site.id, id).await? else {
            return Ok(None);
        };
        let groups = web.store.pc_groups_of(pc.id).await?;
        let config = web.store.pc_config(pc.id, site.id).await?;
        let jobs = web.store.pc_jobs(pc.id, 20).await?;
        Ok::<_, crate::store::Error>(Some((pc, description, groups, config, jobs)))
    };
    let (pc, description, groups, config, jobs) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let lang = v.visit.lang();
    let now = now_ms();
    let mut entries: Vec<(String, String, bool)> = config
        .inherited
        .iter()
        .filter(|(k, _)| !config.own.contains_key(*k))
        .map(|(k, val)| (k.clone(), val.clone(), false))
        .collect();
    entries.extend(
        config
            .own
            .iter()
            .map(|(k, (val, _))| (k.clone(), val.clone(), true)),
    );
    entries.sort();
    let jobs: Vec<JobLine> = jobs
        .into_iter()
        .map(|(id, script, status, created)| JobLine {
            id,
            script,
            status: super::jobs::status_label(v.t, status),
            class: super::jobs::status_class(status),
            created: local_time(created, lang),
        })
        .collect();
    let role = v.role_on(site.id);
    let body = PcBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        online: pc.online(now),
        last_seen: pc
            .last_seen
            .map_or_else(|| v.t.never.to_owned(), |ms| local_time(ms, lang)),
        created: local_time(pc.created_at, lang),
        pc: &pc,
        description: &description,
        groups: &groups,
        config: entries,
        jobs: &jobs,
        can_change: role >= Some(Role::SiteUser),
        can_delete: role >= Some(Role::SiteAdmin),
    };
    let here = Here {
        section: Section::Pcs,
        site: Some(&site),
    };
    let title = pc.name.clone();
    v.page(&web, here, title, body).await
}

#[derive(Deserialize)]
struct Activation {
    aktiveret: String,
}

async fn activation(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<Activation>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(scope) = v.needs(Role::SiteUser, &site) else {
        return v.visit.not_found();
    };
    let Some(on) = yes_no(&f.aktiveret) else {
        return v
            .visit
            .message(StatusCode::UNPROCESSABLE_ENTITY, "aktiveret: ja | nej");
    };
    match web.store.api_set_activated(&[site.id], id, on).await {
        Ok(true) => {}
        Ok(false) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    }
    let action = if on { "pc.activate" } else { "pc.deactivate" };
    if let Err(e) = web
        .store
        .audit(&scope.actor, Some(site.id), action, &format!("pc:{id}"))
        .await
    {
        return v.failed(e);
    }
    Redirect::to(&format!("/steder/{}/pc/{id}", site.uid)).into_response()
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
    let Some(scope) = v.needs(Role::SiteAdmin, &site) else {
        return v.visit.not_found();
    };
    let pc = match web.store.pc_row(site.id, id).await {
        Ok(Some((pc, _))) => pc,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let done = async {
        web.store.delete_pc(site.id, &pc.uid).await?;
        web.store
            .audit(
                &scope.actor,
                Some(site.id),
                "pc.delete",
                &format!("pc:{id} uid:{}", pc.uid),
            )
            .await
    };
    if let Err(e) = done.await {
        return v.failed(e);
    }
    Redirect::to(&format!("/steder/{}/pc", site.uid)).into_response()
}
