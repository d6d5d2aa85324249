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

/// `register_new_computer`: a PC asks to join a site, the first call a new agent makes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegisterNewComputer {
    /// The PC's MAC address, as the agent reads it.
    pub mac: String,
    /// The PC's host name, shown to operators.
    pub name: String,
    /// The site's uid (not its name).
    pub site: String,
    /// The PC's whole local configuration, flattened (`"a.b": value`).
    pub configuration: Map<String, Value>,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `push_config_keys`: configuration entries the PC reports about itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushConfigKeys {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// The entries, by key.
    pub config_dict: Map<String, Value>,
    /// Whether the entries belong to the agent, so operators may not change them.
    #[serde(default)]
    pub read_only: bool,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `get_instructions`: the PC's poll for jobs, security scripts and configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GetInstructions {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// `true` (client 3.2.0 always): jobs stay NEW until `confirm_jobs_receipt`.
    #[serde(default)]
    pub jobs_received_check: bool,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `confirm_jobs_receipt`: the PC has the jobs it was given (NEW → SUBMITTED).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfirmJobsReceipt {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// The jobs the PC received.
    pub job_ids: Vec<JobId>,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `send_status_info`: the PC's heartbeat, with the results of jobs it has finished.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SendStatusInfo {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// Often empty: then the call is a heartbeat.
    #[serde(default, deserialize_with = "null_as_default")]
    pub job_data: Vec<JobReport>,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// One job's result. `started`/`finished` are the client's naive local time
/// (`str(datetime.now())`), kept as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobReport {
    /// The job reported on.
    pub id: JobId,
    /// The job's outcome as the agent names it (`DONE` or `FAILED`; the server checks).
    pub status: String,
    /// When the agent started the job.
    #[serde(default)]
    pub started: Option<String>,
    /// When the job ended.
    #[serde(default)]
    pub finished: Option<String>,
    /// What the script printed (PASSWORD parameters masked by the agent).
    #[serde(default)]
    pub log_output: Option<String>,
}

/// `push_security_events`: what the PC's security scripts found.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushSecurityEvents {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// Raw CSV lines `YYYYmmddHHMMSS,<problem id>,<summary>[,x]`, trailing newline kept.
    pub events_csv: Vec<String>,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `citizen_login`: a citizen logs in at the PC; upstream asks a login integration (a
/// library's, say) whether to let them in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CitizenLogin {
    /// The citizen's login name at the integration.
    pub username: String,
    /// The citizen's password or PIN: never logged.
    pub password: String,
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// Whether a citizen already logged in elsewhere is refused.
    #[serde(default)]
    pub prevent_dual_login: bool,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `general_citizen_login`: a citizen logs in through a named integration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GeneralCitizenLogin {
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// The integration's name.
    pub integration: String,
    /// What the integration needs, by name.
    pub value_dict: Map<String, Value>,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `sms_login`: a citizen asks for a one-time code by SMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SmsLogin {
    /// Where the code goes.
    pub phone_number: String,
    /// The SMS text, with a placeholder for the code.
    pub message: String,
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// Whether the citizen needs a booking of this PC.
    #[serde(default)]
    pub require_booking: bool,
    /// The PC's name, for the booking system.
    #[serde(default)]
    pub pc_name: Option<String>,
    /// Whether a login is allowed while the PC is idle.
    #[serde(default)]
    pub allow_idle_login: bool,
    /// How long a session may last, in minutes.
    #[serde(default)]
    pub login_duration: Option<i64>,
    /// How long the citizen must wait before logging in again, in minutes.
    #[serde(default)]
    pub quarantine_duration: Option<i64>,
    /// Whether the session has no time limit.
    #[serde(default)]
    pub unlimited_access: bool,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `sms_login_finalize`: the citizen typed the code; the session starts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SmsLoginFinalize {
    /// The number the code was sent to.
    pub phone_number: String,
    /// The uid the portal gave the PC at registration.
    pub pc_uid: String,
    /// Whether the citizen needs a booking of this PC.
    #[serde(default)]
    pub require_booking: bool,
    /// Whether the session is logged.
    #[serde(default)]
    pub save_log: bool,
    /// The agent's key (64 hex); empty from agents that have none.
    #[serde(default)]
    pub client_key: String,
}

/// `citizen_logout`: a citizen's session ends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CitizenLogout {
    /// The session's citizen, as the login answered it.
    pub citizen_hash: String,
}

/// `general_citizen_logout` and `sms_logout`: a session the portal logged ends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionLogout {
    /// The session's citizen, as the login answered it.
    pub citizen_hash: String,
    /// An id the portal issued; some clients send it as a number.
    pub log_id: JobId,
}

/// A job id (or log id) as the client sends it: an integer or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JobId(
    /// The id.
    pub i64,
);

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
    /// The security scripts of the PC's rules, run by the agent after each check-in.
    pub security_scripts: Vec<SecurityScript>,
    /// The PC's NEW jobs.
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

/// A security script the agent keeps and runs to look for problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityScript {
    /// `script<script id>_problem<problem id>`.
    pub name: String,
    /// The script itself.
    pub executable_code: String,
}

/// A job for the agent to run: a script version with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInstruction {
    /// The job's id, which the agent confirms and reports with.
    pub id: i64,
    /// The script's name.
    pub name: String,
    /// `NEW`, or `SUBMITTED` for an agent that does not confirm receipt (the portal counts the
    /// reply as its receipt).
    pub status: String,
    /// The script's arguments, in order.
    pub parameters: Vec<JobParameter>,
    /// The script's code, of the version the job was made with.
    pub executable_code: String,
}

/// One argument of a job's script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobParameter {
    /// The parameter's type as the script declares it (`STRING`, `FILE`, `PASSWORD`, …).
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
    /// The security problem (rule) that found it.
    pub problem_id: i64,
    /// What the script says happened.
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
