//! Scripts, batches and jobs as the portal's pages read them: the script lists (scripts run
//! as jobs, and security scripts) and a script's page with its versions and what uses it, the
//! job list with its filters, a job with its log and parameters, and a batch's progress.
//! Writes stay in `jobs.rs`; these only read, always within one site.
//!
//! Deleted scripts (`deleted_at`) are on no list and have no page; the jobs and batches that
//! ran one still show its name.
//!
//! Lists of jobs count at most [`COUNT_CAP`] rows: a site with a million jobs must answer its
//! first page at once, and "more than 10,000" is all a person needs to know.

use super::jobs::{Input, JobStatus};
use super::{Result, Store};
use sqlx::Row as _;

/// The most rows a job list counts exactly.
pub const COUNT_CAP: i64 = 10_000;

/// Global scripts, the site's own, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    #[default]
    Both,
    Global,
    Local,
}

/// Which scripts a page is about: those operators run as jobs, or security scripts, which
/// run through security rules. A script is one or the other, and each kind's pages answer
/// "not found" for the other's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptKind {
    #[default]
    Normal,
    Security,
}

impl ScriptKind {
    /// The value of `scripts.is_security`.
    fn is_security(self) -> i64 {
        match self {
            ScriptKind::Normal => 0,
            ScriptKind::Security => 1,
        }
    }
}

/// How the script list is filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptFilter {
    pub kind: ScriptKind,
    /// Part of the name or description.
    pub text: String,
    pub category: Option<String>,
    pub origin: Origin,
}

/// A script on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    pub global: bool,
    pub version: i64,
    pub inputs: i64,
}

/// A version of a script and how many jobs ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionLine {
    pub id: i64,
    pub version: i64,
    pub created_at: i64,
    pub jobs: i64,
}

/// What on a site names a script, so it cannot be deleted: the groups that have it as a
/// policy and the security rules that run it, as (id, name), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptUses {
    pub policies: Vec<(i64, String)>,
    pub rules: Vec<(i64, String)>,
}

impl ScriptUses {
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.rules.is_empty()
    }
}

/// [`ScriptUses`] of a script on a site, on the caller's connection (a delete checks them in
/// its transaction).
pub(crate) async fn script_uses_in(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    script_id: i64,
) -> Result<ScriptUses> {
    let policies = sqlx::query_as(
        "SELECT DISTINCT g.id, g.name FROM associated_scripts a JOIN pc_groups g ON g.id = a.group_id
         WHERE a.script_id = $1 AND g.site_id = $2 ORDER BY g.name, g.id",
    )
    .bind(script_id)
    .bind(site_id)
    .fetch_all(&mut *conn)
    .await?;
    let rules = sqlx::query_as(
        "SELECT id, name FROM security_problems WHERE script_id = $1 AND site_id = $2
         ORDER BY name, id",
    )
    .bind(script_id)
    .bind(site_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ScriptUses { policies, rules })
}

/// A script's page: the current version's code and inputs, and every version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPage {
    pub row: ScriptRow,
    pub uid: Option<String>,
    pub code: String,
    pub inputs: Vec<Input>,
    pub versions: Vec<VersionLine>,
}

/// How the job list is filtered. Without a status, RESTARTED (RESOLVED) jobs are left out,
/// as upstream: their new job stands for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub batch: Option<i64>,
    pub pc: Option<i64>,
    pub group: Option<i64>,
}

/// A job on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    pub id: i64,
    pub batch_id: i64,
    pub script: String,
    pub created_by: String,
    pub pc_id: i64,
    pub pc_name: String,
    pub status: JobStatus,
    pub created_at: i64,
    /// The agent's own times, as it sent them.
    pub started: Option<String>,
    pub finished: Option<String>,
}

/// A parameter a job was given, as a person may see it: never a PASSWORD's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLine {
    pub name: String,
    pub value_type: String,
    /// The value; a FILE's name; `None` for a password.
    pub shown: Option<String>,
}

/// A job's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    pub line: JobLine,
    pub script_id: i64,
    /// The script was deleted since: its name stays, its page is gone.
    pub script_deleted: bool,
    pub version: i64,
    pub log: Option<String>,
    pub restarted_as: Option<i64>,
    pub params: Vec<ParamLine>,
}

/// A batch's page: what ran, by whom, and where each of its jobs is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPage {
    pub id: i64,
    pub script: String,
    pub script_id: i64,
    /// The script was deleted since: its name stays, its page is gone.
    pub script_deleted: bool,
    pub version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub jobs: Vec<JobLine>,
}

impl BatchPage {
    /// How many of its jobs are in `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.jobs.iter().filter(|j| j.status == status).count()
    }

    /// Whether every job has an outcome (or was restarted).
    pub fn finished(&self) -> bool {
        self.jobs
            .iter()
            .all(|j| !matches!(j.status, JobStatus::New | JobStatus::Submitted))
    }
}

/// The LIKE pattern for "contains `text`", with the pattern's own characters escaped.
pub(crate) fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

const JOB_COLUMNS: &str = "j.id, j.batch_id, b.name AS script, b.created_by, j.pc_id,
        p.name AS pc_name, j.status, j.created_at, j.started, j.finished";

const JOB_FROM: &str = "jobs j JOIN batches b ON b.id = j.batch_id JOIN pcs p ON p.id = j.pc_id";

fn job_line(r: &sqlx::any::AnyRow) -> Result<JobLine> {
    Ok(JobLine {
        id: r.try_get("id")?,
        batch_id: r.try_get("batch_id")?,
        script: r.try_get("script")?,
        created_by: r.try_get("created_by")?,
        pc_id: r.try_get("pc_id")?,
        pc_name: r.try_get("pc_name")?,
        status: JobStatus::from_db(&r.try_get::<String, _>("status")?)?,
        created_at: r.try_get("created_at")?,
        started: r.try_get("started")?,
        finished: r.try_get("finished")?,
    })
}

impl Store {
    /// The scripts of a kind a site has (global and its own; never hidden or deleted ones), by
    /// name: for [`ScriptKind::Normal`] the ones it may run as jobs.
    pub async fn script_rows(&self, site_id: i64, f: &ScriptFilter) -> Result<Vec<ScriptRow>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.description, s.category, s.site_id, v.version,
                    (SELECT COUNT(*) FROM inputs i WHERE i.script_version_id = v.id) AS inputs
             FROM scripts s JOIN script_versions v ON v.id = s.current_version_id
             WHERE (s.site_id IS NULL OR s.site_id = $1) AND s.is_hidden = 0 AND s.is_security = $6
               AND s.deleted_at IS NULL
               AND ($2 = '' OR lower(s.name) LIKE $3 ESCAPE '\\' OR lower(s.description) LIKE $3 ESCAPE '\\')
               AND ($4 = '' OR s.category = $4)
               AND ($5 = 0 OR ($5 = 1 AND s.site_id IS NULL) OR ($5 = 2 AND s.site_id IS NOT NULL))
             ORDER BY lower(s.name), s.id",
        )
        .bind(site_id)
        .bind(f.text.trim())
        .bind(contains_pattern(&f.text))
        .bind(f.category.clone().unwrap_or_default())
        .bind(match f.origin {
            Origin::Both => 0_i64,
            Origin::Global => 1,
            Origin::Local => 2,
        })
        .bind(f.kind.is_security())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(script_row).collect()
    }

    /// The categories of the scripts of a kind a site has, for the filter's choices.
    pub async fn script_categories(&self, site_id: i64, kind: ScriptKind) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT category FROM scripts
             WHERE (site_id IS NULL OR site_id = $1) AND is_hidden = 0 AND is_security = $2
               AND deleted_at IS NULL AND category IS NOT NULL AND category <> '' ORDER BY category",
        )
        .bind(site_id)
        .bind(kind.is_security())
        .fetch_all(self.pool())
        .await?)
    }

    /// A script of the kind the site has (not hidden, not deleted), with its code, inputs and
    /// versions; `None` for a script of the other kind.
    pub async fn script_page(
        &self,
        site_id: i64,
        kind: ScriptKind,
        script_id: i64,
    ) -> Result<Option<ScriptPage>> {
        let Some(r) = sqlx::query(
            "SELECT s.id, s.name, s.description, s.category, s.site_id, s.uid, v.version,
                    v.executable_code, v.id AS version_id,
                    (SELECT COUNT(*) FROM inputs i WHERE i.script_version_id = v.id) AS inputs
             FROM scripts s JOIN script_versions v ON v.id = s.current_version_id
             WHERE s.id = $1 AND (s.site_id IS NULL OR s.site_id = $2)
               AND s.is_hidden = 0 AND s.is_security = $3 AND s.deleted_at IS NULL",
        )
        .bind(script_id)
        .bind(site_id)
        .bind(kind.is_security())
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let row = script_row(&r)?;
        let Some((_, _, inputs)) = self.script_for_site(site_id, script_id).await? else {
            return Ok(None);
        };
        // Jobs per version are counted on this site only: another site's runs of a global
        // script are not this site's business.
        let versions = sqlx::query(
            "SELECT v.id, v.version, v.created_at,
                    (SELECT COUNT(*) FROM jobs j JOIN batches b ON b.id = j.batch_id
                     WHERE b.script_version_id = v.id AND b.site_id = $2) AS jobs
             FROM script_versions v WHERE v.script_id = $1 ORDER BY v.version DESC",
        )
        .bind(script_id)
        .bind(site_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|v| {
            Ok(VersionLine {
                id: v.try_get("id")?,
                version: v.try_get("version")?,
                created_at: v.try_get("created_at")?,
                jobs: v.try_get("jobs")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(ScriptPage {
            row,
            uid: r.try_get("uid")?,
            code: r.try_get("executable_code")?,
            inputs,
            versions,
        }))
    }

    /// What on the site names a script (its groups' policies, its security rules).
    pub async fn script_uses(&self, site_id: i64, script_id: i64) -> Result<ScriptUses> {
        let mut conn = self.reader().await?;
        script_uses_in(&mut conn, site_id, script_id).await
    }

    /// One page of a site's jobs, newest first, and how many match (at most [`COUNT_CAP`]).
    pub async fn job_rows(
        &self,
        site_id: i64,
        f: &JobFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<JobLine>, i64)> {
        let mut conditions = vec!["j.site_id = $1".to_owned()];
        conditions.push(match f.status {
            Some(_) => "j.status = $2".to_owned(),
            None => "j.status <> $2".to_owned(),
        });
        if f.batch.is_some() {
            conditions.push("j.batch_id = $3".to_owned());
        }
        if f.pc.is_some() {
            conditions.push("j.pc_id = $4".to_owned());
        }
        if f.group.is_some() {
            conditions.push(
                "j.pc_id IN (SELECT m.pc_id FROM pc_group_members m WHERE m.group_id = $5)"
                    .to_owned(),
            );
        }
        let filter_sql = conditions.join(" AND ");
        // Every placeholder is bound whether or not its condition is there, so the numbers
        // stay put.
        let bind = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(site_id)
                .bind(f.status.unwrap_or(JobStatus::Resolved).as_str())
                .bind(f.batch.unwrap_or(0))
                .bind(f.pc.unwrap_or(0))
                .bind(f.group.unwrap_or(0))
        };
        let count: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs j WHERE {filter_sql} LIMIT $6) AS n"
        ))))
        .bind(COUNT_CAP + 1)
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE {filter_sql} ORDER BY j.created_at DESC, j.id DESC LIMIT $6 OFFSET $7"
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let lines = rows.iter().map(job_line).collect::<Result<Vec<_>>>()?;
        Ok((lines, count))
    }

    /// A job of the site with its log and parameters.
    pub async fn job_page(&self, site_id: i64, job_id: i64) -> Result<Option<JobPage>> {
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS}, j.log_output, j.restarted_as, v.version, v.script_id,
                    v.id AS version_id, s.deleted_at
             FROM {JOB_FROM} JOIN script_versions v ON v.id = b.script_version_id
             JOIN scripts s ON s.id = v.script_id
             WHERE j.id = $1 AND j.site_id = $2"
        )))
        .bind(job_id)
        .bind(site_id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let line = job_line(&r)?;
        let version_id: i64 = r.try_get("version_id")?;
        let params = sqlx::query(
            "SELECT i.name, p.value_type, p.string_value, f.name AS file_name
             FROM batch_parameters p
             JOIN inputs i ON i.script_version_id = $2 AND i.position = p.position
             LEFT JOIN files f ON f.id = p.file_id
             WHERE p.batch_id = $1 ORDER BY p.position",
        )
        .bind(line.batch_id)
        .bind(version_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|p| {
            let value_type: String = p.try_get("value_type")?;
            let shown = match value_type.as_str() {
                "PASSWORD" => None,
                "FILE" => p.try_get("file_name")?,
                _ => p.try_get("string_value")?,
            };
            Ok(ParamLine {
                name: p.try_get("name")?,
                value_type,
                shown,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(JobPage {
            line,
            script_id: r.try_get("script_id")?,
            script_deleted: r.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
            version: r.try_get("version")?,
            log: r.try_get("log_output")?,
            restarted_as: r.try_get("restarted_as")?,
            params,
        }))
    }

    /// A batch of the site with all its jobs.
    pub async fn batch_page(&self, site_id: i64, batch_id: i64) -> Result<Option<BatchPage>> {
        let Some(r) = sqlx::query(
            "SELECT b.id, b.name, b.created_by, b.created_at, v.version, v.script_id, s.deleted_at
             FROM batches b JOIN script_versions v ON v.id = b.script_version_id
             JOIN scripts s ON s.id = v.script_id
             WHERE b.id = $1 AND b.site_id = $2",
        )
        .bind(batch_id)
        .bind(site_id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let jobs = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.batch_id = $1 AND j.site_id = $2 ORDER BY p.name, j.id"
        )))
        .bind(batch_id)
        .bind(site_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(job_line)
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(BatchPage {
            id: r.try_get("id")?,
            script: r.try_get("name")?,
            script_id: r.try_get("script_id")?,
            script_deleted: r.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
            version: r.try_get("version")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            jobs,
        }))
    }

    /// The code of one version of a script (the caller has checked the site may see it).
    pub async fn script_code(&self, script_id: i64, version: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT executable_code FROM script_versions WHERE script_id = $1 AND version = $2",
        )
        .bind(script_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The site's activated PCs as (id, name), by name (the order of the `pcs_site` index,
    /// so the first `limit` of a large site come without sorting it): what the run wizard
    /// and the job list's filter offer.
    pub async fn runnable_pcs(&self, site_id: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, name FROM pcs WHERE site_id = $1 AND is_activated <> 0
             ORDER BY name, id LIMIT $2",
        )
        .bind(site_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

impl Store {
    /// What the run wizard runs on: the PCs among `pc_ids` and the members of the groups among
    /// `group_ids`, sorted, each once; `None` if any id is not the site's (a forged id is "not
    /// found", not a smaller run). A few queries however many are chosen (the wizard lists up
    /// to 2,000 PCs).
    pub async fn wizard_targets(
        &self,
        site_id: i64,
        pc_ids: &[i64],
        group_ids: &[i64],
    ) -> Result<Option<Vec<i64>>> {
        let mut conn = self.reader().await?;
        let mut pcs = Vec::with_capacity(pc_ids.len());
        for (table, ids) in [("pcs", pc_ids), ("pc_groups", group_ids)] {
            for chunk in ids.chunks(CHUNK) {
                let sql = format!(
                    "SELECT COUNT(*) FROM {table} WHERE site_id = $1 AND id IN ({})",
                    super::placeholders(2, chunk.len())
                );
                let found: i64 = super::operator::bind_all(
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(site_id),
                    chunk,
                )
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
                if usize::try_from(found).ok() != Some(chunk.len()) {
                    return Ok(None);
                }
            }
        }
        pcs.extend_from_slice(pc_ids);
        for chunk in group_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT pc_id FROM pc_group_members WHERE group_id IN ({})",
                super::placeholders(1, chunk.len())
            );
            let rows = super::operator::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk)
                .fetch_all(&mut *conn)
                .await?;
            for r in &rows {
                pcs.push(r.try_get(0)?);
            }
        }
        pcs.sort_unstable();
        pcs.dedup();
        Ok(Some(pcs))
    }
}

/// Ids bound per query: well under SQLite's and PostgreSQL's limits on parameters.
const CHUNK: usize = 500;

fn script_row(r: &sqlx::any::AnyRow) -> Result<ScriptRow> {
    Ok(ScriptRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        category: r.try_get("category")?,
        global: r.try_get::<Option<i64>, _>("site_id")?.is_none(),
        version: r.try_get("version")?,
        inputs: r.try_get("inputs")?,
    })
}
