//! Shared helpers for the integration tests: a protected app whose handler records whether it
//! ran, and assertions on refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use serde_json::Value;
use tower::ServiceExt;
use warden::keys::KeySource;
use warden::{Issuer, Principal, Validator, WardenLayer};

use warden::config::IssuerBuilder;
use warden_testing::FakeIssuer;

/// The current time, in seconds since the Unix epoch.
pub fn now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("in range")
}

/// Counts how often the protected handler ran.
#[derive(Clone, Default)]
pub struct HandlerRuns(Arc<AtomicUsize>);

impl HandlerRuns {
    /// How many times the handler ran.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one run.
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a request got back.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as JSON if it is JSON, else as a string value.
    pub body: Value,
}

impl Answer {
    /// The `WWW-Authenticate` header, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
    }
}

/// A protected app: `GET /me` answers the caller's subject; the handler counts its runs.
pub struct App {
    /// The router.
    pub router: Router,
    /// The handler's run counter.
    pub runs: HandlerRuns,
}

impl App {
    /// Protects `/me` with `layer`.
    pub fn new(layer: WardenLayer) -> Self {
        let runs = HandlerRuns::default();
        let counter = runs.clone();
        let router = Router::new()
            .route(
                "/me",
                get(move |caller: Principal| {
                    let counter = counter.clone();
                    async move {
                        counter.hit();
                        caller.subject().to_owned()
                    }
                }),
            )
            .layer(layer);
        App { router, runs }
    }

    /// Sends `GET /me` with this `Authorization` value (or none).
    pub async fn get_me(&self, authorization: Option<&str>) -> Answer {
        let mut request = Request::get("/me");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// Sends `GET /me` with a bearer token.
    pub async fn get_me_with(&self, token: &str) -> Answer {
        self.get_me(Some(&format!("Bearer {token}"))).await
    }

    /// Sends any request.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        send(self.router.clone(), request).await
    }

    /// Asserts a refusal: status, exact `WWW-Authenticate`, problem body, handler not run.
    pub async fn assert_refused(&self, token: &str, status: u16, challenge: &str, detail: &str) {
        let before = self.runs.count();
        let answer = self.get_me_with(token).await;
        assert_refusal(&answer, status, Some(challenge), detail);
        assert_eq!(self.runs.count(), before, "the handler ran");
    }
}

/// Sends a request to a router.
pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        headers,
        body,
    }
}

/// Asserts status, exact `WWW-Authenticate` (or its absence) and the problem+json body.
pub fn assert_refusal(answer: &Answer, status: u16, challenge: Option<&str>, detail: &str) {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "status; body {}",
        answer.body
    );
    assert_eq!(answer.challenge(), challenge, "WWW-Authenticate");
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/problem+json")
    );
    assert_eq!(answer.body["status"], status);
    assert_eq!(answer.body["detail"], detail, "detail");
    assert_eq!(answer.body["type"], "about:blank");
}

/// The exact challenge for an invalid token with this description, realm `api`.
pub fn invalid_token(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

/// The exact challenge for a malformed request with this description, realm `api`.
pub fn invalid_request(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_request", error_description="{description}""#)
}

/// An issuer builder for the fake issuer's URL and audience, keys still to be set.
pub fn issuer_of(issuer: &FakeIssuer) -> IssuerBuilder {
    Issuer::builder(issuer.issuer_url()).audience(issuer.audience())
}

/// An issuer builder trusting the fake issuer's current keys, audience and URL.
pub fn trust(issuer: &FakeIssuer) -> IssuerBuilder {
    issuer_of(issuer).jwks(issuer.jwks_json())
}

/// A validator trusting the fake issuer's URL and audience, with keys from `keys`.
pub fn validator_with_keys(issuer: &FakeIssuer, keys: impl KeySource) -> Validator {
    Validator::builder()
        .issuer(issuer_of(issuer).keys(keys).build().expect("issuer"))
        .build()
        .expect("validator")
}

/// A layer trusting one fake issuer with default settings.
pub fn layer_for(issuer: &FakeIssuer) -> WardenLayer {
    WardenLayer::builder()
        .issuer(trust(issuer).build().expect("issuer"))
        .build()
        .expect("layer")
}

/// A fake OIDC issuer and an app protected by it under `Profile::JwtAccessToken` (tokens typed
/// `JWT` accepted).
pub async fn jwt_profile_app() -> (FakeIssuer, App) {
    let issuer = FakeIssuer::start().await.expect("fake issuer");
    let layer = WardenLayer::builder()
        .issuer(
            trust(&issuer)
                .profile(warden::config::Profile::JwtAccessToken)
                .build()
                .expect("issuer"),
        )
        .build()
        .expect("layer");
    (issuer, App::new(layer))
}

/// A token of `issuer` with its default claims plus one member written as raw JSON text
/// (`"name":value`), for values a `serde_json::Value` cannot hold, such as a lone surrogate escape.
pub fn sign_with_raw_member(issuer: &FakeIssuer, member: &str) -> String {
    let claims = serde_json::to_string(&issuer.token().claims()).expect("claims");
    let claims = format!("{},{member}}}", &claims[..claims.len() - 1]);
    let header = serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": issuer.signing_kid()});
    issuer
        .sign_raw(&header.to_string(), &claims)
        .expect("signed")
}

/// One fake OIDC issuer shared by every test that only signs tokens with it and trusts its keys
/// (no faults, rotation or request counters): started once for the whole test binary, on a
/// runtime thread of its own, so it outlives each test's runtime. Most refusal cases use it
/// instead of generating an RSA key and starting a server each.
pub fn shared_issuer() -> &'static FakeIssuer {
    static SHARED: std::sync::OnceLock<FakeIssuer> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let (started, issuer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let issuer = FakeIssuer::start().await.expect("fake issuer");
                started.send(issuer).expect("test binary waiting");
                std::future::pending::<()>().await;
            });
        });
        issuer.recv().expect("shared fake issuer")
    })
}

/// A fake OIDC issuer and an app protected by it.
pub async fn oidc_app() -> (FakeIssuer, App) {
    let issuer = FakeIssuer::start().await.expect("fake issuer");
    let app = App::new(layer_for(&issuer));
    (issuer, app)
}

/// Declares a test: the token built by `$token` (with `$issuer` the [`shared_issuer`], a fake
/// OIDC issuer) is refused with 401 `invalid_token`, description `$desc`, and the handler does
/// not run.
#[macro_export]
macro_rules! refused {
    ($(#[$meta:meta])* $name:ident, |$issuer:ident| $token:expr, $desc:expr) => {
        $(#[$meta])*
        #[tokio::test]
        async fn $name() {
            let $issuer = $crate::shared_issuer();
            let app = $crate::App::new($crate::layer_for($issuer));
            let token: String = $token;
            app.assert_refused(&token, 401, &$crate::invalid_token($desc), $desc).await;
        }
    };
}

/// The series of `metric` in Prometheus text (a recorder's render), by their labels (`""` for
/// none): `{kind="expired",status="401"}` → 1.
pub fn metric_series(text: &str, metric: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| line.strip_prefix(metric))
        .filter(|rest| rest.starts_with('{') || rest.starts_with(' '))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once(' ')?;
            Some((labels.trim().to_owned(), value.parse().ok()?))
        })
        .collect()
}
