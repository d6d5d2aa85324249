//! Every page of the portal in a real headless Chromium, held to WCAG 2.1 AA as axe-core
//! checks it (no serious or critical violation): each GET route the page modules declare
//! (`common::seed::declared_routes`), filled with the ids of a site seeded with one of
//! everything, every section's help page, the account page, the second-factor code page, and
//! the query variants that render other markup. A route that cannot be filled or answers
//! anything but 200 fails the walk by its path, so a new page cannot go unchecked.
//!
//! Also in the browser: a site user neither sees nor reaches the administrators' pages, and a
//! form posted from another site (and from another origin of the same site) is refused.

use crate::common::Portal;
use crate::common::seed::{self, Ids, Route};
use crate::common::web::{PASSWORD, totp};
use reqwest::redirect::Policy;
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;
use std::time::Instant;

/// Pages whose look a fix for axe changed: kept as screenshots (`target/screenshots/`) for
/// a person to look at.
const SCREENSHOTS: &[(&str, &str)] = &[
    ("/steder/bibliotek/log", "borgerpc-log"),
    (
        "/rapporter/tilgaengelighed",
        "borgerpc-rapport-tilgaengelighed",
    ),
    ("/rapporter/brug", "borgerpc-rapport-brug"),
    ("/rapporter/abonnementer", "borgerpc-rapport-abonnementer"),
    ("/rapporter/aendringer", "borgerpc-rapport-aendringer"),
    ("/rapporter/inventar", "borgerpc-rapport-inventar"),
    ("/rapporter/jobs", "borgerpc-rapport-jobs"),
    ("/rapporter/sikkerhed", "borgerpc-rapport-sikkerhed"),
];

/// Check-ins and login counts on the seeded PCs over the last 30 days, so the report pages
/// draw bars and fill their tables (and their screenshots show something); the site's
/// opening hours, and a second site with a PC, for availability's columns and its table of
/// sites.
async fn report_history(portal: &Portal, ids: &Ids, site: &borgerpc_admin::store::tenants::Site) {
    use borgerpc_admin::store::config::EntryChange;
    use borgerpc_admin::store::history::Beat;
    const QUARTER: i64 = 900_000;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive();
    let now = service_kit::db::now_ms();
    let branch = portal.site("Ærø Kommune", "filial").await;
    let (branch_pc, _) = portal.pc(&branch, "filial-1").await;
    let scope = borgerpc_admin::store::access::Scope::cli(&portal.store)
        .await
        .unwrap();
    let open = |opens: &str, closes: &str| borgerpc_admin::store::opening_hours::OpeningTimes {
        opens: opens.into(),
        closes: closes.into(),
    };
    let mut week = vec![open("08:00", "16:00"); 5];
    week.extend([open("10:00", "14:00"), open("", "")]);
    portal
        .store
        .set_opening_hours(&scope, site.id, &week)
        .await
        .unwrap()
        .unwrap();
    for (n, pc) in [ids.pc, ids.active_pc, branch_pc].into_iter().enumerate() {
        let mut beats = Vec::new();
        let mut at = now - 30 * 96 * QUARTER;
        // Office hours on most days, a different pattern per PC.
        while at < now - QUARTER {
            let quarter_of_day = at.rem_euclid(96 * QUARTER) / QUARTER;
            let day = at.div_euclid(96 * QUARTER);
            if (28..68).contains(&quarter_of_day) && (day + n as i64) % 7 < 5 + n as i64 {
                beats.push(Beat {
                    pc_id: pc,
                    at,
                    ip: None,
                    ip_changed: false,
                    checkin: true,
                });
            }
            at += QUARTER;
        }
        portal.store.record_beats(&beats).await.unwrap();
        let value = (1..30)
            .map(|back| {
                let d = today - chrono::Duration::days(back);
                format!("{d}: {}", (back * (n as i64 + 3)) % 11)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let entry = EntryChange::Set {
            key: "login_counts".into(),
            value,
            read_only: false,
        };
        portal.store.change_pc_entries(pc, &[entry]).await.unwrap();
    }
}

/// The user's report subscriptions, one of each kind of line the list shows: sent, not yet
/// sent, and failing (with its retry).
async fn report_subscriptions(
    portal: &Portal,
    username: &str,
    site: &borgerpc_admin::store::tenants::Site,
) {
    use borgerpc_admin::store::subscriptions::{Cadence, ReportKind, Target};
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    let scope = portal.store.scope_of_user(id).await.unwrap().unwrap();
    let now = service_kit::db::now_ms();
    for (report, target, cadence, state) in [
        (
            ReportKind::Availability,
            Target::Site(site.id),
            Cadence::Weekly,
            "last_sent = next_due - 604800000",
        ),
        (
            ReportKind::Usage,
            Target::Customer(site.customer_id),
            Cadence::Monthly,
            "attempts = 0",
        ),
        (
            ReportKind::Usage,
            Target::Site(site.id),
            Cadence::Weekly,
            "attempts = 2, last_error = 'smtp', next_attempt = next_due + 2100000",
        ),
    ] {
        let s = portal
            .store
            .create_subscription(
                &scope,
                report,
                target,
                cadence,
                service_kit::web::Lang::Da,
                now,
            )
            .await
            .unwrap()
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE report_subscriptions SET {state} WHERE id = {}",
            s.id
        )))
        .execute(portal.store.pool())
        .await
        .unwrap();
    }
}

/// Changes by three users over the last 30 days (script runs, activations, settings, through
/// the store as the pages make them), so the changes report draws bars and fills its tables.
async fn changes_history(portal: &Portal, ids: &Ids, site: i64) {
    use borgerpc_admin::store::access::Scope;
    use borgerpc_admin::store::config::Owner;
    let store = &portal.store;
    let cli = Scope::cli(store).await.unwrap();
    for n in 0..36i64 {
        let who = ["ida", "ole", "anna"][(n % 3) as usize];
        let actor = format!("user:{who}");
        match n % 4 {
            0 => store
                .audit(
                    &actor,
                    Some(site),
                    "script.run",
                    &format!("script:{} batch:{}", ids.script, ids.batch),
                )
                .await
                .unwrap(),
            1 => store
                .audit(
                    &actor,
                    Some(site),
                    "pc.activate",
                    &format!("pc:{}", ids.active_pc),
                )
                .await
                .unwrap(),
            _ => {
                let scope = Scope {
                    actor,
                    ..cli.clone()
                };
                let value = format!("https://bibliotek.example/{n}");
                store
                    .change_config(
                        &scope,
                        Owner::Site(site),
                        &[("hjemmeside".into(), Some(value))],
                    )
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
    // Spread over the last 30 days, a few a day, the newest an hour ago.
    let now = service_kit::db::now_ms();
    let mut tx = store.db.begin_write().await.unwrap();
    sqlx::query(
        "UPDATE audit_log SET at = $1 - (id % 30) * 86400000 - (id % 7) * 3600000 - 3600000",
    )
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    store.rebuild_report_rollups().await.unwrap();
}

/// Jobs and security events on the seeded PCs over the last 30 days, some failed or open,
/// some handled, so the jobs and security report pages draw bars and fill their tables.
async fn job_and_event_history(portal: &Portal, ids: &Ids) {
    use borgerpc_admin::store::events::NewEvent;
    use borgerpc_admin::store::jobs::{JobStatus, ParamValue, RunScript};
    use borgerpc_admin::store::operator::EventChange;
    const DAY: i64 = 86_400_000;
    let store = &portal.store;
    let site: i64 = sqlx::query_scalar("SELECT site_id FROM pcs WHERE id = $1")
        .bind(ids.active_pc)
        .fetch_one(store.pool())
        .await
        .unwrap();
    let now = service_kit::db::now_ms();
    // The seeded script has a parameter of every type.
    let params = || -> Vec<ParamValue> {
        borgerpc_admin::store::jobs::VALUE_TYPES
            .iter()
            .map(|t| match *t {
                "FILE" => ParamValue::File {
                    name: "hilsen.txt".into(),
                    data: b"hej".to_vec(),
                },
                "INT" => ParamValue::Text("7".into()),
                "DATE" => ParamValue::Text("2026-12-24".into()),
                "TIME" => ParamValue::Text("08:30".into()),
                "BOOLEAN" => ParamValue::Text("ja".into()),
                "TEXT_FIELD" => ParamValue::Text("rød".into()),
                "PASSWORD" => ParamValue::Text("kodeord-til-rapport".into()),
                _ => ParamValue::Text("hej".into()),
            })
            .collect()
    };
    let mut moved = Vec::new();
    for back in 1..30i64 {
        for k in 0..(1 + back % 3) {
            let batch = store
                .run_script(RunScript {
                    site_id: site,
                    script_id: ids.script,
                    pc_ids: &[ids.active_pc],
                    params: params(),
                    created_by: "test",
                })
                .await
                .unwrap();
            let job = batch.job_ids[0];
            moved.push((job, now - back * DAY + k * 3_600_000));
            if (back + k) % 4 == 0 {
                continue;
            }
            store.confirm_jobs(ids.active_pc, &[job]).await.unwrap();
            let status = if (back + k) % 5 == 0 {
                JobStatus::Failed
            } else {
                JobStatus::Done
            };
            let log =
                format!(">>> Starting\nkørsel {back}\nlinje to\n>>> {status} at dag {back}\n");
            store
                .report_job(
                    ids.active_pc,
                    job,
                    status,
                    Some("2026-11-20 10:00:00"),
                    Some(&format!("2026-11-20 10:{:02}:30", back % 60)),
                    &log,
                )
                .await
                .unwrap();
        }
    }
    let mut tx = store.db.begin_write().await.unwrap();
    for (job, at) in moved {
        sqlx::query("UPDATE jobs SET created_at = $1, reported_at = $2 WHERE id = $3")
            .bind(at)
            .bind(at + 600_000)
            .bind(job)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // Written around the store: the reports' daily roll-ups counted again from the rows.
    store.rebuild_report_rollups().await.unwrap();
    let scope = borgerpc_admin::store::access::Scope::cli(store)
        .await
        .unwrap();
    for back in 1..30i64 {
        for k in 0..(back % 4) {
            let id = store
                .add_security_events(&[NewEvent {
                    site_id: site,
                    pc_id: ids.active_pc,
                    problem_id: ids.security_rule,
                    occurred_at: now - back * DAY + k * 5_400_000,
                    occurred_text: "",
                    summary: "hændelse",
                }])
                .await
                .unwrap()[0];
            if (back + k) % 3 != 0 {
                let change = EventChange {
                    status: Some("RESOLVED".into()),
                    assigned_user: None,
                    note: None,
                };
                store
                    .api_update_event(&scope.sites, id, &change)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
}

/// What agents report of themselves on the seeded PCs and on a few more of the site, so the
/// inventory page's charts and tables have several releases, versions and models.
async fn inventory(portal: &Portal, site: &borgerpc_admin::store::tenants::Site, ids: &Ids) {
    use borgerpc_admin::store::config::EntryChange;
    // Release, agent version, product, manufacturer and model of each PC.
    let fleet = [
        "22.04|3.2.0|os2borgerpc|Dell Inc.|OptiPlex 3000",
        "24.04|3.2.0|os2borgerpc|Dell Inc.|OptiPlex 7010",
        "22.04|3.1.0|os2borgerpc kiosk|LENOVO|ThinkCentre M70q",
        "20.04|2.5.0|os2borgerpc|HP|ProDesk 400 G7",
        "22.04|3.2.0|os2borgerpc|Dell Inc.|OptiPlex 3000",
        "24.04|3.10.0|os2borgerpc kiosk|Dell Inc.|OptiPlex 3000",
    ];
    let mut pcs = vec![ids.pc, ids.active_pc];
    for n in 0..fleet.len() - 2 {
        pcs.push(portal.pc(site, &format!("bib-inventar-{n}")).await.0);
    }
    for (pc, line) in pcs.into_iter().zip(fleet) {
        let [release, version, product, manufacturer, model]: [&str; 5] =
            line.split('|').collect::<Vec<_>>().try_into().unwrap();
        let set = |key: &str, value: &str| EntryChange::Set {
            key: key.into(),
            value: value.into(),
            read_only: true,
        };
        let entries = [
            set("os2_product", product),
            set("_os_release", release),
            set("_os2borgerpc.client_version", version),
            set("_kernel_version", "6.8.0-49-generic"),
            set("pc_manufacturer", manufacturer),
            set("pc_model", model),
            set("pc_ram", "8G"),
            set("_last_automatic_update_time", "2026-12-01 03:12"),
        ];
        portal.store.change_pc_entries(pc, &entries).await.unwrap();
    }
}

/// Logs `username` in at the login form; where the portal asks for a second factor first,
/// enrols one as a person with an authenticator app would. The session cookie's value, for
/// asking the portal over HTTP as the same session.
async fn log_in(b: &Browser, portal: &Portal, username: &str) -> anyhow::Result<String> {
    b.goto(format!("{}/log-ind", portal.url)).await?;
    b.wait(By::Id("brugernavn"))
        .await?
        .send_keys(username)
        .await?;
    b.find(By::Id("adgangskode"))
        .await?
        .send_keys(PASSWORD + Key::Enter)
        .await?;
    let next = b.wait(By::Css("#noegle, a[href='/konto']")).await?;
    if next.id().await?.as_deref() == Some("noegle") {
        let key = next.text().await?.replace(' ', "");
        let code = totp(&key).generate_current().to_string();
        b.find(By::Id("kode"))
            .await?
            .send_keys(code + Key::Enter)
            .await?;
        b.wait(By::Id("fortsaet")).await?.click().await?;
        b.wait(By::Css("a[href='/konto']")).await?;
    }
    Ok(b.get_named_cookie("sid").await?.value)
}

/// The portal over HTTP as the browser's session: (status, whether it is an HTML page).
async fn fetch(portal: &Portal, sid: &str, path: &str) -> (u16, bool) {
    let res = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", portal.url))
        .header("cookie", format!("sid={sid}"))
        .send()
        .await
        .unwrap();
    let html = res
        .headers()
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html"));
    (res.status().as_u16(), html)
}

/// The addresses a route is walked at, given its filled `url`: a page that needs a query to
/// show itself gets it instead of none (the policy form shows the chosen script's parameters,
/// without one it sends the browser back to the group; a new rule needs its kind; the run
/// wizard's second step needs chosen PCs), and a page whose markup changes with its query
/// gets those variants besides.
fn with_queries(path: &str, url: &str, ids: &Ids) -> Vec<String> {
    let q = |queries: &[String]| queries.iter().map(|q| format!("{url}?{q}")).collect();
    let also = |queries: &[String]| {
        let mut all = vec![url.to_owned()];
        all.extend(queries.iter().map(|q| format!("{url}?{q}")));
        all
    };
    match path {
        "/steder/{site}/grupper/{id}/politik" => q(&[format!("script={}", ids.script)]),
        "/steder/{site}/regler/ny" => q(&["type=sikkerhed".into(), "type=offline".into()]),
        "/steder/{site}/scripts/{id}/koer/parametre" => q(&[
            format!("pc={}", ids.active_pc),
            format!("gruppe={}", ids.group),
        ]),
        "/steder/{site}/scripts/{id}/koer" => {
            also(&[format!("pc={}&gruppe={}", ids.active_pc, ids.group)])
        }
        "/steder/{site}/pc" => also(&[
            "aktiveret=nej".into(),
            format!("q=pc&online=nej&gruppe={}&sorter=navn&version=x", ids.group),
        ]),
        "/steder/{site}/sikkerhed" => also(&[
            "niveau=CRITICAL&niveau=HIGH&niveau=NORMAL&status=NEW&status=ASSIGNED\
             &status=RESOLVED&sorter=niveau&fra=2020-01-01&til=2099-12-31"
                .into(),
        ]),
        "/steder/{site}/jobs" => also(&[format!(
            "status=DONE&pc={}&gruppe={}&koersel={}",
            ids.active_pc, ids.group, ids.batch
        )]),
        "/steder/{site}/scripts" | "/steder/{site}/sikkerhedsscripts" => {
            also(&["type=lokale&q=a".into()])
        }
        "/steder/{site}/log" => also(&["vis=logins".into()]),
        "/rapporter/aendringer" => also(&[
            format!(
                "sted=bibliotek&gruppe={}&fra=2026-11-01&til=2026-11-30&bruger=anna&handling=pc&per=uge",
                ids.group
            ),
            "handling=script.run&side=2".into(),
        ]),
        "/rapporter/jobs" => also(&[
            format!(
                "sted=bibliotek&gruppe={}&fra=2026-11-01&til=2026-11-30&tid=afsluttet&inddeling=uge",
                ids.group
            ),
            format!("script={}&side=2", ids.script),
        ]),
        "/rapporter/sikkerhed" => {
            also(&["sted=bibliotek&niveau=HIGH&inddeling=uge&fra=2026-11-01&til=2026-11-30".into()])
        }
        "/rapporter/tilgaengelighed" | "/rapporter/brug" => also(&[
            format!(
                "sted=bibliotek&gruppe={}&fra=2026-11-01&til=2026-11-30",
                ids.group
            ),
            "inaktive=ja&side=2".into(),
        ]),
        "/rapporter/inventar" => also(&[
            format!(
                "sted=bibliotek&gruppe={}&produkt=os2borgerpc&udgivelse=22.04&eol=ja&aeldre_end=3.2.0",
                ids.group
            ),
            "side=2".into(),
        ]),
        "/steder/{site}/taend-sluk/ny" => also(&[format!("kopi={}", ids.plan)]),
        _ => vec![url.to_owned()],
    }
}

/// Every address the walk renders: each GET route on `site` (the help route once per
/// section), with its query variants, and the account page the foundation adds.
fn addresses(routes: &[Route], ids: &Ids, site: &str) -> Vec<String> {
    let mut all = Vec::new();
    for route in routes.iter().filter(|r| r.get) {
        if route.path == "/hjaelp/{section}" {
            all.extend(
                seed::sections()
                    .into_iter()
                    .map(|(_, slug)| format!("/hjaelp/{slug}")),
            );
            continue;
        }
        for url in ids.fill(&route.path, site) {
            all.extend(with_queries(&route.path, &url, ids));
        }
    }
    // service-kit's own pages for a signed-in user; the login, enrolment and backup code
    // pages are `web_browser`'s, the code page is at the end of the walk.
    all.push("/konto".into());
    all
}

#[tokio::test]
async fn browser_every_page_has_no_serious_accessibility_violation() -> anyhow::Result<()> {
    let started = Instant::now();
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    let seeded = seed::everything(&portal, &site, "Ærø").await;
    report_history(&portal, &seeded.ids, &site).await;
    job_and_event_history(&portal, &seeded.ids).await;
    changes_history(&portal, &seeded.ids, site.id).await;
    inventory(&portal, &site, &seeded.ids).await;
    // A superuser sees every page there is (the customers' pages too).
    portal.web_user("anna", "superuser", &site).await;
    report_subscriptions(&portal, "anna", &site).await;
    let addresses = addresses(&seed::declared_routes(), &seeded.ids, &site.uid);
    assert!(addresses.len() > 70, "{addresses:#?}");

    let b = Browser::start().await?;
    let sid = log_in(&b, &portal, "anna").await?;
    let mut failures = Vec::new();
    let (mut pages, mut downloads) = (0, 0);
    for url in &addresses {
        match fetch(&portal, &sid, url).await {
            (200, true) => {}
            // A download (CSV, a script's code) has no markup to check.
            (200, false) => {
                downloads += 1;
                continue;
            }
            (status, _) => {
                failures.push(format!("GET {url}: {status}, not the page"));
                continue;
            }
        }
        b.goto(format!("{}{url}", portal.url)).await?;
        if let Some((_, name)) = SCREENSHOTS.iter().find(|(page, _)| page == url) {
            b.screenshot(name).await?;
        }
        if let Err(e) = b.assert_accessible(url).await {
            failures.push(format!("{e:#}"));
        }
        pages += 1;
    }

    // The second factor's code page (and its "wrong code" state) after logging in again.
    b.find(By::Css("form[action='/log-ud'] button"))
        .await?
        .click()
        .await?;
    b.wait(By::Id("brugernavn"))
        .await?
        .send_keys("anna")
        .await?;
    b.find(By::Id("adgangskode"))
        .await?
        .send_keys(PASSWORD + Key::Enter)
        .await?;
    b.wait(By::Id("kode")).await?;
    if let Err(e) = b.assert_accessible("/log-ind/kode").await {
        failures.push(format!("{e:#}"));
    }
    b.find(By::Id("kode"))
        .await?
        .send_keys("0000000" + Key::Enter)
        .await?;
    b.wait(By::Id("fejl")).await?;
    if let Err(e) = b.assert_accessible("/log-ind/kode (a wrong code)").await {
        failures.push(format!("{e:#}"));
    }
    pages += 2;

    assert!(
        failures.is_empty(),
        "{} of {} addresses failed:\n\n{}",
        failures.len(),
        addresses.len() + 2,
        failures.join("\n\n")
    );
    assert!(downloads >= 4, "{downloads} downloads");
    eprintln!(
        "{pages} pages checked with axe-core and {downloads} downloads in {:?}",
        started.elapsed()
    );
    b.quit().await
}

#[tokio::test]
async fn browser_site_user_neither_sees_nor_reaches_admin_pages() -> anyhow::Result<()> {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    let seeded = seed::everything(&portal, &site, "Ærø").await;
    portal.web_user("sif", "site_user", &site).await;
    // The site's sections for its administrators (`Section::OF_SITE`), and the customers'
    // pages, which are outside every site.
    let admin_sections = seed::site_admin_sections();
    let is_admins = |path: &str| {
        path.starts_with("/kunder")
            || admin_sections.iter().any(|s| {
                let base = format!("/steder/{{site}}/{s}");
                path == base || path.starts_with(&format!("{base}/"))
            })
    };
    let admin_pages: Vec<String> = seed::declared_routes()
        .iter()
        .filter(|r| r.get && is_admins(&r.path))
        .flat_map(|r| seeded.ids.fill(&r.path, &site.uid))
        .collect();
    assert!(admin_pages.len() >= 7, "{admin_pages:?}");

    let b = Browser::start().await?;
    let sid = log_in(&b, &portal, "sif").await?;
    b.goto(format!("{}/steder/{}", portal.url, site.uid))
        .await?;
    let mut menu = Vec::new();
    for a in b.find_all(By::Css("nav.menu a")).await? {
        menu.extend(a.attr("href").await?);
    }
    // The site user's own sections are there (approvals is the least role's last one)…
    assert!(
        menu.contains(&format!("/steder/{}/godkendelser", site.uid)),
        "{menu:?}"
    );
    // …and none of the administrators'.
    for href in &menu {
        let path = href.replace(&format!("/steder/{}", site.uid), "/steder/{site}");
        assert!(
            !is_admins(&path),
            "the site user's menu has {href}: {menu:?}"
        );
    }

    let not_found = "Siden findes ikke";
    let mut reached = Vec::new();
    for url in &admin_pages {
        let (status, _) = fetch(&portal, &sid, url).await;
        b.goto(format!("{}{url}", portal.url)).await?;
        let main = b.find(By::Tag("main")).await?.text().await?;
        if status != 404 || !main.contains(not_found) {
            reached.push(format!("{url}: {status}, {main:?}"));
        }
    }
    assert!(
        reached.is_empty(),
        "a site user reached administrators' pages:\n{}",
        reached.join("\n")
    );
    // The "not found" page itself is held to the same standard as the others.
    b.assert_accessible("not found").await?;
    b.quit().await
}

#[tokio::test]
async fn browser_cross_site_form_post_is_refused() -> anyhow::Result<()> {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("ida", "site_admin", &site).await;
    let (pc, _) = portal.pc(&site, "bib-pc-001").await;
    let b = Browser::start().await?;
    let sid = log_in(&b, &portal, "ida").await?;
    let pc_page = format!("/steder/{}/pc/{pc}", site.uid);
    b.goto(format!("{}{pc_page}", portal.url)).await?;
    // The attacker is given the session's own token, as if it had leaked: what stands in
    // the way is then only the browser's SameSite cookie and the portal's check of where a
    // form comes from (`Sec-Fetch-Site`, `Origin`).
    let token = b
        .wait(By::Css("form[action$='/slet'] input[name='csrf']"))
        .await?
        .attr("value")
        .await?
        .expect("the delete form's token");
    let delete = format!("{}{pc_page}/slet", portal.url);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // The attacker's page: a form to the portal, and one to the attacker's own server at
    // 127.0.0.1, where it sees which cookies the browser sends that host (cookies do not
    // care for the port) when a page of another site posts to it.
    let page = format!(
        "<!DOCTYPE html><html lang=\"da\"><head><meta charset=\"utf-8\"><title>Vind en \
         præmie</title></head><body><form method=\"post\" action=\"{delete}\"><input \
         type=\"hidden\" name=\"csrf\" value=\"{token}\"><button id=\"vind\">Vind</button>\
         </form><form method=\"post\" action=\"http://127.0.0.1:{port}/spejl\"><button \
         id=\"spejl\">Spejl</button></form></body></html>"
    );
    let cookies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = cookies.clone();
    let attacker = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || std::future::ready(axum::response::Html(page.clone()))),
        )
        .route(
            "/spejl",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let cookie = headers
                    .get("cookie")
                    .and_then(|c| c.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.lock().unwrap().push(cookie);
                std::future::ready(axum::response::Html("<p id=\"spejlet\">ok</p>"))
            }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, attacker).await });
    let pc_is_there = || async { portal.store.pc_row(site.id, pc).await.unwrap().is_some() };
    let last_cookie = || cookies.lock().unwrap().last().cloned().unwrap_or_default();

    for (origin, sends_cookie) in [
        // Another port of 127.0.0.1 is another origin of the same site: Chromium sends
        // the session cookie, and the portal refuses the form for where it comes from.
        (format!("http://127.0.0.1:{port}"), true),
        // `localhost` is another site than 127.0.0.1: Chromium leaves the SameSite=Lax
        // cookie out of its POST, and the portal refuses it all the same.
        (format!("http://localhost:{port}"), false),
    ] {
        b.goto(format!("{origin}/")).await?;
        b.wait(By::Id("spejl")).await?.click().await?;
        b.wait(By::Id("spejlet")).await?;
        assert_eq!(
            last_cookie().contains(&format!("sid={sid}")),
            sends_cookie,
            "a post from {origin} to 127.0.0.1 came with the cookies {:?}",
            last_cookie()
        );

        b.goto(format!("{origin}/")).await?;
        b.wait(By::Id("vind")).await?.click().await?;
        b.wait(By::Tag("main")).await?;
        assert_eq!(b.current_url().await?.path(), format!("{pc_page}/slet"));
        let status: u16 = b
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus",
                vec![],
            )
            .await?
            .convert()?;
        let text = b.find(By::Tag("main")).await?.text().await?;
        assert_eq!(status, 403, "the post from {origin}: {text}");
        assert!(text.contains("kom fra et andet websted"), "{text}");
        b.assert_accessible("the refused form").await?;
        assert!(pc_is_there().await, "a form from {origin} deleted the PC");

        // The refusal left the user's session as it was.
        b.goto(format!("{}{pc_page}", portal.url)).await?;
        b.wait(By::Id("slet-pc")).await?;
    }

    // The same form from the portal's own page, with that token and session, does delete
    // it: the refusals above were for where the form came from.
    let own = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?
        .post(&delete)
        .header("cookie", format!("sid={sid}"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", &portal.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", token.as_str())])?)
        .send()
        .await?;
    assert_eq!(own.status().as_u16(), 303);
    assert!(!pc_is_there().await);
    server.abort();
    b.quit().await
}
