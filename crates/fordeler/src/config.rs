//! `fordeler.toml`: tenants (municipalities), forms and their routes, and the service itself.
//!
//! Loaded through `service_kit::config` (every key overridable as `FORDELER_…`) as the file
//! writes it ([`written`]), then checked once into [`Config`]: every value that SF2900
//! constrains (CVR, KLE, facet, UUID) becomes the protocol crate's own type, so a typo fails at
//! start-up with the file and key named, not at 3 a.m. when the first citizen submits, and the
//! code that uses a value gets it already checked. Secrets are never in this file: it names the
//! files or environment variables that hold them.

use anyhow::Context as _;
use serde::Deserialize;
use sf2900::{Cvr, HandlingFacet, KleEmne, Uuid};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration, checked: what [`Config::load`] returns, and what deserialising one gives
/// (through [`written::Config`] and [`Config::check`]).
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// Our HTTPS endpoint for FordelingskvitteringModtag callbacks (mutual TLS).
    pub receipts: Option<ReceiptEndpointConfig>,
    pub delivery: DeliveryConfig,
    pub tenants: Vec<TenantConfig>,
    pub forms: Vec<FormConfig>,
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Config::check(written::Config::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Intake and operator API (plain HTTP; put TLS in front, or keep it on a private network).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer token for the operator API, from a file or an environment variable.
    pub api_token: Option<Secret>,
    /// Bearer token a Prometheus on another machine scrapes `/metrics` with; without it only
    /// a scraper on this machine (not through a proxy) may.
    pub metrics_token: Option<Secret>,
    /// JSON log lines.
    #[serde(default)]
    pub log_json: bool,
    /// Intake refuses (413) a submission with more files than this.
    #[serde(default = "default_max_files")]
    pub max_files_per_submission: usize,
    /// The largest submission intake takes (the Remote post's JSON, files in Base64), bytes.
    #[serde(default = "default_max_submission")]
    pub max_submission_bytes: usize,
    /// Open connections per listener (intake/API, receipts); when all are taken the one idle
    /// longest is closed to make room.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// To finish the TLS handshake and send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// To send a request's body after its headers (and to take an answer that stalls).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            api_token: None,
            metrics_token: None,
            log_json: false,
            max_files_per_submission: default_max_files(),
            max_submission_bytes: default_max_submission(),
            max_connections: default_max_connections(),
            header_timeout_seconds: default_header_timeout(),
            body_timeout_seconds: default_body_timeout(),
        }
    }
}

impl ServerConfig {
    /// What each listener allows its peers.
    pub fn limits(&self) -> Result<service_kit::listener::Limits, String> {
        service_kit::listener::Limits::from_config(
            self.max_connections,
            self.header_timeout_seconds,
            self.body_timeout_seconds,
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://fordeler.db` (default) or `postgres://user@host/db`.
    #[serde(default = "default_db_url")]
    pub url: String,
    #[serde(default = "default_db_connections")]
    pub max_connections: u32,
    /// Payloads (form data, files, rendered XML) are deleted this many days after delivery;
    /// the delivery's metadata and timeline are kept.
    #[serde(default = "default_purge_days")]
    pub purge_after_days: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db_url(),
            max_connections: default_db_connections(),
            purge_after_days: default_purge_days(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptEndpointConfig {
    pub listen: SocketAddr,
    /// Server certificate and key (PEM) of the receipt endpoint, as registered with KOMBIT.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// CA (PEM) whose client certificates may reach the endpoint (Serviceplatformen's).
    pub client_ca: PathBuf,
    /// Of those, only the platform's own certificate may post receipts: its subject (the
    /// attributes in any order, e.g. `CN=…, O=KOMBIT A/S, C=DK`; it survives the yearly
    /// renewal) and/or its SHA-256 fingerprint. At least one is required: every certificate
    /// from the CA (every municipality's too) would otherwise settle anyone's deliveries.
    pub platform_subject: Option<String>,
    pub platform_fingerprint_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// "Delivered" only after the asynchronous Forretning receipt (else after the synchronous
    /// answer and the Teknisk receipt).
    #[serde(default = "yes")]
    pub wait_for_forretning: bool,
    /// Give up (and tell the operator) when a delivery is older than this.
    #[serde(default = "default_max_age_hours")]
    pub max_age_hours: u64,
    /// How long to wait for an asynchronous receipt before telling the operator.
    #[serde(default = "default_receipt_timeout_minutes")]
    pub receipt_timeout_minutes: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency_per_tenant: usize,
    /// First retry delay; doubled each attempt (with jitter) up to `retry_max_seconds`.
    #[serde(default = "default_retry_base")]
    pub retry_base_seconds: u64,
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: u64,
    /// Timeout of each SOAP or SFTP call.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_seconds: u64,
    /// How often the SFTP `/IN/` directory is checked for a receipt.
    #[serde(default = "default_sftp_poll_ms")]
    pub sftp_receipt_poll_ms: u64,
    /// The official KOMBIT schemas (the directory holding `sf2900/DistributionServiceMsg.xsd`),
    /// if this installation has them: every message is then validated against them before it
    /// is sent. Without them, every message is checked by strict decoding (order, namespaces,
    /// values), which the conformance tests prove equivalent for what we build.
    pub kombit_xsd_dir: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            wait_for_forretning: true,
            max_age_hours: default_max_age_hours(),
            receipt_timeout_minutes: default_receipt_timeout_minutes(),
            concurrency_per_tenant: default_concurrency(),
            retry_base_seconds: default_retry_base(),
            retry_max_seconds: default_retry_max(),
            call_timeout_seconds: default_call_timeout(),
            sftp_receipt_poll_ms: default_sftp_poll_ms(),
            kombit_xsd_dir: None,
        }
    }
}

pub use service_kit::config::Secret;

#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The municipality's CVR: AuthorityContext and AfsendendeMyndighed.
    pub cvr: Cvr,
    pub name: String,
    /// `https://…/service/SP/Distribution/3` (exttest.serviceplatformen.dk or prod.…).
    pub service_url: String,
    /// Extra trust anchors for the service (PEM), e.g. a test platform's CA.
    pub service_ca: Option<PathBuf>,
    /// The FOCES/OCES3 system certificate as PKCS#12, and its passphrase.
    pub certificate: PathBuf,
    pub passphrase: Secret,
    /// The IT system registered at KOMBIT (RegistreringItSystem, SenderIt-system).
    pub it_system: Uuid,
    /// Default RoutingMyndighed (else the tenant's CVR).
    pub routing_myndighed: Option<Cvr>,
    /// The public URL of our receipt endpoint, as registered with KOMBIT (for check-config).
    pub receipt_url: Option<String>,
    pub sftp: Option<SftpConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    pub host: String,
    #[serde(default = "default_sftp_port")]
    pub port: u16,
    pub user: String,
    /// Passwordless OpenSSH private key registered with KOMBIT.
    pub key: PathBuf,
    /// `SHA256:…` of the server's host key. Required: without it `serve` refuses to start and
    /// names the key the server presents, for the operator to compare and pin.
    pub host_key_fingerprint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FormConfig {
    /// The Drupal webform id, e.g. `os2forms_fdk_kp_sp241`.
    pub webform_id: String,
    /// CVR of the tenant that owns the form (one of [`Config::tenants`]).
    pub tenant: Cvr,
    /// Webform Remote post: the `Authorization` header value expected (a secret).
    pub remote_post_token: Option<Secret>,
    /// The queued "ping" handler: expected `Authorization` header, and how to pull.
    pub ping_token: Option<Secret>,
    /// OS2forms site to pull from (ping and polling): base URL and `api-key`.
    pub os2forms_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Poll `/webform_rest/{form}/submissions` this often (0: no polling).
    pub poll_seconds: u64,
    pub routes: Vec<RouteConfig>,
}

/// What the PHP handler calls its settings: where and how one submission goes.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Stable id of the route within the form (part of the dedupe key and of SFTP file names:
    /// 1 to 64 of A-Z, a-z, 0-9 and _).
    pub id: String,
    pub distribution_type: DistributionType,
    /// At least one of `kle_emne` and `routing_modtager_aktoer` is set.
    pub kle_emne: Option<KleEmne>,
    pub handling_facet: Option<HandlingFacet>,
    /// Route to this modtager-aktør instead of by KLE.
    pub routing_modtager_aktoer: Option<Uuid>,
    pub routing_myndighed: Option<Cvr>,
    /// Texts with tokens `[webform_submission:values:<key>]`, `[webform_submission:uuid]`, ….
    pub titel: String,
    pub beskrivelse: String,
    pub brugervendt_noegle: String,
    pub journalpost_message: String,
    /// The element holding the PDF (DOKUMENT, FORMULAR), e.g. the receipt attachment `kvittering`.
    pub attachment_element: Option<String>,
    /// FORMULAR: FormularType, e.g. `HelbredstillægAnsøgningFormular_1`.
    pub formular_type: Option<String>,
    /// FORMULAR: Twig template of the form XML, and the XSD it must validate against.
    pub xml_template: Option<PathBuf>,
    pub xsd: Option<PathBuf>,
    pub files: RouteFiles,
}

/// How uploaded files travel (FORMULAR attachments over SFTP).
#[derive(Debug, Clone)]
pub struct RouteFiles {
    /// InfRef of the trigger, e.g. `HelbredstillægAnsøgningBilag_1`.
    pub filspecifikation: Option<String>,
    /// Look the recipient IT system up with FordelingsmodtagerList (default on).
    pub recipient_it_system_look_up: bool,
    pub recipient_it_system: Option<Uuid>,
    pub recipient_authority: Option<Cvr>,
}

/// What a route sends. Its one spelling is [`DistributionType::as_str`] (the protocol's name),
/// used by the store's column and the API's JSON; serde's `UPPERCASE` reads the configuration
/// with the same text, which a unit test holds to `as_str`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum DistributionType {
    Journalpost,
    Dokument,
    Formular,
}

impl DistributionType {
    pub const ALL: &'static [DistributionType] = &[
        DistributionType::Journalpost,
        DistributionType::Dokument,
        DistributionType::Formular,
    ];

    /// The protocol's name: JOURNALPOST, DOKUMENT, FORMULAR.
    pub fn as_str(self) -> &'static str {
        match self {
            DistributionType::Journalpost => "JOURNALPOST",
            DistributionType::Dokument => "DOKUMENT",
            DistributionType::Formular => "FORMULAR",
        }
    }

    /// The type [`DistributionType::as_str`] spells `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl serde::Serialize for DistributionType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl RouteConfig {
    /// RoutingMyndighed: the route's, else the tenant's default, else the tenant itself.
    pub fn routing_myndighed<'a>(&'a self, tenant: &'a TenantConfig) -> &'a Cvr {
        self.routing_myndighed
            .as_ref()
            .or(tenant.routing_myndighed.as_ref())
            .unwrap_or(&tenant.cvr)
    }
}

/// The tables whose values [`Config::check`] turns into types, as the file writes them; the
/// keys and their meaning are those of [`TenantConfig`], [`FormConfig`], [`RouteConfig`] and
/// [`RouteFiles`]. Only deserialisation reads these.
pub mod written {
    use super::{
        DatabaseConfig, DeliveryConfig, DistributionType, ReceiptEndpointConfig, Secret,
        ServerConfig, SftpConfig, yes,
    };
    use serde::Deserialize;
    use std::path::PathBuf;

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        #[serde(default)]
        pub server: ServerConfig,
        #[serde(default)]
        pub database: DatabaseConfig,
        pub receipts: Option<ReceiptEndpointConfig>,
        #[serde(default)]
        pub delivery: DeliveryConfig,
        #[serde(default, rename = "tenant")]
        pub tenants: Vec<Tenant>,
        #[serde(default, rename = "form")]
        pub forms: Vec<Form>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Tenant {
        pub cvr: String,
        pub name: String,
        pub service_url: String,
        pub service_ca: Option<PathBuf>,
        pub certificate: PathBuf,
        pub passphrase: Secret,
        pub it_system: String,
        pub routing_myndighed: Option<String>,
        pub receipt_url: Option<String>,
        pub sftp: Option<SftpConfig>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Form {
        pub webform_id: String,
        pub tenant: String,
        pub remote_post_token: Option<Secret>,
        pub ping_token: Option<Secret>,
        pub os2forms_url: Option<String>,
        pub api_key: Option<Secret>,
        #[serde(default)]
        pub poll_seconds: u64,
        #[serde(rename = "route")]
        pub routes: Vec<Route>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Route {
        pub id: String,
        pub distribution_type: DistributionType,
        pub kle_emne: Option<String>,
        pub handling_facet: Option<String>,
        pub routing_modtager_aktoer: Option<String>,
        pub routing_myndighed: Option<String>,
        #[serde(default)]
        pub titel: String,
        #[serde(default)]
        pub beskrivelse: String,
        #[serde(default)]
        pub brugervendt_noegle: String,
        #[serde(default)]
        pub journalpost_message: String,
        pub attachment_element: Option<String>,
        pub formular_type: Option<String>,
        pub xml_template: Option<PathBuf>,
        pub xsd: Option<PathBuf>,
        #[serde(default)]
        pub files: RouteFiles,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RouteFiles {
        pub filspecifikation: Option<String>,
        #[serde(default = "yes")]
        pub recipient_it_system_look_up: bool,
        pub recipient_it_system: Option<String>,
        pub recipient_authority: Option<String>,
    }

    /// A route without `[form.route.files]` gets what an empty table gives: the look-up on.
    /// (A derived `Default` would turn it off, which the example says it is not.)
    impl Default for RouteFiles {
        fn default() -> Self {
            Self {
                filspecifikation: None,
                recipient_it_system_look_up: yes(),
                recipient_it_system: None,
                recipient_authority: None,
            }
        }
    }
}

fn yes() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8090))
}
/// Far above a real form's files (the KP forms' schemas allow 30 documents), and a bound on
/// what one request makes the Fordeler store, upload and track.
fn default_max_files() -> usize {
    1_000
}
fn default_max_submission() -> usize {
    64 << 20
}
fn default_max_connections() -> usize {
    service_kit::listener::DEFAULT_MAX_CONNECTIONS
}
fn default_header_timeout() -> u64 {
    service_kit::listener::DEFAULT_HEADER_TIMEOUT_SECONDS
}
fn default_body_timeout() -> u64 {
    service_kit::listener::DEFAULT_BODY_TIMEOUT_SECONDS
}
fn default_db_url() -> String {
    "sqlite://fordeler.db".into()
}
fn default_db_connections() -> u32 {
    8
}
fn default_purge_days() -> u32 {
    30
}
fn default_max_age_hours() -> u64 {
    72
}
fn default_receipt_timeout_minutes() -> u64 {
    60
}
fn default_concurrency() -> usize {
    4
}
fn default_retry_base() -> u64 {
    10
}
fn default_retry_max() -> u64 {
    3600
}
fn default_call_timeout() -> u64 {
    60
}
fn default_sftp_poll_ms() -> u64 {
    1000
}
fn default_sftp_port() -> u16 {
    22
}

/// `FORDELER_SECTION__KEY=value` overrides a key (see `service_kit::config`).
pub const ENV_PREFIX: &str = "FORDELER";

/// Relative paths in the config are relative to the config file's directory.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Config {
    /// Loads and checks `path`; `FORDELER_SECTION__KEY` environment variables override keys.
    pub fn load(path: &Path) -> anyhow::Result<(Self, PathBuf)> {
        let as_written: written::Config = service_kit::config::load(path, ENV_PREFIX)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let cfg = Config::check(as_written).map_err(|e| {
            let e = service_kit::config::blame_override(ENV_PREFIX, e);
            anyhow::anyhow!("{}: {e}", path.display())
        })?;
        Ok((cfg, base))
    }

    pub fn tenant(&self, cvr: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.cvr.as_str() == cvr)
    }

    pub fn form(&self, webform_id: &str) -> Option<&FormConfig> {
        self.forms.iter().find(|f| f.webform_id == webform_id)
    }

    /// Checks what serde cannot, protocol values and references, and gives them their types.
    /// Errors name the key.
    pub fn check(as_written: written::Config) -> Result<Config, String> {
        let written::Config {
            server,
            database,
            receipts,
            delivery,
            tenants: written_tenants,
            forms: written_forms,
        } = as_written;
        server.limits()?;
        if let Some(r) = &receipts {
            r.platform()?;
        }
        if server.max_submission_bytes < 1024 {
            return Err("server.max_submission_bytes: must be at least 1024".into());
        }
        let mut tenants: Vec<TenantConfig> = Vec::with_capacity(written_tenants.len());
        for (i, t) in written_tenants.into_iter().enumerate() {
            let at = |k: &str| format!("tenant[{i}].{k}");
            let t = check_tenant(t, &tenants, &at)?;
            tenants.push(t);
        }
        let mut forms: Vec<FormConfig> = Vec::with_capacity(written_forms.len());
        for (i, f) in written_forms.into_iter().enumerate() {
            let at = |k: &str| format!("form[{i}].{k}");
            if forms.iter().any(|other| other.webform_id == f.webform_id) {
                return Err(format!(
                    "{}: another [[form]] has the same webform_id",
                    at("webform_id")
                ));
            }
            let Some(tenant) = tenants.iter().find(|t| t.cvr.as_str() == f.tenant) else {
                return Err(format!("{}: no [[tenant]] has this CVR", at("tenant")));
            };
            if f.routes.is_empty() {
                return Err(format!(
                    "{}: a form needs at least one [[form.route]]",
                    at("route")
                ));
            }
            check_pull(&f, &at)?;
            let mut routes: Vec<RouteConfig> = Vec::with_capacity(f.routes.len());
            for (j, r) in f.routes.into_iter().enumerate() {
                let at = |k: &str| format!("form[{i}].route[{j}].{k}");
                if routes.iter().any(|other| other.id == r.id) {
                    return Err(format!(
                        "{}: another route of this form has the same id",
                        at("id")
                    ));
                }
                let r = check_route(r, &at)?;
                if r.distribution_type == DistributionType::Dokument && tenant.sftp.is_none() {
                    return Err(format!(
                        "{}: DOKUMENT needs SFTP: add [tenant.sftp] to the form's tenant",
                        at("distribution_type"),
                    ));
                }
                routes.push(r);
            }
            forms.push(FormConfig {
                webform_id: f.webform_id,
                tenant: tenant.cvr.clone(),
                remote_post_token: f.remote_post_token,
                ping_token: f.ping_token,
                os2forms_url: f.os2forms_url,
                api_key: f.api_key,
                poll_seconds: f.poll_seconds,
                routes,
            });
        }
        Ok(Config {
            server,
            database,
            receipts,
            delivery,
            tenants,
            forms,
        })
    }
}

/// `t`, checked; `before` are the tenants before it in the file.
fn check_tenant(
    t: written::Tenant,
    before: &[TenantConfig],
    at: &dyn Fn(&str) -> String,
) -> Result<TenantConfig, String> {
    let cvr = Cvr::new(t.cvr).map_err(|e| format!("{}: {e}", at("cvr")))?;
    if before.iter().any(|other| other.cvr == cvr) {
        return Err(format!(
            "{}: another [[tenant]] has the same CVR",
            at("cvr")
        ));
    }
    let it_system =
        sf2900::types::parse_uuid(&t.it_system).map_err(|e| format!("{}: {e}", at("it_system")))?;
    let routing_myndighed = t
        .routing_myndighed
        .map(Cvr::new)
        .transpose()
        .map_err(|e| format!("{}: {e}", at("routing_myndighed")))?;
    if !(t.service_url.starts_with("https://")) {
        return Err(format!("{}: must be an https:// URL", at("service_url")));
    }
    if let Some(url) = &t.receipt_url {
        check_url(url, false).map_err(|e| format!("{}: {e}", at("receipt_url")))?;
    }
    if let Some(fp) = t
        .sftp
        .as_ref()
        .and_then(|s| s.host_key_fingerprint.as_ref())
        && !crate::transport::sftp::is_fingerprint(fp)
    {
        return Err(format!(
            "{}: not a host key fingerprint; give it as `ssh-keygen -lf` prints it: \
             SHA256: and 43 Base64 characters",
            at("sftp.host_key_fingerprint")
        ));
    }
    Ok(TenantConfig {
        cvr,
        name: t.name,
        service_url: t.service_url,
        service_ca: t.service_ca,
        certificate: t.certificate,
        passphrase: t.passphrase,
        it_system,
        routing_myndighed,
        receipt_url: t.receipt_url,
        sftp: t.sftp,
    })
}

/// Pulling from OS2forms (ping and polling) needs the site and its key together, and the key
/// travels in a header, so only to an https:// site (or one on this machine).
fn check_pull(f: &written::Form, at: &dyn Fn(&str) -> String) -> Result<(), String> {
    match (&f.os2forms_url, &f.api_key) {
        (Some(url), Some(_)) => {
            check_url(url, true).map_err(|e| format!("{}: {e}", at("os2forms_url")))?;
        }
        (Some(_), None) => {
            return Err(format!(
                "{}: os2forms_url needs the site's api_key",
                at("api_key")
            ));
        }
        (None, Some(_)) => {
            return Err(format!(
                "{}: api_key needs the site's os2forms_url",
                at("os2forms_url")
            ));
        }
        (None, None) => {
            if f.poll_seconds > 0 {
                return Err(format!(
                    "{}: polling needs os2forms_url and api_key",
                    at("poll_seconds")
                ));
            }
            if f.ping_token.is_some() {
                return Err(format!(
                    "{}: the ping intake pulls the submission: set os2forms_url and api_key",
                    at("ping_token")
                ));
            }
        }
    }
    if f.poll_seconds > 0 && f.poll_seconds < MIN_POLL_SECONDS {
        return Err(format!(
            "{}: at least {MIN_POLL_SECONDS} (each poll reads the form's whole submission list)",
            at("poll_seconds")
        ));
    }
    Ok(())
}

/// Polling reads a form's whole submission list (upstream has no pagination).
const MIN_POLL_SECONDS: u64 = 10;

/// An https:// URL with a host; with `local_http`, http:// too for a host on this machine.
fn check_url(url: &str, local_http: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let host = parsed.host_str().unwrap_or_default();
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match parsed.scheme() {
        "https" if !host.is_empty() => {}
        "http" if local_http && local => {}
        "http" if local_http => {
            return Err(
                "must be https:// (the api-key travels with every request); \
                        http:// only to this machine"
                    .into(),
            );
        }
        _ => return Err("must be an https:// URL".into()),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not have a query (?…) or fragment (#…)".into());
    }
    Ok(())
}

/// The secrets the service reads at start-up, read and checked in one place for `serve` and
/// `check-config`.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    /// Bearer token of the operator API.
    pub api_token: Option<String>,
    /// Bearer token of `/metrics`.
    pub metrics_token: Option<String>,
    /// Per form: the intake tokens, and the key of its OS2forms site.
    pub remote_post: HashMap<String, String>,
    pub ping: HashMap<String, String>,
    pub api_key: HashMap<String, String>,
}

/// The fewest characters a token may have.
const MIN_TOKEN_LEN: usize = 16;
/// The longest token a caller's credential is compared with; a longer one is refused before
/// any comparison (`service_kit::auth`), so a configured token must fit.
pub(crate) const MAX_TOKEN_LEN: usize = 512;

/// Tokens travel in HTTP headers, which carry visible ASCII only, and guard the intake and the
/// operator API, so they must not be guessable.
fn check_token(what: &str, token: String) -> anyhow::Result<String> {
    anyhow::ensure!(
        token.len() >= MIN_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic()),
        "{what}: a token must be at least {MIN_TOKEN_LEN} visible ASCII characters \
         (no spaces, no æøå)"
    );
    anyhow::ensure!(
        token.len() <= MAX_TOKEN_LEN,
        "{what}: a token may be at most {MAX_TOKEN_LEN} characters"
    );
    let distinct: HashSet<u8> = token.bytes().collect();
    anyhow::ensure!(
        distinct.len() >= 8,
        "{what}: the token is too easy to guess (it repeats a few characters); \
         generate one, e.g. with `openssl rand -hex 32`"
    );
    Ok(token)
}

impl Config {
    /// Reads every secret the service needs, and checks the tokens.
    pub(crate) fn read_secrets(&self, base: &Path) -> anyhow::Result<Secrets> {
        let read = |s: &Secret, what: &str| -> anyhow::Result<String> {
            let value = s.read(base).with_context(|| what.to_owned())?;
            check_token(what, value)
        };
        let mut out = Secrets {
            api_token: self
                .server
                .api_token
                .as_ref()
                .map(|s| read(s, "server.api_token"))
                .transpose()?,
            metrics_token: self
                .server
                .metrics_token
                .as_ref()
                .map(|s| read(s, "server.metrics_token"))
                .transpose()?,
            ..Secrets::default()
        };
        for (i, f) in self.forms.iter().enumerate() {
            let id = &f.webform_id;
            let at = |k: &str| format!("form[{i}].{k}");
            if let Some(s) = &f.remote_post_token {
                out.remote_post
                    .insert(id.clone(), read(s, &at("remote_post_token"))?);
            }
            if let Some(s) = &f.ping_token {
                out.ping.insert(id.clone(), read(s, &at("ping_token"))?);
            }
            if let Some(s) = &f.api_key {
                out.api_key.insert(id.clone(), read(s, &at("api_key"))?);
            }
            if let Some(api) = &out.api_token {
                for (k, token) in [
                    ("remote_post_token", &out.remote_post),
                    ("ping_token", &out.ping),
                ] {
                    anyhow::ensure!(
                        token.get(id) != Some(api),
                        "server.api_token: must differ from {} (whoever posts submissions \
                         must not be able to run the operator API)",
                        at(k)
                    );
                }
            }
        }
        Ok(out)
    }
}

impl ReceiptEndpointConfig {
    /// The one certificate that may post receipts: the platform's.
    pub fn platform(&self) -> Result<service_kit::tls::PinnedCertificate, String> {
        service_kit::tls::PinnedCertificate::new(
            self.platform_subject.as_deref(),
            self.platform_fingerprint_sha256.as_deref(),
            "receipts.platform_subject",
            "receipts.platform_fingerprint_sha256",
        )
    }

    /// The receipt endpoint's TLS: its certificate and key, and the CA its callers' client
    /// certificates must come from.
    pub(crate) fn tls(&self, base: &Path) -> anyhow::Result<std::sync::Arc<rustls::ServerConfig>> {
        service_kit::tls::server_config(
            &resolve(base, &self.client_ca),
            &resolve(base, &self.server_cert),
            &resolve(base, &self.server_key),
        )
        .context("[receipts]")
    }
}

fn check_route(r: written::Route, at: &dyn Fn(&str) -> String) -> Result<RouteConfig, String> {
    // Part of every SFTP file name of the route, which must stay unique (build::RemoteNames).
    if r.id.is_empty()
        || r.id.len() > 64
        || !r.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "{}: 1 to 64 of the characters A-Z, a-z, 0-9 and _ (it is part of SFTP file names)",
            at("id")
        ));
    }
    if r.kle_emne.is_none() && r.routing_modtager_aktoer.is_none() {
        return Err(format!(
            "{}: set kle_emne (KLE routing) or routing_modtager_aktoer",
            at("kle_emne")
        ));
    }
    let cvr = |c: Option<String>, key: &str| {
        c.map(Cvr::new)
            .transpose()
            .map_err(|e| format!("{}: {e}", at(key)))
    };
    let uuid = |u: Option<String>, key: &str| {
        u.as_deref()
            .map(sf2900::types::parse_uuid)
            .transpose()
            .map_err(|e| format!("{}: {e}", at(key)))
    };
    let kle_emne = r
        .kle_emne
        .map(KleEmne::new)
        .transpose()
        .map_err(|e| format!("{}: {e}", at("kle_emne")))?;
    let handling_facet = r
        .handling_facet
        .map(HandlingFacet::new)
        .transpose()
        .map_err(|e| format!("{}: {e}", at("handling_facet")))?;
    let routing_modtager_aktoer = uuid(r.routing_modtager_aktoer, "routing_modtager_aktoer")?;
    let routing_myndighed = cvr(r.routing_myndighed, "routing_myndighed")?;
    let recipient_it_system = uuid(r.files.recipient_it_system, "files.recipient_it_system")?;
    let recipient_authority = cvr(r.files.recipient_authority, "files.recipient_authority")?;
    match r.distribution_type {
        DistributionType::Formular => {
            for (k, v) in [
                ("formular_type", r.formular_type.is_some()),
                ("xml_template", r.xml_template.is_some()),
                ("attachment_element", r.attachment_element.is_some()),
            ] {
                if !v {
                    return Err(format!("{}: FORMULAR needs {k}", at(k)));
                }
            }
        }
        DistributionType::Dokument if r.attachment_element.is_none() => {
            return Err(format!(
                "{}: DOKUMENT needs attachment_element (the PDF)",
                at("attachment_element")
            ));
        }
        DistributionType::Journalpost if r.journalpost_message.trim().is_empty() => {
            return Err(format!(
                "{}: JOURNALPOST needs a journalpost_message (the Notat)",
                at("journalpost_message")
            ));
        }
        _ => {}
    }
    Ok(RouteConfig {
        id: r.id,
        distribution_type: r.distribution_type,
        kle_emne,
        handling_facet,
        routing_modtager_aktoer,
        routing_myndighed,
        titel: r.titel,
        beskrivelse: r.beskrivelse,
        brugervendt_noegle: r.brugervendt_noegle,
        journalpost_message: r.journalpost_message,
        attachment_element: r.attachment_element,
        formular_type: r.formular_type,
        xml_template: r.xml_template,
        xsd: r.xsd,
        files: RouteFiles {
            filspecifikation: r.files.filspecifikation,
            recipient_it_system_look_up: r.files.recipient_it_system_look_up,
            recipient_it_system,
            recipient_authority,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tenant and one DOKUMENT route, with `files` as the route's last lines.
    fn route(files: &str) -> RouteConfig {
        let text = format!(
            r#"[[tenant]]
cvr = "29189846"
name = "K"
service_url = "https://sp.invalid"
certificate = "a.p12"
passphrase = {{ env = "UNUSED" }}
it_system = "cfcf2769-9a1f-4d3b-b6d2-ddfb3a2f9dd6"
sftp = {{ host = "sftp.invalid", user = "u", key = "k" }}

[[form]]
webform_id = "f"
tenant = "29189846"

[[form.route]]
id = "d"
distribution_type = "DOKUMENT"
kle_emne = "32.03.12"
attachment_element = "bilag"
xml_template = "t.twig"
{files}"#
        );
        let config: Config = toml::from_str(&text).expect("the test's configuration reads");
        config.forms[0].routes[0].clone()
    }

    #[test]
    fn recipient_look_up_is_on_unless_turned_off() {
        assert!(route("").files.recipient_it_system_look_up);
        assert!(
            route("[form.route.files]\nfilspecifikation = \"x\"")
                .files
                .recipient_it_system_look_up
        );
        assert!(
            !route("[form.route.files]\nrecipient_it_system_look_up = false")
                .files
                .recipient_it_system_look_up
        );
    }

    #[test]
    fn distribution_type_reads_as_it_is_spelled() {
        #[derive(Deserialize)]
        struct Read {
            t: DistributionType,
        }
        for &t in DistributionType::ALL {
            let read: Read = toml::from_str(&format!("t = \"{}\"", t.as_str()))
                .expect("as_str's spelling reads");
            assert_eq!(read.t, t);
            assert_eq!(DistributionType::parse(t.as_str()), Some(t));
        }
        assert_eq!(DistributionType::parse("formular"), None);
    }
}
