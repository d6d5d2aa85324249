//! Customers and their sites, for customer admins (their customers) and superusers (all):
//! the sites with their PCs, a new site (name and UID), deleting a site after a page that
//! asks (only one with fewer than five PCs that is not the customer's last, §2.1), and for
//! superusers new customers and who must use a second factor.

use super::{Here, Nothing, Section, Viewer, Web, refusal, refusal_text, text};
use crate::store::portal::SecondFactorPolicy;
use crate::store::tenants::{DELETE_SITE_MAX_PCS, Site};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::db::now_ms;
use service_kit::web::Form;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/kunder", get(page).post(create_customer))
        .route("/kunder/totrin", post(policy))
        .route("/kunder/{customer}/steder", post(create_site))
        .route("/kunder/steder/{site}/slet", get(ask_delete).post(delete))
}

struct SiteLine {
    uid: String,
    name: String,
    pcs: i64,
}

struct CustomerLine {
    id: i64,
    name: String,
    sites: Vec<SiteLine>,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct Body<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    customers: &'a [CustomerLine],
    max_pcs: i64,
    superuser: bool,
    policies: Vec<(&'static str, &'static str)>,
    policy: &'static str,
    error: Option<String>,
}

fn here() -> Here<'static> {
    Here {
        section: Section::Customers,
        site: None,
    }
}

/// Whether the page exists for the viewer: they administer a customer, or all.
fn administers(v: &Viewer) -> bool {
    v.scope.superuser || !v.scope.customers.is_empty()
}

async fn page(State(web): State<Web>, v: Viewer) -> Response {
    if !administers(&v) {
        return v.visit.not_found();
    }
    show(&web, &v, None).await
}

async fn show(web: &Web, v: &Viewer, error: Option<String>) -> Response {
    let found = async {
        let mut out = Vec::new();
        for c in web.store.customers().await? {
            if !v.scope.customers.contains(&c.id) {
                continue;
            }
            let sites = web.store.sites(Some(c.id)).await?;
            let ids: Vec<i64> = sites.iter().map(|s| s.id).collect();
            let tiles = web.store.site_tiles(&ids, now_ms()).await?;
            let sites = sites
                .into_iter()
                .map(|s| SiteLine {
                    pcs: tiles.iter().find(|t| t.id == s.id).map_or(0, |t| t.pcs),
                    uid: s.uid,
                    name: s.name,
                })
                .collect();
            out.push(CustomerLine {
                id: c.id,
                name: c.name,
                sites,
            });
        }
        let policy = web.store.second_factor_policy().await?;
        Ok::<_, crate::store::Error>((out, policy))
    };
    let (customers, policy) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let t = v.t;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Body {
        t,
        csrf: v.visit.csrf(),
        customers: &customers,
        max_pcs: DELETE_SITE_MAX_PCS,
        superuser: v.scope.superuser,
        policies: SecondFactorPolicy::ALL
            .into_iter()
            .map(|p| {
                let label = match p {
                    SecondFactorPolicy::Superusers => t.policy_superusers,
                    SecondFactorPolicy::Admins => t.policy_admins,
                    SecondFactorPolicy::Everyone => t.policy_everyone,
                };
                (p.name(), label)
            })
            .collect(),
        policy: policy.name(),
        error,
    };
    v.page_with(web, here(), t.customers_title, body, status, None)
        .await
}

fn back() -> Response {
    Redirect::to("/kunder").into_response()
}

#[derive(Deserialize)]
struct NewSite {
    #[serde(default)]
    navn: String,
    #[serde(default)]
    uid: String,
}

async fn create_site(
    State(web): State<Web>,
    v: Viewer,
    Path(customer): Path<i64>,
    Form(f): Form<NewSite>,
) -> Response {
    if !administers(&v) {
        return v.visit.not_found();
    }
    match web
        .store
        .create_site(&v.scope, customer, f.uid.trim(), &f.navn)
        .await
    {
        Ok(Some(_)) => back(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let labels = [
                    ("site uid", v.t.customer_site_uid),
                    ("site name", v.t.customer_site_name),
                ];
                show(&web, &v, Some(refusal_text(&m, v.t, &labels))).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Template)]
#[template(path = "site_delete.html")]
struct DeleteBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    uid: &'a str,
    name: &'a str,
}

/// The site named in the path if the viewer administers its customer.
async fn own_site(web: &Web, v: &Viewer, uid: &str) -> Result<Site, Response> {
    match web.store.site_by_uid(uid).await {
        Ok(Some(s)) if v.scope.customers.contains(&s.customer_id) => Ok(s),
        Ok(_) => Err(v.visit.not_found()),
        Err(e) => Err(v.failed(e)),
    }
}

async fn ask_delete(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let site = match own_site(&web, &v, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = DeleteBody {
        t: v.t,
        csrf: v.visit.csrf(),
        uid: &site.uid,
        name: &site.name,
    };
    v.page(&web, here(), v.t.customer_delete_title, body).await
}

async fn delete(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(_): Form<Nothing>,
) -> Response {
    let site = match own_site(&web, &v, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match web.store.delete_site(&v.scope, site.id).await {
        Ok(Some(())) => back(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => show(&web, &v, Some(m.text(v.t))).await,
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Deserialize)]
struct NewCustomer {
    #[serde(default)]
    navn: String,
}

async fn create_customer(
    State(web): State<Web>,
    v: Viewer,
    Form(f): Form<NewCustomer>,
) -> Response {
    if !v.scope.superuser {
        return v.visit.not_found();
    }
    let made = async {
        let c = web.store.add_customer(&f.navn).await?;
        web.store
            .audit_customer(
                &v.scope.actor,
                c.id,
                "customer.create",
                &format!("customer:{} ({})", c.id, c.name),
            )
            .await
    };
    match made.await {
        Ok(()) => back(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                let labels = [("customer name", v.t.customer_new_name)];
                show(&web, &v, Some(refusal_text(&m, v.t, &labels))).await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Deserialize)]
struct Policy {
    #[serde(default)]
    politik: String,
}

async fn policy(State(web): State<Web>, v: Viewer, Form(f): Form<Policy>) -> Response {
    if !v.scope.superuser {
        return v.visit.not_found();
    }
    let Some(p) = SecondFactorPolicy::parse(&f.politik) else {
        let m = format!(
            "{} – second_factor: superusers | admins | everyone",
            v.t.policy_legend
        );
        return show(&web, &v, Some(m)).await;
    };
    match web.store.set_second_factor_policy(&v.scope, p).await {
        Ok(()) => back(),
        Err(e) => v.failed(e),
    }
}
