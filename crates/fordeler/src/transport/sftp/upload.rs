//! Uploads: a file, then its `.trigger`, to `/OUT/`, each written to `<name>.part` and renamed,
//! so the platform never sees half a file; a repeated upload replaces the earlier one.

use super::error::Step;
use super::pool::Op;
use super::{SftpError, SftpPool, SftpSettings, SftpTarget};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::StatusCode;
use sf2900::Message as _;
use sf2900::sftp::{Trigger, trigger_name};
use tokio::io::AsyncWriteExt;

impl SftpPool {
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
}

/// Writes `data` to `<path>.part`, then renames it to `path`.
pub(super) async fn put(
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
