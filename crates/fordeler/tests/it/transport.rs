//! The Fordeler's transport clients against real peers on 127.0.0.1: the SOAP client and the
//! SFTP pool against kombit-sim (a real mTLS + SSH Serviceplatformen), the SFTP pool against a
//! real OpenSSH sshd, PKCS#12 files made by `openssl`, and XSD validation with the official KP
//! schema from `../shared/kombit` (missing schemas fail the tests).

use fordeler::transport::ErrorClass;
use fordeler::transport::identity::{ClientIdentity, IdentityError, TrustRoots};
use fordeler::transport::sftp::{SftpError, SftpPool, SftpSettings, SftpTarget};
use fordeler::transport::soap::{CallError, SoapClient, SoapSettings, TransportKind};
use fordeler::xsd::XsdValidator;
use kombit_sim::config::{DEMO_SFTP_USER, SimConfig};
use kombit_sim::faults::{Action, FaultRule, Hook};
use kombit_sim::journal::Event;
use kombit_sim::pki::PkiFiles;
use kombit_sim::run::RunningSim;
use sf2900::soap::{FaultCode, FaultDetail};
use sf2900::{ForretningsValideringsKode, examples as ex};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------

fn kombit_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kombit");
    assert!(
        dir.join("kp/SP241.xsd").is_file(),
        "official KOMBIT schemas missing at {}",
        dir.display()
    );
    dir
}

struct Sim {
    dir: tempfile::TempDir,
    pki: PkiFiles,
    sim: RunningSim,
}

impl Sim {
    async fn start(faults: Vec<FaultRule>) -> Sim {
        kombit_sim::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = kombit_sim::pki::generate(&dir.path().join("pki")).expect("test PKI");
        let mut config = SimConfig::default_for_pki(pki.dir.clone());
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        config.soap.listen = any;
        config.sftp.listen = any;
        config.inspect_listen = any;
        config.sftp.root = Some(dir.path().join("sftp-root"));
        config.receipts.url = None;
        config.faults = faults;
        let sim = kombit_sim::run::start(config)
            .await
            .expect("start kombit-sim");
        Sim { dir, pki, sim }
    }

    fn identity(&self) -> ClientIdentity {
        ClientIdentity::from_pkcs12_file(&self.pki.anvender_p12, &self.pki.passphrase)
            .expect("anvender.p12 loads")
    }

    fn roots(&self) -> TrustRoots {
        TrustRoots::from_pem_file(&self.pki.ca_pem).expect("CA")
    }

    fn soap(&self, identity: &ClientIdentity) -> SoapClient {
        SoapClient::new(
            &SoapSettings::new(self.sim.soap_url()),
            identity,
            &self.roots(),
        )
        .expect("SOAP client")
    }

    fn fault(&self, on: Hook, action: Action, file: Option<&str>) {
        self.sim.faults.add(FaultRule {
            on,
            action,
            probability: 1.0,
            times: Some(1),
            delay_ms: 0,
            match_kle: None,
            match_file: file.map(Into::into),
            match_transaction: None,
        });
    }

    fn sftp_target(&self, addr: SocketAddr) -> SftpTarget {
        let key = SftpTarget::load_key(&self.pki.anvender_ssh_key, None).expect("SSH key");
        SftpTarget::new("127.0.0.1", addr.port(), DEMO_SFTP_USER, key)
            .with_host_key_fingerprint(ssh_keygen_fingerprint(&self.pki.ssh_host_key))
    }

    fn out_dir(&self) -> PathBuf {
        self.dir
            .path()
            .join("sftp-root")
            .join(DEMO_SFTP_USER)
            .join("OUT")
    }
}

fn afsend(n: usize) -> sf2900::FordelingsobjektAfsendRequest {
    let mut r = ex::afsend_requests().remove(n).1;
    r.anmodning.distribution_context.anvender_transaktions_id = sf2900::Uuid::new_v4();
    r.anmodning.distribution_context.dokument_fil_navn = None;
    r.authority_context = Some(sf2900::AuthorityContext::new(
        sf2900::Cvr::new(ex::CVR).expect("CVR"),
    ));
    r
}

/// The host key fingerprint as OpenSSH prints it, from `ssh-keygen -l` (independent of the
/// code under test).
fn ssh_keygen_fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(key)
        .output()
        .expect("ssh-keygen must be installed (apt install openssh-client)");
    assert!(out.status.success(), "ssh-keygen -l failed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .expect("fingerprint column")
        .to_owned()
}

fn ssh_keygen(dir: &Path, name: &str, kind: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .arg("-q")
        .args(kind)
        .args(["-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {name}");
    path
}

/// A TCP relay that counts connections: an independent witness of session reuse.
async fn counting_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, count)
}

fn trigger_for(file_name: &str, size: usize) -> sf2900::sftp::Trigger {
    let mut t = ex::trigger_full();
    t.file_descriptor.file_name = file_name.into();
    t.file_descriptor.size_in_bytes = size as u64;
    t.file_descriptor.sender = DEMO_SFTP_USER.into();
    t
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn identity_from_the_simulators_pkcs12_and_pem() {
    let env = Sim::start(vec![]).await;
    let id = env.identity();
    assert_eq!(id.subject, kombit_sim::pki::ANVENDER_SUBJECT);
    assert_eq!(id.cvr().as_deref(), Some("29189846"));
    assert_eq!(id.chain.len(), 1, "the self-signed test root is left out");
    assert!(id.not_after > chrono::Utc::now());
    assert!(!format!("{id:?}").contains("PRIVATE"));

    let pem = ClientIdentity::from_pem_files(&env.pki.anvender_pem, &env.pki.anvender_key)
        .expect("PEM identity");
    assert_eq!(pem.fingerprint_sha256, id.fingerprint_sha256);

    let err = ClientIdentity::from_pkcs12_file(&env.pki.anvender_p12, "not the passphrase")
        .expect_err("wrong passphrase");
    assert!(
        matches!(err, IdentityError::WrongPassphrase { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("wrong passphrase"), "{text}");
    assert!(text.contains("anvender.p12"), "{text}");

    // A key that belongs to another certificate.
    let err = ClientIdentity::from_pem_files(&env.pki.anvender_pem, &env.pki.other_key)
        .expect_err("mismatch");
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err}");
    let err = ClientIdentity::from_pkcs12_file(Path::new("/nonexistent/x.p12"), "x")
        .expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/x.p12"), "{err}");
}

/// PKCS#12 files as OpenSSL 3 writes them: the default (AES-256-CBC, PBKDF2, SHA-256 MAC) and
/// `-legacy` (RC2-40 + 3DES, SHA-1 MAC), each with the chain included.
#[tokio::test]
async fn identity_from_openssl_pkcs12_files() {
    let env = Sim::start(vec![]).await;
    let dir = env.dir.path();
    for (name, extra) in [("aes.p12", vec![]), ("legacy.p12", vec!["-legacy"])] {
        let out = dir.join(name);
        let status = Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:hemmeligt æøå"])
            .args(&extra)
            .arg("-in")
            .arg(&env.pki.anvender_pem)
            .arg("-inkey")
            .arg(&env.pki.anvender_key)
            .arg("-out")
            .arg(&out)
            .status()
            .expect("openssl must be installed");
        assert!(status.success(), "openssl pkcs12 {name}");
        let id = ClientIdentity::from_pkcs12_file(&out, "hemmeligt æøå")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.cvr().as_deref(), Some("29189846"), "{name}");
        let err = ClientIdentity::from_pkcs12_file(&out, "forkert").expect_err(name);
        assert!(
            err.to_string().contains("wrong passphrase"),
            "{name}: {err}"
        );
        // And it works on the wire.
        let client = env.soap(&id);
        client.afsend(&afsend(0)).await.expect(name);
    }
}

// ---------------------------------------------------------------------------------------------
// SOAP
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_afsend_list_and_valider_against_the_simulator() {
    let env = Sim::start(vec![]).await;
    let client = env.soap(&env.identity());

    let request = afsend(4);
    let response = client.afsend(&request).await.expect("afsend");
    assert_eq!(
        response.forretnings_kvittering.forretnings_validerings_kode,
        ForretningsValideringsKode::Modtaget
    );
    assert!(
        response
            .distribution_context
            .distribution_transaktions_id
            .is_some()
    );
    // A resend with the same AnvenderTransaktionsID gets the same answer (idempotent).
    let again = client.afsend(&request).await.expect("resend");
    assert_eq!(again.distribution_context, response.distribution_context);

    let list = client.list(&ex::list_request_full()).await.expect("list");
    assert_eq!(list.systemer.system.len(), 1);
    client
        .valider(&ex::valider_request_full())
        .await
        .expect("valider");

    // Many concurrent calls over the keep-alive pool, from spawned tasks (the futures are Send).
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.spawn(async move { client.afsend(&afsend(0)).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("afsend");
    }
    let calls = env
        .sim
        .journal
        .snapshot()
        .iter()
        .filter(
            |e| matches!(&e.event, Event::Call { outcome, .. } if !outcome.starts_with("fault")),
        )
        .count();
    assert_eq!(calls, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_faults_are_classified_for_retry() {
    let env = Sim::start(vec![]).await;
    let client = env.soap(&env.identity());

    // TransportKvittering FEJL with faultcode Server: the platform's trouble, retry.
    env.fault(Hook::Afsend, Action::SoapFault, None);
    let err = client.afsend(&afsend(0)).await.expect_err("injected fault");
    let CallError::Fault(f) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(f.code, FaultCode::Server);
    assert!(matches!(
        f.detail,
        Some(FaultDetail::TransportKvittering(_))
    ));
    assert!(err.retryable(), "{err}");
    assert!(
        err.to_string().contains("TransportKvittering FEJL"),
        "{err}"
    );

    // ServiceplatformFault "temporarily unavailable": retry.
    env.fault(Hook::Afsend, Action::PlatformFault, None);
    let err = client.afsend(&afsend(0)).await.expect_err("platform fault");
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");

    // HTTP 503 without SOAP: retry.
    env.fault(Hook::List, Action::Http503, None);
    let err = client
        .list(&ex::list_request_full())
        .await
        .expect_err("503");
    assert_eq!(err, CallError::Http { status: 503 });
    assert!(err.retryable());

    // TransportKvittering with faultcode Client: our message is wrong, do not retry.
    let mut wrong = afsend(0);
    wrong.anmodning.distribution_context.afsendende_myndighed =
        sf2900::Cvr::new("11111111").expect("CVR");
    let err = client.afsend(&wrong).await.expect_err("afsender mismatch");
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(err.to_string().contains("AFSENDER"), "{err}");

    // No service agreement for the CVR: configuration.
    let mut foreign = afsend(0);
    let cvr = sf2900::Cvr::new("11111111").expect("CVR");
    foreign.authority_context = Some(sf2900::AuthorityContext::new(cvr.clone()));
    foreign.anmodning.distribution_context.afsendende_myndighed = cvr;
    let err = client.afsend(&foreign).await.expect_err("no agreement");
    assert_eq!(err.class(), ErrorClass::Configuration, "{err}");
    assert!(err.to_string().contains("ServiceplatformFault"), "{err}");

    // No AuthorityContext: the platform's security-model fault, configuration.
    let mut none = afsend(0);
    none.authority_context = None;
    let err = client.afsend(&none).await.expect_err("no security model");
    assert_eq!(err.class(), ErrorClass::Configuration, "{err}");

    // AFVIST is an answer, not an error: the caller reads the ForretningsKvittering.
    env.fault(Hook::Afsend, Action::Afvist, None);
    let response = client.afsend(&afsend(0)).await.expect("AFVIST answer");
    assert_eq!(
        response.forretnings_kvittering.forretnings_validerings_kode,
        ForretningsValideringsKode::Afvist
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_unregistered_or_untrusted_certificates_are_configuration_errors() {
    let env = Sim::start(vec![]).await;

    // Right CA, but not registered for any anvender: the platform's ServiceplatformFault.
    let other = ClientIdentity::from_pem_files(&env.pki.other_pem, &env.pki.other_key)
        .expect("other identity");
    let err = env
        .soap(&other)
        .afsend(&afsend(0))
        .await
        .expect_err("unregistered certificate");
    assert_eq!(err.class(), ErrorClass::Configuration, "{err}");
    assert!(!err.retryable());

    // A certificate from a CA the platform does not know: refused in the handshake.
    let dir = env.dir.path();
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["stranger".into()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    std::fs::write(dir.join("stranger.pem"), cert.pem()).expect("write");
    std::fs::write(dir.join("stranger.key"), key.serialize_pem()).expect("write");
    let stranger =
        ClientIdentity::from_pem_files(&dir.join("stranger.pem"), &dir.join("stranger.key"))
            .expect("stranger identity");
    let err = env
        .soap(&stranger)
        .afsend(&afsend(0))
        .await
        .expect_err("unknown CA");
    // In TLS 1.3 the server refuses a client certificate after the client has finished its
    // side of the handshake, so the alert may surface as the refused handshake or, when the
    // request was already on its way, as a connection closed under it. Both are failures.
    match &err {
        CallError::Transport {
            kind: TransportKind::TlsRefused,
            ..
        } => {
            assert_eq!(err.class(), ErrorClass::Configuration);
            assert!(err.to_string().contains("client certificate"), "{err}");
        }
        CallError::Transport {
            kind: TransportKind::Io,
            ..
        } => {}
        other => panic!("{other:?}"),
    }

    // We do not trust the server's certificate.
    let wrong_roots = TrustRoots::from_pem_file(&dir.join("stranger.pem")).expect("roots");
    let client = SoapClient::new(
        &SoapSettings::new(env.sim.soap_url()),
        &env.identity(),
        &wrong_roots,
    )
    .expect("client");
    let err = client.afsend(&afsend(0)).await.expect_err("untrusted");
    assert!(
        matches!(
            err,
            CallError::Transport {
                kind: TransportKind::TlsUntrusted,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Configuration);

    // The system trust store loads (production default).
    SoapClient::new(
        &SoapSettings::new("https://exttest.serviceplatformen.dk/service/SP/Distribution/3"),
        &env.identity(),
        &TrustRoots::Platform,
    )
    .expect("client with the system's roots");

    // Plain http is refused when the client is built.
    assert!(
        SoapClient::new(
            &SoapSettings::new("http://127.0.0.1:1/x"),
            &env.identity(),
            &env.roots()
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_dead_port_and_silent_server_are_retryable() {
    let env = Sim::start(vec![]).await;
    let identity = env.identity();

    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let client = SoapClient::new(
        &SoapSettings::new(format!(
            "https://127.0.0.1:{port}/service/SP/Distribution/3"
        )),
        &identity,
        &env.roots(),
    )
    .expect("client");
    let err = client.afsend(&afsend(0)).await.expect_err("dead port");
    assert!(
        matches!(
            err,
            CallError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.retryable());

    // Accepts TCP, never answers: the call timeout strikes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let mut settings = SoapSettings::new(format!("https://{addr}/service/SP/Distribution/3"));
    settings.connect_timeout = Duration::from_millis(300);
    settings.call_timeout = Duration::from_millis(600);
    let client = SoapClient::new(&settings, &identity, &env.roots()).expect("client");
    let started = Instant::now();
    let err = client.afsend(&afsend(0)).await.expect_err("timeout");
    assert!(
        matches!(
            err,
            CallError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// SFTP against kombit-sim
// ---------------------------------------------------------------------------------------------

async fn wait_receipt(
    pool: &SftpPool,
    target: &SftpTarget,
    file: &str,
) -> sf2900::sftp::TechnicalReceipt {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = pool.read_receipt(target, file).await.expect("read receipt") {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {file}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_upload_trigger_and_receipt_with_one_session() {
    let env = Sim::start(vec![]).await;
    let (proxy, connections) = counting_proxy(env.sim.sftp_addr).await;
    let target = env.sftp_target(proxy);
    let pool = SftpPool::new(SftpSettings::default());

    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let name = "os2forms_fordeler_test_bilag_0.pdf";
    pool.upload_file(&target, name, &data)
        .await
        .expect("upload");
    assert_eq!(
        pool.read_receipt(&target, name)
            .await
            .expect("no receipt yet"),
        None
    );
    pool.upload_trigger(&target, name, &trigger_for(name, data.len()))
        .await
        .expect("trigger");
    let receipt = wait_receipt(&pool, &target, name).await;
    assert!(receipt.is_success(), "{receipt:?}");
    assert_eq!(
        std::fs::read(env.out_dir().join(name)).expect("uploaded file"),
        data
    );

    // Uploading the same file again replaces it (the rename target exists).
    pool.upload_file(&target, name, b"second version")
        .await
        .expect("repeat upload");
    assert_eq!(
        std::fs::read(env.out_dir().join(name)).expect("file"),
        b"second version"
    );

    let listing = pool.ls(&target, "/IN").await.expect("ls");
    assert!(
        listing
            .iter()
            .any(|e| e.name == format!("{name}.sftpreceipt")),
        "{listing:?}"
    );
    pool.remove_receipt(&target, name).await.expect("remove");
    pool.remove_receipt(&target, name)
        .await
        .expect("removing twice is fine");
    assert_eq!(pool.read_receipt(&target, name).await.expect("gone"), None);

    for i in 0..20 {
        pool.upload_file(&target, &format!("reuse_{i}.bin"), &data[..1000])
            .await
            .expect("upload");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one SSH connection");
    assert_eq!(pool.connections_opened(), 1);
    assert!(
        env.sim
            .journal
            .snapshot()
            .iter()
            .any(|e| matches!(&e.event, Event::SftpReceipt { success: true, .. }))
    );
    // No half file was ever visible under the final name: only .part names were written to.
    let partials = std::fs::read_dir(env.out_dir())
        .expect("OUT")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .count();
    assert_eq!(partials, 0, "every .part was renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_concurrent_uploads_stay_within_the_session_limit() {
    let env = Sim::start(vec![]).await;
    let (proxy, connections) = counting_proxy(env.sim.sftp_addr).await;
    let target = env.sftp_target(proxy);
    let pool = SftpPool::new(SftpSettings {
        max_sessions_per_target: 3,
        ..SftpSettings::default()
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (pool, target) = (pool.clone(), target.clone());
        tasks.spawn(async move {
            pool.upload_file(&target, &format!("par_{i}.bin"), &vec![7u8; 50_000])
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("upload");
    }
    let n = connections.load(Ordering::SeqCst);
    assert!((1..=3).contains(&n), "{n} connections");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_reconnects_after_a_dropped_connection() {
    let env = Sim::start(vec![]).await;
    let target = env.sftp_target(env.sim.sftp_addr);
    let pool = SftpPool::new(SftpSettings::default());

    pool.upload_file(&target, "first.bin", b"1")
        .await
        .expect("first");
    // The pooled session dies in the middle of the next upload; the pool retries it once on
    // a fresh session, so the caller sees success.
    env.fault(Hook::SftpUpload, Action::Disconnect, Some("second"));
    pool.upload_file(&target, "second.bin", &vec![2u8; 100_000])
        .await
        .expect("second, after a transparent reconnect");
    assert_eq!(pool.connections_opened(), 2);
    assert_eq!(
        std::fs::read(env.out_dir().join("second.bin")).expect("file"),
        vec![2u8; 100_000]
    );

    // On a fresh session there is no second try: the caller gets a retryable error.
    let fresh = SftpPool::new(SftpSettings::default());
    env.fault(Hook::SftpUpload, Action::Disconnect, Some("third"));
    let err = fresh
        .upload_file(&target, "third.bin", b"3333")
        .await
        .expect_err("dropped");
    assert!(err.retryable(), "{err:?}");
    // The next call reconnects by itself.
    fresh
        .upload_file(&target, "third.bin", b"3333")
        .await
        .expect("third, again");
    assert_eq!(fresh.connections_opened(), 2);

    // A full disk is the server's failure: retryable, and the session stays usable.
    env.fault(Hook::SftpUpload, Action::DiskFull, Some("fourth"));
    let err = fresh
        .upload_file(&target, "fourth.bin", b"4")
        .await
        .expect_err("disk full");
    assert!(err.retryable(), "{err:?}");
    assert!(err.to_string().contains("No space left"), "{err}");
    fresh
        .upload_file(&target, "fourth.bin", b"4")
        .await
        .expect("fourth, again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_refuses_wrong_host_key_and_reports_refused_login() {
    let env = Sim::start(vec![]).await;
    let pool = SftpPool::new(SftpSettings::default());

    let wrong = env
        .sftp_target(env.sim.sftp_addr)
        .with_host_key_fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let err = pool
        .ls(&wrong, "/OUT")
        .await
        .expect_err("host key mismatch");
    assert!(matches!(err, SftpError::HostKeyMismatch { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Configuration);

    // Unpinned: no connection is made; the error, and `host_key`, name the key to pin.
    let real = ssh_keygen_fingerprint(&env.pki.ssh_host_key);
    let mut unpinned = env.sftp_target(env.sim.sftp_addr);
    unpinned.host_key_fingerprint = None;
    let err = pool.ls(&unpinned, "/OUT").await.expect_err("unpinned");
    assert_eq!(
        err,
        SftpError::HostKeyNotPinned {
            target: unpinned.label(),
            presented: real.clone()
        }
    );
    assert_eq!(err.class(), ErrorClass::Configuration);
    assert!(
        err.to_string()
            .contains(&format!("host_key_fingerprint = \"{real}\"")),
        "{err}"
    );
    assert_eq!(pool.seen_host_key(&unpinned), Some(real.clone()));
    assert_eq!(pool.host_key(&unpinned).await.expect("host key"), real);
    assert_eq!(pool.connections_opened(), 0, "no session was opened");

    let stranger = ssh_keygen(env.dir.path(), "stranger", &["-t", "ed25519"]);
    let mut refused = env.sftp_target(env.sim.sftp_addr);
    refused.key = SftpTarget::load_key(&stranger, None).expect("key");
    let err = pool.ls(&refused, "/OUT").await.expect_err("refused key");
    assert!(matches!(err, SftpError::AuthRefused { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Configuration);

    let err = SftpTarget::load_key(Path::new("/nonexistent/key"), None).expect_err("no key");
    assert!(err.to_string().contains("/nonexistent/key"), "{err}");

    // A receipt that is not a TechnicalReceipt is an error that says so.
    let target = env.sftp_target(env.sim.sftp_addr);
    let in_dir = env
        .dir
        .path()
        .join("sftp-root")
        .join(DEMO_SFTP_USER)
        .join("IN");
    std::fs::write(in_dir.join("broken.bin.sftpreceipt"), "<nope/>").expect("write");
    let err = pool
        .read_receipt(&target, "broken.bin")
        .await
        .expect_err("bad receipt");
    assert!(matches!(err, SftpError::BadReceipt { .. }), "{err:?}");
    assert!(err.to_string().contains("not a valid TechnicalReceipt"));

    // Dead port: retryable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    let err = pool
        .ls(&env.sftp_target(addr), "/OUT")
        .await
        .expect_err("dead");
    assert!(err.retryable(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// SFTP against OpenSSH sshd
// ---------------------------------------------------------------------------------------------

struct Sshd {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real sshd on 127.0.0.1 with its own config, keys and authorized_keys, serving only
/// internal-sftp to the current user.
async fn start_sshd(client_pubs: &[PathBuf], dir: tempfile::TempDir) -> Sshd {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.is_file(),
        "OpenSSH sshd missing (apt install openssh-server)"
    );
    // Privilege separation wants this directory when sshd runs as root.
    let _ = std::fs::create_dir_all("/run/sshd");
    let d = dir.path();
    let host_key = ssh_keygen(d, "ssh_host_ed25519_key", &["-t", "ed25519"]);
    let mut authorized = String::new();
    for p in client_pubs {
        authorized.push_str(&std::fs::read_to_string(p).expect("pub key"));
    }
    std::fs::write(d.join("authorized_keys"), authorized).expect("authorized_keys");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
         StrictModes no\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
         Subsystem sftp internal-sftp\nLogLevel ERROR\n",
        host_key.display(),
        d.join("sshd.pid").display(),
        d.join("authorized_keys").display(),
    );
    std::fs::write(d.join("sshd_config"), config).expect("config");
    let log = std::fs::File::create(d.join("sshd.log")).expect("log file");
    let child = Command::new(sshd)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stderr(log)
        .spawn()
        .expect("start sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "sshd did not start: {}",
            std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Sshd { child, port, dir }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_against_openssh_sshd_with_ed25519_and_rsa() {
    let keys = tempfile::tempdir().expect("tempdir");
    let ed = ssh_keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let rsa = ssh_keygen(keys.path(), "id_rsa", &["-t", "rsa", "-b", "3072"]);
    let pubs = [ed.with_extension("pub"), rsa.with_extension("pub")];
    let sshd = start_sshd(&pubs, tempfile::tempdir().expect("tempdir")).await;
    let fingerprint = ssh_keygen_fingerprint(&sshd.dir.path().join("ssh_host_ed25519_key"));
    let out = sshd.dir.path().join("OUT");
    let inn = sshd.dir.path().join("IN");
    std::fs::create_dir_all(&out).expect("OUT");
    std::fs::create_dir_all(&inn).expect("IN");

    let pool = SftpPool::new(SftpSettings::default());
    for key in [&ed, &rsa] {
        let mut target = SftpTarget::new(
            "127.0.0.1",
            sshd.port,
            current_user(),
            SftpTarget::load_key(key, None).expect("key"),
        )
        .with_host_key_fingerprint(fingerprint.clone());
        target.out_dir = out.display().to_string();
        target.in_dir = inn.display().to_string();

        let name = format!(
            "bilag_{}.pdf",
            key.file_name().expect("name").to_string_lossy()
        );
        let data = vec![42u8; 200_000];
        pool.upload_file(&target, &name, &data)
            .await
            .expect("upload");
        pool.upload_file(&target, &name, &data[..10])
            .await
            .expect("upload again replaces");
        assert_eq!(std::fs::read(out.join(&name)).expect("file"), &data[..10]);
        pool.upload_trigger(&target, &name, &trigger_for(&name, 10))
            .await
            .expect("trigger");
        let trigger = std::fs::read_to_string(out.join(format!("{name}.trigger"))).expect("t");
        assert!(trigger.contains("<FileName>"), "{trigger}");

        // The platform's part, played by the test: a receipt in IN.
        assert_eq!(pool.read_receipt(&target, &name).await.expect("none"), None);
        std::fs::write(
            inn.join(format!("{name}.sftpreceipt")),
            sf2900::Message::to_xml(&ex::receipt_success()),
        )
        .expect("receipt");
        let receipt = pool
            .read_receipt(&target, &name)
            .await
            .expect("read")
            .expect("present");
        assert!(receipt.is_success());
        pool.remove_receipt(&target, &name).await.expect("remove");
        assert!(!inn.join(format!("{name}.sftpreceipt")).exists());

        let listing = pool.ls(&target, &target.out_dir).await.expect("ls");
        assert!(listing.iter().any(|e| e.name == name && e.size == Some(10)));

        // Permission problems are configuration errors.
        let err = pool
            .upload(&target, "/nonexistent-dir/x", b"x")
            .await
            .expect_err("no such dir");
        assert_eq!(err.class(), ErrorClass::Configuration, "{err}");
    }
    // One session per key (two targets), each reused for all of its operations.
    assert_eq!(pool.connections_opened(), 2);

    // sshd's host key: refused when another is pinned, and when none is (naming it).
    let mut target = SftpTarget::new(
        "127.0.0.1",
        sshd.port,
        current_user(),
        SftpTarget::load_key(&ed, None).expect("key"),
    );
    target.out_dir = out.display().to_string();
    let wrong = target
        .clone()
        .with_host_key_fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let err = pool
        .ls(&wrong, &target.out_dir)
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&err, SftpError::HostKeyMismatch { presented, .. } if *presented == fingerprint),
        "{err:?}"
    );
    let err = pool
        .ls(&target, &target.out_dir)
        .await
        .expect_err("unpinned");
    assert!(
        matches!(&err, SftpError::HostKeyNotPinned { presented, .. } if *presented == fingerprint),
        "{err:?}"
    );
    assert_eq!(pool.host_key(&target).await.expect("host key"), fingerprint);
    assert_eq!(pool.connections_opened(), 2, "no session was opened");
}

// ---------------------------------------------------------------------------------------------
// XSD
// ---------------------------------------------------------------------------------------------

fn sp241() -> XsdValidator {
    XsdValidator::from_file(&kombit_dir().join("kp/SP241.xsd")).expect("SP241.xsd compiles")
}

#[test]
fn xsd_accepts_valid_and_explains_invalid_without_values() {
    let v = sp241();
    v.validate(ex::SP241_XML).expect("the example is valid");

    let cpr = "urn:oio:cpr:0101701234x";
    let bad = ex::SP241_XML
        .replace(
            "<Fornavn>Testperson Æblegård</Fornavn>",
            &format!("<Fornavn>Testperson Æblegård</Fornavn><Personnummer>{cpr}</Personnummer>"),
        )
        .replace("GRUPPE_1", "Gruppe hemmelig")
        .replace("<Header>", "<Header>\n");
    let errors = v.validate(&bad).expect_err("invalid");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text.len() >= 2, "{text:?}");
    assert!(text.iter().any(|m| m.contains("Personnummer")), "{text:?}");
    assert!(text.iter().any(|m| m.contains("Gruppe")), "{text:?}");
    for m in &text {
        assert!(!m.contains("0101701234"), "value leaked: {m}");
        assert!(!m.contains("hemmelig"), "value leaked: {m}");
    }
    assert!(errors.iter().all(|e| e.line.is_some()), "{errors:?}");

    let errors = v
        .validate("<SP241><Header></SP241>")
        .expect_err("malformed");
    assert!(
        errors[0].message.starts_with("not well-formed"),
        "{errors:?}"
    );

    let errors = v.validate("<Other/>").expect_err("wrong root");
    assert!(errors[0].message.contains("Other"), "{errors:?}");

    // External entities are not fetched and no DTD tricks get a value through.
    let xxe = "<!DOCTYPE SP241 [<!ENTITY x SYSTEM \"file:///etc/hostname\">]><SP241>&x;</SP241>";
    assert!(v.validate(xxe).is_err());

    let missing = XsdValidator::from_file(Path::new("/nonexistent.xsd")).expect_err("missing");
    assert!(missing.to_string().contains("/nonexistent.xsd"));

    // A schema whose import cannot be found is refused at load, not at the first document.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.xsd"),
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m">
             <xs:import namespace="urn:c" schemaLocation="common/missing.xsd"/>
             <xs:element name="A" type="xs:string"/>
           </xs:schema>"#,
    )
    .expect("write");
    let err = XsdValidator::from_file(&dir.path().join("main.xsd")).expect_err("missing import");
    assert!(err.to_string().contains("common/missing.xsd"), "{err}");

    // The SF2900 message schema, with its imports resolved relative to its own file.
    let msg = XsdValidator::from_file(&kombit_dir().join("sf2900/DistributionServiceMsg.xsd"))
        .expect("DistributionServiceMsg.xsd compiles");
    let body = sf2900::soap::body_element(&sf2900::soap::envelope(&afsend(4)))
        .expect("body")
        .to_xml();
    msg.validate(&body).expect("our afsend request is valid");
}

#[test]
fn xsd_validates_on_many_threads_at_once() {
    let v = sp241();
    let bad = ex::SP241_XML.replace("Accepteret", "Nej");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    v.validate(ex::SP241_XML).expect("valid");
                    assert!(v.validate(&bad).is_err());
                }
            });
        }
    });
}

/// Validation throughput, single thread and two threads. Prints one JSON line.
/// `cargo test -p fordeler --test transport --release -- --ignored --nocapture xsd_throughput`
#[test]
#[ignore]
fn xsd_throughput() {
    let v = sp241();
    let full = sp241_full();
    v.validate(&full).expect("the full instance is valid");
    let n = 20_000;
    let run = |doc: &str, threads: usize| {
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..n / threads {
                        v.validate(doc).expect("valid");
                    }
                });
            }
        });
        n as f64 / started.elapsed().as_secs_f64()
    };
    run(ex::SP241_XML, 1); // warm-up: compiles the schema on this thread
    let min1 = run(ex::SP241_XML, 1);
    let min2 = run(ex::SP241_XML, 2);
    let full1 = run(&full, 1);
    let full2 = run(&full, 2);
    println!(
        "{{\"bench\":\"xsd_sp241\",\"docs\":{n},\"minimal_bytes\":{},\"full_bytes\":{},\
         \"minimal_docs_per_sec_1_thread\":{min1:.0},\"minimal_docs_per_sec_2_threads\":{min2:.0},\
         \"full_docs_per_sec_1_thread\":{full1:.0},\"full_docs_per_sec_2_threads\":{full2:.0}}}",
        ex::SP241_XML.len(),
        full.len()
    );
}

/// An SP241 using every element: login applicant, 30 documents, Fuldmagt.
fn sp241_full() -> String {
    let docs: String = (0..30)
        .map(|i| {
            format!(
                "<Dokumenter><Dokumentnavn>os2forms_fordeler_2b801c0b-9e36-4cc5-b5d1-{i:012}_bilag_{i}.pdf</Dokumentnavn><Dokumenttype>Faktura</Dokumenttype></Dokumenter>"
            )
        })
        .collect();
    format!(
        "<SP241><Header><Myndighed>urn:oio:cvr-nr:29189846</Myndighed><ModtagetDato>2026-11-23</ModtagetDato><KLE>32.03.12</KLE>{docs}</Header>\
         <AnsoegerOplysninger><Ansoeger><Fornavn>Testperson</Fornavn><Mellemnavn>Æblegård</Mellemnavn><Efternavn>Fiktiv</Efternavn>\
         <Personnummer>urn:oio:cpr:0000000000</Personnummer><Telefonnummer>12345678</Telefonnummer></Ansoeger></AnsoegerOplysninger>\
         <Sygeforsikring><Gruppe>GRUPPE_BASIS</Gruppe></Sygeforsikring><Erklaering>Accepteret</Erklaering>\
         <Underskriftsoplysninger><Underskrift>Testperson Fiktiv</Underskrift><Underskriftsdato>2026-11-23</Underskriftsdato></Underskriftsoplysninger>\
         <Fuldmagt><FuldmagtDokumentnavn>fuldmagt.pdf</FuldmagtDokumentnavn><FuldmagthaversPersonnummer>urn:oio:cpr:0000000001</FuldmagthaversPersonnummer></Fuldmagt></SP241>"
    )
}
