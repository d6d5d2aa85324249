//! Asynchronous receipts: after an accepted FordelingsobjektAfsend the platform calls the
//! anvender's endpoint with FordelingskvitteringModtagAnvenderRequest, first the technical
//! receipt, then the business receipt, echoing the full DistributionContext.
//!
//! Each plan runs in its own task so a slow or dead anvender endpoint never slows the SOAP
//! port. Failed calls (transport error, non-2xx, or a Server fault) are retried with backoff, as
//! a platform would, and every attempt's outcome is journalled. Faults change the plan before it runs.

use crate::config::ReceiptConfig;
use crate::faults::{Action, Fault};
use crate::journal::{Event, Journal};
use sf2900::soap;
use sf2900::{
    DistributionContext, FordelingskvitteringModtagAnvenderRequest, ForretningsValideringsKode,
    Forretningskvittering, Kvitteringstype, Uuid,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One receipt to send: what it says and how long after the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kvittering: Forretningskvittering,
    pub delay: Duration,
}

/// The receipts for one transaction, with the faults that apply to them.
#[derive(Debug, Clone)]
pub struct ReceiptPlan {
    pub url: String,
    pub context: DistributionContext,
    pub faults: Vec<Fault>,
}

impl ReceiptPlan {
    pub fn new(url: String, context: DistributionContext, faults: Vec<Fault>) -> Self {
        Self {
            url,
            context,
            faults,
        }
    }
}

/// Sends receipts. Cheap to clone.
#[derive(Clone)]
pub struct Receipts {
    inner: Arc<Inner>,
}

struct Inner {
    client: Option<reqwest::Client>,
    steps: Vec<Step>,
    retries: u32,
    journal: Journal,
    in_flight: AtomicUsize,
}

impl Receipts {
    /// `client` is None when no receipt URL is configured anywhere (receipts are then off).
    pub fn new(
        client: Option<reqwest::Client>,
        cfg: &ReceiptConfig,
        journal: Journal,
    ) -> anyhow::Result<Self> {
        let steps = cfg
            .steps
            .iter()
            .map(|s| {
                Ok(Step {
                    kvittering: Forretningskvittering::new(
                        ForretningsValideringsKode::parse(&s.kode)?,
                        Kvitteringstype::parse(&s.kvitteringstype)?,
                    ),
                    delay: Duration::from_millis(s.delay_ms),
                })
            })
            .collect::<Result<_, sf2900::ValueError>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                steps,
                retries: cfg.retries,
                journal,
                in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// Receipts scheduled or being sent.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// The scripted steps with the plan's faults applied, plus extra sends they cause.
    pub fn steps_for(&self, plan: &ReceiptPlan) -> Vec<(DistributionContext, Step)> {
        let mut steps: Vec<Step> = self.inner.steps.clone();
        let mut extra_delay = Duration::ZERO;
        let mut duplicate = false;
        let mut unknown = false;
        for f in &plan.faults {
            match f.action {
                Action::ReceiptMissing => return Vec::new(),
                Action::ReceiptLate => extra_delay += Duration::from_millis(f.delay_ms),
                Action::ReceiptDuplicate => duplicate = true,
                Action::ReceiptUnknownId => unknown = true,
                Action::ReceiptAfvist | Action::ReceiptFejlet => {
                    let kode = if f.action == Action::ReceiptAfvist {
                        ForretningsValideringsKode::Afvist
                    } else {
                        ForretningsValideringsKode::Fejlet
                    };
                    if let Some(last) = steps
                        .iter_mut()
                        .rev()
                        .find(|s| s.kvittering.kvitteringstype == Kvitteringstype::Forretning)
                    {
                        last.kvittering.forretnings_validerings_kode = kode;
                        last.kvittering.begrundelse =
                            Some(format!("Modtageren svarede {kode} (kombit-sim)"));
                    }
                }
                _ => {}
            }
        }
        if let Some(first) = steps.first_mut() {
            first.delay += extra_delay;
        }
        let mut out = Vec::new();
        for s in steps {
            out.push((plan.context.clone(), s.clone()));
            if duplicate {
                out.push((
                    plan.context.clone(),
                    Step {
                        delay: Duration::ZERO,
                        ..s
                    },
                ));
            }
        }
        if unknown && let Some((_, last)) = out.last() {
            let mut ctx = plan.context.clone();
            ctx.anvender_transaktions_id = Uuid::new_v4();
            let step = Step {
                delay: Duration::ZERO,
                ..last.clone()
            };
            out.push((ctx, step));
        }
        out
    }

    /// Sends the plan's receipts in the background.
    pub fn schedule(&self, plan: ReceiptPlan) {
        let steps = self.steps_for(&plan);
        self.spawn(plan.url, steps);
    }

    /// Passes a modtager's business receipt on to the anvender.
    pub fn forward(
        &self,
        url: String,
        context: DistributionContext,
        kvittering: Forretningskvittering,
    ) {
        self.spawn(
            url,
            vec![(
                context,
                Step {
                    kvittering,
                    delay: Duration::ZERO,
                },
            )],
        );
    }

    fn spawn(&self, url: String, steps: Vec<(DistributionContext, Step)>) {
        let Some(client) = self.inner.client.clone() else {
            return;
        };
        if steps.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        inner.in_flight.fetch_add(steps.len(), Ordering::Relaxed);
        tokio::spawn(async move {
            for (context, step) in steps {
                tokio::time::sleep(step.delay).await;
                let outcome = send(&client, &url, &context, &step.kvittering, inner.retries).await;
                inner.journal.record(Event::Receipt {
                    anvender_transaktions_id: context.anvender_transaktions_id.to_string(),
                    distribution_transaktions_id: context
                        .distribution_transaktions_id
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    kvitteringstype: step.kvittering.kvitteringstype.to_string(),
                    kode: step.kvittering.forretnings_validerings_kode.to_string(),
                    outcome,
                });
                inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    context: &DistributionContext,
    kvittering: &Forretningskvittering,
    retries: u32,
) -> String {
    let body = soap::envelope(&FordelingskvitteringModtagAnvenderRequest {
        forretningskvittering: kvittering.clone(),
        distribution_context: context.clone(),
    });
    let mut outcome = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            // 1 s, 2 s, 4 s, … up to 30 s between attempts, as a platform backs off.
            tokio::time::sleep(Duration::from_secs((1u64 << (attempt - 1).min(5)).min(30))).await;
        }
        let res = client
            .post(url)
            .header("Content-Type", soap::CONTENT_TYPE)
            .header("SOAPAction", "\"\"")
            .body(body.clone())
            .send()
            .await;
        outcome = match res {
            Ok(r) if r.status().is_success() => return "delivered".into(),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                match soap::parse_fault(&text) {
                    // A Client fault is the anvender's final word (e.g. unknown transaction);
                    // a Server fault asks us to try again.
                    Some(f) if f.code == soap::FaultCode::Client => {
                        return format!("fault:{}", f.string);
                    }
                    Some(f) => format!("fault:{}", f.string),
                    None => format!("http:{status}"),
                }
            }
            Err(e) => format!("error:{}", error_chain(&e)),
        };
    }
    outcome
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReceiptConfig;

    fn plan(actions: &[Action]) -> ReceiptPlan {
        ReceiptPlan::new(
            "https://x/".into(),
            sf2900::examples::context_full(),
            actions
                .iter()
                .map(|a| Fault {
                    action: a.clone(),
                    delay_ms: 500,
                })
                .collect(),
        )
    }

    fn receipts() -> Receipts {
        Receipts::new(None, &ReceiptConfig::default(), Journal::new()).unwrap()
    }

    #[test]
    fn default_plan_is_teknisk_then_forretning() {
        let s = receipts().steps_for(&plan(&[]));
        let kinds: Vec<_> = s
            .iter()
            .map(|(_, s)| {
                (
                    s.kvittering.kvitteringstype,
                    s.kvittering.forretnings_validerings_kode,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    Kvitteringstype::Teknisk,
                    ForretningsValideringsKode::Afleveret
                ),
                (
                    Kvitteringstype::Forretning,
                    ForretningsValideringsKode::Accepteret
                )
            ]
        );
    }

    #[test]
    fn faults_shape_the_plan() {
        let r = receipts();
        assert!(r.steps_for(&plan(&[Action::ReceiptMissing])).is_empty());
        assert_eq!(r.steps_for(&plan(&[Action::ReceiptDuplicate])).len(), 4);
        let late = r.steps_for(&plan(&[Action::ReceiptLate]));
        assert_eq!(late[0].1.delay, Duration::from_millis(500));
        let afvist = r.steps_for(&plan(&[Action::ReceiptAfvist]));
        assert_eq!(
            afvist[1].1.kvittering.forretnings_validerings_kode,
            ForretningsValideringsKode::Afvist
        );
        let unknown = r.steps_for(&plan(&[Action::ReceiptUnknownId]));
        assert_eq!(unknown.len(), 3);
        assert_ne!(
            unknown[2].0.anvender_transaktions_id,
            unknown[0].0.anvender_transaktions_id
        );
    }
}
