//! `/admin-xml/` (and `/xmlrpc/`): the XML-RPC encoding of the agent protocol, for 2.x agents
//! that have not been upgraded. The same operations as the client-api, through [`Protocol`],
//! with the 2.x method names and positional arguments.
//!
//! A 2.x agent proves nothing but its uid (md5 of its MAC for PCs from an older portal, which
//! anyone on its network can work out). So the protocol is off unless a site turns it on, and
//! a PC that has bound a client key (a 3.x agent) is never served here. Errors are XML-RPC
//! faults (HTTP 200), as the agents expect; only a body over the limit (413) or too slow (408)
//! has its HTTP status.

use crate::protocol::{Credentials, Protocol, Refusal};
use crate::throttle::ClientAddress;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use borgerpc_proto::client_api::JobReport;
use borgerpc_proto::xmlrpc::{
    MethodCall, Value, fault_response, method_response, parse_method_call,
};
use service_kit::http::{Body, BodyError};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Bodies are read within the agents' limit the caller declares (`server.max_body_bytes`).
pub fn router(protocol: Arc<Protocol>, addresses: ClientAddress) -> Router {
    Router::new()
        .route("/admin-xml/", post(endpoint))
        .route("/xmlrpc/", post(endpoint))
        .with_state((protocol, addresses))
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A fault: code 1 for the caller's mistakes (as upstream), 2 when we are unavailable.
fn fault(r: Refusal) -> String {
    match r {
        Refusal::Bad(m) | Refusal::TooMany(_, m) => fault_response(1, &m),
        Refusal::Unavailable(e) => {
            tracing::error!(error = %e, "legacy XML-RPC: database unavailable");
            fault_response(2, "the portal's database is unavailable; try again later")
        }
    }
}

async fn endpoint(
    State((p, addresses)): State<(Arc<Protocol>, ClientAddress)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Body, BodyError>,
) -> Response {
    let body = match body {
        Ok(Body(b)) => b,
        // Not a fault (HTTP 200): the call never got as far as the protocol.
        Err(e) => return (e.status(), xml(fault_response(1, &e.to_string()))).into_response(),
    };
    let call = match parse_method_call(&body) {
        Ok(c) => c,
        Err(e) => return xml(fault_response(1, &format!("request: {e}"))),
    };
    metrics::counter!("borgerpc_legacy_calls_total").increment(1);
    let source = addresses.of(peer, &headers);
    xml(match dispatch(&p, &call, source).await {
        Ok(v) => method_response(&v),
        Err(r) => fault(r),
    })
}

fn bad(m: impl Into<String>) -> Refusal {
    Refusal::Bad(m.into())
}

/// Positional arguments, by name for the error messages.
#[derive(Clone, Copy)]
struct Args<'a> {
    method: &'a str,
    params: &'a [Value],
}

impl<'a> Args<'a> {
    fn count(&self, min: usize, max: usize) -> Result<(), Refusal> {
        if (min..=max).contains(&self.params.len()) {
            Ok(())
        } else {
            Err(bad(format!(
                "{}: takes {min}{} arguments, {} given",
                self.method,
                if max > min {
                    format!(" to {max}")
                } else {
                    String::new()
                },
                self.params.len()
            )))
        }
    }

    fn str(&self, i: usize, name: &str) -> Result<&'a str, Refusal> {
        self.params
            .get(i)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{}: argument {name} must be a string", self.method)))
    }

    fn map(
        &self,
        i: usize,
        name: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Refusal> {
        match self.params.get(i).map(Value::to_json) {
            Some(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(bad(format!(
                "{}: argument {name} must be a struct",
                self.method
            ))),
        }
    }

    fn bool_or(&self, i: usize, default: bool) -> bool {
        self.params
            .get(i)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    fn job_data(&self, i: usize) -> Result<Vec<JobReport>, Refusal> {
        match self.params.get(i) {
            None | Some(Value::Nil) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.to_json())
                .map_err(|e| bad(format!("{}: argument job_data: {e}", self.method))),
        }
    }

    fn lines(&self, i: usize) -> Result<Vec<String>, Refusal> {
        let items = self
            .params
            .get(i)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad(format!(
                    "{}: argument csv_data must be a list of strings",
                    self.method
                ))
            })?;
        items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "{}: argument csv_data must be a list of strings",
                    self.method
                ))
            })
    }
}

async fn dispatch(p: &Protocol, call: &MethodCall, source: IpAddr) -> Result<Value, Refusal> {
    let ip = source.to_string();
    let ip = ip.as_str();
    let a = Args {
        method: &call.method,
        params: &call.params,
    };
    let pc = |i: usize| async move {
        let uid = a.str(i, "pc_uid")?;
        p.authenticate(uid, Credentials::Legacy).await
    };
    Ok(match call.method.as_str() {
        "register_new_computer" => {
            a.count(5, 5)?;
            let uid = p
                .register(
                    a.str(0, "mac")?,
                    a.str(1, "name")?,
                    a.str(3, "site")?,
                    &a.map(4, "configuration")?,
                    Credentials::Legacy,
                    source,
                )
                .await?;
            Value::String(uid)
        }
        "register_new_computer_v2" => {
            a.count(4, 4)?;
            let uid = p
                .register(
                    a.str(0, "mac")?,
                    a.str(1, "name")?,
                    a.str(2, "site")?,
                    &a.map(3, "configuration")?,
                    Credentials::Legacy,
                    source,
                )
                .await?;
            Value::String(uid)
        }
        // 2.6+ agents send a third positional `read_only`; older ones two arguments.
        "push_config_keys" => {
            a.count(2, 3)?;
            let config = a.map(1, "config_dict")?;
            let pc = pc(0).await?;
            p.push_config_keys(&pc, &config, a.bool_or(2, false))
                .await?;
            Value::Bool(true)
        }
        // 2.x agents have no confirm step: what they get is submitted.
        "get_instructions" => {
            a.count(1, 1)?;
            let pc = pc(0).await?;
            let i = p.get_instructions(&pc, false, Some(ip)).await?;
            Value::from_json(&serde_json::to_value(i).unwrap_or_default())
        }
        "send_status_info" => {
            a.count(2, 4)?;
            let reports = a.job_data(2)?;
            let pc = pc(0).await?;
            p.send_status_info(&pc, &reports, Some(ip)).await?;
            Value::Int(0)
        }
        "send_status_info_v2" => {
            a.count(1, 2)?;
            let reports = a.job_data(1)?;
            let pc = pc(0).await?;
            p.send_status_info(&pc, &reports, Some(ip)).await?;
            Value::Int(0)
        }
        "push_security_events" => {
            a.count(2, 2)?;
            let lines = a.lines(1)?;
            let pc = pc(0).await?;
            p.push_security_events(&pc, &lines).await?;
            Value::Int(0)
        }
        // No citizen-login integration: known PCs are told "denied", as in the client-api.
        "citizen_login" => {
            a.count(3, 4)?;
            pc(2).await?;
            Value::Array(vec![Value::Int(0), Value::String(String::new())])
        }
        "sms_login" => {
            a.count(3, 9)?;
            pc(2).await?;
            Value::Array(vec![Value::Int(0), Value::String(String::new())])
        }
        "sms_login_finalize" => {
            a.count(4, 7)?;
            pc(1).await?;
            Value::String(String::new())
        }
        "general_citizen_login" => {
            a.count(3, 3)?;
            pc(0).await?;
            Value::Array(vec![
                Value::Int(0),
                Value::String(String::new()),
                Value::String(String::new()),
            ])
        }
        "citizen_logout" | "sms_logout" | "general_citizen_logout" => Value::Int(0),
        other => {
            return Err(bad(format!(
                "no method {:?}",
                other.chars().take(60).collect::<String>()
            )));
        }
    })
}
