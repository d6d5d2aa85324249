//! Agent protocol semantics over HTTP, beyond what the real client exercises: the configuration
//! cascade, jobs without the receipt check, check-in history, and a PC that re-registers after
//! it was deleted.

use crate::common;

use borgerpc_admin::store::config::OwnerKind;
use borgerpc_admin::store::jobs::JobStatus;
use common::Portal;
use serde_json::json;

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn registered(portal: &Portal, site: &str, mac: &str) -> String {
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": mac, "name": "pc-1", "site": site, "configuration": {"admin_url": "http://portal", "hostname": "pc-1"}, "client_key": KEY}),
        )
        .await;
    assert_eq!(s, 200, "{uid}");
    uid.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_cascades_site_then_groups_by_name_then_pc() {
    let portal = Portal::start().await;
    let site = portal.site("K", "site-1").await;
    let uid = registered(&portal, "site-1", "02:00:00:00:00:01").await;
    let pc = portal.activate(&site, &uid).await;
    let (ga, gb) = (
        portal.store.add_group(site.id, "a-gruppe").await.unwrap(),
        portal.store.add_group(site.id, "b-gruppe").await.unwrap(),
    );
    for g in [ga, gb] {
        portal.store.add_group_member(g, pc.id).await.unwrap();
    }
    let s = &portal.store;
    s.set_entry(OwnerKind::Site, site.id, "browser_home", "site")
        .await
        .unwrap();
    s.set_entry(OwnerKind::Site, site.id, "job_timeout", "900")
        .await
        .unwrap();
    s.set_entry(OwnerKind::Group, gb, "browser_home", "b")
        .await
        .unwrap();
    s.set_entry(OwnerKind::Group, ga, "browser_home", "a")
        .await
        .unwrap();
    s.set_entry(OwnerKind::Group, ga, "printer", "a")
        .await
        .unwrap();

    let get = || {
        portal.post(
            "get_instructions",
            json!({"pc_uid": uid, "jobs_received_check": true, "client_key": KEY}),
        )
    };
    let (_, i) = get().await;
    let c = &i["configuration"];
    assert_eq!(c["browser_home"], "b", "groups by name, the later wins");
    assert_eq!(c["printer"], "a");
    assert_eq!(
        (c["mac"].as_str(), c["uid"].as_str()),
        (Some("02:00:00:00:00:01"), Some(uid.as_str()))
    );
    assert_eq!(c["hostname"], "pc-1");

    // The PC's own value wins; pushing the inherited value removes the PC's own entry.
    let push = |v: serde_json::Value| {
        portal.post(
            "push_config_keys",
            json!({"pc_uid": uid, "config_dict": v, "read_only": false, "client_key": KEY}),
        )
    };
    assert_eq!(push(json!({"browser_home": "egen"})).await.0, 200);
    assert_eq!(get().await.1["configuration"]["browser_home"], "egen");
    assert_eq!(
        push(json!({"browser_home": "b", "job_timeout": 900}))
            .await
            .0,
        200
    );
    let conf = portal.store.pc_config(pc.id, site.id).await.unwrap();
    assert!(
        !conf.own.contains_key("browser_home") && !conf.own.contains_key("job_timeout"),
        "{conf:?}"
    );
    // Keys the agent may not change after registration are ignored.
    push(json!({"admin_url": "http://evil"})).await;
    assert_eq!(get().await.1["configuration"]["admin_url"], "http://portal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_receipt_check_jobs_are_submitted_at_once_and_check_ins_are_kept() {
    use borgerpc_admin::store::jobs::{NewScript, RunScript};
    let portal = Portal::start().await;
    let site = portal.site("K", "site-1").await;
    let uid = registered(&portal, "site-1", "02:00:00:00:00:02").await;
    let pc = portal.activate(&site, &uid).await;
    let script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "noop".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\r\ntrue\r\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap();
    let job = portal
        .store
        .run_script(RunScript {
            site_id: site.id,
            script_id: script.script_id,
            pc_ids: &[pc.id],
            params: vec![],
            created_by: "t",
        })
        .await
        .unwrap()
        .job_ids[0];
    let before = service_kit::db::now_ms();
    let (_, i) = portal
        .post(
            "get_instructions",
            json!({"pc_uid": uid, "client_key": KEY}),
        )
        .await;
    assert_eq!(i["jobs"][0]["status"], "SUBMITTED");
    assert_eq!(
        i["jobs"][0]["executable_code"], "#!/bin/sh\ntrue\n",
        "CR stripped"
    );
    // Another PC's report for this job changes nothing; this PC's report does.
    let other = registered(&portal, "site-1", "02:00:00:00:00:03").await;
    portal
        .store
        .set_activated(site.id, &other, true)
        .await
        .unwrap();
    let report = |who: &str| {
        portal.post(
            "send_status_info",
            json!({"pc_uid": who, "job_data": [{"id": job, "status": "DONE", "started": "", "finished": "", "log_output": "ok"}], "client_key": KEY}),
        )
    };
    assert_eq!(report(&other).await.0, 200);
    assert_eq!(
        portal.store.jobs(site.id, None, 5).await.unwrap()[0].status,
        JobStatus::Submitted
    );
    assert_eq!(report(&uid).await.0, 200);
    assert_eq!(
        portal.store.jobs(site.id, None, 5).await.unwrap()[0].status,
        JobStatus::Done
    );

    // The check-in is in the day's history, at its quarter hour.
    portal.wait_seen_after(&uid, before - 1).await;
    let day = before / 86_400_000;
    let (n, quarters) = portal.store.checkin_quarters(pc.id, day).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(quarters, vec![((before % 86_400_000) / 900_000) as u32]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pc_registers_again_with_a_new_key() {
    let portal = Portal::start().await;
    let site = portal.site("K", "site-1").await;
    let uid = registered(&portal, "site-1", "02:00:00:00:00:04").await;
    let (s, msg) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:04", "name": "pc-1", "site": "site-1", "configuration": {}, "client_key": "ff".repeat(32)}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg.as_str().unwrap().contains("same MAC"));
    assert!(portal.store.delete_pc(site.id, &uid).await.unwrap());
    let (s, again) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:04", "name": "pc-1", "site": "site-1", "configuration": {}, "client_key": "ff".repeat(32)}),
        )
        .await;
    assert_eq!(s, 200, "{again}");
    let again = again.as_str().unwrap();
    assert_ne!(again, uid, "a new PC, with a new uid");
    assert_eq!(
        portal.store.pc_identity(again).await.unwrap().unwrap().mac,
        "02:00:00:00:00:04"
    );
}
