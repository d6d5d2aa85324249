//! Security rules and the events PCs (or the offline watcher) raise, with their handling
//! (status, assignee, note).

use super::Store;
use service_kit::db::now_ms;
use sqlx::Row as _;

pub const LEVELS: &[&str] = &["CRITICAL", "HIGH", "NORMAL"];
pub const EVENT_STATUSES: &[&str] = &["NEW", "ASSIGNED", "RESOLVED"];

/// A security script as a PC receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityScriptFor {
    pub problem_id: i64,
    pub script_id: i64,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecurityEvent {
    pub id: i64,
    pub pc_uid: String,
    pub pc_name: String,
    pub rule_kind: String,
    pub rule_id: i64,
    pub rule_name: String,
    pub level: String,
    pub occurred_at: i64,
    pub reported_at: i64,
    pub summary: String,
    pub status: String,
    pub assigned_user_id: Option<i64>,
    pub note: String,
}

/// A new event from a PC's report.
pub struct NewEvent<'a> {
    pub site_id: i64,
    pub pc_id: i64,
    pub problem_id: i64,
    pub occurred_at: i64,
    pub occurred_text: &'a str,
    pub summary: &'a str,
}

impl Store {
    pub async fn add_security_problem(
        &self,
        site_id: i64,
        name: &str,
        level: &str,
        script_id: i64,
        group_ids: &[i64],
    ) -> anyhow::Result<i64> {
        anyhow::ensure!(
            LEVELS.contains(&level),
            "level: must be one of {}",
            LEVELS.join(", ")
        );
        let mut tx = self.db.begin_write().await?;
        let visible: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM scripts WHERE id = $1 AND (site_id IS NULL OR site_id = $2)",
        )
        .bind(script_id)
        .bind(site_id)
        .fetch_optional(&mut *tx)
        .await?;
        anyhow::ensure!(
            visible.is_some(),
            "script: no script with id {script_id} on this site"
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO security_problems (site_id, name, level, script_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(site_id)
        .bind(name)
        .bind(level)
        .bind(script_id)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        for g in group_ids {
            sqlx::query("INSERT INTO rule_groups (rule_kind, rule_id, group_id) SELECT 'security', $1, id FROM pc_groups WHERE id = $2 AND site_id = $3")
                .bind(id)
                .bind(*g)
                .bind(site_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The security scripts a PC runs: its site's rules without groups, and the rules of
    /// groups it is in.
    pub async fn security_scripts_for(
        &self,
        pc_id: i64,
        site_id: i64,
    ) -> anyhow::Result<Vec<SecurityScriptFor>> {
        let rows = sqlx::query(
            "SELECT p.id, p.script_id, v.executable_code FROM security_problems p
             JOIN scripts s ON s.id = p.script_id
             JOIN script_versions v ON v.id = s.current_version_id
             WHERE p.site_id = $1 AND (
               NOT EXISTS (SELECT 1 FROM rule_groups g WHERE g.rule_kind = 'security' AND g.rule_id = p.id)
               OR EXISTS (SELECT 1 FROM rule_groups g JOIN pc_group_members m ON m.group_id = g.group_id
                          WHERE g.rule_kind = 'security' AND g.rule_id = p.id AND m.pc_id = $2))
             ORDER BY p.id",
        )
        .bind(site_id)
        .bind(pc_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecurityScriptFor {
                    problem_id: r.try_get(0)?,
                    script_id: r.try_get(1)?,
                    code: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Stores events from a PC; events for rules that are not the PC's site's are skipped.
    /// Returns the ids stored.
    pub async fn add_security_events(&self, events: &[NewEvent<'_>]) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::new();
        if events.is_empty() {
            return Ok(ids);
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        for e in events {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text, reported_at, summary, status)
                 SELECT $1, $2, 'security', p.id, $3, $4, $5, $6, 'NEW' FROM security_problems p
                 WHERE p.id = $7 AND p.site_id = $1 RETURNING id",
            )
            .bind(e.site_id)
            .bind(e.pc_id)
            .bind(e.occurred_at)
            .bind(e.occurred_text)
            .bind(now)
            .bind(e.summary)
            .bind(e.problem_id)
            .fetch_optional(&mut *tx)
            .await?;
            ids.extend(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A site's events, newest first; `status` filters.
    pub async fn security_events(
        &self,
        site_id: i64,
        status: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<SecurityEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, pc.uid AS pc_uid, pc.name AS pc_name, e.rule_kind, e.rule_id,
                    COALESCE(sp.name, o.name, '') AS rule_name, COALESCE(sp.level, o.level, '') AS level,
                    e.occurred_at, e.reported_at, e.summary, e.status, e.assigned_user_id, e.note
             FROM security_events e JOIN pcs pc ON pc.id = e.pc_id
             LEFT JOIN security_problems sp ON e.rule_kind = 'security' AND sp.id = e.rule_id
             LEFT JOIN offline_rules o ON e.rule_kind = 'offline' AND o.id = e.rule_id
             WHERE e.site_id = $1 AND ($2 = '' OR e.status = $2)
             ORDER BY e.id DESC LIMIT $3",
        )
        .bind(site_id)
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecurityEvent {
                    id: r.try_get("id")?,
                    pc_uid: r.try_get("pc_uid")?,
                    pc_name: r.try_get("pc_name")?,
                    rule_kind: r.try_get("rule_kind")?,
                    rule_id: r.try_get("rule_id")?,
                    rule_name: r.try_get("rule_name")?,
                    level: r.try_get("level")?,
                    occurred_at: r.try_get("occurred_at")?,
                    reported_at: r.try_get("reported_at")?,
                    summary: r.try_get("summary")?,
                    status: r.try_get("status")?,
                    assigned_user_id: r.try_get("assigned_user_id")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }
}
