//! [`SftpPool`]: authenticated sessions per target, lent out at most
//! [`SftpSettings::max_sessions_per_target`] at a time, and [`SftpPool::run`], the one place
//! where an operation gets a session, is retried once when a reused session died under it,
//! and is counted in the metrics.

use super::error::Step;
use super::session::{Conn, connect, disconnect};
use super::{RemoteEntry, SftpError, SftpSettings, SftpTarget, lock};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::StatusCode;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

pub(super) struct TargetPool {
    pub target: SftpTarget,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    /// The host key fingerprint the server presented last, for `check-config`.
    pub host_key_seen: Arc<Mutex<Option<String>>>,
}

/// A session on loan, with the permit that counts it against the target's limit.
struct Lease {
    conn: Conn,
    reused: bool,
    _permit: OwnedSemaphorePermit,
}

/// One SFTP operation; a closed set so the session loan and retry logic live in one place.
pub(super) enum Op<'a> {
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

pub(super) enum Out {
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

    pub(super) fn target_pool(&self, target: &SftpTarget) -> Arc<TargetPool> {
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
    pub(super) async fn run(&self, target: &SftpTarget, op: Op<'_>) -> Result<Out, SftpError> {
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

async fn perform(
    sftp: &SftpSession,
    op: &Op<'_>,
    target: &SftpTarget,
    settings: &SftpSettings,
) -> Result<Out, SftpError> {
    match op {
        Op::Upload { path, data } => {
            super::upload::put(sftp, target, settings, path, data).await?;
            Ok(Out::Done)
        }
        Op::Read { path, complete } => {
            super::receipt::read(sftp, target, settings, path, *complete)
                .await
                .map(Out::Bytes)
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
