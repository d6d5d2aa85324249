//! What runs beside the outbox: the sweeps (waiting deliveries left unsettled or overdue,
//! segment files no row refers to) and the backlog `/metrics` reads at each scrape.

use super::{Result, State, Store};

impl Store {
    /// Waiting deliveries that already have receipt codes: a process stopped between storing a
    /// code and settling leaves these behind; settling them again is harmless.
    pub async fn unsettled(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM deliveries WHERE state = $1 AND (teknisk_kode IS NOT NULL OR forretning_kode IS NOT NULL)",
        )
        .bind(State::Waiting.as_str())
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Waiting deliveries whose receipts are overdue.
    pub async fn overdue_waiting(&self, older_than: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM deliveries WHERE state = $2 AND updated_at < $1")
                .bind(older_than)
                .bind(State::Waiting.as_str())
                .fetch_all(self.db.reader())
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Tidies the segment files created at least `min_age` ago: deletes those no committed
    /// row refers to any more (purged, or left by a crash), and frees the bytes in the others
    /// that no row refers to. Returns how many segments were deleted.
    pub async fn sweep_orphan_files(&self, min_age: std::time::Duration) -> Result<u64> {
        Ok(self
            .files
            .sweep(min_age, |segment| async move {
                let live: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT file_offset, size FROM attachments WHERE file_segment = $1 AND file_offset IS NOT NULL",
                )
                .bind(segment)
                .fetch_all(self.db.reader())
                .await?;
                Ok(live)
            })
            .await?)
    }
}

/// What `/metrics` shows of one tenant's backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub tenant_cvr: String,
    /// Failed deliveries: waiting for the operator.
    pub failed: i64,
    /// Pending (to be sent, or to be retried) and waiting (for receipts) deliveries.
    pub waiting: i64,
    /// When the oldest of those was accepted (ms since the epoch).
    pub oldest_waiting_since: Option<i64>,
}

impl Store {
    /// The backlog per tenant, in one aggregate query over the unfinished deliveries only
    /// (`deliveries_due` is on `state`), so it is cheap enough to run at every scrape.
    pub async fn backlog(&self) -> Result<Vec<Backlog>> {
        let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT tenant_cvr, COUNT(CASE WHEN state = $1 THEN 1 END), \
             COUNT(CASE WHEN state <> $1 THEN 1 END), \
             MIN(CASE WHEN state <> $1 THEN created_at END) \
             FROM deliveries WHERE state IN ($1, $2, $3) \
             GROUP BY tenant_cvr ORDER BY tenant_cvr",
        )
        .bind(State::Failed.as_str())
        .bind(State::Pending.as_str())
        .bind(State::Waiting.as_str())
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(tenant_cvr, failed, waiting, oldest_waiting_since)| Backlog {
                    tenant_cvr,
                    failed,
                    waiting,
                    oldest_waiting_since,
                },
            )
            .collect())
    }
}
