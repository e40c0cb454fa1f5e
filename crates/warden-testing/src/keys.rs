//! Signing keys generated at start with aws-lc-rs.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden::Algorithm;

/// Why a key could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The fake issuer does not sign with this algorithm (one added to warden after this crate).
    UnsupportedAlgorithm(Algorithm),
    /// The key cannot sign with this algorithm (an ES256 key asked for RS256).
    WrongKeyType,
    /// No key with this id.
    UnknownKey(String),
    /// aws-lc-rs refused to generate a key or a signature.
    Crypto,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::UnsupportedAlgorithm(alg) => {
                write!(f, "the fake issuer does not sign with {alg}")
            }
            KeyError::WrongKeyType => f.write_str("the key cannot sign with this algorithm"),
            KeyError::UnknownKey(kid) => write!(f, "no key with id {kid:?}"),
            KeyError::Crypto => f.write_str("aws-lc-rs failed"),
        }
    }
}

impl std::error::Error for KeyError {}

enum Pair {
    Rsa(RsaKeyPair),
    EcP256(EcdsaKeyPair),
    EcP384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key with its id.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a key for `alg`: RSA-2048 for RS*/PS*, P-256 for ES256, P-384 for ES384,
    /// Ed25519 for EdDSA.
    ///
    /// # Errors
    ///
    /// [`KeyError::Crypto`] if aws-lc-rs cannot generate the key;
    /// [`KeyError::UnsupportedAlgorithm`] for an algorithm this crate does not sign with yet.
    pub fn generate(kid: impl Into<String>, alg: Algorithm) -> Result<Self, KeyError> {
        use Algorithm::*;
        let pair = match alg {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Crypto)?)
            }
            ES256 => Pair::EcP256(
                EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError::Crypto)?,
            ),
            ES384 => Pair::EcP384(
                EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| KeyError::Crypto)?,
            ),
            EdDSA => Pair::Ed25519(Ed25519KeyPair::generate().map_err(|_| KeyError::Crypto)?),
            other => return Err(KeyError::UnsupportedAlgorithm(other)),
        };
        Ok(SigningKey {
            kid: kid.into(),
            alg,
            pair,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm the key was made for (an RSA key also signs the other RS*/PS* algorithms).
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Signs `message` with `alg`.
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongKeyType`] if this key cannot sign with `alg`.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use Algorithm::*;
        let rng = SystemRandom::new();
        match (&self.pair, alg) {
            (Pair::Rsa(pair), RS256 | RS384 | RS512 | PS256 | PS384 | PS512) => {
                let encoding: &'static dyn sig::RsaEncoding = match alg {
                    RS256 => &sig::RSA_PKCS1_SHA256,
                    RS384 => &sig::RSA_PKCS1_SHA384,
                    RS512 => &sig::RSA_PKCS1_SHA512,
                    PS256 => &sig::RSA_PSS_SHA256,
                    PS384 => &sig::RSA_PSS_SHA384,
                    _ => &sig::RSA_PSS_SHA512,
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, message, &mut signature)
                    .map_err(|_| KeyError::Crypto)?;
                Ok(signature)
            }
            (Pair::EcP256(pair), ES256) | (Pair::EcP384(pair), ES384) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto),
            (Pair::Ed25519(pair), EdDSA) => Ok(pair.sign(message).as_ref().to_vec()),
            _ => Err(KeyError::WrongKeyType),
        }
    }

    /// Whether `signature` over `message` is this key's, with `alg`: how the fake issuer checks
    /// its own tokens when they come back (an on-behalf-of assertion), whatever its algorithm.
    pub(crate) fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        use Algorithm::*;
        let (algorithm, public_key): (&'static dyn sig::VerificationAlgorithm, &[u8]) =
            match (&self.pair, alg) {
                (Pair::Rsa(pair), _) => (
                    match alg {
                        RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                        RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                        RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                        PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                        PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                        PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                        _ => return false,
                    },
                    pair.public_key().as_ref(),
                ),
                (Pair::EcP256(pair), ES256) => {
                    (&sig::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                }
                (Pair::EcP384(pair), ES384) => {
                    (&sig::ECDSA_P384_SHA384_FIXED, pair.public_key().as_ref())
                }
                (Pair::Ed25519(pair), EdDSA) => (&sig::ED25519, pair.public_key().as_ref()),
                _ => return false,
            };
        sig::UnparsedPublicKey::new(algorithm, public_key)
            .verify(message, signature)
            .is_ok()
    }

    /// The public key as a JWK: `kty`, `kid`, `use: sig`, `alg`, and the key members.
    pub fn public_jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &self.pair {
            Pair::Rsa(pair) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)})
            }
            Pair::EcP256(pair) | Pair::EcP384(pair) => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = if size == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..])})
            }
            Pair::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(format!("{:?}", self.alg));
        jwk
    }

    /// The public key as SubjectPublicKeyInfo DER (for key-confusion attack tokens).
    pub fn public_spki_der(&self) -> Vec<u8> {
        let der = match &self.pair {
            Pair::Rsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::EcP256(pair) | Pair::EcP384(pair) => {
                pair.public_key().as_der().map(|d| d.as_ref().to_vec())
            }
            Pair::Ed25519(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.unwrap_or_default()
    }

    /// The public key as a PEM `PUBLIC KEY` block.
    pub fn public_pem(&self) -> String {
        pem_block("PUBLIC KEY", &self.public_spki_der())
    }

    /// An RSA public key as a PKCS#1 `RSA PUBLIC KEY` PEM block (`None` for other keys).
    pub fn public_pkcs1_pem(&self) -> Option<String> {
        let Pair::Rsa(pair) = &self.pair else {
            return None;
        };
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let mut body = der_integer(&components.n);
        body.extend(der_integer(&components.e));
        Some(pem_block("RSA PUBLIC KEY", &der_tlv(0x30, &body)))
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// DER tag-length-value.
pub(crate) fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from big-endian unsigned bytes.
pub(crate) fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der_tlv(0x02, &content)
}

/// A random id: 16 bytes, base64url.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // SystemRandom only fails if the OS has no entropy source; an all-zero id is then harmless.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
