//! Group policies (upstream's "tilknyttede scripts"): scripts that keep a group's PCs set up.
//! A policy runs on every member when it is added, on a PC when it joins the group, and again
//! on every member when its parameters change (if the site says so: `rerun_asc`). Removing
//! one does not undo what it did — the same as upstream, and said in the operator docs.

use super::Result;
use super::Store;
use super::access::Scope;
use super::audit::{Record, record_in};
use super::groups::group_site_in;
use super::jobs::{Batch, ParamValue, RunScript, checked_params};
use service_kit::db::now_ms;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyRun {
    pub policy_id: i64,
    pub job_ids: Vec<i64>,
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

    async fn store_policy_params(
        &self,
        tx: &mut sqlx::AnyConnection,
        site_id: i64,
        policy_id: i64,
        params: &[super::jobs::CheckedParam],
    ) -> Result<()> {
        sqlx::query("DELETE FROM associated_script_parameters WHERE associated_script_id = $1")
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        for (pos, p) in params.iter().enumerate() {
            let file_id = match &p.file {
                Some((name, data)) => Some(
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
                None => None,
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
        Ok(())
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
        self.store_policy_params(&mut tx, site, policy_id, &checked)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
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
        sqlx::query("DELETE FROM associated_script_parameters WHERE associated_script_id = $1")
            .bind(policy_id)
            .execute(&mut *tx)
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
                action: "policy.remove",
                target: &format!("group:{group_id} policy:{policy_id} script:{script_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// Changes a policy's parameters; reruns it on every member when the site's `rerun_asc`
    /// is on. `None` if the policy is not within `scope`. (Parameter values are not put in
    /// the audit log: they may be passwords.)
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
        let checked = checked_params(&inputs, params)?;
        let mut tx = self.db.begin_write().await?;
        self.store_policy_params(&mut tx, site, policy_id, &checked)
            .await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                action: "policy.change",
                target: &format!("group:{group_id} policy:{policy_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let rerun: i64 = sqlx::query_scalar("SELECT rerun_asc FROM sites WHERE id = $1")
            .bind(site)
            .fetch_one(self.pool())
            .await?;
        let job_ids = if rerun != 0 {
            let members = self.group_pc_ids_by_id(group_id).await?;
            self.run_policy_on(site, policy_id, script_id, &members, &scope.actor)
                .await?
        } else {
            Vec::new()
        };
        Ok(Some(PolicyRun { policy_id, job_ids }))
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
