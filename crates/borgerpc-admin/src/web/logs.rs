//! A site's logs (site admins and up): the audit log (who changed what, when, with the
//! values before and after where a setting changed) and the login log of the site's users
//! (logins and failed attempts by the user name typed; never a password), each paged and
//! filtered by user and period. The site's customer's administrators (and superusers) see
//! the customer's own records without a site here too (a deleted site, a customer admin's
//! role), marked as the customer's; the site's administrators see the site's only.

use super::{Here, Pager, Section, Viewer, Web, text};
use crate::store::access::Role;
use crate::store::portal::LogFilter;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::TimeZone as _;
use serde::Deserialize;
use service_kit::web::time::local_time;

pub(super) fn routes() -> Router<Web> {
    Router::new().route("/steder/{site}/log", get(page))
}

/// The filters as the address carries them (`?vis=logins&bruger=anna&fra=2026-12-01`).
#[derive(Deserialize, Default)]
struct Filters {
    #[serde(default)]
    vis: String,
    #[serde(default)]
    bruger: String,
    #[serde(default)]
    fra: String,
    #[serde(default)]
    til: String,
    #[serde(default)]
    side: Option<i64>,
}

impl Filters {
    fn query(&self) -> String {
        let pairs = [
            ("vis", self.vis.as_str()),
            ("bruger", self.bruger.as_str()),
            ("fra", self.fra.as_str()),
            ("til", self.til.as_str()),
        ];
        super::filter_query(&pairs)
    }
}

/// The start of a day (`YYYY-MM-DD`) in Copenhagen, in ms; `days` later for an end.
fn day_start(text: &str, days: i64) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let date = date.checked_add_signed(chrono::Duration::days(days))?;
    let midnight = date.and_hms_opt(0, 0, 0)?;
    chrono_tz::Europe::Copenhagen
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
}

struct AuditLine {
    /// A record of the customer without a site, not the site's.
    of_customer: bool,
    at: String,
    actor: String,
    action: String,
    target: String,
    before: String,
    after: String,
}

struct LoginLine {
    at: String,
    username: String,
    address: String,
    verdict: &'static str,
    class: &'static str,
    outcome: String,
}

/// An outcome of `service_kit::web::account`'s login log in words, and whether the user
/// got in (a word as well as a colour: colour alone says nothing to some).
fn outcome(t: &text::Msgs, o: &str) -> (&'static str, &'static str, String) {
    let (verdict, class) = match o {
        "ok" | "ok_backup_code" | "enrolled" => (t.logs_success, "status-ok"),
        "password_ok" | "password_ok_enrol" => (t.logs_step, "status-warn"),
        _ => (t.logs_failure, "status-bad"),
    };
    let words = match o {
        "password_wrong" => t.outcome_password_wrong,
        "throttled" => t.outcome_throttled,
        "password_ok" => t.outcome_password_ok,
        "password_ok_enrol" => t.outcome_password_ok_enrol,
        "ok" => t.outcome_ok,
        "ok_backup_code" => t.outcome_ok_backup_code,
        "code_wrong" => t.outcome_code_wrong,
        "enrolled" => t.outcome_enrolled,
        "enrol_code_wrong" => t.outcome_enrol_code_wrong,
        other => return (verdict, class, other.to_owned()),
    };
    (verdict, class, words.to_owned())
}

#[derive(Template)]
#[template(path = "logs.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    f: &'a Filters,
    logins: bool,
    count: i64,
    audit: &'a [AuditLine],
    /// The customer's records without a site are shown too.
    with_customer: bool,
    login_lines: &'a [LoginLine],
    pager: &'a Pager,
    error: Option<String>,
}

/// Lines on a page of a log.
const PAGE_ROWS: i64 = 50;

async fn page(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Query(f): Query<Filters>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let logins = f.vis == "logins";
    let customer = (v.scope.superuser || v.scope.customers.contains(&site.customer_id))
        .then_some(site.customer_id);
    let from = (!f.fra.is_empty()).then(|| day_start(&f.fra, 0));
    let until = (!f.til.is_empty()).then(|| day_start(&f.til, 1));
    let mut error = None;
    if from == Some(None) || until == Some(None) {
        error = Some(format!(
            "{} / {} – {}",
            v.t.logs_from, v.t.logs_until, v.t.err_date
        ));
    }
    let who = f.bruger.trim().chars().take(160).collect::<String>();
    let filter = LogFilter {
        who: if logins || who.is_empty() || who.contains(':') {
            who
        } else {
            format!("user:{who}")
        },
        from: from.flatten(),
        until: until.flatten(),
    };
    let page = f.side.unwrap_or(1).max(1);
    let offset = (page - 1) * PAGE_ROWS;
    let lang = v.visit.lang();
    let (audit, login_lines, count) = if error.is_some() {
        (Vec::new(), Vec::new(), 0)
    } else if logins {
        match web
            .store
            .site_login_log(&site, &filter, PAGE_ROWS, offset)
            .await
        {
            Ok((rows, count)) => {
                let lines = rows
                    .into_iter()
                    .map(|l| {
                        let (verdict, class, outcome) = outcome(v.t, &l.outcome);
                        LoginLine {
                            at: local_time(l.at, lang),
                            username: l.username,
                            address: l.address,
                            verdict,
                            class,
                            outcome,
                        }
                    })
                    .collect();
                (Vec::new(), lines, count)
            }
            Err(e) => return v.failed(e),
        }
    } else {
        match web
            .store
            .site_audit_log(site.id, customer, &filter, PAGE_ROWS, offset)
            .await
        {
            Ok((rows, count)) => {
                let part = |d: &Option<serde_json::Value>, k: &str| {
                    d.as_ref()
                        .and_then(|d| d.get(k))
                        .filter(|v| !v.is_null())
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                };
                let lines = rows
                    .into_iter()
                    .map(|a| AuditLine {
                        of_customer: a.site_id.is_none(),
                        at: local_time(a.at, lang),
                        before: part(&a.detail, "before"),
                        after: part(&a.detail, "after"),
                        actor: a.actor,
                        action: a.action,
                        target: a.target,
                    })
                    .collect();
                (lines, Vec::new(), count)
            }
            Err(e) => return v.failed(e),
        }
    };
    let query = f.query();
    let path = format!("/steder/{}/log", site.uid);
    let pager = Pager::new(page, count, PAGE_ROWS, &path, &query);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t: v.t,
        site: &site.uid,
        f: &f,
        logins,
        count,
        audit: &audit,
        with_customer: customer.is_some(),
        login_lines: &login_lines,
        pager: &pager,
        error,
    };
    let here = Here {
        section: Section::Logs,
        site: Some(&site),
    };
    let title = format!("{} – {}", v.t.logs_title, site.name);
    v.page_with(&web, here, title, body, status, None).await
}
