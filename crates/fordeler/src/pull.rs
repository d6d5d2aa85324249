//! Pulling submissions from OS2forms' `webform_rest` (`os2forms_rest_api`), for the queued
//! "ping" handler and for polling.
//!
//! A submission is `GET /webform_rest/{form}/submission/{uuid}` with the `api-key` header:
//! `{"entity": {<Drupal fields as [{"value": …}]>}, "data": {…, "linked": {element: {fid:
//! {url, mime_type}}}, "attachments": {element: {name, url}}}}`. Files are fetched from their
//! URLs with the same key. Only URLs under the configured OS2forms site are ever fetched: the
//! key must not travel to a host named in a request. A pull reads at most
//! `server.max_submission_bytes` in all (its JSON and files), as a Remote post may send: a
//! site that answers without end must not fill the memory.

use crate::intake::{BASE_FIELDS, Submission};
use crate::store::NewAttachment;
use serde_json::{Map, Value};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Refused(#[from] crate::intake::Refused),
    #[error("OS2forms answered {status} for {what}")]
    Http { status: u16, what: String },
    #[error("OS2forms is not reachable: {0}")]
    Transport(String),
    #[error("{0}")]
    Invalid(String),
}

impl PullError {
    /// Worth trying again later (the site is down or busy), as opposed to a wrong answer.
    pub fn retryable(&self) -> bool {
        matches!(self, PullError::Transport(_))
            || matches!(self, PullError::Http { status, .. } if *status >= 500 || *status == 429)
    }
}

#[derive(Clone)]
pub struct Os2forms {
    http: reqwest::Client,
    base: String,
    api_key: String,
    /// The most one pull (or one list) reads, in bytes.
    max_bytes: usize,
}

impl Os2forms {
    pub fn new(base_url: &str, api_key: String, max_bytes: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key,
            max_bytes,
        })
    }

    /// Reads an answer's body within what is left of `budget`, and takes it from the budget.
    async fn read(
        &self,
        mut r: reqwest::Response,
        budget: &mut usize,
        what: &str,
    ) -> Result<Vec<u8>, PullError> {
        let too_large = || {
            PullError::Invalid(format!(
                "{what}: more than server.max_submission_bytes ({} bytes) in all",
                self.max_bytes
            ))
        };
        if r.content_length().is_some_and(|n| n > *budget as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| PullError::Transport(e.without_url().to_string()))?
        {
            if chunk.len() > *budget - out.len() {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        *budget -= out.len();
        Ok(out)
    }

    async fn get_json(
        &self,
        url: &str,
        what: &str,
        budget: &mut usize,
    ) -> Result<Value, PullError> {
        let r = self.get(url, what).await?;
        let body = self.read(r, budget, what).await?;
        serde_json::from_slice(&body).map_err(|e| PullError::Invalid(format!("{what}: {e}")))
    }

    /// Refuses URLs outside the configured site.
    fn own(&self, url: &str) -> Result<(), PullError> {
        let prefix = format!("{}/", self.base);
        if url.starts_with(&prefix) {
            Ok(())
        } else {
            Err(PullError::Invalid(format!(
                "URL outside the configured os2forms_url {} refused",
                self.base
            )))
        }
    }

    async fn get(&self, url: &str, what: &str) -> Result<reqwest::Response, PullError> {
        self.own(url)?;
        let r = self
            .http
            .get(url)
            .header("api-key", &self.api_key)
            .send()
            .await
            .map_err(|e| PullError::Transport(e.without_url().to_string()))?;
        if !r.status().is_success() {
            return Err(PullError::Http {
                status: r.status().as_u16(),
                what: what.to_owned(),
            });
        }
        Ok(r)
    }

    pub fn submission_url(&self, webform_id: &str, uuid: &str) -> String {
        format!("{}/webform_rest/{webform_id}/submission/{uuid}", self.base)
    }

    /// The uuids the site lists for a form (no pagination upstream; the URL ends in the uuid).
    pub async fn list(&self, webform_id: &str) -> Result<Vec<String>, PullError> {
        let url = format!("{}/webform_rest/{webform_id}/submissions", self.base);
        let mut budget = self.max_bytes;
        let v = self
            .get_json(&url, "the submission list", &mut budget)
            .await?;
        let map = v
            .get("submissions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(map
            .values()
            .filter_map(Value::as_str)
            .filter_map(|u| u.rsplit('/').next())
            .map(str::to_owned)
            .collect())
    }

    /// One submission with its files.
    pub async fn pull(&self, webform_id: &str, url: &str) -> Result<Submission, PullError> {
        let mut budget = self.max_bytes;
        let v = self.get_json(url, "the submission", &mut budget).await?;
        let entity = v
            .get("entity")
            .and_then(Value::as_object)
            .ok_or_else(|| PullError::Invalid("submission: no `entity`".into()))?;
        let mut json = Map::new();
        for field in BASE_FIELDS {
            if let Some(x) = entity.get(*field).and_then(drupal_value) {
                json.insert((*field).to_owned(), Value::String(x));
            }
        }
        let mut data = v
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let linked = data.remove("linked");
        let attachments = data.remove("attachments");
        json.insert("data".into(), Value::Object(data));
        let uuid = json
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if sf2900::types::parse_uuid(&uuid).is_err() {
            return Err(PullError::Invalid(
                "submission: entity.uuid is missing or not a UUID".into(),
            ));
        }
        if let Some(w) = json.get("webform_id").and_then(Value::as_str)
            && w != webform_id
        {
            return Err(PullError::Invalid(format!(
                "submission belongs to form {w}, not {webform_id}"
            )));
        }
        json.insert("webform_id".into(), Value::String(webform_id.to_owned()));
        let mut files = Vec::new();
        for (element, by_fid) in linked
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for (i, (_fid, f)) in by_fid.as_object().into_iter().flatten().enumerate() {
                let Some(url) = f.get("url").and_then(Value::as_str) else {
                    continue;
                };
                let name = url.rsplit('/').next().unwrap_or("file").to_owned();
                let mime = f
                    .get("mime_type")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                files.push(NewAttachment {
                    element_key: element.clone(),
                    idx: i as i64,
                    name,
                    mime,
                    data: self.file(url, element, &mut budget).await?,
                });
            }
        }
        for (element, a) in attachments
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let Some(url) = a.get("url").and_then(Value::as_str) else {
                continue;
            };
            let name = format!(
                "{}.pdf",
                a.get("name").and_then(Value::as_str).unwrap_or(element)
            );
            files.push(NewAttachment {
                element_key: element.clone(),
                idx: 0,
                name,
                mime: "application/pdf".into(),
                data: self.file(url, element, &mut budget).await?,
            });
        }
        let s = Submission {
            webform_id: webform_id.to_owned(),
            uuid,
            json,
            files,
        };
        s.check()?;
        Ok(s)
    }

    async fn file(
        &self,
        url: &str,
        element: &str,
        budget: &mut usize,
    ) -> Result<Vec<u8>, PullError> {
        let what = format!("a file of element {element}");
        let r = self.get(url, &what).await?;
        self.read(r, budget, &what).await
    }
}

/// Drupal's serialised field: `[{"value": x}]` or `[{"target_id": x}]`, as a string.
fn drupal_value(v: &Value) -> Option<String> {
    let first = v.as_array()?.first()?;
    let x = first.get("value").or_else(|| first.get("target_id"))?;
    Some(match crate::intake::scalar_string(x) {
        Value::String(s) => s,
        other => other.to_string(),
    })
}
