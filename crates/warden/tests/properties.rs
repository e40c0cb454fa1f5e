//! Property tests: the bearer parser and the `WWW-Authenticate` writer never panic, and never
//! produce a header that breaks RFC 6750 §3 (CR/LF, an unescaped quote, a backslash).

use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use proptest::prelude::*;
use warden::bearer::extract;
use warden::challenge::{Challenge, ErrorCode, Realm};

/// `^Bearer realm="[^"\\]*"(, [a-z_]+="[^"\\]*")*$` (checklist A12), by hand.
fn is_well_formed_challenge(header: &str) -> bool {
    let Some(mut rest) = header.strip_prefix("Bearer ") else {
        return false;
    };
    let mut first = true;
    while !rest.is_empty() {
        if !first {
            let Some(after) = rest.strip_prefix(", ") else {
                return false;
            };
            rest = after;
        }
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        if name_len == 0 || (first && &rest[..name_len] != "realm") {
            return false;
        }
        let Some(after) = rest[name_len..].strip_prefix("=\"") else {
            return false;
        };
        let Some(end) = after.find('"') else {
            return false;
        };
        if after[..end]
            .bytes()
            .any(|b| b == b'\\' || !(0x20..=0x7e).contains(&b))
        {
            return false;
        }
        rest = &after[end + 1..];
        first = false;
    }
    !first
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn bearer_parser_never_panics_and_returns_only_b64tokens(value in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Ok(Some(token)) = extract(&headers, &Uri::from_static("/"), 100) {
            let token = token.as_str();
            prop_assert!(!token.is_empty() && token.len() <= 100);
            let body = token.trim_end_matches('=');
            prop_assert!(!body.is_empty());
            prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)));
        }
    }

    #[test]
    fn bearer_parser_accepts_every_b64token(token in "[A-Za-z0-9._~+/-]{1,64}={0,2}", scheme in "(?i)bearer", spaces in 1usize..4) {
        let mut headers = HeaderMap::new();
        let value = format!("{scheme}{}{token}", " ".repeat(spaces));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        let found = extract(&headers, &Uri::from_static("/"), 100).unwrap().unwrap();
        prop_assert_eq!(found.as_str(), token.as_str());
    }

    #[test]
    fn challenges_are_always_well_formed(value in any::<String>(), realm in any::<String>()) {
        let realm = Realm::new(&realm).unwrap_or_default();
        for challenge in [
            Challenge::new(StatusCode::FORBIDDEN).with_error(ErrorCode::InsufficientScope).with_param("scope", value.clone()),
            Challenge::new(StatusCode::UNAUTHORIZED).with_error(ErrorCode::InsufficientClaims).with_realm(value.clone()).with_param("claims", value.clone()),
            Challenge::new(StatusCode::UNAUTHORIZED),
            Challenge::new(StatusCode::UNAUTHORIZED).with_param("resource_metadata", value.clone()),
            Challenge::new(StatusCode::FORBIDDEN).with_error(ErrorCode::InsufficientScope).with_param("scope", value.clone()).with_param("resource_metadata", value.clone()),
        ] {
            let header = challenge.header_value(&realm).expect("always writable");
            let text = header.to_str().expect("visible ASCII");
            prop_assert!(is_well_formed_challenge(text), "{}", text);
        }
    }

    #[test]
    fn metadata_urls_reach_the_challenge_verbatim(
        host in "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,2}",
        path in "(/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,10}){0,3}",
    ) {
        let url = format!("https://{host}/.well-known/oauth-protected-resource{path}");
        let challenge = Challenge::new(StatusCode::UNAUTHORIZED)
            .with_param("resource_metadata", url.clone());
        let header = challenge.header_value(&Realm::default()).expect("always writable");
        let text = header.to_str().expect("visible ASCII");
        prop_assert!(is_well_formed_challenge(text), "{}", text);
        prop_assert!(text.ends_with(&format!(r#"resource_metadata="{url}""#)), "{}", text);
    }

    #[test]
    fn realms_with_forbidden_characters_are_refused(realm in any::<String>()) {
        let ok = realm.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        prop_assert_eq!(Realm::new(&realm).is_ok(), ok);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        warden::fuzzing::token(&data);
        warden::fuzzing::jwks(&data);
        warden::fuzzing::discovery(&data);
        warden::fuzzing::challenge(&data);
        warden::fuzzing::dpop_proof(&data);
        warden::fuzzing::security_event(&data);
    }

    /// The SET parser reached past the JWS form: a valid header and an arbitrary payload.
    #[test]
    fn the_set_parser_never_panics_on_arbitrary_claims(payload in proptest::collection::vec(any::<u8>(), 0..400)) {
        warden::fuzzing::security_event(set_with_payload(&payload).as_bytes());
    }

    /// The SET parser reached into subjects and events: claims of the right shape whose subject
    /// and event members are drawn from the formats' and events' own names.
    #[test]
    fn the_set_parser_never_panics_on_arbitrary_subjects_and_events(
        format in "(iss_sub|email|opaque|complex|aliases|jwt_id|phone_number|ip-addresses|account|did|uri|[a-z_-]{0,8})",
        member in "(iss|sub|email|id|user|session|tenant|identifiers|jti|phone_number|ip-addresses|uri|url|[a-z]{0,5})",
        value in prop_oneof![
            Just(serde_json::json!("x")),
            Just(serde_json::json!("")),
            Just(serde_json::json!(null)),
            Just(serde_json::json!([])),
            Just(serde_json::json!(["10.0.0.1", 7])),
            Just(serde_json::json!({"format": "opaque", "id": "i"})),
            Just(serde_json::json!({"format": "aliases", "identifiers": [{"format": "aliases"}]})),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ],
        event in "(session-revoked|credential-change|token-claims-change|assurance-level-change|device-compliance-change|risk-level-change|account-disabled|[a-z-]{0,10})",
        field in "(change_type|credential_type|current_status|previous_status|claims|event_timestamp|initiating_entity|reason_admin|namespace|current_level|[a-z_]{0,6})",
    ) {
        let claims = serde_json::json!({
            "iss": "https://transmitter.example", "aud": "https://receiver.example",
            "iat": 1_700_000_000, "jti": "j",
            "sub_id": {"format": format, member: value.clone()},
            "events": {format!("https://schemas.openid.net/secevent/caep/event-type/{event}"): {field: value}},
        });
        warden::fuzzing::security_event(set_with_payload(claims.to_string().as_bytes()).as_bytes());
    }
}

/// A compact JWS with a SET header, this payload and a dummy signature.
fn set_with_payload(payload: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"RS256","typ":"secevent+jwt","kid":"k"}"#),
        b64(payload)
    )
}

#[test]
fn the_checker_itself_refuses_broken_headers() {
    assert!(is_well_formed_challenge(
        r#"Bearer realm="api", error="invalid_token""#
    ));
    assert!(!is_well_formed_challenge(r#"Bearer realm="a"b""#));
    assert!(!is_well_formed_challenge("Bearer realm=\"a\r\n\""));
    assert!(!is_well_formed_challenge(r#"Bearer error="x""#));
    assert!(!is_well_formed_challenge("Bearer"));
}

/// The validator against a reference oracle: tokens built from a grammar of valid and invalid
/// parts (header members, claims of each type, signatures), for a generic OpenID Connect issuer
/// under RFC 9068. The oracle is the rule list of docs/security.md, written out plainly; the
/// validator must agree with it on every case.
mod oracle {
    use std::sync::OnceLock;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
    };
    use base64::Engine as _;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    const ISSUER: &str = "https://issuer.example";
    const AUDIENCE: &str = "api://orders";

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key"))
    }

    fn validator() -> &'static warden::Validator {
        static VALIDATOR: OnceLock<warden::Validator> = OnceLock::new();
        VALIDATOR.get_or_init(|| {
            let components = RsaPublicKeyComponents::<Vec<u8>>::from(key().public_key());
            let jwks = json!({"keys": [{
                "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                "n": b64(&components.n), "e": b64(&components.e),
            }]});
            let issuer = warden::Issuer::builder(ISSUER)
                .audience(AUDIENCE)
                .jwks(jwks.to_string())
                .build()
                .expect("the issuer");
            warden::Validator::builder()
                .issuer(issuer)
                .token_cache(0)
                .build()
                .expect("the validator")
        })
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// A claim's value, or its absence.
    #[derive(Debug, Clone)]
    enum Part {
        Absent,
        Is(Value),
    }

    #[derive(Debug, Clone, Copy)]
    enum Signature {
        Valid,
        Tampered,
        Empty,
    }

    #[derive(Debug, Clone)]
    struct Case {
        alg: Part,
        kid: Part,
        typ: Part,
        /// `crit`: absent, `["exp"]` or `[]` (both refused).
        crit: Part,
        iss: Part,
        aud: Part,
        /// Seconds from now.
        exp: Part,
        nbf: Part,
        iat: Part,
        sub: Part,
        client_id: Part,
        jti: Part,
        scope: Part,
        signature: Signature,
    }

    /// Mostly the valid value (so that about a fifth of the tokens are valid and most others
    /// differ from a valid one in a single part), else absent or one of the invalid ones.
    fn part(valid: Value, invalid: Vec<Value>) -> impl Strategy<Value = Part> {
        prop_oneof![
            36 => Just(Part::Is(valid)),
            1 => Just(Part::Absent),
            2 => proptest::sample::select(invalid).prop_map(Part::Is),
        ]
    }

    fn cases() -> impl Strategy<Value = Case> {
        // Offsets from now: well inside or outside the 60 s leeway, never near its edge.
        (
            (
                part(
                    json!("RS256"),
                    vec![
                        json!("none"),
                        json!("HS256"),
                        json!("rs256"),
                        json!("ES256"),
                    ],
                ),
                part(json!("k1"), vec![json!("k2"), json!(1), json!("K1")]),
                prop_oneof![
                    2 => Just(Part::Is(json!("at+jwt"))),
                    1 => Just(Part::Is(json!("application/at+jwt"))),
                    1 => Just(Part::Is(json!("AT+JWT"))),
                    1 => Just(Part::Is(json!("Application/AT+JWT"))),
                    1 => part(json!("at+jwt"), vec![json!("JWT"), json!("dpop+jwt"), json!(7)]),
                ],
                prop_oneof![
                    30 => Just(Part::Absent),
                    1 => Just(Part::Is(json!(["exp"]))),
                    1 => Just(Part::Is(json!([]))),
                ],
                part(
                    json!(ISSUER),
                    vec![
                        json!(format!("{ISSUER}/")),
                        json!("https://evil.example"),
                        json!(7),
                    ],
                ),
                prop_oneof![
                    3 => part(
                        json!(AUDIENCE),
                        vec![json!("api://other"), json!([]), json!(7), json!(["api://other"])],
                    ),
                    1 => Just(Part::Is(json!([AUDIENCE, "api://other"]))),
                    1 => Just(Part::Is(json!([AUDIENCE, 7]))),
                ],
                prop_oneof![
                    5 => part(json!(3600), vec![json!(-3600), json!("3600")]),
                    1 => Just(Part::Is(json!(-30))),
                ],
            ),
            (
                prop_oneof![
                    3 => Just(Part::Absent),
                    1 => part(json!(-10), vec![json!(3600), json!("0")]),
                ],
                part(json!(-10), vec![json!(3600), json!("0")]),
                part(json!("alice"), vec![json!(7)]),
                part(json!("app-1"), vec![json!(7)]),
                part(json!("id-1"), vec![json!(7)]),
                prop_oneof![
                    1 => Just(Part::Absent),
                    4 => part(json!("orders.read"), vec![json!(7)]),
                ],
                prop_oneof![
                    36 => Just(Signature::Valid),
                    1 => Just(Signature::Tampered),
                    1 => Just(Signature::Empty),
                ],
            ),
        )
            .prop_map(
                |(
                    (alg, kid, typ, crit, iss, aud, exp),
                    (nbf, iat, sub, client_id, jti, scope, signature),
                )| Case {
                    alg,
                    kid,
                    typ,
                    crit,
                    iss,
                    aud,
                    exp,
                    nbf,
                    iat,
                    sub,
                    client_id,
                    jti,
                    scope,
                    signature,
                },
            )
    }

    fn put(map: &mut Map<String, Value>, name: &str, part: &Part, time: bool, now: i64) {
        if let Part::Is(value) = part {
            let value = match (time, value.as_i64()) {
                (true, Some(offset)) => json!(now + offset),
                _ => value.clone(),
            };
            map.insert(name.to_owned(), value);
        }
    }

    fn token(case: &Case, now: i64) -> String {
        let mut header = Map::new();
        put(&mut header, "alg", &case.alg, false, now);
        put(&mut header, "kid", &case.kid, false, now);
        put(&mut header, "typ", &case.typ, false, now);
        put(&mut header, "crit", &case.crit, false, now);
        let mut claims = Map::new();
        put(&mut claims, "iss", &case.iss, false, now);
        put(&mut claims, "aud", &case.aud, false, now);
        put(&mut claims, "exp", &case.exp, true, now);
        put(&mut claims, "nbf", &case.nbf, true, now);
        put(&mut claims, "iat", &case.iat, true, now);
        put(&mut claims, "sub", &case.sub, false, now);
        put(&mut claims, "client_id", &case.client_id, false, now);
        put(&mut claims, "jti", &case.jti, false, now);
        put(&mut claims, "scope", &case.scope, false, now);
        let input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string().as_bytes()),
            b64(Value::Object(claims).to_string().as_bytes())
        );
        let mut signature = vec![0u8; key().public_modulus_len()];
        key()
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("a signature");
        match case.signature {
            Signature::Valid => {}
            Signature::Tampered => signature[17] ^= 0x40,
            Signature::Empty => signature.clear(),
        }
        format!("{input}.{}", b64(&signature))
    }

    /// docs/security.md's rules for this issuer, one by one.
    fn oracle(case: &Case) -> bool {
        let is = |part: &Part, value: Value| matches!(part, Part::Is(v) if *v == value);
        let string = |part: &Part| matches!(part, Part::Is(Value::String(_)));
        let number = |part: &Part| match part {
            Part::Is(v) => v.as_i64(),
            Part::Absent => None,
        };
        let typ_ok = match &case.typ {
            Part::Is(Value::String(typ)) => {
                let typ = typ.to_ascii_lowercase();
                typ == "at+jwt" || typ == "application/at+jwt"
            }
            _ => false,
        };
        let aud_ok = match &case.aud {
            Part::Is(Value::String(aud)) => aud == AUDIENCE,
            // An array of strings, one of them ours.
            Part::Is(Value::Array(auds)) => {
                auds.iter().all(Value::is_string) && auds.iter().any(|a| a == AUDIENCE)
            }
            _ => false,
        };
        let exp_ok = number(&case.exp).is_some_and(|offset| offset > -60);
        let nbf_ok = match &case.nbf {
            Part::Absent => true,
            part => number(part).is_some_and(|offset| offset <= 60),
        };
        let iat_ok = number(&case.iat).is_some_and(|offset| offset <= 60);
        let scope_ok = matches!(case.scope, Part::Absent) || string(&case.scope);
        // Without `kid`, the single key that allows the algorithm verifies (this set has one).
        let kid_ok = matches!(case.kid, Part::Absent) || is(&case.kid, json!("k1"));
        is(&case.alg, json!("RS256"))
            && kid_ok
            && typ_ok
            && matches!(case.crit, Part::Absent)
            && is(&case.iss, json!(ISSUER))
            && aud_ok
            && exp_ok
            && nbf_ok
            && iat_ok
            && string(&case.sub)
            && string(&case.client_id)
            && string(&case.jti)
            && scope_ok
            && matches!(case.signature, Signature::Valid)
    }

    /// 4,000 cases; the run must have seen both answers in numbers, or it proved nothing.
    #[test]
    fn the_validator_agrees_with_the_oracle() {
        use std::cell::Cell;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (admitted, refused) = (Cell::new(0u32), Cell::new(0u32));
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(4000));
        let result = runner.run(&cases(), |case| {
            let token = token(&case, now());
            let answer = runtime.block_on(validator().validate(&token));
            let expected = oracle(&case);
            if expected {
                admitted.set(admitted.get() + 1);
            } else {
                refused.set(refused.get() + 1);
            }
            prop_assert_eq!(
                answer.is_ok(),
                expected,
                "{:?} gave {:?}",
                case,
                answer.err()
            );
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
        eprintln!(
            "oracle: {} tokens admitted, {} refused, in agreement",
            admitted.get(),
            refused.get()
        );
        assert!(admitted.get() > 400, "{} valid cases", admitted.get());
        assert!(refused.get() > 400, "{} invalid cases", refused.get());
    }
}
