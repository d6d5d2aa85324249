//! What the changes report's tests share: operators of two customers doing real work through
//! the operator API and the pages (running scripts on PCs and a group, activating PCs one by
//! one, in bulk and on the PC page, changing configuration and a group, a superuser making a
//! customer), the test's own record of each thing done, held to the audit log's raw rows, and
//! the records moved to chosen instants around both DST changes of 2026 so that local dates
//! are put to the test. Every expected figure is computed here from that record and the raw
//! instants (local dates by chrono-tz, the test's own reckoning), never by the code under test.

use super::Portal;
use super::reports::api_user;
use super::web::WebUser;
use borgerpc_admin::store::tenants::Site;
use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Europe::Copenhagen;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A raw audit row: actor, site, action, settings (0/1), PC, group, batch.
type AuditRow = (
    String,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// One thing an operator did, as the test knows it.
#[derive(Debug, Clone)]
pub(crate) struct Did {
    pub actor: String,
    /// The site's uid; `None` for a portal-wide change.
    pub site: Option<String>,
    pub action: &'static str,
    /// A script run's PCs, and how many of them are members of the group.
    pub pcs: Option<i64>,
    pub members: Option<i64>,
    /// A settings change (a value before and after).
    pub setting: bool,
    pub pc: Option<i64>,
    pub group: Option<i64>,
    /// When it is recorded as done, after [`Scenario::spread`].
    pub at: i64,
    pub id: i64,
}

pub(crate) struct Scenario {
    pub bib: Site,
    pub borger: Site,
    pub fanoe: Site,
    /// The library's five PCs; the group holds the first and the third.
    pub pcs: Vec<i64>,
    pub group: i64,
    pub fanoe_group: i64,
    /// Session tokens: ida administers customer Ærø, ole the library, sif is a site user
    /// there, bo administers Fanø, root is a superuser.
    pub ida: String,
    pub ole: String,
    pub sif: String,
    pub bo: String,
    pub root: String,
    /// A read-only API key of the library.
    pub key: String,
    pub did: Vec<Did>,
}

pub(crate) async fn call(
    portal: &Portal,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = reqwest::Client::new();
    let url = format!("{}{path}", portal.url);
    let req = match method {
        "post" => c.post(url),
        "patch" => c.patch(url),
        _ => c.get(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// GET as `token`, asserting the status.
pub(crate) async fn get_ok(portal: &Portal, token: &str, path: &str) -> Value {
    let (s, v) = call(portal, token, "get", path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

impl Scenario {
    fn did(&mut self, actor: &str, site: Option<&Site>, action: &'static str) -> &mut Did {
        self.did.push(Did {
            actor: format!("user:{actor}"),
            site: site.map(|s| s.uid.clone()),
            action,
            pcs: None,
            members: None,
            setting: false,
            pc: None,
            group: None,
            at: 0,
            id: 0,
        });
        self.did.last_mut().unwrap()
    }

    async fn api(&self, portal: &Portal, token: &str, method: &str, path: &str, body: Value) {
        let (s, v) = call(portal, token, method, path, Some(body)).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
    }

    /// Runs the echo script on PCs and groups of the library (or Fanø's) as `who`.
    async fn run(
        &mut self,
        portal: &Portal,
        who: (&str, &str),
        script: i64,
        pcs: &[i64],
        groups: &[i64],
        reached: i64,
    ) {
        let body =
            json!({"script_id": script, "pcs": pcs, "groups": groups, "parameters": ["hej"]});
        self.api(portal, who.1, "post", "/api/system/jobs", body)
            .await;
        let site = if pcs.iter().any(|p| self.pcs.contains(p)) || groups.contains(&self.group) {
            self.bib.clone()
        } else {
            self.fanoe.clone()
        };
        let members = if site.id == self.bib.id {
            Some(
                [self.pcs[0], self.pcs[2]]
                    .iter()
                    .filter(|m| pcs.contains(m) || groups.contains(&self.group))
                    .count() as i64,
            )
        } else {
            None
        };
        let d = self.did(who.0, Some(&site), "script.run");
        d.pcs = Some(reached);
        d.members = members;
    }

    /// Whether the group report keeps the record: it names the group or one of its members,
    /// or it is a run that reached a member.
    pub(crate) fn in_group(&self, d: &Did) -> bool {
        d.group == Some(self.group)
            || d.pc.is_some_and(|p| p == self.pcs[0] || p == self.pcs[2])
            || d.members.is_some_and(|m| m > 0)
    }

    /// Moves every record to an instant of its own around the DST changes of 2026 (and a
    /// week or more later), oldest first in the order they were done, and notes it.
    pub(crate) async fn spread(&mut self, portal: &Portal) {
        let local = |y, m, d, h, min| {
            Copenhagen
                .with_ymd_and_hms(y, m, d, h, min, 0)
                .earliest()
                .unwrap()
                .timestamp_millis()
        };
        let hour = 3_600_000;
        // 02:30 on 25 October happens twice: CEST first, then CET an hour later.
        let first_0230 = local(2026, 10, 25, 2, 30);
        let base = [
            local(2026, 3, 28, 23, 30),
            local(2026, 3, 29, 0, 30),
            local(2026, 3, 29, 1, 59),
            local(2026, 3, 29, 3, 30),
            local(2026, 3, 29, 23, 30),
            local(2026, 3, 30, 0, 10),
            local(2026, 10, 25, 0, 30),
            first_0230,
            first_0230 + hour,
            local(2026, 10, 25, 23, 59),
            local(2026, 10, 26, 0, 0),
            local(2026, 11, 3, 12, 0),
        ];
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
            .fetch_all(portal.store.pool())
            .await
            .unwrap();
        assert_eq!(ids.len(), self.did.len());
        let mut tx = portal.store.db.begin_write().await.unwrap();
        for (i, (id, d)) in ids.iter().zip(self.did.iter_mut()).enumerate() {
            let at = base[i % base.len()] + (i / base.len()) as i64 * 8 * 24 * hour;
            sqlx::query("UPDATE audit_log SET at = $1 WHERE id = $2")
                .bind(at)
                .bind(*id)
                .execute(&mut *tx)
                .await
                .unwrap();
            d.at = at;
            d.id = *id;
        }
        tx.commit().await.unwrap();
        // Written around the store: the reports' daily roll-ups counted again from the rows.
        portal.store.rebuild_report_rollups().await.unwrap();
    }
}

/// The local date of an instant, by chrono-tz.
pub(crate) fn local_date(at: i64) -> NaiveDate {
    chrono::Utc
        .timestamp_millis_opt(at)
        .unwrap()
        .with_timezone(&Copenhagen)
        .date_naive()
}

/// What the report should count for some records: (actions, runs, PCs reached, activations,
/// deactivations, settings). `group`: PCs reached count the group's members only.
pub(crate) fn counts<'a>(did: impl IntoIterator<Item = &'a Did>, group: bool) -> [i64; 6] {
    let mut c = [0; 6];
    for d in did {
        c[0] += 1;
        if d.action == "script.run" {
            c[1] += 1;
            c[2] += if group {
                d.members.unwrap_or(0)
            } else {
                d.pcs.unwrap_or(0)
            };
        }
        c[3] += i64::from(d.action == "pc.activate");
        c[4] += i64::from(d.action == "pc.deactivate");
        c[5] += i64::from(d.setting);
    }
    c
}

/// The same counts as a JSON object of the report has them.
pub(crate) fn counts_of(v: &Value) -> [i64; 6] {
    [
        "actions",
        "script_runs",
        "pcs_reached",
        "activations",
        "deactivations",
        "settings_changes",
    ]
    .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

/// Per local date of the period, the counts of the records on it.
pub(crate) fn per_day(
    did: &[&Did],
    from: NaiveDate,
    to: NaiveDate,
    group: bool,
) -> Vec<(String, [i64; 6])> {
    from.iter_days()
        .take_while(|d| *d < to)
        .map(|day| {
            let on: Vec<&Did> = did
                .iter()
                .copied()
                .filter(|d| local_date(d.at) == day)
                .collect();
            (day.to_string(), counts(on, group))
        })
        .collect()
}

/// Per ISO week, of the period's dates: (week, first date, dates, counts).
pub(crate) fn per_week(
    did: &[&Did],
    from: NaiveDate,
    to: NaiveDate,
    group: bool,
) -> Vec<(String, String, i64, [i64; 6])> {
    let mut weeks: BTreeMap<(i32, u32), (NaiveDate, i64, Vec<&Did>)> = BTreeMap::new();
    for day in from.iter_days().take_while(|d| *d < to) {
        let w = day.iso_week();
        let e = weeks
            .entry((w.year(), w.week()))
            .or_insert((day, 0, Vec::new()));
        e.1 += 1;
        e.2.extend(did.iter().copied().filter(|d| local_date(d.at) == day));
    }
    weeks
        .into_iter()
        .map(|((y, w), (first, n, on))| {
            (
                format!("{y}-W{w:02}"),
                first.to_string(),
                n,
                counts(on, group),
            )
        })
        .collect()
}

/// Per actor, their counts, most actions first (then by actor).
pub(crate) fn per_user(did: &[&Did], group: bool) -> Vec<(String, [i64; 6])> {
    let actors: BTreeSet<&str> = did.iter().map(|d| d.actor.as_str()).collect();
    let mut out: Vec<(String, [i64; 6])> = actors
        .into_iter()
        .map(|a| {
            let mine = did.iter().copied().filter(|d| d.actor == a);
            (a.to_owned(), counts(mine, group))
        })
        .collect();
    out.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
    out
}

/// Per action, its records, most first (then by action).
pub(crate) fn per_action(did: &[&Did]) -> Vec<(String, i64)> {
    let mut m: BTreeMap<&str, i64> = BTreeMap::new();
    for d in did {
        *m.entry(d.action).or_default() += 1;
    }
    let mut out: Vec<(String, i64)> = m.into_iter().map(|(a, n)| (a.to_owned(), n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// The records' ids, newest first (by instant, then id).
pub(crate) fn newest_first(did: &[&Did]) -> Vec<i64> {
    let mut v: Vec<(i64, i64)> = did.iter().map(|d| (d.at, d.id)).collect();
    v.sort_by(|a, b| b.cmp(a));
    v.into_iter().map(|(_, id)| id).collect()
}

/// Two customers, three sites, PCs, a group, users of every kind, and the work they do.
pub(crate) async fn scenario(portal: &Portal) -> Scenario {
    let store = &portal.store;
    let bib = portal.site("Ærø", "aeroe-bib").await;
    let borger = portal.site("Ærø", "aeroe-borger").await;
    let fanoe = portal.site("Fanø", "fanoe-bib").await;
    let mut pcs = Vec::new();
    for i in 1..=5 {
        pcs.push(portal.pc(&bib, &format!("bib-{i}")).await.0);
    }
    let (_, q1) = portal.pc(&borger, "borger-1").await;
    let (_, q2) = portal.pc(&borger, "borger-2").await;
    let f1 = portal.pc(&fanoe, "fanoe-1").await.0;
    let f2 = portal.pc(&fanoe, "fanoe-2").await.0;
    let script = portal.echo_script(Some(&bib), "Hilsen").await.script_id;
    let fanoe_script = portal.echo_script(Some(&fanoe), "Hej Fanø").await.script_id;
    let fanoe_group = store.add_group(fanoe.id, "Fanø-gruppe").await.unwrap();

    let ida = api_user(
        portal,
        "ida",
        Some(("customer_admin", Some(bib.customer_id))),
    )
    .await;
    let bo = api_user(
        portal,
        "bo",
        Some(("customer_admin", Some(fanoe.customer_id))),
    )
    .await;
    let root = api_user(portal, "root", None).await;
    // Site roles through the store's grant (as the users page makes them).
    let site_user = |name: &'static str, role: &'static str| {
        let bib = bib.clone();
        async move {
            let u = store
                .add_user(
                    name,
                    &format!("{name}@kommune.dk"),
                    super::web::PASSWORD,
                    false,
                )
                .await
                .unwrap();
            store
                .add_membership(u.id, role, None, Some(bib.id))
                .await
                .unwrap();
            api_user_login(portal, name).await
        }
    };
    let ole = site_user("ole", "site_admin").await;
    let sif = site_user("sif", "site_user").await;
    let key = store.add_api_key(bib.id, "bi", false).await.unwrap();

    let mut s = Scenario {
        bib: bib.clone(),
        borger: borger.clone(),
        fanoe: fanoe.clone(),
        pcs: pcs.clone(),
        group: 0,
        fanoe_group,
        ida: ida.clone(),
        ole: ole.clone(),
        sif: sif.clone(),
        bo: bo.clone(),
        root: root.clone(),
        key,
        did: Vec::new(),
    };
    let (p1, p2, p3, p4) = (pcs[0], pcs[1], pcs[2], pcs[3]);

    // ida makes a group of the library's PCs 1 and 3 and describes it.
    let (st, g) = call(
        portal,
        &ida,
        "post",
        "/api/system/groups",
        Some(json!({"site": "aeroe-bib", "name": "Læsesal; \"hjørnet\""})),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    s.group = g["id"].as_i64().unwrap();
    let group = s.group;
    s.did("ida", Some(&bib), "group.create").group = Some(group);
    for pc in [p1, p3] {
        s.api(
            portal,
            &ida,
            "post",
            &format!("/api/system/group/{group}/members"),
            json!({"pc_id": pc}),
        )
        .await;
        let d = s.did("ida", Some(&bib), "group.join");
        d.group = Some(group);
        d.pc = Some(pc);
    }
    s.api(
        portal,
        &ida,
        "patch",
        &format!("/api/system/group/{group}"),
        json!({"description": "Ved vinduet"}),
    )
    .await;
    let d = s.did("ida", Some(&bib), "group.change");
    d.group = Some(group);
    d.setting = true;

    // Script runs: on all five PCs, on two, on the group, and a site user's on one.
    s.run(portal, ("ida", &ida), script, &pcs, &[], 5).await;
    s.run(portal, ("ole", &ole), script, &[p1, p2], &[], 2)
        .await;
    s.run(portal, ("ida", &ida), script, &[], &[group], 2).await;
    s.run(portal, ("sif", &sif), script, &[p4], &[], 1).await;

    // Activations: one by one, a deactivation, in bulk at the citizens' service.
    for pc in [p1, p2, p3] {
        s.api(
            portal,
            &ole,
            "post",
            &format!("/api/system/pc/{pc}/activate"),
            json!({"is_activated": true}),
        )
        .await;
        s.did("ole", Some(&bib), "pc.activate").pc = Some(pc);
    }
    s.api(
        portal,
        &ole,
        "post",
        &format!("/api/system/pc/{p3}/activate"),
        json!({"is_activated": false}),
    )
    .await;
    s.did("ole", Some(&bib), "pc.deactivate").pc = Some(p3);
    s.api(
        portal,
        &ida,
        "post",
        "/api/system/pcs/activate",
        json!({"uids": [q1, q2], "is_activated": true}),
    )
    .await;
    // One record per PC, in an order of the store's: the PCs are matched to the rows below.
    for _ in 0..2 {
        s.did("ida", Some(&borger), "pc.activate");
    }

    // Configuration: two keys of the site, one of PC 2, one of PC 1 (a member).
    s.api(
        portal,
        &ida,
        "patch",
        &format!("/api/system/site/{}/config", bib.id),
        json!({"entries": {"hjemmeside": "https://aeroe.dk", "lyd": "=1+2"}}),
    )
    .await;
    for _ in 0..2 {
        s.did("ida", Some(&bib), "config.set").setting = true;
    }
    for (pc, value) in [(p2, "HP"), (p1, "Canon")] {
        s.api(
            portal,
            &ole,
            "patch",
            &format!("/api/system/pc/{pc}/config"),
            json!({"entries": {"printer": value}}),
        )
        .await;
        let d = s.did("ole", Some(&bib), "config.set");
        d.setting = true;
        d.pc = Some(pc);
    }

    // On the PC's page: ole activates PC 4.
    let mut web = WebUser::login(portal, "ole").await;
    web.get(&format!("/steder/aeroe-bib/pc/{p4}")).await;
    let a = web
        .post(
            &format!("/steder/aeroe-bib/pc/{p4}/aktivering"),
            &[("aktiveret", "ja")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    s.did("ole", Some(&bib), "pc.activate").pc = Some(p4);

    // Fanø: bo runs a script on both PCs and activates one.
    s.run(portal, ("bo", &bo), fanoe_script, &[f1, f2], &[], 2)
        .await;
    s.api(
        portal,
        &bo,
        "post",
        &format!("/api/system/pc/{f1}/activate"),
        json!({"is_activated": true}),
    )
    .await;
    s.did("bo", Some(&fanoe), "pc.activate").pc = Some(f1);

    // The superuser makes a customer on the customers' page: a portal-wide record.
    let mut web = WebUser::login(portal, "root").await;
    web.get("/kunder").await;
    let a = web.post("/kunder", &[("navn", "Læsø")]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    s.did("root", None, "customer.create");

    // The test's record is the audit log's, row for row.
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT actor, site_id, action, CASE WHEN detail IS NULL THEN 0 ELSE 1 END,
                    pc_id, group_id, batch_id FROM audit_log ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let site_id = |uid: &Option<String>| {
        uid.as_ref().map(|u| {
            [&bib, &borger, &fanoe]
                .iter()
                .find(|s| &s.uid == u)
                .unwrap()
                .id
        })
    };
    assert_eq!(rows.len(), s.did.len(), "{rows:#?}");
    let borger_ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM pcs WHERE site_id = $1 ORDER BY id")
            .bind(borger.id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut bulk = BTreeSet::new();
    for (r, d) in rows.iter().zip(s.did.iter_mut()) {
        if d.site.as_deref() == Some("aeroe-borger") {
            assert!(r.4.is_some_and(|pc| borger_ids.contains(&pc)), "{r:?}");
            bulk.insert(r.4);
            d.pc = r.4;
        }
        assert_eq!(
            (&r.0, r.1, r.2.as_str(), r.3 == 1, r.4, r.5),
            (
                &d.actor,
                site_id(&d.site),
                d.action,
                d.setting,
                d.pc,
                d.group
            ),
            "{d:?}"
        );
        assert_eq!(r.6.is_some(), d.action == "script.run", "{d:?}");
    }
    assert_eq!(bulk.len(), 2, "both PCs of the bulk activation");
    s.spread(portal).await;
    s
}

/// Logs a user in through the API: the session token.
async fn api_user_login(portal: &Portal, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": name, "password": super::web::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {name}");
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
