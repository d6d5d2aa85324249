//! `fordeler check-config`: everything that can be wrong before the first citizen submits —
//! configuration, secrets, templates, certificates and their expiry, SFTP login and
//! directories, the platform endpoint and the routing rules — each as a line an operator can
//! act on.
//!
//! [`prepare`] is the one path by which `serve` and `check-config` read and check what the
//! configuration names (secrets, tokens, certificates, templates, schemas), so `check-config`
//! refuses exactly what `serve` refuses, in the same words; `check-config` then also tries
//! the network (SFTP login, the platform, routing), which `serve` leaves to the first delivery.

use crate::config::{Config, resolve};
use crate::outbox::Serviceplatform as _;
use crate::platform::RealPlatform;
use crate::render::TwigRenderer;
use std::fmt;
use std::path::Path;

/// What `serve` builds from the configuration before it opens the database and listens.
pub struct Prepared {
    pub platform: RealPlatform,
    pub renderer: TwigRenderer,
}

/// Every reason the configuration cannot be served, found at once so an operator fixes them in
/// one round.
#[derive(Debug)]
pub struct Refused(pub Vec<String>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems:", all.len())?;
                for p in all {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Refused {}

/// Reads and checks everything the configuration names: secrets and tokens, the receipt
/// endpoint's certificate, the official schemas, the tenants' certificates and SFTP keys, the
/// templates and their XSDs.
pub fn prepare(config: &Config, base: &Path) -> Result<Prepared, Refused> {
    crate::render::install_crypto();
    let mut problems = Vec::new();
    if let Err(e) = config.read_secrets(base) {
        problems.push(format!("{e:#}"));
    }
    if let Some(r) = &config.receipts
        && let Err(e) = r.tls(base)
    {
        problems.push(format!("{e:#}"));
    }
    if let Some(dir) = &config.delivery.kombit_xsd_dir {
        let path = resolve(base, dir).join("sf2900/DistributionServiceMsg.xsd");
        if let Err(e) = crate::xsd::XsdValidator::from_file(&path) {
            problems.push(format!("delivery.kombit_xsd_dir: {e}"));
        }
    }
    let platform = RealPlatform::new(config, base).map_err(|e| format!("{e:#}"));
    let renderer = TwigRenderer::new(config, base).map_err(|e| format!("{e:#}"));
    match (platform, renderer) {
        (Ok(platform), Ok(renderer)) if problems.is_empty() => Ok(Prepared { platform, renderer }),
        (platform, renderer) => {
            problems.extend(platform.err());
            problems.extend(renderer.err());
            Err(Refused(problems))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Ok(String),
    Warning(String),
    Error(String),
}

impl Finding {
    pub fn is_error(&self) -> bool {
        matches!(self, Finding::Error(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Ok(m) => write!(f, "ok       {m}"),
            Finding::Warning(m) => write!(f, "WARNING  {m}"),
            Finding::Error(m) => write!(f, "ERROR    {m}"),
        }
    }
}

pub async fn check(config: &Config, base: &Path) -> Vec<Finding> {
    let mut out = vec![Finding::Ok(format!(
        "configuration: {} tenant(s), {} form(s)",
        config.tenants.len(),
        config.forms.len()
    ))];
    // The same call and message as `serve`'s.
    match crate::store::Store::open(&config.database.url, 1).await {
        Ok(_) => out.push(Finding::Ok("database: reachable, schema up to date".into())),
        Err(e) => out.push(Finding::Error(format!("{e:#}"))),
    }
    let platform = match prepare(config, base) {
        Ok(p) => {
            out.push(Finding::Ok(
                "secrets, tokens, certificates, keys and templates: readable and valid".into(),
            ));
            p.platform
        }
        Err(Refused(problems)) => {
            out.extend(problems.into_iter().map(Finding::Error));
            return out;
        }
    };
    if let Some(r) = &config.receipts {
        out.push(receipt_certificate(&resolve(base, &r.server_cert)));
    }
    for t in &config.tenants {
        let Ok(tenant) = platform.tenant(&t.cvr) else {
            continue;
        };
        let left = tenant.identity.valid_for(chrono::Utc::now());
        let days = left.num_days();
        let line = format!("tenant {}: certificate valid for {days} more day(s)", t.cvr);
        out.push(if days < 0 {
            Finding::Error(format!("tenant {}: certificate has expired", t.cvr))
        } else if days < 30 {
            Finding::Warning(format!("{line}: renew it with KOMBIT now"))
        } else {
            Finding::Ok(line)
        });
        if let Some(target) = &tenant.sftp {
            match unpinned_host_key(&t.cvr, target, &platform).await {
                Some(unpinned) => out.push(Finding::Error(unpinned)),
                None => match platform.sftp.ls(target, "/OUT").await {
                    Ok(entries) => out.push(Finding::Ok(format!(
                        "tenant {}: SFTP login ok, /OUT has {} entries",
                        t.cvr,
                        entries.len()
                    ))),
                    Err(e) => out.push(Finding::Error(format!("tenant {}: SFTP: {e}", t.cvr))),
                },
            }
        }
        for f in config.forms.iter().filter(|f| f.tenant == t.cvr) {
            for r in f.routes.iter().filter(|r| r.kle_emne.is_some()) {
                match platform.recipient_system(t, r).await {
                    Ok(Some(uuid)) => out.push(Finding::Ok(format!(
                        "form {} route {}: routed to system {uuid}",
                        f.webform_id, r.id
                    ))),
                    Ok(None) => out.push(Finding::Ok(format!(
                        "form {} route {}: service reachable",
                        f.webform_id, r.id
                    ))),
                    Err(e) => out.push(Finding::Error(format!(
                        "form {} route {}: {e}",
                        f.webform_id, r.id
                    ))),
                }
            }
        }
    }
    out
}

/// Why `serve` refuses to start: the SFTP host keys not pinned, one line per tenant with the
/// key its server presents (read without logging in), for the operator to compare and pin.
/// Pin on first use was the alternative; but a first connection through an impostor would be
/// trusted for good, and the operator can compare a printed key with KOMBIT's at no cost.
pub async fn unpinned_host_keys(config: &Config, platform: &RealPlatform) -> Vec<String> {
    let mut out = Vec::new();
    for t in &config.tenants {
        if let Ok(tenant) = platform.tenant(&t.cvr)
            && let Some(target) = &tenant.sftp
            && let Some(unpinned) = unpinned_host_key(&t.cvr, target, platform).await
        {
            out.push(unpinned);
        }
    }
    out
}

async fn unpinned_host_key(
    cvr: &sf2900::Cvr,
    target: &crate::transport::SftpTarget,
    platform: &RealPlatform,
) -> Option<String> {
    if target.host_key_fingerprint.is_some() {
        return None;
    }
    Some(match platform.sftp.host_key(target).await {
        Ok(presented) => format!(
            "tenant {cvr}: {}",
            crate::transport::SftpError::HostKeyNotPinned {
                target: target.label(),
                presented,
            }
        ),
        Err(e) => format!(
            "tenant {cvr}: SFTP: [tenant.sftp] host_key_fingerprint is not set, and the key of \
             {} could not be read ({e}); get it from KOMBIT, or with `ssh-keyscan -p {} {} | \
             ssh-keygen -lf -` from a network you trust, and pin it",
            target.label(),
            target.port,
            target.host
        ),
    })
}

/// How long the receipt endpoint's certificate is valid: when it expires, the platform's
/// receipts stop arriving.
fn receipt_certificate(path: &Path) -> Finding {
    let not_after = std::fs::read(path).ok().and_then(|pem| {
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
        let cert = pem.parse_x509().ok()?;
        Some(cert.validity().not_after.timestamp())
    });
    let Some(not_after) = not_after else {
        return Finding::Error(format!(
            "receipts.server_cert: {}: no PEM certificate",
            path.display()
        ));
    };
    let days = (not_after - chrono::Utc::now().timestamp()) / 86_400;
    let line = format!("receipt endpoint: certificate valid for {days} more day(s)");
    if days < 0 {
        Finding::Error("receipts.server_cert: the certificate has expired".into())
    } else if days < 30 {
        Finding::Warning(format!("{line}: renew it and tell KOMBIT"))
    } else {
        Finding::Ok(line)
    }
}
