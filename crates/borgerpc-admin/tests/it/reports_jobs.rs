//! The jobs report's API (issue 14, report 4) against figures the test computes from the jobs
//! it seeded (`common::ops::jobs`: two customers, PCs reporting over the client-api, a PC that
//! moved, jobs around the 25-hour 25 October): per script, site, PC and local date or week,
//! by creation or by report; the failures with their last log lines only when asked; the
//! longest runs, read as Copenhagen time; the same as CSV and XLSX (read by openpyxl); another
//! customer's site, customer, group and script are 404, bad parameters 422 naming them.

use crate::common::Portal;
use crate::common::ops::{
    self, Job, counts_of, job_counts, last_lines, local_date, run_ms, success,
};
use crate::common::reports::{api_user, date};
use crate::reports_export::{Want, check_csv, check_xlsx, get, openpyxl_python};
use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use std::collections::BTreeMap;

const PERIOD: &str = "from=2026-10-19&to=2026-11-02";

async fn json(portal: &Portal, token: &str, path: &str) -> Value {
    let a = get(portal, token, path).await;
    assert_eq!(a.status, 200, "{path}: {}", a.json());
    a.json()
}

fn in_period(ms: i64) -> bool {
    let d = local_date(ms);
    d >= date("2026-10-19") && d < date("2026-11-02")
}

fn dates() -> Vec<NaiveDate> {
    date("2026-10-19")
        .iter_days()
        .take_while(|d| *d < date("2026-11-02"))
        .collect()
}

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect()
}

/// The report's counts of rows keyed by `key`, and the expected ones from `jobs` grouped by
/// `of`.
fn check_rows(got: &Value, key: &str, jobs: &[&Job], of: impl Fn(&Job) -> Value, what: &str) {
    let mut want: BTreeMap<String, Vec<&Job>> = BTreeMap::new();
    for j in jobs {
        want.entry(of(j).to_string()).or_default().push(j);
    }
    let got: BTreeMap<String, [i64; 5]> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let c = counts_of(r);
            let rate = r["success_rate"].as_f64();
            assert_eq!(rate, success(c), "{what} {r}");
            (r[key].to_string(), c)
        })
        .collect();
    let want: BTreeMap<String, [i64; 5]> = want
        .into_iter()
        .map(|(k, js)| (k, job_counts(js.iter().copied())))
        .collect();
    assert_eq!(got, want, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_counted_where_and_when_they_ran() {
    let portal = Portal::start().await;
    let seed = ops::jobs(&portal).await;
    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(seed.bib.customer_id))),
    )
    .await;
    let aeroe: Vec<&Job> = seed
        .jobs
        .iter()
        .filter(|j| j.site != "fanoe-bib" && in_period(j.created_at))
        .collect();
    assert!(aeroe.len() >= 18, "{}", aeroe.len());
    let customer = format!("customer={}", seed.bib.customer_id);

    // The customer's roll-up by creation, a bar per local date.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&limit=500"),
    )
    .await;
    assert_eq!(
        (
            r["time_zone"].as_str(),
            r["by"].as_str(),
            r["bucket"].as_str()
        ),
        (Some("Europe/Copenhagen"), Some("created"), Some("day"))
    );
    let totals = job_counts(aeroe.iter().copied());
    assert_eq!(counts_of(&r["totals"]), totals);
    assert_eq!(r["totals"]["success_rate"].as_f64(), success(totals));
    assert!(
        totals.iter().all(|n| *n > 0),
        "every kind of outcome: {totals:?}"
    );
    check_rows(
        &r["scripts"],
        "script_id",
        &aeroe,
        |j| j.script.into(),
        "scripts",
    );
    check_rows(
        &r["sites"],
        "uid",
        &aeroe,
        |j| j.site.clone().into(),
        "sites",
    );
    let names: Vec<&str> = r["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Baggrund", "Printer", "Opdatér alt"],
        "most failures first"
    );
    let global = &r["scripts"][2];
    assert_eq!(
        (global["global"].as_bool(), global["deleted"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        !r.to_string().contains("Fanø"),
        "another customer's runs of the global script"
    );
    // The days: the 25-hour day holds the two 02:30 jobs and 23:30; 00:30 on the 26th (UTC
    // still the 25th) is the 26th's.
    let periods = r["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 14);
    for (p, d) in periods.iter().zip(dates()) {
        assert_eq!(p["start"], d.to_string());
        assert_eq!(p["days"], 1);
        let want = job_counts(
            aeroe
                .iter()
                .copied()
                .filter(|j| local_date(j.created_at) == d),
        );
        assert_eq!(counts_of(p), want, "{d}");
    }
    let the_25th = &periods[6];
    assert_eq!(the_25th["start"], "2026-10-25");
    assert_eq!(the_25th["jobs"], 4, "02:30 twice, 12:00 and 23:30");
    assert_eq!(periods[7]["jobs"], 3, "00:30 (UTC the 25th), 08:00, 09:00");
    // The failures, newest first, without their logs unless asked for.
    let failed: Vec<&&Job> = aeroe.iter().filter(|j| j.status == "FAILED").collect();
    let mut newest: Vec<(i64, i64)> = failed.iter().map(|j| (j.created_at, j.id)).collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(r["list"], "failures");
    assert_eq!(r["count"], failed.len() as i64);
    assert_eq!(
        ids(&r),
        newest.iter().map(|(_, id)| *id).collect::<Vec<_>>()
    );
    assert!(
        r["items"][0].get("last_lines").is_none(),
        "no log unless asked"
    );
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&log_lines=true&limit=2&offset=1"),
    )
    .await;
    assert_eq!(
        ids(&r),
        newest[1..3].iter().map(|(_, id)| *id).collect::<Vec<_>>()
    );
    for item in r["items"].as_array().unwrap() {
        let j = aeroe.iter().find(|j| j.id == item["job_id"]).unwrap();
        let want = last_lines(j.log.as_deref().unwrap());
        assert_eq!(item["last_lines"], serde_json::json!(want));
        assert!(want.len() <= 5 && want.iter().map(|l| l.len() + 1).sum::<usize>() <= 601);
        assert_eq!(item["site"], j.site.as_str());
        assert_eq!(item["status"], "FAILED");
    }
    // A log whose last line alone is longer than the bound: its end.
    let long = aeroe
        .iter()
        .find(|j| {
            j.log
                .as_deref()
                .is_some_and(|l| l.contains(&"ø".repeat(300)))
        })
        .expect("a failed job with a long line");
    assert!(last_lines(long.log.as_deref().unwrap()).len() < 5);

    // Weeks, Monday to Sunday, cut by the period.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&bucket=week"),
    )
    .await;
    let weeks: Vec<(String, i64, [i64; 5])> = r["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_str().unwrap().to_owned(),
                p["days"].as_i64().unwrap(),
                counts_of(p),
            )
        })
        .collect();
    let monday =
        |d: NaiveDate| d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let want: Vec<(String, i64, [i64; 5])> = ["2026-10-19", "2026-10-26"]
        .iter()
        .map(|m| {
            let jobs = aeroe
                .iter()
                .copied()
                .filter(|j| monday(local_date(j.created_at)) == date(m));
            (m.to_string(), 7, job_counts(jobs))
        })
        .collect();
    assert_eq!(weeks, want);

    // By when the report came: jobs not reported yet are in no period.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&by=finished"),
    )
    .await;
    let reported: Vec<&Job> = seed
        .jobs
        .iter()
        .filter(|j| j.site != "fanoe-bib" && j.reported_at.is_some_and(in_period))
        .collect();
    assert_eq!(
        counts_of(&r["totals"]),
        job_counts(reported.iter().copied())
    );
    assert_eq!(r["totals"]["open"], 0);
    for (p, d) in r["periods"].as_array().unwrap().iter().zip(dates()) {
        let want = job_counts(
            reported
                .iter()
                .copied()
                .filter(|j| local_date(j.reported_at.unwrap()) == d),
        );
        assert_eq!(counts_of(p), want, "{d} by report");
    }

    // The longest runs: the agent's times read as Copenhagen time; a run that "ends" before
    // it starts (02:50 to 02:10 over the clock's change) has none.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&list=slowest"),
    )
    .await;
    let mut runs: Vec<(i64, i64)> = aeroe
        .iter()
        .filter_map(|j| {
            let ms = run_ms(j.started.as_deref()?, j.finished.as_deref()?)?;
            Some((ms, j.id))
        })
        .collect();
    runs.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(r["count"], runs.len() as i64);
    let got: Vec<(i64, i64)> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["duration_ms"].as_i64().unwrap(),
                j["job_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, runs);
    assert_eq!(runs[0].0, 9_000_000, "12:00 to 14:30");
    assert!(runs.iter().any(|(ms, _)| *ms == 8), "8 ms");
    assert!(
        runs.iter().any(|(ms, _)| *ms == 25 * 60_000),
        "23:55 to 00:20 the next day"
    );
    let backwards = aeroe
        .iter()
        .find(|j| j.started.as_deref() == Some("2026-10-25 02:50:00"))
        .unwrap();
    assert!(!got.iter().any(|(_, id)| *id == backwards.id));

    // The PCs: counted where each job ran, named with their site now.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&{PERIOD}&list=pcs"),
    )
    .await;
    check_rows(&r["items"], "pc_id", &aeroe, |j| j.pc.into(), "pcs");
    let bib2 = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bib-2")
        .unwrap();
    assert_eq!(bib2["site"], "aeroe-borger", "the site it is at now");
    let failed_order: Vec<i64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["failed"].as_i64().unwrap())
        .collect();
    assert!(
        failed_order.windows(2).all(|w| w[0] >= w[1]),
        "{failed_order:?}"
    );

    // One site: the library keeps bib-2's jobs from before it moved.
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?site=aeroe-bib&{PERIOD}&list=pcs"),
    )
    .await;
    let bib: Vec<&Job> = aeroe
        .iter()
        .copied()
        .filter(|j| j.site == "aeroe-bib")
        .collect();
    assert_eq!(counts_of(&r["totals"]), job_counts(bib.iter().copied()));
    check_rows(
        &r["items"],
        "pc_id",
        &bib,
        |j| j.pc.into(),
        "pcs at the library",
    );
    assert!(bib.iter().any(|j| j.pc == seed.pcs["bib-2"].0));
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?site=aeroe-borger&{PERIOD}"),
    )
    .await;
    let borger: Vec<&Job> = aeroe
        .iter()
        .copied()
        .filter(|j| j.site == "aeroe-borger")
        .collect();
    assert_eq!(counts_of(&r["totals"]), job_counts(borger.iter().copied()));

    // The group (its members now) and one script, the global one: Ærø's runs of it only.
    let r = json(
        &portal,
        &admin,
        &format!(
            "/api/reports/jobs?site=aeroe-bib&group={}&{PERIOD}",
            seed.group
        ),
    )
    .await;
    let members = bib.iter().copied().filter(|j| j.pc == seed.pcs["bib-1"].0);
    assert_eq!(counts_of(&r["totals"]), job_counts(members));
    let g = seed.scripts["global"];
    let r = json(
        &portal,
        &admin,
        &format!("/api/reports/jobs?{customer}&script={g}&{PERIOD}&list=pcs"),
    )
    .await;
    let global: Vec<&Job> = aeroe.iter().copied().filter(|j| j.script == g).collect();
    assert_eq!(counts_of(&r["totals"]), job_counts(global.iter().copied()));
    assert_eq!(r["script"], g);
    assert_eq!(r["scripts"].as_array().unwrap().len(), 1);
    check_rows(
        &r["items"],
        "pc_id",
        &global,
        |j| j.pc.into(),
        "pcs of the global script",
    );

    // The superuser sees both customers; Fanø's key sees Fanø's runs alone.
    let root = api_user(&portal, "rod", None).await;
    let r = json(&portal, &root, &format!("/api/reports/jobs?{PERIOD}")).await;
    let all: Vec<&Job> = seed
        .jobs
        .iter()
        .filter(|j| in_period(j.created_at))
        .collect();
    assert_eq!(counts_of(&r["totals"]), job_counts(all.iter().copied()));
    assert_eq!(r["sites"].as_array().unwrap().len(), 3);
    let key = portal
        .store
        .add_api_key(seed.fanoe.id, "bi", false)
        .await
        .unwrap();
    let r = json(&portal, &key, &format!("/api/reports/jobs?{PERIOD}")).await;
    let fanoe: Vec<&Job> = all
        .iter()
        .copied()
        .filter(|j| j.site == "fanoe-bib")
        .collect();
    check_rows(
        &r["scripts"],
        "script_id",
        &fanoe,
        |j| j.script.into(),
        "Fanø's scripts",
    );
    assert!(!r.to_string().contains("aeroe"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_report_refuses_others_and_bad_parameters_by_name() {
    let portal = Portal::start().await;
    let seed = ops::jobs(&portal).await;
    let key = portal
        .store
        .add_api_key(seed.fanoe.id, "bi", false)
        .await
        .unwrap();
    // Another customer's site, customer, group and local script are not found, as missing ones.
    for query in [
        "site=aeroe-bib".to_owned(),
        format!("customer={}", seed.bib.customer_id),
        format!("group={}", seed.group),
        format!("script={}", seed.scripts["baggrund"]),
        "script=999999".to_owned(),
        "site=findes-ikke".to_owned(),
        format!("script={}&format=csv", seed.scripts["baggrund"]),
        "site=aeroe-bib&format=xlsx&list=failures&log_lines=true".to_owned(),
    ] {
        let path = format!("/api/reports/jobs?{query}");
        let a = get(&portal, &key, &path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.json());
        assert!(a.disposition.is_empty(), "{path}: no file");
        assert!(!a.json().to_string().contains("Baggrund"));
    }
    // The global script and Fanø's own group are its to ask for.
    for query in [
        format!("script={}", seed.scripts["global"]),
        format!("group={}", seed.fanoe_group),
    ] {
        let a = get(&portal, &key, &format!("/api/reports/jobs?{query}")).await;
        assert_eq!(a.status, 200, "{query}: {}", a.json());
    }
    for (query, name) in [
        ("bucket=month", "bucket"),
        ("by=started", "by"),
        ("list=everything", "list"),
        ("list=scripts", "list"),
        ("log_lines=ja", "log_lines"),
        ("log_lines=true&list=pcs", "log_lines"),
        ("format=csv&list=scripts&log_lines=true", "log_lines"),
        ("format=csv&list=alt", "list"),
        ("script=Baggrund", "script"),
        ("script=1&script=2", "script"),
        ("idle=true", "idle"),
        ("not_seen_since=2026-10-01", "not_seen_since"),
        ("from=2026-10-32", "from"),
        ("from=2026-10-20&to=2026-10-20", "to"),
        ("limit=0", "limit"),
        ("format=csv&offset=5", "offset"),
        ("format=pdf", "format"),
        ("farve=rød", "farve"),
    ] {
        let path = format!("/api/reports/jobs?{query}");
        let a = get(&portal, &key, &path).await;
        assert_eq!(a.status, 422, "{path}: {}", a.json());
        let detail = a.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(name), "{path}: {detail}");
    }
}

/// Cells of a count row of the JSON (jobs … success_rate).
fn count_cells(v: &Value) -> Vec<Want> {
    let mut cells: Vec<Want> = ["jobs", "done", "failed", "open", "restarted"]
        .iter()
        .map(|k| Want::Int(v[k].as_i64().unwrap()))
        .collect();
    cells.push(v["success_rate"].as_f64().map_or(Want::Empty, Want::Number));
    cells
}

fn text(v: &Value) -> Want {
    v.as_str().map_or(Want::Empty, |s| Want::Text(s.to_owned()))
}

/// A file to ask for: the query, the sheet, the header and the rows the JSON says.
type Export<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<Vec<Want>>);

const COUNTS: [&str; 6] = [
    "jobs",
    "done",
    "failed",
    "open",
    "restarted",
    "success_rate",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_exports_hold_the_json_table_for_table() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let seed = ops::jobs(&portal).await;
    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(seed.bib.customer_id))),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "/api/reports/jobs?customer={}&{PERIOD}",
        seed.bib.customer_id
    );
    let report = json(&portal, &admin, &format!("{base}&log_lines=true&limit=500")).await;
    let slowest = json(&portal, &admin, &format!("{base}&list=slowest&limit=500")).await;
    let pcs = json(&portal, &admin, &format!("{base}&list=pcs&limit=500")).await;
    let created = |ms: &Value| {
        let ms = ms.as_i64().unwrap();
        let t = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Copenhagen);
        Want::Text(t.format("%Y-%m-%d %H:%M:%S").to_string())
    };
    let run_row = |j: &Value, lines: bool| {
        let mut row = vec![
            Want::Date(local_date(j["created_at"].as_i64().unwrap()).to_string()),
            text(&j["site"]),
            text(&j["pc_uid"]),
            text(&j["pc_name"]),
            Want::Int(j["script_id"].as_i64().unwrap()),
            text(&j["script"]),
            Want::Int(j["job_id"].as_i64().unwrap()),
            text(&j["status"]),
            created(&j["created_at"]),
            if j["reported_at"].is_null() {
                Want::Empty
            } else {
                created(&j["reported_at"])
            },
            text(&j["started"]),
            text(&j["finished"]),
            j["duration_ms"]
                .as_i64()
                .map_or(Want::Empty, |ms| Want::Decimal(ms as f64 / 1000.0, "0.000")),
        ];
        if lines {
            let l: Vec<&str> = j["last_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            row.push(Want::Text(l.join("\n")));
        }
        row
    };
    let run_header = |lines: bool| {
        let mut h = vec![
            "date",
            "site",
            "pc_uid",
            "pc_name",
            "script_id",
            "script",
            "job_id",
            "status",
            "created",
            "reported",
            "started",
            "finished",
            "duration_s",
        ];
        if lines {
            h.push("last_lines");
        }
        h
    };
    let with_counts = |first: &[&'static str]| {
        let mut h = first.to_vec();
        h.extend(COUNTS);
        h
    };
    let tables: Vec<Export> = vec![
        (
            "",
            "scripts",
            with_counts(&["script_id", "script", "scope"]),
            report["scripts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let mut row = vec![
                        Want::Int(s["script_id"].as_i64().unwrap()),
                        text(&s["name"]),
                        Want::Text(
                            if s["global"] == true {
                                "global"
                            } else {
                                "local"
                            }
                            .into(),
                        ),
                    ];
                    row.extend(count_cells(s));
                    row
                })
                .collect(),
        ),
        (
            "&list=sites",
            "sites",
            with_counts(&["site", "site_name"]),
            report["sites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let mut row = vec![text(&s["uid"]), text(&s["name"])];
                    row.extend(count_cells(s));
                    row
                })
                .collect(),
        ),
        (
            "&list=periods",
            "periods",
            with_counts(&["start", "days"]),
            report["periods"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let mut row = vec![
                        Want::Date(p["start"].as_str().unwrap().to_owned()),
                        Want::Int(p["days"].as_i64().unwrap()),
                    ];
                    row.extend(count_cells(p));
                    row
                })
                .collect(),
        ),
        (
            "&list=pcs",
            "pcs",
            with_counts(&["site", "pc_uid", "pc_name"]),
            pcs["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let mut row = vec![text(&p["site"]), text(&p["uid"]), text(&p["name"])];
                    row.extend(count_cells(p));
                    row
                })
                .collect(),
        ),
        (
            "&list=failures",
            "failures",
            run_header(false),
            report["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| run_row(j, false))
                .collect(),
        ),
        (
            "&list=failures&log_lines=true",
            "failures",
            run_header(true),
            report["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| run_row(j, true))
                .collect(),
        ),
        (
            "&list=slowest",
            "slowest",
            run_header(false),
            slowest["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| run_row(j, false))
                .collect(),
        ),
    ];
    for (query, sheet, header, want) in &tables {
        assert!(!want.is_empty(), "{sheet}{query}: rows");
        let path = format!("{base}{query}");
        let csv = get(&portal, &admin, &format!("{path}&format=csv")).await;
        check_csv(&csv, header, want, true);
        let list = if query.is_empty() { "scripts" } else { sheet };
        assert_eq!(
            csv.disposition,
            format!(
                "attachment; filename=\"jobs-{list}-kunde-{}-2026-10-19-2026-11-02.csv\"",
                seed.bib.customer_id
            )
        );
        let point = get(&portal, &admin, &format!("{path}&format=csv&decimal=point")).await;
        check_csv(&point, header, want, false);
        let xlsx = get(&portal, &admin, &format!("{path}&format=xlsx")).await;
        check_xlsx(&python, dir.path(), &xlsx, sheet, header, want).await;
    }
    // Without log_lines no log is in any file.
    let failures = get(&portal, &admin, &format!("{base}&list=failures&format=csv")).await;
    assert!(!String::from_utf8_lossy(&failures.body).contains(">>> Failed"));
    let with = get(
        &portal,
        &admin,
        &format!("{base}&list=failures&log_lines=true&format=csv"),
    )
    .await;
    assert!(String::from_utf8_lossy(&with.body).contains(">>> Failed"));
}

/// A period of more than 20,000 jobs: a page of the per-PC list counts the failures alone and
/// takes the PCs without from where the PCs had jobs (`pc_job_sites`). Its pages, counts and
/// length are the test's own, by creation and by report, for a site, a customer and a group;
/// a PC that moved is listed where its jobs ran, and PCs whose jobs lie before, after, or
/// before and after the period are not listed. The same list of the one script (counted from
/// every job) is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobs_list_the_pcs_from_their_failures_and_where_they_had_jobs() {
    use borgerpc_admin::store::reports::jobs::PCS_BY_JOBS_MAX;
    const PCS: i64 = 40;
    const JOBS: i64 = 40_000;
    const DAY: i64 = 86_400_000;
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let start = crate::common::reports::midnight(date("2026-10-19"));
    // Job n is PC k = n * 7 % 40's (named against their order), on day n / 40 % 20 - 3 of the
    // period's 14 (so before, in and after it) at 10:00 plus n seconds; PC 36's are all
    // after the period, 37's all before, 38's before or after; PC 39 moved to the citizens'
    // service and has every other job there. FAILED when n % 10 = 0 (PCs 0, 10, 20 and 30)
    // or n % 13 = 0 on PCs 0 to 19 (so PCs 21 to 39 but 30 have none), else by
    // n % 10: NEW, SUBMITTED, RESOLVED, DONE; reported (all but NEW and SUBMITTED) n % 3
    // days after it was made. The group has PCs 15 to 39.
    let k = format!("((n.i * 7) % {PCS})");
    let day = format!(
        "CASE {k} WHEN 36 THEN 16 WHEN 37 THEN -3 WHEN 38 THEN CASE n.i % 2 WHEN 0 THEN -4 ELSE 15 END
         ELSE (n.i / {PCS}) % 20 - 3 END"
    );
    let created = format!("{start} + ({day}) * {DAY} + 36000000 + n.i * 1000");
    let status = format!(
        "CASE WHEN n.i % 10 = 0 OR (n.i % 13 = 0 AND {k} < 20) THEN 'FAILED'
              WHEN n.i % 10 = 1 THEN 'NEW' WHEN n.i % 10 = 2 THEN 'SUBMITTED'
              WHEN n.i % 10 = 3 THEN 'RESOLVED' ELSE 'DONE' END"
    );
    let statements = [
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {PCS} - 1)
             INSERT INTO pcs (site_id, uid, mac, name, created_at)
             SELECT {}, 'pc-' || i, 'mac-' || i, 'pc-' || (100 - i), 0 FROM n ORDER BY i",
            bib.id
        ),
        format!(
            "UPDATE pcs SET site_id = {} WHERE uid = 'pc-39'",
            borger.id
        ),
        format!(
            "INSERT INTO scripts (site_id, name, created_at, updated_at) VALUES ({}, 'S', 0, 0)",
            bib.id
        ),
        "INSERT INTO script_versions (script_id, version, executable_code, code_sha256, created_at)
         SELECT id, 1, 'true', 'x', 0 FROM scripts"
            .to_owned(),
        format!(
            "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at, pc_count)
             SELECT s.id, (SELECT MIN(id) FROM script_versions), 'S', 'test', 0, 1
             FROM sites s WHERE s.id IN ({}, {}) ORDER BY s.id",
            bib.id, borger.id
        ),
        format!(
            "INSERT INTO pc_groups (site_id, name, created_at) VALUES ({}, 'G', 0)",
            bib.id
        ),
        "INSERT INTO pc_group_members (pc_id, group_id)
         SELECT p.id, (SELECT MIN(id) FROM pc_groups) FROM pcs p
         WHERE p.id - (SELECT MIN(id) FROM pcs) >= 15"
            .to_owned(),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {JOBS} - 1)
             INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at, reported_at)
             SELECT b.id, (SELECT MIN(id) FROM pcs) + {k}, b.site_id, {status}, {created},
                    CASE WHEN {status} IN ('NEW', 'SUBMITTED') THEN NULL
                         ELSE {created} + (n.i % 3) * {DAY} END
             FROM n JOIN batches b ON b.site_id = CASE WHEN {k} = 39 AND n.i % 2 = 1
                                                       THEN {} ELSE {} END",
            borger.id, bib.id
        ),
    ];
    let first = crate::common::reports::written_in_bulk(&portal, statements.to_vec()).await;

    // The test's own jobs: (pc, at the library, made, reported, status).
    struct Made {
        pc: i64,
        bib: bool,
        created: i64,
        reported: Option<i64>,
        status: &'static str,
    }
    let jobs: Vec<Made> = (0..JOBS)
        .map(|n| {
            let k = n * 7 % PCS;
            let day = match k {
                36 => 16,
                37 => -3,
                38 if n % 2 == 0 => -4,
                38 => 15,
                _ => (n / PCS) % 20 - 3,
            };
            let created = start + day * DAY + 36_000_000 + n * 1000;
            let status = match n % 10 {
                _ if n % 10 == 0 || (n % 13 == 0 && k < 20) => "FAILED",
                1 => "NEW",
                2 => "SUBMITTED",
                3 => "RESOLVED",
                _ => "DONE",
            };
            Made {
                pc: first + k,
                bib: !(k == 39 && n % 2 == 1),
                created,
                reported: (!matches!(status, "NEW" | "SUBMITTED"))
                    .then_some(created + (n % 3) * DAY),
                status,
            }
        })
        .collect();
    let name = |pc: i64| format!("pc-{}", 100 - (pc - first));
    let end = crate::common::reports::midnight(date("2026-11-02"));
    // The list the report must give: per PC [jobs, done, failed, open, restarted], the most
    // failures first, then in the order they were registered.
    let want = |bib_only: bool, group: bool, finished: bool| -> Vec<(i64, [i64; 5])> {
        let mut per: BTreeMap<i64, [i64; 5]> = BTreeMap::new();
        for j in &jobs {
            let at = if finished {
                j.reported
            } else {
                Some(j.created)
            };
            let member = j.pc - first >= 15;
            if at.is_none_or(|t| t < start || t >= end)
                || (bib_only && !j.bib)
                || (group && !member)
            {
                continue;
            }
            let c = per.entry(j.pc).or_default();
            c[0] += 1;
            let i = match j.status {
                "DONE" => 1,
                "FAILED" => 2,
                "NEW" | "SUBMITTED" => 3,
                _ => 4,
            };
            c[i] += 1;
        }
        let mut list: Vec<(i64, [i64; 5])> = per.into_iter().collect();
        list.sort_by(|x, y| (y.1[2], x.0).cmp(&(x.1[2], y.0)));
        list
    };
    let token = api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let script: i64 = sqlx::query_scalar("SELECT MIN(id) FROM scripts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let group: i64 = sqlx::query_scalar("SELECT MIN(id) FROM pc_groups")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let asked = [
        ("site=aeroe-bib".to_owned(), true, false, false),
        (
            format!("customer={}&by=finished", bib.customer_id),
            false,
            false,
            true,
        ),
        (format!("site=aeroe-bib&group={group}"), true, true, false),
    ];
    for (filter, bib_only, in_group, finished) in asked {
        let want = want(bib_only, in_group, finished);
        assert!(want.len() > 20, "{filter}: {}", want.len());
        assert!(
            want.iter().any(|(_, c)| c[2] == 0),
            "{filter}: PCs without failures"
        );
        for pc in [36, 37, 38] {
            assert!(
                !want.iter().any(|(id, _)| *id == first + pc),
                "{filter}: pc {pc}"
            );
        }
        let mut listed = Vec::new();
        for script in [None, Some(script)] {
            let mut got = Vec::new();
            for offset in (0..want.len() + 7).step_by(7) {
                let mut path =
                    format!("/api/reports/jobs?{filter}&{PERIOD}&list=pcs&limit=7&offset={offset}");
                if let Some(s) = script {
                    path.push_str(&format!("&script={s}"));
                }
                let r = json(&portal, &token, &path).await;
                if !in_group {
                    assert!(
                        r["totals"]["jobs"].as_i64().unwrap() > PCS_BY_JOBS_MAX,
                        "{path}: {}",
                        r["totals"]
                    );
                }
                assert_eq!(r["count"], want.len(), "{path}");
                for p in r["items"].as_array().unwrap() {
                    let id = p["pc_id"].as_i64().unwrap();
                    assert_eq!(p["name"], name(id), "{path}");
                    let site = if id == first + 39 {
                        "aeroe-borger"
                    } else {
                        "aeroe-bib"
                    };
                    assert_eq!(p["site"], site, "{path}: the site it is at now");
                    got.push((id, counts_of(p)));
                }
            }
            assert_eq!(got, want, "{filter}, script {script:?}");
            listed.push(got);
        }
        assert_eq!(listed[0], listed[1], "{filter}");
    }
}
