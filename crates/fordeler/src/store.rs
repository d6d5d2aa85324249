//! The database as the stages see it: submissions in, deliveries through their state machine,
//! a timeline per delivery, receipts.
//!
//! Invariants kept here, in one place:
//! - A submission is committed (with its files and one delivery per route) in one transaction
//!   before intake answers 2xx; a second arrival of the same (form, uuid) changes nothing.
//! - Each delivery gets its AnvenderTransaktionsID at creation, and its request XML is stored
//!   before the first send, so every retry, restart or manual resend carries the same payload.
//! - Work is claimed with a lease (owner + expiry), so two `serve` processes on one PostgreSQL
//!   never work on the same delivery, and a killed process's work is picked up after the lease.

use crate::build::{InlineFile, StoredRequest};
use crate::file_store::{FileStore, Placed};
use anyhow::Context as _;
use service_kit::db::{Db, DbKind, Migration, now_ms};
use sqlx::{AnyConnection, Row as _};
use std::collections::HashMap;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "requests apart",
        sql: include_str!("../migrations/0002_requests_apart.sql"),
    },
    Migration {
        version: 3,
        name: "payloads apart",
        sql: include_str!("../migrations/0003_payloads_apart.sql"),
    },
    Migration {
        version: 4,
        name: "resend",
        sql: include_str!("../migrations/0004_resend.sql"),
    },
];

/// Where a delivery is. `Pending` deliveries are worked on by the outbox; `Waiting` ones wait
/// for asynchronous receipts; the rest are final until an operator acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Waiting,
    Delivered,
    Failed,
    Resolved,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Pending,
        State::Waiting,
        State::Delivered,
        State::Failed,
        State::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Waiting => "waiting",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The next thing to do for a pending delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Render the template, build and validate the message, name the files.
    Build,
    /// Upload files and triggers to `/OUT/`.
    Upload,
    /// Wait for `/IN/<file>.sftpreceipt`.
    SftpReceipt,
    /// Call FordelingsobjektAfsend.
    Afsend,
    /// Wait for the asynchronous receipts.
    Receipts,
    Done,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Build,
        Step::Upload,
        Step::SftpReceipt,
        Step::Afsend,
        Step::Receipts,
        Step::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Build => "build",
            Step::Upload => "upload",
            Step::SftpReceipt => "sftp_receipt",
            Step::Afsend => "afsend",
            Step::Receipts => "receipts",
            Step::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

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
    pub routes: Vec<(String, String)>,
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

/// A delivery row, without its request payload.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub id: String,
    pub submission_id: String,
    pub submission_uuid: String,
    pub route_id: String,
    pub tenant_cvr: String,
    pub webform_id: String,
    pub distribution_type: String,
    pub state: String,
    pub step: String,
    pub anvender_transaktions_id: String,
    pub distribution_transaktions_id: Option<String>,
    pub sync_kode: Option<String>,
    pub teknisk_kode: Option<String>,
    pub forretning_kode: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub error_class: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_note: Option<String>,
    /// 1 for the first transaction; one more per resend (see [`Store::resend`]).
    pub transaction_no: i64,
}

impl Delivery {
    /// A span carrying the delivery's ids (never its content), for the log lines about it: a
    /// line logged in it names the delivery, its submission, transaction, municipality and
    /// route. At ERROR level, so a filter that shows warnings shows the ids with them.
    pub fn span(&self) -> tracing::Span {
        tracing::error_span!(
            "delivery",
            delivery_id = %self.id,
            submission_id = %self.submission_id,
            submission_uuid = %self.submission_uuid,
            anvender_transaktions_id = %self.anvender_transaktions_id,
            distribution_transaktions_id = self.distribution_transaktions_id.as_deref().unwrap_or(""),
            tenant_cvr = %self.tenant_cvr,
            webform_id = %self.webform_id,
            route_id = %self.route_id,
        )
    }

    /// A delivery not (yet) stored, about to be built (previews and tests).
    pub fn unsaved(
        submission_uuid: &str,
        webform_id: &str,
        route_id: &str,
        distribution_type: &str,
        tenant_cvr: &str,
        anvender_transaktions_id: &str,
    ) -> Self {
        Self {
            id: "unsaved".into(),
            submission_id: "unsaved".into(),
            submission_uuid: submission_uuid.into(),
            route_id: route_id.into(),
            tenant_cvr: tenant_cvr.into(),
            webform_id: webform_id.into(),
            distribution_type: distribution_type.into(),
            state: State::Pending.as_str().into(),
            step: Step::Build.as_str().into(),
            anvender_transaktions_id: anvender_transaktions_id.into(),
            distribution_transaktions_id: None,
            sync_kode: None,
            teknisk_kode: None,
            forretning_kode: None,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            error_class: None,
            created_at: 0,
            updated_at: 0,
            delivered_at: None,
            resolved_by: None,
            resolved_note: None,
            transaction_no: 1,
        }
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.submission_id, s.submission_uuid, d.route_id, d.tenant_cvr, d.webform_id, \
    d.distribution_type, d.state, d.step, d.anvender_transaktions_id, d.distribution_transaktions_id, d.sync_kode, \
    d.teknisk_kode, d.forretning_kode, d.attempts, d.next_attempt_at, d.last_error, d.error_class, d.created_at, \
    d.updated_at, d.delivered_at, d.resolved_by, d.resolved_note, d.transaction_no";

fn delivery_from_row(r: &sqlx::any::AnyRow) -> Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        id: r.try_get(0)?,
        submission_id: r.try_get(1)?,
        submission_uuid: r.try_get(2)?,
        route_id: r.try_get(3)?,
        tenant_cvr: r.try_get(4)?,
        webform_id: r.try_get(5)?,
        distribution_type: r.try_get(6)?,
        state: r.try_get(7)?,
        step: r.try_get(8)?,
        anvender_transaktions_id: r.try_get(9)?,
        distribution_transaktions_id: r.try_get(10)?,
        sync_kode: r.try_get(11)?,
        teknisk_kode: r.try_get(12)?,
        forretning_kode: r.try_get(13)?,
        attempts: r.try_get(14)?,
        next_attempt_at: r.try_get(15)?,
        last_error: r.try_get(16)?,
        error_class: r.try_get(17)?,
        created_at: r.try_get(18)?,
        updated_at: r.try_get(19)?,
        delivered_at: r.try_get(20)?,
        resolved_by: r.try_get(21)?,
        resolved_note: r.try_get(22)?,
        transaction_no: r.try_get(23)?,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub detail: String,
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
    pub state: String,
    pub transaction_id: String,
}

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

    /// Stores a submission with its files and a delivery per route, atomically: the files'
    /// contents are durable before the rows that refer to them commit.
    pub async fn accept(&self, mut s: NewSubmission) -> anyhow::Result<Accepted> {
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
    ) -> anyhow::Result<Accepted> {
        self.db
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
                             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 'build', $7, $8, $8, $8)",
                            vec![
                                did.as_str().into(),
                                id.as_str().into(),
                                route.as_str().into(),
                                s.tenant_cvr.as_str().into(),
                                s.webform_id.as_str().into(),
                                dtype.as_str().into(),
                                new_id().as_str().into(),
                                now.into(),
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
            .await
    }

    pub async fn known_uuids(
        &self,
        webform_id: &str,
    ) -> anyhow::Result<std::collections::HashSet<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT submission_uuid FROM submissions WHERE webform_id = $1")
                .bind(webform_id)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Claims up to `limit` due pending deliveries for `owner` until `now + lease_ms`.
    /// Expired leases of other owners are taken over: that is how a killed process's work
    /// continues.
    pub async fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
        tenant: Option<&str>,
    ) -> anyhow::Result<Vec<Delivery>> {
        let lock = if self.db.kind() == DbKind::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
               SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) AND ($4 = '' OR tenant_cvr = $4) \
               ORDER BY next_attempt_at LIMIT $5{lock}) \
             RETURNING id"
        );
        let (owner, tenant) = (owner.to_owned(), tenant.unwrap_or("").to_owned());
        let ids: Vec<(String,)> = self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(owner)
                        .bind(now + lease_ms)
                        .bind(now)
                        .bind(tenant)
                        .bind(limit)
                        .fetch_all(&mut *c)
                        .await?)
                })
            })
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE d.id IN ({}) ORDER BY d.next_attempt_at",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id,) in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.db.pool).await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// One statement that changes rows, as a write of its own; returns the rows changed.
    /// `sql` is always our own text; values are bound.
    async fn execute(&self, sql: &'static str, binds: Vec<Bind>) -> anyhow::Result<u64> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let mut q = sqlx::query(sql);
                    for b in binds {
                        q = b.bind_to(q);
                    }
                    Ok(q.execute(&mut *c).await?.rows_affected())
                })
            })
            .await
    }

    /// At start-up: leases this owner held when it was stopped or killed are void.
    pub async fn reclaim(&self, owner: &str) -> anyhow::Result<u64> {
        self.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            vec![owner.into()],
        )
        .await
    }

    /// Gives a claimed delivery back (end of a work step).
    pub async fn release(&self, id: &str, owner: &str) -> anyhow::Result<()> {
        self.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
            vec![id.into(), owner.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn delivery(&self, id: &str) -> anyhow::Result<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| delivery_from_row(&r)).transpose()?)
    }

    /// Deliveries of a submission (by its OS2forms uuid), or the one with this delivery id or
    /// AnvenderTransaktionsID (also one it had before a resend).
    pub async fn find(&self, uuid_or_id: &str) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE s.submission_uuid = $1 OR d.id = $1 OR d.anvender_transaktions_id = $1 \
             OR d.id IN (SELECT delivery_id FROM earlier_transactions WHERE anvender_transaktions_id = $1) ORDER BY d.route_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid_or_id)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn list(
        &self,
        state: Option<State>,
        webform_id: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE ($1 = '' OR d.state = $1) AND ($2 = '' OR d.webform_id = $2) ORDER BY d.created_at DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.map_or("", State::as_str))
            .bind(webform_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Counts per (form, state).
    pub async fn status(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT webform_id, state, COUNT(*) FROM deliveries GROUP BY webform_id, state ORDER BY webform_id, state",
        )
        .fetch_all(&self.db.pool)
        .await?)
    }

    pub async fn events(&self, delivery_id: &str) -> anyhow::Result<Vec<Event>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT at, kind, detail FROM events WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(delivery_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, kind, detail)| Event { at, kind, detail })
            .collect())
    }

    /// The submission's JSON payload (None once purged).
    pub async fn payload(&self, submission_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT payload FROM submissions WHERE id = $1")
                .bind(submission_id)
                .fetch_optional(&self.db.pool)
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
    ) -> anyhow::Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT id, element_key, idx, name, mime, size, file_segment, file_offset FROM attachments WHERE submission_id = $1 ORDER BY element_key, idx",
        )
        .bind(submission_id)
        .fetch_all(&self.db.pool)
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
    pub async fn content(&self, a: &Attachment) -> anyhow::Result<Option<Vec<u8>>> {
        match &a.segment {
            Some((segment, offset)) => self.files.read(segment, *offset, a.size).await,
            None => self.attachment_data(&a.id).await,
        }
    }

    /// One file's content (`None` once purged, or when its stored file is gone).
    pub async fn attachment_data(&self, attachment_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT size, data, file_segment, file_offset FROM attachments WHERE id = $1",
        )
        .bind(attachment_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if let Some(data) = row.try_get::<Option<Vec<u8>>, _>(1)? {
            return Ok(Some(data));
        }
        match (row.try_get::<Option<String>, _>(2)?, row.try_get(3)?) {
            (Some(segment), Some(offset)) => {
                self.files.read(&segment, offset, row.try_get(0)?).await
            }
            _ => Ok(None),
        }
    }

    /// The stored request of a delivery (built once, sent the same on every attempt).
    pub async fn request(&self, delivery_id: &str) -> anyhow::Result<Option<StoredRequest>> {
        let row = sqlx::query(
            "SELECT request, inline_attachment_id, inline_at FROM delivery_requests WHERE delivery_id = $1",
        )
        .bind(delivery_id)
        .fetch_optional(&self.db.pool)
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
                at: usize::try_from(at)?,
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
    ) -> anyhow::Result<Saved> {
        let id = d.id.clone();
        self.db
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
                                .bind(&f.state)
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
            .await
    }

    pub async fn delivery_files(&self, delivery_id: &str) -> anyhow::Result<Vec<DeliveryFile>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT attachment_id, remote_name, state, transaction_id FROM delivery_files WHERE delivery_id = $1 ORDER BY remote_name",
        )
        .bind(delivery_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(attachment_id, remote_name, state, transaction_id)| DeliveryFile {
                    attachment_id,
                    remote_name,
                    state,
                    transaction_id,
                },
            )
            .collect())
    }

    pub async fn set_file_state(
        &self,
        delivery_id: &str,
        attachment_id: &str,
        state: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        self.execute(
            "UPDATE delivery_files SET state = $1, receipt_error = $2 WHERE delivery_id = $3 AND attachment_id = $4",
            vec![
                state.into(),
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
        file_state: &'static str,
        step: Step,
        kind: &'static str,
        detail: String,
    ) -> anyhow::Result<bool> {
        let id = delivery_id.to_owned();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let moved = step_to(c, &id, step, now, kind, &detail).await?;
                    for batch in attachment_ids.chunks(ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "UPDATE delivery_files SET state = $1 WHERE delivery_id = $2 AND attachment_id IN ({})",
                            marks(3, batch.len())
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(file_state).bind(&id);
                        for a in batch {
                            q = q.bind(a);
                        }
                        q.execute(&mut *c).await?;
                    }
                    Ok(moved)
                })
            })
            .await
    }

    /// Records the synchronous answer of an accepted FordelingsobjektAfsend, starts waiting
    /// for the receipts, and settles at once if they came first, in one transaction.
    pub async fn afsend_accepted(
        &self,
        id: &str,
        distribution_id: Option<String>,
        kode: &'static str,
        wait_for_forretning: bool,
    ) -> anyhow::Result<Option<State>> {
        let id = id.to_owned();
        let settled = self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let codes: Option<Codes> = sqlx::query_as(
                        "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, state = 'waiting', step = 'receipts', \
                         updated_at = $3, next_attempt_at = $3, last_error = NULL, error_class = NULL WHERE id = $4 \
                         RETURNING sync_kode, teknisk_kode, forretning_kode",
                    )
                    .bind(&distribution_id)
                    .bind(kode)
                    .bind(now)
                    .bind(&id)
                    .fetch_optional(&mut *c)
                    .await?;
                    let Some(codes) = codes else {
                        return Ok(None);
                    };
                    let detail = format!(
                        "{kode}, DistributionTransktionsID {}",
                        distribution_id.as_deref().unwrap_or("")
                    );
                    insert_event(c, &id, now, "afsend", &detail).await?;
                    Ok(Some(settle_with(c, &id, codes, wait_for_forretning).await?))
                })
            })
            .await?;
        Ok(count_settled(settled))
    }

    /// Looks again later without counting an attempt (polling for an SFTP receipt).
    pub async fn reschedule(&self, id: &str, at: i64) -> anyhow::Result<()> {
        self.execute(
            "UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2",
            vec![at.into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// Settles a waiting delivery from the codes it has (see [`settle_in`]); the outbox sweeps
    /// with this for deliveries a stopped process left with codes but unsettled.
    pub async fn settle(
        &self,
        id: &str,
        wait_for_forretning: bool,
    ) -> anyhow::Result<Option<State>> {
        let id = id.to_owned();
        let settled = self
            .db
            .write(move |c| Box::pin(async move { settle_in(c, &id, wait_for_forretning).await }))
            .await?;
        Ok(count_settled(settled))
    }

    /// Records the synchronous answer of FordelingsobjektAfsend.
    pub async fn record_afsend(
        &self,
        id: &str,
        distribution_id: Option<&str>,
        kode: &str,
    ) -> anyhow::Result<()> {
        self.execute(
            "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, updated_at = $3 WHERE id = $4",
            vec![
                Bind::MaybeText(distribution_id.map(Into::into)),
                kode.into(),
                now_ms().into(),
                id.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// A failed attempt: either retried at `retry_at`, or (None) final until an operator acts.
    pub async fn fail(
        &self,
        id: &str,
        class: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> anyhow::Result<()> {
        let (id, class, error) = (id.to_owned(), class.to_owned(), error.to_owned());
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let state = if retry_at.is_some() {
                        State::Pending
                    } else {
                        State::Failed
                    };
                    sqlx::query(
                        "UPDATE deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, error_class = $4, \
                         updated_at = $5 WHERE id = $6",
                    )
                    .bind(state.as_str())
                    .bind(retry_at.unwrap_or(now))
                    .bind(&error)
                    .bind(&class)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *c)
                    .await?;
                    let kind = if retry_at.is_some() {
                        "retry"
                    } else {
                        "failed"
                    };
                    insert_event(c, &id, now, kind, &format!("{class}: {error}")).await
                })
            })
            .await
    }

    /// Stores an asynchronous receipt and decides what it may do, in one transaction:
    ///
    /// - Every receipt is stored (also repeats, unknown ids and refused ones), for the record.
    /// - One whose AfsendendeMyndighed or DistributionTransktionsID is not the delivery's is
    ///   refused: a misrouted receipt must not settle another municipality's delivery.
    /// - Only Teknisk and Forretning receipts of the delivery's current transaction, while it is
    ///   pending or waiting, change it (its code noted in the timeline when new, then settled).
    /// - A receipt for an earlier transaction (before a resend), after settlement, or of
    ///   another type (Digital post) is written to the timeline and changes nothing.
    ///
    /// A repeat is applied too: its first arrival may have been stored but not applied when an
    /// older version stopped, and applying a code again is harmless.
    pub async fn receive_receipt(
        &self,
        receipt: Receipt,
        wait_for_forretning: bool,
    ) -> anyhow::Result<ReceiptOutcome> {
        let (outcome, settled) = self
            .db
            .write(move |c| {
                Box::pin(async move { receipt_in(c, receipt, wait_for_forretning).await })
            })
            .await?;
        count_settled(settled);
        Ok(outcome)
    }

    /// Operator: send again, with the same AnvenderTransaktionsID, from where it stopped. A
    /// delivery that failed on a receipt (or waits for one) goes back to the call, without the
    /// codes of that attempt, so it settles on the new answers alone.
    pub async fn retry(&self, id: &str, by: &str) -> anyhow::Result<bool> {
        self.operator_action(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, attempts = 0, lease_until = NULL, updated_at = $1, \
             sync_kode = CASE WHEN step IN ('receipts', 'done') THEN NULL ELSE sync_kode END, \
             teknisk_kode = CASE WHEN step IN ('receipts', 'done') THEN NULL ELSE teknisk_kode END, \
             forretning_kode = CASE WHEN step IN ('receipts', 'done') THEN NULL ELSE forretning_kode END, \
             step = CASE WHEN step IN ('receipts', 'done') THEN 'afsend' ELSE step END \
             WHERE id = $2 AND state IN ('failed', 'waiting', 'pending')",
            id,
            Vec::new(),
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
    pub async fn resend(&self, id: &str, by: &str) -> anyhow::Result<Resend> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.db
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
                        return Ok(Resend::NotFound);
                    };
                    let state = State::parse(&state).unwrap_or(State::Failed);
                    if !matches!(state, State::Failed | State::Waiting | State::Pending) {
                        return Ok(Resend::Settled(state));
                    }
                    if lease.is_some_and(|until| until >= now) {
                        return Ok(Resend::Busy);
                    }
                    if purged.is_some() {
                        return Ok(Resend::Purged);
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
                        "UPDATE deliveries SET anvender_transaktions_id = $1, transaction_no = transaction_no + 1, state = 'pending', \
                         step = 'build', distribution_transaktions_id = NULL, sync_kode = NULL, teknisk_kode = NULL, forretning_kode = NULL, \
                         attempts = 0, next_attempt_at = $2, lease_owner = NULL, lease_until = NULL, last_error = NULL, error_class = NULL, \
                         updated_at = $2 WHERE id = $3",
                    )
                    .bind(&new)
                    .bind(now)
                    .bind(&id)
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
                    Ok(Resend::Resent { old, new })
                })
            })
            .await
    }

    /// Operator: handled outside the Fordeler; no more attempts. Attributed and noted.
    pub async fn resolve(&self, id: &str, by: &str, note: &str) -> anyhow::Result<bool> {
        self.operator_action(
            "UPDATE deliveries SET state = 'resolved', resolved_by = $3, resolved_note = $4, updated_at = $1 \
             WHERE id = $2 AND state IN ('failed', 'waiting', 'pending')",
            id,
            vec![by.into(), note.into()],
            "resolved",
            format!("by {by}: {note}"),
        )
        .await
    }

    /// An operator's change of one delivery (`sql` binds $1 = now, $2 = id, then `binds`),
    /// noted in its timeline when it applied. False when the delivery's state does not allow it.
    async fn operator_action(
        &self,
        sql: &'static str,
        id: &str,
        binds: Vec<Bind>,
        kind: &'static str,
        detail: String,
    ) -> anyhow::Result<bool> {
        let id = id.to_owned();
        self.db
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
            .await
    }

    /// Waiting deliveries that already have receipt codes: a process stopped between storing a
    /// code and settling leaves these behind; settling them again is harmless.
    pub async fn unsettled(&self) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM deliveries WHERE state = 'waiting' AND (teknisk_kode IS NOT NULL OR forretning_kode IS NOT NULL)",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Waiting deliveries whose receipts are overdue.
    pub async fn overdue_waiting(&self, older_than: i64) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM deliveries WHERE state = 'waiting' AND updated_at < $1")
                .bind(older_than)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Deletes payloads (form data, files, built requests) of submissions whose deliveries are
    /// all final and older than `before`. Metadata and timelines stay. Returns how many.
    /// The deleted values are then erased from the database's files too (SQLite: zeroed pages,
    /// an emptied WAL; PostgreSQL: a VACUUM), and file contents from their segments.
    pub async fn purge(&self, before: i64) -> anyhow::Result<u64> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT s.id FROM submissions s WHERE s.payload_purged_at IS NULL AND NOT EXISTS (\
               SELECT 1 FROM deliveries d WHERE d.submission_id = s.id AND (d.state NOT IN ('delivered', 'resolved') OR d.updated_at >= $1))",
        )
        .bind(before)
        .fetch_all(&self.db.pool)
        .await?;
        for (submission_id,) in &ids {
            let id = submission_id.clone();
            let stored: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT file_segment, file_offset, size FROM attachments WHERE submission_id = $1 AND file_segment IS NOT NULL AND file_offset IS NOT NULL",
            )
            .bind(&id)
            .fetch_all(&self.db.pool)
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

    /// Tidies the segment files created at least `min_age` ago: deletes those no committed
    /// row refers to any more (purged, or left by a crash), and frees the bytes in the others
    /// that no row refers to. Returns how many segments were deleted.
    pub async fn sweep_orphan_files(&self, min_age: std::time::Duration) -> anyhow::Result<u64> {
        self.files
            .sweep(min_age, |segment| async move {
                let live: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT file_offset, size FROM attachments WHERE file_segment = $1 AND file_offset IS NOT NULL",
                )
                .bind(segment)
                .fetch_all(&self.db.pool)
                .await?;
                Ok(live)
            })
            .await
    }
}

/// An asynchronous receipt as it arrived (codes as the protocol spells them).
#[derive(Debug, Clone)]
pub struct Receipt {
    pub anvender_transaktions_id: String,
    pub distribution_transaktions_id: Option<String>,
    /// The CVR the receipt says sent the object; must be the delivery's tenant.
    pub afsendende_myndighed: String,
    pub kvitteringstype: String,
    pub kode: String,
    pub begrundelse: Option<String>,
}

/// What [`Store::receive_receipt`] did with a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Applied to the delivery's current transaction; `duplicate`: this code came before.
    Applied {
        delivery_id: String,
        duplicate: bool,
    },
    /// Written to the delivery's timeline only; `why` says why it changed nothing.
    Recorded {
        delivery_id: String,
        why: &'static str,
    },
    /// Not the delivery's: `what` names the field that differs (no values).
    Refused {
        delivery_id: String,
        what: &'static str,
    },
    /// No delivery has, or had, this AnvenderTransaktionsID.
    Unknown,
}

/// What [`Store::resend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    Resent {
        old: String,
        new: String,
    },
    NotFound,
    /// Delivered or resolved: not sent again.
    Settled(State),
    /// A worker holds it right now; try again in a moment.
    Busy,
    /// Its payload was purged: there is nothing to build from.
    Purged,
}

/// Why a Digital post receipt (or any type but Teknisk and Forretning) changes nothing.
const OTHER_TYPE: &str = "only Teknisk and Forretning receipts move a delivery";

/// [`Store::receive_receipt`] inside its write; returns the outcome and any settlement.
async fn receipt_in(
    c: &mut AnyConnection,
    r: Receipt,
    wait_for_forretning: bool,
) -> anyhow::Result<(ReceiptOutcome, Option<(State, bool)>)> {
    let now = now_ms();
    let current: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, tenant_cvr, state, distribution_transaktions_id FROM deliveries WHERE anvender_transaktions_id = $1",
    )
    .bind(&r.anvender_transaktions_id)
    .fetch_optional(&mut *c)
    .await?;
    let (delivery_id, tenant_cvr, state, distribution, earlier) = match current {
        Some((id, cvr, state, dist)) => (id, cvr, State::parse(&state), dist, false),
        None => {
            let earlier: Option<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT e.delivery_id, d.tenant_cvr, e.distribution_transaktions_id FROM earlier_transactions e \
                 JOIN deliveries d ON d.id = e.delivery_id WHERE e.anvender_transaktions_id = $1",
            )
            .bind(&r.anvender_transaktions_id)
            .fetch_optional(&mut *c)
            .await?;
            match earlier {
                Some((id, cvr, dist)) => (id, cvr, None, dist, true),
                None => {
                    store_receipt(c, &r, None, now).await?;
                    return Ok((ReceiptOutcome::Unknown, None));
                }
            }
        }
    };
    let refused = if r.afsendende_myndighed != tenant_cvr {
        Some("AfsendendeMyndighed")
    } else if matches!((&r.distribution_transaktions_id, &distribution), (Some(a), Some(b)) if a != b)
    {
        Some("DistributionTransktionsID")
    } else {
        None
    };
    if let Some(what) = refused {
        // Kept apart from the delivery's receipts (no delivery_id), noted in its timeline.
        store_receipt(c, &r, None, now).await?;
        let detail = format!(
            "{} {} refused: its {what} is not this delivery's",
            r.kvitteringstype, r.kode
        );
        insert_event(c, &delivery_id, now, "receipt_refused", &detail).await?;
        return Ok((ReceiptOutcome::Refused { delivery_id, what }, None));
    }
    let duplicate = store_receipt(c, &r, Some(&delivery_id), now).await?;
    let column = match r.kvitteringstype.as_str() {
        "Teknisk" => Some("teknisk_kode"),
        "Forretning" => Some("forretning_kode"),
        _ => None,
    };
    let why = if earlier {
        Some("for an earlier transaction of this delivery")
    } else if column.is_none() {
        Some(OTHER_TYPE)
    } else if !matches!(state, Some(State::Pending | State::Waiting)) {
        Some("the delivery was already settled")
    } else {
        None
    };
    let mut detail = format!("{} {}", r.kvitteringstype, r.kode);
    if let Some(b) = &r.begrundelse {
        detail.push_str(&format!(": {b}"));
    }
    let column = match (why, column) {
        (None, Some(column)) => column,
        (why, _) => {
            let why = why.unwrap_or(OTHER_TYPE);
            if !duplicate {
                let detail = format!(
                    "{detail} (AnvenderTransaktionsID {}): recorded, not applied: {why}",
                    r.anvender_transaktions_id
                );
                insert_event(c, &delivery_id, now, "receipt_not_applied", &detail).await?;
            }
            return Ok((ReceiptOutcome::Recorded { delivery_id, why }, None));
        }
    };
    let (state, sync, teknisk, forretning): (String, _, _, _) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE deliveries SET {column} = $1, updated_at = $2 WHERE id = $3 \
             RETURNING state, sync_kode, teknisk_kode, forretning_kode"
        )))
        .bind(&r.kode)
        .bind(now)
        .bind(&delivery_id)
        .fetch_one(&mut *c)
        .await?;
    if !duplicate {
        insert_event(c, &delivery_id, now, "receipt", &detail).await?;
    }
    let settled = if state == State::Waiting.as_str() {
        Some(
            settle_with(
                c,
                &delivery_id,
                (sync, teknisk, forretning),
                wait_for_forretning,
            )
            .await?,
        )
    } else {
        None
    };
    Ok((
        ReceiptOutcome::Applied {
            delivery_id,
            duplicate,
        },
        settled,
    ))
}

/// Stores a receipt as it arrived; true when the same code came before for this id.
async fn store_receipt(
    c: &mut AnyConnection,
    r: &Receipt,
    delivery_id: Option<&str>,
    now: i64,
) -> anyhow::Result<bool> {
    let (duplicate,): (i64,) = sqlx::query_as(
        "INSERT INTO receipts (delivery_id, anvender_transaktions_id, distribution_transaktions_id, kvitteringstype, kode, begrundelse, received_at, duplicate) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, \
         CASE WHEN EXISTS (SELECT 1 FROM receipts WHERE anvender_transaktions_id = $2 AND kvitteringstype = $4 AND kode = $5) THEN 1 ELSE 0 END) \
         RETURNING duplicate",
    )
    .bind(delivery_id)
    .bind(&r.anvender_transaktions_id)
    .bind(&r.distribution_transaktions_id)
    .bind(&r.kvitteringstype)
    .bind(&r.kode)
    .bind(&r.begrundelse)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(duplicate != 0)
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

/// Decides a waiting delivery from the codes it has, inside the caller's write: a failure
/// code in either receipt fails it; success in the Forretning receipt (or, when not waiting
/// for it, the synchronous answer) delivers it. Both the outbox (after afsend) and the receipt
/// endpoint (after a receipt) settle in the transaction that stored their code, after storing
/// it, so whichever commits second sees both and settles: a receipt may well arrive before
/// the synchronous answer has been recorded. Returns the state, and whether this call moved it.
async fn settle_in(
    c: &mut AnyConnection,
    id: &str,
    wait_for_forretning: bool,
) -> anyhow::Result<Option<(State, bool)>> {
    let row: Option<Codes> = sqlx::query_as(
        "SELECT sync_kode, teknisk_kode, forretning_kode FROM deliveries WHERE id = $1 AND state = 'waiting'",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(codes) = row else {
        return Ok(None);
    };
    Ok(Some(settle_with(c, id, codes, wait_for_forretning).await?))
}

/// A delivery's synchronous, Teknisk and Forretning codes.
type Codes = (Option<String>, Option<String>, Option<String>);

/// [`settle_in`] for a waiting delivery whose codes the caller has just read.
async fn settle_with(
    c: &mut AnyConnection,
    id: &str,
    (sync, teknisk, forretning): Codes,
    wait_for_forretning: bool,
) -> anyhow::Result<(State, bool)> {
    let failed = |k: &Option<String>| matches!(k.as_deref(), Some("AFVIST" | "FEJLET"));
    let ok =
        |k: &Option<String>| matches!(k.as_deref(), Some("MODTAGET" | "AFLEVERET" | "ACCEPTERET"));
    let (state, detail) = if failed(&teknisk) || failed(&forretning) {
        let (which, kode) = if failed(&teknisk) {
            ("Teknisk", &teknisk)
        } else {
            ("Forretning", &forretning)
        };
        (
            State::Failed,
            format!("{which} receipt {}", kode.as_deref().unwrap_or("")),
        )
    } else if (wait_for_forretning && ok(&forretning)) || (!wait_for_forretning && ok(&sync)) {
        (
            State::Delivered,
            "the platform confirmed delivery".to_owned(),
        )
    } else {
        return Ok((State::Waiting, false));
    };
    let now = now_ms();
    // On PostgreSQL a concurrent settlement (the sweep read without a row lock) may have won:
    // then it wrote the timeline entry, and this one writes nothing.
    let moved = change_with_event(
        c,
        "UPDATE deliveries SET state = $1, step = 'done', updated_at = $2, \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE delivered_at END, \
         last_error = CASE WHEN $1 = 'failed' THEN $3 ELSE NULL END, \
         error_class = CASE WHEN $1 = 'failed' THEN 'rejected' ELSE NULL END \
         WHERE id = $4 AND state = 'waiting'",
        vec![
            state.as_str().into(),
            now.into(),
            detail.as_str().into(),
            id.into(),
        ],
        NewEvent {
            delivery_id: id,
            at: now,
            kind: state.as_str(),
            detail: &detail,
        },
        Record::IfChanged,
    )
    .await?;
    Ok((state, moved > 0))
}

/// Counts a settlement once it is committed; returns the state.
fn count_settled(settled: Option<(State, bool)>) -> Option<State> {
    if let Some((state, true)) = settled {
        metrics::counter!("fordeler_deliveries_settled_total", "state" => state.as_str())
            .increment(1);
    }
    settled.map(|(s, _)| s)
}

/// Moves a pending delivery on to `step`, due at once, with its last error cleared, and
/// writes `kind: detail` to its timeline; false when it is no longer pending (an operator
/// resolved it meanwhile), so the worker stops instead of going on to the next step.
async fn step_to(
    c: &mut AnyConnection,
    id: &str,
    step: Step,
    now: i64,
    kind: &str,
    detail: &str,
) -> anyhow::Result<bool> {
    let moved = change_with_event(
        c,
        "UPDATE deliveries SET step = $1, next_attempt_at = $2, updated_at = $2, last_error = NULL, error_class = NULL \
         WHERE id = $3 AND state = 'pending'",
        vec![step.as_str().into(), now.into(), id.into()],
        NewEvent {
            delivery_id: id,
            at: now,
            kind,
            detail,
        },
        Record::Always,
    )
    .await?;
    Ok(moved == 1)
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

/// An entry for a delivery's timeline.
struct NewEvent<'a> {
    delivery_id: &'a str,
    at: i64,
    kind: &'a str,
    detail: &'a str,
}

/// When [`change_with_event`] writes its timeline entry.
#[derive(Clone, Copy, PartialEq)]
enum Record {
    Always,
    /// Only when the statement changed a row.
    IfChanged,
}

/// Runs `sql` (one statement that changes at most one row, with binds `$1…`) and writes
/// `event` to the timeline; returns the rows `sql` changed. On SQLite both go to the database
/// in one call: every call is a round trip to the connection's worker thread, and the
/// timeline gets an entry for nearly every change.
async fn change_with_event(
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

async fn insert_event(
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
    pub async fn backlog(&self) -> anyhow::Result<Vec<Backlog>> {
        let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT tenant_cvr, COUNT(CASE WHEN state = 'failed' THEN 1 END), \
             COUNT(CASE WHEN state <> 'failed' THEN 1 END), \
             MIN(CASE WHEN state <> 'failed' THEN created_at END) \
             FROM deliveries WHERE state IN ('failed', 'pending', 'waiting') \
             GROUP BY tenant_cvr ORDER BY tenant_cvr",
        )
        .fetch_all(&self.db.pool)
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
