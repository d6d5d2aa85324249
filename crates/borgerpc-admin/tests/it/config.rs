//! The configuration as an operator meets it, through the real binary: the complete example
//! file started with every variable the README names, start-up errors that never echo a
//! value, `log_json`, a closed stdout, and a README that names only commands, variables and
//! keys that exist.

use borgerpc_admin::config::Config;
use service_kit::readme::{self, Readme};
use service_kit::testing::{Process, run, run_with_closed_stdout};
use std::collections::BTreeMap;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");
const EXAMPLE: &str = include_str!("../../borgerpc.example.toml");
const PASSWORD: &str = "Korrekt-Hest-Batteri-Hæfteklamme-42";
const SECRET: &str = "S3cr3t-0123456789abcdef";

/// A folder holding the example as `borgerpc.toml`, and the environment that completes it:
/// the variables the README names, and a listener on a free port.
struct Site {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Site {
    async fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("borgerpc.toml");
        std::fs::write(&config, EXAMPLE).unwrap();
        let db = service_kit::db::test_database_url(dir.path())
            .await
            .unwrap();
        let env = [
            ("BORGERPC_CONFIG", config.display().to_string()),
            ("BORGERPC_DATABASE__URL", db),
            ("BORGERPC_PASSWORD", PASSWORD.to_owned()),
            (
                "BORGERPC_SMTP_PASSWORD",
                "smtp-password-of-the-test".to_owned(),
            ),
            ("BORGERPC_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
            ("BORGERPC_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
            // Read by `tenant-role grant` only; the portal must start with it set.
            (
                "BORGERPC_ROLE_PASSWORD",
                "role-password-of-the-test".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Site { dir, env }
    }

    /// The binary in the site's folder with its environment (and no other BORGERPC_ variable).
    fn command(&self, args: &[&str]) -> Command {
        service_kit::testing::command_in(BIN, self.dir.path(), "BORGERPC_", &self.env, args)
    }

    /// `borgerpc-admin serve`, once it listens, and its URL.
    fn serve(&self) -> (Process, String) {
        let mut p = Process::spawn(self.command(&["serve"]));
        let url = p.wait_for(true, |l| {
            l.strip_prefix("borgerpc-admin listens on ")
                .map(str::to_owned)
        });
        (p, url)
    }
}

#[test]
fn the_example_names_every_key_the_portal_accepts() {
    let missing = service_kit::config::keys_missing_from_example::<Config>(EXAMPLE).unwrap();
    assert!(
        missing.is_empty(),
        "borgerpc.example.toml lacks {missing:?}: add each with a one-line comment"
    );
}

#[tokio::test]
async fn the_example_serves_with_every_variable_the_readme_names() {
    let site = Site::new().await;
    let readme = Readme::of_workspace(env!("CARGO_MANIFEST_DIR"));
    for var in readme.variables("BORGERPC") {
        assert!(
            site.env.contains_key(&var),
            "README names {var}: give it a value in Site::new so this test sets it"
        );
    }
    // BORGERPC_CONFIG names the file and BORGERPC_PASSWORD the password: no arguments.
    let (ok, out) = run(site.command(&["createsuperuser", "--username", "admin"]));
    assert!(ok, "{out}");
    let (served, url) = site.serve();
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
    // `/metrics` through the proxy (its client_ip_header): only with server.metrics_token.
    let metrics = |token: Option<&'static str>| {
        let mut r = http
            .get(format!("{url}/metrics"))
            .header("x-forwarded-for", "192.0.2.1");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(metrics(Some(METRICS_TOKEN)).await.unwrap().status(), 200);
    assert_eq!(metrics(None).await.unwrap().status(), 401);
    let status = served.stop();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_named_configuration_file_must_exist() {
    let site = Site::new().await;
    let mut c = site.command(&["customer", "list"]);
    c.env("BORGERPC_CONFIG", site.dir.path().join("borgerpc.tmol"));
    let (ok, out) = run(c);
    assert!(!ok && out.contains("borgerpc.tmol"), "{out}");
}

#[tokio::test]
async fn log_json_in_the_file_makes_json_log_lines() {
    let site = Site::new().await;
    std::fs::write(
        site.dir.path().join("borgerpc.toml"),
        EXAMPLE.replace("log_json = false", "log_json = true"),
    )
    .unwrap();
    // The log line comes before `serve` says where it listens.
    let mut served = Process::spawn(site.command(&["serve"]));
    let line = served.wait_for(true, |l| l.contains("is running").then(|| l.to_owned()));
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(v.get("level").is_some(), "{line}");
}

#[tokio::test]
async fn a_closed_stdout_ends_quietly() {
    let site = Site::new().await;
    let (ok, out) = run(site.command(&["customer", "add", "Sønderborg Kommune"]));
    assert!(ok, "{out}");
    let (ok, stderr) = run_with_closed_stdout(site.command(&["customer", "list"]));
    assert!(ok && !stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn start_up_errors_never_echo_a_value() {
    let site = Site::new().await;
    for var in [
        "BORGERPC_SERVER__MAX_BODY_BYTES",
        "BORGERPC_NOTIFICATIONS__SMTP_PASSWORD",
        "BORGERPC_NOSUCH__KEY",
        "BORGERPC_SERVER__PUBLIC_URL",
        "BORGERPC_AGENTS__TIME_ZONE",
        "BORGERPC_NOTIFICATIONS__FROM",
    ] {
        let mut c = site.command(&["customer", "list"]);
        c.env(var, SECRET);
        let (ok, out) = run(c);
        assert!(!ok, "{var}: accepted");
        assert!(out.contains(var), "{var}: the variable is not named\n{out}");
        assert!(!out.contains("S3cr3t"), "{var}: the value is shown\n{out}");
    }
}

#[test]
fn the_readme_names_only_commands_variables_and_keys_that_exist() {
    let checked = readme::Program {
        name: "borgerpc-admin",
        bin: BIN,
        section: "BorgerPC admin",
        env_prefix: "BORGERPC",
        example_name: "borgerpc.example.toml",
        example: EXAMPLE,
    }
    .check(env!("CARGO_MANIFEST_DIR"));
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    assert!(checked.commands >= 10);
    assert!(checked.keys > 0);
}

const METRICS_TOKEN: &str = "metrics-token-of-the-test-0123";

/// The alert rules and the Grafana dashboard in `docs/monitoring/` query only portal metrics
/// the code records (the Fordeler's tests check the shared ones and run `promtool`).
#[test]
fn the_monitoring_files_query_what_the_portal_records() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let sources = service_kit::readme::sources_of(dir, &["borgerpc-admin"]);
    let named = service_kit::readme::monitored_metrics(dir, &["borgerpc_"]);
    assert!(named.len() >= 6, "{named:?}");
    for (file, name) in &named {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "docs/monitoring/{file} queries {name}, which the portal does not record"
        );
    }
}
