//! Housekeeping's deletes take their turn among the portal's writers. On SQLite a write sent
//! straight to the pool waits in SQLite's busy handler instead, and fails with "database is
//! locked" once a writer holds the lock longer than the busy timeout (10 s): retention used to
//! do that, so a long heartbeat batch or import made it fail.

use crate::common;

use borgerpc_admin::store::history::Retention;
use common::Portal;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_waits_its_turn_behind_a_long_writer() {
    let portal = Portal::start().await;
    if portal.store.kind() != service_kit::db::DbKind::Sqlite {
        // PostgreSQL locks rows, not the database: there is no queue to bypass.
        return;
    }
    portal.site("K", "s").await;
    // A writer that holds the write lock past SQLite's busy timeout.
    let mut long = portal.store.db.begin_write().await.unwrap();
    sqlx::query("UPDATE sites SET name = name")
        .execute(&mut *long)
        .await
        .unwrap();
    let store = portal.store.clone();
    let purge = tokio::spawn(async move {
        store
            .purge_history(&Retention::default(), service_kit::db::now_ms())
            .await
    });
    // Longer than the busy timeout is the point: a write outside the queue fails by then.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(!purge.is_finished(), "the purge waits for its turn");
    long.commit().await.unwrap();
    let purged = tokio::time::timeout(Duration::from_secs(60), purge)
        .await
        .expect("the purge goes on once the writer is done")
        .unwrap();
    assert!(purged.is_ok(), "no 'database is locked': {purged:?}");
}
