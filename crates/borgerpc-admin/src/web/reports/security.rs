//! The security report's page (issue 14, report 5), `/rapporter/sikkerhed`: the events of
//! the security and offline rules on one site or every site the user sees, in a period and
//! optionally one group and one level, with the shared filter form (`read`) and the report's
//! own fields (level, day or week bars). The figures are `store::reports::security`' (the
//! JSON API's too); this module only formats them.
//!
//! What it shows: the counts and the time to handle; a stacked bar per day or week (by
//! level) with the same numbers in a table beside it; the levels, the rules (each links to
//! its rule's page), the sites (a site's link narrows the report to it: its PCs) and one page
//! of PCs (a PC links to its page; the most events first, or in the order they were registered
//! when the period holds too many events, which the page then says). No event's summary: the
//! event list has those.
//!
//! Downloads: each table the API's `list=` names, as the API's file for the same filters
//! (`/rapporter/sikkerhed.csv|.xlsx?…&tabel=…`), as the jobs page has them.

use super::super::chart::{Series, Stacked, stacked_chart};
use super::super::{Fields, Pager, Problem, Viewer, Web, text};
use super::jobs::{bucket, bucket_label, narrowed};
use super::{
    Choices, Chosen, Download, Form, Report, TableFile, picked, table_files, tables_csv,
    tables_page, tables_report, tables_xlsx,
};
use crate::api::ApiError;
use crate::api::reports::security::{SecurityExport, security_file};
use crate::export::Table;
use crate::store::Store;
use crate::store::events::LEVELS;
use crate::store::operator::Page;
use crate::store::reports::Filter;
use crate::store::reports::security::{
    EventCounts, LevelCounts, PcsOrder, SecurityAsked, SecurityItems, SecurityList, TimeToHandle,
};
use askama::Template;
use axum::Router;
use axum::routing::get;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/sikkerhed", get(tables_page::<Security>))
        .route("/rapporter/sikkerhed.csv", get(tables_csv::<Security>))
        .route("/rapporter/sikkerhed.xlsx", get(tables_xlsx::<Security>))
}

/// The page's address (written out in `routes` too: the page walks read it there).
const PATH: &str = "/rapporter/sikkerhed";
/// PCs in the table at a time.
const ROWS: i64 = 50;

/// The tables the page offers as files, as the API's `list=` names them.
const TABLES: &[Download<SecurityExport>] = &[
    Download {
        slug: "regler",
        api: "rules",
        label: |t| t.reports_rules,
        export: SecurityExport::Rules,
    },
    Download {
        slug: "niveauer",
        api: "levels",
        label: |t| t.reports_levels,
        export: SecurityExport::Levels,
    },
    Download {
        slug: "steder",
        api: "sites",
        label: |t| t.reports_sites,
        export: SecurityExport::Sites,
    },
    Download {
        slug: "perioder",
        api: "periods",
        label: |t| t.reports_security_chart,
        export: SecurityExport::Periods,
    },
    Download {
        slug: "computere",
        api: "pcs",
        label: |t| t.reports_pcs,
        export: SecurityExport::List(SecurityList::Pcs),
    },
    Download {
        slug: "haendelser",
        api: "events",
        label: |t| t.reports_events,
        export: SecurityExport::List(SecurityList::Events),
    },
];

/// The report's own fields as entered, for showing them again.
pub(super) struct Own {
    level: String,
    bucket: String,
    /// The levels to choose from: value, label, chosen.
    levels: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "report_security_filters.html")]
struct OwnFields<'a> {
    t: &'static text::Msgs,
    own: &'a Own,
    problem: Option<&'a Problem>,
}

/// A level as the page names it.
fn level_name(level: &str, t: &text::Msgs) -> String {
    match level {
        "CRITICAL" => t.level_critical,
        "HIGH" => t.level_high,
        "NORMAL" => t.level_normal,
        _ => t.level_unknown,
    }
    .to_owned()
}

fn own_asked(f: &Fields, t: &text::Msgs) -> (Own, Result<SecurityAsked, Problem>) {
    let level = f.one("niveau").trim().to_owned();
    let mut levels = vec![(String::new(), t.all.to_owned(), level.is_empty())];
    levels.extend(
        LEVELS
            .iter()
            .map(|l| ((*l).to_owned(), level_name(l, t), *l == level)),
    );
    let own = Own {
        bucket: f.one("inddeling").trim().to_owned(),
        level,
        levels,
    };
    let asked = (|| {
        let level = if own.level.is_empty() {
            None
        } else {
            Some(
                SecurityAsked::level(&own.level)
                    .ok_or_else(|| Problem::new("niveau", t.reports_level, t.reports_bad_choice))?,
            )
        };
        let bucket = bucket(&own.bucket)
            .ok_or_else(|| Problem::new("inddeling", t.reports_bucket, t.reports_bad_choice))?;
        picked(f, TABLES, t)?;
        Ok(SecurityAsked { level, bucket })
    })();
    (own, asked)
}

/// Counts as a row shows them.
struct Counts {
    events: i64,
    open: i64,
    resolved: i64,
    critical: i64,
    high: i64,
    normal: i64,
}

impl Counts {
    fn of(c: &EventCounts, l: Option<&LevelCounts>) -> Counts {
        Counts {
            events: c.events,
            open: c.open,
            resolved: c.resolved,
            critical: l.map_or(0, |l| l.critical),
            high: l.map_or(0, |l| l.high),
            normal: l.map_or(0, |l| l.normal),
        }
    }
}

/// A bucket's bound (whole minutes, hours or days) in words.
fn bound(ms: f64, t: &text::Msgs) -> String {
    let min = (ms / 60_000.0).round() as i64;
    if min == 0 {
        "0".to_owned()
    } else if min < 60 {
        format!("{min} min")
    } else if min < 1440 {
        format!("{} {}", min / 60, t.reports_unit_hour)
    } else {
        format!("{} {}", min / 1440, t.reports_unit_day)
    }
}

/// A percentile as the bucket it is in: "10 min – 15 min", or "≥ 365 d" for the last.
fn bucket_words(from: Option<f64>, to: Option<f64>, t: &text::Msgs) -> String {
    match (from, to) {
        (Some(from), Some(to)) if to > from => format!("{} – {}", bound(from, t), bound(to, t)),
        (_, Some(to)) => format!("≥ {}", bound(to, t)),
        _ => "–".to_owned(),
    }
}

/// A time to handle as a row shows it: the median and p90 in ms (for `<data>`: the upper bound
/// of its bucket) and the bucket in words.
struct Handling {
    handled: i64,
    median_ms: String,
    median: String,
    p90_ms: String,
    p90: String,
}

impl Handling {
    fn of(h: &TimeToHandle, t: &text::Msgs) -> Handling {
        let ms = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.0}"));
        Handling {
            handled: h.handled,
            median_ms: ms(h.median_ms),
            median: bucket_words(h.median_from_ms, h.median_ms, t),
            p90_ms: ms(h.p90_ms),
            p90: bucket_words(h.p90_from_ms, h.p90_ms, t),
        }
    }
}

struct PeriodRow {
    label: String,
    iso: String,
    c: Counts,
}

struct LevelRow {
    name: String,
    c: Counts,
    h: Handling,
}

struct RuleRow {
    /// The rule's page, if the rule is still there.
    href: Option<String>,
    name: String,
    level: String,
    c: Counts,
    h: Handling,
}

struct SiteRow {
    href: String,
    name: String,
    c: Counts,
}

struct PcRow {
    pc_id: i64,
    site: String,
    name: String,
    c: Counts,
}

pub(super) struct SecurityView {
    chart: String,
    totals: Counts,
    handling: Handling,
    periods: Vec<PeriodRow>,
    levels: Vec<LevelRow>,
    rules: Vec<RuleRow>,
    sites: Vec<SiteRow>,
    count: i64,
    pcs: Vec<PcRow>,
    /// The PCs are in the order they were registered (too many events for the most first).
    pcs_registered: bool,
    pager: Pager,
    tables: Vec<TableFile>,
}

#[derive(Template)]
#[template(path = "report_security.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<SecurityView>,
}

tables_report!(Security: Report::Security, reports_security, Own, SecurityAsked, SecurityExport, SecurityView);

/// The table as the API's file.
async fn file(
    store: &Store,
    filter: &Filter,
    a: SecurityAsked,
    export: SecurityExport,
) -> Result<Table, ApiError> {
    security_file(store, filter, &a, export).await
}

/// The report as the page shows it. `None`: the group is not the user's.
async fn view(
    web: &Web,
    v: &Viewer,
    c: &Chosen,
    a: &SecurityAsked,
    f: &Fields,
) -> crate::store::Result<Option<SecurityView>> {
    let t = v.t;
    let lang = v.visit.lang();
    let mut filter = c.filter.clone();
    filter.page = Page {
        limit: ROWS,
        offset: (c.page - 1) * ROWS,
    };
    let Some(r) = web
        .store
        .security_report(&filter, a, SecurityList::Pcs)
        .await?
    else {
        return Ok(None);
    };
    let labels: Vec<String> = r
        .periods
        .iter()
        .map(|p| bucket_label(p.start, a.bucket, t, lang))
        .collect();
    let series = [
        Series {
            name: t.level_critical,
            color: "#b00020",
            values: r.periods.iter().map(|p| p.levels.critical as f64).collect(),
        },
        Series {
            name: t.level_high,
            color: "#a04a00",
            values: r.periods.iter().map(|p| p.levels.high as f64).collect(),
        },
        Series {
            name: t.level_normal,
            color: "#1f5f9e",
            values: r.periods.iter().map(|p| p.levels.normal as f64).collect(),
        },
    ];
    let chart = stacked_chart(&Stacked {
        title: t.reports_security_chart,
        desc: t.reports_security_desc,
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
            c: Counts::of(&p.counts, Some(&p.levels)),
        })
        .collect();
    let levels = r
        .levels
        .iter()
        .map(|l| LevelRow {
            name: level_name(&l.level, t),
            c: Counts::of(&l.counts, None),
            h: Handling::of(&l.time_to_handle, t),
        })
        .collect();
    let rules = r
        .rules
        .iter()
        .map(|x| RuleRow {
            href: x.site.as_ref().map(|site| {
                let kind = if x.rule_kind == "offline" {
                    "offline"
                } else {
                    "sikkerhed"
                };
                format!("/steder/{site}/regler/{kind}/{}", x.rule_id)
            }),
            name: if x.site.is_none() && x.name.is_empty() {
                t.reports_rule_gone.to_owned()
            } else {
                x.name.clone()
            },
            level: level_name(&x.level, t),
            c: Counts::of(&x.counts, None),
            h: Handling::of(&x.time_to_handle, t),
        })
        .collect();
    let without_site = f.query_without(&["sted", "gruppe", "side"]);
    let sites = r
        .sites
        .iter()
        .map(|s| SiteRow {
            href: narrowed(PATH, &without_site, "sted", &s.uid),
            name: s.name.clone(),
            c: Counts::of(&s.counts, Some(&s.levels)),
        })
        .collect();
    let pcs = match &r.items {
        SecurityItems::Pcs(pcs) => pcs
            .iter()
            .map(|p| PcRow {
                pc_id: p.pc_id,
                site: p.site.clone(),
                name: p.name.clone(),
                c: Counts::of(&p.counts, Some(&p.levels)),
            })
            .collect(),
        SecurityItems::Events(_) => Vec::new(),
    };
    let max = crate::export::MAX_ROWS as i64;
    let tables = table_files(Report::Security, f, TABLES, t, |e| match e {
        SecurityExport::List(SecurityList::Pcs) => r.count <= max,
        SecurityExport::List(SecurityList::Events) => r.totals.events <= max,
        _ => true,
    });
    Ok(Some(SecurityView {
        tables,
        chart,
        totals: Counts::of(&r.totals, None),
        handling: Handling::of(&r.time_to_handle, t),
        periods,
        levels,
        rules,
        sites,
        count: r.count,
        pcs,
        pcs_registered: r.pcs_order == PcsOrder::Registered.as_str(),
        pager: Pager::new(c.page, r.count, ROWS, PATH, &f.query_without(&["side"])),
    }))
}
