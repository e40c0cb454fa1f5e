//! The fake issuer: an OpenID Connect (or Microsoft Entra shaped) authority on 127.0.0.1.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warden::Algorithm;

use crate::keys::{KeyError, SigningKey};
pub use crate::state::{Endpoint, Fault};
use crate::state::{KeyRing, Mode, RingKey, Shared, b64_bytes, lock};
use crate::token::TokenBuilder;
use crate::transmitter::{self, PushAnswer, SetBuilder};

/// The tenant id an Entra-mode issuer uses unless told otherwise.
pub const DEFAULT_TENANT: &str = "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c";
/// The audience tokens carry unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "api://warden-demo";
/// The kid of the key an issuer starts with.
pub const FIRST_KID: &str = "key-1";

/// Configures and starts a [`FakeIssuer`]; see [`FakeIssuer::builder`].
#[must_use]
#[derive(Debug, Clone)]
pub struct FakeIssuerBuilder {
    mode: Mode,
    audience: String,
    algorithm: Algorithm,
    port: u16,
    jwks_max_age: Option<u64>,
}

impl FakeIssuerBuilder {
    /// Imitates Microsoft Entra ID (v2 and v1 endpoints, templated `common` issuer) for this
    /// tenant id.
    pub fn entra(mut self, tenant: impl Into<String>) -> Self {
        self.mode = Mode::Entra {
            tenant: tenant.into(),
        };
        self
    }

    /// The audience tokens carry by default.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The algorithm of the first signing key (default RS256).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Listens on this port of 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sends `Cache-Control: max-age` with the JWKS (default none).
    pub fn jwks_max_age(mut self, secs: u64) -> Self {
        self.jwks_max_age = Some(secs);
        self
    }

    /// Generates the first key and starts the server on 127.0.0.1.
    ///
    /// # Errors
    ///
    /// The port cannot be bound, or the key cannot be generated.
    pub async fn start(self) -> Result<FakeIssuer, StartError> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let base = format!("http://{addr}");
        let key = SigningKey::generate(FIRST_KID, self.algorithm).map_err(StartError::Key)?;
        let state = Arc::new(Shared {
            mode: self.mode,
            base,
            audience: self.audience,
            ring: Mutex::new(KeyRing {
                keys: vec![RingKey {
                    key: Arc::new(key),
                    published: true,
                }],
                signing: FIRST_KID.to_owned(),
            }),
            faults: Mutex::new(HashMap::new()),
            hits: Default::default(),
            jwks_max_age: Mutex::new(self.jwks_max_age),
            transmitter: Default::default(),
        });
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            // The task is aborted when the FakeIssuer is dropped.
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeIssuer {
            state,
            addr,
            server,
        })
    }
}

/// Why a [`FakeIssuer`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The listener could not be bound.
    Bind(std::io::Error),
    /// The first key could not be generated.
    Key(KeyError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind(e) => write!(f, "cannot listen on 127.0.0.1: {e}"),
            StartError::Key(e) => write!(f, "cannot generate a key: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A fake token issuer on 127.0.0.1, stopped when dropped. See the [crate docs](crate).
pub struct FakeIssuer {
    state: Arc<Shared>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl fmt::Debug for FakeIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeIssuer")
            .field("issuer", &self.issuer_url())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeIssuer {
    /// A generic OpenID Connect issuer with one RS256 key, on a free port.
    ///
    /// # Errors
    ///
    /// See [`FakeIssuerBuilder::start`].
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// Starts configuring a fake issuer.
    pub fn builder() -> FakeIssuerBuilder {
        FakeIssuerBuilder {
            mode: Mode::Oidc,
            audience: DEFAULT_AUDIENCE.to_owned(),
            algorithm: Algorithm::RS256,
            port: 0,
            jwks_max_age: None,
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.state.base
    }

    /// The issuer of tokens: the base URL (OIDC mode) or `{base}/{tenant}/v2.0` (Entra mode).
    pub fn issuer_url(&self) -> String {
        self.state.token_issuer()
    }

    /// The v2 issuer of another tenant (Entra mode): `{base}/{tenant}/v2.0`.
    pub fn entra_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.state.base)
    }

    /// The v1 issuer of a tenant (Entra mode), shaped like `https://sts.windows.net/{tid}/`:
    /// `{base}/sts/{tenant}/`.
    pub fn entra_v1_issuer(&self, tenant: &str) -> String {
        format!("{}/sts/{tenant}/", self.state.base)
    }

    /// The tenant id (Entra mode), if any.
    pub fn tenant_id(&self) -> Option<&str> {
        match &self.state.mode {
            Mode::Oidc => None,
            Mode::Entra { tenant } => Some(tenant),
        }
    }

    /// Whether the issuer imitates Microsoft Entra ID.
    pub fn is_entra(&self) -> bool {
        matches!(self.state.mode, Mode::Entra { .. })
    }

    /// The audience tokens carry by default.
    pub fn audience(&self) -> &str {
        &self.state.audience
    }

    /// The discovery document URL of the issuer.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer_url())
    }

    /// The JWKS URL of the issuer.
    pub fn jwks_url(&self) -> String {
        self.state.jwks_url()
    }

    /// The token endpoint (client credentials).
    pub fn token_endpoint(&self) -> String {
        match &self.state.mode {
            Mode::Oidc => format!("{}/token", self.state.base),
            Mode::Entra { tenant } => format!("{}/{tenant}/oauth2/v2.0/token", self.state.base),
        }
    }

    /// The published key set as a JWKS document, exactly as the JWKS endpoint serves it.
    pub fn jwks_json(&self) -> String {
        self.state.jwks(None).to_string()
    }

    /// Starts a token signed by the current signing key, with defaults for this issuer's mode.
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(&self.state)
    }

    /// Signs raw header and payload JSON text, byte for byte, with the signing key and the
    /// algorithm the key was made for (for tokens no builder would write: duplicate members,
    /// odd types).
    ///
    /// # Errors
    ///
    /// [`KeyError`] if the key cannot sign.
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> Result<String, KeyError> {
        use base64::Engine as _;
        let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let key = self.state.key(None)?;
        let input = format!("{}.{}", b64(header_json), b64(payload_json));
        let signature = key.sign(key.algorithm(), input.as_bytes())?;
        Ok(format!("{input}.{}", b64_bytes(&signature)))
    }

    /// Generates a key and publishes it (it does not sign until promoted). Returns its kid.
    ///
    /// # Errors
    ///
    /// [`KeyError::Crypto`] if the key cannot be generated.
    pub fn add_key(&self, algorithm: Algorithm) -> Result<String, KeyError> {
        let mut ring = self.state.ring();
        let kid = format!("key-{}", ring.keys.len() + 1);
        let key = SigningKey::generate(kid.clone(), algorithm)?;
        ring.keys.push(RingKey {
            key: Arc::new(key),
            published: true,
        });
        Ok(kid)
    }

    /// Makes a published key the one that signs new tokens.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKey`] if no published key has this kid.
    pub fn promote(&self, kid: &str) -> Result<(), KeyError> {
        let mut ring = self.state.ring();
        if !ring.keys.iter().any(|k| k.published && k.key.kid() == kid) {
            return Err(KeyError::UnknownKey(kid.to_owned()));
        }
        ring.signing = kid.to_owned();
        Ok(())
    }

    /// Removes a key from the JWKS (it can still sign tokens on request, to test that they fail).
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKey`] if no key has this kid.
    pub fn retire(&self, kid: &str) -> Result<(), KeyError> {
        let mut ring = self.state.ring();
        let key = ring
            .keys
            .iter_mut()
            .find(|k| k.key.kid() == kid)
            .ok_or_else(|| KeyError::UnknownKey(kid.to_owned()))?;
        key.published = false;
        Ok(())
    }

    /// Publishes a new key, promotes it and retires the old signing key, in that order.
    /// Returns the new kid.
    ///
    /// # Errors
    ///
    /// As [`add_key`](Self::add_key).
    pub fn rotate(&self, algorithm: Algorithm) -> Result<String, KeyError> {
        let old = self.signing_kid();
        let new = self.add_key(algorithm)?;
        self.promote(&new)?;
        self.retire(&old)?;
        Ok(new)
    }

    /// The key that signs new tokens (its public key as PEM or JWK, for other verifiers).
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKey`] never in practice: the signing key always exists.
    pub fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        self.state.key(None)
    }

    /// The kid of the key that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.state.ring().signing.clone()
    }

    /// Makes an endpoint answer with a fault until cleared.
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.state.faults().insert(endpoint, fault);
    }

    /// Makes an endpoint answer normally again.
    pub fn clear_fault(&self, endpoint: Endpoint) {
        self.state.faults().remove(&endpoint);
    }

    /// How many requests an endpoint has received.
    pub fn hits(&self, endpoint: Endpoint) -> u64 {
        self.state.hits[endpoint.index()].load(Ordering::SeqCst)
    }

    /// The issuer of the Shared Signals transmitter (SSF 1.0): the base URL, in both modes. Its
    /// configuration is at `{base}/.well-known/ssf-configuration`; its SETs are signed by the
    /// token signing key and name it in `iss`.
    pub fn ssf_issuer(&self) -> &str {
        &self.state.base
    }

    /// Starts a Security Event Token from the transmitter (a CAEP `session-revoked` of the
    /// default user unless told otherwise).
    pub fn security_event(&self) -> SetBuilder<'_> {
        SetBuilder::new(&self.state)
    }

    /// Delivers a signed SET on every stream a receiver created: pushed to push streams (their
    /// answers returned, in no set order), queued for polling on poll streams.
    pub async fn deliver(&self, jti: &str, set: &str) -> Vec<PushAnswer> {
        self.state.transmitter.deliver(jti, set).await
    }

    /// POSTs a SET to a receiver's push endpoint as RFC 8935 says (`Content-Type:
    /// application/secevent+jwt`), with this `Authorization` value if any.
    ///
    /// # Errors
    ///
    /// The transport error, as text.
    pub async fn push_set(
        &self,
        endpoint_url: &str,
        authorization: Option<&str>,
        set: &str,
    ) -> Result<PushAnswer, String> {
        crate::transmitter::push(endpoint_url, authorization, set).await
    }

    /// The streams receivers created.
    pub fn ssf_streams(&self) -> Vec<String> {
        self.state.transmitter.stream_ids()
    }

    /// What polling receivers reported in `setErrs`: (jti, err code), oldest first.
    pub fn ssf_set_errors(&self) -> Vec<(String, String)> {
        self.state.transmitter.set_errors()
    }

    /// The jtis polling receivers acknowledged, oldest first.
    pub fn ssf_acknowledged(&self) -> Vec<String> {
        self.state.transmitter.acknowledged()
    }

    /// Sets (or removes) the JWKS `Cache-Control: max-age`.
    pub fn set_jwks_max_age(&self, secs: Option<u64>) {
        *lock(&self.state.jwks_max_age) = secs;
    }
}

fn router(state: Arc<Shared>) -> Router {
    let router = match state.mode {
        Mode::Oidc => Router::new()
            .route("/.well-known/openid-configuration", get(oidc_discovery))
            .route(
                "/.well-known/oauth-authorization-server",
                get(oauth_authorization_server),
            )
            .route("/jwks", get(oidc_jwks))
            .route("/token", post(token_endpoint)),
        Mode::Entra { .. } => Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(entra_discovery_v2),
            )
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(entra_discovery_v1),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(entra_jwks))
            .route("/{tenant}/discovery/keys", get(entra_jwks))
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint)),
    };
    router
        .route(
            "/.well-known/ssf-configuration",
            get(transmitter::configuration),
        )
        .route(
            "/ssf/streams",
            post(transmitter::create_stream).get(transmitter::get_stream),
        )
        .route("/ssf/status", get(transmitter::stream_status))
        .route("/ssf/verify", post(transmitter::verify))
        .route("/ssf/poll/{stream_id}", post(transmitter::poll))
        .route(
            "/_fake/faults/{endpoint}",
            post(set_fault_endpoint).delete(clear_fault_endpoint),
        )
        .with_state(state)
}

/// A fault as JSON, for `POST /_fake/faults/{discovery|jwks|token}`: `{"status": 503}`,
/// `{"delay_ms": 200}`, or `{"kind": "garbage" | "html" | "empty" | "wrong_issuer" | "hang"}`.
#[derive(Debug, Deserialize)]
struct FaultRequest {
    status: Option<u16>,
    delay_ms: Option<u64>,
    kind: Option<String>,
}

fn endpoint_named(name: &str) -> Option<Endpoint> {
    match name {
        "discovery" => Some(Endpoint::Discovery),
        "jwks" => Some(Endpoint::Jwks),
        "token" => Some(Endpoint::Token),
        _ => None,
    }
}

async fn set_fault_endpoint(
    State(state): State<Arc<Shared>>,
    Path(endpoint): Path<String>,
    Json(request): Json<FaultRequest>,
) -> StatusCode {
    let Some(endpoint) = endpoint_named(&endpoint) else {
        return StatusCode::NOT_FOUND;
    };
    let fault = match (request.status, request.delay_ms, request.kind.as_deref()) {
        (Some(code), _, _) => Fault::Status(code),
        (_, Some(ms), _) => Fault::Delay(Duration::from_millis(ms)),
        (_, _, Some("garbage")) => Fault::Garbage,
        (_, _, Some("html")) => Fault::Html,
        (_, _, Some("empty")) => Fault::EmptyKeySet,
        (_, _, Some("wrong_issuer")) => Fault::WrongIssuer,
        (_, _, Some("hang")) => Fault::Hang,
        _ => return StatusCode::UNPROCESSABLE_ENTITY,
    };
    state.faults().insert(endpoint, fault);
    StatusCode::NO_CONTENT
}

async fn clear_fault_endpoint(
    State(state): State<Arc<Shared>>,
    Path(endpoint): Path<String>,
) -> StatusCode {
    match endpoint_named(&endpoint) {
        Some(endpoint) => {
            state.faults().remove(&endpoint);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Applies the endpoint's fault, if any: `Err(response)` to answer with instead.
async fn fault(state: &Shared, endpoint: Endpoint) -> Result<Option<Fault>, Response> {
    state.hits[endpoint.index()].fetch_add(1, Ordering::SeqCst);
    let fault = state.faults().get(&endpoint).cloned();
    match fault {
        None => Ok(None),
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err((status, "injected failure").into_response())
        }
        Some(Fault::Garbage) => Err((StatusCode::OK, "\u{1}garbage{{[").into_response()),
        Some(Fault::Html) => Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Sign in to the network</body></html>",
        )
            .into_response()),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            Ok(None)
        }
        Some(other) => Ok(Some(other)),
    }
}

fn json_response(mut document: Value, fault: Option<Fault>, max_age: Option<u64>) -> Response {
    if let Some(Fault::Oversized(size)) = fault {
        document["padding"] = json!("x".repeat(size));
    }
    let mut response = Json(document).into_response();
    if let Some(secs) = max_age
        && let Ok(value) = HeaderValue::from_str(&format!("public, max-age={secs}"))
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

fn discovery_document(
    issuer: &str,
    jwks_uri: &str,
    token_endpoint: &str,
    fault: &Option<Fault>,
) -> Value {
    let issuer = if *fault == Some(Fault::WrongIssuer) {
        format!("{issuer}/wrong")
    } else {
        issuer.to_owned()
    };
    let mut document = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": token_endpoint,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
        "grant_types_supported": ["client_credentials"],
    });
    if *fault == Some(Fault::EmptyKeySet)
        && let Some(map) = document.as_object_mut()
    {
        map.remove("jwks_uri");
    }
    document
}

async fn oidc_discovery(State(state): State<Arc<Shared>>) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let base = &state.base;
    let document = discovery_document(
        base,
        &format!("{base}/jwks"),
        &format!("{base}/token"),
        &fault,
    );
    json_response(document, fault, None)
}

/// RFC 8414 authorization-server metadata: the discovery document, with the client
/// authentication methods the token endpoint takes (it checks none: a fake).
async fn oauth_authorization_server(State(state): State<Arc<Shared>>) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let base = &state.base;
    let mut document = discovery_document(
        base,
        &format!("{base}/jwks"),
        &format!("{base}/token"),
        &fault,
    );
    document["token_endpoint_auth_methods_supported"] = json!(["client_secret_post", "none"]);
    json_response(document, fault, None)
}

async fn oidc_jwks(State(state): State<Arc<Shared>>) -> Response {
    jwks_response(&state, None).await
}

async fn jwks_response(state: &Shared, issuer_member: Option<&str>) -> Response {
    let fault = match fault(state, Endpoint::Jwks).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let document = if fault == Some(Fault::EmptyKeySet) {
        json!({ "keys": [] })
    } else {
        state.jwks(issuer_member)
    };
    let max_age = *lock(&state.jwks_max_age);
    json_response(document, fault, max_age)
}

async fn entra_discovery_v2(state: State<Arc<Shared>>, tenant: Path<String>) -> Response {
    entra_discovery(state, tenant, EntraVersion::V2).await
}

async fn entra_discovery_v1(state: State<Arc<Shared>>, tenant: Path<String>) -> Response {
    entra_discovery(state, tenant, EntraVersion::V1).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntraVersion {
    V1,
    V2,
}

/// Entra's discovery documents: v2 at `/{tenant}/v2.0/…`, v1 at `/{tenant}/…`; the multi-tenant
/// aliases answer the templated `{tenantid}` issuer.
async fn entra_discovery(
    State(state): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    version: EntraVersion,
) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let base = &state.base;
    let issuer_tenant = if is_multi_tenant_alias(&tenant) {
        "{tenantid}"
    } else {
        &tenant
    };
    let (issuer, keys, token) = match version {
        EntraVersion::V2 => (
            format!("{base}/{issuer_tenant}/v2.0"),
            format!("{base}/{tenant}/discovery/v2.0/keys"),
            format!("{base}/{tenant}/oauth2/v2.0/token"),
        ),
        EntraVersion::V1 => (
            format!("{base}/sts/{issuer_tenant}/"),
            format!("{base}/{tenant}/discovery/keys"),
            format!("{base}/{tenant}/oauth2/token"),
        ),
    };
    let mut document = discovery_document(&issuer, &keys, &token, &fault);
    if version == EntraVersion::V2 {
        document["authorization_endpoint"] =
            json!(format!("{base}/{tenant}/oauth2/v2.0/authorize"));
        document["tenant_region_scope"] = json!("WW");
    }
    json_response(document, fault, None)
}

async fn entra_jwks(State(state): State<Arc<Shared>>) -> Response {
    let issuer = format!("{}/{{tenantid}}/v2.0", state.base);
    jwks_response(&state, Some(&issuer)).await
}

fn is_multi_tenant_alias(tenant: &str) -> bool {
    matches!(tenant, "common" | "organizations" | "consumers")
}

/// The form of a client-credentials token request.
#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    roles: Option<String>,
    /// A claims request (OpenID Connect Core §5.5), as MSAL sends it: the client's capabilities
    /// (`xms_cc`) and the answer to a claims challenge (`nbf`).
    claims: Option<String>,
}

/// What a token request's `claims` asks of the access token: the CAE capability (`xms_cc`
/// values), and a token valid from an instant on (`nbf`, a claims challenge after a revocation).
fn claims_request(claims: &str) -> Option<(bool, Option<i64>)> {
    let request: serde_json::Value = serde_json::from_str(claims).ok()?;
    let access_token = request.get("access_token")?;
    let cae_capable = access_token
        .pointer("/xms_cc/values")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|values| values.iter().any(|v| v.as_str() == Some("cp1")));
    let not_before = match access_token.pointer("/nbf/value") {
        Some(serde_json::Value::String(text)) => Some(text.parse().ok()?),
        Some(value) => Some(value.as_i64()?),
        None => None,
    };
    Some((cae_capable, not_before))
}

async fn token_endpoint(
    State(state): State<Arc<Shared>>,
    tenant: Option<Path<String>>,
    Form(request): Form<TokenRequest>,
) -> Response {
    if let Err(response) = fault(&state, Endpoint::Token).await {
        return response;
    }
    let oauth_error = |code: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    };
    if request.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let Some(client_id) = request.client_id.filter(|c| !c.is_empty()) else {
        return oauth_error("invalid_request", "client_id is required");
    };
    // Entra-style `scope=api://orders/.default` names the audience.
    let mut scopes: Vec<String> = Vec::new();
    let mut audience = request.resource.or(request.audience);
    for scope in request
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        match scope.strip_suffix("/.default") {
            Some(resource) => audience = Some(resource.to_owned()),
            None => scopes.push(scope.to_owned()),
        }
    }
    let mut builder = TokenBuilder::new(&state).client(&client_id).app_only();
    // As Entra does, a claims request shapes the token: `xms_cc` marks a CAE-capable client, and
    // an `nbf` (a claims challenge's answer) gets a token issued no earlier than it.
    if let Some(claims) = request.claims.as_deref().filter(|c| !c.is_empty()) {
        let Some((cae_capable, not_before)) = claims_request(claims) else {
            return oauth_error("invalid_request", "claims is not a valid claims request");
        };
        if cae_capable {
            builder = builder.cae_capable();
        }
        if let Some(not_before) = not_before {
            let issued_at = crate::token::unix_now().max(not_before);
            builder = builder.issued_at(issued_at).not_before(issued_at);
        }
    }
    if let Some(Path(tenant)) = tenant {
        builder = builder.tenant(&tenant);
    }
    if let Some(audience) = audience {
        builder = builder.audience(audience);
    }
    if !scopes.is_empty() {
        builder = builder.scopes(scopes);
    }
    if let Some(roles) = request.roles {
        builder = builder.roles(roles.split(' ').filter(|r| !r.is_empty()));
    }
    let lifetime = builder.lifetime_secs();
    match builder.try_sign() {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }))
        .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
    }
}
