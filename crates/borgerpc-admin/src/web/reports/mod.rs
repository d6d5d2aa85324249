//! The report pages (issue 14): availability and usage of one site or of every site the user
//! sees, for a period of local dates and optionally one group, as an SVG bar chart per day
//! with the same numbers in a table beside it, a table per site linking to the site's report,
//! and one page of PCs at a time linking to each PC's page. The figures are
//! `store::reports`' (the JSON API's too: availability's per day and per site from its
//! roll-up); this module only formats them, and sums usage's sites into per-day bars.
//!
//! The changes report's page is `changes.rs`, the jobs and security reports' `jobs.rs` and
//! `security.rs`: the same form (`read`, or `read_with` for a report's own fields, put in as
//! `Form::extra`). Their downloads are the API's files through `Report`, `Files` (one table)
//! or `TableFiles` (a report of several tables: the `tabel` field picks one), `deliver` and
//! `back`, so a page's file is byte for byte the API's for the same filters.
//!
//! The form's "til" is the last day shown (people say "1. to 30. november"); the store's
//! period is `[from, to)`, so `to` is the day after it.

mod changes;
mod inventory;
mod jobs;
mod security;
mod subscriptions;

use super::chart::{Bars, bar_chart};
use super::{Fields, Here, Pager, Problem, Section, Viewer, Web, filter_query, text};
use crate::api::reports::{Output, availability_file, file_name, fits_a_file, send, usage_file};
use crate::export::Decimal;
use crate::store::access::Role;
use crate::store::operator::Page;
use crate::store::reports::{Filter, Period, TIME_ZONE, UsageDetail};
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use service_kit::db::now_ms;
use service_kit::web::Lang;
use service_kit::web::time::local_time;
use std::collections::HashMap;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/tilgaengelighed", get(availability))
        .route("/rapporter/tilgaengelighed.csv", get(availability_csv))
        .route("/rapporter/tilgaengelighed.xlsx", get(availability_xlsx))
        .route("/rapporter/brug", get(usage))
        .route("/rapporter/brug.csv", get(usage_csv))
        .route("/rapporter/brug.xlsx", get(usage_xlsx))
        .merge(subscriptions::routes())
        .merge(changes::routes())
        .merge(jobs::routes())
        .merge(security::routes())
        .merge(inventory::routes())
}

/// The period when none is given: the last 30 days up to and with today.
const DEFAULT_DAYS: i64 = 30;
/// PCs in the table at a time.
const ROWS: i64 = 50;

/// The form's fields as entered, for showing them again.
struct Form {
    /// A customer's id: all the viewer's sites at that customer (when `site` is empty).
    customer: String,
    site: String,
    group: String,
    from: String,
    to: String,
    idle: bool,
    /// The query without the page, for the pager.
    query: String,
    /// The filters both reports take, for the link to the other report.
    shared: String,
    /// A report's own fields, as HTML its page renders (escaped by its template).
    extra: String,
    /// Whether the user reads the changes report (a site administrator somewhere): its tab.
    reads_changes: bool,
}

/// A choice in a `<select>`: value, label, selected.
type Choice = (String, String, bool);

/// The form's choices: customers (empty when the viewer sees one), sites and groups.
struct Choices {
    customers: Vec<Choice>,
    sites: Vec<Choice>,
    groups: Vec<Choice>,
}

/// What the form asks for, checked.
struct Chosen {
    filter: Filter,
    page: i64,
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// The form read from the address, the site and group choices, and the checked filter or the
/// problem to show. `Err` is a whole response: another customer's site, or a failure.
async fn read(
    web: &Web,
    v: &Viewer,
    f: &Fields,
) -> Result<(Form, Choices, Result<Chosen, Problem>), Response> {
    let t = v.t;
    let mut form = Form {
        customer: f.one("kunde").trim().to_owned(),
        site: f.one("sted").trim().to_owned(),
        group: f.one("gruppe").trim().to_owned(),
        from: f.one("fra").trim().to_owned(),
        to: f.one("til").trim().to_owned(),
        idle: f.one("inaktive") == "ja",
        query: f.query_without(&["side"]),
        shared: same_filters(f),
        extra: String::new(),
        reads_changes: v.scope.clone().narrowed(Role::SiteAdmin).is_some(),
    };
    let all_sites = match web.store.sites(None).await {
        Ok(s) => s,
        Err(e) => return Err(v.failed(e)),
    };
    let seen: Vec<&Site> = all_sites.iter().filter(|s| v.scope.sees(s.id)).collect();
    // The customer picker: the customers of the sites the viewer sees, when there are several
    // (a superuser, or a user at sites of more than one customer); another customer is 404.
    let customer = if form.customer.is_empty() {
        None
    } else {
        match form.customer.parse::<i64>() {
            Ok(id) if seen.iter().any(|s| s.customer_id == id) => Some(id),
            _ => return Err(v.visit.not_found()),
        }
    };
    let sites = if form.site.is_empty() {
        seen.iter()
            .filter(|s| customer.is_none_or(|c| s.customer_id == c))
            .map(|s| s.id)
            .collect()
    } else {
        let site = v.site(web, &form.site).await?;
        if !v.scope.sees(site.id) || customer.is_some_and(|c| site.customer_id != c) {
            return Err(v.visit.not_found());
        }
        vec![site.id]
    };
    let mut site_choices = vec![(
        String::new(),
        t.reports_all_sites.to_owned(),
        form.site.is_empty(),
    )];
    site_choices.extend(
        seen.iter()
            .filter(|s| customer.is_none_or(|c| s.customer_id == c))
            .map(|s| (s.uid.clone(), s.name.clone(), s.uid == form.site)),
    );
    let mut customer_choices = Vec::new();
    let mut ids: Vec<i64> = seen.iter().map(|s| s.customer_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > 1 {
        let customers = match web.store.customers().await {
            Ok(c) => c,
            Err(e) => return Err(v.failed(e)),
        };
        customer_choices.push((
            String::new(),
            t.reports_all_customers.to_owned(),
            customer.is_none(),
        ));
        customer_choices.extend(
            customers
                .iter()
                .filter(|c| ids.contains(&c.id))
                .map(|c| (c.id.to_string(), c.name.clone(), Some(c.id) == customer)),
        );
    }
    let groups = match web.store.group_names_at(&sites).await {
        Ok(g) => g,
        Err(e) => return Err(v.failed(e)),
    };
    let mut group_choices = vec![(String::new(), t.all.to_owned(), form.group.is_empty())];
    group_choices.extend(groups.into_iter().map(|(id, site, name)| {
        let label = if form.site.is_empty() {
            format!("{name} ({site})")
        } else {
            name
        };
        (id.to_string(), label, id.to_string() == form.group)
    }));

    let chosen = (|| {
        let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
        let last = if form.to.is_empty() {
            today
        } else {
            parse_date(&form.to)
                .ok_or_else(|| Problem::new("til", t.reports_to, t.reports_bad_date))?
        };
        let from = if form.from.is_empty() {
            last - chrono::Duration::days(DEFAULT_DAYS - 1)
        } else {
            parse_date(&form.from)
                .ok_or_else(|| Problem::new("fra", t.reports_from, t.reports_bad_date))?
        };
        let to = last.succ_opt().unwrap_or(last);
        let period = Period::new(from, to)
            .map_err(|_| Problem::new("til", t.reports_to, t.reports_bad_period))?;
        let group = if form.group.is_empty() {
            None
        } else {
            Some(
                form.group
                    .parse::<i64>()
                    .map_err(|_| Problem::new("gruppe", t.reports_group, t.reports_bad_group))?,
            )
        };
        let page = f.one("side").parse::<i64>().unwrap_or(1).max(1);
        Ok(Chosen {
            filter: Filter {
                sites: sites.clone(),
                group,
                period,
                page: Page {
                    limit: ROWS,
                    offset: (page - 1) * ROWS,
                },
            },
            page,
        })
    })();
    // The form shows the period the report is for, the defaults too.
    if let Ok(c) = &chosen {
        let p = c.filter.period;
        form.from = p.from.format("%Y-%m-%d").to_string();
        form.to =
            p.to.pred_opt()
                .unwrap_or(p.to)
                .format("%Y-%m-%d")
                .to_string();
    }
    let choices = Choices {
        customers: customer_choices,
        sites: site_choices,
        groups: group_choices,
    };
    Ok((form, choices, chosen))
}

/// A share as the page writes it: one decimal, with the language's decimal mark.
fn percent(share: Option<f64>, lang: Lang) -> String {
    match share {
        None => "–".to_owned(),
        Some(s) => {
            let text = format!("{:.1}", s * 100.0);
            match lang {
                Lang::Da => text.replace('.', ","),
                Lang::En => text,
            }
        }
    }
}

/// A date as the tables and the chart's labels write it.
fn day(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Da => d.format("%d.%m").to_string(),
        Lang::En => d.format("%m-%d").to_string(),
    }
}

/// One bar of a chart as the table beside it shows it.
struct DayRow {
    date: String,
    /// The ISO date, for the machine that reads the table (`<time datetime>`).
    iso: String,
    value: String,
    extra: String,
    /// Availability: the most PCs online at once.
    peak: String,
}

/// Where a site's opening hours come from, as the site table says it.
fn hours_source(t: &text::Msgs, source: Option<&str>) -> &'static str {
    match source {
        Some("site") => t.reports_hours_site,
        Some(_) => t.reports_hours_wake_plan,
        None => t.reports_hours_none,
    }
}

#[derive(Template)]
#[template(path = "report_availability.html")]
struct AvailabilityBody<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<AvailabilityView>,
}

struct AvailabilityView {
    chart: String,
    days: Vec<DayRow>,
    files: Option<Files>,
    /// Uptime over the period, and within opening hours ("–" without them).
    uptime: String,
    uptime_opening: String,
    /// Per site (more than one): the site's uid, name, uptime, within opening hours, and
    /// where its opening hours come from.
    sites: Vec<SiteLine>,
    count: i64,
    online_now: i64,
    offline_now: i64,
    pcs: Vec<AvailabilityLine>,
    pager: Pager,
}

struct SiteLine {
    uid: String,
    name: String,
    /// The filters with this site chosen, for the link to its report.
    query: String,
    uptime: String,
    uptime_opening: String,
    hours: &'static str,
}

struct AvailabilityLine {
    pc_id: i64,
    name: String,
    site: String,
    uptime: String,
    uptime_opening: String,
    online: bool,
    /// Offline since (offline), or last seen (online), or never.
    seen: String,
}

async fn availability(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    let (form, choices, chosen) = match read(&web, &v, &f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (problem, report) = match chosen {
        Err(p) => (Some(p), None),
        Ok(c) => match availability_view(&web, &v, &c, &form).await {
            Ok(Some(r)) => (None, Some(r)),
            Ok(None) => return v.visit.not_found(),
            Err(e) => return v.failed(e),
        },
    };
    let body = AvailabilityBody {
        t: v.t,
        form: &form,
        choices: &choices,
        problem: problem.as_ref(),
        report,
    };
    report_page(&web, &v, v.t.reports_availability, body, problem.is_some()).await
}

/// The chart and its table from the report's days (the roll-up's: every PC of the filter),
/// the sites, and the asked page of PCs. `None`: the group is not on the sites.
async fn availability_view(
    web: &Web,
    v: &Viewer,
    c: &Chosen,
    form: &Form,
) -> crate::store::Result<Option<AvailabilityView>> {
    let t = v.t;
    let lang = v.visit.lang();
    let now = now_ms();
    let Some(r) = web.store.availability_report(&c.filter, None, now).await? else {
        return Ok(None);
    };
    let bars: Vec<(String, f64)> = r
        .days
        .iter()
        .map(|d| (day(d.date, lang), d.totals.uptime.unwrap_or(0.0) * 100.0))
        .collect();
    let chart = bar_chart(&Bars {
        title: t.reports_availability_chart,
        desc: t.reports_availability_desc,
        bars: &bars,
        max: Some(100.0),
        unit: "%",
    });
    let days = r
        .days
        .iter()
        .map(|d| DayRow {
            date: day(d.date, lang),
            iso: d.date.format("%Y-%m-%d").to_string(),
            value: percent(d.totals.uptime, lang),
            extra: percent(d.totals.uptime_opening_hours, lang),
            peak: d.peak_online.to_string(),
        })
        .collect();
    let sites = if r.sites.len() > 1 {
        r.sites
            .iter()
            .map(|s| SiteLine {
                uid: s.site.clone(),
                name: s.name.clone(),
                query: filter_query(&[("sted", &s.site), ("fra", &form.from), ("til", &form.to)]),
                uptime: percent(s.totals.uptime, lang),
                uptime_opening: percent(s.totals.uptime_opening_hours, lang),
                hours: hours_source(t, s.opening_hours),
            })
            .collect()
    } else {
        Vec::new()
    };
    let pcs = r
        .items
        .iter()
        .map(|p| AvailabilityLine {
            pc_id: p.pc_id,
            name: p.name.clone(),
            site: p.site.clone(),
            uptime: percent(p.uptime, lang),
            uptime_opening: percent(p.uptime_opening_hours, lang),
            online: p.online_now,
            seen: p
                .offline_since
                .or(p.last_seen)
                .map_or_else(|| t.never.to_owned(), |ms| local_time(ms, lang)),
        })
        .collect();
    Ok(Some(AvailabilityView {
        chart,
        days,
        files: Files::of(
            Report::Availability,
            form,
            fits_a_file(r.count, &c.filter.period),
        ),
        uptime: percent(r.totals.uptime, lang),
        uptime_opening: percent(r.totals.uptime_opening_hours, lang),
        sites,
        count: r.count,
        online_now: r.online_now,
        offline_now: r.offline_now,
        pcs,
        pager: Pager::new(
            c.page,
            r.count,
            ROWS,
            "/rapporter/tilgaengelighed",
            &form.query,
        ),
    }))
}

#[derive(Template)]
#[template(path = "report_usage.html")]
struct UsageBody<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<UsageView>,
}

struct UsageView {
    files: Option<Files>,
    chart: String,
    days: Vec<DayRow>,
    logins: i64,
    count: i64,
    idle: i64,
    pcs: Vec<UsageLine>,
    pager: Pager,
}

struct UsageLine {
    pc_id: i64,
    name: String,
    site: String,
    logins: i64,
    idle: bool,
}

async fn usage(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    let (form, choices, chosen) = match read(&web, &v, &f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let t = v.t;
    let lang = v.visit.lang();
    let (problem, report) = match chosen {
        Err(p) => (Some(p), None),
        Ok(c) => {
            let r = match web
                .store
                .usage_report(&c.filter, form.idle, UsageDetail::Figures)
                .await
            {
                Ok(Some(r)) => r,
                Ok(None) => return v.visit.not_found(),
                Err(e) => return v.failed(e),
            };
            // The sites' days summed per date: the store gives logins per site per day.
            let mut logins: HashMap<NaiveDate, i64> = HashMap::new();
            for d in r.sites.iter().flat_map(|s| &s.days) {
                *logins.entry(d.date).or_default() += d.logins;
            }
            let per_day = |d: NaiveDate| logins.get(&d).copied().unwrap_or(0);
            let dates: Vec<(NaiveDate, i64)> = c
                .filter
                .period
                .from
                .iter_days()
                .take_while(|d| *d < c.filter.period.to)
                .map(|d| (d, per_day(d)))
                .collect();
            let bars: Vec<(String, f64)> = dates
                .iter()
                .map(|(d, n)| (day(*d, lang), *n as f64))
                .collect();
            let chart = bar_chart(&Bars {
                title: t.reports_usage_chart,
                desc: t.reports_usage_desc,
                bars: &bars,
                max: None,
                unit: "",
            });
            let query = form.query.clone();
            let view = UsageView {
                files: Files::of(Report::Usage, &form, fits_a_file(r.count, &c.filter.period)),
                chart,
                days: dates
                    .iter()
                    .map(|(d, n)| DayRow {
                        date: day(*d, lang),
                        iso: d.format("%Y-%m-%d").to_string(),
                        value: n.to_string(),
                        extra: String::new(),
                        peak: String::new(),
                    })
                    .collect(),
                logins: r.logins,
                count: r.count,
                idle: r.idle,
                pcs: r
                    .items
                    .iter()
                    .map(|p| UsageLine {
                        pc_id: p.pc_id,
                        name: p.name.clone(),
                        site: p.site.clone(),
                        logins: p.logins,
                        idle: p.idle,
                    })
                    .collect(),
                pager: Pager::new(c.page, r.count, ROWS, "/rapporter/brug", &query),
            };
            (None, Some(view))
        }
    };
    let body = UsageBody {
        t,
        form: &form,
        choices: &choices,
        problem: problem.as_ref(),
        report,
    };
    report_page(&web, &v, t.reports_usage, body, problem.is_some()).await
}

/// A report page in the Reports section: 422 when its form has a problem to show.
pub(super) async fn report_page(
    web: &Web,
    v: &Viewer,
    title: &str,
    body: impl Template,
    problem: bool,
) -> Response {
    let status = if problem {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let here = Here {
        section: Section::Reports,
        site: None,
    };
    v.page_with(web, here, title, body, status, None).await
}

/// The filters both reports share, for the links from one report to the other.
fn same_filters(f: &Fields) -> String {
    filter_query(&[
        ("kunde", f.one("kunde")),
        ("sted", f.one("sted")),
        ("gruppe", f.one("gruppe")),
        ("fra", f.one("fra")),
        ("til", f.one("til")),
    ])
}

/// A report that downloads from its page.
#[derive(Debug, Clone, Copy)]
enum Report {
    Availability,
    Usage,
    Changes,
    Jobs,
    Security,
    Inventory,
}

impl Report {
    fn path(self) -> &'static str {
        match self {
            Report::Availability => "/rapporter/tilgaengelighed",
            Report::Usage => "/rapporter/brug",
            Report::Changes => "/rapporter/aendringer",
            Report::Jobs => "/rapporter/jobs",
            Report::Security => "/rapporter/sikkerhed",
            Report::Inventory => "/rapporter/inventar",
        }
    }

    /// The file's name starts as the API's does, so a file says where it came from.
    fn file(self) -> &'static str {
        match self {
            Report::Availability => "availability",
            Report::Usage => "usage",
            Report::Changes => "changes",
            Report::Jobs => "jobs",
            Report::Security => "security",
            Report::Inventory => "inventory",
        }
    }

    /// The file's name as the API names it for the page's site or customer and period.
    fn file_name(self, form: &Form, period: &Period) -> String {
        form_file_name(self.file(), form, period)
    }
}

/// A file's name as the API names it (`base`: the report, and its table) for the page's site
/// or customer and period.
fn form_file_name(base: &str, form: &Form, period: &Period) -> String {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    file_name(
        base,
        some(&form.site).as_deref(),
        some(&form.customer).as_deref(),
        period,
    )
}

/// One of a report's tables that its page offers as a file: the `tabel` value (the id of its
/// table on the page), the API's `list` value, the label, and what the API's file function
/// takes for it.
struct Download<E: 'static> {
    slug: &'static str,
    api: &'static str,
    label: fn(&text::Msgs) -> &'static str,
    export: E,
}

/// The table the address picks (`tabel`; the first when none is named), or the problem.
fn picked<'a, E>(
    f: &Fields,
    tables: &'a [Download<E>],
    t: &text::Msgs,
) -> Result<&'a Download<E>, Problem> {
    let slug = f.one("tabel").trim();
    if slug.is_empty() {
        return tables
            .first()
            .ok_or_else(|| Problem::new("tabel", t.reports_table, t.reports_bad_table));
    }
    tables
        .iter()
        .find(|d| d.slug == slug)
        .ok_or_else(|| Problem::new("tabel", t.reports_table, t.reports_bad_table))
}

/// A table's links as the page lists them, or (`files` none) why there is no file.
struct TableFile {
    label: &'static str,
    files: Option<Files>,
}

/// The links to each of a report's tables, with the page's filters; `fits` says whether a
/// table (by its `tabel` value) is within `export::MAX_ROWS`.
fn table_files<E>(
    report: Report,
    f: &Fields,
    tables: &[Download<E>],
    t: &text::Msgs,
    fits: impl Fn(&E) -> bool,
) -> Vec<TableFile> {
    let base = f.query_without(&["side", "tabel", "decimal"]);
    tables
        .iter()
        .map(|d| {
            let more = serde_urlencoded::to_string([("tabel", d.slug)]).unwrap_or_default();
            let query = if base.is_empty() {
                more
            } else {
                format!("{base}&{more}")
            };
            TableFile {
                label: (d.label)(t),
                files: Files::of_query(report, &query, fits(&d.export)),
            }
        })
        .collect()
}

/// What differs between the report pages with fields of their own and several tables to
/// download (jobs, security): the rest, page and files, is [`tables_page`] and [`tables_file`].
trait TablesReport: Send + Sync + 'static {
    /// The report's own fields as entered, for showing them again.
    type Own;
    /// The report's own fields, checked.
    type Asked: Send + Sync;
    /// A table the API makes a file of.
    type Export: Copy + Send + Sync + 'static;
    type View: Send;
    const REPORT: Report;
    /// The tables the page offers as files, the default first.
    const TABLES: &'static [Download<Self::Export>];

    fn title(t: &text::Msgs) -> &'static str;

    /// The report's own fields from the address, checked (the table to download too).
    fn asked(f: &Fields, t: &'static text::Msgs) -> (Self::Own, Result<Self::Asked, Problem>);

    /// The own fields as the form shows them (`Form::extra`).
    fn fields(
        t: &'static text::Msgs,
        own: &Self::Own,
        problem: Option<&Problem>,
    ) -> askama::Result<String>;

    /// The report as the page shows it; `None`: a group or script is not the user's.
    fn view<'a>(
        web: &'a Web,
        v: &'a Viewer,
        c: &'a Chosen,
        a: &'a Self::Asked,
        f: &'a Fields,
    ) -> impl std::future::Future<Output = crate::store::Result<Option<Self::View>>> + Send + 'a;

    fn body<'a>(
        t: &'static text::Msgs,
        form: &'a Form,
        choices: &'a Choices,
        problem: Option<&'a Problem>,
        report: Option<Self::View>,
    ) -> impl Template + 'a;

    /// The table as the API's file of it for the filter (`list=`).
    fn file<'a>(
        store: &'a crate::store::Store,
        filter: &'a Filter,
        a: Self::Asked,
        export: Self::Export,
    ) -> impl std::future::Future<Output = Result<crate::export::Table, crate::api::ApiError>> + Send + 'a;
}

/// A [`TablesReport`] from its module's parts, named as jobs.rs and security.rs name them:
/// `TABLES`, `own_asked`, `OwnFields`, `view`, `Body` and `file`.
macro_rules! tables_report {
    ($name:ident: $report:expr, $title:ident, $own:ty, $asked:ty, $export:ty, $view:ty) => {
        pub(super) struct $name;

        impl super::TablesReport for $name {
            type Own = $own;
            type Asked = $asked;
            type Export = $export;
            type View = $view;
            const REPORT: super::Report = $report;
            const TABLES: &'static [super::Download<$export>] = TABLES;

            fn title(t: &text::Msgs) -> &'static str {
                t.$title
            }

            fn asked(f: &Fields, t: &'static text::Msgs) -> ($own, Result<$asked, Problem>) {
                own_asked(f, t)
            }

            fn fields(
                t: &'static text::Msgs,
                own: &$own,
                problem: Option<&Problem>,
            ) -> askama::Result<String> {
                OwnFields { t, own, problem }.render()
            }

            async fn view<'a>(
                web: &'a Web,
                v: &'a Viewer,
                c: &'a super::Chosen,
                a: &'a $asked,
                f: &'a Fields,
            ) -> crate::store::Result<Option<$view>> {
                view(web, v, c, a, f).await
            }

            fn body<'a>(
                t: &'static text::Msgs,
                form: &'a super::Form,
                choices: &'a super::Choices,
                problem: Option<&'a Problem>,
                report: Option<$view>,
            ) -> impl Template + 'a {
                Body {
                    t,
                    form,
                    choices,
                    problem,
                    report,
                }
            }

            async fn file<'a>(
                store: &'a crate::store::Store,
                filter: &'a crate::store::reports::Filter,
                a: $asked,
                export: $export,
            ) -> Result<crate::export::Table, crate::api::ApiError> {
                file(store, filter, a, export).await
            }
        }
    };
}
use tables_report;

/// A [`TablesReport`]'s page: the shared form with its own fields, and its view.
async fn tables_page<R: TablesReport>(
    State(web): State<Web>,
    v: Viewer,
    Query(f): Query<Fields>,
) -> Response {
    let t = v.t;
    let render = |own: &R::Own, problem: Option<&Problem>| R::fields(t, own, problem);
    let (form, choices, chosen) = match read_with(&web, &v, &f, R::asked, render).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (w, vr, fr) = (&web, &v, &f);
    let viewed = shown(vr, chosen, |(c, a)| async move {
        R::view(w, vr, &c, &a, fr).await
    });
    let (problem, report) = match viewed.await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let has_problem = problem.is_some();
    let body = R::body(t, &form, &choices, problem.as_ref(), report);
    report_page(&web, &v, R::title(t), body, has_problem).await
}

async fn tables_csv<R: TablesReport>(
    State(web): State<Web>,
    v: Viewer,
    Query(f): Query<Fields>,
) -> Response {
    tables_file::<R>(&web, &v, &f, false).await
}

async fn tables_xlsx<R: TablesReport>(
    State(web): State<Web>,
    v: Viewer,
    Query(f): Query<Fields>,
) -> Response {
    tables_file::<R>(&web, &v, &f, true).await
}

/// The table `tabel` names as the file the link asks for: the API's `list=` file, named as
/// the API names it (`<report>-<list>-…`). A filter the page would refuse goes back to it.
async fn tables_file<R: TablesReport>(web: &Web, v: &Viewer, f: &Fields, xlsx: bool) -> Response {
    let no_fields = |_: &R::Own, _: Option<&Problem>| Ok(String::new());
    let (form, _, chosen) = match read_with(web, v, f, R::asked, no_fields).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (Ok((c, a)), Ok(d)) = (chosen, picked(f, R::TABLES, v.t)) else {
        return back(R::REPORT, f);
    };
    let table = R::file(&web.store, &c.filter, a, d.export).await;
    let base = format!("{}-{}", R::REPORT.file(), d.api);
    let name = form_file_name(&base, &form, &c.filter.period);
    deliver_named(v, f, R::REPORT, name, table, xlsx).await
}

/// The shared form read with a report's own fields: `asked` reads and checks them; `render`
/// puts them into the form (`Form::extra`) with the problem the page shows (the shared
/// form's first). `Err` is a whole response, as [`read`]'s.
#[allow(clippy::type_complexity)]
async fn read_with<O, A>(
    web: &Web,
    v: &Viewer,
    f: &Fields,
    asked: impl FnOnce(&Fields, &'static text::Msgs) -> (O, Result<A, Problem>),
    render: impl FnOnce(&O, Option<&Problem>) -> askama::Result<String>,
) -> Result<(Form, Choices, Result<(Chosen, A), Problem>), Response> {
    let (mut form, choices, chosen) = read(web, v, f).await?;
    let (own, asked) = asked(f, v.t);
    let chosen = match (chosen, asked) {
        (Ok(c), Ok(a)) => Ok((c, a)),
        (Err(p), _) | (_, Err(p)) => Err(p),
    };
    form.extra = match render(&own, chosen.as_ref().err()) {
        Ok(html) => html,
        Err(e) => return Err(v.failed(anyhow::anyhow!("template: {e}"))),
    };
    Ok((form, choices, chosen))
}

/// The report's view of a checked filter (`view`), or the problem to show; `Err` is a whole
/// response: not found (`view` gave none: a group or script not the user's), or a failure.
async fn shown<C, V, Fut>(
    v: &Viewer,
    chosen: Result<C, Problem>,
    view: impl FnOnce(C) -> Fut,
) -> Result<(Option<Problem>, Option<V>), Response>
where
    Fut: std::future::Future<Output = crate::store::Result<Option<V>>>,
{
    match chosen {
        Err(p) => Ok((Some(p), None)),
        Ok(c) => match view(c).await {
            Ok(Some(r)) => Ok((None, Some(r))),
            Ok(None) => Err(v.visit.not_found()),
            Err(e) => Err(v.failed(e)),
        },
    }
}

/// The links to the page's report as files: the page's filters without its page number.
struct Files {
    xlsx: String,
    csv: String,
    csv_point: String,
}

impl Files {
    /// `None` when the file would be over `export::MAX_ROWS` rows (`fits` false): the page
    /// says to narrow instead.
    fn of(report: Report, form: &Form, fits: bool) -> Option<Files> {
        Files::of_query(report, &form.query, fits)
    }

    /// The links with the query `q` (the filters, already encoded); `None` when not `fits`.
    fn of_query(report: Report, q: &str, fits: bool) -> Option<Files> {
        if !fits {
            return None;
        }
        let path = report.path();
        let and = if q.is_empty() { "" } else { "&" };
        Some(Files {
            xlsx: format!("{path}.xlsx?{q}"),
            csv: format!("{path}.csv?{q}"),
            csv_point: format!("{path}.csv?{q}{and}decimal=punktum"),
        })
    }
}

async fn availability_csv(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    availability_download(&web, &v, &f, false).await
}

async fn availability_xlsx(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    availability_download(&web, &v, &f, true).await
}

async fn usage_csv(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    usage_download(&web, &v, &f, false).await
}

async fn usage_xlsx(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    usage_download(&web, &v, &f, true).await
}

/// The page's availability, every PC of its filters, as the file the link asks for: the
/// API's `format=` file.
async fn availability_download(web: &Web, v: &Viewer, f: &Fields, xlsx: bool) -> Response {
    let report = Report::Availability;
    let (form, c) = match read_for_file(web, v, f, report).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let table = availability_file(&web.store, &c.filter, None, now_ms()).await;
    deliver(v, f, report, &form, &c.filter.period, table, xlsx).await
}

/// The page's usage as a file, as [`availability_download`].
async fn usage_download(web: &Web, v: &Viewer, f: &Fields, xlsx: bool) -> Response {
    let report = Report::Usage;
    let (form, c) = match read_for_file(web, v, f, report).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let table = usage_file(&web.store, &c.filter, form.idle).await;
    deliver(v, f, report, &form, &c.filter.period, table, xlsx).await
}

/// The page's form for a file; a filter the page would refuse goes back to the page.
async fn read_for_file(
    web: &Web,
    v: &Viewer,
    f: &Fields,
    report: Report,
) -> Result<(Form, Chosen), Response> {
    let (form, _, chosen) = read(web, v, f).await?;
    match chosen {
        Ok(c) => Ok((form, c)),
        Err(_) => Err(back(report, f)),
    }
}

/// A filter the page would refuse, or a file over the bound, goes back to the page, which
/// says why.
fn back(report: Report, f: &Fields) -> Response {
    let q = f.query_without(&["side", "decimal"]);
    let sep = if q.is_empty() { "" } else { "?" };
    Redirect::to(&format!("{}{sep}{q}", report.path())).into_response()
}

/// The table (or why there is none) as the file the link asks for: XLSX, or CSV with the
/// decimal comma unless `decimal=punktum`; named as the API names it.
async fn deliver(
    v: &Viewer,
    f: &Fields,
    report: Report,
    form: &Form,
    period: &Period,
    table: Result<crate::export::Table, crate::api::ApiError>,
    xlsx: bool,
) -> Response {
    let name = report.file_name(form, period);
    deliver_named(v, f, report, name, table, xlsx).await
}

/// The table as the file the link asks for, named `name` (without its ending).
async fn deliver_named(
    v: &Viewer,
    f: &Fields,
    report: Report,
    name: String,
    table: Result<crate::export::Table, crate::api::ApiError>,
    xlsx: bool,
) -> Response {
    let sent = match table {
        Ok(table) => send(table, file_output(f, xlsx), name).await,
        Err(e) => Err(e),
    };
    answered(v, f, report, sent)
}

/// The file a download link asks for: XLSX, or CSV with the form's decimals.
fn file_output(f: &Fields, xlsx: bool) -> Output {
    if xlsx {
        Output::Xlsx
    } else if f.one("decimal") == "punktum" {
        Output::Csv(Decimal::Point)
    } else {
        Output::Csv(Decimal::Comma)
    }
}

/// A file's answer for the browser: a filter the API refuses goes back to the page.
fn answered(
    v: &Viewer,
    f: &Fields,
    report: Report,
    sent: Result<Response, crate::api::ApiError>,
) -> Response {
    match sent {
        Ok(r) => r,
        Err(e) if e.status() == StatusCode::NOT_FOUND => v.visit.not_found(),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => back(report, f),
        Err(e) => v.failed(anyhow::anyhow!("a report file: {}", e.status())),
    }
}
