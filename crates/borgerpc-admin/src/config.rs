//! `borgerpc.toml`: where the portal listens, its database, what agents are told, and how
//! long history is kept. Every key can be overridden as `BORGERPC_SECTION__KEY` (see
//! `service_kit::config`); variables without `__`, such as `BORGERPC_PASSWORD` or
//! `BORGERPC_SMTP_PASSWORD`, are never overrides. Errors name the key, never its value.

use crate::store::history::Retention;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub agents: AgentsConfig,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    #[serde(default)]
    pub web: WebConfig,
    /// The configuration file's folder: relative secret files are read from there.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
}

/// The portal's pages in the browser: how long a login lasts, and the name authenticator
/// apps show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// A browser session ends after this many minutes without a request.
    #[serde(default = "default_idle_minutes")]
    pub idle_minutes: u64,
    /// And this many hours after the login, however busy.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// The name authenticator apps show beside the user's account ("Ærø Kommune BorgerPC").
    #[serde(default = "default_issuer")]
    pub second_factor_issuer: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            idle_minutes: default_idle_minutes(),
            session_hours: default_session_hours(),
            second_factor_issuer: default_issuer(),
        }
    }
}

fn default_idle_minutes() -> u64 {
    60
}

fn default_session_hours() -> u64 {
    10
}

fn default_issuer() -> String {
    "OS2borgerPC Admin".into()
}

impl Config {
    /// The browser sessions' policy: cookies are `Secure` when PCs and people reach the portal
    /// over HTTPS (`server.public_url`).
    pub fn session_policy(&self) -> service_kit::web::session::Policy {
        service_kit::web::session::Policy {
            idle: std::time::Duration::from_secs(self.web.idle_minutes * 60),
            absolute: std::time::Duration::from_secs(self.web.session_hours * 3600),
            secure: self
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        }
    }
}

/// E-mails about security and offline events, and how often offline rules are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// How often offline rules are checked, in seconds (upstream: every 10 minutes).
    #[serde(default = "default_offline_check")]
    pub offline_check_seconds: u64,
    /// How often new events are mailed out, in seconds.
    #[serde(default = "default_notify_interval")]
    pub send_interval_seconds: u64,
    /// A rule's alert users get at most one e-mail per this many seconds; events that come
    /// meanwhile are counted in the next one.
    #[serde(default = "default_alert_interval")]
    pub alert_interval_seconds: u64,
    /// How often due scheduled report e-mails (report subscriptions) are looked for, in
    /// seconds.
    #[serde(default = "default_report_check")]
    pub report_check_seconds: u64,
    /// The SMTP server; without it no e-mails are sent (events are still stored and shown).
    pub smtp_host: Option<String>,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (only on a trusted network).
    #[serde(default = "default_smtp_security")]
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<service_kit::config::Secret>,
    /// The sender, e.g. `BorgerPC <borgerpc@kommune.dk>`.
    #[serde(default = "default_from")]
    pub from: String,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            offline_check_seconds: default_offline_check(),
            send_interval_seconds: default_notify_interval(),
            alert_interval_seconds: default_alert_interval(),
            report_check_seconds: default_report_check(),
            smtp_host: None,
            smtp_port: default_smtp_port(),
            smtp_security: default_smtp_security(),
            smtp_username: None,
            smtp_password: None,
            from: default_from(),
        }
    }
}

fn default_offline_check() -> u64 {
    600
}

fn default_notify_interval() -> u64 {
    30
}

fn default_alert_interval() -> u64 {
    300
}

fn default_report_check() -> u64 {
    60
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_security() -> String {
    "starttls".into()
}

fn default_from() -> String {
    "BorgerPC <borgerpc@localhost>".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The address PCs use for the portal (`admin_url`), e.g. `https://borgerpc.kommune.dk`.
    pub public_url: Option<String>,
    /// The largest request body of an agent's call or an operator's file upload, in bytes
    /// (the operator API's other bodies are small JSON documents).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default)]
    pub log_json: bool,
    /// Open connections; when all are taken the one idle longest is closed to make room.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// To send a request's headers; also how long an idle keep-alive connection stays open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// To send a request's body after its headers (and to take an answer that stalls).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
    /// Reverse proxies (their addresses) whose `client_ip_header` names the caller; from
    /// anyone else the header is ignored. Login and registration limits count per caller.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header a trusted proxy puts the caller's address in.
    #[serde(default = "default_client_ip_header")]
    pub client_ip_header: String,
    /// Bearer token a Prometheus on another machine scrapes `/metrics` with; without it only
    /// a scraper on this machine (not through a proxy) may.
    pub metrics_token: Option<service_kit::config::Secret>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body(),
            log_json: false,
            max_connections: default_max_connections(),
            header_timeout_seconds: default_header_timeout(),
            body_timeout_seconds: default_body_timeout(),
            trusted_proxies: Vec::new(),
            client_ip_header: default_client_ip_header(),
            metrics_token: None,
        }
    }
}

impl ServerConfig {
    /// What the listener allows its peers.
    pub fn limits(&self) -> anyhow::Result<service_kit::listener::Limits> {
        service_kit::listener::Limits::from_config(
            self.max_connections,
            self.header_timeout_seconds,
            self.body_timeout_seconds,
        )
        .map_err(anyhow::Error::msg)
    }
}

fn default_max_connections() -> usize {
    service_kit::listener::DEFAULT_MAX_CONNECTIONS
}

fn default_header_timeout() -> u64 {
    service_kit::listener::DEFAULT_HEADER_TIMEOUT_SECONDS
}

fn default_body_timeout() -> u64 {
    service_kit::listener::DEFAULT_BODY_TIMEOUT_SECONDS
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    4 << 20
}

fn default_client_ip_header() -> String {
    "X-Forwarded-For".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://borgerpc.db` (default) or `postgres://user@host/db`.
    #[serde(default = "default_db_url")]
    pub url: String,
    #[serde(default = "default_connections")]
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db_url(),
            max_connections: default_connections(),
        }
    }
}

fn default_db_url() -> String {
    "sqlite://borgerpc.db".into()
}

fn default_connections() -> u32 {
    16
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// How long the URL of a job's file parameter works, in hours.
    #[serde(default = "default_file_ttl")]
    pub file_url_ttl_hours: u32,
    /// The time zone PCs report their local times in.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// PC registrations accepted per minute from one address (0: no limit).
    #[serde(default = "default_registrations_per_address")]
    pub registrations_per_minute_per_address: u32,
    /// PC registrations accepted per minute into one site (0: no limit).
    #[serde(default = "default_registrations_per_site")]
    pub registrations_per_minute_per_site: u32,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            file_url_ttl_hours: default_file_ttl(),
            time_zone: default_tz(),
            registrations_per_minute_per_address: default_registrations_per_address(),
            registrations_per_minute_per_site: default_registrations_per_site(),
        }
    }
}

fn default_file_ttl() -> u32 {
    24
}

fn default_registrations_per_address() -> u32 {
    60
}

fn default_registrations_per_site() -> u32 {
    300
}

fn default_tz() -> String {
    "Europe/Copenhagen".into()
}

/// `BORGERPC_SECTION__KEY=value` overrides a key.
pub const ENV_PREFIX: &str = "BORGERPC";

/// The configuration file read when none is given, if it exists.
pub const DEFAULT_FILE: &str = "borgerpc.toml";

impl Config {
    /// Loads and checks `path`, which must exist.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let config: Config = service_kit::config::load(path, ENV_PREFIX)?;
        config.finish(path)
    }

    /// Without a file named: `borgerpc.toml` in the working directory when there is one, else
    /// the defaults (still overridable from the environment).
    pub fn load_default() -> anyhow::Result<Self> {
        let path = std::path::Path::new(DEFAULT_FILE);
        if path.exists() {
            return Self::load(path);
        }
        let vars = service_kit::config::environment(ENV_PREFIX)?;
        let config: Config =
            service_kit::config::parse("(defaults, no borgerpc.toml)", "", ENV_PREFIX, &vars)?;
        config.finish(path)
    }

    fn finish(mut self, path: &std::path::Path) -> anyhow::Result<Self> {
        self.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| ".".into());
        self.check().map_err(|e| {
            anyhow::anyhow!(service_kit::config::blame_override(
                ENV_PREFIX,
                format!("{e:#}")
            ))
        })?;
        Ok(self)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        self.time_zone()?;
        self.server.limits()?;
        anyhow::ensure!(
            self.server.max_body_bytes >= 1024,
            "server.max_body_bytes: must be at least 1024"
        );
        if let Some(url) = &self.server.public_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "server.public_url: must start with http:// or https://"
            );
        }
        anyhow::ensure!(
            matches!(
                self.notifications.smtp_security.as_str(),
                "starttls" | "tls" | "none"
            ),
            "notifications.smtp_security: must be starttls, tls or none"
        );
        anyhow::ensure!(
            self.notifications
                .from
                .parse::<lettre::message::Mailbox>()
                .is_ok(),
            "notifications.from: not an address like BorgerPC <borgerpc@kommune.dk>"
        );
        anyhow::ensure!(
            self.notifications.offline_check_seconds >= 1
                && self.notifications.send_interval_seconds >= 1
                && self.notifications.report_check_seconds >= 1,
            "notifications: intervals must be at least 1 second"
        );
        self.client_address()?;
        anyhow::ensure!(
            (1..=24 * 60).contains(&self.web.idle_minutes),
            "web.idle_minutes: must be 1 to 1440"
        );
        anyhow::ensure!(
            (1..=24 * 7).contains(&self.web.session_hours),
            "web.session_hours: must be 1 to 168"
        );
        anyhow::ensure!(
            !self.web.second_factor_issuer.trim().is_empty()
                && self.web.second_factor_issuer.chars().count() <= 100,
            "web.second_factor_issuer: 1 to 100 characters"
        );
        anyhow::ensure!(
            self.agents.file_url_ttl_hours >= 1,
            "agents.file_url_ttl_hours: must be at least 1"
        );
        Ok(())
    }

    pub fn time_zone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.agents.time_zone.parse().map_err(|_| {
            anyhow::anyhow!("agents.time_zone: not a time zone name like Europe/Copenhagen")
        })
    }

    /// Who a request comes from (see `server.trusted_proxies`).
    pub fn client_address(&self) -> anyhow::Result<crate::throttle::ClientAddress> {
        crate::throttle::ClientAddress::new(
            &self.server.trusted_proxies,
            &self.server.client_ip_header,
        )
    }

    pub fn protocol_settings(&self) -> anyhow::Result<crate::protocol::Settings> {
        Ok(crate::protocol::Settings {
            public_url: self
                .server
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            file_url_ttl_ms: i64::from(self.agents.file_url_ttl_hours) * 3_600_000,
            time_zone: self.time_zone()?,
            registrations_per_minute_per_address: self.agents.registrations_per_minute_per_address,
            registrations_per_minute_per_site: self.agents.registrations_per_minute_per_site,
        })
    }
}
