//! The client for Serviceplatformen's SFTP service ("Fælleskommunal filudveksling"): upload a
//! file and its `.trigger` to `/OUT/`, read the `.sftpreceipt` from `/IN/`, clean up.
//!
//! [`SftpPool`] owns the SSH sessions. A session (one SSH connection with one `sftp` channel)
//! is expensive to set up: key exchange, public-key signature, subsystem start. The pool keeps
//! authenticated sessions per [`SftpTarget`] and lends them out, at most
//! [`SftpSettings::max_sessions_per_target`] at a time. A session found dead (the platform or a
//! firewall closed it while idle) is replaced without the caller noticing; an operation that
//! fails because a reused session died under it is run once more on a fresh one, which is safe
//! because every operation here is idempotent.
//!
//! Uploads go to `<name>.part` and are renamed to `<name>`, so the platform never sees half a
//! file. SFTP v3 refuses to rename onto an existing name, so a repeated upload removes the old
//! file first. Every network step has a timeout; every failure is sorted into an
//! [`ErrorClass`]. Errors name the target, the operation and the remote path, never contents.
//! No session is opened with a server whose host key is not the pinned one, nor with one for
//! which no key is pinned; [`SftpPool::host_key`] reads the key a server presents, for the
//! operator to compare and pin.

use super::ErrorClass;
use russh::client::Handle;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as RawError;
use russh_sftp::protocol::StatusCode;
use sf2900::Message as _;
use sf2900::sftp::{TechnicalReceipt, Trigger, receipt_name, trigger_name};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One SFTP account on one server.
#[derive(Clone)]
pub struct SftpTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// OpenSSH private key (ed25519 or RSA); see [`SftpTarget::load_key`].
    pub key: Arc<PrivateKey>,
    /// The server's host key as OpenSSH prints it (`SHA256:…`): any other key is refused.
    /// Without it no connection is made at all ([`SftpError::HostKeyNotPinned`] names the key
    /// the server presents, for the operator to compare and pin): a key accepted unchecked
    /// would let anyone on the path between us and the platform collect citizens' files.
    pub host_key_fingerprint: Option<String>,
    /// Where files and triggers go (`/OUT` on the platform).
    pub out_dir: String,
    /// Where the platform writes receipts (`/IN` on the platform).
    pub in_dir: String,
}

impl SftpTarget {
    /// A target with the platform's directories `/OUT` and `/IN`.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        key: Arc<PrivateKey>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            key,
            host_key_fingerprint: None,
            out_dir: "/OUT".into(),
            in_dir: "/IN".into(),
        }
    }

    pub fn with_host_key_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.host_key_fingerprint = Some(fingerprint.into());
        self
    }

    /// Loads an OpenSSH (or PEM) private key file. The platform expects a key without a
    /// passphrase; one can be given for keys that have it.
    pub fn load_key(path: &Path, passphrase: Option<&str>) -> Result<Arc<PrivateKey>, SftpError> {
        russh::keys::load_secret_key(path, passphrase)
            .map(Arc::new)
            .map_err(|e| SftpError::Key {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    /// The login key's public fingerprint (`SHA256:…`), what the operator registers.
    pub fn key_fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// `user@host:port`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// `<out_dir>/<file_name>`.
    pub fn out_path(&self, file_name: &str) -> String {
        join(&self.out_dir, file_name)
    }

    /// `<in_dir>/<file_name>`.
    pub fn in_path(&self, file_name: &str) -> String {
        join(&self.in_dir, file_name)
    }

    /// Sessions are shared only between identical targets (same account, key and host key).
    fn pool_key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.label(),
            self.key_fingerprint(),
            self.host_key_fingerprint.as_deref().unwrap_or("")
        )
    }
}

// The key must not reach a log through `{:?}`.
impl fmt::Debug for SftpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpTarget")
            .field("target", &self.label())
            .field("key", &self.key_fingerprint())
            .field("host_key_fingerprint", &self.host_key_fingerprint)
            .field("out_dir", &self.out_dir)
            .field("in_dir", &self.in_dir)
            .finish()
    }
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// Timeouts and limits. [`SftpSettings::default`] suits the platform.
#[derive(Debug, Clone)]
pub struct SftpSettings {
    /// TCP connect, key exchange, authentication and subsystem start together.
    pub connect_timeout: Duration,
    /// Each SFTP request (open, each written chunk, close, rename, read, …).
    pub op_timeout: Duration,
    pub max_sessions_per_target: usize,
    /// Idle sessions older than this are closed instead of reused.
    pub idle_timeout: Duration,
    /// SSH keepalives on idle sessions, so a dead peer is noticed.
    pub keepalive_interval: Option<Duration>,
    /// Size of each write unit that gets its own timeout.
    pub chunk_size: usize,
    /// Receipts larger than this are refused (a real one is well under 4 kB).
    pub max_receipt_bytes: usize,
}

impl Default for SftpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            op_timeout: Duration::from_secs(30),
            max_sessions_per_target: 4,
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Some(Duration::from_secs(30)),
            chunk_size: 256 * 1024,
            max_receipt_bytes: 1024 * 1024,
        }
    }
}

/// An SFTP failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SftpError {
    #[error("SFTP key {path} cannot be loaded: {reason}")]
    Key { path: String, reason: String },
    #[error("SFTP: cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error(
        "SFTP: host key of {target} is {presented}, but {expected} is configured; refusing to \
         connect (if the platform changed its key, confirm the new fingerprint and update the \
         configuration)"
    )]
    HostKeyMismatch {
        target: String,
        expected: String,
        presented: String,
    },
    #[error(
        "SFTP: the host key of {target} is not pinned, so no connection is made; the server \
         presents {presented}: compare it with the fingerprint KOMBIT gives for the SFTP service, \
         then set [tenant.sftp] host_key_fingerprint = \"{presented}\""
    )]
    HostKeyNotPinned { target: String, presented: String },
    #[error(
        "SFTP: {target} refused the login key {key} (check that this public key is registered \
         for the SFTP user)"
    )]
    AuthRefused { target: String, key: String },
    #[error("SFTP: SSH failure with {target}: {reason}")]
    Ssh { target: String, reason: String },
    #[error("SFTP: {op} {path} on {target} timed out after {after:?}")]
    Timeout {
        target: String,
        op: &'static str,
        path: String,
        after: Duration,
    },
    #[error("SFTP: connection to {target} lost during {op} {path}: {reason}")]
    Disconnected {
        target: String,
        op: &'static str,
        path: String,
        reason: String,
    },
    #[error("SFTP: {op} {path} on {target} failed: {code:?}: {message}")]
    Remote {
        target: String,
        op: &'static str,
        path: String,
        code: StatusCode,
        message: String,
    },
    #[error("SFTP: receipt {path} on {target} is not a valid TechnicalReceipt: {reason}")]
    BadReceipt {
        target: String,
        path: String,
        reason: String,
    },
}

impl SftpError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Key { .. }
            | Self::HostKeyMismatch { .. }
            | Self::HostKeyNotPinned { .. }
            | Self::AuthRefused { .. } => ErrorClass::Configuration,
            Self::Connect { .. }
            | Self::Ssh { .. }
            | Self::Timeout { .. }
            | Self::Disconnected { .. } => ErrorClass::Retryable,
            Self::Remote { code, .. } => match code {
                // A missing /OUT, a file the account may not write, a server without rename.
                StatusCode::PermissionDenied
                | StatusCode::NoSuchFile
                | StatusCode::OpUnsupported => ErrorClass::Configuration,
                StatusCode::BadMessage => ErrorClass::Permanent,
                // Failure is the server's catch-all: disk full, I/O error, busy.
                _ => ErrorClass::Retryable,
            },
            Self::BadReceipt { .. } => ErrorClass::Permanent,
        }
    }

    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The connection is in an unknown state after this error: do not reuse it.
    fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Disconnected { .. } | Self::Ssh { .. }
        )
    }
}

/// A directory entry, for the operator's `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: String,
    pub size: Option<u64>,
    pub is_dir: bool,
}

/// Authenticated SFTP sessions, per target. Cheap to clone; clones share the sessions.
#[derive(Clone)]
pub struct SftpPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    settings: SftpSettings,
    targets: Mutex<HashMap<String, Arc<TargetPool>>>,
    connections: AtomicU64,
}

impl fmt::Debug for SftpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpPool")
            .field("settings", &self.inner.settings)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

struct TargetPool {
    target: SftpTarget,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    /// The host key fingerprint the server presented last, for `check-config`.
    host_key_seen: Arc<Mutex<Option<String>>>,
}

struct Conn {
    ssh: Handle<HostKeyCheck>,
    sftp: SftpSession,
    idle_since: Instant,
}

/// A session on loan, with the permit that counts it against the target's limit.
struct Lease {
    conn: Conn,
    reused: bool,
    _permit: OwnedSemaphorePermit,
}

/// One SFTP operation; a closed set so the session loan and retry logic live in one place.
enum Op<'a> {
    Upload {
        path: &'a str,
        data: &'a [u8],
    },
    /// Reads until the end of the file, or until `complete` says the bytes so far are whole.
    Read {
        path: &'a str,
        complete: fn(&[u8]) -> bool,
    },
    Remove {
        path: &'a str,
    },
    List {
        dir: &'a str,
    },
}

enum Out {
    Done,
    Bytes(Option<Vec<u8>>),
    Entries(Vec<RemoteEntry>),
}

impl Op<'_> {
    fn name(&self) -> &'static str {
        match self {
            Op::Upload { .. } => "upload",
            Op::Read { .. } => "read",
            Op::Remove { .. } => "remove",
            Op::List { .. } => "list",
        }
    }

    fn path(&self) -> &str {
        match self {
            Op::Upload { path, .. } | Op::Read { path, .. } | Op::Remove { path } => path,
            Op::List { dir } => dir,
        }
    }
}

impl SftpPool {
    pub fn new(settings: SftpSettings) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                settings,
                targets: Mutex::new(HashMap::new()),
                connections: AtomicU64::new(0),
            }),
        }
    }

    pub fn settings(&self) -> &SftpSettings {
        &self.inner.settings
    }

    /// SSH connections opened so far, over all targets (reuse shows as a small number).
    pub fn connections_opened(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Writes `data` to `path` atomically: `<path>.part`, then rename. An existing `path` is
    /// replaced, so a repeated upload is harmless.
    pub async fn upload(
        &self,
        target: &SftpTarget,
        path: &str,
        data: &[u8],
    ) -> Result<(), SftpError> {
        self.run(target, Op::Upload { path, data }).await.map(drop)
    }

    /// Uploads `<out_dir>/<file_name>`.
    pub async fn upload_file(
        &self,
        target: &SftpTarget,
        file_name: &str,
        data: &[u8],
    ) -> Result<(), SftpError> {
        self.upload(target, &target.out_path(file_name), data).await
    }

    /// Writes `<out_dir>/<file_name>.trigger`, the same way as [`SftpPool::upload`]. Upload the
    /// file itself first: the platform acts on the trigger as soon as it appears.
    pub async fn upload_trigger(
        &self,
        target: &SftpTarget,
        file_name: &str,
        trigger: &Trigger,
    ) -> Result<(), SftpError> {
        let xml = trigger.to_xml();
        let path = target.out_path(&trigger_name(file_name));
        self.upload(target, &path, xml.as_bytes()).await
    }

    /// Reads `<in_dir>/<file_name>.sftpreceipt`: `None` while the platform has not written it.
    pub async fn read_receipt(
        &self,
        target: &SftpTarget,
        file_name: &str,
    ) -> Result<Option<TechnicalReceipt>, SftpError> {
        let path = target.in_path(&receipt_name(file_name));
        // A receipt is small and written whole, so the first read nearly always has all of it;
        // asking again only to hear "end of file" would double the round trips.
        let whole =
            |b: &[u8]| std::str::from_utf8(b).is_ok_and(|t| TechnicalReceipt::from_xml(t).is_ok());
        let read = Op::Read {
            path: &path,
            complete: whole,
        };
        let Out::Bytes(bytes) = self.run(target, read).await? else {
            return Ok(None);
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let bad = |reason: String| SftpError::BadReceipt {
            target: target.label(),
            path: path.clone(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
        TechnicalReceipt::from_xml(text)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// Removes the receipt after it has been acted on. A receipt already gone is fine.
    pub async fn remove_receipt(
        &self,
        target: &SftpTarget,
        file_name: &str,
    ) -> Result<(), SftpError> {
        let path = target.in_path(&receipt_name(file_name));
        self.run(target, Op::Remove { path: &path }).await.map(drop)
    }

    /// Removes any file; a file already gone is fine.
    pub async fn remove(&self, target: &SftpTarget, path: &str) -> Result<(), SftpError> {
        self.run(target, Op::Remove { path }).await.map(drop)
    }

    /// Lists a directory, sorted by name (for `check-config`).
    pub async fn ls(&self, target: &SftpTarget, dir: &str) -> Result<Vec<RemoteEntry>, SftpError> {
        match self.run(target, Op::List { dir }).await? {
            Out::Entries(e) => Ok(e),
            _ => Ok(Vec::new()),
        }
    }

    /// The host key fingerprint (`SHA256:…`) the target's server presented at the last
    /// connection attempt, for the operator to compare and pin.
    pub fn seen_host_key(&self, target: &SftpTarget) -> Option<String> {
        lock(&self.target_pool(target).host_key_seen).clone()
    }

    /// The host key fingerprint (`SHA256:…`) the target's server presents, read without
    /// logging in and without trusting it: for an operator to compare before pinning it.
    pub async fn host_key(&self, target: &SftpTarget) -> Result<String, SftpError> {
        let label = target.label();
        let presented = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            expected: None,
            presented: presented.clone(),
        };
        let config = Arc::new(russh::client::Config::default());
        let read = async {
            let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| SftpError::Connect {
                    target: label.clone(),
                    reason: e.to_string(),
                })?;
            // Refused by the check once it has seen the key: that ends the handshake.
            let refused = russh::client::connect_stream(config, tcp, check).await;
            lock(&presented).clone().ok_or_else(|| SftpError::Ssh {
                target: label.clone(),
                reason: match refused {
                    Err(e) => e.to_string(),
                    Ok(_) => "no host key was presented".into(),
                },
            })
        };
        let timeout = self.inner.settings.connect_timeout;
        tokio::time::timeout(timeout, read)
            .await
            .unwrap_or_else(|_| {
                Err(SftpError::Timeout {
                    target: label.clone(),
                    op: "connect",
                    path: String::new(),
                    after: timeout,
                })
            })
    }

    /// Disconnects every idle session (at shutdown).
    pub async fn close(&self) {
        let pools: Vec<Arc<TargetPool>> = lock(&self.inner.targets).values().cloned().collect();
        for pool in pools {
            let conns: Vec<Conn> = std::mem::take(&mut *lock(&pool.idle));
            for conn in conns {
                disconnect(conn).await;
            }
        }
    }

    fn target_pool(&self, target: &SftpTarget) -> Arc<TargetPool> {
        let mut targets = lock(&self.inner.targets);
        targets
            .entry(target.pool_key())
            .or_insert_with(|| {
                Arc::new(TargetPool {
                    target: target.clone(),
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(
                        self.inner.settings.max_sessions_per_target.max(1),
                    )),
                    host_key_seen: Arc::new(Mutex::new(None)),
                })
            })
            .clone()
    }

    /// Runs an operation on a pooled session. A reused session that turns out to be dead is
    /// replaced and the operation run once more on a fresh one.
    async fn run(&self, target: &SftpTarget, op: Op<'_>) -> Result<Out, SftpError> {
        let pool = self.target_pool(target);
        let started = Instant::now();
        let result = loop {
            let lease = match self.acquire(&pool).await {
                Ok(l) => l,
                Err(e) => break Err(e),
            };
            let result = perform(&lease.conn.sftp, &op, &pool.target, &self.inner.settings).await;
            match result {
                Err(e) if e.breaks_connection() || lease.conn.ssh.is_closed() => {
                    let reused = lease.reused;
                    tokio::spawn(disconnect(lease.conn));
                    if reused {
                        tracing::info!(
                            target = %pool.target.label(),
                            op = op.name(),
                            error = %e,
                            "SFTP session died while idle; retrying on a new session"
                        );
                        continue;
                    }
                    break Err(e);
                }
                other => {
                    let mut conn = lease.conn;
                    conn.idle_since = Instant::now();
                    lock(&pool.idle).push(conn);
                    break other;
                }
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.class().as_str(),
        };
        metrics::counter!("fordeler_sftp_ops_total", "op" => op.name(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("fordeler_sftp_op_duration_seconds", "op" => op.name())
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            tracing::debug!(op = op.name(), path = op.path(), error = %e, "SFTP operation failed");
        }
        result
    }

    async fn acquire(&self, pool: &Arc<TargetPool>) -> Result<Lease, SftpError> {
        let permit = pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SftpError::Ssh {
                target: pool.target.label(),
                reason: "the session pool is closed".into(),
            })?;
        let idle_timeout = self.inner.settings.idle_timeout;
        loop {
            // Most recently used first: it is the one most likely still alive.
            let candidate = lock(&pool.idle).pop();
            let Some(conn) = candidate else { break };
            if conn.ssh.is_closed() || conn.idle_since.elapsed() > idle_timeout {
                tokio::spawn(disconnect(conn));
                continue;
            }
            return Ok(Lease {
                conn,
                reused: true,
                _permit: permit,
            });
        }
        let conn = connect(pool, &self.inner.settings).await;
        metrics::counter!(
            "fordeler_sftp_connects_total",
            "outcome" => match &conn { Ok(_) => "ok", Err(e) => e.class().as_str() },
        )
        .increment(1);
        let conn = conn?;
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            conn,
            reused: false,
            _permit: permit,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data under these locks stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn disconnect(conn: Conn) {
    let _ = conn.sftp.close().await;
    let bye = conn
        .ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en");
    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
}

/// Checks the server's host key against the configured fingerprint; without one, refuses.
struct HostKeyCheck {
    expected: Option<String>,
    presented: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let data = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let fingerprint = data.fingerprint(HashAlg::Sha256).to_string();
        *lock(&self.presented) = Some(fingerprint.clone());
        Ok(self
            .expected
            .as_deref()
            .is_some_and(|expected| normalize_fingerprint(expected) == fingerprint))
    }
}

/// `SHA256:abc`, `abc` and `abc=` all mean the same key.
fn normalize_fingerprint(s: &str) -> String {
    let s = s.trim();
    let b64 = s.strip_prefix("SHA256:").unwrap_or(s).trim_end_matches('=');
    format!("SHA256:{b64}")
}

/// Whether `s` can be a host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:` and 43
/// Base64 characters (a typo would otherwise show only when the first file is uploaded).
pub fn is_fingerprint(s: &str) -> bool {
    let normal = normalize_fingerprint(s);
    let b64 = &normal["SHA256:".len()..];
    b64.len() == 43
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

async fn connect(pool: &TargetPool, settings: &SftpSettings) -> Result<Conn, SftpError> {
    let target = &pool.target;
    let label = target.label();
    let presented = pool.host_key_seen.clone();
    let check = HostKeyCheck {
        expected: target.host_key_fingerprint.clone(),
        presented: presented.clone(),
    };
    let ssh_err = |e: russh::Error| match (e, &target.host_key_fingerprint) {
        (russh::Error::UnknownKey, Some(expected)) => SftpError::HostKeyMismatch {
            target: label.clone(),
            expected: normalize_fingerprint(expected),
            presented: lock(&presented).clone().unwrap_or_default(),
        },
        (russh::Error::UnknownKey, None) => SftpError::HostKeyNotPinned {
            target: label.clone(),
            presented: lock(&presented).clone().unwrap_or_default(),
        },
        (russh::Error::IO(io), _) => SftpError::Connect {
            target: label.clone(),
            reason: io.to_string(),
        },
        (other, _) => SftpError::Ssh {
            target: label.clone(),
            reason: other.to_string(),
        },
    };
    let config = Arc::new(russh::client::Config {
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(CIPHERS),
            ..Default::default()
        },
        keepalive_interval: settings.keepalive_interval,
        keepalive_max: 3,
        inactivity_timeout: None,
        ..Default::default()
    });

    let setup = async {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| SftpError::Connect {
                target: label.clone(),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        let mut ssh = russh::client::connect_stream(config, tcp, check)
            .await
            .map_err(ssh_err)?;
        // RSA must sign with SHA-2: OpenSSH 8.8+ and the platform refuse ssh-rsa (SHA-1). A
        // server that does not say what it supports gets SHA-256.
        let hash = if target.key.algorithm().is_rsa() {
            match ssh.best_supported_rsa_hash().await.map_err(ssh_err)? {
                Some(Some(h)) => Some(h),
                _ => Some(HashAlg::Sha256),
            }
        } else {
            None
        };
        let auth = ssh
            .authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(target.key.clone(), hash),
            )
            .await
            .map_err(ssh_err)?;
        if !auth.success() {
            return Err(SftpError::AuthRefused {
                target: label.clone(),
                key: target.key_fingerprint(),
            });
        }
        let channel = ssh.channel_open_session().await.map_err(ssh_err)?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(ssh_err)?;
        // Writes of up to 255 KiB (OpenSSH's sftp-server limit; the server's own limits, when
        // it states them, still apply): one request and one answer for a typical attachment
        // instead of one per 32 KiB. One read request at a time: after a first short read the
        // library would otherwise queue 16 more, each answered "end of file", for every small
        // file read.
        let sftp_config = russh_sftp::client::Config {
            max_write_packet_len: 255 * 1024,
            max_concurrent_reads: 1,
            ..Default::default()
        };
        let sftp = SftpSession::new_with_config(channel.into_stream(), sftp_config)
            .await
            .map_err(|e| SftpError::Ssh {
                target: label.clone(),
                reason: format!("SFTP subsystem: {e}"),
            })?;
        // The library's own per-request limit, in whole seconds; ours below is the real one.
        sftp.set_timeout(settings.op_timeout.as_secs().max(1) + 1);
        Ok(Conn {
            ssh,
            sftp,
            idle_since: Instant::now(),
        })
    };
    match tokio::time::timeout(settings.connect_timeout, setup).await {
        Ok(r) => r,
        Err(_) => Err(SftpError::Timeout {
            target: label.clone(),
            op: "connect",
            path: String::new(),
            after: settings.connect_timeout,
        }),
    }
}

/// russh's choices in another order: AES-GCM first, since the CPUs this runs on have AES
/// instructions, which make it several times cheaper per byte than ChaCha20-Poly1305 (the
/// library's first choice). Both are authenticated encryption; the server picks from our list.
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_256_GCM,
    russh::cipher::AES_128_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_128_CTR,
];

/// Maps one failed SFTP step.
struct Step<'a> {
    target: &'a SftpTarget,
    op: &'static str,
    path: &'a str,
    timeout: Duration,
}

impl Step<'_> {
    async fn run<T>(&self, fut: impl Future<Output = Result<T, RawError>>) -> Result<T, SftpError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| self.raw(e)),
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn run_io<T>(
        &self,
        fut: impl Future<Output = std::io::Result<T>>,
    ) -> Result<T, SftpError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| self.io(e)),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> SftpError {
        SftpError::Timeout {
            target: self.target.label(),
            op: self.op,
            path: self.path.to_owned(),
            after: self.timeout,
        }
    }

    fn raw(&self, e: RawError) -> SftpError {
        match e {
            RawError::Status(s) => match s.status_code {
                StatusCode::NoConnection | StatusCode::ConnectionLost => self.lost(s.error_message),
                code => SftpError::Remote {
                    target: self.target.label(),
                    op: self.op,
                    path: self.path.to_owned(),
                    code,
                    message: s.error_message,
                },
            },
            RawError::Timeout => self.timed_out(),
            RawError::IO(reason) | RawError::UnexpectedBehavior(reason) => self.lost(reason),
            RawError::UnexpectedPacket => self.lost("unexpected packet".into()),
            RawError::Limited(reason) => SftpError::Remote {
                target: self.target.label(),
                op: self.op,
                path: self.path.to_owned(),
                code: StatusCode::Failure,
                message: format!("limit exceeded: {reason}"),
            },
        }
    }

    /// File reads and writes report through `std::io::Error`. A wrapped library error says
    /// what happened; a bare message is the server's status text, whose code the library
    /// dropped, so it counts as a server-side failure.
    fn io(&self, e: std::io::Error) -> SftpError {
        if e.kind() == std::io::ErrorKind::TimedOut {
            return self.timed_out();
        }
        let inner = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<RawError>())
            .cloned();
        match inner {
            Some(raw) => self.raw(raw),
            None => SftpError::Remote {
                target: self.target.label(),
                op: self.op,
                path: self.path.to_owned(),
                code: StatusCode::Failure,
                message: e.to_string(),
            },
        }
    }

    fn lost(&self, reason: String) -> SftpError {
        SftpError::Disconnected {
            target: self.target.label(),
            op: self.op,
            path: self.path.to_owned(),
            reason,
        }
    }
}

async fn perform(
    sftp: &SftpSession,
    op: &Op<'_>,
    target: &SftpTarget,
    settings: &SftpSettings,
) -> Result<Out, SftpError> {
    match op {
        Op::Upload { path, data } => {
            upload(sftp, target, settings, path, data).await?;
            Ok(Out::Done)
        }
        Op::Read { path, complete } => {
            let s = Step {
                target,
                op: "read",
                path,
                timeout: settings.op_timeout,
            };
            let mut file = match s.run(sftp.open(*path)).await {
                Ok(f) => f,
                Err(SftpError::Remote {
                    code: StatusCode::NoSuchFile,
                    ..
                }) => return Ok(Out::Bytes(None)),
                Err(e) => return Err(e),
            };
            let limit = settings.max_receipt_bytes;
            let mut bytes = Vec::new();
            let mut chunk = vec![0; 64 * 1024];
            loop {
                let room = (limit + 1 - bytes.len()).min(chunk.len());
                let n = s.run_io(file.read(&mut chunk[..room])).await?;
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.len() > limit || complete(&bytes) {
                    break;
                }
            }
            s.run_io(file.shutdown()).await?;
            if bytes.len() > limit {
                return Err(SftpError::BadReceipt {
                    target: target.label(),
                    path: path.to_string(),
                    reason: format!("larger than {limit} bytes"),
                });
            }
            Ok(Out::Bytes(Some(bytes)))
        }
        Op::Remove { path } => {
            let s = Step {
                target,
                op: "remove",
                path,
                timeout: settings.op_timeout,
            };
            match s.run(sftp.remove_file(*path)).await {
                Ok(())
                | Err(SftpError::Remote {
                    code: StatusCode::NoSuchFile,
                    ..
                }) => Ok(Out::Done),
                Err(e) => Err(e),
            }
        }
        Op::List { dir } => {
            let s = Step {
                target,
                op: "list",
                path: dir,
                timeout: settings.op_timeout,
            };
            let entries = s.run(sftp.read_dir(*dir)).await?;
            let mut out: Vec<RemoteEntry> = entries
                .map(|e| {
                    let meta = e.metadata();
                    RemoteEntry {
                        name: e.file_name(),
                        size: meta.size,
                        is_dir: meta.is_dir(),
                    }
                })
                .filter(|e| e.name != "." && e.name != "..")
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Out::Entries(out))
        }
    }
}

async fn upload(
    sftp: &SftpSession,
    target: &SftpTarget,
    settings: &SftpSettings,
    path: &str,
    data: &[u8],
) -> Result<(), SftpError> {
    let part = format!("{path}.part");
    let write = Step {
        target,
        op: "upload",
        path: &part,
        timeout: settings.op_timeout,
    };
    let mut file = write.run(sftp.create(part.as_str())).await?;
    for chunk in data.chunks(settings.chunk_size.max(1)) {
        write.run_io(file.write_all(chunk)).await?;
    }
    // flush waits for every write to be acknowledged (and fsyncs where the server offers
    // fsync@openssh.com); only then is the file complete enough to publish.
    write.run_io(file.flush()).await?;
    write.run_io(file.shutdown()).await?;

    let publish = Step {
        target,
        op: "rename",
        path,
        timeout: settings.op_timeout,
    };
    match publish.run(sftp.rename(part.as_str(), path)).await {
        Ok(()) => Ok(()),
        Err(SftpError::Remote { code, .. })
            if code == StatusCode::Failure || code == StatusCode::PermissionDenied =>
        {
            // SFTP v3 refuses to rename onto an existing name (a repeated upload). Replace the
            // old file; if there was none, the rename fails again and that error stands.
            match publish.run(sftp.remove_file(path)).await {
                Ok(())
                | Err(SftpError::Remote {
                    code: StatusCode::NoSuchFile,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
            publish.run(sftp.rename(part.as_str(), path)).await
        }
        Err(e) => Err(e),
    }
}
