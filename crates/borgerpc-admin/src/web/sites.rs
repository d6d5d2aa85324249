//! The overview of sites (tiles with their PCs: how many, activated, online, products and
//! Ubuntu releases) and a site's status page (its counts and its PCs, new ones first).

use super::pcs::{PcLine, lines};
use super::{Here, Pager, Section, Viewer, Web, text};
use crate::store::views::{PcFilter, PcSort, SiteTile};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use service_kit::db::now_ms;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(overview))
        .route("/steder/{site}", get(status))
}

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesBody<'a> {
    t: &'static text::Msgs,
    tiles: &'a [SiteTile],
    total_pcs: i64,
    total_activated: i64,
    total_online: i64,
}

async fn overview(State(web): State<Web>, v: Viewer) -> Response {
    let tiles = match web.store.site_tiles(&v.scope.sites, now_ms()).await {
        Ok(t) => t,
        Err(e) => return v.failed(e),
    };
    let body = SitesBody {
        t: v.t,
        total_pcs: tiles.iter().map(|s| s.pcs).sum(),
        total_activated: tiles.iter().map(|s| s.activated).sum(),
        total_online: tiles.iter().map(|s| s.online).sum(),
        tiles: &tiles,
    };
    let here = Here {
        section: Section::Sites,
        site: None,
    };
    v.page(&web, here, v.t.sites_title, body).await
}

#[derive(Template)]
#[template(path = "site_status.html")]
struct StatusBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    tile: &'a SiteTile,
    caption: &'a str,
    rows: &'a [PcLine],
    pager: &'a Pager,
}

#[derive(Deserialize, Default)]
struct PageNumber {
    #[serde(default)]
    side: Option<i64>,
}

/// PCs shown on the status page at a time.
const STATUS_ROWS: i64 = 50;

async fn status(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(q): Query<PageNumber>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = now_ms();
    let tile = match web.store.site_tiles(&[site.id], now).await {
        Ok(mut t) if !t.is_empty() => t.remove(0),
        Ok(_) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let page = q.side.unwrap_or(1).max(1);
    let found = web
        .store
        .pc_rows(
            site.id,
            &PcFilter::default(),
            PcSort::Attention,
            STATUS_ROWS,
            (page - 1) * STATUS_ROWS,
            now,
            Some(tile.pcs),
        )
        .await;
    let (rows, count) = match found {
        Ok(f) => f,
        Err(e) => return v.failed(e),
    };
    let path = format!("/steder/{}", site.uid);
    let pager = Pager::new(page, count, STATUS_ROWS, &path, "");
    let rows = lines(&rows, v.visit.lang(), now, v.t);
    let body = StatusBody {
        t: v.t,
        site: &site.uid,
        tile: &tile,
        caption: v.t.status_pcs_heading,
        rows: &rows,
        pager: &pager,
    };
    let title = format!("{} – {}", v.t.status_title, site.name);
    let here = Here {
        section: Section::Status,
        site: Some(&site),
    };
    v.page(&web, here, title, body).await
}
