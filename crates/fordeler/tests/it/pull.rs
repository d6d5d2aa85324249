//! The ping intake and polling, against a fake OS2forms `webform_rest` site on loopback, and the
//! promise that no personal data reaches the logs.

use crate::common;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::*;
use fordeler::config::Secret;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "os2forms-api-key-0001";
const PING: &str = "ping-token-0000000001";

/// A webform_rest site with the given submissions (uuid → completed?), counting requests.
async fn site(subs: Vec<(String, bool)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (b1, b2, s1, s2) = (base.clone(), base.clone(), subs.clone(), subs);
    let (seen1, seen2) = (seen.clone(), seen.clone());
    let authorized = |h: &HeaderMap| h.get("api-key").and_then(|v| v.to_str().ok()) == Some(KEY);
    let app = axum::Router::new()
        .route(
            "/webform_rest/journal/submissions",
            get(move |h: HeaderMap| {
                let (b, s) = (b1.clone(), s1.clone());
                async move {
                    if !authorized(&h) {
                        return (StatusCode::FORBIDDEN, axum::Json(json!({}))).into_response();
                    }
                    let map: serde_json::Map<String, Value> = s
                        .iter()
                        .enumerate()
                        .map(|(i, (u, _))| (i.to_string(), json!(format!("{b}/webform_rest/journal/submission/{u}"))))
                        .collect();
                    axum::Json(json!({"webform_id": "journal", "submissions": map})).into_response()
                }
            }),
        )
        .route(
            "/webform_rest/journal/submission/{uuid}",
            get(move |Path(uuid): Path<String>, h: HeaderMap| {
                let (b, s, seen) = (b2.clone(), s2.clone(), seen1.clone());
                async move {
                    seen.lock().unwrap().push(uuid.clone());
                    let Some((_, completed)) = s.iter().find(|(u, _)| *u == uuid).cloned() else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    if !authorized(&h) {
                        return StatusCode::FORBIDDEN.into_response();
                    }
                    axum::Json(json!({
                        "entity": {
                            "uuid": [{"value": uuid}], "sid": [{"value": 7}], "serial": [{"value": 7}],
                            "webform_id": [{"target_id": "journal", "target_type": "webform"}],
                            "completed": [{"value": if completed { "2026-11-23T10:15:00+00:00" } else { "" }}],
                            "in_draft": [{"value": !completed}],
                        },
                        "data": {
                            "emne": "Vejarbejde", "ansoeger_personnummer": "0101709999",
                            "linked": {"bilag": {"3": {"id": "3", "url": format!("{b}/system/files/bilag.pdf"), "mime_type": "application/pdf", "size": "9"}}},
                        }
                    }))
                    .into_response()
                }
            }),
        )
        .route(
            "/system/files/bilag.pdf",
            get(move |h: HeaderMap| {
                let seen = seen2.clone();
                async move {
                    seen.lock().unwrap().push("file".into());
                    if authorized(&h) { (StatusCode::OK, b"%PDF-1.4\n".to_vec()) } else { (StatusCode::FORBIDDEN, Vec::new()) }
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

use axum::response::IntoResponse as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_pulls_the_submission_and_polling_finds_the_rest() {
    let a = sf2900::Uuid::new_v4().to_string();
    let b = sf2900::Uuid::new_v4().to_string();
    let draft = sf2900::Uuid::new_v4().to_string();
    let (base, seen) = site(vec![
        (a.clone(), true),
        (b.clone(), true),
        (draft.clone(), false),
    ])
    .await;
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("key"), KEY).unwrap();
    std::fs::write(secrets.path().join("ping"), PING).unwrap();
    let (key, ping) = (secrets.path().join("key"), secrets.path().join("ping"));
    let base2 = base.clone();
    let env = start_with(vec![], move |c| {
        let f = c
            .forms
            .iter_mut()
            .find(|f| f.webform_id == "journal")
            .unwrap();
        f.os2forms_url = Some(base2);
        f.api_key = Some(Secret {
            file: Some(key),
            env: None,
        });
        f.ping_token = Some(Secret {
            file: Some(ping),
            env: None,
        });
    })
    .await;

    let ping_body = json!({"data": {"webform": {"id": "journal"}, "submission": {"uuid": a}},
        "links": {"sender": base, "get_submission_url": format!("{base}/webform_rest/journal/submission/{a}")}});
    let post = |auth: &str| {
        env.http
            .post(format!("{}/intake/ping", env.base))
            .header("authorization", auth.to_owned())
            .json(&ping_body)
            .send()
    };
    assert_eq!(post("Token wrong").await.unwrap().status(), 401);
    let r = post(&format!("Token {PING}")).await.unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let items = env
        .wait_for(&a, &["delivered"], Duration::from_secs(30))
        .await;
    assert_eq!(items[0]["delivery"]["sync_kode"], "MODTAGET");
    assert!(
        seen.lock().unwrap().iter().any(|s| s == "file"),
        "the linked file was fetched with the api-key"
    );

    // A ping whose URL points elsewhere is refused: our key never leaves for another host.
    let evil = json!({"data": {"webform": {"id": "journal"}, "submission": {"uuid": b}},
        "links": {"get_submission_url": "http://127.0.0.2:9/steal"}});
    let r = env
        .http
        .post(format!("{}/intake/ping", env.base))
        .header("authorization", format!("Token {PING}"))
        .json(&evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // Polling (run once by hand here through the same client code the poller uses).
    let site = fordeler::pull::Os2forms::new(&base, KEY.into(), 1 << 20).unwrap();
    let listed = site.list("journal").await.unwrap();
    assert_eq!(listed.len(), 3);
    let pulled = site
        .pull("journal", &site.submission_url("journal", &draft))
        .await;
    assert!(matches!(
        pulled,
        Err(fordeler::pull::PullError::Refused(
            fordeler::intake::Refused::NotCompleted(_)
        ))
    ));
    // A pull reads no more than a Remote post may send (JSON and files together).
    let small = fordeler::pull::Os2forms::new(&base, KEY.into(), 200).unwrap();
    let pulled = small
        .pull("journal", &small.submission_url("journal", &b))
        .await;
    match pulled {
        Err(e @ fordeler::pull::PullError::Invalid(_)) => {
            assert!(!e.retryable());
            assert!(
                e.to_string()
                    .contains("more than server.max_submission_bytes (200 bytes)"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cpr_or_name_reaches_the_logs() {
    // The log output of this test process is captured by a subscriber writing to a buffer.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let b2 = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            "trace,hyper=info,h2=info,rustls=info,russh=info,sqlx=info,reqwest=info,tokio=info",
        )
        .with_writer(move || b2.clone())
        .finish();
    // Global, so that the worker threads' tasks are captured too; no other test here sets one.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let env = start(vec![kombit_sim::faults::FaultRule {
        on: kombit_sim::faults::Hook::Afsend,
        action: kombit_sim::faults::Action::Afvist,
        probability: 1.0,
        times: Some(1),
        delay_ms: 0,
        match_kle: None,
        match_file: None,
        match_transaction: None,
    }])
    .await;
    let cpr = "1111111118";
    let name = "Kirsten Cprsen";
    let mut uuids = Vec::new();
    for form in ["journal", "dokument"] {
        let uuid = sf2900::Uuid::new_v4().to_string();
        let body = json!({"uuid": uuid, "completed": "1", "ansoeger_personnummer": cpr, "ansoeger_navn": name, "emne": name,
            "_kvittering": {"name": format!("{name}.pdf"), "mime": "application/pdf", "data": pdf(100)}});
        assert_eq!(env.post(form, &body).await.0, 202);
        uuids.push(uuid);
    }
    for u in &uuids {
        env.wait_for(u, &["delivered", "failed"], Duration::from_secs(30))
            .await;
    }
    // A refused submission too.
    let bad = json!({"uuid": sf2900::Uuid::new_v4().to_string(), "ansoeger_personnummer": "[Value Encrypted]", "navn": name});
    env.post("journal", &bad).await;
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "the test must see real log output ({} bytes)",
        logs.len()
    );
    assert!(logs.contains(&uuids[0]), "logs carry ids");
    for secret in [cpr, name, "Cprsen"] {
        assert!(
            !logs.contains(secret),
            "`{secret}` appeared in the logs:\n{logs}"
        );
    }
}
