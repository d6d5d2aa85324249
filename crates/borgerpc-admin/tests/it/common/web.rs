//! A person at the portal's pages over real HTTP, without a browser: a session cookie, forms
//! with their CSRF token, redirects looked at one by one. The browser tests (Chromium) prove
//! the pages in a real browser; these prove what each page and form does, quickly.

use super::Portal;
use reqwest::redirect::Policy;

/// The password every test user gets.
pub(crate) const PASSWORD: &str = "en lang og god adgangskode 2026";

/// An answer: status, `Location` and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

pub(crate) struct WebUser {
    client: reqwest::Client,
    base: String,
    sid: Option<String>,
    /// The CSRF token of the last page read.
    pub csrf: String,
}

impl WebUser {
    /// A visitor with no session yet.
    pub(crate) fn visitor(portal: &Portal) -> WebUser {
        WebUser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: portal.url.clone(),
            sid: None,
            csrf: String::new(),
        }
    }

    /// This user's session cookie presented to another portal, as a thief would.
    pub(crate) fn presented_to(&self, portal: &Portal) -> WebUser {
        WebUser {
            client: self.client.clone(),
            base: portal.url.clone(),
            sid: self.sid.clone(),
            csrf: self.csrf.clone(),
        }
    }

    /// Logs `username` in with [`PASSWORD`] through the login form; where the user must use a
    /// second factor, enrols one from the enrolment page (reading the key as a person would
    /// type it into an app).
    pub(crate) async fn login(portal: &Portal, username: &str) -> WebUser {
        let mut u = WebUser::visitor(portal);
        u.get("/log-ind").await;
        let a = u
            .post(
                "/log-ind",
                &[
                    ("brugernavn", username),
                    ("adgangskode", PASSWORD),
                    ("videre", "/"),
                ],
            )
            .await;
        assert_eq!(a.status, 303, "login of {username}: {}", a.body);
        if a.location.starts_with("/konto/totrin") {
            let page = u.get(&a.location).await;
            let secret = between(&page.body, "id=\"noegle\">", "<").replace(' ', "");
            let code = totp(&secret).generate_current().to_string();
            let done = u
                .post("/konto/totrin", &[("kode", &code), ("videre", "/")])
                .await;
            assert_eq!(done.status, 200, "enrolment of {username}: {}", done.body);
        } else {
            assert_eq!(a.location, "/", "login of {username}");
        }
        u
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let req = match &self.sid {
            Some(s) => req.header("cookie", format!("sid={s}")),
            None => req,
        };
        let res = req.send().await.expect("the portal answers");
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().expect("ascii cookie");
            if let Some(v) = c.strip_prefix("sid=") {
                let v = v.split(';').next().unwrap_or("");
                self.sid = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = res.text().await.unwrap_or_default();
        if let Some(at) = body.find("name=\"csrf\" value=\"") {
            self.csrf = between(&body[at..], "value=\"", "\"");
        }
        Answer {
            status,
            location,
            body,
            headers,
        }
    }

    /// GET a file as bytes (an XLSX is no text): status, headers, body.
    pub(crate) async fn get_bytes(
        &mut self,
        path: &str,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let req = self.client.get(format!("{}{path}", self.base));
        let req = match &self.sid {
            Some(s) => req.header("cookie", format!("sid={s}")),
            None => req,
        };
        let res = req.send().await.expect("the portal answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.unwrap().to_vec())
    }

    /// GET a page (the token of its forms is kept for the next post).
    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// POST a form from one of the portal's pages, with the session's CSRF token.
    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        fields.extend_from_slice(form);
        let body = serde_urlencoded::to_string(&fields).expect("form");
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(body);
        self.send(req).await
    }

    /// POST a multipart form (a file upload) from one of the portal's pages.
    pub(crate) async fn post_multipart(
        &mut self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Answer {
        let form = form.text("csrf", self.csrf.clone());
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", "same-origin")
            .multipart(form);
        self.send(req).await
    }

    /// POST a form from the portal's own pages but without the CSRF token, as a forged form
    /// would have to.
    pub(crate) async fn post_without_token(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).expect("form");
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(body);
        self.send(req).await
    }

    /// POST as another site would make a browser do it: the session's own token, but
    /// `Sec-Fetch-Site: cross-site`.
    pub(crate) async fn post_cross_site(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        fields.extend_from_slice(form);
        let body = serde_urlencoded::to_string(&fields).expect("form");
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "cross-site")
            .body(body);
        self.send(req).await
    }
}

/// The text between `start` and the next `end` in `s`; panics naming `start` if absent.
pub(crate) fn between(s: &str, start: &str, end: &str) -> String {
    let at = s
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in the page"))
        + start.len();
    s[at..].split(end).next().unwrap_or("").to_owned()
}

/// The TOTP generator of a base32 secret, as an authenticator app has it.
pub(crate) fn totp(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32 secret"))
        .with_account_name("test")
        .build()
        .expect("totp")
}

impl Portal {
    /// A user with [`PASSWORD`] and a role: `customer_admin` of the site's customer, or
    /// `site_admin` / `site_user` of the site; `superuser` makes a superuser.
    pub(crate) async fn web_user(
        &self,
        username: &str,
        role: &str,
        site: &borgerpc_admin::store::tenants::Site,
    ) {
        let u = self
            .store
            .add_user(
                username,
                &format!("{username}@example.dk"),
                PASSWORD,
                role == "superuser",
            )
            .await
            .expect("user");
        match role {
            "superuser" => {}
            "customer_admin" => self
                .store
                .add_membership(u.id, role, Some(site.customer_id), None)
                .await
                .expect("role"),
            _ => self
                .store
                .add_membership(u.id, role, None, Some(site.id))
                .await
                .expect("role"),
        }
    }
}

impl Portal {
    /// A registered PC of `site` (not activated); its id and uid.
    pub(crate) async fn pc(
        &self,
        site: &borgerpc_admin::store::tenants::Site,
        name: &str,
    ) -> (i64, String) {
        let uid = borgerpc_admin::store::pcs::new_pc_uid();
        let n = name
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
        let mac = format!(
            "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
            n >> 24,
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255
        );
        let id = self
            .store
            .insert_pc(borgerpc_admin::store::pcs::NewPc {
                site_id: site.id,
                uid: &uid,
                mac: &mac,
                name,
                client_key_hash: "",
                entries: vec![],
            })
            .await
            .expect("pc")
            .expect("a new pc");
        (id, uid)
    }
}
