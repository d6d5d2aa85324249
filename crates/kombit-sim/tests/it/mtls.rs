//! Mutual TLS end to end: the generated PKI, the HTTPS listener and the client identities, with
//! real handshakes on 127.0.0.1 and real third-party clients (curl, openssl) where it matters,
//! because the Fordeler and operators will use exactly those files with exactly those tools.

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use kombit_sim::pki::{self, PkiFiles};
use kombit_sim::server::{ServerHandle, serve_http, serve_https};
use kombit_sim::tls::{self, PeerCerts};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

fn new_pki() -> (TempDir, PkiFiles) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = pki::generate(&dir.path().join("pki")).expect("generate PKI");
    (dir, files)
}

async fn echo(Extension(peer): Extension<PeerCerts>) -> String {
    peer.leaf_subject()
        .unwrap_or_else(|| "no client certificate".into())
}

/// The peer's port: the same port for every request means one kept-alive connection.
async fn peer_port(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.port().to_string()
}

fn router() -> Router {
    Router::new()
        .route("/", get(echo))
        .route("/peer", get(peer_port))
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start(files: &PkiFiles, require_client_cert: bool) -> ServerHandle {
    tls::install_crypto_provider();
    let config = tls::server_config(
        &files.ca_pem,
        &files.server_pem,
        &files.server_key,
        require_client_cert,
    )
    .expect("server config");
    serve_https(any_port(), config, router())
        .await
        .expect("serve")
}

fn url(server: &ServerHandle) -> String {
    format!("https://127.0.0.1:{}/", server.local_addr().port())
}

fn p12_client(ca: &Path, p12: &Path, pass_file: &Path) -> reqwest::Client {
    let passphrase = pki::read_passphrase(pass_file).expect("passphrase");
    let (chain, key) = tls::identity_from_p12_file(p12, &passphrase).expect("p12");
    let config = tls::client_config_with_identity(ca, chain, key).expect("client config");
    tls::reqwest_client_from_config(config).expect("client")
}

async fn run(program: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"))
}

#[tokio::test]
async fn p12_identity_is_accepted_and_its_subject_reaches_the_handler() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let client = p12_client(&files.ca_pem, &files.anvender_p12, &files.anvender_p12_pass);
    for _ in 0..20 {
        let resp = client.get(url(&server)).send().await.expect("request");
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.expect("body");
        assert!(
            body.contains("serialNumber=CVR:29189846-FID:12345678"),
            "{body}"
        );
        assert_eq!(body, pki::ANVENDER_SUBJECT);
    }
    let mut ports = std::collections::HashSet::new();
    for _ in 0..5 {
        let port = client
            .get(format!("{}peer", url(&server)))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        ports.insert(port);
    }
    assert_eq!(
        ports.len(),
        1,
        "keep-alive: one connection for all requests"
    );
}

#[tokio::test]
async fn platform_identity_from_pem_works_for_callbacks() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let client = tls::reqwest_client(&files.ca_pem, &files.platform_pem, &files.platform_key)
        .expect("client");
    let body = client
        .get(url(&server))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(body.contains("CN=Serviceplatformen (kombit-sim)"), "{body}");
}

#[tokio::test]
async fn curl_with_pem_identity_gets_200() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--max-time",
            "10",
            "--cert",
            &files.anvender_pem.to_string_lossy(),
            "--key",
            &files.anvender_key.to_string_lossy(),
            "--cacert",
            &files.ca_pem.to_string_lossy(),
            &url(&server),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CVR:29189846"), "{stdout}");
}

#[tokio::test]
async fn curl_without_client_certificate_is_refused() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            &files.ca_pem.to_string_lossy(),
            &url(&server),
        ],
    )
    .await;
    assert!(
        !out.status.success(),
        "must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "no response body may leak");

    // The server is unharmed and still serves a proper client.
    let client = tls::reqwest_client(&files.ca_pem, &files.anvender_pem, &files.anvender_key)
        .expect("client");
    assert_eq!(
        client
            .get(url(&server))
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_is_refused() {
    let (_dir, files) = new_pki();
    let (_other_dir, stranger) = new_pki();
    let server = start(&files, true).await;
    // Trusts the right server CA, but presents a certificate issued by a foreign CA.
    let passphrase = pki::read_passphrase(&stranger.anvender_p12_pass).expect("pass");
    let (chain, key) =
        tls::identity_from_p12_file(&stranger.anvender_p12, &passphrase).expect("p12");
    let config = tls::client_config_with_identity(&files.ca_pem, chain, key).expect("config");
    let client = tls::reqwest_client_from_config(config).expect("client");
    let err = client
        .get(url(&server))
        .send()
        .await
        .expect_err("must be refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn optional_client_certificate_yields_empty_peer_certs() {
    let (_dir, files) = new_pki();
    let server = start(&files, false).await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(&files.ca_pem).expect("ca"),
        )
        .expect("ca pem")])
        .build()
        .expect("client");
    let body = client
        .get(url(&server))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "no client certificate");
}

#[tokio::test]
async fn openssl_reads_the_p12_with_the_passphrase_file() {
    let (_dir, files) = new_pki();
    let p12 = files.anvender_p12.to_string_lossy().into_owned();
    let pass = format!("file:{}", files.anvender_p12_pass.display());
    let out = run(
        "openssl",
        &["pkcs12", "-in", &p12, "-passin", &pass, "-nokeys"],
    )
    .await;
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf + CA: {text}"
    );
    assert!(text.contains("CVR:29189846-FID:12345678"), "{text}");

    // The key is in there too, and it is the one in anvender.key.
    let out = run(
        "openssl",
        &[
            "pkcs12", "-in", &p12, "-passin", &pass, "-nocerts", "-nodes",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_p12 = tls::load_key_pem(&out.stdout).expect("key from openssl");
    let from_pem = tls::load_key(&files.anvender_key).expect("anvender.key");
    assert_eq!(from_p12.secret_der(), from_pem.secret_der());

    let out = run(
        "openssl",
        &["pkcs12", "-in", &p12, "-passin", "pass:wrong", "-nokeys"],
    )
    .await;
    assert!(!out.status.success(), "a wrong passphrase must fail");
}

#[test]
fn ssh_keys_load_with_russh() {
    let (_dir, files) = new_pki();
    let host = russh::keys::load_secret_key(&files.ssh_host_key, None).expect("host key");
    assert_eq!(host.algorithm(), russh::keys::Algorithm::Ed25519);
    let user = russh::keys::load_secret_key(&files.anvender_ssh_key, None).expect("user key");
    let public = russh::keys::load_public_key(&files.anvender_ssh_pub).expect("public key");
    assert_eq!(user.public_key().key_data(), public.key_data());
    assert_ne!(host.public_key().key_data(), public.key_data());
}

#[tokio::test]
async fn plain_http_and_shutdown() {
    let server = serve_http(any_port(), Router::new().route("/", get(|| async { "ok" })))
        .await
        .expect("serve");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let body = reqwest::get(format!("http://{addr}/"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "ok");
    server.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish() {
    // The handler says when it has the request, so the shutdown starts mid-request.
    let reached = std::sync::Arc::new(tokio::sync::Notify::new());
    let in_handler = reached.clone();
    let slow = Router::new().route(
        "/",
        get(move || async move {
            in_handler.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let server = serve_http(any_port(), slow).await.expect("serve");
    let addr = server.local_addr();
    let request =
        tokio::spawn(async move { reqwest::get(format!("http://{addr}/")).await?.text().await });
    reached.notified().await;
    server.shutdown().await;
    let body = request
        .await
        .expect("task")
        .expect("request completes during graceful shutdown");
    assert_eq!(body, "done");
}

#[tokio::test]
async fn dropping_the_handle_stops_the_listener() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let addr = server.local_addr();
    drop(server);
    // Abort is asynchronous; give the runtime a moment to drop the listener.
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("listener still accepting after drop");
}

/// Rough keep-alive throughput check; run with
/// `cargo test --release -p kombit-sim --test mtls -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn keepalive_throughput() {
    let (_dir, files) = new_pki();
    let server = start(&files, true).await;
    let client = tls::reqwest_client(&files.ca_pem, &files.anvender_pem, &files.anvender_key)
        .expect("client");
    let url = url(&server);
    let total = 20_000;
    let workers = 16;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / workers {
                let resp = client.get(&url).send().await.expect("request");
                assert_eq!(resp.status(), 200);
                resp.bytes().await.expect("body");
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} requests in {secs:.2} s = {:.0} req/s over {workers} clients",
        total as f64 / secs,
    );
}
