//! `POST /api/auth/login`: users trade a password for a session token, and this module owns
//! what keeps that door from being a way in or a way down.
//!
//! - Password checks run off the async workers and are bounded ([`PasswordChecker`]): a
//!   flood of logins gets quick 503s instead of gigabytes of Argon2 memory, and `/healthz`
//!   and the agents' check-ins go on meanwhile.
//! - Failures slow down whoever makes them: per caller address and per user name, the first
//!   few are free and each one after doubles the wait (429 with Retry-After; no password is
//!   checked while waiting). A user name's wait is short and does not apply to an address the
//!   user has logged in from before, so an attacker cannot lock the real admin out.
//! - An unknown user name costs the same Argon2 check as a wrong password, and gets the same
//!   answer, so neither timing nor text tells which names exist.
//! - Failed logins are logged (user name, address, reason); never the password.

use crate::store::Store;
use crate::throttle::{Backoff, ClientAddress, address_key, retry_after_secs};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use service_kit::accounts::{Busy, MAX_PASSWORD_BYTES, PasswordChecker};
use service_kit::http::{Body, BodyError, BodyLimit};
use service_kit::web::LoginCheck;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures free of any wait, per address and per user name.
const FREE_FAILURES: u32 = 10;
/// The first wait after them; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest an address waits.
const MAX_ADDRESS_WAIT: Duration = Duration::from_secs(15 * 60);
/// The longest a user name waits (for addresses it has not logged in from).
const MAX_NAME_WAIT: Duration = Duration::from_secs(5 * 60);
/// Failures are forgotten this long after the last one.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// How long an address a user logged in from stays known.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);
/// Password checks queued behind the running ones before logins are turned away.
const WAITING_CHECKS: usize = 16;

/// The login door's state: the password checker and who has failed how often.
pub struct Logins {
    store: Store,
    checker: PasswordChecker,
    addresses: ClientAddress,
    failures: Mutex<Failures>,
}

struct Failures {
    by_address: Backoff<IpAddr>,
    by_name: Backoff<String>,
    /// (user name, address) pairs with a successful login, and when.
    known: HashMap<(String, IpAddr), Instant>,
}

/// Argon2 checks at once: one per core, at most 4 (4 × 19 MiB).
fn concurrent_checks() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4)
}

impl Logins {
    pub fn new(store: Store, addresses: ClientAddress) -> Self {
        Self {
            store,
            checker: PasswordChecker::new(concurrent_checks(), WAITING_CHECKS),
            addresses,
            failures: Mutex::new(Failures {
                by_address: Backoff::new(FREE_FAILURES, FIRST_WAIT, MAX_ADDRESS_WAIT, FORGET_AFTER),
                by_name: Backoff::new(FREE_FAILURES, FIRST_WAIT, MAX_NAME_WAIT, FORGET_AFTER),
                known: HashMap::new(),
            }),
        }
    }

    /// The password checks run so far and the most at once (tests, `/metrics` has the same).
    pub fn checker(&self) -> &PasswordChecker {
        &self.checker
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        // A panic while holding it cannot leave the counts inconsistent enough to matter.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long this caller must wait before a password is checked for it, if it must.
    fn wait(&self, name: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let f = self.failures();
        let by_address = f.by_address.wait(&address_key(address), now);
        let known = f
            .known
            .get(&(name.to_owned(), address_key(address)))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR);
        let by_name = if known {
            None
        } else {
            f.by_name.wait(&name.to_owned(), now)
        };
        by_address.max(by_name)
    }

    fn failed(&self, name: &str, address: IpAddr, now: Instant) {
        let mut f = self.failures();
        if let Some(wait) = f.by_address.failed(&address_key(address), now) {
            tracing::warn!(source = %address, wait_s = wait.as_secs(), "logins from this address wait after repeated failures");
        }
        if let Some(wait) = f.by_name.failed(&name.to_owned(), now) {
            tracing::warn!(username = ?name, wait_s = wait.as_secs(), "logins as this user wait after repeated failures (not from addresses it logged in from)");
        }
    }

    fn succeeded(&self, name: &str, address: IpAddr, now: Instant) {
        let mut f = self.failures();
        f.by_address.succeeded(&address_key(address));
        if f.known.len() >= 100_000 {
            f.known.retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
            if f.known.len() >= 100_000 {
                f.known.clear();
            }
        }
        f.known.insert((name.to_owned(), address_key(address)), now);
    }
}

/// Where users log in; the operator API's route test counts it with its own routes.
pub(crate) const LOGIN_PATH: &str = "/api/auth/login";

pub fn router(logins: Arc<Logins>) -> Router {
    Router::new()
        .route(LOGIN_PATH, post(login))
        .layer(BodyLimit::SMALL.layer())
        .with_state(logins)
}

fn answer(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, axum::Json(json!({"detail": detail.into()}))).into_response()
}

fn wait_answer(status: StatusCode, wait: Duration, detail: String) -> Response {
    let mut r = answer(status, detail);
    if let Ok(v) = retry_after_secs(wait).to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(
    State(logins): State<Arc<Logins>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Body, BodyError>,
) -> Response {
    let address = logins.addresses.of(peer, &headers);
    let body = match body {
        Ok(Body(b)) => b,
        Err(e) => return answer(e.status(), e.to_string()),
    };
    let c: Credentials = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("body: give {{\"username\": \"…\", \"password\": \"…\"}} ({e})"),
            );
        }
    };
    match logins.check(&c.username, &c.password, address).await {
        Err(e) => unavailable(e),
        Ok(LoginCheck::Wait(wait)) => wait_answer(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            format!(
                "too many failed logins; try again in {} seconds",
                retry_after_secs(wait)
            ),
        ),
        Ok(LoginCheck::Busy) => wait_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(1),
            "too many logins are being checked at once; try again in a few seconds".into(),
        ),
        Ok(LoginCheck::Wrong) => answer(StatusCode::UNAUTHORIZED, "wrong username or password"),
        Ok(LoginCheck::User(user_id)) => match logins.store.open_session(user_id).await {
            Ok((token, expires_at)) => {
                axum::Json(json!({"token": token, "expires_at": expires_at})).into_response()
            }
            Err(e) => unavailable(e.into()),
        },
    }
}

impl Logins {
    /// Checks a user name and password, for the API and the web pages alike: throttled per
    /// address and name, bounded in Argon2 checks, counted and logged (never the password).
    pub async fn check(
        &self,
        username: &str,
        password: &str,
        address: IpAddr,
    ) -> anyhow::Result<LoginCheck> {
        // Names are at most 150 characters; anything longer is no user, and is kept short in
        // the counts and the log.
        let name: String = username.trim().chars().take(150).collect();
        let now = Instant::now();
        if let Some(wait) = self.wait(&name, address, now) {
            metrics::counter!("borgerpc_logins_total", "outcome" => "throttled").increment(1);
            return Ok(LoginCheck::Wait(wait));
        }
        let user = if password.len() > MAX_PASSWORD_BYTES {
            None
        } else {
            self.store.login_user(&name).await?
        };
        let checked = self
            .checker
            .verify(password, user.as_ref().map(|(_, h)| h.as_str()))
            .await;
        match (checked, user) {
            (Err(Busy), _) => {
                metrics::counter!("borgerpc_logins_total", "outcome" => "busy").increment(1);
                Ok(LoginCheck::Busy)
            }
            (Ok(true), Some((user_id, _))) => {
                self.succeeded(&name, address, now);
                metrics::counter!("borgerpc_logins_total", "outcome" => "ok").increment(1);
                tracing::info!(username = ?name, source = %address, "login");
                Ok(LoginCheck::User(user_id))
            }
            (Ok(_), user) => {
                self.failed(&name, address, now);
                metrics::counter!("borgerpc_logins_total", "outcome" => "failed").increment(1);
                let reason = if user.is_some() {
                    "wrong password"
                } else {
                    "no such user"
                };
                tracing::warn!(username = ?name, source = %address, reason, "login failed");
                Ok(LoginCheck::Wrong)
            }
        }
    }

    /// Checks a user's current password before it is changed (not throttled by name: the
    /// user is logged in; bounded like every check).
    pub async fn check_own(&self, user_id: i64, password: &str) -> anyhow::Result<Option<bool>> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(Some(false));
        }
        let hash = self.store.password_hash(user_id).await?;
        match self.checker.verify(password, hash.as_deref()).await {
            Ok(ok) => Ok(Some(ok && hash.is_some())),
            Err(Busy) => Ok(None),
        }
    }

    /// Where requests come from (behind the configured proxies).
    pub fn addresses(&self) -> &ClientAddress {
        &self.addresses
    }
}

fn unavailable(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "login: database unavailable");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "the portal's database is unavailable; try again later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_waits_but_not_where_its_user_logged_in_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join("t.db").display()),
            2,
        )
        .await
        .unwrap();
        let logins = Logins::new(store, ClientAddress::default());
        let (home, attacker, other): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
        );
        let t = Instant::now();
        logins.succeeded("admin", home, t);
        for _ in 0..FREE_FAILURES + 5 {
            logins.failed("admin", attacker, t);
        }
        assert!(
            logins.wait("admin", attacker, t).is_some(),
            "the attacker waits"
        );
        assert!(
            logins
                .wait("admin", other, t)
                .is_some_and(|w| w <= MAX_NAME_WAIT),
            "the name waits, briefly, elsewhere"
        );
        assert_eq!(logins.wait("admin", home, t), None, "not at home");
        assert_eq!(logins.wait("someone", other, t), None);
        // An IPv6 attacker is one caller for its whole /64.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        for i in 0..FREE_FAILURES + 1 {
            logins.failed(&format!("n{i}"), v6(&format!("2001:db8::{i:x}")), t);
        }
        assert!(logins.wait("x", v6("2001:db8::ffff"), t).is_some());
    }
}
