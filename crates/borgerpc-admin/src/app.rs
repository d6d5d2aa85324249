//! Wiring: one `serve` process runs the client-api, the legacy XML-RPC endpoint, the operator
//! API, the heartbeat writer and the housekeeping, all on one database, behind one
//! `service_kit::listener` with the `[server]` limits (timeouts, connection limit).
//!
//! [`start`] is what `borgerpc-admin serve`, the demo, the benchmark and the tests call; it
//! returns once everything listens, with the address and a handle that stops it all.

use crate::config::Config;
use crate::heartbeat::Heartbeats;
use crate::protocol::Protocol;
use crate::store::Store;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct Running {
    pub addr: SocketAddr,
    pub store: Store,
    /// The login door (its password checker's counts are what tests look at).
    pub logins: Arc<crate::login::Logins>,
    stop: tokio::sync::watch::Sender<bool>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    heartbeat: tokio::task::JoinHandle<()>,
    housekeeping: tokio::task::JoinHandle<()>,
    notifications: tokio::task::JoinHandle<()>,
    /// Scheduled report e-mails (only with an SMTP server).
    report_mails: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The URL agents use (`admin_url`) when the portal runs on loopback.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, writes the queued heartbeats.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(30), self.http).await;
        self.housekeeping.abort();
        self.notifications.abort();
        if let Some(r) = self.report_mails {
            r.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.heartbeat).await;
    }
}

/// Starts the portal on an open store.
pub async fn start(config: &Config, store: Store) -> anyhow::Result<Running> {
    let settings = config.protocol_settings()?;
    let limits = config.server.limits()?;
    let metrics_token = match &config.server.metrics_token {
        Some(secret) => Some(
            secret
                .read(&config.base_dir)
                .map_err(|e| anyhow::anyhow!("server.metrics_token: {e}"))
                .and_then(|t| {
                    anyhow::ensure!(
                        t.len() >= 16 && t.bytes().all(|b| b.is_ascii_graphic()),
                        "server.metrics_token: at least 16 visible ASCII characters \
                         (`openssl rand -hex 32`)"
                    );
                    Ok(t)
                })?,
        ),
        None => None,
    };
    let metrics_access = service_kit::http::MetricsAccess::with_token(metrics_token)
        .proxied_by(&config.server.client_ip_header);
    let mailer = crate::notify::Mailer::from_config(
        &config.notifications,
        &config.base_dir,
        settings.public_url.clone(),
        settings.time_zone,
    )?;
    let (heartbeats, heartbeat) = Heartbeats::start(store.clone());
    let report_mails = mailer.clone().map(|m| {
        tokio::spawn(crate::report_mail::run(
            store.clone(),
            m,
            Duration::from_secs(config.notifications.report_check_seconds),
        ))
    });
    let notifications = tokio::spawn(crate::notify::run(
        store.clone(),
        mailer,
        config.notifications.clone(),
        settings.time_zone,
    ));
    let addresses = config.client_address()?;
    let protocol = Arc::new(Protocol::new(store.clone(), heartbeats, settings));
    let logins = Arc::new(crate::login::Logins::new(store.clone(), addresses.clone()));
    let ready_store = store.clone();
    let ready: service_kit::http::ReadyCheck = Arc::new(move || {
        let store = ready_store.clone();
        Box::pin(async move {
            if store.db.ping().await {
                Ok(())
            } else {
                Err("the database does not answer".to_owned())
            }
        })
    });
    // What agents send (job logs, configuration, events) and an operator's file upload.
    let agents = service_kit::http::BodyLimit::bytes(config.server.max_body_bytes)
        .configured_by("server.max_body_bytes");
    let router = crate::client_api::router(protocol.clone(), addresses.clone())
        .merge(crate::legacy_xmlrpc::router(protocol, addresses))
        .layer(agents.layer())
        .merge(crate::login::router(logins.clone()))
        .merge(crate::api::router(store.clone(), agents))
        .merge(crate::web::router(config, store.clone(), logins.clone()))
        .merge(service_kit::http::ops_router(ready, metrics_access));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let http = service_kit::listener::serve(
        "portal",
        config.server.listen,
        limits,
        None,
        router,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await
    .with_context(|| format!("server.listen {}", config.server.listen))?;
    let housekeeping = {
        let store = store.clone();
        let retention = config.retention;
        let sessions =
            service_kit::web::session::Sessions::new(store.db.clone(), config.session_policy());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                match store
                    .purge_history(&retention, service_kit::db::now_ms())
                    .await
                {
                    Ok(p) => tracing::info!(?p, "history past retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "could not delete old history"),
                }
                match sessions.purge_ended().await {
                    Ok(n) => tracing::info!(sessions = n, "ended web sessions deleted"),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "could not delete ended web sessions")
                    }
                }
            }
        })
    };
    tracing::info!(addr = %http.addr, "borgerpc-admin is running");
    Ok(Running {
        addr: http.addr,
        store,
        logins,
        stop,
        http: http.task,
        heartbeat,
        housekeeping,
        notifications,
        report_mails,
    })
}
