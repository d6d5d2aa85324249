//! The help pages: one per menu section, linked from the section's pages, in the reader's
//! language; an unknown section is "not found".

use crate::common::Portal;
use crate::common::web::WebUser;

const SECTIONS: [&str; 16] = [
    "steder",
    "kunder",
    "status",
    "computere",
    "sikkerhed",
    "regler",
    "sikkerhedsscripts",
    "grupper",
    "scripts",
    "jobs",
    "taend-sluk",
    "godkendelser",
    "indstillinger",
    "brugere",
    "api-noegler",
    "log",
];

#[tokio::test]
async fn web_help_every_section_has_a_page_linked_from_it() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    let mut ida = WebUser::login(&portal, "ida").await;
    for slug in SECTIONS {
        let page = ida.get(&format!("/hjaelp/{slug}")).await;
        assert_eq!(page.status, 200, "{slug}");
        assert!(page.body.contains("Hvad siden gør"), "{slug}");
        assert!(
            page.body.matches("<p>").count() >= 2,
            "{slug}: {}",
            page.body
        );
    }
    assert_eq!(ida.get("/hjaelp/findes-ikke").await.status, 404);
    let pcs = ida.get("/steder/bibliotek/pc").await;
    assert!(
        pcs.body.contains("href=\"/hjaelp/computere\""),
        "{}",
        pcs.body
    );
    let groups = ida.get("/steder/bibliotek/grupper").await;
    assert!(groups.body.contains("href=\"/hjaelp/grupper\""));
    ida.post("/sprog", &[("sprog", "en"), ("tilbage", "/hjaelp/jobs")])
        .await;
    let english = ida.get("/hjaelp/jobs").await;
    assert!(english.body.contains("A job is one script on one computer"));
    assert_eq!(
        WebUser::visitor(&portal).get("/hjaelp/jobs").await.status,
        303
    );
}
