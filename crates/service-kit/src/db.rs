//! The database: SQLite by default (one file, zero set-up), PostgreSQL in production.
//!
//! Both sit behind one `sqlx::AnyPool`, and products write portable SQL with `$1, $2, …`
//! placeholders (SQLite accepts them too) and portable types: TEXT, BIGINT (times are Unix
//! milliseconds), and binary data through the `{{BLOB}}` type in migrations. Where the dialects
//! really differ (claiming work with `FOR UPDATE SKIP LOCKED`), callers ask [`Db::kind`].
//! What only PostgreSQL has (row-level security) goes after a line [`POSTGRES_ONLY`] at the end
//! of a migration, which SQLite skips.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed row survives a crash or a
//! power cut, and with a busy timeout so that concurrent writers wait instead of failing.
//!
//! Both products keep personal data (CPR numbers) in these files, so a SQLite database is
//! created readable by the service's user only (0600, in a 0700 directory when the directory
//! is new; SQLite gives its `-wal` and `-shm` files the database file's mode), an existing one
//! that others may read is restricted at start-up, with a warning. Deleted values do not stay
//! behind in the files: `secure_delete` zeroes what a statement deletes, and
//! [`Db::erase_deleted`] empties the WAL, which still holds the pages as they were.

use anyhow::Context as _;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Connection as _, Executor as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which database a [`Db`] talks to: SQL that differs between them asks this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// An embedded SQLite file (the default: nothing to run beside the service).
    Sqlite,
    /// A PostgreSQL server (several instances, or a database that is backed up already).
    Postgres,
}

/// A migration: applied once, in order, inside a transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its order among the migrations, and its key in the table of applied ones; never reused.
    pub version: i64,
    /// What it changes, for the log and the table of applied migrations.
    pub name: &'static str,
    /// Portable DDL; `{{BLOB}}` and `{{SERIAL}}` are replaced per dialect. `--` comments are
    /// removed and statements split on `;`, so no string literal may contain either. A line
    /// [`POSTGRES_ONLY`] starts a part that SQLite skips.
    pub sql: &'static str,
}

/// Where a database stands against a product's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied that the product knows.
    pub applied: Vec<i64>,
    /// The product's migrations the database lacks, in order: (version, name).
    pub pending: Vec<(i64, &'static str)>,
    /// Versions applied that the product does not know (a newer version migrated it).
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    fn of(migrations: &[Migration], applied: &[i64]) -> Self {
        let known = |v: &i64| migrations.iter().any(|m| m.version == *v);
        Self {
            applied: applied.iter().copied().filter(known).collect(),
            pending: migrations
                .iter()
                .filter(|m| !applied.contains(&m.version))
                .map(|m| (m.version, m.name))
                .collect(),
            unknown: applied.iter().copied().filter(|v| !known(v)).collect(),
        }
    }
}

impl MigrationStatus {
    /// Nothing pending, nothing newer: the schema is the one this version expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}

/// What `migrate --check` prints: one line per pending migration, or that none is.
impl std::fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for v in &self.unknown {
            writeln!(
                f,
                "newer: migration {v} is not known to this version (a newer version ran here)"
            )?;
        }
        for (v, name) in &self.pending {
            writeln!(f, "pending: {v} {name}")?;
        }
        if self.is_current() {
            writeln!(f, "up to date: {} migrations applied", self.applied.len())?;
        }
        Ok(())
    }
}

/// The versions in `schema_migrations`, in order; none for a database never migrated.
async fn applied_versions(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
) -> anyhow::Result<Vec<i64>> {
    match sqlx::query_scalar::<_, i64>("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut **conn)
        .await
    {
        Ok(v) => Ok(v),
        // No table yet: nothing applied. Any other failure is the database's.
        Err(sqlx::Error::Database(e))
            if e.message().contains("no such table") || e.code().as_deref() == Some("42P01") =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

/// The database of a product: a connection pool for either dialect, with the settings every
/// connection needs (on SQLite: WAL, `secure_delete`, a busy timeout), and the writes'
/// ordering on SQLite ([`Db::begin_write`], [`Db::write`]).
#[derive(Debug, Clone)]
pub struct Db {
    /// Private, so that no write can bypass the writers' order on SQLite: reads get it as
    /// [`Db::reader`], writes go through [`Db::write`] or [`Db::begin_write`].
    pool: AnyPool,
    kind: DbKind,
    /// SQLite has one writer at a time. Writers of this process queue here, first come first
    /// served, instead of in SQLite's busy handler, whose sleeps (up to 100 ms each, no
    /// order) gave a write a tail of seconds behind a busy one.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// SQLite files: the URL the group-commit writer behind [`Db::write`] connects to, and
    /// the writer, started at the first write (a process that never calls `write` has none).
    writer: Option<(
        String,
        std::sync::Arc<tokio::sync::OnceCell<crate::group_commit::Writer>>,
    )>,
}

/// A write transaction from [`Db::begin_write`]; use it as a connection (`&mut *tx`), then
/// [`commit`](Self::commit). Dropped without commit, it rolls back.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    // Declared after `tx`, so the turn passes on only once the transaction is ended.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Makes the transaction's writes durable, then passes the turn to the next writer.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Undoes the transaction's writes (as dropping it does, but with the database's answer).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Db {
    /// Connects to `sqlite://path` (created if missing), `sqlite::memory:`, or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbKind::Postgres
        } else {
            anyhow::bail!(
                "database.url: must start with sqlite: or postgres:// (got a URL of another kind)"
            );
        };
        let url = match kind {
            DbKind::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        if let Some(path) = sqlite_file(&url) {
            private_sqlite_file(&path, url.contains("mode=rwc"))?;
        }
        let mut opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if kind == DbKind::Sqlite {
            // A local file does not drop connections; the ping before each use would cost a
            // round trip to SQLite's worker thread on every query.
            opts = opts
                .test_before_acquire(false)
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)));
        } else {
            // PostgreSQL compiles a plan to machine code (JIT) when its estimated cost is high,
            // and estimates a per-row subquery over many rows at billions: a report query that
            // runs in 0.3 s spent 0.9 s compiling. Nothing here runs long enough to win that
            // back.
            // And from a prepared statement's sixth run on, it may keep one plan made without
            // the values (a generic plan) when that plan's estimate looks no worse: for a
            // report's page of 500 PCs over a year that plan took 1.7 s, where the plan for the
            // values takes 0.11 s. Planning each run costs well under a millisecond here.
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET jit = off").execute(&mut *conn).await?;
                    sqlx::query("SET plan_cache_mode = force_custom_plan")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {kind:?} database"))?;
        // Every connection to `:memory:` is a database of its own, so there the writer could
        // not share the pool's; such databases write through `begin_write`.
        let writer = (kind == DbKind::Sqlite && !url.contains(":memory:"))
            .then(|| (url.clone(), Default::default()));
        Ok(Self {
            pool,
            kind,
            write_turn: Default::default(),
            writer,
        })
    }

    /// Runs `job` in a write transaction and answers once it is committed; an error from the
    /// job rolls back what it wrote. On a SQLite file, jobs of all callers are committed
    /// together by one writer task (see [`crate::group_commit`]), so a job must only run
    /// SQL on the connection it is given. Write it as
    /// `db.write(move |c| Box::pin(async move { …; Ok(x) }))`.
    pub async fn write<R, F>(&self, job: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> crate::group_commit::JobFuture<'c, R>
            + Send
            + 'static,
    {
        match &self.writer {
            Some((url, writer)) => {
                let writer = writer
                    .get_or_try_init(|| {
                        let url = url.clone();
                        crate::group_commit::Writer::start(async move {
                            let mut conn = sqlx::AnyConnection::connect(&url).await?;
                            sqlite_pragmas(&mut conn).await?;
                            Ok(conn)
                        })
                    })
                    .await
                    .context("starting the SQLite writer")?;
                writer.write(job).await
            }
            None => {
                let mut tx = self.begin_write().await?;
                let r = crate::group_commit::caught(job(&mut tx)).await?;
                tx.commit().await?;
                Ok(r)
            }
        }
    }

    /// The pool for reads. A write goes through [`Db::write`] (short SQL-only jobs, group
    /// committed on SQLite) or [`Db::begin_write`] (a transaction that decides between its
    /// statements), never through this pool: on SQLite it would wait in SQLite's busy handler
    /// behind the writers instead of taking its turn.
    pub fn reader(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool's connections (the writer's end with the last handle).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Which database this is.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Applies the migrations not yet applied. Safe to run from several processes at once on
    /// PostgreSQL (an advisory lock serialises them).
    pub async fn migrate(&self, migrations: &[Migration]) -> anyhow::Result<usize> {
        let mut conn = self.pool.acquire().await?;
        match self.kind {
            // Several processes may start at once on one database: one migrates, the others
            // wait (an advisory lock on PostgreSQL, a write lock taken up front on SQLite) and
            // then find nothing left to do.
            DbKind::Postgres => {
                conn.execute("SELECT pg_advisory_lock(727274)").await?;
                let result = self.migrate_locked(&mut conn, migrations, true).await;
                conn.execute("SELECT pg_advisory_unlock(727274)").await?;
                result
            }
            DbKind::Sqlite => {
                conn.execute("BEGIN IMMEDIATE").await?;
                match self.migrate_locked(&mut conn, migrations, false).await {
                    Ok(n) => {
                        conn.execute("COMMIT").await?;
                        Ok(n)
                    }
                    Err(e) => {
                        let _ = conn.execute("ROLLBACK").await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Which of `migrations` the database has and which it lacks, without changing it
    /// (`migrate --check`).
    pub async fn migration_status(
        &self,
        migrations: &[Migration],
    ) -> anyhow::Result<MigrationStatus> {
        let mut conn = self.pool.acquire().await?;
        let applied = applied_versions(&mut conn).await?;
        Ok(MigrationStatus::of(migrations, &applied))
    }

    /// Applies what is missing; `per_migration_tx` wraps each migration in its own transaction
    /// (PostgreSQL), else the caller holds one around all of them (SQLite).
    async fn migrate_locked(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        migrations: &[Migration],
        per_migration_tx: bool,
    ) -> anyhow::Result<usize> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations")
            .fetch_all(&mut **conn)
            .await?;
        // A newer version migrated this database: an older binary must not run on a schema
        // it does not know (a rollback goes back to the backup taken before the upgrade).
        let versions: Vec<i64> = applied.iter().map(|(v,)| *v).collect();
        let newer = MigrationStatus::of(migrations, &versions).unknown;
        anyhow::ensure!(
            newer.is_empty(),
            "the database has migration {} that this version does not know: it was upgraded by \
             a newer version. Run that version, or restore the backup taken before the upgrade",
            newer
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut count = 0;
        for m in migrations {
            if applied.iter().any(|(v,)| *v == m.version) {
                continue;
            }
            // Line comments go first, so a `;` inside one does not split a statement.
            let sql: String = self
                .dialect(m.sql)
                .lines()
                .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
                .collect::<Vec<_>>()
                .join("\n");
            if per_migration_tx {
                conn.execute("BEGIN").await?;
            }
            let applied = async {
                for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    // Our own migration text, not input: safe to run as dynamic SQL.
                    conn.execute(sqlx::AssertSqlSafe(stmt.to_owned()))
                        .await
                        .with_context(|| format!("migration {} {}", m.version, m.name))?;
                }
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(now_ms())
                .execute(&mut **conn)
                .await?;
                anyhow::Ok(())
            }
            .await;
            if per_migration_tx {
                match &applied {
                    Ok(()) => conn.execute("COMMIT").await.map(drop)?,
                    Err(_) => conn.execute("ROLLBACK").await.map(drop)?,
                }
            }
            applied?;
            count += 1;
        }
        Ok(count)
    }

    pub(crate) fn dialect(&self, sql: &str) -> String {
        match self.kind {
            DbKind::Sqlite => postgres_part_removed(sql)
                .replace("{{BLOB}}", "BLOB")
                .replace("{{SERIAL}}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            DbKind::Postgres => sql
                .replace("{{BLOB}}", "BYTEA")
                .replace("{{SERIAL}}", "BIGSERIAL PRIMARY KEY"),
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at BEGIN (IMMEDIATE),
    /// so it waits its turn (busy timeout) instead of failing with "database is locked" when
    /// it reads first and another connection wrote meanwhile.
    /// On SQLite, writers of this process also take turns in order (see `write_turn`).
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match self.kind {
            DbKind::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                Ok(WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                })
            }
            DbKind::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            }),
        }
    }

    /// After deleting personal data: makes sure the deleted values are gone from the files the
    /// database keeps, as far as it can. On a SQLite file, `secure_delete` has already zeroed
    /// them in the database pages a statement changed, but the WAL still holds earlier versions
    /// of those pages: it is checkpointed and truncated to nothing (this waits, up to the busy
    /// timeout, for readers and the writer to finish). On PostgreSQL, `tables` are vacuumed:
    /// their dead rows (the old values) are removed and the space made reusable, though
    /// PostgreSQL does not overwrite it at once (see the README).
    pub async fn erase_deleted(&self, tables: &[&str]) -> anyhow::Result<()> {
        match self.kind {
            DbKind::Sqlite => {
                if self.writer.is_none() {
                    return Ok(()); // in memory: no file
                }
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&self.pool)
                        .await
                        .context("checkpointing the SQLite WAL")?;
                anyhow::ensure!(
                    busy == 0,
                    "the SQLite WAL could not be emptied (the database stayed busy); deleted \
                     values stay in its -wal file until the next checkpoint"
                );
                Ok(())
            }
            DbKind::Postgres => {
                if tables.is_empty() {
                    return Ok(());
                }
                anyhow::ensure!(
                    tables
                        .iter()
                        .all(|t| !t.is_empty()
                            && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')),
                    "not a table name: {tables:?}"
                );
                // Checked above to be plain names, and our own: safe as dynamic SQL. VACUUM
                // cannot run in a transaction, so it goes to a pool connection on its own.
                let sql = format!("VACUUM {}", tables.join(", "));
                self.pool
                    .execute(sqlx::AssertSqlSafe(sql))
                    .await
                    .context("vacuuming after a purge")?;
                Ok(())
            }
        }
    }

    /// Is the database answering? (`/readyz`)
    pub async fn ping(&self) -> bool {
        self.writer
            .as_ref()
            .and_then(|(_, w)| w.get())
            .is_none_or(|w| w.is_running())
            && sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// WAL (readers do not block the writer), FULL sync (a commit survives a power cut), a busy
/// timeout (another process's writer is waited for, not failed on), foreign keys checked, and
/// deleted content overwritten with zeros (purged personal data must not stay readable in
/// free pages; the cost is a memset per freed cell and a write per freed page).
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode=WAL").await?;
    conn.execute("PRAGMA synchronous=FULL").await?;
    conn.execute("PRAGMA busy_timeout=10000").await?;
    conn.execute("PRAGMA foreign_keys=ON").await?;
    conn.execute("PRAGMA secure_delete=ON").await?;
    Ok(())
}

/// The file a `sqlite:` URL names (`sqlite://path`, `sqlite:path`, with or without `?…`);
/// `None` for an in-memory database or another kind of database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("//").unwrap_or(path);
    let in_memory = path.is_empty() || path.contains(":memory:") || query.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

/// Only the owner may read or write these: the database and the files beside it hold
/// personal data.
const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

/// Before SQLite opens `path`: a missing database file is created 0600 (SQLite would create it
/// 0644, readable by every user of the machine), in directories created 0700 if they are
/// missing too; an existing database and its `-wal` and `-shm` files are restricted when
/// others may read them (see [`restrict`]). `create` is false for URLs that do not create
/// (`mode=ro`, `mode=rw`).
fn private_sqlite_file(path: &Path, create: bool) -> anyhow::Result<()> {
    if create {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR)
                .create(dir)
                .with_context(|| {
                    format!("database.url: creating the directory {}", dir.display())
                })?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE)
            .open(path)
        {
            // An empty file is an empty SQLite database.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "database.url: creating the database file {}",
                        path.display()
                    )
                });
            }
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        restrict(Path::new(&file), false);
    }
    Ok(())
}

/// Takes group and other users' access away from an existing file (`dir`: directory) that
/// holds personal data, and says so in the log: such a file was made by an older version, or
/// by hand. Someone who must read it (a backup job) should run as the service's user, with
/// the product's `backup` command ([`crate::backup`]). Returns whether the mode was changed.
pub fn restrict(path: &Path, dir: bool) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false; // missing: nothing to restrict
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return false;
    }
    let private = if dir { PRIVATE_DIR } else { PRIVATE_FILE };
    let wanted = mode & !0o077 | private;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)) {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                now = format!("{wanted:o}"),
                "other users could read this file of personal data; it is now readable by the \
                 service's user only"
            );
            true
        }
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                error = %e,
                "other users can read this file of personal data, and its mode could not be \
                 changed: run `chmod {wanted:o}` on it as its owner"
            );
            false
        }
    }
}

/// The line that starts a migration's PostgreSQL-only part: what follows it, to the end of the
/// file, runs on PostgreSQL only (row-level security, functions, roles: what SQLite has no
/// statement for). On PostgreSQL the line is a comment like any other.
pub const POSTGRES_ONLY: &str = "-- {{POSTGRES}}";

/// `sql` without its PostgreSQL-only part ([`POSTGRES_ONLY`] on a line of its own, and all
/// after it), for SQLite. Cut before comments are removed, since the marker is one.
fn postgres_part_removed(sql: &str) -> &str {
    let mut at = 0;
    for line in sql.split_inclusive('\n') {
        if line.trim() == POSTGRES_ONLY {
            return &sql[..at];
        }
        at += line.len();
    }
    sql
}

/// Unix time in milliseconds: the one time representation in our schemas.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A database URL for one test: with `TEST_DATABASE_URL` (PostgreSQL in CI) a fresh schema of
/// its own (so tests run in parallel without seeing each other), else a SQLite file in `dir`.
pub async fn test_database_url(dir: &std::path::Path) -> anyhow::Result<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let schema = format!("t{}_{}_{n}", now_ms(), std::process::id());
            let admin = Db::connect(&url, 1).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&admin.pool)
            .await?;
            admin.pool.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        }
        _ => Ok(format!("sqlite://{}", dir.join("test.db").display())),
    }
}

/// A connected database for one test (see [`test_database_url`]).
pub async fn test_db(dir: &std::path::Path) -> anyhow::Result<Db> {
    Db::connect(&test_database_url(dir).await?, 8).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[Migration] = &[
        Migration {
            version: 1,
            name: "things",
            sql: "CREATE TABLE things (id {{SERIAL}}, body {{BLOB}}, name TEXT NOT NULL)",
        },
        Migration {
            version: 2,
            name: "index",
            sql: "CREATE INDEX things_name ON things (name); INSERT INTO things (body, name) VALUES (NULL, 'seed')",
        },
    ];

    #[tokio::test]
    async fn status_lists_pending_and_a_newer_schema_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let db = test_db(tmp.path()).await.unwrap();
        let fresh = db.migration_status(M).await.unwrap();
        assert_eq!(fresh.pending, vec![(1, "things"), (2, "index")]);
        assert!(fresh.applied.is_empty() && fresh.unknown.is_empty());
        assert_eq!(db.migrate(&M[..1]).await.unwrap(), 1);
        let half = db.migration_status(M).await.unwrap();
        assert_eq!((half.applied, half.pending), (vec![1], vec![(2, "index")]));
        assert_eq!(db.migrate(M).await.unwrap(), 1);
        assert!(db.migration_status(M).await.unwrap().pending.is_empty());
        // An older binary (it knows migration 1 only) on the migrated database.
        let older = db.migration_status(&M[..1]).await.unwrap();
        assert_eq!(older.unknown, vec![2]);
        let refused = db.migrate(&M[..1]).await.unwrap_err().to_string();
        assert!(
            refused.contains("migration 2") && refused.contains("newer version"),
            "{refused}"
        );
    }

    #[test]
    fn the_postgres_only_part_is_cut_for_sqlite_alone() {
        let sql = "CREATE TABLE a (x TEXT);\n  -- {{POSTGRES}}  \nALTER TABLE a ENABLE ROW LEVEL SECURITY;\n";
        assert_eq!(postgres_part_removed(sql), "CREATE TABLE a (x TEXT);\n");
        // Only the marker on a line of its own: named inside a comment it is text.
        let mentioned = "-- see -- {{POSTGRES}} below\nCREATE TABLE b (x TEXT)";
        assert_eq!(postgres_part_removed(mentioned), mentioned);
        assert_eq!(postgres_part_removed("-- {{POSTGRES}}\nX"), "");
    }

    #[tokio::test]
    async fn postgres_connections_plan_for_the_values_without_jit() {
        let tmp = tempfile::tempdir().unwrap();
        let db = test_db(tmp.path()).await.unwrap();
        if db.kind() == DbKind::Postgres {
            // Every connection of the pool, not only the first.
            let mut held = Vec::new();
            for _ in 0..3 {
                let mut conn = db.pool.acquire().await.unwrap();
                let jit: String = sqlx::query_scalar("SHOW jit")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(jit, "off");
                let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(mode, "force_custom_plan");
                held.push(conn);
            }
        }
    }

    #[tokio::test]
    async fn sqlite_skips_the_postgres_only_part_and_postgres_runs_it() {
        let tmp = tempfile::tempdir().unwrap();
        let db = test_db(tmp.path()).await.unwrap();
        let m = [Migration {
            version: 1,
            name: "rls",
            sql: "CREATE TABLE owned (id {{SERIAL}}, tenant BIGINT NOT NULL);\n\
                  -- {{POSTGRES}}\n\
                  -- SQLite has no row-level security; it never sees this.\n\
                  ALTER TABLE owned ENABLE ROW LEVEL SECURITY;\n\
                  CREATE POLICY tenant ON owned USING (tenant = 1)",
        }];
        assert_eq!(db.migrate(&m).await.unwrap(), 1);
        let policies: i64 = match db.kind() {
            DbKind::Sqlite => 0,
            DbKind::Postgres => sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_policies WHERE tablename = 'owned' \
                 AND schemaname = current_schema()",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap(),
        };
        let expected = i64::from(db.kind() == DbKind::Postgres);
        assert_eq!(policies, expected);
        // On both, the table before the marker is there.
        sqlx::query("INSERT INTO owned (tenant) VALUES (1)")
            .execute(&db.pool)
            .await
            .unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn beside(db: &Path, suffix: &str) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    }

    async fn write_a_row(db: &Db, body: Vec<u8>) {
        db.write(move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO things (body, name) VALUES ($1, 'x')")
                    .bind(body)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        let f = |u| sqlite_file(u);
        assert_eq!(
            f("sqlite://fordeler.db"),
            Some(PathBuf::from("fordeler.db"))
        );
        assert_eq!(
            f("sqlite:///var/lib/f.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/f.db"))
        );
        assert_eq!(f("sqlite:f.db"), Some(PathBuf::from("f.db")));
        assert_eq!(f("sqlite::memory:"), None);
        assert_eq!(f("sqlite://x.db?mode=memory"), None);
        assert_eq!(f("postgres://u@h/db"), None);
    }

    #[tokio::test]
    async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("new/data/test.db");
        let db = Db::connect(&format!("sqlite://{}", file.display()), 2)
            .await
            .unwrap();
        db.migrate(M).await.unwrap();
        write_a_row(&db, b"CPR 0101701234".to_vec()).await;
        // The WAL and shared-memory files exist while the database is open.
        for f in [file.clone(), beside(&file, "-wal"), beside(&file, "-shm")] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&tmp.path().join("new")), 0o700);
        assert_eq!(mode(&tmp.path().join("new/data")), 0o700);
    }

    #[tokio::test]
    async fn an_existing_database_others_can_read_is_restricted_when_opened() {
        use std::fs::Permissions;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("old.db");
        let url = format!("sqlite://{}", file.display());
        let db = Db::connect(&url, 2).await.unwrap();
        db.migrate(M).await.unwrap();
        write_a_row(&db, b"x".to_vec()).await;
        // As an older version (or a careless copy) left them.
        let files = [file.clone(), beside(&file, "-wal"), beside(&file, "-shm")];
        for f in &files {
            std::fs::set_permissions(f, Permissions::from_mode(0o644)).unwrap();
        }
        let again = Db::connect(&url, 2).await.unwrap();
        assert!(again.ping().await);
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        // A directory of such files too; one that is already private stays as it is.
        let dir = tmp.path().join("files");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        assert!(restrict(&dir, true));
        assert_eq!(mode(&dir), 0o700);
        assert!(!restrict(&dir, true));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleted_values_are_gone_from_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let db = test_db(tmp.path()).await.unwrap();
        db.migrate(M).await.unwrap();
        let marker = b"MARKER-0101701234-";
        // One value in a page of its own rows, one large enough for overflow pages.
        write_a_row(&db, marker.to_vec()).await;
        write_a_row(&db, marker.repeat(2_000)).await;
        write_a_row(&db, b"kept".to_vec()).await;
        db.write(|c| {
            Box::pin(async move {
                sqlx::query("UPDATE things SET body = NULL WHERE body <> $1")
                    .bind(b"kept".to_vec())
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        db.erase_deleted(&["things"]).await.unwrap();
        let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM things WHERE body IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(kept, 1);
        let Some(file) = sqlite_file(&test_database_url(tmp.path()).await.unwrap()) else {
            // PostgreSQL: its files are the server's; VACUUM ran without error.
            return;
        };
        for f in [file.clone(), beside(&file, "-wal")] {
            let raw = std::fs::read(&f).unwrap_or_default();
            assert!(
                !raw.windows(marker.len()).any(|w| w == marker),
                "a deleted value is still in {}",
                f.display()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_starting_together_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = test_database_url(dir.path()).await.unwrap();
        // Separate pools, as separate processes would have.
        let (a, b, c) = (
            Db::connect(&url, 2).await.unwrap(),
            Db::connect(&url, 2).await.unwrap(),
            Db::connect(&url, 2).await.unwrap(),
        );
        let (ra, rb, rc) = tokio::join!(a.migrate(M), b.migrate(M), c.migrate(M));
        let applied = ra.unwrap() + rb.unwrap() + rc.unwrap();
        assert_eq!(applied, 2, "each migration applied exactly once");
    }

    #[tokio::test]
    async fn migrations_apply_once_and_blobs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(dir.path()).await.unwrap();
        assert_eq!(db.migrate(M).await.unwrap(), 2);
        assert_eq!(db.migrate(M).await.unwrap(), 0);
        sqlx::query("INSERT INTO things (body, name) VALUES ($1, $2)")
            .bind(vec![0u8, 255, 7])
            .bind("x")
            .execute(&db.pool)
            .await
            .unwrap();
        let (body,): (Vec<u8>,) = sqlx::query_as("SELECT body FROM things WHERE name = $1")
            .bind("x")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(body, vec![0, 255, 7]);
        assert!(db.ping().await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_and_a_failing_one_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(dir.path()).await.unwrap();
        db.migrate(M).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.spawn(async move {
                let r = db
                    .write(move |c| {
                        Box::pin(async move {
                            sqlx::query("INSERT INTO things (name) VALUES ($1)")
                                .bind(format!("t{i}"))
                                .execute(&mut *c)
                                .await?;
                            // Every tenth job writes, then fails: its row must not stay.
                            anyhow::ensure!(i % 10 != 0, "job {i} fails on purpose");
                            Ok(i)
                        })
                    })
                    .await;
                (i, r)
            });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            let (i, r) = r.unwrap();
            match r {
                Ok(v) => {
                    assert_eq!(v, i);
                    ok += 1;
                    // Answered only once committed: visible to any other connection.
                    let (n,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM things WHERE name = $1")
                            .bind(format!("t{i}"))
                            .fetch_one(&db.pool)
                            .await
                            .unwrap();
                    assert_eq!(n, 1);
                }
                Err(e) => {
                    assert_eq!(i % 10, 0, "only the failing jobs fail: {e}");
                    assert!(e.to_string().contains("on purpose"), "{e}");
                }
            }
        }
        assert_eq!(ok, 180);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM things WHERE name LIKE 't%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(n, 180, "the failing jobs' rows were rolled back");
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(dir.path()).await.unwrap();
        db.migrate(M).await.unwrap();
        let panicked = db
            .write(|c| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO things (name) VALUES ('p')")
                        .execute(&mut *c)
                        .await?;
                    if c.ping().await.is_ok() {
                        panic!("a bug in a job");
                    }
                    Ok(())
                })
            })
            .await;
        assert!(panicked.is_err());
        db.write(|c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO things (name) VALUES ('after')")
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM things ORDER BY name")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(names, vec![("after".to_owned(),), ("seed".to_owned(),)]);
        assert!(db.ping().await);
    }
}
