//! The portal in a real headless Chromium: the first login of a superuser with enrolment of
//! a second factor, done by keyboard; the sites, status, PC list and PC pages; activating a
//! PC by its button; the language switch. axe-core runs on every page (no serious or
//! critical violations), and each page's screenshot is kept under `target/screenshots/`.

use crate::common::Portal;
use crate::common::web::{PASSWORD, totp};
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;

#[tokio::test]
async fn browser_first_login_enrols_and_activates_a_pc() -> anyhow::Result<()> {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("anna", "superuser", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    portal.pc(&site, "bib-pc-002").await;
    let b = Browser::start().await?;

    b.goto(format!("{}/", portal.url)).await?;
    b.wait(By::Id("brugernavn")).await?;
    b.assert_accessible("log ind").await?;
    b.screenshot("borgerpc-log-ind").await?;
    // Keyboard only: the user name field has the focus, Tab to the password, Enter sends.
    b.tab_to("brugernavn", 5).await?;
    b.press("anna").await?;
    b.press(Key::Tab).await?;
    b.press(PASSWORD).await?;
    b.press(Key::Enter).await?;

    let key = b.wait(By::Id("noegle")).await?.text().await?;
    b.assert_accessible("totrinsbekræftelse").await?;
    b.screenshot("borgerpc-totrin").await?;
    let code = totp(&key.replace(' ', "")).generate_current().to_string();
    b.tab_to("kode", 30).await?;
    b.press(code.as_str()).await?;
    b.press(Key::Enter).await?;
    b.wait(By::Id("reservekoder")).await?;
    b.assert_accessible("reservekoder").await?;
    b.find(By::Id("fortsaet")).await?.click().await?;

    b.wait(By::Css("a[href='/steder/bibliotek']")).await?;
    b.assert_accessible("steder").await?;
    b.screenshot("borgerpc-steder").await?;
    b.find(By::Css("a[href='/steder/bibliotek']"))
        .await?
        .click()
        .await?;
    b.wait(By::Css(format!("a[href='/steder/bibliotek/pc/{pc}']")))
        .await?;
    b.assert_accessible("status").await?;
    b.screenshot("borgerpc-status").await?;

    b.goto(format!("{}/steder/bibliotek/pc?aktiveret=nej", portal.url))
        .await?;
    b.wait(By::Id("q")).await?;
    b.assert_accessible("computere").await?;
    b.screenshot("borgerpc-computere").await?;

    b.goto(format!("{}/steder/bibliotek/pc/{pc}", portal.url))
        .await?;
    b.wait(By::Id("skift-aktivering")).await?.click().await?;
    b.wait(By::Css("p.status-ok")).await?;
    assert!(
        portal
            .store
            .pc_row(site.id, pc)
            .await?
            .expect("pc")
            .0
            .is_activated
    );
    b.assert_accessible("computer").await?;
    b.screenshot("borgerpc-computer").await?;

    // The language switch: the same page in English, and it stays so.
    b.find(By::Css("button[lang='en']")).await?.click().await?;
    b.wait(By::Css("html[lang='en']")).await?;
    assert!(
        b.find(By::Tag("body"))
            .await?
            .text()
            .await?
            .contains("Activated")
    );
    b.quit().await
}
