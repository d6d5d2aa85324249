//! The real agent, unmodified: `os2borgerpc-client==3.2.0` from PyPI registers with the portal
//! and checks in, run by `tests/compat/client_driver.py` (non-root: every path of the client
//! under a temp dir), and every item of the compatibility scenario is checked — on the
//! requests the client made, in the portal's database and in the client's own files.

use crate::common;

use common::Portal;
use serde_json::Value;
use sha2::Digest as _;
use std::path::{Path, PathBuf};

pub(crate) const MAC: &str = "aa:bb:cc:dd:ee:ff";

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

/// The venv with the real client and openpyxl (made once by `setup_venv.sh`; `.ci/run` makes
/// it first).
pub(crate) async fn venv_python() -> PathBuf {
    let venv = std::env::var_os("BPC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bpc-venv"));
    let out = tokio::process::Command::new("bash")
        .arg(compat_dir().join("setup_venv.sh"))
        .arg(&venv)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "installing os2borgerpc-client 3.2.0 and openpyxl 3.1.5 into {} \
         (`bash crates/borgerpc-admin/tests/compat/setup_venv.sh target/bpc-venv`, as .ci/run \
         does; needs python3-venv and PyPI): {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    venv.join("bin/python")
}

pub(crate) struct Agent {
    pub(crate) python: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) log: PathBuf,
}

pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Agent {
    pub(crate) async fn run(&self, args: &[&str]) -> Outcome {
        let out = tokio::process::Command::new(&self.python)
            .arg(compat_dir().join("client_driver.py"))
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(args)
            .output()
            .await
            .unwrap();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The requests logged since line `from`.
    fn requests(&self, from: usize) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .skip(from)
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &Value| v["kind"] != "sethostname")
            .collect()
    }

    fn request_count(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    fn security(&self, file: &str) -> PathBuf {
        self.root.join("etc/os2borgerpc/security").join(file)
    }

    pub(crate) async fn local_config(&self) -> Value {
        let out = self.run(&["get-config"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    }
}

fn endpoint(r: &Value) -> String {
    match r["kind"].as_str() {
        Some("get") => "GET".into(),
        _ => r["endpoint"].as_str().unwrap_or("?").to_owned(),
    }
}

async fn pc_entry(portal: &Portal, key: &str) -> Option<(String, bool)> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT c.entry_value, c.read_only FROM config_entries c JOIN pcs p ON p.id = c.owner_id
         WHERE c.owner_kind = 'pc' AND p.mac = $1 AND c.entry_key = $2",
    )
    .bind(MAC)
    .bind(key)
    .fetch_optional(portal.store.pool())
    .await
    .unwrap();
    row.map(|(v, ro)| (v, ro != 0))
}

const JOB_CODE: &str =
    "#!/bin/bash\necho \"args: $1 | $(cat $2) | $3\"\nprintf 'ctrl:\\x07end\\n'\n";
const SECURITY_CODE: &str = "#!/bin/bash\necho \"$(date +%Y%m%d%H%M%S),%SECURITY_PROBLEM_UID%,test event\" >> \"${BPC_ROOT}/etc/os2borgerpc/security/securityevent.csv\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_agent_registers_checks_in_runs_jobs_and_reports_events() {
    use borgerpc_admin::store::jobs::{NewInput, NewScript, ParamValue, RunScript};
    let python = venv_python().await;
    let portal = Portal::start().await;
    let site = portal.site("Testkommune", "testsite").await;
    let root = portal.dir.path().join("agent");
    std::fs::create_dir_all(&root).unwrap();
    let agent = Agent {
        python,
        log: portal.dir.path().join("requests.jsonl"),
        root,
    };
    assert_eq!(
        agent
            .run(&["set-config", "admin_url", &portal.url])
            .await
            .code,
        0
    );
    assert_eq!(
        agent
            .run(&["set-config", "os2borgerpc_version", "5.0.0"])
            .await
            .code,
        0
    );

    // 1. Registration.
    let reg = agent.run(&["register", "testpc", "testsite", MAC]).await;
    assert_eq!(reg.code, 0, "register: {} {}", reg.stdout, reg.stderr);
    let body = agent.requests(0)[0]["body"].clone();
    assert_eq!(agent.requests(0)[0]["endpoint"], "register_new_computer");
    assert_eq!(
        (
            body["mac"].as_str(),
            body["name"].as_str(),
            body["site"].as_str()
        ),
        (Some(MAC), Some("testpc"), Some("testsite"))
    );
    for k in ["admin_url", "hostname", "os2borgerpc_version"] {
        assert!(
            body["configuration"].get(k).is_some(),
            "configuration has {k}"
        );
    }
    let key_file = agent.root.join("etc/os2borgerpc/client-key.key");
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(body["client_key"].as_str(), Some(key.as_str()));
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
    let uid = agent.local_config().await["uid"]
        .as_str()
        .expect("the agent keeps the uid it was given")
        .to_owned();
    let pc = portal
        .store
        .pc_identity(&uid)
        .await
        .unwrap()
        .expect("the PC, under the uid the agent keeps");
    assert_eq!((pc.mac.as_str(), uid.len()), (MAC, 32));
    assert_eq!(
        pc.client_key_hash,
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    );
    assert!(!pc.is_activated);
    assert_eq!(
        pc_entry(&portal, "os2_product").await.unwrap().0,
        "os2borgerpc"
    );
    assert_eq!(pc_entry(&portal, "admin_url").await.unwrap().0, portal.url);

    // A second registration of the same MAC is refused, and the agent says why.
    let again = agent.run(&["register", "testpc", "testsite", MAC]).await;
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains("Error: \"A computer with the same MAC"),
        "{}",
        again.stderr
    );

    // Not activated: the first call is refused and the run stops (rc 1) after one request.
    let before = agent.request_count();
    let refused = agent.run(&["checkin"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let reqs = agent.requests(before);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (endpoint(&reqs[0]).as_str(), reqs[0]["status"].as_u64()),
        ("push_config_keys", Some(400))
    );
    assert!(
        pc_entry(&portal, "job_timeout").await.is_none(),
        "a refused call changes nothing"
    );

    // 2. Activate, give it a job and a security rule.
    assert!(
        portal
            .store
            .set_activated(site.id, &uid, true)
            .await
            .unwrap()
    );
    let script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "compat job".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: JOB_CODE.into(),
            inputs: vec![
                NewInput {
                    name: "greeting".into(),
                    value_type: "STRING".into(),
                    default_value: None,
                    mandatory: true,
                },
                NewInput {
                    name: "file".into(),
                    value_type: "FILE".into(),
                    default_value: None,
                    mandatory: true,
                },
                NewInput {
                    name: "secret".into(),
                    value_type: "PASSWORD".into(),
                    default_value: None,
                    mandatory: true,
                },
            ],
        })
        .await
        .unwrap();
    let batch = portal
        .store
        .run_script(RunScript {
            site_id: site.id,
            script_id: script.script_id,
            pc_ids: &[pc.id],
            params: vec![
                ParamValue::Text("hello world".into()),
                ParamValue::File {
                    name: "file.txt".into(),
                    data: b"FILE-CONTENT".to_vec(),
                },
                ParamValue::Text("s3cret".into()),
            ],
            created_by: "test",
        })
        .await
        .unwrap();
    let job_id = batch.job_ids[0];
    let sec = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "detect test event".into(),
            description: String::new(),
            category: Some("Sikkerhed".into()),
            is_security: true,
            is_hidden: false,
            version: 1,
            code: SECURITY_CODE.into(),
            inputs: vec![],
        })
        .await
        .unwrap();
    let problem = portal
        .store
        .add_security_problem(site.id, "test rule", "HIGH", sec.script_id, &[])
        .await
        .unwrap();
    std::fs::create_dir_all(agent.security("")).unwrap();
    std::fs::write(agent.security("lastcheck.txt"), "20200101000000").unwrap();

    // 3. The first real check-in.
    let before = agent.request_count();
    let started = service_kit::db::now_ms();
    let run1 = agent.run(&["checkin"]).await;
    assert_eq!(run1.code, 0, "checkin: {}\n{}", run1.stdout, run1.stderr);
    let reqs = agent.requests(before);
    let order: Vec<String> = reqs.iter().map(endpoint).collect();
    assert_eq!(
        order,
        [
            "push_config_keys",
            "push_config_keys",
            "get_instructions",
            "confirm_jobs_receipt",
            "GET",
            "send_status_info",
            "send_status_info",
            "push_security_events"
        ],
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| r["status"] == 200), "{reqs:#?}");
    assert_eq!(
        reqs[0]["body"]["config_dict"],
        serde_json::json!({"job_timeout": 900})
    );
    let pushed = &reqs[1]["body"];
    assert_eq!(pushed["read_only"], true);
    assert_eq!(
        pushed["config_dict"]["_os2borgerpc.client_version"],
        "3.2.0"
    );
    for k in [
        "_ip_addresses",
        "_kernel_version",
        "_last_automatic_update_time",
    ] {
        assert!(pushed["config_dict"].get(k).is_some(), "{k} pushed");
    }
    assert_eq!(reqs[2]["body"]["jobs_received_check"], true);
    assert_eq!(reqs[3]["body"]["job_ids"], serde_json::json!([job_id]));
    assert_eq!(
        reqs[5]["body"]["job_data"][0]["id"],
        job_id.to_string(),
        "the id comes back as a string"
    );
    assert_eq!(
        reqs[5]["body"], reqs[6]["body"],
        "the just-run job is reported twice"
    );

    // The job ran with its file and a hidden password, and its log was stored once.
    let (status, started_at, finished_at, log): (String, Option<String>, Option<String>, String) =
        sqlx::query_as("SELECT status, started, finished, log_output FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(status, "DONE");
    assert!(started_at.is_some() && finished_at.is_some());
    assert!(log.starts_with(&format!(">>> Starting process '{}/var/lib/os2borgerpc/jobs/{job_id}/executable' with arguments [hello world, ", agent.root.display())), "{log}");
    assert!(log.contains("/attachments/1_file.txt, *****]"), "{log}");
    assert!(
        log.contains("FILE-CONTENT") && log.contains("ctrl:end") && !log.contains("s3cret"),
        "{log}"
    );
    assert!(
        log.contains(">>> Succeeded at ") && log.ends_with('\n'),
        "{log}"
    );

    // The file's URL died with the job.
    let file_url = reqs[4]["url"].as_str().unwrap().to_owned();
    assert!(file_url.contains("/media/jobs/") && !file_url.contains("file_id"));
    assert_eq!(reqwest::get(&file_url).await.unwrap().status(), 404);

    // What the agent reports about itself is stored, read-only.
    assert_eq!(
        pc_entry(&portal, "_os2borgerpc.client_version").await,
        Some(("3.2.0".into(), true))
    );
    assert!(pc_entry(&portal, "_ip_addresses").await.is_some());
    assert!(pc_entry(&portal, "_kernel_version").await.is_some());
    assert_eq!(
        pc_entry(&portal, "job_timeout").await,
        Some(("900".into(), true))
    );
    let local = agent.local_config().await;
    assert_eq!(
        (local["mac"].as_str(), local["uid"].as_str()),
        (Some(MAC), Some(uid.as_str()))
    );
    assert_eq!(local["job_timeout"], "900");
    assert_eq!(local["admin_url"].as_str(), Some(portal.url.as_str()));

    // The security event arrived whole, and the agent moved on.
    let events = portal
        .store
        .security_events(site.id, None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].rule_id, events[0].summary.as_str()),
        (problem, "test event\n")
    );
    assert!(!agent.security("securityevent.csv").exists());
    assert_ne!(
        std::fs::read_to_string(agent.security("lastcheck.txt"))
            .unwrap()
            .trim(),
        "20200101000000"
    );
    let seen = portal.wait_seen_after(&uid, started - 1).await;

    // 4. An idle second run: empty confirm, two empty reports, last_seen moves.
    let before = agent.request_count();
    let run2 = agent.run(&["checkin"]).await;
    assert_eq!(run2.code, 0, "{}\n{}", run2.stdout, run2.stderr);
    let reqs = agent.requests(before);
    let confirm = reqs
        .iter()
        .find(|r| r["endpoint"] == "confirm_jobs_receipt")
        .unwrap();
    assert_eq!(confirm["body"]["job_ids"], serde_json::json!([]));
    let reports: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["endpoint"] == "send_status_info")
        .collect();
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|r| r["body"]["job_data"] == serde_json::json!([]))
    );
    portal.wait_seen_after(&uid, seen).await;

    // 5. Another key in the key file: refused at the first call, rc 1, nothing changed.
    std::fs::write(&key_file, "cd".repeat(32)).unwrap();
    let before = agent.request_count();
    let stolen = agent.run(&["checkin"]).await;
    assert_eq!(stolen.code, 1);
    let reqs = agent.requests(before);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["status"], 400);
    assert!(reqs[0]["response"].as_str().unwrap().contains("client_key"));
    std::fs::write(&key_file, &key).unwrap();

    // 6. The portal is down: the agent says so and exits 0 (job_timeout is in its config).
    portal.running.shutdown().await;
    let down = agent.run(&["checkin"]).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(
        down.stdout.contains("Network error, exiting"),
        "{}",
        down.stdout
    );
}

/// The real agent with the identity rules: a site that wants its registration token gets it
/// typed as `<site uid>+<token>` where the agent asks for the site, and a PC the portal knows
/// without a key (moved from an older portal) is not served with the key it sends until an
/// operator approves that key by the fingerprint `sha256sum` shows on the PC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_agent_registers_with_a_site_token_and_waits_for_its_key_to_be_approved() {
    use borgerpc_admin::store::pcs::{NewPc, PcRef};
    let python = venv_python().await;
    let portal = Portal::start().await;
    let site = portal.site("Testkommune", "testsite").await;
    let token = portal
        .store
        .set_registration_token(site.id, true)
        .await
        .unwrap()
        .unwrap();
    let agent = |name: &str| {
        let root = portal.dir.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        Agent {
            python: python.clone(),
            log: portal.dir.path().join(format!("{name}.jsonl")),
            root,
        }
    };
    let a = agent("with-token");
    assert_eq!(
        a.run(&["set-config", "admin_url", &portal.url]).await.code,
        0
    );
    let refused = a.run(&["register", "pc-a", "testsite", MAC]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("registration token")
            && refused.stderr.contains("testsite+<token>"),
        "{}",
        refused.stderr
    );
    let typed = format!("testsite+{token}");
    let ok = a.run(&["register", "pc-a", &typed, MAC]).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let uid = a.local_config().await["uid"].as_str().unwrap().to_owned();
    assert!(portal.store.pc_identity(&uid).await.unwrap().is_some());

    // A PC from an older portal: known by its uid, no key.
    let b = agent("moved");
    let old_uid = "0123456789abcdef0123456789abcdef";
    portal
        .store
        .insert_pc(NewPc {
            site_id: site.id,
            uid: old_uid,
            mac: "aa:bb:cc:dd:ee:01",
            name: "moved",
            client_key_hash: "",
            entries: vec![],
        })
        .await
        .unwrap()
        .unwrap();
    portal.activate(&site, old_uid).await;
    for (k, v) in [("admin_url", portal.url.as_str()), ("uid", old_uid)] {
        assert_eq!(b.run(&["set-config", k, v]).await.code, 0);
    }
    let waiting = b.run(&["checkin"]).await;
    assert_eq!(waiting.code, 1, "{}", waiting.stdout);
    let key_file = b.root.join("etc/os2borgerpc/client-key.key");
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    let fingerprint = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let reqs = b.requests(0);
    let response = reqs[0]["response"].as_str().unwrap();
    assert!(
        response.contains("approved by an administrator") && response.contains(&fingerprint[..16]),
        "{response}"
    );
    let pc = portal.store.pc_identity(old_uid).await.unwrap().unwrap();
    assert_eq!(pc.client_key_hash, "", "the key is not bound by the call");
    assert_eq!(pc.pending_key_hash, fingerprint);
    // What the older portal had of it: its address and host name, which the agent keeps.
    let hostname = b.local_config().await["hostname"]
        .as_str()
        .unwrap()
        .to_owned();
    for (k, v) in [
        ("hostname", hostname.as_str()),
        ("admin_url", portal.url.as_str()),
    ] {
        portal
            .store
            .set_entry(borgerpc_admin::store::config::OwnerKind::Pc, pc.id, k, v)
            .await
            .unwrap();
    }
    portal
        .store
        .approve_client_key(&[site.id], PcRef::Uid(old_uid), &fingerprint[..16])
        .await
        .unwrap()
        .unwrap();
    let served = b.run(&["checkin"]).await;
    assert_eq!(served.code, 0, "{}\n{}", served.stdout, served.stderr);
    assert!(b.requests(0).iter().skip(1).all(|r| r["status"] == 200));
}
