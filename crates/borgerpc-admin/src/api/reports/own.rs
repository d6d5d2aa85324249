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

/// The query split into the report's own parameters (`names`) and the shared ones.
pub(super) fn split(
    raw: Option<&str>,
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
            None => rest.push((k, v)),
        }
    }
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| bad(&e))?;
    let shared: ReportQuery = serde_urlencoded::from_str(&rest).map_err(|e| bad(&e))?;
    Ok((Own(own), shared))
}
