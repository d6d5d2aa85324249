//! Wiring: one `serve` process runs intake and the operator API, the receipt endpoint, the
//! outbox and the housekeeping, all on the same database. Both listeners are
//! `service_kit::listener`s with the `[server]` limits (timeouts, connection limit).
//!
//! [`start`] is what `fordeler serve`, the demo, the benchmark and the tests call; it returns
//! once everything listens, with the addresses and a handle that stops it all.

use crate::build::FormRenderer;
use crate::config::Config;
use crate::intake::Intake;
use crate::outbox::{Outbox, Serviceplatform};
use crate::receipts::ReceiptEndpoint;
use crate::store::Store;
use crate::web::{Tokens, Web};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct Running {
    pub http_addr: SocketAddr,
    pub receipts_addr: Option<SocketAddr>,
    pub store: Store,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets steps in flight finish, and returns.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    }
}

/// Starts every part of the Fordeler.
pub async fn start<P: Serviceplatform>(
    config: Config,
    base: PathBuf,
    platform: Arc<P>,
    renderer: Arc<dyn FormRenderer>,
) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let store = Store::open(&config.database.url, config.database.max_connections).await?;
    let secrets = config.read_secrets(&base)?;
    let tokens = Tokens {
        api: secrets.api_token,
        remote_post: secrets.remote_post,
        ping: secrets.ping,
    };
    // Both listeners allow their peers the same.
    let limits = config.server.limits().map_err(anyhow::Error::msg)?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();

    let outbox = Arc::new(Outbox::new(
        store.clone(),
        config.clone(),
        base.clone(),
        platform,
        renderer,
    ));
    let wake = outbox.wake.clone();
    tasks.push(tokio::spawn(outbox.run(stop_rx.clone())));

    let intake = Intake {
        store: store.clone(),
        config: config.clone(),
    };
    let db = store.db.clone();
    let ready: service_kit::http::ReadyCheck = Arc::new(move || {
        let db = db.clone();
        Box::pin(async move {
            if db.ping().await {
                Ok(())
            } else {
                Err("database does not answer".into())
            }
        })
    });
    let mut sites = std::collections::HashMap::new();
    for f in &config.forms {
        if let (Some(url), Some(key)) = (&f.os2forms_url, secrets.api_key.get(&f.webform_id)) {
            let site =
                crate::pull::Os2forms::new(url, key.clone(), config.server.max_submission_bytes)?;
            if f.poll_seconds > 0 {
                let task = poll(
                    intake.clone(),
                    site.clone(),
                    f.webform_id.clone(),
                    f.poll_seconds,
                    wake.clone(),
                    stop_rx.clone(),
                );
                tasks.push(tokio::spawn(task));
            }
            sites.insert(f.webform_id.clone(), site);
        }
    }
    let router = crate::web::router(Web {
        intake,
        tokens,
        wake,
        sites,
    })
    .merge(service_kit::http::ops_router_with(
        ready,
        Some(backlog_gauges(
            store.clone(),
            config.tenants.iter().map(|t| t.cvr.to_string()).collect(),
        )),
        service_kit::http::MetricsAccess::with_token(secrets.metrics_token.clone()),
    ));
    let mut rx = stop_rx.clone();
    let http = service_kit::listener::serve(
        "intake",
        config.server.listen,
        limits,
        None,
        router,
        async move {
            let _ = rx.wait_for(|s| *s).await;
        },
    )
    .await
    .with_context(|| format!("server.listen {}", config.server.listen))?;
    tasks.push(tokio::spawn(async move {
        let _ = http.task.await;
    }));

    let receipts_addr = match &config.receipts {
        Some(r) => {
            let tls = r.tls(&base)?;
            let endpoint = ReceiptEndpoint {
                store: store.clone(),
                wait_for_forretning: config.delivery.wait_for_forretning,
                platform: r.platform().map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let mut rx = stop_rx.clone();
            let served = service_kit::listener::serve(
                "receipts",
                r.listen,
                limits,
                Some(tls),
                crate::receipts::router(endpoint),
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            )
            .await
            .with_context(|| format!("receipts.listen {}", r.listen))?;
            let addr = served.addr;
            tasks.push(tokio::spawn(async move {
                let _ = served.task.await;
            }));
            Some(addr)
        }
        None => None,
    };

    tasks.push(tokio::spawn(housekeeping(
        store.clone(),
        config.clone(),
        stop_rx,
    )));
    tracing::info!(http = %http.addr, receipts = ?receipts_addr, "fordeler is running");
    Ok(Running {
        http_addr: http.addr,
        receipts_addr,
        store,
        stop,
        tasks,
    })
}

/// Polls a form's submission list and pulls what is new. The list has no pagination upstream
/// and includes drafts, so every cycle reads it whole and skips uuids already stored.
async fn poll(
    intake: Intake,
    site: crate::pull::Os2forms,
    webform_id: String,
    every: u64,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match site.list(&webform_id).await {
            Ok(uuids) => {
                let known = intake
                    .store
                    .known_uuids(&webform_id)
                    .await
                    .unwrap_or_default();
                for uuid in uuids.into_iter().filter(|u| !known.contains(u)) {
                    let url = site.submission_url(&webform_id, &uuid);
                    match site.pull(&webform_id, &url).await {
                        Ok(s) => {
                            if intake.accept(s, "poll").await.is_ok() {
                                wake.notify_one();
                            }
                        }
                        Err(crate::pull::PullError::Refused(
                            crate::intake::Refused::NotCompleted(_),
                        )) => {}
                        Err(e) => {
                            tracing::warn!(webform_id, submission_uuid = %uuid, error = %e, "pull failed")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(webform_id, error = %e, "listing submissions failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(every)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Receipts that never came, payloads past their retention, and (daily, from a minute after
/// start) stored files that a crash left without a submission.
async fn housekeeping(
    store: Store,
    config: Arc<Config>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut next_sweep = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
        let now = service_kit::db::now_ms();
        let timeout = config.delivery.receipt_timeout_minutes as i64 * 60_000;
        if let Ok(ids) = store.overdue_waiting(now - timeout).await {
            for id in ids {
                let msg = format!(
                    "no asynchronous receipt within {} minutes",
                    config.delivery.receipt_timeout_minutes
                );
                let class = crate::store::ErrorClass::ReceiptTimeout;
                let _ = store.fail(&id, class, &msg, None).await;
                let span = match store.delivery(&id).await {
                    Ok(Some(d)) => d.span(),
                    _ => tracing::error_span!("delivery", delivery_id = %id),
                };
                span.in_scope(|| {
                    tracing::error!(
                        class = class.as_str(),
                        timeout_minutes = config.delivery.receipt_timeout_minutes,
                        "delivery failed: no asynchronous receipt in time; waiting for the operator"
                    )
                });
            }
        }
        let retention = config.database.purge_after_days as i64 * 86_400_000;
        if let Err(e) = store.purge(now - retention).await {
            tracing::warn!(error = %e, "purging payloads failed");
        }
        if now >= next_sweep {
            next_sweep = now + 86_400_000;
            match store.sweep_orphan_files(Duration::from_secs(3600)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "removed segment files nothing refers to any more"
                ),
                Err(e) => tracing::warn!(error = %e, "sweeping stored files failed"),
            }
        }
    }
}

/// `/metrics` gauges of the backlog per tenant, read from the database at each scrape:
/// `fordeler_deliveries_failed` (waiting for the operator), `fordeler_deliveries_waiting`
/// (pending or waiting for receipts) and `fordeler_oldest_waiting_delivery_age_seconds`.
fn backlog_gauges(store: Store, tenants: Vec<String>) -> service_kit::http::MetricsRefresh {
    // Every tenant shown once (the configured ones from the start) is shown on: at 0 when it
    // has nothing left, rather than with the last value it had.
    let shown = Arc::new(std::sync::Mutex::new(
        tenants
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
    ));
    Arc::new(move || {
        let (store, shown) = (store.clone(), shown.clone());
        Box::pin(async move {
            let backlog = match store.backlog().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: reading the backlog failed");
                    return;
                }
            };
            let now = service_kit::db::now_ms();
            let mut shown = shown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut idle = shown.clone();
            for b in backlog {
                idle.remove(&b.tenant_cvr);
                let age = b
                    .oldest_waiting_since
                    .map_or(0.0, |since| (now - since).max(0) as f64 / 1000.0);
                let tenant = b.tenant_cvr.clone();
                metrics::gauge!("fordeler_deliveries_failed", "tenant" => tenant.clone())
                    .set(b.failed as f64);
                metrics::gauge!("fordeler_deliveries_waiting", "tenant" => tenant.clone())
                    .set(b.waiting as f64);
                metrics::gauge!("fordeler_oldest_waiting_delivery_age_seconds", "tenant" => tenant)
                    .set(age);
                shown.insert(b.tenant_cvr);
            }
            for tenant in idle {
                for name in [
                    "fordeler_deliveries_failed",
                    "fordeler_deliveries_waiting",
                    "fordeler_oldest_waiting_delivery_age_seconds",
                ] {
                    metrics::gauge!(name, "tenant" => tenant.clone()).set(0.0);
                }
            }
        })
    })
}
