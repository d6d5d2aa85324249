//! The `borgerpc-admin` command as an operator runs it (the real binary, a configuration file,
//! the password on stdin), against SQLite or, with `TEST_DATABASE_URL`, PostgreSQL: every
//! command the README names for managing the portal works, refuses bad input naming the
//! argument, and every change it makes is in the audit log as `cli:<OS user>`.

use borgerpc_admin::store::Store;
use borgerpc_admin::store::jobs::{NewInput, NewScript};
use borgerpc_admin::store::pcs::NewPc;
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");
const PASSWORD: &str = "en lang og god adgangskode 2026";

struct Cli {
    config: std::path::PathBuf,
}

impl Cli {
    /// Runs a command; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut child = Command::new(BIN)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("USER", "tester")
            .env_remove("BORGERPC_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A password for the commands that ask for one; the others do not read it.
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs a command that must fail, naming `what` in its message.
    fn refused(&self, args: &[&str], what: &str) {
        let (code, _, err) = self.run(args);
        assert_eq!(code, 1, "{args:?} should fail");
        assert!(err.contains(what), "{args:?}: {what:?} not in {err}");
    }
}

fn script(name: &str, uid: Option<&str>, security: bool, inputs: usize) -> NewScript {
    NewScript {
        site_id: None,
        uid: uid.map(Into::into),
        name: name.into(),
        description: String::new(),
        category: None,
        is_security: security,
        is_hidden: uid.is_some(),
        version: 1,
        code: "#!/bin/sh\ntrue\n".into(),
        inputs: (0..inputs)
            .map(|i| NewInput {
                name: format!("arg{i}"),
                value_type: "STRING".into(),
                default_value: None,
                mandatory: uid.is_none(),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_manage_the_portal_and_are_audited_as_the_os_user() {
    let dir = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let store = Store::open(&url, 4).await.unwrap();
    let config = dir.path().join("borgerpc.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{url}\"\n")).unwrap();
    let cli = Cli { config };

    cli.json(&["customer", "add", "Testkommune"]);
    let site = cli.json(&[
        "site",
        "add",
        "--customer",
        "Testkommune",
        "--uid",
        "bibliotek",
        "--name",
        "Biblioteket",
    ]);
    let site_id = site["id"].as_i64().unwrap();
    cli.json(&["createsuperuser", "--username", "admin"]);
    cli.json(&[
        "user",
        "add",
        "--username",
        "it",
        "--email",
        "it@kommune.dk",
        "--role",
        "site_user",
        "--site",
        "bibliotek",
    ]);
    cli.json(&[
        "user",
        "grant",
        "it",
        "--role",
        "site_admin",
        "--site",
        "bibliotek",
    ]);
    let users = cli.json(&["user", "list", "--site", "bibliotek"]);
    assert_eq!(users[0]["username"], "it", "{users}");
    assert_eq!(users[0]["roles"].as_array().unwrap().len(), 2, "{users}");

    let key = cli.ok(&[
        "api-key",
        "add",
        "--site",
        "bibliotek",
        "--description",
        "Power BI",
    ]);
    let key = key.trim();
    assert!(key.starts_with("bpk_"), "{key}");
    let keys = cli.json(&["api-key", "list", "--site", "bibliotek"]);
    assert!(!keys.to_string().contains(key), "a key is never listed");
    let key_id = keys[0]["id"].as_i64().unwrap();
    cli.ok(&["api-key", "revoke", &key_id.to_string()]);
    assert_eq!(cli.json(&["api-key", "list"]), Value::Array(vec![]));
    cli.ok(&[
        "api-key",
        "add",
        "--site",
        "bibliotek",
        "--description",
        "Drift",
        "--write",
    ]);
    assert_eq!(cli.json(&["api-key", "list"])[0]["can_write"], true);

    cli.ok(&["site", "legacy", "bibliotek", "--enabled", "true"]);
    let pc_uid = borgerpc_admin::store::pcs::new_pc_uid();
    store
        .insert_pc(NewPc {
            site_id,
            uid: &pc_uid,
            mac: "02:00:00:00:00:42",
            name: "pc-42",
            client_key_hash: "",
            entries: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        cli.json(&["pc", "list", "--site", "bibliotek"])[0]["uid"],
        pc_uid
    );
    cli.ok(&["pc", "activate", "--site", "bibliotek", &pc_uid]);
    cli.refused(
        &["pc", "activate", "--site", "bibliotek", "no-such-pc"],
        "no-such-pc",
    );

    let echo = store
        .save_script(&script("Ekko", None, false, 1))
        .await
        .unwrap();
    let security = store
        .save_script(&script("Opdag sudo", None, true, 0))
        .await
        .unwrap();
    store
        .save_script(&script("wake_plan_set", Some("wake_plan_set"), false, 16))
        .await
        .unwrap();
    store
        .save_script(&script(
            "wake_plan_remove",
            Some("wake_plan_remove"),
            false,
            0,
        ))
        .await
        .unwrap();
    let batch = cli.json(&[
        "job",
        "run",
        "--site",
        "bibliotek",
        "--script",
        &echo.script_id.to_string(),
        "--pc",
        &pc_uid,
        "--param",
        "hej",
    ]);
    assert_eq!(batch["job_ids"].as_array().unwrap().len(), 1);
    // `job list --status` filters by a status as stored; a status it does not know is refused
    // by the parser, naming the option and the statuses, not answered with an empty list.
    let list = |status: &str| {
        cli.json(&["job", "list", "--site", "bibliotek", "--status", status])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(list("NEW"), 1);
    assert_eq!(list("DONE"), 0);
    for wrong in ["done", "FINISHED"] {
        let (code, out, err) = cli.run(&["job", "list", "--site", "bibliotek", "--status", wrong]);
        assert_eq!(code, 2, "--status {wrong} should be refused: {out}");
        assert!(err.contains("--status"), "{err}");
        assert!(
            err.contains("NEW, SUBMITTED, DONE, FAILED, RESOLVED"),
            "the valid statuses are not listed: {err}"
        );
    }

    cli.json(&["group", "add", "--site", "bibliotek", "--name", "Udlån"]);
    cli.json(&["group", "join", "--site", "bibliotek", "Udlån", &pc_uid]);
    let g = cli.json(&[
        "group",
        "set",
        "--site",
        "bibliotek",
        "Udlån",
        "--description",
        "Udlånet",
        "--supervisor",
        "it",
    ]);
    assert_eq!(g["supervisors"].as_array().unwrap().len(), 1, "{g}");
    assert_eq!(
        cli.json(&["group", "list", "--site", "bibliotek"])[0]["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    cli.json(&[
        "config",
        "set",
        "--site",
        "bibliotek",
        "--group",
        "Udlån",
        "browser_home",
        "https://bib.dk",
    ]);
    cli.json(&[
        "config",
        "set",
        "--site",
        "bibliotek",
        "--pc",
        &pc_uid,
        "printer",
        "HP",
    ]);
    cli.json(&["config", "set", "--site", "bibliotek", "job_timeout", "900"]);
    let entries = cli.json(&["config", "list", "--site", "bibliotek", "--group", "Udlån"]);
    assert_eq!(entries[0]["key"], "browser_home", "{entries}");
    cli.json(&[
        "config",
        "unset",
        "--site",
        "bibliotek",
        "--group",
        "Udlån",
        "browser_home",
    ]);
    cli.refused(
        &["config", "set", "--site", "bibliotek", "_os_release", "x"],
        "reported by the PC",
    );

    let offline = cli.json(&[
        "rule",
        "add-offline",
        "--site",
        "bibliotek",
        "--name",
        "Åbningstid",
        "--level",
        "HIGH",
        "--from",
        "08:00",
        "--to",
        "18:00",
        "--max-offline-minutes",
        "60",
        "--group",
        "Udlån",
        "--alert-user",
        "it",
    ]);
    assert_eq!(offline["alert_users"].as_array().unwrap().len(), 1);
    cli.json(&[
        "rule",
        "add-security",
        "--site",
        "bibliotek",
        "--name",
        "Sudo",
        "--level",
        "CRITICAL",
        "--script",
        &security.script_id.to_string(),
    ]);
    cli.refused(
        &[
            "rule",
            "add-offline",
            "--site",
            "bibliotek",
            "--name",
            "x",
            "--level",
            "HIGH",
            "--from",
            "08:00",
            "--to",
            "18:00",
            "--max-offline-minutes",
            "5",
        ],
        "max_offline_minutes",
    );
    assert_eq!(
        cli.json(&["rule", "list", "--site", "bibliotek"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    cli.ok(&[
        "rule",
        "delete",
        "--site",
        "bibliotek",
        "--kind",
        "offline",
        &offline["id"].as_i64().unwrap().to_string(),
    ]);

    let plan = cli.json(&[
        "wakeplan",
        "add",
        "--site",
        "bibliotek",
        "--name",
        "Standard",
        "--day",
        "sat=10:00-14:00",
        "--day",
        "fri=closed",
        "--closed",
        "2099-12-24..2099-12-26",
        "--hours",
        "2099-12-23=10:00-14:00",
        "--group",
        "Udlån",
        "--sleep-state",
        "MEM",
    ]);
    assert_eq!(plan["week"][5]["on"], "10:00", "{plan}");
    assert_eq!(plan["week"][4]["open"], false, "{plan}");
    assert_eq!(plan["exceptions"].as_array().unwrap().len(), 2, "{plan}");
    cli.refused(
        &[
            "wakeplan",
            "add",
            "--site",
            "bibliotek",
            "--name",
            "X",
            "--day",
            "someday=1",
        ],
        "--day",
    );
    let off = cli.json(&[
        "wakeplan",
        "set",
        "--site",
        "bibliotek",
        "Standard",
        "--enabled",
        "false",
    ]);
    assert_eq!(off["enabled"], false);
    assert_eq!(
        cli.json(&["wakeplan", "list", "--site", "bibliotek"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cli.ok(&["wakeplan", "delete", "--site", "bibliotek", "Standard"]);

    cli.ok(&["group", "leave", "--site", "bibliotek", "Udlån", &pc_uid]);
    cli.ok(&["group", "delete", "--site", "bibliotek", "Udlån"]);
    cli.ok(&["user", "remove", "it"]);
    cli.refused(&["user", "remove", "it"], "no user named");
    cli.ok(&["pc", "delete", "--site", "bibliotek", &pc_uid]);

    // Everything above is in the audit log, as the OS user at the command line.
    let on_site = cli.json(&["audit", "list", "--site", "bibliotek"]);
    assert!(
        on_site
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["site_id"] == site_id)
    );
    let log = cli.json(&["audit", "list", "--limit", "1000"]);
    let entries = log.as_array().unwrap();
    assert!(entries.iter().all(|e| e["actor"] == "cli:tester"), "{log}");
    let actions: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "customer.create",
        "site.create",
        "user.create",
        "user.grant",
        "api_key.create",
        "api_key.revoke",
        "site.change",
        "pc.activate",
        "script.run",
        "group.create",
        "group.join",
        "group.change",
        "config.set",
        "config.unset",
        "rule.create",
        "rule.delete",
        "wake_plan.create",
        "wake_plan.change",
        "wake_plan.delete",
        "group.leave",
        "group.delete",
        "user.delete",
        "pc.delete",
    ] {
        assert!(
            actions.contains(action),
            "{action} is not in the audit log: {actions:?}"
        );
    }
    let legacy = entries
        .iter()
        .find(|e| e["action"] == "site.change")
        .unwrap();
    assert_eq!(
        legacy["detail"],
        serde_json::json!({"before": {"legacy_xmlrpc": false}, "after": {"legacy_xmlrpc": true}})
    );
}

#[test]
fn scripts_import_is_audited() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = rt
        .block_on(service_kit::db::test_database_url(dir.path()))
        .unwrap();
    let config = dir.path().join("borgerpc.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{url}\"\n")).unwrap();
    let cli = Cli { config };
    let library =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripts/good");
    cli.json(&["scripts", "import", library.to_str().unwrap()]);
    let log = cli.json(&["audit", "list"]);
    assert_eq!(log[0]["action"], "scripts.import", "{log}");
    assert_eq!(log[0]["actor"], "cli:tester", "{log}");
}
