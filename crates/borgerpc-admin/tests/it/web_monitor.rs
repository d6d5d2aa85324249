//! The monitoring pages over real HTTP: security events (filters, handling chosen events at
//! once, audited), monitoring rules (create, change, delete, bad input named by its field)
//! and wake plans (saving in the form sends the PCs their jobs); roles kept, and nothing of
//! another customer's found, even by typing its address. One browser test handles an event
//! by its checkbox in Chromium, with axe-core on each page.

use crate::common::Portal;
use crate::common::web::{PASSWORD, WebUser};
use borgerpc_admin::store::events::NewEvent;
use borgerpc_admin::store::jobs::NewScript;
use borgerpc_admin::store::tenants::Site;
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;

/// A security script of the site; its id.
async fn security_script(portal: &Portal, site: &Site, name: &str) -> i64 {
    portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: name.into(),
            description: String::new(),
            category: Some("Sikkerhed".into()),
            is_security: true,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: vec![],
        })
        .await
        .unwrap()
        .script_id
}

/// A security rule of `level` and one event of it on a PC; the rule's and the event's ids.
async fn rule_with_event(
    portal: &Portal,
    site: &Site,
    script: i64,
    rule: &str,
    level: &str,
    pc: i64,
    summary: &str,
) -> (i64, i64) {
    let rule = portal
        .store
        .add_security_problem(site.id, rule, level, script, &[])
        .await
        .unwrap();
    let event = event_of(portal, site, rule, pc, summary).await;
    (rule, event)
}

async fn event_of(portal: &Portal, site: &Site, rule: i64, pc: i64, summary: &str) -> i64 {
    portal
        .store
        .add_security_events(&[NewEvent {
            site_id: site.id,
            pc_id: pc,
            problem_id: rule,
            occurred_at: service_kit::db::now_ms(),
            occurred_text: "20261205120000",
            summary,
        }])
        .await
        .unwrap()[0]
}

/// (status, assignee, note) of an event.
async fn handling(portal: &Portal, id: i64) -> (String, Option<i64>, String) {
    sqlx::query_as("SELECT status, assigned_user_id, note FROM security_events WHERE id = $1")
        .bind(id)
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
}

/// The audit log's (actor, action, target) rows of an action.
async fn audited(portal: &Portal, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT actor, target FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(portal.store.pool())
        .await
        .unwrap()
}

async fn user_id(portal: &Portal, name: &str) -> i64 {
    portal.store.user_id_by_name(name).await.unwrap()
}

#[tokio::test]
async fn web_monitor_events_are_filtered_and_handled_together() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune A", "bib").await;
    let other = portal.site("Kommune B", "andet").await;
    portal.web_user("sif", "site_user", &site).await;
    portal.web_user("ida", "site_admin", &site).await;
    portal.web_user("bo", "site_user", &other).await;
    let (pc1, _) = portal.pc(&site, "bib-pc-1").await;
    let (pc2, _) = portal.pc(&site, "bib-pc-2").await;
    let script = security_script(&portal, &site, "sudo-script").await;
    let (sudo, e1) = rule_with_event(
        &portal,
        &site,
        script,
        "sudo",
        "CRITICAL",
        pc1,
        "sudo brugt",
    )
    .await;
    let e2 = event_of(&portal, &site, sudo, pc2, "sudo igen").await;
    let (_, e3) = rule_with_event(
        &portal,
        &site,
        script,
        "tastatur",
        "NORMAL",
        pc1,
        "nyt tastatur",
    )
    .await;

    let mut sif = WebUser::login(&portal, "sif").await;
    // Upstream's defaults: critical and high, new and assigned.
    let list = sif.get("/steder/bib/sikkerhed").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("sudo brugt") && list.body.contains("sudo igen"));
    assert!(!list.body.contains("nyt tastatur"), "normal is not shown");
    assert!(list.body.contains("2 resultater"), "{}", list.body);
    assert!(
        list.body
            .contains(&format!("href=\"/steder/bib/pc/{pc1}\""))
    );
    assert!(list.body.contains("Kritisk") && list.body.contains(">Ny<"));
    let normal = sif.get("/steder/bib/sikkerhed?niveau=NORMAL").await;
    assert!(normal.body.contains("nyt tastatur") && !normal.body.contains("sudo brugt"));
    let old = sif
        .get("/steder/bib/sikkerhed?fra=2000-01-01&til=2000-01-02")
        .await;
    assert!(old.body.contains("0 resultater"), "{}", old.body);
    // The page's dates are Copenhagen's: between 23:00 and 24:00 UTC it is already tomorrow.
    let today = chrono::Utc::now()
        .with_timezone(&borgerpc_admin::store::reports::TIME_ZONE)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let now = sif
        .get(&format!(
            "/steder/bib/sikkerhed?niveau=CRITICAL&niveau=NORMAL&fra={today}&til={today}"
        ))
        .await;
    assert!(now.body.contains("3 resultater"), "{}", now.body);
    // Sorted by level (critical first) and by PC; and the same list as CSV for Excel.
    let by_level = sif
        .get("/steder/bib/sikkerhed?niveau=CRITICAL&niveau=NORMAL&sorter=niveau")
        .await;
    let at = |page: &str, text: &str| page.find(text).unwrap_or(usize::MAX);
    assert!(at(&by_level.body, "sudo igen") < at(&by_level.body, "nyt tastatur"));
    let oldest = sif
        .get("/steder/bib/sikkerhed?niveau=CRITICAL&niveau=NORMAL&sorter=aeldste")
        .await;
    assert!(at(&oldest.body, "sudo brugt") < at(&oldest.body, "sudo igen"));
    assert!(oldest.body.contains("value=\"aeldste\" selected"));
    let csv = sif
        .get("/steder/bib/sikkerhed.csv?niveau=CRITICAL&niveau=NORMAL&sorter=aeldste")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.body.starts_with('\u{feff}'),
        "a byte-order mark for Excel"
    );
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].starts_with("Tidspunkt;Computer;Beskrivelse;Niveau;Status"));
    assert!(
        lines[1].contains(";bib-pc-1;sudo brugt;Kritisk;Ny;"),
        "{}",
        lines[1]
    );
    assert!(lines[3].contains("nyt tastatur;Normal"), "{}", lines[3]);

    // Two events at once: status, assignee and note, each audited under the user's name.
    let ida = user_id(&portal, "ida").await.to_string();
    sif.get("/steder/bib/sikkerhed?niveau=CRITICAL").await;
    let done = sif
        .post(
            "/steder/bib/sikkerhed/haandter",
            &[
                ("haendelse", &e1.to_string()),
                ("haendelse", &e2.to_string()),
                ("ny_status", "ASSIGNED"),
                ("ansvarlig", &ida),
                ("note", "Set på"),
                ("filtre", "niveau=CRITICAL"),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/steder/bib/sikkerhed?niveau=CRITICAL"),
        "{}",
        done.body
    );
    let ida_id = user_id(&portal, "ida").await;
    for e in [e1, e2] {
        assert_eq!(
            handling(&portal, e).await,
            ("ASSIGNED".to_owned(), Some(ida_id), "Set på".to_owned())
        );
    }
    assert_eq!(
        handling(&portal, e3).await.0,
        "NEW",
        "not chosen: unchanged"
    );
    assert_eq!(
        audited(&portal, "event.update").await,
        [
            ("user:sif".to_owned(), format!("event:{e1}")),
            ("user:sif".to_owned(), format!("event:{e2}"))
        ]
    );
    let list = sif.get("/steder/bib/sikkerhed").await;
    assert!(list.body.contains("Tildelt") && list.body.contains(">ida<"));

    // Bad input: the list again with 422 and the field named; nothing changes.
    let one = e1.to_string();
    for (form, field) in [
        (vec![("ny_status", "RESOLVED")], "Valgte hændelser"),
        (
            vec![("haendelse", "x"), ("ny_status", "RESOLVED")],
            "Valgte hændelser",
        ),
        (
            vec![("haendelse", one.as_str()), ("ny_status", "BOGUS")],
            "Status",
        ),
        (vec![("haendelse", one.as_str())], "Status"),
    ] {
        let a = sif.post("/steder/bib/sikkerhed/haandter", &form).await;
        assert_eq!(a.status, 422, "{form:?}: {}", a.body);
        assert!(
            a.body
                .contains(&format!("role=\"alert\" id=\"fejl\">{field}:")),
            "{form:?}: {}",
            a.body
        );
    }
    let bo = user_id(&portal, "bo").await.to_string();
    let a = sif
        .post(
            "/steder/bib/sikkerhed/haandter",
            &[("haendelse", &e1.to_string()), ("ansvarlig", &bo)],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("id=\"fejl\">Ansvarlig:"), "{}", a.body);
    assert_eq!(handling(&portal, e1).await.1, Some(ida_id));

    // One event on its page: the note as written, even empty, and nobody assigned.
    let page = sif.get(&format!("/steder/bib/sikkerhed/{e1}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("sudo brugt") && page.body.contains("Set på"));
    let done = sif
        .post(
            "/steder/bib/sikkerhed/haandter",
            &[
                ("haendelse", &e1.to_string()),
                ("detalje", &e1.to_string()),
                ("erstat_note", "ja"),
                ("ny_status", "RESOLVED"),
                ("ansvarlig", "ingen"),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(done.location, format!("/steder/bib/sikkerhed/{e1}"));
    assert_eq!(
        handling(&portal, e1).await,
        ("RESOLVED".to_owned(), None, String::new())
    );
    assert_eq!(audited(&portal, "event.update").await.len(), 3);
}

#[tokio::test]
async fn web_monitor_another_customers_ids_are_not_found_and_roles_are_kept() {
    let portal = Portal::start().await;
    let a = portal.site("Kommune A", "a-bib").await;
    let b = portal.site("Kommune B", "b-bib").await;
    portal.web_user("bo", "site_admin", &b).await;
    portal.web_user("sif", "site_user", &a).await;
    let (pc, _) = portal.pc(&a, "a-pc").await;
    let script = security_script(&portal, &a, "a-script").await;
    let (rule, event) =
        rule_with_event(&portal, &a, script, "a-regel", "HIGH", pc, "a-hændelse").await;
    let offline = portal
        .store
        .add_offline_rule(a.id, "a-offline", "NORMAL", "08:00", "16:00", 60, &[])
        .await
        .unwrap();
    let scope = borgerpc_admin::store::access::Scope::cli(&portal.store)
        .await
        .unwrap();
    let plan = portal
        .store
        .create_wake_plan(
            &scope,
            a.id,
            &borgerpc_admin::store::wakeplans::PlanFields {
                name: Some("a-plan".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap()
        .id;

    let mut bo = WebUser::login(&portal, "bo").await;
    for path in [
        "/steder/a-bib/sikkerhed".to_owned(),
        "/steder/a-bib/regler".to_owned(),
        "/steder/a-bib/taend-sluk".to_owned(),
        format!("/steder/a-bib/sikkerhed/{event}"),
        format!("/steder/b-bib/sikkerhed/{event}"),
        format!("/steder/b-bib/regler/sikkerhed/{rule}"),
        format!("/steder/b-bib/regler/offline/{offline}"),
        format!("/steder/b-bib/taend-sluk/{plan}"),
    ] {
        let r = bo.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !r.body.contains("a-regel") && !r.body.contains("a-plan"),
            "{path}"
        );
    }
    bo.get("/steder/b-bib/sikkerhed").await;
    let rule_form: Vec<(&str, &str)> = vec![
        ("type", "sikkerhed"),
        ("navn", "overtaget"),
        ("niveau", "HIGH"),
        ("script", "1"),
    ];
    for (path, form) in [
        (
            "/steder/b-bib/sikkerhed/haandter".to_owned(),
            vec![
                ("haendelse", event.to_string()),
                ("ny_status", "RESOLVED".into()),
            ],
        ),
        (
            "/steder/a-bib/sikkerhed/haandter".to_owned(),
            vec![
                ("haendelse", event.to_string()),
                ("ny_status", "RESOLVED".into()),
            ],
        ),
        (format!("/steder/b-bib/regler/sikkerhed/{rule}"), vec![]),
        (
            format!("/steder/b-bib/regler/sikkerhed/{rule}/slet"),
            vec![],
        ),
        (
            format!("/steder/b-bib/regler/offline/{offline}/slet"),
            vec![],
        ),
        (
            format!("/steder/b-bib/taend-sluk/{plan}"),
            vec![("navn", "overtaget".to_owned()), ("dvale", "OFF".into())],
        ),
        (format!("/steder/b-bib/taend-sluk/{plan}/slet"), vec![]),
    ] {
        let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if path.contains("/regler/") && !path.ends_with("/slet") {
            fields.extend(&rule_form);
        }
        let r = bo.post(&path, &fields).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    assert_eq!(handling(&portal, event).await.0, "NEW");
    assert_eq!(
        portal
            .store
            .rules(&[a.id], borgerpc_admin::store::rules::RuleKind::Security)
            .await
            .unwrap()[0]
            .name,
        "a-regel"
    );
    assert_eq!(
        portal
            .store
            .wake_plan(&[a.id], plan)
            .await
            .unwrap()
            .unwrap()
            .name,
        "a-plan"
    );
    assert!(
        portal
            .store
            .rule(
                &[a.id],
                borgerpc_admin::store::rules::RuleKind::Offline,
                offline
            )
            .await
            .unwrap()
            .is_some()
    );

    // A site user changes rules and plans but does not delete them: no button, and the post
    // answers "not found".
    let mut sif = WebUser::login(&portal, "sif").await;
    let page = sif
        .get(&format!("/steder/a-bib/regler/sikkerhed/{rule}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("gem-regel") && !page.body.contains("slet-regel"));
    for path in [
        format!("/steder/a-bib/regler/sikkerhed/{rule}/slet"),
        format!("/steder/a-bib/taend-sluk/{plan}/slet"),
    ] {
        assert_eq!(sif.post(&path, &[]).await.status, 404, "{path}");
    }
    assert!(
        portal
            .store
            .rule(
                &[a.id],
                borgerpc_admin::store::rules::RuleKind::Security,
                rule
            )
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        portal
            .store
            .wake_plan(&[a.id], plan)
            .await
            .unwrap()
            .is_some()
    );
    // A form sent from another site is refused, even with the right token.
    sif.get("/steder/a-bib/sikkerhed").await;
    let cross = sif
        .post_cross_site(
            "/steder/a-bib/sikkerhed/haandter",
            &[("haendelse", &event.to_string()), ("ny_status", "RESOLVED")],
        )
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(handling(&portal, event).await.0, "NEW");
}

#[tokio::test]
async fn web_monitor_rules_are_created_changed_and_deleted_and_bad_input_is_named() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune A", "bib").await;
    portal.web_user("ida", "site_admin", &site).await;
    let ida = user_id(&portal, "ida").await.to_string();
    let group = portal.store.add_group(site.id, "Voksen").await.unwrap();
    let script = security_script(&portal, &site, "Sudo-tjek").await;
    let mut u = WebUser::login(&portal, "ida").await;

    let form = u.get("/steder/bib/regler/ny?type=offline").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let offline = |minutes: &'static str, start: &'static str| {
        vec![
            ("type", "offline"),
            ("navn", "Åbningstid"),
            ("niveau", "HIGH"),
            ("beskrivelse", "Computere slukket i åbningstiden"),
            ("fra", start),
            ("til", "16:00"),
            ("minutter", minutes),
        ]
    };
    for (form, field) in [
        (offline("10", "08:00"), "Højst offline (minutter)"),
        (offline("mange", "08:00"), "Højst offline (minutter)"),
        (offline("30", "25:00"), "Overvåg fra kl."),
    ] {
        let a = u.post("/steder/bib/regler/ny", &form).await;
        assert_eq!(a.status, 422, "{form:?}: {}", a.body);
        assert!(
            a.body.contains(&format!("id=\"fejl\">{field}:")),
            "{form:?}: {}",
            a.body
        );
        assert!(a.body.contains("aria-invalid=\"true\""));
        assert!(
            a.body.contains("value=\"Åbningstid\""),
            "the form comes back as sent"
        );
    }
    let g = group.to_string();
    let mut good = offline("30", "08:00");
    good.extend([("gruppe", g.as_str()), ("modtager", ida.as_str())]);
    let a = u.post("/steder/bib/regler/ny", &good).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let kind = borgerpc_admin::store::rules::RuleKind::Offline;
    let rules = portal.store.rules(&[site.id], kind).await.unwrap();
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_eq!(a.location, format!("/steder/bib/regler/offline/{}", r.id));
    assert_eq!(
        (r.max_offline_minutes, r.groups.clone(), r.alert_users.len()),
        (Some(30), vec![group], 1)
    );

    let security = borgerpc_admin::store::rules::RuleKind::Security;
    let s = script.to_string();
    let a = u
        .post(
            "/steder/bib/regler/ny",
            &[
                ("type", "sikkerhed"),
                ("navn", " "),
                ("niveau", "HIGH"),
                ("script", &s),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("id=\"fejl\">Navn:"), "{}", a.body);
    let a = u
        .post(
            "/steder/bib/regler/ny",
            &[
                ("type", "sikkerhed"),
                ("navn", "Sudo"),
                ("niveau", "HIGH"),
                ("script", "0"),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains("id=\"fejl\">Sikkerhedsscript:"),
        "{}",
        a.body
    );
    let a = u
        .post(
            "/steder/bib/regler/ny",
            &[
                ("type", "sikkerhed"),
                ("navn", "Sudo"),
                ("niveau", "HIGH"),
                ("script", &s),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = portal.store.rules(&[site.id], security).await.unwrap()[0].id;
    let a = u
        .post(
            &format!("/steder/bib/regler/sikkerhed/{id}"),
            &[
                ("navn", "Sudo brugt"),
                ("niveau", "CRITICAL"),
                ("script", &s),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let r = portal
        .store
        .rule(&[site.id], security, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.name.as_str(), r.level.as_str()),
        ("Sudo brugt", "CRITICAL")
    );
    let list = u.get("/steder/bib/regler").await;
    assert!(list.body.contains("Sudo brugt") && list.body.contains("Åbningstid"));
    assert!(list.body.contains("Sudo-tjek") && list.body.contains("Voksen"));

    let page = u.get(&format!("/steder/bib/regler/sikkerhed/{id}")).await;
    assert!(page.body.contains("slet-regel"));
    let a = u
        .post(&format!("/steder/bib/regler/sikkerhed/{id}/slet"), &[])
        .await;
    assert_eq!((a.status, a.location.as_str()), (303, "/steder/bib/regler"));
    assert!(
        portal
            .store
            .rule(&[site.id], security, id)
            .await
            .unwrap()
            .is_none()
    );
    for action in ["rule.create", "rule.change", "rule.delete"] {
        let rows = audited(&portal, action).await;
        assert!(
            !rows.is_empty() && rows.iter().all(|(actor, _)| actor == "user:ida"),
            "{action}: {rows:?}"
        );
    }
}

/// A plan's form fields: open Monday to Friday 08:00–20:00, and what else is given.
fn plan_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("navn".into(), "Bibliotek".into()),
        ("aktiv".into(), "ja".into()),
        ("dvale".into(), "MEM".into()),
        ("undtagelser".into(), "3".into()),
    ];
    for i in 0..7 {
        if i < 5 {
            f.push((format!("dag{i}_aaben"), "ja".into()));
        }
        f.push((format!("dag{i}_taend"), "08:00".into()));
        f.push((format!("dag{i}_sluk"), "20:00".into()));
    }
    for (k, v) in extra {
        f.retain(|(key, _)| key != k || k.starts_with("gruppe"));
        f.push(((*k).to_owned(), (*v).to_owned()));
    }
    f
}

async fn post_plan(
    u: &mut WebUser,
    path: &str,
    form: &[(String, String)],
) -> crate::common::web::Answer {
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    u.post(path, &fields).await
}

/// The arguments of a PC's pending jobs of a script.
async fn pending(portal: &Portal, pc: i64, script: &str) -> Vec<Vec<String>> {
    portal
        .store
        .pending_jobs(pc)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.script_name == script)
        .map(|j| j.params.into_iter().map(|p| p.string_value).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_monitor_a_wake_plan_saved_in_the_form_sends_its_pcs_the_jobs() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune A", "bib").await;
    portal.web_user("ida", "site_admin", &site).await;
    portal.wake_scripts().await;
    let (pc, uid) = portal.pc(&site, "bib-pc-1").await;
    portal.activate(&site, &uid).await;
    let group = portal.store.add_group(site.id, "Voksen").await.unwrap();
    portal.store.add_group_member(group, pc).await.unwrap();
    let g = group.to_string();
    let mut u = WebUser::login(&portal, "ida").await;

    assert_eq!(u.get("/steder/bib/taend-sluk/ny").await.status, 200);
    // Bad input: the form again with 422, the field named by its day.
    let bad = plan_form(&[("dag2_taend", "25:00"), ("gruppe", &g)]);
    let a = post_plan(&mut u, "/steder/bib/taend-sluk/ny", &bad).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("id=\"fejl\">Onsdag (Tænd):"), "{}", a.body);
    let bad = plan_form(&[
        ("undtagelse0_navn", "Jul"),
        ("undtagelse0_type", "CLOSED"),
        ("undtagelse0_fra", "2099-12-26"),
        ("undtagelse0_til", "2099-12-24"),
    ]);
    let a = post_plan(&mut u, "/steder/bib/taend-sluk/ny", &bad).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body.contains("id=\"fejl\">Undtagelse 1 (Til dato):"),
        "{}",
        a.body
    );
    assert!(
        portal
            .store
            .wake_plans(&[site.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(pending(&portal, pc, "wake_plan_set").await.is_empty());

    let good = plan_form(&[
        ("undtagelse0_navn", "Jul"),
        ("undtagelse0_type", "CLOSED"),
        ("undtagelse0_fra", "2099-12-24"),
        ("undtagelse0_til", "2099-12-26"),
        ("gruppe", &g),
    ]);
    let a = post_plan(&mut u, "/steder/bib/taend-sluk/ny", &good).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let plan = portal.store.wake_plans(&[site.id]).await.unwrap().remove(0);
    assert_eq!(a.location, format!("/steder/bib/taend-sluk/{}", plan.id));
    assert_eq!(plan.groups, [group]);
    let set = pending(&portal, pc, "wake_plan_set").await;
    assert_eq!(set.len(), 1, "the PC got the plan");
    assert_eq!(&set[0][..2], ["8:0", "20:0"]);
    assert_eq!(&set[0][10..14], ["None", "None", "None", "None"]);
    assert_eq!(set[0][14], "24-12-2099;26-12-2099;None;None");
    assert_eq!(set[0][15], "MEM");

    let page = u.get(&a.location).await;
    assert!(page.body.contains("value=\"Jul\"") && page.body.contains("slet-plan"));
    // A copy: the form for a new plan with the week and exceptions, without the groups.
    let copy = u
        .get(&format!("/steder/bib/taend-sluk/ny?kopi={}", plan.id))
        .await;
    assert_eq!(copy.status, 200);
    assert!(copy.body.contains("value=\"Kopi af "), "{}", copy.body);
    assert!(copy.body.contains("value=\"Jul\""));
    assert!(!copy.body.contains(&format!("value=\"{g}\" checked")));
    assert!(
        page.body
            .contains(&format!("taend-sluk/ny?kopi={}", plan.id))
    );
    let missing = u.get("/steder/bib/taend-sluk/ny?kopi=999999").await;
    assert_eq!(missing.status, 404);
    // The group off the plan: the PC gets the plan removed.
    let path = a.location.clone();
    let a = post_plan(&mut u, &path, &plan_form(&[])).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(pending(&portal, pc, "wake_plan_remove").await.len(), 1);
    for action in ["wake_plan.create", "wake_plan.change"] {
        assert_eq!(audited(&portal, action).await.len(), 1, "{action}");
    }
    let a = u.post(&format!("{path}/slet"), &[]).await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/steder/bib/taend-sluk")
    );
    assert!(
        portal
            .store
            .wake_plans(&[site.id])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn browser_monitoring_pages() -> anyhow::Result<()> {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    let script = security_script(&portal, &site, "Sudo-tjek").await;
    let (_, event) = rule_with_event(
        &portal,
        &site,
        script,
        "Sudo brugt",
        "CRITICAL",
        pc,
        "sudo kørt",
    )
    .await;
    portal
        .store
        .add_offline_rule(site.id, "Åbningstid", "HIGH", "08:00", "16:00", 60, &[])
        .await?;
    portal.store.add_group(site.id, "Voksen").await?;
    let scope = borgerpc_admin::store::access::Scope::cli(&portal.store).await?;
    let plan = portal
        .store
        .create_wake_plan(
            &scope,
            site.id,
            &borgerpc_admin::store::wakeplans::PlanFields {
                name: Some("Bibliotek".into()),
                ..Default::default()
            },
        )
        .await?
        .expect("plan")
        .id;
    let b = Browser::start().await?;

    b.goto(format!("{}/log-ind", portal.url)).await?;
    b.wait(By::Id("brugernavn")).await?.send_keys("ida").await?;
    b.find(By::Id("adgangskode"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    b.press(Key::Enter).await?;
    b.wait(By::Css("a[href='/steder/bibliotek']")).await?;

    b.goto(format!("{}/steder/bibliotek/sikkerhed", portal.url))
        .await?;
    let tick = b.wait(By::Id(format!("haendelse-{event}"))).await?;
    b.assert_accessible("sikkerhedshændelser").await?;
    b.screenshot("borgerpc-sikkerhed").await?;
    tick.click().await?;
    b.find(By::Css("#ny_status option[value='RESOLVED']"))
        .await?
        .click()
        .await?;
    b.find(By::Id("haandter-valgte")).await?.click().await?;
    // Resolved events leave the default list.
    b.wait(By::XPath("//p[contains(., 'Ingen hændelser')]"))
        .await?;
    assert_eq!(handling(&portal, event).await.0, "RESOLVED");

    b.goto(format!("{}/steder/bibliotek/regler", portal.url))
        .await?;
    b.wait(By::Id("ny-sikkerhedsregel")).await?;
    b.assert_accessible("overvågningsregler").await?;
    b.screenshot("borgerpc-regler").await?;
    b.find(By::Id("ny-offlineregel")).await?.click().await?;
    b.wait(By::Id("minutter")).await?;
    b.assert_accessible("ny offline-regel").await?;

    b.goto(format!("{}/steder/bibliotek/sikkerhedsscripts", portal.url))
        .await?;
    b.wait(By::Css(format!(
        "a[href='/steder/bibliotek/sikkerhedsscripts/{script}']"
    )))
    .await?;
    b.assert_accessible("sikkerhedsscripts").await?;
    b.screenshot("borgerpc-sikkerhedsscripts").await?;
    b.goto(format!(
        "{}/steder/bibliotek/sikkerhedsscripts/{script}",
        portal.url
    ))
    .await?;
    b.wait(By::Id("slet-script")).await?.click().await?;
    // A rule runs it: the delete page names the rule instead of offering the button.
    b.wait(By::Id("fejl")).await?;
    b.assert_accessible("slet sikkerhedsscript").await?;
    b.goto(format!(
        "{}/steder/bibliotek/sikkerhedsscripts/ny",
        portal.url
    ))
    .await?;
    b.wait(By::Id("navn")).await?;
    b.assert_accessible("nyt sikkerhedsscript").await?;

    b.goto(format!("{}/steder/bibliotek/taend-sluk", portal.url))
        .await?;
    b.wait(By::Id("ny-plan")).await?;
    b.assert_accessible("tænd/sluk").await?;
    b.goto(format!("{}/steder/bibliotek/taend-sluk/{plan}", portal.url))
        .await?;
    b.wait(By::Id("gem-plan")).await?;
    b.assert_accessible("tidsplan").await?;
    b.screenshot("borgerpc-taend-sluk").await?;
    b.quit().await
}
