//! The inventory page (issue 14, report 3) over real HTTP, with PCs of two customers seeded
//! through the client-api as in `reports_inventory.rs`: for each filter of its form, the
//! summary, the tables beside the three charts, the models, the sites and the PC table show
//! what the JSON API gives for the same filters; the charts are well-formed SVG with their
//! accessible names; a release, a product and a site in the tables narrow the filter to
//! them, keeping the others; another customer's site and group are "not found"; a version
//! that is not one is shown on the form naming the field.

use crate::common::Portal;
use crate::common::reports::api;
use crate::common::web::{WebUser, between};
use crate::reports_inventory::{agents, report};
use crate::web_reports::check_svg;
use serde_json::Value;

/// Text without its tags and with the page's escapes undone.
fn plain(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rows of the table with `id`, each as its cells' text (row header first); empty when
/// the page has no such table.
fn rows(body: &str, id: &str) -> Vec<Vec<String>> {
    let open = format!("<table id=\"{id}\">");
    if !body.contains(&open) {
        return Vec::new();
    }
    let t = between(body, &open, "</table>");
    let tbody = between(&t, "<tbody>", "</tbody>");
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            let mut cells = Vec::new();
            let mut rest = row;
            loop {
                let at = match (rest.find("<th"), rest.find("<td")) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => break,
                };
                let cell = &rest[at..];
                let close = if cell.starts_with("<th") {
                    "</th>"
                } else {
                    "</td>"
                };
                let end = cell.find(close).unwrap();
                cells.push(plain(&cell[cell.find('>').unwrap() + 1..end]));
                rest = &cell[end + close.len()..];
            }
            cells
        })
        .collect()
}

/// The `href` of the link whose text is `text` in the table with `id`.
fn link(body: &str, id: &str, text: &str) -> String {
    let t = between(body, &format!("<table id=\"{id}\">"), "</table>");
    let at = t
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("{text} is not a link in #{id}"));
    let before = &t[..at];
    let href = &before[before.rfind("href=\"").unwrap() + 6..];
    href[..href.find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn fact(body: &str, id: &str) -> String {
    between(body, &format!("<dd id=\"{id}\">"), "</dd>")
}

fn label(v: &Value) -> String {
    v.as_str().unwrap_or("Ikke oplyst").to_owned()
}

/// The page against the JSON of the same filters.
fn same_as_json(body: &str, json: &Value, what: &str) {
    assert_eq!(fact(body, "antal"), json["count"].to_string(), "{what}");
    let support = &json["release_support"];
    assert_eq!(
        fact(body, "ophoert"),
        support["ended"].to_string(),
        "{what}"
    );
    assert_eq!(
        fact(body, "ophoerer"),
        support["ends_soon"].to_string(),
        "{what}"
    );
    assert_eq!(
        fact(body, "ukendt-udgivelse"),
        support["unknown"].to_string(),
        "{what}"
    );
    if json["client_check"].is_object() {
        assert_eq!(
            fact(body, "foraeldede"),
            json["client_check"]["outdated"].to_string(),
            "{what}"
        );
        assert_eq!(
            fact(body, "ukendt-version"),
            json["client_check"]["unknown"].to_string(),
            "{what}"
        );
    } else {
        assert!(!body.contains("id=\"foraeldede\""), "{what}");
    }
    let releases: Vec<(String, String, String)> = rows(body, "udgivelser")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let want: Vec<(String, String, String)> = json["by_release"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let until = r["support_ends"].as_str().map_or(String::new(), |d| {
                let (y, rest) = d.split_once('-').unwrap();
                let (m, day) = rest.split_once('-').unwrap();
                format!(" {day}.{m}.{y}")
            });
            let note = match r["support"].as_str().unwrap() {
                "ended" => format!("Ophørt{until}"),
                "ends_soon" => format!("Ophører{until}"),
                "ok" => format!("Til{until}"),
                _ => "Ukendt udgivelse".to_owned(),
            };
            (label(&r["value"]), r["pcs"].to_string(), note)
        })
        .collect();
    assert_eq!(releases, want, "{what}: releases");
    let pairs = |id: &str| -> Vec<(String, String)> {
        rows(body, id)
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    };
    let json_pairs = |key: &str| -> Vec<(String, String)> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (label(&r["value"]), r["pcs"].to_string()))
            .collect()
    };
    assert_eq!(
        pairs("versioner"),
        json_pairs("by_client_version"),
        "{what}"
    );
    assert_eq!(pairs("produkter"), json_pairs("by_product"), "{what}");
    let models: Vec<Vec<String>> = json["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            vec![
                label(&m["manufacturer"]),
                label(&m["model"]),
                m["pcs"].to_string(),
            ]
        })
        .collect();
    assert_eq!(rows(body, "modeller"), models, "{what}: models");
    let sites: Vec<(String, String)> = json["by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (label(&s["name"]), s["pcs"].to_string()))
        .collect();
    if sites.len() > 1 {
        assert_eq!(pairs("steder"), sites, "{what}: sites");
    } else {
        assert!(
            rows(body, "steder").is_empty(),
            "{what}: one site, no table"
        );
    }
    // The PCs: name, site, product, release and kernel, agent, model as the JSON has them.
    let pcs: Vec<Vec<String>> = rows(body, "computere")
        .into_iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[3].clone(),
                r[5].clone(),
                r[6].clone(),
                r[7].clone(),
            ]
        })
        .collect();
    let want: Vec<Vec<String>> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .take(50)
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
            vec![
                s("name"),
                s("site"),
                s("product"),
                s("os_release"),
                s("kernel_version"),
                // The agent's version, with a note when it is older or unknown.
                match p["client_check"].as_str() {
                    Some("outdated") => format!("{} (forældet)", s("client_version")),
                    Some("unknown") => format!("{} (ukendt version)", s("client_version")),
                    _ => s("client_version"),
                }
                .trim()
                .to_owned(),
                format!("{} {}", s("manufacturer"), s("model"))
                    .trim()
                    .to_owned(),
            ]
        })
        .collect();
    assert_eq!(pcs, want, "{what}: PCs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_page_shows_the_apis_figures() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    for (n, a) in agents().iter().enumerate() {
        report(&portal, a, n).await;
    }
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    for uid in sqlx::query_scalar::<_, String>(
        "SELECT uid FROM pcs WHERE name IN ('bib-1', 'bib-2') ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    {
        let pc = store.pc_identity(&uid).await.unwrap().unwrap();
        store.add_group_member(group, pc.id).await.unwrap();
    }
    let fanoe_group = store.add_group(fanoe.id, "Fanø-gruppe").await.unwrap();
    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let token = crate::common::reports::api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;

    let home = ida.get("/rapporter/tilgaengelighed").await;
    assert!(
        home.body.contains("href=\"/rapporter/inventar\""),
        "the tab"
    );

    for (page, api_query) in [
        ("", String::new()),
        ("sted=aeroe-bib", "site=aeroe-bib".to_owned()),
        (&format!("gruppe={group}") as &str, format!("group={group}")),
        (
            "produkt=os2borgerpc+kiosk",
            "product=os2borgerpc%20kiosk".to_owned(),
        ),
        ("udgivelse=22.04", "release=22.04".to_owned()),
        ("eol=ja", "eol=true".to_owned()),
        (
            "aeldre_end=3.10.0",
            "min_client_version=3.10.0&outdated=true".to_owned(),
        ),
        (
            "sted=aeroe-bib&eol=ja&aeldre_end=3.2.0",
            "site=aeroe-bib&eol=true&min_client_version=3.2.0&outdated=true".to_owned(),
        ),
    ] {
        let a = ida.get(&format!("/rapporter/inventar?{page}")).await;
        assert_eq!(a.status, 200, "{page}: {}", a.body);
        let json = api(
            &portal,
            &token,
            &format!("/api/reports/inventory?limit=500&{api_query}"),
        )
        .await;
        assert!(json["count"].as_i64().unwrap() > 0, "{page}");
        same_as_json(&a.body, &json, page);
        let charts: Vec<&str> = a.body.split("<svg ").skip(1).collect();
        assert_eq!(charts.len(), 3, "{page}: three charts");
        for (chart, name) in charts.iter().zip([
            "Computere pr. Ubuntu-udgivelse",
            "Computere pr. agentversion",
            "Computere pr. produkt",
        ]) {
            check_svg(&format!("<svg {chart}"), name);
        }
        // No period on this form.
        assert!(!a.body.contains("id=\"fra\""), "{page}");
    }

    // Drill-down: a release, a product and a site narrow the filter, keeping the others.
    let a = ida.get("/rapporter/inventar?eol=ja").await;
    let to_release = link(&a.body, "udgivelser", "22.04");
    assert_eq!(to_release, "/rapporter/inventar?eol=ja&udgivelse=22.04");
    let narrowed = ida.get(&to_release).await;
    let names: Vec<String> = rows(&narrowed.body, "computere")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(names, ["bib-1", "borger-1"]);
    let a = ida.get("/rapporter/inventar").await;
    let to_site = link(&a.body, "steder", "aeroe-borger");
    assert_eq!(to_site, "/rapporter/inventar?sted=aeroe-borger");
    let narrowed = ida.get(&to_site).await;
    assert_eq!(fact(&narrowed.body, "antal"), "1");
    let to_product = link(&a.body, "produkter", "os2borgerpc kiosk");
    let narrowed = ida.get(&to_product).await;
    assert_eq!(fact(&narrowed.body, "antal"), "1");
    // A PC links to its page, its site to the site's inventory.
    assert!(
        a.body
            .contains("<a href=\"/rapporter/inventar?sted=aeroe-bib\">aeroe-bib</a>")
    );
    let pc_link = between(
        &a.body,
        "<th scope=\"row\"><a href=\"/steder/aeroe-bib/pc/",
        "\"",
    );
    let pc = ida.get(&format!("/steder/aeroe-bib/pc/{pc_link}")).await;
    assert_eq!(pc.status, 200);

    // Another customer's site and group are not found.
    for path in [
        "/rapporter/inventar?sted=fanoe-bib".to_owned(),
        format!("/rapporter/inventar?gruppe={fanoe_group}"),
        "/rapporter/inventar?sted=findes-ikke".to_owned(),
    ] {
        let a = ida.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(!a.body.contains("fanoe-1"), "{path}");
    }
    // A version that is not one is shown on the form, naming the field.
    let a = ida.get("/rapporter/inventar?aeldre_end=3.x").await;
    assert_eq!(a.status, 422);
    assert!(
        a.body
            .contains("id=\"aeldre_end\" name=\"aeldre_end\" value=\"3.x\"")
    );
    assert!(
        a.body
            .contains("aria-invalid=\"true\" aria-describedby=\"fejl\"")
    );
    assert!(
        between(&a.body, "id=\"fejl\">", "</p>").starts_with("Agent ældre end: skal være"),
        "{}",
        a.body
    );
}
