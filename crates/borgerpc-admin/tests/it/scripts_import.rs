//! `scripts import` and `scripts lint`: a library in the os2borgerpc-scripts format becomes
//! scripts; a new version replaces the old one for new jobs while old jobs keep the code they
//! were made with; a library with errors is refused whole; lint prints file:line errors.

use crate::common;

use borgerpc_admin::scripts::import::{ImportError, import};
use borgerpc_admin::store::jobs::{ParamValue, RunScript};
use common::Portal;
use std::path::{Path, PathBuf};

fn fixtures(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scripts")
        .join(which)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_serves_new_jobs_while_old_jobs_keep_their_code() {
    let portal = Portal::start().await;
    let site = portal.site("Kommune", "site-1").await;
    let library = portal.dir.path().join("library");
    copy_dir(&fixtures("good"), &library);

    let first = import(&portal.store, &library, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (first.created, first.new_versions, first.unchanged),
        (4, 0, 0)
    );
    let again = import(&portal.store, &library, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.new_versions, again.unchanged),
        (0, 0, 4)
    );

    // A PC and a job made with version 2 of the wake-plan script (uid kiosk_wake_plan_apply).
    let (status, uid) = portal
        .post(
            "register_new_computer",
            serde_json::json!({"mac": "02:00:00:00:01:01", "name": "pc1", "site": "site-1", "configuration": {}, "client_key": "12".repeat(32)}),
        )
        .await;
    assert_eq!(status, 200);
    let pc = portal
        .store
        .pc_identity(uid.as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let script_id: i64 =
        sqlx::query_scalar("SELECT id FROM scripts WHERE uid = 'kiosk_wake_plan_apply'")
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    let run = |portal: &Portal| {
        let store = portal.store.clone();
        async move {
            // A hidden script: what a wake plan runs, never an operator directly.
            store
                .run_feature_script(RunScript {
                    site_id: site.id,
                    script_id,
                    pc_ids: &[pc.id],
                    params: vec![ParamValue::Text("mon 08:00-16:00".into())],
                    created_by: "test",
                })
                .await
                .unwrap()
                .job_ids[0]
        }
    };
    let old_job = run(&portal).await;

    // The library moves on: same uid, new code.
    let code_file = library.join("scripts/kiosk_wake_plan.sh");
    let mut code = std::fs::read_to_string(&code_file).unwrap();
    code.push_str("echo version three\n");
    std::fs::write(&code_file, &code).unwrap();
    let upgrade = import(&portal.store, &library, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (upgrade.created, upgrade.new_versions, upgrade.unchanged),
        (0, 1, 3)
    );
    let new_job = run(&portal).await;

    let jobs = portal.store.pending_jobs(pc.id).await.unwrap();
    let code_of = |id: i64| jobs.iter().find(|j| j.id == id).unwrap().code.clone();
    assert!(
        !code_of(old_job).contains("version three"),
        "the old job keeps its code"
    );
    assert!(
        code_of(new_job).contains("version three"),
        "new jobs get the new version"
    );
    let versions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM script_versions WHERE script_id = $1")
            .bind(script_id)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(versions, 2);

    // A local import belongs to its site only.
    let local = import(&portal.store, &library, Some(site.id), |_, _| {})
        .await
        .unwrap();
    assert_eq!(local.created, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_with_errors_is_refused_whole() {
    let portal = Portal::start().await;
    match import(&portal.store, &fixtures("bad"), None, |_, _| {}).await {
        Err(ImportError::Invalid(problems)) => assert!(problems.iter().any(|p| p.is_error())),
        other => panic!("expected the bad library to be refused, got {other:?}"),
    }
    let scripts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scripts")
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert_eq!(scripts, 0, "nothing half-written");
}

#[test]
fn lint_prints_file_and_line_and_fails_on_errors() {
    let bin = env!("CARGO_BIN_EXE_borgerpc-admin");
    let bad = std::process::Command::new(bin)
        .args(["scripts", "lint", "--no-shellcheck"])
        .arg(fixtures("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8(bad.stdout).unwrap();
    assert!(
        out.lines()
            .any(|l| l.contains("unknown_parameter_type.md:") && l.contains(": error: ")),
        "{out}"
    );
    let line_numbered = out
        .lines()
        .filter(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n > 0))
        })
        .count();
    assert!(line_numbered >= 10, "most problems name their line:\n{out}");

    let good = std::process::Command::new(bin)
        .args(["scripts", "lint", "--no-shellcheck"])
        .arg(fixtures("good"))
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}
