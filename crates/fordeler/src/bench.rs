//! `fordeler bench`: throughput and latency of the whole product on loopback.
//!
//! An in-process kombit-sim with zero delays, the Fordeler on SQLite (or `--database`), and N
//! SP241 submissions with K KB attachments posted through the Remote post intake by 16
//! concurrent clients. Latency is intake → delivered as the database records it (the
//! submission's `received_at` to the delivery's `delivered_at`, i.e. after the Forretning
//! receipt). Separately, render + XSD validation of the SP241 template on all cores. One JSON
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
    pub database: &'static str,
    pub submissions_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub delivered: usize,
    pub render_validate_per_sec: f64,
    pub form_xsd_validated: bool,
    pub peak_rss_mb: f64,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub submissions: usize,
    pub attachment_kb: usize,
    /// Default: SQLite in `work`.
    pub database: Option<String>,
    /// Deliveries worked on at once. Each spends most of its time waiting for the platform
    /// (SFTP receipts, answers), so this, not the CPU, bounds throughput when set low.
    pub concurrency: usize,
}

pub async fn run(work: &Path, options: Options) -> anyhow::Result<Report> {
    let Options {
        submissions,
        attachment_kb,
        database,
        concurrency,
    } = options;
    let platform = crate::demo::LocalPlatform::start(work, Vec::new()).await?;
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
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        posters.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= submissions {
                    return anyhow::Ok(());
                }
                // Made as it is sent, so the client's memory is not counted as the Fordeler's.
                let body = serde_json::to_vec(&crate::demo::sample(
                    "os2forms_fdk_kp_sp241",
                    i,
                    attachment_kb,
                ))?;
                let r = http
                    .post(&url)
                    .bearer_auth(crate::demo::INTAKE_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 202, "intake answered {}", r.status());
            }
        });
    }
    while let Some(r) = posters.join_next().await {
        r.context("poster")??;
    }
    // Wait until everything is final.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (open,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'waiting')")
                .fetch_one(&running.store.db.pool)
                .await?;
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let mut lat: Vec<i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT s.received_at, d.delivered_at FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.state = 'delivered'",
    )
    .fetch_all(&running.store.db.pool)
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
        database: if db_url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        },
        submissions_per_sec: round(lat.len() as f64 / elapsed.as_secs_f64()),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        delivered: lat.len(),
        render_validate_per_sec: round(render_rate),
        form_xsd_validated: xsd.is_some(),
        peak_rss_mb: round(kombit_sim::bench::peak_rss_kb() as f64 / 1024.0),
    };
    running.shutdown().await;
    Ok(report)
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
        .tenant(&form.tenant)
        .context("the bench tenant is configured")?
        .clone();
    let body = crate::demo::sample("os2forms_fdk_kp_sp241", 1, 1);
    let submission = crate::intake::Submission::from_remote_post("os2forms_fdk_kp_sp241", &body)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let files: Vec<crate::store::Attachment> = submission.files.iter().map(Into::into).collect();
    let named: Vec<(&crate::store::Attachment, String)> = files
        .iter()
        .filter(|a| a.element_key != "kvittering")
        .map(|a| (a, crate::build::remote_name("kp", &submission.uuid, a)))
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
