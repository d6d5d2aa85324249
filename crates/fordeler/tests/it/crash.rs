//! Nothing accepted is lost: a separate `fordeler serve` process is killed with SIGKILL at random
//! moments while 200 submissions are posted and delivered to a kombit-sim; after restarts every
//! submission is delivered, every AnvenderTransaktionsID always carried the same payload, and
//! the platform saw at most a few duplicates per kill (one per delivery in flight).

use crate::common;

use rand::Rng as _;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fordeler");
const SUBMISSIONS: usize = 200;
const KILLS: usize = 5;

fn spawn(config: &std::path::Path) -> Child {
    spawn_with(config, &[])
}

fn spawn_with(config: &std::path::Path, env: &[(&str, String)]) -> Child {
    Command::new(BIN)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("serve")
        .arg("-c")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = local.write_config(dir.path(), &db_url, None).unwrap();
    let (sim, http_port) = (&local.sim, local.http_port);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let mut child = spawn(&config);
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(rand::rng().random_range(200..800));
    let mut posted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut n = 0;
    while posted.len() < SUBMISSIONS || kills < KILLS {
        assert!(
            Instant::now() < deadline,
            "posting took too long ({} posted, {kills} kills)",
            posted.len()
        );
        if kills < KILLS && Instant::now() >= next_kill {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            child = spawn(&config);
            next_kill = Instant::now() + Duration::from_millis(rand::rng().random_range(300..1500));
        }
        if posted.len() < SUBMISSIONS {
            let form = if n % 2 == 0 { "journal" } else { "dokument" };
            let uuid = sf2900::Uuid::new_v4().to_string();
            let body = json!({"uuid": uuid, "completed": "1", "emne": "x",
                "_kvittering": {"name": "k.pdf", "mime": "application/pdf", "data": common::pdf(2_000)}});
            // Like OS2forms' queue: send until the Fordeler says it has it.
            let (http, base, body) = (&http, &base, &body);
            common::eventually(deadline, || async move {
                let r = http
                    .post(format!("{base}/intake/{form}/remote-post"))
                    .bearer_auth(common::TOKEN)
                    .json(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => Ok(()),
                    _ => Err("intake never came back".to_owned()),
                }
            })
            .await;
            posted.push(uuid);
            n += 1;
        } else {
            // Everything is posted: time passes until the next kill is due.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Let the last instance finish the work.
    let until = Instant::now() + Duration::from_secs(120);
    let (http, base) = (&http, &base);
    common::eventually(until, || async move {
        let v = delivered(http, base).await;
        if v.0 == SUBMISSIONS as i64 {
            return Ok(());
        }
        Err(format!(
            "not everything was delivered after the kills: {}\nplatform: {:?}",
            v.1,
            sim.summary()
        ))
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();

    let s = sim.summary();
    assert_eq!(
        s.transactions, SUBMISSIONS as u64,
        "every submission reached the platform exactly once as a transaction: {s:?}"
    );
    assert_eq!(
        s.duplicates_with_other_payload, 0,
        "a resend carried another payload: {s:?}"
    );
    // At most one duplicate per delivery in flight at each kill (concurrency 4).
    assert!(
        s.duplicates <= (KILLS * 4) as u64,
        "{} duplicates for {KILLS} kills: {s:?}",
        s.duplicates
    );
    eprintln!(
        "crash test: {SUBMISSIONS} delivered, {KILLS} kills, {} duplicates seen by the platform",
        s.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_the_work_without_double_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let local = fordeler::demo::LocalPlatform::start(dir.path(), Vec::new())
        .await
        .unwrap();
    let db_url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let config = local.write_config(dir.path(), &db_url, None).unwrap();
    // The second instance: the same file, other ports through the environment. A free port
    // may be taken by another test before the instance binds it: then it exits, and is
    // started again on other ports.
    let second = || {
        let http = common::free_port();
        let child = spawn_with(
            &config,
            &[
                ("FORDELER_SERVER__LISTEN", format!("127.0.0.1:{http}")),
                (
                    "FORDELER_RECEIPTS__LISTEN",
                    format!("127.0.0.1:{}", common::free_port()),
                ),
            ],
        );
        (child, format!("http://127.0.0.1:{http}"))
    };
    let mut a = spawn(&config);
    let (mut b, second_base) = second();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut bases = [format!("http://127.0.0.1:{}", local.http_port), second_base];
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..100 {
        let body = json!({"uuid": sf2900::Uuid::new_v4().to_string(), "completed": "1", "emne": "x",
            "_kvittering": {"name": "k.pdf", "mime": "application/pdf", "data": common::pdf(2_000)}});
        let form = if i % 2 == 0 { "journal" } else { "dokument" };
        loop {
            let r = http
                .post(format!("{}/intake/{form}/remote-post", bases[i % 2]))
                .bearer_auth(common::TOKEN)
                .json(&body)
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status().is_success()) {
                break;
            }
            if matches!(b.try_wait(), Ok(Some(_))) {
                (b, bases[1]) = second();
            }
            assert!(Instant::now() < deadline, "intake did not come up");
            // A poll, not `common::eventually`: between looks the second instance may have to be
            // started again on other ports.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (http, base, sim) = (&http, &bases[1], &local.sim);
    common::eventually(deadline, || async move {
        match delivered(http, base).await {
            (100, _) => Ok(()),
            (_, v) => Err(format!("not delivered: {v} {:?}", sim.summary())),
        }
    })
    .await;
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let s = local.sim.summary();
    assert_eq!(s.transactions, 100, "{s:?}");
    assert_eq!(
        s.duplicates, 0,
        "no delivery was sent by both instances: {s:?}"
    );
}

/// How many deliveries `/api/status` counts as delivered, and what it showed (`{}` while the
/// instance does not answer).
async fn delivered(http: &reqwest::Client, base: &str) -> (i64, serde_json::Value) {
    let v: serde_json::Value = match http
        .get(format!("{base}/api/status"))
        .bearer_auth(common::API_TOKEN)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => json!({}),
    };
    let n = ["journal", "dokument"]
        .iter()
        .map(|f| v["forms"][f]["delivered"].as_i64().unwrap_or(0))
        .sum();
    (n, v)
}
