//! The platform port against real peers: curl and reqwest over mutual TLS on 127.0.0.1, a real
//! HTTPS receipt endpoint, the real SFTP service, and the official XSDs for every response and
//! receipt the simulator emits.

use kombit_sim::config::SimConfig;
use kombit_sim::faults::{Action, FaultRule, Hook};
use kombit_sim::journal::Event;
use kombit_sim::pki::PkiFiles;
use kombit_sim::run::RunningSim;
use sf2900::soap::{self, FaultDetail, Operation};
use sf2900::{FordelingsobjektAfsendResponse, ForretningsValideringsKode, Message, examples as ex};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn kombit_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kombit");
    assert!(
        dir.join("sf2900/DistributionServiceMsg.xsd").is_file(),
        "official KOMBIT schemas missing at {}",
        dir.display()
    );
    dir
}

/// Validates documents against `schema` with one xmllint run.
fn assert_docs_valid(schema: &Path, docs: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let f = dir.path().join(format!("{i}.xml"));
        std::fs::write(&f, doc).unwrap();
        files.push(f);
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "XSD validation failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        docs.join("\n\n")
    );
}

/// Validates the body element of each envelope against `schema`.
fn assert_bodies_valid(schema: &Path, envelopes: &[String]) {
    let bodies: Vec<String> = envelopes
        .iter()
        .map(|env| {
            soap::body_element(env)
                .unwrap_or_else(|e| panic!("not SOAP: {e}\n{env}"))
                .to_xml()
        })
        .collect();
    assert_docs_valid(schema, &bodies);
}

/// Validates the `detail` of each fault envelope: TransportKvittering against the v3 message
/// schema, ServiceplatformFault against its own.
fn assert_fault_details_valid(envelopes: &[String]) {
    let (mut tk, mut spf) = (Vec::new(), Vec::new());
    for env in envelopes {
        let fault = soap::body_element(env).unwrap();
        let detail = fault
            .child("detail")
            .and_then(|d| d.elements().next())
            .expect("fault has a detail");
        match detail.name.as_str() {
            "TransportKvittering" => tk.push(detail.to_xml()),
            _ => spf.push(detail.to_xml()),
        }
    }
    assert!(
        !tk.is_empty() && !spf.is_empty(),
        "both kinds of fault were provoked"
    );
    assert_docs_valid(&kombit_dir().join("sf2900/DistributionServiceMsg.xsd"), &tk);
    assert_docs_valid(
        &kombit_dir().join("sf2900/sp/ServiceplatformFault_1.xsd"),
        &spf,
    );
}

/// A receipt body and the subject of the client certificate that posted it.
type Posted = (String, Option<String>);

/// Receipts posted to the test's anvender endpoint.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Posted>>>);

impl Sink {
    fn bodies(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }
    fn callers(&self) -> Vec<Option<String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    pki: PkiFiles,
    sim: RunningSim,
    sink: Sink,
    _sink_server: kombit_sim::server::ServerHandle,
    client: reqwest::Client,
}

async fn start(faults: Vec<FaultRule>, tweak: impl FnOnce(&mut SimConfig)) -> Env {
    kombit_sim::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = kombit_sim::pki::generate(&dir.path().join("pki")).unwrap();

    // The anvender's receipt endpoint: HTTPS requiring a client certificate from the test CA.
    let sink = Sink::default();
    let s2 = sink.clone();
    let app = axum::Router::new().route(
        "/receipts",
        axum::routing::post(
            move |axum::Extension(peer): axum::Extension<kombit_sim::tls::PeerCerts>,
                  body: String| {
                let s2 = s2.clone();
                async move {
                    s2.0.lock().unwrap().push((body, peer.leaf_subject()));
                    (
                        [("content-type", "text/xml; charset=utf-8")],
                        soap::envelope(&sf2900::FordelingskvitteringModtagAnvenderResponse {}),
                    )
                }
            },
        ),
    );
    let tls = kombit_sim::tls::server_config(&pki.ca_pem, &pki.server_pem, &pki.server_key, true)
        .unwrap();
    let sink_server = kombit_sim::server::serve_https("127.0.0.1:0".parse().unwrap(), tls, app)
        .await
        .unwrap();

    let mut config = SimConfig::default_for_pki(pki.dir.clone());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    config.soap.listen = any;
    config.sftp.listen = any;
    config.inspect_listen = any;
    config.receipts.url = Some(format!(
        "https://127.0.0.1:{}/receipts",
        sink_server.local_addr().port()
    ));
    config.faults = faults;
    tweak(&mut config);
    let sim = kombit_sim::run::start(config).await.unwrap();
    let client =
        kombit_sim::tls::reqwest_client(&pki.ca_pem, &pki.anvender_pem, &pki.anvender_key).unwrap();
    Env {
        _dir: dir,
        pki,
        sim,
        sink,
        _sink_server: sink_server,
        client,
    }
}

impl Env {
    async fn call(&self, op: Operation, body: String) -> (u16, String) {
        let r = self
            .client
            .post(self.sim.soap_url())
            .header("content-type", soap::CONTENT_TYPE)
            .header("SOAPAction", format!("\"{}\"", op.soap_action()))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn wait_for_receipts(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let b = self.sink.bodies();
            if b.len() >= n {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {n} receipts, got {:?}", self.sink.bodies().len());
    }

    fn curl(
        &self,
        cert: Option<(&Path, &Path)>,
        op: Operation,
        body: &str,
    ) -> std::process::Output {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&self.pki.ca_pem);
        if let Some((c, k)) = cert {
            cmd.arg("--cert").arg(c).arg("--key").arg(k);
        }
        cmd.args(["-H", "Content-Type: text/xml; charset=utf-8"])
            .arg("-H")
            .arg(format!("SOAPAction: \"{}\"", op.soap_action()))
            .args(["-w", "\n%{http_code}", "--data-binary", body])
            .arg(self.sim.soap_url());
        cmd.output().unwrap()
    }
}

fn afsend(n: usize) -> sf2900::FordelingsobjektAfsendRequest {
    let mut r = ex::afsend_requests().remove(n).1;
    r.anmodning.distribution_context.anvender_transaktions_id = sf2900::Uuid::new_v4();
    r.anmodning.distribution_context.dokument_fil_navn = None;
    r.authority_context = Some(sf2900::AuthorityContext::new(
        sf2900::Cvr::new(ex::CVR).unwrap(),
    ));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_calls_every_operation_and_every_answer_validates() {
    let env = start(vec![], |_| {}).await;
    let cert = Some((
        env.pki.anvender_pem.as_path(),
        env.pki.anvender_key.as_path(),
    ));
    let accepted = afsend(4);
    let mut modtag = ex::kvittering_modtag_request_full();
    modtag.distribution_context.anvender_transaktions_id = accepted
        .anmodning
        .distribution_context
        .anvender_transaktions_id;
    let ops = [
        Operation::FordelingsobjektAfsend,
        Operation::FordelingsmodtagerList,
        Operation::FordelingsmodtagerValider,
        Operation::FordelingskvitteringModtag,
    ];
    let mut answers: Vec<String> = Vec::new();
    for op in ops {
        let body = match op {
            Operation::FordelingsobjektAfsend => soap::envelope(&accepted),
            Operation::FordelingsmodtagerList => soap::envelope(&ex::list_request_full()),
            Operation::FordelingsmodtagerValider => soap::envelope(&ex::valider_request_full()),
            Operation::FordelingskvitteringModtag => {
                // The modtager echoes the DistributionTransktionsID the platform issued.
                let issued: FordelingsobjektAfsendResponse =
                    soap::parse_response(&answers[0]).unwrap();
                modtag.distribution_context.distribution_transaktions_id =
                    issued.distribution_context.distribution_transaktions_id;
                soap::envelope(&modtag)
            }
        };
        let out = env.curl(cert, op, &body);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (xml, code) = text.rsplit_once('\n').unwrap();
        assert_eq!(
            code,
            "200",
            "{op:?}: {xml} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        answers.push(xml.to_owned());
    }
    let resp: FordelingsobjektAfsendResponse = soap::parse_response(&answers[0]).unwrap();
    assert_eq!(
        resp.forretnings_kvittering.forretnings_validerings_kode,
        ForretningsValideringsKode::Modtaget
    );
    assert!(
        resp.distribution_context
            .distribution_transaktions_id
            .is_some()
    );
    let list: sf2900::FordelingsmodtagerListResponse = soap::parse_response(&answers[1]).unwrap();
    assert_eq!(
        list.systemer.system.len(),
        1,
        "the 32.03.* rule is more specific than *.*.*"
    );
    assert_bodies_valid(
        &kombit_dir().join("sf2900/DistributionServiceMsg.xsd"),
        &answers,
    );

    // Receipts: Teknisk, Forretning, then the modtager's forwarded receipt; all XSD-valid,
    // echoing the full context, sent with the platform's client certificate.
    let receipts = env.wait_for_receipts(3).await;
    assert_bodies_valid(
        &kombit_dir().join("sf2900/SF2900_EP_MS1-2/DistributionServiceMsgV2.xsd"),
        &receipts,
    );
    let first = soap::parse_anvender_callback(&receipts[0]).unwrap();
    assert_eq!(
        first.forretningskvittering.kvitteringstype,
        sf2900::Kvitteringstype::Teknisk
    );
    assert_eq!(first.distribution_context, resp.distribution_context);
    assert!(env.sink.callers().iter().all(|c| {
        c.as_deref()
            .is_some_and(|s| s.contains("Serviceplatformen"))
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_callers_without_the_right_certificate_or_authority() {
    let env = start(vec![], |_| {}).await;
    let body = soap::envelope(&afsend(0));

    let no_cert = env.curl(None, Operation::FordelingsobjektAfsend, &body);
    assert!(
        !no_cert.status.success(),
        "a client without a certificate must fail the handshake"
    );

    // A certificate from the right CA, but not registered for any anvender (CVR 11111111).
    let other = env.curl(
        Some((&env.pki.other_pem, &env.pki.other_key)),
        Operation::FordelingsobjektAfsend,
        &body,
    );
    let text = String::from_utf8_lossy(&other.stdout).to_string();
    assert!(text.ends_with("\n500"), "{text}");
    let mut faults = vec![text.rsplit_once('\n').unwrap().0.to_owned()];
    let fault = soap::parse_fault(&faults[0]).unwrap();
    assert!(
        matches!(fault.detail, Some(FaultDetail::ServiceplatformFault(_))),
        "{fault:?}"
    );

    // The right certificate acting for a CVR it has no agreement for.
    let mut foreign = afsend(0);
    let cvr = sf2900::Cvr::new("11111111").unwrap();
    foreign.authority_context = Some(sf2900::AuthorityContext::new(cvr.clone()));
    foreign.anmodning.distribution_context.afsendende_myndighed = cvr;
    let (status, xml) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(&foreign))
        .await;
    assert_eq!(status, 500);
    assert!(
        soap::parse_fault(&xml)
            .unwrap()
            .string
            .contains("No service agreement")
    );
    faults.push(xml);

    // No AuthorityContext: the platform's own words.
    let mut none = afsend(0);
    none.authority_context = None;
    let (_, xml) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(&none))
        .await;
    assert_eq!(
        soap::parse_fault(&xml).unwrap().string,
        kombit_sim::soap::NO_SECURITY_MODEL
    );
    faults.push(xml);

    // Garbage and a mismatching SOAPAction are TransportKvittering faults, never a panic.
    let (status, xml) = env
        .call(Operation::FordelingsobjektAfsend, "<not-soap".into())
        .await;
    assert_eq!(status, 500);
    assert!(matches!(
        soap::parse_fault(&xml).unwrap().detail,
        Some(FaultDetail::TransportKvittering(_))
    ));
    faults.push(xml);
    let (status, xml) = env
        .call(Operation::FordelingsmodtagerList, body.clone())
        .await;
    assert_eq!(status, 500);
    assert!(
        soap::parse_fault(&xml)
            .unwrap()
            .string
            .contains("does not match"),
        "{xml}"
    );
    faults.push(xml);
    // Every fault the simulator emitted carries a schema-valid detail.
    assert_fault_details_valid(&faults);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_transaction_ids_are_answered_idempotently() {
    let env = start(vec![], |c| c.receipts.url = None).await;
    let req = afsend(2);
    let (_, first) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(&req))
        .await;
    let (_, second) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(&req))
        .await;
    assert_eq!(first, second, "same DistributionTransktionsID, same answer");
    let mut changed = req.clone();
    if let sf2900::ObjektIndhold::DistributionDokument(d) =
        &mut changed.anmodning.distribution_object.objekt_indhold
    {
        d.registrering.attribut_liste.attributter[0].titel_tekst = "Ændret".into();
    }
    env.call(Operation::FordelingsobjektAfsend, soap::envelope(&changed))
        .await;
    let s = env.sim.summary();
    assert_eq!(s.transactions, 1);
    assert_eq!(s.duplicates, 2);
    assert_eq!(s.duplicates_with_other_payload, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvittering_modtag_must_name_the_issued_distribution() {
    let env = start(vec![], |c| c.receipts.url = None).await;
    let req = afsend(2);
    let id = req.anmodning.distribution_context.anvender_transaktions_id;
    let (status, xml) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(&req))
        .await;
    assert_eq!(status, 200, "{xml}");
    let issued: FordelingsobjektAfsendResponse = soap::parse_response(&xml).unwrap();
    let issued = issued.distribution_context.distribution_transaktions_id;
    assert!(issued.is_some());

    let modtag = |dist: Option<sf2900::Uuid>| {
        let mut m = ex::kvittering_modtag_request_full();
        m.distribution_context.anvender_transaktions_id = id;
        m.distribution_context.distribution_transaktions_id = dist;
        soap::envelope(&m)
    };
    // Another transaction's (or an invented) DistributionTransktionsID: a Client fault.
    let (status, xml) = env
        .call(
            Operation::FordelingskvitteringModtag,
            modtag(Some(sf2900::Uuid::new_v4())),
        )
        .await;
    assert_eq!(status, 500, "{xml}");
    let fault = soap::parse_fault(&xml).unwrap();
    assert_eq!(fault.code, soap::FaultCode::Client);
    assert!(fault.string.contains("DistributionTransktionsID"), "{xml}");
    let Some(FaultDetail::TransportKvittering(detail)) = &fault.detail else {
        panic!("a TransportKvittering detail: {xml}");
    };
    let fejl = &detail.kvittering.fejl_liste.as_ref().unwrap().fejl[0];
    assert!(fejl.fejl_tekst.contains(&id.to_string()), "{fejl:?}");
    let detail_xml = soap::body_element(&xml)
        .unwrap()
        .child("detail")
        .and_then(|d| d.elements().next())
        .unwrap()
        .to_xml();
    assert_docs_valid(
        &kombit_dir().join("sf2900/DistributionServiceMsg.xsd"),
        &[detail_xml],
    );
    let summary = env.sim.summary();
    assert_eq!(
        summary.calls["FordelingskvitteringModtag"]["fault:distribution-id-mismatch"],
        1
    );

    // The issued one, or none at all (the element is optional), is accepted.
    for dist in [issued, None] {
        let (status, xml) = env
            .call(Operation::FordelingskvitteringModtag, modtag(dist))
            .await;
        assert_eq!(status, 200, "{dist:?}: {xml}");
    }
}

/// The code of a FordelingsobjektAfsend answer.
async fn afsend_kode(
    env: &Env,
    req: &sf2900::FordelingsobjektAfsendRequest,
) -> ForretningsValideringsKode {
    let (_, xml) = env
        .call(Operation::FordelingsobjektAfsend, soap::envelope(req))
        .await;
    let resp: FordelingsobjektAfsendResponse =
        soap::parse_response(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    resp.forretnings_kvittering.forretnings_validerings_kode
}

/// A DOKUMENT request naming `name`, with a fresh AnvenderTransaktionsID.
fn dokument(name: &str) -> sf2900::FordelingsobjektAfsendRequest {
    let mut req = afsend(3);
    req.anmodning.distribution_context.dokument_fil_navn = Some(name.into());
    req
}

async fn sftp_login(env: &Env) -> kombit_sim::sftp::SftpClient {
    let key = Arc::new(russh::keys::load_secret_key(&env.pki.anvender_ssh_key, None).unwrap());
    kombit_sim::sftp::SftpClient::connect(
        env.sim.sftp_addr,
        kombit_sim::config::DEMO_SFTP_USER,
        key,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dokument_in_out_needs_no_trigger() {
    let env = start(vec![], |c| c.receipts.url = None).await;
    assert!(
        !env.sim.config.sftp.dokument_requires_trigger,
        "the default"
    );
    let name = "os2forms_fordeler_dokument.pdf";
    assert_eq!(
        afsend_kode(&env, &dokument(name)).await,
        ForretningsValideringsKode::Afvist,
        "not uploaded yet"
    );

    // Uploaded the way the PHP module sends a DOKUMENT: the file alone, no trigger.
    let sftp = sftp_login(&env).await;
    sftp.upload(&format!("/OUT/{name}"), b"%PDF-1.4 dokument")
        .await
        .unwrap();
    assert_eq!(
        afsend_kode(&env, &dokument(name)).await,
        ForretningsValideringsKode::Modtaget
    );
    // Another name in /OUT/ does not count, nor does a path.
    assert_eq!(
        afsend_kode(&env, &dokument("other.pdf")).await,
        ForretningsValideringsKode::Afvist
    );
    assert_eq!(
        afsend_kode(&env, &dokument(&format!("../OUT/{name}"))).await,
        ForretningsValideringsKode::Afvist
    );
    assert_eq!(
        env.sim.summary().triggers.len(),
        0,
        "no trigger was involved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dokument_requires_trigger_wants_a_success_receipt() {
    let env = start(vec![], |c| {
        c.receipts.url = None;
        c.sftp.dokument_requires_trigger = true;
    })
    .await;
    let name = "os2forms_fordeler_test_bilag.pdf";
    let sftp = sftp_login(&env).await;
    let data = vec![7u8; 100 * 1024];
    sftp.upload(&format!("/OUT/{name}"), &data).await.unwrap();
    let (_, xml) = env
        .call(
            Operation::FordelingsobjektAfsend,
            soap::envelope(&dokument(name)),
        )
        .await;
    let resp: FordelingsobjektAfsendResponse = soap::parse_response(&xml).unwrap();
    assert_eq!(
        resp.forretnings_kvittering.forretnings_validerings_kode,
        ForretningsValideringsKode::Afvist,
        "the file alone is not enough in strict mode"
    );
    let reason = resp.forretnings_kvittering.begrundelse.unwrap_or_default();
    assert!(reason.contains("dokument_requires_trigger"), "{reason}");

    // Deliver it the way a FORMULAR attachment is: file, trigger, wait for the SUCCESS receipt.
    let mut trigger = ex::trigger_full();
    trigger.file_descriptor.file_name = name.into();
    trigger.file_descriptor.size_in_bytes = data.len() as u64;
    trigger.file_descriptor.sender = kombit_sim::config::DEMO_SFTP_USER.into();
    sftp.upload(&format!("/OUT/{name}.trigger"), trigger.to_xml().as_bytes())
        .await
        .unwrap();
    let receipt = sftp
        .poll(&format!("/IN/{name}.sftpreceipt"), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        sf2900::sftp::TechnicalReceipt::from_xml(std::str::from_utf8(&receipt).unwrap())
            .unwrap()
            .is_success()
    );
    assert_eq!(
        afsend_kode(&env, &dokument(name)).await,
        ForretningsValideringsKode::Modtaget
    );
}

fn rule(on: Hook, action: Action) -> FaultRule {
    FaultRule {
        on,
        action,
        probability: 1.0,
        times: Some(1),
        delay_ms: 0,
        match_kle: None,
        match_file: None,
        match_transaction: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_behave_as_scripted() {
    let reqs: Vec<_> = (0..3).map(|_| afsend(0)).collect();
    let on = |action, r: &sf2900::FordelingsobjektAfsendRequest| FaultRule {
        match_transaction: Some(
            r.anmodning
                .distribution_context
                .anvender_transaktions_id
                .to_string(),
        ),
        ..rule(Hook::Afsend, action)
    };
    let env = start(
        vec![
            on(Action::Afvist, &reqs[0]),
            on(Action::SoapFault, &reqs[1]),
            on(Action::Http503, &reqs[2]),
            rule(Hook::Receipt, Action::ReceiptDuplicate),
            rule(Hook::Receipt, Action::ReceiptUnknownId),
        ],
        |_| {},
    )
    .await;
    let mut codes = Vec::new();
    for r in &reqs {
        let (status, xml) = env
            .call(Operation::FordelingsobjektAfsend, soap::envelope(r))
            .await;
        codes.push(status);
        if status == 200 {
            let r: FordelingsobjektAfsendResponse = soap::parse_response(&xml).unwrap();
            assert_eq!(
                r.forretnings_kvittering.forretnings_validerings_kode,
                ForretningsValideringsKode::Afvist
            );
        }
    }
    assert_eq!(codes, vec![200, 500, 503]);
    // The fourth call is accepted; its receipts come twice, plus one for an unknown id.
    let (status, _) = env
        .call(
            Operation::FordelingsobjektAfsend,
            soap::envelope(&afsend(0)),
        )
        .await;
    assert_eq!(status, 200);
    let receipts = env.wait_for_receipts(5).await;
    let ids: std::collections::HashSet<_> = receipts
        .iter()
        .map(|r| {
            soap::parse_anvender_callback(r)
                .unwrap()
                .distribution_context
                .anvender_transaktions_id
        })
        .collect();
    assert_eq!(ids.len(), 2, "one real transaction and one unknown");
    assert!(
        env.sim
            .journal
            .snapshot()
            .iter()
            .any(|e| matches!(&e.event, Event::Receipt { outcome, .. } if outcome == "delivered"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_quirks_and_the_inspection_api() {
    let env = start(vec![], |c| {
        c.quirks.wildcard_kle_in_response = true;
        c.quirks.omit_system_myndighed = true;
    })
    .await;
    let (_, xml) = env
        .call(
            Operation::FordelingsmodtagerList,
            soap::envelope(&ex::list_request_full()),
        )
        .await;
    assert!(xml.contains("32.03.*"), "{xml}");
    assert!(!xml.contains("SystemMyndighed"), "{xml}");
    let list: sf2900::FordelingsmodtagerListResponse = soap::parse_response(&xml).unwrap();
    assert_eq!(list.systemer.system[0].system_myndighed, None);

    let http = reqwest::Client::new();
    let base = env.sim.inspect_url();
    let journal: serde_json::Value = http
        .get(format!("{base}/sim/journal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(journal[0]["kind"], "call");
    assert_eq!(journal[0]["operation"], "FordelingsmodtagerList");
    let r = http
        .post(format!("{base}/sim/faults"))
        .json(&rule(Hook::List, Action::PlatformFault))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = env
        .call(
            Operation::FordelingsmodtagerList,
            soap::envelope(&ex::list_request_full()),
        )
        .await;
    assert_eq!(status, 500);
    let summary: serde_json::Value = http
        .get(format!("{base}/sim/summary"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        summary["calls"]["FordelingsmodtagerList"]["fault:injected-platform"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_decodes_strictly_like_an_xsd_validator() {
    let env = start(vec![], |c| c.receipts.url = None).await;
    let ok = soap::envelope(&afsend(1));
    let swapped = ok.replace(
        "<v2:ObjektType>JOURNALPOST</v2:ObjektType>",
        "<v2:ObjektType>JOURNALPOST</v2:ObjektType><v2:Ukendt/>",
    );
    assert_ne!(swapped, ok);
    let (status, xml) = env.call(Operation::FordelingsobjektAfsend, swapped).await;
    assert_eq!(status, 500);
    let fault = soap::parse_fault(&xml).unwrap();
    let Some(FaultDetail::TransportKvittering(t)) = fault.detail else {
        panic!("{xml}")
    };
    let fejl = &t.kvittering.fejl_liste.unwrap().fejl[0];
    assert!(
        fejl.fejl_tekst.contains("unexpected element Ukendt"),
        "{}",
        fejl.fejl_tekst
    );
    let (status, _) = env.call(Operation::FordelingsobjektAfsend, ok).await;
    assert_eq!(status, 200);
}

/// Fills `addr` with idle TCP connections, one more than the products' connection limit, and
/// returns whether the server closed one of them (to make room) within a few seconds.
async fn an_idle_connection_is_closed_at_the_limit(addr: SocketAddr) -> bool {
    use tokio::io::AsyncReadExt as _;
    let limit = service_kit::listener::DEFAULT_MAX_CONNECTIONS;
    let mut streams = Vec::with_capacity(limit + 1);
    for _ in 0..=limit {
        streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Each connection waits for the server to end it; the first to end tells.
    let mut reads = tokio::task::JoinSet::new();
    for mut s in streams {
        reads.spawn(async move {
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        });
    }
    // Without a limit the server would wait for each peer's handshake or request line for its
    // whole header timeout; with it, the longest-idle connection is closed at once.
    let closed = tokio::time::timeout(Duration::from_secs(5), reads.join_next())
        .await
        .is_ok();
    reads.abort_all();
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_have_the_products_connection_limit() {
    let env = start(vec![], |c| c.receipts.url = None).await;
    assert!(
        an_idle_connection_is_closed_at_the_limit(env.sim.soap_addr).await,
        "SOAP port"
    );
    assert!(
        an_idle_connection_is_closed_at_the_limit(env.sim.inspect_addr).await,
        "inspection API"
    );
    // A real caller still gets through after the flood.
    let (status, xml) = env
        .call(
            Operation::FordelingsobjektAfsend,
            soap::envelope(&afsend(2)),
        )
        .await;
    assert_eq!(status, 200, "{xml}");
}
