//! What the operator sees and does (CLI and API alike): find, list and count deliveries, and
//! retry, resend (a new transaction) and resolve one. A refused action is a
//! [`StoreError::NotFound`] or [`StoreError::Conflict`] saying why.

use super::deliveries::{DELIVERY_COLUMNS, delivery_from_row};
use super::timeline::insert_event;
use super::{Bind, Conflict, Result, State, Step, Store, StoreError, Text};
use crate::store::Delivery;
use service_kit::db::now_ms;

impl Store {
    /// Deliveries of a submission (by its OS2forms uuid), or the one with this delivery id or
    /// AnvenderTransaktionsID (also one it had before a resend).
    pub async fn find(&self, uuid_or_id: &str) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE s.submission_uuid = $1 OR d.id = $1 OR d.anvender_transaktions_id = $1 \
             OR d.id IN (SELECT delivery_id FROM earlier_transactions WHERE anvender_transaktions_id = $1) ORDER BY d.route_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid_or_id)
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    pub async fn list(
        &self,
        state: Option<State>,
        webform_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE ($1 = '' OR d.state = $1) AND ($2 = '' OR d.webform_id = $2) ORDER BY d.created_at DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.map_or("", State::as_str))
            .bind(webform_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Counts per (form, state).
    pub async fn status(&self) -> Result<Vec<(String, State, i64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT webform_id, state, COUNT(*) FROM deliveries GROUP BY webform_id, state ORDER BY webform_id, state",
        )
        .fetch_all(self.db.reader())
        .await?;
        rows.into_iter()
            .map(|(form, state, n)| Ok((form, State::from_column(&state, "deliveries.state")?, n)))
            .collect()
    }

    /// Operator: send again, with the same AnvenderTransaktionsID, from where it stopped. A
    /// delivery that failed on a receipt (or waits for one) goes back to the call, without the
    /// codes of that attempt, so it settles on the new answers alone.
    pub async fn retry(&self, id: &str, by: &str) -> Result<()> {
        self.operator_action(
            "UPDATE deliveries SET state = $3, next_attempt_at = $1, attempts = 0, lease_until = NULL, updated_at = $1, \
             sync_kode = CASE WHEN step IN ($4, $5) THEN NULL ELSE sync_kode END, \
             teknisk_kode = CASE WHEN step IN ($4, $5) THEN NULL ELSE teknisk_kode END, \
             forretning_kode = CASE WHEN step IN ($4, $5) THEN NULL ELSE forretning_kode END, \
             step = CASE WHEN step IN ($4, $5) THEN $6 ELSE step END \
             WHERE id = $2 AND state IN ($7, $8, $3)",
            id,
            vec![
                State::Pending.as_str().into(),
                Step::Receipts.as_str().into(),
                Step::Done.as_str().into(),
                Step::Afsend.as_str().into(),
                State::Failed.as_str().into(),
                State::Waiting.as_str().into(),
            ],
            "retry_requested",
            format!("by {by}"),
        )
        .await
    }

    /// Operator: resend as a new transaction. The delivery gets a new AnvenderTransaktionsID
    /// and starts over at the build, so the message and its SFTP names (which carry the
    /// transaction's number) come from today's configuration and template; the earlier
    /// transaction, its ids and codes, stay in the timeline and in `earlier_transactions`.
    /// Only a failed, waiting or pending delivery that no worker holds right now is resent;
    /// a delivered one never is (the case system has it).
    pub async fn resend(&self, id: &str, by: &str) -> Result<Resent> {
        let (id, by) = (id.to_owned(), by.to_owned());
        Ok(self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    type Row = (String, String, Option<String>, Option<String>, Option<String>, Option<String>, i64, Option<i64>, Option<i64>);
                    let row: Option<Row> = sqlx::query_as(
                        "SELECT d.state, d.anvender_transaktions_id, d.distribution_transaktions_id, d.sync_kode, d.teknisk_kode, \
                         d.forretning_kode, d.transaction_no, d.lease_until, s.payload_purged_at \
                         FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.id = $1",
                    )
                    .bind(&id)
                    .fetch_optional(&mut *c)
                    .await?;
                    let Some((state, old, distribution, sync, teknisk, forretning, no, lease, purged)) = row else {
                        return Err(StoreError::NotFound(id).into());
                    };
                    let state = State::from_column(&state, "deliveries.state")?;
                    let conflict = if !matches!(state, State::Failed | State::Waiting | State::Pending) {
                        Some(Conflict::Settled(state))
                    } else if lease.is_some_and(|until| until >= now) {
                        Some(Conflict::Busy)
                    } else if purged.is_some() {
                        Some(Conflict::Purged)
                    } else {
                        None
                    };
                    if let Some(why) = conflict {
                        return Err(StoreError::Conflict { delivery_id: id, why }.into());
                    }
                    let new = sf2900::Uuid::new_v4().to_string();
                    sqlx::query(
                        "INSERT INTO earlier_transactions (anvender_transaktions_id, delivery_id, transaction_no, distribution_transaktions_id, \
                         sync_kode, teknisk_kode, forretning_kode, superseded_at, superseded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&old)
                    .bind(&id)
                    .bind(no)
                    .bind(&distribution)
                    .bind(&sync)
                    .bind(&teknisk)
                    .bind(&forretning)
                    .bind(now)
                    .bind(&by)
                    .execute(&mut *c)
                    .await?;
                    sqlx::query(
                        "UPDATE deliveries SET anvender_transaktions_id = $1, transaction_no = transaction_no + 1, state = $4, \
                         step = $5, distribution_transaktions_id = NULL, sync_kode = NULL, teknisk_kode = NULL, forretning_kode = NULL, \
                         attempts = 0, next_attempt_at = $2, lease_owner = NULL, lease_until = NULL, last_error = NULL, error_class = NULL, \
                         updated_at = $2 WHERE id = $3",
                    )
                    .bind(&new)
                    .bind(now)
                    .bind(&id)
                    .bind(State::Pending.as_str())
                    .bind(Step::Build.as_str())
                    .execute(&mut *c)
                    .await?;
                    // Built again from today's configuration: the earlier request and file
                    // names belonged to the earlier transaction.
                    sqlx::query("DELETE FROM delivery_files WHERE delivery_id = $1")
                        .bind(&id)
                        .execute(&mut *c)
                        .await?;
                    sqlx::query("DELETE FROM delivery_requests WHERE delivery_id = $1")
                        .bind(&id)
                        .execute(&mut *c)
                        .await?;
                    let dash = |k: &Option<String>| k.clone().unwrap_or_else(|| "-".into());
                    let detail = format!(
                        "by {by}: transaction {} with AnvenderTransaktionsID {new}; transaction {no} ({old}) ended with answer {}, Teknisk {}, Forretning {}",
                        no + 1,
                        dash(&sync),
                        dash(&teknisk),
                        dash(&forretning)
                    );
                    insert_event(c, &id, now, "resend", &detail).await?;
                    Ok(Resent { old, new })
                })
            })
            .await?)
    }

    /// Operator: handled outside the Fordeler; no more attempts. Attributed and noted.
    pub async fn resolve(&self, id: &str, by: &str, note: &str) -> Result<()> {
        self.operator_action(
            "UPDATE deliveries SET state = $5, resolved_by = $3, resolved_note = $4, updated_at = $1 \
             WHERE id = $2 AND state IN ($6, $7, $8)",
            id,
            vec![
                by.into(),
                note.into(),
                State::Resolved.as_str().into(),
                State::Failed.as_str().into(),
                State::Waiting.as_str().into(),
                State::Pending.as_str().into(),
            ],
            "resolved",
            format!("by {by}: {note}"),
        )
        .await
    }

    /// An operator's change of one delivery (`sql` binds $1 = now, $2 = id, then `binds`),
    /// noted in its timeline when it applied; refused when the delivery's state does not allow it
    /// (or there is no such delivery: the statement cannot tell).
    async fn operator_action(
        &self,
        sql: &'static str,
        id: &str,
        binds: Vec<Bind>,
        kind: &'static str,
        detail: String,
    ) -> Result<()> {
        let delivery_id = id.to_owned();
        let id = delivery_id.clone();
        let applied = self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let mut q = sqlx::query(sql).bind(now).bind(&id);
                    for b in binds {
                        q = b.bind_to(q);
                    }
                    let n = q.execute(&mut *c).await?.rows_affected();
                    if n > 0 {
                        insert_event(c, &id, now, kind, &detail).await?;
                    }
                    Ok(n > 0)
                })
            })
            .await?;
        if !applied {
            return Err(StoreError::Conflict {
                delivery_id,
                why: Conflict::NotOpen,
            });
        }
        Ok(())
    }
}

/// A delivery [`Store::resend`] resent: its earlier and its new AnvenderTransaktionsID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    pub old: String,
    pub new: String,
}
