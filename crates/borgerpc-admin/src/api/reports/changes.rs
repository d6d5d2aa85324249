//! `GET /api/reports/changes` (issue 14, report 6): the audit log as a report, as JSON for BI
//! tools or as a file of its records (`format=csv|xlsx`). The figures are
//! `store::reports::changes`'; this module reads the query: the parameters every report takes
//! through [`ReportQuery`] (so they are checked and refused the same way), and the two of its
//! own, `user` and `action`.
//!
//! Who may read it: site administrators and up, where they are (`Caller<SiteAdmin>`), as the
//! log page (`web/logs.rs`), which is where the audit log is read today; API keys (readers or
//! site users) may not. The records name portal users (staff) and what they changed, never a
//! citizen: the audit log holds no PC's reports and no script parameters. Records without a
//! site are a superuser's, and only when no site or customer is chosen.

use super::{Output, ReportQuery, send};
use crate::api::{ApiError, ApiResult, Caller, SiteAdmin, not_found, ok, unprocessable};
use crate::export::{self, Cell, Column, Table};
use crate::store::Store;
use crate::store::reports::changes::{ChangeEntry, ChangesFilter, action, actor};
use axum::extract::{RawQuery, State};

/// The parameters of [`ReportQuery`] this report takes; the others are the other reports'.
const SHARED: &[&str] = &[
    "site", "customer", "from", "to", "group", "limit", "offset", "format", "decimal",
];
/// The report's own parameters.
const OWN: &[&str] = &["user", "action"];

/// The query split into the shared part (as a [`ReportQuery`]) and the report's own values.
fn parse(raw: Option<&str>) -> Result<(ReportQuery, Option<String>, Option<String>), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| unprocessable(format!("query: {e}")))?;
    let (mut user, mut act) = (None, None);
    let mut shared = Vec::new();
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "user" => &mut user,
            "action" => &mut act,
            k if SHARED.contains(&k) => {
                shared.push((k.to_owned(), v));
                continue;
            }
            _ => {
                let mut all: Vec<&str> = SHARED.to_vec();
                all.extend(OWN);
                return Err(unprocessable(format!(
                    "{k}: is not a parameter of the changes report, which takes {}",
                    all.join(", ")
                )));
            }
        };
        if slot.is_some() {
            return Err(unprocessable(format!("{k}: give it once")));
        }
        *slot = Some(v);
    }
    let shared = serde_urlencoded::to_string(&shared).unwrap_or_default();
    let q: ReportQuery =
        serde_urlencoded::from_str(&shared).map_err(|e| unprocessable(format!("query: {e}")))?;
    let user = user
        .map(|u| actor(&u).map_err(|e| unprocessable(format!("user: {e}"))))
        .transpose()?;
    let act = act
        .map(|a| action(&a).map_err(|e| unprocessable(format!("action: {e}"))))
        .transpose()?;
    Ok((q, user, act))
}

pub(in crate::api) async fn changes(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (q, actor, action) = parse(raw.as_deref())?;
    let out = q.output()?;
    let report = q.filter(&store, &c).await?;
    let f = ChangesFilter {
        report,
        actor,
        action,
        portal_wide: c.scope.superuser && q.site.is_none() && q.customer.is_none(),
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
    Column::text("user", 24.0),
    Column::text("action", 22.0),
    Column::text("target", 36.0),
    Column::number("pcs", 8.0, "0"),
    Column::text("before", 36.0),
    Column::text("after", 36.0),
];

/// One row per record, newest first: its local time (Europe/Copenhagen), site (empty for a
/// portal-wide record), actor, action and target, the PCs a script run reached, and a
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

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::store::reports::changes::{action, actor};

    #[test]
    fn the_query_is_split_and_checked_by_name() {
        let Ok((q, user, act)) = parse(Some("site=bib&user=anna&action=pc.activate")) else {
            panic!("refused")
        };
        assert_eq!(q.site.as_deref(), Some("bib"));
        assert_eq!(user.as_deref(), Some("user:anna"));
        assert_eq!(act.as_deref(), Some("pc.activate"));
        let refused = |raw: &str| parse(Some(raw)).err().map(|e| e.1).unwrap_or_default();
        assert!(refused("idle=true").starts_with("idle: is not a parameter"));
        assert!(refused("bruger=anna").starts_with("bruger: is not a parameter"));
        assert!(refused("user=a&user=b").starts_with("user: give it once"));
        assert!(refused("user=").starts_with("user: must be"));
        assert!(refused("action=PC.activate").starts_with("action: must be"));
        assert!(refused("site=a&site=b").starts_with("query:"));
        assert_eq!(actor("api-key:3").unwrap(), "api-key:3");
        assert!(actor(&"x".repeat(161)).is_err());
        assert_eq!(action("wake_plan").unwrap(), "wake_plan");
        assert!(action("pc.activate.x").is_err());
        assert!(action("pc.").is_err());
    }
}
