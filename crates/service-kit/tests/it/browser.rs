//! `testing::browser` against a real headless Chromium: a form used by keyboard alone on a page
//! with a strict Content-Security-Policy, axe-core run on that page all the same, and axe's
//! `label` rule caught on a page that breaks it. The pages are a tiny axum app of the test's
//! own, so this holds the harness, not a product.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, Response};
use axum::routing::get;
use service_kit::testing::browser::Browser;
use service_kit::testing::browser::thirtyfour::prelude::*;
use std::net::SocketAddr;

/// Nothing but the page's own origin; no inline script. axe must still run (WebDriver is not
/// subject to it), and the test checks the policy is in force.
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

fn page(title: &str, main: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>{main}</main>\
         <script>document.body.dataset.inline = 'ran'</script></body></html>"
    ))
}

/// Enough escaping for the one value the app echoes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(serde::Deserialize)]
struct Sent {
    navn: String,
}

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                page(
                    "Tilmelding",
                    "<a href=\"/sog\">Søg</a>\
                     <form method=\"post\" action=\"/send\">\
                     <label for=\"navn\">Dit navn</label> <input id=\"navn\" name=\"navn\">\
                     <button id=\"send\">Send</button></form>",
                )
            }),
        )
        .route(
            "/send",
            axum::routing::post(|axum::Form(sent): axum::Form<Sent>| async move {
                let navn = escape(&sent.navn);
                page("Tak", &format!("<p id=\"kvittering\">Tak, {navn}.</p>"))
            }),
        )
        // The broken page: a search field with neither label nor placeholder.
        .route(
            "/sog",
            get(|| async { page("Søg", "<form><input id=\"q\" type=\"search\"></form>") }),
        )
        .layer(axum::middleware::map_response(|mut r: Response| async {
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            r
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn browser_form_by_keyboard_is_accessible_under_a_strict_csp() -> anyhow::Result<()> {
    let app = serve().await;
    let browser = Browser::start().await?;

    browser.goto(format!("http://{app}/")).await?;
    // The link comes first, then the field: two presses, no more.
    browser.tab_to("navn", 2).await?;
    browser.press("Søren Ærø").await?;
    browser.press(Key::Enter).await?;
    let receipt = browser.wait(By::Id("kvittering")).await?;
    assert_eq!(receipt.text().await?, "Tak, Søren Ærø.");
    let inline = browser
        .execute("return document.body.dataset.inline ?? null", vec![])
        .await?;
    assert_eq!(
        inline.json(),
        &serde_json::Value::Null,
        "the CSP let an inline script run"
    );
    browser.assert_accessible("/send").await?;
    let png = browser.screenshot("service-kit-browser-receipt").await?;
    assert!(std::fs::read(&png)?.starts_with(b"\x89PNG"), "{png:?}");

    browser.goto(format!("http://{app}/sog")).await?;
    let violations = browser.axe().await?;
    let label = violations.iter().find(|v| v.id == "label");
    let label = label.unwrap_or_else(|| panic!("no `label` violation: {violations:#?}"));
    assert_eq!(label.impact.as_deref(), Some("critical"));
    assert_eq!(label.nodes.len(), 1, "{label:#?}");
    let refused = browser.assert_accessible("/sog").await.unwrap_err();
    assert!(
        refused.to_string().contains("label (critical)"),
        "{refused}"
    );

    browser.quit().await
}

#[tokio::test]
async fn browser_tab_to_names_where_the_focus_went() -> anyhow::Result<()> {
    let app = serve().await;
    let browser = Browser::start().await?;
    browser.goto(format!("http://{app}/")).await?;
    let err = browser.tab_to("send", 2).await.unwrap_err().to_string();
    assert!(err.contains("went to: (no id), #navn"), "{err}");
    browser.quit().await
}
