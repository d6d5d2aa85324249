//! A query's arguments as the reports build their SQL: each value is bound, never written into
//! the text. [`Args`] gives the `$n` to write as a value is pushed, so the conditions the jobs
//! and security reports share can be put together in any order without counting placeholders;
//! a report that counts its own placeholders keeps a list of [`Arg`]s and binds them with
//! [`bind_args`]. The parts of the jobs and security queries that are the same for jobs and
//! events are here too: the filter's scope on rows and on roll-up days, and a page's list
//! length.

use super::super::history::epoch_day;
use super::{Filter, day_start};
use crate::store::Result;
use sqlx::Row as _;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One bound value: the reports filter by ids and by text.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Int(i64),
    Text(String),
}

/// Binds `args` in order, as `$1`, `$2`, ….
pub(super) fn bind_args<'q>(
    mut q: Query<'q, sqlx::Any, AnyArguments>,
    args: &[Arg],
) -> Query<'q, sqlx::Any, AnyArguments> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.clone()),
        };
    }
    q
}

#[derive(Default, Clone)]
pub(super) struct Args(Vec<Arg>);

impl Args {
    pub(super) fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    /// Text that is one of the store's own spellings (a status, a level).
    pub(super) fn text(&mut self, v: &'static str) -> String {
        self.0.push(Arg::Text(v.to_owned()));
        format!("${}", self.0.len())
    }

    /// `column IN ($a, …)`, or a condition that is never true for no values.
    pub(super) fn within(&mut self, column: &str, values: &[i64]) -> String {
        if values.is_empty() {
            return "1 = 0".to_owned();
        }
        let list: Vec<String> = values.iter().map(|v| self.int(*v)).collect();
        format!("{column} IN ({})", list.join(", "))
    }

    /// The filter's scope on rows: the instant `at` within its local dates, the row's `site`
    /// one of its sites, and with a group, the row's `pc` a member now.
    pub(super) fn scope(&mut self, f: &Filter, at: &str, site: &str, pc: &str) -> String {
        let mut sql = format!(
            "{at} >= {} AND {at} < {} AND {}",
            self.int(day_start(f.period.from)),
            self.int(day_start(f.period.to)),
            self.within(site, &f.sites)
        );
        if let Some(g) = f.group {
            sql.push_str(&format!(
                " AND {pc} IN (SELECT pc_id FROM pc_group_members WHERE group_id = {})",
                self.int(g)
            ));
        }
        sql
    }

    /// The filter's scope on a roll-up `r`: its local dates and its sites (no group: a group
    /// is counted from the rows).
    pub(super) fn days(&mut self, f: &Filter) -> String {
        format!(
            "{} AND r.day >= {} AND r.day < {}",
            self.within("r.site_id", &f.sites),
            self.int(epoch_day(f.period.from)),
            self.int(epoch_day(f.period.to))
        )
    }

    /// `CAST(SUM(CASE WHEN {expr} = $v THEN {n} ELSE 0 END) AS BIGINT) AS {name}` for each
    /// (value, name) of `columns`, joined by commas: a row's counts per value in one pass.
    pub(super) fn sums(&mut self, expr: &str, n: &str, columns: &[(&'static str, &str)]) -> String {
        columns
            .iter()
            .map(|(v, name)| {
                format!(
                    "CAST(SUM(CASE WHEN {expr} = {} THEN {n} ELSE 0 END) AS BIGINT) AS {name}",
                    self.text(v)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn bind<'q>(
        &self,
        q: Query<'q, sqlx::Any, AnyArguments>,
    ) -> Query<'q, sqlx::Any, AnyArguments> {
        bind_args(q, &self.0)
    }
}

/// A list's length for its page: counted with the page (`total`, before it was cut) when the
/// page has a row; a page past the end (or of none) has none, and `distinct` counts it.
pub(super) async fn list_length(
    conn: &mut sqlx::AnyConnection,
    first: Option<&sqlx::any::AnyRow>,
    distinct: String,
    args: &Args,
) -> Result<i64> {
    Ok(match first {
        Some(r) => r.try_get("total")?,
        None => args
            .bind(sqlx::query(sqlx::AssertSqlSafe(distinct)))
            .fetch_one(conn)
            .await?
            .try_get(0)?,
    })
}

/// The entry of the site of row `r` (`site_id`, `uid`, `name`) in `map`, made by `make` from
/// them the first time.
pub(super) fn site_entry<'m, T>(
    map: &'m mut std::collections::BTreeMap<i64, T>,
    r: &sqlx::any::AnyRow,
    make: impl FnOnce(i64, String, String) -> T,
) -> Result<&'m mut T> {
    use std::collections::btree_map::Entry;
    let site: i64 = r.try_get("site_id")?;
    Ok(match map.entry(site) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => v.insert(make(site, r.try_get("uid")?, r.try_get("name")?)),
    })
}

/// Reads the columns [`Args::sums`] made, each with its key, into `add`.
pub(super) fn read_sums<K: Copy>(
    r: &sqlx::any::AnyRow,
    columns: &[(K, &str)],
    mut add: impl FnMut(K, i64),
) -> Result<()> {
    for (k, name) in columns {
        add(*k, r.try_get(*name)?);
    }
    Ok(())
}
