//! Group policies (upstream's "tilknyttede scripts"): scripts that keep a group's PCs set up.
//! A policy runs on every member when it is added, on a PC when it joins the group (the
//! group's policies in their order), and again on every member when its parameters change (if
//! the site says so: `rerun_asc`). Removing one does not undo what it did — the same as
//! upstream, and said in the operator docs. A policy's files are its own rows in `files`:
//! kept while it uses them, deleted when it no longer does (a run has copies of its own).

use super::Result;
use super::Store;
use super::access::Scope;
use super::audit::{Record, record_in};
use super::groups::group_site_in;
use super::jobs::{Batch, CheckedParam, Input, ParamValue, RunScript, checked_params};
use service_kit::db::now_ms;
use sqlx::Row as _;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyRun {
    pub policy_id: i64,
    pub job_ids: Vec<i64>,
}

/// A policy's parameter value as stored: its text, or the name of its file (whose content
/// stays in the database). A PASSWORD's text is here as it is: a page must never show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredParam {
    pub text: Option<String>,
    pub file_name: Option<String>,
    file_id: Option<i64>,
}

/// A group's policy script with its parameter values, for the form that changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDetail {
    pub id: i64,
    pub group_id: i64,
    pub script_id: i64,
    pub script: String,
    pub position: i64,
    /// By the script's parameter positions.
    pub params: Vec<StoredParam>,
}

async fn stored_params_in(
    conn: &mut sqlx::AnyConnection,
    policy_id: i64,
) -> Result<Vec<StoredParam>> {
    let rows = sqlx::query(
        "SELECT p.string_value, p.file_id, f.name FROM associated_script_parameters p
         LEFT JOIN files f ON f.id = p.file_id WHERE p.associated_script_id = $1 ORDER BY p.position",
    )
    .bind(policy_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(StoredParam {
                text: r.try_get(0)?,
                file_id: r.try_get(1)?,
                file_name: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The values to check, each [`ParamValue::Kept`] replaced by what is stored at its position,
/// and by position the stored file a value keeps. A kept file stands in by its name only (its
/// content is not read): it was checked when it came, and the policy goes on using its row.
/// Keeping a file for what is now not a FILE parameter (a newer version of the script) keeps
/// nothing, so the check asks for a value.
fn with_kept(
    inputs: &[Input],
    params: &[ParamValue],
    stored: &[StoredParam],
) -> (Vec<ParamValue>, Vec<Option<i64>>) {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if *p != ParamValue::Kept {
                return (p.clone(), None);
            }
            let is_file = inputs
                .get(i)
                .is_some_and(|input| input.value_type == "FILE");
            match stored.get(i) {
                Some(StoredParam {
                    file_id: Some(id),
                    file_name: Some(name),
                    ..
                }) if is_file => (
                    ParamValue::File {
                        name: name.clone(),
                        data: Vec::new(),
                    },
                    Some(*id),
                ),
                Some(s) => (ParamValue::Text(s.text.clone().unwrap_or_default()), None),
                None => (ParamValue::Text(String::new()), None),
            }
        })
        .unzip()
}

/// Deletes the files of `ids` that no policy and no run uses any more.
async fn delete_unused_files(conn: &mut sqlx::AnyConnection, ids: &[i64]) -> Result<()> {
    for id in ids {
        sqlx::query(
            "DELETE FROM files WHERE id = $1
               AND NOT EXISTS (SELECT 1 FROM associated_script_parameters WHERE file_id = $1)
               AND NOT EXISTS (SELECT 1 FROM batch_parameters WHERE file_id = $1)",
        )
        .bind(*id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    async fn policy_params(&self, policy_id: i64) -> Result<Vec<ParamValue>> {
        /// (text, file name, file content)
        type Stored = (Option<String>, Option<String>, Option<Vec<u8>>);
        let rows: Vec<Stored> = sqlx::query_as(
            "SELECT p.string_value, f.name, f.data FROM associated_script_parameters p
             LEFT JOIN files f ON f.id = p.file_id WHERE p.associated_script_id = $1 ORDER BY p.position",
        )
        .bind(policy_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(text, name, data)| match (name, data) {
                (Some(name), Some(data)) => ParamValue::File { name, data },
                _ => ParamValue::Text(text.unwrap_or_default()),
            })
            .collect())
    }

    async fn run_policy_on(
        &self,
        site_id: i64,
        policy_id: i64,
        script_id: i64,
        pc_ids: &[i64],
        by: &str,
    ) -> Result<Vec<i64>> {
        if pc_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params = self.policy_params(policy_id).await?;
        let Batch { job_ids, .. } = self
            .run_script(RunScript {
                site_id,
                script_id,
                pc_ids,
                params,
                created_by: by,
            })
            .await?;
        Ok(job_ids)
    }

    /// Replaces a policy's parameters with `params`; where `kept_files` names a stored file
    /// for a position, that file stays instead of a new one. Files the policy no longer uses
    /// are deleted.
    async fn store_policy_params(
        &self,
        tx: &mut sqlx::AnyConnection,
        site_id: i64,
        policy_id: i64,
        params: &[CheckedParam],
        kept_files: &[Option<i64>],
    ) -> Result<()> {
        let before: Vec<i64> = stored_params_in(&mut *tx, policy_id)
            .await?
            .into_iter()
            .filter_map(|p| p.file_id)
            .collect();
        sqlx::query("DELETE FROM associated_script_parameters WHERE associated_script_id = $1")
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        for (pos, p) in params.iter().enumerate() {
            let kept = kept_files.get(pos).copied().flatten();
            let file_id = match (&p.file, kept) {
                (_, Some(id)) => Some(id),
                (Some((name, data)), None) => Some(
                    sqlx::query_scalar::<_, i64>(
                        "INSERT INTO files (site_id, name, size, data, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(site_id)
                    .bind(name)
                    .bind(data.len() as i64)
                    .bind(data.clone())
                    .bind(now_ms())
                    .fetch_one(&mut *tx)
                    .await?,
                ),
                (None, None) => None,
            };
            sqlx::query(
                "INSERT INTO associated_script_parameters (associated_script_id, position, string_value, file_id)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(policy_id)
            .bind(pos as i64)
            .bind(p.text.as_deref())
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
        }
        let dropped: Vec<i64> = before
            .into_iter()
            .filter(|id| !kept_files.contains(&Some(*id)))
            .collect();
        delete_unused_files(tx, &dropped).await
    }

    /// Adds a policy to a group (last in order) and runs it on every member. `None` if the
    /// group or the script is not within `scope`.
    pub async fn add_policy(
        &self,
        scope: &Scope,
        group_id: i64,
        script_id: i64,
        params: &[ParamValue],
    ) -> Result<Option<PolicyRun>> {
        let mut conn = self.reader().await?;
        let Some(site) = group_site_in(&mut conn, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        drop(conn);
        let Some((_, _, inputs)) = self.script_for_site(site, script_id).await? else {
            return Ok(None);
        };
        self.check_runnable_as_job(script_id).await?;
        let checked = checked_params(&inputs, params)?;
        let mut tx = self.db.begin_write().await?;
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MAX(position) FROM associated_scripts WHERE group_id = $1")
                .bind(group_id)
                .fetch_one(&mut *tx)
                .await?;
        let policy_id: i64 = sqlx::query_scalar(
            "INSERT INTO associated_scripts (group_id, script_id, position) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(group_id)
        .bind(script_id)
        .bind(next.map_or(0, |n| n + 1))
        .fetch_one(&mut *tx)
        .await?;
        self.store_policy_params(&mut tx, site, policy_id, &checked, &[])
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "policy.add",
                target: &format!("group:{group_id} policy:{policy_id} script:{script_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let members = self.group_pc_ids_by_id(group_id).await?;
        let job_ids = self
            .run_policy_on(site, policy_id, script_id, &members, &scope.actor)
            .await?;
        Ok(Some(PolicyRun { policy_id, job_ids }))
    }

    /// Takes a policy script off its group. What it did on the PCs stays (as upstream: a
    /// script cannot be undone by not running it). `None` if the policy is not the group's
    /// or the group not within `scope`.
    pub async fn remove_policy(
        &self,
        scope: &Scope,
        group_id: i64,
        policy_id: i64,
    ) -> Result<Option<()>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let script: Option<i64> = sqlx::query_scalar(
            "SELECT script_id FROM associated_scripts WHERE id = $1 AND group_id = $2",
        )
        .bind(policy_id)
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(script_id) = script else {
            return Ok(None);
        };
        // No parameters and no file kept: what remains are the files to delete.
        self.store_policy_params(&mut tx, site, policy_id, &[], &[])
            .await?;
        sqlx::query("DELETE FROM associated_scripts WHERE id = $1")
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "policy.remove",
                target: &format!("group:{group_id} policy:{policy_id} script:{script_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// A group's policy with its stored parameter values; `None` if the group is not within
    /// `sites` or the policy not the group's.
    pub async fn policy(
        &self,
        sites: &[i64],
        group_id: i64,
        policy_id: i64,
    ) -> Result<Option<PolicyDetail>> {
        let mut conn = self.reader().await?;
        if group_site_in(&mut conn, sites, group_id).await?.is_none() {
            return Ok(None);
        }
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT a.script_id, s.name, a.position FROM associated_scripts a
             JOIN scripts s ON s.id = a.script_id WHERE a.id = $1 AND a.group_id = $2",
        )
        .bind(policy_id)
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((script_id, script, position)) = row else {
            return Ok(None);
        };
        let params = stored_params_in(&mut conn, policy_id).await?;
        Ok(Some(PolicyDetail {
            id: policy_id,
            group_id,
            script_id,
            script,
            position,
            params,
        }))
    }

    /// Moves a policy one place earlier (`up`) or later in its group's order, which is the
    /// order the policies run in on a PC that joins: it trades places with its neighbour.
    /// `Some(false)` if it is first (last) already, and nothing changes; `None` if the
    /// policy is not the group's or the group not within `scope`.
    pub async fn move_policy(
        &self,
        scope: &Scope,
        group_id: i64,
        policy_id: i64,
        up: bool,
    ) -> Result<Option<bool>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let mine: Option<(i64, i64)> = sqlx::query_as(
            "SELECT script_id, position FROM associated_scripts WHERE id = $1 AND group_id = $2",
        )
        .bind(policy_id)
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((script_id, position)) = mine else {
            return Ok(None);
        };
        let neighbour = if up {
            "SELECT id, position FROM associated_scripts WHERE group_id = $1 AND position < $2
             ORDER BY position DESC LIMIT 1"
        } else {
            "SELECT id, position FROM associated_scripts WHERE group_id = $1 AND position > $2
             ORDER BY position LIMIT 1"
        };
        let other: Option<(i64, i64)> = sqlx::query_as(neighbour)
            .bind(group_id)
            .bind(position)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((other_id, other_position)) = other else {
            return Ok(Some(false));
        };
        // (group, position) is unique and checked row by row on PostgreSQL, so one of the
        // two steps aside first; positions are never negative otherwise.
        for (id, to) in [
            (policy_id, -1),
            (other_id, position),
            (policy_id, other_position),
        ] {
            sqlx::query("UPDATE associated_scripts SET position = $1 WHERE id = $2")
                .bind(to)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let detail = serde_json::json!({
            "before": {"position": position},
            "after": {"position": other_position},
        });
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "policy.move",
                target: &format!("group:{group_id} policy:{policy_id} script:{script_id}"),
                detail: Some(&detail),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Changes a policy's parameters; reruns it on every member when the site's `rerun_asc`
    /// is on (no jobs in the answer: it did not). [`ParamValue::Kept`] keeps a value as it
    /// is stored (a file, a password), read in the same transaction as the change. `None` if
    /// the policy is not within `scope`. (Parameter values are not put in the audit log: they
    /// may be passwords.)
    pub async fn set_policy_params(
        &self,
        scope: &Scope,
        policy_id: i64,
        params: &[ParamValue],
    ) -> Result<Option<PolicyRun>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT group_id, script_id FROM associated_scripts WHERE id = $1")
                .bind(policy_id)
                .fetch_optional(self.pool())
                .await?;
        let Some((group_id, script_id)) = row else {
            return Ok(None);
        };
        let mut conn = self.reader().await?;
        let Some(site) = group_site_in(&mut conn, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        drop(conn);
        let Some((_, _, inputs)) = self.script_for_site(site, script_id).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        let stored = stored_params_in(&mut tx, policy_id).await?;
        let (given, kept_files) = with_kept(&inputs, params, &stored);
        let checked = checked_params(&inputs, &given)?;
        self.store_policy_params(&mut tx, site, policy_id, &checked, &kept_files)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "policy.change",
                target: &format!("group:{group_id} policy:{policy_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let job_ids = if self.reruns_policies(site).await? {
            let members = self.group_pc_ids_by_id(group_id).await?;
            self.run_policy_on(site, policy_id, script_id, &members, &scope.actor)
                .await?
        } else {
            Vec::new()
        };
        Ok(Some(PolicyRun { policy_id, job_ids }))
    }

    /// Whether a change of a policy's parameters on the site runs it again on the group's
    /// members (the site's `rerun_asc`).
    pub async fn reruns_policies(&self, site_id: i64) -> Result<bool> {
        let rerun: Option<i64> = sqlx::query_scalar("SELECT rerun_asc FROM sites WHERE id = $1")
            .bind(site_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(rerun.is_some_and(|r| r != 0))
    }

    /// Runs a group's policies, in order, on a PC that has just joined it.
    pub(crate) async fn run_group_policies_on(
        &self,
        site_id: i64,
        group_id: i64,
        pc_id: i64,
        by: &str,
    ) -> Result<Vec<PolicyRun>> {
        let policies: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, script_id FROM associated_scripts WHERE group_id = $1 ORDER BY position",
        )
        .bind(group_id)
        .fetch_all(self.pool())
        .await?;
        let mut runs = Vec::new();
        for (policy_id, script_id) in policies {
            let job_ids = self
                .run_policy_on(site_id, policy_id, script_id, &[pc_id], by)
                .await?;
            runs.push(PolicyRun { policy_id, job_ids });
        }
        Ok(runs)
    }

    async fn group_pc_ids_by_id(&self, group_id: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT pc_id FROM pc_group_members WHERE group_id = $1 ORDER BY pc_id",
        )
        .bind(group_id)
        .fetch_all(self.pool())
        .await?)
    }
}
