//! Scripts of both kinds, with one set of handlers and templates: scripts run as jobs (menu
//! Scripting → Scripts, `…/scripts`) and security scripts, which security rules run on the
//! PCs at every check-in (menu Overvågning → Sikkerhedsscripts, `…/sikkerhedsscripts`). Each
//! kind has its list (global and the site's own, categories, search), a script's page
//! (details, code with download of any version, versions; parameters and the run wizard for
//! scripts run as jobs, the security rules that use it for security scripts), a new local
//! script or a new version of one (code typed or uploaded; a parameter editor for scripts run
//! as jobs) and the deletion of a local script after a confirmation. The run wizard: PCs and
//! groups → parameter values (files too) → one batch with a job per PC, ending on the batch's
//! progress page.
//!
//! The kind rides on each route as an extension, so a handler serves both and asks the store
//! only for its own kind: an id of the other kind is "not found" here.
//!
//! The wizard keeps its state in the page's own fields (chosen PCs and groups travel as
//! hidden inputs), so it needs no JavaScript and no state on the server between its steps;
//! nothing is written until its last step.

use super::{Here, Nothing, Section, Viewer, Web, text};
use crate::store::access::Role;
use crate::store::job_views::{
    Origin, ScriptFilter, ScriptKind, ScriptPage, ScriptRow, ScriptUses,
};
use crate::store::jobs::{Input, NewInput, NewScript, ParamValue, RunScript, VALUE_TYPES};
use crate::store::policies::StoredParam;
use crate::store::tenants::Site;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use service_kit::web::time::local_time;
use service_kit::web::{Form, Upload};

pub(super) fn routes() -> Router<Web> {
    let normal = Router::new()
        .route("/steder/{site}/scripts", get(list))
        .route("/steder/{site}/scripts/ny", get(new_form).post(create))
        .route("/steder/{site}/scripts/{id}", get(script))
        .route("/steder/{site}/scripts/{id}/kode", get(code))
        .route(
            "/steder/{site}/scripts/{id}/rediger",
            get(edit_form).post(edit),
        )
        .route(
            "/steder/{site}/scripts/{id}/slet",
            get(ask_delete).post(delete),
        )
        .route(
            "/steder/{site}/scripts/{id}/koer",
            get(run_targets).post(run),
        )
        .route(
            "/steder/{site}/scripts/{id}/koer/parametre",
            get(run_params),
        )
        .layer(Extension(ScriptKind::Normal));
    // Security scripts take no parameters and are never jobs: no wizard.
    let security = Router::new()
        .route("/steder/{site}/sikkerhedsscripts", get(list))
        .route(
            "/steder/{site}/sikkerhedsscripts/ny",
            get(new_form).post(create),
        )
        .route("/steder/{site}/sikkerhedsscripts/{id}", get(script))
        .route("/steder/{site}/sikkerhedsscripts/{id}/kode", get(code))
        .route(
            "/steder/{site}/sikkerhedsscripts/{id}/rediger",
            get(edit_form).post(edit),
        )
        .route(
            "/steder/{site}/sikkerhedsscripts/{id}/slet",
            get(ask_delete).post(delete),
        )
        .layer(Extension(ScriptKind::Security));
    normal.merge(security)
}

/// The address of a kind's pages on a site: its list, and `/<id>…` below it.
fn base(kind: ScriptKind, site: &str) -> String {
    match kind {
        ScriptKind::Normal => format!("/steder/{site}/scripts"),
        ScriptKind::Security => format!("/steder/{site}/sikkerhedsscripts"),
    }
}

fn here(site: &Site, kind: ScriptKind) -> Here<'_> {
    Here {
        section: match kind {
            ScriptKind::Normal => Section::Scripts,
            ScriptKind::Security => Section::SecurityScripts,
        },
        site: Some(site),
    }
}

/// The list's filters (`?q=…&kategori=…&type=lokale`).
struct Filters {
    q: String,
    kategori: String,
    type_: String,
}

#[derive(Template)]
#[template(path = "scripts.html")]
struct ListBody<'a> {
    t: &'static text::Msgs,
    base: String,
    security: bool,
    f: &'a Filters,
    categories: &'a [String],
    rows: &'a [ScriptRow],
    can_create: bool,
}

async fn list(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path(uid): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // `type` is a Rust keyword, so the filters are read by hand.
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let f = Filters {
        q: get("q").chars().take(200).collect(),
        kategori: get("kategori"),
        type_: get("type"),
    };
    let filter = ScriptFilter {
        kind,
        text: f.q.clone(),
        category: (!f.kategori.is_empty()).then(|| f.kategori.clone()),
        origin: match f.type_.as_str() {
            "globale" => Origin::Global,
            "lokale" => Origin::Local,
            _ => Origin::Both,
        },
    };
    let found = async {
        let rows = web.store.script_rows(site.id, &filter).await?;
        let categories = web.store.script_categories(site.id, kind).await?;
        Ok::<_, crate::store::Error>((rows, categories))
    };
    let (rows, categories) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let body = ListBody {
        t: v.t,
        base: base(kind, &site.uid),
        security: kind == ScriptKind::Security,
        f: &f,
        categories: &categories,
        rows: &rows,
        can_create: v.role_on(site.id) >= Some(Role::SiteUser),
    };
    let here = here(&site, kind);
    let title = format!("{} – {}", here.section.label(v.t), site.name);
    v.page(&web, here, title, body).await
}

/// An input as the script page lists it.
struct InputLine {
    name: String,
    value_type: &'static str,
    default_value: String,
    mandatory: bool,
}

/// A parameter type as a person reads it.
pub(super) fn type_label(t: &text::Msgs, value_type: &str) -> &'static str {
    match value_type {
        "STRING" => t.type_string,
        "INT" => t.type_int,
        "DATE" => t.type_date,
        "FILE" => t.type_file,
        "BOOLEAN" => t.type_boolean,
        "TIME" => t.type_time,
        "PASSWORD" => t.type_password,
        "TEXT_FIELD" => t.type_text_field,
        _ => t.type_string,
    }
}

#[derive(Template)]
#[template(path = "script.html")]
struct ScriptBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    base: String,
    security: bool,
    s: &'a ScriptPage,
    inputs: Vec<InputLine>,
    versions: Vec<(i64, String, i64)>,
    /// The site's security rules that run it (security scripts).
    rules: Vec<(i64, String)>,
    can_run: bool,
    can_edit: bool,
    can_delete: bool,
}

/// A script of the kind the site has, or the "not found" answer.
async fn script_of(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: ScriptKind,
    id: i64,
) -> Result<ScriptPage, Response> {
    match web.store.script_page(site.id, kind, id).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(v.visit.not_found()),
        Err(e) => Err(v.failed(e)),
    }
}

/// A local script of the kind the site has, or the "not found" answer: a global script is
/// every site's, so no site changes or deletes it.
async fn local_script_of(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: ScriptKind,
    id: i64,
) -> Result<ScriptPage, Response> {
    match script_of(web, v, site, kind, id).await {
        Ok(s) if !s.row.global => Ok(s),
        Ok(_) => Err(v.visit.not_found()),
        Err(r) => Err(r),
    }
}

async fn script(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let s = match script_of(&web, &v, &site, kind, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let security = kind == ScriptKind::Security;
    let rules = if security {
        match web.store.script_uses(site.id, id).await {
            Ok(u) => u.rules,
            Err(e) => return v.failed(e),
        }
    } else {
        Vec::new()
    };
    let lang = v.visit.lang();
    let role = v.role_on(site.id);
    let body = ScriptBody {
        t: v.t,
        site: &site.uid,
        base: base(kind, &site.uid),
        security,
        inputs: s
            .inputs
            .iter()
            .map(|i| InputLine {
                name: i.name.clone(),
                value_type: type_label(v.t, &i.value_type),
                default_value: i.default_value.clone().unwrap_or_default(),
                mandatory: i.mandatory,
            })
            .collect(),
        versions: s
            .versions
            .iter()
            .map(|x| (x.version, local_time(x.created_at, lang), x.jobs))
            .collect(),
        rules,
        can_run: !security && role >= Some(Role::SiteUser),
        can_edit: role >= Some(Role::SiteUser) && !s.row.global,
        can_delete: role >= Some(Role::SiteAdmin) && !s.row.global,
        s: &s,
    };
    let title = s.row.name.clone();
    v.page(&web, here(&site, kind), title, body).await
}

#[derive(Deserialize)]
struct CodeQuery {
    version: Option<i64>,
}

/// The code as a file, the current version or `?version=N`.
async fn code(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
    Query(q): Query<CodeQuery>,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let s = match script_of(&web, &v, &site, kind, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let version = q.version.unwrap_or(s.row.version);
    let code = match web.store.script_code(id, version).await {
        Ok(Some(c)) => c,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let file: String = s
        .row
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut res = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        code,
    )
        .into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("attachment; filename=\"{file}-v{version}.sh\""))
    {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    res
}

/// Rows in the parameter editor: enough for every script upstream ships, without script.
const EDITOR_ROWS: usize = 8;

/// The script form's fields, as sent or as loaded from a script.
#[derive(Default)]
struct ScriptForm {
    name: String,
    description: String,
    category: String,
    code: String,
    inputs: Vec<InputForm>,
}

#[derive(Default, Clone)]
struct InputForm {
    name: String,
    value_type: String,
    default_value: String,
    mandatory: bool,
}

#[derive(Template)]
#[template(path = "script_form.html")]
struct FormBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    action: String,
    /// No parameter editor, and the security script's contract as the code's hint.
    security: bool,
    f: &'a ScriptForm,
    types: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

fn types(t: &text::Msgs) -> Vec<(&'static str, &'static str)> {
    VALUE_TYPES.iter().map(|v| (*v, type_label(t, v))).collect()
}

async fn form_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: ScriptKind,
    action: String,
    mut f: ScriptForm,
    error: Option<String>,
) -> Response {
    let security = kind == ScriptKind::Security;
    if !security {
        f.inputs
            .resize(f.inputs.len().max(EDITOR_ROWS), InputForm::default());
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let title = match (f.name.is_empty(), security) {
        (true, false) => v.t.script_new.to_owned(),
        (true, true) => v.t.security_script_new.to_owned(),
        (false, _) => format!("{} – {}", v.t.script_edit, f.name),
    };
    let body = FormBody {
        t: v.t,
        csrf: v.visit.csrf(),
        action,
        security,
        f: &f,
        types: types(v.t),
        error,
    };
    v.page_with(web, here(site, kind), title, body, status, None)
        .await
}

async fn new_form(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path(uid): Path<String>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let action = format!("{}/ny", base(kind, &site.uid));
    form_page(&web, &v, &site, kind, action, ScriptForm::default(), None).await
}

async fn edit_form(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteUser).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = match local_script_of(&web, &v, &site, kind, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = ScriptForm {
        name: s.row.name.clone(),
        description: s.row.description.clone(),
        category: s.row.category.clone().unwrap_or_default(),
        code: s.code.clone(),
        inputs: s
            .inputs
            .iter()
            .map(|i| InputForm {
                name: i.name.clone(),
                value_type: i.value_type.clone(),
                default_value: i.default_value.clone().unwrap_or_default(),
                mandatory: i.mandatory,
            })
            .collect(),
    };
    let action = format!("{}/{id}/rediger", base(kind, &site.uid));
    form_page(&web, &v, &site, kind, action, f, None).await
}

/// Reads the script form; the error names the field. A security script's form has no
/// parameters, and none are read from it.
fn read_form(up: &Upload, t: &text::Msgs, kind: ScriptKind) -> (ScriptForm, Result<(), String>) {
    let mut f = ScriptForm {
        name: up.field("navn").trim().to_owned(),
        description: up.field("beskrivelse").trim().to_owned(),
        category: up.field("kategori").trim().to_owned(),
        code: up.field("kode").to_owned(),
        inputs: Vec::new(),
    };
    if kind == ScriptKind::Normal {
        for n in 0..EDITOR_ROWS {
            f.inputs.push(InputForm {
                name: up.field(&format!("param_navn_{n}")).trim().to_owned(),
                value_type: up.field(&format!("param_type_{n}")).to_owned(),
                default_value: up.field(&format!("param_standard_{n}")).trim().to_owned(),
                mandatory: up.field(&format!("param_krav_{n}")) == "ja",
            });
        }
    }
    if let Some(file) = up.file("kodefil") {
        match String::from_utf8(file.data.clone()) {
            Ok(code) => f.code = code,
            Err(_) => return (f, Err(format!("{}: {}", t.script_file, t.script_not_text))),
        }
    }
    let checked = if f.name.is_empty() || f.name.chars().count() > 200 {
        Err(format!("{}: {}", t.script_name, t.script_name_rule))
    } else if f.code.trim().is_empty() {
        Err(format!("{}: {}", t.script_code, t.script_code_missing))
    } else if let Some((n, _)) = f
        .inputs
        .iter()
        .enumerate()
        .find(|(_, i)| !i.name.is_empty() && !VALUE_TYPES.contains(&i.value_type.as_str()))
    {
        Err(format!(
            "{} {}: {}",
            t.script_input,
            n + 1,
            t.script_type_unknown
        ))
    } else {
        Ok(())
    };
    (f, checked)
}

async fn create(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path(uid): Path<String>,
    up: Upload,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    save(&web, &v, &site, kind, None, up).await
}

async fn edit(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
    up: Upload,
) -> Response {
    let site = match v.site(&web, &uid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match local_script_of(&web, &v, &site, kind, id).await {
        Ok(s) => save(&web, &v, &site, kind, Some(s), up).await,
        Err(r) => r,
    }
}

/// Saves a new local script, or a new version of `old`: the same name in the same site is
/// the same script of its kind (the store's rule), so a rename makes a new script instead.
async fn save(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: ScriptKind,
    old: Option<ScriptPage>,
    up: Upload,
) -> Response {
    let Some(scope) = v.needs(Role::SiteUser, site) else {
        return v.visit.not_found();
    };
    let base = base(kind, &site.uid);
    let action = match &old {
        Some(s) => format!("{base}/{}/rediger", s.row.id),
        None => format!("{base}/ny"),
    };
    let (f, checked) = read_form(&up, v.t, kind);
    if let Err(why) = checked {
        return form_page(web, v, site, kind, action, f, Some(why)).await;
    }
    let script = NewScript {
        site_id: Some(site.id),
        uid: old.as_ref().and_then(|s| s.uid.clone()),
        name: old
            .as_ref()
            .map_or_else(|| f.name.clone(), |s| s.row.name.clone()),
        description: f.description.clone(),
        category: (!f.category.is_empty()).then(|| f.category.clone()),
        is_security: kind == ScriptKind::Security,
        is_hidden: false,
        version: 1,
        code: f.code.replace("\r\n", "\n"),
        inputs: f
            .inputs
            .iter()
            .filter(|i| !i.name.is_empty())
            .map(|i| NewInput {
                name: i.name.clone(),
                value_type: i.value_type.clone(),
                default_value: (!i.default_value.is_empty()).then(|| i.default_value.clone()),
                mandatory: i.mandatory,
            })
            .collect(),
    };
    let saved = match web.store.save_script(&script).await {
        Ok(s) => s,
        Err(crate::store::Error::Invalid(why)) => {
            return form_page(web, v, site, kind, action, f, Some(why.text(v.t))).await;
        }
        Err(e) => return v.failed(e),
    };
    if let Err(e) = web
        .store
        .audit(
            &scope.actor,
            Some(site.id),
            "script.save",
            &format!("script:{} version:{}", saved.script_id, saved.version_id),
        )
        .await
    {
        return v.failed(e);
    }
    Redirect::to(&format!("{base}/{}", saved.script_id)).into_response()
}

#[derive(Template)]
#[template(path = "script_delete.html")]
struct DeleteBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    base: String,
    s: &'a ScriptRow,
    uses: &'a ScriptUses,
}

/// The confirmation page, or the refusal when something still uses the script (409).
async fn delete_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    kind: ScriptKind,
    s: &ScriptPage,
    status: StatusCode,
) -> Response {
    let uses = match web.store.script_uses(site.id, s.row.id).await {
        Ok(u) => u,
        Err(e) => return v.failed(e),
    };
    let body = DeleteBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        base: base(kind, &site.uid),
        s: &s.row,
        uses: &uses,
    };
    let title = format!("{} – {}", v.t.script_delete, s.row.name);
    v.page_with(web, here(site, kind), title, body, status, None)
        .await
}

/// Asks before deleting a local script; site admins only, as upstream.
async fn ask_delete(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
) -> Response {
    let (site, _) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match local_script_of(&web, &v, &site, kind, id).await {
        Ok(s) => delete_page(&web, &v, &site, kind, &s, StatusCode::OK).await,
        Err(r) => r,
    }
}

async fn delete(
    State(web): State<Web>,
    v: Viewer,
    Extension(kind): Extension<ScriptKind>,
    Path((uid, id)): Path<(String, i64)>,
    Form(_): Form<Nothing>,
) -> Response {
    let (site, mut scope) = match v.site_needing(&web, &uid, Role::SiteAdmin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = match local_script_of(&web, &v, &site, kind, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // This site's script only, whatever other sites the viewer administers.
    scope.sites = vec![site.id];
    match web.store.delete_script(&scope, site.id, id).await {
        Ok(Some(())) => Redirect::to(&base(kind, &site.uid)).into_response(),
        Ok(None) => v.visit.not_found(),
        // A group or a rule took it up meanwhile: the page names them now.
        Err(crate::store::Error::Conflict(_)) => {
            delete_page(&web, &v, &site, kind, &s, StatusCode::CONFLICT).await
        }
        Err(e) => v.failed(e),
    }
}

/// What the wizard's first step offers and the second carries on: the chosen PCs and groups.
#[derive(Default)]
struct Targets {
    pcs: Vec<i64>,
    groups: Vec<i64>,
}

impl Targets {
    fn read<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Targets {
        let mut t = Targets::default();
        for (k, val) in pairs {
            match (k, val.parse::<i64>()) {
                ("pc", Ok(id)) => t.pcs.push(id),
                ("gruppe", Ok(id)) => t.groups.push(id),
                _ => {}
            }
        }
        t.pcs.sort_unstable();
        t.pcs.dedup();
        t.groups.sort_unstable();
        t.groups.dedup();
        t
    }
}

/// PCs the first step lists; a site with more picks groups instead.
const WIZARD_PCS: i64 = 2_000;

#[derive(Template)]
#[template(path = "run_targets.html")]
struct TargetsBody<'a> {
    t: &'static text::Msgs,
    site: &'a str,
    script: &'a ScriptRow,
    pcs: &'a [(i64, String)],
    groups: &'a [(i64, String)],
    chosen: &'a Targets,
    error: Option<&'a str>,
}

/// The wizard's page frame: the script must be runnable here by this user.
async fn wizard(web: &Web, v: &Viewer, uid: &str, id: i64) -> Result<(Site, ScriptPage), Response> {
    let site = v.site(web, uid).await?;
    if v.needs(Role::SiteUser, &site).is_none() {
        return Err(v.visit.not_found());
    }
    let s = script_of(web, v, &site, ScriptKind::Normal, id).await?;
    Ok((site, s))
}

async fn run_targets(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (site, s) = match wizard(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let chosen = Targets::read(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    targets_page(&web, &v, &site, &s, &chosen, None, StatusCode::OK).await
}

async fn targets_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    s: &ScriptPage,
    chosen: &Targets,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let found = async {
        let pcs = web.store.runnable_pcs(site.id, WIZARD_PCS).await?;
        let groups = web.store.group_names(site.id).await?;
        Ok::<_, crate::store::Error>((pcs, groups))
    };
    let (pcs, groups) = match found.await {
        Ok(x) => x,
        Err(e) => return v.failed(e),
    };
    let body = TargetsBody {
        t: v.t,
        site: &site.uid,
        script: &s.row,
        pcs: &pcs,
        groups: &groups,
        chosen,
        error,
    };
    let title = format!("{} – {}", v.t.run_title, s.row.name);
    v.page_with(
        web,
        here(site, ScriptKind::Normal),
        title,
        body,
        status,
        None,
    )
    .await
}

/// A parameter as a form asks for it (the wizard's second step, a group's policy script, the
/// change of a policy's values): `templates/param_inputs.html` draws it.
pub(super) struct ParamField {
    pub(super) field: String,
    pub(super) label: String,
    pub(super) value_type: &'static str,
    pub(super) kind: &'static str,
    pub(super) mandatory: bool,
    pub(super) value: String,
    pub(super) choices: Vec<String>,
    /// The name of the file a policy has now: left empty, the field keeps it.
    pub(super) current_file: Option<String>,
    /// A password a policy has now (never shown): left empty, the field keeps it.
    pub(super) has_password: bool,
}

/// The form field of a parameter.
pub(super) fn param_field(input: &Input) -> String {
    format!("p{}", input.position)
}

/// The field of the checkbox that takes a policy's optional file away.
pub(super) fn remove_file_field(input: &Input) -> String {
    format!("{}_fjern", param_field(input))
}

/// The fields of `inputs`, filled with what was `sent` (a refused form shown again), else a
/// policy's `stored` values, else the script's defaults. A password is never filled in.
pub(super) fn param_fields(
    inputs: &[Input],
    t: &text::Msgs,
    sent: Option<&Upload>,
    stored: &[StoredParam],
) -> Vec<ParamField> {
    inputs
        .iter()
        .enumerate()
        .map(|(at, i)| {
            let field = param_field(i);
            let stored = stored.get(at);
            let default = i.default_value.clone().unwrap_or_default();
            let choices: Vec<String> = if i.value_type == "TEXT_FIELD" {
                default
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect()
            } else {
                Vec::new()
            };
            let is_password = i.value_type == "PASSWORD";
            let stored_text = stored.and_then(|s| s.text.clone());
            let value = match (sent, stored_text) {
                _ if is_password => String::new(),
                // What was sent comes back.
                (Some(up), _) => up.field(&field).to_owned(),
                (None, Some(text)) => text,
                (None, None) if stored.is_some() => String::new(),
                (None, None) if choices.is_empty() => default,
                (None, None) => String::new(),
            };
            let current_file = stored
                .and_then(|s| s.file_name.clone())
                .filter(|_| i.value_type == "FILE");
            let has_password = is_password
                && stored.is_some_and(|s| s.text.as_deref().is_some_and(|p| !p.is_empty()));
            ParamField {
                kind: match i.value_type.as_str() {
                    "INT" => "number",
                    "DATE" => "date",
                    "TIME" => "time",
                    "FILE" => "file",
                    "BOOLEAN" => "checkbox",
                    "PASSWORD" => "password",
                    "TEXT_FIELD" if !choices.is_empty() => "select",
                    _ => "text",
                },
                field,
                label: i.name.clone(),
                value_type: type_label(t, &i.value_type),
                mandatory: i.mandatory,
                value,
                choices,
                current_file,
                has_password,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "run_params.html")]
struct ParamsBody<'a> {
    t: &'static text::Msgs,
    csrf: &'a str,
    site: &'a str,
    script: &'a ScriptRow,
    chosen: &'a Targets,
    pc_count: usize,
    fields: Vec<ParamField>,
    error: Option<String>,
}

/// The PCs the chosen PCs and groups stand for, all of the site; `None` if one is not.
async fn resolve(
    web: &Web,
    site: &Site,
    chosen: &Targets,
) -> crate::store::Result<Option<Vec<i64>>> {
    web.store
        .wizard_targets(site.id, &chosen.pcs, &chosen.groups)
        .await
}

async fn run_params(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (site, s) = match wizard(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let chosen = Targets::read(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    params_page(&web, &v, &site, &s, &chosen, None, None).await
}

async fn params_page(
    web: &Web,
    v: &Viewer,
    site: &Site,
    s: &ScriptPage,
    chosen: &Targets,
    sent: Option<&Upload>,
    error: Option<String>,
) -> Response {
    let pcs = match resolve(web, site, chosen).await {
        Ok(Some(p)) => p,
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    if pcs.is_empty() {
        return targets_page(
            web,
            v,
            site,
            s,
            chosen,
            Some(v.t.run_choose_some),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = ParamsBody {
        t: v.t,
        csrf: v.visit.csrf(),
        site: &site.uid,
        script: &s.row,
        chosen,
        pc_count: pcs.len(),
        fields: param_fields(&s.inputs, v.t, sent, &[]),
        error,
    };
    let title = format!("{} – {}", v.t.run_title, s.row.name);
    v.page_with(
        web,
        here(site, ScriptKind::Normal),
        title,
        body,
        status,
        None,
    )
    .await
}

/// The values the form of [`param_fields`] sent, one per input: a FILE input's file if one
/// was chosen, else the text (the store checks them against the inputs).
pub(super) fn param_values(inputs: &[Input], up: &Upload) -> Vec<ParamValue> {
    inputs
        .iter()
        .map(|i| {
            let field = param_field(i);
            match up.file(&field) {
                Some(f) if i.value_type == "FILE" => ParamValue::File {
                    name: f.name.clone(),
                    data: f.data.clone(),
                },
                _ => ParamValue::Text(up.field(&field).to_owned()),
            }
        })
        .collect()
}

/// The wizard's last step: one batch with a job per PC, then its progress page.
async fn run(
    State(web): State<Web>,
    v: Viewer,
    Path((uid, id)): Path<(String, i64)>,
    up: Upload,
) -> Response {
    let (site, s) = match wizard(&web, &v, &uid, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(scope) = v.needs(Role::SiteUser, &site) else {
        return v.visit.not_found();
    };
    let chosen = Targets::read(up.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let pcs = match resolve(&web, &site, &chosen).await {
        Ok(Some(p)) if !p.is_empty() => p,
        Ok(Some(_)) => {
            return targets_page(
                &web,
                &v,
                &site,
                &s,
                &chosen,
                Some(v.t.run_choose_some),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Ok(None) => return v.visit.not_found(),
        Err(e) => return v.failed(e),
    };
    let params = param_values(&s.inputs, &up);
    let batch = web
        .store
        .run_script(RunScript {
            site_id: site.id,
            script_id: id,
            pc_ids: &pcs,
            params,
            created_by: &scope.actor,
        })
        .await;
    let batch = match batch {
        Ok(b) => b,
        Err(crate::store::Error::Invalid(why)) => {
            let error = format!("{} {}", v.t.run_refused, why.text(v.t));
            return params_page(&web, &v, &site, &s, &chosen, Some(&up), Some(error)).await;
        }
        Err(e) => return v.failed(e),
    };
    if let Err(e) = web
        .store
        .audit(
            &scope.actor,
            Some(site.id),
            "script.run",
            &format!("script:{id} batch:{}", batch.batch_id),
        )
        .await
    {
        return v.failed(e);
    }
    Redirect::to(&format!("/steder/{}/koersler/{}", site.uid, batch.batch_id)).into_response()
}
