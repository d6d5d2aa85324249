//! Security and offline rules: one set of handlers for both kinds ([`RuleKind`]).

use super::{
    ApiResult, Caller, JsonBody, QueryIn, Reader, SiteAdmin, SiteQuery, SiteUser, body, created,
    no_content, ok, query, unprocessable,
};
use crate::store::Store;
use crate::store::operator::Object;
use crate::store::rules::RuleFields;
use crate::store::rules::RuleKind;
use axum::extract::Path;
use axum::extract::State;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    /// Only when creating: the site (uid).
    site: Option<String>,
    name: Option<String>,
    description: Option<String>,
    level: Option<String>,
    script_id: Option<i64>,
    monitor_start: Option<String>,
    monitor_end: Option<String>,
    max_offline_minutes: Option<i64>,
    groups: Option<Vec<i64>>,
    alert_users: Option<Vec<i64>>,
}

impl RuleIn {
    fn fields(self) -> RuleFields {
        RuleFields {
            name: self.name,
            description: self.description,
            level: self.level,
            script_id: self.script_id,
            monitor_start: self.monitor_start,
            monitor_end: self.monitor_end,
            max_offline_minutes: self.max_offline_minutes,
            groups: self.groups,
            alert_users: self.alert_users,
        }
    }
}

async fn rules_of(
    store: &Store,
    c: &Caller<Reader>,
    kind: RuleKind,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    let q = query(q)?;
    let sites = c.sites(store, q.site.as_deref()).await?;
    ok(store.rules(&sites, kind).await?)
}

async fn create_rule_of(
    store: &Store,
    c: &Caller<SiteUser>,
    kind: RuleKind,
    b: JsonBody,
) -> ApiResult {
    let r: RuleIn = body(b)?;
    let Some(uid) = r.site.clone() else {
        return Err(unprocessable("site: give the site (uid) of the rule"));
    };
    let site = c.site_id(store, &uid).await?;
    let done = store.create_rule(&c.scope, kind, site, &r.fields()).await;
    created(c.found(store, done, Object::Site(site)).await?)
}

async fn rule_of(store: &Store, c: &Caller<Reader>, kind: RuleKind, id: i64) -> ApiResult {
    let done = store.rule(&c.scope.sites, kind, id).await;
    ok(c.found(store, done, Object::Rule(kind, id)).await?)
}

async fn change_rule_of(
    store: &Store,
    c: &Caller<SiteUser>,
    kind: RuleKind,
    id: i64,
    b: JsonBody,
) -> ApiResult {
    let r: RuleIn = body(b)?;
    if r.site.is_some() {
        return Err(unprocessable("site: a rule stays on its site"));
    }
    let done = store.change_rule(&c.scope, kind, id, &r.fields()).await;
    ok(c.found(store, done, Object::Rule(kind, id)).await?)
}

async fn delete_rule_of(
    store: &Store,
    c: &Caller<SiteAdmin>,
    kind: RuleKind,
    id: i64,
) -> ApiResult {
    let done = store.delete_rule(&c.scope, kind, id).await;
    c.found(store, done, Object::Rule(kind, id)).await?;
    no_content()
}

pub(super) async fn security_rules(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    rules_of(&store, &c, RuleKind::Security, q).await
}

pub(super) async fn create_security_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    create_rule_of(&store, &c, RuleKind::Security, b).await
}

pub(super) async fn security_rule(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    rule_of(&store, &c, RuleKind::Security, id).await
}

pub(super) async fn change_security_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_rule_of(&store, &c, RuleKind::Security, id, b).await
}

pub(super) async fn delete_security_rule(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    delete_rule_of(&store, &c, RuleKind::Security, id).await
}

pub(super) async fn offline_rules(
    State(store): State<Store>,
    c: Caller<Reader>,
    q: QueryIn<SiteQuery>,
) -> ApiResult {
    rules_of(&store, &c, RuleKind::Offline, q).await
}

pub(super) async fn create_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    b: JsonBody,
) -> ApiResult {
    create_rule_of(&store, &c, RuleKind::Offline, b).await
}

pub(super) async fn offline_rule(
    State(store): State<Store>,
    c: Caller<Reader>,
    Path(id): Path<i64>,
) -> ApiResult {
    rule_of(&store, &c, RuleKind::Offline, id).await
}

pub(super) async fn change_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteUser>,
    Path(id): Path<i64>,
    b: JsonBody,
) -> ApiResult {
    change_rule_of(&store, &c, RuleKind::Offline, id, b).await
}

pub(super) async fn delete_offline_rule(
    State(store): State<Store>,
    c: Caller<SiteAdmin>,
    Path(id): Path<i64>,
) -> ApiResult {
    delete_rule_of(&store, &c, RuleKind::Offline, id).await
}
