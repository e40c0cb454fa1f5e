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
//! moduli under 2048 or over 8192 bits or exponents that are even or below 65537, EC coordinates of the wrong length,
//! keys aws-lc-rs refuses (an EC point off its curve, an even RSA modulus), and an `alg` outside
//! the issuer's allow-list or not matching the key type. A JWK without `alg` is accepted (Entra
//! publishes them). A `kid` that appears twice among the loaded keys is unusable: tokens naming
//! it are refused.

mod jwk;
pub(crate) use jwk::parse_jwk;
mod jwks;
mod static_keys;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::algorithm::Algorithm;
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, UnparsedPublicKey};

pub use crate::boxed::BoxFuture;
pub use jwk::JwksError;
#[cfg(feature = "fuzzing")]
pub(crate) use jwks::fuzz_discovery;
pub use jwks::{
    DEFAULT_COOLDOWN, DEFAULT_TTL, JwksCache, JwksCacheBuilder, MAX_BODY_BYTES, MAX_KEYS, MAX_TTL,
    MIN_TTL,
};

pub use static_keys::StaticKeys;

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

    /// The issuer's OAuth authorization endpoint, if the source learned it (a [`JwksCache`]
    /// reads it from discovery). Claims challenges to clients of a non-Entra issuer name it as
    /// `authorization_uri`; without it they get no claims challenge.
    fn authorization_endpoint(&self) -> Option<Arc<str>> {
        None
    }

    /// When the current key set was fetched from the issuer, if the source fetches (a
    /// [`JwksCache`]); `None` for keys given in configuration, or before the first fetch.
    fn fetched_at(&self) -> Option<std::time::SystemTime> {
        None
    }
}

/// A source shared between issuers (Entra's common keys serve every tenant).
impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        (**self).snapshot()
    }

    fn refresh(&self) -> Refresh {
        (**self).refresh()
    }

    fn authorization_endpoint(&self) -> Option<Arc<str>> {
        (**self).authorization_endpoint()
    }

    fn fetched_at(&self) -> Option<std::time::SystemTime> {
        (**self).fetched_at()
    }
}

/// Where an issuer's keys stand, for a health endpoint: see
/// [`Validator::key_status`](crate::Validator::key_status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStatus {
    /// The issuer (for an Entra configuration accepting any tenant, its authority and
    /// `(any tenant)`).
    pub issuer: String,
    /// Keys in the current set; `None` if none was ever loaded.
    pub keys: Option<usize>,
    /// When the current set was fetched; `None` for keys given in configuration, or never
    /// loaded.
    pub fetched_at: Option<std::time::SystemTime>,
}

impl KeyStatus {
    pub(crate) fn of(issuer: String, source: &dyn KeySource) -> Self {
        KeyStatus {
            issuer,
            keys: source.snapshot().map(|set| set.len()),
            fetched_at: source.fetched_at(),
        }
    }
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
///
/// aws-lc-rs checks the key when its set is loaded (a key it refuses is skipped). On the key's
/// first verification it is parsed for its *prepared* algorithm and kept so: later verifications
/// skip rebuilding the key (for RSA, reading the modulus and computing its Montgomery constants,
/// about a sixth of a first-seen RS256 token). The prepared algorithm is the JWK `alg`, else the
/// first algorithm of the key source's allow-list that fits the key type (a PEM key: RS256,
/// ES256, ES384 or EdDSA by type). A key named by a token that passes the pre-checks is parsed
/// (about 1.9 KB more for RSA-2048, mostly aws-lc's C heap), so the extra memory is bounded by
/// the key set's cap. Another algorithm the key type allows (PS256 with an RSA key prepared for
/// RS256) is verified by rebuilding the key from its DER each time.
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    key_type: KeyType,
    alg: Option<Algorithm>,
    issuer: Option<Arc<str>>,
    /// The key as aws-lc-rs parses it: SubjectPublicKeyInfo DER (RSA, and PEM keys), the SEC1
    /// point (EC JWK) or the raw key (Ed25519 JWK).
    encoded: Box<[u8]>,
    prepared_for: Algorithm,
    /// Parsed on first use; `None` if aws-lc-rs then refused it (the load check parsed the same
    /// bytes, so only a failure to allocate could), which fails every verification.
    prepared: OnceLock<Option<ParsedPublicKey>>,
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

/// Public key material, checked for form, before aws-lc-rs parses it.
pub(crate) enum KeyMaterial<'a> {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// An uncompressed SEC1 point, or a SubjectPublicKeyInfo DER (EC and Ed25519 keys).
    Encoded(&'a [u8]),
}

/// aws-lc-rs refused the key material (not a valid point, not a valid RSA key).
#[derive(Debug)]
pub(crate) struct KeyRejected;

impl VerifyingKey {
    /// Checks a key with aws-lc-rs, to be prepared for `prepared_for` (which `key_type` must
    /// allow) on its first verification.
    pub(crate) fn new(
        kid: Option<&str>,
        key_type: KeyType,
        alg: Option<Algorithm>,
        issuer: Option<&str>,
        material: KeyMaterial<'_>,
        prepared_for: Algorithm,
    ) -> Result<Self, KeyRejected> {
        if !key_type.allows(prepared_for) {
            return Err(KeyRejected);
        }
        // Parsed here to check it, exactly as the first verification will parse it, then
        // dropped: its C memory is spent only on first use.
        let encoded: Box<[u8]> = match (material, verification_algorithm(prepared_for)) {
            (KeyMaterial::Rsa { n, e }, Verification::Rsa(params)) => {
                // From components aws-lc-rs only encodes the key; parsing the encoding runs
                // its key checks (odd modulus, exponent, at most 16384 bits). The 2048–8192
                // range the verifier accepts is enforced by `check_rsa`.
                let spki = lc::RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|_| KeyRejected)?;
                ParsedPublicKey::new(params, spki.as_ref()).map_err(|_| KeyRejected)?;
                spki.as_ref().into()
            }
            (KeyMaterial::Encoded(bytes), Verification::Other(algorithm)) => {
                ParsedPublicKey::new(algorithm, bytes).map_err(|_| KeyRejected)?;
                bytes.into()
            }
            _ => return Err(KeyRejected),
        };
        Ok(VerifyingKey {
            kid: kid.map(Into::into),
            key_type,
            alg,
            issuer: issuer.map(Into::into),
            encoded,
            prepared_for,
            prepared: OnceLock::new(),
        })
    }

    /// Whether `other` is the same published key: same `kid`, type, JWK `alg` and `issuer`, same
    /// key bytes, prepared for the same algorithm.
    fn is_same_key(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid
            && self.key_type == other.key_type
            && self.alg == other.alg
            && self.issuer == other.issuer
            && self.encoded == other.encoded
            && self.prepared_for == other.prepared_for
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

    /// Verifies `signature` over `message` with `alg` through aws-lc-rs; false if the key does
    /// not allow `alg` (the caller has checked with [`allows`](Self::allows) already, to tell
    /// the two failures apart).
    ///
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        let algorithm: &'static dyn lc::VerificationAlgorithm = match verification_algorithm(alg) {
            Verification::Rsa(params) => params,
            Verification::Other(algorithm) => algorithm,
        };
        if alg == self.prepared_for {
            // An atomic load once prepared; the first verification parses (no I/O).
            let prepared = self
                .prepared
                .get_or_init(|| ParsedPublicKey::new(algorithm, &self.encoded).ok());
            return prepared
                .as_ref()
                .is_some_and(|key| key.verify_sig(message, signature).is_ok());
        }
        // Another algorithm the key type allows (an RSA key without JWK `alg`): rebuild the
        // key from its DER for this one verification.
        UnparsedPublicKey::new(algorithm, &self.encoded)
            .verify(message, signature)
            .is_ok()
    }
}

/// The aws-lc-rs verification algorithm of a JWS `alg` (RFC 7518 §3; ECDSA signatures are the
/// fixed-width `r || s` of §3.4). [`Algorithm`] has no HMAC variant: keys are public keys only.
enum Verification {
    Rsa(&'static lc::RsaParameters),
    Other(&'static dyn lc::VerificationAlgorithm),
}

fn verification_algorithm(alg: Algorithm) -> Verification {
    use Algorithm::*;
    match alg {
        RS256 => Verification::Rsa(&lc::RSA_PKCS1_2048_8192_SHA256),
        RS384 => Verification::Rsa(&lc::RSA_PKCS1_2048_8192_SHA384),
        RS512 => Verification::Rsa(&lc::RSA_PKCS1_2048_8192_SHA512),
        PS256 => Verification::Rsa(&lc::RSA_PSS_2048_8192_SHA256),
        PS384 => Verification::Rsa(&lc::RSA_PSS_2048_8192_SHA384),
        PS512 => Verification::Rsa(&lc::RSA_PSS_2048_8192_SHA512),
        ES256 => Verification::Other(&lc::ECDSA_P256_SHA256_FIXED),
        ES384 => Verification::Other(&lc::ECDSA_P384_SHA384_FIXED),
        EdDSA => Verification::Other(&lc::ED25519),
    }
}

/// The algorithm a key is prepared for: its JWK `alg`, else the first of `allowed` its type
/// fits, else the type's usual one.
pub(crate) fn prepared_algorithm(
    key_type: KeyType,
    alg: Option<Algorithm>,
    allowed: &[Algorithm],
) -> Algorithm {
    alg.or_else(|| allowed.iter().copied().find(|a| key_type.allows(*a)))
        .unwrap_or(match key_type {
            KeyType::Rsa { .. } => Algorithm::RS256,
            KeyType::EcP256 => Algorithm::ES256,
            KeyType::EcP384 => Algorithm::ES384,
            KeyType::Ed25519 => Algorithm::EdDSA,
        })
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

    /// This set, with every key that `previous` also holds (the same key, byte for byte) replaced
    /// by `previous`'s instance. A refresh that republishes a key then keeps what hangs on it:
    /// the tokens it verified stay cached (an entry lives only while its key does), and the
    /// parsed key is not built again. Only a key that left the set invalidates its tokens.
    pub(crate) fn reusing(mut self, previous: &KeySet) -> KeySet {
        for key in self.by_kid.values_mut() {
            if let Some(old) = key.kid().and_then(|kid| previous.by_kid.get(kid))
                && old.is_same_key(key)
            {
                *key = old.clone();
            }
        }
        // Keys without `kid` are not reused: a token without `kid` is verified by the single key
        // that fits its algorithm, and a new set may make that choice ambiguous, so its cached
        // tokens must be judged again.
        self
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

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
    use aws_lc_rs::signature::KeyPair as _;

    use super::*;

    #[test]
    fn verifies_the_prepared_algorithm_and_the_others_its_type_allows() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let material = KeyMaterial::Rsa {
            n: &public.n,
            e: &public.e,
        };
        let key = VerifyingKey::new(
            Some("k"),
            KeyType::Rsa { bits: 2048 },
            None,
            None,
            material,
            Algorithm::RS256,
        )
        .unwrap();
        let rng = SystemRandom::new();
        let sign = |padding: &'static dyn lc::RsaEncoding| {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, b"message", &mut signature)
                .unwrap();
            signature
        };
        for (alg, padding) in [
            (
                Algorithm::RS256,
                &lc::RSA_PKCS1_SHA256 as &'static dyn lc::RsaEncoding,
            ),
            (Algorithm::RS512, &lc::RSA_PKCS1_SHA512),
            (Algorithm::PS256, &lc::RSA_PSS_SHA256),
        ] {
            let signature = sign(padding);
            assert!(key.verify(alg, b"message", &signature), "{alg:?}");
            assert!(!key.verify(alg, b"messagf", &signature), "{alg:?}");
            assert!(!key.verify(Algorithm::ES256, b"message", &signature));
        }
        // A PKCS#1 v1.5 signature is not a PSS one.
        let rs256 = sign(&lc::RSA_PKCS1_SHA256);
        assert!(!key.verify(Algorithm::PS256, b"message", &rs256));
    }

    #[test]
    fn a_token_without_kid_gets_the_single_key_that_fits_or_none() {
        let ed = |kid: Option<&str>, byte: u8| {
            let x = [byte; 32];
            VerifyingKey::new(
                kid,
                KeyType::Ed25519,
                None,
                None,
                KeyMaterial::Encoded(&x),
                Algorithm::EdDSA,
            )
            .unwrap()
        };
        let one = KeySet::from_keys([ed(Some("a"), 1)]);
        assert!(one.find(None, Algorithm::EdDSA).is_some());
        assert!(
            one.find(None, Algorithm::RS256).is_none(),
            "none fits RS256"
        );
        // Two keys that fit: no key, rather than trying each.
        let two = KeySet::from_keys([ed(Some("a"), 1), ed(None, 2)]);
        assert!(two.find(None, Algorithm::EdDSA).is_none());
        assert!(two.find(Some("a"), Algorithm::EdDSA).is_some());
    }

    #[test]
    fn a_new_set_keeps_the_instances_of_the_keys_it_republishes() {
        let ed = |kid: &str, byte: u8| {
            let x = [byte; 32];
            let material = KeyMaterial::Encoded(&x);
            VerifyingKey::new(
                Some(kid),
                KeyType::Ed25519,
                None,
                None,
                material,
                Algorithm::EdDSA,
            )
            .unwrap()
        };
        let old = KeySet::from_keys([ed("kept", 7), ed("changed", 8), ed("gone", 9)]);
        let new =
            KeySet::from_keys([ed("kept", 7), ed("changed", 10), ed("added", 11)]).reusing(&old);
        let same = |kid: &str| Arc::ptr_eq(&old.by_kid[kid], &new.by_kid[kid]);
        assert!(same("kept"));
        assert!(
            !same("changed"),
            "new bytes under the same kid are a new key"
        );
        assert!(new.contains_kid("added") && !new.contains_kid("gone"));
        // Without `kid`, a key is never reused: which key fits a kid-less token may change.
        let unnamed = |byte: u8| {
            let x = [byte; 32];
            let material = KeyMaterial::Encoded(&x);
            VerifyingKey::new(
                None,
                KeyType::Ed25519,
                None,
                None,
                material,
                Algorithm::EdDSA,
            )
            .unwrap()
        };
        let old = KeySet::from_keys([unnamed(7)]);
        let new = KeySet::from_keys([unnamed(7)]).reusing(&old);
        assert!(!Arc::ptr_eq(&old.without_kid[0], &new.without_kid[0]));
    }

    #[test]
    fn refuses_material_that_is_not_a_key() {
        let not_a_point = [0x04; 65];
        let prepare = |key_type, alg| {
            let material = KeyMaterial::Encoded(&not_a_point);
            VerifyingKey::new(None, key_type, None, None, material, alg)
        };
        // Off the curve; and an algorithm the key type does not allow.
        assert!(prepare(KeyType::EcP256, Algorithm::ES256).is_err());
        assert!(prepare(KeyType::EcP256, Algorithm::RS256).is_err());
    }
}
