//! `borgerpc-admin bench --reports`: how fast the reports answer on a large customer, and what
//! their history costs on disk. A fresh database gets one customer with many PCs spread over
//! sites of 5,000 (in ten groups a site), each with what the agent reports of itself and a check-in and login
//! history of many days (written in bulk with SQL, day by day, as years of check-ins would
//! have left them, with the availability and usage roll-ups check-ins and pushes keep), and
//! ten jobs, three security events and an audit record per PC over those days (their
//! roll-ups counted from the rows).
//! The portal starts on it, a customer administrator logs in over HTTP, and each report page,
//! JSON answer and file is asked for in turn, customer-wide and for one site.
//!
//! The figures are from sending the request to the whole answer read, over loopback. The
//! peak memory is the process's (the portal and the bench's client) while it answers, not
//! while it seeds.

use crate::bench::{FreshDatabase, round2};
use crate::bench_pages::{PageTiming, login, time_paths};
use crate::config::Config;
use crate::store::Store;
use crate::store::opening_hours::OpeningTimes;
use crate::store::reports::TIME_ZONE;
use crate::store::reports::ops_rollup::{Bind, Rollup};
use anyhow::Context as _;
use serde::Serialize;
use std::time::Instant;

/// What to seed and how often to ask.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub pcs: i64,
    /// PCs per site (5,000 by default, as a large municipality's libraries and schools are
    /// spread); the first site is the one asked for alone.
    pub pcs_per_site: i64,
    /// Days of check-in and login history per PC, up to today.
    pub days: i64,
    /// Requests per page and JSON answer (files are fetched `requests / 10`, at least 3,
    /// times: each is a whole export).
    pub requests: usize,
    /// `postgres://…` for a fresh schema there; `None`: a SQLite file in a temp dir.
    pub database_url: Option<String>,
    pub keep: bool,
    /// Measure the database a `keep` run left instead of seeding one: its SQLite file, or
    /// (with `database_url`) its PostgreSQL schema. Its PCs and days are what it holds.
    pub reuse: Option<String>,
}

/// One file's figures.
#[derive(Debug, Clone, Serialize)]
pub struct FileTiming {
    pub file: &'static str,
    pub path: String,
    pub rows: usize,
    pub bytes: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
}

/// The JSON line `bench --reports` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ReportBench {
    pub database: &'static str,
    pub pcs: i64,
    pub sites: i64,
    pub days: i64,
    pub requests_per_page: usize,
    /// `null` when a kept database was measured again (`--reuse`).
    pub seed_s: Option<f64>,
    /// What the reports' history (check-in days, login days and their roll-ups, with their
    /// indexes) takes on disk per PC per year of history; `null` with `--reuse` (it is
    /// measured while seeding).
    pub history_bytes_per_pc_year: Option<i64>,
    pub pages: Vec<PageTiming>,
    pub json: Vec<PageTiming>,
    pub files: Vec<FileTiming>,
    /// The process's peak resident memory while it answered, in MB.
    pub peak_rss_mb: f64,
    /// The targets: every page's and answer's p99 under 300 ms, every file under 5 s, the
    /// peak memory under 300 MB.
    pub all_p99_under_300ms: bool,
    pub all_files_under_5s: bool,
    pub peak_rss_under_300mb: bool,
    /// With `keep` or `reuse`: what `--reuse` takes to measure this database again.
    pub kept: Option<String>,
}

const USER: &str = "bench-reports";

pub async fn run(opts: &ReportOptions) -> anyhow::Result<ReportBench> {
    // A reused database's PCs and days are what it holds.
    if opts.reuse.is_none() {
        anyhow::ensure!(opts.pcs >= 1, "--pcs: at least 1");
        anyhow::ensure!(opts.pcs_per_site >= 1, "--pcs-per-site: at least 1");
        anyhow::ensure!(
            (1..=crate::store::reports::MAX_DAYS).contains(&opts.days),
            "--days: 1 to {}",
            crate::store::reports::MAX_DAYS
        );
    }
    anyhow::ensure!(opts.requests >= 1, "--requests: at least 1");
    let fresh = match &opts.reuse {
        Some(name) => FreshDatabase::kept_before(opts.database_url.as_deref(), name)?,
        None => FreshDatabase::create(opts.database_url.as_deref()).await?,
    };
    let mut result = run_on(opts, &fresh).await;
    if opts.keep || opts.reuse.is_some() {
        eprintln!("kept: {}", fresh.kept());
        if let Ok(r) = &mut result {
            r.kept = Some(fresh.reuse_name());
        }
    } else {
        fresh.remove().await;
    }
    result
}

async fn run_on(opts: &ReportOptions, fresh: &FreshDatabase) -> anyhow::Result<ReportBench> {
    let mut config = Config::default();
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = fresh.url.clone();
    let store = Store::open(&config.database.url, config.database.max_connections)
        .await
        .context("opening the bench database")?;
    let started = Instant::now();
    let (seeded, seed_s) = if opts.reuse.is_some() {
        (seeded_before(&store).await?, None)
    } else {
        let seeded = seed(&store, opts).await.context("seeding the customer")?;
        (seeded, Some(round2(started.elapsed().as_secs_f64())))
    };
    reset_peak_rss();
    let running = crate::app::start(&config, store.clone()).await?;
    let measured = measure(&running.url(), &seeded, opts).await;
    let peak_rss_mb = peak_rss_mb();
    running.shutdown().await;
    store.db.close().await;
    let (pages, json, files) = measured?;
    let years = seeded.days as f64 / 365.0;
    Ok(ReportBench {
        database: fresh.kind,
        pcs: seeded.pcs,
        sites: seeded.sites.len() as i64,
        days: seeded.days,
        requests_per_page: opts.requests,
        seed_s,
        history_bytes_per_pc_year: seeded
            .history_bytes
            .map(|b| (b as f64 / seeded.pcs.max(1) as f64 / years).round() as i64),
        all_p99_under_300ms: pages.iter().chain(&json).all(|p| p.p99_ms < 300.0),
        all_files_under_5s: files.iter().all(|f| f.max_ms < 5_000.0),
        peak_rss_under_300mb: peak_rss_mb < 300.0,
        peak_rss_mb,
        pages,
        json,
        files,
        kept: None,
    })
}

/// What the seed made that the measuring needs.
struct Seeded {
    password: String,
    /// The sites' uids, the first one the site asked for alone.
    sites: Vec<String>,
    history_bytes: Option<i64>,
    pcs: i64,
    /// Days of history up to today.
    days: i64,
}

/// What a kept database holds, for measuring it again: the bench user gets a new password.
async fn seeded_before(store: &Store) -> anyhow::Result<Seeded> {
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 9]>()));
    anyhow::ensure!(
        store.set_password(USER, &password).await?,
        "--reuse: the database has no {USER} user; give it one a `bench --reports --keep` left"
    );
    let sites = sqlx::query_scalar("SELECT uid FROM sites ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    let pcs = sqlx::query_scalar("SELECT COUNT(*) FROM pcs")
        .fetch_one(store.pool())
        .await?;
    let first: Option<i64> = sqlx::query_scalar("SELECT MIN(day) FROM site_checkin_days")
        .fetch_one(store.pool())
        .await?;
    let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
    // The roll-ups' day numbers count from 1970-01-01.
    let days = first
        .map_or(1, |d| {
            (today - chrono::NaiveDate::default()).num_days() - d + 1
        })
        .clamp(1, crate::store::reports::MAX_DAYS);
    Ok(Seeded {
        password,
        sites,
        history_bytes: None,
        pcs,
        days,
    })
}

/// The customer, its administrator, the sites (open on weekdays) and PCs, what each PC reports
/// of itself, and `opts.days` days of check-ins and logins per PC up to today.
async fn seed(store: &Store, opts: &ReportOptions) -> anyhow::Result<Seeded> {
    let now = service_kit::db::now_ms();
    let customer = store.add_customer("Bench Kommune").await?;
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 9]>()));
    let user = store
        .add_user(USER, "bench@example.invalid", &password, false)
        .await?;
    store
        .add_membership(user.id, "customer_admin", Some(customer.id), None)
        .await?;
    let per_site = opts.pcs_per_site;
    let site_count = (opts.pcs + per_site - 1) / per_site;
    let mut sites = Vec::new();
    let mut site_ids = Vec::new();
    // Every site open on weekdays 08–16, so the availability report measures uptime within
    // opening hours for every PC, as a municipality that set them would have it.
    let scope = crate::store::access::Scope::cli(store).await?;
    let hours: Vec<OpeningTimes> = (0..7)
        .map(|d| OpeningTimes {
            opens: if d < 5 { "08:00" } else { "" }.into(),
            closes: if d < 5 { "16:00" } else { "" }.into(),
        })
        .collect();
    let bar = crate::bench::bar(
        site_count as u64,
        "PCs",
        "{prefix:>12} [{bar:40}] {pos}/{len} sites {msg}",
    );
    for s in 0..site_count {
        let uid = format!("bench-{}", s + 1);
        let site = store
            .add_site(customer.id, &uid, &format!("Bench {}", s + 1))
            .await?;
        let pcs = per_site.min(opts.pcs - s * per_site);
        seed_pcs(store, site.id, pcs, now).await?;
        site_ids.push(site.id);
        store.set_opening_hours(&scope, site.id, &hours).await?;
        sites.push(uid);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let before = history_bytes(store).await?;
    seed_history(store, opts.days, now).await?;
    let history_bytes = history_bytes(store).await? - before;
    seed_operations(store, &site_ids, opts.days, now).await?;
    // The planner's statistics, as a database that grew to this size would have them.
    let maintenance = match store.db.kind() {
        // Its own tables only: a bare VACUUM takes every schema of the database, and waits on
        // whatever else runs there.
        service_kit::db::DbKind::Postgres => {
            "VACUUM ANALYZE pcs, config_entries, checkin_days, pc_login_days, site_checkin_days,
             site_login_days, group_login_days, pc_login_sites, pc_groups, pc_group_members, pc_inventory, batches, jobs, security_events, audit_log, job_days,
             security_event_days, security_handle_days, audit_days, pc_job_sites"
        }
        service_kit::db::DbKind::Sqlite => "ANALYZE",
    };
    sqlx::query(maintenance).execute(store.pool()).await?;
    Ok(Seeded {
        password,
        sites,
        history_bytes: Some(history_bytes),
        pcs: opts.pcs,
        days: opts.days,
    })
}

/// A site's PCs, activated and seen in the last ten minutes, with the keys the agent pushes
/// about itself: a kiosk in ten, a third on 24.04 and the rest on 22.04, three client
/// versions, a few models.
async fn seed_pcs(store: &Store, site_id: i64, pcs: i64, now: i64) -> anyhow::Result<()> {
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)";
    let mut tx = store.db.begin_write().await?;
    let sql = format!(
        "{numbers} INSERT INTO pcs (site_id, uid, mac, name, created_at, last_seen, client_version, is_activated)
         SELECT $2, 'bench-' || $2 || '-' || i, 'mac-' || $2 || '-' || i, 'pc-' || $2 || '-' || i,
                $3 - i * 1000, $3 - (i % 600) * 1000,
                CASE WHEN i % 3 = 0 THEN '3.2.0' ELSE '3.1.9' END, 1
         FROM n"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pcs)
        .bind(site_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let entries: [(&str, &str); 9] = [
        (
            "os2_product",
            "CASE WHEN id % 10 = 0 THEN 'os2borgerpc kiosk' ELSE 'os2borgerpc' END",
        ),
        (
            "_os_release",
            "CASE WHEN id % 3 = 0 THEN '24.04' ELSE '22.04' END",
        ),
        (
            "_kernel_version",
            "CASE WHEN id % 3 = 0 THEN '6.8.0-49-generic' ELSE '5.15.0-126-generic' END",
        ),
        (
            "_os2borgerpc.client_version",
            "CASE id % 3 WHEN 0 THEN '3.2.0' WHEN 1 THEN '3.1.9' ELSE '2.4.1' END",
        ),
        (
            "pc_manufacturer",
            "CASE WHEN id % 2 = 0 THEN 'LENOVO' ELSE 'HP' END",
        ),
        (
            "pc_model",
            "CASE id % 4 WHEN 0 THEN 'ThinkCentre M70q' WHEN 1 THEN 'EliteDesk 800 G6' WHEN 2 THEN 'ThinkCentre M720q' ELSE 'ProDesk 400 G7' END",
        ),
        ("pc_cpus", "CASE WHEN id % 2 = 0 THEN '8' ELSE '4' END"),
        ("pc_ram", "CASE WHEN id % 2 = 0 THEN '16' ELSE '8' END"),
        ("_last_automatic_update_time", "'2026-11-30 03:12:44'"),
    ];
    for (key, value) in entries {
        let sql = format!(
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
             SELECT 'pc', id, '{key}', {value}, 1 FROM pcs WHERE site_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(site_id)
            .execute(&mut *tx)
            .await?;
    }
    // Ten groups a site (the PCs of a room, a floor or a lending pool), every PC in one.
    for k in 0..10i64 {
        let group: i64 = sqlx::query_scalar(
            "INSERT INTO pc_groups (site_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(site_id)
        .bind(format!("Gruppe {}", k + 1))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pc_group_members (pc_id, group_id)
             SELECT id, $1 FROM pcs WHERE site_id = $2 AND id % 10 = $3",
        )
        .bind(group)
        .bind(site_id)
        .bind(k)
        .execute(&mut *tx)
        .await?;
    }
    crate::store::pc_counts::recount(&mut tx, site_id).await?;
    crate::store::reports::inventory::rebuild(&mut tx, site_id).await?;
    tx.commit().await?;
    Ok(())
}

/// `days` days up to today of check-ins (opening hours 08–16, a PC in eleven off on a given
/// day), their sites' availability roll-up, and logins (0 to 12 a day) for every PC with
/// their sites' and groups' usage roll-ups, a day per transaction.
async fn seed_history(store: &Store, days: i64, now: i64) -> anyhow::Result<()> {
    const DAY_MS: i64 = 86_400_000;
    let today = now.div_euclid(DAY_MS);
    // The UTC quarter hours 07:00–15:00 (08–16 in Copenhagen in winter): bits 28..60.
    let q0: i64 = ((1i64 << 32) - 1) << 28;
    let bar = crate::bench::bar(
        days as u64,
        "history",
        "{prefix:>12} [{bar:40}] {pos}/{len} days {per_sec} {msg}",
    );
    let quarters: Vec<String> = (0..96).map(|q| format!("n{q:02}")).collect();
    let sites: Vec<i64> = sqlx::query_scalar("SELECT id FROM sites ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    let sums: Vec<String> = (0..96)
        .map(|q| {
            let (word, bit) = if q < 48 { ("q0", q) } else { ("q1", q - 48) };
            format!("SUM((c.{word} >> {bit}) & 1)")
        })
        .collect();
    let rollup = format!(
        "INSERT INTO site_checkin_days (site_id, day, pcs, {})
         SELECT p.site_id, c.day, COALESCE(MAX(k.n), 0), {}
         FROM checkin_days c JOIN pcs p ON p.id = c.pc_id
         LEFT JOIN site_pc_counts k ON k.site_id = p.site_id AND k.fact = 'pcs' AND k.fact_value = ''
         WHERE c.day = $1
         GROUP BY p.site_id, c.day",
        quarters.join(", "),
        sums.join(", ")
    );
    for day in (today - days + 1)..=today {
        let start = day * DAY_MS;
        let local = chrono::DateTime::from_timestamp_millis(start)
            .map(|t| t.with_timezone(&TIME_ZONE).date_naive())
            .context("a day of the history")?;
        let local_day = local
            .signed_duration_since(chrono::NaiveDate::default())
            .num_days();
        let mut tx = store.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO checkin_days (pc_id, day, checkins, q0, q1, first_at, last_at)
             SELECT id, $1, 32, $2, 0, $3, $4 FROM pcs WHERE (id + $1) % 11 <> 0",
        )
        .bind(day)
        .bind(q0)
        .bind(start + 28 * 900_000)
        .bind(start + 60 * 900_000)
        .execute(&mut *tx)
        .await?;
        // The availability roll-up of the day, as the check-ins would have kept it.
        sqlx::query(sqlx::AssertSqlSafe(rollup.clone()))
            .bind(day)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO pc_login_days (pc_id, day, site_id, logins)
             SELECT id, $1, site_id, (id * 7 + $1) % 13 FROM pcs WHERE (id + $1) % 11 <> 0",
        )
        .bind(local_day)
        .execute(&mut *tx)
        .await?;
        // The usage roll-up of the day, as the pushes would have kept it: each site's rows
        // of the day counted from the (site, day) index.
        for site in &sites {
            Rollup::Logins
                .add(
                    &mut tx,
                    "l.site_id = $1 AND l.day = $2",
                    &[Bind::Int(*site), Bind::Int(local_day)],
                )
                .await?;
        }
        Rollup::GroupLogins
            .add(&mut tx, "l.day = $1", &[Bind::Int(local_day)])
            .await?;
        tx.commit().await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Where each PC has days, as its pushes would have kept it.
    let mut tx = store.db.begin_write().await?;
    crate::store::history::recount_login_sites(&mut tx, None).await?;
    tx.commit().await?;
    // The availability and usage reports must not be timed on an empty roll-up.
    for table in [
        "site_checkin_days",
        "site_login_days",
        "group_login_days",
        "pc_login_sites",
    ] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(store.pool())
                .await?;
        anyhow::ensure!(rows > 0, "{table} is empty after seeding");
    }
    Ok(())
}

/// The jobs, security events and audit records of `days` days, for the jobs, security and
/// changes reports: a batch of the script per site and day, ten jobs per PC (a tenth failed, a
/// tenth still new), three events per PC (half handled within 50 minutes), an audit record per
/// PC (activations, settings, groups) and one per batch (the run), written in bulk and their roll-ups counted
/// from the rows afterwards, as `Store::rebuild_report_rollups` does for rows written around
/// the store.
async fn seed_operations(store: &Store, sites: &[i64], days: i64, now: i64) -> anyhow::Result<()> {
    const DAY_MS: i64 = 86_400_000;
    let (Some(&first), Some(&last)) = (sites.first(), sites.last()) else {
        return Ok(());
    };
    anyhow::ensure!(
        last - first + 1 == sites.len() as i64,
        "the bench's sites are not numbered in a row"
    );
    let new_script = |name: &str, is_security: bool| crate::store::jobs::NewScript {
        site_id: Some(first),
        uid: None,
        name: name.into(),
        description: String::new(),
        category: None,
        is_security,
        is_hidden: false,
        version: 1,
        code: "#!/bin/sh\ntrue\n".into(),
        inputs: Vec::new(),
    };
    let script = store.save_script(&new_script("Bench", false)).await?;
    let security = store
        .save_script(&new_script("Bench security", true))
        .await?;
    // Day d (0 = the first) starts at $start + d * DAY_MS; site k is $first + k.
    let start = (now.div_euclid(DAY_MS) - days + 1) * DAY_MS;
    let numbers =
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)";
    let n_sites = sites.len() as i64;
    let statements: [(String, Vec<i64>); 5] = [
        // Batch k * days + d: site k's run on day d at 10:00 UTC.
        (
            format!(
                "{numbers} INSERT INTO batches (site_id, script_version_id, name, created_by, created_at)
                 SELECT $2 + i / $3, $4, 'Bench', 'user:bench-reports', $5 + (i % $3) * {DAY_MS} + 36000000
                 FROM n ORDER BY i"
            ),
            vec![n_sites * days, first, days, script.version_id, start],
        ),
        (
            "INSERT INTO security_problems (site_id, name, level, script_id, created_at)
             SELECT id, 'Regel ' || id,
                    CASE id % 3 WHEN 0 THEN 'CRITICAL' WHEN 1 THEN 'HIGH' ELSE 'NORMAL' END, $1, 0
             FROM sites WHERE id >= $2 AND id <= $3 ORDER BY id"
                .to_owned(),
            vec![security.script_id, first, last],
        ),
        // Job j of PC p on day (p * 7 + j * 37) % days, in its site's batch of that day.
        (
            format!(
                "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 9)
                 INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at, reported_at, duration_ms)
                 SELECT (SELECT MIN(id) FROM batches) + (p.site_id - $1) * $2 + (p.id * 7 + k.j * 37) % $2,
                        p.id, p.site_id,
                        CASE (p.id + k.j) % 10 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'NEW' ELSE 'DONE' END,
                        $3 + ((p.id * 7 + k.j * 37) % $2) * {DAY_MS} + 36000000 + k.j * 1000,
                        CASE WHEN (p.id + k.j) % 10 = 1 THEN NULL
                             ELSE $3 + ((p.id * 7 + k.j * 37) % $2) * {DAY_MS} + 36060000 + k.j * 1000 END,
                        CASE WHEN (p.id + k.j) % 10 = 1 THEN NULL ELSE ((p.id + k.j) % 600) * 1000 END
                 FROM pcs p CROSS JOIN k WHERE p.site_id >= $1 AND p.site_id <= $4"
            ),
            vec![first, days, start, last],
        ),
        (
            format!(
                "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 2)
                 INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at,
                        occurred_text, reported_at, summary, status, handled_at)
                 SELECT p.site_id, p.id, 'security',
                        (SELECT MIN(id) FROM security_problems) + p.site_id - $1,
                        $3 + ((p.id * 11 + k.j * 53) % $2) * {DAY_MS} + 43200000, 'bench',
                        $3 + ((p.id * 11 + k.j * 53) % $2) * {DAY_MS} + 43200000, 'Bench event',
                        CASE (p.id + k.j) % 4 WHEN 0 THEN 'NEW' WHEN 1 THEN 'ASSIGNED' ELSE 'RESOLVED' END,
                        CASE WHEN (p.id + k.j) % 4 > 1
                             THEN $3 + ((p.id * 11 + k.j * 53) % $2) * {DAY_MS} + 43200000 + ((p.id + k.j) % 50) * 60000
                             ELSE NULL END
                 FROM pcs p CROSS JOIN k WHERE p.site_id >= $1 AND p.site_id <= $4"
            ),
            vec![first, days, start, last],
        ),
        // A record per PC (activations, settings, groups) and one per batch, the run that
        // made it, as the portal writes them.
        (
            format!(
                "INSERT INTO audit_log (at, actor, site_id, action, target, detail, pc_id, batch_id,
                                        customer_id)
                 SELECT $3 + ((p.id * 13) % $2) * {DAY_MS} + 39600000, 'user:bench-' || (p.id % 20), p.site_id,
                        CASE p.id % 4 WHEN 0 THEN 'pc.activate' WHEN 1 THEN 'config.set'
                             WHEN 2 THEN 'group.create' ELSE 'pc.deactivate' END,
                        'pc:' || p.id, CASE WHEN p.id % 4 = 1 THEN '{{}}' ELSE NULL END,
                        CASE WHEN p.id % 4 IN (0, 3) THEN p.id ELSE NULL END, NULL,
                        (SELECT s.customer_id FROM sites s WHERE s.id = p.site_id)
                 FROM pcs p WHERE p.site_id >= $1 AND p.site_id <= $4
                 UNION ALL
                 SELECT b.created_at, 'user:bench-' || (b.id % 20), b.site_id, 'script.run',
                        'script:' || $5 || ' batch:' || b.id, NULL, NULL, b.id,
                        (SELECT s.customer_id FROM sites s WHERE s.id = b.site_id)
                 FROM batches b WHERE b.site_id >= $1 AND b.site_id <= $4"
            ),
            vec![first, days, start, last, script.script_id],
        ),
    ];
    for (sql, binds) in statements {
        let mut tx = store.db.begin_write().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    // The batches' ids are in the order the jobs' arithmetic expects, or it would put jobs
    // in other sites' batches.
    let misplaced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.site_id <> j.site_id",
    )
    .fetch_one(store.pool())
    .await?;
    anyhow::ensure!(
        misplaced == 0,
        "{misplaced} bench jobs are in another site's batch"
    );
    let mut tx = store.db.begin_write().await?;
    crate::store::jobs::count_batch_pcs(&mut tx).await?;
    tx.commit().await?;
    // The usage roll-up was kept as the login days were written (`seed_history`).
    store.rebuild_ops_rollups().await?;
    Ok(())
}

/// The bytes the database takes on disk now: SQLite's pages (after a checkpoint, so the WAL
/// is in them), or the PostgreSQL schema's tables with their indexes and TOAST.
async fn history_bytes(store: &Store) -> anyhow::Result<i64> {
    let pool = store.pool();
    match store.db.kind() {
        service_kit::db::DbKind::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(pool)
                .await?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(pool)
                .await?;
            Ok(pages * size)
        }
        service_kit::db::DbKind::Postgres => Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        )
        .fetch_one(pool)
        .await?),
    }
}

type Measured = (Vec<PageTiming>, Vec<PageTiming>, Vec<FileTiming>);

/// Logs in (a session for the pages, a token for the JSON) and asks for every report
/// customer-wide and for the first site, over the whole history and the last 30 days.
async fn measure(base: &str, seeded: &Seeded, opts: &ReportOptions) -> anyhow::Result<Measured> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let sid = login(&client, base, USER, &seeded.password).await?;
    let token = api_token(&client, base, &seeded.password).await?;
    let site = &seeded.sites[0];
    let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
    let first = today - chrono::Duration::days(seeded.days - 1);
    let month = today - chrono::Duration::days(29);
    let (all, last30) = (
        format!("fra={first}&til={today}"),
        format!("fra={month}&til={today}"),
    );
    let to = today.succ_opt().unwrap_or(today);
    let (api_all, api_30) = (
        format!("from={first}&to={to}"),
        format!("from={month}&to={to}"),
    );
    let mut pages = Vec::new();
    let mut json = Vec::new();
    for (name, page, api) in [
        ("availability", "tilgaengelighed", "availability"),
        ("usage", "brug", "usage"),
        ("jobs", "jobs", "jobs"),
        ("security", "sikkerhed", "security"),
        ("changes", "aendringer", "changes"),
    ] {
        pages.push((name, format!("/rapporter/{page}?{all}")));
        pages.push((name, format!("/rapporter/{page}?{last30}&sted={site}")));
        json.push((name, format!("/api/reports/{api}?{api_all}&limit=500")));
        json.push((
            name,
            format!("/api/reports/{api}?{api_30}&site={site}&limit=500"),
        ));
    }
    // The other lists the jobs and security answers page, over the whole period.
    for (name, list) in [("jobs", "slowest"), ("jobs", "pcs"), ("security", "events")] {
        json.push((
            name,
            format!("/api/reports/{name}?{api_all}&list={list}&limit=500"),
        ));
    }
    // The inventory is now: no period.
    pages.push(("inventory", "/rapporter/inventar".to_owned()));
    pages.push(("inventory", format!("/rapporter/inventar?sted={site}")));
    json.push(("inventory", "/api/reports/inventory?limit=500".to_owned()));
    json.push((
        "inventory",
        format!("/api/reports/inventory?site={site}&limit=500"),
    ));
    let cookie = ("cookie", format!("sid={sid}"));
    let bearer = ("authorization", format!("Bearer {token}"));
    let page_times = time_paths(&client, base, &cookie, pages, opts.requests).await?;
    let json_times = time_paths(&client, base, &bearer, json, opts.requests).await?;
    // Files of about 100,000 rows (with 5,000 PCs a site): a site's PCs over 20 days.
    let twenty = today - chrono::Duration::days(19);
    let files = vec![
        (
            "usage_csv_site_20_days",
            format!("/rapporter/brug.csv?sted={site}&fra={twenty}&til={today}"),
        ),
        (
            "usage_xlsx_site_20_days",
            format!("/rapporter/brug.xlsx?sted={site}&fra={twenty}&til={today}"),
        ),
    ];
    let mut file_times =
        time_files(&client, base, &cookie, files, (opts.requests / 10).max(3)).await?;
    // The full inventory, a row per PC (the 100,000 rows with 100,000 PCs).
    let inventory = vec![
        (
            "inventory_csv_all",
            "/api/reports/inventory?format=csv".to_owned(),
        ),
        (
            "inventory_xlsx_all",
            "/api/reports/inventory?format=xlsx".to_owned(),
        ),
    ];
    file_times.extend(
        time_files(
            &client,
            base,
            &bearer,
            inventory,
            (opts.requests / 10).max(3),
        )
        .await?,
    );
    Ok((page_times, json_times, file_times))
}

/// A session token from the API's login, for the JSON answers.
async fn api_token(client: &reqwest::Client, base: &str, password: &str) -> anyhow::Result<String> {
    let res = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": USER, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "api login: {}", res.status());
    let body: serde_json::Value = res.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("the API's login gave no token")
}

/// Each file `times` times: its rows (CSV lines but the header; for XLSX those of the CSV of
/// the same path), its size, and its p50 and max.
async fn time_files(
    client: &reqwest::Client,
    base: &str,
    header: &(&'static str, String),
    files: Vec<(&'static str, String)>,
    times: usize,
) -> anyhow::Result<Vec<FileTiming>> {
    let mut out = Vec::new();
    let mut rows = 0;
    for (file, path) in files {
        let mut took = Vec::new();
        let mut bytes = 0;
        for _ in 0..times {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header(header.0, &header.1)
                .send()
                .await?;
            let status = res.status();
            let body = res.bytes().await?;
            took.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            bytes = body.len();
            if path.contains(".csv") || path.contains("format=csv") {
                rows = body.split(|b| *b == b'\n').count().saturating_sub(2);
            }
        }
        took.sort_by(f64::total_cmp);
        out.push(FileTiming {
            file,
            path,
            rows,
            bytes,
            p50_ms: round2(took[took.len() / 2]),
            max_ms: round2(took[took.len() - 1]),
        });
    }
    Ok(out)
}

/// Starts the peak-memory count afresh (Linux: `/proc/self/clear_refs`), so the seeding's
/// peak is not counted; elsewhere the count is the whole run's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory in MB (`VmHWM`); 0 where there is no `/proc`.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| round2(kb / 1024.0))
}
