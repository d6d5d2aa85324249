//! The operator API over real HTTP: what it shows and changes, and tenant isolation — every
//! route in `openapi.json`, called by a user and by an API key of customer A with customer
//! B's ids, answers 404 and changes nothing, while the same call with A's ids works.

mod common;

use borgerpc_admin::store::events::NewEvent;
use borgerpc_admin::store::jobs::ParamValue;
use common::Portal;
use serde_json::{Value, json};

/// One municipality's fixture: a site with an activated PC in a group, a job, an event, a
/// user (site user) and a write API key.
struct Tenant {
    site_uid: String,
    pc_id: i64,
    pc_uid: String,
    pc_name: String,
    group_id: i64,
    job_id: i64,
    event_id: i64,
    policy_id: i64,
    script_id: i64,
    user_token: String,
    key: String,
    read_key: String,
}

async fn tenant(portal: &Portal, name: &str, mac: &str) -> Tenant {
    let site = portal
        .site(name, &format!("site-{}", name.to_lowercase()))
        .await;
    let pc_name = format!("pc-{}", name.to_lowercase());
    let (status, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": mac, "name": pc_name, "site": site.uid, "configuration": {"admin_url": portal.url}, "client_key": "ab".repeat(32)}),
        )
        .await;
    assert_eq!(status, 200, "{uid}");
    let uid = uid.as_str().unwrap().to_owned();
    let pc = portal.activate(&site, &uid).await;
    let group_id = portal.store.add_group(site.id, "Bibliotek").await.unwrap();
    portal
        .store
        .add_group_member(group_id, pc.id)
        .await
        .unwrap();
    let script = portal
        .echo_script(Some(&site), &format!("script of {name}"))
        .await;
    let job_id = portal.run_on(&site, script.script_id, pc.id, "hej").await;
    // Finished, so it can be restarted.
    sqlx::query("UPDATE jobs SET status = 'DONE' WHERE id = $1")
        .bind(job_id)
        .execute(portal.store.pool())
        .await
        .unwrap();
    let problem = portal
        .store
        .add_security_problem(
            site.id,
            &format!("rule of {name}"),
            "HIGH",
            script.script_id,
            &[],
        )
        .await
        .unwrap();
    let event_id = portal
        .store
        .add_security_events(&[NewEvent {
            site_id: site.id,
            pc_id: pc.id,
            problem_id: problem,
            occurred_at: service_kit::db::now_ms(),
            occurred_text: "20261130120000",
            summary: &format!("event of {name}"),
        }])
        .await
        .unwrap()[0];
    let policy_id = portal
        .store
        .add_policy(
            &[site.id],
            group_id,
            script.script_id,
            &[ParamValue::Text("politik".into())],
            "test",
        )
        .await
        .unwrap()
        .unwrap()
        .policy_id;
    let username = format!("user-{}", name.to_lowercase());
    let user = portal
        .store
        .add_user(&username, "", "a long enough password", false)
        .await
        .unwrap();
    portal
        .store
        .add_membership(user.id, "site_user", None, Some(site.id))
        .await
        .unwrap();
    let login = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": username, "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let user_token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        site_uid: site.uid.clone(),
        pc_id: pc.id,
        pc_uid: uid.clone(),
        pc_name,
        group_id,
        job_id,
        event_id,
        policy_id,
        script_id: script.script_id,
        user_token,
        key: portal
            .store
            .add_api_key(site.id, "test", true)
            .await
            .unwrap(),
        read_key: portal
            .store
            .add_api_key(site.id, "bi", false)
            .await
            .unwrap(),
    }
}

async fn call(
    portal: &Portal,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = reqwest::Client::new();
    let url = format!("{}{path}", portal.url);
    let mut req = match method {
        "get" => c.get(url),
        "post" => c.post(url),
        "patch" => c.patch(url),
        other => panic!("method {other}"),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The concrete request for a documented route, aimed at `t`'s rows.
fn request_for(path: &str, method: &str, t: &Tenant) -> (String, Option<Value>) {
    let id = if path.contains("/job/") {
        t.job_id
    } else if path.contains("/group/") {
        t.group_id
    } else if path.contains("/policy/") {
        t.policy_id
    } else if path.contains("/event/") {
        t.event_id
    } else {
        t.pc_id
    };
    let concrete = path.replace("{id}", &id.to_string());
    let body = match (path, method) {
        ("/api/system/pc/{id}/activate", "post") => Some(json!({"is_activated": false})),
        ("/api/system/pcs/activate", "post") => {
            Some(json!({"uids": [t.pc_uid], "is_activated": false}))
        }
        ("/api/system/jobs", "post") => Some(
            json!({"script_id": t.script_id, "pcs": [t.pc_id], "groups": [t.group_id], "parameters": ["x"]}),
        ),
        ("/api/system/group/{id}/members", "post") => Some(json!({"pc_id": t.pc_id})),
        ("/api/system/group/{id}/policies", "post") => {
            Some(json!({"script_id": t.script_id, "parameters": ["x"]}))
        }
        ("/api/system/policy/{id}", "patch") => Some(json!({"parameters": ["y"]})),
        ("/api/system/event/{id}", "patch") => {
            Some(json!({"status": "RESOLVED", "note": "handled"}))
        }
        _ => None,
    };
    let concrete = if path == "/api/system/scripts" {
        format!("{concrete}?site={}", t.site_uid)
    } else if path == "/api/system/events" {
        format!("{concrete}?status=ALL")
    } else {
        concrete
    };
    (concrete, body)
}

/// What of B must never show up in A's answers.
fn leaks(body: &Value, b: &Tenant) -> bool {
    let text = body.to_string();
    text.contains(&b.pc_name)
        || text.contains(&b.site_uid)
        || text.contains("event of B")
        || text.contains("script of B")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_customer_b_can_be_read_or_changed_by_customer_a() {
    let portal = Portal::start().await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let b = tenant(&portal, "B", "02:00:00:00:00:0b").await;
    let doc: Value = serde_json::from_str(borgerpc_admin::api::OPENAPI).unwrap();
    let snapshot = |portal: &Portal| {
        let pool = portal.store.pool().clone();
        async move {
            let q = "SELECT (SELECT COUNT(*) FROM jobs) + (SELECT COUNT(*) FROM batches) * 1000
                       + (SELECT COUNT(*) FROM pcs WHERE is_activated = 1) * 1000000
                       + (SELECT COUNT(*) FROM security_events WHERE status = 'NEW') * 100000000";
            sqlx::query_scalar::<_, i64>(q)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut routes = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/api/auth") || path == "/api/openapi.json" {
            continue;
        }
        for method in methods.as_object().unwrap().keys() {
            routes += 1;
            for (who, token) in [("user", &a.user_token), ("key", &a.key)] {
                let has_id = path.contains("{id}");
                // Aimed at B: not found (or, for lists, nothing of B), and nothing changes.
                let before = snapshot(&portal).await;
                let (url, body) = request_for(path, method, &b);
                let (status, reply) = call(&portal, token, method, &url, body).await;
                let writes = *method != "get";
                if has_id || writes {
                    assert_eq!(status, 404, "{who} {method} {url}: {reply}");
                } else if url.contains("site=") {
                    assert_eq!(status, 404, "{who} {method} {url} (B's site): {reply}");
                } else {
                    assert_eq!(status, 200, "{who} {method} {url}: {reply}");
                }
                assert!(!leaks(&reply, &b), "{who} {method} {url} shows B: {reply}");
                assert_eq!(
                    snapshot(&portal).await,
                    before,
                    "{who} {method} {url} changed something"
                );
                // Aimed at A: it works, so the 404 above means something.
                let (url, body) = request_for(path, method, &a);
                let (status, reply) = call(&portal, token, method, &url, body.clone()).await;
                assert!(
                    (200..300).contains(&status),
                    "{who} {method} {url}: {status} {reply}"
                );
                assert!(!leaks(&reply, &b), "{who} {method} {url} shows B: {reply}");
                if path.ends_with("/restart") {
                    // Finish A's job again for the next caller.
                    sqlx::query("UPDATE jobs SET status = 'DONE' WHERE id = $1")
                        .bind(a.job_id)
                        .execute(portal.store.pool())
                        .await
                        .unwrap();
                }
                if *method == "post" && path.ends_with("/activate") {
                    // Put A's PC back for the next caller.
                    let mut again = body.expect("activation has a body");
                    again["is_activated"] = json!(true);
                    let (s, r) = call(&portal, token, "post", &url, Some(again)).await;
                    assert_eq!(s, 200, "{r}");
                }
            }
        }
    }
    assert!(routes >= 14, "walked {routes} routes");
    // Bulk activation is all or none: one foreign uid among A's own changes nothing and is
    // reported like an unknown one.
    let before = snapshot(&portal).await;
    let (s, r) = call(
        &portal,
        &a.key,
        "post",
        "/api/system/pcs/activate",
        Some(json!({"uids": [a.pc_uid, b.pc_uid], "is_activated": false})),
    )
    .await;
    assert_eq!(s, 404, "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains(&b.pc_uid) && !detail.contains(&a.pc_uid),
        "{detail}"
    );
    assert_eq!(
        snapshot(&portal).await,
        before,
        "a refused bulk call changed something"
    );
    let (s, r) = call(
        &portal,
        &a.key,
        "post",
        "/api/system/pcs/activate",
        Some(json!({"uids": [], "is_activated": false})),
    )
    .await;
    assert_eq!(
        (s, r["detail"].as_str().unwrap_or("").starts_with("uids:")),
        (422, true),
        "{r}"
    );
    // A read-only key reads, but may not write.
    let (s, _) = call(&portal, &a.read_key, "get", "/api/system/computers", None).await;
    assert_eq!(s, 200);
    let (s, r) = call(
        &portal,
        &a.read_key,
        "post",
        &format!("/api/system/pc/{}/activate", a.pc_id),
        Some(json!({"is_activated": false})),
    )
    .await;
    assert_eq!(s, 403, "{r}");
    // No token, a wrong token: 401.
    let (s, _) = call(&portal, "bpk_nope", "get", "/api/system/computers", None).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_run_activate_and_handle_events() {
    let portal = Portal::start().await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let (s, pcs) = call(&portal, &a.key, "get", "/api/system/computers", None).await;
    assert_eq!(s, 200);
    assert_eq!(pcs["count"], 1);
    assert_eq!(pcs["items"][0]["name"], a.pc_name);
    assert_eq!(pcs["items"][0]["pc_groups"], json!([a.group_id]));
    let (s, conf) = call(
        &portal,
        &a.key,
        "get",
        &format!("/api/system/configuration/{}", a.pc_id),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        conf.as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "admin_url")
    );
    // Run on a group: one new job.
    let (s, batch) = call(
        &portal,
        &a.user_token,
        "post",
        "/api/system/jobs",
        Some(json!({"script_id": a.script_id, "groups": [a.group_id], "parameters": ["ord"]})),
    )
    .await;
    assert_eq!(s, 201, "{batch}");
    assert_eq!(batch["job_ids"].as_array().unwrap().len(), 1);
    // Bad input names the field.
    for (body, field) in [
        (
            json!({"script_id": a.script_id, "pcs": [a.pc_id], "parameters": []}),
            "parameters",
        ),
        (json!({"script_id": "x", "pcs": [a.pc_id]}), "script_id"),
        (
            json!({"script_id": a.script_id, "pcs": [a.pc_id], "parameters": ["x"], "extra": 1}),
            "extra",
        ),
        (json!({"script_id": a.script_id}), "pcs"),
    ] {
        let (s, r) = call(&portal, &a.key, "post", "/api/system/jobs", Some(body)).await;
        assert_eq!(s, 422, "{r}");
        assert!(
            r["detail"].as_str().unwrap().contains(field),
            "{field}: {r}"
        );
    }
    let (s, r) = call(
        &portal,
        &a.key,
        "get",
        "/api/system/jobs?from_date=30-11-2026",
        None,
    )
    .await;
    assert_eq!(
        (s, r["detail"].as_str().unwrap().contains("from_date")),
        (422, true),
        "{r}"
    );
    // Handle the event.
    let (s, e) = call(
        &portal,
        &a.user_token,
        "patch",
        &format!("/api/system/event/{}", a.event_id),
        Some(json!({"status": "resolved", "note": "printer cable"})),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        (e["status"].as_str(), e["note"].as_str()),
        (Some("RESOLVED"), Some("printer cable"))
    );
    let (_, new_events) = call(&portal, &a.key, "get", "/api/system/events", None).await;
    assert_eq!(new_events["count"], 0, "the default lists NEW events only");
    // Restart a finished job: a new NEW job with the same parameters; the old one RESOLVED.
    let restart = format!("/api/system/job/{}/restart", a.job_id);
    let (s, r) = call(&portal, &a.key, "post", &restart, None).await;
    assert_eq!(s, 201, "{r}");
    let new_job = r["job_id"].as_i64().unwrap();
    let (_, old) = call(
        &portal,
        &a.key,
        "get",
        &format!("/api/system/job/{}", a.job_id),
        None,
    )
    .await;
    assert_eq!(old["status"], "RESOLVED");
    let (_, new) = call(
        &portal,
        &a.key,
        "get",
        &format!("/api/system/job/{new_job}"),
        None,
    )
    .await;
    assert_eq!(new["status"], "NEW");
    assert_eq!(call(&portal, &a.key, "post", &restart, None).await.0, 409);
    // Deactivate: the PC's next call is refused.
    let (s, pc) = call(
        &portal,
        &a.key,
        "post",
        &format!("/api/system/pc/{}/activate", a.pc_id),
        Some(json!({"is_activated": false})),
    )
    .await;
    assert_eq!((s, pc["is_activated"].as_bool()), (200, Some(false)));
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(
        audit, 4,
        "run, event, restart, deactivate are in the audit log"
    );
    // The OpenAPI document is served and parses.
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", portal.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_policies_run_on_join_when_added_and_when_changed() {
    let portal = Portal::start().await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:1a", "name": "pc-two", "site": a.site_uid, "configuration": {}, "client_key": "cd".repeat(32)}),
        )
        .await;
    assert_eq!(s, 200);
    let pc2 = portal
        .store
        .pc_identity(uid.as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let members = format!("/api/system/group/{}/members", a.group_id);

    // Joining runs the group's existing policy on the newcomer only.
    let (s, joined) = call(
        &portal,
        &a.key,
        "post",
        &members,
        Some(json!({"pc_id": pc2.id})),
    )
    .await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(joined["policies"][0]["policy_id"], a.policy_id);
    assert_eq!(
        joined["policies"][0]["job_ids"].as_array().unwrap().len(),
        1
    );
    let (_, again) = call(
        &portal,
        &a.key,
        "post",
        &members,
        Some(json!({"pc_id": pc2.id})),
    )
    .await;
    assert_eq!(
        again["policies"],
        json!([]),
        "already a member: nothing runs again"
    );

    // A new policy runs on both members; changing its parameters reruns it.
    let (s, added) = call(
        &portal,
        &a.key,
        "post",
        &format!("/api/system/group/{}/policies", a.group_id),
        Some(json!({"script_id": a.script_id, "parameters": ["ny"]})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["job_ids"].as_array().unwrap().len(), 2);
    let policy = added["policy_id"].as_i64().unwrap();
    let (s, changed) = call(
        &portal,
        &a.key,
        "patch",
        &format!("/api/system/policy/{policy}"),
        Some(json!({"parameters": ["ændret"]})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["job_ids"].as_array().unwrap().len(), 2);
    let jobs = portal.store.pending_jobs(pc2.id).await.unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| j.params[0].string_value.as_str())
            .collect::<Vec<_>>(),
        ["politik", "ny", "ændret"],
        "the newcomer got every policy, in order, with the parameters of the time"
    );
    let (s, r) = call(
        &portal,
        &a.key,
        "patch",
        &format!("/api/system/policy/{policy}"),
        Some(json!({"parameters": []})),
    )
    .await;
    assert_eq!(s, 422);
    assert!(r["detail"].as_str().unwrap().contains("parameters"), "{r}");
}
