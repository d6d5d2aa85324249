//! Security and offline events: listing them (upstream's status filter), reading one, and
//! an operator's handling (status, assignee, note).

use super::{
    ApiResult, Caller, JsonBody, ListQuery, QueryIn, Reader, SiteUser, body, ok, query,
    unprocessable,
};
use crate::store::Store;
use crate::store::events::EventStatus;
use crate::store::operator::EventChange;
use crate::store::operator::Object;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;

pub(super) async fn events(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<ListQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(&store, q.site.as_deref()).await?;
    let (from, to) = q.period(90)?;
    // Upstream's default: the new ones. `status=NEW,ASSIGNED` or `status=ALL` widen it.
    let statuses: Vec<EventStatus> = match q.status.as_deref() {
        None => vec![EventStatus::New],
        Some("ALL") => Vec::new(),
        Some(s) => {
            let mut list = Vec::new();
            for x in s.split(',').map(|x| x.trim().to_uppercase()) {
                let Some(status) = EventStatus::parse(&x) else {
                    return Err(unprocessable(format!(
                        "status: {x:?} is not NEW, ASSIGNED, RESOLVED or ALL"
                    )));
                };
                list.push(status);
            }
            list
        }
    };
    ok(store
        .api_events(&sites, from, to, &statuses, &q.page()?)
        .await?)
}

pub(super) async fn event(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    let done = store.api_event(&c.scope.sites, id).await;
    ok(c.found(&store, done, Object::Event(id)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventPatch {
    status: Option<String>,
    #[serde(default, deserialize_with = "explicit_null")]
    assigned_user: Option<Option<i64>>,
    note: Option<String>,
}

/// `"field": null` clears it; leaving the field out keeps it.
fn explicit_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?))
}

pub(super) async fn update_event(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    let p: EventPatch = body(b)?;
    let change = EventChange {
        status: p.status.map(|s| s.to_uppercase()),
        assigned_user: p.assigned_user,
        note: p.note,
    };
    let done = store.api_update_event(&c.scope.sites, id, &change).await;
    ok(
        c.audited(&store, done, Object::Event(id), "event.update", |_| {
            format!("event:{id}")
        })
        .await?,
    )
}
