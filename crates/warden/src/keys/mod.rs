//! Signing keys: where they come from ([`KeySource`]) and how one is chosen for a token ([`KeySet`]).
//!
//! Keys are bound to their issuer: each configured issuer has its own [`KeySource`], and a token's
//! `kid` is looked up only in the set of the issuer named by its `iss`. Keys carried in the token
//! (`jwk`, `jku`, `x5u`, `x5c`) are never used.
//!
//! A [`KeySet`] is immutable; a source swaps a whole new set in when keys change, so readers on the
//! request path never lock. [`StaticKeys`] serves a set given in configuration (a JWKS document or
//! PEM public keys); a fetching source plugs in through the same trait.
//!
//! # Which keys are loaded
//!
//! JWKS parsing skips, one by one and with a `tracing` warning, keys of unknown `kty` (including
//! `oct`), keys holding private members, `use` other than `sig`, `key_ops` without `verify`, RSA
//! moduli under 2048 bits or even/`1` exponents, EC coordinates of the wrong length, and an `alg`
//! outside the issuer's allow-list or not matching the key type. A JWK without `alg` is accepted
//! (Entra publishes them). A `kid` that appears twice is unusable: tokens naming it are refused.

mod jwk;
mod jwks;
mod static_keys;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};

pub use jwk::JwksError;
pub use jwks::{
    DEFAULT_COOLDOWN, DEFAULT_TTL, JwksCache, JwksCacheBuilder, MAX_BODY_BYTES, MAX_KEYS, MAX_TTL,
    MIN_TTL, fuzz_discovery,
};

pub use static_keys::StaticKeys;

/// A boxed future, as returned by [`KeySource::refresh`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where an issuer's signing keys come from.
///
/// Implementations keep an immutable [`KeySet`] behind an atomic pointer: `snapshot` is called on
/// every request and must not block or lock for long. `refresh` is called when a token names a key
/// the snapshot lacks; it decides whether a fetch is allowed now (rate limit, cooldown) and shares
/// one fetch between every request waiting on it.
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The keys known now, without waiting. `None` if no key set was ever loaded.
    fn snapshot(&self) -> Option<Arc<KeySet>>;

    /// Asks for a fresher key set because a token named a key the snapshot lacks.
    fn refresh(&self) -> Refresh;
}

/// The answer of [`KeySource::refresh`].
#[non_exhaustive]
pub enum Refresh {
    /// No fetch now (a static source, or a cooldown); decide with the snapshot.
    NotNow {
        /// When a fetch may next be tried, if the source knows.
        retry_after: Option<Duration>,
    },
    /// A fetch is under way; the future resolves with the new set or with the failure.
    Pending(BoxFuture<Result<Arc<KeySet>, KeysUnavailable>>),
}

impl fmt::Debug for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refresh::NotNow { retry_after } => f
                .debug_struct("NotNow")
                .field("retry_after", retry_after)
                .finish(),
            Refresh::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// A key source could not produce keys (the provider is down, its answer was invalid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysUnavailable {
    /// When to try again.
    pub retry_after: Duration,
}

/// The type and parameters of a public key, which decide the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// An RSA key of the given modulus size: RS256/384/512, PS256/384/512.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// An EC key on P-256: ES256.
    EcP256,
    /// An EC key on P-384: ES384.
    EcP384,
    /// An Ed25519 key: EdDSA.
    Ed25519,
}

impl KeyType {
    /// Whether a key of this type may verify `alg` (RFC 7518 §3; RFC 8725 §3.1).
    pub fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyType::Rsa { .. } => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyType::EcP256 => alg == ES256,
            KeyType::EcP384 => alg == ES384,
            KeyType::Ed25519 => alg == EdDSA,
        }
    }
}

/// One public key able to verify signatures, with what it may be used for.
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    key_type: KeyType,
    alg: Option<Algorithm>,
    issuer: Option<Arc<str>>,
    decoding: DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    pub(crate) fn new(
        kid: Option<&str>,
        key_type: KeyType,
        alg: Option<Algorithm>,
        issuer: Option<&str>,
        decoding: DecodingKey,
    ) -> Self {
        VerifyingKey {
            kid: kid.map(Into::into),
            key_type,
            alg,
            issuer: issuer.map(Into::into),
            decoding,
        }
    }

    /// The key id (`kid`), if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The JWK `alg`, if the key was published with one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The JWK `issuer` member (Microsoft Entra publishes one on each key), if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Whether this key may verify `alg`: its type allows it and its JWK `alg`, if any, names it.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.key_type.allows(alg) && self.alg.is_none_or(|own| own == alg)
    }

    /// Verifies `signature` over `message` with `alg`, which the caller has already checked with
    /// [`allows`](Self::allows).
    ///
    /// The aws-lc-rs provider of jsonwebtoken is named explicitly rather than taken from the
    /// process default, so a build in which feature unification enables a second jsonwebtoken
    /// backend still verifies (the process default would panic).
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: Vec<u8>) -> bool {
        if !self.allows(alg) {
            return false;
        }
        let factory = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory;
        match factory(&alg, &self.decoding) {
            Ok(verifier) => verifier.verify(message, &signature).is_ok(),
            Err(_) => false,
        }
    }
}

/// An immutable set of one issuer's keys, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<Arc<str>, Arc<VerifyingKey>>,
    without_kid: Vec<Arc<VerifyingKey>>,
    unusable_kids: HashSet<Arc<str>>,
}

impl KeySet {
    /// Builds a set from keys; a `kid` given to two keys becomes unusable.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let mut set = KeySet::default();
        for key in keys {
            let key = Arc::new(key);
            match key.kid.clone() {
                None => set.without_kid.push(key),
                Some(kid) => {
                    if set.unusable_kids.contains(&kid) {
                        continue;
                    }
                    if set.by_kid.remove(&kid).is_some() {
                        tracing::warn!(kid = %kid, "key id appears twice in the key set; it is unusable");
                        set.unusable_kids.insert(kid);
                    } else {
                        set.by_kid.insert(kid, key);
                    }
                }
            }
        }
        set
    }

    /// Parses a JWKS document (RFC 7517 §5), keeping the keys usable with `allowed` algorithms.
    ///
    /// # Errors
    ///
    /// [`JwksError`] if the document is not a JSON object with a `keys` array. Single bad keys are
    /// skipped with a warning, not errors.
    pub fn from_jwks(document: &[u8], allowed: &[Algorithm]) -> Result<Self, JwksError> {
        jwk::parse_jwks(document, allowed).map(KeySet::from_keys)
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a key with this exact `kid` is in the set.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Every usable key.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.by_kid.values().chain(self.without_kid.iter())
    }

    /// Finds the key for a token: by exact `kid` if it names one; without `kid`, the single key
    /// that allows `alg` (none or several: no key, rather than trying each).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Arc<VerifyingKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => {
                let mut candidates = self.keys().filter(|key| key.allows(alg));
                let first = candidates.next()?;
                candidates.next().is_none().then_some(first)
            }
        }
    }
}
