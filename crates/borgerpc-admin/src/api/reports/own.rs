//! The parameters a report takes besides the shared [`ReportQuery`]'s (the jobs report's
//! `script`, the security report's `level`, …): taken out of the query by name, and the rest
//! read as a `ReportQuery`, which refuses anything it does not know, naming it. So each report
//! keeps its own parameters to itself, and a parameter added to the shared ones reaches every
//! report.

use super::super::{ApiError, unprocessable};
use super::ReportQuery;
use std::collections::BTreeMap;

/// A report's own parameters, as given.
pub(super) struct Own(BTreeMap<&'static str, String>);

impl Own {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that is one of `choices` (`None` when not given).
    pub(super) fn one_of<T: Copy>(
        &self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, ApiError> {
        let Some(given) = self.get(name) else {
            return Ok(None);
        };
        match choices.iter().find(|(s, _)| *s == given) {
            Some((_, v)) => Ok(Some(*v)),
            None => {
                let names: Vec<&str> = choices.iter().map(|(s, _)| *s).collect();
                Err(unprocessable(format!(
                    "{name}: {given:?} is not one of {}",
                    names.join(", ")
                )))
            }
        }
    }
}

/// The parameters every report takes ([`ReportQuery`]'s, less availability's
/// `not_seen_since` and usage's `idle`, which are theirs).
const SHARED: &[&str] = &[
    "site", "customer", "from", "to", "group", "limit", "offset", "format", "decimal",
];

/// The query split into the `report`'s own parameters (`names`) and the shared ones; any
/// other parameter is refused, naming it and what the report takes.
pub(super) fn split(
    raw: Option<&str>,
    report: &str,
    names: &[&'static str],
) -> Result<(Own, ReportQuery), ApiError> {
    let bad = |e: &dyn std::fmt::Display| unprocessable(format!("query: {e}"));
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| bad(&e))?;
    let mut own = BTreeMap::new();
    let mut rest = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match names.iter().find(|n| **n == k) {
            Some(name) => {
                if own.insert(*name, v).is_some() {
                    return Err(unprocessable(format!("{name}: is given more than once")));
                }
            }
            None if SHARED.contains(&k.as_str()) => rest.push((k, v)),
            None => {
                let mut all = SHARED.to_vec();
                all.extend(names);
                return Err(unprocessable(format!(
                    "{k}: is not a parameter of the {report} report, which takes {}",
                    all.join(", ")
                )));
            }
        }
    }
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| bad(&e))?;
    let shared: ReportQuery = serde_urlencoded::from_str(&rest).map_err(|e| bad(&e))?;
    Ok((Own(own), shared))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_query_is_split_and_refused_by_name() {
        let Ok((own, q)) = split(Some("site=bib&user=anna"), "changes", &["user"]) else {
            panic!("refused")
        };
        assert_eq!(q.site.as_deref(), Some("bib"));
        assert_eq!(own.get("user"), Some("anna"));
        let refused = |raw: &str| {
            split(Some(raw), "changes", &["user"])
                .err()
                .map(|e| e.1)
                .unwrap_or_default()
        };
        // Another report's own parameters, and unknown ones, name themselves.
        assert!(refused("idle=true").starts_with("idle: is not a parameter of the changes report"));
        assert!(refused("not_seen_since=2026-01-01").starts_with("not_seen_since: is not"));
        assert!(refused("bruger=anna").starts_with("bruger: is not a parameter"));
        assert!(refused("user=a&user=b").starts_with("user: is given more than once"));
        assert!(refused("site=a&site=b").starts_with("query:"));
    }
}
