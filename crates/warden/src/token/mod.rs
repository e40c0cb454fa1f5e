//! The token itself: strict compact parsing, the pre-checks on unverified content, and the
//! verified result.
//!
//! Parsing refuses anything but a compact JWS of three canonical base64url segments whose header
//! and claims are JSON objects without duplicate members, and refuses headers warden will not
//! honour (`enc`, `jwk`, `jku`, `x5u`, `x5c`, `crit`, `cty: JWT`, `alg` missing or `none`). The
//! validator then checks the unverified claims (reject only), looks the key up, verifies the
//! signature, and only then builds a [`Principal`](crate::Principal).

pub(crate) mod claims;

use std::str::FromStr;

use crate::algorithm::Algorithm;

use crate::error::{InvalidToken, Malformed};
use crate::json::{self, JsonError};
#[cfg(feature = "fuzzing")]
use crate::keys::KeySet;

/// Header parameters that carry or point at keys; never trusted (RFC 8725 §3.10).
const EMBEDDED_KEY_PARAMS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// A compact JWS split, decoded and checked for form, not yet verified.
pub(crate) struct Jws<'a> {
    // Read by the SET receiver and the fuzzing entry points; the access-token path reads the
    // segments in one pass of its own.
    #[cfg_attr(not(any(feature = "ssf", feature = "fuzzing")), allow(dead_code))]
    pub(crate) signing_input: &'a str,
    #[cfg_attr(not(any(feature = "ssf", feature = "fuzzing")), allow(dead_code))]
    pub(crate) signature: &'a str,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) payload: Vec<u8>,
}

/// Parses a compact JWS strictly, header rules included; the payload may be any bytes.
pub(crate) fn parse_jws(token: &str) -> Result<Jws<'_>, InvalidToken> {
    // Split on the first two dots (memchr); the third segment must hold no more. A compact JWE
    // has five segments.
    let Some((header_b64, rest)) = token.split_once('.') else {
        return Err(Malformed::SegmentCount.into());
    };
    let Some((payload_b64, signature)) = rest.split_once('.') else {
        return Err(Malformed::SegmentCount.into());
    };
    if signature.contains('.') {
        return Err(if signature.matches('.').count() == 2 {
            InvalidToken::Encrypted
        } else {
            Malformed::SegmentCount.into()
        });
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let header_bytes = decode_segment(header_b64)?;
    let header_text = std::str::from_utf8(&header_bytes).map_err(|_| Malformed::NotJsonObject)?;
    let header = json::parse_members(header_text).map_err(json_error)?;
    let (alg, kid, typ) = check_header(&header)?;
    if signature.is_empty() {
        // `header.payload.`: an unsigned token (CVE-2020-28042), refused before the payload.
        return Err(InvalidToken::BadSignature);
    }
    let payload = if payload_b64.is_empty() {
        Vec::new()
    } else {
        decode_segment(payload_b64)?
    };
    if !is_base64url(signature) {
        return Err(Malformed::Base64.into());
    }
    Ok(Jws {
        signing_input,
        signature,
        alg,
        kid,
        typ,
        payload,
    })
}

/// The payload of an access token as text: a JWT claims set is UTF-8 JSON.
pub(crate) fn claims_text(payload: Vec<u8>) -> Result<String, InvalidToken> {
    String::from_utf8(payload).map_err(|_| Malformed::NotJsonObject.into())
}

/// The claims of a token: one strict pass over the JSON object (duplicate member names refused at
/// every depth, every value decodable), read without building a tree. The checks and the
/// principal both read this one parse.
pub(crate) fn members(text: &str) -> Result<json::Members<'_>, InvalidToken> {
    json::parse_members(text).map_err(json_error)
}

/// The signature segment, decoded (canonical base64url only).
pub(crate) fn decode_signature(segment: &str) -> Result<Vec<u8>, InvalidToken> {
    decode_segment(segment)
}

/// Verifies a compact JWS at the signature layer only: strict form and header rules, `alg` on
/// `allowed`, the key by exact `kid` (or the single fitting key), the key/algorithm binding, and
/// the signature. Claims are not looked at: the payload is returned as bytes.
///
/// This is the layer the public JWS test vectors (Wycheproof, RFC 7520) exercise; access tokens go
/// through [`Validator`](crate::Validator), which adds the claim checks.
///
/// # Errors
///
/// The [`InvalidToken`] naming the first failed check.
#[cfg(feature = "fuzzing")]
pub fn verify_jws(
    token: &str,
    keys: &KeySet,
    allowed: &[Algorithm],
) -> Result<Vec<u8>, InvalidToken> {
    let jws = parse_jws(token)?;
    if !allowed.contains(&jws.alg) {
        return Err(InvalidToken::DisallowedAlgorithm);
    }
    let key = keys
        .find(jws.kid.as_deref(), jws.alg)
        .ok_or(InvalidToken::UnknownKey)?;
    if !key.allows(jws.alg) {
        return Err(InvalidToken::AlgorithmMismatch);
    }
    let signature = decode_segment(jws.signature)?;
    if !key.verify(jws.alg, jws.signing_input.as_bytes(), &signature) {
        return Err(InvalidToken::BadSignature);
    }
    Ok(jws.payload)
}

fn check_header(
    header: &json::Members<'_>,
) -> Result<(Algorithm, Option<String>, Option<String>), InvalidToken> {
    // `enc` and `zip` belong to JWE (RFC 7516 §4.1.2-3): a JWS carrying them is a confused or
    // hostile producer, and a compressed payload is never inflated here.
    if header.contains("enc") || header.contains("zip") {
        return Err(InvalidToken::Encrypted);
    }
    if EMBEDDED_KEY_PARAMS.iter().any(|p| header.contains(p)) {
        return Err(InvalidToken::EmbeddedKey);
    }
    if header.contains("crit") {
        return Err(InvalidToken::UnsupportedCritical);
    }
    let alg = match header.string("alg") {
        Some(Some(alg)) => {
            Algorithm::from_str(&alg).map_err(|_| InvalidToken::DisallowedAlgorithm)?
        }
        _ => return Err(InvalidToken::DisallowedAlgorithm),
    };
    match header.string("cty") {
        Some(Some(cty)) if is_jwt_media_type(&cty) => return Err(InvalidToken::Nested),
        Some(Some(_)) | None => {}
        Some(None) => return Err(Malformed::HeaderParameter.into()),
    }
    let kid = match header.string("kid") {
        None => None,
        Some(Some(kid)) => Some(kid.into_owned()),
        Some(None) => return Err(Malformed::HeaderParameter.into()),
    };
    let typ = match header.string("typ") {
        None => None,
        Some(Some(typ)) => Some(typ.into_owned()),
        Some(None) => return Err(InvalidToken::WrongType),
    };
    Ok((alg, kid, typ))
}

fn is_jwt_media_type(cty: &str) -> bool {
    cty.eq_ignore_ascii_case("jwt") || cty.eq_ignore_ascii_case("application/jwt")
}

fn json_error(error: JsonError) -> InvalidToken {
    match error {
        JsonError::NotObject => Malformed::NotJsonObject.into(),
        JsonError::DuplicateMember => Malformed::DuplicateMember.into(),
        JsonError::InvalidValue => Malformed::InvalidValue.into(),
    }
}

/// Unpadded base64url with canonical trailing bits (RFC 7515 §2); nothing else.
/// The decoder refuses every byte outside the base64url alphabet, padding, and non-zero trailing
/// bits, so no separate scan is needed.
fn decode_segment(segment: &str) -> Result<Vec<u8>, InvalidToken> {
    if segment.is_empty() {
        return Err(Malformed::Base64.into());
    }
    crate::base64url::decode(segment).ok_or_else(|| Malformed::Base64.into())
}

/// `[A-Za-z0-9_-]+`: the signature is checked here and decoded only after the pre-checks.
fn is_base64url(segment: &str) -> bool {
    // Without an early exit, so the compiler checks many bytes per instruction.
    let valid = |b: u8| b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_');
    !segment.is_empty() && segment.bytes().fold(true, |all, b| all & valid(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    /// What the validator does before the pre-checks: the JWS, then its claims as members.
    fn parse(t: &str) -> Result<Jws<'_>, InvalidToken> {
        let jws = parse_jws(t)?;
        let text = std::str::from_utf8(&jws.payload).map_err(|_| Malformed::NotJsonObject)?;
        members(text)?;
        Ok(jws)
    }

    fn err(t: &str) -> InvalidToken {
        match parse(t) {
            Ok(_) => panic!("accepted {t}"),
            Err(e) => e,
        }
    }

    const HEADER: &str = r#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#;

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(HEADER, r#"{"iss":"x"}"#);
        let p = parse(&t).unwrap();
        assert_eq!(p.alg, Algorithm::RS256);
        assert_eq!(p.kid.as_deref(), Some("k"));
        assert_eq!(p.typ.as_deref(), Some("at+jwt"));
        let text = std::str::from_utf8(&p.payload).unwrap();
        assert_eq!(
            members(text).unwrap().get("iss"),
            Some(serde_json::Value::from("x"))
        );
        assert_eq!(decode_signature(p.signature).unwrap(), b"sig");
    }

    #[test]
    fn refuses_wrong_segment_counts() {
        assert_eq!(err("a.b"), Malformed::SegmentCount.into());
        assert_eq!(err("a.b.c.d"), Malformed::SegmentCount.into());
        assert_eq!(err("a.b.c.d.e"), InvalidToken::Encrypted);
        assert_eq!(err(""), Malformed::SegmentCount.into());
    }

    #[test]
    fn refuses_padding_and_standard_alphabet() {
        let good = token(HEADER, "{}");
        assert_eq!(err(&format!("{good}=")), Malformed::Base64.into());
        let (h, rest) = good.split_once('.').unwrap();
        assert_eq!(err(&format!("{h}=.{rest}")), Malformed::Base64.into());
        assert_eq!(err(&format!("{h}.e30+.c2ln")), Malformed::Base64.into());
        assert_eq!(err(&format!("{h}.e30 .c2ln")), Malformed::Base64.into());
        // "e31" decodes to "{}" with non-zero trailing bits: not canonical.
        assert_eq!(err(&format!("{h}.e31.c2ln")), Malformed::Base64.into());
    }

    #[test]
    fn refuses_headers_warden_does_not_honour() {
        let cases = [
            (r#"{"alg":"none"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":"None"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":"nOnE"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":""}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"typ":"at+jwt"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":"rs256"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":"HS256"}"#, InvalidToken::DisallowedAlgorithm),
            (r#"{"alg":["RS256"]}"#, InvalidToken::DisallowedAlgorithm),
            (
                r#"{"alg":"RS256","enc":"A128GCM"}"#,
                InvalidToken::Encrypted,
            ),
            (r#"{"alg":"RS256","zip":"DEF"}"#, InvalidToken::Encrypted),
            (r#"{"alg":"RS256","jwk":{}}"#, InvalidToken::EmbeddedKey),
            (
                r#"{"alg":"RS256","jku":"http://127.0.0.1/"}"#,
                InvalidToken::EmbeddedKey,
            ),
            (
                r#"{"alg":"RS256","x5u":"http://127.0.0.1/"}"#,
                InvalidToken::EmbeddedKey,
            ),
            (r#"{"alg":"RS256","x5c":[]}"#, InvalidToken::EmbeddedKey),
            (
                r#"{"alg":"RS256","crit":[]}"#,
                InvalidToken::UnsupportedCritical,
            ),
            (
                r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
                InvalidToken::UnsupportedCritical,
            ),
            (r#"{"alg":"RS256","cty":"JWT"}"#, InvalidToken::Nested),
            (
                r#"{"alg":"RS256","cty":"application/jwt"}"#,
                InvalidToken::Nested,
            ),
            (
                r#"{"alg":"RS256","kid":7}"#,
                Malformed::HeaderParameter.into(),
            ),
            // Values a JSON reader cannot decode, wherever they are: a lone surrogate, a number
            // beyond f64. The whole token is malformed; nothing is taken as absent.
            (
                r#"{"alg":"RS256","kid":"\ud800"}"#,
                Malformed::InvalidValue.into(),
            ),
            (
                r#"{"alg":"RS256","kid":1e400}"#,
                Malformed::InvalidValue.into(),
            ),
            (
                r#"{"alg":"RS256","cty":"\ud800"}"#,
                Malformed::InvalidValue.into(),
            ),
            (
                r#"{"alg":"RS256","typ":"\ud800"}"#,
                Malformed::InvalidValue.into(),
            ),
            (r#"{"alg":"\ud800"}"#, Malformed::InvalidValue.into()),
            (
                r#"{"alg":"RS256","x-unread":["\udc00"]}"#,
                Malformed::InvalidValue.into(),
            ),
            (
                r#"{"alg":"RS256","alg":"none"}"#,
                Malformed::DuplicateMember.into(),
            ),
            (r#"["RS256"]"#, Malformed::NotJsonObject.into()),
        ];
        for (header, expected) in cases {
            assert_eq!(err(&token(header, "{}")), expected, "{header}");
        }
    }

    #[test]
    fn refuses_duplicate_claims_and_non_object_claims() {
        assert_eq!(
            err(&token(HEADER, r#"{"aud":"a","aud":"b"}"#)),
            Malformed::DuplicateMember.into()
        );
        assert_eq!(err(&token(HEADER, "[1]")), Malformed::NotJsonObject.into());
    }

    #[test]
    fn refuses_claims_a_reader_could_not_decode_even_unread_ones() {
        for claims in [
            r#"{"iss":"x","unread":"\ud800"}"#,
            r#"{"iss":"x","unread":{"nested":["\udbff"]}}"#,
            r#"{"iss":"x","unread":1e400}"#,
        ] {
            assert_eq!(
                err(&token(HEADER, claims)),
                Malformed::InvalidValue.into(),
                "{claims}"
            );
        }
        let pair = token(HEADER, r#"{"iss":"x","emoji":"\ud83d\ude00"}"#);
        assert!(parse(&pair).is_ok());
    }

    #[test]
    fn refuses_an_empty_signature() {
        let t = token(HEADER, "{}");
        let unsigned = &t[..t.len() - 4];
        assert_eq!(err(unsigned), InvalidToken::BadSignature);
    }

    #[test]
    fn ignores_unknown_header_parameters() {
        let t = token(r#"{"alg":"ES256","typ":"at+jwt","foo":"bar"}"#, "{}");
        assert!(parse(&t).is_ok());
    }
}
