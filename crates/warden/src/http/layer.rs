//! The tower middleware: [`WardenLayer`], its [`Warden`] service and their response future, side
//! by side; [`WardenBuilder`] configures them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::bearer::Scheme;
use crate::binding::dpop::Dpop;
use crate::boxed::BoxFuture;
use crate::challenge::{Challenge, Realm};
use crate::error::{ConfigError, Error, SetupError};
use crate::issuer::Issuer;
use crate::keys::JwksCache;
use crate::membership::{CachedGroups, GroupResolver};
use crate::metadata::{ProtectedResource, ResourceMetadata};
use crate::observability::RefusalLog;
use crate::principal::Principal;
use crate::validator::{Validator, ValidatorBuilder};

use super::authenticate::Authentication;
pub use super::context::RejectionResponder;
use super::context::{Shared, WardenContext};
use super::grpc::Protocol;

/// Layer that applies [`Warden`]: bearer token authentication on every request.
///
/// `WardenLayer` wraps a service in [`Warden`], which runs the request path of
/// [docs/architecture.md](https://github.com/warden-rs/warden/blob/main/docs/architecture.md#the-path-of-a-request) on every request. A valid token's
/// [`Principal`](crate::Principal) goes into the request extensions and the inner service is
/// called; a refusal is answered by the layer itself, through
/// [`Challenge`](crate::challenge::Challenge) (401/400/403 with the exact `WWW-Authenticate`, or
/// 503 with `Retry-After`), the inner service is not called, and its error type passes through
/// untouched. Only a request whose keys must be fetched (or whose DPoP proof waits on a shared
/// replay cache) waits.
///
/// One `tracing` span per request (`warden.authenticate`, at DEBUG) records the outcome and, for
/// an admitted caller, the issuer, tenant, client and subject ids; never the token or a
/// signature. It covers warden's own work (a key fetch it waits on included) and closes before
/// the inner service is called, so its duration is warden's and the handler's spans sit beside
/// it in the request's trace. Each refusal is logged once at INFO, at a bounded rate
/// ([`WardenBuilder::refusal_logs_per_second`]), so a flood of bad tokens cannot flood the log.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use tower::ServiceExt;
/// use warden::{Issuer, Principal, WardenLayer};
///
/// # let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
/// #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
/// #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let warden = WardenLayer::builder()
///     .issuer(Issuer::builder("https://login.example.com").audience("api://orders").jwks(jwks).build()?)
///     .realm("orders")
///     .build()?;
///
/// let app = Router::new()
///     .route("/me", get(|caller: Principal| async move { caller.subject().to_owned() }))
///     .layer(warden);
///
/// let response = app
///     .oneshot(http::Request::get("/me").body(axum::body::Body::empty())?)
///     .await?;
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="orders""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Order
///
/// Put warden inside the layers that must see every request, and outside your handlers:
/// - after (inside) `SetSensitiveRequestHeadersLayer` for `Authorization`, so that
///   `TraceLayer` never records the header;
/// - inside `CorsLayer`, so a CORS preflight (`OPTIONS` without credentials) is answered before
///   authentication and never gets a 401; expose `WWW-Authenticate` in
///   `Access-Control-Expose-Headers` so browser clients can read challenges.
///
/// Use `Router::route_layer` to protect only some routes; `Router::layer` protects all of them,
/// including fallbacks (an unknown path then answers 401, not 404, to a caller without a token).
#[derive(Clone)]
pub struct WardenLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for WardenLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WardenLayer")
            .field("validator", &self.shared.validator)
            .field("realm", &self.shared.realm)
            .field("allow_anonymous", &self.shared.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl WardenLayer {
    /// Starts configuring the layer.
    pub fn builder() -> WardenBuilder {
        WardenBuilder {
            validator: Validator::builder(),
            realm: None,
            allow_anonymous: false,
            responder: None,
            groups: None,
            protected_resource: None,
            dpop: Some(Dpop::default()),
            refusal_logs_per_second: crate::observability::DEFAULT_REFUSAL_LOGS_PER_SECOND,
        }
    }

    /// The one-line setup for an OpenID Connect provider: trusts `issuer_url` (compared
    /// exactly with `iss`), finds its keys by discovery, **loads them now**, and requires
    /// `audience`. Tokens are read as RFC 9068 access tokens (`typ: at+jwt`); for a provider that
    /// types them `JWT` (Keycloak, Auth0, Okta, …) choose the profile with the builder
    /// (docs/providers.md). Everything else is the builder's defaults.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), warden::error::SetupError> {
    /// let warden = warden::WardenLayer::oidc("https://login.example.com", "api://orders").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SetupError::Config`] for a URL that is not https (plain http only on loopback) or an
    /// empty audience; [`SetupError::KeysUnavailable`] when discovery or the JWKS fails.
    pub async fn oidc(
        issuer_url: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<WardenLayer, SetupError> {
        let issuer_url = issuer_url.into();
        let keys = JwksCache::builder(issuer_url.clone()).build()?;
        let issuer = Issuer::builder(issuer_url)
            .audience(audience)
            .keys(keys)
            .build()?;
        Self::ready(WardenLayer::builder().issuer(issuer)).await
    }

    /// The one-line setup for Microsoft Entra ID: trusts one tenant (its id, a GUID) for tokens whose audience is `audience` (the API's application id, or its
    /// Application ID URI for v1.0 tokens), with Entra's own profile, and **loads its keys now**.
    /// For several tenants, any tenant, or a national cloud, use the builder with
    /// [`Entra`](crate::entra::Entra).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), warden::error::SetupError> {
    /// let warden = warden::WardenLayer::entra(
    ///     "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c",
    ///     "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`WardenLayer::oidc`].
    pub async fn entra(
        tenant: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<WardenLayer, SetupError> {
        let entra = crate::entra::Entra::builder()
            .tenant(tenant)
            .audience(audience)
            .build()?;
        Self::ready(WardenLayer::builder().entra(entra)).await
    }

    /// Builds the layer and loads its issuers' keys.
    async fn ready(builder: WardenBuilder) -> Result<WardenLayer, SetupError> {
        let layer = builder.build()?;
        layer.shared.validator.load_keys().await?;
        Ok(layer)
    }

    /// A layer around an existing validator, with the default realm, requiring a token; DPoP
    /// proofs are accepted beside bearer tokens, as with the builder.
    pub fn new(validator: Validator) -> Self {
        let dpop = Dpop::default().with_clock(validator.clock_arc());
        WardenLayer {
            shared: Arc::new(Shared {
                validator,
                realm: Realm::default(),
                allow_anonymous: false,
                responder: None,
                groups: None,
                resource_metadata: None,
                dpop: Some(dpop),
                written: papaya::HashMap::with_hasher(Default::default()),
                refusal_log: RefusalLog::new(crate::observability::DEFAULT_REFUSAL_LOGS_PER_SECOND),
            }),
        }
    }

    /// The validator, to validate tokens outside HTTP requests with the same configuration.
    pub fn validator(&self) -> &Validator {
        &self.shared.validator
    }

    /// The RFC 9728 metadata document and its service, when a protected resource is configured
    /// ([`WardenBuilder::protected_resource`]): mount it at its
    /// [`path`](ResourceMetadata::path), outside this layer.
    pub fn resource_metadata(&self) -> Option<&ResourceMetadata> {
        self.shared.resource_metadata.as_ref()
    }
}

impl<S> Layer<S> for WardenLayer {
    type Service = Warden<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Warden {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Configures a [`WardenLayer`]; see [`WardenLayer::builder`].
#[must_use]
pub struct WardenBuilder {
    validator: ValidatorBuilder,
    realm: Option<String>,
    allow_anonymous: bool,
    responder: Option<Arc<RejectionResponder>>,
    groups: Option<CachedGroups>,
    protected_resource: Option<ProtectedResource>,
    dpop: Option<Dpop>,
    refusal_logs_per_second: u32,
}

impl fmt::Debug for WardenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WardenBuilder")
            .field("validator", &self.validator)
            .field("realm", &self.realm)
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl WardenBuilder {
    // Validation: each setter forwards to the one `ValidatorBuilder` setter of the same name,
    // so a setting has one meaning whichever builder it is set on. A layer's validator is
    // `WardenLayer::validator()`; a validator without a layer is `Validator::builder()`.

    /// Trusts an issuer ([`ValidatorBuilder::issuer`]).
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.validator = self.validator.issuer(issuer);
        self
    }

    /// Trusts Microsoft Entra issuers ([`ValidatorBuilder::entra`], see
    /// [`Entra`](crate::entra::Entra)).
    pub fn entra(mut self, entra: crate::entra::Entra) -> Self {
        self.validator = self.validator.entra(entra);
        self
    }

    /// Uses this revocation store (default: an in-memory one; see [`cae`](crate::cae);
    /// [`ValidatorBuilder::revocations`]).
    pub fn revocations(mut self, store: Arc<dyn crate::cae::RevocationStore>) -> Self {
        self.validator = self.validator.revocations(store);
        self
    }

    /// The longest lifetime a token may have ([`ValidatorBuilder::max_token_lifetime`]).
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.validator = self.validator.max_token_lifetime(lifetime);
        self
    }

    /// How many verified tokens to remember ([`ValidatorBuilder::token_cache`]; default
    /// 16,384, 0 turns the cache off).
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.validator = self.validator.token_cache(capacity);
        self
    }

    /// The authority named in claims challenges ([`ValidatorBuilder::cae_authority`]; default:
    /// the Entra authority, else `https://login.microsoftonline.com`).
    pub fn cae_authority(mut self, authority: impl Into<String>) -> Self {
        self.validator = self.validator.cae_authority(authority);
        self
    }

    /// Sets the leeway for `exp`, `nbf` and `iat` ([`ValidatorBuilder::leeway`]; default 60 s,
    /// at most 300 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validator = self.validator.leeway(leeway);
        self
    }

    /// Sets the cap on token length ([`ValidatorBuilder::max_token_bytes`]; default 16 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.validator = self.validator.max_token_bytes(max);
        self
    }

    /// Reads the time from this clock ([`ValidatorBuilder::clock`]); DPoP proofs are judged on
    /// the same clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.validator = self.validator.clock(clock);
        self
    }

    /// Sets the `realm` of every challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Lets requests without any bearer token through, with no principal, so one route can serve
    /// anonymous and signed-in callers (`Option<Principal>`). A token that is sent is still
    /// validated, and an invalid one is still refused.
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }

    /// Replaces the body (and any extra headers) of refusals. Warden then sets the status,
    /// `WWW-Authenticate`, `Retry-After` and `Cache-Control` itself, so the protocol answer
    /// cannot be lost.
    pub fn on_rejection<F>(mut self, responder: F) -> Self
    where
        F: Fn(&Error, &Challenge) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// How many refusals are logged at INFO per second, at most (default
    /// [`DEFAULT_REFUSAL_LOGS_PER_SECOND`](crate::observability::DEFAULT_REFUSAL_LOGS_PER_SECOND));
    /// the rest are counted and reported with the next line, so a flood of bad tokens cannot
    /// flood the log. `0` logs none at INFO. Each line holds the refusal's kind and status, and
    /// for a verified caller its issuer and client id; never the token.
    pub fn refusal_logs_per_second(mut self, per_second: u32) -> Self {
        self.refusal_logs_per_second = per_second;
        self
    }

    /// Resolves group membership when Entra replaced the `groups` claim with an overage marker.
    /// Answers are cached for `ttl` per issuer and [`Principal::identity`], at most 10,000 callers.
    /// Without a resolver, a group requirement on an overage token is refused.
    pub fn group_resolver(mut self, resolver: impl GroupResolver, ttl: Duration) -> Self {
        self.groups = Some(CachedGroups::new(Arc::new(resolver), ttl, 10_000));
        self
    }

    /// Describes the API as an RFC 9728 protected resource: every 401 and 403 challenge names
    /// its metadata (`resource_metadata="…"`), and [`WardenLayer::resource_metadata`] serves the
    /// document ([`metadata`](crate::metadata)).
    pub fn protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.protected_resource = Some(resource);
        self
    }

    /// Checks DPoP proofs this way ([`dpop`](crate::dpop); on by default with [`Dpop::default`]):
    /// DPoP-bound tokens are accepted with `Authorization: DPoP` and their proof, beside bearer
    /// tokens, and every 401 carries a `DPoP algs="…"` challenge after the Bearer one.
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Accepts bearer tokens only: no DPoP challenge, and DPoP-bound tokens are refused (they
    /// cannot be checked), as before DPoP support.
    pub fn bearer_only(mut self) -> Self {
        self.dpop = None;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: no issuer, a bad realm, an out-of-range leeway or cap.
    pub fn build(self) -> Result<WardenLayer, ConfigError> {
        let validator = self.validator.build()?;
        let realm = match self.realm {
            Some(realm) => Realm::new(realm)?,
            None => Realm::default(),
        };
        let clock = validator.clock_arc();
        let dpop_members = self.dpop.as_ref().map(|dpop| {
            let algs = dpop.algorithms().iter().map(|a| a.as_str()).collect();
            (algs, validator.every_issuer_requires_dpop())
        });
        let resource_metadata = self
            .protected_resource
            .map(|resource| resource.build(validator.authorization_servers(), dpop_members))
            .transpose()?;
        Ok(WardenLayer {
            shared: Arc::new(Shared {
                validator,
                realm,
                allow_anonymous: self.allow_anonymous,
                responder: self.responder,
                groups: self.groups,
                resource_metadata,
                dpop: self.dpop.map(|dpop| dpop.with_clock(clock)),
                written: papaya::HashMap::with_hasher(Default::default()),
                refusal_log: RefusalLog::new(self.refusal_logs_per_second),
            }),
        })
    }
}

/// Middleware that authenticates requests by bearer token; see [`WardenLayer`].
#[derive(Clone)]
pub struct Warden<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Warden<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warden")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Warden<S> {
    /// Gets a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gets a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Warden<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let span = tracing::debug_span!(
            "warden.authenticate",
            outcome = Empty,
            iss = Empty,
            tid = Empty,
            client = Empty,
            sub = Empty,
            // OpenTelemetry's general attribute for the class of a failure.
            error.type = Empty,
        );
        let shared = &self.shared;
        let protocol = Protocol::of(&req);
        // What warden logs while deciding is inside its span; the handler runs after the span
        // has closed, beside it in the request's trace, so the span's duration is warden's.
        match span.in_scope(|| shared.authenticate(&req)) {
            Authentication::Admitted { principal, scheme } => {
                admit(&span, shared, &mut req, principal, scheme, protocol);
                drop(span);
                ResponseFuture::inner(self.inner.call(req))
            }
            Authentication::Anonymous => {
                crate::observability::anonymous();
                span.record("outcome", "anonymous");
                drop(span);
                let context = WardenContext::new(shared.clone(), None, protocol);
                req.extensions_mut().insert(context);
                ResponseFuture::inner(self.inner.call(req))
            }
            Authentication::Refused { error, scheme } => {
                ResponseFuture::rejected(refuse(&span, shared, &error, scheme, protocol))
            }
            Authentication::Waiting { wait, scheme } => {
                // Take the service that was ready, leave a clone (tower's "be careful when
                // cloning inner services").
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let shared = shared.clone();
                ResponseFuture::waiting(Box::pin(async move {
                    let finished = wait
                        .finish(&shared, scheme, &mut req)
                        .instrument(span.clone())
                        .await;
                    match finished {
                        Ok(principal) => {
                            admit(&span, &shared, &mut req, principal, scheme, protocol);
                            // Closed before the handler runs, as on the other paths.
                            drop(span);
                            inner.call(req).await
                        }
                        Err(error) => Ok(refuse(&span, &shared, &error, Some(scheme), protocol)),
                    }
                }))
            }
        }
    }
}

fn admit<B>(
    span: &tracing::Span,
    shared: &Arc<Shared>,
    req: &mut Request<B>,
    principal: Principal,
    scheme: Scheme,
    protocol: Protocol,
) {
    crate::observability::admitted();
    if !span.is_disabled() {
        span.record("outcome", "authenticated");
        span.record("iss", principal.issuer());
        span.record("sub", principal.subject());
        if let Some(tid) = principal.tenant_id() {
            span.record("tid", tid);
        }
        if let Some(client) = principal.client_id() {
            span.record("client", client);
        }
    }
    let extensions = req.extensions_mut();
    extensions.insert(principal);
    extensions.insert(WardenContext::new(shared.clone(), Some(scheme), protocol));
}

fn refuse<B: From<Bytes>>(
    span: &tracing::Span,
    shared: &Shared,
    error: &Error,
    scheme: Option<Scheme>,
    protocol: Protocol,
) -> Response<B> {
    span.record("outcome", error.kind());
    span.record("error.type", error.kind());
    span.in_scope(|| {
        crate::observability::refused_at_layer(error);
        shared.respond(error, scheme, None, protocol).map(B::from)
    })
}

pin_project! {
    /// Response future of [`Warden`].
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
        Waiting { future: BoxFuture<Result<Response<B>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response<B>) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn waiting(future: BoxFuture<Result<Response<B>, E>>) -> Self {
        ResponseFuture {
            kind: Kind::Waiting { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { response } => {
                // A finished future polled again is a bug in the caller: fail loudly, as
                // tower-http does, rather than stay pending forever.
                let response = response.take().expect("future polled after completion");
                Poll::Ready(Ok(response))
            }
            KindProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::ResponseFuture;

    type Rejected = ResponseFuture<std::future::Ready<Result<http::Response<()>, ()>>, (), ()>;

    #[test]
    #[should_panic(expected = "future polled after completion")]
    fn a_finished_refusal_polled_again_fails_loudly() {
        let mut future = pin!(Rejected::rejected(http::Response::new(())));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
        let _ = future.as_mut().poll(&mut cx);
    }
}
