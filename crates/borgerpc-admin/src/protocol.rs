//! The semantics of every call an agent makes, whatever the encoding (client-api JSON or
//! legacy XML-RPC): who the caller is, what it may change, and what it gets back.
//!
//! Identity: a PC is found by its uid (random for PCs registered here; md5 of the MAC for PCs
//! moved from an older portal, which anyone on their network can work out), and proven by its
//! client key, bound at registration and stored as sha256. A PC without a bound key (2.x
//! agents, PCs from before keys) proves nothing but its uid: it is served only on sites that
//! allow legacy agents, and a key it sends is kept as *pending* until an operator approves it
//! (`pc approve-key`), never bound by the call itself. A wrong key is answered exactly as an
//! unknown uid; a refused call changes nothing (the first key offered by an activated PC
//! without one is the only thing a refused call keeps).
//!
//! Registration needs no credential, so it is bounded (per caller address and per site, see
//! [`crate::throttle`]), a site may require a registration token (typed as
//! `<site uid>+<token>`; the agent has no field for it, and its automatic registration cuts
//! the site at ':'), and a MAC address is looked up only within the site's own customer, so
//! no answer tells whether another customer has it.

use crate::heartbeat::Heartbeats;
use crate::store::Store;
use crate::store::config::EntryChange;
use crate::store::events::NewEvent;
use crate::store::history::Beat;
use crate::store::jobs::JobStatus;
use crate::store::pcs::{NewPc, PcIdentity, key_hash, new_pc_uid, short_fingerprint};
use crate::throttle::{RateLimit, address_key};
use borgerpc_proto::client_api::{
    Instructions, JobInstruction, JobParameter, JobReport, SecurityEventLine, SecurityScript,
    config_value_string,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Keys the agent reports that only the agent changes (shown read-only to operators).
const READ_ONLY_AT_REGISTRATION: &[&str] = &[
    "admin_url",
    "hostname",
    "_ip_addresses",
    "job_timeout",
    "_kernel_version",
    "_last_automatic_update_time",
    "_os2borgerpc.client_version",
    "os2_product",
    "os2borgerpc_version",
    "pc_cpus",
    "pc_manufacturer",
    "pc_model",
    "pc_version",
    "pc_serial_number",
    "pc_ram",
    "os_name",
    "_os_release",
];

/// Keys a `push_config_keys` may not change after registration.
const NOT_PUSHABLE: &[&str] = &[
    "admin_url",
    "os2_product",
    "os2borgerpc_version",
    "os_name",
    "pc_model",
    "pc_manufacturer",
    "pc_serial_number",
    "pc_version",
    "pc_cpus",
    "pc_ram",
];

const MAX_KEY_LEN: usize = 255;
const MAX_VALUE_CHARS: usize = 4096;
const MAX_SUMMARY_CHARS: usize = 4096;
/// Configuration keys one registration or push may carry; the agent sends a few dozen.
pub const MAX_KEYS_PER_CALL: usize = 500;
/// A PC's own configuration entries at most.
pub const MAX_PC_ENTRIES: usize = 1000;
/// Security event lines stored from one push. The agent sends what its scripts found since
/// its last successful push and keeps the file until one succeeds, so a refusal would make it
/// send the same growing file for ever: the rest is dropped, counted and logged instead.
pub const MAX_EVENTS_PER_CALL: usize = 1000;
/// What separates a site's uid from its registration token where the agent asks for the site.
pub const SITE_TOKEN_SEPARATOR: char = '+';

/// Why a call was refused. `Bad` is the caller's mistake (HTTP 400, an XML-RPC fault);
/// `TooMany` asks it to come back later (HTTP 429); `Unavailable` is ours (the database did
/// not answer: HTTP 503).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Bad(String),
    #[error("{1}")]
    TooMany(std::time::Duration, String),
    #[error("the portal's database is unavailable; try again later")]
    Unavailable(#[source] anyhow::Error),
}

impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Self {
        Refusal::Unavailable(e)
    }
}

/// Whatever the store refuses an agent's call for is the portal's problem, not the agent's:
/// the calls' own rules are checked here before the store is asked.
impl From<crate::store::Error> for Refusal {
    fn from(e: crate::store::Error) -> Self {
        Refusal::Unavailable(e.into())
    }
}

fn bad(msg: impl Into<String>) -> Refusal {
    Refusal::Bad(msg.into())
}

/// How the caller identified itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// client-api: the client key ("" when the body had none).
    ClientKey(&'a str),
    /// Legacy XML-RPC: the MAC-derived uid alone. Only for sites that allow it, and never for
    /// a PC that has bound a key.
    Legacy,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The portal's public URL; echoed as `admin_url` to a PC whose configuration lacks it.
    pub public_url: Option<String>,
    /// How long a FILE parameter's URL works.
    pub file_url_ttl_ms: i64,
    /// The zone PCs' naive local times are read in.
    pub time_zone: chrono_tz::Tz,
    /// Registrations per minute from one address and into one site (0: no limit).
    pub registrations_per_minute_per_address: u32,
    pub registrations_per_minute_per_site: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            file_url_ttl_ms: 24 * 3_600_000,
            time_zone: chrono_tz::Europe::Copenhagen,
            registrations_per_minute_per_address: 60,
            registrations_per_minute_per_site: 300,
        }
    }
}

#[derive(Debug)]
pub struct Protocol {
    pub store: Store,
    heartbeats: Heartbeats,
    settings: Settings,
    registrations: std::sync::Mutex<RegistrationLimits>,
}

#[derive(Debug)]
struct RegistrationLimits {
    by_address: RateLimit<IpAddr>,
    by_site: RateLimit<i64>,
}

/// The answer to an unknown uid and to a wrong key: the same, so neither tells the other.
fn unknown_pc() -> Refusal {
    bad(
        "pc_uid, client_key: no PC with this uid and client key is registered on this portal \
         (a PC whose key file changed must be deleted and registered again, or its new key \
         approved)",
    )
}

fn not_activated() -> Refusal {
    bad("this PC is not activated yet: an administrator must activate it in the portal")
}

fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_entry(key: &str, value: &str) -> Result<(), Refusal> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad(format!(
            "configuration: key {:?} must be 1 to {MAX_KEY_LEN} bytes",
            key.chars().take(40).collect::<String>()
        )));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(bad(format!(
            "configuration: the value of {key:?} is longer than {MAX_VALUE_CHARS} characters"
        )));
    }
    Ok(())
}

impl Protocol {
    pub fn new(store: Store, heartbeats: Heartbeats, settings: Settings) -> Self {
        let registrations = std::sync::Mutex::new(RegistrationLimits {
            by_address: RateLimit::new(settings.registrations_per_minute_per_address),
            by_site: RateLimit::new(settings.registrations_per_minute_per_site),
        });
        Self {
            store,
            heartbeats,
            settings,
            registrations,
        }
    }

    fn registration_limits(&self) -> std::sync::MutexGuard<'_, RegistrationLimits> {
        self.registrations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds and checks the calling PC (see the module comment).
    pub async fn authenticate(
        &self,
        uid: &str,
        credentials: Credentials<'_>,
    ) -> Result<PcIdentity, Refusal> {
        if let Credentials::ClientKey(key) = credentials
            && !key.is_empty()
            && !is_key(key)
        {
            return Err(bad("client_key: must be 64 hexadecimal characters"));
        }
        let Some(pc) = self.store.pc_identity(uid).await? else {
            return Err(unknown_pc());
        };
        match credentials {
            Credentials::ClientKey(key) if !key.is_empty() => {
                let hash = key_hash(key);
                if pc.client_key_hash.is_empty() {
                    // No key bound: this one may be the PC's or anyone's. Only an operator
                    // can tell, so it waits for one, and the PC is not served meanwhile.
                    if !pc.is_activated {
                        return Err(not_activated());
                    }
                    if self.store.offer_client_key(pc.id, &hash).await? {
                        tracing::info!(pc = %pc.uid, fingerprint = short_fingerprint(&hash), "a PC without a key offered one; it waits for approval");
                    }
                    return Err(bad(format!(
                        "client_key: this PC has no key in the portal yet; its key (fingerprint \
                         {}…) must be approved by an administrator (`pc approve-key`)",
                        short_fingerprint(&hash)
                    )));
                }
                if pc.client_key_hash != hash {
                    metrics::counter!("borgerpc_client_key_mismatches_total").increment(1);
                    return Err(unknown_pc());
                }
            }
            // No key: the MAC-derived uid is all the caller proves (legacy agents).
            Credentials::ClientKey(_) | Credentials::Legacy => {
                if !pc.client_key_hash.is_empty() {
                    return Err(unknown_pc());
                }
                let allowed = self
                    .store
                    .site(pc.site_id)
                    .await?
                    .is_some_and(|s| s.legacy_xmlrpc);
                if !allowed {
                    return Err(bad(
                        "this PC has no client key, and its site does not allow legacy agents \
                         (identified by MAC address alone; the legacy XML-RPC protocol is \
                         turned off for it): upgrade the agent to os2borgerpc-client 3",
                    ));
                }
            }
        }
        if !pc.is_activated {
            return Err(not_activated());
        }
        Ok(pc)
    }

    /// `register_new_computer`: creates the PC (not activated) and returns its uid. `source`
    /// is the caller's address, for the registration limits.
    pub async fn register(
        &self,
        mac: &str,
        name: &str,
        site_field: &str,
        configuration: &Map<String, Value>,
        credentials: Credentials<'_>,
        source: IpAddr,
    ) -> Result<String, Refusal> {
        let limited = |wait: std::time::Duration, what: &str| {
            metrics::counter!("borgerpc_registrations_refused_total", "limit" => what.to_owned())
                .increment(1);
            Refusal::TooMany(
                wait,
                format!(
                    "too many registrations {what}; try again in {} seconds",
                    crate::throttle::retry_after_secs(wait)
                ),
            )
        };
        let now = std::time::Instant::now();
        self.registration_limits()
            .by_address
            .take(&address_key(source), now)
            .map_err(|w| limited(w, "from this address"))?;
        let key = match credentials {
            Credentials::ClientKey(k) if !k.is_empty() => {
                if !is_key(k) {
                    return Err(bad("client_key: must be 64 hexadecimal characters"));
                }
                key_hash(k)
            }
            _ => String::new(),
        };
        if !is_mac(mac) {
            return Err(bad(format!(
                "mac: {:?} is not a MAC address like aa:bb:cc:dd:ee:ff",
                mac.chars().take(40).collect::<String>()
            )));
        }
        let n = name.chars().count();
        if !(2..=40).contains(&n) {
            return Err(bad(format!(
                "The chosen name {name} has a length of {n} characters. The name must have a \
                 length of 2-40 characters."
            )));
        }
        let (site_uid, token) = match site_field.split_once(SITE_TOKEN_SEPARATOR) {
            Some((uid, token)) => (uid, Some(token)),
            None => (site_field, None),
        };
        let site = self
            .store
            .site_by_uid(site_uid.trim())
            .await?
            .ok_or_else(|| {
                bad("The chosen site UID does not match any sites on the chosen admin portal.")
            })?;
        let required = self.store.site_registration_token(site.id).await?;
        match (required.as_deref(), token) {
            (None, None) => {}
            (Some(hash), Some(t)) if service_kit::accounts::token_hash(t.trim()) == hash => {}
            (Some(_), _) => {
                return Err(bad(format!(
                    "site: {} takes registrations with its registration token only: type the \
                     site as {}{SITE_TOKEN_SEPARATOR}<token> (the portal's administrator has \
                     it)",
                    site.uid, site.uid
                )));
            }
            (None, Some(_)) => {
                return Err(bad(format!(
                    "site: {} has no registration token; type its uid alone",
                    site.uid
                )));
            }
        }
        if key.is_empty() && !site.legacy_xmlrpc {
            return Err(bad(
                "the legacy XML-RPC protocol is turned off for this site, and a PC without a \
                 client key is identified by its MAC address alone: upgrade the agent to \
                 os2borgerpc-client 3 or ask an administrator to allow legacy agents",
            ));
        }
        self.registration_limits()
            .by_site
            .take(&site.id, now)
            .map_err(|w| limited(w, "into this site"))?;
        if configuration.len() > MAX_KEYS_PER_CALL {
            return Err(bad(format!(
                "configuration: {} keys; at most {MAX_KEYS_PER_CALL} are accepted",
                configuration.len()
            )));
        }
        let mut entries = Vec::new();
        let mut has_product = false;
        let mut has_version = false;
        for (k, v) in configuration {
            if matches!(k.as_str(), "mac" | "uid" | "name") {
                continue;
            }
            let value = config_value_string(v);
            check_entry(k, &value)?;
            has_product |= k == "os2_product";
            has_version |= k == "os2borgerpc_version";
            let read_only = READ_ONLY_AT_REGISTRATION.contains(&k.as_str());
            entries.push((k.clone(), value, read_only));
        }
        if !has_product {
            let product = if has_version {
                "os2borgerpc"
            } else {
                "os2borgerpc kiosk"
            };
            entries.push(("os2_product".into(), product.into(), true));
        }
        let uid = new_pc_uid();
        let created = self
            .store
            .insert_pc(NewPc {
                site_id: site.id,
                uid: &uid,
                mac,
                name,
                client_key_hash: &key,
                entries,
            })
            .await?;
        match created {
            Some(_) => {
                metrics::counter!("borgerpc_registrations_total").increment(1);
                tracing::info!(site = %site.uid, pc = %uid, "PC registered; waiting for activation");
                Ok(uid)
            }
            // Only a PC of the same customer gets here: upstream's answer.
            None => Err(bad(format!(
                "A computer with the same MAC address as this computer is already registered \
                 with the chosen admin portal under the name {name}. Start by deleting the \
                 computer on the computer list on your site and then restart the registration."
            ))),
        }
    }

    /// `push_config_keys`: the PC's own entries follow what it reports; a value equal to the
    /// inherited one removes the PC's own entry. Writes only what changed.
    pub async fn push_config_keys(
        &self,
        pc: &PcIdentity,
        config: &Map<String, Value>,
        read_only: bool,
    ) -> Result<(), Refusal> {
        if config.len() > MAX_KEYS_PER_CALL {
            return Err(bad(format!(
                "config_dict: {} keys; at most {MAX_KEYS_PER_CALL} are accepted in one push",
                config.len()
            )));
        }
        let current = self.store.pc_config(pc.id, pc.site_id).await?;
        let mut changes = Vec::new();
        let mut new_version = None;
        for (k, v) in config {
            let value = config_value_string(v);
            check_entry(k, &value)?;
            if current.inherited.get(k) == Some(&value) {
                if current.own.contains_key(k) {
                    changes.push(EntryChange::Delete { key: k.clone() });
                }
            } else if NOT_PUSHABLE.contains(&k.as_str()) {
                continue;
            } else if current.own.get(k) != Some(&(value.clone(), read_only)) {
                if k == "_os2borgerpc.client_version" {
                    new_version = Some(value.clone());
                }
                changes.push(EntryChange::Set {
                    key: k.clone(),
                    value,
                    read_only,
                });
            }
        }
        let mut after: std::collections::BTreeSet<&str> =
            current.own.keys().map(String::as_str).collect();
        for c in &changes {
            match c {
                EntryChange::Set { key, .. } => after.insert(key),
                EntryChange::Delete { key } => after.remove(key.as_str()),
            };
        }
        if after.len() > MAX_PC_ENTRIES && after.len() > current.own.len() {
            return Err(bad(format!(
                "config_dict: the PC would have {} configuration entries of its own, more than \
                 the {MAX_PC_ENTRIES} a PC may have; nothing was changed",
                after.len()
            )));
        }
        self.store.change_pc_entries(pc.id, &changes).await?;
        if let Some(v) = new_version {
            self.store
                .record_pc_report(pc.id, "client_version", &v)
                .await?;
        }
        Ok(())
    }

    fn beat(&self, pc: &PcIdentity, ip: Option<&str>, checkin: bool) {
        self.heartbeats.beat(Beat {
            pc_id: pc.id,
            at: service_kit::db::now_ms(),
            ip: ip.map(str::to_owned),
            ip_changed: ip.is_some() && ip != pc.last_ip.as_deref(),
            checkin,
        });
    }

    /// `get_instructions`: the PC's NEW jobs, its security scripts and its configuration.
    /// With `jobs_received_check` the jobs stay NEW until `confirm_jobs_receipt`, so a lost
    /// reply loses no job.
    pub async fn get_instructions(
        &self,
        pc: &PcIdentity,
        jobs_received_check: bool,
        ip: Option<&str>,
    ) -> Result<Instructions, Refusal> {
        self.beat(pc, ip, true);
        let pending = self.store.pending_jobs(pc.id).await?;
        let mut jobs = Vec::with_capacity(pending.len());
        for j in pending {
            let mut parameters = Vec::with_capacity(j.params.len());
            for p in j.params {
                let value = match (&p.file_name, p.value_type.as_str()) {
                    (Some(name), "FILE") => {
                        let token = self
                            .store
                            .file_token(j.id, p.position, self.settings.file_url_ttl_ms)
                            .await?;
                        format!("/media/jobs/{token}/{}", url_path_segment(name))
                    }
                    _ => p.string_value,
                };
                parameters.push(JobParameter {
                    kind: p.value_type,
                    value,
                });
            }
            jobs.push(JobInstruction {
                id: j.id,
                name: j.script_name,
                status: JobStatus::New.to_string(),
                parameters,
                executable_code: j.code.replace('\r', ""),
            });
        }
        if !jobs_received_check && !jobs.is_empty() {
            let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
            self.store.confirm_jobs(pc.id, &ids).await?;
            for j in &mut jobs {
                j.status = JobStatus::Submitted.to_string();
            }
        }
        let security_scripts = self
            .store
            .security_scripts_for(pc.id, pc.site_id)
            .await?
            .into_iter()
            .map(|s| SecurityScript {
                name: format!("script{}_problem{}", s.script_id, s.problem_id),
                executable_code: s
                    .code
                    .replace("%SECURITY_PROBLEM_UID%", &s.problem_id.to_string())
                    .replace('\r', ""),
            })
            .collect();
        let mut configuration: BTreeMap<String, String> =
            self.store.pc_config(pc.id, pc.site_id).await?.merged();
        configuration
            .entry("mac".into())
            .or_insert_with(|| pc.mac.clone());
        configuration.insert("uid".into(), pc.uid.clone());
        // The agent deletes every local key the portal does not echo; without admin_url its
        // next run fails, so a PC that lost it gets the portal's own address.
        if let Some(url) = &self.settings.public_url {
            configuration
                .entry("admin_url".into())
                .or_insert_with(|| url.clone());
        }
        metrics::counter!("borgerpc_checkins_total").increment(1);
        Ok(Instructions {
            security_scripts,
            jobs,
            configuration,
        })
    }

    /// `confirm_jobs_receipt`: the PC has these jobs; they become SUBMITTED.
    pub async fn confirm_jobs_receipt(&self, pc: &PcIdentity, ids: &[i64]) -> Result<(), Refusal> {
        self.store.confirm_jobs(pc.id, ids).await?;
        Ok(())
    }

    /// `send_status_info`: job results (and, always, a heartbeat). Reports for jobs that are
    /// not this PC's or not SUBMITTED (duplicates) are ignored. A report with a status other
    /// than DONE or FAILED refuses the whole call, so nothing is half-applied.
    pub async fn send_status_info(
        &self,
        pc: &PcIdentity,
        reports: &[JobReport],
        ip: Option<&str>,
    ) -> Result<(), Refusal> {
        let mut outcomes = Vec::with_capacity(reports.len());
        for (i, r) in reports.iter().enumerate() {
            let Some(status) = JobStatus::reported(&r.status) else {
                return Err(bad(format!(
                    "job_data[{i}].status: {:?} is not DONE or FAILED",
                    r.status.chars().take(20).collect::<String>()
                )));
            };
            outcomes.push(status);
        }
        self.beat(pc, ip, false);
        for (r, status) in reports.iter().zip(outcomes) {
            let changed = self
                .store
                .report_job(
                    pc.id,
                    r.id.0,
                    status,
                    r.started.as_deref(),
                    r.finished.as_deref(),
                    r.log_output.as_deref().unwrap_or(""),
                )
                .await?;
            if changed {
                metrics::counter!("borgerpc_job_reports_total", "status" => status.as_str())
                    .increment(1);
            }
        }
        Ok(())
    }

    /// `push_security_events`: lines that upstream would skip (malformed, unknown rule, a rule
    /// of another site) are skipped here too, and lines past [`MAX_EVENTS_PER_CALL`] are
    /// dropped (counted, logged and recorded with the PC). Returns the ids of the events
    /// stored.
    pub async fn push_security_events(
        &self,
        pc: &PcIdentity,
        lines: &[String],
    ) -> Result<Vec<i64>, Refusal> {
        let dropped = lines.len().saturating_sub(MAX_EVENTS_PER_CALL);
        if dropped > 0 {
            metrics::counter!("borgerpc_security_events_dropped_total").increment(dropped as u64);
            tracing::warn!(
                pc = %pc.uid,
                lines = lines.len(),
                dropped,
                "a PC pushed more security event lines than are stored from one call; the rest were dropped"
            );
            self.store
                .record_pc_report(pc.id, "security_events_dropped", &dropped.to_string())
                .await?;
        }
        let parsed: Vec<(SecurityEventLine, i64)> = lines
            .iter()
            .take(MAX_EVENTS_PER_CALL)
            .filter_map(|l| SecurityEventLine::parse(l))
            .filter_map(|e| {
                let at = self.local_time_ms(&e.occurred)?;
                Some((e, at))
            })
            .collect();
        let events: Vec<NewEvent<'_>> = parsed
            .iter()
            .map(|(e, at)| NewEvent {
                site_id: pc.site_id,
                pc_id: pc.id,
                problem_id: e.problem_id,
                occurred_at: *at,
                occurred_text: &e.occurred,
                summary: truncate(&e.summary, MAX_SUMMARY_CHARS),
            })
            .collect();
        let ids = self.store.add_security_events(&events).await?;
        metrics::counter!("borgerpc_security_events_total").increment(ids.len() as u64);
        Ok(ids)
    }

    /// A PC's `YYYYmmddHHMMSS` local time in the portal's zone, as Unix milliseconds.
    fn local_time_ms(&self, text: &str) -> Option<i64> {
        use chrono::TimeZone as _;
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
        let local = self
            .settings
            .time_zone
            .from_local_datetime(&naive)
            .earliest()?;
        Some(local.timestamp_millis())
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A file name as one URL path segment: unreserved characters stay, the rest is %-encoded.
fn url_path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_keys() {
        assert!(is_mac("aa:bb:cc:dd:ee:ff"));
        assert!(is_mac("AA-BB-CC-DD-EE-0F"));
        assert!(!is_mac("aa:bb:cc:dd:ee"));
        assert!(!is_mac("aa:bb:cc:dd:ee:fg"));
        assert!(is_key(&"ab".repeat(32)));
        assert!(!is_key(&"ab".repeat(31)));
    }

    #[test]
    fn file_names_are_encoded_for_urls() {
        assert_eq!(url_path_segment("a b/æ.txt"), "a%20b%2F%C3%A6.txt");
    }
}
