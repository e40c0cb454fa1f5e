//! Proof keys parsed once: the `jwk` of a DPoP proof header, as written, with the proof's `alg`,
//! always parses to the same key and thumbprint, so a client's later proofs skip the JSON tree,
//! the key parse (an elliptic-curve point decoded and checked) and the thumbprint.
//!
//! Keyed by the exact text of the `jwk` member and the `alg`: a key is only ever reused for the
//! very bytes it was parsed from. Only keys that verified a proof's signature are kept (a key
//! that never signed anything costs its parse each time and takes no room); a bounded S3-FIFO
//! cache (quick_cache), so a flood of one-off keys cannot push out the keys of clients that come
//! back.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::Equivalent;
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::error::{Error, ProofError};
use crate::json::Members;
use crate::keys::{VerifyingKey, parse_jwk};

use super::proof::thumbprint;

/// How many proof keys are kept: a client usually holds one key per device or session.
const CAPACITY: usize = 4096;

/// A proof key, parsed and ready to verify, with its RFC 7638 thumbprint.
pub(super) struct ProofKeyEntry {
    pub(super) key: VerifyingKey,
    /// `None` for a key type without a thumbprint rule (refused after the signature, as before).
    pub(super) thumbprint: Option<String>,
}

/// A proof's key, and whether it is yet to be kept (see [`ProofKeys::keep`]).
pub(super) struct Found {
    pub(super) entry: Arc<ProofKeyEntry>,
    unseen: Option<Id>,
}

pub(super) struct ProofKeys {
    cache: quick_cache::sync::Cache<Id, Arc<ProofKeyEntry>>,
}

/// The cache key: the `jwk` member's text and the proof's `alg`.
#[derive(PartialEq, Eq)]
struct Id {
    jwk: Box<str>,
    alg: Algorithm,
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        IdRef {
            jwk: &self.jwk,
            alg: self.alg,
        }
        .hash(state);
    }
}

/// [`Id`] borrowed from a proof's header, for lookups that allocate nothing.
struct IdRef<'a> {
    jwk: &'a str,
    alg: Algorithm,
}

impl Hash for IdRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.jwk.hash(state);
        self.alg.hash(state);
    }
}

impl Equivalent<Id> for IdRef<'_> {
    fn equivalent(&self, key: &Id) -> bool {
        self.alg == key.alg && self.jwk == &*key.jwk
    }
}

impl Default for ProofKeys {
    fn default() -> Self {
        ProofKeys {
            cache: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

impl ProofKeys {
    /// The key of a proof whose header is `header` and whose `alg` is `alg`: from the cache, or
    /// parsed (and kept) with the checks of RFC 9449 §4.3: a public key, of a type `alg` can use.
    pub(super) fn key(&self, header: &Members<'_>, alg: Algorithm) -> Result<Found, Error> {
        let raw = header.raw("jwk").ok_or(ProofError::BadKey)?;
        let id = IdRef {
            jwk: raw.get(),
            alg,
        };
        if let Some(entry) = self.cache.get(&id) {
            return Ok(Found {
                entry,
                unseen: None,
            });
        }
        let jwk: Value = header
            .get("jwk")
            .filter(Value::is_object)
            .ok_or(ProofError::BadKey)?;
        const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
        if PRIVATE.iter().any(|m| jwk.get(m).is_some()) {
            return Err(ProofError::PrivateKey.into());
        }
        let key = parse_jwk(&jwk, &[alg]).map_err(|_| ProofError::BadKey)?;
        Ok(Found {
            entry: Arc::new(ProofKeyEntry {
                key,
                thumbprint: thumbprint(&jwk),
            }),
            unseen: Some(Id {
                jwk: id.jwk.into(),
                alg,
            }),
        })
    }

    /// Keeps a key that has just verified a proof's signature, for the client's next proofs.
    pub(super) fn keep(&self, found: Found) {
        if let Some(id) = found.unseen {
            self.cache.insert(id, found.entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BindingError;
    use crate::json::parse_members;

    const P256: &str = r#"{"jwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}"#;

    fn proof_error(result: Result<Found, Error>) -> Option<ProofError> {
        match result {
            Err(Error::Binding(BindingError::InvalidProof(proof))) => Some(proof),
            _ => None,
        }
    }

    #[test]
    fn keeps_a_key_once_it_verified_and_never_a_refusal() {
        let keys = ProofKeys::default();
        let header = parse_members(P256).unwrap();
        // Parsed, and not kept until it verified a signature.
        let first = keys.key(&header, Algorithm::ES256).unwrap();
        assert!(first.entry.thumbprint.is_some());
        assert_eq!(keys.cache.len(), 0);
        let entry = first.entry.clone();
        keys.keep(first);
        let again = keys.key(&header, Algorithm::ES256).unwrap();
        assert!(
            Arc::ptr_eq(&entry, &again.entry),
            "the next proof reuses the parsed key"
        );
        // Another alg is another entry, parsed (and judged) for that alg.
        assert_eq!(
            proof_error(keys.key(&header, Algorithm::RS256)),
            Some(ProofError::BadKey)
        );
        // A key with private material is refused every time; nothing is kept for it.
        let private = P256.replace(r#""kty""#, r#""d":"AAAA","kty""#);
        let private = parse_members(&private).unwrap();
        for _ in 0..2 {
            assert_eq!(
                proof_error(keys.key(&private, Algorithm::ES256)),
                Some(ProofError::PrivateKey)
            );
        }
        assert_eq!(keys.cache.len(), 1);
    }
}
