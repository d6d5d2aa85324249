//! `fordeler check-config`: everything that can be wrong before the first citizen submits —
//! configuration, templates, certificates and their expiry, SFTP login and directories, the
//! platform endpoint and the routing rules — each as a line an operator can act on.

use crate::config::{Config, resolve};
use crate::outbox::Serviceplatform as _;
use crate::platform::RealPlatform;
use std::fmt;
use std::path::Path;

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
    match crate::store::Store::open(&config.database.url, 1).await {
        Ok(_) => out.push(Finding::Ok("database: reachable, schema up to date".into())),
        Err(e) => out.push(Finding::Error(format!("database: {e:#}"))),
    }
    for f in &config.forms {
        for r in &f.routes {
            for (what, p) in [("xml_template", &r.xml_template), ("xsd", &r.xsd)] {
                if let Some(p) = p {
                    let path = resolve(base, p);
                    if path.is_file() {
                        out.push(Finding::Ok(format!(
                            "form {} route {}: {what} {}",
                            f.webform_id,
                            r.id,
                            path.display()
                        )));
                    } else {
                        out.push(Finding::Error(format!(
                            "form {} route {}: {what} {} does not exist",
                            f.webform_id,
                            r.id,
                            path.display()
                        )));
                    }
                }
            }
        }
    }
    if let Err(e) = crate::render::TwigRenderer::new(config, base) {
        out.push(Finding::Error(format!("templates: {e:#}")));
    }
    let platform = match RealPlatform::new(config, base) {
        Ok(p) => p,
        Err(e) => {
            out.push(Finding::Error(format!("{e:#}")));
            return out;
        }
    };
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
    cvr: &str,
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
