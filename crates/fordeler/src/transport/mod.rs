//! The Fordeler's own clients for Serviceplatformen: SOAP over mutual TLS for SF2900, and the
//! SFTP service for attachments, triggers and technical receipts.
//!
//! - [`identity`]: the anvender's certificate and key (PKCS#12 or PEM) and the trust roots.
//! - [`soap`]: [`SoapClient`], one pooled HTTPS client per platform endpoint.
//! - [`sftp`]: [`SftpPool`], long-lived SSH sessions per SFTP account.
//!
//! This is product code written against the protocol (`sf2900`), not shared with `kombit-sim`:
//! a simulator that shared these clients could not catch their bugs. Both clients sort every
//! failure into an [`ErrorClass`], so the delivery stages decide on retries without knowing
//! HTTP, TLS or SSH. Errors carry no payloads and no personal data.
//!
//! Metrics: `fordeler_soap_calls_total{operation,outcome}`,
//! `fordeler_soap_call_duration_seconds{operation}`, `fordeler_sftp_ops_total{op,outcome}`,
//! `fordeler_sftp_op_duration_seconds{op}`, `fordeler_sftp_connects_total{outcome}`.

pub mod identity;
pub mod sftp;
pub mod soap;

pub use identity::{ClientIdentity, IdentityError, TrustRoots};
pub use sftp::{SftpError, SftpPool, SftpSettings, SftpTarget};
pub use soap::{CallError, SoapClient, SoapSettings};

/// What a caller should do with a failed call or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again later: network, timeout, the platform's temporary trouble.
    Retryable,
    /// Nothing will work until an operator changes something: certificate, key, host key,
    /// service agreement, permissions, endpoint. Retrying the same item alone will not help,
    /// but the item itself is not at fault; hold it and tell the operator.
    Configuration,
    /// This item was refused for what it is (our message is wrong, the answer unreadable).
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "retryable",
            Self::Configuration => "configuration",
            Self::Permanent => "permanent",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
