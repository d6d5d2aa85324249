//! The portal's pages for sites and computers, over real HTTP: what a user of each role sees
//! and may do, and that nothing of another customer's shows, even by typing its address.

use crate::common::Portal;
use crate::common::web::WebUser;

#[tokio::test]
async fn a_superuser_enrols_a_second_factor_then_sees_sites_and_pcs() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("anna", "superuser", &site).await;
    let (pc1, _) = portal.pc(&site, "bib-pc-001").await;
    portal.pc(&site, "bib-pc-002").await;

    // Superusers must use a second factor (the default policy): login enrols one.
    let mut anna = WebUser::login(&portal, "anna").await;
    let home = anna.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.body.contains("href=\"/steder/bibliotek\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("Ærø Kommune"));

    let status = anna.get("/steder/bibliotek").await;
    assert_eq!(status.status, 200);
    assert!(status.body.contains("bib-pc-001") && status.body.contains("Ikke aktiveret"));

    let list = anna.get("/steder/bibliotek/pc?q=002").await;
    assert!(list.body.contains("bib-pc-002") && !list.body.contains("bib-pc-001"));
    let list = anna
        .get("/steder/bibliotek/pc?aktiveret=nej&sorter=navn")
        .await;
    assert!(list.body.contains("2 resultater"), "{}", list.body);

    let csv = anna.get("/steder/bibliotek/pc.csv?sorter=navn").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.body.starts_with('\u{feff}'),
        "a byte-order mark for Excel"
    );
    let lines: Vec<&str> = csv
        .body
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .collect();
    assert!(
        lines[0].starts_with("Navn;UID;MAC-adresse;"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("bib-pc-001;"), "{}", lines[1]);

    let page = anna.get(&format!("/steder/bibliotek/pc/{pc1}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"skift-aktivering\""));
    let done = anna
        .post(
            &format!("/steder/bibliotek/pc/{pc1}/aktivering"),
            &[("aktiveret", "ja")],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, format!("/steder/bibliotek/pc/{pc1}").as_str())
    );
    let pc = portal.store.pc_row(site.id, pc1).await.unwrap().unwrap().0;
    assert!(pc.is_activated);
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE action = 'pc.activate'")
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(audit, [("user:anna".to_owned(), "pc.activate".to_owned())]);

    let gone = anna
        .post(&format!("/steder/bibliotek/pc/{pc1}/slet"), &[])
        .await;
    assert_eq!(gone.status, 303);
    assert!(portal.store.pc_row(site.id, pc1).await.unwrap().is_none());
    assert_eq!(
        anna.get(&format!("/steder/bibliotek/pc/{pc1}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn another_customers_site_and_pcs_are_not_found_and_roles_are_kept() {
    let portal = Portal::start().await;
    let a = portal.site("Kommune A", "a-bib").await;
    let b = portal.site("Kommune B", "b-bib").await;
    let (pc_a, _) = portal.pc(&a, "a-pc").await;
    portal.web_user("bo", "site_user", &b).await;
    portal.web_user("sif", "site_user", &a).await;

    let mut bo = WebUser::login(&portal, "bo").await;
    let home = bo.get("/").await;
    assert!(home.body.contains("b-bib") && !home.body.contains("a-bib"));
    for path in [
        "/steder/a-bib".to_owned(),
        "/steder/a-bib/pc".to_owned(),
        "/steder/a-bib/pc.csv".to_owned(),
        format!("/steder/a-bib/pc/{pc_a}"),
        format!("/steder/b-bib/pc/{pc_a}"),
    ] {
        let a = bo.get(&path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(!a.body.contains("a-pc"), "{path}");
    }
    bo.get("/steder/b-bib").await;
    for path in [
        format!("/steder/a-bib/pc/{pc_a}/aktivering"),
        format!("/steder/b-bib/pc/{pc_a}/aktivering"),
    ] {
        assert_eq!(
            bo.post(&path, &[("aktiveret", "ja")]).await.status,
            404,
            "{path}"
        );
    }
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

    // A site user activates but cannot delete: the form is not there, and the post is refused.
    let mut sif = WebUser::login(&portal, "sif").await;
    let page = sif.get(&format!("/steder/a-bib/pc/{pc_a}")).await;
    assert!(page.body.contains("skift-aktivering") && !page.body.contains("slet-pc"));
    assert_eq!(
        sif.post(&format!("/steder/a-bib/pc/{pc_a}/slet"), &[])
            .await
            .status,
        404
    );
    assert!(portal.store.pc_row(a.id, pc_a).await.unwrap().is_some());
    // A form from another site is refused, even with the right token.
    let cross = sif
        .post_cross_site(
            &format!("/steder/a-bib/pc/{pc_a}/aktivering"),
            &[("aktiveret", "ja")],
        )
        .await;
    assert_eq!(cross.status, 403);
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
}

#[tokio::test]
async fn pages_need_a_login_and_come_back_after_it() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune", "bib").await;
    portal.web_user("ida", "site_admin", &site).await;
    let mut visitor = WebUser::visitor(&portal);
    let a = visitor.get("/steder/bib/pc?online=ja").await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/log-ind?videre=%2Fsteder%2Fbib%2Fpc%3Fonline%3Dja")
    );
    let form = visitor.get(&a.location).await;
    assert!(form.body.contains("value=\"/steder/bib/pc?online=ja\""));
    let done = visitor
        .post(
            "/log-ind",
            &[
                ("brugernavn", "ida"),
                ("adgangskode", crate::common::web::PASSWORD),
                ("videre", "/steder/bib/pc?online=ja"),
            ],
        )
        .await;
    assert_eq!(done.location, "/steder/bib/pc?online=ja");
    assert_eq!(visitor.get(&done.location).await.status, 200);
}
