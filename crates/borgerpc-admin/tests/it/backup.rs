//! `borgerpc-admin backup` and `restore` as an operator runs them (separate processes) while
//! the portal runs and simulated agents check in: every PC and job is in the restored copy; a
//! damaged backup, a non-empty target and a database with data are refused, naming them. On
//! PostgreSQL (`TEST_DATABASE_URL`) through pg_dump / pg_restore, into a new database.

use crate::common::Portal;
use borgerpc_admin::agent_sim::{Behaviour, SimAgent};
use borgerpc_admin::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");
const PCS: u32 = 40;

/// Runs a command against the database at `url` (no configuration file): (ok, stdout, stderr).
fn cli(dir: &Path, url: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("BORGERPC_DATABASE__URL", url)
        .env_remove("BORGERPC_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A new SQLite file, or on PostgreSQL a new database with the source's schema name.
async fn fresh_target(dir: &Path, source_url: &str) -> String {
    if !source_url.starts_with("postgres") {
        return format!("sqlite://{}", dir.join("restored/borgerpc.db").display());
    }
    let base = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = format!(
        "restore_{}_{}",
        service_kit::db::now_ms(),
        std::process::id()
    );
    let admin = service_kit::db::Db::connect(&base, 1).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.reader())
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = base.rsplit_once('/').unwrap();
    let query = &source_url[base.len() + 1..];
    format!("{server}/{name}?{query}")
}

async fn ids(pool: &sqlx::AnyPool, sql: &'static str) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

const PC_IDS: &str = "SELECT uid FROM pcs";
const JOB_IDS: &str = "SELECT CAST(id AS TEXT) || ':' || CAST(pc_id AS TEXT) FROM jobs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_while_agents_check_in_restores_every_pc_and_job() {
    let portal = Portal::start().await;
    let site = portal.site("Backup Kommune", "bib").await;
    let http = reqwest::Client::new();
    let mut agents = Vec::new();
    for i in 0..PCS {
        let mut a = SimAgent::new(i, "bib");
        a.register(&http, &portal.url).await.unwrap();
        let identity = portal.activate(&site, a.uid.as_deref().unwrap()).await;
        agents.push((a, identity.id));
    }
    let script = portal.echo_script(Some(&site), "echo").await;
    for (_, pc_id) in &agents {
        portal.run_on(&site, script.script_id, *pc_id, "hej").await;
    }
    let pcs_before = ids(portal.store.pool(), PC_IDS).await;
    let jobs_before = ids(portal.store.pool(), JOB_IDS).await;
    assert_eq!(pcs_before.len(), PCS as usize);

    // Agents check in (and run their jobs) all through the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let check_ins = Arc::new(AtomicU32::new(0));
    let agents = Arc::new(agents);
    let checking = tokio::spawn({
        let (stop, check_ins, agents, url) = (
            stop.clone(),
            check_ins.clone(),
            agents.clone(),
            portal.url.clone(),
        );
        async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                for (a, _) in agents.iter() {
                    a.check_in(&http, &url, Behaviour::default()).await.unwrap();
                    check_ins.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    crate::common::wait_for(
        "the agents' first check-ins",
        std::time::Duration::from_secs(30),
        || async { (check_ins.load(Ordering::Relaxed) > 0).then_some(()) },
    )
    .await;
    let db_url = portal.db_url.clone();
    let backup_dir = portal.dir.path().join("backup");
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (dir, url, to) = (
            portal.dir.path().to_path_buf(),
            db_url.clone(),
            backup_dir.clone(),
        );
        move || cli(&dir, &url, &["backup", "--to", to.to_str().unwrap()])
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    checking.await.unwrap();
    assert!(ok, "backup failed: {out}{err}");
    assert!(out.contains("borgerpc-admin"), "{out}");

    let dir2 = tempfile::tempdir().unwrap();
    let url2 = fresh_target(dir2.path(), &db_url).await;
    let (ok, out, err) = cli(
        dir2.path(),
        &url2,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(ok, "restore failed: {out}{err}");
    let restored = Store::open(&url2, 2).await.unwrap();
    assert_eq!(ids(restored.pool(), PC_IDS).await, pcs_before);
    assert_eq!(ids(restored.pool(), JOB_IDS).await, jobs_before);
    assert!(
        restored.site_by_uid("bib").await.unwrap().is_some(),
        "the site came along"
    );
    // The row-level security comes along with the schema (the grants do not: README).
    if restored.kind() == service_kit::db::DbKind::Postgres {
        let (unguarded, missing) = borgerpc_admin::tenant_role::unguarded_tables(&restored)
            .await
            .unwrap();
        assert!(
            unguarded.is_empty() && missing.is_empty(),
            "{unguarded:?} {missing:?}"
        );
    }

    // A second restore into it is refused: it holds data now.
    let (ok, _, err) = cli(
        dir2.path(),
        &url2,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(
        !ok && (err.contains("holds data") || err.contains("already has")),
        "{err}"
    );

    // One byte changed: refused, naming the file, before anything is written.
    let damaged = backup_dir.join(if db_url.starts_with("postgres") {
        "dump.pgdump"
    } else {
        "snapshot.sqlite"
    });
    let mut bytes = std::fs::read(&damaged).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x80;
    std::fs::write(&damaged, &bytes).unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let url3 = fresh_target(dir3.path(), &db_url).await;
    let (ok, _, err) = cli(
        dir3.path(),
        &url3,
        &["restore", "--from", backup_dir.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("damaged")
            && (err.contains("snapshot.sqlite") || err.contains("dump.pgdump")),
        "{err}"
    );
    assert!(!dir3.path().join("restored").exists());

    // Not into a directory that holds something (the backup just made).
    let (ok, _, err) = cli(
        portal.dir.path(),
        &db_url,
        &["backup", "--to", backup_dir.to_str().unwrap()],
    );
    assert!(!ok && err.contains("not empty"), "{err}");
}
