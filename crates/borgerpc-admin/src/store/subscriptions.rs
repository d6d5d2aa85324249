//! Scheduled report e-mails (issue 14), the stored side: a user's subscriptions to a report of
//! a site or of a customer's sites, weekly or monthly, and the scheduler's claims and outcomes
//! on them (`report_subscriptions`, migration 12). This module owns the rows and the
//! calendar of a cadence (when a send is due, which period it reports); what is sent and how
//! is `crate::report_mail`'s.
//!
//! A subscription is the user's own: only they list or delete it, and they make it only for a
//! site or customer they see. Whether they still see it is checked again at every send (the
//! scheduler), since roles change after the subscription is made.
//!
//! Report kinds are an enum with one stored spelling each, so a report added later plugs in
//! as a variant here and its table function in `report_mail`.

use super::access::{Role, Scope};
use super::audit::{Record, record_in};
use super::reports::{Period, TIME_ZONE};
use super::{Error, Reason, Result, Store, conflict};
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone as _};
use service_kit::db::DbKind;
use service_kit::web::Lang;
use sqlx::Row as _;

/// The most subscriptions one user may have: a bound on the mails (and the report files) one
/// user can make the portal build.
pub const MAX_PER_USER: i64 = 20;
/// The local hour a period's mail is sent, the morning after it ends.
pub const SEND_HOUR: u32 = 6;

/// A report that can be subscribed to: its name as the API calls it (`/api/reports/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Availability,
    Usage,
    Jobs,
    Security,
    Changes,
    Inventory,
}

impl ReportKind {
    pub const ALL: [ReportKind; 6] = [
        ReportKind::Availability,
        ReportKind::Usage,
        ReportKind::Jobs,
        ReportKind::Security,
        ReportKind::Changes,
        ReportKind::Inventory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Availability => "availability",
            ReportKind::Usage => "usage",
            ReportKind::Jobs => "jobs",
            ReportKind::Security => "security",
            ReportKind::Changes => "changes",
            ReportKind::Inventory => "inventory",
        }
    }

    /// The least role that reads the report where it is, as its page and its API decide:
    /// the changes report (the audit log) is for site administrators and up, the others for
    /// anyone who sees the site. A subscription is made, and each mail sent, only for the
    /// sites where the user has it.
    pub fn least_role(self) -> Role {
        match self {
            ReportKind::Changes => Role::SiteAdmin,
            _ => Role::Reader,
        }
    }

    /// What the subscriber may read of this report now: their scope narrowed to the sites
    /// where they have [`ReportKind::least_role`]; `None` where they have it nowhere.
    pub fn readers_scope(self, scope: &Scope) -> Option<Scope> {
        scope.clone().narrowed(self.least_role())
    }

    fn from_db(text: &str) -> Result<ReportKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| Error::UnknownValue {
                column: "report_subscriptions.report",
                value: text.to_owned(),
            })
    }
}

/// How often a subscription is sent, and the period each mail covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// The previous ISO week (Monday to Sunday), sent on Monday morning.
    Weekly,
    /// The previous calendar month, sent on the 1st in the morning.
    Monthly,
}

/// The instant (Unix ms) `SEND_HOUR` begins on a local date: never in a DST gap, which in
/// Copenhagen is 02:00-03:00.
fn send_time(d: NaiveDate) -> i64 {
    let at = d.and_hms_opt(SEND_HOUR, 0, 0).unwrap_or_default();
    TIME_ZONE
        .from_local_datetime(&at)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| at.and_utc().timestamp_millis())
}

fn local_date(at: i64) -> NaiveDate {
    TIME_ZONE
        .timestamp_millis_opt(at)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

impl Cadence {
    pub const ALL: [Cadence; 2] = [Cadence::Weekly, Cadence::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
        }
    }

    fn from_db(text: &str) -> Result<Cadence> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| Error::UnknownValue {
                column: "report_subscriptions.cadence",
                value: text.to_owned(),
            })
    }

    /// The first day of the period (week or month) the local date is in.
    fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Weekly => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Cadence::Monthly => d.with_day(1).unwrap_or(d),
        }
    }

    fn after(self, start: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Weekly => start + Days::new(7),
            Cadence::Monthly => start + Months::new(1),
        }
    }

    fn before(self, start: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Weekly => start - Days::new(7),
            Cadence::Monthly => start - Months::new(1),
        }
    }

    /// The latest send time at or before `at` (Unix ms).
    pub fn due_at_or_before(self, at: i64) -> i64 {
        let start = self.start_of(local_date(at));
        let due = send_time(start);
        if due <= at {
            due
        } else {
            send_time(self.before(start))
        }
    }

    /// The first send time after `at`.
    pub fn due_after(self, at: i64) -> i64 {
        send_time(self.after(self.start_of(local_date(self.due_at_or_before(at)))))
    }

    /// The period a mail due at `due` reports: the whole week or month before its local date.
    pub fn period(self, due: i64) -> Period {
        let start = self.start_of(local_date(due));
        Period {
            from: self.before(start),
            to: start,
        }
    }
}

/// Why the last send of a subscription did not go as planned, as `last_error` keeps it: a
/// code, never an error's text (an SMTP server's answer may quote an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendNote {
    /// The SMTP server refused the mail or could not be reached: it is retried.
    Smtp,
    /// The report could not be read: it is retried.
    Report,
    /// The user no longer sees the site (or any of the customer's sites): nothing was sent.
    NoAccess,
    /// The user has no e-mail address: nothing was sent.
    NoEmail,
    /// A period's mail failed until the next period was due: that period was given up.
    GaveUp,
    /// The report was over the file bound: the mail said so and linked to the page instead.
    TooLarge,
}

impl SendNote {
    pub const ALL: [SendNote; 6] = [
        SendNote::Smtp,
        SendNote::Report,
        SendNote::NoAccess,
        SendNote::NoEmail,
        SendNote::GaveUp,
        SendNote::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SendNote::Smtp => "smtp",
            SendNote::Report => "report",
            SendNote::NoAccess => "no_access",
            SendNote::NoEmail => "no_email",
            SendNote::GaveUp => "gave_up",
            SendNote::TooLarge => "too_large",
        }
    }

    fn from_db(text: &str) -> Result<SendNote> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == text)
            .ok_or_else(|| Error::UnknownValue {
                column: "report_subscriptions.last_error",
                value: text.to_owned(),
            })
    }
}

/// What a subscription reports on: one site, or a customer's sites the user sees when the
/// mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Site(i64),
    Customer(i64),
}

/// A subscription as stored, with the names its list and its mail show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub user_id: i64,
    pub customer_id: i64,
    pub site_id: Option<i64>,
    pub report: ReportKind,
    pub cadence: Cadence,
    pub language: Lang,
    pub next_due: i64,
    pub next_attempt: i64,
    pub last_sent: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<SendNote>,
    pub created_at: i64,
    /// The site's uid and name (a site's subscription).
    pub site_uid: Option<String>,
    pub site_name: Option<String>,
    pub customer_name: String,
}

impl Subscription {
    pub fn target(&self) -> Target {
        match self.site_id {
            Some(s) => Target::Site(s),
            None => Target::Customer(self.customer_id),
        }
    }
}

const COLUMNS: &str = "r.id, r.user_id, r.customer_id, r.site_id, r.report, r.cadence, r.language,
    r.next_due, r.next_attempt, r.last_sent, r.attempts, r.last_error, r.created_at,
    s.uid AS site_uid, s.name AS site_name, c.name AS customer_name
    FROM report_subscriptions r JOIN customers c ON c.id = r.customer_id
    LEFT JOIN sites s ON s.id = r.site_id";

fn subscription_of(r: &sqlx::any::AnyRow) -> Result<Subscription> {
    let language: String = r.try_get("language")?;
    Ok(Subscription {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        customer_id: r.try_get("customer_id")?,
        site_id: r.try_get("site_id")?,
        report: ReportKind::from_db(&r.try_get::<String, _>("report")?)?,
        cadence: Cadence::from_db(&r.try_get::<String, _>("cadence")?)?,
        language: Lang::parse(&language).ok_or(Error::UnknownValue {
            column: "report_subscriptions.language",
            value: language.clone(),
        })?,
        next_due: r.try_get("next_due")?,
        next_attempt: r.try_get("next_attempt")?,
        last_sent: r.try_get("last_sent")?,
        attempts: r.try_get("attempts")?,
        last_error: r
            .try_get::<Option<String>, _>("last_error")?
            .as_deref()
            .map(SendNote::from_db)
            .transpose()?,
        created_at: r.try_get("created_at")?,
        site_uid: r.try_get("site_uid")?,
        site_name: r.try_get("site_name")?,
        customer_name: r.try_get("customer_name")?,
    })
}

/// A scheduler's outcome of one claimed subscription, written only while its claim holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub next_due: i64,
    pub next_attempt: i64,
    pub attempts: i64,
    pub last_error: Option<SendNote>,
    /// When the mail was sent, if it was.
    pub sent_at: Option<i64>,
}

impl Store {
    /// The user's own subscriptions, oldest first.
    pub async fn subscriptions_of(&self, user_id: i64) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE r.user_id = $1 ORDER BY r.id"
        )))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription_of).collect()
    }

    /// Subscribes the scope's user to `report` of `target`; the first mail is due at the first
    /// send time after `now`. `None` when the user does not see the site, or no site of the
    /// customer (the same as a missing one), or the scope is not a user's. Refused: more than [`MAX_PER_USER`], or the same
    /// report, target and cadence twice.
    pub async fn create_subscription(
        &self,
        scope: &Scope,
        report: ReportKind,
        target: Target,
        cadence: Cadence,
        language: Lang,
        now: i64,
    ) -> Result<Option<Subscription>> {
        // Only a user gets mail: an API key or the command line has no one to send it to.
        let Some(user_id) = scope.user_id else {
            return Ok(None);
        };
        // Only a report the user may read, on sites where they may read it.
        let Some(scope) = &report.readers_scope(scope) else {
            return Ok(None);
        };
        let (customer_id, site_id) = match target {
            Target::Site(id) => {
                let Some(site) = self.site(id).await? else {
                    return Ok(None);
                };
                if !scope.sees(site.id) {
                    return Ok(None);
                }
                (site.customer_id, Some(site.id))
            }
            Target::Customer(id) => {
                let seen = self.sites(Some(id)).await?.iter().any(|s| scope.sees(s.id));
                if !seen {
                    return Ok(None);
                }
                (id, None)
            }
        };
        let mut tx = self.db.begin_write().await?;
        // Two requests of one user at once count one after the other (SQLite's writer
        // order does that by itself).
        if self.kind() == DbKind::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let mine: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM report_subscriptions WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        if mine >= MAX_PER_USER {
            conflict!(
                "subscriptions",
                Reason::TooManySubscriptions {
                    max: MAX_PER_USER as usize
                }
            );
        }
        let same: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM report_subscriptions WHERE user_id = $1 AND report = $2
               AND cadence = $3 AND customer_id = $4 AND COALESCE(site_id, 0) = $5",
        )
        .bind(user_id)
        .bind(report.as_str())
        .bind(cadence.as_str())
        .bind(customer_id)
        .bind(site_id.unwrap_or(0))
        .fetch_one(&mut *tx)
        .await?;
        if same > 0 {
            conflict!("subscription", Reason::SubscriptionExists);
        }
        let due = cadence.due_after(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO report_subscriptions (user_id, customer_id, site_id, report, cadence,
               language, next_due, next_attempt, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
        )
        .bind(user_id)
        .bind(customer_id)
        .bind(site_id)
        .bind(report.as_str())
        .bind(cadence.as_str())
        .bind(language.code())
        .bind(due)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let target_text = match site_id {
            Some(s) => format!("site:{s}"),
            None => format!("customer:{customer_id}"),
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id,
                customer_id: Some(customer_id),
                action: "report_subscription.create",
                target: &format!(
                    "report-subscription:{id} ({} {} {target_text})",
                    report.as_str(),
                    cadence.as_str()
                ),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(subscription_of).transpose()
    }

    /// Deletes one of the scope's user's own subscriptions; `None` if it is not theirs.
    pub async fn delete_subscription(&self, scope: &Scope, id: i64) -> Result<Option<()>> {
        let Some(user_id) = scope.user_id else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        let row: Option<(String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT report, cadence, site_id, customer_id FROM report_subscriptions
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((report, cadence, site_id, customer_id)) = row else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM report_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let target_text = match site_id {
            Some(s) => format!("site:{s}"),
            None => format!("customer:{customer_id}"),
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id,
                customer_id: Some(customer_id),
                action: "report_subscription.delete",
                target: &format!("report-subscription:{id} ({report} {cadence} {target_text})"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// Subscriptions whose time has come (`next_attempt <= now`), the longest waiting first.
    pub async fn due_subscriptions(&self, now: i64, limit: i64) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE r.next_attempt <= $1 ORDER BY r.next_attempt, r.id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription_of).collect()
    }

    /// Takes a due subscription for one send: its `next_attempt` becomes `lease_until`, if it
    /// still is `seen` (what the caller read). False: another instance took it first, or it
    /// changed. A crash while sending leaves it to be taken again when the lease ends.
    pub async fn claim_subscription(&self, id: i64, seen: i64, lease_until: i64) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE report_subscriptions SET next_attempt = $1
                     WHERE id = $2 AND next_attempt = $3",
                )
                .bind(lease_until)
                .bind(id)
                .bind(seen),
            )
            .await?;
        Ok(n == 1)
    }

    /// Writes a claimed subscription's outcome, if the claim (`lease_until`) still holds.
    pub async fn finish_subscription(&self, id: i64, lease_until: i64, o: Outcome) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE report_subscriptions SET next_due = $1, next_attempt = $2,
                       attempts = $3, last_error = $4, last_sent = COALESCE($5, last_sent)
                     WHERE id = $6 AND next_attempt = $7",
                )
                .bind(o.next_due)
                .bind(o.next_attempt)
                .bind(o.attempts)
                .bind(o.last_error.map(SendNote::as_str))
                .bind(o.sent_at)
                .bind(id)
                .bind(lease_until),
            )
            .await?;
        Ok(n == 1)
    }

    /// A user's e-mail address (empty when they have none); `None` if the user is gone.
    pub async fn user_email(&self, user_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The subscriber's e-mail address (empty when they have none) and what they see now;
    /// `None` if the user is gone.
    pub async fn subscriber(&self, user_id: i64) -> Result<Option<(String, Scope)>> {
        let Some(email) = self.user_email(user_id).await? else {
            return Ok(None);
        };
        Ok(self.scope_of_user(user_id).await?.map(|s| (email, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::Cadence;
    use chrono::{NaiveDate, TimeZone as _};
    use chrono_tz::Europe::Copenhagen;

    fn at(s: &str) -> i64 {
        let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        Copenhagen
            .from_local_datetime(&t)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weekly_is_the_iso_week_before_monday_six() {
        let w = Cadence::Weekly;
        // Sunday evening: next Monday 06:00 local.
        assert_eq!(w.due_after(at("2026-11-29 21:00")), at("2026-11-30 06:00"));
        // Monday 05:59 is still before; 06:00 itself is due, so the next is a week later.
        assert_eq!(w.due_after(at("2026-11-30 05:59")), at("2026-11-30 06:00"));
        assert_eq!(w.due_after(at("2026-11-30 06:00")), at("2026-12-07 06:00"));
        assert_eq!(
            w.due_at_or_before(at("2026-12-02 12:00")),
            at("2026-11-30 06:00")
        );
        assert_eq!(
            w.due_at_or_before(at("2026-11-30 05:00")),
            at("2026-11-23 06:00")
        );
        let p = w.period(at("2026-11-30 06:00"));
        assert_eq!((p.from, p.to), (d("2026-11-23"), d("2026-11-30")));
        // Across the change to summer time: the Monday after is 06:00 CEST.
        assert_eq!(w.due_after(at("2026-03-29 12:00")), at("2026-03-30 06:00"));
        assert_eq!(
            at("2026-03-30 06:00") - at("2026-03-23 06:00"),
            7 * 86_400_000 - 3_600_000
        );
    }

    #[test]
    fn monthly_is_the_month_before_the_first() {
        let m = Cadence::Monthly;
        assert_eq!(m.due_after(at("2026-10-15 12:00")), at("2026-11-01 06:00"));
        assert_eq!(m.due_after(at("2026-12-31 23:00")), at("2027-01-01 06:00"));
        let p = m.period(at("2026-11-01 06:00"));
        assert_eq!((p.from, p.to), (d("2026-10-01"), d("2026-11-01")));
        let p = m.period(at("2027-01-01 06:00"));
        assert_eq!((p.from, p.to), (d("2026-12-01"), d("2027-01-01")));
        assert_eq!(
            m.due_at_or_before(at("2026-11-01 05:59")),
            at("2026-10-01 06:00")
        );
        // October 2026 has the change back to winter time: 31 days, one of 25 hours.
        assert_eq!(
            at("2026-11-01 06:00") - at("2026-10-01 06:00"),
            31 * 86_400_000 + 3_600_000
        );
    }
}
