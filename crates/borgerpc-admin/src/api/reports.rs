//! Reports as JSON for BI tools (issue 14): availability and usage of a site, a customer's
//! sites or everything the caller reads, for a period of local dates, optionally one group,
//! one page of PCs at a time. The figures are `store::reports`'; this module reads and checks
//! the query, naming the parameter it refuses.

use super::{ApiError, ApiResult, Caller, QueryIn, Reader, not_found, ok, query, unprocessable};
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::{Filter, MAX_LIMIT, Period, TIME_ZONE};
use axum::extract::State;
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
    /// The filter: the sites asked for within the caller's (another customer's site or
    /// customer is 404, as a missing one), the period, the group and the page.
    async fn filter(&self, store: &Store, c: &Caller<Reader>) -> Result<Filter, ApiError> {
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

pub(super) async fn availability(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ReportQuery>,
) -> ApiResult {
    let q = query(q)?;
    if q.idle.is_some() {
        return Err(unprocessable("idle: is a filter of the usage report"));
    }
    let f = q.filter(&store, &c).await?;
    let since = q
        .not_seen_since
        .as_deref()
        .map(|s| date("not_seen_since", s))
        .transpose()?;
    let report = store
        .availability_report(&f, since, service_kit::db::now_ms())
        .await?;
    ok(report.ok_or_else(not_found)?)
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
    let f = q.filter(&store, &c).await?;
    ok(store.usage_report(&f, idle).await?.ok_or_else(not_found)?)
}
