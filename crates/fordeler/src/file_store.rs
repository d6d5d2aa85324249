//! Where the content of submitted files is kept.
//!
//! On PostgreSQL it is in the database (`attachments.data`), so several `fordeler serve`
//! processes share it. On a SQLite file it is beside the database, in `<database>.files/`:
//! one file per submission, its attachments one after the other, each row naming its offset.
//! SQLite would write every byte of a 100 KB PDF twice (to the WAL, then at checkpoint) in
//! 4 KB pages and read it back the same way; a plain file is written once, in one call.
//!
//! Invariants:
//! - A file is complete and durable (`fdatasync`, and its directory synced) before the row
//!   that refers to it is committed, so a committed submission never points at missing bytes.
//! - Files are never changed once written. A file whose submission was not committed (a
//!   duplicate, a failed write, a crash in between) is an orphan: removed at once when known,
//!   otherwise by [`FileStore::sweep_orphans`].
//! - Layout: `<dir>/<first two characters of the submission id>/<submission id>`.

use anyhow::Context as _;
use std::collections::HashSet;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Where a submission's files go, chosen by the database.
#[derive(Debug, Clone)]
pub enum FileStore {
    /// In the database's `attachments.data` (PostgreSQL, SQLite in memory).
    InDatabase,
    /// In this directory (SQLite file).
    Dir(PathBuf),
}

impl FileStore {
    /// The store that goes with the database at `url`: `sqlite://path` keeps files in
    /// `path.files/`; everything else in the database.
    pub fn for_database(url: &str) -> Self {
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Self::InDatabase;
        };
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            return Self::InDatabase;
        }
        Self::Dir(PathBuf::from(format!("{path}.files")))
    }

    fn path(dir: &Path, submission_id: &str) -> PathBuf {
        dir.join(shard(submission_id)).join(submission_id)
    }

    /// Writes the contents of one submission's files as one durable file, or hands them back
    /// for the database.
    pub async fn put(&self, submission_id: &str, parts: Vec<Vec<u8>>) -> anyhow::Result<Placed> {
        let Self::Dir(dir) = self else {
            return Ok(Placed::InDatabase(parts));
        };
        if parts.is_empty() {
            return Ok(Placed::InFile(Vec::new()));
        }
        let path = Self::path(dir, submission_id);
        let offsets = tokio::task::spawn_blocking(move || write_durably(&path, &parts))
            .await
            .context("file store task")??;
        Ok(Placed::InFile(offsets))
    }

    /// `len` bytes at `offset` of a submission's file; `None` when the file is gone or shorter
    /// (removed or damaged outside the Fordeler: nothing to send, and retrying will not help).
    pub async fn read(
        &self,
        submission_id: &str,
        offset: i64,
        len: i64,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let Self::Dir(dir) = self else {
            anyhow::bail!("attachment content is kept in the database, not in files");
        };
        let path = Self::path(dir, submission_id);
        tokio::task::spawn_blocking(move || {
            let missing = |e: &std::io::Error| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
                )
            };
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
            };
            let mut buf = vec![0; usize::try_from(len)?];
            match file.read_exact_at(&mut buf, u64::try_from(offset)?) {
                Ok(()) => Ok(Some(buf)),
                Err(e) if missing(&e) => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            }
        })
        .await
        .context("file store task")?
    }

    /// Removes a submission's file (after its rows stopped referring to it). A missing file
    /// is fine: removal is how an interrupted purge or put is finished.
    pub async fn remove(&self, submission_id: &str) -> anyhow::Result<()> {
        let Self::Dir(dir) = self else { return Ok(()) };
        let path = Self::path(dir, submission_id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }

    /// Removes files older than `min_age` whose submission `referenced` (asked with the ids
    /// of a shard's candidates) does not list; a shard at a time, so memory stays small.
    /// Returns how many were removed.
    pub async fn sweep_orphans<F, Fut>(
        &self,
        min_age: std::time::Duration,
        mut referenced: F,
    ) -> anyhow::Result<u64>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<HashSet<String>>>,
    {
        let Self::Dir(dir) = self else { return Ok(0) };
        let mut removed = 0;
        // Directory listings can be long: read them off the async workers.
        let root = dir.clone();
        let shards = tokio::task::spawn_blocking(move || -> Vec<PathBuf> {
            std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect()
        })
        .await
        .context("file store task")?;
        for shard_dir in shards {
            let candidates = tokio::task::spawn_blocking(move || old_files(&shard_dir, min_age))
                .await
                .context("file store task")??;
            if candidates.is_empty() {
                continue;
            }
            let known = referenced(candidates.iter().map(|(id, _)| id.clone()).collect()).await?;
            for (id, path) in candidates {
                if !known.contains(&id) && tokio::fs::remove_file(&path).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Where [`FileStore::put`] placed a submission's file contents.
pub enum Placed {
    /// To be stored in the rows themselves, in this order.
    InDatabase(Vec<Vec<u8>>),
    /// Written; each part's offset in the submission's file.
    InFile(Vec<i64>),
}

/// The shard directory of a submission id (its first two characters).
pub fn shard(submission_id: &str) -> &str {
    submission_id.get(..2).unwrap_or("__")
}

/// The files in `dir` (by name) last written at least `min_age` ago.
fn old_files(dir: &Path, min_age: std::time::Duration) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries
        .flatten()
        .filter(|f| {
            f.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age)
        })
        .map(|f| (f.file_name().to_string_lossy().into_owned(), f.path()))
        .collect())
}

fn write_durably(path: &Path, parts: &[Vec<u8>]) -> anyhow::Result<Vec<i64>> {
    let parent = path.parent().context("file store path has a directory")?;
    if !parent.exists() {
        let root = parent.parent().context("file store path has a root")?;
        let new_root = !root.exists();
        // Citizens' files: readable by the service's user only.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        // The new directories' own entries must be durable too.
        sync_dir(root)?;
        if new_root && let Some(above) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(above)?;
        }
    }
    let written = write_parts(path, parts);
    if written.is_err() {
        // A half-written file (disk full) is of no use; don't leave it for the sweep.
        let _ = std::fs::remove_file(path);
    }
    let offsets = written?;
    sync_dir(parent)?;
    Ok(offsets)
}

/// Writes `parts` one after the other into a new file at `path` and syncs it; their offsets.
fn write_parts(path: &Path, parts: &[Vec<u8>]) -> anyhow::Result<Vec<i64>> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut offsets = Vec::with_capacity(parts.len());
    let mut at = 0i64;
    for p in parts {
        offsets.push(at);
        file.write_all(p)
            .with_context(|| format!("writing {}", path.display()))?;
        at += p.len() as i64;
    }
    file.sync_data()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(offsets)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_decides_where_files_go() {
        let dir = |url| match FileStore::for_database(url) {
            FileStore::Dir(d) => Some(d),
            FileStore::InDatabase => None,
        };
        assert_eq!(
            dir("sqlite:///var/lib/fordeler/f.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/fordeler/f.db.files"))
        );
        assert_eq!(dir("sqlite:f.db"), Some(PathBuf::from("f.db.files")));
        assert_eq!(dir("sqlite::memory:"), None);
        assert_eq!(dir("postgres://u:p@h/db"), None);
    }

    #[tokio::test]
    async fn parts_read_back_and_orphans_go() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::Dir(tmp.path().join("db.files"));
        let parts = vec![b"first".to_vec(), Vec::new(), b"third part".to_vec()];
        let Placed::InFile(offsets) = store.put("ab12", parts.clone()).await.unwrap() else {
            panic!("a directory store writes files");
        };
        for (p, at) in parts.iter().zip(&offsets) {
            assert_eq!(
                store
                    .read("ab12", *at, p.len() as i64)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(p)
            );
        }
        store.put("ab34", vec![b"orphan".to_vec()]).await.unwrap();
        let swept = store
            .sweep_orphans(std::time::Duration::ZERO, |candidates| async move {
                assert_eq!(candidates.len(), 2);
                Ok(HashSet::from(["ab12".to_owned()]))
            })
            .await
            .unwrap();
        assert_eq!(swept, 1);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(tmp.path().join("db.files/ab/ab12")), 0o600);
        assert_eq!(mode(tmp.path().join("db.files/ab")), 0o700);
        assert_eq!(store.read("ab34", 0, 6).await.unwrap(), None);
        assert_eq!(store.read("ab12", 0, 5).await.unwrap().unwrap(), b"first");
        // Asking past the end (a damaged file) is missing content, not an error to retry.
        assert_eq!(store.read("ab12", 10, 100).await.unwrap(), None);
        store.remove("ab12").await.unwrap();
        store.remove("ab12").await.unwrap();
        assert_eq!(store.read("ab12", 0, 5).await.unwrap(), None);
    }
}
