//! Bad input on every client-api endpoint — not JSON, not UTF-8, the wrong shape, wrong types,
//! missing fields, a huge body, an unknown PC, a wrong key — gets a 4xx with a message that
//! says what is wrong, never a 500, and changes nothing in the database.

use crate::common;

use borgerpc_proto::client_api::ENDPOINTS;
use common::Portal;
use serde_json::{Value, json};

/// A valid body for each endpoint, for a PC `uid` with `key`.
fn valid(endpoint: &str, uid: &str, key: &str) -> Value {
    match endpoint {
        "register_new_computer" => {
            json!({"mac": "02:00:00:00:09:09", "name": "ny-pc", "site": "site-x", "configuration": {}, "client_key": key})
        }
        "push_config_keys" => json!({"pc_uid": uid, "config_dict": {"a": "b"}, "client_key": key}),
        "get_instructions" => json!({"pc_uid": uid, "client_key": key}),
        "confirm_jobs_receipt" => json!({"pc_uid": uid, "job_ids": [], "client_key": key}),
        "send_status_info" => json!({"pc_uid": uid, "job_data": [], "client_key": key}),
        "push_security_events" => json!({"pc_uid": uid, "events_csv": [], "client_key": key}),
        "citizen_login" => {
            json!({"username": "u", "password": "p", "pc_uid": uid, "client_key": key})
        }
        "general_citizen_login" => {
            json!({"pc_uid": uid, "integration": "quria", "value_dict": {}, "client_key": key})
        }
        "sms_login" => {
            json!({"phone_number": "1", "message": "m", "pc_uid": uid, "client_key": key})
        }
        "sms_login_finalize" => json!({"phone_number": "1", "pc_uid": uid, "client_key": key}),
        "citizen_logout" => json!({"citizen_hash": "h"}),
        "general_citizen_logout" | "sms_logout" => json!({"citizen_hash": "h", "log_id": 1}),
        other => panic!("no valid body for {other}"),
    }
}

async fn raw(portal: &Portal, endpoint: &str, body: Vec<u8>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/client-api/{endpoint}", portal.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn snapshot(portal: &Portal) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "pcs",
        "config_entries",
        "jobs WHERE status = 'NEW'",
        "security_events",
        "checkin_days",
    ] {
        out.push(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(portal.store.pool())
            .await
            .unwrap(),
        );
    }
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE client_key_hash <> ''")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    out.push(keys);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_bad_input_clearly_and_changes_nothing() {
    let portal = Portal::start().await;
    portal.site("X", "site-x").await;
    let key = "ab".repeat(32);
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:01", "name": "pc", "site": "site-x", "configuration": {"admin_url": "x"}, "client_key": key}),
        )
        .await;
    assert_eq!(s, 200);
    let uid = uid.as_str().unwrap().to_owned();
    let site = portal.store.site_by_uid("site-x").await.unwrap().unwrap();
    portal
        .store
        .set_activated(site.id, &uid, true)
        .await
        .unwrap();
    // Nothing has checked in yet (registration is no check-in), so no heartbeat is queued and
    // the snapshot is stable at once.
    let before = snapshot(&portal).await;
    let mut cases = 0;

    for endpoint in ENDPOINTS {
        let good = valid(endpoint, &uid, &key);
        let mut bodies: Vec<(String, Vec<u8>)> = vec![
            ("not JSON".into(), b"{\"pc_uid\": ".to_vec()),
            ("not UTF-8".into(), b"{\"pc_uid\": \"\xff\xfe\"}".to_vec()),
            ("an array".into(), b"[1, 2]".to_vec()),
            ("empty".into(), Vec::new()),
            (
                "5 MB".into(),
                format!("{{\"pc_uid\": \"{}\"}}", "x".repeat(5 << 20)).into_bytes(),
            ),
        ];
        for field in good.as_object().unwrap().keys() {
            if field == "client_key" {
                continue;
            }
            // job_data may be left out: the call is then a heartbeat, as with [].
            if field != "job_data" {
                let mut missing = good.clone();
                missing.as_object_mut().unwrap().remove(field);
                bodies.push((format!("without {field}"), missing.to_string().into_bytes()));
            }
            let mut wrong = good.clone();
            wrong[field] = if good[field].is_object() {
                json!("not a map")
            } else {
                json!({"nested": [true]})
            };
            bodies.push((
                format!("{field} of the wrong type"),
                wrong.to_string().into_bytes(),
            ));
        }
        if good.get("pc_uid").is_some() {
            let mut unknown = good.clone();
            unknown["pc_uid"] = json!("0123456789abcdef0123456789abcdef");
            bodies.push(("an unknown PC".into(), unknown.to_string().into_bytes()));
            let mut wrong_key = good.clone();
            wrong_key["client_key"] = json!("cd".repeat(32));
            bodies.push((
                "another PC's key".into(),
                wrong_key.to_string().into_bytes(),
            ));
            let mut short_key = good.clone();
            short_key["client_key"] = json!("abc");
            bodies.push((
                "a key that is not 64 hex".into(),
                short_key.to_string().into_bytes(),
            ));
        }
        for (what, body) in bodies {
            let (status, text) = raw(&portal, endpoint, body).await;
            // Logout calls take nothing but a hash: only their own shape can be wrong.
            assert!(
                (400..500).contains(&status),
                "{endpoint} with {what}: {status} {text}"
            );
            assert!(
                !text.is_empty() && serde_json::from_str::<Value>(&text).is_ok(),
                "{endpoint} with {what}: a JSON message, got {text:?}"
            );
            cases += 1;
        }
    }
    // An endpoint that does not exist, and a GET.
    assert_eq!(raw(&portal, "drop_tables", b"{}".to_vec()).await.0, 404);
    let get = reqwest::get(format!("{}/client-api/get_instructions", portal.url))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    // A refused call must not check in; a beat it queued by mistake would reach the database
    // only after the heartbeat writer's next batch, so give it that time before comparing.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(snapshot(&portal).await, before, "nothing changed");
    assert!(cases > 100, "{cases} cases");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_errors_name_the_problem() {
    let portal = Portal::start().await;
    portal.site("X", "site-x").await;
    for (body, expect) in [
        (
            json!({"mac": "nonsense", "name": "pc", "site": "site-x", "configuration": {}}),
            "mac",
        ),
        (
            json!({"mac": "02:00:00:00:00:02", "name": "p", "site": "site-x", "configuration": {}}),
            "2-40 characters",
        ),
        (
            json!({"mac": "02:00:00:00:00:02", "name": "pc", "site": "nope", "configuration": {}}),
            "site UID",
        ),
        (
            json!({"mac": "02:00:00:00:00:02", "name": "pc", "site": "site-x", "configuration": {"k": "v".repeat(5000)}, "client_key": "ab".repeat(32)}),
            "longer than 4096",
        ),
        (
            json!({"mac": "02:00:00:00:00:02", "name": "pc", "site": "site-x", "client_key": "ab".repeat(32),
                   "configuration": (0..501).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "at most 500",
        ),
        // Without a key a PC is known by its MAC alone: only where legacy agents are allowed.
        (
            json!({"mac": "02:00:00:00:00:02", "name": "pc", "site": "site-x", "configuration": {}}),
            "legacy XML-RPC protocol is turned off",
        ),
    ] {
        let (status, msg) = portal.post("register_new_computer", body).await;
        assert_eq!(status, 400, "{msg}");
        assert!(msg.as_str().unwrap().contains(expect), "{expect}: {msg}");
    }
    let pcs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(pcs, 0);
}
