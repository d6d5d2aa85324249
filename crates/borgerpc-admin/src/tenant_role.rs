//! Tenant roles: PostgreSQL roles that read and write one customer's rows only, whatever
//! their queries say (row-level security, migration 9), for what connects to a shared
//! database beside the portal, a municipality's reports say. This module owns such a role's
//! grants, its password and its row in `tenant_roles` (`tenant-role grant`, `list`,
//! `revoke`), and the list of tables that hold no customer's data ([`GLOBAL_TABLES`]); the
//! policies themselves are in `migrations/0009_tenant_rls.sql`.
//!
//! The portal itself runs as the tables' owner, which policies leave alone: the wall is for
//! the tenant roles, a second one behind the portal's own filtering by customer.

use crate::store::Store;
use anyhow::Context as _;
use service_kit::db::{DbKind, now_ms};
use sqlx::Row as _;

/// The tables without a customer, each with the reason. Every other table of the schema has
/// row-level security with a policy by customer (a test holds the schema to this), so a new
/// table is either added to the migration's policies or here, with its reason.
pub const GLOBAL_TABLES: &[(&str, &str)] = &[
    (
        "schema_migrations",
        "which migrations ran: the schema's state, the same for every customer",
    ),
    (
        "portal_settings",
        "portal-wide settings of the superusers (who must use a second factor)",
    ),
    (
        "tenant_roles",
        "the mapping of roles to customers itself: a tenant role reads its own row only (a \
         policy), which tenant_customer() needs, and writes none (no grant)",
    ),
    (
        "report_zone_offsets",
        "Copenhagen's UTC offsets, which the reports' local dates are computed with",
    ),
];

/// Where `tenant-role grant` reads the password of a role it creates: never an argument, so
/// it stays out of shell history and `ps`.
pub const PASSWORD_VARIABLE: &str = "BORGERPC_ROLE_PASSWORD";

/// The shortest password a tenant role is given: it logs in over the network.
pub const MIN_PASSWORD_CHARS: usize = 16;

/// A role mapped to a customer, as `tenant-role list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantRole {
    pub role: String,
    pub customer_id: i64,
    pub customer: String,
    pub created_at: i64,
}

/// What `tenant-role grant` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Granted {
    pub role: String,
    pub customer_id: i64,
    pub customer: String,
    /// The role did not exist and was made (LOGIN, the password stored as SCRAM).
    pub created: bool,
    /// Its password was set from the variable (at creation, or replaced).
    pub password_set: bool,
    /// Tables it may read and write, behind their policies.
    pub tables: usize,
    /// Tables left out: neither under a policy nor global (a schema newer than this version?).
    pub skipped: Vec<String>,
}

/// Refuses SQLite: it has no roles and no policies.
fn needs_postgres(store: &Store) -> anyhow::Result<()> {
    anyhow::ensure!(
        store.kind() == DbKind::Postgres,
        "row-level security needs PostgreSQL / rækkesikkerhed kræver PostgreSQL: database.url \
         names a SQLite database, where there are no database roles to grant"
    );
    Ok(())
}

/// A role name this command writes into SQL: lower-case letters, digits and `_` (so it
/// needs no quoting rules beyond double quotes), not PostgreSQL's own `pg_` names.
pub fn check_role_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.starts_with("pg_");
    anyhow::ensure!(
        ok,
        "--role: a role name is 1 to 63 of a-z, 0-9 and _, not starting with a digit or pg_"
    );
    Ok(())
}

/// Checks a new password's length; the message names the variable, never the value.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let n = password.chars().count();
    anyhow::ensure!(
        n >= MIN_PASSWORD_CHARS,
        "{PASSWORD_VARIABLE}: at least {MIN_PASSWORD_CHARS} characters (it has {n})"
    );
    Ok(())
}

/// `"name"`, for an identifier the database gave us (the schema's name).
fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The customer by id (digits) or name, naming the argument if there is none.
async fn customer(store: &Store, customer: &str) -> anyhow::Result<(i64, String)> {
    let by_id = match customer.parse::<i64>() {
        Ok(id) => store.customers().await?.into_iter().find(|c| c.id == id),
        Err(_) => None,
    };
    let found = match by_id {
        Some(c) => Some(c),
        None => store.customer_by_name(customer).await?,
    };
    let c = found.with_context(|| {
        format!("--customer: no customer with the name or id {customer:?} (see `customer list`)")
    })?;
    Ok((c.id, c.name))
}

/// The schema's tables: (name, owner, row-level security on, policies).
async fn tables(
    conn: &mut sqlx::AnyConnection,
) -> anyhow::Result<Vec<(String, String, bool, i64)>> {
    let rows = sqlx::query(
        "SELECT c.relname::TEXT AS name, pg_get_userbyid(c.relowner)::TEXT AS owner,
                c.relrowsecurity AS rls,
                (SELECT COUNT(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
         ORDER BY c.relname",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("name")?,
                r.try_get("owner")?,
                r.try_get("rls")?,
                r.try_get("policies")?,
            ))
        })
        .collect()
}

/// Every table of the schema that holds customer data and has no policy, and every table
/// in [`GLOBAL_TABLES`] that is not in the schema: both empty when the wall is whole.
pub async fn unguarded_tables(store: &Store) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    needs_postgres(store)?;
    let mut conn = store.pool().acquire().await?;
    let tables = tables(&mut conn).await?;
    let is_global = |t: &str| GLOBAL_TABLES.iter().any(|(g, _)| *g == t);
    let unguarded = tables
        .iter()
        .filter(|(t, _, rls, policies)| !(is_global(t) || (*rls && *policies > 0)))
        .map(|(t, ..)| t.clone())
        .collect();
    let missing = GLOBAL_TABLES
        .iter()
        .filter(|(g, _)| !tables.iter().any(|(t, ..)| t == g))
        .map(|(g, _)| (*g).to_owned())
        .collect();
    Ok((unguarded, missing))
}

/// Why `role` (an existing role) could not be a tenant role: policies do not apply to a
/// superuser, to a role with BYPASSRLS, nor to the tables' owner or a member of it.
async fn refuse_privileged(
    conn: &mut sqlx::AnyConnection,
    role: &str,
    owners: &[String],
) -> anyhow::Result<()> {
    let row = sqlx::query(
        "SELECT rolsuper AS superuser, rolbypassrls AS bypass, rolcreaterole AS createrole
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_one(&mut *conn)
    .await?;
    let (superuser, bypass, createrole): (bool, bool, bool) = (
        row.try_get("superuser")?,
        row.try_get("bypass")?,
        row.try_get("createrole")?,
    );
    anyhow::ensure!(
        !superuser,
        "--role: {role} is a superuser, which row-level security does not apply to"
    );
    anyhow::ensure!(
        !bypass,
        "--role: {role} has BYPASSRLS, so row-level security does not apply to it"
    );
    // CREATEROLE lets a role make itself a member of the owner (PostgreSQL 15).
    anyhow::ensure!(
        !createrole,
        "--role: {role} has CREATEROLE, with which it could make itself the tables' owner"
    );
    for owner in owners {
        let is_owner: bool = sqlx::query_scalar("SELECT pg_has_role($1, $2, 'USAGE')")
            .bind(role)
            .bind(owner)
            .fetch_one(&mut *conn)
            .await?;
        anyhow::ensure!(
            !is_owner,
            "--role: {role} owns the portal's tables (or has their owner's rights), and \
             policies do not apply to a table's owner: use a role of its own"
        );
    }
    Ok(())
}

/// `tenant-role grant`: makes `role` (created if missing, LOGIN with `password`) see and
/// change the rows of one customer only, and records it in `tenant_roles`. Run again after
/// an upgrade that adds tables, or after a restore (which drops grants), to grant them anew.
pub async fn grant(
    store: &Store,
    actor: &str,
    customer_ref: &str,
    role: &str,
    password: Option<&str>,
) -> anyhow::Result<Granted> {
    needs_postgres(store)?;
    check_role_name(role)?;
    if let Some(p) = password {
        check_password(p)?;
    }
    let (customer_id, customer) = customer(store, customer_ref).await?;
    let mut tx = store.db.begin_write().await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()::TEXT")
        .fetch_one(&mut *tx)
        .await?;
    let tables = tables(&mut tx).await?;
    let mut owners: Vec<String> = tables.iter().map(|(_, o, ..)| o.clone()).collect();
    owners.sort();
    owners.dedup();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
    let role_sql = quoted(role);
    // Granting again for the same customer renews the grants (after an upgrade or a
    // restore); moving a role to another customer is a revoke first, so it is never silent.
    let mapped: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM tenant_roles WHERE role_name = $1")
            .bind(role)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(other) = mapped.filter(|c| *c != customer_id) {
        anyhow::bail!(
            "--role: {role} sees customer {other} already; `tenant-role revoke --role {role}` \
             first to move it"
        );
    }
    if exists {
        refuse_privileged(&mut tx, role, &owners).await?;
    } else {
        anyhow::ensure!(
            password.is_some(),
            "{PASSWORD_VARIABLE}: role {role} does not exist, and creating it needs its password \
             (at least {MIN_PASSWORD_CHARS} characters) in this variable"
        );
        // NOINHERIT, no other rights: it gets what this command grants, nothing more.
        let create = format!(
            "CREATE ROLE {role_sql} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOINHERIT"
        );
        exec(&mut tx, create)
            .await
            .context("creating the role (the configured database user needs CREATEROLE)")?;
    }
    if let Some(p) = password {
        // The verifier, not the password, goes to the server, so no statement log can hold it.
        exec(
            &mut tx,
            format!("ALTER ROLE {role_sql} PASSWORD '{}'", scram_verifier(p)),
        )
        .await?;
    }
    exec(
        &mut tx,
        format!("GRANT USAGE ON SCHEMA {} TO {role_sql}", quoted(&schema)),
    )
    .await?;
    let is_global = |t: &str| GLOBAL_TABLES.iter().any(|(g, _)| *g == t);
    let mut granted = 0;
    let mut skipped = Vec::new();
    for (table, _, rls, policies) in &tables {
        let privileges = if is_global(table) {
            // Read only: tenant_customer() reads the role's own row of tenant_roles.
            "SELECT"
        } else if *rls && *policies > 0 {
            granted += 1;
            "SELECT, INSERT, UPDATE, DELETE"
        } else {
            // Not behind a wall: granting it would hand out every customer's rows.
            skipped.push(table.clone());
            continue;
        };
        exec(
            &mut tx,
            format!(
                "GRANT {privileges} ON {}.{} TO {role_sql}",
                quoted(&schema),
                quoted(table)
            ),
        )
        .await?;
    }
    // Inserting a row takes its id from the table's sequence.
    exec(
        &mut tx,
        format!(
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {role_sql}",
            quoted(&schema)
        ),
    )
    .await?;
    sqlx::query(
        "INSERT INTO tenant_roles (role_name, customer_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (role_name) DO UPDATE SET customer_id = excluded.customer_id",
    )
    .bind(role)
    .bind(customer_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    crate::store::accounts::audit_in(
        &mut tx,
        actor,
        None,
        "tenant_role.grant",
        &format!("role:{role} customer:{customer_id} ({customer})"),
    )
    .await?;
    tx.commit().await?;
    Ok(Granted {
        role: role.to_owned(),
        customer_id,
        customer,
        created: !exists,
        password_set: password.is_some(),
        tables: granted,
        skipped,
    })
}

/// `tenant-role list`: the roles mapped to customers, by role name.
pub async fn list(store: &Store) -> anyhow::Result<Vec<TenantRole>> {
    needs_postgres(store)?;
    let rows = sqlx::query(
        "SELECT t.role_name, t.customer_id, c.name, t.created_at
         FROM tenant_roles t JOIN customers c ON c.id = t.customer_id ORDER BY t.role_name",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TenantRole {
                role: r.try_get("role_name")?,
                customer_id: r.try_get("customer_id")?,
                customer: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// `tenant-role revoke`: takes the role's grants in this schema and its mapping away. The
/// role itself stays (it may own things elsewhere); a DBA drops it.
pub async fn revoke(store: &Store, actor: &str, role: &str) -> anyhow::Result<TenantRole> {
    needs_postgres(store)?;
    check_role_name(role)?;
    let known = list(store)
        .await?
        .into_iter()
        .find(|t| t.role == role)
        .with_context(|| {
            format!("--role: {role} is not a tenant role here (see `tenant-role list`)")
        })?;
    let mut tx = store.db.begin_write().await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()::TEXT")
        .fetch_one(&mut *tx)
        .await?;
    let (schema, role_sql) = (quoted(&schema), quoted(role));
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
    // A role dropped by hand leaves its mapping only.
    if exists {
        for what in ["TABLES", "SEQUENCES"] {
            exec(
                &mut tx,
                format!("REVOKE ALL ON ALL {what} IN SCHEMA {schema} FROM {role_sql}"),
            )
            .await?;
        }
        exec(
            &mut tx,
            format!("REVOKE USAGE ON SCHEMA {schema} FROM {role_sql}"),
        )
        .await?;
    }
    sqlx::query("DELETE FROM tenant_roles WHERE role_name = $1")
        .bind(role)
        .execute(&mut *tx)
        .await?;
    crate::store::accounts::audit_in(
        &mut tx,
        actor,
        None,
        "tenant_role.revoke",
        &format!(
            "role:{role} customer:{} ({})",
            known.customer_id, known.customer
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(known)
}

/// Runs a statement this module wrote from checked names (no input is spliced in unquoted).
async fn exec(conn: &mut sqlx::AnyConnection, sql: String) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677, as
/// PostgreSQL writes it: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`).
/// PostgreSQL normalises a password with SASLprep and uses it as it is if that fails; so
/// does this, so the password logs in whichever way the client sends it.
pub fn scram_verifier(password: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    const ITERATIONS: u32 = 4096;
    let prepared = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let salt: [u8; 16] = rand::random();
    let salted = hi(prepared.as_bytes(), &salt, ITERATIONS);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = sha2::Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// SCRAM's Hi(): PBKDF2 with HMAC-SHA-256, one 32-byte block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password, salt, iterations)
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac =
        <hmac::Hmac<sha2::Sha256>>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked() {
        for ok in ["aeroe_rapport", "a", "_x1"] {
            check_role_name(ok).unwrap();
        }
        for bad in ["", "Aeroe", "1a", "pg_read", "a-b", "a\"b", &"a".repeat(64)] {
            let e = check_role_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("--role:"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_short_password_is_refused_without_showing_it() {
        let e = check_password("kort-kodeord").unwrap_err().to_string();
        assert!(e.contains(PASSWORD_VARIABLE) && e.contains("16"), "{e}");
        assert!(!e.contains("kort-kodeord"), "{e}");
        check_password("seksten tegn!!!!").unwrap();
    }

    #[test]
    fn hmac_and_hi_give_the_published_values() {
        // RFC 4231, test case 2; and PBKDF2-HMAC-SHA256 ("password", "salt", 4096).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            hex::encode(hi(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn the_verifier_has_postgresqls_form() {
        let v = scram_verifier("en lang adgangskode 2026");
        let (head, keys) = v.split_once('$').unwrap();
        assert_eq!(head, "SCRAM-SHA-256");
        assert!(keys.starts_with("4096:"), "{v}");
        assert!(!v.contains("adgangskode"));
        // A fresh salt each time.
        assert_ne!(v, scram_verifier("en lang adgangskode 2026"));
    }

    #[test]
    fn every_global_table_says_why() {
        for (t, why) in GLOBAL_TABLES {
            assert!(why.len() > 20, "{t}");
        }
    }
}
