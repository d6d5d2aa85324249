//! `/client-api/<endpoint>`: the JSON encoding of the agent protocol (os2borgerpc-client 3.x),
//! and `/media/jobs/<token>/<name>`, where agents fetch their jobs' files.
//!
//! Status codes as the agent expects them: 200 with the endpoint's reply; 400 with a JSON
//! string saying what is wrong (the agent prints it); 422 `{"detail": [...]}` naming the field
//! when the body does not have the endpoint's shape; 413 for bodies over the limit and 408 for
//! one that does not arrive in time; 429 with Retry-After past the registration limits; 503 when the database does not answer. Never a
//! 500 for anything a caller sent.

use crate::protocol::{Credentials, Protocol, Refusal};
use crate::throttle::ClientAddress;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use borgerpc_proto::client_api as api;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_kit::http::{Body, BodyError};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

#[derive(Clone)]
struct Agents {
    protocol: Arc<Protocol>,
    addresses: ClientAddress,
}

/// Bodies are read within the agents' limit the caller declares (`server.max_body_bytes`).
pub fn router(protocol: Arc<Protocol>, addresses: ClientAddress) -> Router {
    Router::new()
        .route("/client-api/{endpoint}", post(endpoint))
        .route("/media/jobs/{token}/{name}", get(job_file))
        .with_state(Agents {
            protocol,
            addresses,
        })
}

fn json_reply(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

fn message(status: StatusCode, text: impl Into<String>) -> Response {
    json_reply(status, Value::String(text.into()))
}

fn refused(endpoint: &str, r: Refusal) -> Response {
    match r {
        Refusal::Bad(m) => {
            metrics::counter!("borgerpc_client_api_refused_total", "endpoint" => endpoint.to_owned())
                .increment(1);
            message(StatusCode::BAD_REQUEST, m)
        }
        Refusal::TooMany(wait, m) => {
            let mut r = message(StatusCode::TOO_MANY_REQUESTS, m);
            if let Ok(v) = crate::throttle::retry_after_secs(wait).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Refusal::Unavailable(e) => {
            tracing::error!(endpoint, error = %e, "database unavailable");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "the portal's database is unavailable; try again later",
            )
        }
    }
}

/// Reads the body as the endpoint's request type, or answers why it cannot.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Box::new(message(StatusCode::BAD_REQUEST, "body: is not valid UTF-8")))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Box::new(message(
            StatusCode::BAD_REQUEST,
            format!("body: is not valid JSON ({e})"),
        ))
    })?;
    if !value.is_object() {
        return Err(Box::new(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body: must be a JSON object",
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc = vec![Value::String("body".into())];
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path != "." {
            loc.extend(path.split('.').map(|p| Value::String(p.to_owned())));
        } else if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            loc.push(Value::String(field.to_owned()));
        }
        Box::new(json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": loc, "msg": inner, "type": "value_error"}]}),
        ))
    })
}

async fn endpoint(
    State(agents): State<Agents>,
    Path(endpoint): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Body, BodyError>,
) -> Response {
    let body = match body {
        Ok(Body(b)) => b,
        Err(e) => return message(e.status(), e.to_string()),
    };
    let source = agents.addresses.of(peer, &headers);
    let started = std::time::Instant::now();
    let response = match dispatch(&agents.protocol, &endpoint, &body, source).await {
        Ok(r) => r,
        Err(r) => *r,
    };
    metrics::histogram!("borgerpc_client_api_seconds", "endpoint" => endpoint_label(&endpoint))
        .record(started.elapsed().as_secs_f64());
    response
}

fn endpoint_label(name: &str) -> &'static str {
    api::ENDPOINTS
        .iter()
        .find(|e| **e == name)
        .copied()
        .unwrap_or("unknown")
}

async fn dispatch(
    p: &Protocol,
    endpoint: &str,
    body: &[u8],
    source: IpAddr,
) -> Result<Response, Box<Response>> {
    let ip = source.to_string();
    let ip = Some(ip.as_str());
    let ok = |v: Value| json_reply(StatusCode::OK, v);
    let fail = |r: Refusal| Box::new(refused(endpoint, r));
    Ok(match endpoint {
        "register_new_computer" => {
            let r: api::RegisterNewComputer = parse(body)?;
            let uid = p
                .register(
                    &r.mac,
                    &r.name,
                    &r.site,
                    &r.configuration,
                    Credentials::ClientKey(&r.client_key),
                    source,
                )
                .await
                .map_err(fail)?;
            ok(Value::String(uid))
        }
        "push_config_keys" => {
            let r: api::PushConfigKeys = parse(body)?;
            let pc = p
                .authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            p.push_config_keys(&pc, &r.config_dict, r.read_only)
                .await
                .map_err(fail)?;
            ok(json!("OK"))
        }
        "get_instructions" => {
            let r: api::GetInstructions = parse(body)?;
            let pc = p
                .authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            let i = p
                .get_instructions(&pc, r.jobs_received_check, ip)
                .await
                .map_err(fail)?;
            ok(serde_json::to_value(i).unwrap_or_default())
        }
        "confirm_jobs_receipt" => {
            let r: api::ConfirmJobsReceipt = parse(body)?;
            let pc = p
                .authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            let ids: Vec<i64> = r.job_ids.iter().map(|j| j.0).collect();
            p.confirm_jobs_receipt(&pc, &ids).await.map_err(fail)?;
            ok(json!(true))
        }
        "send_status_info" => {
            let r: api::SendStatusInfo = parse(body)?;
            let pc = p
                .authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            p.send_status_info(&pc, &r.job_data, ip)
                .await
                .map_err(fail)?;
            ok(json!(0))
        }
        "push_security_events" => {
            let r: api::PushSecurityEvents = parse(body)?;
            let pc = p
                .authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            p.push_security_events(&pc, &r.events_csv)
                .await
                .map_err(fail)?;
            ok(json!(0))
        }
        // Citizen logins need an integration (library system, SMS gateway, booking) that this
        // portal does not have: a known PC is told "denied", as upstream does when a
        // validator says no, so login screens keep working and fall back to their message.
        "citizen_login" => {
            let r: api::CitizenLogin = parse(body)?;
            p.authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            ok(json!([0, ""]))
        }
        "general_citizen_login" => {
            let r: api::GeneralCitizenLogin = parse(body)?;
            p.authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            ok(json!([0, "", ""]))
        }
        "sms_login" => {
            let r: api::SmsLogin = parse(body)?;
            p.authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            ok(json!([0, ""]))
        }
        "sms_login_finalize" => {
            let r: api::SmsLoginFinalize = parse(body)?;
            p.authenticate(&r.pc_uid, Credentials::ClientKey(&r.client_key))
                .await
                .map_err(fail)?;
            ok(json!(""))
        }
        "citizen_logout" => {
            let _: api::CitizenLogout = parse(body)?;
            ok(json!(0))
        }
        "general_citizen_logout" | "sms_logout" => {
            let _: api::SessionLogout = parse(body)?;
            ok(json!(0))
        }
        _ => message(
            StatusCode::NOT_FOUND,
            format!(
                "no client-api endpoint {:?}",
                endpoint.chars().take(60).collect::<String>()
            ),
        ),
    })
}

/// A job's file, by the unguessable token in its URL. No key: the agent fetches it with a
/// plain GET; the token is the capability, and it dies with the job.
async fn job_file(
    State(Agents { protocol: p, .. }): State<Agents>,
    Path((token, _name)): Path<(String, String)>,
) -> Response {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return message(StatusCode::NOT_FOUND, "no such file");
    }
    match p.store.file_by_token(&token).await {
        Ok(Some((_, data))) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            data,
        )
            .into_response(),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "no such file, or its link has expired",
        ),
        Err(e) => refused("media", Refusal::Unavailable(e.into())),
    }
}
