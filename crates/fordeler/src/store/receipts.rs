//! Asynchronous receipts (`receipts`): every one is stored as it arrived, and [`receipt_in`]
//! is the one place that decides what a receipt may change in its delivery.

use super::deliveries::{CodeTexts, Codes, count_settled, settle_with};
use super::timeline::insert_event;
use super::{Result, State, Store, Text};
use service_kit::db::now_ms;
use sf2900::{ForretningsValideringsKode, Kvitteringstype};
use sqlx::AnyConnection;

/// An asynchronous receipt as it arrived (codes as the protocol spells them).
#[derive(Debug, Clone)]
pub struct Receipt {
    pub anvender_transaktions_id: String,
    pub distribution_transaktions_id: Option<String>,
    /// The CVR the receipt says sent the object; must be the delivery's tenant.
    pub afsendende_myndighed: String,
    pub kvitteringstype: Kvitteringstype,
    pub kode: ForretningsValideringsKode,
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

impl Store {
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
    ) -> Result<ReceiptOutcome> {
        let (outcome, settled) = self
            .db
            .write(move |c| {
                Box::pin(async move { receipt_in(c, receipt, wait_for_forretning).await })
            })
            .await?;
        count_settled(settled);
        Ok(outcome)
    }
}

/// Why a Digital post receipt (or any type but Teknisk and Forretning) changes nothing.
const OTHER_TYPE: &str = "only Teknisk and Forretning receipts move a delivery";

/// [`Store::receive_receipt`] inside its write; returns the outcome and any settlement.
pub(super) async fn receipt_in(
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
        Some((id, cvr, state, dist)) => (
            id,
            cvr,
            Some(State::from_column(&state, "deliveries.state")?),
            dist,
            false,
        ),
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
    let column = match r.kvitteringstype {
        Kvitteringstype::Teknisk => Some("teknisk_kode"),
        Kvitteringstype::Forretning => Some("forretning_kode"),
        Kvitteringstype::DigitalPost => None,
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
    let (state, sync, teknisk, forretning): (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE deliveries SET {column} = $1, updated_at = $2 WHERE id = $3 \
             RETURNING state, sync_kode, teknisk_kode, forretning_kode"
    )))
    .bind(r.kode.as_str())
    .bind(now)
    .bind(&delivery_id)
    .fetch_one(&mut *c)
    .await?;
    if !duplicate {
        insert_event(c, &delivery_id, now, "receipt", &detail).await?;
    }
    let codes: CodeTexts = (sync, teknisk, forretning);
    let settled = if State::from_column(&state, "deliveries.state")? == State::Waiting {
        Some(settle_with(c, &delivery_id, Codes::read(codes)?, wait_for_forretning).await?)
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
    .bind(r.kvitteringstype.as_str())
    .bind(r.kode.as_str())
    .bind(&r.begrundelse)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(duplicate != 0)
}
