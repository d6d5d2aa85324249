//! The inventory page (issue 14, report 3): the PCs' product, Ubuntu release, agent and
//! hardware for one site or all the user sees, optionally one group, with the releases that
//! need attention (support ended, ending within 180 days, unknown) and agents older than a
//! version flagged. Three SVG bar charts (per release, agent version and product), each with
//! its numbers in a table beside it, the commonest models, the PCs per site, and one page of
//! PCs at a time linking to each PC's page. A release, a product or a site in a table narrows
//! the filter to it (drill-down), keeping the other filters.
//!
//! The figures are `store::reports::inventory`'s, as the JSON API gives them; the form is the
//! reports' shared one (`read`, `report_filters.html`) with this report's fields put in as
//! `Form::extra`, and without the period, which an inventory does not have (the address
//! carries it along for the other reports' tabs).
//!
//! Download: every PC of the filters as the API's file (`/rapporter/inventar.csv|.xlsx`),
//! named as the API names it (the day it was judged on, not a period).

use super::super::chart::{Bars, bar_chart};
use super::super::{Fields, Here, Pager, Problem, Section, Viewer, Web, text};
use super::{
    Choice, Choices, Chosen, Files, Form, ROWS, Report, answered, back, file_output, read,
};
use crate::api::reports::inventory::inventory_file;
use crate::api::reports::{download, scope};
use crate::store::reports::inventory::{
    ClientCheck, DEFAULT_EOL_DAYS, Inventory, InventoryFilter, Support, Version,
};
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use service_kit::web::Lang;
use service_kit::web::time::local_time;

const PATH: &str = "/rapporter/inventar";

#[derive(Template)]
#[template(path = "report_inventory.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    form: &'a Form,
    choices: &'a Choices,
    problem: Option<&'a Problem>,
    report: Option<View>,
}

/// A bar's row in the table beside a chart: its label, the link that narrows the filter to
/// it (if any), PCs, and a note (the support's end and state, the agent's check).
struct CountRow {
    label: String,
    href: Option<String>,
    pcs: i64,
    note: String,
    /// The note is a warning (support ended or unknown, an old agent).
    bad: bool,
}

struct View {
    count: i64,
    ended: i64,
    ends_soon: i64,
    unknown_release: i64,
    /// Agents older than the chosen version, and of unknown version (with a version only).
    outdated: Option<(String, i64, i64)>,
    release_chart: String,
    releases: Vec<CountRow>,
    version_chart: String,
    versions: Vec<CountRow>,
    product_chart: String,
    products: Vec<CountRow>,
    models: Vec<(String, String, i64)>,
    other_models: i64,
    sites: Vec<CountRow>,
    pcs: Vec<Line>,
    pager: Pager,
    files: Option<Files>,
}

/// One PC in the table.
struct Line {
    pc_id: i64,
    name: String,
    site: String,
    site_href: String,
    product: String,
    release: String,
    support: String,
    support_bad: bool,
    kernel: String,
    agent: String,
    agent_note: String,
    model: String,
    ram: String,
    updated: String,
    seen: String,
}

/// The page's address with `key` set to `value` and the page dropped: a drill-down that keeps
/// the other filters.
fn narrowed(f: &Fields, key: &str, value: &str) -> String {
    let mut pairs: Vec<(&str, &str)> =
        f.0.iter()
            .filter(|(k, v)| k != key && k != "side" && !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    pairs.push((key, value));
    format!(
        "{PATH}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

fn date(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Da => d.format("%d.%m.%Y").to_string(),
        Lang::En => d.format("%Y-%m-%d").to_string(),
    }
}

/// RAM as people say it: GB with one decimal in the language's way.
fn gigabytes(mb: i64, lang: Lang) -> String {
    let text = format!("{:.1} GB", mb as f64 / 1024.0);
    match lang {
        Lang::Da => text.replace('.', ","),
        Lang::En => text,
    }
}

/// A release's state as the tables say it, and whether it is a warning.
fn support_note(
    t: &text::Msgs,
    support: Support,
    ends: Option<NaiveDate>,
    lang: Lang,
) -> (String, bool) {
    let until = ends.map(|d| date(d, lang)).unwrap_or_default();
    match support {
        Support::Ended => (format!("{} {until}", t.reports_support_ended), true),
        Support::EndsSoon => (format!("{} {until}", t.reports_support_ends_soon), true),
        Support::Ok => (format!("{} {until}", t.reports_support_ok), false),
        Support::Unknown => (t.reports_support_unknown.to_owned(), true),
    }
}

fn check_note(t: &text::Msgs, check: Option<ClientCheck>) -> (String, bool) {
    match check {
        None => (String::new(), false),
        Some(ClientCheck::Outdated) => (t.reports_agent_outdated.to_owned(), true),
        Some(ClientCheck::Unknown) => (t.reports_agent_unknown.to_owned(), true),
        Some(ClientCheck::Ok) => (t.reports_agent_ok.to_owned(), false),
    }
}

/// The choices of a `<select>` from the values the PCs have: all, then each.
fn value_choices(all: &str, values: &[Option<String>], chosen: &str) -> Vec<Choice> {
    let mut out = vec![(String::new(), all.to_owned(), chosen.is_empty())];
    out.extend(
        values
            .iter()
            .flatten()
            .map(|v| (v.clone(), v.clone(), *v == chosen)),
    );
    // A value chosen that no PC has (any more) stays chosen, so the form shows the filter.
    if !chosen.is_empty() && !out.iter().any(|(v, _, _)| v == chosen) {
        out.push((chosen.to_owned(), chosen.to_owned(), true));
    }
    out
}

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/inventar", get(page))
        .route("/rapporter/inventar.csv", get(csv))
        .route("/rapporter/inventar.xlsx", get(xlsx))
}

/// The report's own fields as entered, for showing them again.
struct Own {
    product: String,
    release: String,
    eol: bool,
    older_than: String,
}

/// The report's own fields, put into the shared form (`Form::extra`): the product and release
/// choices are those of the sites and group, whatever else is chosen.
#[derive(Template)]
#[template(path = "report_inventory_filters.html")]
struct OwnFields<'a> {
    t: &'static text::Msgs,
    own: &'a Own,
    products: Vec<Choice>,
    releases: Vec<Choice>,
    problem: Option<&'a Problem>,
}

/// The report's own fields from the address, the filter without them (what the product and
/// release choices are of; `None` when the shared form has a problem) and the filter with
/// them and the page number, or the problem to show.
#[allow(clippy::type_complexity)]
fn filters(
    f: &Fields,
    t: &text::Msgs,
    chosen: Result<Chosen, Problem>,
) -> (
    Own,
    Option<InventoryFilter>,
    Result<(i64, InventoryFilter), Problem>,
) {
    let own = Own {
        product: f.one("produkt").trim().to_owned(),
        release: f.one("udgivelse").trim().to_owned(),
        eol: f.one("eol") == "ja",
        older_than: f.one("aeldre_end").trim().to_owned(),
    };
    let min = if own.older_than.is_empty() {
        Ok(None)
    } else {
        Version::parse(&own.older_than)
            .map(Some)
            .ok_or_else(|| Problem::new("aeldre_end", t.reports_older_than, t.reports_bad_version))
    };
    let today = chrono::Utc::now()
        .with_timezone(&crate::store::reports::TIME_ZONE)
        .date_naive();
    let c = match chosen {
        Ok(c) => c,
        Err(p) => return (own, None, Err(p)),
    };
    let base = InventoryFilter {
        sites: c.filter.sites.clone(),
        group: c.filter.group,
        page: c.filter.page.clone(),
        product: None,
        release: None,
        eol_only: false,
        eol_days: DEFAULT_EOL_DAYS,
        min_client_version: None,
        outdated_only: false,
        today,
    };
    let chosen = min.map(|min| {
        (
            c.page,
            InventoryFilter {
                product: (!own.product.is_empty()).then(|| own.product.clone()),
                release: (!own.release.is_empty()).then(|| own.release.clone()),
                eol_only: own.eol,
                outdated_only: min.is_some(),
                min_client_version: min,
                ..base.clone()
            },
        )
    });
    (own, Some(base), chosen)
}

async fn csv(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    file(&web, &v, &f, false).await
}

async fn xlsx(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    file(&web, &v, &f, true).await
}

/// Every PC of the page's filters as the file the link asks for: the API's `format=` file
/// (`min_client_version` with `outdated=true` for the form's "older than"), named as the API
/// names it. A filter the page would refuse goes back to the page.
async fn file(web: &Web, v: &Viewer, f: &Fields, xlsx: bool) -> Response {
    let (form, _, chosen) = match read(web, v, f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok((_, filter)) = filters(f, v.t, chosen).2 else {
        return back(Report::Inventory, f);
    };
    fn some(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    let name = format!(
        "inventory-{}-{}",
        scope(some(&form.site), some(&form.customer)),
        filter.today
    );
    let kind = file_output(f, xlsx).file_kind();
    let sent = inventory_file(&web.store, &filter, kind)
        .await
        .map(|body| download(kind, &name, body));
    answered(v, f, Report::Inventory, sent)
}

async fn page(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    let (mut form, choices, chosen) = match read(&web, &v, &f).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let t = v.t;
    let lang = v.visit.lang();
    let (own, base, chosen) = filters(&f, t, chosen);
    let report = match &chosen {
        Err(_) => None,
        Ok((_, filter)) => match web.store.inventory_report(filter).await {
            Ok(Some(r)) => Some(r),
            Ok(None) => return v.visit.not_found(),
            Err(e) => return v.failed(e),
        },
    };
    let narrowed_by_own =
        !own.product.is_empty() || !own.release.is_empty() || own.eol || !own.older_than.is_empty();
    let (products, releases) = match (&report, base) {
        (Some(r), _) if !narrowed_by_own => values(r),
        (_, Some(base)) => {
            let counts_only = InventoryFilter {
                page: crate::store::operator::Page {
                    limit: 0,
                    offset: 0,
                },
                ..base
            };
            match web.store.inventory_report(&counts_only).await {
                Ok(Some(a)) => values(&a),
                Ok(None) => return v.visit.not_found(),
                Err(e) => return v.failed(e),
            }
        }
        _ => (Vec::new(), Vec::new()),
    };
    let problem = chosen.as_ref().err();
    form.extra = match (OwnFields {
        t,
        own: &own,
        products: value_choices(t.all, &products, &own.product),
        releases: value_choices(t.all, &releases, &own.release),
        problem,
    })
    .render()
    {
        Ok(html) => html,
        Err(e) => return v.failed(anyhow::anyhow!("template: {e}")),
    };
    let view = match (&chosen, report) {
        (Ok((page, _)), Some(r)) => Some(view(t, lang, &f, &form, *page, r)),
        _ => None,
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t,
        form: &form,
        choices: &choices,
        problem,
        report: view,
    };
    let here = Here {
        section: Section::Reports,
        site: None,
    };
    v.page_with(&web, here, t.reports_inventory, body, status, None)
        .await
}

/// The products and the releases of a report's counts.
fn values(r: &Inventory) -> (Vec<Option<String>>, Vec<Option<String>>) {
    (
        r.by_product.iter().map(|p| p.value.clone()).collect(),
        r.by_release.iter().map(|p| p.value.clone()).collect(),
    )
}

/// The top of a chart of PCs: four equal steps of a whole, round number of PCs (the chart's
/// own axis would tick 1.25 PCs for five).
fn count_axis(largest: f64) -> f64 {
    let quarter = (largest / 4.0).max(1.0);
    let magnitude = 10f64.powf(quarter.log10().floor());
    let step = [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .filter(|s| s.fract() == 0.0)
        .find(|s| *s >= quarter)
        .unwrap_or(10.0 * magnitude);
    step * 4.0
}

fn view(t: &text::Msgs, lang: Lang, f: &Fields, form: &Form, page: i64, r: Inventory) -> View {
    let label = |v: &Option<String>| v.clone().unwrap_or_else(|| t.reports_not_reported.into());
    let chart = |title: &str, desc: &str, rows: &[CountRow]| {
        let bars: Vec<(String, f64)> = rows
            .iter()
            .map(|c| (c.label.clone(), c.pcs as f64))
            .collect();
        let largest = bars.iter().map(|(_, n)| *n).fold(0.0, f64::max);
        bar_chart(&Bars {
            title,
            desc,
            bars: &bars,
            max: Some(count_axis(largest)),
            unit: "",
        })
    };
    let releases: Vec<CountRow> = r
        .by_release
        .iter()
        .map(|c| {
            let (note, bad) = support_note(t, c.support, c.support_ends, lang);
            CountRow {
                label: label(&c.value),
                href: c.value.as_deref().map(|v| narrowed(f, "udgivelse", v)),
                pcs: c.pcs,
                note,
                bad,
            }
        })
        .collect();
    let versions: Vec<CountRow> = r
        .by_client_version
        .iter()
        .map(|c| {
            let (note, bad) = check_note(t, c.check);
            CountRow {
                label: label(&c.value),
                href: None,
                pcs: c.pcs,
                note,
                bad,
            }
        })
        .collect();
    let products: Vec<CountRow> = r
        .by_product
        .iter()
        .map(|c| CountRow {
            label: label(&c.value),
            href: c.value.as_deref().map(|v| narrowed(f, "produkt", v)),
            pcs: c.pcs,
            note: String::new(),
            bad: false,
        })
        .collect();
    let sites = r
        .by_site
        .iter()
        .map(|s| CountRow {
            label: s.name.clone(),
            href: Some(narrowed(f, "sted", &s.site)),
            pcs: s.pcs,
            note: String::new(),
            bad: false,
        })
        .collect();
    let pcs = r
        .items
        .iter()
        .map(|p| {
            let (support, support_bad) =
                support_note(t, p.release_support, p.release_support_ends, lang);
            let model = [p.manufacturer.as_deref(), p.model.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            Line {
                pc_id: p.pc_id,
                name: p.name.clone(),
                site: p.site.clone(),
                site_href: narrowed(f, "sted", &p.site),
                product: p.product.clone().unwrap_or_default(),
                release: p.os_release.clone().unwrap_or_default(),
                support,
                support_bad,
                kernel: p.kernel_version.clone().unwrap_or_default(),
                agent: p.client_version.clone().unwrap_or_default(),
                agent_note: match check_note(t, p.client_check) {
                    (note, true) => note,
                    _ => String::new(),
                },
                model,
                ram: p.ram_mb.map(|mb| gigabytes(mb, lang)).unwrap_or_default(),
                updated: p.last_automatic_update.clone().unwrap_or_default(),
                seen: p
                    .last_seen
                    .map_or_else(|| t.never.to_owned(), |ms| local_time(ms, lang)),
            }
        })
        .collect();
    View {
        files: Files::of(
            Report::Inventory,
            form,
            r.count <= crate::export::MAX_ROWS as i64,
        ),
        count: r.count,
        ended: r.release_support.ended,
        ends_soon: r.release_support.ends_soon,
        unknown_release: r.release_support.unknown,
        outdated: r
            .client_check
            .as_ref()
            .zip(r.min_client_version.clone())
            .map(|(c, v)| (v, c.outdated, c.unknown)),
        release_chart: chart(t.reports_release_chart, t.reports_release_desc, &releases),
        releases,
        version_chart: chart(t.reports_version_chart, t.reports_version_desc, &versions),
        versions,
        product_chart: chart(t.reports_product_chart, t.reports_product_desc, &products),
        products,
        models: r
            .by_model
            .iter()
            .map(|m| (label(&m.manufacturer), label(&m.model), m.pcs))
            .collect(),
        other_models: r.other_models,
        sites,
        pcs,
        pager: Pager::new(page, r.count, ROWS, PATH, &form.query),
    }
}

#[cfg(test)]
mod tests {
    use super::count_axis;

    #[test]
    fn count_axes_have_whole_ticks() {
        assert_eq!(count_axis(0.0), 4.0);
        assert_eq!(count_axis(3.0), 4.0);
        assert_eq!(count_axis(5.0), 8.0);
        assert_eq!(count_axis(10.0), 12.0);
        assert_eq!(count_axis(17.0), 20.0);
        assert_eq!(count_axis(100_000.0), 100_000.0);
        assert_eq!(count_axis(100_001.0), 120_000.0);
    }
}
