//! A key source whose keys are given in configuration.

use std::sync::Arc;

use crate::algorithm::Algorithm;

use super::jwk::check_rsa;
use super::{KeyMaterial, KeySet, KeySource, KeyType, Refresh, VerifyingKey, prepared_algorithm};
use crate::error::{ConfigError, Setting};

/// Keys given in configuration: a JWKS document or PEM public keys. They never change and are
/// never fetched.
///
/// # Example
///
/// ```
/// use warden::keys::{KeySource, StaticKeys};
///
/// let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
///   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
/// let keys = StaticKeys::from_jwks(jwks).unwrap();
/// assert!(keys.snapshot().unwrap().contains_kid("k1"));
/// ```
#[derive(Debug, Clone)]
pub struct StaticKeys {
    set: Arc<KeySet>,
}

impl StaticKeys {
    /// Wraps a key set.
    pub fn new(set: KeySet) -> Self {
        StaticKeys { set: Arc::new(set) }
    }

    /// Parses a JWKS document; keys are skipped one by one as [`KeySet::from_jwks`] describes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `jwks` if the document is not a key set, or no key in it is
    /// usable.
    pub fn from_jwks(document: &str) -> Result<Self, ConfigError> {
        Self::from_jwks_for(document, crate::algorithm::DEFAULT_ALGORITHMS)
    }

    pub(crate) fn from_jwks_for(
        document: &str,
        allowed: &[Algorithm],
    ) -> Result<Self, ConfigError> {
        let set = KeySet::from_jwks(document.as_bytes(), allowed)
            .map_err(|e| ConfigError::invalid(Setting::Jwks, e.to_string()))?;
        if set.is_empty() {
            return Err(ConfigError::invalid(
                Setting::Jwks,
                "no usable key in the key set",
            ));
        }
        Ok(Self::new(set))
    }

    /// Builds a source from PEM public keys (`PUBLIC KEY` for RSA, P-256, P-384 and Ed25519, or
    /// `RSA PUBLIC KEY`), each with its `kid` (or `None` for a key matched without one).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `pem` if a block is not a `PUBLIC KEY` or `RSA PUBLIC KEY`
    /// (certificates and private keys are refused), or its key cannot be read, is of another type
    /// (P-521) or is refused as an RSA key (outside 2048–8192 bits, invalid exponent, ROCA).
    pub fn from_pem<'a>(
        keys: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let keys = keys
            .into_iter()
            .map(|(kid, pem)| verifying_key_from_pem(kid, pem))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(KeySet::from_keys(keys)))
    }
}

impl KeySource for StaticKeys {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        Some(self.set.clone())
    }

    fn refresh(&self) -> Refresh {
        Refresh::NotNow { retry_after: None }
    }
}

fn verifying_key_from_pem(kid: Option<&str>, pem_text: &str) -> Result<VerifyingKey, ConfigError> {
    let invalid = |reason: &str| ConfigError::invalid(Setting::Pem, reason.to_owned());
    let block = pem::parse(pem_text).map_err(|_| invalid("not a PEM block"))?;
    if !matches!(block.tag(), "PUBLIC KEY" | "RSA PUBLIC KEY") {
        // Certificates and private keys are not read: configure the public key itself.
        return Err(invalid("not a PUBLIC KEY or RSA PUBLIC KEY block"));
    }
    let der = block.contents();
    if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(der) {
        let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&rsa);
        let (key_type, n, e) = check_rsa(&components.n, &components.e)
            .map_err(|_| {
                invalid("RSA key outside 2048–8192 bits, with an invalid exponent, or with the ROCA fingerprint")
            })?;
        let alg = prepared_algorithm(key_type, None, &[]);
        return VerifyingKey::new(kid, key_type, None, None, KeyMaterial::Rsa { n, e }, alg)
            .map_err(|_| invalid("not a valid RSA public key"));
    }
    // A SubjectPublicKeyInfo of another type: aws-lc-rs tells the curve by accepting it.
    for key_type in [KeyType::EcP256, KeyType::EcP384, KeyType::Ed25519] {
        let alg = prepared_algorithm(key_type, None, &[]);
        if let Ok(key) =
            VerifyingKey::new(kid, key_type, None, None, KeyMaterial::Encoded(der), alg)
        {
            return Ok(key);
        }
    }
    Err(invalid("not an RSA, P-256, P-384 or Ed25519 public key"))
}
