//! The simulator's configuration as a user meets it: the complete example file loaded through
//! the real loader and started, a README that names only commands and keys that exist, and a
//! closed stdout.

use kombit_sim::config::SimConfig;
use service_kit::readme::{self, Readme};
use service_kit::testing::run_with_closed_stdout;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kombit-sim");
const EXAMPLE: &str = include_str!("../sim.example.toml");

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

/// `kombit-sim <path…> --help`, or `None` if it refuses the path.
fn help(path: &[String]) -> Option<String> {
    let out = Command::new(BIN).args(path).arg("--help").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_readme_names_only_commands_and_keys_that_exist() {
    let readme = Readme::of_workspace(env!("CARGO_MANIFEST_DIR"));
    let keys = service_kit::config::example_keys(EXAMPLE).unwrap();
    let mut problems = readme::unknown_commands(&readme, "kombit-sim", &help);
    problems.extend(readme::unknown_variables(
        &readme,
        "KOMBIT_SIM",
        EXAMPLE,
        &keys,
        &readme::all_help(&help),
    ));
    let sections = keys.iter().filter(|k| !k.contains('.')).cloned().collect();
    let section = readme.section("kombit-sim");
    for key in section.config_keys(&sections) {
        if !keys.contains(&key) {
            problems.push(format!(
                "README (kombit-sim) names the key {key}, which sim.example.toml does not have"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(readme.commands("kombit-sim").len() >= 4);
}
