//! The outbox: works every pending delivery one step at a time until the platform has it.
//!
//! ```text
//! build ─> upload ─> sftp_receipt ─> afsend ─> receipts ─> delivered
//!   │         (files only)              │          │
//!   └── failed (operator) <── rejected ─┴──────────┘     retryable errors: back to the same
//!                                                         step later, with backoff + jitter
//! ```
//!
//! Each step persists its result before the next begins, so a crash (kill -9) at any point
//! repeats at most the step in flight: an upload (same remote name, overwritten) or an afsend
//! (same AnvenderTransaktionsID and bytes, answered idempotently by the platform). Work is
//! claimed with leases; a per-tenant semaphore bounds concurrency towards each municipality's
//! platform account.

use crate::build::{FormRenderer, build};
use crate::config::{Config, RouteConfig, TenantConfig};
use crate::store::{Delivery, ErrorClass, FileState, Step, Store, StoreError};
use rand::Rng as _;
use serde_json::{Map, Value};
use service_kit::db::now_ms;
use sf2900::sftp::{
    FileContentDescriptor, FileDescriptor, SftpDynamicRoutingInfo, TechnicalReceipt, Trigger,
};
use sf2900::{FordelingsobjektAfsendRequest, FordelingsobjektAfsendResponse, Message};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// A failed call to the platform, classified for the retry decision.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub retryable: bool,
    /// The class the delivery records, also the metrics' and the log's `class`.
    pub class: ErrorClass,
    /// What happened, in words an operator can act on; never a payload.
    pub message: String,
}

/// What the outbox needs from Serviceplatformen. Implemented over SOAP/mTLS and SFTP by
/// [`crate::platform`]; tests may substitute it.
pub trait Serviceplatform: Send + Sync + 'static {
    /// FordelingsobjektAfsend with the request as it was built and stored.
    fn afsend(
        &self,
        tenant: &TenantConfig,
        request_xml: &str,
    ) -> impl Future<Output = Result<FordelingsobjektAfsendResponse, TransportError>> + Send;
    /// The one receiving system for the route (FordelingsmodtagerList), for triggers.
    fn recipient_system(
        &self,
        tenant: &TenantConfig,
        route: &RouteConfig,
    ) -> impl Future<Output = Result<Option<sf2900::Uuid>, TransportError>> + Send;
    fn upload(
        &self,
        tenant: &TenantConfig,
        file_name: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    fn upload_trigger(
        &self,
        tenant: &TenantConfig,
        trigger: &Trigger,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    fn read_receipt(
        &self,
        tenant: &TenantConfig,
        file_name: &str,
    ) -> impl Future<Output = Result<Option<TechnicalReceipt>, TransportError>> + Send;
}

/// What one run through a delivery's steps has just written or read, so the next step need
/// not read it again. Written parts only from writes that stored exactly this (nothing was
/// there before); the submission's file list because it never changes while a delivery is
/// under way. Whatever is missing is read from the store.
#[derive(Default)]
struct Known {
    files: Option<Vec<crate::store::DeliveryFile>>,
    request: Option<crate::store::StoredRequest>,
    /// The submission's files as listed (without their content).
    attachments: Option<Vec<crate::store::Attachment>>,
}

impl Known {
    async fn files(
        &mut self,
        store: &Store,
        delivery_id: &str,
    ) -> crate::store::Result<Vec<crate::store::DeliveryFile>> {
        match self.files.take() {
            Some(files) => Ok(files),
            None => store.delivery_files(delivery_id).await,
        }
    }

    /// The submission's files as listed, without their content.
    async fn attachments(
        &mut self,
        store: &Store,
        submission_id: &str,
    ) -> crate::store::Result<Vec<crate::store::Attachment>> {
        match self.attachments.take() {
            Some(listed) => Ok(listed),
            None => store.attachments(submission_id, |_| false).await,
        }
    }
}

pub struct Outbox<P: Serviceplatform> {
    pub store: Store,
    pub config: Arc<Config>,
    pub base: PathBuf,
    pub platform: Arc<P>,
    pub renderer: Arc<dyn FormRenderer>,
    /// This process's name in leases.
    pub owner: String,
    /// Woken by intake so new work starts at once instead of at the next poll.
    pub wake: Arc<Notify>,
    tenants: HashMap<String, Arc<Semaphore>>,
    kombit_xsd: Option<crate::xsd::XsdValidator>,
}

const LEASE_MS: i64 = 120_000;

impl<P: Serviceplatform> Outbox<P> {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        base: PathBuf,
        platform: Arc<P>,
        renderer: Arc<dyn FormRenderer>,
    ) -> Self {
        let tenants = config
            .tenants
            .iter()
            .map(|t| {
                (
                    t.cvr.to_string(),
                    Arc::new(Semaphore::new(
                        config.delivery.concurrency_per_tenant.max(1),
                    )),
                )
            })
            .collect();
        let owner = owner_name(config.server.listen);
        let kombit_xsd = config.delivery.kombit_xsd_dir.as_ref().and_then(|dir| {
            let path = crate::config::resolve(&base, dir).join("sf2900/DistributionServiceMsg.xsd");
            match crate::xsd::XsdValidator::from_file(&path) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(error = %e, "delivery.kombit_xsd_dir: the official schemas cannot be loaded; using strict decoding only");
                    None
                }
            }
        });
        Self {
            store,
            config,
            base,
            platform,
            renderer,
            owner,
            wake: Arc::new(Notify::new()),
            tenants,
            kombit_xsd,
        }
    }

    /// Runs until `stop` resolves: claim due work, run it, sleep until woken or a short tick.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let limit =
            (self.config.delivery.concurrency_per_tenant * self.tenants.len().max(1) * 2) as i64;
        let mut tasks = tokio::task::JoinSet::new();
        match self.store.reclaim(&self.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                deliveries = n,
                "taking back work this instance held when it stopped"
            ),
            Err(e) => tracing::error!(error = %e, "reclaiming leases failed"),
        }
        let mut last_settle = std::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if last_settle.elapsed() > Duration::from_secs(10) {
                last_settle = std::time::Instant::now();
                for id in self.store.unsettled().await.unwrap_or_default() {
                    let _ = self
                        .store
                        .settle(&id, self.config.delivery.wait_for_forretning)
                        .await;
                }
            }
            if *stop.borrow() {
                break;
            }
            // Claim only what we can start now; more is claimed as tasks finish.
            let free = limit - tasks.len() as i64;
            let claimed = if free > 0 {
                match self.store.claim(&self.owner, LEASE_MS, free, None).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "claiming work failed");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let idle = claimed.is_empty();
            for d in claimed {
                let me = self.clone();
                let permit = self.tenants.get(&d.tenant_cvr).cloned();
                tasks.spawn(async move {
                    let _permit = match permit {
                        Some(s) => s.acquire_owned().await.ok(),
                        None => None,
                    };
                    let id = d.id.clone();
                    if let Err(e) = me.work(d).await {
                        // A database error: the lease runs out and the step is tried again.
                        tracing::error!(delivery_id = %id, error = %e, "delivery step failed");
                    }
                    let _ = me.store.release(&id, &me.owner).await;
                });
            }
            while let Some(r) = tasks.try_join_next() {
                if let Err(e) = r {
                    tracing::error!(error = %e, "delivery task panicked");
                }
            }
            if idle || free <= 0 {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = stop.changed() => {}
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    fn tenant(&self, d: &Delivery) -> anyhow::Result<(&TenantConfig, &RouteConfig)> {
        let tenant = self
            .config
            .tenant(&d.tenant_cvr)
            .ok_or_else(|| anyhow::anyhow!("tenant {} is no longer configured", d.tenant_cvr))?;
        let route = self
            .config
            .form(&d.webform_id)
            .and_then(|f| f.routes.iter().find(|r| r.id == d.route_id))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "route {}/{} is no longer configured",
                    d.webform_id,
                    d.route_id
                )
            })?;
        Ok((tenant, route))
    }

    /// Runs the delivery's current step (and the following ones while they can run at once).
    pub async fn work(&self, mut d: Delivery) -> crate::store::Result<()> {
        let mut known = Known::default();
        let (tenant, route) = match self.tenant(&d) {
            Ok(x) => x,
            Err(e) => {
                log_failure(&d, ErrorClass::Config, false);
                return self
                    .store
                    .fail(&d.id, ErrorClass::Config, &e.to_string(), None)
                    .await;
            }
        };
        for _ in 0..6 {
            let step = d.step;
            let outcome = match step {
                Step::Build => self.build(&d, tenant, route, &mut known).await,
                Step::Upload => self.upload(&d, tenant, route, &mut known).await,
                Step::SftpReceipt => self.sftp_receipts(&d, tenant, &mut known).await,
                Step::Afsend => self.afsend(&d, tenant, &mut known).await,
                // Nothing works on a pending delivery at these steps (an older `retry` left
                // some so, "pending" for ever): to the operator, rather than a status that lies.
                Step::Receipts | Step::Done => {
                    let msg = format!(
                        "pending at step {}, where nothing sends it; retry or resend it",
                        step.as_str()
                    );
                    return self
                        .store
                        .fail(&d.id, ErrorClass::Internal, &msg, None)
                        .await;
                }
            };
            match outcome {
                // The step moved the delivery on (still pending, so no operator stepped in):
                // go on without reading the row back.
                Ok(Some(next)) => {
                    d.step = next;
                    d.updated_at = now_ms();
                    d.last_error = None;
                    d.error_class = None;
                }
                Ok(None) => return Ok(()),
                Err(StepError::Transport(e)) => return self.retry_or_fail(&d, e).await,
                Err(StepError::Final(class, msg)) => {
                    log_failure(&d, class, false);
                    return self.store.fail(&d.id, class, &msg, None).await;
                }
                Err(StepError::Db(e)) => return Err(e),
            }
        }
        Ok(())
    }

    async fn retry_or_fail(&self, d: &Delivery, e: TransportError) -> crate::store::Result<()> {
        metrics::counter!("fordeler_delivery_errors_total", "class" => e.class.as_str(), "retryable" => e.retryable.to_string()).increment(1);
        let max_age_ms = self.config.delivery.max_age_hours as i64 * 3_600_000;
        let class = e.class;
        if !e.retryable {
            log_failure(d, class, false);
            return self.store.fail(&d.id, class, &e.message, None).await;
        }
        if now_ms() - d.created_at > max_age_ms {
            d.span().in_scope(|| {
                tracing::error!(
                    step = %d.step,
                    attempts = d.attempts + 1,
                    class = ErrorClass::MaxAge.as_str(),
                    last_class = e.class.as_str(),
                    max_age_hours = self.config.delivery.max_age_hours,
                    "delivery failed: gave up retrying, too old; waiting for the operator"
                )
            });
            let msg = format!(
                "{} (gave up: older than {} hours)",
                e.message, self.config.delivery.max_age_hours
            );
            return self.store.fail(&d.id, ErrorClass::MaxAge, &msg, None).await;
        }
        let at = now_ms() + backoff_ms(d.attempts, &self.config.delivery);
        log_failure(d, class, true);
        self.store.fail(&d.id, class, &e.message, Some(at)).await
    }

    async fn build(
        &self,
        d: &Delivery,
        tenant: &TenantConfig,
        route: &RouteConfig,
        known: &mut Known,
    ) -> Result<Option<Step>, StepError> {
        let Some(payload) = self.store.payload(&d.submission_id).await? else {
            return Err(StepError::Final(
                ErrorClass::Build,
                "the submission's data was purged before it was delivered".into(),
            ));
        };
        let submission: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|e| StepError::Final(ErrorClass::Build, format!("stored submission: {e}")))?;
        // Only the files' names and sizes: the inline PDF goes in at send time, uploads read
        // their own content.
        let attachments = self.store.attachments(&d.submission_id, |_| false).await?;
        known.attachments = Some(attachments.clone());
        let renderer = self.renderer.clone();
        let (tenant_c, route_c, d_c) = (tenant.clone(), route.clone(), d.clone());
        // Rendering and validation are CPU work; keep them off the async workers.
        let built = tokio::task::spawn_blocking(move || {
            build(
                &tenant_c,
                &route_c,
                &d_c,
                &submission,
                &attachments,
                renderer.as_ref(),
            )
        })
        .await
        .map_err(|e| StepError::Final(ErrorClass::Build, format!("build task: {e}")))?
        .map_err(|e| StepError::Final(ErrorClass::Build, e.0))?;
        let (stored, checked) = built
            .to_stored()
            .map_err(|e| StepError::Final(ErrorClass::Build, e.0))?;
        self.check_message(&checked)?;
        let next = if built.files.is_empty() {
            Step::Afsend
        } else {
            Step::Upload
        };
        let (mut files, request) = (built.files.clone(), stored.clone());
        let saved = self.store.save_built(d, stored, built.files, next).await?;
        if saved.fresh {
            // In the store's order (by remote name).
            files.sort_by(|a, b| a.remote_name.cmp(&b.remote_name));
            known.files = Some(files);
            known.request = Some(request);
        }
        Ok(saved.moved.then_some(next))
    }

    /// The whole message must be valid before anything is sent: against the official schemas
    /// when configured, and always by strict (XSD-like) decoding.
    fn check_message(&self, xml: &str) -> Result<(), StepError> {
        let invalid = |why: String| {
            StepError::Final(
                ErrorClass::Build,
                format!("the built message is not valid: {why}"),
            )
        };
        let root = sf2900::xml::Element::parse(xml).map_err(|e| invalid(e.to_string()))?;
        FordelingsobjektAfsendRequest::from_element_strict(&root)
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(v) = &self.kombit_xsd {
            v.validate(xml).map_err(|errors| {
                invalid(
                    errors
                        .iter()
                        .take(3)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        }
        Ok(())
    }

    async fn upload(
        &self,
        d: &Delivery,
        tenant: &TenantConfig,
        route: &RouteConfig,
        known: &mut Known,
    ) -> Result<Option<Step>, StepError> {
        let mut files = known.files(&self.store, &d.id).await?;
        let pending: std::collections::HashSet<&str> = files
            .iter()
            .filter(|f| f.state == FileState::Pending)
            .map(|f| f.attachment_id.as_str())
            .collect();
        let mut attachments = known.attachments(&self.store, &d.submission_id).await?;
        for a in attachments
            .iter_mut()
            .filter(|a| pending.contains(a.id.as_str()))
        {
            a.data = self.store.content(a).await?.unwrap_or_default();
        }
        let recipient = if route.files.recipient_it_system_look_up {
            self.platform.recipient_system(tenant, route).await?
        } else {
            route.files.recipient_it_system
        };
        let sftp_user = tenant
            .sftp
            .as_ref()
            .map(|s| s.user.clone())
            .ok_or_else(|| {
                StepError::Final(
                    ErrorClass::Config,
                    format!("tenant {} has no [tenant.sftp]", tenant.cvr),
                )
            })?;
        let mut done = Vec::new();
        let mut bytes = 0;
        for f in files.iter().filter(|f| f.state == FileState::Pending) {
            let a = attachments
                .iter()
                .find(|a| a.id == f.attachment_id)
                .ok_or_else(|| {
                    StepError::Final(
                        ErrorClass::Build,
                        "a file of the submission is missing".into(),
                    )
                })?;
            if a.data.len() as i64 != a.size {
                return Err(StepError::Final(
                    ErrorClass::Build,
                    format!(
                        "the content of file {} is gone (purged, or its stored file was removed)",
                        f.remote_name
                    ),
                ));
            }
            // A repeat after a crash overwrites the same names: the platform sees one file.
            self.platform
                .upload(tenant, &f.remote_name, &a.data)
                .await?;
            let trigger = trigger(tenant, route, &sftp_user, f, a, recipient)?;
            self.platform.upload_trigger(tenant, &trigger).await?;
            done.push(f.attachment_id.clone());
            bytes += a.size;
        }
        let detail = format!("{} file(s), {bytes} bytes, with triggers", done.len());
        let moved = self
            .store
            .files_done(
                &d.id,
                done.clone(),
                FileState::Triggered,
                Step::SftpReceipt,
                "uploaded",
                detail,
            )
            .await?;
        if moved {
            for f in files.iter_mut().filter(|f| done.contains(&f.attachment_id)) {
                f.state = FileState::Triggered;
            }
            known.files = Some(files);
            for a in &mut attachments {
                a.data = Vec::new();
            }
            known.attachments = Some(attachments);
        }
        Ok(moved.then_some(Step::SftpReceipt))
    }

    /// Waits for the technical receipts in `/IN/`. The platform usually writes them within
    /// seconds, so the task polls for a short while itself (cheaper than a round trip through
    /// the queue per poll), then gives the delivery back to be looked at again later.
    async fn sftp_receipts(
        &self,
        d: &Delivery,
        tenant: &TenantConfig,
        known: &mut Known,
    ) -> Result<Option<Step>, StepError> {
        let poll = Duration::from_millis(self.config.delivery.sftp_receipt_poll_ms.max(1));
        let window = std::time::Instant::now() + Duration::from_secs(5);
        let files = known.files(&self.store, &d.id).await?;
        let mut pending: Vec<&crate::store::DeliveryFile> = files
            .iter()
            .filter(|f| f.state == FileState::Triggered)
            .collect();
        let mut delivered = Vec::new();
        loop {
            let mut still = Vec::new();
            for f in pending {
                match self.platform.read_receipt(tenant, &f.remote_name).await? {
                    Some(r) if r.is_success() => delivered.push(f.attachment_id.clone()),
                    Some(r) => {
                        let why = match &r.outcome {
                            sf2900::sftp::ReceiptOutcome::Errors(e) => e
                                .iter()
                                .map(|e| {
                                    format!(
                                        "{} {}: {}",
                                        e.error_code, e.error_code_description, e.error_description
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                            sf2900::sftp::ReceiptOutcome::Success { message } => {
                                format!("message {message}")
                            }
                        };
                        self.store
                            .set_file_state(
                                &d.id,
                                &f.attachment_id,
                                FileState::Rejected,
                                Some(&why),
                            )
                            .await?;
                        return Err(StepError::Final(
                            ErrorClass::SftpRejected,
                            format!("{}: {why}", f.remote_name),
                        ));
                    }
                    None => still.push(f),
                }
            }
            pending = still;
            if pending.is_empty() || std::time::Instant::now() >= window {
                break;
            }
            tokio::time::sleep(poll).await;
        }
        if !delivered.is_empty() && !pending.is_empty() {
            self.store
                .files_done(
                    &d.id,
                    delivered.clone(),
                    FileState::Delivered,
                    Step::SftpReceipt,
                    "sftp_receipt",
                    "some files have a SUCCESS receipt".into(),
                )
                .await?;
        }
        if !pending.is_empty() {
            let timeout = self.config.delivery.receipt_timeout_minutes as i64 * 60_000;
            if now_ms() - d.updated_at > timeout {
                return Err(StepError::Final(
                    ErrorClass::SftpReceiptTimeout,
                    format!(
                        "{} SFTP receipt(s) did not arrive within {} minutes",
                        pending.len(),
                        self.config.delivery.receipt_timeout_minutes
                    ),
                ));
            }
            self.store
                .reschedule(
                    &d.id,
                    now_ms() + self.config.delivery.sftp_receipt_poll_ms as i64 * 50,
                )
                .await?;
            return Ok(None);
        }
        let moved = self
            .store
            .files_done(
                &d.id,
                delivered,
                FileState::Delivered,
                Step::Afsend,
                "files_delivered",
                "all files have a SUCCESS receipt".into(),
            )
            .await?;
        Ok(moved.then_some(Step::Afsend))
    }

    async fn afsend(
        &self,
        d: &Delivery,
        tenant: &TenantConfig,
        known: &mut Known,
    ) -> Result<Option<Step>, StepError> {
        let purged = || {
            StepError::Final(
                ErrorClass::Build,
                "the built request or its inline PDF is gone (purged, or the stored file was removed)"
                    .into(),
            )
        };
        let stored = match known.request.take() {
            Some(r) => r,
            None => self.store.request(&d.id).await?.ok_or_else(purged)?,
        };
        let inline = match &stored.inline {
            Some(i) => {
                let listed = known.attachments(&self.store, &d.submission_id).await?;
                let a = listed
                    .iter()
                    .find(|a| a.id == i.attachment_id)
                    .ok_or_else(purged)?;
                Some(self.store.content(a).await?.ok_or_else(purged)?)
            }
            None => None,
        };
        // Checked whole when it was built; sent as stored.
        let text = stored
            .document(inline.as_deref())
            .map_err(|e| StepError::Final(ErrorClass::Build, format!("stored request: {e}")))?;
        let response = self.platform.afsend(tenant, &text).await?;
        let kvittering = &response.forretnings_kvittering;
        let kode = kvittering.forretnings_validerings_kode;
        let dist = response
            .distribution_context
            .distribution_transaktions_id
            .map(|u| u.to_string());
        metrics::counter!("fordeler_afsend_total", "kode" => kode.as_str()).increment(1);
        if kode.is_failure() {
            // The platform's reason may quote the message's values: it goes to the timeline
            // (for the operator), not to the log.
            d.span().in_scope(|| {
                tracing::warn!(
                    distribution_transaktions_id = dist.as_deref().unwrap_or(""),
                    kode = kode.as_str(),
                    "FordelingsobjektAfsend answered a failure"
                )
            });
            self.store
                .record_afsend(&d.id, dist.as_deref(), kode)
                .await?;
            let mut why = format!("FordelingsobjektAfsend answered {kode}");
            if let Some(b) = &kvittering.begrundelse {
                why.push_str(&format!(": {b}"));
            }
            for f in kvittering.fejl_liste.iter().flat_map(|l| &l.fejl) {
                why.push_str(&format!(" [{} {}]", f.fejl_kode, f.fejl_tekst));
            }
            return Err(StepError::Final(ErrorClass::Rejected, why));
        }
        self.store
            .afsend_accepted(&d.id, dist, kode, self.config.delivery.wait_for_forretning)
            .await?;
        Ok(None)
    }
}

/// What went wrong in a step, and so what happens next.
enum StepError {
    Transport(TransportError),
    /// Needs the operator: never retried on its own.
    Final(ErrorClass, String),
    Db(StoreError),
}

impl From<TransportError> for StepError {
    fn from(e: TransportError) -> Self {
        StepError::Transport(e)
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Db(e)
    }
}

/// The name this process signs its leases with: stable across restarts of the same instance
/// (host and listening port), so a restarted process takes back what it held when it was
/// killed instead of waiting for the leases to run out; unique among instances on one database.
fn owner_name(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    if listen.port() == 0 {
        format!("{host}:{}", sf2900::Uuid::new_v4().simple())
    } else {
        format!("{host}:{}", listen.port())
    }
}

/// Logs a failed attempt of a delivery with its ids and the error's class: a retry at WARN, a
/// final failure (the operator must act) at ERROR. Never the error's text: a template, schema
/// or platform error may quote form values; the text is in the delivery's timeline.
fn log_failure(d: &Delivery, class: ErrorClass, retry: bool) {
    let _in = d.span().entered();
    let (step, attempts, class) = (d.step.as_str(), d.attempts + 1, class.as_str());
    if retry {
        tracing::warn!(
            step,
            attempts,
            class,
            "delivery attempt failed; retrying later"
        );
    } else {
        tracing::error!(
            step,
            attempts,
            class,
            "delivery failed; waiting for the operator"
        );
    }
}

/// Exponential backoff with ±25 % jitter: base · 2^attempts, capped.
pub fn backoff_ms(attempts: i64, cfg: &crate::config::DeliveryConfig) -> i64 {
    let jitter = rand::rng().random_range(0.75..1.25);
    (unjittered_backoff_ms(attempts, cfg) * jitter) as i64
}

/// [`backoff_ms`] before the jitter.
fn unjittered_backoff_ms(attempts: i64, cfg: &crate::config::DeliveryConfig) -> f64 {
    let base = cfg.retry_base_seconds.max(1) as f64 * 1000.0;
    let cap = cfg.retry_max_seconds.max(1) as f64 * 1000.0;
    (base * 2f64.powi(attempts.clamp(0, 30) as i32)).min(cap)
}

fn trigger(
    tenant: &TenantConfig,
    route: &RouteConfig,
    sftp_user: &str,
    f: &crate::store::DeliveryFile,
    a: &crate::store::Attachment,
    recipient: Option<sf2900::Uuid>,
) -> Result<Trigger, StepError> {
    let cfg_err = |what: &str, e: &dyn std::fmt::Display| {
        StepError::Final(ErrorClass::Config, format!("{what}: {e}"))
    };
    let routing = route.routing_myndighed(tenant);
    let recipient_authority = route.files.recipient_authority.as_ref().unwrap_or(routing);
    let transaction_id = sf2900::types::parse_uuid(&f.transaction_id)
        .map_err(|e| StepError::Final(ErrorClass::Build, format!("stored transaction_id: {e}")))?;
    let fd = FileDescriptor::new(
        f.remote_name.clone(),
        a.size as u64,
        sftp_user.to_owned(),
        Some(a.id.clone()),
        vec![sf2900::ns::SFTP_DYNAMIC_ROUTING.to_owned()],
    )
    .map_err(|e| cfg_err("trigger", &e))?;
    Ok(Trigger {
        file_descriptor: fd,
        file_content_descriptor: FileContentDescriptor::DynamicRouting(Box::new(
            SftpDynamicRoutingInfo {
                inf_ref: route
                    .files
                    .filspecifikation
                    .clone()
                    .or(route.formular_type.clone())
                    .unwrap_or_else(|| "Bilag".into()),
                sender_it_system: tenant.it_system,
                // As the PHP module does: the routing authority, not the sender.
                sender_authority: sf2900::CvrUrn::from_cvr(routing),
                transaction_id,
                sender_timestamp: sf2900::DateTime::now(),
                recipient_it_system: recipient,
                recipient_authority: sf2900::CvrUrn::from_cvr(recipient_authority),
                route_parameter_list: None,
            },
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeliveryConfig;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_a_quarter_of_jitter() {
        let cfg = DeliveryConfig {
            retry_base_seconds: 10,
            retry_max_seconds: 300,
            ..DeliveryConfig::default()
        };
        let seconds: Vec<f64> = (-1..=8)
            .map(|a| unjittered_backoff_ms(a, &cfg) / 1000.0)
            .collect();
        assert_eq!(
            seconds,
            [
                10.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0, 300.0
            ]
        );
        // Very many attempts neither overflow nor pass the cap.
        assert_eq!(unjittered_backoff_ms(i64::MAX, &cfg), 300_000.0);
        for attempts in 0..8 {
            let raw = unjittered_backoff_ms(attempts, &cfg);
            for _ in 0..200 {
                let ms = backoff_ms(attempts, &cfg) as f64;
                assert!(
                    (raw * 0.75 - 1.0..raw * 1.25).contains(&ms),
                    "{attempts}: {ms} vs {raw}"
                );
            }
        }
        // A zero base or cap is read as one second, never as "at once".
        let zero = DeliveryConfig {
            retry_base_seconds: 0,
            retry_max_seconds: 0,
            ..DeliveryConfig::default()
        };
        assert_eq!(unjittered_backoff_ms(3, &zero), 1000.0);
    }
}
