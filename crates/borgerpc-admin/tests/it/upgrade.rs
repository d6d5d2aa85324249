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
