//! [`SftpError`]: what can go wrong with the SFTP service, each failure sorted into an
//! [`ErrorClass`]; and [`Step`], which turns one failed or stalled SFTP request into one.

use super::SftpTarget;
use crate::transport::ErrorClass;
use russh_sftp::client::error::Error as RawError;
use russh_sftp::protocol::StatusCode;
use std::time::Duration;

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
    pub(super) fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Disconnected { .. } | Self::Ssh { .. }
        )
    }
}

/// Maps one failed SFTP step.
pub(super) struct Step<'a> {
    pub target: &'a SftpTarget,
    pub op: &'static str,
    pub path: &'a str,
    pub timeout: Duration,
}

impl Step<'_> {
    pub(super) async fn run<T>(
        &self,
        fut: impl Future<Output = Result<T, RawError>>,
    ) -> Result<T, SftpError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| self.raw(e)),
            Err(_) => Err(self.timed_out()),
        }
    }

    pub(super) async fn run_io<T>(
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
