//! `kombit-sim demo`: a complete SF2900 exchange against the simulator, end to end.
//!
//! It plays the anvender (what the Fordeler will do) against a simulator started in-process on
//! loopback: routing lookup, an attachment over SFTP with its trigger and receipt, then a
//! FORMULAR, a DOKUMENT and a JOURNALPOST over mutual TLS, one of them rejected by an injected
//! fault, and the asynchronous receipts arriving at a real HTTPS endpoint. It prints what
//! happened as a table and exits non-zero if anything differs from what the platform should do.

use crate::config::{DEMO_CVR, DEMO_SFTP_USER, SimConfig};
use crate::faults::{Action, FaultRule, Hook};
use anyhow::Context as _;
use sf2900::soap::{self, Operation};
use sf2900::{
    FordelingsmodtagerListResponse, FordelingsobjektAfsendRequest, FordelingsobjektAfsendResponse,
    ForretningsValideringsKode, Message, ObjektIndhold, Uuid, examples as ex,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Case {
    name: &'static str,
    request: FordelingsobjektAfsendRequest,
    expect: ForretningsValideringsKode,
}

/// Runs the demo in `work` (a fresh directory) and returns whether everything was as expected.
pub async fn run(work: &std::path::Path) -> anyhow::Result<bool> {
    crate::tls::install_crypto_provider();
    let pki = crate::pki::generate(&work.join("pki"))?;
    println!(
        "PKI: test CA, server, anvender (FOCES-like, CVR {DEMO_CVR}) and SSH keys in {}",
        pki.dir.display()
    );

    // The anvender's receipt endpoint.
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let r2 = received.clone();
    let app = axum::Router::new().route(
        "/kvittering",
        axum::routing::post(move |body: String| {
            let r2 = r2.clone();
            async move {
                r2.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                soap::envelope(&sf2900::FordelingskvitteringModtagAnvenderResponse {})
            }
        }),
    );
    let tls = crate::tls::server_config(&pki.ca_pem, &pki.server_pem, &pki.server_key, true)?;
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = crate::server::serve_https(any, tls, app).await?;

    let cases = cases()?;
    let rejected = cases[3]
        .request
        .anmodning
        .distribution_context
        .anvender_transaktions_id;
    let mut config = SimConfig::default_for_pki(pki.dir.clone());
    config.soap.listen = any;
    config.sftp.listen = any;
    config.inspect_listen = any;
    config.receipts.url = Some(format!(
        "https://127.0.0.1:{}/kvittering",
        endpoint.local_addr().port()
    ));
    config.receipts.steps[1].delay_ms = 200;
    config.faults = vec![FaultRule {
        on: Hook::Afsend,
        action: Action::Afvist,
        probability: 1.0,
        times: None,
        delay_ms: 0,
        match_kle: None,
        match_file: None,
        match_transaction: Some(rejected.to_string()),
    }];
    let sim = crate::run::start(config).await?;
    println!(
        "kombit-sim: SOAP {}  SFTP {}  inspection {}",
        sim.soap_url(),
        sim.sftp_addr,
        sim.inspect_url()
    );

    let client = crate::tls::reqwest_client(&pki.ca_pem, &pki.anvender_pem, &pki.anvender_key)?;
    let call = |op: Operation, body: String| {
        let client = client.clone();
        let url = sim.soap_url();
        async move {
            let r = client
                .post(url)
                .header("content-type", soap::CONTENT_TYPE)
                .header("SOAPAction", format!("\"{}\"", op.soap_action()))
                .body(body)
                .send()
                .await?;
            anyhow::Ok(r.text().await?)
        }
    };

    let list: FordelingsmodtagerListResponse = soap::parse_response(
        &call(
            Operation::FordelingsmodtagerList,
            soap::envelope(&ex::list_request_full()),
        )
        .await?,
    )?;
    for s in &list.systemer.system {
        println!(
            "routing 32.03.12/G01 → {} ({})",
            s.system_navn, s.system_uuid
        );
    }

    // The attachment: file, trigger, then wait for the technical receipt in /IN/.
    let key = Arc::new(russh::keys::load_secret_key(&pki.anvender_ssh_key, None)?);
    let sftp = crate::sftp::SftpClient::connect(sim.sftp_addr, DEMO_SFTP_USER, key).await?;
    let file = "os2forms_fordeler_demo_bilag.pdf";
    let pdf = vec![b'%'; 100 * 1024];
    sftp.upload(&format!("/OUT/{file}"), &pdf).await?;
    let mut trigger = ex::trigger_full();
    trigger.file_descriptor.file_name = file.into();
    trigger.file_descriptor.size_in_bytes = pdf.len() as u64;
    trigger.file_descriptor.sender = DEMO_SFTP_USER.into();
    sftp.upload(&format!("/OUT/{file}.trigger"), trigger.to_xml().as_bytes())
        .await?;
    let receipt = sftp
        .poll(&format!("/IN/{file}.sftpreceipt"), Duration::from_secs(10))
        .await?;
    let receipt = sf2900::sftp::TechnicalReceipt::from_xml(std::str::from_utf8(&receipt)?)?;
    println!(
        "SFTP {file}: {} KB uploaded, receipt {}",
        pdf.len() / 1024,
        if receipt.is_success() {
            "SUCCESS"
        } else {
            "ERROR"
        }
    );

    let mut ok = receipt.is_success() && list.systemer.system.len() == 1;
    let mut rows = Vec::new();
    for mut case in cases {
        if matches!(
            case.request.anmodning.distribution_object.objekt_indhold,
            ObjektIndhold::DistributionDokument(_)
        ) {
            case.request
                .anmodning
                .distribution_context
                .dokument_fil_navn = Some(file.into());
        }
        let xml = call(
            Operation::FordelingsobjektAfsend,
            soap::envelope(&case.request),
        )
        .await?;
        let resp: FordelingsobjektAfsendResponse = soap::parse_response(&xml).context(case.name)?;
        let kode = resp.forretnings_kvittering.forretnings_validerings_kode;
        ok &= kode == case.expect;
        rows.push((case, kode));
    }

    // Wait for the asynchronous receipts: two per accepted object.
    let expected_receipts = rows.iter().filter(|(_, k)| !k.is_failure()).count() * 2;
    for _ in 0..100 {
        if received.lock().unwrap_or_else(|p| p.into_inner()).len() >= expected_receipts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let callbacks: Vec<_> = received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(|b| soap::parse_anvender_callback(b).ok())
        .collect();

    println!();
    println!(
        "{:<12} {:<38} {:<10} {:<10} kvitteringer",
        "objekt", "AnvenderTransaktionsID", "forventet", "svar"
    );
    for (case, kode) in &rows {
        let id = case
            .request
            .anmodning
            .distribution_context
            .anvender_transaktions_id;
        let mine: Vec<String> = callbacks
            .iter()
            .filter(|c| c.distribution_context.anvender_transaktions_id == id)
            .map(|c| {
                format!(
                    "{}:{}",
                    c.forretningskvittering.kvitteringstype,
                    c.forretningskvittering.forretnings_validerings_kode
                )
            })
            .collect();
        if !kode.is_failure() {
            ok &= mine.len() == 2;
        }
        println!(
            "{:<12} {:<38} {:<10} {:<10} {}",
            case.name,
            id.to_string(),
            case.expect.to_string(),
            kode.to_string(),
            mine.join(", ")
        );
    }
    let summary = sim.summary();
    println!();
    println!("platform saw: {}", serde_json::to_string(&summary)?);
    println!(
        "{}",
        if ok {
            "demo: everything as expected"
        } else {
            "demo: UNEXPECTED OUTCOME"
        }
    );
    Ok(ok)
}

fn cases() -> anyhow::Result<Vec<Case>> {
    let fresh = |n: usize| -> anyhow::Result<FordelingsobjektAfsendRequest> {
        let mut r = ex::afsend_requests().remove(n).1;
        r.anmodning.distribution_context.anvender_transaktions_id = Uuid::new_v4();
        r.anmodning.distribution_context.dokument_fil_navn = None;
        r.authority_context = Some(sf2900::AuthorityContext::new(sf2900::Cvr::new(DEMO_CVR)?));
        Ok(r)
    };
    Ok(vec![
        Case {
            name: "FORMULAR",
            request: fresh(5)?,
            expect: ForretningsValideringsKode::Modtaget,
        },
        Case {
            name: "DOKUMENT",
            request: fresh(3)?,
            expect: ForretningsValideringsKode::Modtaget,
        },
        Case {
            name: "JOURNALPOST",
            request: fresh(1)?,
            expect: ForretningsValideringsKode::Modtaget,
        },
        Case {
            name: "JOURNALPOST",
            request: fresh(0)?,
            expect: ForretningsValideringsKode::Afvist,
        },
    ])
}
