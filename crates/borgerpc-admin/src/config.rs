//! `borgerpc.toml`: where the portal listens, its database, what agents are told, and how
//! long history is kept. Every key can be overridden as `BORGERPC_SECTION__KEY`.

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The address PCs use for the portal (`admin_url`), e.g. `https://borgerpc.kommune.dk`.
    pub public_url: Option<String>,
    /// The largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default)]
    pub log_json: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body(),
            log_json: false,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    4 << 20
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
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            file_url_ttl_hours: default_file_ttl(),
            time_zone: default_tz(),
        }
    }
}

fn default_file_ttl() -> u32 {
    24
}

fn default_tz() -> String {
    "Europe/Copenhagen".into()
}

impl Config {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let config: Config = if path.exists() {
            service_kit::config::load(path, "BORGERPC")?
        } else {
            // No file: defaults, still overridable from the environment.
            let vars: Vec<(String, String)> = std::env::vars().collect();
            service_kit::config::parse(&path.display().to_string(), "", "BORGERPC", &vars)?
        };
        config.check()?;
        Ok(config)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        self.time_zone()?;
        if let Some(url) = &self.server.public_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "server.public_url: {url:?} must start with http:// or https://"
            );
        }
        anyhow::ensure!(
            self.agents.file_url_ttl_hours >= 1,
            "agents.file_url_ttl_hours: must be at least 1"
        );
        Ok(())
    }

    pub fn time_zone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.agents.time_zone.parse().map_err(|_| {
            anyhow::anyhow!(
                "agents.time_zone: {:?} is not a time zone name like Europe/Copenhagen",
                self.agents.time_zone
            )
        })
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
        })
    }
}
