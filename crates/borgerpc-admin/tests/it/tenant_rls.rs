//! Row-level security by customer (migration 9, `tenant-role`): two customers seeded with one
//! of everything, a role granted for each through the real binary, and deliberately
//! unfiltered queries (`SELECT * FROM <table>`) as each role on every table the schema has:
//! neither sees a row of the other, and neither can write one. On SQLite the command refuses,
//! naming PostgreSQL. The tables without a policy are exactly `GLOBAL_TABLES`.

use crate::common::{Portal, seed};
use borgerpc_admin::store::Store;
use borgerpc_admin::tenant_role::{GLOBAL_TABLES, unguarded_tables};
use service_kit::db::{Db, DbKind};
use std::collections::BTreeSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_borgerpc-admin");
/// Letters and digits only, so it goes into a URL as it is.
const PASSWORD_A: &str = "TenantAPassword2026xyz";
const PASSWORD_B: &str = "TenantBPassword2026xyz";

/// The real binary on the test's database; (exit code, stdout, stderr).
fn cli(
    db_url: &str,
    dir: &std::path::Path,
    password: Option<&str>,
    args: &[&str],
) -> (i32, String, String) {
    let config = dir.join("borgerpc-rls.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{db_url}\"\n")).unwrap();
    let mut c = Command::new(BIN);
    c.arg("-c").arg(&config).args(args).env("USER", "tester");
    match password {
        Some(p) => c.env("BORGERPC_ROLE_PASSWORD", p),
        None => c.env_remove("BORGERPC_ROLE_PASSWORD"),
    };
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The test's own schema (PostgreSQL test URLs set it as the search_path).
fn schema_of(db_url: &str) -> String {
    db_url
        .split("search_path%3D")
        .nth(1)
        .expect("a test schema in the URL")
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

/// The test URL with another login: the same server, database and schema.
fn url_as(db_url: &str, role: &str, password: &str) -> String {
    let (scheme, rest) = db_url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    format!("{scheme}://{role}:{password}@{host}")
}

/// Every row of `table` as text (the deliberately unfiltered query).
async fn rows(pool: &sqlx::AnyPool, table: &str) -> Result<BTreeSet<String>, sqlx::Error> {
    let all: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT t::TEXT FROM {table} t"
    )))
    .fetch_all(pool)
    .await?;
    Ok(all.into_iter().collect())
}

/// Rows no seeding function writes (they come from agents' check-ins, logins, the web
/// foundation), written as those write them, for one customer's site.
async fn the_rest(store: &Store, site: i64, prefix: &str, ids: &seed::Ids) {
    let user = ids.user;
    let statements = [
        format!(
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value) VALUES ('site', {site}, 'k', '{prefix}'), ('group', {}, 'k', '{prefix}'), ('pc', {}, 'k', '{prefix}')",
            ids.group, ids.pc
        ),
        format!(
            "INSERT INTO checkin_days VALUES ({}, 20000, 1, 1, 0, 1, 1)",
            ids.active_pc
        ),
        format!(
            "INSERT INTO site_checkin_days (site_id, day, pcs, n00) VALUES ({site}, 20000, 1, 1)"
        ),
        format!("INSERT INTO site_opening_hours VALUES ({site}, 1, 480, 960)"),
        format!(
            "INSERT INTO pc_reports (pc_id, at, field, value) VALUES ({}, 1, 'ip', '{prefix}')",
            ids.active_pc
        ),
        format!(
            "INSERT INTO pc_login_days (pc_id, day, site_id, logins) VALUES ({}, 20000, {site}, 1)",
            ids.active_pc
        ),
        format!(
            "INSERT INTO site_login_days (site_id, day, logins, pcs) VALUES ({site}, 20000, 1, 1)"
        ),
        format!(
            "INSERT INTO group_login_days (group_id, site_id, day, logins, pcs) VALUES ({}, {site}, 20000, 1, 1)",
            ids.group
        ),
        format!(
            "INSERT INTO pc_login_sites (pc_id, site_id, first_day, last_day, last_active) VALUES ({}, {site}, 20000, 20000, 20000)",
            ids.active_pc
        ),
        format!(
            "INSERT INTO login_log (site_id, pc_id, integration, identifier_hash, login_at) VALUES ({site}, {}, 'x', '{prefix}', 1)",
            ids.active_pc
        ),
        format!(
            "INSERT INTO job_file_urls (token, job_id, position, expires_at) VALUES ('{prefix}-token', {}, 0, 1)",
            ids.job
        ),
        format!(
            "INSERT INTO script_tags (script_id, tag) VALUES ({}, '{prefix}')",
            ids.script
        ),
        format!(
            "INSERT INTO rule_alert_users VALUES ('security', {}, {user}), ('offline', {}, {user})",
            ids.security_rule, ids.offline_rule
        ),
        format!(
            "INSERT INTO group_supervisors VALUES ({}, {user})",
            ids.group
        ),
        format!("INSERT INTO sessions VALUES ('{prefix}-s', {user}, 1, 2)"),
        format!(
            "INSERT INTO web_sessions (token_sha256, user_id, csrf, created_at, last_seen_at) VALUES ('{prefix}-w', {user}, 'c', 1, 1)"
        ),
        format!("INSERT INTO web_second_factors (user_id, secret) VALUES ({user}, '{prefix}')"),
        format!("INSERT INTO web_backup_codes (user_id, code_sha256) VALUES ({user}, '{prefix}')"),
        format!(
            "INSERT INTO web_login_log (at, username, user_id, address, outcome) VALUES (1, '{prefix}', {user}, '::1', 'ok')"
        ),
        format!(
            "INSERT INTO audit_log (at, actor, customer_id, site_id, action, target) VALUES (1, '{prefix}', NULL, {site}, 'x', 'x')"
        ),
        format!(
            "INSERT INTO report_subscriptions (user_id, customer_id, site_id, report, cadence, language, next_due, next_attempt, created_at) SELECT {user}, customer_id, id, 'usage', 'weekly', 'da', 1, 1, 1 FROM sites WHERE id = {site}"
        ),
    ];
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(s.clone()))
            .execute(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    // A customer's own record without a site (a site of its deleted), through the store.
    let customer = store.site(site).await.unwrap().unwrap().customer_id;
    store
        .audit_customer(
            prefix,
            customer,
            "site.delete",
            &format!("site:0 ({prefix}) customer:{customer}"),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_role_reads_and_writes_none_of_another_customers_rows() {
    let portal = Portal::start().await;
    let dir = portal.dir.path();
    let db_url = portal.db_url.clone();
    if portal.store.kind() == DbKind::Sqlite {
        // SQLite has no roles: every tenant-role command says so, and changes nothing.
        for args in [
            &["tenant-role", "grant", "--customer", "1", "--role", "aeroe"][..],
            &["tenant-role", "list"][..],
            &["tenant-role", "revoke", "--role", "aeroe"][..],
        ] {
            let (code, _, err) = cli(&db_url, dir, Some(PASSWORD_A), args);
            assert_eq!(code, 1, "{args:?}");
            assert!(
                err.contains("row-level security needs PostgreSQL"),
                "{args:?}: {err}"
            );
        }
        return;
    }
    let a = portal.site("Ærø Kommune", "aeroe-bib").await;
    let b = portal.site("Andeby Kommune", "andeby-bib").await;
    let seeded_a = seed::everything(&portal, &a, "Aeroe").await;
    let seeded_b = seed::everything(&portal, &b, "Andeby").await;
    the_rest(&portal.store, a.id, "Aeroe", &seeded_a.ids).await;
    the_rest(&portal.store, b.id, "Andeby", &seeded_b.ids).await;

    // Roles are the server's, not the schema's: named after the test's schema.
    let schema = schema_of(&db_url);
    let (role_a, role_b) = (format!("a_{schema}"), format!("b_{schema}"));
    let a_id = a.customer_id.to_string();
    for (customer, role, password) in [
        (a_id.as_str(), &role_a, PASSWORD_A),
        ("Andeby Kommune", &role_b, PASSWORD_B),
    ] {
        let (code, out, err) = cli(
            &db_url,
            dir,
            Some(password),
            &[
                "tenant-role",
                "grant",
                "--customer",
                customer,
                "--role",
                role,
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("created") && out.contains("SCRAM"), "{out}");
        assert!(!out.contains(password) && !err.contains(password));
    }
    // Granted again for its customer (after an upgrade, a restore): renewed, password kept.
    let (code, out, err) = cli(
        &db_url,
        dir,
        None,
        &[
            "tenant-role",
            "grant",
            "--customer",
            "Ærø Kommune",
            "--role",
            &role_a,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password unchanged"), "{out}");
    // Not moved to another customer in passing.
    let (code, _, err) = cli(
        &db_url,
        dir,
        None,
        &[
            "tenant-role",
            "grant",
            "--customer",
            "Andeby Kommune",
            "--role",
            &role_a,
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("revoke"), "{err}");
    let (code, listed, _) = cli(&db_url, dir, None, &["tenant-role", "list"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    // The password is stored as a SCRAM verifier.
    let stored: String = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(&role_a)
        .fetch_one(portal.store.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$"));

    let as_a = Db::connect(&url_as(&db_url, &role_a, PASSWORD_A), 2)
        .await
        .unwrap();
    let as_b = Db::connect(&url_as(&db_url, &role_b, PASSWORD_B), 2)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(portal.store.pool())
    .await
    .unwrap();
    assert!(tables.len() >= 40, "{tables:?}");
    // Global scripts (the wake plan's core scripts), their tags, versions and inputs are shared.
    let shared = [
        (
            "scripts",
            "SELECT s::TEXT FROM scripts s WHERE site_id IS NULL",
        ),
        (
            "script_tags",
            "SELECT g::TEXT FROM script_tags g JOIN scripts s ON s.id = g.script_id WHERE s.site_id IS NULL",
        ),
        (
            "script_versions",
            "SELECT v::TEXT FROM script_versions v JOIN scripts s ON s.id = v.script_id WHERE s.site_id IS NULL",
        ),
        (
            "inputs",
            "SELECT i::TEXT FROM inputs i JOIN script_versions v ON v.id = i.script_version_id JOIN scripts s ON s.id = v.script_id WHERE s.site_id IS NULL",
        ),
    ];
    let mut checked = 0;
    for table in &tables {
        if GLOBAL_TABLES.iter().any(|(g, _)| g == table) {
            continue;
        }
        let all = rows(portal.store.pool(), table).await.unwrap();
        let seen_a = rows(as_a.reader(), table).await.unwrap();
        let seen_b = rows(as_b.reader(), table).await.unwrap();
        assert!(
            !seen_a.is_empty() && !seen_b.is_empty(),
            "{table}: seed both customers' rows"
        );
        assert!(seen_a.is_subset(&all) && seen_b.is_subset(&all), "{table}");
        let global: BTreeSet<String> = match shared.iter().find(|(t, _)| t == table) {
            Some((_, sql)) => sqlx::query_scalar::<_, String>(*sql)
                .fetch_all(portal.store.pool())
                .await
                .unwrap()
                .into_iter()
                .collect(),
            None => BTreeSet::new(),
        };
        let both: BTreeSet<_> = seen_a.intersection(&seen_b).cloned().collect();
        assert!(
            both.is_subset(&global),
            "{table}: rows both customers see: {both:?}"
        );
        for row in &seen_a {
            assert!(!row.contains("Andeby"), "{table}: A sees {row}");
        }
        for row in &seen_b {
            assert!(
                !row.contains("Aeroe") && !row.contains("Ærø"),
                "{table}: B sees {row}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, tables.len() - GLOBAL_TABLES.len());
    // A customer's own records without a site are its tenant's, in the log and its roll-up.
    for (pool, mine) in [(as_a.reader(), "Aeroe"), (as_b.reader(), "Andeby")] {
        for sql in [
            "SELECT actor FROM audit_log WHERE site_id IS NULL AND action = 'site.delete'",
            "SELECT actor FROM audit_days WHERE site_id = 0 AND action = 'site.delete'",
        ] {
            let own: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
            assert_eq!(own, [mine], "{sql}");
        }
    }

    // Writes: B's rows are out of reach, A's own are not.
    let a_pool = as_a.reader();
    let changed = |sql: String| async move {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(a_pool)
            .await
            .map(|r| r.rows_affected())
    };
    let ib = &seeded_b.ids;
    let ia = &seeded_a.ids;
    for sql in [
        format!("UPDATE pcs SET name = 'taken' WHERE id = {}", ib.pc),
        format!("UPDATE sites SET name = 'taken' WHERE id = {}", b.id),
        format!("DELETE FROM jobs WHERE id = {}", ib.job),
        format!("DELETE FROM security_events WHERE site_id = {}", b.id),
        format!(
            "UPDATE users SET password_hash = 'x' WHERE id = {}",
            ib.user
        ),
        "UPDATE scripts SET name = 'taken' WHERE site_id IS NULL".to_owned(),
        "UPDATE pcs SET name = 'taken'".to_owned(),
    ] {
        let n = changed(sql.clone()).await.unwrap();
        // The unfiltered UPDATE changes A's own PCs only.
        let expected = if sql == "UPDATE pcs SET name = 'taken'" {
            2
        } else {
            0
        };
        assert_eq!(n, expected, "{sql}");
    }
    let b_pcs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE site_id = $1 AND name = 'taken'")
            .bind(b.id)
            .fetch_one(portal.store.pool())
            .await
            .unwrap();
    assert_eq!(b_pcs, 0);
    for sql in [
        format!(
            "INSERT INTO pcs (site_id, uid, mac, name, created_at) VALUES ({}, 'x1', 'm', 'x', 1)",
            b.id
        ),
        format!("UPDATE pcs SET site_id = {} WHERE id = {}", b.id, ia.pc),
        format!(
            "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value) VALUES ('pc', {}, 'x', 'x')",
            ib.pc
        ),
        format!(
            "INSERT INTO pc_group_members VALUES ({}, {})",
            ia.pc, ib.group
        ),
        format!(
            "INSERT INTO memberships (user_id, customer_id, role) VALUES ({}, {}, 'customer_admin')",
            ia.user, b.customer_id
        ),
        format!("UPDATE tenant_roles SET customer_id = {}", b.customer_id),
        format!(
            "INSERT INTO tenant_roles VALUES ('x', {}, 1)",
            b.customer_id
        ),
    ] {
        let e = changed(sql.clone()).await.expect_err(&sql).to_string();
        assert!(
            e.contains("row-level security") || e.contains("permission denied"),
            "{sql}: {e}"
        );
    }
    assert_eq!(
        changed(format!(
            "UPDATE pcs SET description = 'mine' WHERE id = {}",
            ia.pc
        ))
        .await
        .unwrap(),
        1
    );

    // Revoked: the role stays, but reads nothing here any more.
    let (code, out, _) = cli(
        &db_url,
        dir,
        None,
        &["tenant-role", "revoke", "--role", &role_a],
    );
    assert_eq!(code, 0);
    assert!(out.contains("kept"), "{out}");
    as_a.close().await;
    let again = Db::connect(&url_as(&db_url, &role_a, PASSWORD_A), 1)
        .await
        .unwrap();
    let e = rows(again.reader(), &format!("{schema}.pcs"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
    again.close().await;
    as_b.close().await;
    cli(
        &db_url,
        dir,
        None,
        &["tenant-role", "revoke", "--role", &role_b],
    );
    for role in [&role_a, &role_b] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
            .execute(portal.store.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn tenant_role_grant_refuses_what_policies_would_not_hold() {
    let portal = Portal::start().await;
    if portal.store.kind() == DbKind::Sqlite {
        return; // refused as a whole: the test above
    }
    let dir = portal.dir.path();
    let db_url = portal.db_url.clone();
    portal.site("Ærø Kommune", "aeroe-bib").await;
    let schema = schema_of(&db_url);
    let pool = portal.store.pool();
    let (bypass, member) = (format!("bypass_{schema}"), format!("owner_{schema}"));
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::TEXT FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'pcs'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    for sql in [
        format!("CREATE ROLE {bypass} LOGIN BYPASSRLS"),
        format!("CREATE ROLE {member} LOGIN"),
        format!("GRANT \"{owner}\" TO {member}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    let long = "en-lang-adgangskode-2026";
    for (password, customer, role, refusal) in [
        (Some(long), "Ærø Kommune", owner.as_str(), "superuser"),
        (Some(long), "Ærø Kommune", bypass.as_str(), "BYPASSRLS"),
        (
            Some(long),
            "Ærø Kommune",
            member.as_str(),
            "owns the portal's tables",
        ),
        (
            Some("for-kort"),
            "Ærø Kommune",
            "aeroe_ny",
            "BORGERPC_ROLE_PASSWORD: at least 16",
        ),
        (None, "Ærø Kommune", "aeroe_ny", "BORGERPC_ROLE_PASSWORD"),
        (
            Some(long),
            "Ukendt Kommune",
            "aeroe_ny",
            "--customer: no customer",
        ),
        (Some(long), "Ærø Kommune", "Aeroe-Ny", "--role: a role name"),
        (
            Some(long),
            "Ærø Kommune",
            "pg_monitor",
            "--role: a role name",
        ),
    ] {
        let (code, out, err) = cli(
            &db_url,
            dir,
            password,
            &[
                "tenant-role",
                "grant",
                "--customer",
                customer,
                "--role",
                role,
            ],
        );
        assert_eq!(code, 1, "{role}: {out}");
        assert!(err.contains(refusal), "{role}: {refusal:?} not in {err}");
        assert!(!err.contains(long) && !err.contains("for-kort"), "{err}");
    }
    let (code, _, err) = cli(
        &db_url,
        dir,
        None,
        &["tenant-role", "revoke", "--role", "aeroe_ny"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("not a tenant role"), "{err}");
    let mapped: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_roles")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mapped, 0, "nothing refused was recorded");
    for role in [&bypass, &member] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
            .execute(pool)
            .await
            .unwrap();
    }
}

/// Every table of the schema has row-level security with a policy, or is in GLOBAL_TABLES
/// (with its reason): a new table cannot be left out of the wall. On SQLite, from the
/// migration's text: each of its tables is enabled there.
#[tokio::test]
async fn every_table_is_behind_a_policy_or_named_global() {
    let dir = tempfile::tempdir().unwrap();
    let url = service_kit::db::test_database_url(dir.path())
        .await
        .unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    match store.kind() {
        DbKind::Postgres => {
            let (unguarded, missing) = unguarded_tables(&store).await.unwrap();
            assert!(
                unguarded.is_empty(),
                "tables with customer data and no policy: {unguarded:?}; add a policy to a \
                 migration, or the table to GLOBAL_TABLES with its reason"
            );
            assert!(
                missing.is_empty(),
                "GLOBAL_TABLES names tables that are not: {missing:?}"
            );
        }
        DbKind::Sqlite => {
            let e = unguarded_tables(&store).await.unwrap_err().to_string();
            assert!(e.contains("row-level security needs PostgreSQL"), "{e}");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(store.pool())
            .await
            .unwrap();
            assert!(tables.len() >= 40, "{tables:?}");
            for t in tables {
                let global = GLOBAL_TABLES.iter().any(|(g, _)| *g == t);
                // Migration 9 and the later ones: each table's policy is after its
                // migration's `-- {{POSTGRES}}` line.
                let enabled = borgerpc_admin::store::MIGRATIONS.iter().any(|m| {
                    let pg = m
                        .sql
                        .split_once(service_kit::db::POSTGRES_ONLY)
                        .map(|(_, pg)| pg);
                    pg.is_some_and(|pg| {
                        pg.contains(&format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"))
                            && pg.contains(&format!(" ON {t}\n"))
                    })
                });
                assert!(
                    global || enabled,
                    "{t}: no policy in a migration's PostgreSQL part, and not global"
                );
            }
        }
    }
}
