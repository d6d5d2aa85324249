//! Logging in, against the real `borgerpc-admin` binary: `serve` in a process of its own, and
//! the CLI an operator uses to create users, set passwords, approve PCs' keys and require
//! registration tokens.
//!
//! 300 wrong logins at once once took the portal to 8.7 GB and stalled `/healthz`: here they
//! meet a bounded password checker (its peak is read from `/metrics`, the process's peak
//! memory from `/proc`), `/healthz` answers meanwhile, failures earn waits per address and per
//! user name (not where the user logged in before), an unknown user costs an Argon2 check as a
//! real one does, and the log names failed logins but never a password.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

const ADMIN_PASSWORD: &str = "grøn kaffe på rådhuset";

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_borgerpc-admin")
}

/// Runs a CLI command with `stdin` as its input; (exit code, stdout, stderr).
async fn cli(config: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(binary())
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("BORGERPC_PASSWORD")
        .env("USER", "it-drift")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Server {
    child: tokio::process::Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    async fn start(config: &Path) -> Server {
        let mut child = tokio::process::Command::new(binary())
            .arg("-c")
            .arg(config)
            .arg("serve")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("borgerpc-admin listens on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&without_colours(&line));
                log.push('\n');
            }
        });
        let url = tokio::time::timeout(std::time::Duration::from_secs(120), rx)
            .await
            .expect("the server starts")
            .expect("the server says where it listens");
        Server { child, url, log }
    }

    /// A metric's value from `/metrics` (0 when it has not been recorded yet).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(' ')?;
                (n == name).then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0.0)
    }

    /// The process's peak resident memory (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap()
    }
}

/// A log line without its terminal colour codes (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn login(url: &str, from: &str, username: &str, password: &str) -> (u16, Value, bool) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/auth/login"))
        .header("X-Forwarded-For", from)
        .json(&json!({"username": username, "password": password}))
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    (status, r.json().await.unwrap_or(Value::Null), retry_after)
}

async fn setup() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = dir.path().join("borgerpc.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n\
             [database]\nurl = \"{db}\"\n"
        ),
    )
    .unwrap();
    (dir, config, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_passwords_are_refused_by_every_command_that_sets_one() {
    let (_dir, config, _) = setup().await;
    for (password, why) in [
        ("kort", "at least 10 characters"),
        ("              ", "only spaces"),
        ("password123", "too easy to guess"),
        ("Sommer2024!", "too easy to guess"),
        ("admin-admin-admin", "too easy to guess"),
    ] {
        let (code, _, err) = cli(
            &config,
            &["createsuperuser", "--username", "admin"],
            &format!("{password}\n"),
        )
        .await;
        assert_eq!(code, 1, "{password:?}: {err}");
        assert!(
            err.contains("password: ") && err.contains(why),
            "{password:?}: {err}"
        );
    }
    let (code, _, err) = cli(
        &config,
        &["createsuperuser", "--username", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&config, &["customer", "add", "K"], "").await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &config,
        &[
            "site",
            "add",
            "--customer",
            "K",
            "--uid",
            "s",
            "--name",
            "S",
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let user_add = [
        "user",
        "add",
        "--username",
        "jens",
        "--role",
        "site_user",
        "--site",
        "s",
    ];
    let (code, _, err) = cli(&config, &user_add, "jens123456\n").await;
    assert_eq!(code, 1);
    assert!(
        err.contains("too easy to guess"),
        "the user's own name: {err}"
    );
    let (code, _, err) = cli(&config, &user_add, "tre blå cykler i regnvejr\n").await;
    assert_eq!(code, 0, "{err}");
    let change = ["user", "password", "--username", "jens"];
    let (code, _, err) = cli(&config, &change, "qwertyuiop\n").await;
    assert!(code == 1 && err.contains("too easy to guess"), "{err}");
    let (code, _, err) = cli(&config, &change, "fire nye cykler i solskin\n").await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &config,
        &["user", "password", "--username", "nobody"],
        "fire nye cykler i solskin\n",
    )
    .await;
    assert!(code == 1 && err.contains("--username: no user"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_is_bounded_throttled_logged_and_healthz_answers() {
    let (_dir, config, _) = setup().await;
    let (code, _, err) = cli(
        &config,
        &["createsuperuser", "--username", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let server = Server::start(&config).await;
    let url = server.url.clone();
    // The admin's usual desk.
    let (s, _, _) = login(&url, "192.0.2.10", "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, 200);

    // Unknown names cost a check too, with the same answer as a wrong password.
    let before = server.metric("password_checks_total").await;
    for i in 0..3 {
        let (s, body, _) = login(&url, "192.0.2.50", &format!("ghost{i}"), "whatever-it-is").await;
        assert_eq!(
            (s, body["detail"].as_str()),
            (401, Some("wrong username or password"))
        );
    }
    let (s, body, _) = login(&url, "192.0.2.50", "admin", "whatever-it-is").await;
    assert_eq!(
        (s, body["detail"].as_str()),
        (401, Some("wrong username or password"))
    );
    assert_eq!(server.metric("password_checks_total").await, before + 4.0);
    let before_storm = before + 4.0;

    // 300 wrong logins at once, from 300 addresses, half of them for names that do not exist.
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        let url = url.clone();
        storm.spawn(async move {
            let from = format!("198.51.{}.{}", 100 + i / 250, i % 250 + 1);
            let name = if i % 2 == 0 {
                "admin".to_owned()
            } else {
                format!("nobody-{i}")
            };
            login(&url, &from, &name, &format!("storm-secret-{i}")).await
        });
    }
    // Meanwhile the process answers its health check.
    for _ in 0..5 {
        let r = reqwest::Client::new()
            .get(format!("{url}/healthz"))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .expect("/healthz answers during the storm");
        assert_eq!(r.status(), 200);
    }
    let (mut unauthorized, mut busy, mut throttled) = (0u32, 0u32, 0u32);
    while let Some(r) = storm.join_next().await {
        let (status, body, retry_after) = r.unwrap();
        match status {
            401 => unauthorized += 1,
            503 => {
                assert!(retry_after, "503 says when to come back");
                busy += 1;
            }
            429 => throttled += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    eprintln!(
        "storm: {unauthorized} checked (401), {busy} busy (503), {throttled} waiting (429); \
         peak {} checks at once, peak RSS {:.0} MiB",
        server.metric("password_checks_peak").await,
        server.peak_rss_mib()
    );
    assert!(busy > 0, "over the bound, logins are turned away at once");
    let peak = server.metric("password_checks_peak").await;
    assert!(
        (1.0..=4.0).contains(&peak),
        "at most 4 checks at once, saw {peak}"
    );
    assert!(
        server.peak_rss_mib() < 200.0,
        "memory stays bounded: {} MiB",
        server.peak_rss_mib()
    );
    // Every 401 (wrong password or no such user) cost one Argon2 check, and only those did.
    let checks = server.metric("password_checks_total").await;
    assert_eq!(
        checks,
        before_storm + f64::from(unauthorized),
        "one check per 401"
    );
    assert_eq!(
        server.metric("password_checks_refused_total").await,
        f64::from(busy)
    );

    // One address guessing: after its free failures it waits, and is not even checked.
    let mut waited = false;
    for _ in 0..30 {
        let (s, _, retry_after) = login(&url, "203.0.113.66", "someone", "guess-guess-guess").await;
        if s == 429 {
            assert!(retry_after);
            waited = true;
            break;
        }
        assert_eq!(s, 401);
    }
    assert!(waited, "the guessing address is made to wait");
    let checks = server.metric("password_checks_total").await;
    let (s, _, _) = login(&url, "203.0.113.66", "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, 429, "even the right password waits from there");
    assert_eq!(
        server.metric("password_checks_total").await,
        checks,
        "no check while waiting"
    );

    // The storm's failures for "admin" make the name wait elsewhere, not at the admin's desk.
    let (s, _, _) = login(&url, "203.0.113.77", "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        s, 429,
        "the name waits at a new address ({throttled} throttled in the storm)"
    );
    let (s, body, _) = login(&url, "192.0.2.10", "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, 200, "the admin still gets in from their desk: {body}");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("bps_"))
    );

    let log = server.log.lock().unwrap().clone();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("login failed")).collect();
    assert!(
        failed.len() as u32 >= unauthorized,
        "{} failed logins logged",
        failed.len()
    );
    assert!(
        failed.iter().any(|l| l.contains("username=\"admin\"")
            && l.contains("source=198.51.")
            && l.contains("wrong password")),
        "{log}"
    );
    assert!(failed.iter().any(|l| l.contains("no such user")), "{log}");
    assert!(log.contains("logins from this address wait"), "{log}");
    assert!(
        !log.contains("storm-secret")
            && !log.contains(ADMIN_PASSWORD)
            && !log.contains("guess-guess")
            && !log.contains("whatever-it-is"),
        "no password in the log"
    );
}

async fn agent_call(url: &str, endpoint: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/client-api/{endpoint}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_requires_a_registration_token_and_approves_a_key_from_the_cli() {
    use sha2::Digest as _;
    let (_dir, config, db) = setup().await;
    for args in [
        &["customer", "add", "K"][..],
        &[
            "site",
            "add",
            "--customer",
            "K",
            "--uid",
            "s",
            "--name",
            "S",
        ],
        &["site", "legacy", "s", "--enabled", "true"],
    ] {
        let (code, _, err) = cli(&config, args, "").await;
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, typed, err) = cli(&config, &["site", "registration-token", "s"], "").await;
    assert_eq!(code, 0, "{err}");
    let typed = typed.trim().to_owned();
    assert!(typed.starts_with("s+") && typed.len() == 18, "{typed}");
    let server = Server::start(&config).await;
    let register = |site: String| {
        agent_call(
            &server.url,
            "register_new_computer",
            json!({"mac": "02:00:00:00:70:01", "name": "gammel", "site": site, "configuration": {}}),
        )
    };
    let (s, msg) = register("s".into()).await;
    assert_eq!(s, 400, "{msg}");
    // A PC without a key (a 2.x agent's way), on a site that allows it.
    let (s, uid) = register(typed.clone()).await;
    assert_eq!(s, 200, "{uid}");
    let uid = uid.as_str().unwrap().to_owned();
    let (code, _, err) = cli(&config, &["pc", "activate", "--site", "s", &uid], "").await;
    assert_eq!(code, 0, "{err}");

    // It offers a key: refused, kept as pending, shown in `pc list`.
    let key = "5e".repeat(32);
    let fingerprint = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let instructions = json!({"pc_uid": uid, "jobs_received_check": true, "client_key": key});
    let (s, _) = agent_call(&server.url, "get_instructions", instructions.clone()).await;
    assert_eq!(s, 400);
    let (code, list, err) = cli(&config, &["pc", "list", "--site", "s"], "").await;
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["client_key"], "pending");
    assert_eq!(list[0]["pending_key_fingerprint"], &fingerprint[..16]);
    let approve = |fp: String| {
        let (config, uid) = (config.clone(), uid.clone());
        async move {
            cli(
                &config,
                &[
                    "pc",
                    "approve-key",
                    "--site",
                    "s",
                    &uid,
                    "--fingerprint",
                    &fp,
                ],
                "",
            )
            .await
        }
    };
    let (code, _, err) = approve("0123456789ab".into()).await;
    assert!(code == 1 && err.contains(&fingerprint[..16]), "{err}");
    let (code, _, err) = approve(fingerprint[..10].to_owned()).await;
    assert_eq!(code, 0, "{err}");
    let (s, body) = agent_call(&server.url, "get_instructions", instructions).await;
    assert_eq!(s, 200, "served with its approved key: {body}");

    let store = borgerpc_admin::store::Store::open(&db, 2).await.unwrap();
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit_log ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for action in ["site.registration_token", "pc.approve_key"] {
        assert!(
            audit.contains(&("cli:it-drift".to_owned(), action.to_owned())),
            "{action}: {audit:?}"
        );
    }
}
