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

use service_kit::db::{Db, DbKind, Migration, now_ms};
use sqlx::Row as _;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../migrations/0001_init.sql"),
}];

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
}

const DELIVERY_COLUMNS: &str = "d.id, d.submission_id, s.submission_uuid, d.route_id, d.tenant_cvr, d.webform_id, \
    d.distribution_type, d.state, d.step, d.anvender_transaktions_id, d.distribution_transaktions_id, d.sync_kode, \
    d.teknisk_kode, d.forretning_kode, d.attempts, d.next_attempt_at, d.last_error, d.error_class, d.created_at, \
    d.updated_at, d.delivered_at, d.resolved_by, d.resolved_note";

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
        }
    }
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
}

pub fn new_id() -> String {
    sf2900::Uuid::new_v4().to_string()
}

impl Store {
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate(MIGRATIONS).await?;
        Ok(Self { db })
    }

    pub fn from_db(db: Db) -> Self {
        Self { db }
    }

    /// Stores a submission with its files and a delivery per route, atomically.
    pub async fn accept(&self, s: NewSubmission) -> anyhow::Result<Accepted> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        let id = new_id();
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let (existing,): (String,) = sqlx::query_as(
                "SELECT id FROM submissions WHERE webform_id = $1 AND submission_uuid = $2",
            )
            .bind(&s.webform_id)
            .bind(&s.submission_uuid)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(Accepted::Duplicate {
                submission_id: existing,
            });
        }
        for a in &s.attachments {
            sqlx::query(
                "INSERT INTO attachments (id, submission_id, element_key, idx, name, mime, size, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(&a.element_key)
            .bind(a.idx)
            .bind(&a.name)
            .bind(&a.mime)
            .bind(a.data.len() as i64)
            .bind(&a.data)
            .execute(&mut *tx)
            .await?;
        }
        for (route, dtype) in &s.routes {
            let did = new_id();
            sqlx::query(
                "INSERT INTO deliveries (id, submission_id, route_id, tenant_cvr, webform_id, distribution_type, state, step, \
                 anvender_transaktions_id, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 'build', $7, $8, $9, $10)",
            )
            .bind(&did)
            .bind(&id)
            .bind(route)
            .bind(&s.tenant_cvr)
            .bind(&s.webform_id)
            .bind(dtype)
            .bind(new_id())
            .bind(now)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_event(&mut tx, &did, now, "received", &format!("via {}", s.source)).await?;
        }
        tx.commit().await?;
        Ok(Accepted::New {
            submission_id: id,
            deliveries: s.routes.len(),
        })
    }

    /// The submission uuids already stored for a form (polling skips them).
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
        let now = now_ms();
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
        let ids: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .bind(tenant.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.db.pool)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            if let Some(d) = self.delivery(&id).await? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// At start-up: leases this owner held when it was stopped or killed are void.
    pub async fn reclaim(&self, owner: &str) -> anyhow::Result<u64> {
        Ok(sqlx::query(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.db.pool)
        .await?
        .rows_affected())
    }

    /// Gives a claimed delivery back (end of a work step).
    pub async fn release(&self, id: &str, owner: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.db.pool)
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

    pub async fn delivery_by_transaction(
        &self,
        anvender_transaktions_id: &str,
    ) -> anyhow::Result<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.anvender_transaktions_id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(anvender_transaktions_id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| delivery_from_row(&r)).transpose()?)
    }

    /// Deliveries of a submission (by its OS2forms uuid), or the one with this delivery id.
    pub async fn find(&self, uuid_or_id: &str) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id \
             WHERE s.submission_uuid = $1 OR d.id = $1 OR d.anvender_transaktions_id = $1 ORDER BY d.route_id"
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

    pub async fn event(&self, delivery_id: &str, kind: &str, detail: &str) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        sqlx::query("INSERT INTO events (delivery_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(delivery_id)
            .bind(now_ms())
            .bind(kind)
            .bind(detail)
            .execute(&mut *conn)
            .await?;
        Ok(())
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
    /// only where they are needed).
    pub async fn attachments(
        &self,
        submission_id: &str,
        wanted: impl Fn(&Attachment) -> bool,
    ) -> anyhow::Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT id, element_key, idx, name, mime, size FROM attachments WHERE submission_id = $1 ORDER BY element_key, idx",
        )
        .bind(submission_id)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(Attachment {
                    id: r.try_get(0)?,
                    element_key: r.try_get(1)?,
                    idx: r.try_get(2)?,
                    name: r.try_get(3)?,
                    mime: r.try_get(4)?,
                    size: r.try_get(5)?,
                    data: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        for a in out.iter_mut().filter(|a| wanted(a)) {
            let (data,): (Option<Vec<u8>>,) =
                sqlx::query_as("SELECT data FROM attachments WHERE id = $1")
                    .bind(&a.id)
                    .fetch_one(&self.db.pool)
                    .await?;
            a.data = data.unwrap_or_default();
        }
        Ok(out)
    }

    /// The stored request envelope of a delivery (built once, sent as is on every attempt).
    pub async fn request(&self, delivery_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT request FROM deliveries WHERE id = $1")
                .bind(delivery_id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.and_then(|(p,)| p))
    }

    /// Stores the built request and the files' remote names; moves on to `next`.
    pub async fn save_built(
        &self,
        d: &Delivery,
        request: &[u8],
        files: &[DeliveryFile],
        next: Step,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("UPDATE deliveries SET request = $1, step = $2, updated_at = $3, last_error = NULL, error_class = NULL WHERE id = $4")
            .bind(request)
            .bind(next.as_str())
            .bind(now)
            .bind(&d.id)
            .execute(&mut *tx)
            .await?;
        for f in files {
            sqlx::query(
                "INSERT INTO delivery_files (delivery_id, attachment_id, remote_name, state, transaction_id) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (delivery_id, attachment_id) DO NOTHING",
            )
            .bind(&d.id)
            .bind(&f.attachment_id)
            .bind(&f.remote_name)
            .bind(&f.state)
            .bind(&f.transaction_id)
            .execute(&mut *tx)
            .await?;
        }
        insert_event(
            &mut tx,
            &d.id,
            now,
            "built",
            &format!("{} file(s) to upload", files.len()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
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
        sqlx::query("UPDATE delivery_files SET state = $1, receipt_error = $2 WHERE delivery_id = $3 AND attachment_id = $4")
            .bind(state)
            .bind(error)
            .bind(delivery_id)
            .bind(attachment_id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Moves a delivery on: new step (and state), clearing errors, with a timeline entry.
    pub async fn advance(
        &self,
        id: &str,
        state: State,
        step: Step,
        next_attempt_at: i64,
        kind: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET state = $1, step = $2, next_attempt_at = $3, updated_at = $4, last_error = NULL, error_class = NULL, \
             delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(step.as_str())
        .bind(next_attempt_at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, id, now, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks files with a new state and moves the delivery on, in one transaction.
    pub async fn files_done(
        &self,
        delivery_id: &str,
        attachment_ids: &[String],
        file_state: &str,
        step: Step,
        kind: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET step = $1, next_attempt_at = $2, updated_at = $2, last_error = NULL, error_class = NULL WHERE id = $3",
        )
        .bind(step.as_str())
        .bind(now)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        for a in attachment_ids {
            sqlx::query("UPDATE delivery_files SET state = $1 WHERE delivery_id = $2 AND attachment_id = $3")
                .bind(file_state)
                .bind(delivery_id)
                .bind(a)
                .execute(&mut *tx)
                .await?;
        }
        insert_event(&mut tx, delivery_id, now, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the synchronous answer of an accepted FordelingsobjektAfsend and starts waiting
    /// for the receipts, in one transaction.
    pub async fn afsend_accepted(
        &self,
        id: &str,
        distribution_id: Option<&str>,
        kode: &str,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, state = 'waiting', step = 'receipts', \
             updated_at = $3, next_attempt_at = $3, last_error = NULL, error_class = NULL WHERE id = $4",
        )
        .bind(distribution_id)
        .bind(kode)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            id,
            now,
            "afsend",
            &format!(
                "{kode}, DistributionTransktionsID {}",
                distribution_id.unwrap_or("")
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a receipt's code to its delivery (and notes it in the timeline when new).
    pub async fn apply_receipt(
        &self,
        id: &str,
        kvitteringstype: &str,
        kode: &str,
        event: Option<&str>,
    ) -> anyhow::Result<()> {
        let column = if kvitteringstype == "Teknisk" {
            "teknisk_kode"
        } else {
            "forretning_kode"
        };
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE deliveries SET {column} = $1, updated_at = $2 WHERE id = $3"
        )))
        .bind(kode)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(detail) = event {
            insert_event(&mut tx, id, now, "receipt", detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Looks again later without counting an attempt (polling for an SFTP receipt).
    pub async fn reschedule(&self, id: &str, at: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Decides a waiting delivery from the codes it has: a failure code in either receipt fails
    /// it; success in the Forretning receipt (or, when not waiting for it, the synchronous
    /// answer) delivers it. Both the outbox (after afsend) and the receipt endpoint (after a
    /// receipt) call this after their own write, so whichever comes second settles it — a
    /// receipt may well arrive before the synchronous answer has been recorded.
    pub async fn settle(
        &self,
        id: &str,
        wait_for_forretning: bool,
    ) -> anyhow::Result<Option<State>> {
        let now = now_ms();
        // Read outside a transaction, then write under a condition that the codes are still
        // the ones read: a transaction that reads before it writes cannot take SQLite's write
        // lock once another writer has committed (SQLITE_BUSY_SNAPSHOT), and if the codes did
        // change, the writer that changed them settles after us.
        type Codes = (String, Option<String>, Option<String>, Option<String>);
        let row: Option<Codes> = sqlx::query_as(
            "SELECT state, sync_kode, teknisk_kode, forretning_kode FROM deliveries WHERE id = $1 AND state = 'waiting'",
        )
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((_, sync, teknisk, forretning)) = row else {
            return Ok(None);
        };
        let failed = |k: &Option<String>| matches!(k.as_deref(), Some("AFVIST" | "FEJLET"));
        let ok = |k: &Option<String>| {
            matches!(k.as_deref(), Some("MODTAGET" | "AFLEVERET" | "ACCEPTERET"))
        };
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
            return Ok(Some(State::Waiting));
        };
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET state = $1, step = 'done', updated_at = $2, \
             delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE delivered_at END, \
             last_error = CASE WHEN $1 = 'failed' THEN $3 ELSE NULL END, \
             error_class = CASE WHEN $1 = 'failed' THEN 'rejected' ELSE NULL END \
             WHERE id = $4 AND state = 'waiting' AND COALESCE(sync_kode, '') = $5 \
             AND COALESCE(teknisk_kode, '') = $6 AND COALESCE(forretning_kode, '') = $7",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(&detail)
        .bind(id)
        .bind(sync.unwrap_or_default())
        .bind(teknisk.unwrap_or_default())
        .bind(forretning.unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_event(&mut tx, id, now, state.as_str(), &detail).await?;
        }
        tx.commit().await?;
        if n > 0 {
            metrics::counter!("fordeler_deliveries_settled_total", "state" => state.as_str())
                .increment(1);
        }
        Ok(Some(state))
    }

    /// Records the synchronous answer of FordelingsobjektAfsend.
    pub async fn record_afsend(
        &self,
        id: &str,
        distribution_id: Option<&str>,
        kode: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, updated_at = $3 WHERE id = $4")
            .bind(distribution_id)
            .bind(kode)
            .bind(now_ms())
            .bind(id)
            .execute(&self.db.pool)
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
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
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
        .bind(error)
        .bind(class)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let kind = if retry_at.is_some() {
            "retry"
        } else {
            "failed"
        };
        insert_event(&mut tx, id, now, kind, &format!("{class}: {error}")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an asynchronous receipt. Returns the delivery it belongs to (None: unknown id)
    /// and whether it repeats one already received.
    pub async fn record_receipt(
        &self,
        anvender_id: &str,
        distribution_id: Option<&str>,
        kvitteringstype: &str,
        kode: &str,
        begrundelse: Option<&str>,
    ) -> anyhow::Result<(Option<Delivery>, bool)> {
        let delivery = self.delivery_by_transaction(anvender_id).await?;
        let (seen,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM receipts WHERE anvender_transaktions_id = $1 AND kvitteringstype = $2 AND kode = $3",
        )
        .bind(anvender_id)
        .bind(kvitteringstype)
        .bind(kode)
        .fetch_one(&self.db.pool)
        .await?;
        sqlx::query(
            "INSERT INTO receipts (delivery_id, anvender_transaktions_id, distribution_transaktions_id, kvitteringstype, kode, begrundelse, received_at, duplicate) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(delivery.as_ref().map(|d| d.id.clone()))
        .bind(anvender_id)
        .bind(distribution_id)
        .bind(kvitteringstype)
        .bind(kode)
        .bind(begrundelse)
        .bind(now_ms())
        .bind(i64::from(seen > 0))
        .execute(&self.db.pool)
        .await?;
        Ok((delivery, seen > 0))
    }

    /// already delivered is sent again with new ids.
    pub async fn retry(&self, id: &str, by: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, attempts = 0, lease_until = NULL, updated_at = $1, \
             step = CASE WHEN step = 'receipts' THEN 'afsend' ELSE step END WHERE id = $2 AND state IN ('failed', 'waiting', 'pending')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_event(&mut tx, id, now, "retry_requested", &format!("by {by}")).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Operator: handled outside the Fordeler; no more attempts. Attributed and noted.
    pub async fn resolve(&self, id: &str, by: &str, note: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'resolved', resolved_by = $1, resolved_note = $2, updated_at = $3 \
             WHERE id = $4 AND state IN ('failed', 'waiting', 'pending')",
        )
        .bind(by)
        .bind(note)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_event(&mut tx, id, now, "resolved", &format!("by {by}: {note}")).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
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
    pub async fn purge(&self, before: i64) -> anyhow::Result<u64> {
        let now = now_ms();
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT s.id FROM submissions s WHERE s.payload_purged_at IS NULL AND NOT EXISTS (\
               SELECT 1 FROM deliveries d WHERE d.submission_id = s.id AND (d.state NOT IN ('delivered', 'resolved') OR d.updated_at >= $1))",
        )
        .bind(before)
        .fetch_all(&self.db.pool)
        .await?;
        for (id,) in &ids {
            // One transaction per submission, writing first (see `settle`).
            let mut tx = self.db.pool.begin().await?;
            sqlx::query(
                "UPDATE submissions SET payload = NULL, payload_purged_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE attachments SET data = NULL WHERE submission_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE deliveries SET request = NULL WHERE submission_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(ids.len() as u64)
    }
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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
        .execute(&mut **tx)
        .await?;
    Ok(())
}
