//! The Administrationsportal in the browser: the pages operators use every day, drawn on the
//! server from askama templates (`templates/`), in Danish and English (`locales/`), on the
//! web foundation of `service_kit::web` (sessions, second factor, CSRF-checked forms, page
//! chrome, security headers).
//!
//! Who sees what is the operator API's rule, kept by the same store: every page takes a
//! [`Viewer`], whose [`Scope`] filters every query; an id or a site outside it is "not found"
//! exactly as a missing one, so a user of one customer learns nothing of another's. A page
//! that needs a role narrows the scope with [`Viewer::needs`], and a change goes through the
//! same store functions as the API, which write the audit log.
//!
//! Layout: this module holds the router, the [`Viewer`] extractor, the menu and the helpers
//! every page shares; each submodule owns the pages of one menu section.

mod api_keys;
mod approvals;
mod chart;
mod customers;
mod events;
mod groups;
mod help;
mod jobs;
mod logs;
mod pcs;
mod reports;
mod rules;
mod scripts;
mod settings;
mod sites;
mod users;
mod wakeplans;

use crate::login::Logins;
use crate::store::access::{Role, Scope};
use crate::store::portal::PortalUser;
use crate::store::tenants::Site;
use crate::store::{Refusal, Store};
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use service_kit::web::{
    Account, Accounts, Badge, Chrome, Lang, LoginCheck, NavItem, Page, PasswordChange, Portal,
    SignedIn, Visit,
};
use std::net::IpAddr;
use std::sync::Arc;

/// The portal's own texts (the foundation's are `service_kit::web::text`).
pub(crate) use crate::text;

/// The product's name in the header and every title.
const PRODUCT: &str = "OS2borgerPC Admin";

/// The users of the portal, as the web foundation asks about them.
pub(crate) struct PortalAccounts {
    store: Store,
    logins: Arc<Logins>,
}

impl Accounts for PortalAccounts {
    async fn check_login(
        &self,
        username: &str,
        password: &str,
        from: IpAddr,
    ) -> anyhow::Result<LoginCheck> {
        self.logins.check(username, password, from).await
    }

    async fn account(&self, user_id: i64) -> anyhow::Result<Option<Account>> {
        let Some(user) = self.store.portal_user(user_id).await? else {
            return Ok(None);
        };
        let required = self.store.second_factor_required(&user).await?;
        Ok(Some(Account {
            username: user.username,
            language: user.language,
            second_factor_required: required,
        }))
    }

    async fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        _: IpAddr,
    ) -> PasswordChange {
        match self.logins.check_own(user_id, current).await {
            Ok(Some(true)) => {}
            Ok(Some(false)) => return PasswordChange::WrongCurrent,
            Ok(None) => return PasswordChange::Busy,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "password change: database");
                return PasswordChange::Busy;
            }
        }
        match self.store.change_own_password(user_id, new).await {
            Ok(()) => PasswordChange::Changed,
            Err(crate::store::Error::Invalid(why)) => {
                // The foundation shows the text as it is: in the user's language, then.
                let lang = match self.store.portal_user(user_id).await {
                    Ok(Some(user)) => user.language.unwrap_or(Lang::Da),
                    _ => Lang::Da,
                };
                PasswordChange::Refused(why.text(text::msgs(lang)))
            }
            Err(e) => {
                tracing::error!(error = %e, "password change: database");
                PasswordChange::Busy
            }
        }
    }

    async fn language_chosen(&self, user_id: i64, lang: Lang) -> anyhow::Result<()> {
        Ok(self.store.set_user_language(user_id, lang).await?)
    }

    fn client_ip(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        self.logins.addresses().of(peer, &parts.headers)
    }
}

/// What every page handler gets: the store, and whether the portal mails (an SMTP server
/// is configured: without one, report subscriptions are kept but never sent).
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) store: Store,
    pub(crate) mails: bool,
}

/// The portal's pages with the web foundation around them.
pub fn router(config: &crate::config::Config, store: Store, logins: Arc<Logins>) -> Router {
    let portal = Arc::new(Portal {
        sessions: service_kit::web::session::Sessions::new(
            store.db.clone(),
            config.session_policy(),
        ),
        factors: service_kit::web::second_factor::SecondFactors::new(
            store.db.clone(),
            config.web.second_factor_issuer.clone(),
        ),
        accounts: PortalAccounts {
            store: store.clone(),
            logins,
        },
        chrome: Chrome {
            product: PRODUCT,
            home: "/",
            css: Vec::new(),
            js: Vec::new(),
        },
    });
    let pages = Router::new()
        .merge(sites::routes())
        .merge(pcs::routes())
        .merge(groups::routes())
        .merge(help::routes())
        .merge(scripts::routes())
        .merge(jobs::routes())
        .merge(events::routes())
        .merge(rules::routes())
        .merge(wakeplans::routes())
        .merge(approvals::routes())
        .merge(settings::routes())
        .merge(users::routes())
        .merge(api_keys::routes())
        .merge(logs::routes())
        .merge(customers::routes())
        .merge(reports::routes())
        .with_state(Web {
            store,
            mails: config.notifications.smtp_host.is_some(),
        });
    portal.router(pages)
}

/// A logged-in user on a page: who they are, what they may see, and the page's languages.
pub(crate) struct Viewer {
    pub(crate) visit: Visit,
    pub(crate) scope: Scope,
    pub(crate) user: PortalUser,
    /// The portal's texts in the page's language.
    pub(crate) t: &'static text::Msgs,
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        let signed = SignedIn::from_request_parts(parts, web).await?;
        let found = async {
            let scope = web.store.scope_of_user(signed.user_id).await?;
            let user = web.store.portal_user(signed.user_id).await?;
            Ok::<_, crate::store::Error>(scope.zip(user))
        };
        match found.await {
            Ok(Some((scope, user))) => Ok(Viewer {
                t: text::msgs(signed.visit.lang()),
                visit: signed.visit,
                scope,
                user,
            }),
            // The user was deleted meanwhile: the session is worth nothing.
            Ok(None) => Err(Redirect::to("/log-ind").into_response()),
            Err(e) => Err(signed.visit.failed(&e.into())),
        }
    }
}

/// The most new events the badge on every page counts: beyond it, "999+" says as much and
/// costs one index range instead of counting a neglected site's 25,000 events per page.
const BADGE_CAP: i64 = 999;

/// The menu sections (upstream's menu: status, monitoring, organisation, scripting, users,
/// as their pages are written); a page says which it is in. Each has its address and its
/// label here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Sites,
    Status,
    Pcs,
    Groups,
    Scripts,
    Jobs,
    Events,
    Rules,
    SecurityScripts,
    WakePlans,
    Approvals,
    Settings,
    Users,
    ApiKeys,
    Logs,
    Customers,
    Reports,
}

impl Section {
    /// Every section, for the help pages.
    const ALL: [Section; 17] = [
        Section::Sites,
        Section::Customers,
        Section::Reports,
        Section::Status,
        Section::Pcs,
        Section::Events,
        Section::Rules,
        Section::SecurityScripts,
        Section::Groups,
        Section::Scripts,
        Section::Jobs,
        Section::WakePlans,
        Section::Approvals,
        Section::Settings,
        Section::Users,
        Section::ApiKeys,
        Section::Logs,
    ];

    /// The section's name in its help page's address (`/hjaelp/computere`).
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Section::Sites => "steder",
            Section::Status => "status",
            Section::Pcs => "computere",
            Section::Groups => "grupper",
            Section::Scripts => "scripts",
            Section::Jobs => "jobs",
            Section::Events => "sikkerhed",
            Section::Rules => "regler",
            Section::SecurityScripts => "sikkerhedsscripts",
            Section::WakePlans => "taend-sluk",
            Section::Approvals => "godkendelser",
            Section::Settings => "indstillinger",
            Section::Users => "brugere",
            Section::ApiKeys => "api-noegler",
            Section::Logs => "log",
            Section::Customers => "kunder",
            Section::Reports => "rapporter",
        }
    }

    /// The section of a help page's address.
    pub(crate) fn by_slug(slug: &str) -> Option<Section> {
        Self::ALL.into_iter().find(|s| s.slug() == slug)
    }

    /// What the section's help page says.
    pub(crate) fn help(self, t: &text::Msgs) -> &'static str {
        match self {
            Section::Sites => t.help_sites,
            Section::Status => t.help_status,
            Section::Pcs => t.help_pcs,
            Section::Groups => t.help_groups,
            Section::Scripts => t.help_scripts,
            Section::Jobs => t.help_jobs,
            Section::Events => t.help_events,
            Section::Rules => t.help_rules,
            Section::SecurityScripts => t.help_security_scripts,
            Section::WakePlans => t.help_wake_plans,
            Section::Approvals => t.help_approvals,
            Section::Settings => t.help_settings,
            Section::Users => t.help_users,
            Section::ApiKeys => t.help_api_keys,
            Section::Logs => t.help_logs,
            Section::Customers => t.help_customers,
            Section::Reports => t.help_reports,
        }
    }

    /// The site's sections, in menu order, with the least role that sees them.
    const OF_SITE: [(Section, Role); 14] = [
        (Section::Status, Role::Reader),
        (Section::Pcs, Role::Reader),
        (Section::Events, Role::Reader),
        (Section::Rules, Role::Reader),
        (Section::SecurityScripts, Role::Reader),
        (Section::Groups, Role::Reader),
        (Section::Scripts, Role::Reader),
        (Section::Jobs, Role::Reader),
        (Section::WakePlans, Role::Reader),
        (Section::Approvals, Role::SiteUser),
        (Section::Settings, Role::SiteAdmin),
        (Section::Users, Role::SiteAdmin),
        (Section::ApiKeys, Role::SiteAdmin),
        (Section::Logs, Role::SiteAdmin),
    ];

    pub(crate) fn label(self, t: &text::Msgs) -> &'static str {
        match self {
            Section::Sites => t.nav_sites,
            Section::Status => t.nav_status,
            Section::Pcs => t.nav_pcs,
            Section::Groups => t.nav_groups,
            Section::Scripts => t.nav_scripts,
            Section::Jobs => t.nav_jobs,
            Section::Events => t.nav_events,
            Section::Rules => t.nav_rules,
            Section::SecurityScripts => t.nav_security_scripts,
            Section::WakePlans => t.nav_wake_plans,
            Section::Approvals => t.nav_approvals,
            Section::Settings => t.nav_settings,
            Section::Users => t.nav_users,
            Section::ApiKeys => t.nav_api_keys,
            Section::Logs => t.nav_logs,
            Section::Customers => t.nav_customers,
            Section::Reports => t.nav_reports,
        }
    }

    /// The section's page: of the site for a site's sections.
    pub(crate) fn href(self, site: Option<&Site>) -> String {
        match (self, site) {
            (Section::Status, Some(s)) => format!("/steder/{}", s.uid),
            (Section::Pcs, Some(s)) => format!("/steder/{}/pc", s.uid),
            (Section::Groups, Some(s)) => format!("/steder/{}/grupper", s.uid),
            (Section::Scripts, Some(s)) => format!("/steder/{}/scripts", s.uid),
            (Section::Jobs, Some(s)) => format!("/steder/{}/jobs", s.uid),
            (Section::Events, Some(s)) => format!("/steder/{}/sikkerhed", s.uid),
            (Section::Rules, Some(s)) => format!("/steder/{}/regler", s.uid),
            (Section::SecurityScripts, Some(s)) => format!("/steder/{}/sikkerhedsscripts", s.uid),
            (Section::WakePlans, Some(s)) => format!("/steder/{}/taend-sluk", s.uid),
            (Section::Approvals, Some(s)) => format!("/steder/{}/godkendelser", s.uid),
            (Section::Settings, Some(s)) => format!("/steder/{}/indstillinger", s.uid),
            (Section::Users, Some(s)) => format!("/steder/{}/brugere", s.uid),
            (Section::ApiKeys, Some(s)) => format!("/steder/{}/api-noegler", s.uid),
            (Section::Logs, Some(s)) => format!("/steder/{}/log", s.uid),
            (Section::Customers, _) => "/kunder".to_owned(),
            (Section::Reports, _) => "/rapporter/tilgaengelighed".to_owned(),
            _ => "/".to_owned(),
        }
    }
}

/// Where a page is: its section and, for a site's pages, the site.
pub(crate) struct Here<'a> {
    pub(crate) section: Section,
    pub(crate) site: Option<&'a Site>,
}

impl Viewer {
    /// The scope narrowed to `site` where the user has at least `role` there; `None` means
    /// the page answers "not found": a page for a role the user lacks does not exist for them.
    pub(crate) fn needs(&self, role: Role, site: &Site) -> Option<Scope> {
        self.scope
            .clone()
            .narrowed(role)
            .filter(|s| s.sees(site.id))
    }

    /// The site a page's path names, if the user sees it; else the "not found" page.
    pub(crate) async fn site(&self, web: &Web, uid: &str) -> Result<Site, Response> {
        match web.store.site_by_uid(uid).await {
            Ok(Some(site)) if self.scope.visible(site.id) => Ok(site),
            Ok(_) => Err(self.visit.not_found()),
            Err(e) => Err(self.visit.failed(&e.into())),
        }
    }

    /// The site a page's path names with the viewer's scope narrowed to `role` there; the
    /// "not found" page if the user does not see the site or lacks the role.
    pub(crate) async fn site_needing(
        &self,
        web: &Web,
        uid: &str,
        role: Role,
    ) -> Result<(Site, Scope), Response> {
        let site = self.site(web, uid).await?;
        match self.needs(role, &site) {
            Some(scope) => Ok((site, scope)),
            None => Err(self.visit.not_found()),
        }
    }

    /// The user's role on a site (they see it, so they have one).
    pub(crate) fn role_on(&self, site_id: i64) -> Option<Role> {
        self.scope
            .roles
            .iter()
            .find(|(s, _)| *s == site_id)
            .map(|(_, r)| *r)
    }

    /// A failure of ours, logged, shown without its cause.
    pub(crate) fn failed(&self, e: impl Into<anyhow::Error>) -> Response {
        self.visit.failed(&e.into())
    }

    /// The whole page: the body template inside the chrome, with the menu for `here`.
    pub(crate) async fn page(
        &self,
        web: &Web,
        here: Here<'_>,
        title: impl Into<String>,
        body: impl Template,
    ) -> Response {
        self.page_with(web, here, title, body, StatusCode::OK, None)
            .await
    }

    /// [`Viewer::page`] with a status and a notice ("Saved").
    pub(crate) async fn page_with(
        &self,
        web: &Web,
        here: Here<'_>,
        title: impl Into<String>,
        body: impl Template,
        status: StatusCode,
        notice: Option<String>,
    ) -> Response {
        let body = match body.render() {
            Ok(b) => b,
            Err(e) => return self.failed(anyhow::anyhow!("template: {e}")),
        };
        let badge = match web
            .store
            .new_event_count(&self.scope.sites, BADGE_CAP)
            .await
        {
            Ok(0) => None,
            Ok(n) => Some(Badge {
                label: self.t.nav_new_events.to_owned(),
                count: if n > BADGE_CAP {
                    format!("{BADGE_CAP}+")
                } else {
                    n.to_string()
                },
                href: match here.site {
                    Some(s) => Section::Events.href(Some(s)),
                    None => "/".to_owned(),
                },
            }),
            Err(e) => return self.failed(e),
        };
        self.visit.page_with_status(
            status,
            Page {
                title: title.into(),
                body,
                nav: self.nav(&here),
                user: Some(self.user.username.clone()),
                badge,
                help: Some(format!("/hjaelp/{}", here.section.slug())),
                notice,
                narrow: false,
            },
        )
    }

    fn nav(&self, here: &Here<'_>) -> Vec<NavItem> {
        let t = self.t;
        let item = |label: &str, href: String, section: Section| NavItem {
            label: label.to_owned(),
            href,
            current: here.section == section,
        };
        let mut nav = vec![item(t.nav_sites, "/".to_owned(), Section::Sites)];
        if self.scope.superuser || !self.scope.customers.is_empty() {
            let c = Section::Customers;
            nav.push(item(c.label(t), c.href(None), c));
        }
        // Every user reads reports of the sites they see, so the entry is always there.
        let r = Section::Reports;
        nav.push(item(r.label(t), r.href(None), r));
        if let Some(site) = here.site {
            let role = self.role_on(site.id);
            for (section, least) in Section::OF_SITE {
                if role >= Some(least) {
                    nav.push(item(section.label(t), section.href(Some(site)), section));
                }
            }
        }
        nav
    }
}

/// A page's own refusal (`role: …`, from the catalogue) with the field's label in front.
/// `labels` maps the store's names of fields to labels.
pub(crate) fn labelled(message: &str, labels: &[(&str, &str)]) -> String {
    let field = message.split_once(':').map_or("", |(f, _)| f.trim());
    match labels.iter().find(|(name, _)| *name == field) {
        Some((_, label)) => format!("{label} – {message}"),
        None => message.to_owned(),
    }
}

/// A store refusal (of the input or the state: shown on the page again with 422); any other
/// error stays one, for [`Viewer::failed`].
pub(crate) fn refusal(e: crate::store::Error) -> Result<Refusal, crate::store::Error> {
    match e {
        crate::store::Error::Invalid(r) | crate::store::Error::Conflict(r) => Ok(r),
        e => Err(e),
    }
}

/// A store refusal in the page's language: `Label: reason` when `labels` (the store's names
/// of fields, with the form's labels) has its field, else the field as the store names it.
pub(crate) fn refusal_text(r: &Refusal, t: &text::Msgs, labels: &[(&str, &str)]) -> String {
    match r
        .field
        .name()
        .and_then(|f| labels.iter().find(|(n, _)| *n == f))
    {
        Some((_, label)) => format!("{label}: {}", r.reason.text(t)),
        None => r.text(t),
    }
}

/// The configuration panel's form (`templates/config_panel.html`), for a site's or a
/// group's entries: set `noegle` to `vaerdi`, or remove it with `fjern=ja`.
#[derive(serde::Deserialize)]
pub(crate) struct ConfigEntry {
    #[serde(default)]
    pub(crate) noegle: String,
    #[serde(default)]
    pub(crate) vaerdi: String,
    #[serde(default)]
    fjern: String,
}

impl ConfigEntry {
    /// The change as `Store::change_config` takes it.
    pub(crate) fn change(&self) -> (String, Option<String>) {
        let value = (self.fjern != "ja").then(|| self.vaerdi.clone());
        (self.noegle.trim().to_owned(), value)
    }
}

/// A form of nothing but its CSRF token: a button.
#[derive(serde::Deserialize)]
pub(crate) struct Nothing {}

/// A list's filters as an address's query (`status=FAILED&pc=12`): the empty ones left out.
pub(crate) fn filter_query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<&(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// The links of a paged list: the list's `path` with its filters' `query` and `side=`.
pub(crate) struct Pager {
    pub(crate) page: i64,
    pub(crate) pages: i64,
    pub(crate) previous: Option<String>,
    pub(crate) next: Option<String>,
}

impl Pager {
    pub(crate) fn new(page: i64, count: i64, per_page: i64, path: &str, query: &str) -> Self {
        let pages = ((count + per_page - 1) / per_page).max(1);
        let page = page.clamp(1, pages);
        let sep = if query.is_empty() { "" } else { "&" };
        let link = |n: i64| format!("{path}?{query}{sep}side={n}");
        Pager {
            page,
            pages,
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A form's or an address's fields in their order, for what a struct cannot hold: the
/// checkboxes that share a name (`gruppe=1&gruppe=4`) and numbered rows.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(transparent)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `key`, or "".
    pub(crate) fn one(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` that is an id; `None` if one is not a number.
    pub(crate) fn ids(&self, key: &str) -> Option<Vec<i64>> {
        self.all(key).map(|v| v.trim().parse().ok()).collect()
    }

    /// The fields as an address's query, without `skip`.
    pub(crate) fn query_without(&self, skip: &[&str]) -> String {
        let kept: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_empty())
            .collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }

    /// The fields of an address's query (`a=1&b=2`); nothing if it does not parse.
    pub(crate) fn parse(query: &str) -> Fields {
        serde_urlencoded::from_str(query).unwrap_or_default()
    }
}

/// A user's mistake in a form, shown above it: the form field it is about (marked invalid)
/// and the message, which names the field as the form labels it.
pub(crate) struct Problem {
    pub(crate) field: String,
    pub(crate) text: String,
}

impl Problem {
    pub(crate) fn new(field: &str, label: &str, why: &str) -> Problem {
        Problem {
            field: field.to_owned(),
            text: format!("{label}: {why}"),
        }
    }

    /// The store's refusal of bad input (or of a conflict with what is stored) as a problem
    /// of the form, in `t`'s language; `None` for a failure of ours. The store names the
    /// field its own way (`max_offline_minutes`, `week[2].on`); `field` gives the form's name
    /// and label for it, and a refusal of another field is shown with the store's name.
    pub(crate) fn of_store(
        e: &crate::store::Error,
        t: &text::Msgs,
        field: impl Fn(&str) -> Option<(String, String)>,
    ) -> Option<Problem> {
        let r = e.refusal()?;
        if let Some((name, label)) = r.field.name().and_then(&field) {
            return Some(Problem::new(&name, &label, &r.reason.text(t)));
        }
        Some(Problem {
            field: String::new(),
            text: r.text(t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Pager, filter_query};

    #[test]
    fn pager_links_keep_the_filters_and_stay_in_range() {
        let query = filter_query(&[("status", "FAILED"), ("pc", ""), ("q", "a b")]);
        assert_eq!(query, "status=FAILED&q=a+b");
        let p = Pager::new(2, 120, 50, "/steder/x/jobs", &query);
        assert_eq!((p.page, p.pages), (2, 3));
        assert_eq!(
            p.previous.as_deref(),
            Some("/steder/x/jobs?status=FAILED&q=a+b&side=1")
        );
        assert_eq!(
            p.next.as_deref(),
            Some("/steder/x/jobs?status=FAILED&q=a+b&side=3")
        );
        let p = Pager::new(9, 10, 50, "/steder/x", "");
        assert_eq!((p.page, p.previous, p.next), (1, None, None));
        let p = Pager::new(1, 60, 50, "/steder/x", "");
        assert_eq!(p.next.as_deref(), Some("/steder/x?side=2"));
    }
}
