//! Security scripts run on PCs through security rules, hidden scripts only through the
//! portal's own features (wake plans): neither is run as a job an operator starts, through
//! the API (jobs or group policies), as upstream refuses them.

use crate::common;

use borgerpc_admin::store::jobs::NewScript;
use common::Portal;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_and_hidden_scripts_are_not_run_as_jobs() {
    let portal = Portal::start().await;
    let site = portal.site("K", "bibliotek").await;
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:50:01", "name": "pc-1", "site": "bibliotek", "configuration": {}, "client_key": "ab".repeat(32)}),
        )
        .await;
    assert_eq!(s, 200, "{uid}");
    let pc = portal.activate(&site, uid.as_str().unwrap()).await;
    let group = portal.store.add_group(site.id, "Udlån").await.unwrap();
    portal.store.add_group_member(group, pc.id).await.unwrap();
    let key = portal.store.add_api_key(site.id, "it", true).await.unwrap();
    let script = |name: &str, is_security: bool, is_hidden: bool| NewScript {
        site_id: Some(site.id),
        uid: None,
        name: name.into(),
        description: String::new(),
        category: None,
        is_security,
        is_hidden,
        version: 1,
        code: "#!/bin/sh\necho hi\n".into(),
        inputs: vec![],
    };
    let security = portal
        .store
        .save_script(&script("detect sudo", true, false))
        .await
        .unwrap();
    let hidden = portal
        .store
        .save_script(&script("wake_plan_set", false, true))
        .await
        .unwrap();
    let plain = portal
        .store
        .save_script(&script("hello", false, false))
        .await
        .unwrap();
    let post = |path: String, body: Value| {
        let (url, key) = (portal.url.clone(), key.clone());
        async move {
            let r = reqwest::Client::new()
                .post(format!("{url}{path}"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    for (id, why) in [
        (security.script_id, "is a security script"),
        (hidden.script_id, "is a hidden script"),
    ] {
        let (s, body) = post(
            "/api/system/jobs".into(),
            json!({"script_id": id, "pcs": [pc.id]}),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
        let (s, body) = post(
            format!("/api/system/group/{group}/policies"),
            json!({"script_id": id}),
        )
        .await;
        assert_eq!(s, 422, "as a group policy: {body}");
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    let policies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM associated_scripts")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!((jobs, policies), (0, 0), "nothing was made");
    let (s, body) = post(
        "/api/system/jobs".into(),
        json!({"script_id": plain.script_id, "pcs": [pc.id]}),
    )
    .await;
    assert_eq!(s, 201, "an ordinary script runs: {body}");
}
