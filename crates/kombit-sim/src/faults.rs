//! Fault injection: which misbehaviour applies to this call, file or receipt.
//!
//! Rules come from `[[fault]]` in `sim.toml` or from `POST /sim/faults` at run time, and are
//! evaluated in order. A rule can be limited to the first `times` matches, to a probability, and
//! to calls that match a KLE emne, a file-name fragment or an AnvenderTransaktionsID. Rules are
//! deterministic unless `probability` < 1, so tests and the demo can script exact outcomes.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Where a fault can strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// FordelingsobjektAfsend.
    Afsend,
    /// FordelingsmodtagerList.
    List,
    /// FordelingsmodtagerValider.
    Valider,
    /// FordelingskvitteringModtag.
    KvitteringModtag,
    /// A file upload over SFTP (data written to `/OUT/`).
    SftpUpload,
    /// A `.trigger` being processed.
    SftpTrigger,
    /// The asynchronous receipts after an accepted FordelingsobjektAfsend.
    Receipt,
}

/// What happens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Answer (or act) only after `delay_ms` more.
    Latency,
    /// SOAP fault with a TransportKvittering (FEJL).
    SoapFault,
    /// SOAP fault with a ServiceplatformFault (as the platform gives for infrastructure errors).
    PlatformFault,
    /// HTTP 503 with no SOAP body, as a load balancer would.
    Http503,
    /// Synchronous ForretningsKvittering AFVIST.
    Afvist,
    /// Synchronous ForretningsKvittering FEJLET.
    Fejlet,
    /// No asynchronous receipts at all.
    ReceiptMissing,
    /// Asynchronous receipts `delay_ms` later than scripted.
    ReceiptLate,
    /// Every asynchronous receipt sent twice.
    ReceiptDuplicate,
    /// An extra receipt for an AnvenderTransaktionsID the anvender never used.
    ReceiptUnknownId,
    /// The Forretning receipt says AFVIST.
    ReceiptAfvist,
    /// The Forretning receipt says FEJLET.
    ReceiptFejlet,
    /// SFTP: the connection is dropped in the middle of an upload.
    Disconnect,
    /// SFTP: writes fail with "disk full" (SSH_FX_FAILURE, "No space left on device").
    DiskFull,
    /// SFTP: the trigger gets an ErrorMessage receipt instead of SUCCESS.
    TriggerError,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub on: Hook,
    pub action: Action,
    #[serde(default = "one")]
    pub probability: f64,
    /// Apply to the first N matches only; absent: always.
    pub times: Option<u32>,
    #[serde(default)]
    pub delay_ms: u64,
    /// Only calls whose KLE emne (routing or object) equals this.
    pub match_kle: Option<String>,
    /// Only files whose name contains this.
    pub match_file: Option<String>,
    /// Only this AnvenderTransaktionsID.
    pub match_transaction: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// What a call, file or receipt is, for matching rules.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    pub kle: Option<&'a str>,
    pub file: Option<&'a str>,
    pub transaction: Option<&'a str>,
}

/// A fault that applies now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub action: Action,
    pub delay_ms: u64,
}

#[derive(Debug, Clone)]
struct Armed {
    rule: FaultRule,
    used: u32,
}

/// The live rule set. Cheap to clone; shared by the SOAP, SFTP and receipt parts.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Armed>>>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        let f = Self::default();
        f.replace(rules);
        f
    }

    /// Replaces all rules (and their `times` counters).
    pub fn replace(&self, rules: Vec<FaultRule>) {
        let armed = rules
            .into_iter()
            .map(|rule| Armed { rule, used: 0 })
            .collect();
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = armed;
    }

    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Armed { rule, used: 0 });
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|a| a.rule.clone())
            .collect()
    }

    /// The faults that strike this subject at this hook, in rule order. Counts `times`.
    pub fn pick(&self, hook: Hook, subject: &Subject<'_>) -> Vec<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for armed in rules.iter_mut() {
            let r = &armed.rule;
            if r.on != hook || armed.rule.times.is_some_and(|t| armed.used >= t) {
                continue;
            }
            let matches = |want: &Option<String>, have: Option<&str>, contains: bool| match want {
                None => true,
                Some(w) => have.is_some_and(|h| {
                    if contains {
                        h.contains(w.as_str())
                    } else {
                        h == w
                    }
                }),
            };
            if !matches(&r.match_kle, subject.kle, false)
                || !matches(&r.match_file, subject.file, true)
                || !matches(&r.match_transaction, subject.transaction, false)
            {
                continue;
            }
            if r.probability < 1.0 && rand::rng().random::<f64>() >= r.probability {
                continue;
            }
            armed.used += 1;
            out.push(Fault {
                action: armed.rule.action.clone(),
                delay_ms: armed.rule.delay_ms,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(on: Hook, action: Action) -> FaultRule {
        FaultRule {
            on,
            action,
            probability: 1.0,
            times: None,
            delay_ms: 0,
            match_kle: None,
            match_file: None,
            match_transaction: None,
        }
    }

    #[test]
    fn times_limits_and_matching_filters() {
        let mut r = rule(Hook::Afsend, Action::Afvist);
        r.times = Some(1);
        r.match_kle = Some("32.03.12".into());
        let f = Faults::new(vec![r, rule(Hook::SftpUpload, Action::Disconnect)]);
        let other = Subject {
            kle: Some("01.01.01"),
            ..Default::default()
        };
        assert!(f.pick(Hook::Afsend, &other).is_empty());
        let hit = Subject {
            kle: Some("32.03.12"),
            ..Default::default()
        };
        assert_eq!(
            f.pick(Hook::Afsend, &hit),
            vec![Fault {
                action: Action::Afvist,
                delay_ms: 0
            }]
        );
        assert!(
            f.pick(Hook::Afsend, &hit).is_empty(),
            "times = 1 is used up"
        );
        assert_eq!(f.pick(Hook::SftpUpload, &Subject::default()).len(), 1);
    }

    #[test]
    fn probability_zero_never_fires() {
        let mut r = rule(Hook::List, Action::SoapFault);
        r.probability = 0.0;
        let f = Faults::new(vec![r]);
        assert!((0..100).all(|_| f.pick(Hook::List, &Subject::default()).is_empty()));
    }
}
