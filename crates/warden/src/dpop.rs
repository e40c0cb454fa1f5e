//! DPoP (RFC 9449): tokens bound to a key the client holds, so a stolen token is useless without
//! that key.
//!
//! A DPoP-bound access token carries the thumbprint of the client's public key (`cnf.jkt`); the
//! client sends it as `Authorization: DPoP <token>` with a fresh proof in the `DPoP` header: a
//! JWS over the request's method and URL, signed with that key. warden checks every step of
//! RFC 9449 §4.3:
//!
//! | check | refused with |
//! |---|---|
//! | exactly one `DPoP` header, a compact JWS | 401 `invalid_dpop_proof` |
//! | `typ` `dpop+jwt`; `alg` asymmetric and on the allow-list; no `jku`/`x5u`/`x5c`/`crit` | 401 `invalid_dpop_proof` |
//! | `jwk` a public key (no private members), signature verified with it | 401 `invalid_dpop_proof` |
//! | `jti`, `htm`, `htu`, `iat`, `ath` present; `jti` at most 256 bytes | 401 `invalid_dpop_proof` |
//! | `htm` the request's method; `htu` the request's URL without query and fragment, both normalised (RFC 3986 §6.2.2–6.2.3) | 401 `invalid_dpop_proof` |
//! | `iat` within the window (default 60 s old, 5 s ahead) | 401 `invalid_dpop_proof` |
//! | `ath` the base64url SHA-256 of the access token | 401 `invalid_dpop_proof` |
//! | the proof key's RFC 7638 thumbprint is the token's `cnf.jkt` | 401 `invalid_token`, "Invalid DPoP key binding" |
//! | the proof not seen before within its window ([`ProofReplayCache`]) | 401 `invalid_dpop_proof` |
//!
//! A DPoP-bound token sent with the `Bearer` scheme is refused (no downgrade, §7.2), and a token
//! without a binding sent with the `DPoP` scheme is refused too, so the label `DPoP` can never
//! stand for a sender constraint that is not there.
//!
//! The request URL is the configured public URL ([`DpopBuilder::public_url`]) followed by the
//! request's path, or else the URL built from the request: its scheme (`http` unless the request
//! line says otherwise), its `Host` (parsed as an authority), its path. The client chooses
//! `Host`: set the public URL in production, so a proof made for another server accepting the
//! same token cannot be presented here under that server's name.
//!
//! DPoP is on by default, beside bearer tokens: when a provider starts binding tokens, the API
//! needs no change. Every 401 then carries two challenges, `Bearer …` first and
//! `DPoP algs="…"` second.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::error::{BindingError, ConfigError, Error, ProofError, Setting};
use crate::json;

/// The algorithms a proof may use unless told otherwise: the asymmetric ones DPoP clients use.
pub const DEFAULT_PROOF_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// The longest `jti` accepted (RFC 9449 §11.1: "reject … unnecessarily large jti values").
const MAX_JTI_BYTES: usize = 256;

/// The longest proof accepted.
const MAX_PROOF_BYTES: usize = 8 * 1024;

/// How DPoP proofs are checked. Built with [`Dpop::builder`]; given to
/// [`WardenBuilder::dpop`](crate::WardenBuilder::dpop). Cheap to clone.
#[derive(Clone)]
pub struct Dpop {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    algorithms: Vec<Algorithm>,
    algs_param: String,
    max_age: Duration,
    future_skew: Duration,
    public_url: Option<String>,
    replay: Arc<dyn ProofReplayCache>,
    /// Whether `replay` is the default in-memory cache (not one the application gave).
    default_replay: bool,
    nonces: Option<Nonces>,
}

/// Server nonces (RFC 9449 §8, §9): an HMAC of the current period under a secret, so every
/// replica that shares the secret issues and accepts the same nonces with no state; a nonce is
/// accepted during its period and the next one.
#[derive(Clone)]
struct Nonces {
    key: aws_lc_rs::hmac::Key,
    period: Duration,
}

impl Nonces {
    fn for_period(&self, period: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, &period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    fn current(&self, now: u64) -> String {
        self.for_period(now / self.period.as_secs().max(1))
    }

    fn accepts(&self, nonce: &str, now: u64) -> bool {
        let period = now / self.period.as_secs().max(1);
        nonce == self.for_period(period) || nonce == self.for_period(period.saturating_sub(1))
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("algorithms", &self.inner.algorithms)
            .field("max_age", &self.inner.max_age)
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

impl Default for Dpop {
    /// The defaults of [`Dpop::builder`] (which always pass its checks).
    fn default() -> Self {
        Dpop::builder().assemble(None)
    }
}

fn algs_param(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Dpop {
    /// Starts configuring.
    pub fn builder() -> DpopBuilder {
        DpopBuilder {
            algorithms: DEFAULT_PROOF_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(60),
            future_skew: Duration::from_secs(5),
            public_url: None,
            replay: None,
            nonces: None,
        }
    }

    /// The algorithms a proof may use, as sent in the challenge's `algs`.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    pub(crate) fn algs_param(&self) -> &str {
        &self.inner.algs_param
    }

    pub(crate) fn replay_cache(&self) -> &Arc<dyn ProofReplayCache> {
        &self.inner.replay
    }

    /// This configuration with its default replay cache (not one the application gave) reading
    /// `clock`, the validator's, so the cache sweeps by the clock that judges proofs.
    pub(crate) fn with_clock(self, clock: Arc<dyn crate::clock::Clock>) -> Dpop {
        if !self.inner.default_replay {
            return self;
        }
        Dpop {
            inner: Arc::new(Inner {
                replay: Arc::new(InMemoryProofReplay::default().with_clock(clock)),
                ..(*self.inner).clone()
            }),
        }
    }

    /// Checks the request's proof for `access_token` (RFC 9449 §4.3, every step but the key
    /// binding and replay, which need the token's `cnf` and the cache).
    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        access_token: &str,
        now: u64,
    ) -> Result<VerifiedProof, Error> {
        let mut proofs = headers.get_all("dpop").iter();
        let proof = proofs.next().ok_or(ProofError::Missing)?;
        if proofs.next().is_some() {
            return Err(ProofError::Multiple.into());
        }
        let proof = proof.to_str().map_err(|_| ProofError::Malformed)?;
        if proof.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed.into());
        }
        let expected_url = self.request_url(headers, uri).ok_or(ProofError::WrongUrl)?;
        let parsed = parse_proof(proof, &self.inner.algorithms)?;
        let claims = json::parse_members(&parsed.payload).map_err(|_| ProofError::Malformed)?;
        let text = |name: &'static str| match claims.string(name) {
            Some(Some(value)) => Ok(value),
            _ => Err(Error::from(ProofError::MissingClaim)),
        };
        let jti = text("jti")?;
        let htm = text("htm")?;
        let htu = text("htu")?;
        let ath = text("ath")?;
        let iat = claims
            .get("iat")
            .and_then(|v| v.as_f64())
            .ok_or(ProofError::MissingClaim)?;
        if jti.is_empty() {
            return Err(ProofError::MissingClaim.into());
        }
        if jti.len() > MAX_JTI_BYTES {
            return Err(ProofError::JtiTooLong.into());
        }
        if htm != method.as_str() {
            return Err(ProofError::WrongMethod.into());
        }
        let proof_url = normalize_url(&htu).ok_or(ProofError::WrongUrl)?;
        if proof_url != expected_url {
            return Err(ProofError::WrongUrl.into());
        }
        let now_f = now as f64;
        if iat < now_f - self.inner.max_age.as_secs_f64()
            || iat > now_f + self.inner.future_skew.as_secs_f64()
        {
            return Err(ProofError::OutsideWindow.into());
        }
        if ath != token_hash(access_token) {
            return Err(ProofError::WrongTokenHash.into());
        }
        if let Some(nonces) = &self.inner.nonces {
            // §11.3: once nonces are on, a proof without a current one is not accepted.
            let fresh =
                matches!(claims.string("nonce"), Some(Some(nonce)) if nonces.accepts(&nonce, now));
            if !fresh {
                return Err(BindingError::UseNonce {
                    nonce: nonces.current(now),
                }
                .into());
            }
        }
        // Replay key: the target URI and the jti, hashed (§11.1: store only a hash).
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(expected_url.as_bytes());
        context.update(&[0]);
        context.update(jti.as_bytes());
        let mut replay_key = [0u8; 32];
        replay_key.copy_from_slice(context.finish().as_ref());
        let window = self.inner.max_age + self.inner.future_skew;
        Ok(VerifiedProof {
            jkt: parsed.thumbprint,
            replay_key: ProofKey(replay_key),
            expires_at: (iat.max(0.0) as u64).saturating_add(window.as_secs()) + 1,
        })
    }

    /// The URL the proof must name: the public URL and the request's path, or the URL built
    /// from the request; normalised.
    fn request_url(&self, headers: &HeaderMap, uri: &Uri) -> Option<String> {
        let path = uri.path();
        let url = match &self.inner.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => {
                let scheme = uri.scheme_str().unwrap_or("http");
                // `Host` as an authority and nothing more: a value smuggling a path, query or
                // userinfo (`api.example.com/a?`) names no URL. The request line's authority
                // counts only without `Host` (HTTP/2's `:authority`).
                let host = match headers.get(http::header::HOST) {
                    Some(host) => host.to_str().ok()?,
                    None => uri.authority()?.as_str(),
                };
                let authority: http::uri::Authority = host.parse().ok()?;
                if authority.as_str().contains('@') {
                    return None;
                }
                format!("{scheme}://{authority}{path}")
            }
        };
        normalize_url(&url)
    }
}

/// Configures [`Dpop`].
#[derive(Clone)]
pub struct DpopBuilder {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    future_skew: Duration,
    public_url: Option<String>,
    replay: Option<Arc<dyn ProofReplayCache>>,
    nonces: Option<(Vec<u8>, Duration)>,
}

impl fmt::Debug for DpopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBuilder")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl DpopBuilder {
    /// The algorithms a proof may use (default [`DEFAULT_PROOF_ALGORITHMS`]); all asymmetric.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old a proof may be (`iat`, default 60 s). Proofs are kept in the replay cache this
    /// long plus the future skew.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead of the server's clock a proof's `iat` may be (default 5 s).
    pub fn future_skew(mut self, skew: Duration) -> Self {
        self.future_skew = skew;
        self
    }

    /// The URL clients call, for an API behind a proxy or TLS terminator
    /// (`https://api.example.com`, or with a path prefix): proofs' `htu` is compared with it
    /// plus the request's path, never with the request's own `Host`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Where seen proofs are remembered (default an [`InMemoryProofReplay`] for this process;
    /// `warden-redis` provides one a fleet shares).
    pub fn replay_cache(mut self, cache: Arc<dyn ProofReplayCache>) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Requires server nonces (RFC 9449 §9): a proof must carry the nonce the server sent in
    /// `DPoP-Nonce`, which limits how long a proof made in advance stays usable. Nonces change
    /// every `period` and are accepted during their period and the next. They are derived from
    /// `secret` (at least 32 bytes) with HMAC-SHA-256, so replicas given the same secret agree
    /// without sharing state. A refused proof gets 401 `use_dpop_nonce` with a fresh nonce.
    pub fn nonces(mut self, secret: impl Into<Vec<u8>>, period: Duration) -> Self {
        self.nonces = Some((secret.into(), period));
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `dpop`: a nonce secret under 32 bytes or a period under a second,
    /// no algorithm, a window over 10 minutes, or a public URL
    /// that is not an absolute http(s) URL.
    pub fn build(mut self) -> Result<Dpop, ConfigError> {
        let setting = Setting::Dpop;
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(setting, "allows no proof algorithm"));
        }
        if self.max_age > Duration::from_secs(600) || self.future_skew > Duration::from_secs(600) {
            return Err(ConfigError::invalid(
                setting,
                "proof window must be at most 10 minutes",
            ));
        }
        if let Some(url) = &self.public_url
            && (normalize_url(url).is_none() || url.contains('?') || url.contains('#'))
        {
            return Err(ConfigError::invalid(
                setting,
                "public URL must be an absolute http(s) URL without query or fragment",
            ));
        }
        let nonces = match self.nonces.take() {
            None => None,
            Some((secret, period)) => {
                if secret.len() < 32 || period < Duration::from_secs(1) {
                    return Err(ConfigError::invalid(
                        setting,
                        "nonces need a secret of at least 32 bytes and a period of at least a second",
                    ));
                }
                Some(Nonces {
                    key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                    period,
                })
            }
        };
        Ok(self.assemble(nonces))
    }

    /// The configuration, once checked.
    fn assemble(self, nonces: Option<Nonces>) -> Dpop {
        Dpop {
            inner: Arc::new(Inner {
                algs_param: algs_param(&self.algorithms),
                algorithms: self.algorithms,
                max_age: self.max_age,
                future_skew: self.future_skew,
                public_url: self.public_url,
                nonces,
                default_replay: self.replay.is_none(),
                replay: self
                    .replay
                    .unwrap_or_else(|| Arc::new(InMemoryProofReplay::default())),
            }),
        }
    }
}

/// A proof that passed every check of its own: its key's thumbprint, for the token's `cnf.jkt`,
/// and what the replay cache must remember.
#[derive(Debug)]
pub(crate) struct VerifiedProof {
    pub(crate) jkt: String,
    pub(crate) replay_key: ProofKey,
    pub(crate) expires_at: u64,
}

/// What a replay cache remembers of a proof: the SHA-256 of its target URL and `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProofKey(pub [u8; 32]);

/// The future [`ProofReplayCache::first_use`] returns.
pub type FirstUse<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayCacheError>> + Send + 'a>>;

/// Remembers the proofs seen within their window, so each is accepted once (RFC 9449 §11.1).
/// Asked only on DPoP requests.
pub trait ProofReplayCache: Send + Sync + fmt::Debug + 'static {
    /// Records `key`, a proof of the client key whose thumbprint is `jkt`, until `expires_at`;
    /// `true` if it was not there (first use), `false` for a replay. `now` and `expires_at` are
    /// seconds since the Unix epoch by the validator's clock, which judged the proof's window: a
    /// cache measures the key's life from them, never by a clock of its own.
    fn first_use(&self, jkt: &str, key: ProofKey, now: u64, expires_at: u64) -> FirstUse<'_>;
}

/// Why a replay cache could not answer. The request is answered 503 with `Retry-After`: a proof
/// that cannot be checked for replay is not accepted.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayCacheError {
    /// The cache holds as many proofs as it may.
    Full,
    /// This client key has used its share of the cache in the current minute.
    KeyQuota,
    /// The shared backend could not be reached.
    Unavailable {
        /// What the backend's client reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl fmt::Display for ReplayCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayCacheError::Full => f.write_str("DPoP replay cache full"),
            ReplayCacheError::KeyQuota => f.write_str("too many DPoP proofs for this key"),
            ReplayCacheError::Unavailable { source } => {
                write!(f, "DPoP replay cache unavailable: {source}")
            }
        }
    }
}

impl std::error::Error for ReplayCacheError {}

/// The embedded replay cache: proofs of this process, in a lock-free map, at most `capacity` at
/// once (default 1,000,000: about a minute of 16,000 DPoP requests a second). Expired proofs are
/// swept by a background thread once a second, never on the request path. One client key may
/// hold at most a hundredth of the capacity in a minute, so one client cannot fill the cache for
/// the others; beyond it, that key's proofs are refused (503). When the cache is full, new proofs
/// are refused (503) rather than forgetting one still in its window.
pub struct InMemoryProofReplay {
    state: Arc<ReplayState>,
    /// The sweeper starts with the first proof: a layer that never sees DPoP runs no thread.
    sweeper: std::sync::Once,
}

struct ReplayState {
    seen: papaya::HashMap<ProofKey, u64>,
    /// Proofs per client key (thumbprint) in the current minute: (minute, count).
    per_key: papaya::HashMap<Box<str>, (u64, usize)>,
    capacity: usize,
    per_key_limit: usize,
    clock: Arc<dyn crate::clock::Clock>,
}

impl fmt::Debug for InMemoryProofReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryProofReplay")
            .field("len", &self.state.seen.len())
            .field("capacity", &self.state.capacity)
            .finish()
    }
}

impl Default for InMemoryProofReplay {
    fn default() -> Self {
        Self::with_capacity(1_000_000)
    }
}

/// The window of the per-key quota.
const QUOTA_WINDOW_SECS: u64 = 60;

impl InMemoryProofReplay {
    /// A cache holding at most `capacity` proofs.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::build(capacity, Arc::new(crate::clock::SystemClock))
    }

    /// Reads the time from this clock (expiry and the per-key quota).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self::build(self.state.capacity, clock)
    }

    fn build(capacity: usize, clock: Arc<dyn crate::clock::Clock>) -> Self {
        let state = Arc::new(ReplayState {
            seen: papaya::HashMap::new(),
            per_key: papaya::HashMap::new(),
            capacity,
            per_key_limit: (capacity / 100).max(1),
            clock,
        });
        InMemoryProofReplay {
            state,
            sweeper: std::sync::Once::new(),
        }
    }

    /// Starts the thread that sweeps expired proofs once a second; it holds the state weakly
    /// and ends with the cache.
    fn start_sweeper(&self) {
        let weak = Arc::downgrade(&self.state);
        let _ = std::thread::Builder::new()
            .name("warden-dpop-sweep".into())
            .spawn(move || {
                while let Some(state) = weak.upgrade() {
                    state.sweep();
                    drop(state);
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
    }

    /// Records a proof of the client key `jkt`.
    fn record(
        &self,
        jkt: &str,
        key: ProofKey,
        now: u64,
        expires_at: u64,
    ) -> Result<bool, ReplayCacheError> {
        self.sweeper.call_once(|| self.start_sweeper());
        let state = &self.state;
        let seen = state.seen.pin();
        if let Some(expiry) = seen.get(&key)
            && *expiry > now
        {
            return Ok(false);
        }
        let minute = now / QUOTA_WINDOW_SECS;
        let per_key = state.per_key.pin();
        let (_, count) = per_key.update_or_insert_with(
            jkt.into(),
            |&(m, count)| {
                if m == minute {
                    (m, count + 1)
                } else {
                    (minute, 1)
                }
            },
            || (minute, 1),
        );
        if *count > state.per_key_limit {
            return Err(ReplayCacheError::KeyQuota);
        }
        if seen.len() >= state.capacity {
            return Err(ReplayCacheError::Full);
        }
        match seen.try_insert(key, expires_at) {
            Ok(_) => Ok(true),
            // An expired entry not yet swept may be replaced; a live one is a replay.
            Err(occupied) if *occupied.current <= now => {
                seen.insert(key, expires_at);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

impl ReplayState {
    fn sweep(&self) {
        let now = crate::clock::unix_secs(&*self.clock);
        self.seen.pin().retain(|_, expiry| *expiry > now);
        let minute = now / QUOTA_WINDOW_SECS;
        self.per_key.pin().retain(|_, (m, _)| *m == minute);
    }
}

impl ProofReplayCache for InMemoryProofReplay {
    fn first_use(&self, jkt: &str, key: ProofKey, now: u64, expires_at: u64) -> FirstUse<'_> {
        Box::pin(std::future::ready(self.record(jkt, key, now, expires_at)))
    }
}

/// A parsed, signature-checked proof.
struct ParsedProof {
    payload: String,
    thumbprint: String,
}

/// Splits, checks the header and verifies the signature with the header's own `jwk`.
fn parse_proof(proof: &str, allowed: &[Algorithm]) -> Result<ParsedProof, Error> {
    let mut segments = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(ProofError::Malformed.into());
    };
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| Error::from(ProofError::Malformed))
    };
    let header_text = String::from_utf8(decode(header_b64)?).map_err(|_| ProofError::Malformed)?;
    let header = json::parse_members(&header_text).map_err(|_| ProofError::Malformed)?;
    let typ = match header.string("typ") {
        Some(Some(typ)) => typ,
        _ => return Err(ProofError::WrongType.into()),
    };
    if !crate::issuer::typ_is(Some(&typ), &["dpop+jwt"]) {
        return Err(ProofError::WrongType.into());
    }
    if header.contains("crit") || ["jku", "x5u", "x5c"].iter().any(|p| header.contains(p)) {
        return Err(ProofError::Malformed.into());
    }
    let alg = match header.string("alg") {
        Some(Some(alg)) => alg
            .parse::<Algorithm>()
            .map_err(|_| ProofError::DisallowedAlgorithm)?,
        _ => return Err(ProofError::DisallowedAlgorithm.into()),
    };
    if !allowed.contains(&alg) {
        return Err(ProofError::DisallowedAlgorithm.into());
    }
    let jwk: Value = header
        .get("jwk")
        .filter(Value::is_object)
        .ok_or(ProofError::BadKey)?;
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
    if PRIVATE.iter().any(|m| jwk.get(m).is_some()) {
        return Err(ProofError::PrivateKey.into());
    }
    let key = crate::keys::parse_jwk(&jwk, &[alg]).map_err(|_| ProofError::BadKey)?;
    if !key.allows(alg) {
        return Err(ProofError::DisallowedAlgorithm.into());
    }
    let signature = decode(signature_b64)?;
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(alg, signing_input.as_bytes(), &signature) {
        return Err(ProofError::BadSignature.into());
    }
    let payload = String::from_utf8(decode(payload_b64)?).map_err(|_| ProofError::Malformed)?;
    let thumbprint = thumbprint(&jwk).ok_or(ProofError::BadKey)?;
    Ok(ParsedProof {
        payload,
        thumbprint,
    })
}

/// The RFC 7638 thumbprint of a public JWK: base64url SHA-256 of its required members in
/// lexicographic order, with no whitespace. `None` for a key type without a thumbprint rule.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| -> Option<String> {
        jwk.get(name)
            .and_then(Value::as_str)
            .map(|v| serde_json::to_string(v).unwrap_or_default())
    };
    let canonical = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member("crv")?,
            member("x")?
        ),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// `ath`: base64url SHA-256 of the access token's ASCII.
pub fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, access_token.as_bytes()))
}

/// A URL normalised for comparison (RFC 3986 §6.2.2 and §6.2.3): scheme and host lower case,
/// the default port dropped, an empty path made `/`, percent-encoded unreserved characters
/// decoded and other escapes upper-cased, dot segments removed; query and fragment dropped (RFC
/// 9449 compares `htu` without them). `None` for anything but an absolute http(s) URL.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let rest = rest.split(['#', '?']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match authority.rsplit_once(':') {
        // `[::1]:443`, `host:443`, `host:` (an empty port); a bare IPv6 literal keeps its colons.
        Some((host, port)) if !port.contains(']') && (port.is_empty() || port == default_port) => {
            host.to_owned()
        }
        _ => authority,
    };
    let path = normalize_escapes(path)?;
    let path = remove_dot_segments(if path.is_empty() { "/" } else { &path });
    Some(format!("{scheme}://{authority}{path}"))
}

/// Decodes escapes of unreserved characters, upper-cases the rest (RFC 3986 §6.2.2.1–2).
fn normalize_escapes(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                out.push(value as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    path.is_ascii().then_some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                output.pop();
                trailing_slash = i == last;
            }
            other => {
                output.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::from("/");
    result.push_str(&output.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9449 §7.1's example request, verbatim, with the clock at its `iat`.
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const RFC_IAT: u64 = 1_562_262_618;

    fn rfc_request(proof: &str) -> (HeaderMap, Method, Uri) {
        let mut headers = HeaderMap::new();
        headers.insert("host", "resource.example.org".parse().unwrap());
        headers.insert("dpop", proof.parse().unwrap());
        let uri: Uri = "/protectedresource".parse().unwrap();
        (headers, Method::GET, uri)
    }

    #[test]
    fn verifies_rfc_9449s_own_example() {
        let dpop = Dpop::builder()
            .public_url("https://resource.example.org")
            .build()
            .unwrap();
        let (headers, method, uri) = rfc_request(RFC_PROOF);
        let proof = dpop
            .verify(&headers, &method, &uri, RFC_TOKEN, RFC_IAT)
            .unwrap();
        assert_eq!(proof.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");

        // Each mutation of the context is refused by its own check.
        let refused =
            |dpop: &Dpop, headers: &HeaderMap, method: &Method, uri: &Uri, token: &str, now| {
                match dpop.verify(headers, method, uri, token, now) {
                    Err(Error::Binding(BindingError::InvalidProof(reason))) => reason,
                    other => panic!("{other:?}"),
                }
            };
        assert_eq!(
            refused(&dpop, &headers, &Method::POST, &uri, RFC_TOKEN, RFC_IAT),
            ProofError::WrongMethod
        );
        let other: Uri = "/other".parse().unwrap();
        assert_eq!(
            refused(&dpop, &headers, &method, &other, RFC_TOKEN, RFC_IAT),
            ProofError::WrongUrl
        );
        assert_eq!(
            refused(&dpop, &headers, &method, &uri, "another-token", RFC_IAT),
            ProofError::WrongTokenHash
        );
        assert_eq!(
            refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT + 61),
            ProofError::OutsideWindow
        );
        assert_eq!(
            refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT - 6),
            ProofError::OutsideWindow
        );
        // From the request itself (no public URL), `http` is not the proof's `https`.
        let from_request = Dpop::default();
        assert_eq!(
            refused(&from_request, &headers, &method, &uri, RFC_TOKEN, RFC_IAT),
            ProofError::WrongUrl
        );
        // A query on the request is ignored; a tampered signature is not.
        let with_query: Uri = "/protectedresource?page=2".parse().unwrap();
        assert!(
            dpop.verify(&headers, &method, &with_query, RFC_TOKEN, RFC_IAT)
                .is_ok()
        );
        let mut tampered = RFC_PROOF.to_owned();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        let (headers, method, uri) = rfc_request(&tampered);
        assert_eq!(
            refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT),
            ProofError::BadSignature
        );
    }

    #[test]
    fn rfc_7638_thumbprint_example() {
        let jwk: Value = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc_9449_key_thumbprint_and_token_hash() {
        // RFC 9449 §6.1 and §7.1's example key and access token.
        let jwk: Value = serde_json::from_str(r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn urls_compare_after_normalisation() {
        let request = normalize_url("https://resource.example.org/protectedresource").unwrap();
        for same in [
            "HTTPS://Resource.Example.ORG/protectedresource",
            "https://resource.example.org:443/protectedresource",
            "https://resource.example.org/%70rotectedresource",
            "https://resource.example.org/x/../protectedresource",
            "https://resource.example.org/./protectedresource",
            "https://resource.example.org/protectedresource?query=1#fragment",
        ] {
            assert_eq!(
                normalize_url(same).as_deref(),
                Some(request.as_str()),
                "{same}"
            );
        }
        for other in [
            "https://resource.example.org/Protectedresource",
            "https://resource.example.org:8443/protectedresource",
            "http://resource.example.org/protectedresource",
            "https://other.example.org/protectedresource",
        ] {
            assert_ne!(
                normalize_url(other).as_deref(),
                Some(request.as_str()),
                "{other}"
            );
        }
        // §6.2.3: these are the same.
        let root = normalize_url("http://example.com").unwrap();
        for same in [
            "http://example.com/",
            "http://example.com:/",
            "http://example.com:80/",
        ] {
            assert_eq!(
                normalize_url(same).as_deref(),
                Some(root.as_str()),
                "{same}"
            );
        }
        assert_eq!(
            normalize_url("http://[::1]:80/a%2fb").as_deref(),
            Some("http://[::1]/a%2Fb")
        );
        assert_eq!(normalize_url("ftp://x/"), None);
        assert_eq!(normalize_url("https://user@x/"), None);
        assert_eq!(normalize_url("https://x/%zz"), None);
    }

    #[test]
    fn a_proof_is_accepted_once_within_its_window() {
        let cache = InMemoryProofReplay::with_capacity(200);
        let now = crate::clock::unix_secs(&crate::clock::SystemClock);
        let key = ProofKey([1; 32]);
        assert!(cache.record("a", key, now, now + 60).unwrap());
        assert!(!cache.record("a", key, now, now + 60).unwrap());
        assert!(cache.record("b", ProofKey([2; 32]), now, now + 60).unwrap());
        // An expired entry not yet swept is replaced.
        assert!(
            cache
                .record("c", ProofKey([3; 32]), now, now.saturating_sub(1))
                .unwrap()
        );
        assert!(cache.record("c", ProofKey([3; 32]), now, now + 60).unwrap());
    }

    #[test]
    fn one_client_key_cannot_fill_the_cache() {
        let cache = InMemoryProofReplay::with_capacity(300);
        let now = crate::clock::unix_secs(&crate::clock::SystemClock);
        // A hundredth of the capacity per key per minute: 3 proofs.
        for i in 0..3u8 {
            assert!(
                cache
                    .record("greedy", ProofKey([i; 32]), now, now + 60)
                    .unwrap()
            );
        }
        assert!(matches!(
            cache.record("greedy", ProofKey([9; 32]), now, now + 60),
            Err(ReplayCacheError::KeyQuota)
        ));
        assert!(
            cache
                .record("polite", ProofKey([10; 32]), now, now + 60)
                .unwrap()
        );
        // The cache itself is bounded too.
        let full = InMemoryProofReplay::with_capacity(100);
        for i in 0..100u8 {
            assert!(
                full.record(&format!("k{i}"), ProofKey([i; 32]), now, now + 60)
                    .unwrap()
            );
        }
        assert!(matches!(
            full.record("late", ProofKey([200; 32]), now, now + 60),
            Err(ReplayCacheError::Full)
        ));
    }
}
