//! Deliveries through their state machine: claims (leases), the steps' writes, failures and
//! settlement. A step moves a delivery on only while it is pending ([`step_to`]), and only
//! [`settle_with`] marks one delivered or failed from the platform's codes.

use super::timeline::{NewEvent, Record, change_with_event, insert_event};
use super::values::kode_json;
use super::{Bind, ErrorClass, Result, State, Step, Store, Text};
use crate::config::DistributionType;
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
    pub distribution_type: DistributionType,
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
        distribution_type: DistributionType,
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
            distribution_type,
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
        distribution_type: DistributionType::from_column(
            &text(6)?,
            "deliveries.distribution_type",
        )?,
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
               SELECT id FROM deliveries WHERE state = $6 AND next_attempt_at <= $3 \
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
                        .bind(State::Pending.as_str())
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
        let rows = q.fetch_all(self.db.reader()).await?;
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
            .fetch_optional(self.db.reader())
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
                        "UPDATE deliveries SET distribution_transaktions_id = $1, sync_kode = $2, state = $5, step = $6, \
                         updated_at = $3, next_attempt_at = $3, last_error = NULL, error_class = NULL WHERE id = $4 \
                         RETURNING sync_kode, teknisk_kode, forretning_kode",
                    )
                    .bind(&distribution_id)
                    .bind(kode.as_str())
                    .bind(now)
                    .bind(&id)
                    .bind(State::Waiting.as_str())
                    .bind(Step::Receipts.as_str())
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
        "SELECT sync_kode, teknisk_kode, forretning_kode FROM deliveries WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(State::Waiting.as_str())
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
    pub(super) fn read((sync, teknisk, forretning): CodeTexts) -> Result<Self> {
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
    // A failure keeps its reason as the last error; a delivery keeps none.
    let failed = state == State::Failed;
    let (last_error, error_class) = if failed {
        (
            Some(detail.clone()),
            Some(ErrorClass::Rejected.as_str().to_owned()),
        )
    } else {
        (None, None)
    };
    // On PostgreSQL a concurrent settlement (the sweep read without a row lock) may have won:
    // then it wrote the timeline entry, and this one writes nothing.
    let moved = change_with_event(
        c,
        "UPDATE deliveries SET state = $1, step = $2, updated_at = $3, \
         delivered_at = CASE WHEN $1 = $4 THEN $3 ELSE delivered_at END, \
         last_error = $5, error_class = $6 \
         WHERE id = $7 AND state = $8",
        vec![
            state.as_str().into(),
            Step::Done.as_str().into(),
            now.into(),
            State::Delivered.as_str().into(),
            Bind::MaybeText(last_error),
            Bind::MaybeText(error_class),
            id.into(),
            State::Waiting.as_str().into(),
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
         WHERE id = $3 AND state = $4",
        vec![
            step.as_str().into(),
            now.into(),
            id.into(),
            State::Pending.as_str().into(),
        ],
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

#[cfg(test)]
mod tests {
    //! Each step's transition as the store writes it, on SQLite in memory.

    use super::*;
    use crate::store::{
        DeliveryFile, FileState, NewAttachment, NewSubmission, Receipt, StoreError, StoredRequest,
    };
    use ForretningsValideringsKode::{Accepteret, Afvist, Fejlet, Modtaget};
    use sf2900::Kvitteringstype;

    async fn one_delivery(files: usize) -> (Store, Delivery) {
        let store = Store::open("sqlite::memory:", 1).await.unwrap();
        let attachments = (0..files)
            .map(|i| NewAttachment {
                element_key: "bilag".into(),
                idx: i as i64,
                name: format!("{i}.pdf"),
                mime: "application/pdf".into(),
                data: vec![1; 10],
            })
            .collect();
        store
            .accept(NewSubmission {
                tenant_cvr: "29189846".into(),
                webform_id: "f".into(),
                submission_uuid: "u".into(),
                serial: None,
                source: "remote_post",
                payload: b"{}".to_vec(),
                attachments,
                routes: vec![("r".into(), DistributionType::Journalpost)],
            })
            .await
            .unwrap();
        let d = store.find("u").await.unwrap().remove(0);
        (store, d)
    }

    async fn step(store: &Store, id: &str, to: Step) -> bool {
        let id = id.to_owned();
        store
            .db
            .write(move |c| {
                Box::pin(async move { step_to(c, &id, to, now_ms(), "test", "").await })
            })
            .await
            .unwrap()
    }

    async fn set_state(store: &Store, id: &str, state: &str) {
        let (id, state) = (id.to_owned(), state.to_owned());
        store
            .db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("UPDATE deliveries SET state = $1 WHERE id = $2")
                        .bind(state)
                        .bind(id)
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    async fn file_states(store: &Store, d: &Delivery) -> Vec<FileState> {
        let files = store.delivery_files(&d.id).await.unwrap();
        files.into_iter().map(|f| f.state).collect()
    }

    async fn reread(store: &Store, d: &Delivery) -> Delivery {
        store.delivery(&d.id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_step_moves_only_a_pending_delivery() {
        let (store, d) = one_delivery(0).await;
        assert!(step(&store, &d.id, Step::Upload).await);
        assert_eq!(reread(&store, &d).await.step, Step::Upload);
        for state in [
            State::Waiting,
            State::Delivered,
            State::Failed,
            State::Resolved,
        ] {
            set_state(&store, &d.id, state.as_str()).await;
            assert!(!step(&store, &d.id, Step::Afsend).await, "{state}");
            let after = reread(&store, &d).await;
            assert_eq!((after.state, after.step), (state, Step::Upload));
        }
    }

    #[tokio::test]
    async fn each_step_moves_the_delivery_to_the_next() {
        let (store, d) = one_delivery(2).await;
        let listed = store
            .attachments(&d.submission_id, |_| false)
            .await
            .unwrap();
        let ids: Vec<String> = listed.iter().map(|a| a.id.clone()).collect();
        let files = ids
            .iter()
            .map(|id| DeliveryFile {
                attachment_id: id.clone(),
                remote_name: format!("{id}.pdf"),
                state: FileState::Pending,
                transaction_id: d.anvender_transaktions_id.clone(),
            })
            .collect();
        // build -> upload
        let request = StoredRequest {
            xml: "<x/>".into(),
            inline: None,
        };
        let saved = store
            .save_built(&d, request, files, Step::Upload)
            .await
            .unwrap();
        assert!(saved.moved && saved.fresh);
        assert_eq!(reread(&store, &d).await.step, Step::Upload);
        assert_eq!(file_states(&store, &d).await, [FileState::Pending; 2]);

        // upload -> sftp_receipt -> afsend
        for (file_state, next) in [
            (FileState::Triggered, Step::SftpReceipt),
            (FileState::Delivered, Step::Afsend),
        ] {
            let moved = store
                .files_done(&d.id, ids.clone(), file_state, next, "test", "".into())
                .await
                .unwrap();
            assert!(moved);
            let after = reread(&store, &d).await;
            assert_eq!((after.state, after.step), (State::Pending, next));
            assert_eq!(file_states(&store, &d).await, [file_state; 2]);
        }

        // afsend -> receipts (waiting) -> done (delivered)
        let settled = store
            .afsend_accepted(&d.id, Some("dist-1".into()), Modtaget, true)
            .await
            .unwrap();
        assert_eq!(settled, Some(State::Waiting));
        let after = reread(&store, &d).await;
        assert_eq!(
            (after.state, after.step, after.sync_kode),
            (State::Waiting, Step::Receipts, Some(Modtaget))
        );
        let receipt = Receipt {
            anvender_transaktions_id: d.anvender_transaktions_id.clone(),
            distribution_transaktions_id: Some("dist-1".into()),
            afsendende_myndighed: d.tenant_cvr.clone(),
            kvitteringstype: Kvitteringstype::Forretning,
            kode: Accepteret,
            begrundelse: None,
        };
        store.receive_receipt(receipt, true).await.unwrap();
        let after = reread(&store, &d).await;
        assert_eq!(
            (after.state, after.step, after.forretning_kode),
            (State::Delivered, Step::Done, Some(Accepteret))
        );
        assert!(after.delivered_at.is_some());
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_later_or_waits_for_the_operator() {
        let (store, d) = one_delivery(0).await;
        store
            .fail(&d.id, ErrorClass::Soap, "timed out", Some(123))
            .await
            .unwrap();
        let after = reread(&store, &d).await;
        assert_eq!(
            (
                after.state,
                after.attempts,
                after.next_attempt_at,
                after.error_class
            ),
            (State::Pending, 1, 123, Some(ErrorClass::Soap))
        );
        store
            .fail(&d.id, ErrorClass::Rejected, "AFVIST", None)
            .await
            .unwrap();
        let after = reread(&store, &d).await;
        assert_eq!(
            (after.state, after.attempts, after.error_class),
            (State::Failed, 2, Some(ErrorClass::Rejected))
        );
        assert_eq!(after.last_error.as_deref(), Some("AFVIST"));
    }

    #[test]
    fn the_codes_decide_a_waiting_delivery() {
        let codes = |sync, teknisk, forretning| Codes {
            sync,
            teknisk,
            forretning,
        };
        let cases = [
            // (codes, wait for Forretning, decision)
            (codes(Some(Modtaget), None, None), true, None),
            (
                codes(Some(Modtaget), None, None),
                false,
                Some((State::Delivered, None)),
            ),
            (
                codes(Some(Modtaget), None, Some(Accepteret)),
                true,
                Some((State::Delivered, None)),
            ),
            (
                codes(Some(Modtaget), Some(Afvist), Some(Accepteret)),
                true,
                Some((State::Failed, Some(("Teknisk", Afvist)))),
            ),
            (
                codes(Some(Modtaget), None, Some(Fejlet)),
                false,
                Some((State::Failed, Some(("Forretning", Fejlet)))),
            ),
            // A receipt before the synchronous answer: nothing yet, unless it fails.
            (codes(None, Some(Accepteret), None), false, None),
        ];
        for (c, wait, expected) in cases {
            assert_eq!(decide(c, wait), expected, "{c:?} wait {wait}");
        }
    }

    #[tokio::test]
    async fn unknown_text_in_a_column_is_an_error_naming_it() {
        let (store, d) = one_delivery(0).await;
        set_state(&store, &d.id, "lost").await;
        let e = store.delivery(&d.id).await.unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::UnknownText {
                    column: "deliveries.state",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
