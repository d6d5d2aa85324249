//! The reports' exports (issue 14) over real HTTP: the same report as JSON, as CSV (with a
//! decimal comma and with a point) and as XLSX, compared cell for cell. The CSV is parsed here
//! (byte-order mark, `;`, CRLF); the XLSX is read by an independent reader, openpyxl from PyPI
//! in the compatibility venv (`tests/compat/xlsx_cells.py`; `setup_venv.sh` installs it, and
//! the test fails, never skips, when it cannot). An export holds every PC of the filter, not
//! one page, and is refused above its bound; bad `format`/`decimal` are 422 naming them, and
//! another customer's site is 404 for exports too.

use crate::common;

use borgerpc_admin::store::config::EntryChange;
use borgerpc_admin::store::history::Beat;
use chrono::NaiveDate;
use chrono_tz::Europe::Copenhagen;
use common::Portal;
use common::reports::{QUARTER, api_user, midnight};
use serde_json::Value;
use std::path::Path;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An answer: status, content type, content disposition and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) disposition: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
    }
}

pub(crate) async fn get(portal: &Portal, token: &str, path: &str) -> Answer {
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
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    Answer {
        status: r.status().as_u16(),
        content_type,
        disposition,
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// A cell the export should hold, from the JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Want {
    Text(String),
    Int(i64),
    /// A share, shown as per cent.
    Number(f64),
    /// A number with its XLSX number format.
    Decimal(f64, &'static str),
    Date(String),
    /// A local date and time, `YYYY-MM-DD HH:MM:SS`.
    DateTime(String),
    Empty,
}

fn text(v: &Value) -> Want {
    Want::Text(v.as_str().unwrap().to_owned())
}

fn int(v: &Value) -> Want {
    Want::Int(v.as_i64().unwrap())
}

/// The JSON's rows flattened, one per PC per day: (header, rows).
pub(crate) fn want_rows(report: &str, json: &Value) -> (Vec<&'static str>, Vec<Vec<Want>>) {
    let mut rows = Vec::new();
    for pc in json["items"].as_array().unwrap() {
        for d in pc["days"].as_array().unwrap() {
            let date = Want::Date(d["date"].as_str().unwrap().to_owned());
            rows.push(if report == "availability" {
                let (on, begun) = (
                    d["quarters_online"].as_i64().unwrap(),
                    d["quarters_elapsed"].as_i64().unwrap(),
                );
                vec![
                    date,
                    text(&pc["site"]),
                    text(&pc["uid"]),
                    text(&pc["name"]),
                    int(&d["hours_in_day"]),
                    int(&d["hours_online"]),
                    int(&d["quarters_online"]),
                    int(&d["quarters_elapsed"]),
                    if begun > 0 {
                        Want::Number(on as f64 / begun as f64)
                    } else {
                        Want::Empty
                    },
                    int(&d["opening_quarters_online"]),
                    int(&d["opening_quarters_elapsed"]),
                    d["uptime_opening_hours"]
                        .as_f64()
                        .map_or(Want::Empty, Want::Number),
                ]
            } else {
                vec![
                    date,
                    text(&d["site"]),
                    text(&pc["uid"]),
                    text(&pc["name"]),
                    int(&d["logins"]),
                ]
            });
        }
    }
    let header = if report == "availability" {
        vec![
            "date",
            "site",
            "pc_uid",
            "pc_name",
            "hours_in_day",
            "hours_online",
            "quarters_online",
            "quarters_elapsed",
            "uptime",
            "opening_quarters_online",
            "opening_quarters_elapsed",
            "uptime_opening_hours",
        ]
    } else {
        vec!["date", "site", "pc_uid", "pc_name", "logins"]
    };
    (header, rows)
}

/// Parses the CSV as Danish Excel would read it and compares every cell with the JSON's.
pub(crate) fn check_csv(a: &Answer, header: &[&str], want: &[Vec<Want>], comma: bool) {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.content_type, "text/csv; charset=utf-8");
    let body = a
        .body
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("the CSV starts with a byte-order mark");
    let text = std::str::from_utf8(body).expect("the CSV is UTF-8");
    assert!(text.ends_with("\r\n"), "CRLF line ends");
    assert_eq!(
        text.matches("\r\n").count(),
        want.len() + 1,
        "one line per row, with CRLF (and no newline inside a cell)"
    );
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(body);
    let records: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(records[0].iter().collect::<Vec<_>>(), header);
    assert_eq!(records.len() - 1, want.len(), "rows");
    for (i, (got, want)) in records[1..].iter().zip(want).enumerate() {
        assert_eq!(got.len(), want.len(), "row {i}");
        for (g, w) in got.iter().zip(want) {
            match w {
                Want::Text(s) => {
                    let defused = if s.starts_with(['=', '+', '-', '@']) {
                        format!("'{s}")
                    } else {
                        s.clone()
                    };
                    assert_eq!(g, defused, "row {i}");
                }
                Want::Int(n) => assert_eq!(g.parse::<i64>().unwrap(), *n, "row {i}"),
                Want::Number(x) | Want::Decimal(x, _) => {
                    let as_point = if comma {
                        assert!(!g.contains('.'), "row {i}: {g} has a decimal comma");
                        g.replace(',', ".")
                    } else {
                        assert!(!g.contains(','), "row {i}: {g} has a decimal point");
                        g.to_owned()
                    };
                    assert_eq!(as_point.parse::<f64>().unwrap(), *x, "row {i}: {g}");
                }
                Want::Date(d) | Want::DateTime(d) => assert_eq!(g, d, "row {i}"),
                Want::Empty => assert_eq!(g, "", "row {i}"),
            }
        }
    }
}

/// The venv's python with openpyxl, made by `tests/compat/setup_venv.sh` (as `.ci/run` does).
pub(crate) async fn openpyxl_python() -> std::path::PathBuf {
    let python = crate::real_client::venv_python().await;
    let out = tokio::process::Command::new(&python)
        .args(["-c", "import openpyxl; print(openpyxl.__version__)"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "openpyxl is missing from {}: set the venv up with \
         `bash crates/borgerpc-admin/tests/compat/setup_venv.sh target/bpc-venv` \
         (needs python3-venv and PyPI): {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

/// Reads the XLSX with openpyxl and compares every cell with the JSON's, and the layout.
pub(crate) async fn check_xlsx(
    python: &Path,
    dir: &Path,
    a: &Answer,
    sheet: &str,
    header: &[&str],
    want: &[Vec<Want>],
) {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.content_type, XLSX);
    let file = dir.join(format!("{sheet}.xlsx"));
    std::fs::write(&file, &a.body).unwrap();
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
    let book: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sheets = book.as_array().unwrap();
    assert_eq!(sheets.len(), 1);
    let s = &sheets[0];
    assert_eq!(s["name"], sheet);
    assert_eq!(s["freeze"], "A2", "the header row is frozen");
    assert!(
        s["autofilter"].as_str().unwrap().starts_with("A1:"),
        "{}",
        s["autofilter"]
    );
    assert_eq!(
        s["widths"].as_object().unwrap().len(),
        header.len(),
        "every column has a width: {}",
        s["widths"]
    );
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len() + 1, "rows");
    let names: Vec<&str> = rows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["bold"], true, "a bold header: {c}");
            assert_eq!(c["type"], "str");
            c["value"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, header);
    for (i, (got, want)) in rows[1..].iter().zip(want).enumerate() {
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "row {i}");
        for (g, w) in got.iter().zip(want) {
            match w {
                Want::Text(t) => {
                    assert_eq!(g["type"], "str", "row {i}: {g}");
                    assert_eq!(g["value"], t.as_str(), "row {i}: written as it is");
                }
                Want::Int(n) => {
                    assert_eq!(g["type"], "int", "row {i}: {g}");
                    assert_eq!(g["value"].as_i64(), Some(*n), "row {i}");
                }
                Want::Number(x) => {
                    assert!(
                        g["type"] == "float" || g["type"] == "int",
                        "row {i}: a number: {g}"
                    );
                    assert_eq!(g["value"].as_f64(), Some(*x), "row {i}");
                    assert_eq!(g["format"], "0.0%", "row {i}: a share as per cent");
                }
                Want::Decimal(x, format) => {
                    assert!(
                        g["type"] == "float" || g["type"] == "int",
                        "row {i}: a number: {g}"
                    );
                    assert_eq!(g["value"].as_f64(), Some(*x), "row {i}");
                    assert_eq!(g["format"], *format, "row {i}");
                }
                Want::Date(d) => {
                    assert_eq!(g["type"], "datetime", "row {i}: a real date: {g}");
                    assert_eq!(g["value"], format!("{d}T00:00:00"), "row {i}");
                    assert_eq!(g["format"], "dd-mm-yyyy", "row {i}");
                }
                Want::DateTime(t) => {
                    assert_eq!(g["type"], "datetime", "row {i}: a real date-time: {g}");
                    assert_eq!(g["value"], t.replace(' ', "T"), "row {i}");
                    assert_eq!(g["format"], "dd-mm-yyyy hh:mm:ss", "row {i}");
                }
                Want::Empty => assert_eq!(g["type"], "none", "row {i}: {g}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_hold_the_json_cell_for_cell() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let python = openpyxl_python().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let (p1, _) = portal.pc(&bib, "bib-1").await;
    // Names a spreadsheet must neither split nor run.
    let (p2, _) = portal.pc(&bib, "Læsesal; \"hjørne\"").await;
    let (p3, _) = portal.pc(&borger, "=SUM(A1:A9)").await;
    let (pb, _) = portal.pc(&fanoe, "fanoe-1").await;

    // The eight days before today: check-ins in a pattern with gaps, p3 never; logins per day.
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let from = today - chrono::Duration::days(8);
    for pc in [p1, p2, pb] {
        let mut beats = Vec::new();
        let (mut at, end) = (midnight(from), midnight(today));
        while at < end {
            if (at / QUARTER * (pc + 3)) % 5 < 2 + pc % 2 {
                beats.push(Beat {
                    pc_id: pc,
                    at: at + 60_000,
                    ip: None,
                    ip_changed: false,
                    checkin: true,
                });
            }
            at += QUARTER;
        }
        store.record_beats(&beats).await.unwrap();
    }
    let push = |pc: i64, days: Vec<(NaiveDate, i64)>| async move {
        let value = days
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        store
            .change_pc_entries(
                pc,
                &[EntryChange::Set {
                    key: "login_counts".into(),
                    value,
                    read_only: false,
                }],
            )
            .await
            .unwrap();
    };
    let day = |i: i64| from + chrono::Duration::days(i);
    push(p1, (0..8).map(|i| (day(i), (p1 + i * 3) % 7)).collect()).await;
    push(p2, (0..4).map(|i| (day(i), i + 1)).collect()).await;
    push(pb, vec![(day(1), 9)]).await;
    // p2 moves to the citizens' service and reports more days there (its days keep their site).
    let mut tx = store.db.begin_write().await.unwrap();
    sqlx::query("UPDATE pcs SET site_id = $1 WHERE id = $2")
        .bind(borger.id)
        .bind(p2)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    push(p2, (0..8).map(|i| (day(i), i + 1)).collect()).await;
    push(p3, vec![(day(5), 12)]).await;
    // The library's opening hours, for the export's uptime within them (closed on Sundays:
    // empty cells there).
    let scope = borgerpc_admin::store::access::Scope::cli(store)
        .await
        .unwrap();
    let mut week = vec![
        borgerpc_admin::store::opening_hours::OpeningTimes {
            opens: "09:00".into(),
            closes: "17:30".into(),
        };
        7
    ];
    week[6] = Default::default();
    store
        .set_opening_hours(&scope, bib.id, &week)
        .await
        .unwrap()
        .unwrap();

    let token = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (from.to_string(), today.to_string());
    for (caller, scope, file_scope) in [
        (
            &token,
            format!("customer={}", bib.customer_id),
            format!("kunde-{}", bib.customer_id),
        ),
        (&key, "site=aeroe-bib".to_owned(), "aeroe-bib".to_owned()),
        (&token, String::new(), "alle".to_owned()),
    ] {
        for report in ["availability", "usage"] {
            let base = format!("/api/reports/{report}?{scope}&from={from}&to={to}");
            let json = get(&portal, caller, &format!("{base}&limit=500")).await;
            assert_eq!(json.status, 200, "{base}: {}", json.json());
            let json = json.json();
            let (header, want) = want_rows(report, &json);
            assert!(want.len() >= 8, "{base}: {} rows", want.len());
            if report == "availability" {
                let opening = |w: &Want| matches!(w, Want::Number(_));
                assert!(
                    want.iter().any(|r| opening(&r[11])) && want.iter().any(|r| !opening(&r[11])),
                    "{base}: days within opening hours and without"
                );
            }
            if scope.starts_with("customer") {
                assert!(
                    want.iter()
                        .any(|r| matches!(&r[3], Want::Text(n) if n.starts_with('='))),
                    "the formula-like name is in the export"
                );
            }
            assert!(
                !want.iter().any(|r| r[1] == Want::Text("fanoe-bib".into())),
                "{base}: another customer's site"
            );
            let stem = format!("{report}-{file_scope}-{from}-{to}");
            let csv = get(&portal, caller, &format!("{base}&format=csv")).await;
            check_csv(&csv, &header, &want, true);
            assert_eq!(
                csv.disposition,
                format!("attachment; filename=\"{stem}.csv\"")
            );
            let comma = get(&portal, caller, &format!("{base}&format=csv&decimal=comma")).await;
            assert_eq!(comma.body, csv.body, "decimal=comma is the default");
            let point = get(&portal, caller, &format!("{base}&format=csv&decimal=point")).await;
            check_csv(&point, &header, &want, false);
            let xlsx = get(&portal, caller, &format!("{base}&format=xlsx")).await;
            assert_eq!(
                xlsx.disposition,
                format!("attachment; filename=\"{stem}.xlsx\"")
            );
            check_xlsx(&python, dir.path(), &xlsx, report, &header, &want).await;
            let fmt_json = get(&portal, caller, &format!("{base}&limit=500&format=json")).await;
            assert_eq!(fmt_json.json(), json, "format=json is the JSON");
        }
    }
    // A uptime share that is not a whole number is in the files, with its decimals.
    let json = get(
        &portal,
        &token,
        &format!(
            "/api/reports/availability?customer={}&from={from}&to={to}",
            bib.customer_id
        ),
    )
    .await
    .json();
    assert!(
        want_rows("availability", &json)
            .1
            .iter()
            .any(|r| matches!(r[8], Want::Number(x) if x > 0.0 && x < 1.0)),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_every_pc_and_is_bounded() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø", "aeroe-bib").await;
    // More PCs than a JSON page can hold (500), and enough that 400 days are too many rows.
    const PCS: usize = 626;
    for i in 0..PCS {
        portal.pc(&site, &format!("pc-{i:04}")).await;
    }
    let key = portal
        .store
        .add_api_key(site.id, "bi", false)
        .await
        .unwrap();
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let (from, to) = (today - chrono::Duration::days(1), today);
    let base = format!("/api/reports/availability?from={from}&to={to}");
    let mut uids = Vec::new();
    for offset in [0, 500] {
        let page = get(&portal, &key, &format!("{base}&limit=500&offset={offset}"))
            .await
            .json();
        assert_eq!(page["count"], PCS as i64);
        uids.extend(
            want_rows("availability", &page)
                .1
                .into_iter()
                .map(|r| r[2].clone()),
        );
    }
    assert_eq!(uids.len(), PCS);
    let csv = get(&portal, &key, &format!("{base}&format=csv")).await;
    assert_eq!(csv.status, 200);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&csv.body[3..]);
    let got: Vec<Want> = r
        .records()
        .map(|r| Want::Text(r.unwrap()[2].to_owned()))
        .collect();
    assert_eq!(got, uids, "every PC of the filter, in the JSON's order");

    let far = today - chrono::Duration::days(400);
    for report in ["availability", "usage"] {
        for format in ["csv", "xlsx"] {
            let path = format!("/api/reports/{report}?from={far}&to={to}&format={format}");
            let a = get(&portal, &key, &path).await;
            assert_eq!(a.status, 422, "{path}");
            let detail = a.json()["detail"].as_str().unwrap().to_owned();
            for part in [
                "to:",
                "626 PCs",
                "400 days",
                &far.to_string(),
                "from",
                "site",
                "group",
            ] {
                assert!(detail.contains(part), "{path}: {part} in {detail}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_export_parameters_are_refused_by_name() {
    let portal = Portal::start().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let token = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    for report in ["availability", "usage"] {
        for (query, name) in [
            ("format=pdf", "format"),
            ("format=CSV", "format"),
            ("format=csv&decimal=semikolon", "decimal"),
            ("decimal=comma", "decimal"),
            ("format=json&decimal=point", "decimal"),
            ("format=xlsx&decimal=comma", "decimal"),
            ("format=csv&limit=10", "limit"),
            ("format=xlsx&offset=5", "offset"),
        ] {
            let path = format!("/api/reports/{report}?{query}");
            let a = get(&portal, &token, &path).await;
            assert_eq!(a.status, 422, "{path}");
            let detail = a.json()["detail"].as_str().unwrap().to_owned();
            assert!(detail.starts_with(&format!("{name}:")), "{path}: {detail}");
        }
        for format in ["csv", "xlsx"] {
            for scope in [
                "site=fanoe-bib".to_owned(),
                format!("customer={}", fanoe.customer_id),
                "site=findes-ikke".to_owned(),
            ] {
                let path = format!("/api/reports/{report}?{scope}&format={format}");
                let a = get(&portal, &token, &path).await;
                assert_eq!(a.status, 404, "{path}");
                assert!(a.disposition.is_empty(), "{path}: no file");
            }
        }
    }
}
