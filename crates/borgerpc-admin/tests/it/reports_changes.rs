//! The changes report's JSON API (issue 14, report 6) against what the test's operators did
//! through the API and the pages (`common::changes`): per local day (records moved around
//! both DST changes of 2026) and ISO week, per action, per user with the PCs their script
//! runs reached (the jobs each run created), activations, settings changes, per site, and the
//! records themselves newest first; for a site, a customer and everything a caller reads,
//! filtered by user, action and group. Only site administrators and up read it, as the log
//! page; portal-wide records only a superuser without a site; another customer's site,
//! customer or group is 404; bad parameters are 422 naming the parameter.

use crate::common::Portal;
use crate::common::changes::{
    Did, Scenario, call, counts, counts_of, get_ok, newest_first, per_action, per_day, per_user,
    per_week, scenario,
};
use crate::common::reports::date;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PERIOD: &str = "from=2026-03-01&to=2026-12-01";

/// Holds one answer of the report to the records it should be about.
fn check(r: &Value, did: &[&Did], group: bool, what: &str) {
    let (from, to) = (date("2026-03-01"), date("2026-12-01"));
    assert_eq!(r["time_zone"], "Europe/Copenhagen");
    assert_eq!(r["count"], did.len() as i64, "{what}");
    assert_eq!(
        counts_of(&r["totals"]),
        counts(did.iter().copied(), group),
        "{what}"
    );
    let activated: BTreeSet<i64> = did
        .iter()
        .filter(|d| d.action == "pc.activate")
        .filter_map(|d| d.pc)
        .collect();
    assert_eq!(r["activated_pcs"], activated.len() as i64, "{what}");

    let days: Vec<(String, [i64; 6])> = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["date"].as_str().unwrap().to_owned(), counts_of(d)))
        .collect();
    assert_eq!(days, per_day(did, from, to, group), "{what}: per day");
    let weeks: Vec<(String, String, i64, [i64; 6])> = r["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week"].as_str().unwrap().to_owned(),
                w["from"].as_str().unwrap().to_owned(),
                w["days"].as_i64().unwrap(),
                counts_of(w),
            )
        })
        .collect();
    assert_eq!(weeks, per_week(did, from, to, group), "{what}: per week");

    let by_action: Vec<(String, i64)> = r["by_action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let days: i64 = a["days"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["count"].as_i64().unwrap())
                .sum();
            assert_eq!(a["count"], days, "{what}: {a}");
            (
                a["action"].as_str().unwrap().to_owned(),
                a["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_action, per_action(did), "{what}: per action");
    let users: Vec<(String, [i64; 6])> = r["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["actor"].as_str().unwrap().to_owned(), counts_of(u)))
        .collect();
    assert_eq!(users, per_user(did, group), "{what}: per user");

    let mut sites: Vec<(Option<String>, i64)> = Vec::new();
    for d in did {
        match sites.iter_mut().find(|(s, _)| *s == d.site) {
            Some(e) => e.1 += 1,
            None => sites.push((d.site.clone(), 1)),
        }
    }
    sites.sort_by_key(|(s, _)| (s.is_none(), s.clone()));
    let got: Vec<(Option<String>, i64)> = r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site"].as_str().map(str::to_owned),
                s["actions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got, sites,
        "{what}: per site (the test's sites are named as their uids)"
    );

    // The records, newest first, with what they name.
    let items = r["items"].as_array().unwrap();
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, newest_first(did), "{what}: the records");
    for i in items {
        let d = did.iter().find(|d| d.id == i["id"]).unwrap();
        assert_eq!(i["actor"], d.actor.as_str());
        assert_eq!(i["action"], d.action);
        assert_eq!(i["site"].as_str(), d.site.as_deref());
        assert_eq!(i["at"], d.at);
        assert_eq!(i["pc_id"].as_i64(), d.pc, "{i}");
        assert_eq!(i["group_id"].as_i64(), d.group, "{i}");
        let pcs = if group { d.members } else { d.pcs };
        assert_eq!(i["pcs"].as_i64(), pcs, "{what}: {i}");
        assert_eq!(i["batch_id"].is_i64(), d.action == "script.run", "{i}");
        assert_eq!(i["detail"].get("before").is_some(), d.setting, "{i}");
        let local = chrono::DateTime::parse_from_rfc3339(i["at_local"].as_str().unwrap()).unwrap();
        assert_eq!(local.timestamp_millis(), d.at, "{i}");
        assert_eq!(local.date_naive(), crate::common::changes::local_date(d.at));
    }
    let settings: Vec<i64> = r["latest_settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let want: Vec<&Did> = did.iter().copied().filter(|d| d.setting).collect();
    assert_eq!(settings, newest_first(&want), "{what}: settings changes");
}

type Keep<'a> = Box<dyn Fn(&Did) -> bool + 'a>;

fn k<'a>(f: impl Fn(&Did) -> bool + 'a) -> Keep<'a> {
    Box::new(f)
}

fn of(s: &Scenario, keep: impl Fn(&Did) -> bool) -> Vec<&Did> {
    s.did.iter().filter(|d| keep(d)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_report_counts_what_the_operators_did() {
    let portal = Portal::start().await;
    let s = scenario(&portal).await;
    let site = |d: &Did, uid: &str| d.site.as_deref() == Some(uid);
    let aeroe = |d: &Did| site(d, "aeroe-bib") || site(d, "aeroe-borger");
    let (a, b) = (s.bib.customer_id, s.fanoe.customer_id);

    for (who, token, query, keep) in [
        ("ida", &s.ida, String::new(), k(aeroe)),
        ("ida", &s.ida, format!("customer={a}"), k(aeroe)),
        (
            "ida",
            &s.ida,
            "site=aeroe-borger".into(),
            k(move |d: &Did| site(d, "aeroe-borger")),
        ),
        (
            "ole",
            &s.ole,
            String::new(),
            k(move |d: &Did| site(d, "aeroe-bib")),
        ),
        (
            "ole",
            &s.ole,
            format!("customer={a}"),
            k(move |d: &Did| site(d, "aeroe-bib")),
        ),
        (
            "bo",
            &s.bo,
            String::new(),
            k(move |d: &Did| site(d, "fanoe-bib")),
        ),
        // Only a superuser without a site or customer reads the portal-wide records.
        ("root", &s.root, String::new(), k(|_: &Did| true)),
        (
            "root",
            &s.root,
            "site=aeroe-bib".into(),
            k(move |d: &Did| site(d, "aeroe-bib")),
        ),
        (
            "root",
            &s.root,
            format!("customer={b}"),
            k(move |d: &Did| site(d, "fanoe-bib")),
        ),
        // Filters: a user (by name or as the actor), an action, an object's actions.
        (
            "ida",
            &s.ida,
            "user=ole".into(),
            k(move |d: &Did| aeroe(d) && d.actor == "user:ole"),
        ),
        (
            "ida",
            &s.ida,
            "user=user:sif".into(),
            k(move |d: &Did| aeroe(d) && d.actor == "user:sif"),
        ),
        (
            "ida",
            &s.ida,
            "action=pc.activate".into(),
            k(move |d: &Did| aeroe(d) && d.action == "pc.activate"),
        ),
        (
            "ida",
            &s.ida,
            "action=pc".into(),
            k(move |d: &Did| aeroe(d) && d.action.starts_with("pc.")),
        ),
        (
            "root",
            &s.root,
            "action=customer".into(),
            k(|d: &Did| d.action == "customer.create"),
        ),
        ("ida", &s.ida, "user=nobody".into(), k(|_: &Did| false)),
    ] {
        let r = get_ok(
            &portal,
            token,
            &format!("/api/reports/changes?{PERIOD}&limit=500&{query}"),
        )
        .await;
        let did = of(&s, keep);
        assert!(!did.is_empty() || query.contains("nobody"), "{who} {query}");
        check(&r, &did, false, &format!("{who} {query}"));
    }

    // A group: what names it, its members now and the runs that reached them, whose PCs are
    // then its members only.
    let g = s.group;
    for query in [
        format!("group={g}"),
        format!("group={g}&site=aeroe-bib&user=ida&action=script.run"),
    ] {
        let r = get_ok(
            &portal,
            &s.ida,
            &format!("/api/reports/changes?{PERIOD}&limit=500&{query}"),
        )
        .await;
        let narrow = query.contains("user=");
        let did = of(&s, |d| {
            s.in_group(d) && (!narrow || (d.actor == "user:ida" && d.action == "script.run"))
        });
        assert!(did.len() >= 2, "{query}");
        assert!(
            of(&s, |d| d.action == "script.run"
                && !s.in_group(d)
                && aeroe(d))
            .len()
                == 1,
            "sif's run reached no member"
        );
        check(&r, &did, true, &query);
    }

    // One local date: the record at 00:30 on 29 March (23:30 UTC the day before) is in it,
    // the one at 23:30 on 28 March is not; the day has 23 hours.
    let r = get_ok(
        &portal,
        &s.root,
        "/api/reports/changes?from=2026-03-29&to=2026-03-30&limit=500",
    )
    .await;
    let did = of(&s, |d| {
        crate::common::changes::local_date(d.at) == date("2026-03-29")
    });
    assert!(did.len() >= 4, "{did:?}");
    assert_eq!(r["count"], did.len() as i64);
    assert_eq!(r["days"].as_array().unwrap().len(), 1);
    let ids: Vec<i64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, newest_first(&did));

    // Pages of records: newest first, the count of all.
    let all = newest_first(&of(&s, aeroe));
    let mut paged = Vec::new();
    for offset in (0..all.len()).step_by(7) {
        let r = get_ok(
            &portal,
            &s.ida,
            &format!("/api/reports/changes?{PERIOD}&limit=7&offset={offset}"),
        )
        .await;
        assert_eq!(r["count"], all.len() as i64);
        assert_eq!(
            (r["limit"].as_i64(), r["offset"].as_i64()),
            (Some(7), Some(offset as i64))
        );
        paged.extend(
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
    }
    assert_eq!(paged, all);
    // A page of the default size holds the newest 100 (here all).
    let r = get_ok(&portal, &s.ida, &format!("/api/reports/changes?{PERIOD}")).await;
    assert_eq!(r["limit"], 100);

    // The records tell what they name: a run its script and batch and the PCs it reached; a
    // settings change its values before and after.
    let r = get_ok(
        &portal,
        &s.ole,
        &format!("/api/reports/changes?{PERIOD}&action=config.set&limit=500"),
    )
    .await;
    let items = r["items"].as_array().unwrap();
    let printer: Vec<(&Value, &Value)> = items
        .iter()
        .filter(|i| i["pc_id"].is_i64())
        .map(|i| (&i["detail"]["before"], &i["detail"]["after"]))
        .collect();
    assert_eq!(printer.len(), 2);
    assert!(printer.iter().all(|(b, _)| b.is_null()), "{printer:?}");
    let values: BTreeSet<&str> = printer.iter().map(|(_, a)| a.as_str().unwrap()).collect();
    assert_eq!(values, BTreeSet::from(["HP", "Canon"]));
    let r = get_ok(
        &portal,
        &s.ole,
        &format!("/api/reports/changes?{PERIOD}&action=script.run&user=ole"),
    )
    .await;
    let run = &r["items"][0];
    assert_eq!(run["pcs"], 2);
    assert!(
        run["script_id"].is_i64() && run["batch_id"].is_i64(),
        "{run}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE batch_id = $1")
        .bind(run["batch_id"].as_i64().unwrap())
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(jobs, 2, "the batch's jobs are the PCs it reached");

    // The PCs a run reached are what it recorded: a PC's delete takes its jobs, not the count.
    let ole_reached = |r: &Value| {
        r["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["actor"] == "user:ole")
            .map(|u| u["pcs_reached"].clone())
    };
    let before = get_ok(&portal, &s.ole, &format!("/api/reports/changes?{PERIOD}")).await;
    assert_eq!(ole_reached(&before), Some(json!(2)), "{before}");
    let (site_id, uid): (i64, String) = sqlx::query_as(
        "SELECT p.site_id, p.uid FROM jobs j JOIN pcs p ON p.id = j.pc_id WHERE j.batch_id = $1 LIMIT 1",
    )
    .bind(run["batch_id"].as_i64().unwrap())
    .fetch_one(portal.store.pool())
    .await
    .unwrap();
    assert!(portal.store.delete_pc(site_id, &uid).await.unwrap());
    let after = get_ok(&portal, &s.ole, &format!("/api/reports/changes?{PERIOD}")).await;
    assert_eq!(after["users"], before["users"]);
    let r = get_ok(
        &portal,
        &s.ole,
        &format!("/api/reports/changes?{PERIOD}&action=script.run&user=ole"),
    )
    .await;
    assert_eq!(r["items"][0]["pcs"], 2, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_report_is_for_site_admins_of_their_own_sites() {
    let portal = Portal::start().await;
    let s = scenario(&portal).await;
    let base = format!("/api/reports/changes?{PERIOD}");
    // The log's least role: a site user and API keys (which read or are site users) may not.
    let writer = portal
        .store
        .add_api_key(s.bib.id, "skriver", true)
        .await
        .unwrap();
    for (who, token) in [("sif", &s.sif), ("key", &s.key), ("writing key", &writer)] {
        let (status, r) = call(&portal, token, "get", &base, None).await;
        assert_eq!(status, 403, "{who}: {r}");
    }
    let (_, r) = call(&portal, &s.sif, "get", &base, None).await;
    assert!(r["detail"].as_str().unwrap().contains("site_admin"), "{r}");

    // Another customer's site, customer and group are not found, as missing ones are.
    let (a, b) = (s.bib.customer_id, s.fanoe.customer_id);
    for (who, token, query) in [
        ("bo", &s.bo, "site=aeroe-bib".to_owned()),
        ("bo", &s.bo, format!("customer={a}")),
        ("bo", &s.bo, format!("group={}", s.group)),
        ("ida", &s.ida, format!("customer={b}")),
        ("ida", &s.ida, format!("group={}", s.fanoe_group)),
        ("ida", &s.ida, "site=findes-ikke".into()),
        ("ida", &s.ida, "customer=999999".into()),
        ("ida", &s.ida, "group=999999".into()),
        // ole administers the library only; the citizens' service is not his.
        ("ole", &s.ole, "site=aeroe-borger".into()),
        ("ole", &s.ole, format!("customer={b}")),
    ] {
        for format in ["json", "csv", "xlsx"] {
            let (status, r) = call(
                &portal,
                token,
                "get",
                &format!("{base}&{query}&format={format}"),
                None,
            )
            .await;
            assert_eq!(status, 404, "{who} {query} {format}: {r}");
        }
    }
    // Nothing of Ærø in Fanø's report, nor of the portal-wide records.
    let r = get_ok(&portal, &s.bo, &format!("{base}&limit=500")).await;
    let text = r.to_string();
    for secret in [
        "aeroe",
        "Læsesal",
        "user:ida",
        "user:ole",
        "Læsø",
        "customer.create",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let r = get_ok(&portal, &s.ida, &format!("{base}&limit=500")).await;
    assert!(!r.to_string().contains("customer.create") && !r.to_string().contains("fanoe"));

    // Bad parameters: 422 naming the parameter.
    for (query, name) in [
        ("from=2026-13-01", "from"),
        ("to=i-morgen", "to"),
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=2025-01-01&to=2026-03-01", "to"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ti", "limit"),
        ("offset=-1", "offset"),
        ("group=x", "group"),
        ("customer=x", "customer"),
        ("site=aeroe-bib&customer=1", "customer"),
        ("user=", "user"),
        ("user=%09", "user"),
        ("user=ida&user=ole", "user"),
        ("action=PC.ACTIVATE", "action"),
        ("action=pc.activate.nu", "action"),
        ("action=", "action"),
        ("action=a&action=b", "action"),
        ("idle=true", "idle"),
        ("not_seen_since=2026-01-01", "not_seen_since"),
        ("bruger=ida", "bruger"),
        ("format=pdf", "format"),
        ("decimal=comma", "decimal"),
        ("format=csv&limit=10", "limit"),
        ("format=xlsx&offset=5", "offset"),
        ("format=csv&decimal=semikolon", "decimal"),
    ] {
        let path = format!("/api/reports/changes?{query}");
        let (status, r) = call(&portal, &s.ida, "get", &path, None).await;
        assert_eq!(status, 422, "{path}: {r}");
        let detail = r["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{name}:")), "{path}: {detail}");
    }
    // A repeated shared parameter is refused by the shared parsing.
    let (status, r) = call(
        &portal,
        &s.ida,
        "get",
        "/api/reports/changes?site=a&site=b",
        None,
    )
    .await;
    assert_eq!(status, 422, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_15_reads_the_ids_of_earlier_records_as_the_writer_does() {
    use borgerpc_admin::store::audit::Refs;
    use borgerpc_admin::store::{MIGRATIONS, Store};
    let dir = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let db = service_kit::db::Db::connect(&url, 2).await.unwrap();
    let before: Vec<_> = MIGRATIONS
        .iter()
        .copied()
        .filter(|m| m.version < 15)
        .collect();
    db.migrate(&before).await.unwrap();
    // Targets as the portal has written them, and a few a person's text could make.
    let records = [
        ("pc.activate", "pc:4"),
        ("pc.delete", "pc:12 uid:a1b2c3"),
        ("pc.approve_key", "pc:7 key:ab12cd34"),
        ("config.set", "pc:3 printer"),
        ("config.set", "group:2 hjemmeside"),
        ("config.set", "site:1 hjemmeside"),
        ("group.create", "group:2 (Læsesal)"),
        ("group.create", "group:21 (pc:5)"),
        ("group.join", "group:2 pc:9"),
        ("group.leave", "group:2 pc:10"),
        ("policy.add", "group:2 policy:5 script:7"),
        ("script.run", "script:7 batch:31"),
        ("script.delete", "script:7 (Hilsen)"),
        ("job.restart", "job:9 new:10"),
        ("user.role", "user:3 (pc:5) site:1"),
        ("rule.create", "offline-rule:3 (Aften)"),
        ("customer.create", "customer:2 (Læsø)"),
    ];
    let mut tx = db.begin_write().await.unwrap();
    for (action, target) in records {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, site_id, action, target) VALUES (1, 'user:ida', 1, $1, $2)",
        )
        .bind(action)
        .bind(target)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    db.close().await;

    let store = Store::open(&url, 2).await.unwrap();
    type Row = (String, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT target, pc_id, group_id, batch_id FROM audit_log ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), records.len());
    for (target, pc, group, batch) in rows {
        let r = Refs::of(&target);
        assert_eq!((pc, group, batch), (r.pc, r.group, r.batch), "{target}");
    }
    // The ones that name something do.
    let named: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE pc_id IS NOT NULL OR group_id IS NOT NULL OR batch_id IS NOT NULL",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(named, 11);
}
