//! A site's PC counts that change only when a PC is written: how many PCs, how many
//! activated, and how many per product and Ubuntu release their agents report. They live in
//! `site_pc_counts` and are changed in the same transaction as the write that changes them,
//! so the status page and the sites overview read a few rows where counting would read
//! 100,000 on every request. What changes with the clock alone (online) is still counted.
//!
//! Invariant: every insert or delete of a PC, every change of `pcs.is_activated` and every
//! write of a PC's [`COUNTED_KEYS`] entry calls one of the functions here. The test
//! `pc_counts_follow_every_write` recounts after each kind of write and compares.

use sqlx::AnyConnection;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The agent-reported configuration keys counted per value: the product (BorgerPC or Kiosk)
/// and the Ubuntu release.
pub(crate) const COUNTED_KEYS: [&str; 2] = ["os2_product", "_os_release"];

const PCS: &str = "pcs";
const ACTIVATED: &str = "activated";

/// A site's counts as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteCounts {
    pub pcs: i64,
    pub activated: i64,
    /// Per counted key, (value, PCs), by value; values no PC has any more are left out.
    pub by_key: BTreeMap<String, Vec<(String, i64)>>,
}

async fn add(
    conn: &mut AnyConnection,
    site_id: i64,
    fact: &str,
    value: &str,
    delta: i64,
) -> Result<(), sqlx::Error> {
    if delta == 0 {
        return Ok(());
    }
    // An upsert adds to the row as committed, also when two writers race on PostgreSQL.
    sqlx::query(
        "INSERT INTO site_pc_counts (site_id, fact, fact_value, n) VALUES ($1, $2, $3, $4)
         ON CONFLICT (site_id, fact, fact_value) DO UPDATE SET n = site_pc_counts.n + excluded.n",
    )
    .bind(site_id)
    .bind(fact)
    .bind(value)
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

/// A PC was inserted into `site_id` (not activated, no entries yet: those come through
/// [`entry_changed`]).
pub(crate) async fn pc_added(conn: &mut AnyConnection, site_id: i64) -> Result<(), sqlx::Error> {
    add(conn, site_id, PCS, "", 1).await
}

/// Takes a PC out of its site's counts; call it before the PC's row and entries are deleted.
pub(crate) async fn pc_removing(conn: &mut AnyConnection, pc_id: i64) -> Result<(), sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT site_id, is_activated FROM pcs WHERE id = $1")
            .bind(pc_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((site_id, activated)) = row else {
        return Ok(());
    };
    add(conn, site_id, PCS, "", -1).await?;
    if activated != 0 {
        add(conn, site_id, ACTIVATED, "", -1).await?;
    }
    let entries: Vec<(String, String)> = sqlx::query_as(
        "SELECT entry_key, entry_value FROM config_entries
         WHERE owner_kind = 'pc' AND owner_id = $1 AND entry_key IN ($2, $3)",
    )
    .bind(pc_id)
    .bind(COUNTED_KEYS[0])
    .bind(COUNTED_KEYS[1])
    .fetch_all(&mut *conn)
    .await?;
    for (key, value) in entries {
        add(conn, site_id, &key, &value, -1).await?;
    }
    Ok(())
}

/// `n` PCs of `site_id` were activated (`on`) or deactivated: only those whose state changed.
pub(crate) async fn activation_changed(
    conn: &mut AnyConnection,
    site_id: i64,
    on: bool,
    n: u64,
) -> Result<(), sqlx::Error> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    add(conn, site_id, ACTIVATED, "", if on { n } else { -n }).await
}

/// A PC's entry `key` went from `before` to `after` (`None`: absent). Keys that are not
/// counted are ignored, so every entry write may call this.
pub(crate) async fn entry_changed(
    conn: &mut AnyConnection,
    pc_id: i64,
    key: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), sqlx::Error> {
    if !COUNTED_KEYS.contains(&key) || before == after {
        return Ok(());
    }
    let site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM pcs WHERE id = $1")
        .bind(pc_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(site_id) = site else { return Ok(()) };
    if let Some(v) = before {
        add(conn, site_id, key, v, -1).await?;
    }
    if let Some(v) = after {
        add(conn, site_id, key, v, 1).await?;
    }
    Ok(())
}

/// Counts a site's PCs from their rows and replaces the kept counts: for PCs written in
/// bulk with SQL (the page bench). (Deleting a site deletes its counts with its other rows.)
#[cfg(feature = "tools")]
pub(crate) async fn recount(conn: &mut AnyConnection, site_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM site_pc_counts WHERE site_id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await?;
    for sql in [
        "INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
         SELECT site_id, 'pcs', '', COUNT(*) FROM pcs WHERE site_id = $1 GROUP BY site_id",
        "INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
         SELECT site_id, 'activated', '', COUNT(*) FROM pcs
         WHERE site_id = $1 AND is_activated <> 0 GROUP BY site_id",
        "INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
         SELECT p.site_id, e.entry_key, e.entry_value, COUNT(*)
         FROM pcs p JOIN config_entries e ON e.owner_kind = 'pc' AND e.owner_id = p.id
         WHERE p.site_id = $1 AND e.entry_key IN ($2, $3)
         GROUP BY p.site_id, e.entry_key, e.entry_value",
    ] {
        // Unused placeholders are bound too: numbers stay put whichever statement it is.
        sqlx::query(sql)
            .bind(site_id)
            .bind(COUNTED_KEYS[0])
            .bind(COUNTED_KEYS[1])
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The kept counts of the sites in `sites` (already checked against the viewer's scope).
pub(crate) async fn read(
    conn: &mut AnyConnection,
    sites: &[i64],
) -> Result<BTreeMap<i64, SiteCounts>, sqlx::Error> {
    let mut out: BTreeMap<i64, SiteCounts> = BTreeMap::new();
    if sites.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT site_id, fact, fact_value, n FROM site_pc_counts
         WHERE n <> 0 AND {} ORDER BY site_id, fact, fact_value",
        super::operator::in_scope("site_id", sites, 1)
    );
    let rows = super::operator::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), sites)
        .fetch_all(conn)
        .await?;
    for r in &rows {
        let (site, fact, value, n): (i64, String, String, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let c = out.entry(site).or_default();
        match fact.as_str() {
            PCS => c.pcs = n,
            ACTIVATED => c.activated = n,
            _ => c.by_key.entry(fact).or_default().push((value, n)),
        }
    }
    Ok(out)
}
