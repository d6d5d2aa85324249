//! The security report (issue 14, report 5), read side: the events the security rules (a
//! script on the PC) and the offline rules (the server's watch) raised, for a site, a
//! customer's sites or all the caller sees, a period of local dates and optionally a group
//! and one level. Counts per level, per rule, per site, per PC and per period bucket, open
//! (NEW, ASSIGNED) against handled (RESOLVED); and the time to handle (median and 90th
//! percentile, per level and per rule). The counts per level, rule, site and bucket are sums
//! over the daily roll-up `security_event_days` (`ops_rollup.rs`), a group's over its events;
//! the per-PC counts and the events are read from the events' index.
//!
//! The per-PC list: the most events first needs every event of the period counted per PC (a
//! key per PC is no smaller than the events), so it is that only when the period holds at most
//! [`PCS_BY_EVENTS_MAX`] events (a site's month); above it, the PCs with events come in the
//! order they were registered (`pcs_order: "registered"`), one page read from the events' PC
//! index (migration 22) and only that page's events counted. The files of the list are the
//! most first still (a file reads every row anyway).
//!
//! The time to handle is read from sums too: `security_handle_days` (migration 22) counts the
//! handled events per site, date, rule and wait bucket (`WAIT_BUCKETS`, log-scale, each at most
//! 2.5 times the one before), so a median or p90 is known to its bucket: `median_ms` and
//! `p90_ms` are the upper bound of the bucket the percentile is in (a year for the last,
//! open, one), `median_from_ms` and `p90_from_ms` its lower bound. The exact percentile (as
//! PostgreSQL's `percentile_cont` has it, between the two nearest ranks) lies between them. A
//! group's are counted into the same buckets from its events.
//!
//! Times: an event is in the period, and its bucket is, by the local date (Copenhagen) of its
//! `occurred_at` (the PC's report of when it happened; the server's clock for offline
//! events). Its time to handle runs from then to `handled_at`, when an operator marked it
//! RESOLVED (migration 14; set by the pages and the API alike). Events resolved before that
//! migration have no handled time: they count as handled, not in the time to handle
//! (`handled` says how many do). An event reported as happening after it was handled (a PC's
//! clock ahead) counts 0.
//!
//! Where an event is counted: at the site it was raised at (`security_events.site_id`, the
//! PC's site then), so a PC that moved leaves its old events with the old site. Groups are
//! the groups' members now, as in the other reports. A level or rule is the rule's now (an
//! event keeps no copy); an event whose rule is gone has level and name "".
//!
//! No summary leaves the store here: a summary is what a PC's script wrote and may name a
//! person, so the report (and its exports and e-mails) carries counts, rules and PCs only.

use super::args::{Args, list_length, read_sums, site_entry};
use super::buckets::{Bucket, date_of_day};
use super::ops_rollup::{WAIT_BUCKETS, WAITED, local_day, wait_bucket};
use super::{Filter, TIME_ZONE, ymd};
use crate::store::Result;
use crate::store::Store;
use crate::store::events::{EventStatus, LEVELS};
use crate::store::operator::Page;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The events with their rule (either kind), for the rule's name, level and site.
const FROM: &str = "security_events e
     LEFT JOIN security_problems sp ON e.rule_kind = 'security' AND sp.id = e.rule_id
     LEFT JOIN offline_rules o ON e.rule_kind = 'offline' AND o.id = e.rule_id";
const LEVEL: &str = "COALESCE(sp.level, o.level, '')";
/// The rules of grouped rows `x` (kind and id), for their names and levels.
const RULES: &str =
    "LEFT JOIN security_problems sp ON x.rule_kind = 'security' AND sp.id = x.rule_id
     LEFT JOIN offline_rules o ON x.rule_kind = 'offline' AND o.id = x.rule_id";

/// The events a query counts: joined to their rules only when a level narrows them (the
/// counts are then per rule, and the rules joined to the counts).
fn source(a: &SecurityAsked) -> &'static str {
    if a.level.is_some() {
        FROM
    } else {
        "security_events e"
    }
}

/// Above this many events in the period, the report's per-PC list is in the order the PCs
/// were registered instead of the most events first (see the module comment).
pub const PCS_BY_EVENTS_MAX: i64 = 20_000;

/// The order of the per-PC list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcsOrder {
    /// The most events first (then by name).
    Events,
    /// By the PC's id: the order they were registered.
    Registered,
}

impl PcsOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            PcsOrder::Events => "events",
            PcsOrder::Registered => "registered",
        }
    }
}

/// Which list a report's page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityList {
    /// The PCs with events, the most first.
    Pcs,
    /// The events, newest first.
    Events,
}

impl SecurityList {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityList::Pcs => "pcs",
            SecurityList::Events => "events",
        }
    }
}

/// What the security report is asked besides the shared [`Filter`].
#[derive(Debug, Clone, Copy)]
pub struct SecurityAsked {
    /// Only events of rules of this level (one of [`LEVELS`]).
    pub level: Option<&'static str>,
    pub bucket: Bucket,
}

impl SecurityAsked {
    /// A level as the store spells it, or `None` for another text.
    pub fn level(s: &str) -> Option<&'static str> {
        LEVELS.iter().copied().find(|l| *l == s)
    }
}

/// Events by how far their handling is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    pub events: i64,
    pub new: i64,
    pub assigned: i64,
    pub resolved: i64,
    /// NEW and ASSIGNED: not handled yet.
    pub open: i64,
}

impl EventCounts {
    fn add(&mut self, status: EventStatus, n: i64) {
        self.events += n;
        match status {
            EventStatus::New => self.new += n,
            EventStatus::Assigned => self.assigned += n,
            EventStatus::Resolved => self.resolved += n,
        }
        self.open = self.new + self.assigned;
    }
}

/// Events per level of their rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LevelCounts {
    pub critical: i64,
    pub high: i64,
    pub normal: i64,
}

impl LevelCounts {
    fn add(&mut self, level: &str, n: i64) {
        match level {
            "CRITICAL" => self.critical += n,
            "HIGH" => self.high += n,
            "NORMAL" => self.normal += n,
            _ => {}
        }
    }
}

/// How long the handled events took, from when they happened to when they were handled:
/// read from the wait buckets they are counted in, so each percentile is a bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeToHandle {
    /// Handled events with a handled time (the median and p90 are of these).
    pub handled: i64,
    /// The median is at most this, in ms: the upper bound of its bucket (the median is between
    /// the two middle ones for an even number).
    pub median_ms: Option<f64>,
    /// The 90th percentile is at most this, in ms (interpolated between neighbours, as
    /// PostgreSQL's `percentile_cont`, it is in this bucket).
    pub p90_ms: Option<f64>,
    /// The median is at least this, in ms: the lower bound of its bucket.
    pub median_from_ms: Option<f64>,
    /// The 90th percentile is at least this, in ms.
    pub p90_from_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityLevel {
    pub level: String,
    #[serde(flatten)]
    pub counts: EventCounts,
    pub time_to_handle: TimeToHandle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityRule {
    /// `security` or `offline`.
    pub rule_kind: String,
    pub rule_id: i64,
    pub name: String,
    pub level: String,
    /// The rule's site (its page is there); `None` for a rule that is gone.
    pub site: Option<String>,
    #[serde(flatten)]
    pub counts: EventCounts,
    pub time_to_handle: TimeToHandle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecuritySite {
    pub site_id: i64,
    pub uid: String,
    pub name: String,
    #[serde(flatten)]
    pub counts: EventCounts,
    #[serde(flatten)]
    pub levels: LevelCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityPeriod {
    #[serde(serialize_with = "ymd")]
    pub start: NaiveDate,
    /// Dates of the bucket in the period.
    pub days: u32,
    #[serde(flatten)]
    pub counts: EventCounts,
    #[serde(flatten)]
    pub levels: LevelCounts,
}

/// One PC's events at the report's sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityPc {
    pub pc_id: i64,
    pub uid: String,
    pub name: String,
    /// The PC's site now.
    pub site: String,
    #[serde(flatten)]
    pub counts: EventCounts,
    #[serde(flatten)]
    pub levels: LevelCounts,
}

/// One event, without its summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityEventRow {
    pub event_id: i64,
    /// The site it was raised at (its page is there).
    pub site: String,
    pub pc_id: i64,
    pub pc_uid: String,
    pub pc_name: String,
    pub rule_kind: String,
    pub rule_id: i64,
    pub rule: String,
    pub level: String,
    pub status: EventStatus,
    pub occurred_at: i64,
    pub reported_at: i64,
    pub handled_at: Option<i64>,
    /// `handled_at - occurred_at` (at least 0), for a handled event with a handled time.
    pub time_to_handle_ms: Option<i64>,
}

/// The page of the report's list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SecurityItems {
    Pcs(Vec<SecurityPc>),
    Events(Vec<SecurityEventRow>),
}

/// The security report: the counts, and one page of one list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityReport {
    #[serde(serialize_with = "ymd")]
    pub from: NaiveDate,
    #[serde(serialize_with = "ymd")]
    pub to: NaiveDate,
    pub time_zone: &'static str,
    pub bucket: &'static str,
    pub level: Option<&'static str>,
    pub totals: EventCounts,
    pub time_to_handle: TimeToHandle,
    /// The levels with events, the most severe first.
    pub levels: Vec<SecurityLevel>,
    /// Every rule with events, the most events first.
    pub rules: Vec<SecurityRule>,
    /// Every site with events, by name.
    pub sites: Vec<SecuritySite>,
    /// Every bucket of the period, oldest first.
    pub periods: Vec<SecurityPeriod>,
    pub list: &'static str,
    /// The per-PC list's order: `events` (the most first) or, above [`PCS_BY_EVENTS_MAX`]
    /// events in the period, `registered`.
    pub pcs_order: &'static str,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: SecurityItems,
}

/// The filter's condition on [`FROM`], its values pushed on `args`.
fn condition(f: &Filter, a: &SecurityAsked, args: &mut Args) -> String {
    let mut sql = args.scope(f, "e.occurred_at", "e.site_id", "e.pc_id");
    if let Some(level) = a.level {
        sql.push_str(&format!(" AND {LEVEL} = {}", args.text(level)));
    }
    sql
}

/// The events of the filter counted per site, rule, local date and status, as rows (site_id,
/// rule_kind, rule_id, day, status, n) for an outer query to add up: from the roll-up
/// (`security_event_days`), or for a group (whose members change) from the events
/// themselves. The level is not in it: the outer query joins the rules ([`RULES`]) and keeps
/// [`level_only`]'s.
fn counted(f: &Filter, args: &mut Args) -> String {
    if f.group.is_some() {
        return format!(
            "SELECT e.site_id, e.rule_kind, e.rule_id, {} AS day, e.status, 1 AS n
             FROM security_events e WHERE {}",
            local_day("e.occurred_at"),
            args.scope(f, "e.occurred_at", "e.site_id", "e.pc_id")
        );
    }
    format!(
        "SELECT r.site_id, r.rule_kind, r.rule_id, r.day, r.status, r.events AS n
         FROM security_event_days r WHERE {}",
        args.days(f)
    )
}

/// ` WHERE` the level of the rule joined by [`RULES`] is the one asked for, or nothing.
fn level_only(a: &SecurityAsked, args: &mut Args) -> String {
    match a.level {
        Some(level) => format!(" WHERE {LEVEL} = {}", args.text(level)),
        None => String::new(),
    }
}

/// The per-PC list's counts: a column per status, and one per level.
const PC_COLUMNS: [(EventStatus, &str); 3] = [
    (EventStatus::New, "fresh"),
    (EventStatus::Assigned, "assigned"),
    (EventStatus::Resolved, "resolved"),
];
const LEVEL_COLUMNS: [(&str, &str); 3] = [
    ("CRITICAL", "critical"),
    ("HIGH", "high"),
    ("NORMAL", "normal"),
];

fn status(r: &sqlx::any::AnyRow) -> Result<EventStatus> {
    EventStatus::from_db(&r.try_get::<String, _>("status")?)
}

/// Handled events per wait bucket (its lower bound in ms, of [`WAIT_BUCKETS`]).
#[derive(Debug, Clone, Default)]
struct Waits(BTreeMap<i64, i64>);

impl Waits {
    fn add(&mut self, from_ms: i64, n: i64) {
        *self.0.entry(from_ms).or_default() += n;
    }

    fn merge(&mut self, other: &Waits) {
        for (from, n) in &other.0 {
            self.add(*from, *n);
        }
    }

    /// The lower bound of the bucket holding the `rank`-th wait (1-based, sorted).
    fn bucket_of(&self, rank: i64) -> Option<i64> {
        let mut seen = 0;
        for (from, n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(*from);
            }
        }
        None
    }

    /// The `tenths` percentile (5: median, 9: p90) as (lower, upper) bounds of the buckets of
    /// the two ranks `percentile_cont` takes it between: the exact value lies within.
    fn percentile(&self, n: i64, tenths: i64) -> Option<(f64, f64)> {
        if n < 1 {
            return None;
        }
        let pos = tenths * (n - 1);
        let lo = 1 + pos / 10;
        let hi = if pos % 10 == 0 { lo } else { lo + 1 };
        let from = self.bucket_of(lo)?;
        let top = self.bucket_of(hi)?;
        let to = WAIT_BUCKETS
            .iter()
            .find(|b| **b > top)
            .copied()
            .unwrap_or(top);
        Some((from as f64, to as f64))
    }

    fn time(&self) -> TimeToHandle {
        let n = self.0.values().sum();
        let median = self.percentile(n, 5);
        let p90 = self.percentile(n, 9);
        TimeToHandle {
            handled: n,
            median_ms: median.map(|m| m.1),
            p90_ms: p90.map(|p| p.1),
            median_from_ms: median.map(|m| m.0),
            p90_from_ms: p90.map(|p| p.0),
        }
    }
}

/// The handled events of the filter per rule and wait bucket, as rows (rule_kind, rule_id,
/// wait_from_ms, n): from the roll-up (`security_handle_days`), or for a group from its events.
fn handled(f: &Filter, args: &mut Args) -> String {
    if f.group.is_some() {
        let scope = args.scope(f, "e.occurred_at", "e.site_id", "e.pc_id");
        let resolved = args.text(EventStatus::Resolved.as_str());
        return format!(
            "SELECT x.rule_kind, x.rule_id, x.wait_from_ms, COUNT(*) AS n
             FROM (SELECT e.rule_kind, e.rule_id, {} AS wait_from_ms
                   FROM security_events e
                   WHERE {scope} AND e.status = {resolved} AND e.handled_at IS NOT NULL) x
             GROUP BY x.rule_kind, x.rule_id, x.wait_from_ms",
            wait_bucket(WAITED)
        );
    }
    format!(
        "SELECT r.rule_kind, r.rule_id, r.wait_from_ms, CAST(SUM(r.events) AS BIGINT) AS n
         FROM security_handle_days r WHERE {}
         GROUP BY r.rule_kind, r.rule_id, r.wait_from_ms",
        args.days(f)
    )
}

impl Store {
    /// The security report with one page (`f.page`) of `list`. `None`: the group is not the
    /// filter's.
    pub async fn security_report(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        list: SecurityList,
    ) -> Result<Option<SecurityReport>> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(None);
        }
        let mut conn = self.reader().await?;
        let mut counts_args = Args::default();
        let counted = counted(f, &mut counts_args);
        let level_only = level_only(a, &mut counts_args);

        // Per site and rule, added up from the roll-up's days (or the group's events); the
        // rules' names, levels and sites joined to the counts, not to each event.
        let sql = format!(
            "SELECT x.site_id, s.uid, s.name, x.rule_kind, x.rule_id,
                    COALESCE(sp.name, o.name, '') AS rule, {LEVEL} AS level, rs.uid AS rule_site,
                    x.status, x.n
             FROM (SELECT y.site_id, y.rule_kind, y.rule_id, y.status, CAST(SUM(y.n) AS BIGINT) AS n
                   FROM ({counted}) y GROUP BY y.site_id, y.rule_kind, y.rule_id, y.status
                   HAVING SUM(y.n) <> 0) x
             JOIN sites s ON s.id = x.site_id
             {RULES}
             LEFT JOIN sites rs ON rs.id = COALESCE(sp.site_id, o.site_id){level_only}"
        );
        let mut rules: Vec<SecurityRule> = Vec::new();
        let mut per_level: BTreeMap<String, EventCounts> = BTreeMap::new();
        let mut per_site: BTreeMap<i64, SecuritySite> = BTreeMap::new();
        let mut totals = EventCounts::default();
        for r in counts_args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
        {
            let (kind, id): (String, i64) = (r.try_get("rule_kind")?, r.try_get("rule_id")?);
            let (st, n) = (status(&r)?, r.try_get("n")?);
            let level: String = r.try_get("level")?;
            totals.add(st, n);
            per_level.entry(level.clone()).or_default().add(st, n);
            let entry = site_entry(&mut per_site, &r, |site_id, uid, name| SecuritySite {
                site_id,
                uid,
                name,
                counts: EventCounts::default(),
                levels: LevelCounts::default(),
            })?;
            entry.counts.add(st, n);
            entry.levels.add(&level, n);
            match rules
                .iter_mut()
                .find(|x| x.rule_kind == kind && x.rule_id == id)
            {
                Some(rule) => rule.counts.add(st, n),
                None => {
                    let mut counts = EventCounts::default();
                    counts.add(st, n);
                    rules.push(SecurityRule {
                        rule_kind: kind,
                        rule_id: id,
                        name: r.try_get("rule")?,
                        level,
                        site: r.try_get("rule_site")?,
                        counts,
                        time_to_handle: TimeToHandle::default(),
                    });
                }
            }
        }
        let mut sites: Vec<SecuritySite> = per_site.into_values().collect();
        sites.sort_by(|x, y| (&x.name, x.site_id).cmp(&(&y.name, y.site_id)));
        // The time to handle per rule, added up from the roll-up's buckets (or the group's
        // events), then per level by the rules' levels and for all: only the rules counted
        // above (of the level asked for).
        let mut handled_args = Args::default();
        let sql = handled(f, &mut handled_args);
        let mut per_rule: BTreeMap<(String, i64), Waits> = BTreeMap::new();
        for r in handled_args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
        {
            per_rule
                .entry((r.try_get("rule_kind")?, r.try_get("rule_id")?))
                .or_default()
                .add(r.try_get("wait_from_ms")?, r.try_get("n")?);
        }
        let mut level_waits: BTreeMap<String, Waits> = BTreeMap::new();
        let mut all_waits = Waits::default();
        for rule in &mut rules {
            if let Some(waits) = per_rule.get(&(rule.rule_kind.clone(), rule.rule_id)) {
                rule.time_to_handle = waits.time();
                level_waits
                    .entry(rule.level.clone())
                    .or_default()
                    .merge(waits);
                all_waits.merge(waits);
            }
        }
        rules.sort_by(|x, y| {
            (y.counts.events, &x.name, &x.rule_kind, x.rule_id).cmp(&(
                x.counts.events,
                &y.name,
                &y.rule_kind,
                y.rule_id,
            ))
        });

        // Per level, the most severe first (an event of a rule that is gone last).
        let rank = |l: &str| LEVELS.iter().position(|x| *x == l).unwrap_or(LEVELS.len());
        let mut levels: Vec<SecurityLevel> = per_level
            .into_iter()
            .map(|(level, counts)| SecurityLevel {
                time_to_handle: level_waits.get(&level).map(Waits::time).unwrap_or_default(),
                level,
                counts,
            })
            .collect();
        levels.sort_by_key(|l| rank(&l.level));
        let time_to_handle = all_waits.time();

        // Per bucket with the levels: added up per local date and rule, then per level.
        let sql = format!(
            "SELECT x.day, {LEVEL} AS level, x.status, CAST(SUM(x.n) AS BIGINT) AS n
             FROM (SELECT y.day, y.rule_kind, y.rule_id, y.status, SUM(y.n) AS n
                   FROM ({counted}) y GROUP BY y.day, y.rule_kind, y.rule_id, y.status) x
             {RULES}{level_only}
             GROUP BY x.day, {LEVEL}, x.status"
        );
        let mut periods: Vec<SecurityPeriod> = a
            .bucket
            .of(&f.period)
            .into_iter()
            .map(|(start, days)| SecurityPeriod {
                start,
                days,
                counts: EventCounts::default(),
                levels: LevelCounts::default(),
            })
            .collect();
        for r in counts_args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
        {
            let start = a.bucket.start(date_of_day(r.try_get("day")?));
            if let Some(p) = periods.iter_mut().find(|p| p.start == start) {
                let n = r.try_get("n")?;
                p.counts.add(status(&r)?, n);
                p.levels.add(&r.try_get::<String, _>("level")?, n);
            }
        }
        drop(conn);

        let pcs_order = if totals.events > PCS_BY_EVENTS_MAX {
            PcsOrder::Registered
        } else {
            PcsOrder::Events
        };
        let (count, items) = match list {
            SecurityList::Pcs => {
                let (count, pcs) = self
                    .security_pcs_in(f, a, f.page.clone(), pcs_order)
                    .await?;
                (count, SecurityItems::Pcs(pcs))
            }
            SecurityList::Events => {
                let events = self.security_events_page(f, a, &f.page).await?;
                (totals.events, SecurityItems::Events(events))
            }
        };
        Ok(Some(SecurityReport {
            from: f.period.from,
            to: f.period.to,
            time_zone: TIME_ZONE.name(),
            bucket: a.bucket.as_str(),
            level: a.level,
            totals,
            time_to_handle,
            levels,
            rules,
            sites,
            periods,
            list: list.as_str(),
            pcs_order: pcs_order.as_str(),
            count,
            limit: f.page.limit,
            offset: f.page.offset,
            items,
        }))
    }

    /// One page of the PCs with events (the most first) and how many there are. `None`: the
    /// group is not the filter's.
    pub async fn security_pcs(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        page: Page,
    ) -> Result<Option<(i64, Vec<SecurityPc>)>> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(None);
        }
        Ok(Some(
            self.security_pcs_in(f, a, page, PcsOrder::Events).await?,
        ))
    }

    async fn security_pcs_in(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        page: Page,
        order: PcsOrder,
    ) -> Result<(i64, Vec<SecurityPc>)> {
        let events = source(a);
        let mut conn = self.reader().await?;
        let mut distinct = Args::default();
        let count_sql = format!(
            "SELECT COUNT(DISTINCT e.pc_id) FROM {events} WHERE {}",
            condition(f, a, &mut distinct)
        );
        let mut args = Args::default();
        let mut cond = condition(f, a, &mut args);
        let (order_by, tail) = match order {
            PcsOrder::Events => (
                "y.events DESC, p.name, p.id",
                format!(
                    " LIMIT {} OFFSET {}",
                    args.int(page.limit),
                    args.int(page.offset)
                ),
            ),
            PcsOrder::Registered => {
                // The page's PCs from the events' PC index, in its order: only their events
                // are counted below. SQLite is told the index (it would pick the site's and
                // sort every event of the period); PostgreSQL picks it itself.
                let from = match self.db.kind() {
                    service_kit::db::DbKind::Sqlite => events.replacen(
                        "security_events e",
                        "security_events e INDEXED BY security_events_pc_time",
                        1,
                    ),
                    service_kit::db::DbKind::Postgres => events.to_owned(),
                };
                let mut page_args = Args::default();
                let sql = format!(
                    "SELECT DISTINCT e.pc_id FROM {from} WHERE {} ORDER BY e.pc_id
                     LIMIT {} OFFSET {}",
                    condition(f, a, &mut page_args),
                    page_args.int(page.limit),
                    page_args.int(page.offset)
                );
                let ids: Vec<i64> = page_args
                    .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<i64, _>(0))
                    .collect::<Result<_, _>>()?;
                cond.push_str(&format!(" AND {}", args.within("e.pc_id", &ids)));
                ("y.pc_id", String::new())
            }
        };
        let statuses = PC_COLUMNS.map(|(s, c)| (s.as_str(), c));
        // Counted per PC and rule from the index, then per PC with the rules' levels; the
        // number of PCs comes with the most-first page (counted before it is cut).
        let sql = format!(
            "SELECT y.pc_id, p.uid, p.name, s.uid AS site, y.fresh, y.assigned, y.resolved,
                    y.critical, y.high, y.normal, COUNT(*) OVER () AS total
             FROM (SELECT x.pc_id, CAST(SUM(x.n) AS BIGINT) AS events, {}, {}
                   FROM (SELECT e.pc_id, e.rule_kind, e.rule_id, e.status, COUNT(*) AS n
                         FROM {events} WHERE {cond}
                         GROUP BY e.pc_id, e.rule_kind, e.rule_id, e.status) x
                   {RULES}
                   GROUP BY x.pc_id) y
             JOIN pcs p ON p.id = y.pc_id JOIN sites s ON s.id = p.site_id
             ORDER BY {order_by}{tail}",
            args.sums("x.status", "x.n", &statuses),
            args.sums(LEVEL, "x.n", &LEVEL_COLUMNS),
        );
        let rows = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?;
        let first = match order {
            PcsOrder::Events => rows.first(),
            PcsOrder::Registered => None,
        };
        let count = list_length(&mut conn, first, count_sql, &distinct).await?;
        let mut pcs = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut counts = EventCounts::default();
            read_sums(r, &PC_COLUMNS, |s, n| counts.add(s, n))?;
            pcs.push(SecurityPc {
                pc_id: r.try_get("pc_id")?,
                uid: r.try_get("uid")?,
                name: r.try_get("name")?,
                site: r.try_get("site")?,
                counts,
                levels: LevelCounts {
                    critical: r.try_get("critical")?,
                    high: r.try_get("high")?,
                    normal: r.try_get("normal")?,
                },
            });
        }
        Ok((count, pcs))
    }

    /// One page of the events (newest first, without summaries) and how many there are.
    /// `None`: the group is not the filter's.
    pub async fn security_events_list(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        page: Page,
    ) -> Result<Option<(i64, Vec<SecurityEventRow>)>> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(None);
        }
        Ok(Some(self.security_events_in(f, a, page).await?))
    }

    async fn security_events_in(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        page: Page,
    ) -> Result<(i64, Vec<SecurityEventRow>)> {
        let mut args = Args::default();
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            source(a),
            condition(f, a, &mut args)
        );
        let count: i64 = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok((count, self.security_events_page(f, a, &page).await?))
    }

    /// One page of the events, without its length.
    async fn security_events_page(
        &self,
        f: &Filter,
        a: &SecurityAsked,
        page: &Page,
    ) -> Result<Vec<SecurityEventRow>> {
        let mut args = Args::default();
        let cond = condition(f, a, &mut args);
        // The page's events from the index first, then their rules, sites and PCs: joined
        // before the sort, every event of a year would be (270,000, 150 ms).
        let sql = format!(
            "WITH page AS (SELECT e.id FROM {} WHERE {cond}
                           ORDER BY e.occurred_at DESC, e.id DESC LIMIT {} OFFSET {})
             SELECT e.id, s.uid AS site, e.pc_id, p.uid AS pc_uid, p.name AS pc_name, e.rule_kind,
                    e.rule_id, COALESCE(sp.name, o.name, '') AS rule, {LEVEL} AS level, e.status,
                    e.occurred_at, e.reported_at, e.handled_at
             FROM {FROM} JOIN sites s ON s.id = e.site_id JOIN pcs p ON p.id = e.pc_id
             WHERE e.id IN (SELECT id FROM page) ORDER BY e.occurred_at DESC, e.id DESC",
            source(a),
            args.int(page.limit),
            args.int(page.offset)
        );
        let rows = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(self.pool())
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let status = status(r)?;
            let occurred_at: i64 = r.try_get("occurred_at")?;
            let handled_at: Option<i64> = r.try_get("handled_at")?;
            events.push(SecurityEventRow {
                event_id: r.try_get("id")?,
                site: r.try_get("site")?,
                pc_id: r.try_get("pc_id")?,
                pc_uid: r.try_get("pc_uid")?,
                pc_name: r.try_get("pc_name")?,
                rule_kind: r.try_get("rule_kind")?,
                rule_id: r.try_get("rule_id")?,
                rule: r.try_get("rule")?,
                level: r.try_get("level")?,
                status,
                occurred_at,
                reported_at: r.try_get("reported_at")?,
                handled_at,
                time_to_handle_ms: handled_at
                    .filter(|_| status == EventStatus::Resolved)
                    .map(|h| (h - occurred_at).max(0)),
            });
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::{WAIT_BUCKETS, Waits};

    /// `percentile_cont` of every value, as a reference.
    fn reference(sorted: &[i64], tenths: i64) -> f64 {
        let pos = (sorted.len() - 1) as f64 * tenths as f64 / 10.0;
        let lo = pos.floor() as usize;
        let hi = (lo + 1).min(sorted.len() - 1);
        sorted[lo] as f64 + (sorted[hi] - sorted[lo]) as f64 * (pos - lo as f64)
    }

    fn bucket(v: i64) -> i64 {
        *WAIT_BUCKETS.iter().rev().find(|b| **b <= v).unwrap()
    }

    /// The exact percentile is within the bounds read from the buckets, and those are the
    /// bounds of buckets next to each other (or the same one).
    #[test]
    fn bucketed_percentiles_hold_the_exact_ones() {
        for n in 1..=40i64 {
            let values: Vec<i64> = (0..n)
                .map(|i| i * i * i * 37_000 + (i % 3) * 1000)
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let mut waits = Waits::default();
            for v in &values {
                waits.add(bucket(*v), 1);
            }
            for tenths in [5, 9] {
                let (from, to) = waits.percentile(n, tenths).unwrap();
                let exact = reference(&sorted, tenths);
                let last = WAIT_BUCKETS[WAIT_BUCKETS.len() - 1] as f64;
                assert!(from <= exact, "n {n} p{tenths}0: {from} {exact}");
                assert!(exact <= to || to == last, "n {n} p{tenths}0: {exact} {to}");
                assert!(WAIT_BUCKETS.contains(&(from as i64)), "{from}");
                assert!(WAIT_BUCKETS.contains(&(to as i64)), "{to}");
            }
        }
        assert_eq!(Waits::default().time().median_ms, None);
        // A wait in the 2-minute bucket and one in the 30-minute bucket: both percentiles are
        // between them, from 2 to 60 minutes.
        let mut two = Waits::default();
        two.add(2 * 60_000, 1);
        two.add(30 * 60_000, 1);
        let t = two.time();
        assert_eq!(
            (t.median_from_ms, t.median_ms),
            (Some(120_000.0), Some(3_600_000.0))
        );
        assert_eq!(
            (t.p90_from_ms, t.p90_ms),
            (Some(120_000.0), Some(3_600_000.0))
        );
    }

    /// Every bucket is at most 2.5 times the one before (the precision the docs state).
    #[test]
    fn buckets_grow_by_at_most_two_and_a_half() {
        for w in WAIT_BUCKETS.windows(2).skip(1) {
            assert!(w[1] * 2 <= w[0] * 5, "{w:?}");
        }
    }
}
