//! A product's pages as one piece: every page request gets its session (a new visitor gets
//! one, so even the login form has a CSRF token), the page chrome (header, menu, language
//! switch, log-out) is drawn here once, and every form that changes something proves it
//! comes from the portal's own page before its body is parsed.
//!
//! The product gives a router of its pages, the [`Accounts`] that knows its users, and its
//! [`Chrome`]; [`Portal::router`] returns them together with the account pages of
//! [`super::account`], the static assets and the security headers.

use super::session::{Session, Sessions, cookie};
use super::{Lang, text};
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the product tells the web foundation about its users.
pub trait Accounts: Send + Sync + 'static {
    /// Checks a login (the product bounds and slows down password checks, and logs
    /// failures its own way). Never given to anything that logs the password.
    fn check_login(
        &self,
        username: &str,
        password: &str,
        from: IpAddr,
    ) -> impl Future<Output = anyhow::Result<LoginCheck>> + Send;

    /// The user's name, language and whether their role requires a second factor.
    fn account(&self, user_id: i64)
    -> impl Future<Output = anyhow::Result<Option<Account>>> + Send;

    /// Changes the user's own password after checking the current one; the caller then ends
    /// the user's other sessions.
    fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        from: IpAddr,
    ) -> impl Future<Output = PasswordChange> + Send;

    /// Keeps the language a user switched to for their next login.
    fn language_chosen(
        &self,
        user_id: i64,
        lang: Lang,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The address a request came from (the product knows which proxies to trust).
    fn client_ip(&self, parts: &Parts) -> IpAddr;
}

/// The answer to a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The password is right: this user.
    User(i64),
    /// Wrong user name or password (the same answer for both).
    Wrong,
    /// Too many failures: wait this long.
    Wait(Duration),
    /// Too many password checks at once.
    Busy,
}

/// A user as the pages need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub username: String,
    /// The language the user chose, if any.
    pub language: Option<Lang>,
    /// Whether the user may not use the portal without a second factor (a superuser policy).
    pub second_factor_required: bool,
}

/// The answer to a password change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    /// Changed.
    Changed,
    /// The current password given is wrong.
    WrongCurrent,
    /// The new password is not good enough: why, in words for the user.
    Refused(String),
    /// Too many password checks at once.
    Busy,
}

/// One item of the product's main menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    /// The text.
    pub label: String,
    /// Where it goes.
    pub href: String,
    /// Whether it is the section the page is in (marked for screen readers too).
    pub current: bool,
}

/// A count in the header that needs attention (unhandled security events), on every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// What is counted.
    pub label: String,
    /// How many, as shown ("12", or "999+" where counting on would cost more than it tells).
    pub count: String,
    /// Where they are listed.
    pub href: String,
}

/// What stays the same on all of a product's pages.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The product's name in the header and the title.
    pub product: &'static str,
    /// Where the product name links to, and where a login goes when nothing else was asked.
    pub home: &'static str,
    /// Stylesheets after the foundation's own.
    pub css: Vec<&'static str>,
    /// Scripts after the foundation's own.
    pub js: Vec<&'static str>,
}

/// A product's portal: its sessions, second factors, users and chrome.
pub struct Portal<A> {
    /// The sessions.
    pub sessions: Sessions,
    /// The second factors.
    pub factors: super::second_factor::SecondFactors,
    /// The product's users.
    pub accounts: A,
    /// The chrome.
    pub chrome: Chrome,
}

/// How a request's page is to be drawn: its session, where it is, and the chrome. Page
/// handlers take it as an extractor; the middleware of [`Portal::router`] puts it there.
#[derive(Clone)]
pub struct Visit {
    /// The session (perhaps anonymous).
    pub session: Session,
    /// The path of the page, for the language switch to come back to.
    pub path: String,
    /// The browser sent a session cookie that had ended (the login page says so).
    pub session_ended: bool,
    chrome: Arc<Chrome>,
}

impl std::fmt::Debug for Visit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit")
            .field("session", &self.session)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A page's parts besides the chrome: what [`Visit::page`] draws.
#[derive(Debug, Default)]
pub struct Page {
    /// The `<h1>` and `<title>`.
    pub title: String,
    /// The rendered body (HTML from a template).
    pub body: String,
    /// The product's menu, empty on pages before login.
    pub nav: Vec<NavItem>,
    /// The logged-in user's name.
    pub user: Option<String>,
    /// A count needing attention.
    pub badge: Option<Badge>,
    /// The section's help page.
    pub help: Option<String>,
    /// A confirmation of what was just done ("Saved").
    pub notice: Option<String>,
    /// A narrow column (forms of a few fields: login).
    pub narrow: bool,
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    m: &'static text::Msgs,
    lang: &'static str,
    other_lang: &'static str,
    other_lang_label: &'static str,
    title: &'a str,
    product: &'a str,
    home: &'a str,
    css: Vec<&'a str>,
    js: Vec<&'a str>,
    nav: &'a [NavItem],
    user: Option<&'a str>,
    signed_in: bool,
    csrf: &'a str,
    path: &'a str,
    badge: Option<&'a Badge>,
    help: Option<&'a str>,
    help_label: &'static str,
    notice: Option<&'a str>,
    body: &'a str,
    narrow: bool,
}

impl Visit {
    /// The language of the page.
    pub fn lang(&self) -> Lang {
        self.session.lang
    }

    /// The foundation's texts in the page's language.
    pub fn msgs(&self) -> &'static text::Msgs {
        text::msgs(self.session.lang)
    }

    /// The CSRF token the page's forms carry in a hidden `csrf` field.
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// The whole page as a response.
    pub fn page(&self, page: Page) -> Response {
        self.page_with_status(StatusCode::OK, page)
    }

    /// The whole page with another status (a form with errors is 422, so tests and tools
    /// see the refusal).
    pub fn page_with_status(&self, status: StatusCode, page: Page) -> Response {
        let lang = self.session.lang;
        let other = match lang {
            Lang::Da => Lang::En,
            Lang::En => Lang::Da,
        };
        let m = text::msgs(lang);
        let mut css = vec![super::own_assets::PORTAL_CSS];
        css.extend(self.chrome.css.iter().copied());
        let mut js = vec![super::own_assets::PORTAL_JS];
        js.extend(self.chrome.js.iter().copied());
        let layout = Layout {
            m,
            lang: lang.code(),
            other_lang: other.code(),
            other_lang_label: match other {
                Lang::Da => m.lang_da,
                Lang::En => m.lang_en,
            },
            title: &page.title,
            product: self.chrome.product,
            home: self.chrome.home,
            css,
            js,
            nav: &page.nav,
            user: page.user.as_deref(),
            signed_in: self.session.user_id.is_some(),
            csrf: &self.session.csrf,
            path: &self.path,
            badge: page.badge.as_ref(),
            help: page.help.as_deref(),
            help_label: m.help,
            notice: page.notice.as_deref(),
            body: &page.body,
            narrow: page.narrow,
        };
        match layout.render() {
            Ok(html) => (status, html_headers(), html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a page could not be drawn");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// A page saying something went wrong, with a way back.
    pub fn message(&self, status: StatusCode, text: &str) -> Response {
        #[derive(Template)]
        #[template(path = "message.html")]
        struct Message<'a> {
            m: &'static text::Msgs,
            text: &'a str,
            error: bool,
            back: &'a str,
        }
        let m = self.msgs();
        let body = Message {
            m,
            text,
            error: status.is_client_error() || status.is_server_error(),
            back: self.chrome.home,
        }
        .render()
        .unwrap_or_default();
        self.page_with_status(
            status,
            Page {
                title: m.error_title.to_owned(),
                body,
                narrow: true,
                ..Page::default()
            },
        )
    }

    /// The "not found" page: also the answer for what the user may not see, so an id of
    /// another customer's tells nothing.
    pub fn not_found(&self) -> Response {
        self.message(StatusCode::NOT_FOUND, self.msgs().not_found)
    }

    /// The page for a failure of ours (the database is down): logged with its cause, shown
    /// without it.
    pub fn failed(&self, error: &anyhow::Error) -> Response {
        tracing::error!(error = %format!("{error:#}"), path = %self.path, "a page failed");
        self.message(StatusCode::SERVICE_UNAVAILABLE, self.msgs().server_error)
    }
}

fn html_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Visit>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a page route outside Portal::router");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    }
}

/// The extractor of a page only logged-in users see: the user's id, once the second factor
/// is passed. Anyone else goes to the login page, and comes back here after it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The visit.
    pub visit: Visit,
    /// The user.
    pub user_id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let visit = Visit::from_request_parts(parts, state).await?;
        match (visit.session.user_id, visit.session.second_factor_ok) {
            (Some(user_id), true) => Ok(SignedIn { visit, user_id }),
            (Some(_), false) => Err(to_login("/log-ind/kode", parts)),
            (None, _) => Err(to_login("/log-ind", parts)),
        }
    }
}

fn to_login(page: &str, parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let next: String = form_urlencoded(here);
    Redirect::to(&format!("{page}?videre={next}")).into_response()
}

fn form_urlencoded(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Where to go after a login or a language switch: a path of this portal, never another
/// site (`//evil.example` or `https://…` would make the portal an open redirect).
pub fn local_path(next: &str, fallback: &'static str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    if ok {
        next.to_owned()
    } else {
        fallback.to_owned()
    }
}

/// The largest form body the pages read (file uploads use their own limit).
pub const FORM_LIMIT: usize = 256 * 1024;

/// A form posted from one of the portal's own pages: the request must not come from another
/// site (`Sec-Fetch-Site`, `Origin`), and its `csrf` field must be the session's token, all
/// checked before the fields are parsed into `T`. Put it after the extractor that decides
/// who may post, so nothing is read from anyone else.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let visit = Visit::from_request_parts(&mut parts, state).await?;
        if !same_site(&parts.headers) {
            return Err(visit.message(StatusCode::FORBIDDEN, visit.msgs().csrf_failed));
        }
        let bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                return Err(visit.message(StatusCode::PAYLOAD_TOO_LARGE, visit.msgs().server_error));
            }
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !visit.session.csrf_ok(sent) {
            return Err(visit.message(StatusCode::FORBIDDEN, visit.msgs().csrf_failed));
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(t) => Ok(Form(t)),
            Err(e) => {
                // The field's name, never its value: the form may hold a password.
                let text = format!("{}: {e}", visit.msgs().field_error);
                Err(visit.message(StatusCode::UNPROCESSABLE_ENTITY, &text))
            }
        }
    }
}

/// The largest upload a page reads: a script, or a file a script is given (upstream keeps
/// such files in its database too).
pub const UPLOAD_LIMIT: u64 = 32 * 1024 * 1024;

/// A file in an [`Upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The form field's name.
    pub field: String,
    /// The name the browser gave, without any folder.
    pub name: String,
    /// The content.
    pub data: Vec<u8>,
}

/// A `multipart/form-data` form posted from one of the portal's own pages (a form with a file
/// field): the same checks as [`Form`] (same site, the session's `csrf`), with the whole body
/// at most [`UPLOAD_LIMIT`] and its text fields at most [`FORM_LIMIT`] together. A file field
/// left empty is not in `files`. Put it after the extractor that decides who may post.
#[derive(Debug, Default)]
pub struct Upload {
    /// The text fields in the order sent (a name may repeat, as checkboxes do); not `csrf`.
    pub fields: Vec<(String, String)>,
    /// The files.
    pub files: Vec<UploadedFile>,
}

impl Upload {
    /// The first value of the text field `name`, or "".
    pub fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of the text field `name`.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The file sent in the field `name`, if one was chosen.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.field == name)
    }
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let visit = Visit::from_request_parts(&mut parts, state).await?;
        if !same_site(&parts.headers) {
            return Err(visit.message(StatusCode::FORBIDDEN, visit.msgs().csrf_failed));
        }
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok());
        let Some(boundary) = boundary else {
            let text = format!("{}: multipart/form-data", visit.msgs().field_error);
            return Err(visit.message(StatusCode::UNSUPPORTED_MEDIA_TYPE, &text));
        };
        let limits = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(UPLOAD_LIMIT)
                .per_field(UPLOAD_LIMIT),
        );
        let mut multipart =
            multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
        let mut upload = Upload::default();
        let mut csrf = String::new();
        let mut text_bytes = 0usize;
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(upload_refused(&visit, &e)),
            };
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(|n| {
                // Browsers send the bare name; some old ones sent a whole path.
                n.rsplit(['/', '\\']).next().unwrap_or("").to_owned()
            });
            let data = match field.bytes().await {
                Ok(d) => d,
                Err(e) => return Err(upload_refused(&visit, &e)),
            };
            match file_name {
                Some(file) if !file.is_empty() => upload.files.push(UploadedFile {
                    field: name,
                    name: file,
                    data: data.to_vec(),
                }),
                // A file field with no file chosen.
                Some(_) => {}
                None => {
                    text_bytes += data.len();
                    if text_bytes > FORM_LIMIT {
                        return Err(visit.message(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            visit.msgs().upload_too_large,
                        ));
                    }
                    let value = String::from_utf8_lossy(&data).into_owned();
                    if name == "csrf" {
                        csrf = value;
                    } else {
                        upload.fields.push((name, value));
                    }
                }
            }
        }
        if !visit.session.csrf_ok(&csrf) {
            return Err(visit.message(StatusCode::FORBIDDEN, visit.msgs().csrf_failed));
        }
        Ok(upload)
    }
}

fn upload_refused(visit: &Visit, e: &multer::Error) -> Response {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            visit.message(StatusCode::PAYLOAD_TOO_LARGE, visit.msgs().upload_too_large)
        }
        _ => {
            let text = format!("{}: multipart/form-data", visit.msgs().field_error);
            visit.message(StatusCode::BAD_REQUEST, &text)
        }
    }
}

/// Whether the browser says the request comes from the portal's own pages. Browsers send
/// `Sec-Fetch-Site` (all current ones) and `Origin` on a POST; a request that names another
/// site in either is refused. One with neither is a tool, not a browser a page could steer.
pub fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let host = host.to_str().unwrap_or("?");
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host)
        }
        // An origin that cannot be compared (no Host) is not the portal's.
        (Some(_), None) => false,
        _ => true,
    }
}

impl<A: Accounts> Portal<A> {
    /// The product's `pages` with the foundation around them: the account pages, the
    /// static files, sessions on every page, a refusal for any post from another site, and
    /// the security headers on every answer.
    pub fn router(self: Arc<Self>, pages: Router) -> Router {
        let chrome = Arc::new(self.chrome.clone());
        let sessions = self.sessions.clone();
        let with_pages = pages.merge(super::account::router(self.clone()));
        with_pages
            .layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let sessions = sessions.clone();
                    let chrome = chrome.clone();
                    async move { with_session(sessions, chrome, req, next).await }
                },
            ))
            .merge(super::assets_router(super::own_assets::ASSETS))
            .layer(axum::middleware::from_fn(super::security_headers))
    }
}

/// Gives the request its [`Visit`]: the session its cookie names, or a new one.
async fn with_session(
    sessions: Sessions,
    chrome: Arc<Chrome>,
    mut req: Request,
    next: Next,
) -> Response {
    let name = sessions.policy().cookie_name();
    let token = cookie(req.headers(), name).map(str::to_owned);
    let loaded = match &token {
        Some(t) => sessions.load(name, t).await,
        None => Ok(None),
    };
    // A form another site posts is refused here, before any handler, and its answer sets no
    // cookie. The browser leaves the SameSite=Lax session cookie out of such a post, so the
    // new session a request without one gets would replace the user's own: any site could
    // log a user out, and the way to the login page is no answer to a forged form.
    // (`Form` and `Upload` check the same again, with the session's token.)
    let foreign = !req.method().is_safe() && !same_site(req.headers());
    let (session, set_cookie, ended) = match loaded {
        Ok(Some(s)) => (s, None, false),
        Ok(None) if foreign => (
            Sessions::unsaved(Lang::from_accept_language(req.headers())),
            None,
            false,
        ),
        Ok(None) => match sessions
            .start(Lang::from_accept_language(req.headers()))
            .await
        {
            Ok(started) => (started.session, Some(started.set_cookie), token.is_some()),
            Err(e) => return unavailable(&e),
        },
        Err(e) => return unavailable(&e),
    };
    let visit = Visit {
        session,
        path: req.uri().path().to_owned(),
        session_ended: ended,
        chrome,
    };
    if foreign {
        return visit.message(StatusCode::FORBIDDEN, visit.msgs().csrf_failed);
    }
    req.extensions_mut().insert(visit);
    let mut res = next.run(req).await;
    if let Some(c) = set_cookie {
        // A handler that logged in has set the session cookie itself; its cookie wins.
        let prefix = format!("{name}=");
        let handler_set = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
        if !handler_set && let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn unavailable(e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "sessions are unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "503: the portal's database does not answer; try again shortly",
    )
        .into_response()
}
