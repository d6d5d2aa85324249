//! The portal's way in, through the router as a browser uses it (cookies, forms, redirects),
//! with users kept in memory.

use super::second_factor::SecondFactors;
use super::session::{Policy, SCHEMA, Sessions};
use super::*;
use crate::db::{Db, Migration, test_db};
use axum::body::Body;
use axum::http::Request;
use axum::http::request::Parts;
use axum::routing::get;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt as _;

#[derive(Default)]
struct Users {
    /// name → (id, password, second factor required)
    by_name: Mutex<HashMap<String, (i64, String, bool)>>,
}

impl Accounts for Users {
    async fn check_login(
        &self,
        username: &str,
        password: &str,
        _: IpAddr,
    ) -> anyhow::Result<LoginCheck> {
        Ok(match self.by_name.lock().expect("lock").get(username) {
            Some((id, p, _)) if p == password => LoginCheck::User(*id),
            _ => LoginCheck::Wrong,
        })
    }

    async fn language_chosen(&self, _: i64, _: Lang) -> anyhow::Result<()> {
        Ok(())
    }

    async fn account(&self, user_id: i64) -> anyhow::Result<Option<Account>> {
        Ok(self
            .by_name
            .lock()
            .expect("lock")
            .iter()
            .find(|(_, (id, _, _))| *id == user_id)
            .map(|(name, (_, _, required))| Account {
                username: name.clone(),
                language: None,
                second_factor_required: *required,
            }))
    }

    async fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        _: IpAddr,
    ) -> PasswordChange {
        let mut users = self.by_name.lock().expect("lock");
        let Some((_, p, _)) = users.values_mut().find(|(id, _, _)| *id == user_id) else {
            return PasswordChange::WrongCurrent;
        };
        if p != current {
            return PasswordChange::WrongCurrent;
        }
        if new.len() < 10 {
            return PasswordChange::Refused("too short".into());
        }
        *p = new.to_owned();
        PasswordChange::Changed
    }

    fn client_ip(&self, _: &Parts) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

struct App {
    router: axum::Router,
    db: Db,
    factors: SecondFactors,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = test_db(dir.path()).await.expect("db");
    db.migrate(&[Migration {
        version: 1,
        name: "web",
        sql: SCHEMA,
    }])
    .await
    .expect("schema");
    let users = Users::default();
    users.by_name.lock().expect("lock").extend([
        ("anna".to_owned(), (1, "rigtig-kode-1".to_owned(), false)),
        ("bo".to_owned(), (2, "rigtig-kode-2".to_owned(), true)),
    ]);
    let factors = SecondFactors::new(db.clone(), "Test");
    let portal = Arc::new(Portal {
        sessions: Sessions::new(
            db.clone(),
            Policy {
                idle: Duration::from_secs(600),
                absolute: Duration::from_secs(3600),
                secure: false,
            },
        ),
        factors: factors.clone(),
        accounts: users,
        chrome: Chrome {
            product: "Testportal",
            home: "/",
            css: vec![],
            js: vec![],
        },
    });
    let pages = axum::Router::new().route(
        "/",
        get(|s: SignedIn| async move {
            s.visit.page(Page {
                title: format!("Velkommen {}", s.user_id),
                body: "<p id=\"status\">inde</p>".into(),
                ..Page::default()
            })
        }),
    );
    App {
        router: portal.router(pages),
        db,
        factors,
        _dir: dir,
    }
}

/// A browser's cookie jar of one cookie, and what came back.
#[derive(Default)]
struct Browser {
    sid: Option<String>,
}

struct Answer {
    status: u16,
    location: String,
    body: String,
    headers: axum::http::HeaderMap,
}

impl Browser {
    async fn send(&mut self, app: &App, req: axum::http::request::Builder, body: &str) -> Answer {
        let req = match &self.sid {
            Some(s) => req.header("cookie", format!("sid={s}")),
            None => req,
        };
        let res = app
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
            .await
            .expect("infallible");
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().expect("ascii");
            if let Some(v) = c.strip_prefix("sid=") {
                let v = v.split(';').next().unwrap_or("");
                self.sid = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .map(|l| l.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        Answer {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
            headers,
        }
    }

    async fn get(&mut self, app: &App, uri: &str) -> Answer {
        self.send(app, Request::get(uri), "").await
    }

    async fn post(&mut self, app: &App, uri: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).expect("form");
        let req = Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        self.send(app, req, &body).await
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn a_visitor_logs_in_and_out_and_the_pages_say_so() {
    let app = app().await;
    let mut b = Browser::default();
    let a = b.get(&app, "/").await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/log-ind?videre=%2F")
    );
    let form = b.get(&app, "/log-ind?videre=%2F").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<html lang=\"da\">") && form.body.contains("Brugernavn"));
    assert!(
        form.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("script-src 'self'")
    );
    assert_eq!(form.headers["cache-control"], "no-store");
    let csrf = csrf_of(&form.body);
    let anonymous = b.sid.clone();

    let wrong = b
        .post(
            &app,
            "/log-ind",
            &[
                ("csrf", &csrf),
                ("brugernavn", "anna"),
                ("adgangskode", "forkert"),
                ("videre", "/"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Forkert brugernavn eller adgangskode."));
    assert!(
        !wrong.body.contains("forkert\""),
        "the password is not echoed"
    );

    let right = b
        .post(
            &app,
            "/log-ind",
            &[
                ("csrf", &csrf),
                ("brugernavn", "anna"),
                ("adgangskode", "rigtig-kode-1"),
                ("videre", "/"),
            ],
        )
        .await;
    assert_eq!((right.status, right.location.as_str()), (303, "/"));
    assert_ne!(b.sid, anonymous, "a new token at login");
    let home = b.get(&app, "/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"status\">inde") && home.body.contains("Log ud"));

    // The token from before the login is worth nothing.
    let mut planted = Browser { sid: anonymous };
    assert_eq!(planted.get(&app, "/").await.status, 303);

    // Language: English from now on, back to the page.
    let csrf = csrf_of(&home.body);
    let switched = b
        .post(
            &app,
            "/sprog",
            &[("csrf", &csrf), ("sprog", "en"), ("tilbage", "/")],
        )
        .await;
    assert_eq!((switched.status, switched.location.as_str()), (303, "/"));
    let home = b.get(&app, "/").await;
    assert!(home.body.contains("<html lang=\"en\">") && home.body.contains("Log out"));
    // Never to another site.
    let away = b
        .post(
            &app,
            "/sprog",
            &[
                ("csrf", &csrf),
                ("sprog", "da"),
                ("tilbage", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(away.location, "/");

    let out = b.post(&app, "/log-ud", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/log-ind"));
    assert_eq!(b.get(&app, "/").await.status, 303);

    let log: Vec<(String, String)> =
        sqlx::query_as("SELECT username, outcome FROM web_login_log ORDER BY id")
            .fetch_all(app.db.reader())
            .await
            .expect("log");
    assert_eq!(
        log,
        [
            ("anna".into(), "password_wrong".into()),
            ("anna".into(), "ok".into())
        ]
    );
}

#[tokio::test]
async fn forms_from_elsewhere_or_without_the_token_are_refused() {
    let app = app().await;
    let mut b = Browser::default();
    let form = b.get(&app, "/log-ind").await;
    let csrf = csrf_of(&form.body);
    let fields = [("brugernavn", "anna"), ("adgangskode", "rigtig-kode-1")];

    let none = b.post(&app, "/log-ind", &fields).await;
    assert_eq!(none.status, 403);
    let wrong = b
        .post(&app, "/log-ind", &[fields[0], fields[1], ("csrf", "x")])
        .await;
    assert_eq!(wrong.status, 403);

    let body =
        serde_urlencoded::to_string([fields[0], fields[1], ("csrf", csrf.as_str())]).expect("form");
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let req = Request::post("/log-ind")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "portal.example")
            .header(header, value);
        let a = b.send(&app, req, &body).await;
        assert_eq!(a.status, 403, "{header}: {value}");
        assert!(a.body.contains("kom fra et andet websted"), "{}", a.body);
    }
    // The same form from the portal's own origin goes through.
    let req = Request::post("/log-ind")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "portal.example")
        .header("origin", "https://portal.example");
    assert_eq!(b.send(&app, req, &body).await.status, 303);
}

#[tokio::test]
async fn a_role_that_requires_a_second_factor_enrols_before_any_page() {
    let app = app().await;
    let mut b = Browser::default();
    let form = b.get(&app, "/log-ind").await;
    let csrf = csrf_of(&form.body);
    let a = b
        .post(
            &app,
            "/log-ind",
            &[
                ("csrf", &csrf),
                ("brugernavn", "bo"),
                ("adgangskode", "rigtig-kode-2"),
                ("videre", "/"),
            ],
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/konto/totrin?videre=%2F")
    );
    // No page yet, only enrolment.
    assert_eq!(b.get(&app, "/").await.location, "/log-ind/kode?videre=%2F");
    let enrol = b.get(&app, "/konto/totrin?videre=%2F").await;
    assert_eq!(enrol.status, 200);
    assert!(enrol.body.contains("<svg") && enrol.body.contains("id=\"noegle\""));
    let secret: String = {
        let at = enrol.body.find("id=\"noegle\">").expect("secret") + 12;
        enrol.body[at..]
            .split('<')
            .next()
            .expect("text")
            .replace(' ', "")
    };
    let csrf = csrf_of(&enrol.body);
    let wrong = b
        .post(
            &app,
            "/konto/totrin",
            &[("csrf", &csrf), ("kode", "000000"), ("videre", "/")],
        )
        .await;
    assert_eq!(wrong.status, 422);

    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).expect("base32"))
        .with_account_name("bo")
        .build()
        .expect("totp");
    let code = totp.generate_current().to_string();
    let done = b
        .post(
            &app,
            "/konto/totrin",
            &[("csrf", &csrf), ("kode", &code), ("videre", "/")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"reservekoder\""));
    assert_eq!(b.get(&app, "/").await.status, 200);
    assert!(app.factors.is_enrolled(2).await.expect("read"));

    // Next login: the code page, where the same code is refused (used once).
    let mut again = Browser::default();
    let form = again.get(&app, "/log-ind").await;
    let csrf = csrf_of(&form.body);
    let a = again
        .post(
            &app,
            "/log-ind",
            &[
                ("csrf", &csrf),
                ("brugernavn", "bo"),
                ("adgangskode", "rigtig-kode-2"),
                ("videre", "/"),
            ],
        )
        .await;
    assert_eq!(a.location, "/log-ind/kode?videre=%2F");
    let page = again.get(&app, &a.location).await;
    let csrf = csrf_of(&page.body);
    let reused = again
        .post(
            &app,
            "/log-ind/kode",
            &[("csrf", &csrf), ("kode", &code), ("videre", "/")],
        )
        .await;
    assert_eq!(reused.status, 401);
    // Four more wrong codes and the user waits, whatever the code.
    for _ in 0..4 {
        again
            .post(
                &app,
                "/log-ind/kode",
                &[("csrf", &csrf), ("kode", "111111")],
            )
            .await;
    }
    let next = totp
        .generate(totp_rs::Totp::next_step_current(&totp))
        .to_string();
    let waits = again
        .post(&app, "/log-ind/kode", &[("csrf", &csrf), ("kode", &next)])
        .await;
    assert_eq!(waits.status, 429);
}

#[tokio::test]
async fn a_password_change_ends_the_users_other_sessions() {
    let app = app().await;
    let (mut one, mut two) = (Browser::default(), Browser::default());
    for b in [&mut one, &mut two] {
        let form = b.get(&app, "/log-ind").await;
        let csrf = csrf_of(&form.body);
        b.post(
            &app,
            "/log-ind",
            &[
                ("csrf", &csrf),
                ("brugernavn", "anna"),
                ("adgangskode", "rigtig-kode-1"),
            ],
        )
        .await;
    }
    let page = one.get(&app, "/konto").await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let mismatch = one
        .post(
            &app,
            "/konto/adgangskode",
            &[
                ("csrf", &csrf),
                ("nuvaerende", "rigtig-kode-1"),
                ("ny", "en-ny-lang-kode"),
                ("gentag", "noget-andet"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("ikke ens"));
    let changed = one
        .post(
            &app,
            "/konto/adgangskode",
            &[
                ("csrf", &csrf),
                ("nuvaerende", "rigtig-kode-1"),
                ("ny", "en-ny-lang-kode"),
                ("gentag", "en-ny-lang-kode"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(changed.body.contains("Adgangskoden er skiftet"));
    assert_eq!(one.get(&app, "/").await.status, 200);
    assert_eq!(two.get(&app, "/").await.status, 303);
}

#[test]
fn only_local_paths_are_followed() {
    use super::portal::local_path;
    for bad in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "evil",
        "",
        "/a\nb",
    ] {
        assert_eq!(local_path(bad, "/"), "/", "{bad:?}");
    }
    assert_eq!(local_path("/pc/3?fane=job", "/"), "/pc/3?fane=job");
}
