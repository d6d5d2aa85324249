//! The pages every portal has the same: logging in and out, the second factor (typing a
//! code, enrolling, backup codes), one's own account (password, backup codes), and the
//! language switch.
//!
//! The way in is: password → (second factor, or enrolment where the role requires it) →
//! the page first asked for. Each step replaces the session's token. Every attempt is in the
//! login log (user name as typed, address, outcome; never a password or a code), and wrong
//! codes slow down like wrong passwords: five in a quarter of an hour and the user waits.

use super::portal::{
    Accounts, Form, LoginCheck, Page, PasswordChange, Portal, SignedIn, Visit, local_path,
};
use super::second_factor::Checked;
use super::session::Started;
use super::{Lang, text};
use crate::db::now_ms;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Wrong second-factor codes allowed per user in [`CODE_WINDOW_MS`].
const CODE_FAILURES: i64 = 5;
/// The window they are counted in.
const CODE_WINDOW_MS: i64 = 15 * 60_000;

/// The account pages' routes.
pub(crate) fn router<A: Accounts>(portal: Arc<Portal<A>>) -> Router {
    Router::new()
        .route("/log-ind", get(login_form::<A>).post(login::<A>))
        .route("/log-ind/kode", get(code_form::<A>).post(code::<A>))
        .route("/log-ud", post(logout::<A>))
        .route("/sprog", post(language::<A>))
        .route("/konto", get(account::<A>))
        .route("/konto/totrin", get(enrol_form::<A>).post(enrol::<A>))
        .route("/konto/adgangskode", post(password::<A>))
        .route("/konto/reservekoder", post(renew_codes::<A>))
        .with_state(portal)
}

/// The address of the request, as the product reads it.
struct ClientIp(IpAddr);

impl<A: Accounts> FromRequestParts<Arc<Portal<A>>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal<A>>,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(portal.accounts.client_ip(parts)))
    }
}

#[derive(Deserialize, Default)]
struct Next {
    #[serde(default)]
    videre: String,
}

/// Where to go once in: the page asked for, else the product's home.
fn next_of<A>(portal: &Portal<A>, next: &str) -> String {
    local_path(next, portal.chrome.home)
}

/// A redirect that also sets the new session's cookie.
fn go_with(started: &Started, to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&started.set_cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn narrow(title: &str, body: String) -> Page {
    Page {
        title: title.to_owned(),
        body,
        narrow: true,
        ..Page::default()
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginBody<'a> {
    m: &'static text::Msgs,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn login_page(
    visit: &Visit,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let m = visit.msgs();
    let body = LoginBody {
        m,
        csrf: visit.csrf(),
        next,
        username,
        error,
    }
    .render()
    .unwrap_or_default();
    visit.page_with_status(status, narrow(m.log_in_title, body))
}

async fn login_form<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    visit: Visit,
    Query(q): Query<Next>,
) -> Response {
    let next = next_of(&portal, &q.videre);
    match (visit.session.user_id, visit.session.second_factor_ok) {
        (Some(_), true) => return Redirect::to(&next).into_response(),
        (Some(_), false) => {
            return Redirect::to(&format!("/log-ind/kode?videre={}", encode(&next)))
                .into_response();
        }
        (None, _) => {}
    }
    let ended = visit.session_ended.then_some(visit.msgs().session_ended);
    login_page(&visit, StatusCode::OK, &next, "", ended)
}

#[derive(Deserialize)]
struct LoginFields {
    #[serde(default)]
    brugernavn: String,
    #[serde(default)]
    adgangskode: String,
    #[serde(default)]
    videre: String,
}

async fn login<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    ClientIp(from): ClientIp,
    visit: Visit,
    Form(f): Form<LoginFields>,
) -> Response {
    let m = visit.msgs();
    let next = next_of(&portal, &f.videre);
    let username = f.brugernavn.trim();
    let check = portal
        .accounts
        .check_login(username, &f.adgangskode, from)
        .await;
    let check = match check {
        Ok(c) => c,
        Err(e) => return visit.failed(&e),
    };
    let user_id = match check {
        LoginCheck::User(id) => id,
        LoginCheck::Wrong => {
            log(&portal, username, None, from, "password_wrong").await;
            return login_page(
                &visit,
                StatusCode::UNAUTHORIZED,
                &next,
                username,
                Some(m.login_failed),
            );
        }
        LoginCheck::Wait(_) => {
            log(&portal, username, None, from, "throttled").await;
            return login_page(
                &visit,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                username,
                Some(m.login_wait),
            );
        }
        LoginCheck::Busy => {
            return login_page(
                &visit,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                username,
                Some(m.login_busy),
            );
        }
    };
    let account = match portal.accounts.account(user_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return login_page(
                &visit,
                StatusCode::UNAUTHORIZED,
                &next,
                username,
                Some(m.login_failed),
            );
        }
        Err(e) => return visit.failed(&e),
    };
    let enrolled = match portal.factors.is_enrolled(user_id).await {
        Ok(e) => e,
        Err(e) => return visit.failed(&e),
    };
    let lang = account.language.unwrap_or(visit.session.lang);
    let done = !enrolled && !account.second_factor_required;
    let started = match portal
        .sessions
        .log_in(&visit.session, user_id, done, lang)
        .await
    {
        Ok(s) => s,
        Err(e) => return visit.failed(&e),
    };
    let next_q = encode(&next);
    if enrolled {
        log(&portal, username, Some(user_id), from, "password_ok").await;
        go_with(&started, &format!("/log-ind/kode?videre={next_q}"))
    } else if account.second_factor_required {
        log(&portal, username, Some(user_id), from, "password_ok_enrol").await;
        go_with(&started, &format!("/konto/totrin?videre={next_q}"))
    } else {
        log(&portal, username, Some(user_id), from, "ok").await;
        go_with(&started, &next)
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodeBody<'a> {
    m: &'static text::Msgs,
    csrf: &'a str,
    next: &'a str,
    wrong: bool,
    error: Option<&'a str>,
}

fn code_page(
    visit: &Visit,
    status: StatusCode,
    next: &str,
    wrong: bool,
    error: Option<&str>,
) -> Response {
    let m = visit.msgs();
    let body = CodeBody {
        m,
        csrf: visit.csrf(),
        next,
        wrong,
        error,
    }
    .render()
    .unwrap_or_default();
    visit.page_with_status(status, narrow(m.second_factor_title, body))
}

async fn code_form<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    visit: Visit,
    Query(q): Query<Next>,
) -> Response {
    let next = next_of(&portal, &q.videre);
    match (visit.session.user_id, visit.session.second_factor_ok) {
        (None, _) => Redirect::to("/log-ind").into_response(),
        (Some(_), true) => Redirect::to(&next).into_response(),
        (Some(_), false) => code_page(&visit, StatusCode::OK, &next, false, None),
    }
}

#[derive(Deserialize)]
struct CodeFields {
    #[serde(default)]
    kode: String,
    #[serde(default)]
    videre: String,
}

async fn code<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    ClientIp(from): ClientIp,
    visit: Visit,
    Form(f): Form<CodeFields>,
) -> Response {
    let next = next_of(&portal, &f.videre);
    let Some(user_id) = visit.session.user_id else {
        return Redirect::to("/log-ind").into_response();
    };
    let account = match portal.accounts.account(user_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Redirect::to("/log-ind").into_response(),
        Err(e) => return visit.failed(&e),
    };
    match recent_code_failures(&portal, user_id).await {
        Ok(n) if n >= CODE_FAILURES => {
            log(
                &portal,
                &account.username,
                Some(user_id),
                from,
                "code_throttled",
            )
            .await;
            let wait = visit.msgs().login_wait;
            return code_page(
                &visit,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                false,
                Some(wait),
            );
        }
        Ok(_) => {}
        Err(e) => return visit.failed(&e),
    }
    let checked = match portal
        .factors
        .check(user_id, &account.username, f.kode.trim())
        .await
    {
        Ok(c) => c,
        Err(e) => return visit.failed(&e),
    };
    if !checked.passed() {
        log(
            &portal,
            &account.username,
            Some(user_id),
            from,
            "code_wrong",
        )
        .await;
        return code_page(&visit, StatusCode::UNAUTHORIZED, &next, true, None);
    }
    let outcome = if checked == Checked::BackupCodeUsed {
        "ok_backup_code"
    } else {
        "ok"
    };
    log(&portal, &account.username, Some(user_id), from, outcome).await;
    match portal.sessions.second_factor_passed(&visit.session).await {
        Ok(started) => go_with(&started, &next),
        Err(e) => visit.failed(&e),
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolBody<'a> {
    m: &'static text::Msgs,
    csrf: &'a str,
    next: &'a str,
    qr_svg: &'a str,
    secret_text: &'a str,
    required: bool,
    wrong: bool,
}

/// The enrolment page: for a user who is fully in, or one whose role requires a second
/// factor and who has only passed the password (the only page such a session reaches).
async fn enrolling_user<A: Accounts>(
    portal: &Portal<A>,
    visit: &Visit,
) -> Result<(i64, super::portal::Account), Response> {
    let Some(user_id) = visit.session.user_id else {
        return Err(Redirect::to("/log-ind?videre=%2Fkonto%2Ftotrin").into_response());
    };
    let account = match portal.accounts.account(user_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(Redirect::to("/log-ind").into_response()),
        Err(e) => return Err(visit.failed(&e)),
    };
    match portal.factors.is_enrolled(user_id).await {
        // Enrolled users pass their code first; then the account page shows the rest.
        Ok(true) if visit.session.second_factor_ok => Err(Redirect::to("/konto").into_response()),
        Ok(true) => Err(Redirect::to("/log-ind/kode").into_response()),
        Ok(false) => Ok((user_id, account)),
        Err(e) => Err(visit.failed(&e)),
    }
}

fn enrol_page(
    visit: &Visit,
    status: StatusCode,
    next: &str,
    provisioning: &super::second_factor::Provisioning,
    required: bool,
    wrong: bool,
) -> Response {
    let m = visit.msgs();
    let body = EnrolBody {
        m,
        csrf: visit.csrf(),
        next,
        qr_svg: &provisioning.qr_svg,
        secret_text: &provisioning.secret_text,
        required,
        wrong,
    }
    .render()
    .unwrap_or_default();
    visit.page_with_status(status, narrow(m.enrol_title, body))
}

async fn enrol_form<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    visit: Visit,
    Query(q): Query<Next>,
) -> Response {
    let next = next_of(&portal, &q.videre);
    let (user_id, account) = match enrolling_user(&portal, &visit).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // A reload shows the same secret; a first visit makes one.
    let provisioning = match portal.factors.pending(user_id, &account.username).await {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => portal.factors.begin(user_id, &account.username).await,
        Err(e) => Err(e),
    };
    match provisioning {
        Ok(Some(p)) => enrol_page(
            &visit,
            StatusCode::OK,
            &next,
            &p,
            account.second_factor_required,
            false,
        ),
        Ok(None) => Redirect::to("/konto").into_response(),
        Err(e) => visit.failed(&e),
    }
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct CodesBody<'a> {
    m: &'static text::Msgs,
    codes: &'a [String],
    next: &'a str,
}

fn codes_page(visit: &Visit, codes: &[String], next: &str, started: Option<&Started>) -> Response {
    let m = visit.msgs();
    let body = CodesBody { m, codes, next }.render().unwrap_or_default();
    let mut res = visit.page(narrow(m.backup_codes_title, body));
    if let Some(s) = started
        && let Ok(v) = HeaderValue::from_str(&s.set_cookie)
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn enrol<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    ClientIp(from): ClientIp,
    visit: Visit,
    Form(f): Form<CodeFields>,
) -> Response {
    let next = next_of(&portal, &f.videre);
    let (user_id, account) = match enrolling_user(&portal, &visit).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match recent_code_failures(&portal, user_id).await {
        Ok(n) if n >= CODE_FAILURES => {
            log(
                &portal,
                &account.username,
                Some(user_id),
                from,
                "code_throttled",
            )
            .await;
            return visit.message(StatusCode::TOO_MANY_REQUESTS, visit.msgs().login_wait);
        }
        Ok(_) => {}
        Err(e) => return visit.failed(&e),
    }
    let checked = match portal
        .factors
        .check(user_id, &account.username, f.kode.trim())
        .await
    {
        Ok(c) => c,
        Err(e) => return visit.failed(&e),
    };
    let Checked::Confirmed { backup_codes } = checked else {
        log(
            &portal,
            &account.username,
            Some(user_id),
            from,
            "enrol_code_wrong",
        )
        .await;
        return match portal.factors.pending(user_id, &account.username).await {
            Ok(Some(p)) => enrol_page(
                &visit,
                StatusCode::UNPROCESSABLE_ENTITY,
                &next,
                &p,
                account.second_factor_required,
                true,
            ),
            Ok(None) => Redirect::to("/konto").into_response(),
            Err(e) => visit.failed(&e),
        };
    };
    log(&portal, &account.username, Some(user_id), from, "enrolled").await;
    // The session passed its second factor just now, and gets a new token for it.
    match portal.sessions.second_factor_passed(&visit.session).await {
        Ok(started) => codes_page(&visit, &backup_codes, &next, Some(&started)),
        Err(e) => visit.failed(&e),
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountBody<'a> {
    m: &'static text::Msgs,
    csrf: &'a str,
    enrolled: bool,
    backup_left: i64,
    error: Option<&'a str>,
}

async fn account_page<A: Accounts>(
    portal: &Portal<A>,
    signed: &SignedIn,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let visit = &signed.visit;
    let m = visit.msgs();
    let (account, enrolled, left) = match (
        portal.accounts.account(signed.user_id).await,
        portal.factors.is_enrolled(signed.user_id).await,
        portal.factors.backup_codes_left(signed.user_id).await,
    ) {
        (Ok(Some(a)), Ok(e), Ok(l)) => (a, e, l),
        (Ok(None), _, _) => return visit.not_found(),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return visit.failed(&e),
    };
    let body = AccountBody {
        m,
        csrf: visit.csrf(),
        enrolled,
        backup_left: left,
        error,
    }
    .render()
    .unwrap_or_default();
    visit.page_with_status(
        status,
        Page {
            title: m.account_title.to_owned(),
            body,
            user: Some(account.username),
            notice: notice.map(str::to_owned),
            narrow: true,
            ..Page::default()
        },
    )
}

async fn account<A: Accounts>(State(portal): State<Arc<Portal<A>>>, signed: SignedIn) -> Response {
    account_page(&portal, &signed, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct PasswordFields {
    #[serde(default)]
    nuvaerende: String,
    #[serde(default)]
    ny: String,
    #[serde(default)]
    gentag: String,
}

async fn password<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    ClientIp(from): ClientIp,
    signed: SignedIn,
    Form(f): Form<PasswordFields>,
) -> Response {
    let m = signed.visit.msgs();
    if f.ny != f.gentag {
        return account_page(
            &portal,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(m.password_mismatch),
            None,
        )
        .await;
    }
    match portal
        .accounts
        .change_password(signed.user_id, &f.nuvaerende, &f.ny, from)
        .await
    {
        PasswordChange::Changed => {}
        PasswordChange::WrongCurrent => {
            return account_page(
                &portal,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(m.password_current_wrong),
                None,
            )
            .await;
        }
        PasswordChange::Refused(why) => {
            return account_page(
                &portal,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&why),
                None,
            )
            .await;
        }
        PasswordChange::Busy => {
            return account_page(
                &portal,
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(m.login_busy),
                None,
            )
            .await;
        }
    }
    if let Err(e) = portal
        .sessions
        .end_user_sessions(signed.user_id, Some(&signed.visit.session))
        .await
    {
        return signed.visit.failed(&e);
    }
    account_page(
        &portal,
        &signed,
        StatusCode::OK,
        None,
        Some(m.password_changed),
    )
    .await
}

#[derive(Deserialize)]
struct NoFields {}

async fn renew_codes<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    signed: SignedIn,
    Form(_): Form<NoFields>,
) -> Response {
    match portal.factors.renew_backup_codes(signed.user_id).await {
        Ok(codes) => codes_page(&signed.visit, &codes, "/konto", None),
        Err(e) => signed.visit.failed(&e),
    }
}

async fn logout<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    visit: Visit,
    Form(_): Form<NoFields>,
) -> Response {
    match portal.sessions.log_out(&visit.session).await {
        Ok(removal) => {
            let mut res = Redirect::to("/log-ind").into_response();
            if let Ok(v) = HeaderValue::from_str(&removal) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => visit.failed(&e),
    }
}

#[derive(Deserialize)]
struct LanguageFields {
    #[serde(default)]
    sprog: String,
    #[serde(default)]
    tilbage: String,
}

async fn language<A: Accounts>(
    State(portal): State<Arc<Portal<A>>>,
    visit: Visit,
    Form(f): Form<LanguageFields>,
) -> Response {
    let Some(lang) = Lang::parse(&f.sprog) else {
        return visit.message(StatusCode::UNPROCESSABLE_ENTITY, "sprog: da | en");
    };
    if let Err(e) = portal.sessions.set_language(&visit.session, lang).await {
        return visit.failed(&e);
    }
    if let Some(user_id) = visit.session.user()
        && let Err(e) = portal.accounts.language_chosen(user_id, lang).await
    {
        return visit.failed(&e);
    }
    Redirect::to(&local_path(&f.tilbage, portal.chrome.home)).into_response()
}

async fn recent_code_failures<A>(portal: &Portal<A>, user_id: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM web_login_log
         WHERE user_id = $1 AND outcome IN ('code_wrong', 'enrol_code_wrong') AND at > $2",
    )
    .bind(user_id)
    .bind(now_ms() - CODE_WINDOW_MS)
    .fetch_one(portal.sessions.db().reader())
    .await?)
}

/// Writes a login attempt to the login log. A failure to write is logged, and the login
/// goes on: the log must not become a way to lock everyone out.
async fn log<A>(
    portal: &Portal<A>,
    username: &str,
    user_id: Option<i64>,
    from: IpAddr,
    outcome: &'static str,
) {
    // What was typed as a user name may be a password typed in the wrong field: bounded, and
    // kept only in the database, never in the process log.
    let username: String = username.chars().take(150).collect();
    let address = from.to_string();
    let at = now_ms();
    let written = portal
        .sessions
        .db()
        .write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO web_login_log (at, username, user_id, address, outcome)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(at)
                .bind(&username)
                .bind(user_id)
                .bind(&address)
                .bind(outcome)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %format!("{e:#}"), "the login log could not be written");
    }
    tracing::info!(outcome, user_id, %from, "web login");
}

fn encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}
