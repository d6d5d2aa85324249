//! Security rules and the events PCs (or the offline watcher) raise, with their handling
//! (status, assignee, note).

use super::Store;
use super::reports::ops_rollup::{Bind, Rollup};
use super::{Error, Reason, Result, ensure};
use service_kit::db::now_ms;
use sqlx::Row as _;

pub const LEVELS: &[&str] = &["CRITICAL", "HIGH", "NORMAL"];
/// Where an operator's handling of an event is: NEW until someone takes it, ASSIGNED, then
/// RESOLVED. The text is the same in `security_events.status` and in the operator API, and is
/// written and read only here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventStatus {
    New,
    Assigned,
    Resolved,
}

impl EventStatus {
    /// Every status, in the order of handling.
    pub const ALL: [EventStatus; 3] = [
        EventStatus::New,
        EventStatus::Assigned,
        EventStatus::Resolved,
    ];

    /// The text, as stored and as operators read and write it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::New => "NEW",
            EventStatus::Assigned => "ASSIGNED",
            EventStatus::Resolved => "RESOLVED",
        }
    }

    /// A status an operator gives (already upper-cased); `None` if there is no such status.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A status as `security_events.status` holds it; text this version does not know is an
    /// error.
    pub fn from_db(text: &str) -> Result<Self> {
        Self::parse(text).ok_or_else(|| Error::UnknownValue {
            column: "security_events.status",
            value: text.to_owned(),
        })
    }
}

impl std::fmt::Display for EventStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

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
    pub status: EventStatus,
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

/// A rule's new events waiting for their e-mail, summed up as the e-mail may say it (no
/// summaries: they come from the PC and may hold personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDigest {
    pub rule_kind: String,
    pub rule_id: i64,
    pub rule_name: String,
    pub level: String,
    pub site_name: String,
    pub site_uid: String,
    /// Events covered: every unmailed one of the rule's on `pc_ids` up to `last_event_id`.
    pub events: i64,
    pub last_event_id: i64,
    pub first_at: i64,
    pub last_at: i64,
    /// (PC name, events), the most first, at most [`DIGEST_PCS`].
    pub pcs: Vec<(String, i64)>,
    /// PCs with events beyond those listed.
    pub more_pcs: i64,
    /// Every PC the digest covers.
    pub pc_ids: Vec<i64>,
    pub recipients: Vec<String>,
}

/// PCs named in one alert e-mail at most.
pub const DIGEST_PCS: usize = 20;

/// "HH:MM" to minutes after midnight.
fn minutes(hhmm: &str) -> Option<u32> {
    let t = chrono::NaiveTime::parse_from_str(hhmm, "%H:%M").ok()?;
    use chrono::Timelike as _;
    Some(t.hour() * 60 + t.minute())
}

/// Whether `now` (minutes after local midnight) is inside a monitoring window; a window that
/// ends before it starts runs over midnight, and start == end means all day.
pub fn in_window(start: &str, end: &str, now: u32) -> bool {
    match (minutes(start), minutes(end)) {
        (Some(s), Some(e)) if s == e => true,
        (Some(s), Some(e)) if s < e => (s..e).contains(&now),
        (Some(s), Some(e)) => now >= s || now < e,
        _ => false,
    }
}

/// A rule that applies only to some groups of its site (none: the whole site). Groups of
/// other sites are ignored.
async fn limit_rule_to_groups(
    tx: &mut service_kit::db::WriteTx,
    rule_kind: &str,
    rule_id: i64,
    site_id: i64,
    group_ids: &[i64],
) -> Result<()> {
    for g in group_ids {
        sqlx::query(
            "INSERT INTO rule_groups (rule_kind, rule_id, group_id)
             SELECT $1, $2, id FROM pc_groups WHERE id = $3 AND site_id = $4",
        )
        .bind(rule_kind)
        .bind(rule_id)
        .bind(*g)
        .bind(site_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// An offline rule: PCs of the site (or of its groups) that have not checked in for
    /// `max_offline_minutes` during the monitoring window raise an event.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_offline_rule(
        &self,
        site_id: i64,
        name: &str,
        level: &str,
        monitor_start: &str,
        monitor_end: &str,
        max_offline_minutes: i64,
        group_ids: &[i64],
    ) -> Result<i64> {
        ensure!(
            LEVELS.contains(&level),
            "level",
            Reason::OneOf {
                list: LEVELS.join(", ")
            }
        );
        ensure!(
            minutes(monitor_start).is_some() && minutes(monitor_end).is_some(),
            "monitor_start, monitor_end",
            Reason::TimesLike
        );
        ensure!(
            max_offline_minutes >= 15,
            "max_offline_minutes",
            Reason::OfflineMinutesMin { min: 15 }
        );
        let mut tx = self.db.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO offline_rules (site_id, name, level, monitor_start, monitor_end, max_offline_minutes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(site_id)
        .bind(name)
        .bind(level)
        .bind(monitor_start)
        .bind(monitor_end)
        .bind(max_offline_minutes)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        limit_rule_to_groups(&mut tx, "offline", id, site_id, group_ids).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Who gets e-mail about a rule's events.
    pub async fn add_rule_alert_user(
        &self,
        rule_kind: &str,
        rule_id: i64,
        user_id: i64,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO rule_alert_users (rule_kind, rule_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(rule_kind)
            .bind(rule_id)
            .bind(user_id),
        )
        .await?;
        Ok(())
    }

    /// Raises an event for every PC an offline rule catches, once per absence: a PC gets no
    /// second event for a rule until it has been seen again. `minute_of_day` is the local time
    /// of `now` in minutes after midnight.
    pub async fn check_offline_rules(&self, now: i64, minute_of_day: u32) -> Result<usize> {
        let rules: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, site_id, monitor_start, monitor_end, max_offline_minutes FROM offline_rules",
        )
        .fetch_all(self.pool())
        .await?;
        let mut raised = 0;
        for (rule, site, start, end, max_minutes) in rules {
            if !in_window(&start, &end, minute_of_day) {
                continue;
            }
            let mut tx = self.db.begin_write().await?;
            // The rows this insert can make (and any of the same instant): counted again after.
            let made = "e.rule_kind = 'offline' AND e.rule_id = $1 AND e.reported_at = $2";
            let binds = [Bind::Int(rule), Bind::Int(now)];
            Rollup::Events.take(&mut tx, made, &binds).await?;
            let n = sqlx::query(
                "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text, reported_at, summary, status)
                 SELECT p.site_id, p.id, 'offline', $1, $2, '', $2, 'offline', $5 FROM pcs p
                 WHERE p.site_id = $3 AND p.is_activated = 1 AND p.last_seen IS NOT NULL AND p.last_seen < $4
                   AND (NOT EXISTS (SELECT 1 FROM rule_groups g WHERE g.rule_kind = 'offline' AND g.rule_id = $1)
                        OR EXISTS (SELECT 1 FROM rule_groups g JOIN pc_group_members m ON m.group_id = g.group_id
                                   WHERE g.rule_kind = 'offline' AND g.rule_id = $1 AND m.pc_id = p.id))
                   AND NOT EXISTS (SELECT 1 FROM security_events e WHERE e.rule_kind = 'offline' AND e.rule_id = $1
                                   AND e.pc_id = p.id AND e.reported_at > p.last_seen)",
            )
            .bind(rule)
            .bind(now)
            .bind(site)
            .bind(now - max_minutes * 60_000)
            .bind(EventStatus::New.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Rollup::Events.add(&mut tx, made, &binds).await?;
            tx.commit().await?;
            raised += n as usize;
        }
        Ok(raised)
    }

    /// The rules with events not yet mailed, summed up per rule and per set of recipients (a
    /// PC's group supervisors, else the rule's alert users; see `rules.rs`): at most `limit`
    /// rules, the longest waiting first.
    pub async fn alert_digests(&self, limit: i64) -> Result<Vec<AlertDigest>> {
        let groups: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT rule_kind, rule_id, MAX(id), MIN(occurred_at), MAX(occurred_at)
             FROM security_events WHERE notified_at IS NULL
             GROUP BY rule_kind, rule_id ORDER BY MIN(id) LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for (kind, rule_id, last_event_id, first_at, last_at) in groups {
            let rule: Option<(String, String, String, String)> = sqlx::query_as(
                "SELECT r.name, r.level, s.name, s.uid FROM (
                   SELECT id, site_id, name, level, 'security' AS kind FROM security_problems
                   UNION ALL SELECT id, site_id, name, level, 'offline' FROM offline_rules
                 ) r JOIN sites s ON s.id = r.site_id WHERE r.kind = $1 AND r.id = $2",
            )
            .bind(&kind)
            .bind(rule_id)
            .fetch_optional(self.pool())
            .await?;
            let (rule_name, level, site_name, site_uid) = rule.unwrap_or_default();
            // Every PC with waiting events (a site's PCs at most), the most events first.
            let pcs: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT pc.id, pc.name, COUNT(*) FROM security_events e JOIN pcs pc ON pc.id = e.pc_id
                 WHERE e.rule_kind = $1 AND e.rule_id = $2 AND e.notified_at IS NULL AND e.id <= $3
                 GROUP BY pc.id, pc.name ORDER BY COUNT(*) DESC, pc.name",
            )
            .bind(&kind)
            .bind(rule_id)
            .bind(last_event_id)
            .fetch_all(self.pool())
            .await?;
            let supervisors: Vec<(i64, String)> = sqlx::query_as(
                "SELECT DISTINCT m.pc_id, u.email FROM group_supervisors gs
                 JOIN pc_group_members m ON m.group_id = gs.group_id JOIN users u ON u.id = gs.user_id
                 WHERE u.email <> '' AND m.pc_id IN (
                   SELECT pc_id FROM security_events
                   WHERE rule_kind = $1 AND rule_id = $2 AND notified_at IS NULL AND id <= $3)
                 ORDER BY u.email",
            )
            .bind(&kind)
            .bind(rule_id)
            .bind(last_event_id)
            .fetch_all(self.pool())
            .await?;
            let alert_users: Vec<String> = sqlx::query_scalar(
                "SELECT u.email FROM rule_alert_users a JOIN users u ON u.id = a.user_id
                 WHERE a.rule_kind = $1 AND a.rule_id = $2 AND u.email <> '' ORDER BY u.email",
            )
            .bind(&kind)
            .bind(rule_id)
            .fetch_all(self.pool())
            .await?;
            let mut by_pc: std::collections::HashMap<i64, Vec<String>> = Default::default();
            for (pc, email) in supervisors {
                by_pc.entry(pc).or_default().push(email);
            }
            // One digest per set of recipients, in the order its first PC comes.
            let mut digests: Vec<AlertDigest> = Vec::new();
            for (pc_id, pc_name, events) in pcs {
                let recipients = by_pc.remove(&pc_id).unwrap_or_else(|| alert_users.clone());
                let at = match digests.iter().position(|d| d.recipients == recipients) {
                    Some(at) => at,
                    None => {
                        digests.push(AlertDigest {
                            rule_kind: kind.clone(),
                            rule_id,
                            rule_name: rule_name.clone(),
                            level: level.clone(),
                            site_name: site_name.clone(),
                            site_uid: site_uid.clone(),
                            events: 0,
                            last_event_id,
                            first_at,
                            last_at,
                            pcs: Vec::new(),
                            more_pcs: 0,
                            pc_ids: Vec::new(),
                            recipients,
                        });
                        digests.len() - 1
                    }
                };
                let d = &mut digests[at];
                d.events += events;
                d.pc_ids.push(pc_id);
                if d.pcs.len() < DIGEST_PCS {
                    d.pcs.push((pc_name, events));
                } else {
                    d.more_pcs += 1;
                }
            }
            out.extend(digests);
        }
        Ok(out)
    }

    /// Marks a digest's events mailed (those that came after it, or are other recipients',
    /// wait for their own digest).
    pub async fn mark_notified(&self, d: &AlertDigest) -> Result<()> {
        let now = now_ms();
        // In slices, to stay far below SQLite's limit of variables in one statement.
        for pcs in d.pc_ids.chunks(500) {
            let sql = format!(
                "UPDATE security_events SET notified_at = $1
                 WHERE rule_kind = $2 AND rule_id = $3 AND id <= $4 AND notified_at IS NULL
                   AND pc_id IN ({})",
                super::placeholders(5, pcs.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(&d.rule_kind)
                .bind(d.rule_id)
                .bind(d.last_event_id);
            for pc in pcs {
                q = q.bind(*pc);
            }
            self.write_one(q).await?;
        }
        Ok(())
    }

    pub async fn add_security_problem(
        &self,
        site_id: i64,
        name: &str,
        level: &str,
        script_id: i64,
        group_ids: &[i64],
    ) -> Result<i64> {
        ensure!(
            LEVELS.contains(&level),
            "level",
            Reason::OneOf {
                list: LEVELS.join(", ")
            }
        );
        let mut tx = self.db.begin_write().await?;
        let visible: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM scripts
             WHERE id = $1 AND (site_id IS NULL OR site_id = $2) AND deleted_at IS NULL",
        )
        .bind(script_id)
        .bind(site_id)
        .fetch_optional(&mut *tx)
        .await?;
        ensure!(
            visible.is_some(),
            "script",
            Reason::NoScript { id: script_id }
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
        limit_rule_to_groups(&mut tx, "security", id, site_id, group_ids).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The security scripts a PC runs: its site's rules without groups, and the rules of
    /// groups it is in (never a deleted script's, though a script a rule runs is not deleted).
    pub async fn security_scripts_for(
        &self,
        pc_id: i64,
        site_id: i64,
    ) -> Result<Vec<SecurityScriptFor>> {
        let rows = sqlx::query(
            "SELECT p.id, p.script_id, v.executable_code FROM security_problems p
             JOIN scripts s ON s.id = p.script_id
             JOIN script_versions v ON v.id = s.current_version_id
             WHERE p.site_id = $1 AND s.deleted_at IS NULL AND (
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
    pub async fn add_security_events(&self, events: &[NewEvent<'_>]) -> Result<Vec<i64>> {
        let mut ids = Vec::new();
        if events.is_empty() {
            return Ok(ids);
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        for e in events {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text, reported_at, summary, status)
                 SELECT $1, $2, 'security', p.id, $3, $4, $5, $6, $8 FROM security_problems p
                 WHERE p.id = $7 AND p.site_id = $1 RETURNING id",
            )
            .bind(e.site_id)
            .bind(e.pc_id)
            .bind(e.occurred_at)
            .bind(e.occurred_text)
            .bind(now)
            .bind(e.summary)
            .bind(e.problem_id)
            .bind(EventStatus::New.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                Rollup::Events
                    .add(&mut tx, "e.id = $1", &[Bind::Int(id)])
                    .await?;
            }
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
    ) -> Result<Vec<SecurityEvent>> {
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
                    status: EventStatus::from_db(&r.try_get::<String, _>("status")?)?,
                    assigned_user_id: r.try_get("assigned_user_id")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::in_window;

    #[test]
    fn monitoring_windows() {
        assert!(in_window("08:00", "16:00", 8 * 60));
        assert!(!in_window("08:00", "16:00", 16 * 60));
        assert!(in_window("22:00", "06:00", 23 * 60));
        assert!(in_window("22:00", "06:00", 60));
        assert!(!in_window("22:00", "06:00", 12 * 60));
        assert!(in_window("00:00", "00:00", 12 * 60));
        assert!(!in_window("x", "06:00", 60));
    }
}
