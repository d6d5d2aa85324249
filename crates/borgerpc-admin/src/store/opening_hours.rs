//! Opening hours, for the availability report's uptime within opening hours (issue 14): a
//! site's configured hours (`site_opening_hours`, edited on the site's settings page, checked
//! and audited here), and which hours a PC or a site is measured against: the site's
//! configured hours, else the wake plan the PC follows (through one of its groups), else the
//! site's one enabled wake plan, else none (the report's figure is then null).
//!
//! Hours are local times, so this module also turns them into UTC instants, day by day on the
//! local clock: 08:00–16:00 on the 23-hour 2026-03-29 is eight hours (32 quarters), as on any
//! other day. A report counts a quarter hour as within opening hours when it begins within
//! them.

use super::access::Scope;
use super::audit::{Record, before_after, record_in};
use super::operator::{bind_all, in_scope};
use super::reports::TIME_ZONE;
use super::wakeplans::WakePlanView;
use super::{Reason, Result, Store, invalid};
use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row as _;
use std::collections::{BTreeMap, HashMap};

/// Opening and closing time, in minutes after local midnight.
pub type Interval = (u32, u32);

/// A week of hours, Monday first; `None` is closed.
pub type Week = [Option<Interval>; 7];

/// A weekday's hours as typed: `HH:MM` or empty (both empty: closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpeningTimes {
    pub opens: String,
    pub closes: String,
}

/// One open weekday, as the audit log and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpeningDay {
    /// 1 Monday … 7 Sunday.
    pub weekday: u32,
    pub opens: String,
    pub closes: String,
}

/// The hours a PC or a site is measured against, and where they come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Hours {
    /// The site's configured hours (closing is later the same day).
    Site(Week),
    /// A wake plan's: on and off per weekday (off at or before on is the next day), and its
    /// exceptions by dates (inclusive): closed, or on and off at other times.
    WakePlan {
        week: Week,
        exceptions: Vec<(NaiveDate, NaiveDate, Option<Interval>)>,
    },
}

impl Hours {
    /// `site` or `wake_plan`, as the report names the source.
    pub fn source(&self) -> &'static str {
        match self {
            Hours::Site(_) => "site",
            Hours::WakePlan { .. } => "wake_plan",
        }
    }

    /// The hours that begin on a local date.
    fn on(&self, d: NaiveDate) -> Option<Interval> {
        let weekday = d.weekday().num_days_from_monday() as usize;
        match self {
            Hours::Site(week) => week[weekday],
            Hours::WakePlan { week, exceptions } => exceptions
                .iter()
                .find(|(from, to, _)| (*from..=*to).contains(&d))
                .map_or(week[weekday], |(_, _, hours)| *hours),
        }
    }

    /// The opening hours that touch the local dates `[from, to)` as UTC spans (the evening
    /// before `from` too, for a wake plan's night), sorted and merged.
    pub fn spans(&self, from: NaiveDate, to: NaiveDate) -> OpenSpans {
        let mut spans = Vec::new();
        let mut d = from.pred_opt().unwrap_or(from);
        while d < to {
            if let Some((opens, closes)) = self.on(d) {
                let start = local_ms(d, opens);
                let end = if closes > opens {
                    local_ms(d, closes)
                } else {
                    local_ms(d.succ_opt().unwrap_or(d), closes)
                };
                if end > start {
                    spans.push((start, end));
                }
            }
            let Some(next) = d.succ_opt() else { break };
            d = next;
        }
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        OpenSpans(merged)
    }
}

/// Opening hours as sorted, disjoint UTC spans `[start, end)` in Unix ms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenSpans(Vec<(i64, i64)>);

impl OpenSpans {
    /// Whether the instant is within opening hours.
    pub fn contains(&self, at: i64) -> bool {
        let i = self.0.partition_point(|(start, _)| *start <= at);
        i > 0 && self.0[i - 1].1 > at
    }

    /// The parts of the spans within `[from, to)`.
    pub fn within(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let i = self.0.partition_point(|(_, end)| *end <= from);
        self.0[i..]
            .iter()
            .take_while(move |(start, _)| *start < to)
            .map(move |(start, end)| ((*start).max(from), (*end).min(to)))
            .filter(|(start, end)| start < end)
    }
}

/// The instant a local date's minute begins. A minute skipped when the clock goes forward is
/// the instant the clock jumps (02:30 on the last Sunday of March is 03:00 summer time); one
/// that happens twice is its first time.
fn local_ms(d: NaiveDate, minutes: u32) -> i64 {
    let at =
        |m: u32| d.and_time(NaiveTime::from_hms_opt(m / 60 % 24, m % 60, 0).unwrap_or_default());
    let zone: &Tz = &TIME_ZONE;
    let mut t = at(minutes);
    // Copenhagen's gap is one hour; a step of a minute finds its end whatever the zone's is.
    for _ in 0..=180 {
        if let Some(x) = zone.from_local_datetime(&t).earliest() {
            return x.timestamp_millis();
        }
        t += chrono::Duration::minutes(1);
    }
    at(minutes).and_utc().timestamp_millis()
}

fn minutes(t: NaiveTime) -> u32 {
    t.hour() * 60 + t.minute()
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A wake plan's `HH:MM` as minutes; `None` if it does not read (the plan's own checks keep
/// that from being stored).
fn plan_minutes(t: Option<&str>) -> Option<u32> {
    NaiveTime::parse_from_str(t?, "%H:%M").ok().map(minutes)
}

/// A wake plan's hours: its week and its exceptions, as they switch the PCs on and off.
pub fn plan_hours(plan: &WakePlanView) -> Hours {
    let mut week: Week = [None; 7];
    for (i, d) in plan.week.iter().enumerate().take(7) {
        if d.open
            && let (Some(on), Some(off)) = (
                plan_minutes(d.on.as_deref()),
                plan_minutes(d.off.as_deref()),
            )
            && on != off
        {
            week[i] = Some((on, off));
        }
    }
    let exceptions = plan
        .exceptions
        .iter()
        .filter_map(|e| {
            let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            let hours = match (
                e.kind.as_str(),
                plan_minutes(e.time_start.as_deref()),
                plan_minutes(e.time_end.as_deref()),
            ) {
                ("ALTERED_HOURS", Some(on), Some(off)) if on != off => Some((on, off)),
                _ => None,
            };
            Some((date(&e.date_start)?, date(&e.date_end)?, hours))
        })
        .collect();
    Hours::WakePlan { week, exceptions }
}

/// The typed week checked: seven days, each closed (both empty) or opening and closing at
/// `HH:MM` with closing later. Fields are named `week[i].opens` / `week[i].closes`.
pub fn checked_week(days: &[OpeningTimes]) -> Result<Week> {
    if days.len() != 7 {
        return Err(invalid!("week", Reason::SevenDays { given: days.len() }));
    }
    let mut week: Week = [None; 7];
    for (i, d) in days.iter().enumerate() {
        let (opens, closes) = (d.opens.trim(), d.closes.trim());
        if opens.is_empty() && closes.is_empty() {
            continue;
        }
        let time = |part: &str, t: &str| -> Result<u32> {
            let field = format!("week[{i}].{part}");
            if t.is_empty() {
                return Err(invalid!(field, Reason::GiveTime));
            }
            NaiveTime::parse_from_str(t, "%H:%M")
                .map(minutes)
                .map_err(|_| {
                    invalid!(
                        field,
                        Reason::NotTime {
                            value: t.to_owned(),
                            like: "08:00"
                        }
                    )
                })
        };
        let (o, c) = (time("opens", opens)?, time("closes", closes)?);
        if c <= o {
            return Err(invalid!(
                format!("week[{i}].closes"),
                Reason::CloseNotAfterOpen
            ));
        }
        week[i] = Some((o, c));
    }
    Ok(week)
}

/// The open days of a week, for the audit log and the pages.
pub fn open_days(week: &Week) -> Vec<OpeningDay> {
    week.iter()
        .enumerate()
        .filter_map(|(i, d)| {
            d.map(|(o, c)| OpeningDay {
                weekday: i as u32 + 1,
                opens: hhmm(o),
                closes: hhmm(c),
            })
        })
        .collect()
}

/// The week as a form shows it: `HH:MM` or empty, per day.
pub fn typed(week: &Week) -> Vec<OpeningTimes> {
    week.iter()
        .map(|d| match d {
            Some((o, c)) => OpeningTimes {
                opens: hhmm(*o),
                closes: hhmm(*c),
            },
            None => OpeningTimes::default(),
        })
        .collect()
}

/// Each site's configured week (sites without rows are left out).
async fn configured(conn: &mut sqlx::AnyConnection, sites: &[i64]) -> Result<BTreeMap<i64, Week>> {
    let mut out: BTreeMap<i64, Week> = BTreeMap::new();
    if sites.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT site_id, weekday, opens, closes FROM site_opening_hours WHERE {}",
        in_scope("site_id", sites, 1)
    );
    for r in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), sites)
        .fetch_all(&mut *conn)
        .await?
    {
        let (site, weekday, opens, closes): (i64, i64, i64, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        if let (Some(i), Ok(o), Ok(c)) = (
            usize::try_from(weekday - 1).ok().filter(|i| *i < 7),
            u32::try_from(opens),
            u32::try_from(closes),
        ) {
            out.entry(site).or_insert([None; 7])[i] = Some((o, c));
        }
    }
    Ok(out)
}

impl Store {
    /// A site's configured opening hours; every day `None` when none are configured.
    pub async fn opening_hours(&self, site_id: i64) -> Result<Week> {
        let mut conn = self.reader().await?;
        Ok(configured(&mut conn, &[site_id])
            .await?
            .remove(&site_id)
            .unwrap_or([None; 7]))
    }

    /// Sets a site's opening hours (every day closed removes them, and its wake plans stand
    /// in again), with the audit record of before and after. `None`: the site is not the
    /// scope's.
    pub async fn set_opening_hours(
        &self,
        scope: &Scope,
        site_id: i64,
        days: &[OpeningTimes],
    ) -> Result<Option<Week>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let week = checked_week(days)?;
        let mut tx = self.db.begin_write().await?;
        let before = configured(&mut tx, &[site_id])
            .await?
            .remove(&site_id)
            .unwrap_or([None; 7]);
        sqlx::query("DELETE FROM site_opening_hours WHERE site_id = $1")
            .bind(site_id)
            .execute(&mut *tx)
            .await?;
        for (i, d) in week.iter().enumerate() {
            if let Some((opens, closes)) = d {
                sqlx::query(
                    "INSERT INTO site_opening_hours (site_id, weekday, opens, closes)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(site_id)
                .bind(i as i64 + 1)
                .bind(i64::from(*opens))
                .bind(i64::from(*closes))
                .execute(&mut *tx)
                .await?;
            }
        }
        let view = |w: &Week| serde_json::json!({ "opening_hours": open_days(w) });
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "site.opening_hours",
                target: &format!("site:{site_id}"),
                detail: Some(&before_after(&view(&before), &view(&week))),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(week))
    }

    /// The hours each site is measured against as a whole: its configured hours, else its
    /// one enabled wake plan (a site with several has none as a whole).
    pub(crate) async fn site_hours(
        &self,
        conn: &mut sqlx::AnyConnection,
        sites: &[i64],
    ) -> Result<HashMap<i64, Hours>> {
        let mut out: HashMap<i64, Hours> = configured(conn, sites)
            .await?
            .into_iter()
            .map(|(s, w)| (s, Hours::Site(w)))
            .collect();
        let rest: Vec<i64> = sites
            .iter()
            .copied()
            .filter(|s| !out.contains_key(s))
            .collect();
        if rest.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT site_id, id FROM wake_week_plans WHERE enabled <> 0 AND {} ORDER BY site_id, id",
            in_scope("site_id", &rest, 1)
        );
        let mut plans: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for r in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &rest)
            .fetch_all(&mut *conn)
            .await?
        {
            plans.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
        }
        for (site, ids) in plans {
            if let [only] = ids[..]
                && let Some(plan) = self.plan_view(conn, only).await?
            {
                out.insert(site, plan_hours(&plan));
            }
        }
        Ok(out)
    }

    /// The hours a group is measured against as a whole: its site's configured hours, else
    /// the enabled wake plan the group follows, else its site's one (`site_hours`, given).
    pub(crate) async fn group_hours(
        &self,
        conn: &mut sqlx::AnyConnection,
        group: i64,
        site_hours: &HashMap<i64, Hours>,
    ) -> Result<Option<Hours>> {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT g.site_id, w.id FROM pc_groups g
             LEFT JOIN wake_week_plans w ON w.id = g.wake_week_plan_id AND w.enabled <> 0
             WHERE g.id = $1",
        )
        .bind(group)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((site, plan)) = row else {
            return Ok(None);
        };
        Ok(match (site_hours.get(&site), plan) {
            (Some(h @ Hours::Site(_)), _) => Some(h.clone()),
            (h, Some(plan)) => match self.plan_view(conn, plan).await? {
                Some(p) => Some(plan_hours(&p)),
                None => h.cloned(),
            },
            (h, None) => h.cloned(),
        })
    }

    /// The hours each PC (id, site) is measured against: its site's configured hours, else
    /// the enabled wake plan it follows, else its site's one (`site_hours`, given).
    pub(crate) async fn pc_hours(
        &self,
        conn: &mut sqlx::AnyConnection,
        pcs: &[(i64, i64)],
        site_hours: &HashMap<i64, Hours>,
    ) -> Result<HashMap<i64, Hours>> {
        let mut out = HashMap::new();
        let ids: Vec<i64> = pcs.iter().map(|(pc, _)| *pc).collect();
        let mut followed: HashMap<i64, i64> = HashMap::new();
        if !ids.is_empty() {
            let sql = format!(
                "SELECT m.pc_id, g.wake_week_plan_id FROM pc_group_members m
                 JOIN pc_groups g ON g.id = m.group_id
                 JOIN wake_week_plans w ON w.id = g.wake_week_plan_id
                 WHERE w.enabled <> 0 AND {} ORDER BY m.pc_id, w.id",
                in_scope("m.pc_id", &ids, 1)
            );
            for r in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &ids)
                .fetch_all(&mut *conn)
                .await?
            {
                followed.entry(r.try_get(0)?).or_insert(r.try_get(1)?);
            }
        }
        let mut plans: HashMap<i64, Option<Hours>> = HashMap::new();
        for (pc, site) in pcs {
            let hours = match (site_hours.get(site), followed.get(pc)) {
                (Some(h @ Hours::Site(_)), _) => Some(h.clone()),
                (_, Some(plan)) => {
                    if !plans.contains_key(plan) {
                        let h = self.plan_view(conn, *plan).await?.map(|p| plan_hours(&p));
                        plans.insert(*plan, h);
                    }
                    plans.get(plan).cloned().flatten()
                }
                (h, None) => h.cloned(),
            };
            if let Some(h) = hours {
                out.insert(*pc, h);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{Hours, OpeningTimes, checked_week, local_ms};
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn hours_are_local_on_dst_days_too() {
        const HOUR: i64 = 3_600_000;
        let week = [Some((8 * 60, 16 * 60)); 7];
        let spans = Hours::Site(week).spans(d("2026-03-29"), d("2026-03-30"));
        // 08:00 and 16:00 summer time, 06:00 and 14:00 UTC: eight hours on the 23-hour day.
        assert_eq!(
            spans.0.last().unwrap().1 - spans.0.last().unwrap().0,
            8 * HOUR
        );
        assert_eq!(local_ms(d("2026-03-29"), 8 * 60), 1_774_764_000_000);
        // 02:30 does not happen that day: the clock's jump is the instant.
        assert_eq!(
            local_ms(d("2026-03-29"), 150),
            local_ms(d("2026-03-29"), 180)
        );
        let spans = Hours::Site(week).spans(d("2026-10-25"), d("2026-10-26"));
        assert_eq!(
            spans.0.last().unwrap().1 - spans.0.last().unwrap().0,
            8 * HOUR
        );
        // A plan's night: Monday 22:00 to Tuesday 06:00, as one span with Tuesday's evening.
        let mut night = [None; 7];
        night[0] = Some((22 * 60, 6 * 60));
        let plan = Hours::WakePlan {
            week: night,
            exceptions: vec![],
        };
        let spans = plan.spans(d("2026-06-02"), d("2026-06-03"));
        assert_eq!(spans.0.len(), 1);
        assert_eq!(spans.0[0].1 - spans.0[0].0, 8 * HOUR);
        assert!(spans.contains(local_ms(d("2026-06-02"), 5 * 60)));
        assert!(!spans.contains(local_ms(d("2026-06-02"), 6 * 60)));
    }

    #[test]
    fn a_week_is_checked_by_field() {
        let mut days = vec![OpeningTimes::default(); 7];
        days[1] = OpeningTimes {
            opens: "10:00".into(),
            closes: "09:00".into(),
        };
        let e = checked_week(&days).unwrap_err().to_string();
        assert!(e.starts_with("week[1].closes: "), "{e}");
        days[1].closes = String::new();
        let e = checked_week(&days).unwrap_err().to_string();
        assert!(e.starts_with("week[1].closes: "), "{e}");
        days[1].closes = "25:00".into();
        let e = checked_week(&days).unwrap_err().to_string();
        assert!(e.starts_with("week[1].closes: "), "{e}");
        days[1].closes = "18:30".into();
        let w = checked_week(&days).unwrap();
        assert_eq!(w[1], Some((600, 1110)));
        assert_eq!(w.iter().flatten().count(), 1);
        assert!(checked_week(&days[..6]).is_err());
    }
}
