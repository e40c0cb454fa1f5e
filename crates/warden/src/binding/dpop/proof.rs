//! A proof's own checks: its compact form, header and signature under its own `jwk`, and the
//! RFC 7638 thumbprint and `ath` hash it is compared with.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::error::{Error, ProofError};
use crate::json;

use super::keys::ProofKeys;
use super::replay::ProofKey;

/// A proof that passed every check of its own: its key's thumbprint, for the token's `cnf.jkt`,
/// and what the replay cache must remember.
#[derive(Debug)]
pub(crate) struct VerifiedProof {
    pub(crate) jkt: String,
    pub(crate) replay_key: ProofKey,
    pub(crate) expires_at: u64,
}

/// A parsed, signature-checked proof.
pub(super) struct ParsedProof {
    pub(super) payload: String,
    pub(super) thumbprint: String,
}

/// Splits, checks the header and verifies the signature with the header's own `jwk`.
pub(super) fn parse_proof(
    proof: &str,
    allowed: &[Algorithm],
    keys: &ProofKeys,
) -> Result<ParsedProof, Error> {
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
        crate::base64url::decode(segment).ok_or_else(|| Error::from(ProofError::Malformed))
    };
    // The header and the signature are decoded on the stack when they fit (an EC or OKP key's
    // header, any signature up to RSA-4096's), on the heap otherwise.
    let (mut header_buffer, mut header_spill) = ([0u8; 512], Vec::new());
    let header_bytes = decode_in(header_b64, &mut header_buffer, &mut header_spill)?;
    let header_text = std::str::from_utf8(header_bytes).map_err(|_| ProofError::Malformed)?;
    let header = json::parse_members(header_text).map_err(|_| ProofError::Malformed)?;
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
    let found = keys.key(&header, alg)?;
    let key = &found.entry.key;
    if !key.allows(alg) {
        return Err(ProofError::DisallowedAlgorithm.into());
    }
    let (mut signature_buffer, mut signature_spill) = ([0u8; 512], Vec::new());
    let signature = decode_in(signature_b64, &mut signature_buffer, &mut signature_spill)?;
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(alg, signing_input.as_bytes(), signature) {
        return Err(ProofError::BadSignature.into());
    }
    let thumbprint = found.entry.thumbprint.clone();
    keys.keep(found);
    let payload = String::from_utf8(decode(payload_b64)?).map_err(|_| ProofError::Malformed)?;
    let thumbprint = thumbprint.ok_or(ProofError::BadKey)?;
    Ok(ParsedProof {
        payload,
        thumbprint,
    })
}

/// The bytes `segment` encodes: decoded into `buffer` when they fit, else into `spill`.
fn decode_in<'b>(
    segment: &str,
    buffer: &'b mut [u8],
    spill: &'b mut Vec<u8>,
) -> Result<&'b [u8], Error> {
    if let Some(bytes) = crate::base64url::decode_into(segment, buffer) {
        return Ok(bytes);
    }
    *spill = crate::base64url::decode(segment).ok_or(ProofError::Malformed)?;
    Ok(spill)
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
