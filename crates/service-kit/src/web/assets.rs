//! Serving the embedded static files under `/static/{hashed name}`.
//!
//! Only hashed names are served: an unhashed `app.css` would be cached for a year under a name
//! whose content changes with the next release, which is exactly what hashing prevents.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How long a browser may keep an asset: a year (the longest caches honour), and `immutable`
/// so it does not even revalidate on reload; a changed file has a new name.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// One static file embedded in the binary, as the code `web_build::assets` generates lists them.
#[derive(Clone, Copy)]
pub struct Asset {
    /// The file name with the content hash before the extension, e.g. `app.e434b43987.css`:
    /// the name it is served under, below `/static/`.
    pub hashed: &'static str,
    /// The `Content-Type`, e.g. `text/css; charset=utf-8`.
    pub mime: &'static str,
    /// The `ETag`, quoted as the header carries it: `"<sha-256 in hex>"`.
    pub etag: &'static str,
    /// The file's contents.
    pub body: &'static [u8],
}

impl std::fmt::Debug for Asset {
    // The body is the size of the file; its length says enough in a log or a failed assert.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset")
            .field("hashed", &self.hashed)
            .field("mime", &self.mime)
            .field("etag", &self.etag)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// `GET /static/{file}` for `assets` (and `HEAD`, which axum answers from `GET`).
///
/// A hashed name gets the file with its `Content-Type`, `ETag`, `Cache-Control: public,
/// max-age=31536000, immutable` and `X-Content-Type-Options: nosniff`; a request whose
/// `If-None-Match` names the ETag gets `304 Not Modified`; any other name gets 404.
///
/// The router has no state, so merge it after the product's `with_state`:
/// `app.with_state(state).merge(assets_router(ASSETS))`.
pub fn assets_router(assets: &'static [Asset]) -> Router {
    Router::new().route(
        "/static/{file}",
        get(
            move |Path(file): Path<String>, headers: HeaderMap| async move {
                serve(assets, &file, &headers)
            },
        ),
    )
}

/// The response for one request for `file`.
fn serve(assets: &'static [Asset], file: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = assets.iter().find(|a| a.hashed == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Plain strs, not `HeaderValue::from_static` (which panics on a bad byte): a hand-made
    // `Asset` with a bad header value gets a 500 from axum instead.
    let etag = asset.etag;
    if headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|v| etag_matches(v.as_bytes(), asset.etag))
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, CACHE_FOREVER)],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, asset.mime),
            (header::CACHE_CONTROL, CACHE_FOREVER),
            (header::ETAG, etag),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

/// Whether an `If-None-Match` value (`*`, or a list of tags, weak or strong) names `etag`.
/// The comparison is weak, as RFC 9110 asks for `If-None-Match`.
fn etag_matches(value: &[u8], etag: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    static ASSETS: &[Asset] = &[
        Asset {
            hashed: "app.0123456789.css",
            mime: "text/css; charset=utf-8",
            etag: "\"0123456789abcdef\"",
            body: b"body{color:red}",
        },
        Asset {
            hashed: "logo.abcdefabcd.svg",
            mime: "image/svg+xml",
            etag: "\"abcdefabcd\"",
            body: b"<svg/>",
        },
    ];

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        assets_router(ASSETS)
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header(res: &Response, name: header::HeaderName) -> Option<&str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_hashed_name_is_served_with_cache_headers() {
        let res = get("/static/app.0123456789.css", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, header::CONTENT_TYPE),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(
            header(&res, header::CACHE_CONTROL),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&res, header::ETAG), Some("\"0123456789abcdef\""));
        assert_eq!(
            header(&res, header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        let body = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&body[..], b"body{color:red}");

        let res = get("/static/logo.abcdefabcd.svg", None).await;
        assert_eq!(header(&res, header::CONTENT_TYPE), Some("image/svg+xml"));
    }

    #[tokio::test]
    async fn unhashed_and_unknown_names_are_not_found() {
        for path in [
            "/static/app.css",
            "/static/nope.0123456789.css",
            "/static/",
            "/app.0123456789.css",
        ] {
            assert_eq!(
                get(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_matching_if_none_match_gets_304_without_a_body() {
        for tag in [
            "\"0123456789abcdef\"",
            "W/\"0123456789abcdef\"",
            "\"other\", \"0123456789abcdef\"",
            "*",
        ] {
            let res = get("/static/app.0123456789.css", Some(tag)).await;
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert_eq!(header(&res, header::ETAG), Some("\"0123456789abcdef\""));
            let body = axum::body::to_bytes(res.into_body(), 1024)
                .await
                .expect("body");
            assert!(body.is_empty());
        }
        let res = get("/static/app.0123456789.css", Some("\"stale\"")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn other_methods_are_refused() {
        let req = Request::post("/static/app.0123456789.css")
            .body(Body::empty())
            .expect("request");
        let res = assets_router(ASSETS)
            .oneshot(req)
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn debug_leaves_the_body_out() {
        let shown = format!("{:?}", ASSETS[0]);
        assert!(
            shown.contains("body_len: 15") && !shown.contains("color"),
            "{shown}"
        );
    }
}
