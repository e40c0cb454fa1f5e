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
