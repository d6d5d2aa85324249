//! Groups in the portal over real HTTP: created, renamed with supervisors, members joined
//! and left (joining runs the group's policy scripts), configuration, a policy script with a
//! file parameter that runs on every member, its parameters changed (a file and a password
//! kept or replaced) and the policies' order, the rules that watch the group, deletion by a
//! site admin only; and nothing of it for another customer's user. The store's side of a
//! policy's kept values and order is tested here too, on the same databases.

use crate::common::Portal;
use crate::common::web::WebUser;
use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::jobs::{NewInput, NewScript, ParamValue, RunScript};
use borgerpc_admin::store::tenants::SiteChange;
use reqwest::multipart::{Form, Part};
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;

async fn policy_script(portal: &Portal, site_id: i64) -> i64 {
    portal
        .store
        .save_script(&NewScript {
            site_id: Some(site_id),
            uid: None,
            name: "Baggrund".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\ncp \"$1\" /usr/share/backgrounds/\n".into(),
            inputs: vec![NewInput {
                name: "billede".into(),
                value_type: "FILE".into(),
                default_value: None,
                mandatory: true,
            }],
        })
        .await
        .unwrap()
        .script_id
}

/// A script with a text, a password and a file (`mandatory_file` or not) parameter.
async fn welcome_script(portal: &Portal, site_id: i64, mandatory_file: bool) -> i64 {
    let input = |name: &str, value_type: &str, mandatory: bool| NewInput {
        name: name.into(),
        value_type: value_type.into(),
        default_value: None,
        mandatory,
    };
    portal
        .store
        .save_script(&NewScript {
            site_id: Some(site_id),
            uid: None,
            name: "Velkomst".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\necho \"$1\" > /etc/velkomst\n".into(),
            inputs: vec![
                input("besked", "STRING", true),
                input("kode", "PASSWORD", true),
                input("billede", "FILE", mandatory_file),
            ],
        })
        .await
        .unwrap()
        .script_id
}

/// A policy's stored file at `position`: (row id, name, content).
async fn policy_file(
    portal: &Portal,
    policy: i64,
    position: i64,
) -> Option<(i64, String, Vec<u8>)> {
    sqlx::query_as(
        "SELECT f.id, f.name, f.data FROM associated_script_parameters p
         JOIN files f ON f.id = p.file_id WHERE p.associated_script_id = $1 AND p.position = $2",
    )
    .bind(policy)
    .bind(position)
    .fetch_optional(portal.store.pool())
    .await
    .unwrap()
}

async fn file_exists(portal: &Portal, id: i64) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM files WHERE id = $1")
        .bind(id)
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
        == 1
}

#[tokio::test]
async fn web_groups_store_keeps_policy_values_and_moves_policies() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    portal
        .store
        .api_set_activated(&[site.id], pc, true)
        .await
        .unwrap();
    let scope = Scope::cli(&portal.store).await.unwrap();
    let welcome = welcome_script(&portal, site.id, false).await;
    let background = policy_script(&portal, site.id).await;
    let group = portal.store.add_group(site.id, "Udlån").await.unwrap();
    portal
        .store
        .join_group(&scope, group, pc)
        .await
        .unwrap()
        .unwrap();
    let store = &portal.store;
    let policy = store
        .add_policy(
            &scope,
            group,
            welcome,
            &[
                ParamValue::Text("Hej".into()),
                ParamValue::Text("kode-1".into()),
                ParamValue::File {
                    name: "a.png".into(),
                    data: b"AAA".to_vec(),
                },
            ],
        )
        .await
        .unwrap()
        .unwrap()
        .policy_id;
    let (first_file, _, _) = policy_file(&portal, policy, 2).await.unwrap();

    // Kept: the same password and the same file row, not a copy; the rerun has them.
    let run = store
        .set_policy_params(
            &scope,
            policy,
            &[
                ParamValue::Text("Goddag".into()),
                ParamValue::Kept,
                ParamValue::Kept,
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.job_ids.len(), 1, "rerun_asc is on by default");
    let p = store
        .policy(&[site.id], group, policy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.params[0].text.as_deref(), Some("Goddag"));
    assert_eq!(p.params[1].text.as_deref(), Some("kode-1"));
    assert_eq!(p.params[2].file_name.as_deref(), Some("a.png"));
    assert_eq!(
        policy_file(&portal, policy, 2).await,
        Some((first_file, "a.png".into(), b"AAA".to_vec()))
    );
    let job = store.pending_jobs(pc).await.unwrap().pop().unwrap();
    assert_eq!(job.params[1].string_value, "kode-1");
    assert_eq!(job.params[2].file_name.as_deref(), Some("a.png"));

    // Replaced: the old file row goes, as it is no one's any more.
    store
        .set_policy_params(
            &scope,
            policy,
            &[
                ParamValue::Text("Goddag".into()),
                ParamValue::Text("kode-2".into()),
                ParamValue::File {
                    name: "b.png".into(),
                    data: b"BBB".to_vec(),
                },
            ],
        )
        .await
        .unwrap()
        .unwrap();
    let (second_file, name, data) = policy_file(&portal, policy, 2).await.unwrap();
    assert_eq!((name.as_str(), data.as_slice()), ("b.png", &b"BBB"[..]));
    assert!(!file_exists(&portal, first_file).await);
    // An optional file taken away; keeping a value of a mandatory parameter with nothing
    // stored is refused by its name, and nothing changes.
    store
        .set_policy_params(
            &scope,
            policy,
            &[
                ParamValue::Text("Goddag".into()),
                ParamValue::Kept,
                ParamValue::Text(String::new()),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(policy_file(&portal, policy, 2).await, None);
    assert!(!file_exists(&portal, second_file).await);
    sqlx::query("UPDATE associated_script_parameters SET string_value = NULL WHERE associated_script_id = $1 AND position = 1")
        .bind(policy)
        .execute(store.pool())
        .await
        .unwrap();
    let refused = store
        .set_policy_params(
            &scope,
            policy,
            &[
                ParamValue::Text("Nej".into()),
                ParamValue::Kept,
                ParamValue::Kept,
            ],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("(kode)"), "{refused}");
    let p = store
        .policy(&[site.id], group, policy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.params[0].text.as_deref(), Some("Goddag"));
    store
        .set_policy_params(
            &scope,
            policy,
            &[
                ParamValue::Text("Goddag".into()),
                ParamValue::Text("kode-3".into()),
                ParamValue::Kept,
            ],
        )
        .await
        .unwrap()
        .unwrap();
    // A run has no stored values to keep.
    let run = store
        .run_script(RunScript {
            site_id: site.id,
            script_id: welcome,
            pc_ids: &[pc],
            params: vec![
                ParamValue::Text("x".into()),
                ParamValue::Kept,
                ParamValue::Kept,
            ],
            created_by: "test",
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(run.contains("no stored value"), "{run}");

    // Order: the second trades places with the first; at the top it stays.
    let second = store
        .add_policy(
            &scope,
            group,
            background,
            &[ParamValue::File {
                name: "c.png".into(),
                data: b"C".to_vec(),
            }],
        )
        .await
        .unwrap()
        .unwrap()
        .policy_id;
    let order = || async {
        let g = store.group(&[site.id], group).await.unwrap().unwrap();
        g.policies.iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(order().await, [policy, second]);
    assert_eq!(
        store
            .move_policy(&scope, group, second, true)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(order().await, [second, policy]);
    assert_eq!(
        store
            .move_policy(&scope, group, second, true)
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        store
            .move_policy(&scope, group, second, false)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(order().await, [policy, second]);
    let moves: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'policy.move'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(moves, 2, "a move that changed nothing is not recorded");
    // A newcomer gets them in that order.
    let (pc2, _) = portal.pc(&site, "bib-pc-002").await;
    store
        .api_set_activated(&[site.id], pc2, true)
        .await
        .unwrap();
    let runs = store.join_group(&scope, group, pc2).await.unwrap().unwrap();
    let ran: Vec<i64> = runs.iter().map(|r| r.policy_id).collect();
    assert_eq!(ran, [policy, second]);

    // Another group's or another customer's: nothing.
    let other_group = store.add_group(site.id, "Andre").await.unwrap();
    assert_eq!(
        store
            .move_policy(&scope, other_group, second, true)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.policy(&[site.id], other_group, second).await.unwrap(),
        None
    );
    let andeby = portal.site("Andeby Kommune", "andeby").await;
    let narrow = Scope {
        sites: vec![andeby.id],
        ..scope.clone()
    };
    assert_eq!(
        store
            .move_policy(&narrow, group, second, true)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.policy(&[andeby.id], group, second).await.unwrap(),
        None
    );
    assert_eq!(order().await, [policy, second]);
}

#[tokio::test]
async fn web_groups_policy_parameters_and_order() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("sif", "site_user", &site).await;
    let scope = Scope::cli(&portal.store).await.unwrap();
    let group = portal.store.add_group(site.id, "Udlån").await.unwrap();
    let mut pcs = Vec::new();
    for name in ["bib-pc-001", "bib-pc-002"] {
        let (pc, _) = portal.pc(&site, name).await;
        portal
            .store
            .api_set_activated(&[site.id], pc, true)
            .await
            .unwrap();
        portal
            .store
            .join_group(&scope, group, pc)
            .await
            .unwrap()
            .unwrap();
        pcs.push(pc);
    }
    let welcome = welcome_script(&portal, site.id, true).await;
    let background = policy_script(&portal, site.id).await;
    let mut sif = WebUser::login(&portal, "sif").await;
    let group_path = format!("/steder/bibliotek/grupper/{group}");
    sif.get(&group_path).await;
    for form in [
        Form::new()
            .text("script", welcome.to_string())
            .text("p0", "Hej")
            .text("p1", "hemmelig-kode-1")
            .part(
                "p2",
                Part::bytes(b"VELKOMST".to_vec()).file_name("velkomst.png"),
            ),
        Form::new()
            .text("script", background.to_string())
            .part("p0", Part::bytes(b"PNG".to_vec()).file_name("baggrund.png")),
    ] {
        let added = sif
            .post_multipart(&format!("{group_path}/politik"), form)
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let ids: Vec<i64> = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap()
        .policies
        .iter()
        .map(|p| p.id)
        .collect();
    let [first, second] = ids[..] else {
        panic!("two policies: {ids:?}")
    };

    // The form shows what is stored, except the password; the file by its name.
    let page = sif.get(&group_path).await;
    assert!(
        page.body
            .contains(&format!("{group_path}/politik/{first}\"")),
        "{}",
        page.body
    );
    let edit = format!("{group_path}/politik/{first}");
    let form = sif.get(&edit).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("value=\"Hej\""), "{}", form.body);
    assert!(form.body.contains("velkomst.png"), "{}", form.body);
    assert!(
        !form.body.contains("hemmelig-kode-1"),
        "the password is never shown"
    );
    assert!(
        form.body
            .contains("<input type=\"file\" id=\"p2\" name=\"p2\" aria-describedby"),
        "a stored file is not asked for again: {}",
        form.body
    );
    assert!(form.body.contains("Antal computere: 2"), "{}", form.body);

    // New text; the password and the file left empty are kept. It reruns on both members.
    let saved = sif
        .post_multipart(&edit, Form::new().text("p0", "Goddag").text("p1", ""))
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        saved.location,
        format!("{group_path}?gjort=parametre&jobs=2")
    );
    let told = sif.get(&saved.location).await;
    assert!(
        told.body
            .contains("scriptet kører igen på gruppens computere. Antal jobs: 2"),
        "{}",
        told.body
    );
    let p = portal
        .store
        .policy(&[site.id], group, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.params[0].text.as_deref(), Some("Goddag"));
    assert_eq!(p.params[1].text.as_deref(), Some("hemmelig-kode-1"));
    let (_, name, data) = policy_file(&portal, first, 2).await.unwrap();
    assert_eq!(
        (name.as_str(), data.as_slice()),
        ("velkomst.png", &b"VELKOMST"[..])
    );
    for pc in &pcs {
        let job = portal.store.pending_jobs(*pc).await.unwrap().pop().unwrap();
        assert_eq!(job.params[0].string_value, "Goddag");
        assert_eq!(job.params[2].file_name.as_deref(), Some("velkomst.png"));
    }

    // A new file and a new password replace the old.
    let replaced = sif
        .post_multipart(
            &edit,
            Form::new()
                .text("p0", "Goddag")
                .text("p1", "ny-kode-2")
                .part("p2", Part::bytes(b"NY".to_vec()).file_name("ny.png")),
        )
        .await;
    assert_eq!(replaced.status, 303, "{}", replaced.body);
    let (_, name, data) = policy_file(&portal, first, 2).await.unwrap();
    assert_eq!((name.as_str(), data.as_slice()), ("ny.png", &b"NY"[..]));
    let p = portal
        .store
        .policy(&[site.id], group, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.params[1].text.as_deref(), Some("ny-kode-2"));

    // A mandatory text left empty: refused by its name, nothing typed echoed as a password.
    sif.get(&edit).await;
    let bad = sif
        .post_multipart(
            &edit,
            Form::new().text("p0", "").text("p1", "skrevet-kode-3"),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("Parametrene blev ikke gemt:"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("(besked)"), "{}", bad.body);
    for secret in ["skrevet-kode-3", "ny-kode-2"] {
        assert!(!bad.body.contains(secret), "{secret} shown again");
    }
    assert!(
        bad.body.contains("ny.png"),
        "the stored file is still named"
    );
    let p = portal
        .store
        .policy(&[site.id], group, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.params[0].text.as_deref(),
        Some("Goddag"),
        "nothing changed"
    );

    // The site does not rerun: saved, and the page says so.
    portal
        .store
        .change_site(
            &scope,
            site.id,
            &SiteChange {
                rerun_asc: Some(false),
                ..SiteChange::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let form = sif.get(&edit).await;
    assert!(
        form.body
            .contains("Stedet kører ikke tilknyttede scripts igen")
    );
    let jobs_before = portal.store.pending_jobs(pcs[0]).await.unwrap().len();
    let quiet = sif
        .post_multipart(&edit, Form::new().text("p0", "Farvel").text("p1", ""))
        .await;
    assert_eq!(quiet.location, format!("{group_path}?gjort=parametre"));
    let told = sif.get(&quiet.location).await;
    assert!(
        told.body.contains("Parametrene er gemt. Stedet kører ikke"),
        "{}",
        told.body
    );
    assert_eq!(
        portal.store.pending_jobs(pcs[0]).await.unwrap().len(),
        jobs_before
    );

    // Order: the page lists them by position; the second moves up.
    let listed = |body: &str| {
        let list = crate::common::web::between(body, "id=\"politik-liste\"", "</ol>");
        let at = |name: &str| list.find(name).unwrap_or(usize::MAX);
        at("Velkomst") < at("Baggrund")
    };
    assert!(listed(&told.body), "Velkomst first: {}", told.body);
    assert!(
        !told.body.contains(&format!("id=\"op-{first}\"")),
        "the first cannot go up"
    );
    let moved = sif
        .post(
            &format!("{group_path}/politik/{second}/flyt"),
            &[("retning", "op")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let page = sif.get(&group_path).await;
    assert!(!listed(&page.body), "Baggrund first: {}", page.body);
    assert!(page.body.contains(&format!("id=\"ned-{second}\"")));
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        g.policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        [second, first]
    );
    assert!(g.policies[0].position < g.policies[1].position);
    let sideways = sif
        .post(
            &format!("{group_path}/politik/{second}/flyt"),
            &[("retning", "til siden")],
        )
        .await;
    assert_eq!(sideways.status, 422, "{}", sideways.body);

    // Without the form's token, or from another site: refused, nothing moved.
    let flyt = format!("{group_path}/politik/{first}/flyt");
    assert_eq!(
        sif.post_cross_site(&flyt, &[("retning", "op")])
            .await
            .status,
        403
    );
    let token = std::mem::take(&mut sif.csrf);
    assert_eq!(sif.post(&flyt, &[("retning", "op")]).await.status, 403);
    // The refusal's page has the session's token again in its own forms.
    sif.csrf = String::new();
    let forged = sif
        .post_multipart(&edit, Form::new().text("p0", "Forfalsket").text("p1", ""))
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    sif.csrf = token;
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        g.policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        [second, first]
    );
    let p = portal
        .store
        .policy(&[site.id], group, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.params[0].text.as_deref(), Some("Farvel"));

    // Under another group of the site the policy is not found.
    let other_group = portal.store.add_group(site.id, "Andre").await.unwrap();
    let elsewhere = format!("/steder/bibliotek/grupper/{other_group}/politik/{first}");
    assert_eq!(sif.get(&elsewhere).await.status, 404);
    assert_eq!(
        sif.post(&format!("{elsewhere}/flyt"), &[("retning", "op")])
            .await
            .status,
        404
    );

    // Another customer's user: not found, by either site's address.
    let other = portal.site("Andeby Kommune", "andeby").await;
    portal.web_user("bent", "site_admin", &other).await;
    let mut bent = WebUser::login(&portal, "bent").await;
    bent.get("/").await;
    for site_uid in ["bibliotek", "andeby"] {
        let edit = format!("/steder/{site_uid}/grupper/{group}/politik/{first}");
        let answer = bent.get(&edit).await;
        assert_eq!(answer.status, 404, "{edit}");
        assert!(!answer.body.contains("Velkomst"));
        let answer = bent
            .post_multipart(&edit, Form::new().text("p0", "B").text("p1", ""))
            .await;
        assert_eq!(answer.status, 404, "{edit}");
        let answer = bent
            .post(&format!("{edit}/flyt"), &[("retning", "ned")])
            .await;
        assert_eq!(answer.status, 404, "{edit}/flyt");
    }
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        g.policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        [second, first]
    );
}

#[tokio::test]
async fn web_groups_members_policies_and_configuration() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("sif", "site_user", &site).await;
    portal.web_user("ida", "site_admin", &site).await;
    let (pc1, _) = portal.pc(&site, "bib-pc-001").await;
    let (pc2, _) = portal.pc(&site, "bib-pc-002").await;
    for pc in [pc1, pc2] {
        portal
            .store
            .api_set_activated(&[site.id], pc, true)
            .await
            .unwrap();
    }
    let script = policy_script(&portal, site.id).await;
    let mut sif = WebUser::login(&portal, "sif").await;
    sif.get("/steder/bibliotek/grupper").await;

    let empty = sif
        .post("/steder/bibliotek/grupper", &[("navn", " ")])
        .await;
    assert_eq!(empty.status, 422);
    assert!(
        empty.body.contains("Navn: skal være 1 til 200"),
        "{}",
        empty.body
    );
    let made = sif
        .post(
            "/steder/bibliotek/grupper",
            &[("navn", "Udlån"), ("beskrivelse", "Udlånsmaskiner")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let group: i64 = made.location.rsplit('/').next().unwrap().parse().unwrap();
    let page = sif.get(&made.location).await;
    assert!(page.body.contains("Udlånsmaskiner"));
    let twice = sif
        .post("/steder/bibliotek/grupper", &[("navn", "Udlån")])
        .await;
    assert_eq!(twice.status, 422, "the name is taken");

    // Supervisors: users of the site.
    let ida: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'ida'")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    let changed = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}"),
            &[
                ("navn", "Udlån voksen"),
                ("beskrivelse", ""),
                ("ansvarlig", &ida.to_string()),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (g.name.as_str(), g.supervisors),
        ("Udlån voksen", vec![ida])
    );

    // A policy script with a file: it runs on the members it has, then on each who joins.
    let form = sif
        .get(&format!(
            "/steder/bibliotek/grupper/{group}/politik?script={script}"
        ))
        .await;
    assert!(
        form.body.contains("type=\"file\" id=\"p0\""),
        "{}",
        form.body
    );
    let without = sif
        .post_multipart(
            &format!("/steder/bibliotek/grupper/{group}/politik"),
            Form::new().text("script", script.to_string()),
        )
        .await;
    assert_eq!(without.status, 422, "the file is mandatory");
    let added = sif
        .post_multipart(
            &format!("/steder/bibliotek/grupper/{group}/politik"),
            Form::new()
                .text("script", script.to_string())
                .part("p0", Part::bytes(b"PNG".to_vec()).file_name("baggrund.png")),
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let joined = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/medlemmer"),
            &[("pc", &pc1.to_string()), ("pc", &pc2.to_string())],
        )
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    for pc in [pc1, pc2] {
        let jobs = portal.store.pending_jobs(pc).await.unwrap();
        assert_eq!(jobs.len(), 1, "joining ran the policy on {pc}");
        assert_eq!(jobs[0].params[0].file_name.as_deref(), Some("baggrund.png"));
    }
    // Taken off again: the group keeps no policy, the jobs already made stay.
    let policy = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap()
        .policies[0]
        .id;
    let removed = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/politik/{policy}/fjern"),
            &[],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert!(g.policies.is_empty());
    assert_eq!(portal.store.pending_jobs(pc1).await.unwrap().len(), 1);
    let again = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/politik/{policy}/fjern"),
            &[],
        )
        .await;
    assert_eq!(again.status, 404, "gone");
    let left = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/medlemmer"),
            &[("pc", &pc1.to_string())],
        )
        .await;
    assert_eq!(left.status, 303);
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.members, vec![pc1]);

    // Configuration of the group reaches its PC's page as inherited.
    let set = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/konfiguration"),
            &[("noegle", "browser_home"), ("vaerdi", "https://bib.dk")],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    let pc_page = sif.get(&format!("/steder/bibliotek/pc/{pc1}")).await;
    assert!(pc_page.body.contains("https://bib.dk"));
    let bad = sif
        .post(
            &format!("/steder/bibliotek/grupper/{group}/konfiguration"),
            &[("noegle", "_os_release"), ("vaerdi", "x")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);

    // A rule for the whole site watches the group too.
    portal
        .store
        .add_offline_rule(site.id, "Åbningstid", "HIGH", "08:00", "16:00", 60, &[])
        .await
        .unwrap();
    let page = sif.get(&format!("/steder/bibliotek/grupper/{group}")).await;
    assert!(page.body.contains("Åbningstid (HIGH)"));
    assert!(
        !page.body.contains("id=\"slet-gruppe\""),
        "site users do not delete"
    );
    let delete = format!("/steder/bibliotek/grupper/{group}/slet");
    assert_eq!(sif.post(&delete, &[]).await.status, 404);
    assert_eq!(sif.post_cross_site(&delete, &[]).await.status, 403);

    // Another customer's user: nothing, even by typing the addresses.
    let other = portal.site("Andeby Kommune", "andeby").await;
    portal.web_user("bent", "site_admin", &other).await;
    let mut bent = WebUser::login(&portal, "bent").await;
    bent.get("/").await;
    for path in [
        format!("/steder/bibliotek/grupper/{group}"),
        format!("/steder/andeby/grupper/{group}"),
        format!("/steder/andeby/grupper/{group}/politik?script={script}"),
    ] {
        assert_eq!(bent.get(&path).await.status, 404, "{path}");
    }
    for path in [
        format!("/steder/andeby/grupper/{group}"),
        format!("/steder/andeby/grupper/{group}/medlemmer"),
        format!("/steder/andeby/grupper/{group}/konfiguration"),
        format!("/steder/andeby/grupper/{group}/slet"),
    ] {
        let answer = bent
            .post(&path, &[("navn", "x"), ("noegle", "a"), ("vaerdi", "b")])
            .await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let g = portal
        .store
        .group(&[site.id], group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.name, "Udlån voksen", "nothing changed");

    let mut ida_web = WebUser::login(&portal, "ida").await;
    ida_web
        .get(&format!("/steder/bibliotek/grupper/{group}"))
        .await;
    let gone = ida_web.post(&delete, &[]).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert!(
        portal
            .store
            .group(&[site.id], group)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn browser_group_pages() -> anyhow::Result<()> {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("sif", "site_user", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    portal.store.api_set_activated(&[site.id], pc, true).await?;
    let script = policy_script(&portal, site.id).await;
    let group = portal.store.add_group(site.id, "Udlån").await?;
    let b = Browser::start().await?;
    b.goto(format!("{}/log-ind", portal.url)).await?;
    b.wait(By::Id("brugernavn")).await?.send_keys("sif").await?;
    b.find(By::Id("adgangskode"))
        .await?
        .send_keys(crate::common::web::PASSWORD)
        .await?;
    b.press(Key::Enter).await?;
    b.wait(By::Css("a[href='/steder/bibliotek']")).await?;
    b.goto(format!("{}/steder/bibliotek/grupper", portal.url))
        .await?;
    b.wait(By::Id("opret-gruppe")).await?;
    b.assert_accessible("grupper").await?;
    b.goto(format!("{}/steder/bibliotek/grupper/{group}", portal.url))
        .await?;
    b.wait(By::Id(format!("pc-{pc}"))).await?.click().await?;
    b.find(By::Id("gem-medlemmer")).await?.click().await?;
    b.wait(By::Css(format!("#pc-{pc}:checked"))).await?;
    b.assert_accessible("gruppe").await?;
    b.screenshot("borgerpc-gruppe").await?;
    b.goto(format!(
        "{}/steder/bibliotek/grupper/{group}/politik?script={script}",
        portal.url
    ))
    .await?;
    b.wait(By::Id("p0")).await?;
    b.assert_accessible("tilknyt script").await?;

    // Two policies: their order buttons, and the form that changes one's values.
    let scope = Scope::cli(&portal.store).await?;
    let welcome = welcome_script(&portal, site.id, false).await;
    let mut ids = Vec::new();
    for (script, params) in [
        (
            script,
            vec![ParamValue::File {
                name: "baggrund.png".into(),
                data: b"PNG".to_vec(),
            }],
        ),
        (
            welcome,
            vec![
                ParamValue::Text("Hej".into()),
                ParamValue::Text("hemmelig".into()),
                ParamValue::Text(String::new()),
            ],
        ),
    ] {
        let added = portal
            .store
            .add_policy(&scope, group, script, &params)
            .await?;
        ids.push(added.map(|r| r.policy_id).unwrap_or_default());
    }
    b.goto(format!("{}/steder/bibliotek/grupper/{group}", portal.url))
        .await?;
    b.wait(By::Id(format!("op-{}", ids[1])))
        .await?
        .click()
        .await?;
    b.wait(By::Id(format!("ned-{}", ids[1]))).await?;
    b.assert_accessible("gruppe med scripts").await?;
    b.goto(format!(
        "{}/steder/bibliotek/grupper/{group}/politik/{}",
        portal.url, ids[1]
    ))
    .await?;
    b.wait(By::Id("gem-parametre")).await?;
    b.assert_accessible("ret parametre").await?;
    b.find(By::Id("p0")).await?.clear().await?;
    b.find(By::Id("p0")).await?.send_keys("Goddag").await?;
    b.find(By::Id("gem-parametre")).await?.click().await?;
    b.wait(By::Id(format!("op-{}", ids[0]))).await?;
    let p = portal.store.policy(&[site.id], group, ids[1]).await?;
    let texts: Vec<Option<String>> = p
        .into_iter()
        .flat_map(|p| p.params)
        .map(|p| p.text)
        .collect();
    assert_eq!(texts[..2], [Some("Goddag".into()), Some("hemmelig".into())]);
    b.quit().await
}
