//! The security headers of every response, added in one middleware so no handler can forget
//! them.
//!
//! The CSP allows script, style and images from our own origin only: no inline `<script>`,
//! no `style="…"`, no `data:` images. That is what makes an HTML-injection bug (a name with
//! markup that escaping missed) inert rather than script running in an operator's session.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every response: everything from our own origin only,
/// nothing inline, no plugins or frames, forms posting only to us, and no framing by others.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Middleware adding the security headers to every response that does not set them itself:
/// `Content-Security-Policy` ([`CONTENT_SECURITY_POLICY`]), `X-Frame-Options: DENY` (for
/// browsers before `frame-ancestors`), `Referrer-Policy: same-origin` (URLs can name machines
/// and people), `X-Content-Type-Options: nosniff`, and for HTML without a `Cache-Control`,
/// `Cache-Control: no-store`: pages show personal data and must not outlive the session in a
/// shared or browser cache.
///
/// Use it with `axum::middleware::from_fn`:
///
/// ```
/// use axum::{Router, middleware, routing::get};
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hej" }))
///     .layer(middleware::from_fn(service_kit::web::security_headers));
/// ```
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..9)
                .is_some_and(|t| t.eq_ignore_ascii_case("text/html"))
        });
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if html {
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::middleware::from_fn;
    use axum::response::{Html, IntoResponse};
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/page", get(|| async { Html("<p>hej</p>") }))
            .route(
                "/json",
                get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
            )
            .route(
                "/cached",
                get(|| async {
                    (
                        [
                            (header::CACHE_CONTROL, "private, max-age=60"),
                            (header::CONTENT_TYPE, "TEXT/HTML; charset=utf-8"),
                        ],
                        "<p>hej</p>",
                    )
                        .into_response()
                }),
            )
            .route(
                "/framed",
                get(|| async { ([(header::X_FRAME_OPTIONS, "SAMEORIGIN")], Html("x")) }),
            )
            .layer(from_fn(security_headers))
    }

    async fn fetch(path: &str) -> Response {
        let req = Request::get(path).body(Body::empty()).expect("request");
        app().oneshot(req).await.expect("infallible")
    }

    fn header(res: &Response, name: header::HeaderName) -> Option<&str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn html_gets_every_header_and_no_store() {
        let res = fetch("/page").await;
        assert_eq!(
            header(&res, header::CONTENT_SECURITY_POLICY),
            Some(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            )
        );
        assert_eq!(header(&res, header::X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(header(&res, header::REFERRER_POLICY), Some("same-origin"));
        assert_eq!(
            header(&res, header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        assert_eq!(header(&res, header::CACHE_CONTROL), Some("no-store"));
    }

    #[tokio::test]
    async fn other_responses_get_the_headers_but_keep_their_caching() {
        let res = fetch("/json").await;
        assert!(header(&res, header::CONTENT_SECURITY_POLICY).is_some());
        assert_eq!(header(&res, header::X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(header(&res, header::CACHE_CONTROL), None);

        let res = fetch("/missing").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(header(&res, header::CONTENT_SECURITY_POLICY).is_some());
    }

    #[tokio::test]
    async fn headers_a_handler_set_are_kept() {
        let res = fetch("/cached").await;
        assert_eq!(
            header(&res, header::CACHE_CONTROL),
            Some("private, max-age=60")
        );
        let res = fetch("/framed").await;
        assert_eq!(header(&res, header::X_FRAME_OPTIONS), Some("SAMEORIGIN"));
        assert_eq!(header(&res, header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(
            res.headers()
                .get_all(header::X_FRAME_OPTIONS)
                .iter()
                .count(),
            1
        );
    }
}
