//! Submissions as intake accepts them: the submission, its files (contents in the database or
//! in segment files, see `file_store`), and one delivery per route, in one transaction; and
//! purge, which makes a settled submission's content unreadable.

use super::timeline::{NewEvent, Record, change_with_event};
use super::{ROWS_PER_STATEMENT, Result, State, Step, Store, new_id, value_rows};
use crate::config::DistributionType;
use crate::file_store::Placed;
use anyhow::Context as _;
use service_kit::db::now_ms;
use sqlx::Row as _;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    pub element_key: String,
    pub idx: i64,
    pub name: String,
    pub mime: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub tenant_cvr: String,
    pub webform_id: String,
    pub submission_uuid: String,
    pub serial: Option<String>,
    pub source: &'static str,
    /// The submission as JSON (the render context's `submission`).
    pub payload: Vec<u8>,
    pub attachments: Vec<NewAttachment>,
    /// (route id, distribution type) for every route of the form.
    pub routes: Vec<(String, DistributionType)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    New {
        submission_id: String,
        deliveries: usize,
    },
    Duplicate {
        submission_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub element_key: String,
    pub idx: i64,
    pub name: String,
    pub mime: String,
    pub size: i64,
    pub data: Vec<u8>,
    /// On SQLite, where the content is kept: segment and offset (see file_store.rs). `None`
    /// when it is in the row, gone, or not stored.
    pub segment: Option<(String, i64)>,
}

impl From<&NewAttachment> for Attachment {
    /// A file not (yet) stored, with an id of its own (previews and benchmarks).
    fn from(a: &NewAttachment) -> Self {
        Attachment {
            id: new_id(),
            element_key: a.element_key.clone(),
            idx: a.idx,
            name: a.name.clone(),
            mime: a.mime.clone(),
            size: a.data.len() as i64,
            data: a.data.clone(),
            segment: None,
        }
    }
}

impl Store {
    /// Stores a submission with its files and a delivery per route, atomically: the files'
    /// contents are durable before the rows that refer to them commit.
    pub async fn accept(&self, mut s: NewSubmission) -> Result<Accepted> {
        let id = new_id();
        let sizes = s.attachments.iter().map(|a| a.data.len() as i64).collect();
        let contents = s
            .attachments
            .iter_mut()
            .map(|a| std::mem::take(&mut a.data))
            .collect();
        let placed = self.files.put(contents).await?;
        let written = placed.written();
        let result = self.insert_submission(id, s, placed, sizes).await;
        if !matches!(result, Ok(Accepted::New { .. }))
            && let Some(written) = written
            && let Err(e) = self.files.discard(written).await
        {
            // Nothing refers to the bytes just written; the sweep frees them later. The caller
            // is told what happened to the submission, not to its leftover bytes.
            tracing::warn!(error = %e, "freeing unused stored bytes failed");
        }
        result
    }

    async fn insert_submission(
        &self,
        id: String,
        s: NewSubmission,
        placed: Placed,
        sizes: Vec<i64>,
    ) -> Result<Accepted> {
        Ok(self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let inserted = sqlx::query(
                        "INSERT INTO submissions (id, tenant_cvr, webform_id, submission_uuid, serial, source, received_at, payload) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (webform_id, submission_uuid) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(&s.tenant_cvr)
                    .bind(&s.webform_id)
                    .bind(&s.submission_uuid)
                    .bind(&s.serial)
                    .bind(s.source)
                    .bind(now)
                    .bind(&s.payload)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        let (existing,): (String,) = sqlx::query_as(
                            "SELECT id FROM submissions WHERE webform_id = $1 AND submission_uuid = $2",
                        )
                        .bind(&s.webform_id)
                        .bind(&s.submission_uuid)
                        .fetch_one(&mut *c)
                        .await?;
                        return Ok(Accepted::Duplicate {
                            submission_id: existing,
                        });
                    }
                    let numbered: Vec<(usize, &NewAttachment)> = s.attachments.iter().enumerate().collect();
                    for batch in numbered.chunks(ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "INSERT INTO attachments (id, submission_id, element_key, idx, name, mime, size, data, file_segment, file_offset) VALUES {}",
                            value_rows(batch.len(), 10)
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for &(i, a) in batch {
                            let (data, segment, offset) = match &placed {
                                Placed::InDatabase(d) => (Some(&d[i]), None, None),
                                Placed::InSegment(w) => (None, Some(&w.segment), Some(w.offsets[i])),
                            };
                            q = q
                                .bind(new_id())
                                .bind(&id)
                                .bind(&a.element_key)
                                .bind(a.idx)
                                .bind(&a.name)
                                .bind(&a.mime)
                                .bind(sizes[i])
                                .bind(data)
                                .bind(segment)
                                .bind(offset);
                        }
                        q.execute(&mut *c).await?;
                    }
                    for (route, dtype) in &s.routes {
                        let did = new_id();
                        change_with_event(
                            c,
                            "INSERT INTO deliveries (id, submission_id, route_id, tenant_cvr, webform_id, distribution_type, state, step, \
                             anvender_transaktions_id, next_attempt_at, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $9, $10, $7, $8, $8, $8)",
                            vec![
                                did.as_str().into(),
                                id.as_str().into(),
                                route.as_str().into(),
                                s.tenant_cvr.as_str().into(),
                                s.webform_id.as_str().into(),
                                dtype.as_str().into(),
                                new_id().as_str().into(),
                                now.into(),
                                State::Pending.as_str().into(),
                                Step::Build.as_str().into(),
                            ],
                            NewEvent {
                                delivery_id: &did,
                                at: now,
                                kind: "received",
                                detail: &format!("via {}", s.source),
                            },
                            Record::Always,
                        )
                        .await?;
                    }
                    Ok(Accepted::New {
                        submission_id: id,
                        deliveries: s.routes.len(),
                    })
                })
            })
            .await?)
    }

    pub async fn known_uuids(&self, webform_id: &str) -> Result<std::collections::HashSet<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT submission_uuid FROM submissions WHERE webform_id = $1")
                .bind(webform_id)
                .fetch_all(self.db.reader())
                .await?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// The submission's JSON payload (None once purged).
    pub async fn payload(&self, submission_id: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT payload FROM submissions WHERE id = $1")
                .bind(submission_id)
                .fetch_optional(self.db.reader())
                .await?;
        Ok(row.and_then(|(p,)| p))
    }

    /// A submission's files; the content only of those `wanted` says (large blobs are read
    /// only where they are needed). Content that is gone (purged, or its stored file removed)
    /// comes back empty: check it against `size`.
    pub async fn attachments(
        &self,
        submission_id: &str,
        wanted: impl Fn(&Attachment) -> bool,
    ) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT id, element_key, idx, name, mime, size, file_segment, file_offset FROM attachments WHERE submission_id = $1 ORDER BY element_key, idx",
        )
        .bind(submission_id)
        .fetch_all(self.db.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut a = Attachment {
                id: r.try_get(0)?,
                element_key: r.try_get(1)?,
                idx: r.try_get(2)?,
                name: r.try_get(3)?,
                mime: r.try_get(4)?,
                size: r.try_get(5)?,
                data: Vec::new(),
                segment: match (r.try_get::<Option<String>, _>(6)?, r.try_get(7)?) {
                    (Some(segment), Some(offset)) => Some((segment, offset)),
                    _ => None,
                },
            };
            if wanted(&a) {
                a.data = self.content(&a).await?.unwrap_or_default();
            }
            out.push(a);
        }
        Ok(out)
    }

    /// The content of a file listed by [`Store::attachments`] (`None` once purged, or when
    /// its segment is gone); from its segment without asking the database again.
    pub async fn content(&self, a: &Attachment) -> Result<Option<Vec<u8>>> {
        match &a.segment {
            Some((segment, offset)) => Ok(self.files.read(segment, *offset, a.size).await?),
            None => self.attachment_data(&a.id).await,
        }
    }

    /// One file's content (`None` once purged, or when its stored file is gone).
    pub async fn attachment_data(&self, attachment_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT size, data, file_segment, file_offset FROM attachments WHERE id = $1",
        )
        .bind(attachment_id)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        if let Some(data) = row.try_get::<Option<Vec<u8>>, _>(1)? {
            return Ok(Some(data));
        }
        match (row.try_get::<Option<String>, _>(2)?, row.try_get(3)?) {
            (Some(segment), Some(offset)) => {
                Ok(self.files.read(&segment, offset, row.try_get(0)?).await?)
            }
            _ => Ok(None),
        }
    }

    /// Deletes payloads (form data, files, built requests) of submissions whose deliveries are
    /// all final and older than `before`. Metadata and timelines stay. Returns how many.
    /// The deleted values are then erased from the database's files too (SQLite: zeroed pages,
    /// an emptied WAL; PostgreSQL: a VACUUM), and file contents from their segments.
    pub async fn purge(&self, before: i64) -> Result<u64> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT s.id FROM submissions s WHERE s.payload_purged_at IS NULL AND NOT EXISTS (\
               SELECT 1 FROM deliveries d WHERE d.submission_id = s.id AND (d.state NOT IN ($2, $3) OR d.updated_at >= $1))",
        )
        .bind(before)
        .bind(State::Delivered.as_str())
        .bind(State::Resolved.as_str())
        .fetch_all(self.db.reader())
        .await?;
        for (submission_id,) in &ids {
            let id = submission_id.clone();
            let stored: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT file_segment, file_offset, size FROM attachments WHERE submission_id = $1 AND file_segment IS NOT NULL AND file_offset IS NOT NULL",
            )
            .bind(&id)
            .fetch_all(self.db.reader())
            .await?;
            self.db
                .write(move |c| {
                    Box::pin(async move {
                        sqlx::query(
                            "UPDATE submissions SET payload = NULL, payload_purged_at = $1 WHERE id = $2",
                        )
                        .bind(now_ms())
                        .bind(&id)
                        .execute(&mut *c)
                        .await?;
                        sqlx::query("UPDATE attachments SET data = NULL, file_segment = NULL, file_offset = NULL WHERE submission_id = $1")
                            .bind(&id)
                            .execute(&mut *c)
                            .await?;
                        sqlx::query("DELETE FROM delivery_requests WHERE delivery_id IN (SELECT id FROM deliveries WHERE submission_id = $1)")
                            .bind(&id)
                            .execute(&mut *c)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
            // The rows no longer refer to the bytes; free them now. Segments left with nothing
            // in them go at the next sweep.
            let mut by_segment: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
            for (segment, offset, size) in stored {
                by_segment.entry(segment).or_default().push((offset, size));
            }
            for (segment, ranges) in by_segment {
                self.files.punch(&segment, ranges).await?;
            }
        }
        if !ids.is_empty() {
            self.db
                .erase_deleted(&["submissions", "attachments", "delivery_requests"])
                .await
                .with_context(|| format!("{} submission(s) purged, but", ids.len()))?;
        }
        Ok(ids.len() as u64)
    }
}
