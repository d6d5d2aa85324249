//! Scheduled report e-mails (issue 14): the scheduler that mails each due subscription
//! (`store::subscriptions`) its report as an XLSX file, for the previous week or month in
//! Copenhagen time, in the subscriber's language. It owns what is sent and when it is tried
//! again; the rows, the calendar and the claims are the store's.
//!
//! It works from the database, as the alert mailer does (`notify.rs`): a subscription is due
//! when its `next_attempt` has come, so a send that was due while the portal was down, or that
//! failed, is made later. One instance takes a subscription at a time (a claim that only one
//! UPDATE can win, then a lease: a crash while sending leaves it to be taken again when the
//! lease ends). `next_due` moves on only after the period's mail was sent; a failed send is
//! tried again after 5 minutes, 30 minutes, 2 hours and then every 6 hours until the next
//! period is due, when that period is given up (logged as an error).
//!
//! Before each send the subscriber's access is read again: a user who no longer sees the site
//! (or any site of the customer) gets nothing, and the subscription is marked so. The file is
//! the API's own (`api::reports::*_file`): counts per PC per day and PC names, never a job log
//! or an event's text; the mail names the report, the site or customer and the period. Log
//! lines carry the subscription's id, the report and the rows, never an address or a text an
//! SMTP server answered (it may quote the address).
//!
//! The clock is a parameter ([`tick`]'s `now`), so the tests say what time it is.

use crate::api::ApiError;
use crate::api::reports::changes::changes_count_tables;
use crate::api::reports::inventory::inventory_count_tables;
use crate::api::reports::jobs::jobs_count_tables;
use crate::api::reports::security::security_count_tables;
use crate::api::reports::{availability_file, file_name, usage_file};
use crate::export::{MAX_ROWS, Table, XLSX_TYPE, workbook};
use crate::notify::Mailer;
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::changes::ChangesFilter;
use crate::store::reports::inventory::{DEFAULT_EOL_DAYS, InventoryFilter};
use crate::store::reports::{Filter, MAX_LIMIT, Period, TIME_ZONE};
use crate::store::subscriptions::{Cadence, Outcome, ReportKind, SendNote, Subscription, Target};
use crate::text::{Msgs, msgs};
use axum::http::StatusCode;
use chrono::Datelike as _;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use service_kit::web::Lang;
use std::time::Duration;

/// How long one instance holds a subscription it is sending before another may take it.
pub const LEASE_MS: i64 = 10 * 60_000;
/// Subscriptions taken per round at most; a full round is followed by another at once.
pub const PER_ROUND: i64 = 50;
/// The waits after the 1st, 2nd, 3rd and each later failed attempt.
pub const BACKOFF_MS: [i64; 4] = [5 * 60_000, 30 * 60_000, 2 * 3_600_000, 6 * 3_600_000];

/// The wait after the `attempts`-th failure in a row.
pub fn backoff(attempts: i64) -> i64 {
    BACKOFF_MS[(attempts - 1).clamp(0, 3) as usize]
}

/// The report's tables for a filter, a sheet each: the functions a report kind plugs in with.
/// Availability and usage are the API's `format=xlsx` file (the pages' downloads too), one
/// row per PC per day; an export over `export::MAX_ROWS` is the API's 422, which [`build`]
/// turns into the "too large" mail. The other reports send their count tables only (the
/// API's `*_count_tables`): no job log, no event summary, no staff member's name, no PC's
/// row. The inventory is the PCs' state at `now`, whatever the period. `customers`: those whose
/// records the changes report reads whole (a customer's subscription, by its administrator):
/// its records without a site are counted too.
async fn tables(
    kind: ReportKind,
    store: &Store,
    f: &Filter,
    customers: &[i64],
    now: i64,
) -> Result<Vec<Table>, ApiError> {
    Ok(match kind {
        ReportKind::Availability => vec![availability_file(store, f, None, now).await?],
        ReportKind::Usage => vec![usage_file(store, f, false).await?],
        ReportKind::Jobs => jobs_count_tables(store, f).await?,
        ReportKind::Security => security_count_tables(store, f).await?,
        ReportKind::Changes => {
            let f = ChangesFilter {
                report: f.clone(),
                actor: None,
                action: None,
                portal_wide: false,
                customers: customers.to_vec(),
            };
            changes_count_tables(store, &f).await?
        }
        ReportKind::Inventory => {
            let f = InventoryFilter {
                sites: f.sites.clone(),
                group: f.group,
                page: f.page.clone(),
                product: None,
                release: None,
                eol_only: false,
                eol_days: DEFAULT_EOL_DAYS,
                min_client_version: None,
                outdated_only: false,
                today: local_today(now),
            };
            inventory_count_tables(store, &f).await?
        }
    })
}

fn local_today(now: i64) -> chrono::NaiveDate {
    use chrono::TimeZone as _;
    TIME_ZONE
        .timestamp_millis_opt(now)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// Whether the kind's file is one row per PC per day (availability, usage), or its count
/// tables, a sheet each; the mail says which.
fn per_pc_and_day(kind: ReportKind) -> bool {
    matches!(kind, ReportKind::Availability | ReportKind::Usage)
}

/// The report's page, for the mail's link.
fn page(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Availability => "/rapporter/tilgaengelighed",
        ReportKind::Usage => "/rapporter/brug",
        ReportKind::Jobs => "/rapporter/jobs",
        ReportKind::Security => "/rapporter/sikkerhed",
        ReportKind::Changes => "/rapporter/aendringer",
        ReportKind::Inventory => "/rapporter/inventar",
    }
}

fn report_name(kind: ReportKind, t: &Msgs) -> &'static str {
    match kind {
        ReportKind::Availability => t.reports_availability,
        ReportKind::Usage => t.reports_usage,
        ReportKind::Jobs => t.reports_jobs,
        ReportKind::Security => t.reports_security,
        ReportKind::Changes => t.reports_changes,
        ReportKind::Inventory => t.reports_inventory,
    }
}

pub(crate) fn cadence_name(c: Cadence, t: &Msgs) -> &'static str {
    match c {
        Cadence::Weekly => t.subs_weekly,
        Cadence::Monthly => t.subs_monthly,
    }
}

/// `template` with each `{name}` replaced by its value.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn date(d: chrono::NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Da => d.format("%d.%m.%Y").to_string(),
        Lang::En => d.format("%Y-%m-%d").to_string(),
    }
}

/// The period as the mail names it: "uge 48 2026 (23.11.2026 – 29.11.2026)", "oktober 2026".
pub(crate) fn period_name(cadence: Cadence, p: &Period, lang: Lang) -> String {
    let t = msgs(lang);
    let last = p.to.pred_opt().unwrap_or(p.to);
    match cadence {
        Cadence::Weekly => {
            let week = p.from.iso_week();
            fill(
                t.subs_mail_week,
                &[
                    ("week", &week.week().to_string()),
                    ("year", &week.year().to_string()),
                    ("from", &date(p.from, lang)),
                    ("to", &date(last, lang)),
                ],
            )
        }
        Cadence::Monthly => {
            let month = t
                .subs_mail_months
                .split(',')
                .nth(p.from.month0() as usize)
                .unwrap_or_default();
            fill(
                t.subs_mail_month,
                &[("month", month), ("year", &p.from.year().to_string())],
            )
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Due subscriptions read (a full round is followed by another).
    pub looked_at: usize,
    /// Mails sent (with the file, or saying it is too large).
    pub sent: usize,
    /// Sends that failed and will be tried again.
    pub failed: usize,
    /// Subscriptions whose user no longer sees its sites, or has no address: nothing sent.
    pub skipped: usize,
    /// Periods given up because the next one was due.
    pub gave_up: usize,
}

/// The report built for one send.
enum Built {
    /// The workbook, its rows (all sheets') and its sheets' names.
    File {
        xlsx: Vec<u8>,
        rows: usize,
        sheets: Vec<&'static str>,
    },
    TooLarge,
}

/// Builds the report's XLSX (written off the async workers), or says it is over the bound.
async fn build(
    kind: ReportKind,
    store: &Store,
    f: &Filter,
    customers: &[i64],
    now: i64,
) -> Result<Built, anyhow::Error> {
    let tables = match tables(kind, store, f, customers, now).await {
        Ok(t) => t,
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => return Ok(Built::TooLarge),
        Err(e) => anyhow::bail!("the report answered {}", e.status()),
    };
    let rows = tables.iter().map(|t| t.rows.len()).sum();
    let sheets = tables.iter().map(|t| t.sheet).collect();
    let xlsx = tokio::task::spawn_blocking(move || workbook(&tables)).await??;
    Ok(Built::File { xlsx, rows, sheets })
}

/// Everything a mail says, in the subscriber's language.
struct Letter<'a> {
    s: &'a Subscription,
    period: Period,
    /// How the mail names the site or customer.
    scope: String,
    portal_url: Option<&'a str>,
    file: String,
}

impl Letter<'_> {
    fn subject(&self) -> String {
        let lang = self.s.language;
        let t = msgs(lang);
        fill(
            t.subs_mail_subject,
            &[
                ("report", report_name(self.s.report, t)),
                ("scope", &self.scope),
                ("period", &period_name(self.s.cadence, &self.period, lang)),
            ],
        )
    }

    /// The page of the report with the period's filters (the page's "til" is the last day).
    fn link(&self) -> Option<String> {
        let url = self.portal_url?;
        let last = self.period.to.pred_opt().unwrap_or(self.period.to);
        let scope = match self.s.target() {
            Target::Site(_) => format!("sted={}", self.s.site_uid.as_deref().unwrap_or_default()),
            Target::Customer(c) => format!("kunde={c}"),
        };
        Some(format!(
            "{url}{}?{scope}&fra={}&til={last}",
            page(self.s.report),
            self.period.from
        ))
    }

    fn body(&self, rows: Option<(usize, &[&str])>) -> String {
        let lang = self.s.language;
        let t = msgs(lang);
        let number = |n: usize| match lang {
            Lang::Da => group_digits(n, '.'),
            Lang::En => group_digits(n, ','),
        };
        let mut out = fill(
            t.subs_mail_intro,
            &[
                ("report", report_name(self.s.report, t)),
                ("scope", &self.scope),
                ("period", &period_name(self.s.cadence, &self.period, lang)),
            ],
        );
        out.push_str("\n\n");
        out.push_str(&match rows {
            Some((rows, _)) if per_pc_and_day(self.s.report) => fill(
                t.subs_mail_attached,
                &[("file", &self.file), ("rows", &number(rows))],
            ),
            Some((_, sheets)) => fill(
                t.subs_mail_attached_tables,
                &[("file", &self.file), ("sheets", &sheets.join(", "))],
            ),
            None => fill(t.subs_mail_too_large, &[("max", &number(MAX_ROWS))]),
        });
        out.push_str("\n\n");
        out.push_str(&match self.link() {
            Some(link) => fill(t.subs_mail_link, &[("link", &link)]),
            None => t.subs_mail_no_link.to_owned(),
        });
        out.push_str("\n\n");
        out.push_str(&fill(
            t.subs_mail_why,
            &[("cadence", &cadence_name(self.s.cadence, t).to_lowercase())],
        ));
        if let Some(url) = self.portal_url {
            out.push('\n');
            out.push_str(&fill(
                t.subs_mail_manage,
                &[("link", &format!("{url}/rapporter/abonnementer"))],
            ));
        }
        out.push('\n');
        out
    }

    fn message(&self, from: &Mailbox, to: Mailbox, built: Built) -> anyhow::Result<Message> {
        let (rows, sheets, file) = match built {
            Built::File { xlsx, rows, sheets } => (Some(rows), sheets, Some(xlsx)),
            Built::TooLarge => (None, Vec::new(), None),
        };
        // Quoted-printable keeps the text readable in the raw mail, as the alerts'.
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(self.body(rows.map(|r| (r, sheets.as_slice()))));
        let m = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(self.subject());
        Ok(match file {
            Some(xlsx) => m.multipart(MultiPart::mixed().singlepart(text).singlepart(
                Attachment::new(self.file.clone()).body(xlsx, ContentType::parse(XLSX_TYPE)?),
            ))?,
            None => m.singlepart(text)?,
        })
    }
}

/// `n` with a separator between thousands: 100.000 in Danish.
fn group_digits(n: usize, sep: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// One round at `now`: every due subscription (up to [`PER_ROUND`]) that this instance
/// claims is sent, skipped or scheduled for another attempt.
pub async fn tick(store: &Store, mailer: &Mailer, now: i64) -> anyhow::Result<Round> {
    let mut round = Round::default();
    let due = store.due_subscriptions(now, PER_ROUND).await?;
    round.looked_at = due.len();
    for s in &due {
        let lease = now + LEASE_MS;
        if !store
            .claim_subscription(s.id, s.next_attempt, lease)
            .await?
        {
            continue;
        }
        let outcome = send_one(store, mailer, s, now, &mut round).await;
        if !store.finish_subscription(s.id, lease, outcome).await? {
            tracing::warn!(
                subscription = s.id,
                "scheduled report: the claim ended before the outcome was written"
            );
        }
    }
    Ok(round)
}

/// One claimed subscription: its period's mail, and what to write back.
async fn send_one(
    store: &Store,
    mailer: &Mailer,
    s: &Subscription,
    now: i64,
    round: &mut Round,
) -> Outcome {
    let report = s.report.as_str();
    // The period to send: the one `next_due` is for, unless a later one is due by now (the
    // portal was down, or sends failed until then): the earlier are given up.
    let latest = s.cadence.due_at_or_before(now);
    let (due, attempts, gave_up) = if latest > s.next_due {
        round.gave_up += 1;
        metrics::counter!("borgerpc_report_mails_given_up_total").increment(1);
        tracing::error!(
            subscription = s.id,
            report,
            attempts = s.attempts,
            "scheduled report: gave up a period's mail, the next period is due"
        );
        (latest, 0, true)
    } else {
        (s.next_due, s.attempts, false)
    };
    let next_period = s.cadence.due_after(due);
    let done = |note: Option<SendNote>, sent_at: Option<i64>| Outcome {
        next_due: next_period,
        next_attempt: next_period,
        attempts: 0,
        last_error: if gave_up {
            Some(SendNote::GaveUp)
        } else {
            note
        },
        sent_at,
    };
    let skip = |note: SendNote, round: &mut Round| {
        round.skipped += 1;
        tracing::warn!(
            subscription = s.id,
            report,
            why = note.as_str(),
            "scheduled report not sent"
        );
        done(Some(note), None)
    };
    // A failure is the period's attempt `failures`; the next one waits its backoff, but never
    // past the next period's due time, when this one is given up.
    let failures = attempts + 1;
    let retry = |note: SendNote, round: &mut Round| {
        round.failed += 1;
        Outcome {
            next_due: due,
            next_attempt: (now + backoff(failures)).min(next_period),
            attempts: failures,
            last_error: Some(note),
            sent_at: None,
        }
    };

    // Who the subscriber is now, and which of the sites they still see.
    let (email, scope) = match store.subscriber(s.user_id).await {
        Ok(Some(x)) => x,
        Ok(None) => return skip(SendNote::NoAccess, round),
        Err(e) => {
            tracing::warn!(subscription = s.id, report, error = %e, "scheduled report: reading the subscriber failed; will retry");
            return retry(SendNote::Report, round);
        }
    };
    // Only the sites where they may read this report (the changes report: administrators).
    let Some(scope) = s.report.readers_scope(&scope) else {
        return skip(SendNote::NoAccess, round);
    };
    let sites: Vec<i64> = match s.target() {
        Target::Site(site) => [site].into_iter().filter(|x| scope.sees(*x)).collect(),
        Target::Customer(c) => match store.sites(Some(c)).await {
            Ok(all) => all
                .into_iter()
                .map(|x| x.id)
                .filter(|x| scope.sees(*x))
                .collect(),
            Err(e) => {
                tracing::warn!(subscription = s.id, report, error = %e, "scheduled report: reading the sites failed; will retry");
                return retry(SendNote::Report, round);
            }
        },
    };
    if sites.is_empty() {
        return skip(SendNote::NoAccess, round);
    }
    let Ok(to) = email.trim().parse::<Mailbox>() else {
        return skip(SendNote::NoEmail, round);
    };

    let period = s.cadence.period(due);
    let f = Filter {
        sites,
        group: None,
        period,
        page: Page {
            limit: MAX_LIMIT,
            offset: 0,
        },
    };
    // A customer's subscriber who administers it reads its records without a site too.
    let customers: Vec<i64> = match s.target() {
        Target::Customer(c) if scope.customers.contains(&c) => vec![c],
        _ => Vec::new(),
    };
    let built = match build(s.report, store, &f, &customers, now).await {
        Ok(b) => b,
        Err(e) => {
            metrics::counter!("borgerpc_report_mail_errors_total").increment(1);
            tracing::warn!(subscription = s.id, report, attempts = failures, error = %e, "scheduled report could not be built; will retry");
            return retry(SendNote::Report, round);
        }
    };
    let rows = match &built {
        Built::File { rows, .. } => Some(*rows),
        Built::TooLarge => None,
    };
    let t = msgs(s.language);
    let customer = s.customer_id.to_string();
    let letter = Letter {
        s,
        period,
        scope: match &s.site_name {
            Some(name) => name.clone(),
            None => fill(t.subs_mail_customer, &[("name", &s.customer_name)]),
        },
        portal_url: mailer.portal_url(),
        file: format!(
            "{}.xlsx",
            file_name(
                report,
                s.site_uid.as_deref(),
                Some(customer.as_str()),
                &period
            )
        ),
    };
    let message = match letter.message(mailer.sender(), to, built) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(subscription = s.id, report, error = %e, "scheduled report: the mail could not be written; will retry");
            return retry(SendNote::Report, round);
        }
    };
    match mailer.send(message).await {
        Ok(()) => {
            round.sent += 1;
            metrics::counter!("borgerpc_report_mails_total").increment(1);
            tracing::info!(subscription = s.id, report, rows, "scheduled report mailed");
            done(rows.is_none().then_some(SendNote::TooLarge), Some(now))
        }
        Err(e) => {
            metrics::counter!("borgerpc_report_mail_errors_total").increment(1);
            // The reply's code and kind only: its text may quote the address.
            let code = e.status().map(|c| c.to_string());
            let kind = if e.is_transient() {
                "transient"
            } else if e.is_permanent() {
                "permanent"
            } else if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            };
            tracing::warn!(
                subscription = s.id,
                report,
                rows,
                attempts = failures,
                smtp_code = code.as_deref().unwrap_or("-"),
                smtp_error = kind,
                "scheduled report not mailed; will retry"
            );
            retry(SendNote::Smtp, round)
        }
    }
}

/// Sends due subscriptions every `every` until the task is aborted.
pub async fn run(store: Store, mailer: Mailer, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        loop {
            match tick(&store, &mailer, service_kit::db::now_ms()).await {
                Ok(r) if r.looked_at as i64 >= PER_ROUND => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled reports: a round failed");
                    break;
                }
            }
        }
    }
}
