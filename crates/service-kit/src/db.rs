//! The database: SQLite by default (one file, zero set-up), PostgreSQL in production.
//!
//! Both sit behind one `sqlx::AnyPool`, and products write portable SQL with `$1, $2, …`
//! placeholders (SQLite accepts them too) and portable types: TEXT, BIGINT (times are Unix
//! milliseconds), and binary data through the `{{BLOB}}` type in migrations. Where the dialects
//! really differ (claiming work with `FOR UPDATE SKIP LOCKED`), callers ask [`Db::kind`].
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed row survives a crash or a
//! power cut, and with a busy timeout so that concurrent writers wait instead of failing.

use anyhow::Context as _;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Connection as _, Executor as _};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A migration: applied once, in order, inside a transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// Portable DDL; `{{BLOB}}` and `{{SERIAL}}` are replaced per dialect. `--` comments are
    /// removed and statements split on `;`, so no string literal may contain either.
    pub sql: &'static str,
}

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
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
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

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
        let mut opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if kind == DbKind::Sqlite {
            // A local file does not drop connections; the ping before each use would cost a
            // round trip to SQLite's worker thread on every query.
            opts = opts
                .test_before_acquire(false)
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)));
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

    fn dialect(&self, sql: &str) -> String {
        match self.kind {
            DbKind::Sqlite => sql
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
/// timeout (another process's writer is waited for, not failed on), foreign keys checked.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode=WAL").await?;
    conn.execute("PRAGMA synchronous=FULL").await?;
    conn.execute("PRAGMA busy_timeout=10000").await?;
    conn.execute("PRAGMA foreign_keys=ON").await?;
    Ok(())
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
