//! The operator API over real HTTP.
//!
//! The role matrix walks every route of `openapi.json` as every kind of caller — superuser,
//! customer admin, site admin, site user, read-only and writing API keys of customer A, and the
//! same roles of customer B — aimed at customer A's objects: each gets exactly what the roles
//! of `borgerpc.md` §2.1 allow (2xx), 403 when its role is too small, and 404 from the other
//! customer, whose answers never show A's data. A refused call changes nothing; an allowed
//! write is in the audit log under the caller's name.

use crate::common;

use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::events::NewEvent;
use borgerpc_admin::store::jobs::{NewScript, ParamValue};
use borgerpc_admin::store::tenants::Site;
use common::Portal;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

const PASSWORD: &str = "en lang og god adgangskode 2026";

/// The wake plan core scripts (see `Portal::wake_scripts`).
async fn wake_scripts(portal: &Portal) -> (i64, i64) {
    portal.wake_scripts().await
}

async fn login(portal: &Portal, username: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {username}");
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A user with one role, logged in.
async fn user_with(
    portal: &Portal,
    username: &str,
    role: &str,
    customer: Option<i64>,
    site: Option<i64>,
) -> (i64, String) {
    let u = portal
        .store
        .add_user(username, &format!("{username}@kommune.dk"), PASSWORD, false)
        .await
        .unwrap();
    portal
        .store
        .add_membership(u.id, role, customer, site)
        .await
        .unwrap();
    (u.id, login(portal, username).await)
}

/// A caller: who, with what token, and the actor the audit log names.
#[derive(Clone)]
struct Caller {
    who: String,
    token: String,
    actor: String,
    /// 0 read-only key, 1 site user or writing key, 2 site admin, 3 customer admin, 4 superuser.
    level: u8,
    /// For logout: log in again to get a token to throw away.
    username: Option<String>,
}

async fn key_id(portal: &Portal, key: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM api_keys WHERE key_sha256 = $1")
        .bind(service_kit::accounts::token_hash(key))
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
}

/// One municipality: a site with an activated PC in a group (with a policy, a wake plan and
/// a supervisor), a finished job, an event, a security and an offline rule, and a caller of
/// every role. A second site of the same customer is for mixed roles.
struct Tenant {
    tag: String,
    customer_id: i64,
    site: Site,
    other_site: Site,
    pc_id: i64,
    pc_uid: String,
    pc_name: String,
    group_id: i64,
    job_id: i64,
    event_id: i64,
    policy_id: i64,
    script_id: i64,
    security_script_id: i64,
    security_rule: i64,
    offline_rule: i64,
    plan_id: i64,
    callers: Vec<Caller>,
}

impl Tenant {
    fn caller(&self, who: &str) -> &Caller {
        self.callers.iter().find(|c| c.who == who).unwrap()
    }
}

async fn tenant(portal: &Portal, tag: &str, mac: &str) -> Tenant {
    let lower = tag.to_lowercase();
    let site = portal
        .site(&format!("Kommune {tag}"), &format!("site-{lower}1"))
        .await;
    let other_site = portal
        .site(&format!("Kommune {tag}"), &format!("site-{lower}2"))
        .await;
    let cli = Scope::cli(&portal.store).await.unwrap();
    let pc_name = format!("pc-of-{lower}");
    let (status, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": mac, "name": pc_name, "site": site.uid, "configuration": {"admin_url": portal.url}, "client_key": "ab".repeat(32)}),
        )
        .await;
    assert_eq!(status, 200, "{uid}");
    let pc_uid = uid.as_str().unwrap().to_owned();
    let pc = portal.activate(&site, &pc_uid).await;
    let group_id = portal
        .store
        .add_group(site.id, &format!("Udlån {tag}"))
        .await
        .unwrap();
    portal
        .store
        .add_group_member(group_id, pc.id)
        .await
        .unwrap();
    let script = portal
        .echo_script(Some(&site), &format!("script of {tag}"))
        .await;
    let security = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: format!("security script of {tag}"),
            description: String::new(),
            category: Some("Sikkerhed".into()),
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap();
    let job_id = portal.run_on(&site, script.script_id, pc.id, "hej").await;
    sqlx::query("UPDATE jobs SET status = 'DONE' WHERE id = $1")
        .bind(job_id)
        .execute(portal.store.pool())
        .await
        .unwrap();
    let security_rule = portal
        .store
        .add_security_problem(
            site.id,
            &format!("rule of {tag}"),
            "HIGH",
            security.script_id,
            &[],
        )
        .await
        .unwrap();
    let offline_rule = portal
        .store
        .add_offline_rule(
            site.id,
            &format!("offline of {tag}"),
            "NORMAL",
            "08:00",
            "18:00",
            60,
            &[],
        )
        .await
        .unwrap();
    let event_id = portal
        .store
        .add_security_events(&[NewEvent {
            site_id: site.id,
            pc_id: pc.id,
            problem_id: security_rule,
            occurred_at: service_kit::db::now_ms(),
            occurred_text: "20261130120000",
            summary: &format!("event of {tag}"),
        }])
        .await
        .unwrap()[0];
    let policy_id = portal
        .store
        .add_policy(
            &cli,
            group_id,
            script.script_id,
            &[ParamValue::Text("politik".into())],
        )
        .await
        .unwrap()
        .unwrap()
        .policy_id;
    let plan = portal
        .store
        .create_wake_plan(
            &cli,
            site.id,
            &borgerpc_admin::store::wakeplans::PlanFields {
                name: Some(format!("plan of {tag}")),
                groups: Some(vec![group_id]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let customer_id = site.customer_id;
    let mut callers = Vec::new();
    for (who, role, level) in [
        ("customer_admin", "customer_admin", 3),
        ("site_admin", "site_admin", 2),
        ("site_user", "site_user", 1),
    ] {
        let username = format!("{lower}-{who}");
        let (customer, on_site) = if role == "customer_admin" {
            (Some(customer_id), None)
        } else {
            (None, Some(site.id))
        };
        let (_, token) = user_with(portal, &username, role, customer, on_site).await;
        callers.push(Caller {
            who: format!("{tag} {who}"),
            token,
            actor: format!("user:{username}"),
            level,
            username: Some(username),
        });
    }
    for (who, write, level) in [("write key", true, 1), ("read key", false, 0)] {
        let key = portal.store.add_api_key(site.id, who, write).await.unwrap();
        let id = key_id(portal, &key).await;
        callers.push(Caller {
            who: format!("{tag} {who}"),
            actor: format!("api-key:{id}"),
            token: key,
            level,
            username: None,
        });
    }
    Tenant {
        tag: tag.to_owned(),
        customer_id,
        site,
        other_site,
        pc_id: pc.id,
        pc_uid,
        pc_name,
        group_id,
        job_id,
        event_id,
        policy_id,
        script_id: script.script_id,
        security_script_id: security.script_id,
        security_rule,
        offline_rule,
        plan_id: plan.id,
        callers,
    }
}

async fn call(
    portal: &Portal,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = reqwest::Client::new();
    let url = format!("{}{path}", portal.url);
    let mut req = match method {
        "get" => c.get(url),
        "post" => c.post(url),
        "patch" => c.patch(url),
        "put" => c.put(url),
        "delete" => c.delete(url),
        other => panic!("method {other}"),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

static NEXT: AtomicUsize = AtomicUsize::new(1);

/// The concrete request for a documented route aimed at `t`'s objects. Routes that use their
/// object up (deletes, restarts, new users) get a fresh one each time.
async fn request_for(
    portal: &Portal,
    method: &str,
    path: &str,
    t: &Tenant,
) -> (String, Option<Value>) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let store = &portal.store;
    let cli = Scope::cli(store).await.unwrap();
    let fresh_user = || async {
        let u = store
            .add_user(&format!("fresh{n}"), "", PASSWORD, false)
            .await
            .unwrap();
        store
            .add_membership(u.id, "site_user", None, Some(t.site.id))
            .await
            .unwrap();
        u.id
    };
    let id = match (method, path) {
        ("delete", "/api/system/group/{id}") => store
            .add_group(t.site.id, &format!("Kortvarig {n}"))
            .await
            .unwrap(),
        ("delete", "/api/system/security-rule/{id}") => store
            .add_security_problem(t.site.id, "kortvarig", "HIGH", t.security_script_id, &[])
            .await
            .unwrap(),
        ("delete", "/api/system/offline-rule/{id}") => store
            .add_offline_rule(t.site.id, "kortvarig", "HIGH", "08:00", "09:00", 15, &[])
            .await
            .unwrap(),
        ("delete", "/api/system/wake-plan/{id}") => {
            store
                .create_wake_plan(
                    &cli,
                    t.site.id,
                    &borgerpc_admin::store::wakeplans::PlanFields {
                        name: Some(format!("kortvarig {n}")),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .unwrap()
                .id
        }
        ("delete", "/api/system/api-key/{id}") => {
            let key = store
                .add_api_key(t.site.id, "kortvarig", false)
                .await
                .unwrap();
            key_id(portal, &key).await
        }
        (_, "/api/system/user/{id}") | (_, "/api/system/user/{id}/roles") => fresh_user().await,
        ("post", "/api/system/job/{id}/restart") => {
            let job = portal.run_on(&t.site, t.script_id, t.pc_id, "igen").await;
            sqlx::query("UPDATE jobs SET status = 'FAILED' WHERE id = $1")
                .bind(job)
                .execute(store.pool())
                .await
                .unwrap();
            job
        }
        _ if path.starts_with("/api/system/site/") => t.site.id,
        _ if path.contains("/job/") => t.job_id,
        _ if path.contains("/group/") => t.group_id,
        _ if path.contains("/policy/") => t.policy_id,
        _ if path.contains("/event/") => t.event_id,
        _ if path.contains("/security-rule/") => t.security_rule,
        _ if path.contains("/offline-rule/") => t.offline_rule,
        _ if path.contains("/wake-plan/") => t.plan_id,
        _ => t.pc_id,
    };
    if path.ends_with("/members/{pc_id}") {
        store.add_group_member(t.group_id, t.pc_id).await.unwrap();
    }
    // Writes that change something, so that an allowed one has something to record.
    if path == "/api/system/group/{id}/members" {
        sqlx::query("DELETE FROM pc_group_members WHERE group_id = $1 AND pc_id = $2")
            .bind(t.group_id)
            .bind(t.pc_id)
            .execute(store.pool())
            .await
            .unwrap();
    }
    if path == "/api/system/pcs/activate" {
        sqlx::query("UPDATE pcs SET is_activated = 0 WHERE id = $1")
            .bind(t.pc_id)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let uid = &t.site.uid;
    let body = match (method, path) {
        ("post", "/api/system/sites") => {
            Some(json!({"customer_id": t.customer_id, "uid": format!("ny-{n}"), "name": "Ny"}))
        }
        ("patch", "/api/system/site/{id}") => Some(json!({"rerun_asc": true})),
        ("put", "/api/system/site/{id}/opening-hours") => {
            let day = json!({"opens": format!("08:{:02}", n % 60), "closes": "16:00"});
            let closed = json!({"opens": "", "closes": ""});
            Some(json!({"week": [day, day, day, day, day, closed, closed]}))
        }
        ("patch", p) if p.ends_with("/config") => {
            Some(json!({"entries": {"browser_home": format!("https://{n}.kommune.dk")}}))
        }
        ("post", "/api/system/pc/{id}/activate") => Some(json!({"is_activated": true})),
        ("post", "/api/system/pc/{id}/approve-key") => {
            Some(json!({"fingerprint": "ab".repeat(32)}))
        }
        ("post", "/api/system/pcs/activate") => {
            Some(json!({"uids": [t.pc_uid], "is_activated": true}))
        }
        ("post", "/api/system/jobs") => Some(
            json!({"script_id": t.script_id, "pcs": [t.pc_id], "groups": [t.group_id], "parameters": ["x"]}),
        ),
        ("patch", "/api/system/event/{id}") => Some(json!({"note": format!("note {n}")})),
        ("post", "/api/system/groups") => {
            Some(json!({"site": uid, "name": format!("Ny gruppe {n}")}))
        }
        ("patch", "/api/system/group/{id}") => Some(json!({"description": format!("d{n}")})),
        ("post", "/api/system/group/{id}/members") => Some(json!({"pc_id": t.pc_id})),
        ("post", "/api/system/group/{id}/policies") => {
            Some(json!({"script_id": t.script_id, "parameters": ["x"]}))
        }
        ("patch", "/api/system/policy/{id}") => Some(json!({"parameters": ["y"]})),
        ("post", "/api/system/security-rules") => Some(
            json!({"site": uid, "name": format!("regel {n}"), "level": "HIGH", "script_id": t.security_script_id}),
        ),
        ("patch", "/api/system/security-rule/{id}") => {
            Some(json!({"description": format!("d{n}")}))
        }
        ("post", "/api/system/offline-rules") => Some(
            json!({"site": uid, "name": format!("offline {n}"), "level": "NORMAL", "monitor_start": "08:00", "monitor_end": "18:00", "max_offline_minutes": 60}),
        ),
        ("patch", "/api/system/offline-rule/{id}") => {
            Some(json!({"max_offline_minutes": 30 + n % 60}))
        }
        ("post", "/api/system/wake-plans") => {
            Some(json!({"site": uid, "name": format!("Plan {n}")}))
        }
        ("patch", "/api/system/wake-plan/{id}") => Some(
            json!({"sleep_state": if n.is_multiple_of(2) { "MEM" } else { "OFF" }, "exceptions": [{"name": "Jul", "kind": "CLOSED", "date_start": "2099-12-24", "date_end": "2099-12-26"}]}),
        ),
        ("post", "/api/system/users") => Some(
            json!({"username": format!("ny{n}"), "password": PASSWORD, "role": "site_user", "site": uid}),
        ),
        ("post", "/api/system/user/{id}/roles") => Some(json!({"role": "site_admin", "site": uid})),
        ("post", "/api/system/api-keys") => Some(json!({"site": uid, "description": "bi"})),
        ("get" | "delete" | "post", _) => None,
        (m, p) => panic!("no request for {m} {p}"),
    };
    let concrete = path
        .replace("{id}", &id.to_string())
        .replace("{pc_id}", &t.pc_id.to_string());
    if path == "/api/system/scripts" {
        // Scripts are listed per site.
        return (format!("{concrete}?site={uid}"), body);
    }
    (concrete, body)
}

/// Whether a GET route takes `?site=`.
fn takes_site(op: &Value) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "site" && p["in"] == "query"))
}

/// The role a route needs by `borgerpc.md` §2.1: reading is for every role; the daily work
/// (running scripts, editing PCs, groups, configurations, rules and plans) for site users and
/// writing keys; deleting objects and managing users, API keys and site settings for site
/// admins; creating sites for customer admins.
fn role_by_the_rules(method: &str, path: &str) -> &'static str {
    match (method, path) {
        (_, "/api/openapi.json") | (_, "/api/auth/login") => "none",
        (_, "/api/auth/logout") => "reader",
        ("post", "/api/system/sites") => "customer_admin",
        ("patch", "/api/system/site/{id}") => "site_admin",
        // A site's settings page is the site administrators'.
        ("put", "/api/system/site/{id}/opening-hours") => "site_admin",
        // The audit log as a report: read where the log page is, by site administrators.
        ("get", "/api/reports/changes") => "site_admin",
        _ if path.starts_with("/api/system/user") || path.starts_with("/api/system/api-key") => {
            "site_admin"
        }
        ("delete", p) if p.ends_with("/members/{pc_id}") => "site_user",
        ("delete", _) => "site_admin",
        ("get", _) => "reader",
        _ => "site_user",
    }
}

fn level_of(role: &str) -> u8 {
    match role {
        "reader" => 0,
        "site_user" => 1,
        "site_admin" => 2,
        "customer_admin" => 3,
        other => panic!("role {other}"),
    }
}

/// Everything a refused call must leave as it was (rows of every table operators change, and
/// the audit log's length).
async fn snapshot(portal: &Portal) -> Vec<String> {
    let mut out = Vec::new();
    for q in [
        "SELECT id || ':' || name || ':' || legacy_xmlrpc || ':' || rerun_asc FROM sites",
        "SELECT id || ':' || name FROM customers",
        "SELECT id || ':' || is_activated || ':' || name FROM pcs",
        "SELECT id || ':' || name || ':' || description || ':' || COALESCE(CAST(wake_week_plan_id AS TEXT), '') FROM pc_groups",
        "SELECT pc_id || ':' || group_id FROM pc_group_members",
        "SELECT group_id || ':' || user_id FROM group_supervisors",
        "SELECT owner_kind || ':' || owner_id || ':' || entry_key || ':' || entry_value FROM config_entries",
        "SELECT id || ':' || name || ':' || level || ':' || script_id || ':' || description FROM security_problems",
        "SELECT id || ':' || name || ':' || level || ':' || monitor_start || ':' || max_offline_minutes FROM offline_rules",
        "SELECT rule_kind || ':' || rule_id || ':' || group_id FROM rule_groups",
        "SELECT rule_kind || ':' || rule_id || ':' || user_id FROM rule_alert_users",
        "SELECT id || ':' || name || ':' || enabled || ':' || sleep_state || ':' || week_json FROM wake_week_plans",
        "SELECT plan_id || ':' || event_id FROM wake_plan_events",
        "SELECT site_id || ':' || weekday || ':' || opens || ':' || closes FROM site_opening_hours",
        "SELECT id || ':' || username FROM users",
        "SELECT user_id || ':' || role || ':' || COALESCE(CAST(site_id AS TEXT), '') || ':' || COALESCE(CAST(customer_id AS TEXT), '') FROM memberships",
        "SELECT id || ':' || description || ':' || can_write FROM api_keys",
        "SELECT token_sha256 FROM sessions",
        "SELECT id || ':' || status FROM jobs",
        "SELECT CAST(COUNT(*) AS TEXT) FROM batches",
        "SELECT id || ':' || status || ':' || note || ':' || COALESCE(CAST(assigned_user_id AS TEXT), '') FROM security_events",
        "SELECT id || ':' || group_id || ':' || script_id FROM associated_scripts",
        "SELECT associated_script_id || ':' || position || ':' || COALESCE(string_value, '') FROM associated_script_parameters",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
    ] {
        let mut rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(q.to_owned()))
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
        rows.sort();
        out.push(rows.join(","));
    }
    out
}

async fn audit_since(portal: &Portal, after: i64) -> Vec<(String, String)> {
    sqlx::query_as("SELECT actor, action FROM audit_log WHERE id > $1 ORDER BY id")
        .bind(after)
        .fetch_all(portal.store.pool())
        .await
        .unwrap()
}

async fn last_audit_id(portal: &Portal) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM audit_log")
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
        .unwrap_or(0)
}

/// What of A must never show up in B's answers.
fn leaks(body: &Value, a: &Tenant) -> bool {
    let text = body.to_string();
    [
        a.pc_name.as_str(),
        a.site.uid.as_str(),
        a.other_site.uid.as_str(),
        &format!("event of {}", a.tag),
        &format!("script of {}", a.tag),
        &format!("Udlån {}", a.tag),
        &format!("rule of {}", a.tag),
        &format!("plan of {}", a.tag),
    ]
    .iter()
    .any(|m| text.contains(m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_as_the_roles_allow() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let b = tenant(&portal, "B", "02:00:00:00:00:0b").await;
    let su = portal
        .store
        .add_user("root-admin", "", PASSWORD, true)
        .await
        .unwrap();
    let superuser = Caller {
        who: "superuser".into(),
        token: login(&portal, &su.username).await,
        actor: "user:root-admin".into(),
        level: 4,
        username: Some(su.username.clone()),
    };
    let doc: Value = serde_json::from_str(borgerpc_admin::api::OPENAPI).unwrap();
    let mut walked = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let documented = op["x-role"].as_str().unwrap();
            assert_eq!(
                documented,
                role_by_the_rules(method, path),
                "{method} {path}: openapi.json's x-role is not what §2.1 says"
            );
            if documented == "none" {
                continue;
            }
            walked += 1;
            let need = level_of(documented);
            let writes = method != "get";
            // Customer A's callers on A's objects: allowed by role, else 403.
            let mut own = vec![superuser.clone()];
            own.extend(a.callers.iter().cloned());
            for c in &own {
                let token = match (path.as_str(), &c.username) {
                    ("/api/auth/logout", Some(u)) => login(&portal, u).await,
                    _ => c.token.clone(),
                };
                let (url, body) = request_for(&portal, method, path, &a).await;
                let before = snapshot(&portal).await;
                let audit_mark = last_audit_id(&portal).await;
                let (status, reply) = call(&portal, &token, method, &url, body).await;
                if c.level >= need {
                    assert!(
                        (200..300).contains(&status),
                        "{} {method} {url}: {status} {reply}",
                        c.who
                    );
                    if writes && !path.starts_with("/api/auth") {
                        let records = audit_since(&portal, audit_mark).await;
                        assert!(
                            !records.is_empty()
                                && records.iter().all(|(actor, _)| *actor == c.actor),
                            "{} {method} {url}: audit {records:?}",
                            c.who
                        );
                    }
                } else {
                    assert_eq!(status, 403, "{} {method} {url}: {reply}", c.who);
                    assert_eq!(
                        snapshot(&portal).await,
                        before,
                        "{} {method} {url} changed something",
                        c.who
                    );
                }
            }
            // Customer B's callers on A's objects: never found, never shown, nothing changes.
            for c in &b.callers {
                let (url, body) = request_for(&portal, method, path, &a).await;
                let with_site = if method == "get" && takes_site(op) && !url.contains('?') {
                    format!("{url}?site={}", a.site.uid)
                } else {
                    url.clone()
                };
                let token = match (path.as_str(), &c.username) {
                    ("/api/auth/logout", Some(u)) => login(&portal, u).await,
                    _ => c.token.clone(),
                };
                let before = snapshot(&portal).await;
                let (status, reply) = call(&portal, &token, method, &with_site, body.clone()).await;
                let expected = if c.level < need {
                    403
                } else if path == "/api/auth/logout" {
                    204
                } else if path.contains('{') || writes || with_site.contains("site=") {
                    404
                } else {
                    200
                };
                assert_eq!(status, expected, "{} {method} {with_site}: {reply}", c.who);
                assert!(
                    !leaks(&reply, &a),
                    "{} {method} {with_site} shows A: {reply}",
                    c.who
                );
                if path != "/api/auth/logout" {
                    assert_eq!(
                        snapshot(&portal).await,
                        before,
                        "{} {method} {with_site} changed something",
                        c.who
                    );
                }
                if with_site != url && c.level >= need {
                    // The same list without a site: B's own things only.
                    let (status, reply) = call(&portal, &c.token, method, &url, None).await;
                    assert_eq!(status, 200, "{} {method} {url}: {reply}", c.who);
                    assert!(
                        !leaks(&reply, &a),
                        "{} {method} {url} shows A: {reply}",
                        c.who
                    );
                }
            }
        }
    }
    assert!(walked >= 55, "walked {walked} routes");
}

/// Roles are per site: a user who is site admin of one site and site user of another may
/// delete on the first only; on the second the answer is 403 (the site is visible), not 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_on_one_site_is_not_a_role_on_another() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let (id, token) = user_with(&portal, "mixed", "site_admin", None, Some(a.site.id)).await;
    portal
        .store
        .add_membership(id, "site_user", None, Some(a.other_site.id))
        .await
        .unwrap();
    let there = portal
        .store
        .add_group(a.other_site.id, "Anden")
        .await
        .unwrap();
    let here = portal.store.add_group(a.site.id, "Her").await.unwrap();
    let (s, r) = call(
        &portal,
        &token,
        "delete",
        &format!("/api/system/group/{there}"),
        None,
    )
    .await;
    assert_eq!(s, 403, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("site_admin"), "{r}");
    let (s, r) = call(
        &portal,
        &token,
        "delete",
        &format!("/api/system/group/{here}"),
        None,
    )
    .await;
    assert_eq!(s, 204, "{r}");
    let (s, _) = call(
        &portal,
        &token,
        "get",
        &format!("/api/system/users?site={}", a.other_site.uid),
        None,
    )
    .await;
    assert_eq!(s, 403);
    // The user may make site users of its own site, not customer admins.
    let (s, r) = call(
        &portal,
        &token,
        "post",
        "/api/system/users",
        Some(json!({"username": "ny", "password": PASSWORD, "role": "customer_admin", "customer_id": a.customer_id})),
    )
    .await;
    assert_eq!(s, 403, "{r}");
    let (s, r) = call(
        &portal,
        &a.caller("A customer_admin").token,
        "post",
        "/api/system/users",
        Some(json!({"username": "ny", "password": PASSWORD, "role": "customer_admin", "customer_id": a.customer_id})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["roles"][0]["role"], "customer_admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_activation_is_all_or_none_and_tokens_are_checked() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let b = tenant(&portal, "B", "02:00:00:00:00:0b").await;
    let key = &a.caller("A write key").token;
    // One foreign uid among A's own changes nothing and is reported like an unknown one.
    let before = snapshot(&portal).await;
    let (s, r) = call(
        &portal,
        key,
        "post",
        "/api/system/pcs/activate",
        Some(json!({"uids": [a.pc_uid, b.pc_uid], "is_activated": false})),
    )
    .await;
    assert_eq!(s, 404, "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains(&b.pc_uid) && !detail.contains(&a.pc_uid),
        "{detail}"
    );
    assert_eq!(
        snapshot(&portal).await,
        before,
        "a refused bulk call changed something"
    );
    let (s, r) = call(
        &portal,
        key,
        "post",
        "/api/system/pcs/activate",
        Some(json!({"uids": [], "is_activated": false})),
    )
    .await;
    assert_eq!(
        (s, r["detail"].as_str().unwrap_or("").starts_with("uids:")),
        (422, true),
        "{r}"
    );
    // A read-only key reads, but may not write, and is told why.
    let read = &a.caller("A read key").token;
    let (s, _) = call(&portal, read, "get", "/api/system/computers", None).await;
    assert_eq!(s, 200);
    let (s, r) = call(
        &portal,
        read,
        "post",
        &format!("/api/system/pc/{}/activate", a.pc_id),
        Some(json!({"is_activated": false})),
    )
    .await;
    assert_eq!(s, 403, "{r}");
    assert!(
        r["detail"].as_str().unwrap().contains("may only read"),
        "{r}"
    );
    // No token, a wrong token: 401.
    let (s, _) = call(&portal, "bpk_nope", "get", "/api/system/computers", None).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_run_activate_and_handle_events() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let key = a.caller("A write key").clone();
    let user = a.caller("A site_user").clone();
    let (s, pcs) = call(&portal, &key.token, "get", "/api/system/computers", None).await;
    assert_eq!(s, 200);
    assert_eq!(pcs["count"], 1);
    assert_eq!(pcs["items"][0]["name"], a.pc_name);
    assert_eq!(pcs["items"][0]["pc_groups"], json!([a.group_id]));
    let (s, conf) = call(
        &portal,
        &key.token,
        "get",
        &format!("/api/system/configuration/{}", a.pc_id),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        conf.as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "admin_url")
    );
    let mark = last_audit_id(&portal).await;
    // Run on a group: one new job.
    let (s, batch) = call(
        &portal,
        &user.token,
        "post",
        "/api/system/jobs",
        Some(json!({"script_id": a.script_id, "groups": [a.group_id], "parameters": ["ord"]})),
    )
    .await;
    assert_eq!(s, 201, "{batch}");
    assert_eq!(batch["job_ids"].as_array().unwrap().len(), 1);
    // Bad input names the field.
    for (body, field) in [
        (
            json!({"script_id": a.script_id, "pcs": [a.pc_id], "parameters": []}),
            "parameters",
        ),
        (json!({"script_id": "x", "pcs": [a.pc_id]}), "script_id"),
        (
            json!({"script_id": a.script_id, "pcs": [a.pc_id], "parameters": ["x"], "extra": 1}),
            "extra",
        ),
        (json!({"script_id": a.script_id}), "pcs"),
    ] {
        let (s, r) = call(&portal, &key.token, "post", "/api/system/jobs", Some(body)).await;
        assert_eq!(s, 422, "{r}");
        assert!(
            r["detail"].as_str().unwrap().contains(field),
            "{field}: {r}"
        );
    }
    let (s, r) = call(
        &portal,
        &key.token,
        "get",
        "/api/system/jobs?from_date=30-11-2026",
        None,
    )
    .await;
    assert_eq!(
        (s, r["detail"].as_str().unwrap().contains("from_date")),
        (422, true),
        "{r}"
    );
    // Handle the event.
    let (s, e) = call(
        &portal,
        &user.token,
        "patch",
        &format!("/api/system/event/{}", a.event_id),
        Some(json!({"status": "resolved", "note": "printer cable"})),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        (e["status"].as_str(), e["note"].as_str()),
        (Some("RESOLVED"), Some("printer cable"))
    );
    let (_, new_events) = call(&portal, &key.token, "get", "/api/system/events", None).await;
    assert_eq!(new_events["count"], 0, "the default lists NEW events only");
    // Restart a finished job: a new NEW job with the same parameters; the old one RESOLVED.
    let restart = format!("/api/system/job/{}/restart", a.job_id);
    let (s, r) = call(&portal, &key.token, "post", &restart, None).await;
    assert_eq!(s, 201, "{r}");
    let new_job = r["job_id"].as_i64().unwrap();
    let (_, old) = call(
        &portal,
        &key.token,
        "get",
        &format!("/api/system/job/{}", a.job_id),
        None,
    )
    .await;
    assert_eq!(old["status"], "RESOLVED");
    let (_, new) = call(
        &portal,
        &key.token,
        "get",
        &format!("/api/system/job/{new_job}"),
        None,
    )
    .await;
    assert_eq!(new["status"], "NEW");
    assert_eq!(
        call(&portal, &key.token, "post", &restart, None).await.0,
        409
    );
    // Deactivate.
    let (s, pc) = call(
        &portal,
        &key.token,
        "post",
        &format!("/api/system/pc/{}/activate", a.pc_id),
        Some(json!({"is_activated": false})),
    )
    .await;
    assert_eq!((s, pc["is_activated"].as_bool()), (200, Some(false)));
    let records = audit_since(&portal, mark).await;
    assert_eq!(
        records,
        [
            (user.actor.clone(), "script.run".to_owned()),
            (user.actor.clone(), "event.update".to_owned()),
            (key.actor.clone(), "job.restart".to_owned()),
            (key.actor.clone(), "pc.deactivate".to_owned()),
        ],
        "run, event, restart, deactivate are in the audit log, by who did them"
    );
    // The OpenAPI document is served and parses.
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", portal.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_policies_run_on_join_when_added_and_when_changed() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let key = a.caller("A write key").token.clone();
    let (s, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:1a", "name": "pc-two", "site": a.site.uid, "configuration": {}, "client_key": "cd".repeat(32)}),
        )
        .await;
    assert_eq!(s, 200);
    let pc2 = portal
        .store
        .pc_identity(uid.as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let members = format!("/api/system/group/{}/members", a.group_id);

    // Joining runs the group's existing policy on the newcomer only.
    let (s, joined) = call(
        &portal,
        &key,
        "post",
        &members,
        Some(json!({"pc_id": pc2.id})),
    )
    .await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(joined["policies"][0]["policy_id"], a.policy_id);
    assert_eq!(
        joined["policies"][0]["job_ids"].as_array().unwrap().len(),
        1
    );
    let (_, again) = call(
        &portal,
        &key,
        "post",
        &members,
        Some(json!({"pc_id": pc2.id})),
    )
    .await;
    assert_eq!(
        again["policies"],
        json!([]),
        "already a member: nothing runs again"
    );

    // A new policy runs on both members; changing its parameters reruns it.
    let (s, added) = call(
        &portal,
        &key,
        "post",
        &format!("/api/system/group/{}/policies", a.group_id),
        Some(json!({"script_id": a.script_id, "parameters": ["ny"]})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["job_ids"].as_array().unwrap().len(), 2);
    let policy = added["policy_id"].as_i64().unwrap();
    let (s, changed) = call(
        &portal,
        &key,
        "patch",
        &format!("/api/system/policy/{policy}"),
        Some(json!({"parameters": ["ændret"]})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["job_ids"].as_array().unwrap().len(), 2);
    let params: Vec<String> = portal
        .store
        .pending_jobs(pc2.id)
        .await
        .unwrap()
        .iter()
        .filter(|j| j.script_name.starts_with("script of"))
        .map(|j| j.params[0].string_value.clone())
        .collect();
    assert_eq!(
        params,
        ["politik", "ny", "ændret"],
        "the newcomer got every policy, in order, with the parameters of the time"
    );
    let (s, r) = call(
        &portal,
        &key,
        "patch",
        &format!("/api/system/policy/{policy}"),
        Some(json!({"parameters": []})),
    )
    .await;
    assert_eq!(s, 422);
    assert!(r["detail"].as_str().unwrap().contains("parameters"), "{r}");
}

/// The detail of the newest audit record of an action whose target ends with `target`.
async fn audit_detail(portal: &Portal, action: &str, target: &str) -> Value {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = $1 ORDER BY id DESC")
            .bind(action)
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
    let d = rows
        .into_iter()
        .find(|(t, _)| t.ends_with(target))
        .and_then(|(_, d)| d);
    serde_json::from_str(&d.unwrap_or_default()).unwrap_or(Value::Null)
}

async fn user_id(portal: &Portal, username: &str) -> i64 {
    portal.store.user_id_by_name(username).await.unwrap()
}

fn detail(r: &Value) -> &str {
    r["detail"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_configuration_and_supervisors_are_managed_through_the_api() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let b = tenant(&portal, "B", "02:00:00:00:00:0b").await;
    let t = a.caller("A site_user").token.clone();
    let admin = user_id(&portal, "a-site_admin").await;
    let user = user_id(&portal, "a-site_user").await;

    // A group with a supervisor; the PC joins it.
    let (s, g) = call(
        &portal,
        &t,
        "post",
        "/api/system/groups",
        Some(json!({"site": a.site.uid, "name": "Læsesal", "description": "1. sal", "supervisors": [admin]})),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["supervisors"], json!([admin]));
    let gid = g["id"].as_i64().unwrap();
    for (body, field, status) in [
        (json!({"site": a.site.uid, "name": " "}), "name", 422),
        (json!({"site": a.site.uid, "name": "Læsesal"}), "name", 422),
        (
            json!({"site": a.site.uid, "name": "X", "supervisors": [user_id(&portal, "b-site_user").await]}),
            "supervisors[0]",
            422,
        ),
        (
            json!({"site": a.site.uid, "name": "X", "colour": "red"}),
            "colour",
            422,
        ),
        (json!({"name": "X"}), "site", 422),
        (
            json!({"site": a.site.uid, "name": "X", "supervisors": vec![admin; 1001]}),
            "supervisors: at most 1000",
            422,
        ),
    ] {
        let before = snapshot(&portal).await;
        let (s, r) = call(&portal, &t, "post", "/api/system/groups", Some(body)).await;
        assert_eq!(s, status, "{r}");
        assert!(detail(&r).contains(field), "{field}: {r}");
        assert_eq!(snapshot(&portal).await, before, "{field}: half-written");
    }
    let (s, r) = call(
        &portal,
        &t,
        "post",
        &format!("/api/system/group/{gid}/members"),
        Some(json!({"pc_id": a.pc_id})),
    )
    .await;
    assert_eq!(s, 200, "{r}");

    // Configuration: site, then groups by name, then the PC; null removes.
    for (path, value) in [
        (format!("/api/system/site/{}/config", a.site.id), "site"),
        (format!("/api/system/group/{gid}/config"), "group"),
    ] {
        let (s, r) = call(
            &portal,
            &t,
            "patch",
            &path,
            Some(json!({"entries": {"browser_home": value, "job_timeout": "900"}})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, r) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/pc/{}/config", a.pc_id),
        Some(json!({"entries": {"printer": "HP", "job_timeout": "1200"}})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "printer" && e["read_only"] == false)
    );
    let merged = portal
        .store
        .pc_config(a.pc_id, a.site.id)
        .await
        .unwrap()
        .merged();
    assert_eq!(merged["browser_home"], "group");
    assert_eq!(merged["job_timeout"], "1200");
    assert_eq!(merged["printer"], "HP");
    assert_eq!(
        audit_detail(&portal, "config.set", " printer").await,
        json!({"before": null, "after": "HP"}),
        "the audit log has the value before and after"
    );
    let (s, _) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/pc/{}/config", a.pc_id),
        Some(json!({"entries": {"printer": null}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        audit_detail(&portal, "config.unset", " printer").await,
        json!({"before": "HP", "after": null})
    );
    for (entries, field) in [
        (json!({"_os_release": "x"}), "entries._os_release"),
        (json!({"a b": "x"}), "entries.a b"),
        (json!({"k": "x".repeat(4097)}), "entries.k"),
        (json!({"k": 5}), "entries.k"),
        (json!({}), "entries"),
    ] {
        let (s, r) = call(
            &portal,
            &t,
            "patch",
            &format!("/api/system/site/{}/config", a.site.id),
            Some(json!({ "entries": entries })),
        )
        .await;
        assert_eq!(s, 422, "{r}");
        assert!(detail(&r).starts_with(field), "{field}: {r}");
    }

    // Alert e-mails about a PC in a group with supervisors go to them, not the rule's users.
    let (s, rule) = call(
        &portal,
        &t,
        "post",
        "/api/system/security-rules",
        Some(json!({"site": a.site.uid, "name": "USB", "level": "critical", "script_id": a.security_script_id, "alert_users": [user]})),
    )
    .await;
    assert_eq!(s, 201, "{rule}");
    assert_eq!(rule["level"], "CRITICAL");
    let rule_id = rule["id"].as_i64().unwrap();
    sqlx::query("UPDATE security_events SET notified_at = 1")
        .execute(portal.store.pool())
        .await
        .unwrap();
    let raise = |pc_id: i64| {
        let store = portal.store.clone();
        let site = a.site.id;
        async move {
            store
                .add_security_events(&[NewEvent {
                    site_id: site,
                    pc_id,
                    problem_id: rule_id,
                    occurred_at: service_kit::db::now_ms(),
                    occurred_text: "20261130120000",
                    summary: "usb",
                }])
                .await
                .unwrap();
        }
    };
    raise(a.pc_id).await;
    let waiting = portal.store.alert_digests(10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].recipients,
        ["a-site_admin@kommune.dk"],
        "the supervisor"
    );
    // Without supervisors: the rule's alert users.
    let (s, _) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/group/{gid}"),
        Some(json!({"supervisors": []})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        audit_detail(&portal, "group.change", "").await,
        json!({"before": {"supervisors": [admin]}, "after": {"supervisors": []}})
    );
    let waiting = portal.store.alert_digests(10).await.unwrap();
    assert_eq!(
        waiting[0].recipients,
        ["a-site_user@kommune.dk"],
        "the alert user"
    );

    // A group a rule is limited to is not deleted (the rule would watch the whole site).
    let (s, _) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/security-rule/{rule_id}"),
        Some(json!({"groups": [gid]})),
    )
    .await;
    assert_eq!(s, 200);
    let admin_token = a.caller("A site_admin").token.clone();
    let (s, r) = call(
        &portal,
        &admin_token,
        "delete",
        &format!("/api/system/group/{gid}"),
        None,
    )
    .await;
    assert_eq!(s, 409, "{r}");
    assert!(
        detail(&r).contains(&format!("security rule {rule_id}")),
        "{r}"
    );
    let (s, _) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/security-rule/{rule_id}"),
        Some(json!({"groups": []})),
    )
    .await;
    assert_eq!(s, 200);
    // Leaving: once removed, then nothing to remove.
    for expected in [true, false] {
        let (s, r) = call(
            &portal,
            &t,
            "delete",
            &format!("/api/system/group/{gid}/members/{}", a.pc_id),
            None,
        )
        .await;
        assert_eq!((s, r["removed"].as_bool()), (200, Some(expected)), "{r}");
    }
    let (s, _) = call(
        &portal,
        &admin_token,
        "delete",
        &format!("/api/system/group/{gid}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &portal,
        &t,
        "get",
        &format!("/api/system/group/{gid}"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    // B's group is not A's to configure, whatever the role.
    let (s, _) = call(
        &portal,
        &a.caller("A customer_admin").token,
        "patch",
        &format!("/api/system/group/{}/config", b.group_id),
        Some(json!({"entries": {"k": "v"}})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_checked_field_by_field() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let b = tenant(&portal, "B", "02:00:00:00:00:0b").await;
    let t = a.caller("A write key").token.clone();
    let site = a.site.uid.clone();
    let b_user = user_id(&portal, "b-site_user").await;
    for (path, body, field) in [
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "script_id": a.script_id}),
            "script_id",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "script_id": b.security_script_id}),
            "script_id",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HØJ", "script_id": a.security_script_id}),
            "level",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "level": "HIGH", "script_id": a.security_script_id}),
            "name",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "script_id": a.security_script_id, "alert_users": [b_user]}),
            "alert_users[0]",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "script_id": a.security_script_id, "groups": [b.group_id]}),
            "groups[0]",
        ),
        (
            "/api/system/security-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "script_id": a.security_script_id, "max_offline_minutes": 20}),
            "max_offline_minutes",
        ),
        (
            "/api/system/offline-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "monitor_start": "8", "monitor_end": "18:00", "max_offline_minutes": 60}),
            "monitor_start",
        ),
        (
            "/api/system/offline-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "monitor_start": "08:00", "monitor_end": "18:00", "max_offline_minutes": 10}),
            "max_offline_minutes",
        ),
        (
            "/api/system/offline-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "monitor_start": "08:00", "monitor_end": "18:00"}),
            "max_offline_minutes",
        ),
        (
            "/api/system/offline-rules",
            json!({"site": site, "name": "x", "level": "HIGH", "monitor_start": "08:00", "monitor_end": "18:00", "max_offline_minutes": 60, "script_id": 1}),
            "script_id",
        ),
    ] {
        let before = snapshot(&portal).await;
        let (s, r) = call(&portal, &t, "post", path, Some(body)).await;
        assert_eq!(s, 422, "{r}");
        assert!(detail(&r).contains(field), "{field}: {r}");
        assert_eq!(snapshot(&portal).await, before, "{field}: half-written");
    }
    let (s, r) = call(
        &portal,
        &t,
        "post",
        "/api/system/offline-rules",
        Some(json!({"site": site, "name": "Åbningstid", "level": "HIGH", "monitor_start": "8:00", "monitor_end": "18:00", "max_offline_minutes": 60, "groups": [a.group_id], "alert_users": [user_id(&portal, "a-site_user").await]})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["monitor_start"], "08:00");
    assert_eq!(r["groups"], json!([a.group_id]));
    let id = r["id"].as_i64().unwrap();
    let (s, r) = call(
        &portal,
        &t,
        "patch",
        &format!("/api/system/offline-rule/{id}"),
        Some(json!({"max_offline_minutes": 120})),
    )
    .await;
    assert_eq!(
        (s, r["max_offline_minutes"].as_i64()),
        (200, Some(120)),
        "{r}"
    );
    assert_eq!(
        audit_detail(&portal, "rule.change", "").await,
        json!({"before": {"max_offline_minutes": 60}, "after": {"max_offline_minutes": 120}})
    );
    let (s, r) = call(
        &portal,
        &t,
        "get",
        &format!("/api/system/offline-rules?site={site}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
}

/// The PC's NEW jobs of a script, each with its parameters.
async fn pending(portal: &Portal, pc_id: i64, script: &str) -> Vec<Vec<String>> {
    portal
        .store
        .pending_jobs(pc_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.script_name == script)
        .map(|j| j.params.into_iter().map(|p| p.string_value).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_plans_reach_their_pcs_as_jobs() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune W", "site-w").await;
    let (_, uid) = portal
        .post(
            "register_new_computer",
            json!({"mac": "02:00:00:00:00:77", "name": "pc-w", "site": site.uid, "configuration": {}, "client_key": "ef".repeat(32)}),
        )
        .await;
    let pc = portal.activate(&site, uid.as_str().unwrap()).await;
    let g1 = portal.store.add_group(site.id, "Voksen").await.unwrap();
    let g2 = portal.store.add_group(site.id, "Børn").await.unwrap();
    for g in [g1, g2] {
        portal.store.add_group_member(g, pc.id).await.unwrap();
    }
    let key = portal
        .store
        .add_api_key(site.id, "plan", true)
        .await
        .unwrap();
    let plan_body = json!({
        "site": site.uid, "name": "Åbningstider", "sleep_state": "mem", "groups": [g1],
        "week": [
            {"open": true, "on": "08:00", "off": "20:00"}, {"open": true, "on": "08:00", "off": "20:00"},
            {"open": true, "on": "08:00", "off": "20:00"}, {"open": true, "on": "09:30", "off": "18:00"},
            {"open": true, "on": "08:00", "off": "16:00"}, {"open": false}, {"open": false}],
        "exceptions": [
            {"name": "Jul", "kind": "CLOSED", "date_start": "2099-12-24", "date_end": "2099-12-26"},
            {"name": "Lillejuleaften", "kind": "ALTERED_HOURS", "date_start": "2099-12-23", "date_end": "2099-12-23", "time_start": "10:00", "time_end": "14:00"}]
    });
    // Without the core scripts the plan could never reach a PC: refused, nothing stored.
    let (s, r) = call(
        &portal,
        &key,
        "post",
        "/api/system/wake-plans",
        Some(plan_body.clone()),
    )
    .await;
    assert_eq!(s, 422, "{r}");
    assert!(
        detail(&r).contains("wake_plan_set") && detail(&r).contains("scripts import"),
        "{r}"
    );
    assert_eq!(
        call(&portal, &key, "get", "/api/system/wake-plans", None)
            .await
            .1,
        json!([])
    );
    wake_scripts(&portal).await;

    let (s, plan) = call(
        &portal,
        &key,
        "post",
        "/api/system/wake-plans",
        Some(plan_body),
    )
    .await;
    assert_eq!(s, 201, "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let set = pending(&portal, pc.id, "wake_plan_set").await;
    assert_eq!(set.len(), 1, "the PC got the plan");
    assert_eq!(
        set[0],
        [
            "8:0",
            "20:0",
            "8:0",
            "20:0",
            "8:0",
            "20:0",
            "9:30",
            "18:0",
            "8:0",
            "16:0",
            "None",
            "None",
            "None",
            "None",
            "23-12-2099;23-12-2099;10:0;14:0|24-12-2099;26-12-2099;None;None",
            "MEM"
        ],
        "upstream's 16 arguments"
    );
    // Bad input names the field and changes nothing.
    for (body, field) in [
        (
            json!({"week": [{"open": true, "on": "25:00", "off": "20:00"}]}),
            "week",
        ),
        (
            json!({"week": [{"open": true, "on": "25:00", "off": "20:00"}, {"open": false}, {"open": false}, {"open": false}, {"open": false}, {"open": false}, {"open": false}]}),
            "week[0].on",
        ),
        (json!({"sleep_state": "HIBERNATE"}), "sleep_state"),
        (
            json!({"exceptions": [{"name": "x", "kind": "CLOSED", "date_start": "24-12-2099", "date_end": "2099-12-26"}]}),
            "exceptions[0].date_start",
        ),
        (
            json!({"exceptions": [{"name": "x", "kind": "ALTERED_HOURS", "date_start": "2099-12-24", "date_end": "2099-12-24"}]}),
            "exceptions[0].time_start",
        ),
    ] {
        let before = snapshot(&portal).await;
        let (s, r) = call(
            &portal,
            &key,
            "patch",
            &format!("/api/system/wake-plan/{id}"),
            Some(body),
        )
        .await;
        assert_eq!(s, 422, "{r}");
        assert!(detail(&r).starts_with(field), "{field}: {r}");
        assert_eq!(snapshot(&portal).await, before, "{field}: half-written");
    }
    let (s, r) = call(
        &portal,
        &key,
        "post",
        "/api/system/wake-plans",
        Some(json!({"site": site.uid, "name": " Åbningstider "})),
    )
    .await;
    assert_eq!(s, 422, "{r}");
    assert!(detail(&r).starts_with("name:"), "{r}");
    // A PC follows one plan: a second plan with the PC's other group is refused.
    let (s, r) = call(
        &portal,
        &key,
        "post",
        "/api/system/wake-plans",
        Some(json!({"site": site.uid, "name": "Anden", "groups": [g2]})),
    )
    .await;
    assert_eq!(s, 409, "{r}");
    assert!(detail(&r).contains("two wake plans"), "{r}");
    // Switched off: removed from the PC; on again: set again.
    let (s, _) = call(
        &portal,
        &key,
        "patch",
        &format!("/api/system/wake-plan/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(pending(&portal, pc.id, "wake_plan_remove").await.len(), 1);
    let (s, _) = call(
        &portal,
        &key,
        "patch",
        &format!("/api/system/wake-plan/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(pending(&portal, pc.id, "wake_plan_set").await.len(), 2);
    // Leaving the plan's group takes the PC off it; joining puts it back.
    let (s, _) = call(
        &portal,
        &key,
        "delete",
        &format!("/api/system/group/{g1}/members/{}", pc.id),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(pending(&portal, pc.id, "wake_plan_remove").await.len(), 2);
    let (s, _) = call(
        &portal,
        &key,
        "post",
        &format!("/api/system/group/{g1}/members"),
        Some(json!({"pc_id": pc.id})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(pending(&portal, pc.id, "wake_plan_set").await.len(), 3);
    // Deleting the plan (a site admin's) takes it off.
    let (s, _) = call(
        &portal,
        &key,
        "delete",
        &format!("/api/system/wake-plan/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 403, "a writing key is a site user");
    let admin = portal
        .store
        .add_user("w-admin", "", PASSWORD, false)
        .await
        .unwrap();
    portal
        .store
        .add_membership(admin.id, "site_admin", None, Some(site.id))
        .await
        .unwrap();
    let token = login(&portal, "w-admin").await;
    let (s, _) = call(
        &portal,
        &token,
        "delete",
        &format!("/api/system/wake-plan/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(pending(&portal, pc.id, "wake_plan_remove").await.len(), 3);
    let (_, groups) = call(
        &portal,
        &key,
        "get",
        &format!("/api/system/group/{g1}"),
        None,
    )
    .await;
    assert_eq!(groups["wake_plan"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_api_keys_are_managed_through_the_api() {
    let portal = Portal::start().await;
    wake_scripts(&portal).await;
    let a = tenant(&portal, "A", "02:00:00:00:00:0a").await;
    let admin = a.caller("A site_admin").token.clone();
    // A site admin makes a site user, who can log in.
    let (s, u) = call(
        &portal,
        &admin,
        "post",
        "/api/system/users",
        Some(json!({"username": "bibliotekar", "email": "b@kommune.dk", "password": PASSWORD, "role": "site_user", "site": a.site.uid})),
    )
    .await;
    assert_eq!(s, 201, "{u}");
    let id = u["id"].as_i64().unwrap();
    assert_eq!(
        u["roles"],
        json!([{"role": "site_user", "site": a.site.uid, "customer": null}])
    );
    let token = login(&portal, "bibliotekar").await;
    for (body, field) in [
        (
            json!({"username": "med mellemrum", "password": PASSWORD, "role": "site_user", "site": a.site.uid}),
            "username",
        ),
        (
            json!({"username": "bibliotekar", "password": PASSWORD, "role": "site_user", "site": a.site.uid}),
            "username",
        ),
        (
            json!({"username": "x", "password": PASSWORD, "role": "king", "site": a.site.uid}),
            "role",
        ),
        (
            json!({"username": "x", "password": PASSWORD, "role": "site_user"}),
            "site",
        ),
    ] {
        let (s, r) = call(&portal, &admin, "post", "/api/system/users", Some(body)).await;
        assert_eq!(s, 422, "{r}");
        assert!(detail(&r).contains(field), "{field}: {r}");
    }
    let (s, list) = call(
        &portal,
        &admin,
        "get",
        &format!("/api/system/users?site={}", a.site.uid),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bibliotekar"),
        "{list}"
    );
    let (s, u) = call(
        &portal,
        &admin,
        "post",
        &format!("/api/system/user/{id}/roles"),
        Some(json!({"role": "site_admin", "site": a.site.uid})),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["roles"].as_array().unwrap().len(), 2);
    // Nobody removes themselves (lockout); another admin removes the user: gone, logged out.
    let me = user_id(&portal, "a-site_admin").await;
    let (s, r) = call(
        &portal,
        &admin,
        "delete",
        &format!("/api/system/user/{me}"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{r}");
    let (s, r) = call(
        &portal,
        &admin,
        "delete",
        &format!("/api/system/user/{id}"),
        None,
    )
    .await;
    assert_eq!((s, r["deleted"].as_bool()), (200, Some(true)), "{r}");
    assert_eq!(
        call(&portal, &token, "get", "/api/system/sites", None)
            .await
            .0,
        401
    );
    let (s, _) = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": "bibliotekar", "password": PASSWORD}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401);

    // API keys: shown once, listed without the key, revoked at once.
    let (s, k) = call(
        &portal,
        &admin,
        "post",
        "/api/system/api-keys",
        Some(json!({"site": a.site.uid, "description": "Power BI"})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let new_key = k["key"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&portal, &new_key, "get", "/api/system/computers", None)
            .await
            .0,
        200
    );
    let (_, list) = call(&portal, &admin, "get", "/api/system/api-keys", None).await;
    assert!(
        !list.to_string().contains(&new_key),
        "the key is never listed"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|x| x["description"] == "Power BI")
    );
    let (s, _) = call(
        &portal,
        &admin,
        "delete",
        &format!("/api/system/api-key/{}", k["id"]),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        call(&portal, &new_key, "get", "/api/system/computers", None)
            .await
            .0,
        401
    );
    let records: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor = 'user:a-site_admin' ORDER BY id",
    )
    .fetch_all(portal.store.pool())
    .await
    .unwrap();
    assert_eq!(
        records,
        [
            "user.create",
            "user.grant",
            "user.grant",
            "user.delete",
            "api_key.create",
            "api_key.revoke"
        ]
    );
}
