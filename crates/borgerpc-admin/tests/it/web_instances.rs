//! Two municipalities' portals on one host (`borgerpc-admin@<kommune>`), each with its own
//! database, seeded alike so their ids and their site's uid coincide: the tenant walk across
//! the two finds nothing shared. A's session, API key and PC identity open nothing at B; every
//! page of B, asked with A's ids, shows nothing of A's; and no value of A's is anywhere in B's
//! database. (That each portal's files are out of the other's reach is the system users' and
//! the units' work: `packaging/smoke` checks it on the installed package.)

use crate::common::web::WebUser;
use crate::common::{Portal, seed};
use serde_json::json;
use sqlx::Row as _;

#[tokio::test]
async fn web_instances_two_municipalities_portals_share_nothing() {
    let a = Portal::start().await;
    let b = Portal::start().await;
    // The same site uid and the same user name in both, as two municipalities may well choose.
    let site_a = a.site("Ærø Kommune", "bibliotek").await;
    let site_b = b.site("Samsø Kommune", "bibliotek").await;
    let seeded_a = seed::everything(&a, &site_a, "Aeroe").await;
    let seeded_b = seed::everything(&b, &site_b, "Samsoe").await;
    assert_eq!(
        (seeded_a.ids.pc, seeded_a.ids.job, seeded_a.ids.group),
        (seeded_b.ids.pc, seeded_b.ids.job, seeded_b.ids.group),
        "the walk asks B for the very ids A uses"
    );
    a.web_user("anne", "customer_admin", &site_a).await;
    b.web_user("anne", "customer_admin", &site_b).await;
    let mut secrets = seeded_a.names.clone();
    secrets.push("Ærø Kommune".into());

    // A's session at B: a visitor there, sent to log in.
    let anne_a = WebUser::login(&a, "anne").await;
    let mut stolen = anne_a.presented_to(&b);
    let answer = stolen.get(&format!("/steder/{}", site_b.uid)).await;
    assert_eq!(answer.status, 303, "A's session opened B: {}", answer.body);
    assert!(
        answer.location.starts_with("/log-ind"),
        "{}",
        answer.location
    );

    // A's API key at B: refused before anything is read.
    let key = a
        .store
        .add_api_key(site_a.id, "Aeroe BI", false)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let at = |portal: &Portal| format!("{}/api/system/computers", portal.url);
    let ok = http.get(at(&a)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(ok.status(), 200, "the key works at home");
    let refused = http.get(at(&b)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // A's PC, with its uid and its key, at B: not known there.
    let client_key = "a1".repeat(32);
    let (status, reply) = a
        .post(
            "register_new_computer",
            json!({"mac": "02:aa:00:00:00:01", "name": "aeroe-pc", "site": "bibliotek",
                   "configuration": {"hostname": "aeroe-pc"}, "client_key": client_key}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let uid = reply.as_str().expect("the new uid").to_owned();
    a.activate(&site_a, &uid).await;
    let call = json!({"pc_uid": uid, "config_dict": {}, "client_key": client_key});
    let (home, _) = a.post("get_instructions", call.clone()).await;
    assert_eq!(home, 200, "the PC checks in at home");
    let (away, reply) = b.post("get_instructions", call).await;
    assert_ne!(away, 200, "A's PC checked in at B: {reply}");
    assert!(b.store.pc_identity(&uid).await.unwrap().is_none());

    // Every page of B, with A's ids and the shared site uid: only B's things.
    let mut anne_b = WebUser::login(&b, "anne").await;
    let mut asked = 0;
    for seed::Route { path, get, .. } in seed::declared_routes() {
        if !get || path.starts_with("/hjaelp") {
            continue;
        }
        for url in seeded_a.ids.fill(&path, "bibliotek") {
            let answer = anne_b.get(&url).await;
            asked += 1;
            for s in &secrets {
                assert!(!answer.body.contains(s), "B's GET {url} shows A's {s:?}");
            }
        }
    }
    assert!(asked >= 40, "asked {asked} pages");

    // Nothing of A's in any row of B's database.
    let text = every_text_value(&b).await;
    assert!(text.len() > 100, "B's database has B's own data");
    for s in secrets.iter().chain([&uid, &key]) {
        assert!(
            !text.iter().any(|v| v.contains(s.as_str())),
            "B's database holds A's {s:?}"
        );
    }
}

/// Every text value in every table of the portal's database.
async fn every_text_value(portal: &Portal) -> Vec<String> {
    let pool = portal.store.pool();
    let tables: Vec<String> = if portal.db_url.starts_with("postgres") {
        sqlx::query_scalar(
            "SELECT table_name::TEXT FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    } else {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .unwrap()
    };
    assert!(tables.len() > 20, "{tables:?}");
    let mut values = Vec::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(pool)
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                    values.push(v);
                }
            }
        }
    }
    values
}
