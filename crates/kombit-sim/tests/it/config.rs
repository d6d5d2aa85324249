//! The simulator's configuration as a user meets it: the complete example file loaded through
//! the real loader and started, a README that names only commands and keys that exist, and a
//! closed stdout.

use kombit_sim::config::SimConfig;
use service_kit::readme;
use service_kit::testing::run_with_closed_stdout;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kombit-sim");
const EXAMPLE: &str = include_str!("../../sim.example.toml");

#[test]
fn the_example_names_every_key_the_simulator_accepts() {
    let missing = service_kit::config::keys_missing_from_example::<SimConfig>(EXAMPLE).unwrap();
    assert!(
        missing.is_empty(),
        "sim.example.toml lacks {missing:?}: add each with a one-line comment"
    );
}

#[tokio::test]
async fn the_example_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    kombit_sim::pki::generate(&dir.path().join("sim-certs")).unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    let mut config = SimConfig::load(&path).unwrap();
    // Relative to the file's folder, not to the working directory.
    assert_eq!(config.pki_dir, dir.path().join("sim-certs"));
    assert_eq!(config.sftp.root, Some(dir.path().join("sim-data/sftp")));
    // The example's ports are the defaults; a test takes free ones.
    let any = "127.0.0.1:0".parse().unwrap();
    (
        config.soap.listen,
        config.sftp.listen,
        config.inspect_listen,
    ) = (any, any, any);
    let sim = kombit_sim::run::start(config).await.unwrap();
    let health = reqwest::get(format!("http://{}/healthz", sim.inspect_addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let faults: serde_json::Value = reqwest::get(format!("http://{}/sim/faults", sim.inspect_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults.as_array().map(Vec::len), Some(2), "{faults}");
}

/// Every `listen` address in a TOML document, wherever it is.
fn listen_addresses(value: &toml::Value, out: &mut Vec<std::net::SocketAddr>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                match (k.as_str(), v.as_str()) {
                    ("listen", Some(addr)) => out.push(addr.parse().unwrap()),
                    _ => listen_addresses(v, out),
                }
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| listen_addresses(v, out)),
        _ => {}
    }
}

#[test]
fn defaults_leave_the_products_ports_alone_and_send_receipts_to_the_fordeler() {
    let fordeler: toml::Value =
        toml::from_str(include_str!("../../../fordeler/fordeler.example.toml")).unwrap();
    let borgerpc: toml::Value = toml::from_str(include_str!(
        "../../../borgerpc-admin/borgerpc.example.toml"
    ))
    .unwrap();
    let mut taken = Vec::new();
    listen_addresses(&fordeler, &mut taken);
    listen_addresses(&borgerpc, &mut taken);
    assert!(taken.len() >= 3, "{taken:?}");

    let sim = SimConfig::default();
    for (key, addr) in [
        ("soap.listen", sim.soap.listen),
        ("inspect_listen", sim.inspect_listen),
        ("sftp.listen", sim.sftp.listen),
    ] {
        assert!(
            taken.iter().all(|t| t.port() != addr.port()),
            "{key} {addr} clashes with a product's example listener {taken:?}"
        );
    }
    assert_eq!(sim.soap.listen.port(), 9443);
    assert_eq!(sim.inspect_listen.port(), 9080);

    // Receipts go, by default, to the Fordeler's example receipt endpoint and path.
    let url =
        reqwest::Url::parse(sim.receipts.url.as_deref().expect("a default receipt URL")).unwrap();
    let receipts_listen: std::net::SocketAddr = fordeler["receipts"]["listen"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.port(), Some(receipts_listen.port()));
    let registered = fordeler["tenant"][0]["receipt_url"].as_str().unwrap();
    assert!(registered.ends_with(url.path()), "{registered} vs {url}");
    let demo = &sim.anvendere[0];
    assert_eq!(sim.receipt_url_for(demo), sim.receipts.url);
}

#[test]
fn an_empty_receipt_url_switches_receipts_off_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    let anvender = |receipt_url: &str| {
        format!(
            "[[anvender]]\nname = \"a\"\nfingerprint_sha256 = \"00\"\ncvrs = [\"29189846\"]\n{receipt_url}\n"
        )
    };
    // Off everywhere.
    std::fs::write(&path, format!("[receipts]\nurl = \"\"\n{}", anvender(""))).unwrap();
    let c = SimConfig::load(&path).unwrap();
    assert_eq!(c.receipts.url, None);
    assert_eq!(c.receipt_url_for(&c.anvendere[0]), None);
    // An empty URL set in code means the same, and passes the checks.
    let mut c = SimConfig::default();
    c.receipts.url = Some(String::new());
    assert_eq!(c.check(), Ok(()));
    assert_eq!(c.receipt_url_for(&c.anvendere[0]), None);
    // Off for one anvender although [receipts] url is set (by default).
    std::fs::write(&path, anvender("receipt_url = \"\"")).unwrap();
    let c = SimConfig::load(&path).unwrap();
    assert!(c.receipts.url.is_some());
    assert_eq!(c.receipt_url_for(&c.anvendere[0]), None);
    // A URL the HTTPS client could never call is refused at start-up, naming the key.
    std::fs::write(&path, "[receipts]\nurl = \"http://127.0.0.1:8443/x\"\n").unwrap();
    let err = SimConfig::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("receipts.url") && err.contains("https"),
        "{err}"
    );
    std::fs::write(&path, anvender("receipt_url = \"not a url\"")).unwrap();
    let err = SimConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("anvender[0].receipt_url"), "{err}");
}

#[test]
fn a_closed_stdout_ends_certs_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let mut c = Command::new(BIN);
    c.arg("certs").arg("--out").arg(&out);
    let (ok, stderr) = run_with_closed_stdout(c);
    assert!(ok && !stderr.contains("panicked"), "{stderr}");
    assert!(out.join("anvender.p12").is_file());
}

#[test]
fn the_readme_names_only_commands_and_keys_that_exist() {
    let checked = readme::Program {
        name: "kombit-sim",
        bin: BIN,
        section: "kombit-sim",
        env_prefix: "KOMBIT_SIM",
        example_name: "sim.example.toml",
        example: EXAMPLE,
    }
    .check(env!("CARGO_MANIFEST_DIR"));
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    assert!(checked.commands >= 4);
}
