//! The anvender's side of the SFTP service: connect with a key, upload a file and its trigger to
//! `/OUT/`, poll `/IN/` for the receipt. [`bench_cycles`] measures the whole round trip against a
//! running simulator the way a real anvender would drive it: one long-lived SSH session per
//! worker, a real russh-sftp client over TCP, polling by opening the receipt until it exists.

use anyhow::Context as _;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;
use sf2900::sftp::{
    FileContentDescriptor, FileDescriptor, ReceiptOutcome, SftpDynamicRoutingInfo,
    TechnicalReceipt, Trigger, receipt_name, trigger_name,
};
use sf2900::{CvrUrn, Message as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Accepts any host key. The client is for the simulator's own tests and benchmark, against a
/// server it started itself; it is not a general-purpose SFTP client.
struct AnyHostKey;

impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// An authenticated SFTP session to the simulator.
pub struct SftpClient {
    pub sftp: SftpSession,
    ssh: russh::client::Handle<AnyHostKey>,
}

impl SftpClient {
    /// Connects and authenticates with `key`; fails if the server refuses the key.
    pub async fn connect(
        addr: SocketAddr,
        user: &str,
        key: Arc<PrivateKey>,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(russh::client::Config {
            nodelay: true,
            ..Default::default()
        });
        let mut ssh = russh::client::connect(config, addr, AnyHostKey)
            .await
            .with_context(|| format!("SSH connect to {addr}"))?;
        // RSA keys must sign with SHA-2; `None` would mean ssh-rsa/SHA-1, which servers refuse.
        let hash = if key.algorithm().is_rsa() {
            ssh.best_supported_rsa_hash().await?.flatten()
        } else {
            None
        };
        let auth = ssh
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
            .await?;
        anyhow::ensure!(auth.success(), "SFTP login as {user:?} refused");
        let channel = ssh.channel_open_session().await?;
        channel.request_subsystem(true, "sftp").await?;
        let sftp = SftpSession::new(channel.into_stream()).await?;
        Ok(Self { sftp, ssh })
    }

    /// Writes `data` to `path` (create or truncate) and closes it, waiting for every write to be
    /// acknowledged.
    pub async fn upload(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        let mut file = self
            .sftp
            .create(path)
            .await
            .with_context(|| format!("create {path}"))?;
        file.write_all(data)
            .await
            .with_context(|| format!("write {path}"))?;
        file.shutdown()
            .await
            .with_context(|| format!("close {path}"))?;
        Ok(())
    }

    /// Reads `path` once it exists, polling with a growing interval (1 ms up to 50 ms).
    pub async fn poll(&self, path: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.sftp.read(path).await {
                Ok(data) => return Ok(data),
                Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {}
                Err(e) => return Err(e).with_context(|| format!("read {path}")),
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{path} did not appear within {timeout:?}"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Closes the SFTP channel and the SSH connection.
    pub async fn close(self) -> anyhow::Result<()> {
        self.sftp.close().await?;
        self.ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await?;
        Ok(())
    }
}

/// What [`bench_cycles`] measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    /// Cycles completed with a SUCCESS receipt.
    pub cycles: usize,
    /// Cycles that ended with an error receipt or a transfer error.
    pub failed: usize,
    pub concurrency: usize,
    pub file_size: usize,
    pub elapsed: Duration,
    pub cycles_per_sec: f64,
    /// Time from starting the upload to having read a receipt.
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
    /// The first failure, if any, for the report.
    pub first_error: Option<String>,
}

/// The trigger an anvender writes for a file, asking for dynamic routing.
fn trigger_for(file_name: &str, size: usize, sender: &str) -> anyhow::Result<String> {
    let authority = CvrUrn::new("urn:oio:cvr-nr:29189846")?;
    let trigger = Trigger {
        file_descriptor: FileDescriptor::new(
            file_name.to_owned(),
            size as u64,
            sender.to_owned(),
            Some(uuid::Uuid::new_v4().to_string()),
            vec![sf2900::ns::SFTP_DYNAMIC_ROUTING.to_owned()],
        )?,
        file_content_descriptor: FileContentDescriptor::DynamicRouting(Box::new(
            SftpDynamicRoutingInfo {
                inf_ref: "kombit-sim-bench".into(),
                sender_it_system: uuid::Uuid::new_v4(),
                sender_authority: authority.clone(),
                transaction_id: uuid::Uuid::new_v4(),
                sender_timestamp: sf2900::DateTime::now(),
                recipient_it_system: None,
                recipient_authority: authority,
                route_parameter_list: None,
            },
        )),
    };
    Ok(trigger.to_xml())
}

/// One cycle as an anvender does it: file, trigger, then poll for the receipt.
async fn cycle(client: &SftpClient, user: &str, name: &str, data: &[u8]) -> anyhow::Result<()> {
    client.upload(&format!("/OUT/{name}"), data).await?;
    let trigger = trigger_for(name, data.len(), user)?;
    client
        .upload(&format!("/OUT/{}", trigger_name(name)), trigger.as_bytes())
        .await?;
    let receipt = client
        .poll(
            &format!("/IN/{}", receipt_name(name)),
            Duration::from_secs(30),
        )
        .await?;
    let text = String::from_utf8(receipt).context("receipt is not UTF-8")?;
    let receipt = TechnicalReceipt::from_xml(&text).context("unreadable receipt")?;
    if receipt.is_success() {
        return Ok(());
    }
    match receipt.outcome {
        ReceiptOutcome::Success { message } => anyhow::bail!("receipt message {message:?}"),
        ReceiptOutcome::Errors(errors) => {
            let first = errors
                .first()
                .map(|e| format!("{} {}", e.error_code, e.error_description));
            anyhow::bail!("error receipt: {}", first.unwrap_or_default())
        }
    }
}

/// Runs `n` cycles (upload a `file_size`-byte file, upload its trigger, poll `/IN/` until the
/// receipt is there) over `concurrency` SSH sessions, each reused for all of its cycles.
/// Connecting is not counted in the elapsed time.
pub async fn bench_cycles(
    addr: SocketAddr,
    user: &str,
    key: PrivateKey,
    n: usize,
    concurrency: usize,
    file_size: usize,
) -> anyhow::Result<BenchResult> {
    let concurrency = concurrency.clamp(1, n.max(1));
    let key = Arc::new(key);
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(SftpClient::connect(addr, user, key.clone()).await?);
    }
    let data: Arc<Vec<u8>> = Arc::new((0..file_size).map(|i| (i % 251) as u8).collect());
    // Names unique per run, so receipts of an earlier run are never mistaken for this one's.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for client in clients {
        let (data, next, run, user) = (data.clone(), next.clone(), run.clone(), user.to_owned());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let name = format!("bench_{run}_{i}.bin");
                let t = Instant::now();
                match cycle(&client, &user, &name, &data).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => failures.push(format!("{name}: {e:#}")),
                }
            }
            let _ = client.close().await;
            (latencies, failures)
        });
    }
    let mut latencies = Vec::with_capacity(n);
    let mut failures = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (l, f) = done.context("bench worker panicked")?;
        latencies.extend(l);
        failures.extend(f);
    }
    let elapsed = started.elapsed();

    latencies.sort();
    let pct = |p: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[idx.min(latencies.len() - 1)]
    };
    Ok(BenchResult {
        cycles: latencies.len(),
        failed: failures.len(),
        concurrency,
        file_size,
        elapsed,
        cycles_per_sec: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        latency_p50: pct(0.5),
        latency_p99: pct(0.99),
        latency_max: latencies.last().copied().unwrap_or_default(),
        first_error: failures.into_iter().next(),
    })
}
