//! Where the content of submitted files is kept.
//!
//! On PostgreSQL it is in the database (`attachments.data`), so several `fordeler serve`
//! processes share it. On a SQLite file it is beside the database, in `<database>.files/`,
//! appended to segment files; each attachment row names its segment and offset. SQLite would
//! write every byte of a 100 KB PDF twice (to the WAL, then at checkpoint) in 4 KB pages; an
//! append is written once. Segments rather than a file per submission: creating a file costs
//! an inode allocation and a directory sync each time, and on ext4 without a journal the
//! allocator steps past every inode freed in the last minutes one by one, which after a
//! purge made intake several times dearer.
//!
//! Invariants:
//! - Appended bytes are durable (`fdatasync`; a new segment's directory entry synced) before
//!   the rows that refer to them commit, so a committed submission never points at missing
//!   bytes.
//! - Segments are only appended to, by the one process that created them, and only for
//!   [`ROTATE_AFTER`]. Bytes that no committed row refers to (a duplicate, a failed commit)
//!   are punched out at once; a crash's leftovers by [`FileStore::sweep`], once the segment
//!   is older than its `min_age`.
//! - Purged bytes are punched out of their segment at once: the disk blocks are freed and the
//!   range reads as zeros. A segment nothing refers to any more is deleted by the sweep.
//! - Bytes a committed row named are freed (purge, sweep) only under the shared
//!   [`service_kit::backup::FilesLock`], which a backup holds exclusively from before its
//!   snapshot until its copy of the segments is complete.
//! - Layout: `<dir>/segments/<segment>` (and `<dir>/backup.lock`), where a segment's name is its creation time in
//!   milliseconds and a random suffix.

use anyhow::Context as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A segment takes appends for this long, or until it holds [`ROTATE_AT_BYTES`].
pub const ROTATE_AFTER: Duration = Duration::from_secs(600);
const ROTATE_AT_BYTES: u64 = 64 * 1024 * 1024;

/// Where a submission's files go, chosen by the database.
#[derive(Debug, Clone)]
pub enum FileStore {
    /// In the database's `attachments.data` (PostgreSQL, SQLite in memory).
    InDatabase,
    /// In segment files in a directory (SQLite file).
    Dir(SegmentDir),
}

/// The segment files of one database, and the one this process appends to.
#[derive(Debug, Clone)]
pub struct SegmentDir {
    root: PathBuf,
    current: Arc<Mutex<Option<Segment>>>,
}

#[derive(Debug)]
struct Segment {
    name: String,
    file: Arc<std::fs::File>,
    end: u64,
    opened: Instant,
}

/// Where [`FileStore::put`] placed a submission's file contents.
pub enum Placed {
    /// To be stored in the rows themselves, in this order.
    InDatabase(Vec<Vec<u8>>),
    /// Appended to a segment.
    InSegment(Written),
}

/// The bytes one [`FileStore::put`] appended: each part's offset and length in `segment`.
#[derive(Debug, Clone)]
pub struct Written {
    pub segment: String,
    pub offsets: Vec<i64>,
    pub lens: Vec<i64>,
}

impl Placed {
    /// What was written to a segment, to be given back with [`FileStore::discard`] when the
    /// rows referring to it do not commit.
    pub fn written(&self) -> Option<Written> {
        match self {
            Placed::InSegment(w) => Some(w.clone()),
            Placed::InDatabase(_) => None,
        }
    }
}

impl FileStore {
    /// The store that goes with the database at `url`: `sqlite://path` keeps files in
    /// `path.files/`; everything else in the database.
    pub fn for_database(url: &str) -> Self {
        let Some(path) = service_kit::db::sqlite_file(url) else {
            return Self::InDatabase;
        };
        let mut root = path.into_os_string();
        root.push(".files");
        Self::Dir(SegmentDir {
            root: PathBuf::from(root),
            current: Arc::default(),
        })
    }

    /// Takes other users' access away from the directories of an existing store (made by
    /// hand, or restored from a backup with other modes); new ones are created private.
    pub fn restrict_existing(&self) {
        if let Self::Dir(dir) = self {
            for d in [dir.root.clone(), dir.root.join("segments")] {
                service_kit::db::restrict(&d, true);
            }
        }
    }

    /// Appends the contents of one submission's files durably, or hands them back for the
    /// database.
    pub async fn put(&self, parts: Vec<Vec<u8>>) -> anyhow::Result<Placed> {
        let Self::Dir(dir) = self else {
            return Ok(Placed::InDatabase(parts));
        };
        let dir = dir.clone();
        let written = tokio::task::spawn_blocking(move || dir.append(&parts))
            .await
            .context("file store task")??;
        Ok(Placed::InSegment(written))
    }

    /// `len` bytes at `offset` of `segment`; `None` when the segment is gone or shorter
    /// (removed or damaged outside the Fordeler: nothing to send, and retrying will not help).
    pub async fn read(
        &self,
        segment: &str,
        offset: i64,
        len: i64,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let Self::Dir(dir) = self else {
            anyhow::bail!("attachment content is kept in the database, not in files");
        };
        let path = dir.segment_path(segment)?;
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

    /// Frees appended bytes that no committed row refers to (a duplicate, a failed commit).
    /// No snapshot names them, so this needs no lock against a backup (and intake never
    /// waits for one).
    pub async fn discard(&self, written: Written) -> anyhow::Result<()> {
        let ranges = written.offsets.into_iter().zip(written.lens).collect();
        self.punch_unlocked(&written.segment, ranges).await
    }

    /// Frees `(offset, len)` ranges of `segment` (purged content), durably. A missing segment
    /// is fine: there is nothing left to free. Waits while a backup copies the segments: a
    /// snapshot taken before the rows were changed still names these bytes.
    pub async fn punch(&self, segment: &str, ranges: Vec<(i64, i64)>) -> anyhow::Result<()> {
        let Self::Dir(dir) = self else { return Ok(()) };
        let path = dir.segment_path(segment)?;
        let root = dir.root.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = service_kit::backup::FilesLock::for_change(&root, true)?;
            punch_ranges(&path, &ranges)
        })
        .await
        .context("file store task")?
    }

    async fn punch_unlocked(&self, segment: &str, ranges: Vec<(i64, i64)>) -> anyhow::Result<()> {
        let Self::Dir(dir) = self else { return Ok(()) };
        let path = dir.segment_path(segment)?;
        tokio::task::spawn_blocking(move || punch_ranges(&path, &ranges))
            .await
            .context("file store task")?
    }

    /// Tidies segments created at least `min_age` ago (by then no process appends to them):
    /// deletes those of which `referenced` (asked with a segment's name) lists no range, and
    /// punches out whatever lies between the ranges it lists (left by a crash between an
    /// append and its commit). Returns how many segments were deleted.
    pub async fn sweep<F, Fut>(&self, min_age: Duration, mut referenced: F) -> anyhow::Result<u64>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Vec<(i64, i64)>>>,
    {
        let Self::Dir(dir) = self else { return Ok(0) };
        // Held for the whole sweep, from before it reads which ranges are live: a backup's
        // snapshot may name ranges the rows read here no longer do. While a backup runs, the
        // sweep waits for its next round instead of holding housekeeping up.
        let _lock = match service_kit::backup::FilesLock::for_change(&dir.root, false)? {
            service_kit::backup::ChangeLock::Busy => {
                tracing::info!("a backup is copying the files; the sweep waits for its next round");
                return Ok(0);
            }
            held => held,
        };
        let current = dir.current_name();
        let listed = {
            let segments = dir.root.join("segments");
            // Directory listings can be long: read them off the async workers.
            tokio::task::spawn_blocking(move || list_segments(&segments))
                .await
                .context("file store task")??
        };
        let now = service_kit::db::now_ms();
        let mut removed = 0;
        for name in listed {
            let old_enough = created_ms(&name)
                .is_some_and(|at| now.saturating_sub(at) >= min_age.as_millis() as i64);
            if !old_enough || current.as_deref() == Some(name.as_str()) {
                continue;
            }
            let mut live = referenced(name.clone()).await?;
            let path = dir.segment_path(&name)?;
            if live.is_empty() {
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", path.display()));
                    }
                }
                continue;
            }
            live.sort_unstable();
            let len = tokio::fs::metadata(&path)
                .await
                .map(|m| m.len() as i64)
                .unwrap_or(0);
            self.punch_unlocked(&name, gaps(&live, len)).await?;
        }
        Ok(removed)
    }

    /// Stops appending to the current segment; the next put starts a new one (so that the
    /// sweep may look at it, which tests use).
    pub fn seal(&self) {
        if let Self::Dir(dir) = self {
            *lock(&dir.current) = None;
        }
    }
}

impl SegmentDir {
    /// The directory the segments live in (`<database>.files`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn segment_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        // Names come from our own rows; anything else must not reach outside the directory.
        anyhow::ensure!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
            "not a segment name: {name:?}"
        );
        Ok(self.root.join("segments").join(name))
    }

    fn current_name(&self) -> Option<String> {
        lock(&self.current).as_ref().map(|s| s.name.clone())
    }

    /// Reserves room at the end of the current segment (starting a new one when it is due),
    /// writes the parts there and syncs them.
    fn append(&self, parts: &[Vec<u8>]) -> anyhow::Result<Written> {
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let (file, segment, start) = {
            let mut current = lock(&self.current);
            let due = current
                .as_ref()
                .is_none_or(|s| s.end >= ROTATE_AT_BYTES || s.opened.elapsed() >= ROTATE_AFTER);
            if due {
                *current = Some(self.create_segment()?);
            }
            let s = current
                .as_mut()
                .context("the file store has no segment to write to")?;
            let start = s.end;
            s.end += total;
            (s.file.clone(), s.name.clone(), start)
        };
        let mut offsets = Vec::with_capacity(parts.len());
        let mut lens = Vec::with_capacity(parts.len());
        let mut at = start;
        for p in parts {
            offsets.push(i64::try_from(at)?);
            lens.push(p.len() as i64);
            at += p.len() as u64;
        }
        let result = parts
            .iter()
            .zip(&offsets)
            .try_for_each(|(p, &o)| file.write_all_at(p, o as u64))
            .and_then(|()| if total > 0 { file.sync_data() } else { Ok(()) });
        if let Err(e) = result {
            // A half-written range (disk full) is of no use; free what of it was written.
            let _ = free(&file, start, total);
            return Err(e).with_context(|| format!("writing segment {segment}"));
        }
        Ok(Written {
            segment,
            offsets,
            lens,
        })
    }

    fn create_segment(&self) -> anyhow::Result<Segment> {
        let dir = self.root.join("segments");
        if !dir.exists() {
            let above = self.root.parent().filter(|p| !p.as_os_str().is_empty());
            let new_root = !self.root.exists();
            // Citizens' files: readable by the service's user only.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            // The new directories' own entries must be durable too.
            sync_dir(&self.root)?;
            if new_root && let Some(above) = above {
                sync_dir(above)?;
            }
        }
        let name = format!(
            "{:013x}-{:08x}",
            service_kit::db::now_ms(),
            rand::random::<u32>()
        );
        let path = dir.join(&name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        sync_dir(&dir)?;
        Ok(Segment {
            name,
            file: Arc::new(file),
            end: 0,
            opened: Instant::now(),
        })
    }
}

/// When a segment was created, from its name.
fn created_ms(name: &str) -> Option<i64> {
    i64::from_str_radix(name.split('-').next()?, 16).ok()
}

fn list_segments(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    Ok(entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// The stretches of `0..len` not covered by the sorted `live` ranges.
fn gaps(live: &[(i64, i64)], len: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(offset, size) in live {
        if offset > at {
            out.push((at, offset - at));
        }
        at = at.max(offset + size);
    }
    if len > at {
        out.push((at, len - at));
    }
    out
}

fn punch_ranges(path: &Path, ranges: &[(i64, i64)]) -> anyhow::Result<()> {
    let file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut punched = false;
    for &(offset, len) in ranges.iter().filter(|(_, len)| *len > 0) {
        free(&file, u64::try_from(offset)?, u64::try_from(len)?)
            .with_context(|| format!("clearing {}", path.display()))?;
        punched = true;
    }
    if punched {
        file.sync_data()
            .with_context(|| format!("syncing {}", path.display()))?;
    }
    Ok(())
}

/// Frees `len` bytes at `offset` (they read as zeros after): a hole punched where the file
/// system has them, zeros written where it has not, so the content is gone either way.
fn free(file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<()> {
    let flags = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
    if rustix::fs::fallocate(file, flags, offset, len).is_ok() {
        return Ok(());
    }
    let zeros = vec![0; 64 * 1024];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(zeros.len() as u64);
        file.write_all_at(&zeros[..n as usize], offset + at)?;
        at += n;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_decides_where_files_go() {
        let dir = |url| match FileStore::for_database(url) {
            FileStore::Dir(d) => Some(d.root().to_path_buf()),
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

    #[test]
    fn an_existing_store_others_can_read_is_restricted() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let store =
            FileStore::for_database(&format!("sqlite://{}", tmp.path().join("db").display()));
        let segments = tmp.path().join("db.files/segments");
        std::fs::create_dir_all(&segments).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for d in [segments.parent().unwrap(), &segments] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        store.restrict_existing();
        assert_eq!(mode(segments.parent().unwrap()), 0o700);
        assert_eq!(mode(&segments), 0o700);
    }

    #[test]
    fn gaps_are_what_no_range_covers() {
        assert_eq!(gaps(&[], 10), vec![(0, 10)]);
        assert_eq!(gaps(&[(0, 4), (4, 2)], 6), vec![]);
        assert_eq!(gaps(&[(2, 3), (8, 1)], 12), vec![(0, 2), (5, 3), (9, 3)]);
        assert_eq!(gaps(&[(0, 5), (3, 4)], 7), vec![]);
    }

    #[tokio::test]
    async fn parts_read_back_and_freed_bytes_are_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let store =
            FileStore::for_database(&format!("sqlite://{}", tmp.path().join("db").display()));
        let parts = vec![b"first".to_vec(), Vec::new(), b"third part".to_vec()];
        let Placed::InSegment(w) = store.put(parts.clone()).await.unwrap() else {
            panic!("a directory store writes segments");
        };
        assert_eq!(w.offsets, vec![0, 5, 5]);
        for (p, at) in parts.iter().zip(&w.offsets) {
            let back = store.read(&w.segment, *at, p.len() as i64).await.unwrap();
            assert_eq!(back.as_ref(), Some(p));
        }
        // The next submission goes after it, in the same segment.
        let Placed::InSegment(next) = store.put(vec![b"second".to_vec()]).await.unwrap() else {
            panic!("a directory store writes segments");
        };
        assert_eq!(
            (next.segment.as_str(), next.offsets[0]),
            (w.segment.as_str(), 15)
        );

        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let segment = tmp.path().join("db.files/segments").join(&w.segment);
        assert_eq!(mode(segment.clone()), 0o600);
        assert_eq!(mode(tmp.path().join("db.files/segments")), 0o700);
        assert_eq!(mode(tmp.path().join("db.files")), 0o700);

        // Freed bytes read as zeros; the rest is untouched.
        store.discard(w.clone()).await.unwrap();
        let raw = std::fs::read(&segment).unwrap();
        assert_eq!(&raw[..15], &[0; 15]);
        assert_eq!(&raw[15..], b"second");
        // Asking past the end (a damaged segment) is missing content, not an error to retry.
        assert_eq!(store.read(&next.segment, 15, 100).await.unwrap(), None);
        assert!(store.read("../../etc/passwd", 0, 1).await.is_err());

        // The sweep leaves the current segment alone, then deletes it once nothing uses it.
        assert_eq!(
            store
                .sweep(Duration::ZERO, |_| async { Ok(vec![]) })
                .await
                .unwrap(),
            0
        );
        store.seal();
        assert_eq!(
            store
                .sweep(Duration::ZERO, |_| async { Ok(vec![(15, 6)]) })
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store.read(&next.segment, 15, 6).await.unwrap().unwrap(),
            b"second"
        );
        assert_eq!(
            store
                .sweep(Duration::ZERO, |_| async { Ok(vec![]) })
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.read(&next.segment, 15, 6).await.unwrap(), None);
    }
}
