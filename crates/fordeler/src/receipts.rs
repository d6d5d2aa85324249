//! The receipt endpoint: Serviceplatformen's asynchronous FordelingskvitteringModtagAnvender
//! calls, over HTTPS with a client certificate from the configured CA.
//!
//! Every receipt is stored (also duplicates and unknown ids, for the record); a known one moves
//! its delivery in the same transaction ([`Store::receive_receipt`]); an unknown
//! AnvenderTransaktionsID gets a SOAP fault, as the platform's contract allows, so a
//! misrouted receipt is visible on both sides. A repeated receipt is answered like the first.

use crate::store::Store;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sf2900::soap::{self, Fault, FaultCode, FaultDetail};
use sf2900::{
    FordelingskvitteringModtagAnvenderResponse, PortVersion, TransportKvittering,
    TransportKvitteringFault, TransportValideringsKode,
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
}

pub fn router(endpoint: ReceiptEndpoint) -> axum::Router {
    let state = Arc::new(endpoint);
    let mut r = axum::Router::new();
    for p in PATHS {
        r = r.route(
            p,
            axum::routing::post(receive).head(|| async { StatusCode::OK }),
        );
    }
    r.layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
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

async fn receive(State(e): State<Arc<ReceiptEndpoint>>, body: axum::body::Bytes) -> Response {
    let Ok(doc) = std::str::from_utf8(&body) else {
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
    let kvitteringstype = k.kvitteringstype.as_str();
    let kode = k.forretnings_validerings_kode.as_str();
    let receipt = crate::store::Receipt {
        anvender_transaktions_id: id.clone(),
        distribution_transaktions_id: ctx.distribution_transaktions_id.map(|d| d.to_string()),
        kvitteringstype: kvitteringstype.to_owned(),
        kode: kode.to_owned(),
        begrundelse: k.begrundelse.clone(),
    };
    let result = e
        .store
        .receive_receipt(receipt, e.wait_for_forretning)
        .await
        .map(|(delivery_id, duplicate)| delivery_id.map(|_| duplicate));
    match result {
        Ok(Some(duplicate)) => {
            let outcome = if duplicate { "duplicate" } else { "accepted" };
            metrics::counter!("fordeler_receipts_total", "outcome" => outcome, "kvitteringstype" => kvitteringstype.to_owned(), "kode" => kode.to_owned()).increment(1);
            tracing::info!(anvender_transaktions_id = %id, kvitteringstype, kode, duplicate, "receipt");
            let ok = soap::envelope(&FordelingskvitteringModtagAnvenderResponse {});
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, soap::CONTENT_TYPE)],
                ok,
            )
                .into_response()
        }
        Ok(None) => {
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
