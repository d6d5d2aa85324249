//! Technical receipts: `<name>.sftpreceipt` in `/IN/`, read (bounded in size, and no further
//! than the receipt is whole) and decoded, then removed once acted on.

use super::error::Step;
use super::pool::{Op, Out};
use super::{SftpError, SftpPool, SftpSettings, SftpTarget};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::StatusCode;
use sf2900::Message as _;
use sf2900::sftp::{TechnicalReceipt, receipt_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

impl SftpPool {
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
}

/// Reads `path` until its end, or until `complete` says the bytes so far are whole; `None` if
/// there is no such file. More than [`SftpSettings::max_receipt_bytes`] is refused.
pub(super) async fn read(
    sftp: &SftpSession,
    target: &SftpTarget,
    settings: &SftpSettings,
    path: &str,
    complete: fn(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>, SftpError> {
    let s = Step {
        target,
        op: "read",
        path,
        timeout: settings.op_timeout,
    };
    let mut file = match s.run(sftp.open(path)).await {
        Ok(f) => f,
        Err(SftpError::Remote {
            code: StatusCode::NoSuchFile,
            ..
        }) => return Ok(None),
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
    Ok(Some(bytes))
}
