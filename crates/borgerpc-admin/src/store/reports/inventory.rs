//! The inventory report (issue 14, report 3): what each PC's agent says about itself (product,
//! Ubuntu release and kernel, client and image version, hardware, last updates) for a site, a
//! customer's sites or all the caller sees, optionally one group, with two flags judged when
//! it is read: the Ubuntu release's standard support (ended, ending within N days, unknown)
//! and an agent older than a version the caller chooses. An inventory is "now": it has no
//! period.
//!
//! Where it is read from: `pc_inventory` (migration 16), one row per PC holding the values of
//! its own entries for [`KEYS`] as the agent sent them. This module owns that table and writes
//! it in the same transaction as every write it mirrors: a PC's insert ([`pc_added`]), a write
//! of one of those entries (`config::upsert_entry` / `delete_entry` call [`entry_changed`]),
//! and the deletes of a PC and a site. Reading the entries themselves costs an index seek per
//! PC and key: 0.8 s for the counts of 100,000 PCs on SQLite, where one covering index of the
//! table answers them in 30 ms. The flags depend on the day and on the caller's version, so
//! they are not stored: the few releases and versions there are get classified here, and SQL
//! filters by the lists of values that pass.
//!
//! Invariant: every PC has exactly one row, on the PC's site, holding its own entries'
//! values; the test `inventory_follows_every_write` compares it with the entries after each
//! kind of write. A PC moved to another site must move its row too (as its kept counts).
//!
//! What is not there: pending updates. No agent key carries them; only the 2.x agents' legacy
//! `send_status_info` sends `apt-check`'s counts, which upstream and this portal discard. The
//! report's `pending_updates` is therefore always empty.

use super::super::operator::{Page, bind_all, in_scope};
use super::super::{Result, Store};
use super::args::{Arg, bind_args};
use super::{TIME_ZONE, ymd};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row as _;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// The agent-reported configuration keys the inventory holds, and their `pc_inventory` column.
/// `os_name` is what registration found (`Ubuntu 22.04.4 LTS`), `_os_name` what each check-in
/// sends; hardware keys come from registration only (a later push of them is ignored, as
/// upstream does).
/// The key the agent reports its own version in, which the PC list shows from
/// `pcs.client_version`.
const CLIENT_VERSION_KEY: &str = "_os2borgerpc.client_version";

pub(crate) const KEYS: [(&str, &str); 13] = [
    ("os2_product", "os2_product"),
    ("_os_release", "os_release"),
    ("_os_name", "os_name"),
    ("os_name", "os_name_registered"),
    ("_kernel_version", "kernel_version"),
    ("_os2borgerpc.client_version", "client_version"),
    ("os2borgerpc_version", "image_version"),
    ("pc_manufacturer", "pc_manufacturer"),
    ("pc_model", "pc_model"),
    ("pc_cpus", "pc_cpus"),
    ("pc_ram", "pc_ram"),
    ("_last_automatic_update_time", "last_automatic_update"),
    ("_last_full_update_time", "last_full_update"),
];

/// The `pc_inventory` column of an entry key, if the inventory holds it.
fn column_of(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

/// Ubuntu releases and the last day of their standard support, from Canonical's release cycle
/// page (<https://ubuntu.com/about/release-cycle>, "End of Standard Support"). The page names
/// a month; the day is that month's last. 18.04 and 20.04 ran to 31 May (Canonical moved them
/// from April). 26.04 has the five years every LTS has had. A release not here is "unknown".
pub const UBUNTU_SUPPORT: [(&str, (i32, u32, u32)); 14] = [
    ("12.04", (2017, 4, 30)),
    ("14.04", (2019, 4, 30)),
    ("16.04", (2021, 4, 30)),
    ("18.04", (2023, 5, 31)),
    ("20.04", (2025, 5, 31)),
    ("22.04", (2027, 4, 30)),
    ("22.10", (2023, 7, 31)),
    ("23.04", (2024, 1, 31)),
    ("23.10", (2024, 7, 31)),
    ("24.04", (2029, 4, 30)),
    ("24.10", (2025, 7, 31)),
    ("25.04", (2026, 1, 31)),
    ("25.10", (2026, 7, 31)),
    ("26.04", (2031, 4, 30)),
];

/// "Ends soon" when the query does not say: within this many days.
pub const DEFAULT_EOL_DAYS: i64 = 180;
/// The most `eol_days` a query may give (ten years).
pub const MAX_EOL_DAYS: i64 = 3650;
/// Manufacturer and model pairs counted by name; the rest are summed as other models.
pub const TOP_MODELS: usize = 20;

/// The last day of standard support of an Ubuntu release as the agent reports it (`22.04`).
pub fn support_end(release: &str) -> Option<NaiveDate> {
    UBUNTU_SUPPORT
        .iter()
        .find(|(r, _)| *r == release)
        .and_then(|(_, (y, m, d))| NaiveDate::from_ymd_opt(*y, *m, *d))
}

/// Where a release stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// Standard support ended before the day.
    Ended,
    /// It ends within the chosen number of days (the last day of support included).
    EndsSoon,
    Ok,
    /// Not reported, or a release the table does not know: never taken for supported.
    Unknown,
}

/// A release's support on `today`, and its last day when known.
pub fn release_support(
    release: Option<&str>,
    today: NaiveDate,
    soon_days: i64,
) -> (Support, Option<NaiveDate>) {
    let Some(end) = release.and_then(support_end) else {
        return (Support::Unknown, None);
    };
    let support = if end < today {
        Support::Ended
    } else if end.signed_duration_since(today).num_days() <= soon_days {
        Support::EndsSoon
    } else {
        Support::Ok
    };
    (support, Some(end))
}

/// A dotted version (`3.10.0`), compared number by number: `3.10.0` is newer than `3.9.1`, and
/// missing parts are 0 (`3.2` is `3.2.0`).
#[derive(Debug, Clone)]
pub struct Version(Vec<u64>);

impl Version {
    /// Digits and dots only (one to six numbers); anything else (`3.2.0rc1`, `v3`) is `None`.
    pub fn parse(s: &str) -> Option<Version> {
        let parts: Option<Vec<u64>> = s
            .split('.')
            .map(|p| {
                if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    p.parse().ok()
                }
            })
            .collect();
        parts.filter(|p| (1..=6).contains(&p.len())).map(Version)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n)
            .map(|i| {
                let a = self.0.get(i).copied().unwrap_or(0);
                let b = other.0.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// An agent's version against the chosen one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCheck {
    /// Older than the chosen version.
    Outdated,
    Ok,
    /// Not reported, or not a version of numbers and dots: never taken for new enough.
    Unknown,
}

pub fn client_check(version: Option<&str>, min: &Version) -> ClientCheck {
    match version.and_then(Version::parse) {
        None => ClientCheck::Unknown,
        Some(v) if v < *min => ClientCheck::Outdated,
        Some(_) => ClientCheck::Ok,
    }
}

/// The CPU cores in `pc_cpus`, which registration writes as `<model> - <n> physical cores`.
pub fn cpu_cores(cpus: &str) -> Option<u32> {
    let (_, tail) = cpus.rsplit_once(" - ")?;
    tail.trim()
        .strip_suffix("physical cores")?
        .trim()
        .parse()
        .ok()
}

/// `pc_ram` in MiB. Registration writes `lsmem`'s total (`8G`, `15.5G`, `512M`) or, on newer
/// images, `free --human`'s (`7.6Gi`, `15Gi`); both count in binary units. `None` for what
/// is neither (`Identification failed`).
pub fn ram_mb(ram: &str) -> Option<i64> {
    let s = ram.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.replace(',', ".").parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('i'))
        .or_else(|| unit.strip_suffix('B').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let factor = match unit.to_ascii_uppercase().as_str() {
        "K" => 1.0 / 1024.0,
        "M" => 1.0,
        "G" => 1024.0,
        "T" => 1024.0 * 1024.0,
        _ => return None,
    };
    let mb = (number * factor).round();
    (mb.is_finite() && mb >= 0.0).then_some(mb as i64)
}

/// What an inventory is asked for: the sites (already the caller's) and an optional group on
/// them, the page, and the filters and flags of this report.
#[derive(Debug, Clone)]
pub struct InventoryFilter {
    pub sites: Vec<i64>,
    pub group: Option<i64>,
    pub page: Page,
    /// Only this `os2_product`.
    pub product: Option<String>,
    /// Only this `_os_release`.
    pub release: Option<String>,
    /// Only PCs whose release's support is not [`Support::Ok`].
    pub eol_only: bool,
    /// "Ends soon": within this many days of `today`.
    pub eol_days: i64,
    /// Agents older than this are flagged.
    pub min_client_version: Option<Version>,
    /// Only PCs whose agent is not [`ClientCheck::Ok`] (needs `min_client_version`).
    pub outdated_only: bool,
    /// The day support is judged on: the caller's today in Copenhagen.
    pub today: NaiveDate,
}

/// One PC's inventory. Text is as the agent reported it; empty values are `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryPc {
    pub pc_id: i64,
    pub uid: String,
    pub name: String,
    /// The PC's site (uid).
    pub site: String,
    pub last_seen: Option<i64>,
    pub product: Option<String>,
    pub os_release: Option<String>,
    pub release_support: Support,
    #[serde(serialize_with = "ymd_or_null")]
    pub release_support_ends: Option<NaiveDate>,
    /// What the agent reports at each check-in, or else what registration found.
    pub os_name: Option<String>,
    pub kernel_version: Option<String>,
    pub client_version: Option<String>,
    /// `None` without a chosen version.
    pub client_check: Option<ClientCheck>,
    /// The OS2borgerPC image the PC was installed from (`os2borgerpc_version`).
    pub image_version: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub cpus: Option<String>,
    pub cpu_cores: Option<u32>,
    pub ram: Option<String>,
    pub ram_mb: Option<i64>,
    /// The PC's local time of its last automatic (unattended) update, `YYYY-MM-DD HH:MM`.
    pub last_automatic_update: Option<String>,
    pub last_full_update: Option<String>,
    /// Always `None`: no agent reports it.
    pub pending_updates: Option<i64>,
}

/// PCs with one value of a key (`None`: not reported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueCount {
    pub value: Option<String>,
    pub pcs: i64,
}

/// PCs on one Ubuntu release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseCount {
    pub value: Option<String>,
    pub pcs: i64,
    pub support: Support,
    #[serde(serialize_with = "ymd_or_null")]
    pub support_ends: Option<NaiveDate>,
}

/// PCs with one agent version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionCount {
    pub value: Option<String>,
    pub pcs: i64,
    /// `None` without a chosen version.
    pub check: Option<ClientCheck>,
}

/// PCs of one manufacturer and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCount {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub pcs: i64,
}

/// PCs on one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteCount {
    pub site: String,
    pub name: String,
    pub pcs: i64,
}

/// PCs per release support.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SupportTotals {
    pub ended: i64,
    pub ends_soon: i64,
    pub unknown: i64,
    pub ok: i64,
}

/// PCs per agent check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckTotals {
    pub outdated: i64,
    pub unknown: i64,
    pub ok: i64,
}

/// The inventory report: counts of every PC that matches, and one page of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// The day support was judged on.
    #[serde(serialize_with = "ymd")]
    pub today: NaiveDate,
    pub time_zone: &'static str,
    pub eol_days: i64,
    pub min_client_version: Option<String>,
    pub count: i64,
    pub release_support: SupportTotals,
    /// `None` without a chosen version.
    pub client_check: Option<CheckTotals>,
    pub by_product: Vec<ValueCount>,
    pub by_release: Vec<ReleaseCount>,
    pub by_client_version: Vec<VersionCount>,
    /// The [`TOP_MODELS`] commonest, most PCs first.
    pub by_model: Vec<ModelCount>,
    /// PCs of the other models.
    pub other_models: i64,
    pub by_site: Vec<SiteCount>,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<InventoryPc>,
}

fn ymd_or_null<S: serde::Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ymd(d, s),
        None => s.serialize_none(),
    }
}

/// `column` is one of `values` (bound after `args`); never true for none.
fn one_of(column: &str, values: &[String], args: &mut Vec<Arg>) -> String {
    if values.is_empty() {
        return "1 = 0".to_owned();
    }
    let first = args.len() + 1;
    args.extend(values.iter().cloned().map(Arg::Text));
    let marks: Vec<String> = (first..first + values.len())
        .map(|n| format!("${n}"))
        .collect();
    format!("{column} IN ({})", marks.join(", "))
}

/// A text column's value, with an empty one as not reported.
fn reported(r: &sqlx::any::AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    let v: Option<String> = r.try_get(column)?;
    Ok(v.filter(|s| !s.trim().is_empty()))
}

/// The `pc_inventory` columns a page reads, after the PC's own.
const COLUMNS: &str = "i.os2_product, i.os_release, i.os_name, i.os_name_registered, \
    i.kernel_version, i.client_version, i.image_version, i.pc_manufacturer, i.pc_model, \
    i.pc_cpus, i.pc_ram, i.last_automatic_update, i.last_full_update";

impl Store {
    /// The agent versions the filter's sites and group have (not yet filtered otherwise), to
    /// judge each once.
    async fn inventory_versions(
        &self,
        conn: &mut AnyConnection,
        f: &InventoryFilter,
    ) -> Result<Vec<Option<String>>> {
        let mut args = Vec::new();
        let cond = scope_cond(f, &mut args, "i.site_id", "i.pc_id");
        let sql = format!("SELECT DISTINCT i.client_version FROM pc_inventory i WHERE {cond}");
        let rows = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<Option<String>, _>(0))
            .collect::<Result<_, _>>()?)
    }

    /// The filter's conditions (see [`Cond`]). Its flags become lists of the values that pass:
    /// the releases the table says are supported, the agent versions here that are new enough.
    async fn inventory_cond(&self, conn: &mut AnyConnection, f: &InventoryFilter) -> Result<Cond> {
        let mut args = Vec::new();
        let scope = scope_cond(f, &mut args, "i.site_id", "i.pc_id");
        // The same, by the PC's own row, with the same arguments.
        let pcs_scope = scope_cond(f, &mut Vec::new(), "p.site_id", "p.id");
        let mut cond = String::new();
        if let Some(p) = &f.product {
            args.push(Arg::Text(p.clone()));
            cond.push_str(&format!(" AND i.os2_product = ${}", args.len()));
        }
        if let Some(r) = &f.release {
            args.push(Arg::Text(r.clone()));
            cond.push_str(&format!(" AND i.os_release = ${}", args.len()));
        }
        if f.eol_only {
            // Not supported is everything but the releases that are.
            let ok: Vec<String> = UBUNTU_SUPPORT
                .iter()
                .filter(|(r, _)| release_support(Some(r), f.today, f.eol_days).0 == Support::Ok)
                .map(|(r, _)| (*r).to_owned())
                .collect();
            if !ok.is_empty() {
                let within = one_of("i.os_release", &ok, &mut args);
                cond.push_str(&format!(" AND (i.os_release IS NULL OR NOT ({within}))"));
            }
        }
        if f.outdated_only
            && let Some(min) = &f.min_client_version
        {
            let ok: Vec<String> = self
                .inventory_versions(conn, f)
                .await?
                .into_iter()
                .flatten()
                .filter(|v| client_check(Some(v), min) == ClientCheck::Ok)
                .collect();
            if !ok.is_empty() {
                let within = one_of("i.client_version", &ok, &mut args);
                cond.push_str(&format!(
                    " AND (i.client_version IS NULL OR NOT ({within}))"
                ));
            }
        }
        Ok(Cond {
            on_inventory: format!("{scope}{cond}"),
            on_pcs: format!("{pcs_scope}{cond}"),
            args,
        })
    }

    /// The inventory: counts of every PC that matches (per product, release, agent version,
    /// model and site, and the flags' totals) and the asked page of PCs, by site and name.
    /// `None`: the group is not on the sites.
    pub async fn inventory_report(&self, f: &InventoryFilter) -> Result<Option<Inventory>> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(None);
        }
        let mut conn = self.reader().await?;
        let cond = self.inventory_cond(&mut conn, f).await?;
        // Grouped by site first, so SQLite walks the index in its order instead of sorting
        // 100,000 rows; the sites are summed here.
        let sql = format!(
            "SELECT i.site_id, i.os2_product, i.os_release, i.client_version, i.pc_manufacturer,
                    i.pc_model, COUNT(*) AS n
             FROM pc_inventory i WHERE {}
             GROUP BY i.site_id, i.os2_product, i.os_release, i.client_version,
                      i.pc_manufacturer, i.pc_model",
            cond.on_inventory
        );
        let groups = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &cond.args)
            .fetch_all(&mut *conn)
            .await?;
        let mut count = 0;
        let mut products: BTreeMap<Option<String>, i64> = BTreeMap::new();
        let mut releases: BTreeMap<Option<String>, i64> = BTreeMap::new();
        let mut versions: HashMap<Option<String>, i64> = HashMap::new();
        let mut models: HashMap<(Option<String>, Option<String>), i64> = HashMap::new();
        let mut sites: BTreeMap<i64, i64> = BTreeMap::new();
        for r in &groups {
            let n: i64 = r.try_get("n")?;
            count += n;
            *sites.entry(r.try_get("site_id")?).or_default() += n;
            *products.entry(reported(r, "os2_product")?).or_default() += n;
            *releases.entry(reported(r, "os_release")?).or_default() += n;
            *versions.entry(reported(r, "client_version")?).or_default() += n;
            *models
                .entry((reported(r, "pc_manufacturer")?, reported(r, "pc_model")?))
                .or_default() += n;
        }

        let mut release_support = SupportTotals::default();
        let mut by_release = Vec::with_capacity(releases.len());
        for (value, pcs) in releases {
            let (support, support_ends) = release_support_of(value.as_deref(), f);
            *match support {
                Support::Ended => &mut release_support.ended,
                Support::EndsSoon => &mut release_support.ends_soon,
                Support::Ok => &mut release_support.ok,
                Support::Unknown => &mut release_support.unknown,
            } += pcs;
            by_release.push(ReleaseCount {
                value,
                pcs,
                support,
                support_ends,
            });
        }
        // Not reported last.
        by_release.sort_by_key(|r| r.value.is_none());
        let mut client_totals = f
            .min_client_version
            .as_ref()
            .map(|_| CheckTotals::default());
        let mut by_client_version: Vec<VersionCount> = versions
            .into_iter()
            .map(|(value, pcs)| {
                let check = f
                    .min_client_version
                    .as_ref()
                    .map(|m| client_check(value.as_deref(), m));
                if let (Some(t), Some(c)) = (client_totals.as_mut(), check) {
                    *match c {
                        ClientCheck::Outdated => &mut t.outdated,
                        ClientCheck::Ok => &mut t.ok,
                        ClientCheck::Unknown => &mut t.unknown,
                    } += pcs;
                }
                VersionCount { value, pcs, check }
            })
            .collect();
        // Oldest first by number; what is no version after, by its text; not reported last.
        by_client_version.sort_by(|a, b| {
            let key = |v: &VersionCount| {
                (
                    v.value.is_none(),
                    v.value.as_deref().and_then(Version::parse).is_none(),
                )
            };
            key(a).cmp(&key(b)).then_with(|| {
                match (
                    a.value.as_deref().and_then(Version::parse),
                    b.value.as_deref().and_then(Version::parse),
                ) {
                    (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.value.cmp(&b.value)),
                    _ => a.value.cmp(&b.value),
                }
            })
        });
        let mut by_product: Vec<ValueCount> = products
            .into_iter()
            .map(|(value, pcs)| ValueCount { value, pcs })
            .collect();
        by_product.sort_by_key(|p| p.value.is_none());
        let mut by_model: Vec<ModelCount> = models
            .into_iter()
            .map(|((manufacturer, model), pcs)| ModelCount {
                manufacturer,
                model,
                pcs,
            })
            .collect();
        by_model.sort_by(|a, b| {
            b.pcs
                .cmp(&a.pcs)
                .then_with(|| (&a.manufacturer, &a.model).cmp(&(&b.manufacturer, &b.model)))
        });
        let other_models = by_model.iter().skip(TOP_MODELS).map(|m| m.pcs).sum();
        by_model.truncate(TOP_MODELS);

        let ids: Vec<i64> = sites.keys().copied().collect();
        let mut by_site = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let sql = format!(
                "SELECT id, uid, name FROM sites WHERE {} ORDER BY uid",
                in_scope("id", &ids, 1)
            );
            let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &ids)
                .fetch_all(&mut *conn)
                .await?;
            for r in rows {
                let id: i64 = r.try_get("id")?;
                by_site.push(SiteCount {
                    site: r.try_get("uid")?,
                    name: r.try_get("name")?,
                    pcs: sites.get(&id).copied().unwrap_or(0),
                });
            }
        }
        // A page is at most MAX_LIMIT PCs, all of which the channel holds.
        let (to, mut read) =
            tokio::sync::mpsc::channel(usize::try_from(f.page.limit).unwrap_or(1).max(1));
        self.inventory_rows(&mut conn, f, &cond, Some(&f.page), &to)
            .await?;
        drop(to);
        let mut items = Vec::new();
        while let Some(pc) = read.recv().await {
            items.push(pc);
        }
        Ok(Some(Inventory {
            today: f.today,
            time_zone: TIME_ZONE.name(),
            eol_days: f.eol_days,
            min_client_version: f.min_client_version.as_ref().map(Version::to_string),
            count,
            release_support,
            client_check: client_totals,
            by_product,
            by_release,
            by_client_version,
            by_model,
            other_models,
            by_site,
            limit: f.page.limit,
            offset: f.page.offset,
            items,
        }))
    }

    /// How many PCs match, and then (if `within` allows that many) every one of them, by site
    /// and name, in one query, each sent to `to` as it is read: an export reads them at
    /// once, where pages of them would read the first rows again for each page, and its
    /// writer turns each into its row while the next are read, so no export holds them all.
    /// A receiver that went away stops the reading. `None`: the group is not on the sites;
    /// `Err` of the count: more than `within`.
    pub async fn inventory_pcs(
        &self,
        f: &InventoryFilter,
        within: i64,
        to: &tokio::sync::mpsc::Sender<InventoryPc>,
    ) -> Result<Option<std::result::Result<(), i64>>> {
        if !self.group_in(&f.sites, f.group).await? {
            return Ok(None);
        }
        let mut conn = self.reader().await?;
        let cond = self.inventory_cond(&mut conn, f).await?;
        let sql = format!(
            "SELECT COUNT(*) FROM pc_inventory i WHERE {}",
            cond.on_inventory
        );
        let count: i64 = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &cond.args)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if count > within {
            return Ok(Some(Err(count)));
        }
        self.inventory_rows(&mut conn, f, &cond, None, to).await?;
        Ok(Some(Ok(())))
    }

    /// The PCs of the condition, by site and name: a page of them, or all, each sent to `to`
    /// as it is read. Read from the PCs' side (each site's PCs in its index's name order), so
    /// neither database sorts the sites' PCs to find a page.
    async fn inventory_rows(
        &self,
        conn: &mut AnyConnection,
        f: &InventoryFilter,
        cond: &Cond,
        page: Option<&Page>,
        to: &tokio::sync::mpsc::Sender<InventoryPc>,
    ) -> Result<()> {
        use futures_util::TryStreamExt as _;
        let mut args = cond.args.clone();
        let mut sql = format!(
            "SELECT p.id, p.uid, p.name, s.uid AS site, p.last_seen, {COLUMNS}
             FROM sites s JOIN pcs p ON p.site_id = s.id JOIN pc_inventory i ON i.pc_id = p.id
             WHERE {} ORDER BY s.uid, p.name, p.id",
            cond.on_pcs
        );
        if let Some(page) = page {
            args.push(Arg::Int(page.limit));
            args.push(Arg::Int(page.offset));
            sql.push_str(&format!(
                " LIMIT ${} OFFSET ${}",
                args.len() - 1,
                args.len()
            ));
        }
        let mut rows = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &args).fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            if to.send(inventory_pc(&r, f)?).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// One row of [`Store::inventory_rows`]' query as its PC, with the filter's flags.
fn inventory_pc(r: &sqlx::any::AnyRow, f: &InventoryFilter) -> Result<InventoryPc> {
    let os_release = reported(r, "os_release")?;
    let (release_support, release_support_ends) =
        release_support(os_release.as_deref(), f.today, f.eol_days);
    let client_version = reported(r, "client_version")?;
    let cpus = reported(r, "pc_cpus")?;
    let ram = reported(r, "pc_ram")?;
    Ok(InventoryPc {
        pc_id: r.try_get("id")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        site: r.try_get("site")?,
        last_seen: r.try_get("last_seen")?,
        product: reported(r, "os2_product")?,
        os_release,
        release_support,
        release_support_ends,
        os_name: reported(r, "os_name")?.or(reported(r, "os_name_registered")?),
        kernel_version: reported(r, "kernel_version")?,
        client_check: f
            .min_client_version
            .as_ref()
            .map(|m| client_check(client_version.as_deref(), m)),
        client_version,
        image_version: reported(r, "image_version")?,
        manufacturer: reported(r, "pc_manufacturer")?,
        model: reported(r, "pc_model")?,
        cpu_cores: cpus.as_deref().and_then(cpu_cores),
        cpus,
        ram_mb: ram.as_deref().and_then(ram_mb),
        ram,
        last_automatic_update: reported(r, "last_automatic_update")?,
        last_full_update: reported(r, "last_full_update")?,
        pending_updates: None,
    })
}

fn release_support_of(release: Option<&str>, f: &InventoryFilter) -> (Support, Option<NaiveDate>) {
    release_support(release, f.today, f.eol_days)
}

/// A filter's condition: on `pc_inventory i` (scoped by its site), or on it joined to
/// `pcs p` (scoped by the PC's), both with the same arguments.
struct Cond {
    on_inventory: String,
    on_pcs: String,
    args: Vec<Arg>,
}

/// The filter's sites and group, on the columns named: the inventory's or the PC's own.
fn scope_cond(f: &InventoryFilter, args: &mut Vec<Arg>, site: &str, pc: &str) -> String {
    let mut sql = in_scope(site, &f.sites, args.len() + 1);
    args.extend(f.sites.iter().copied().map(Arg::Int));
    if let Some(g) = f.group {
        args.push(Arg::Int(g));
        sql.push_str(&format!(
            " AND {pc} IN (SELECT pc_id FROM pc_group_members WHERE group_id = ${})",
            args.len()
        ));
    }
    sql
}

/// A PC was inserted into `site_id`: its row, empty until its entries are written.
pub(crate) async fn pc_added(
    conn: &mut AnyConnection,
    pc_id: i64,
    site_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO pc_inventory (pc_id, site_id) VALUES ($1, $2)")
        .bind(pc_id)
        .bind(site_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A PC's own entry `key` is now `value` (`None`: deleted). Keys the inventory does not hold
/// are ignored, so every entry write may call this.
pub(crate) async fn entry_changed(
    conn: &mut AnyConnection,
    pc_id: i64,
    key: &str,
    value: Option<&str>,
) -> Result<(), sqlx::Error> {
    if key == CLIENT_VERSION_KEY {
        // The PC list's version column and filter read the PC's own column.
        sqlx::query("UPDATE pcs SET client_version = $1 WHERE id = $2")
            .bind(value.map(str::to_owned))
            .bind(pc_id)
            .execute(&mut *conn)
            .await?;
    }
    let Some(column) = column_of(key) else {
        return Ok(());
    };
    // The column is one of `KEYS`' own names, never the caller's text.
    let sql = format!("UPDATE pc_inventory SET {column} = $1 WHERE pc_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value.map(str::to_owned))
        .bind(pc_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The rows of a site's PCs made again from their entries: for PCs written in bulk with SQL
/// (the page bench), as migration 16 made them for the PCs there were.
#[cfg(feature = "tools")]
pub(crate) async fn rebuild(conn: &mut AnyConnection, site_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pc_inventory WHERE site_id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await?;
    let columns: Vec<&str> = KEYS.iter().map(|(_, c)| *c).collect();
    let values: Vec<String> = KEYS
        .iter()
        .map(|(k, _)| {
            format!(
                "(SELECT e.entry_value FROM config_entries e
                  WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '{k}')"
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO pc_inventory (pc_id, site_id, {}) SELECT p.id, p.site_id, {} FROM pcs p
         WHERE p.site_id = $1",
        columns.join(", "),
        values.join(", ")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(site_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn support_ends_after_its_last_day_and_is_soon_within_the_days() {
        let at = |today: &str, days| release_support(Some("22.04"), d(today), days);
        let end = Some(d("2027-04-30"));
        // 2026-11-01 is 180 days before the last day: within 180 days; a day earlier is not.
        assert_eq!(at("2026-10-31", 180), (Support::Ok, end));
        assert_eq!(at("2026-11-01", 180), (Support::EndsSoon, end));
        assert_eq!(at("2026-10-31", 181).0, Support::EndsSoon);
        assert_eq!(at("2027-04-30", 0), (Support::EndsSoon, end));
        assert_eq!(at("2027-04-29", 0).0, Support::Ok);
        assert_eq!(at("2027-05-01", 180), (Support::Ended, end));
        assert_eq!(
            release_support(Some("20.04"), d("2025-06-01"), 180).0,
            Support::Ended
        );
        assert_eq!(
            release_support(Some("20.04"), d("2025-05-31"), 0).0,
            Support::EndsSoon
        );
        for unknown in [
            None,
            Some(""),
            Some("22.04.4"),
            Some("21.10"),
            Some("jammy"),
        ] {
            assert_eq!(
                release_support(unknown, d("2026-01-01"), 180),
                (Support::Unknown, None),
                "{unknown:?}"
            );
        }
        assert_eq!(support_end("24.04"), Some(d("2029-04-30")));
        assert_eq!(support_end("26.04"), Some(d("2031-04-30")));
        // Every date in the table is a real one.
        assert!(UBUNTU_SUPPORT.iter().all(|(r, _)| support_end(r).is_some()));
    }

    #[test]
    fn versions_compare_number_by_number() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("3.10.0") > v("3.9.1"));
        assert!(v("3.2.0") > v("3.1.99"));
        assert!(v("10.0") > v("9.99.99"));
        assert_eq!(v("3.2"), v("3.2.0"));
        assert!(v("3.2.0.1") > v("3.2"));
        assert_eq!(v("03.2").to_string(), "3.2");
        for bad in [
            "",
            "3.",
            ".3",
            "3..2",
            "v3.2",
            "3.2.0rc1",
            "3,2",
            "1.2.3.4.5.6.7",
            " 3.2",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad:?}");
        }
        let min = v("3.2.0");
        assert_eq!(client_check(Some("3.1.9"), &min), ClientCheck::Outdated);
        assert_eq!(client_check(Some("3.2"), &min), ClientCheck::Ok);
        assert_eq!(client_check(Some("3.10.0"), &min), ClientCheck::Ok);
        assert_eq!(client_check(Some("2.x"), &min), ClientCheck::Unknown);
        assert_eq!(client_check(None, &min), ClientCheck::Unknown);
    }

    #[test]
    fn hardware_as_registration_writes_it() {
        assert_eq!(
            cpu_cores("Intel(R) Core(TM) i5-8500T CPU @ 2.10GHz - 6 physical cores"),
            Some(6)
        );
        assert_eq!(cpu_cores("Identification failed"), None);
        assert_eq!(cpu_cores(" - 0 physical cores"), Some(0));
        assert_eq!(ram_mb("8G"), Some(8192));
        assert_eq!(ram_mb("15.5G"), Some(15872));
        assert_eq!(ram_mb("7.6Gi"), Some(7782));
        assert_eq!(ram_mb("512M"), Some(512));
        assert_eq!(ram_mb("512Mi"), Some(512));
        assert_eq!(ram_mb("16GiB"), Some(16384));
        assert_eq!(ram_mb("1T"), Some(1_048_576));
        assert_eq!(ram_mb("8"), None, "a number without a unit says nothing");
        assert_eq!(ram_mb("Identification failed"), None);
        assert_eq!(ram_mb(""), None);
        assert_eq!(ram_mb("G"), None);
    }
}
