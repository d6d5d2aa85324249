//! A query's arguments as the reports build their SQL: each value is bound, never written into
//! the text. [`Args`] gives the `$n` to write as a value is pushed, so the conditions the jobs
//! and security reports share can be put together in any order without counting placeholders;
//! a report that counts its own placeholders keeps a list of [`Arg`]s and binds them with
//! [`bind_args`].

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

    pub(super) fn bind<'q>(
        &self,
        q: Query<'q, sqlx::Any, AnyArguments>,
    ) -> Query<'q, sqlx::Any, AnyArguments> {
        bind_args(q, &self.0)
    }
}
