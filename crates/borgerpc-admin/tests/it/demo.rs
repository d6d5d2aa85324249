//! `borgerpc-admin demo` (the README's main command for the portal) reaches its expected
//! outcome: every simulated PC registered, activated and seen, every job reported, every
//! security event stored, the forged call refused.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_the_expected_outcome() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        borgerpc_admin::demo::run(dir.path(), 40, false)
            .await
            .unwrap()
    );
}

/// `demo --keep` leaves the portal up on the demo's data and prints where and how to log in;
/// that login reaches the sites overview with the demo's sites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keep_leaves_the_portal_running_with_a_login() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_borgerpc-admin"))
        .args(["demo", "--pcs", "10", "--keep"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut password) = (None, None);
    while let Some(line) = lines.next_line().await.unwrap() {
        let line = line.trim().to_owned();
        if line.starts_with("http://") {
            url = Some(line.trim_end_matches('/').to_owned());
        } else if let Some(p) = line.split("adgangskode: ").nth(1) {
            password = Some(p.to_owned());
        } else if line.starts_with("Stop with Ctrl-C") {
            break;
        }
    }
    let (url, password) = (url.expect("the URL"), password.expect("the password"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{url}/log-ind")).send().await.unwrap();
    let sid = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.strip_prefix("sid="))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
        .next()
        .expect("a session");
    let body = page.text().await.unwrap();
    let csrf = crate::common::web::between(&body, "name=\"csrf\" value=\"", "\"");
    let login = client
        .post(format!("{url}/log-ind"))
        .header("cookie", format!("sid={sid}"))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf.as_str()),
                ("brugernavn", "demo"),
                ("adgangskode", password.as_str()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let sid = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.strip_prefix("sid="))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
        .next()
        .expect("a new session at login");
    let home = client
        .get(format!("{url}/"))
        .header("cookie", format!("sid={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("Demo Kommune"));
    child.kill().await.unwrap();
}
