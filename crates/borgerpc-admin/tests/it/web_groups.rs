//! Groups in the portal over real HTTP: created, renamed with supervisors, members joined
//! and left (joining runs the group's policy scripts), configuration, a policy script with a
//! file parameter that runs on every member, the rules that watch the group, deletion by a
//! site admin only; and nothing of it for another customer's user.

use crate::common::Portal;
use crate::common::web::WebUser;
use borgerpc_admin::store::jobs::{NewInput, NewScript};
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
        empty.body.contains("Navn: must be 1 to 200"),
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
    b.quit().await
}
