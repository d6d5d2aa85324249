//! What the web portal asks of the users beyond the API's needs: a user's name, language and
//! whether the second factor is required of them, their own password change, and the
//! portal-wide second-factor policy.

use super::access::Scope;
use super::{Error, Result, Store, ensure};
use service_kit::accounts::hash_new_password;
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
            "second_factor: only a superuser sets who must use a second factor"
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
        let hash = hash_new_password(password, &[&username, &email])
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
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
