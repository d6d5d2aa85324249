//! The help pages: one per menu section, saying what it is for and how it is used, linked
//! from every page of the section (the "?" in the page's header). Their texts are in the
//! catalogue (`locales/*/help.toml`), a paragraph per blank line.

use super::{Here, Section, Viewer, Web, text};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

pub(super) fn routes() -> Router<Web> {
    Router::new().route("/hjaelp/{section}", get(help))
}

#[derive(Template)]
#[template(path = "help.html")]
struct Body {
    t: &'static text::Msgs,
    paragraphs: Vec<&'static str>,
}

async fn help(State(web): State<Web>, v: Viewer, Path(slug): Path<String>) -> Response {
    let Some(section) = Section::by_slug(&slug) else {
        return v.visit.not_found();
    };
    let body = Body {
        t: v.t,
        paragraphs: section
            .help(v.t)
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect(),
    };
    let title = format!("{} – {}", v.t.nav_help, section.label(v.t));
    let here = Here {
        section,
        site: None,
    };
    v.page(&web, here, title, body).await
}
