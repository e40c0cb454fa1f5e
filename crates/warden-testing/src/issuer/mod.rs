//! The fake issuer: an OpenID Connect (or Microsoft Entra shaped) authority on 127.0.0.1.
//!
//! The issuer's public API is here; its axum routes are in `routes`.

mod authorize;
mod control;
mod debugger;
mod fault;
mod grants;
mod managed_identity;
mod pages;
mod routes;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warden::Algorithm;

pub use crate::clients::ClientRegistration;
use crate::keys::{KeyError, SigningKey};
pub use crate::state::{Endpoint, Fault};
use crate::state::{KeyRing, Mode, RingKey, Shared, b64_bytes, lock};
use crate::token::TokenBuilder;
use crate::transmitter::{PushAnswer, SetBuilder};
pub use managed_identity::IDENTITY_HEADER_SECRET;

use routes::router;

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
    host: std::net::IpAddr,
    public_base_url: Option<String>,
    jwks_max_age: Option<u64>,
    tls: bool,
    allow_plain_pkce: bool,
    client_metadata_on_loopback: bool,
    cors_origins: Vec<String>,
}

impl FakeIssuerBuilder {
    /// Lets a browser app served from `origin` (`http://localhost:5173`: scheme, host and port,
    /// nothing else) read the provider's answers: discovery, keys, token, userinfo, revocation,
    /// registration and logout answer its CORS requests (RFC 6454 origins, the Fetch standard's
    /// preflight), as a single-page app needs to redeem its code. Call once per origin. None by
    /// default: without it, a page of any other origin can send the fake requests but never read
    /// a token from the answer. The control API (`/_fake`), the Shared Signals and managed
    /// identity endpoints never answer CORS.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Serves HTTPS instead of HTTP, with a CA generated at start
    /// ([`FakeIssuer::tls_root_certificate_pem`] is what a client trusts) and a certificate it
    /// signs for `localhost`, `127.0.0.1` and `::1`: for clients that insist on `https`.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Lets the authorization endpoint take PKCE's `plain` method, which exposes the verifier
    /// (refused by default: S256 is required, RFC 9700 §2.1.1).
    pub fn allow_plain_pkce(mut self) -> Self {
        self.allow_plain_pkce = true;
        self
    }

    /// Lets a Client ID Metadata Document be fetched over plain `http` from a loopback address,
    /// for tests that serve one themselves. By default, as a real server, the fake fetches only
    /// `https` documents, and none from loopback or private addresses.
    pub fn client_metadata_on_loopback(mut self) -> Self {
        self.client_metadata_on_loopback = true;
        self
    }

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

    /// Listens on this address instead of 127.0.0.1: `0.0.0.0` in a container, so that other
    /// containers reach it. Say how they reach it with
    /// [`public_base_url`](Self::public_base_url).
    pub fn host(mut self, host: std::net::IpAddr) -> Self {
        self.host = host;
        self
    }

    /// The base URL clients use to reach the fake (`http://fake-issuer:4000` in a container
    /// network), which issuer URLs and endpoints are made of; by default, the address it listens
    /// on.
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Generates the first key and starts the server on 127.0.0.1.
    ///
    /// # Errors
    ///
    /// The port cannot be bound, or the key cannot be generated.
    pub async fn start(self) -> Result<FakeIssuer, StartError> {
        let mut issuers = self.start_at(&[""]).await?;
        Ok(issuers.remove(0))
    }

    /// Several issuers in one process, on one port: each at `/{id}` of it, with its own keys,
    /// clients, codes and faults, all configured alike. An id is 1 to 64 characters of
    /// `[A-Za-z0-9_-]`, and the ids differ.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_testing::StartError> {
    /// let issuers = warden_testing::FakeIssuer::builder().start_many(&["partner-a", "partner-b"]).await?;
    /// assert!(issuers[0].issuer_url().ends_with("/partner-a"));
    /// assert_eq!(issuers[0].addr(), issuers[1].addr());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::IssuerId`] for an id that is empty, too long, of other characters, or
    /// repeated; otherwise as [`start`](Self::start).
    pub async fn start_many(self, ids: &[&str]) -> Result<Vec<FakeIssuer>, StartError> {
        for (index, id) in ids.iter().enumerate() {
            let valid = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !ids[..index].contains(id);
            if !valid {
                return Err(StartError::IssuerId((*id).to_owned()));
            }
        }
        if ids.is_empty() {
            return Err(StartError::IssuerId(String::new()));
        }
        self.start_at(ids).await
    }

    /// Starts one server holding an issuer at each path prefix (`""`: the root).
    async fn start_at(self, ids: &[&str]) -> Result<Vec<FakeIssuer>, StartError> {
        let listener = TcpListener::bind((self.host, self.port))
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let tls = if self.tls {
            Some(crate::tls::Tls::generate().map_err(StartError::Tls)?)
        } else {
            None
        };
        let root = match (&self.public_base_url, &tls) {
            (Some(url), _) => url.clone(),
            (None, Some(_)) => format!("https://{addr}"),
            (None, None) => format!("http://{addr}"),
        };
        let cors = routes::cors(&self.cors_origins).map_err(StartError::CorsOrigin)?;
        let mut states = Vec::new();
        let mut app = axum::Router::new();
        for id in ids {
            let base = if id.is_empty() {
                root.clone()
            } else {
                format!("{root}/{id}")
            };
            let key = SigningKey::generate(FIRST_KID, self.algorithm).map_err(StartError::Key)?;
            let state = Arc::new(Shared {
                mode: self.mode.clone(),
                base,
                audience: self.audience.clone(),
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
                clients: Mutex::new(HashMap::new()),
                token_errors: Mutex::new(std::collections::VecDeque::new()),
                identities: Mutex::new(Vec::new()),
                authorizations: Mutex::new(Default::default()),
                allow_plain_pkce: self.allow_plain_pkce,
                client_metadata_on_loopback: self.client_metadata_on_loopback,
                users: Mutex::new(Default::default()),
            });
            app = if id.is_empty() {
                app.merge(router(state.clone(), cors.clone()))
            } else {
                app.nest(&format!("/{id}"), router(state.clone(), cors.clone()))
                    .merge(routes::at_root(state.clone(), id, cors.clone()))
            };
            states.push(state);
        }
        let (task, tls_root_pem) = match tls {
            Some(tls) => {
                let listener =
                    crate::tls::TlsListener::new(listener, &tls).map_err(StartError::Bind)?;
                let task = tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
                (task, Some(tls.ca_pem))
            }
            None => (
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }),
                None,
            ),
        };
        // Stopped when the last issuer it serves is dropped.
        let server = Arc::new(Server(task));
        Ok(states
            .into_iter()
            .map(|state| FakeIssuer {
                state,
                addr,
                _server: server.clone(),
                tls_root_pem: tls_root_pem.clone(),
            })
            .collect())
    }
}

/// The server task, aborted when dropped.
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
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
    /// The TLS certificates could not be generated.
    Tls(String),
    /// An issuer id for [`FakeIssuerBuilder::start_many`] that is empty, too long, of other
    /// characters than `[A-Za-z0-9_-]`, or repeated.
    IssuerId(String),
    /// An origin for [`FakeIssuerBuilder::cors_origin`] that is not `http(s)://host[:port]`.
    CorsOrigin(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind(e) => write!(f, "cannot listen on 127.0.0.1: {e}"),
            StartError::Key(e) => write!(f, "cannot generate a key: {e}"),
            StartError::Tls(e) => write!(f, "cannot generate the TLS certificates: {e}"),
            StartError::IssuerId(id) => write!(
                f,
                "invalid issuer id {id:?}: 1 to 64 characters of [A-Za-z0-9_-], each once"
            ),
            StartError::CorsOrigin(origin) => write!(
                f,
                "invalid CORS origin {origin:?}: http(s)://host[:port], with no path"
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// A fake token issuer on 127.0.0.1, stopped when dropped. See the [crate docs](crate).
pub struct FakeIssuer {
    state: Arc<Shared>,
    addr: SocketAddr,
    /// Held, not read: the server stops when its last issuer is dropped.
    _server: Arc<Server>,
    tls_root_pem: Option<String>,
}

impl fmt::Debug for FakeIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeIssuer")
            .field("issuer", &self.issuer_url())
            .finish_non_exhaustive()
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
            host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            public_base_url: None,
            jwks_max_age: None,
            tls: false,
            allow_plain_pkce: false,
            client_metadata_on_loopback: false,
            cors_origins: Vec::new(),
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
        let kid = format!("key-{}", self.state.ring().keys.len() + 1);
        self.state.add_key(&kid, algorithm)?;
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
        self.state.rotate(algorithm)
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

    /// Registers a confidential client: from then on its token requests must prove it (its
    /// secret, or an assertion signed by its certificate), and on-behalf-of requests are
    /// accepted from it (the jwt-bearer grant, for assertions naming one of its audiences).
    pub fn register_client(&self, client: ClientRegistration) {
        crate::state::lock(&self.state.clients).insert(client.client_id.clone(), client);
    }

    /// Assigns the host a system-assigned managed identity: its managed-identity endpoints
    /// ([`managed_identity_endpoint`](Self::managed_identity_endpoint), and IMDS's token path at
    /// `/metadata/identity/oauth2/token`) answer requests naming no identity with tokens about it
    /// (`sub` and `oid` `object_id`, `azp` `client_id`).
    pub fn assign_system_identity(&self, client_id: &str, object_id: &str) {
        self.assign_identity(false, client_id, object_id);
    }

    /// Assigns the host a user-assigned managed identity, named in requests by its client id
    /// (`client_id=`) or object id (`object_id=`, `principal_id=`).
    pub fn assign_user_identity(&self, client_id: &str, object_id: &str) {
        self.assign_identity(true, client_id, object_id);
    }

    fn assign_identity(&self, user_assigned: bool, client_id: &str, object_id: &str) {
        crate::state::lock(&self.state.identities).push(crate::state::AssignedIdentity {
            user_assigned,
            client_id: client_id.to_owned(),
            object_id: object_id.to_owned(),
        });
    }

    /// App Service's managed-identity endpoint on this issuer, for `IDENTITY_ENDPOINT`; with
    /// `IDENTITY_HEADER` set to [`IDENTITY_HEADER_SECRET`], the Azure SDK's
    /// `ManagedIdentityCredential` gets its tokens here.
    pub fn managed_identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.state.base)
    }

    /// The CA certificate (PEM) a client trusts to reach an issuer started with
    /// [`FakeIssuerBuilder::tls`]; `None` when it serves plain HTTP.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = warden_testing::FakeIssuer::builder().tls().start().await?;
    /// assert!(issuer.base_url().starts_with("https://127.0.0.1:"));
    /// let root = reqwest::Certificate::from_pem(issuer.tls_root_certificate_pem().unwrap().as_bytes())?;
    /// let client = reqwest::Client::builder().add_root_certificate(root).build()?;
    /// let discovery = client.get(issuer.discovery_url()).send().await?;
    /// assert_eq!(discovery.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn tls_root_certificate_pem(&self) -> Option<&str> {
        self.tls_root_pem.as_deref()
    }

    /// A user the login page offers, whose `claims` are added to their tokens when they sign in
    /// (`roles` as their app roles when the person chose none; what the person typed wins).
    pub fn add_user(&self, name: &str, claims: serde_json::Map<String, serde_json::Value>) {
        crate::state::lock(&self.state.users).insert(name.to_owned(), claims);
    }

    /// Makes the token endpoint's next answer this one (status and JSON body), as Entra answers
    /// its errors: `{"error": "interaction_required", "claims": "…", "error_codes": [50079]}`.
    /// Several calls queue answers, one per request.
    pub fn fail_next_token(&self, status: u16, body: serde_json::Value) {
        crate::state::lock(&self.state.token_errors).push_back((status, body));
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
