//! The receipt endpoint: Serviceplatformen's asynchronous FordelingskvitteringModtagAnvender
//! calls, over HTTPS with a client certificate from the configured CA.
//!
//! Only the platform's own certificate (configured by subject or fingerprint) is heard: the CA
//! issues every municipality's certificates too, and any of them could otherwise settle any
//! delivery. The check is made on the TLS connection's certificate before the body is read.
//! Every receipt is then stored, and [`Store::receive_receipt`] decides what it may change: an
//! unknown AnvenderTransaktionsID, or one whose AfsendendeMyndighed or DistributionTransktionsID
//! is not the delivery's, gets a SOAP fault, so a misrouted receipt is visible on both sides.
//! A repeated receipt is answered like the first.

use crate::store::{ReceiptOutcome, Store};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use service_kit::http::{Body, BodyError, BodyLimit};
use service_kit::tls::{ClientCertificates, PinnedCertificate};
use sf2900::soap::{self, Fault, FaultCode, FaultDetail};
use sf2900::{
    FordelingskvitteringModtagAnvenderResponse, ForretningsValideringsKode, Kvitteringstype,
    PortVersion, TransportKvittering, TransportKvitteringFault, TransportValideringsKode,
};
use std::sync::Arc;

/// The path we serve, and the PHP module's, so a registration with KOMBIT can stay as it is.
pub const PATHS: [&str; 2] = [
    "/sf2900/FordelingskvitteringModtag",
    "/os2forms-fordelingskomponent/sf2900/2.4/FordelingskvitteringModtag",
];

#[derive(Clone)]
pub struct ReceiptEndpoint {
    pub store: Store,
    pub wait_for_forretning: bool,
    /// The certificate that may post receipts.
    pub platform: PinnedCertificate,
}

/// A receipt's largest body: a receipt is a few kilobytes; a begrundelse may be long.
const MAX_RECEIPT_BYTES: usize = 1024 * 1024;

pub fn router(endpoint: ReceiptEndpoint) -> axum::Router {
    let state = Arc::new(endpoint);
    let mut r = axum::Router::new();
    for p in PATHS {
        r = r.route(
            p,
            axum::routing::post(receive).head(|| async { StatusCode::OK }),
        );
    }
    r.layer(BodyLimit::bytes(MAX_RECEIPT_BYTES).layer())
        .with_state(state)
}

/// The caller is the platform: its TLS client certificate is the pinned one. Refused with a
/// SOAP fault (403) before the body is read.
struct FromPlatform;

impl FromRequestParts<Arc<ReceiptEndpoint>> for FromPlatform {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        e: &Arc<ReceiptEndpoint>,
    ) -> Result<Self, Self::Rejection> {
        let leaf = parts
            .extensions
            .get::<ClientCertificates>()
            .and_then(|c| c.leaf().cloned());
        match leaf {
            Some(der) if e.platform.matches(&der) => Ok(FromPlatform),
            _ => {
                metrics::counter!("fordeler_receipts_total", "outcome" => "forbidden").increment(1);
                tracing::warn!(
                    "a receipt from a certificate that is not the platform's was refused \
                     (receipts.platform_subject / platform_fingerprint_sha256)"
                );
                Err(fault(
                    StatusCode::FORBIDDEN,
                    FaultCode::Client,
                    "Kun Serviceplatformens eget certifikat kan sende kvitteringer",
                ))
            }
        }
    }
}

fn fault(status: StatusCode, code: FaultCode, text: &str) -> Response {
    let f = Fault {
        code,
        string: text.to_owned(),
        actor: None,
        detail: Some(FaultDetail::TransportKvittering(TransportKvitteringFault {
            version: PortVersion::V2,
            kvittering: TransportKvittering {
                transport_validerings_kode: TransportValideringsKode::Fejl,
                begrundelse: Some(text.to_owned()),
                fejl_liste: None,
            },
        })),
    };
    (
        status,
        [(header::CONTENT_TYPE, soap::CONTENT_TYPE)],
        f.envelope(),
    )
        .into_response()
}

async fn receive(
    State(e): State<Arc<ReceiptEndpoint>>,
    _: FromPlatform,
    body: Result<Body, BodyError>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(err) => return fault(err.status(), FaultCode::Client, &err.to_string()),
    };
    let Ok(doc) = std::str::from_utf8(&body.0) else {
        return fault(
            StatusCode::BAD_REQUEST,
            FaultCode::Client,
            "The request is not UTF-8",
        );
    };
    let callback = match soap::parse_anvender_callback(doc) {
        Ok(c) => c,
        Err(err) => {
            metrics::counter!("fordeler_receipts_total", "outcome" => "invalid").increment(1);
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Client,
                &format!("Ugyldig kvittering: {err}"),
            );
        }
    };
    let ctx = &callback.distribution_context;
    let k = &callback.forretningskvittering;
    let id = ctx.anvender_transaktions_id.to_string();
    let (kvitteringstype, kode) = (k.kvitteringstype, k.forretnings_validerings_kode);
    let receipt = crate::store::Receipt {
        anvender_transaktions_id: id.clone(),
        distribution_transaktions_id: ctx.distribution_transaktions_id.map(|d| d.to_string()),
        afsendende_myndighed: ctx.afsendende_myndighed.as_str().to_owned(),
        kvitteringstype,
        kode,
        begrundelse: k.begrundelse.clone(),
    };
    let counted = |outcome: &'static str| {
        metrics::counter!("fordeler_receipts_total", "outcome" => outcome, "kvitteringstype" => kvitteringstype.as_str(), "kode" => kode.as_str()).increment(1);
    };
    let ok = || {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, soap::CONTENT_TYPE)],
            soap::envelope(&FordelingskvitteringModtagAnvenderResponse {}),
        )
            .into_response()
    };
    match e
        .store
        .receive_receipt(receipt, e.wait_for_forretning)
        .await
    {
        Ok(ReceiptOutcome::Applied {
            delivery_id,
            duplicate,
        }) => {
            counted(if duplicate { "duplicate" } else { "accepted" });
            tracing::info!(delivery_id, anvender_transaktions_id = %id, kvitteringstype = kvitteringstype.as_str(), kode = kode.as_str(), duplicate, "receipt");
            if kode.is_failure() && !duplicate {
                log_failure(&e.store, &delivery_id, kvitteringstype, kode).await;
            }
            ok()
        }
        Ok(ReceiptOutcome::Recorded { delivery_id, why }) => {
            counted("recorded");
            tracing::warn!(delivery_id, anvender_transaktions_id = %id, kvitteringstype = kvitteringstype.as_str(), kode = kode.as_str(), "receipt recorded, not applied: {why}");
            ok()
        }
        Ok(ReceiptOutcome::Refused { delivery_id, what }) => {
            counted("refused");
            tracing::warn!(delivery_id, anvender_transaktions_id = %id, "receipt refused: its {what} is not the delivery's");
            fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Client,
                &format!("{what} passer ikke til AnvenderTransaktionsID {id}"),
            )
        }
        Ok(ReceiptOutcome::Unknown) => {
            metrics::counter!("fordeler_receipts_total", "outcome" => "unknown").increment(1);
            tracing::warn!(anvender_transaktions_id = %id, "receipt for an unknown AnvenderTransaktionsID");
            fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Client,
                &format!("Ukendt AnvenderTransaktionsID {id}"),
            )
        }
        Err(err) => {
            tracing::error!(error = %err, "storing a receipt failed");
            // The platform retries on a server fault; nothing is lost.
            fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Server,
                "Kvitteringen kunne ikke gemmes; prøv igen",
            )
        }
    }
}

/// A failing receipt, at WARN with the delivery's ids for whoever watches the log; never its
/// begrundelse, which may quote the message's values (the timeline has it).
async fn log_failure(
    store: &Store,
    delivery_id: &str,
    kvitteringstype: Kvitteringstype,
    kode: ForretningsValideringsKode,
) {
    let span = match store.delivery(delivery_id).await {
        Ok(Some(d)) => d.span(),
        _ => tracing::error_span!("delivery", delivery_id),
    };
    span.in_scope(|| {
        tracing::warn!(
            kvitteringstype = kvitteringstype.as_str(),
            kode = kode.as_str(),
            "receipt: delivery failed"
        )
    });
}
