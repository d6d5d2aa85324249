//! `GET /api/reports/security` (issue 14, report 5): the security report as JSON, or one of
//! its tables as a file. The figures are `store::reports::security`'; this module reads the
//! parameters the report adds to the shared ones and builds the tables.
//!
//! Own parameters: `level` (`CRITICAL`, `HIGH` or `NORMAL`: only events of rules of that
//! level), `bucket` (`day` or `week`), `list` (JSON: which list `items` pages, `pcs` by
//! default or `events`; a file: which table it holds, `rules` by default, `levels`, `sites`,
//! `periods`, `pcs` or `events`).
//!
//! Every table is counts, rules and PCs: an event's summary (what a PC's script wrote) is in
//! none of them, so any of them may go into a scheduled e-mail. Times to handle are in hours
//! in the files (a number Excel sums), in ms in the JSON.

use super::super::{ApiError, ApiResult, Caller, Reader, not_found, ok, unprocessable};
use super::jobs::{local, local_date, within};
use super::own::{Own, split};
use super::{Output, send};
use crate::export::{self, Cell, Column, Table};
use crate::store::Store;
use crate::store::events::LEVELS;
use crate::store::operator::Page;
use crate::store::reports::Filter;
use crate::store::reports::buckets::Bucket;
use crate::store::reports::security::{
    EventCounts, LevelCounts, SecurityAsked, SecurityEventRow, SecurityLevel, SecurityList,
    SecurityPc, SecurityPeriod, SecurityRule, SecuritySite, TimeToHandle,
};
use axum::extract::{RawQuery, State};

const OWN: &[&str] = &["level", "bucket", "list"];
const HOUR_MS: f64 = 3_600_000.0;

/// What a file of the security report holds (`list=`): every one is counts, rules and PCs
/// (never an event's summary), so any may go into a scheduled e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecurityExport {
    Levels,
    Rules,
    Sites,
    Periods,
    List(SecurityList),
}

use SecurityExport as Export;

const EXPORTS: &[(&str, Export)] = &[
    ("rules", Export::Rules),
    ("levels", Export::Levels),
    ("sites", Export::Sites),
    ("periods", Export::Periods),
    ("pcs", Export::List(SecurityList::Pcs)),
    ("events", Export::List(SecurityList::Events)),
];

fn asked(own: &Own) -> Result<SecurityAsked, ApiError> {
    let level = match own.get("level") {
        None => None,
        Some(l) => Some(SecurityAsked::level(l).ok_or_else(|| {
            unprocessable(format!("level: {l:?} is not one of {}", LEVELS.join(", ")))
        })?),
    };
    let bucket = own
        .one_of("bucket", &[("day", Bucket::Day), ("week", Bucket::Week)])?
        .unwrap_or(Bucket::Day);
    Ok(SecurityAsked { level, bucket })
}

pub(in crate::api) async fn security(
    State(store): State<Store>,
    c: Caller<Reader>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (own, q) = split(raw.as_deref(), "security", OWN)?;
    let out = q.output()?;
    let a = asked(&own)?;
    let f = q.filter(&store, &c).await?;
    if out == Output::Json {
        let list = own
            .one_of(
                "list",
                &[("pcs", SecurityList::Pcs), ("events", SecurityList::Events)],
            )
            .map_err(|_| {
                unprocessable(
                    "list: the JSON pages pcs or events (levels, rules, sites and periods are in \
                     every answer)",
                )
            })?
            .unwrap_or(SecurityList::Pcs);
        let report = store.security_report(&f, &a, list).await?;
        return ok(report.ok_or_else(not_found)?);
    }
    let export = own.one_of("list", EXPORTS)?.unwrap_or(Export::Rules);
    let table = security_file(&store, &f, &a, export).await?;
    let name = EXPORTS
        .iter()
        .find(|(_, e)| *e == export)
        .map_or("", |(n, _)| *n);
    send(table, out, q.file_name(&format!("security-{name}"), &f)).await
}

/// The security report's file for the filter: the table `export` names, whole (a list's
/// length first, refused above `export::MAX_ROWS`). `not_found` when the group is not the
/// filter's.
pub(crate) async fn security_file(
    store: &Store,
    f: &Filter,
    a: &SecurityAsked,
    export: SecurityExport,
) -> Result<Table, ApiError> {
    let count_only = Page {
        limit: 0,
        offset: 0,
    };
    let all = Page {
        limit: export::MAX_ROWS as i64,
        offset: 0,
    };
    Ok(match export {
        Export::List(SecurityList::Pcs) => {
            let (count, _) = store
                .security_pcs(f, a, count_only)
                .await?
                .ok_or_else(not_found)?;
            within(count, "PCs", f)?;
            let (_, pcs) = store.security_pcs(f, a, all).await?.ok_or_else(not_found)?;
            security_pcs_table(&pcs)
        }
        Export::List(SecurityList::Events) => {
            let (count, _) = store
                .security_events_list(f, a, count_only)
                .await?
                .ok_or_else(not_found)?;
            within(count, "events", f)?;
            let (_, events) = store
                .security_events_list(f, a, all)
                .await?
                .ok_or_else(not_found)?;
            security_events_table(&events)
        }
        counts => {
            let r = report_counts(store, f, a).await?;
            match counts {
                Export::Levels => security_levels_table(&r.levels),
                Export::Rules => security_rules_table(&r.rules),
                Export::Sites => security_sites_table(&r.sites),
                _ => security_periods_table(&r.periods),
            }
        }
    })
}

/// The report's count tables for a scheduled e-mail: per level, rule, site and period (by
/// day), every event of the filter's sites; never an event's summary or a PC's row.
pub(crate) async fn security_count_tables(
    store: &Store,
    f: &Filter,
) -> Result<Vec<Table>, ApiError> {
    let a = SecurityAsked {
        level: None,
        bucket: Bucket::Day,
    };
    let r = report_counts(store, f, &a).await?;
    Ok(vec![
        security_levels_table(&r.levels),
        security_rules_table(&r.rules),
        security_sites_table(&r.sites),
        security_periods_table(&r.periods),
    ])
}

/// The report's counts, without a page of its list.
async fn report_counts(
    store: &Store,
    f: &Filter,
    a: &SecurityAsked,
) -> Result<crate::store::reports::security::SecurityReport, ApiError> {
    let mut none = f.clone();
    none.page = Page {
        limit: 0,
        offset: 0,
    };
    store
        .security_report(&none, a, SecurityList::Pcs)
        .await?
        .ok_or_else(not_found)
}

fn counts(c: &EventCounts) -> [Cell; 5] {
    [
        Cell::Int(c.events),
        Cell::Int(c.new),
        Cell::Int(c.assigned),
        Cell::Int(c.resolved),
        Cell::Int(c.open),
    ]
}

fn levels(l: &LevelCounts) -> [Cell; 3] {
    [
        Cell::Int(l.critical),
        Cell::Int(l.high),
        Cell::Int(l.normal),
    ]
}

fn hours(ms: Option<f64>) -> Cell {
    ms.map_or(Cell::Empty, |ms| Cell::Number(ms / HOUR_MS))
}

fn handling(t: &TimeToHandle) -> [Cell; 3] {
    [Cell::Int(t.handled), hours(t.median_ms), hours(t.p90_ms)]
}

const LEVEL_COLUMNS: &[Column] = &[
    Column::text("level", 10.0),
    Column::number("events", 8.0, "0"),
    Column::number("new", 8.0, "0"),
    Column::number("assigned", 9.0, "0"),
    Column::number("resolved", 9.0, "0"),
    Column::number("open", 8.0, "0"),
    Column::number("handled_with_time", 17.0, "0"),
    Column::number("median_hours", 13.0, "0.00"),
    Column::number("p90_hours", 11.0, "0.00"),
];

/// One row per level: events by status, and the time to handle in hours.
pub(crate) fn security_levels_table(rows: &[SecurityLevel]) -> Table {
    Table {
        sheet: "levels",
        columns: LEVEL_COLUMNS,
        rows: rows
            .iter()
            .map(|l| {
                let mut row = vec![Cell::Text(l.level.clone())];
                row.extend(counts(&l.counts));
                row.extend(handling(&l.time_to_handle));
                row
            })
            .collect(),
    }
}

const RULE_COLUMNS: &[Column] = &[
    Column::text("rule_kind", 10.0),
    Column::number("rule_id", 8.0, "0"),
    Column::text("rule", 30.0),
    Column::text("level", 10.0),
    Column::text("site", 20.0),
    Column::number("events", 8.0, "0"),
    Column::number("new", 8.0, "0"),
    Column::number("assigned", 9.0, "0"),
    Column::number("resolved", 9.0, "0"),
    Column::number("open", 8.0, "0"),
    Column::number("handled_with_time", 17.0, "0"),
    Column::number("median_hours", 13.0, "0.00"),
    Column::number("p90_hours", 11.0, "0.00"),
];

/// One row per rule: events by status, and the time to handle in hours.
pub(crate) fn security_rules_table(rows: &[SecurityRule]) -> Table {
    Table {
        sheet: "rules",
        columns: RULE_COLUMNS,
        rows: rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    Cell::Text(r.rule_kind.clone()),
                    Cell::Int(r.rule_id),
                    Cell::Text(r.name.clone()),
                    Cell::Text(r.level.clone()),
                    r.site.clone().map_or(Cell::Empty, Cell::Text),
                ];
                row.extend(counts(&r.counts));
                row.extend(handling(&r.time_to_handle));
                row
            })
            .collect(),
    }
}

const SITE_COLUMNS: &[Column] = &[
    Column::text("site", 20.0),
    Column::text("site_name", 24.0),
    Column::number("events", 8.0, "0"),
    Column::number("new", 8.0, "0"),
    Column::number("assigned", 9.0, "0"),
    Column::number("resolved", 9.0, "0"),
    Column::number("open", 8.0, "0"),
    Column::number("critical", 8.0, "0"),
    Column::number("high", 8.0, "0"),
    Column::number("normal", 8.0, "0"),
];

/// One row per site: events by status and by level.
pub(crate) fn security_sites_table(rows: &[SecuritySite]) -> Table {
    Table {
        sheet: "sites",
        columns: SITE_COLUMNS,
        rows: rows
            .iter()
            .map(|s| {
                let mut row = vec![Cell::Text(s.uid.clone()), Cell::Text(s.name.clone())];
                row.extend(counts(&s.counts));
                row.extend(levels(&s.levels));
                row
            })
            .collect(),
    }
}

const PERIOD_COLUMNS: &[Column] = &[
    Column::text("start", 12.0),
    Column::number("days", 6.0, "0"),
    Column::number("events", 8.0, "0"),
    Column::number("new", 8.0, "0"),
    Column::number("assigned", 9.0, "0"),
    Column::number("resolved", 9.0, "0"),
    Column::number("open", 8.0, "0"),
    Column::number("critical", 8.0, "0"),
    Column::number("high", 8.0, "0"),
    Column::number("normal", 8.0, "0"),
];

/// One row per day or week: events by status and by level.
pub(crate) fn security_periods_table(rows: &[SecurityPeriod]) -> Table {
    Table {
        sheet: "periods",
        columns: PERIOD_COLUMNS,
        rows: rows
            .iter()
            .map(|p| {
                let mut row = vec![Cell::Date(p.start), Cell::Int(i64::from(p.days))];
                row.extend(counts(&p.counts));
                row.extend(levels(&p.levels));
                row
            })
            .collect(),
    }
}

const PC_COLUMNS: &[Column] = &[
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("events", 8.0, "0"),
    Column::number("new", 8.0, "0"),
    Column::number("assigned", 9.0, "0"),
    Column::number("resolved", 9.0, "0"),
    Column::number("open", 8.0, "0"),
    Column::number("critical", 8.0, "0"),
    Column::number("high", 8.0, "0"),
    Column::number("normal", 8.0, "0"),
];

/// One row per PC, with its site now: events by status and by level.
pub(crate) fn security_pcs_table(rows: &[SecurityPc]) -> Table {
    Table {
        sheet: "pcs",
        columns: PC_COLUMNS,
        rows: rows
            .iter()
            .map(|p| {
                let mut row = vec![
                    Cell::Text(p.site.clone()),
                    Cell::Text(p.uid.clone()),
                    Cell::Text(p.name.clone()),
                ];
                row.extend(counts(&p.counts));
                row.extend(levels(&p.levels));
                row
            })
            .collect(),
    }
}

const EVENT_COLUMNS: &[Column] = &[
    Column::text("date", 12.0),
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("event_id", 10.0, "0"),
    Column::text("rule_kind", 10.0),
    Column::text("rule", 30.0),
    Column::text("level", 10.0),
    Column::text("status", 10.0),
    Column::text("occurred", 20.0),
    Column::text("handled", 20.0),
    Column::number("hours_to_handle", 16.0, "0.00"),
];

/// One row per event (never its summary): the local date and time it happened, its rule and
/// level, its status, when it was handled and how many hours that took.
pub(crate) fn security_events_table(rows: &[SecurityEventRow]) -> Table {
    Table {
        sheet: "events",
        columns: EVENT_COLUMNS,
        rows: rows
            .iter()
            .map(|e| {
                vec![
                    Cell::Date(local_date(e.occurred_at)),
                    Cell::Text(e.site.clone()),
                    Cell::Text(e.pc_uid.clone()),
                    Cell::Text(e.pc_name.clone()),
                    Cell::Int(e.event_id),
                    Cell::Text(e.rule_kind.clone()),
                    Cell::Text(e.rule.clone()),
                    Cell::Text(e.level.clone()),
                    Cell::Text(e.status.as_str().into()),
                    Cell::Text(local(e.occurred_at)),
                    e.handled_at.map_or(Cell::Empty, |t| Cell::Text(local(t))),
                    hours(e.time_to_handle_ms.map(|ms| ms as f64)),
                ]
            })
            .collect(),
    }
}
