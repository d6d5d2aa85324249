//! One session: an SSH connection to the target (host key checked, public-key login) with an
//! `sftp` channel on it, set up within the connect timeout; and its orderly close.

use super::host_key::{HostKeyCheck, normalize_fingerprint};
use super::pool::TargetPool;
use super::{SftpError, SftpSettings, lock};
use russh::client::Handle;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh_sftp::client::SftpSession;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An authenticated session, pooled while idle.
pub(super) struct Conn {
    pub ssh: Handle<HostKeyCheck>,
    pub sftp: SftpSession,
    pub idle_since: Instant,
}

pub(super) async fn connect(pool: &TargetPool, settings: &SftpSettings) -> Result<Conn, SftpError> {
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

pub(super) async fn disconnect(conn: Conn) {
    let _ = conn.sftp.close().await;
    let bye = conn
        .ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en");
    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
}
