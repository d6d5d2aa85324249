//! What reporting needs to look back on, kept compact and bounded: check-ins per PC per day
//! (a bit per quarter hour), changes in what PCs report about themselves, and the retention
//! that deletes old history.

use super::Result;
use super::Store;
use super::jobs::JobStatus;
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
#[derive(Debug, Clone, Copy)]
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
    pub pc_reports: u64,
    pub security_events: u64,
    pub jobs: u64,
    pub logins: u64,
    pub web_logins: u64,
}

impl Store {
    /// Writes a batch of beats in one transaction: last_seen per PC, the day's check-in row,
    /// and a change row when a PC's address changed.
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
        let pc_reports = self
            .write_one(
                sqlx::query("DELETE FROM pc_reports WHERE at < $1").bind(cutoff(r.checkin_days)),
            )
            .await?;
        let security_events = self
            .write_one(
                sqlx::query("DELETE FROM security_events WHERE reported_at < $1")
                    .bind(cutoff(r.security_event_days)),
            )
            .await?;
        let old = cutoff(r.job_days);
        let mut tx = self.db.begin_write().await?;
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
            pc_reports,
            security_events,
            jobs,
            logins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::quarter_bits;

    #[test]
    fn quarters_split_the_day_in_two_words() {
        assert_eq!(quarter_bits(0), (0, 1, 0));
        assert_eq!(quarter_bits(86_400_000 + 12 * 3_600_000), (1, 0, 1));
        assert_eq!(quarter_bits(86_400_000 - 1), (0, 0, 1 << 47));
    }
}
