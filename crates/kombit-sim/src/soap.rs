//! The platform port `/service/SP/Distribution/3`: the four SF2900 operations.
//!
//! Every request goes through the same gate as on Serviceplatformen: a client certificate that
//! belongs to a known anvender, an AuthorityContext with a CVR that certificate may act for, a
//! body that decodes (strictly: it is the platform that is strict here), and a SOAPAction that
//! agrees with the body. Then the operation runs against the rule table, the SFTP area and the
//! transaction store, and every call lands in the journal.

use crate::config::{AnvenderConfig, SimConfig};
use crate::faults::{Action, Faults, Hook, Subject};
use crate::journal::{Event, Journal};
use crate::receipts::{ReceiptPlan, Receipts};
use crate::routing::RoutingTable;
use crate::tls::PeerCerts;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sf2900::soap::{self, Fault, FaultCode, FaultDetail, Operation, Request, RequestError};
use sf2900::{
    Cvr, DistributionContext, Fejl, FejlListe, FordelingskvitteringModtagResponse,
    FordelingsmodtagerListResponse, FordelingsmodtagerValiderResponse,
    FordelingsobjektAfsendRequest, FordelingsobjektAfsendResponse, ForretningsValideringsKode,
    Forretningskvittering, Kvitteringstype, Message, PortVersion, RoutingResposneListe,
    ServiceplatformFault, Systemer, TransportKvittering, TransportKvitteringFault,
    TransportValideringsKode, Uuid,
};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The error text Serviceplatformen gives when no security model is present (sf2900.md §2).
pub const NO_SECURITY_MODEL: &str = "Security model for the called operation was not provided. The following are supported: [KombitToken, AuthorityContext]";

/// An anvender as the platform knows it: its certificate and what it may do.
#[derive(Debug, Clone)]
pub struct Anvender {
    pub name: String,
    pub fingerprint: String,
    pub cvrs: HashSet<String>,
    pub sftp_user: Option<String>,
    pub receipt_url: Option<String>,
}

impl Anvender {
    /// Resolves the certificate file (or fingerprint) of a configured anvender.
    pub fn from_config(cfg: &SimConfig, a: &AnvenderConfig) -> anyhow::Result<Self> {
        let fingerprint = match (&a.fingerprint_sha256, &a.certificate) {
            (Some(fp), _) => crate::tls::normalize_fingerprint(fp),
            (None, Some(path)) => {
                let path = cfg.pki_path(path);
                let certs = crate::tls::load_certs(&path)?;
                let leaf = certs.first().ok_or_else(|| {
                    anyhow::anyhow!("anvender {}: no certificate in {}", a.name, path.display())
                })?;
                crate::tls::fingerprint_sha256(leaf)
            }
            (None, None) => anyhow::bail!(
                "anvender {}: set `certificate` or `fingerprint_sha256`",
                a.name
            ),
        };
        Ok(Self {
            name: a.name.clone(),
            fingerprint,
            cvrs: a.cvrs.iter().cloned().collect(),
            sftp_user: a.sftp_user.clone(),
            receipt_url: cfg.receipt_url_for(a),
        })
    }
}

/// What the platform remembers of an accepted FordelingsobjektAfsend.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub anvender: String,
    pub distribution_transaktions_id: Uuid,
    /// SHA-256 of the canonical encoding of the `anmodning`: a resend must carry the same.
    pub payload_sha256: String,
    pub response: Arc<String>,
    pub context: DistributionContext,
    pub duplicates: u32,
}

/// The simulated platform's state shared by all connections.
pub struct Platform {
    pub journal: Journal,
    pub faults: Faults,
    pub routing: RoutingTable,
    pub quirks: crate::config::Quirks,
    pub anvendere: Vec<Anvender>,
    pub sync_kvittering: Forretningskvittering,
    pub receipts: Receipts,
    /// Where the SFTP users' areas are, to check that DokumentFilNavn was delivered.
    pub sftp_root: PathBuf,
    /// `[sftp] dokument_requires_trigger`: see [`check_object`].
    pub dokument_requires_trigger: bool,
    transactions: Mutex<HashMap<Uuid, Transaction>>,
}

impl Platform {
    pub fn new(
        config: &SimConfig,
        journal: Journal,
        faults: Faults,
        receipts: Receipts,
        sftp_root: PathBuf,
    ) -> anyhow::Result<Self> {
        let anvendere = config
            .anvendere
            .iter()
            .map(|a| Anvender::from_config(config, a))
            .collect::<Result<_, _>>()?;
        let sync_kvittering = Forretningskvittering::new(
            ForretningsValideringsKode::parse(&config.soap.sync_kode)?,
            Kvitteringstype::parse(&config.soap.sync_kvitteringstype)?,
        );
        Ok(Self {
            journal,
            faults,
            routing: RoutingTable::new(&config.routing)?,
            quirks: config.quirks.clone(),
            anvendere,
            sync_kvittering,
            receipts,
            sftp_root,
            dokument_requires_trigger: config.sftp.dokument_requires_trigger,
            transactions: Mutex::new(HashMap::new()),
        })
    }

    pub fn transaction(&self, anvender_transaktions_id: &Uuid) -> Option<Transaction> {
        self.lock().get(anvender_transaktions_id).cloned()
    }

    pub fn transaction_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Transaction>> {
        self.transactions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The router of the platform port.
pub fn router(platform: Arc<Platform>) -> axum::Router {
    axum::Router::new()
        .route(sf2900::ns::SERVICE_PATH, axum::routing::post(handle))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(platform)
}

async fn handle(
    State(p): State<Arc<Platform>>,
    peer: Option<Extension<PeerCerts>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let action = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let outcome = serve(&p, peer.map(|Extension(c)| c), action.as_deref(), &body).await;
    let (status, xml) = match outcome {
        Ok(xml) => (StatusCode::OK, xml),
        Err(Refusal::Fault(f)) => (StatusCode::INTERNAL_SERVER_ERROR, f.envelope()),
        Err(Refusal::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
    };
    (status, [(header::CONTENT_TYPE, soap::CONTENT_TYPE)], xml).into_response()
}

enum Refusal {
    Fault(Box<Fault>),
    Unavailable,
}

fn transport_fault(code: FaultCode, text: &str, fejl: Vec<Fejl>) -> Refusal {
    Refusal::Fault(Box::new(Fault {
        code,
        string: text.to_owned(),
        actor: None,
        detail: Some(FaultDetail::TransportKvittering(TransportKvitteringFault {
            version: PortVersion::V3,
            kvittering: TransportKvittering {
                transport_validerings_kode: TransportValideringsKode::Fejl,
                begrundelse: Some(text.to_owned()),
                fejl_liste: (!fejl.is_empty()).then_some(FejlListe { fejl }),
            },
        })),
    }))
}

fn platform_fault(code: &str, text: &str) -> Refusal {
    Refusal::Fault(Box::new(Fault {
        code: FaultCode::Client,
        string: text.to_owned(),
        actor: None,
        detail: Some(FaultDetail::ServiceplatformFault(
            ServiceplatformFault::new(code, text),
        )),
    }))
}

fn fejl(kode: &str, tekst: impl Into<String>) -> Fejl {
    Fejl {
        fejl_kode: kode.to_owned(),
        fejl_tekst: tekst.into(),
    }
}

async fn serve(
    p: &Platform,
    peer: Option<PeerCerts>,
    action: Option<&str>,
    body: &[u8],
) -> Result<String, Refusal> {
    let op_hint = action.and_then(Operation::from_soap_action);
    let record = |op: &str, cvr: Option<&Cvr>, outcome: String| {
        p.journal.record(Event::Call {
            operation: op.to_owned(),
            cvr: cvr.map(|c| c.to_string()),
            anvender_transaktions_id: None,
            distribution_transaktions_id: None,
            outcome,
            duplicate: false,
        })
    };
    let op_name = op_hint.map_or("unknown", Operation::name);

    // The certificate: the handshake already checked the CA; here it must belong to an anvender.
    let Some(anvender) = peer
        .as_ref()
        .and_then(|c| c.leaf_fingerprint())
        .and_then(|fp| p.anvendere.iter().find(|a| a.fingerprint == fp))
    else {
        record(op_name, None, "fault:unknown-certificate".into());
        return Err(platform_fault(
            "SP-AUTH-1",
            "The client certificate is not registered for an IT system with a service agreement",
        ));
    };

    let Ok(doc) = std::str::from_utf8(body) else {
        record(op_name, None, "fault:not-utf8".into());
        return Err(transport_fault(
            FaultCode::Client,
            "The request is not UTF-8",
            vec![],
        ));
    };
    let request = match Request::parse_strict(doc, action) {
        Ok(r) => r,
        Err(RequestError::Soap(soap::SoapError::Decode(e))) | Err(RequestError::Decode(e)) => {
            record(op_name, None, "fault:invalid".into());
            return Err(transport_fault(
                FaultCode::Client,
                "Anmodningen er ikke gyldig",
                vec![fejl("VALIDERING", e.to_string())],
            ));
        }
        Err(e) => {
            record(op_name, None, "fault:invalid".into());
            return Err(transport_fault(FaultCode::Client, &e.to_string(), vec![]));
        }
    };
    let op = request.operation();

    let Some(auth) = request.authority_context() else {
        record(op.name(), None, "fault:no-authority-context".into());
        return Err(platform_fault("SP-AUTH-2", NO_SECURITY_MODEL));
    };
    let cvr = auth.municipality_cvr.clone();
    if !anvender.cvrs.contains(cvr.as_str()) {
        record(op.name(), Some(&cvr), "fault:no-service-agreement".into());
        return Err(platform_fault(
            "SP-AUTH-3",
            &format!(
                "No service agreement lets this certificate act for CVR {cvr} on this service"
            ),
        ));
    }

    // Faults that strike the call itself.
    let kle = match &request {
        Request::FordelingsobjektAfsend(r) => {
            match &r.anmodning.distribution_context.routing_valg {
                sf2900::RoutingValg::KleEmneHandling(k) => Some(k.routing_kle_emne.to_string()),
                sf2900::RoutingValg::ModtagerAktoer(_) => None,
            }
        }
        Request::FordelingsmodtagerList(r) => Some(r.routing.routing_kle_emne.to_string()),
        _ => None,
    };
    let transaction = match &request {
        Request::FordelingsobjektAfsend(r) => Some(
            r.anmodning
                .distribution_context
                .anvender_transaktions_id
                .to_string(),
        ),
        _ => None,
    };
    let hook = match op {
        Operation::FordelingsobjektAfsend => Hook::Afsend,
        Operation::FordelingsmodtagerList => Hook::List,
        Operation::FordelingsmodtagerValider => Hook::Valider,
        Operation::FordelingskvitteringModtag => Hook::KvitteringModtag,
    };
    let subject = Subject {
        kle: kle.as_deref(),
        file: None,
        transaction: transaction.as_deref(),
    };
    let mut forced_kode = None;
    for f in p.faults.pick(hook, &subject) {
        match f.action {
            Action::Latency => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
            Action::SoapFault => {
                record(op.name(), Some(&cvr), "fault:injected".into());
                return Err(transport_fault(
                    FaultCode::Server,
                    "Injected fault (kombit-sim)",
                    vec![fejl("SIM", "injected")],
                ));
            }
            Action::PlatformFault => {
                record(op.name(), Some(&cvr), "fault:injected-platform".into());
                return Err(platform_fault(
                    "SP-500",
                    "Service temporarily unavailable (kombit-sim)",
                ));
            }
            Action::Http503 => {
                record(op.name(), Some(&cvr), "http:503".into());
                return Err(Refusal::Unavailable);
            }
            Action::Afvist => forced_kode = Some(ForretningsValideringsKode::Afvist),
            Action::Fejlet => forced_kode = Some(ForretningsValideringsKode::Fejlet),
            _ => {}
        }
    }

    match request {
        Request::FordelingsobjektAfsend(r) => afsend(p, anvender, &cvr, *r, forced_kode),
        Request::FordelingsmodtagerList(r) => {
            if r.routing.afsendende_myndighed != cvr {
                record(op.name(), Some(&cvr), "fault:afsender".into());
                return Err(afsender_mismatch());
            }
            let system = p.routing.list(
                &r.routing.afsendende_myndighed,
                &r.routing.routing_myndighed,
                &r.routing.routing_kle_emne,
                r.routing.routing_handling_facet.as_ref(),
                &p.quirks,
            );
            record(
                op.name(),
                Some(&cvr),
                format!("ok:{} systems", system.len()),
            );
            Ok(soap::envelope(&FordelingsmodtagerListResponse {
                systemer: Systemer { system },
            }))
        }
        Request::FordelingsmodtagerValider(r) => {
            if r.afsendende_myndighed != cvr {
                record(op.name(), Some(&cvr), "fault:afsender".into());
                return Err(afsender_mismatch());
            }
            let routing_modtager = r
                .routing_liste
                .routing
                .iter()
                .map(|x| {
                    p.routing.valider(
                        &r.afsendende_myndighed,
                        &x.routing_myndighed,
                        x.routing_modtager_aktoer,
                    )
                })
                .collect();
            record(op.name(), Some(&cvr), "ok".into());
            Ok(soap::envelope(&FordelingsmodtagerValiderResponse {
                routing_liste: RoutingResposneListe { routing_modtager },
            }))
        }
        Request::FordelingskvitteringModtag(r) => {
            let id = r.distribution_context.anvender_transaktions_id;
            let Some(t) = p.transaction(&id) else {
                record(op.name(), Some(&cvr), "fault:unknown-transaction".into());
                return Err(transport_fault(
                    FaultCode::Client,
                    "Ukendt transaktion",
                    vec![fejl(
                        "UKENDT",
                        format!("AnvenderTransaktionsID {id} er ikke kendt"),
                    )],
                ));
            };
            // The receipt must name the distribution the platform issued for this transaction:
            // a modtager echoing another (or a stale) DistributionTransktionsID would otherwise
            // settle the wrong delivery. The element is optional in the schema, so an absent one
            // is taken to mean "the one issued".
            if let Some(given) = r.distribution_context.distribution_transaktions_id
                && given != t.distribution_transaktions_id
            {
                record(
                    op.name(),
                    Some(&cvr),
                    "fault:distribution-id-mismatch".into(),
                );
                return Err(transport_fault(
                    FaultCode::Client,
                    "DistributionTransktionsID passer ikke til AnvenderTransaktionsID",
                    vec![fejl(
                        "TRANSAKTION",
                        format!(
                            "DistributionTransktionsID {given} er ikke den, platformen udstedte \
                             for AnvenderTransaktionsID {id}"
                        ),
                    )],
                ));
            }
            // The modtager's business receipt is passed on to the anvender.
            if let Some(url) = p
                .anvendere
                .iter()
                .find(|a| a.name == t.anvender)
                .and_then(|a| a.receipt_url.clone())
            {
                p.receipts
                    .forward(url, t.context.clone(), r.forretningskvittering.clone());
            }
            record(op.name(), Some(&cvr), "ok".into());
            Ok(soap::envelope(&FordelingskvitteringModtagResponse {}))
        }
    }
}

fn afsender_mismatch() -> Refusal {
    transport_fault(
        FaultCode::Client,
        "AfsendendeMyndighed skal være den myndighed, der kaldes for (AuthorityContext)",
        vec![fejl(
            "AFSENDER",
            "AfsendendeMyndighed differs from AuthorityContext/MunicipalityCVR",
        )],
    )
}

fn afsend(
    p: &Platform,
    anvender: &Anvender,
    cvr: &Cvr,
    r: FordelingsobjektAfsendRequest,
    forced_kode: Option<ForretningsValideringsKode>,
) -> Result<String, Refusal> {
    let ctx = &r.anmodning.distribution_context;
    let id = ctx.anvender_transaktions_id;
    let record = |dist: Option<Uuid>, outcome: String, duplicate: bool| {
        p.journal.record(Event::Call {
            operation: Operation::FordelingsobjektAfsend.name().into(),
            cvr: Some(cvr.to_string()),
            anvender_transaktions_id: Some(id.to_string()),
            distribution_transaktions_id: dist.map(|d| d.to_string()),
            outcome,
            duplicate,
        })
    };
    if ctx.afsendende_myndighed != *cvr {
        record(None, "fault:afsender".into(), false);
        return Err(afsender_mismatch());
    }
    let payload_sha256 = payload_hash(&r);

    // Idempotency: the same AnvenderTransaktionsID gets the same answer, once processed.
    {
        let mut txs = p.lock();
        if let Some(t) = txs.get_mut(&id) {
            t.duplicates += 1;
            let same = t.payload_sha256 == payload_sha256;
            let response = t.response.clone();
            let dist = t.distribution_transaktions_id;
            drop(txs);
            p.journal.record(Event::Duplicate {
                anvender_transaktions_id: id.to_string(),
                same_payload: same,
            });
            record(Some(dist), "duplicate".into(), true);
            return Ok((*response).clone());
        }
    }

    let (kode, begrundelse, fejl_liste) = match check_object(p, anvender, &r) {
        Err(reason) => (
            ForretningsValideringsKode::Afvist,
            Some(reason.clone()),
            Some(FejlListe {
                fejl: vec![fejl("AFVIST", reason)],
            }),
        ),
        Ok(()) => match forced_kode {
            Some(k) => (k, Some(format!("Injected {k} (kombit-sim)")), None),
            None => (p.sync_kvittering.forretnings_validerings_kode, None, None),
        },
    };
    let dist = Uuid::new_v4();
    let mut context = ctx.clone();
    context.distribution_transaktions_id = Some(dist);
    let response = FordelingsobjektAfsendResponse {
        forretnings_kvittering: Forretningskvittering {
            forretnings_validerings_kode: kode,
            kvitteringstype: p.sync_kvittering.kvitteringstype,
            begrundelse,
            fejl_liste,
        },
        distribution_context: context.clone(),
    };
    let xml = Arc::new(soap::envelope(&response));
    p.lock().insert(
        id,
        Transaction {
            anvender: anvender.name.clone(),
            distribution_transaktions_id: dist,
            payload_sha256,
            response: xml.clone(),
            context: context.clone(),
            duplicates: 0,
        },
    );
    record(Some(dist), kode.to_string(), false);
    if !kode.is_failure()
        && let Some(url) = &anvender.receipt_url
    {
        let kle = match &ctx.routing_valg {
            sf2900::RoutingValg::KleEmneHandling(k) => Some(k.routing_kle_emne.to_string()),
            sf2900::RoutingValg::ModtagerAktoer(_) => None,
        };
        let faults = p.faults.pick(
            Hook::Receipt,
            &Subject {
                kle: kle.as_deref(),
                file: None,
                transaction: Some(&id.to_string()),
            },
        );
        p.receipts
            .schedule(ReceiptPlan::new(url.clone(), context, faults));
    }
    Ok((*xml).clone())
}

/// Business checks of the object: it must be routable, and a named document must have been
/// delivered over SFTP. Delivered means the file is in the anvender's `/OUT/` (a DOKUMENT's PDF
/// is uploaded without a trigger, sf2900.md §1.2), or a trigger for it got a SUCCESS receipt;
/// with `dokument_requires_trigger` only the SUCCESS receipt counts.
fn check_object(
    p: &Platform,
    anvender: &Anvender,
    r: &FordelingsobjektAfsendRequest,
) -> Result<(), String> {
    let ctx = &r.anmodning.distribution_context;
    if p.routing
        .route(
            &ctx.afsendende_myndighed,
            &ctx.routing_myndighed,
            &ctx.routing_valg,
        )
        .is_empty()
    {
        return Err(format!(
            "Ingen fordelingsregel hos {} passer til objektets routning",
            ctx.routing_myndighed
        ));
    }
    if let Some(name) = &ctx.dokument_fil_navn {
        let Some(user) = &anvender.sftp_user else {
            return Err("DokumentFilNavn er angivet, men anvenderen har ingen SFTP-bruger".into());
        };
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err("DokumentFilNavn skal være et filnavn uden sti".into());
        }
        let home = p.sftp_root.join(user);
        let receipt = home.join("IN").join(sf2900::sftp::receipt_name(name));
        let triggered = std::fs::read_to_string(&receipt)
            .ok()
            .and_then(|x| sf2900::sftp::TechnicalReceipt::from_xml(&x).ok())
            .is_some_and(|r| r.is_success());
        if p.dokument_requires_trigger {
            if !triggered {
                return Err(format!(
                    "Filen {name} er ikke leveret via SFTP (ingen SUCCESS-kvittering; \
                     dokument_requires_trigger = true)"
                ));
            }
            return Ok(());
        }
        // symlink_metadata: only a plain file the user uploaded counts, never a link out of it.
        let uploaded =
            std::fs::symlink_metadata(home.join("OUT").join(name)).is_ok_and(|m| m.is_file());
        if !uploaded && !triggered {
            return Err(format!(
                "Filen {name} er ikke leveret via SFTP (findes ikke i /OUT/ hos {user})"
            ));
        }
    }
    Ok(())
}

fn payload_hash(r: &FordelingsobjektAfsendRequest) -> String {
    use sf2900::codec::XmlValue;
    let mut w = sf2900::xml::Writer::new();
    r.anmodning
        .write_xml(&mut w, Some(sf2900::ns::V3), "anmodning");
    crate::tls::fingerprint_sha256(w.finish().as_bytes())
}
