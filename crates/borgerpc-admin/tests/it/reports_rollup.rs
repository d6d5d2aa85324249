//! The availability roll-up (issue 14): `site_checkin_days` against a model the test keeps of
//! the raw check-ins it sends through the store's heartbeat writer, in batches of mixed PCs,
//! out of order and with repeats in one quarter (in one batch and across batches), and a PC
//! moved to another site mid-day, whose quarters stay with the site it was on as it checked
//! in. The availability JSON's totals per date and per site are the model's sums per
//! Copenhagen date. Retention and deleting a site take the roll-up's rows with them. Uptime
//! within opening hours is computed here from the check-ins and the hours (configured for a
//! site, a group's wake plan, a site's one wake plan, none) on the 23-hour 2026-03-29.

use crate::common;
use crate::common::reports::api as get;

use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::history::{Beat, Retention};
use borgerpc_admin::store::opening_hours::OpeningTimes;
use borgerpc_admin::store::wakeplans::{Day, Exception, PlanFields};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Europe::Copenhagen;
use common::Portal;
use common::reports::{QUARTER, api_user, date, midnight};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 86_400_000;

fn beat(pc: i64, at: i64) -> Beat {
    Beat {
        pc_id: pc,
        at,
        ip: None,
        ip_changed: false,
        checkin: true,
    }
}

/// A fixed pseudo-random number for (a, b).
fn mix(a: i64, b: i64) -> i64 {
    (a.wrapping_mul(2_654_435_761) ^ b.wrapping_mul(40_503) ^ (a + b).wrapping_mul(97))
        .rem_euclid(1_000_003)
}

/// The roll-up as the test expects it: per (site, UTC day), the PCs counted and the PCs
/// online per quarter, from the check-ins it sent, each quarter at the site its PC was on
/// when the quarter's first check-in was written.
#[derive(Default)]
struct Model {
    site_of: BTreeMap<i64, i64>,
    pcs_on: BTreeMap<i64, i64>,
    seen: BTreeSet<(i64, i64, i64)>,
    rollup: BTreeMap<(i64, i64), (i64, [i64; 96])>,
}

impl Model {
    fn pc(&mut self, pc: i64, site: i64) {
        self.site_of.insert(pc, site);
        *self.pcs_on.entry(site).or_default() += 1;
    }

    fn moved(&mut self, pc: i64, to: i64) {
        let from = self.site_of.insert(pc, to).unwrap();
        *self.pcs_on.get_mut(&from).unwrap() -= 1;
        *self.pcs_on.entry(to).or_default() += 1;
    }

    /// A batch written: its new quarters counted, and the PCs counted of each (site, day) it
    /// added to (the site's PCs as the batch is written).
    fn batch(&mut self, beats: &[Beat]) {
        for b in beats {
            let (day, q) = (b.at.div_euclid(DAY), b.at.rem_euclid(DAY) / QUARTER);
            if self.seen.insert((b.pc_id, day, q)) {
                let site = self.site_of[&b.pc_id];
                let pcs = self.pcs_on[&site];
                let e = self.rollup.entry((site, day)).or_insert((0, [0; 96]));
                e.0 = pcs;
                e.1[q as usize] += 1;
            }
        }
    }

    /// Per local date of `[from, to)`: (quarters online, PC-quarters, most online at once) of
    /// the sites, a day without a row counting the site's PCs now.
    fn local(&self, sites: &[i64], from: NaiveDate, to: NaiveDate) -> Vec<(String, i64, i64, i64)> {
        let mut out = Vec::new();
        let mut d = from;
        while d < to {
            let (start, end) = (midnight(d), midnight(d.succ_opt().unwrap()));
            let (mut on, mut of, mut peak) = (0, 0, 0);
            let mut at = start;
            while at < end {
                let (day, q) = (at.div_euclid(DAY), (at.rem_euclid(DAY) / QUARTER) as usize);
                let mut here = 0;
                for s in sites {
                    match self.rollup.get(&(*s, day)) {
                        Some((pcs, n)) => {
                            here += n[q];
                            of += pcs;
                        }
                        None => of += self.pcs_on.get(s).copied().unwrap_or(0),
                    }
                }
                on += here;
                peak = i64::max(peak, here);
                at += QUARTER;
            }
            out.push((d.to_string(), on, of, peak));
            d = d.succ_opt().unwrap();
        }
        out
    }
}

/// The roll-up's rows as the database holds them.
async fn stored(portal: &Portal) -> BTreeMap<(i64, i64), (i64, [i64; 96])> {
    let cols: Vec<String> = (0..96)
        .map(|q| format!("CAST(n{q:02} AS BIGINT)"))
        .collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT site_id, day, CAST(pcs AS BIGINT), {} FROM site_checkin_days",
        cols.join(", ")
    )))
    .fetch_all(portal.store.pool())
    .await
    .unwrap();
    use sqlx::Row as _;
    rows.iter()
        .map(|r| {
            let mut n = [0i64; 96];
            for (q, v) in n.iter_mut().enumerate() {
                *v = r.get(3 + q);
            }
            ((r.get(0), r.get(1)), (r.get(2), n))
        })
        .collect()
}

/// Moves a PC to another site by its row, with the site's kept PC count, as a move would
/// (no operation moves PCs between sites yet; upstream does it in Django's admin).
async fn move_pc(portal: &Portal, pc: i64, from: i64, to: i64) {
    let mut tx = portal.store.db.begin_write().await.unwrap();
    for (sql, a, b) in [
        ("UPDATE pcs SET site_id = $1 WHERE id = $2", to, pc),
        (
            "UPDATE site_pc_counts SET n = n - 1 WHERE site_id = $2 AND fact = 'pcs' AND $1 = $1",
            0,
            from,
        ),
        (
            "UPDATE site_pc_counts SET n = n + 1 WHERE site_id = $2 AND fact = 'pcs' AND $1 = $1",
            0,
            to,
        ),
    ] {
        sqlx::query(sql)
            .bind(a)
            .bind(b)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The report's totals per date: (date, quarters online, PC-quarters begun, most at once).
fn report_days(r: &Value) -> Vec<(String, i64, i64, i64)> {
    r["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["quarters_online"].as_i64().unwrap(),
                d["quarters_elapsed"].as_i64().unwrap(),
                d["peak_online"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollup_is_the_checkins_counted_once_at_the_site_they_were_made_at() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let mut model = Model::default();
    let mut pcs = Vec::new();
    for (site, name) in [
        (&bib, "bib-1"),
        (&bib, "bib-2"),
        (&bib, "bib-3"),
        (&bib, "bib-4"),
        (&borger, "borger-1"),
    ] {
        let (id, _) = portal.pc(site, name).await;
        model.pc(id, site.id);
        pcs.push(id);
    }
    // bib-4 never checks in: it is counted, offline.
    let checking = &pcs[..4];
    let moving = pcs[1];

    // Five days ending a week ago (within retention), every PC in most quarters, one to
    // three check-ins a quarter; sent in batches of mixed PCs in arrival order, with a tenth
    // of them again later (a repeat never counts twice).
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let (first, last) = (
        today - chrono::Duration::days(12),
        today - chrono::Duration::days(7),
    );
    let mut all = Vec::new();
    let mut at = midnight(first);
    while at < midnight(last) {
        for &pc in checking.iter().chain([&pcs[4]]) {
            let r = mix(pc, at / QUARTER);
            if r % 10 < 6 {
                for k in 0..1 + r % 3 {
                    all.push(beat(pc, at + 40_000 + k * 250_000 + (r % 7) * 1000));
                }
            }
        }
        at += QUARTER;
    }
    all.sort_by_key(|b| (b.at, b.pc_id));
    let mut repeats = Vec::new();
    let mut i = 0;
    let mut batch_no = 0;
    // The move: at noon UTC of the third day, between two batches.
    let move_at = (midnight(first) + 2 * DAY).div_euclid(DAY) * DAY + 12 * 3_600_000;
    let mut moved = false;
    while i < all.len() {
        let size = 1 + mix(batch_no, 5) as usize % 120;
        let mut batch: Vec<Beat> = all[i..(i + size).min(all.len())].to_vec();
        i += batch.len();
        batch_no += 1;
        if !moved && batch.last().unwrap().at >= move_at {
            move_pc(&portal, moving, bib.id, borger.id).await;
            model.moved(moving, borger.id);
            moved = true;
        }
        // Out of order within the batch, as concurrent requests queue.
        batch.reverse();
        repeats.extend(
            batch
                .iter()
                .filter(|b| mix(b.pc_id, b.at) % 10 == 0)
                .cloned(),
        );
        if batch_no % 7 == 0 {
            batch.append(&mut repeats);
        }
        model.batch(&batch);
        store.record_beats(&batch).await.unwrap();
    }
    model.batch(&repeats);
    store.record_beats(&repeats).await.unwrap();
    assert!(moved);

    let got = stored(&portal).await;
    assert_eq!(got.len(), model.rollup.len(), "rows per site and UTC day");
    for (k, want) in &model.rollup {
        assert_eq!(got.get(k), Some(want), "site {} day {}", k.0, k.1);
    }
    // The moved PC's quarters: at the library before the move, at the citizens' service after.
    let moved_day = move_at.div_euclid(DAY);
    let at = |site: i64| -> i64 { got[&(site, moved_day)].1.iter().sum() };
    assert!(at(bib.id) > 0 && at(borger.id) > 0);
    assert_eq!(
        got[&(borger.id, moved_day)].0,
        2,
        "the citizens' service had two PCs that day"
    );

    // The report's totals per Copenhagen date are the model's sums, per site and for both.
    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let q = format!("from={first}&to={last}");
    for (scope, sites) in [
        ("site=aeroe-bib".to_owned(), vec![bib.id]),
        ("site=aeroe-borger".to_owned(), vec![borger.id]),
        (
            format!("customer={}", bib.customer_id),
            vec![bib.id, borger.id],
        ),
    ] {
        let r = get(
            &portal,
            &admin,
            &format!("/api/reports/availability?{scope}&{q}"),
        )
        .await;
        let want = model.local(&sites, first, last);
        assert_eq!(report_days(&r), want, "{scope}");
        let (on, of): (i64, i64) = want.iter().fold((0, 0), |a, d| (a.0 + d.1, a.1 + d.2));
        assert_eq!(
            (
                r["quarters_online"].as_i64(),
                r["quarters_elapsed"].as_i64()
            ),
            (Some(on), Some(of))
        );
        assert!((r["uptime"].as_f64().unwrap() - on as f64 / of as f64).abs() < 1e-12);
        assert_eq!(r["hours_online"].as_f64().unwrap(), on as f64 / 4.0);
        assert_eq!(r["sites"].as_array().unwrap().len(), sites.len(), "{scope}");
        for s in r["sites"].as_array().unwrap() {
            let id = if s["site"] == "aeroe-bib" {
                bib.id
            } else {
                borger.id
            };
            let w = model.local(&[id], first, last);
            assert_eq!(s["quarters_online"], w.iter().map(|d| d.1).sum::<i64>());
            assert_eq!(s["quarters_elapsed"], w.iter().map(|d| d.2).sum::<i64>());
            assert_eq!(s["opening_hours"], Value::Null);
            assert_eq!(s["uptime_opening_hours"], Value::Null);
        }
    }
    // A group: its members' check-ins now (all their quarters, wherever they were made).
    let group = store.add_group(borger.id, "Skranke").await.unwrap();
    store.add_group_member(group, moving).await.unwrap();
    let r = get(
        &portal,
        &admin,
        &format!("/api/reports/availability?site=aeroe-borger&group={group}&{q}"),
    )
    .await;
    let mut d = first;
    for day in report_days(&r) {
        let (start, end) = (midnight(d), midnight(d.succ_opt().unwrap()));
        let quarters: BTreeSet<i64> = all
            .iter()
            .filter(|b| b.pc_id == moving && b.at >= start && b.at < end)
            .map(|b| b.at / QUARTER)
            .collect();
        let n = (end - start) / QUARTER;
        assert_eq!(
            day,
            (
                d.to_string(),
                quarters.len() as i64,
                n,
                i64::from(!quarters.is_empty())
            )
        );
        d = d.succ_opt().unwrap();
    }
    assert_eq!(r["sites"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_deleting_a_site_take_the_rollup_with_them() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let keep = portal.site("Ærø", "aeroe-bib").await;
    let gone = portal.site("Ærø", "aeroe-borger").await;
    let (a, _) = portal.pc(&keep, "bib-1").await;
    let (b, _) = portal.pc(&gone, "borger-1").await;
    let now = service_kit::db::now_ms();
    for pc in [a, b] {
        store
            .record_beats(&[beat(pc, now - 30 * DAY), beat(pc, now - 5 * DAY)])
            .await
            .unwrap();
    }
    let scope = Scope::cli(store).await.unwrap();
    let hours = vec![
        OpeningTimes {
            opens: "08:00".into(),
            closes: "16:00".into(),
        };
        7
    ];
    for s in [&keep, &gone] {
        store
            .set_opening_hours(&scope, s.id, &hours)
            .await
            .unwrap()
            .unwrap();
    }
    let rows = |site: i64| async move {
        sqlx::query_as::<_, (i64,)>(
            "SELECT day FROM site_checkin_days WHERE site_id = $1 ORDER BY day",
        )
        .bind(site)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(d,)| d)
        .collect::<Vec<i64>>()
    };
    let days = vec![
        (now - 30 * DAY).div_euclid(DAY),
        (now - 5 * DAY).div_euclid(DAY),
    ];
    assert_eq!(rows(keep.id).await, days);
    let purged = store
        .purge_history(
            &Retention {
                checkin_days: 10,
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!((purged.checkin_days, purged.site_checkin_days), (2, 2));
    assert_eq!(rows(keep.id).await, days[1..]);
    assert_eq!(rows(gone.id).await, days[1..]);

    store.delete_site(&scope, gone.id).await.unwrap().unwrap();
    assert!(rows(gone.id).await.is_empty(), "the deleted site's roll-up");
    assert_eq!(rows(keep.id).await, days[1..], "the other site's stays");
    let hours_left = |site: i64| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM site_opening_hours WHERE site_id = $1")
            .bind(site)
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert_eq!(hours_left(gone.id).await, 0);
    assert_eq!(hours_left(keep.id).await, 7);
}

/// Quarters of a local date that begin within `[opens, closes)` local time (minutes), as
/// UTC instants: chrono-tz's reckoning, not the code under test's.
fn opening_quarters(d: NaiveDate, opens: u32, closes: u32) -> BTreeSet<i64> {
    let at = |m: u32| {
        Copenhagen
            .from_local_datetime(&d.and_hms_opt(m / 60, m % 60, 0).unwrap())
            .single()
            .unwrap()
            .timestamp_millis()
    };
    (at(opens)..at(closes)).step_by(QUARTER as usize).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uptime_within_opening_hours_on_a_dst_day() {
    let portal = Portal::start().await;
    portal.wake_scripts().await;
    let store = &portal.store;
    // The library has configured hours; the citizens' service a plan for its group (and so
    // for its only other PC too, as the site's one plan); the school nothing.
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let skole = portal.site("Ærø", "aeroe-skole").await;
    let (p_bib, p_bib_uid) = portal.pc(&bib, "bib-1").await;
    let (p_plan, p_plan_uid) = portal.pc(&borger, "borger-1").await;
    let (p_site_plan, p_site_plan_uid) = portal.pc(&borger, "borger-2").await;
    let (p_none, p_none_uid) = portal.pc(&skole, "skole-1").await;
    let scope = Scope::cli(store).await.unwrap();
    // Sunday 2026-03-29 (23 hours): 08:00-16:00 at the library, 10:00-14:00 by the plan,
    // whose exception closes Monday 30th; Saturday 28th the plan runs 22:00 to 01:30.
    let mut week = vec![OpeningTimes::default(); 7];
    for d in [5, 6] {
        week[d] = OpeningTimes {
            opens: "08:00".into(),
            closes: "16:00".into(),
        };
    }
    week[0] = OpeningTimes {
        opens: "09:30".into(),
        closes: "17:00".into(),
    };
    store
        .set_opening_hours(&scope, bib.id, &week)
        .await
        .unwrap()
        .unwrap();
    let group = store.add_group(borger.id, "Skranke").await.unwrap();
    store.add_group_member(group, p_plan).await.unwrap();
    let day = |open: bool, on: &str, off: &str| Day {
        open,
        on: Some(on.into()),
        off: Some(off.into()),
    };
    let mut plan_week: Vec<Day> = (0..7).map(|_| day(false, "08:00", "20:00")).collect();
    plan_week[5] = day(true, "22:00", "01:30");
    plan_week[6] = day(true, "10:00", "14:00");
    plan_week[0] = day(true, "07:00", "19:00");
    store
        .create_wake_plan(
            &scope,
            borger.id,
            &PlanFields {
                name: Some("Skranke".into()),
                week: Some(plan_week),
                exceptions: Some(vec![Exception {
                    name: "Lukket".into(),
                    kind: "CLOSED".into(),
                    date_start: "2026-03-30".into(),
                    date_end: "2026-03-30".into(),
                    time_start: None,
                    time_end: None,
                }]),
                groups: Some(vec![group]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();

    // Check-ins in two of every three quarters, 2026-03-28 to 2026-03-30 (local).
    let (from, to) = (date("2026-03-28"), date("2026-03-31"));
    let mut raw: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    let mut beats = Vec::new();
    for pc in [p_bib, p_plan, p_site_plan, p_none] {
        let mut at = midnight(from);
        while at < midnight(to) {
            if mix(pc, at / QUARTER) % 3 != 0 {
                beats.push(beat(pc, at + 100_000));
                raw.entry(pc).or_default().insert(at);
            }
            at += QUARTER;
        }
    }
    store.record_beats(&beats).await.unwrap();

    // Each PC's opening quarters per date, from the hours above.
    let d = date;
    let bib_hours = |x: NaiveDate| -> BTreeSet<i64> {
        match x.to_string().as_str() {
            "2026-03-28" | "2026-03-29" => opening_quarters(x, 480, 960),
            _ => opening_quarters(x, 570, 1020),
        }
    };
    let plan_hours = |x: NaiveDate| -> BTreeSet<i64> {
        match x.to_string().as_str() {
            // Saturday's night reaches into Sunday: 22:00 to midnight, then to 01:30.
            "2026-03-28" => opening_quarters(x, 22 * 60, 24 * 60 - 15)
                .into_iter()
                .chain([midnight(d("2026-03-29")) - QUARTER])
                .collect(),
            "2026-03-29" => opening_quarters(x, 0, 90)
                .into_iter()
                .chain(opening_quarters(x, 600, 840))
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    assert_eq!(
        bib_hours(d("2026-03-29")).len(),
        32,
        "08:00-16:00 on the short day"
    );
    assert_eq!(plan_hours(d("2026-03-29")).len(), 6 + 16);
    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let r = get(
        &portal,
        &admin,
        &format!(
            "/api/reports/availability?customer={}&from={from}&to={to}",
            bib.customer_id
        ),
    )
    .await;
    let item = |uid: &str| -> Value {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["uid"] == uid)
            .unwrap()
            .clone()
    };
    let mut site_sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (pc, uid, source, hours, site) in [
        (
            p_bib,
            &p_bib_uid,
            Some("site"),
            &bib_hours as &dyn Fn(NaiveDate) -> BTreeSet<i64>,
            "aeroe-bib",
        ),
        (
            p_plan,
            &p_plan_uid,
            Some("wake_plan"),
            &plan_hours,
            "aeroe-borger",
        ),
        (
            p_site_plan,
            &p_site_plan_uid,
            Some("wake_plan"),
            &plan_hours,
            "aeroe-borger",
        ),
        (
            p_none,
            &p_none_uid,
            None,
            &|_| BTreeSet::new(),
            "aeroe-skole",
        ),
    ] {
        let p = item(uid);
        assert_eq!(p["opening_hours"], serde_json::json!(source), "{uid}");
        let (mut on, mut of) = (0i64, 0i64);
        for day in p["days"].as_array().unwrap() {
            let x = d(day["date"].as_str().unwrap());
            let open = hours(x);
            let online = open.iter().filter(|q| raw[&pc].contains(q)).count() as i64;
            assert_eq!(
                (
                    day["opening_quarters_online"].as_i64(),
                    day["opening_quarters_elapsed"].as_i64()
                ),
                (Some(online), Some(open.len() as i64)),
                "{uid} {x}"
            );
            match open.len() {
                0 => assert_eq!(day["uptime_opening_hours"], Value::Null),
                n => assert!(
                    (day["uptime_opening_hours"].as_f64().unwrap() - online as f64 / n as f64)
                        .abs()
                        < 1e-12
                ),
            }
            on += online;
            of += open.len() as i64;
        }
        assert_eq!(
            (
                p["opening_quarters_online"].as_i64(),
                p["opening_quarters_elapsed"].as_i64()
            ),
            (Some(on), Some(of)),
            "{uid}"
        );
        if source.is_none() {
            assert_eq!(p["uptime_opening_hours"], Value::Null);
        }
        let e = site_sums.entry(site).or_default();
        e.0 += on;
        e.1 += of;
    }
    // Per site from the roll-up, with the site's hours: the library's, the citizens' service's
    // one plan (both its PCs), none at the school.
    for s in r["sites"].as_array().unwrap() {
        let uid = s["site"].as_str().unwrap();
        let (on, of) = site_sums[uid];
        assert_eq!(
            (
                s["opening_quarters_online"].as_i64(),
                s["opening_quarters_elapsed"].as_i64()
            ),
            (Some(on), Some(of)),
            "{uid}"
        );
        let source = match uid {
            "aeroe-bib" => Some("site"),
            "aeroe-borger" => Some("wake_plan"),
            _ => None,
        };
        assert_eq!(s["opening_hours"], serde_json::json!(source));
    }
    let (on, of) = site_sums
        .values()
        .fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
    assert_eq!(
        (
            r["opening_quarters_online"].as_i64(),
            r["opening_quarters_elapsed"].as_i64()
        ),
        (Some(on), Some(of))
    );
    // Per date, the sites' figures are their PCs' (each PC here follows its site's hours).
    for (i, day) in r["days"].as_array().unwrap().iter().enumerate() {
        for key in ["opening_quarters_online", "opening_quarters_elapsed"] {
            let pcs: i64 = r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["days"][i][key].as_i64().unwrap())
                .sum();
            assert_eq!(day[key].as_i64(), Some(pcs), "{key} {}", day["date"]);
        }
    }
    let days_of: i64 = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["opening_quarters_elapsed"].as_i64().unwrap())
        .sum();
    assert_eq!(days_of, of);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_hours_are_set_on_the_sites_settings_page_checked_and_audited() {
    use crate::common::web::WebUser;
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    portal.web_user("ida", "site_admin", &bib).await;
    portal.web_user("sif", "site_user", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida.get("/steder/aeroe-bib/indstillinger").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("id=\"aabner0\" name=\"aabner0\" value=\"\"")
    );

    // Monday to Friday 08:00-16:00, Saturday 10:00-13:30, Sunday closed.
    let mut form: Vec<(String, String)> = Vec::new();
    for i in 0..7 {
        let (o, c) = match i {
            0..=4 => ("08:00", "16:00"),
            5 => ("10:00", "13:30"),
            _ => ("", ""),
        };
        form.push((format!("aabner{i}"), o.into()));
        form.push((format!("lukker{i}"), c.into()));
    }
    let fields = |f: &[(String, String)]| -> Vec<(String, String)> { f.to_vec() };
    async fn post(u: &mut WebUser, f: Vec<(String, String)>) -> crate::common::web::Answer {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        u.post("/steder/aeroe-bib/indstillinger/aabningstider", &pairs)
            .await
    }
    let a = post(&mut ida, fields(&form)).await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/steder/aeroe-bib/indstillinger"),
        "{}",
        a.body
    );
    let week = store.opening_hours(bib.id).await.unwrap();
    assert_eq!(week[0], Some((480, 960)));
    assert_eq!(week[5], Some((600, 810)));
    assert_eq!(week[6], None);
    let page = ida.get("/steder/aeroe-bib/indstillinger").await;
    assert!(
        page.body
            .contains("id=\"lukker5\" name=\"lukker5\" value=\"13:30\"")
    );
    let audit = store.audit_entries(Some(bib.id), 5).await.unwrap();
    let rec = audit
        .iter()
        .find(|e| e.action == "site.opening_hours")
        .unwrap();
    assert_eq!(rec.actor, "user:ida");
    assert_eq!(
        rec.detail.as_ref().unwrap()["before"]["opening_hours"],
        serde_json::json!([])
    );
    assert_eq!(
        rec.detail.as_ref().unwrap()["after"]["opening_hours"][5],
        serde_json::json!({"weekday": 6, "opens": "10:00", "closes": "13:30"})
    );

    // Refused, naming the field, in Danish and in English, and nothing changed.
    let mut bad = form.clone();
    bad[3].1 = "07:00".into(); // Tuesday closes before it opens.
    let a = post(&mut ida, fields(&bad)).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("Åbningstider – Tirsdag: Lukker: skal være senere end åbningstiden"),
        "{}",
        a.body
    );
    assert!(a.body.contains("id=\"lukker1\" name=\"lukker1\" value=\"07:00\" aria-describedby=\"aabningstider-hint fejl\" aria-invalid=\"true\""));
    let mut half = form.clone();
    half[12].1 = "09:00".into(); // Sunday opens, but closes at no time.
    ida.post("/sprog", &[("sprog", "en"), ("tilbage", "/")])
        .await;
    ida.get("/steder/aeroe-bib/indstillinger").await;
    let a = post(&mut ida, fields(&half)).await;
    assert_eq!(a.status, 422);
    assert!(
        a.body
            .contains("Opening hours – Sunday: Closes: give a time like 08:00"),
        "{}",
        a.body
    );
    let mut typo = form.clone();
    typo[0].1 = "8 om morgenen".into();
    let a = post(&mut ida, fields(&typo)).await;
    assert!(
        a.body.contains("Opening hours – Monday: Opens: "),
        "{}",
        a.body
    );
    assert!(a.body.contains("aria-invalid=\"true\""));
    assert_eq!(store.opening_hours(bib.id).await.unwrap(), week);

    // Not a site user's to change; another customer's site is not found.
    let mut sif = WebUser::login(&portal, "sif").await;
    sif.get("/steder/aeroe-bib").await;
    assert_eq!(post(&mut sif, fields(&bad)).await.status, 404);
    let a = ida
        .post(
            "/steder/fanoe-bib/indstillinger/aabningstider",
            &[("aabner0", "08:00"), ("lukker0", "09:00")],
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(store.opening_hours(fanoe.id).await.unwrap(), [None; 7]);

    // Every day empty removes the hours.
    let none: Vec<(String, String)> = form
        .iter()
        .map(|(k, _)| (k.clone(), String::new()))
        .collect();
    assert_eq!(post(&mut ida, none).await.status, 303);
    assert_eq!(store.opening_hours(bib.id).await.unwrap(), [None; 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn today_counts_the_quarters_begun_so_far() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let (a, _) = portal.pc(&bib, "bib-1").await;
    portal.pc(&bib, "bib-2").await;
    let scope = Scope::cli(store).await.unwrap();
    let all_day = vec![
        OpeningTimes {
            opens: "00:00".into(),
            closes: "23:59".into(),
        };
        7
    ];
    store
        .set_opening_hours(&scope, bib.id, &all_day)
        .await
        .unwrap()
        .unwrap();
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let start = midnight(today);
    let now = service_kit::db::now_ms();
    store.record_beats(&[beat(a, now - 1000)]).await.unwrap();
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();
    // Two PCs, the quarters begun since midnight, all within the opening hours.
    let begun = |at: i64| (at - start + QUARTER - 1) / QUARTER;
    let before = begun(service_kit::db::now_ms());
    let r = get(
        &portal,
        &key,
        &format!(
            "/api/reports/availability?from={today}&to={}",
            today.succ_opt().unwrap()
        ),
    )
    .await;
    let after = begun(service_kit::db::now_ms());
    let d = &r["days"][0];
    let elapsed = d["quarters_elapsed"].as_i64().unwrap();
    assert!((2 * before..=2 * after).contains(&elapsed), "{d}");
    let open = d["opening_quarters_elapsed"].as_i64().unwrap();
    assert!((2 * before..=2 * after).contains(&open), "{d}");
    assert_eq!(
        (
            d["quarters_online"].as_i64(),
            d["opening_quarters_online"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["sites"][0]["quarters_elapsed"], d["quarters_elapsed"]);
    assert_eq!(
        r["sites"][0]["opening_quarters_elapsed"],
        d["opening_quarters_elapsed"]
    );
}

/// The same hours through the API: read as seven days, set whole, refused naming the day's
/// field, 403 for a site user and 404 for another customer's site, audited as the page's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_hours_are_read_and_set_through_the_api() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    portal.web_user("ida", "site_admin", &bib).await;
    portal.web_user("sif", "site_user", &bib).await;
    let login = |name: &'static str| {
        let url = format!("{}/api/auth/login", portal.url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({"username": name, "password": crate::common::web::PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "login {name}");
            r.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (ida, sif) = (login("ida").await, login("sif").await);
    let put = |token: String, site: i64, body: Value| {
        let url = format!("{}/api/system/site/{site}/opening-hours", portal.url);
        async move {
            let r = reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let path = format!("/api/system/site/{}/opening-hours", bib.id);
    let closed = serde_json::json!({"opens": "", "closes": ""});
    assert_eq!(
        get(&portal, &sif, &path).await,
        serde_json::json!({"week": vec![closed.clone(); 7]})
    );

    let day = |o: &str, c: &str| serde_json::json!({"opens": o, "closes": c});
    let mut week = vec![day("08:00", "16:00"); 5];
    week.push(day("10:00", "13:30"));
    week.push(closed.clone());
    let (status, body) = put(ida.clone(), bib.id, serde_json::json!({ "week": week })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({ "week": week }));
    assert_eq!(get(&portal, &sif, &path).await, body);
    let stored = store.opening_hours(bib.id).await.unwrap();
    assert_eq!(
        (stored[0], stored[5], stored[6]),
        (Some((480, 960)), Some((600, 810)), None)
    );
    let audit = store.audit_entries(Some(bib.id), 5).await.unwrap();
    let rec = audit
        .iter()
        .find(|e| e.action == "site.opening_hours")
        .unwrap();
    assert_eq!(rec.actor, "user:ida");
    assert_eq!(
        rec.detail.as_ref().unwrap()["after"]["opening_hours"][5],
        serde_json::json!({"weekday": 6, "opens": "10:00", "closes": "13:30"})
    );

    // Refusals name the field and change nothing.
    let mut bad = week.clone();
    bad[2] = day("09:00", "07:00");
    for (body, field) in [
        (serde_json::json!({ "week": bad }), "week[2].closes"),
        (serde_json::json!({ "week": &week[..6] }), "week"),
        (
            serde_json::json!({ "week": [day("8 om morgenen", "16:00"), closed, closed, closed, closed, closed, closed] }),
            "week[0].opens",
        ),
        (serde_json::json!({ "week": week, "sunday": 1 }), "sunday"),
        (
            serde_json::json!({ "week": [{"opens": "08:00"}, closed, closed, closed, closed, closed, closed] }),
            "week[0]",
        ),
    ] {
        let (status, answer) = put(ida.clone(), bib.id, body).await;
        assert_eq!(status, 422, "{answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(field) || detail.contains(field),
            "{field}: {detail}"
        );
    }
    assert_eq!(store.opening_hours(bib.id).await.unwrap(), stored);

    // A site user may read but not set; another customer's site is not found.
    let (status, _) = put(sif.clone(), bib.id, serde_json::json!({ "week": week })).await;
    assert_eq!(status, 403);
    let (status, _) = put(ida.clone(), fanoe.id, serde_json::json!({ "week": week })).await;
    assert_eq!(status, 404);
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/system/site/{}/opening-hours",
            portal.url, fanoe.id
        ))
        .bearer_auth(&ida)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(store.opening_hours(fanoe.id).await.unwrap(), [None; 7]);
    assert_eq!(store.opening_hours(bib.id).await.unwrap(), stored);

    // Every day closed removes them.
    let (status, body) = put(ida, bib.id, serde_json::json!({ "week": vec![closed; 7] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(store.opening_hours(bib.id).await.unwrap(), [None; 7]);
}
