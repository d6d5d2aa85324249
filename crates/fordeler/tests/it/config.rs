//! The configuration as an operator meets it, through the real binary: the complete example
//! file started with every variable the README names, `serve` and `check-config` refusing the
//! same things in the same words, start-up errors that never echo a value, `log_json`, a
//! closed stdout, and a README that names only commands, variables and keys that exist.

use fordeler::config::Config;
use service_kit::readme::{self, Readme};
use service_kit::testing::{Process, run, run_with_closed_stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fordeler");
const EXAMPLE: &str = include_str!("../../fordeler.example.toml");
const API_TOKEN: &str = "api-0f9a8b7c6d5e4f3a2b1c";
const INTAKE_TOKEN: &str = "intake-1a2b3c4d5e6f7a8b";
const PING_TOKEN: &str = "ping-9f8e7d6c5b4a3f2e1d0c";
const OS2FORMS_KEY: &str = "os2forms-5e6f7a8b9c0d1e2f";
/// What a secret could look like: no error may show it.
const SECRET: &str = "S3cr3t-0123456789abcdef";

/// A folder holding the example as `fordeler.toml` and every file it names, and the
/// environment that completes it: the variables the README names, and listeners on free ports.
struct Site {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Site {
    async fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let pki = d.join("pki");
        kombit_sim::pki::generate(&pki).unwrap();
        for (from, to) in [
            ("server.pem", "receipts.pem"),
            ("server.key", "receipts.key"),
            ("ca.pem", "serviceplatformen-ca.pem"),
            ("ca.pem", "exttest-ca.pem"),
            ("anvender.p12", "foces.p12"),
            ("anvender.p12.pass", "foces.pass"),
            ("anvender_ssh_ed25519_key", "sftp_ed25519"),
        ] {
            std::fs::copy(pki.join(from), d.join(to)).unwrap();
        }
        let kombit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kombit");
        assert!(
            kombit.join("kp/SP241.xsd").is_file(),
            "../shared/kombit is missing"
        );
        std::os::unix::fs::symlink(&kombit, d.join("kombit")).unwrap();
        std::fs::copy(kombit.join("kp/SP241.xsd"), d.join("SP241.xsd")).unwrap();
        std::fs::write(d.join("sp241.xml.twig"), fordeler::demo::SP241_TEMPLATE).unwrap();
        std::fs::write(d.join("os2forms-api.key"), OS2FORMS_KEY).unwrap();
        std::fs::write(d.join("fordeler.toml"), EXAMPLE).unwrap();
        let db = service_kit::db::test_database_url(d).await.unwrap();
        let env = [
            (
                "FORDELER_CONFIG",
                d.join("fordeler.toml").display().to_string(),
            ),
            ("FORDELER_DATABASE__URL", db),
            // Nothing listens there: serve does not call the platform before a delivery.
            (
                "FORDELER_TENANT__0__SERVICE_URL",
                "https://127.0.0.1:9/service/SP/Distribution/3".into(),
            ),
            ("FORDELER_API_TOKEN", API_TOKEN.into()),
            ("FORDELER_METRICS_TOKEN", METRICS_TOKEN.into()),
            ("FORDELER_SP241_TOKEN", INTAKE_TOKEN.into()),
            ("FORDELER_PING_TOKEN", PING_TOKEN.into()),
            ("FORDELER_SERVER__LISTEN", "127.0.0.1:0".into()),
            ("FORDELER_RECEIPTS__LISTEN", "127.0.0.1:0".into()),
            (
                "FORDELER_FORM__1__OS2FORMS_URL",
                "https://127.0.0.1:9".into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Site { dir, env }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with this site's environment (and no other FORDELER_ variable).
    fn command(&self, args: &[&str]) -> Command {
        service_kit::testing::command_in(BIN, self.dir.path(), "FORDELER_", &self.env, args)
    }

    /// `fordeler serve`, once it listens, and the URL of its intake and API.
    fn serve(&self) -> (Process, String) {
        let mut p = Process::spawn(self.command(&["serve"]));
        let url = p.wait_for(false, |l| {
            l.strip_prefix("fordeler: intake and API on ")
                .map(str::to_owned)
        });
        (p, url)
    }
}

/// SIGTERM, as systemd stops it: it ends cleanly.
fn stop(p: Process) {
    let status = p.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn the_example_names_every_key_the_fordeler_accepts() {
    let missing = service_kit::config::keys_missing_from_example::<Config>(EXAMPLE).unwrap();
    assert!(
        missing.is_empty(),
        "fordeler.example.toml lacks {missing:?}: add each with a one-line comment"
    );
}

#[tokio::test]
async fn the_example_serves_with_every_variable_the_readme_names() {
    let site = Site::new().await;
    let readme = Readme::of_workspace(env!("CARGO_MANIFEST_DIR"));
    for var in readme.variables("FORDELER") {
        assert!(
            site.env.contains_key(&var),
            "README names {var}: give it a value in Site::new so this test sets it"
        );
    }
    // FORDELER_CONFIG names the file: no -c.
    let (served, url) = site.serve();
    let http = reqwest::Client::new();
    let status = |token: Option<&'static str>| {
        let mut r = http.get(format!("{url}/api/status"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(status(Some(API_TOKEN)).await.unwrap().status(), 200);
    assert_eq!(status(None).await.unwrap().status(), 401);
    let intake = http
        .post(format!("{url}/intake/os2forms_fdk_kp_sp241/remote-post"))
        .bearer_auth(INTAKE_TOKEN)
        .json(&fordeler::demo::sample("os2forms_fdk_kp_sp241", 0, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(intake.status(), 202, "{:?}", intake.text().await);
    // `/metrics` through a proxy: only with server.metrics_token.
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
    stop(served);
}

const METRICS_TOKEN: &str = "metrics-token-of-the-test-0123";

#[tokio::test]
async fn log_json_in_the_file_makes_json_log_lines() {
    let site = Site::new().await;
    std::fs::write(
        site.path("fordeler.toml"),
        EXAMPLE.replace("log_json = false", "log_json = true"),
    )
    .unwrap();
    let (mut served, _) = site.serve();
    let line = served.wait_for(true, |l| (!l.trim().is_empty()).then(|| l.to_owned()));
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(v.get("level").is_some(), "{line}");
    stop(served);
}

#[tokio::test]
async fn a_closed_stdout_ends_list_and_status_quietly() {
    let site = Site::new().await;
    let (served, url) = site.serve();
    let http = reqwest::Client::new();
    for n in 0..3 {
        let r = http
            .post(format!("{url}/intake/os2forms_fdk_kp_sp241/remote-post"))
            .bearer_auth(INTAKE_TOKEN)
            .json(&fordeler::demo::sample("os2forms_fdk_kp_sp241", n, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let (ok, listed) = run(site.command(&["list"]));
    assert!(ok && listed.lines().count() >= 3, "{listed}");
    for args in [&["list"][..], &["status"][..]] {
        // `fordeler list | head -0`: the reader is gone before the first line.
        let (ok, stderr) = run_with_closed_stdout(site.command(args));
        assert!(
            ok && !stderr.contains("panicked"),
            "fordeler {args:?}: {stderr}"
        );
    }
    stop(served);
}

/// The message lines of an error as `serve` prints it (`fordeler: configuration …: <what>`).
fn problems(serve_output: &str) -> Vec<String> {
    let text = serve_output.trim();
    let text = text.strip_prefix("fordeler: ").unwrap_or(text);
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.trim().trim_start_matches("- ").to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    // The first line names the file: compare what follows it.
    if let Some(first) = lines.first_mut()
        && let Some((_, what)) = first.split_once(".toml: ")
    {
        *first = what.to_owned();
    }
    lines.retain(|l| !l.ends_with("problems:"));
    lines
}

/// A bad configuration: what is wrong, an edit of the example (`from` → `to`, none if `from`
/// is empty), a variable to set (`""` to unset it, no variable if the name is empty), and
/// what the message must name.
struct Case {
    what: &'static str,
    edit: (&'static str, &'static str),
    var: (&'static str, &'static str),
    names: &'static str,
}

#[tokio::test]
async fn serve_and_check_config_refuse_the_same_in_the_same_words() {
    let site = Site::new().await;
    let cases = [
        Case {
            what: "an unknown key",
            edit: ("log_json =", "log_jsn ="),
            var: ("", ""),
            names: "log_jsn",
        },
        Case {
            what: "a CVR with 7 digits",
            edit: ("cvr = \"29189846\"", "cvr = \"2918984\""),
            var: ("", ""),
            names: "tenant[0].cvr",
        },
        Case {
            what: "a secret's variable unset",
            edit: ("", ""),
            var: ("FORDELER_API_TOKEN", ""),
            names: "FORDELER_API_TOKEN is not set",
        },
        Case {
            what: "a secret's file missing",
            edit: ("{ file = \"foces.pass\" }", "{ file = \"missing.pass\" }"),
            var: ("", ""),
            names: "missing.pass",
        },
        Case {
            what: "a short token",
            edit: ("", ""),
            var: ("FORDELER_SP241_TOKEN", "short-token"),
            names: "at least 16",
        },
        Case {
            what: "a guessable token",
            edit: ("", ""),
            var: ("FORDELER_SP241_TOKEN", "abababababababababab"),
            names: "too easy to guess",
        },
        Case {
            what: "a token longer than a caller's credential may be",
            edit: ("", ""),
            var: (
                "FORDELER_SP241_TOKEN",
                Box::leak("0123456789abcdef".repeat(33).into_boxed_str()),
            ),
            names: "at most 512",
        },
        Case {
            what: "the API token as an intake token",
            edit: ("", ""),
            var: ("FORDELER_SP241_TOKEN", API_TOKEN),
            names: "must differ",
        },
        Case {
            what: "receipts from any certificate of the CA",
            edit: (
                "platform_subject = \"CN=Serviceplatformen, O=KOMBIT A/S, C=DK\"   # as `openssl x509 -noout -subject -in CERT` prints it\nplatform_fingerprint_sha256 =",
                "# platform_fingerprint_sha256 =",
            ),
            var: ("", ""),
            names: "receipts.platform_subject: set it, or receipts.platform_fingerprint_sha256",
        },
        Case {
            what: "a platform fingerprint that is not one",
            edit: (
                "platform_fingerprint_sha256 = \"5d:41",
                "platform_fingerprint_sha256 = \"zz:41",
            ),
            var: ("", ""),
            names: "receipts.platform_fingerprint_sha256: not a SHA-256 fingerprint",
        },
        Case {
            what: "a receipt certificate that is not the key's",
            edit: (
                "server_cert = \"receipts.pem\"",
                "server_cert = \"exttest-ca.pem\"",
            ),
            var: ("", ""),
            names: "does not match its key",
        },
        Case {
            what: "a receipt certificate missing",
            edit: (
                "server_cert = \"receipts.pem\"",
                "server_cert = \"missing.pem\"",
            ),
            var: ("", ""),
            names: "missing.pem",
        },
        Case {
            what: "OS2forms over http to another host",
            edit: ("", ""),
            var: (
                "FORDELER_FORM__1__OS2FORMS_URL",
                "http://selvbetjening.kommune.dk",
            ),
            names: "os2forms_url: must be https://",
        },
        Case {
            what: "an OS2forms key without a site",
            edit: ("os2forms_url = ", "# os2forms_url = "),
            var: ("FORDELER_FORM__1__OS2FORMS_URL", ""),
            names: "os2forms_url",
        },
        Case {
            what: "a wrong certificate passphrase",
            edit: (
                "{ file = \"foces.pass\" }",
                "{ file = \"os2forms-api.key\" }",
            ),
            var: ("", ""),
            names: "tenant 29189846 certificate",
        },
        Case {
            what: "a template missing",
            edit: ("\"sp241.xml.twig\"", "\"missing.twig\""),
            var: ("", ""),
            names: "missing.twig",
        },
        Case {
            what: "the official schemas missing",
            edit: (
                "kombit_xsd_dir = \"kombit\"",
                "kombit_xsd_dir = \"nowhere\"",
            ),
            var: ("", ""),
            names: "kombit_xsd_dir",
        },
        Case {
            what: "a host key fingerprint in another syntax",
            edit: ("SHA256:PasteThe", "MD5:PasteThe"),
            var: ("", ""),
            names: "host_key_fingerprint",
        },
        Case {
            what: "an override of a key that does not exist",
            edit: ("", ""),
            var: ("FORDELER_SERVER__LISTN", "127.0.0.1:0"),
            names: "FORDELER_SERVER__LISTN",
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let Case {
            what,
            edit: (from, to),
            var: (var, value),
            names,
        } = case;
        let file = format!("case{i}.toml");
        let text = if from.is_empty() {
            EXAMPLE.to_owned()
        } else {
            assert!(EXAMPLE.contains(from), "{what}: the example has no {from}");
            EXAMPLE.replacen(from, to, 1)
        };
        std::fs::write(site.path(&file), text).unwrap();
        let outputs: Vec<(bool, String)> = ["serve", "check-config"]
            .iter()
            .map(|cmd| {
                let mut c = site.command(&["-c", &file, cmd]);
                c.env_remove("FORDELER_CONFIG");
                match (*var, *value) {
                    ("", _) => {}
                    (v, "") => {
                        c.env_remove(v);
                    }
                    (v, x) => {
                        c.env(v, x);
                    }
                }
                run(c)
            })
            .collect();
        let [(serve_ok, serve), (check_ok, check)] = &outputs[..] else {
            unreachable!()
        };
        assert!(!serve_ok, "{what}: serve started\n{serve}");
        assert!(!check_ok, "{what}: check-config passed\n{check}");
        assert!(serve.contains(names), "{what}: serve said\n{serve}");
        for problem in problems(serve) {
            assert!(
                check.contains(&problem),
                "{what}: serve said\n{problem}\nbut check-config said\n{check}"
            );
        }
    }
}

#[tokio::test]
async fn start_up_errors_never_echo_a_value() {
    let site = Site::new().await;
    let env_cases = [
        "FORDELER_SERVER__API_TOKEN",
        "FORDELER_DATABASE__MAX_CONNECTIONS",
        "FORDELER_SERVER__LISTEN",
        "FORDELER_NOSUCH__KEY",
        "FORDELER_TENANT__0__CVR",
        "FORDELER_FORM__0__ROUTE__0__DISTRIBUTION_TYPE",
        "FORDELER_FORM__1__OS2FORMS_URL",
    ];
    for var in env_cases {
        for cmd in ["serve", "check-config"] {
            let mut c = site.command(&[cmd]);
            c.env(var, SECRET);
            let (ok, out) = run(c);
            assert!(!ok, "{var} {cmd}: accepted");
            assert!(
                out.contains(var),
                "{var} {cmd}: the variable is not named\n{out}"
            );
            assert!(
                !out.contains("S3cr3t"),
                "{var} {cmd}: the value is shown\n{out}"
            );
        }
    }
    // A secret written into the file by mistake, and secrets that are refused.
    std::fs::write(
        site.path("plain.toml"),
        EXAMPLE.replace(
            "api_token = { env = \"FORDELER_API_TOKEN\" }",
            &format!("api_token = \"{SECRET}\""),
        ),
    )
    .unwrap();
    let short = &SECRET[..10];
    for (file, var, value) in [
        ("plain.toml", "FORDELER_API_TOKEN", API_TOKEN),
        ("fordeler.toml", "FORDELER_API_TOKEN", short),
        (
            "fordeler.toml",
            "FORDELER_PING_TOKEN",
            "S3cr3t S3cr3t S3cr3t",
        ),
    ] {
        for cmd in ["serve", "check-config"] {
            let mut c = site.command(&["-c", file, cmd]);
            c.env(var, value);
            let (ok, out) = run(c);
            assert!(!ok, "{file} {var} {cmd}: accepted");
            assert!(
                !out.contains("S3cr3t"),
                "{file} {var} {cmd}: the value is shown\n{out}"
            );
        }
    }
}

#[test]
fn the_readme_names_only_commands_variables_and_keys_that_exist() {
    let checked = readme::Program {
        name: "fordeler",
        bin: BIN,
        section: "Fordeler",
        env_prefix: "FORDELER",
        example_name: "fordeler.example.toml",
        example: EXAMPLE,
    }
    .check(env!("CARGO_MANIFEST_DIR"));
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    // The check reads something: the README's commands and keys are there.
    assert!(checked.commands >= 8);
    assert!(checked.keys >= 10);
}

#[tokio::test]
async fn migrate_check_lists_pending_migrations_and_changes_nothing() {
    let site = Site::new().await;
    let check = site.command(&["migrate", "--check"]).output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.starts_with("pending: 1 init\n"), "{out}");
    assert_eq!(
        out.lines().count(),
        fordeler::store::MIGRATIONS.len(),
        "{out}"
    );
    let (ok, migrated) = run(site.command(&["migrate"]));
    assert!(
        ok && migrated.contains("database is up to date"),
        "{migrated}"
    );
    let (ok, current) = run(site.command(&["migrate", "--check"]));
    assert!(ok, "{current}");
    assert!(
        current.contains(&format!(
            "up to date: {} migrations applied",
            fordeler::store::MIGRATIONS.len()
        )),
        "{current}"
    );
}
