//! The jobs, security and inventory pages' downloads (issue 14) over real HTTP: each table the
//! page links is the API's file for the same filters: the CSV byte for byte in both decimal
//! styles, with the same name and type; the XLSX with the same cells as openpyxl reads them
//! (its bytes carry the moment it was written). Another customer's site is "not found"; a
//! filter or table the page refuses goes back to the page (303), which names the field.

use crate::common::web::WebUser;
use crate::common::{Portal, ops};
use crate::reports_export::openpyxl_python;
use crate::reports_inventory::{agents, report};
use serde_json::Value;
use std::path::Path;

/// An API file: status, content type, content disposition and bytes.
async fn api_file(portal: &Portal, token: &str, path: &str) -> (u16, String, String, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", portal.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    let status = r.status().as_u16();
    (status, kind, disposition, r.bytes().await.unwrap().to_vec())
}

/// An XLSX workbook's sheets and cells as openpyxl reads them.
async fn cells(python: &Path, bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.xlsx");
    std::fs::write(&file, bytes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/xlsx_cells.py");
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "xlsx_cells.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The page (`page?filters`) links each table (`tabel`, the API's `list`), and each link's
/// file is the API's (`api?api_filters&list=…`). Returns the CSVs' lines per table.
#[allow(clippy::too_many_arguments)]
async fn same_files(
    portal: &Portal,
    user: &mut WebUser,
    token: &str,
    python: &Path,
    page: &str,
    api: &str,
    filters: &str,
    api_filters: &str,
    tables: &[(&str, &str)],
) -> Vec<usize> {
    let a = user.get(&format!("{page}?{filters}")).await;
    assert_eq!(a.status, 200, "{page}?{filters}: {}", a.body);
    let mut lines = Vec::new();
    for (slug, list) in tables {
        let and = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("&{s}")
            }
        };
        let (tabel, list) = if slug.is_empty() {
            (String::new(), String::new())
        } else {
            (format!("tabel={slug}"), format!("list={list}"))
        };
        // The links: XLSX, CSV and CSV with a decimal point, each naming its table.
        for link in [".xlsx?", ".csv?"] {
            assert!(
                a.body.contains(&format!("href=\"{page}{link}")),
                "{page}{link}: {}",
                a.body
            );
        }
        if !slug.is_empty() {
            assert!(
                a.body.contains(&format!("{tabel}\" download>")),
                "{page}: a link to {slug}"
            );
            assert!(
                a.body
                    .contains(&format!("{tabel}&#38;decimal=punktum\" download>"))
            );
        }
        for (decimal, api_decimal) in [("", ""), ("decimal=punktum", "decimal=point")] {
            let path = format!("{page}.csv?{filters}{}{}", and(&tabel), and(decimal));
            let (status, headers, got) = user.get_bytes(&path).await;
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&got));
            let api_path = format!(
                "{api}?{api_filters}{}&format=csv{}",
                and(&list),
                and(api_decimal)
            );
            let (s, kind, disposition, want) = api_file(portal, token, &api_path).await;
            assert_eq!(s, 200, "{api_path}: {}", String::from_utf8_lossy(&want));
            assert_eq!(got, want, "{path} = {api_path}");
            assert_eq!(headers["content-type"].to_str().unwrap(), kind);
            assert_eq!(
                headers["content-disposition"].to_str().unwrap(),
                disposition
            );
            if decimal.is_empty() {
                lines.push(String::from_utf8(got).unwrap().lines().count());
            }
        }
        let path = format!("{page}.xlsx?{filters}{}", and(&tabel));
        let (status, headers, got) = user.get_bytes(&path).await;
        assert_eq!(status, 200, "{path}");
        let api_path = format!("{api}?{api_filters}{}&format=xlsx", and(&list));
        let (s, kind, disposition, want) = api_file(portal, token, &api_path).await;
        assert_eq!(s, 200, "{api_path}");
        assert_eq!(headers["content-type"].to_str().unwrap(), kind);
        assert_eq!(
            headers["content-disposition"].to_str().unwrap(),
            disposition
        );
        assert_eq!(
            cells(python, &got).await,
            cells(python, &want).await,
            "{path} = {api_path}"
        );
    }
    lines
}

/// Another customer's site is not found; a refused filter or table goes back to the page,
/// which names the field.
async fn refusals(user: &mut WebUser, page: &str, bad: &[(&str, &str)]) {
    for ending in ["csv", "xlsx"] {
        let other = user.get(&format!("{page}.{ending}?sted=fanoe-bib")).await;
        assert_eq!(
            other.status, 404,
            "{page}.{ending}: another customer's site"
        );
        assert!(!other.body.contains("fanoe-1"));
        for (query, label) in bad {
            let a = user.get(&format!("{page}.{ending}?{query}")).await;
            assert_eq!(a.status, 303, "{page}.{ending}?{query}");
            assert_eq!(a.location, format!("{page}?{query}"));
            let back = user.get(&a.location).await;
            assert_eq!(back.status, 422, "{}", a.location);
            assert!(
                back.body.contains(&format!("{label}:")),
                "{query}: {label} in {}",
                back.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_page_downloads_each_table_as_the_apis_file() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let seed = ops::jobs(&portal).await;
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let customer = seed.bib.customer_id;
    let token = crate::common::reports::api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(customer))),
    )
    .await;
    let tables = [
        ("scripts", "scripts"),
        ("steder", "sites"),
        ("perioder", "periods"),
        ("computere", "pcs"),
        ("fejlede", "failures"),
        ("laengste", "slowest"),
    ];
    let lines = same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/jobs",
        "/api/reports/jobs",
        "sted=aeroe-bib&fra=2026-10-19&til=2026-11-01",
        "site=aeroe-bib&from=2026-10-19&to=2026-11-02",
        &tables,
    )
    .await;
    // Each table has rows (a header and more): the seeded jobs are in the period.
    assert!(lines.iter().all(|n| *n > 1), "{lines:?}");
    assert_eq!(lines[2], 15, "a header and 14 days");
    // The page's own fields are the API's: weeks, by when the jobs were reported.
    same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/jobs",
        "/api/reports/jobs",
        &format!("kunde={customer}&fra=2026-10-19&til=2026-11-01&inddeling=uge&tid=afsluttet"),
        &format!("customer={customer}&from=2026-10-19&to=2026-11-02&bucket=week&by=finished"),
        &tables[..3],
    )
    .await;
    // The file is the whole list, not the page's newest failures: no log lines in it.
    let (_, _, failures) = ida
        .get_bytes("/rapporter/jobs.csv?fra=2026-10-19&til=2026-11-01&tabel=fejlede")
        .await;
    let failures = String::from_utf8(failures).unwrap();
    assert!(!failures.contains("last_lines") && !failures.contains("linje 0"));
    refusals(
        &mut ida,
        "/rapporter/jobs",
        &[
            ("sted=aeroe-bib&fra=x", "Fra"),
            ("sted=aeroe-bib&tabel=logge", "Tabel"),
            ("tid=i-morgen", "Periode efter"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_page_downloads_each_table_as_the_apis_file() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let seed = ops::events(&portal).await;
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let customer = seed.bib.customer_id;
    let token = crate::common::reports::api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(customer))),
    )
    .await;
    let tables = [
        ("regler", "rules"),
        ("niveauer", "levels"),
        ("steder", "sites"),
        ("perioder", "periods"),
        ("computere", "pcs"),
        ("haendelser", "events"),
    ];
    let lines = same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/sikkerhed",
        "/api/reports/security",
        &format!("kunde={customer}&fra=2026-03-26&til=2026-03-31"),
        &format!("customer={customer}&from=2026-03-26&to=2026-04-01"),
        &tables,
    )
    .await;
    assert!(lines.iter().all(|n| *n > 1), "{lines:?}");
    // The customer's events in the period, not Fanø's, as seeded.
    let (from, to) = (
        crate::common::reports::midnight(crate::common::reports::date("2026-03-26")),
        crate::common::reports::midnight(crate::common::reports::date("2026-04-01")),
    );
    let want = seed
        .events
        .iter()
        .filter(|e| e.site != "fanoe-bib" && (from..to).contains(&e.occurred_at))
        .count();
    assert!(want > 10, "{want}");
    assert_eq!(lines[5], 1 + want, "a header and the events");
    same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/sikkerhed",
        "/api/reports/security",
        "sted=aeroe-bib&fra=2026-03-26&til=2026-03-31&inddeling=uge&niveau=HIGH",
        "site=aeroe-bib&from=2026-03-26&to=2026-04-01&bucket=week&level=HIGH",
        &tables[2..4],
    )
    .await;
    refusals(
        &mut ida,
        "/rapporter/sikkerhed",
        &[
            ("sted=aeroe-bib&til=2026-13-01", "Til og med"),
            ("tabel=resumeer", "Tabel"),
            ("niveau=MEGET", "Niveau"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_page_downloads_the_apis_file() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.site("Ærø", "aeroe-borger").await;
    portal.site("Fanø", "fanoe-bib").await;
    for (n, a) in agents().iter().enumerate() {
        report(&portal, a, n).await;
    }
    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let token = crate::common::reports::api_user(
        &portal,
        "ida-api",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let want_pcs = agents().iter().filter(|a| a.site == "aeroe-bib").count();
    let lines = same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/inventar",
        "/api/reports/inventory",
        "sted=aeroe-bib",
        "site=aeroe-bib",
        &[("", "")],
    )
    .await;
    assert_eq!(lines, vec![1 + want_pcs], "a header and the site's PCs");
    // The form's "older than" is the API's version and `outdated`.
    let lines = same_files(
        &portal,
        &mut ida,
        &token,
        &python,
        "/rapporter/inventar",
        "/api/reports/inventory",
        &format!("kunde={}&aeldre_end=99.0", bib.customer_id),
        &format!(
            "customer={}&min_client_version=99.0&outdated=true",
            bib.customer_id
        ),
        &[("", "")],
    )
    .await;
    assert!(lines[0] > 1, "every agent is older than 99.0");
    refusals(
        &mut ida,
        "/rapporter/inventar",
        &[("aeldre_end=ny", "Agent ældre end"), ("fra=x", "Fra")],
    )
    .await;
}
