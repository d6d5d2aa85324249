//! The inventory report as JSON and as a file (issue 14, report 3): what the agents report
//! about their PCs, for the sites, customer and group `ReportQuery` reads (its parsing is
//! reused, so a refusal names the same parameters the same way), with this report's filters
//! and flags on top. The figures are `store::reports::inventory`'s.
//!
//! An inventory is the PCs' state now: `from` and `to` are refused, naming them, rather than
//! ignored, so a BI tool asking for a month learns that it gets today's state.
//!
//! `format=csv|xlsx` exports every PC of the filter, one row each, read in one query (see
//! `Store::inventory_pcs`) instead of `every_page`'s pages, whose offsets would read the
//! first rows again for each page, and written as they are read
//! (`export::file_from_rows`); more PCs than `export::MAX_ROWS` are refused before any row
//! is read.

use super::super::{ApiError, ApiResult, Caller, Reader, not_found, ok, unprocessable};
use super::own::{Own, split};
use super::{Output, ReportQuery, download, scope, whole, written};
use crate::export::{self, Cell, Column, FileKind, Table};
use crate::store::Store;
use crate::store::reports::TIME_ZONE;
use crate::store::reports::inventory::{
    ClientCheck, DEFAULT_EOL_DAYS, Inventory, InventoryFilter, InventoryPc, MAX_EOL_DAYS, Support,
    Version,
};
use axum::extract::{RawQuery, State};
use chrono::{NaiveDateTime, TimeZone, Timelike};

/// The longest product or release a filter takes: far beyond any real one.
const MAX_VALUE_CHARS: usize = 100;

/// This report's own parameters, besides the shared ones (`own::split`).
const OWN: &[&str] = &[
    "product",
    "release",
    "eol",
    "eol_days",
    "min_client_version",
    "outdated",
];

const YES_NO: &[(&str, bool)] = &[("true", true), ("false", false)];

fn value(own: &Own, field: &str) -> Result<Option<String>, ApiError> {
    match own.get(field) {
        None => Ok(None),
        Some("") => Err(unprocessable(format!("{field}: must not be empty"))),
        Some(s) if s.chars().count() > MAX_VALUE_CHARS => Err(unprocessable(format!(
            "{field}: at most {MAX_VALUE_CHARS} characters"
        ))),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// This report's parameters, checked.
struct Asked {
    product: Option<String>,
    release: Option<String>,
    eol_only: bool,
    eol_days: i64,
    min_client_version: Option<Version>,
    outdated_only: bool,
}

/// This report's own parameters, checked before anything is read; a period is refused.
fn asked(own: &Own, q: &ReportQuery) -> Result<Asked, ApiError> {
    for (name, v) in [("from", &q.from), ("to", &q.to)] {
        if v.is_some() {
            return Err(unprocessable(format!(
                "{name}: the inventory is the PCs' state now and takes no period"
            )));
        }
    }
    let eol_days = match own.get("eol_days") {
        None => DEFAULT_EOL_DAYS,
        Some(s) => whole("eol_days", s)?,
    };
    if !(0..=MAX_EOL_DAYS).contains(&eol_days) {
        return Err(unprocessable(format!(
            "eol_days: must be 0 to {MAX_EOL_DAYS}"
        )));
    }
    let min_client_version = own
        .get("min_client_version")
        .map(|s| {
            Version::parse(s).ok_or_else(|| {
                unprocessable(format!(
                    "min_client_version: {s:?} is not a version of numbers and dots like 3.2.0"
                ))
            })
        })
        .transpose()?;
    let outdated_only = own.one_of("outdated", YES_NO)?.unwrap_or(false);
    if outdated_only && min_client_version.is_none() {
        return Err(unprocessable(
            "outdated: needs min_client_version, the version the agents are compared with",
        ));
    }
    Ok(Asked {
        product: value(own, "product")?,
        release: value(own, "release")?,
        eol_only: own.one_of("eol", YES_NO)?.unwrap_or(false),
        eol_days,
        min_client_version,
        outdated_only,
    })
}

pub(in crate::api) async fn inventory(
    State(store): State<Store>,
    c: Caller<Reader>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (own, q) = split(raw.as_deref(), "inventory", OWN)?;
    let a = asked(&own, &q)?;
    let out = q.output()?;
    let f = q.filter(&store, &c).await?;
    let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
    let filter = InventoryFilter {
        sites: f.sites,
        group: f.group,
        page: f.page,
        product: a.product,
        release: a.release,
        eol_only: a.eol_only,
        eol_days: a.eol_days,
        min_client_version: a.min_client_version,
        outdated_only: a.outdated_only,
        today,
    };
    if out == Output::Json {
        return ok(store
            .inventory_report(&filter)
            .await?
            .ok_or_else(not_found)?);
    }
    let kind = out.file_kind();
    let body = inventory_file(&store, &filter, kind).await?;
    let scope = scope(q.site.as_deref(), q.customer.as_deref());
    Ok(download(kind, &format!("inventory-{scope}-{today}"), body))
}

/// Every PC of the filter as the file `kind` (the API's `format=`, and a page's download):
/// more than `export::MAX_ROWS` PCs is refused, counted before any row is read. The writer
/// makes each PC's row while the store reads the next ones, so the file is the only thing
/// of the export's size in memory.
pub(crate) async fn inventory_file(
    store: &Store,
    f: &InventoryFilter,
    kind: FileKind,
) -> Result<Vec<u8>, ApiError> {
    let (to, file) = export::file_from_rows(kind, "inventory", INVENTORY_COLUMNS, inventory_row);
    let read = store.inventory_pcs(f, export::MAX_ROWS as i64, &to).await;
    drop(to);
    let body = file.await;
    match read?.ok_or_else(not_found)? {
        Ok(()) => written(body),
        Err(count) => Err(unprocessable(format!(
            "site: an export of {count} PCs is more than {} rows; choose fewer PCs \
             (site, customer, group, product, release)",
            export::MAX_ROWS
        ))),
    }
}

const INVENTORY_COLUMNS: &[Column] = &[
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::text("product", 18.0),
    Column::text("os_release", 11.0),
    Column::text("release_support", 16.0),
    Column::text("release_support_ends", 20.0),
    Column::text("os_name", 22.0),
    Column::text("kernel_version", 20.0),
    Column::text("client_version", 14.0),
    Column::text("client_check", 13.0),
    Column::text("image_version", 14.0),
    Column::text("manufacturer", 18.0),
    Column::text("model", 22.0),
    Column::text("cpus", 40.0),
    Column::number("cpu_cores", 10.0, "0"),
    Column::number("ram_mb", 10.0, "0"),
    Column::text("last_automatic_update", 22.0),
    Column::text("last_full_update", 18.0),
    Column::number("pending_updates", 16.0, "0"),
    Column::text("last_seen", 18.0),
];

fn text(v: Option<String>) -> Cell {
    v.map_or(Cell::Empty, Cell::Text)
}

/// A time the agent reports in the PC's local time (`2026-05-01 03:00`) as a date and time;
/// what does not read as one stays text.
fn reported_time(v: Option<String>) -> Cell {
    let Some(s) = v else { return Cell::Empty };
    ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s.trim(), f).ok())
        .map_or(Cell::Text(s), |t| {
            Cell::DateTime(t.with_second(0).unwrap_or(t))
        })
}

fn support_name(s: Support) -> &'static str {
    match s {
        Support::Ended => "ended",
        Support::EndsSoon => "ends_soon",
        Support::Ok => "ok",
        Support::Unknown => "unknown",
    }
}

fn check_name(c: ClientCheck) -> &'static str {
    match c {
        ClientCheck::Outdated => "outdated",
        ClientCheck::Ok => "ok",
        ClientCheck::Unknown => "unknown",
    }
}

/// One PC's row: its site, the reported values as text, the flags as the JSON names them,
/// the support's end as a date, CPU cores and RAM (MiB) as numbers, the agent's update times
/// and when the PC was last seen (Copenhagen) as dates and times. The PC's text moves into
/// the cells, never copied.
pub(crate) fn inventory_row(pc: InventoryPc) -> Vec<Cell> {
    let last_seen = pc.last_seen.and_then(|ms| {
        TIME_ZONE
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.naive_local())
    });
    vec![
        Cell::Text(pc.site),
        Cell::Text(pc.uid),
        Cell::Text(pc.name),
        text(pc.product),
        text(pc.os_release),
        Cell::Text(support_name(pc.release_support).to_owned()),
        pc.release_support_ends.map_or(Cell::Empty, Cell::Date),
        text(pc.os_name),
        text(pc.kernel_version),
        text(pc.client_version),
        pc.client_check
            .map_or(Cell::Empty, |c| Cell::Text(check_name(c).to_owned())),
        text(pc.image_version),
        text(pc.manufacturer),
        text(pc.model),
        text(pc.cpus),
        pc.cpu_cores
            .map_or(Cell::Empty, |n| Cell::Int(i64::from(n))),
        pc.ram_mb.map_or(Cell::Empty, Cell::Int),
        reported_time(pc.last_automatic_update),
        reported_time(pc.last_full_update),
        pc.pending_updates.map_or(Cell::Empty, Cell::Int),
        last_seen.map_or(Cell::Empty, |t| {
            Cell::DateTime(
                t.with_second(0)
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(t),
            )
        }),
    ]
}

/// The inventory's counts as a scheduled e-mail's tables: PCs per product, Ubuntu release
/// (with its support), agent version, model (the commonest, then the rest as one row) and
/// site. Not the PCs' own rows: their names are what operators typed, and a count is what a
/// mail needs. `not_found` when the group is not the filter's.
pub(crate) async fn inventory_count_tables(
    store: &Store,
    f: &InventoryFilter,
) -> Result<Vec<Table>, ApiError> {
    let counts_only = InventoryFilter {
        page: crate::store::operator::Page {
            limit: 0,
            offset: 0,
        },
        ..f.clone()
    };
    let r = store
        .inventory_report(&counts_only)
        .await?
        .ok_or_else(not_found)?;
    Ok(inventory_counts(&r))
}

const VALUE_COLUMNS: &[Column] = &[Column::text("value", 24.0), Column::number("pcs", 8.0, "0")];
const RELEASE_COLUMNS: &[Column] = &[
    Column::text("os_release", 11.0),
    Column::number("pcs", 8.0, "0"),
    Column::text("release_support", 16.0),
    Column::text("release_support_ends", 20.0),
];
const VERSION_COLUMNS: &[Column] = &[
    Column::text("client_version", 14.0),
    Column::number("pcs", 8.0, "0"),
    Column::text("client_check", 13.0),
];
const MODEL_COLUMNS: &[Column] = &[
    Column::text("manufacturer", 18.0),
    Column::text("model", 22.0),
    Column::number("pcs", 8.0, "0"),
];
const SITE_COUNT_COLUMNS: &[Column] = &[
    Column::text("site", 20.0),
    Column::text("site_name", 24.0),
    Column::number("pcs", 8.0, "0"),
];

/// The count tables of an inventory, as its JSON has them (`by_product`, `by_release`,
/// `by_client_version`, `by_model` and `other_models` as a last row without a name,
/// `by_site`); a value no agent reported is an empty cell.
pub(crate) fn inventory_counts(r: &Inventory) -> Vec<Table> {
    let mut models: Vec<Vec<Cell>> = r
        .by_model
        .iter()
        .map(|m| {
            vec![
                text(m.manufacturer.clone()),
                text(m.model.clone()),
                Cell::Int(m.pcs),
            ]
        })
        .collect();
    if r.other_models > 0 {
        models.push(vec![
            Cell::Text("(other)".into()),
            Cell::Empty,
            Cell::Int(r.other_models),
        ]);
    }
    vec![
        Table {
            sheet: "products",
            columns: VALUE_COLUMNS,
            rows: r
                .by_product
                .iter()
                .map(|p| vec![text(p.value.clone()), Cell::Int(p.pcs)])
                .collect(),
        },
        Table {
            sheet: "releases",
            columns: RELEASE_COLUMNS,
            rows: r
                .by_release
                .iter()
                .map(|x| {
                    vec![
                        text(x.value.clone()),
                        Cell::Int(x.pcs),
                        Cell::Text(support_name(x.support).to_owned()),
                        x.support_ends.map_or(Cell::Empty, Cell::Date),
                    ]
                })
                .collect(),
        },
        Table {
            sheet: "client_versions",
            columns: VERSION_COLUMNS,
            rows: r
                .by_client_version
                .iter()
                .map(|v| {
                    vec![
                        text(v.value.clone()),
                        Cell::Int(v.pcs),
                        v.check
                            .map_or(Cell::Empty, |c| Cell::Text(check_name(c).to_owned())),
                    ]
                })
                .collect(),
        },
        Table {
            sheet: "models",
            columns: MODEL_COLUMNS,
            rows: models,
        },
        Table {
            sheet: "sites",
            columns: SITE_COUNT_COLUMNS,
            rows: r
                .by_site
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text(s.site.clone()),
                        Cell::Text(s.name.clone()),
                        Cell::Int(s.pcs),
                    ]
                })
                .collect(),
        },
    ]
}
