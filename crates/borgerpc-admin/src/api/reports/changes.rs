//! `GET /api/reports/changes` (issue 14, report 6): the audit log as a report, as JSON for BI
//! tools or as a file of its records (`format=csv|xlsx`). The figures are
//! `store::reports::changes`'; this module reads the query: the parameters every report takes
//! through [`ReportQuery`](super::ReportQuery) (so they are checked and refused the same way), and the two of its
//! own, `user` and `action`.
//!
//! Who may read it: site administrators and up, where they are (`Caller<SiteAdmin>`), as the
//! log page (`web/logs.rs`), which is where the audit log is read today; API keys (readers or
//! site users) may not. The records name portal users (staff) and what they changed, never a
//! citizen: the audit log holds no PC's reports and no script parameters. Records without a
//! site are their customer's, read by its administrators (and superusers) when no site is
//! chosen; those of no customer are a superuser's, and only when no site or customer is chosen.

use super::own::split;
use super::{Output, send};
use crate::api::{ApiError, ApiResult, Caller, SiteAdmin, not_found, ok, unprocessable};
use crate::export::{self, Cell, Column, Table};
use crate::store::Store;
use crate::store::operator::Page;
use crate::store::reports::changes::{ChangeEntry, Changes, ChangesFilter, action, actor};
use axum::extract::{RawQuery, State};

/// The report's own parameters.
const OWN: &[&str] = &["user", "action"];

pub(in crate::api) async fn changes(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (own, q) = split(raw.as_deref(), "changes", OWN)?;
    let who = own
        .get("user")
        .map(|u| actor(u).map_err(|e| unprocessable(format!("user: {e}"))))
        .transpose()?;
    let what = own
        .get("action")
        .map(|a| action(a).map_err(|e| unprocessable(format!("action: {e}"))))
        .transpose()?;
    let out = q.output()?;
    let report = q.filter(&store, &c).await?;
    let f = ChangesFilter {
        report,
        actor: who,
        action: what,
        portal_wide: c.scope.superuser && q.site.is_none() && q.customer.is_none(),
        customers: q.whole_customers(&c.scope),
    };
    if out == Output::Json {
        return ok(store.changes_report(&f).await?.ok_or_else(not_found)?);
    }
    send(
        changes_file(&store, &f).await?,
        out,
        q.file_name("changes", &f.report),
    )
    .await
}

/// Every record of the filter as the file's table: the API's `format=` and the page's
/// downloads. More than `export::MAX_ROWS` records is refused (422), naming what narrows it.
pub(crate) async fn changes_file(store: &Store, f: &ChangesFilter) -> Result<Table, ApiError> {
    let max = export::MAX_ROWS as i64;
    match store.change_entries(f, max).await?.ok_or_else(not_found)? {
        Ok(entries) => Ok(changes_table(&entries)),
        Err(count) => {
            let p = f.report.period;
            Err(unprocessable(format!(
                "to: an export of {count} records ({} to {}) is more than {max}; choose a \
                 shorter period (from, to), or fewer records (site, group, user, action)",
                p.from, p.to
            )))
        }
    }
}

const CHANGES_COLUMNS: &[Column] = &[
    Column::text("time", 20.0),
    Column::text("site", 20.0),
    Column::text("customer", 20.0),
    Column::text("user", 24.0),
    Column::text("action", 22.0),
    Column::text("target", 36.0),
    Column::number("pcs", 8.0, "0"),
    Column::text("before", 36.0),
    Column::text("after", 36.0),
];

/// One row per record, newest first: its local time (Europe/Copenhagen), site (empty for a
/// record without one), customer (the site's, or a change of the customer's own without a
/// site; empty for a portal-wide record), actor, action and target, the PCs a script run reached, and a
/// settings change's values before and after (a text as it is, anything else as JSON; none
/// for a value that was not there).
pub(crate) fn changes_table(entries: &[ChangeEntry]) -> Table {
    let part = |e: &ChangeEntry, k: &str| match e.detail.as_ref().and_then(|d| d.get(k)) {
        None | Some(serde_json::Value::Null) => Cell::Empty,
        Some(serde_json::Value::String(s)) => Cell::Text(s.clone()),
        Some(v) => Cell::Text(v.to_string()),
    };
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                chrono::DateTime::parse_from_rfc3339(&e.at_local)
                    .map_or(Cell::Empty, |t| Cell::DateTime(t.naive_local())),
                e.site.clone().map_or(Cell::Empty, Cell::Text),
                e.customer.clone().map_or(Cell::Empty, Cell::Text),
                Cell::Text(e.actor.clone()),
                Cell::Text(e.action.clone()),
                Cell::Text(e.target.clone()),
                e.pcs.map_or(Cell::Empty, Cell::Int),
                part(e, "before"),
                part(e, "after"),
            ]
        })
        .collect();
    Table {
        sheet: "changes",
        columns: CHANGES_COLUMNS,
        rows,
    }
}

/// The report's counts as a scheduled e-mail's tables: actions per local date and per
/// action. Never a user's name (staff are people too), a record or a value before or after.
/// `not_found` when the group is not the filter's.
pub(crate) async fn changes_count_tables(
    store: &Store,
    f: &ChangesFilter,
) -> Result<Vec<Table>, ApiError> {
    let mut counts_only = f.clone();
    counts_only.report.page = Page {
        limit: 0,
        offset: 0,
    };
    let r = store
        .changes_report(&counts_only)
        .await?
        .ok_or_else(not_found)?;
    Ok(vec![changes_days_table(&r), changes_actions_table(&r)])
}

const DAY_COLUMNS: &[Column] = &[
    Column::text("date", 12.0),
    Column::number("actions", 9.0, "0"),
    Column::number("script_runs", 12.0, "0"),
    Column::number("pcs_reached", 12.0, "0"),
    Column::number("activations", 12.0, "0"),
    Column::number("deactivations", 14.0, "0"),
    Column::number("settings_changes", 17.0, "0"),
];

/// One row per local date of the period (Copenhagen), as the JSON's `days`.
pub(crate) fn changes_days_table(r: &Changes) -> Table {
    let rows = r
        .days
        .iter()
        .map(|d| {
            let c = &d.counts;
            vec![
                Cell::Date(d.date),
                Cell::Int(c.actions),
                Cell::Int(c.script_runs),
                Cell::Int(c.pcs_reached),
                Cell::Int(c.activations),
                Cell::Int(c.deactivations),
                Cell::Int(c.settings_changes),
            ]
        })
        .collect();
    Table {
        sheet: "days",
        columns: DAY_COLUMNS,
        rows,
    }
}

const ACTION_COLUMNS: &[Column] = &[
    Column::text("action", 28.0),
    Column::number("count", 9.0, "0"),
];

/// One row per action, the most records first, as the JSON's `by_action`.
pub(crate) fn changes_actions_table(r: &Changes) -> Table {
    let rows = r
        .by_action
        .iter()
        .map(|a| vec![Cell::Text(a.action.clone()), Cell::Int(a.count)])
        .collect();
    Table {
        sheet: "actions",
        columns: ACTION_COLUMNS,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use crate::store::reports::changes::{action, actor};

    #[test]
    fn users_and_actions_are_checked() {
        assert_eq!(actor("anna").unwrap(), "user:anna");
        assert_eq!(actor("api-key:3").unwrap(), "api-key:3");
        assert!(actor("").is_err());
        assert!(actor(&"x".repeat(161)).is_err());
        assert_eq!(action("pc.activate").unwrap(), "pc.activate");
        assert_eq!(action("wake_plan").unwrap(), "wake_plan");
        assert!(action("PC.activate").is_err());
        assert!(action("pc.activate.x").is_err());
        assert!(action("pc.").is_err());
    }
}
