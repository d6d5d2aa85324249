//! The user's report subscriptions (issue 14, scheduled reports): the list of their own, with
//! when each was last sent, when it is next due and its last problem, a form to add one (a
//! report of a site or of all their sites at a customer, weekly or monthly) and a button to
//! delete one. The rows and their rules (bound per user, one per report, scope and cadence,
//! audited) are `store::subscriptions`'; the mails are `report_mail`'s.
//!
//! A user subscribes only what they see: another customer's site or customer is "not found",
//! as a missing one, and someone else's subscription too. The report pages link here with
//! their report and site (or customer) chosen.

use super::super::{Fields, Here, Problem, Section, Viewer, Web, refusal, refusal_text, text};
use crate::report_mail::{cadence_name, fill};
use crate::store::subscriptions::{Cadence, ReportKind, SendNote, Subscription, Target};
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use service_kit::db::now_ms;
use service_kit::web::Form;
use service_kit::web::time::local_time;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/rapporter/abonnementer", get(list).post(create))
        .route("/rapporter/abonnementer/slet", post(delete))
}

const PATH: &str = "/rapporter/abonnementer";

/// A report as the form and the report pages' addresses name it.
fn slug(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Availability => "tilgaengelighed",
        ReportKind::Usage => "brug",
        ReportKind::Jobs => "jobs",
        ReportKind::Security => "sikkerhed",
        ReportKind::Changes => "aendringer",
        ReportKind::Inventory => "inventar",
    }
}

fn report_label(kind: ReportKind, t: &text::Msgs) -> &'static str {
    match kind {
        ReportKind::Availability => t.reports_availability,
        ReportKind::Usage => t.reports_usage,
        ReportKind::Jobs => t.reports_jobs,
        ReportKind::Security => t.reports_security,
        ReportKind::Changes => t.reports_changes,
        ReportKind::Inventory => t.reports_inventory,
    }
}

fn cadence_slug(c: Cadence) -> &'static str {
    match c {
        Cadence::Weekly => "uge",
        Cadence::Monthly => "maaned",
    }
}

fn note_text(n: SendNote, t: &text::Msgs) -> &'static str {
    match n {
        SendNote::Smtp => t.subs_note_smtp,
        SendNote::Report => t.subs_note_report,
        SendNote::NoAccess => t.subs_note_no_access,
        SendNote::NoEmail => t.subs_note_no_email,
        SendNote::GaveUp => t.subs_note_gave_up,
        SendNote::TooLarge => t.subs_note_too_large,
    }
}

/// A choice in a `<select>`: value, label, selected.
type Choice = (String, String, bool);

/// One subscription as the list shows it.
struct Line {
    id: i64,
    report: &'static str,
    scope: String,
    cadence: &'static str,
    last_sent: String,
    next: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "report_subscriptions.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    /// No SMTP server is configured: nothing is sent.
    no_smtp: bool,
    no_email: bool,
    lines: Vec<Line>,
    reports: Vec<Choice>,
    customers: Vec<Choice>,
    sites: Vec<Choice>,
    cadences: Vec<Choice>,
    problem: Option<&'a Problem>,
}

/// What the form holds: as entered after a refusal, or as a report page's link chose it.
#[derive(Default)]
struct Draft {
    report: String,
    scope: String,
    cadence: String,
}

async fn list(State(web): State<Web>, v: Viewer, Query(f): Query<Fields>) -> Response {
    // A report page's link names the report and its site (`sted`) or customer (`kunde`).
    let draft = Draft {
        report: f.one("rapport").to_owned(),
        scope: match (f.one("sted"), f.one("kunde")) {
            ("", "") => String::new(),
            ("", customer) => format!("kunde:{customer}"),
            (site, _) => format!("sted:{site}"),
        },
        cadence: f.one("hyppighed").to_owned(),
    };
    let notice = match (f.one("ny").parse::<i64>(), f.one("slettet")) {
        (Ok(id), _) => Some(Notice::Created(id)),
        (_, "ja") => Some(Notice::Deleted),
        _ => None,
    };
    show(&web, &v, &draft, None, notice).await
}

/// What the page says above itself after a change (the change redirects here).
enum Notice {
    /// The subscription just made: its first send time is said.
    Created(i64),
    Deleted,
}

async fn show(
    web: &Web,
    v: &Viewer,
    draft: &Draft,
    problem: Option<Problem>,
    notice: Option<Notice>,
) -> Response {
    let t = v.t;
    let lang = v.visit.lang();
    let Some(user_id) = v.scope.user_id else {
        return v.visit.not_found();
    };
    let (mine, email, sites, customers) = match async {
        let mine = web.store.subscriptions_of(user_id).await?;
        let email = web.store.user_email(user_id).await?.unwrap_or_default();
        let sites = web.store.sites(None).await?;
        let customers = web.store.customers().await?;
        Ok::<_, crate::store::Error>((mine, email, sites, customers))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let scope_label = |s: &Subscription| match &s.site_name {
        Some(name) => name.clone(),
        None => fill(t.subs_customer_choice, &[("name", &s.customer_name)]),
    };
    let notice = notice.and_then(|n| match n {
        Notice::Created(id) => mine
            .iter()
            .find(|s| s.id == id)
            .map(|s| fill(t.subs_created, &[("at", &local_time(s.next_due, lang))])),
        Notice::Deleted => Some(t.subs_deleted.to_owned()),
    });
    let lines = mine
        .iter()
        .map(|s| Line {
            id: s.id,
            report: report_label(s.report, t),
            scope: scope_label(s),
            cadence: cadence_name(s.cadence, t),
            last_sent: s
                .last_sent
                .map_or_else(|| t.subs_not_yet.to_owned(), |at| local_time(at, lang)),
            next: local_time(s.next_due, lang),
            problem: match s.last_error {
                None => String::new(),
                Some(n) if s.attempts > 0 => format!(
                    "{} ({})",
                    note_text(n, t),
                    fill(t.subs_retry, &[("at", &local_time(s.next_attempt, lang))])
                ),
                Some(n) => note_text(n, t).to_owned(),
            },
        })
        .collect();
    let seen: Vec<_> = sites.iter().filter(|s| v.scope.sees(s.id)).collect();
    let mut site_choices: Vec<Choice> = seen
        .iter()
        .map(|s| {
            let value = format!("sted:{}", s.uid);
            let on = value == draft.scope;
            (value, s.name.clone(), on)
        })
        .collect();
    site_choices.sort_by(|a, b| a.1.cmp(&b.1));
    let customer_choices: Vec<Choice> = customers
        .iter()
        .filter(|c| seen.iter().any(|s| s.customer_id == c.id))
        .map(|c| {
            let value = format!("kunde:{}", c.id);
            let on = value == draft.scope;
            let label = fill(t.subs_customer_choice, &[("name", &c.name)]);
            (value, label, on)
        })
        .collect();
    // The reports the user may read somewhere (the changes report: site administrators).
    let reports = ReportKind::ALL
        .iter()
        .filter(|k| k.readers_scope(&v.scope).is_some())
        .map(|k| {
            let value = slug(*k);
            (
                value.to_owned(),
                report_label(*k, t).to_owned(),
                value == draft.report,
            )
        })
        .collect();
    let cadences = Cadence::ALL
        .iter()
        .map(|c| {
            let value = cadence_slug(*c);
            (
                value.to_owned(),
                cadence_name(*c, t).to_owned(),
                value == draft.cadence,
            )
        })
        .collect();
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t,
        csrf: v.visit.csrf(),
        no_smtp: !web.mails,
        no_email: email.trim().is_empty(),
        lines,
        reports,
        customers: customer_choices,
        sites: site_choices,
        cadences,
        problem: problem.as_ref(),
    };
    let here = Here {
        section: Section::Reports,
        site: None,
    };
    v.page_with(web, here, t.subs_title, body, status, notice)
        .await
}

#[derive(serde::Deserialize)]
struct NewSubscription {
    #[serde(default)]
    rapport: String,
    #[serde(default)]
    omfang: String,
    #[serde(default)]
    hyppighed: String,
}

async fn create(State(web): State<Web>, v: Viewer, Form(f): Form<NewSubscription>) -> Response {
    let t = v.t;
    let draft = Draft {
        report: f.rapport.trim().to_owned(),
        scope: f.omfang.trim().to_owned(),
        cadence: f.hyppighed.trim().to_owned(),
    };
    let refused = |field: &str, label: &str| Some(Problem::new(field, label, t.subs_choose));
    let Some(report) = ReportKind::ALL
        .into_iter()
        .find(|k| slug(*k) == draft.report)
    else {
        return show(&web, &v, &draft, refused("rapport", t.subs_report), None).await;
    };
    let Some(cadence) = Cadence::ALL
        .into_iter()
        .find(|c| cadence_slug(*c) == draft.cadence)
    else {
        return show(&web, &v, &draft, refused("hyppighed", t.subs_cadence), None).await;
    };
    // Another customer's site or customer is "not found", as one that does not exist.
    let target = match draft.scope.split_once(':') {
        Some(("sted", uid)) => match web.store.site_by_uid(uid).await {
            Ok(Some(site)) if v.scope.sees(site.id) => Target::Site(site.id),
            Ok(_) => return v.visit.not_found(),
            Err(e) => return v.failed(e),
        },
        Some(("kunde", id)) => match id.parse::<i64>() {
            Ok(id) => Target::Customer(id),
            Err(_) => return show(&web, &v, &draft, refused("omfang", t.subs_scope), None).await,
        },
        _ => return show(&web, &v, &draft, refused("omfang", t.subs_scope), None).await,
    };
    let made = web
        .store
        .create_subscription(&v.scope, report, target, cadence, v.visit.lang(), now_ms())
        .await;
    match made {
        Ok(Some(s)) => Redirect::to(&format!("{PATH}?ny={}", s.id)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(r) => {
                let labels = [
                    ("subscriptions", t.subs_yours),
                    ("subscription", t.subs_add),
                ];
                let problem = Problem {
                    field: String::new(),
                    text: refusal_text(&r, t, &labels),
                };
                show(&web, &v, &draft, Some(problem), None).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(serde::Deserialize)]
struct Delete {
    #[serde(default)]
    id: String,
}

async fn delete(State(web): State<Web>, v: Viewer, Form(f): Form<Delete>) -> Response {
    let Ok(id) = f.id.trim().parse::<i64>() else {
        return v.visit.not_found();
    };
    match web.store.delete_subscription(&v.scope, id).await {
        Ok(Some(())) => Redirect::to(&format!("{PATH}?slettet=ja")).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => v.failed(e),
    }
}
