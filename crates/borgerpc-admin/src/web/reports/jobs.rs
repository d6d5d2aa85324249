//! The jobs report's page (issue 14, report 4), `/rapporter/jobs`: how the scripts ran on
//! the PCs of one site or every site the user sees, in a period and optionally one group,
//! with the shared filter form (`read`) and the report's own fields (which time puts a job
//! in the period, day or week bars, one script). The figures are `store::reports::jobs`'
//! (the JSON API's too); this module only formats them.
//!
//! What it shows: the counts; a stacked bar per day or week (done, failed, open) with the
//! same numbers in a table beside it; the scripts (a script's link narrows the report to it:
//! its failures), the sites (a site's link narrows to it: its PCs), one page of PCs (a PC
//! links to its page), the newest failures with the last lines of their logs (the same users
//! see the whole log on the job's page, which each one links to) and the longest runs.
//!
//! Downloads: each table the API's `list=` names, as the API's file for the same filters
//! (`/rapporter/jobs.csv|.xlsx?…&tabel=…`); the failures without their log lines (the API's
//! default: a file travels further than the page).

use super::super::chart::{Series, Stacked, stacked_chart};
use super::super::{Fields, Pager, Problem, Viewer, Web, text};
use super::{
    Choices, Chosen, Download, Form, Report, TableFile, day, percent, picked, table_files,
    tables_csv, tables_page, tables_report, tables_xlsx,
};
use crate::api::ApiError;
use crate::api::reports::jobs::{JobsExport, jobs_file};
use crate::export::Table;
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::Filter;
use crate::store::reports::buckets::Bucket;
use crate::store::reports::jobs::SLOWEST;
use crate::store::reports::jobs::{JobCounts, JobRun, JobTime, JobsAsked, JobsItems, JobsList};
use askama::Template;
use axum::Router;
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use service_kit::web::Lang;
use service_kit::web::time::local_time;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/jobs", get(tables_page::<Jobs>))
        .route("/rapporter/jobs.csv", get(tables_csv::<Jobs>))
        .route("/rapporter/jobs.xlsx", get(tables_xlsx::<Jobs>))
}

/// The page's address (written out in `routes` too: the page walks read it there).
const PATH: &str = "/rapporter/jobs";
/// PCs in the table at a time.
const ROWS: i64 = 50;
/// The newest failures shown (the site's job list has them all).
const FAILURES: i64 = 20;

/// The tables the page offers as files, as the API's `list=` names them.
const TABLES: &[Download<JobsExport>] = &[
    Download {
        slug: "scripts",
        api: "scripts",
        label: |t| t.reports_scripts,
        export: JobsExport::Scripts,
    },
    Download {
        slug: "steder",
        api: "sites",
        label: |t| t.reports_sites,
        export: JobsExport::Sites,
    },
    Download {
        slug: "perioder",
        api: "periods",
        label: |t| t.reports_jobs_chart,
        export: JobsExport::Periods,
    },
    Download {
        slug: "computere",
        api: "pcs",
        label: |t| t.reports_pcs,
        export: JobsExport::List(JobsList::Pcs),
    },
    Download {
        slug: "fejlede",
        api: "failures",
        label: |t| t.reports_failures,
        export: JobsExport::List(JobsList::Failures),
    },
    Download {
        slug: "laengste",
        api: "slowest",
        label: |t| t.reports_slowest,
        export: JobsExport::List(JobsList::Slowest),
    },
];

/// The report's own fields as entered, for showing them again.
pub(super) struct Own {
    by: String,
    bucket: String,
    script: String,
}

#[derive(Template)]
#[template(path = "report_jobs_filters.html")]
struct OwnFields<'a> {
    t: &'static text::Msgs,
    own: &'a Own,
    problem: Option<&'a Problem>,
}

/// The report's own fields from the address, checked (the table to download too).
fn own_asked(f: &Fields, t: &text::Msgs) -> (Own, Result<JobsAsked, Problem>) {
    let own = Own {
        by: f.one("tid").trim().to_owned(),
        bucket: f.one("inddeling").trim().to_owned(),
        script: f.one("script").trim().to_owned(),
    };
    let asked = (|| {
        let by = match own.by.as_str() {
            "" | "oprettet" => JobTime::Created,
            "afsluttet" => JobTime::Finished,
            _ => return Err(Problem::new("tid", t.reports_by, t.reports_bad_choice)),
        };
        let bucket = bucket(&own.bucket)
            .ok_or_else(|| Problem::new("inddeling", t.reports_bucket, t.reports_bad_choice))?;
        let script = if own.script.is_empty() {
            None
        } else {
            Some(
                own.script
                    .parse::<i64>()
                    .map_err(|_| Problem::new("script", t.reports_script, t.reports_bad_script))?,
            )
        };
        picked(f, TABLES, t)?;
        Ok(JobsAsked {
            script,
            by,
            bucket,
            log_lines: true,
        })
    })();
    (own, asked)
}

/// The bucket field (`dag`, `uge`; empty is a day).
pub(super) fn bucket(s: &str) -> Option<Bucket> {
    match s {
        "" | "dag" => Some(Bucket::Day),
        "uge" => Some(Bucket::Week),
        _ => None,
    }
}

/// A bucket's label under its bar and in the table: the date, or the week's number.
pub(super) fn bucket_label(start: NaiveDate, b: Bucket, t: &text::Msgs, lang: Lang) -> String {
    match b {
        Bucket::Day => day(start, lang),
        Bucket::Week => format!("{} {}", t.reports_week_short, start.iso_week().week()),
    }
}

/// A length of time as the tables show it: seconds with a decimal under a minute, then
/// minutes, hours and days.
pub(super) fn duration(ms: f64, t: &text::Msgs, lang: Lang) -> String {
    if ms < 60_000.0 {
        let s = format!("{:.1} s", ms / 1000.0);
        return match lang {
            Lang::Da => s.replace('.', ","),
            Lang::En => s,
        };
    }
    let s = (ms / 1000.0).round() as i64;
    if s < 3_600 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} {} {} min", s / 3600, t.reports_unit_hour, s % 3600 / 60)
    } else {
        format!(
            "{} {} {} {}",
            s / 86_400,
            t.reports_unit_day,
            s % 86_400 / 3600,
            t.reports_unit_hour
        )
    }
}

/// The page's address with `query` (already encoded) and one more field.
pub(super) fn narrowed(path: &str, query: &str, field: &str, value: &str) -> String {
    let more = serde_urlencoded::to_string([(field, value)]).unwrap_or_default();
    if query.is_empty() {
        format!("{path}?{more}")
    } else {
        format!("{path}?{query}&{more}")
    }
}

/// Counts as a row shows them.
struct Counts {
    jobs: i64,
    done: i64,
    failed: i64,
    open: i64,
    restarted: i64,
    success: String,
}

impl Counts {
    fn of(c: &JobCounts, lang: Lang) -> Counts {
        Counts {
            jobs: c.jobs,
            done: c.done,
            failed: c.failed,
            open: c.open,
            restarted: c.restarted,
            success: percent(c.success_rate, lang),
        }
    }
}

struct PeriodRow {
    label: String,
    iso: String,
    c: Counts,
}

struct NamedRow {
    href: String,
    name: String,
    /// "global", "deleted" or nothing.
    note: String,
    c: Counts,
}

struct PcRow {
    pc_id: i64,
    site: String,
    name: String,
    c: Counts,
}

struct RunRow {
    job_id: i64,
    site: String,
    pc_id: i64,
    pc_site: String,
    pc_name: String,
    script: String,
    at: String,
    started: String,
    finished: String,
    duration_ms: i64,
    duration: String,
    lines: String,
}

pub(super) struct JobsView {
    chart: String,
    totals: Counts,
    periods: Vec<PeriodRow>,
    /// The script the report is narrowed to, and the address without it.
    script: Option<(String, String)>,
    scripts: Vec<NamedRow>,
    sites: Vec<NamedRow>,
    /// The report is of one site: its PCs are listed.
    one_site: bool,
    pcs: Vec<PcRow>,
    pager: Pager,
    failures: Vec<RunRow>,
    failures_count: i64,
    /// The one site's job list of its failures, when the report is of one site.
    failures_href: Option<String>,
    slowest: Vec<RunRow>,
    tables: Vec<TableFile>,
}

#[derive(Template)]
#[template(path = "report_jobs.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<JobsView>,
}

tables_report!(Jobs: Report::Jobs, reports_jobs, Own, JobsAsked, JobsExport, JobsView);

/// The table as the API's file; the failures without their log lines (the API's default: a
/// file travels further than the page).
async fn file(
    store: &Store,
    filter: &Filter,
    mut a: JobsAsked,
    export: JobsExport,
) -> Result<Table, ApiError> {
    a.log_lines = false;
    jobs_file(store, filter, &a, export).await
}

fn run_row(j: &JobRun, by: JobTime, t: &text::Msgs, lang: Lang) -> RunRow {
    let at = match by {
        JobTime::Created => Some(j.created_at),
        JobTime::Finished => j.reported_at,
    };
    RunRow {
        job_id: j.job_id,
        site: j.site.clone(),
        pc_id: j.pc_id,
        pc_site: j.pc_site.clone(),
        pc_name: j.pc_name.clone(),
        script: j.script.clone(),
        at: at.map_or_else(String::new, |ms| local_time(ms, lang)),
        started: j.started.clone().unwrap_or_default(),
        finished: j.finished.clone().unwrap_or_default(),
        duration_ms: j.duration_ms.unwrap_or(0),
        duration: j
            .duration_ms
            .map_or_else(String::new, |ms| duration(ms as f64, t, lang)),
        lines: j.last_lines.as_deref().unwrap_or_default().join("\n"),
    }
}

/// The report as the page shows it. `None`: the group or the script is not the user's.
async fn view(
    web: &Web,
    v: &Viewer,
    c: &Chosen,
    a: &JobsAsked,
    f: &Fields,
) -> crate::store::Result<Option<JobsView>> {
    let t = v.t;
    let lang = v.visit.lang();
    // The report with its newest failures; it checked the group and the script.
    let mut filter = c.filter.clone();
    filter.page = Page {
        limit: FAILURES,
        offset: 0,
    };
    let Some(r) = web
        .store
        .jobs_report(&filter, a, JobsList::Failures)
        .await?
    else {
        return Ok(None);
    };
    let longest = Page {
        limit: SLOWEST,
        offset: 0,
    };
    let slowest = web
        .store
        .job_runs_page(&filter, a, JobsList::Slowest, &longest)
        .await?;
    // The PCs of one site: the drill-down a site's link leads to (all sites' PCs are the
    // JSON's and the files').
    let one_site = !f.one("sted").trim().is_empty();
    let (count, pcs) = if one_site {
        let page = Page {
            limit: ROWS,
            offset: (c.page - 1) * ROWS,
        };
        web.store
            .jobs_pcs(&c.filter, a, page)
            .await?
            .unwrap_or_default()
    } else {
        (0, Vec::new())
    };

    let labels: Vec<String> = r
        .periods
        .iter()
        .map(|p| bucket_label(p.start, a.bucket, t, lang))
        .collect();
    let series = [
        Series {
            name: t.reports_done,
            color: "#1f5f9e",
            values: r.periods.iter().map(|p| p.counts.done as f64).collect(),
        },
        Series {
            name: t.reports_failed,
            color: "#b00020",
            values: r.periods.iter().map(|p| p.counts.failed as f64).collect(),
        },
        Series {
            name: t.reports_open,
            color: "#5c5c5c",
            values: r.periods.iter().map(|p| p.counts.open as f64).collect(),
        },
    ];
    let chart = stacked_chart(&Stacked {
        title: t.reports_jobs_chart,
        desc: t.reports_jobs_desc,
        labels: &labels,
        series: &series,
    });
    let periods = r
        .periods
        .iter()
        .zip(labels)
        .map(|(p, label)| PeriodRow {
            label,
            iso: p.start.format("%Y-%m-%d").to_string(),
            c: Counts::of(&p.counts, lang),
        })
        .collect();
    let without_script = f.query_without(&["script", "side"]);
    let scripts = r
        .scripts
        .iter()
        .map(|s| NamedRow {
            href: narrowed(PATH, &without_script, "script", &s.script_id.to_string()),
            name: s.name.clone(),
            note: if s.deleted {
                t.reports_script_deleted.to_owned()
            } else if s.global {
                t.reports_script_global.to_owned()
            } else {
                String::new()
            },
            c: Counts::of(&s.counts, lang),
        })
        .collect();
    let script = a.script.map(|id| {
        let name = r
            .scripts
            .iter()
            .find(|s| s.script_id == id)
            .map_or_else(|| format!("#{id}"), |s| s.name.clone());
        (name, format!("{PATH}?{without_script}"))
    });
    let without_site = f.query_without(&["sted", "gruppe", "side"]);
    let sites = r
        .sites
        .iter()
        .map(|s| NamedRow {
            href: narrowed(PATH, &without_site, "sted", &s.uid),
            name: s.name.clone(),
            note: String::new(),
            c: Counts::of(&s.counts, lang),
        })
        .collect();
    let pcs = pcs
        .iter()
        .map(|p| PcRow {
            pc_id: p.pc_id,
            site: p.site.clone(),
            name: p.name.clone(),
            c: Counts::of(&p.counts, lang),
        })
        .collect();
    let failures = match &r.items {
        JobsItems::Runs(jobs) => jobs.iter().map(|j| run_row(j, a.by, t, lang)).collect(),
        JobsItems::Pcs(_) => Vec::new(),
    };
    let site = f.one("sted").trim();
    // A list's rows are within the bound when its count (or the jobs, which bound it) is.
    let max = crate::export::MAX_ROWS as i64;
    let tables = table_files(Report::Jobs, f, TABLES, t, |e| match e {
        JobsExport::List(JobsList::Failures) => r.count <= max,
        JobsExport::List(JobsList::Pcs) => r.totals.jobs <= max || (one_site && count <= max),
        JobsExport::List(JobsList::Slowest) => r.totals.jobs <= max,
        _ => true,
    });
    Ok(Some(JobsView {
        tables,
        chart,
        totals: Counts::of(&r.totals, lang),
        periods,
        script,
        scripts,
        sites,
        one_site,
        pcs,
        pager: Pager::new(c.page, count, ROWS, PATH, &f.query_without(&["side"])),
        failures,
        failures_count: r.count,
        failures_href: (!site.is_empty()).then(|| format!("/steder/{site}/jobs?status=FAILED")),
        slowest: slowest.iter().map(|j| run_row(j, a.by, t, lang)).collect(),
    }))
}
