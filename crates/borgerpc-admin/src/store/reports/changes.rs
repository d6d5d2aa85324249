//! The changes report (issue 14, report 6), read side: the audit log (`audit_log`, which
//! `store/audit.rs` writes in the transaction of every change) as a report for a period of
//! local dates: actions per kind per day, per user with the PCs their script runs reached,
//! activations, settings changes, per site, and a page of the records themselves. This module
//! owns these reads only; the records are never written or recomputed here.
//!
//! The counts per day, action, actor and site are sums over the daily roll-up `audit_days`
//! (`ops_rollup.rs`, kept as records are written), a group's over its records. From the records
//! themselves, by index: the PCs activated (distinct PCs) and the PCs script runs reached (their
//! batches' jobs), from one action's records (`audit_log_action`); the latest settings changes
//! (`audit_log_settings`); the page of records and an export (bounded by its caller). A group's
//! local date is computed in SQL from the instant with the UTC offsets the period has
//! (`local_day`), so a DST day is one date of 23 or 25 hours, as in the other reports.
//!
//! What counts as what, once: a script run is `script.run`, and the PCs it reached are the jobs
//! its batch created (one per PC it was sent to; a restart makes a batch of its own and is
//! counted as a `job.restart` action); an activation is `pc.activate`; a settings change is a
//! record with a value before and after (`detail`, which the audit log writes for settings and
//! only for them).
//!
//! Scope: the sites given, which the caller has already narrowed to where it may read the
//! audit log, and the customers given (`customers`: those the caller administers, when no site
//! is chosen), whose records are read whole by their `customer_id` (migration 21): their sites',
//! their deleted sites' and their records without a site (a deleted site, a customer admin's
//! role, the customer made), which the report shows as the customer's, not a site's. A site's
//! or a group's report reads its records only. Records of no customer (a superuser's own,
//! tenant roles, second factors) are read only with `portal_wide`, which the API and the page
//! set only for a superuser who chose neither a site nor a customer; it reads every record of
//! the period. A group keeps the records that name it, that name a PC that is
//! its member now, or that are script runs that reached one of its members now; the PCs a run
//! reached then count its members only. Membership keeps no history, as in the other reports.

use super::super::history::epoch_day;
use super::super::operator::{Page, in_scope};
use super::{DAY_MS, Filter, HOUR_MS, TIME_ZONE, day_start, ymd};
use crate::store::audit::Refs;
use crate::store::{Result, Store};
use chrono::{Datelike, NaiveDate, Offset, TimeZone};
use serde::Serialize;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The action of a script run started by an operator.
pub const SCRIPT_RUN: &str = "script.run";
/// A PC activated by an operator (one record per PC, also in a bulk activation).
pub const ACTIVATE: &str = "pc.activate";
pub const DEACTIVATE: &str = "pc.deactivate";
/// Settings changes listed with their values (the newest of the period).
pub const LATEST_SETTINGS: i64 = 20;

/// What the changes report is asked for: the report's filter, and who and which action.
#[derive(Debug, Clone)]
pub struct ChangesFilter {
    pub report: Filter,
    /// An actor as the audit log has it (`user:anna`, `api-key:3`, `cli:root`).
    pub actor: Option<String>,
    /// An action (`pc.activate`), or an object (`pc`) for all of its actions.
    pub action: Option<String>,
    /// Every record of the period, those without a site too (a superuser's view).
    pub portal_wide: bool,
    /// Customers whose every record is read (by customer: of their sites, deleted sites and
    /// without a site): those the caller administers, for a view of no site. Not with a group.
    pub customers: Vec<i64>,
}

/// The longest actor the audit log writes (`user:` and a user name, an API key, `cli:`).
const MAX_ACTOR: usize = 160;

/// A user as the query names one: a user name (`anna`, meaning `user:anna`) or an actor as the
/// audit log writes it (`api-key:3`, `cli:root`).
pub fn actor(user: &str) -> Result<String, String> {
    let user = user.trim();
    if user.is_empty() || user.chars().count() > MAX_ACTOR || user.chars().any(char::is_control) {
        return Err(format!(
            "must be a user name (anna) or an actor such as api-key:3, of 1 to {MAX_ACTOR} characters"
        ));
    }
    Ok(if user.contains(':') {
        user.to_owned()
    } else {
        format!("user:{user}")
    })
}

/// An action (`pc.activate`) or an object (`pc`, all of its actions), as the audit log
/// writes them: lower-case letters and `_`, one `.` at most.
pub fn action(a: &str) -> Result<String, String> {
    let a = a.trim();
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let ok = a.len() <= 64
        && match a.split_once('.') {
            Some((object, verb)) => word(object) && word(verb),
            None => word(a),
        };
    if ok {
        Ok(a.to_owned())
    } else {
        Err("must be an action such as pc.activate or an object such as pc".to_owned())
    }
}

/// The counts of a day, a week, a user or the whole period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub actions: i64,
    pub script_runs: i64,
    /// The jobs the script runs created: one per PC a run was sent to.
    pub pcs_reached: i64,
    pub activations: i64,
    pub deactivations: i64,
    pub settings_changes: i64,
}

impl Counts {
    /// Adds `n` records of `action`, `settings` of them with a value before and after.
    fn add(&mut self, action: &str, n: i64, settings: i64) {
        self.actions += n;
        self.settings_changes += settings;
        match action {
            SCRIPT_RUN => self.script_runs += n,
            ACTIVATE => self.activations += n,
            DEACTIVATE => self.deactivations += n,
            _ => {}
        }
    }

    fn sum(&mut self, other: &Counts) {
        self.actions += other.actions;
        self.script_runs += other.script_runs;
        self.pcs_reached += other.pcs_reached;
        self.activations += other.activations;
        self.deactivations += other.deactivations;
        self.settings_changes += other.settings_changes;
    }
}

/// One local date of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangesDay {
    #[serde(serialize_with = "ymd")]
    pub date: NaiveDate,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One ISO week (Monday to Sunday), of its dates within the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangesWeek {
    /// `2026-W45`.
    pub week: String,
    /// The week's first date in the period.
    #[serde(serialize_with = "ymd")]
    pub from: NaiveDate,
    /// The week's dates in the period (7 but at the period's ends).
    pub days: u32,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Records of one action on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    #[serde(serialize_with = "ymd")]
    pub date: NaiveDate,
    pub count: i64,
}

/// One action's records in the period, and per date (dates without any left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionCount {
    pub action: String,
    pub count: i64,
    pub days: Vec<DayCount>,
}

/// What one actor did in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserChanges {
    pub actor: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Records per site; `site_id` `None` for the records without a site: a customer's
/// (`customer_id`, the customer itself) or the portal-wide ones (neither; a superuser's view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteChanges {
    pub site_id: Option<i64>,
    /// The site's uid and name; `None` for a site deleted since (its records stay).
    pub site: Option<String>,
    pub name: Option<String>,
    /// For the records without a site: the customer they belong to, and its name.
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    pub actions: i64,
}

/// One record of the audit log, with the ids its target names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEntry {
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// `at` in Copenhagen, RFC 3339 with its offset.
    pub at_local: String,
    pub actor: String,
    pub site_id: Option<i64>,
    pub site: Option<String>,
    /// The customer the record belongs to (of its site, or of a change without a site), and
    /// its name; `None` for a portal-wide record.
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    pub action: String,
    pub target: String,
    pub pc_id: Option<i64>,
    pub group_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub script_id: Option<i64>,
    pub job_id: Option<i64>,
    /// A script run's PCs: those its batch was made for (of the group's members now, with a
    /// group: its jobs kept).
    pub pcs: Option<i64>,
    /// A settings change's `{"before": …, "after": …}`.
    pub detail: Option<serde_json::Value>,
}

/// The changes report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    #[serde(serialize_with = "ymd")]
    pub from: NaiveDate,
    #[serde(serialize_with = "ymd")]
    pub to: NaiveDate,
    pub time_zone: &'static str,
    /// Records that match (all pages).
    pub count: i64,
    pub totals: Counts,
    /// Distinct PCs activated in the period.
    pub activated_pcs: i64,
    pub days: Vec<ChangesDay>,
    pub weeks: Vec<ChangesWeek>,
    /// Per action, the most records first.
    pub by_action: Vec<ActionCount>,
    /// Per actor, the most records first.
    pub users: Vec<UserChanges>,
    pub sites: Vec<SiteChanges>,
    /// The newest settings changes with their values before and after.
    pub latest_settings: Vec<ChangeEntry>,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<ChangeEntry>,
}

/// A query's argument: the audit log is filtered by text (actor, action) as well as by ids.
#[derive(Debug, Clone)]
enum Arg {
    Int(i64),
    Text(String),
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match a {
            Arg::Int(n) => q.bind(*n),
            Arg::Text(s) => q.bind(s.clone()),
        };
    }
    q
}

/// The filter as SQL on `audit_log a`: the condition, its arguments, and the PCs a script
/// run `a` reached: the PCs its batch was made for, or with a group those of its jobs that
/// are of the group's members now.
struct Where {
    cond: String,
    args: Vec<Arg>,
    reached: String,
}

fn where_of(f: &ChangesFilter, by_site: &[i64]) -> Where {
    where_in(f, false, by_site)
}

/// The filter on the records (`audit_log a`), or with `rolled` on their daily counts
/// (`audit_days a`, which have the same site, customer, actor and action columns; never with a
/// group). `by_site`: the sites read by site ([`Store::read_by_site`]), the rest by customer.
fn where_in(f: &ChangesFilter, rolled: bool, by_site: &[i64]) -> Where {
    let period = &f.report.period;
    let (mut args, mut cond) = if rolled {
        (
            vec![
                Arg::Int(epoch_day(period.from)),
                Arg::Int(epoch_day(period.to)),
            ],
            "a.day >= $1 AND a.day < $2".to_owned(),
        )
    } else {
        (
            vec![
                Arg::Int(day_start(period.from)),
                Arg::Int(day_start(period.to)),
            ],
            "a.at >= $1 AND a.at < $2".to_owned(),
        )
    };
    if !f.portal_wide {
        let customers = f.whole_customers();
        let sites = in_scope("a.site_id", by_site, args.len() + 1);
        args.extend(by_site.iter().map(|s| Arg::Int(*s)));
        if customers.is_empty() {
            cond.push_str(&format!(" AND {sites}"));
        } else {
            // One range of the customer's index for a customer's view; an OR only for a
            // caller who also has sites of other customers.
            let of = in_scope("a.customer_id", customers, args.len() + 1);
            args.extend(customers.iter().map(|c| Arg::Int(*c)));
            if by_site.is_empty() {
                cond.push_str(&format!(" AND {of}"));
            } else {
                cond.push_str(&format!(" AND ({of} OR {sites})"));
            }
        }
    }
    if let Some(actor) = &f.actor {
        args.push(Arg::Text(actor.clone()));
        cond.push_str(&format!(" AND a.actor = ${}", args.len()));
    }
    if let Some(action) = &f.action {
        if action.contains('.') {
            args.push(Arg::Text(action.clone()));
            cond.push_str(&format!(" AND a.action = ${}", args.len()));
        } else {
            // An object: its actions are `<object>.<verb>`. The length is ours, a number.
            let prefix = format!("{action}.");
            let len = prefix.len();
            args.push(Arg::Text(prefix));
            cond.push_str(&format!(
                " AND substr(a.action, 1, {len}) = ${}",
                args.len()
            ));
        }
    }
    let mut reached = "(SELECT b.pc_count FROM batches b WHERE b.id = a.batch_id)".to_owned();
    if let Some(g) = f.report.group {
        args.push(Arg::Int(g));
        let members = format!(
            "(SELECT m.pc_id FROM pc_group_members m WHERE m.group_id = ${})",
            args.len()
        );
        cond.push_str(&format!(
            " AND (a.group_id = ${n} OR a.pc_id IN {members} OR a.batch_id IN \
             (SELECT j.batch_id FROM jobs j WHERE j.pc_id IN {members}))",
            n = args.len()
        ));
        reached = format!(
            "(SELECT COUNT(*) FROM jobs j WHERE j.batch_id = a.batch_id AND j.pc_id IN {members})"
        );
    }
    Where {
        cond,
        args,
        reached,
    }
}

impl ChangesFilter {
    /// The customers read whole: none for a group (its records are its site's).
    fn whole_customers(&self) -> &[i64] {
        if self.report.group.is_some() || self.portal_wide {
            &[]
        } else {
            &self.customers
        }
    }
}

/// SQL for the local date of `a.at` (days since 1970-01-01) for an instant of the period:
/// the instant plus the zone's UTC offset then, from the offsets the period has. Copenhagen
/// changes its offset on a whole hour (UTC), so checking each hour finds every change.
fn local_day(from_ms: i64, to_ms: i64) -> String {
    let offset = |t: i64| {
        TIME_ZONE
            .timestamp_millis_opt(t)
            .single()
            .map_or(0, |d| i64::from(d.offset().fix().local_minus_utc()) * 1000)
    };
    let mut segments = vec![(from_ms, offset(from_ms))];
    let mut t = from_ms;
    while t < to_ms {
        let o = offset(t);
        if segments.last().is_some_and(|(_, last)| *last != o) {
            segments.push((t, o));
        }
        t += HOUR_MS;
    }
    // Every value is a number of ours: safe in the statement's text.
    let shifted = match segments.as_slice() {
        [(_, o)] => o.to_string(),
        [first, rest @ ..] => {
            let mut case = "CASE".to_owned();
            let mut previous = first.1;
            for (start, o) in rest {
                case.push_str(&format!(" WHEN a.at < {start} THEN {previous}"));
                previous = *o;
            }
            case.push_str(&format!(" ELSE {previous} END"));
            case
        }
        [] => "0".to_owned(),
    };
    format!("((a.at + {shifted}) / {DAY_MS})")
}

/// `at` as Copenhagen's local time, RFC 3339.
pub fn local_rfc3339(at: i64) -> String {
    TIME_ZONE
        .timestamp_millis_opt(at)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default()
}

/// The columns of a record as `entry_of` reads them, with a run's PCs (`{reached}` filled).
const ENTRY_COLUMNS: &str = "a.id, a.at, a.actor, a.site_id, s.uid AS site, a.customer_id,
    c.name AS customer, a.action, a.target,
    a.pc_id, a.group_id, a.batch_id, a.detail,
    CASE WHEN a.batch_id IS NULL THEN NULL
         ELSE {reached} END AS pcs";

fn entry_of(r: &sqlx::any::AnyRow) -> Result<ChangeEntry> {
    let at: i64 = r.try_get("at")?;
    let target: String = r.try_get("target")?;
    let refs = Refs::of(&target);
    Ok(ChangeEntry {
        id: r.try_get("id")?,
        at,
        at_local: local_rfc3339(at),
        actor: r.try_get("actor")?,
        site_id: r.try_get("site_id")?,
        site: r.try_get("site")?,
        customer_id: r.try_get("customer_id")?,
        customer: r.try_get("customer")?,
        action: r.try_get("action")?,
        pc_id: r.try_get("pc_id")?,
        group_id: r.try_get("group_id")?,
        batch_id: r.try_get("batch_id")?,
        script_id: refs.script,
        job_id: refs.job,
        target,
        pcs: r.try_get("pcs")?,
        detail: r
            .try_get::<Option<String>, _>("detail")?
            .and_then(|d| serde_json::from_str(&d).ok()),
    })
}

/// The ISO weeks of the days, in order, each summed over its dates in the period.
fn weeks_of(days: &[ChangesDay]) -> Vec<ChangesWeek> {
    let mut weeks: Vec<ChangesWeek> = Vec::new();
    for d in days {
        let w = d.date.iso_week();
        let name = format!("{}-W{:02}", w.year(), w.week());
        if weeks.last().is_none_or(|last| last.week != name) {
            weeks.push(ChangesWeek {
                week: name,
                from: d.date,
                days: 0,
                counts: Counts::default(),
            });
        }
        if let Some(last) = weeks.last_mut() {
            last.days += 1;
            last.counts.sum(&d.counts);
        }
    }
    weeks
}

impl Store {
    /// The changes report for the filter, with its page of records (newest first). `None`:
    /// the group is not on the sites.
    pub async fn changes_report(&self, f: &ChangesFilter) -> Result<Option<Changes>> {
        if !self.group_in(&f.report.sites, f.report.group).await? {
            return Ok(None);
        }
        let by_site = self.read_by_site(f).await?;
        let w = where_of(f, &by_site);
        let period = f.report.period;
        let day = local_day(day_start(period.from), day_start(period.to));
        let first = epoch_day(period.from);
        let mut conn = self.reader().await?;
        // The counts: from the daily roll-up, or for a group from the records (its members
        // change, and a record is the group's by what it names).
        let (counted, counted_args) = if f.report.group.is_some() {
            (
                format!(
                    "SELECT a.action, a.actor, a.site_id,
                            CASE WHEN a.site_id IS NULL THEN a.customer_id END AS customer_id,
                            {day} AS d, 1 AS n,
                            CASE WHEN a.detail IS NULL THEN 0 ELSE 1 END AS settings
                     FROM audit_log a WHERE {}",
                    w.cond
                ),
                w.args.clone(),
            )
        } else {
            let r = where_in(f, true, &by_site);
            (
                format!(
                    "SELECT a.action, a.actor, NULLIF(a.site_id, 0) AS site_id,
                            CASE WHEN a.site_id = 0 THEN NULLIF(a.customer_id, 0) END AS customer_id,
                            a.day AS d, a.records AS n, a.settings FROM audit_days a WHERE {}",
                    r.cond
                ),
                r.args,
            )
        };

        let mut days: Vec<ChangesDay> = period
            .dates()
            .map(|date| ChangesDay {
                date,
                counts: Counts::default(),
            })
            .collect();
        let n_days = days.len();
        let slot = |d: i64| usize::try_from(d - first).ok().filter(|i| *i < n_days);

        // Per action per local date, and per actor per action: two passes, each grouped by
        // few keys (PostgreSQL hashes them; one grouping by all three it sorts, slower).
        let sql = format!(
            "SELECT x.action, x.d, CAST(SUM(x.n) AS BIGINT), CAST(SUM(x.settings) AS BIGINT)
             FROM ({counted}) x GROUP BY x.action, x.d HAVING SUM(x.n) <> 0"
        );
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &counted_args)
            .fetch_all(&mut *conn)
            .await?;
        let mut by_action: BTreeMap<String, ActionCount> = BTreeMap::new();
        for r in &rows {
            let (action, d, n, settings): (String, i64, i64, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let Some(i) = slot(d) else { continue };
            days[i].counts.add(&action, n, settings);
            let a = by_action
                .entry(action.clone())
                .or_insert_with(|| ActionCount {
                    action,
                    count: 0,
                    days: Vec::new(),
                });
            a.count += n;
            a.days.push(DayCount {
                date: days[i].date,
                count: n,
            });
        }
        let mut by_action: Vec<ActionCount> = by_action.into_values().collect();
        for a in &mut by_action {
            a.days.sort_by_key(|d| d.date);
        }
        by_action.sort_by(|a, b| b.count.cmp(&a.count).then(a.action.cmp(&b.action)));

        let sql = format!(
            "SELECT x.actor, x.action, CAST(SUM(x.n) AS BIGINT), CAST(SUM(x.settings) AS BIGINT)
             FROM ({counted}) x GROUP BY x.actor, x.action HAVING SUM(x.n) <> 0"
        );
        let mut users: BTreeMap<String, Counts> = BTreeMap::new();
        for r in bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &counted_args)
            .fetch_all(&mut *conn)
            .await?
        {
            let (actor, action, n, settings): (String, String, i64, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            users.entry(actor).or_default().add(&action, n, settings);
        }

        // The PCs the script runs reached, per local date and actor: a run's count, summed
        // (a run to 100,000 PCs is one row here, not 100,000).
        let sql = format!(
            "SELECT {day} AS d, a.actor, CAST(SUM({}) AS BIGINT)
             FROM audit_log a WHERE {} AND a.action = '{SCRIPT_RUN}' GROUP BY {day}, a.actor",
            w.reached, w.cond
        );
        for r in bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.args)
            .fetch_all(&mut *conn)
            .await?
        {
            let (d, actor, n): (i64, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(i) = slot(d) {
                days[i].counts.pcs_reached += n;
            }
            users.entry(actor).or_default().pcs_reached += n;
        }
        let mut users: Vec<UserChanges> = users
            .into_iter()
            .map(|(actor, counts)| UserChanges { actor, counts })
            .collect();
        users.sort_by(|a, b| {
            b.counts
                .actions
                .cmp(&a.counts.actions)
                .then(a.actor.cmp(&b.actor))
        });

        let sql = format!(
            "SELECT COUNT(DISTINCT a.pc_id) FROM audit_log a WHERE {} AND a.action = '{ACTIVATE}'",
            w.cond
        );
        let activated_pcs: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.args)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;

        // Per site; the records without a site per customer (`customer_id` is only theirs).
        let sql = format!(
            "SELECT x.site_id, s.uid, s.name, x.customer_id, c.name, x.n
             FROM (SELECT y.site_id, y.customer_id, CAST(SUM(y.n) AS BIGINT) AS n
                   FROM ({counted}) y
                   GROUP BY y.site_id, y.customer_id HAVING SUM(y.n) <> 0) x
             LEFT JOIN sites s ON s.id = x.site_id
             LEFT JOIN customers c ON c.id = x.customer_id"
        );
        let mut sites = Vec::new();
        for r in bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &counted_args)
            .fetch_all(&mut *conn)
            .await?
        {
            sites.push(SiteChanges {
                site_id: r.try_get(0)?,
                site: r.try_get(1)?,
                name: r.try_get(2)?,
                customer_id: r.try_get(3)?,
                customer: r.try_get(4)?,
                actions: r.try_get(5)?,
            });
        }
        // Sites by name, then deleted sites, then the customers' own records by customer,
        // the portal-wide ones last.
        let order = |s: &SiteChanges| {
            (
                s.site_id.is_none(),
                s.name.is_none(),
                s.name.clone(),
                s.customer_id.is_none(),
                s.customer.clone(),
                s.site_id,
                s.customer_id,
            )
        };
        sites.sort_by_key(order);

        let columns = ENTRY_COLUMNS.replace("{reached}", &w.reached);
        let sql = format!(
            "SELECT {columns} FROM audit_log a LEFT JOIN sites s ON s.id = a.site_id
             LEFT JOIN customers c ON c.id = a.customer_id
             WHERE {} AND a.detail IS NOT NULL ORDER BY a.at DESC, a.id DESC LIMIT {LATEST_SETTINGS}",
            w.cond
        );
        let latest_settings = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.args)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(entry_of)
            .collect::<Result<Vec<_>>>()?;
        drop(conn);

        let mut totals = Counts::default();
        for d in &days {
            totals.sum(&d.counts);
        }
        let items = self.change_page(&w, f.report.page.clone()).await?;
        let weeks = weeks_of(&days);
        Ok(Some(Changes {
            from: period.from,
            to: period.to,
            time_zone: TIME_ZONE.name(),
            count: totals.actions,
            totals,
            activated_pcs,
            days,
            weeks,
            by_action,
            users,
            sites,
            latest_settings,
            limit: f.report.page.limit,
            offset: f.report.page.offset,
            items,
        }))
    }

    /// Every record of the filter, newest first, for a file: `Err(count)` without reading
    /// them when there are more than `max`. `None`: the group is not on the sites.
    pub async fn change_entries(
        &self,
        f: &ChangesFilter,
        max: i64,
    ) -> Result<Option<std::result::Result<Vec<ChangeEntry>, i64>>> {
        if !self.group_in(&f.report.sites, f.report.group).await? {
            return Ok(None);
        }
        let by_site = self.read_by_site(f).await?;
        let w = where_of(f, &by_site);
        // Counted from the daily roll-up but for a group.
        let (sql, args) = if f.report.group.is_some() {
            (
                format!("SELECT COUNT(*) FROM audit_log a WHERE {}", w.cond),
                w.args.clone(),
            )
        } else {
            let r = where_in(f, true, &by_site);
            (
                format!(
                    "SELECT CAST(COALESCE(SUM(a.records), 0) AS BIGINT) FROM audit_days a WHERE {}",
                    r.cond
                ),
                r.args,
            )
        };
        let count: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        if count > max {
            return Ok(Some(Err(count)));
        }
        let all = Page {
            limit: max,
            offset: 0,
        };
        Ok(Some(Ok(self.change_page(&w, all).await?)))
    }

    /// A page of the filter's records, newest first.
    async fn change_page(&self, w: &Where, page: Page) -> Result<Vec<ChangeEntry>> {
        let columns = ENTRY_COLUMNS.replace("{reached}", &w.reached);
        let mut args = w.args.clone();
        args.push(Arg::Int(page.limit));
        args.push(Arg::Int(page.offset));
        let sql = format!(
            "SELECT {columns} FROM audit_log a LEFT JOIN sites s ON s.id = a.site_id
             LEFT JOIN customers c ON c.id = a.customer_id
             WHERE {} ORDER BY a.at DESC, a.id DESC LIMIT ${} OFFSET ${}",
            w.cond,
            args.len() - 1,
            args.len()
        );
        bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(entry_of)
            .collect()
    }

    /// The filter's sites whose records are read by site: those not of a customer read whole
    /// (whose records are read by customer, its deleted sites' and those without a site too).
    async fn read_by_site(&self, f: &ChangesFilter) -> Result<Vec<i64>> {
        let customers = f.whole_customers();
        if customers.is_empty() {
            return Ok(f.report.sites.clone());
        }
        let sql = format!(
            "SELECT id FROM sites WHERE {}",
            in_scope("customer_id", customers, 1)
        );
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
        for c in customers {
            q = q.bind(*c);
        }
        let theirs = q.fetch_all(self.pool()).await?;
        Ok(f.report
            .sites
            .iter()
            .copied()
            .filter(|s| !theirs.contains(s))
            .collect())
    }

    /// The actors and the actions of the records of the sites in the period (not filtered by
    /// actor, action or group), for the page's choices: (actors, actions), sorted.
    pub async fn change_choices(&self, f: &ChangesFilter) -> Result<(Vec<String>, Vec<String>)> {
        let everyone = ChangesFilter {
            report: Filter {
                group: None,
                ..f.report.clone()
            },
            actor: None,
            action: None,
            portal_wide: f.portal_wide,
            customers: f.customers.clone(),
        };
        // From the daily roll-up: the same actors and actions, a row per day each.
        let by_site = self.read_by_site(&everyone).await?;
        let w = where_in(&everyone, true, &by_site);
        let mut out = (Vec::new(), Vec::new());
        for (column, list) in [("a.actor", &mut out.0), ("a.action", &mut out.1)] {
            let sql = format!(
                "SELECT DISTINCT {column} FROM audit_days a WHERE {} ORDER BY {column}",
                w.cond
            );
            *list = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.args)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{DAY_MS, local_day};
    use crate::store::reports::day_start;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The expression's date of an instant, evaluated as SQL would (integer division).
    fn eval(sql: &str, at: i64) -> i64 {
        let inner = sql
            .strip_prefix("((a.at + ")
            .and_then(|s| s.strip_suffix(&format!(") / {DAY_MS})")))
            .unwrap();
        let offset = if let Some(case) = inner.strip_prefix("CASE") {
            let mut found = None;
            let mut rest = case.trim();
            while let Some(when) = rest.strip_prefix("WHEN a.at < ") {
                let (start, tail) = when.split_once(" THEN ").unwrap();
                let (o, tail) = tail.split_once(' ').unwrap();
                if found.is_none() && at < start.parse::<i64>().unwrap() {
                    found = Some(o.parse::<i64>().unwrap());
                }
                rest = tail.trim();
            }
            let last = rest
                .strip_prefix("ELSE ")
                .and_then(|s| s.strip_suffix(" END"))
                .unwrap();
            found.unwrap_or_else(|| last.parse().unwrap())
        } else {
            inner.parse().unwrap()
        };
        (at + offset) / DAY_MS
    }

    #[test]
    fn local_dates_follow_the_clock_changes() {
        let (from, to) = (d("2026-03-28"), d("2026-10-27"));
        let sql = local_day(day_start(from), day_start(to));
        assert_eq!(sql.matches("WHEN").count(), 2, "{sql}");
        let epoch = |s: &str| d(s).signed_duration_since(NaiveDate::default()).num_days();
        for date in [
            "2026-03-28",
            "2026-03-29",
            "2026-03-30",
            "2026-10-25",
            "2026-10-26",
        ] {
            let start = day_start(d(date));
            let end = day_start(d(date).succ_opt().unwrap());
            assert_eq!(eval(&sql, start), epoch(date), "{date} begins");
            assert_eq!(eval(&sql, end - 1), epoch(date), "{date} ends");
        }
        let winter = local_day(day_start(d("2026-01-01")), day_start(d("2026-02-01")));
        assert_eq!(winter, format!("((a.at + 3600000) / {DAY_MS})"));
    }
}
