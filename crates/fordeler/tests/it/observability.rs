//! What an operator sees of failures without opening the database, against kombit-sim on
//! loopback: every failed delivery has a WARN or ERROR log line with its ids and none of the
//! form's values, and `/metrics` (scraped over HTTP) has the backlog and latency histograms
//! holding the calls that were made.

use crate::common;

use common::*;
use fordeler::build::FormRenderer;
use fordeler::config::RouteConfig;
use kombit_sim::faults::{Action, FaultRule, Hook};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

const CPR: &str = "0101701234";
const NAME: &str = "Jens Testesen";
const TENANT: &str = "29189846";

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes log lines to [`LOGS`].
struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of the process from here on, as JSON objects with the fields at the top.
fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// Waits for a WARN or ERROR line about `delivery` (its ids all there) for which `also` holds.
async fn wait_for_log(delivery: &Value, also: impl Fn(&Value) -> bool) -> Value {
    let also = &also;
    common::eventually(Instant::now() + Duration::from_secs(30), || async move {
        let text = logs();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                matches!(l["level"].as_str(), Some("WARN" | "ERROR"))
                    && [
                        "id",
                        "submission_id",
                        "submission_uuid",
                        "anvender_transaktions_id",
                        "tenant_cvr",
                        "route_id",
                    ]
                    .iter()
                    .all(|k| {
                        let field = if *k == "id" { "delivery_id" } else { k };
                        // The ids come with the line's `delivery` span (JSON: under "span").
                        let v = if l[field].is_string() {
                            &l[field]
                        } else {
                            &l["span"][field]
                        };
                        v.is_string() && *v == delivery[k]
                    })
                    && also(l)
            });
        found.ok_or_else(|| format!("no WARN/ERROR line with the ids of {delivery:#}:\n{text}"))
    })
    .await
}

/// A template that fails and, as template errors do, quotes the values it was given.
struct BrokenTemplate;

impl FormRenderer for BrokenTemplate {
    fn render(&self, _route: &RouteConfig, ctx: &Value) -> Result<String, String> {
        Err(format!(
            "Variable \"ansoeger\" does not exist in \"sp241.xml.twig\" at line 3, near {ctx}"
        ))
    }
}

fn submission(uuid: &str, extra: Value) -> Value {
    let mut body = json!({
        "emne": "Parkering",
        "ansoeger_personnummer": CPR,
        "ansoeger_navn": NAME,
        "uuid": uuid,
        "serial": "17",
        "completed": "1778586315",
        "in_draft": "0",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

fn rule(on: Hook, action: Action, kle: &str) -> FaultRule {
    FaultRule {
        on,
        action,
        probability: 1.0,
        times: None,
        delay_ms: 0,
        match_kle: Some(kle.into()),
        match_file: None,
        match_transaction: None,
    }
}

/// `name{labels}` in Prometheus text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(env: &Env) -> String {
    let r = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_logged_with_ids_and_metrics_show_backlog_and_latencies() {
    capture_logs();
    let env = start_rendering(
        vec![
            // JOURNALPOST: answered only after 3 s (the backlog gauges see it waiting), then
            // the receiver's Forretning receipt says FEJLET.
            FaultRule {
                delay_ms: 3000,
                times: Some(1),
                ..rule(Hook::Afsend, Action::Latency, "01.01.01")
            },
            rule(Hook::Receipt, Action::ReceiptFejlet, "01.01.01"),
            // DOKUMENT (its file is uploaded first): AFVIST synchronously. The FORMULAR of the
            // same KLE never gets this far: its template fails.
            rule(Hook::Afsend, Action::Afvist, "32.03.12"),
        ],
        |_| {},
        Arc::new(BrokenTemplate),
    )
    .await;
    let file =
        json!({"_kvittering": {"name": "k.pdf", "mime": "application/pdf", "data": pdf(2000)}});
    let (j, d, f) = (
        sf2900::Uuid::new_v4().to_string(),
        sf2900::Uuid::new_v4().to_string(),
        sf2900::Uuid::new_v4().to_string(),
    );
    assert_eq!(env.post("journal", &submission(&j, json!({}))).await.0, 202);
    assert_eq!(
        env.post("dokument", &submission(&d, file.clone())).await.0,
        202
    );
    assert_eq!(
        env.post("os2forms_fdk_kp_sp241", &submission(&f, file))
            .await
            .0,
        202
    );

    // While the journal's call is under way, it is waiting, and for some time now.
    let tenant = format!("{{tenant=\"{TENANT}\"}}");
    let (env_ref, tenant) = (&env, &tenant);
    common::eventually(Instant::now() + Duration::from_secs(30), || async move {
        let text = scrape(env_ref).await;
        let waiting = value(&text, &format!("fordeler_deliveries_waiting{tenant}"));
        let age = value(
            &text,
            &format!("fordeler_oldest_waiting_delivery_age_seconds{tenant}"),
        );
        if waiting.is_some_and(|w| w >= 1.0) && age.is_some_and(|a| a >= 0.5) {
            Ok(())
        } else {
            Err(format!("no waiting delivery shown:\n{text}"))
        }
    })
    .await;

    let mut shown = Vec::new();
    for uuid in [&j, &d, &f] {
        let items = env
            .wait_for(uuid, &["failed"], Duration::from_secs(60))
            .await;
        shown.push(items[0]["delivery"].clone());
    }
    let [journal, dokument, formular] = &shown[..] else {
        unreachable!()
    };
    assert_eq!(journal["forretning_kode"], "FEJLET", "{journal:#}");
    // The FEJLET receipt, the AFVIST answer and the template error, each with the ids.
    wait_for_log(journal, |l| l["kode"] == "FEJLET" && l["level"] == "WARN").await;
    wait_for_log(dokument, |l| l["kode"] == "AFVIST").await;
    wait_for_log(dokument, |l| {
        l["class"] == "rejected" && l["level"] == "ERROR"
    })
    .await;
    let built = wait_for_log(formular, |l| l["class"] == "build" && l["level"] == "ERROR").await;
    assert_eq!(
        built["span"]["webform_id"], "os2forms_fdk_kp_sp241",
        "{built}"
    );
    // The template's error (with the values) is in the timeline for the operator...
    assert!(
        formular["last_error"].as_str().unwrap_or("").contains(CPR),
        "{formular:#}"
    );
    // ...and no value of any form is in the log.
    let text = logs();
    for value in [CPR, NAME, "Parkering"] {
        assert!(!text.contains(value), "{value} is in the log:\n{text}");
    }

    // The backlog: three failed deliveries for the operator, nothing else waiting.
    let text = scrape(&env).await;
    let gauge = |name: &str| {
        value(&text, &format!("{name}{tenant}")).unwrap_or_else(|| panic!("no {name}:\n{text}"))
    };
    assert_eq!(gauge("fordeler_deliveries_failed"), 3.0, "{text}");
    assert_eq!(gauge("fordeler_deliveries_waiting"), 0.0, "{text}");
    assert_eq!(
        gauge("fordeler_oldest_waiting_delivery_age_seconds"),
        0.0,
        "{text}"
    );

    // Latency histograms hold the calls: counts, sums and buckets agree with what was done.
    let series = |name: &str, labels: &str| {
        let s = format!("{name}{{{labels}}}");
        value(&text, &s).unwrap_or_else(|| panic!("no {s}:\n{text}"))
    };
    let soap = "operation=\"FordelingsobjektAfsend\"";
    assert!(
        text.contains("# TYPE fordeler_soap_call_duration_seconds histogram"),
        "{text}"
    );
    let calls = series("fordeler_soap_call_duration_seconds_count", soap);
    assert!(calls >= 2.0, "{text}");
    let sum = series("fordeler_soap_call_duration_seconds_sum", soap);
    assert!((3.0..120.0).contains(&sum), "{sum} s:\n{text}");
    // The delayed call is above 2.5 s, the others below.
    let below = series(
        "fordeler_soap_call_duration_seconds_bucket",
        &format!("{soap},le=\"2.5\""),
    );
    assert!(below >= 1.0 && below < calls, "{text}");
    assert_eq!(
        series(
            "fordeler_soap_call_duration_seconds_bucket",
            &format!("{soap},le=\"+Inf\"")
        ),
        calls
    );
    let uploads = series("fordeler_sftp_op_duration_seconds_count", "op=\"upload\"");
    assert!(uploads >= 1.0, "{text}");
    let upload_sum = series("fordeler_sftp_op_duration_seconds_sum", "op=\"upload\"");
    assert!(upload_sum > 0.0 && upload_sum < 60.0, "{text}");
    for listener in ["intake", "receipts"] {
        let labels = format!("listener=\"{listener}\"");
        assert!(
            series("http_request_duration_seconds_count", &labels) >= 1.0,
            "{text}"
        );
        assert!(
            series("http_request_duration_seconds_sum", &labels) > 0.0,
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_after_max_age_is_logged_with_ids() {
    capture_logs();
    let env = start_with(
        vec![FaultRule {
            match_kle: None,
            ..rule(Hook::Afsend, Action::Http503, "")
        }],
        // Every delivery is older than 0 hours: the first retryable error is the last.
        |c| c.delivery.max_age_hours = 0,
    )
    .await;
    let j = sf2900::Uuid::new_v4().to_string();
    assert_eq!(env.post("journal", &submission(&j, json!({}))).await.0, 202);
    let items = env.wait_for(&j, &["failed"], Duration::from_secs(60)).await;
    let delivery = &items[0]["delivery"];
    assert_eq!(delivery["error_class"], "max_age", "{delivery:#}");
    wait_for_log(delivery, |l| {
        l["class"] == "max_age" && l["level"] == "ERROR" && l["last_class"].is_string()
    })
    .await;
    let text = logs();
    assert!(!text.contains(CPR), "{text}");
}

/// Every metric the README's Fordeler section names is one the code records (with the labels
/// named), so an operator's dashboard built from the README shows data.
#[test]
fn every_metric_the_readme_names_exists() {
    // The README's Fordeler section and the reference it points to (docs/fordeler.md).
    let readme =
        service_kit::readme::Readme::of_workspace(env!("CARGO_MANIFEST_DIR")).section("Fordeler");
    let text = readme.text();
    let sources =
        service_kit::readme::sources_of(env!("CARGO_MANIFEST_DIR"), &["fordeler", "service-kit"]);
    let mut named = Vec::new();
    for line in text.lines() {
        for span in line.split('`').skip(1).step_by(2) {
            let (name, labels) = match span.split_once('{') {
                Some((n, l)) => (n, l.strip_suffix('}').unwrap_or("")),
                None => (span, ""),
            };
            let is_metric = ["fordeler_", "http_", "db_"]
                .iter()
                .any(|p| name.starts_with(p))
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if !is_metric {
                continue;
            }
            named.push(name.to_owned());
            assert!(
                sources.contains(&format!("\"{name}\"")),
                "the README names {name}, which the code does not record"
            );
            for label in labels.split(',').filter(|l| !l.is_empty()) {
                assert!(
                    sources.contains(&format!("\"{label}\" =>")),
                    "the README names the label {label} of {name}, which the code does not set"
                );
            }
        }
    }
    for expected in [
        "fordeler_deliveries_failed",
        "fordeler_oldest_waiting_delivery_age_seconds",
        "http_request_duration_seconds",
    ] {
        assert!(named.iter().any(|n| n == expected), "{named:?}");
    }
}

/// The alert rules and the Grafana dashboard in `docs/monitoring/` query only what the code
/// records, and Prometheus's own checker accepts the rules (`.ci/run` installs `prometheus`
/// for `promtool`). The portal's metrics are checked by its own tests.
#[test]
fn the_monitoring_files_query_what_the_code_records() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let sources = service_kit::readme::sources_of(dir, &["fordeler", "service-kit"]);
    let named = service_kit::readme::monitored_metrics(dir, &["fordeler_", "http_", "db_"]);
    assert!(named.len() >= 10, "{named:?}");
    for (file, name) in &named {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "docs/monitoring/{file} queries {name}, which the code does not record"
        );
    }
    let monitoring = std::path::Path::new(dir).join("../../docs/monitoring");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring.join("grafana-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{}",
                p["title"]
            );
        }
    }
    let promtool = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(monitoring.join("alerts.yml"))
        .output()
        .expect("promtool is missing: apt-get install --no-install-recommends prometheus (.ci/run does)");
    assert!(
        promtool.status.success(),
        "{}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
}
