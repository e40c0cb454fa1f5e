//! Public test vectors through warden's JWS layer (`warden::fuzzing::verify_jws`): Wycheproof's JWS
//! and JWK tests and the RFC 7520 cookbook examples, copied with their licenses into
//! `tests/integration/data/vectors`. Every expected result must match, or be one of the deliberate deviations
//! below (documented in docs/security.md). A deviation may only ever make warden stricter: no
//! vector expected invalid may be accepted.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warden::Algorithm;
use warden::error::InvalidToken;
use warden::fuzzing::verify_jws;
use warden::keys::KeySet;

const ALLOWED: &[Algorithm] = warden::config::DEFAULT_ALGORITHMS;

/// Why warden refuses a vector the source expects to be valid.
fn deviation(
    alg: Option<&str>,
    jwk_alg: Option<&str>,
    jws: &str,
    source: &str,
) -> Option<&'static str> {
    match alg {
        Some("HS256" | "HS384" | "HS512") => {
            return Some("HMAC is never accepted (RFC 8725 §2.1, key confusion)");
        }
        Some("ES512") => return Some("ES512 / P-521 is not supported by jsonwebtoken"),
        _ => {}
    }
    if let (Some(alg), Some(jwk_alg)) = (alg, jwk_alg)
        && alg != jwk_alg
    {
        return Some("a JWK's alg binds the key to that algorithm (RFC 7517 §4.4, RFC 8725 §3.1)");
    }
    if jws
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
    {
        return Some(
            "strict base64url: no character outside the alphabet (RFC 7515 §2, 8725bis §3.14)",
        );
    }
    if source.contains("json_web_key_test") {
        return Some("key sets given with private members are ignored (public keys only)");
    }
    None
}

fn header_alg(jws: &str) -> Option<String> {
    use base64::Engine as _;
    let header = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

struct Tally {
    matched: usize,
    deviations: BTreeMap<&'static str, Vec<String>>,
    mismatches: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            matched: 0,
            deviations: BTreeMap::new(),
            mismatches: Vec::new(),
        }
    }

    fn record(
        &mut self,
        source: &str,
        expected_valid: bool,
        result: Result<Vec<u8>, InvalidToken>,
        reason: Option<&'static str>,
    ) {
        match (expected_valid, &result) {
            (true, Ok(_)) | (false, Err(_)) => self.matched += 1,
            (true, Err(_)) => match reason {
                Some(reason) => self
                    .deviations
                    .entry(reason)
                    .or_default()
                    .push(source.to_owned()),
                None => self
                    .mismatches
                    .push(format!("{source}: expected valid, got {result:?}")),
            },
            (false, Ok(_)) => self
                .mismatches
                .push(format!("{source}: expected invalid, accepted")),
        }
    }

    fn finish(self, name: &str, total: usize) {
        let deviated: usize = self.deviations.values().map(Vec::len).sum();
        println!(
            "{name}: {total} vectors, {} match, {deviated} deliberate deviations",
            self.matched
        );
        for (reason, sources) in &self.deviations {
            println!("  {} × {reason}: {}", sources.len(), sources.join(", "));
        }
        assert!(
            self.mismatches.is_empty(),
            "mismatches:\n{}",
            self.mismatches.join("\n")
        );
        assert_eq!(self.matched + deviated, total);
    }
}

#[test]
fn agrees_with_wycheproof_and_rfc7520_jws_vectors() {
    let data = include_str!("data/vectors/jws_vectors_flat.jsonl");
    let mut tally = Tally::new();
    let mut total = 0;
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let source = case["source"].as_str().unwrap();
        let jws = case["jws"].as_str().unwrap();
        let expected_valid = case["expected"] == "valid";
        let jwks = json!({ "keys": [case["jwk"].clone()] }).to_string();
        let keys = KeySet::from_jwks(jwks.as_bytes(), ALLOWED).unwrap_or_default();
        let result = verify_jws(jws, &keys, ALLOWED);
        let alg = header_alg(jws);
        let reason = deviation(alg.as_deref(), case["jwk"]["alg"].as_str(), jws, source);
        tally.record(source, expected_valid, result, reason);
        total += 1;
    }
    assert_eq!(total, 405);
    tally.finish("JWS vectors", total);
}

#[test]
fn agrees_with_wycheproof_jwk_vectors() {
    let data: Value = serde_json::from_str(include_str!(
        "data/vectors/wycheproof/json_web_key_test.json"
    ))
    .unwrap();
    let mut tally = Tally::new();
    let mut total = 0;
    for group in data["testGroups"].as_array().unwrap() {
        // The verifier gets the public keys when the group has them, else the set as given.
        let set = group.get("public").unwrap_or(&group["private"]);
        let jwks = match set.get("keys") {
            Some(_) => set.clone(),
            None => json!({ "keys": [set.clone()] }),
        };
        let keys = KeySet::from_jwks(jwks.to_string().as_bytes(), ALLOWED).unwrap_or_default();
        for test in group["tests"].as_array().unwrap() {
            let source = format!("wycheproof:json_web_key_test.json#tcId={}", test["tcId"]);
            let jws = test["jws"].as_str().unwrap();
            let result = verify_jws(jws, &keys, ALLOWED);
            let alg = header_alg(jws);
            let reason = deviation(alg.as_deref(), None, jws, &source);
            tally.record(&source, test["result"] == "valid", result, reason);
            total += 1;
        }
    }
    assert_eq!(total, 26);
    tally.finish("JWK vectors", total);
}
