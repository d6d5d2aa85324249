//! A query's arguments as the jobs and security reports build their SQL: each value is bound,
//! never written into the text, and pushing it gives the `$n` to write instead, so the
//! conditions they share can be put together in any order without counting placeholders.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

#[derive(Clone)]
enum Arg {
    Int(i64),
    Text(&'static str),
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
        self.0.push(Arg::Text(v));
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
        mut q: Query<'q, sqlx::Any, AnyArguments>,
    ) -> Query<'q, sqlx::Any, AnyArguments> {
        for a in &self.0 {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(*v),
            };
        }
        q
    }
}
