//! Audit records belong to their customer (issue 14, migration 21): a site's records and a
//! customer's own without a site (a deleted site, a customer admin's role, a user removed) carry
//! the customer, written by the store; a customer's administrators see them in the changes
//! report (JSON, page, file) and on the log page as the customer's, another customer's do not
//! (404 or absent), a site's administrators see their site's only, and the roll-up stays the
//! records' recount after each write. Every expectation is computed here from what the test
//! did, held first to the raw rows.

use crate::common::Portal;
use crate::common::changes::call;
use crate::common::reports::api_user;
use crate::common::web::{PASSWORD, WebUser};
use crate::reports_export::get;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::access::{Grant, Role};
use serde_json::Value;
use std::collections::BTreeSet;

/// One record the test made: action, site, customer (as the test knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    id: i64,
    action: String,
    site: Option<i64>,
    customer: Option<i64>,
}

async fn rollups_equal(store: &Store, step: &str) {
    for (table, recount, kept) in store.report_rollups_compared().await.unwrap() {
        assert_eq!(kept, recount, "{table} after {step}");
    }
}

/// The records written since `after`, held to what the test meant them to be.
async fn made(store: &Store, after: i64, want: &[(&str, Option<i64>, Option<i64>)]) -> Vec<Made> {
    let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT id, action, site_id, customer_id FROM audit_log WHERE id > $1 ORDER BY id",
    )
    .bind(after)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let got: Vec<(&str, Option<i64>, Option<i64>)> = rows
        .iter()
        .map(|(_, a, s, c)| (a.as_str(), *s, *c))
        .collect();
    assert_eq!(got, want);
    rows.into_iter()
        .map(|(id, action, site, customer)| Made {
            id,
            action,
            site,
            customer,
        })
        .collect()
}

async fn last_id(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn token_of(portal: &Portal, name: &str) -> String {
    let (token, _) = portal
        .store
        .open_session(portal.store.login_user(name).await.unwrap().unwrap().0)
        .await
        .unwrap();
    token
}

/// The report's answer held to the records it should hold: count, records (ids), the site
/// rows (the customer's own without a site as one row of its customer), and the customer of
/// each record.
fn check(r: &Value, want: &[&Made], what: &str) {
    assert_eq!(r["count"], want.len() as i64, "{what}: {r}");
    let ids: BTreeSet<i64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        want.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        "{what}"
    );
    for i in r["items"].as_array().unwrap() {
        let m = want.iter().find(|m| m.id == i["id"]).unwrap();
        assert_eq!(i["customer_id"].as_i64(), m.customer, "{what}: {i}");
        assert_eq!(i["site_id"].as_i64(), m.site, "{what}: {i}");
    }
    let mut rows: Vec<(Option<i64>, Option<i64>, i64)> = Vec::new();
    for m in want {
        let key = (m.site, if m.site.is_none() { m.customer } else { None });
        match rows.iter_mut().find(|r| (r.0, r.1) == key) {
            Some(r) => r.2 += 1,
            None => rows.push((key.0, key.1, 1)),
        }
    }
    rows.sort();
    let mut got: Vec<(Option<i64>, Option<i64>, i64)> = r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site_id"].as_i64(),
                s["customer_id"].as_i64(),
                s["actions"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, rows, "{what}: per site");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_records_are_their_customers_only() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let (aeroe, fano) = (bib.customer_id, fanoe.customer_id);
    let ida = api_user(&portal, "ida", Some(("customer_admin", Some(aeroe)))).await;
    let bo = api_user(&portal, "bo", Some(("customer_admin", Some(fano)))).await;
    let root = api_user(&portal, "root", None).await;
    let ole_user = store
        .add_user("ole", "ole@kommune.dk", PASSWORD, false)
        .await
        .unwrap();
    store
        .add_membership(ole_user.id, "site_admin", None, Some(bib.id))
        .await
        .unwrap();
    let ole = token_of(&portal, "ole").await;
    let scope = |t: String| async move { store.scope_of_token(&t).await.unwrap().unwrap() };
    let (ida_scope, bo_scope, root_scope) = (
        scope(ida.clone()).await,
        scope(bo.clone()).await,
        scope(root.clone()).await,
    );
    let mut all: Vec<Made> = Vec::new();

    // Site records: at the library and at the citizens' service, which ida then deletes.
    let before = last_id(store).await;
    store
        .audit("user:ole", Some(bib.id), "pc.activate", "pc:1")
        .await
        .unwrap();
    store
        .audit(
            "user:ida",
            Some(borger.id),
            "site.change",
            &format!("site:{}", borger.id),
        )
        .await
        .unwrap();
    all.extend(
        made(
            store,
            before,
            &[
                ("pc.activate", Some(bib.id), Some(aeroe)),
                ("site.change", Some(borger.id), Some(aeroe)),
            ],
        )
        .await,
    );
    rollups_equal(store, "site records").await;

    // ida makes a customer admin of Ærø (a user and a role without a site), bo one of Fanø.
    let before = last_id(store).await;
    let grant = |c| Grant {
        role: Role::CustomerAdmin,
        site_id: None,
        customer_id: Some(c),
    };
    let karl = store
        .create_user(
            &ida_scope,
            "karl",
            "karl@kommune.dk",
            PASSWORD,
            &grant(aeroe),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .create_user(&bo_scope, "fie", "fie@kommune.dk", PASSWORD, &grant(fano))
        .await
        .unwrap()
        .unwrap();
    all.extend(
        made(
            store,
            before,
            &[
                ("user.create", None, Some(aeroe)),
                ("user.grant", None, Some(aeroe)),
                ("user.create", None, Some(fano)),
                ("user.grant", None, Some(fano)),
            ],
        )
        .await,
    );
    rollups_equal(store, "grants").await;

    // ida deletes the citizens' service and removes karl; the superuser makes a superuser.
    let before = last_id(store).await;
    store
        .delete_site(&ida_scope, borger.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.remove_user(&ida_scope, karl.id, None).await.unwrap(),
        Some(true)
    );
    store
        .create_superuser(&root_scope, "eva", "eva@kommune.dk", PASSWORD)
        .await
        .unwrap();
    all.extend(
        made(
            store,
            before,
            &[
                ("site.delete", None, Some(aeroe)),
                ("user.delete", None, Some(aeroe)),
                ("user.create", None, None),
            ],
        )
        .await,
    );
    rollups_equal(store, "site deleted, user removed").await;

    let of = |keep: &dyn Fn(&Made) -> bool| all.iter().filter(|m| keep(m)).collect::<Vec<_>>();
    let aeroe_all = of(&|m| m.customer == Some(aeroe));
    let aeroe_own: Vec<&Made> = aeroe_all
        .iter()
        .copied()
        .filter(|m| m.site.is_none())
        .collect();
    assert_eq!(
        aeroe_own.len(),
        4,
        "a grant, a site deleted, a user removed"
    );
    let bib_only = of(&|m| m.site == Some(bib.id));
    let path = "/api/reports/changes?limit=500";

    // ida: Ærø's records, of its sites, its deleted site and its own, with or without
    // naming the customer; the library's report holds the library's only.
    let r = crate::common::reports::api(&portal, &ida, path).await;
    check(&r, &aeroe_all, "ida");
    let r = crate::common::reports::api(&portal, &ida, &format!("{path}&customer={aeroe}")).await;
    check(&r, &aeroe_all, "ida, customer");
    let r = crate::common::reports::api(&portal, &ida, &format!("{path}&site=aeroe-bib")).await;
    check(&r, &bib_only, "ida, the library");
    // bo: Ærø is not found; bo's own view holds Fanø's only.
    let (status, _) = call(
        &portal,
        &bo,
        "get",
        &format!("{path}&customer={aeroe}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let r = crate::common::reports::api(&portal, &bo, path).await;
    check(&r, &of(&|m| m.customer == Some(fano)), "bo");
    // ole, the library's administrator: the library's records, never the customer's own.
    let r = crate::common::reports::api(&portal, &ole, path).await;
    check(&r, &bib_only, "ole");
    let r = crate::common::reports::api(&portal, &ole, &format!("{path}&customer={aeroe}")).await;
    check(&r, &bib_only, "ole, customer");
    // The superuser: everything; with Ærø chosen, Ærø's.
    let r = crate::common::reports::api(&portal, &root, path).await;
    check(&r, &all.iter().collect::<Vec<_>>(), "root");
    let r = crate::common::reports::api(&portal, &root, &format!("{path}&customer={aeroe}")).await;
    check(&r, &aeroe_all, "root, customer");

    // The file names the customer of each record; a customer's own has no site.
    let csv = get(&portal, &ida, "/api/reports/changes?format=csv").await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8_lossy(&csv.body).to_string();
    let delete_line = text.lines().find(|l| l.contains("site.delete")).unwrap();
    let cells: Vec<&str> = delete_line.split(';').collect();
    assert_eq!((cells[1], cells[2]), ("", "Ærø"), "{delete_line}");
    assert_eq!(text.lines().count(), aeroe_all.len() + 1, "{text}");

    // The page: the customer's own as one row of the site table, and its records.
    let own_row = "Ærø (kunden selv, uden sted)".to_owned();
    let mut ida_web = WebUser::login(&portal, "ida").await;
    let page = ida_web.get("/rapporter/aendringer").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!(
            "<tr data-key=\"{own_row}\"><th scope=\"row\">{own_row}</th><td>{}</td>",
            aeroe_own.len()
        )),
        "{}",
        page.body
    );
    for m in &aeroe_all {
        assert!(
            page.body.contains(&format!("<tr data-key=\"{}\">", m.id)),
            "{m:?}"
        );
    }
    let mut bo_web = WebUser::login(&portal, "bo").await;
    let page = bo_web.get("/rapporter/aendringer").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Ærø"), "{}", page.body);
    let page = bo_web
        .get(&format!("/rapporter/aendringer?kunde={aeroe}"))
        .await;
    assert_eq!(page.status, 404);
    let mut ole_web = WebUser::login(&portal, "ole").await;
    let page = ole_web.get("/rapporter/aendringer").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&own_row));
    for m in &aeroe_own {
        assert!(
            !page.body.contains(&format!("<tr data-key=\"{}\">", m.id)),
            "{m:?}"
        );
    }

    // The library's log page: its administrator sees the library's; the customer's
    // administrator the customer's own too, marked as the customer's; Fanø's: not found.
    // One action cell per line.
    let lines = |body: &str| body.matches("<td><code>").count();
    let page = ida_web.get("/steder/aeroe-bib/log").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        lines(&page.body),
        bib_only.len() + aeroe_own.len(),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("<td>Kunden</td>").count(),
        aeroe_own.len()
    );
    assert!(page.body.contains("site.delete") && page.body.contains("user.grant"));
    let page = ole_web.get("/steder/aeroe-bib/log").await;
    assert_eq!(page.status, 200);
    assert_eq!(lines(&page.body), bib_only.len(), "{}", page.body);
    assert!(!page.body.contains("site.delete") && !page.body.contains("user.grant"));
    let page = bo_web.get("/steder/aeroe-bib/log").await;
    assert_eq!(page.status, 404);
}
