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

mod builder;
mod htu;
mod keys;
mod proof;
mod replay;
#[cfg(test)]
mod tests;

pub use builder::DpopBuilder;
pub(crate) use proof::VerifiedProof;
pub use proof::{thumbprint, token_hash};
pub use replay::{FirstUse, InMemoryProofReplay, ProofKey, ProofReplayCache, ReplayCacheError};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};

use crate::algorithm::Algorithm;
use crate::error::{BindingError, Error, ProofError};
use crate::json;

use htu::normalize_url;
use proof::parse_proof;

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
/// [`WardenBuilder::dpop`](crate::config::WardenBuilder::dpop). Cheap to clone.
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
    /// Proof keys parsed once, by their `jwk` text and `alg`.
    keys: Arc<keys::ProofKeys>,
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
        DpopBuilder::new()
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
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        access_token: &str,
        now: u64,
    ) -> Result<VerifiedProof, Error> {
        let digest = aws_lc_rs::digest::digest(&digest::SHA256, access_token.as_bytes());
        let mut token_hash = [0u8; 32];
        token_hash.copy_from_slice(digest.as_ref());
        self.verify_for(headers, method, uri, &token_hash, now)
    }

    /// [`Dpop::verify`] for an access token whose SHA-256 is `token_hash` (the principal keeps
    /// it, so a client's later proofs do not hash the token again).
    pub(crate) fn verify_for(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        token_hash: &[u8; 32],
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
        let parsed = parse_proof(proof, &self.inner.algorithms, &self.inner.keys)?;
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
        if *proof_url != *expected_url {
            return Err(ProofError::WrongUrl.into());
        }
        let now_f = now as f64;
        if iat < now_f - self.inner.max_age.as_secs_f64()
            || iat > now_f + self.inner.future_skew.as_secs_f64()
        {
            return Err(ProofError::OutsideWindow.into());
        }
        // `ath` is the base64url of the token's SHA-256 (43 characters), compared as written.
        let mut encoded = [0u8; 43];
        let expected_ath = base64_simd::URL_SAFE_NO_PAD
            .encode_as_str(token_hash, base64_simd::Out::from_slice(&mut encoded));
        if *ath != *expected_ath {
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
        let replay_key = replay_key(&expected_url, &jti);
        let window = self.inner.max_age + self.inner.future_skew;
        Ok(VerifiedProof {
            jkt: parsed.thumbprint,
            replay_key: ProofKey(replay_key),
            expires_at: (iat.max(0.0) as u64).saturating_add(window.as_secs()) + 1,
        })
    }

    /// The URL the proof must name: the public URL and the request's path, or the URL built
    /// from the request; normalised (built once: it is usually normal already).
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
        let rebuilt = match normalize_url(&url)? {
            Cow::Borrowed(_) => None,
            Cow::Owned(normal) => Some(normal),
        };
        Some(rebuilt.unwrap_or(url))
    }
}

/// The SHA-256 of the target URI, a zero byte and the `jti`: hashed in one call from the stack
/// (no digest context to allocate), or in parts for a URL longer than a kilobyte.
fn replay_key(url: &str, jti: &str) -> [u8; 32] {
    let mut text = [0u8; 1024];
    let len = url.len() + 1 + jti.len();
    let digest = match text.get_mut(..len) {
        Some(text) => {
            text[..url.len()].copy_from_slice(url.as_bytes());
            text[url.len()] = 0;
            text[url.len() + 1..].copy_from_slice(jti.as_bytes());
            digest::digest(&digest::SHA256, text)
        }
        None => {
            let mut context = digest::Context::new(&digest::SHA256);
            context.update(url.as_bytes());
            context.update(&[0]);
            context.update(jti.as_bytes());
            context.finish()
        }
    };
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}
