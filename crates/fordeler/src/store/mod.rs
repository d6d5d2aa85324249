//! The database as the stages see it: every SQL statement of the Fordeler, one module per part
//! of the data model. This module owns the [`Store`] handle, its one error type
//! ([`StoreError`]) and the helpers the modules share (binding values, statement batches).
//!
//! - `submissions`: what intake accepts (submissions, files, one delivery per route), purge.
//! - `deliveries`: the state machine's writes: claims (leases), steps, failures, settlement.
//! - `requests`: a delivery's built request and its files' remote names and SFTP states.
//! - `receipts`: asynchronous receipts, and what each may change (`receipt_in`).
//! - `operator`: list, show, status, and the operator's retry, resend and resolve.
//! - `timeline`: the events of a delivery, written with the change they record.
//! - `housekeeping`: sweeps (unsettled, overdue, orphan files) and the backlog gauges.
//! - `values`: the typed values the schema keeps as text, each with its one spelling.
//!
//! Invariants kept here, in one place:
//! - A submission is committed (with its files and one delivery per route) in one transaction
//!   before intake answers 2xx; a second arrival of the same (form, uuid) changes nothing.
//! - Each delivery gets its AnvenderTransaktionsID at creation, and its request XML is stored
//!   before the first send, so every retry, restart or manual resend carries the same payload.
//! - Work is claimed with a lease (owner + expiry), so two `serve` processes on one PostgreSQL
//!   never work on the same delivery, and a killed process's work is picked up after the lease.

mod deliveries;
mod housekeeping;
mod operator;
mod receipts;
mod requests;
mod submissions;
mod timeline;
mod values;

pub use deliveries::Delivery;
pub use housekeeping::Backlog;
pub use operator::Resent;
pub use receipts::{Receipt, ReceiptOutcome};
pub use requests::{DeliveryFile, InlineFile, Saved, StoredRequest};
pub use submissions::{Accepted, Attachment, NewAttachment, NewSubmission};
pub use timeline::Event;
pub use values::{ErrorClass, FileState, State, Step, Text, kode_or_dash};

use crate::file_store::FileStore;
use service_kit::db::{Db, Migration};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "requests apart",
        sql: include_str!("../../migrations/0002_requests_apart.sql"),
    },
    Migration {
        version: 3,
        name: "payloads apart",
        sql: include_str!("../../migrations/0003_payloads_apart.sql"),
    },
    Migration {
        version: 4,
        name: "resend",
        sql: include_str!("../../migrations/0004_resend.sql"),
    },
];

/// What the store could not do. The web layer answers each with one status (its
/// `IntoResponse` is in `web`); the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No delivery has this id.
    #[error("delivery {0}: not found")]
    NotFound(String),
    /// The delivery's state does not allow what was asked.
    #[error("delivery {delivery_id}: {why}")]
    Conflict { delivery_id: String, why: Conflict },
    /// A column holds text that is none of its type's values (written by a newer version, or by
    /// hand): refused rather than read as something else.
    #[error("{column}: `{text}` is not a value this version knows")]
    UnknownText { column: &'static str, text: String },
    /// The database (or a stored file) failed.
    #[error(transparent)]
    Database(anyhow::Error),
}

/// Why an operator's action does not apply to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Retry and resolve change only an unsettled delivery, and cannot tell a missing one apart.
    #[error("not found, or delivered/resolved already")]
    NotOpen,
    /// Delivered or resolved: not sent again.
    #[error("{0}; it is not sent again")]
    Settled(State),
    /// A worker holds it right now.
    #[error("being sent right now; try again in a minute")]
    Busy,
    /// Its payload was purged: there is nothing to build from.
    #[error("its content was purged; nothing to build from")]
    Purged,
}

impl StoreError {
    /// Refused for the delivery's sake (missing, or its state), not for the database's.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StoreError::NotFound(_) | StoreError::Conflict { .. })
    }
}

impl From<anyhow::Error> for StoreError {
    /// A job of [`Db::write`] answers with `anyhow`; what it raised as a [`StoreError`] stays
    /// one (the only place a store error is taken back out of `anyhow`).
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<StoreError>() {
            Ok(e) => e,
            Err(e) => StoreError::Database(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.into())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Store {
    pub db: Db,
    /// Where file contents are (beside a SQLite file, else in the database).
    pub files: FileStore,
}

pub fn new_id() -> String {
    sf2900::Uuid::new_v4().to_string()
}

impl Store {
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate(MIGRATIONS).await?;
        let files = FileStore::for_database(url);
        files.restrict_existing();
        Ok(Self { db, files })
    }

    /// One statement that changes rows, as a write of its own; returns the rows changed.
    /// `sql` is always our own text; values are bound.
    async fn execute(&self, sql: &'static str, binds: Vec<Bind>) -> Result<u64> {
        Ok(self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let mut q = sqlx::query(sql);
                    for b in binds {
                        q = b.bind_to(q);
                    }
                    Ok(q.execute(&mut *c).await?.rows_affected())
                })
            })
            .await?)
    }
}

/// A value bound to a statement of [`Store::execute`] or an operator action.
enum Bind {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

impl Bind {
    fn bind_to(
        self,
        q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Bind::Text(t) => q.bind(t),
            Bind::MaybeText(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        }
    }
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_owned())
    }
}

impl From<i64> for Bind {
    fn from(i: i64) -> Self {
        Bind::Int(i)
    }
}

/// Rows (or list values) per statement, for statements over a submission's files: SQLite
/// takes at most 32,766 bound values in one statement (PostgreSQL 65,535), so one statement for
/// all of a large submission's files failed; 1,000 rows of up to 10 values stay well below.
const ROWS_PER_STATEMENT: usize = 1_000;

/// `$first, $first+1, …` for `n` values (an `IN (…)` list).
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $cols), (…)` for `rows` rows of `cols` values: one INSERT instead of one per row.
fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", marks(1 + r * cols, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}
