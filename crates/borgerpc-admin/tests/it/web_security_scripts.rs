//! Security scripts in the portal (Overvågning → Sikkerhedsscripts) and deleting a local
//! script, over real HTTP: the list with its filters, a local security script made with typed
//! code and changed by an uploaded file, its code in every version, the security rules that
//! use it; the two kinds kept apart (an id of one kind is "not found" on the other's pages,
//! the wizard and the policy picker); a delete refused while a rule or a group uses the
//! script and done after, by site admins only and with the CSRF token only; a deleted script's
//! old jobs still shown, and the agent no longer sent a deleted security script.

use crate::common::Portal;
use crate::common::web::WebUser;
use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::jobs::{JobStatus, NewScript, ParamValue, RunScript};
use borgerpc_admin::store::rules::RuleKind;
use borgerpc_admin::store::tenants::Site;
use reqwest::multipart::{Form, Part};

async fn script(portal: &Portal, site: Option<&Site>, name: &str, security: bool) -> i64 {
    portal
        .store
        .save_script(&NewScript {
            site_id: site.map(|s| s.id),
            uid: None,
            name: name.into(),
            description: String::new(),
            category: Some(if security { "Sikkerhed" } else { "System" }.into()),
            is_security: security,
            is_hidden: false,
            version: 1,
            code: format!("#!/bin/sh\necho {}\n", name.len()),
            inputs: vec![],
        })
        .await
        .unwrap()
        .script_id
}

/// The id at the end of a redirect's address.
fn id_in(location: &str) -> i64 {
    location
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {location:?}"))
}

/// How many `script.delete` records the audit log has.
async fn deletes_audited(portal: &Portal) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'script.delete'")
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn web_security_scripts_list_create_rules_and_delete() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    portal.web_user("sif", "site_user", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    portal
        .store
        .api_set_activated(&[site.id], pc, true)
        .await
        .unwrap();
    let global = script(&portal, None, "Sudo-tjek globalt", true).await;
    let normal = script(&portal, Some(&site), "Lokal hilsen", false).await;
    script(&portal, None, "Global hilsen", false).await;
    let group = portal.store.add_group(site.id, "Voksen").await.unwrap();
    let mut ida = WebUser::login(&portal, "ida").await;

    // The list: security scripts only, under Overvågning in the menu, with its help page.
    let list = ida.get("/steder/bibliotek/sikkerhedsscripts").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Sudo-tjek globalt"));
    assert!(!list.body.contains("hilsen"), "{}", list.body);
    assert!(
        list.body
            .contains("href=\"/steder/bibliotek/sikkerhedsscripts\"")
    );
    assert!(list.body.contains("href=\"/hjaelp/sikkerhedsscripts\""));
    let menu = ida.get("/steder/bibliotek/regler").await;
    assert!(menu.body.contains(">Sikkerhedsscripts<"), "{}", menu.body);
    let scripts = ida.get("/steder/bibliotek/scripts").await;
    assert!(scripts.body.contains("Lokal hilsen"));
    assert!(!scripts.body.contains("Sudo-tjek"), "no security scripts");

    // A new local security script: no parameter editor, the security scripts' contract as
    // the hint; parameter fields sent anyway are not read.
    let form = ida.get("/steder/bibliotek/sikkerhedsscripts/ny").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("%SECURITY_PROBLEM_UID%"));
    assert!(!form.body.contains("param_navn_0"));
    let bad = ida
        .post_multipart(
            "/steder/bibliotek/sikkerhedsscripts/ny",
            Form::new().text("navn", "USB-tjek").text("kode", "  "),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Kode: skriv koden"), "{}", bad.body);
    let saved = ida
        .post_multipart(
            "/steder/bibliotek/sikkerhedsscripts/ny",
            Form::new()
                .text("navn", "USB-tjek")
                .text("beskrivelse", "Finder nye tastaturer")
                .text("kategori", "Sikkerhed")
                .text("kode", "#!/bin/sh\r\necho v1 %SECURITY_PROBLEM_UID%\r\n")
                .text("param_navn_0", "ignoreret")
                .text("param_type_0", "STRING"),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(
        saved
            .location
            .starts_with("/steder/bibliotek/sikkerhedsscripts/")
    );
    let usb = id_in(&saved.location);
    let page = ida.get(&saved.location).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("echo v1 %SECURITY_PROBLEM_UID%"));
    assert!(!page.body.contains("id=\"koer-script\""), "no run wizard");
    assert!(!page.body.contains("id=\"parametre\""), "no parameters");
    assert!(page.body.contains("Ingen af stedets sikkerhedsregler"));
    assert!(
        page.body.contains("id=\"slet-script\""),
        "a site admin deletes"
    );
    let stored: Vec<(i64, i64)> =
        sqlx::query_as("SELECT is_security, (SELECT COUNT(*) FROM inputs i JOIN script_versions v ON v.id = i.script_version_id WHERE v.script_id = s.id) FROM scripts s WHERE id = $1")
            .bind(usb)
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(stored, [(1, 0)], "a security script without parameters");

    // A new version from an uploaded file; every version's code can be downloaded.
    let edit = format!("/steder/bibliotek/sikkerhedsscripts/{usb}/rediger");
    assert_eq!(ida.get(&edit).await.status, 200);
    let changed = ida
        .post_multipart(
            &edit,
            Form::new()
                .text("navn", "USB-tjek")
                .text("beskrivelse", "Finder nye tastaturer")
                .text("kategori", "Sikkerhed")
                .part(
                    "kodefil",
                    Part::bytes(b"#!/bin/sh\necho v2\n".to_vec()).file_name("usb.sh"),
                ),
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(id_in(&changed.location), usb, "the same script");
    let code = |version: &str| format!("/steder/bibliotek/sikkerhedsscripts/{usb}/kode{version}");
    let now = ida.get(&code("")).await;
    assert_eq!(
        (now.status, now.body.as_str()),
        (200, "#!/bin/sh\necho v2\n")
    );
    let first = ida.get(&code("?version=1")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, "#!/bin/sh\necho v1 %SECURITY_PROBLEM_UID%\n");
    let disposition = first.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains("USB_tjek-v1.sh"), "{disposition}");
    assert_eq!(ida.get(&code("?version=9")).await.status, 404);

    // Filters and search.
    let local = ida
        .get("/steder/bibliotek/sikkerhedsscripts?type=lokale")
        .await;
    assert!(local.body.contains("USB-tjek") && !local.body.contains("Sudo-tjek"));
    let globals = ida
        .get("/steder/bibliotek/sikkerhedsscripts?type=globale")
        .await;
    assert!(!globals.body.contains("USB-tjek") && globals.body.contains("Sudo-tjek"));
    let found = ida
        .get("/steder/bibliotek/sikkerhedsscripts?q=tastatur")
        .await;
    assert!(found.body.contains("USB-tjek") && found.body.contains("1 resultater"));
    let none = ida
        .get("/steder/bibliotek/sikkerhedsscripts?kategori=System")
        .await;
    assert!(none.body.contains("Ingen sikkerhedsscripts passer"));

    // The kinds are kept apart: each kind's pages answer "not found" for the other's ids.
    for path in [
        format!("/steder/bibliotek/scripts/{usb}"),
        format!("/steder/bibliotek/scripts/{usb}/kode"),
        format!("/steder/bibliotek/scripts/{usb}/rediger"),
        format!("/steder/bibliotek/scripts/{usb}/slet"),
        format!("/steder/bibliotek/scripts/{usb}/koer"),
        format!("/steder/bibliotek/scripts/{usb}/koer/parametre?pc={pc}"),
        format!("/steder/bibliotek/sikkerhedsscripts/{normal}"),
        format!("/steder/bibliotek/sikkerhedsscripts/{normal}/kode"),
        format!("/steder/bibliotek/sikkerhedsscripts/{normal}/rediger"),
        format!("/steder/bibliotek/sikkerhedsscripts/{normal}/slet"),
        format!("/steder/bibliotek/sikkerhedsscripts/{usb}/koer"),
    ] {
        assert_eq!(ida.get(&path).await.status, 404, "{path}");
    }
    let run = ida
        .post_multipart(
            &format!("/steder/bibliotek/scripts/{usb}/koer"),
            Form::new().text("pc", pc.to_string()),
        )
        .await;
    assert_eq!(run.status, 404, "the wizard does not run a security script");
    let wrong_kind = ida
        .post_multipart(
            &format!("/steder/bibliotek/sikkerhedsscripts/{normal}/rediger"),
            Form::new().text("navn", "x").text("kode", "echo x"),
        )
        .await;
    assert_eq!(wrong_kind.status, 404);
    assert!(portal.store.pending_jobs(pc).await.unwrap().is_empty());
    let group_page = ida.get(&format!("/steder/bibliotek/grupper/{group}")).await;
    assert!(
        group_page.body.contains("Lokal hilsen"),
        "the policy picker"
    );
    assert!(!group_page.body.contains("USB-tjek"));
    // The same name in the other kind is another script, not a version of this one.
    let twin = ida
        .post_multipart(
            "/steder/bibliotek/scripts/ny",
            Form::new()
                .text("navn", "USB-tjek")
                .text("kode", "echo job"),
        )
        .await;
    assert_eq!(twin.status, 303, "{}", twin.body);
    assert_ne!(id_in(&twin.location), usb);
    assert_eq!(ida.get(&code("")).await.body, "#!/bin/sh\necho v2\n");

    // A security rule runs it: the script page links the rule, and the agent gets it.
    let rule = portal
        .store
        .add_security_problem(site.id, "Nyt tastatur", "HIGH", usb, &[])
        .await
        .unwrap();
    let page = ida
        .get(&format!("/steder/bibliotek/sikkerhedsscripts/{usb}"))
        .await;
    assert!(
        page.body.contains(&format!(
            "<a href=\"/steder/bibliotek/regler/sikkerhed/{rule}\">Nyt tastatur</a>"
        )),
        "{}",
        page.body
    );
    let picker = ida.get("/steder/bibliotek/regler/ny?type=sikkerhed").await;
    assert!(picker.body.contains("USB-tjek"), "the rule form offers it");
    let sent = portal
        .store
        .security_scripts_for(pc, site.id)
        .await
        .unwrap();
    assert_eq!(sent.iter().map(|s| s.script_id).collect::<Vec<_>>(), [usb]);

    // Refused while the rule uses it, naming the rule.
    let delete = format!("/steder/bibliotek/sikkerhedsscripts/{usb}/slet");
    let ask = ida.get(&delete).await;
    assert_eq!(ask.status, 200);
    assert!(
        ask.body.contains("Scriptet kan ikke slettes"),
        "{}",
        ask.body
    );
    assert!(
        ask.body
            .contains(&format!("/regler/sikkerhed/{rule}\">Nyt tastatur"))
    );
    assert!(!ask.body.contains("id=\"bekraeft-slet\""));
    let refused = ida.post(&delete, &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("Nyt tastatur"));
    assert_eq!(deletes_audited(&portal).await, 0);
    let scope = Scope::cli(&portal.store).await.unwrap();
    let api_refused = portal.store.delete_script(&scope, site.id, usb).await;
    assert!(
        matches!(&api_refused, Err(borgerpc_admin::store::Error::Conflict(m)) if m.to_string().contains("Nyt tastatur")),
        "{api_refused:?}"
    );

    // A site user edits but does not delete; nobody deletes without the token, or from
    // another site's page.
    let mut sif = WebUser::login(&portal, "sif").await;
    let page = sif
        .get(&format!("/steder/bibliotek/sikkerhedsscripts/{usb}"))
        .await;
    assert!(page.body.contains("id=\"ret-script\""));
    assert!(!page.body.contains("id=\"slet-script\""));
    assert_eq!(sif.get(&delete).await.status, 404);
    assert_eq!(sif.post(&delete, &[]).await.status, 404);

    portal
        .store
        .delete_rule(&scope, RuleKind::Security, rule)
        .await
        .unwrap()
        .expect("the rule");
    let ask = ida.get(&delete).await;
    assert!(ask.body.contains("id=\"bekraeft-slet\""), "{}", ask.body);
    assert_eq!(ida.post_without_token(&delete, &[]).await.status, 403);
    assert_eq!(ida.post_cross_site(&delete, &[]).await.status, 403);
    assert_eq!(deletes_audited(&portal).await, 0);

    // Deleted: gone from the list, its pages, the rule form, the API's list and the agent.
    let done = ida.post(&delete, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, "/steder/bibliotek/sikkerhedsscripts");
    let list = ida.get(&done.location).await;
    assert!(!list.body.contains("USB-tjek"), "{}", list.body);
    for path in [
        format!("/steder/bibliotek/sikkerhedsscripts/{usb}"),
        code(""),
        edit.clone(),
        delete.clone(),
    ] {
        assert_eq!(ida.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(ida.post(&delete, &[]).await.status, 404, "deleted once");
    let picker = ida.get("/steder/bibliotek/regler/ny?type=sikkerhed").await;
    assert!(!picker.body.contains(">USB-tjek<"), "{}", picker.body);
    let api = portal.store.api_scripts(site.id).await.unwrap();
    assert!(!api.iter().any(|s| s.id == usb));
    assert!(
        portal
            .store
            .add_security_problem(site.id, "Igen", "HIGH", usb, &[])
            .await
            .is_err(),
        "no new rule runs a deleted script"
    );
    assert!(
        portal
            .store
            .security_scripts_for(pc, site.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(deletes_audited(&portal).await, 1);
    let target: String = sqlx::query_scalar(
        "SELECT target FROM audit_log WHERE action = 'script.delete' AND actor = 'user:ida'",
    )
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert!(target.contains(&format!("script:{usb}")), "{target}");

    // A global script is every site's: no site deletes it.
    let page = ida
        .get(&format!("/steder/bibliotek/sikkerhedsscripts/{global}"))
        .await;
    assert!(!page.body.contains("id=\"slet-script\""));
    let global_delete = format!("/steder/bibliotek/sikkerhedsscripts/{global}/slet");
    assert_eq!(ida.get(&global_delete).await.status, 404);
    assert_eq!(ida.post(&global_delete, &[]).await.status, 404);
    assert!(
        portal
            .store
            .delete_script(&scope, site.id, global)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn web_security_scripts_a_deleted_script_keeps_its_jobs() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    portal
        .store
        .api_set_activated(&[site.id], pc, true)
        .await
        .unwrap();
    let hilsen = script(&portal, Some(&site), "Hilsen", false).await;
    let batch = portal
        .store
        .run_script(RunScript {
            site_id: site.id,
            script_id: hilsen,
            pc_ids: &[pc],
            params: Vec::<ParamValue>::new(),
            created_by: "user:ida",
        })
        .await
        .unwrap();
    let job = batch.job_ids[0];
    portal.store.confirm_jobs(pc, &[job]).await.unwrap();
    assert!(
        portal
            .store
            .report_job(pc, job, JobStatus::Done, None, None, "hilsen fra pc-en")
            .await
            .unwrap()
    );
    let scope = Scope::cli(&portal.store).await.unwrap();
    let group = portal.store.add_group(site.id, "Voksen").await.unwrap();
    let policy = portal
        .store
        .add_policy(&scope, group, hilsen, &[])
        .await
        .unwrap()
        .expect("policy")
        .policy_id;
    let mut ida = WebUser::login(&portal, "ida").await;

    // Refused while a group has it as a policy, naming the group.
    let delete = format!("/steder/bibliotek/scripts/{hilsen}/slet");
    let page = ida
        .get(&format!("/steder/bibliotek/scripts/{hilsen}"))
        .await;
    assert!(page.body.contains(&format!("href=\"{delete}\"")));
    let refused = ida.post(&delete, &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(&format!("/steder/bibliotek/grupper/{group}\">Voksen")),
        "{}",
        refused.body
    );
    portal
        .store
        .remove_policy(&scope, group, policy)
        .await
        .unwrap()
        .expect("the policy");
    let done = ida.post(&delete, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, "/steder/bibliotek/scripts");

    // Gone from the list, the wizard and the policy picker; not run again.
    let list = ida.get("/steder/bibliotek/scripts").await;
    assert!(!list.body.contains("Hilsen"), "{}", list.body);
    for path in [
        format!("/steder/bibliotek/scripts/{hilsen}"),
        format!("/steder/bibliotek/scripts/{hilsen}/koer"),
        format!("/steder/bibliotek/scripts/{hilsen}/koer/parametre?pc={pc}"),
    ] {
        assert_eq!(ida.get(&path).await.status, 404, "{path}");
    }
    let group_page = ida.get(&format!("/steder/bibliotek/grupper/{group}")).await;
    assert!(!group_page.body.contains("Hilsen"), "{}", group_page.body);
    assert!(
        portal
            .store
            .run_script(RunScript {
                site_id: site.id,
                script_id: hilsen,
                pc_ids: &[pc],
                params: Vec::new(),
                created_by: "test",
            })
            .await
            .is_err()
    );
    assert!(
        portal
            .store
            .add_policy(&scope, group, hilsen, &[])
            .await
            .unwrap()
            .is_none()
    );

    // The job that ran it is kept with its log and the script's name, without a link to the
    // script's page and without a restart.
    let page = ida.get(&format!("/steder/bibliotek/jobs/{job}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hilsen") && page.body.contains("slettet"));
    assert!(page.body.contains("hilsen fra pc-en"), "{}", page.body);
    assert!(!page.body.contains(&format!("/scripts/{hilsen}\"")));
    assert!(!page.body.contains("id=\"genstart-job\""));
    let restart = ida
        .post(&format!("/steder/bibliotek/jobs/{job}/genstart"), &[])
        .await;
    assert_eq!(restart.status, 409);
    assert!(
        restart.body.contains("script er slettet"),
        "{}",
        restart.body
    );
    let batch_page = ida
        .get(&format!("/steder/bibliotek/koersler/{}", batch.batch_id))
        .await;
    assert!(batch_page.body.contains("Hilsen") && batch_page.body.contains("slettet"));
    let jobs = ida.get("/steder/bibliotek/jobs").await;
    assert!(
        jobs.body
            .contains(&format!("/steder/bibliotek/jobs/{job}\""))
    );

    // A new script by the same name is a new script, not the deleted one back.
    let again = ida
        .post_multipart(
            "/steder/bibliotek/scripts/ny",
            Form::new().text("navn", "Hilsen").text("kode", "echo igen"),
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_ne!(id_in(&again.location), hilsen);
    let page = ida.get(&format!("/steder/bibliotek/jobs/{job}")).await;
    assert!(
        page.body.contains("slettet"),
        "the old job keeps its script"
    );
}
