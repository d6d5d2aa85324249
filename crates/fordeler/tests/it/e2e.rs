//! End to end against kombit-sim on loopback: intake over HTTP, SFTP and SOAP over mutual TLS,
//! asynchronous receipts at our HTTPS endpoint, the operator API.

use crate::common;

use common::*;
use kombit_sim::faults::{Action, FaultRule, Hook};
use serde_json::json;
use std::time::Duration;

fn submission(uuid: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = json!({
        "emne": "Parkering",
        "ansoeger_personnummer": "0101701234",
        "uuid": uuid,
        "serial": "17",
        "completed": "1778586315",
        "in_draft": "0",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

fn rule(on: Hook, action: Action) -> FaultRule {
    FaultRule {
        on,
        action,
        probability: 1.0,
        times: Some(1),
        delay_ms: 0,
        match_kle: None,
        match_file: None,
        match_transaction: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_object_types_are_delivered_with_receipts() {
    let env = start(vec![]).await;
    let j = sf2900::Uuid::new_v4().to_string();
    let d = sf2900::Uuid::new_v4().to_string();
    let f = sf2900::Uuid::new_v4().to_string();
    let kvittering = json!({"_kvittering": {"name": "kvittering.pdf", "mime": "application/pdf", "data": pdf(20_000)}});
    let bilag = json!({
        "_kvittering": {"name": "kvittering.pdf", "mime": "application/pdf", "data": pdf(20_000)},
        "_dokumenter_bilag": [{"name": "bilag.pdf", "mime": "application/pdf", "data": pdf(100_000)}, {"name": "overslag.pdf", "mime": "application/pdf", "data": pdf(5_000)}],
    });
    assert_eq!(env.post("journal", &submission(&j, json!({}))).await.0, 202);
    assert_eq!(
        env.post("dokument", &submission(&d, kvittering)).await.0,
        202
    );
    assert_eq!(
        env.post("os2forms_fdk_kp_sp241", &submission(&f, bilag))
            .await
            .0,
        202
    );
    for uuid in [&j, &d, &f] {
        let items = env
            .wait_for(uuid, &["delivered"], Duration::from_secs(30))
            .await;
        let dl = &items[0]["delivery"];
        assert_eq!(dl["sync_kode"], "MODTAGET", "{dl:#}");
        assert_eq!(dl["teknisk_kode"], "AFLEVERET");
        assert_eq!(dl["forretning_kode"], "ACCEPTERET");
    }
    // The platform saw exactly one FordelingsobjektAfsend per submission, and 3 files.
    let s = env.platform.sim.summary();
    assert_eq!(s.calls["FordelingsobjektAfsend"]["MODTAGET"], 3, "{s:?}");
    assert_eq!(s.duplicates, 0);
    assert_eq!(s.triggers.get("success"), Some(&3), "{s:?}");

    // A second arrival of the same submission changes nothing.
    let (status, body) = env.post("journal", &submission(&j, json!({}))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    let status = env.api("/api/status").await;
    assert_eq!(status["forms"]["journal"]["delivered"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_go_to_the_operator_and_transport_errors_are_retried() {
    let env = start(vec![
        rule(Hook::Afsend, Action::Http503),
        FaultRule {
            match_kle: Some("32.03.12".into()),
            ..rule(Hook::Afsend, Action::Afvist)
        },
        FaultRule {
            match_kle: Some("01.01.01".into()),
            times: None,
            ..rule(Hook::Receipt, Action::ReceiptFejlet)
        },
    ])
    .await;
    // JOURNALPOST: first a 503 (retried), then accepted, but the receiver answers FEJLET.
    let j = sf2900::Uuid::new_v4().to_string();
    env.post("journal", &submission(&j, json!({}))).await;
    let items = env.wait_for(&j, &["failed"], Duration::from_secs(30)).await;
    let dl = &items[0]["delivery"];
    assert_eq!(dl["forretning_kode"], "FEJLET", "{dl:#}");
    let kinds: Vec<&str> = items[0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"retry") && kinds.contains(&"afsend") && kinds.contains(&"failed"),
        "{kinds:?}"
    );

    // DOKUMENT: AFVIST synchronously: failed at once with the platform's reason.
    let d = sf2900::Uuid::new_v4().to_string();
    env.post(
        "dokument",
        &submission(
            &d,
            json!({"_kvittering": {"name": "k.pdf", "mime": "application/pdf", "data": pdf(1000)}}),
        ),
    )
    .await;
    let items = env.wait_for(&d, &["failed"], Duration::from_secs(30)).await;
    assert!(
        items[0]["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("AFVIST"),
        "{:#}",
        items[0]
    );

    // The operator resolves one with a note, and retries the other: the same
    // AnvenderTransaktionsID goes again, and the platform answers it idempotently.
    let id = items[0]["delivery"]["id"].as_str().unwrap();
    let r = env
        .http
        .post(format!("{}/api/deliveries/{id}/retry", env.base))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again = env
        .wait_for(
            &d,
            &["failed", "waiting", "delivered"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        again[0]["delivery"]["anvender_transaktions_id"],
        items[0]["delivery"]["anvender_transaktions_id"]
    );
    // The platform gave the same answer to the same transaction (AFVIST). A resend is a new
    // transaction, rebuilt, with new SFTP names: delivered this time, the old one on record.
    let old_tx = again[0]["delivery"]["anvender_transaktions_id"].clone();
    let r = env
        .http
        .post(format!("{}/api/deliveries/{id}/resend", env.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"by": "sagsbehandler@kommune.dk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let resent = env
        .wait_for(&d, &["delivered"], Duration::from_secs(30))
        .await;
    let dl = &resent[0]["delivery"];
    assert_ne!(dl["anvender_transaktions_id"], old_tx);
    assert_eq!(dl["transaction_no"], 2);
    let timeline = resent[0]["timeline"].to_string();
    assert!(
        timeline.contains("resend") && timeline.contains(old_tx.as_str().unwrap()),
        "{timeline}"
    );
    // Resending a delivered one is refused; the API says why.
    let r = env
        .http
        .post(format!("{}/api/deliveries/{id}/resend", env.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"by": "sagsbehandler@kommune.dk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("delivered"));

    // The JOURNALPOST failed on its Forretning receipt. A retry goes back to the call (it was
    // left "pending" at step "done" for ever before); the platform answers the same
    // transaction as before and sends no new receipts, so it waits, which is the truth.
    let jid = env.api(&format!("/api/deliveries/{j}")).await[0]["delivery"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .http
        .post(format!("{}/api/deliveries/{jid}/retry", env.base))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let waiting = env
        .wait_for(&j, &["waiting"], Duration::from_secs(30))
        .await;
    assert_eq!(waiting[0]["delivery"]["step"], "receipts");
    assert_eq!(waiting[0]["delivery"]["forretning_kode"], json!(null));
    let r = env
        .http
        .post(format!("{}/api/deliveries/{jid}/resolve", env.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"by": "sagsbehandler@kommune.dk", "note": "Journaliseret manuelt i ESDH"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.wait_for(&j, &["resolved"], Duration::from_secs(5))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_refuses_bad_input_with_clear_errors() {
    let env = start(vec![]).await;
    let no_uuid = json!({"emne": "x", "completed": "1"});
    let (status, body) = env.post("journal", &no_uuid).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().starts_with("uuid:"),
        "{body}"
    );
    let u = sf2900::Uuid::new_v4().to_string();
    let encrypted = submission(&u, json!({"ansoeger_personnummer": "[Value Encrypted]"}));
    let (status, body) = env.post("journal", &encrypted).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("view encrypted values"),
        "{body}"
    );
    let draft = submission(&u, json!({"in_draft": "1"}));
    assert_eq!(env.post("journal", &draft).await.1["status"], "ignored");
    let r = env
        .http
        .post(format!("{}/intake/journal/remote-post", env.base))
        .bearer_auth("wrong")
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .post(format!("{}/intake/journal/remote-post", env.base))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .post(format!("{}/intake/nope/remote-post", env.base))
        .bearer_auth(TOKEN)
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = env
        .http
        .get(format!("{}/api/status", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Nothing of the refused submissions was stored.
    assert_eq!(env.api("/api/status").await["forms"], json!({}));
}

/// The bench is the figure the README reports: it must deliver everything it sends, through
/// the real intake, simulator and group-committed SQLite, and account for its CPU by part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_delivers_every_submission_and_splits_its_cpu() {
    let work = tempfile::tempdir().unwrap();
    let database = match std::env::var("TEST_DATABASE_URL") {
        Ok(_) => Some(
            service_kit::db::test_database_url(work.path())
                .await
                .unwrap(),
        ),
        Err(_) => None,
    };
    let report = fordeler::bench::run(
        work.path(),
        fordeler::bench::Options {
            submissions: 40,
            attachment_kb: 4,
            database,
            concurrency: 8,
            rate: 100.0,
            split_cpu: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(report.delivered, 40, "{report:?}");
    assert!(report.p99_ms >= report.p50_ms, "{report:?}");
    let cpu = &report.cpu_ms_per_submission;
    assert!(cpu.total > 0.0, "{report:?}");
    let parts = [cpu.fordeler, cpu.simulator, cpu.load_generator].map(Option::unwrap);
    assert!(parts[0] > 0.0 && parts[1] > 0.0, "{report:?}");
    assert!(parts.iter().sum::<f64>() <= cpu.total + 0.3, "{report:?}");
}

/// A client of the receipt endpoint with one of the test PKI's certificates.
fn receipt_client(env: &Env, cert: &std::path::Path, key: &std::path::Path) -> reqwest::Client {
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(&env.platform.pki.ca_pem).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_platforms_certificate_may_post_receipts() {
    let env = start(vec![]).await;
    let url = format!(
        "https://127.0.0.1:{}/sf2900/FordelingskvitteringModtag",
        env.fordeler.receipts_addr.unwrap().port()
    );
    let pki = &env.platform.pki;
    // A municipality's certificate from the same CA is refused before its body is read.
    for (cert, key) in [
        (&pki.anvender_pem, &pki.anvender_key),
        (&pki.other_pem, &pki.other_key),
    ] {
        let r = receipt_client(&env, cert, key)
            .post(&url)
            .body("<not even a receipt/>")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{}", cert.display());
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Serviceplatformens eget certifikat")
        );
    }
    // The platform's own is heard (and told what is wrong with this body).
    let r = receipt_client(&env, &pki.platform_pem, &pki.platform_key)
        .post(&url)
        .body("<not even a receipt/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("Ugyldig kvittering"));
}

/// `fordeler -c <the running service's config> <args…>`: (success, stdout + stderr).
fn cli(env: &Env, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fordeler"))
        .arg("-c")
        .arg(&env.config_path)
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_resends_retries_and_resolves() {
    let env = start(vec![FaultRule {
        times: Some(1),
        ..rule(Hook::Afsend, Action::Afvist)
    }])
    .await;
    let d = sf2900::Uuid::new_v4().to_string();
    let file =
        json!({"_kvittering": {"name": "k.pdf", "mime": "application/pdf", "data": pdf(1000)}});
    env.post("dokument", &submission(&d, file)).await;
    let failed = env.wait_for(&d, &["failed"], Duration::from_secs(30)).await;
    let first = failed[0]["delivery"]["anvender_transaktions_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (ok, shown) = cli(&env, &["show", &d]);
    assert!(
        ok && shown.contains(&first) && shown.contains("AFVIST"),
        "{shown}"
    );
    // A retry of a failed delivery is accepted; it ends failed again (the same transaction
    // gets the same answer), and a pending one says when it is tried next.
    let (ok, out) = cli(&env, &["retry", &d, "--by", "drift"]);
    assert!(
        ok && out.contains("1 delivery(ies) will be sent again"),
        "{out}"
    );
    let (_, shown) = cli(&env, &["show", &d]);
    assert!(
        shown.contains("next attempt") || shown.contains("state failed"),
        "{shown}"
    );
    env.wait_for(&d, &["failed"], Duration::from_secs(30)).await;

    // The resend is a new transaction, attributed, and delivered.
    let (ok, out) = cli(&env, &["resend", &d, "--by", "drift@kommune.dk"]);
    assert!(
        ok && out.contains("resent as AnvenderTransaktionsID") && out.contains(&first),
        "{out}"
    );
    env.wait_for(&d, &["delivered"], Duration::from_secs(30))
        .await;
    let (_, shown) = cli(&env, &["show", &first]);
    assert!(
        shown.contains("transaction              2 (resent)")
            && shown.contains("by drift@kommune.dk"),
        "{shown}"
    );
    // Delivered: neither resent nor resolved again, and the CLI says so (exit code 1).
    let (ok, out) = cli(&env, &["resend", &d]);
    assert!(!ok && out.contains("delivered; not sent again"), "{out}");
    let (ok, out) = cli(&env, &["resolve", &d, "--note", "ringet op"]);
    assert!(!ok && out.contains("nothing to resolve"), "{out}");
}
