//! `borgerpc-admin bench`: what a fleet of agents costs the portal, measured end to end.
//!
//! This module owns the load test: a portal started in-process on a fresh database (a SQLite
//! file in a temp dir, or a schema of its own on PostgreSQL, dropped afterwards), N PCs
//! registered through the real client-api over HTTP, then C workers that each keep one
//! HTTP/1.1 connection alive and run the check-in cycle of os2borgerpc-client 3.2.0 for their
//! share of the PCs for S seconds. Out comes one JSON line (requests/s, latency percentiles,
//! errors, peak RSS); progress goes to stderr. Afterwards it checks in the database that the
//! work really happened (jobs DONE, events stored, last_seen set), so a fast but wrong portal
//! cannot pass.
//!
//! It lives in the product, not in a test, so an operator can run it on their own hardware
//! and database before rolling out to a municipality's fleet.

use crate::config::Config;
use crate::store::Store;
use crate::store::jobs::{JobStatus, NewInput, NewScript, ParamValue, RunScript};
use anyhow::Context as _;
use borgerpc_proto::client_api::Instructions;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub pcs: usize,
    pub seconds: u64,
    pub concurrency: usize,
    /// `postgres://…` benches on a fresh schema there; `None` on a SQLite file in a temp dir.
    pub database_url: Option<String>,
}

/// The JSON line `bench` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pcs: usize,
    pub seconds: u64,
    pub concurrency: usize,
    pub database: &'static str,
    pub requests: u64,
    pub requests_per_s: f64,
    pub checkins_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub setup_s: f64,
    pub registrations_per_s: f64,
    /// Of `setup_s`: activating the PCs one by one.
    pub activation_s: f64,
    pub peak_rss_mb: f64,
    /// The portal and the load generator run in one process, so the peak RSS is theirs
    /// together: an upper bound for the portal alone.
    pub rss_includes_load_generator: bool,
    /// TCP connections the workers opened in the measured phase (keep-alive: one each).
    pub connections: usize,
    /// Distinct PCs that completed at least one check-in.
    pub pcs_checked_in: usize,
    /// Jobs handed out, run (pretend) and reported DONE in the measured phase.
    pub jobs_done: usize,
    pub security_events: u64,
}

/// What client 3.2.0 reports about itself in every cycle's `push_config_keys`.
const CLIENT_VERSION: &str = "3.2.0";
const IP_ADDRESSES: &str = "192.0.2.2 fd00::2";
const KERNEL_VERSION: &str = "6.8.0-45-generic";
/// A security event goes with one cycle in this many.
const EVENT_EVERY: u64 = 100;
/// A job waits for one PC in this many.
const JOB_EVERY: usize = 100;
/// Distinct error messages printed to stderr.
const ERRORS_SHOWN: usize = 5;
/// The calls of a cycle, in order, with the endpoint each posts to. Latencies are kept per
/// call, and calls that write (jobs, events) apart from those that only read, to show which
/// kind is slow.
const CALLS: [(&str, &str); 7] = [
    ("push_config_keys", "push_config_keys"),
    ("get_instructions", "get_instructions"),
    ("confirm_jobs_receipt []", "confirm_jobs_receipt"),
    ("confirm_jobs_receipt [id]", "confirm_jobs_receipt"),
    ("send_status_info []", "send_status_info"),
    ("send_status_info [DONE]", "send_status_info"),
    ("push_security_events", "push_security_events"),
];
const PUSH_CONFIG_KEYS: usize = 0;
const GET_INSTRUCTIONS: usize = 1;
const CONFIRM: usize = 2;
const CONFIRM_JOBS: usize = 3;
const STATUS: usize = 4;
const STATUS_JOBS: usize = 5;
const SECURITY_EVENTS: usize = 6;

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.pcs >= 1, "--pcs: at least 1");
    anyhow::ensure!(opts.seconds >= 1, "--seconds: at least 1");
    anyhow::ensure!(opts.concurrency >= 1, "--concurrency: at least 1");
    anyhow::ensure!(
        u32::try_from(opts.pcs - 1).is_ok(),
        "--pcs: at most 2^32 (MACs are 02:00 and four bytes of the PC's number)"
    );
    let fresh = FreshDatabase::create(opts.database_url.as_deref()).await?;
    let result = run_on(opts, &fresh).await;
    fresh.remove().await;
    result
}

/// A database made for one run and removed after it.
pub(crate) struct FreshDatabase {
    pub(crate) url: String,
    pub(crate) kind: &'static str,
    /// SQLite: the temp dir with the file.
    dir: Option<PathBuf>,
    /// PostgreSQL: the server's URL and the schema made for the run.
    schema: Option<(String, String)>,
}

impl FreshDatabase {
    pub(crate) async fn create(database_url: Option<&str>) -> anyhow::Result<Self> {
        let tag = format!("{}_{}", service_kit::db::now_ms(), std::process::id());
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                // As service_kit::db::test_database_url: a schema of its own, so a run never
                // sees (or harms) another's data, reached through the search_path.
                let schema = format!("bench_{tag}");
                let admin = service_kit::db::Db::connect(url, 1)
                    .await
                    .context("--database-url")?;
                let sql = format!("CREATE SCHEMA {schema}");
                admin
                    .write(move |c| {
                        Box::pin(async move {
                            sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(&mut *c)
                                .await?;
                            Ok(())
                        })
                    })
                    .await
                    .context("creating the bench schema")?;
                admin.close().await;
                let sep = if url.contains('?') { '&' } else { '?' };
                Ok(Self {
                    url: format!("{url}{sep}options=-c%20search_path%3D{schema}"),
                    kind: "postgres",
                    dir: None,
                    schema: Some((url.to_owned(), schema)),
                })
            }
            Some(url) => anyhow::bail!(
                "--database-url: {:?} is not postgres://…; leave it out to bench on a fresh SQLite file",
                url.chars().take(20).collect::<String>()
            ),
            None => {
                let dir = std::env::temp_dir().join(format!("borgerpc-bench-{tag}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Ok(Self {
                    url: format!("sqlite://{}", dir.join("bench.db").display()),
                    kind: "sqlite",
                    dir: Some(dir),
                    schema: None,
                })
            }
        }
    }

    /// The database a `--keep` run left: `name` is its SQLite file, or with `database_url`
    /// its PostgreSQL schema (as `kept` printed it).
    pub(crate) fn kept_before(database_url: Option<&str>, name: &str) -> anyhow::Result<Self> {
        match database_url {
            Some(url) => {
                anyhow::ensure!(
                    name.starts_with("bench_")
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "--reuse: {name:?} is not a schema a bench made (bench_…)"
                );
                let sep = if url.contains('?') { '&' } else { '?' };
                Ok(Self {
                    url: format!("{url}{sep}options=-c%20search_path%3D{name}"),
                    kind: "postgres",
                    dir: None,
                    schema: Some((url.to_owned(), name.to_owned())),
                })
            }
            None => {
                let path = name.strip_prefix("sqlite://").unwrap_or(name);
                anyhow::ensure!(
                    std::path::Path::new(path).is_file(),
                    "--reuse: {path} is not a file; give the SQLite file a `--keep` run printed"
                );
                Ok(Self {
                    url: format!("sqlite://{path}"),
                    kind: "sqlite",
                    dir: None,
                    schema: None,
                })
            }
        }
    }

    /// Where the database is, for the operator: the SQLite URL, or the PostgreSQL schema
    /// (to put in the `search_path` of `--database-url`).
    pub(crate) fn kept(&self) -> String {
        match &self.schema {
            Some((_, schema)) => format!("schema {schema} (--reuse {schema} with --database-url)"),
            None => self.url.clone(),
        }
    }

    /// What `--reuse` takes to find this database again: the SQLite file or the schema.
    pub(crate) fn reuse_name(&self) -> String {
        match &self.schema {
            Some((_, schema)) => schema.clone(),
            None => self.url.trim_start_matches("sqlite://").to_owned(),
        }
    }

    /// Best effort: a leftover is worth a warning, not a failed run.
    pub(crate) async fn remove(self) {
        if let Some((url, schema)) = &self.schema {
            let dropped = async {
                let admin = service_kit::db::Db::connect(url, 1).await?;
                let sql = format!("DROP SCHEMA {schema} CASCADE");
                admin
                    .write(move |c| {
                        Box::pin(async move {
                            sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(&mut *c)
                                .await?;
                            Ok(())
                        })
                    })
                    .await?;
                admin.close().await;
                anyhow::Ok(())
            };
            if let Err(e) = dropped.await {
                eprintln!("warning: could not drop the bench schema {schema}: {e:#}");
            }
        }
        if let Some(dir) = &self.dir
            && let Err(e) = std::fs::remove_dir_all(dir)
        {
            eprintln!("warning: could not remove {}: {e}", dir.display());
        }
    }
}

async fn run_on(opts: &Options, fresh: &FreshDatabase) -> anyhow::Result<Report> {
    let mut config = Config::default();
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = fresh.url.clone();
    // The whole fleet registers from this machine's address, as fast as it can.
    config.agents.registrations_per_minute_per_address = 0;
    config.agents.registrations_per_minute_per_site = 0;
    let store = Store::open(&config.database.url, config.database.max_connections)
        .await
        .context("opening the bench database")?;
    let running = crate::app::start(&config, store.clone()).await?;
    let url = running.url();
    let port = running.addr.port();
    let driven = drive(opts, &store, &url, port).await;
    // Shutting down writes the heartbeats still queued, so last_seen is final for the checks.
    running.shutdown().await;
    let peak_rss_mb = round2(peak_rss_kb() as f64 / 1024.0);
    let (figures, expected) = driven?;
    let report = Report {
        pcs: opts.pcs,
        seconds: opts.seconds,
        concurrency: opts.concurrency,
        database: fresh.kind,
        peak_rss_mb,
        rss_includes_load_generator: true,
        ..figures
    };
    let problems = verify(&store, &expected, opts.concurrency.min(opts.pcs), &report).await;
    store.db.close().await;
    match problems {
        Ok(()) => Ok(report),
        Err(e) => Err(e.context(format!(
            "the bench ran but its results are wrong; figures: {}",
            serde_json::to_string(&report).unwrap_or_default()
        ))),
    }
}

/// The fleet: PC `i` has MAC `02:00:` + the four bytes of `i` (locally administered, so never
/// a real card's), its own random client key, and the uid the portal answered at registration.
struct Fleet {
    pcs: Vec<FleetPc>,
}

struct FleetPc {
    uid: std::sync::OnceLock<[u8; 16]>,
    key: [u8; 32],
}

impl FleetPc {
    /// The uid in hex (empty before registration).
    fn uid(&self) -> String {
        self.uid.get().map(hex::encode).unwrap_or_default()
    }
}

fn mac(i: usize) -> String {
    let b = (i as u32).to_be_bytes();
    format!("02:00:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

impl Fleet {
    fn new(n: usize) -> anyhow::Result<Self> {
        let mut pcs = Vec::with_capacity(n);
        for _ in 0..n {
            pcs.push(FleetPc {
                uid: std::sync::OnceLock::new(),
                key: rand::random(),
            });
        }
        Ok(Self { pcs })
    }
}

/// What the measured phase did, for [`verify`].
struct Expected {
    site_id: i64,
    /// The uids of the PCs whose `get_instructions` answered 200.
    checked_in: Vec<String>,
    /// Jobs the PCs received, confirmed and reported DONE.
    jobs_done: Vec<i64>,
    /// Security event lines accepted (reply 200).
    events: u64,
    connections: usize,
}

fn client() -> anyhow::Result<reqwest::Client> {
    // One connection per client, HTTP/1.1 as the agent uses, and never a proxy from the
    // environment: the figures are the portal's, on loopback.
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Posts one client-api call; `Err` says why it failed (transport, or the non-2xx answer).
async fn post(
    http: &reqwest::Client,
    base: &str,
    endpoint: &str,
    body: String,
) -> Result<axum::body::Bytes, String> {
    let r = http
        .post(format!("{base}/client-api/{endpoint}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| format!("{endpoint}: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{endpoint}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    }
}

pub(crate) fn bar(len: u64, prefix: &'static str, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len).with_prefix(prefix);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

const COUNT_BAR: &str = "{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} {msg}";

async fn drive(
    opts: &Options,
    store: &Store,
    base: &str,
    port: u16,
) -> anyhow::Result<(Report, Expected)> {
    let setup_started = Instant::now();
    let customer = store.add_customer("Bench Kommune").await?;
    let site = store.add_site(customer.id, "bench", "Bench").await?;
    let fleet = Arc::new(Fleet::new(opts.pcs)?);
    let workers = opts.concurrency.min(opts.pcs);

    let registration_started = Instant::now();
    register_all(base, &fleet, workers).await?;
    let registration_s = registration_started.elapsed().as_secs_f64();

    let activation_started = Instant::now();
    activate_all(store, base, site.id, &fleet).await?;
    let activation_s = activation_started.elapsed().as_secs_f64();

    let problem_id = give_work(store, site.id, &fleet).await?;
    let setup_s = setup_started.elapsed().as_secs_f64();

    let measured = measure(opts, base, port, &fleet, workers, problem_id).await?;
    let elapsed = measured.elapsed.as_secs_f64();
    let mut latencies = Vec::with_capacity(measured.requests as usize);
    for ((call, _), mut l) in CALLS.iter().zip(measured.latencies_us) {
        l.sort_unstable();
        eprintln!(
            "{:>12} {call:<25} {:>8} calls  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            "",
            l.len(),
            percentile_ms(&l, 0.5),
            percentile_ms(&l, 0.99),
            percentile_ms(&l, 1.0)
        );
        latencies.extend(l);
    }
    latencies.sort_unstable();
    let pct = |p: f64| percentile_ms(&latencies, p);
    let report = Report {
        pcs: opts.pcs,
        seconds: opts.seconds,
        concurrency: opts.concurrency,
        database: "",
        requests: measured.requests,
        requests_per_s: round1(measured.requests as f64 / elapsed),
        checkins_per_s: round1(measured.cycles as f64 / elapsed),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        errors: measured.errors,
        setup_s: round1(setup_s),
        registrations_per_s: round1(opts.pcs as f64 / registration_s),
        activation_s: round1(activation_s),
        peak_rss_mb: 0.0,
        rss_includes_load_generator: true,
        connections: measured.connections,
        pcs_checked_in: measured.checked_in.len(),
        jobs_done: measured.jobs_done.len(),
        security_events: measured.events,
    };
    Ok((
        report,
        Expected {
            site_id: site.id,
            checked_in: measured
                .checked_in
                .iter()
                .map(|i| fleet.pcs[*i].uid())
                .collect(),
            jobs_done: measured.jobs_done,
            events: measured.events,
            connections: measured.connections,
        },
    ))
}

/// Registers every PC through `register_new_computer`, as `os2borgerpc_register_in_admin`
/// does, `workers` at a time.
async fn register_all(base: &str, fleet: &Arc<Fleet>, workers: usize) -> anyhow::Result<()> {
    let bar = bar(fleet.pcs.len() as u64, "registering", COUNT_BAR);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (fleet, next, bar, base) = (fleet.clone(), next.clone(), bar.clone(), base.to_owned());
        let http = client()?;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pc) = fleet.pcs.get(i) else {
                    return anyhow::Ok(());
                };
                let name = format!("bench-{i:07}");
                // The whole local configuration, as the agent sends it. The keys check-ins
                // push are there already, with the values they push: the steady state of a
                // fleet that has run for a while, where a check-in writes no configuration.
                let body = json!({
                    "mac": mac(i),
                    "name": name,
                    "site": "bench",
                    "configuration": {
                        "admin_url": base,
                        "hostname": name,
                        "os2borgerpc_version": "5.0.0",
                        "os_name": "Ubuntu 22.04.4 LTS",
                        "_os_release": "22.04",
                        "pc_manufacturer": "LENOVO",
                        "pc_model": "ThinkCentre M70q",
                        "pc_version": "ThinkCentre M70q Gen 2",
                        "pc_serial_number": format!("BENCH{i:07}"),
                        "pc_cpus": "4",
                        "pc_ram": "8",
                        "job_timeout": "900",
                        "_os2borgerpc.client_version": CLIENT_VERSION,
                        "_ip_addresses": IP_ADDRESSES,
                        "_kernel_version": KERNEL_VERSION,
                        "_last_automatic_update_time": "",
                    },
                    "client_key": hex::encode(pc.key),
                });
                let reply = post(&http, &base, "register_new_computer", body.to_string())
                    .await
                    .map_err(|e| anyhow::anyhow!("registering PC {i}: {e}"))?;
                let uid: String = serde_json::from_slice(&reply)
                    .with_context(|| format!("registering PC {i}: the reply is not a uid"))?;
                let mut bytes = [0u8; 16];
                hex::decode_to_slice(&uid, &mut bytes).with_context(|| {
                    format!("registering PC {i}: the portal answered uid {uid}, not 32 hex")
                })?;
                anyhow::ensure!(
                    pc.uid.set(bytes).is_ok(),
                    "registering PC {i}: registered twice"
                );
                bar.inc(1);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a registration task")??;
    }
    bar.finish();
    Ok(())
}

/// Activates every PC as an operator's tool would: `POST /api/system/pcs/activate` with a
/// write API key of the site, 1000 uids per call, a few calls at a time.
async fn activate_all(
    store: &Store,
    base: &str,
    site_id: i64,
    fleet: &Arc<Fleet>,
) -> anyhow::Result<()> {
    let key = store.add_api_key(site_id, "bench", true).await?;
    let bar = bar(fleet.pcs.len() as u64, "activating", COUNT_BAR);
    let batches: Vec<Vec<String>> = fleet
        .pcs
        .chunks(1000)
        .map(|c| c.iter().map(FleetPc::uid).collect())
        .collect();
    let batches = Arc::new(std::sync::Mutex::new(batches));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (batches, bar, key, base) =
            (batches.clone(), bar.clone(), key.clone(), base.to_owned());
        tasks.spawn(async move {
            let http = client()?;
            loop {
                let Some(uids) = batches
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .pop()
                else {
                    return anyhow::Ok(());
                };
                let n = uids.len() as u64;
                let r = http
                    .post(format!("{base}/api/system/pcs/activate"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"uids": uids, "is_activated": true}))
                    .send()
                    .await
                    .context("activating PCs")?;
                let status = r.status();
                let body = r.text().await.context("activating PCs")?;
                anyhow::ensure!(status.is_success(), "activating PCs: HTTP {status}: {body}");
                bar.inc(n);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("an activation task")??;
    }
    bar.finish();
    Ok(())
}

/// A job script with one STRING parameter, NEW jobs on one PC in [`JOB_EVERY`], and a security
/// rule for the whole site. Returns the rule's id (the events' problem id).
async fn give_work(store: &Store, site_id: i64, fleet: &Fleet) -> anyhow::Result<i64> {
    let job_script = store
        .save_script(&NewScript {
            site_id: Some(site_id),
            uid: Some("bench-hello".into()),
            name: "Bench hello".into(),
            description: "Prints its parameter.".into(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\necho \"$1\"\n".into(),
            inputs: vec![NewInput {
                name: "greeting".into(),
                value_type: "STRING".into(),
                default_value: None,
                mandatory: true,
            }],
        })
        .await?;
    let uids: Vec<String> = (0..fleet.pcs.len())
        .step_by(JOB_EVERY)
        .map(|i| fleet.pcs[i].uid())
        .collect();
    let pc_ids = store.pc_ids_in_site(site_id, &uids).await?;
    // Batches of a size an operator would start, and well under the databases' limits on
    // bound parameters.
    for chunk in pc_ids.chunks(1000) {
        store
            .run_script(RunScript {
                site_id,
                script_id: job_script.script_id,
                pc_ids: chunk,
                params: vec![ParamValue::Text("hello from the bench".into())],
                created_by: "bench",
            })
            .await?;
    }
    let rule_script = store
        .save_script(&NewScript {
            site_id: Some(site_id),
            uid: Some("bench-rule".into()),
            name: "Bench rule".into(),
            description: "Never fires on its own.".into(),
            category: None,
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\n# problem %SECURITY_PROBLEM_UID%\nexit 0\n".into(),
            inputs: Vec::new(),
        })
        .await?;
    store
        .add_security_problem(site_id, "Bench rule", "NORMAL", rule_script.script_id, &[])
        .await
        .map_err(Into::into)
}

struct Measured {
    elapsed: Duration,
    requests: u64,
    cycles: u64,
    errors: u64,
    latencies_us: [Vec<u32>; CALLS.len()],
    checked_in: Vec<usize>,
    jobs_done: Vec<i64>,
    events: u64,
    connections: usize,
}

/// What one worker did.
#[derive(Default)]
struct WorkerTally {
    requests: u64,
    cycles: u64,
    errors: u64,
    latencies_us: [Vec<u32>; CALLS.len()],
    checked_in: Vec<usize>,
    jobs_done: Vec<i64>,
    events: u64,
}

/// Shared between the workers and the progress bar.
struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
    /// The first distinct error messages, for stderr.
    messages: Mutex<Vec<String>>,
}

impl Live {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.messages.lock()
            && m.len() < ERRORS_SHOWN
            && !m.contains(&message)
        {
            eprintln!("bench: error: {message}");
            m.push(message);
        }
    }
}

async fn measure(
    opts: &Options,
    base: &str,
    port: u16,
    fleet: &Arc<Fleet>,
    workers: usize,
    problem_id: i64,
) -> anyhow::Result<Measured> {
    let live = Arc::new(Live {
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        messages: Mutex::new(Vec::new()),
    });
    let sockets = ConnectionWatch::start(port);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (fleet, live, base) = (fleet.clone(), live.clone(), base.to_owned());
        let http = client()?;
        tasks.spawn(async move {
            let mut t = WorkerTally::default();
            // Worker w serves PCs w, w+C, w+2C, …, in order and round again if time is left.
            let share = (fleet.pcs.len() - w).div_ceil(workers);
            let mut seen = vec![false; share];
            let mut k = 0usize;
            while Instant::now() < deadline {
                let slot = k % share;
                let i = w + slot * workers;
                let event = (t.cycles + w as u64).is_multiple_of(EVENT_EVERY);
                let pc = &fleet.pcs[i];
                let mut instructed = false;
                let done = cycle(
                    &http,
                    &base,
                    pc,
                    event.then_some(problem_id),
                    &mut t,
                    &live,
                    &mut instructed,
                )
                .await;
                match done {
                    Ok(()) => t.cycles += 1,
                    Err(e) => live.error(e),
                }
                seen[slot] |= instructed;
                k += 1;
            }
            t.checked_in = (0..share)
                .filter(|s| seen[*s])
                .map(|s| w + s * workers)
                .collect();
            t
        });
    }
    let progress = {
        let live = live.clone();
        let bar = bar(
            opts.seconds,
            "checking in",
            "{prefix:>12} [{bar:40}] {pos}/{len} s  {msg}",
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let s = started.elapsed().as_secs_f64();
                let n = live.requests.load(Ordering::Relaxed);
                bar.set_position(s as u64);
                bar.set_message(format!(
                    "{n} requests, {:.0}/s, {} errors",
                    n as f64 / s.max(0.001),
                    live.errors.load(Ordering::Relaxed)
                ));
            }
        })
    };
    let mut m = Measured {
        elapsed: Duration::ZERO,
        requests: 0,
        cycles: 0,
        errors: 0,
        latencies_us: Default::default(),
        checked_in: Vec::new(),
        jobs_done: Vec::new(),
        events: 0,
        connections: 0,
    };
    while let Some(r) = tasks.join_next().await {
        let t = r.context("a check-in worker")?;
        m.requests += t.requests;
        m.cycles += t.cycles;
        m.errors += t.errors;
        for (all, mine) in m.latencies_us.iter_mut().zip(t.latencies_us) {
            all.extend(mine);
        }
        m.checked_in.extend(t.checked_in);
        m.jobs_done.extend(t.jobs_done);
        m.events += t.events;
    }
    // Workers finish the cycle they are in, so the phase ends a little after the deadline.
    m.elapsed = started.elapsed();
    progress.abort();
    m.connections = sockets.stop().await;
    eprintln!(
        "{:>12} {} requests in {:.1} s, {} errors",
        "checked in",
        m.requests,
        m.elapsed.as_secs_f64(),
        m.errors
    );
    Ok(m)
}

/// One check-in of one PC, as `jobmanager.update_and_run()` in client 3.2.0 makes it; the
/// jobs it receives "run" at once and are reported DONE. Stops at the first failed call, as
/// the agent does.
async fn cycle(
    http: &reqwest::Client,
    base: &str,
    pc: &FleetPc,
    event_problem: Option<i64>,
    t: &mut WorkerTally,
    live: &Live,
    instructed: &mut bool,
) -> Result<(), String> {
    let uid = pc.uid();
    let key = hex::encode(pc.key);
    let mut call = async |call: usize, body: serde_json::Value| {
        let endpoint = CALLS[call].1;
        t.requests += 1;
        live.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let r = post(http, base, endpoint, body.to_string()).await;
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        t.latencies_us[call].push(us);
        if r.is_err() {
            t.errors += 1;
        }
        r
    };
    call(
        PUSH_CONFIG_KEYS,
        json!({
            "pc_uid": uid,
            "config_dict": {
                "_os2borgerpc.client_version": CLIENT_VERSION,
                "_ip_addresses": IP_ADDRESSES,
                "_kernel_version": KERNEL_VERSION,
                "_last_automatic_update_time": "",
            },
            "read_only": true,
            "client_key": key,
        }),
    )
    .await?;
    let reply = call(
        GET_INSTRUCTIONS,
        json!({"pc_uid": uid, "jobs_received_check": true, "client_key": key}),
    )
    .await?;
    // The portal has counted the check-in (last_seen) once it answered get_instructions.
    *instructed = true;
    let instructions: Instructions = serde_json::from_slice(&reply)
        .map_err(|e| format!("get_instructions: the reply is not instructions ({e})"))?;
    let job_ids: Vec<i64> = instructions.jobs.iter().map(|j| j.id).collect();
    call(
        if job_ids.is_empty() {
            CONFIRM
        } else {
            CONFIRM_JOBS
        },
        json!({"pc_uid": uid, "job_ids": job_ids, "client_key": key}),
    )
    .await?;
    let job_data: Vec<serde_json::Value> = instructions
        .jobs
        .iter()
        .map(|j| {
            let started = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.6f");
            let args: Vec<&str> = j.parameters.iter().map(|p| p.value.as_str()).collect();
            json!({
                "id": j.id.to_string(),
                // The agent protocol's text is `jobs.status`'s: one spelling, `JobStatus`'s.
                "status": JobStatus::Done.as_str(),
                "started": started.to_string(),
                "finished": started.to_string(),
                "log_output": format!(
                    ">>> Starting process '/var/lib/os2borgerpc/jobs/{}/executable' with arguments [{}] at {started}\n{}\n>>> Succeeded at {started}\n",
                    j.id,
                    args.join(", "),
                    args.join(" "),
                ),
            })
        })
        .collect();
    call(
        if job_data.is_empty() {
            STATUS
        } else {
            STATUS_JOBS
        },
        json!({"pc_uid": uid, "job_data": job_data, "client_key": key}),
    )
    .await?;
    if let Some(problem) = event_problem {
        // Noon today: a local time that exists on every day, DST or not.
        let at = chrono::Local::now().format("%Y%m%d120000");
        call(
            SECURITY_EVENTS,
            json!({
                "pc_uid": uid,
                "events_csv": [format!("{at},{problem},bench event\n")],
                "client_key": key,
            }),
        )
        .await?;
        t.events += 1;
    }
    t.jobs_done.extend(job_ids);
    Ok(())
}

/// Counts the TCP connections made to the portal while the workers run, from the kernel's
/// socket table: with keep-alive holding, each worker opens one and uses it throughout.
/// Sampled, so a connection that opened and vanished between samples would be missed, but a
/// closed one lingers in TIME_WAIT (on one side or the other) far longer than a sample takes.
struct ConnectionWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BTreeSet<u16>>,
}

impl ConnectionWatch {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let baseline: HashSet<(u16, u8)> = client_sockets(port).into_iter().collect();
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = BTreeSet::new();
                loop {
                    let last = stop.load(Ordering::Relaxed);
                    for s in client_sockets(port) {
                        if !baseline.contains(&s) {
                            seen.insert(s.0);
                        }
                    }
                    if last {
                        return seen;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        Self { stop, task }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.map_or(0, |s| s.len())
    }
}

/// (client port, TCP state) of every socket to or from `port` on this host's IPv4 table.
fn client_sockets(port: u16) -> Vec<(u16, u8)> {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return Vec::new();
    };
    let port_of = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, remote) = (port_of(f.get(1)?)?, port_of(f.get(2)?)?);
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            if remote == port {
                Some((local, state))
            } else if local == port && remote != 0 {
                Some((remote, state))
            } else {
                None
            }
        })
        .collect()
}

/// Checks in the database that the measured phase did what the replies said.
async fn verify(
    store: &Store,
    e: &Expected,
    workers: usize,
    report: &Report,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let done: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE site_id = $1 AND status = $2 ORDER BY id")
            .bind(e.site_id)
            .bind(JobStatus::Done.as_str())
            .fetch_all(store.pool())
            .await?;
    let mut handed_out = e.jobs_done.clone();
    handed_out.sort_unstable();
    if done != handed_out {
        problems.push(format!(
            "{} jobs were received and reported DONE, but {} are DONE in the database",
            handed_out.len(),
            done.len()
        ));
    }
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE site_id = $1")
        .bind(e.site_id)
        .fetch_one(store.pool())
        .await?;
    if u64::try_from(events).ok() != Some(e.events) {
        problems.push(format!(
            "{} security events were pushed, {events} are stored",
            e.events
        ));
    }
    let unseen: HashSet<String> =
        sqlx::query_scalar("SELECT uid FROM pcs WHERE site_id = $1 AND last_seen IS NULL")
            .bind(e.site_id)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
    let missing = e
        .checked_in
        .iter()
        .filter(|uid| unseen.contains(*uid))
        .count();
    if missing > 0 {
        problems.push(format!(
            "{missing} of the {} PCs that checked in have no last_seen",
            e.checked_in.len()
        ));
    }
    if e.connections > workers {
        problems.push(format!(
            "keep-alive did not hold: {} connections for {workers} workers",
            e.connections
        ));
    }
    if report.requests > 0 && e.checked_in.is_empty() {
        problems.push("no PC completed a check-in".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(problems.join("; ")))
    }
}

/// Peak resident set size of this process (VmHWM), in KiB; 0 where /proc is not available.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The `p` quantile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    sorted_us
        .get(((sorted_us.len() as f64 - 1.0) * p).round().max(0.0) as usize)
        .map_or(0.0, |us| round2(f64::from(*us) / 1000.0))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
