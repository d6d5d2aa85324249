//! A delivery's built request (`delivery_requests`: stored once, sent the same on every
//! attempt) and its files' remote names and SFTP states (`delivery_files`).

use super::deliveries::step_to;
use super::{Bind, FileState, ROWS_PER_STATEMENT, Result, Step, Store, Text, marks, value_rows};
use crate::store::Delivery;
use service_kit::db::now_ms;
use sqlx::Row as _;

/// A built request as stored: the document with the inline PDF's Base64 left out (`build`
/// makes it, and puts the Base64 back at send time: `StoredRequest::document`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub xml: String,
    pub inline: Option<InlineFile>,
}

/// Where the Base64 of which attachment belongs in a [`StoredRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct InlineFile {
    pub attachment_id: String,
    /// Byte offset into the stored document.
    pub at: usize,
}

/// What [`Store::save_built`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saved {
    /// The delivery moved on (it was still pending).
    pub moved: bool,
    /// The request and every file were stored as given (none was there before).
    pub fresh: bool,
}

#[derive(Debug, Clone)]
pub struct DeliveryFile {
    pub attachment_id: String,
    pub remote_name: String,
    pub state: FileState,
    pub transaction_id: String,
}

impl Store {
    /// The stored request of a delivery (built once, sent the same on every attempt).
    pub async fn request(&self, delivery_id: &str) -> Result<Option<StoredRequest>> {
        let row = sqlx::query(
            "SELECT request, inline_attachment_id, inline_at FROM delivery_requests WHERE delivery_id = $1",
        )
        .bind(delivery_id)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let xml = String::from_utf8(row.try_get(0)?)
            .map_err(|_| anyhow::anyhow!("the stored request of {delivery_id} is not UTF-8"))?;
        let inline = match (
            row.try_get::<Option<String>, _>(1)?,
            row.try_get::<Option<i64>, _>(2)?,
        ) {
            (Some(attachment_id), Some(at)) => Some(InlineFile {
                attachment_id,
                at: usize::try_from(at)
                    .map_err(|_| anyhow::anyhow!("delivery_requests.inline_at: negative"))?,
            }),
            _ => None,
        };
        Ok(Some(StoredRequest { xml, inline }))
    }

    /// Stores the built request and the files' remote names; moves on to `next` unless the
    /// delivery is no longer pending.
    pub async fn save_built(
        &self,
        d: &Delivery,
        request: StoredRequest,
        files: Vec<DeliveryFile>,
        next: Step,
    ) -> Result<Saved> {
        let id = d.id.clone();
        Ok(self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    // Once stored, the request is what every attempt sends; never replaced.
                    let (inline_id, inline_at) = match request.inline {
                        Some(i) => (Some(i.attachment_id), Some(i.at as i64)),
                        None => (None, None),
                    };
                    let mut inserted = sqlx::query(
                        "INSERT INTO delivery_requests (delivery_id, request, inline_attachment_id, inline_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (delivery_id) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(request.xml.into_bytes())
                    .bind(inline_id)
                    .bind(inline_at)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                    let detail = format!("{} file(s) to upload", files.len());
                    let moved = step_to(c, &id, next, now, "built", &detail).await?;
                    for batch in files.chunks(ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "INSERT INTO delivery_files (delivery_id, attachment_id, remote_name, state, transaction_id) VALUES {} \
                             ON CONFLICT (delivery_id, attachment_id) DO NOTHING",
                            value_rows(batch.len(), 5)
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for f in batch {
                            q = q
                                .bind(&id)
                                .bind(&f.attachment_id)
                                .bind(&f.remote_name)
                                .bind(f.state.as_str())
                                .bind(&f.transaction_id);
                        }
                        inserted += q.execute(&mut *c).await?.rows_affected();
                    }
                    Ok(Saved {
                        moved,
                        fresh: inserted == 1 + files.len() as u64,
                    })
                })
            })
            .await?)
    }

    pub async fn delivery_files(&self, delivery_id: &str) -> Result<Vec<DeliveryFile>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT attachment_id, remote_name, state, transaction_id FROM delivery_files WHERE delivery_id = $1 ORDER BY remote_name",
        )
        .bind(delivery_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.into_iter()
            .map(|(attachment_id, remote_name, state, transaction_id)| {
                Ok(DeliveryFile {
                    attachment_id,
                    remote_name,
                    state: FileState::from_column(&state, "delivery_files.state")?,
                    transaction_id,
                })
            })
            .collect()
    }

    pub async fn set_file_state(
        &self,
        delivery_id: &str,
        attachment_id: &str,
        state: FileState,
        error: Option<&str>,
    ) -> Result<()> {
        self.execute(
            "UPDATE delivery_files SET state = $1, receipt_error = $2 WHERE delivery_id = $3 AND attachment_id = $4",
            vec![
                state.as_str().into(),
                Bind::MaybeText(error.map(Into::into)),
                delivery_id.into(),
                attachment_id.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Marks files with a new state and moves the delivery on, in one transaction; false when
    /// the delivery is no longer pending.
    pub async fn files_done(
        &self,
        delivery_id: &str,
        attachment_ids: Vec<String>,
        file_state: FileState,
        step: Step,
        kind: &'static str,
        detail: String,
    ) -> Result<bool> {
        let id = delivery_id.to_owned();
        Ok(self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let moved = step_to(c, &id, step, now, kind, &detail).await?;
                    for batch in attachment_ids.chunks(ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "UPDATE delivery_files SET state = $1 WHERE delivery_id = $2 AND attachment_id IN ({})",
                            marks(3, batch.len())
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(file_state.as_str()).bind(&id);
                        for a in batch {
                            q = q.bind(a);
                        }
                        q.execute(&mut *c).await?;
                    }
                    Ok(moved)
                })
            })
            .await?)
    }
}
