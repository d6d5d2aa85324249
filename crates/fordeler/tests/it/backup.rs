//! `fordeler backup` and `restore` as an operator runs them, beside a running `fordeler serve`
//! (separate processes) that keeps taking submissions: what was accepted before the backup is
//! in the restored copy with its files' bytes; a Fordeler started on the restored copy
//! delivers everything, with the AnvenderTransaktionsIDs the platform already knows (nothing
//! becomes a second transaction); a purge during the backup cannot reach its copy; a damaged
//! backup, a non-empty target and a database that holds data are refused, naming them. On
//! PostgreSQL (`TEST_DATABASE_URL`) through pg_dump / pg_restore, into a new database.

use crate::common;

use fordeler::store::Store;
use serde_json::json;
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fordeler");

fn serve(config: &Path) -> Child {
    Command::new(BIN)
        .args(["serve", "-c"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs a command to its end: (success, stdout, stderr).
fn cli(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A submission's one file: its bytes name the submission, so a mix-up shows.
fn file_bytes(uuid: &str, size: usize) -> Vec<u8> {
    let mut data = format!("%PDF-1.4\n{uuid}\n").into_bytes();
    let mut i = 0u32;
    while data.len() < size {
        data.extend_from_slice(format!("{i:08x}").as_bytes());
        i += 1;
    }
    data.truncate(size);
    data
}

/// A submission's uuid and its file's bytes.
type Posted = (String, Vec<u8>);

/// Posts one submission until intake answers 2xx; what it posted.
async fn post(http: &reqwest::Client, base: &str, n: usize) -> Posted {
    let uuid = sf2900::Uuid::new_v4().to_string();
    let data = file_bytes(&uuid, 3_000 + n % 7 * 1_000);
    let form = if n.is_multiple_of(2) {
        "journal"
    } else {
        "dokument"
    };
    let body = json!({"uuid": uuid, "completed": "1", "emne": "x",
        "_kvittering": {"name": "k.pdf", "mime": "application/pdf",
                        "data": sf2900::Base64Binary::encode(&data)}});
    let deadline = Instant::now() + Duration::from_secs(60);
    let (http, body) = (&http, &body);
    common::eventually(deadline, || async move {
        match http
            .post(format!("{base}/intake/{form}/remote-post"))
            .bearer_auth(common::TOKEN)
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            r => Err(format!("intake did not accept: {r:?}")),
        }
    })
    .await;
    (uuid, data)
}

/// A database for the restored copy: a new SQLite file, or on PostgreSQL a new database with
/// the source's schema name (what a restore on a new server looks like).
async fn fresh_target(dir: &Path, source_url: &str) -> String {
    if !source_url.starts_with("postgres") {
        return format!("sqlite://{}", dir.join("restored/fordeler.db").display());
    }
    let base = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = format!(
        "restore_{}_{}",
        service_kit::db::now_ms(),
        std::process::id()
    );
    let admin = service_kit::db::Db::connect(&base, 1).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.reader())
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = base.rsplit_once('/').unwrap();
    let query = &source_url[base.len() + 1..];
    format!("{server}/{name}?{query}")
}

/// Each restored submission's file, as the restored store reads it.
async fn files_of(store: &Store, uuid: &str) -> Vec<Vec<u8>> {
    let found = store.find(uuid).await.unwrap();
    let Some(d) = found.first() else {
        return Vec::new();
    };
    store
        .attachments(&d.submission_id, |_| true)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.data)
        .collect()
}

/// Every AnvenderTransaktionsID a store holds, with its submission.
async fn transactions(url: &str) -> BTreeMap<String, String> {
    let store = Store::open(url, 2).await.unwrap();
    let mut out = BTreeMap::new();
    for d in store.list(None, None, 1_000_000).await.unwrap() {
        out.insert(d.anvender_transaktions_id, d.submission_uuid);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_intake_restores_every_accepted_submission_and_delivery_goes_on_once() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = local.write_config(dir.path(), &db_url, None).unwrap();
    let mut child = serve(&config);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{}", local.http_port);

    // Intake goes on all through the backup; `accepted` holds what got a 2xx, in order.
    let accepted: Arc<Mutex<Vec<Posted>>> = Arc::default();
    for n in 0..30 {
        let p = post(&http, &base, n).await;
        accepted.lock().unwrap().push(p);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poster = tokio::spawn({
        let (accepted, stop, http, base) =
            (accepted.clone(), stop.clone(), http.clone(), base.clone());
        async move {
            let mut n = 30;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = post(&http, &base, n).await;
                accepted.lock().unwrap().push(p);
                n += 1;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_backup = accepted.lock().unwrap().clone();
    let backup_dir = dir.path().join("backup");
    let to = backup_dir.to_str().unwrap().to_owned();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli(&config, &["backup", "--to", &to])
    })
    .await
    .unwrap();
    assert!(ok, "backup failed: {out}{err}");
    assert!(
        out.contains("fordeler") && out.contains("schema version"),
        "{out}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poster.await.unwrap();
    let posted_after = accepted.lock().unwrap().len() - before_backup.len();
    assert!(posted_after > 0, "intake went on during the backup");
    // The machine is lost; what it delivered meanwhile the platform knows.
    child.kill().unwrap();
    child.wait().unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("MANIFEST")).unwrap()).unwrap();
    assert_eq!(manifest["product"], "fordeler");
    assert!(manifest["files"].as_array().unwrap().iter().all(|f| {
        f["sha256"].as_str().is_some_and(|s| s.len() == 64) && f["size"].as_u64().is_some()
    }));

    // Restore on "another machine": a fresh directory, the same platform.
    let dir2 = tempfile::tempdir().unwrap();
    let url2 = fresh_target(dir2.path(), &db_url).await;
    let config2 = local.write_config(dir2.path(), &url2, None).unwrap();
    let (ok, out, err) = cli(
        &config2,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(ok, "restore failed: {out}{err}");
    assert!(out.contains("restored"), "{out}");

    {
        let restored = Store::open(&url2, 2).await.unwrap();
        for (uuid, data) in &before_backup {
            let files = files_of(&restored, uuid).await;
            assert_eq!(
                files.len(),
                1,
                "{uuid} accepted before the backup is in the copy"
            );
            assert_eq!(
                sha2::Sha256::digest(&files[0]),
                sha2::Sha256::digest(data),
                "{uuid}: its file's bytes are the ones posted"
            );
        }
        restored.db.close().await;
    }
    let original = transactions(&db_url).await;
    let restored_ids = transactions(&url2).await;
    assert!(restored_ids.len() >= before_backup.len());

    // What the platform had accepted from the lost instance: their receipts went there, and
    // a delivery the snapshot shows waiting for them stays waiting (after
    // `receipt_timeout_minutes` it fails, for the operator; see docs/fordeler.md).
    let accepted_before: BTreeSet<String> = local
        .sim
        .journal
        .snapshot()
        .into_iter()
        .filter_map(|e| match e.event {
            kombit_sim::journal::Event::Call {
                operation,
                anvender_transaktions_id: Some(id),
                duplicate: false,
                ..
            } if operation == "FordelingsobjektAfsend" => Some(id),
            _ => None,
        })
        .collect();
    let mut child = serve(&config2);
    let watcher = Store::open(&url2, 2).await.unwrap();
    let (watcher, accepted_before, sim) = (&watcher, &accepted_before, &local.sim);
    common::eventually(Instant::now() + Duration::from_secs(120), || async move {
        let all = watcher.list(None, None, 1_000_000).await.unwrap();
        let open: Vec<String> = all
            .iter()
            .filter(|d| {
                !(d.state == fordeler::store::State::Delivered
                    || d.state == fordeler::store::State::Waiting
                        && accepted_before.contains(&d.anvender_transaktions_id))
            })
            .map(|d| format!("{} {}/{}", d.submission_uuid, d.state, d.step))
            .collect();
        if open.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "restored, not yet delivered: {open:?}\n{:?}",
                sim.summary()
            ))
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    // Every transaction the platform saw is one of the two databases' (the restored copy
    // made none of its own), and no submission reached it as two transactions.
    let mut per_submission: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for e in local.sim.journal.snapshot() {
        if let kombit_sim::journal::Event::Call {
            operation,
            anvender_transaktions_id: Some(id),
            ..
        } = &e.event
            && operation == "FordelingsobjektAfsend"
        {
            let uuid = original
                .get(id)
                .or_else(|| restored_ids.get(id))
                .unwrap_or_else(|| {
                    panic!("the platform got a transaction {id} neither database has")
                });
            per_submission.entry(uuid).or_default().insert(id.clone());
        }
    }
    for (uuid, ids) in &per_submission {
        assert_eq!(ids.len(), 1, "{uuid} reached the platform as {ids:?}");
    }
    for uuid in restored_ids.values() {
        assert!(
            per_submission.contains_key(uuid.as_str()),
            "{uuid} never delivered"
        );
    }
    // A delivery the lost instance built and sent after the snapshot is built again from the
    // snapshot: the same AnvenderTransaktionsID, answered by the platform as a duplicate
    // (its bytes may differ: a build carries its time), never a second transaction.
    let s = local.sim.summary();
    assert_eq!(s.transactions as usize, per_submission.len(), "{s:?}");
    eprintln!(
        "backup test: {} accepted before the backup, {posted_after} during/after it, {} in the \
         copy, {} resent with the same AnvenderTransaktionsID after the restore",
        before_backup.len(),
        restored_ids.len(),
        s.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_the_backup_waits_until_the_files_are_copied() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    if db_url.starts_with("postgres") {
        return; // files are in the database there: pg_dump's snapshot has them
    }
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let config = local.write_config(dir.path(), &db_url, None).unwrap();
    let mut child = serve(&config);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", local.http_port);
    let mut posted = Vec::new();
    for n in 0..12 {
        posted.push(post(&http, &base, n).await);
    }
    for (uuid, _) in &posted {
        let (http, base) = (&http, &base);
        common::eventually(Instant::now() + Duration::from_secs(60), || async move {
            let v: serde_json::Value = http
                .get(format!("{base}/api/deliveries/{uuid}"))
                .bearer_auth(common::API_TOKEN)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match v[0]["delivery"]["state"].as_str() {
                Some("delivered") => Ok(()),
                s => Err(format!("{uuid}: {s:?}")),
            }
        })
        .await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The backup stops between its snapshot and its copy of the files; a purge then commits
    // (after the snapshot) and must not free the bytes before the copy is made.
    let backup_dir = dir.path().join("backup");
    let mut backup = Command::new(BIN)
        .args(["backup", "--to"])
        .arg(&backup_dir)
        .arg("-c")
        .arg(&config)
        .env("SERVICE_KIT_TEST_BACKUP_PAUSE_MS", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(backup.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("backup ended early").unwrap();
        if line.contains("snapshot taken") {
            break;
        }
    }
    let started = Instant::now();
    let (ok, out, err) = cli(&config, &["purge", "--days", "0"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("of 12 submission"), "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "the purge waited for the backup's copy ({:?})",
        started.elapsed()
    );
    assert!(backup.wait().unwrap().success());

    let dir2 = tempfile::tempdir().unwrap();
    let url2 = fresh_target(dir2.path(), &db_url).await;
    let config2 = local.write_config(dir2.path(), &url2, None).unwrap();
    let (ok, out, err) = cli(
        &config2,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let restored = Store::open(&url2, 2).await.unwrap();
    for (uuid, data) in &posted {
        assert_eq!(
            files_of(&restored, uuid).await,
            vec![data.clone()],
            "{uuid}: the copy has the bytes its snapshot names"
        );
    }
    // And the original was purged after all.
    let original = Store::open(&db_url, 2).await.unwrap();
    for (uuid, _) in &posted {
        assert_eq!(files_of(&original, uuid).await, vec![Vec::<u8>::new()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_a_full_target_and_a_database_with_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = local.write_config(dir.path(), &db_url, None).unwrap();
    let mut child = serve(&config);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", local.http_port);
    for n in 0..3 {
        post(&http, &base, n).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Not into a directory that holds something.
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let (ok, _, err) = cli(&config, &["backup", "--to", full.to_str().unwrap()]);
    assert!(
        !ok && err.contains("not empty") && err.contains("full"),
        "{err}"
    );

    let backup_dir = dir.path().join("backup");
    let (ok, out, err) = cli(&config, &["backup", "--to", backup_dir.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&backup_dir), 0o700);
    assert_eq!(mode(&backup_dir.join("MANIFEST")), 0o600);

    // Not over the database it came from.
    let (ok, _, err) = cli(
        &config,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(
        !ok && (err.contains("holds data") || err.contains("already has")),
        "{err}"
    );

    // One byte changed in the largest file: refused, naming it, before anything is written.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("MANIFEST")).unwrap()).unwrap();
    let largest = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|f| f["size"].as_u64())
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let damaged: PathBuf = backup_dir.join(&largest);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&damaged, &bytes).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let url2 = fresh_target(dir2.path(), &db_url).await;
    let config2 = local.write_config(dir2.path(), &url2, None).unwrap();
    let (ok, _, err) = cli(
        &config2,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains(&largest) && err.contains("damaged"),
        "{err}"
    );
    assert!(
        !dir2.path().join("restored").exists(),
        "nothing was written"
    );
}
