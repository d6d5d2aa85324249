//! Backups of a product's database (and the files beside it) while the service runs, and
//! restoring one into an empty database: the `backup` and `restore` commands of both products.
//!
//! A backup is a directory, private to its owner (0700, files 0600), holding:
//! - SQLite: `snapshot.sqlite`, a consistent snapshot (`VACUUM INTO`), and `files/`, a copy
//!   of the directory beside the database (the Fordeler's `<database>.files/`) taken while
//!   the snapshot's rows still name exactly those bytes (see [`FilesLock`]);
//! - PostgreSQL: `dump.pgdump`, `pg_dump --format=custom` of the configured schema (or
//!   the whole database when the URL names no `search_path`); `pg_dump` runs in one
//!   repeatable-read transaction, so it is consistent while the service writes;
//! - `MANIFEST`: JSON with the product, its version, the schema version (the highest applied
//!   migration), the kind of database, the time, and every other file's size and SHA-256.
//!
//! Restore checks every file against the manifest before it writes anything, refuses a
//! backup of a newer schema than the binary knows (an older one is migrated forward by the
//! normal migrations at the next start), and writes only into an absent or empty database.
//!
//! Owns the lock protocol between a backup and whoever frees bytes in the files directory
//! ([`FilesLock`]): the backup is the one thing that must see bytes the live rows no longer
//! name.

use crate::db::{DbKind, Migration, sqlite_file};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "MANIFEST";
/// The lock file in a product's files directory (see [`FilesLock`]).
pub const LOCK_FILE: &str = "backup.lock";
const SQLITE_FILE: &str = "snapshot.sqlite";
const PG_FILE: &str = "dump.pgdump";
const FILES_DIR: &str = "files";
/// How often a long copy says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What is being backed up or restored: the product, and where its data lives besides the
/// database.
#[derive(Debug, Clone)]
pub struct Product<'a> {
    /// The program's name (`fordeler`, `borgerpc-admin`); a backup restores only into it.
    pub name: &'static str,
    /// The program's version, for the manifest.
    pub version: &'static str,
    /// The migrations the binary knows: a backup of a newer schema is refused.
    pub migrations: &'a [Migration],
    /// A directory of files that belongs with a SQLite database (the Fordeler's segments);
    /// copied under the lock of [`FilesLock`].
    pub files: Option<PathBuf>,
}

/// The `MANIFEST` of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Which program made it.
    pub product: String,
    /// That program's version.
    pub version: String,
    /// The highest migration applied to the database backed up.
    pub schema_version: i64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The PostgreSQL schema dumped (`None`: the whole database, or SQLite).
    #[serde(default)]
    pub pg_schema: Option<String>,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Every file of the backup but the manifest, relative to its directory.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    /// In bytes.
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl Manifest {
    /// The bytes of every file together.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// One line for the operator: what the backup holds.
    pub fn describe(&self) -> String {
        format!(
            "{} {} backup of a {} database (schema version {}, {}): {} file(s), {} bytes",
            self.product,
            self.version,
            self.database,
            self.schema_version,
            self.created_at,
            self.files.len(),
            self.total_bytes()
        )
    }
}

impl Restored {
    /// What the operator is told after a restore, and what happens at the next start.
    pub fn describe(&self) -> String {
        let next = if self.manifest.schema_version < self.binary_schema {
            format!(
                "the next start migrates the schema from version {} to {}",
                self.manifest.schema_version, self.binary_schema
            )
        } else {
            "the schema is this version's; start the service".to_owned()
        };
        format!("restored: {}; {next}", self.manifest.describe())
    }
}

/// Held by whoever frees bytes in a files directory (purge, the sweep) while they do it, and,
/// exclusively, by a backup from before its snapshot until its copy of the files is complete.
/// Bytes are only freed after the rows naming them are gone; so with the lock, bytes a
/// snapshot's rows name are still there when the backup copies them: a purge that committed
/// before the snapshot is not in it, one that committed after waits to free its bytes until
/// the copy is done. Appends need no lock: they only add bytes that a snapshot taken before
/// their rows commit does not name.
///
/// `flock(2)` on `<dir>/backup.lock`: released when the holder ends, however it ends.
#[derive(Debug)]
pub struct FilesLock {
    _file: std::fs::File,
}

/// What [`FilesLock::for_change`] got.
#[derive(Debug)]
pub enum ChangeLock {
    /// Held until dropped.
    Held(FilesLock),
    /// The directory does not exist: there is nothing to free and nothing is being backed up.
    NoDir,
    /// A backup is copying the directory (only when not waiting).
    Busy,
}

impl FilesLock {
    /// The shared lock, for freeing bytes in `dir`; `wait`: until a running backup is done,
    /// else [`ChangeLock::Busy`] at once. Blocks the thread when waiting.
    pub fn for_change(dir: &Path, wait: bool) -> anyhow::Result<ChangeLock> {
        let Some(file) = open_lock(dir, false)? else {
            return Ok(ChangeLock::NoDir);
        };
        use rustix::fs::FlockOperation as Op;
        let op = if wait {
            Op::LockShared
        } else {
            Op::NonBlockingLockShared
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(ChangeLock::Held(FilesLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(ChangeLock::Busy),
            Err(e) => Err(std::io::Error::from(e))
                .with_context(|| format!("locking {}", dir.join(LOCK_FILE).display())),
        }
    }

    /// The exclusive lock, for a backup of `dir` (created, private, when missing). Blocks
    /// the thread until running changes are done.
    fn for_backup(dir: &Path) -> anyhow::Result<FilesLock> {
        let file = open_lock(dir, true)?.context("the files directory vanished")?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .with_context(|| format!("locking {}", dir.join(LOCK_FILE).display()))?;
        Ok(FilesLock { _file: file })
    }
}

fn open_lock(dir: &Path, create_dir: bool) -> anyhow::Result<Option<std::fs::File>> {
    if create_dir {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let path = dir.join(LOCK_FILE);
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
    }
}

/// Backs up the database at `url` (and `product.files`) into `to`, which must be absent or an
/// empty directory. Progress goes to stderr.
pub async fn backup(url: &str, product: &Product<'_>, to: &Path) -> anyhow::Result<Manifest> {
    let kind = kind_of(url)?;
    prepare_target_dir(to)?;
    let started = Instant::now();
    let (schema_version, pg_schema) = match kind {
        DbKind::Sqlite => (backup_sqlite(url, product, to).await?, None),
        DbKind::Postgres => backup_postgres(url, to).await?,
    };
    eprintln!(
        "backup: snapshot taken in {:.1} s; computing checksums",
        started.elapsed().as_secs_f64()
    );
    let files = tokio::task::spawn_blocking({
        let to = to.to_path_buf();
        move || checksums(&to)
    })
    .await
    .context("checksum task")??;
    let manifest = Manifest {
        product: product.name.to_owned(),
        version: product.version.to_owned(),
        schema_version,
        database: kind_name(kind).to_owned(),
        pg_schema,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest)?;
    write_private(&to.join(MANIFEST), &text)?;
    sync_dir(to)?;
    Ok(manifest)
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The highest migration the binary knows; above the manifest's, the next start migrates.
    pub binary_schema: i64,
}

/// Restores the backup in `from` into the database at `url` (and `product.files`), which
/// must be absent or empty. Every file is checked against the manifest first.
pub async fn restore(url: &str, product: &Product<'_>, from: &Path) -> anyhow::Result<Restored> {
    let kind = kind_of(url)?;
    let manifest = verify(from)?;
    anyhow::ensure!(
        manifest.product == product.name,
        "{}: a backup of {}, not of {}",
        from.join(MANIFEST).display(),
        manifest.product,
        product.name
    );
    anyhow::ensure!(
        manifest.database == kind_name(kind),
        "{}: a backup of a {} database; database.url names a {} database (restore it with a \
         configuration of the same kind)",
        from.join(MANIFEST).display(),
        manifest.database,
        kind_name(kind)
    );
    let binary_schema = product
        .migrations
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    anyhow::ensure!(
        manifest.schema_version <= binary_schema,
        "{}: the backup has schema version {}, newer than this {} {} knows ({}); restore it \
         with the version that made it ({}) or a later one",
        from.join(MANIFEST).display(),
        manifest.schema_version,
        product.name,
        product.version,
        binary_schema,
        manifest.version
    );
    match kind {
        DbKind::Sqlite => restore_sqlite(url, product, from, &manifest).await?,
        DbKind::Postgres => restore_postgres(url, from, &manifest).await?,
    }
    Ok(Restored {
        manifest,
        binary_schema,
    })
}

/// Reads the manifest in `dir` and checks every file it lists (present, same size, same
/// SHA-256), naming the first that is not.
pub fn verify(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "{}: cannot read the manifest (is --from a backup directory?)",
            path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a backup manifest", path.display()))?;
    let total = manifest.total_bytes();
    let mut progress = Progress::new("verifying", total);
    for f in &manifest.files {
        let file = safe_relative(&f.path)
            .with_context(|| format!("{}: file {:?}", path.display(), f.path))?;
        let file = dir.join(file);
        let mut reader = std::fs::File::open(&file).with_context(|| {
            format!(
                "{}: listed in the manifest, but cannot be read",
                file.display()
            )
        })?;
        let (size, sha) = hash_stream(&mut reader, None, &mut progress)
            .with_context(|| format!("reading {}", file.display()))?;
        anyhow::ensure!(
            size == f.size && sha == f.sha256,
            "{}: damaged (its {} differ from the manifest's); the backup cannot be restored",
            file.display(),
            if size == f.size {
                "contents".to_owned()
            } else {
                format!("size {size} and contents")
            }
        );
    }
    Ok(manifest)
}

fn kind_of(url: &str) -> anyhow::Result<DbKind> {
    if url.starts_with("sqlite:") {
        anyhow::ensure!(
            sqlite_file(url).is_some(),
            "database.url: an in-memory database cannot be backed up or restored"
        );
        Ok(DbKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbKind::Postgres)
    } else {
        anyhow::bail!("database.url: must start with sqlite: or postgres://")
    }
}

fn kind_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
    }
}

/// `to` absent (created 0700) or an empty directory (made 0700).
fn prepare_target_dir(to: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(to) {
        Ok(mut entries) => {
            anyhow::ensure!(
                entries.next().is_none(),
                "--to {}: not empty; a backup goes into a new or empty directory",
                to.display()
            );
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("--to {}: making it private", to.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(to)
                .with_context(|| format!("--to {}: creating it", to.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("--to {}", to.display())),
    }
    Ok(())
}

async fn schema_version(db: &crate::db::Db, what: &str) -> anyhow::Result<i64> {
    let (v,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(db.reader())
        .await
        .with_context(|| {
            format!("database.url: {what} has no schema_migrations (has the service run on it?)")
        })?;
    v.with_context(|| format!("database.url: {what} has no migrations applied"))
}

async fn backup_sqlite(url: &str, product: &Product<'_>, to: &Path) -> anyhow::Result<i64> {
    let path = sqlite_file(url).context("database.url: not a SQLite file")?;
    anyhow::ensure!(
        path.is_file(),
        "database.url: {} does not exist; nothing to back up",
        path.display()
    );
    // Opening read-write without creating (`mode=rw`): the connection must be able to take
    // part in WAL locking, and a mistyped path must not leave an empty database behind.
    let base = url.split('?').next().unwrap_or(url);
    let db = crate::db::Db::connect(&format!("{base}?mode=rw"), 1).await?;
    let schema = schema_version(&db, &path.display().to_string()).await?;
    // Held from before the snapshot until the files are copied (see `FilesLock`).
    let lock = match &product.files {
        Some(dir) => {
            let dir = dir.clone();
            eprintln!("backup: waiting for running purges to finish, then locking the files");
            Some(
                tokio::task::spawn_blocking(move || FilesLock::for_backup(&dir))
                    .await
                    .context("lock task")??,
            )
        }
        None => None,
    };
    let out = to.join(SQLITE_FILE);
    // `VACUUM INTO` rather than the online backup API: it is one read transaction, so the
    // copy is consistent however much the service writes meanwhile (the backup API restarts
    // its copy whenever another connection writes, and under steady intake might never
    // finish), it runs through the pool we already have (no raw handle), and it copies only
    // live rows: free pages, where purged values were, are not carried into the backup.
    eprintln!("backup: snapshot of {} …", path.display());
    sqlx::query("VACUUM INTO $1")
        .bind(out.to_string_lossy().into_owned())
        .execute(db.reader())
        .await
        .with_context(|| format!("VACUUM INTO {}", out.display()))?;
    db.close().await;
    // The directory is 0700 already; the file is made private like every other.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("{}: making it private", out.display()))?;
    std::fs::File::open(&out)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", out.display()))?;
    eprintln!("backup: snapshot taken; copying the files beside it");
    // Tests hold the lock here, between snapshot and copy, to show that a purge meanwhile
    // waits (the window is otherwise too short to hit on purpose).
    if let Some(ms) = std::env::var("SERVICE_KIT_TEST_BACKUP_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(dir) = &product.files {
        let (dir, dest) = (dir.clone(), to.join(FILES_DIR));
        tokio::task::spawn_blocking(move || copy_tree(&dir, &dest, "copying files"))
            .await
            .context("copy task")??;
    }
    drop(lock);
    Ok(schema)
}

async fn restore_sqlite(
    url: &str,
    product: &Product<'_>,
    from: &Path,
    manifest: &Manifest,
) -> anyhow::Result<()> {
    let path = sqlite_file(url).context("database.url: not a SQLite file")?;
    for suffix in ["", "-wal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if let Ok(meta) = std::fs::metadata(&p) {
            anyhow::ensure!(
                meta.len() == 0,
                "database.url: {} exists and holds data; restore goes into a new database \
                 (move it away, or configure another path)",
                p.display()
            );
        }
    }
    let has_files = manifest
        .files
        .iter()
        .any(|f| f.path.starts_with(&format!("{FILES_DIR}/")));
    if let Some(dir) = &product.files {
        let occupied = std::fs::read_dir(dir)
            .map(|mut e| e.any(|e| e.is_ok_and(|e| e.file_name() != LOCK_FILE)))
            .unwrap_or(false);
        anyhow::ensure!(
            !occupied,
            "{} exists and is not empty; restore goes into a new database (move it away)",
            dir.display()
        );
    } else {
        anyhow::ensure!(
            !has_files,
            "{}: the backup has files this product does not keep",
            from.join(MANIFEST).display()
        );
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("database.url: creating {}", parent.display()))?;
    }
    let (from, product_files, path) = (from.to_path_buf(), product.files.clone(), path.clone());
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = &product_files
            && has_files
        {
            copy_tree(&from.join(FILES_DIR), dir, "restoring files")?;
        }
        // The database last, under a temporary name: until the rename, there is no database,
        // so an interrupted restore never looks like a complete one.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".restoring");
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        copy_file(
            &from.join(SQLITE_FILE),
            &tmp,
            &mut Progress::new("restoring the database", 0),
        )?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        anyhow::Ok(())
    })
    .await
    .context("restore task")?
}

/// The parts of a PostgreSQL URL that `pg_dump` and `pg_restore` take: the URL without its
/// password and without sqlx's own parameters, the password (given through `PGPASSWORD`, so
/// it is not in `ps`), and the schema its `search_path` option names.
struct PgTarget {
    url: String,
    password: Option<String>,
    schema: Option<String>,
}

/// Parameters libpq understands; sqlx's own (`statement-cache-capacity`) would make libpq
/// refuse the URL.
const LIBPQ_PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
];

fn pg_target(url: &str) -> anyhow::Result<PgTarget> {
    let mut parsed = url::Url::parse(url).context("database.url: not a valid URL")?;
    let password = parsed.password().map(|p| {
        url::form_urlencoded::parse(format!("p={p}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    });
    parsed
        .set_password(None)
        .map_err(|()| anyhow::anyhow!("database.url: cannot take the password out"))?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| LIBPQ_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let schema = pairs
        .iter()
        .filter(|(k, _)| k == "options")
        .find_map(|(_, v)| {
            let at = v.find("search_path=")? + "search_path=".len();
            let name: String = v[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != ',')
                .collect();
            (!name.is_empty()).then_some(name)
        });
    // Percent-encoded by hand: `url` writes a space as `+`, which libpq keeps as a `+`.
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect();
    parsed.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
    Ok(PgTarget {
        url: parsed.to_string(),
        password,
        schema,
    })
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs a PostgreSQL client program, naming it when it is missing and saying what a version
/// mismatch means; says every few seconds that it is still running.
async fn run_pg_tool(program: &str, target: &PgTarget, args: &[String]) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .arg(format!("--dbname={}", target.url))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = &target.password {
        cmd.env("PGPASSWORD", p);
    }
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "{program}: not found on PATH; install PostgreSQL's client programs \
                 (Debian: postgresql-client, of the server's major version or newer)"
            )
        } else {
            anyhow::Error::new(e).context(format!("starting {program}"))
        }
    })?;
    let started = Instant::now();
    let waiting = child.wait_with_output();
    tokio::pin!(waiting);
    let out = loop {
        tokio::select! {
            out = &mut waiting => break out.with_context(|| format!("running {program}"))?,
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                eprintln!("{program}: running for {} s", started.elapsed().as_secs());
            }
        }
    };
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = if stderr.contains("version mismatch") || stderr.contains("unsupported version") {
        let installed = std::process::Command::new(program)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        format!(
            "\nthe installed {program} ({installed}) does not match the server or the dump: \
             install the client programs of the server's major version (postgresql-client-N) \
             and put them first on PATH"
        )
    } else {
        String::new()
    };
    anyhow::bail!(
        "{program} failed ({}):\n{}{hint}",
        out.status,
        stderr.trim()
    )
}

async fn backup_postgres(url: &str, to: &Path) -> anyhow::Result<(i64, Option<String>)> {
    let target = pg_target(url)?;
    let db = crate::db::Db::connect(url, 1).await?;
    let schema = schema_version(&db, "the database").await?;
    db.close().await;
    let out = to.join(PG_FILE);
    let mut args = vec![
        "--format=custom".to_owned(),
        format!("--file={}", out.display()),
    ];
    if let Some(s) = &target.schema {
        args.push(format!("--schema={s}"));
    }
    eprintln!("backup: pg_dump …");
    run_pg_tool("pg_dump", &target, &args).await?;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("{}: making it private", out.display()))?;
    std::fs::File::open(&out)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", out.display()))?;
    Ok((schema, target.schema))
}

async fn restore_postgres(url: &str, from: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let target = pg_target(url)?;
    anyhow::ensure!(
        target.schema == manifest.pg_schema,
        "{}: the backup is of {}; database.url names {} (restore into a database whose \
         search_path is the backup's schema)",
        from.join(MANIFEST).display(),
        manifest
            .pg_schema
            .as_deref()
            .map_or("the whole database".to_owned(), |s| format!("schema {s}")),
        target
            .schema
            .as_deref()
            .map_or("no search_path".to_owned(), |s| format!("schema {s}"))
    );
    let db = crate::db::Db::connect(url, 1).await?;
    let schema = match &target.schema {
        Some(s) => s.clone(),
        None => "public".to_owned(),
    };
    let (tables,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema)
            .fetch_one(db.reader())
            .await
            .context("database.url: looking at the target schema")?;
    anyhow::ensure!(
        tables == 0,
        "database.url: schema {schema} already has {tables} table(s); restore goes into an \
         empty schema (a new database, or drop the schema first)"
    );
    if target.schema.is_some() {
        // The dump creates the schema; an empty one made ahead (as a DBA would) is dropped
        // first. RESTRICT (the default) refuses if anything is in it after all.
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname = $1")
                .bind(&schema)
                .fetch_optional(db.reader())
                .await?;
        if exists.is_some() {
            anyhow::ensure!(
                schema
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "database.url: search_path {schema:?} is not a plain schema name"
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema}")))
                .execute(db.reader())
                .await
                .with_context(|| format!("database.url: schema {schema} is not empty"))?;
        }
    }
    db.close().await;
    let args = vec![
        "--no-owner".to_owned(),
        "--no-acl".to_owned(),
        "--exit-on-error".to_owned(),
        "--single-transaction".to_owned(),
        from.join(PG_FILE).display().to_string(),
    ];
    eprintln!("restore: pg_restore …");
    run_pg_tool("pg_restore", &target, &args).await
}

/// A path from a manifest: relative, no `..`, so a crafted manifest cannot read elsewhere.
fn safe_relative(path: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(path);
    anyhow::ensure!(
        !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))),
        "not a plain relative path"
    );
    Ok(p.to_path_buf())
}

/// Size and SHA-256 of every file under `dir` (but the manifest), sorted by path.
fn checksums(dir: &Path) -> anyhow::Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut files)?;
    files.sort();
    let total: u64 = files
        .iter()
        .map(|f: &PathBuf| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum();
    let mut progress = Progress::new("checksums", total);
    let mut out = Vec::with_capacity(files.len());
    for rel in files {
        if rel == Path::new(MANIFEST) {
            continue;
        }
        let path = dir.join(&rel);
        let mut f =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let (size, sha256) = hash_stream(&mut f, None, &mut progress)
            .with_context(|| format!("reading {}", path.display()))?;
        out.push(FileEntry {
            path: rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            size,
            sha256,
        });
    }
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let dir = root.join(rel);
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let rel = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &rel, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// Copies the regular files under `from` into `to` (created 0700, files 0600), leaving out
/// the lock file; a missing `from` is an empty tree.
fn copy_tree(from: &Path, to: &Path, what: &str) -> anyhow::Result<()> {
    let mut files = Vec::new();
    if from.exists() {
        walk(from, Path::new(""), &mut files)?;
    }
    files.retain(|f| f != Path::new(LOCK_FILE));
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(from.join(f)).map_or(0, |m| m.len()))
        .sum();
    let mut progress = Progress::new(what, total);
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(to.to_path_buf());
    for rel in &files {
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            dirs.insert(parent.to_path_buf());
        }
        copy_file(&from.join(rel), &dest, &mut progress)?;
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .with_context(|| format!("creating {}", to.display()))?;
    for d in dirs {
        sync_dir(&d)?;
    }
    Ok(())
}

/// Copies one file to a new private file and syncs it. A file that grows meanwhile (a
/// segment being appended to) is copied as far as it was when the copy reached its end.
fn copy_file(from: &Path, to: &Path, progress: &mut Progress) -> anyhow::Result<()> {
    let mut src =
        std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut dest = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    hash_stream(&mut src, Some(&mut dest), progress)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    dest.sync_all()
        .with_context(|| format!("syncing {}", to.display()))
}

/// Reads `src` to its end (writing it to `dest` too), giving its size and SHA-256.
fn hash_stream(
    src: &mut std::fs::File,
    mut dest: Option<&mut std::fs::File>,
    progress: &mut Progress,
) -> std::io::Result<(u64, String)> {
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        if let Some(d) = dest.as_deref_mut() {
            d.write_all(&buf[..n])?;
        }
        size += n as u64;
        progress.add(n as u64);
    }
    Ok((size, hex::encode(sha.finalize())))
}

/// A line on stderr every few seconds while a long copy runs (a log-friendly line, not a bar:
/// backups mostly run from cron or systemd).
struct Progress {
    what: String,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(what: &str, total: u64) -> Self {
        let now = Instant::now();
        Self {
            what: what.to_owned(),
            total,
            done: 0,
            started: now,
            last: now,
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            let what = &self.what;
            let mb = |b: u64| b as f64 / 1e6;
            if self.total > 0 {
                eprintln!(
                    "{what}: {:.0} of {:.0} MB ({:.0} s)",
                    mb(self.done),
                    mb(self.total),
                    self.started.elapsed().as_secs_f64()
                );
            } else {
                eprintln!(
                    "{what}: {:.0} MB ({:.0} s)",
                    mb(self.done),
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
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
    fn pg_urls_lose_their_password_and_sqlx_parameters() {
        let t = pg_target(
            "postgres://svc:p%40ss@db.local:5433/fordeler?statement-cache-capacity=10&sslmode=require&options=-c%20search_path%3Dt123_4",
        )
        .unwrap();
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert!(!t.url.contains("p%40ss") && !t.url.contains("statement-cache"));
        assert!(t.url.contains("sslmode=require"), "{}", t.url);
        assert!(
            t.url.contains("options=-c%20search_path%3Dt123_4"),
            "{}",
            t.url
        );
        assert_eq!(t.schema.as_deref(), Some("t123_4"));
        let plain = pg_target("postgres://u@h/db").unwrap();
        assert_eq!(
            (plain.url.as_str(), plain.schema),
            ("postgres://u@h/db", None)
        );
    }

    #[test]
    fn manifest_paths_stay_inside_the_backup() {
        assert!(safe_relative("files/segments/abc").is_ok());
        for bad in ["", "/etc/passwd", "../x", "files/../../x"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_files_lock_keeps_changes_out_while_a_backup_holds_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db.files");
        assert!(matches!(
            FilesLock::for_change(&dir, false).unwrap(),
            ChangeLock::NoDir
        ));
        let backup = FilesLock::for_backup(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(matches!(
            FilesLock::for_change(&dir, false).unwrap(),
            ChangeLock::Busy
        ));
        drop(backup);
        let a = FilesLock::for_change(&dir, false).unwrap();
        let b = FilesLock::for_change(&dir, true).unwrap();
        assert!(matches!(
            (&a, &b),
            (ChangeLock::Held(_), ChangeLock::Held(_))
        ));
    }

    const M: &[Migration] = &[Migration {
        version: 1,
        name: "things",
        sql: "CREATE TABLE things (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    }];

    #[tokio::test]
    async fn a_sqlite_backup_restores_and_a_damaged_one_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("a/x.db").display());
        let db = crate::db::Db::connect(&url, 2).await.unwrap();
        db.migrate(M).await.unwrap();
        sqlx::query("INSERT INTO things VALUES (1, 'one')")
            .execute(db.reader())
            .await
            .unwrap();
        let files = tmp.path().join("a/x.db.files");
        std::fs::create_dir_all(files.join("segments")).unwrap();
        std::fs::write(files.join("segments/s1"), b"bytes").unwrap();
        let product = |files: PathBuf| Product {
            name: "thing",
            version: "1.0",
            migrations: M,
            files: Some(files),
        };
        let to = tmp.path().join("backup");
        let m = backup(&url, &product(files.clone()), &to).await.unwrap();
        assert_eq!((m.schema_version, m.database.as_str()), (1, "sqlite"));
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["files/segments/s1", "snapshot.sqlite"]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&to), 0o700);
        for f in ["MANIFEST", "snapshot.sqlite", "files/segments/s1"] {
            assert_eq!(mode(&to.join(f)), 0o600, "{f}");
        }
        // Not into a directory that holds something.
        let err = backup(&url, &product(files.clone()), &to)
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("not empty"), "{err:#}");

        let url2 = format!("sqlite://{}", tmp.path().join("b/y.db").display());
        let files2 = tmp.path().join("b/y.db.files");
        restore(&url2, &product(files2.clone()), &to).await.unwrap();
        assert_eq!(std::fs::read(files2.join("segments/s1")).unwrap(), b"bytes");
        let db2 = crate::db::Db::connect(&url2, 1).await.unwrap();
        let (name,): (String,) = sqlx::query_as("SELECT name FROM things")
            .fetch_one(db2.reader())
            .await
            .unwrap();
        assert_eq!(name, "one");
        // Not over data.
        let err = restore(&url2, &product(files2), &to).await.unwrap_err();
        assert!(format!("{err:#}").contains("holds data"), "{err:#}");

        // One byte changed: refused, naming the file, before anything is written.
        let seg = to.join("files/segments/s1");
        std::fs::write(&seg, b"bytez").unwrap();
        let url3 = format!("sqlite://{}", tmp.path().join("c/z.db").display());
        let err = restore(&url3, &product(tmp.path().join("c/z.db.files")), &to)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("files/segments/s1: damaged"),
            "{err:#}"
        );
        assert!(!tmp.path().join("c").exists());

        // A newer schema than the binary knows.
        std::fs::write(&seg, b"bytes").unwrap();
        let err = restore(
            &url3,
            &Product {
                migrations: &[],
                ..product(tmp.path().join("c/z.db.files"))
            },
            &to,
        )
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("newer than"), "{err:#}");
    }
}
