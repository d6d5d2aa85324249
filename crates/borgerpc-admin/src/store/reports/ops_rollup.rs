//! The daily roll-ups of the jobs, security and changes reports (migration 17): `job_days`,
//! `security_event_days` and `audit_days`, what those reports add up for a period of whole
//! local dates instead of counting every row per request. This module owns their upkeep; the
//! reports read them (`jobs.rs`, `security.rs`, `changes.rs`).
//!
//! Upkeep is one rule for every write, in the write's transaction: the rows the write will
//! touch are taken away from the roll-up as they are ([`Rollup::take`], before), and added as
//! they became ([`Rollup::add`], after; nothing for a delete). So a status change moves a job
//! from one count to the other, a repeated report or handling adds nothing, and each row is
//! counted once whatever the write did; the keys (site, local date, script or rule, status,
//! action, actor) are read from the rows themselves. The writers: `jobs.rs` (made, confirmed,
//! reported, restarted), `events.rs` (raised), `operator.rs` (handled, reopened), `audit.rs`
//! (each record), `pcs.rs` (a PC deleted), `history.rs` (retention). Deleting a site deletes its
//! jobs' and events' rows (`tenants.rs`); its audit records stay, and so do their counts.
//! `audit_days` has the records' customer in its key (migration 21): a customer's view reads
//! its sites', its deleted sites' and its records without a site by customer.
//!
//! Where each PC had jobs (migration 24, `pc_job_sites`: per PC, site and time kind, the
//! first and the last job's time) is kept by the same calls: [`Rollup::Jobs`]'s `add` widens
//! it ([`Rollup::JobSites`]); a time is no sum, so nothing is taken, and the retention counts
//! the PCs it deletes jobs of again ([`recount_job_sites`]).
//!
//! What the reports still read from the rows, and why: the lists (failures, slowest, PCs,
//! events, records) are pages from indexes; the per-PC counts have a key per PC, no smaller
//! than the rows of a period; the PCs activated are distinct PCs and the PCs a run reached are
//! its batch's jobs (one action's records, from `audit_log_action`); and a group's reports,
//! whose members change.
//!
//! The security report's time to handle (migration 22, `security_handle_days`): the handled
//! events per site, local date, rule and wait bucket ([`WAIT_BUCKETS`]), so its median and
//! p90 are read from sums. It goes with `security_event_days` ([`Rollup::Events`] takes and
//! adds it too, so each writer of the events keeps both by one call), and is rebuilt and
//! compared with the others.
//!
//! Local dates in SQL: `(at + offset) / 86400000`, the offset from `report_zone_offsets`
//! (Copenhagen's changes of the clock, 1970-2099), [`local_day`].
//!
//! The usage report's roll-up (migration 18, `site_login_days`: logins and PCs that reported
//! per site and local date) is summed from `pc_login_days` by the same statements
//! ([`Rollup::Logins`]): taken away by the deletes of a PC and a site, rebuilt and compared
//! here. Its rows carry their local date already (the PC's own), so no offset is needed; a
//! push adds only what changed (`history.rs`, `record_login_counts`), which reads the days
//! before it writes them. Its companion per group (migration 20, `group_login_days`,
//! [`Rollup::GroupLogins`]) sums the members' days; a member's join adds them, its leave takes
//! them (`groups.rs`).

use super::DAY_MS;
use crate::store::Result;

/// SQL for the local date (days since 1970-01-01) of the instant `at` (a column or an
/// expression of ours), by the offset in force then.
pub(crate) fn local_day(at: &str) -> String {
    format!(
        "(({at} + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= {at}
                  ORDER BY z.from_ms DESC LIMIT 1)) / {DAY_MS})"
    )
}

/// The lower bounds (ms) of the buckets the time to handle is counted in (migration 22 has the
/// same list): each at most 2.5 times the one before, the last (365 days) open.
pub(crate) const WAIT_BUCKETS: [i64; 22] = {
    const MIN: i64 = 60_000;
    [
        0,
        MIN,
        2 * MIN,
        5 * MIN,
        10 * MIN,
        15 * MIN,
        30 * MIN,
        60 * MIN,
        120 * MIN,
        240 * MIN,
        480 * MIN,
        720 * MIN,
        DAY_MS,
        2 * DAY_MS,
        3 * DAY_MS,
        7 * DAY_MS,
        14 * DAY_MS,
        30 * DAY_MS,
        60 * DAY_MS,
        90 * DAY_MS,
        180 * DAY_MS,
        365 * DAY_MS,
    ]
};

/// SQL for the lower bound of the [`WAIT_BUCKETS`] bucket `waited` (ms, at least 0) is in.
pub(crate) fn wait_bucket(waited: &str) -> String {
    let whens: String = WAIT_BUCKETS
        .windows(2)
        .map(|w| format!(" WHEN {waited} < {} THEN {}", w[1], w[0]))
        .collect();
    format!(
        "CASE{whens} ELSE {} END",
        WAIT_BUCKETS[WAIT_BUCKETS.len() - 1]
    )
}

/// How long event `e` waited to be handled, in ms (never below 0).
pub(crate) const WAITED: &str =
    "CASE WHEN e.handled_at > e.occurred_at THEN e.handled_at - e.occurred_at ELSE 0 END";

/// A roll-up and the rows it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rollup {
    /// `job_days` from `jobs j`.
    Jobs,
    /// `security_event_days` from `security_events e`.
    Events,
    /// `audit_days` from `audit_log a`.
    Audit,
    /// `site_login_days` from `pc_login_days l` (the usage report's, migration 18).
    Logins,
    /// `group_login_days` from `pc_login_days l` of the groups' members `m` (migration 20).
    GroupLogins,
    /// `security_handle_days` from the handled `security_events e` (migration 22); kept with
    /// [`Rollup::Events`].
    Handled,
    /// `pc_job_sites` from `jobs j` (migration 24): where and when each PC had jobs, the first
    /// and last time by either time kind. Kept with [`Rollup::Jobs`]: a write widens them
    /// (added only, never taken: a time is no sum), a PC's or a site's delete deletes its rows,
    /// and the retention counts the PCs it deletes jobs of again ([`recount_job_sites`]).
    JobSites,
}

/// The jobs, security and changes reports' roll-ups (migrations 17, 22 and 24).
const OPS: [Rollup; 5] = [
    Rollup::Jobs,
    Rollup::JobSites,
    Rollup::Events,
    Rollup::Handled,
    Rollup::Audit,
];

/// A value bound to a condition's `$n`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

impl Rollup {
    /// The rows matching `cond` (on the rows' alias: `j`, `e`, `a`) counted into the roll-up's
    /// keys, each count times `sign`, as rows (key columns…, counts…) of an INSERT.
    fn select(self, cond: &str, sign: i64) -> String {
        match self {
            Rollup::Jobs => {
                let row = |kind: &str, at: &str| {
                    format!(
                        "SELECT '{kind}' AS time_kind, j.site_id, v.script_id, j.status,
                                CASE WHEN j.duration_ms IS NULL THEN 0 ELSE 1 END AS timed,
                                {} AS day
                         FROM jobs j JOIN batches b ON b.id = j.batch_id
                         JOIN script_versions v ON v.id = b.script_version_id
                         WHERE ({cond}) AND {at} IS NOT NULL",
                        local_day(at)
                    )
                };
                format!(
                    "SELECT x.time_kind, x.site_id, x.day, x.script_id, x.status,
                            {sign} * COUNT(*), {sign} * SUM(x.timed)
                     FROM ({} UNION ALL {}) x
                     WHERE x.day IS NOT NULL
                     GROUP BY x.time_kind, x.site_id, x.day, x.script_id, x.status",
                    row("created", "j.created_at"),
                    row("finished", "j.reported_at")
                )
            }
            Rollup::JobSites => format!(
                "SELECT x.pc_id, x.site_id, x.time_kind, MIN(x.at), MAX(x.at)
                 FROM (SELECT j.pc_id, j.site_id, 'created' AS time_kind, j.created_at AS at
                       FROM jobs j WHERE {cond}
                       UNION ALL
                       SELECT j.pc_id, j.site_id, 'finished' AS time_kind, j.reported_at AS at
                       FROM jobs j WHERE ({cond}) AND j.reported_at IS NOT NULL) x
                 GROUP BY x.pc_id, x.site_id, x.time_kind"
            ),
            Rollup::Events => format!(
                "SELECT x.site_id, x.day, x.rule_kind, x.rule_id, x.status, {sign} * COUNT(*)
                 FROM (SELECT e.site_id, e.rule_kind, e.rule_id, e.status, {} AS day
                       FROM security_events e WHERE {cond}) x
                 WHERE x.day IS NOT NULL
                 GROUP BY x.site_id, x.day, x.rule_kind, x.rule_id, x.status",
                local_day("e.occurred_at")
            ),
            Rollup::Audit => format!(
                "SELECT x.site_id, x.customer_id, x.day, x.action, x.actor, {sign} * COUNT(*),
                        {sign} * SUM(x.settings)
                 FROM (SELECT COALESCE(a.site_id, 0) AS site_id,
                              COALESCE(a.customer_id, 0) AS customer_id, a.action, a.actor,
                              CASE WHEN a.detail IS NULL THEN 0 ELSE 1 END AS settings, {} AS day
                       FROM audit_log a WHERE {cond}) x
                 WHERE x.day IS NOT NULL
                 GROUP BY x.site_id, x.customer_id, x.day, x.action, x.actor",
                local_day("a.at")
            ),
            Rollup::Logins => format!(
                "SELECT l.site_id, l.day, {sign} * SUM(l.logins), {sign} * COUNT(*)
                 FROM pc_login_days l WHERE {cond}
                 GROUP BY l.site_id, l.day"
            ),
            Rollup::GroupLogins => format!(
                "SELECT m.group_id, l.site_id, l.day, {sign} * SUM(l.logins), {sign} * COUNT(*)
                 FROM pc_login_days l JOIN pc_group_members m ON m.pc_id = l.pc_id
                 WHERE {cond}
                 GROUP BY m.group_id, l.site_id, l.day"
            ),
            Rollup::Handled => format!(
                "SELECT x.site_id, x.day, x.rule_kind, x.rule_id, x.wait_from_ms, {sign} * COUNT(*)
                 FROM (SELECT e.site_id, e.rule_kind, e.rule_id, {} AS wait_from_ms, {} AS day
                       FROM security_events e
                       WHERE ({cond}) AND e.status = 'RESOLVED' AND e.handled_at IS NOT NULL) x
                 WHERE x.day IS NOT NULL
                 GROUP BY x.site_id, x.day, x.rule_kind, x.rule_id, x.wait_from_ms",
                wait_bucket(WAITED),
                local_day("e.occurred_at")
            ),
        }
    }

    /// The roll-up's table, its key and its counts.
    fn table(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Rollup::Jobs => (
                "job_days",
                "time_kind, site_id, day, script_id, status",
                &["jobs", "timed"],
            ),
            Rollup::Events => (
                "security_event_days",
                "site_id, day, rule_kind, rule_id, status",
                &["events"],
            ),
            Rollup::Audit => (
                "audit_days",
                "site_id, customer_id, day, action, actor",
                &["records", "settings"],
            ),
            Rollup::Logins => ("site_login_days", "site_id, day", &["logins", "pcs"]),
            Rollup::GroupLogins => (
                "group_login_days",
                "group_id, site_id, day",
                &["logins", "pcs"],
            ),
            Rollup::Handled => (
                "security_handle_days",
                "site_id, day, rule_kind, rule_id, wait_from_ms",
                &["events"],
            ),
            Rollup::JobSites => (
                "pc_job_sites",
                "pc_id, site_id, time_kind",
                &["first_at", "last_at"],
            ),
        }
    }

    /// The statement adding the rows of `cond`, each `sign` times, to the roll-up.
    fn statement(self, cond: &str, sign: i64) -> String {
        let (table, key, counts) = self.table();
        let adds: Vec<String> = counts
            .iter()
            .map(|c| match (self, *c) {
                // The first and the last time: the earlier and the later of the two.
                (Rollup::JobSites, "first_at") => format!(
                    "{c} = CASE WHEN excluded.{c} < {table}.{c} THEN excluded.{c} ELSE {table}.{c} END"
                ),
                (Rollup::JobSites, _) => format!(
                    "{c} = CASE WHEN excluded.{c} > {table}.{c} THEN excluded.{c} ELSE {table}.{c} END"
                ),
                _ => format!("{c} = {table}.{c} + excluded.{c}"),
            })
            .collect();
        format!(
            "INSERT INTO {table} ({key}, {}) {} ON CONFLICT ({key}) DO UPDATE SET {}",
            counts.join(", "),
            self.select(cond, sign),
            adds.join(", ")
        )
    }

    async fn apply(
        self,
        conn: &mut sqlx::AnyConnection,
        cond: &str,
        binds: &[Bind<'_>],
        sign: i64,
    ) -> Result<()> {
        if self == Rollup::Events {
            // The time to handle's roll-up is of the same rows, and changes with them.
            Box::pin(Rollup::Handled.apply(conn, cond, binds, sign)).await?;
        }
        if self == Rollup::JobSites && sign < 0 {
            // Times are not taken away: a delete of jobs recounts them (`recount_job_sites`).
            return Ok(());
        }
        if self == Rollup::Jobs && sign > 0 {
            // Where the PCs had jobs widens with the jobs written.
            Box::pin(Rollup::JobSites.apply(conn, cond, binds, sign)).await?;
        }
        execute(conn, self.statement(cond, sign), binds).await
    }

    /// Before a write: takes the rows of `cond` (SQL of ours on the rows' alias, `$n` bound to
    /// `binds`) away from the roll-up, as they are now.
    pub(crate) async fn take(
        self,
        conn: &mut sqlx::AnyConnection,
        cond: &str,
        binds: &[Bind<'_>],
    ) -> Result<()> {
        self.apply(conn, cond, binds, -1).await
    }

    /// After a write: adds the rows of `cond` as they are now.
    pub(crate) async fn add(
        self,
        conn: &mut sqlx::AnyConnection,
        cond: &str,
        binds: &[Bind<'_>],
    ) -> Result<()> {
        self.apply(conn, cond, binds, 1).await
    }

    /// Counts every row again: for rows written around the store (the bench's bulk SQL, a
    /// test's), as the migration's back-fill did.
    async fn rebuild(self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        let (table, _, _) = self.table();
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *conn)
            .await?;
        let sql = self.statement("1 = 1", 1);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn).await?;
        Ok(())
    }

    /// Every roll-up counted again.
    pub(crate) async fn rebuild_all(conn: &mut sqlx::AnyConnection) -> Result<()> {
        Self::rebuild_these(
            conn,
            &[OPS.as_slice(), &[Rollup::Logins, Rollup::GroupLogins]].concat(),
        )
        .await
    }

    /// These roll-ups counted again.
    pub(crate) async fn rebuild_these(
        conn: &mut sqlx::AnyConnection,
        which: &[Rollup],
    ) -> Result<()> {
        for r in which {
            r.rebuild(conn).await?;
        }
        Ok(())
    }

    /// The rows' counts per key as the rows have them now, and as the roll-up has them (rows
    /// of 0 left out): for tests, which hold the roll-up to a recount after each kind of
    /// write. Keys and counts as text.
    async fn compare(
        self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(Vec<Vec<String>>, Vec<Vec<String>>)> {
        use sqlx::Row as _;
        let (table, key, counts) = self.table();
        let n = key.split(',').count() + counts.len();
        let cast = |cols: &str, prefix: &str| -> String {
            cols.split(',')
                .map(|c| format!("CAST({prefix}{} AS TEXT)", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The recount's columns by position, named.
        let cols: Vec<String> = (1..=n).map(|i| format!("c{i}")).collect();
        let recount = format!(
            "WITH y ({}) AS ({}) SELECT {} FROM y ORDER BY {}",
            cols.join(", "),
            self.select("1 = 1", 1),
            cols.iter()
                .map(|c| format!("CAST({c} AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", "),
            cols[..n - counts.len()].join(", ")
        );
        let kept = format!(
            "SELECT {}, {} FROM {table} WHERE {} ORDER BY {key}",
            cast(key, ""),
            cast(&counts.join(", "), ""),
            counts
                .iter()
                .map(|c| format!("{c} <> 0"))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        let mut out = Vec::new();
        for sql in [recount, kept] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?;
            let mut table = Vec::with_capacity(rows.len());
            for r in &rows {
                table.push(
                    (0..n)
                        .map(|i| r.try_get::<String, _>(i))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            out.push(table);
        }
        let kept = out.pop().unwrap_or_default();
        let recount = out.pop().unwrap_or_default();
        Ok((recount, kept))
    }
}

/// Runs `sql` of ours with `binds` as its `$1`, `$2`, ….
async fn execute(conn: &mut sqlx::AnyConnection, sql: String, binds: &[Bind<'_>]) -> Result<()> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Bind::Int(v) => q.bind(*v),
            Bind::Text(v) => q.bind(*v),
        };
    }
    q.execute(conn).await?;
    Ok(())
}

/// Before the retention deletes the jobs of `gone` (SQL of ours on `jobs j`, `$n` bound to
/// `binds`): `pc_job_sites` of the PCs and sites it deletes jobs of, counted again from the
/// jobs it keeps, and deleted where it keeps none. ([`Rollup::JobSites`] only ever widens: a
/// first or last time deleted has to be found again among the rest.)
pub(crate) async fn recount_job_sites(
    conn: &mut sqlx::AnyConnection,
    gone: &str,
    binds: &[Bind<'_>],
) -> Result<()> {
    let pair = "j.pc_id = pc_job_sites.pc_id AND j.site_id = pc_job_sites.site_id";
    let at = "CASE pc_job_sites.time_kind WHEN 'created' THEN j.created_at ELSE j.reported_at END";
    let touched = format!("EXISTS (SELECT 1 FROM jobs j WHERE {pair} AND ({gone}))");
    let kept = format!("FROM jobs j WHERE {pair} AND NOT ({gone}) AND {at} IS NOT NULL");
    let statements = [
        format!("DELETE FROM pc_job_sites WHERE {touched} AND NOT EXISTS (SELECT 1 {kept})"),
        format!(
            "UPDATE pc_job_sites SET first_at = (SELECT MIN({at}) {kept}),
                                     last_at = (SELECT MAX({at}) {kept})
             WHERE {touched}"
        ),
    ];
    for sql in statements {
        execute(conn, sql, binds).await?;
    }
    Ok(())
}

/// A roll-up's rows as the raw rows count them and as it keeps them (see [`Rollup::compare`]).
pub type RollupComparison = (&'static str, Vec<Vec<String>>, Vec<Vec<String>>);

impl crate::store::Store {
    /// Counts the jobs, security, changes and usage reports' roll-ups (and where PCs have
    /// login days, `pc_login_sites`) again from their rows:
    /// for rows written around the store (bulk SQL of the bench or a test), never needed
    /// after the store's own writes.
    pub async fn rebuild_report_rollups(&self) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        Rollup::rebuild_all(&mut tx).await?;
        crate::store::history::recount_login_sites(&mut tx, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The jobs, security and changes reports' roll-ups only (the bench keeps the usage
    /// roll-up as it writes the login days).
    pub async fn rebuild_ops_rollups(&self) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        Rollup::rebuild_these(&mut tx, &OPS).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Each roll-up (`job_days`, `security_event_days`, `security_handle_days`, `audit_days`)
    /// recounted from the rows and as kept, sorted by key: equal when the upkeep is right.
    pub async fn report_rollups_compared(&self) -> Result<Vec<RollupComparison>> {
        let mut conn = self.reader().await?;
        let mut out = Vec::new();
        for r in OPS {
            out.push(r.compared(&mut conn).await?);
        }
        Ok(out)
    }

    /// The usage roll-up (`site_login_days`) recounted from `pc_login_days` and as kept,
    /// sorted by (site, day): equal when the upkeep is right.
    pub async fn usage_rollup_compared(&self) -> Result<RollupComparison> {
        let mut conn = self.reader().await?;
        Rollup::Logins.compared(&mut conn).await
    }

    /// The usage roll-up per group (`group_login_days`) recounted from the members' days and
    /// as kept, sorted by (group, site, day): equal when the upkeep is right.
    pub async fn group_usage_rollup_compared(&self) -> Result<RollupComparison> {
        let mut conn = self.reader().await?;
        Rollup::GroupLogins.compared(&mut conn).await
    }
}

impl Rollup {
    async fn compared(self, conn: &mut sqlx::AnyConnection) -> Result<RollupComparison> {
        let (mut recount, mut kept) = self.compare(conn).await?;
        recount.sort();
        kept.sort();
        Ok((self.table().0, recount, kept))
    }
}

#[cfg(test)]
mod tests {
    use super::super::TIME_ZONE;
    use chrono::{Offset, TimeZone};

    /// The offsets migration 17 gives SQL are the time zone's the reports use, at every
    /// hour from 1970 to 2099 (Copenhagen changes its clock on whole UTC hours).
    #[test]
    fn the_zone_table_is_the_time_zone() {
        let sql = include_str!("../../../migrations/0017_ops_rollups.sql");
        let values = sql
            .split("INSERT INTO report_zone_offsets (from_ms, offset_ms) VALUES")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .unwrap();
        let rows: Vec<(i64, i64)> = values
            .split(')')
            .filter_map(|r| {
                let (a, b) = r
                    .trim_start_matches([',', ' ', '\n', '('])
                    .split_once(", ")?;
                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .collect();
        assert!(rows.len() > 200, "{}", rows.len());
        let end = TIME_ZONE
            .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let mut at = 0i64;
        while at < end {
            let want = i64::from(
                TIME_ZONE
                    .timestamp_millis_opt(at)
                    .unwrap()
                    .offset()
                    .fix()
                    .local_minus_utc(),
            ) * 1000;
            let got = rows.iter().rev().find(|(from, _)| *from <= at).unwrap().1;
            assert_eq!(got, want, "at {at}");
            at += 3_600_000;
        }
    }
}
