//! The security report's API (issue 14, report 5) against figures the test computes from the
//! events it seeded (`common::ops::events`: two customers, events pushed by the PCs over the
//! client-api around the 23-hour 29 March, an offline event from the offline check, a PC
//! that moved) and the handling it did through the API and the pages: counts per level,
//! rule, site, PC and local date or week; open against handled; the time to handle (median
//! and p90, as the wait buckets they are in, holding the exact ones) from the stored rows; the handled time set, kept and cleared where events are
//! handled; the same as CSV and XLSX (openpyxl); no summary anywhere; another customer's
//! site, customer and group 404, bad parameters 422 naming them.

use crate::common::Portal;
use crate::common::ops::{self, Event, bucketed, handling, local_date, percentile};
use crate::common::reports::{api_user, date};
use crate::common::web::WebUser;
use crate::reports_export::{Want, check_csv, check_xlsx, get, openpyxl_python};
use chrono::NaiveDate;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PERIOD: &str = "from=2026-03-26&to=2026-04-02";

async fn json(portal: &Portal, token: &str, path: &str) -> Value {
    let a = get(portal, token, path).await;
    assert_eq!(a.status, 200, "{path}: {}", a.json());
    a.json()
}

async fn patch(portal: &Portal, token: &str, id: i64, body: Value) {
    let r = reqwest::Client::new()
        .patch(format!("{}/api/system/event/{id}", portal.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "event {id}: {}", r.text().await.unwrap());
}

/// The events as stored, with their status and handled time.
struct Stored {
    events: Vec<Event>,
    handling: BTreeMap<i64, (String, Option<i64>)>,
}

impl Stored {
    fn status(&self, e: &Event) -> &str {
        &self.handling[&e.id].0
    }

    /// Counts in the report's order: events, new, assigned, resolved, open.
    fn counts<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> [i64; 5] {
        let mut c = [0; 5];
        for e in events {
            c[0] += 1;
            match self.status(e) {
                "NEW" => c[1] += 1,
                "ASSIGNED" => c[2] += 1,
                _ => c[3] += 1,
            }
        }
        c[4] = c[1] + c[2];
        c
    }

    /// The waits of the handled events with a handled time.
    fn waits<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> Vec<i64> {
        events
            .into_iter()
            .filter_map(|e| match &self.handling[&e.id] {
                (s, Some(h)) if s == "RESOLVED" => Some((h - e.occurred_at).max(0)),
                _ => None,
            })
            .collect()
    }

    fn levels<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> [i64; 3] {
        let mut l = [0; 3];
        for e in events {
            l[["CRITICAL", "HIGH", "NORMAL"]
                .iter()
                .position(|x| *x == e.level)
                .unwrap()] += 1;
        }
        l
    }
}

fn counts_of(v: &Value) -> [i64; 5] {
    ["events", "new", "assigned", "resolved", "open"].map(|k| v[k].as_i64().unwrap())
}

fn levels_of(v: &Value) -> [i64; 3] {
    ["critical", "high", "normal"].map(|k| v[k].as_i64().unwrap())
}

fn close(got: &Value, want: Option<f64>, what: &str) {
    match (got.as_f64(), want) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{what}: {g} {w}"),
        other => panic!("{what}: {other:?}"),
    }
}

/// The time to handle is the bucketed median and p90 of the waits, and the exact ones lie in
/// those buckets.
fn check_time(got: &Value, waits: &[i64], what: &str) {
    assert_eq!(got["handled"], waits.len() as i64, "{what}");
    for (name, tenths) in [("median", 5), ("p90", 9)] {
        let want = bucketed(waits, tenths);
        let what = format!("{what} {name}");
        close(&got[format!("{name}_from_ms")], want.map(|w| w.0), &what);
        close(&got[format!("{name}_ms")], want.map(|w| w.1), &what);
        if let (Some((from, to)), Some(exact)) = (want, percentile(waits, tenths)) {
            assert!(from <= exact && exact <= to, "{what}: {from} {exact} {to}");
        }
    }
}

fn in_period(e: &Event) -> bool {
    let d = local_date(e.occurred_at);
    d >= date("2026-03-26") && d < date("2026-04-02")
}

/// Seeds the events and handles some through the API and the pages; the stored rows.
async fn seeded(portal: &Portal) -> (ops::Events, String, Stored) {
    let seed = ops::events(portal).await;
    let admin = api_user(
        portal,
        "ida-api",
        Some(("customer_admin", Some(seed.bib.customer_id))),
    )
    .await;
    let e = |i: usize| seed.events[i].id;
    // Through the API: resolved, one assigned, one resolved and opened again.
    let before = service_kit::db::now_ms();
    for i in [0, 1, 3, 4, 6, 8, 9, 10] {
        patch(portal, &admin, e(i), json!({"status": "resolved"})).await;
    }
    patch(portal, &admin, e(2), json!({"status": "ASSIGNED"})).await;
    let after = service_kit::db::now_ms();
    let stored = handling(portal).await;
    for i in [0, 1, 3, 4, 6, 8, 9, 10] {
        let (status, at) = &stored[&e(i)];
        assert_eq!(status, "RESOLVED");
        assert!(
            at.is_some_and(|t| t >= before && t <= after),
            "event {i}: {at:?}"
        );
    }
    assert_eq!(stored[&e(2)].1, None, "assigned is not handled");
    patch(portal, &admin, e(9), json!({"status": "NEW"})).await;
    assert_eq!(
        handling(portal).await[&e(9)],
        ("NEW".to_owned(), None),
        "opened again"
    );
    // A note on a resolved event keeps when it was handled.
    let kept = handling(portal).await[&e(0)].1;
    patch(portal, &admin, e(0), json!({"note": "set igen"})).await;
    assert_eq!(handling(portal).await[&e(0)].1, kept);
    // Through the pages: the event list's "handle" form.
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(portal, "ida").await;
    ida.get("/steder/aeroe-bib/sikkerhed").await;
    let offline = seed.events.len() - 1;
    for i in [5, offline] {
        let before = service_kit::db::now_ms();
        let a = ida
            .post(
                "/steder/aeroe-bib/sikkerhed/haandter",
                &[("haendelse", &e(i).to_string()), ("ny_status", "RESOLVED")],
            )
            .await;
        assert!(
            a.status == 303 || a.status == 200,
            "{}: {}",
            a.status,
            a.body
        );
        let (status, at) = handling(portal).await[&e(i)].clone();
        assert_eq!(status, "RESOLVED");
        assert!(
            at.is_some_and(|t| t >= before),
            "handled on the page: {at:?}"
        );
    }
    // Resolved before this version (no handled time), as an old database has it.
    sqlx::query("UPDATE security_events SET status = 'RESOLVED', handled_at = NULL WHERE id = $1")
        .bind(e(12))
        .execute(portal.store.pool())
        .await
        .unwrap();
    // Handled times spread over the wait buckets (those handled above waited months): 1/128
    // hour, 7.5 minutes, 3 hours and 2 days after they happened (hours a file holds exactly).
    for (i, waited) in [(1, 28_125), (3, 450_000), (4, 10_800_000), (6, 172_800_000)] {
        sqlx::query("UPDATE security_events SET handled_at = occurred_at + $1 WHERE id = $2")
            .bind(waited as i64)
            .bind(e(i))
            .execute(portal.store.pool())
            .await
            .unwrap();
    }
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    portal.store.rebuild_report_rollups().await.unwrap();
    // Fanø handles one of its own with a key that may write.
    let fanoe_key = portal
        .store
        .add_api_key(seed.fanoe.id, "drift", true)
        .await
        .unwrap();
    patch(portal, &fanoe_key, e(13), json!({"status": "RESOLVED"})).await;
    let stored = Stored {
        events: seed.events.clone(),
        handling: handling(portal).await,
    };
    (seed, admin, stored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_counted_by_level_rule_site_pc_and_day_with_time_to_handle() {
    let portal = Portal::start().await;
    let (seed, admin, stored) = seeded(&portal).await;
    let aeroe: Vec<&Event> = stored
        .events
        .iter()
        .filter(|e| e.site != "fanoe-bib" && in_period(e))
        .collect();
    let customer = format!("customer={}", seed.bib.customer_id);
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/security?{customer}&{PERIOD}&limit=500"),
    )
    .await;
    let totals = stored.counts(aeroe.iter().copied());
    assert_eq!(counts_of(&r["totals"]), totals);
    assert!(totals.iter().all(|n| *n > 0), "{totals:?}");
    check_time(
        &r["time_to_handle"],
        &stored.waits(aeroe.iter().copied()),
        "all",
    );
    assert!(
        stored.waits(aeroe.iter().copied()).len() < totals[3] as usize,
        "one resolved without a time"
    );

    // Per level, the most severe first.
    let levels: Vec<&str> = r["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["CRITICAL", "HIGH", "NORMAL"]);
    for l in r["levels"].as_array().unwrap() {
        let of: Vec<&Event> = aeroe
            .iter()
            .copied()
            .filter(|e| e.level == l["level"])
            .collect();
        assert_eq!(counts_of(l), stored.counts(of.iter().copied()), "{l}");
        check_time(
            &l["time_to_handle"],
            &stored.waits(of.iter().copied()),
            l["level"].as_str().unwrap(),
        );
    }
    // Per rule, with its kind, level and site.
    let rules = r["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4, "usb, bruger, fjern and the offline rule");
    for x in rules {
        let of: Vec<&Event> = aeroe
            .iter()
            .copied()
            .filter(|e| e.rule_kind == x["rule_kind"] && e.rule == x["rule_id"])
            .collect();
        assert!(!of.is_empty(), "{x}");
        assert_eq!(counts_of(x), stored.counts(of.iter().copied()), "{x}");
        assert_eq!(x["level"], of[0].level);
        check_time(
            &x["time_to_handle"],
            &stored.waits(of.iter().copied()),
            x["name"].as_str().unwrap(),
        );
    }
    let offline = rules.iter().find(|x| x["rule_kind"] == "offline").unwrap();
    assert_eq!(
        (
            offline["name"].as_str(),
            offline["site"].as_str(),
            offline["events"].as_i64()
        ),
        (Some("Slukket i åbningstiden"), Some("aeroe-bib"), Some(1))
    );
    let events: Vec<i64> = rules
        .iter()
        .map(|x| x["events"].as_i64().unwrap())
        .collect();
    assert!(
        events.windows(2).all(|w| w[0] >= w[1]),
        "most first: {events:?}"
    );

    // Per site: bib-2's events before the move stay with the library.
    for s in r["sites"].as_array().unwrap() {
        let of: Vec<&Event> = aeroe
            .iter()
            .copied()
            .filter(|e| e.site == s["uid"])
            .collect();
        assert_eq!(counts_of(s), stored.counts(of.iter().copied()), "{s}");
        assert_eq!(levels_of(s), stored.levels(of.iter().copied()), "{s}");
    }
    assert_eq!(r["sites"].as_array().unwrap().len(), 2);
    let bib2 = seed.pcs["bib-2"].0;
    assert!(aeroe.iter().any(|e| e.pc == bib2 && e.site == "aeroe-bib"));
    assert!(
        aeroe
            .iter()
            .any(|e| e.pc == bib2 && e.site == "aeroe-borger")
    );

    // Per local date: the 23-hour day has 01:30 (winter time), 03:30 (summer time), noon
    // twice and 23:30; 00:30 on the 30th is the 30th's though UTC is still the 29th.
    let dates: Vec<NaiveDate> = date("2026-03-26")
        .iter_days()
        .take_while(|d| *d < date("2026-04-02"))
        .collect();
    let periods = r["periods"].as_array().unwrap();
    assert_eq!(periods.len(), dates.len());
    for (p, d) in periods.iter().zip(&dates) {
        assert_eq!(p["start"], d.to_string());
        let of: Vec<&Event> = aeroe
            .iter()
            .copied()
            .filter(|e| local_date(e.occurred_at) == *d)
            .collect();
        assert_eq!(counts_of(p), stored.counts(of.iter().copied()), "{d}");
        assert_eq!(levels_of(p), stored.levels(of.iter().copied()), "{d}");
    }
    assert_eq!(periods[3]["start"], "2026-03-29");
    assert_eq!(periods[3]["events"], 5);
    let week = json(
        &portal,
        &admin,
        &format!("/api/reports/security?{customer}&{PERIOD}&bucket=week"),
    )
    .await;
    let weeks: Vec<(String, i64, i64)> = week["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_str().unwrap().to_owned(),
                p["days"].as_i64().unwrap(),
                p["events"].as_i64().unwrap(),
            )
        })
        .collect();
    let before_monday = aeroe
        .iter()
        .filter(|e| local_date(e.occurred_at) < date("2026-03-30"))
        .count() as i64;
    assert_eq!(
        weeks,
        [
            ("2026-03-23".to_owned(), 4, before_monday),
            (
                "2026-03-30".to_owned(),
                3,
                aeroe.len() as i64 - before_monday
            )
        ]
    );

    // The PCs, the most events first, and the events themselves.
    assert_eq!(r["list"], "pcs");
    for p in r["items"].as_array().unwrap() {
        let of: Vec<&Event> = aeroe
            .iter()
            .copied()
            .filter(|e| e.pc == p["pc_id"])
            .collect();
        assert_eq!(counts_of(p), stored.counts(of.iter().copied()), "{p}");
        assert_eq!(levels_of(p), stored.levels(of.iter().copied()), "{p}");
    }
    assert_eq!(r["count"], 5, "bib-1, bib-2, bib-3, borger-1, bib-stille");
    let e = json(
        &portal,
        &admin,
        &format!("/api/reports/security?{customer}&{PERIOD}&list=events&limit=500"),
    )
    .await;
    let mut newest: Vec<&Event> = aeroe.clone();
    newest.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
    let got: Vec<i64> = e["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, newest.iter().map(|e| e.id).collect::<Vec<_>>());
    // Page by page, and of one level: the same order.
    let event_ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["event_id"].as_i64().unwrap())
            .collect()
    };
    let mut paged = Vec::new();
    for offset in (0..got.len()).step_by(2) {
        let p = json(
            &portal,
            &admin,
            &format!(
                "/api/reports/security?{customer}&{PERIOD}&list=events&limit=2&offset={offset}"
            ),
        )
        .await;
        assert_eq!(p["count"], got.len());
        paged.extend(event_ids(&p));
    }
    assert_eq!(paged, got);
    let level = newest[0].level;
    let of_level = json(
        &portal,
        &admin,
        &format!("/api/reports/security?{customer}&{PERIOD}&list=events&level={level}&limit=500"),
    )
    .await;
    let want: Vec<i64> = newest
        .iter()
        .filter(|e| e.level == level)
        .map(|e| e.id)
        .collect();
    assert!(want.len() < got.len(), "{level}");
    assert_eq!(event_ids(&of_level), want);
    for x in e["items"].as_array().unwrap() {
        let ev = aeroe.iter().find(|e| e.id == x["event_id"]).unwrap();
        let (status, handled) = &stored.handling[&ev.id];
        assert_eq!(
            (x["status"].as_str(), x["handled_at"].as_i64()),
            (Some(status.as_str()), *handled)
        );
        let wait = stored.waits([*ev]).first().copied();
        assert_eq!(x["time_to_handle_ms"].as_i64(), wait);
        assert_eq!(x["level"], ev.level);
    }
    assert!(!e.to_string().contains("hændelse "), "no summary: {e}");
    assert!(!r.to_string().contains("hændelse "), "no summary");

    // A level, the group, one site.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/security?{customer}&{PERIOD}&level=CRITICAL"),
    )
    .await;
    let critical = aeroe.iter().copied().filter(|e| e.level == "CRITICAL");
    assert_eq!(counts_of(&r["totals"]), stored.counts(critical));
    assert_eq!(r["levels"].as_array().unwrap().len(), 1);
    let r = json(
        &portal,
        &admin,
        &format!(
            "/api/reports/security?site=aeroe-bib&group={}&{PERIOD}",
            seed.group
        ),
    )
    .await;
    let members = aeroe
        .iter()
        .copied()
        .filter(|e| e.pc == seed.pcs["bib-1"].0);
    assert_eq!(counts_of(&r["totals"]), stored.counts(members));
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/security?site=aeroe-borger&{PERIOD}"),
    )
    .await;
    let borger = aeroe.iter().copied().filter(|e| e.site == "aeroe-borger");
    assert_eq!(counts_of(&r["totals"]), stored.counts(borger));

    // The superuser sees both customers, Fanø's key its own.
    let root = api_user(&portal, "rod", None).await;
    let r = json(&portal, &root, &format!("/api/reports/security?{PERIOD}")).await;
    let all: Vec<&Event> = stored.events.iter().filter(|e| in_period(e)).collect();
    assert_eq!(counts_of(&r["totals"]), stored.counts(all.iter().copied()));
    check_time(
        &r["time_to_handle"],
        &stored.waits(all.iter().copied()),
        "everyone's",
    );
    let key = portal
        .store
        .add_api_key(seed.fanoe.id, "bi", false)
        .await
        .unwrap();
    let r = json(&portal, &key, &format!("/api/reports/security?{PERIOD}")).await;
    let fanoe = all.iter().copied().filter(|e| e.site == "fanoe-bib");
    assert_eq!(counts_of(&r["totals"]), stored.counts(fanoe));
    assert!(!r.to_string().contains("aeroe"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_report_refuses_others_and_bad_parameters_by_name() {
    let portal = Portal::start().await;
    let seed = ops::events(&portal).await;
    let key = portal
        .store
        .add_api_key(seed.fanoe.id, "bi", false)
        .await
        .unwrap();
    for query in [
        "site=aeroe-bib".to_owned(),
        format!("customer={}", seed.bib.customer_id),
        format!("group={}", seed.group),
        "site=aeroe-bib&format=csv&list=events".to_owned(),
        format!("group={}&format=xlsx", seed.group),
    ] {
        let path = format!("/api/reports/security?{query}");
        let a = get(&portal, &key, &path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.json());
        assert!(a.disposition.is_empty());
        assert!(!a.json().to_string().contains("USB"));
    }
    for (query, name) in [
        ("level=LOW", "level"),
        ("level=critical", "level"),
        ("bucket=year", "bucket"),
        ("list=rules", "list"),
        ("format=csv&list=summaries", "list"),
        ("script=1", "script"),
        ("idle=true", "idle"),
        ("not_seen_since=2026-03-01", "not_seen_since"),
        ("to=2026-02-30", "to"),
        ("limit=501", "limit"),
        ("format=xlsx&limit=5", "limit"),
        ("format=csv&decimal=semikolon", "decimal"),
    ] {
        let path = format!("/api/reports/security?{query}");
        let a = get(&portal, &key, &path).await;
        assert_eq!(a.status, 422, "{path}: {}", a.json());
        let detail = a.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(name), "{path}: {detail}");
    }
}

fn text(v: &Value) -> Want {
    v.as_str().map_or(Want::Empty, |s| Want::Text(s.to_owned()))
}

fn ints(v: &Value, keys: &[&str]) -> Vec<Want> {
    keys.iter()
        .map(|k| Want::Int(v[k].as_i64().unwrap()))
        .collect()
}

fn hours(ms: &Value) -> Want {
    ms.as_f64()
        .map_or(Want::Empty, |ms| Want::Decimal(ms / 3_600_000.0, "0.00"))
}

/// A file to ask for: the query, the sheet, the header and the rows the JSON says.
type Export<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<Vec<Want>>);

const COUNTS: [&str; 5] = ["events", "new", "assigned", "resolved", "open"];
const LEVELS: [&str; 3] = ["critical", "high", "normal"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_exports_hold_the_json_table_for_table() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let (seed, admin, _) = seeded(&portal).await;
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "/api/reports/security?customer={}&{PERIOD}",
        seed.bib.customer_id
    );
    let r = json(&portal, &admin, &format!("{base}&limit=500")).await;
    let events = json(&portal, &admin, &format!("{base}&list=events&limit=500")).await;
    let handling = |t: &Value| {
        vec![
            Want::Int(t["handled"].as_i64().unwrap()),
            hours(&t["median_ms"]),
            hours(&t["p90_ms"]),
        ]
    };
    let header = |first: &[&'static str], more: &[&'static str]| {
        let mut h = first.to_vec();
        h.extend(COUNTS);
        h.extend(more);
        h
    };
    let rows = |v: &Value, f: &dyn Fn(&Value) -> Vec<Want>| -> Vec<Vec<Want>> {
        v.as_array().unwrap().iter().map(f).collect()
    };
    let local = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Copenhagen)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let tables: Vec<Export> = vec![
        (
            "",
            "rules",
            header(
                &["rule_kind", "rule_id", "rule", "level", "site"],
                &["handled_with_time", "median_hours", "p90_hours"],
            ),
            rows(&r["rules"], &|x| {
                let mut row = vec![
                    text(&x["rule_kind"]),
                    Want::Int(x["rule_id"].as_i64().unwrap()),
                    text(&x["name"]),
                    text(&x["level"]),
                    text(&x["site"]),
                ];
                row.extend(ints(x, &COUNTS));
                row.extend(handling(&x["time_to_handle"]));
                row
            }),
        ),
        (
            "&list=levels",
            "levels",
            header(
                &["level"],
                &["handled_with_time", "median_hours", "p90_hours"],
            ),
            rows(&r["levels"], &|x| {
                let mut row = vec![text(&x["level"])];
                row.extend(ints(x, &COUNTS));
                row.extend(handling(&x["time_to_handle"]));
                row
            }),
        ),
        (
            "&list=sites",
            "sites",
            header(&["site", "site_name"], &LEVELS),
            rows(&r["sites"], &|x| {
                let mut row = vec![text(&x["uid"]), text(&x["name"])];
                row.extend(ints(x, &COUNTS));
                row.extend(ints(x, &LEVELS));
                row
            }),
        ),
        (
            "&list=periods",
            "periods",
            header(&["start", "days"], &LEVELS),
            rows(&r["periods"], &|x| {
                let mut row = vec![
                    Want::Date(x["start"].as_str().unwrap().to_owned()),
                    Want::Int(x["days"].as_i64().unwrap()),
                ];
                row.extend(ints(x, &COUNTS));
                row.extend(ints(x, &LEVELS));
                row
            }),
        ),
        (
            "&list=pcs",
            "pcs",
            header(&["site", "pc_uid", "pc_name"], &LEVELS),
            rows(&r["items"], &|x| {
                let mut row = vec![text(&x["site"]), text(&x["uid"]), text(&x["name"])];
                row.extend(ints(x, &COUNTS));
                row.extend(ints(x, &LEVELS));
                row
            }),
        ),
        (
            "&list=events",
            "events",
            vec![
                "date",
                "site",
                "pc_uid",
                "pc_name",
                "event_id",
                "rule_kind",
                "rule",
                "level",
                "status",
                "occurred",
                "handled",
                "hours_to_handle",
            ],
            rows(&events["items"], &|x| {
                let occurred = x["occurred_at"].as_i64().unwrap();
                vec![
                    Want::Date(local_date(occurred).to_string()),
                    text(&x["site"]),
                    text(&x["pc_uid"]),
                    text(&x["pc_name"]),
                    Want::Int(x["event_id"].as_i64().unwrap()),
                    text(&x["rule_kind"]),
                    text(&x["rule"]),
                    text(&x["level"]),
                    text(&x["status"]),
                    Want::Text(local(occurred)),
                    x["handled_at"]
                        .as_i64()
                        .map_or(Want::Empty, |t| Want::Text(local(t))),
                    hours(&x["time_to_handle_ms"]),
                ]
            }),
        ),
    ];
    for (query, sheet, header, want) in &tables {
        assert!(!want.is_empty(), "{sheet}");
        let path = format!("{base}{query}");
        let csv = get(&portal, &admin, &format!("{path}&format=csv")).await;
        check_csv(&csv, header, want, true);
        assert!(
            !String::from_utf8_lossy(&csv.body).contains("hændelse "),
            "no summary"
        );
        assert_eq!(
            csv.disposition,
            format!(
                "attachment; filename=\"security-{sheet}-kunde-{}-2026-03-26-2026-04-02.csv\"",
                seed.bib.customer_id
            )
        );
        let point = get(&portal, &admin, &format!("{path}&format=csv&decimal=point")).await;
        check_csv(&point, header, want, false);
        let xlsx = get(&portal, &admin, &format!("{path}&format=xlsx")).await;
        check_xlsx(&python, dir.path(), &xlsx, sheet, header, want).await;
    }
}

/// A period of more than 20,000 events lists the PCs in the order they were registered (one
/// page read from the events' PC index), each with the counts of its events the test wrote,
/// and says so (`pcs_order`, and a note on the page); the list's length is every PC with
/// events in the period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_events_list_the_pcs_in_the_order_they_were_registered() {
    const PCS: i64 = 40;
    const EVENTS: i64 = 20_010;
    let portal = Portal::start().await;
    let site = portal.site("Ærø", "aeroe-bib").await;
    // PCs named against their order, a rule, and the events written in bulk (as the bench
    // does): event i on PC i * 7 % 40 (PC 39 has none), a day of the period, NEW, ASSIGNED
    // or RESOLVED (handled a minute on) by i % 3.
    let base = crate::common::reports::midnight(date("2026-03-26")) + 36_000_000;
    let statements = [
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {PCS} - 1)
             INSERT INTO pcs (site_id, uid, mac, name, created_at)
             SELECT {}, 'pc-' || i, 'mac-' || i, 'pc-' || (100 - i), 0 FROM n ORDER BY i",
            site.id
        ),
        format!(
            "INSERT INTO scripts (site_id, name, is_security, created_at, updated_at)
             VALUES ({}, 'S', 1, 0, 0)",
            site.id
        ),
        format!(
            "INSERT INTO security_problems (site_id, name, level, script_id, created_at)
             SELECT {}, 'R', 'HIGH', id, 0 FROM scripts",
            site.id
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {EVENTS} - 1)
             INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at,
                    occurred_text, reported_at, summary, status, handled_at)
             SELECT {site}, (SELECT MIN(id) FROM pcs) + (n.i * 7) % ({PCS} - 1), 'security',
                    (SELECT MIN(id) FROM security_problems), {base} + (n.i % 6) * 86400000 + n.i,
                    'x', {base}, 'y',
                    CASE n.i % 3 WHEN 0 THEN 'NEW' WHEN 1 THEN 'ASSIGNED' ELSE 'RESOLVED' END,
                    CASE WHEN n.i % 3 = 2 THEN {base} + (n.i % 6) * 86400000 + n.i + 60000 END
             FROM n",
            site = site.id
        ),
    ];
    let first = crate::common::reports::written_in_bulk(&portal, statements.to_vec()).await;
    // The test's own counts per PC: [events, new, assigned, resolved].
    let mut want: BTreeMap<i64, [i64; 4]> = BTreeMap::new();
    for i in 0..EVENTS {
        let c = want.entry(first + (i * 7) % (PCS - 1)).or_default();
        c[0] += 1;
        c[1 + (i % 3) as usize] += 1;
    }
    assert_eq!(want.len() as i64, PCS - 1);
    let token = api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(site.customer_id))),
    )
    .await;
    for offset in [0, 15, 30] {
        let r = json(
            &portal,
            &token,
            &format!("/api/reports/security?site=aeroe-bib&{PERIOD}&limit=15&offset={offset}"),
        )
        .await;
        assert_eq!(r["pcs_order"], "registered");
        assert_eq!(r["totals"]["events"], EVENTS);
        assert_eq!(r["count"], PCS - 1);
        let items = r["items"].as_array().unwrap();
        let ids: Vec<i64> = items.iter().map(|p| p["pc_id"].as_i64().unwrap()).collect();
        let expected: Vec<i64> = want.keys().copied().skip(offset).take(15).collect();
        assert_eq!(ids, expected, "offset {offset}");
        for p in items {
            let c = want[&p["pc_id"].as_i64().unwrap()];
            assert_eq!(
                [
                    &p["events"],
                    &p["new"],
                    &p["assigned"],
                    &p["resolved"],
                    &p["high"]
                ],
                [c[0], c[1], c[2], c[3], c[0]].map(Value::from).each_ref(),
                "{p}"
            );
        }
    }
    // Fewer events (one day of them): the most first, as before.
    let r = json(
        &portal,
        &token,
        "/api/reports/security?site=aeroe-bib&from=2026-03-26&to=2026-03-27&limit=5",
    )
    .await;
    assert_eq!(r["pcs_order"], "events");
    let events: Vec<i64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["events"].as_i64().unwrap())
        .collect();
    assert!(events.windows(2).all(|w| w[0] >= w[1]), "{events:?}");
    // The page lists the same first page, and says in which order.
    portal.web_user("ida", "customer_admin", &site).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida
        .get("/rapporter/sikkerhed?sted=aeroe-bib&fra=2026-03-26&til=2026-04-01")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"computere-orden\""));
    assert!(page.body.contains("i den rækkefølge de blev tilmeldt"));
    let rows: Vec<&str> = page.body.split("<tr data-pc=\"").skip(1).collect();
    let shown: Vec<i64> = rows
        .iter()
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(shown, want.keys().copied().collect::<Vec<_>>());
}
