//! `fordeler setup` as an operator runs it after installing the package (not as root here:
//! the root-only decisions are unit-tested in `service_kit::setup`; as root, the user running
//! the tests is the `--system-user`): a non-interactive setup
//! with a real PKCS#12 and SSH key from `kombit-sim certs`, whose configuration loads and
//! serves; re-running keeps it, `--force` rewrites it; bad input is exit code 2 naming the
//! flag; no secret is ever printed.

use service_kit::testing::{Process, current_user};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fordeler");
const IT_SYSTEM: &str = "cfcf2769-9a1f-4d3b-b6d2-ddfb3a2f9dd6";
const FINGERPRINT: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

struct Site {
    dir: tempfile::TempDir,
    pki: kombit_sim::pki::PkiFiles,
    database_url: String,
    env: BTreeMap<String, String>,
}

impl Site {
    async fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let pki = kombit_sim::pki::generate(&dir.path().join("pki")).unwrap();
        let (database_url, env) = service_kit::testing::setup_database(dir.path()).await;
        Site {
            dir,
            pki,
            database_url,
            env,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("fordeler.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        service_kit::testing::command_in(BIN, self.dir.path(), "FORDELER_", &self.env, args)
    }

    /// The flags of a complete non-interactive setup, `change`d.
    fn flags(&self, change: &[(&str, Option<&str>)]) -> Vec<String> {
        let p = |p: &Path| p.display().to_string();
        let mut flags: Vec<(String, Option<String>)> = [
            ("--config", Some(p(&self.config()))),
            ("--system-user", Some(current_user())),
            ("--database-url", Some(self.database_url.clone())),
            ("--listen", Some("127.0.0.1:0".into())),
            ("--cvr", Some("29189846".into())),
            ("--name", Some("Demo Kommune".into())),
            ("--certificate", Some(p(&self.pki.anvender_p12))),
            ("--passphrase-file", Some(p(&self.pki.anvender_p12_pass))),
            ("--it-system", Some(IT_SYSTEM.into())),
            ("--sftp-host", Some("127.0.0.1".into())),
            ("--sftp-port", Some("2222".into())),
            ("--sftp-user", Some("fordeler".into())),
            ("--sftp-key", Some(p(&self.pki.anvender_ssh_key))),
            ("--sftp-host-key-fingerprint", Some(FINGERPRINT.into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in change {
            match flags.iter_mut().find(|(f, _)| f == k) {
                Some(f) => f.1 = v.map(str::to_owned),
                None => flags.push((k.to_string(), v.map(str::to_owned))),
            }
        }
        let mut out = vec!["setup".to_owned(), "--non-interactive".to_owned()];
        for (k, v) in flags {
            if let Some(v) = v {
                out.push(k);
                out.push(v);
            }
        }
        out
    }

    /// `fordeler setup …`: its exit code and everything it printed.
    fn setup(&self, args: &[String]) -> (i32, String) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        service_kit::testing::exit_code_and_output(self.command(&args))
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fordeler-api-token"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn setup_writes_a_configuration_that_serves_and_keeps_it_when_run_again() {
    let site = Site::new().await;
    let (code, out) = site.setup(&site.flags(&[]));
    assert_eq!(code, 0, "{out}");
    let token = site.token();
    assert_eq!(token.len(), 64, "as openssl rand -hex 32");
    let passphrase = std::fs::read_to_string(&site.pki.anvender_p12_pass).unwrap();
    assert!(
        !out.contains(&token) && !out.contains(passphrase.trim()),
        "{out}"
    );
    assert!(
        out.contains("fordeler serve -c "),
        "the next command: {out}"
    );
    assert!(out.contains("no [[form]] yet"), "{out}");
    let text = std::fs::read_to_string(site.config()).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(passphrase.trim()),
        "{text}"
    );
    assert!(text.contains("# [[form]]"), "a commented skeleton: {text}");
    assert_eq!(mode(&site.config()), 0o640);
    assert_eq!(mode(&site.dir.path().join("fordeler-api-token")), 0o640);

    // The real loader and serve's own checks take it.
    let (config, base) = fordeler::config::Config::load(&site.config()).unwrap();
    assert_eq!(config.tenants.len(), 1);
    assert!(config.forms.is_empty());
    fordeler::check::prepare(&config, &base).unwrap();

    // serve starts with it, with no form yet, and its API takes the generated token.
    let mut served =
        Process::spawn(site.command(&["serve", "-c", &site.config().display().to_string()]));
    let url = served.wait_for(false, |l| {
        l.strip_prefix("fordeler: intake and API on ")
            .map(str::to_owned)
    });
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let status = http
        .get(format!("{url}/api/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let refused = http
        .get(format!("{url}/api/status"))
        .bearer_auth("not-the-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(served.stop().success());

    // Again: everything kept, nothing asked.
    let (code, out) = site.setup(&[
        "setup".into(),
        "--non-interactive".into(),
        "--config".into(),
        site.config().display().to_string(),
        "--system-user".into(),
        current_user(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("exists, kept"), "{out}");
    assert_eq!(std::fs::read_to_string(site.config()).unwrap(), text);
    assert_eq!(site.token(), token);

    // --force rewrites the configuration, and keeps the token others already use.
    let mut args = site.flags(&[("--name", Some("Ny Kommune"))]);
    args.push("--force".into());
    let (code, out) = site.setup(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rewritten"), "{out}");
    let rewritten = std::fs::read_to_string(site.config()).unwrap();
    assert!(rewritten.contains("Ny Kommune"), "{rewritten}");
    assert_eq!(site.token(), token);
}

#[tokio::test]
async fn bad_input_is_exit_code_2_naming_the_flag_and_writes_nothing() {
    let site = Site::new().await;
    let wrong = site.dir.path().join("wrong.pass");
    std::fs::write(&wrong, "not-the-passphrase\n").unwrap();
    let wrong = wrong.display().to_string();
    let not_a_key = site.pki.anvender_p12_pass.display().to_string();
    for (change, flag) in [
        (vec![("--cvr", Some("1234"))], "--cvr"),
        (
            vec![("--passphrase-file", Some(wrong.as_str()))],
            "--passphrase-file",
        ),
        (vec![("--it-system", None)], "--it-system"),
        (vec![("--it-system", Some("not-a-uuid"))], "--it-system"),
        (vec![("--sftp-key", Some(not_a_key.as_str()))], "--sftp-key"),
        (
            vec![("--sftp-host-key-fingerprint", Some("MD5:aa:bb"))],
            "--sftp-host-key-fingerprint",
        ),
        (vec![("--listen", Some("localhost"))], "--listen"),
        (
            vec![(
                "--database-url",
                Some("postgres://fordeler:hemmelig@db/fordeler"),
            )],
            "--database-url",
        ),
    ] {
        let (code, out) = site.setup(&site.flags(&change));
        assert_eq!(code, 2, "{change:?}: {out}");
        assert!(out.contains(flag), "{change:?}: {flag} not named: {out}");
        assert!(!out.contains("hemmelig"), "{out}");
        assert!(
            !site.config().exists(),
            "{change:?}: a configuration was written"
        );
    }
}
