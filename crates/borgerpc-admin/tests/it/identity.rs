//! Who a PC is, and who may make one: over real HTTP against a real portal.
//!
//! - A PC without a key is never bound to a key by a call: the first key an activated one
//!   offers waits for an operator (API and CLI, audited), and a refused call leaves the PC's
//!   row byte for byte as it was.
//! - Registration tells nothing across customers: a MAC address another customer has is
//!   registered like an unknown one, and a wrong key is answered like an unknown uid.
//! - Registrations are limited per caller address and per site, and a site may require a
//!   registration token, typed as `<site uid>+<token>`.

use crate::common;

use common::Portal;
use serde_json::{Value, json};
use sha2::Digest as _;

fn key(byte: &str) -> String {
    byte.repeat(32)
}

fn fingerprint(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Every column of a PC's row, as text: what "changes nothing" is checked against.
async fn pc_row(portal: &Portal, uid: &str) -> String {
    let cols = [
        "id",
        "site_id",
        "uid",
        "mac",
        "name",
        "description",
        "location",
        "is_activated",
        "client_key_hash",
        "created_at",
        "last_seen",
        "last_ip",
        "client_version",
        "pending_key_hash",
        "pending_key_at",
    ];
    let expr = cols
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), 'NULL')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let row: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {expr} FROM pcs WHERE uid = $1"
    )))
    .bind(uid)
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    let entries: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM config_entries c JOIN pcs p ON p.id = c.owner_id
         WHERE c.owner_kind = 'pc' AND p.uid = $1",
    )
    .bind(uid)
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    format!("{row} entries:{entries}")
}

async fn post_from(
    portal: &Portal,
    from: Option<&str>,
    endpoint: &str,
    body: Value,
) -> (u16, Value, Option<String>) {
    let mut r = reqwest::Client::new()
        .post(format!("{}/client-api/{endpoint}", portal.url))
        .json(&body);
    if let Some(ip) = from {
        r = r.header("X-Forwarded-For", ip);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry,
    )
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

async fn register(portal: &Portal, mac: &str, site: &str, client_key: &str) -> (u16, Value) {
    portal
        .post(
            "register_new_computer",
            json!({"mac": mac, "name": "pc-1", "site": site, "configuration": {"hostname": "pc-1"}, "client_key": client_key}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_for_a_pc_without_one_waits_for_an_operator_and_refused_calls_change_nothing() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune", "gammel").await;
    portal.store.set_legacy_xmlrpc(site.id, true).await.unwrap();
    // A PC registered without a key, as a 2.x agent or an old portal left it.
    let (s, uid) = register(&portal, "02:00:00:00:10:01", "gammel", "").await;
    assert_eq!(s, 200, "{uid}");
    let uid = text(&uid).to_owned();
    let (k1, k2) = (key("a1"), key("b2"));
    let call = |k: String| json!({"pc_uid": uid, "config_dict": {"x": "1"}, "client_key": k});

    // Not activated: refused, and (the old bug) no key is bound or even kept.
    let before = pc_row(&portal, &uid).await;
    let (s, msg) = portal.post("push_config_keys", call(k1.clone())).await;
    assert_eq!(s, 400);
    assert!(text(&msg).contains("not activated"), "{msg}");
    assert_eq!(
        pc_row(&portal, &uid).await,
        before,
        "a refused call changes nothing"
    );

    // Activated: the first key offered waits for approval; the PC is not served with it.
    portal.activate(&site, &uid).await;
    let (s, msg) = portal.post("get_instructions", call(k1.clone())).await;
    assert_eq!(s, 400);
    assert!(
        text(&msg).contains("approved by an administrator")
            && text(&msg).contains(&fingerprint(&k1)[..16]),
        "{msg}"
    );
    let pc = portal.store.pc_identity(&uid).await.unwrap().unwrap();
    assert_eq!(
        (pc.client_key_hash.as_str(), pc.pending_key_hash.as_str()),
        ("", fingerprint(&k1).as_str())
    );
    let waiting = pc_row(&portal, &uid).await;
    // Another key, a malformed one, the same one again: refused, and nothing changes.
    for (k, why) in [
        (k2.clone(), "approved by an administrator"),
        ("abc".to_owned(), "64 hexadecimal"),
        (k1.clone(), "approved by an administrator"),
    ] {
        for endpoint in ["push_config_keys", "get_instructions", "send_status_info"] {
            let mut body = call(k.clone());
            body["job_data"] = json!([]);
            let (s, msg) = portal.post(endpoint, body).await;
            assert_eq!(s, 400, "{endpoint}: {msg}");
            assert!(text(&msg).contains(why), "{endpoint}: {msg}");
        }
        assert_eq!(pc_row(&portal, &uid).await, waiting, "byte-identical");
    }
    let pcs = portal.store.pcs(site.id).await.unwrap();
    assert_eq!(
        (pcs[0].client_key, pcs[0].pending_key_fingerprint.as_deref()),
        (
            borgerpc_admin::store::pcs::KeyState::Pending,
            Some(&fingerprint(&k1)[..16])
        )
    );

    // The operator approves it through the API, by the fingerprint read on the PC.
    let api_key = portal.store.add_api_key(site.id, "it", true).await.unwrap();
    let approve = |fp: String| {
        let (url, api_key) = (portal.url.clone(), api_key.clone());
        async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/api/system/pc/{}/approve-key", pc.id))
                .bearer_auth(api_key)
                .json(&json!({"fingerprint": fp}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = approve(fingerprint(&k2)[..12].to_owned()).await;
    assert_eq!(s, 409, "not the waiting key: {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&fingerprint(&k1)[..16])
    );
    assert_eq!(approve("xyz".into()).await.0, 422);
    assert_eq!(
        pc_row(&portal, &uid).await,
        waiting,
        "a refused approval changes nothing"
    );
    let (s, body) = approve(fingerprint(&k1)[..12].to_uppercase()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["fingerprint"], fingerprint(&k1));
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'pc.approve_key' AND actor LIKE 'api-key:%'",
    )
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Now the key is the PC's: served with it, and any other is answered as an unknown uid.
    let (s, _) = portal.post("push_config_keys", call(k1.clone())).await;
    assert_eq!(s, 200);
    let (s, wrong) = portal.post("push_config_keys", call(k2.clone())).await;
    let (_, unknown) = portal
        .post(
            "push_config_keys",
            json!({"pc_uid": "0123456789abcdef0123456789abcdef", "config_dict": {}, "client_key": k2}),
        )
        .await;
    assert_eq!((s, &wrong), (400, &unknown), "no oracle");
    let (_, without) = portal
        .post(
            "push_config_keys",
            json!({"pc_uid": uid, "config_dict": {}, "client_key": ""}),
        )
        .await;
    assert_eq!(without, unknown, "a PC with a key is not served without it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mac_another_customer_has_registers_like_an_unknown_one() {
    let portal = Portal::start().await;
    portal.site("Kommune A", "a-site").await;
    portal.site("Kommune B", "b-site").await;
    portal.site("Kommune B", "b-other").await;
    let mac = "02:00:00:00:20:01";
    let (s, in_b) = register(&portal, mac, "b-site", &key("0b")).await;
    assert_eq!(s, 200);

    let (s1, known) = register(&portal, mac, "a-site", &key("0a")).await;
    let (s2, unknown) = register(&portal, "02:00:00:00:20:02", "a-site", &key("0c")).await;
    assert_eq!((s1, s2), (200, 200), "{known} {unknown}");
    for uid in [&known, &unknown, &in_b] {
        let uid = text(uid);
        assert!(
            uid.len() == 32 && uid.bytes().all(|b| b.is_ascii_hexdigit()),
            "{uid}"
        );
    }
    assert_ne!(known, in_b, "two customers, two PCs");
    // Within a customer a MAC is registered once, as upstream says (any of its sites, any
    // spelling of the MAC).
    let (s, msg) = register(
        &portal,
        &mac.to_uppercase().replace(':', "-"),
        "b-other",
        &key("0d"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(text(&msg).contains("same MAC"), "{msg}");
    let pcs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE mac = $1")
        .bind(mac)
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(pcs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_address_and_per_site() {
    let portal = Portal::start_with(|c| {
        c.agents.registrations_per_minute_per_address = 3;
        c.agents.registrations_per_minute_per_site = 5;
        c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    portal.site("K", "site-1").await;
    portal.site("K", "site-2").await;
    let body = |i: u32, site: &str| json!({"mac": format!("02:00:00:00:30:{i:02x}"), "name": "pc-1", "site": site, "configuration": {}, "client_key": key("cd")});
    let from = |n: u8| format!("192.0.2.{n}");
    for i in 0..3 {
        let (s, uid, _) = post_from(
            &portal,
            Some(&from(1)),
            "register_new_computer",
            body(i, "site-1"),
        )
        .await;
        assert_eq!(s, 200, "{uid}");
    }
    let (s, msg, retry) = post_from(
        &portal,
        Some(&from(1)),
        "register_new_computer",
        body(3, "site-1"),
    )
    .await;
    assert_eq!(s, 429, "{msg}");
    assert!(text(&msg).contains("from this address"), "{msg}");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s))));
    // Every request comes from 127.0.0.1, the trusted proxy: the address it names counts.
    for i in 4..6 {
        let (s, uid, _) = post_from(
            &portal,
            Some(&from(2)),
            "register_new_computer",
            body(i, "site-1"),
        )
        .await;
        assert_eq!(s, 200, "{uid}");
    }
    let (s, msg, _) = post_from(
        &portal,
        Some(&from(3)),
        "register_new_computer",
        body(6, "site-1"),
    )
    .await;
    assert_eq!(s, 429, "the site has had its 5: {msg}");
    assert!(text(&msg).contains("into this site"), "{msg}");
    let (s, uid, _) = post_from(
        &portal,
        Some(&from(3)),
        "register_new_computer",
        body(7, "site-2"),
    )
    .await;
    assert_eq!(s, 200, "another site: {uid}");
    let pcs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(pcs, 6, "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_with_a_registration_token_takes_only_pcs_that_give_it() {
    let portal = Portal::start().await;
    let site = portal.site("K", "bibliotek").await;
    let token = portal
        .store
        .set_registration_token(site.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.len(), 16);
    for (i, (typed, expect)) in [
        ("bibliotek".to_owned(), "registration token"),
        ("bibliotek+wrong".to_owned(), "registration token"),
        (format!("bibliotek+{token}x"), "registration token"),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, msg) = register(&portal, &format!("02:00:00:00:40:0{i}"), &typed, &key("ee")).await;
        assert_eq!(s, 400, "{typed}");
        assert!(
            text(&msg).contains(expect) && text(&msg).contains("bibliotek+<token>"),
            "{msg}"
        );
    }
    let (s, uid) = register(
        &portal,
        "02:00:00:00:40:10",
        &format!("bibliotek+{token}"),
        &key("ee"),
    )
    .await;
    assert_eq!(s, 200, "{uid}");
    // Turned off: the uid alone registers again, and a token is a mistake worth saying.
    assert_eq!(
        portal
            .store
            .set_registration_token(site.id, false)
            .await
            .unwrap(),
        None
    );
    let (s, msg) = register(
        &portal,
        "02:00:00:00:40:11",
        &format!("bibliotek+{token}"),
        &key("ee"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(text(&msg).contains("no registration token"), "{msg}");
    let (s, _) = register(&portal, "02:00:00:00:40:11", "bibliotek", &key("ee")).await;
    assert_eq!(s, 200);
}
