//! Who a request is from: one extractor for every product's credentials. It reads the
//! credential from the headers — the `Authorization` schemes the product accepts, bounded in
//! length before anything looks it up — and hands it to the product's [`Authenticator`],
//! which decides who that is (a form, an operator, an API key with its sites) or refuses.
//!
//! The parts every product would otherwise write again live here once: header parsing, the
//! length bound, and the rule that a request without a usable credential (none, a scheme the
//! product does not accept, or too long) is refused by the product's own answer for it,
//! without a lookup. Authentication runs on the request's head, before the body is read
//! (see [`crate::http`]).
//!
//! A new kind of credential (a session cookie for the web portal) is a new [`Credential`]
//! variant and a new source in [`Sources`]: each authenticator then says whether it takes it.

use crate::http::after_scheme;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use std::future::Future;

/// What a request presented to prove who it is, as the [`Authenticator`] receives it. It is a
/// secret: its `Debug` shows only its kind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A token from the `Authorization` header after one of the product's schemes (or the
    /// whole value, where the product accepts it bare): whoever bears it is admitted as what
    /// it names, so it is compared in constant time ([`crate::http::same_secret`]) or looked
    /// up by its hash.
    Bearer(&'a str),
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// Where a product takes credentials from, and how long one may be. Built with
/// [`Sources::authorization`], so a source added later (a session cookie) is one more
/// builder call where a product wants it, and changes nothing where it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sources {
    /// The `Authorization` schemes accepted, tried in order and compared without regard to
    /// case, each with its separator (`"Bearer "`); `""` takes the whole value as the token.
    /// Empty: the header is not read.
    pub authorization: &'static [&'static str],
    /// The longest credential worth checking; a longer one is refused as no credential,
    /// before the authenticator sees it, so a caller cannot make a lookup or hash work on
    /// an arbitrary amount of input.
    pub max_len: usize,
}

impl Sources {
    /// The `Authorization` header with one of `schemes`, and credentials of at most `max_len`
    /// bytes.
    pub const fn authorization(schemes: &'static [&'static str], max_len: usize) -> Self {
        Self {
            authorization: schemes,
            max_len,
        }
    }
}

/// A product's rule for who may make a request: implemented for a marker type (one per kind
/// of caller, e.g. an operator, or a role a route needs) and used through [`authenticate`] or
/// the [`Authenticated`] extractor.
pub trait Authenticator {
    /// The router's state the decision needs (the configured tokens, the store).
    type State: Send + Sync;
    /// Who the request is from once admitted: what the handler works with (a form's id, a
    /// scope of sites).
    type Principal;
    /// The product's refusal, in its API's shape.
    type Rejection: IntoResponse;

    /// Where the credential comes from.
    const SOURCES: Sources;

    /// The answer to a request without a usable credential. Usually the same as for a wrong
    /// one, so a caller learns nothing from which it was; where a route is switched off by
    /// configuration, saying so comes first.
    fn unauthenticated(
        parts: &mut Parts,
        state: &Self::State,
    ) -> impl Future<Output = Self::Rejection> + Send;

    /// Decides who `credential` belongs to, or refuses it. `parts` is the request's head, for
    /// what the decision also depends on (the path names the form whose token it must be).
    fn authenticate(
        credential: Credential<'_>,
        parts: &mut Parts,
        state: &Self::State,
    ) -> impl Future<Output = Result<Self::Principal, Self::Rejection>> + Send;
}

/// Authenticates a request's head with `A`: the one way every extractor of a product checks
/// a credential. A product that keeps its own extractor type implements `FromRequestParts`
/// with this; else it takes [`Authenticated<A>`].
pub async fn authenticate<A: Authenticator>(
    parts: &mut Parts,
    state: &A::State,
) -> Result<A::Principal, A::Rejection> {
    let sources = A::SOURCES;
    // A clone of the header value (it shares the bytes), so the credential can be
    // lent to the authenticator together with the request's head.
    let authorization: Option<HeaderValue> = if sources.authorization.is_empty() {
        None
    } else {
        parts.headers.get(header::AUTHORIZATION).cloned()
    };
    let token = authorization
        .as_ref()
        .and_then(|v| after_scheme(v, sources.authorization))
        .filter(|t| t.len() <= sources.max_len);
    match token {
        Some(token) => A::authenticate(Credential::Bearer(token), parts, state).await,
        None => Err(A::unauthenticated(parts, state).await),
    }
}

/// The extractor: the principal `A` admitted the request as. Put it before the body extractor
/// in a handler's arguments, so nothing is read from a caller who may not make the request.
pub struct Authenticated<A: Authenticator>(
    /// Who the request is from.
    pub A::Principal,
);

impl<A: Authenticator> FromRequestParts<A::State> for Authenticated<A> {
    type Rejection = A::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &A::State) -> Result<Self, A::Rejection> {
        authenticate::<A>(parts, state).await.map(Authenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::same_secret;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::http::{Request, StatusCode};
    use axum::response::Response;
    use axum::routing::{get, post};
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt as _;

    /// A product's state: per-form tokens (fixed secrets, as in the Fordeler) and issued keys
    /// with a role (looked up, as in the BorgerPC admin), counting its lookups.
    #[derive(Default)]
    struct App {
        form_tokens: HashMap<String, String>,
        keys: HashMap<String, u8>,
        lookups: AtomicUsize,
    }

    type State = Arc<App>;

    /// A form's poster: the path names the form, whose own token it must bear.
    struct FormPoster;

    impl Authenticator for FormPoster {
        type State = State;
        type Principal = String;
        type Rejection = (StatusCode, &'static str);
        const SOURCES: Sources = Sources::authorization(&["Bearer ", ""], 100);

        async fn unauthenticated(parts: &mut Parts, app: &State) -> Self::Rejection {
            match form_token(parts, app).await {
                Err(off) => off,
                Ok(_) => (StatusCode::UNAUTHORIZED, "wrong token"),
            }
        }

        async fn authenticate(
            credential: Credential<'_>,
            parts: &mut Parts,
            app: &State,
        ) -> Result<String, Self::Rejection> {
            let (form, expected) = form_token(parts, app).await?;
            let Credential::Bearer(given) = credential;
            if same_secret(given, &expected) {
                Ok(form)
            } else {
                Err((StatusCode::UNAUTHORIZED, "wrong token"))
            }
        }
    }

    async fn form_token(
        parts: &mut Parts,
        app: &State,
    ) -> Result<(String, String), (StatusCode, &'static str)> {
        let Path(form) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|_| (StatusCode::BAD_REQUEST, "no form"))?;
        match app.form_tokens.get(&form) {
            Some(t) => Ok((form, t.clone())),
            None => Err((StatusCode::NOT_FOUND, "no token for this form")),
        }
    }

    /// A caller with at least role `R`, by an issued key that is looked up.
    struct Role<const R: u8>;

    impl<const R: u8> Authenticator for Role<R> {
        type State = State;
        type Principal = u8;
        type Rejection = (StatusCode, &'static str);
        const SOURCES: Sources = Sources::authorization(&["Bearer "], 20);

        async fn unauthenticated(_: &mut Parts, _: &State) -> Self::Rejection {
            (StatusCode::UNAUTHORIZED, "give Bearer <key>")
        }

        async fn authenticate(
            credential: Credential<'_>,
            _: &mut Parts,
            app: &State,
        ) -> Result<u8, Self::Rejection> {
            let Credential::Bearer(key) = credential;
            app.lookups.fetch_add(1, Ordering::Relaxed);
            match app.keys.get(key) {
                None => Err((StatusCode::UNAUTHORIZED, "give Bearer <key>")),
                Some(&role) if role < R => Err((StatusCode::FORBIDDEN, "role too small")),
                Some(&role) => Ok(role),
            }
        }
    }

    fn app() -> (Router, State) {
        let state = Arc::new(App {
            form_tokens: HashMap::from([("f1".into(), "s3cret".into())]),
            keys: HashMap::from([("reader-key".into(), 1), ("admin-key".into(), 3)]),
            lookups: AtomicUsize::new(0),
        });
        let router =
            Router::new()
                .route(
                    "/post/{form}",
                    post(
                        |Authenticated(form): Authenticated<FormPoster>| async move {
                            format!("from {form}")
                        },
                    ),
                )
                .route(
                    "/admin",
                    get(|Authenticated(role): Authenticated<Role<3>>| async move {
                        format!("role {role}")
                    }),
                )
                .with_state(state.clone());
        (router, state)
    }

    async fn call(router: &Router, method: &str, uri: &str, auth: Option<&str>) -> (u16, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res: Response = router
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn a_credential_is_not_in_debug_output() {
        assert_eq!(format!("{:?}", Credential::Bearer("s3cret")), "Bearer(..)");
    }

    #[tokio::test]
    async fn a_fixed_token_is_taken_with_any_accepted_scheme_or_bare() {
        let (r, _) = app();
        for auth in ["Bearer s3cret", "bearer  s3cret ", "s3cret"] {
            assert_eq!(
                call(&r, "POST", "/post/f1", Some(auth)).await,
                (200, "from f1".into()),
                "{auth}"
            );
        }
    }

    #[tokio::test]
    async fn missing_unaccepted_and_wrong_credentials_get_the_products_refusal() {
        let (r, _) = app();
        for auth in [
            None,
            Some(""),
            Some("Bearer "),
            Some("Bearer wrong"),
            Some("wrong"),
        ] {
            assert_eq!(
                call(&r, "POST", "/post/f1", auth).await,
                (401, "wrong token".into()),
                "{auth:?}"
            );
        }
        // Without a bare scheme, a right key under another scheme is no credential.
        assert_eq!(
            call(&r, "GET", "/admin", Some("Token admin-key")).await,
            (401, "give Bearer <key>".into())
        );
        // Header values that are not visible ASCII are no credential either.
        let req = Request::builder()
            .uri("/admin")
            .header(
                "authorization",
                HeaderValue::from_bytes(b"Bearer \xe6").expect("opaque"),
            )
            .body(Body::empty())
            .expect("request");
        let res = r.clone().oneshot(req).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_route_switched_off_says_so_before_asking_for_a_credential() {
        let (r, _) = app();
        for auth in [None, Some("Bearer s3cret")] {
            assert_eq!(
                call(&r, "POST", "/post/f2", auth).await,
                (404, "no token for this form".into())
            );
        }
    }

    #[tokio::test]
    async fn a_credential_over_the_bound_is_refused_without_a_lookup() {
        let (r, state) = app();
        let long = format!("Bearer {}", "k".repeat(21));
        assert_eq!(
            call(&r, "GET", "/admin", Some(&long)).await,
            (401, "give Bearer <key>".into())
        );
        assert_eq!(call(&r, "GET", "/admin", None).await.0, 401);
        assert_eq!(state.lookups.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_authenticator_decides_who_and_with_what_role() {
        let (r, state) = app();
        assert_eq!(
            call(&r, "GET", "/admin", Some("Bearer admin-key")).await,
            (200, "role 3".into())
        );
        assert_eq!(
            call(&r, "GET", "/admin", Some("Bearer reader-key")).await,
            (403, "role too small".into())
        );
        assert_eq!(
            call(&r, "GET", "/admin", Some("Bearer unknown")).await,
            (401, "give Bearer <key>".into())
        );
        assert_eq!(state.lookups.load(Ordering::Relaxed), 3);
    }
}
