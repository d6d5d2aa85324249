//! PCs: registration, activation, identity (uid = md5(MAC) plus a bound client key) and
//! group membership.

use super::Store;
use super::config::OwnerKind;
use service_kit::db::now_ms;
use sha2::Digest as _;
use sqlx::Row as _;

/// What the client protocol needs to know about the calling PC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcIdentity {
    pub id: i64,
    pub site_id: i64,
    pub uid: String,
    pub mac: String,
    pub is_activated: bool,
    /// sha256 hex of the agent's key; empty for PCs from before keys.
    pub client_key_hash: String,
    pub last_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PcSummary {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub mac: String,
    pub site_uid: String,
    pub is_activated: bool,
    pub last_seen: Option<i64>,
    pub created_at: i64,
}

/// A new PC as registration creates it.
pub struct NewPc<'a> {
    pub site_id: i64,
    pub uid: &'a str,
    pub mac: &'a str,
    pub name: &'a str,
    pub client_key_hash: &'a str,
    /// PC-level configuration entries: (key, value, read_only).
    pub entries: Vec<(String, String, bool)>,
}

/// The uid agents use: md5 of the MAC address exactly as sent.
pub fn pc_uid(mac: &str) -> String {
    hex::encode(md5::Md5::digest(mac.as_bytes()))
}

/// The stored form of a client key.
pub fn key_hash(client_key: &str) -> String {
    hex::encode(sha2::Sha256::digest(client_key.as_bytes()))
}

impl Store {
    pub async fn pc_identity(&self, uid: &str) -> anyhow::Result<Option<PcIdentity>> {
        let row = sqlx::query(
            "SELECT id, site_id, uid, mac, is_activated, client_key_hash, last_ip FROM pcs WHERE uid = $1",
        )
        .bind(uid)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(PcIdentity {
            id: r.try_get("id")?,
            site_id: r.try_get("site_id")?,
            uid: r.try_get("uid")?,
            mac: r.try_get("mac")?,
            is_activated: r.try_get::<i64, _>("is_activated")? != 0,
            client_key_hash: r.try_get("client_key_hash")?,
            last_ip: r.try_get("last_ip")?,
        }))
    }

    /// Creates the PC and its configuration in one transaction. `Ok(None)` if a PC with the
    /// uid exists already (two registrations racing: one wins).
    pub async fn insert_pc(&self, pc: NewPc<'_>) -> anyhow::Result<Option<i64>> {
        let mut tx = self.db.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1")
            .bind(pc.uid)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO pcs (site_id, uid, mac, name, client_key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(pc.site_id)
        .bind(pc.uid)
        .bind(pc.mac)
        .bind(pc.name)
        .bind(pc.client_key_hash)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        for (key, value, read_only) in &pc.entries {
            super::config::upsert_entry(&mut tx, OwnerKind::Pc, id, key, value, *read_only).await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Binds a key to a PC that has none (PCs registered before keys existed).
    pub async fn bind_client_key(&self, pc_id: i64, hash: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE pcs SET client_key_hash = $1 WHERE id = $2 AND client_key_hash = ''")
            .bind(hash)
            .bind(pc_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Activates (or deactivates) a PC of the given site; `false` if there is no such PC there.
    pub async fn set_activated(&self, site_id: i64, uid: &str, on: bool) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE pcs SET is_activated = $1 WHERE uid = $2 AND site_id = $3")
            .bind(i64::from(on))
            .bind(uid)
            .bind(site_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a PC of a site with everything that is only about it (jobs, configuration,
    /// memberships, events, history), so it can register again. `false` if there is none.
    pub async fn delete_pc(&self, site_id: i64, uid: &str) -> anyhow::Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1 AND site_id = $2")
                .bind(uid)
                .bind(site_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else { return Ok(false) };
        for sql in [
            "DELETE FROM job_file_urls WHERE job_id IN (SELECT id FROM jobs WHERE pc_id = $1)",
            "DELETE FROM jobs WHERE pc_id = $1",
            "DELETE FROM config_entries WHERE owner_kind = 'pc' AND owner_id = $1",
            "DELETE FROM pc_group_members WHERE pc_id = $1",
            "DELETE FROM security_events WHERE pc_id = $1",
            "DELETE FROM checkin_days WHERE pc_id = $1",
            "DELETE FROM pc_reports WHERE pc_id = $1",
            "UPDATE login_log SET pc_id = NULL WHERE pc_id = $1",
            "DELETE FROM pcs WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A site's PCs: not yet activated first (they wait for someone), then by name.
    pub async fn pcs(&self, site_id: i64) -> anyhow::Result<Vec<PcSummary>> {
        let rows = sqlx::query(
            "SELECT p.id, p.uid, p.name, p.mac, s.uid AS site_uid, p.is_activated, p.last_seen, p.created_at
             FROM pcs p JOIN sites s ON s.id = p.site_id WHERE p.site_id = $1
             ORDER BY p.is_activated, p.name, p.id",
        )
        .bind(site_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PcSummary {
                    id: r.try_get("id")?,
                    uid: r.try_get("uid")?,
                    name: r.try_get("name")?,
                    mac: r.try_get("mac")?,
                    site_uid: r.try_get("site_uid")?,
                    is_activated: r.try_get::<i64, _>("is_activated")? != 0,
                    last_seen: r.try_get("last_seen")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Resolves PC uids within a site; unknown ones are returned as errors by name.
    pub async fn pc_ids_in_site(&self, site_id: i64, uids: &[String]) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(uids.len());
        for uid in uids {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1 AND site_id = $2")
                    .bind(uid)
                    .bind(site_id)
                    .fetch_optional(self.pool())
                    .await?;
            match id {
                Some(id) => ids.push(id),
                None => anyhow::bail!("pc: no PC with uid {uid:?} on this site"),
            }
        }
        Ok(ids)
    }

    /// The PCs in a site's group, by group name.
    pub async fn group_pc_ids(&self, site_id: i64, group: &str) -> anyhow::Result<Vec<i64>> {
        let gid: Option<i64> =
            sqlx::query_scalar("SELECT id FROM pc_groups WHERE site_id = $1 AND name = $2")
                .bind(site_id)
                .bind(group)
                .fetch_optional(self.pool())
                .await?;
        let Some(gid) = gid else {
            anyhow::bail!("group: no group named {group:?} on this site");
        };
        Ok(sqlx::query_scalar(
            "SELECT pc_id FROM pc_group_members WHERE group_id = $1 ORDER BY pc_id",
        )
        .bind(gid)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn add_group(&self, site_id: i64, name: &str) -> anyhow::Result<i64> {
        let name = name.trim();
        anyhow::ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "group name: must be 1 to 200 characters"
        );
        Ok(sqlx::query_scalar(
            "INSERT INTO pc_groups (site_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(site_id)
        .bind(name)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn add_group_member(&self, group_id: i64, pc_id: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO pc_group_members (pc_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(pc_id)
        .bind(group_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_is_md5_of_the_mac_as_sent() {
        assert_eq!(
            super::pc_uid("aa:bb:cc:dd:ee:ff"),
            "6424e2dce251d76b3113dfa5a4b7d2d2"
        );
    }
}
