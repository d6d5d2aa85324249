//! What reporting needs to look back on, kept compact and bounded: check-ins per PC per day
//! (a bit per quarter hour), their roll-up per site per day (PCs online per quarter hour,
//! kept in the same transaction, so a report over 100,000 PCs reads sites × days rows),
//! logins per PC per day (parsed from the PC's `login_counts` entry when it pushes it) and
//! their roll-up per site per day (the change a push makes, in its transaction),
//! changes in what PCs report about themselves, and the retention that deletes old history.
//! `store::reports` reads it.

use super::Result;
use super::Store;
use super::jobs::JobStatus;
use super::reports::ops_rollup::{Bind, Rollup, recount_job_sites};
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;
const QUARTER_MS: i64 = 900_000;

/// One sign of life from a PC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub pc_id: i64,
    pub at: i64,
    /// The address it called from.
    pub ip: Option<String>,
    /// Whether the address differs from the one stored (then a change row is written).
    pub ip_changed: bool,
    /// A check-in cycle (get_instructions) rather than a report.
    pub checkin: bool,
}

/// (day since epoch, q0 bit, q1 bit) for a time.
fn quarter_bits(at: i64) -> (i64, i64, i64) {
    let day = at.div_euclid(DAY_MS);
    let quarter = at.rem_euclid(DAY_MS) / QUARTER_MS; // 0..96
    if quarter < 48 {
        (day, 1 << quarter, 0)
    } else {
        (day, 0, 1 << (quarter - 48))
    }
}

/// A PC's check-ins on one day, gathered from a batch of beats.
#[derive(Debug, Clone, Copy, Default)]
struct DayTally {
    checkins: i64,
    q0: i64,
    q1: i64,
    first_at: i64,
    last_at: i64,
}

/// How long history is kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    pub checkin_days: i64,
    pub security_event_days: i64,
    pub job_days: i64,
    pub login_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            checkin_days: 400,
            security_event_days: 365,
            job_days: 365,
            login_days: 90,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub checkin_days: u64,
    /// Rows of `site_checkin_days` (the check-ins' roll-up per site), kept as long as check-ins.
    pub site_checkin_days: u64,
    /// Rows of `pc_login_days` (reports' usage history), kept as long as check-ins (with
    /// their roll-up per site, `site_login_days`).
    pub login_days: u64,
    pub pc_reports: u64,
    pub security_events: u64,
    pub jobs: u64,
    pub logins: u64,
    pub web_logins: u64,
}

/// The roll-up's counter columns, `n00` to `n95`: PCs online in each UTC quarter of the day.
pub(crate) fn rollup_columns() -> impl Iterator<Item = String> {
    (0..96).map(|q| format!("n{q:02}"))
}

/// The 96 SQL expressions that pick quarter `q`'s bit (0 or 1) out of two bit words, `q0`
/// for quarters 0 to 47 and `q1` for 48 to 95 (as `checkin_days` keeps them), summed:
/// `SUM(((<q0>) >> 5) & 1)`. Both dialects have these operators; PostgreSQL's SUM of a
/// BIGINT is NUMERIC, cast back.
pub(crate) fn quarter_sums(q0: &str, q1: &str) -> Vec<String> {
    (0..96)
        .map(|q| {
            let (word, bit) = if q < 48 { (q0, q) } else { (q1, q - 48) };
            format!("CAST(SUM((({word}) >> {bit}) & 1) AS BIGINT)")
        })
        .collect()
}

/// Pairs (PC, day) per roll-up statement: statements of these sizes only (padded with rows
/// that match no PC), so the few texts stay prepared instead of one per batch size. No more
/// than 64 (256 parameters): sqlx's SQLite driver binds named parameters in time that grows
/// with their square, and 512 pairs cost 15 ms a statement where 8 × 64 cost 1.
const ROLLUP_CHUNKS: [usize; 3] = [1, 8, 64];
static ROLLUP_SQL: std::sync::LazyLock<[String; 3]> =
    std::sync::LazyLock::new(|| ROLLUP_CHUNKS.map(rollup_sql));

/// The roll-up statement for `n` (PC, day, new q0 bits, new q1 bits): for each site and day,
/// adds 1 to a quarter's counter for each of its PCs whose bit goes from 0 to 1, reading the
/// bits stored before this batch's own upsert of `checkin_days` (so it runs first). The site
/// is the one the PC is on as the batch is written, the PCs counted that site's kept count.
/// Pairs without a new bit write nothing.
fn rollup_sql(n: usize) -> String {
    let values = (0..n)
        .map(|i| {
            let b = 4 * i;
            format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let new0 = "b.q0 & ~COALESCE(c.q0, 0)";
    let new1 = "b.q1 & ~COALESCE(c.q1, 0)";
    let columns: Vec<String> = rollup_columns().collect();
    let adds = columns
        .iter()
        .map(|c| format!("{c} = site_checkin_days.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH b (pc_id, day, q0, q1) AS (VALUES {values})
         INSERT INTO site_checkin_days (site_id, day, pcs, {})
         SELECT p.site_id, b.day, COALESCE(MAX(k.n), 0), {}
         FROM b JOIN pcs p ON p.id = b.pc_id
         LEFT JOIN checkin_days c ON c.pc_id = b.pc_id AND c.day = b.day
         LEFT JOIN site_pc_counts k ON k.site_id = p.site_id AND k.fact = 'pcs' AND k.fact_value = ''
         WHERE ({new0}) <> 0 OR ({new1}) <> 0
         GROUP BY p.site_id, b.day
         ON CONFLICT (site_id, day) DO UPDATE SET pcs = excluded.pcs, {adds}",
        columns.join(", "),
        quarter_sums(new0, new1).join(", "),
    )
}

impl Store {
    /// Writes a batch of beats in one transaction: last_seen per PC, the site's roll-up of
    /// the quarters that are new, the day's check-in row, and a change row when a PC's
    /// address changed.
    pub async fn record_beats(&self, beats: &[Beat]) -> Result<()> {
        if beats.is_empty() {
            return Ok(());
        }
        let mut last: BTreeMap<i64, (i64, Option<&str>)> = BTreeMap::new();
        let mut days: BTreeMap<(i64, i64), DayTally> = BTreeMap::new();
        for b in beats {
            let e = last.entry(b.pc_id).or_insert((b.at, b.ip.as_deref()));
            if b.at >= e.0 {
                *e = (b.at, b.ip.as_deref().or(e.1));
            }
            if b.checkin {
                let (day, q0, q1) = quarter_bits(b.at);
                let d = days.entry((b.pc_id, day)).or_insert(DayTally {
                    checkins: 0,
                    q0: 0,
                    q1: 0,
                    first_at: b.at,
                    last_at: b.at,
                });
                d.checkins += 1;
                d.q0 |= q0;
                d.q1 |= q1;
                d.first_at = d.first_at.min(b.at);
                d.last_at = d.last_at.max(b.at);
            }
        }
        let mut tx = self.db.begin_write().await?;
        for (pc, (at, ip)) in &last {
            sqlx::query(
                "UPDATE pcs SET last_seen = $1, last_ip = COALESCE($2, last_ip) WHERE id = $3",
            )
            .bind(*at)
            .bind(*ip)
            .bind(*pc)
            .execute(&mut *tx)
            .await?;
        }
        // After the PCs' rows are locked (above: a concurrent batch for the same PC waits for
        // this one's commit), before their bits are set (below): the roll-up counts a quarter
        // once, at the site the PC is on as it checks in.
        let pairs: Vec<((i64, i64), DayTally)> = days.iter().map(|(k, d)| (*k, *d)).collect();
        let mut rest = &pairs[..];
        while !rest.is_empty() {
            let size = ROLLUP_CHUNKS
                .into_iter()
                .find(|n| *n >= rest.len())
                .unwrap_or(ROLLUP_CHUNKS[ROLLUP_CHUNKS.len() - 1]);
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            let sql = &ROLLUP_SQL[ROLLUP_CHUNKS.iter().position(|n| *n == size).unwrap_or(0)];
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for i in 0..size {
                // Padding: PC 0 is no PC (ids start at 1).
                let ((pc, day), d) = chunk.get(i).copied().unwrap_or_default();
                q = q.bind(pc).bind(day).bind(d.q0).bind(d.q1);
            }
            q.execute(&mut *tx).await?;
        }
        for ((pc, day), d) in &days {
            sqlx::query(
                "INSERT INTO checkin_days (pc_id, day, checkins, q0, q1, first_at, last_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (pc_id, day) DO UPDATE SET
                   checkins = checkin_days.checkins + excluded.checkins,
                   q0 = checkin_days.q0 | excluded.q0,
                   q1 = checkin_days.q1 | excluded.q1,
                   last_at = CASE WHEN excluded.last_at > checkin_days.last_at
                             THEN excluded.last_at ELSE checkin_days.last_at END",
            )
            .bind(*pc)
            .bind(*day)
            .bind(d.checkins)
            .bind(d.q0)
            .bind(d.q1)
            .bind(d.first_at)
            .bind(d.last_at)
            .execute(&mut *tx)
            .await?;
        }
        for b in beats.iter().filter(|b| b.ip_changed) {
            if let Some(ip) = &b.ip {
                sqlx::query(
                    "INSERT INTO pc_reports (pc_id, at, field, value) VALUES ($1, $2, 'ip', $3)",
                )
                .bind(b.pc_id)
                .bind(b.at)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a change in what a PC reports about itself (client version, …).
    pub async fn record_pc_report(&self, pc_id: i64, field: &str, value: &str) -> Result<()> {
        self.write_one(
            sqlx::query("INSERT INTO pc_reports (pc_id, at, field, value) VALUES ($1, $2, $3, $4)")
                .bind(pc_id)
                .bind(service_kit::db::now_ms())
                .bind(field)
                .bind(value),
        )
        .await?;
        Ok(())
    }

    /// The quarter hours of a day a PC checked in (0..96), for reports and tests.
    pub async fn checkin_quarters(&self, pc_id: i64, day: i64) -> Result<(i64, Vec<u32>)> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT checkins, q0, q1 FROM checkin_days WHERE pc_id = $1 AND day = $2",
        )
        .bind(pc_id)
        .bind(day)
        .fetch_optional(self.pool())
        .await?;
        let Some((n, q0, q1)) = row else {
            return Ok((0, Vec::new()));
        };
        let quarters = (0..96)
            .filter(|q| {
                if *q < 48 {
                    q0 & (1 << q) != 0
                } else {
                    q1 & (1 << (q - 48)) != 0
                }
            })
            .collect();
        Ok((n, quarters))
    }

    /// Deletes history older than the retention allows, each kind in a write transaction of
    /// its own (a turn among the writers, so the heartbeat writer never waits long for it).
    pub async fn purge_history(&self, r: &Retention, now: i64) -> Result<Purged> {
        let cutoff = |days: i64| now - days * DAY_MS;
        let checkin_days = self
            .write_one(
                sqlx::query("DELETE FROM checkin_days WHERE day < $1")
                    .bind(cutoff(r.checkin_days).div_euclid(DAY_MS)),
            )
            .await?;
        let site_checkin_days = self
            .write_one(
                sqlx::query("DELETE FROM site_checkin_days WHERE day < $1")
                    .bind(cutoff(r.checkin_days).div_euclid(DAY_MS)),
            )
            .await?;
        // The login days, their roll-up and where PCs have them in one transaction, so no
        // report reads one without the others.
        let mut tx = self.db.begin_write().await?;
        let old_days = cutoff(r.checkin_days).div_euclid(DAY_MS);
        let login_days = sqlx::query("DELETE FROM pc_login_days WHERE day < $1")
            .bind(old_days)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM site_login_days WHERE day < $1",
            "DELETE FROM group_login_days WHERE day < $1",
            // A PC's site where all its days went; a latest login deleted is no login.
            "DELETE FROM pc_login_sites WHERE last_day < $1",
            "UPDATE pc_login_sites SET last_active = NULL WHERE last_active < $1",
        ] {
            sqlx::query(sql).bind(old_days).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let pc_reports = self
            .write_one(
                sqlx::query("DELETE FROM pc_reports WHERE at < $1").bind(cutoff(r.checkin_days)),
            )
            .await?;
        let mut tx = self.db.begin_write().await?;
        let old_events = cutoff(r.security_event_days);
        Rollup::Events
            .take(&mut tx, "e.reported_at < $1", &[Bind::Int(old_events)])
            .await?;
        let security_events = sqlx::query("DELETE FROM security_events WHERE reported_at < $1")
            .bind(old_events)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        let old = cutoff(r.job_days);
        let mut tx = self.db.begin_write().await?;
        let gone = "j.created_at < $1 AND j.status IN ($2, $3, $4)";
        let binds = [
            Bind::Int(old),
            Bind::Text(JobStatus::Done.as_str()),
            Bind::Text(JobStatus::Failed.as_str()),
            Bind::Text(JobStatus::Resolved.as_str()),
        ];
        Rollup::Jobs.take(&mut tx, gone, &binds).await?;
        recount_job_sites(&mut tx, gone, &binds).await?;
        sqlx::query(
            "DELETE FROM job_file_urls WHERE job_id IN (SELECT id FROM jobs WHERE created_at < $1 AND status IN ($2, $3, $4))",
        )
        .bind(old)
        .bind(JobStatus::Done.as_str())
        .bind(JobStatus::Failed.as_str())
        .bind(JobStatus::Resolved.as_str())
        .execute(&mut *tx)
        .await?;
        let jobs = sqlx::query("DELETE FROM jobs WHERE created_at < $1 AND status IN ($2, $3, $4)")
            .bind(old)
            .bind(JobStatus::Done.as_str())
            .bind(JobStatus::Failed.as_str())
            .bind(JobStatus::Resolved.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        let logins = self
            .write_one(
                sqlx::query("DELETE FROM login_log WHERE login_at < $1").bind(cutoff(r.login_days)),
            )
            .await?;
        // The portal's own login log (people, not agents) is kept as long as the agents'.
        let web_logins = self
            .write_one(
                sqlx::query("DELETE FROM web_login_log WHERE at < $1").bind(cutoff(r.login_days)),
            )
            .await?;
        Ok(Purged {
            web_logins,
            checkin_days,
            site_checkin_days,
            login_days,
            pc_reports,
            security_events,
            jobs,
            logins,
        })
    }
}

/// The configuration key the core script `get_daily_login_count` pushes.
pub const LOGIN_COUNTS_KEY: &str = "login_counts";

/// Most logins one PC may report for one day: far above a citizen PC's day, a bound on what a
/// broken script can put in a report.
pub const MAX_LOGINS_PER_DAY: i64 = 100_000;

/// The `login_counts` value, read: the days it reports and how many parts were skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginCounts {
    /// (local date as days since 1970-01-01, logins), one per day, in the order given.
    pub days: Vec<(i64, i64)>,
    /// Parts that were not `YYYY-MM-DD: n` with a date within `[earliest, latest]` and a
    /// count of 0 to [`MAX_LOGINS_PER_DAY`], or that repeated a day already given.
    pub skipped: usize,
}

/// Days since 1970-01-01 of a date (the unit of `pc_login_days.day`).
pub fn epoch_day(d: chrono::NaiveDate) -> i64 {
    d.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

/// Reads a `login_counts` value, `"2026-03-01: 5, 2026-03-02: 0"` (upstream's format, which
/// its read API passes on as text). Lenient by part: a bad part is skipped and counted, never
/// the whole value refused, since the agent's push must not fail on what a script wrote.
/// Days outside `[earliest, latest]` (days since 1970) are skipped: a PC's wrong clock must not
/// write history that retention would never reach, or days in the future.
pub fn parse_login_counts(value: &str, earliest: i64, latest: i64) -> LoginCounts {
    let mut out = LoginCounts::default();
    let mut seen = std::collections::BTreeSet::new();
    for part in value.split([',', '\n', ';']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let day = part.split_once(':').and_then(|(date, n)| {
            let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
            let n: i64 = n.trim().parse().ok()?;
            let day = epoch_day(date);
            ((0..=MAX_LOGINS_PER_DAY).contains(&n) && (earliest..=latest).contains(&day))
                .then_some((day, n))
        });
        match day {
            Some((day, n)) if seen.insert(day) => out.days.push((day, n)),
            _ => out.skipped += 1,
        }
    }
    out
}

/// Writes the days of a PC's `login_counts` value into `pc_login_days`, in the transaction
/// that stores the entry. A day already there gets the new count but keeps its site (the PC's
/// site when the day was first reported). Returns the parts skipped.
///
/// The usage roll-up (`site_login_days`) gets the change only: the PC's days are read first,
/// and a day pushed again with the same count writes nothing (the script pushes its last 90
/// days every time, so most of a push is a repeat). That read is the count the roll-up
/// follows, so it must be the latest: the caller has written the PC's `login_counts` entry
/// already in this transaction, which on PostgreSQL holds that row's lock, so another push
/// for the same PC (or its delete, which deletes the entry before the days) waits for this
/// one's commit. Retention deletes days without that lock: a push racing it on PostgreSQL
/// can leave a day before the retention's cutoff counted wrong, until the next purge deletes
/// it (a push only writes days the retention kept when the configured one is 400 days, the
/// default and the parsing's bound).
pub(crate) async fn record_login_counts(
    conn: &mut sqlx::AnyConnection,
    pc_id: i64,
    value: &str,
    now: i64,
) -> Result<usize> {
    let today = now.div_euclid(DAY_MS);
    // The script keeps 90 days; the retention bound is the check-in history's (400 by
    // default). A day ahead of UTC is today somewhere in Europe.
    let parsed = parse_login_counts(value, today - Retention::default().checkin_days, today + 1);
    if parsed.days.is_empty() {
        return Ok(parsed.skipped);
    }
    let site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM pcs WHERE id = $1")
        .bind(pc_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(site) = site else {
        return Ok(parsed.skipped);
    };
    let (first, last) = parsed
        .days
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), (d, _)| {
            (a.min(*d), b.max(*d))
        });
    let kept: BTreeMap<i64, (i64, i64)> = sqlx::query_as(
        "SELECT day, site_id, logins FROM pc_login_days WHERE pc_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(pc_id)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(day, site, logins): (i64, i64, i64)| (day, (site, logins)))
    .collect();
    let mut changes = Vec::new();
    for (day, logins) in &parsed.days {
        // (the day's site, logins added, PCs added)
        let change = match kept.get(day) {
            Some((_, was)) if was == logins => continue,
            Some((at, was)) => (*at, logins - was, 0),
            None => (site, *logins, 1),
        };
        sqlx::query(
            "INSERT INTO pc_login_days (pc_id, day, site_id, logins) VALUES ($1, $2, $3, $4)
             ON CONFLICT (pc_id, day) DO UPDATE SET logins = excluded.logins",
        )
        .bind(pc_id)
        .bind(*day)
        .bind(site)
        .bind(*logins)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO site_login_days (site_id, day, logins, pcs) VALUES ($1, $2, $3, $4)
             ON CONFLICT (site_id, day) DO UPDATE SET
               logins = site_login_days.logins + excluded.logins,
               pcs = site_login_days.pcs + excluded.pcs",
        )
        .bind(change.0)
        .bind(*day)
        .bind(change.1)
        .bind(change.2)
        .execute(&mut *conn)
        .await?;
        changes.push((*day, change));
    }
    if !changes.is_empty() {
        recount_login_sites(conn, Some(pc_id)).await?;
        add_to_groups(conn, pc_id, &changes).await?;
    }
    Ok(parsed.skipped)
}

/// A push's changes `(day, (site, logins, PCs))` added to the usage roll-up of each group the
/// PC is in (`group_login_days`). The PC's row is locked first, as a join, a leave and a
/// group's delete lock it before they add or take its days, so on PostgreSQL the groups read
/// here are those that did not count this push's days.
async fn add_to_groups(
    conn: &mut sqlx::AnyConnection,
    pc_id: i64,
    changes: &[(i64, (i64, i64, i64))],
) -> Result<()> {
    lock_pcs(conn, "id = $1", pc_id).await?;
    let groups: Vec<i64> =
        sqlx::query_scalar("SELECT group_id FROM pc_group_members WHERE pc_id = $1")
            .bind(pc_id)
            .fetch_all(&mut *conn)
            .await?;
    for group in groups {
        for (day, (site, logins, pcs)) in changes {
            sqlx::query(
                "INSERT INTO group_login_days (group_id, site_id, day, logins, pcs)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (group_id, site_id, day) DO UPDATE SET
                   logins = group_login_days.logins + excluded.logins,
                   pcs = group_login_days.pcs + excluded.pcs",
            )
            .bind(group)
            .bind(*site)
            .bind(*day)
            .bind(*logins)
            .bind(*pcs)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Locks the rows of `pcs` matching `cond` (`$1` bound to `id`) until the transaction ends,
/// by writing them unchanged: what a push adds to a PC's groups and what a membership change
/// adds or takes then follow one another (SQLite has one writer at a time anyway).
pub(crate) async fn lock_pcs(conn: &mut sqlx::AnyConnection, cond: &str, id: i64) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE pcs SET site_id = site_id WHERE {cond}"
    )))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `pc_login_sites` (migration 19) counted again from `pc_login_days`: one PC's rows, after a
/// push changed them (at most the retention's days, by the primary key), or every PC's, after
/// bulk SQL (`None`).
pub(crate) async fn recount_login_sites(
    conn: &mut sqlx::AnyConnection,
    pc: Option<i64>,
) -> Result<()> {
    let cond = if pc.is_some() { "pc_id = $1" } else { "1 = 1" };
    for sql in [
        format!("DELETE FROM pc_login_sites WHERE {cond}"),
        format!(
            "INSERT INTO pc_login_sites (pc_id, site_id, first_day, last_day, last_active)
             SELECT pc_id, site_id, MIN(day), MAX(day), MAX(CASE WHEN logins > 0 THEN day END)
             FROM pc_login_days WHERE {cond} GROUP BY pc_id, site_id"
        ),
    ] {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(pc) = pc {
            q = q.bind(pc);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{epoch_day, parse_login_counts, quarter_bits};

    #[test]
    fn login_counts_are_read_part_by_part() {
        let d = |s: &str| epoch_day(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        let (lo, hi) = (d("2026-01-01"), d("2026-12-31"));
        let p = parse_login_counts("2026-03-01: 5, 2026-03-02:0,2026-03-03: 12", lo, hi);
        assert_eq!(
            p.days,
            vec![
                (d("2026-03-01"), 5),
                (d("2026-03-02"), 0),
                (d("2026-03-03"), 12)
            ]
        );
        assert_eq!(p.skipped, 0);
        // Not a date, not a number, negative, too many, outside the bounds, a repeated day.
        let p = parse_login_counts(
            "x: 1, 2026-02-30: 1, 2026-03-01: tre, 2026-03-02: -1, 2026-03-03: 100001, \
             2025-12-31: 1, 2027-01-01: 1, 2026-03-04: 2, 2026-03-04: 3, 2026-03-05",
            lo,
            hi,
        );
        assert_eq!(p.days, vec![(d("2026-03-04"), 2)]);
        assert_eq!(p.skipped, 9);
        assert_eq!(parse_login_counts("", lo, hi), Default::default());
        assert_eq!(d("1970-01-02"), 1);
    }

    #[test]
    fn quarters_split_the_day_in_two_words() {
        assert_eq!(quarter_bits(0), (0, 1, 0));
        assert_eq!(quarter_bits(86_400_000 + 12 * 3_600_000), (1, 0, 1));
        assert_eq!(quarter_bits(86_400_000 - 1), (0, 0, 1 << 47));
    }
}
