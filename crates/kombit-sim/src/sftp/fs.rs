//! The SFTP file system of one session: a user's tree, jailed, plus the upload fault hooks and
//! the hand-off of closed `/OUT/` files to the journal and the trigger processor.
//!
//! File operations call `std::fs` directly on the runtime thread instead of going through
//! `tokio::fs`: they hit the page cache and take microseconds, while `tokio::fs` moves every call
//! to the blocking pool and back, which costs more than the call itself. Nothing is fsynced; a
//! simulator does not need durability.

use super::{ConnKill, Shared, trigger};
use crate::faults::{Action, Hook, Subject};
use crate::journal::Event;
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest SFTP packet accepted from a client; OpenSSH's own limit.
pub(super) const MAX_PACKET_LEN: u32 = 256 * 1024;
/// Largest read answered at once, so a reply always fits in a client's maximum packet.
const MAX_READ_LEN: u32 = 255 * 1024;
/// Directory entries per READDIR reply, so a reply stays far below any packet limit.
const READDIR_BATCH: usize = 128;
/// Open handles per session; a client that leaks handles gets errors, not our file descriptors.
const MAX_HANDLES: usize = 256;

type Reply<T> = Result<T, StatusReply>;

/// What an upload fault does to an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadFault {
    None,
    DiskFull,
    Disconnect,
}

struct OpenFile {
    file: std::fs::File,
    /// The path as the client knows it, for logs.
    virtual_path: String,
    /// Set when the file sits directly in `/OUT/`: its name there.
    out_name: Option<String>,
    writable: bool,
    fault: UploadFault,
}

enum OpenHandle {
    File(OpenFile),
    Dir { entries: Vec<File>, next: usize },
}

/// The SFTP handler for one session of one user.
pub(super) struct JailFs {
    shared: Arc<Shared>,
    user: String,
    home: PathBuf,
    kill: Arc<ConnKill>,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
}

/// A client path, normalised inside the jail: its components below `/`.
struct Resolved {
    parts: Vec<String>,
}

impl Resolved {
    fn virtual_path(&self) -> String {
        format!("/{}", self.parts.join("/"))
    }

    /// The name of a file directly in `/OUT/`.
    fn out_name(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [dir, name] if dir == "OUT" => Some(name),
            _ => None,
        }
    }

    /// `/OUT` and `/IN` themselves: the platform's folders, which a client may not remove.
    fn is_platform_dir(&self) -> bool {
        matches!(self.parts.as_slice(), [d] if d == "OUT" || d == "IN")
    }

    fn file_name(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }
}

/// Normalises a client path lexically. Relative paths start at `/` (the home directory).
/// `None` when the path climbs above `/` or contains a NUL byte.
fn normalize(path: &str) -> Option<Resolved> {
    if path.contains('\0') {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name.to_owned()),
        }
    }
    Some(Resolved { parts })
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

fn io_error(e: std::io::Error) -> StatusReply {
    let code = match e.kind() {
        ErrorKind::NotFound => StatusCode::NoSuchFile,
        ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    // The OS message ("Directory not empty", "File exists") helps the client's user more than
    // the bare status code.
    code.with_message(e.to_string())
}

fn denied(why: &str) -> StatusReply {
    StatusCode::PermissionDenied.with_message(why)
}

fn bad_handle() -> StatusReply {
    StatusCode::Failure.with_message("invalid handle")
}

fn connection_lost() -> StatusReply {
    StatusCode::Failure.with_message("connection lost")
}

impl JailFs {
    pub(super) fn new(shared: Arc<Shared>, user: String, kill: Arc<ConnKill>) -> Self {
        let home = shared.home(&user);
        Self {
            shared,
            user,
            home,
            kill,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn resolve(&self, path: &str) -> Reply<(Resolved, PathBuf)> {
        let resolved = normalize(path).ok_or_else(|| denied("path outside the home directory"))?;
        let mut real = self.home.clone();
        real.extend(&resolved.parts);
        Ok((resolved, real))
    }

    fn add_handle(&mut self, handle: OpenHandle) -> Reply<String> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure.with_message("too many open handles"));
        }
        self.next_handle += 1;
        let key = self.next_handle.to_string();
        self.handles.insert(key.clone(), handle);
        Ok(key)
    }

    fn file_mut(&mut self, handle: &str) -> Reply<&mut OpenFile> {
        match self.handles.get_mut(handle) {
            Some(OpenHandle::File(f)) => Ok(f),
            _ => Err(bad_handle()),
        }
    }

    /// Once the connection has been cut by a fault, nothing more may reach the disk, even
    /// requests russh had already buffered.
    fn alive(&self) -> Reply<()> {
        if self.kill.is_killed() {
            Err(connection_lost())
        } else {
            Ok(())
        }
    }

    /// Upload faults for a file being opened for writing.
    async fn upload_fault(&self, name: &str) -> UploadFault {
        let subject = Subject {
            file: Some(name),
            ..Default::default()
        };
        let mut fault = UploadFault::None;
        let mut delay = 0u64;
        for f in self.shared.faults.pick(Hook::SftpUpload, &subject) {
            match f.action {
                Action::Latency => delay = delay.saturating_add(f.delay_ms),
                Action::DiskFull if fault == UploadFault::None => fault = UploadFault::DiskFull,
                Action::Disconnect => fault = UploadFault::Disconnect,
                _ => {}
            }
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if fault != UploadFault::None {
            tracing::info!(user = %self.user, file = name, ?fault, "SFTP upload fault");
        }
        fault
    }

    /// A file written in `/OUT/` is complete: journal it, and process it if it is a trigger.
    fn file_arrived(&self, name: &str, size: u64) {
        self.shared.journal.record(Event::File {
            user: self.user.clone(),
            name: name.to_owned(),
            size,
        });
        if name.ends_with(".trigger") {
            trigger::spawn(self.shared.clone(), self.user.clone(), name.to_owned());
        }
    }
}

impl russh_sftp::server::Handler for JailFs {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn init(&mut self, _version: u32, _ext: HashMap<String, String>) -> Reply<Version> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Reply<Name> {
        let (resolved, _) = self.resolve(&path)?;
        Ok(Name {
            id,
            files: vec![File::dummy(resolved.virtual_path())],
        })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Reply<Handle> {
        self.alive()?;
        let (resolved, real) = self.resolve(&filename)?;
        let writable = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        if writable && resolved.parts.is_empty() {
            return Err(denied("cannot write to the home directory"));
        }
        let fault = if writable {
            self.upload_fault(resolved.file_name()).await
        } else {
            UploadFault::None
        };
        let file = std::fs::OpenOptions::from(pflags)
            .open(&real)
            .map_err(io_error)?;
        let open = OpenFile {
            file,
            virtual_path: resolved.virtual_path(),
            out_name: resolved.out_name().map(str::to_owned),
            writable,
            fault,
        };
        let handle = self.add_handle(OpenHandle::File(open))?;
        Ok(Handle { id, handle })
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Reply<Data> {
        self.alive()?;
        let file = self.file_mut(&handle)?;
        let mut buf = vec![0u8; len.min(MAX_READ_LEN) as usize];
        let n = file.file.read_at(&mut buf, offset).map_err(io_error)?;
        if n == 0 && !buf.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        buf.truncate(n);
        Ok(Data { id, data: buf })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Reply<Status> {
        self.alive()?;
        let kill = self.kill.clone();
        let file = self.file_mut(&handle)?;
        match file.fault {
            UploadFault::None => {}
            UploadFault::DiskFull => {
                return Err(StatusCode::Failure.with_message("No space left on device"));
            }
            UploadFault::Disconnect => {
                // Half of this packet reaches the disk, then the line goes dead: the partial
                // file a real dropped connection leaves behind.
                let half = &data[..data.len() / 2];
                let _ = file.file.write_all_at(half, offset);
                tracing::info!(path = %file.virtual_path, "SFTP fault: dropping the connection");
                kill.kill();
                return Err(connection_lost());
            }
        }
        file.file.write_all_at(&data, offset).map_err(io_error)?;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Reply<Status> {
        self.alive()?;
        let Some(open) = self.handles.remove(&handle) else {
            return Err(bad_handle());
        };
        let OpenHandle::File(file) = open else {
            return Ok(ok(id));
        };
        if file.fault == UploadFault::Disconnect {
            // An empty upload never wrote: cut the line at close instead.
            self.kill.kill();
            return Err(connection_lost());
        }
        if file.writable
            && let Some(name) = file.out_name
        {
            let size = file.file.metadata().map_err(io_error)?.len();
            // Closed before the trigger processor may open it.
            drop(file.file);
            self.file_arrived(&name, size);
        }
        Ok(ok(id))
    }

    async fn stat(&mut self, id: u32, path: String) -> Reply<Attrs> {
        let (_, real) = self.resolve(&path)?;
        let meta = std::fs::metadata(real).map_err(io_error)?;
        Ok(Attrs {
            id,
            attrs: (&meta).into(),
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Reply<Attrs> {
        let (_, real) = self.resolve(&path)?;
        let meta = std::fs::symlink_metadata(real).map_err(io_error)?;
        Ok(Attrs {
            id,
            attrs: (&meta).into(),
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Reply<Attrs> {
        let file = self.file_mut(&handle)?;
        let meta = file.file.metadata().map_err(io_error)?;
        Ok(Attrs {
            id,
            attrs: (&meta).into(),
        })
    }

    // Permissions and times are accepted and ignored: clients such as `sftp -p` set them after an
    // upload, and failing would abort their transfer for something the platform does not keep.
    async fn setstat(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Reply<Status> {
        let (_, real) = self.resolve(&path)?;
        std::fs::symlink_metadata(real).map_err(io_error)?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, _attrs: FileAttributes) -> Reply<Status> {
        self.file_mut(&handle)?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Reply<Handle> {
        self.alive()?;
        let (_, real) = self.resolve(&path)?;
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(real).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            // An entry removed between listing and stat is simply left out.
            let Ok(meta) = entry.metadata() else { continue };
            entries.push(File::new(
                entry.file_name().to_string_lossy(),
                (&meta).into(),
            ));
        }
        entries.sort_by(|a, b| a.filename.cmp(&b.filename));
        let handle = self.add_handle(OpenHandle::Dir { entries, next: 0 })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Reply<Name> {
        let Some(OpenHandle::Dir { entries, next }) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        if *next >= entries.len() {
            return Err(StatusCode::Eof.into());
        }
        let end = (*next + READDIR_BATCH).min(entries.len());
        let files = entries[*next..end].to_vec();
        *next = end;
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Reply<Status> {
        self.alive()?;
        let (resolved, real) = self.resolve(&filename)?;
        if resolved.parts.is_empty() || resolved.is_platform_dir() {
            return Err(denied("the platform's folders cannot be removed"));
        }
        std::fs::remove_file(real).map_err(io_error)?;
        Ok(ok(id))
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Reply<Status> {
        self.alive()?;
        let (from, from_real) = self.resolve(&oldpath)?;
        let (to, to_real) = self.resolve(&newpath)?;
        if from.parts.is_empty() || from.is_platform_dir() || to.parts.is_empty() {
            return Err(denied("the platform's folders cannot be renamed"));
        }
        // SFTP v3 (draft-02 §6.5): renaming onto an existing name is an error, as with OpenSSH's
        // plain RENAME. Clients that publish by rename see the same behaviour as in production.
        if std::fs::symlink_metadata(&to_real).is_ok() {
            return Err(StatusCode::Failure.with_message("target already exists"));
        }
        std::fs::rename(&from_real, &to_real).map_err(io_error)?;
        // Publishing by rename is an arrival in /OUT/ too.
        if let Some(name) = to.out_name()
            && from.out_name() != Some(name)
            && let Ok(meta) = std::fs::metadata(&to_real)
            && meta.is_file()
        {
            self.file_arrived(name, meta.len());
        }
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Reply<Status> {
        self.alive()?;
        let (_, real) = self.resolve(&path)?;
        std::fs::create_dir(real).map_err(io_error)?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Reply<Status> {
        self.alive()?;
        let (resolved, real) = self.resolve(&path)?;
        if resolved.parts.is_empty() || resolved.is_platform_dir() {
            return Err(denied("the platform's folders cannot be removed"));
        }
        std::fs::remove_dir(real).map_err(io_error)?;
        Ok(ok(id))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    fn norm(p: &str) -> Option<String> {
        normalize(p).map(|r| r.virtual_path())
    }

    #[test]
    fn paths_stay_in_the_jail() {
        assert_eq!(norm("/OUT/x").as_deref(), Some("/OUT/x"));
        assert_eq!(norm("OUT/x").as_deref(), Some("/OUT/x"));
        assert_eq!(norm("./OUT/x").as_deref(), Some("/OUT/x"));
        assert_eq!(norm("//OUT//./x/").as_deref(), Some("/OUT/x"));
        assert_eq!(norm("/OUT/../IN/r").as_deref(), Some("/IN/r"));
        assert_eq!(norm("").as_deref(), Some("/"));
        assert_eq!(norm(".").as_deref(), Some("/"));
        assert_eq!(norm(".."), None);
        assert_eq!(norm("/../etc/passwd"), None);
        assert_eq!(norm("OUT/../../x"), None);
        assert_eq!(norm("OUT/x\0"), None);
    }

    #[test]
    fn out_names() {
        let r = normalize("/OUT/a.trigger").expect("inside");
        assert_eq!(r.out_name(), Some("a.trigger"));
        assert_eq!(normalize("/OUT/sub/a").expect("inside").out_name(), None);
        assert_eq!(normalize("/IN/a").expect("inside").out_name(), None);
        assert!(normalize("/OUT/").expect("inside").is_platform_dir());
    }
}
