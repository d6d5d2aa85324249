//! Intake: how submissions arrive, and the rule that nothing accepted is lost.
//!
//! Every source (Webform Remote post, the queued "ping" handler, polling of `webform_rest`)
//! turns what it got into one [`Submission`] — the submission's base fields and element data,
//! plus its files — and hands it to [`Intake::accept`], which commits it with one delivery per
//! route before anyone is told "2xx". Only completed, non-draft submissions are taken; values
//! that OS2forms encrypted (`[Value Encrypted]`) are a configuration error, never delivered.

use crate::config::{Config, FormConfig};
use crate::store::{Accepted, NewAttachment, NewSubmission, Store, StoreError};
use serde_json::{Map, Value};

/// What Drupal's `webform_submission` entity has besides element data.
pub const BASE_FIELDS: &[&str] = &[
    "sid",
    "serial",
    "uuid",
    "token",
    "uri",
    "created",
    "completed",
    "changed",
    "in_draft",
    "current_page",
    "remote_addr",
    "uid",
    "langcode",
    "webform_id",
    "entity_type",
    "entity_id",
    "locked",
    "sticky",
    "notes",
    "webform_revision",
];

/// OS2forms writes this instead of a value the reading user may not decrypt.
pub const ENCRYPTED: &str = "[Value Encrypted]";

/// A submission as the Fordeler keeps it: the render context's `submission`.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub webform_id: String,
    pub uuid: String,
    /// Base fields as strings, and `data` with the element values.
    pub json: Map<String, Value>,
    pub files: Vec<NewAttachment>,
}

/// Why a submission was not taken. The message is for the caller and the operator: it names
/// the field and never contains its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(String),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("not completed: {0}")]
    NotCompleted(String),
    #[error("unknown form {0}: add it as a [[form]] in the configuration")]
    UnknownForm(String),
    /// Over a configured limit (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
}

/// Why intake did not accept a submission.
#[derive(Debug, thiserror::Error)]
pub enum NotAccepted {
    /// Refused (unknown form, over a limit): sending it again does not help.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// It could not be stored: the sender should send it again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Submission {
    /// From the JSON body of Webform's Remote post handler: base fields (when the operator
    /// un-excluded them) and element values at top level, `_<element>` file objects with
    /// Base64 `data`.
    pub fn from_remote_post(webform_id: &str, body: &Value) -> Result<Self, Refused> {
        let obj = body
            .as_object()
            .ok_or_else(|| Refused::Invalid("body: must be a JSON object".into()))?;
        let mut json = Map::new();
        let mut data = Map::new();
        let mut files = Vec::new();
        for (k, v) in obj {
            if let Some(element) = k.strip_prefix('_')
                && is_file_object(v)
            {
                files.extend(remote_post_files(element, v)?);
                continue;
            }
            if BASE_FIELDS.contains(&k.as_str()) {
                json.insert(k.clone(), scalar_string(v));
            } else {
                data.insert(k.clone(), v.clone());
            }
        }
        let uuid = json
            .get("uuid")
            .and_then(Value::as_str)
            .filter(|u| sf2900::types::parse_uuid(u).is_ok())
            .ok_or_else(|| {
                Refused::Invalid(
                    "uuid: the Remote post data must include the submission's uuid (untick `uuid` under Excluded data)".into(),
                )
            })?
            .to_owned();
        if let Some(w) = json.get("webform_id").and_then(Value::as_str)
            && w != webform_id
        {
            return Err(Refused::Invalid(format!(
                "webform_id: the body is for form {w}, the URL for {webform_id}"
            )));
        }
        json.insert("webform_id".into(), Value::String(webform_id.to_owned()));
        json.insert("data".into(), Value::Object(data));
        let s = Submission {
            webform_id: webform_id.to_owned(),
            uuid,
            json,
            files,
        };
        s.check()?;
        Ok(s)
    }

    /// Drafts are never delivered, and encrypted placeholders mean a permission is missing.
    pub fn check(&self) -> Result<(), Refused> {
        let in_draft = self
            .json
            .get("in_draft")
            .and_then(Value::as_str)
            .is_some_and(|v| v == "1" || v == "true");
        if in_draft {
            return Err(Refused::NotCompleted("the submission is a draft".into()));
        }
        if self
            .json
            .get("completed")
            .and_then(Value::as_str)
            .is_some_and(|c| c.is_empty() || c == "0")
        {
            return Err(Refused::NotCompleted(
                "the submission has no completed time".into(),
            ));
        }
        if let Some(key) = find_encrypted(self.json.get("data").unwrap_or(&Value::Null), "") {
            return Err(Refused::Config(format!(
                "data.{key} is \"{ENCRYPTED}\": give the OS2forms user the Fordeler uses the permission \"view encrypted values\""
            )));
        }
        Ok(())
    }

    pub fn serial(&self) -> Option<String> {
        self.json
            .get("serial")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

fn is_file_object(v: &Value) -> bool {
    let one =
        |o: &Value| o.get("name").is_some() && (o.get("data").is_some() || o.get("uri").is_some());
    match v {
        Value::Object(_) => one(v),
        Value::Array(items) => !items.is_empty() && items.iter().all(one),
        _ => false,
    }
}

fn remote_post_files(element: &str, v: &Value) -> Result<Vec<NewAttachment>, Refused> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for (i, f) in items.into_iter().enumerate() {
        let field = format!("_{element}[{i}]");
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("file")
            .to_owned();
        let mime = f
            .get("mime")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_owned();
        let Some(b64) = f.get("data").and_then(Value::as_str) else {
            return Err(Refused::Config(format!(
                "{field}.data: the file content is missing; turn on \"Include files as Base64 encoded post data\" in the Remote post handler"
            )));
        };
        // The same reading as xs:base64Binary: line breaks and spaces are allowed.
        let data = <sf2900::Base64Binary as sf2900::codec::TextValue>::from_text(b64)
            .map_err(|_| Refused::Invalid(format!("{field}.data: not valid Base64")))?
            .0;
        out.push(NewAttachment {
            element_key: element.to_owned(),
            idx: i as i64,
            name,
            mime,
            data,
        });
    }
    Ok(out)
}

/// Base fields are strings in the render context, as PHP's `toArray()` gives them.
pub(crate) fn scalar_string(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        Value::Null => Value::String(String::new()),
        Value::Bool(b) => Value::String(if *b { "1".into() } else { "0".into() }),
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn find_encrypted(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::String(s) if s == ENCRYPTED => Some(path.to_owned()),
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            find_encrypted(v, &p)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_encrypted(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Accepts submissions into the store for the configured forms.
#[derive(Clone)]
pub struct Intake {
    pub store: Store,
    pub config: std::sync::Arc<Config>,
}

impl Intake {
    pub fn form(&self, webform_id: &str) -> Result<&FormConfig, Refused> {
        self.config
            .form(webform_id)
            .ok_or_else(|| Refused::UnknownForm(webform_id.to_owned()))
    }

    /// Commits the submission and one delivery per route. Idempotent per (form, uuid).
    pub async fn accept(
        &self,
        s: Submission,
        source: &'static str,
    ) -> Result<Accepted, NotAccepted> {
        let form = self.form(&s.webform_id)?;
        self.within_limits(&s)?;
        let routes = form
            .routes
            .iter()
            .map(|r| (r.id.clone(), r.distribution_type))
            .collect();
        let serial = s.serial();
        let accepted = self
            .store
            .accept(NewSubmission {
                tenant_cvr: form.tenant.to_string(),
                webform_id: s.webform_id.clone(),
                submission_uuid: s.uuid.clone(),
                serial,
                source,
                payload: serde_json::to_vec(&Value::Object(s.json))
                    .map_err(|e| StoreError::Database(e.into()))?,
                attachments: s.files,
                routes,
            })
            .await?;
        let outcome = match &accepted {
            Accepted::New { .. } => "new",
            Accepted::Duplicate { .. } => "duplicate",
        };
        metrics::counter!("fordeler_intake_total", "source" => source, "outcome" => outcome)
            .increment(1);
        tracing::info!(webform_id = %s.webform_id, submission_uuid = %s.uuid, source, outcome, "submission accepted");
        Ok(accepted)
    }

    /// What one submission may make the Fordeler store, upload and track: every file is a row,
    /// an SFTP upload with a trigger, and a receipt to wait for.
    fn within_limits(&self, s: &Submission) -> Result<(), Refused> {
        let max = self.config.server.max_files_per_submission;
        match s.files.get(max) {
            None => Ok(()),
            Some(over) => Err(Refused::TooLarge(format!(
                "_{}: the submission has {} files, more than the {max} one submission may have \
                 (server.max_files_per_submission)",
                over.element_key,
                s.files.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "ansoeger_fornavn": "Alfred",
            "ansoeger_personnummer": "0101701234",
            "dokumenter_bilag": ["3"],
            "_dokumenter_bilag": [{"id": 3, "name": "bilag.pdf", "uri": "private://x", "mime": "application/pdf", "uuid": "9f0", "data": "JVBERi0xLjcK"}],
            "sid": 1, "serial": "1", "uuid": "2b801c0b-9e36-4cc5-b5d1-c46239cb78ce",
            "webform_id": "sp241", "completed": "1778586315", "in_draft": "0"
        })
    }

    #[test]
    fn remote_post_splits_base_fields_data_and_files() {
        let s = Submission::from_remote_post("sp241", &body()).unwrap();
        assert_eq!(s.uuid, "2b801c0b-9e36-4cc5-b5d1-c46239cb78ce");
        assert_eq!(s.json["sid"], "1", "base fields are strings");
        assert_eq!(s.json["data"]["ansoeger_fornavn"], "Alfred");
        assert!(s.json["data"].get("_dokumenter_bilag").is_none());
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files[0].data, b"%PDF-1.7\n");
    }

    #[test]
    fn refusals_name_the_field_and_not_the_value() {
        let mut b = body();
        b["uuid"] = Value::Null;
        let e = Submission::from_remote_post("sp241", &b)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("uuid:"), "{e}");
        let mut b = body();
        b["in_draft"] = json!("1");
        assert!(matches!(
            Submission::from_remote_post("sp241", &b),
            Err(Refused::NotCompleted(_))
        ));
        let mut b = body();
        b["ansoeger_personnummer"] = json!(ENCRYPTED);
        let e = Submission::from_remote_post("sp241", &b)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.ansoeger_personnummer") && !e.contains("0101701234"),
            "{e}"
        );
        let mut b = body();
        b["_dokumenter_bilag"][0]["data"] = json!("***");
        let e = Submission::from_remote_post("sp241", &b)
            .unwrap_err()
            .to_string();
        assert!(e.contains("_dokumenter_bilag[0].data"), "{e}");
    }
}
