//! Scheduled report e-mails (issue 14): a user subscribes on the page, the scheduler's round
//! runs at a chosen time ("it is Monday 2026-11-30 06:00"), and the mail arrives at a small
//! SMTP server on 127.0.0.1. The mail is decoded by Python's own `email` package
//! (`tests/compat/mail_parts.py`) and its XLSX opened by openpyxl (`xlsx_cells.py`), and every
//! cell is compared with the JSON API for the same period, whose figures are compared with
//! the check-ins and login counts the test seeded. Weekly and monthly periods (October 2026,
//! with its 25-hour day), retries with backoff until the server takes the mail, giving a
//! period up when the next is due, a user who lost access, two instances on one database,
//! and the page's refusals and bound.

use crate::common::reports::api;
use crate::common::reports::{QUARTER, date, midnight};
use crate::common::web::{PASSWORD, WebUser, between};
use crate::common::{Portal, wait_for};
use crate::reports_export::{Answer, check_xlsx, openpyxl_python, want_rows};
use borgerpc_admin::notify::Mailer;
use borgerpc_admin::report_mail::{Round, tick};
use borgerpc_admin::store::config::EntryChange;
use borgerpc_admin::store::history::Beat;
use borgerpc_admin::store::subscriptions::{Cadence, ReportKind, Target};
use chrono::{NaiveDate, TimeZone as _};
use chrono_tz::Europe::Copenhagen;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PORTAL_URL: &str = "https://borgerpc.kommune.example";
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// A small SMTP server: keeps each accepted message as received (dot-stuffing undone), and
/// while `refuse` is set answers `MAIL FROM` with 451, as a server that is busy would.
struct Smtp {
    port: u16,
    mails: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

async fn smtp_server() -> Smtp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let refuse = Arc::new(AtomicBool::new(false));
    let (kept, refusing) = (mails.clone(), refuse.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (kept, refusing) = (kept.clone(), refusing.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(std::mem::take(d));
                            data = None;
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(line.strip_prefix('.').unwrap_or(&line));
                            d.push_str("\r\n");
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "MAIL" if refusing.load(Ordering::SeqCst) => {
                            b"451 4.3.0 busy, try again later\r\n"
                        }
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    Smtp {
        port,
        mails,
        refuse,
    }
}

impl Smtp {
    /// A mailer of the portal's own kind, sending to this server.
    fn mailer(&self) -> Mailer {
        let config = borgerpc_admin::config::NotificationsConfig {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: self.port,
            smtp_security: "none".into(),
            from: "BorgerPC <borgerpc@kommune.example>".into(),
            ..Default::default()
        };
        Mailer::from_config(&config, Path::new("."), Some(PORTAL_URL.into()), Copenhagen)
            .unwrap()
            .unwrap()
    }

    fn count(&self) -> usize {
        self.mails.lock().unwrap().len()
    }

    fn mail(&self, i: usize) -> String {
        self.mails.lock().unwrap()[i].clone()
    }
}

/// A local time in Copenhagen as Unix ms.
fn at(d: &str, hour: u32, minute: u32) -> i64 {
    Copenhagen
        .from_local_datetime(&date(d).and_hms_opt(hour, minute, 0).unwrap())
        .single()
        .unwrap()
        .timestamp_millis()
}

/// A mail as Python's `email` package reads it.
struct Mail {
    raw: String,
    json: Value,
    dir: PathBuf,
}

impl Mail {
    async fn decode(python: &Path, raw: String) -> Mail {
        let dir = tempfile::tempdir().unwrap().keep();
        let file = dir.join("mail.eml");
        std::fs::write(&file, &raw).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/mail_parts.py");
        let out = tokio::process::Command::new(python)
            .arg(&script)
            .arg(&file)
            .arg(&dir)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "mail_parts.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mail {
            raw,
            json: serde_json::from_slice(&out.stdout).unwrap(),
            dir,
        }
    }

    fn subject(&self) -> &str {
        self.json["subject"].as_str().unwrap()
    }

    fn text(&self) -> String {
        let texts = self.json["texts"].as_array().unwrap();
        assert_eq!(texts.len(), 1, "one text part: {}", self.json);
        texts[0].as_str().unwrap().to_owned()
    }

    /// The one attachment: its file name and bytes.
    fn attachment(&self) -> (String, Vec<u8>) {
        let all = self.json["attachments"].as_array().unwrap();
        assert_eq!(all.len(), 1, "one attachment: {}", self.json);
        let a = &all[0];
        assert_eq!(a["content_type"], XLSX);
        assert_eq!(a["transfer_encoding"], "base64");
        let bytes = std::fs::read(a["path"].as_str().unwrap()).unwrap();
        assert_eq!(a["size"].as_u64(), Some(bytes.len() as u64));
        (a["filename"].as_str().unwrap().to_owned(), bytes)
    }
}

/// The session token of a user with [`PASSWORD`], for the JSON API.
async fn api_token(portal: &Portal, username: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {username}");
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Checks the attachment cell for cell against the API's JSON of the same report, scope and
/// period (`query`: `site=…` or `customer=…`, `from`, `to`), and returns that JSON.
async fn check_against_api(
    portal: &Portal,
    token: &str,
    python: &Path,
    mail: &Mail,
    report: &str,
    query: &str,
) -> Value {
    let json = api(
        portal,
        token,
        &format!("/api/reports/{report}?{query}&limit=500"),
    )
    .await;
    let (header, want) = want_rows(report, &json);
    assert!(!want.is_empty(), "{report}?{query}: rows to compare");
    let (_, bytes) = mail.attachment();
    let answer = Answer {
        status: 200,
        content_type: XLSX.into(),
        disposition: String::new(),
        body: bytes,
    };
    check_xlsx(python, &mail.dir, &answer, report, &header, &want).await;
    json
}

/// Check-ins of `pc` over `[from, to)` (Unix ms) in a pattern of its own with gaps: the
/// beats' instants, also written to the store.
async fn seed_checkins(portal: &Portal, pc: i64, from: i64, to: i64) -> Vec<i64> {
    let mut beats = Vec::new();
    let mut at = from;
    while at < to {
        if (at / QUARTER * (pc + 3)) % 5 < 2 + pc % 2 {
            beats.push(at + 60_000);
        }
        at += QUARTER;
    }
    let rows: Vec<Beat> = beats
        .iter()
        .map(|at| Beat {
            pc_id: pc,
            at: *at,
            ip: None,
            ip_changed: false,
            checkin: true,
        })
        .collect();
    portal.store.record_beats(&rows).await.unwrap();
    beats
}

/// Per local date of `beats`: (quarters with a check-in, hours with one).
fn per_day(beats: &[i64]) -> BTreeMap<NaiveDate, (i64, i64)> {
    let mut days: BTreeMap<NaiveDate, (i64, std::collections::BTreeSet<i64>)> = BTreeMap::new();
    for b in beats {
        let d = Copenhagen
            .timestamp_millis_opt(*b)
            .single()
            .unwrap()
            .date_naive();
        let e = days.entry(d).or_default();
        e.0 += 1;
        e.1.insert((b - midnight(d)) / HOUR);
    }
    days.into_iter()
        .map(|(d, (q, hours))| (d, (q, hours.len() as i64)))
        .collect()
}

async fn push_logins(portal: &Portal, pc: i64, days: &[(&str, i64)]) {
    let value = days
        .iter()
        .map(|(d, n)| format!("{d}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    portal
        .store
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
}

/// Moves a subscription's due time, as if it had been made before `due` (the page makes it
/// due at the first send time after the real clock).
async fn due_at(portal: &Portal, id: i64, due: i64) {
    sqlx::query("UPDATE report_subscriptions SET next_due = $1, next_attempt = $1 WHERE id = $2")
        .bind(due)
        .bind(id)
        .execute(portal.store.pool())
        .await
        .unwrap();
}

/// A subscription's (next_due, next_attempt, attempts, last_error, last_sent).
async fn state(portal: &Portal, id: i64) -> (i64, i64, i64, Option<String>, Option<i64>) {
    sqlx::query_as(
        "SELECT next_due, next_attempt, attempts, last_error, last_sent
         FROM report_subscriptions WHERE id = $1",
    )
    .bind(id)
    .fetch_one(portal.store.pool())
    .await
    .unwrap()
}

async fn ids_of(portal: &Portal, username: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT r.id FROM report_subscriptions r JOIN users u ON u.id = r.user_id
         WHERE u.username = $1 ORDER BY r.id",
    )
    .bind(username)
    .fetch_all(portal.store.pool())
    .await
    .unwrap()
}

async fn user_id(portal: &Portal, username: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
}

/// Subscribes through the page's form; the answer must be the redirect to the list.
async fn subscribe(u: &mut WebUser, report: &str, scope: &str, cadence: &str) {
    u.get("/rapporter/abonnementer").await;
    let a = u
        .post(
            "/rapporter/abonnementer",
            &[
                ("rapport", report),
                ("omfang", scope),
                ("hyppighed", cadence),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{report} {scope} {cadence}: {}", a.body);
    assert!(
        a.location.starts_with("/rapporter/abonnementer?ny="),
        "{}",
        a.location
    );
}

/// The first send time after `now` as a person reckons it: the coming Monday 06:00, or the
/// coming 1st 06:00, in Copenhagen.
fn first_due(cadence: Cadence, now: i64) -> i64 {
    let today = Copenhagen
        .timestamp_millis_opt(now)
        .single()
        .unwrap()
        .date_naive();
    (0..40)
        .map(|i| today + chrono::Duration::days(i))
        .filter(|d| match cadence {
            Cadence::Weekly => chrono::Datelike::weekday(d) == chrono::Weekday::Mon,
            Cadence::Monthly => chrono::Datelike::day(d) == 1,
        })
        .map(|d| at(&d.to_string(), 6, 0))
        .find(|t| *t > now)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_subscription_mails_the_weeks_xlsx_with_the_apis_figures() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let (p1, _) = portal.pc(&bib, "bib-1").await;
    let (p2, _) = portal.pc(&bib, "Læsesal \"hjørne\"").await;
    let (p3, _) = portal.pc(&borger, "borger-1").await;
    let (pf, _) = portal.pc(&fanoe, "fanoe-1").await;
    // The week of 23-29 November 2026, with a day on each side that must stay out.
    let (from, to) = (midnight(date("2026-11-22")), midnight(date("2026-12-01")));
    let mut beats = BTreeMap::new();
    for pc in [p1, p2, p3, pf] {
        beats.insert(pc, seed_checkins(&portal, pc, from, to).await);
    }
    push_logins(
        &portal,
        p1,
        &[
            ("2026-11-22", 50),
            ("2026-11-23", 4),
            ("2026-11-29", 7),
            ("2026-11-30", 60),
        ],
    )
    .await;
    push_logins(&portal, p3, &[("2026-11-24", 3)]).await;
    // What the mail must never carry: a PC's event text naming a citizen.
    sqlx::query(
        "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text,
           reported_at, summary, status) VALUES ($1, $2, 'offline', 0, $3, 'x', $3, $4, 'NEW')",
    )
    .bind(bib.id)
    .bind(p1)
    .bind(at("2026-11-25", 10, 0))
    .bind("sudo af Jens Hansen 010190-1234")
    .execute(portal.store.pool())
    .await
    .unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    portal.store.rebuild_report_rollups().await.unwrap();

    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida.get("/rapporter/abonnementer").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Du abonnerer ikke på nogen rapporter."));
    assert!(
        !page.body.contains("id=\"ingen-email\""),
        "ida has an address"
    );
    // Her choices: her customer and its sites, nothing of Fanø's.
    assert!(
        page.body
            .contains(&format!("value=\"kunde:{}\"", bib.customer_id))
    );
    assert!(page.body.contains("value=\"sted:aeroe-borger\""));
    assert!(!page.body.contains("fanoe") && !page.body.contains("Fanø"));
    let before = service_kit::db::now_ms();
    subscribe(&mut ida, "tilgaengelighed", "sted:aeroe-bib", "uge").await;
    subscribe(&mut ida, "brug", "sted:aeroe-bib", "uge").await;
    let after = service_kit::db::now_ms();
    let ids = ids_of(&portal, "ida").await;
    assert_eq!(ids.len(), 2);
    // Made now, each is first due at the coming Monday 06:00.
    let (due, ..) = state(&portal, ids[0]).await;
    assert!(
        due == first_due(Cadence::Weekly, before) || due == first_due(Cadence::Weekly, after),
        "{due}"
    );
    let list = ida
        .get(&format!("/rapporter/abonnementer?ny={}", ids[1]))
        .await;
    assert!(
        list.body.contains("Abonnementet er oprettet."),
        "{}",
        list.body
    );
    let rows = between(&list.body, "<table id=\"abonnementer\">", "</table>");
    assert_eq!(rows.matches("<tr data-id=").count(), 2);
    assert!(rows.contains("Tilgængelighed") && rows.contains("Brug") && rows.contains("Ugentlig"));
    assert!(rows.contains("Endnu ikke"), "not sent yet");
    let audit: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'report_subscription.create'
           AND actor = 'user:ida' AND site_id = $1",
    )
    .bind(bib.id)
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert_eq!(audit, 2);

    // It is Monday 30 November 2026, 06:00: both were made the week before.
    let monday = at("2026-11-30", 6, 0);
    for id in &ids {
        due_at(&portal, *id, monday).await;
    }
    let mailer = smtp.mailer();
    // A minute early, nothing is due.
    assert_eq!(
        tick(&portal.store, &mailer, monday - MINUTE).await.unwrap(),
        Round::default()
    );
    let round = tick(&portal.store, &mailer, monday).await.unwrap();
    assert_eq!(
        (round.sent, round.failed, round.skipped),
        (2, 0, 0),
        "{round:?}"
    );
    assert_eq!(smtp.count(), 2);

    let token = api_token(&portal, "ida").await;
    let mut by_report = BTreeMap::new();
    for i in 0..2 {
        let mail = Mail::decode(&python, smtp.mail(i)).await;
        let report = if mail.subject().contains("Tilgængelighed") {
            "availability"
        } else {
            "usage"
        };
        by_report.insert(report, mail);
    }
    let query = "site=aeroe-bib&from=2026-11-23&to=2026-11-30";
    for (report, name) in [("availability", "Tilgængelighed"), ("usage", "Brug")] {
        let mail = &by_report[report];
        assert_eq!(
            mail.subject(),
            format!("Rapport: {name}, aeroe-bib, uge 48 2026 (23.11.2026 – 29.11.2026)")
        );
        assert_eq!(mail.json["to"], "ida@example.dk");
        assert_eq!(mail.json["content_type"], "multipart/mixed");
        let (file, _) = mail.attachment();
        assert_eq!(
            file,
            format!("{report}-aeroe-bib-2026-11-23-2026-11-30.xlsx")
        );
        let text = mail.text();
        let page = if report == "availability" {
            "tilgaengelighed"
        } else {
            "brug"
        };
        for part in [
            format!("{name} for aeroe-bib, uge 48 2026"),
            format!("({file})"),
            format!("{PORTAL_URL}/rapporter/{page}?sted=aeroe-bib&fra=2026-11-23&til=2026-11-29"),
            format!("{PORTAL_URL}/rapporter/abonnementer"),
            "ingen oplysninger om borgere".into(),
        ] {
            assert!(text.contains(&part), "{part:?} in {text}");
        }
        for secret in ["Jens", "Hansen", "010190"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!mail.raw.contains("010190") && !mail.raw.contains("Jens"));
        let json = check_against_api(&portal, &token, &python, mail, report, query).await;
        let rows = want_rows(report, &json).1.len();
        assert!(
            text.contains(&format!(", {rows} rækker.")),
            "{rows} rows in {text}"
        );
        if report == "availability" {
            // Two PCs of the site, seven days each; each day's figures are the seeded beats'.
            assert_eq!(rows, 14);
            for pc in json["items"].as_array().unwrap() {
                let id = pc["pc_id"].as_i64().unwrap();
                assert!([p1, p2].contains(&id), "{pc}");
                let want = per_day(&beats[&id]);
                for d in pc["days"].as_array().unwrap() {
                    let day = date(d["date"].as_str().unwrap());
                    let (q, h) = want.get(&day).copied().unwrap_or_default();
                    assert_eq!(d["quarters_online"], q, "pc {id} {day}");
                    assert_eq!(d["hours_online"], h, "pc {id} {day}");
                    assert_eq!(d["hours_in_day"], 24);
                    assert_eq!(d["quarters_elapsed"], 96);
                }
            }
        } else {
            // The days p1 pushed inside the week; p3 is another site's, p2 pushed nothing.
            let got: Vec<(String, i64)> = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|pc| pc["days"].as_array().unwrap().clone())
                .map(|d| {
                    (
                        d["date"].as_str().unwrap().to_owned(),
                        d["logins"].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                got,
                vec![("2026-11-23".to_owned(), 4), ("2026-11-29".to_owned(), 7)]
            );
        }
    }

    // Sent: the next is due next Monday, and nothing more is sent this morning.
    for id in &ids {
        let (next_due, next_attempt, attempts, last_error, last_sent) = state(&portal, *id).await;
        assert_eq!(next_due, at("2026-12-07", 6, 0));
        assert_eq!(next_attempt, next_due);
        assert_eq!((attempts, last_error, last_sent), (0, None, Some(monday)));
    }
    let round = tick(&portal.store, &mailer, monday + HOUR).await.unwrap();
    assert_eq!(round, Round::default());
    assert_eq!(smtp.count(), 2);
    let list = ida.get("/rapporter/abonnementer").await;
    assert!(list.body.contains("30.11.2026 06:00") && list.body.contains("07.12.2026 06:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_subscription_of_a_customer_covers_october_and_its_25_hour_day() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let (p1, _) = portal.pc(&bib, "bib-1").await;
    let (p3, _) = portal.pc(&borger, "borger-1").await;
    let (pf, _) = portal.pc(&fanoe, "fanoe-1").await;
    // The days around the end of summer time (25 October 2026, 03:00 CEST becomes 02:00 CET)
    // and the month's first and last day.
    let mut beats: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for pc in [p1, p3, pf] {
        for (a, b) in [
            ("2026-09-30", "2026-10-02"),
            ("2026-10-24", "2026-10-27"),
            ("2026-10-31", "2026-11-02"),
        ] {
            let got = seed_checkins(&portal, pc, midnight(date(a)), midnight(date(b))).await;
            beats.entry(pc).or_default().extend(got);
        }
    }
    push_logins(
        &portal,
        p1,
        &[
            ("2026-09-30", 9),
            ("2026-10-01", 2),
            ("2026-10-25", 5),
            ("2026-10-31", 1),
        ],
    )
    .await;
    push_logins(&portal, p3, &[("2026-10-25", 8), ("2026-11-01", 3)]).await;
    push_logins(&portal, pf, &[("2026-10-25", 99)]).await;

    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    // From the report page's link: its report and customer are chosen on the form.
    let report_page = ida
        .get(&format!(
            "/rapporter/tilgaengelighed?kunde={}",
            bib.customer_id
        ))
        .await;
    let link = format!(
        "/rapporter/abonnementer?rapport=tilgaengelighed&amp;kunde={}#nyt",
        bib.customer_id
    );
    assert!(report_page.body.contains(&link), "{}", report_page.body);
    let form = ida
        .get(&link.replace("&amp;", "&").replace("#nyt", ""))
        .await;
    assert!(
        form.body
            .contains("<option value=\"tilgaengelighed\" selected>")
    );
    assert!(form.body.contains(&format!(
        "<option value=\"kunde:{}\" selected>Alle mine steder hos Ærø</option>",
        bib.customer_id
    )));
    let customer = format!("kunde:{}", bib.customer_id);
    subscribe(&mut ida, "tilgaengelighed", &customer, "maaned").await;
    subscribe(&mut ida, "brug", &customer, "maaned").await;
    let ids = ids_of(&portal, "ida").await;
    let first = at("2026-11-01", 6, 0);
    for id in &ids {
        due_at(&portal, *id, first).await;
    }
    let mailer = smtp.mailer();
    let round = tick(&portal.store, &mailer, first + 10 * MINUTE)
        .await
        .unwrap();
    assert_eq!(round.sent, 2, "{round:?}");
    let token = api_token(&portal, "ida").await;
    let query = format!("customer={}&from=2026-10-01&to=2026-11-01", bib.customer_id);
    for i in 0..2 {
        let mail = Mail::decode(&python, smtp.mail(i)).await;
        let (report, name) = if mail.subject().contains("Tilgængelighed") {
            ("availability", "Tilgængelighed")
        } else {
            ("usage", "Brug")
        };
        assert_eq!(
            mail.subject(),
            format!("Rapport: {name}, alle dine steder hos Ærø, oktober 2026")
        );
        let (file, _) = mail.attachment();
        assert_eq!(
            file,
            format!(
                "{report}-kunde-{}-2026-10-01-2026-11-01.xlsx",
                bib.customer_id
            )
        );
        let json = check_against_api(&portal, &token, &python, &mail, report, &query).await;
        if report == "availability" {
            // Both of the customer's sites, every day of October: 2 PCs x 31 days.
            let items = json["items"].as_array().unwrap();
            assert_eq!(want_rows(report, &json).1.len(), 62);
            for pc in items {
                let id = pc["pc_id"].as_i64().unwrap();
                assert!([p1, p3].contains(&id), "{pc}");
                let want = per_day(&beats[&id]);
                let days = pc["days"].as_array().unwrap();
                assert_eq!(days.len(), 31);
                for d in days {
                    let day = date(d["date"].as_str().unwrap());
                    let hours = if day == date("2026-10-25") { 25 } else { 24 };
                    assert_eq!(d["hours_in_day"], hours, "{day}");
                    assert_eq!(d["quarters_elapsed"], hours * 4, "{day}");
                    let (q, h) = want.get(&day).copied().unwrap_or_default();
                    assert_eq!(
                        (d["quarters_online"].as_i64(), d["hours_online"].as_i64()),
                        (Some(q), Some(h)),
                        "pc {id} {day}"
                    );
                }
            }
            let (q, _) = per_day(&beats[&p1])[&date("2026-10-25")];
            assert!(
                q > 96 / 3,
                "the long day has its extra hour's check-ins: {q}"
            );
        } else {
            let got: Vec<(String, String, i64)> = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|pc| {
                    let name = pc["name"].as_str().unwrap().to_owned();
                    pc["days"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |d| {
                            (
                                name.clone(),
                                d["date"].as_str().unwrap().to_owned(),
                                d["logins"].as_i64().unwrap(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let want: Vec<(String, String, i64)> = [
                ("bib-1", "2026-10-01", 2),
                ("bib-1", "2026-10-25", 5),
                ("bib-1", "2026-10-31", 1),
                ("borger-1", "2026-10-25", 8),
            ]
            .iter()
            .map(|(n, d, l)| ((*n).to_owned(), (*d).to_owned(), *l))
            .collect();
            assert_eq!(got, want);
        }
    }
    for id in &ids {
        assert_eq!(state(&portal, *id).await.0, at("2026-12-01", 6, 0));
    }
}

/// A subscription made through the store, as the page does, for `user`.
async fn subscription(
    portal: &Portal,
    user: &str,
    report: ReportKind,
    target: Target,
    cadence: Cadence,
    due: i64,
) -> i64 {
    let id = user_id(portal, user).await;
    let scope = portal.store.scope_of_user(id).await.unwrap().unwrap();
    let s = portal
        .store
        .create_subscription(
            &scope,
            report,
            target,
            cadence,
            service_kit::web::Lang::En,
            due - HOUR,
        )
        .await
        .unwrap()
        .expect("a site the user sees");
    due_at(portal, s.id, due).await;
    s.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_retried_with_backoff_and_given_up_when_the_next_period_is_due() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let (p1, _) = portal.pc(&bib, "bib-1").await;
    seed_checkins(
        &portal,
        p1,
        midnight(date("2026-11-23")),
        midnight(date("2026-11-30")),
    )
    .await;
    portal.web_user("ida", "site_user", &bib).await;
    let monday = at("2026-11-30", 6, 0);
    let id = subscription(
        &portal,
        "ida",
        ReportKind::Availability,
        Target::Site(bib.id),
        Cadence::Weekly,
        monday,
    )
    .await;
    let mailer = smtp.mailer();
    smtp.refuse.store(true, Ordering::SeqCst);
    // Refused: tried again after 5 minutes, 30 minutes, 2 hours, then every 6 hours; the
    // period stays the one due.
    let mut now = monday;
    for (n, wait) in [
        (1, 5 * MINUTE),
        (2, 30 * MINUTE),
        (3, 2 * HOUR),
        (4, 6 * HOUR),
        (5, 6 * HOUR),
    ] {
        // Not before its time.
        let early = tick(&portal.store, &mailer, now - 1).await.unwrap();
        assert_eq!(early, Round::default(), "attempt {n}");
        let round = tick(&portal.store, &mailer, now).await.unwrap();
        assert_eq!((round.sent, round.failed), (0, 1), "attempt {n}");
        let (next_due, next_attempt, attempts, last_error, last_sent) = state(&portal, id).await;
        assert_eq!(next_due, monday, "attempt {n}: the period stays");
        assert_eq!(next_attempt, now + wait, "attempt {n}");
        assert_eq!(
            (attempts, last_error.as_deref(), last_sent),
            (n, Some("smtp"), None)
        );
        now += wait;
    }
    assert_eq!(smtp.count(), 0);
    let mut web = WebUser::login(&portal, "ida").await;
    let page = web.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains(
            "mailserveren afviste e-mailen eller svarede ikke (prøver igen 30.11.2026 20:35)"
        ),
        "{}",
        page.body
    );
    // The server takes mail again: the next attempt sends it, and the period moves on.
    smtp.refuse.store(false, Ordering::SeqCst);
    let round = tick(&portal.store, &mailer, now).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    assert_eq!(smtp.count(), 1);
    let (next_due, next_attempt, attempts, last_error, last_sent) = state(&portal, id).await;
    assert_eq!(
        (next_due, next_attempt),
        (at("2026-12-07", 6, 0), at("2026-12-07", 6, 0))
    );
    assert_eq!((attempts, last_error, last_sent), (0, None, Some(now)));
    let mail = Mail::decode(&python, smtp.mail(0)).await;
    // In the language the subscription was made in (English here).
    assert_eq!(
        mail.subject(),
        "Report: Availability, aeroe-bib, week 48 2026 (2026-11-23 to 2026-11-29)"
    );
    assert!(mail.text().contains("7 rows."), "{}", mail.text());

    // Refused for a whole week: every 6 hours, the last attempt at the next period's due
    // time, when this period is given up (and the new one tried at once).
    smtp.refuse.store(true, Ordering::SeqCst);
    let next = at("2026-12-07", 6, 0);
    let mut now = next;
    let mut rounds = 0;
    loop {
        let round = tick(&portal.store, &mailer, now).await.unwrap();
        rounds += 1;
        let (next_due, next_attempt, ..) = state(&portal, id).await;
        if round.gave_up == 1 {
            assert_eq!(now, at("2026-12-14", 6, 0), "given up when the next is due");
            assert_eq!(round.failed, 1, "and the next period tried at once");
            assert_eq!(
                next_due, now,
                "the week of 7-13 December is the one to send now"
            );
            assert_eq!(next_attempt, now + 5 * MINUTE);
            break;
        }
        assert_eq!(next_due, next);
        assert!(
            next_attempt <= at("2026-12-14", 6, 0),
            "never past the next due time"
        );
        assert!(rounds < 40, "rounds until given up");
        now = next_attempt;
    }
    assert_eq!(smtp.count(), 1);
    assert_eq!(state(&portal, id).await.2, 1, "attempts at the new period");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_lost_access_gets_nothing() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let (p1, _) = portal.pc(&bib, "bib-1").await;
    let (p3, _) = portal.pc(&borger, "borger-1").await;
    for pc in [p1, p3] {
        seed_checkins(
            &portal,
            pc,
            midnight(date("2026-11-23")),
            midnight(date("2026-11-30")),
        )
        .await;
    }
    // Sif is a site user of both sites; Bo has no e-mail address.
    portal.web_user("sif", "site_user", &bib).await;
    let sif = user_id(&portal, "sif").await;
    portal
        .store
        .add_membership(sif, "site_user", None, Some(borger.id))
        .await
        .unwrap();
    let bo = portal
        .store
        .add_user("bo", "", PASSWORD, false)
        .await
        .unwrap();
    portal
        .store
        .add_membership(bo.id, "site_user", None, Some(bib.id))
        .await
        .unwrap();
    let monday = at("2026-11-30", 6, 0);
    let site_sub = subscription(
        &portal,
        "sif",
        ReportKind::Availability,
        Target::Site(bib.id),
        Cadence::Weekly,
        monday,
    )
    .await;
    let customer_sub = subscription(
        &portal,
        "sif",
        ReportKind::Availability,
        Target::Customer(bib.customer_id),
        Cadence::Weekly,
        monday,
    )
    .await;
    let bo_sub = subscription(
        &portal,
        "bo",
        ReportKind::Usage,
        Target::Site(bib.id),
        Cadence::Weekly,
        monday,
    )
    .await;
    let mut bo_web = WebUser::login(&portal, "bo").await;
    let page = bo_web.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains("id=\"ingen-email\""),
        "the page says Bo has no address"
    );

    // Sif loses the library (an administrator takes her role there away).
    let admin = borgerpc_admin::store::access::Scope::cli(&portal.store)
        .await
        .unwrap();
    portal
        .store
        .remove_user(&admin, sif, Some(bib.id))
        .await
        .unwrap()
        .unwrap();

    let mailer = smtp.mailer();
    let round = tick(&portal.store, &mailer, monday).await.unwrap();
    assert_eq!(
        (round.sent, round.skipped, round.failed),
        (1, 2, 0),
        "{round:?}"
    );
    assert_eq!(smtp.count(), 1, "only the customer's sites Sif still sees");
    let next = at("2026-12-07", 6, 0);
    for (id, note) in [(site_sub, "no_access"), (bo_sub, "no_email")] {
        let (next_due, _, attempts, last_error, last_sent) = state(&portal, id).await;
        assert_eq!(
            (next_due, attempts, last_error.as_deref(), last_sent),
            (next, 0, Some(note), None)
        );
    }
    let mail = Mail::decode(&python, smtp.mail(0)).await;
    let (_, bytes) = mail.attachment();
    let file = mail.dir.join("cells.xlsx");
    std::fs::write(&file, bytes).unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/xlsx_cells.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let book: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sites: std::collections::BTreeSet<&str> = book[0]["rows"].as_array().unwrap()[1..]
        .iter()
        .map(|r| r[1]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        sites,
        ["aeroe-borger"].into(),
        "no row of the site Sif lost"
    );
    let mut sif_web = WebUser::login(&portal, "sif").await;
    let page = sif_web.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains("you no longer see the site")
            || page.body.contains("du ser ikke længere stedet"),
        "{}",
        page.body
    );

    // Deleting a site deletes its subscriptions; deleting the user deletes theirs.
    let sites_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_subscriptions")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(sites_before, 3);
    portal
        .store
        .delete_site(&admin, bib.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids_of(&portal, "sif").await, vec![customer_sub]);
    assert!(ids_of(&portal, "bo").await.is_empty());
    portal
        .store
        .remove_user(&admin, sif, None)
        .await
        .unwrap()
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_subscriptions")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_a_subscription_once_and_the_portal_runs_its_scheduler() {
    let smtp = smtp_server().await;
    let portal = Portal::start_with(|c| {
        c.notifications.smtp_host = Some("127.0.0.1".into());
        c.notifications.smtp_port = smtp.port;
        c.notifications.smtp_security = "none".into();
        c.notifications.report_check_seconds = 1;
        c.server.public_url = Some(PORTAL_URL.into());
    })
    .await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.pc(&bib, "bib-1").await;
    portal.web_user("ida", "site_user", &bib).await;
    // Two instances' rounds at once on one database: one claims it, one mail. (A year
    // ahead, where the portal's own scheduler, on the real clock, does not reach.)
    let far = Cadence::Weekly.due_after(service_kit::db::now_ms() + 365 * 24 * HOUR);
    let id = subscription(
        &portal,
        "ida",
        ReportKind::Usage,
        Target::Site(bib.id),
        Cadence::Weekly,
        far,
    )
    .await;
    let (a, b) = (smtp.mailer(), smtp.mailer());
    let (ra, rb) = tokio::join!(
        tick(&portal.store, &a, far + MINUTE),
        tick(&portal.store, &b, far + MINUTE)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.sent + rb.sent, 1, "{ra:?} {rb:?}");
    assert_eq!(smtp.count(), 1);
    // The portal's own scheduler (every second here) sends what is due by the clock.
    let now = service_kit::db::now_ms();
    due_at(&portal, id, Cadence::Weekly.due_at_or_before(now)).await;
    // The mail, and then its outcome (written after the server took it).
    wait_for(
        "the scheduler's mail",
        std::time::Duration::from_secs(10),
        || async {
            let moved_on = state(&portal, id).await.0 != Cadence::Weekly.due_at_or_before(now);
            (smtp.count() == 2 && moved_on).then_some(())
        },
    )
    .await;
    let (next_due, _, _, last_error, last_sent) = state(&portal, id).await;
    assert_eq!(next_due, Cadence::Weekly.due_after(now));
    assert!(last_sent.is_some_and(|t| t >= now) && last_error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_refuses_by_field_and_bounds_what_a_user_subscribes() {
    let portal = Portal::start().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    portal.web_user("ida", "customer_admin", &bib).await;
    portal.web_user("fie", "customer_admin", &fanoe).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/rapporter/abonnementer").await;
    for (form, field, label) in [
        (
            &[
                ("rapport", "pdf"),
                ("omfang", "sted:aeroe-bib"),
                ("hyppighed", "uge"),
            ],
            "rapport",
            "Rapport",
        ),
        (
            &[
                ("rapport", "brug"),
                ("omfang", "sted:aeroe-bib"),
                ("hyppighed", "dagligt"),
            ],
            "hyppighed",
            "Hyppighed",
        ),
        (
            &[
                ("rapport", "brug"),
                ("omfang", "aeroe-bib"),
                ("hyppighed", "uge"),
            ],
            "omfang",
            "Sted eller kunde",
        ),
        (
            &[
                ("rapport", "brug"),
                ("omfang", "kunde:x"),
                ("hyppighed", "uge"),
            ],
            "omfang",
            "Sted eller kunde",
        ),
        (
            &[("rapport", "brug"), ("omfang", ""), ("hyppighed", "uge")],
            "omfang",
            "Sted eller kunde",
        ),
    ] {
        let a = ida.post("/rapporter/abonnementer", form).await;
        assert_eq!(a.status, 422, "{form:?}");
        let error = between(&a.body, "id=\"fejl\">", "<");
        assert!(
            error.starts_with(&format!("{label}: ")),
            "{form:?}: {error}"
        );
        assert!(
            a.body.contains(&format!(
                "id=\"{field}\" name=\"{field}\" aria-invalid=\"true\""
            )),
            "{form:?}"
        );
    }
    // Another customer's site or customer, or one that does not exist, is not found.
    for scope in [
        "sted:fanoe-bib".to_owned(),
        format!("kunde:{}", fanoe.customer_id),
        "sted:findes-ikke".to_owned(),
        "kunde:987654".to_owned(),
    ] {
        let a = ida
            .post(
                "/rapporter/abonnementer",
                &[
                    ("rapport", "brug"),
                    ("omfang", &scope),
                    ("hyppighed", "uge"),
                ],
            )
            .await;
        assert_eq!(a.status, 404, "{scope}");
    }
    // Without the form's token: refused.
    let a = ida
        .post_without_token(
            "/rapporter/abonnementer",
            &[
                ("rapport", "brug"),
                ("omfang", "sted:aeroe-bib"),
                ("hyppighed", "uge"),
            ],
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(ids_of(&portal, "ida").await.is_empty());

    // The same twice is refused; at most 20 in all.
    subscribe(&mut ida, "brug", "sted:aeroe-bib", "uge").await;
    let a = ida
        .post(
            "/rapporter/abonnementer",
            &[
                ("rapport", "brug"),
                ("omfang", "sted:aeroe-bib"),
                ("hyppighed", "uge"),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains("du abonnerer allerede på den rapport"),
        "{}",
        a.body
    );
    for uid in ["aeroe-2", "aeroe-3", "aeroe-4", "aeroe-5"] {
        portal.site("Ærø", uid).await;
    }
    let mut made = 1;
    'all: for scope in [
        "sted:aeroe-bib",
        "sted:aeroe-2",
        "sted:aeroe-3",
        "sted:aeroe-4",
        "sted:aeroe-5",
    ] {
        for report in ["brug", "tilgaengelighed"] {
            for cadence in ["uge", "maaned"] {
                if made == 20 {
                    break 'all;
                }
                if (scope, report, cadence) == ("sted:aeroe-bib", "brug", "uge") {
                    continue;
                }
                subscribe(&mut ida, report, scope, cadence).await;
                made += 1;
            }
        }
    }
    assert_eq!(ids_of(&portal, "ida").await.len(), 20);
    let a = ida
        .post(
            "/rapporter/abonnementer",
            &[
                ("rapport", "tilgaengelighed"),
                ("omfang", "sted:aeroe-5"),
                ("hyppighed", "maaned"),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(
        a.body
            .contains("du har allerede 20 abonnementer, det højeste antal"),
        "{}",
        between(&a.body, "id=\"fejl\">", "<")
    );
    assert_eq!(ids_of(&portal, "ida").await.len(), 20);

    // Only one's own are listed and deleted: Fie's id is not found for Ida.
    let mut fie = WebUser::login(&portal, "fie").await;
    subscribe(&mut fie, "brug", "sted:fanoe-bib", "uge").await;
    let fies = ids_of(&portal, "fie").await[0];
    let page = ida.get("/rapporter/abonnementer").await;
    assert!(!page.body.contains("fanoe-bib"));
    for id in [fies.to_string(), "x".into(), "999999".into()] {
        let a = ida
            .post("/rapporter/abonnementer/slet", &[("id", &id)])
            .await;
        assert_eq!(a.status, 404, "{id}");
    }
    assert_eq!(ids_of(&portal, "fie").await, vec![fies]);
    let mine = ids_of(&portal, "ida").await[0];
    let a = ida
        .post("/rapporter/abonnementer/slet", &[("id", &mine.to_string())])
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/rapporter/abonnementer?slettet=ja")
    );
    let page = ida.get(&a.location).await;
    assert!(page.body.contains("Abonnementet er slettet."));
    assert_eq!(ids_of(&portal, "ida").await.len(), 19);
    let deleted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'report_subscription.delete' AND actor = 'user:ida'",
    )
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert_eq!(deleted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_over_the_file_bound_is_mailed_as_a_link() {
    let portal = Portal::start().await;
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    // 3,300 PCs x 31 days of October: more rows than a file holds (100,000).
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3300)
         INSERT INTO pcs (site_id, uid, mac, name, created_at)
         SELECT $1, 'big-' || i, 'x', 'pc-' || i, 1 FROM n",
    )
    .bind(bib.id)
    .execute(portal.store.pool())
    .await
    .unwrap();
    portal.web_user("ida", "site_user", &bib).await;
    let first = at("2026-11-01", 6, 0);
    let id = subscription(
        &portal,
        "ida",
        ReportKind::Availability,
        Target::Site(bib.id),
        Cadence::Monthly,
        first,
    )
    .await;
    let round = tick(&portal.store, &smtp.mailer(), first).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    let mail = Mail::decode(&python, smtp.mail(0)).await;
    assert_eq!(mail.json["content_type"], "text/plain");
    assert!(mail.json["attachments"].as_array().unwrap().is_empty());
    let text = mail.text();
    for part in [
        "Availability for aeroe-bib, October 2026.",
        "too large to attach (more than 100,000 rows",
        &format!(
            "{PORTAL_URL}/rapporter/tilgaengelighed?sted=aeroe-bib&fra=2026-10-01&til=2026-10-31"
        ),
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    let (next_due, _, attempts, last_error, last_sent) = state(&portal, id).await;
    assert_eq!(next_due, at("2026-12-01", 6, 0));
    assert_eq!(
        (attempts, last_error.as_deref(), last_sent),
        (0, Some("too_large"), Some(first))
    );
    let mut web = WebUser::login(&portal, "ida").await;
    let page = web.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains("rapporten var for stor til at vedhæfte"),
        "{}",
        page.body
    );
}

/// The workbook a mail carries, as openpyxl reads it: its sheets by name.
async fn workbook(python: &Path, mail: &Mail) -> BTreeMap<String, Vec<Vec<Value>>> {
    let (_, bytes) = mail.attachment();
    let file = mail.dir.join("book.xlsx");
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
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let book: Value = serde_json::from_slice(&out.stdout).unwrap();
    book.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let rows = s["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().clone())
                .collect();
            (s["name"].as_str().unwrap().to_owned(), rows)
        })
        .collect()
}

/// What a sheet's column holds of a JSON row: the same name, or what the file calls it.
fn json_field(sheet: &str, column: &str, row: &Value) -> Value {
    let handling = |k: &str| row["time_to_handle"][k].clone();
    let hours = |k: &str| {
        handling(k)
            .as_f64()
            .map_or(Value::Null, |ms| json!(ms / 3_600_000.0))
    };
    match (sheet, column) {
        (_, "script") => row["name"].clone(),
        (_, "scope") => json!(if row["global"] == true {
            "global"
        } else {
            "local"
        }),
        ("sites", "site") if row.get("uid").is_some() => row["uid"].clone(),
        (_, "site_name") => row["name"].clone(),
        (_, "handled_with_time") => handling("handled"),
        (_, "median_hours") => hours("median_ms"),
        (_, "p90_hours") => hours("p90_ms"),
        (_, "os_release" | "client_version") => row["value"].clone(),
        (_, "release_support") => row["support"].clone(),
        (_, "release_support_ends") => row["support_ends"].clone(),
        (_, "client_check") => row["check"].clone(),
        (_, "rule") => row["name"].clone(),
        _ => row[column].clone(),
    }
}

/// A sheet's rows, cell for cell, against a list of the JSON's.
fn same_rows(sheet: &str, rows: &[Vec<Value>], list: &Value) {
    let list = list.as_array().unwrap();
    assert_eq!(
        rows.len(),
        list.len() + 1,
        "{sheet}: a header and a row each"
    );
    assert!(!list.is_empty(), "{sheet}: rows to compare");
    let header: Vec<&str> = rows[0]
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    for (row, want) in rows[1..].iter().zip(list) {
        for (cell, column) in row.iter().zip(&header) {
            let expected = json_field(sheet, column, want);
            let got = &cell["value"];
            let same = match (&expected, got) {
                (Value::Null, Value::Null) => true,
                (Value::Number(a), Value::Number(b)) => {
                    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9
                }
                // A date is a date cell (openpyxl reads it as a datetime at midnight).
                (Value::String(a), Value::String(b)) if cell["type"] != "str" => {
                    b.starts_with(a.as_str())
                }
                (a, b) => a == b,
            };
            assert!(same, "{sheet}.{column}: {got} is not {expected} ({want})");
        }
    }
}

/// Subscribes `user` on the page, makes the subscription due at `due`, sends it, and
/// decodes the one mail.
async fn mailed(
    portal: &Portal,
    smtp: &Smtp,
    python: &Path,
    user: (&mut WebUser, &str),
    (slug, scope, cadence): (&str, &str, &str),
    due: i64,
) -> Mail {
    let (web, username) = user;
    subscribe(web, slug, scope, cadence).await;
    let id = *ids_of(portal, username).await.last().unwrap();
    due_at(portal, id, due).await;
    let before = smtp.count();
    let round = tick(&portal.store, &smtp.mailer(), due).await.unwrap();
    assert_eq!(
        (round.sent, round.failed, round.skipped),
        (1, 0, 0),
        "{slug}: {round:?}"
    );
    let mail = Mail::decode(python, smtp.mail(before)).await;
    let text = mail.text();
    assert!(text.contains("ingen oplysninger om borgere"), "{text}");
    assert!(text.contains("med et ark pr. tabel"), "{text}");
    mail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_security_subscriptions_mail_their_count_tables_as_the_api_counts_them() {
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;

    // Jobs: October 2026, with its 25-hour day, for the customer's sites.
    let portal = Portal::start().await;
    let seed = crate::common::ops::jobs(&portal).await;
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let customer = seed.bib.customer_id;
    let mail = mailed(
        &portal,
        &smtp,
        &python,
        (&mut ida, "ida"),
        ("jobs", &format!("kunde:{customer}"), "maaned"),
        at("2026-11-01", 6, 0),
    )
    .await;
    assert_eq!(
        mail.subject(),
        "Rapport: Jobs, alle dine steder hos Ærø, oktober 2026"
    );
    assert_eq!(
        mail.attachment().0,
        format!("jobs-kunde-{customer}-2026-10-01-2026-11-01.xlsx")
    );
    let token = api_token(&portal, "ida").await;
    let json = api(
        &portal,
        &token,
        &format!("/api/reports/jobs?customer={customer}&from=2026-10-01&to=2026-11-01"),
    )
    .await;
    let book = workbook(&python, &mail).await;
    assert_eq!(
        book.keys().collect::<Vec<_>>(),
        ["periods", "scripts", "sites"],
        "the count tables only"
    );
    for sheet in ["scripts", "sites", "periods"] {
        same_rows(sheet, &book[sheet], &json[sheet]);
    }
    assert_eq!(book["periods"].len(), 1 + 31, "a day each");
    // The seeded jobs of Ærø's sites created in October, all of them counted.
    let sum: i64 = json["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["jobs"].as_i64().unwrap())
        .sum();
    assert!(
        sum > 0 && sum == json["totals"]["jobs"].as_i64().unwrap(),
        "{sum}"
    );
    // No log line of a failed job in the mail.
    assert!(!mail.raw.contains("linje 0") && !mail.raw.contains("executable"));

    // Security: March 2026, with its 23-hour day, for one site.
    let portal = Portal::start().await;
    let seed = crate::common::ops::events(&portal).await;
    portal.web_user("ida", "customer_admin", &seed.bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let mail = mailed(
        &portal,
        &smtp,
        &python,
        (&mut ida, "ida"),
        ("sikkerhed", "sted:aeroe-bib", "maaned"),
        at("2026-04-01", 6, 0),
    )
    .await;
    assert_eq!(mail.subject(), "Rapport: Sikkerhed, aeroe-bib, marts 2026");
    let token = api_token(&portal, "ida").await;
    let json = api(
        &portal,
        &token,
        "/api/reports/security?site=aeroe-bib&from=2026-03-01&to=2026-04-01",
    )
    .await;
    let book = workbook(&python, &mail).await;
    assert_eq!(
        book.keys().collect::<Vec<_>>(),
        ["levels", "periods", "rules", "sites"]
    );
    for sheet in ["levels", "rules", "sites", "periods"] {
        same_rows(sheet, &book[sheet], &json[sheet]);
    }
    let events = seed
        .events
        .iter()
        .filter(|e| e.site == "aeroe-bib")
        .filter(|e| (at("2026-03-01", 0, 0)..at("2026-04-01", 0, 0)).contains(&e.occurred_at))
        .count() as i64;
    assert!(events > 0);
    assert_eq!(json["totals"]["events"], events, "the seeded events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_inventory_subscriptions_mail_counts_and_no_names() {
    let python = openpyxl_python().await;
    let smtp = smtp_server().await;
    let portal = Portal::start().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.site("Ærø", "aeroe-borger").await;
    portal.site("Fanø", "fanoe-bib").await;
    for (n, a) in crate::reports_inventory::agents().iter().enumerate() {
        crate::reports_inventory::report(&portal, a, n).await;
    }
    // Week 48 of 2026: what staff did, by a user whose name must not leave the portal.
    let week: Vec<(&str, i64)> = vec![
        ("pc.activate", at("2026-11-23", 9, 0)),
        ("pc.activate", at("2026-11-24", 23, 30)),
        ("pc.deactivate", at("2026-11-24", 10, 0)),
        ("group.create", at("2026-11-29", 12, 0)),
        ("pc.activate", at("2026-11-30", 0, 30)),
    ];
    for (action, when) in &week {
        portal
            .store
            .audit("user:anne.mortensen", Some(bib.id), action, "pc:1")
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET at = $1 WHERE id = (SELECT MAX(id) FROM audit_log)")
            .bind(when)
            .execute(portal.store.pool())
            .await
            .unwrap();
    }
    // The records were moved in time around the store: count their roll-up again.
    portal.store.rebuild_report_rollups().await.unwrap();
    portal.web_user("ida", "customer_admin", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let monday = at("2026-11-30", 6, 0);
    let mail = mailed(
        &portal,
        &smtp,
        &python,
        (&mut ida, "ida"),
        ("aendringer", "sted:aeroe-bib", "uge"),
        monday,
    )
    .await;
    let token = api_token(&portal, "ida").await;
    let json = api(
        &portal,
        &token,
        "/api/reports/changes?site=aeroe-bib&from=2026-11-23&to=2026-11-30",
    )
    .await;
    let book = workbook(&python, &mail).await;
    assert_eq!(book.keys().collect::<Vec<_>>(), ["actions", "days"]);
    same_rows("days", &book["days"], &json["days"]);
    same_rows("actions", &book["actions"], &json["by_action"]);
    // Counted from what was seeded: four records in the week (the fifth is the Monday after),
    // two activations.
    assert_eq!(json["count"], 4);
    assert_eq!(json["totals"]["activations"], 2);
    assert!(!mail.raw.contains("anne") && !mail.raw.contains("mortensen"));
    assert!(!serde_json::to_string(&book).unwrap().contains("anne"));

    // The customer's subscription counts the customer's own records without a site too (a
    // site deleted, in the week), as the customer's report does; the site's does not.
    portal
        .store
        .audit_customer(
            "user:anne.mortensen",
            bib.customer_id,
            "site.delete",
            &format!("site:999 (gammel) customer:{}", bib.customer_id),
        )
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET at = $1 WHERE id = (SELECT MAX(id) FROM audit_log)")
        .bind(at("2026-11-25", 8, 0))
        .execute(portal.store.pool())
        .await
        .unwrap();
    portal.store.rebuild_report_rollups().await.unwrap();
    let mail = mailed(
        &portal,
        &smtp,
        &python,
        (&mut ida, "ida"),
        ("aendringer", &format!("kunde:{}", bib.customer_id), "uge"),
        monday,
    )
    .await;
    let json = api(
        &portal,
        &token,
        &format!(
            "/api/reports/changes?customer={}&from=2026-11-23&to=2026-11-30",
            bib.customer_id
        ),
    )
    .await;
    let book = workbook(&python, &mail).await;
    same_rows("days", &book["days"], &json["days"]);
    same_rows("actions", &book["actions"], &json["by_action"]);
    assert_eq!(json["count"], 5, "the site's four and the customer's own");
    let deleted = json["by_action"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "site.delete")
        .unwrap();
    assert_eq!(deleted["count"], 1);
    let site_only = api(
        &portal,
        &token,
        "/api/reports/changes?site=aeroe-bib&from=2026-11-23&to=2026-11-30",
    )
    .await;
    assert_eq!(site_only["count"], 4);
    assert!(!mail.raw.contains("anne") && !mail.raw.contains("mortensen"));
    // Only the site's subscription goes on below.
    sqlx::query("DELETE FROM report_subscriptions WHERE report = 'changes' AND site_id IS NULL")
        .execute(portal.store.pool())
        .await
        .unwrap();

    // The inventory: the PCs' state when sent, as counts (no PC's row or name).
    let mail = mailed(
        &portal,
        &smtp,
        &python,
        (&mut ida, "ida"),
        ("inventar", &format!("kunde:{}", bib.customer_id), "uge"),
        monday,
    )
    .await;
    let json = api(
        &portal,
        &token,
        &format!("/api/reports/inventory?customer={}", bib.customer_id),
    )
    .await;
    let book = workbook(&python, &mail).await;
    assert_eq!(
        book.keys().collect::<Vec<_>>(),
        ["client_versions", "models", "products", "releases", "sites"]
    );
    same_rows("products", &book["products"], &json["by_product"]);
    same_rows("releases", &book["releases"], &json["by_release"]);
    same_rows(
        "client_versions",
        &book["client_versions"],
        &json["by_client_version"],
    );
    same_rows("sites", &book["sites"], &json["by_site"]);
    assert_eq!(json["other_models"], 0);
    same_rows("models", &book["models"], &json["by_model"]);
    let pcs: i64 = json["by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pcs"].as_i64().unwrap())
        .sum();
    let seeded = crate::reports_inventory::agents()
        .iter()
        .filter(|a| a.site.starts_with("aeroe"))
        .count() as i64;
    assert_eq!(pcs, seeded, "every seeded PC of Ærø");
    for a in crate::reports_inventory::agents() {
        assert!(!mail.raw.contains(a.name), "{} in the mail", a.name);
    }

    // A site user reads no changes: the page does not offer it, and a made-up form is "not
    // found"; the other reports are theirs.
    portal.web_user("sune", "site_user", &bib).await;
    let mut sune = WebUser::login(&portal, "sune").await;
    let page = sune.get("/rapporter/abonnementer").await;
    assert!(!page.body.contains("value=\"aendringer\""), "{}", page.body);
    assert!(page.body.contains("value=\"jobs\"") && page.body.contains("value=\"inventar\""));
    let a = sune
        .post(
            "/rapporter/abonnementer",
            &[
                ("rapport", "aendringer"),
                ("omfang", "sted:aeroe-bib"),
                ("hyppighed", "uge"),
            ],
        )
        .await;
    assert_eq!(a.status, 404);
    assert!(ids_of(&portal, "sune").await.is_empty());
    // An administrator who becomes a site user gets no more changes mails; the inventory is
    // still theirs.
    let ida_id = user_id(&portal, "ida").await;
    let changes_id = ids_of(&portal, "ida").await[0];
    sqlx::query(
        "UPDATE memberships SET role = 'site_user', customer_id = NULL, site_id = $2
         WHERE user_id = $1",
    )
    .bind(ida_id)
    .bind(bib.id)
    .execute(portal.store.pool())
    .await
    .unwrap();
    let next = at("2026-12-07", 6, 0);
    let round = tick(&portal.store, &smtp.mailer(), next).await.unwrap();
    assert_eq!((round.sent, round.skipped), (1, 1), "{round:?}");
    assert_eq!(
        state(&portal, changes_id).await.3.as_deref(),
        Some("no_access")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriptions_page_says_when_no_mail_server_is_set() {
    let portal = Portal::start().await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.web_user("ida", "site_user", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains("id=\"ingen-mailserver\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Portalen har ingen mailserver sat op"));
    ida.post(
        "/sprog",
        &[("sprog", "en"), ("tilbage", "/rapporter/abonnementer")],
    )
    .await;
    let page = ida.get("/rapporter/abonnementer").await;
    assert!(
        page.body.contains("The portal has no mail server set up"),
        "{}",
        page.body
    );

    let smtp = smtp_server().await;
    let port = smtp.port;
    let portal = Portal::start_with(|c| {
        c.notifications.smtp_host = Some("127.0.0.1".into());
        c.notifications.smtp_port = port;
        c.notifications.smtp_security = "none".into();
    })
    .await;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    portal.web_user("ida", "site_user", &bib).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida.get("/rapporter/abonnementer").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("ingen-mailserver"), "{}", page.body);
}
