//! `fordeler bench`: throughput and latency of the whole product on loopback.
//!
//! An in-process kombit-sim with zero delays, the Fordeler on SQLite (or `--database`), and N
//! SP241 submissions with K KB attachments posted through the Remote post intake by 16
//! concurrent clients, as fast as they can (throughput) or paced at `--rate` (latency at a
//! sustained load, without a backlog of the generator's making). Latency is intake → delivered
//! as the database records it (the submission's `received_at` to the delivery's
//! `delivered_at`, i.e. after the Forretning receipt). Separately, render + XSD validation of the SP241 template on all cores. One JSON
//! line out.

use crate::build::{FormRenderer as _, render_context};
use crate::config::Config;
use anyhow::Context as _;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct Report {
    pub submissions: usize,
    pub attachment_kb: usize,
    pub concurrency: usize,
    /// Submissions per second offered, when paced (`--rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_sec: Option<f64>,
    pub database: &'static str,
    pub submissions_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub delivered: usize,
    /// CPU time per delivered submission, in all and (with `split_cpu`) by part.
    pub cpu_ms_per_submission: CpuSplit,
    pub render_validate_per_sec: f64,
    pub form_xsd_validated: bool,
    pub peak_rss_mb: f64,
}

/// What to measure (the `fordeler bench` flags).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[arg(long, default_value_t = 1000)]
    pub submissions: usize,
    #[arg(long, default_value_t = 100)]
    pub attachment_kb: usize,
    /// Database URL (default: SQLite in a temp dir), e.g. postgres://postgres:pw@127.0.0.1/bench
    #[arg(long)]
    pub database: Option<String>,
    /// Deliveries worked on at once (delivery.concurrency_per_tenant). Each spends most of its
    /// time waiting for the platform, so a low value, not the CPU, bounds throughput.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Offer this many submissions per second, evenly (0: as fast as 16 clients can post).
    /// Below the throughput, the latency figures show the pipeline without a backlog.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Report CPU per submission for the Fordeler, the simulator and the load generator
    /// apart (runs them on threads of their own, which costs some throughput).
    #[arg(long)]
    pub split_cpu: bool,
}

/// Where the CPU went while submissions flowed. With `split_cpu` the simulator and the load
/// generator run on runtimes of their own (threads named `kombit-sim` and `bench-client`), so
/// what is left is the Fordeler: its async workers, SQLite threads and blocking work (and
/// threads that ended during the run, so this slightly overstates the Fordeler).
#[derive(Debug, Serialize, Default)]
pub struct CpuSplit {
    pub total: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fordeler: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulator: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_generator: Option<f64>,
}

/// CPU time (clock ticks) of the whole process and of the threads whose name starts with each
/// of `prefixes`, from /proc.
fn cpu_ticks(prefixes: &[&str]) -> (u64, Vec<u64>) {
    fn ticks(stat: &str) -> Option<(String, u64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
        let (u, s) = (
            f.get(11)?.parse::<u64>().ok()?,
            f.get(12)?.parse::<u64>().ok()?,
        );
        Some((name, u + s))
    }
    let total = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0, |(_, t)| t);
    let mut parts = vec![0; prefixes.len()];
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some((name, t)) = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|s| ticks(&s))
            && let Some(i) = prefixes.iter().position(|p| name.starts_with(p))
        {
            parts[i] += t;
        }
    }
    (total, parts)
}

const SIM_THREADS: &str = "kombit-sim";
const CLIENT_THREADS: &str = "bench-client";

/// Writes out what is dirty on the work directory's file system before measuring. On ext4
/// without a journal, the inode allocator steps one by one past inodes freed in the last
/// minutes (often by the previous run) while their inode table is dirty, which makes creating
/// the run's files dearer and its figures vary.
async fn settle_file_system(work: &Path) {
    let synced = tokio::process::Command::new("sync")
        .arg("--file-system")
        .arg(work)
        .status()
        .await;
    if !synced.is_ok_and(|s| s.success()) {
        tracing::warn!("could not sync the work directory's file system; figures may vary more");
    }
}

fn side_runtime(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

pub async fn run(work: &Path, options: Options) -> anyhow::Result<Report> {
    settle_file_system(work).await;
    if !options.split_cpu {
        let here = tokio::runtime::Handle::current();
        return run_on(work, options, here.clone(), here).await;
    }
    let sim_runtime = side_runtime(SIM_THREADS)?;
    let client_runtime = side_runtime(CLIENT_THREADS)?;
    let report = run_on(
        work,
        options,
        sim_runtime.handle().clone(),
        client_runtime.handle().clone(),
    )
    .await;
    sim_runtime.shutdown_background();
    client_runtime.shutdown_background();
    report
}

async fn run_on(
    work: &Path,
    options: Options,
    sim_runtime: tokio::runtime::Handle,
    client_runtime: tokio::runtime::Handle,
) -> anyhow::Result<Report> {
    let Options {
        submissions,
        attachment_kb,
        database,
        concurrency,
        rate,
        split_cpu,
    } = options;
    let sim_work = work.to_path_buf();
    let platform = sim_runtime
        .spawn(async move { crate::demo::LocalPlatform::start(&sim_work, Vec::new()).await })
        .await??;
    let db_url = database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", work.join("bench.db").display()));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let xsd = crate::demo::sp241_xsd_near(&workspace);
    let path = platform.write_config(work, &db_url, xsd.as_deref())?;
    let (mut config, base) = Config::load(&path)?;
    config.delivery.concurrency_per_tenant = concurrency.max(1);
    config.database.max_connections = 16;
    let renderer = Arc::new(crate::render::TwigRenderer::new(&config, &base)?);
    let render_rate = render_rate(&config, renderer.clone(), 20_000)?;
    let platform = Arc::new(crate::platform::RealPlatform::new(&config, &base)?);
    let running = crate::app::start(config, base, platform, renderer).await?;

    let http = reqwest::Client::new();
    let url = format!(
        "http://{}/intake/os2forms_fdk_kp_sp241/remote-post",
        running.http_addr
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let cpu_before = cpu_ticks(&[SIM_THREADS, CLIENT_THREADS]);
    // The files are the same in every submission, so they are encoded once: OS2forms runs on
    // another machine, and making its bodies should not take CPU from what is measured. The
    // rest is made as it is sent, so the client's memory is not counted as the Fordeler's.
    const FORM: &str = "os2forms_fdk_kp_sp241";
    let files = Arc::new(serde_json::to_string(&crate::demo::sample_files(
        FORM,
        0,
        attachment_kb,
    ))?);
    let body_for = move |i: usize| -> anyhow::Result<String> {
        let fields = serde_json::to_string(&crate::demo::sample_fields(FORM, i))?;
        // Two JSON objects joined into one: `{fields…` + `,` + `files…}`.
        match (fields.strip_suffix('}'), files.strip_prefix('{')) {
            (Some(fields), Some(files)) if files != "}" => Ok(format!("{fields},{files}")),
            _ => anyhow::bail!("the sample is not two non-empty JSON objects"),
        }
    };
    let mut posters = tokio::task::JoinSet::new();
    let paced_from = tokio::time::Instant::now();
    for _ in 0..16 {
        let (http, url, next, body_for) =
            (http.clone(), url.clone(), next.clone(), body_for.clone());
        posters.spawn_on(
            async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= submissions {
                        return anyhow::Ok(());
                    }
                    if rate > 0.0 {
                        let due = Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(paced_from + due).await;
                    }
                    let body = body_for(i)?;
                    let r = http
                        .post(&url)
                        .bearer_auth(crate::demo::INTAKE_TOKEN)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().as_u16() == 202, "intake answered {}", r.status());
                }
            },
            &client_runtime,
        );
    }
    while let Some(r) = posters.join_next().await {
        r.context("poster")??;
    }
    // Wait until everything is final.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (open,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'waiting')")
                .fetch_one(running.store.db.reader())
                .await?;
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu_ticks(&[SIM_THREADS, CLIENT_THREADS]);
    let mut lat: Vec<i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT s.received_at, d.delivered_at FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.state = 'delivered'",
    )
    .fetch_all(running.store.db.reader())
    .await?
    .into_iter()
    .map(|(r, d)| d - r)
    .collect();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    let report = Report {
        submissions,
        attachment_kb,
        concurrency,
        offered_per_sec: (rate > 0.0).then_some(rate),
        database: if db_url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        },
        submissions_per_sec: round(lat.len() as f64 / elapsed.as_secs_f64()),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        delivered: lat.len(),
        cpu_ms_per_submission: cpu_split(cpu_before, cpu_after, lat.len(), split_cpu),
        render_validate_per_sec: round(render_rate),
        form_xsd_validated: xsd.is_some(),
        peak_rss_mb: round(kombit_sim::bench::peak_rss_kb() as f64 / 1024.0),
    };
    running.shutdown().await;
    Ok(report)
}

fn cpu_split(
    before: (u64, Vec<u64>),
    after: (u64, Vec<u64>),
    delivered: usize,
    split: bool,
) -> CpuSplit {
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space on every architecture
    // we run on.
    let hz = 100.0;
    let per = |ticks: u64| round(ticks as f64 * 1000.0 / hz / delivered.max(1) as f64);
    let part = |i: usize| after.1[i].saturating_sub(before.1[i]);
    let total = after.0.saturating_sub(before.0);
    CpuSplit {
        total: per(total),
        fordeler: split.then(|| per(total.saturating_sub(part(0) + part(1)))),
        simulator: split.then(|| per(part(0))),
        load_generator: split.then(|| per(part(1))),
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Render + validate the SP241 form XML `n` times over all cores.
fn render_rate(
    config: &Config,
    renderer: Arc<crate::render::TwigRenderer>,
    n: usize,
) -> anyhow::Result<f64> {
    let form = config
        .form("os2forms_fdk_kp_sp241")
        .context("the bench form is configured")?;
    let route = form.routes[0].clone();
    let tenant = config
        .tenant(form.tenant.as_str())
        .context("the bench tenant is configured")?
        .clone();
    let body = crate::demo::sample("os2forms_fdk_kp_sp241", 1, 1);
    let submission = crate::intake::Submission::from_remote_post("os2forms_fdk_kp_sp241", &body)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let files: Vec<crate::store::Attachment> = submission.files.iter().map(Into::into).collect();
    let names = crate::build::RemoteNames::new("kp", &submission.uuid, 1, &files);
    let named: Vec<(&crate::store::Attachment, String)> = files
        .iter()
        .filter(|a| a.element_key != "kvittering")
        .map(|a| (a, names.name(a)))
        .collect();
    let ctx = Arc::new(render_context(&tenant, &route, &submission.json, &named));
    renderer
        .render(&route, &ctx)
        .map_err(|e| anyhow::anyhow!("bench render: {e}"))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (renderer, ctx, route) = (renderer.clone(), ctx.clone(), route.clone());
            s.spawn(move || {
                for _ in 0..n / threads {
                    let _ = renderer.render(&route, &ctx);
                }
            });
        }
    });
    Ok((n / threads * threads) as f64 / started.elapsed().as_secs_f64())
}
