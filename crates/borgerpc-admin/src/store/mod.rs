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
pub mod jobs;
pub mod operator;
pub mod pcs;
pub mod policies;
pub mod rules;
pub mod tenants;
pub mod wakeplans;

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
        &self.db.pool
    }

    pub fn kind(&self) -> DbKind {
        self.db.kind()
    }
}

/// The most ids one request may list (groups of a rule, alert users, supervisors, a plan's
/// groups): far more than a site has, and a bound on the work one call can cause.
pub const MAX_IDS: usize = 1000;

/// Refuses a list of ids longer than [`MAX_IDS`], naming the field.
pub(crate) fn check_ids(field: &str, ids: &[i64]) -> anyhow::Result<()> {
    anyhow::ensure!(
        ids.len() <= MAX_IDS,
        "{field}: at most {MAX_IDS}, not {}",
        ids.len()
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

/// A refusal because of the current state (answered 409), not because the request is malformed
/// (422): e.g. a group that rules still point at.
#[derive(Debug)]
pub struct Conflict(pub String);

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Conflict {}

/// Bails out of a store function with a [`Conflict`].
macro_rules! conflict {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::store::Conflict(format!($($arg)*))))
    };
}
pub(crate) use conflict;
