//! The changes report's exports (issue 14, report 6) over real HTTP: the records the JSON
//! lists, as CSV (parsed here) and as XLSX (read by openpyxl, an independent reader), cell for
//! cell, times as local date-times computed here from each record's instant with chrono-tz;
//! the filters carry over; an export holds every record and is refused above its bound,
//! naming the period and the filters.

use crate::common::Portal;
use crate::common::changes::{get_ok, scenario};
use crate::reports_export::{Want, check_csv, check_xlsx, get, openpyxl_python};
use chrono::TimeZone;
use chrono_tz::Europe::Copenhagen;
use serde_json::Value;

const HEADER: &[&str] = &[
    "time", "site", "customer", "user", "action", "target", "pcs", "before", "after",
];
const PERIOD: &str = "from=2026-03-01&to=2026-12-01";

/// The rows an export of the JSON's records should hold.
fn want_rows(json: &Value) -> Vec<Vec<Want>> {
    let text = |v: &Value| v.as_str().map_or(Want::Empty, |s| Want::Text(s.to_owned()));
    let part = |i: &Value, k: &str| match i["detail"].get(k) {
        None | Some(Value::Null) => Want::Empty,
        Some(Value::String(s)) => Want::Text(s.clone()),
        Some(v) => Want::Text(v.to_string()),
    };
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let local = chrono::Utc
                .timestamp_millis_opt(i["at"].as_i64().unwrap())
                .unwrap()
                .with_timezone(&Copenhagen);
            vec![
                Want::DateTime(local.format("%Y-%m-%d %H:%M:%S").to_string()),
                text(&i["site"]),
                text(&i["customer"]),
                text(&i["actor"]),
                text(&i["action"]),
                text(&i["target"]),
                i["pcs"].as_i64().map_or(Want::Empty, Want::Int),
                part(i, "before"),
                part(i, "after"),
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_exports_hold_the_json_cell_for_cell() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let s = scenario(&portal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = s.bib.customer_id;
    for (token, scope, stem) in [
        (&s.ida, format!("customer={a}"), format!("kunde-{a}")),
        (&s.ole, "site=aeroe-bib".to_owned(), "aeroe-bib".to_owned()),
        (&s.root, String::new(), "alle".to_owned()),
        (&s.ida, format!("group={}", s.group), "alle".to_owned()),
        (&s.ida, "user=ole&action=pc".to_owned(), "alle".to_owned()),
    ] {
        let base = format!("/api/reports/changes?{PERIOD}&{scope}");
        let json = get_ok(&portal, token, &format!("{base}&limit=500")).await;
        let want = want_rows(&json);
        assert_eq!(want.len() as i64, json["count"].as_i64().unwrap(), "{base}");
        assert!(!want.is_empty(), "{base}");
        if scope.is_empty() {
            assert!(
                want.iter().any(|r| r[1] == Want::Empty),
                "the portal-wide record, without a site"
            );
            assert!(
                want.iter()
                    .any(|r| r[7] == Want::Empty && r[8] == Want::Text("=1+2".into())),
                "a new settings value that looks like a formula"
            );
        }
        if scope.starts_with("group") {
            // A run's PCs are the group's members only.
            assert!(want.iter().any(|r| r[6] == Want::Int(2)));
            assert!(!want.iter().any(|r| r[6] == Want::Int(5)));
        }
        let file = format!("changes-{stem}-2026-03-01-2026-12-01");
        let csv = get(&portal, token, &format!("{base}&format=csv")).await;
        check_csv(&csv, HEADER, &want, true);
        assert_eq!(
            csv.disposition,
            format!("attachment; filename=\"{file}.csv\"")
        );
        let point = get(&portal, token, &format!("{base}&format=csv&decimal=point")).await;
        check_csv(&point, HEADER, &want, false);
        let xlsx = get(&portal, token, &format!("{base}&format=xlsx")).await;
        assert_eq!(
            xlsx.disposition,
            format!("attachment; filename=\"{file}.xlsx\"")
        );
        check_xlsx(&python, dir.path(), &xlsx, "changes", HEADER, &want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changes_export_holds_every_record_and_is_bounded() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø", "aeroe-bib").await;
    let token = crate::common::reports::api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(site.customer_id))),
    )
    .await;
    // 100,001 records a minute apart from 1 June 2026, written as the log writes them.
    let start = crate::common::reports::midnight(crate::common::reports::date("2026-06-01"));
    let mut tx = portal.store.db.begin_write().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
         INSERT INTO audit_log (at, actor, site_id, customer_id, action, target, pc_id)
         SELECT $1 + i * 60000, CASE WHEN i % 3 = 0 THEN 'user:ida' ELSE 'user:ole' END, $2, $3,
                CASE WHEN i % 1000 = 0 THEN 'pc.deactivate' ELSE 'pc.activate' END,
                'pc:' || CAST(i % 700 AS TEXT), i % 700 FROM n",
    )
    .bind(start)
    .bind(site.id)
    .bind(site.customer_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    portal.store.rebuild_report_rollups().await.unwrap();

    // The figures are counted in SQL over every record, quickly.
    let period = "from=2026-05-01&to=2026-09-01";
    let started = std::time::Instant::now();
    let r = get_ok(&portal, &token, &format!("/api/reports/changes?{period}")).await;
    let took = started.elapsed();
    eprintln!("the changes report over 100,001 records: {took:?}");
    assert_eq!(r["count"], 100_001);
    assert_eq!(r["totals"]["deactivations"], 101);
    assert_eq!(r["totals"]["activations"], 100_001 - 101);
    assert_eq!(r["activated_pcs"], 700);
    let ida = (0..=100_000).filter(|i| i % 3 == 0).count() as i64;
    assert_eq!(r["users"][0]["actor"], "user:ole");
    assert_eq!(r["users"][1]["actions"], ida);
    let days: i64 = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["actions"].as_i64().unwrap())
        .sum();
    assert_eq!(days, 100_001);

    for format in ["csv", "xlsx"] {
        let path = format!("/api/reports/changes?{period}&format={format}");
        let a = get(&portal, &token, &path).await;
        assert_eq!(a.status, 422, "{path}");
        let detail = a.json()["detail"].as_str().unwrap().to_owned();
        for part in [
            "to:",
            "100001 records",
            "2026-05-01",
            "from",
            "site",
            "user",
            "action",
        ] {
            assert!(detail.contains(part), "{part} in {detail}");
        }
    }
    // Narrowed, it is a file of every record: 101 deactivations, newest first.
    let a = get(
        &portal,
        &token,
        &format!("/api/reports/changes?{period}&action=pc.deactivate&format=csv"),
    )
    .await;
    assert_eq!(a.status, 200);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&a.body[3..]);
    let times: Vec<String> = r.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(times.len(), 101);
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
    // A full export of 100,000 records is within the bound and its time.
    let started = std::time::Instant::now();
    let a = get(
        &portal,
        &token,
        "/api/reports/changes?from=2026-05-01&to=2026-08-09&format=xlsx",
    )
    .await;
    let (status, took) = (a.status, started.elapsed());
    eprintln!("an XLSX export of {} bytes: {took:?}", a.body.len());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&a.body));
}
