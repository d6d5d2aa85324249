//! Configuration entries and the cascade: a PC's configuration is its site's, then its groups'
//! (by group name), then its own, the later winning.

use super::Store;
use super::{Reason, Result, ensure};
use sqlx::Row as _;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    Site,
    Group,
    Pc,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Site => "site",
            OwnerKind::Group => "group",
            OwnerKind::Pc => "pc",
        }
    }
}

/// A PC's configuration, split as the client protocol needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcConfig {
    /// Site and groups merged: what the PC inherits.
    pub inherited: BTreeMap<String, String>,
    /// The PC's own entries: value and read-only flag.
    pub own: BTreeMap<String, (String, bool)>,
}

impl PcConfig {
    /// The effective configuration: inherited, overridden by the PC's own entries.
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut m = self.inherited.clone();
        for (k, (v, _)) in &self.own {
            m.insert(k.clone(), v.clone());
        }
        m
    }
}

/// The value an entry has before a write, when the write changes a PC count
/// ([`super::pc_counts`]); `None` for every other entry.
async fn counted_before(
    conn: &mut sqlx::AnyConnection,
    kind: OwnerKind,
    owner_id: i64,
    key: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    if kind != OwnerKind::Pc || !super::pc_counts::COUNTED_KEYS.contains(&key) {
        return Ok(None);
    }
    let before = sqlx::query_scalar(
        "SELECT entry_value FROM config_entries WHERE owner_kind = 'pc' AND owner_id = $1 AND entry_key = $2",
    )
    .bind(owner_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(Some(before))
}

/// Writes one entry; every entry write goes through here or [`delete_entry`].
pub(crate) async fn upsert_entry(
    conn: &mut sqlx::AnyConnection,
    kind: OwnerKind,
    owner_id: i64,
    key: &str,
    value: &str,
    read_only: bool,
) -> Result<(), sqlx::Error> {
    let before = counted_before(conn, kind, owner_id, key).await?;
    sqlx::query(
        "INSERT INTO config_entries (owner_kind, owner_id, entry_key, entry_value, read_only)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (owner_kind, owner_id, entry_key)
         DO UPDATE SET entry_value = excluded.entry_value, read_only = excluded.read_only",
    )
    .bind(kind.as_str())
    .bind(owner_id)
    .bind(key)
    .bind(value)
    .bind(i64::from(read_only))
    .execute(&mut *conn)
    .await?;
    if let Some(before) = before {
        super::pc_counts::entry_changed(conn, owner_id, key, before.as_deref(), Some(value))
            .await?;
    }
    if kind == OwnerKind::Pc {
        super::reports::inventory::entry_changed(conn, owner_id, key, Some(value)).await?;
    }
    Ok(())
}

/// Deletes one entry, if it is there.
pub(crate) async fn delete_entry(
    conn: &mut sqlx::AnyConnection,
    kind: OwnerKind,
    owner_id: i64,
    key: &str,
) -> Result<(), sqlx::Error> {
    let before = counted_before(conn, kind, owner_id, key).await?;
    sqlx::query(
        "DELETE FROM config_entries WHERE owner_kind = $1 AND owner_id = $2 AND entry_key = $3",
    )
    .bind(kind.as_str())
    .bind(owner_id)
    .bind(key)
    .execute(&mut *conn)
    .await?;
    if let Some(before) = before {
        super::pc_counts::entry_changed(conn, owner_id, key, before.as_deref(), None).await?;
    }
    if kind == OwnerKind::Pc {
        super::reports::inventory::entry_changed(conn, owner_id, key, None).await?;
    }
    Ok(())
}

/// A change to a PC's own entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryChange {
    Set {
        key: String,
        value: String,
        read_only: bool,
    },
    Delete {
        key: String,
    },
}

impl Store {
    /// One query for the whole cascade.
    pub async fn pc_config(&self, pc_id: i64, site_id: i64) -> Result<PcConfig> {
        let rows = sqlx::query(
            "SELECT 0 AS level, '' AS group_name, entry_key, entry_value, read_only FROM config_entries
               WHERE owner_kind = 'site' AND owner_id = $1
             UNION ALL
             SELECT 1, g.name, c.entry_key, c.entry_value, c.read_only FROM config_entries c
               JOIN pc_group_members m ON m.group_id = c.owner_id
               JOIN pc_groups g ON g.id = m.group_id
               WHERE c.owner_kind = 'group' AND m.pc_id = $2
             UNION ALL
             SELECT 2, '', entry_key, entry_value, read_only FROM config_entries
               WHERE owner_kind = 'pc' AND owner_id = $2",
        )
        .bind(site_id)
        .bind(pc_id)
        .fetch_all(self.pool())
        .await?;
        let mut entries = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    r.try_get::<String, _>(1)?,
                    r.try_get::<String, _>(2)?,
                    r.try_get::<String, _>(3)?,
                    r.try_get::<i64, _>(4)? != 0,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut config = PcConfig::default();
        for (level, _, key, value, read_only) in entries {
            if level < 2 {
                config.inherited.insert(key, value);
            } else {
                config.own.insert(key, (value, read_only));
            }
        }
        Ok(config)
    }

    /// Applies changes to a PC's own entries in one transaction.
    pub async fn change_pc_entries(&self, pc_id: i64, changes: &[EntryChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let mut skipped = 0;
        for c in changes {
            match c {
                EntryChange::Set {
                    key,
                    value,
                    read_only,
                } => {
                    upsert_entry(&mut tx, OwnerKind::Pc, pc_id, key, value, *read_only).await?;
                    // The usage report's history follows the entry as it is written, so
                    // reports never parse it per request.
                    if key == super::history::LOGIN_COUNTS_KEY {
                        skipped += super::history::record_login_counts(
                            &mut tx,
                            pc_id,
                            value,
                            service_kit::db::now_ms(),
                        )
                        .await?;
                    }
                }
                EntryChange::Delete { key } => {
                    delete_entry(&mut tx, OwnerKind::Pc, pc_id, key).await?
                }
            }
        }
        tx.commit().await?;
        if skipped > 0 {
            // Counted, never fatal: a script's bad line must not fail the PC's push. The PC's
            // id only; the value is the PC's text.
            metrics::counter!("borgerpc_login_counts_skipped_total").increment(skipped as u64);
            tracing::warn!(
                pc_id,
                skipped,
                "login_counts: parts skipped (not YYYY-MM-DD: n)"
            );
        }
        Ok(())
    }

    /// Sets an entry on a site or group (operator side).
    pub async fn set_entry(
        &self,
        kind: OwnerKind,
        owner_id: i64,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        upsert_entry(&mut tx, kind, owner_id, key, value, false).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The longest key and value an operator may set (upstream: 32-character keys; the agent's
/// own keys go up to 255 bytes).
pub const KEY_MAX_BYTES: usize = 255;
pub const VALUE_MAX_CHARS: usize = 4096;

/// One entry as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryView {
    pub key: String,
    pub value: String,
    /// Reported by the PC (keys starting with `_`): shown, not set by operators.
    pub read_only: bool,
}

/// What an operator's configuration entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Site(i64),
    Group(i64),
    Pc(i64),
}

impl Owner {
    fn parts(self) -> (OwnerKind, i64) {
        match self {
            Owner::Site(id) => (OwnerKind::Site, id),
            Owner::Group(id) => (OwnerKind::Group, id),
            Owner::Pc(id) => (OwnerKind::Pc, id),
        }
    }

    pub fn object(self) -> super::operator::Object {
        use super::operator::Object;
        match self {
            Owner::Site(id) => Object::Site(id),
            Owner::Group(id) => Object::Group(id),
            Owner::Pc(id) => Object::Pc(id),
        }
    }
}

/// A key an operator may set: printable ASCII words (`a-z A-Z 0-9 _ . -`), not starting with
/// `_` (those are the PC's own reports).
pub fn check_operator_key(field: &str, key: &str) -> Result<()> {
    ensure!(
        !key.is_empty() && key.len() <= KEY_MAX_BYTES,
        field.to_owned(),
        Reason::KeyLength { max: KEY_MAX_BYTES }
    );
    ensure!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
        field.to_owned(),
        Reason::KeyChars {
            key: key.chars().take(40).collect()
        }
    );
    ensure!(!key.starts_with('_'), field.to_owned(), Reason::KeyReserved);
    Ok(())
}

impl Store {
    /// The owner's site, if within `sites`.
    async fn owner_site(
        &self,
        conn: &mut sqlx::AnyConnection,
        sites: &[i64],
        owner: Owner,
    ) -> Result<Option<i64>> {
        let sql = match owner {
            Owner::Site(_) => "SELECT id FROM sites WHERE id = $1",
            Owner::Group(_) => "SELECT site_id FROM pc_groups WHERE id = $1",
            Owner::Pc(_) => "SELECT site_id FROM pcs WHERE id = $1",
        };
        let site: Option<i64> = sqlx::query_scalar(sql)
            .bind(owner.parts().1)
            .fetch_optional(conn)
            .await?;
        Ok(site.filter(|s| sites.contains(s)))
    }

    async fn entries_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        owner: Owner,
    ) -> Result<Vec<EntryView>> {
        let (kind, id) = owner.parts();
        let rows = sqlx::query(
            "SELECT entry_key, entry_value, read_only FROM config_entries
             WHERE owner_kind = $1 AND owner_id = $2 ORDER BY entry_key",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get(0)?;
                Ok(EntryView {
                    read_only: r.try_get::<i64, _>(2)? != 0 || key.starts_with('_'),
                    key,
                    value: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// A site's, group's or PC's own entries; `None` if not within `sites`.
    pub async fn config_entries(
        &self,
        sites: &[i64],
        owner: Owner,
    ) -> Result<Option<Vec<EntryView>>> {
        let mut conn = self.reader().await?;
        if self.owner_site(&mut conn, sites, owner).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.entries_of(&mut conn, owner).await?))
    }

    /// Sets (`Some`) and removes (`None`) entries in one transaction, each change in the audit
    /// log with the value before and after; `None` if the owner is not in scope. PCs get the
    /// new configuration at their next check-in.
    pub async fn change_config(
        &self,
        scope: &super::access::Scope,
        owner: Owner,
        changes: &[(String, Option<String>)],
    ) -> Result<Option<Vec<EntryView>>> {
        ensure!(!changes.is_empty(), "entries", Reason::GiveKey);
        ensure!(
            changes.len() <= 1000,
            "entries",
            Reason::AtMostAtATime { max: 1000 }
        );
        for (key, value) in changes {
            check_operator_key(&format!("entries.{key}"), key)?;
            if let Some(v) = value {
                ensure!(
                    v.chars().count() <= VALUE_MAX_CHARS,
                    format!("entries.{key}"),
                    Reason::ValueLength {
                        max: VALUE_MAX_CHARS
                    }
                );
            }
        }
        let mut tx = self.db.begin_write().await?;
        let Some(site) = self.owner_site(&mut tx, &scope.sites, owner).await? else {
            return Ok(None);
        };
        let (kind, id) = owner.parts();
        for (key, value) in changes {
            let before: Option<String> = sqlx::query_scalar(
                "SELECT entry_value FROM config_entries WHERE owner_kind = $1 AND owner_id = $2 AND entry_key = $3",
            )
            .bind(kind.as_str())
            .bind(id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if before == *value {
                continue;
            }
            match value {
                Some(v) => upsert_entry(&mut tx, kind, id, key, v, false).await?,
                None => delete_entry(&mut tx, kind, id, key).await?,
            }
            super::audit::record_in(
                &mut tx,
                super::audit::Record {
                    actor: &scope.actor,
                    site_id: Some(site),
                    customer_id: None,
                    action: if value.is_some() {
                        "config.set"
                    } else {
                        "config.unset"
                    },
                    target: &format!("{}:{id} {key}", kind.as_str()),
                    detail: Some(&serde_json::json!({"before": before, "after": value})),
                },
            )
            .await?;
        }
        let entries = self.entries_of(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(Some(entries))
    }
}
