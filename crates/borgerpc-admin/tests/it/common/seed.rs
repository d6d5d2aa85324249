//! The walks over every page of the portal share this: the routes the page modules declare
//! (read from `src/web/*.rs`, so a new route cannot be left out of a walk), one site seeded
//! with one of everything a page can show, and the addresses of each route filled with the
//! seeded ids. The tenant walk (`web_tenants`) asks for them as another customer; the
//! accessibility walk (`web_every_page`) renders them in Chromium.

use super::Portal;
use super::web::PASSWORD;
use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::events::NewEvent;
use borgerpc_admin::store::jobs::{JobStatus, NewInput, NewScript, ParamValue, RunScript};
use borgerpc_admin::store::tenants::Site;
use borgerpc_admin::store::wakeplans::{Exception, PlanFields};

/// A route of the portal's pages: its path with `{placeholders}` and its methods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Route {
    pub path: String,
    pub get: bool,
    pub post: bool,
}

/// The `.rs` files under `dir`, folders (`web/reports/`) included.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every `.route(…)` in the portal's page modules, sorted by path.
pub(crate) fn declared_routes() -> Vec<Route> {
    let mut routes = Vec::new();
    for file in rust_files(&web_sources()) {
        let text = std::fs::read_to_string(file).unwrap();
        for part in text.split(".route(").skip(1) {
            let call = &part[..closing_paren(part)];
            let Some(rest) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let (path, handlers) = rest.split_once('"').unwrap();
            routes.push(Route {
                path: path.to_owned(),
                get: handlers.contains("get("),
                post: handlers.contains("post("),
            });
        }
    }
    routes.sort();
    routes
}

fn web_sources() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web")
}

/// Where the call that `text` is the inside of ends: the parenthesis that closes it.
fn closing_paren(text: &str) -> usize {
    let mut depth = 1;
    text.char_indices()
        .find(|(_, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth == 0
        })
        .map_or(text.len(), |(i, _)| i)
}

/// The menu's sections as `src/web/mod.rs` declares them: (variant, help slug), from
/// `Section::slug`, so a new section's help page is walked without a test naming it.
pub(crate) fn sections() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(web_sources().join("mod.rs")).unwrap();
    let body = text
        .split("fn slug(self)")
        .nth(1)
        .expect("Section::slug in src/web/mod.rs");
    let body = &body[..body.find("\n    }\n").expect("the end of Section::slug")];
    let found: Vec<(String, String)> = body
        .lines()
        .filter_map(|line| {
            let (variant, slug) = line.trim().split_once(" => ")?;
            let variant = variant.strip_prefix("Section::")?;
            let slug = slug.trim_end_matches(',').trim_matches('"');
            Some((variant.to_owned(), slug.to_owned()))
        })
        .collect();
    assert!(
        found.len() >= 10,
        "sections read from Section::slug: {found:?}"
    );
    found
}

/// The help slugs of the sections `Section::OF_SITE` gives to site administrators and up:
/// the menu sections a site user must neither see nor reach.
pub(crate) fn site_admin_sections() -> Vec<String> {
    let text = std::fs::read_to_string(web_sources().join("mod.rs")).unwrap();
    let list = text
        .split("const OF_SITE")
        .nth(1)
        .expect("Section::OF_SITE in src/web/mod.rs");
    let list = &list[..list.find("];").expect("the end of OF_SITE")];
    let slugs = sections();
    let found: Vec<String> = list
        .lines()
        .filter(|l| l.contains("Role::SiteAdmin"))
        .filter_map(|l| {
            let variant = l.split("Section::").nth(1)?.split(',').next()?;
            slugs
                .iter()
                .find(|(v, _)| v == variant)
                .map(|(_, slug)| slug.clone())
        })
        .collect();
    assert!(!found.is_empty(), "no site admin sections in OF_SITE");
    found
}

/// The seeded objects, by what the addresses call them.
pub(crate) struct Ids {
    /// Registered, not activated: waits for approval.
    pub pc: i64,
    /// Activated, in the group, with a job whose log is in, and a key waiting for approval.
    pub active_pc: i64,
    pub job: i64,
    pub batch: i64,
    /// A local script with one parameter of every type.
    pub script: i64,
    pub security_script: i64,
    pub group: i64,
    /// The group's policy: `script` with a value for each parameter.
    pub policy: i64,
    pub security_rule: i64,
    pub offline_rule: i64,
    pub security_event: i64,
    pub offline_event: i64,
    pub plan: i64,
    /// A site administrator of the site.
    pub user: i64,
    pub key: i64,
    pub customer: i64,
}

impl Ids {
    /// The addresses of `path` on `site` with its placeholders filled, one per seeded object
    /// that renders its own way there (both kinds of rule, both PCs, both kinds of event).
    /// `{section}` (the help pages) is the caller's to fill. Panics naming the route when the
    /// id after a segment is not known, so a new route cannot go unwalked.
    pub(crate) fn fill(&self, path: &str, site: &str) -> Vec<String> {
        let out = path
            .replace("{site}", site)
            .replace("{customer}", &self.customer.to_string())
            .replace("{policy}", &self.policy.to_string());
        if let Some((before, after)) = out.split_once("/{kind}/{id}") {
            return [
                ("offline", self.offline_rule),
                ("sikkerhed", self.security_rule),
            ]
            .iter()
            .map(|(kind, id)| format!("{before}/{kind}/{id}{after}"))
            .collect();
        }
        let Some((before, after)) = out.split_once("/{id}") else {
            assert!(!out.contains('{'), "the walk cannot fill {path}");
            return vec![out];
        };
        let segment = before.rsplit('/').next().unwrap_or("");
        let ids = match segment {
            "pc" | "godkendelser" => vec![self.pc, self.active_pc],
            "jobs" => vec![self.job],
            "koersler" => vec![self.batch],
            "scripts" => vec![self.script],
            "sikkerhedsscripts" => vec![self.security_script],
            "grupper" => vec![self.group],
            "sikkerhed" => vec![self.security_event, self.offline_event],
            "taend-sluk" => vec![self.plan],
            "brugere" => vec![self.user],
            "api-noegler" => vec![self.key],
            other => panic!("the walk does not know what {{id}} after {other:?} is: {path}"),
        };
        ids.into_iter()
            .map(|id| format!("{before}/{id}{after}"))
            .collect()
    }
}

/// A script's code and a job's log as they are: some lines longer than any screen is wide,
/// around `{}`.
const LONG_LINES: &str = "#!/bin/sh\n# Sætter skrivebordets baggrund, lydstyrke og strømstyring for alle brugere på \
                          maskinen, også dem der oprettes efter at scriptet er kørt: /etc/skel, gsettings, \
                          dconf og /usr/share/glib-2.0/schemas/99_os2borgerpc.gschema.override\n{}\n";

/// One site's objects and the names its pages show them by.
pub(crate) struct Seeded {
    pub ids: Ids,
    /// Every name given (PCs, scripts, rules, an event's summary, the job's log, the user…):
    /// none of it may show on another customer's pages.
    pub names: Vec<String>,
}

/// Seeds `site` with one of everything a page can show; every name starts with `prefix`.
/// Once per portal: it also makes the wake plan core scripts (global and hidden, which no
/// page lists), without which a plan with PCs cannot be saved.
pub(crate) async fn everything(portal: &Portal, site: &Site, prefix: &str) -> Seeded {
    let store = &portal.store;
    let scope = Scope::cli(store).await.unwrap();
    let names = std::cell::RefCell::new(Vec::new());
    let named = |what: &str| {
        let n = format!("{prefix} {what}");
        names.borrow_mut().push(n.clone());
        n
    };
    portal.wake_scripts().await;

    let (pc, _) = portal.pc(site, &named("pc")).await;
    let (active_pc, active_uid) = portal.pc(site, &named("aktiv-pc")).await;
    portal.activate(site, &active_uid).await;
    assert!(
        store
            .offer_client_key(active_pc, &"5e1f0a2b".repeat(8))
            .await
            .unwrap()
    );

    let inputs: Vec<NewInput> = borgerpc_admin::store::jobs::VALUE_TYPES
        .iter()
        .map(|t| NewInput {
            name: format!("{} {}", prefix, t.to_lowercase()),
            value_type: (*t).into(),
            default_value: (*t == "TEXT_FIELD").then(|| "rød,grøn".into()),
            mandatory: *t == "STRING",
        })
        .collect();
    let values = || -> Vec<ParamValue> {
        borgerpc_admin::store::jobs::VALUE_TYPES
            .iter()
            .map(|t| match *t {
                "FILE" => ParamValue::File {
                    name: "hilsen.txt".into(),
                    data: b"hej".to_vec(),
                },
                "INT" => ParamValue::Text("42".into()),
                "DATE" => ParamValue::Text("2026-12-24".into()),
                "TIME" => ParamValue::Text("08:30".into()),
                "BOOLEAN" => ParamValue::Text("ja".into()),
                "TEXT_FIELD" => ParamValue::Text("rød".into()),
                "PASSWORD" => ParamValue::Text("hemmeligt-kodeord".into()),
                _ => ParamValue::Text("hej".into()),
            })
            .collect()
    };
    let script = store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: named("script"),
            description: named("scriptets beskrivelse"),
            category: Some(named("kategori")),
            is_security: false,
            is_hidden: false,
            version: 1,
            code: LONG_LINES.replace("{}", "echo \"$1\""),
            inputs,
        })
        .await
        .unwrap()
        .script_id;
    let batch = store
        .run_script(RunScript {
            site_id: site.id,
            script_id: script,
            pc_ids: &[active_pc],
            params: values(),
            created_by: "test",
        })
        .await
        .unwrap();
    let job = batch.job_ids[0];
    store.confirm_jobs(active_pc, &[job]).await.unwrap();
    assert!(
        store
            .report_job(
                active_pc,
                job,
                JobStatus::Done,
                None,
                None,
                &LONG_LINES.replace("{}", &named("jobbets udskrift"))
            )
            .await
            .unwrap()
    );

    let security_script = store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: named("sikkerhedsscript"),
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

    let group = store.add_group(site.id, &named("gruppe")).await.unwrap();
    store
        .join_group(&scope, group, active_pc)
        .await
        .unwrap()
        .unwrap();
    let policy = store
        .add_policy(&scope, group, script, &values())
        .await
        .unwrap()
        .unwrap()
        .policy_id;

    let security_rule = store
        .add_security_problem(
            site.id,
            &named("sikkerhedsregel"),
            "HIGH",
            security_script,
            &[group],
        )
        .await
        .unwrap();
    let security_event = store
        .add_security_events(&[NewEvent {
            site_id: site.id,
            pc_id: active_pc,
            problem_id: security_rule,
            occurred_at: service_kit::db::now_ms(),
            occurred_text: "20261205120000",
            summary: &named("hændelse"),
        }])
        .await
        .unwrap()[0];
    let offline_rule = store
        .add_offline_rule(
            site.id,
            &named("offlineregel"),
            "CRITICAL",
            "08:00",
            "16:00",
            60,
            &[group],
        )
        .await
        .unwrap();
    // Offline events come from the clock's check (`check_offline_rules`); one is written
    // as that check writes it, without waiting for a PC to be away an hour, and handled a
    // minute later (for the time to handle's roll-up).
    let offline_event: i64 = sqlx::query_scalar(
        "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text,
           reported_at, summary, status, handled_at)
         VALUES ($1, $2, 'offline', $3, 1, 'x', 1, $4, 'RESOLVED', 60001)
         RETURNING id",
    )
    .bind(site.id)
    .bind(pc)
    .bind(offline_rule)
    .bind(named("offline-hændelse"))
    .fetch_one(store.pool())
    .await
    .unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    store.rebuild_report_rollups().await.unwrap();

    let plan = store
        .create_wake_plan(
            &scope,
            site.id,
            &PlanFields {
                name: Some(named("plan")),
                groups: Some(vec![group]),
                exceptions: Some(vec![
                    Exception {
                        name: named("juleferie"),
                        kind: "CLOSED".into(),
                        date_start: "2026-12-24".into(),
                        date_end: "2026-12-26".into(),
                        time_start: None,
                        time_end: None,
                    },
                    Exception {
                        name: named("kort dag"),
                        kind: "ALTERED_HOURS".into(),
                        date_start: "2026-12-31".into(),
                        date_end: "2026-12-31".into(),
                        time_start: Some("09:00".into()),
                        time_end: Some("12:00".into()),
                    },
                ]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap()
        .id;

    let username = format!("{}-kollega", prefix.to_lowercase());
    names.borrow_mut().push(username.clone());
    let user = store
        .add_user(
            &username,
            &format!("{username}@example.dk"),
            PASSWORD,
            false,
        )
        .await
        .unwrap()
        .id;
    store
        .add_membership(user, "site_admin", None, Some(site.id))
        .await
        .unwrap();
    store
        .add_api_key(site.id, &named("nøgle"), true)
        .await
        .unwrap();
    let key: i64 = sqlx::query_scalar("SELECT MAX(id) FROM api_keys WHERE site_id = $1")
        .bind(site.id)
        .fetch_one(store.pool())
        .await
        .unwrap();

    Seeded {
        ids: Ids {
            pc,
            active_pc,
            job,
            batch: batch.batch_id,
            script,
            security_script,
            group,
            policy,
            security_rule,
            offline_rule,
            security_event,
            offline_event,
            plan,
            user,
            key,
            customer: site.customer_id,
        },
        names: names.into_inner(),
    }
}
