//! The store's refusals on the portal's pages in the user's language: a Danish user reads
//! them in Danish, the same user in English after choosing it, while the operator API keeps
//! its English text for the same refusal. Over real HTTP, through the forms.

use crate::common::Portal;
use crate::common::web::WebUser;
use borgerpc_admin::store::jobs::{NewInput, NewScript};
use reqwest::multipart::Form;

/// An offline rule's form with `name`.
fn rule_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("type", "offline".into()),
        ("navn", name.into()),
        ("niveau", "HIGH".into()),
        ("beskrivelse", String::new()),
        ("fra", "08:00".into()),
        ("til", "16:00".into()),
        ("minutter", "30".into()),
    ]
}

async fn post_rule(u: &mut WebUser, name: &str) -> crate::common::web::Answer {
    u.get("/steder/bib/regler/ny?type=offline").await;
    let form = rule_form(name);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    u.post("/steder/bib/regler/ny", &form).await
}

/// Runs the site's script with one INT parameter given `value`, on `pc`.
async fn run_with(
    u: &mut WebUser,
    script: i64,
    pc: i64,
    value: &str,
) -> crate::common::web::Answer {
    let run = format!("/steder/bib/scripts/{script}/koer");
    u.get(&run).await;
    u.post_multipart(
        &run,
        Form::new()
            .text("pc", pc.to_string())
            .text("p0", value.to_owned()),
    )
    .await
}

#[tokio::test]
async fn web_refusals_are_in_the_users_language() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune A", "bib").await;
    portal.web_user("ida", "site_admin", &site).await;
    let (pc, _) = portal.pc(&site, "pc-1").await;
    portal
        .store
        .api_set_activated(&[site.id], pc, true)
        .await
        .unwrap();
    let script = portal
        .store
        .save_script(&NewScript {
            site_id: Some(site.id),
            uid: None,
            name: "Tæl".into(),
            description: String::new(),
            category: Some("Test".into()),
            is_security: false,
            is_hidden: false,
            version: 1,
            code: "#!/bin/sh\necho \"$1\"\n".into(),
            inputs: vec![NewInput {
                name: "Antal".into(),
                value_type: "INT".into(),
                default_value: None,
                mandatory: true,
            }],
        })
        .await
        .unwrap()
        .script_id;
    let mut u = WebUser::login(&portal, "ida").await;
    let long = "x".repeat(201);

    // Danish, the default: the field's label and the reason from the Danish catalogue.
    let a = post_rule(&mut u, &long).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("id=\"fejl\">Navn: skal være 1 til 200 tegn"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("must be 1 to 200 characters"));
    let a = run_with(&mut u, script, pc, "mange").await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("parameter 1 (Antal): &quot;mange&quot; er ikke et helt tal")
            || a.body
                .contains("parameter 1 (Antal): &#34;mange&#34; er ikke et helt tal"),
        "{}",
        a.body
    );

    // The same user in English: the language switch stores the choice.
    u.get("/").await;
    let switched = u.post("/sprog", &[("sprog", "en"), ("tilbage", "/")]).await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let a = post_rule(&mut u, &long).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("id=\"fejl\">Name: must be 1 to 200 characters"),
        "{}",
        a.body
    );
    let a = run_with(&mut u, script, pc, "mange").await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("is not a whole number"), "{}", a.body);
    assert!(!a.body.contains("er ikke et helt tal"));

    // The API's text for the same refusal is the English one it always was.
    let e = portal
        .store
        .run_script(borgerpc_admin::store::jobs::RunScript {
            site_id: site.id,
            script_id: script,
            pc_ids: &[pc],
            params: vec![borgerpc_admin::store::jobs::ParamValue::Text(
                "mange".into(),
            )],
            created_by: "test",
        })
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "parameter 1 (Antal): \"mange\" is not a whole number"
    );
}
