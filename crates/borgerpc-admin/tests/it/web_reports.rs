//! The report pages (issue 14) over real HTTP: with check-ins and login counts seeded as in
//! `reports.rs`, each page's tables (per day and per PC) show the numbers the JSON API gives
//! for the same filters, the chart is a well-formed SVG with its accessible name, a PC links
//! to its page, another customer's site and group are "not found", and a bad date is shown
//! on the form naming the field.

use crate::common::Portal;
use crate::common::reports::api;
use crate::common::reports::{QUARTER, date, midnight};
use crate::common::web::{WebUser, between};
use borgerpc_admin::store::config::EntryChange;
use borgerpc_admin::store::history::Beat;
use serde_json::Value;
use std::collections::BTreeMap;

/// The rows of the table with `id`: the row header's `datetime` (or link text) and the cells.
fn table(body: &str, id: &str) -> Vec<(String, Vec<String>)> {
    let t = between(body, &format!("<table id=\"{id}\">"), "</table>");
    let tbody = between(&t, "<tbody>", "</tbody>");
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            let key = if row.contains("datetime=\"") {
                between(row, "datetime=\"", "\"")
            } else if row.contains("data-site=\"") {
                between(row, "data-site=\"", "\"")
            } else {
                between(row, "data-pc=\"", "\"")
            };
            let cells = row
                .split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or("").trim().to_owned())
                .collect();
            (key, cells)
        })
        .collect()
}

/// The chart's `<svg>` parsed as XML: well-formed, with its name and description.
pub(crate) fn check_svg(body: &str, name: &str) {
    let svg = format!("<svg {}</svg>", between(body, "<svg ", "</svg>"));
    assert!(svg.contains("role=\"img\"") && svg.contains(&format!("aria-label=\"{name}\"")));
    assert!(svg.contains(&format!("<title>{name}</title>")) && svg.contains("<desc>"));
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("the chart is not well-formed XML: {e}\n{svg}"),
        }
    }
    assert_eq!(depth, 0, "every element is closed");
}

/// A customer admin of Ærø's over the API (the pages' user has no API session).
async fn ida_token(portal: &Portal, customer: i64) -> String {
    crate::common::reports::api_user(portal, "ida-api", Some(("customer_admin", Some(customer))))
        .await
}

fn percent(on: u64, elapsed: u64) -> String {
    if elapsed == 0 {
        return "–".into();
    }
    format!("{:.1}", on as f64 / elapsed as f64 * 100.0).replace('.', ",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_pages_show_the_apis_figures() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let mut pcs = Vec::new();
    for name in ["bib-1", "bib-2", "bib-3"] {
        pcs.push(portal.pc(&bib, name).await);
    }
    let (borger_pc, _) = portal.pc(&borger, "borger-1").await;
    portal.pc(&fanoe, "fanoe-1").await;
    // The library is open on weekdays 09:00-17:00; the citizens' service has no hours.
    let scope = borgerpc_admin::store::access::Scope::cli(store)
        .await
        .unwrap();
    let mut week = vec![
        borgerpc_admin::store::opening_hours::OpeningTimes {
            opens: "09:00".into(),
            closes: "17:00".into(),
        };
        5
    ];
    week.resize(7, Default::default());
    store
        .set_opening_hours(&scope, bib.id, &week)
        .await
        .unwrap()
        .unwrap();
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    store.add_group_member(group, pcs[0].0).await.unwrap();
    let fanoe_group = store.add_group(fanoe.id, "Fanø-gruppe").await.unwrap();

    // Check-ins in November 2026 with gaps; bib-3 never checks in and has no logins (idle).
    let (first, last) = (date("2026-11-01"), date("2026-11-11"));
    let mut raw: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let checking: Vec<(i64, String)> = pcs
        .iter()
        .take(2)
        .cloned()
        .chain([(borger_pc, String::new())])
        .collect();
    for (i, (pc, _)) in checking.iter().enumerate() {
        let mut beats = Vec::new();
        let mut at = midnight(first);
        while at < midnight(last) {
            if (at / QUARTER + *pc * 3).rem_euclid(5 + i as i64) < 3 {
                raw.entry(*pc).or_default().push(at);
                beats.push(Beat {
                    pc_id: *pc,
                    at: at + 120_000,
                    ip: None,
                    ip_changed: false,
                    checkin: true,
                });
            }
            at += QUARTER;
        }
        store.record_beats(&beats).await.unwrap();
    }
    for (i, (pc, _)) in pcs.iter().take(2).enumerate() {
        let value = (1..=10)
            .map(|d| format!("2026-11-{d:02}: {}", (d * (i + 2)) % 7))
            .collect::<Vec<_>>()
            .join(", ");
        store
            .change_pc_entries(
                *pc,
                &[EntryChange::Set {
                    key: "login_counts".into(),
                    value,
                    read_only: false,
                }],
            )
            .await
            .unwrap();
    }

    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();

    // The menu has the entry; the defaults (the last 30 days) render.
    let home = ida.get("/").await;
    assert!(
        home.body.contains("href=\"/rapporter/tilgaengelighed\""),
        "{}",
        home.body
    );
    for page in ["/rapporter/tilgaengelighed", "/rapporter/brug"] {
        let a = ida.get(page).await;
        assert_eq!(a.status, 200, "{page}: {}", a.body);
        assert_eq!(
            table(&a.body, "dage").len(),
            30,
            "{page}: 30 days by default"
        );
    }

    for filters in [String::new(), format!("&gruppe={group}")] {
        let api_group = filters.replace("gruppe", "group");
        let page = ida
            .get(&format!(
                "/rapporter/tilgaengelighed?sted=aeroe-bib&fra=2026-11-01&til=2026-11-10{filters}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        check_svg(&page.body, "Oppetid pr. dag");
        let json = api(
            &portal,
            &key,
            &format!("/api/reports/availability?site=aeroe-bib&from=2026-11-01&to=2026-11-11&limit=500{api_group}"),
        )
        .await;
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), if filters.is_empty() { 3 } else { 1 });
        // Per day: the JSON's (the roll-up's, or the group's), which are the sum over the PCs
        // of their quarters (no PC moved, all were there before their first check-in).
        let mut days: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
        for pc in items {
            for d in pc["days"].as_array().unwrap() {
                let e = days
                    .entry(d["date"].as_str().unwrap().to_owned())
                    .or_default();
                e.0 += d["quarters_online"].as_u64().unwrap();
                e.1 += d["quarters_elapsed"].as_u64().unwrap();
                e.2 += d["opening_quarters_online"].as_u64().unwrap();
                e.3 += d["opening_quarters_elapsed"].as_u64().unwrap();
            }
        }
        // The most PCs online at once, from the check-ins sent.
        let shown: Vec<i64> = items.iter().map(|p| p["pc_id"].as_i64().unwrap()).collect();
        let peak = |d: &str| -> u64 {
            let (start, end) = (midnight(date(d)), midnight(date(d).succ_opt().unwrap()));
            (start..end)
                .step_by(QUARTER as usize)
                .map(|q| {
                    shown
                        .iter()
                        .filter(|pc| raw.get(pc).is_some_and(|r| r.contains(&q)))
                        .count() as u64
                })
                .max()
                .unwrap_or(0)
        };
        let expected: Vec<(String, Vec<String>)> = days
            .iter()
            .map(|(d, (on, el, o_on, o_el))| {
                (
                    d.clone(),
                    vec![
                        percent(*on, *el),
                        percent(*o_on, *o_el),
                        peak(d).to_string(),
                    ],
                )
            })
            .collect();
        let from_json: Vec<(String, Vec<String>)> = json["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let n = |k: &str| d[k].as_u64().unwrap();
                (
                    d["date"].as_str().unwrap().to_owned(),
                    vec![
                        percent(n("quarters_online"), n("quarters_elapsed")),
                        percent(n("opening_quarters_online"), n("opening_quarters_elapsed")),
                        n("peak_online").to_string(),
                    ],
                )
            })
            .collect();
        assert_eq!(from_json, expected, "the JSON's days are its PCs' days");
        assert_eq!(table(&page.body, "dage"), expected);
        assert!(expected.iter().any(|(_, v)| v[0] != "0,0"), "{expected:?}");
        assert!(
            expected.iter().any(|(_, v)| v[1] == "–") && expected.iter().any(|(_, v)| v[1] != "–"),
            "weekends are closed, weekdays open: {expected:?}"
        );
        assert!(
            !page.body.contains("id=\"steder\""),
            "one site: no table of sites"
        );
        let per_pc: Vec<(String, String, String)> = table(&page.body, "computere")
            .into_iter()
            .map(|(id, cells)| (id, cells[1].clone(), cells[2].clone()))
            .collect();
        let api_pc: Vec<(String, String, String)> = items
            .iter()
            .map(|p| {
                let n = |k: &str| p[k].as_u64().unwrap();
                (
                    p["pc_id"].to_string(),
                    percent(n("quarters_online"), n("quarters_elapsed")),
                    percent(n("opening_quarters_online"), n("opening_quarters_elapsed")),
                )
            })
            .collect();
        assert_eq!(per_pc, api_pc);
        assert!(
            page.body
                .contains(&format!("href=\"/steder/aeroe-bib/pc/{}\"", pcs[0].0))
        );

        let page = ida
            .get(&format!(
                "/rapporter/brug?sted=aeroe-bib&fra=2026-11-01&til=2026-11-10{filters}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        check_svg(&page.body, "Logins pr. dag");
        let json = api(
            &portal,
            &key,
            &format!("/api/reports/usage?site=aeroe-bib&from=2026-11-01&to=2026-11-11&limit=500{api_group}"),
        )
        .await;
        let mut per_day: BTreeMap<String, i64> =
            (1..=10).map(|d| (format!("2026-11-{d:02}"), 0)).collect();
        for s in json["sites"].as_array().unwrap() {
            for d in s["days"].as_array().unwrap() {
                *per_day.get_mut(d["date"].as_str().unwrap()).unwrap() +=
                    d["logins"].as_i64().unwrap();
            }
        }
        let expected: Vec<(String, Vec<String>)> = per_day
            .iter()
            .map(|(d, n)| (d.clone(), vec![n.to_string()]))
            .collect();
        assert_eq!(table(&page.body, "dage"), expected);
        assert!(json["logins"].as_i64().unwrap() > 0);
        assert_eq!(
            between(&page.body, "<dd id=\"logins\">", "<"),
            json["logins"].to_string()
        );
        let per_pc: Vec<(String, String, bool)> = table(&page.body, "computere")
            .into_iter()
            .map(|(id, cells)| (id, cells[1].clone(), !cells[2].is_empty()))
            .collect();
        let api_pc: Vec<(String, String, bool)> = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["pc_id"].to_string(),
                    p["logins"].to_string(),
                    p["idle"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(per_pc, api_pc);
        if filters.is_empty() {
            assert!(api_pc.iter().any(|p| p.2), "bib-3 is idle: {api_pc:?}");
        }
    }

    // All the user's sites: a row per site, with where its opening hours come from, each
    // linking to the site's report; the figures are the JSON's per site.
    let page = ida
        .get("/rapporter/tilgaengelighed?fra=2026-11-01&til=2026-11-10")
        .await;
    let json = api(
        &portal,
        &ida_token(&portal, bib.customer_id).await,
        &format!(
            "/api/reports/availability?customer={}&from=2026-11-01&to=2026-11-11",
            bib.customer_id
        ),
    )
    .await;
    let want: Vec<(String, Vec<String>)> = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            (
                s["site"].as_str().unwrap().to_owned(),
                vec![
                    percent(n("quarters_online"), n("quarters_elapsed")),
                    percent(n("opening_quarters_online"), n("opening_quarters_elapsed")),
                    if s["opening_hours"] == "site" {
                        "Stedets åbningstider"
                    } else {
                        "Ingen"
                    }
                    .to_owned(),
                ],
            )
        })
        .collect();
    assert_eq!(
        want.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
        ["aeroe-bib", "aeroe-borger"]
    );
    assert_eq!(want[0].1[2], "Stedets åbningstider");
    assert_eq!(want[1].1[1..], ["–", "Ingen"]);
    assert_eq!(table(&page.body, "steder"), want);
    assert!(
        page.body.contains(
            "href=\"/rapporter/tilgaengelighed?sted=aeroe-borger&#38;fra=2026-11-01&#38;til=2026-11-10\""
        ),
        "{}",
        between(&page.body, "<table id=\"steder\">", "</table>")
    );

    // Only the idle PCs.
    let page = ida
        .get("/rapporter/brug?sted=aeroe-bib&fra=2026-11-01&til=2026-11-10&inaktive=ja")
        .await;
    let rows = table(&page.body, "computere");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, pcs[2].0.to_string());

    // Another customer's site and group are not found, as a missing one is.
    for path in [
        "/rapporter/tilgaengelighed?sted=fanoe-bib".to_owned(),
        "/rapporter/brug?sted=fanoe-bib".to_owned(),
        "/rapporter/brug?sted=findes-ikke".to_owned(),
        format!("/rapporter/brug?gruppe={fanoe_group}"),
        format!("/rapporter/tilgaengelighed?sted=aeroe-bib&gruppe={fanoe_group}"),
    ] {
        let a = ida.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(!a.body.contains("fanoe-1"));
    }
    // Every site the user sees is offered; another customer's is not.
    let page = ida.get("/rapporter/brug").await;
    assert!(page.body.contains("value=\"aeroe-bib\"") && !page.body.contains("fanoe-bib"));

    // A bad date, a reversed period and a bad group are shown on the form, naming the field.
    for (query, field, text) in [
        ("fra=2026-13-01", "fra", "Fra: skal være en dato"),
        ("til=i-morgen", "til", "Til og med: skal være en dato"),
        (
            "fra=2026-11-10&til=2026-11-01",
            "til",
            "Til og med: skal være samme dag",
        ),
        ("gruppe=x", "gruppe", "Gruppe: er ikke en gruppe"),
    ] {
        for page in ["/rapporter/tilgaengelighed", "/rapporter/brug"] {
            let a = ida.get(&format!("{page}?{query}")).await;
            assert_eq!(a.status, 422, "{page}?{query}");
            assert!(a.body.contains(text), "{page}?{query}: {}", a.body);
            assert!(
                a.body.contains(&format!("id=\"{field}\" name=\"{field}\""))
                    && a.body.contains("aria-invalid=\"true\""),
                "{page}?{query}"
            );
            assert!(!a.body.contains("<svg "));
        }
    }
}

/// The API's export of the same filters, as bytes.
async fn api_file(portal: &Portal, key: &str, path: &str) -> (String, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", portal.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    (kind, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_pages_download_the_apis_files_and_pick_a_customer() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let skole = portal.site("Ærø", "aeroe-skole").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let mut beats = Vec::new();
    for (site, name) in [(&bib, "bib-1"), (&skole, "skole-1"), (&fanoe, "fanoe-1")] {
        let (pc, _) = portal.pc(site, name).await;
        for q in 0..8 {
            beats.push(Beat {
                pc_id: pc,
                at: midnight(date("2026-11-02")) + q * 4 * QUARTER,
                ip: None,
                ip_changed: false,
                checkin: true,
            });
        }
        store
            .change_pc_entries(
                pc,
                &[EntryChange::Set {
                    key: "login_counts".into(),
                    value: "2026-11-02: 4, 2026-11-03: 1".into(),
                    read_only: false,
                }],
            )
            .await
            .unwrap();
    }
    store.record_beats(&beats).await.unwrap();
    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();

    // The page links its files; each is the API's export of the same filters, byte for byte
    // for CSV (in both decimal styles), and an XLSX workbook.
    let filters = "sted=aeroe-bib&fra=2026-11-01&til=2026-11-05";
    let api_filters = "site=aeroe-bib&from=2026-11-01&to=2026-11-06";
    for (page, report) in [
        ("/rapporter/tilgaengelighed", "availability"),
        ("/rapporter/brug", "usage"),
    ] {
        let a = ida.get(&format!("{page}?{filters}")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        for link in [".xlsx?", ".csv?", ".csv?"] {
            assert!(
                a.body.contains(&format!("href=\"{page}{link}")),
                "{page}: {link}: {}",
                a.body
            );
        }
        for (suffix, api_format) in [
            ("csv", "format=csv"),
            ("csv&decimal=punktum", "format=csv&decimal=point"),
        ] {
            let (path, decimal) = suffix.split_once('&').unwrap_or((suffix, ""));
            let sep = if decimal.is_empty() { "" } else { "&" };
            let got = ida
                .get(&format!("{page}.{path}?{filters}{sep}{decimal}"))
                .await;
            assert_eq!(got.status, 200, "{page}.{suffix}: {}", got.body);
            assert!(
                got.headers["content-disposition"]
                    .to_str()
                    .unwrap()
                    .contains(&format!("{report}-aeroe-bib-2026-11-01-2026-11-06.csv"))
            );
            let (kind, want) = api_file(
                &portal,
                &key,
                &format!("/api/reports/{report}?{api_filters}&{api_format}"),
            )
            .await;
            assert_eq!(got.headers["content-type"].to_str().unwrap(), kind);
            assert_eq!(got.body.as_bytes(), want.as_slice(), "{page}.{suffix}");
            assert!(got.body.lines().count() > 1, "{page}: rows: {}", got.body);
        }
        let got = ida.get(&format!("{page}.xlsx?{filters}")).await;
        assert_eq!(got.status, 200);
        assert!(
            got.headers["content-type"]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        assert!(got.body.starts_with("PK"), "an XLSX is a zip");

        // A file of another customer's site is not found; a bad filter goes back to the page,
        // which names the field.
        let other = ida.get(&format!("{page}.csv?sted=fanoe-bib")).await;
        assert_eq!(other.status, 404);
        assert!(!other.body.contains("fanoe-1"));
        let bad = ida.get(&format!("{page}.csv?sted=aeroe-bib&fra=x")).await;
        assert_eq!(bad.status, 303);
        assert_eq!(bad.location, format!("{page}?sted=aeroe-bib&fra=x"));
    }

    // Over 100,000 rows (PCs × days) the page offers no file and says why; a link made by hand
    // goes back to the page.
    for i in 0..300 {
        portal.pc(&skole, &format!("skole-x{i}")).await;
    }
    let big = "sted=aeroe-skole&fra=2025-11-01&til=2026-11-30";
    let a = ida.get(&format!("/rapporter/brug?{big}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!a.body.contains("/rapporter/brug.csv"));
    assert!(
        a.body.contains("Rapporten er for stor til at hente"),
        "{}",
        a.body
    );
    let got = ida.get(&format!("/rapporter/brug.xlsx?{big}")).await;
    assert_eq!(got.status, 303);
    assert_eq!(got.location, format!("/rapporter/brug?{big}"));

    // A customer administrator of one customer gets no customer picker, and another
    // customer's id is not found.
    let a = ida.get("/rapporter/brug").await;
    assert!(!a.body.contains("id=\"kunde\""));
    let a = ida
        .get(&format!("/rapporter/brug?kunde={}", fanoe.customer_id))
        .await;
    assert_eq!(a.status, 404);

    // A superuser picks a customer: its sites only, in the site list and in the figures.
    portal.web_user("root", "superuser", &bib).await;
    let mut root = WebUser::login(&portal, "root").await;
    let all = root
        .get("/rapporter/brug?fra=2026-11-01&til=2026-11-05")
        .await;
    assert!(all.body.contains("id=\"kunde\""), "{}", all.body);
    assert_eq!(between(&all.body, "<dd id=\"logins\">", "<"), "15");
    let aeroe = root
        .get(&format!(
            "/rapporter/brug?kunde={}&fra=2026-11-01&til=2026-11-05",
            bib.customer_id
        ))
        .await;
    assert_eq!(aeroe.status, 200);
    assert_eq!(between(&aeroe.body, "<dd id=\"logins\">", "<"), "10");
    assert!(
        aeroe.body.contains("value=\"aeroe-skole\"") && !aeroe.body.contains("value=\"fanoe-bib\"")
    );
    // A site of another customer than the one picked is not found.
    let a = root
        .get(&format!(
            "/rapporter/brug?kunde={}&sted=fanoe-bib",
            bib.customer_id
        ))
        .await;
    assert_eq!(a.status, 404);
    // The customer's file holds its PCs only.
    let file = root
        .get(&format!(
            "/rapporter/brug.csv?kunde={}&fra=2026-11-01&til=2026-11-05",
            bib.customer_id
        ))
        .await;
    assert_eq!(file.status, 200);
    assert!(file.body.contains("skole-1") && !file.body.contains("fanoe-1"));
    assert!(
        file.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("usage-kunde-{}-", bib.customer_id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changes_page_downloads_the_apis_file() {
    let portal = Portal::start().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    for n in 0..5 {
        portal
            .store
            .audit("user:ida", Some(bib.id), "pc.activate", &format!("pc:{n}"))
            .await
            .unwrap();
    }
    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let today = chrono::Utc::now()
        .with_timezone(&borgerpc_admin::store::reports::TIME_ZONE)
        .date_naive();
    let from = today - chrono::Duration::days(2);
    let filters = format!("sted=aeroe-bib&fra={from}&til={today}");
    let page = ida.get(&format!("/rapporter/aendringer?{filters}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("href=\"/rapporter/aendringer.xlsx?"));
    let csv = ida
        .get(&format!("/rapporter/aendringer.csv?{filters}"))
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.body.matches("pc.activate").count(), 5, "{}", csv.body);

    // The same file as the API's, for a site administrator's session token (API keys may not
    // read the audit log).
    let token: Value = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&serde_json::json!({"username": "ida", "password": crate::common::web::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (kind, want) = api_file(
        &portal,
        token["token"].as_str().unwrap(),
        &format!(
            "/api/reports/changes?site=aeroe-bib&from={from}&to={}&format=csv",
            today.succ_opt().unwrap()
        ),
    )
    .await;
    assert_eq!(csv.headers["content-type"].to_str().unwrap(), kind);
    assert_eq!(csv.body.as_bytes(), want.as_slice());
    let xlsx = ida
        .get(&format!("/rapporter/aendringer.xlsx?{filters}"))
        .await;
    assert_eq!(xlsx.status, 200);
    assert!(xlsx.body.starts_with("PK"));
    let bad = ida.get("/rapporter/aendringer.csv?per=maaned").await;
    assert_eq!(bad.status, 303);
    assert_eq!(bad.location, "/rapporter/aendringer?per=maaned");
}
