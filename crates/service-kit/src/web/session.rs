//! Who is using the browser: sessions stored in the product's database, named by a random
//! token in an HttpOnly cookie, and the synchronizer token each one carries against
//! cross-site forms.
//!
//! A session is a row, not a signed cookie, so logging out, changing a password or an
//! administrator's reset ends it at once, everywhere. Only the token's hash is stored: a
//! copy of the database lets no one in. Every visitor gets one on the first page (the login
//! form needs a CSRF token too, so no one can log a victim into the attacker's account), and
//! logging in replaces it with a new token, so a token planted before the login is worth
//! nothing after it.
//!
//! A session ends after `idle` without a request and after `absolute` whatever happens; the
//! last-seen time is written at most once a minute, so reading pages costs no write each.

use crate::accounts::{new_token, token_hash};
use crate::db::{Db, now_ms};
use crate::http::same_secret;
use crate::web::Lang;
use std::time::Duration;

/// The tables the web foundation keeps in a product's database: sessions, second factors,
/// backup codes and the login log. A product lists it among its migrations, once, as it is
/// (`Migration { version, name: "web", sql: service_kit::web::session::SCHEMA }`).
pub const SCHEMA: &str = include_str!("schema.sql");

/// The cookie name when cookies are `Secure`: the `__Host-` prefix makes the browser refuse
/// it from a sibling domain or over plain HTTP, so no one can plant a session.
pub const SECURE_COOKIE: &str = "__Host-sid";
/// The cookie name on plain HTTP (a portal on localhost, or tests); browsers refuse the
/// `__Host-` prefix without `Secure`.
pub const PLAIN_COOKIE: &str = "sid";

/// How long sessions live and how their cookie is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A session ends this long after its last request.
    pub idle: Duration,
    /// And this long after it began, however busy.
    pub absolute: Duration,
    /// Whether the cookie is `Secure` (the portal is reached over HTTPS, directly or behind a
    /// proxy that terminates TLS).
    pub secure: bool,
}

impl Policy {
    /// The cookie's name under this policy.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE
        } else {
            PLAIN_COOKIE
        }
    }
}

/// One browser's session as a request sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    token_hash: String,
    /// The user logged in, if any.
    pub user_id: Option<i64>,
    /// The token every state-changing form must send back ([`Session::csrf_ok`]).
    pub csrf: String,
    /// Whether the user has passed the second factor in this session (or needs none).
    pub second_factor_ok: bool,
    /// The language the pages are shown in.
    pub lang: Lang,
    /// When the session began, in ms since the epoch.
    pub created_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("second_factor_ok", &self.second_factor_ok)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `sent` is this session's CSRF token, compared in constant time.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        same_secret(sent, &self.csrf)
    }

    /// The logged-in user who has also passed the second factor: who may see pages.
    pub fn user(&self) -> Option<i64> {
        self.user_id.filter(|_| self.second_factor_ok)
    }
}

/// A new session and the `Set-Cookie` value that gives the browser its token.
#[derive(Debug)]
pub struct Started {
    /// The session.
    pub session: Session,
    /// The value of the `Set-Cookie` header.
    pub set_cookie: String,
}

/// The sessions of one product's database.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: Db,
    policy: Policy,
}

/// How often a session's last-seen time is written at most.
const TOUCH_EVERY_MS: i64 = 60_000;

impl Sessions {
    /// Sessions in `db` (which has [`SCHEMA`]) under `policy`.
    pub fn new(db: Db, policy: Policy) -> Self {
        Self { db, policy }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// An anonymous session in `lang` that is never stored and whose cookie is never sent:
    /// for drawing the page that refuses a request, which must not change the browser's state.
    pub(crate) fn unsaved(lang: Lang) -> Session {
        Session {
            token_hash: String::new(),
            user_id: None,
            csrf: new_token(""),
            second_factor_ok: false,
            lang,
            created_at: now_ms(),
        }
    }

    /// A new session for a visitor who has none (or whose session ended): anonymous, in
    /// `lang`.
    pub async fn start(&self, lang: Lang) -> anyhow::Result<Started> {
        self.insert(None, false, lang).await
    }

    async fn insert(
        &self,
        user_id: Option<i64>,
        second_factor_ok: bool,
        lang: Lang,
    ) -> anyhow::Result<Started> {
        let token = new_token("");
        let now = now_ms();
        let session = Session {
            token_hash: token_hash(&token),
            user_id,
            csrf: new_token(""),
            second_factor_ok,
            lang,
            created_at: now,
        };
        let row = session.clone();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO web_sessions (token_sha256, user_id, csrf, second_factor_ok,
                             language, created_at, last_seen_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(&row.token_hash)
                    .bind(row.user_id)
                    .bind(&row.csrf)
                    .bind(i64::from(row.second_factor_ok))
                    .bind(row.lang.code())
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(Started {
            set_cookie: self.cookie(&token),
            session,
        })
    }

    /// The session a cookie names, if it is alive. A token under the other cookie name (a
    /// plain `sid` where cookies are `Secure`) is no session.
    pub async fn load(&self, cookie_name: &str, token: &str) -> anyhow::Result<Option<Session>> {
        if cookie_name != self.policy.cookie_name() || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let now = now_ms();
        let row: Option<(Option<i64>, String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT user_id, csrf, second_factor_ok, language, created_at, last_seen_at
             FROM web_sessions WHERE token_sha256 = $1",
        )
        .bind(&hash)
        .fetch_optional(self.db.reader())
        .await?;
        let Some((user_id, csrf, second_factor_ok, language, created_at, last_seen_at)) = row
        else {
            return Ok(None);
        };
        if self.ended(created_at, last_seen_at, now) {
            self.delete(hash).await?;
            return Ok(None);
        }
        if now - last_seen_at >= TOUCH_EVERY_MS {
            let hash = hash.clone();
            self.db
                .write(move |c| {
                    Box::pin(async move {
                        sqlx::query(
                            "UPDATE web_sessions SET last_seen_at = $1 WHERE token_sha256 = $2",
                        )
                        .bind(now)
                        .bind(&hash)
                        .execute(&mut *c)
                        .await?;
                        Ok(())
                    })
                })
                .await?;
        }
        Ok(Some(Session {
            token_hash: hash,
            user_id,
            csrf,
            second_factor_ok: second_factor_ok != 0,
            lang: Lang::parse(&language).unwrap_or_default(),
            created_at,
        }))
    }

    fn ended(&self, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(last_seen_at) >= ms(self.policy.idle)
            || now.saturating_sub(created_at) >= ms(self.policy.absolute)
    }

    /// Logs `user_id` in: the visitor's session is replaced by a new one with a new token
    /// (so a token known before the login is worth nothing after it). `second_factor_ok` is
    /// whether the user still has a second factor to pass in it.
    pub async fn log_in(
        &self,
        old: &Session,
        user_id: i64,
        second_factor_ok: bool,
        lang: Lang,
    ) -> anyhow::Result<Started> {
        self.delete(old.token_hash.clone()).await?;
        self.insert(Some(user_id), second_factor_ok, lang).await
    }

    /// Records that the session's user passed the second factor; the token changes again, as
    /// at any change of privilege.
    pub async fn second_factor_passed(&self, session: &Session) -> anyhow::Result<Started> {
        let Some(user) = session.user_id else {
            anyhow::bail!("no user is logged in in this session");
        };
        self.delete(session.token_hash.clone()).await?;
        self.insert(Some(user), true, session.lang).await
    }

    /// Ends the session; the answer's `Set-Cookie` value removes the cookie.
    pub async fn log_out(&self, session: &Session) -> anyhow::Result<String> {
        self.delete(session.token_hash.clone()).await?;
        Ok(self.removal_cookie())
    }

    /// Shows the session's pages in `lang` from now on.
    pub async fn set_language(&self, session: &Session, lang: Lang) -> anyhow::Result<()> {
        let hash = session.token_hash.clone();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("UPDATE web_sessions SET language = $1 WHERE token_sha256 = $2")
                        .bind(lang.code())
                        .bind(&hash)
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Ends every session of `user_id` but `keep` (the one that changed the password, say):
    /// a new password or a reset logs out whoever knew the old one.
    pub async fn end_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&Session>,
    ) -> anyhow::Result<u64> {
        let keep = keep.map(|s| s.token_hash.clone()).unwrap_or_default();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM web_sessions WHERE user_id = $1 AND token_sha256 <> $2",
                    )
                    .bind(user_id)
                    .bind(&keep)
                    .execute(&mut *c)
                    .await?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    /// Deletes the sessions that have ended (housekeeping; an ended session is refused
    /// whether or not its row is still there).
    pub async fn purge_ended(&self) -> anyhow::Result<u64> {
        let now = now_ms();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let (idle, absolute) = (ms(self.policy.idle), ms(self.policy.absolute));
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM web_sessions WHERE last_seen_at <= $1 OR created_at <= $2",
                    )
                    .bind(now.saturating_sub(idle))
                    .bind(now.saturating_sub(absolute))
                    .execute(&mut *c)
                    .await?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    async fn delete(&self, hash: String) -> anyhow::Result<()> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1")
                        .bind(&hash)
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The cookie carrying `token`: HttpOnly (no script reads it), `SameSite=Lax` (a link
    /// from an e-mail keeps the login; every change is a POST, which Lax does not send
    /// cross-site), `Secure` under the `__Host-` name behind TLS. It has no `Max-Age`, so the
    /// browser forgets it when it closes; the server ends it on its own timeouts anyway.
    fn cookie(&self, token: &str) -> String {
        let secure = if self.policy.secure { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.policy.cookie_name()
        )
    }

    /// A cookie that removes the session cookie: the same attributes, or the browser keeps it.
    pub fn removal_cookie(&self) -> String {
        let secure = if self.policy.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=0",
            self.policy.cookie_name()
        )
    }
}

/// The value of cookie `name` in a request's `Cookie` headers, if it is there once.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(axum::http::header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    // Two cookies of one name: one was planted; trust neither.
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Migration, test_db};

    async fn sessions(policy: Policy) -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = test_db(dir.path()).await.expect("db");
        db.migrate(&[Migration {
            version: 1,
            name: "web",
            sql: SCHEMA,
        }])
        .await
        .expect("schema");
        (dir, Sessions::new(db, policy))
    }

    fn policy() -> Policy {
        Policy {
            idle: Duration::from_secs(3600),
            absolute: Duration::from_secs(8 * 3600),
            secure: false,
        }
    }

    fn token_of(set_cookie: &str) -> &str {
        set_cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v)
            .expect("cookie value")
    }

    #[tokio::test]
    async fn a_visitor_logs_in_with_a_new_token_and_the_old_one_is_dead() {
        let (_dir, s) = sessions(policy()).await;
        let anon = s.start(Lang::Da).await.expect("start");
        assert!(anon.set_cookie.starts_with("sid="));
        assert!(anon.set_cookie.contains("HttpOnly; SameSite=Lax"));
        assert!(!anon.set_cookie.contains("Secure"));
        let old = token_of(&anon.set_cookie).to_owned();
        let loaded = s.load("sid", &old).await.expect("load").expect("alive");
        assert_eq!(loaded.user_id, None);
        assert!(loaded.csrf_ok(&anon.session.csrf));
        assert!(!loaded.csrf_ok("wrong"));

        let in_ = s.log_in(&loaded, 7, false, Lang::En).await.expect("login");
        assert!(s.load("sid", &old).await.expect("load").is_none());
        let new = token_of(&in_.set_cookie).to_owned();
        let who = s.load("sid", &new).await.expect("load").expect("alive");
        assert_eq!(
            (who.user_id, who.user(), who.lang),
            (Some(7), None, Lang::En)
        );
        assert_ne!(who.csrf, anon.session.csrf);

        let passed = s.second_factor_passed(&who).await.expect("2fa");
        assert!(s.load("sid", &new).await.expect("load").is_none());
        let who = s
            .load("sid", token_of(&passed.set_cookie))
            .await
            .expect("load")
            .expect("alive");
        assert_eq!(who.user(), Some(7));

        let removal = s.log_out(&who).await.expect("logout");
        assert_eq!(removal, "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        assert!(
            s.load("sid", token_of(&passed.set_cookie))
                .await
                .expect("load")
                .is_none()
        );
    }

    #[tokio::test]
    async fn secure_cookies_use_the_host_prefix_and_refuse_the_plain_name() {
        let (_dir, s) = sessions(Policy {
            secure: true,
            ..policy()
        })
        .await;
        let anon = s.start(Lang::Da).await.expect("start");
        assert!(anon.set_cookie.starts_with("__Host-sid="));
        assert!(anon.set_cookie.ends_with("; Secure"));
        let token = token_of(&anon.set_cookie);
        assert!(s.load("sid", token).await.expect("load").is_none());
        assert!(s.load("__Host-sid", token).await.expect("load").is_some());
        assert!(s.removal_cookie().contains("; Secure; Max-Age=0"));
    }

    #[tokio::test]
    async fn sessions_end_when_idle_or_old_and_on_a_password_change() {
        let (_dir, s) = sessions(policy()).await;
        let a = s.start(Lang::Da).await.expect("start");
        let a = s.log_in(&a.session, 1, true, Lang::Da).await.expect("in");
        let b = s.start(Lang::Da).await.expect("start");
        let b = s.log_in(&b.session, 1, true, Lang::Da).await.expect("in");
        let c = s.start(Lang::Da).await.expect("start");
        let c = s.log_in(&c.session, 2, true, Lang::Da).await.expect("in");
        assert_eq!(
            s.end_user_sessions(1, Some(&a.session)).await.expect("end"),
            1
        );
        let alive = |st: &Started| {
            let t = token_of(&st.set_cookie).to_owned();
            let s = s.clone();
            async move { s.load("sid", &t).await.expect("load").is_some() }
        };
        assert!(alive(&a).await && !alive(&b).await && alive(&c).await);

        let now = now_ms();
        assert!(s.ended(now - 1000, now - 3_600_000, now), "idle an hour");
        assert!(
            s.ended(now - 8 * 3_600_000, now - 1000, now),
            "eight hours old"
        );
        assert!(!s.ended(now - 7 * 3_600_000, now - 3_599_000, now));
        // An idle session is refused and its row goes.
        let hash = token_hash(token_of(&c.set_cookie));
        s.db.write(move |conn| {
            Box::pin(async move {
                sqlx::query("UPDATE web_sessions SET last_seen_at = 0 WHERE token_sha256 = $1")
                    .bind(&hash)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .expect("age");
        assert!(!alive(&c).await);
        assert_eq!(s.purge_ended().await.expect("purge"), 0);
    }

    #[test]
    fn a_cookie_named_twice_is_trusted_neither_time() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; sid=abc; b=2".parse().expect("header"));
        assert_eq!(cookie(&h, "sid"), Some("abc"));
        assert_eq!(cookie(&h, "x"), None);
        h.append("cookie", "sid=def".parse().expect("header"));
        assert_eq!(cookie(&h, "sid"), None);
    }
}
