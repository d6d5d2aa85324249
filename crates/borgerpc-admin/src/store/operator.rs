//! What the operator API reads and changes, always within a scope (the sites of a
//! [`Scope`](super::accounts::Scope)): a row of a site outside
//! the scope is indistinguishable from a row that does not exist.

use super::access::Role;
use super::events::EventStatus;
use super::jobs::JobStatus;
use super::reports::ops_rollup::{Bind, Rollup};
use super::{Reason, Result, ensure, invalid};
use super::{Store, placeholders};
use serde::Serialize;
use sqlx::Row as _;

/// `site_id IN (...)` for the scope's sites (placeholders from `$first`), or a condition that
/// is never true for an empty scope.
pub(crate) fn in_scope(column: &str, scope: &[i64], first: usize) -> String {
    if scope.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!("{column} IN ({})", placeholders(first, scope.len()))
    }
}

/// Something an operator names by id, for finding its site (see [`Store::site_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Site(i64),
    Pc(i64),
    Group(i64),
    Job(i64),
    Event(i64),
    Policy(i64),
    Rule(super::rules::RuleKind, i64),
    WakePlan(i64),
    ApiKey(i64),
}

/// Filters: a site (uid) within the scope, and paging.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PcView {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub location: String,
    pub last_seen: Option<i64>,
    pub is_activated: bool,
    pub created: i64,
    pub pc_groups: Vec<i64>,
    /// The id to read the PC's configuration with (`/configuration/{id}`): the PC's id.
    pub configuration: i64,
    pub ip_addresses: String,
    pub site: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobView {
    pub id: i64,
    pub status: JobStatus,
    pub created: i64,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub pc: i64,
    pub pc_name: String,
    pub script: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_output: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventView {
    pub id: i64,
    pub occurred_time: i64,
    pub reported_time: i64,
    pub pc: i64,
    pub pc_name: String,
    pub summary: String,
    pub status: EventStatus,
    pub assigned_user: Option<i64>,
    pub note: String,
    pub monitoring_rule: String,
    pub level: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ScriptView {
    pub id: i64,
    pub name: String,
    pub uid: Option<String>,
    pub global: bool,
    pub is_security: bool,
    pub version: i64,
    pub inputs: Vec<InputView>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InputView {
    pub name: String,
    pub value_type: String,
    pub mandatory: bool,
}

/// A change to a security event by an operator.
#[derive(Debug, Clone, Default)]
pub struct EventChange {
    pub status: Option<String>,
    pub assigned_user: Option<Option<i64>>,
    pub note: Option<String>,
}

pub(crate) fn bind_all<'q, T>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &[T],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>
where
    T: Clone + Send + 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    for v in values {
        q = q.bind(v.clone());
    }
    q
}

/// One page of a scoped list: `sql` is `SELECT … FROM … WHERE …` whose parameters are
/// `leading` (`$1…`) and then the scope's sites (from the caller's `in_scope`). The count reuses
/// what follows the first ` FROM `, so the select list holds no subquery.
struct ListQuery<'a> {
    sql: String,
    leading: &'a [i64],
    scope: &'a [i64],
    order: &'a str,
}

impl Store {
    /// The site an object belongs to, whoever asks: only to tell "forbidden" (the caller sees
    /// the site, with a lesser role) from "not found". Never shown to the caller.
    pub async fn site_of(&self, object: Object) -> Result<Option<i64>> {
        let (sql, id) = match object {
            Object::Site(id) => ("SELECT id FROM sites WHERE id = $1", id),
            Object::Pc(id) => ("SELECT site_id FROM pcs WHERE id = $1", id),
            Object::Group(id) => ("SELECT site_id FROM pc_groups WHERE id = $1", id),
            Object::Job(id) => ("SELECT site_id FROM jobs WHERE id = $1", id),
            Object::Event(id) => ("SELECT site_id FROM security_events WHERE id = $1", id),
            Object::Policy(id) => (
                "SELECT g.site_id FROM associated_scripts a JOIN pc_groups g ON g.id = a.group_id WHERE a.id = $1",
                id,
            ),
            Object::Rule(super::rules::RuleKind::Security, id) => {
                ("SELECT site_id FROM security_problems WHERE id = $1", id)
            }
            Object::Rule(super::rules::RuleKind::Offline, id) => {
                ("SELECT site_id FROM offline_rules WHERE id = $1", id)
            }
            Object::WakePlan(id) => ("SELECT site_id FROM wake_week_plans WHERE id = $1", id),
            Object::ApiKey(id) => ("SELECT site_id FROM api_keys WHERE id = $1", id),
        };
        Ok(sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The total count (for `count`) and the rows of one page.
    async fn page_of(
        &self,
        q: ListQuery<'_>,
        page: &Page,
    ) -> Result<(i64, Vec<sqlx::any::AnyRow>)> {
        let (_, from) = q
            .sql
            .split_once(" FROM ")
            .ok_or_else(|| invalid!("", Reason::ListQuery))?;
        let count: i64 = bind_all(
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {from}"))),
                q.leading,
            ),
            q.scope,
        )
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let n = q.leading.len() + q.scope.len();
        let rows = bind_all(
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{} ORDER BY {} LIMIT ${} OFFSET ${}",
                    q.sql,
                    q.order,
                    n + 1,
                    n + 2
                ))),
                q.leading,
            ),
            q.scope,
        )
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(self.pool())
        .await?;
        Ok((count, rows))
    }

    /// PCs in scope, by site then name.
    pub async fn api_pcs(
        &self,
        scope: &[i64],
        only: Option<i64>,
        page: &Page,
    ) -> Result<Paged<PcView>> {
        let only = [only.unwrap_or(0)];
        let (count, rows) = self
            .page_of(
                ListQuery {
                    sql: format!(
                        "SELECT p.id FROM pcs p WHERE ($1 = 0 OR p.site_id = $1) AND {}",
                        in_scope("p.site_id", scope, 2)
                    ),
                    leading: &only,
                    scope,
                    order: "p.site_id, p.name, p.id",
                },
                page,
            )
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(pc) = self.api_pc(scope, r.try_get(0)?).await? {
                items.push(pc);
            }
        }
        Ok(Paged { items, count })
    }

    pub async fn api_pc(&self, scope: &[i64], id: i64) -> Result<Option<PcView>> {
        let row = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT p.id, p.uid, p.name, p.location, p.last_seen, p.is_activated, p.created_at, s.uid AS site,
                        (SELECT entry_value FROM config_entries c WHERE c.owner_kind = 'pc' AND c.owner_id = p.id
                           AND c.entry_key = '_ip_addresses') AS ips
                 FROM pcs p JOIN sites s ON s.id = p.site_id WHERE p.id = $1 AND {}",
                in_scope("p.site_id", scope, 2)
            )))
            .bind(id),
            scope,
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let groups: Vec<i64> = sqlx::query_scalar(
            "SELECT group_id FROM pc_group_members WHERE pc_id = $1 ORDER BY group_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(PcView {
            id: r.try_get("id")?,
            uid: r.try_get("uid")?,
            name: r.try_get("name")?,
            location: r.try_get("location")?,
            last_seen: r.try_get("last_seen")?,
            is_activated: r.try_get::<i64, _>("is_activated")? != 0,
            created: r.try_get("created_at")?,
            pc_groups: groups,
            configuration: id,
            ip_addresses: r.try_get::<Option<String>, _>("ips")?.unwrap_or_default(),
            site: r.try_get("site")?,
        }))
    }

    /// The site of a PC in scope.
    pub async fn api_pc_site(&self, scope: &[i64], pc_id: i64) -> Result<Option<i64>> {
        Ok(bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT site_id FROM pcs WHERE id = $1 AND {}",
                in_scope("site_id", scope, 2)
            )))
            .bind(pc_id),
            scope,
        )
        .fetch_optional(self.pool())
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?)
    }

    pub async fn api_set_activated(&self, scope: &[i64], pc_id: i64, on: bool) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let found = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT site_id, is_activated FROM pcs WHERE id = $1 AND {}",
                in_scope("site_id", scope, 2)
            )))
            .bind(pc_id),
            scope,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = found else { return Ok(false) };
        let (site, was): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if (was != 0) != on {
            sqlx::query("UPDATE pcs SET is_activated = $1 WHERE id = $2")
                .bind(i64::from(on))
                .bind(pc_id)
                .execute(&mut *tx)
                .await?;
            super::pc_counts::activation_changed(&mut tx, site, on, 1).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Activates (or deactivates) many PCs, named by uid, all or none: if any uid is unknown
    /// or outside the scope, nothing changes and the answer lists those uids. Every changed PC
    /// gets its own audit record, in the same transaction.
    pub async fn api_set_activated_many(
        &self,
        scope: &[i64],
        uids: &[String],
        on: bool,
        actor: &str,
    ) -> Result<Result<u64, Vec<String>>> {
        let mut tx = self.db.begin_write().await?;
        let rows = bind_all(
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id, uid, site_id, is_activated FROM pcs WHERE uid IN ({}) AND {}",
                    placeholders(1, uids.len()),
                    in_scope("site_id", scope, uids.len() + 1)
                ))),
                uids,
            ),
            scope,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut found = std::collections::HashSet::new();
        let mut to_change = Vec::new();
        for r in &rows {
            let (id, uid, site, active): (i64, String, i64, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            found.insert(uid);
            if (active != 0) != on {
                to_change.push((id, site));
            }
        }
        let missing: Vec<String> = uids
            .iter()
            .filter(|u| !found.contains(*u))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        let action = if on { "pc.activate" } else { "pc.deactivate" };
        for chunk in to_change.chunks(500) {
            let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE pcs SET is_activated = $1 WHERE id IN ({})",
                    placeholders(2, ids.len())
                )))
                .bind(i64::from(on)),
                &ids,
            )
            .execute(&mut *tx)
            .await?;
        }
        let mut per_site = std::collections::BTreeMap::<i64, u64>::new();
        for (id, site) in &to_change {
            *per_site.entry(*site).or_default() += 1;
            super::accounts::audit_in(&mut tx, actor, Some(*site), action, &format!("pc:{id}"))
                .await?;
        }
        for (site, n) in per_site {
            super::pc_counts::activation_changed(&mut tx, site, on, n).await?;
        }
        tx.commit().await?;
        Ok(Ok(to_change.len() as u64))
    }

    /// A PC's own configuration entries.
    pub async fn api_configuration(
        &self,
        scope: &[i64],
        pc_id: i64,
    ) -> Result<Option<Vec<(String, String)>>> {
        if self.api_pc_site(scope, pc_id).await?.is_none() {
            return Ok(None);
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT entry_key, entry_value FROM config_entries WHERE owner_kind = 'pc' AND owner_id = $1 ORDER BY entry_key",
        )
        .bind(pc_id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(rows))
    }

    /// Jobs in scope created in [from, to), newest first.
    pub async fn api_jobs(
        &self,
        scope: &[i64],
        from: i64,
        to: i64,
        page: &Page,
    ) -> Result<Paged<JobView>> {
        let (count, rows) = self
            .page_of(
                ListQuery {
                    sql: format!(
                        "SELECT j.id, j.status, j.created_at, j.started, j.finished, j.pc_id, p.name AS pc_name, b.name AS script
                         FROM jobs j JOIN pcs p ON p.id = j.pc_id JOIN batches b ON b.id = j.batch_id
                         WHERE j.created_at >= $1 AND j.created_at < $2 AND {}",
                        in_scope("j.site_id", scope, 3)
                    ),
                    leading: &[from, to],
                    scope,
                    order: "j.id DESC",
                },
                page,
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| job_view(r, false))
            .collect::<Result<_, _>>()?;
        Ok(Paged { items, count })
    }

    pub async fn api_job(&self, scope: &[i64], id: i64) -> Result<Option<JobView>> {
        let row = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT j.id, j.status, j.created_at, j.started, j.finished, j.pc_id, p.name AS pc_name, b.name AS script, j.log_output
                 FROM jobs j JOIN pcs p ON p.id = j.pc_id JOIN batches b ON b.id = j.batch_id
                 WHERE j.id = $1 AND {}",
                in_scope("j.site_id", scope, 2)
            )))
            .bind(id),
            scope,
        )
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|r| job_view(r, true)).transpose()
    }

    /// Events in scope that occurred in [from, to), with the given statuses, newest first.
    pub async fn api_events(
        &self,
        scope: &[i64],
        from: i64,
        to: i64,
        statuses: &[EventStatus],
        page: &Page,
    ) -> Result<Paged<EventView>> {
        let statuses = if statuses.is_empty() {
            &EventStatus::ALL[..]
        } else {
            statuses
        };
        // The statuses' own texts, not input, so they may be written into the statement.
        let status_list = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let (count, rows) = self
            .page_of(
                ListQuery {
                    sql: format!(
                        "{EVENT_SELECT} WHERE e.occurred_at >= $1 AND e.occurred_at < $2 AND e.status IN ({status_list}) AND {}",
                        in_scope("e.site_id", scope, 3)
                    ),
                    leading: &[from, to],
                    scope,
                    order: "e.id DESC",
                },
                page,
            )
            .await?;
        let items = rows.iter().map(event_view).collect::<Result<_, _>>()?;
        Ok(Paged { items, count })
    }

    pub async fn api_event(&self, scope: &[i64], id: i64) -> Result<Option<EventView>> {
        let row = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{EVENT_SELECT} WHERE e.id = $1 AND {}",
                in_scope("e.site_id", scope, 2)
            )))
            .bind(id),
            scope,
        )
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(event_view).transpose()
    }

    /// Handles an event (status, assignee, note); `None` if it is not in scope. An assignee
    /// must be a user who can see the event's site.
    pub async fn api_update_event(
        &self,
        scope: &[i64],
        id: i64,
        change: &EventChange,
    ) -> Result<Option<EventView>> {
        let mut tx = self.db.begin_write().await?;
        if update_event_in(&mut tx, scope, id, change).await?.is_none() {
            return Ok(None);
        }
        tx.commit().await?;
        self.api_event(scope, id).await
    }

    /// [`Store::api_update_event`] for many events at once (the portal's "handle the chosen
    /// events"), all or none in one transaction: if any id is not in scope, nothing changes
    /// and the answer is `None`; bad input for any event refuses them all. Each event changed
    /// gets its audit record (`event.update`) in the same transaction. Returns how many.
    pub async fn api_update_events(
        &self,
        scope: &[i64],
        ids: &[i64],
        change: &EventChange,
        actor: &str,
    ) -> Result<Option<u64>> {
        super::check_ids("events", ids)?;
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.db.begin_write().await?;
        for id in &ids {
            let Some(site) = update_event_in(&mut tx, scope, *id, change).await? else {
                return Ok(None);
            };
            super::accounts::audit_in(
                &mut tx,
                actor,
                Some(site),
                "event.update",
                &format!("event:{id}"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(ids.len() as u64))
    }

    /// Scripts a site may run: global ones and its own, not deleted ones.
    pub async fn api_scripts(&self, site_id: i64) -> Result<Vec<ScriptView>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.uid, s.site_id, s.is_security, v.id AS version_id, v.version
             FROM scripts s JOIN script_versions v ON v.id = s.current_version_id
             WHERE (s.site_id IS NULL OR s.site_id = $1) AND s.is_hidden = 0 AND s.deleted_at IS NULL
             ORDER BY s.name, s.id",
        )
        .bind(site_id)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let inputs = sqlx::query(
                "SELECT name, value_type, mandatory FROM inputs WHERE script_version_id = $1 ORDER BY position",
            )
            .bind(r.try_get::<i64, _>("version_id")?)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|i| {
                Ok(InputView {
                    name: i.try_get("name")?,
                    value_type: i.try_get("value_type")?,
                    mandatory: i.try_get::<i64, _>("mandatory")? != 0,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
            out.push(ScriptView {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                uid: r.try_get("uid")?,
                global: r.try_get::<Option<i64>, _>("site_id")?.is_none(),
                is_security: r.try_get::<i64, _>("is_security")? != 0,
                version: r.try_get("version")?,
                inputs,
            });
        }
        Ok(out)
    }

    /// A group in scope: its site and its members.
    pub async fn api_group_members(
        &self,
        scope: &[i64],
        group_id: i64,
    ) -> Result<Option<(i64, Vec<i64>)>> {
        let site = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT site_id FROM pc_groups WHERE id = $1 AND {}",
                in_scope("site_id", scope, 2)
            )))
            .bind(group_id),
            scope,
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(site) = site else { return Ok(None) };
        let pcs: Vec<i64> = sqlx::query_scalar(
            "SELECT pc_id FROM pc_group_members WHERE group_id = $1 ORDER BY pc_id",
        )
        .bind(group_id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some((site.try_get(0)?, pcs)))
    }
}

const EVENT_SELECT: &str = "SELECT e.id, e.occurred_at, e.reported_at, e.pc_id, pc.name AS pc_name, e.summary, e.status,
        e.assigned_user_id, e.note, COALESCE(sp.name, o.name, '') AS rule_name, COALESCE(sp.level, o.level, '') AS level
     FROM security_events e JOIN pcs pc ON pc.id = e.pc_id
     LEFT JOIN security_problems sp ON e.rule_kind = 'security' AND sp.id = e.rule_id
     LEFT JOIN offline_rules o ON e.rule_kind = 'offline' AND o.id = e.rule_id";

/// One event's handling, checked and written on the caller's transaction; its site, or
/// `None` if the event is not in scope.
async fn update_event_in(
    tx: &mut sqlx::AnyConnection,
    scope: &[i64],
    id: i64,
    change: &EventChange,
) -> Result<Option<i64>> {
    let row = bind_all(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT e.site_id, e.status, e.assigned_user_id, e.note, e.handled_at FROM security_events e
             WHERE e.id = $1 AND {}",
            in_scope("e.site_id", scope, 2)
        )))
        .bind(id),
        scope,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let site: i64 = r.try_get(0)?;
    let was = EventStatus::from_db(&r.try_get::<String, _>(1)?)?;
    let status = match &change.status {
        None => was,
        Some(s) => EventStatus::parse(s).ok_or_else(|| {
            invalid!(
                "status",
                Reason::OneOf {
                    list: EventStatus::ALL.map(EventStatus::as_str).join(", ")
                }
            )
        })?,
    };
    let assigned = match change.assigned_user {
        Some(a) => a,
        None => r.try_get(2)?,
    };
    if let Some(user) = assigned {
        let member: Option<i64> = sqlx::query_scalar(
            "SELECT u.id FROM users u WHERE u.id = $1 AND (u.is_superuser = 1 OR EXISTS (
               SELECT 1 FROM memberships m JOIN sites s ON s.id = $2
               WHERE m.user_id = u.id AND (m.site_id = s.id OR (m.role = $3 AND m.customer_id = s.customer_id))))",
        )
        .bind(user)
        .bind(site)
        .bind(Role::CustomerAdmin.name())
        .fetch_optional(&mut *tx)
        .await?;
        ensure!(
            member.is_some(),
            "assigned_user",
            Reason::UserNotOnSite { id: user }
        );
    }
    let note = match &change.note {
        Some(n) => n.clone(),
        None => r.try_get(3)?,
    };
    ensure!(
        note.chars().count() <= 4096,
        "note",
        Reason::MustBeAtMostChars { max: 4096 }
    );
    // When it was handled, for the security report's time to handle: set as it becomes
    // RESOLVED, kept while it stays so, gone when it is opened again.
    let handled_at: Option<i64> = match (was, status) {
        (EventStatus::Resolved, EventStatus::Resolved) => r.try_get(4)?,
        (_, EventStatus::Resolved) => Some(service_kit::db::now_ms()),
        _ => None,
    };
    let event = [Bind::Int(id)];
    Rollup::Events.take(tx, "e.id = $1", &event).await?;
    sqlx::query(
        "UPDATE security_events SET status = $1, assigned_user_id = $2, note = $3, handled_at = $5
         WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(assigned)
    .bind(&note)
    .bind(id)
    .bind(handled_at)
    .execute(&mut *tx)
    .await?;
    Rollup::Events.add(tx, "e.id = $1", &event).await?;
    Ok(Some(site))
}

fn event_view(r: &sqlx::any::AnyRow) -> Result<EventView> {
    Ok(EventView {
        id: r.try_get("id")?,
        occurred_time: r.try_get("occurred_at")?,
        reported_time: r.try_get("reported_at")?,
        pc: r.try_get("pc_id")?,
        pc_name: r.try_get("pc_name")?,
        summary: r.try_get("summary")?,
        status: EventStatus::from_db(&r.try_get::<String, _>("status")?)?,
        assigned_user: r.try_get("assigned_user_id")?,
        note: r.try_get("note")?,
        monitoring_rule: r.try_get("rule_name")?,
        level: r.try_get("level")?,
    })
}

fn job_view(r: &sqlx::any::AnyRow, with_log: bool) -> Result<JobView> {
    Ok(JobView {
        id: r.try_get("id")?,
        status: JobStatus::from_db(&r.try_get::<String, _>("status")?)?,
        created: r.try_get("created_at")?,
        started: r.try_get("started")?,
        finished: r.try_get("finished")?,
        pc: r.try_get("pc_id")?,
        pc_name: r.try_get("pc_name")?,
        script: r.try_get("script")?,
        log_output: if with_log {
            r.try_get("log_output")?
        } else {
            None
        },
    })
}
