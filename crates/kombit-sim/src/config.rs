//! `sim.toml`: everything the simulator can be told at start-up.
//!
//! Every section has defaults that work with the PKI written by `kombit-sim certs --out DIR`
//! (see [`SimConfig::default_for_pki`]), so `kombit-sim serve` needs no file at all for a demo.
//! Unknown keys are errors: a typo in a fault rule must not silently disable the fault.

use crate::faults::FaultRule;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Directory of the test PKI (`kombit-sim certs --out DIR`). Relative file names below are
    /// resolved against it.
    #[serde(default = "default_pki_dir")]
    pub pki_dir: PathBuf,
    #[serde(default)]
    pub soap: SoapConfig,
    #[serde(default)]
    pub sftp: SftpConfig,
    #[serde(default)]
    pub receipts: ReceiptConfig,
    /// Inspection JSON API (plain HTTP on loopback; never exposed in production, there is none).
    #[serde(default = "default_inspect_listen")]
    pub inspect_listen: SocketAddr,
    /// Who may call the platform: client certificates and the CVRs they may act for.
    #[serde(default = "default_anvendere", rename = "anvender")]
    pub anvendere: Vec<AnvenderConfig>,
    /// FordelingsmodtagerList/Valider rule table ("fordelingsregler").
    #[serde(default = "default_routing", rename = "routing")]
    pub routing: Vec<RoutingRule>,
    /// Quirks of the real service, switchable.
    #[serde(default)]
    pub quirks: Quirks,
    /// Fault injection rules, evaluated in order.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultRule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SoapConfig {
    #[serde(default = "default_soap_listen")]
    pub listen: SocketAddr,
    /// CA whose certificates may call (PEM). Default: `ca.pem` in the PKI dir.
    #[serde(default = "default_ca")]
    pub client_ca: PathBuf,
    #[serde(default = "default_server_cert")]
    pub server_cert: PathBuf,
    #[serde(default = "default_server_key")]
    pub server_key: PathBuf,
    /// Synchronous ForretningsKvittering answered by FordelingsobjektAfsend when no fault applies.
    #[serde(default = "default_sync_kode")]
    pub sync_kode: String,
    #[serde(default = "default_sync_type")]
    pub sync_kvitteringstype: String,
}

impl Default for SoapConfig {
    fn default() -> Self {
        Self {
            listen: default_soap_listen(),
            client_ca: default_ca(),
            server_cert: default_server_cert(),
            server_key: default_server_key(),
            sync_kode: default_sync_kode(),
            sync_kvitteringstype: default_sync_type(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    #[serde(default = "default_sftp_listen")]
    pub listen: SocketAddr,
    /// Where user roots live: `<root>/<user>/OUT`, `<root>/<user>/IN`. Default: a temp dir.
    pub root: Option<PathBuf>,
    /// SSH host key (OpenSSH format). Default: `ssh_host_ed25519_key` in the PKI dir.
    #[serde(default = "default_host_key")]
    pub host_key: PathBuf,
    /// Delay before `/IN/<f>.sftpreceipt` is written after a trigger arrives.
    #[serde(default)]
    pub receipt_delay_ms: u64,
    /// What FordelingsobjektAfsend requires of a named DokumentFilNavn. False (the default): the
    /// file is in the anvender's `/OUT/`, which is how a DOKUMENT is delivered (sf2900.md §1.2,
    /// §8: the PHP module uploads the PDF without a trigger). True: the stricter check of
    /// earlier versions, a `.trigger` answered by a SUCCESS `/IN/<f>.sftpreceipt`.
    #[serde(default)]
    pub dokument_requires_trigger: bool,
}

impl Default for SftpConfig {
    fn default() -> Self {
        Self {
            listen: default_sftp_listen(),
            root: None,
            host_key: default_host_key(),
            receipt_delay_ms: 0,
            dokument_requires_trigger: false,
        }
    }
}

/// The asynchronous receipts sent to the anvender after each accepted FordelingsobjektAfsend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptConfig {
    /// Default receipt URL (an anvender may override it). Default: [`DEFAULT_RECEIPT_URL`].
    /// `url = ""` in the file (None here) switches asynchronous receipts off for every anvender
    /// without its own `receipt_url`; see [`SimConfig::receipt_url_for`].
    #[serde(
        default = "default_receipt_url",
        deserialize_with = "empty_is_none",
        serialize_with = "none_is_empty"
    )]
    pub url: Option<String>,
    /// CA that the anvender's receipt endpoint certificate must chain to. Default: `ca.pem`.
    #[serde(default = "default_ca")]
    pub server_ca: PathBuf,
    /// Client certificate the platform presents when calling back. Default: `platform.pem/.key`.
    #[serde(default = "default_platform_cert")]
    pub client_cert: PathBuf,
    #[serde(default = "default_platform_key")]
    pub client_key: PathBuf,
    /// The receipts, in order. Default: Teknisk/AFLEVERET, then Forretning/ACCEPTERET.
    #[serde(default = "default_receipt_steps", rename = "step")]
    pub steps: Vec<ReceiptStep>,
    /// How often a failed callback is retried (transport error, non-2xx or a Server fault), with
    /// backoff 1 s, 2 s, 4 s, … up to 30 s.
    #[serde(default = "default_receipt_retries")]
    pub retries: u32,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        Self {
            url: default_receipt_url(),
            server_ca: default_ca(),
            client_cert: default_platform_cert(),
            client_key: default_platform_key(),
            steps: default_receipt_steps(),
            retries: default_receipt_retries(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceiptStep {
    /// `Teknisk`, `Forretning` or `Digital post`.
    pub kvitteringstype: String,
    /// ForretningsValideringsKode: MODTAGET, AFLEVERET, ACCEPTERET, AFVIST, FEJLET.
    pub kode: String,
    /// Delay after the previous step (or after the synchronous answer).
    #[serde(default)]
    pub delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnvenderConfig {
    pub name: String,
    /// The anvender's client certificate (PEM); identified by its SHA-256 fingerprint.
    pub certificate: Option<PathBuf>,
    /// Alternative to `certificate`: SHA-256 fingerprint of the DER certificate, hex.
    pub fingerprint_sha256: Option<String>,
    /// Municipality CVRs this certificate may put in AuthorityContext.
    pub cvrs: Vec<String>,
    /// SFTP user name and authorised public key (OpenSSH one-line format, or a path to one).
    pub sftp_user: Option<String>,
    pub sftp_public_key: Option<PathBuf>,
    /// Receipt URL for this anvender; overrides `[receipts] url`. `""` switches receipts off for
    /// this anvender alone.
    pub receipt_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// RoutingMyndighed the rule belongs to (the municipality that set it up).
    pub myndighed: String,
    /// KLE emne, with `*` for whole levels: `32.03.12`, `32.03.*`, `32.*.*`, `*.*.*`.
    pub kle: String,
    /// Handlingsfacet; absent means any.
    pub facet: Option<String>,
    /// AfsendendeMyndighed allowed to use the rule; absent means any.
    pub afsender: Option<String>,
    pub system_uuid: String,
    pub system_navn: String,
    /// CVR of the authority owning the receiving system. Default: `myndighed`.
    pub system_myndighed: Option<String>,
    /// Modtager-aktør UUID (used by RoutingModtagerAktoer and FordelingsmodtagerValider).
    pub modtager_aktoer: Option<String>,
    #[serde(default = "yes")]
    pub kan_modtage: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Answer FordelingsmodtagerList with the rule's KLE pattern (`01.01.*`) as the real service does.
    #[serde(default)]
    pub wildcard_kle_in_response: bool,
    /// Leave out SystemMyndighed in FordelingsmodtagerList, as the real service does.
    #[serde(default)]
    pub omit_system_myndighed: bool,
}

/// `url = ""` means "no URL": TOML has no null, and an operator must be able to switch off a
/// defaulted URL.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.trim().is_empty()).then_some(s))
}

/// The inverse of [`empty_is_none`], so a serialised configuration reads back the same.
fn none_is_empty<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_deref().unwrap_or(""))
}

fn yes() -> bool {
    true
}
fn default_pki_dir() -> PathBuf {
    PathBuf::from("sim-certs")
}
// The defaults stay clear of the products' own example ports (the Fordeler's receipt endpoint
// 8443 and intake 8090, BorgerPC admin 8080), so a developer can run the simulator and a product
// side by side on one machine without editing either configuration.
fn default_soap_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], DEFAULT_SOAP_PORT))
}
fn default_sftp_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2222))
}
fn default_inspect_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], DEFAULT_INSPECT_PORT))
}
fn default_receipt_url() -> Option<String> {
    Some(DEFAULT_RECEIPT_URL.into())
}

/// Default port of the SOAP listener (`[soap] listen`).
pub const DEFAULT_SOAP_PORT: u16 = 9443;
/// Default port of the inspection API (`inspect_listen`).
pub const DEFAULT_INSPECT_PORT: u16 = 9080;
/// Default `[receipts] url`: the receipt endpoint of the Fordeler's example configuration
/// (`[receipts] listen = "0.0.0.0:8443"`), so a simulator and a Fordeler both started with
/// their defaults exchange receipts without further setup.
pub const DEFAULT_RECEIPT_URL: &str = "https://127.0.0.1:8443/sf2900/FordelingskvitteringModtag";
fn default_ca() -> PathBuf {
    PathBuf::from("ca.pem")
}
fn default_server_cert() -> PathBuf {
    PathBuf::from("server.pem")
}
fn default_server_key() -> PathBuf {
    PathBuf::from("server.key")
}
fn default_platform_cert() -> PathBuf {
    PathBuf::from("platform.pem")
}
fn default_platform_key() -> PathBuf {
    PathBuf::from("platform.key")
}
fn default_host_key() -> PathBuf {
    PathBuf::from("ssh_host_ed25519_key")
}
fn default_sync_kode() -> String {
    "MODTAGET".into()
}
fn default_sync_type() -> String {
    "Teknisk".into()
}
fn default_receipt_retries() -> u32 {
    6
}
fn default_receipt_steps() -> Vec<ReceiptStep> {
    vec![
        ReceiptStep {
            kvitteringstype: "Teknisk".into(),
            kode: "AFLEVERET".into(),
            delay_ms: 0,
        },
        ReceiptStep {
            kvitteringstype: "Forretning".into(),
            kode: "ACCEPTERET".into(),
            delay_ms: 0,
        },
    ]
}

/// CVR of the demo municipality in the default configuration and the generated client certificate.
pub const DEMO_CVR: &str = "29189846";
/// SFTP user of the demo anvender.
pub const DEMO_SFTP_USER: &str = "OS2Forms_Fordeling";

fn default_anvendere() -> Vec<AnvenderConfig> {
    vec![AnvenderConfig {
        name: "demo".into(),
        certificate: Some(PathBuf::from("anvender.pem")),
        fingerprint_sha256: None,
        cvrs: vec![DEMO_CVR.into()],
        sftp_user: Some(DEMO_SFTP_USER.into()),
        sftp_public_key: Some(PathBuf::from("anvender_ssh_ed25519_key.pub")),
        receipt_url: None,
    }]
}

fn default_routing() -> Vec<RoutingRule> {
    let rule = |kle: &str, facet: Option<&str>, uuid: &str, navn: &str| RoutingRule {
        myndighed: DEMO_CVR.into(),
        kle: kle.into(),
        facet: facet.map(Into::into),
        afsender: None,
        system_uuid: uuid.into(),
        system_navn: navn.into(),
        system_myndighed: None,
        modtager_aktoer: Some(uuid.into()),
        kan_modtage: true,
    };
    vec![
        rule(
            "32.03.*",
            None,
            "5d1b3a1e-6d3c-4f0a-9c1e-2a7f4c3b9e01",
            "KP Ydelsessystem (sim)",
        ),
        rule(
            "*.*.*",
            None,
            "8a6e1f2c-0b7d-4e5a-a1c3-9f2e7d6b5c02",
            "ESDH Sagssystem (sim)",
        ),
    ]
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::default_for_pki(default_pki_dir())
    }
}

impl SimConfig {
    /// The out-of-the-box configuration for a PKI directory written by `kombit-sim certs`.
    pub fn default_for_pki(pki_dir: PathBuf) -> Self {
        Self {
            pki_dir,
            soap: SoapConfig::default(),
            sftp: SftpConfig::default(),
            receipts: ReceiptConfig::default(),
            inspect_listen: default_inspect_listen(),
            anvendere: default_anvendere(),
            routing: default_routing(),
            quirks: Quirks::default(),
            faults: Vec::new(),
        }
    }

    /// Reads and checks `sim.toml`. Errors name the file and, from the TOML parser, line and key.
    /// A relative `pki_dir` or `sftp.root` is read from the file's folder, as the products read
    /// their relative paths.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut cfg: SimConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cfg.check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // `join` keeps an absolute path as it is.
        let folder = path.parent().unwrap_or(Path::new(""));
        cfg.pki_dir = folder.join(&cfg.pki_dir);
        cfg.sftp.root = cfg.sftp.root.map(|root| folder.join(root));
        Ok(cfg)
    }

    /// A path from the config, resolved against the PKI directory when relative.
    pub fn pki_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.pki_dir.join(p)
        }
    }

    /// Where the asynchronous receipts for `anvender` go: its own `receipt_url`, else
    /// `[receipts] url`. None when receipts are off for it (an empty URL at either level: an
    /// anvender's `receipt_url = ""` switches them off even when `[receipts] url` is set).
    pub fn receipt_url_for(&self, anvender: &AnvenderConfig) -> Option<String> {
        match &anvender.receipt_url {
            Some(own) if own.trim().is_empty() => None,
            Some(own) => Some(own.clone()),
            None => self.receipts.url.clone().filter(|u| !u.trim().is_empty()),
        }
    }

    /// Semantic checks that serde cannot express. Errors name the key.
    pub fn check(&self) -> Result<(), String> {
        for (i, a) in self.anvendere.iter().enumerate() {
            if a.certificate.is_none() && a.fingerprint_sha256.is_none() {
                return Err(format!(
                    "anvender[{i}] ({}): set `certificate` or `fingerprint_sha256`",
                    a.name
                ));
            }
            for cvr in &a.cvrs {
                sf2900::Cvr::new(cvr.clone()).map_err(|e| format!("anvender[{i}].cvrs: {e}"))?;
            }
            if let Some(url) = a.receipt_url.as_deref().filter(|u| !u.trim().is_empty()) {
                check_receipt_url(url)
                    .map_err(|e| format!("anvender[{i}].receipt_url ({}): {e}", a.name))?;
            }
        }
        for (i, r) in self.routing.iter().enumerate() {
            sf2900::Cvr::new(r.myndighed.clone())
                .map_err(|e| format!("routing[{i}].myndighed: {e}"))?;
            sf2900::KlePattern::new(r.kle.clone()).map_err(|e| format!("routing[{i}].kle: {e}"))?;
            if let Some(f) = &r.facet {
                sf2900::HandlingFacet::new(f.clone())
                    .map_err(|e| format!("routing[{i}].facet: {e}"))?;
            }
            sf2900::Uuid::parse_str(&r.system_uuid)
                .map_err(|e| format!("routing[{i}].system_uuid: {e}"))?;
        }
        if let Some(url) = self
            .receipts
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            check_receipt_url(url).map_err(|e| format!("receipts.url: {e}"))?;
        }
        for step in &self.receipts.steps {
            sf2900::ForretningsValideringsKode::parse(&step.kode)
                .map_err(|e| format!("receipts.step.kode: {e}"))?;
            sf2900::Kvitteringstype::parse(&step.kvitteringstype)
                .map_err(|e| format!("receipts.step.kvitteringstype: {e}"))?;
        }
        Ok(())
    }
}

/// A receipt URL must be one the HTTPS client can call: the platform calls back over mutual TLS
/// only, so plain HTTP would fail on every receipt, long after start-up.
fn check_receipt_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if parsed.scheme() != "https" || parsed.host_str().is_none() {
        return Err(format!(
            "{url:?} must be an https:// URL with a host (or \"\" for no receipts)"
        ));
    }
    Ok(())
}
