//! The availability report's figures for many PCs at once (issue 14): per local date and per
//! site, the PC-quarters online of those begun, the most PCs online at once, and the same
//! within opening hours. They come from the roll-up `site_checkin_days` (PCs online per UTC
//! quarter per site per day, kept by `history.rs` as check-ins arrive), so a customer's
//! 100,000 PCs cost sites × days rows and no PC's bits; and those rows are added up in SQL,
//! so what comes back is a row per UTC day and per site, not 96 counters per site per day
//! (reading those for 100 sites and 400 days took seconds). A group has no roll-up of its
//! own: its members' `checkin_days` are summed into the same shape by one query (96 sums per
//! UTC day), bounded by the group's size.
//!
//! A site's quarters are those of the PCs that were on it when they checked in, and its PCs
//! counted are those it had that day (the roll-up's `pcs`; a day without a row counts its PCs
//! now); a group's are its members now, like its PC rows.

use super::super::history::{quarter_sums, rollup_columns};
use super::super::opening_hours::{Hours, OpenSpans};
use super::super::operator::{bind_all, in_scope};
use super::{DAY_MS, Filter, HOUR_MS, Period, QUARTER_MS, day_start, ymd};
use crate::store::Result;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row as _;
use std::collections::{BTreeMap, HashMap};

/// PCs online in each UTC quarter of one UTC day, and the PCs counted that day.
#[derive(Debug, Clone)]
pub(super) struct DayCounts {
    pcs: i64,
    n: [i64; 96],
}

/// Figures over a period (the whole filter's, or a site's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AvailabilityTotals {
    /// PC-quarters with a check-in, and PC-quarters begun (PCs counted × quarters begun).
    pub quarters_online: i64,
    pub quarters_elapsed: i64,
    /// `quarters_online / quarters_elapsed`; `None` when none has begun.
    pub uptime: Option<f64>,
    /// PC-hours online, counted by the quarter: `quarters_online / 4`.
    pub hours_online: f64,
    /// The same within opening hours (0 and `None` without opening hours).
    pub opening_quarters_online: i64,
    pub opening_quarters_elapsed: i64,
    pub uptime_opening_hours: Option<f64>,
}

/// Many PCs' availability on one local date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilitySum {
    #[serde(serialize_with = "ymd")]
    pub date: NaiveDate,
    /// 23, 24 or 25.
    pub hours_in_day: u32,
    /// PCs counted: the sites' PCs that day (the most in any of its quarters), or the
    /// group's members now.
    pub pcs: i64,
    /// The most PCs online in one quarter hour of the date.
    pub peak_online: i64,
    #[serde(flatten)]
    pub totals: AvailabilityTotals,
}

/// One site's availability over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilitySite {
    pub site: String,
    pub name: String,
    /// Where the site's opening hours come from: `site` (configured), `wake_plan` (its one
    /// enabled plan), or `None`.
    pub opening_hours: Option<&'static str>,
    #[serde(flatten)]
    pub totals: AvailabilityTotals,
}

impl AvailabilityTotals {
    fn add(&mut self, o: &AvailabilityTotals) {
        self.quarters_online += o.quarters_online;
        self.quarters_elapsed += o.quarters_elapsed;
        self.opening_quarters_online += o.opening_quarters_online;
        self.opening_quarters_elapsed += o.opening_quarters_elapsed;
        self.finish();
    }

    /// The shares and hours from the counts.
    fn finish(&mut self) {
        let share = |on: i64, of: i64| (of > 0).then(|| on as f64 / of as f64);
        self.uptime = share(self.quarters_online, self.quarters_elapsed);
        self.hours_online = self.quarters_online as f64 / 4.0;
        self.uptime_opening_hours =
            share(self.opening_quarters_online, self.opening_quarters_elapsed);
    }
}

/// The UTC days (since 1970) the period's local dates touch, first and last.
pub(super) fn utc_days(period: &Period) -> (i64, i64) {
    (
        day_start(period.from).div_euclid(DAY_MS),
        (day_start(period.to) - 1).div_euclid(DAY_MS),
    )
}

/// The period's local dates from per-UTC-day counts: `counts` gives a UTC day's, `fallback`
/// the PCs counted on a day without counts; `open` the opening hours; quarters from `now` on
/// are not begun.
fn local_days<'c>(
    period: &Period,
    counts: &dyn Fn(i64) -> Option<&'c DayCounts>,
    fallback: i64,
    open: Option<&OpenSpans>,
    now: i64,
) -> Vec<AvailabilitySum> {
    period
        .dates()
        .map(|date| {
            let start = day_start(date);
            let end = date.succ_opt().map(day_start).unwrap_or(start + DAY_MS);
            let mut sum = AvailabilitySum {
                date,
                hours_in_day: ((end - start) / HOUR_MS) as u32,
                pcs: 0,
                peak_online: 0,
                totals: AvailabilityTotals::default(),
            };
            let t = &mut sum.totals;
            let mut at = start;
            while at < end {
                let row = counts(at.div_euclid(DAY_MS));
                let q = (at.rem_euclid(DAY_MS) / QUARTER_MS) as usize;
                let pcs = row.map_or(fallback, |r| r.pcs);
                let n = row.map_or(0, |r| r.n[q]);
                let opening = open.is_some_and(|o| o.contains(at));
                sum.pcs = sum.pcs.max(pcs);
                sum.peak_online = sum.peak_online.max(n);
                t.quarters_online += n;
                if opening {
                    t.opening_quarters_online += n;
                }
                if at < now {
                    t.quarters_elapsed += pcs;
                    if opening {
                        t.opening_quarters_elapsed += pcs;
                    }
                }
                at += QUARTER_MS;
            }
            t.finish();
            sum
        })
        .collect()
}

/// Rows of (key, day, pcs, n00..n95) read into counts by (key, day).
fn read_counts(rows: &[sqlx::any::AnyRow]) -> Result<HashMap<(i64, i64), DayCounts>> {
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let mut n = [0i64; 96];
        for (q, v) in n.iter_mut().enumerate() {
            *v = r.try_get(3 + q)?;
        }
        out.insert(
            (r.try_get(0)?, r.try_get(1)?),
            DayCounts {
                pcs: r.try_get(2)?,
                n,
            },
        );
    }
    Ok(out)
}

/// What the report's totals are: per local date over the filter, and per site.
pub(super) struct Totals {
    pub(super) totals: AvailabilityTotals,
    pub(super) days: Vec<AvailabilitySum>,
    pub(super) sites: Vec<AvailabilitySite>,
}

/// `n{lo}+…+n{hi-1}`: a row's PCs online in its quarters `[lo, hi)`, added up in SQL.
fn quarters_sum(lo: usize, hi: usize) -> String {
    let cols: Vec<String> = rollup_columns()
        .skip(lo)
        .take(hi.saturating_sub(lo))
        .collect();
    if cols.is_empty() {
        "0".to_owned()
    } else {
        format!("r.{}", cols.join(" + r."))
    }
}

/// The sites' figures from the roll-up, read so that the rows come back few: the filter's
/// quarters per UTC day added up over its sites in SQL (at most 402 rows), each site's
/// figures over the period added up in SQL (a row each), and only the sites with opening
/// hours read per day in full, to count the quarters within them.
pub(super) async fn of_sites(
    conn: &mut sqlx::AnyConnection,
    sites: &[i64],
    period: &Period,
    hours: &HashMap<i64, Hours>,
    now: i64,
) -> Result<Totals> {
    let (first, last) = utc_days(period);
    // The sites by name, with their PCs now (a day without a row counts those).
    let mut info: Vec<(String, String, i64, i64)> = Vec::with_capacity(sites.len());
    if !sites.is_empty() {
        let sql = format!(
            "SELECT s.id, s.uid, s.name, COALESCE(k.n, 0) FROM sites s
             LEFT JOIN site_pc_counts k ON k.site_id = s.id AND k.fact = 'pcs' AND k.fact_value = ''
             WHERE {}",
            in_scope("s.id", sites, 1)
        );
        for r in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), sites)
            .fetch_all(&mut *conn)
            .await?
        {
            info.push((r.try_get(2)?, r.try_get(1)?, r.try_get(0)?, r.try_get(3)?));
        }
        info.sort();
    }
    let all_now: i64 = info.iter().map(|s| s.3).sum();
    let ids: Vec<i64> = info.iter().map(|s| s.2).collect();

    // The filter per UTC day: its sites' quarters added up; the PCs counted are the rows'
    // and, for the sites without a row that day, their PCs now.
    let mut per_day = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT 0, r.day, CAST(SUM(r.pcs) - SUM(COALESCE(k.n, 0)) AS BIGINT), {}
             FROM site_checkin_days r
             LEFT JOIN site_pc_counts k ON k.site_id = r.site_id AND k.fact = 'pcs' AND k.fact_value = ''
             WHERE r.day >= $1 AND r.day <= $2 AND {} GROUP BY r.day",
            rollup_columns()
                .map(|c| format!("CAST(SUM(r.{c}) AS BIGINT)"))
                .collect::<Vec<_>>()
                .join(", "),
            in_scope("r.site_id", &ids, 3)
        );
        let rows = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(last),
            &ids,
        )
        .fetch_all(&mut *conn)
        .await?;
        per_day = read_counts(&rows)?;
        for c in per_day.values_mut() {
            c.pcs += all_now;
        }
    }
    // Opening hours are each site's own: added below.
    let mut days = local_days(period, &|d| per_day.get(&(0, d)), all_now, None, now);

    // Each site over the period: the quarters of its rows within the period, and the
    // quarters begun of each row's day (times its PCs, and alone, for the days without a row).
    let start_q = ((day_start(period.from) - first * DAY_MS) / QUARTER_MS) as usize;
    let end_q = ((day_start(period.to) - last * DAY_MS) / QUARTER_MS) as usize;
    let begun = |day: i64| -> i64 {
        let lo = if day == first { start_q as i64 } else { 0 };
        let hi = if day == last { end_q as i64 } else { 96 };
        let by_now = (now - day * DAY_MS + QUARTER_MS - 1).div_euclid(QUARTER_MS);
        (hi.min(by_now) - lo).max(0)
    };
    let all_begun: i64 = (first..=last).map(begun).sum();
    let today = now.div_euclid(DAY_MS);
    let mut special: Vec<i64> = vec![first, last, today];
    special.retain(|d| (first..=last).contains(d));
    special.sort_unstable();
    special.dedup();
    let begun_sql = format!(
        "CASE{} WHEN r.day > {today} THEN 0 ELSE 96 END",
        special
            .iter()
            .map(|d| format!(" WHEN r.day = {d} THEN {}", begun(*d)))
            .collect::<String>()
    );
    let online_sql = if first == last {
        quarters_sum(start_q, end_q)
    } else {
        format!(
            "CASE WHEN r.day = {first} THEN {} WHEN r.day = {last} THEN {} ELSE {} END",
            quarters_sum(start_q, 96),
            quarters_sum(0, end_q),
            quarters_sum(0, 96)
        )
    };
    let mut per_site: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT r.site_id, CAST(SUM({online_sql}) AS BIGINT),
                    CAST(SUM(r.pcs * ({begun_sql})) AS BIGINT), CAST(SUM({begun_sql}) AS BIGINT)
             FROM site_checkin_days r WHERE r.day >= $1 AND r.day <= $2 AND {}
             GROUP BY r.site_id",
            in_scope("r.site_id", &ids, 3)
        );
        for r in bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(last),
            &ids,
        )
        .fetch_all(&mut *conn)
        .await?
        {
            per_site.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
        }
    }

    // Within opening hours: counted in SQL with each site's opening quarters per day.
    let opening = opening_sums(conn, &info, hours, period, now).await?;
    let mut out_sites = Vec::with_capacity(info.len());
    let mut totals = AvailabilityTotals::default();
    for (name, uid, site, now_pcs) in info {
        let (online, rows_begun, begun_days) = per_site.get(&site).copied().unwrap_or_default();
        let mut t = AvailabilityTotals {
            quarters_online: online,
            quarters_elapsed: rows_begun + now_pcs * (all_begun - begun_days),
            ..AvailabilityTotals::default()
        };
        let h = hours.get(&site);
        if let Some((on, of)) = opening.sites.get(&site) {
            t.opening_quarters_online = *on;
            t.opening_quarters_elapsed = *of;
        }
        t.finish();
        totals.add(&t);
        out_sites.push(AvailabilitySite {
            site: uid,
            name,
            opening_hours: h.map(Hours::source),
            totals: t,
        });
    }
    for (d, (on, of)) in days.iter_mut().zip(&opening.dates) {
        d.totals.opening_quarters_online = *on;
        d.totals.opening_quarters_elapsed = *of;
        d.totals.finish();
    }
    Ok(Totals {
        totals,
        days,
        sites: out_sites,
    })
}

/// PC-quarters online and begun within opening hours: per local date of the period, and
/// per site.
#[derive(Default)]
struct Opening {
    dates: Vec<(i64, i64)>,
    sites: HashMap<i64, (i64, i64)>,
}

/// A site's opening quarters of one UTC day that are within the period and have begun, as
/// bits: quarters 0-47, and 48-95 before and after the local date's midnight (the head of
/// the day belongs to the local date of the same number, the tail to the next).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct DayMask {
    m0: i64,
    m1_head: i64,
    m1_tail: i64,
}

impl DayMask {
    fn head(&self) -> i64 {
        i64::from(self.m0.count_ones() + self.m1_head.count_ones())
    }

    fn tail(&self) -> i64 {
        i64::from(self.m1_tail.count_ones())
    }
}

/// Each UTC day's opening quarters of the period for hours `spans`, from `first`.
fn day_masks(spans: &OpenSpans, first: i64, last: i64, period: &Period, now: i64) -> Vec<DayMask> {
    let (start, end) = (day_start(period.from), day_start(period.to).min(now));
    (first..=last)
        .map(|day| {
            let base = day * DAY_MS;
            let mut bits = 0u128;
            for (a, b) in spans.within(start.max(base), end.min(base + DAY_MS)) {
                // The quarters that begin in [a, b).
                let from = (a - base + QUARTER_MS - 1) / QUARTER_MS;
                let to = (b - base + QUARTER_MS - 1) / QUARTER_MS;
                for q in from..to.min(96) {
                    bits |= 1 << q;
                }
            }
            let split = midnight_quarter(day).clamp(48, 96);
            let m1 = (bits >> 48) as i64;
            let head = if split >= 96 {
                m1
            } else {
                m1 & ((1 << (split - 48)) - 1)
            };
            DayMask {
                m0: (bits & ((1 << 48) - 1)) as i64,
                m1_head: head,
                m1_tail: m1 & !head,
            }
        })
        .collect()
}

/// The quarter of a UTC day at which the local date of the next number begins (88 in
/// Copenhagen's summer time, 92 in winter).
fn midnight_quarter(day: i64) -> i64 {
    let date = NaiveDate::default() + chrono::Duration::days(day + 1);
    (day_start(date) - day * DAY_MS) / QUARTER_MS
}

/// The opening figures of the sites with hours. Each site's opening quarters per UTC day are
/// computed here; a site's days mostly repeat by weekday and clock (summer or winter time),
/// so SQL is given each kind of day's quarters once per site (sites with the same hours
/// share them) and the days that differ (a plan's exceptions, the period's ends, today)
/// apart, and adds up the PCs online in those quarters over the rows, per UTC day and per
/// site. PC-quarters begun: the site's PCs now on every day, corrected by each row's PCs.
async fn opening_sums(
    conn: &mut sqlx::AnyConnection,
    info: &[(String, String, i64, i64)],
    hours: &HashMap<i64, Hours>,
    period: &Period,
    now: i64,
) -> Result<Opening> {
    let (first, last) = utc_days(period);
    let dates: Vec<NaiveDate> = period.dates().collect();
    let mut out = Opening {
        dates: vec![(0, 0); dates.len()],
        sites: HashMap::new(),
    };
    // Each UTC day's kind: weekday, and the clock at the day's local midnight.
    let kind = |day: i64| (day + 3).rem_euclid(7) * 2 + i64::from(midnight_quarter(day) == 88);
    // Per site: its masks, then its kinds' usual masks and the days that differ.
    type Shape = (Vec<(i64, DayMask)>, Vec<(i64, DayMask)>);
    let mut groups: BTreeMap<Shape, usize> = BTreeMap::new();
    let mut site_group: Vec<(i64, usize)> = Vec::new();
    // Begun within opening hours with the site's PCs now, per UTC day: (head, tail).
    let mut begun_now: HashMap<i64, (i64, i64)> = HashMap::new();
    // Per site: its opening quarters in the period, all days.
    let mut site_quarters: HashMap<i64, i64> = HashMap::new();
    for (_, _, site, now_pcs) in info {
        let Some(h) = hours.get(site) else { continue };
        let masks = day_masks(&h.spans(period.from, period.to), first, last, period, now);
        site_quarters.insert(*site, masks.iter().map(|m| m.head() + m.tail()).sum());
        let mut tally: BTreeMap<(i64, DayMask), usize> = BTreeMap::new();
        for (i, m) in masks.iter().enumerate() {
            *tally.entry((kind(first + i as i64), *m)).or_default() += 1;
            let e = begun_now.entry(first + i as i64).or_default();
            e.0 += now_pcs * m.head();
            e.1 += now_pcs * m.tail();
        }
        let mut usual: BTreeMap<i64, (usize, DayMask)> = BTreeMap::new();
        for ((k, m), n) in tally {
            let e = usual.entry(k).or_insert((0, m));
            if n > e.0 {
                *e = (n, m);
            }
        }
        let others: Vec<(i64, DayMask)> = masks
            .iter()
            .enumerate()
            .map(|(i, m)| (first + i as i64, *m))
            .filter(|(d, m)| usual.get(&kind(*d)).map(|u| u.1) != Some(*m))
            .collect();
        let shape = (
            usual.into_iter().map(|(k, (_, m))| (k, m)).collect(),
            others,
        );
        let n = groups.len();
        site_group.push((*site, *groups.entry(shape).or_insert(n)));
    }
    if site_group.is_empty() {
        return Ok(out);
    }
    // The tables, as literals (numbers computed here, never input).
    let mask = |m: &DayMask| {
        format!(
            "{}, {}, {}, {}, {}",
            m.m0,
            m.m1_head,
            m.m1_tail,
            m.head(),
            m.tail()
        )
    };
    let mut usual_rows = Vec::new();
    let mut other_rows = vec!["(-1, -1, 0, 0, 0, 0, 0)".to_owned()];
    for ((usual, others), g) in &groups {
        usual_rows.extend(
            usual
                .iter()
                .map(|(k, m)| format!("({g}, {k}, {})", mask(m))),
        );
        other_rows.extend(
            others
                .iter()
                .map(|(d, m)| format!("({g}, {d}, {})", mask(m))),
        );
    }
    // The kind in SQL: the weekday, and summer time as ranges of days (a join with a table of
    // days would lead PostgreSQL's planner to pair every day with every site first).
    let mut summer: Vec<(i64, i64)> = Vec::new();
    for d in (first..=last).filter(|d| kind(*d) % 2 == 1) {
        match summer.last_mut() {
            Some((_, b)) if *b == d - 1 => *b = d,
            _ => summer.push((d, d)),
        }
    }
    let summer_sql = if summer.is_empty() {
        "0".to_owned()
    } else {
        format!(
            "CASE WHEN {} THEN 1 ELSE 0 END",
            summer
                .iter()
                .map(|(a, b)| format!("r.day BETWEEN {a} AND {b}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        )
    };
    let members: Vec<String> = site_group
        .iter()
        .map(|(s, g)| format!("({s}, {g})"))
        .collect();
    // Quarter q's PCs online when its bit is set: q in m0 (0-47), q - 48 in m1h or m1t.
    let bit = |word: &str, q: usize| {
        let shift = if q < 48 { q } else { q - 48 };
        format!("((x.{word} >> {shift}) & 1) * x.n{q:02}")
    };
    let head: Vec<String> = (0..96)
        .map(|q| bit(if q < 48 { "m0" } else { "m1h" }, q))
        .collect();
    let tail: Vec<String> = (48..96).map(|q| bit("m1t", q)).collect();
    let rows = format!(
        "WITH members (site_id, grp) AS (VALUES {}),
              usual (grp, kind, m0, m1h, m1t, ph, pt) AS (VALUES {}),
              other (grp, day, m0, m1h, m1t, ph, pt) AS (VALUES {})
         SELECT r.site_id, r.day, r.pcs - COALESCE(k.n, 0) AS adj, {},
                CAST(COALESCE(o.m0, u.m0) AS BIGINT) AS m0,
                CAST(COALESCE(o.m1h, u.m1h) AS BIGINT) AS m1h,
                CAST(COALESCE(o.m1t, u.m1t) AS BIGINT) AS m1t,
                COALESCE(o.ph, u.ph) AS ph, COALESCE(o.pt, u.pt) AS pt
         FROM site_checkin_days r
         JOIN members g ON g.site_id = r.site_id
         JOIN usual u ON u.grp = g.grp AND u.kind = ((r.day + 3) % 7) * 2 + {summer_sql}
         LEFT JOIN other o ON o.grp = g.grp AND o.day = r.day
         LEFT JOIN site_pc_counts k ON k.site_id = r.site_id AND k.fact = 'pcs' AND k.fact_value = ''
         WHERE r.day >= $1 AND r.day <= $2",
        members.join(", "),
        usual_rows.join(", "),
        other_rows.join(", "),
        rollup_columns().map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", "),
    );
    let sums = format!(
        "CAST(SUM({}) AS BIGINT), CAST(SUM({}) AS BIGINT),
         CAST(SUM(x.adj * x.ph) AS BIGINT), CAST(SUM(x.adj * x.pt) AS BIGINT)",
        head.join(" + "),
        tail.join(" + ")
    );
    let mut per_day: HashMap<i64, [i64; 4]> = HashMap::new();
    let mut per_site: HashMap<i64, [i64; 4]> = HashMap::new();
    for (by, into) in [("day", &mut per_day), ("site_id", &mut per_site)] {
        let sql = format!("SELECT x.{by}, {sums} FROM ({rows}) x GROUP BY x.{by}");
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(first)
            .bind(last)
            .fetch_all(&mut *conn)
            .await?
        {
            into.insert(
                r.try_get(0)?,
                [r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?],
            );
        }
    }
    // A local date is the tail of the UTC day before its number and the head of its own.
    for (i, date) in dates.iter().enumerate() {
        let own = super::super::history::epoch_day(*date);
        let (h, t) = (per_day.get(&own), per_day.get(&(own - 1)));
        let (bh, bt) = (begun_now.get(&own), begun_now.get(&(own - 1)));
        out.dates[i] = (
            h.map_or(0, |x| x[0]) + t.map_or(0, |x| x[1]),
            bh.map_or(0, |x| x.0)
                + bt.map_or(0, |x| x.1)
                + h.map_or(0, |x| x[2])
                + t.map_or(0, |x| x[3]),
        );
    }
    for (_, _, site, now_pcs) in info {
        if let Some(all) = site_quarters.get(site) {
            let x = per_site.get(site).copied().unwrap_or_default();
            out.sites
                .insert(*site, (x[0] + x[1], now_pcs * all + x[2] + x[3]));
        }
    }
    Ok(out)
}

/// A group's figures, from its members' check-ins summed per UTC quarter: `cond` is the
/// filter's condition on `p` (the group's PCs now) with its arguments, `pcs` how many PCs it
/// matches, `hours` the group's site's.
pub(super) async fn of_pcs(
    conn: &mut sqlx::AnyConnection,
    f: &Filter,
    cond: &str,
    args: &[i64],
    pcs: i64,
    hours: Option<&Hours>,
    now: i64,
) -> Result<Totals> {
    let (first, last) = utc_days(&f.period);
    let sql = format!(
        "SELECT 0, c.day, 0, {} FROM checkin_days c
         WHERE c.day >= ${} AND c.day <= ${} AND c.pc_id IN (SELECT p.id FROM pcs p WHERE {cond})
         GROUP BY c.day",
        quarter_sums("c.q0", "c.q1").join(", "),
        args.len() + 1,
        args.len() + 2,
    );
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
    let mut counts = read_counts(&rows)?;
    for c in counts.values_mut() {
        c.pcs = pcs;
    }
    let open = hours.map(|h| h.spans(f.period.from, f.period.to));
    let days = local_days(&f.period, &|d| counts.get(&(0, d)), pcs, open.as_ref(), now);
    let mut totals = AvailabilityTotals::default();
    for d in &days {
        totals.add(&d.totals);
    }
    Ok(Totals {
        totals,
        days,
        sites: Vec::new(),
    })
}
