//! Sites: listing those the caller sees, creating them (customer admins) and changing their
//! settings.

use super::{
    ApiResult, Caller, CustomerAdmin, JsonBody, Reader, SiteAdmin, body, created, not_found, ok,
};
use crate::store::Store;
use crate::store::opening_hours::{OpeningTimes, Week, typed};
use crate::store::operator::Object;
use crate::store::tenants::SiteChange;
use axum::extract::Path;
use axum::extract::State;
use serde::{Deserialize, Serialize};

pub(super) async fn sites(State(store): State<Store>, c: Caller<Reader>) -> ApiResult {
    let all = store.sites(None).await?;
    ok(all
        .into_iter()
        .filter(|s| c.scope.sees(s.id))
        .collect::<Vec<_>>())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteIn {
    customer_id: i64,
    uid: String,
    name: String,
}

pub(super) async fn create_site(
    State(store): State<Store>,
    c: Caller<CustomerAdmin>,
    b: JsonBody,
) -> ApiResult {
    let s: SiteIn = body(b)?;
    match store
        .create_site(&c.scope, s.customer_id, &s.uid, &s.name)
        .await
    {
        Ok(Some(site)) => created(site),
        Ok(None) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SitePatch {
    name: Option<String>,
    legacy_xmlrpc: Option<bool>,
    rerun_asc: Option<bool>,
}

pub(super) async fn change_site(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: SitePatch = body(b)?;
    let change = SiteChange {
        name: p.name,
        legacy_xmlrpc: p.legacy_xmlrpc,
        rerun_asc: p.rerun_asc,
    };
    let done = store.change_site(&c.scope, id, &change).await;
    ok(c.found(&store, done, Object::Site(id)).await?)
}

/// A site's opening hours as the API shows and takes them: seven days, Monday first, each
/// `{"opens": "08:00", "closes": "16:00"}` or both empty for closed. Every day closed means
/// none are configured, and the availability report measures against the wake plans instead.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpeningWeek {
    week: Vec<OpeningDayIn>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpeningDayIn {
    opens: String,
    closes: String,
}

impl OpeningWeek {
    fn of(week: &Week) -> OpeningWeek {
        OpeningWeek {
            week: typed(week)
                .into_iter()
                .map(|d| OpeningDayIn {
                    opens: d.opens,
                    closes: d.closes,
                })
                .collect(),
        }
    }
}

/// `GET /api/system/site/{id}/opening-hours`.
pub(super) async fn opening_hours(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let seen = match store.site_of(Object::Site(id)).await? {
        Some(site) if c.scope.sees(site) => Some(store.opening_hours(site).await?),
        _ => None,
    };
    let week = c.found(&store, Ok(seen), Object::Site(id)).await?;
    ok(OpeningWeek::of(&week))
}

/// `PUT /api/system/site/{id}/opening-hours`: the whole week, audited as the settings page's
/// form is; a refusal names the day's field (`week[2].closes`).
pub(super) async fn set_opening_hours(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let w: OpeningWeek = body(b)?;
    let days: Vec<OpeningTimes> = w
        .week
        .into_iter()
        .map(|d| OpeningTimes {
            opens: d.opens,
            closes: d.closes,
        })
        .collect();
    let done = store.set_opening_hours(&c.scope, id, &days).await;
    let week = c.found(&store, done, Object::Site(id)).await?;
    ok(OpeningWeek::of(&week))
}
