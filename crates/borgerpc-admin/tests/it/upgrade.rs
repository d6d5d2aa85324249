//! Upgrades: a database from every schema this portal has shipped, holding a site as the
//! first schema stored it (`tests/fixtures/schema-1.sql`), is migrated by today's code and
//! read through the store; `migrate --check` lists what is pending and changes nothing.

use borgerpc_admin::store::job_views::ScriptKind;
use borgerpc_admin::store::views::{EventFilter, EventSort, PcFilter, PcSort};
use borgerpc_admin::store::{MIGRATIONS, Store};
use service_kit::testing::run;
use service_kit::testing::upgrade::earlier_schemas;
use std::collections::BTreeMap;

const FIXTURE: &str = include_str!("../fixtures/schema-1.sql");
const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");

#[tokio::test]
async fn every_earlier_schema_migrates_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = earlier_schemas(dir.path(), MIGRATIONS, FIXTURE)
        .await
        .unwrap();
    assert_eq!(schemas.len(), MIGRATIONS.len() - 1);
    for (k, url) in schemas {
        let from = MIGRATIONS[k - 1].version;
        let store = Store::open(&url, 2)
            .await
            .unwrap_or_else(|e| panic!("from schema {from}: {e:#}"));
        let site = store.site_by_uid("fixture").await.unwrap().unwrap();
        // Counts kept since migration 7 are those of the rows, whatever schema they came from.
        let tile = store.site_tiles(&[site.id], 0).await.unwrap().remove(0);
        assert_eq!((tile.pcs, tile.activated), (3, 2), "from {from}");
        assert_eq!(
            tile.products,
            vec![("os2borgerpc".into(), 2), ("os2borgerpc kiosk".into(), 1)],
            "from {from}"
        );
        assert_eq!(tile.releases, vec![("22.04".into(), 3)], "from {from}");
        let (pcs, n) = store
            .pc_rows(
                site.id,
                &PcFilter::default(),
                PcSort::Attention,
                50,
                0,
                0,
                None,
            )
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(pcs[0].name, "bib-pc-3", "new PCs first, from {from}");
        let (events, _) = store
            .event_rows(site.id, &EventFilter::default(), EventSort::Newest, 50, 0)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].level.as_str(), events[0].rule_name.as_str()),
            ("HIGH", "Sudo")
        );
        // The jobs and their script, not deleted by migration 8's new column.
        let statuses: BTreeMap<String, i64> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs WHERE site_id = $1 GROUP BY status")
                .bind(site.id)
                .fetch_all(store.pool())
                .await
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(
            statuses,
            BTreeMap::from([("DONE".into(), 1), ("FAILED".into(), 1)])
        );
        let script: i64 = sqlx::query_scalar("SELECT id FROM scripts WHERE name = 'Sig hej'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let page = store
            .script_page(site.id, ScriptKind::Normal, script)
            .await
            .unwrap();
        assert!(page.is_some(), "the script is listed, from {from}");
        let groups = store.groups(&[site.id]).await.unwrap();
        assert_eq!(groups.len(), 1, "from {from}");
        store.db.close().await;
    }
}

#[tokio::test]
async fn migrate_check_lists_what_is_pending_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = earlier_schemas(dir.path(), &MIGRATIONS[..2], FIXTURE)
        .await
        .unwrap()
        .remove(0);
    let env: BTreeMap<String, String> =
        BTreeMap::from([("BORGERPC_DATABASE__URL".to_owned(), url.clone())]);
    let cmd =
        |args: &[&str]| service_kit::testing::command_in(BIN, dir.path(), "BORGERPC_", &env, args);
    let check = cmd(&["migrate", "--check"]).output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.starts_with("pending: 2 operator\n"), "{out}");
    assert_eq!(out.lines().count(), MIGRATIONS.len() - 1, "{out}");
    // Still at schema 1: the check changed nothing.
    let again = cmd(&["migrate", "--check"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), out);
    let (ok, migrated) = run(cmd(&["migrate"]));
    assert!(ok, "{migrated}");
    let (ok, current) = run(cmd(&["migrate", "--check"]));
    assert!(ok, "{current}");
    assert!(
        current.contains(&format!(
            "up to date: {} migrations applied",
            MIGRATIONS.len()
        )),
        "{current}"
    );
    // An older binary on this database would refuse it; this one refuses a newer schema.
    let db = service_kit::db::Db::connect(&url, 1).await.unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)")
        .execute(db.reader())
        .await
        .unwrap();
    db.close().await;
    let (ok, refused) = run(cmd(&["customer", "list"]));
    assert!(!ok && refused.contains("migration 999"), "{refused}");
    let newer = cmd(&["migrate", "--check"]).output().unwrap();
    assert_eq!(newer.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&newer.stdout).contains("newer: migration 999"));
}

/// Migration 11 fills the availability roll-up from the check-ins kept so far: per site and
/// UTC day, each quarter's count is the number of the site's PCs (now) whose bit is set, and
/// the PCs counted are the site's.
#[tokio::test]
async fn the_rollup_is_back_filled_from_the_checkins_kept() {
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'b', 'B', 0 FROM customers".to_owned(),
    ];
    // Three PCs at a, one at b; the kept counts as migration 7 keeps them.
    let pcs = [("a", 1), ("a", 2), ("a", 3), ("b", 4)];
    for (site, n) in pcs {
        statements.push(format!(
            "INSERT INTO pcs (site_id, uid, mac, name, created_at)
             SELECT id, 'pc-{n}', '02:00:00:00:00:0{n}', 'pc-{n}', 0 FROM sites WHERE uid = '{site}'"
        ));
    }
    for (site, n) in [("a", 3), ("b", 1)] {
        statements.push(format!(
            "INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
             SELECT id, 'pcs', '', {n} FROM sites WHERE uid = '{site}'"
        ));
    }
    // Bits in a pattern per PC and day; pc-3 has no history.
    let mut bits: BTreeMap<(String, i64), [i64; 96]> = BTreeMap::new();
    for (site, n) in pcs.iter().filter(|(_, n)| *n != 3) {
        for day in 20_400..20_404i64 {
            let (mut q0, mut q1) = (0i64, 0i64);
            for q in 0..96i64 {
                if (q * 7 + day * 3 + n * 11) % 5 < 2 {
                    if q < 48 {
                        q0 |= 1 << q;
                    } else {
                        q1 |= 1 << (q - 48);
                    }
                    bits.entry((site.to_string(), day)).or_insert([0; 96])[q as usize] += 1;
                }
            }
            statements.push(format!(
                "INSERT INTO checkin_days (pc_id, day, checkins, q0, q1, first_at, last_at)
                 SELECT id, {day}, 1, {q0}, {q1}, 0, 0 FROM pcs WHERE uid = 'pc-{n}'"
            ));
        }
    }
    let (_dir, url) = before_migration(11, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    let cols: Vec<String> = (0..96)
        .map(|q| format!("CAST(n{q:02} AS BIGINT)"))
        .collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT s.uid, r.day, CAST(r.pcs AS BIGINT), {} FROM site_checkin_days r
         JOIN sites s ON s.id = r.site_id ORDER BY s.uid, r.day",
        cols.join(", ")
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    use sqlx::Row as _;
    let got: BTreeMap<(String, i64), (i64, Vec<i64>)> = rows
        .iter()
        .map(|r| {
            let n: Vec<i64> = (0..96).map(|q| r.get(3 + q)).collect();
            ((r.get(0), r.get(1)), (r.get(2), n))
        })
        .collect();
    let want: BTreeMap<(String, i64), (i64, Vec<i64>)> = bits
        .into_iter()
        .map(|((site, day), n)| {
            let pcs = if site == "a" { 3 } else { 1 };
            ((site, day), (pcs, n.to_vec()))
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        got.values().any(|(_, n)| n.contains(&2)),
        "two PCs in one quarter"
    );
    store.db.close().await;
}

/// Migration 16 fills the inventory from the entries the PCs had, and the PC list's
/// `pcs.client_version` (which nothing wrote before) from the agent's version entry.
#[tokio::test]
async fn the_inventory_and_pc_versions_are_back_filled_from_the_entries() {
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
    ];
    for n in 1..=3 {
        statements.push(format!(
            "INSERT INTO pcs (site_id, uid, mac, name, created_at)
             SELECT id, 'pc-{n}', '02:00:00:00:00:0{n}', 'pc-{n}', 0 FROM sites WHERE uid = 'a'"
        ));
    }
    // pc-1 reports everything asked about here, pc-2 only a release, pc-3 nothing; a
    // site's entry is not a PC's.
    let entries = [
        ("pc", "pc-1", "_os2borgerpc.client_version", "3.2.0"),
        ("pc", "pc-1", "_os_release", "22.04"),
        ("pc", "pc-1", "pc_model", "ThinkCentre M70q"),
        ("pc", "pc-2", "_os_release", "24.04"),
    ];
    for (kind, pc, key, value) in entries {
        statements.push(format!(
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
             SELECT '{kind}', id, '{key}', '{value}', 1 FROM pcs WHERE uid = '{pc}'"
        ));
    }
    statements.push(
        "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
         SELECT 'site', id, '_os2borgerpc.client_version', '9.9.9', 0 FROM sites"
            .to_owned(),
    );
    let (_dir, url) = before_migration(16, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    // uid, pcs.client_version, and the inventory's client version, release and model.
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let got: Vec<Row> = sqlx::query_as(
        "SELECT p.uid, p.client_version, i.client_version, i.os_release, i.pc_model
             FROM pcs p JOIN pc_inventory i ON i.pc_id = p.id AND i.site_id = p.site_id
             ORDER BY p.uid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        got,
        vec![
            (
                "pc-1".into(),
                s("3.2.0"),
                s("3.2.0"),
                s("22.04"),
                s("ThinkCentre M70q")
            ),
            ("pc-2".into(), None, None, s("24.04"), None),
            ("pc-3".into(), None, None, None, None),
        ]
    );
    store.db.close().await;
}

/// Migration 17 back-fills the jobs, security and changes reports' roll-ups from the rows kept
/// so far, by the local dates chrono-tz gives their instants (across the 2026 clock changes),
/// as the store keeps them after.
#[tokio::test]
async fn the_ops_rollups_are_back_filled_from_the_rows_kept() {
    use crate::common::ops::{at, local_date};
    let times = [
        at("2026-03-29T00:30:00+01:00"),
        at("2026-03-29T03:30:00+02:00"),
        at("2026-03-29T23:30:00+02:00"),
        at("2026-10-25T02:30:00+02:00"),
        at("2026-10-25T02:30:00+01:00"),
        at("2026-10-26T00:10:00+01:00"),
    ];
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-1', '02:00:00:00:00:01', 'pc-1', 0 FROM sites".to_owned(),
        "INSERT INTO scripts (site_id, name, is_security, created_at, updated_at) SELECT id, 'S', 1, 0, 0 FROM sites".to_owned(),
        "INSERT INTO script_versions (script_id, version, executable_code, code_sha256, created_at) SELECT id, 1, 'true', 'x', 0 FROM scripts".to_owned(),
        "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at) SELECT s.site_id, v.id, 'B', 'user:x', 0 FROM script_versions v JOIN scripts s ON s.id = v.script_id".to_owned(),
        "INSERT INTO security_problems (site_id, name, level, script_id, created_at) SELECT site_id, 'R', 'HIGH', id, 0 FROM scripts".to_owned(),
    ];
    let statuses = ["DONE", "FAILED", "NEW", "SUBMITTED", "RESOLVED", "DONE"];
    for (i, t) in times.iter().enumerate() {
        let reported = if i % 2 == 0 {
            t.to_string()
        } else {
            "NULL".into()
        };
        statements.push(format!(
            "INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at, reported_at, duration_ms)
             SELECT b.id, p.id, p.site_id, '{}', {t}, {reported}, {} FROM batches b, pcs p",
            statuses[i],
            if i == 0 { "1000" } else { "NULL" }
        ));
        // The resolved ones handled an hour later (migration 22 back-fills their wait).
        statements.push(format!(
            "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text, reported_at, summary, status, handled_at)
             SELECT p.site_id, p.id, 'security', r.id, {t}, 'x', {t}, 'y', '{}', {} FROM pcs p, security_problems r",
            if i % 3 == 0 { "RESOLVED" } else { "NEW" },
            if i % 3 == 0 { format!("{t} + 3600000") } else { "NULL".into() }
        ));
        statements.push(format!(
            "INSERT INTO audit_log (at, actor, site_id, action, target, detail)
             SELECT {t}, 'user:ida', {}, 'config.set', 'x', {} FROM sites",
            if i == 5 { "NULL" } else { "id" },
            if i % 2 == 0 { "'{}'" } else { "NULL" }
        ));
    }
    let (_dir, url) = before_migration(17, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    for (table, recount, kept) in store.report_rollups_compared().await.unwrap() {
        assert_eq!(kept, recount, "{table}");
        assert!(!kept.is_empty(), "{table}");
    }
    // The days are chrono-tz's local dates of the instants.
    let days = |sql: &'static str| {
        let pool = store.pool().clone();
        async move {
            let rows: Vec<(i64, i64)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
            rows.into_iter()
                .filter(|(_, n)| *n != 0)
                .collect::<BTreeMap<i64, i64>>()
        }
    };
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for t in &times {
        let d = local_date(*t);
        *want
            .entry(borgerpc_admin::store::history::epoch_day(d))
            .or_default() += 1;
    }
    assert_eq!(
        days("SELECT day, CAST(SUM(jobs) AS BIGINT) FROM job_days WHERE time_kind = 'created' GROUP BY day").await,
        want
    );
    assert_eq!(
        days("SELECT day, CAST(SUM(events) AS BIGINT) FROM security_event_days GROUP BY day").await,
        want
    );
    assert_eq!(
        days("SELECT day, CAST(SUM(records) AS BIGINT) FROM audit_days GROUP BY day").await,
        want
    );
    let portal_wide: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(records) AS BIGINT) FROM audit_days WHERE site_id = 0")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(portal_wide, 1);
    store.db.close().await;
}

/// Migration 18 back-fills the usage roll-up from the login days kept so far, each at the
/// site it was reported at (a moved PC's earlier days at its old site), days of 0 logins
/// counted as days a PC reported; the report then reads it. Migration 19 back-fills where
/// each PC has days (`pc_login_sites`) from the same rows, and migration 20 a group's roll-up
/// from its members' days.
#[tokio::test]
async fn the_usage_rollup_is_back_filled_from_the_login_days() {
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'b', 'B', 0 FROM customers".to_owned(),
    ];
    // pc-1 and pc-2 at a, pc-3 at b; pc-2 reported its first days at b before it moved.
    for (site, n) in [("a", 1), ("a", 2), ("b", 3)] {
        statements.push(format!(
            "INSERT INTO pcs (site_id, uid, mac, name, created_at)
             SELECT id, 'pc-{n}', '02:00:00:00:00:0{n}', 'pc-{n}', 0 FROM sites WHERE uid = '{site}'"
        ));
    }
    // A group of pc-1 and pc-2 (pc-2's days at b count in it at b): migration 20's.
    statements.push(
        "INSERT INTO pc_groups (site_id, name, created_at) SELECT id, 'G', 0 FROM sites WHERE uid = 'a'"
            .to_owned(),
    );
    statements.push(
        "INSERT INTO pc_group_members (pc_id, group_id)
         SELECT p.id, g.id FROM pcs p, pc_groups g WHERE p.uid IN ('pc-1', 'pc-2')"
            .to_owned(),
    );
    let mut group_want: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut want: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    // (PC, site) -> (first day, last day, last day with a login): migration 19's.
    let mut where_pcs: BTreeMap<(String, String), (i64, i64, Option<i64>)> = BTreeMap::new();
    for (pc, at) in [(1, "a"), (2, "b"), (2, "a"), (3, "b")] {
        let days = if pc == 2 && at == "b" {
            20_400..20_403i64
        } else {
            20_403..20_406
        };
        for day in days {
            let logins = (pc * 5 + day) % 4;
            statements.push(format!(
                "INSERT INTO pc_login_days (pc_id, day, site_id, logins)
                 SELECT p.id, {day}, s.id, {logins} FROM pcs p, sites s
                 WHERE p.uid = 'pc-{pc}' AND s.uid = '{at}'"
            ));
            let e = want.entry((at.to_owned(), day)).or_default();
            e.0 += logins;
            e.1 += 1;
            if pc != 3 {
                let g = group_want.entry((at.to_owned(), day)).or_default();
                g.0 += logins;
                g.1 += 1;
            }
            let w = where_pcs
                .entry((format!("pc-{pc}"), at.to_owned()))
                .or_insert((day, day, None));
            w.1 = day;
            if logins > 0 {
                w.2 = Some(day);
            }
        }
    }
    assert!(
        where_pcs.values().any(|w| w.2 != Some(w.1)),
        "a latest day without a login"
    );
    assert!(want.values().any(|(n, _)| *n == 0), "a day of 0 logins");
    let (_dir, url) = before_migration(18, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    let got: BTreeMap<(String, i64), (i64, i64)> = sqlx::query_as::<_, (String, i64, i64, i64)>(
        "SELECT s.uid, r.day, r.logins, r.pcs FROM site_login_days r JOIN sites s ON s.id = r.site_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(s, d, l, p)| ((s, d), (l, p)))
    .collect();
    assert_eq!(got, want);
    let (_, recount, kept) = store.usage_rollup_compared().await.unwrap();
    assert_eq!(kept, recount);
    let got: BTreeMap<(String, String), (i64, i64, Option<i64>)> =
        sqlx::query_as::<_, (String, String, i64, i64, Option<i64>)>(
            "SELECT p.uid, s.uid, x.first_day, x.last_day, x.last_active FROM pc_login_sites x
             JOIN pcs p ON p.id = x.pc_id JOIN sites s ON s.id = x.site_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(p, s, f, l, a)| ((p, s), (f, l, a)))
        .collect();
    assert_eq!(got, where_pcs, "migration 19's back-fill");
    let got: BTreeMap<(String, i64), (i64, i64)> = sqlx::query_as::<_, (String, i64, i64, i64)>(
        "SELECT s.uid, r.day, r.logins, r.pcs FROM group_login_days r JOIN sites s ON s.id = r.site_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(s, d, l, p)| ((s, d), (l, p)))
    .collect();
    assert_eq!(got, group_want, "migration 20's back-fill");
    let (_, recount, kept) = store.group_usage_rollup_compared().await.unwrap();
    assert_eq!(kept, recount);
    store.db.close().await;
}

/// Migration 21 gives the records kept so far their customer: a site's record its site's, a
/// customer's own without a site the customer its target names (a deleted site, a customer
/// role, a customer's subscription, the customer made), a deleted site's records the customer
/// its deletion named, a customer admin made the customer of the role made with them; what
/// names no customer stays the superusers'. The changes report's roll-up is made again with
/// the customer, and a customer's administrator reads them.
#[tokio::test]
async fn audit_records_are_given_their_customer() {
    let k = "(SELECT id FROM customers WHERE name = 'K')";
    let l = "(SELECT id FROM customers WHERE name = 'L')";
    let record = |actor: &str, site: &str, action: &str, target: &str| {
        format!(
            "INSERT INTO audit_log (at, actor, site_id, action, target)
             VALUES (1780000000000, '{actor}', {site}, '{action}', {target})"
        )
    };
    let a = "(SELECT id FROM sites WHERE uid = 'a')";
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO customers (name, created_at) VALUES ('L', 0)".to_owned(),
        format!("INSERT INTO sites (customer_id, uid, name, created_at) SELECT {k}, 'a', 'A', 0"),
        format!("INSERT INTO sites (customer_id, uid, name, created_at) SELECT {l}, 'b', 'B', 0"),
    ];
    // (the record, the customer it should get: "K", "L" or none)
    let cases: Vec<(String, Option<&str>)> = vec![
        (record("user:ida", a, "pc.activate", "'pc:1'"), Some("K")),
        // A user named like a place: the place is the last word, a site's here.
        (
            record(
                "user:ida",
                a,
                "user.grant",
                &format!("'user:7 (x customer:' || {l} || ') site_admin site:' || {a}"),
            ),
            Some("K"),
        ),
        // A site of K deleted (id 99, gone) and its records.
        (
            record("user:ida", "99", "config.set", "'site:99 x'"),
            Some("K"),
        ),
        (
            record(
                "user:ida",
                "NULL",
                "site.delete",
                &format!("'site:99 (gammel) customer:' || {k}"),
            ),
            Some("K"),
        ),
        // A customer admin made: the user, then the role, in one transaction.
        (
            record("user:ida", "NULL", "user.create", "'user:5 (karl_1)'"),
            Some("L"),
        ),
        (
            record(
                "user:ida",
                "NULL",
                "user.grant",
                &format!("'user:5 (karl_1) customer_admin customer:' || {l}"),
            ),
            Some("L"),
        ),
        (
            record(
                "user:ida",
                "NULL",
                "report_subscription.create",
                &format!("'report-subscription:3 (usage weekly customer:' || {k} || ')'"),
            ),
            Some("K"),
        ),
        (
            record(
                "cli:root",
                "NULL",
                "customer.create",
                &format!("'customer:' || {l} || ' (L)'"),
            ),
            Some("L"),
        ),
        // What names no customer.
        (
            record(
                "cli:root",
                "NULL",
                "user.create",
                "'user:6 (eva) superuser'",
            ),
            None,
        ),
        (
            record("user:ida", "NULL", "user.delete", "'user:5 (karl_1)'"),
            None,
        ),
        (
            record(
                "cli:root",
                "NULL",
                "tenant_role.grant",
                &format!("'role:r customer:' || {k} || ' (K)'"),
            ),
            None,
        ),
        (
            record("user:x", "NULL", "portal.second_factor", "'portal'"),
            None,
        ),
        // A deleted site whose deletion was not recorded, and a customer that does not exist.
        (record("user:ida", "98", "config.set", "'site:98 x'"), None),
        (
            record(
                "user:ida",
                "NULL",
                "site.delete",
                "'site:97 (x) customer:4000'",
            ),
            None,
        ),
    ];
    statements.extend(cases.iter().map(|(s, _)| s.clone()));
    let (_dir, url) = before_migration(21, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    let names: BTreeMap<i64, String> = sqlx::query_as("SELECT id, name FROM customers")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .collect();
    let got: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT action, customer_id FROM audit_log ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(got.len(), cases.len());
    for ((action, customer), (sql, want)) in got.iter().zip(&cases) {
        assert_eq!(
            customer.map(|c| names[&c].as_str()),
            *want,
            "{action}: {sql}"
        );
    }
    // The roll-up, made again, is the records' recount, with each record's customer.
    for (table, recount, kept) in store.report_rollups_compared().await.unwrap() {
        assert_eq!(kept, recount, "{table}");
    }
    let per_customer: BTreeMap<i64, i64> = sqlx::query_as(
        "SELECT customer_id, CAST(SUM(records) AS BIGINT) FROM audit_days GROUP BY customer_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, c) in &cases {
        let id = c.map_or(0, |n| {
            *names.iter().find(|(_, m)| m.as_str() == n).unwrap().0
        });
        *want.entry(id).or_default() += 1;
    }
    assert_eq!(per_customer, want);
    store.db.close().await;
}

/// Migration 22 back-fills the time to handle's roll-up from the events kept: the resolved
/// ones with a handled time, per site, local date, rule and wait bucket (a wait below 0
/// counts 0, one of more than a year in the last bucket), as the store keeps it after; the
/// report then reads the buckets.
#[tokio::test]
async fn the_handle_rollup_is_back_filled_from_the_events() {
    use crate::common::ops::{at, bucketed, local_date};
    use borgerpc_admin::store::operator::Page;
    use borgerpc_admin::store::reports::buckets::Bucket;
    use borgerpc_admin::store::reports::security::{SecurityAsked, SecurityList};
    use borgerpc_admin::store::reports::{Filter, Period};
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-1', '02:00:00:00:00:01', 'pc-1', 0 FROM sites".to_owned(),
        "INSERT INTO scripts (site_id, name, is_security, created_at, updated_at) SELECT id, 'S', 1, 0, 0 FROM sites".to_owned(),
        "INSERT INTO security_problems (site_id, name, level, script_id, created_at) SELECT site_id, 'R', 'HIGH', id, 0 FROM scripts".to_owned(),
    ];
    // (when it happened, status, waited until handled in ms or none).
    let year = 365 * 86_400_000i64;
    let events = [
        (at("2026-03-29T00:30:00+01:00"), "RESOLVED", Some(0)),
        (at("2026-03-29T03:30:00+02:00"), "RESOLVED", Some(-5_000)),
        (at("2026-03-29T03:40:00+02:00"), "RESOLVED", Some(30_000)),
        (at("2026-03-29T23:30:00+02:00"), "RESOLVED", Some(420_000)),
        (
            at("2026-03-30T10:00:00+02:00"),
            "RESOLVED",
            Some(10_800_000),
        ),
        (at("2026-03-30T11:00:00+02:00"), "RESOLVED", Some(year + 1)),
        (at("2026-03-30T12:00:00+02:00"), "RESOLVED", None),
        (at("2026-03-30T13:00:00+02:00"), "NEW", None),
        (at("2026-03-30T14:00:00+02:00"), "ASSIGNED", None),
    ];
    for (t, status, waited) in events {
        let handled = waited.map_or_else(|| "NULL".to_owned(), |w| (t + w).to_string());
        statements.push(format!(
            "INSERT INTO security_events (site_id, pc_id, rule_kind, rule_id, occurred_at, occurred_text, reported_at, summary, status, handled_at)
             SELECT p.site_id, p.id, 'security', r.id, {t}, 'x', {t}, 'y', '{status}', {handled}
             FROM pcs p, security_problems r"
        ));
    }
    let (_dir, url) = before_migration(22, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    // (The other roll-ups were back-filled before these rows were written.)
    let compared = store.report_rollups_compared().await.unwrap();
    let (_, recount, kept) = compared
        .iter()
        .find(|(table, _, _)| *table == "security_handle_days")
        .unwrap();
    assert_eq!(kept, recount);
    let got: BTreeMap<(i64, i64), i64> = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT day, wait_from_ms, events FROM security_handle_days",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(d, w, n)| ((d, w), n))
    .collect();
    let bucket = |w: i64| bucketed(&[w.max(0)], 5).unwrap().0 as i64;
    let mut want: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (t, _, waited) in &events {
        if let Some(w) = waited {
            let day = borgerpc_admin::store::history::epoch_day(local_date(*t));
            *want.entry((day, bucket(*w))).or_default() += 1;
        }
    }
    assert_eq!(got, want);
    assert_eq!(bucket(year + 1), year, "the last bucket");
    // The report reads the buckets: its median and p90 are the test's from the waits (its
    // counts per rule from migration 17's roll-up, which these rows came after).
    store.rebuild_report_rollups().await.unwrap();
    let site: i64 = sqlx::query_scalar("SELECT id FROM sites")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let f = Filter {
        sites: vec![site],
        group: None,
        period: Period::new(
            chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        )
        .unwrap(),
        page: Page {
            limit: 10,
            offset: 0,
        },
    };
    let asked = SecurityAsked {
        level: None,
        bucket: Bucket::Day,
    };
    let r = store
        .security_report(&f, &asked, SecurityList::Pcs)
        .await
        .unwrap()
        .unwrap();
    let waits: Vec<i64> = events
        .iter()
        .filter_map(|(_, _, w)| w.map(|w| w.max(0)))
        .collect();
    let t = &r.time_to_handle;
    assert_eq!(t.handled, 6);
    assert_eq!((t.median_from_ms, t.median_ms), bucketed(&waits, 5).unzip());
    assert_eq!((t.p90_from_ms, t.p90_ms), bucketed(&waits, 9).unzip());
    store.db.close().await;
}

/// Migration 23 gives each batch kept the PCs its jobs still name: the changes report's PCs a
/// run reached, which new batches record as they are made.
#[tokio::test]
async fn the_batches_are_given_the_pcs_of_their_jobs() {
    let statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-1', '02:00:00:00:00:01', 'pc-1', 0 FROM sites".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-2', '02:00:00:00:00:02', 'pc-2', 0 FROM sites".to_owned(),
        "INSERT INTO scripts (site_id, name, is_security, created_at, updated_at) SELECT id, 'S', 0, 0, 0 FROM sites".to_owned(),
        "INSERT INTO script_versions (script_id, version, executable_code, code_sha256, created_at) SELECT id, 1, 'true', 'x', 0 FROM scripts".to_owned(),
        "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at) SELECT s.site_id, v.id, 'B1', 'user:x', 0 FROM script_versions v JOIN scripts s ON s.id = v.script_id".to_owned(),
        "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at) SELECT s.site_id, v.id, 'B2', 'user:x', 0 FROM script_versions v JOIN scripts s ON s.id = v.script_id".to_owned(),
        "INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at) SELECT b.id, p.id, p.site_id, 'DONE', 0 FROM batches b, pcs p WHERE b.name = 'B1'".to_owned(),
    ];
    let (_dir, url) = before_migration(23, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, pc_count FROM batches ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(counts, [("B1".to_owned(), 2), ("B2".to_owned(), 0)]);
    store.db.close().await;
}

/// Migration 24 finds where and when each PC had the jobs kept: per PC and site, the first
/// and last job by creation and by report (jobs not reported have no report time), which is
/// what the upkeep's recount gives.
#[tokio::test]
async fn where_the_pcs_had_jobs_is_back_filled_from_the_jobs() {
    let mut statements = vec![
        "INSERT INTO customers (name, created_at) VALUES ('K', 0)".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'a', 'A', 0 FROM customers".to_owned(),
        "INSERT INTO sites (customer_id, uid, name, created_at) SELECT id, 'b', 'B', 0 FROM customers".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-1', '02:00:00:00:00:01', 'pc-1', 0 FROM sites WHERE uid = 'b'".to_owned(),
        "INSERT INTO pcs (site_id, uid, mac, name, created_at) SELECT id, 'pc-2', '02:00:00:00:00:02', 'pc-2', 0 FROM sites WHERE uid = 'a'".to_owned(),
        "INSERT INTO scripts (site_id, name, is_security, created_at, updated_at) VALUES (NULL, 'S', 0, 0, 0)".to_owned(),
        "INSERT INTO script_versions (script_id, version, executable_code, code_sha256, created_at) SELECT id, 1, 'true', 'x', 0 FROM scripts".to_owned(),
        "INSERT INTO batches (site_id, script_version_id, name, created_by, created_at) SELECT s.id, v.id, s.uid, 'user:x', 0 FROM script_versions v, sites s".to_owned(),
    ];
    // pc-1 ran jobs at A before it moved to B; pc-2 has one job, not reported yet.
    for (pc, site, status, created, reported) in [
        ("pc-1", "a", "DONE", 1_000, "1500"),
        ("pc-1", "a", "FAILED", 3_000, "9000"),
        ("pc-1", "a", "NEW", 5_000, "NULL"),
        ("pc-1", "b", "DONE", 7_000, "7100"),
        ("pc-2", "a", "SUBMITTED", 2_000, "NULL"),
    ] {
        statements.push(format!(
            "INSERT INTO jobs (batch_id, pc_id, site_id, status, created_at, reported_at)
             SELECT b.id, p.id, s.id, '{status}', {created}, {reported}
             FROM sites s JOIN batches b ON b.site_id = s.id, pcs p
             WHERE s.uid = '{site}' AND p.uid = '{pc}'"
        ));
    }
    let (_dir, url) = before_migration(24, statements).await;
    let store = Store::open(&url, 2).await.unwrap();
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT p.uid, s.uid, x.time_kind, x.first_at, x.last_at FROM pc_job_sites x
         JOIN pcs p ON p.id = x.pc_id JOIN sites s ON s.id = x.site_id
         ORDER BY p.uid, s.uid, x.time_kind",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let row = |pc: &str, site: &str, kind: &str, first, last| {
        (pc.to_owned(), site.to_owned(), kind.to_owned(), first, last)
    };
    assert_eq!(
        rows,
        [
            row("pc-1", "a", "created", 1_000, 5_000),
            row("pc-1", "a", "finished", 1_500, 9_000),
            row("pc-1", "b", "created", 7_000, 7_000),
            row("pc-1", "b", "finished", 7_100, 7_100),
            row("pc-2", "a", "created", 2_000, 2_000),
        ]
    );
    // As the upkeep's recount has it (the jobs, written around the store, are in no other
    // roll-up).
    let compared = store.report_rollups_compared().await.unwrap();
    let (_, recount, kept) = compared
        .iter()
        .find(|(table, _, _)| *table == "pc_job_sites")
        .unwrap();
    assert_eq!(kept, recount);
    store.db.close().await;
}

/// A database migrated up to just before `version`, with `statements` run on it as the rows
/// an older portal left: its directory (kept while it lives) and its URL.
async fn before_migration(version: i64, statements: Vec<String>) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let k = MIGRATIONS
        .iter()
        .position(|m| m.version == version)
        .unwrap();
    let db = service_kit::db::Db::connect(&url, 2).await.unwrap();
    db.migrate(&MIGRATIONS[..k]).await.unwrap();
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(s))
            .execute(db.reader())
            .await
            .unwrap();
    }
    db.close().await;
    (dir, url)
}
