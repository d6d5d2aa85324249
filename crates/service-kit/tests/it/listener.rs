//! The listener against slow, idle and greedy peers, over real sockets: idle connections
//! cannot lock out a real request, every kind of stalled connection is closed after its
//! timeout, and bodies are bounded in size and time.
//!
//! Deadlines here are generous upper bounds for "eventually"; no test passes or fails on how
//! fast something happened.

use axum::Router;
use axum::routing::{get, post};
use service_kit::http::{Body, BodyLimit};
use service_kit::listener::{Limits, Served};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough for anything that should happen at all on a loaded CI machine.
const EVENTUALLY: Duration = Duration::from_secs(90);
const BIG_ANSWER: usize = 64 << 20;

fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/echo",
            post(|Body(b): Body| async move { format!("{} bytes", b.len()) }).layer(
                BodyLimit::bytes(1000)
                    .configured_by("test.max_echo")
                    .layer(),
            ),
        )
        .route("/big", get(|| async { vec![b'x'; BIG_ANSWER] }))
}

async fn start(name: &'static str, limits: Limits) -> (Served, tokio::sync::watch::Sender<bool>) {
    // The recorder, before the listener counts anything.
    service_kit::http::metrics_handle();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let served = service_kit::listener::serve(
        name,
        "127.0.0.1:0".parse().unwrap(),
        limits,
        None,
        router(),
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await
    .unwrap();
    (served, stop)
}

fn limits(max_connections: usize, header_secs: u64, body_secs: u64) -> Limits {
    Limits::from_config(max_connections, header_secs, body_secs).unwrap()
}

/// Sends `raw` on a new connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    tokio::time::timeout(EVENTUALLY, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("no answer")
}

async fn healthz(addr: SocketAddr) -> String {
    exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await
}

/// Waits until the server closes `s` (end of stream or reset), reading whatever comes first.
async fn closed_by_server(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(EVENTUALLY, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: still open"));
    got
}

/// Open connections of a listener, from the process's metrics.
fn open_connections(name: &str) -> f64 {
    let text = service_kit::http::metrics_handle().render();
    let line = format!("http_connections{{listener=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A peer that sends header bytes forever, one every 100 ms, and never ends the headers.
fn drip(mut s: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if s.write_all(b"GET /healthz HTTP/1.1\r\n").await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(b"X").await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test]
async fn idle_and_slow_connections_do_not_lock_out_a_real_request() {
    // Timeouts far longer than the test: only making room lets the request in.
    let (served, _stop) = start("lockout", limits(100, 600, 600)).await;
    let mut idle = Vec::new();
    for i in 0..1200 {
        let mut s = TcpStream::connect(served.addr).await.unwrap();
        // Half a request line; the server may already have closed older ones to make room.
        let half: &[u8] = if i % 2 == 0 { b"GET /hea" } else { b"" };
        let _ = s.write_all(half).await;
        idle.push(s);
    }
    let mut drippers = Vec::new();
    for _ in 0..20 {
        let (r, w) = TcpStream::connect(served.addr).await.unwrap().into_split();
        drippers.push((r, drip(w)));
    }
    let answer = healthz(served.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(
        open_connections("lockout") <= 100.0,
        "more connections open than the limit: {}",
        open_connections("lockout")
    );
    for (_, d) in drippers {
        d.abort();
    }
}

#[tokio::test]
async fn stalled_and_idle_connections_are_closed_after_the_header_timeout() {
    let (served, _stop) = start("timeouts", limits(1000, 1, 1)).await;
    let mut silent = Vec::new();
    let mut half_line = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(served.addr).await.unwrap());
        let mut s = TcpStream::connect(served.addr).await.unwrap();
        s.write_all(b"GET /heal").await.unwrap();
        half_line.push(s);
    }
    let mut drippers = Vec::new();
    for _ in 0..20 {
        let (r, w) = TcpStream::connect(served.addr).await.unwrap().into_split();
        drippers.push((r, drip(w)));
    }
    // A kept-alive connection after a complete exchange.
    let mut kept = TcpStream::connect(served.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // Still answering while they are open.
    assert!(healthz(served.addr).await.starts_with("HTTP/1.1 200"));

    for s in silent.iter_mut() {
        closed_by_server(s, "a connection that never sent a byte").await;
    }
    for s in half_line.iter_mut() {
        closed_by_server(s, "half a request line").await;
    }
    for (r, d) in drippers.iter_mut() {
        let mut buf = Vec::new();
        tokio::time::timeout(EVENTUALLY, r.read_to_end(&mut buf))
            .await
            .expect("headers dripping in forever: still open")
            .ok();
        d.abort();
    }
    closed_by_server(&mut kept, "an idle keep-alive connection").await;
    assert!(healthz(served.addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408() {
    let (served, _stop) = start("slow-body", limits(100, 600, 1)).await;
    let mut s = TcpStream::connect(served.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = closed_by_server(&mut s, "a body that stopped coming").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("body: not received within 1 seconds (server.body_timeout_seconds)"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_answer_the_client_does_not_take_ends_the_connection() {
    let (served, _stop) = start("stalled-reader", limits(100, 600, 1)).await;
    let mut s = TcpStream::connect(served.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // Not reading: the socket buffers fill and the server's writes stall.
    let until = |open: f64, what: &'static str| async move {
        tokio::time::timeout(EVENTUALLY, async {
            while open_connections("stalled-reader") != open {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect(what)
    };
    until(1.0, "the connection is not counted").await;
    until(0.0, "a connection whose answer is not taken stays open").await;
    let got = closed_by_server(&mut s, "a stalled answer").await;
    assert!(got.len() < BIG_ANSWER, "the whole answer arrived");
}

#[tokio::test]
async fn a_body_over_the_route_limit_is_413_without_being_read() {
    let (served, _stop) = start("limits", limits(100, 600, 600)).await;
    // Declared too large: refused on the headers alone (no body byte is ever sent).
    let answer = exchange(
        served.addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1000000000\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("body: larger than the 1000 bytes this endpoint accepts (test.max_echo)"),
        "{answer}"
    );
    // Chunked: refused once it passes the limit.
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"190\r\n");
        chunked.extend_from_slice(&[b'a'; 400]);
        chunked.extend_from_slice(b"\r\n");
    }
    let answer = exchange(served.addr, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Within the limit: read whole, in one piece or many.
    let mut ok = b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..2 {
        ok.extend_from_slice(b"190\r\n");
        ok.extend_from_slice(&[b'a'; 400]);
        ok.extend_from_slice(b"\r\n");
    }
    ok.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(served.addr, &ok).await;
    assert!(answer.ends_with("800 bytes"), "{answer}");
}

#[tokio::test]
async fn a_client_still_sending_a_refused_body_reads_the_refusal() {
    let (served, _stop) = start("linger", limits(100, 600, 600)).await;
    let mut s = TcpStream::connect(served.addr).await.unwrap();
    let size = 20 << 20;
    s.write_all(
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    // Like a simple client, it sends the whole body before it reads the answer.
    s.write_all(&vec![b'a'; size])
        .await
        .expect("the server reset the connection while the body was coming");
    let answer = closed_by_server(&mut s, "a refused body").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes() {
    let (served, stop) = start("shutdown", limits(100, 600, 600)).await;
    let mut idle = TcpStream::connect(served.addr).await.unwrap();
    idle.write_all(b"GET /hea").await.unwrap();
    assert!(healthz(served.addr).await.starts_with("HTTP/1.1 200"));
    stop.send_replace(true);
    closed_by_server(&mut idle, "an idle connection at shutdown").await;
    tokio::time::timeout(EVENTUALLY, served.task)
        .await
        .expect("the listener did not finish")
        .unwrap()
        .unwrap();
}

#[test]
fn limits_name_the_key_they_refuse() {
    let e = Limits::from_config(0, 30, 60).unwrap_err();
    assert!(e.starts_with("server.max_connections:"), "{e}");
    let e = Limits::from_config(10, 0, 60).unwrap_err();
    assert!(e.starts_with("server.header_timeout_seconds:"), "{e}");
    let e = Limits::from_config(10, 30, 100_000).unwrap_err();
    assert!(e.starts_with("server.body_timeout_seconds:"), "{e}");
}
