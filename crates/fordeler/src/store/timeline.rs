//! A delivery's timeline (`events`): what happened to it, in order, written in the same
//! transaction as the change it records.

use super::{Bind, Result, Store};
use sqlx::AnyConnection;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

impl Store {
    pub async fn events(&self, delivery_id: &str) -> Result<Vec<Event>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT at, kind, detail FROM events WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(delivery_id)
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, kind, detail)| Event { at, kind, detail })
            .collect())
    }
}

/// An entry for a delivery's timeline.
pub(super) struct NewEvent<'a> {
    pub delivery_id: &'a str,
    pub at: i64,
    pub kind: &'a str,
    pub detail: &'a str,
}

/// When [`change_with_event`] writes its timeline entry.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Record {
    Always,
    /// Only when the statement changed a row.
    IfChanged,
}

/// Runs `sql` (one statement that changes at most one row, with binds `$1…`) and writes
/// `event` to the timeline; returns the rows `sql` changed. On SQLite both go to the database
/// in one call: every call is a round trip to the connection's worker thread, and the
/// timeline gets an entry for nearly every change.
pub(super) async fn change_with_event(
    c: &mut AnyConnection,
    sql: &str,
    binds: Vec<Bind>,
    event: NewEvent<'_>,
    record: Record,
) -> anyhow::Result<u64> {
    if c.backend_name() != "SQLite" {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = b.bind_to(q);
        }
        let changed = q.execute(&mut *c).await?.rows_affected();
        if record == Record::Always || changed > 0 {
            insert_event(c, event.delivery_id, event.at, event.kind, event.detail).await?;
        }
        return Ok(changed);
    }
    // sqlx binds `$N` by number across the statements of one call; `changes()` is what the
    // statement before changed.
    let n = binds.len();
    let only_if = if record == Record::IfChanged {
        " WHERE changes() > 0"
    } else {
        ""
    };
    let both = format!(
        "{sql}; INSERT INTO events (delivery_id, at, kind, detail) SELECT ${}, ${}, ${}, ${}{only_if}",
        n + 1,
        n + 2,
        n + 3,
        n + 4
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(both));
    for b in binds {
        q = b.bind_to(q);
    }
    let total = q
        .bind(event.delivery_id)
        .bind(event.at)
        .bind(event.kind)
        .bind(event.detail)
        .execute(&mut *c)
        .await?
        .rows_affected();
    // The entry added one row: always, or exactly when a row changed.
    Ok(match record {
        Record::Always => total.saturating_sub(1),
        Record::IfChanged => total.saturating_sub(u64::from(total > 0)),
    })
}

pub(super) async fn insert_event(
    c: &mut AnyConnection,
    id: &str,
    at: i64,
    kind: &str,
    detail: &str,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO events (delivery_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(at)
        .bind(kind)
        .bind(detail)
        .execute(&mut *c)
        .await?;
    Ok(())
}
