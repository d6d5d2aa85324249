//! The tenant walk of the portal's pages: every HTML route the source declares (read from
//! `src/web/*.rs`, so a new route cannot be left out), asked for by customer B's
//! administrator with customer A's site and with A's ids under B's own site, as GET and as a
//! form post. Nothing of A may show or change: no answer but "not found" or a refusal of the
//! form, none with A's names in it, and no audit record by B.

use crate::common::web::WebUser;
use crate::common::{Portal, seed};

#[tokio::test]
async fn web_tenants_customer_b_reaches_nothing_of_customer_a_on_any_page() {
    let portal = Portal::start().await;
    let a = portal.site("Ærø Kommune", "bibliotek").await;
    let b = portal.site("Andeby Kommune", "andeby").await;
    portal.web_user("bent", "customer_admin", &b).await;
    let seeded = seed::everything(&portal, &a, "Aeroe").await;
    let ids = &seeded.ids;
    let one = |sql: &'static str| {
        let pool = portal.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let audit_before = one("SELECT COUNT(*) FROM audit_log").await;
    let mut secrets = seeded.names.clone();
    secrets.push("Ærø Kommune".into());

    let mut bent = WebUser::login(&portal, "bent").await;
    bent.get("/").await;
    let routes = seed::declared_routes();
    assert!(routes.len() >= 50, "{routes:?}");
    let mut asked = 0;
    for seed::Route { path, get, post } in &routes {
        // The help texts name no tenant.
        if path.starts_with("/hjaelp") {
            continue;
        }
        // B's own pages (the sites overview, its customer): they show nothing of A's.
        if !path.contains('{') {
            if *get {
                let answer = bent.get(path).await;
                for s in &secrets {
                    assert!(!answer.body.contains(s), "GET {path} shows {s:?}");
                }
            }
            continue;
        }
        for site in [a.uid.as_str(), b.uid.as_str()] {
            // Under B's own site only A's ids are foreign; the rest is B's to use.
            let names_a = path.contains("{id}") || path.contains("{customer}");
            if site == b.uid && !names_a {
                continue;
            }
            for url in ids.fill(path, site) {
                if *get {
                    let answer = bent.get(&url).await;
                    asked += 1;
                    assert_eq!(answer.status, 404, "GET {url}: {}", answer.body);
                    for s in &secrets {
                        assert!(!answer.body.contains(s), "GET {url} shows {s:?}");
                    }
                }
                if *post {
                    // Fields most forms take, so a form that reads them before it looks the
                    // object up is still asked.
                    let answer = bent
                        .post(
                            &url,
                            &[
                                ("navn", "B var her"),
                                ("noegle", "x"),
                                ("vaerdi", "y"),
                                ("aktiveret", "ja"),
                            ],
                        )
                        .await;
                    asked += 1;
                    assert!(
                        matches!(answer.status, 404 | 422 | 400 | 415),
                        "POST {url}: {} {}",
                        answer.status,
                        answer.body
                    );
                    for s in &secrets {
                        assert!(!answer.body.contains(s), "POST {url} shows {s:?}");
                    }
                }
            }
        }
    }
    assert!(asked > 100, "{asked} requests");
    assert_eq!(
        one("SELECT COUNT(*) FROM audit_log").await,
        audit_before,
        "B changed nothing of A's"
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pc_groups")
        .fetch_all(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(names, ["Aeroe gruppe"]);
    let policies = portal
        .store
        .group(&[a.id], ids.group)
        .await
        .unwrap()
        .unwrap()
        .policies;
    assert_eq!(policies.len(), 1, "A's policy script is still on its group");
    let deleted: Option<i64> =
        sqlx::query_scalar("SELECT MAX(deleted_at) FROM scripts WHERE id = $1 OR id = $2")
            .bind(ids.script)
            .bind(ids.security_script)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(deleted, None, "A's scripts are not deleted");
}
