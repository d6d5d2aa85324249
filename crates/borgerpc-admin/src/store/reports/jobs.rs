//! The jobs report (issue 14, report 4), read side: how the scripts run on the PCs went, for a
//! site, a customer's sites or all the caller sees, a period of local dates and optionally a
//! group and one script. Counts per script, per site, per PC and per period bucket of DONE,
//! FAILED, still open (NEW, SUBMITTED) and restarted (RESOLVED) jobs; the failed jobs with the
//! last lines of their log; the slowest runs. The counts per script, site and bucket are sums
//! over the daily roll-up `job_days` (`ops_rollup.rs`), a group's over its jobs; the per-PC
//! counts and the lists are read from the jobs' indexes (a key per PC is no smaller than the
//! rows), and over many jobs the PCs of the per-PC list from where each PC had jobs
//! (`pc_job_sites`, [`Store::jobs_pcs`]).
//!
//! Which time: a job is in the period by its creation (`created_at`, the default) or by when
//! its report came (`reported_at`: the agent's own `finished` text is the PC's clock, kept as
//! sent, so the server's time of the report stands for "finished"); a job not yet reported is
//! then in no period. Either way the bucket is the local date (Copenhagen) of that time.
//!
//! Where a job is counted: at the site it ran at (`jobs.site_id`, the PC's site when the job
//! was made: a run only takes PCs of its site), so a PC that moved leaves its old jobs with
//! the old site. Groups are the groups' members now, as in the other reports. A PC's row in
//! the per-PC list names the site it is at now (its page is there).
//!
//! Scripts: a local script is its site's, a global one (no site) everybody's. Every count is of
//! the jobs at the filter's sites, so a global script's numbers are the caller's own runs of
//! it; a script to narrow to must be global or on the filter's sites (else `None`, as for a
//! group elsewhere).
//!
//! Success rate: DONE of DONE + FAILED. A restarted job (RESOLVED) no longer says whether it
//! failed (the restart overwrote its status), so it is counted apart and left out of the rate;
//! its new job is counted on its own.
//!
//! Run time: `jobs.duration_ms`, the agent's `finished` minus `started` read as Copenhagen
//! time (store/jobs.rs `run_time_ms`), written with its report; jobs reported before
//! migration 14 have none and are not among the slowest.
//!
//! Logs: a failed job's last lines are shown to the same users that see the job's page. The
//! store gives them only when asked (`log_lines`), cut in SQL to the log's end, so no more
//! than [`LOG_BYTES`] per job leaves the database; they never go to the server's log.

use super::args::{Args, list_length, read_sums, site_entry};
use super::buckets::{Bucket, date_of_day};
use super::ops_rollup::local_day;
use super::{Filter, MAX_LIMIT, TIME_ZONE, day_start, ymd};
use crate::store::jobs::JobStatus;
use crate::store::operator::Page;
use crate::store::{Result, Store};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The last lines of a failed job's log the report gives: at most this many lines…
pub const LOG_LINES: usize = 5;
/// …of at most this many bytes together (the end of the log kept).
pub const LOG_BYTES: usize = 600;
/// Characters of the log's end read from the database: enough for [`LOG_BYTES`] after the
/// blank lines at its end are dropped.
const TAIL_CHARS: i64 = 1000;
/// The slowest runs the report lists (the JSON and the page; an export may hold them all).
pub const SLOWEST: i64 = 10;
/// Above this many jobs in the period, a page of the per-PC list counts the failures alone and
/// takes the PCs without from where PCs had jobs (see [`Store::jobs_pcs`]).
pub const PCS_BY_JOBS_MAX: i64 = 20_000;

/// Which time puts a job in the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTime {
    /// When it was made.
    Created,
    /// When its report came.
    Finished,
}

impl JobTime {
    pub fn as_str(self) -> &'static str {
        match self {
            JobTime::Created => "created",
            JobTime::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Option<JobTime> {
        [JobTime::Created, JobTime::Finished]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    fn column(self) -> &'static str {
        match self {
            JobTime::Created => "j.created_at",
            JobTime::Finished => "j.reported_at",
        }
    }

    /// The jobs' index by PC and this time (migration 24).
    fn pc_index(self) -> &'static str {
        match self {
            JobTime::Created => "jobs_pc_created",
            JobTime::Finished => "jobs_pc_reported",
        }
    }
}

/// Which list a report's page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsList {
    /// The FAILED jobs, newest first.
    Failures,
    /// The jobs with a run time, longest first.
    Slowest,
    /// The PCs with jobs, the most failures first, then in the order they were registered.
    Pcs,
}

impl JobsList {
    pub fn as_str(self) -> &'static str {
        match self {
            JobsList::Failures => "failures",
            JobsList::Slowest => "slowest",
            JobsList::Pcs => "pcs",
        }
    }
}

/// What the jobs report is asked besides the shared [`Filter`].
#[derive(Debug, Clone, Copy)]
pub struct JobsAsked {
    /// Only this script's jobs.
    pub script: Option<i64>,
    pub by: JobTime,
    pub bucket: Bucket,
    /// The failures' last log lines (else `last_lines` is left out).
    pub log_lines: bool,
}

/// Jobs by how they went.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobCounts {
    pub jobs: i64,
    pub done: i64,
    pub failed: i64,
    /// NEW or SUBMITTED: not reported yet.
    pub open: i64,
    /// RESOLVED: restarted as a new job.
    pub restarted: i64,
    /// `done / (done + failed)`; `None` when no job has ended.
    pub success_rate: Option<f64>,
}

impl JobCounts {
    fn add(&mut self, status: JobStatus, n: i64) {
        self.jobs += n;
        match status {
            JobStatus::Done => self.done += n,
            JobStatus::Failed => self.failed += n,
            JobStatus::New | JobStatus::Submitted => self.open += n,
            JobStatus::Resolved => self.restarted += n,
        }
        let ended = self.done + self.failed;
        self.success_rate = (ended > 0).then(|| self.done as f64 / ended as f64);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsScript {
    pub script_id: i64,
    pub name: String,
    /// A global script (every site's).
    pub global: bool,
    /// Deleted since (its jobs keep it).
    pub deleted: bool,
    #[serde(flatten)]
    pub counts: JobCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsSite {
    pub site_id: i64,
    pub uid: String,
    pub name: String,
    #[serde(flatten)]
    pub counts: JobCounts,
}

/// A bucket of the period: a local date, or an ISO week from its Monday.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsPeriod {
    #[serde(serialize_with = "ymd")]
    pub start: NaiveDate,
    /// Dates of the bucket in the period.
    pub days: u32,
    #[serde(flatten)]
    pub counts: JobCounts,
}

/// One job in a list (failures, slowest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRun {
    pub job_id: i64,
    /// The site it ran at (its page is there).
    pub site: String,
    pub pc_id: i64,
    pub pc_uid: String,
    pub pc_name: String,
    /// The PC's site now.
    pub pc_site: String,
    pub script_id: i64,
    pub script: String,
    pub status: JobStatus,
    pub created_at: i64,
    pub reported_at: Option<i64>,
    /// As the agent sent them: its own local time.
    pub started: Option<String>,
    pub finished: Option<String>,
    pub duration_ms: Option<i64>,
    /// The log's last lines (at most [`LOG_LINES`], [`LOG_BYTES`]), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lines: Option<Vec<String>>,
}

/// One PC's jobs at the report's sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsPc {
    pub pc_id: i64,
    pub uid: String,
    pub name: String,
    /// The PC's site now.
    pub site: String,
    #[serde(flatten)]
    pub counts: JobCounts,
}

/// The page of the report's list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum JobsItems {
    Runs(Vec<JobRun>),
    Pcs(Vec<JobsPc>),
}

/// The jobs report: the counts, and one page of one list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsReport {
    #[serde(serialize_with = "ymd")]
    pub from: NaiveDate,
    #[serde(serialize_with = "ymd")]
    pub to: NaiveDate,
    pub time_zone: &'static str,
    pub by: &'static str,
    pub bucket: &'static str,
    pub script: Option<i64>,
    pub totals: JobCounts,
    /// Every script with jobs, the most failures first.
    pub scripts: Vec<JobsScript>,
    /// Every site with jobs, by name.
    pub sites: Vec<JobsSite>,
    /// Every bucket of the period, oldest first.
    pub periods: Vec<JobsPeriod>,
    /// Which list `items` is a page of, and its length (all pages).
    pub list: &'static str,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: JobsItems,
}

/// A failed job's last lines: the blank lines at the end dropped, at most [`LOG_BYTES`] of
/// the end (cut where a character starts), of which at most [`LOG_LINES`] lines.
pub fn last_lines(log: &str) -> Vec<String> {
    let log = log.trim_end_matches(['\n', '\r']);
    let mut start = log.len().saturating_sub(LOG_BYTES);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    let lines: Vec<&str> = log[start..].lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// The filter's condition on `jobs j`, its values pushed on `args`.
fn condition(f: &Filter, a: &JobsAsked, args: &mut Args) -> String {
    let mut sql = args.scope(f, a.by.column(), "j.site_id", "j.pc_id");
    if let Some(s) = a.script {
        sql.push_str(&format!(
            " AND j.batch_id IN (SELECT b.id FROM batches b JOIN script_versions v
               ON v.id = b.script_version_id WHERE v.script_id = {})",
            args.int(s)
        ));
    }
    sql
}

/// The filter's PCs with jobs in the period, as a condition on their rows of `pc_job_sites s`
/// (migration 24): a PC whose first or last job at a site is in the period had jobs in it, one
/// whose jobs there all lie before or after it had none, and one with jobs before and after it
/// is asked whether it had any between.
fn had_jobs(f: &Filter, a: &JobsAsked, args: &mut Args) -> String {
    let kind = args.text(a.by.as_str());
    let sites = args.within("s.site_id", &f.sites);
    let from = args.int(day_start(f.period.from));
    let to = args.int(day_start(f.period.to));
    let at = a.by.column();
    let mut sql = format!(
        "s.time_kind = {kind} AND {sites} AND s.last_at >= {from} AND s.first_at < {to}
         AND (s.first_at >= {from} OR s.last_at < {to}
              OR EXISTS (SELECT 1 FROM jobs j WHERE j.pc_id = s.pc_id AND j.site_id = s.site_id
                         AND {at} >= {from} AND {at} < {to}))"
    );
    if let Some(g) = f.group {
        sql.push_str(&format!(
            " AND s.pc_id IN (SELECT pc_id FROM pc_group_members WHERE group_id = {})",
            args.int(g)
        ));
    }
    sql
}

/// The jobs of the filter counted per site, script, local date and status, as rows
/// (site_id, script_id, day, status, n, timed) for an outer query to add up: from the roll-up
/// (`job_days`), or for a group (whose members change) from the jobs themselves.
fn counted(f: &Filter, a: &JobsAsked, args: &mut Args) -> String {
    if f.group.is_some() {
        let cond = condition(f, a, args);
        return format!(
            "SELECT j.site_id, v.script_id, {} AS day, j.status, 1 AS n,
                    CASE WHEN j.duration_ms IS NULL THEN 0 ELSE 1 END AS timed
             FROM jobs j JOIN batches b ON b.id = j.batch_id
             JOIN script_versions v ON v.id = b.script_version_id WHERE {cond}",
            local_day(a.by.column())
        );
    }
    let mut sql = format!(
        "SELECT r.site_id, r.script_id, r.day, r.status, r.jobs AS n, r.timed FROM job_days r
         WHERE r.time_kind = {} AND {}",
        args.text(a.by.as_str()),
        args.days(f)
    );
    if let Some(s) = a.script {
        sql.push_str(&format!(" AND r.script_id = {}", args.int(s)));
    }
    sql
}

/// The condition of a list of runs: the failures, or the runs with a time.
fn runs_condition(f: &Filter, a: &JobsAsked, list: JobsList, args: &mut Args) -> String {
    let cond = condition(f, a, args);
    match list {
        JobsList::Slowest => format!("{cond} AND j.duration_ms IS NOT NULL"),
        _ => format!(
            "{cond} AND j.status = {}",
            args.text(JobStatus::Failed.as_str())
        ),
    }
}

/// The per-PC list's counts: a column per status.
const PC_COLUMNS: [(JobStatus, &str); 5] = [
    (JobStatus::Done, "done"),
    (JobStatus::Failed, "failed"),
    (JobStatus::New, "fresh"),
    (JobStatus::Submitted, "sent"),
    (JobStatus::Resolved, "restarted"),
];

fn status(r: &sqlx::any::AnyRow, column: &str) -> Result<JobStatus> {
    JobStatus::from_db(&r.try_get::<String, _>(column)?)
}

impl Store {
    /// Whether the group and the script are the filter's to ask for: the group on its sites,
    /// the script global or local to one of them.
    async fn jobs_asked_in(&self, f: &Filter, a: &JobsAsked) -> Result<bool> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(false);
        }
        let Some(script) = a.script else {
            return Ok(true);
        };
        let mut args = Args::default();
        let sql = format!(
            "SELECT COUNT(*) FROM scripts WHERE id = {} AND (site_id IS NULL OR {})",
            args.int(script),
            args.within("site_id", &f.sites)
        );
        let n: i64 = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    /// The jobs report with one page (`f.page`) of `list`. `None`: the group or the script is
    /// not the filter's.
    pub async fn jobs_report(
        &self,
        f: &Filter,
        a: &JobsAsked,
        list: JobsList,
    ) -> Result<Option<JobsReport>> {
        if !self.jobs_asked_in(f, a).await? {
            return Ok(None);
        }
        let mut conn = self.reader().await?;
        let mut args = Args::default();
        let counted = counted(f, a, &mut args);

        // Per site and script, added up from the roll-up's days (or the group's jobs); the
        // runs with a time come along, for the slowest list's length. (PostgreSQL sums
        // BIGINT as NUMERIC, which the Any driver does not read: cast.)
        let sql = format!(
            "SELECT x.site_id, s.uid, s.name, x.script_id, x.status, x.n, x.timed
             FROM (SELECT y.site_id, y.script_id, y.status, CAST(SUM(y.n) AS BIGINT) AS n,
                          CAST(SUM(y.timed) AS BIGINT) AS timed
                   FROM ({counted}) y GROUP BY y.site_id, y.script_id, y.status
                   HAVING SUM(y.n) <> 0) x
             JOIN sites s ON s.id = x.site_id"
        );
        let rows = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?;
        let mut per_script: BTreeMap<i64, JobCounts> = BTreeMap::new();
        let mut per_site: BTreeMap<i64, JobsSite> = BTreeMap::new();
        let mut totals = JobCounts::default();
        let mut timed = 0i64;
        for r in &rows {
            let (st, n) = (status(r, "status")?, r.try_get("n")?);
            timed += r.try_get::<i64, _>("timed")?;
            totals.add(st, n);
            per_script
                .entry(r.try_get("script_id")?)
                .or_default()
                .add(st, n);
            let entry = site_entry(&mut per_site, r, |site_id, uid, name| JobsSite {
                site_id,
                uid,
                name,
                counts: JobCounts::default(),
            })?;
            entry.counts.add(st, n);
        }
        let mut sites: Vec<JobsSite> = per_site.into_values().collect();
        sites.sort_by(|x, y| (&x.name, x.site_id).cmp(&(&y.name, y.site_id)));
        let mut scripts = Vec::with_capacity(per_script.len());
        if !per_script.is_empty() {
            let ids: Vec<i64> = per_script.keys().copied().collect();
            let mut a2 = Args::default();
            let sql = format!(
                "SELECT id, name, site_id, deleted_at FROM scripts WHERE {}",
                a2.within("id", &ids)
            );
            for r in a2
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_all(&mut *conn)
                .await?
            {
                let id: i64 = r.try_get("id")?;
                scripts.push(JobsScript {
                    script_id: id,
                    name: r.try_get("name")?,
                    global: r.try_get::<Option<i64>, _>("site_id")?.is_none(),
                    deleted: r.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
                    counts: per_script.remove(&id).unwrap_or_default(),
                });
            }
        }
        scripts.sort_by(|x, y| {
            (y.counts.failed, &x.name, x.script_id).cmp(&(x.counts.failed, &y.name, y.script_id))
        });

        // Per bucket, from the counts per local date.
        let sql = format!(
            "SELECT y.day, y.status, CAST(SUM(y.n) AS BIGINT) AS n FROM ({counted}) y
             GROUP BY y.day, y.status"
        );
        let buckets = a.bucket.of(&f.period);
        let mut periods: Vec<JobsPeriod> = buckets
            .iter()
            .map(|(start, days)| JobsPeriod {
                start: *start,
                days: *days,
                counts: JobCounts::default(),
            })
            .collect();
        for r in args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
        {
            let start = a.bucket.start(date_of_day(r.try_get("day")?));
            if let Some(p) = periods.iter_mut().find(|p| p.start == start) {
                p.counts.add(status(&r, "status")?, r.try_get("n")?);
            }
        }
        drop(conn);

        // The list's length is known from the counts, but for the PCs'.
        let (count, items) = match list {
            JobsList::Pcs => {
                let (count, pcs) = self.jobs_pcs_in(f, a, f.page.clone()).await?;
                (count, JobsItems::Pcs(pcs))
            }
            JobsList::Failures => {
                let page = self.job_runs_page(f, a, list, &f.page).await?;
                (totals.failed, JobsItems::Runs(page))
            }
            JobsList::Slowest => {
                let page = self.job_runs_page(f, a, list, &f.page).await?;
                (timed, JobsItems::Runs(page))
            }
        };
        Ok(Some(JobsReport {
            from: f.period.from,
            to: f.period.to,
            time_zone: TIME_ZONE.name(),
            by: a.by.as_str(),
            bucket: a.bucket.as_str(),
            script: a.script,
            totals,
            scripts,
            sites,
            periods,
            list: list.as_str(),
            count,
            limit: f.page.limit,
            offset: f.page.offset,
            items,
        }))
    }

    /// One page of the failures (newest first) or the slowest runs (longest first), and how
    /// many there are. `None`: the group or the script is not the filter's.
    pub async fn job_runs(
        &self,
        f: &Filter,
        a: &JobsAsked,
        list: JobsList,
        page: Page,
    ) -> Result<Option<(i64, Vec<JobRun>)>> {
        if !self.jobs_asked_in(f, a).await? {
            return Ok(None);
        }
        Ok(Some(self.job_runs_in(f, a, list, page).await?))
    }

    async fn job_runs_in(
        &self,
        f: &Filter,
        a: &JobsAsked,
        list: JobsList,
        page: Page,
    ) -> Result<(i64, Vec<JobRun>)> {
        let mut args = Args::default();
        let cond = runs_condition(f, a, list, &mut args);
        let sql = format!("SELECT COUNT(*) FROM jobs j WHERE {cond}");
        let count: i64 = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok((count, self.job_runs_page(f, a, list, &page).await?))
    }

    /// One page of a list of runs, without its length. Unchecked: for a caller that has the
    /// report of the same filter and asked (which checked the group and the script), and
    /// the list's length from it.
    pub async fn job_runs_page(
        &self,
        f: &Filter,
        a: &JobsAsked,
        list: JobsList,
        page: &Page,
    ) -> Result<Vec<JobRun>> {
        let mut args = Args::default();
        let cond = runs_condition(f, a, list, &mut args);
        let order = match list {
            JobsList::Slowest => "j.duration_ms DESC, j.id DESC".to_owned(),
            _ => format!("{} DESC, j.id DESC", a.by.column()),
        };
        // The log's end only, cut in the database: a log may be 128,000 characters.
        let tail = if a.log_lines && list == JobsList::Failures {
            format!(
                ", CASE WHEN LENGTH(j.log_output) > {TAIL_CHARS}
                   THEN SUBSTR(j.log_output, LENGTH(j.log_output) - {}) ELSE j.log_output END AS tail",
                TAIL_CHARS - 1
            )
        } else {
            String::new()
        };
        // The page's jobs are picked from the index alone (it holds every column the order
        // and the condition need; migration 22's are in the lists' orders, so a page of every
        // site's jobs is read from an end), and only they are joined to their PC, site and
        // script.
        let sql = format!(
            "SELECT j.id, s.uid AS site, j.pc_id, p.uid AS pc_uid, p.name AS pc_name,
                    ps.uid AS pc_site, v.script_id, sc.name AS script, j.status, j.created_at,
                    j.reported_at, j.started, j.finished, j.duration_ms{tail}
             FROM (SELECT j.id FROM jobs j WHERE {cond} ORDER BY {order} LIMIT {} OFFSET {}) t
             JOIN jobs j ON j.id = t.id
             JOIN sites s ON s.id = j.site_id JOIN pcs p ON p.id = j.pc_id
             JOIN sites ps ON ps.id = p.site_id JOIN batches b ON b.id = j.batch_id
             JOIN script_versions v ON v.id = b.script_version_id
             JOIN scripts sc ON sc.id = v.script_id
             ORDER BY {order}",
            args.int(page.limit),
            args.int(page.offset)
        );
        let rows = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(self.pool())
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            jobs.push(JobRun {
                job_id: r.try_get("id")?,
                site: r.try_get("site")?,
                pc_id: r.try_get("pc_id")?,
                pc_uid: r.try_get("pc_uid")?,
                pc_name: r.try_get("pc_name")?,
                pc_site: r.try_get("pc_site")?,
                script_id: r.try_get("script_id")?,
                script: r.try_get("script")?,
                status: status(r, "status")?,
                created_at: r.try_get("created_at")?,
                reported_at: r.try_get("reported_at")?,
                started: r.try_get("started")?,
                finished: r.try_get("finished")?,
                duration_ms: r.try_get("duration_ms")?,
                last_lines: if tail.is_empty() {
                    None
                } else {
                    Some(
                        r.try_get::<Option<String>, _>("tail")?
                            .map(|t| last_lines(&t))
                            .unwrap_or_default(),
                    )
                },
            });
        }
        Ok(jobs)
    }

    /// One page of the PCs with jobs (the most failures first, then in the order they were
    /// registered) and how many there are. `None`: the group or the script is not the
    /// filter's.
    ///
    /// Every job of the period counted per PC gives both; above [`PCS_BY_JOBS_MAX`] jobs (a
    /// customer's year is a million) that is the slowest part of the report. A page of at
    /// most [`MAX_LIMIT`] PCs of all scripts is then read otherwise: the failures counted
    /// from the failed jobs alone, the PCs without failures and the number of PCs from where
    /// the PCs had jobs (`pc_job_sites`, [`had_jobs`]), and only the page's jobs counted per
    /// status. A file of the list, and a script's, counts every job (a file reads every row
    /// anyway; a script narrows the jobs, not `pc_job_sites`). The order after the failures
    /// is the PCs' ids so that neither way has to read every PC's name to sort them.
    pub async fn jobs_pcs(
        &self,
        f: &Filter,
        a: &JobsAsked,
        page: Page,
    ) -> Result<Option<(i64, Vec<JobsPc>)>> {
        if !self.jobs_asked_in(f, a).await? {
            return Ok(None);
        }
        Ok(Some(self.jobs_pcs_in(f, a, page).await?))
    }

    async fn jobs_pcs_in(
        &self,
        f: &Filter,
        a: &JobsAsked,
        page: Page,
    ) -> Result<(i64, Vec<JobsPc>)> {
        let mut conn = self.reader().await?;
        if a.script.is_none() && page.limit <= MAX_LIMIT {
            let mut args = Args::default();
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(r.jobs), 0) AS BIGINT) FROM job_days r
                 WHERE r.time_kind = {} AND {}",
                args.text(a.by.as_str()),
                args.days(f)
            );
            let jobs: i64 = args
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            if jobs > PCS_BY_JOBS_MAX {
                return self.jobs_pcs_by_failures(&mut conn, f, a, page).await;
            }
        }
        let mut args = Args::default();
        let cond = condition(f, a, &mut args);
        let columns = PC_COLUMNS.map(|(s, c)| (s.as_str(), c));
        let sql = format!(
            "SELECT x.pc_id, p.uid, p.name, s.uid AS site, x.done, x.failed, x.fresh, x.sent,
                    x.restarted, COUNT(*) OVER () AS total
             FROM (SELECT j.pc_id, {} FROM jobs j WHERE {cond} GROUP BY j.pc_id) x
             JOIN pcs p ON p.id = x.pc_id JOIN sites s ON s.id = p.site_id
             ORDER BY x.failed DESC, x.pc_id LIMIT {} OFFSET {}",
            args.sums("j.status", "1", &columns),
            args.int(page.limit),
            args.int(page.offset)
        );
        let rows = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?;
        let mut distinct = Args::default();
        let sql = format!(
            "SELECT COUNT(DISTINCT j.pc_id) FROM jobs j WHERE {}",
            condition(f, a, &mut distinct)
        );
        let count = list_length(&mut conn, rows.first(), sql, &distinct).await?;
        let mut pcs = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut counts = JobCounts::default();
            read_sums(r, &PC_COLUMNS, |s, n| counts.add(s, n))?;
            pcs.push(pc_of(r, counts)?);
        }
        Ok((count, pcs))
    }

    /// [`Store::jobs_pcs`] over many jobs, for a page of at most [`MAX_LIMIT`] PCs of all
    /// scripts: the number of PCs from `pc_job_sites`; the page's PCs with failures from the
    /// failed jobs, then (past them) its PCs without from `pc_job_sites`; then the page's jobs
    /// counted per status.
    async fn jobs_pcs_by_failures(
        &self,
        conn: &mut sqlx::AnyConnection,
        f: &Filter,
        a: &JobsAsked,
        page: Page,
    ) -> Result<(i64, Vec<JobsPc>)> {
        let mut args = Args::default();
        let sql = format!(
            "SELECT COUNT(DISTINCT s.pc_id) FROM pc_job_sites s WHERE {}",
            had_jobs(f, a, &mut args)
        );
        let count: i64 = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let failed_jobs = |args: &mut Args| {
            format!(
                "{} AND j.status = {}",
                condition(f, a, args),
                args.text(JobStatus::Failed.as_str())
            )
        };
        let mut args = Args::default();
        let sql = format!(
            "SELECT x.pc_id FROM (SELECT j.pc_id, COUNT(*) AS failed FROM jobs j WHERE {}
                                  GROUP BY j.pc_id) x
             ORDER BY x.failed DESC, x.pc_id LIMIT {} OFFSET {}",
            failed_jobs(&mut args),
            args.int(page.limit),
            args.int(page.offset)
        );
        let mut ids = args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<i64>, _>>()?;
        let short = page.limit - ids.len() as i64;
        if short > 0 {
            // Past the PCs with failures: how many there are, and the PCs without.
            let with_failures = if ids.is_empty() {
                let mut args = Args::default();
                let sql = format!(
                    "SELECT COUNT(DISTINCT j.pc_id) FROM jobs j WHERE {}",
                    failed_jobs(&mut args)
                );
                args.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?
            } else {
                page.offset + ids.len() as i64
            };
            let mut args = Args::default();
            let had = had_jobs(f, a, &mut args);
            let sql = format!(
                "SELECT DISTINCT s.pc_id FROM pc_job_sites s
                 WHERE {had} AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.pc_id = s.pc_id AND {})
                 ORDER BY s.pc_id LIMIT {} OFFSET {}",
                failed_jobs(&mut args),
                args.int(short),
                args.int((page.offset - with_failures).max(0))
            );
            for r in args
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_all(&mut *conn)
                .await?
            {
                ids.push(r.try_get(0)?);
            }
        }
        if ids.is_empty() {
            return Ok((count, Vec::new()));
        }
        // The page's PCs with their jobs per status, from the jobs' PC index (SQLite is told
        // it: it would take the sites' and read the period's every job).
        let jobs = match self.db.kind() {
            service_kit::db::DbKind::Sqlite => format!("jobs j INDEXED BY {}", a.by.pc_index()),
            service_kit::db::DbKind::Postgres => "jobs j".to_owned(),
        };
        let mut args = Args::default();
        let columns = PC_COLUMNS.map(|(s, c)| (s.as_str(), c));
        let sql = format!(
            "SELECT x.pc_id, p.uid, p.name, st.uid AS site, x.done, x.failed, x.fresh, x.sent,
                    x.restarted
             FROM (SELECT j.pc_id, {} FROM {jobs} WHERE {} AND {} GROUP BY j.pc_id) x
             JOIN pcs p ON p.id = x.pc_id JOIN sites st ON st.id = p.site_id",
            args.sums("j.status", "1", &columns),
            condition(f, a, &mut args),
            args.within("j.pc_id", &ids)
        );
        let mut found: BTreeMap<i64, JobsPc> = BTreeMap::new();
        for r in args
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *conn)
            .await?
        {
            let mut counts = JobCounts::default();
            read_sums(&r, &PC_COLUMNS, |s, n| counts.add(s, n))?;
            let pc = pc_of(&r, counts)?;
            found.insert(pc.pc_id, pc);
        }
        // In the page's order (a PC deleted since is left out).
        Ok((
            count,
            ids.iter().filter_map(|id| found.remove(id)).collect(),
        ))
    }
}

/// A row of the per-PC list (`pc_id`, `uid`, `name`, `site`) with its counts.
fn pc_of(r: &sqlx::any::AnyRow, counts: JobCounts) -> Result<JobsPc> {
    Ok(JobsPc {
        pc_id: r.try_get("pc_id")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        site: r.try_get("site")?,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::{JobCounts, LOG_BYTES, last_lines};
    use crate::store::jobs::JobStatus;

    #[test]
    fn last_lines_are_the_end_of_the_log_within_the_bound() {
        let log = ">>> Starting\nen\nto\ntre\nfire\nfem\n>>> Failed at 12:00\n\n";
        assert_eq!(
            last_lines(log),
            vec!["to", "tre", "fire", "fem", ">>> Failed at 12:00"]
        );
        // One long line of multi-byte characters: its end, cut where a character starts.
        let long = "æ".repeat(1000);
        let got = last_lines(&long);
        assert_eq!(got.len(), 1);
        assert!(got[0].len() <= LOG_BYTES && got[0].len() >= LOG_BYTES - 1);
        assert!(last_lines("").is_empty());
        assert_eq!(last_lines("a\r\nb\r\n"), vec!["a", "b"]);
    }

    #[test]
    fn success_is_done_of_the_ended_jobs() {
        let mut c = JobCounts::default();
        assert_eq!(c.success_rate, None);
        c.add(JobStatus::New, 4);
        c.add(JobStatus::Resolved, 1);
        assert_eq!(
            (c.jobs, c.open, c.restarted, c.success_rate),
            (5, 4, 1, None)
        );
        c.add(JobStatus::Done, 3);
        c.add(JobStatus::Failed, 1);
        assert_eq!(c.success_rate, Some(0.75));
    }
}
