//! Scripts and jobs in the portal: a local script saved through its form, the run wizard with
//! a file parameter, the job list, a job's log and its restart, over real HTTP; and in a real
//! Chromium, the whole path with the real `os2borgerpc-client`: it registers, is activated in
//! the browser, gets a script with a FILE parameter through the wizard (by keyboard) and its
//! job shows DONE with its log.

use crate::common::Portal;
use crate::common::web::{PASSWORD, WebUser};
use crate::real_client::{Agent, MAC, venv_python};
use borgerpc_admin::store::jobs::{JobStatus, NewInput, NewScript};
use reqwest::multipart::{Form, Part};
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;

fn script_form(name: &'static str) -> Form {
    Form::new()
        .text("navn", name)
        .text("beskrivelse", "Skriver en hilsen og en fil")
        .text("kategori", "Test")
        .text(
            "kode",
            "#!/bin/bash\r\necho \"hilsen: $1\"\r\necho \"fil: $(cat \"$2\")\"\r\n",
        )
        .text("param_navn_0", "hilsen")
        .text("param_type_0", "STRING")
        .text("param_krav_0", "ja")
        .text("param_navn_1", "fil")
        .text("param_type_1", "FILE")
        .text("param_krav_1", "ja")
}

#[tokio::test]
async fn web_scripts_a_local_script_runs_through_the_wizard_with_a_file() {
    let portal = Portal::start().await;
    let site = portal.site("Ærø Kommune", "bibliotek").await;
    portal.web_user("sif", "site_user", &site).await;
    let (pc1, _) = portal.pc(&site, "bib-pc-001").await;
    let (pc2, _) = portal.pc(&site, "bib-pc-002").await;
    for pc in [pc1, pc2] {
        assert!(
            portal
                .store
                .api_set_activated(&[site.id], pc, true)
                .await
                .unwrap()
        );
    }
    let group = portal.store.add_group(site.id, "Voksen").await.unwrap();
    portal.store.add_group_member(group, pc2).await.unwrap();
    let mut sif = WebUser::login(&portal, "sif").await;
    let form = sif.get("/steder/bibliotek/scripts/ny").await;
    assert!(form.body.contains("enctype=\"multipart/form-data\""));

    // A name is needed; the answer names the field and keeps what was typed.
    let bad = sif
        .post_multipart("/steder/bibliotek/scripts/ny", script_form(""))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("Navn: skal udfyldes"), "{}", bad.body);
    assert!(bad.body.contains("hilsen: $1"));

    let saved = sif
        .post_multipart("/steder/bibliotek/scripts/ny", script_form("Hilsen"))
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let script: i64 = saved.location.rsplit('/').next().unwrap().parse().unwrap();
    let page = sif.get(&saved.location).await;
    assert!(page.body.contains("hilsen: $1"), "the code is shown");
    assert!(page.body.contains("Fil"), "the FILE input is listed");
    let code = sif
        .get(&format!("/steder/bibliotek/scripts/{script}/kode"))
        .await;
    assert_eq!(code.status, 200);
    assert!(
        code.body.contains("echo \"hilsen: $1\"\n"),
        "CRLF became LF"
    );
    let list = sif
        .get("/steder/bibliotek/scripts?type=lokale&q=hils")
        .await;
    assert!(list.body.contains("Hilsen"), "{}", list.body);
    let list = sif.get("/steder/bibliotek/scripts?type=globale").await;
    assert!(!list.body.contains("Hilsen"));

    // Step 1 offers the activated PCs and the groups; step 2 asks for the parameters.
    let step1 = sif
        .get(&format!("/steder/bibliotek/scripts/{script}/koer"))
        .await;
    assert!(step1.body.contains(&format!("id=\"pc-{pc1}\"")));
    assert!(step1.body.contains(&format!("id=\"gruppe-{group}\"")));
    let none = sif
        .get(&format!(
            "/steder/bibliotek/scripts/{script}/koer/parametre"
        ))
        .await;
    assert_eq!(none.status, 422, "nothing chosen");
    let step2 = sif
        .get(&format!(
            "/steder/bibliotek/scripts/{script}/koer/parametre?pc={pc1}&gruppe={group}"
        ))
        .await;
    assert_eq!(step2.status, 200);
    assert!(step2.body.contains("type=\"file\" id=\"p1\""));
    assert!(step2.body.contains(": 2</p>"), "two PCs get a job");

    // A mandatory file left out: refused, nothing created.
    let run = format!("/steder/bibliotek/scripts/{script}/koer");
    let refused = sif
        .post_multipart(
            &run,
            Form::new().text("pc", pc1.to_string()).text("p0", "hej"),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Kørslen blev ikke oprettet"));
    assert!(portal.store.pending_jobs(pc1).await.unwrap().is_empty());

    let done = sif
        .post_multipart(
            &run,
            Form::new()
                .text("pc", pc1.to_string())
                .text("gruppe", group.to_string())
                .text("p0", "hej med dig")
                .part(
                    "p1",
                    Part::bytes(b"FIL-INDHOLD".to_vec()).file_name("hilsen.txt"),
                ),
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let batch = done
        .location
        .strip_prefix("/steder/bibliotek/koersler/")
        .expect("the batch's page")
        .to_owned();
    for pc in [pc1, pc2] {
        let jobs = portal.store.pending_jobs(pc).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].params[0].string_value, "hej med dig");
        assert_eq!(jobs[0].params[1].file_name.as_deref(), Some("hilsen.txt"));
    }
    let progress = sif.get(&done.location).await;
    assert!(progress.body.contains("data-refresh"), "still running");
    assert!(
        progress.body.contains("Venter</span>: 2"),
        "{}",
        progress.body
    );

    // The agent's report, as the protocol stores it; the job's page shows it.
    let job = portal.store.pending_jobs(pc1).await.unwrap()[0].id;
    portal.store.confirm_jobs(pc1, &[job]).await.unwrap();
    assert!(
        portal
            .store
            .report_job(pc1, job, JobStatus::Done, None, None, "hilsen: hej med dig")
            .await
            .unwrap()
    );
    let page = sif.get(&format!("/steder/bibliotek/jobs/{job}")).await;
    assert!(page.body.contains("Udført") && page.body.contains("hilsen: hej med dig"));
    assert!(page.body.contains("hilsen.txt"), "the file's name");
    let list = sif.get("/steder/bibliotek/jobs?status=DONE").await;
    assert!(
        list.body
            .contains(&format!("/steder/bibliotek/jobs/{job}\""))
    );
    let list = sif.get("/steder/bibliotek/jobs?status=NEW").await;
    assert!(
        !list
            .body
            .contains(&format!("/steder/bibliotek/jobs/{job}\""))
    );
    let list = sif.get(&format!("/steder/bibliotek/jobs?pc={pc2}")).await;
    assert!(list.body.contains("1 resultater"), "{}", list.body);

    // A cross-site restart is refused; the portal's own restarts it.
    let restart = format!("/steder/bibliotek/jobs/{job}/genstart");
    assert_eq!(sif.post_cross_site(&restart, &[]).await.status, 403);
    let again = sif.post(&restart, &[]).await;
    assert_eq!(again.status, 303, "{}", again.body);
    let again_page = sif.get(&again.location).await;
    assert!(again_page.body.contains("Venter"));
    let twice = sif.post(&restart, &[]).await;
    assert_eq!(twice.status, 409, "a restarted job is not finished");

    // Another customer's user finds none of it, even by typing the addresses.
    let other = portal.site("Andeby Kommune", "andeby").await;
    portal.web_user("bent", "site_admin", &other).await;
    let mut bent = WebUser::login(&portal, "bent").await;
    bent.get("/").await;
    for path in [
        format!("/steder/bibliotek/scripts/{script}"),
        format!("/steder/andeby/scripts/{script}"),
        format!("/steder/andeby/scripts/{script}/kode"),
        format!("/steder/andeby/jobs/{job}"),
        format!("/steder/andeby/koersler/{batch}"),
        format!("/steder/andeby/scripts/{script}/koer/parametre?pc={pc1}"),
    ] {
        assert_eq!(bent.get(&path).await.status, 404, "{path}");
    }
    let stolen = bent
        .post_multipart(
            &format!("/steder/andeby/scripts/{script}/koer"),
            Form::new().text("pc", pc1.to_string()).text("p0", "x"),
        )
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(
        bent.post(&format!("/steder/andeby/jobs/{job}/genstart"), &[])
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_real_agent_gets_a_file_job_through_the_wizard() -> anyhow::Result<()> {
    let python = venv_python().await;
    let portal = Portal::start().await;
    let site = portal.site("Testkommune", "testsite").await;
    portal.web_user("sif", "site_user", &site).await;
    let root = portal.dir.path().join("agent");
    std::fs::create_dir_all(&root)?;
    let agent = Agent {
        python,
        log: portal.dir.path().join("requests.jsonl"),
        root,
    };
    for (k, val) in [
        ("admin_url", portal.url.as_str()),
        ("os2borgerpc_version", "5.0.0"),
    ] {
        assert_eq!(agent.run(&["set-config", k, val]).await.code, 0);
    }
    let reg = agent.run(&["register", "testpc", "testsite", MAC]).await;
    assert_eq!(reg.code, 0, "register: {} {}", reg.stdout, reg.stderr);
    let uid = agent.local_config().await["uid"]
        .as_str()
        .expect("uid")
        .to_owned();
    let pc = portal.store.pc_identity(&uid).await?.expect("pc").id;
    let script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "Hilsen med fil".into(),
            description: String::new(),
            category: None,
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/bash\necho \"hilsen: $1 | fil: $(cat \"$2\")\"\n".into(),
            inputs: vec![
                NewInput {
                    name: "hilsen".into(),
                    value_type: "STRING".into(),
                    default_value: None,
                    mandatory: true,
                },
                NewInput {
                    name: "fil".into(),
                    value_type: "FILE".into(),
                    default_value: None,
                    mandatory: true,
                },
            ],
        })
        .await?
        .script_id;
    let upload = portal.dir.path().join("hilsen.txt");
    std::fs::write(&upload, "FIL-FRA-BROWSEREN")?;

    let b = Browser::start().await?;
    b.goto(format!("{}/log-ind", portal.url)).await?;
    b.wait(By::Id("brugernavn")).await?.send_keys("sif").await?;
    b.find(By::Id("adgangskode"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    b.press(Key::Enter).await?;
    b.wait(By::Css("a[href='/steder/testsite']")).await?;

    // The new PC shows up and is activated in the browser.
    b.goto(format!("{}/steder/testsite/pc?aktiveret=nej", portal.url))
        .await?;
    b.wait(By::Css(format!("a[href='/steder/testsite/pc/{pc}']")))
        .await?
        .click()
        .await?;
    b.wait(By::Id("skift-aktivering")).await?.click().await?;
    b.wait(By::Css("p.status-ok")).await?;

    // The wizard, by keyboard: tick the PC, go on, type the greeting; the file is chosen as
    // WebDriver chooses files (a file dialog is the system's, not the page's).
    b.goto(format!("{}/steder/testsite/scripts/{script}", portal.url))
        .await?;
    b.wait(By::Id("koer-script")).await?;
    b.assert_accessible("script").await?;
    b.screenshot("borgerpc-script").await?;
    b.goto(format!(
        "{}/steder/testsite/scripts/{script}/koer",
        portal.url
    ))
    .await?;
    b.wait(By::Id(format!("pc-{pc}"))).await?;
    b.assert_accessible("kør script: computere").await?;
    b.tab_to(&format!("pc-{pc}"), 40).await?;
    b.press(" ").await?;
    b.tab_to("videre", 10).await?;
    b.press(Key::Enter).await?;
    b.wait(By::Id("p0")).await?;
    b.assert_accessible("kør script: parametre").await?;
    b.screenshot("borgerpc-koer-script").await?;
    b.tab_to("p0", 20).await?;
    b.press("hej fra browseren").await?;
    b.find(By::Id("p1"))
        .await?
        .send_keys(upload.to_string_lossy().as_ref())
        .await?;
    b.tab_to("koer", 10).await?;
    b.press(Key::Enter).await?;
    b.wait(By::Id("batch-progress")).await?;
    b.assert_accessible("kørsel").await?;

    // The real agent checks in, runs the job with the file and reports it.
    let run = agent.run(&["checkin"]).await;
    assert_eq!(run.code, 0, "checkin: {}\n{}", run.stdout, run.stderr);
    let job = portal
        .store
        .jobs(site.id, Some(JobStatus::Done), 10)
        .await?
        .pop()
        .expect("the job is DONE");
    b.goto(format!("{}/steder/testsite/jobs/{}", portal.url, job.id))
        .await?;
    let status = b.wait(By::Id("job-status")).await?.text().await?;
    assert_eq!(status, "Udført");
    let log = b.find(By::Css("pre.log")).await?.text().await?;
    assert!(
        log.contains("hilsen: hej fra browseren | fil: FIL-FRA-BROWSEREN"),
        "{log}"
    );
    b.assert_accessible("job").await?;
    b.screenshot("borgerpc-job").await?;
    b.goto(format!("{}/steder/testsite/jobs", portal.url))
        .await?;
    b.wait(By::Id("status")).await?;
    b.assert_accessible("jobs").await?;
    b.screenshot("borgerpc-jobs").await?;
    b.goto(format!("{}/steder/testsite/scripts/ny", portal.url))
        .await?;
    b.wait(By::Id("navn")).await?;
    b.assert_accessible("nyt script").await?;
    b.quit().await
}
