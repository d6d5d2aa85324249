//! The changes report's page (issue 14, report 6) over real HTTP, after the operators of
//! `common::changes` did their work: the table beside the chart (per day and per week), the
//! tables per user, action and site and the page of records show the JSON API's figures for
//! the same filters; the records link to what they name and the tables drill down to a user,
//! an action or a site; only site administrators and up have the page (and its tab); another
//! customer's site and group are "not found"; bad fields are shown on the form by name.

use crate::common::Portal;
use crate::common::changes::{Scenario, get_ok, scenario};
use crate::common::web::{WebUser, between};
use serde_json::Value;

/// The rows of the table with `id`: the row's key (`<time datetime>` or `data-key`) and the
/// text of its plain cells.
fn table(body: &str, id: &str) -> Vec<(String, Vec<String>)> {
    let t = between(body, &format!("<table id=\"{id}\">"), "</table>");
    let tbody = between(&t, "<tbody>", "</tbody>");
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            let key = if row.contains("datetime=\"") {
                between(row, "datetime=\"", "\"")
            } else {
                between(row, "data-key=\"", "\"")
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

fn numbers(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| v[*k].to_string()).collect()
}

const ROW: &[&str] = &[
    "actions",
    "script_runs",
    "pcs_reached",
    "activations",
    "settings_changes",
];

/// The page's tables against the JSON of the same filters.
async fn same_as_api(
    portal: &Portal,
    web: &mut WebUser,
    token: &str,
    page_q: &str,
    api_q: &str,
) -> String {
    let page = web.get(&format!("/rapporter/aendringer?{page_q}")).await;
    assert_eq!(page.status, 200, "{page_q}: {}", page.body);
    let json = get_ok(
        portal,
        token,
        &format!("/api/reports/changes?{api_q}&limit=50"),
    )
    .await;
    let weeks = page_q.contains("per=uge");
    let (list, key) = if weeks {
        ("weeks", "week")
    } else {
        ("days", "date")
    };
    let want: Vec<(String, Vec<String>)> = json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d[key].as_str().unwrap().to_owned(), numbers(d, ROW)))
        .collect();
    assert_eq!(table(&page.body, "dage"), want, "{page_q}");
    let name = if weeks {
        "Handlinger pr. uge"
    } else {
        "Handlinger pr. dag"
    };
    assert!(
        page.body
            .contains(&format!("role=\"img\" aria-label=\"{name}\"")),
        "{page_q}"
    );
    assert_eq!(
        between(&page.body, "<dd id=\"handlinger-i-alt\">", "<"),
        json["count"].to_string()
    );
    assert_eq!(
        between(&page.body, "<dd id=\"naaet\">", "<"),
        json["totals"]["pcs_reached"].to_string()
    );
    if json["count"] == 0 {
        return page.body;
    }
    let users: Vec<(String, Vec<String>)> = json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let a = u["actor"].as_str().unwrap();
            let name = a.strip_prefix("user:").unwrap_or(a).to_owned();
            (name, numbers(u, ROW))
        })
        .collect();
    assert_eq!(table(&page.body, "brugere"), users, "{page_q}");
    let actions: Vec<(String, Vec<String>)> = json["by_action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                vec![a["count"].to_string()],
            )
        })
        .collect();
    assert_eq!(table(&page.body, "handlinger"), actions, "{page_q}");
    let sites: Vec<(String, Vec<String>)> = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            // A customer's own records without a site are the customer's, the rest the
            // portal's.
            let name = match (s["name"].as_str(), s["customer"].as_str()) {
                (Some(n), _) => n.to_owned(),
                (None, Some(c)) => format!("{c} (kunden selv, uden sted)"),
                (None, None) => "Hele portalen (uden sted)".to_owned(),
            };
            (name, vec![s["actions"].to_string()])
        })
        .collect();
    assert_eq!(table(&page.body, "steder"), sites, "{page_q}");
    let ids: Vec<String> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].to_string())
        .collect();
    let rows: Vec<String> = table(&page.body, "poster")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(rows, ids, "{page_q}: the records, newest first");
    page.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_page_shows_the_apis_figures_and_drills_down() {
    let portal = Portal::start().await;
    let s: Scenario = scenario(&portal).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let period = (
        "fra=2026-03-01&til=2026-11-30",
        "from=2026-03-01&to=2026-12-01",
    );

    let body = same_as_api(&portal, &mut ida, &s.ida, period.0, period.1).await;
    // The records link to what they name, and the tables to the report narrowed.
    let runs: Value = get_ok(
        &portal,
        &s.ida,
        &format!(
            "/api/reports/changes?{}&action=script.run&site=aeroe-bib",
            period.1
        ),
    )
    .await;
    let batch = runs["items"][0]["batch_id"].as_i64().unwrap();
    for href in [
        format!("/steder/aeroe-bib/koersler/{batch}"),
        format!("/steder/aeroe-bib/pc/{}", s.pcs[0]),
        format!("/steder/aeroe-bib/grupper/{}", s.group),
        "/steder/aeroe-bib\"".to_owned(),
        "/rapporter/aendringer?fra=2026-03-01&#38;til=2026-11-30&#38;bruger=ole".to_owned(),
        "/rapporter/aendringer?fra=2026-03-01&#38;til=2026-11-30&#38;handling=pc.activate"
            .to_owned(),
        "/rapporter/aendringer?fra=2026-03-01&#38;til=2026-11-30&#38;sted=aeroe-borger".to_owned(),
    ] {
        assert!(
            body.contains(&format!("href=\"{href}")),
            "{href} in the page: {}",
            between(&body, "<table id=\"brugere\">", "</table>")
        );
    }
    assert!(
        body.contains("href=\"/rapporter/aendringer?fra=2026-03-01&#38;til=2026-11-30\" aria-current=\"page\">Ændringer<"),
        "the report's tab"
    );

    // Narrowed by user, action, group and site; per week.
    let g = s.group;
    for (page_q, api_q) in [
        ("bruger=ole".to_owned(), "user=ole".to_owned()),
        ("handling=pc.activate".into(), "action=pc.activate".into()),
        ("handling=pc".into(), "action=pc".into()),
        (format!("gruppe={g}"), format!("group={g}")),
        ("sted=aeroe-borger".into(), "site=aeroe-borger".into()),
        ("per=uge".into(), String::new()),
        (
            format!("per=uge&gruppe={g}&bruger=ida"),
            format!("group={g}&user=ida"),
        ),
        ("bruger=ingen".into(), "user=ingen".into()),
    ] {
        let page_q = format!("{}&{page_q}", period.0);
        let api_q = format!("{}&{api_q}", period.1);
        same_as_api(&portal, &mut ida, &s.ida, &page_q, &api_q).await;
    }
    // The form shows what was chosen.
    let page = ida
        .get(&format!(
            "/rapporter/aendringer?{}&bruger=ole&handling=pc.activate&per=uge",
            period.0
        ))
        .await;
    for chosen in [
        "<option value=\"ole\" selected>",
        "<option value=\"pc.activate\" selected>",
        "<option value=\"uge\" selected>",
    ] {
        assert!(page.body.contains(chosen), "{chosen}");
    }

    // The superuser's view without a site has the records without a site: the customer
    // root made is that customer's own (root enrolled a second factor when making the
    // customer: another superuser looks).
    portal.web_user("rut", "superuser", &s.bib).await;
    let mut root = WebUser::login(&portal, "rut").await;
    let body = same_as_api(&portal, &mut root, &s.root, period.0, period.1).await;
    assert!(body.contains("Læsø (kunden selv, uden sted)") && body.contains("customer.create"));
    let body = same_as_api(
        &portal,
        &mut root,
        &s.root,
        &format!("{}&sted=aeroe-bib", period.0),
        &format!("{}&site=aeroe-bib", period.1),
    )
    .await;
    assert!(!body.contains("customer.create"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_page_is_for_site_admins_and_names_bad_fields() {
    let portal = Portal::start().await;
    let s = scenario(&portal).await;
    // A site user has neither the page nor its tab.
    let mut sif = WebUser::login(&portal, "sif").await;
    let a = sif.get("/rapporter/aendringer").await;
    assert_eq!(a.status, 404);
    assert!(!a.body.contains("script.run"));
    let usage = sif.get("/rapporter/brug").await;
    assert_eq!(usage.status, 200);
    assert!(!usage.body.contains("/rapporter/aendringer"));
    let mut ida = WebUser::login(&portal, "ida").await;
    assert!(
        ida.get("/rapporter/brug")
            .await
            .body
            .contains("href=\"/rapporter/aendringer\"")
    );

    // Another customer's site and group are not found; so is a site ole does not administer.
    let mut bo = WebUser::login(&portal, "bo").await;
    for path in [
        "/rapporter/aendringer?sted=aeroe-bib".to_owned(),
        format!("/rapporter/aendringer?gruppe={}", s.group),
        "/rapporter/aendringer?sted=findes-ikke".to_owned(),
    ] {
        let a = bo.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(
            !a.body.contains("aeroe") && !a.body.contains("Læsesal"),
            "{path}"
        );
    }
    let own = bo
        .get("/rapporter/aendringer?fra=2026-03-01&til=2026-11-30")
        .await;
    assert_eq!(own.status, 200);
    for secret in ["aeroe", "Læsesal", ">ida<", ">ole<", "customer.create"] {
        assert!(!own.body.contains(secret), "{secret}");
    }
    let mut ole = WebUser::login(&portal, "ole").await;
    assert_eq!(
        ole.get("/rapporter/aendringer?sted=aeroe-borger")
            .await
            .status,
        404
    );
    let page = ole.get("/rapporter/aendringer").await;
    assert!(
        !page.body.contains("value=\"aeroe-borger\""),
        "only the sites ole administers"
    );

    // Bad fields are shown on the form, naming the field.
    for (query, field, text) in [
        (
            &*format!("bruger={}", "x".repeat(161)),
            "bruger",
            "Bruger: skal være et brugernavn",
        ),
        ("handling=PC", "handling", "Handling: skal være en handling"),
        (
            "handling=pc.activate.nu",
            "handling",
            "Handling: skal være en handling",
        ),
        ("per=maaned", "per", "Pr.: skal være dag eller uge"),
        ("fra=2026-13-01", "fra", "Fra: skal være en dato"),
        ("gruppe=x", "gruppe", "Gruppe: er ikke en gruppe"),
    ] {
        let a = ida.get(&format!("/rapporter/aendringer?{query}")).await;
        assert_eq!(a.status, 422, "{query}");
        assert!(a.body.contains(text), "{query}: {}", a.body);
        assert!(
            a.body.contains(&format!("id=\"{field}\" name=\"{field}\""))
                && a.body.contains("aria-invalid=\"true\""),
            "{query}"
        );
        assert!(!a.body.contains("<svg "), "{query}");
    }
}
