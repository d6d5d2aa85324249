//! XSD validation of rendered form XML (FormularXML, e.g. KP's SP241) with libxml2, the engine
//! the platform side and `xmllint` use, so "valid here" means valid there.
//!
//! A schema is compiled from its file, so relative `xs:import`/`xs:include` locations resolve.
//! libxml2's schema and validation contexts must stay on the thread that made them, so an
//! [`XsdValidator`] is only a handle (a schema path): each thread that validates compiles the
//! schema once and keeps it in a thread-local cache. Tokio worker and blocking threads can then
//! validate at the same time without locks.
//!
//! Error messages are libxml2's, with element names kept but element *values* removed, because
//! values are personal data (a CPR number that fails a pattern would otherwise be echoed). Parsing
//! never touches the network, and libxml2's own printing to stderr is switched off.

mod libxml2;

use libxml2::{Diagnostic, Document, Validator};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// At most this many errors are reported per document; the rest are counted.
const MAX_ERRORS: usize = 20;

/// One reason a document is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsdError {
    /// Line in the validated document, when libxml2 knows it.
    pub line: Option<u32>,
    /// libxml2's message, values removed.
    pub message: String,
}

impl fmt::Display for XsdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A schema that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("XSD schema {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("XSD schema {} does not compile: {}", path.display(), messages.join("; "))]
    Compile {
        path: PathBuf,
        messages: Vec<String>,
    },
}

/// A compiled schema, usable from any thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct XsdValidator {
    path: Arc<PathBuf>,
}

thread_local! {
    static COMPILED: RefCell<HashMap<PathBuf, Validator>> =
        RefCell::new(HashMap::new());
}

impl XsdValidator {
    /// Compiles the schema (on this thread, to report schema errors now) and returns a handle.
    pub fn from_file(path: &Path) -> Result<Self, SchemaError> {
        let path = std::fs::canonicalize(path).map_err(|e| SchemaError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if !path.is_file() {
            return Err(SchemaError::Unreadable {
                path,
                reason: "not a file".into(),
            });
        }
        let validator = Self {
            path: Arc::new(path),
        };
        validator.with_context(|_| ())?;
        Ok(validator)
    }

    pub fn schema_path(&self) -> &Path {
        &self.path
    }

    /// Validates a whole document. `Err` lists what is wrong (not well-formed, or not valid),
    /// at most [`MAX_ERRORS`] entries plus a count of the rest.
    pub fn validate(&self, document: &str) -> Result<(), Vec<XsdError>> {
        let doc = Document::parse(document)
            .map_err(|diagnostics| convert(diagnostics, Some("not well-formed: ")))?;
        let outcome = self.with_context(|ctx| ctx.validate(&doc)).map_err(|e| {
            vec![XsdError {
                line: None,
                message: e.to_string(),
            }]
        })?;
        outcome.map_err(|errors| convert(errors, None))
    }

    /// Runs `f` with this thread's compiled context for the schema, compiling it first if this
    /// thread has not yet.
    fn with_context<T>(&self, f: impl FnOnce(&mut Validator) -> T) -> Result<T, SchemaError> {
        COMPILED.with(|cell| {
            let mut cache = cell.borrow_mut();
            if !cache.contains_key(self.path.as_path()) {
                let ctx = compile(&self.path)?;
                cache.insert(self.path.as_ref().clone(), ctx);
            }
            match cache.get_mut(self.path.as_path()) {
                Some(ctx) => Ok(f(ctx)),
                None => Err(SchemaError::Unreadable {
                    path: self.path.as_ref().clone(),
                    reason: "schema cache lost its entry".into(),
                }),
            }
        })
    }
}

fn compile(path: &Path) -> Result<Validator, SchemaError> {
    let unreadable = |reason: &str| SchemaError::Unreadable {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    // libxml2 takes a C string: no interior NUL, and (here) UTF-8.
    let text = path
        .to_str()
        .ok_or_else(|| unreadable("the path is not UTF-8"))?;
    let c_path = libxml2::c_path(text).ok_or_else(|| unreadable("the path contains a NUL byte"))?;
    let messages = |diagnostics: Vec<Diagnostic>| -> Vec<String> {
        diagnostics
            .iter()
            .filter_map(|d| d.message.as_deref())
            .map(|m| m.trim().to_owned())
            .collect()
    };
    let (validator, warnings) =
        Validator::compile(&c_path).map_err(|diagnostics| SchemaError::Compile {
            path: path.to_path_buf(),
            messages: messages(diagnostics),
        })?;
    // libxml2 only warns when an imported or included file is missing and compiles the rest;
    // documents would then fail with puzzling "no matching global declaration" errors. A
    // missing part of the schema is a configuration error, reported now.
    let missing: Vec<String> = messages(warnings)
        .into_iter()
        .filter(|m| m.contains("Failed to locate") || m.contains("failed to load"))
        .collect();
    if !missing.is_empty() {
        return Err(SchemaError::Compile {
            path: path.to_path_buf(),
            messages: missing,
        });
    }
    Ok(validator)
}

fn convert(diagnostics: Vec<Diagnostic>, prefix: Option<&str>) -> Vec<XsdError> {
    let relevant: Vec<Diagnostic> = diagnostics.into_iter().filter(|d| !d.warning).collect();
    let total = relevant.len();
    let mut out: Vec<XsdError> = relevant
        .into_iter()
        .take(MAX_ERRORS)
        .map(|d| XsdError {
            line: d.line,
            message: format!(
                "{}{}",
                prefix.unwrap_or(""),
                redact(d.message.as_deref().unwrap_or("unknown error"))
            ),
        })
        .collect();
    if out.is_empty() {
        out.push(XsdError {
            line: None,
            message: "the document was refused without a reason from libxml2".into(),
        });
    }
    if total > MAX_ERRORS {
        out.push(XsdError {
            line: None,
            message: format!("… and {} more errors", total - MAX_ERRORS),
        });
    }
    out
}

/// Removes element and attribute values from a libxml2 message, keeping everything that comes
/// from the schema (element names, types, facets, patterns, enumerations).
///
/// The shapes that carry a value (libxml2 2.9–2.14, `xmlschemas.c`):
/// `The value '<v>' is not accepted by the pattern …` (and the other facets),
/// `'<v>' is not a valid value of the atomic type …`, `The QName value '<v>' has no …`,
/// `… key-sequence ['<v>', …] in …`. Values may contain quotes, so each value runs to the
/// last known continuation. Anything still looking like a quoted value is cut.
pub fn redact(message: &str) -> String {
    let mut m = message.trim().to_owned();

    // 1. "The value '<v>' <continuation>" and "The QName value '<v>' …".
    const VALUE_TAILS: [&str; 8] = [
        "' is not ",
        "' is less ",
        "' is greater ",
        "' must be ",
        "' has more ",
        "' has no ",
        "' does not ",
        "' of ",
    ];
    while let Some(start) = m.find("value '") {
        let open = start + "value ".len();
        let tail = VALUE_TAILS
            .iter()
            .filter_map(|t| m[open + 1..].rfind(t).map(|p| open + 1 + p))
            .max();
        match tail {
            Some(close) => m.replace_range(open - 1..close + 1, ""),
            None => {
                m.truncate(open - 1);
                m.push_str(" (value withheld)");
                break;
            }
        }
    }

    // 2. "…: '<v>' is not a valid value of the …" (simple type errors).
    const INVALID: &str = "' is not a valid value of ";
    if let Some(close) = m.rfind(INVALID)
        && let Some(open) = m[..close].find(": '")
    {
        m.replace_range(open + 2..close + 1, "The value");
    }

    // 3. "key-sequence ['<v>', …]" in identity-constraint errors.
    if let Some(start) = m.find("key-sequence [") {
        let open = start + "key-sequence".len();
        let close = ["] in ", "] of "]
            .iter()
            .filter_map(|t| m[open..].rfind(t).map(|p| open + p))
            .max()
            .or_else(|| m[open..].rfind(']').map(|p| open + p));
        match close {
            Some(close) => m.replace_range(open..close + 1, ""),
            None => m.truncate(open),
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn values_are_removed_and_schema_words_kept() {
        let cases = [
            (
                "Element 'Personnummer': [facet 'pattern'] The value '0101701234' is not accepted by the pattern 'urn:oio:cpr:\\d+'.\n",
                "Element 'Personnummer': [facet 'pattern'] The value is not accepted by the pattern 'urn:oio:cpr:\\d+'.",
            ),
            (
                "Element 'Gruppe': [facet 'enumeration'] The value 'O'Brien' is not an element of the set {'GRUPPE_1', 'GRUPPE_2'}.",
                "Element 'Gruppe': [facet 'enumeration'] The value is not an element of the set {'GRUPPE_1', 'GRUPPE_2'}.",
            ),
            (
                "Element '{urn:x}Amount': 'Jens Hansen' is not a valid value of the atomic type 'xs:decimal'.",
                "Element '{urn:x}Amount': The value is not a valid value of the atomic type 'xs:decimal'.",
            ),
            (
                "Element 'a', attribute 'n': 'x y' is not a valid value of the local atomic type.",
                "Element 'a', attribute 'n': The value is not a valid value of the local atomic type.",
            ),
            (
                "Element 'n': [facet 'minInclusive'] The value '5' is less than the minimum value allowed ('10').",
                "Element 'n': [facet 'minInclusive'] The value is less than the minimum value allowed ('10').",
            ),
            (
                "Element 'n': [facet 'totalDigits'] The value '123456' has more digits than are allowed ('4').",
                "Element 'n': [facet 'totalDigits'] The value has more digits than are allowed ('4').",
            ),
            (
                "Element 'n': [facet 'maxExclusive'] The value '99' must be less than '10'.",
                "Element 'n': [facet 'maxExclusive'] The value must be less than '10'.",
            ),
            (
                "Element 'n': The value 'abc' does not match the fixed value constraint 'x'.",
                "Element 'n': The value does not match the fixed value constraint 'x'.",
            ),
            (
                "Element 'q': The QName value 'p:secret' has no corresponding namespace declaration in scope.",
                "Element 'q': The QName value has no corresponding namespace declaration in scope.",
            ),
            (
                "Element 'k': Duplicate key-sequence ['0101701234', 'x'] in unique identity-constraint 'u'.",
                "Element 'k': Duplicate key-sequence in unique identity-constraint 'u'.",
            ),
            (
                "Element 'KLE': [facet 'maxLength'] The value has a length of '300'; this exceeds the allowed maximum length of '200'.",
                "Element 'KLE': [facet 'maxLength'] The value has a length of '300'; this exceeds the allowed maximum length of '200'.",
            ),
            (
                "Element 'Foo': This element is not expected. Expected is ( Header ).",
                "Element 'Foo': This element is not expected. Expected is ( Header ).",
            ),
            (
                "Element 'x': The value 'unterminated",
                "Element 'x': The value (value withheld)",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "input: {input}");
        }
    }
}
