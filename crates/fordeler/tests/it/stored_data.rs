//! What the Fordeler keeps, and what it lets go: purge leaves no trace of a submission in the
//! database's files; a submission of thousands of files is stored and delivered, and one over
//! the configured limit is refused with a 4xx naming the field; SFTP file names stay unique
//! whatever the element keys; and an SFTP host key that is not pinned stops `serve` and
//! `check-config`, naming the key to pin. Against kombit-sim on loopback (real HTTP, TLS, SFTP),
//! on the test database (SQLite file, or PostgreSQL with TEST_DATABASE_URL).

use crate::common;

use fordeler::file_store::FileStore;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fordeler");
const SFTP_USER: &str = "OS2Forms_Fordeling";

/// The simulator's `/OUT/` of the demo's SFTP user.
fn sim_out(env: &common::Env) -> PathBuf {
    env.platform
        .sim
        .config
        .sftp
        .root
        .clone()
        .expect("the local platform sets an SFTP root")
        .join(SFTP_USER)
        .join("OUT")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file the database keeps on disk: the SQLite file, its WAL, and the segment files.
fn database_files(env: &common::Env) -> Vec<PathBuf> {
    let store = &env.fordeler.store;
    let FileStore::Dir(dir) = &store.files else {
        return Vec::new(); // PostgreSQL: the server's files
    };
    let db = dir.root().with_extension(""); // `<db>.files` → `<db>`
    let mut files = vec![db.clone(), PathBuf::from(format!("{}-wal", db.display()))];
    files.extend(
        std::fs::read_dir(dir.root().join("segments"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    files
}

fn found_in(files: &[PathBuf], marker: &[u8]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| contains(&std::fs::read(f).unwrap_or_default(), marker))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_submissions_leave_no_trace_in_the_database_files() {
    let env = common::start(vec![]).await;
    let marker = "MARKØR-2412999999-purge";
    let uuid = sf2900::Uuid::new_v4().to_string();
    // JOURNALPOST: the marker goes into the form data, into the built request (its Notat is
    // "Henvendelse om <emne>"), and into a file.
    let body = json!({
        "uuid": uuid, "serial": "1", "completed": "1778586315", "in_draft": "0",
        "emne": marker,
        "_bilag": {"name": "b.txt", "mime": "text/plain",
                   "data": sf2900::Base64Binary::encode(format!("{marker} i en fil").as_bytes())},
    });
    assert_eq!(env.post("journal", &body).await.0, 202);
    env.wait_for(&uuid, &["delivered"], Duration::from_secs(60))
        .await;
    let store = &env.fordeler.store;
    let delivery = &store.find(&uuid).await.unwrap()[0];
    let request = store.request(&delivery.id).await.unwrap().expect("built");
    assert!(
        request.xml.contains(marker),
        "the request carries the marker"
    );

    let files = database_files(&env);
    let on_sqlite = !files.is_empty();
    if on_sqlite {
        assert!(
            !found_in(&files, marker.as_bytes()).is_empty(),
            "the marker is stored before the purge (else this test proves nothing)"
        );
    } else {
        assert_eq!(vacuumed_tables(store).await, 0);
    }

    let now = service_kit::db::now_ms();
    assert_eq!(store.purge(now + 1_000).await.unwrap(), 1);
    assert_eq!(store.payload(&delivery.submission_id).await.unwrap(), None);
    assert!(store.request(&delivery.id).await.unwrap().is_none());
    if on_sqlite {
        assert_eq!(
            found_in(&files, marker.as_bytes()),
            Vec::<PathBuf>::new(),
            "purged values are still readable in these files"
        );
    } else {
        // PostgreSQL's files are the server's to read; the purge vacuumed the purged tables.
        assert_eq!(vacuumed_tables(store).await, 3);
    }
    // The delivery's metadata and timeline stay.
    assert_eq!(
        store.find(&uuid).await.unwrap()[0].state,
        fordeler::store::State::Delivered
    );
    assert!(!store.events(&delivery.id).await.unwrap().is_empty());
}

/// How many of the purged tables have been vacuumed by hand (PostgreSQL).
async fn vacuumed_tables(store: &fordeler::store::Store) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pg_stat_user_tables WHERE schemaname = current_schema() \
         AND relname IN ('submissions', 'attachments', 'delivery_requests') AND last_vacuum IS NOT NULL",
    )
    .fetch_one(store.db.reader())
    .await
    .unwrap();
    n
}

/// A small file whose content tells which submission, element and index it is.
fn content(uuid: &str, element: &str, idx: usize) -> Vec<u8> {
    format!("{uuid}/{element}/{idx}").into_bytes()
}

/// An SP241 FORMULAR submission (receipt PDF inline) with `per_element` files in each element.
fn formular(uuid: &str, elements: &[&str], per_element: usize) -> Value {
    let mut body = json!({
        "uuid": uuid, "serial": "1", "completed": "1778586315", "in_draft": "0",
        "_kvittering": {"name": "kvittering.pdf", "mime": "application/pdf", "data": common::pdf(2_000)},
    });
    for element in elements {
        let files: Vec<Value> = (0..per_element)
            .map(|i| {
                json!({"name": format!("bilag {i}.pdf"), "mime": "application/pdf",
                       "data": sf2900::Base64Binary::encode(&content(uuid, element, i))})
            })
            .collect();
        body[format!("_{element}")] = Value::Array(files);
    }
    body
}

/// Checks that every file of the submission's delivery arrived at the simulator intact, under
/// a name no other file has; returns the names.
async fn arrived_intact(env: &common::Env, uuid: &str) -> Vec<String> {
    let store = &env.fordeler.store;
    let delivery = &store.find(uuid).await.unwrap()[0];
    let attachments: HashMap<String, fordeler::store::Attachment> = store
        .attachments(&delivery.submission_id, |_| false)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let out = sim_out(env);
    let files = store.delivery_files(&delivery.id).await.unwrap();
    assert!(!files.is_empty());
    let mut names = Vec::new();
    for f in files {
        let a = &attachments[&f.attachment_id];
        assert_eq!(
            f.state,
            fordeler::store::FileState::Delivered,
            "{}",
            f.remote_name
        );
        assert!(f.remote_name.len() <= 200, "{}", f.remote_name);
        assert!(f.remote_name.contains(uuid), "{}", f.remote_name);
        let arrived = std::fs::read(out.join(&f.remote_name)).unwrap();
        assert!(
            arrived == content(uuid, &a.element_key, a.idx as usize),
            "{} holds another file's content",
            f.remote_name
        );
        names.push(f.remote_name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_element_keys_keep_every_file_name_unique() {
    let env = common::start(vec![]).await;
    // 300-character keys, alike in their first 299 characters; several submissions.
    let long = "dokumenter_bilag_".repeat(18);
    let keys = [format!("{}1", &long[..299]), format!("{}2", &long[..299])];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let uuids: Vec<String> = (0..3).map(|_| sf2900::Uuid::new_v4().to_string()).collect();
    for uuid in &uuids {
        let (status, answer) = env
            .post("os2forms_fdk_kp_sp241", &formular(uuid, &keys, 2))
            .await;
        assert_eq!(status, 202, "{answer}");
    }
    let mut all = HashSet::new();
    for uuid in &uuids {
        env.wait_for(uuid, &["delivered"], Duration::from_secs(60))
            .await;
        for name in arrived_intact(&env, uuid).await {
            assert!(all.insert(name.clone()), "{name} was used twice");
        }
    }
    assert_eq!(all.len(), uuids.len() * keys.len() * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_files_are_delivered_and_more_than_the_limit_refused() {
    const LIMIT: usize = 5_000;
    let env = common::start_with(vec![], |c| c.server.max_files_per_submission = LIMIT).await;
    let form = "os2forms_fdk_kp_sp241";

    // One over the limit: refused, naming the field and the setting, and nothing is stored.
    let over = sf2900::Uuid::new_v4().to_string();
    let (status, answer) = env.post(form, &formular(&over, &["bilag"], LIMIT)).await;
    assert_eq!(status, 413, "{answer}");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("_bilag:") && message.contains("server.max_files_per_submission"),
        "{message}"
    );
    assert!(env.fordeler.store.find(&over).await.unwrap().is_empty());

    // At the limit (the receipt PDF and 4,999 attachments): stored and delivered, every file
    // intact at the platform. One INSERT for all of them had too many SQL variables.
    let uuid = sf2900::Uuid::new_v4().to_string();
    let (status, answer) = env
        .post(form, &formular(&uuid, &["bilag"], LIMIT - 1))
        .await;
    assert_eq!(status, 202, "{answer}");
    env.wait_for(&uuid, &["delivered"], Duration::from_secs(600))
        .await;
    let names = arrived_intact(&env, &uuid).await;
    assert_eq!(names.len(), LIMIT - 1);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), LIMIT - 1);
}

/// The demo configuration for a local platform, with the host key line changed by `edit`.
fn config_with_host_key(dir: &Path, local: &fordeler::demo::LocalPlatform, line: &str) -> PathBuf {
    let path = local
        .write_config(
            dir,
            &format!("sqlite://{}", dir.join("f.db").display()),
            None,
        )
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let pinned = text
        .lines()
        .find(|l| l.starts_with("host_key_fingerprint"))
        .expect("the demo pins the simulator's key")
        .to_owned();
    std::fs::write(&path, text.replace(&pinned, line)).unwrap();
    path
}

/// Runs the `fordeler` command; whether it accepted the configuration (it succeeded, or it is
/// still serving after a generous while: then it is stopped), and what it printed.
fn run(args: &[&str], config: &Path) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("-c")
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let ended = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (!ended || out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpinned_sftp_host_key_stops_serve_and_check_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let key = fordeler::demo::sim_host_key_fingerprint(&local.pki.dir).unwrap();
    let pin = format!("host_key_fingerprint = \"{key}\"");

    // Not pinned: both refuse, and print the simulator's key as the line to add.
    let unpinned = config_with_host_key(dir.path(), &local, "");
    for command in [&["serve"][..], &["check-config"][..]] {
        let (ok, out) = tokio::task::spawn_blocking({
            let unpinned = unpinned.clone();
            move || run(command, &unpinned)
        })
        .await
        .unwrap();
        assert!(!ok, "{command:?} accepted an unpinned host key: {out}");
        assert!(
            out.contains("not pinned") && out.contains(&pin),
            "{command:?}: {out}"
        );
    }
    assert!(
        local.sim.summary().files == 0,
        "nothing was uploaded to an unverified server"
    );

    // A wrong key: check-config says the key differs; a malformed one is a configuration
    // error naming the key.
    let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let wrong = config_with_host_key(
        dir.path(),
        &local,
        &format!("host_key_fingerprint = \"{other}\""),
    );
    let (ok, out) = tokio::task::spawn_blocking(move || run(&["check-config"], &wrong))
        .await
        .unwrap();
    assert!(!ok && out.contains(&key) && out.contains(other), "{out}");
    let malformed = config_with_host_key(dir.path(), &local, "host_key_fingerprint = \"SHA256:…\"");
    let (ok, out) = tokio::task::spawn_blocking(move || run(&["check-config"], &malformed))
        .await
        .unwrap();
    assert!(
        !ok && out.contains("tenant[0].sftp.host_key_fingerprint: not a host key fingerprint"),
        "{out}"
    );

    // Pinned (as the demo does): the SFTP login is checked and fine.
    let pinned = config_with_host_key(dir.path(), &local, &pin);
    let (_, out) = tokio::task::spawn_blocking(move || run(&["check-config"], &pinned))
        .await
        .unwrap();
    assert!(out.contains("SFTP login ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_id_that_cannot_be_part_of_a_file_name_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let path = local
        .write_config(dir.path(), "sqlite::memory:", None)
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for bad in ["k p", "kp/../x", &"r".repeat(65), ""] {
        std::fs::write(
            &path,
            text.replace("id = \"kp\"", &format!("id = \"{bad}\"")),
        )
        .unwrap();
        let e = fordeler::config::Config::load(&path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("form[0].route[0].id: 1 to 64 of the characters"),
            "{bad:?}: {e}"
        );
    }
}
