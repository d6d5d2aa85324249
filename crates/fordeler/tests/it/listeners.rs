//! The Fordeler's two listeners against hostile and slow peers, over real sockets: a wrong
//! token is refused before any of the body is read, bodies are bounded per route, and slow or
//! idle connections on intake and on the receipt endpoint (TLS) are closed after their
//! timeouts while the service keeps answering.
//!
//! Deadlines are generous upper bounds for "eventually"; nothing passes or fails on speed.

use crate::common;

use common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const EVENTUALLY: Duration = Duration::from_secs(90);
const FORM: &str = "os2forms_fdk_kp_sp241";

/// Reads one HTTP/1.1 answer: the status and the body.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (u16, String) {
    service_kit::testing::read_answer(s, EVENTUALLY).await
}

/// Sends a POST's headers declaring a 1 GiB body and its first few bytes, then reads the
/// answer: only a server that decides on the headers answers at all.
async fn post_declaring_1_gib(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{{\"data\": "
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    read_answer(&mut s).await
}

/// Sends a whole POST with a JSON body of about `size` bytes.
async fn post_sized(addr: SocketAddr, path: &str, auth: &str, size: usize) -> (u16, String) {
    let body = json!({"by": "x".repeat(size)}).to_string();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and stop reading before all of it is sent.
    let _ = s.write_all(body.as_bytes()).await;
    read_answer(&mut s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_refused_before_the_body_is_read() {
    let env = start_with(vec![], |c| {
        c.forms[0].ping_token = c.forms[0].remote_post_token.clone();
    })
    .await;
    let addr = env.fordeler.http_addr;
    let remote_post = format!("/intake/{FORM}/remote-post");
    for (path, auth) in [
        (remote_post.as_str(), Some("Bearer wrong-token-0123456789")),
        (remote_post.as_str(), None),
        ("/intake/ping", Some("Token wrong-token-0123456789")),
        ("/intake/ping", None),
        ("/api/retry", Some("Bearer wrong-token-0123456789")),
        ("/api/deliveries/x/resolve", None),
    ] {
        let (status, body) = post_declaring_1_gib(addr, path, auth).await;
        assert_eq!(status, 401, "{path} {auth:?}: {body}");
        assert!(body.contains("Authorization"), "{path}: {body}");
    }
    let (status, body) = post_declaring_1_gib(
        addr,
        "/intake/no_such_form/remote-post",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("remote_post_token"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_per_route_with_413_naming_the_limit() {
    let env = start_with(vec![], |c| {
        c.server.max_submission_bytes = 300_000;
        c.forms[0].ping_token = c.forms[0].remote_post_token.clone();
    })
    .await;
    let addr = env.fordeler.http_addr;
    let intake = format!("Bearer {TOKEN}");
    let operator = format!("Bearer {API_TOKEN}");

    // Declared too large: refused on the headers, after the token was checked.
    let (status, body) =
        post_declaring_1_gib(addr, &format!("/intake/{FORM}/remote-post"), Some(&intake)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains(
            "larger than the 300000 bytes this endpoint accepts (server.max_submission_bytes)"
        ),
        "{body}"
    );
    let (status, body) = post_sized(
        addr,
        &format!("/intake/{FORM}/remote-post"),
        &intake,
        400_000,
    )
    .await;
    assert_eq!(status, 413, "{body}");

    // Under the limit, a submission with files goes through.
    let uuid = sf2900::Uuid::new_v4().to_string();
    let submission = json!({
        "uuid": uuid, "serial": "1", "completed": "1778586315", "in_draft": "0",
        "_kvittering": {"name": "kvittering.pdf", "mime": "application/pdf", "data": pdf(100_000)},
        "_dokumenter_bilag": [{"name": "bilag.pdf", "mime": "application/pdf", "data": pdf(100_000)}],
    });
    assert_eq!(env.post(FORM, &submission).await.0, 202);

    // Pings and the operator API take small documents.
    let (status, body) = post_sized(addr, "/intake/ping", &format!("Token {TOKEN}"), 100_000).await;
    assert_eq!(status, 413, "{body}");
    let (status, body) = post_sized(addr, "/api/retry", &operator, 100_000).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("65536 bytes"), "{body}");
    let (status, body) = post_sized(addr, "/api/retry", &operator, 1_000).await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until the server closes `s`.
async fn closed_by_server(s: &mut TcpStream, what: &str) {
    tokio::time::timeout(EVENTUALLY, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: still open"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_peers_are_closed_on_intake_and_on_the_receipt_endpoint() {
    let env = start_with(vec![], |c| {
        c.server.header_timeout_seconds = 1;
        c.server.body_timeout_seconds = 1;
    })
    .await;
    let intake = env.fordeler.http_addr;
    let receipts = env.fordeler.receipts_addr.expect("a receipt endpoint");
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(intake).await.unwrap();
        s.write_all(b"POST /intake/").await.unwrap();
        idle.push((s, "half a request line on intake"));
        let mut s = TcpStream::connect(receipts).await.unwrap();
        if i % 2 == 0 {
            // The first bytes of a TLS record, then nothing.
            s.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
        }
        idle.push((s, "an unfinished TLS handshake"));
    }
    let mut slow_body = TcpStream::connect(intake).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /intake/{FORM}/remote-post HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // The service answers while they are open.
    let r = env
        .http
        .get(format!("{}/healthz", env.base))
        .timeout(EVENTUALLY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (status, body) = read_answer(&mut slow_body).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("server.body_timeout_seconds"), "{body}");
    for (s, what) in idle.iter_mut() {
        closed_by_server(s, what).await;
    }
    // A new connection: with a 1 s idle timeout, a pooled one may be closed just as it is
    // reused (the race every keep-alive client has with a server's idle timeout).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let status: serde_json::Value = fresh
        .get(format!("{}/api/status", env.base))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["forms"], json!({}));
}
