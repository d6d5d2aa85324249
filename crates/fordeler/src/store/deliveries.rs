//! Deliveries through their state machine: claims (leases), the steps' writes, failures and
//! settlement. A step moves a delivery on only while it is pending ([`step_to`]), and only
//! [`settle_with`] marks one delivered or failed from the platform's codes.

use super::timeline::{NewEvent, Record, change_with_event, insert_event};
use super::values::kode_json;
use super::{Bind, ErrorClass, Result, State, Step, Store, Text};
use service_kit::db::{DbKind, now_ms};
use sf2900::ForretningsValideringsKode;
use sqlx::{AnyConnection, Row as _};

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
    pub state: State,
    pub step: Step,
    pub anvender_transaktions_id: String,
    pub distribution_transaktions_id: Option<String>,
    /// The synchronous answer of FordelingsobjektAfsend.
    #[serde(serialize_with = "kode_json")]
    pub sync_kode: Option<ForretningsValideringsKode>,
    #[serde(serialize_with = "kode_json")]
    pub teknisk_kode: Option<ForretningsValideringsKode>,
    #[serde(serialize_with = "kode_json")]
    pub forretning_kode: Option<ForretningsValideringsKode>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub error_class: Option<ErrorClass>,
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
            state: State::Pending,
            step: Step::Build,
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

pub(super) const DELIVERY_COLUMNS: &str = "d.id, d.submission_id, s.submission_uuid, d.route_id, d.tenant_cvr, d.webform_id, \
    d.distribution_type, d.state, d.step, d.anvender_transaktions_id, d.distribution_transaktions_id, d.sync_kode, \
    d.teknisk_kode, d.forretning_kode, d.attempts, d.next_attempt_at, d.last_error, d.error_class, d.created_at, \
    d.updated_at, d.delivered_at, d.resolved_by, d.resolved_note, d.transaction_no";

pub(super) fn delivery_from_row(r: &sqlx::any::AnyRow) -> Result<Delivery> {
    let text = |i: usize| r.try_get::<String, _>(i);
    let nullable = |i: usize| r.try_get::<Option<String>, _>(i);
    Ok(Delivery {
        id: r.try_get(0)?,
        submission_id: r.try_get(1)?,
        submission_uuid: r.try_get(2)?,
        route_id: r.try_get(3)?,
        tenant_cvr: r.try_get(4)?,
        webform_id: r.try_get(5)?,
        distribution_type: r.try_get(6)?,
        state: State::from_column(&text(7)?, "deliveries.state")?,
        step: Step::from_column(&text(8)?, "deliveries.step")?,
        anvender_transaktions_id: r.try_get(9)?,
        distribution_transaktions_id: r.try_get(10)?,
        sync_kode: Text::from_nullable(nullable(11)?.as_deref(), "deliveries.sync_kode")?,
        teknisk_kode: Text::from_nullable(nullable(12)?.as_deref(), "deliveries.teknisk_kode")?,
        forretning_kode: Text::from_nullable(
            nullable(13)?.as_deref(),
            "deliveries.forretning_kode",
        )?,
        attempts: r.try_get(14)?,
        next_attempt_at: r.try_get(15)?,
        last_error: r.try_get(16)?,
        error_class: Text::from_nullable(nullable(17)?.as_deref(), "deliveries.error_class")?,
        created_at: r.try_get(18)?,
        updated_at: r.try_get(19)?,
        delivered_at: r.try_get(20)?,
        resolved_by: r.try_get(21)?,
        resolved_note: r.try_get(22)?,
        transaction_no: r.try_get(23)?,
    })
}

impl Store {
    /// Claims up to `limit` due pending deliveries for `owner` until `now + lease_ms`.
    /// Expired leases of other owners are taken over: that is how a killed process's work
    /// continues.
    pub async fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
        tenant: Option<&str>,
    ) -> Result<Vec<Delivery>> {
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
        rows.iter().map(delivery_from_row).collect()
    }

    /// At start-up: leases this owner held when it was stopped or killed are void.
    pub async fn reclaim(&self, owner: &str) -> Result<u64> {
        self.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            vec![owner.into()],
        )
        .await
    }

    /// Gives a claimed delivery back (end of a work step).
    pub async fn release(&self, id: &str, owner: &str) -> Result<()> {
        self.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
            vec![id.into(), owner.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN submissions s ON s.id = d.submission_id WHERE d.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        row.map(|r| delivery_from_row(&r)).transpose()
    }

    /// Records the synchronous answer of an accepted FordelingsobjektAfsend, starts waiting
    /// for the receipts, and settles at once if they came first, in one transaction.
    pub async fn afsend_accepted(
        &self,
        id: &str,
        distribution_id: Option<String>,
        kode: ForretningsValideringsKode,
        wait_for_forretning: bool,
    ) -> Result<Option<State>> {
        let id = id.to_owned();
        let settled = self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let now = now_ms();
                    let codes: Option<CodeTexts> = sqlx::query_as(
                        "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, state = 'waiting', step = 'receipts', \
                         updated_at = $3, next_attempt_at = $3, last_error = NULL, error_class = NULL WHERE id = $4 \
                         RETURNING sync_kode, teknisk_kode, forretning_kode",
                    )
                    .bind(&distribution_id)
                    .bind(kode.as_str())
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
                    Ok(Some(
                        settle_with(c, &id, Codes::read(codes)?, wait_for_forretning).await?,
                    ))
                })
            })
            .await?;
        Ok(count_settled(settled))
    }

    /// Looks again later without counting an attempt (polling for an SFTP receipt).
    pub async fn reschedule(&self, id: &str, at: i64) -> Result<()> {
        self.execute(
            "UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2",
            vec![at.into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// Settles a waiting delivery from the codes it has (see [`settle_in`]); the outbox sweeps
    /// with this for deliveries a stopped process left with codes but unsettled.
    pub async fn settle(&self, id: &str, wait_for_forretning: bool) -> Result<Option<State>> {
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
        kode: ForretningsValideringsKode,
    ) -> Result<()> {
        self.execute(
            "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, updated_at = $3 WHERE id = $4",
            vec![
                Bind::MaybeText(distribution_id.map(Into::into)),
                kode.as_str().into(),
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
        class: ErrorClass,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let (id, error) = (id.to_owned(), error.to_owned());
        Ok(self
            .db
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
                    .bind(class.as_str())
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
            .await?)
    }
}

/// Decides a waiting delivery from the codes it has, inside the caller's write: a failure
/// code in either receipt fails it; success in the Forretning receipt (or, when not waiting
/// for it, the synchronous answer) delivers it. Both the outbox (after afsend) and the receipt
/// endpoint (after a receipt) settle in the transaction that stored their code, after storing
/// it, so whichever commits second sees both and settles: a receipt may well arrive before
/// the synchronous answer has been recorded. Returns the state, and whether this call moved it.
pub(super) async fn settle_in(
    c: &mut AnyConnection,
    id: &str,
    wait_for_forretning: bool,
) -> anyhow::Result<Option<(State, bool)>> {
    let row: Option<CodeTexts> = sqlx::query_as(
        "SELECT sync_kode, teknisk_kode, forretning_kode FROM deliveries WHERE id = $1 AND state = 'waiting'",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(codes) = row else {
        return Ok(None);
    };
    Ok(Some(
        settle_with(c, id, Codes::read(codes)?, wait_for_forretning).await?,
    ))
}

/// A delivery's synchronous, Teknisk and Forretning codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Codes {
    pub sync: Option<ForretningsValideringsKode>,
    pub teknisk: Option<ForretningsValideringsKode>,
    pub forretning: Option<ForretningsValideringsKode>,
}

/// The codes' columns (`sync_kode, teknisk_kode, forretning_kode`) as selected.
pub(super) type CodeTexts = (Option<String>, Option<String>, Option<String>);

impl Codes {
    pub fn read((sync, teknisk, forretning): CodeTexts) -> Result<Self> {
        Ok(Codes {
            sync: Text::from_nullable(sync.as_deref(), "deliveries.sync_kode")?,
            teknisk: Text::from_nullable(teknisk.as_deref(), "deliveries.teknisk_kode")?,
            forretning: Text::from_nullable(forretning.as_deref(), "deliveries.forretning_kode")?,
        })
    }
}

/// [`settle_in`] for a waiting delivery whose codes the caller has just read.
pub(super) async fn settle_with(
    c: &mut AnyConnection,
    id: &str,
    codes: Codes,
    wait_for_forretning: bool,
) -> anyhow::Result<(State, bool)> {
    let (state, detail) = match decide(codes, wait_for_forretning) {
        Some((State::Failed, Some((which, kode)))) => {
            (State::Failed, format!("{which} receipt {kode}"))
        }
        Some((state, _)) => (state, "the platform confirmed delivery".to_owned()),
        None => return Ok((State::Waiting, false)),
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

/// What a waiting delivery's codes decide: failed (with the failing receipt's type and code),
/// delivered, or nothing yet.
fn decide(
    Codes {
        sync,
        teknisk,
        forretning,
    }: Codes,
    wait_for_forretning: bool,
) -> Option<(State, Option<(&'static str, ForretningsValideringsKode)>)> {
    let failed = |k: Option<ForretningsValideringsKode>| k.filter(|k| k.is_failure());
    let ok = |k: Option<ForretningsValideringsKode>| k.is_some_and(|k| !k.is_failure());
    if let Some(kode) = failed(teknisk) {
        Some((State::Failed, Some(("Teknisk", kode))))
    } else if let Some(kode) = failed(forretning) {
        Some((State::Failed, Some(("Forretning", kode))))
    } else if (wait_for_forretning && ok(forretning)) || (!wait_for_forretning && ok(sync)) {
        Some((State::Delivered, None))
    } else {
        None
    }
}

/// Counts a settlement once it is committed; returns the state.
pub(super) fn count_settled(settled: Option<(State, bool)>) -> Option<State> {
    if let Some((state, true)) = settled {
        metrics::counter!("fordeler_deliveries_settled_total", "state" => state.as_str())
            .increment(1);
    }
    settled.map(|(s, _)| s)
}

/// Moves a pending delivery on to `step`, due at once, with its last error cleared, and
/// writes `kind: detail` to its timeline; false when it is no longer pending (an operator
/// resolved it meanwhile), so the worker stops instead of going on to the next step.
pub(super) async fn step_to(
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
