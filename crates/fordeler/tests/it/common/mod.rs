//! A Fordeler and a kombit-sim wired together on loopback, for the end-to-end tests: the sim's
//! test PKI serves both (the Fordeler's certificate, its receipt endpoint's server certificate,
//! and the platform's client certificate for the receipts).

#![allow(dead_code)]

use fordeler::build::FormRenderer;
use fordeler::config::{Config, RouteConfig};
use kombit_sim::faults::FaultRule;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(25);

/// Waits for something to happen: runs `check` until it gives `Ok`, and fails with the last
/// `Err` (what was seen instead) once `until` has passed. The one way these tests wait.
pub(crate) async fn eventually<T, Fut>(until: Instant, mut check: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    loop {
        match check().await {
            Ok(v) => return v,
            Err(seen) => assert!(Instant::now() < until, "{seen}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

pub(crate) fn free_port() -> u16 {
    fordeler::demo::free_port().unwrap()
}

/// Renders every FORMULAR as the example SP241 document (the Twig tests live elsewhere).
pub(crate) struct FixedForm;

impl FormRenderer for FixedForm {
    fn render(&self, _route: &RouteConfig, _ctx: &Value) -> Result<String, String> {
        Ok(sf2900::examples::SP241_XML.to_owned())
    }
}

pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    /// The configuration file the Fordeler was started from (the CLI can use it too).
    pub config_path: std::path::PathBuf,
    pub platform: fordeler::demo::LocalPlatform,
    pub fordeler: fordeler::app::Running,
    pub http: reqwest::Client,
    pub base: String,
}

pub(crate) const TOKEN: &str = fordeler::demo::INTAKE_TOKEN;
pub(crate) const API_TOKEN: &str = fordeler::demo::API_TOKEN;

pub(crate) async fn start(faults: Vec<FaultRule>) -> Env {
    start_with(faults, |_| {}).await
}

pub(crate) async fn start_with(faults: Vec<FaultRule>, tweak: impl FnOnce(&mut Config)) -> Env {
    start_rendering(faults, tweak, Arc::new(FixedForm)).await
}

/// [`start_with`], with FORMULAR documents rendered by `renderer`.
pub(crate) async fn start_rendering(
    faults: Vec<FaultRule>,
    tweak: impl FnOnce(&mut Config),
    renderer: Arc<dyn FormRenderer>,
) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), faults)
        .await
        .unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let path = local.write_config(dir.path(), &db_url, None).unwrap();
    let (mut config, base) = Config::load(&path).unwrap();
    // Every message built in the tests is validated against the official schemas before it
    // is sent (the tests fail, not skip, without them).
    let kombit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kombit");
    assert!(
        kombit.join("sf2900/DistributionServiceMsg.xsd").is_file(),
        "../shared/kombit is missing"
    );
    config.delivery.kombit_xsd_dir = Some(kombit);
    tweak(&mut config);
    let platform = Arc::new(fordeler::platform::RealPlatform::new(&config, &base).unwrap());
    let fordeler = fordeler::app::start(config, base, platform, renderer)
        .await
        .unwrap();
    Env {
        base: format!("http://{}", fordeler.http_addr),
        config_path: path,
        dir,
        platform: local,
        fordeler,
        http: reqwest::Client::new(),
    }
}

pub(crate) fn pdf(size: usize) -> String {
    let mut data = b"%PDF-1.4\n".to_vec();
    data.resize(size, b'x');
    sf2900::Base64Binary::encode(&data)
}

impl Env {
    pub(crate) async fn post(&self, form: &str, body: &Value) -> (u16, Value) {
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

    pub(crate) async fn api(&self, path: &str) -> Value {
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
    pub(crate) async fn wait_for(
        &self,
        uuid: &str,
        states: &[&str],
        timeout: Duration,
    ) -> Vec<Value> {
        eventually(Instant::now() + timeout, || async move {
            let shown = self.api(&format!("/api/deliveries/{uuid}")).await;
            match shown.as_array() {
                Some(items)
                    if !items.is_empty()
                        && items.iter().all(|i| {
                            states.contains(&i["delivery"]["state"].as_str().unwrap_or(""))
                        }) =>
                {
                    Ok(items.clone())
                }
                _ => Err(format!("{uuid} did not reach {states:?}: {shown:#}")),
            }
        })
        .await
    }
}
