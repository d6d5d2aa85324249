//! Customers (municipalities) and their sites: the roots of every tenant's data.

use super::Store;
use service_kit::db::now_ms;
use sqlx::Row as _;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Customer {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    pub id: i64,
    pub customer_id: i64,
    pub uid: String,
    pub name: String,
    pub legacy_xmlrpc: bool,
}

/// A site uid is typed by hand at every PC's registration: keep it short and plain.
pub fn check_site_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() || uid.len() > 64 {
        return Err("site uid: must be 1 to 64 characters".into());
    }
    if !uid
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "site uid: {uid:?} may contain only a-z, 0-9 and '-' (no capitals, spaces or æøå)"
        ));
    }
    Ok(())
}

fn site_from_row(r: &sqlx::any::AnyRow) -> Result<Site, sqlx::Error> {
    Ok(Site {
        id: r.try_get("id")?,
        customer_id: r.try_get("customer_id")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        legacy_xmlrpc: r.try_get::<i64, _>("legacy_xmlrpc")? != 0,
    })
}

const SITE_COLUMNS: &str = "id, customer_id, uid, name, legacy_xmlrpc";

impl Store {
    pub async fn add_customer(&self, name: &str) -> anyhow::Result<Customer> {
        let name = name.trim();
        anyhow::ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "customer name: must be 1 to 200 characters"
        );
        if self.customer_by_name(name).await?.is_some() {
            anyhow::bail!("customer name: a customer named {name:?} already exists");
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(Customer {
            id,
            name: name.to_owned(),
        })
    }

    pub async fn customer_by_name(&self, name: &str) -> anyhow::Result<Option<Customer>> {
        let row = sqlx::query("SELECT id, name FROM customers WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row
            .map(|r| -> Result<Customer, sqlx::Error> {
                Ok(Customer {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                })
            })
            .transpose()?)
    }

    pub async fn customers(&self) -> anyhow::Result<Vec<Customer>> {
        let rows = sqlx::query("SELECT id, name FROM customers ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Customer {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    pub async fn add_site(&self, customer_id: i64, uid: &str, name: &str) -> anyhow::Result<Site> {
        check_site_uid(uid).map_err(anyhow::Error::msg)?;
        let name = name.trim();
        anyhow::ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "site name: must be 1 to 200 characters"
        );
        if self.site_by_uid(uid).await?.is_some() {
            anyhow::bail!("site uid: {uid:?} is taken; site uids are unique across the portal");
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sites (customer_id, uid, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(customer_id)
        .bind(uid)
        .bind(name)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(Site {
            id,
            customer_id,
            uid: uid.to_owned(),
            name: name.to_owned(),
            legacy_xmlrpc: false,
        })
    }

    pub async fn site_by_uid(&self, uid: &str) -> anyhow::Result<Option<Site>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE uid = $1"
        )))
        .bind(uid)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(site_from_row).transpose()?)
    }

    pub async fn site(&self, id: i64) -> anyhow::Result<Option<Site>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(site_from_row).transpose()?)
    }

    pub async fn sites(&self, customer_id: Option<i64>) -> anyhow::Result<Vec<Site>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE ($1 = 0 OR customer_id = $1) ORDER BY uid"
        )))
        .bind(customer_id.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(site_from_row).collect::<Result<_, _>>()?)
    }

    /// Turns the legacy XML-RPC protocol on or off for a site's PCs.
    pub async fn set_legacy_xmlrpc(&self, site_id: i64, on: bool) -> anyhow::Result<()> {
        sqlx::query("UPDATE sites SET legacy_xmlrpc = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(site_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
