//! The store's keeping of file contents, on the test database (SQLite file, or PostgreSQL
//! with TEST_DATABASE_URL): accepted contents read back exactly, a duplicate leaves nothing
//! behind, purge deletes them (on SQLite from the segment file at once), and bytes left by a
//! crash are swept;
//! a step moves a delivery on only while it is pending; and receipts are stored, applied and
//! settle a delivery once, with one timeline entry per change.

use fordeler::file_store::FileStore;
use fordeler::store::{
    Accepted, Conflict, ErrorClass, FileState, NewAttachment, NewSubmission, Receipt,
    ReceiptOutcome, Resent, Saved, State, Step, Store, StoreError,
};
use sf2900::{ForretningsValideringsKode, Kvitteringstype};
use std::time::Duration;

fn submission(uuid: &str, sizes: &[usize]) -> NewSubmission {
    NewSubmission {
        tenant_cvr: "29189846".into(),
        webform_id: "f".into(),
        submission_uuid: uuid.into(),
        serial: Some("1".into()),
        source: "remote_post",
        payload: br#"{"data":{}}"#.to_vec(),
        attachments: sizes
            .iter()
            .enumerate()
            .map(|(i, n)| NewAttachment {
                element_key: "bilag".into(),
                idx: i as i64,
                name: format!("{i}.pdf"),
                mime: "application/pdf".into(),
                data: (0..*n).map(|b| (b * 31 + i) as u8).collect(),
            })
            .collect(),
        routes: vec![("r".into(), fordeler::config::DistributionType::Formular)],
    }
}

/// The segment files beside a SQLite database (none on PostgreSQL).
fn segments(store: &Store) -> Vec<std::path::PathBuf> {
    let FileStore::Dir(dir) = &store.files else {
        return Vec::new();
    };
    std::fs::read_dir(dir.root().join("segments"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_contents_are_kept_exactly_and_purged_completely() {
    let tmp = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(tmp.path())
        .await
        .unwrap();
    let store = Store::open(&url, 4).await.unwrap();
    let on_disk = matches!(store.files, FileStore::Dir(_));
    assert_eq!(on_disk, !url.starts_with("postgres"), "{url}");

    let sent = submission("u-1", &[100_000, 0, 5_000]);
    let Accepted::New { submission_id, .. } = store.accept(sent.clone()).await.unwrap() else {
        panic!("a new submission");
    };
    let stored = store.attachments(&submission_id, |_| true).await.unwrap();
    assert_eq!(stored.len(), 3);
    for (s, a) in stored.iter().zip(&sent.attachments) {
        assert_eq!(
            (s.size, &s.data),
            (a.data.len() as i64, &a.data),
            "{}",
            s.name
        );
    }
    assert_eq!(segments(&store).len(), usize::from(on_disk));

    // The same submission again: a duplicate, and the copy it brought is freed at once.
    let again = store.accept(sent.clone()).await.unwrap();
    assert!(matches!(again, Accepted::Duplicate { .. }), "{again:?}");
    if on_disk {
        let raw = std::fs::read(&segments(&store)[0]).unwrap();
        assert_eq!(raw.len(), 2 * 105_000);
        assert!(
            raw[105_000..].iter().all(|b| *b == 0),
            "the duplicate's copy is kept"
        );
        assert!(raw[..105_000].iter().any(|b| *b != 0));
    }

    // Purge once the delivery is final: contents gone, metadata kept.
    let delivery = &store.find("u-1").await.unwrap()[0];
    store
        .fail(&delivery.id, ErrorClass::Internal, "x", None)
        .await
        .unwrap();
    store
        .resolve(&delivery.id, "tester", "handled")
        .await
        .unwrap();
    let now = service_kit::db::now_ms();
    assert_eq!(store.purge(now + 1_000).await.unwrap(), 1);
    for a in store.attachments(&submission_id, |_| true).await.unwrap() {
        assert!(a.data.is_empty(), "{} survived the purge", a.name);
        assert_eq!(store.attachment_data(&a.id).await.unwrap(), None);
    }
    if on_disk {
        // The bytes are gone from the disk at once; the emptied segment at the next sweep.
        let raw = std::fs::read(&segments(&store)[0]).unwrap();
        assert!(
            raw.iter().all(|b| *b == 0),
            "purged content is still on disk"
        );
        store.files.seal();
        assert_eq!(store.sweep_orphan_files(Duration::ZERO).await.unwrap(), 1);
    }
    assert!(segments(&store).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_without_a_submission_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("f.db").display());
    let store = Store::open(&url, 2).await.unwrap();
    let Accepted::New { submission_id, .. } = store.accept(submission("u-2", &[10])).await.unwrap()
    else {
        panic!("a new submission");
    };
    // What a crash between appending and committing the rows leaves.
    store
        .files
        .put(vec![b"left behind".to_vec()])
        .await
        .unwrap();
    let segment = segments(&store).remove(0);
    let raw = || std::fs::read(&segment).unwrap();
    // The segment this process appends to, and young ones, may have intakes in flight.
    assert_eq!(store.sweep_orphan_files(Duration::ZERO).await.unwrap(), 0);
    store.files.seal();
    assert_eq!(
        store
            .sweep_orphan_files(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(&raw()[10..], b"left behind");
    // Once it is sealed and old enough, what no row refers to is freed; the rest stays.
    assert_eq!(store.sweep_orphan_files(Duration::ZERO).await.unwrap(), 0);
    assert_eq!(&raw()[10..], &[0; 11]);
    let kept = store.attachments(&submission_id, |_| true).await.unwrap();
    assert_eq!(
        kept[0].data,
        vec![0u8, 31, 62, 93, 124, 155, 186, 217, 248, 23]
    );

    // A segment removed behind the Fordeler's back is missing content (which the outbox
    // turns into a failure for the operator), not an error to retry for ever.
    std::fs::remove_file(&segment).unwrap();
    let gone = store.attachments(&submission_id, |_| true).await.unwrap();
    assert_eq!((gone[0].size, gone[0].data.len()), (10, 0));
    assert_eq!(store.attachment_data(&gone[0].id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_does_not_move_a_delivery_an_operator_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(tmp.path())
        .await
        .unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    store.accept(submission("u-3", &[10])).await.unwrap();
    let d = store.find("u-3").await.unwrap().remove(0);
    let request = || fordeler::store::StoredRequest {
        xml: "<x/>".into(),
        inline: None,
    };

    // A worker building a delivery nobody touched moves it on ...
    let saved = store
        .save_built(&d, request(), Vec::new(), Step::Afsend)
        .await
        .unwrap();
    assert_eq!(
        saved,
        Saved {
            moved: true,
            fresh: true
        }
    );
    assert_eq!(
        store.delivery(&d.id).await.unwrap().unwrap().step,
        Step::Afsend
    );

    // ... but not once an operator resolved it in the meantime: the worker stops there.
    store
        .resolve(&d.id, "tester", "handled by phone")
        .await
        .unwrap();
    assert!(
        !store
            .files_done(
                &d.id,
                Vec::new(),
                FileState::Delivered,
                Step::Receipts,
                "x",
                "y".into()
            )
            .await
            .unwrap()
    );
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (after.state.as_str(), after.step.as_str()),
        ("resolved", "afsend")
    );
    // Built again: the stored request stays as it was, and the worker is told it is not its own.
    let again = fordeler::store::StoredRequest {
        xml: "<y/>".into(),
        inline: None,
    };
    let saved = store
        .save_built(&d, again, Vec::new(), Step::Afsend)
        .await
        .unwrap();
    assert_eq!(
        saved,
        Saved {
            moved: false,
            fresh: false
        }
    );
    assert_eq!(store.request(&d.id).await.unwrap(), Some(request()));
}

fn receipt(transaction: &str, kvitteringstype: &str, kode: &str) -> Receipt {
    Receipt {
        anvender_transaktions_id: transaction.into(),
        distribution_transaktions_id: Some("dist-1".into()),
        afsendende_myndighed: "29189846".into(),
        kvitteringstype: Kvitteringstype::parse(kvitteringstype).unwrap(),
        kode: ForretningsValideringsKode::parse(kode).unwrap(),
        begrundelse: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_stored_applied_and_settle_once() {
    let tmp = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(tmp.path())
        .await
        .unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    for uuid in ["u-4", "u-5"] {
        store.accept(submission(uuid, &[10])).await.unwrap();
    }
    let d = store.find("u-4").await.unwrap().remove(0);
    let tx = d.anvender_transaktions_id.clone();

    // An unknown transaction: stored for the record, no delivery.
    let outcome = store
        .receive_receipt(receipt("no-such-id", "Teknisk", "AFLEVERET"), true)
        .await
        .unwrap();
    assert_eq!(outcome, ReceiptOutcome::Unknown);
    let applied = |duplicate| ReceiptOutcome::Applied {
        delivery_id: d.id.clone(),
        duplicate,
    };

    // A receipt before the synchronous answer is recorded: applied, nothing settled yet.
    let outcome = store
        .receive_receipt(receipt(&tx, "Teknisk", "AFLEVERET"), true)
        .await
        .unwrap();
    assert_eq!(outcome, applied(false));
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (after.state.as_str(), after.teknisk_kode.map(|k| k.as_str())),
        ("pending", Some("AFLEVERET"))
    );

    // The synchronous answer: waiting for the Forretning receipt.
    let settled = store
        .afsend_accepted(
            &d.id,
            Some("dist-1".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();
    assert_eq!(settled, Some(State::Waiting));

    // The Forretning receipt delivers it; its repeat (after settlement) changes nothing.
    let settled = ReceiptOutcome::Recorded {
        delivery_id: d.id.clone(),
        why: "the delivery was already settled",
    };
    for expect in [applied(false), settled] {
        let outcome = store
            .receive_receipt(receipt(&tx, "Forretning", "ACCEPTERET"), true)
            .await
            .unwrap();
        assert_eq!(outcome, expect);
        let after = store.delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(after.state, State::Delivered);
    }
    let kinds: Vec<String> = store
        .events(&d.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["received", "receipt", "afsend", "receipt", "delivered"],
        "one timeline entry per change, none for the repeat"
    );

    // A rejection in the Forretning receipt fails the other delivery, with the reason.
    let other = store.find("u-5").await.unwrap().remove(0);
    store
        .afsend_accepted(&other.id, None, ForretningsValideringsKode::Modtaget, true)
        .await
        .unwrap();
    store
        .receive_receipt(
            receipt(&other.anvender_transaktions_id, "Forretning", "AFVIST"),
            true,
        )
        .await
        .unwrap();
    let after = store.delivery(&other.id).await.unwrap().unwrap();
    assert_eq!(after.state, State::Failed);
    assert!(
        after.last_error.as_deref().unwrap_or("").contains("AFVIST"),
        "{after:?}"
    );
    let kinds: Vec<String> = store
        .events(&other.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["received", "afsend", "receipt", "failed"]);
}

async fn open_store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(tmp.path())
        .await
        .unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    (tmp, store)
}

fn kinds(events: Vec<fordeler::store::Event>) -> Vec<String> {
    events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_deliverys_own_receipts_of_settling_types_move_it() {
    let (_tmp, store) = open_store().await;
    store.accept(submission("u-6", &[10])).await.unwrap();
    let d = store.find("u-6").await.unwrap().remove(0);
    let tx = d.anvender_transaktions_id.clone();
    store
        .afsend_accepted(
            &d.id,
            Some("dist-1".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();

    // Another municipality's CVR, or another DistributionTransktionsID: refused, codes unchanged.
    let mut other_cvr = receipt(&tx, "Forretning", "AFVIST");
    other_cvr.afsendende_myndighed = "55133018".into();
    let mut other_dist = receipt(&tx, "Forretning", "AFVIST");
    other_dist.distribution_transaktions_id = Some("dist-2".into());
    for (r, what) in [
        (other_cvr, "AfsendendeMyndighed"),
        (other_dist, "DistributionTransktionsID"),
    ] {
        let outcome = store.receive_receipt(r, true).await.unwrap();
        assert_eq!(
            outcome,
            ReceiptOutcome::Refused {
                delivery_id: d.id.clone(),
                what
            }
        );
    }
    // A Digital post receipt is recorded; it settles nothing.
    let outcome = store
        .receive_receipt(receipt(&tx, "Digital post", "ACCEPTERET"), true)
        .await
        .unwrap();
    assert!(
        matches!(outcome, ReceiptOutcome::Recorded { .. }),
        "{outcome:?}"
    );
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.state.as_str(),
            after.forretning_kode.map(|k| k.as_str())
        ),
        ("waiting", None)
    );

    // The Forretning receipt fails it; a later ACCEPTERET does not rewrite the code.
    store
        .receive_receipt(receipt(&tx, "Forretning", "FEJLET"), true)
        .await
        .unwrap();
    store
        .receive_receipt(receipt(&tx, "Forretning", "ACCEPTERET"), true)
        .await
        .unwrap();
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.state.as_str(),
            after.forretning_kode.map(|k| k.as_str())
        ),
        ("failed", Some("FEJLET"))
    );
    assert_eq!(
        kinds(store.events(&d.id).await.unwrap()),
        [
            "received",
            "afsend",
            "receipt_refused",
            "receipt_refused",
            "receipt_not_applied",
            "receipt",
            "failed",
            "receipt_not_applied"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_failed_receipt_goes_back_to_the_call_and_settles_again() {
    let (_tmp, store) = open_store().await;
    store.accept(submission("u-7", &[10])).await.unwrap();
    let d = store.find("u-7").await.unwrap().remove(0);
    let tx = d.anvender_transaktions_id.clone();
    store
        .afsend_accepted(
            &d.id,
            Some("dist-1".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();
    store
        .receive_receipt(receipt(&tx, "Forretning", "FEJLET"), true)
        .await
        .unwrap();
    assert_eq!(
        store.delivery(&d.id).await.unwrap().unwrap().state,
        State::Failed
    );

    // Before, this left it "pending" at step "done", where nothing works on it, for ever.
    store.retry(&d.id, "tester").await.unwrap();
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.state.as_str(),
            after.step.as_str(),
            after.forretning_kode.map(|k| k.as_str()),
            after.anvender_transaktions_id.as_str()
        ),
        ("pending", "afsend", None, tx.as_str())
    );
    // The call goes again and the platform accepts it this time.
    store
        .afsend_accepted(
            &d.id,
            Some("dist-1".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();
    store
        .receive_receipt(receipt(&tx, "Forretning", "ACCEPTERET"), true)
        .await
        .unwrap();
    assert_eq!(
        store.delivery(&d.id).await.unwrap().unwrap().state,
        State::Delivered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_is_a_new_transaction_and_the_earlier_one_stays_on_record() {
    let (_tmp, store) = open_store().await;
    store.accept(submission("u-8", &[10])).await.unwrap();
    let d = store.find("u-8").await.unwrap().remove(0);
    let first = d.anvender_transaktions_id.clone();
    store
        .save_built(
            &d,
            fordeler::store::StoredRequest {
                xml: "<x/>".into(),
                inline: None,
            },
            Vec::new(),
            Step::Afsend,
        )
        .await
        .unwrap();
    store
        .afsend_accepted(
            &d.id,
            Some("dist-1".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();
    store
        .receive_receipt(receipt(&first, "Forretning", "AFVIST"), true)
        .await
        .unwrap();

    let Resent { old, new } = store.resend(&d.id, "sagsbehandler").await.unwrap();
    assert_eq!(old, first);
    assert_ne!(new, first);
    let after = store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.state.as_str(),
            after.step.as_str(),
            after.transaction_no,
            after.anvender_transaktions_id.as_str(),
            after.forretning_kode.map(|k| k.as_str()),
            after.distribution_transaktions_id.as_deref()
        ),
        ("pending", "build", 2, new.as_str(), None, None)
    );
    // Built again from today's configuration: the earlier request is gone.
    assert_eq!(store.request(&d.id).await.unwrap(), None);
    // Found by either id; a late receipt for the earlier one is recorded, not applied.
    assert_eq!(store.find(&new).await.unwrap().len(), 1);
    assert_eq!(store.find(&first).await.unwrap().len(), 1);
    let outcome = store
        .receive_receipt(receipt(&first, "Forretning", "ACCEPTERET"), true)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ReceiptOutcome::Recorded {
            delivery_id: d.id.clone(),
            why: "for an earlier transaction of this delivery"
        }
    );
    let events = store.events(&d.id).await.unwrap();
    let resend = events.iter().find(|e| e.kind == "resend").unwrap();
    assert!(
        resend.detail.contains("by sagsbehandler")
            && resend.detail.contains(&first)
            && resend.detail.contains(&new)
            && resend.detail.contains("Forretning AFVIST"),
        "{}",
        resend.detail
    );
    assert_eq!(
        store.delivery(&d.id).await.unwrap().unwrap().state,
        State::Pending
    );

    // A delivered one is never resent.
    store
        .afsend_accepted(
            &d.id,
            Some("dist-9".into()),
            ForretningsValideringsKode::Modtaget,
            true,
        )
        .await
        .unwrap();
    let mut r = receipt(&new, "Forretning", "ACCEPTERET");
    r.distribution_transaktions_id = Some("dist-9".into());
    store.receive_receipt(r, true).await.unwrap();
    let refused = store.resend(&d.id, "x").await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Conflict {
                why: Conflict::Settled(State::Delivered),
                ..
            })
        ),
        "{refused:?}"
    );
    let refused = store.resend("nope", "x").await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_frees_deliveries_an_older_retry_left_pending_for_ever() {
    // A database of the version before resends (schema 3), where `retry` of a delivery that
    // had failed on its Forretning receipt left it "pending" at step "done".
    let tmp = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(tmp.path())
        .await
        .unwrap();
    let old = service_kit::db::Db::connect(&url, 2).await.unwrap();
    old.migrate(&fordeler::store::MIGRATIONS[..3])
        .await
        .unwrap();
    for sql in [
        "INSERT INTO submissions (id, tenant_cvr, webform_id, submission_uuid, source, received_at, payload) \
         VALUES ('s1', '29189846', 'f', 'u-9', 'remote_post', 1, NULL)",
        "INSERT INTO deliveries (id, submission_id, route_id, tenant_cvr, webform_id, distribution_type, state, step, \
         anvender_transaktions_id, distribution_transaktions_id, sync_kode, forretning_kode, next_attempt_at, created_at, updated_at) \
         VALUES ('d1', 's1', 'r', '29189846', 'f', 'JOURNALPOST', 'pending', 'done', 'tx-1', 'dist-1', 'MODTAGET', 'FEJLET', 1, 1, 1)",
    ] {
        old.write(move |c| {
            Box::pin(async move {
                sqlx::query(sql).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    }
    old.close().await;

    // Started again on the new version: back to the call, the failed attempt's codes gone.
    let store = Store::open(&url, 2).await.unwrap();
    let d = store.delivery("d1").await.unwrap().unwrap();
    assert_eq!(
        (
            d.state.as_str(),
            d.step.as_str(),
            d.sync_kode.map(|k| k.as_str()),
            d.forretning_kode.map(|k| k.as_str()),
            d.transaction_no
        ),
        ("pending", "afsend", None, None, 1)
    );
}
