//! The real Serviceplatformen for the outbox: one SOAP client per tenant (its own certificate),
//! one SFTP pool for all accounts, and a cache of routing lookups.
//!
//! Routing answers change rarely (a municipality edits its fordelingsregler by hand), so
//! FordelingsmodtagerList answers are cached for ten minutes per (tenant, KLE, facet); zero or
//! several systems are configuration errors an operator must see, with the systems named.

use crate::config::{Config, RouteConfig, TenantConfig, resolve};
use crate::outbox::{Serviceplatform, TransportError};
use crate::store::ErrorClass;
use crate::transport::{
    self, ClientIdentity, SftpPool, SftpSettings, SftpTarget, SoapClient, SoapSettings, TrustRoots,
};
use sf2900::sftp::{TechnicalReceipt, Trigger};
use sf2900::{
    Cvr, FordelingsmodtagerListRequest, FordelingsobjektAfsendResponse, HandlingFacet,
    RoutingForespoergsel,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Tenant {
    pub soap: SoapClient,
    pub sftp: Option<SftpTarget>,
    pub identity: ClientIdentity,
}

pub struct RealPlatform {
    tenants: HashMap<Cvr, Tenant>,
    pub sftp: SftpPool,
    routing: Mutex<HashMap<String, (Instant, Option<sf2900::Uuid>)>>,
}

const ROUTING_TTL: Duration = Duration::from_secs(600);

/// The transport's verdict (what to do) as the class a delivery records (what went wrong);
/// `what` (`Soap` or `Sftp`) is the class of a failure worth retrying.
fn classify(verdict: transport::ErrorClass, message: String, what: ErrorClass) -> TransportError {
    let (retryable, class) = match verdict {
        transport::ErrorClass::Retryable => (true, what),
        transport::ErrorClass::Configuration => (false, ErrorClass::Config),
        transport::ErrorClass::Permanent => (false, ErrorClass::Rejected),
    };
    TransportError {
        retryable,
        class,
        message,
    }
}

impl RealPlatform {
    /// Loads every tenant's certificate and SFTP key. Errors name the tenant and the file.
    pub fn new(config: &Config, base: &Path) -> anyhow::Result<Self> {
        let mut tenants = HashMap::new();
        for t in &config.tenants {
            let passphrase = t
                .passphrase
                .read(base)
                .map_err(|e| anyhow::anyhow!("tenant {} passphrase: {e}", t.cvr))?;
            let identity =
                ClientIdentity::from_pkcs12_file(&resolve(base, &t.certificate), &passphrase)
                    .map_err(|e| anyhow::anyhow!("tenant {} certificate: {e}", t.cvr))?;
            let roots = match &t.service_ca {
                Some(ca) => TrustRoots::from_pem_file(&resolve(base, ca))
                    .map_err(|e| anyhow::anyhow!("tenant {} service_ca: {e}", t.cvr))?,
                None => TrustRoots::Platform,
            };
            let mut settings = SoapSettings::new(t.service_url.clone());
            settings.call_timeout = Duration::from_secs(config.delivery.call_timeout_seconds);
            let soap = SoapClient::new(&settings, &identity, &roots)
                .map_err(|e| anyhow::anyhow!("tenant {}: {e}", t.cvr))?;
            let sftp = match &t.sftp {
                Some(s) => {
                    let key = SftpTarget::load_key(&resolve(base, &s.key), None)
                        .map_err(|e| anyhow::anyhow!("tenant {} sftp.key: {e}", t.cvr))?;
                    let mut target = SftpTarget::new(s.host.clone(), s.port, s.user.clone(), key);
                    if let Some(fp) = &s.host_key_fingerprint {
                        target = target.with_host_key_fingerprint(fp.clone());
                    }
                    Some(target)
                }
                None => None,
            };
            tenants.insert(
                t.cvr.clone(),
                Tenant {
                    soap,
                    sftp,
                    identity,
                },
            );
        }
        let settings = SftpSettings {
            op_timeout: Duration::from_secs(config.delivery.call_timeout_seconds),
            max_sessions_per_target: config.delivery.concurrency_per_tenant.max(1),
            ..SftpSettings::default()
        };
        Ok(Self {
            tenants,
            sftp: SftpPool::new(settings),
            routing: Mutex::new(HashMap::new()),
        })
    }

    pub fn tenant(&self, cvr: &Cvr) -> Result<&Tenant, TransportError> {
        self.tenants.get(cvr).ok_or_else(|| TransportError {
            retryable: false,
            class: ErrorClass::Config,
            message: format!("tenant {cvr} is not configured"),
        })
    }

    fn sftp_target(&self, cvr: &Cvr) -> Result<&SftpTarget, TransportError> {
        self.tenant(cvr)?
            .sftp
            .as_ref()
            .ok_or_else(|| TransportError {
                retryable: false,
                class: ErrorClass::Config,
                message: format!("tenant {cvr} has no [tenant.sftp]"),
            })
    }
}

impl Serviceplatform for RealPlatform {
    async fn afsend(
        &self,
        tenant: &TenantConfig,
        request_xml: &str,
    ) -> Result<FordelingsobjektAfsendResponse, TransportError> {
        let t = self.tenant(&tenant.cvr)?;
        t.soap
            .afsend_stored(request_xml)
            .await
            .map_err(|e| classify(e.class(), e.to_string(), ErrorClass::Soap))
    }

    async fn recipient_system(
        &self,
        tenant: &TenantConfig,
        route: &RouteConfig,
    ) -> Result<Option<sf2900::Uuid>, TransportError> {
        let Some(kle) = &route.kle_emne else {
            // Routing straight to a modtager-aktør: that is the recipient.
            return Ok(route.routing_modtager_aktoer);
        };
        let myndighed = route.routing_myndighed(tenant);
        let key = format!(
            "{}|{myndighed}|{kle}|{}",
            tenant.cvr,
            route
                .handling_facet
                .as_ref()
                .map_or("", HandlingFacet::as_str)
        );
        if let Some((at, v)) = self
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && at.elapsed() < ROUTING_TTL
        {
            return Ok(*v);
        }
        let cfg = |m: String| TransportError {
            retryable: false,
            class: ErrorClass::Config,
            message: m,
        };
        let request = FordelingsmodtagerListRequest {
            call_context: None,
            authority_context: Some(sf2900::AuthorityContext::new(tenant.cvr.clone())),
            routing: RoutingForespoergsel {
                afsendende_myndighed: tenant.cvr.clone(),
                routing_myndighed: myndighed.clone(),
                routing_kle_emne: kle.clone(),
                routing_handling_facet: route.handling_facet.clone(),
            },
        };
        let t = self.tenant(&tenant.cvr)?;
        let answer = t
            .soap
            .list(&request)
            .await
            .map_err(|e| classify(e.class(), e.to_string(), ErrorClass::Soap))?;
        let systems = &answer.systemer.system;
        let found = match systems.as_slice() {
            [one] => Some(one.system_uuid),
            [] => {
                return Err(cfg(format!(
                    "FordelingsmodtagerList found no receiving system for KLE {kle} facet {} at {myndighed}: ask the municipality to add a fordelingsregel, or set files.recipient_it_system",
                    route
                        .handling_facet
                        .as_ref()
                        .map_or("(any)", HandlingFacet::as_str)
                )));
            }
            several => {
                let names: Vec<String> = several
                    .iter()
                    .map(|s| format!("{} ({})", s.system_navn, s.system_uuid))
                    .collect();
                return Err(cfg(format!(
                    "FordelingsmodtagerList found {} receiving systems for KLE {kle}: {}; set files.recipient_it_system to the right one",
                    several.len(),
                    names.join(", ")
                )));
            }
        };
        self.routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (Instant::now(), found));
        Ok(found)
    }

    async fn upload(
        &self,
        tenant: &TenantConfig,
        file_name: &str,
        data: &[u8],
    ) -> Result<(), TransportError> {
        let target = self.sftp_target(&tenant.cvr)?;
        self.sftp
            .upload_file(target, file_name, data)
            .await
            .map_err(|e| classify(e.class(), e.to_string(), ErrorClass::Sftp))
    }

    async fn upload_trigger(
        &self,
        tenant: &TenantConfig,
        trigger: &Trigger,
    ) -> Result<(), TransportError> {
        let target = self.sftp_target(&tenant.cvr)?;
        self.sftp
            .upload_trigger(target, &trigger.file_descriptor.file_name, trigger)
            .await
            .map_err(|e| classify(e.class(), e.to_string(), ErrorClass::Sftp))
    }

    async fn read_receipt(
        &self,
        tenant: &TenantConfig,
        file_name: &str,
    ) -> Result<Option<TechnicalReceipt>, TransportError> {
        let target = self.sftp_target(&tenant.cvr)?;
        self.sftp
            .read_receipt(target, file_name)
            .await
            .map_err(|e| classify(e.class(), e.to_string(), ErrorClass::Sftp))
    }
}
