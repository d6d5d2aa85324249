//! The embedded SFTP service: Serviceplatformens "Fælleskommunal filudveksling", over real SSH.
//!
//! An anvender uploads a file to `/OUT/`, then `<file>.trigger` (an `sftp:Trigger` document,
//! SFTPTypes.xsd), and polls `/IN/<file>.sftpreceipt` for the platform's `sftp:TechnicalReceipt`.
//! This module owns all of that: the SSH listener (publickey only), one jailed file tree per user,
//! the trigger checks, the receipts, the journal entries for files, triggers and receipts, and the
//! SFTP fault hooks. It is a real network service so that the Fordeler's production SFTP client
//! code (and OpenSSH's `sftp`) can be tested unchanged.
//!
//! Layout on disk: `<root>/<user>/OUT/` and `<root>/<user>/IN/`, created at start. A user sees
//! `<root>/<user>/` as `/`; `/OUT/x`, `OUT/x` and `./OUT/x` are the same file, and any path that
//! climbs above `/` is refused with SSH_FX_PERMISSION_DENIED. Receipts are first written under
//! `<root>/.tmp/` (outside every jail, same file system) and renamed into place, so a polling
//! client never reads half a receipt.
//!
//! Trigger processing starts when a `*.trigger` file directly in `/OUT/` is closed after writing,
//! or renamed into `/OUT/` (clients that upload to a temporary name and rename to publish). It
//! runs in its own task after [`SftpSettings::receipt_delay`], so the SFTP session never waits for
//! it. The receipt is `/IN/<T>.sftpreceipt` where `<T>.trigger` is the trigger's file name; a
//! well-behaved client names the trigger `<FileName>.trigger`, so that is where it polls.
//!
//! Error receipts use these codes. The real platform's codes are not public, so these are the
//! simulator's own; several can appear in one receipt (ErrorMessage is repeatable):
//!
//! | ErrorCode | ErrorCodeDescription    | when                                                        |
//! |-----------|-------------------------|-------------------------------------------------------------|
//! | 1001      | `INVALID_TRIGGER`       | the trigger is not UTF-8, not well-formed or not a valid `sftp:Trigger` |
//! | 1002      | `TRIGGER_NAME_MISMATCH` | the trigger file is not named `<FileName>.trigger`          |
//! | 2001      | `FILE_NOT_FOUND`        | `/OUT/<FileName>` does not exist (exact name) or is not a plain file |
//! | 2002      | `FILE_SIZE_MISMATCH`    | `/OUT/<FileName>` does not have exactly `SizeInBytes` bytes |
//! | 3001      | `SENDER_MISMATCH`       | `Sender` is not the SFTP user who uploaded the trigger      |
//! | 9001      | `SIMULATED_ERROR`       | a `trigger_error` fault                                     |
//!
//! Faults ([`crate::faults`]): on [`Hook::SftpUpload`](crate::faults::Hook::SftpUpload), checked
//! when a file is opened for writing (the subject's `file` is the file name): `latency` delays the
//! open, `disk_full` makes every write fail with SSH_FX_FAILURE "No space left on device", and
//! `disconnect` drops the TCP connection during the first write, after half of that write reached
//! the disk, leaving a partial file as a real network failure would. On
//! [`Hook::SftpTrigger`](crate::faults::Hook::SftpTrigger) (subject: `FileName` and the
//! `TransactionId`): `latency` adds to the receipt delay, `trigger_error` adds error 9001, and
//! `receipt_missing` writes no receipt at all.
//!
//! [`bench_cycles`] is the client side of the same protocol, used by `kombit-sim bench`.

mod client;
mod fs;
mod trigger;

pub use client::{BenchResult, SftpClient, bench_cycles};
pub use trigger::codes;

use crate::faults::Faults;
use crate::journal::Journal;
use anyhow::Context as _;
use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// An SFTP account: the user name registered with the platform and its authorised key.
#[derive(Debug, Clone)]
pub struct SftpUser {
    pub name: String,
    pub public_key: PublicKey,
}

impl SftpUser {
    /// `public_key` is an OpenSSH public key line (`ssh-ed25519 AAAA… comment`, as in
    /// `authorized_keys` or a `.pub` file) or the path of a file holding one.
    pub fn from_openssh(name: impl Into<String>, public_key: &str) -> anyhow::Result<Self> {
        let line = public_key.trim();
        let public_key = match PublicKey::from_openssh(line) {
            Ok(key) => key,
            Err(_) => {
                let text = std::fs::read_to_string(line).with_context(|| {
                    format!("not an OpenSSH public key nor a readable file: {line}")
                })?;
                PublicKey::from_openssh(text.trim())
                    .with_context(|| format!("{line}: not an OpenSSH public key"))?
            }
        };
        Ok(Self {
            name: name.into(),
            public_key,
        })
    }
}

/// Everything [`start`] needs.
#[derive(Debug, Clone)]
pub struct SftpSettings {
    /// Port 0 picks a free port; see [`SftpHandle::local_addr`].
    pub listen: SocketAddr,
    /// Parent of the per-user trees `<root>/<user>/{OUT,IN}`; created if missing.
    pub root: PathBuf,
    pub host_key: PrivateKey,
    /// A name may appear more than once to authorise several keys.
    pub users: Vec<SftpUser>,
    /// Time between a trigger arriving and its receipt appearing in `/IN/`.
    pub receipt_delay: Duration,
}

/// The running service. Dropping it (or [`SftpHandle::shutdown`]) stops accepting connections,
/// disconnects every client and abandons receipts not yet written.
#[derive(Debug)]
pub struct SftpHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SftpHandle {
    /// The bound address, with the real port when `listen` had port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the service and waits until every connection has been closed.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            // The task never panics on client input; a JoinError here means it was cancelled
            // by a runtime shutting down, which is what we want anyway.
            let _ = task.await;
        }
    }
}

impl Drop for SftpHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// State shared by the listener, every connection and every trigger task.
#[derive(Debug)]
struct Shared {
    root: PathBuf,
    /// `<root>/.tmp`: receipts are written here first, then renamed into `/IN/`.
    tmp_dir: PathBuf,
    keys: HashMap<String, Vec<PublicKey>>,
    journal: Journal,
    faults: Faults,
    receipt_delay: Duration,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn home(&self, user: &str) -> PathBuf {
        self.root.join(user)
    }

    /// Resolves when the service is being shut down.
    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the sender is gone, which also means "stop".
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// Starts the SFTP service: creates the user trees, binds `settings.listen` and serves in the
/// background until the handle is dropped or shut down.
pub async fn start(
    settings: SftpSettings,
    journal: Journal,
    faults: Faults,
) -> anyhow::Result<SftpHandle> {
    let mut keys: HashMap<String, Vec<PublicKey>> = HashMap::new();
    for user in settings.users {
        check_user_name(&user.name)?;
        keys.entry(user.name).or_default().push(user.public_key);
    }
    let tmp_dir = settings.root.join(".tmp");
    create_dir(&tmp_dir)?;
    for name in keys.keys() {
        let home = settings.root.join(name);
        create_dir(&home.join("OUT"))?;
        create_dir(&home.join("IN"))?;
    }

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("SFTP: cannot listen on {}", settings.listen))?;
    let local_addr = listener.local_addr()?;

    let config = Arc::new(russh::server::Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![settings.host_key],
        // Rejections are not secret here (a local simulator), and tests try wrong keys on
        // purpose; the default second per rejection would only slow them down.
        auth_rejection_time: Duration::from_millis(20),
        auth_rejection_time_initial: Some(Duration::ZERO),
        // SFTP is request/response: with Nagle on, every small reply waits for a delayed ACK.
        nodelay: true,
        ..Default::default()
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        root: settings.root,
        tmp_dir,
        keys,
        journal,
        faults,
        receipt_delay: settings.receipt_delay,
        stop: stop_rx,
    });
    let task = tokio::spawn(accept_loop(listener, config, shared));
    tracing::info!(%local_addr, "SFTP service listening");
    Ok(SftpHandle {
        local_addr,
        stop: stop_tx,
        task: Some(task),
    })
}

/// User names become directory names, so they must be one plain, visible path component.
fn check_user_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255;
    anyhow::ensure!(
        ok,
        "SFTP user name {name:?} cannot be used as a directory name"
    );
    Ok(())
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("SFTP: cannot create {}", path.display()))
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shared.stopped() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve_connection(stream, peer, config.clone(), shared.clone()));
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning on the error.
                    tracing::warn!(error = %e, "SFTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    // Each connection sees the stop signal itself; give them a moment to say goodbye.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

/// The raw socket of one connection, kept so the connection can be cut from outside russh:
/// `shutdown(2)` on a duplicate descriptor makes russh read EOF and the peer see the connection
/// drop without an SSH disconnect message, as with a real network failure.
#[derive(Debug)]
struct ConnKill {
    socket: std::net::TcpStream,
    killed: AtomicBool,
}

impl ConnKill {
    /// Cuts the connection as a fault: requests already buffered are refused from now on.
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.close();
    }

    /// Closes the socket. Fails only if it is already gone, which is the goal.
    fn close(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
) {
    let (stream, kill) = match split_kill(stream) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "SFTP connection setup failed");
            return;
        }
    };
    if config.nodelay {
        let _ = stream.set_nodelay(true);
    }
    let handler = SshConnection {
        shared: shared.clone(),
        kill: kill.clone(),
        peer,
        user: None,
        channels: HashMap::new(),
    };
    let session = tokio::select! {
        started = russh::server::run_stream(config, stream, handler) => match started {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "SSH handshake failed");
                return;
            }
        },
        () = shared.stopped() => return,
    };
    let handle = session.handle();
    tokio::select! {
        result = session => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "SSH session ended with an error");
            }
        }
        () = shared.stopped() => {
            let goodbye = handle.disconnect(
                russh::Disconnect::ByApplication,
                "simulator shutting down".into(),
                "en".into(),
            );
            let _ = tokio::time::timeout(Duration::from_millis(500), goodbye).await;
        }
    }
    // The duplicate descriptor would otherwise keep the TCP connection open until the last SFTP
    // handler of this connection is gone. Not a kill: requests already received still complete.
    kill.close();
}

fn split_kill(stream: TcpStream) -> std::io::Result<(TcpStream, Arc<ConnKill>)> {
    let std_stream = stream.into_std()?;
    let socket = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    Ok((
        stream,
        Arc::new(ConnKill {
            socket,
            killed: AtomicBool::new(false),
        }),
    ))
}

/// One SSH connection: authentication, then an `sftp` subsystem per session channel.
struct SshConnection {
    shared: Arc<Shared>,
    kill: Arc<ConnKill>,
    peer: SocketAddr,
    /// Set once publickey authentication has succeeded.
    user: Option<String>,
    /// Session channels waiting for their subsystem request.
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl SshConnection {
    fn key_allowed(&self, user: &str, key: &PublicKey) -> bool {
        // Compare key material only: the comment in an authorized_keys line is not part of the key.
        self.shared
            .keys
            .get(user)
            .is_some_and(|keys| keys.iter().any(|k| k.key_data() == key.key_data()))
    }
}

impl russh::server::Handler for SshConnection {
    type Error = anyhow::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Refusing here lets OpenSSH move on to its next key without signing with this one.
        Ok(if self.key_allowed(user, offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, key.public_key) {
            tracing::debug!(peer = %self.peer, user, "SFTP login");
            self.user = Some(user.to_owned());
            Ok(Auth::Accept)
        } else {
            tracing::info!(peer = %self.peer, user, "SFTP login refused: key not registered");
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match (name, self.channels.remove(&id), &self.user) {
            ("sftp", Some(channel), Some(user)) => {
                session.channel_success(id)?;
                let fs = fs::JailFs::new(self.shared.clone(), user.clone(), self.kill.clone());
                let cfg = russh_sftp::server::Config {
                    max_client_packet_len: fs::MAX_PACKET_LEN,
                };
                russh_sftp::server::run_with_config(channel.into_stream(), fs, cfg).await;
            }
            _ => session.channel_failure(id)?,
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        id: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // SFTP only, like the real service.
        session.channel_failure(id)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(id)?;
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        id: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&id);
        session.close(id)?;
        Ok(())
    }
}
