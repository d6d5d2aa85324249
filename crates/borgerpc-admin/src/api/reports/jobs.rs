//! `GET /api/reports/jobs` (issue 14, report 4): the jobs report as JSON, or one of its
//! tables as a file. The figures are `store::reports::jobs`'; this module reads the
//! parameters the report adds to the shared ones and builds the tables.
//!
//! Own parameters: `script` (one script's jobs), `by` (`created`, the default, or
//! `finished`: which time puts a job in the period), `bucket` (`day` or `week`), `list`
//! (JSON: which list `items` pages, `failures` by default, `slowest` or `pcs`; a file: which
//! table it holds, `scripts` by default, `sites`, `periods`, `pcs`, `failures` or `slowest`),
//! `log_lines` (`true`: the failures carry their log's last lines).
//!
//! Logs: the last lines are what a script printed and may hold anything, so they are in the
//! JSON or a file only when asked for (`log_lines=true`; the same users read them on the
//! job's page), never in a table without that, and never logged. The count tables
//! ([`jobs_scripts_table`], [`jobs_sites_table`], [`jobs_periods_table`], [`jobs_pcs_table`])
//! carry no log at all: they are what a scheduled e-mail may attach.
//!
//! A file holds the whole list, not a page; a list longer than `export::MAX_ROWS` is refused
//! before any row of it is read (its count is read first).
//!
//! [`jobs_file`] gives a file's table for a filter, as the API's `format=` does, for the pages'
//! downloads and the e-mails to call too (`security.rs` has [`super::security::security_file`]).

use super::super::{ApiError, ApiResult, Caller, Reader, not_found, ok, unprocessable};
use super::own::{Own, split};
use super::{Output, send};
use crate::export::{self, Cell, Column, Table};
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::buckets::Bucket;
use crate::store::reports::jobs::{
    JobCounts, JobRun, JobTime, JobsAsked, JobsList, JobsPc, JobsPeriod, JobsScript, JobsSite,
};
use crate::store::reports::{Filter, TIME_ZONE};
use axum::extract::{RawQuery, State};
use chrono::{NaiveDate, TimeZone};

const OWN: &[&str] = &["script", "by", "bucket", "list", "log_lines"];

/// What a file of the jobs report holds (`list=`): a table of counts (no log in them: what a
/// scheduled e-mail may carry), or a whole list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobsExport {
    Scripts,
    Sites,
    Periods,
    List(JobsList),
}

use JobsExport as Export;

const EXPORTS: &[(&str, Export)] = &[
    ("scripts", Export::Scripts),
    ("sites", Export::Sites),
    ("periods", Export::Periods),
    ("pcs", Export::List(JobsList::Pcs)),
    ("failures", Export::List(JobsList::Failures)),
    ("slowest", Export::List(JobsList::Slowest)),
];

fn asked(own: &Own) -> Result<JobsAsked, ApiError> {
    let script = own
        .get("script")
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| unprocessable(format!("script: {s:?} is not a script's id")))
        })
        .transpose()?;
    let by = own
        .one_of(
            "by",
            &[
                ("created", JobTime::Created),
                ("finished", JobTime::Finished),
            ],
        )?
        .unwrap_or(JobTime::Created);
    let bucket = own
        .one_of("bucket", &[("day", Bucket::Day), ("week", Bucket::Week)])?
        .unwrap_or(Bucket::Day);
    let log_lines = own
        .one_of("log_lines", &[("true", true), ("false", false)])?
        .unwrap_or(false);
    Ok(JobsAsked {
        script,
        by,
        bucket,
        log_lines,
    })
}

pub(in crate::api) async fn jobs(
    State(store): State<Store>,
    c: Caller<Reader>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (own, q) = split(raw.as_deref(), "jobs", OWN)?;
    let out = q.output()?;
    let a = asked(&own)?;
    let f = q.filter(&store, &c).await?;
    if out == Output::Json {
        let list = own
            .one_of(
                "list",
                &[
                    ("failures", JobsList::Failures),
                    ("slowest", JobsList::Slowest),
                    ("pcs", JobsList::Pcs),
                ],
            )
            .map_err(|_| {
                unprocessable(
                    "list: the JSON pages failures, slowest or pcs (scripts, sites and periods \
                     are in every answer)",
                )
            })?
            .unwrap_or(JobsList::Failures);
        if a.log_lines && list != JobsList::Failures {
            return Err(unprocessable("log_lines: only the failures have log lines"));
        }
        let report = store.jobs_report(&f, &a, list).await?;
        return ok(report.ok_or_else(not_found)?);
    }
    let export = own.one_of("list", EXPORTS)?.unwrap_or(Export::Scripts);
    if a.log_lines && export != Export::List(JobsList::Failures) {
        return Err(unprocessable("log_lines: only the failures have log lines"));
    }
    let table = jobs_file(&store, &f, &a, export).await?;
    let name = EXPORTS
        .iter()
        .find(|(_, e)| *e == export)
        .map_or("", |(n, _)| *n);
    send(table, out, q.file_name(&format!("jobs-{name}"), &f)).await
}

/// The jobs report's file for the filter: the table `export` names, whole (a list's length
/// first, refused above `export::MAX_ROWS`); the failures' log lines only with
/// `a.log_lines`. `not_found` when the group or the script is not the filter's.
pub(crate) async fn jobs_file(
    store: &Store,
    f: &Filter,
    a: &JobsAsked,
    export: JobsExport,
) -> Result<Table, ApiError> {
    Ok(match export {
        Export::List(list) => whole_list(store, f, a, list).await?.ok_or_else(not_found)?,
        counts => {
            // The counts come with the report; its page of failures is not wanted.
            let mut one = f.clone();
            one.page = Page {
                limit: 0,
                offset: 0,
            };
            let r = store
                .jobs_report(&one, a, JobsList::Failures)
                .await?
                .ok_or_else(not_found)?;
            match counts {
                Export::Scripts => jobs_scripts_table(&r.scripts),
                Export::Sites => jobs_sites_table(&r.sites),
                _ => jobs_periods_table(&r.periods),
            }
        }
    })
}

/// The report's count tables for a scheduled e-mail: per script, site and period (by day,
/// jobs put in the period by when they were created); never a job's log or a PC's row.
pub(crate) async fn jobs_count_tables(store: &Store, f: &Filter) -> Result<Vec<Table>, ApiError> {
    let a = JobsAsked {
        script: None,
        by: JobTime::Created,
        bucket: Bucket::Day,
        log_lines: false,
    };
    let mut one = f.clone();
    one.page = Page {
        limit: 0,
        offset: 0,
    };
    let r = store
        .jobs_report(&one, &a, JobsList::Failures)
        .await?
        .ok_or_else(not_found)?;
    Ok(vec![
        jobs_scripts_table(&r.scripts),
        jobs_sites_table(&r.sites),
        jobs_periods_table(&r.periods),
    ])
}

/// The whole of a list as a table: its length first, refused above the bound.
async fn whole_list(
    store: &Store,
    f: &Filter,
    a: &JobsAsked,
    list: JobsList,
) -> Result<Option<Table>, ApiError> {
    let count_only = Page {
        limit: 0,
        offset: 0,
    };
    let all = Page {
        limit: export::MAX_ROWS as i64,
        offset: 0,
    };
    let what = match list {
        JobsList::Pcs => "PCs",
        JobsList::Failures => "failed jobs",
        JobsList::Slowest => "jobs with a run time",
    };
    if list == JobsList::Pcs {
        let Some((count, _)) = store.jobs_pcs(f, a, count_only).await? else {
            return Ok(None);
        };
        within(count, what, f)?;
        let (_, pcs) = store.jobs_pcs(f, a, all).await?.unwrap_or_default();
        return Ok(Some(jobs_pcs_table(&pcs)));
    }
    let Some((count, _)) = store.job_runs(f, a, list, count_only).await? else {
        return Ok(None);
    };
    within(count, what, f)?;
    let (_, runs) = store.job_runs(f, a, list, all).await?.unwrap_or_default();
    let sheet = if list == JobsList::Failures {
        "failures"
    } else {
        "slowest"
    };
    Ok(Some(jobs_runs_table(&runs, sheet, a.by, a.log_lines)))
}

/// Refuses a file of more than `export::MAX_ROWS` rows, naming the filters that make it smaller.
pub(super) fn within(rows: i64, what: &str, f: &Filter) -> Result<(), ApiError> {
    if rows > export::MAX_ROWS as i64 {
        return Err(unprocessable(format!(
            "to: an export of {rows} {what} from {} to {} is more than {} rows; \
             choose a shorter period (from, to) or fewer PCs (site, group)",
            f.period.from,
            f.period.to,
            export::MAX_ROWS
        )));
    }
    Ok(())
}

/// A time as the files write it: the local time in Copenhagen.
pub(super) fn local(ms: i64) -> String {
    TIME_ZONE
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The local date of a time.
pub(super) fn local_date(ms: i64) -> NaiveDate {
    TIME_ZONE
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn counts(c: &JobCounts) -> [Cell; 6] {
    [
        Cell::Int(c.jobs),
        Cell::Int(c.done),
        Cell::Int(c.failed),
        Cell::Int(c.open),
        Cell::Int(c.restarted),
        c.success_rate.map_or(Cell::Empty, Cell::Number),
    ]
}

macro_rules! with_counts {
    ($($c:expr),* $(,)?) => {
        &[
            $($c,)*
            Column::number("jobs", 8.0, "0"),
            Column::number("done", 8.0, "0"),
            Column::number("failed", 8.0, "0"),
            Column::number("open", 8.0, "0"),
            Column::number("restarted", 10.0, "0"),
            Column::number("success_rate", 13.0, "0.0%"),
        ]
    };
}

const SCRIPT_COLUMNS: &[Column] = with_counts![
    Column::number("script_id", 10.0, "0"),
    Column::text("script", 30.0),
    Column::text("scope", 8.0),
];

/// One row per script: its jobs by status and success rate (counts only).
pub(crate) fn jobs_scripts_table(scripts: &[JobsScript]) -> Table {
    let rows = scripts
        .iter()
        .map(|s| {
            let mut row = vec![
                Cell::Int(s.script_id),
                Cell::Text(s.name.clone()),
                Cell::Text(if s.global { "global" } else { "local" }.into()),
            ];
            row.extend(counts(&s.counts));
            row
        })
        .collect();
    Table {
        sheet: "scripts",
        columns: SCRIPT_COLUMNS,
        rows,
    }
}

const SITE_COLUMNS: &[Column] =
    with_counts![Column::text("site", 20.0), Column::text("site_name", 24.0),];

/// One row per site (counts only).
pub(crate) fn jobs_sites_table(sites: &[JobsSite]) -> Table {
    let rows = sites
        .iter()
        .map(|s| {
            let mut row = vec![Cell::Text(s.uid.clone()), Cell::Text(s.name.clone())];
            row.extend(counts(&s.counts));
            row
        })
        .collect();
    Table {
        sheet: "sites",
        columns: SITE_COLUMNS,
        rows,
    }
}

const PERIOD_COLUMNS: &[Column] = with_counts![
    Column::text("start", 12.0),
    Column::number("days", 6.0, "0"),
];

/// One row per day or week (counts only).
pub(crate) fn jobs_periods_table(periods: &[JobsPeriod]) -> Table {
    let rows = periods
        .iter()
        .map(|p| {
            let mut row = vec![Cell::Date(p.start), Cell::Int(i64::from(p.days))];
            row.extend(counts(&p.counts));
            row
        })
        .collect();
    Table {
        sheet: "periods",
        columns: PERIOD_COLUMNS,
        rows,
    }
}

const PC_COLUMNS: &[Column] = with_counts![
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
];

/// One row per PC, with its site now (counts only).
pub(crate) fn jobs_pcs_table(pcs: &[JobsPc]) -> Table {
    let rows = pcs
        .iter()
        .map(|p| {
            let mut row = vec![
                Cell::Text(p.site.clone()),
                Cell::Text(p.uid.clone()),
                Cell::Text(p.name.clone()),
            ];
            row.extend(counts(&p.counts));
            row
        })
        .collect();
    Table {
        sheet: "pcs",
        columns: PC_COLUMNS,
        rows,
    }
}

const RUN_COLUMNS: &[Column] = &[
    Column::text("date", 12.0),
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("script_id", 10.0, "0"),
    Column::text("script", 30.0),
    Column::number("job_id", 10.0, "0"),
    Column::text("status", 10.0),
    Column::text("created", 20.0),
    Column::text("reported", 20.0),
    Column::text("started", 26.0),
    Column::text("finished", 26.0),
    Column::number("duration_s", 11.0, "0.000"),
];

const RUN_COLUMNS_WITH_LOG: &[Column] = &[
    Column::text("date", 12.0),
    Column::text("site", 20.0),
    Column::text("pc_uid", 24.0),
    Column::text("pc_name", 24.0),
    Column::number("script_id", 10.0, "0"),
    Column::text("script", 30.0),
    Column::number("job_id", 10.0, "0"),
    Column::text("status", 10.0),
    Column::text("created", 20.0),
    Column::text("reported", 20.0),
    Column::text("started", 26.0),
    Column::text("finished", 26.0),
    Column::number("duration_s", 11.0, "0.000"),
    Column::text("last_lines", 60.0),
];

/// One row per job: the local date of its time (`by`), where and what it ran, its times
/// (created and reported in Copenhagen time, started and finished as the agent sent them)
/// and its run time; with `log_lines`, its log's last lines, one per line of the cell.
pub(crate) fn jobs_runs_table(
    runs: &[JobRun],
    sheet: &'static str,
    by: JobTime,
    log_lines: bool,
) -> Table {
    let rows = runs
        .iter()
        .map(|j| {
            let at = match by {
                JobTime::Created => Some(j.created_at),
                JobTime::Finished => j.reported_at,
            };
            let mut row = vec![
                at.map_or(Cell::Empty, |t| Cell::Date(local_date(t))),
                Cell::Text(j.site.clone()),
                Cell::Text(j.pc_uid.clone()),
                Cell::Text(j.pc_name.clone()),
                Cell::Int(j.script_id),
                Cell::Text(j.script.clone()),
                Cell::Int(j.job_id),
                Cell::Text(j.status.as_str().into()),
                Cell::Text(local(j.created_at)),
                j.reported_at.map_or(Cell::Empty, |t| Cell::Text(local(t))),
                j.started.clone().map_or(Cell::Empty, Cell::Text),
                j.finished.clone().map_or(Cell::Empty, Cell::Text),
                j.duration_ms
                    .map_or(Cell::Empty, |ms| Cell::Number(ms as f64 / 1000.0)),
            ];
            if log_lines {
                row.push(Cell::Text(
                    j.last_lines.as_deref().unwrap_or_default().join("\n"),
                ));
            }
            row
        })
        .collect();
    Table {
        sheet,
        columns: if log_lines {
            RUN_COLUMNS_WITH_LOG
        } else {
            RUN_COLUMNS
        },
        rows,
    }
}
