//! Shared set-up for warden's benchmarks: one RS256 key, one token, and the stacks under test.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use tower::ServiceExt;
use warden::authz::RequireScope;
use warden::{Issuer, WardenLayer};
use warden_testing::FakeIssuer;

warden::scopes! {
    /// The scope the benchmark route needs.
    pub OrdersRead = "Orders.Read";
    /// A scope the token does not have.
    pub OrdersAdmin = "Orders.Admin";
}

/// The fixture: a fake issuer (RS256 key), and its JWKS and public key PEM.
pub struct Fixture {
    /// The issuer, kept alive for its keys.
    pub issuer: FakeIssuer,
}

impl Fixture {
    /// Starts the fake issuer inside `runtime`.
    pub fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let issuer = runtime
            .block_on(FakeIssuer::start())
            .unwrap_or_else(|e| panic!("fake issuer: {e}"));
        Fixture { issuer }
    }

    /// The signing key's public key as SPKI PEM (for jwt-authorizer).
    pub fn issuer_pem(&self) -> String {
        self.issuer
            .signing_key()
            .map(|key| key.public_pem())
            .unwrap_or_default()
    }

    /// A valid RS256 access token with scope `Orders.Read`, valid for an hour.
    pub fn token(&self) -> String {
        self.issuer
            .token()
            .subject("alice")
            .scopes(["Orders.Read"])
            .sign()
    }

    /// `count` valid tokens that differ by subject (`user-0000`, …), each with `Orders.Read`.
    pub fn distinct_tokens(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| {
                self.issuer
                    .token()
                    .subject(format!("user-{i:04}"))
                    .scopes(["Orders.Read"])
                    .sign()
            })
            .collect()
    }

    /// The warden layer over static keys; `cache` is the verified-token cache capacity.
    pub fn warden(&self, cache: usize) -> WardenLayer {
        let issuer = Issuer::builder(self.issuer.issuer_url())
            .audience(self.issuer.audience())
            .jwks(self.issuer.jwks_json())
            .build()
            .unwrap_or_else(|e| panic!("issuer: {e}"));
        let validator = warden::Validator::builder()
            .issuer(issuer)
            .token_cache(cache)
            .build()
            .unwrap_or_else(|e| panic!("validator: {e}"));
        WardenLayer::new(validator)
    }
}

/// A single-threaded tokio runtime, as the benchmarks drive every case on one core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// The benchmark app: `/me` (any token), `/orders` (scope `Orders.Read`), `/admin` (a scope the
/// token lacks).
pub fn app(layer: Option<WardenLayer>) -> Router {
    let router = match layer {
        Some(layer) => Router::new()
            .route("/me", get(|| async { "ok" }))
            .route("/orders", get(|_: RequireScope<OrdersRead>| async { "ok" }))
            .route("/admin", get(|_: RequireScope<OrdersAdmin>| async { "ok" }))
            .layer(layer),
        None => Router::new().route("/me", get(|| async { "ok" })),
    };
    // What `axum::serve` does (through `into_make_service`): the handlers become services once,
    // not on every request.
    router.with_state(())
}

/// The `Authorization` value of a bearer token, built once as a client would, so that a
/// request's cost is the server's and not the formatting of its header.
pub fn bearer(token: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|e| panic!("authorization header: {e}"))
}

/// One request through a router, with an `Authorization` value from [`bearer`]; returns the
/// status.
pub async fn call(router: &Router, path: &str, authorization: Option<&http::HeaderValue>) -> u16 {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value.clone());
    }
    let request = request.body(Body::empty()).unwrap_or_default();
    match router.clone().oneshot(request).await {
        Ok(response) => response.status().as_u16(),
        Err(never) => match never {},
    }
}

/// The output of `future`, polled once with a no-op waker when it completes without waiting (a
/// validation whose keys are loaded): the future's own work, without an executor's (a tokio
/// `block_on` costs about 0.2 µs, a tenth of warden's work beyond the signature). One that
/// waits is finished by `runtime`.
pub fn ready<F: std::future::Future>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output {
    let _context = runtime.enter();
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => runtime.block_on(future),
    }
}

/// Measures `f` and returns the median time of one call over `batches` batches (after warm-up),
/// sizing batches to about 20 ms each.
#[allow(dead_code)]
pub fn measure(mut f: impl FnMut()) -> Duration {
    for _ in 0..200 {
        f();
    }
    let started = Instant::now();
    let mut probe = 0u32;
    while started.elapsed() < Duration::from_millis(20) {
        f();
        probe += 1;
    }
    let per_batch = probe.max(10);
    let mut samples = Vec::with_capacity(15);
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        samples.push(started.elapsed() / per_batch);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Measures several cases in interleaved rounds (one batch of each per round, 15 rounds), so
/// drift of a shared machine hits every case alike; returns the median time of one call of each.
pub fn measure_all(cases: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let batch: Vec<u32> = cases
        .iter_mut()
        .map(|f| {
            for _ in 0..200 {
                f();
            }
            let started = Instant::now();
            let mut count = 0u32;
            while started.elapsed() < Duration::from_millis(10) {
                f();
                count += 1;
            }
            count.max(10)
        })
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for _ in 0..15 {
        for (i, f) in cases.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..batch[i] {
                f();
            }
            samples[i].push(started.elapsed() / batch[i]);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
