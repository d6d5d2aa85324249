//! `kombit-sim bench`: proves the simulator is never the bottleneck of a Fordeler benchmark.
//!
//! It starts a whole simulator in-process on loopback (real TCP, TLS and SSH), drives it as an
//! anvender would — FordelingsobjektAfsend over mutual TLS with keep-alive, and SFTP file +
//! trigger → receipt cycles — and prints one JSON line with the figures. Client and server
//! share the machine's cores, so the figures are a lower bound for the server alone.

use crate::config::SimConfig;
use anyhow::Context as _;
use serde::Serialize;
use sf2900::soap::{self, Operation};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// FordelingsobjektAfsend calls to make.
    pub afsend: usize,
    /// Concurrent HTTPS connections (kept alive).
    pub connections: usize,
    /// SFTP cycles to make.
    pub sftp_cycles: usize,
    /// Concurrent SSH sessions.
    pub sftp_sessions: usize,
    pub file_kb: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            afsend: 20_000,
            connections: 16,
            sftp_cycles: 2_000,
            sftp_sessions: 8,
            file_kb: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub afsend_calls: usize,
    pub afsend_errors: usize,
    pub afsend_per_sec: f64,
    pub afsend_p50_ms: f64,
    pub afsend_p99_ms: f64,
    pub https_connections: usize,
    pub sftp_cycles: usize,
    pub sftp_failed: usize,
    pub sftp_cycles_per_sec: f64,
    pub sftp_p50_ms: f64,
    pub sftp_p99_ms: f64,
    pub sftp_file_kb: usize,
    pub sftp_sessions: usize,
    pub peak_rss_mb: f64,
}

/// Runs both benchmarks against a fresh simulator using the PKI in `pki_dir`.
pub async fn run(pki_dir: &std::path::Path, opts: &BenchOptions) -> anyhow::Result<BenchReport> {
    let mut config = SimConfig::default_for_pki(pki_dir.to_path_buf());
    let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.soap.listen = any;
    config.sftp.listen = any;
    config.inspect_listen = any;
    config.receipts.url = None;
    let sim = crate::run::start(config).await?;
    let files = crate::pki::PkiFiles::in_dir(pki_dir);

    let client =
        crate::tls::reqwest_client(&files.ca_pem, &files.anvender_pem, &files.anvender_key)?;
    let (afsend_elapsed, mut latencies, errors) = afsend(&client, &sim.soap_url(), opts).await?;
    latencies.sort_unstable();

    let key = russh::keys::load_secret_key(&files.anvender_ssh_key, None)
        .with_context(|| format!("SSH key {}", files.anvender_ssh_key.display()))?;
    let sftp = crate::sftp::bench_cycles(
        sim.sftp_addr,
        crate::config::DEMO_SFTP_USER,
        key,
        opts.sftp_cycles,
        opts.sftp_sessions,
        opts.file_kb * 1024,
    )
    .await?;

    Ok(BenchReport {
        afsend_calls: opts.afsend,
        afsend_errors: errors,
        afsend_per_sec: round(opts.afsend as f64 / afsend_elapsed.as_secs_f64()),
        afsend_p50_ms: ms(percentile(&latencies, 0.50)),
        afsend_p99_ms: ms(percentile(&latencies, 0.99)),
        https_connections: opts.connections,
        sftp_cycles: sftp.cycles,
        sftp_failed: sftp.failed,
        sftp_cycles_per_sec: round(sftp.cycles_per_sec),
        sftp_p50_ms: ms(sftp.latency_p50),
        sftp_p99_ms: ms(sftp.latency_p99),
        sftp_file_kb: opts.file_kb,
        sftp_sessions: opts.sftp_sessions,
        peak_rss_mb: round(peak_rss_kb() as f64 / 1024.0),
    })
}

async fn afsend(
    client: &reqwest::Client,
    url: &str,
    opts: &BenchOptions,
) -> anyhow::Result<(Duration, Vec<Duration>, usize)> {
    // One template; each call only gets a fresh AnvenderTransaktionsID, as real retries would not.
    let mut template = sf2900::examples::afsend_requests().remove(4).1;
    template.authority_context = Some(sf2900::AuthorityContext::new(sf2900::Cvr::new(
        crate::config::DEMO_CVR,
    )?));
    let template = Arc::new(template);
    let action = format!("\"{}\"", Operation::FordelingsobjektAfsend.soap_action());
    // Warm the connections so the handshakes are not part of the figure.
    for _ in 0..opts.connections {
        let _ = client.get(url).send().await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.connections {
        let (client, url, template, action, next) = (
            client.clone(),
            url.to_owned(),
            template.clone(),
            action.clone(),
            next.clone(),
        );
        let total = opts.afsend;
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut req = (*template).clone();
                req.anmodning.distribution_context.anvender_transaktions_id =
                    sf2900::Uuid::new_v4();
                let body = soap::envelope(&req);
                let t = Instant::now();
                let ok = match client
                    .post(&url)
                    .header("content-type", soap::CONTENT_TYPE)
                    .header("SOAPAction", &action)
                    .body(body)
                    .send()
                    .await
                {
                    // Only an accepted object counts: a fault or an AFVIST is an error here.
                    Ok(r) => {
                        r.status().is_success()
                            && r.text().await.is_ok_and(|b| b.contains(">MODTAGET</"))
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                errors += usize::from(!ok);
            }
            (lat, errors)
        });
    }
    let mut all = Vec::with_capacity(opts.afsend);
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (lat, e) = r.context("bench task")?;
        all.extend(lat);
        errors += e;
    }
    Ok((started.elapsed(), all, errors))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Peak resident set size of this process (VmHWM), in KiB; 0 where /proc is not available.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
