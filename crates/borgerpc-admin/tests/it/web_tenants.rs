//! The tenant walk of the portal's pages: every HTML route the source declares (read from
//! `src/web/*.rs`, so a new route cannot be left out), asked for by customer B's
//! administrator with customer A's site and with A's ids under B's own site, as GET and as a
//! form post. Nothing of A may show or change: no answer but "not found" or a refusal of the
//! form, none with A's names in it, and no audit record by B.

use crate::common::Portal;
use crate::common::web::WebUser;
use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::jobs::{NewScript, ParamValue, RunScript};

/// (path, has GET, has POST) of every `.route(…)` in the portal's page modules.
fn declared_routes() -> Vec<(String, bool, bool)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let parts: Vec<&str> = text.split(".route(").skip(1).collect();
        for part in parts {
            // The route's own text: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = part
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(part.len(), |(i, _)| i);
            let call = &part[..end];
            let Some(rest) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let (path, handlers) = rest.split_once('"').unwrap();
            routes.push((
                path.to_owned(),
                handlers.contains("get("),
                handlers.contains("post("),
            ));
        }
    }
    routes.sort();
    routes
}

/// A's objects, by the placeholder or the segment before `{id}` that names them.
struct Ids {
    pc: i64,
    job: i64,
    batch: i64,
    script: i64,
    security_script: i64,
    group: i64,
    event: i64,
    rule: i64,
    plan: i64,
    user: i64,
    key: i64,
    customer: i64,
    policy: i64,
}

impl Ids {
    fn fill(&self, path: &str, site: &str) -> String {
        let mut out = path.replace("{site}", site);
        out = out.replace("{customer}", &self.customer.to_string());
        out = out.replace("{kind}", "offline");
        out = out.replace("{section}", "grupper");
        out = out.replace("{policy}", &self.policy.to_string());
        if let Some((before, after)) = out.split_once("/{id}") {
            let segment = before.rsplit('/').next().unwrap_or("");
            let id = match segment {
                "pc" | "godkendelser" => self.pc,
                "jobs" => self.job,
                "koersler" => self.batch,
                "scripts" => self.script,
                "sikkerhedsscripts" => self.security_script,
                "grupper" => self.group,
                "sikkerhed" => self.event,
                "offline" => self.rule,
                "taend-sluk" => self.plan,
                "brugere" => self.user,
                "api-noegler" => self.key,
                other => panic!("the walk does not know what {{id}} after {other:?} is: {path}"),
            };
            out = format!("{before}/{id}{after}");
        }
        out
    }
}

#[tokio::test]
async fn web_tenants_customer_b_reaches_nothing_of_customer_a_on_any_page() {
    let portal = Portal::start().await;
    let a = portal.site("Ærø Kommune", "bibliotek").await;
    let b = portal.site("Andeby Kommune", "andeby").await;
    portal.web_user("anne", "site_admin", &a).await;
    portal.web_user("bent", "customer_admin", &b).await;

    // A's objects, one of each.
    let (pc, _) = portal.pc(&a, "aeroe-hemmelig-pc").await;
    portal
        .store
        .api_set_activated(&[a.id], pc, true)
        .await
        .unwrap();
    let script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(a.id),
            uid: None,
            name: "Aeroe hemmeligt script".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap()
        .script_id;
    let batch = portal
        .store
        .run_script(RunScript {
            site_id: a.id,
            script_id: script,
            pc_ids: &[pc],
            params: Vec::<ParamValue>::new(),
            created_by: "test",
        })
        .await
        .unwrap();
    let security_script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(a.id),
            uid: None,
            name: "Aeroe sikkerhedsscript".into(),
            description: String::new(),
            category: None,
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap()
        .script_id;
    let group = portal.store.add_group(a.id, "Aeroe gruppe").await.unwrap();
    let rule = portal
        .store
        .add_offline_rule(a.id, "Aeroe regel", "HIGH", "08:00", "16:00", 60, &[])
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text,
           reported_at, summary, status) VALUES ($1, $2, 'offline', $3, 1, 'x', 1, 'Aeroe haendelse', 'NEW')",
    )
    .bind(a.id)
    .bind(pc)
    .bind(rule)
    .execute(portal.store.pool())
    .await
    .unwrap();
    let scope = Scope::cli(&portal.store).await.unwrap();
    let plan = portal
        .store
        .create_wake_plan(
            &scope,
            a.id,
            &borgerpc_admin::store::wakeplans::PlanFields {
                name: Some("Aeroe plan".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    portal
        .store
        .add_api_key(a.id, "Aeroe noegle", false)
        .await
        .unwrap();
    let one = |sql: &'static str| {
        let pool = portal.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let ids = Ids {
        pc,
        job: batch.job_ids[0],
        batch: batch.batch_id,
        script,
        security_script,
        group,
        event: one("SELECT MAX(id) FROM security_events").await,
        rule,
        plan,
        user: one("SELECT id FROM users WHERE username = 'anne'").await,
        key: one("SELECT MAX(id) FROM api_keys").await,
        customer: a.customer_id,
        policy: portal
            .store
            .add_policy(&scope, group, script, &[])
            .await
            .unwrap()
            .unwrap()
            .policy_id,
    };
    let audit_before = one("SELECT COUNT(*) FROM audit_log").await;
    let secrets = [
        "aeroe-hemmelig-pc",
        "Aeroe hemmeligt script",
        "Aeroe sikkerhedsscript",
        "Aeroe gruppe",
        "Aeroe regel",
        "Aeroe haendelse",
        "Aeroe plan",
        "Aeroe noegle",
        "Ærø Kommune",
        "anne",
    ];

    let mut bent = WebUser::login(&portal, "bent").await;
    bent.get("/").await;
    let routes = declared_routes();
    assert!(routes.len() >= 50, "{routes:?}");
    let mut asked = 0;
    for (path, get, post) in &routes {
        // The help texts name no tenant.
        if path.starts_with("/hjaelp") {
            continue;
        }
        // B's own pages (the sites overview, its customer): they show nothing of A's.
        if !path.contains('{') {
            if *get {
                let answer = bent.get(path).await;
                for s in secrets {
                    assert!(!answer.body.contains(s), "GET {path} shows {s:?}");
                }
            }
            continue;
        }
        for site in [a.uid.as_str(), b.uid.as_str()] {
            // Under B's own site only A's ids are foreign; the rest is B's to use.
            let names_a = path.contains("{id}") || path.contains("{customer}");
            if site == b.uid && !names_a {
                continue;
            }
            let url = ids.fill(path, site);
            if *get {
                let answer = bent.get(&url).await;
                asked += 1;
                assert_eq!(answer.status, 404, "GET {url}: {}", answer.body);
                for s in secrets {
                    assert!(!answer.body.contains(s), "GET {url} shows {s:?}");
                }
            }
            if *post {
                // Fields most forms take, so a form that reads them before it looks the
                // object up is still asked.
                let answer = bent
                    .post(
                        &url,
                        &[
                            ("navn", "B var her"),
                            ("noegle", "x"),
                            ("vaerdi", "y"),
                            ("aktiveret", "ja"),
                        ],
                    )
                    .await;
                asked += 1;
                assert!(
                    matches!(answer.status, 404 | 422 | 400 | 415),
                    "POST {url}: {} {}",
                    answer.status,
                    answer.body
                );
                for s in secrets {
                    assert!(!answer.body.contains(s), "POST {url} shows {s:?}");
                }
            }
        }
    }
    assert!(asked > 100, "{asked} requests");
    assert_eq!(
        one("SELECT COUNT(*) FROM audit_log").await,
        audit_before,
        "B changed nothing of A's"
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pc_groups")
        .fetch_all(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(names, ["Aeroe gruppe"]);
    let policies = portal
        .store
        .group(&[a.id], group)
        .await
        .unwrap()
        .unwrap()
        .policies;
    assert_eq!(policies.len(), 1, "A's policy script is still on its group");
    let deleted: Option<i64> =
        sqlx::query_scalar("SELECT MAX(deleted_at) FROM scripts WHERE id = $1 OR id = $2")
            .bind(script)
            .bind(security_script)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(deleted, None, "A's scripts are not deleted");
}
