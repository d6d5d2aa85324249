//! Reports as JSON for BI tools (issue 14): availability and usage of a site, a customer's
//! sites or everything the caller reads, for a period of local dates, optionally one group,
//! one page of PCs at a time. The figures are `store::reports`'; this module reads and checks
//! the query, naming the parameter it refuses.
//!
//! `format=csv` or `format=xlsx` exports the whole filtered result instead of a page (paging
//! parameters are refused then): one row per PC per day, through `crate::export`'s table and
//! writers, built in memory and bounded by `export::MAX_ROWS` (100,000 rows, counted as PCs ×
//! days before any row is read).
//!
//! The changes report is `changes.rs`: the same query through [`ReportQuery`], two parameters
//! of its own, and its own bound (records, not PCs × days).
//!
//! The jobs and security reports are `jobs.rs` and `security.rs` on the same query, with their
//! own parameters taken out of it first (`own.rs`), and their own tables.

pub(crate) mod changes;
pub(crate) mod inventory;
pub(crate) mod jobs;
mod own;
pub(crate) mod security;

use super::{
    ApiError, ApiResult, Caller, Need, QueryIn, Reader, not_found, ok, query, unprocessable,
};
use crate::export::{self, Cell, Column, Decimal, FileKind, Table};
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::{
    AvailabilityPc, Filter, MAX_LIMIT, Period, TIME_ZONE, UsageDetail, UsagePc,
};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;

/// The period when none is given: the last 30 days up to and with today.
const DEFAULT_DAYS: i64 = 30;

/// The query of both reports. Every value is read as text and parsed here, so a refusal names
/// its parameter and says what it takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportQuery {
    site: Option<String>,
    customer: Option<String>,
    from: Option<String>,
    to: Option<String>,
    group: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    /// Availability only: PCs not seen since this local date began.
    not_seen_since: Option<String>,
    /// Usage only: `true` lists only the PCs without a login in the period.
    idle: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    format: Option<String>,
    /// CSV only: `comma` (default) or `point`.
    decimal: Option<String>,
}

/// What a report is answered as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Output {
    Json,
    Csv(Decimal),
    Xlsx,
}

impl Output {
    /// The file this output asks for (JSON has none: its callers answer before they write
    /// one, and a file then is XLSX).
    pub(crate) fn file_kind(self) -> FileKind {
        match self {
            Output::Csv(decimal) => FileKind::Csv(decimal),
            Output::Json | Output::Xlsx => FileKind::Xlsx,
        }
    }
}

fn date(field: &str, s: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| unprocessable(format!("{field}: {s:?} is not a date like 2026-11-30")))
}

fn whole(field: &str, s: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| unprocessable(format!("{field}: {s:?} is not a whole number")))
}

impl ReportQuery {
    /// The output asked for; `decimal` only with `format=csv`, paging only with JSON.
    fn output(&self) -> Result<Output, ApiError> {
        let out = match self.format.as_deref() {
            None | Some("json") => Output::Json,
            Some("csv") => Output::Csv(match self.decimal.as_deref() {
                None | Some("comma") => Decimal::Comma,
                Some("point") => Decimal::Point,
                Some(s) => {
                    return Err(unprocessable(format!(
                        "decimal: {s:?} is not comma or point"
                    )));
                }
            }),
            Some("xlsx") => Output::Xlsx,
            Some(s) => {
                return Err(unprocessable(format!(
                    "format: {s:?} is not json, csv or xlsx"
                )));
            }
        };
        if self.decimal.is_some() && !matches!(out, Output::Csv(_)) {
            return Err(unprocessable("decimal: is an option of format=csv"));
        }
        if out != Output::Json {
            for (name, v) in [("limit", &self.limit), ("offset", &self.offset)] {
                if v.is_some() {
                    return Err(unprocessable(format!(
                        "{name}: an export holds every PC of the filter; page only the JSON"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The export's file name: report, site (or customer, or `alle`), period.
    fn file_name(&self, report: &str, f: &Filter) -> String {
        file_name(
            report,
            self.site.as_deref(),
            self.customer.as_deref(),
            &f.period,
        )
    }

    /// The customers whose records are read whole (their records without a site too): the
    /// one asked for, or with neither site nor customer all, of those the caller administers.
    pub(super) fn whole_customers(&self, scope: &crate::store::access::Scope) -> Vec<i64> {
        match (&self.site, &self.customer) {
            (Some(_), _) => Vec::new(),
            (None, Some(c)) => c
                .parse::<i64>()
                .ok()
                .filter(|c| scope.customers.contains(c))
                .into_iter()
                .collect(),
            (None, None) => scope.customers.clone(),
        }
    }

    /// The filter: the sites asked for within the caller's (another customer's site or
    /// customer is 404, as a missing one), the period, the group and the page.
    async fn filter<N: Need>(&self, store: &Store, c: &Caller<N>) -> Result<Filter, ApiError> {
        let sites = match (&self.site, &self.customer) {
            (Some(_), Some(_)) => {
                return Err(unprocessable("customer: give site or customer, not both"));
            }
            (site @ Some(_), None) => c.sites(store, site.as_deref()).await?,
            (None, Some(customer)) => {
                let id = whole("customer", customer)?;
                let sites: Vec<i64> = store
                    .sites(Some(id))
                    .await?
                    .into_iter()
                    .map(|s| s.id)
                    .filter(|s| c.scope.sees(*s))
                    .collect();
                if sites.is_empty() {
                    return Err(not_found());
                }
                sites
            }
            (None, None) => c.scope.sites.clone(),
        };
        let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
        let to = match &self.to {
            Some(s) => date("to", s)?,
            None => today.succ_opt().unwrap_or(today),
        };
        let from = match &self.from {
            Some(s) => date("from", s)?,
            None => to - chrono::Duration::days(DEFAULT_DAYS),
        };
        let period = Period::new(from, to).map_err(|e| unprocessable(format!("to: {e}")))?;
        let group = self
            .group
            .as_deref()
            .map(|g| whole("group", g))
            .transpose()?;
        let limit = self
            .limit
            .as_deref()
            .map(|l| whole("limit", l))
            .transpose()?
            .unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(unprocessable(format!("limit: must be 1 to {MAX_LIMIT}")));
        }
        let offset = self
            .offset
            .as_deref()
            .map(|o| whole("offset", o))
            .transpose()?
            .unwrap_or(0);
        if offset < 0 {
            return Err(unprocessable("offset: must not be negative"));
        }
        Ok(Filter {
            sites,
            group,
            period,
            page: Page { limit, offset },
        })
    }
}

/// The most PC-days one JSON answer lists (its PCs, each with a row per day): 500 PCs over
/// 30 days. A longer period gets fewer PCs a page (400 days: 37), so an answer stays about
/// the same size whatever its period; its `limit` says how many it took.
pub(crate) const MAX_PC_DAYS: i64 = 15_000;

/// The filter with its page cut to [`MAX_PC_DAYS`].
fn pc_days_page(mut f: Filter) -> Filter {
    let days = f.period.days().max(1);
    f.page.limit = f.page.limit.min((MAX_PC_DAYS / days).max(1));
    f
}

pub(super) async fn availability(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ReportQuery>,
) -> ApiResult {
    let q = query(q)?;
    if q.idle.is_some() {
        return Err(unprocessable("idle: is a filter of the usage report"));
    }
    let out = q.output()?;
    let f = q.filter(&store, &c).await?;
    let since = q
        .not_seen_since
        .as_deref()
        .map(|s| date("not_seen_since", s))
        .transpose()?;
    let now = service_kit::db::now_ms();
    if out == Output::Json {
        let report = store
            .availability_report(&pc_days_page(f), since, now)
            .await?;
        return ok(report.ok_or_else(not_found)?);
    }
    let table = availability_file(&store, &f, since, now).await?;
    send(table, out, q.file_name("availability", &f)).await
}

pub(super) async fn usage(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ReportQuery>,
) -> ApiResult {
    let q = query(q)?;
    if q.not_seen_since.is_some() {
        return Err(unprocessable(
            "not_seen_since: is a filter of the availability report",
        ));
    }
    let idle = match q.idle.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(s) => return Err(unprocessable(format!("idle: {s:?} is not true or false"))),
    };
    let out = q.output()?;
    let f = q.filter(&store, &c).await?;
    if out == Output::Json {
        return ok(store
            .usage_report(&pc_days_page(f), idle, UsageDetail::Days)
            .await?
            .ok_or_else(not_found)?);
    }
    let table = usage_file(&store, &f, idle).await?;
    send(table, out, q.file_name("usage", &f)).await
}

/// An export's file name: report, site (or customer, or `alle`), period `[from, to)`.
pub(crate) fn file_name(
    report: &str,
    site: Option<&str>,
    customer: Option<&str>,
    period: &Period,
) -> String {
    let scope = scope(site, customer);
    format!("{report}-{scope}-{}-{}", period.from, period.to)
}

/// What a file name says the file covers: the site, the customer or `alle`.
pub(crate) fn scope(site: Option<&str>, customer: Option<&str>) -> String {
    match (site, customer) {
        (Some(site), _) => site.to_owned(),
        (None, Some(customer)) => format!("kunde-{customer}"),
        (None, None) => "alle".into(),
    }
}

/// Every PC of the filter's availability as the file's table: the API's `format=` and the
/// pages' downloads.
pub(crate) async fn availability_file(
    store: &Store,
    f: &Filter,
    since: Option<NaiveDate>,
    now: i64,
) -> Result<Table, ApiError> {
    let pcs = every_page(f, |f| {
        let store = store.clone();
        async move {
            let page = store
                .availability_report(&f, since, now)
                .await?
                .ok_or_else(not_found)?;
            Ok((page.count, page.items))
        }
    })
    .await?;
    Ok(availability_table(&pcs))
}

/// Every PC of the filter's usage (only the idle ones with `idle`) as the file's table.
pub(crate) async fn usage_file(store: &Store, f: &Filter, idle: bool) -> Result<Table, ApiError> {
    let pcs = every_page(f, |f| {
        let store = store.clone();
        async move {
            let page = store
                .usage_report(&f, idle, UsageDetail::Days)
                .await?
                .ok_or_else(not_found)?;
            Ok((page.count, page.items))
        }
    })
    .await?;
    Ok(usage_table(&pcs))
}

/// Every PC of a report, for a file: `page` gives one page's (count, PCs) for the filter it
/// is handed; the first page's count is held to the bound before any other is read.
pub(crate) async fn every_page<T, Fut>(
    f: &Filter,
    mut page: impl FnMut(Filter) -> Fut,
) -> Result<Vec<T>, ApiError>
where
    Fut: std::future::Future<Output = Result<(i64, Vec<T>), ApiError>>,
{
    let mut f = f.clone();
    f.page = Page {
        limit: MAX_LIMIT,
        offset: 0,
    };
    let mut all = Vec::new();
    loop {
        let (count, items) = page(f.clone()).await?;
        if f.page.offset == 0 {
            within_bound(count, &f)?;
        }
        let n = items.len() as i64;
        all.extend(items);
        f.page.offset += f.page.limit;
        if n < f.page.limit || all.len() as i64 >= count {
            return Ok(all);
        }
    }
}

/// Refuses an export of more than `export::MAX_ROWS` rows (PCs × days, an upper bound), naming
/// the period and the filters that would make it smaller.
fn within_bound(pcs: i64, f: &Filter) -> Result<(), ApiError> {
    let days = f.period.days();
    let rows = pcs.saturating_mul(days);
    if !fits_a_file(pcs, &f.period) {
        return Err(unprocessable(format!(
            "to: an export of {pcs} PCs over {days} days ({} to {}) is up to {rows} rows, more than {}; \
             choose a shorter period (from, to) or fewer PCs (site, group)",
            f.period.from,
            f.period.to,
            export::MAX_ROWS
        )));
    }
    Ok(())
}

/// Whether an export of `pcs` PCs, a row per PC per day of the period, stays within
/// `export::MAX_ROWS`: the pages offer their downloads only then.
pub(crate) fn fits_a_file(pcs: i64, period: &Period) -> bool {
    let days = period.days();
    pcs.saturating_mul(days) <= export::MAX_ROWS as i64
}

const AVAILABILITY_COLUMNS: &[Column] = &[
    Column::text("date", 12.0),
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("hours_in_day", 13.0, "0"),
    Column::number("hours_online", 13.0, "0"),
    Column::number("quarters_online", 16.0, "0"),
    Column::number("quarters_elapsed", 17.0, "0"),
    Column::number("uptime", 10.0, "0.0%"),
    Column::number("opening_quarters_online", 24.0, "0"),
    Column::number("opening_quarters_elapsed", 25.0, "0"),
    Column::number("uptime_opening_hours", 21.0, "0.0%"),
];

/// One row per PC per day: its site now, the day's hours and quarters, and the day's uptime
/// (quarters online of those begun; empty when none has), within the PC's opening hours too
/// (empty without them, or on a closed day).
pub(crate) fn availability_table(pcs: &[AvailabilityPc]) -> Table {
    let mut rows = Vec::new();
    for pc in pcs {
        for d in &pc.days {
            rows.push(vec![
                Cell::Date(d.date),
                Cell::Text(pc.site.clone()),
                Cell::Text(pc.uid.clone()),
                Cell::Text(pc.name.clone()),
                Cell::Int(i64::from(d.hours_in_day)),
                Cell::Int(i64::from(d.hours_online)),
                Cell::Int(i64::from(d.quarters_online)),
                Cell::Int(i64::from(d.quarters_elapsed)),
                if d.quarters_elapsed > 0 {
                    Cell::Number(f64::from(d.quarters_online) / f64::from(d.quarters_elapsed))
                } else {
                    Cell::Empty
                },
                Cell::Int(i64::from(d.opening_quarters_online)),
                Cell::Int(i64::from(d.opening_quarters_elapsed)),
                d.uptime_opening_hours.map_or(Cell::Empty, Cell::Number),
            ]);
        }
    }
    Table {
        sheet: "availability",
        columns: AVAILABILITY_COLUMNS,
        rows,
    }
}

const USAGE_COLUMNS: &[Column] = &[
    Column::text("date", 12.0),
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("logins", 10.0, "0"),
];

/// One row per PC per day it reported, with the site it reported the day at.
fn usage_table(pcs: &[UsagePc]) -> Table {
    let mut rows = Vec::new();
    for pc in pcs {
        for d in &pc.days {
            rows.push(vec![
                Cell::Date(d.date),
                Cell::Text(d.site.clone()),
                Cell::Text(pc.uid.clone()),
                Cell::Text(pc.name.clone()),
                Cell::Int(d.logins),
            ]);
        }
    }
    Table {
        sheet: "usage",
        columns: USAGE_COLUMNS,
        rows,
    }
}

/// The table as the file asked for, written off the async workers.
pub(crate) async fn send(table: Table, out: Output, file_name: String) -> ApiResult {
    let kind = out.file_kind();
    let body = tokio::task::spawn_blocking(move || table.file(kind))
        .await
        .map_err(|e| export::ExportError::Stopped(e.to_string()))
        .and_then(|r| r);
    Ok(download(kind, &file_name, written(body)?))
}

/// A file that could not be written is logged and answered as the portal's fault.
pub(crate) fn written(body: Result<Vec<u8>, export::ExportError>) -> Result<Vec<u8>, ApiError> {
    body.map_err(|error| {
        tracing::error!(%error, "operator API: writing a report export failed");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the portal could not write the export; see its log".into(),
        )
    })
}

/// A written file as the download named `file_name`.
pub(crate) fn download(kind: FileKind, file_name: &str, body: Vec<u8>) -> axum::response::Response {
    match kind {
        FileKind::Csv(_) => export::download(file_name, "csv", "text/csv; charset=utf-8", body),
        FileKind::Xlsx => export::download(file_name, "xlsx", export::XLSX_TYPE, body),
    }
}
