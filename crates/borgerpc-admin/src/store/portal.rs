//! What the web portal asks of the users beyond the API's needs: a user's name, language and
//! whether the second factor is required of them, their own password change, and the
//! portal-wide second-factor policy.

use super::access::Scope;
use super::{Error, Reason, Result, Store, ensure};
use service_kit::web::Lang;

/// Who must use a second factor (`portal_settings.second_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecondFactorPolicy {
    /// Superusers only: they reach every customer.
    #[default]
    Superusers,
    /// Superusers, customer admins and site admins.
    Admins,
    /// Every user.
    Everyone,
}

impl SecondFactorPolicy {
    pub const ALL: [SecondFactorPolicy; 3] = [Self::Superusers, Self::Admins, Self::Everyone];

    pub fn name(self) -> &'static str {
        match self {
            Self::Superusers => "superusers",
            Self::Admins => "admins",
            Self::Everyone => "everyone",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == text)
    }
}

/// A user as the portal's pages show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUser {
    pub username: String,
    pub language: Option<Lang>,
    pub superuser: bool,
    /// Customer admin or site admin somewhere.
    pub admin: bool,
}

impl Store {
    pub async fn portal_user(&self, user_id: i64) -> Result<Option<PortalUser>> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT username, language, is_superuser FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        let Some((username, language, superuser)) = row else {
            return Ok(None);
        };
        let admin: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND role IN ($2, $3)",
        )
        .bind(user_id)
        .bind(super::access::Role::CustomerAdmin.name())
        .bind(super::access::Role::SiteAdmin.name())
        .fetch_one(self.pool())
        .await?;
        Ok(Some(PortalUser {
            username,
            language: Lang::parse(&language),
            superuser: superuser != 0,
            admin: admin > 0,
        }))
    }

    /// Whether the policy requires a second factor of this user.
    pub async fn second_factor_required(&self, user: &PortalUser) -> Result<bool> {
        Ok(match self.second_factor_policy().await? {
            SecondFactorPolicy::Superusers => user.superuser,
            SecondFactorPolicy::Admins => user.superuser || user.admin,
            SecondFactorPolicy::Everyone => true,
        })
    }

    pub async fn second_factor_policy(&self) -> Result<SecondFactorPolicy> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM portal_settings WHERE name = 'second_factor'")
                .fetch_optional(self.pool())
                .await?;
        match value {
            None => Ok(SecondFactorPolicy::default()),
            Some(v) => SecondFactorPolicy::parse(&v).ok_or(Error::UnknownValue {
                column: "portal_settings.value (second_factor)",
                value: v,
            }),
        }
    }

    /// Sets who must use a second factor; superusers only, recorded in the audit log.
    pub async fn set_second_factor_policy(
        &self,
        scope: &Scope,
        policy: SecondFactorPolicy,
    ) -> Result<()> {
        ensure!(
            scope.superuser,
            "second_factor",
            Reason::OnlySuperuserSecondFactor
        );
        let before = self.second_factor_policy().await?;
        let detail = serde_json::json!({"before": before.name(), "after": policy.name()});
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM portal_settings WHERE name = 'second_factor'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO portal_settings (name, value) VALUES ('second_factor', $1)")
            .bind(policy.name())
            .execute(&mut *tx)
            .await?;
        super::audit::record_in(
            &mut tx,
            super::audit::Record {
                actor: &scope.actor,
                site_id: None,
                customer_id: None,
                action: "portal.second_factor",
                target: "portal",
                detail: Some(&detail),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// A user's new password, chosen by themselves (the current one was checked): the same
    /// rules as any password; the API sessions end, and the web layer ends the other
    /// browser sessions.
    pub async fn change_own_password(&self, user_id: i64, password: &str) -> Result<()> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT username, email FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        let Some((username, email)) = row else {
            return Err(Error::NotFound(format!("user {user_id}")));
        };
        let hash = super::accounts::hashed_new_password(password, &[&username, &email])?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        super::accounts::audit_in(
            &mut tx,
            &format!("user:{username}"),
            None,
            "user.password",
            &username,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves the language a user chose on the pages, so the next login is in it.
    pub async fn set_user_language(&self, user_id: i64, lang: Lang) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
                .bind(lang.code())
                .bind(user_id),
        )
        .await?;
        Ok(())
    }
}

/// A user of a site as its users page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub language: Option<Lang>,
    /// The highest role that gives them the site.
    pub role: super::access::Role,
    pub superuser: bool,
    /// A confirmed second factor.
    pub second_factor: bool,
    /// The last login through the pages that got all the way in.
    pub last_login: Option<i64>,
}

/// The login log's outcomes that are a user logged in (`service_kit::web::account`).
const LOGGED_IN: &str = "'ok', 'ok_backup_code', 'enrolled'";

/// A page of a log, narrowed by who and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// A user name (the login log) or actor (the audit log); empty for all.
    pub who: String,
    /// From this instant (ms), inclusive.
    pub from: Option<i64>,
    /// Before this instant (ms).
    pub until: Option<i64>,
}

/// One line of the login log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLine {
    pub at: i64,
    pub username: String,
    pub address: String,
    pub outcome: String,
}

/// The users who have a role that gives them the site: `$1` the site, `$2` its customer.
const SITE_MEMBERS: &str = "SELECT m.user_id FROM memberships m
     WHERE m.site_id = $1 OR (m.role = 'customer_admin' AND m.customer_id = $2)";

impl Store {
    /// The users with a role on the site (or customer admins of its customer), by name.
    pub async fn site_user_rows(&self, site: &super::tenants::Site) -> Result<Vec<SiteUserRow>> {
        // id, username, email, language, is_superuser, role, factors, last_login
        type Columns = (i64, String, String, String, i64, String, i64, Option<i64>);
        let rows: Vec<Columns> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT u.id, u.username, u.email, u.language, u.is_superuser, m.role,
                    (SELECT COUNT(*) FROM web_second_factors f
                      WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL) AS factors,
                    (SELECT MAX(l.at) FROM web_login_log l
                      WHERE l.user_id = u.id AND l.outcome IN ({LOGGED_IN})) AS last_login
                 FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.site_id = $1 OR (m.role = $3 AND m.customer_id = $2)
                 ORDER BY u.username, u.id"
        )))
        .bind(site.id)
        .bind(site.customer_id)
        .bind(super::access::Role::CustomerAdmin.name())
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<SiteUserRow> = Vec::new();
        for (id, username, email, language, superuser, role, factors, last_login) in rows {
            let role = super::access::Role::from_db(&role)?;
            match out.last_mut() {
                Some(u) if u.id == id => u.role = u.role.max(role),
                _ => out.push(SiteUserRow {
                    id,
                    username,
                    email,
                    language: Lang::parse(&language),
                    role,
                    superuser: superuser != 0,
                    second_factor: factors > 0,
                    last_login,
                }),
            }
        }
        Ok(out)
    }

    /// Users of the site's customer (a role on another of its sites) who have none on this
    /// site: whom a customer admin may link to it. (id, user name), by name.
    pub async fn customer_users_off_site(
        &self,
        site: &super::tenants::Site,
    ) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT u.id, u.username FROM users u WHERE u.id IN (
               SELECT m.user_id FROM memberships m JOIN sites s ON s.id = m.site_id
               WHERE s.customer_id = $2)
             AND u.id NOT IN ({SITE_MEMBERS}) ORDER BY u.username"
        )))
        .bind(site.id)
        .bind(site.customer_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// An administrator gives a user a new password (the rules of any password): the user's
    /// sessions end. Recorded, never the password.
    pub async fn reset_password(
        &self,
        scope: &Scope,
        site_id: i64,
        user_id: i64,
        password: &str,
    ) -> Result<()> {
        let username: Option<String> =
            sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        let Some(username) = username else {
            return Err(Error::NotFound(format!("user {user_id}")));
        };
        if !self.set_password(&username, password).await? {
            return Err(Error::NotFound(format!("user {user_id}")));
        }
        self.audit(
            &scope.actor,
            Some(site_id),
            "user.password_reset",
            &format!("user:{user_id} ({username})"),
        )
        .await
    }

    /// An administrator removes a user's second factor and backup codes (a lost phone): the
    /// user enrols again at the next login where the policy requires it. Their browser
    /// sessions end with it, so a session opened with the lost phone does not outlive it.
    pub async fn reset_second_factor(
        &self,
        scope: &Scope,
        site_id: i64,
        user_id: i64,
        username: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        for sql in [
            "DELETE FROM web_second_factors WHERE user_id = $1",
            "DELETE FROM web_backup_codes WHERE user_id = $1",
            "DELETE FROM web_sessions WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        super::accounts::audit_in(
            &mut tx,
            &scope.actor,
            Some(site_id),
            "user.second_factor_reset",
            &format!("user:{user_id} ({username})"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of the logins (and failed attempts) of the site's users, newest first, and how
    /// many match. Failed attempts count by the user name typed.
    pub async fn site_login_log(
        &self,
        site: &super::tenants::Site,
        filter: &LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<LoginLine>, i64)> {
        let cond = format!(
            "l.username IN (SELECT u.username FROM users u WHERE u.id IN ({SITE_MEMBERS}))
             AND ($3 = '' OR l.username = $3) AND l.at >= $4 AND l.at < $5"
        );
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(site.id)
                .bind(site.customer_id)
                .bind(filter.who.clone())
                .bind(filter.from.unwrap_or(i64::MIN))
                .bind(filter.until.unwrap_or(i64::MAX))
        };
        let count: i64 = sqlx::Row::try_get(
            &bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM web_login_log l WHERE {cond}"
            ))))
            .fetch_one(self.pool())
            .await?,
            0,
        )?;
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT l.at, l.username, l.address, l.outcome FROM web_login_log l
             WHERE {cond} ORDER BY l.at DESC, l.id DESC LIMIT $6 OFFSET $7"
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let lines = rows
            .iter()
            .map(|r| {
                use sqlx::Row as _;
                Ok(LoginLine {
                    at: r.try_get("at")?,
                    username: r.try_get("username")?,
                    address: r.try_get("address")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((lines, count))
    }
}
