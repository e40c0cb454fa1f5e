//! Entry points for fuzzers, public test vectors and benchmarks. Not part of the stable API.
//!
//! Each function takes arbitrary bytes and must return without panicking, whatever they hold.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue, Uri, header};

use crate::algorithm::DEFAULT_ALGORITHMS;
use crate::challenge::{Challenge, ErrorCode, Realm};
use crate::issuer::Issuer;
use crate::keys::KeySet;
use crate::keys::fuzz_discovery;

pub use crate::token::verify_jws;
use crate::validator::{Step, Validator};

/// A fixed P-256 key (RFC 7515 appendix A.3) for the validation target.
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

/// The `Authorization` header parser.
pub fn bearer(data: &[u8]) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let uri = Uri::from_static("/orders?access_token=x");
    let _ = crate::bearer::extract(&headers, &uri, 16 * 1024);
    let _ = crate::bearer::extract(&headers, &Uri::from_static("/"), 64);
}

/// The whole validation path (parse, pre-checks, key lookup, signature) against a static key.
pub fn token(data: &[u8]) {
    static VALIDATOR: OnceLock<Option<Validator>> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let issuer = Issuer::builder("https://issuer.example")
            .audience("api://fuzz")
            .jwks(JWKS)
            .build()
            .ok()?;
        Validator::builder().issuer(issuer).build().ok()
    });
    let (Some(validator), Ok(text)) = (validator, std::str::from_utf8(data)) else {
        return;
    };
    if let Step::Done(result) = validator.validate_now(text) {
        let _ = result.map(|p| p.scopes().len());
    }
    let _ = crate::token::verify_jws(text, &KeySet::default(), DEFAULT_ALGORITHMS);
}

/// JWKS parsing.
pub fn jwks(data: &[u8]) {
    if let Ok(set) = KeySet::from_jwks(data, DEFAULT_ALGORITHMS) {
        for key in set.keys() {
            let _ = key.kid();
        }
    }
}

/// Discovery document parsing.
pub fn discovery(data: &[u8]) {
    let _ = fuzz_discovery(data, "https://issuer.example");
}

/// A DPoP proof of arbitrary bytes, checked for a fixed request: refused with an error, never a
/// panic.
pub fn dpop_proof(data: &[u8]) {
    let Ok(proof) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("dpop", proof);
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_static("api.test"),
    );
    let uri = http::Uri::from_static("/orders");
    let dpop = crate::dpop::Dpop::default();
    let _ = dpop.verify(&headers, &http::Method::GET, &uri, "token", 1_700_000_000);
}

/// The `WWW-Authenticate` writer with an arbitrary parameter value: the header must always be a
/// valid header value.
pub fn challenge(data: &[u8]) {
    let value = String::from_utf8_lossy(data).into_owned();
    let challenge = Challenge::new(http::StatusCode::FORBIDDEN)
        .with_error(ErrorCode::InsufficientScope)
        .with_param("scope", value);
    let header = challenge.header_value(&Realm::default());
    assert!(header.is_some(), "a challenge must always be writable");
}

/// The Shared Signals SET parser: strict JWS form, `typ`, claims, the event and its subject.
#[cfg(feature = "ssf")]
pub fn security_event(data: &[u8]) {
    crate::ssf::fuzz_read(data);
}

/// The metrics warden records for one admitted request whose token was seen before (the
/// request counter and the cache hit), for the benchmark row that prices them with no recorder
/// installed.
pub fn record_admission() {
    crate::observability::cache_lookup(true);
    crate::observability::admitted();
}
