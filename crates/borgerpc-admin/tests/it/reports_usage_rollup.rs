//! The usage roll-up (issue 14, migration 18): `site_login_days` against a recount of
//! `pc_login_days` and against a model the test keeps of every count it pushes, after each
//! kind of write: pushes over the client-api (days around the 2026 clock changes), the same
//! push again, a changed count, a PC moved to another site, retention, a PC deleted, a site
//! deleted. The usage JSON's figures per site, per date and in total are compared with the
//! model after each step, so the report reads what the roll-up keeps; so are `pc_login_sites`
//! (migration 19) and the PCs the report lists and finds idle, over periods that end after
//! and before the PCs' latest logins, and the roll-up per group (migration 20) with the
//! figures per group as PCs join, push, move, leave and come back.

use crate::common;

use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::history::{Retention, epoch_day};
use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Europe::Copenhagen;
use common::Portal;
use common::reports::{api, api_user};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;

/// The last Sunday of a month: Copenhagen's clock changes on March's and October's.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap() - chrono::Duration::days(1);
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt().unwrap();
    }
    d
}

/// A PC's id by its uid.
async fn pc_id(portal: &Portal, uid: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1")
        .bind(uid)
        .fetch_one(portal.store.pool())
        .await
        .unwrap()
}

/// The model: (PC, date) -> (site the day was first reported at, the latest count).
type Model = BTreeMap<(String, NaiveDate), (String, i64)>;

/// A registered PC, pushing its `login_counts` over the client-api as the agent does.
struct Agent {
    uid: String,
    key: String,
}

impl Agent {
    async fn register(portal: &Portal, n: u8, site: &str) -> Agent {
        let key = format!("{n:02x}").repeat(32);
        let (s, uid) = portal
            .post(
                "register_new_computer",
                json!({"mac": format!("02:00:00:00:00:{n:02x}"), "name": format!("pc-{n}"),
                       "site": site, "configuration": {"hostname": format!("pc-{n}")},
                       "client_key": key}),
            )
            .await;
        assert_eq!(s, 200, "{uid}");
        Agent {
            uid: uid.as_str().unwrap().to_owned(),
            key,
        }
    }

    /// Pushes the days and notes them in the model at `site` (the PC's site now).
    async fn push(
        &self,
        portal: &Portal,
        model: &mut Model,
        site: &str,
        days: &[(NaiveDate, i64)],
    ) {
        let value = days
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (s, r) = portal
            .post(
                "push_config_keys",
                json!({"pc_uid": self.uid, "config_dict": {"login_counts": value},
                       "read_only": false, "client_key": self.key}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        for (d, n) in days {
            model
                .entry((self.uid.clone(), *d))
                .and_modify(|e| e.1 = *n)
                .or_insert((site.to_owned(), *n));
        }
    }
}

/// The roll-up equals the recount from `pc_login_days`, and both equal the model per site and
/// date: (logins, PCs that reported). Returns the roll-up as kept.
async fn check(portal: &Portal, model: &Model, step: &str) -> Vec<Vec<String>> {
    let (table, recount, kept) = portal.store.usage_rollup_compared().await.unwrap();
    assert_eq!(table, "site_login_days");
    assert_eq!(kept, recount, "{step}: the roll-up is the rows' recount");
    let mut want: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for ((_, d), (site, n)) in model {
        let e = want.entry((site.clone(), epoch_day(*d))).or_default();
        e.0 += n;
        e.1 += 1;
    }
    let ids: BTreeMap<String, String> =
        sqlx::query_as::<_, (String, i64)>("SELECT uid, id FROM sites")
            .fetch_all(portal.store.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(uid, id)| (id.to_string(), uid))
            .collect();
    let got: BTreeMap<(String, i64), (i64, i64)> = kept
        .iter()
        .map(|r| {
            (
                (ids[&r[0]].clone(), r[1].parse().unwrap()),
                (r[2].parse().unwrap(), r[3].parse().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want, "{step}: the roll-up is the model");
    check_login_sites(portal, model, step).await;
    let (table, recount, kept_groups) = portal.store.group_usage_rollup_compared().await.unwrap();
    assert_eq!(table, "group_login_days");
    assert_eq!(
        kept_groups, recount,
        "{step}: the groups' roll-up is the members' recount"
    );
    kept
}

/// `pc_login_sites` (migration 19) against the model: a row per PC and site it has days at,
/// with its latest day and latest day with a login exact, and no day before its first.
async fn check_login_sites(portal: &Portal, model: &Model, step: &str) {
    type Row = (String, String, i64, i64, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.uid, s.uid, x.first_day, x.last_day, x.last_active FROM pc_login_sites x
         JOIN pcs p ON p.id = x.pc_id JOIN sites s ON s.id = x.site_id",
    )
    .fetch_all(portal.store.pool())
    .await
    .unwrap();
    // (PC, site) -> (earliest day, latest day, latest day with a login)
    let mut want: BTreeMap<(String, String), (i64, i64, Option<i64>)> = BTreeMap::new();
    for ((pc, d), (site, n)) in model {
        let d = epoch_day(*d);
        let e = want
            .entry((pc.clone(), site.clone()))
            .or_insert((d, d, None));
        e.0 = e.0.min(d);
        e.1 = e.1.max(d);
        if *n > 0 {
            e.2 = e.2.max(Some(d));
        }
    }
    let mut got = BTreeMap::new();
    for (pc, site, first, last, active) in rows {
        let earliest = want
            .get(&(pc.clone(), site.clone()))
            .map_or(i64::MIN, |w| w.0);
        assert!(
            first <= earliest,
            "{step}: {pc} at {site} has a day before {first}"
        );
        got.insert((pc, site), (earliest, last, active));
    }
    assert_eq!(got, want, "{step}: pc_login_sites is the model");
}

/// The usage JSON of `scope` over the period.
async fn usage(portal: &Portal, token: &str, scope: &str, from: NaiveDate, to: NaiveDate) -> Value {
    api(
        portal,
        token,
        &format!("/api/reports/usage?{scope}&from={from}&to={to}"),
    )
    .await
}

/// A usage JSON's logins per (site or group) name and date, from its `sites` or `groups`.
fn per_day(r: &Value, totals: &str) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for t in r[totals].as_array().unwrap() {
        for d in t["days"].as_array().unwrap() {
            out.insert(
                (
                    t["name"].as_str().unwrap().to_owned(),
                    d["date"].as_str().unwrap().to_owned(),
                ),
                d["logins"].as_i64().unwrap(),
            );
        }
    }
    out
}

/// The usage JSON of `scope` over the period: logins per site and date, and the total.
async fn report(
    portal: &Portal,
    token: &str,
    scope: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> (BTreeMap<(String, String), i64>, i64, Vec<i64>) {
    let r = usage(portal, token, scope, from, to).await;
    let weekdays = r["weekdays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["logins"].as_i64().unwrap())
        .collect();
    (
        per_day(&r, "sites"),
        r["logins"].as_i64().unwrap(),
        weekdays,
    )
}

/// The usage JSON's logins per group and date, of `scope` over the period.
async fn report_groups(
    portal: &Portal,
    token: &str,
    scope: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(String, String), i64> {
    per_day(&usage(portal, token, scope, from, to).await, "groups")
}

/// What the report should say per group and date: its members' days at `sites`.
fn expected_groups(
    model: &Model,
    members: &BTreeMap<String, Vec<String>>,
    sites: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(String, String), i64> {
    let mut per_group = BTreeMap::new();
    for (group, pcs) in members {
        for ((pc, d), (site, n)) in model {
            if pcs.contains(pc) && sites.contains(&site.as_str()) && *d >= from && *d < to {
                *per_group.entry((group.clone(), d.to_string())).or_default() += n;
            }
        }
    }
    per_group
}

/// The PCs of the usage JSON of `scope` over the period: every one listed and the idle ones
/// (from the list, from `idle=true`, and counted).
async fn report_pcs(
    portal: &Portal,
    token: &str,
    scope: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<String>, Vec<String>) {
    let path = format!("/api/reports/usage?{scope}&from={from}&to={to}&limit=500");
    let r: Value = api(portal, token, &path).await;
    let uids = |r: &Value, idle: bool| -> Vec<String> {
        let mut v: Vec<String> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !idle || p["idle"].as_bool().unwrap())
            .map(|p| p["uid"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let (all, idle) = (uids(&r, false), uids(&r, true));
    assert_eq!(r["count"].as_i64().unwrap(), all.len() as i64, "{path}");
    assert_eq!(r["idle"].as_i64().unwrap(), idle.len() as i64, "{path}");
    let only: Value = api(portal, token, &format!("{path}&idle=true")).await;
    assert_eq!(uids(&only, false), idle, "{path}&idle=true");
    assert_eq!(
        only["count"].as_i64().unwrap(),
        idle.len() as i64,
        "{path}&idle=true"
    );
    (all, idle)
}

/// The PCs the report should list for the model's days at `sites` in the period, with the
/// PCs' sites now: those on the sites now and those with days there, and the idle ones (no
/// login at the sites in the period).
fn expected_pcs(
    model: &Model,
    on: &BTreeMap<String, String>,
    sites: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<String>, Vec<String>) {
    let mut pcs: BTreeMap<String, bool> = on
        .iter()
        .filter(|(_, site)| sites.contains(&site.as_str()))
        .map(|(pc, _)| (pc.clone(), false))
        .collect();
    for ((pc, d), (site, n)) in model {
        if sites.contains(&site.as_str()) && *d >= from && *d < to {
            *pcs.entry(pc.clone()).or_default() |= *n > 0;
        }
    }
    let idle = pcs.iter().filter(|(_, a)| !**a).map(|(p, _)| p.clone());
    (pcs.keys().cloned().collect(), idle.collect())
}

/// What the report should say for the model's days at `sites` in the period.
fn expected(
    model: &Model,
    sites: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> (BTreeMap<(String, String), i64>, i64, Vec<i64>) {
    let mut per_site = BTreeMap::new();
    let mut weekdays = vec![0i64; 7];
    for ((_, d), (site, n)) in model {
        if sites.contains(&site.as_str()) && *d >= from && *d < to {
            *per_site.entry((site.clone(), d.to_string())).or_default() += n;
            weekdays[d.weekday().num_days_from_monday() as usize] += n;
        }
    }
    let total = per_site.values().sum();
    (per_site, total, weekdays)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_rollup_follows_every_write_of_the_login_days() {
    let portal = Portal::start().await;
    let store = &portal.store;
    // Site names are their uids (`Portal::site`), as the report names them.
    let a = portal.site("Ærø", "aeroe-bib").await;
    let b = portal.site("Ærø", "aeroe-borger").await;
    let _c = portal.site("Ærø", "aeroe-skole").await;
    let admin = api_user(
        &portal,
        "ida",
        Some(("customer_admin", Some(a.customer_id))),
    )
    .await;

    // The clock changes of the last year the history keeps, with the days either side.
    let today = chrono::Utc::now().with_timezone(&Copenhagen).date_naive();
    let mut dst: Vec<NaiveDate> = [today.year() - 1, today.year()]
        .iter()
        .flat_map(|y| [last_sunday(*y, 3), last_sunday(*y, 10)])
        .filter(|d| {
            *d < today - chrono::Duration::days(2) && *d > today - chrono::Duration::days(360)
        })
        .collect();
    dst.sort();
    assert!(dst.len() >= 2, "{dst:?}");
    let (spring, autumn) = (dst[dst.len() - 2], dst[dst.len() - 1]);
    let around = |d: NaiveDate| [d.pred_opt().unwrap(), d, d.succ_opt().unwrap()];
    let days: Vec<NaiveDate> = around(spring).into_iter().chain(around(autumn)).collect();
    let n = |pc: i64, i: usize| (pc * 5 + i as i64 * 3) % 9;
    // The whole history in one report, and the customer's sites.
    let (from, to) = (
        spring - chrono::Duration::days(3),
        today + chrono::Duration::days(1),
    );
    let all = format!("customer={}", a.customer_id);
    // The PCs' sites now, for the PCs the report lists.
    let mut on: BTreeMap<String, String> = BTreeMap::new();
    // The groups' members now, by group name, and the groups' ids.
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut group_ids: BTreeMap<String, i64> = BTreeMap::new();
    let check_report = |model: Model,
                        on: BTreeMap<String, String>,
                        members: BTreeMap<String, Vec<String>>,
                        group_ids: BTreeMap<String, i64>,
                        step: &'static str| {
        let admin = admin.clone();
        let all = all.clone();
        let portal = &portal;
        async move {
            let sites = ["aeroe-bib", "aeroe-borger", "aeroe-skole"];
            assert_eq!(
                report_groups(portal, &admin, &all, from, to).await,
                expected_groups(&model, &members, &sites, from, to),
                "{step}: groups, customer-wide"
            );
            assert_eq!(
                report_groups(portal, &admin, "site=aeroe-borger", from, to).await,
                expected_groups(&model, &members, &["aeroe-borger"], from, to),
                "{step}: groups, one site"
            );
            // One group: its members' days per site.
            for (name, id) in &group_ids {
                let only: Model = model
                    .iter()
                    .filter(|((pc, _), _)| members[name].contains(pc))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(
                    report(portal, &admin, &format!("{all}&group={id}"), from, to).await,
                    expected(&only, &sites, from, to),
                    "{step}: group {name}"
                );
            }
            assert_eq!(
                report(portal, &admin, &all, from, to).await,
                expected(&model, &sites, from, to),
                "{step}: customer-wide"
            );
            assert_eq!(
                report(portal, &admin, "site=aeroe-borger", from, to).await,
                expected(&model, &["aeroe-borger"], from, to),
                "{step}: one site"
            );
            // The PCs and the idle ones: over the whole history, a period that ends before
            // the PCs' latest logins (the days are asked), the autumn days alone, and today.
            for (f, t) in [
                (from, to),
                (from, autumn - chrono::Duration::days(1)),
                (
                    autumn - chrono::Duration::days(1),
                    autumn + chrono::Duration::days(1),
                ),
                (today, to),
            ] {
                for (scope, sites) in [
                    (all.as_str(), sites.as_slice()),
                    ("site=aeroe-borger", &["aeroe-borger"][..]),
                ] {
                    assert_eq!(
                        report_pcs(portal, &admin, scope, f, t).await,
                        expected_pcs(&model, &on, sites, f, t),
                        "{step}: PCs of {scope} from {f} to {t}"
                    );
                }
            }
        }
    };

    let mut model = Model::new();
    let p1 = Agent::register(&portal, 1, "aeroe-bib").await;
    let p2 = Agent::register(&portal, 2, "aeroe-bib").await;
    let p3 = Agent::register(&portal, 3, "aeroe-borger").await;
    let p4 = Agent::register(&portal, 4, "aeroe-borger").await;
    for (i, (p, site)) in [
        (&p1, "aeroe-bib"),
        (&p2, "aeroe-bib"),
        (&p3, "aeroe-borger"),
        (&p4, "aeroe-borger"),
    ]
    .into_iter()
    .enumerate()
    {
        portal
            .activate(if site == "aeroe-bib" { &a } else { &b }, &p.uid)
            .await;
        on.insert(p.uid.clone(), site.to_owned());
        if i == 0 {
            // The library's lending PCs: p1 is a member before it pushes anything.
            let g = store.add_group(a.id, "Udlån").await.unwrap();
            store
                .add_group_member(g, pc_id(&portal, &p1.uid).await)
                .await
                .unwrap();
            group_ids.insert("Udlån".to_owned(), g);
            members.insert("Udlån".to_owned(), vec![p1.uid.clone()]);
        }
        let pushed: Vec<_> = days
            .iter()
            .enumerate()
            .map(|(j, d)| (*d, n(i as i64 + 1, j)))
            .collect();
        p.push(&portal, &mut model, site, &pushed).await;
    }
    // A day of 0 logins is a day a PC reported.
    p4.push(&portal, &mut model, "aeroe-borger", &[(today, 0)])
        .await;
    let first = check(&portal, &model, "pushed").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "pushed",
    )
    .await;

    // p3 and p4 join a group after they pushed: their days join its figures.
    let scope = Scope::cli(store).await.unwrap();
    let borger = store.add_group(b.id, "Borgerservice").await.unwrap();
    group_ids.insert("Borgerservice".to_owned(), borger);
    for p in [&p3, &p4] {
        let id = pc_id(&portal, &p.uid).await;
        store.join_group(&scope, borger, id).await.unwrap().unwrap();
    }
    members.insert(
        "Borgerservice".to_owned(),
        vec![p3.uid.clone(), p4.uid.clone()],
    );
    assert_eq!(
        check(&portal, &model, "joined").await,
        first,
        "a join moves no day"
    );
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "joined",
    )
    .await;

    // The same push again changes nothing; a count 3 higher adds 3 to its site's day.
    let again: Vec<_> = days
        .iter()
        .enumerate()
        .map(|(j, d)| (*d, n(1, j)))
        .collect();
    p1.push(&portal, &mut model, "aeroe-bib", &again).await;
    assert_eq!(
        check(&portal, &model, "pushed again").await,
        first,
        "a repeat adds nothing"
    );
    let mut more = again.clone();
    more[1].1 += 3;
    p1.push(&portal, &mut model, "aeroe-bib", &more).await;
    let after = check(&portal, &model, "3 more").await;
    let row = |rows: &[Vec<String>], site: i64, d: NaiveDate| {
        rows.iter()
            .find(|r| r[0] == site.to_string() && r[1] == epoch_day(d).to_string())
            .cloned()
            .unwrap()
    };
    let (was, now) = (row(&first, a.id, spring), row(&after, a.id, spring));
    assert_eq!(
        (
            now[2].parse::<i64>().unwrap() - was[2].parse::<i64>().unwrap(),
            &now[3]
        ),
        (3, &was[3]),
        "3 logins more, no PC more"
    );
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "3 more",
    )
    .await;

    // p2 moves to the citizens' service (by its row, as upstream's admin would) and pushes
    // its old days with new counts (they stay at the library) and a new day (at the new site);
    // p3 moves the other way.
    for (pc, site) in [(&p2.uid, b.id), (&p3.uid, a.id)] {
        on.insert(
            pc.clone(),
            if site == a.id {
                "aeroe-bib"
            } else {
                "aeroe-borger"
            }
            .to_owned(),
        );
        let mut tx = store.db.begin_write().await.unwrap();
        for sql in [
            "UPDATE pcs SET site_id = $1 WHERE uid = $2",
            "UPDATE pc_inventory SET site_id = $1 WHERE pc_id = (SELECT id FROM pcs WHERE uid = $2)",
        ] {
            sqlx::query(sql)
                .bind(site)
                .bind(pc)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut moved: Vec<_> = days.iter().map(|d| (*d, 7)).collect();
    moved.push((today, 11));
    p2.push(&portal, &mut model, "aeroe-borger", &moved).await;
    p3.push(&portal, &mut model, "aeroe-bib", &[(today, 5), (autumn, 1)])
        .await;
    assert_eq!(
        model[&(p2.uid.clone(), spring)].0,
        "aeroe-bib",
        "the old day stays"
    );
    assert_eq!(model[&(p2.uid.clone(), today)].0, "aeroe-borger");
    check(&portal, &model, "moved").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "moved",
    )
    .await;

    // p4 leaves its group (its days leave the group's figures) and comes back.
    let p4_id = pc_id(&portal, &p4.uid).await;
    assert_eq!(
        store.leave_group(&scope, borger, p4_id).await.unwrap(),
        Some(true)
    );
    members
        .get_mut("Borgerservice")
        .unwrap()
        .retain(|p| *p != p4.uid);
    check(&portal, &model, "left").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "left",
    )
    .await;
    store
        .join_group(&scope, borger, p4_id)
        .await
        .unwrap()
        .unwrap();
    members
        .get_mut("Borgerservice")
        .unwrap()
        .push(p4.uid.clone());
    check(&portal, &model, "back").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "back",
    )
    .await;

    // Retention between the spring and the autumn days: the spring days go, with their
    // roll-up, and nothing else.
    let keep = (today - (autumn - chrono::Duration::days(20))).num_days();
    let now_ms = service_kit::db::now_ms();
    let cutoff = (now_ms - keep * DAY).div_euclid(DAY);
    let old = model.keys().filter(|(_, d)| epoch_day(*d) < cutoff).count() as u64;
    assert!(old > 0 && (old as usize) < model.len());
    let purged = store
        .purge_history(
            &Retention {
                checkin_days: keep,
                ..Default::default()
            },
            now_ms,
        )
        .await
        .unwrap();
    assert_eq!(purged.login_days, old);
    model.retain(|(_, d), _| epoch_day(*d) >= cutoff);
    check(&portal, &model, "retention").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "retention",
    )
    .await;

    // A PC deleted: its days leave its sites' figures.
    assert!(store.delete_pc(b.id, &p4.uid).await.unwrap());
    model.retain(|(pc, _), _| *pc != p4.uid);
    on.remove(&p4.uid);
    members
        .get_mut("Borgerservice")
        .unwrap()
        .retain(|p| *p != p4.uid);
    check(&portal, &model, "PC deleted").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "PC deleted",
    )
    .await;

    // The library deleted: its days go, and so do the days its PCs now (p1, p3) reported
    // elsewhere (p3's at the citizens' service); p2's days there stay with p2 gone from it.
    assert!(
        model.keys().any(|(pc, _)| *pc == p3.uid)
            && model.values().any(|(s, _)| s == "aeroe-borger")
    );
    store.delete_site(&scope, a.id).await.unwrap().unwrap();
    model.retain(|(pc, _), (site, _)| site != "aeroe-bib" && *pc != p1.uid && *pc != p3.uid);
    on.retain(|_, site| site != "aeroe-bib");
    // Its group goes; p3 (there now) leaves the citizens' service group with its days.
    members.remove("Udlån");
    group_ids.remove("Udlån");
    members
        .get_mut("Borgerservice")
        .unwrap()
        .retain(|p| *p != p3.uid);
    assert!(!model.is_empty());
    check(&portal, &model, "site deleted").await;
    check_report(
        model.clone(),
        on.clone(),
        members.clone(),
        group_ids.clone(),
        "site deleted",
    )
    .await;
}
