//! A site's users (site admins and up): who has access with which role, language, second
//! factor and last login; creating a user, linking a user of the customer to the site,
//! changing a user's role, a new password, resetting the second factor, and removal.
//!
//! The rules of `borgerpc.md` §2.1: nobody gives a role above their own, only who
//! administers the customer makes customer admins, nobody changes their own access here (no
//! one locks themselves out), and a password or second factor is reset only for a user whose
//! every role the viewer administers — else a site admin could take over an account that
//! reaches further than they do.

use super::{Here, Nothing, Section, Viewer, Web, labelled, refusal, refusal_text, text};
use crate::store::access::{Grant, Role, Scope};
use crate::store::portal::SiteUserRow;
use crate::store::tenants::Site;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::web::time::local_time;
use service_kit::web::{Form, Lang};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/steder/{site}/brugere", get(list).post(create))
        .route("/steder/{site}/brugere/tilknyt", post(link))
        .route("/steder/{site}/brugere/{id}", get(user))
        .route("/steder/{site}/brugere/{id}/rolle", post(change_role))
        .route("/steder/{site}/brugere/{id}/adgangskode", post(password))
        .route("/steder/{site}/brugere/{id}/totrin", post(second_factor))
        .route("/steder/{site}/brugere/{id}/fjern", post(remove))
}

fn role_label(t: &text::Msgs, role: Role) -> &'static str {
    match role {
        Role::Reader => t.role_site_user,
        Role::SiteUser => t.role_site_user,
        Role::SiteAdmin => t.role_site_admin,
        Role::CustomerAdmin => t.role_customer_admin,
        Role::Superuser => t.role_superuser,
    }
}

/// The roles the viewer may give on the site: up to their own.
fn grantable(t: &text::Msgs, own: Option<Role>) -> Vec<(&'static str, &'static str)> {
    let mut roles: Vec<Role> = Role::MEMBERSHIP
        .into_iter()
        .filter(|r| Some(*r) <= own)
        .collect();
    roles.sort();
    roles
        .into_iter()
        .map(|r| (r.name(), role_label(t, r)))
        .collect()
}

/// The store's field names and the page's labels for them.
fn labels(t: &text::Msgs) -> [(&'static str, &'static str); 5] {
    [
        ("username", t.user_username),
        ("email", t.user_email),
        ("password", t.user_password),
        ("role", t.user_role),
        ("language", t.user_language),
    ]
}

/// A user as the pages show them.
struct UserLine {
    id: i64,
    username: String,
    email: String,
    role: &'static str,
    role_key: &'static str,
    language: &'static str,
    second_factor: bool,
    last_login: String,
}

fn line(r: &SiteUserRow, t: &text::Msgs, lang: Lang) -> UserLine {
    UserLine {
        id: r.id,
        username: r.username.clone(),
        email: r.email.clone(),
        role: role_label(t, r.role),
        role_key: r.role.name(),
        language: match r.language {
            Some(Lang::En) => t.user_lang_en,
            _ => t.user_lang_da,
        },
        second_factor: r.second_factor,
        last_login: r
            .last_login
            .map_or_else(|| t.never.to_owned(), |ms| local_time(ms, lang)),
    }
}

/// What was typed in the create form, shown again when it is refused (never the password).
#[derive(Deserialize, Default)]
struct NewUser {
    #[serde(default)]
    brugernavn: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    adgangskode: String,
    #[serde(default)]
    rolle: String,
    #[serde(default)]
    sprog: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    rows: &'a [UserLine],
    roles: Vec<(&'static str, &'static str)>,
    linkable: &'a [(i64, String)],
    draft: &'a NewUser,
    /// The password rules, in the foundation's words.
    password_hint: &'static str,
    error: Option<String>,
}

async fn list(State(web): State<Web>, v: Viewer, Path(uid): Path<String>) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    show_list(&web, &v, &site, &NewUser::default(), None).await
}

/// The list page; with an error, the form's refusal (422).
async fn show_list(
    web: &Web,
    v: &Viewer,
    site: &Site,
    draft: &NewUser,
    error: Option<String>,
) -> Response {
    let own = v.role_on(site.id);
    let found = async {
        let rows = web.store.site_user_rows(site).await?;
        let linkable = if own >= Some(Role::CustomerAdmin) {
            web.store.customer_users_off_site(site).await?
        } else {
            Vec::new()
        };
        Ok::<_, crate::store::Error>((rows, linkable))
    };
    let (rows, linkable) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let lang = v.visit.lang();
    let rows: Vec<UserLine> = rows.iter().map(|r| line(r, v.t, lang)).collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = ListBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        rows: &rows,
        roles: grantable(v.t, own),
        linkable: &linkable,
        draft,
        password_hint: v.visit.msgs().password_new_hint,
        error,
    };
    let here = Here {
        section: Section::Users,
        site: Some(site),
    };
    let title = format!("{} – {}", v.t.users_title, site.name);
    v.page_with(web, here, title, body, status, None).await
}

/// A role typed in a form that the viewer may give, or the message why not.
fn wanted_role(v: &Viewer, site: &Site, text: &str) -> Result<Role, String> {
    let role = Role::membership(text).map_err(|e| match e.refusal() {
        Some(r) => r.text(v.t),
        None => e.to_string(),
    })?;
    if Some(role) > v.role_on(site.id) {
        return Err(v.t.err_role_above.to_owned());
    }
    Ok(role)
}

async fn create(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<NewUser>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = |m: &str| labelled(m, &labels(v.t));
    let role = match wanted_role(&v, &site, &f.rolle) {
        Ok(r) => r,
        Err(m) => return show_list(&web, &v, &site, &f, Some(refused(&m))).await,
    };
    let Some(lang) = Lang::parse(&f.sprog) else {
        return show_list(&web, &v, &site, &f, Some(refused(v.t.err_language))).await;
    };
    let grant = if role == Role::CustomerAdmin {
        Grant {
            role,
            site_id: None,
            customer_id: Some(site.customer_id),
        }
    } else {
        Grant {
            role,
            site_id: Some(site.id),
            customer_id: None,
        }
    };
    let created = web
        .store
        .create_user(&scope, &f.brugernavn, &f.email, &f.adgangskode, &grant)
        .await;
    let user = match created {
        Ok(Some(u)) => u,
        Ok(None) => return v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                return show_list(
                    &web,
                    &v,
                    &site,
                    &f,
                    Some(refusal_text(&m, v.t, &labels(v.t))),
                )
                .await;
            }
            Err(e) => return v.failed(e),
        },
    };
    if let Err(e) = web.store.set_user_language(user.id, lang).await {
        return v.failed(e);
    }
    Redirect::to(&format!("/steder/{}/brugere/{}", site.uid, user.id)).into_response()
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    bruger: String,
    #[serde(default)]
    rolle: String,
}

/// A customer admin gives a user of another of the customer's sites a role here.
async fn link(
    State(web): State<Web>,
    v: Viewer,
    Path(uid): Path<String>,
    Form(f): Form<Link>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::CustomerAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = |m: &str| labelled(m, &labels(v.t));
    let draft = NewUser::default();
    let Ok(id) = f.bruger.parse::<i64>() else {
        return show_list(
            &web,
            &v,
            &site,
            &draft,
            Some(v.t.err_choose_user.to_owned()),
        )
        .await;
    };
    let role = match wanted_role(&v, &site, &f.rolle) {
        Ok(r) => r,
        Err(m) => return show_list(&web, &v, &site, &draft, Some(refused(&m))).await,
    };
    match web.store.set_site_role(&scope, id, &site, role).await {
        Ok(Some(_)) => Redirect::to(&format!("/steder/{}/brugere/{id}", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                show_list(
                    &web,
                    &v,
                    &site,
                    &draft,
                    Some(refusal_text(&m, v.t, &labels(v.t))),
                )
                .await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    u: &'a UserLine,
    roles: Vec<(&'static str, &'static str)>,
    is_you: bool,
    can_change: bool,
    can_reset: bool,
    password_hint: &'static str,
    error: Option<String>,
}

/// A user of the site and what the viewer may do to them.
struct Target {
    row: SiteUserRow,
    is_you: bool,
    /// Their role is not above the viewer's.
    can_change: bool,
    /// The viewer administers all of their roles: password and second factor.
    can_reset: bool,
}

/// The site's user `id` as the viewer may act on them; `Err` is the "not found" page for a
/// user who is not the site's.
async fn target(
    web: &Web,
    v: &Viewer,
    scope: &Scope,
    site: &Site,
    id: i64,
) -> Result<Target, Response> {
    let rows = match web.store.site_user_rows(site).await {
        Ok(r) => r,
        Err(e) => return Err(v.failed(e)),
    };
    let Some(row) = rows.into_iter().find(|r| r.id == id) else {
        return Err(v.visit.not_found());
    };
    let is_you = scope.user_id == Some(id);
    let can_change = !is_you && Some(row.role) <= v.role_on(site.id);
    let can_reset = can_change
        && match web.store.manages_wholly(scope, id).await {
            Ok(b) => b,
            Err(e) => return Err(v.failed(e)),
        };
    Ok(Target {
        row,
        is_you,
        can_change,
        can_reset,
    })
}

/// What a change that redirects back to the user's page did (`?gjort=…`), to say so.
#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    gjort: String,
}

async fn user(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Query(done): Query<Done>,
) -> Response {
    let (site, scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let notice = match done.gjort.as_str() {
        "adgangskode" => Some(v.t.user_password_set),
        "totrin" => Some(v.t.user_factor_reset_done),
        _ => None,
    };
    match target(&web, &v, &scope, &site, id).await {
        Ok(t) => show_user(&web, &v, &site, &t, None, notice).await,
        Err(r) => r,
    }
}

/// The user's page; with an error, a refusal (422); with a notice, what was just done.
async fn show_user(
    web: &Web,
    v: &Viewer,
    site: &Site,
    target: &Target,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    let u = line(&target.row, v.t, v.visit.lang());
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = UserBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        u: &u,
        roles: grantable(v.t, v.role_on(site.id)),
        is_you: target.is_you,
        can_change: target.can_change,
        can_reset: target.can_reset,
        password_hint: v.visit.msgs().password_new_hint,
        error,
    };
    let here = Here {
        section: Section::Users,
        site: Some(site),
    };
    v.page_with(
        web,
        here,
        u.username.clone(),
        body,
        status,
        notice.map(str::to_owned),
    )
    .await
}

/// What every change to one user begins with: the site, the scope and the user, and
/// whether the viewer may change them at all (`Err(page)` otherwise: not found, or 422).
async fn changeable(
    web: &Web,
    v: &Viewer,
    uid: &str,
    id: i64,
) -> Result<(Site, Scope, Target), Response> {
    let (site, scope) = v.site_needing(web, uid, Role::SiteAdmin).await?;
    let target = target(web, v, &scope, &site, id).await?;
    if target.is_you {
        let m = labelled(v.t.err_own, &labels(v.t));
        return Err(show_user(web, v, &site, &target, Some(m), None).await);
    }
    if !target.can_change {
        let m = labelled(v.t.err_not_managed, &labels(v.t));
        return Err(show_user(web, v, &site, &target, Some(m), None).await);
    }
    Ok((site, scope, target))
}

fn to_user(site: &Site, id: i64) -> Response {
    Redirect::to(&format!("/steder/{}/brugere/{id}", site.uid)).into_response()
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    rolle: String,
}

async fn change_role(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<RoleForm>,
) -> Response {
    let (site, scope, target) = match changeable(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = |m: &str| labelled(m, &labels(v.t));
    let role = match wanted_role(&v, &site, &f.rolle) {
        Ok(r) => r,
        Err(m) => return show_user(&web, &v, &site, &target, Some(refused(&m)), None).await,
    };
    match web.store.set_site_role(&scope, id, &site, role).await {
        Ok(Some(_)) => to_user(&site, id),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                show_user(
                    &web,
                    &v,
                    &site,
                    &target,
                    Some(refusal_text(&m, v.t, &labels(v.t))),
                    None,
                )
                .await
            }
            Err(e) => v.failed(e),
        },
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    adgangskode: String,
}

async fn password(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let (site, scope, target) = match changeable(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = |m: &str| labelled(m, &labels(v.t));
    if !target.can_reset {
        return show_user(
            &web,
            &v,
            &site,
            &target,
            Some(refused(v.t.err_not_managed)),
            None,
        )
        .await;
    }
    match web
        .store
        .reset_password(&scope, site.id, id, &f.adgangskode)
        .await
    {
        Ok(()) => Redirect::to(&format!(
            "/steder/{}/brugere/{id}?gjort=adgangskode",
            site.uid
        ))
        .into_response(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                show_user(
                    &web,
                    &v,
                    &site,
                    &target,
                    Some(refusal_text(&m, v.t, &labels(v.t))),
                    None,
                )
                .await
            }
            Err(e) => v.failed(e),
        },
    }
}

async fn second_factor(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope, target) = match changeable(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !target.can_reset {
        let m = labelled(v.t.err_not_managed, &labels(v.t));
        return show_user(&web, &v, &site, &target, Some(m), None).await;
    }
    if let Err(e) = web
        .store
        .reset_second_factor(&scope, site.id, id, &target.row.username)
        .await
    {
        return v.failed(e);
    }
    Redirect::to(&format!("/steder/{}/brugere/{id}?gjort=totrin", site.uid)).into_response()
}

async fn remove(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, scope, target) = match changeable(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = |m: &str| labelled(m, &labels(v.t));
    if target.row.role == Role::CustomerAdmin {
        let m = refused(v.t.err_customer_admin_remove);
        return show_user(&web, &v, &site, &target, Some(m), None).await;
    }
    match web.store.remove_user(&scope, id, Some(site.id)).await {
        Ok(Some(_)) => Redirect::to(&format!("/steder/{}/brugere", site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        Err(e) => match refusal(e) {
            Ok(m) => {
                show_user(
                    &web,
                    &v,
                    &site,
                    &target,
                    Some(refusal_text(&m, v.t, &labels(v.t))),
                    None,
                )
                .await
            }
            Err(e) => v.failed(e),
        },
    }
}
