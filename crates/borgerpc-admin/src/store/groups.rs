//! Groups of PCs as operators keep them: created, renamed and deleted, PCs joining (the group's
//! policies run on the newcomer, see `policies.rs`) and leaving, and the supervisors who get
//! the alert e-mails about the group's PCs. A group's wake plan is set on the plan
//! (`wakeplans.rs`); joining and leaving move the PC onto or off it.

use super::Store;
use super::access::{Scope, check_site_users};
use super::audit::{Record, before_after, record_in};
use super::history::lock_pcs;
use super::policies::PolicyRun;
use super::reports::ops_rollup::{Bind, Rollup};
use super::rules::RuleKind;
use super::wakeplans::WakeSync;
use super::{Error, Reason, Result, conflict, ensure, refuse};
use service_kit::db::now_ms;
use sqlx::Row as _;

const NAME_CHARS: usize = 200;
const DESCRIPTION_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyView {
    pub id: i64,
    pub script_id: i64,
    pub script: String,
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupView {
    pub id: i64,
    pub site: String,
    pub name: String,
    pub description: String,
    pub wake_plan: Option<i64>,
    pub members: Vec<i64>,
    pub supervisors: Vec<i64>,
    pub policies: Vec<PolicyView>,
}

/// A change to a group: what is `None` stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub supervisors: Option<Vec<i64>>,
}

fn checked_name(name: &str) -> Result<&str> {
    let name = name.trim();
    ensure!(
        !name.is_empty() && name.chars().count() <= NAME_CHARS,
        "name",
        Reason::Length {
            min: 1,
            max: NAME_CHARS
        }
    );
    Ok(name)
}

fn checked_description(d: &str) -> Result<&str> {
    ensure!(
        d.chars().count() <= DESCRIPTION_CHARS,
        "description",
        Reason::AtMostChars {
            max: DESCRIPTION_CHARS
        }
    );
    Ok(d)
}

/// A group's site, if the group is within `sites`.
pub(crate) async fn group_site_in(
    conn: &mut sqlx::AnyConnection,
    sites: &[i64],
    group_id: i64,
) -> Result<Option<i64>> {
    let site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM pc_groups WHERE id = $1")
        .bind(group_id)
        .fetch_optional(conn)
        .await?;
    Ok(site.filter(|s| sites.contains(s)))
}

async fn name_taken(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    name: &str,
    except: i64,
) -> Result<bool> {
    let other: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM pc_groups WHERE site_id = $1 AND name = $2 AND id <> $3",
    )
    .bind(site_id)
    .bind(name)
    .bind(except)
    .fetch_optional(conn)
    .await?;
    Ok(other.is_some())
}

async fn set_supervisors(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    group_id: i64,
    users: &[i64],
) -> Result<()> {
    super::check_ids("supervisors", users)?;
    let mut users = users.to_vec();
    users.sort_unstable();
    users.dedup();
    check_site_users(conn, site_id, &users, "supervisors").await?;
    sqlx::query("DELETE FROM group_supervisors WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    for u in users {
        sqlx::query("INSERT INTO group_supervisors (group_id, user_id) VALUES ($1, $2)")
            .bind(group_id)
            .bind(u)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    async fn group_view(
        &self,
        conn: &mut sqlx::AnyConnection,
        group_id: i64,
    ) -> Result<Option<GroupView>> {
        let row = sqlx::query(
            "SELECT g.id, s.uid, g.name, g.description, g.wake_week_plan_id FROM pc_groups g
             JOIN sites s ON s.id = g.site_id WHERE g.id = $1",
        )
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let members: Vec<i64> = sqlx::query_scalar(
            "SELECT pc_id FROM pc_group_members WHERE group_id = $1 ORDER BY pc_id",
        )
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?;
        let supervisors: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM group_supervisors WHERE group_id = $1 ORDER BY user_id",
        )
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?;
        let policies = sqlx::query(
            "SELECT a.id, a.script_id, s.name, a.position FROM associated_scripts a
             JOIN scripts s ON s.id = a.script_id WHERE a.group_id = $1 ORDER BY a.position",
        )
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|p| {
            Ok(PolicyView {
                id: p.try_get(0)?,
                script_id: p.try_get(1)?,
                script: p.try_get(2)?,
                position: p.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(GroupView {
            id: r.try_get(0)?,
            site: r.try_get(1)?,
            name: r.try_get(2)?,
            description: r.try_get(3)?,
            wake_plan: r.try_get(4)?,
            members,
            supervisors,
            policies,
        }))
    }

    /// The groups of the sites, by site and name.
    pub async fn groups(&self, sites: &[i64]) -> Result<Vec<GroupView>> {
        let mut conn = self.reader().await?;
        let ids: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, site_id FROM pc_groups ORDER BY site_id, name, id")
                .fetch_all(&mut *conn)
                .await?;
        let mut out = Vec::new();
        for (id, site) in ids {
            if sites.contains(&site)
                && let Some(g) = self.group_view(&mut conn, id).await?
            {
                out.push(g);
            }
        }
        Ok(out)
    }

    pub async fn group(&self, sites: &[i64], group_id: i64) -> Result<Option<GroupView>> {
        let mut conn = self.reader().await?;
        if group_site_in(&mut conn, sites, group_id).await?.is_none() {
            return Ok(None);
        }
        self.group_view(&mut conn, group_id).await
    }

    /// A group by name on a site (the CLI's way of naming one).
    pub async fn group_id_by_name(&self, site_id: i64, name: &str) -> Result<i64> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM pc_groups WHERE site_id = $1 AND name = $2")
                .bind(site_id)
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        id.ok_or_else(|| Error::NotFound(format!("group: no group named {name:?} on this site")))
    }

    /// Creates a group with its supervisors; `None` if the site is not in the scope.
    pub async fn create_group(
        &self,
        scope: &Scope,
        site_id: i64,
        name: &str,
        description: &str,
        supervisors: &[i64],
    ) -> Result<Option<GroupView>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let name = checked_name(name)?;
        let description = checked_description(description)?;
        let mut tx = self.db.begin_write().await?;
        if name_taken(&mut tx, site_id, name, 0).await? {
            refuse!(
                "name",
                Reason::GroupNameTaken {
                    name: name.to_owned()
                }
            );
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO pc_groups (site_id, name, description, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(site_id)
        .bind(name)
        .bind(description)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        set_supervisors(&mut tx, site_id, id, supervisors).await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "group.create",
                target: &format!("group:{id} ({name})"),
                detail: None,
            },
        )
        .await?;
        let view = self.group_view(&mut tx, id).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Renames a group, changes its description or its supervisors; `None` if not in scope.
    pub async fn change_group(
        &self,
        scope: &Scope,
        group_id: i64,
        change: &GroupChange,
    ) -> Result<Option<GroupView>> {
        let name = change.name.as_deref().map(checked_name).transpose()?;
        let description = change
            .description
            .as_deref()
            .map(checked_description)
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let Some(before) = self.group_view(&mut tx, group_id).await? else {
            return Ok(None);
        };
        if let Some(name) = name {
            if name_taken(&mut tx, site, name, group_id).await? {
                refuse!(
                    "name",
                    Reason::GroupNameTaken {
                        name: name.to_owned()
                    }
                );
            }
            sqlx::query("UPDATE pc_groups SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(d) = description {
            sqlx::query("UPDATE pc_groups SET description = $1 WHERE id = $2")
                .bind(d)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(users) = &change.supervisors {
            set_supervisors(&mut tx, site, group_id, users).await?;
        }
        let Some(after) = self.group_view(&mut tx, group_id).await? else {
            return Ok(None);
        };
        let settings = |g: &GroupView| serde_json::json!({"name": g.name, "description": g.description, "supervisors": g.supervisors});
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "group.change",
                target: &format!("group:{group_id} ({})", after.name),
                detail: Some(&before_after(&settings(&before), &settings(&after))),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    /// Deletes a group with its policies, configuration and memberships (the PCs stay). A
    /// group that rules are limited to is kept: without it they would watch the whole site.
    pub async fn delete_group(&self, scope: &Scope, group_id: i64) -> Result<Option<()>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let rules: Vec<(String, i64)> = sqlx::query_as(
            "SELECT rule_kind, rule_id FROM rule_groups WHERE group_id = $1 ORDER BY rule_kind, rule_id",
        )
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?;
        if !rules.is_empty() {
            let mut named = Vec::with_capacity(rules.len());
            for (kind, id) in rules {
                let kind = match kind.as_str() {
                    "security" => RuleKind::Security,
                    "offline" => RuleKind::Offline,
                    _ => {
                        return Err(Error::UnknownValue {
                            column: "rule_groups.rule_kind",
                            value: kind,
                        });
                    }
                };
                named.push((kind, id));
            }
            conflict!("group", Reason::GroupInRules { rules: named });
        }
        let name: String = sqlx::query_scalar("SELECT name FROM pc_groups WHERE id = $1")
            .bind(group_id)
            .fetch_one(&mut *tx)
            .await?;
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT pc_id FROM pc_group_members WHERE group_id = $1")
                .bind(group_id)
                .fetch_all(&mut *tx)
                .await?;
        let wake = WakeSync::before(&mut tx, site, &members).await?;
        // Its usage roll-up goes with it, once no member's push can add to it (`lock_pcs`).
        lock_pcs(
            &mut tx,
            "id IN (SELECT pc_id FROM pc_group_members WHERE group_id = $1)",
            group_id,
        )
        .await?;
        for sql in [
            "DELETE FROM associated_script_parameters WHERE associated_script_id IN
               (SELECT id FROM associated_scripts WHERE group_id = $1)",
            "DELETE FROM associated_scripts WHERE group_id = $1",
            "DELETE FROM config_entries WHERE owner_kind = 'group' AND owner_id = $1",
            "DELETE FROM group_login_days WHERE group_id = $1",
            "DELETE FROM pc_group_members WHERE group_id = $1",
            "DELETE FROM group_supervisors WHERE group_id = $1",
            "DELETE FROM pc_groups WHERE id = $1",
        ] {
            sqlx::query(sql).bind(group_id).execute(&mut *tx).await?;
        }
        let wake = wake.after(&mut tx).await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "group.delete",
                target: &format!("group:{group_id} ({name})"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(()))
    }

    /// Puts a PC in a group and runs the group's policies on it, in order; a group with a wake
    /// plan puts the PC on it. `None` if the group or the PC is not within the scope, or they
    /// are on different sites. Already a member: nothing runs again.
    pub async fn join_group(
        &self,
        scope: &Scope,
        group_id: i64,
        pc_id: i64,
    ) -> Result<Option<Vec<PolicyRun>>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let pc_site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM pcs WHERE id = $1")
            .bind(pc_id)
            .fetch_optional(&mut *tx)
            .await?;
        if pc_site != Some(site) {
            return Ok(None);
        }
        let wake = WakeSync::before(&mut tx, site, &[pc_id]).await?;
        if !add_member(&mut tx, group_id, pc_id).await? {
            return Ok(Some(Vec::new()));
        }
        let wake = wake.after(&mut tx).await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "group.join",
                target: &format!("group:{group_id} pc:{pc_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let runs = self
            .run_group_policies_on(site, group_id, pc_id, &scope.actor)
            .await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(runs))
    }

    /// Takes a PC out of a group (what its policies did stays, as upstream); a PC that leaves
    /// its wake plan gets the plan removed. `Some(false)` if it was not a member.
    pub async fn leave_group(
        &self,
        scope: &Scope,
        group_id: i64,
        pc_id: i64,
    ) -> Result<Option<bool>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site) = group_site_in(&mut tx, &scope.sites, group_id).await? else {
            return Ok(None);
        };
        let pc_site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM pcs WHERE id = $1")
            .bind(pc_id)
            .fetch_optional(&mut *tx)
            .await?;
        if pc_site != Some(site) {
            return Ok(None);
        }
        let wake = WakeSync::before(&mut tx, site, &[pc_id]).await?;
        // Its days leave the group's usage roll-up, as it has them once no push of its adds.
        lock_pcs(&mut tx, "id = $1", pc_id).await?;
        Rollup::GroupLogins
            .take(
                &mut tx,
                "l.pc_id = $1 AND m.group_id = $2",
                &[Bind::Int(pc_id), Bind::Int(group_id)],
            )
            .await?;
        let removed =
            sqlx::query("DELETE FROM pc_group_members WHERE pc_id = $1 AND group_id = $2")
                .bind(pc_id)
                .bind(group_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if removed == 0 {
            return Ok(Some(false));
        }
        let wake = wake.after(&mut tx).await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site),
                customer_id: None,
                action: "group.leave",
                target: &format!("group:{group_id} pc:{pc_id}"),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(true))
    }
}

/// Puts a PC in a group with its days in the group's usage roll-up (`group_login_days`), once
/// no push of its adds to its groups (`lock_pcs`). `false`: it was a member already.
pub(crate) async fn add_member(
    conn: &mut sqlx::AnyConnection,
    group_id: i64,
    pc_id: i64,
) -> Result<bool> {
    lock_pcs(conn, "id = $1", pc_id).await?;
    let added = sqlx::query(
        "INSERT INTO pc_group_members (pc_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(pc_id)
    .bind(group_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added > 0 {
        Rollup::GroupLogins
            .add(
                conn,
                "l.pc_id = $1 AND m.group_id = $2",
                &[Bind::Int(pc_id), Bind::Int(group_id)],
            )
            .await?;
    }
    Ok(added > 0)
}
