//! `borgerpc-admin bench --pages`: how fast the portal's busiest pages answer on a large site.
//! A fresh database gets one site with many PCs, jobs and security events (written in bulk
//! with SQL, as a years-old site would have them), the portal starts on it, a site
//! administrator logs in over HTTP, and each page is asked for many times in turn. The
//! figures are the time from sending the request to the whole answer read, over loopback:
//! an upper bound for the time the server takes.

use crate::bench::{FreshDatabase, round2};
use crate::config::Config;
use crate::store::Store;
use crate::store::jobs::NewScript;
use anyhow::Context as _;
use serde::Serialize;
use std::time::Instant;

/// What to seed and how often to ask.
#[derive(Debug, Clone)]
pub struct PageOptions {
    pub pcs: i64,
    pub jobs: i64,
    pub events: i64,
    /// Requests per page.
    pub requests: usize,
    /// `postgres://…` for a fresh schema there; `None`: a SQLite file in a temp dir.
    pub database_url: Option<String>,
    /// Leave the seeded database in place (its URL goes to stderr), e.g. to time a backup.
    pub keep: bool,
}

/// One page's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PageTiming {
    pub page: &'static str,
    pub path: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The JSON line `bench --pages` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    pub database: &'static str,
    pub pcs: i64,
    pub jobs: i64,
    pub events: i64,
    pub requests_per_page: usize,
    pub seed_s: f64,
    pub pages: Vec<PageTiming>,
    /// The target: every page's p99 under 50 ms.
    pub all_p99_under_50ms: bool,
}

/// Jobs per batch, as runs on a large site go.
const JOBS_PER_BATCH: i64 = 1_000;
const SITE: &str = "bench";
const USER: &str = "bench-admin";

pub async fn run(opts: &PageOptions) -> anyhow::Result<PageReport> {
    anyhow::ensure!(opts.pcs >= 1, "--pcs: at least 1");
    anyhow::ensure!(opts.requests >= 1, "--requests: at least 1");
    let fresh = FreshDatabase::create(opts.database_url.as_deref()).await?;
    let result = run_on(opts, &fresh).await;
    if opts.keep {
        // The schema or file, never the URL: a PostgreSQL URL carries its password.
        eprintln!("kept: {}", fresh.kept());
    } else {
        fresh.remove().await;
    }
    result
}

async fn run_on(opts: &PageOptions, fresh: &FreshDatabase) -> anyhow::Result<PageReport> {
    let mut config = Config::default();
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = fresh.url.clone();
    let store = Store::open(&config.database.url, config.database.max_connections)
        .await
        .context("opening the bench database")?;
    let started = Instant::now();
    let password = seed(&store, opts).await.context("seeding the site")?;
    let seed_s = round2(started.elapsed().as_secs_f64());
    let running = crate::app::start(&config, store.clone()).await?;
    let measured = measure(&running.url(), &password, opts).await;
    running.shutdown().await;
    store.db.close().await;
    let pages = measured?;
    Ok(PageReport {
        database: fresh.kind,
        pcs: opts.pcs,
        jobs: opts.jobs,
        events: opts.events,
        requests_per_page: opts.requests,
        seed_s,
        all_p99_under_50ms: pages.iter().all(|p| p.p99_ms < 50.0),
        pages,
    })
}

/// The site, its administrator (the password is returned), a script, and the PCs, batches,
/// jobs and events in bulk: half the PCs online, one in fifty waiting for activation, a job
/// in ten failed and one in ten waiting, events of every status (their e-mails sent long
/// ago, as on a site that has run for years: the mailer has nothing to catch up on).
async fn seed(store: &Store, opts: &PageOptions) -> anyhow::Result<String> {
    let now = service_kit::db::now_ms();
    let customer = store.add_customer("Bench Kommune").await?;
    let site = store.add_site(customer.id, SITE, "Bench").await?;
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 9]>()));
    let user = store
        .add_user(USER, "bench@example.invalid", &password, false)
        .await?;
    store
        .add_membership(user.id, "site_admin", None, Some(site.id))
        .await?;
    let script = store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "Bench".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: Vec::new(),
        })
        .await?;
    let security = store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "Bench security".into(),
            description: String::new(),
            category: None,
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: Vec::new(),
        })
        .await?;
    let rule = store
        .add_security_problem(site.id, "Bench", "HIGH", security.script_id, &[])
        .await?;
    let batches = (opts.jobs + JOBS_PER_BATCH - 1) / JOBS_PER_BATCH;
    // Numbers 1..=n for INSERT … SELECT: a recursive CTE, which SQLite and PostgreSQL share.
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)";
    let statements: [(String, Vec<i64>); 6] = [
        (
            format!(
                "{numbers} INSERT INTO pcs (site_id, uid, mac, name, created_at, last_seen, client_version, is_activated)
                 SELECT $2, 'bench-' || i, 'mac-' || i, 'pc-' || i, $3 - i * 1000, $3 - (i % 600) * 1000,
                        CASE WHEN i % 3 = 0 THEN '3.2.0' ELSE '3.1.9' END,
                        CASE WHEN i % 50 = 0 THEN 0 ELSE 1 END
                 FROM n"
            ),
            vec![opts.pcs, site.id, now],
        ),
        // What every agent reports of itself: one PC in ten a kiosk, one in four on 24.04.
        (
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
             SELECT 'pc', id, 'os2_product',
                    CASE WHEN id % 10 = 0 THEN 'os2borgerpc kiosk' ELSE 'os2borgerpc' END, 1
             FROM pcs WHERE site_id = $1"
                .to_owned(),
            vec![site.id],
        ),
        (
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
             SELECT 'pc', id, '_os_release', CASE WHEN id % 4 = 0 THEN '24.04' ELSE '22.04' END, 1
             FROM pcs WHERE site_id = $1"
                .to_owned(),
            vec![site.id],
        ),
        (
            format!(
                "{numbers} INSERT INTO batches (site_id, script_version_id, name, created_by, created_at)
                 SELECT $2, $3, 'Bench', 'user:bench-admin', $4 - ($1 - i) * 60000 FROM n"
            ),
            vec![batches.max(1), site.id, script.version_id, now],
        ),
        (
            format!(
                "{numbers} INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at)
                 SELECT (SELECT MIN(id) FROM batches) + (i - 1) / $5,
                        (SELECT MIN(id) FROM pcs) + i % $2, $3,
                        CASE i % 10 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'NEW' ELSE 'DONE' END,
                        $4 - ($1 - i) * 60
                 FROM n"
            ),
            vec![opts.jobs, opts.pcs, site.id, now, JOBS_PER_BATCH],
        ),
        (
            format!(
                "{numbers} INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at,
                        occurred_text, reported_at, notified_at, summary, status)
                 SELECT $2, (SELECT MIN(id) FROM pcs) + i % $3, 'security', $4, $5 - ($1 - i) * 1000,
                        'bench', $5 - ($1 - i) * 1000, $5 - ($1 - i) * 1000, 'Bench event',
                        CASE i % 4 WHEN 0 THEN 'NEW' WHEN 1 THEN 'ASSIGNED' ELSE 'RESOLVED' END
                 FROM n"
            ),
            vec![opts.events, site.id, opts.pcs, rule, now],
        ),
    ];
    for (sql, binds) in statements {
        if binds[0] < 1 {
            continue;
        }
        let mut tx = store.db.begin_write().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    // Written around the store, so its kept counts are made from the rows.
    let mut tx = store.db.begin_write().await?;
    crate::store::pc_counts::recount(&mut tx, site.id).await?;
    crate::store::reports::inventory::rebuild(&mut tx, site.id).await?;
    crate::store::jobs::count_batch_pcs(&mut tx).await?;
    crate::store::reports::ops_rollup::Rollup::rebuild_all(&mut tx).await?;
    tx.commit().await?;
    // The planner's statistics and PostgreSQL's visibility map, as a database that grew to
    // this size under autovacuum would have them (VACUUM cannot run in a transaction, and
    // SQLite's would only rewrite the file).
    let maintenance = match store.db.kind() {
        // Its own tables only: a bare VACUUM takes every schema of the database.
        service_kit::db::DbKind::Postgres => {
            "VACUUM ANALYZE pcs, config_entries, batches, jobs, security_events"
        }
        service_kit::db::DbKind::Sqlite => "ANALYZE",
    };
    sqlx::query(maintenance).execute(store.pool()).await?;
    Ok(password)
}

/// Logs in and asks for each page `opts.requests` times in turn.
async fn measure(
    base: &str,
    password: &str,
    opts: &PageOptions,
) -> anyhow::Result<Vec<PageTiming>> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let sid = login(&client, base, USER, password).await?;
    let pages: Vec<(&'static str, String)> = vec![
        ("status", format!("/steder/{SITE}")),
        (
            "pc_list_filtered_sorted_page_500",
            format!("/steder/{SITE}/pc?online=ja&aktiveret=ja&sorter=navn&side=500"),
        ),
        ("jobs_list", format!("/steder/{SITE}/jobs")),
        (
            "jobs_list_failed",
            format!("/steder/{SITE}/jobs?status=FAILED"),
        ),
        ("events_list", format!("/steder/{SITE}/sikkerhed")),
        (
            "events_list_all_statuses",
            format!("/steder/{SITE}/sikkerhed?status=NEW&status=ASSIGNED&status=RESOLVED"),
        ),
    ];
    let cookie = ("cookie", format!("sid={sid}"));
    time_paths(&client, base, &cookie, pages, opts.requests).await
}

/// Asks for each path `requests` times in turn (after one unmeasured request that warms the
/// database's caches) with one header (the session's cookie, or a bearer token), and gives
/// each path's p50, p99 and max; an answer that is not a success stops the bench.
pub(crate) async fn time_paths(
    client: &reqwest::Client,
    base: &str,
    header: &(&'static str, String),
    pages: Vec<(&'static str, String)>,
    requests: usize,
) -> anyhow::Result<Vec<PageTiming>> {
    let mut out = Vec::new();
    for (page, path) in pages {
        let mut times = Vec::with_capacity(requests);
        for n in 0..=requests {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header(header.0, &header.1)
                .send()
                .await?;
            let status = res.status();
            res.bytes().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            if n > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        out.push(PageTiming {
            page,
            path,
            p50_ms: round2(at(0.50)),
            p99_ms: round2(at(0.99)),
            max_ms: round2(at(1.0)),
        });
    }
    Ok(out)
}

/// The login form as a browser sends it; returns the session cookie's value.
pub(crate) async fn login(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let sid_of = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().ok()?.strip_prefix("sid="))
            .map(|c| c.split(';').next().unwrap_or("").to_owned())
            .next()
    };
    let form = client.get(format!("{base}/log-ind")).send().await?;
    let sid = sid_of(&form).context("the login page set no session")?;
    let body = form.text().await?;
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("the login page has no CSRF token")?
        .to_owned();
    let sent = client
        .post(format!("{base}/log-ind"))
        .header("cookie", format!("sid={sid}"))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("brugernavn", user),
            ("adgangskode", password),
        ])?)
        .send()
        .await?;
    anyhow::ensure!(sent.status().as_u16() == 303, "login: {}", sent.status());
    sid_of(&sent).context("the login set no new session")
}
