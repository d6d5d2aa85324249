//! `borgerpc-admin setup` as an operator runs it after installing the package (not as root
//! here: the root-only decisions are unit-tested in `service_kit::setup`; as root, the user
//! running the tests is the `--system-user`): a non-interactive
//! setup whose configuration loads and serves, and whose superuser logs in; re-running keeps
//! configuration, superuser and municipality, `--force` rewrites the configuration; bad input
//! is exit code 2 naming the flag; the password is never printed.

use service_kit::testing::{Process, current_user};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");
const PASSWORD: &str = "Korrekt-Hest-Batteri-Hæfteklamme-42";

struct Site {
    dir: tempfile::TempDir,
    database_url: String,
    env: BTreeMap<String, String>,
}

impl Site {
    async fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, mut env) = service_kit::testing::setup_database(dir.path()).await;
        env.insert("BORGERPC_PASSWORD".to_owned(), PASSWORD.to_owned());
        Site {
            dir,
            database_url,
            env,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        service_kit::testing::command_in(BIN, self.dir.path(), "BORGERPC_", &self.env, args)
    }

    /// `borgerpc-admin setup --non-interactive --config <dir>/<file> …`: exit code and output.
    fn setup(&self, file: &str, args: &[&str]) -> (i32, String) {
        let config = self.path(file).display().to_string();
        let me = current_user();
        let mut all = vec!["setup", "--non-interactive", "--config", &config];
        all.extend(["--system-user", &me]);
        all.extend_from_slice(args);
        service_kit::testing::exit_code_and_output(self.command(&all))
    }

    fn full(&self) -> Vec<&str> {
        vec![
            "--database-url",
            &self.database_url,
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "https://borgerpc.kommune.dk",
            "--admin-username",
            "admin",
            "--admin-email",
            "it@kommune.dk",
            "--customer",
            "Ærø Kommune",
        ]
    }
}

#[tokio::test]
async fn setup_writes_a_configuration_that_serves_and_whose_superuser_logs_in() {
    let site = Site::new().await;
    let (code, out) = site.setup("borgerpc.toml", &site.full());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
    assert!(out.contains("superuser admin: created"), "{out}");
    assert!(out.contains("customer Ærø Kommune: created"), "{out}");
    assert!(
        out.contains("borgerpc-admin serve -c "),
        "the next command: {out}"
    );
    let config = site.path("borgerpc.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains(PASSWORD));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let loaded = borgerpc_admin::config::Config::load(&config).unwrap();
    assert_eq!(
        loaded.server.public_url.as_deref(),
        Some("https://borgerpc.kommune.dk")
    );

    let mut served = Process::spawn(site.command(&["serve", "-c", &config.display().to_string()]));
    let url = served.wait_for(true, |l| {
        l.strip_prefix("borgerpc-admin listens on ")
            .map(str::to_owned)
    });
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = http
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
    assert!(served.stop().success());

    // Again, with another password and customer: everything kept.
    let me = current_user();
    let mut again = site.command(&[
        "setup",
        "--non-interactive",
        "--system-user",
        &me,
        "--config",
        &config.display().to_string(),
        "--customer",
        "Anden Kommune",
    ]);
    again.env("BORGERPC_PASSWORD", "Et-Helt-Andet-Kodeord-Med-Længde-77");
    let out = again.output().unwrap();
    let out_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{out_text}");
    assert!(
        out_text.contains("superuser admin: exists, kept"),
        "{out_text}"
    );
    assert!(out_text.contains("configuration"), "{out_text}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    let listed = site
        .command(&["customer", "list", "-c", &config.display().to_string()])
        .output()
        .unwrap();
    let customers: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(customers.as_array().map(Vec::len), Some(1), "{customers}");

    // --force rewrites the configuration; the superuser stays.
    let mut args = site.full();
    let at = args.iter().position(|a| *a == "--public-url").unwrap();
    args[at + 1] = "https://pc.kommune.dk";
    args.push("--force");
    let (code, out) = site.setup("borgerpc.toml", &args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rewritten") && out.contains("exists, kept"),
        "{out}"
    );
    let rewritten = borgerpc_admin::config::Config::load(&config).unwrap();
    assert_eq!(
        rewritten.server.public_url.as_deref(),
        Some("https://pc.kommune.dk")
    );
}

#[tokio::test]
async fn bad_input_is_exit_code_2_naming_the_flag() {
    let site = Site::new().await;
    std::fs::write(
        site.path("aeroe.toml"),
        "[server]\nlisten = \"127.0.0.1:18080\"\n",
    )
    .unwrap();
    let db = site.database_url.clone();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--instance", "Ærø"], "--instance"),
        (vec!["--instance=-a"], "--instance"),
        (vec!["--instance", "a_b"], "--instance"),
        (vec!["--database-url", &db], "--public-url"),
        (vec!["--public-url", "borgerpc.kommune.dk"], "--public-url"),
        (
            vec![
                "--public-url",
                "https://x.dk",
                "--listen",
                "127.0.0.1:18080",
            ],
            "aeroe.toml",
        ),
        (
            vec!["--public-url", "https://x.dk", "--listen", "nowhere"],
            "--listen",
        ),
    ];
    for (args, named) in cases {
        let (code, out) = site.setup("koege.toml", &args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(named), "{args:?}: {named} not named: {out}");
        assert!(!site.path("koege.toml").exists(), "{args:?}: written");
    }

    // The password: from BORGERPC_PASSWORD, held to the policy; never echoed.
    let mut args = vec!["--public-url", "https://x.dk", "--database-url", &db];
    args.extend(["--listen", "127.0.0.1:0"]);
    for (password, named) in [
        (None, "BORGERPC_PASSWORD"),
        (Some("hest1234567"), "password"),
    ] {
        let config = site.path("koege.toml").display().to_string();
        let me = current_user();
        let mut all = vec!["setup", "--non-interactive", "--config", &config];
        all.extend(["--system-user", &me]);
        all.extend_from_slice(&args);
        let mut c = site.command(&all);
        match password {
            Some(p) => c.env("BORGERPC_PASSWORD", p),
            None => c.env_remove("BORGERPC_PASSWORD"),
        };
        let out = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(named), "{named}: {text}");
        assert!(!text.contains("hest1234567"), "{text}");
    }
}
