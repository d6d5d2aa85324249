//! Customers (municipalities) and their sites: the roots of every tenant's data.

use super::Store;
use super::{Error, Reason, Refusal, Result, ensure, refuse};
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
pub fn check_site_uid(uid: &str) -> Result<(), Refusal> {
    if uid.is_empty() || uid.len() > 64 {
        return Err(Refusal::new("site uid", Reason::Length { min: 1, max: 64 }));
    }
    if !uid
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Refusal::new(
            "site uid",
            Reason::SiteUidChars {
                uid: uid.to_owned(),
            },
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

/// 16 characters a person types at each PC: 80 random bits, no 0/o or 1/l to confuse.
fn new_registration_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

const SITE_COLUMNS: &str = "id, customer_id, uid, name, legacy_xmlrpc";

impl Store {
    pub async fn add_customer(&self, name: &str) -> Result<Customer> {
        let name = name.trim();
        ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "customer name",
            Reason::Length { min: 1, max: 200 }
        );
        if self.customer_by_name(name).await?.is_some() {
            refuse!(
                "customer name",
                Reason::CustomerNameTaken {
                    name: name.to_owned()
                }
            );
        }
        let id = self
            .insert_returning_id(
                sqlx::query_scalar(
                    "INSERT INTO customers (name, created_at) VALUES ($1, $2) RETURNING id",
                )
                .bind(name)
                .bind(now_ms()),
            )
            .await?;
        Ok(Customer {
            id,
            name: name.to_owned(),
        })
    }

    pub async fn customer_by_name(&self, name: &str) -> Result<Option<Customer>> {
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

    pub async fn customers(&self) -> Result<Vec<Customer>> {
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

    pub async fn add_site(&self, customer_id: i64, uid: &str, name: &str) -> Result<Site> {
        check_site_uid(uid).map_err(Error::Invalid)?;
        let name = name.trim();
        ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "site name",
            Reason::Length { min: 1, max: 200 }
        );
        if self.site_by_uid(uid).await?.is_some() {
            refuse!(
                "site uid",
                Reason::SiteUidTaken {
                    uid: uid.to_owned()
                }
            );
        }
        let id = self
            .insert_returning_id(
                sqlx::query_scalar(
                    "INSERT INTO sites (customer_id, uid, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(customer_id)
                .bind(uid)
                .bind(name)
                .bind(now_ms()),
            )
            .await?;
        Ok(Site {
            id,
            customer_id,
            uid: uid.to_owned(),
            name: name.to_owned(),
            legacy_xmlrpc: false,
        })
    }

    pub async fn site_by_uid(&self, uid: &str) -> Result<Option<Site>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE uid = $1"
        )))
        .bind(uid)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(site_from_row).transpose()?)
    }

    pub async fn site(&self, id: i64) -> Result<Option<Site>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(site_from_row).transpose()?)
    }

    pub async fn sites(&self, customer_id: Option<i64>) -> Result<Vec<Site>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE ($1 = 0 OR customer_id = $1) ORDER BY uid"
        )))
        .bind(customer_id.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(site_from_row).collect::<Result<_, _>>()?)
    }

    /// Turns the legacy XML-RPC protocol on or off for a site's PCs.
    pub async fn set_legacy_xmlrpc(&self, site_id: i64, on: bool) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE sites SET legacy_xmlrpc = $1 WHERE id = $2")
                .bind(i64::from(on))
                .bind(site_id),
        )
        .await?;
        Ok(())
    }

    /// The sha256 of the token a PC must give to register with the site, if it needs one.
    pub async fn site_registration_token(&self, site_id: i64) -> Result<Option<String>> {
        let hash: Option<String> =
            sqlx::query_scalar("SELECT registration_token_sha256 FROM sites WHERE id = $1")
                .bind(site_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(hash.filter(|h| !h.is_empty()))
    }

    /// Gives the site a new registration token (returned once; stored hashed), or none: then
    /// the site uid alone registers a PC again.
    pub async fn set_registration_token(&self, site_id: i64, on: bool) -> Result<Option<String>> {
        let token = on.then(new_registration_token);
        let hash = token
            .as_deref()
            .map(service_kit::accounts::token_hash)
            .unwrap_or_default();
        self.write_one(
            sqlx::query("UPDATE sites SET registration_token_sha256 = $1 WHERE id = $2")
                .bind(hash)
                .bind(site_id),
        )
        .await?;
        Ok(token)
    }
}

/// A change to a site's settings: what is `None` stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteChange {
    pub name: Option<String>,
    pub legacy_xmlrpc: Option<bool>,
    pub rerun_asc: Option<bool>,
}

impl Store {
    /// Creates a site of a customer the scope administers; `None` if it does not.
    pub async fn create_site(
        &self,
        scope: &super::access::Scope,
        customer_id: i64,
        uid: &str,
        name: &str,
    ) -> Result<Option<Site>> {
        if !scope.customers.contains(&customer_id) {
            return Ok(None);
        }
        let site = self.add_site(customer_id, uid, name).await?;
        self.audit(
            &scope.actor,
            Some(site.id),
            "site.create",
            &format!("site:{} ({})", site.id, site.uid),
        )
        .await?;
        Ok(Some(site))
    }

    /// Changes a site's settings, recorded with the values before and after; `None` if the
    /// site is not within the scope.
    pub async fn change_site(
        &self,
        scope: &super::access::Scope,
        site_id: i64,
        change: &SiteChange,
    ) -> Result<Option<Site>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let name = match &change.name {
            Some(n) => {
                let n = n.trim();
                ensure!(
                    !n.is_empty() && n.chars().count() <= 200,
                    "name",
                    Reason::Length { min: 1, max: 200 }
                );
                Some(n.to_owned())
            }
            None => None,
        };
        let mut tx = self.db.begin_write().await?;
        let settings = |r: &sqlx::any::AnyRow| -> Result<serde_json::Value, sqlx::Error> {
            Ok(serde_json::json!({
                "name": r.try_get::<String, _>("name")?,
                "legacy_xmlrpc": r.try_get::<i64, _>("legacy_xmlrpc")? != 0,
                "rerun_asc": r.try_get::<i64, _>("rerun_asc")? != 0,
            }))
        };
        let read = "SELECT name, legacy_xmlrpc, rerun_asc FROM sites WHERE id = $1";
        let Some(row) = sqlx::query(read)
            .bind(site_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let before = settings(&row)?;
        if let Some(n) = &name {
            sqlx::query("UPDATE sites SET name = $1 WHERE id = $2")
                .bind(n)
                .bind(site_id)
                .execute(&mut *tx)
                .await?;
        }
        for (column, value) in [
            ("legacy_xmlrpc", change.legacy_xmlrpc),
            ("rerun_asc", change.rerun_asc),
        ] {
            if let Some(on) = value {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE sites SET {column} = $1 WHERE id = $2"
                )))
                .bind(i64::from(on))
                .bind(site_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        let after = settings(&sqlx::query(read).bind(site_id).fetch_one(&mut *tx).await?)?;
        super::audit::record_in(
            &mut tx,
            super::audit::Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: "site.change",
                target: &format!("site:{site_id}"),
                detail: Some(&super::audit::before_after(&before, &after)),
            },
        )
        .await?;
        tx.commit().await?;
        self.site(site_id).await
    }
}

impl Store {
    /// [`Store::set_registration_token`] for an operator of the scope, recorded with whether
    /// the site had a token before and after (never the token). `None` if the site is not
    /// in the scope; `Some(token)` is the new token, to show once.
    pub async fn change_registration_token(
        &self,
        scope: &super::access::Scope,
        site_id: i64,
        on: bool,
    ) -> Result<Option<Option<String>>> {
        if !scope.sees(site_id) {
            return Ok(None);
        }
        let token = on.then(new_registration_token);
        let hash = token
            .as_deref()
            .map(service_kit::accounts::token_hash)
            .unwrap_or_default();
        let mut tx = self.db.begin_write().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT registration_token_sha256 FROM sites WHERE id = $1")
                .bind(site_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(before) = before else {
            return Ok(None);
        };
        sqlx::query("UPDATE sites SET registration_token_sha256 = $1 WHERE id = $2")
            .bind(&hash)
            .bind(site_id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({
            "before": {"registration_token": !before.is_empty()},
            "after": {"registration_token": on},
        });
        super::audit::record_in(
            &mut tx,
            super::audit::Record {
                actor: &scope.actor,
                site_id: Some(site_id),
                customer_id: None,
                action: if on {
                    "site.registration_token"
                } else {
                    "site.registration_token_off"
                },
                target: &format!("site:{site_id}"),
                detail: Some(&detail),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(token))
    }
}

/// A site with this many PCs or more is not deleted from the pages (upstream's rule): it is
/// in use, and its PCs would be orphaned.
pub const DELETE_SITE_MAX_PCS: i64 = 5;

/// Everything of a site, children before parents, `$1` the site: what deleting it deletes.
const SITE_DATA: &[&str] = &[
    "DELETE FROM job_file_urls WHERE job_id IN (SELECT id FROM jobs WHERE site_id = $1)",
    "DELETE FROM jobs WHERE site_id = $1",
    // The reports' roll-ups of its jobs and events (its audit records and their counts stay).
    "DELETE FROM job_days WHERE site_id = $1",
    "DELETE FROM pc_job_sites WHERE site_id = $1 OR pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    "DELETE FROM security_event_days WHERE site_id = $1",
    "DELETE FROM security_handle_days WHERE site_id = $1",
    "DELETE FROM batch_parameters WHERE batch_id IN (SELECT id FROM batches WHERE site_id = $1)",
    "DELETE FROM batches WHERE site_id = $1",
    "DELETE FROM security_events WHERE site_id = $1",
    "DELETE FROM checkin_days WHERE pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    // The site's roll-up; a PC moved away leaves its quarters here, and one moved here left
    // its earlier ones at the site it was on (they stay there).
    "DELETE FROM site_checkin_days WHERE site_id = $1",
    "DELETE FROM site_opening_hours WHERE site_id = $1",
    "DELETE FROM pc_reports WHERE pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    "DELETE FROM login_log WHERE site_id = $1",
    "DELETE FROM config_entries WHERE owner_kind = 'pc'
       AND owner_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    // After its PCs' entries (the delete waits for a push of their login_counts in flight),
    // while they are still in their groups (whose roll-up gives their days back).
    SITE_LOGIN_DAYS,
    "DELETE FROM site_login_days WHERE site_id = $1",
    "DELETE FROM group_login_days WHERE site_id = $1",
    "DELETE FROM pc_group_members WHERE pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    "DELETE FROM pc_login_sites WHERE site_id = $1 OR pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
    "DELETE FROM pc_inventory WHERE site_id = $1",
    "DELETE FROM pcs WHERE site_id = $1",
    "DELETE FROM site_pc_counts WHERE site_id = $1",
    "DELETE FROM associated_script_parameters WHERE associated_script_id IN (
       SELECT a.id FROM associated_scripts a JOIN pc_groups g ON g.id = a.group_id
       WHERE g.site_id = $1)",
    "DELETE FROM associated_scripts WHERE group_id IN (SELECT id FROM pc_groups WHERE site_id = $1)",
    "DELETE FROM rule_groups WHERE group_id IN (SELECT id FROM pc_groups WHERE site_id = $1)",
    "DELETE FROM group_supervisors WHERE group_id IN (SELECT id FROM pc_groups WHERE site_id = $1)",
    "DELETE FROM config_entries WHERE owner_kind = 'group'
       AND owner_id IN (SELECT id FROM pc_groups WHERE site_id = $1)",
    // Its groups' roll-up of the days of members elsewhere (PCs moved away).
    "DELETE FROM group_login_days WHERE group_id IN (SELECT id FROM pc_groups WHERE site_id = $1)",
    "DELETE FROM pc_groups WHERE site_id = $1",
    "DELETE FROM rule_alert_users WHERE rule_kind = 'security'
       AND rule_id IN (SELECT id FROM security_problems WHERE site_id = $1)",
    "DELETE FROM rule_alert_users WHERE rule_kind = 'offline'
       AND rule_id IN (SELECT id FROM offline_rules WHERE site_id = $1)",
    "DELETE FROM security_problems WHERE site_id = $1",
    "DELETE FROM offline_rules WHERE site_id = $1",
    "DELETE FROM wake_plan_events WHERE plan_id IN (SELECT id FROM wake_week_plans WHERE site_id = $1)
       OR event_id IN (SELECT id FROM wake_change_events WHERE site_id = $1)",
    "DELETE FROM wake_week_plans WHERE site_id = $1",
    "DELETE FROM wake_change_events WHERE site_id = $1",
    "DELETE FROM inputs WHERE script_version_id IN (
       SELECT v.id FROM script_versions v JOIN scripts s ON s.id = v.script_id WHERE s.site_id = $1)",
    "DELETE FROM script_tags WHERE script_id IN (SELECT id FROM scripts WHERE site_id = $1)",
    "DELETE FROM script_versions WHERE script_id IN (SELECT id FROM scripts WHERE site_id = $1)",
    "DELETE FROM scripts WHERE site_id = $1",
    "DELETE FROM files WHERE site_id = $1",
    "DELETE FROM api_keys WHERE site_id = $1",
    "DELETE FROM memberships WHERE site_id = $1",
    "DELETE FROM config_entries WHERE owner_kind = 'site' AND owner_id = $1",
    "DELETE FROM sites WHERE id = $1",
];

/// A PC moved away keeps days at this site (and one moved here, days elsewhere): deleted
/// with the site, after the usage roll-up of the other sites gives back the days there of
/// the site's PCs (`delete_site`).
const SITE_LOGIN_DAYS: &str = "DELETE FROM pc_login_days WHERE site_id = $1 OR pc_id IN (SELECT id FROM pcs WHERE site_id = $1)";

impl Store {
    /// Deletes a site of a customer the scope administers, with everything in it, if it has
    /// fewer than [`DELETE_SITE_MAX_PCS`] PCs and is not the customer's last site (§2.1).
    /// `None` if the site is not the scope's to delete. The audit records stay.
    pub async fn delete_site(
        &self,
        scope: &super::access::Scope,
        site_id: i64,
    ) -> Result<Option<()>> {
        let Some(site) = self.site(site_id).await? else {
            return Ok(None);
        };
        if !scope.customers.contains(&site.customer_id) {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let pcs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pcs WHERE site_id = $1")
            .bind(site_id)
            .fetch_one(&mut *tx)
            .await?;
        ensure!(
            pcs < DELETE_SITE_MAX_PCS,
            "site",
            Reason::SiteTooBig {
                uid: site.uid.clone(),
                pcs,
                max: DELETE_SITE_MAX_PCS
            }
        );
        let siblings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE customer_id = $1")
            .bind(site.customer_id)
            .fetch_one(&mut *tx)
            .await?;
        ensure!(
            siblings > 1,
            "site",
            Reason::LastSite {
                uid: site.uid.clone()
            }
        );
        for sql in SITE_DATA.iter().copied() {
            if sql == SITE_LOGIN_DAYS {
                let site = [super::reports::ops_rollup::Bind::Int(site_id)];
                super::reports::ops_rollup::Rollup::Logins
                    .take(
                        &mut tx,
                        "l.site_id <> $1 AND l.pc_id IN (SELECT id FROM pcs WHERE site_id = $1)",
                        &site,
                    )
                    .await?;
                // Every day it deletes leaves the groups of its PC (of this site or another).
                super::reports::ops_rollup::Rollup::GroupLogins
                    .take(
                        &mut tx,
                        "(l.site_id = $1 OR l.pc_id IN (SELECT id FROM pcs WHERE site_id = $1))",
                        &site,
                    )
                    .await?;
            }
            sqlx::query(sql).bind(site_id).execute(&mut *tx).await?;
        }
        super::audit::record_in(
            &mut tx,
            super::audit::Record {
                actor: &scope.actor,
                site_id: None,
                customer_id: Some(site.customer_id),
                action: "site.delete",
                target: &format!(
                    "site:{site_id} ({}) customer:{}",
                    site.uid, site.customer_id
                ),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }
}
