//! The `kombit-sim` binary as an operator uses it: `certs`, then `serve --config sim.toml` as a
//! separate process, called with curl over mutual TLS, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kombit-sim");

fn certs(dir: &Path) {
    let out = Command::new(BIN)
        .arg("certs")
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("anvender.p12"), "{stdout}");
    // A second run refuses to overwrite the PKI.
    let again = Command::new(BIN)
        .arg("certs")
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn serve_runs_as_a_process_and_answers_over_mtls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    certs(&pki);
    let config = tmp.path().join("sim.toml");
    std::fs::write(
        &config,
        format!(
            r#"
pki_dir = "{}"
inspect_listen = "127.0.0.1:0"
[soap]
listen = "127.0.0.1:0"
sync_kode = "ACCEPTERET"
[sftp]
listen = "127.0.0.1:0"
[[anvender]]
name = "demo"
certificate = "anvender.pem"
cvrs = ["29189846"]
sftp_user = "OS2Forms_Fordeling"
sftp_public_key = "anvender_ssh_ed25519_key.pub"
[[anvender]]
name = "another"
fingerprint_sha256 = "3f6a1c0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29"
cvrs = ["55133018"]
receipt_url = "https://127.0.0.1:9/sf2900/FordelingskvitteringModtag"
[receipts]
url = ""
[[routing]]
myndighed = "29189846"
kle = "*.*.*"
system_uuid = "8a6e1f2c-0b7d-4e5a-a1c3-9f2e7d6b5c02"
system_navn = "ESDH"
"#,
            pki.display()
        ),
    )
    .unwrap();

    // The log goes to a file: a pipe nobody drains could fill up and block the simulator.
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .env_remove("KOMBIT_SIM_LOG_JSON")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut soap, mut inspect) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")) {
            soap = Some(url.to_owned());
        }
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            inspect = Some(url.trim_end_matches("/sim/journal").to_owned());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let soap = soap.expect("serve prints the SOAP URL");
    let inspect = inspect.expect("serve prints the inspection URL");

    let mut req = sf2900::examples::afsend_requests().remove(2).1;
    req.authority_context = Some(sf2900::AuthorityContext::new(
        sf2900::Cvr::new("29189846").unwrap(),
    ));
    let body = sf2900::soap::envelope(&req);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(pki.join("ca.pem"))
        .arg("--cert")
        .arg(pki.join("anvender.pem"))
        .arg("--key")
        .arg(pki.join("anvender.key"))
        .args([
            "-H",
            "Content-Type: text/xml; charset=utf-8",
            "--data-binary",
            &body,
        ])
        .arg(&soap)
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    let resp: sf2900::FordelingsobjektAfsendResponse =
        sf2900::soap::parse_response(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(
        resp.forretnings_kvittering.forretnings_validerings_kode,
        sf2900::ForretningsValideringsKode::Accepteret
    );

    let summary = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("{inspect}/sim/summary"))
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(summary["calls"]["FordelingsobjektAfsend"]["ACCEPTERET"], 1);

    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    // Start-up said where receipts go, and warned about the anvender that gets none.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let said = |level: &str, text: &str| log.lines().any(|l| l.contains(level) && l.contains(text));
    assert!(
        said(
            "WARN",
            "no asynchronous receipts will be sent for anvender demo"
        ),
        "{log}"
    );
    assert!(
        said(
            "INFO",
            "receipts for anvender another go to https://127.0.0.1:9/sf2900/FordelingskvitteringModtag"
        ),
        "{log}"
    );
    // Written to a file (or the journal), not a terminal: no colour codes in the lines.
    assert!(!log.contains('\u{1b}'), "{log:?}");
}

#[test]
fn a_bad_config_names_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("sim.toml");
    std::fs::write(
        &config,
        "[soap]\nlisten = \"127.0.0.1:0\"\nsync_code = \"MODTAGET\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sim.toml") && err.contains("sync_code"),
        "{err}"
    );

    std::fs::write(&config, "[[routing]]\nmyndighed = \"2918984\"\nkle = \"32.03.*\"\nsystem_uuid = \"x\"\nsystem_navn = \"y\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("routing[0].myndighed"), "{err}");
}
