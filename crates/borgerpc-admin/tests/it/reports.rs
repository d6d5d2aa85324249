//! The reports' JSON API (issue 14) against figures the test computes itself from the raw
//! rows it seeded: check-ins (through the store's heartbeat writer) and `login_counts` (pushed
//! by a registered PC over the client-api, and through the store's entry writer). Local days
//! are Copenhagen's, computed here with chrono-tz from each check-in's instant, including the
//! 23-hour 2026-03-29 and the 25-hour 2026-10-25; a PC moved to another site keeps its
//! reported days at the old one; another customer's site is refused; bad parameters are 422
//! naming the parameter.

use crate::common;

use borgerpc_admin::store::config::EntryChange;
use borgerpc_admin::store::history::Beat;
use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Europe::Copenhagen;
use common::Portal;
use common::reports::{QUARTER, api_user, date, midnight};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const HOUR: i64 = 3_600_000;

async fn get(portal: &Portal, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", portal.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A fixed pseudo-random choice, so the seeded pattern has gaps everywhere.
fn pick(a: i64, b: i64) -> bool {
    (a.wrapping_mul(2_654_435_761) ^ b.wrapping_mul(40_503)).rem_euclid(7) < 4
}

/// The availability one PC should have in the report, from its raw check-in instants: per
/// local date, per hour from local midnight, the distinct quarter hours with a check-in.
fn expected_days(checkins: &[i64], from: NaiveDate, to: NaiveDate) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut d = from;
    while d < to {
        let start = midnight(d);
        let end = midnight(d.succ_opt().unwrap());
        let hours = ((end - start) / HOUR) as usize;
        let mut quarters: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); hours];
        for &at in checkins.iter().filter(|&&at| at >= start && at < end) {
            let local = chrono::Utc
                .timestamp_millis_opt(at)
                .unwrap()
                .with_timezone(&Copenhagen);
            assert_eq!(local.date_naive(), d);
            quarters[((at - start) / HOUR) as usize].insert((at - start) % HOUR / QUARTER);
        }
        out.push((
            d.to_string(),
            quarters.iter().map(|q| q.len() as u8).collect(),
        ));
        d = d.succ_opt().unwrap();
    }
    out
}

fn report_days(pc: &Value) -> Vec<(String, Vec<u8>)> {
    pc["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let hours: Vec<u8> = d["hours"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(d["hours_in_day"].as_u64().unwrap() as usize, hours.len());
            (d["date"].as_str().unwrap().to_owned(), hours)
        })
        .collect()
}

fn item<'a>(report: &'a Value, uid: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["uid"] == uid)
        .unwrap_or_else(|| panic!("{uid} not in {report}"))
}

fn uids(report: &Value) -> Vec<String> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["uid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_is_the_checkins_per_local_hour_on_dst_days_too() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let (p1, p1_uid) = portal.pc(&bib, "bib-1").await;
    let (p2, p2_uid) = portal.pc(&bib, "bib-2").await;
    let (p3, p3_uid) = portal.pc(&borger, "borger-1").await;
    let (pb, pb_uid) = portal.pc(&fanoe, "fanoe-1").await;
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    store.add_group_member(group, p1).await.unwrap();

    // Check-ins on both DST weekends, a few minutes into chosen quarters (UTC), and p3 only in
    // March; oldest first, as the heartbeat writer sees them.
    let mut raw: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (first, last) in [("2026-03-27", "2026-03-31"), ("2026-10-23", "2026-10-27")] {
        let (start, end) = (midnight(date(first)), midnight(date(last)));
        for pc in [p1, p2, p3, pb] {
            if pc == p3 && first.starts_with("2026-10") {
                continue;
            }
            let mut at = start;
            let mut beats = Vec::new();
            while at < end {
                if pick(pc, at / QUARTER) {
                    let t = at + 60_000 * (pc % 13);
                    raw.entry(pc).or_default().push(t);
                    beats.push(Beat {
                        pc_id: pc,
                        at: t,
                        ip: None,
                        ip_changed: false,
                        checkin: true,
                    });
                }
                at += QUARTER;
            }
            store.record_beats(&beats).await.unwrap();
        }
    }
    // p2 is online now.
    let now = service_kit::db::now_ms();
    store
        .record_beats(&[Beat {
            pc_id: p2,
            at: now,
            ip: None,
            ip_changed: false,
            checkin: true,
        }])
        .await
        .unwrap();
    raw.entry(p2).or_default().push(now);

    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let bib_key = store.add_api_key(bib.id, "bi", false).await.unwrap();
    let fanoe_key = store.add_api_key(fanoe.id, "bi", false).await.unwrap();

    for (from, to, short, long) in [
        ("2026-03-28", "2026-03-31", "2026-03-29", None),
        ("2026-10-24", "2026-10-27", "2026-10-25", Some(())),
    ] {
        let (from, to) = (date(from), date(to));
        let path = format!("/api/reports/availability?site=aeroe-bib&from={from}&to={to}");
        let (s, r) = get(&portal, &bib_key, &path).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["time_zone"], "Europe/Copenhagen");
        assert_eq!(r["count"], 2);
        assert_eq!(uids(&r), vec![p1_uid.clone(), p2_uid.clone()], "by name");
        for (pc, uid) in [(p1, &p1_uid), (p2, &p2_uid)] {
            let want = expected_days(&raw[&pc], from, to);
            let got = report_days(item(&r, uid));
            assert_eq!(got, want, "{uid} {from}");
            let day = got.iter().find(|(d, _)| d == short).unwrap();
            assert_eq!(day.1.len(), if long.is_some() { 25 } else { 23 });
            let online: u64 = want
                .iter()
                .flat_map(|(_, h)| h)
                .map(|q| u64::from(*q))
                .sum();
            let quarters: u64 = want.iter().map(|(_, h)| h.len() as u64 * 4).sum();
            let p = item(&r, uid);
            assert_eq!(p["quarters_online"], online);
            assert_eq!(
                p["quarters_elapsed"], quarters,
                "a past period is all elapsed"
            );
            let uptime = p["uptime"].as_f64().unwrap();
            assert!((uptime - online as f64 / quarters as f64).abs() < 1e-9);
            for d in p["days"].as_array().unwrap() {
                let hours = d["hours"].as_array().unwrap();
                let on = hours.iter().filter(|h| h.as_u64() != Some(0)).count();
                assert_eq!(d["hours_online"], on as u64);
            }
        }
    }

    // Online now, and offline since the last check-in.
    let (_, r) = get(
        &portal,
        &bib_key,
        "/api/reports/availability?from=2026-10-24&to=2026-10-27",
    )
    .await;
    assert_eq!(
        (r["online_now"].as_i64(), r["offline_now"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(item(&r, &p2_uid)["online_now"], true);
    assert_eq!(item(&r, &p2_uid)["offline_since"], Value::Null);
    let p1_last = *raw[&p1].iter().max().unwrap();
    assert_eq!(item(&r, &p1_uid)["online_now"], false);
    assert_eq!(item(&r, &p1_uid)["offline_since"], p1_last);
    assert_eq!(item(&r, &p1_uid)["last_seen"], p1_last);

    // The customer's roll-up: both sites; the group; paging; not seen since a date.
    let path = "/api/reports/availability?customer={c}&from=2026-03-28&to=2026-03-31"
        .replace("{c}", &bib.customer_id.to_string());
    let (s, r) = get(&portal, &admin, &path).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        uids(&r),
        vec![p1_uid.clone(), p2_uid.clone(), p3_uid.clone()]
    );
    assert_eq!(
        report_days(item(&r, &p3_uid)),
        expected_days(&raw[&p3], date("2026-03-28"), date("2026-03-31"))
    );
    let (_, r) = get(&portal, &admin, &format!("{path}&group={group}")).await;
    assert_eq!(uids(&r), vec![p1_uid.clone()]);
    let (_, r) = get(&portal, &admin, &format!("{path}&limit=1&offset=1")).await;
    assert_eq!(
        (uids(&r), r["count"].as_i64()),
        (vec![p2_uid.clone()], Some(3))
    );
    // A long period lists fewer PCs a page (at most 15,000 PC-days: a year gives 41),
    // and says so in its limit; the pages still hold every PC once.
    let long = "/api/reports/{r}?customer={c}&from=2025-12-01&to=2026-12-01"
        .replace("{c}", &bib.customer_id.to_string());
    for report in ["availability", "usage"] {
        let long = long.replace("{r}", report);
        let (s, r) = get(&portal, &admin, &format!("{long}&limit=500")).await;
        assert_eq!((s, r["limit"].as_i64()), (200, Some(15_000 / 365)), "{r}");
        let (_, r) = get(&portal, &admin, &format!("{long}&limit=2&offset=2")).await;
        assert_eq!(r["limit"], 2, "{r}");
    }
    let since = date("2026-04-01");
    let want: Vec<String> = [(p1, &p1_uid), (p2, &p2_uid), (p3, &p3_uid)]
        .into_iter()
        .filter(|(pc, _)| raw[pc].iter().all(|&at| at < midnight(since)))
        .map(|(_, uid)| uid.clone())
        .collect();
    assert_eq!(want, vec![p3_uid.clone()]);
    let (_, r) = get(&portal, &admin, &format!("{path}&not_seen_since={since}")).await;
    assert_eq!(uids(&r), want);

    // Another customer: Ærø's site and customer are not found; its own report has only its PC.
    for path in [
        "/api/reports/availability?site=aeroe-bib".to_owned(),
        format!("/api/reports/availability?customer={}", bib.customer_id),
        format!("/api/reports/availability?site=fanoe-bib&group={group}"),
        "/api/reports/usage?site=aeroe-bib".to_owned(),
    ] {
        let (s, r) = get(&portal, &fanoe_key, &path).await;
        assert_eq!(s, 404, "{path}: {r}");
        assert!(!r.to_string().contains("bib-1"), "{r}");
    }
    let (s, r) = get(
        &portal,
        &fanoe_key,
        "/api/reports/availability?from=2026-03-28&to=2026-03-31",
    )
    .await;
    assert_eq!((s, uids(&r)), (200, vec![pb_uid.clone()]));
    // The superuser sees every customer's PCs.
    let root = api_user(&portal, "rod", None).await;
    let (_, r) = get(
        &portal,
        &root,
        "/api/reports/availability?from=2026-03-28&to=2026-03-31",
    )
    .await;
    assert_eq!(r["count"], 4);
    assert_eq!(
        report_days(item(&r, &pb_uid)),
        expected_days(&raw[&pb], date("2026-03-28"), date("2026-03-31"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_parameters_are_refused_by_name() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø", "aeroe-bib").await;
    let key = portal
        .store
        .add_api_key(site.id, "bi", false)
        .await
        .unwrap();
    for (query, names) in [
        ("from=2026-13-01", "from"),
        ("to=29-03-2026", "to"),
        ("from=2026-03-29&to=2026-03-29", "to"),
        ("from=2026-03-30&to=2026-03-29", "to"),
        ("from=2025-01-01&to=2026-03-01", "to"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=mange", "limit"),
        ("offset=-1", "offset"),
        ("group=en", "group"),
        ("customer=x", "customer"),
        ("site=aeroe-bib&customer=1", "customer"),
        ("not_seen_since=i-går", "not_seen_since"),
        ("idle=true", "idle"),
        ("farve=rød", "farve"),
    ] {
        let (s, r) = get(&portal, &key, &format!("/api/reports/availability?{query}")).await;
        assert_eq!(s, 422, "{query}: {r}");
        assert!(
            r["detail"].as_str().unwrap().contains(names),
            "{query}: {r}"
        );
    }
    for (query, names) in [
        ("idle=måske", "idle"),
        ("not_seen_since=2026-01-01", "not_seen_since"),
        ("to=2026-02-30", "to"),
    ] {
        let (s, r) = get(&portal, &key, &format!("/api/reports/usage?{query}")).await;
        assert_eq!(s, 422, "{query}: {r}");
        assert!(
            r["detail"].as_str().unwrap().contains(names),
            "{query}: {r}"
        );
    }
    for path in [
        "/api/reports/usage?site=findes-ikke",
        "/api/reports/usage?customer=999999",
        "/api/reports/usage?group=999999",
    ] {
        assert_eq!(get(&portal, &key, path).await.0, 404, "{path}");
    }
    assert_eq!(get(&portal, "bpk_nope", "/api/reports/usage").await.0, 401);
}

/// One login_counts value, as the core script writes it.
fn counts(days: &[(NaiveDate, i64)]) -> String {
    days.iter()
        .map(|(d, n)| format!("{d}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_each_day_at_the_site_it_was_reported_at() {
    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    // p1 registers and pushes over the client-api, as the real agent does.
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:01", "name": "bib-1", "site": "aeroe-bib",
                   "configuration": {"hostname": "bib-1"}, "client_key": KEY}),
        )
        .await;
    assert_eq!(s, 200, "{uid}");
    let p1_uid = uid.as_str().unwrap().to_owned();
    let p1 = portal.activate(&bib, &p1_uid).await.id;
    let (p2, p2_uid) = portal.pc(&bib, "bib-2").await;
    let (p3, p3_uid) = portal.pc(&borger, "borger-1").await;
    let (_, p4_uid) = portal.pc(&bib, "bib-3").await;
    let (pb, _) = portal.pc(&fanoe, "fanoe-1").await;
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    store.add_group_member(group, p1).await.unwrap();
    store.add_group_member(group, p2).await.unwrap();

    // Days relative to today: the history keeps what retention keeps, so fixed dates would
    // age out of it. The period is the last 21 days before today.
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let from = today - chrono::Duration::days(21);
    let day = |i: i64| from + chrono::Duration::days(i);
    let n = |pc: i64, i: i64| (pc * 7 + i * 3) % 11;

    // What the test expects, from what it pushes: (pc, date) -> (site when first reported,
    // the latest count).
    let mut model: BTreeMap<(i64, NaiveDate), (String, i64)> = BTreeMap::new();
    let mut note = |pc: i64, site: &str, days: &[(NaiveDate, i64)]| {
        for (d, c) in days {
            model
                .entry((pc, *d))
                .and_modify(|e| e.1 = *c)
                .or_insert((site.to_owned(), *c));
        }
    };

    // p1 over HTTP, with bad parts that are skipped, never failing the push.
    let p1_days: Vec<_> = (0..21).map(|i| (day(i), n(p1, i))).collect();
    let value = format!(
        "{}, 2026-02-30: 4, i går: 3, {}: -2, {}: 1",
        counts(&p1_days),
        day(3),
        today + chrono::Duration::days(5)
    );
    let (s, r) = portal
        .post(
            "push_config_keys",
            json!({"pc_uid": p1_uid, "config_dict": {"login_counts": value}, "read_only": false, "client_key": KEY}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    note(p1, "aeroe-bib", &p1_days);

    let push = |pc: i64, days: Vec<(NaiveDate, i64)>| async move {
        store
            .change_pc_entries(
                pc,
                &[EntryChange::Set {
                    key: "login_counts".into(),
                    value: counts(&days),
                    read_only: false,
                }],
            )
            .await
            .unwrap();
    };
    // p2 reports days 0-9 at the library, is moved to the citizens' service, then reports
    // days 0-20 again (the script sends its last 90 days), day 9 with a new count.
    let before: Vec<_> = (0..10).map(|i| (day(i), n(p2, i))).collect();
    push(p2, before.clone()).await;
    note(p2, "aeroe-bib", &before);
    // No operation moves a PC between sites yet (upstream does it in Django's admin): moved
    // here as such a move would, by its row.
    let mut tx = store.db.begin_write().await.unwrap();
    sqlx::query("UPDATE pcs SET site_id = $1 WHERE id = $2")
        .bind(borger.id)
        .bind(p2)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after: Vec<_> = (0..21)
        .map(|i| (day(i), if i == 9 { 40 } else { n(p2, i) }))
        .collect();
    push(p2, after.clone()).await;
    note(p2, "aeroe-borger", &after);
    let p3_days: Vec<_> = (5..15).map(|i| (day(i), n(p3, i))).collect();
    push(p3, p3_days.clone()).await;
    note(p3, "aeroe-borger", &p3_days);
    push(pb, vec![(day(2), 99)]).await;
    // p4 reports nothing: idle.

    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let to = today;
    let q = format!("from={from}&to={to}");
    let pcs_at = |site: &str| -> BTreeSet<i64> {
        model
            .iter()
            .filter(|(_, (s, _))| s == site)
            .map(|((pc, _), _)| *pc)
            .collect()
    };
    let total_at = |sites: &[&str]| -> BTreeMap<String, i64> {
        let mut t = BTreeMap::new();
        for ((_, d), (s, c)) in &model {
            if sites.contains(&s.as_str()) && *d >= from && *d < to {
                *t.entry(d.to_string()).or_default() += c;
            }
        }
        t
    };
    let days_of = |v: &Value| -> BTreeMap<String, i64> {
        v["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().unwrap().to_owned(),
                    d["logins"].as_i64().unwrap(),
                )
            })
            .collect()
    };

    // The library: p1's days, p2's days from before the move, the idle p4.
    let (s, r) = get(
        &portal,
        &admin,
        &format!("/api/reports/usage?site=aeroe-bib&{q}"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(pcs_at("aeroe-bib"), BTreeSet::from([p1, p2]));
    assert_eq!(
        uids(&r),
        vec![p1_uid.clone(), p4_uid.clone(), p2_uid.clone()],
        "by site now, then name"
    );
    let want = total_at(&["aeroe-bib"]);
    assert_eq!(r["sites"].as_array().unwrap().len(), 1);
    assert_eq!(days_of(&r["sites"][0]), want);
    assert_eq!(r["logins"], want.values().sum::<i64>());
    let p2_here = item(&r, &p2_uid);
    assert_eq!(p2_here["site"], "aeroe-borger", "the site now");
    assert!(
        p2_here["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["site"] == "aeroe-bib")
    );
    assert_eq!(days_of(p2_here).len(), 10, "days 0-9 stay at the library");
    assert_eq!(
        days_of(p2_here)[&day(9).to_string()],
        40,
        "re-reported: the new count"
    );
    assert_eq!(
        item(&r, &p1_uid)["logins"],
        p1_days.iter().map(|d| d.1).sum::<i64>()
    );
    assert_eq!(
        (item(&r, &p4_uid)["idle"].as_bool(), r["idle"].as_i64()),
        (Some(true), Some(1))
    );
    assert_eq!(r["count"], 3);
    let (_, idle) = get(
        &portal,
        &admin,
        &format!("/api/reports/usage?site=aeroe-bib&idle=true&{q}"),
    )
    .await;
    assert_eq!(uids(&idle), vec![p4_uid.clone()]);

    // Weekdays from the raw days; the busiest of them.
    let mut weekdays = [0i64; 7];
    for (d, c) in &want {
        weekdays[date(d).weekday().num_days_from_monday() as usize] += c;
    }
    let got: Vec<i64> = r["weekdays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["logins"].as_i64().unwrap())
        .collect();
    assert_eq!(got, weekdays);
    let busiest = (1..=7)
        .max_by_key(|w| (weekdays[*w - 1], std::cmp::Reverse(*w)))
        .unwrap();
    assert_eq!(r["busiest_weekday"], busiest as u64);
    assert_eq!(r["busiest_hour"], Value::Null, "login_counts has no hours");
    // The group, by its members now: p1 and p2's days at the report's sites.
    let group_total: i64 = model
        .iter()
        .filter(|((pc, d), (s, _))| [p1, p2].contains(pc) && s == "aeroe-bib" && *d >= from)
        .map(|(_, (_, c))| c)
        .sum();
    assert_eq!(r["groups"][0]["logins"], group_total);
    let (_, g) = get(
        &portal,
        &admin,
        &format!("/api/reports/usage?site=aeroe-bib&group={group}&{q}"),
    )
    .await;
    assert_eq!(uids(&g), vec![p1_uid.clone(), p2_uid.clone()]);
    assert_eq!(g["logins"], group_total);

    // The citizens' service: p2's later days and p3's.
    let (_, r) = get(
        &portal,
        &admin,
        &format!("/api/reports/usage?site=aeroe-borger&{q}"),
    )
    .await;
    assert_eq!(days_of(&r["sites"][0]), total_at(&["aeroe-borger"]));
    assert_eq!(
        uids(&r),
        vec![p2_uid.clone(), p3_uid.clone()],
        "bib-2 before borger-1"
    );
    assert_eq!(days_of(item(&r, &p2_uid)).len(), 11);
    // The customer: both sites, each day once.
    let (_, r) = get(
        &portal,
        &admin,
        &format!("/api/reports/usage?customer={}&{q}", bib.customer_id),
    )
    .await;
    let both = total_at(&["aeroe-bib", "aeroe-borger"]);
    assert_eq!(r["logins"], both.values().sum::<i64>());
    assert_eq!(r["sites"].as_array().unwrap().len(), 2);
    assert!(!r.to_string().contains("fanoe"), "{r}");
    assert_eq!(r["count"], 4);

    // Upstream's read API still passes the value on as the PC pushed it.
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();
    let (s, r) = get(
        &portal,
        &key,
        &format!("/api/system/computers/{p1}/logins-per-day"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r, json!({"pc_name": "bib-1", "logins_per_day": value}));
    let (s, r) = get(&portal, &key, "/api/system/computers/logins-per-day").await;
    assert_eq!(s, 200);
    assert!(
        r.as_array()
            .unwrap()
            .contains(&json!({"pc_name": "bib-1", "logins_per_day": value}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_days_go_with_retention_and_with_their_pc() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let site = portal.site("Ærø", "aeroe-bib").await;
    let (pc, uid) = portal.pc(&site, "bib-1").await;
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let days = [
        (today - chrono::Duration::days(30), 3),
        (today - chrono::Duration::days(5), 4),
    ];
    store
        .change_pc_entries(
            pc,
            &[EntryChange::Set {
                key: "login_counts".into(),
                value: counts(&days),
                read_only: false,
            }],
        )
        .await
        .unwrap();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pc_login_days")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert_eq!(rows().await, 2);
    let retention = borgerpc_admin::store::history::Retention {
        checkin_days: 10,
        ..Default::default()
    };
    let purged = store
        .purge_history(&retention, service_kit::db::now_ms())
        .await
        .unwrap();
    assert_eq!(
        purged.login_days, 1,
        "the day 30 days ago, past 10 days' retention"
    );
    assert_eq!(rows().await, 1);
    assert!(store.delete_pc(site.id, &uid).await.unwrap());
    assert_eq!(rows().await, 0, "a deleted PC's days go with it");
}
