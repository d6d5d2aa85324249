//! The jobs and security report pages (issue 14, reports 4 and 5) over real HTTP, with the
//! jobs and events of `common::ops`: every table shows the numbers the JSON API gives for the
//! same filters (which `reports_jobs` and `reports_security` hold to the seeded rows), the
//! charts are well-formed SVG with their accessible name, the drill-downs lead where they
//! say (a script to its failures, a site to its PCs, a PC and a job to their pages), another
//! customer's site, group and script are "not found", and a bad field is shown on the form.

use crate::common::Portal;
use crate::common::ops;
use crate::common::reports::api;
use crate::common::web::{WebUser, between};
use borgerpc_admin::store::operator::EventChange;
use serde_json::Value;

/// Text without its tags, entities of the templates undone.
fn plain(html: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for c in html.chars() {
        match c {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag => out.push(c),
            _ => {}
        }
    }
    // Numeric entities (askama writes `>` as `&#62;`), then the named ones.
    let mut text = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("&#") {
        text.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after
            .split_once(';')
            .and_then(|(n, r)| Some((n.parse::<u32>().ok()?, r)))
        {
            Some((n, r)) => {
                text.extend(char::from_u32(n));
                rest = r;
            }
            None => {
                text.push_str("&#");
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The rows of the table with `id`: the raw row, its header cell and its cells as text.
fn table(body: &str, id: &str) -> Vec<(String, String, Vec<String>)> {
    let t = between(body, &format!("<table id=\"{id}\">"), "</table>");
    let tbody = between(&t, "<tbody>", "</tbody>");
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            let th = between(row, "<th", "</th>");
            let head = plain(th.split_once('>').unwrap().1);
            let cells = row
                .split("<td>")
                .skip(1)
                .map(|c| plain(c.split("</td>").next().unwrap_or("")))
                .collect();
            (row.to_owned(), head, cells)
        })
        .collect()
}

fn rate(v: &Value) -> String {
    v.as_f64().map_or("–".to_owned(), |r| {
        format!("{:.1}", r * 100.0).replace('.', ",")
    })
}

fn n(v: &Value) -> String {
    v.as_i64().unwrap().to_string()
}

/// The chart's `<svg>` parsed as XML: well-formed, with its name and description.
fn check_svg(body: &str, name: &str) {
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
    assert_eq!(depth, 0);
}

/// An href of the page, its entities undone.
fn href(s: &str) -> String {
    plain(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_page_shows_the_apis_figures_and_drills_down() {
    let portal = Portal::start().await;
    let seed = ops::jobs(&portal).await;
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let key_bib = portal
        .store
        .add_api_key(seed.bib.id, "bi", false)
        .await
        .unwrap();
    let root = crate::common::reports::api_user(&portal, "rod", None).await;
    let customer = seed.bib.customer_id;

    // The menu of reports has the page; the defaults render.
    let a = ida.get("/rapporter/tilgaengelighed").await;
    assert!(a.body.contains("href=\"/rapporter/jobs\""));
    assert!(a.body.contains("href=\"/rapporter/sikkerhed\""));
    assert_eq!(ida.get("/rapporter/jobs").await.status, 200);

    let page = ida
        .get("/rapporter/jobs?fra=2026-10-19&til=2026-11-01&inddeling=dag")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    let r = api(
        &portal,
        &root,
        &format!("/api/reports/jobs?customer={customer}&from=2026-10-19&to=2026-11-02"),
    )
    .await;
    check_svg(body, "Jobs pr. periode");
    assert_eq!(
        plain(&between(body, "<dd id=\"jobs\">", "</dd>")),
        n(&r["totals"]["jobs"])
    );
    assert_eq!(
        plain(&between(body, "<dd id=\"fejlet\">", "</dd>")),
        n(&r["totals"]["failed"])
    );
    assert_eq!(
        plain(&between(body, "<dd id=\"succes\">", "</dd>")),
        rate(&r["totals"]["success_rate"])
    );
    let periods = table(body, "perioder");
    assert_eq!(periods.len(), 14);
    for ((row, label, cells), p) in periods.iter().zip(r["periods"].as_array().unwrap()) {
        assert!(row.contains(&format!("datetime=\"{}\"", p["start"].as_str().unwrap())));
        assert_eq!(
            label,
            &format!(
                "{}.{}",
                &p["start"].as_str().unwrap()[8..10],
                &p["start"].as_str().unwrap()[5..7]
            )
        );
        assert_eq!(
            cells,
            &vec![
                n(&p["done"]),
                n(&p["failed"]),
                n(&p["open"]),
                rate(&p["success_rate"])
            ]
        );
    }
    let scripts = table(body, "scripts");
    assert_eq!(scripts.len(), r["scripts"].as_array().unwrap().len());
    for ((row, name, cells), s) in scripts.iter().zip(r["scripts"].as_array().unwrap()) {
        assert!(name.starts_with(s["name"].as_str().unwrap()), "{name}");
        assert_eq!(s["global"] == true, name.ends_with("(globalt)"), "{name}");
        assert_eq!(
            cells,
            &vec![
                n(&s["jobs"]),
                n(&s["done"]),
                n(&s["failed"]),
                n(&s["open"]),
                n(&s["restarted"]),
                rate(&s["success_rate"])
            ]
        );
        assert!(
            row.contains(&format!("script={}\"", s["script_id"])),
            "{row}"
        );
    }
    let sites = table(body, "steder");
    for ((row, name, cells), s) in sites.iter().zip(r["sites"].as_array().unwrap()) {
        assert_eq!(name, s["name"].as_str().unwrap());
        assert_eq!(cells[0], n(&s["jobs"]));
        assert!(row.contains(&format!("sted={}\"", s["uid"].as_str().unwrap())));
    }
    // All sites: the PCs are one site's, a click away.
    assert!(!body.contains("<table id=\"computere\">"));
    assert!(body.contains("Vælg et sted for at se dets computere."));
    // The failures, newest first, with their last lines; the longest runs.
    let f = api(
        &portal,
        &root,
        &format!("/api/reports/jobs?customer={customer}&from=2026-10-19&to=2026-11-02&log_lines=true&limit=20"),
    )
    .await;
    let failures = table(body, "fejlede");
    assert_eq!(failures.len(), f["items"].as_array().unwrap().len());
    for ((row, id, cells), j) in failures.iter().zip(f["items"].as_array().unwrap()) {
        assert_eq!(id, &n(&j["job_id"]));
        assert!(row.contains(&format!(
            "href=\"/steder/{}/jobs/{}\"",
            j["site"].as_str().unwrap(),
            j["job_id"]
        )));
        assert_eq!(cells[0], j["script"].as_str().unwrap());
        let lines: Vec<&str> = j["last_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(cells[3], lines.join("\n"));
    }
    assert!(body.contains(&format!(
        "Viser de nyeste {} af {}",
        failures.len(),
        f["count"]
    )));
    let s = api(
        &portal,
        &root,
        &format!("/api/reports/jobs?customer={customer}&from=2026-10-19&to=2026-11-02&list=slowest&limit=10"),
    )
    .await;
    let slowest = table(body, "laengste");
    assert_eq!(slowest.len(), s["items"].as_array().unwrap().len());
    for ((row, id, _), j) in slowest.iter().zip(s["items"].as_array().unwrap()) {
        assert_eq!(id, &n(&j["job_id"]));
        assert!(row.contains(&format!("<data value=\"{}\">", j["duration_ms"])));
    }
    assert!(
        body.contains("<data value=\"9000000\">2 t 30 min</data>"),
        "12:00 to 14:30"
    );

    // A script's link: its failures only.
    let baggrund = seed.scripts["baggrund"];
    let link = href(&between(
        &scripts
            .iter()
            .find(|(_, name, _)| name.starts_with("Baggrund"))
            .unwrap()
            .0,
        "href=\"",
        "\"",
    ));
    assert!(link.contains(&format!("script={baggrund}")) && link.contains("fra=2026-10-19"));
    let one = ida.get(&link).await;
    assert_eq!(one.status, 200);
    assert!(one.body.contains("id=\"kun-script\""));
    assert_eq!(table(&one.body, "scripts").len(), 1);
    let only = api(
        &portal,
        &root,
        &format!("/api/reports/jobs?customer={customer}&from=2026-10-19&to=2026-11-02&script={baggrund}&limit=20"),
    )
    .await;
    let ids: Vec<String> = table(&one.body, "fejlede")
        .into_iter()
        .map(|(_, id, _)| id)
        .collect();
    let want: Vec<String> = only["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| n(&j["job_id"]))
        .collect();
    assert_eq!(ids, want);
    assert!(
        one.body
            .contains(&format!("name=\"script\" value=\"{baggrund}\"")),
        "kept on the form"
    );
    // A site's link: its PCs; the library keeps bib-2's jobs from before it moved.
    let link = href(&between(
        &sites
            .iter()
            .find(|(_, name, _)| name == "aeroe-bib")
            .unwrap()
            .0,
        "href=\"",
        "\"",
    ));
    let bib = ida.get(&link).await;
    assert_eq!(bib.status, 200);
    let r = api(
        &portal,
        &key_bib,
        "/api/reports/jobs?site=aeroe-bib&from=2026-10-19&to=2026-11-02&list=pcs",
    )
    .await;
    let pcs = table(&bib.body, "computere");
    let items = r["items"].as_array().unwrap();
    assert_eq!(pcs.len(), items.len());
    for ((row, name, cells), p) in pcs.iter().zip(items) {
        assert_eq!(name, p["name"].as_str().unwrap());
        assert!(row.contains(&format!(
            "href=\"/steder/{}/pc/{}\"",
            p["site"].as_str().unwrap(),
            p["pc_id"]
        )));
        assert_eq!(
            cells,
            &vec![
                p["site"].as_str().unwrap().to_owned(),
                n(&p["jobs"]),
                n(&p["done"]),
                n(&p["failed"]),
                n(&p["open"]),
                n(&p["restarted"]),
                rate(&p["success_rate"])
            ]
        );
    }
    assert!(
        pcs.iter()
            .any(|(_, name, cells)| name == "bib-2" && cells[0] == "aeroe-borger")
    );
    assert!(
        bib.body
            .contains("href=\"/steder/aeroe-bib/jobs?status=FAILED\"")
    );
    // Weeks.
    let weeks = ida
        .get("/rapporter/jobs?fra=2026-10-19&til=2026-11-01&inddeling=uge")
        .await;
    let labels: Vec<String> = table(&weeks.body, "perioder")
        .into_iter()
        .map(|(_, l, _)| l)
        .collect();
    assert_eq!(labels, ["uge 43", "uge 44"]);

    // Another customer's site, group and local script are not found; bad fields are named.
    for path in [
        "/rapporter/jobs?sted=fanoe-bib".to_owned(),
        format!("/rapporter/jobs?gruppe={}", seed.fanoe_group),
        format!("/rapporter/jobs?script={}", seed.scripts["fanoe"]),
    ] {
        let a = ida.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(!a.body.contains("Fanø-script"));
    }
    for (query, label) in [
        ("tid=i-morgen", "Periode efter"),
        ("inddeling=maaned", "Inddeling"),
        ("script=Baggrund", "Script"),
        ("fra=2026-13-01", "Fra"),
    ] {
        let a = ida.get(&format!("/rapporter/jobs?{query}")).await;
        assert_eq!(a.status, 422, "{query}");
        let error = between(&a.body, "id=\"fejl\">", "</p>");
        assert!(error.starts_with(label), "{query}: {error}");
    }
    let a = ida.get("/rapporter/jobs?tid=i-morgen").await;
    assert!(a.body.contains("name=\"tid\" aria-invalid=\"true\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_page_shows_the_apis_figures_and_drills_down() {
    let portal = Portal::start().await;
    let seed = ops::events(&portal).await;
    // Some handled, one assigned: as the pages and the API handle them.
    let scope = borgerpc_admin::store::access::Scope::cli(&portal.store)
        .await
        .unwrap();
    for (i, status) in [
        (0, "RESOLVED"),
        (3, "RESOLVED"),
        (4, "RESOLVED"),
        (9, "RESOLVED"),
        (2, "ASSIGNED"),
    ] {
        let change = EventChange {
            status: Some(status.into()),
            assigned_user: None,
            note: None,
        };
        portal
            .store
            .api_update_event(&scope.sites, seed.events[i].id, &change)
            .await
            .unwrap()
            .unwrap();
    }
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let root = crate::common::reports::api_user(&portal, "rod", None).await;
    let customer = seed.bib.customer_id;
    let page = ida
        .get("/rapporter/sikkerhed?fra=2026-03-26&til=2026-04-01")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    let r = api(
        &portal,
        &root,
        &format!(
            "/api/reports/security?customer={customer}&from=2026-03-26&to=2026-04-02&limit=50"
        ),
    )
    .await;
    check_svg(body, "Hændelser pr. periode");
    assert_eq!(
        plain(&between(body, "<dd id=\"haendelser\">", "</dd>")),
        n(&r["totals"]["events"])
    );
    assert_eq!(
        plain(&between(body, "<dd id=\"aabne\">", "</dd>")),
        n(&r["totals"]["open"])
    );
    let median = r["time_to_handle"]["median_ms"].as_f64().unwrap();
    assert!(body.contains(&format!("<dd id=\"median\"><data value=\"{median:.0}\">")));
    let periods = table(body, "perioder");
    for ((row, _, cells), p) in periods.iter().zip(r["periods"].as_array().unwrap()) {
        assert!(row.contains(&format!("datetime=\"{}\"", p["start"].as_str().unwrap())));
        assert_eq!(
            cells,
            &vec![
                n(&p["critical"]),
                n(&p["high"]),
                n(&p["normal"]),
                n(&p["open"]),
                n(&p["resolved"])
            ]
        );
    }
    assert_eq!(periods.len(), 7);
    let levels = table(body, "niveauer");
    let names: Vec<String> = levels.iter().map(|(_, n, _)| n.clone()).collect();
    assert_eq!(names, ["Kritisk", "Høj", "Normal"]);
    for ((row, _, cells), l) in levels.iter().zip(r["levels"].as_array().unwrap()) {
        assert_eq!(
            cells[..4],
            [
                n(&l["events"]),
                n(&l["open"]),
                n(&l["resolved"]),
                n(&l["time_to_handle"]["handled"])
            ]
        );
        if let Some(ms) = l["time_to_handle"]["p90_ms"].as_f64() {
            assert!(row.contains(&format!("<data value=\"{ms:.0}\">")), "{row}");
        }
    }
    let rules = table(body, "regler");
    assert_eq!(rules.len(), r["rules"].as_array().unwrap().len());
    for ((row, name, cells), x) in rules.iter().zip(r["rules"].as_array().unwrap()) {
        assert_eq!(name, x["name"].as_str().unwrap());
        let kind = if x["rule_kind"] == "offline" {
            "offline"
        } else {
            "sikkerhed"
        };
        assert!(row.contains(&format!(
            "href=\"/steder/{}/regler/{kind}/{}\"",
            x["site"].as_str().unwrap(),
            x["rule_id"]
        )));
        assert_eq!(cells[1], n(&x["events"]));
    }
    let pcs = table(body, "computere");
    for ((row, name, cells), p) in pcs.iter().zip(r["items"].as_array().unwrap()) {
        assert_eq!(name, p["name"].as_str().unwrap());
        assert!(row.contains(&format!(
            "href=\"/steder/{}/pc/{}\"",
            p["site"].as_str().unwrap(),
            p["pc_id"]
        )));
        assert_eq!(
            cells[1..],
            [
                n(&p["events"]),
                n(&p["open"]),
                n(&p["resolved"]),
                n(&p["critical"]),
                n(&p["high"]),
                n(&p["normal"])
            ]
        );
    }
    assert!(!body.contains("hændelse 1"), "no summaries on the report");
    // A site's link narrows to its PCs; a rule's to its page.
    let sites = table(body, "steder");
    let link = href(&between(
        &sites
            .iter()
            .find(|(_, name, _)| name == "aeroe-borger")
            .unwrap()
            .0,
        "href=\"",
        "\"",
    ));
    let borger = ida.get(&link).await;
    assert!(link.contains("sted=aeroe-borger"), "{link}");
    let names: Vec<String> = table(&borger.body, "computere")
        .into_iter()
        .map(|(_, n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["bib-2", "borger-1"],
        "bib-2's events there after its move"
    );
    let rule = href(&between(&rules[0].0, "href=\"", "\""));
    assert_eq!(ida.get(&rule).await.status, 200, "{rule}");
    // The level filter and weeks.
    let high = ida
        .get("/rapporter/sikkerhed?fra=2026-03-26&til=2026-04-01&niveau=HIGH&inddeling=uge")
        .await;
    let r = api(
        &portal,
        &root,
        &format!("/api/reports/security?customer={customer}&from=2026-03-26&to=2026-04-02&level=HIGH&bucket=week"),
    )
    .await;
    assert_eq!(
        plain(&between(&high.body, "<dd id=\"haendelser\">", "</dd>")),
        n(&r["totals"]["events"])
    );
    let labels: Vec<String> = table(&high.body, "perioder")
        .into_iter()
        .map(|(_, l, _)| l)
        .collect();
    assert_eq!(labels, ["uge 13", "uge 14"]);
    assert!(high.body.contains("<option value=\"HIGH\" selected>"));

    for path in [
        "/rapporter/sikkerhed?sted=fanoe-bib".to_owned(),
        format!("/rapporter/sikkerhed?gruppe={}", {
            portal
                .store
                .add_group(seed.fanoe.id, "Fanø-gruppe")
                .await
                .unwrap()
        }),
    ] {
        assert_eq!(ida.get(&path).await.status, 404, "{path}");
    }
    for (query, label) in [("niveau=LAV", "Niveau"), ("inddeling=aar", "Inddeling")] {
        let a = ida.get(&format!("/rapporter/sikkerhed?{query}")).await;
        assert_eq!(a.status, 422, "{query}");
        assert!(between(&a.body, "id=\"fejl\">", "</p>").starts_with(label));
    }
}
