//! Token validation, usable with or without the layer (a websocket upgrade, a background job).
//!
//! It runs the token's part of the request path (size, strict parse, pre-checks on the unverified
//! claims, key, signature, claims, revocation), as drawn in
//! [docs/architecture.md](https://github.com/warden-rs/warden/blob/main/docs/architecture.md#the-path-of-a-request); each step only rejects, and acceptance needs all of them. A
//! bound token (`cnf`) is refused here, since its proof of possession belongs to a request.
//!
//! # Example
//!
//! ```
//! use warden::{Issuer, Validator, Error, error::InvalidToken};
//!
//! # let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
//! #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//! #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let validator = Validator::builder()
//!     .issuer(Issuer::builder("https://login.example.com").audience("api://orders").jwks(jwks).build()?)
//!     .build()?;
//! let outcome = validator.validate("not-a-token").await;
//! assert!(matches!(outcome, Err(Error::InvalidToken(InvalidToken::Malformed(_)))));
//! # Ok::<(), warden::ConfigError>(())
//! # }).unwrap();
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::bearer::DEFAULT_MAX_TOKEN_BYTES;
use crate::boxed::BoxFuture;
use crate::cache::TokenCache;
use crate::cae::{self, InMemoryRevocations, RevocationStore};
use crate::clock::{self, Clock, SystemClock};
use crate::entra::{AnyTenant, Entra};
use crate::error::{
    BindingError, ClaimsChallenge, ConfigError, Dependency, Error, Forbidden, InvalidToken,
    Malformed, Setting, SetupError, Unavailable,
};
use crate::issuer::{Issuer, Profile};
use crate::json::Members;
use crate::keys::{KeySet, KeyStatus, Refresh, VerifyingKey};
use crate::observability;
use crate::principal::{Confirmation, Parts, Principal};
use crate::token::{self, Jws, claims};

/// The leeway applied to `exp`, `nbf` and `iat` unless told otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// How long a caller is told to wait when keys are unavailable and the source gave no hint.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Validates bearer access tokens against a set of trusted issuers. Cheap to clone.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: HashMap<String, Issuer>,
    any_tenant: Vec<Arc<AnyTenant>>,
    /// Whether every issuer keeps the default DPoP policy, so a request needs no lookup.
    dpop_all_allowed: bool,
    revocations: Arc<dyn RevocationStore>,
    authorization_uri: String,
    max_token_lifetime: u64,
    cache: Option<TokenCache>,
    leeway: u64,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.inner.issuers.values().collect::<Vec<_>>())
            .field("leeway", &self.inner.leeway)
            .field("max_token_bytes", &self.inner.max_token_bytes)
            .finish()
    }
}

/// The outcome of the synchronous part of validation.
pub(crate) enum Step {
    Done(Result<Principal, Error>),
    NeedKeys(BoxFuture<Result<Principal, Error>>),
}

impl Validator {
    /// Starts configuring a validator.
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder {
            issuers: Vec::new(),
            any_tenant: Vec::new(),
            revocations: None,
            cae_authority: None,
            max_token_lifetime: cae::DEFAULT_MAX_TOKEN_LIFETIME,
            token_cache: crate::cache::DEFAULT_TOKEN_CACHE_CAPACITY,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            clock: None,
        }
    }

    /// Validates a token (the text after `Bearer `). A token bound to a key or certificate
    /// (`cnf`) is refused with [`BindingError::OutsideRequest`](crate::error::BindingError::OutsideRequest): only the layer, which sees the
    /// request, can check its proof.
    ///
    /// # Errors
    ///
    /// The [`Error`] variant that names the first failed check.
    pub async fn validate(&self, token: &str) -> Result<Principal, Error> {
        let principal = match self.validate_now(token) {
            Step::Done(result) => result,
            Step::NeedKeys(future) => future.await,
        }?;
        // Outside a request there is no proof of possession to check: a bound token is refused
        // (the layer checks the request's DPoP proof or client certificate).
        match principal.binding() {
            Some(binding) => Err(BindingError::OutsideRequest(binding).into()),
            None => Ok(principal),
        }
    }

    /// The cap on token length, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// The revocation store checked on every request; revoke through it.
    pub fn revocations(&self) -> &Arc<dyn RevocationStore> {
        &self.inner.revocations
    }

    /// Where claims challenges send the clients of Microsoft Entra tokens:
    /// `{authority}/common/oauth2/authorize`. (Clients of another issuer are sent to its
    /// `authorization_endpoint` from discovery.)
    pub fn cae_authorization_uri(&self) -> &str {
        &self.inner.authorization_uri
    }

    /// How many verified tokens are cached now.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Bytes a cached token costs besides its principal ([`Principal::heap_bytes`]).
    pub fn cache_entry_overhead(&self) -> usize {
        TokenCache::ENTRY_OVERHEAD
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &Issuer> {
        self.inner.issuers.values()
    }

    /// The authorization servers a client discovers to get tokens this validator accepts (RFC
    /// 9728 `authorization_servers`), each once, sorted: each provider says which (Entra: the
    /// tenant's v2.0 endpoint, also for its v1 issuer).
    pub(crate) fn authorization_servers(&self) -> Vec<String> {
        let mut servers: Vec<String> = self
            .inner
            .issuers
            .values()
            .map(|issuer| issuer.policy().authorization_server(issuer.issuer()))
            .chain(
                self.inner
                    .any_tenant
                    .iter()
                    .map(|any| any.authorization_server()),
            )
            .collect();
        servers.sort();
        servers.dedup();
        servers
    }

    /// Loads every trusted issuer's keys now, for those that have none yet (a [`JwksCache`]
    /// fetches on first use otherwise): at start-up, so that a wrong issuer URL or an
    /// unreachable provider fails the start instead of the first requests. Issuers whose keys
    /// are loaded, or given in configuration, are left alone.
    ///
    /// [`JwksCache`]: crate::keys::JwksCache
    ///
    /// # Errors
    ///
    /// [`SetupError::KeysUnavailable`] naming the first issuer whose keys could not be loaded.
    pub async fn load_keys(&self) -> Result<(), SetupError> {
        let sources = self
            .inner
            .issuers
            .values()
            .map(|issuer| (issuer.issuer().to_owned(), issuer.keys().clone()))
            .chain(
                self.inner
                    .any_tenant
                    .iter()
                    .map(|any| (any.key_status().issuer, any.keys().clone())),
            );
        for (issuer, keys) in sources {
            if keys.snapshot().is_some() {
                continue;
            }
            let outcome = match keys.refresh() {
                Refresh::Pending(fetch) => fetch.await.map(|_| ()),
                Refresh::NotNow { retry_after } => Err(crate::keys::KeysUnavailable {
                    retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                }),
            };
            if let Err(unavailable) = outcome
                && keys.snapshot().is_none()
            {
                return Err(SetupError::KeysUnavailable {
                    issuer,
                    retry_after: unavailable.retry_after,
                });
            }
        }
        Ok(())
    }

    /// Where each trusted issuer's keys stand (how many, fetched when), sorted by issuer: for a
    /// health endpoint that reports key-set freshness.
    ///
    /// ```
    /// # fn main() -> Result<(), warden::ConfigError> {
    /// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let validator = warden::Validator::builder()
    ///     .issuer(warden::Issuer::builder("https://login.example.com").audience("api://a").jwks(jwks).build()?)
    ///     .build()?;
    /// let status = validator.key_status();
    /// assert_eq!(status[0].issuer, "https://login.example.com");
    /// assert_eq!(status[0].keys, Some(1));
    /// assert_eq!(status[0].fetched_at, None); // given in configuration, never fetched
    /// # Ok(())
    /// # }
    /// ```
    pub fn key_status(&self) -> Vec<KeyStatus> {
        let mut status: Vec<KeyStatus> = self
            .inner
            .issuers
            .values()
            .map(|issuer| KeyStatus::of(issuer.issuer().to_owned(), &**issuer.keys()))
            .chain(self.inner.any_tenant.iter().map(|any| any.key_status()))
            .collect();
        status.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        status
    }

    /// The clock every time check reads.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    pub(crate) fn clock_arc(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// Validates as far as possible without waiting; hands back a future only when the key
    /// source must fetch.
    pub(crate) fn validate_now(&self, token: &str) -> Step {
        if token.len() > self.inner.max_token_bytes {
            return Step::Done(Err(InvalidToken::TooLarge {
                len: token.len(),
                max: self.inner.max_token_bytes,
            }
            .into()));
        }
        let now = clock::unix_secs(&*self.inner.clock);
        if let Some(cache) = &self.inner.cache {
            let hit = cache.get(token, now as f64, self.inner.leeway as f64);
            observability::cache_lookup(hit.is_some());
            if let Some(principal) = hit {
                // Seen before and verified: only revocation is checked again.
                return Step::Done(self.inner.check_revocation(principal));
            }
        }
        match self.validate_uncached(token, now) {
            Ok(step) => step,
            Err(error) => Step::Done(Err(error)),
        }
    }

    /// The whole path for a token not found in the cache: strict parsing, the checks on the
    /// unverified content (they only reject), the key, the signature, then the principal, read
    /// from the same parse of the claims.
    fn validate_uncached(&self, token: &str, now: u64) -> Result<Step, Error> {
        let jws = token::parse_jws(token)?;
        let Jws {
            alg,
            kid,
            typ,
            payload,
            ..
        } = jws;
        let text = token::claims_text(payload)?;
        let claims = token::members(&text)?;
        let (issuer, exp, confirmation) = self.precheck(alg, typ.as_deref(), &claims, now)?;
        // Timed from here: a token refused by the pre-checks costs no clock read.
        let started = std::time::Instant::now();
        let snapshot = issuer.keys().snapshot();
        if let Some(set) = &snapshot {
            let known = kid.as_deref().is_none_or(|kid| set.contains_kid(kid));
            if known {
                // The common path: the signature first, then the principal's claims.
                let signed = Signed {
                    token,
                    alg,
                    kid: kid.as_deref(),
                };
                let key = self.inner.verify(set, &signed, &issuer)?;
                let parts = Parts::read(&text, &claims, issuer.policy().identity(), confirmation)?;
                drop(claims);
                let principal = Principal::from_parts(text, parts, exp);
                let admitted = self.inner.admit(token, principal, &issuer, key);
                if admitted.is_ok() {
                    observability::validation(started.elapsed());
                }
                return Ok(Step::Done(admitted));
            }
        }
        match issuer.keys().refresh() {
            Refresh::NotNow { retry_after } => Err(match snapshot {
                Some(_) => Error::InvalidToken(InvalidToken::UnknownKey),
                None => Unavailable::new(
                    Dependency::SigningKeys,
                    retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                )
                .into(),
            }),
            Refresh::Pending(refresh) => {
                // What the checks found is kept, owned, across the fetch, so the token is not
                // parsed again: the principal's claims are read now (reading only rejects) and
                // become a principal only once the signature verified.
                let parts = Parts::read(&text, &claims, issuer.policy().identity(), confirmation)?;
                drop(claims);
                let token = token.to_owned();
                let had_keys = snapshot.is_some();
                let inner = self.inner.clone();
                Ok(Step::NeedKeys(Box::pin(async move {
                    let set = match refresh.await {
                        Ok(set) => set,
                        Err(_) if had_keys => {
                            return Err(InvalidToken::UnknownKey.into());
                        }
                        Err(unavailable) => {
                            return Err(Unavailable::new(
                                Dependency::SigningKeys,
                                unavailable.retry_after,
                            )
                            .into());
                        }
                    };
                    let signed = Signed {
                        token: &token,
                        alg,
                        kid: kid.as_deref(),
                    };
                    let key = inner.verify(&set, &signed, &issuer)?;
                    let principal = Principal::from_parts(text, parts, exp);
                    inner.admit(&token, principal, &issuer, key)
                })))
            }
        }
    }

    /// The checks on unverified content; they only reject.
    fn precheck(
        &self,
        alg: Algorithm,
        typ: Option<&str>,
        claims: &Members<'_>,
        now: u64,
    ) -> Result<(Issuer, f64, Option<Confirmation>), Error> {
        if claims.contains("events") {
            // A security event token (RFC 8417 §4.6), such as a logout token.
            return Err(InvalidToken::WrongTokenKind.into());
        }
        let iss = match claims.string("iss") {
            None => {
                return Err(InvalidToken::MissingClaim { claim: "iss" }.into());
            }
            Some(Some(iss)) => iss,
            Some(None) => {
                return Err(InvalidToken::InvalidClaim { claim: "iss" }.into());
            }
        };
        let issuer = self.issuer_for(&iss).ok_or(InvalidToken::UntrustedIssuer)?;
        let policy = issuer.policy();
        if !policy.accepts_typ(typ) {
            return Err(InvalidToken::WrongType.into());
        }
        if !issuer.algorithms().contains(&alg) {
            return Err(InvalidToken::DisallowedAlgorithm.into());
        }
        let exp = claims::check_times(claims, now, self.inner.leeway)?;
        claims::check_audience(claims, policy.audience_claim(), issuer.audiences())?;
        claims::check_required(claims, policy.required_claims())?;
        // `cnf`: a DPoP key or certificate binding is read once here and checked against the
        // request after the signature; any other method is refused now.
        let confirmation = Confirmation::read(claims)?;
        // Revocation rules live as long as the longest token plus the leeway (cae): a longer-lived
        // token could outlive the rule that revokes it. Every profile requires `iat`.
        let issued = claims::numeric_date(claims, "iat")?.unwrap_or(f64::NEG_INFINITY);
        if exp - issued > self.inner.max_token_lifetime as f64 {
            return Err(InvalidToken::LifetimeTooLong.into());
        }
        policy.check_claims(claims)?;
        if typ.is_none() {
            policy.check_untyped(claims)?;
        }
        Ok((issuer, exp, confirmation))
    }

    /// The trusted issuer named exactly by `iss`: a configured one, or an Entra tenant's when
    /// any tenant is accepted.
    fn issuer_for(&self, iss: &str) -> Option<Issuer> {
        self.inner.issuer_for(iss)
    }

    /// Whether every trusted issuer requires DPoP-bound tokens (RFC 9728
    /// `dpop_bound_access_tokens_required`); any-tenant Entra issuers allow bearer tokens.
    pub(crate) fn every_issuer_requires_dpop(&self) -> bool {
        self.inner.any_tenant.is_empty()
            && !self.inner.issuers.is_empty()
            && self
                .inner
                .issuers
                .values()
                .all(|issuer| issuer.dpop_policy() == crate::issuer::DpopPolicy::Required)
    }

    /// The DPoP policy of the issuer of this principal's token.
    pub(crate) fn dpop_policy(&self, principal: &Principal) -> crate::issuer::DpopPolicy {
        if self.inner.dpop_all_allowed {
            return crate::issuer::DpopPolicy::Allowed;
        }
        self.issuer_for(principal.issuer())
            .map(|issuer| issuer.dpop_policy())
            .unwrap_or_default()
    }

    /// Where a claims challenge sends this caller's client: for a Microsoft Entra token,
    /// `{authority}/common/oauth2/authorize`; for any other issuer, its `authorization_endpoint`
    /// from discovery. `None` (no claims challenge, the RFC 6750 / RFC 9470 answer instead) for an
    /// issuer whose authorization endpoint is not known.
    pub(crate) fn claims_challenge_uri(&self, principal: &Principal) -> Option<String> {
        self.inner.claims_challenge_uri(principal)
    }
}

impl Inner {
    fn issuer_for(&self, iss: &str) -> Option<Issuer> {
        if let Some(issuer) = self.issuers.get(iss) {
            return Some(issuer.clone());
        }
        self.any_tenant.iter().find_map(|any| any.issuer_for(iss))
    }

    fn claims_challenge_uri(&self, principal: &Principal) -> Option<String> {
        let issuer = self.issuer_for(principal.issuer())?;
        match issuer.profile() {
            Profile::Entra => Some(self.authorization_uri.clone()),
            _ => issuer
                .keys()
                .authorization_endpoint()
                .map(|url| url.to_string()),
        }
    }

    /// Key lookup, key/algorithm binding, signature, key ownership: the key that verified.
    fn verify<'k>(
        &self,
        keys: &'k KeySet,
        signed: &Signed<'_>,
        issuer: &Issuer,
    ) -> Result<&'k Arc<VerifyingKey>, Error> {
        let key = keys
            .find(signed.kid, signed.alg)
            .ok_or(InvalidToken::UnknownKey)?;
        if !key.allows(signed.alg) {
            return Err(InvalidToken::AlgorithmMismatch.into());
        }
        // A key set shared between issuers (Entra's, for every tenant): the key must belong to
        // the token's issuer (RFC 8725 §3.8). A property of the key and the issuer, checked
        // before the signature costs anything.
        if !issuer.policy().owns_key(key.issuer(), issuer.issuer()) {
            return Err(InvalidToken::KeyOfAnotherIssuer.into());
        }
        // The token passed strict parsing: exactly three segments, so the last dot ends the
        // signing input.
        let (signing_input, signature) = signed
            .token
            .rsplit_once('.')
            .ok_or(Malformed::SegmentCount)?;
        let signature = token::decode_signature(signature)?;
        if !key.verify(signed.alg, signing_input.as_bytes(), &signature) {
            return Err(InvalidToken::BadSignature.into());
        }
        Ok(key)
    }

    /// After the signature: the client allow-list, revocation, and the cache.
    fn admit(
        &self,
        token: &str,
        principal: Principal,
        issuer: &Issuer,
        key: &Arc<VerifyingKey>,
    ) -> Result<Principal, Error> {
        // Every client claim the token carries must be allowed (a fence, so it fails closed):
        // a second claim naming another client is not ignored.
        if let Some(allowed) = issuer.allowed_clients()
            && !principal.clients_all_in(allowed)
        {
            return Err(Forbidden::ClientNotAllowed.into());
        }
        let principal = self.check_revocation(principal)?;
        if let Some(cache) = &self.cache {
            cache.insert(token, principal.clone(), key);
        }
        Ok(principal)
    }

    /// Revocation (CAE), on every request, cached or not.
    fn check_revocation(&self, principal: Principal) -> Result<Principal, Error> {
        if let Err(stale) = self.revocations.ensure_current() {
            return Err(Unavailable::new(Dependency::Revocations, stale.retry_after()).into());
        }
        match self.revocations.revoked_since(&principal) {
            None => Ok(principal),
            Some(at) => {
                observability::revocation_hit();
                let challenge = principal
                    .is_cae_capable()
                    .then(|| self.claims_challenge_uri(&principal))
                    .flatten()
                    .map(|authorization_uri| ClaimsChallenge {
                        authorization_uri,
                        claims: cae::claims_challenge(&cae::nbf_claims_request(at)),
                    });
                Err(Error::Revoked { at, challenge })
            }
        }
    }
}

/// The parts of a token the signature check reads.
struct Signed<'t> {
    token: &'t str,
    alg: Algorithm,
    kid: Option<&'t str>,
}

/// Configures a [`Validator`]; see [`Validator::builder`].
#[must_use]
#[derive(Debug)]
pub struct ValidatorBuilder {
    issuers: Vec<Issuer>,
    any_tenant: Vec<Arc<AnyTenant>>,
    revocations: Option<Arc<dyn RevocationStore>>,
    cae_authority: Option<String>,
    max_token_lifetime: Duration,
    token_cache: usize,
    leeway: Duration,
    max_token_bytes: usize,
    clock: Option<Arc<dyn Clock>>,
}

impl ValidatorBuilder {
    /// Trusts an issuer.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Trusts Microsoft Entra issuers (see [`Entra`]).
    pub fn entra(mut self, entra: Entra) -> Self {
        self.cae_authority.get_or_insert(entra.authority);
        self.issuers.extend(entra.issuers);
        self.any_tenant.extend(entra.any_tenant);
        self
    }

    /// Uses this revocation store (default: an [`InMemoryRevocations`]).
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// The longest lifetime (`exp` − `iat`) a token may have (default 28 hours and 10 minutes:
    /// Entra's longest CAE token plus a margin for its backdated `iat`). Longer-lived tokens are refused, so a revocation rule, kept this long plus the
    /// leeway, outlives every token it could match. A store you provide must keep its rules at
    /// least that long.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// How many verified tokens to remember (default 16,384; 0 turns the cache off). A token
    /// seen before skips parsing and signature work until it expires or its key leaves the key
    /// set; revocation is still checked on every request.
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_cache = capacity;
        self
    }

    /// The authority named in claims challenges to the clients of Entra tokens
    /// (`{authority}/common/oauth2/authorize`); default
    /// the Entra authority if configured, else `https://login.microsoftonline.com`.
    pub fn cae_authority(mut self, authority: impl Into<String>) -> Self {
        self.cae_authority = Some(authority.into());
        self
    }

    /// Sets the one leeway applied to `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the cap on token length (default 16 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Reads the time from this clock (default [`SystemClock`]): token expiry, the age of an
    /// authentication, and the default revocation store's rule lifetimes. Tests set one they
    /// move (for example `warden_testing::TestClock`, which follows tokio's paused time).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if no issuer is configured, an issuer appears twice, the leeway exceeds
    /// 5 minutes (RFC 9068 §4: "no more than a few minutes"), the token cap is under 1 KiB, or the
    /// revocation store keeps rules for less than the longest token lifetime plus the leeway.
    pub fn build(self) -> Result<Validator, ConfigError> {
        if self.issuers.is_empty() && self.any_tenant.is_empty() {
            return Err(ConfigError::missing(Setting::Issuer));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::invalid(
                Setting::Leeway,
                "must be at most 300 seconds",
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.max_token_bytes) {
            return Err(ConfigError::invalid(
                Setting::MaxTokenBytes,
                "must be between 1024 and 1048576",
            ));
        }
        if let Some(retention) = self
            .revocations
            .as_ref()
            .and_then(|store| store.retention())
            && retention < self.max_token_lifetime.saturating_add(self.leeway)
        {
            // The store would forget a rule while a token it matches is still accepted.
            return Err(ConfigError::invalid(
                Setting::Revocations,
                "keeps rules for less than the longest token lifetime plus the leeway",
            ));
        }
        let authority = self
            .cae_authority
            .unwrap_or_else(|| crate::entra::DEFAULT_AUTHORITY.to_owned());
        crate::url::check_issuer_url(&authority, Setting::CaeAuthority)?;
        let authorization_uri = format!(
            "{}/common/oauth2/authorize",
            authority.trim_end_matches('/')
        );
        let mut issuers = HashMap::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            let name = issuer.issuer().to_owned();
            if issuers.insert(name, issuer).is_some() {
                return Err(ConfigError::invalid(Setting::Issuer, "configured twice"));
            }
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let dpop_all_allowed = issuers
            .values()
            .all(|issuer| issuer.dpop_policy() == crate::issuer::DpopPolicy::Allowed);
        Ok(Validator {
            inner: Arc::new(Inner {
                issuers,
                any_tenant: self.any_tenant,
                // Rules outlive every token they could match: the longest lifetime plus the leeway
                // during which an expired token is still accepted.
                revocations: self.revocations.unwrap_or_else(|| {
                    Arc::new(
                        InMemoryRevocations::with_retention(
                            self.max_token_lifetime.saturating_add(self.leeway),
                        )
                        .with_clock(clock.clone()),
                    )
                }),
                dpop_all_allowed,
                max_token_lifetime: self.max_token_lifetime.as_secs(),
                cache: (self.token_cache > 0).then(|| TokenCache::new(self.token_cache)),
                authorization_uri,
                leeway: self.leeway.as_secs(),
                max_token_bytes: self.max_token_bytes,
                clock,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_token_caps_out_of_range() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let issuer = || {
            Issuer::builder("https://a.example")
                .audience("x")
                .jwks(jwks)
                .build()
                .unwrap()
        };
        for cap in [0, 1023, 2 * 1024 * 1024] {
            let err = Validator::builder()
                .issuer(issuer())
                .max_token_bytes(cap)
                .build()
                .unwrap_err();
            assert_eq!(err.setting(), crate::error::Setting::MaxTokenBytes);
            assert_eq!(err.field(), "max_token_bytes");
        }
        assert!(
            Validator::builder()
                .issuer(issuer())
                .max_token_bytes(1024 * 1024)
                .build()
                .is_ok()
        );
    }
}
