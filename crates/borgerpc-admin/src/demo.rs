//! `borgerpc-admin demo`: the portal on SQLite in a temporary folder with a municipality, two
//! sites, groups, scripts and rules, and a few hundred simulated PCs that register, get
//! activated by an operator, receive jobs and report results and security events — all through
//! the real HTTP client-api and operator API. Ends with a summary, and exits 0 only if every
//! number is what it should be.

use crate::agent_sim::{Behaviour, CheckIn, SimAgent};
use crate::config::Config;
use crate::store::Store;
use crate::store::jobs::{JobStatus, NewInput, NewScript};
use anyhow::Context as _;
use serde_json::{Value, json};
use std::sync::Arc;

const SITES: [(&str, &str); 2] = [
    ("bibliotek", "Hovedbiblioteket"),
    ("borgerservice", "Borgerservice"),
];
const CONCURRENCY: usize = 32;

fn bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:<34} [{bar:30}] {pos}/{len} {elapsed}")
    {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(message);
    b
}

/// An operator API call with the demo's key.
async fn api(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req
        .send()
        .await
        .with_context(|| format!("{path}: no answer"))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `f` on every agent, `CONCURRENCY` at a time, with a progress bar.
async fn each<F, Fut, T>(agents: &[SimAgent], message: &'static str, f: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize, SimAgent) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let progress = bar(agents.len() as u64, message);
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(agents.len());
    for (i, a) in agents.iter().enumerate() {
        let permit = limit.clone().acquire_owned().await?;
        let fut = f(i, a.clone());
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            progress.inc(1);
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await??);
    }
    progress.finish();
    Ok(out)
}

fn demo_scripts() -> Vec<NewScript> {
    let script =
        |name: &str, category: &str, security: bool, code: &str, inputs: Vec<NewInput>| NewScript {
            site_id: None,
            uid: None,
            name: name.into(),
            description: String::new(),
            category: Some(category.into()),
            is_security: security,
            is_hidden: false,
            version: 1,
            code: code.into(),
            inputs,
        };
    vec![
        script(
            "Vis diskplads",
            "System",
            false,
            "#!/bin/sh\ndf -h /\n",
            vec![],
        ),
        script(
            "Sæt skrivebordsbaggrund",
            "Desktop",
            false,
            "#!/bin/sh\ncp \"$1\" /usr/share/backgrounds/os2borgerpc.png\n",
            vec![NewInput {
                name: "Billede".into(),
                value_type: "FILE".into(),
                default_value: None,
                mandatory: true,
            }],
        ),
        script(
            "Opdag sudo",
            "Sikkerhed",
            true,
            "#!/bin/sh\ngrep sudo /var/log/auth.log | sed 's/^/%SECURITY_PROBLEM_UID%,/' >> /etc/os2borgerpc/security/securityevent.csv\n",
            vec![],
        ),
    ]
}

/// Runs the demo in `dir` with `pcs` simulated PCs; `Ok(true)` if the outcome is as expected.
/// With `keep`, the portal then stays up on the demo's data, with a login for a person to
/// look around, until Ctrl-C.
pub async fn run(dir: &std::path::Path, pcs: u32, keep: bool) -> anyhow::Result<bool> {
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("demo.db").display());
    config.server.listen = "127.0.0.1:0".parse()?;
    // Every simulated PC registers from this machine's address, all at once.
    config.agents.registrations_per_minute_per_address = 0;
    config.agents.registrations_per_minute_per_site = 0;
    let store = Store::open(&config.database.url, 8).await?;
    let portal = crate::app::start(&config, store.clone()).await?;
    let base = portal.url();
    eprintln!("portal: {base} (SQLite in {})", dir.display());

    // The municipality as its IT staff would set it up.
    let customer = store.add_customer("Demo Kommune").await?;
    let mut keys = Vec::new();
    let mut script_ids = Vec::new();
    for s in demo_scripts() {
        script_ids.push(store.save_script(&s).await?.script_id);
    }
    let mut groups = Vec::new();
    for (uid, name) in SITES {
        let site = store.add_site(customer.id, uid, name).await?;
        groups.push(store.add_group(site.id, "Udlån").await?);
        store
            .add_security_problem(site.id, "Sudo brugt", "HIGH", script_ids[2], &[])
            .await?;
        store
            .add_offline_rule(
                site.id,
                "Slukket i åbningstiden",
                "NORMAL",
                "09:00",
                "18:00",
                60,
                &[],
            )
            .await?;
        keys.push(store.add_api_key(site.id, "demo", true).await?);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;

    // PCs register (not activated yet).
    let agents: Vec<SimAgent> = (0..pcs)
        .map(|i| SimAgent::new(i + 1, SITES[(i % 2) as usize].0))
        .collect();
    let registered: Vec<SimAgent> = each(&agents, "PCs register", |_, mut a| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            a.register(&client, &base).await?;
            Ok(a)
        }
    })
    .await?;

    // An operator activates them and puts them in the Udlån group, through the API.
    let mut pc_ids = Vec::new();
    for (site, key) in SITES.iter().zip(&keys) {
        let mut offset = 0;
        loop {
            let page = api(
                &client,
                &base,
                key,
                reqwest::Method::GET,
                &format!(
                    "/api/system/computers?site={}&limit=1000&offset={offset}",
                    site.0
                ),
                None,
            )
            .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            pc_ids.extend(
                items
                    .iter()
                    .filter_map(|p| Some((p["id"].as_i64()?, key.clone(), site.0))),
            );
            offset += items.len();
            if items.is_empty() || offset as i64 >= page["count"].as_i64().unwrap_or(0) {
                break;
            }
        }
    }
    let progress = bar(pc_ids.len() as u64, "operator activates PCs");
    for (id, key, site) in &pc_ids {
        api(
            &client,
            &base,
            key,
            reqwest::Method::POST,
            &format!("/api/system/pc/{id}/activate"),
            Some(json!({"is_activated": true})),
        )
        .await?;
        let g = if *site == SITES[0].0 {
            groups[0]
        } else {
            groups[1]
        };
        api(
            &client,
            &base,
            key,
            reqwest::Method::POST,
            &format!("/api/system/group/{g}/members"),
            Some(json!({"pc_id": id})),
        )
        .await?;
        progress.inc(1);
    }
    progress.finish();

    // Jobs: disk space on every PC of both groups; a wallpaper (a file) on the library's.
    let mut expected_jobs = 0;
    for (i, key) in keys.iter().enumerate() {
        let b = api(
            &client,
            &base,
            key,
            reqwest::Method::POST,
            "/api/system/jobs",
            Some(json!({"script_id": script_ids[0], "groups": [groups[i]]})),
        )
        .await?;
        expected_jobs += b["job_ids"].as_array().map_or(0, Vec::len);
    }
    let png = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"\x89PNG demo");
    let b = api(&client, &base, &keys[0], reqwest::Method::POST, "/api/system/jobs", Some(json!({"script_id": script_ids[1], "groups": [groups[0]], "parameters": [{"name": "baggrund.png", "content_base64": png}]}))).await?;
    let wallpapers = b["job_ids"].as_array().map_or(0, Vec::len);
    expected_jobs += wallpapers;

    // Two check-in rounds. Every 25th PC's jobs fail; every 10th library PC reports sudo use.
    let behaviour = |i: usize| Behaviour {
        fail_jobs: i % 25 == 24,
        raise_event: i.is_multiple_of(20),
    };
    let mut total = CheckIn::default();
    for round in ["check-in 1", "check-in 2"] {
        let results = each(&registered, round, |i, a| {
            let (client, base) = (client.clone(), base.clone());
            async move { a.check_in(&client, &base, behaviour(i)).await }
        })
        .await?;
        for r in results {
            total += r;
        }
    }

    // Someone who knows a PC's uid (for a PC from an older portal, md5 of its MAC) but not its
    // key tries to get its jobs.
    let victim = registered[0].uid.clone().unwrap_or_default();
    let forged = client
        .post(format!("{base}/client-api/get_instructions"))
        .json(&json!({"pc_uid": victim, "jobs_received_check": true, "client_key": "f".repeat(64)}))
        .send()
        .await?;
    let impersonation_refused = forged.status() == reqwest::StatusCode::BAD_REQUEST;

    // What the portal now knows.
    // `statuses` are bound as $1, $2, …: a status is spelled only by `JobStatus`.
    let count = |sql: &'static str, statuses: &'static [JobStatus]| {
        let store = store.clone();
        async move {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for s in statuses {
                q = q.bind(s.as_str());
            }
            q.fetch_one(store.pool()).await
        }
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // heartbeats are batched
    let activated = count("SELECT COUNT(*) FROM pcs WHERE is_activated = 1", &[]).await?;
    let seen = count("SELECT COUNT(*) FROM pcs WHERE last_seen IS NOT NULL", &[]).await?;
    let done = count(
        "SELECT COUNT(*) FROM jobs WHERE status = $1",
        &[JobStatus::Done],
    )
    .await?;
    let failed = count(
        "SELECT COUNT(*) FROM jobs WHERE status = $1",
        &[JobStatus::Failed],
    )
    .await?;
    let open = count(
        "SELECT COUNT(*) FROM jobs WHERE status IN ($1, $2)",
        &[JobStatus::New, JobStatus::Submitted],
    )
    .await?;
    let events = count(
        "SELECT COUNT(*) FROM security_events WHERE rule_kind = 'security'",
        &[],
    )
    .await?;
    let files = total.files_fetched as i64;

    let pcs = i64::from(pcs);
    let rows = [
        (
            "PCs registered / registrerede",
            pcs,
            registered.len() as i64,
        ),
        ("PCs activated / aktiverede", pcs, activated),
        ("PCs seen / set", pcs, seen),
        ("jobs DONE / udført", i64::from(total.jobs_done), done),
        (
            "jobs FAILED / fejlede",
            i64::from(total.jobs_failed),
            failed,
        ),
        ("jobs waiting / ventende", 0, open),
        ("job files fetched / filer hentet", wallpapers as i64, files),
        (
            "security events / sikkerhedshændelser",
            i64::from(total.events_sent),
            events,
        ),
        (
            "impersonation refused / forfalskning afvist",
            1,
            i64::from(impersonation_refused),
        ),
    ];
    println!("\n{:<46} {:>9} {:>9}", "", "expected", "portal");
    let mut ok = done + failed == expected_jobs as i64;
    for (what, want, got) in rows {
        let mark = if want == got { "" } else { "  <-- differs" };
        ok &= want == got;
        println!("{what:<46} {want:>9} {got:>9}{mark}");
    }
    println!(
        "\n{} client-api requests in two check-in rounds; {} jobs made by the operator.",
        total.requests, expected_jobs
    );
    println!(
        "{}",
        if ok {
            "OK: the portal's view matches what the PCs did."
        } else {
            "FAILED: see the rows marked above."
        }
    );
    if keep {
        look_around(&store, customer.id, &base).await?;
    }
    portal.shutdown().await;
    Ok(ok)
}

/// A customer administrator with a fresh password, printed with the portal's address, and
/// the portal left running until Ctrl-C.
async fn look_around(store: &Store, customer_id: i64, base: &str) -> anyhow::Result<()> {
    let password = format!("demo-{}", hex::encode(rand::random::<[u8; 9]>()));
    let user = store
        .add_user("demo", "demo@example.invalid", &password, false)
        .await?;
    store
        .add_membership(user.id, "customer_admin", Some(customer_id), None)
        .await?;
    println!("\nThe portal stays up on the demo's data / Portalen kører videre med demoens data:");
    println!("  {base}/");
    println!("  login / log ind: demo  password / adgangskode: {password}");
    println!("Stop with Ctrl-C / Stop med Ctrl-C.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
