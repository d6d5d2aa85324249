//! Legacy 2.x agents: every XML-RPC method, called with Python's own `xmlrpc.client` (as the
//! agents do), through `tests/compat/xmlrpc_driver.py` against the real server. Off by default
//! per site; a PC with a bound client key is never served over it.

use crate::common;

use common::Portal;
use serde_json::{Value, json};
use std::path::Path;

async fn calls(portal: &Portal, calls: Value) -> Vec<Value> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/xmlrpc_driver.py"))
        .arg("--url")
        .arg(format!("{}/admin-xml/", portal.url))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the XML-RPC driver");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(calls.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fault(v: &Value) -> String {
    v["fault"]["string"].as_str().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_agents_register_check_in_and_report_on_sites_that_allow_it() {
    let portal = Portal::start().await;
    let site = portal.site("Gammel Kommune", "legacy-site").await;
    // A second site of the same customer that keeps the protocol off.
    portal.site("Gammel Kommune", "modern-site").await;
    let mac = "aa:bb:cc:00:00:01";

    // Off by default: registration is refused with a reason.
    let r = calls(&portal, json!([{"method": "register_new_computer", "params": [mac, "gammel", "ubuntu", "legacy-site", {"hostname": "gammel"}]}])).await;
    assert!(
        fault(&r[0]).contains("legacy XML-RPC protocol is turned off"),
        "{r:?}"
    );
    portal.store.set_legacy_xmlrpc(site.id, true).await.unwrap();

    let r = calls(
        &portal,
        json!([
            {"method": "register_new_computer", "params": [mac, "gammel", "ubuntu", "legacy-site", {"hostname": "gammel", "admin_url": portal.url, "os2borgerpc_version": "4.0.0"}]},
            {"method": "register_new_computer_v2", "params": ["aa:bb:cc:00:00:02", "gammel2", "modern-site", {}]},
        ]),
    )
    .await;
    let uid = r[0]["result"].as_str().expect("a uid").to_owned();
    let pc = portal
        .store
        .pc_identity(&uid)
        .await
        .unwrap()
        .expect("the PC");
    assert_eq!(pc.mac, mac, "registered under the uid it was given");
    assert!(
        fault(&r[1]).contains("turned off"),
        "the other site still says no: {r:?}"
    );

    // Not activated yet: a fault, nothing changes.
    let r = calls(
        &portal,
        json!([{"method": "get_instructions", "params": [uid]}]),
    )
    .await;
    assert!(fault(&r[0]).contains("not activated"), "{r:?}");
    let pc = portal.activate(&site, &uid).await;
    let script = portal.echo_script(None, "echo").await;
    let job = portal.run_on(&site, script.script_id, pc.id, "æøå").await;
    let problem = portal
        .store
        .add_security_problem(site.id, "sudo", "CRITICAL", script.script_id, &[])
        .await
        .unwrap();

    let r = calls(
        &portal,
        json!([
            {"method": "push_config_keys", "params": [uid, {"_os2borgerpc.client_version": "2.5.0", "job_timeout": 900}]},
            {"method": "push_config_keys", "params": [uid, {"_kernel_version": "6.8"}, true]},
            {"method": "get_instructions", "params": [uid]},
            {"method": "send_status_info_v2", "params": [uid, [{"id": job.to_string(), "status": "DONE", "started": "2026-11-30 10:00:00", "finished": "2026-11-30 10:00:01", "log_output": "æøå\n"}]]},
            {"method": "send_status_info", "params": [uid, null, [{"id": job, "status": "FAILED", "started": "", "finished": "", "log_output": "again"}], [0, 0]]},
            {"method": "push_security_events", "params": [uid, [format!("20261130100000,{problem},sudo brugt\n"), "garbage"]]},
            {"method": "citizen_login", "params": ["u", "p", uid]},
            {"method": "citizen_logout", "params": ["hash"]},
            {"method": "no_such_method", "params": []},
            {"method": "push_config_keys", "params": [uid]},
        ]),
    )
    .await;
    assert_eq!(r[0]["result"], true, "{r:?}");
    assert_eq!(r[1]["result"], true, "{r:?}");
    let instructions = &r[2]["result"];
    assert_eq!(instructions["jobs"][0]["id"], job);
    assert_eq!(
        instructions["jobs"][0]["status"], "SUBMITTED",
        "2.x has no confirm step"
    );
    assert_eq!(instructions["jobs"][0]["parameters"][0]["value"], "æøå");
    assert_eq!(instructions["configuration"]["uid"], uid.as_str());
    assert_eq!(
        instructions["security_scripts"][0]["name"],
        format!("script{}_problem{problem}", script.script_id)
    );
    assert_eq!(
        (r[3]["result"].as_i64(), r[4]["result"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(r[5]["result"], 0);
    assert_eq!(r[6]["result"], json!([0, ""]));
    assert_eq!(r[7]["result"], 0);
    assert!(fault(&r[8]).contains("no method"), "{r:?}");
    assert!(fault(&r[9]).contains("takes 2 to 3 arguments"), "{r:?}");

    let jobs = portal.store.jobs(site.id, None, 10).await.unwrap();
    assert_eq!(
        jobs[0].status,
        borgerpc_admin::store::jobs::JobStatus::Done,
        "the duplicate report changed nothing"
    );
    assert_eq!(jobs[0].log_output.as_deref(), Some("æøå\n"));
    let events = portal
        .store
        .security_events(site.id, None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].summary, "sudo brugt\n");
    let conf = portal.store.pc_config(pc.id, site.id).await.unwrap();
    assert_eq!(
        conf.own.get("_kernel_version"),
        Some(&("6.8".to_owned(), true))
    );
    assert_eq!(
        conf.own.get("job_timeout"),
        Some(&("900".to_owned(), false))
    );

    // A 3.x agent's PC (with a bound key) cannot be spoken for over XML-RPC by its MAC.
    let (status, modern) = portal
        .post(
            "register_new_computer",
            json!({"mac": "aa:bb:cc:00:00:03", "name": "ny", "site": "legacy-site", "configuration": {}, "client_key": "ef".repeat(32)}),
        )
        .await;
    assert_eq!(status, 200);
    let modern = modern.as_str().unwrap();
    portal
        .store
        .set_activated(site.id, modern, true)
        .await
        .unwrap();
    let r = calls(
        &portal,
        json!([{"method": "get_instructions", "params": [modern]}]),
    )
    .await;
    assert!(fault(&r[0]).contains("client key"), "{r:?}");

    // Garbage is a fault, not a 500.
    let resp = reqwest::Client::new()
        .post(format!("{}/admin-xml/", portal.url))
        .body("<methodCall><methodName>x</methodName><params><param><value><int>1x</int></value></param></params></methodCall>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<fault>"));
}
