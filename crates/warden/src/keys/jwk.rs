//! JWK and JWKS parsing (RFC 7517, RFC 7518 §6) that skips bad keys one by one.

use std::fmt;
use std::str::FromStr;

use crate::algorithm::Algorithm;
use serde_json::{Map, Value};

use super::{KeyMaterial, KeyType, VerifyingKey, prepared_algorithm};
use crate::json::{self, JsonError};

/// Why a whole JWKS document was refused (single bad keys are skipped instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not a JSON object, or duplicate member names.
    NotJson,
    /// No `keys` array.
    MissingKeys,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwksError::NotJson => "key set is not a strict JSON object",
            JwksError::MissingKeys => "key set has no keys array",
        })
    }
}

impl std::error::Error for JwksError {}

/// Why one key was skipped. Logged, never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    NotObject,
    UnknownKty,
    PrivateMaterial,
    NotForSignatures,
    KeyOpsWithoutVerify,
    BadAlg,
    AlgNotAllowed,
    BadKid,
    BadEncoding,
    RsaTooSmall,
    RsaTooLarge,
    RsaBadExponent,
    RsaRoca,
    UnsupportedCurve,
    BadCoordinates,
    Rejected,
}

impl SkipReason {
    fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotObject => "not a JSON object",
            SkipReason::UnknownKty => "unsupported kty",
            SkipReason::PrivateMaterial => "holds private key material",
            SkipReason::NotForSignatures => "use is not sig",
            SkipReason::KeyOpsWithoutVerify => "key_ops lacks verify",
            SkipReason::BadAlg => "alg unknown or does not fit the key type",
            SkipReason::AlgNotAllowed => "alg not on the allow-list",
            SkipReason::BadKid => "kid is not a string",
            SkipReason::BadEncoding => "member is not canonical base64url",
            SkipReason::RsaTooSmall => "RSA modulus under 2048 bits",
            SkipReason::RsaTooLarge => "RSA modulus over 8192 bits",
            SkipReason::RsaBadExponent => "RSA exponent invalid",
            SkipReason::RsaRoca => "RSA modulus has the ROCA fingerprint (CVE-2017-15361)",
            SkipReason::UnsupportedCurve => "unsupported curve",
            SkipReason::BadCoordinates => "coordinates of the wrong length",
            SkipReason::Rejected => "not a valid public key (refused by aws-lc-rs)",
        }
    }
}

/// Parses a JWKS document, keeping what can verify with `allowed`.
pub(crate) fn parse_jwks(
    document: &[u8],
    allowed: &[Algorithm],
) -> Result<Vec<VerifyingKey>, JwksError> {
    Ok(usable_keys(&key_array(document)?, allowed))
}

/// The `keys` array of a JWKS document, in one strict parse (duplicate members refused).
pub(crate) fn key_array(document: &[u8]) -> Result<Vec<Value>, JwksError> {
    let mut root = json::parse_object(document).map_err(|e| match e {
        JsonError::NotObject | JsonError::DuplicateMember | JsonError::InvalidValue => {
            JwksError::NotJson
        }
    })?;
    match root.remove("keys") {
        Some(Value::Array(keys)) => Ok(keys),
        _ => Err(JwksError::MissingKeys),
    }
}

/// The keys of a parsed `keys` array that can verify with `allowed`; the others are skipped one
/// by one, with a warning.
pub(crate) fn usable_keys(keys: &[Value], allowed: &[Algorithm]) -> Vec<VerifyingKey> {
    let mut out = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        match parse_jwk(key, allowed) {
            Ok(key) => out.push(key),
            Err(reason) => {
                let kid = key.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::warn!(
                    index,
                    kid,
                    reason = reason.as_str(),
                    "skipping key from key set"
                );
            }
        }
    }
    out
}

/// Parses one JWK (an already strict-parsed JSON value).
pub(crate) fn parse_jwk(key: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, SkipReason> {
    let Value::Object(key) = key else {
        return Err(SkipReason::NotObject);
    };
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
    if PRIVATE.iter().any(|m| key.contains_key(*m)) {
        return Err(SkipReason::PrivateMaterial);
    }
    match key.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(SkipReason::NotForSignatures),
    }
    if let Some(ops) = key.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verifies {
            return Err(SkipReason::KeyOpsWithoutVerify);
        }
    }
    let kid = match key.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(SkipReason::BadKid),
    };
    let issuer = key.get("issuer").and_then(Value::as_str);

    let (key_type, material) = match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => rsa(key)?,
        Some("EC") => ec(key)?,
        Some("OKP") => okp(key)?,
        _ => return Err(SkipReason::UnknownKty),
    };

    let alg = match key.get("alg") {
        None => None,
        Some(Value::String(alg)) => {
            let alg = Algorithm::from_str(alg).map_err(|_| SkipReason::BadAlg)?;
            if !key_type.allows(alg) {
                return Err(SkipReason::BadAlg);
            }
            if !allowed.contains(&alg) {
                return Err(SkipReason::AlgNotAllowed);
            }
            Some(alg)
        }
        Some(_) => return Err(SkipReason::BadAlg),
    };
    if alg.is_none() && !allowed.iter().any(|a| key_type.allows(*a)) {
        return Err(SkipReason::AlgNotAllowed);
    }
    let material = match &material {
        Material::Rsa { n, e } => KeyMaterial::Rsa { n, e },
        Material::Encoded(bytes) => KeyMaterial::Encoded(bytes),
    };
    let prepared_for = prepared_algorithm(key_type, alg, allowed);
    VerifyingKey::new(kid, key_type, alg, issuer, material, prepared_for)
        .map_err(|_| SkipReason::Rejected)
}

/// Decoded key members, before aws-lc-rs parses them.
enum Material {
    /// Checked by [`check_rsa`], leading zeros stripped.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Encoded(Vec<u8>),
}

fn member(key: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let text = key
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SkipReason::BadEncoding)?;
    crate::base64url::decode(text).ok_or(SkipReason::BadEncoding)
}

fn rsa(key: &Map<String, Value>) -> Result<(KeyType, Material), SkipReason> {
    let n = member(key, "n")?;
    let e = member(key, "e")?;
    let (key_type, n, e) = check_rsa(&n, &e)?;
    Ok((
        key_type,
        Material::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        },
    ))
}

/// The smallest RSA public exponent accepted: 65537 (2^16 + 1).
pub(crate) const MIN_RSA_EXPONENT: u64 = 65_537;

/// Checks RSA public components: modulus of 2048 (RFC 7518 §3.3) to 8192 bits, odd exponent
/// of 65537 to 2^32 − 1. Returns them without leading zero bytes.
pub(crate) fn check_rsa<'a>(
    n: &'a [u8],
    e: &'a [u8],
) -> Result<(KeyType, &'a [u8], &'a [u8]), SkipReason> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if bits < 2048 {
        return Err(SkipReason::RsaTooSmall);
    }
    if bits > 8192 {
        // aws-lc-rs verifies RSA signatures of 2048 to 8192 bits.
        return Err(SkipReason::RsaTooLarge);
    }
    // An odd exponent of 65537 to 2^32 − 1: NIST SP 800-56B Rev. 2 §6.2 and FIPS 186-5 §A.1.1
    // require e > 2^16; small exponents (3) are what Bleichenbacher's signature forgery (2006)
    // and its relatives need, and no major provider publishes one (all use 65537).
    let exponent = (e.len() <= 4).then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
    if !exponent.is_some_and(|e| e >= MIN_RSA_EXPONENT && e % 2 == 1) {
        return Err(SkipReason::RsaBadExponent);
    }
    if has_roca_fingerprint(n) {
        return Err(SkipReason::RsaRoca);
    }
    Ok((KeyType::Rsa { bits }, n, e))
}

/// The ROCA test (Nemec et al., CCS 2017; CVE-2017-15361): moduli made by the vulnerable
/// Infineon library are, modulo each of these small primes, in the subgroup generated by 65537.
/// A random modulus passes all 38 with negligible probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0u32, |r, b| (r * 256 + u32::from(*b)) % p);
        // Walk the subgroup <65537> mod p until it cycles back to 1.
        let generator = 65537 % p;
        let mut element = 1;
        loop {
            if element == residue {
                return true;
            }
            element = element * generator % p;
            if element == 1 {
                return false;
            }
        }
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

fn ec(key: &Map<String, Value>) -> Result<(KeyType, Material), SkipReason> {
    let (key_type, size) = match key.get("crv").and_then(Value::as_str) {
        Some("P-256") => (KeyType::EcP256, 32),
        Some("P-384") => (KeyType::EcP384, 48),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let x = member(key, "x")?;
    let y = member(key, "y")?;
    if x.len() != size || y.len() != size {
        return Err(SkipReason::BadCoordinates);
    }
    // An uncompressed SEC1 point; aws-lc-rs checks that it lies on the curve.
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok((key_type, Material::Encoded(point)))
}

fn okp(key: &Map<String, Value>) -> Result<(KeyType, Material), SkipReason> {
    if key.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = member(key, "x")?;
    if x.len() != 32 {
        return Err(SkipReason::BadCoordinates);
    }
    Ok((KeyType::Ed25519, Material::Encoded(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    const ALL: &[Algorithm] = &[
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    fn rsa_jwk() -> Value {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        json!({"kty":"RSA","kid":"r1","n":n,"e":"AQAB"})
    }

    #[test]
    fn accepts_rsa_jwk_without_alg() {
        let key = parse_jwk(&rsa_jwk(), ALL).unwrap();
        assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });
        assert!(key.allows(Algorithm::RS256) && key.allows(Algorithm::PS256));
        assert!(!key.allows(Algorithm::ES256));
    }

    #[test]
    fn binds_key_to_its_jwk_alg() {
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("RS256");
        let key = parse_jwk(&jwk, ALL).unwrap();
        assert!(key.allows(Algorithm::RS256));
        assert!(!key.allows(Algorithm::PS256));
    }

    #[test]
    fn skips_each_kind_of_bad_key() {
        let small = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let off_curve = URL_SAFE_NO_PAD.encode([0x01u8; 32]);
        let even = URL_SAFE_NO_PAD.encode([0xC4u8; 256]);
        let huge = URL_SAFE_NO_PAD.encode([0xC5u8; 1025]);
        let cases = [
            (
                json!({"kty":"EC","crv":"P-256","x":off_curve,"y":off_curve}),
                SkipReason::Rejected,
            ),
            (
                json!({"kty":"RSA","n":even,"e":"AQAB"}),
                SkipReason::Rejected,
            ),
            (
                json!({"kty":"RSA","n":huge,"e":"AQAB"}),
                SkipReason::RsaTooLarge,
            ),
            (json!({"kty":"oct","k":"AAAA"}), SkipReason::PrivateMaterial),
            (json!({"kty":"oct"}), SkipReason::UnknownKty),
            (
                json!({"kty":"RSA","n":small,"e":"AQAB"}),
                SkipReason::RsaTooSmall,
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA"}),
                SkipReason::BadCoordinates,
            ),
            (
                json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
                SkipReason::UnsupportedCurve,
            ),
            (
                json!({"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}),
                SkipReason::UnsupportedCurve,
            ),
            (
                json!({"kty":"OKP","crv":"X25519","x":"AA"}),
                SkipReason::UnsupportedCurve,
            ),
            (json!(7), SkipReason::NotObject),
        ];
        for (jwk, reason) in cases {
            assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), reason, "{jwk}");
        }
        let mut jwk = rsa_jwk();
        jwk["use"] = json!("enc");
        assert_eq!(
            parse_jwk(&jwk, ALL).unwrap_err(),
            SkipReason::NotForSignatures
        );
        let mut jwk = rsa_jwk();
        jwk["key_ops"] = json!(["encrypt"]);
        assert_eq!(
            parse_jwk(&jwk, ALL).unwrap_err(),
            SkipReason::KeyOpsWithoutVerify
        );
        // 1, 3, 17, 65535 (too small), 65536 (even), 2^32 + 1 (too wide).
        for e in ["AQ", "Aw", "EQ", "__8", "AQAA", "AQAAAAE"] {
            let mut jwk = rsa_jwk();
            jwk["e"] = json!(e);
            assert_eq!(
                parse_jwk(&jwk, ALL).unwrap_err(),
                SkipReason::RsaBadExponent,
                "e = {e}"
            );
        }
        // 65537, with a leading zero byte, and the largest 32-bit odd exponent.
        for e in ["AQAB", "AAEAAQ", "_____w"] {
            let mut jwk = rsa_jwk();
            jwk["e"] = json!(e);
            assert!(parse_jwk(&jwk, ALL).is_ok(), "e = {e}");
        }
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("ES256");
        assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), SkipReason::BadAlg);
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("RS512");
        assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), SkipReason::AlgNotAllowed);
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("rs256");
        assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), SkipReason::BadAlg);
        let mut jwk = rsa_jwk();
        jwk["kid"] = json!(5);
        assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), SkipReason::BadKid);
        let mut jwk = rsa_jwk();
        jwk["n"] = json!("AAAA+/==");
        assert_eq!(parse_jwk(&jwk, ALL).unwrap_err(), SkipReason::BadEncoding);
    }

    #[test]
    fn one_bad_key_does_not_fail_the_set() {
        let doc = json!({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}, rsa_jwk()]});
        let keys = parse_jwks(doc.to_string().as_bytes(), ALL).unwrap();
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn refuses_documents_without_keys() {
        assert_eq!(parse_jwks(b"{}", ALL).unwrap_err(), JwksError::MissingKeys);
        assert_eq!(parse_jwks(b"<html>", ALL).unwrap_err(), JwksError::NotJson);
        assert_eq!(
            parse_jwks(br#"{"keys":[],"keys":[]}"#, ALL).unwrap_err(),
            JwksError::NotJson
        );
    }
}
