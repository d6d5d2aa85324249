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
//! [`ErrorClass`](super::ErrorClass). Errors name the target, the operation and the remote
//! path, never contents.
//! No session is opened with a server whose host key is not the pinned one, nor with one for
//! which no key is pinned; [`SftpPool::host_key`] reads the key a server presents, for the
//! operator to compare and pin.
//!
//! - `pool`: [`SftpPool`], the sessions per target and the one loop that lends them out.
//! - `session`: one SSH connection with its `sftp` channel, set up and closed.
//! - `host_key`: the pinned host key, checked at every connection, and reading a server's.
//! - `upload`: files and their `.trigger` to `/OUT/`, published by rename.
//! - `receipt`: the `.sftpreceipt` from `/IN/`, read and removed.
//! - `error`: [`SftpError`], and how a failed step becomes one.

mod error;
mod host_key;
mod pool;
mod receipt;
mod session;
mod upload;

pub use error::SftpError;
pub use host_key::is_fingerprint;
pub use pool::SftpPool;

use russh::keys::{HashAlg, PrivateKey};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A directory entry, for the operator's `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: String,
    pub size: Option<u64>,
    pub is_dir: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data under these locks stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
