//! The portal's listener against idle, slow and greedy peers, over real sockets: the field
//! trial's 1,100 idle sockets under the usual open-file limit of 1024 (the real binary), bodies
//! bounded per route (agents, operator API, uploads), and a body that stops coming.
//!
//! Deadlines are generous upper bounds for "eventually"; nothing passes or fails on speed.

use crate::common;

use common::Portal;
use serde_json::json;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const EVENTUALLY: Duration = Duration::from_secs(90);

/// Reads one HTTP/1.1 answer: the status and the body.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (u16, String) {
    service_kit::testing::read_answer(s, EVENTUALLY).await
}

/// Sends a POST's headers and `body_start`, declaring `length` bytes, and reads the answer.
async fn post(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
    length: usize,
    body_start: &[u8],
) -> (u16, String) {
    request(addr, "POST", path, auth, length, body_start).await
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    length: usize,
    body_start: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: {length}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    // The server may answer and stop reading before all of it is sent.
    let _ = s.write_all(body_start).await;
    read_answer(&mut s).await
}

fn addr(portal: &Portal) -> SocketAddr {
    portal.running.addr
}

const GIB: usize = 1 << 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_calls_are_bounded_in_size_and_time() {
    let portal = Portal::start_with(|c| {
        c.server.max_body_bytes = 100_000;
        c.server.body_timeout_seconds = 1;
    })
    .await;
    let a = addr(&portal);
    for path in ["/client-api/get_instructions", "/admin-xml/"] {
        // Declared too large: refused on the headers, nothing of it read.
        let (status, body) = post(a, path, None, GIB, b"{").await;
        assert_eq!(status, 413, "{path}: {body}");
        assert!(
            body.contains(
                "larger than the 100000 bytes this endpoint accepts (server.max_body_bytes)"
            ),
            "{path}: {body}"
        );
        // Sent whole, still too large.
        let (status, body) = post(a, path, None, 150_000, &[b' '; 150_000]).await;
        assert_eq!(status, 413, "{path}: {body}");
        // A body that stops coming.
        let (status, body) = post(a, path, None, 1000, b"{\"pc_uid\": ").await;
        assert_eq!(status, 408, "{path}: {body}");
        assert!(
            body.contains("server.body_timeout_seconds"),
            "{path}: {body}"
        );
    }
    // Within the limit, the agent's call is read and answered by the protocol.
    let (status, body) = portal
        .post(
            "get_instructions",
            json!({"pc_uid": "x".repeat(50_000), "client_key": "ab".repeat(32)}),
        )
        .await;
    assert!(status != 413 && status != 408, "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_api_takes_small_bodies_except_uploads_and_authenticates_first() {
    let portal = Portal::start_with(|c| c.server.max_body_bytes = 1_000_000).await;
    let a = addr(&portal);
    let site = portal.site("Kommune", "site-k").await;
    let key = portal
        .store
        .add_api_key(site.id, "test", true)
        .await
        .unwrap();
    let bearer = format!("Bearer {key}");

    // Unauthenticated: refused on the headers, whatever the body would have been.
    for path in [
        "/api/system/jobs",
        "/api/system/pcs/activate",
        "/api/auth/logout",
    ] {
        let (status, body) = post(a, path, Some("Bearer wrong"), GIB, b"{").await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    // The login takes a small document.
    let (status, body) = post(a, "/api/auth/login", None, GIB, b"{").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("65536 bytes"), "{body}");
    let big_login = json!({"username": "u", "password": "p".repeat(100_000)}).to_string();
    let (status, body) = post(
        a,
        "/api/auth/login",
        None,
        big_login.len(),
        big_login.as_bytes(),
    )
    .await;
    assert_eq!(status, 413, "{body}");

    // A script's file parameter may be as large as server.max_body_bytes...
    let upload = json!({
        "script_id": 999_999,
        "pcs": [],
        "parameters": [{"name": "f.bin", "content_base64": "A".repeat(500_000)}],
    })
    .to_string();
    let (status, body) = post(
        a,
        "/api/system/jobs",
        Some(&bearer),
        upload.len(),
        upload.as_bytes(),
    )
    .await;
    assert_eq!(status, 422, "read, then refused for what it says: {body}");
    // ...and no larger.
    let (status, body) = post(a, "/api/system/jobs", Some(&bearer), 2_000_000, b"{").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("server.max_body_bytes"), "{body}");
    // Other writes take small documents.
    let (status, body) = request(
        a,
        "PATCH",
        "/api/system/event/1",
        Some(&bearer),
        100_000,
        b"{",
    )
    .await;
    assert_eq!(status, 413, "{body}");
}

/// Kills the child process it holds when dropped (the test started it).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The field trial's failure: 1,100 idle sockets against a portal that may open 1024 files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_do_not_take_the_portal_down() {
    let dir = tempfile::tempdir().unwrap();
    let db = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = dir.path().join("borgerpc.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmax_connections = 500\n\n[database]\nurl = \"{db}\"\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" serve -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_borgerpc-admin"))
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Child(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("borgerpc-admin listens on http://") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let listen: SocketAddr = rx
        .recv_timeout(EVENTUALLY)
        .expect("the portal did not start")
        .parse()
        .unwrap();

    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(listen).await.unwrap());
    }
    let r = reqwest::Client::new()
        .get(format!("http://{listen}/healthz"))
        .timeout(EVENTUALLY)
        .send()
        .await
        .expect("the portal no longer answers");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    drop(child);
}
