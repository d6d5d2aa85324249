//! Scripts (with immutable versions), batches and jobs: what runs on PCs and what came back.
//!
//! Job lifecycle: NEW (waiting for the agent) → SUBMITTED (the agent confirmed it has it) →
//! DONE | FAILED (the agent's report) → RESOLVED (an operator restarted it as a new job).
//! Reports only move SUBMITTED jobs, so a duplicate report changes nothing.
//!
//! Security scripts run on PCs through security rules and hidden scripts only through the
//! portal's own features (wake plans), never as jobs an operator starts, as upstream: a
//! security script's events would name no rule, and a hidden one's arguments are the feature's.
//!
//! A deleted local script is only marked (`deleted_at`): its versions are what old batches ran,
//! so they stay, and it can no longer be found, run, attached or named by a rule.

use super::access::Scope;
use super::audit::{Record, record_in};
use super::reports::ops_rollup::{Bind, Rollup};
use super::{Error, Field, Reason, Refusal, Result, conflict, ensure, refuse};
use super::{Store, placeholders};
use service_kit::db::now_ms;
use sha2::Digest as _;
use sqlx::Row as _;

/// The longest job log kept, as upstream (characters).
pub const MAX_LOG_CHARS: usize = 128_000;

pub const VALUE_TYPES: &[&str] = &[
    "STRING",
    "INT",
    "DATE",
    "FILE",
    "BOOLEAN",
    "TIME",
    "PASSWORD",
    "TEXT_FIELD",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInput {
    pub name: String,
    pub value_type: String,
    pub default_value: Option<String>,
    pub mandatory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScript {
    /// `None`: a global script, offered to every site.
    pub site_id: Option<i64>,
    pub uid: Option<String>,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    pub is_security: bool,
    pub is_hidden: bool,
    pub version: i64,
    pub code: String,
    pub inputs: Vec<NewInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptOutcome {
    Created,
    NewVersion,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SavedScript {
    pub script_id: i64,
    pub version_id: i64,
    pub outcome: ScriptOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub position: i64,
    pub name: String,
    pub value_type: String,
    pub default_value: Option<String>,
    pub mandatory: bool,
}

/// A parameter value given when running a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Text(String),
    File {
        name: String,
        data: Vec<u8>,
    },
    /// The value a group's policy has now, unchanged: how a form that never shows a stored
    /// file or password back says "keep it". Only a policy has values to keep; a run refuses it.
    Kept,
}

pub struct RunScript<'a> {
    pub site_id: i64,
    pub script_id: i64,
    pub pc_ids: &'a [i64],
    pub params: Vec<ParamValue>,
    pub created_by: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Batch {
    pub batch_id: i64,
    pub job_ids: Vec<i64>,
}

/// A NEW job as the agent receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJob {
    pub id: i64,
    pub script_name: String,
    pub code: String,
    pub params: Vec<PendingParam>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingParam {
    pub position: i64,
    pub value_type: String,
    pub string_value: String,
    /// For FILE parameters with a file: the file's name.
    pub file_name: Option<String>,
}

/// Where a job is: NEW → SUBMITTED (the agent confirmed it has it) → DONE | FAILED (its
/// report); RESOLVED once an operator restarted it. The text is the same in `jobs.status`, on
/// the agent protocol and in the operator API, and is written and read only here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    New,
    Submitted,
    Done,
    Failed,
    Resolved,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::New,
        JobStatus::Submitted,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::Resolved,
    ];

    /// The text, as stored and as agents and operators read it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::New => "NEW",
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::Done => "DONE",
            JobStatus::Failed => "FAILED",
            JobStatus::Resolved => "RESOLVED",
        }
    }

    /// The status spelled `text` as stored ([`JobStatus::as_str`]), if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A status as `jobs.status` holds it; text this version does not know is an error.
    pub fn from_db(text: &str) -> Result<Self> {
        Self::parse(text).ok_or_else(|| Error::UnknownValue {
            column: "jobs.status",
            value: text.to_owned(),
        })
    }

    /// The outcome an agent reports for a job: DONE or FAILED, nothing else.
    pub fn reported(text: &str) -> Option<Self> {
        [JobStatus::Done, JobStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether the job has ended (DONE or FAILED), so it may be restarted.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The CLI's `--status`: an operator writes the status as stored ([`JobStatus::as_str`]), and
/// clap refuses any other text, naming the option and listing these.
impl clap::ValueEnum for JobStatus {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobRow {
    pub id: i64,
    pub pc_uid: String,
    pub script_name: String,
    pub status: JobStatus,
    pub created_at: i64,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub log_output: Option<String>,
}

/// Checks one parameter value against its input's type; returns the string the agent gets.
pub fn normalize_param(input: &Input, raw: &str) -> Result<String, Refusal> {
    let refused = |reason| Refusal::new(param_field(input), reason);
    let raw_t = raw.trim();
    let value = || raw_t.to_owned();
    if raw_t.is_empty() {
        return if input.mandatory && input.value_type != "BOOLEAN" {
            Err(refused(Reason::Mandatory))
        } else if input.value_type == "BOOLEAN" {
            Ok("False".into())
        } else {
            Ok(String::new())
        };
    }
    match input.value_type.as_str() {
        "INT" => raw_t
            .parse::<i64>()
            .map(|i| i.to_string())
            .map_err(|_| refused(Reason::NotWholeNumber { value: value() })),
        "BOOLEAN" => match raw_t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "ja" => Ok("True".into()),
            "false" | "0" | "no" | "nej" => Ok("False".into()),
            _ => Err(refused(Reason::NotBoolean { value: value() })),
        },
        "DATE" => chrono::NaiveDate::parse_from_str(raw_t, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| refused(Reason::NotDate { value: value() })),
        "TIME" => chrono::NaiveTime::parse_from_str(raw_t, "%H:%M")
            .map(|t| t.format("%H:%M").to_string())
            .map_err(|_| {
                refused(Reason::NotTime {
                    value: value(),
                    like: "08:30",
                })
            }),
        "TEXT_FIELD" => {
            let choices: Vec<&str> = input
                .default_value
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if choices.is_empty() || choices.contains(&raw_t) {
                Ok(raw_t.to_owned())
            } else {
                Err(refused(Reason::NotAChoice {
                    value: value(),
                    list: choices.join(", "),
                }))
            }
        }
        "FILE" => Err(refused(Reason::FileNotText)),
        _ => Ok(raw.to_owned()),
    }
}

/// Gives the batches written around the store (the benches' seeds) the PCs their jobs were
/// made for, which `run_script` writes with each batch (migration 23).
#[cfg(feature = "tools")]
pub(crate) async fn count_batch_pcs(conn: &mut sqlx::AnyConnection) -> Result<()> {
    sqlx::query(
        "UPDATE batches SET pc_count = (SELECT COUNT(*) FROM jobs j WHERE j.batch_id = batches.id)",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The field of a refusal about `input`'s value.
fn param_field(input: &Input) -> Field {
    Field::Parameter {
        position: input.position + 1,
        name: input.name.clone(),
    }
}

/// A parameter value checked against its input: text, or a file (name, content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedParam {
    pub text: Option<String>,
    pub file: Option<(String, Vec<u8>)>,
}

/// Checks a whole parameter list against a script's inputs (count, types, mandatory).
pub fn checked_params(inputs: &[Input], params: &[ParamValue]) -> Result<Vec<CheckedParam>> {
    ensure!(
        params.len() == inputs.len(),
        "parameters",
        Reason::ParamCount {
            takes: inputs.len(),
            given: params.len()
        }
    );
    let mut values = Vec::with_capacity(inputs.len());
    for (input, p) in inputs.iter().zip(params) {
        values.push(match (input.value_type.as_str(), p) {
            ("FILE", ParamValue::File { name, data }) => {
                ensure!(
                    !name.is_empty() && !name.contains('/') && name.len() <= 200,
                    param_field(input),
                    Reason::FileName { max: 200 }
                );
                CheckedParam {
                    text: None,
                    file: Some((name.clone(), data.clone())),
                }
            }
            ("FILE", ParamValue::Text(t)) if t.is_empty() && !input.mandatory => CheckedParam {
                text: None,
                file: None,
            },
            (_, ParamValue::Text(t)) => CheckedParam {
                text: Some(normalize_param(input, t).map_err(Error::Invalid)?),
                file: None,
            },
            (_, ParamValue::File { .. }) => refuse!(
                param_field(input),
                Reason::NotAFile {
                    value_type: input.value_type.clone()
                }
            ),
            (_, ParamValue::Kept) => refuse!(param_field(input), Reason::NothingToKeep),
        });
    }
    Ok(values)
}

/// Removes PASSWORD values from a job log, whatever the agent did: they must never be stored.
pub fn scrub_passwords(log: &str, passwords: &[String]) -> String {
    let mut out = log.to_owned();
    for p in passwords.iter().filter(|p| p.len() > 1) {
        out = out.replace(p.as_str(), "*****");
    }
    if out.chars().count() > MAX_LOG_CHARS {
        out = out.chars().take(MAX_LOG_CHARS).collect();
    }
    out
}

/// A job's run time in ms from the agent's `started` and `finished` texts (its own local time,
/// `2026-11-22 22:02:08.227828`), read as Copenhagen time like every local time of the
/// reports, so a run over a change of the clock is its real length; `None` when either does
/// not read as a time or the run would end before it began (the texts are kept either way).
pub fn run_time_ms(started: &str, finished: &str) -> Option<i64> {
    use chrono::TimeZone as _;
    let instant = |s: &str| {
        let s = s.trim();
        let local = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())?;
        // A time the clock skipped (spring) has no instant: read it as the hour before.
        let at = super::reports::TIME_ZONE
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                super::reports::TIME_ZONE
                    .from_local_datetime(&(local - chrono::Duration::hours(1)))
                    .earliest()
            })?;
        Some(at.timestamp_micros())
    };
    let micros = instant(finished)? - instant(started)?;
    (micros >= 0).then_some(micros / 1000)
}

impl Store {
    /// Saves a script: a new one, a new version of one with the same uid (or, without uid,
    /// the same name in the same scope), or nothing when the code and inputs are unchanged.
    pub async fn save_script(&self, s: &NewScript) -> Result<SavedScript> {
        for (i, input) in s.inputs.iter().enumerate() {
            ensure!(
                VALUE_TYPES.contains(&input.value_type.as_str()),
                Field::Input {
                    position: i as i64 + 1,
                    name: input.name.clone()
                },
                Reason::TypeNotOneOf {
                    value: input.value_type.clone(),
                    list: VALUE_TYPES.join(", ")
                }
            );
        }
        let now = now_ms();
        let code_sha = {
            let mut h = sha2::Sha256::new();
            h.update(s.code.as_bytes());
            for i in &s.inputs {
                h.update(
                    format!(
                        "\0{}\0{}\0{:?}\0{}",
                        i.name, i.value_type, i.default_value, i.mandatory
                    )
                    .as_bytes(),
                );
            }
            hex::encode(h.finalize())
        };
        let mut tx = self.db.begin_write().await?;
        let existing: Option<(i64, Option<i64>)> = match &s.uid {
            Some(uid) => {
                sqlx::query_as(
                    "SELECT id, current_version_id FROM scripts
                     WHERE uid = $1 AND COALESCE(site_id, 0) = $2 AND deleted_at IS NULL",
                )
                .bind(uid)
                .bind(s.site_id.unwrap_or(0))
                .fetch_optional(&mut *tx)
                .await?
            }
            // A security script and a script run as jobs may share a name: the kind is part of
            // what a name means, so a new script of one kind never becomes a version of the
            // other's.
            None => {
                sqlx::query_as(
                    "SELECT id, current_version_id FROM scripts
                     WHERE uid IS NULL AND name = $1 AND COALESCE(site_id, 0) = $2
                       AND is_security = $3 AND deleted_at IS NULL",
                )
                .bind(&s.name)
                .bind(s.site_id.unwrap_or(0))
                .bind(i64::from(s.is_security))
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let (script_id, outcome) = match existing {
            Some((id, current)) => {
                let current_sha: Option<String> = match current {
                    Some(v) => {
                        sqlx::query_scalar("SELECT code_sha256 FROM script_versions WHERE id = $1")
                            .bind(v)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    None => None,
                };
                if current_sha.as_deref() == Some(code_sha.as_str()) {
                    tx.commit().await?;
                    return Ok(SavedScript {
                        script_id: id,
                        version_id: current.unwrap_or(0),
                        outcome: ScriptOutcome::Unchanged,
                    });
                }
                (id, ScriptOutcome::NewVersion)
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO scripts (site_id, uid, name, description, category, is_security, is_hidden, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                )
                .bind(s.site_id)
                .bind(s.uid.as_deref())
                .bind(&s.name)
                .bind(&s.description)
                .bind(s.category.as_deref())
                .bind(i64::from(s.is_security))
                .bind(i64::from(s.is_hidden))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                (id, ScriptOutcome::Created)
            }
        };
        let max_version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM script_versions WHERE script_id = $1")
                .bind(script_id)
                .fetch_one(&mut *tx)
                .await?;
        let version = match max_version {
            Some(m) if m >= s.version => m + 1,
            _ => s.version,
        };
        let version_id: i64 = sqlx::query_scalar(
            "INSERT INTO script_versions (script_id, version, executable_code, code_sha256, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(script_id)
        .bind(version)
        .bind(&s.code)
        .bind(&code_sha)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for (pos, i) in s.inputs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO inputs (script_version_id, position, name, value_type, default_value, mandatory)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(version_id)
            .bind(pos as i64)
            .bind(&i.name)
            .bind(&i.value_type)
            .bind(i.default_value.as_deref())
            .bind(i64::from(i.mandatory))
            .execute(&mut *tx)
            .await?;
        }
        // The category is the script's tag, as upstream files scripts under one.
        sqlx::query("DELETE FROM script_tags WHERE script_id = $1")
            .bind(script_id)
            .execute(&mut *tx)
            .await?;
        if let Some(tag) = &s.category {
            sqlx::query("INSERT INTO script_tags (script_id, tag) VALUES ($1, $2)")
                .bind(script_id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE scripts SET current_version_id = $1, name = $2, description = $3, category = $4,
             is_security = $5, is_hidden = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(version_id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.category.as_deref())
        .bind(i64::from(s.is_security))
        .bind(i64::from(s.is_hidden))
        .bind(now)
        .bind(script_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SavedScript {
            script_id,
            version_id,
            outcome,
        })
    }

    /// Deletes a local script of a site in `scope`: it leaves every list and can no longer be
    /// run, attached or named by a rule, while the batches and jobs that ran it keep it (the
    /// row is marked, not removed). Refused while a group has it as a policy or a security
    /// rule runs it, naming them. `None` if it is not a local script of the site (a global
    /// script is every site's and cannot be deleted from one).
    pub async fn delete_script(
        &self,
        scope: &Scope,
        site_id: i64,
        script_id: i64,
    ) -> Result<Option<()>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String, i64)> = sqlx::query_as(
            "SELECT name, is_security FROM scripts
             WHERE id = $1 AND site_id = $2 AND is_hidden = 0 AND deleted_at IS NULL",
        )
        .bind(script_id)
        .bind(site_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name, is_security)) = found else {
            return Ok(None);
        };
        // A local script can only be attached or named on its own site (`add_policy` and
        // the rules check), so the site's uses are all of them.
        let uses = super::job_views::script_uses_in(&mut tx, site_id, script_id).await?;
        if !uses.is_empty() {
            let quoted = |named: &[(i64, String)]| {
                named
                    .iter()
                    .map(|(id, n)| format!("{n:?} ({id})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            conflict!(
                "script",
                Reason::ScriptInUse {
                    name: name.clone(),
                    policies: quoted(&uses.policies),
                    rules: quoted(&uses.rules),
                }
            );
        }
        sqlx::query("UPDATE scripts SET deleted_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(script_id)
            .execute(&mut *tx)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "script.delete",
                target: &format!(
                    "{}script:{script_id} ({name})",
                    if is_security != 0 { "security-" } else { "" }
                ),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// The inputs of a script's current version, if the script is visible to the site (its
    /// own or global) and not deleted.
    pub async fn script_for_site(
        &self,
        site_id: i64,
        script_id: i64,
    ) -> Result<Option<(i64, String, Vec<Input>)>> {
        let row: Option<(Option<i64>, String)> = sqlx::query_as(
            "SELECT current_version_id, name FROM scripts
             WHERE id = $1 AND (site_id IS NULL OR site_id = $2) AND deleted_at IS NULL",
        )
        .bind(script_id)
        .bind(site_id)
        .fetch_optional(self.pool())
        .await?;
        let Some((Some(version_id), name)) = row else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT position, name, value_type, default_value, mandatory FROM inputs
             WHERE script_version_id = $1 ORDER BY position",
        )
        .bind(version_id)
        .fetch_all(self.pool())
        .await?;
        let inputs = rows
            .iter()
            .map(|r| {
                Ok(Input {
                    position: r.try_get("position")?,
                    name: r.try_get("name")?,
                    value_type: r.try_get("value_type")?,
                    default_value: r.try_get("default_value")?,
                    mandatory: r.try_get::<i64, _>("mandatory")? != 0,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some((version_id, name, inputs)))
    }

    /// Refuses a script an operator may not run as a job: security and hidden scripts.
    pub async fn check_runnable_as_job(&self, script_id: i64) -> Result<()> {
        self.check_runnable(script_id, false).await
    }

    async fn check_runnable(&self, script_id: i64, hidden_allowed: bool) -> Result<()> {
        let flags: Option<(i64, i64)> =
            sqlx::query_as("SELECT is_security, is_hidden FROM scripts WHERE id = $1")
                .bind(script_id)
                .fetch_optional(self.pool())
                .await?;
        match flags {
            Some((security, _)) if security != 0 => {
                refuse!("script", Reason::SecurityScriptNotJob { id: script_id })
            }
            Some((_, hidden)) if hidden != 0 && !hidden_allowed => {
                refuse!("script", Reason::HiddenScriptNotJob { id: script_id })
            }
            _ => Ok(()),
        }
    }

    /// Creates one batch and one NEW job per PC, all or nothing. The PCs must be the site's;
    /// security and hidden scripts are refused ([`Store::check_runnable_as_job`]).
    pub async fn run_script(&self, run: RunScript<'_>) -> Result<Batch> {
        self.run_checked(run, false).await
    }

    /// [`Store::run_script`] for the portal's own features, which may run hidden scripts
    /// (security scripts are still refused).
    pub async fn run_feature_script(&self, run: RunScript<'_>) -> Result<Batch> {
        self.run_checked(run, true).await
    }

    async fn run_checked(&self, run: RunScript<'_>, hidden_allowed: bool) -> Result<Batch> {
        let Some((_, _, inputs)) = self.script_for_site(run.site_id, run.script_id).await? else {
            refuse!("script", Reason::NoScript { id: run.script_id });
        };
        self.check_runnable(run.script_id, hidden_allowed).await?;
        let values = checked_params(&inputs, &run.params)?;
        self.create_jobs(run, values, hidden_allowed).await
    }

    /// A feature's run with parameter values the portal made itself, as the script expects
    /// them (a wake plan's arguments, where "no exceptions" is an empty mandatory value), one
    /// per input. Hidden scripts allowed.
    pub(crate) async fn run_script_with(
        &self,
        run: RunScript<'_>,
        values: Vec<CheckedParam>,
    ) -> Result<Batch> {
        self.create_jobs(run, values, true).await
    }

    async fn create_jobs(
        &self,
        run: RunScript<'_>,
        values: Vec<CheckedParam>,
        hidden_allowed: bool,
    ) -> Result<Batch> {
        let Some((version_id, name, inputs)) =
            self.script_for_site(run.site_id, run.script_id).await?
        else {
            refuse!("script", Reason::NoScript { id: run.script_id });
        };
        self.check_runnable(run.script_id, hidden_allowed).await?;
        ensure!(!run.pc_ids.is_empty(), "pcs", Reason::GivePcs);
        ensure!(
            values.len() == inputs.len(),
            "parameters",
            Reason::ParamCount {
                takes: inputs.len(),
                given: values.len()
            }
        );
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let ph = placeholders(2, run.pc_ids.len());
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM pcs WHERE site_id = $1 AND id IN ({ph})"
        )))
        .bind(run.site_id);
        for id in run.pc_ids {
            q = q.bind(*id);
        }
        let found = q.fetch_one(&mut *tx).await?;
        ensure!(
            found as usize == run.pc_ids.len(),
            "pcs",
            Reason::PcsNotOnSite
        );
        let batch_id: i64 = sqlx::query_scalar(
            "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at, pc_count)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(run.site_id)
        .bind(version_id)
        .bind(&name)
        .bind(run.created_by)
        .bind(now)
        .bind(run.pc_ids.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        for (input, CheckedParam { text, file }) in inputs.iter().zip(values) {
            let file_id = match file {
                Some((fname, data)) => Some(
                    sqlx::query_scalar::<_, i64>(
                        "INSERT INTO files (site_id, name, size, data, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(run.site_id)
                    .bind(&fname)
                    .bind(data.len() as i64)
                    .bind(data)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?,
                ),
                None => None,
            };
            sqlx::query(
                "INSERT INTO batch_parameters (batch_id, position, value_type, string_value, file_id)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(batch_id)
            .bind(input.position)
            .bind(&input.value_type)
            .bind(text)
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
        }
        let mut job_ids = Vec::with_capacity(run.pc_ids.len());
        for pc in run.pc_ids {
            job_ids.push(
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(batch_id)
                .bind(*pc)
                .bind(run.site_id)
                .bind(JobStatus::New.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
            );
        }
        Rollup::Jobs
            .add(&mut tx, "j.batch_id = $1", &[Bind::Int(batch_id)])
            .await?;
        tx.commit().await?;
        Ok(Batch { batch_id, job_ids })
    }

    /// A PC's NEW jobs with their code and parameters, oldest first.
    pub async fn pending_jobs(&self, pc_id: i64) -> Result<Vec<PendingJob>> {
        let rows = sqlx::query(
            "SELECT j.id, j.batch_id, b.name, v.executable_code FROM jobs j
             JOIN batches b ON b.id = j.batch_id
             JOIN script_versions v ON v.id = b.script_version_id
             WHERE j.pc_id = $1 AND j.status = $2 ORDER BY j.id",
        )
        .bind(pc_id)
        .bind(JobStatus::New.as_str())
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::with_capacity(rows.len());
        let mut batch_of = Vec::with_capacity(rows.len());
        for r in &rows {
            batch_of.push(r.try_get::<i64, _>("batch_id")?);
            jobs.push(PendingJob {
                id: r.try_get("id")?,
                script_name: r.try_get("name")?,
                code: r.try_get("executable_code")?,
                params: Vec::new(),
            });
        }
        let mut batches = batch_of.clone();
        batches.sort_unstable();
        batches.dedup();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT p.batch_id, p.position, p.value_type, p.string_value, f.name AS file_name
             FROM batch_parameters p LEFT JOIN files f ON f.id = p.file_id
             WHERE p.batch_id IN ({}) ORDER BY p.batch_id, p.position",
            placeholders(1, batches.len())
        )));
        for b in &batches {
            q = q.bind(*b);
        }
        let params = q.fetch_all(self.pool()).await?;
        for p in &params {
            let batch: i64 = p.try_get("batch_id")?;
            let param = PendingParam {
                position: p.try_get("position")?,
                value_type: p.try_get("value_type")?,
                string_value: p
                    .try_get::<Option<String>, _>("string_value")?
                    .unwrap_or_default(),
                file_name: p.try_get("file_name")?,
            };
            for (job, b) in jobs.iter_mut().zip(&batch_of) {
                if *b == batch {
                    job.params.push(param.clone());
                }
            }
        }
        Ok(jobs)
    }

    /// NEW → SUBMITTED for the PC's own jobs among `ids`.
    pub async fn confirm_jobs(&self, pc_id: i64, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = $1, submitted_at = $2
             WHERE pc_id = $3 AND status = $4 AND id IN ({})",
            placeholders(5, ids.len())
        )))
        .bind(JobStatus::Submitted.as_str())
        .bind(now_ms())
        .bind(pc_id)
        .bind(JobStatus::New.as_str());
        for id in ids {
            q = q.bind(*id);
        }
        let touched = format!("j.pc_id = $1 AND j.id IN ({})", placeholders(2, ids.len()));
        let binds: Vec<Bind> = std::iter::once(pc_id)
            .chain(ids.iter().copied())
            .map(Bind::Int)
            .collect();
        let mut tx = self.db.begin_write().await?;
        Rollup::Jobs.take(&mut tx, &touched, &binds).await?;
        let n = q.execute(&mut *tx).await?.rows_affected();
        Rollup::Jobs.add(&mut tx, &touched, &binds).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Stores an agent's report of one of its SUBMITTED jobs; `false` (nothing changed) for
    /// a job that is not the PC's or not SUBMITTED (a duplicate report).
    pub async fn report_job(
        &self,
        pc_id: i64,
        job_id: i64,
        status: JobStatus,
        started: Option<&str>,
        finished: Option<&str>,
        log_output: &str,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let passwords: Vec<String> = sqlx::query_scalar(
            "SELECT p.string_value FROM batch_parameters p JOIN jobs j ON j.batch_id = p.batch_id
             WHERE j.id = $1 AND j.pc_id = $2 AND p.value_type = 'PASSWORD' AND p.string_value IS NOT NULL",
        )
        .bind(job_id)
        .bind(pc_id)
        .fetch_all(&mut *tx)
        .await?;
        let log = scrub_passwords(log_output, &passwords);
        let (started, finished) = (
            started.filter(|s| !s.is_empty()),
            finished.filter(|s| !s.is_empty()),
        );
        let duration = started.zip(finished).and_then(|(s, f)| run_time_ms(s, f));
        let touched = [Bind::Int(job_id), Bind::Int(pc_id)];
        Rollup::Jobs
            .take(&mut tx, "j.id = $1 AND j.pc_id = $2", &touched)
            .await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, started = COALESCE($2, started), finished = COALESCE($3, finished),
             log_output = $4, reported_at = $5, duration_ms = $9
             WHERE id = $6 AND pc_id = $7 AND status = $8",
        )
        .bind(status.as_str())
        .bind(started)
        .bind(finished)
        .bind(log)
        .bind(now_ms())
        .bind(job_id)
        .bind(pc_id)
        .bind(JobStatus::Submitted.as_str())
        .bind(duration)
        .execute(&mut *tx)
        .await?;
        Rollup::Jobs
            .add(&mut tx, "j.id = $1 AND j.pc_id = $2", &touched)
            .await?;
        let changed = done.rows_affected() == 1;
        if changed {
            // The job has its files; their URLs stop working now.
            sqlx::query("DELETE FROM job_file_urls WHERE job_id = $1")
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Restarts a finished job (DONE or FAILED) of a site in `scope`: a new batch with the same
    /// script version and parameters and one NEW job, and the old job becomes RESOLVED — in
    /// one transaction. `Ok(None)` if there is no such job in scope.
    pub async fn restart_job(&self, scope: &[i64], job_id: i64, by: &str) -> Result<Option<i64>> {
        if scope.is_empty() {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT j.batch_id, j.pc_id, j.site_id, j.status FROM jobs j WHERE j.id = $1 AND j.site_id IN ({})",
            placeholders(2, scope.len())
        )))
        .bind(job_id);
        for s in scope {
            q = q.bind(*s);
        }
        let Some((batch, pc, site, status)) = q.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let status = JobStatus::from_db(&status)?;
        if !status.is_finished() {
            conflict!(
                Field::Job(job_id),
                Reason::RestartUnfinished {
                    status: status.to_string()
                }
            );
        }
        let deleted: Option<i64> = sqlx::query_scalar(
            "SELECT s.deleted_at FROM batches b JOIN script_versions v ON v.id = b.script_version_id
             JOIN scripts s ON s.id = v.script_id WHERE b.id = $1",
        )
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?;
        if deleted.is_some() {
            conflict!(Field::Job(job_id), Reason::ScriptDeleted);
        }
        let now = now_ms();
        let new_batch: i64 = sqlx::query_scalar(
            "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at, pc_count)
             SELECT site_id, script_version_id, name, $1, $2, 1 FROM batches WHERE id = $3 RETURNING id",
        )
        .bind(by)
        .bind(now)
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO batch_parameters (batch_id, position, value_type, string_value, file_id)
             SELECT $1, position, value_type, string_value, file_id FROM batch_parameters WHERE batch_id = $2",
        )
        .bind(new_batch)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        let new_job: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(new_batch)
        .bind(pc)
        .bind(site)
        .bind(JobStatus::New.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        Rollup::Jobs
            .take(&mut tx, "j.id = $1", &[Bind::Int(job_id)])
            .await?;
        sqlx::query("UPDATE jobs SET status = $1, restarted_as = $2 WHERE id = $3")
            .bind(JobStatus::Resolved.as_str())
            .bind(new_job)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        Rollup::Jobs
            .add(
                &mut tx,
                "j.id IN ($1, $2)",
                &[Bind::Int(job_id), Bind::Int(new_job)],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(new_job))
    }

    /// A URL token for a job's FILE parameter, valid for at least `min_left_ms` more.
    pub async fn file_token(&self, job_id: i64, position: i64, ttl_ms: i64) -> Result<String> {
        let now = now_ms();
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT token FROM job_file_urls WHERE job_id = $1 AND position = $2 AND expires_at > $3
             ORDER BY expires_at DESC LIMIT 1",
        )
        .bind(job_id)
        .bind(position)
        .bind(now + ttl_ms / 2)
        .fetch_optional(self.pool())
        .await?;
        if let Some(t) = existing {
            return Ok(t);
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.write_one(
            sqlx::query(
                "INSERT INTO job_file_urls (token, job_id, position, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&token)
            .bind(job_id)
            .bind(position)
            .bind(now + ttl_ms),
        )
        .await?;
        Ok(token)
    }

    /// The file behind a token, while it is valid and its job not finished.
    pub async fn file_by_token(&self, token: &str) -> Result<Option<(String, Vec<u8>)>> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT f.name, f.data FROM job_file_urls u
             JOIN jobs j ON j.id = u.job_id
             JOIN batch_parameters p ON p.batch_id = j.batch_id AND p.position = u.position
             JOIN files f ON f.id = p.file_id
             WHERE u.token = $1 AND u.expires_at > $2 AND j.status IN ($3, $4)",
        )
        .bind(token)
        .bind(now_ms())
        .bind(JobStatus::New.as_str())
        .bind(JobStatus::Submitted.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row)
    }

    /// Jobs of a site, newest first, optionally only one status.
    pub async fn jobs(
        &self,
        site_id: i64,
        status: Option<JobStatus>,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(
            "SELECT j.id, p.uid AS pc_uid, b.name AS script_name, j.status, j.created_at, j.started, j.finished, j.log_output
             FROM jobs j JOIN pcs p ON p.id = j.pc_id JOIN batches b ON b.id = j.batch_id
             WHERE j.site_id = $1 AND ($2 = '' OR j.status = $2) ORDER BY j.id DESC LIMIT $3",
        )
        .bind(site_id)
        .bind(status.map_or("", JobStatus::as_str))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobRow {
                    id: r.try_get("id")?,
                    pc_uid: r.try_get("pc_uid")?,
                    script_name: r.try_get("script_name")?,
                    status: JobStatus::from_db(&r.try_get::<String, _>("status")?)?,
                    created_at: r.try_get("created_at")?,
                    started: r.try_get("started")?,
                    finished: r.try_get("finished")?,
                    log_output: r.try_get("log_output")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(t: &str, mandatory: bool, default: Option<&str>) -> Input {
        Input {
            position: 0,
            name: "x".into(),
            value_type: t.into(),
            default_value: default.map(Into::into),
            mandatory,
        }
    }

    #[test]
    fn parameters_are_checked_by_type() {
        assert_eq!(
            normalize_param(&input("INT", true, None), " 42 ").unwrap(),
            "42"
        );
        assert!(
            normalize_param(&input("INT", true, None), "4x")
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
        assert_eq!(
            normalize_param(&input("BOOLEAN", true, None), "ja").unwrap(),
            "True"
        );
        assert_eq!(
            normalize_param(&input("BOOLEAN", true, None), "").unwrap(),
            "False"
        );
        assert!(normalize_param(&input("DATE", true, None), "24-12-2026").is_err());
        assert_eq!(
            normalize_param(&input("TIME", true, None), "08:30").unwrap(),
            "08:30"
        );
        assert!(
            normalize_param(&input("STRING", true, None), "")
                .unwrap_err()
                .to_string()
                .contains("mandatory")
        );
        assert_eq!(
            normalize_param(&input("STRING", false, None), "").unwrap(),
            ""
        );
        let choice = input("TEXT_FIELD", true, Some("a, b"));
        assert_eq!(normalize_param(&choice, "b").unwrap(), "b");
        assert!(
            normalize_param(&choice, "c")
                .unwrap_err()
                .to_string()
                .contains("choices")
        );
    }

    #[test]
    fn run_times_are_read_in_copenhagen_time() {
        assert_eq!(
            run_time_ms("2026-11-22 22:02:08.227828", "2026-11-22 22:02:08.236561"),
            Some(8)
        );
        assert_eq!(
            run_time_ms("2026-11-22 22:02:08", "2026-11-22T22:03:10.5"),
            Some(62_500)
        );
        // On 29 March the clock jumps from 02:00 to 03:00: 01:30 to 03:30 is one hour.
        assert_eq!(
            run_time_ms("2026-03-29 01:30:00", "2026-03-29 03:30:00"),
            Some(3_600_000)
        );
        // 25 October: 02:30 comes twice; the first one is read.
        assert_eq!(
            run_time_ms("2026-10-25 01:30:00", "2026-10-25 03:30:00"),
            Some(3 * 3_600_000)
        );
        assert_eq!(
            run_time_ms("2026-11-22 22:02:09", "2026-11-22 22:02:08"),
            None
        );
        assert_eq!(run_time_ms("i går", "2026-11-22 22:02:08"), None);
    }

    #[test]
    fn passwords_never_reach_the_log() {
        let log = scrub_passwords("args [x, s3cret] s3cret", &["s3cret".into(), "1".into()]);
        assert_eq!(log, "args [x, *****] *****");
    }
}
