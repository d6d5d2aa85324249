//! Importing a script library into the portal: every valid script becomes a script (global,
//! or local to one site) or a new version of the one with the same uid (or, without uid, the
//! same title). Jobs already made keep the version they were made with.
//!
//! A library with errors is refused whole, before anything is written, so an import never
//! leaves half a library behind.

use super::format::{Problem, ScriptSpec, read_dir};
use crate::store::Store;
use crate::store::jobs::{NewInput, NewScript, ScriptOutcome};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub new_versions: usize,
    pub unchanged: usize,
    /// Warnings that did not stop the import.
    #[serde(skip)]
    pub warnings: Vec<Problem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the library has {} error(s); nothing was imported", .0.iter().filter(|p| p.is_error()).count())]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

fn new_script(spec: &ScriptSpec, site_id: Option<i64>) -> NewScript {
    NewScript {
        site_id,
        uid: spec.uid.clone(),
        name: spec.title.clone(),
        description: spec.description.clone(),
        category: spec.category.clone(),
        is_security: spec.security,
        is_hidden: spec.hidden,
        version: spec.version,
        code: spec.code.clone(),
        inputs: spec
            .parameters
            .iter()
            .map(|p| NewInput {
                name: p.name.clone(),
                value_type: p.value_type.as_str().to_owned(),
                default_value: p.default.clone(),
                mandatory: p.mandatory,
            })
            .collect(),
    }
}

/// Imports `dir`; `on_script` is called after each script (progress).
pub async fn import(
    store: &Store,
    dir: &Path,
    site_id: Option<i64>,
    mut on_script: impl FnMut(usize, usize),
) -> Result<ImportReport, ImportError> {
    let (specs, problems) = read_dir(dir);
    if problems.iter().any(Problem::is_error) {
        return Err(ImportError::Invalid(problems));
    }
    let mut report = ImportReport {
        warnings: problems,
        ..ImportReport::default()
    };
    for (i, spec) in specs.iter().enumerate() {
        let saved = store.save_script(&new_script(spec, site_id)).await?;
        match saved.outcome {
            ScriptOutcome::Created => report.created += 1,
            ScriptOutcome::NewVersion => report.new_versions += 1,
            ScriptOutcome::Unchanged => report.unchanged += 1,
        }
        on_script(i + 1, specs.len());
    }
    Ok(report)
}
