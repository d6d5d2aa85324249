//! Configuration entries and the cascade: a PC's configuration is its site's, then its groups'
//! (by group name), then its own, the later winning.

use super::Store;
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

pub(crate) async fn upsert_entry(
    conn: &mut sqlx::AnyConnection,
    kind: OwnerKind,
    owner_id: i64,
    key: &str,
    value: &str,
    read_only: bool,
) -> Result<(), sqlx::Error> {
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
    .execute(conn)
    .await?;
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
    pub async fn pc_config(&self, pc_id: i64, site_id: i64) -> anyhow::Result<PcConfig> {
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
    pub async fn change_pc_entries(
        &self,
        pc_id: i64,
        changes: &[EntryChange],
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for c in changes {
            match c {
                EntryChange::Set {
                    key,
                    value,
                    read_only,
                } => upsert_entry(&mut tx, OwnerKind::Pc, pc_id, key, value, *read_only).await?,
                EntryChange::Delete { key } => {
                    sqlx::query(
                        "DELETE FROM config_entries WHERE owner_kind = 'pc' AND owner_id = $1 AND entry_key = $2",
                    )
                    .bind(pc_id)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets an entry on a site or group (operator side).
    pub async fn set_entry(
        &self,
        kind: OwnerKind,
        owner_id: i64,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let mut conn = self.pool().acquire().await?;
        upsert_entry(&mut conn, kind, owner_id, key, value, false).await?;
        Ok(())
    }
}
