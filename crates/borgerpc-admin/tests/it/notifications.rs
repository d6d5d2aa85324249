//! Offline rules and security events raise alerts that are e-mailed over real SMTP (a small
//! SMTP server in the test, on 127.0.0.1) to the rule's alert users — naming rule, PC and
//! site, and never carrying the PC's message, which may hold personal data.

use crate::common;

use common::Portal;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// A minimal SMTP server: accepts everything, keeps each message's DATA.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(std::mem::take(d));
                            data = None;
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

async fn wait_for_mails(mails: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    common::wait_for(
        &format!("{n} mail(s)"),
        std::time::Duration::from_secs(10),
        || async { (mails.lock().unwrap().len() >= n).then_some(()) },
    )
    .await;
    // Undo quoted-printable soft line breaks, so words are whole again.
    mails
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.replace("=\n", ""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_and_offline_events_are_mailed_without_personal_data() {
    let (port, mails) = smtp_server().await;
    let portal = Portal::start_with(|c| {
        c.notifications.smtp_host = Some("127.0.0.1".into());
        c.notifications.smtp_port = port;
        c.notifications.smtp_security = "none".into();
        c.notifications.from = "BorgerPC <borgerpc@kommune.example>".into();
        c.notifications.send_interval_seconds = 1;
        c.notifications.offline_check_seconds = 1;
        c.server.public_url = Some("https://borgerpc.kommune.example".into());
    })
    .await;
    let site = portal.site("Kommune", "bibliotek").await;
    let user = portal
        .store
        .add_user(
            "it-vagt",
            "it-vagt@kommune.example",
            "a long enough password",
            false,
        )
        .await
        .unwrap();
    portal
        .store
        .add_membership(user.id, "site_admin", None, Some(site.id))
        .await
        .unwrap();
    let key = "ab".repeat(32);
    let (_, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:01", "name": "udlaan-3", "site": "bibliotek", "configuration": {}, "client_key": key}),
        )
        .await;
    let uid = uid.as_str().unwrap().to_owned();
    portal
        .store
        .set_activated(site.id, &uid, true)
        .await
        .unwrap();
    let script = portal
        .store
        .save_script(&borgerpc_admin::store::jobs::NewScript {
            site_id: None,
            uid: None,
            name: "detect sudo".into(),
            description: String::new(),
            category: None,
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap();
    let problem = portal
        .store
        .add_security_problem(site.id, "Sudo brugt", "CRITICAL", script.script_id, &[])
        .await
        .unwrap();
    portal
        .store
        .add_rule_alert_user("security", problem, user.id)
        .await
        .unwrap();

    // The PC reports an event whose text names a citizen and a CPR number.
    let (s, _) = portal
        .post(
            "push_security_events",
            json!({"pc_uid": uid, "events_csv": [format!("20261130101500,{problem},sudo af Jens Hansen 010190-1234\n")], "client_key": key}),
        )
        .await;
    assert_eq!(s, 200);
    let got = wait_for_mails(&mails, 1).await;
    assert_eq!(got.len(), 1, "one mail");
    let mail = &got[0];
    assert!(
        mail.contains("Sudo brugt") && mail.contains("udlaan-3") && mail.contains("CRITICAL"),
        "{mail}"
    );
    assert!(
        mail.contains("https://borgerpc.kommune.example/api/system/event/"),
        "{mail}"
    );
    assert!(
        !mail.contains("010190") && !mail.contains("Jens") && !mail.contains("Hansen"),
        "{mail}"
    );

    // An offline rule: the PC was last seen 20 minutes ago.
    let rule = portal
        .store
        .add_offline_rule(site.id, "Åbningstid", "HIGH", "00:00", "00:00", 15, &[])
        .await
        .unwrap();
    portal
        .store
        .add_rule_alert_user("offline", rule, user.id)
        .await
        .unwrap();
    sqlx::query("UPDATE pcs SET last_seen = $1 WHERE uid = $2")
        .bind(service_kit::db::now_ms() - 20 * 60_000)
        .bind(&uid)
        .execute(portal.store.pool())
        .await
        .unwrap();
    let got = wait_for_mails(&mails, 2).await;
    assert_eq!(got.len(), 2, "the offline alert was mailed");
    assert!(
        got[1].contains("Offline") && got[1].contains("udlaan-3"),
        "{}",
        got[1]
    );
    // Still offline a few checks later: no second event for the same absence. Time must pass
    // here, as what is checked is that nothing happens while it does.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let offline: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE rule_kind = 'offline'")
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(offline, 1);
    assert_eq!(mails.lock().unwrap().len(), 2);
}

/// A PC (or whoever has its key) pushing thousands of events, or tens of thousands of
/// configuration keys, is bounded: at most 1000 events are stored from one push (the rest
/// counted and recorded), and a rule's alert users get one e-mail with the counts per PC, and
/// no more than one per `alert_interval_seconds`. Mail rounds are run here by hand, so what
/// is sent does not depend on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_events_and_keys_are_bounded_and_mailed_as_one_digest() {
    use borgerpc_admin::notify::{Mailed, Mailer, send_round};
    use borgerpc_admin::protocol::{MAX_EVENTS_PER_CALL, MAX_KEYS_PER_CALL, MAX_PC_ENTRIES};
    let (port, mails) = smtp_server().await;
    let mut config = borgerpc_admin::config::NotificationsConfig {
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: port,
        smtp_security: "none".into(),
        from: "BorgerPC <borgerpc@kommune.example>".into(),
        ..Default::default()
    };
    let mailer = Mailer::from_config(
        &config,
        std::path::Path::new("."),
        Some("https://borgerpc.kommune.example".into()),
        chrono_tz::Europe::Copenhagen,
    )
    .unwrap()
    .unwrap();
    // The portal's own mailer runs once at start (nothing to send yet), then not for an hour.
    config.send_interval_seconds = 3600;
    let portal = Portal::start_with(|c| c.notifications = config.clone()).await;
    let site = portal.site("Kommune", "bibliotek").await;
    let user = portal
        .store
        .add_user(
            "it-vagt",
            "it-vagt@kommune.example",
            "a long enough password",
            false,
        )
        .await
        .unwrap();
    let script = portal.echo_script(None, "detect").await;
    let problem = portal
        .store
        .add_security_problem(site.id, "USB-tastatur", "HIGH", script.script_id, &[])
        .await
        .unwrap();
    portal
        .store
        .add_rule_alert_user("security", problem, user.id)
        .await
        .unwrap();
    let mut pcs = Vec::new();
    for (i, key) in ["ab", "cd"].iter().enumerate() {
        let key = key.repeat(32);
        let (_, uid) = portal
            .post(
                "register_new_computer",
                json!({"mac": format!("02:00:00:00:60:0{i}"), "name": format!("udlaan-{i}"), "site": "bibliotek", "configuration": {}, "client_key": key}),
            )
            .await;
        let uid = uid.as_str().unwrap().to_owned();
        portal.activate(&site, &uid).await;
        pcs.push((uid, key));
    }
    let push = |uid: &str, key: &str, n: usize| {
        let lines: Vec<String> = (0..n)
            .map(|i| format!("20261130101500,{problem},tastatur {i} hos 010190-1234\n"))
            .collect();
        portal.post(
            "push_security_events",
            json!({"pc_uid": uid, "events_csv": lines, "client_key": key}),
        )
    };
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM security_events")
            .fetch_one(portal.store.pool())
            .await
            .unwrap()
    };

    // 50,000 lines in one push: the first 1000 are stored, the agent is told 0 (so it does
    // not send the same file for ever), and the drop is recorded with the PC.
    let (s, reply) = push(&pcs[0].0, &pcs[0].1, 50_000).await;
    assert_eq!((s, reply), (200, json!(0)));
    assert_eq!(stored().await, MAX_EVENTS_PER_CALL as i64);
    let dropped: String = sqlx::query_scalar(
        "SELECT r.value FROM pc_reports r JOIN pcs p ON p.id = r.pc_id
         WHERE p.uid = $1 AND r.field = 'security_events_dropped'",
    )
    .bind(&pcs[0].0)
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert_eq!(dropped, (50_000 - MAX_EVENTS_PER_CALL).to_string());
    let (s, _) = push(&pcs[1].0, &pcs[1].1, 7).await;
    assert_eq!(s, 200);

    // One e-mail for the rule, with the counts per PC and no event text.
    let mut mailed = Mailed::default();
    let interval = std::time::Duration::from_secs(300);
    assert_eq!(
        send_round(&portal.store, Some(&mailer), &mut mailed, interval)
            .await
            .unwrap(),
        1
    );
    let got = wait_for_mails(&mails, 1).await;
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    for part in [
        "USB-tastatur",
        "HIGH",
        "1007",
        "udlaan-0: 1000",
        "udlaan-1: 7",
    ] {
        assert!(mail.contains(part), "{part}: {mail}");
    }
    assert!(
        !mail.contains("010190") && !mail.contains("tastatur 1"),
        "{mail}"
    );

    // More events within the interval wait for the next e-mail, whole.
    let (s, _) = push(&pcs[1].0, &pcs[1].1, 3).await;
    assert_eq!(s, 200);
    assert_eq!(
        send_round(&portal.store, Some(&mailer), &mut mailed, interval)
            .await
            .unwrap(),
        0,
        "the rule was mailed less than an interval ago"
    );
    assert_eq!(
        send_round(
            &portal.store,
            Some(&mailer),
            &mut Mailed::default(),
            interval
        )
        .await
        .unwrap(),
        1,
        "an interval later"
    );
    let got = wait_for_mails(&mails, 2).await;
    assert!(got[1].contains("udlaan-1: 3"), "{}", got[1]);
    let waiting: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE notified_at IS NULL")
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(waiting, 0);

    // 60,000 configuration keys in one push: refused whole, with the reason; so is a push
    // that would take a PC past its own entries' bound.
    let entries = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM config_entries")
            .fetch_one(portal.store.pool())
            .await
            .unwrap()
    };
    let before = entries().await;
    let keys = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect::<serde_json::Map<_, _>>()
    };
    let (s, msg) = portal
        .post(
            "push_config_keys",
            json!({"pc_uid": pcs[0].0, "config_dict": keys(0, 60_000), "client_key": pcs[0].1}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        msg.as_str()
            .unwrap()
            .contains(&format!("at most {MAX_KEYS_PER_CALL}")),
        "{msg}"
    );
    assert_eq!(entries().await, before, "nothing changed");
    let mut pushed = 0;
    let refused = loop {
        let (s, msg) = portal
            .post(
                "push_config_keys",
                json!({"pc_uid": pcs[0].0, "config_dict": keys(pushed, MAX_KEYS_PER_CALL), "client_key": pcs[0].1}),
            )
            .await;
        if s != 200 {
            break (s, msg);
        }
        pushed += MAX_KEYS_PER_CALL;
        assert!(pushed <= MAX_PC_ENTRIES, "the bound holds");
    };
    assert_eq!(refused.0, 400);
    assert!(
        refused
            .1
            .as_str()
            .unwrap()
            .contains(&MAX_PC_ENTRIES.to_string()),
        "{}",
        refused.1
    );
}
