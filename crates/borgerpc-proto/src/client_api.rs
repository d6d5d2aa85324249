//! The client-api's JSON messages: one request type per endpoint, and the replies.
//!
//! Shapes follow what client 3.2.0 sends and expects (`borgerpc-client-api.md` §2). The client
//! adds `client_key` to every body, also where an endpoint does not use it, and unknown fields
//! are ignored, so no request type denies them. Job ids arrive as integers from
//! `confirm_jobs_receipt` and as strings from `send_status_info`: [`JobId`] takes both.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The endpoints, by the name in `/client-api/<name>`.
pub const ENDPOINTS: &[&str] = &[
    "register_new_computer",
    "push_config_keys",
    "get_instructions",
    "confirm_jobs_receipt",
    "send_status_info",
    "push_security_events",
    "citizen_login",
    "citizen_logout",
    "general_citizen_login",
    "general_citizen_logout",
    "sms_login",
    "sms_login_finalize",
    "sms_logout",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegisterNewComputer {
    pub mac: String,
    pub name: String,
    /// The site's uid (not its name).
    pub site: String,
    /// The PC's whole local configuration, flattened (`"a.b": value`).
    pub configuration: Map<String, Value>,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushConfigKeys {
    pub pc_uid: String,
    pub config_dict: Map<String, Value>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GetInstructions {
    pub pc_uid: String,
    /// `true` (client 3.2.0 always): jobs stay NEW until `confirm_jobs_receipt`.
    #[serde(default)]
    pub jobs_received_check: bool,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfirmJobsReceipt {
    pub pc_uid: String,
    pub job_ids: Vec<JobId>,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SendStatusInfo {
    pub pc_uid: String,
    /// Often empty: then the call is a heartbeat.
    #[serde(default, deserialize_with = "null_as_default")]
    pub job_data: Vec<JobReport>,
    #[serde(default)]
    pub client_key: String,
}

/// One job's result. `started`/`finished` are the client's naive local time
/// (`str(datetime.now())`), kept as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobReport {
    pub id: JobId,
    pub status: String,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub finished: Option<String>,
    #[serde(default)]
    pub log_output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushSecurityEvents {
    pub pc_uid: String,
    /// Raw CSV lines `YYYYmmddHHMMSS,<problem id>,<summary>[,x]`, trailing newline kept.
    pub events_csv: Vec<String>,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CitizenLogin {
    pub username: String,
    pub password: String,
    pub pc_uid: String,
    #[serde(default)]
    pub prevent_dual_login: bool,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GeneralCitizenLogin {
    pub pc_uid: String,
    pub integration: String,
    pub value_dict: Map<String, Value>,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SmsLogin {
    pub phone_number: String,
    pub message: String,
    pub pc_uid: String,
    #[serde(default)]
    pub require_booking: bool,
    #[serde(default)]
    pub pc_name: Option<String>,
    #[serde(default)]
    pub allow_idle_login: bool,
    #[serde(default)]
    pub login_duration: Option<i64>,
    #[serde(default)]
    pub quarantine_duration: Option<i64>,
    #[serde(default)]
    pub unlimited_access: bool,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SmsLoginFinalize {
    pub phone_number: String,
    pub pc_uid: String,
    #[serde(default)]
    pub require_booking: bool,
    #[serde(default)]
    pub save_log: bool,
    #[serde(default)]
    pub client_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CitizenLogout {
    pub citizen_hash: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionLogout {
    pub citizen_hash: String,
    /// An id the portal issued; some clients send it as a number.
    pub log_id: JobId,
}

/// A job id (or log id) as the client sends it: an integer or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Int(i)) => Ok(JobId(i)),
            Ok(Raw::Str(s)) => s.trim().parse().map(JobId).map_err(|_| {
                serde::de::Error::custom(format!("job id must be an integer, got {s:?}"))
            }),
            Err(_) => Err(serde::de::Error::custom(
                "job id must be an integer or a string of digits",
            )),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The reply to `get_instructions` for a known, activated PC with a matching key. A rejected
/// PC gets `{}` instead (see [`Instructions::rejected`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instructions {
    pub security_scripts: Vec<SecurityScript>,
    pub jobs: Vec<JobInstruction>,
    /// The merged configuration (site → groups → PC) plus `mac` and `uid`; all strings.
    pub configuration: BTreeMap<String, String>,
}

impl Instructions {
    /// What a rejected PC gets: an empty object, so the client skips everything.
    pub fn rejected() -> Value {
        Value::Object(Map::new())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityScript {
    /// `script<script id>_problem<problem id>`.
    pub name: String,
    pub executable_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInstruction {
    pub id: i64,
    /// The script's name.
    pub name: String,
    pub status: String,
    pub parameters: Vec<JobParameter>,
    pub executable_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobParameter {
    #[serde(rename = "type")]
    pub kind: String,
    /// Always a string; for FILE a URL (relative to admin_url) or "".
    pub value: String,
}

/// Converts a configuration value as a client pushes it (string, number, bool) to the string
/// the portal stores and echoes. Python's `str()` of the same values, so `True` stays `True`.
pub fn config_value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Null => "None".to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A parsed security event line (`push_security_events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEventLine {
    /// `YYYYmmddHHMMSS`, the PC's local time.
    pub occurred: String,
    pub problem_id: i64,
    pub summary: String,
}

impl SecurityEventLine {
    /// Parses one line; `None` for lines the upstream server skips (not 3–4 fields, a problem
    /// id that is not a number, a date that is not `YYYYmmddHHMMSS`).
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split(',').collect();
        if !(3..=4).contains(&fields.len()) {
            return None;
        }
        let occurred = fields[0].trim();
        if occurred.len() != 14 || !occurred.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let problem_id = fields[1].trim().parse().ok()?;
        Some(Self {
            occurred: occurred.to_owned(),
            problem_id,
            summary: fields[2].to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_come_as_strings_or_integers() {
        let r: SendStatusInfo = serde_json::from_str(
            r#"{"pc_uid":"u","job_data":[{"id":"41","status":"DONE","started":"2026-11-22 22:02:08.227828","finished":"x","log_output":"l"}],"client_key":"k","extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.job_data[0].id, JobId(41));
        let c: ConfirmJobsReceipt =
            serde_json::from_str(r#"{"pc_uid":"u","job_ids":[41,"42"]}"#).unwrap();
        assert_eq!(c.job_ids, vec![JobId(41), JobId(42)]);
        assert!(
            serde_json::from_str::<ConfirmJobsReceipt>(r#"{"pc_uid":"u","job_ids":["x"]}"#)
                .is_err()
        );
    }

    #[test]
    fn security_event_lines_as_upstream_reads_them() {
        let e = SecurityEventLine::parse("20261122220215,7,test event\n").unwrap();
        assert_eq!((e.problem_id, e.summary.as_str()), (7, "test event\n"));
        assert_eq!(
            SecurityEventLine::parse("20261122220215,7,a,b")
                .unwrap()
                .summary,
            "a"
        );
        assert!(SecurityEventLine::parse("20261122220215,7").is_none());
        assert!(SecurityEventLine::parse("2026112222021x,7,a").is_none());
        assert!(SecurityEventLine::parse("20261122220215,seven,a").is_none());
        assert!(SecurityEventLine::parse("20261122220215,7,a,b,c").is_none());
    }

    #[test]
    fn config_values_become_python_strings() {
        assert_eq!(config_value_string(&serde_json::json!(900)), "900");
        assert_eq!(config_value_string(&serde_json::json!(true)), "True");
        assert_eq!(config_value_string(&serde_json::json!("x")), "x");
    }
}
