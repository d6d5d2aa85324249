//! The database as the portal sees it. One submodule per part of the data model, each owning
//! its tables' queries; the schema in `migrations/` is the contract between them.
//!
//! Tenancy is kept here: every query that reads or changes a tenant's rows takes the site (or
//! customer) it is scoped to, so a caller cannot forget it.

pub mod accounts;
pub mod config;
pub mod events;
pub mod history;
pub mod jobs;
pub mod operator;
pub mod pcs;
pub mod policies;
pub mod tenants;

use service_kit::db::{Db, DbKind, Migration};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../../migrations/0001_init.sql"),
}];

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

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
