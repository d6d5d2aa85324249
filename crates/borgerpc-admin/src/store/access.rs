//! Who may do what: the roles of `borgerpc.md` §2.1 as a [`Scope`] per caller, and the
//! operators' management of users' roles and of API keys.
//!
//! Roles, from least to most: a read-only API key reads its site; a site user (and an API key
//! with write access) does the daily work — runs scripts, activates PCs, handles events, edits
//! groups, configurations, rules and wake plans; a site admin also deletes rules, groups and
//! plans and manages the site's users and API keys; a customer admin is site admin of every
//! site of the customer and also creates sites and customer admins; a superuser is all of it
//! everywhere. A caller's role is per site: a user may be site admin of one site and site user
//! of another.

use super::Store;
use super::audit::{Record, record_in};
use super::{Error, Reason, Result, ensure, invalid, refuse};
use service_kit::accounts::token_hash;
use service_kit::db::now_ms;
use sqlx::Row as _;

/// A caller's role on a site, ordered: each may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A read-only API key.
    Reader,
    /// A site user, or an API key with write access.
    SiteUser,
    SiteAdmin,
    CustomerAdmin,
    Superuser,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "read-only API key",
            Role::SiteUser => "site_user",
            Role::SiteAdmin => "site_admin",
            Role::CustomerAdmin => "customer_admin",
            Role::Superuser => "superuser",
        }
    }

    /// The roles a user is given (`memberships.role`), by the text stored and given:
    /// [`Role::name`]. The others are an API key's and a superuser's, never stored as text.
    pub const MEMBERSHIP: [Role; 3] = [Role::CustomerAdmin, Role::SiteAdmin, Role::SiteUser];

    /// A role to give, as an operator names it.
    pub fn membership(text: &str) -> Result<Role> {
        Self::MEMBERSHIP
            .into_iter()
            .find(|r| r.name() == text)
            .ok_or_else(|| {
                invalid!(
                    "role",
                    Reason::OneOf {
                        list: Self::MEMBERSHIP.map(Role::name).join(", ")
                    }
                )
            })
    }

    /// A membership's role as `memberships.role` holds it; text this version does not know is
    /// an error.
    pub(crate) fn from_db(text: &str) -> Result<Role> {
        Self::MEMBERSHIP
            .into_iter()
            .find(|r| r.name() == text)
            .ok_or_else(|| Error::UnknownValue {
                column: "memberships.role",
                value: text.to_owned(),
            })
    }
}

/// What a caller may see and change. Every tenant-owned query is filtered by `sites`, and an
/// id outside them is "not found", never "forbidden", so nothing tells that it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub actor: String,
    /// The user behind the caller (not for API keys or the CLI).
    pub user_id: Option<i64>,
    /// Every site the caller sees, with the caller's role there, by site id.
    pub roles: Vec<(i64, Role)>,
    /// The customers the caller administers (customer admin, superuser).
    pub customers: Vec<i64>,
    /// The sites this request may act on: after [`Scope::narrowed`], those where the role is
    /// enough for what the request does.
    pub sites: Vec<i64>,
    pub superuser: bool,
}

impl Scope {
    /// Whether the request may act on the site.
    pub fn sees(&self, site_id: i64) -> bool {
        self.sites.contains(&site_id)
    }

    /// Whether the caller sees the site at all (with any role).
    pub fn visible(&self, site_id: i64) -> bool {
        self.roles.iter().any(|(s, _)| *s == site_id)
    }

    /// The caller's highest role anywhere.
    pub fn highest(&self) -> Option<Role> {
        self.roles.iter().map(|(_, r)| *r).max()
    }

    /// The scope for a request that needs `need`: only the sites (and administered
    /// customers) where the caller's role is at least that. `None` if there are none, so the
    /// caller may not make such a request at all.
    pub fn narrowed(mut self, need: Role) -> Option<Scope> {
        self.sites = self
            .roles
            .iter()
            .filter(|(_, r)| *r >= need)
            .map(|(s, _)| *s)
            .collect();
        if need > Role::CustomerAdmin && !self.superuser {
            self.customers.clear();
        }
        if self.sites.is_empty() && self.customers.is_empty() && !self.superuser {
            return None;
        }
        Some(self)
    }

    /// The command line: whoever can run it can read the database, so it is a superuser,
    /// recorded as `cli:<OS user>`.
    pub async fn cli(store: &Store) -> Result<Scope> {
        let os_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        store.superuser_scope(format!("cli:{os_user}"), None).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleView {
    pub role: Role,
    /// The site's uid for site roles.
    pub site: Option<String>,
    /// The customer's name for customer_admin.
    pub customer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_superuser: bool,
    /// The user's roles the caller may see.
    pub roles: Vec<RoleView>,
}

/// A role to give: customer_admin of a customer, or site_admin / site_user of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub site_id: Option<i64>,
    pub customer_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyView {
    pub id: i64,
    pub site: String,
    pub description: String,
    pub can_write: bool,
    pub created: i64,
}

/// A new key: the key itself is in `key`, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

const API_KEY_DESCRIPTION_CHARS: usize = 200;

impl Store {
    /// A superuser's scope: every site and customer.
    async fn superuser_scope(&self, actor: String, user_id: Option<i64>) -> Result<Scope> {
        let sites: Vec<i64> = sqlx::query_scalar("SELECT id FROM sites ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        let customers: Vec<i64> = sqlx::query_scalar("SELECT id FROM customers ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(Scope {
            actor,
            user_id,
            roles: sites.iter().map(|s| (*s, Role::Superuser)).collect(),
            customers,
            sites,
            superuser: true,
        })
    }

    /// The scope of a bearer token: an API key (`bpk_…`) or a session (`bps_…`).
    pub async fn scope_of_token(&self, token: &str) -> Result<Option<Scope>> {
        let hash = token_hash(token);
        if token.starts_with("bpk_") {
            let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
                "SELECT id, site_id, can_write, last_used_at FROM api_keys WHERE key_sha256 = $1",
            )
            .bind(&hash)
            .fetch_optional(self.pool())
            .await?;
            if let Some((id, _, _, last_used)) = row {
                // For the keys page ("last used"), to the minute: a write per request would
                // queue every API call behind SQLite's one writer.
                let now = now_ms();
                if last_used.is_none_or(|t| now - t >= LAST_USED_STEP_MS) {
                    self.write_one(
                        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                            .bind(now)
                            .bind(id),
                    )
                    .await?;
                }
            }
            return Ok(row.map(|(id, site, w, _)| Scope {
                actor: format!("api-key:{id}"),
                user_id: None,
                roles: vec![(site, if w != 0 { Role::SiteUser } else { Role::Reader })],
                customers: Vec::new(),
                sites: vec![site],
                superuser: false,
            }));
        }
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT u.id, u.username, u.is_superuser FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_sha256 = $1 AND s.expires_at > $2",
        )
        .bind(&hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((user_id, _, _)) => self.scope_of_user(user_id).await,
            None => Ok(None),
        }
    }

    /// The scope of a logged-in user (an API session or the web portal's).
    pub async fn scope_of_user(&self, user_id: i64) -> Result<Option<Scope>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT username, is_superuser FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        let Some((username, superuser)) = row else {
            return Ok(None);
        };
        let actor = format!("user:{username}");
        if superuser != 0 {
            return Ok(Some(self.superuser_scope(actor, Some(user_id)).await?));
        }
        let rows = sqlx::query(
            "SELECT s.id, m.role FROM memberships m JOIN sites s
               ON (m.site_id = s.id) OR (m.role = $2 AND m.customer_id = s.customer_id)
             WHERE m.user_id = $1 ORDER BY s.id",
        )
        .bind(user_id)
        .bind(Role::CustomerAdmin.name())
        .fetch_all(self.pool())
        .await?;
        let mut roles: Vec<(i64, Role)> = Vec::new();
        for r in &rows {
            let site: i64 = r.try_get(0)?;
            let role = Role::from_db(&r.try_get::<String, _>(1)?)?;
            match roles.last_mut() {
                Some((s, best)) if *s == site => *best = (*best).max(role),
                _ => roles.push((site, role)),
            }
        }
        let customers: Vec<i64> = sqlx::query_scalar(
            "SELECT customer_id FROM memberships WHERE user_id = $1 AND role = $2
               AND customer_id IS NOT NULL ORDER BY customer_id",
        )
        .bind(user_id)
        .bind(Role::CustomerAdmin.name())
        .fetch_all(self.pool())
        .await?;
        Ok(Some(Scope {
            actor,
            user_id: Some(user_id),
            sites: roles.iter().map(|(s, _)| *s).collect(),
            roles,
            customers,
            superuser: false,
        }))
    }

    /// Users with a role within the scope (a superuser sees every user), with the roles the
    /// scope may see; `site` narrows to one site's users.
    pub async fn users(&self, scope: &Scope, site: Option<i64>) -> Result<Vec<UserView>> {
        let rows =
            sqlx::query("SELECT id, username, email, is_superuser FROM users ORDER BY username")
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let (roles, on_site) = self.roles_seen(scope, id, site).await?;
            let superuser = r.try_get::<i64, _>("is_superuser")? != 0;
            let listed = match site {
                Some(_) => on_site,
                None => !roles.is_empty() || scope.superuser,
            };
            if listed {
                out.push(UserView {
                    id,
                    username: r.try_get("username")?,
                    email: r.try_get("email")?,
                    is_superuser: superuser,
                    roles,
                });
            }
        }
        Ok(out)
    }

    /// A user's roles the scope may manage, and whether one of them is on `site` (a site role
    /// there, or customer admin of its customer).
    async fn roles_seen(
        &self,
        scope: &Scope,
        user_id: i64,
        site: Option<i64>,
    ) -> Result<(Vec<RoleView>, bool)> {
        let rows = sqlx::query(
            "SELECT m.role, m.site_id, m.customer_id, s.uid, c.name, s2.id AS of_customer
             FROM memberships m LEFT JOIN sites s ON s.id = m.site_id
             LEFT JOIN customers c ON c.id = m.customer_id
             LEFT JOIN sites s2 ON s2.customer_id = m.customer_id AND s2.id = $2
             WHERE m.user_id = $1 ORDER BY m.role, s.uid, c.name",
        )
        .bind(user_id)
        .bind(site.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        let mut roles = Vec::new();
        let mut on_site = false;
        for r in &rows {
            let site_id: Option<i64> = r.try_get("site_id")?;
            let customer_id: Option<i64> = r.try_get("customer_id")?;
            let managed = scope.superuser
                || site_id.is_some_and(|s| scope.sees(s))
                || customer_id.is_some_and(|c| scope.customers.contains(&c));
            if !managed {
                continue;
            }
            on_site |= (site.is_some() && site_id == site)
                || r.try_get::<Option<i64>, _>("of_customer")?.is_some();
            roles.push(RoleView {
                role: Role::from_db(&r.try_get::<String, _>("role")?)?,
                site: r.try_get("uid")?,
                customer: r.try_get("name")?,
            });
        }
        Ok((roles, on_site))
    }

    /// One user as the scope sees it; `None` if the user has no role the scope manages.
    pub async fn user_in_scope(&self, scope: &Scope, user_id: i64) -> Result<Option<UserView>> {
        let row = sqlx::query("SELECT id, username, email, is_superuser FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = row else { return Ok(None) };
        let (roles, _) = self.roles_seen(scope, user_id, None).await?;
        if roles.is_empty() && !scope.superuser {
            return Ok(None);
        }
        Ok(Some(UserView {
            id: user_id,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            is_superuser: r.try_get::<i64, _>("is_superuser")? != 0,
            roles,
        }))
    }

    /// Checks that the scope may give the role; `Ok(false)` if its site or customer is not in
    /// the scope (not found), an error naming the field if the grant itself is wrong.
    fn may_grant(&self, scope: &Scope, g: &Grant) -> Result<bool> {
        if g.role == Role::CustomerAdmin {
            ensure!(
                g.customer_id.is_some() && g.site_id.is_none(),
                "customer",
                Reason::CustomerAdminTakesCustomer
            );
            Ok(g.customer_id.is_some_and(|c| scope.customers.contains(&c)))
        } else {
            ensure!(
                g.site_id.is_some() && g.customer_id.is_none(),
                "site",
                Reason::RoleTakesSite {
                    role: g.role.name()
                }
            );
            Ok(g.site_id.is_some_and(|s| scope.sees(s)))
        }
    }

    async fn grant_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        scope: &Scope,
        user_id: i64,
        username: &str,
        g: &Grant,
    ) -> Result<()> {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE user_id = $1 AND role = $2
               AND COALESCE(site_id, 0) = $3 AND COALESCE(customer_id, 0) = $4",
        )
        .bind(user_id)
        .bind(g.role.name())
        .bind(g.site_id.unwrap_or(0))
        .bind(g.customer_id.unwrap_or(0))
        .fetch_optional(&mut *conn)
        .await?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO memberships (user_id, customer_id, site_id, role) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(g.customer_id)
        .bind(g.site_id)
        .bind(g.role.name())
        .execute(&mut *conn)
        .await?;
        let place = match (g.site_id, g.customer_id) {
            (Some(s), _) => format!("site:{s}"),
            (_, Some(c)) => format!("customer:{c}"),
            _ => String::new(),
        };
        record_in(
            conn,
            Record {
                actor: &scope.actor,
                site_id: g.site_id,
                customer_id: g.customer_id,
                action: "user.grant",
                target: &format!("user:{user_id} ({username}) {} {place}", g.role.name()),
                detail: None,
            },
        )
        .await
    }

    /// Creates a user with a role. `None` if the role's site or customer is not in the scope.
    pub async fn create_user(
        &self,
        scope: &Scope,
        username: &str,
        email: &str,
        password: &str,
        grant: &Grant,
    ) -> Result<Option<UserView>> {
        if !self.may_grant(scope, grant)? {
            return Ok(None);
        }
        ensure!(
            email.chars().count() <= 254,
            "email",
            Reason::AtMostChars { max: 254 }
        );
        let user = self.add_user(username, email, password, false).await?;
        let done = async {
            let mut tx = self.db.begin_write().await?;
            record_in(
                &mut tx,
                Record {
                    actor: &scope.actor,
                    site_id: grant.site_id,
                    customer_id: grant.customer_id,
                    action: "user.create",
                    target: &format!("user:{} ({})", user.id, user.username),
                    detail: None,
                },
            )
            .await?;
            self.grant_in(&mut tx, scope, user.id, &user.username, grant)
                .await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = done {
            // A user without a role sees nothing, but would keep the name taken.
            let _ = self
                .write_one(sqlx::query("DELETE FROM users WHERE id = $1").bind(user.id))
                .await;
            return Err(e);
        }
        self.user_in_scope(scope, user.id).await
    }

    /// A superuser made from the command line (`createsuperuser`).
    pub async fn create_superuser(
        &self,
        scope: &Scope,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<super::accounts::User> {
        ensure!(scope.superuser, "", Reason::OnlySuperuserSuperusers);
        let user = self.add_user(username, email, password, true).await?;
        self.audit(
            &scope.actor,
            None,
            "user.create",
            &format!("user:{} ({}) superuser", user.id, user.username),
        )
        .await?;
        Ok(user)
    }

    /// Gives an existing user a role. `None` if the user or the role's place is not in scope.
    pub async fn grant_role(
        &self,
        scope: &Scope,
        user_id: i64,
        grant: &Grant,
    ) -> Result<Option<UserView>> {
        if !self.may_grant(scope, grant)? {
            return Ok(None);
        }
        let Some(user) = self.user_in_scope(scope, user_id).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        self.grant_in(&mut tx, scope, user_id, &user.username, grant)
            .await?;
        tx.commit().await?;
        self.user_in_scope(scope, user_id).await
    }

    /// Takes away the user's roles the scope manages (on `only_site`'s site, if given): their
    /// sites' alert subscriptions and group supervision go with them. A user left without
    /// roles is deleted (sessions, subscriptions, assignments); a superuser only by a
    /// superuser. Returns whether the user was deleted; `None` if not in scope.
    pub async fn remove_user(
        &self,
        scope: &Scope,
        user_id: i64,
        only_site: Option<i64>,
    ) -> Result<Option<bool>> {
        if scope.user_id == Some(user_id) {
            refuse!("user", Reason::RemoveYourself);
        }
        let Some(user) = self.user_in_scope(scope, user_id).await? else {
            return Ok(None);
        };
        if let Some(s) = only_site
            && !scope.sees(s)
        {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let memberships: Vec<(Option<i64>, Option<i64>, String)> =
            sqlx::query_as("SELECT site_id, customer_id, role FROM memberships WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut removed_sites = Vec::new();
        let mut removed_customers: Vec<i64> = Vec::new();
        let mut left = 0;
        for (site, customer, role) in &memberships {
            let managed = match (site, customer) {
                (Some(s), _) => scope.sees(*s) && only_site.is_none_or(|o| o == *s),
                (_, Some(c)) => scope.customers.contains(c) && only_site.is_none(),
                _ => false,
            };
            if !managed {
                left += 1;
                continue;
            }
            sqlx::query(
                "DELETE FROM memberships WHERE user_id = $1 AND role = $2
                   AND COALESCE(site_id, 0) = $3 AND COALESCE(customer_id, 0) = $4",
            )
            .bind(user_id)
            .bind(role)
            .bind(site.unwrap_or(0))
            .bind(customer.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            removed_sites.extend(*site);
            let of = match (site, customer) {
                (Some(s), _) => {
                    sqlx::query_scalar("SELECT customer_id FROM sites WHERE id = $1")
                        .bind(*s)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                (_, c) => *c,
            };
            if let Some(c) = of
                && !removed_customers.contains(&c)
            {
                removed_customers.push(c);
            }
        }
        let delete = left == 0 && (!user.is_superuser || (scope.superuser && only_site.is_none()));
        if delete {
            for sql in [
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM rule_alert_users WHERE user_id = $1",
                "DELETE FROM group_supervisors WHERE user_id = $1",
                "UPDATE security_events SET assigned_user_id = NULL WHERE assigned_user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
        } else {
            for site in &removed_sites {
                // What the user did on the site as a member ends with the membership.
                sqlx::query(
                    "DELETE FROM group_supervisors WHERE user_id = $1
                       AND group_id IN (SELECT id FROM pc_groups WHERE site_id = $2)",
                )
                .bind(user_id)
                .bind(*site)
                .execute(&mut *tx)
                .await?;
                for (kind, table) in [
                    ("security", "security_problems"),
                    ("offline", "offline_rules"),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM rule_alert_users WHERE user_id = $1 AND rule_kind = '{kind}'
                           AND rule_id IN (SELECT id FROM {table} WHERE site_id = $2)"
                    )))
                    .bind(user_id)
                    .bind(*site)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: only_site,
                // The customer whose roles were taken, when they were one customer's
                // (a superuser may take roles of several at once: then the superusers').
                customer_id: match removed_customers.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                },
                action: if delete { "user.delete" } else { "user.revoke" },
                target: &format!("user:{user_id} ({})", user.username),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(delete))
    }

    /// The API keys of the scope's sites (never the keys themselves).
    pub async fn api_keys(&self, scope: &Scope, site: Option<i64>) -> Result<Vec<ApiKeyView>> {
        let rows = sqlx::query(
            "SELECT k.id, s.uid, k.site_id, k.description, k.can_write, k.created_at
             FROM api_keys k JOIN sites s ON s.id = k.site_id ORDER BY s.uid, k.id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let site_id: i64 = r.try_get("site_id")?;
            if !scope.sees(site_id) || site.is_some_and(|s| s != site_id) {
                continue;
            }
            out.push(ApiKeyView {
                id: r.try_get("id")?,
                site: r.try_get("uid")?,
                description: r.try_get("description")?,
                can_write: r.try_get::<i64, _>("can_write")? != 0,
                created: r.try_get("created_at")?,
            });
        }
        Ok(out)
    }

    /// Creates a key for a site of the scope; `None` if the site is not in it.
    pub async fn create_api_key(
        &self,
        scope: &Scope,
        site_id: i64,
        description: &str,
        can_write: bool,
    ) -> Result<Option<NewApiKey>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let description = description.trim();
        ensure!(
            description.chars().count() <= API_KEY_DESCRIPTION_CHARS,
            "description",
            Reason::AtMostChars {
                max: API_KEY_DESCRIPTION_CHARS
            }
        );
        let key = service_kit::accounts::new_token("bpk_");
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (site_id, key_sha256, description, can_write, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(site_id)
        .bind(token_hash(&key))
        .bind(description)
        .bind(i64::from(can_write))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let site: String = sqlx::query_scalar("SELECT uid FROM sites WHERE id = $1")
            .bind(site_id)
            .fetch_one(&mut *tx)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "api_key.create",
                target: &format!(
                    "api-key:{id} ({})",
                    if can_write { "write" } else { "read" }
                ),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(NewApiKey {
            view: ApiKeyView {
                id,
                site,
                description: description.to_owned(),
                can_write,
                created: now,
            },
            key,
        }))
    }

    /// Revokes a key at once; `None` if it is not in the scope.
    pub async fn revoke_api_key(&self, scope: &Scope, id: i64) -> Result<Option<()>> {
        let mut tx = self.db.begin_write().await?;
        let site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(site) = site.filter(|s| scope.sees(*s)) else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "api_key.revoke",
                target: &format!("api-key:{id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }
}

/// Checks that every user may see the site (a role on it, customer admin of its customer, or
/// superuser): only those may get its alert e-mails or supervise its groups.
pub(crate) async fn check_site_users(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    user_ids: &[i64],
    field: &str,
) -> Result<()> {
    for (i, u) in user_ids.iter().enumerate() {
        let ok: Option<i64> = sqlx::query_scalar(
            "SELECT u.id FROM users u WHERE u.id = $1 AND (u.is_superuser = 1 OR EXISTS (
               SELECT 1 FROM memberships m JOIN sites s ON s.id = $2
               WHERE m.user_id = u.id AND (m.site_id = s.id OR m.customer_id = s.customer_id)))",
        )
        .bind(*u)
        .bind(site_id)
        .fetch_optional(&mut *conn)
        .await?;
        ensure!(
            ok.is_some(),
            format!("{field}[{i}]"),
            Reason::UserHasNoRole { id: *u }
        );
    }
    Ok(())
}

impl Store {
    /// A user's id by name (the CLI's way of naming one).
    pub async fn user_id_by_name(&self, username: &str) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        id.ok_or_else(|| {
            Error::NotFound(format!(
                "user: no user named {username:?} (see `user list`)"
            ))
        })
    }
}

/// An API key as the site's key page lists it: who made it comes from the audit log, the
/// only place that knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: i64,
    pub description: String,
    pub can_write: bool,
    pub created: i64,
    pub created_by: Option<String>,
    /// When the key last opened a request, to [`LAST_USED_STEP_MS`]; `None`: never.
    pub last_used: Option<i64>,
}

/// How finely a key's last use is kept.
pub const LAST_USED_STEP_MS: i64 = 60_000;

impl Store {
    /// Gives a user one role on a site, in place of the roles that gave them the site before
    /// (their site role there, and customer admin of its customer where the scope administers
    /// the customer), recorded with the role before and after. Also links a user of the
    /// scope to a site they had no role on. `None` if the user or the site is not in scope.
    /// Nobody changes their own role (an administrator cannot lock themselves out), and only
    /// who administers the customer makes or unmakes customer admins.
    pub async fn set_site_role(
        &self,
        scope: &Scope,
        user_id: i64,
        site: &super::tenants::Site,
        role: Role,
    ) -> Result<Option<Role>> {
        ensure!(
            Role::MEMBERSHIP.contains(&role),
            "role",
            Reason::OneOf {
                list: Role::MEMBERSHIP.map(Role::name).join(", ")
            }
        );
        if !scope.sees(site.id) {
            return Ok(None);
        }
        let Some(user) = self.user_in_scope(scope, user_id).await? else {
            return Ok(None);
        };
        ensure!(scope.user_id != Some(user_id), "role", Reason::OwnRole);
        let customer_managed = scope.superuser || scope.customers.contains(&site.customer_id);
        ensure!(
            role != Role::CustomerAdmin || customer_managed,
            "role",
            Reason::OnlyCustomerAdminMakes
        );
        let mut tx = self.db.begin_write().await?;
        let held: Vec<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE user_id = $1
               AND (site_id = $2 OR (role = $3 AND customer_id = $4))",
        )
        .bind(user_id)
        .bind(site.id)
        .bind(Role::CustomerAdmin.name())
        .bind(site.customer_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut before: Option<Role> = None;
        for r in &held {
            before = before.max(Some(Role::from_db(r)?));
        }
        ensure!(
            before != Some(Role::CustomerAdmin) || customer_managed,
            "role",
            Reason::IsCustomerAdmin {
                username: user.username.clone()
            }
        );
        if before == Some(role) {
            return Ok(Some(role));
        }
        sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND site_id = $2")
            .bind(user_id)
            .bind(site.id)
            .execute(&mut *tx)
            .await?;
        if customer_managed {
            sqlx::query(
                "DELETE FROM memberships WHERE user_id = $1 AND role = $2 AND customer_id = $3",
            )
            .bind(user_id)
            .bind(Role::CustomerAdmin.name())
            .bind(site.customer_id)
            .execute(&mut *tx)
            .await?;
        }
        let (site_id, customer_id) = if role == Role::CustomerAdmin {
            (None, Some(site.customer_id))
        } else {
            (Some(site.id), None)
        };
        sqlx::query(
            "INSERT INTO memberships (user_id, customer_id, site_id, role) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(customer_id)
        .bind(site_id)
        .bind(role.name())
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "before": {"role": before.map(Role::name)},
            "after": {"role": role.name()},
        });
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site.id),
                customer_id: None,
                action: "user.role",
                target: &format!("user:{user_id} ({}) site:{}", user.username, site.id),
                detail: Some(&detail),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(role))
    }

    /// Whether the scope manages every role the user has (and the user is no superuser,
    /// unless the scope is one): only then may it set their password or reset their second
    /// factor, which would otherwise reach sites and customers beyond the scope.
    pub async fn manages_wholly(&self, scope: &Scope, user_id: i64) -> Result<bool> {
        if scope.superuser {
            return Ok(true);
        }
        let superuser: Option<i64> =
            sqlx::query_scalar("SELECT is_superuser FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        if superuser != Some(0) {
            return Ok(false);
        }
        let memberships: Vec<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT site_id, customer_id FROM memberships WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(self.pool())
                .await?;
        Ok(!memberships.is_empty()
            && memberships.iter().all(|(s, c)| match (s, c) {
                (Some(s), _) => scope.sees(*s),
                (_, Some(c)) => scope.customers.contains(c),
                _ => false,
            }))
    }

    /// The site's API keys, oldest first (never the keys themselves).
    pub async fn api_key_rows(&self, site_id: i64) -> Result<Vec<ApiKeyRow>> {
        let keys: Vec<(i64, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, description, can_write, created_at, last_used_at FROM api_keys
             WHERE site_id = $1 ORDER BY id",
        )
        .bind(site_id)
        .fetch_all(self.pool())
        .await?;
        // The creation records name the key as `api-key:<id> (…)`.
        let made: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor, target FROM audit_log WHERE site_id = $1 AND action = 'api_key.create'",
        )
        .bind(site_id)
        .fetch_all(self.pool())
        .await?;
        let creator = |id: i64| {
            let name = format!("api-key:{id} ");
            made.iter()
                .find(|(_, t)| t.starts_with(&name))
                .map(|(a, _)| a.clone())
        };
        Ok(keys
            .into_iter()
            .map(
                |(id, description, can_write, created, last_used)| ApiKeyRow {
                    id,
                    description,
                    can_write: can_write != 0,
                    created,
                    created_by: creator(id),
                    last_used,
                },
            )
            .collect())
    }

    /// Changes a key's description, recorded before and after; `None` if the key is not in
    /// the scope.
    pub async fn describe_api_key(
        &self,
        scope: &Scope,
        id: i64,
        description: &str,
    ) -> Result<Option<()>> {
        let description = description.trim();
        ensure!(
            description.chars().count() <= API_KEY_DESCRIPTION_CHARS,
            "description",
            Reason::AtMostChars {
                max: API_KEY_DESCRIPTION_CHARS
            }
        );
        let mut tx = self.db.begin_write().await?;
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT site_id, description FROM api_keys WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((site, before)) = row.filter(|(s, _)| scope.sees(*s)) else {
            return Ok(None);
        };
        sqlx::query("UPDATE api_keys SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({
            "before": {"description": before},
            "after": {"description": description},
        });
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "api_key.describe",
                target: &format!("api-key:{id}"),
                detail: Some(&detail),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }
}
