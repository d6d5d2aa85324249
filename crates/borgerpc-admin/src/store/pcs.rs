//! PCs: registration, activation, identity (a uid plus a bound client key, or a key waiting
//! for an operator's approval) and group membership.

use super::Store;
use super::config::OwnerKind;
use super::reports::ops_rollup::{Bind, Rollup};
use super::{Error, Reason, Result, conflict, ensure, refuse};
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
    /// A key the PC offered while it had none, waiting for an operator; empty if none.
    pub pending_key_hash: String,
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
    /// Whether the PC proves itself with a key.
    pub client_key: KeyState,
    /// The start of the waiting key's fingerprint, to compare with the PC's own.
    pub pending_key_fingerprint: Option<String>,
}

/// A PC's client key, as the CLI's PC list shows it (`pcs.client_key_hash` and
/// `pcs.pending_key_hash`, which are hashes, not states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// It proves itself with its key.
    Bound,
    /// It offered a key that waits for an operator's approval.
    Pending,
    /// MAC address only.
    None,
}

/// What `pc approve-key` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovedKey {
    pub pc_id: i64,
    pub site_id: i64,
    pub uid: String,
    pub fingerprint: String,
}

/// A PC as an operator names it: by its id (API) or uid (CLI).
#[derive(Debug, Clone, Copy)]
pub enum PcRef<'a> {
    Id(i64),
    Uid(&'a str),
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

/// A new PC's uid: 32 random hex digits, the shape of upstream's md5(MAC). The agent keeps
/// whatever registration answers; a uid that cannot be derived from the MAC tells nothing
/// about other customers' PCs and is one more thing an impersonator must know.
pub fn new_pc_uid() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A MAC address as compared: lower case, colons (the `pcs_mac` index has the same).
pub fn mac_key(mac: &str) -> String {
    mac.to_ascii_lowercase().replace('-', ":")
}

/// The stored form of a client key; its hex is also the key's fingerprint, which an operator
/// reads on the PC with `sha256sum /etc/os2borgerpc/client-key.key`.
pub fn key_hash(client_key: &str) -> String {
    hex::encode(sha2::Sha256::digest(client_key.as_bytes()))
}

/// The start of a fingerprint, as shown to people.
pub fn short_fingerprint(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}

impl Store {
    pub async fn pc_identity(&self, uid: &str) -> Result<Option<PcIdentity>> {
        let row = sqlx::query(
            "SELECT id, site_id, uid, mac, is_activated, client_key_hash, pending_key_hash, last_ip
             FROM pcs WHERE uid = $1",
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
            pending_key_hash: r.try_get("pending_key_hash")?,
            last_ip: r.try_get("last_ip")?,
        }))
    }

    /// Creates the PC and its configuration in one transaction. `Ok(None)` if a PC with the
    /// same MAC address is registered with the site's customer already (also when two
    /// registrations race: one wins). Other customers' PCs are not looked at.
    pub async fn insert_pc(&self, pc: NewPc<'_>) -> Result<Option<i64>> {
        let mut tx = self.db.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT p.id FROM pcs p JOIN sites s ON s.id = p.site_id
             WHERE lower(replace(p.mac, '-', ':')) = $1
               AND s.customer_id = (SELECT customer_id FROM sites WHERE id = $2)
             LIMIT 1",
        )
        .bind(mac_key(pc.mac))
        .bind(pc.site_id)
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
        super::pc_counts::pc_added(&mut tx, pc.site_id).await?;
        super::reports::inventory::pc_added(&mut tx, id, pc.site_id).await?;
        for (key, value, read_only) in &pc.entries {
            super::config::upsert_entry(&mut tx, OwnerKind::Pc, id, key, value, *read_only).await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Keeps the first key a PC without one offers, for an operator to approve; later offers
    /// change nothing. `true` if this offer was kept.
    pub async fn offer_client_key(&self, pc_id: i64, hash: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE pcs SET pending_key_hash = $1, pending_key_at = $2
                     WHERE id = $3 AND client_key_hash = '' AND pending_key_hash = ''",
                )
                .bind(hash)
                .bind(now_ms())
                .bind(pc_id),
            )
            .await?;
        Ok(n == 1)
    }

    /// An operator binds a key to a PC of a site in `scope` (`None`: no such PC there):
    /// the waiting key, if `fingerprint` (8 or more hex) is the start of its fingerprint, or
    /// any key whose whole fingerprint (64 hex) the operator read on the PC, which also
    /// replaces a bound key (a re-installed PC). The waiting key is cleared either way.
    pub async fn approve_client_key(
        &self,
        scope: &[i64],
        pc: PcRef<'_>,
        fingerprint: &str,
    ) -> Result<Option<ApprovedKey>> {
        let fingerprint = fingerprint.trim().to_ascii_lowercase();
        if !(8..=64).contains(&fingerprint.len())
            || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
        {
            // A malformed fingerprint is the input's fault; the others are about the PC's keys now.
            refuse!("fingerprint", Reason::FingerprintMalformed);
        }
        if scope.is_empty() {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let id = match pc {
            PcRef::Id(id) => Some(id),
            PcRef::Uid(uid) => {
                sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1")
                    .bind(uid)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let mut q = sqlx::query_as::<_, (i64, i64, String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT id, site_id, uid, pending_key_hash FROM pcs WHERE id = $1 AND site_id IN ({})",
            super::placeholders(2, scope.len())
        )))
        .bind(id.unwrap_or(-1));
        for s in scope {
            q = q.bind(*s);
        }
        let Some((pc_id, site_id, uid, pending)) = q.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let hash = if fingerprint.len() == 64 {
            fingerprint
        } else if pending.is_empty() {
            conflict!("fingerprint", Reason::NoKeyOffered);
        } else if !pending.starts_with(&fingerprint) {
            conflict!(
                "fingerprint",
                Reason::KeyMismatch {
                    pending: short_fingerprint(&pending).to_owned(),
                    given: fingerprint,
                }
            );
        } else {
            pending
        };
        sqlx::query(
            "UPDATE pcs SET client_key_hash = $1, pending_key_hash = '', pending_key_at = NULL
             WHERE id = $2",
        )
        .bind(&hash)
        .bind(pc_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(ApprovedKey {
            pc_id,
            site_id,
            uid,
            fingerprint: hash,
        }))
    }

    /// Activates (or deactivates) a PC of the given site; `false` if there is no such PC there.
    pub async fn set_activated(&self, site_id: i64, uid: &str, on: bool) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT is_activated FROM pcs WHERE uid = $1 AND site_id = $2")
                .bind(uid)
                .bind(site_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(was) = found else { return Ok(false) };
        if (was != 0) != on {
            sqlx::query("UPDATE pcs SET is_activated = $1 WHERE uid = $2 AND site_id = $3")
                .bind(i64::from(on))
                .bind(uid)
                .bind(site_id)
                .execute(&mut *tx)
                .await?;
            super::pc_counts::activation_changed(&mut tx, site_id, on, 1).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a PC of a site with everything that is only about it (jobs, configuration,
    /// memberships, events, history), so it can register again. `false` if there is none.
    pub async fn delete_pc(&self, site_id: i64, uid: &str) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM pcs WHERE uid = $1 AND site_id = $2")
                .bind(uid)
                .bind(site_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else { return Ok(false) };
        super::pc_counts::pc_removing(&mut tx, id).await?;
        // Its jobs and events leave the reports' counts with their rows.
        let pc = [Bind::Int(id)];
        Rollup::Jobs.take(&mut tx, "j.pc_id = $1", &pc).await?;
        Rollup::Events.take(&mut tx, "e.pc_id = $1", &pc).await?;
        for sql in [
            "DELETE FROM job_file_urls WHERE job_id IN (SELECT id FROM jobs WHERE pc_id = $1)",
            "DELETE FROM jobs WHERE pc_id = $1",
            "DELETE FROM pc_job_sites WHERE pc_id = $1",
            "DELETE FROM config_entries WHERE owner_kind = 'pc' AND owner_id = $1",
            "DELETE FROM pc_group_members WHERE pc_id = $1",
            "DELETE FROM security_events WHERE pc_id = $1",
            "DELETE FROM checkin_days WHERE pc_id = $1",
            "DELETE FROM pc_login_days WHERE pc_id = $1",
            "DELETE FROM pc_login_sites WHERE pc_id = $1",
            "DELETE FROM pc_reports WHERE pc_id = $1",
            "DELETE FROM pc_inventory WHERE pc_id = $1",
            "UPDATE login_log SET pc_id = NULL WHERE pc_id = $1",
            "DELETE FROM pcs WHERE id = $1",
        ] {
            if sql.starts_with("DELETE FROM pc_group_members") {
                // Its days leave its groups' usage roll-up while it is their member: after its
                // entries' delete, like its sites' below.
                Rollup::GroupLogins
                    .take(&mut tx, "l.pc_id = $1", &pc)
                    .await?;
            }
            if sql.starts_with("DELETE FROM pc_login_days") {
                // Its days leave the usage roll-up with their rows: taken after its entries'
                // delete, which waits for a push of its login_counts in flight.
                Rollup::Logins.take(&mut tx, "l.pc_id = $1", &pc).await?;
            }
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A site's PCs: not yet activated first (they wait for someone), then by name.
    pub async fn pcs(&self, site_id: i64) -> Result<Vec<PcSummary>> {
        let rows = sqlx::query(
            "SELECT p.id, p.uid, p.name, p.mac, s.uid AS site_uid, p.is_activated, p.last_seen, p.created_at,
                    p.client_key_hash, p.pending_key_hash
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
                    client_key: if !r.try_get::<String, _>("client_key_hash")?.is_empty() {
                        KeyState::Bound
                    } else if !r.try_get::<String, _>("pending_key_hash")?.is_empty() {
                        KeyState::Pending
                    } else {
                        KeyState::None
                    },
                    pending_key_fingerprint: Some(r.try_get::<String, _>("pending_key_hash")?)
                        .filter(|h| !h.is_empty())
                        .map(|h| short_fingerprint(&h).to_owned()),
                })
            })
            .collect()
    }

    /// Resolves PC uids within a site; unknown ones are returned as errors by name.
    pub async fn pc_ids_in_site(&self, site_id: i64, uids: &[String]) -> Result<Vec<i64>> {
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
                None => {
                    return Err(Error::NotFound(format!(
                        "pc: no PC with uid {uid:?} on this site"
                    )));
                }
            }
        }
        Ok(ids)
    }

    /// The PCs in a site's group, by group name.
    pub async fn group_pc_ids(&self, site_id: i64, group: &str) -> Result<Vec<i64>> {
        let gid: Option<i64> =
            sqlx::query_scalar("SELECT id FROM pc_groups WHERE site_id = $1 AND name = $2")
                .bind(site_id)
                .bind(group)
                .fetch_optional(self.pool())
                .await?;
        let Some(gid) = gid else {
            return Err(Error::NotFound(format!(
                "group: no group named {group:?} on this site"
            )));
        };
        Ok(sqlx::query_scalar(
            "SELECT pc_id FROM pc_group_members WHERE group_id = $1 ORDER BY pc_id",
        )
        .bind(gid)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn add_group(&self, site_id: i64, name: &str) -> Result<i64> {
        let name = name.trim();
        ensure!(
            !name.is_empty() && name.chars().count() <= 200,
            "group name",
            Reason::Length { min: 1, max: 200 }
        );
        self.insert_returning_id(
            sqlx::query_scalar(
                "INSERT INTO pc_groups (site_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(site_id)
            .bind(name)
            .bind(now_ms()),
        )
        .await
    }

    pub async fn add_group_member(&self, group_id: i64, pc_id: i64) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        super::groups::add_member(&mut tx, group_id, pc_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uids_are_random_and_macs_compare_in_one_form() {
        let (a, b) = (super::new_pc_uid(), super::new_pc_uid());
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit()) && a != b);
        assert_eq!(super::mac_key("AA-BB-cc:dd:EE:ff"), "aa:bb:cc:dd:ee:ff");
    }
}

/// A PC waiting for someone: not yet activated, or with a key waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingPc {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub mac: String,
    pub created_at: i64,
    pub is_activated: bool,
    /// The fingerprint of the key waiting for approval (`""`: none).
    pub pending_key: String,
    pub pending_key_at: Option<i64>,
}

impl Store {
    /// One page of the site's PCs waiting for activation or key approval, the longest
    /// waiting first, and how many there are.
    pub async fn waiting_pcs(
        &self,
        site_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<WaitingPc>, i64)> {
        let cond = "site_id = $1 AND (is_activated = 0 OR pending_key_hash <> '')";
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM pcs WHERE {cond}"
        )))
        .bind(site_id)
        .fetch_one(self.pool())
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, uid, name, mac, created_at, is_activated, pending_key_hash,
                    pending_key_at
             FROM pcs WHERE {cond}
             ORDER BY COALESCE(pending_key_at, created_at), id LIMIT $2 OFFSET $3"
        )))
        .bind(site_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(WaitingPc {
                    id: r.try_get("id")?,
                    uid: r.try_get("uid")?,
                    name: r.try_get("name")?,
                    mac: r.try_get("mac")?,
                    created_at: r.try_get("created_at")?,
                    is_activated: r.try_get::<i64, _>("is_activated")? != 0,
                    pending_key: r.try_get("pending_key_hash")?,
                    pending_key_at: r.try_get("pending_key_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, count))
    }

    /// Throws away the key waiting for approval on a PC of the site (someone else's, or not
    /// to be trusted): the PC may offer its own again. The fingerprint thrown away; `None`
    /// if there is no such PC there or nothing waits.
    pub async fn reject_client_key(&self, site_id: i64, pc_id: i64) -> Result<Option<String>> {
        let mut tx = self.db.begin_write().await?;
        let pending: Option<String> =
            sqlx::query_scalar("SELECT pending_key_hash FROM pcs WHERE id = $1 AND site_id = $2")
                .bind(pc_id)
                .bind(site_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(pending) = pending.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        sqlx::query("UPDATE pcs SET pending_key_hash = '', pending_key_at = NULL WHERE id = $1")
            .bind(pc_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(pending))
    }
}
