//! Upgrades: a database from every schema the Fordeler has shipped, holding submissions as
//! the first schema stored them (`tests/fixtures/schema-1.sql`: a delivered one with a file
//! and its receipt, a failed one, one stuck by the old retry), is migrated by today's code
//! and read through the store.

use fordeler::store::{MIGRATIONS, State, Step, Store};
use service_kit::testing::upgrade::earlier_schemas;

const FIXTURE: &str = include_str!("../fixtures/schema-1.sql");

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
        let mut counts: Vec<(State, i64)> = store
            .status()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, state, n)| (state, n))
            .collect();
        counts.sort_by_key(|(s, _)| s.as_str());
        assert_eq!(
            counts,
            vec![
                (State::Delivered, 1),
                (State::Failed, 1),
                (State::Pending, 1)
            ],
            "from {from}"
        );

        let delivered = store
            .find("11111111-1111-4111-8111-111111111111")
            .await
            .unwrap()
            .remove(0);
        assert_eq!(delivered.state, State::Delivered);
        assert_eq!(delivered.transaction_no, 1, "from {from}");
        assert_eq!(
            delivered.forretning_kode.map(|k| k.as_str()),
            Some("ACCEPTERET")
        );
        // Migration 2 moved the built request out of the delivery's row.
        let request = store
            .request(&delivered.id)
            .await
            .unwrap()
            .expect("request");
        assert_eq!(
            request.xml, "<FordelingsobjektAfsendRequest/>",
            "from {from}"
        );
        assert!(request.inline.is_none());
        // Migration 3: the file's bytes are still read from the database's row.
        let bytes = store.attachment_data("att-1").await.unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"%PDF-1.4\n"[..]), "from {from}");
        let files = store.delivery_files(&delivered.id).await.unwrap();
        assert_eq!(files.len(), 1);

        // Migration 4: a retry the old version left pending at `done` goes back to the call.
        let stuck = store
            .find("33333333-3333-4333-8333-333333333333")
            .await
            .unwrap()
            .remove(0);
        assert_eq!(
            (stuck.state, stuck.step),
            (State::Pending, Step::Afsend),
            "from {from}"
        );
        assert!(stuck.sync_kode.is_none() && stuck.forretning_kode.is_none());

        let failed = store
            .find("22222222-2222-4222-8222-222222222222")
            .await
            .unwrap()
            .remove(0);
        assert_eq!(failed.state, State::Failed);
        assert_eq!(
            failed.last_error.as_deref(),
            Some("the platform refused it")
        );
        store.db.close().await;
    }
}
