//! The availability report's figures for many PCs at once (issue 14): per local date and per
//! site, the PC-quarters online of those begun, the most PCs online at once, and the same
//! within opening hours. They come from the roll-up `site_checkin_days` (PCs online per UTC
//! quarter per site per day, kept by `history.rs` as check-ins arrive), so a customer's
//! 100,000 PCs cost sites × days rows and no PC's bits. A group has no roll-up of its own:
//! its members' `checkin_days` are summed into the same shape by one query (96 sums per UTC
//! day), bounded by the group's size.
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

/// The sites' figures from the roll-up: each site's days with its own opening hours, and
/// their sum per date (the most PCs online at once from the sites' quarters added up).
pub(super) async fn of_sites(
    conn: &mut sqlx::AnyConnection,
    sites: &[i64],
    period: &Period,
    hours: &HashMap<i64, Hours>,
    now: i64,
) -> Result<Totals> {
    let (first, last) = utc_days(period);
    let mut counts = HashMap::new();
    let mut names: BTreeMap<(String, String, i64), ()> = BTreeMap::new();
    let mut now_pcs: HashMap<i64, i64> = HashMap::new();
    if !sites.is_empty() {
        let sql = format!(
            "SELECT site_id, day, pcs, {} FROM site_checkin_days
             WHERE day >= $1 AND day <= $2 AND {}",
            rollup_columns().collect::<Vec<_>>().join(", "),
            in_scope("site_id", sites, 3)
        );
        let rows = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(last),
            sites,
        )
        .fetch_all(&mut *conn)
        .await?;
        counts = read_counts(&rows)?;
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
            let id: i64 = r.try_get(0)?;
            names.insert((r.try_get(2)?, r.try_get(1)?, id), ());
            now_pcs.insert(id, r.try_get(3)?);
        }
    }
    // The filter's own counts per UTC day: the sites' added up.
    let mut all: HashMap<i64, DayCounts> = HashMap::new();
    for day in first..=last {
        let mut sum = DayCounts { pcs: 0, n: [0; 96] };
        for (_, _, site) in names.keys() {
            match counts.get(&(*site, day)) {
                Some(c) => {
                    sum.pcs += c.pcs;
                    for (s, n) in sum.n.iter_mut().zip(&c.n) {
                        *s += n;
                    }
                }
                None => sum.pcs += now_pcs.get(site).copied().unwrap_or(0),
            }
        }
        all.insert(day, sum);
    }
    // Opening hours are each site's own: added below.
    let mut days = local_days(period, &|d| all.get(&d), 0, None, now);
    let mut out_sites = Vec::with_capacity(names.len());
    let mut totals = AvailabilityTotals::default();
    for (name, uid, site) in names.into_keys() {
        let h = hours.get(&site);
        let open = h.map(|h| h.spans(period.from, period.to));
        let site_days = local_days(
            period,
            &|d| counts.get(&(site, d)),
            now_pcs.get(&site).copied().unwrap_or(0),
            open.as_ref(),
            now,
        );
        let mut t = AvailabilityTotals::default();
        for (sum, own) in days.iter_mut().zip(&site_days) {
            t.add(&own.totals);
            sum.totals.opening_quarters_online += own.totals.opening_quarters_online;
            sum.totals.opening_quarters_elapsed += own.totals.opening_quarters_elapsed;
        }
        totals.add(&t);
        out_sites.push(AvailabilitySite {
            site: uid,
            name,
            opening_hours: h.map(Hours::source),
            totals: t,
        });
    }
    for d in &mut days {
        d.totals.finish();
    }
    Ok(Totals {
        totals,
        days,
        sites: out_sites,
    })
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
