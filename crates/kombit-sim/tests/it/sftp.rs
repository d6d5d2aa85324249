//! The SFTP service against real peers on 127.0.0.1: OpenSSH's `sftp` client and the russh-sftp
//! client, with receipts validated against the official SFTPTypes.xsd by `xmllint`.

use kombit_sim::faults::{Action, FaultRule, Faults, Hook};
use kombit_sim::journal::{Event, Journal};
use kombit_sim::sftp::{self, SftpClient, SftpHandle, SftpSettings, SftpUser, codes};
use russh::keys::PrivateKey;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "OS2Forms_Fordeling";
const TIMEOUT: Duration = Duration::from_secs(10);

/// The official schemas, shared next to the workspace. Missing schemas fail the tests: a receipt
/// that was never validated must not pass as valid.
fn xsd() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kombit/sftp/SFTPTypes.xsd");
    assert!(p.is_file(), "official schema missing: {}", p.display());
    p
}

fn assert_xsd_valid(xml: &[u8], dir: &Path) {
    let file = dir.join(format!("receipt-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&file, xml).expect("write receipt copy");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .arg(&file)
        .output()
        .expect("xmllint must be installed (apt install libxml2-utils)");
    assert!(
        out.status.success(),
        "receipt not valid against SFTPTypes.xsd:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
}

/// An ed25519 key pair made by `ssh-keygen` (private key file mode 0600, as OpenSSH requires).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PrivateKey) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen must be installed (apt install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
    let key = russh::keys::load_secret_key(&path, None).expect("load generated key");
    (path, key)
}

struct Sim {
    handle: SftpHandle,
    journal: Journal,
    faults: Faults,
    dir: tempfile::TempDir,
    key_path: PathBuf,
    key: Arc<PrivateKey>,
}

impl Sim {
    async fn start(receipt_delay: Duration) -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, host_key) = keygen(dir.path(), "host_key");
        let (key_path, key) = keygen(dir.path(), "client_key");
        let journal = Journal::new();
        let faults = Faults::default();
        let settings = SftpSettings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            root: dir.path().join("root"),
            host_key,
            users: vec![SftpUser {
                name: USER.into(),
                public_key: key.public_key().clone(),
            }],
            receipt_delay,
        };
        let handle = sftp::start(settings, journal.clone(), faults.clone())
            .await
            .expect("start SFTP");
        Sim {
            handle,
            journal,
            faults,
            dir,
            key_path,
            key: Arc::new(key),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("root").join(USER)
    }

    async fn client(&self) -> SftpClient {
        SftpClient::connect(self.handle.local_addr(), USER, self.key.clone())
            .await
            .expect("connect")
    }

    fn fault(&self, on: Hook, action: Action, file: &str, delay_ms: u64) {
        self.faults.add(FaultRule {
            on,
            action,
            probability: 1.0,
            times: Some(1),
            delay_ms,
            match_kle: None,
            match_file: Some(file.into()),
            match_transaction: None,
        });
    }

    /// Waits for a journal event matching `f`.
    async fn wait_event(&self, f: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(e) = self.journal.snapshot().into_iter().find(|e| f(&e.event)) {
                return e.event;
            }
            assert!(
                Instant::now() < deadline,
                "event not journaled: {:#?}",
                self.journal.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A trigger written by hand, as a PHP or Java anvender would, independently of the sf2900 crate:
/// root in the SFTP namespace, children unqualified (SFTPTypes.xsd has no elementFormDefault).
fn hand_written_trigger(file_name: &str, size: u64, sender: &str, transaction_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sftp:Trigger xmlns:sftp="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">
  <FileDescriptor>
    <FileName>{file_name}</FileName>
    <SizeInBytes>{size}</SizeInBytes>
    <Sender>{sender}</Sender>
    <SendersFileId>drupal-file-42</SendersFileId>
    <Recipients>ROUTING_V1_0_0</Recipients>
  </FileDescriptor>
  <FileContentDescriptor>
    <SFTPDynamicRoutingInfo>
      <InfRef>HelbredstillaegAnsoegningBilag_1</InfRef>
      <SenderIt-system>5d1b3a1e-6d3c-4f0a-9c1e-2a7f4c3b9e01</SenderIt-system>
      <SenderAuthority>urn:oio:cvr-nr:29189846</SenderAuthority>
      <TransactionId>{transaction_id}</TransactionId>
      <SenderTimestamp>2025-01-31T12:00:00Z</SenderTimestamp>
      <RecipientAuthority>urn:oio:cvr-nr:29189846</RecipientAuthority>
    </SFTPDynamicRoutingInfo>
  </FileContentDescriptor>
</sftp:Trigger>
"#
    )
}

fn new_tid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A trigger built with the sf2900 model, as the Fordeler builds it.
fn trigger_xml(file_name: &str, size: u64, sender: &str, transaction_id: &str) -> String {
    use sf2900::Message as _;
    use sf2900::sftp::{FileContentDescriptor, FileDescriptor, SftpDynamicRoutingInfo, Trigger};
    let authority = sf2900::CvrUrn::new("urn:oio:cvr-nr:29189846").expect("CVR-URN");
    Trigger {
        file_descriptor: FileDescriptor {
            file_name: file_name.into(),
            size_in_bytes: size,
            sender: sender.into(),
            senders_file_id: Some("drupal-file-42".into()),
            recipients: vec![sf2900::ns::SFTP_DYNAMIC_ROUTING.into()],
        },
        file_content_descriptor: FileContentDescriptor::DynamicRouting(Box::new(
            SftpDynamicRoutingInfo {
                inf_ref: "HelbredstillaegAnsoegningBilag_1".into(),
                sender_it_system: uuid::Uuid::new_v4(),
                sender_authority: authority.clone(),
                transaction_id: transaction_id.parse().expect("uuid"),
                sender_timestamp: sf2900::DateTime::now(),
                recipient_it_system: None,
                recipient_authority: authority,
                route_parameter_list: None,
            },
        )),
    }
    .to_xml()
}

fn error_codes(receipt: &str) -> Vec<i32> {
    receipt
        .split("<ErrorCode>")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.trim().parse().ok())
        .collect()
}

/// Runs OpenSSH's `sftp` in batch mode; returns (success, stdout + stderr).
fn openssh_sftp(sim: &Sim, key: &Path, batch: &str) -> (bool, String) {
    let batch_file = sim
        .dir
        .path()
        .join(format!("batch-{}", uuid::Uuid::new_v4()));
    std::fs::write(&batch_file, batch).expect("write batch");
    let out = Command::new("sftp")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "IdentityAgent=none", "-o", "LogLevel=ERROR"])
        .arg("-P")
        .arg(sim.handle.local_addr().port().to_string())
        .arg("-i")
        .arg(key)
        .arg("-b")
        .arg(&batch_file)
        .arg(format!("{USER}@127.0.0.1"))
        .output()
        .expect("sftp (openssh-client) must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_sftp_upload_trigger_and_receipt() {
    // A delay, so the first look into /IN/ finds nothing and the client has to poll.
    let sim = Sim::start(Duration::from_millis(1000)).await;
    let name = "os2forms_fordelingskomponent_handler_2b801c0b_bilag 1.pdf";
    let payload: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    let local = sim.dir.path().join("payload.bin");
    std::fs::write(&local, &payload).expect("write payload");
    let tid = new_tid();
    let trigger = sim.dir.path().join("payload.trigger");
    let trigger_text = hand_written_trigger(name, payload.len() as u64, USER, &tid);
    assert_xsd_valid(trigger_text.as_bytes(), sim.dir.path());
    std::fs::write(&trigger, trigger_text).expect("write trigger");

    let batch = format!(
        "pwd\ncd OUT\nput \"{}\" \"{name}\"\nput \"{}\" \"/OUT/{name}.trigger\"\nls -l\n-get \"/IN/{name}.sftpreceipt\" \"{}\"\n",
        local.display(),
        trigger.display(),
        sim.dir.path().join("early.xml").display()
    );
    let (ok, out) = openssh_sftp(&sim, &sim.key_path, &batch);
    assert!(ok, "sftp batch failed:\n{out}");
    assert!(
        out.contains(&format!("{name}.trigger")),
        "ls shows the upload:\n{out}"
    );
    assert!(
        !sim.dir.path().join("early.xml").exists(),
        "receipt must not be there before the delay"
    );
    assert_eq!(
        std::fs::read(sim.home().join("OUT").join(name)).expect("uploaded"),
        payload
    );

    // Poll the way a cron job would: a new `sftp -b` run until `get` succeeds.
    let receipt_file = sim.dir.path().join("receipt.xml");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (ok, out) = openssh_sftp(
            &sim,
            &sim.key_path,
            &format!(
                "get \"/IN/{name}.sftpreceipt\" \"{}\"\n",
                receipt_file.display()
            ),
        );
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "no receipt: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let receipt = std::fs::read(&receipt_file).expect("receipt fetched");
    let text = String::from_utf8_lossy(&receipt);
    assert!(text.contains("<Message>SUCCESS</Message>"), "{text}");
    assert!(
        text.contains("<SendersFileId>drupal-file-42</SendersFileId>"),
        "{text}"
    );
    assert_xsd_valid(&receipt, sim.dir.path());

    let file = sim
        .wait_event(|e| matches!(e, Event::File { name: n, .. } if n == name))
        .await;
    assert_eq!(
        file,
        Event::File {
            user: USER.into(),
            name: name.into(),
            size: payload.len() as u64
        }
    );
    let trig = sim.wait_event(|e| matches!(e, Event::Trigger { .. })).await;
    assert_eq!(
        trig,
        Event::Trigger {
            user: USER.into(),
            file_name: name.into(),
            transaction_id: Some(tid),
            outcome: "success".into()
        }
    );
    let rec = sim
        .wait_event(|e| matches!(e, Event::SftpReceipt { .. }))
        .await;
    assert_eq!(
        rec,
        Event::SftpReceipt {
            user: USER.into(),
            name: format!("{name}.sftpreceipt"),
            success: true
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_mismatch_and_missing_file_give_error_receipts() {
    let sim = Sim::start(Duration::ZERO).await;
    let c = sim.client().await;
    assert_xsd_valid(
        trigger_xml("short.bin", 1001, USER, &new_tid()).as_bytes(),
        sim.dir.path(),
    );

    c.upload("/OUT/short.bin", &[7u8; 1000])
        .await
        .expect("upload");
    c.upload(
        "OUT/short.bin.trigger",
        trigger_xml("short.bin", 1001, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload trigger");
    let receipt = c
        .poll("/IN/short.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    let text = String::from_utf8_lossy(&receipt);
    assert_eq!(
        error_codes(&text),
        vec![codes::FILE_SIZE_MISMATCH],
        "{text}"
    );
    assert!(
        text.contains("FILE_SIZE_MISMATCH") && text.contains("1000 bytes"),
        "{text}"
    );
    assert_xsd_valid(&receipt, sim.dir.path());

    // Only the trigger arrives; a file under another case or name does not count.
    c.upload("/OUT/Missing.bin", b"x").await.expect("upload");
    c.upload(
        "./OUT/missing.bin.trigger",
        trigger_xml("missing.bin", 1, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload trigger");
    let receipt = c
        .poll("/IN/missing.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    let text = String::from_utf8_lossy(&receipt);
    assert_eq!(error_codes(&text), vec![codes::FILE_NOT_FOUND], "{text}");
    assert_xsd_valid(&receipt, sim.dir.path());

    // Wrong sender, trigger name not <FileName>.trigger, and a trigger that is not XML at all.
    c.upload("/OUT/a.bin", b"abc").await.expect("upload");
    c.upload(
        "/OUT/b.bin.trigger",
        trigger_xml("a.bin", 3, "someone_else", &new_tid()).as_bytes(),
    )
    .await
    .expect("upload trigger");
    let receipt = c
        .poll("/IN/b.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    let text = String::from_utf8_lossy(&receipt);
    assert_eq!(
        error_codes(&text),
        vec![codes::TRIGGER_NAME_MISMATCH, codes::SENDER_MISMATCH],
        "{text}"
    );
    assert_xsd_valid(&receipt, sim.dir.path());

    c.upload("/OUT/junk.trigger", b"<sftp:Trigger")
        .await
        .expect("upload trigger");
    let receipt = c
        .poll("/IN/junk.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    let text = String::from_utf8_lossy(&receipt);
    assert_eq!(error_codes(&text), vec![codes::INVALID_TRIGGER], "{text}");
    assert_xsd_valid(&receipt, sim.dir.path());

    // Valid for the lenient decoder, invalid for the schema: qualified children, an unknown
    // element, an upper-case UUID, the wrong root namespace. The platform validates triggers.
    let good = hand_written_trigger("a.bin", 3, USER, &new_tid());
    let ns_children = good
        .replace("<FileDescriptor>", "<sftp:FileDescriptor>")
        .replace("</FileDescriptor>", "</sftp:FileDescriptor>");
    let unknown = good.replace("<Sender>", "<Extra>x</Extra><Sender>");
    let upper = hand_written_trigger("a.bin", 3, USER, &new_tid().to_uppercase());
    let wrong_root = good.replace("SFTP/1/types", "SFTP/2/types");
    for (i, bad) in [ns_children, unknown, upper, wrong_root].iter().enumerate() {
        let invalid = sim.dir.path().join("invalid.xml");
        std::fs::write(&invalid, bad).expect("write");
        let xsd_ok = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd())
            .arg(&invalid)
            .output()
            .expect("xmllint")
            .status
            .success();
        assert!(!xsd_ok, "case {i} is meant to be invalid against the XSD");
        c.upload(&format!("/OUT/bad{i}.trigger"), bad.as_bytes())
            .await
            .expect("upload");
        let receipt = c
            .poll(&format!("/IN/bad{i}.sftpreceipt"), TIMEOUT)
            .await
            .expect("receipt");
        let text = String::from_utf8_lossy(&receipt);
        assert_eq!(
            error_codes(&text),
            vec![codes::INVALID_TRIGGER],
            "case {i}: {text}"
        );
    }

    let outcome = sim
        .wait_event(|e| matches!(e, Event::Trigger { file_name, .. } if file_name == "short.bin"))
        .await;
    assert!(matches!(outcome, Event::Trigger { outcome, .. } if outcome == "error:2002"));
    sim.wait_event(|e| matches!(e, Event::SftpReceipt { name, success: false, .. } if name == "junk.sftpreceipt"))
        .await;
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_by_rename_is_processed() {
    let sim = Sim::start(Duration::ZERO).await;
    let c = sim.client().await;
    c.upload("/OUT/r.bin.part", b"hello").await.expect("upload");
    c.sftp
        .rename("/OUT/r.bin.part", "/OUT/r.bin")
        .await
        .expect("rename file");
    c.upload(
        "/OUT/r.tmp",
        trigger_xml("r.bin", 5, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload");
    c.sftp
        .rename("/OUT/r.tmp", "/OUT/r.bin.trigger")
        .await
        .expect("rename trigger");
    let receipt = c
        .poll("/IN/r.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    assert!(String::from_utf8_lossy(&receipt).contains("SUCCESS"));
    // Directory listing, stat, mkdir/rmdir and remove work as a client expects.
    let names: Vec<String> = c
        .sftp
        .read_dir("/OUT")
        .await
        .expect("readdir")
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.contains(&"r.bin".to_string()) && names.contains(&"r.bin.trigger".to_string()),
        "{names:?}"
    );
    assert_eq!(
        c.sftp.metadata("/OUT/r.bin").await.expect("stat").size,
        Some(5)
    );
    assert_eq!(c.sftp.canonicalize(".").await.expect("realpath"), "/");
    c.sftp.create_dir("/OUT/sub").await.expect("mkdir");
    c.sftp.remove_dir("/OUT/sub").await.expect("rmdir");
    c.sftp
        .remove_file("/IN/r.bin.sftpreceipt")
        .await
        .expect("remove");
    assert!(
        c.sftp.remove_dir("/OUT").await.is_err(),
        "the platform's folders stay"
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_key_and_path_escape_are_refused() {
    let sim = Sim::start(Duration::ZERO).await;
    let (stranger_path, stranger) = keygen(sim.dir.path(), "stranger");
    // Both forms of SftpUser::from_openssh: the .pub file and its line.
    let pub_path = stranger_path.with_extension("pub");
    let from_file =
        SftpUser::from_openssh("x", pub_path.to_str().expect("utf-8")).expect("from file");
    let line = std::fs::read_to_string(&pub_path).expect("read .pub");
    let from_line = SftpUser::from_openssh("x", &line).expect("from line");
    assert_eq!(
        from_file.public_key.key_data(),
        stranger.public_key().key_data()
    );
    assert_eq!(
        from_line.public_key.key_data(),
        stranger.public_key().key_data()
    );
    assert!(SftpUser::from_openssh("x", "ssh-ed25519 garbage").is_err());
    let err = SftpClient::connect(sim.handle.local_addr(), USER, Arc::new(stranger))
        .await
        .err()
        .expect("unregistered key must be refused");
    assert!(format!("{err:#}").contains("refused"), "{err:#}");
    let (ok, out) = openssh_sftp(&sim, &stranger_path, "ls\n");
    assert!(!ok, "OpenSSH with an unregistered key must fail:\n{out}");
    assert!(out.contains("Permission denied"), "{out}");
    // The registered key under another user name is refused too.
    assert!(
        SftpClient::connect(sim.handle.local_addr(), "other", sim.key.clone())
            .await
            .is_err()
    );

    let c = sim.client().await;
    std::fs::write(sim.dir.path().join("root").join("secret"), b"outside").expect("write");
    for path in [
        "../secret",
        "/../secret",
        "/OUT/../../secret",
        "OUT/../../root/secret",
    ] {
        let err = c.sftp.read(path).await.expect_err(path);
        assert!(
            err.to_string().contains("Permission denied"),
            "{path}: {err}"
        );
        assert!(c.sftp.metadata(path).await.is_err(), "{path}");
        assert!(c.sftp.create(path).await.is_err(), "{path}");
    }
    assert!(c.sftp.canonicalize("/..").await.is_err());
    assert!(c.sftp.read_dir("..").await.is_err());
    assert!(c.sftp.rename("/OUT", "../OUT2").await.is_err());
    assert_eq!(
        std::fs::read(sim.dir.path().join("root").join("secret")).expect("read"),
        b"outside"
    );
    let (ok, out) = openssh_sftp(&sim, &sim.key_path, "get ../secret\n");
    assert!(!ok, "{out}");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_fault_drops_the_connection_mid_upload() {
    let sim = Sim::start(Duration::ZERO).await;
    sim.fault(Hook::SftpUpload, Action::Disconnect, "boom", 0);
    let c = sim.client().await;
    let payload = vec![1u8; 300_000];
    let err = c
        .upload("/OUT/boom.bin", &payload)
        .await
        .expect_err("upload must fail");
    let size = std::fs::metadata(sim.home().join("OUT/boom.bin"))
        .expect("partial file")
        .len();
    assert!(
        size > 0 && size < payload.len() as u64,
        "partial file, got {size} bytes ({err:#})"
    );
    assert!(
        c.sftp.metadata("/OUT").await.is_err(),
        "the session is gone"
    );
    // No File event: the upload was never closed.
    assert!(
        !sim.journal
            .snapshot()
            .iter()
            .any(|e| matches!(&e.event, Event::File { .. }))
    );

    // The fault had times = 1: a new connection uploads fine.
    let c = sim.client().await;
    c.upload("/OUT/boom.bin", &payload)
        .await
        .expect("second upload");
    assert_eq!(
        std::fs::metadata(sim.home().join("OUT/boom.bin"))
            .expect("file")
            .len(),
        300_000
    );

    // OpenSSH's client sees the connection drop as well.
    sim.fault(Hook::SftpUpload, Action::Disconnect, "ssh", 0);
    let local = sim.dir.path().join("ssh.bin");
    std::fs::write(&local, &payload).expect("write");
    let (ok, out) = openssh_sftp(
        &sim,
        &sim.key_path,
        &format!("put \"{}\" /OUT/ssh.bin\n", local.display()),
    );
    assert!(!ok, "{out}");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_fault_fails_writes() {
    let sim = Sim::start(Duration::ZERO).await;
    sim.fault(Hook::SftpUpload, Action::DiskFull, "full", 0);
    let c = sim.client().await;
    let err = c
        .upload("/OUT/full.bin", &[0u8; 50_000])
        .await
        .expect_err("disk full");
    assert!(
        format!("{err:#}").contains("No space left on device"),
        "{err:#}"
    );
    // The connection survives a failed write; a later upload works.
    c.upload("/OUT/full.bin", &[0u8; 50_000])
        .await
        .expect("upload after the fault");

    sim.fault(Hook::SftpUpload, Action::DiskFull, "ssh", 0);
    let local = sim.dir.path().join("ssh.bin");
    std::fs::write(&local, [0u8; 1000]).expect("write");
    let (ok, out) = openssh_sftp(
        &sim,
        &sim.key_path,
        &format!("put \"{}\" /OUT/ssh.bin\n", local.display()),
    );
    // OpenSSH prints the status code ("Failure"), not the server's message.
    assert!(!ok && out.contains("Failure"), "{out}");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_faults() {
    let sim = Sim::start(Duration::ZERO).await;
    let c = sim.client().await;

    sim.fault(Hook::SftpTrigger, Action::TriggerError, "te.bin", 0);
    c.upload("/OUT/te.bin", b"data").await.expect("upload");
    c.upload(
        "/OUT/te.bin.trigger",
        trigger_xml("te.bin", 4, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload");
    let receipt = c
        .poll("/IN/te.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    assert_eq!(
        error_codes(&String::from_utf8_lossy(&receipt)),
        vec![codes::SIMULATED_ERROR]
    );
    assert_xsd_valid(&receipt, sim.dir.path());

    sim.fault(Hook::SftpTrigger, Action::Latency, "slow.bin", 400);
    c.upload("/OUT/slow.bin", b"data").await.expect("upload");
    let t = Instant::now();
    c.upload(
        "/OUT/slow.bin.trigger",
        trigger_xml("slow.bin", 4, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload");
    c.poll("/IN/slow.bin.sftpreceipt", TIMEOUT)
        .await
        .expect("receipt");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "latency applied: {:?}",
        t.elapsed()
    );

    sim.fault(Hook::SftpTrigger, Action::ReceiptMissing, "lost.bin", 0);
    c.upload("/OUT/lost.bin", b"data").await.expect("upload");
    c.upload(
        "/OUT/lost.bin.trigger",
        trigger_xml("lost.bin", 4, USER, &new_tid()).as_bytes(),
    )
    .await
    .expect("upload");
    sim.wait_event(|e| matches!(e, Event::Trigger { outcome, .. } if outcome == "receipt_missing"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        c.poll("/IN/lost.bin.sftpreceipt", Duration::from_millis(100))
            .await
            .is_err()
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_cycles_and_shutdown_stops_the_service() {
    let sim = Sim::start(Duration::ZERO).await;
    let key = (*sim.key).clone();
    let result = sftp::bench_cycles(sim.handle.local_addr(), USER, key, 30, 3, 20_000)
        .await
        .expect("bench");
    assert_eq!((result.cycles, result.failed), (30, 0), "{result:?}");
    assert!(result.cycles_per_sec > 0.0);

    let addr = sim.handle.local_addr();
    let c = sim.client().await;
    sim.handle.shutdown().await;
    assert!(
        c.sftp.metadata("/OUT").await.is_err(),
        "open sessions are closed"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}
