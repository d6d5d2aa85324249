//! What the portal's pages read, each in one query shaped for the page: the sites' tiles,
//! a site's status, the PC list with its filters, sort and paging, a PC's page, and the
//! security events list with its filters. The API's
//! views (`operator.rs`) read one object at a time; a page of 50 rows out of 100,000 PCs must
//! not.
//!
//! Every function takes the sites the viewer may see and filters by them in SQL.

use super::events::EventStatus;
use super::jobs::JobStatus;
use super::operator::{bind_all, in_scope};
use super::placeholders;
use super::{Result, Store};
use sqlx::Row as _;

/// A PC is online when it checked in this recently (upstream's `PC.online`).
pub const ONLINE_MS: i64 = 5 * 60_000;

/// A site's tile on the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteTile {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub customer: String,
    pub pcs: i64,
    pub activated: i64,
    pub online: i64,
    /// (`os2_product`, count): BorgerPC, Kiosk.
    pub products: Vec<(String, i64)>,
    /// (Ubuntu release, count).
    pub releases: Vec<(String, i64)>,
}

/// One row of a PC list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcRow {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub location: String,
    pub mac: String,
    pub is_activated: bool,
    pub created_at: i64,
    pub last_seen: Option<i64>,
    pub client_version: String,
    /// A key offered and waiting for approval.
    pub key_pending: bool,
}

impl PcRow {
    pub fn online(&self, now: i64) -> bool {
        self.last_seen.is_some_and(|t| now - t < ONLINE_MS)
    }
}

/// How a PC list is filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcFilter {
    /// Part of the name, uid, location or MAC address.
    pub text: String,
    pub online: Option<bool>,
    pub activated: Option<bool>,
    pub group: Option<i64>,
    /// The exact client version.
    pub version: Option<String>,
}

/// What a PC list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PcSort {
    /// Not yet activated first (they wait for someone), then last seen, newest first: the
    /// status page's order.
    #[default]
    Attention,
    Name,
    LastSeen,
    Created,
    Version,
}

impl PcSort {
    pub const ALL: [PcSort; 5] = [
        PcSort::Attention,
        PcSort::Name,
        PcSort::LastSeen,
        PcSort::Created,
        PcSort::Version,
    ];

    /// The name in a page's address (`?sorter=navn`).
    pub fn key(self) -> &'static str {
        match self {
            PcSort::Attention => "status",
            PcSort::Name => "navn",
            PcSort::LastSeen => "sidst-set",
            PcSort::Created => "oprettet",
            PcSort::Version => "version",
        }
    }

    pub fn parse(key: &str) -> Option<PcSort> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    fn order_by(self) -> &'static str {
        match self {
            // As the `pcs_attention` index is written, so neither database sorts.
            PcSort::Attention => "p.is_activated, COALESCE(p.last_seen, 0) DESC, p.id",
            PcSort::Name => "p.name, p.id",
            PcSort::LastSeen => "COALESCE(p.last_seen, 0) DESC, p.id",
            PcSort::Created => "p.created_at DESC, p.id DESC",
            PcSort::Version => "COALESCE(p.client_version, ''), p.name, p.id",
        }
    }
}

/// How the events list is filtered; an empty list means every value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Rule levels (`events::LEVELS`).
    pub levels: Vec<String>,
    pub statuses: Vec<EventStatus>,
    /// Occurred at or after (ms).
    pub from: Option<i64>,
    /// Occurred before (ms).
    pub to: Option<i64>,
}

/// The orders the events list offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventSort {
    #[default]
    Newest,
    Oldest,
    /// Critical first, then high, normal; newest first within a level.
    Level,
    /// By PC name, newest first within a PC.
    Pc,
}

impl EventSort {
    pub const ALL: [EventSort; 4] = [
        EventSort::Newest,
        EventSort::Oldest,
        EventSort::Level,
        EventSort::Pc,
    ];

    /// The name in a page's address (`?sorter=niveau`).
    pub fn key(self) -> &'static str {
        match self {
            EventSort::Newest => "nyeste",
            EventSort::Oldest => "aeldste",
            EventSort::Level => "niveau",
            EventSort::Pc => "computer",
        }
    }

    pub fn parse(key: &str) -> Option<EventSort> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    fn order_by(self) -> &'static str {
        match self {
            EventSort::Newest => "e.occurred_at DESC, e.id DESC",
            EventSort::Oldest => "e.occurred_at, e.id",
            EventSort::Level => {
                "CASE COALESCE(sp.level, o.level, '') WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1
                      WHEN 'NORMAL' THEN 2 ELSE 3 END, e.occurred_at DESC, e.id DESC"
            }
            EventSort::Pc => "pc.name, pc.id, e.occurred_at DESC, e.id DESC",
        }
    }
}

/// One security event as the pages show it, with its PC, rule and assignee by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub occurred_at: i64,
    pub reported_at: i64,
    pub pc_id: i64,
    pub pc_name: String,
    pub summary: String,
    pub status: EventStatus,
    pub assigned_user_id: Option<i64>,
    pub assignee: Option<String>,
    pub note: String,
    /// Empty when the rule was deleted since.
    pub rule_name: String,
    pub level: String,
}

const EVENT_ROW_SELECT: &str =
    "SELECT e.id, e.occurred_at, e.reported_at, e.pc_id, pc.name AS pc_name, e.summary,
        e.status, e.assigned_user_id, u.username AS assignee, e.note,
        COALESCE(sp.name, o.name, '') AS rule_name, COALESCE(sp.level, o.level, '') AS level
     FROM security_events e JOIN pcs pc ON pc.id = e.pc_id
     LEFT JOIN users u ON u.id = e.assigned_user_id
     LEFT JOIN security_problems sp ON e.rule_kind = 'security' AND sp.id = e.rule_id
     LEFT JOIN offline_rules o ON e.rule_kind = 'offline' AND o.id = e.rule_id";

/// The columns [`pc_row_of`] reads, of `pcs p`.
const PC_ROW_COLUMNS: &str = "p.id, p.uid, p.name, p.location, p.mac, p.is_activated, p.created_at,
     p.last_seen, COALESCE(p.client_version, '') AS client_version, p.pending_key_hash";

fn pc_row_of(r: &sqlx::any::AnyRow) -> Result<PcRow> {
    Ok(PcRow {
        id: r.try_get("id")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        location: r.try_get("location")?,
        mac: r.try_get("mac")?,
        is_activated: r.try_get::<i64, _>("is_activated")? != 0,
        created_at: r.try_get("created_at")?,
        last_seen: r.try_get("last_seen")?,
        client_version: r.try_get("client_version")?,
        key_pending: !r.try_get::<String, _>("pending_key_hash")?.is_empty(),
    })
}

fn event_row(r: &sqlx::any::AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get("id")?,
        occurred_at: r.try_get("occurred_at")?,
        reported_at: r.try_get("reported_at")?,
        pc_id: r.try_get("pc_id")?,
        pc_name: r.try_get("pc_name")?,
        summary: r.try_get("summary")?,
        status: EventStatus::from_db(&r.try_get::<String, _>("status")?)?,
        assigned_user_id: r.try_get("assigned_user_id")?,
        assignee: r.try_get("assignee")?,
        note: r.try_get("note")?,
        rule_name: r.try_get("rule_name")?,
        level: r.try_get("level")?,
    })
}

impl Store {
    /// The tiles of the sites in `sites`, by name. The counts that change only when PCs are
    /// written come from [`super::pc_counts`]; online PCs are counted from the `pcs_seen` index.
    pub async fn site_tiles(&self, sites: &[i64], now: i64) -> Result<Vec<SiteTile>> {
        if sites.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.reader().await?;
        let sql = format!(
            "SELECT s.id, s.uid, s.name, c.name AS customer
             FROM sites s JOIN customers c ON c.id = s.customer_id
             WHERE {} ORDER BY s.name, s.id",
            in_scope("s.id", sites, 1)
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), sites)
            .fetch_all(&mut *conn)
            .await?;
        let sql = format!(
            "SELECT site_id, COUNT(*) FROM pcs WHERE last_seen > $1 AND {} GROUP BY site_id",
            in_scope("site_id", sites, 2)
        );
        let online: std::collections::HashMap<i64, i64> = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now - ONLINE_MS),
            sites,
        )
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
        let mut counts = super::pc_counts::read(&mut conn, sites).await?;
        let mut tiles = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let mut c = counts.remove(&id).unwrap_or_default();
            tiles.push(SiteTile {
                id,
                uid: r.try_get("uid")?,
                name: r.try_get("name")?,
                customer: r.try_get("customer")?,
                pcs: c.pcs,
                activated: c.activated,
                online: online.get(&id).copied().unwrap_or(0),
                products: c.by_key.remove("os2_product").unwrap_or_default(),
                releases: c.by_key.remove("_os_release").unwrap_or_default(),
            });
        }
        Ok(tiles)
    }

    /// One page of a site's PCs, and how many match the filter: `known_count` when the caller
    /// has it already (the status page, unfiltered, from the site's tile), else counted.
    #[allow(clippy::too_many_arguments)]
    pub async fn pc_rows(
        &self,
        site_id: i64,
        filter: &PcFilter,
        sort: PcSort,
        limit: i64,
        offset: i64,
        now: i64,
        known_count: Option<i64>,
    ) -> Result<(Vec<PcRow>, i64)> {
        let mut conditions = vec!["p.site_id = $1".to_owned()];
        let like = super::job_views::contains_pattern(&filter.text);
        if !filter.text.trim().is_empty() {
            conditions.push(
                "(lower(p.name) LIKE $2 ESCAPE '\\' OR lower(p.uid) LIKE $2 ESCAPE '\\'
                  OR lower(p.location) LIKE $2 ESCAPE '\\' OR lower(p.mac) LIKE $2 ESCAPE '\\')"
                    .to_owned(),
            );
        }
        match filter.online {
            Some(true) => conditions.push("p.last_seen > $3".to_owned()),
            Some(false) => conditions.push("(p.last_seen IS NULL OR p.last_seen <= $3)".to_owned()),
            None => {}
        }
        match filter.activated {
            Some(true) => conditions.push("p.is_activated = 1".to_owned()),
            Some(false) => conditions.push("p.is_activated = 0".to_owned()),
            None => {}
        }
        if filter.group.is_some() {
            conditions.push(
                "EXISTS (SELECT 1 FROM pc_group_members m WHERE m.pc_id = p.id AND m.group_id = $4)"
                    .to_owned(),
            );
        }
        if filter.version.is_some() {
            conditions.push("COALESCE(p.client_version, '') = $5".to_owned());
        }
        let filter_sql = conditions.join(" AND ");
        // Every placeholder is bound whether or not its condition is there, so the numbers
        // stay put; an unused one costs nothing.
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(site_id)
                .bind(like.clone())
                .bind(now - ONLINE_MS)
                .bind(filter.group.unwrap_or(0))
                .bind(filter.version.clone().unwrap_or_default())
        };
        let count: i64 = match known_count {
            Some(n) => n,
            None => bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM pcs p WHERE {filter_sql}"
            ))))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?,
        };
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PC_ROW_COLUMNS} FROM pcs p WHERE {filter_sql} ORDER BY {} LIMIT $6 OFFSET $7",
            sort.order_by()
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let rows = rows.iter().map(pc_row_of).collect::<Result<Vec<_>>>()?;
        Ok((rows, count))
    }

    /// The client versions the site's PCs report, for the filter's choices.
    pub async fn pc_versions(&self, site_id: i64) -> Result<Vec<String>> {
        // One index seek per version (a "loose index scan"): DISTINCT would read every PC's
        // entry of the `pcs_version` index, and a site has 100,000 PCs but a handful of versions.
        Ok(sqlx::query_scalar(
            "WITH RECURSIVE v (version) AS (
                 SELECT MIN(client_version) FROM pcs WHERE site_id = $1
                 UNION ALL
                 SELECT (SELECT MIN(client_version) FROM pcs
                         WHERE site_id = $1 AND client_version > v.version)
                 FROM v WHERE v.version IS NOT NULL)
             SELECT version FROM v WHERE version IS NOT NULL ORDER BY version",
        )
        .bind(site_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The site's groups as (id, name), by name.
    pub async fn group_names(&self, site_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(self
            .group_names_at(&[site_id])
            .await?
            .into_iter()
            .map(|(id, _, name)| (id, name))
            .collect())
    }

    /// The groups of the sites as a picker names them (id, site uid, name), by site and name:
    /// one statement (`groups` reads each group's members, supervisors and policies too).
    pub async fn group_names_at(&self, sites: &[i64]) -> Result<Vec<(i64, String, String)>> {
        if sites.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT g.id, s.uid, g.name FROM pc_groups g JOIN sites s ON s.id = g.site_id
             WHERE g.site_id IN ({}) ORDER BY g.site_id, g.name, g.id",
            super::placeholders(1, sites.len())
        )));
        for s in sites {
            q = q.bind(*s);
        }
        Ok(q.fetch_all(self.pool()).await?)
    }

    /// A PC of the site, by id.
    pub async fn pc_row(&self, site_id: i64, pc_id: i64) -> Result<Option<(PcRow, String)>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PC_ROW_COLUMNS}, p.description FROM pcs p WHERE p.id = $1 AND p.site_id = $2"
        )))
        .bind(pc_id)
        .bind(site_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = r else { return Ok(None) };
        Ok(Some((pc_row_of(&r)?, r.try_get("description")?)))
    }

    /// The groups a PC is in, as (id, name).
    pub async fn pc_groups_of(&self, pc_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT g.id, g.name FROM pc_group_members m JOIN pc_groups g ON g.id = m.group_id
             WHERE m.pc_id = $1 ORDER BY g.name, g.id",
        )
        .bind(pc_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Unhandled (NEW) security events on the sites, for the badge on every page.
    /// New (unhandled) events on the sites, counted up to `cap + 1`.
    pub async fn new_event_count(&self, sites: &[i64], cap: i64) -> Result<i64> {
        if sites.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM security_events WHERE status = $1 AND {} LIMIT {}) AS n",
            in_scope("site_id", sites, 2),
            cap.saturating_add(1)
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(EventStatus::New.as_str());
        Ok(bind_all(q, sites)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    /// A PC's latest jobs: (id, script, status, created).
    pub async fn pc_jobs(
        &self,
        pc_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, JobStatus, i64)>> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT j.id, b.name, j.status, j.created_at FROM jobs j JOIN batches b ON b.id = j.batch_id
             WHERE j.pc_id = $1 ORDER BY j.id DESC LIMIT $2",
        )
        .bind(pc_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, script, status, created)| {
                Ok((id, script, JobStatus::from_db(&status)?, created))
            })
            .collect()
    }
    /// One page of a site's security events, newest first, and how many match the filter.
    pub async fn event_rows(
        &self,
        site_id: i64,
        filter: &EventFilter,
        sort: EventSort,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<EventRow>, i64)> {
        let mut conditions = vec![
            "e.site_id = $1".to_owned(),
            "e.occurred_at >= $2".to_owned(),
            "e.occurred_at < $3".to_owned(),
        ];
        let mut texts: Vec<String> = Vec::new();
        if !filter.levels.is_empty() {
            // As a semi-join on the rules, so the count reads the events alone.
            let levels = placeholders(4, filter.levels.len());
            conditions.push(format!(
                "((e.rule_kind = 'security' AND e.rule_id IN (
                     SELECT id FROM security_problems WHERE level IN ({levels})))
                  OR (e.rule_kind = 'offline' AND e.rule_id IN (
                     SELECT id FROM offline_rules WHERE level IN ({levels}))))"
            ));
            texts.extend(filter.levels.iter().cloned());
        }
        if !filter.statuses.is_empty() {
            conditions.push(format!(
                "e.status IN ({})",
                placeholders(4 + texts.len(), filter.statuses.len())
            ));
            texts.extend(filter.statuses.iter().map(|s| s.as_str().to_owned()));
        }
        let filter_sql = conditions.join(" AND ");
        let n = 3 + texts.len();
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            bind_all(
                q.bind(site_id)
                    .bind(filter.from.unwrap_or(i64::MIN))
                    .bind(filter.to.unwrap_or(i64::MAX)),
                &texts,
            )
        };
        // Counted up to a cap, as the job list: a page must not count 100,000 events. The
        // filter names only the events' own columns, so no join is needed to count.
        let count: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM security_events e WHERE {filter_sql} LIMIT {}) AS n",
            super::job_views::COUNT_CAP + 1
        ))))
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "{EVENT_ROW_SELECT} WHERE {filter_sql} ORDER BY {} LIMIT ${} OFFSET ${}",
            sort.order_by(),
            n + 1,
            n + 2
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let rows = rows.iter().map(event_row).collect::<Result<Vec<_>>>()?;
        Ok((rows, count))
    }

    /// A security event of the site, by id.
    pub async fn event_row(&self, site_id: i64, id: i64) -> Result<Option<EventRow>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{EVENT_ROW_SELECT} WHERE e.id = $1 AND e.site_id = $2"
        )))
        .bind(id)
        .bind(site_id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(event_row).transpose()
    }

    /// The users who work on a site (a role on it, or customer admin of its customer) as
    /// (id, username), by name: who may be given an event or get a rule's e-mails.
    /// Superusers are left out: they are everywhere and no one's colleague.
    pub async fn site_user_names(&self, site_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.username FROM users u WHERE EXISTS (
               SELECT 1 FROM memberships m JOIN sites s ON s.id = $1
               WHERE m.user_id = u.id AND (m.site_id = s.id OR (m.role = $2 AND m.customer_id = s.customer_id)))
             ORDER BY u.username, u.id",
        )
        .bind(site_id)
        .bind(super::access::Role::CustomerAdmin.name())
        .fetch_all(self.pool())
        .await?)
    }
}
