//! What the jobs and security report tests seed, and the figures they expect, computed here
//! from what was seeded (with chrono-tz's reckoning of local dates, not the code's).
//!
//! Two customers: Ærø (sites `aeroe-bib` and `aeroe-borger`) and Fanø (`fanoe-bib`). The PCs
//! register and report over the client-api as the agent does (`register_new_computer`,
//! `get_instructions`, `send_status_info`, `push_security_events`); operators run scripts,
//! restart jobs and handle events through the store's functions, the API and the pages. PC
//! `bib-2` is moved from the library to the citizens' service half way (by its row: no
//! operation moves a PC yet), so its earlier jobs and events stay with the library.
//!
//! Times: the store stamps a job with the clock (`created_at`, `reported_at`); the test then
//! moves each job's row to the instant it stands for, around 25 October 2026 (a 25-hour day),
//! so jobs fall on both sides of midnight and of the clock's change. Events get their time
//! from the PC's own text, around 29 March 2026 (a 23-hour day), and the offline check is
//! run with its clock set there; they are handled now.

use super::Portal;
use borgerpc_admin::store::history::Beat;
use borgerpc_admin::store::jobs::NewScript;
use borgerpc_admin::store::tenants::Site;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Europe::Copenhagen;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// An instant written with its offset (`2026-10-25T02:30:00+01:00`), in Unix ms.
pub(crate) fn at(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

/// The local date of an instant in Copenhagen.
pub(crate) fn local_date(ms: i64) -> NaiveDate {
    chrono::Utc
        .timestamp_millis_opt(ms)
        .unwrap()
        .with_timezone(&Copenhagen)
        .date_naive()
}

/// The agent's `started`/`finished` texts read as Copenhagen time: the run in ms, or none
/// when it would end before it began.
pub(crate) fn run_ms(started: &str, finished: &str) -> Option<i64> {
    let t = |s: &str| {
        let n = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        Copenhagen
            .from_local_datetime(&n)
            .earliest()
            .unwrap()
            .timestamp_micros()
    };
    let micros = t(finished) - t(started);
    (micros >= 0).then_some(micros / 1000)
}

/// A failed job's last lines as the report promises them: the blank lines at the end dropped,
/// the last 600 bytes, of which the last 5 lines.
pub(crate) fn last_lines(log: &str) -> Vec<String> {
    let log = log.trim_end_matches(['\n', '\r']);
    let mut start = log.len().saturating_sub(600);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    let lines: Vec<&str> = log[start..].lines().collect();
    lines[lines.len().saturating_sub(5)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// A PC registered over the client-api with the agent's key, activated: its id and uid.
pub(crate) async fn agent_pc(portal: &Portal, site: &Site, name: &str, n: u8) -> (i64, String) {
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": format!("02:00:00:00:10:{n:02x}"), "name": name, "site": site.uid,
                   "configuration": {"hostname": name}, "client_key": KEY}),
        )
        .await;
    assert_eq!(s, 200, "{uid}");
    let uid = uid.as_str().unwrap().to_owned();
    let id = portal.activate(site, &uid).await.id;
    (id, uid)
}

/// Moves a PC to another site, by its row.
pub(crate) async fn move_pc(portal: &Portal, pc: i64, to: &Site) {
    let mut tx = portal.store.db.begin_write().await.unwrap();
    sqlx::query("UPDATE pcs SET site_id = $1 WHERE id = $2")
        .bind(to.id)
        .bind(pc)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// One job as seeded: what the report should count.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: i64,
    /// The site it ran at.
    pub site: String,
    pub pc: i64,
    pub script: i64,
    /// As stored at the end: DONE, FAILED, NEW, SUBMITTED or RESOLVED.
    pub status: &'static str,
    pub created_at: i64,
    pub reported_at: Option<i64>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub log: Option<String>,
}

pub(crate) struct Jobs {
    pub bib: Site,
    pub borger: Site,
    pub fanoe: Site,
    /// name -> (id, uid)
    pub pcs: BTreeMap<&'static str, (i64, String)>,
    /// name -> id
    pub scripts: BTreeMap<&'static str, i64>,
    /// The library's group, with `bib-1`.
    pub group: i64,
    pub fanoe_group: i64,
    pub jobs: Vec<Job>,
}

/// A failed job's log: more than five lines, a long line of multi-byte letters in some.
fn failed_log(i: usize) -> String {
    let mut log = format!(">>> Starting process 'jobs/{i}/executable'\n");
    for l in 0..(3 + i % 5) {
        log.push_str(&format!("linje {l} af job {i}: æøå\n"));
    }
    if i.is_multiple_of(3) {
        log.push_str(&"ø".repeat(200 + i * 13));
        log.push('\n');
    }
    log.push_str(&format!(">>> Failed at 2026-10-25 0{}:00:00\n\n", i % 10));
    log
}

/// The jobs: who, what, when (an instant with its offset), how it went, and the agent's
/// times. Status `R` is FAILED then restarted (the new job stays NEW).
/// (PC, script, created, outcome, the agent's started and finished).
type Planned = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const PLAN: &[Planned] = &[
    // bib-2 at the library before it moves.
    (
        "bib-2",
        "global",
        "2026-10-20T09:00:00+02:00",
        "DONE",
        Some(("2026-10-20 09:05:00.250000", "2026-10-20 09:06:10.500000")),
    ),
    (
        "bib-2",
        "baggrund",
        "2026-10-21T10:00:00+02:00",
        "FAILED",
        Some(("2026-10-21 10:01:00", "2026-10-21 10:01:02.125")),
    ),
    (
        "bib-2",
        "baggrund",
        "2026-10-24T23:50:00+02:00",
        "DONE",
        Some(("2026-10-24 23:55:00", "2026-10-25 00:20:00")),
    ),
    // The 25-hour day: 02:30 twice, late evening, and just after midnight (UTC still the 25th).
    (
        "bib-1",
        "global",
        "2026-10-25T02:30:00+02:00",
        "DONE",
        Some(("2026-10-25 02:31:00", "2026-10-25 02:40:00")),
    ),
    (
        "bib-1",
        "global",
        "2026-10-25T02:30:00+01:00",
        "FAILED",
        Some(("2026-10-25 02:50:00", "2026-10-25 02:10:00")),
    ),
    (
        "bib-1",
        "baggrund",
        "2026-10-25T23:30:00+01:00",
        "FAILED",
        Some(("2026-10-25 23:31:00", "2026-10-25 23:59:59.999")),
    ),
    (
        "bib-1",
        "baggrund",
        "2026-10-26T00:30:00+01:00",
        "R",
        Some(("2026-10-26 00:31:00", "2026-10-26 00:33:00")),
    ),
    (
        "bib-1",
        "global",
        "2026-10-26T08:00:00+01:00",
        "SUBMITTED",
        None,
    ),
    (
        "bib-1",
        "baggrund",
        "2026-10-27T08:00:00+01:00",
        "NEW",
        None,
    ),
    (
        "bib-1",
        "global",
        "2026-10-28T12:00:00+01:00",
        "DONE",
        Some(("2026-10-28 12:00:00", "2026-10-28 14:30:00")),
    ),
    (
        "bib-3",
        "baggrund",
        "2026-10-22T13:00:00+02:00",
        "FAILED",
        None,
    ),
    (
        "bib-3",
        "baggrund",
        "2026-10-29T13:00:00+01:00",
        "DONE",
        Some(("2026-10-29 13:00:00", "2026-10-29 13:00:00.008")),
    ),
    // The citizens' service.
    (
        "borger-1",
        "printer",
        "2026-10-23T08:00:00+02:00",
        "DONE",
        Some(("2026-10-23 08:01:00", "2026-10-23 08:02:00")),
    ),
    (
        "borger-1",
        "printer",
        "2026-10-25T12:00:00+01:00",
        "FAILED",
        Some(("2026-10-25 12:00:00", "2026-10-25 12:00:30")),
    ),
    (
        "borger-1",
        "global",
        "2026-10-30T16:00:00+01:00",
        "DONE",
        Some(("2026-10-30 16:00:00", "2026-10-30 16:45:00")),
    ),
    // bib-2 after the move.
    (
        "bib-2*",
        "printer",
        "2026-10-26T09:00:00+01:00",
        "FAILED",
        Some(("2026-10-26 09:00:00", "2026-10-26 09:03:00")),
    ),
    (
        "bib-2*",
        "global",
        "2026-10-30T09:00:00+01:00",
        "DONE",
        Some(("2026-10-30 09:00:00", "2026-10-30 09:20:00")),
    ),
    (
        "bib-2*",
        "printer",
        "2026-10-31T23:59:00+01:00",
        "DONE",
        Some(("2026-10-31 23:59:00", "2026-11-01 00:01:00")),
    ),
    // Fanø: the global script too, and its own.
    (
        "fanoe-1",
        "global",
        "2026-10-25T10:00:00+01:00",
        "FAILED",
        Some(("2026-10-25 10:00:00", "2026-10-25 18:00:00")),
    ),
    (
        "fanoe-1",
        "fanoe",
        "2026-10-26T10:00:00+01:00",
        "DONE",
        Some(("2026-10-26 10:00:00", "2026-10-26 10:00:01")),
    ),
];

/// Seeds the jobs of [`PLAN`] on two customers.
pub(crate) async fn jobs(portal: &Portal) -> Jobs {
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let mut pcs = BTreeMap::new();
    for (n, (name, site)) in [
        ("bib-1", &bib),
        ("bib-2", &bib),
        ("bib-3", &bib),
        ("borger-1", &borger),
        ("fanoe-1", &fanoe),
    ]
    .into_iter()
    .enumerate()
    {
        pcs.insert(name, agent_pc(portal, site, name, n as u8 + 1).await);
    }
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    store.add_group_member(group, pcs["bib-1"].0).await.unwrap();
    let fanoe_group = store.add_group(fanoe.id, "Fanø-gruppe").await.unwrap();
    let mut scripts = BTreeMap::new();
    scripts.insert(
        "global",
        portal.echo_script(None, "Opdatér alt").await.script_id,
    );
    scripts.insert(
        "baggrund",
        portal.echo_script(Some(&bib), "Baggrund").await.script_id,
    );
    scripts.insert(
        "printer",
        portal.echo_script(Some(&borger), "Printer").await.script_id,
    );
    scripts.insert(
        "fanoe",
        portal
            .echo_script(Some(&fanoe), "Fanø-script")
            .await
            .script_id,
    );

    let site_of = |pc: &str| match pc {
        "bib-1" | "bib-2" | "bib-3" => &bib,
        "borger-1" | "bib-2*" => &borger,
        _ => &fanoe,
    };
    let mut jobs = Vec::new();
    let mut moved = false;
    // Fetching takes all of a PC's NEW jobs, so the jobs that stay NEW are made last, and the
    // restarts (whose new jobs stay NEW) come after the fetching.
    let mut order: Vec<usize> = (0..PLAN.len()).filter(|i| PLAN[*i].3 != "NEW").collect();
    order.extend((0..PLAN.len()).filter(|i| PLAN[*i].3 == "NEW"));
    let mut restarts = Vec::new();
    for i in order {
        let (pc, script, when, outcome, times) = PLAN[i];
        if pc.ends_with('*') && !moved {
            move_pc(portal, pcs["bib-2"].0, &borger).await;
            moved = true;
        }
        let name = pc.trim_end_matches('*');
        let script: &str = script;
        let (pc_id, uid) = pcs[name].clone();
        let site = site_of(pc);
        let id = portal
            .run_on(site, scripts[script], pc_id, &format!("ord {i}"))
            .await;
        let mut job = Job {
            id,
            site: site.uid.clone(),
            pc: pc_id,
            script: scripts[script],
            status: "NEW",
            created_at: at(when),
            reported_at: None,
            started: None,
            finished: None,
            log: None,
        };
        if outcome != "NEW" {
            // The agent fetches its jobs (NEW -> SUBMITTED) …
            let (s, r) = portal
                .post(
                    "get_instructions",
                    json!({"pc_uid": uid, "client_key": KEY}),
                )
                .await;
            assert_eq!(s, 200, "{r}");
            job.status = "SUBMITTED";
        }
        if matches!(outcome, "DONE" | "FAILED" | "R") {
            // … and reports them.
            let failed = outcome != "DONE";
            let log = if failed {
                failed_log(i)
            } else {
                format!(">>> Starting\nord {i}\n>>> Succeeded\n")
            };
            let (started, finished) = times.map_or(("", ""), |t| t);
            let (s, r) = portal
                .post(
                    "send_status_info",
                    json!({"pc_uid": uid, "client_key": KEY, "job_data": [{
                        "id": id.to_string(), "status": if failed { "FAILED" } else { "DONE" },
                        "started": started, "finished": finished, "log_output": log}]}),
                )
                .await;
            assert_eq!(s, 200, "{r}");
            job.status = if failed { "FAILED" } else { "DONE" };
            job.reported_at = Some(job.created_at + 3_600_000 + i as i64 * 60_000);
            job.started = times.map(|t| t.0.to_owned());
            job.finished = times.map(|t| t.1.to_owned());
            job.log = Some(log);
        }
        if outcome == "R" {
            restarts.push(jobs.len());
        }
        jobs.push(job);
    }
    // The agents have fetched their last: the operator restarts the failed job (its new job
    // stays NEW).
    for r in restarts {
        let first: Job = jobs[r].clone();
        let site = if first.site == bib.uid { &bib } else { &borger };
        let new = store
            .restart_job(&[site.id], first.id, "test")
            .await
            .unwrap()
            .unwrap();
        jobs[r].status = "RESOLVED";
        jobs.push(Job {
            id: new,
            status: "NEW",
            created_at: first.created_at + 86_400_000,
            reported_at: None,
            started: None,
            finished: None,
            log: None,
            ..first
        });
    }
    // Each job to the instant it stands for (the store stamped the clock's).
    let mut tx = store.db.begin_write().await.unwrap();
    for j in &jobs {
        sqlx::query("UPDATE jobs SET created_at = $1, reported_at = $2 WHERE id = $3")
            .bind(j.created_at)
            .bind(j.reported_at)
            .bind(j.id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    store.rebuild_report_rollups().await.unwrap();
    // What is stored is what the test thinks it seeded.
    for j in &jobs {
        let (status, started, log): (String, Option<String>, Option<String>) =
            sqlx::query_as("SELECT status, started, log_output FROM jobs WHERE id = $1")
                .bind(j.id)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            (status.as_str(), &started, &log),
            (j.status, &j.started, &j.log),
            "job {}",
            j.id
        );
    }
    Jobs {
        bib,
        borger,
        fanoe,
        pcs,
        scripts,
        group,
        fanoe_group,
        jobs,
    }
}

/// Counts as the report gives them, computed from jobs: (jobs, done, failed, open, restarted).
pub(crate) fn job_counts<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> [i64; 5] {
    let mut c = [0; 5];
    for j in jobs {
        c[0] += 1;
        match j.status {
            "DONE" => c[1] += 1,
            "FAILED" => c[2] += 1,
            "NEW" | "SUBMITTED" => c[3] += 1,
            _ => c[4] += 1,
        }
    }
    c
}

/// The same counts read from a JSON row of the report.
pub(crate) fn counts_of(v: &Value) -> [i64; 5] {
    ["jobs", "done", "failed", "open", "restarted"].map(|k| v[k].as_i64().unwrap())
}

/// done / (done + failed), as the report gives it.
pub(crate) fn success(c: [i64; 5]) -> Option<f64> {
    (c[1] + c[2] > 0).then(|| c[1] as f64 / (c[1] + c[2]) as f64)
}

/// One event as seeded.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: i64,
    pub site: String,
    pub pc: i64,
    pub rule_kind: &'static str,
    pub rule: i64,
    pub level: &'static str,
    pub occurred_at: i64,
}

pub(crate) struct Events {
    pub bib: Site,
    pub borger: Site,
    pub fanoe: Site,
    pub pcs: BTreeMap<&'static str, (i64, String)>,
    /// name -> (id, level)
    pub rules: BTreeMap<&'static str, (i64, &'static str)>,
    pub group: i64,
    pub events: Vec<Event>,
}

/// The events: which PC, which rule, the PC's local time text.
const EVENTS: &[(&str, &str, &str)] = &[
    ("bib-2", "usb", "20260327120000"),
    ("bib-2", "usb", "20260328235900"),
    ("bib-2", "bruger", "20260328080000"),
    // The 23-hour day: before and after the clock's jump, late, and just after midnight.
    ("bib-1", "usb", "20260329013000"),
    ("bib-1", "usb", "20260329033000"),
    ("bib-1", "bruger", "20260329233000"),
    ("bib-1", "usb", "20260330003000"),
    ("bib-1", "bruger", "20260330101500"),
    ("bib-3", "usb", "20260331140000"),
    ("borger-1", "fjern", "20260329120000"),
    ("borger-1", "fjern", "20260331090000"),
    ("bib-2*", "fjern", "20260330150000"),
    ("bib-2*", "fjern", "20260331160000"),
    ("fanoe-1", "fanoe", "20260329100000"),
    ("fanoe-1", "fanoe", "20260330100000"),
];

/// Seeds [`EVENTS`] on two customers, pushed by the PCs over the client-api, and one offline
/// event from the offline check.
pub(crate) async fn events(portal: &Portal) -> Events {
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let mut pcs = BTreeMap::new();
    for (n, (name, site)) in [
        ("bib-1", &bib),
        ("bib-2", &bib),
        ("bib-3", &bib),
        ("borger-1", &borger),
        ("fanoe-1", &fanoe),
    ]
    .into_iter()
    .enumerate()
    {
        pcs.insert(name, agent_pc(portal, site, name, n as u8 + 0x40).await);
    }
    let group = store.add_group(bib.id, "Læsesal").await.unwrap();
    store.add_group_member(group, pcs["bib-1"].0).await.unwrap();
    let security_script = |site: &Site, name: &str| NewScript {
        site_id: Some(site.id),
        uid: None,
        name: name.into(),
        description: String::new(),
        category: None,
        is_security: true,
        is_hidden: false,
        version: 1,
        code: "#!/bin/sh\ntrue\n".into(),
        inputs: vec![],
    };
    let mut rules = BTreeMap::new();
    for (name, site, level, rule_name) in [
        ("usb", &bib, "CRITICAL", "USB-nøgle sat i"),
        ("bruger", &bib, "NORMAL", "Ny lokal bruger"),
        ("fjern", &borger, "HIGH", "Fjernadgang"),
        ("fanoe", &fanoe, "HIGH", "Fanø-regel"),
    ] {
        let script = store
            .save_script(&security_script(site, &format!("tjek {name}")))
            .await
            .unwrap()
            .script_id;
        let id = store
            .add_security_problem(site.id, rule_name, level, script, &[])
            .await
            .unwrap();
        rules.insert(name, (id, level));
    }
    let mut moved = false;
    let mut events = Vec::new();
    for (i, (pc, rule, when)) in EVENTS.iter().enumerate() {
        if pc.ends_with('*') && !moved {
            move_pc(portal, pcs["bib-2"].0, &borger).await;
            moved = true;
        }
        let (pc_id, uid) = pcs[pc.trim_end_matches('*')].clone();
        let (rule_id, level) = rules[rule];
        let line = format!("{when},{rule_id},hændelse {i} på {pc}\n");
        let (s, r) = portal
            .post(
                "push_security_events",
                json!({"pc_uid": uid, "events_csv": [line], "client_key": KEY}),
            )
            .await;
        assert_eq!((s, &r), (200, &json!(0)), "{line}");
        let id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM security_events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let naive = NaiveDateTime::parse_from_str(when, "%Y%m%d%H%M%S").unwrap();
        let occurred_at = Copenhagen
            .from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .timestamp_millis();
        let site = if pc.starts_with("fanoe") {
            &fanoe
        } else if pc.starts_with("borger") || pc.ends_with('*') {
            &borger
        } else {
            &bib
        };
        events.push(Event {
            id,
            site: site.uid.clone(),
            pc: pc_id,
            rule_kind: "security",
            rule: rule_id,
            level,
            occurred_at,
        });
    }

    // An offline rule on the library and a PC that was last seen on the morning of the 29th:
    // the check, with its clock at noon that day, raises an event.
    let offline = store
        .add_offline_rule(
            bib.id,
            "Slukket i åbningstiden",
            "HIGH",
            "08:00",
            "16:00",
            60,
            &[],
        )
        .await
        .unwrap();
    rules.insert("offline", (offline, "HIGH"));
    let (quiet, quiet_uid) = portal.pc(&bib, "bib-stille").await;
    portal.activate(&bib, &quiet_uid).await;
    let seen = at("2026-03-29T09:00:00+02:00");
    store
        .record_beats(&[Beat {
            pc_id: quiet,
            at: seen,
            ip: None,
            ip_changed: false,
            checkin: true,
        }])
        .await
        .unwrap();
    let noon = at("2026-03-29T12:00:00+02:00");
    assert_eq!(store.check_offline_rules(noon, 12 * 60).await.unwrap(), 1);
    let id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM security_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    pcs.insert("bib-stille", (quiet, quiet_uid));
    events.push(Event {
        id,
        site: bib.uid.clone(),
        pc: quiet,
        rule_kind: "offline",
        rule: offline,
        level: "HIGH",
        occurred_at: noon,
    });
    // Every event is stored as the test thinks.
    for e in &events {
        let (pc, at): (i64, i64) =
            sqlx::query_as("SELECT pc_id, occurred_at FROM security_events WHERE id = $1")
                .bind(e.id)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((pc, at), (e.pc, e.occurred_at), "event {}", e.id);
    }
    Events {
        bib,
        borger,
        fanoe,
        pcs,
        rules,
        group,
        events,
    }
}

/// An event's handling as stored: (status, handled_at).
pub(crate) async fn handling(portal: &Portal) -> BTreeMap<i64, (String, Option<i64>)> {
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, status, handled_at FROM security_events")
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(id, s, h)| (id, (s, h))).collect()
}

/// The wait buckets' lower bounds in minutes, as migration 22 documents them (the test's own
/// copy).
const WAIT_MINUTES: [i64; 22] = [
    0, 1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 720, 1440, 2880, 4320, 10080, 20160, 43200, 86400,
    129600, 259200, 525600,
];

/// The `tenths` percentile (5 median, 9 p90) as the report reads it from wait buckets: (the
/// lower bound of the bucket of the lower of `percentile_cont`'s two ranks, the upper bound of
/// the higher one's; the last bucket's upper bound is its lower). The test's own reckoning,
/// from every value.
pub(crate) fn bucketed(values: &[i64], tenths: u32) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let pos = (v.len() - 1) * tenths as usize;
    let (lo, hi) = (
        pos / 10,
        (pos / 10 + usize::from(!pos.is_multiple_of(10))).min(v.len() - 1),
    );
    let bounds: Vec<i64> = WAIT_MINUTES.iter().map(|m| m * 60_000).collect();
    let lower = |x: i64| *bounds.iter().rev().find(|b| **b <= x).unwrap();
    let upper = |x: i64| {
        bounds
            .iter()
            .find(|b| **b > x)
            .copied()
            .unwrap_or(bounds[bounds.len() - 1])
    };
    Some((lower(v[lo]) as f64, upper(v[hi]) as f64))
}

/// The `tenths` percentile (5 median, 9 p90) between the nearest values, as
/// `percentile_cont`: the test's own reckoning, from every value.
pub(crate) fn percentile(values: &[i64], tenths: u32) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let pos = (v.len() - 1) as f64 * f64::from(tenths) / 10.0;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    Some(v[lo] as f64 + (v[hi] - v[lo]) as f64 * (pos - lo as f64))
}
