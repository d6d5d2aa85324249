//! The audit log: who changed what, through the API or the CLI, with the values before and
//! after for a settings change. A store function that changes something records it in the
//! transaction of the change, so there is no change without its record and no record of a
//! change that did not happen.
//!
//! Actors are `user:<username>`, `api-key:<id>` and `cli:<OS user>`. Records never hold
//! passwords, keys, or what a PC reported (it may name a citizen).
//!
//! Whose a record is: a site's change is its site's and its customer's (`customer_id`, read
//! from `sites` in the insert itself, so no caller can name another customer, and the record
//! stays the customer's after the site is deleted); a change of a customer's own objects
//! without a site (a customer admin's role, the customer, a deleted site) names the customer
//! only, given by its caller; the rest (a superuser's own, tenant roles, global scripts, a
//! user's own password or second factor) names neither and is the superusers' alone. The
//! customer's administrators read the customer's records (migration 9's policy, the log page,
//! the changes report); a site's administrators only the site's.

use super::Result;
use super::Store;
use super::reports::ops_rollup::{Bind, Rollup};
use service_kit::db::now_ms;
use sqlx::Row as _;

/// One change to record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub actor: &'a str,
    pub site_id: Option<i64>,
    /// The customer of a change without a site (a customer admin's role, the customer itself,
    /// a deleted site's). With a site the site's customer is recorded, whatever this says.
    pub customer_id: Option<i64>,
    /// What was done, `<object>.<verb>` (e.g. `group.create`, `config.set`).
    pub action: &'a str,
    /// Which object, `<kind>:<id>` and what else identifies it.
    pub target: &'a str,
    /// For settings: `{"before": …, "after": …}`.
    pub detail: Option<&'a serde_json::Value>,
}

/// Writes a record on the caller's connection (inside its transaction), with the ids its
/// target names ([`Refs`]) as columns for the changes report.
pub(crate) async fn record_in(conn: &mut sqlx::AnyConnection, r: Record<'_>) -> Result<()> {
    let refs = Refs::of(r.target);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, site_id, customer_id, action, target, detail, pc_id,
                                group_id, batch_id)
         VALUES ($1, $2, $3, COALESCE((SELECT s.customer_id FROM sites s WHERE s.id = $3), $10),
                 $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(now_ms())
    .bind(r.actor)
    .bind(r.site_id)
    .bind(r.action)
    .bind(r.target)
    .bind(r.detail.map(|d| d.to_string()))
    .bind(refs.pc)
    .bind(refs.group)
    .bind(refs.batch)
    .bind(r.customer_id)
    .fetch_one(&mut *conn)
    .await?;
    Rollup::Audit
        .add(conn, "a.id = $1", &[Bind::Int(id)])
        .await?;
    Ok(())
}

/// The objects a record's target names by id. A target starts with `<kind>:<id>` words
/// (`pc:4`, `group:2 pc:4`, `script:7 batch:31`, `group:2 policy:5 script:7`); what follows
/// the first other word (a name in brackets, `uid:…`, a configuration key) may be anything a
/// person typed, so it is never read for ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refs {
    pub pc: Option<i64>,
    pub group: Option<i64>,
    pub batch: Option<i64>,
    pub script: Option<i64>,
    pub job: Option<i64>,
}

impl Refs {
    pub fn of(target: &str) -> Refs {
        let mut refs = Refs::default();
        for word in target.split(' ') {
            let Some((kind, id)) = word.split_once(':') else {
                break;
            };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                break;
            }
            let Ok(id) = id.parse::<i64>() else { break };
            let slot = match kind {
                "pc" => &mut refs.pc,
                "group" => &mut refs.group,
                "batch" => &mut refs.batch,
                "script" => &mut refs.script,
                "job" => &mut refs.job,
                _ => continue,
            };
            slot.get_or_insert(id);
        }
        refs
    }
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
    /// The customer it belongs to; `None` for a portal-wide record.
    pub customer_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub detail: Option<serde_json::Value>,
}

impl Store {
    /// The newest records, of one site or all (the command line's, a superuser's).
    pub async fn audit_entries(&self, site_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, site_id, customer_id, action, target, detail FROM audit_log
             WHERE ($1 = 0 OR site_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(site_id.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// A page of a site's records, newest first, and how many match; `filter.who` is an
    /// actor (`user:anna`, `api-key:3`). With `customer` (the site's, for its administrators)
    /// the customer's records without a site too: a deleted site, a customer admin's role.
    pub async fn site_audit_log(
        &self,
        site_id: i64,
        customer: Option<i64>,
        filter: &super::portal::LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEntry>, i64)> {
        let cond = "(site_id = $1 OR (site_id IS NULL AND customer_id = $5))
                    AND ($2 = '' OR actor = $2) AND at >= $3 AND at < $4";
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(site_id)
                .bind(filter.who.clone())
                .bind(filter.from.unwrap_or(i64::MIN))
                .bind(filter.until.unwrap_or(i64::MAX))
                // No customer's id is 0.
                .bind(customer.unwrap_or(0))
        };
        let count: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit_log WHERE {cond}"
        ))))
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, actor, site_id, customer_id, action, target, detail FROM audit_log
             WHERE {cond} ORDER BY id DESC LIMIT $6 OFFSET $7"
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
        customer_id: r.try_get("customer_id")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: r
            .try_get::<Option<String>, _>("detail")?
            .and_then(|d| serde_json::from_str(&d).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::Refs;

    #[test]
    fn ids_are_read_from_the_leading_words_only() {
        let r = |pc, group, batch, script, job| Refs {
            pc,
            group,
            batch,
            script,
            job,
        };
        assert_eq!(Refs::of("pc:4"), r(Some(4), None, None, None, None));
        assert_eq!(
            Refs::of("pc:4 uid:ab12"),
            r(Some(4), None, None, None, None)
        );
        assert_eq!(
            Refs::of("group:2 pc:4"),
            r(Some(4), Some(2), None, None, None)
        );
        assert_eq!(
            Refs::of("script:7 batch:31"),
            r(None, None, Some(31), Some(7), None)
        );
        assert_eq!(
            Refs::of("group:2 policy:5 script:7"),
            r(None, Some(2), None, Some(7), None)
        );
        assert_eq!(Refs::of("job:9 new:10"), r(None, None, None, None, Some(9)));
        // A name in brackets or a configuration key ends the ids, whatever it says.
        assert_eq!(
            Refs::of("group:2 (pc:5)"),
            r(None, Some(2), None, None, None)
        );
        assert_eq!(Refs::of("pc:3 pc:5"), r(Some(3), None, None, None, None));
        assert_eq!(Refs::of("site:1 pc:5"), r(Some(5), None, None, None, None));
        assert_eq!(Refs::of("user:3 (pc:5)"), Refs::default());
        assert_eq!(Refs::of("pc:x4"), Refs::default());
        assert_eq!(Refs::of("pc: 4"), Refs::default());
        assert_eq!(Refs::of("offline-rule:3 (Aften)"), Refs::default());
        assert_eq!(Refs::of("pc:99999999999999999999"), Refs::default());
    }
}
