//! Wake plans ("tænd/sluk-tidsplaner"): when a site's PCs switch on and off, per weekday,
//! with exceptions (closed days, altered hours), followed by the groups attached to the plan.
//!
//! The portal never calls a PC, so a plan reaches the PCs as jobs, as upstream does: the
//! hidden core script `wake_plan_set` with the plan as 16 arguments (`plan_arguments`) on
//! every PC that comes onto the plan or whose plan changes, and `wake_plan_remove` on every
//! PC that leaves it (or when the plan is switched off or deleted). A PC follows one plan at
//! most, so two groups with different plans cannot share a PC.
//!
//! Every change that can move PCs on or off a plan records, inside its transaction, each
//! affected PC's plan before and after ([`WakeSync`]); after the commit the differences are
//! sent as jobs ([`Store::dispatch_wake`]).

use super::access::Scope;
use super::audit::{Record, before_after, record_in};
use super::jobs::{CheckedParam, RunScript};
use super::{Error, Reason, Result, conflict, ensure, invalid, refuse};
use super::{Store, placeholders};
use serde::{Deserialize, Serialize};
use service_kit::db::now_ms;
use sqlx::Row as _;
use std::collections::BTreeMap;

pub const SLEEP_STATES: &[&str] = &["STANDBY", "FREEZE", "MEM", "OFF"];
pub const EXCEPTION_KINDS: &[&str] = &["CLOSED", "ALTERED_HOURS"];
pub const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const NAME_CHARS: usize = 60;
const MAX_EXCEPTIONS: usize = 200;
const SET_SCRIPT: &str = "wake_plan_set";
const REMOVE_SCRIPT: &str = "wake_plan_remove";

/// One weekday: open (on at `on`, off at `off`, "HH:MM"; off before on means the next day)
/// or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Day {
    pub open: bool,
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default)]
    pub off: Option<String>,
}

/// A closed period or a period with altered hours, dates inclusive (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub name: String,
    pub kind: String,
    pub date_start: String,
    pub date_end: String,
    #[serde(default)]
    pub time_start: Option<String>,
    #[serde(default)]
    pub time_end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WakePlanView {
    pub id: i64,
    pub site: String,
    pub name: String,
    pub enabled: bool,
    pub sleep_state: String,
    /// Monday to Sunday.
    pub week: Vec<Day>,
    pub exceptions: Vec<Exception>,
    pub groups: Vec<i64>,
}

/// A plan's settings; what is `None` stays (or takes the default, for a new plan: Monday to
/// Friday 08:00–20:00, switched off as `OFF`, enabled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFields {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub sleep_state: Option<String>,
    pub week: Option<Vec<Day>>,
    pub exceptions: Option<Vec<Exception>>,
    pub groups: Option<Vec<i64>>,
}

fn default_week() -> Vec<Day> {
    (0..7)
        .map(|i| Day {
            open: i < 5,
            on: Some("08:00".into()),
            off: Some("20:00".into()),
        })
        .collect()
}

fn time(field: &str, t: Option<&str>) -> Result<chrono::NaiveTime> {
    let t = t.ok_or_else(|| invalid!(field.to_owned(), Reason::GiveTime))?;
    chrono::NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| {
        invalid!(
            field.to_owned(),
            Reason::NotTime {
                value: t.to_owned(),
                like: "08:00"
            }
        )
    })
}

fn date(field: &str, d: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
        invalid!(
            field.to_owned(),
            Reason::NotDate {
                value: d.to_owned()
            }
        )
    })
}

/// The PC's own time as the script wants it: `H:M` without padding, as upstream sends it.
fn script_time(t: &str) -> String {
    use chrono::Timelike as _;
    chrono::NaiveTime::parse_from_str(t, "%H:%M")
        .map(|t| format!("{}:{}", t.hour(), t.minute()))
        .unwrap_or_else(|_| "None".into())
}

fn checked_week(week: &[Day]) -> Result<Vec<Day>> {
    ensure!(
        week.len() == 7,
        "week",
        Reason::SevenDays { given: week.len() }
    );
    week.iter()
        .enumerate()
        .map(|(i, d)| {
            if !d.open {
                return Ok(Day {
                    open: false,
                    on: None,
                    off: None,
                });
            }
            let on = time(&format!("week[{i}].on"), d.on.as_deref())?;
            let off = time(&format!("week[{i}].off"), d.off.as_deref())?;
            ensure!(on != off, format!("week[{i}]"), Reason::SameOnOff);
            Ok(Day {
                open: true,
                on: Some(on.format("%H:%M").to_string()),
                off: Some(off.format("%H:%M").to_string()),
            })
        })
        .collect()
}

fn checked_exceptions(list: &[Exception]) -> Result<Vec<Exception>> {
    ensure!(
        list.len() <= MAX_EXCEPTIONS,
        "exceptions",
        Reason::AtMost {
            max: MAX_EXCEPTIONS
        }
    );
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e.name.trim();
            ensure!(
                !name.is_empty() && name.chars().count() <= NAME_CHARS,
                format!("exceptions[{i}].name"),
                Reason::Length {
                    min: 1,
                    max: NAME_CHARS
                }
            );
            let kind = e.kind.to_uppercase();
            ensure!(
                EXCEPTION_KINDS.contains(&kind.as_str()),
                format!("exceptions[{i}].kind"),
                Reason::ExceptionKind
            );
            let start = date(&format!("exceptions[{i}].date_start"), &e.date_start)?;
            let end = date(&format!("exceptions[{i}].date_end"), &e.date_end)?;
            ensure!(
                end >= start,
                format!("exceptions[{i}].date_end"),
                Reason::EndBeforeStart
            );
            let (ts, te) = if kind == "ALTERED_HOURS" {
                let ts = time(
                    &format!("exceptions[{i}].time_start"),
                    e.time_start.as_deref(),
                )?;
                let te = time(&format!("exceptions[{i}].time_end"), e.time_end.as_deref())?;
                (
                    Some(ts.format("%H:%M").to_string()),
                    Some(te.format("%H:%M").to_string()),
                )
            } else {
                (None, None)
            };
            Ok(Exception {
                name: name.to_owned(),
                kind,
                date_start: start.format("%Y-%m-%d").to_string(),
                date_end: end.format("%Y-%m-%d").to_string(),
                time_start: ts,
                time_end: te,
            })
        })
        .collect()
}

/// The 16 arguments of `wake_plan_set`, as upstream's `WakeWeekPlan.get_script_arguments`
/// makes them: on and off per weekday (`H:M`, or `None` for a closed day), the exceptions
/// not yet over as `dd-mm-YYYY;dd-mm-YYYY;on;off` joined by `|` (empty if none), and the
/// sleep state.
pub fn plan_arguments(plan: &WakePlanView, today: chrono::NaiveDate) -> Vec<String> {
    let mut args = Vec::with_capacity(16);
    for d in &plan.week {
        match (d.open, &d.on, &d.off) {
            (true, Some(on), Some(off)) => {
                args.push(script_time(on));
                args.push(script_time(off));
            }
            _ => args.extend(["None".to_owned(), "None".to_owned()]),
        }
    }
    let dmy = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_default()
    };
    let exceptions: Vec<String> = plan
        .exceptions
        .iter()
        .filter(|e| {
            chrono::NaiveDate::parse_from_str(&e.date_end, "%Y-%m-%d").is_ok_and(|end| end >= today)
        })
        .map(|e| {
            let (on, off) = match (&e.time_start, &e.time_end) {
                (Some(s), Some(t)) if e.kind == "ALTERED_HOURS" => (script_time(s), script_time(t)),
                _ => ("None".into(), "None".into()),
            };
            format!("{};{};{on};{off}", dmy(&e.date_start), dmy(&e.date_end))
        })
        .collect();
    args.push(exceptions.join("|"));
    args.push(plan.sleep_state.clone());
    args
}

/// The wake plan each of some PCs follows (through its groups), before a change and after
/// it, and what must be sent because of the difference.
pub(crate) struct WakeSync {
    site_id: i64,
    before: BTreeMap<i64, Option<i64>>,
    /// A plan whose contents change: its PCs get it again.
    refresh: Option<i64>,
}

/// What to send after a change is committed.
#[derive(Debug, Default)]
pub(crate) struct WakeDispatch {
    site_id: i64,
    /// (plan, PCs that must get it).
    set: Vec<(i64, Vec<i64>)>,
    /// PCs that no longer follow a plan.
    remove: Vec<i64>,
}

/// The plan (enabled or not) of each PC, and a conflict if a PC would follow two.
async fn plans_of(
    conn: &mut sqlx::AnyConnection,
    pcs: &[i64],
) -> Result<BTreeMap<i64, Option<(i64, bool)>>> {
    let mut out: BTreeMap<i64, Option<(i64, bool)>> = pcs.iter().map(|p| (*p, None)).collect();
    for chunk in pcs.chunks(500) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT m.pc_id, w.id, w.enabled, w.name, p.name AS pc_name FROM pc_group_members m
             JOIN pc_groups g ON g.id = m.group_id JOIN wake_week_plans w ON w.id = g.wake_week_plan_id
             JOIN pcs p ON p.id = m.pc_id
             WHERE m.pc_id IN ({}) ORDER BY m.pc_id, w.id",
            placeholders(1, chunk.len())
        )));
        for p in chunk {
            q = q.bind(*p);
        }
        let mut names: BTreeMap<i64, String> = BTreeMap::new();
        for r in q.fetch_all(&mut *conn).await? {
            let (pc, plan, enabled): (i64, i64, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let plan_name: String = r.try_get(3)?;
            match out.get(&pc).copied().flatten() {
                Some((other, _)) if other != plan => {
                    let pc_name: String = r.try_get(4)?;
                    conflict!(
                        "groups",
                        Reason::TwoPlans {
                            pc: pc_name,
                            first: names.get(&other).cloned().unwrap_or_default(),
                            second: plan_name,
                        }
                    );
                }
                _ => {
                    names.insert(plan, plan_name);
                    out.insert(pc, Some((plan, enabled != 0)));
                }
            }
        }
    }
    Ok(out)
}

/// The enabled plan of each PC: what it should have.
fn effective(plans: BTreeMap<i64, Option<(i64, bool)>>) -> BTreeMap<i64, Option<i64>> {
    plans
        .into_iter()
        .map(|(pc, p)| (pc, p.filter(|(_, on)| *on).map(|(id, _)| id)))
        .collect()
}

async fn script_by_uid(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    uid: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM scripts WHERE uid = $1 AND (site_id IS NULL OR site_id = $2)
         ORDER BY CASE WHEN site_id IS NULL THEN 1 ELSE 0 END, id DESC LIMIT 1",
    )
    .bind(uid)
    .bind(site_id)
    .fetch_optional(conn)
    .await?)
}

impl WakeSync {
    /// Notes the plans of `pcs` before a change.
    pub(crate) async fn before(
        conn: &mut sqlx::AnyConnection,
        site_id: i64,
        pcs: &[i64],
    ) -> Result<Self> {
        Ok(Self {
            site_id,
            before: effective(plans_of(conn, pcs).await?),
            refresh: None,
        })
    }

    /// Compares with the plans after the change (in the same transaction): a PC on two plans
    /// is refused, and so is a change that needs the wake plan scripts when they are missing.
    pub(crate) async fn after(self, conn: &mut sqlx::AnyConnection) -> Result<WakeDispatch> {
        let pcs: Vec<i64> = self.before.keys().copied().collect();
        let after = effective(plans_of(conn, &pcs).await?);
        let mut set: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut remove = Vec::new();
        for (pc, now) in &after {
            let was = self.before.get(pc).copied().flatten();
            match now {
                Some(p) if was != Some(*p) || self.refresh == Some(*p) => {
                    set.entry(*p).or_default().push(*pc)
                }
                None if was.is_some() => remove.push(*pc),
                _ => {}
            }
        }
        for (needed, uid) in [
            (!set.is_empty(), SET_SCRIPT),
            (!remove.is_empty(), REMOVE_SCRIPT),
        ] {
            if needed && script_by_uid(conn, self.site_id, uid).await?.is_none() {
                refuse!(
                    "",
                    Reason::NoCoreScript {
                        uid: uid.to_owned()
                    }
                );
            }
        }
        Ok(WakeDispatch {
            site_id: self.site_id,
            set: set.into_iter().collect(),
            remove,
        })
    }
}

/// A site's PCs in some groups.
async fn members_of(conn: &mut sqlx::AnyConnection, groups: &[i64]) -> Result<Vec<i64>> {
    let mut pcs = Vec::new();
    for g in groups {
        let m: Vec<i64> =
            sqlx::query_scalar("SELECT pc_id FROM pc_group_members WHERE group_id = $1")
                .bind(*g)
                .fetch_all(&mut *conn)
                .await?;
        pcs.extend(m);
    }
    pcs.sort_unstable();
    pcs.dedup();
    Ok(pcs)
}

impl Store {
    /// Sends what a committed change requires: `wake_plan_set` with each plan's arguments to
    /// its new PCs, `wake_plan_remove` to the PCs that left a plan.
    pub(crate) async fn dispatch_wake(&self, d: WakeDispatch, by: &str) -> Result<()> {
        let today = chrono::Utc::now().date_naive() - chrono::Days::new(1);
        let mut conn = self.reader().await?;
        for (plan, pcs) in &d.set {
            let Some(view) = self.plan_view(&mut conn, *plan).await? else {
                continue;
            };
            let Some(script) = script_by_uid(&mut conn, d.site_id, SET_SCRIPT).await? else {
                refuse!(
                    "",
                    Reason::CoreScriptMissing {
                        uid: SET_SCRIPT.to_owned()
                    }
                );
            };
            let values = plan_arguments(&view, today)
                .into_iter()
                .map(|a| CheckedParam {
                    text: Some(a),
                    file: None,
                })
                .collect();
            self.run_script_with(
                RunScript {
                    site_id: d.site_id,
                    script_id: script,
                    pc_ids: pcs,
                    params: Vec::new(),
                    created_by: by,
                },
                values,
            )
            .await?;
        }
        if !d.remove.is_empty() {
            let Some(script) = script_by_uid(&mut conn, d.site_id, REMOVE_SCRIPT).await? else {
                refuse!(
                    "",
                    Reason::CoreScriptMissing {
                        uid: REMOVE_SCRIPT.to_owned()
                    }
                );
            };
            drop(conn);
            self.run_script_with(
                RunScript {
                    site_id: d.site_id,
                    script_id: script,
                    pc_ids: &d.remove,
                    params: Vec::new(),
                    created_by: by,
                },
                Vec::new(),
            )
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn plan_view(
        &self,
        conn: &mut sqlx::AnyConnection,
        plan_id: i64,
    ) -> Result<Option<WakePlanView>> {
        let row = sqlx::query(
            "SELECT w.id, s.uid, w.name, w.enabled, w.sleep_state, w.week_json FROM wake_week_plans w
             JOIN sites s ON s.id = w.site_id WHERE w.id = $1",
        )
        .bind(plan_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let week: Vec<Day> = serde_json::from_str(&r.try_get::<String, _>("week_json")?)
            .unwrap_or_else(|_| default_week());
        let exceptions = sqlx::query(
            "SELECT e.name, e.kind, e.date_start, e.date_end, e.time_start, e.time_end
             FROM wake_plan_events l JOIN wake_change_events e ON e.id = l.event_id
             WHERE l.plan_id = $1 ORDER BY e.date_start, e.id",
        )
        .bind(plan_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|e| {
            Ok(Exception {
                name: e.try_get(0)?,
                kind: e.try_get(1)?,
                date_start: e.try_get(2)?,
                date_end: e.try_get(3)?,
                time_start: e.try_get(4)?,
                time_end: e.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let groups: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM pc_groups WHERE wake_week_plan_id = $1 ORDER BY id")
                .bind(plan_id)
                .fetch_all(&mut *conn)
                .await?;
        Ok(Some(WakePlanView {
            id: r.try_get("id")?,
            site: r.try_get("uid")?,
            name: r.try_get("name")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            sleep_state: r.try_get("sleep_state")?,
            week,
            exceptions,
            groups,
        }))
    }

    /// The plans of the sites, by site and name.
    pub async fn wake_plans(&self, sites: &[i64]) -> Result<Vec<WakePlanView>> {
        let mut conn = self.reader().await?;
        let ids: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, site_id FROM wake_week_plans ORDER BY site_id, name")
                .fetch_all(&mut *conn)
                .await?;
        let mut out = Vec::new();
        for (id, site) in ids {
            if sites.contains(&site)
                && let Some(p) = self.plan_view(&mut conn, id).await?
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub async fn wake_plan(&self, sites: &[i64], id: i64) -> Result<Option<WakePlanView>> {
        let mut conn = self.reader().await?;
        match plan_site(&mut conn, sites, id).await? {
            Some(_) => self.plan_view(&mut conn, id).await,
            None => Ok(None),
        }
    }

    /// A plan by name on a site (the CLI's way of naming one).
    pub async fn wake_plan_id_by_name(&self, site_id: i64, name: &str) -> Result<i64> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM wake_week_plans WHERE site_id = $1 AND name = $2")
                .bind(site_id)
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        id.ok_or_else(|| Error::NotFound(format!("wake plan: no plan named {name:?} on this site")))
    }

    /// Creates a plan (and puts its groups' PCs on it); `None` if the site is not in scope.
    pub async fn create_wake_plan(
        &self,
        scope: &Scope,
        site_id: i64,
        fields: &PlanFields,
    ) -> Result<Option<WakePlanView>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let Some(name) = &fields.name else {
            refuse!("name", Reason::GivePlanName);
        };
        let mut tx = self.db.begin_write().await?;
        let name = checked_plan_name(&mut tx, site_id, name, 0).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO wake_week_plans (site_id, name, enabled, sleep_state, week_json, created_at)
             VALUES ($1, $2, 1, 'OFF', $3, $4) RETURNING id",
        )
        .bind(site_id)
        .bind(name)
        .bind(serde_json::to_string(&default_week())?)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let wake = self.apply_plan(&mut tx, site_id, id, fields).await?;
        let Some(view) = self.plan_view(&mut tx, id).await? else {
            refuse!("", Reason::PlanVanished);
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "wake_plan.create",
                target: &format!("wake-plan:{id} ({})", view.name),
                detail: Some(&before_after(
                    &serde_json::json!({}),
                    &serde_json::to_value(&view)?,
                )),
            },
        )
        .await?;
        tx.commit().await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(view))
    }

    /// Changes a plan; its PCs get it again, PCs of detached groups get it removed.
    pub async fn change_wake_plan(
        &self,
        scope: &Scope,
        id: i64,
        fields: &PlanFields,
    ) -> Result<Option<WakePlanView>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site_id) = plan_site(&mut tx, &scope.sites, id).await? else {
            return Ok(None);
        };
        let Some(before) = self.plan_view(&mut tx, id).await? else {
            return Ok(None);
        };
        let wake = self.apply_plan(&mut tx, site_id, id, fields).await?;
        let Some(after) = self.plan_view(&mut tx, id).await? else {
            return Ok(None);
        };
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "wake_plan.change",
                target: &format!("wake-plan:{id} ({})", after.name),
                detail: Some(&before_after(
                    &serde_json::to_value(&before)?,
                    &serde_json::to_value(&after)?,
                )),
            },
        )
        .await?;
        tx.commit().await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(after))
    }

    /// Deletes a plan; its PCs get it removed.
    pub async fn delete_wake_plan(&self, scope: &Scope, id: i64) -> Result<Option<()>> {
        let mut tx = self.db.begin_write().await?;
        let Some(site_id) = plan_site(&mut tx, &scope.sites, id).await? else {
            return Ok(None);
        };
        let Some(before) = self.plan_view(&mut tx, id).await? else {
            return Ok(None);
        };
        let pcs = members_of(&mut tx, &before.groups).await?;
        let wake = WakeSync::before(&mut tx, site_id, &pcs).await?;
        let events: Vec<i64> =
            sqlx::query_scalar("SELECT event_id FROM wake_plan_events WHERE plan_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for sql in [
            "UPDATE pc_groups SET wake_week_plan_id = NULL WHERE wake_week_plan_id = $1",
            "DELETE FROM wake_plan_events WHERE plan_id = $1",
            "DELETE FROM wake_week_plans WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        delete_unlinked_events(&mut tx, &events).await?;
        let wake = wake.after(&mut tx).await?;
        record_in(
            &mut tx,
            Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "wake_plan.delete",
                target: &format!("wake-plan:{id} ({})", before.name),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.dispatch_wake(wake, &scope.actor).await?;
        Ok(Some(()))
    }

    /// Writes the given fields of a plan (in the caller's transaction) and returns what its
    /// PCs must be sent.
    async fn apply_plan(
        &self,
        tx: &mut sqlx::AnyConnection,
        site_id: i64,
        id: i64,
        f: &PlanFields,
    ) -> Result<WakeDispatch> {
        if let Some(name) = &f.name {
            let name = checked_plan_name(tx, site_id, name, id).await?;
            sqlx::query("UPDATE wake_week_plans SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(state) = &f.sleep_state {
            let state = state.to_uppercase();
            ensure!(
                SLEEP_STATES.contains(&state.as_str()),
                "sleep_state",
                Reason::OneOf {
                    list: SLEEP_STATES.join(", ")
                }
            );
            sqlx::query("UPDATE wake_week_plans SET sleep_state = $1 WHERE id = $2")
                .bind(state)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(week) = &f.week {
            sqlx::query("UPDATE wake_week_plans SET week_json = $1 WHERE id = $2")
                .bind(serde_json::to_string(&checked_week(week)?)?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(list) = &f.exceptions {
            let list = checked_exceptions(list)?;
            let old: Vec<i64> =
                sqlx::query_scalar("SELECT event_id FROM wake_plan_events WHERE plan_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM wake_plan_events WHERE plan_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            delete_unlinked_events(tx, &old).await?;
            for e in &list {
                let event: i64 = sqlx::query_scalar(
                    "INSERT INTO wake_change_events (site_id, name, date_start, date_end, time_start, time_end, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(site_id)
                .bind(&e.name)
                .bind(&e.date_start)
                .bind(&e.date_end)
                .bind(&e.time_start)
                .bind(&e.time_end)
                .bind(&e.kind)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO wake_plan_events (plan_id, event_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(event)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let old_groups: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM pc_groups WHERE wake_week_plan_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let mut groups = old_groups.clone();
        if let Some(new) = &f.groups {
            super::check_ids("groups", new)?;
            for (i, g) in new.iter().enumerate() {
                let row: Option<(i64, Option<i64>, String)> = sqlx::query_as(
                    "SELECT site_id, wake_week_plan_id, name FROM pc_groups WHERE id = $1",
                )
                .bind(*g)
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    Some((s, _, _)) if s != site_id => {
                        refuse!(format!("groups[{i}]"), Reason::NoGroup { id: *g })
                    }
                    None => refuse!(format!("groups[{i}]"), Reason::NoGroup { id: *g }),
                    Some((_, Some(p), name)) if p != id => {
                        conflict!(format!("groups[{i}]"), Reason::GroupOnOtherPlan { name })
                    }
                    _ => {}
                }
            }
            groups.extend(new);
            groups.sort_unstable();
            groups.dedup();
        }
        let pcs = members_of(tx, &groups).await?;
        let mut wake = WakeSync::before(tx, site_id, &pcs).await?;
        if let Some(on) = f.enabled {
            sqlx::query("UPDATE wake_week_plans SET enabled = $1 WHERE id = $2")
                .bind(i64::from(on))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(new) = &f.groups {
            sqlx::query(
                "UPDATE pc_groups SET wake_week_plan_id = NULL WHERE wake_week_plan_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for g in new {
                sqlx::query("UPDATE pc_groups SET wake_week_plan_id = $1 WHERE id = $2")
                    .bind(id)
                    .bind(*g)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if f.week.is_some() || f.exceptions.is_some() || f.sleep_state.is_some() {
            wake.refresh = Some(id);
        }
        wake.after(tx).await
    }
}

/// A plan's name, trimmed, checked, and not another plan's of the site.
async fn checked_plan_name<'n>(
    conn: &mut sqlx::AnyConnection,
    site_id: i64,
    name: &'n str,
    id: i64,
) -> Result<&'n str> {
    let name = name.trim();
    ensure!(
        !name.is_empty() && name.chars().count() <= NAME_CHARS,
        "name",
        Reason::Length {
            min: 1,
            max: NAME_CHARS
        }
    );
    let other: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM wake_week_plans WHERE site_id = $1 AND name = $2 AND id <> $3",
    )
    .bind(site_id)
    .bind(name)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    ensure!(
        other.is_none(),
        "name",
        Reason::PlanNameTaken {
            name: name.to_owned()
        }
    );
    Ok(name)
}

/// A plan's site, if the plan is within `sites`.
async fn plan_site(conn: &mut sqlx::AnyConnection, sites: &[i64], id: i64) -> Result<Option<i64>> {
    let site: Option<i64> = sqlx::query_scalar("SELECT site_id FROM wake_week_plans WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(site.filter(|s| sites.contains(s)))
}

/// Exceptions no plan uses any more.
async fn delete_unlinked_events(conn: &mut sqlx::AnyConnection, events: &[i64]) -> Result<()> {
    for e in events {
        sqlx::query(
            "DELETE FROM wake_change_events WHERE id = $1
               AND NOT EXISTS (SELECT 1 FROM wake_plan_events WHERE event_id = $1)",
        )
        .bind(*e)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_upstreams() {
        let plan = WakePlanView {
            id: 1,
            site: "s".into(),
            name: "p".into(),
            enabled: true,
            sleep_state: "MEM".into(),
            week: default_week(),
            exceptions: vec![
                Exception {
                    name: "Jul".into(),
                    kind: "CLOSED".into(),
                    date_start: "2026-12-24".into(),
                    date_end: "2026-12-26".into(),
                    time_start: None,
                    time_end: None,
                },
                Exception {
                    name: "Kort dag".into(),
                    kind: "ALTERED_HOURS".into(),
                    date_start: "2026-12-23".into(),
                    date_end: "2026-12-23".into(),
                    time_start: Some("09:05".into()),
                    time_end: Some("14:00".into()),
                },
                Exception {
                    name: "Over".into(),
                    kind: "CLOSED".into(),
                    date_start: "2026-01-01".into(),
                    date_end: "2026-01-01".into(),
                    time_start: None,
                    time_end: None,
                },
            ],
            groups: vec![],
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let args = plan_arguments(&plan, today);
        assert_eq!(args.len(), 16);
        assert_eq!(&args[..4], ["8:0", "20:0", "8:0", "20:0"]);
        assert_eq!(&args[10..14], ["None", "None", "None", "None"]);
        assert_eq!(
            args[14],
            "24-12-2026;26-12-2026;None;None|23-12-2026;23-12-2026;9:5;14:0"
        );
        assert_eq!(args[15], "MEM");
        let none = WakePlanView {
            exceptions: vec![],
            ..plan
        };
        assert_eq!(plan_arguments(&none, today)[14], "", "no exceptions: empty");
    }

    #[test]
    fn a_week_is_checked_by_field() {
        let mut week = default_week();
        week[2].on = Some("25:00".into());
        let e = checked_week(&week).unwrap_err().to_string();
        assert!(e.starts_with("week[2].on:"), "{e}");
        assert!(
            checked_week(&week[..6])
                .unwrap_err()
                .to_string()
                .starts_with("week:")
        );
        let e = checked_exceptions(&[Exception {
            name: "x".into(),
            kind: "ALTERED_HOURS".into(),
            date_start: "2026-12-24".into(),
            date_end: "2026-12-23".into(),
            time_start: None,
            time_end: None,
        }])
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("exceptions[0].date_end"), "{e}");
    }
}
