//! Host key pinning: the check every connection makes against the configured fingerprint
//! (none configured: no connection), the fingerprint's syntax, and reading the key a server
//! presents without trusting it, for the operator to compare and pin.

use super::{SftpError, SftpPool, SftpTarget, lock};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use std::sync::{Arc, Mutex};

impl SftpPool {
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
        let timeout = self.settings().connect_timeout;
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
}

/// Checks the server's host key against the configured fingerprint; without one, refuses.
pub(super) struct HostKeyCheck {
    pub expected: Option<String>,
    pub presented: Arc<Mutex<Option<String>>>,
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
pub(super) fn normalize_fingerprint(s: &str) -> String {
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
