//! The database as the portal sees it. One submodule per part of the data model, each owning
//! its tables' queries; the schema in `migrations/` is the contract between them.
//!
//! Tenancy is kept here: every query that reads or changes a tenant's rows takes the site (or
//! customer) it is scoped to, so a caller cannot forget it.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod config;
pub mod events;
pub mod groups;
pub mod history;
pub mod job_views;
pub mod jobs;
pub mod opening_hours;
pub mod operator;
pub mod pc_counts;
pub mod pcs;
pub mod policies;
pub mod portal;
pub mod refusal;
pub mod reports;
pub mod rules;
pub mod subscriptions;
pub mod tenants;
pub mod views;
pub mod wakeplans;

pub use refusal::{Field, Reason, Refusal};
use service_kit::db::{Db, DbKind, Migration};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "operator",
        sql: include_str!("../../migrations/0002_operator.sql"),
    },
    Migration {
        version: 3,
        name: "agent_identity",
        sql: include_str!("../../migrations/0003_agent_identity.sql"),
    },
    Migration {
        version: 4,
        name: "web",
        sql: service_kit::web::session::SCHEMA,
    },
    Migration {
        version: 5,
        name: "portal",
        sql: include_str!("../../migrations/0005_portal.sql"),
    },
    Migration {
        version: 6,
        name: "pages",
        sql: include_str!("../../migrations/0006_pages.sql"),
    },
    Migration {
        version: 7,
        name: "pc_counts",
        sql: include_str!("../../migrations/0007_pc_counts.sql"),
    },
    Migration {
        version: 8,
        name: "script_delete",
        sql: include_str!("../../migrations/0008_script_delete.sql"),
    },
    Migration {
        version: 9,
        name: "tenant_rls",
        sql: include_str!("../../migrations/0009_tenant_rls.sql"),
    },
    Migration {
        version: 10,
        name: "reports",
        sql: include_str!("../../migrations/0010_reports.sql"),
    },
    Migration {
        version: 11,
        name: "availability_rollup",
        sql: include_str!("../../migrations/0011_availability_rollup.sql"),
    },
    Migration {
        version: 12,
        name: "report_subscriptions",
        sql: include_str!("../../migrations/0012_report_subscriptions.sql"),
    },
    Migration {
        version: 14,
        name: "jobs_security_reports",
        sql: include_str!("../../migrations/0014_jobs_security_reports.sql"),
    },
    Migration {
        version: 15,
        name: "changes_report",
        sql: include_str!("../../migrations/0015_changes_report.sql"),
    },
    Migration {
        version: 16,
        name: "inventory",
        sql: include_str!("../../migrations/0016_inventory.sql"),
    },
    Migration {
        version: 17,
        name: "ops_rollups",
        sql: include_str!("../../migrations/0017_ops_rollups.sql"),
    },
    Migration {
        version: 18,
        name: "usage_rollup",
        sql: include_str!("../../migrations/0018_usage_rollup.sql"),
    },
    Migration {
        version: 19,
        name: "usage_pcs",
        sql: include_str!("../../migrations/0019_usage_pcs.sql"),
    },
    Migration {
        version: 20,
        name: "group_usage_rollup",
        sql: include_str!("../../migrations/0020_group_usage_rollup.sql"),
    },
    Migration {
        version: 21,
        name: "audit_customer",
        sql: include_str!("../../migrations/0021_audit_customer.sql"),
    },
    Migration {
        version: 22,
        name: "security_handle_rollup",
        sql: include_str!("../../migrations/0022_security_handle_rollup.sql"),
    },
    Migration {
        version: 23,
        name: "batch_pc_count",
        sql: include_str!("../../migrations/0023_batch_pc_count.sql"),
    },
    Migration {
        version: 24,
        name: "pc_job_sites",
        sql: include_str!("../../migrations/0024_pc_job_sites.sql"),
    },
];

/// The portal's database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub db: Db,
}

impl Store {
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate(MIGRATIONS).await?;
        Ok(Self { db })
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        self.db.reader()
    }

    /// One pooled connection for a sequence of reads that share helpers taking a
    /// connection. Never write on it: writes go through `Db::begin_write`.
    pub(crate) async fn reader(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.reader().acquire().await?)
    }

    pub fn kind(&self) -> DbKind {
        self.db.kind()
    }

    /// Runs one statement that writes, in its turn among the process's writers
    /// ([`service_kit::db::Db::begin_write`]); returns the rows it changed. A write sent
    /// straight to the pool would wait in SQLite's busy handler instead, behind whatever
    /// holds the lock, and fail with "database is locked" after its timeout. Every write of
    /// the store goes through here or `begin_write` (a test reads the sources for others).
    pub(crate) async fn write_one(
        &self,
        q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<u64> {
        let mut tx = self.db.begin_write().await?;
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// [`Store::write_one`] for an `INSERT … RETURNING id`.
    pub(crate) async fn insert_returning_id(
        &self,
        q: sqlx::query::QueryScalar<'_, sqlx::Any, i64, sqlx::any::AnyArguments>,
    ) -> Result<i64> {
        let mut tx = self.db.begin_write().await?;
        let id = q.fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// The most ids one request may list (groups of a rule, alert users, supervisors, a plan's
/// groups): far more than a site has, and a bound on the work one call can cause.
pub const MAX_IDS: usize = 1000;

/// Refuses a list of ids longer than [`MAX_IDS`], naming the field.
pub(crate) fn check_ids(field: &str, ids: &[i64]) -> Result<()> {
    ensure!(
        ids.len() <= MAX_IDS,
        field.to_owned(),
        Reason::AtMostNot {
            max: MAX_IDS,
            given: ids.len()
        }
    );
    Ok(())
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a store function did not do what it was asked: the one error of the store's boundary.
/// The operator API answers each variant with one status (`api/mod.rs`); the CLI prints the
/// message as it is, so a message names the field or the object and never a value that may be
/// personal data. A refusal is data ([`Refusal`]): English for the API and the CLI, the
/// user's language on the portal's pages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is refused; the refusal names the field it is about (`name: …`).
    #[error("{0}")]
    Invalid(Refusal),
    /// Refused because of the current state, not the input: e.g. a group that rules still point
    /// at, or a key to approve that no longer matches.
    #[error("{0}")]
    Conflict(Refusal),
    /// Nothing by that name or uid (the CLI's lookups; the API's ids answer `None` instead, so
    /// it can tell 404 from 403).
    #[error("{0}")]
    NotFound(String),
    /// A row holds text this version does not know (a status, a role): the column and the text.
    #[error("{column}: {value:?} in the database is not a value this version knows")]
    UnknownValue {
        /// `table.column`.
        column: &'static str,
        /// The text found.
        value: String,
    },
    /// The database failed or could not be reached: not the caller's fault.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A JSON column or audit detail that did not read or write: ours, not the caller's.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Hashing a new password failed: ours, not the caller's (argon2 with fixed parameters).
    #[error("hashing the password: {0}")]
    Hash(String),
}

impl Error {
    /// The refusal, if this is one (of the input or of the state), for a page to show.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Invalid(r) | Error::Conflict(r) => Some(r),
            _ => None,
        }
    }
}

/// A store function's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns an [`Error::Invalid`] from a store function: `refuse!(field, reason)`, the field
/// as the API names it (or a [`Field`]), the [`Reason`] with its values.
macro_rules! refuse {
    ($field:expr, $reason:expr) => {
        return Err($crate::store::invalid!($field, $reason))
    };
}
pub(crate) use refuse;

/// [`refuse!`] unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $field:expr, $reason:expr) => {
        if !$cond {
            $crate::store::refuse!($field, $reason);
        }
    };
}
pub(crate) use ensure;

/// An [`Error::Invalid`] as a value (for `ok_or_else`, `map_err`).
macro_rules! invalid {
    ($field:expr, $reason:expr) => {
        $crate::store::Error::Invalid($crate::store::Refusal::new($field, $reason))
    };
}
pub(crate) use invalid;

/// Returns an [`Error::Conflict`] from a store function.
macro_rules! conflict {
    ($field:expr, $reason:expr) => {
        return Err($crate::store::Error::Conflict($crate::store::Refusal::new(
            $field, $reason,
        )))
    };
}
pub(crate) use conflict;

#[cfg(test)]
mod tests {
    /// Every write of the store takes its turn ([`super::Store::write_one`] or
    /// `Db::begin_write`): no INSERT, UPDATE or DELETE runs on the pool itself, where on
    /// SQLite it would wait in the busy handler behind the heartbeat writer and could fail.
    #[test]
    fn no_write_runs_on_the_pool() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                sources.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
        assert!(sources.len() >= 9, "the store's modules: {}", sources.len());
        let mut bypasses = Vec::new();
        for (file, text) in &sources {
            // This module holds the helpers and this test, which names what it looks for.
            if file == "mod.rs" {
                continue;
            }
            let text = text.as_str();
            assert!(
                !text.contains("pool().acquire()"),
                "{file}: a connection of its own"
            );
            let mut from = 0;
            while let Some(at) = text[from..].find("self.pool()") {
                let at = from + at;
                // The statement this pool call runs: from the query that starts it.
                let start = text[..at].rfind("sqlx::query").unwrap_or(0);
                let statement = &text[start..at];
                if ["\"INSERT", "\"UPDATE", "\"DELETE"]
                    .iter()
                    .any(|w| statement.contains(w))
                {
                    let line = text[..at].lines().count();
                    bypasses.push(format!("{file}:{line}"));
                }
                from = at + 1;
            }
        }
        assert!(
            bypasses.is_empty(),
            "writes straight on the pool: {bypasses:?}"
        );
    }
}
