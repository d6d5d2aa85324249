//! Who may use the operator API: users with roles (superuser; customer admin of a customer;
//! site admin or site user of a site), their sessions, and per-site API keys. What each may
//! see and do is a [`Scope`] (see `access.rs`).

use super::Store;
use super::{Error, Reason, Result, ensure, refuse};
use service_kit::accounts::{hash_checked_password, new_token, password_weakness, token_hash};
use service_kit::db::now_ms;

const SESSION_MS: i64 = 12 * 3_600_000;

use super::access::Role;
pub use super::access::Scope;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_superuser: bool,
}

/// A new password, refused (naming the field `password`) if it is weak, else hashed for
/// storage. `user_inputs` are the words a guesser tries first (the user's name, e-mail).
pub(crate) fn hashed_new_password(password: &str, user_inputs: &[&str]) -> Result<String> {
    if let Some(weak) = password_weakness(password, user_inputs) {
        refuse!("password", Reason::Password(weak));
    }
    hash_checked_password(password).map_err(|e| Error::Hash(format!("{e:#}")))
}

impl Store {
    pub async fn add_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_superuser: bool,
    ) -> Result<User> {
        let username = username.trim();
        ensure!(
            !username.is_empty()
                && username.len() <= 150
                && username
                    .chars()
                    .all(|c| c.is_alphanumeric() || "@.+-_".contains(c)),
            "username",
            Reason::UsernameChars { max: 150 }
        );
        let hash = hashed_new_password(password, &[username, email])?;
        let mut tx = self.db.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        ensure!(
            exists.is_none(),
            "username",
            Reason::UsernameTaken {
                username: username.to_owned()
            }
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, email, password_hash, is_superuser, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(username)
        .bind(email)
        .bind(hash)
        .bind(i64::from(is_superuser))
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            username: username.to_owned(),
            is_superuser,
        })
    }

    /// Gives a user a new password (the same rules as a first one) and ends their sessions,
    /// so whoever knew the old one is logged out. `false` if there is no such user.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<bool> {
        let email: Option<String> =
            sqlx::query_scalar("SELECT email FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        let Some(email) = email else {
            return Ok(false);
        };
        let hash = hashed_new_password(password, &[username, &email])?;
        let mut tx = self.db.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(hash)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1)",
            "DELETE FROM web_sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1)",
        ] {
            sqlx::query(sql).bind(username).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Gives a user a role on a customer (customer_admin) or a site (site_admin, site_user).
    pub async fn add_membership(
        &self,
        user_id: i64,
        role: &str,
        customer_id: Option<i64>,
        site_id: Option<i64>,
    ) -> Result<()> {
        let role = Role::membership(role)?;
        ensure!(
            (role == Role::CustomerAdmin) == customer_id.is_some()
                && (role != Role::CustomerAdmin) == site_id.is_some(),
            "role",
            Reason::RoleScope
        );
        self.write_one(
            sqlx::query(
                "INSERT INTO memberships (user_id, customer_id, site_id, role) VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(customer_id)
            .bind(site_id)
            .bind(role.name()),
        )
        .await?;
        Ok(())
    }

    /// A user's id and password hash, for a login.
    pub async fn login_user(&self, username: &str) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Opens a session for a user whose password was checked: its token (shown once) and end.
    pub async fn open_session(&self, user_id: i64) -> Result<(String, i64)> {
        let token = new_token("bps_");
        let expires = now_ms() + SESSION_MS;
        self.write_one(
            sqlx::query(
                "INSERT INTO sessions (token_sha256, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash(&token))
            .bind(user_id)
            .bind(now_ms())
            .bind(expires),
        )
        .await?;
        Ok((token, expires))
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.write_one(
            sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(token_hash(token)),
        )
        .await?;
        Ok(())
    }

    /// Creates an API key for a site; the key is returned once and stored hashed.
    pub async fn add_api_key(
        &self,
        site_id: i64,
        description: &str,
        can_write: bool,
    ) -> Result<String> {
        let key = new_token("bpk_");
        self.write_one(
            sqlx::query(
                "INSERT INTO api_keys (site_id, key_sha256, description, can_write, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(site_id)
            .bind(token_hash(&key))
            .bind(description)
            .bind(i64::from(can_write))
            .bind(now_ms()),
        )
        .await?;
        Ok(key)
    }

    /// Records who changed what (never payloads or personal data).
    pub async fn audit(
        &self,
        actor: &str,
        site_id: Option<i64>,
        action: &str,
        target: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        audit_in(&mut tx, actor, site_id, action, target).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a change of a customer's own that has no site (the customer made, renamed).
    pub async fn audit_customer(
        &self,
        actor: &str,
        customer_id: i64,
        action: &str,
        target: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        super::audit::record_in(
            &mut tx,
            super::audit::Record {
                actor,
                site_id: None,
                customer_id: Some(customer_id),
                action,
                target,
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Store::audit`] inside a caller's transaction, so the change and its record land together.
/// A record with a site is also its customer's; one without is the superusers' alone.
pub(crate) async fn audit_in(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    site_id: Option<i64>,
    action: &str,
    target: &str,
) -> Result<()> {
    super::audit::record_in(
        conn,
        super::audit::Record {
            actor,
            site_id,
            customer_id: None,
            action,
            target,
            detail: None,
        },
    )
    .await
}
