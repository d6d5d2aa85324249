//! The portal's administration pages over real HTTP: users, API keys, site settings,
//! approvals and logs. Who of each role sees and does what, that nobody gives a role above
//! their own or locks themselves out, that an API key is shown once and works, that every
//! change is audited, and that nothing of another customer's shows, even by typing its
//! address.

use crate::common::Portal;
use crate::common::web::{PASSWORD, WebUser, between};
use borgerpc_admin::store::tenants::Site;

/// The administration pages of a site.
fn admin_pages(site: &str) -> [String; 4] {
    [
        format!("/steder/{site}/brugere"),
        format!("/steder/{site}/api-noegler"),
        format!("/steder/{site}/indstillinger"),
        format!("/steder/{site}/log"),
    ]
}

async fn audit(portal: &Portal, action: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as("SELECT actor, target, detail FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(portal.store.pool())
        .await
        .unwrap()
}

async fn user_id(portal: &Portal, name: &str) -> i64 {
    portal.store.user_id_by_name(name).await.unwrap()
}

/// A site with a site admin `ida` and a site user `sif`.
async fn site_with_users(portal: &Portal) -> Site {
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    portal.web_user("sif", "site_user", &site).await;
    site
}

#[tokio::test]
async fn web_admin_pages_by_role() {
    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    portal.web_user("kim", "customer_admin", &site).await;

    let mut sif = WebUser::login(&portal, "sif").await;
    for path in admin_pages("bibliotek") {
        let a = sif.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
    }
    // A site user approves PCs, so the approvals page is theirs; the menu has no more.
    let approvals = sif.get("/steder/bibliotek/godkendelser").await;
    assert_eq!(approvals.status, 200, "{}", approvals.body);
    assert!(
        !approvals
            .body
            .contains("href=\"/steder/bibliotek/brugere\"")
    );

    for name in ["ida", "kim"] {
        let mut u = WebUser::login(&portal, name).await;
        for path in admin_pages("bibliotek")
            .into_iter()
            .chain(["/steder/bibliotek/godkendelser".to_owned()])
        {
            let a = u.get(&path).await;
            assert_eq!(a.status, 200, "{name} {path}: {}", a.body);
            assert!(a.body.contains(&format!("href=\"{path}\"")), "{name}: menu");
        }
    }
    let mut ida = WebUser::login(&portal, "ida").await;
    let users = ida.get("/steder/bibliotek/brugere").await;
    for expected in ["sif", "kim", "Stedbruger", "Kundeadministrator"] {
        assert!(users.body.contains(expected), "{expected}: {}", users.body);
    }
    // A site admin gives roles up to their own, never customer admin.
    assert!(users.body.contains("value=\"site_admin\""));
    assert!(!users.body.contains("value=\"customer_admin\""));
    // Only a customer admin links users of the customer's other sites.
    assert!(!users.body.contains("tilknyt"));
    let _ = site;
}

#[tokio::test]
async fn web_admin_users_created_changed_and_nobody_escalates() {
    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    portal.web_user("kim", "customer_admin", &site).await;
    let other = portal.site("Ærø Kommune", "raadhus").await;
    portal.web_user("rie", "site_user", &other).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/steder/bibliotek/brugere").await;

    let form = |name: &'static str, role: &'static str| {
        [
            ("brugernavn", name),
            ("email", "x@example.dk"),
            ("adgangskode", PASSWORD),
            ("rolle", role),
            ("sprog", "en"),
        ]
    };
    // Above her own role: refused, naming the field, and nobody is made.
    let a = ida
        .post("/steder/bibliotek/brugere", &form("eva", "customer_admin"))
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body.contains("role:") && a.body.contains("Rolle"),
        "{}",
        a.body
    );
    assert!(portal.store.user_id_by_name("eva").await.is_err());

    let a = ida
        .post("/steder/bibliotek/brugere", &form("eva", "site_user"))
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let eva = user_id(&portal, "eva").await;
    assert_eq!(a.location, format!("/steder/bibliotek/brugere/{eva}"));
    let page = ida.get(&a.location).await;
    assert!(page.body.contains("Engelsk") && page.body.contains("Stedbruger"));
    assert_eq!(audit(&portal, "user.create").await.len(), 1);

    // Promote to site admin: audited with the role before and after.
    let a = ida
        .post(
            &format!("/steder/bibliotek/brugere/{eva}/rolle"),
            &[("rolle", "site_admin")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let roles = audit(&portal, "user.role").await;
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].0, "user:ida");
    let detail: serde_json::Value = serde_json::from_str(roles[0].2.as_deref().unwrap()).unwrap();
    assert_eq!(detail["before"]["role"], "site_user");
    assert_eq!(detail["after"]["role"], "site_admin");
    let a = ida
        .post(
            &format!("/steder/bibliotek/brugere/{eva}/rolle"),
            &[("rolle", "customer_admin")],
        )
        .await;
    assert_eq!(a.status, 422);

    // Herself: no demotion, no removal (no lock-out).
    let me = user_id(&portal, "ida").await;
    let mine = ida.get(&format!("/steder/bibliotek/brugere/{me}")).await;
    assert!(!mine.body.contains("id=\"gem-rolle\"") && !mine.body.contains("id=\"fjern-bruger\""));
    for (path, form) in [
        ("rolle", vec![("rolle", "site_user")]),
        ("fjern", vec![]),
        (
            "adgangskode",
            vec![("adgangskode", "et helt nyt og langt kodeord 77")],
        ),
    ] {
        let a = ida
            .post(&format!("/steder/bibliotek/brugere/{me}/{path}"), &form)
            .await;
        assert_eq!(a.status, 422, "{path}: {}", a.body);
    }
    // A customer admin is above her: no change, no password.
    let kim = user_id(&portal, "kim").await;
    let page = ida.get(&format!("/steder/bibliotek/brugere/{kim}")).await;
    assert!(!page.body.contains("id=\"saet-kode\""));
    for (path, form) in [
        ("rolle", vec![("rolle", "site_user")]),
        (
            "adgangskode",
            vec![("adgangskode", "et helt nyt og langt kodeord 77")],
        ),
        ("totrin", vec![]),
        ("fjern", vec![]),
    ] {
        let a = ida
            .post(&format!("/steder/bibliotek/brugere/{kim}/{path}"), &form)
            .await;
        assert_eq!(a.status, 422, "{path}");
    }
    assert_eq!(
        portal
            .store
            .scope_of_user(me)
            .await
            .unwrap()
            .unwrap()
            .roles
            .len(),
        1
    );

    // A customer admin makes customer admins and links the customer's other users.
    let mut kim_web = WebUser::login(&portal, "kim").await;
    let users = kim_web.get("/steder/bibliotek/brugere").await;
    assert!(users.body.contains("value=\"customer_admin\""));
    assert!(users.body.contains("id=\"tilknyt-bruger\"") && users.body.contains(">rie<"));
    let rie = user_id(&portal, "rie").await;
    let a = kim_web
        .post(
            "/steder/bibliotek/brugere/tilknyt",
            &[("bruger", &rie.to_string()), ("rolle", "site_user")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let scope = portal.store.scope_of_user(rie).await.unwrap().unwrap();
    assert!(scope.visible(site.id) && scope.visible(other.id));
    let a = kim_web
        .post("/steder/bibliotek/brugere", &form("ulla", "customer_admin"))
        .await;
    assert_eq!(a.status, 303, "{}", a.body);

    // Removal from the site.
    let a = ida
        .post(&format!("/steder/bibliotek/brugere/{rie}/fjern"), &[])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let scope = portal.store.scope_of_user(rie).await.unwrap().unwrap();
    assert!(!scope.visible(site.id) && scope.visible(other.id));
}

#[tokio::test]
async fn web_admin_password_and_second_factor_reset() {
    let portal = Portal::start().await;
    let _site = site_with_users(&portal).await;
    let sif_id = user_id(&portal, "sif").await;
    let mut sif = WebUser::login(&portal, "sif").await;
    assert_eq!(sif.get("/steder/bibliotek").await.status, 200);
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida
        .get(&format!("/steder/bibliotek/brugere/{sif_id}"))
        .await;
    assert!(page.body.contains("id=\"saet-kode\""));

    let weak = ida
        .post(
            &format!("/steder/bibliotek/brugere/{sif_id}/adgangskode"),
            &[("adgangskode", "1234")],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(
        weak.body.contains("Adgangskode: skal være mindst 10 tegn"),
        "{}",
        weak.body
    );

    let new = "blå hest danser under femten grønne lamper";
    let a = ida
        .post(
            &format!("/steder/bibliotek/brugere/{sif_id}/adgangskode"),
            &[("adgangskode", new)],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    // Her session ended with the old password.
    let ended = sif.get("/steder/bibliotek").await;
    assert_eq!(ended.status, 303);
    assert!(ended.location.starts_with("/log-ind"));
    let reset = audit(&portal, "user.password_reset").await;
    assert_eq!(reset.len(), 1);
    assert!(!format!("{reset:?}").contains(new));

    // A second factor (as an app enrolment leaves it), reset by the admin.
    sqlx::query(
        "INSERT INTO web_second_factors (user_id, secret, confirmed_at) VALUES ($1, 'JBSWY3DPEHPK3PXP', 1)",
    )
    .bind(sif_id)
    .execute(portal.store.pool())
    .await
    .unwrap();
    let page = ida
        .get(&format!("/steder/bibliotek/brugere/{sif_id}"))
        .await;
    assert!(page.body.contains("id=\"nulstil-totrin\""));
    let a = ida
        .post(&format!("/steder/bibliotek/brugere/{sif_id}/totrin"), &[])
        .await;
    assert_eq!(a.status, 303);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM web_second_factors WHERE user_id = $1")
            .bind(sif_id)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(audit(&portal, "user.second_factor_reset").await.len(), 1);
}

#[tokio::test]
async fn web_admin_bad_input_names_the_field() {
    let portal = Portal::start().await;
    site_with_users(&portal).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/steder/bibliotek/brugere").await;
    for (name, password, role, field) in [
        ("", PASSWORD, "site_user", "Brugernavn: 1 til 150 bogstaver"),
        (
            "ny",
            "hemmelig",
            "site_user",
            "Adgangskode: skal være mindst 10 tegn",
        ),
        ("ny", PASSWORD, "boss", "role:"),
    ] {
        let a = ida
            .post(
                "/steder/bibliotek/brugere",
                &[
                    ("brugernavn", name),
                    ("adgangskode", password),
                    ("rolle", role),
                    ("sprog", "da"),
                ],
            )
            .await;
        assert_eq!(a.status, 422, "{field}");
        assert!(a.body.contains(field), "{field}: {}", a.body);
        assert!(!a.body.contains(password) || password == PASSWORD);
    }
    assert!(portal.store.user_id_by_name("ny").await.is_err());
    // A form that lacks everything is still the user's mistake, not ours.
    let a = ida.post("/steder/bibliotek/brugere", &[]).await;
    assert_eq!(a.status, 422);
    let a = ida.get("/steder/bibliotek/log?fra=igaar").await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("ÅÅÅÅ-MM-DD"));
}

#[tokio::test]
async fn web_admin_api_key_shown_once_works_and_is_revoked() {
    let portal = Portal::start().await;
    site_with_users(&portal).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/steder/bibliotek/api-noegler").await;
    let a = ida
        .post(
            "/steder/bibliotek/api-noegler",
            &[("beskrivelse", "Rapporter"), ("skriv", "ja")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    let key = between(&a.body, "id=\"ny-noegle\">", "<");
    assert!(key.starts_with("bpk_"), "{key}");

    let list = ida.get("/steder/bibliotek/api-noegler").await;
    assert!(list.body.contains("Rapporter") && list.body.contains("user:ida"));
    assert!(!list.body.contains(&key), "shown once only");
    assert!(list.body.contains("Aldrig brugt"), "not used yet");
    let audit_text = format!("{:?}", audit(&portal, "api_key.create").await);
    assert!(!audit_text.contains(&key));

    let api = |key: String| {
        let url = format!("{}/api/system/sites", portal.url);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = api(key.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("bibliotek"));
    let used: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM api_keys")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert!(used.is_some(), "a key's use is noted");
    let list = ida.get("/steder/bibliotek/api-noegler").await;
    assert!(!list.body.contains("Aldrig brugt"), "{}", list.body);

    let id: i64 = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    let a = ida
        .post(
            &format!("/steder/bibliotek/api-noegler/{id}/beskrivelse"),
            &[("beskrivelse", "Ugerapporter")],
        )
        .await;
    assert_eq!(a.status, 303);
    let described = audit(&portal, "api_key.describe").await;
    assert!(described[0].2.as_deref().unwrap().contains("Ugerapporter"));

    let ask = ida
        .get(&format!("/steder/bibliotek/api-noegler/{id}/tilbagekald"))
        .await;
    assert!(ask.body.contains("id=\"bekraeft-tilbagekald\""));
    let a = ida
        .post(
            &format!("/steder/bibliotek/api-noegler/{id}/tilbagekald"),
            &[],
        )
        .await;
    assert_eq!(a.status, 303);
    let (status, _) = api(key).await;
    assert_eq!(status, 401);
    assert_eq!(audit(&portal, "api_key.revoke").await.len(), 1);
}

#[tokio::test]
async fn web_admin_settings_change_the_site_and_are_audited() {
    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let page = ida.get("/steder/bibliotek/indstillinger").await;
    assert!(page.body.contains("MAC-adresse"), "the warning");

    let a = ida
        .post(
            "/steder/bibliotek/indstillinger/xmlrpc",
            &[("xmlrpc", "ja")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        portal
            .store
            .site(site.id)
            .await
            .unwrap()
            .unwrap()
            .legacy_xmlrpc
    );
    let changes = audit(&portal, "site.change").await;
    let detail: serde_json::Value = serde_json::from_str(changes[0].2.as_deref().unwrap()).unwrap();
    assert_eq!(detail["before"]["legacy_xmlrpc"], false);
    assert_eq!(detail["after"]["legacy_xmlrpc"], true);
    assert_eq!(changes[0].0, "user:ida");

    let a = ida
        .post("/steder/bibliotek/indstillinger/navn", &[("navn", "  ")])
        .await;
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains("Navn: skal være 1 til 200 tegn"),
        "{}",
        a.body
    );
    let a = ida
        .post(
            "/steder/bibliotek/indstillinger/navn",
            &[("navn", "Hovedbiblioteket")],
        )
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(
        portal.store.site(site.id).await.unwrap().unwrap().name,
        "Hovedbiblioteket"
    );

    let a = ida
        .post(
            "/steder/bibliotek/indstillinger/registreringsnoegle",
            &[("til", "ja")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let shown = between(&a.body, "id=\"ny-registreringsnoegle\">", "<");
    let token = shown.strip_prefix("bibliotek+").expect("uid+token");
    assert_eq!(
        portal.store.site_registration_token(site.id).await.unwrap(),
        Some(service_kit::accounts::token_hash(token))
    );
    assert!(
        !ida.get("/steder/bibliotek/indstillinger")
            .await
            .body
            .contains(token)
    );

    let a = ida
        .post(
            "/steder/bibliotek/indstillinger/konfiguration",
            &[("noegle", "_os_release"), ("vaerdi", "x")],
        )
        .await;
    assert_eq!(a.status, 422);
    let a = ida
        .post(
            "/steder/bibliotek/indstillinger/konfiguration",
            &[("noegle", "skrivebord_baggrund"), ("vaerdi", "blaa")],
        )
        .await;
    assert_eq!(a.status, 303);
    assert!(
        ida.get("/steder/bibliotek/indstillinger")
            .await
            .body
            .contains("skrivebord_baggrund")
    );

    // The log shows the changes with before and after, filtered by user and period.
    let log = ida.get("/steder/bibliotek/log?bruger=ida").await;
    assert!(log.body.contains("site.change") && log.body.contains("legacy_xmlrpc"));
    assert!(log.body.contains("config.set"));
    let none = ida.get("/steder/bibliotek/log?bruger=sif").await;
    assert!(!none.body.contains("site.change"));
    let none = ida.get("/steder/bibliotek/log?fra=2099-01-01").await;
    assert!(none.body.contains("0 resultater"), "{}", none.body);
}

#[tokio::test]
async fn web_admin_approvals_change_the_pc() {
    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    let (new_pc, _) = portal.pc(&site, "ny-pc").await;
    let (keyed, keyed_uid) = portal.pc(&site, "noegle-pc").await;
    let (other, _) = portal.pc(&site, "anden-pc").await;
    portal.activate(&site, &keyed_uid).await;
    let hash = "3f2a9c00".repeat(8);
    assert!(portal.store.offer_client_key(keyed, &hash).await.unwrap());

    let mut sif = WebUser::login(&portal, "sif").await;
    let page = sif.get("/steder/bibliotek/godkendelser").await;
    assert!(page.body.contains("ny-pc") && page.body.contains("3f2a9c003f2a9c00"));
    // A site user does not delete.
    assert!(!page.body.contains(&format!("id=\"afvis-{new_pc}\"")));
    let a = sif
        .post(
            &format!("/steder/bibliotek/godkendelser/{other}/afvis"),
            &[],
        )
        .await;
    assert_eq!(a.status, 404);

    let a = sif
        .post(
            &format!("/steder/bibliotek/godkendelser/{new_pc}/aktiver"),
            &[],
        )
        .await;
    assert_eq!(a.status, 303);
    assert!(
        portal
            .store
            .pc_row(site.id, new_pc)
            .await
            .unwrap()
            .unwrap()
            .0
            .is_activated
    );

    let wrong = sif
        .post(
            &format!("/steder/bibliotek/godkendelser/{keyed}/noegle"),
            &[("fingeraftryk", "deadbeef")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("Fingeraftryk læst på computeren: "),
        "{}",
        wrong.body
    );
    let a = sif
        .post(
            &format!("/steder/bibliotek/godkendelser/{keyed}/noegle"),
            &[("fingeraftryk", "3f2a9c00")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = portal.store.pc_identity(&keyed_uid).await.unwrap().unwrap();
    assert_eq!(
        (id.client_key_hash.as_str(), id.pending_key_hash.as_str()),
        (hash.as_str(), "")
    );
    assert_eq!(audit(&portal, "pc.approve_key").await.len(), 1);
    assert_eq!(audit(&portal, "pc.activate").await[0].0, "user:sif");

    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/steder/bibliotek/godkendelser").await;
    let a = ida
        .post(
            &format!("/steder/bibliotek/godkendelser/{other}/afvis"),
            &[],
        )
        .await;
    assert_eq!(a.status, 303);
    assert!(portal.store.pc_row(site.id, other).await.unwrap().is_none());
    assert_eq!(audit(&portal, "pc.reject").await.len(), 1);
    let empty = ida.get("/steder/bibliotek/godkendelser").await;
    assert!(empty.body.contains("Intet venter"), "{}", empty.body);
}

#[tokio::test]
async fn web_admin_another_customer_gets_not_found() {
    let portal = Portal::start().await;
    let a = site_with_users(&portal).await;
    let b = portal.site("Kommune B", "b-bib").await;
    portal.web_user("bo", "site_admin", &b).await;
    let (pc_a, _) = portal.pc(&a, "a-pc").await;
    let key = portal
        .store
        .create_api_key(
            &portal
                .store
                .scope_of_user(user_id(&portal, "ida").await)
                .await
                .unwrap()
                .unwrap(),
            a.id,
            "a-noegle",
            false,
        )
        .await
        .unwrap()
        .unwrap();
    let sif = user_id(&portal, "sif").await;

    let mut bo = WebUser::login(&portal, "bo").await;
    let mut paths: Vec<String> = admin_pages("bibliotek").into();
    paths.extend([
        "/steder/bibliotek/godkendelser".to_owned(),
        format!("/steder/bibliotek/brugere/{sif}"),
        format!("/steder/b-bib/brugere/{sif}"),
        format!("/steder/b-bib/api-noegler/{}/tilbagekald", key.view.id),
    ]);
    for path in &paths {
        let r = bo.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !r.body.contains("sif") && !r.body.contains("a-pc"),
            "{path}"
        );
    }
    bo.get("/steder/b-bib/brugere").await;
    for (path, form) in [
        (
            format!("/steder/b-bib/brugere/{sif}/rolle"),
            vec![("rolle", "site_admin")],
        ),
        (format!("/steder/b-bib/brugere/{sif}/fjern"), vec![]),
        (
            format!("/steder/b-bib/api-noegler/{}/tilbagekald", key.view.id),
            vec![],
        ),
        (format!("/steder/b-bib/godkendelser/{pc_a}/aktiver"), vec![]),
        (
            "/steder/bibliotek/indstillinger/xmlrpc".to_owned(),
            vec![("xmlrpc", "ja")],
        ),
    ] {
        assert_eq!(bo.post(&path, &form).await.status, 404, "{path}");
    }
    assert!(
        !portal
            .store
            .site(a.id)
            .await
            .unwrap()
            .unwrap()
            .legacy_xmlrpc
    );
    assert!(
        !portal
            .store
            .pc_row(a.id, pc_a)
            .await
            .unwrap()
            .unwrap()
            .0
            .is_activated
    );
    assert_eq!(portal.store.api_key_rows(a.id).await.unwrap().len(), 1);

    // A form from another site is refused, even with the right token.
    let mut ida = WebUser::login(&portal, "ida").await;
    ida.get("/steder/bibliotek/indstillinger").await;
    let cross = ida
        .post_cross_site(
            "/steder/bibliotek/indstillinger/xmlrpc",
            &[("xmlrpc", "ja")],
        )
        .await;
    assert_eq!(cross.status, 403);
    assert!(
        !portal
            .store
            .site(a.id)
            .await
            .unwrap()
            .unwrap()
            .legacy_xmlrpc
    );
}

#[tokio::test]
async fn web_admin_login_log_shows_successes_and_failures() {
    let portal = Portal::start().await;
    site_with_users(&portal).await;
    let mut visitor = WebUser::visitor(&portal);
    visitor.get("/log-ind").await;
    let failed = visitor
        .post(
            "/log-ind",
            &[
                ("brugernavn", "sif"),
                ("adgangskode", "forkert kodeord"),
                ("videre", "/"),
            ],
        )
        .await;
    assert_eq!(failed.status, 401);
    WebUser::login(&portal, "sif").await;
    let mut ida = WebUser::login(&portal, "ida").await;
    let log = ida.get("/steder/bibliotek/log?vis=logins&bruger=sif").await;
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains("Mislykkedes") && log.body.contains("Lykkedes"),
        "{}",
        log.body
    );
    assert!(log.body.contains("2 resultater"), "{}", log.body);
    assert!(!log.body.contains("forkert kodeord"));
    let all = ida.get("/steder/bibliotek/log?vis=logins").await;
    assert!(all.body.contains("3 resultater"), "{}", all.body);
}

/// Each administration page in a real Chromium, as a customer admin sees it, checked by
/// axe-core, with a screenshot.
#[tokio::test]
async fn browser_admin_pages() -> anyhow::Result<()> {
    use service_kit::testing::browser::Browser;
    use service_kit::testing::browser::thirtyfour::prelude::*;

    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    portal.web_user("kim", "customer_admin", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    let (keyed, uid) = portal.pc(&site, "bib-pc-002").await;
    portal.activate(&site, &uid).await;
    portal
        .store
        .offer_client_key(keyed, &"ab".repeat(32))
        .await?;
    let b = Browser::start().await?;

    b.goto(format!("{}/log-ind", portal.url)).await?;
    b.wait(By::Id("brugernavn")).await?;
    b.tab_to("brugernavn", 5).await?;
    b.press("kim").await?;
    b.press(Key::Tab).await?;
    b.press(PASSWORD).await?;
    b.press(Key::Enter).await?;
    b.wait(By::Css("a[href='/steder/bibliotek']")).await?;

    b.goto(format!("{}/steder/bibliotek/api-noegler", portal.url))
        .await?;
    b.wait(By::Id("beskrivelse"))
        .await?
        .send_keys("Rapporter")
        .await?;
    b.find(By::Id("opret-noegle")).await?.click().await?;
    b.wait(By::Id("ny-noegle")).await?;
    b.assert_accessible("ny API-nøgle").await?;
    b.goto(format!("{}/steder/bibliotek/api-noegler", portal.url))
        .await?;
    b.wait(By::Css("a[id^='tilbagekald-']")).await?;
    b.assert_accessible("API-nøgler").await?;
    b.screenshot("borgerpc-api-noegler").await?;

    b.goto(format!("{}/steder/bibliotek/brugere", portal.url))
        .await?;
    b.wait(By::Id("opret-bruger")).await?;
    b.assert_accessible("brugere").await?;
    b.screenshot("borgerpc-brugere").await?;

    b.goto(format!("{}/steder/bibliotek/indstillinger", portal.url))
        .await?;
    b.wait(By::Id("xmlrpc-til")).await?.click().await?;
    b.find(By::Id("gem-xmlrpc")).await?.click().await?;
    b.wait(By::Css("strong.status-warn")).await?;
    assert!(
        portal
            .store
            .site(site.id)
            .await?
            .expect("site")
            .legacy_xmlrpc
    );
    b.assert_accessible("indstillinger").await?;
    b.screenshot("borgerpc-indstillinger").await?;

    b.goto(format!("{}/steder/bibliotek/godkendelser", portal.url))
        .await?;
    b.wait(By::Id(format!("aktiver-{pc}"))).await?;
    b.assert_accessible("godkendelser").await?;
    b.screenshot("borgerpc-godkendelser").await?;

    b.goto(format!("{}/steder/bibliotek/log", portal.url))
        .await?;
    b.wait(By::Id("bruger")).await?;
    b.assert_accessible("log").await?;
    b.screenshot("borgerpc-log").await?;
    b.goto(format!("{}/steder/bibliotek/log?vis=logins", portal.url))
        .await?;
    b.wait(By::Id("bruger")).await?;
    b.assert_accessible("login-log").await?;

    b.goto(format!("{}/kunder", portal.url)).await?;
    b.wait(By::Css("a[href='/steder/bibliotek/indstillinger']"))
        .await?;
    b.assert_accessible("kunder").await?;
    b.screenshot("borgerpc-kunder").await?;
    b.quit().await
}

#[tokio::test]
async fn web_admin_customers_create_and_delete_sites() {
    let portal = Portal::start().await;
    let site = site_with_users(&portal).await;
    portal.web_user("kim", "customer_admin", &site).await;
    let b = portal.site("Kommune B", "b-bib").await;
    portal.web_user("bo", "superuser", &b).await;

    let mut ida = WebUser::login(&portal, "ida").await;
    assert_eq!(ida.get("/kunder").await.status, 404);
    let home = ida.get("/").await;
    assert!(!home.body.contains("href=\"/kunder\""));

    let mut kim = WebUser::login(&portal, "kim").await;
    let page = kim.get("/kunder").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Ærø Kommune") && !page.body.contains("Kommune B"));
    // The customer's only site cannot go.
    assert!(page.body.contains("Kan ikke slettes: kundens eneste sted"));
    let customer = site.customer_id.to_string();
    let bad = kim
        .post(
            &format!("/kunder/{customer}/steder"),
            &[("navn", "Rådhuset"), ("uid", "Rådhus")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body
            .contains("UID: &quot;Rådhus&quot; må kun indeholde")
            || bad.body.contains("UID: &#34;Rådhus&#34; må kun indeholde"),
        "{}",
        bad.body
    );
    let made = kim
        .post(
            &format!("/kunder/{customer}/steder"),
            &[("navn", "Rådhuset"), ("uid", "raadhus")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let raadhus = portal.store.site_by_uid("raadhus").await.unwrap().unwrap();
    // Another customer's: not found.
    let other = kim
        .post(
            &format!("/kunder/{}/steder", b.customer_id),
            &[("navn", "X"), ("uid", "x-sted")],
        )
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(kim.get("/kunder/steder/b-bib/slet").await.status, 404);

    // The new site gets a bit of everything, then goes with all of it.
    let (pc, _) = portal.pc(&raadhus, "r-pc").await;
    let script = portal.echo_script(Some(&raadhus), "hej").await;
    portal.run_on(&raadhus, script.script_id, pc, "ord").await;
    let group = portal.store.add_group(raadhus.id, "sal").await.unwrap();
    portal.store.add_group_member(group, pc).await.unwrap();
    portal
        .store
        .add_api_key(raadhus.id, "k", false)
        .await
        .unwrap();
    portal.web_user("rut", "site_user", &raadhus).await;
    let ask = kim.get("/kunder/steder/raadhus/slet").await;
    assert!(ask.body.contains("id=\"bekraeft-slet\""), "{}", ask.body);
    let gone = kim.post("/kunder/steder/raadhus/slet", &[]).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert!(portal.store.site_by_uid("raadhus").await.unwrap().is_none());
    assert_eq!(audit(&portal, "site.delete").await.len(), 1);
    let last = kim.post("/kunder/steder/bibliotek/slet", &[]).await;
    assert_eq!(last.status, 422);
    for i in 0..5 {
        portal.pc(&site, &format!("pc-{i}")).await;
    }
    portal.site("Ærø Kommune", "skole").await;
    let full = kim.post("/kunder/steder/bibliotek/slet", &[]).await;
    assert_eq!(full.status, 422);
    assert!(
        portal
            .store
            .site_by_uid("bibliotek")
            .await
            .unwrap()
            .is_some()
    );

    // A superuser makes customers and sets who must use a second factor.
    let mut bo = WebUser::login(&portal, "bo").await;
    let page = bo.get("/kunder").await;
    assert!(page.body.contains("Kommune B") && page.body.contains("Ærø Kommune"));
    assert_eq!(
        kim.post("/kunder", &[("navn", "Kommune C")]).await.status,
        404
    );
    assert_eq!(
        bo.post("/kunder", &[("navn", "Kommune C")]).await.status,
        303
    );
    assert!(
        portal
            .store
            .customer_by_name("Kommune C")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        kim.post("/kunder/totrin", &[("politik", "everyone")])
            .await
            .status,
        404
    );
    assert_eq!(
        bo.post("/kunder/totrin", &[("politik", "alle")])
            .await
            .status,
        422
    );
    assert_eq!(
        bo.post("/kunder/totrin", &[("politik", "admins")])
            .await
            .status,
        303
    );
    assert_eq!(
        portal.store.second_factor_policy().await.unwrap(),
        borgerpc_admin::store::portal::SecondFactorPolicy::Admins
    );
}

#[tokio::test]
async fn web_admin_login_log_past_retention_is_deleted() {
    let portal = Portal::start().await;
    let now = service_kit::db::now_ms();
    let day = 86_400_000_i64;
    for (at, who) in [(now - 91 * day, "gammel"), (now - day, "ny")] {
        sqlx::query(
            "INSERT INTO web_login_log (at, username, user_id, address, outcome)
             VALUES ($1, $2, NULL, '127.0.0.1', 'wrong_password')",
        )
        .bind(at)
        .bind(who)
        .execute(portal.store.pool())
        .await
        .unwrap();
    }
    let retention = borgerpc_admin::store::history::Retention {
        login_days: 90,
        ..Default::default()
    };
    // The running portal's housekeeping may get there first (it purges at start and
    // hourly): either way the old line is gone and the recent one kept.
    portal.store.purge_history(&retention, now).await.unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT username FROM web_login_log")
        .fetch_all(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(left, ["ny"]);
}
