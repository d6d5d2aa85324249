//! A Fordeler and a kombit-sim wired together on loopback, for the end-to-end tests: the sim's
//! test PKI serves both (the Fordeler's certificate, its receipt endpoint's server certificate,
//! and the platform's client certificate for the receipts).

#![allow(dead_code)]

use fordeler::build::FormRenderer;
use fordeler::config::{Config, RouteConfig};
use kombit_sim::config::SimConfig;
use kombit_sim::faults::FaultRule;
use kombit_sim::run::RunningSim;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Renders every FORMULAR as the example SP241 document (the Twig tests live elsewhere).
pub struct FixedForm;

impl FormRenderer for FixedForm {
    fn render(&self, _route: &RouteConfig, _ctx: &Value) -> Result<String, String> {
        Ok(sf2900::examples::SP241_XML.to_owned())
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sim: RunningSim,
    pub fordeler: fordeler::app::Running,
    pub http: reqwest::Client,
    pub base: String,
    pub config_text: String,
}

pub const TOKEN: &str = "hemmeligt-intake-token-1";
pub const API_TOKEN: &str = "operator-api-token-1";

pub fn config_text(
    pki: &Path,
    db_url: &str,
    sim: &RunningSim,
    receipts_port: u16,
    http_port: u16,
) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{http_port}"
api_token = {{ file = "api.token" }}

[database]
url = "{db_url}"

[receipts]
listen = "127.0.0.1:{receipts_port}"
server_cert = "{pki}/server.pem"
server_key = "{pki}/server.key"
client_ca = "{pki}/ca.pem"

[delivery]
retry_base_seconds = 1
sftp_receipt_poll_ms = 20

[[tenant]]
cvr = "29189846"
name = "Demo Kommune"
service_url = "{soap}"
service_ca = "{pki}/ca.pem"
certificate = "{pki}/anvender.p12"
passphrase = {{ file = "{pki}/anvender.p12.pass" }}
it_system = "cfcf2769-9a1f-4d3b-b6d2-ddfb3a2f9dd6"

[tenant.sftp]
host = "127.0.0.1"
port = {sftp_port}
user = "OS2Forms_Fordeling"
key = "{pki}/anvender_ssh_ed25519_key"

[[form]]
webform_id = "journal"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "notat"
distribution_type = "JOURNALPOST"
kle_emne = "01.01.01"
titel = "Henvendelse [webform_submission:serial]"
journalpost_message = "Henvendelse fra borger om [webform_submission:values:emne]"

[[form]]
webform_id = "dokument"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "pdf"
distribution_type = "DOKUMENT"
kle_emne = "32.03.12"
handling_facet = "G01"
attachment_element = "kvittering"
titel = "Ansøgning"
brugervendt_noegle = "[webform_submission:uuid]"

[[form]]
webform_id = "sp241"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "kp"
distribution_type = "FORMULAR"
kle_emne = "32.03.12"
handling_facet = "G01"
attachment_element = "kvittering"
formular_type = "HelbredstillægAnsøgningFormular_1"
xml_template = "sp241.xml.twig"
[form.route.files]
filspecifikation = "HelbredstillægAnsøgningBilag_1"
"#,
        pki = pki.display(),
        soap = sim.soap_url(),
        sftp_port = sim.sftp_addr.port(),
    )
}

pub async fn start(faults: Vec<FaultRule>) -> Env {
    start_with(faults, |_| {}).await
}

pub async fn start_with(faults: Vec<FaultRule>, tweak: impl FnOnce(&mut Config)) -> Env {
    kombit_sim::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = kombit_sim::pki::generate(&dir.path().join("pki")).unwrap();
    let receipts_port = free_port();
    let http_port = free_port();

    let mut sim_config = SimConfig::default_for_pki(pki.dir.clone());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sim_config.soap.listen = any;
    sim_config.sftp.listen = any;
    sim_config.inspect_listen = any;
    sim_config.receipts.url = Some(format!(
        "https://127.0.0.1:{receipts_port}/sf2900/FordelingskvitteringModtag"
    ));
    sim_config.faults = faults;
    let sim = kombit_sim::run::start(sim_config).await.unwrap();

    std::fs::write(dir.path().join("intake.token"), TOKEN).unwrap();
    std::fs::write(dir.path().join("api.token"), API_TOKEN).unwrap();
    let db = service_kit::db::test_db(dir.path()).await.unwrap();
    let db_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => u,
        _ => format!("sqlite://{}", dir.path().join("fordeler.db").display()),
    };
    drop(db);
    let text = config_text(&pki.dir, &db_url, &sim, receipts_port, http_port);
    let path = dir.path().join("fordeler.toml");
    std::fs::write(&path, &text).unwrap();
    let (mut config, base) = Config::load(&path).unwrap();
    tweak(&mut config);
    let platform = Arc::new(fordeler::platform::RealPlatform::new(&config, &base).unwrap());
    let fordeler = fordeler::app::start(config, base, platform, Arc::new(FixedForm))
        .await
        .unwrap();
    Env {
        base: format!("http://{}", fordeler.http_addr),
        dir,
        sim,
        fordeler,
        http: reqwest::Client::new(),
        config_text: text,
    }
}

pub fn pdf(size: usize) -> String {
    use base64::Engine as _;
    let mut data = b"%PDF-1.4\n".to_vec();
    data.resize(size, b'x');
    base64::engine::general_purpose::STANDARD.encode(data)
}

impl Env {
    pub async fn post(&self, form: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/intake/{form}/remote-post", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn api(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until every delivery of the submission is in one of `states`.
    pub async fn wait_for(&self, uuid: &str, states: &[&str], timeout: Duration) -> Vec<Value> {
        let until = Instant::now() + timeout;
        loop {
            let shown = self.api(&format!("/api/deliveries/{uuid}")).await;
            if let Some(items) = shown.as_array()
                && !items.is_empty()
                && items
                    .iter()
                    .all(|i| states.contains(&i["delivery"]["state"].as_str().unwrap_or("")))
            {
                return items.clone();
            }
            assert!(
                Instant::now() < until,
                "{uuid} did not reach {states:?}: {shown:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn dir_path(env: &Env) -> PathBuf {
    env.dir.path().to_path_buf()
}
