//! Monitoring rules as operators keep them: security rules (a security script runs on the PCs
//! and reports events) and offline rules (the portal watches check-ins), each limited to some
//! groups of its site (none: the whole site), with the users who get its alert e-mails.
//!
//! Who gets an event's e-mail ([`Store::alert_recipients`]): the supervisors of the PC's groups
//! if it has any, as upstream, else the rule's alert users.

use super::Store;
use super::access::{Scope, check_site_users};
use super::audit::{Record, before_after, record_in};
use super::events::LEVELS;
use super::{Reason, Result, ensure, invalid, refuse};
use service_kit::db::now_ms;
use sqlx::Row as _;

const NAME_CHARS: usize = 200;
const DESCRIPTION_CHARS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Security,
    Offline,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Security => "security",
            RuleKind::Offline => "offline",
        }
    }

    fn table(self) -> &'static str {
        match self {
            RuleKind::Security => "security_problems",
            RuleKind::Offline => "offline_rules",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleView {
    pub id: i64,
    pub kind: RuleKind,
    pub site: String,
    pub name: String,
    pub description: String,
    pub level: String,
    /// Security rules: the security script that runs on the PCs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_id: Option<i64>,
    /// Offline rules: the daily window ("HH:MM") and how long a PC may be silent in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor_end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_offline_minutes: Option<i64>,
    /// The groups it watches; empty: the whole site.
    pub groups: Vec<i64>,
    pub alert_users: Vec<i64>,
}

/// A rule's fields; what is `None` stays. A new rule needs name, level and its kind's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub level: Option<String>,
    pub script_id: Option<i64>,
    pub monitor_start: Option<String>,
    pub monitor_end: Option<String>,
    pub max_offline_minutes: Option<i64>,
    pub groups: Option<Vec<i64>>,
    pub alert_users: Option<Vec<i64>>,
}

/// A rule's site, if within `sites`.
async fn rule_site(
    conn: &mut sqlx::AnyConnection,
    sites: &[i64],
    kind: RuleKind,
    id: i64,
) -> Result<Option<i64>> {
    let site: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT site_id FROM {} WHERE id = $1",
        kind.table()
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(site.filter(|s| sites.contains(s)))
}

fn checked_time(field: &'static str, t: &str) -> Result<String> {
    chrono::NaiveTime::parse_from_str(t, "%H:%M")
        .map(|t| t.format("%H:%M").to_string())
        .map_err(|_| {
            invalid!(
                field,
                Reason::NotTime {
                    value: t.to_owned(),
                    like: "08:00"
                }
            )
        })
}

impl Store {
    async fn rule_view(
        &self,
        conn: &mut sqlx::AnyConnection,
        kind: RuleKind,
        id: i64,
    ) -> Result<Option<RuleView>> {
        let sql = match kind {
            RuleKind::Security => {
                "SELECT r.id, s.uid, r.name, r.description, r.level, r.script_id,
                        NULL AS monitor_start, NULL AS monitor_end, NULL AS max_offline_minutes
                 FROM security_problems r JOIN sites s ON s.id = r.site_id WHERE r.id = $1"
            }
            RuleKind::Offline => {
                "SELECT r.id, s.uid, r.name, r.description, r.level, NULL AS script_id,
                        r.monitor_start, r.monitor_end, r.max_offline_minutes
                 FROM offline_rules r JOIN sites s ON s.id = r.site_id WHERE r.id = $1"
            }
        };
        let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
        let Some(r) = row else { return Ok(None) };
        let groups: Vec<i64> = sqlx::query_scalar(
            "SELECT group_id FROM rule_groups WHERE rule_kind = $1 AND rule_id = $2 ORDER BY group_id",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let alert_users: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM rule_alert_users WHERE rule_kind = $1 AND rule_id = $2 ORDER BY user_id",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Some(RuleView {
            id: r.try_get(0)?,
            kind,
            site: r.try_get(1)?,
            name: r.try_get(2)?,
            description: r.try_get(3)?,
            level: r.try_get(4)?,
            script_id: r.try_get(5)?,
            monitor_start: r.try_get(6)?,
            monitor_end: r.try_get(7)?,
            max_offline_minutes: r.try_get(8)?,
            groups,
            alert_users,
        }))
    }

    /// The rules of a kind on the sites, by site and name.
    pub async fn rules(&self, sites: &[i64], kind: RuleKind) -> Result<Vec<RuleView>> {
        let mut conn = self.reader().await?;
        let ids: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, site_id FROM {} ORDER BY site_id, name, id",
            kind.table()
        )))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::new();
        for (id, site) in ids {
            if sites.contains(&site)
                && let Some(r) = self.rule_view(&mut conn, kind, id).await?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub async fn rule(&self, sites: &[i64], kind: RuleKind, id: i64) -> Result<Option<RuleView>> {
        let mut conn = self.reader().await?;
        if rule_site(&mut conn, sites, kind, id).await?.is_none() {
            return Ok(None);
        }
        self.rule_view(&mut conn, kind, id).await
    }

    /// Creates a rule; `None` if the site is not in scope.
    pub async fn create_rule(
        &self,
        scope: &Scope,
        kind: RuleKind,
        site_id: i64,
        f: &RuleFields,
    ) -> Result<Option<RuleView>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        ensure!(f.name.is_some(), "name", Reason::GiveRuleName);
        ensure!(
            f.level.is_some(),
            "level",
            Reason::GiveOneOf {
                list: LEVELS.join(", ")
            }
        );
        match kind {
            RuleKind::Security => {
                ensure!(
                    f.script_id.is_some(),
                    "script_id",
                    Reason::GiveSecurityScript
                )
            }
            RuleKind::Offline => ensure!(
                f.monitor_start.is_some()
                    && f.monitor_end.is_some()
                    && f.max_offline_minutes.is_some(),
                "monitor_start, monitor_end, max_offline_minutes",
                Reason::GiveWindow
            ),
        }
        let mut tx = self.db.begin_write().await?;
        // Placeholders first; `apply_rule` checks and writes every field.
        let id: i64 = match kind {
            RuleKind::Security => sqlx::query_scalar(
                "INSERT INTO security_problems (site_id, name, level, script_id, created_at)
                 SELECT $1, '', 'NORMAL', id, $2 FROM scripts WHERE id = $3 RETURNING id",
            )
            .bind(site_id)
            .bind(now_ms())
            .bind(f.script_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                invalid!(
                    "script_id",
                    Reason::NoSecurityScript {
                        id: f.script_id.unwrap_or_default()
                    }
                )
            })?,
            RuleKind::Offline => sqlx::query_scalar(
                "INSERT INTO offline_rules (site_id, name, level, monitor_start, monitor_end, max_offline_minutes, created_at)
                 VALUES ($1, '', 'NORMAL', '00:00', '00:00', 15, $2) RETURNING id",
            )
            .bind(site_id)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?,
        };
        self.apply_rule(&mut tx, kind, site_id, id, f).await?;
        let Some(view) = self.rule_view(&mut tx, kind, id).await? else {
            refuse!("", Reason::RuleVanished);
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "rule.create",
                target: &format!("{}-rule:{id} ({})", kind.as_str(), view.name),
                detail: Some(&before_after(
                    &serde_json::json!({}),
                    &serde_json::to_value(&view)?,
                )),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(view))
    }

    /// Changes a rule; `None` if not in scope.
    pub async fn change_rule(
        &self,
        scope: &Scope,
        kind: RuleKind,
        id: i64,
        f: &RuleFields,
    ) -> Result<Option<RuleView>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site_id) = rule_site(&mut tx, &scope.sites, kind, id).await? else {
            return Ok(None);
        };
        let Some(before) = self.rule_view(&mut tx, kind, id).await? else {
            return Ok(None);
        };
        self.apply_rule(&mut tx, kind, site_id, id, f).await?;
        let Some(after) = self.rule_view(&mut tx, kind, id).await? else {
            return Ok(None);
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "rule.change",
                target: &format!("{}-rule:{id} ({})", kind.as_str(), after.name),
                detail: Some(&before_after(
                    &serde_json::to_value(&before)?,
                    &serde_json::to_value(&after)?,
                )),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    /// Deletes a rule with its groups and alert users. Its events stay (history, until
    /// `[retention]`), without the rule's name.
    pub async fn delete_rule(&self, scope: &Scope, kind: RuleKind, id: i64) -> Result<Option<()>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site_id) = rule_site(&mut tx, &scope.sites, kind, id).await? else {
            return Ok(None);
        };
        let Some(before) = self.rule_view(&mut tx, kind, id).await? else {
            return Ok(None);
        };
        for sql in [
            "DELETE FROM rule_groups WHERE rule_kind = $1 AND rule_id = $2",
            "DELETE FROM rule_alert_users WHERE rule_kind = $1 AND rule_id = $2",
        ] {
            sqlx::query(sql)
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {} WHERE id = $1",
            kind.table()
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "rule.delete",
                target: &format!("{}-rule:{id} ({})", kind.as_str(), before.name),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// Checks and writes the given fields of a rule in the caller's transaction.
    async fn apply_rule(
        &self,
        tx: &mut sqlx::AnyConnection,
        kind: RuleKind,
        site_id: i64,
        id: i64,
        f: &RuleFields,
    ) -> Result<()> {
        /// A column's new value; numbers stay numbers (PostgreSQL does not cast text).
        enum Value {
            Text(String),
            Int(i64),
        }
        let mut updates: Vec<(&'static str, Value)> = Vec::new();
        let set = |column: &'static str, value: String| (column, Value::Text(value));
        if let Some(name) = &f.name {
            let name = name.trim();
            ensure!(
                !name.is_empty() && name.chars().count() <= NAME_CHARS,
                "name",
                Reason::Length {
                    min: 1,
                    max: NAME_CHARS
                }
            );
            updates.push(set("name", name.to_owned()));
        }
        if let Some(d) = &f.description {
            ensure!(
                d.chars().count() <= DESCRIPTION_CHARS,
                "description",
                Reason::AtMostChars {
                    max: DESCRIPTION_CHARS
                }
            );
            updates.push(set("description", d.clone()));
        }
        if let Some(level) = &f.level {
            let level = level.to_uppercase();
            ensure!(
                LEVELS.contains(&level.as_str()),
                "level",
                Reason::OneOf {
                    list: LEVELS.join(", ")
                }
            );
            updates.push(set("level", level));
        }
        let wrong_kind = |field: &'static str| {
            invalid!(
                field,
                Reason::WrongRuleKind {
                    belongs: other(kind),
                    kind
                }
            )
        };
        fn other(k: RuleKind) -> RuleKind {
            match k {
                RuleKind::Security => RuleKind::Offline,
                RuleKind::Offline => RuleKind::Security,
            }
        }
        match kind {
            RuleKind::Security => {
                for (field, given) in [
                    ("monitor_start", f.monitor_start.is_some()),
                    ("monitor_end", f.monitor_end.is_some()),
                    ("max_offline_minutes", f.max_offline_minutes.is_some()),
                ] {
                    if given {
                        return Err(wrong_kind(field));
                    }
                }
                if let Some(script) = f.script_id {
                    let ok: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM scripts WHERE id = $1 AND is_security = 1
                           AND (site_id IS NULL OR site_id = $2) AND deleted_at IS NULL",
                    )
                    .bind(script)
                    .bind(site_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    ensure!(
                        ok.is_some(),
                        "script_id",
                        Reason::NoSecurityScript { id: script }
                    );
                    updates.push(("script_id", Value::Int(script)));
                }
            }
            RuleKind::Offline => {
                if f.script_id.is_some() {
                    return Err(wrong_kind("script_id"));
                }
                if let Some(t) = &f.monitor_start {
                    updates.push(set("monitor_start", checked_time("monitor_start", t)?));
                }
                if let Some(t) = &f.monitor_end {
                    updates.push(set("monitor_end", checked_time("monitor_end", t)?));
                }
                if let Some(m) = f.max_offline_minutes {
                    ensure!(
                        (15..=10_080).contains(&m),
                        "max_offline_minutes",
                        Reason::OfflineMinutesRange {
                            min: 15,
                            max: 10_080
                        }
                    );
                    updates.push(("max_offline_minutes", Value::Int(m)));
                }
            }
        }
        for (column, value) in updates {
            let q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {} SET {column} = $1 WHERE id = $2",
                kind.table()
            )));
            let q = match value {
                Value::Text(t) => q.bind(t),
                Value::Int(n) => q.bind(n),
            };
            q.bind(id).execute(&mut *tx).await?;
        }
        if let Some(groups) = &f.groups {
            super::check_ids("groups", groups)?;
            let mut groups = groups.clone();
            groups.sort_unstable();
            groups.dedup();
            for (i, g) in groups.iter().enumerate() {
                let ok: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM pc_groups WHERE id = $1 AND site_id = $2")
                        .bind(*g)
                        .bind(site_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                ensure!(
                    ok.is_some(),
                    format!("groups[{i}]"),
                    Reason::NoGroup { id: *g }
                );
            }
            sqlx::query("DELETE FROM rule_groups WHERE rule_kind = $1 AND rule_id = $2")
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for g in groups {
                sqlx::query(
                    "INSERT INTO rule_groups (rule_kind, rule_id, group_id) VALUES ($1, $2, $3)",
                )
                .bind(kind.as_str())
                .bind(id)
                .bind(g)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(users) = &f.alert_users {
            super::check_ids("alert_users", users)?;
            let mut users = users.clone();
            users.sort_unstable();
            users.dedup();
            check_site_users(tx, site_id, &users, "alert_users").await?;
            sqlx::query("DELETE FROM rule_alert_users WHERE rule_kind = $1 AND rule_id = $2")
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for u in users {
                sqlx::query(
                    "INSERT INTO rule_alert_users (rule_kind, rule_id, user_id) VALUES ($1, $2, $3)",
                )
                .bind(kind.as_str())
                .bind(id)
                .bind(u)
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Who gets the e-mail about a rule's event on a PC: the supervisors of the PC's groups,
    /// if any of them has supervisors, else the rule's alert users. Users without an e-mail
    /// address are left out.
    pub async fn alert_recipients(
        &self,
        rule_kind: &str,
        rule_id: i64,
        pc_id: i64,
    ) -> Result<Vec<String>> {
        let supervisors: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT u.email FROM group_supervisors gs
             JOIN pc_group_members m ON m.group_id = gs.group_id JOIN users u ON u.id = gs.user_id
             WHERE m.pc_id = $1 AND u.email <> '' ORDER BY u.email",
        )
        .bind(pc_id)
        .fetch_all(self.pool())
        .await?;
        if !supervisors.is_empty() {
            return Ok(supervisors);
        }
        Ok(sqlx::query_scalar(
            "SELECT u.email FROM rule_alert_users a JOIN users u ON u.id = a.user_id
             WHERE a.rule_kind = $1 AND a.rule_id = $2 AND u.email <> '' ORDER BY u.email",
        )
        .bind(rule_kind)
        .bind(rule_id)
        .fetch_all(self.pool())
        .await?)
    }
}
