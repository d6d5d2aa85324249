//! Starting a whole simulated platform from a [`SimConfig`], and the inspection API.
//!
//! [`start`] is what `kombit-sim serve`, the tests and the Fordeler's demo call: it binds the
//! SOAP port (mTLS), the SFTP service and the inspection API, all on real sockets, and returns
//! their addresses together with the shared state so an in-process caller can look inside.

use crate::config::SimConfig;
use crate::faults::{FaultRule, Faults};
use crate::journal::{Entry, Event, Journal};
use crate::receipts::Receipts;
use crate::server::ServerHandle;
use crate::sftp::{SftpHandle, SftpSettings, SftpUser};
use crate::soap::Platform;
use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A running simulator. Dropping it stops every listener.
pub struct RunningSim {
    pub soap_addr: SocketAddr,
    pub sftp_addr: SocketAddr,
    pub inspect_addr: SocketAddr,
    pub platform: Arc<Platform>,
    pub journal: Journal,
    pub faults: Faults,
    pub config: SimConfig,
    _soap: ServerHandle,
    _inspect: ServerHandle,
    _sftp: SftpHandle,
    /// The SFTP area when none was configured; removed when the simulator stops.
    _sftp_tmp: Option<tempfile::TempDir>,
}

impl RunningSim {
    /// `https://127.0.0.1:PORT/service/SP/Distribution/3`.
    pub fn soap_url(&self) -> String {
        format!("https://{}{}", self.soap_addr, sf2900::ns::SERVICE_PATH)
    }

    pub fn inspect_url(&self) -> String {
        format!("http://{}", self.inspect_addr)
    }

    pub fn summary(&self) -> Summary {
        Summary::of(&self.journal.snapshot(), &self.platform)
    }
}

/// Starts SOAP, SFTP and the inspection API as the configuration says.
pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
    crate::tls::install_crypto_provider();
    config
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let journal = Journal::new();
    let faults = Faults::new(config.faults.clone());

    let (sftp_root, sftp_tmp) = match &config.sftp.root {
        Some(r) => (r.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("kombit-sim-sftp")
                .tempdir()
                .context("SFTP temp dir")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut users = Vec::new();
    for a in &config.anvendere {
        if let (Some(user), Some(key)) = (&a.sftp_user, &a.sftp_public_key) {
            // A file (relative to the PKI dir) or the key line itself.
            let path = config.pki_path(key);
            let source = if path.exists() {
                path.display().to_string()
            } else {
                key.display().to_string()
            };
            let u = SftpUser::from_openssh(user.clone(), &source)
                .with_context(|| format!("anvender {}: sftp_public_key", a.name))?;
            users.push(u);
        }
    }
    let host_key_path = config.pki_path(&config.sftp.host_key);
    let host_key = russh::keys::load_secret_key(&host_key_path, None)
        .with_context(|| format!("SSH host key {}", host_key_path.display()))?;
    let sftp = crate::sftp::start(
        SftpSettings {
            listen: config.sftp.listen,
            root: sftp_root.clone(),
            host_key,
            users,
            receipt_delay: Duration::from_millis(config.sftp.receipt_delay_ms),
        },
        journal.clone(),
        faults.clone(),
    )
    .await
    .context("starting the SFTP service")?;

    let wants_receipts = log_receipt_destinations(&config);
    let client = if wants_receipts {
        Some(crate::tls::reqwest_client(
            &config.pki_path(&config.receipts.server_ca),
            &config.pki_path(&config.receipts.client_cert),
            &config.pki_path(&config.receipts.client_key),
        )?)
    } else {
        None
    };
    let receipts = Receipts::new(client, &config.receipts, journal.clone())?;
    let platform = Arc::new(Platform::new(
        &config,
        journal.clone(),
        faults.clone(),
        receipts,
        sftp_root,
    )?);

    let tls = crate::tls::server_config(
        &config.pki_path(&config.soap.client_ca),
        &config.pki_path(&config.soap.server_cert),
        &config.pki_path(&config.soap.server_key),
        true,
    )?;
    let soap = crate::server::serve_https(
        config.soap.listen,
        tls,
        crate::soap::router(platform.clone()),
    )
    .await
    .context("starting the SOAP port")?;
    let inspect =
        crate::server::serve_http(config.inspect_listen, inspect_router(platform.clone()))
            .await
            .context("starting the inspection API")?;

    Ok(RunningSim {
        soap_addr: soap.local_addr(),
        sftp_addr: sftp.local_addr(),
        inspect_addr: inspect.local_addr(),
        journal,
        faults,
        platform,
        config,
        _soap: soap,
        _inspect: inspect,
        _sftp: sftp,
        _sftp_tmp: sftp_tmp,
    })
}

/// Says, once per anvender, where its asynchronous receipts will go, and warns about each one
/// that will get none: a simulator that silently sends nothing looks like a broken receiver.
/// True when at least one anvender gets receipts (so the HTTPS client is needed).
fn log_receipt_destinations(config: &SimConfig) -> bool {
    let mut any = false;
    for a in &config.anvendere {
        match config.receipt_url_for(a) {
            Some(url) => {
                any = true;
                tracing::info!(
                    anvender = %a.name,
                    "asynchronous receipts for anvender {} go to {url}",
                    a.name
                );
            }
            None => {
                let why = if a.receipt_url.is_some() {
                    "its receipt_url is \"\""
                } else {
                    "[receipts] url is \"\" and it has no receipt_url"
                };
                tracing::warn!(
                    anvender = %a.name,
                    "no asynchronous receipts will be sent for anvender {}: {why}",
                    a.name
                );
            }
        }
    }
    any
}

/// Counts of what the platform saw, for the demo's final table and quick assertions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Calls per operation and outcome: `{"FordelingsobjektAfsend": {"MODTAGET": 3}}`.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    pub transactions: u64,
    pub duplicates: u64,
    /// Duplicates that carried a different payload than the first call.
    pub duplicates_with_other_payload: u64,
    pub files: u64,
    pub triggers: BTreeMap<String, u64>,
    pub receipts: BTreeMap<String, u64>,
    pub receipts_in_flight: u64,
}

impl Summary {
    pub fn of(entries: &[Entry], platform: &Platform) -> Self {
        let mut s = Summary {
            transactions: platform.transaction_count() as u64,
            receipts_in_flight: platform.receipts.in_flight() as u64,
            ..Default::default()
        };
        for e in entries {
            match &e.event {
                Event::Call {
                    operation, outcome, ..
                } => {
                    *s.calls
                        .entry(operation.clone())
                        .or_default()
                        .entry(outcome.clone())
                        .or_default() += 1
                }
                Event::Duplicate { same_payload, .. } => {
                    s.duplicates += 1;
                    s.duplicates_with_other_payload += u64::from(!same_payload);
                }
                Event::File { .. } => s.files += 1,
                Event::Trigger { outcome, .. } => {
                    *s.triggers.entry(outcome.clone()).or_default() += 1
                }
                Event::Receipt { outcome, .. } => {
                    *s.receipts.entry(outcome.clone()).or_default() += 1
                }
                Event::SftpReceipt { .. } => {}
            }
        }
        s
    }
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

/// `GET /sim/journal?since=N`, `GET /sim/summary`, `GET|PUT|POST /sim/faults`,
/// `GET /sim/transactions/{id}`, `GET /healthz`.
pub fn inspect_router(platform: Arc<Platform>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/sim/journal",
            get(
                |State(p): State<Arc<Platform>>, Query(q): Query<Since>| async move {
                    Json(p.journal.since(q.since))
                },
            ),
        )
        .route(
            "/sim/summary",
            get(|State(p): State<Arc<Platform>>| async move {
                Json(Summary::of(&p.journal.snapshot(), &p))
            }),
        )
        .route(
            "/sim/faults",
            get(|State(p): State<Arc<Platform>>| async move { Json(p.faults.rules()) })
                .put(
                    |State(p): State<Arc<Platform>>, Json(rules): Json<Vec<FaultRule>>| async move {
                        p.faults.replace(rules);
                        StatusCode::NO_CONTENT
                    },
                )
                .post(
                    |State(p): State<Arc<Platform>>, Json(rule): Json<FaultRule>| async move {
                        p.faults.add(rule);
                        StatusCode::NO_CONTENT
                    },
                ),
        )
        .route("/sim/transactions/{id}", get(transaction))
        .with_state(platform)
}

#[derive(Serialize)]
struct TransactionView {
    anvender: String,
    distribution_transaktions_id: String,
    payload_sha256: String,
    duplicates: u32,
}

async fn transaction(
    State(p): State<Arc<Platform>>,
    UrlPath(id): UrlPath<String>,
) -> axum::response::Response {
    let Ok(id) = sf2900::types::parse_uuid(&id) else {
        return (StatusCode::BAD_REQUEST, "id: not a UUID").into_response();
    };
    match p.transaction(&id) {
        Some(t) => Json(TransactionView {
            anvender: t.anvender,
            distribution_transaktions_id: t.distribution_transaktions_id.to_string(),
            payload_sha256: t.payload_sha256,
            duplicates: t.duplicates,
        })
        .into_response(),
        None => (StatusCode::NOT_FOUND, "unknown AnvenderTransaktionsID").into_response(),
    }
}
