//! The jobs, security and changes reports' daily roll-ups (migrations 17 and 19) are kept by the
//! store's own writes: after each kind of write (a run, fetched and reported jobs, a repeated
//! report, a restart, events raised across the 2026 clock changes, handled and reopened, the
//! offline check, a PC deleted, retention) each roll-up is what a recount of its rows gives,
//! and the security report's days (roll-up) and a group's days (rows) are the local dates
//! chrono-tz gives the events' instants, its time to handle the buckets of the stored waits.

use crate::common::Portal;
use crate::common::ops::{agent_pc, at, bucketed, local_date};
use borgerpc_admin::store::events::NewEvent;
use borgerpc_admin::store::history::Retention;
use borgerpc_admin::store::jobs::JobStatus;
use borgerpc_admin::store::jobs::NewScript;
use borgerpc_admin::store::operator::{EventChange, Page};
use borgerpc_admin::store::reports::buckets::Bucket;
use borgerpc_admin::store::reports::security::{SecurityAsked, SecurityList};
use borgerpc_admin::store::reports::{Filter, Period};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// Each roll-up equals its recount, and the roll-ups are not all empty.
async fn holds(portal: &Portal, after: &str) {
    let mut rows = 0;
    for (table, recount, kept) in portal.store.report_rollups_compared().await.unwrap() {
        assert_eq!(kept, recount, "{table} after {after}");
        rows += kept.len();
    }
    assert!(rows > 0, "after {after}");
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn rollups_follow_every_write_across_the_clock_changes() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let site = portal.site("Ærø", "aeroe-bib").await;
    let (pc1, _) = agent_pc(&portal, &site, "bib-1", 0x61).await;
    let (pc2, uid2) = agent_pc(&portal, &site, "bib-2", 0x62).await;
    let script = portal.echo_script(Some(&site), "Baggrund").await.script_id;

    // A run on each PC (a job and an audit record each), fetched, reported, reported again.
    let j1 = portal.run_on(&site, script, pc1, "en").await;
    let j2 = portal.run_on(&site, script, pc2, "to").await;
    let j3 = portal.run_on(&site, script, pc1, "tre").await;
    holds(&portal, "runs").await;
    assert_eq!(store.confirm_jobs(pc1, &[j1, j3]).await.unwrap(), 2);
    assert_eq!(store.confirm_jobs(pc2, &[j2]).await.unwrap(), 1);
    holds(&portal, "fetching").await;
    assert!(
        store
            .report_job(
                pc1,
                j1,
                JobStatus::Done,
                Some("2026-10-25 02:30:00"),
                Some("2026-10-25 02:31:00"),
                "ok"
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .report_job(pc2, j2, JobStatus::Failed, None, None, "nej")
            .await
            .unwrap()
    );
    holds(&portal, "reports").await;
    assert!(
        !store
            .report_job(pc2, j2, JobStatus::Done, None, None, "igen")
            .await
            .unwrap(),
        "a repeated report changes nothing"
    );
    holds(&portal, "a repeated report").await;
    let again = store
        .restart_job(&[site.id], j2, "user:ida")
        .await
        .unwrap()
        .unwrap();
    holds(&portal, "a restart").await;
    let jobs: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT status, CAST(SUM(jobs) AS BIGINT) FROM job_days WHERE time_kind = 'created'
         GROUP BY status",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .collect();
    assert_eq!(
        jobs,
        BTreeMap::from([
            ("DONE".to_owned(), 1),
            ("NEW".to_owned(), 1),
            ("RESOLVED".to_owned(), 1),
            ("SUBMITTED".to_owned(), 1)
        ]),
        "j1 done, j2 restarted as {again}, j3 fetched"
    );

    // Events across both clock changes: either side of the jump, the repeated hour twice,
    // midnight.
    let rule_script = store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "tjek usb".into(),
            description: String::new(),
            category: None,
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap()
        .script_id;
    let rule = store
        .add_security_problem(site.id, "USB-nøgle", "CRITICAL", rule_script, &[])
        .await
        .unwrap();
    let times = [
        at("2026-03-28T23:59:00+01:00"),
        at("2026-03-29T00:00:00+01:00"),
        at("2026-03-29T01:59:00+01:00"),
        at("2026-03-29T03:00:00+02:00"),
        at("2026-03-29T23:59:59+02:00"),
        at("2026-03-30T00:00:00+02:00"),
        at("2026-10-25T00:00:00+02:00"),
        at("2026-10-25T02:30:00+02:00"),
        at("2026-10-25T02:30:00+01:00"),
        at("2026-10-25T23:59:00+01:00"),
        at("2026-10-26T00:00:00+01:00"),
    ];
    let events: Vec<NewEvent> = times
        .iter()
        .enumerate()
        .map(|(i, t)| NewEvent {
            site_id: site.id,
            pc_id: if i % 2 == 0 { pc1 } else { pc2 },
            problem_id: rule,
            occurred_at: *t,
            occurred_text: "x",
            summary: "hændelse",
        })
        .collect();
    let ids = store.add_security_events(&events).await.unwrap();
    assert_eq!(ids.len(), times.len());
    holds(&portal, "events raised").await;

    // Handled, then one opened again, then handled again.
    let change = |s: &str| EventChange {
        status: Some(s.into()),
        assigned_user: None,
        note: None,
    };
    for id in &ids[..4] {
        store
            .api_update_event(&[site.id], *id, &change("RESOLVED"))
            .await
            .unwrap()
            .unwrap();
    }
    holds(&portal, "handling").await;
    store
        .api_update_event(&[site.id], ids[1], &change("NEW"))
        .await
        .unwrap()
        .unwrap();
    holds(&portal, "reopening").await;
    store
        .api_update_events(&[site.id], &ids[5..8], &change("ASSIGNED"), "user:ida")
        .await
        .unwrap()
        .unwrap();
    holds(&portal, "handling several").await;

    // The days: per local date by chrono-tz, against the report from the roll-up and the
    // report of a group of both PCs (counted from the rows).
    let mut want: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for t in &times {
        *want.entry(local_date(*t)).or_default() += 1;
    }
    let group = store.add_group(site.id, "Alle").await.unwrap();
    store.add_group_member(group, pc1).await.unwrap();
    store.add_group_member(group, pc2).await.unwrap();
    // The handled events' waits as stored, with when they happened: for the time to handle.
    // Two of them handled around the store, a minute and three hours after they happened.
    for (id, waited) in [(ids[0], 60_000i64), (ids[2], 10_800_000)] {
        sqlx::query("UPDATE security_events SET handled_at = occurred_at + $1 WHERE id = $2")
            .bind(waited)
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
    }
    store.rebuild_report_rollups().await.unwrap();
    holds(&portal, "handled times written around the store").await;
    let handled: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT occurred_at, handled_at - occurred_at FROM security_events
         WHERE status = 'RESOLVED' AND handled_at IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(handled.len(), 3);
    for (from, to) in [("2026-03-27", "2026-04-01"), ("2026-10-23", "2026-10-28")] {
        for g in [None, Some(group)] {
            let f = Filter {
                sites: vec![site.id],
                group: g,
                period: Period::new(d(from), d(to)).unwrap(),
                page: Page {
                    limit: 10,
                    offset: 0,
                },
            };
            let asked = SecurityAsked {
                level: Some("CRITICAL"),
                bucket: Bucket::Day,
            };
            let r = store
                .security_report(&f, &asked, SecurityList::Events)
                .await
                .unwrap()
                .unwrap();
            let got: BTreeMap<NaiveDate, i64> = r
                .periods
                .iter()
                .filter(|p| p.counts.events > 0)
                .map(|p| (p.start, p.counts.events))
                .collect();
            let expected: BTreeMap<NaiveDate, i64> = want
                .iter()
                .filter(|(k, _)| **k >= d(from) && **k < d(to))
                .map(|(k, v)| (*k, *v))
                .collect();
            assert_eq!(got, expected, "{from} group {g:?}");
            assert_eq!(
                r.totals.events,
                expected.values().sum::<i64>(),
                "{from} group {g:?}"
            );
            let resolved = ids[..4]
                .iter()
                .zip(&times)
                .filter(|(id, t)| {
                    **id != ids[1] && local_date(**t) >= d(from) && local_date(**t) < d(to)
                })
                .count() as i64;
            assert_eq!(r.totals.resolved, resolved, "{from} group {g:?}");
            let waits: Vec<i64> = handled
                .iter()
                .filter(|(t, _)| local_date(*t) >= d(from) && local_date(*t) < d(to))
                .map(|(_, w)| (*w).max(0))
                .collect();
            let t = &r.time_to_handle;
            assert_eq!(t.handled, waits.len() as i64, "{from} group {g:?}");
            assert_eq!(
                (t.median_from_ms, t.median_ms),
                bucketed(&waits, 5).unzip(),
                "{from} group {g:?}"
            );
            assert_eq!(
                (t.p90_from_ms, t.p90_ms),
                bucketed(&waits, 9).unzip(),
                "{from} group {g:?}"
            );
        }
    }
    let dst = |date: &str| want[&d(date)];
    assert_eq!((dst("2026-03-29"), dst("2026-10-25")), (4, 4));

    // The offline check's events, a PC deleted, and retention.
    store
        .add_offline_rule(site.id, "Væk", "NORMAL", "00:00", "23:59", 15, &[])
        .await
        .unwrap();
    sqlx::query("UPDATE pcs SET last_seen = 1 WHERE id = $1")
        .bind(pc1)
        .execute(store.pool())
        .await
        .unwrap();
    let now = service_kit::db::now_ms();
    assert!(store.check_offline_rules(now, 12 * 60).await.unwrap() >= 1);
    holds(&portal, "the offline check").await;
    assert!(store.delete_pc(site.id, &uid2).await.unwrap());
    holds(&portal, "a PC deleted").await;
    let retention = Retention {
        checkin_days: 30,
        security_event_days: 30,
        job_days: 0,
        login_days: 30,
    };
    // Forty days on: every event (reported now) and every ended job is past it.
    store
        .purge_history(&retention, now + 40 * 86_400_000)
        .await
        .unwrap();
    holds(&portal, "retention").await;
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM security_event_days),
                (SELECT CAST(COALESCE(SUM(jobs), 0) AS BIGINT) FROM job_days WHERE time_kind = 'created'),
                (SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM security_handle_days)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    // j3 (fetched, not ended) stays; bib-2's went with it.
    assert_eq!(left, (0, 1, 0));
}

/// How long the jobs, security and changes reports take over 400 days of every site (run by
/// hand; a debug build on shared cores): 100,000 PCs on 100 sites, 1,000,000 jobs, 300,000
/// events and 100,001 audit records written in bulk with SQL and the roll-ups counted from
/// them; each JSON answer asked 5 times by a superuser. One JSON line: the median and the
/// slowest per answer, in ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: 1,000,000 jobs, run by hand"]
async fn ops_reports_over_400_days_measured() {
    use crate::common::reports::api_user;
    use crate::reports_export::get;
    const PCS: i64 = 100_000;
    const SITES: i64 = 100;
    const JOBS: i64 = 1_000_000;
    const EVENTS: i64 = 300_000;
    const RECORDS: i64 = 100_001;
    const SPAN: i64 = 400 * 86_400_000;
    let portal = Portal::start().await;
    let store = &portal.store;
    let mut sites = Vec::new();
    for i in 0..SITES {
        sites.push(portal.site("Ærø", &format!("site-{i:03}")).await.id);
    }
    let first = sites[0];
    assert_eq!(
        sites[sites.len() - 1],
        first + SITES - 1,
        "site ids in a row"
    );
    let script = portal.echo_script(None, "Opdatér alt").await;
    let now = service_kit::db::now_ms();
    let start = now - SPAN;
    let seeding = std::time::Instant::now();
    let numbers =
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)";
    let statements: Vec<(String, Vec<i64>)> = vec![
        (
            format!(
                "{numbers} INSERT INTO pcs (site_id, uid, mac, name, created_at, last_seen, is_activated)
                 SELECT $2 + i % $3, 'pc-' || i, 'mac-' || i, 'pc-' || i, 0, $4, 1 FROM n"
            ),
            vec![PCS, first, SITES, now],
        ),
        (
            format!(
                "{numbers} INSERT INTO batches (site_id, script_version_id, name, created_by, created_at)
                 SELECT $2 + i % $3, $4, 'B', 'user:u', $5 + i * ($6 / ($1)) FROM n"
            ),
            vec![JOBS / 100, first, SITES, script.version_id, start, SPAN],
        ),
        (
            "INSERT INTO security_problems (site_id, name, level, script_id, created_at)
             SELECT id, 'Regel ' || id, CASE id % 3 WHEN 0 THEN 'CRITICAL' WHEN 1 THEN 'HIGH' ELSE 'NORMAL' END,
                    $1, 0 FROM sites ORDER BY id"
                .to_owned(),
            vec![script.script_id],
        ),
        // Job i in batch i / 100, on a PC of the batch's site; a tenth fail, a tenth are new.
        (
            format!(
                "{numbers} INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at, reported_at, duration_ms)
                 SELECT (SELECT MIN(id) FROM batches) + i / 100,
                        (SELECT MIN(id) FROM pcs) + (i / 100) % $3 + $3 * (i % 1000),
                        $2 + (i / 100) % $3,
                        CASE i % 10 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'NEW' ELSE 'DONE' END,
                        $4 + (i / 100) * ($5 / ($1 / 100)) + i % 100,
                        CASE WHEN i % 10 = 1 THEN NULL ELSE $4 + (i / 100) * ($5 / ($1 / 100)) + 60000 END,
                        CASE WHEN i % 10 = 1 THEN NULL ELSE (i % 600) * 1000 END
                 FROM n"
            ),
            vec![JOBS, first, SITES, start, SPAN],
        ),
        (
            format!(
                "{numbers} INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at,
                        occurred_text, reported_at, summary, status, handled_at)
                 SELECT $2 + i % $3, (SELECT MIN(id) FROM pcs) + i % $3 + $3 * ((i / $3) % 1000),
                        'security', (SELECT MIN(id) FROM security_problems) + i % $3,
                        $4 + i * ($5 / $1), 'x', $4 + i * ($5 / $1), 'hændelse',
                        CASE i % 4 WHEN 0 THEN 'NEW' WHEN 1 THEN 'ASSIGNED' ELSE 'RESOLVED' END,
                        CASE WHEN i % 4 > 1 THEN $4 + i * ($5 / $1) + (i % 50) * 60000 ELSE NULL END
                 FROM n"
            ),
            vec![EVENTS, first, SITES, start, SPAN],
        ),
        (
            format!(
                "{numbers} INSERT INTO audit_log (at, actor, site_id, action, target, detail, pc_id, batch_id,
                                                  customer_id)
                 SELECT $4 + i * ($5 / $1), 'user:u' || (i % 20), $2 + i % $3,
                        CASE i % 5 WHEN 0 THEN 'pc.activate' WHEN 1 THEN 'script.run'
                             WHEN 2 THEN 'config.set' WHEN 3 THEN 'group.create' ELSE 'pc.deactivate' END,
                        'x', CASE WHEN i % 5 = 2 THEN '{{}}' ELSE NULL END,
                        CASE WHEN i % 5 IN (0, 4) THEN (SELECT MIN(id) FROM pcs) + i % $3 ELSE NULL END,
                        CASE WHEN i % 5 = 1 THEN (SELECT MIN(id) FROM batches) + (i % 10000) ELSE NULL END,
                        (SELECT s.customer_id FROM sites s WHERE s.id = $2 + i % $3)
                 FROM n"
            ),
            vec![RECORDS, first, SITES, start, SPAN],
        ),
    ];
    for (sql, binds) in statements {
        let mut tx = store.db.begin_write().await.unwrap();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        q.execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    let seeded_s = seeding.elapsed().as_secs_f64();
    let counting = std::time::Instant::now();
    store.rebuild_report_rollups().await.unwrap();
    let rollups_s = counting.elapsed().as_secs_f64();
    let analyze = match store.kind() {
        service_kit::db::DbKind::Postgres => {
            "VACUUM ANALYZE pcs, batches, jobs, security_events, audit_log, job_days, security_event_days, security_handle_days, audit_days"
        }
        service_kit::db::DbKind::Sqlite => "ANALYZE",
    };
    sqlx::query(analyze).execute(store.pool()).await.unwrap();
    let rows: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM job_days), (SELECT COUNT(*) FROM security_event_days),
                (SELECT COUNT(*) FROM audit_days)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();

    let root = api_user(&portal, "rod", None).await;
    let customer = store.site(first).await.unwrap().unwrap().customer_id;
    let today = crate::common::ops::local_date(now);
    let from = today - chrono::Duration::days(400);
    let month = today - chrono::Duration::days(30);
    let mut timings = BTreeMap::new();
    for (name, path) in [
        (
            "jobs_400d",
            format!("/api/reports/jobs?from={from}&to={today}"),
        ),
        (
            "jobs_400d_week_finished",
            format!("/api/reports/jobs?from={from}&to={today}&bucket=week&by=finished"),
        ),
        (
            "jobs_400d_slowest",
            format!("/api/reports/jobs?from={from}&to={today}&list=slowest"),
        ),
        (
            "jobs_400d_pcs",
            format!("/api/reports/jobs?from={from}&to={today}&list=pcs"),
        ),
        (
            "jobs_30d",
            format!("/api/reports/jobs?from={month}&to={today}"),
        ),
        (
            "security_400d",
            format!("/api/reports/security?from={from}&to={today}"),
        ),
        (
            "security_400d_events",
            format!("/api/reports/security?from={from}&to={today}&list=events"),
        ),
        (
            "security_400d_pcs",
            format!("/api/reports/security?from={from}&to={today}&list=pcs"),
        ),
        (
            "security_30d",
            format!("/api/reports/security?from={month}&to={today}"),
        ),
        (
            "changes_400d",
            format!("/api/reports/changes?from={from}&to={today}"),
        ),
        (
            "changes_30d",
            format!("/api/reports/changes?from={month}&to={today}"),
        ),
        (
            // A customer's view: its records read by customer (migration 21).
            "changes_400d_customer",
            format!("/api/reports/changes?from={from}&to={today}&customer={customer}"),
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let a = get(&portal, &root, &path).await;
            times.push((t.elapsed().as_secs_f64() * 1000.0).round());
            assert_eq!(a.status, 200, "{path}: {}", a.json());
        }
        times.sort_by(f64::total_cmp);
        timings.insert(name, (times[2], times[4]));
    }
    println!(
        "{}",
        serde_json::json!({
            "database": format!("{:?}", store.kind()),
            "seeded_s": seeded_s,
            "rollups_counted_s": rollups_s,
            "rollup_rows": [rows.0, rows.1, rows.2],
            "median_and_max_ms": timings,
        })
    );
}
