//! The PC counts the status page and the sites overview read (`store::pc_counts`, kept as
//! PCs are written) against a recount from the rows, after each kind of write that changes
//! them: registration, activation one by one and in bulk, the agent's and an operator's
//! configuration changes, deleting a PC and deleting a site.

use crate::common::Portal;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::access::Scope;
use borgerpc_admin::store::config::{EntryChange, Owner, OwnerKind};
use borgerpc_admin::store::pcs::NewPc;
use borgerpc_admin::store::tenants::Site;

/// (PCs, activated, products, releases) as the tile shows them.
type Counts = (i64, i64, Vec<(String, i64)>, Vec<(String, i64)>);

async fn kept(store: &Store, site: &Site) -> Counts {
    let t = store.site_tiles(&[site.id], 0).await.unwrap().remove(0);
    (t.pcs, t.activated, t.products, t.releases)
}

async fn recounted(store: &Store, site: &Site) -> Counts {
    let pcs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE site_id = $1")
        .bind(site.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    let activated: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE site_id = $1 AND is_activated <> 0")
            .bind(site.id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let per_value = |key: &'static str| async move {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT e.entry_value, COUNT(*) FROM pcs p JOIN config_entries e
               ON e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = $2
             WHERE p.site_id = $1 GROUP BY e.entry_value ORDER BY e.entry_value",
        )
        .bind(site.id)
        .bind(key)
        .fetch_all(store.pool())
        .await
        .unwrap()
    };
    (
        pcs,
        activated,
        per_value("os2_product").await,
        per_value("_os_release").await,
    )
}

async fn same(store: &Store, site: &Site, step: &str) -> Counts {
    let counts = recounted(store, site).await;
    assert_eq!(kept(store, site).await, counts, "after {step}");
    counts
}

async fn register(store: &Store, site: &Site, n: u32, product: &str, release: &str) -> i64 {
    let uid = format!("{}-pc-{n}", site.uid);
    store
        .insert_pc(NewPc {
            site_id: site.id,
            uid: &uid,
            mac: &format!("02:00:00:00:{:02x}:{:02x}", site.id, n),
            name: &uid,
            client_key_hash: "",
            entries: vec![
                ("os2_product".into(), product.into(), true),
                ("_os_release".into(), release.into(), true),
                ("hostname".into(), uid.clone(), true),
            ],
        })
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn pc_counts_follow_every_write() {
    let portal = Portal::start().await;
    let store = &portal.store;
    let a = portal.site("Kommune", "a").await;
    let b = portal.site("Kommune", "b").await;
    let scope = Scope::cli(store).await.unwrap();
    assert_eq!(same(store, &a, "nothing").await.0, 0);

    let p1 = register(store, &a, 1, "os2borgerpc", "22.04").await;
    let p2 = register(store, &a, 2, "os2borgerpc", "24.04").await;
    let p3 = register(store, &a, 3, "os2borgerpc kiosk", "22.04").await;
    let c = same(store, &a, "registrations").await;
    assert_eq!((c.0, c.1), (3, 0));
    assert_eq!(
        c.2,
        vec![("os2borgerpc".into(), 2), ("os2borgerpc kiosk".into(), 1)]
    );

    assert!(store.set_activated(a.id, "a-pc-1", true).await.unwrap());
    assert!(store.set_activated(a.id, "a-pc-1", true).await.unwrap());
    assert!(
        store
            .api_set_activated(&scope.sites, p2, true)
            .await
            .unwrap()
    );
    assert_eq!(same(store, &a, "activations").await.1, 2);
    let uids = ["a-pc-1".to_owned(), "a-pc-3".to_owned()];
    let changed = store
        .api_set_activated_many(&scope.sites, &uids, true, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed, 1, "only a-pc-3 changes");
    assert_eq!(same(store, &a, "bulk activation").await.1, 3);
    store
        .api_set_activated_many(&scope.sites, &uids, false, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same(store, &a, "bulk deactivation").await.1, 1);

    // The agent upgrades Ubuntu and stops reporting its product; an operator writes one.
    store
        .change_pc_entries(
            p1,
            &[
                EntryChange::Set {
                    key: "_os_release".into(),
                    value: "24.04".into(),
                    read_only: true,
                },
                EntryChange::Delete {
                    key: "os2_product".into(),
                },
                EntryChange::Set {
                    key: "hostname".into(),
                    value: "renamed".into(),
                    read_only: true,
                },
            ],
        )
        .await
        .unwrap();
    let c = same(store, &a, "the agent's changes").await;
    assert_eq!(c.3, vec![("22.04".into(), 1), ("24.04".into(), 2)]);
    store
        .set_entry(OwnerKind::Pc, p3, "os2_product", "os2borgerpc")
        .await
        .unwrap();
    store
        .change_config(
            &scope,
            Owner::Pc(p2),
            &[("os2_product".into(), Some("os2borgerpc kiosk".into()))],
        )
        .await
        .unwrap()
        .unwrap();
    let c = same(store, &a, "operators' changes").await;
    assert_eq!(
        c.2,
        vec![("os2borgerpc".into(), 1), ("os2borgerpc kiosk".into(), 1)]
    );

    assert!(store.delete_pc(a.id, "a-pc-2").await.unwrap());
    let c = same(store, &a, "deleting a PC").await;
    assert_eq!((c.0, c.1), (2, 0));
    assert!(p3 > 0);

    register(store, &b, 1, "os2borgerpc", "22.04").await;
    assert_eq!(same(store, &b, "registration on b").await.0, 1);
    store.delete_site(&scope, b.id).await.unwrap().unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM site_pc_counts WHERE site_id = $1")
        .bind(b.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "a deleted site's counts go with it");
    same(store, &a, "deleting another site").await;
}
