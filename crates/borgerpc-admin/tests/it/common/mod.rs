//! Test support: a real portal on 127.0.0.1 (random port) on a fresh database — SQLite in a
//! temp dir, or a schema of its own on PostgreSQL when `TEST_DATABASE_URL` is set.

#![allow(dead_code)]

pub(crate) mod changes;
pub(crate) mod ops;
pub(crate) mod reports;
pub(crate) mod seed;
pub(crate) mod web;

use borgerpc_admin::app::Running;
use borgerpc_admin::config::Config;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::jobs::{NewInput, NewScript, ParamValue, RunScript, SavedScript};
use borgerpc_admin::store::pcs::PcIdentity;
use borgerpc_admin::store::tenants::Site;

pub(crate) struct Portal {
    pub dir: tempfile::TempDir,
    pub running: Running,
    pub store: Store,
    pub url: String,
    /// The database's URL (for the CLI).
    pub db_url: String,
}

impl Portal {
    pub(crate) async fn start() -> Portal {
        Self::start_with(|_| {}).await
    }

    /// A portal with configuration changes (`listen` and `database` are set after).
    pub(crate) async fn start_with(change: impl FnOnce(&mut Config)) -> Portal {
        service_kit::logging::init(false, "warn");
        let dir = tempfile::tempdir().unwrap();
        let url = service_kit::db::test_database_url(dir.path())
            .await
            .unwrap();
        let store = Store::open(&url, 8).await.unwrap();
        let mut config = Config::default();
        change(&mut config);
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.database.url = url.clone();
        let db_url = url;
        let running = borgerpc_admin::app::start(&config, store.clone())
            .await
            .unwrap();
        let url = running.url();
        Portal {
            dir,
            running,
            store,
            url,
            db_url,
        }
    }

    /// A customer with one site.
    pub(crate) async fn site(&self, customer: &str, uid: &str) -> Site {
        let c = match self.store.customer_by_name(customer).await.unwrap() {
            Some(c) => c,
            None => self.store.add_customer(customer).await.unwrap(),
        };
        self.store.add_site(c.id, uid, uid).await.unwrap()
    }

    pub(crate) async fn post(
        &self,
        endpoint: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/client-api/{endpoint}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Activates a registered PC of `site` and returns who it is.
    pub(crate) async fn activate(&self, site: &Site, uid: &str) -> PcIdentity {
        assert!(self.store.set_activated(site.id, uid, true).await.unwrap());
        self.store.pc_identity(uid).await.unwrap().unwrap()
    }

    /// A script (of `site`, or global) that echoes its one mandatory STRING parameter.
    pub(crate) async fn echo_script(&self, site: Option<&Site>, name: &str) -> SavedScript {
        self.store
            .save_script(&NewScript {
                site_id: site.map(|s| s.id),
                uid: None,
                name: name.into(),
                description: String::new(),
                category: None,
                is_security: false,
                is_hidden: false,
                version: 1,
                code: "#!/bin/sh\necho \"$1\"\n".into(),
                inputs: vec![NewInput {
                    name: "word".into(),
                    value_type: "STRING".into(),
                    default_value: None,
                    mandatory: true,
                }],
            })
            .await
            .unwrap()
    }

    /// The wake plan core scripts, as `os2borgerpc-core-scripts` has them (hidden, global):
    /// the ids of `wake_plan_set` and `wake_plan_remove`.
    pub(crate) async fn wake_scripts(&self) -> (i64, i64) {
        let script = |uid: &str, inputs: usize| NewScript {
            site_id: None,
            uid: Some(uid.into()),
            name: uid.into(),
            description: String::new(),
            category: Some("System".into()),
            is_security: false,
            is_hidden: true,
            version: 1,
            code: "#!/bin/sh\ntrue\n".into(),
            inputs: (0..inputs)
                .map(|i| NewInput {
                    name: format!("arg{i}"),
                    value_type: "STRING".into(),
                    default_value: None,
                    mandatory: true,
                })
                .collect(),
        };
        let set = self
            .store
            .save_script(&script("wake_plan_set", 16))
            .await
            .unwrap();
        let remove = self
            .store
            .save_script(&script("wake_plan_remove", 0))
            .await
            .unwrap();
        (set.script_id, remove.script_id)
    }

    /// One NEW job of `script` on one PC; its id.
    pub(crate) async fn run_on(&self, site: &Site, script_id: i64, pc_id: i64, word: &str) -> i64 {
        self.store
            .run_script(RunScript {
                site_id: site.id,
                script_id,
                pc_ids: &[pc_id],
                params: vec![ParamValue::Text(word.into())],
                created_by: "test",
            })
            .await
            .unwrap()
            .job_ids[0]
    }

    /// Waits until the heartbeat writer has recorded a PC's check-in after `after`.
    pub(crate) async fn wait_seen_after(&self, uid: &str, after: i64) -> i64 {
        wait_for(
            &format!("PC {uid} to be seen after {after}"),
            std::time::Duration::from_secs(10),
            || async {
                let seen: Option<i64> =
                    sqlx::query_scalar("SELECT last_seen FROM pcs WHERE uid = $1")
                        .bind(uid)
                        .fetch_one(self.store.pool())
                        .await
                        .unwrap();
                seen.filter(|s| *s > after)
            },
        )
        .await
    }
}

/// Polls `check` until it gives a value, and panics naming `what` if `within` passes first:
/// a test waits for what it expects to happen, not for a guess at how long it takes.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
