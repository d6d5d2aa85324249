//! The audit log: who changed what, through the API or the CLI, with the values before and
//! after for a settings change. A store function that changes something records it in the
//! transaction of the change, so there is no change without its record and no record of a
//! change that did not happen.
//!
//! Actors are `user:<username>`, `api-key:<id>` and `cli:<OS user>`. Records never hold
//! passwords, keys, or what a PC reported (it may name a citizen).

use super::Result;
use super::Store;
use service_kit::db::now_ms;
use sqlx::Row as _;

/// One change to record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub actor: &'a str,
    pub site_id: Option<i64>,
    /// What was done, `<object>.<verb>` (e.g. `group.create`, `config.set`).
    pub action: &'a str,
    /// Which object, `<kind>:<id>` and what else identifies it.
    pub target: &'a str,
    /// For settings: `{"before": …, "after": …}`.
    pub detail: Option<&'a serde_json::Value>,
}

/// Writes a record on the caller's connection (inside its transaction).
pub(crate) async fn record_in(conn: &mut sqlx::AnyConnection, r: Record<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, site_id, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(r.actor)
    .bind(r.site_id)
    .bind(r.action)
    .bind(r.target)
    .bind(r.detail.map(|d| d.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// `{"before": …, "after": …}` of the fields that differ between two views of an object.
pub fn before_after(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let (mut b, mut a) = (serde_json::Map::new(), serde_json::Map::new());
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (k, v) in after {
            if before.get(k) != Some(v) {
                b.insert(k.clone(), before.get(k).cloned().unwrap_or_default());
                a.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::json!({"before": b, "after": a})
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub site_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub detail: Option<serde_json::Value>,
}

impl Store {
    /// The newest records, of one site or all.
    pub async fn audit_entries(&self, site_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, site_id, action, target, detail FROM audit_log
             WHERE ($1 = 0 OR site_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(site_id.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// A page of a site's records, newest first, and how many match; `filter.who` is an
    /// actor (`user:anna`, `api-key:3`).
    pub async fn site_audit_log(
        &self,
        site_id: i64,
        filter: &super::portal::LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEntry>, i64)> {
        let cond = "site_id = $1 AND ($2 = '' OR actor = $2) AND at >= $3 AND at < $4";
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(site_id)
                .bind(filter.who.clone())
                .bind(filter.from.unwrap_or(i64::MIN))
                .bind(filter.until.unwrap_or(i64::MAX))
        };
        let count: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit_log WHERE {cond}"
        ))))
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, actor, site_id, action, target, detail FROM audit_log
             WHERE {cond} ORDER BY id DESC LIMIT $5 OFFSET $6"
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        Ok((rows.iter().map(entry_of).collect::<Result<_>>()?, count))
    }
}

fn entry_of(r: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        site_id: r.try_get("site_id")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: r
            .try_get::<Option<String>, _>("detail")?
            .and_then(|d| serde_json::from_str(&d).ok()),
    })
}
