//! The upgrade walk every product's tests make: a database with the data of its oldest
//! released schema (a fixture written for migration 1), brought to each later schema the
//! way a real upgrade gets there (one migration at a time), then opened by today's code.
//! Rows a migration moves or backfills are then read through the product's own store.

use crate::db::{Db, Migration, test_database_url};

/// Loads `sql` (statements split on `;`, `--` comment lines dropped, `{{BLOB}}` as the
/// dialect spells it: as migrations are) into `db` in one write transaction. A blob is
/// written `CAST('…' AS {{BLOB}})`.
pub async fn load_sql(db: &Db, sql: &'static str) -> anyhow::Result<()> {
    let statements: Vec<String> = db
        .dialect(sql)
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    db.write(move |c| {
        Box::pin(async move {
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s)).execute(&mut *c).await?;
            }
            Ok(())
        })
    })
    .await
}

/// For every schema the product has had before its latest (`migrations[..k]`, k ≥ 1): a new
/// database (in `dir`, or a schema of its own on PostgreSQL) holding `fixture` loaded after
/// migration 1 and migrated up to k. Returns each one's URL with its k; the caller opens it
/// with its store (which migrates the rest) and checks what it reads.
pub async fn earlier_schemas(
    dir: &std::path::Path,
    migrations: &[Migration],
    fixture: &'static str,
) -> anyhow::Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    for k in 1..migrations.len() {
        let sub = dir.join(format!("schema-{k}"));
        std::fs::create_dir_all(&sub)?;
        let url = test_database_url(&sub).await?;
        let db = Db::connect(&url, 2).await?;
        db.migrate(&migrations[..1]).await?;
        load_sql(&db, fixture).await?;
        db.migrate(&migrations[..k]).await?;
        db.close().await;
        out.push((k, url));
    }
    Ok(out)
}
