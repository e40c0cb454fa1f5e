//! The attack catalogue: every known JWT attack is its own named case asserting the status, the
//! exact `WWW-Authenticate`, the problem body, and that the handler did not run. Sources: RFC 8725,
//! the jwt_tool playbook (re-created, not copied), CVE write-ups. See docs/security.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use serde_json::json;
use warden::keys::{KeySet, StaticKeys};
use warden::{Algorithm, WardenLayer};
use warden_integration_tests::{
    App, invalid_token, issuer_of, jwt_profile_app, layer_for, now, oidc_app, refused,
    sign_with_raw_member, trust,
};
use warden_testing::{FakeIssuer, KeyEncoding};

// ---------------------------------------------------------------------------------------------
// Algorithms (RFC 8725 §3.1, §2.1)

refused!(
    rejects_alg_none,
    |issuer| issuer.token().sign_unsigned("none"),
    "algorithm not allowed"
);
refused!(
    rejects_alg_none_capitalised,
    |issuer| issuer.token().sign_unsigned("None"),
    "algorithm not allowed"
);
refused!(
    rejects_alg_none_upper_case,
    |issuer| issuer.token().sign_unsigned("NONE"),
    "algorithm not allowed"
);
refused!(
    rejects_alg_none_mixed_case,
    |issuer| issuer.token().sign_unsigned("nOnE"),
    "algorithm not allowed"
);
refused!(
    rejects_an_empty_alg,
    |issuer| issuer.token().sign_unsigned(""),
    "algorithm not allowed"
);
refused!(
    rejects_a_missing_alg,
    |issuer| issuer
        .sign_raw(r#"{"typ":"at+jwt","kid":"key-1"}"#, "{}")
        .unwrap(),
    "algorithm not allowed"
);
refused!(
    rejects_alg_in_lower_case,
    |issuer| issuer.token().header("alg", "rs256").sign(),
    "algorithm not allowed"
);
refused!(
    rejects_hs256_keyed_with_the_public_key_pem,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::SpkiPem),
    "algorithm not allowed"
);
refused!(
    rejects_hs256_keyed_with_the_public_key_der,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::SpkiDer),
    "algorithm not allowed"
);
refused!(
    rejects_hs256_keyed_with_the_public_jwk,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::JwkJson),
    "algorithm not allowed"
);

#[tokio::test]
async fn rejects_an_algorithm_off_the_issuer_allow_list() {
    let issuer = FakeIssuer::start().await.unwrap();
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    jwks["keys"][0].as_object_mut().unwrap().remove("alg");
    let layer = WardenLayer::builder()
        .issuer(
            issuer_of(&issuer)
                .algorithms([Algorithm::RS256])
                .jwks(jwks.to_string())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = App::new(layer);
    let token = issuer.token().algorithm(Algorithm::PS256).sign();
    let description = "algorithm not allowed";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

refused!(
    rejects_an_algorithm_the_key_jwk_alg_does_not_name,
    |issuer| issuer.token().algorithm(Algorithm::PS256).sign(),
    "algorithm not allowed for key"
);

#[tokio::test]
async fn rejects_es256_with_a_kid_naming_an_rsa_key() {
    let issuer = FakeIssuer::start().await.unwrap();
    let ec = issuer.add_key(Algorithm::ES256).unwrap();
    let app = App::new(layer_for(&issuer));
    // Signed by the EC key, but claiming the RSA key's kid.
    let token = issuer.token().key(ec).header("kid", "key-1").sign();
    let description = "algorithm not allowed for key";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Keys (RFC 8725 §3.8, §3.10; RFC 7515 §4.1.4)

refused!(
    rejects_an_unknown_kid,
    |issuer| issuer.token().header("kid", "nope").sign(),
    "unknown signing key"
);
refused!(
    rejects_a_kid_that_differs_only_in_case,
    |issuer| issuer.token().header("kid", "KEY-1").sign(),
    "unknown signing key"
);
refused!(
    rejects_a_path_traversal_kid,
    |issuer| issuer
        .token()
        .header("kid", "../../../../../../dev/null")
        .sign(),
    "unknown signing key"
);
refused!(
    rejects_a_sql_injection_kid,
    |issuer| issuer
        .token()
        .header("kid", "x' UNION SELECT '1';--")
        .sign(),
    "unknown signing key"
);
refused!(
    rejects_a_token_signed_by_an_unpublished_key_under_a_published_kid,
    |issuer| issuer.token().sign_with_unpublished_key(),
    "invalid signature"
);
refused!(
    rejects_a_tampered_payload,
    |issuer| issuer.token().sign_tampered(),
    "invalid signature"
);
refused!(
    rejects_an_embedded_jwk,
    |issuer| issuer.token().sign_with_embedded_jwk(),
    "embedded keys are not trusted"
);
refused!(
    rejects_a_jku_header,
    |issuer| issuer
        .token()
        .sign_with_key_url("jku", "http://127.0.0.1:9/jwks.json"),
    "embedded keys are not trusted"
);
refused!(
    rejects_an_x5u_header,
    |issuer| issuer
        .token()
        .sign_with_key_url("x5u", "http://127.0.0.1:9/cert.pem"),
    "embedded keys are not trusted"
);
refused!(
    rejects_an_x5c_header,
    |issuer| issuer.token().header("x5c", json!(["MIIB"])).sign(),
    "embedded keys are not trusted"
);

#[tokio::test]
async fn rejects_a_token_of_one_issuer_signed_with_another_trusted_issuers_key() {
    // Both fake issuers name their first key `key-1`: keys are looked up in the set of the
    // token's own issuer only.
    let a = FakeIssuer::start().await.unwrap();
    let b = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(trust(&a).build().unwrap())
        .issuer(trust(&b).build().unwrap())
        .build()
        .unwrap();
    let app = App::new(layer);
    assert_eq!(app.get_me_with(&a.token().sign()).await.status, 200);
    assert_eq!(app.get_me_with(&b.token().sign()).await.status, 200);
    let forged = b.token().claim("iss", a.issuer_url()).sign();
    let description = "invalid signature";
    app.assert_refused(&forged, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn rejects_a_kid_that_appears_twice_in_the_key_set() {
    let issuer = FakeIssuer::start().await.unwrap();
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    let key = jwks["keys"][0].clone();
    jwks["keys"].as_array_mut().unwrap().push(key);
    let layer = WardenLayer::builder()
        .issuer(
            issuer_of(&issuer)
                .keys(StaticKeys::new(
                    KeySet::from_jwks(jwks.to_string().as_bytes(), &[Algorithm::RS256]).unwrap(),
                ))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = App::new(layer);
    let description = "unknown signing key";
    app.assert_refused(
        &issuer.token().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Form (RFC 7515 §3, §4; RFC 7519 §7.2; RFC 8725 §3.3)

refused!(
    rejects_garbage,
    |_issuer| "garbage".to_owned(),
    "malformed token"
);
refused!(
    rejects_two_segments,
    |_issuer| "abc.def".to_owned(),
    "malformed token"
);
refused!(
    rejects_four_segments,
    |issuer| format!("{}.x", issuer.token().sign()),
    "malformed token"
);
refused!(
    rejects_five_segments_as_jwe,
    |_issuer| "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".to_owned(),
    "encrypted tokens are not accepted"
);
refused!(
    rejects_an_enc_header,
    |issuer| issuer.token().header("enc", "A256GCM").sign(),
    "encrypted tokens are not accepted"
);
refused!(
    rejects_a_nested_jwt,
    |issuer| issuer.token().header("cty", "JWT").sign(),
    "nested tokens are not accepted"
);
refused!(
    rejects_an_empty_crit,
    |issuer| issuer.token().header("crit", json!([])).sign(),
    "unsupported critical header"
);
refused!(
    rejects_an_unknown_crit,
    |issuer| issuer
        .token()
        .header("crit", json!(["exp"]))
        .header("exp", 1)
        .sign(),
    "unsupported critical header"
);
refused!(
    rejects_b64_false_with_crit,
    |issuer| issuer
        .token()
        .header("b64", false)
        .header("crit", json!(["b64"]))
        .sign(),
    "unsupported critical header"
);
refused!(
    rejects_a_stripped_signature,
    |issuer| {
        let t = issuer.token().sign();
        t[..t.rfind('.').unwrap() + 1].to_owned()
    },
    "invalid signature"
);
refused!(
    rejects_padding,
    |issuer| format!("{}=", issuer.token().sign()),
    "malformed token"
);
refused!(
    rejects_the_standard_base64_alphabet,
    |issuer| issuer
        .token()
        .sign()
        .replacen('-', "+", 1)
        .replacen('_', "/", 1),
    "malformed token"
);
refused!(
    rejects_duplicate_alg_members,
    |issuer| issuer
        .sign_raw(
            r#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"key-1"}"#,
            "{}"
        )
        .unwrap(),
    "malformed token"
);
refused!(
    rejects_duplicate_aud_members,
    |issuer| {
        let claims = format!(
            r#"{{"iss":"{}","aud":"x","aud":"{}","sub":"s","client_id":"c","iat":{},"exp":{},"jti":"j"}}"#,
            issuer.issuer_url(),
            issuer.audience(),
            now(),
            now() + 300
        );
        issuer
            .sign_raw(r#"{"alg":"RS256","typ":"at+jwt","kid":"key-1"}"#, &claims)
            .unwrap()
    },
    "malformed token"
);
refused!(
    rejects_a_header_that_is_an_array,
    |issuer| issuer.sign_raw(r#"["RS256"]"#, "{}").unwrap(),
    "malformed token"
);
refused!(
    rejects_claims_that_are_not_json,
    |issuer| issuer
        .sign_raw(
            r#"{"alg":"RS256","typ":"at+jwt","kid":"key-1"}"#,
            "not json"
        )
        .unwrap(),
    "malformed token"
);

#[tokio::test]
async fn refuses_every_truncation_of_a_valid_token() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().sign();
    for len in 0..token.len() {
        let answer = app.get_me_with(&token[..len]).await;
        assert!(
            matches!(answer.status.as_u16(), 400 | 401),
            "truncation to {len} answered {}",
            answer.status
        );
    }
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn refuses_a_flipped_character_in_each_segment() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().sign();
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    for position in [1, dots[0] + 2, dots[1] + 2, token.len() - 2] {
        let mut bytes = token.clone().into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        let answer = app.get_me_with(&flipped).await;
        assert_eq!(answer.status, 401, "flip at {position}");
        assert!(
            answer
                .challenge()
                .unwrap()
                .contains(r#"error="invalid_token""#)
        );
    }
    assert_eq!(app.runs.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Type (RFC 9068 §4, RFC 8725 §3.11–3.12)

refused!(
    rejects_typ_jwt_by_default,
    |issuer| issuer.token().header("typ", "JWT").sign(),
    "wrong token type"
);
refused!(
    rejects_a_missing_typ,
    |issuer| issuer.token().without_header("typ").sign(),
    "wrong token type"
);
refused!(
    rejects_a_dpop_proof_typ,
    |issuer| issuer.token().header("typ", "dpop+jwt").sign(),
    "wrong token type"
);
refused!(
    rejects_a_security_event_typ,
    |issuer| issuer.token().header("typ", "secevent+jwt").sign(),
    "wrong token type"
);
refused!(
    rejects_a_logout_token_typ,
    |issuer| issuer.token().header("typ", "logout+jwt").sign(),
    "wrong token type"
);
refused!(
    rejects_application_jwt_typ,
    |issuer| issuer.token().header("typ", "application/jwt").sign(),
    "wrong token type"
);
refused!(
    rejects_a_token_with_an_events_claim,
    |issuer| issuer
        .token()
        .claim(
            "events",
            json!({"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {}})
        )
        .sign(),
    "not an access token"
);

#[tokio::test]
async fn rejects_an_id_token_of_the_same_issuer() {
    // An ID token: typ JWT, audience the client id, nonce. The JWT-typed profile lets the type
    // through, so the audience must stop it.
    let (issuer, app) = jwt_profile_app().await;
    let id_token = issuer
        .token()
        .header("typ", "JWT")
        .audience("client-1")
        .claim("nonce", "n-0S6_WzA2Mj")
        .sign();
    let description = "wrong audience";
    app.assert_refused(&id_token, 401, &invalid_token(description), description)
        .await;
}

// ---------------------------------------------------------------------------------------------
// More key confusion encodings (CVE-2016-10555)

refused!(
    rejects_hs256_keyed_with_the_public_key_pem_without_newline,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::SpkiPemNoNewline),
    "algorithm not allowed"
);
refused!(
    rejects_hs256_keyed_with_the_pkcs1_pem,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::Pkcs1Pem),
    "algorithm not allowed"
);
refused!(
    rejects_hs256_keyed_with_the_modulus,
    |issuer| issuer
        .token()
        .sign_hs256_with_public_key(KeyEncoding::RawPublicKey),
    "algorithm not allowed"
);

// ---------------------------------------------------------------------------------------------
// Signatures

refused!(
    rejects_a_foreign_signature,
    |issuer| {
        let victim = issuer.token().subject("admin").sign();
        let other = issuer.token().sign();
        format!(
            "{}.{}",
            victim.rsplit_once('.').unwrap().0,
            other.rsplit_once('.').unwrap().1
        )
    },
    "invalid signature"
);
refused!(
    rejects_a_truncated_signature,
    |issuer| {
        // Drop three bytes (four characters) before the final partial group, so the rest stays
        // canonical base64url and only the signature check can refuse it.
        let t = issuer.token().sign();
        format!("{}{}", &t[..t.len() - 6], &t[t.len() - 2..])
    },
    "invalid signature"
);

async fn es256_app() -> (FakeIssuer, App) {
    let issuer = FakeIssuer::builder()
        .algorithm(Algorithm::ES256)
        .start()
        .await
        .unwrap();
    let app = App::new(layer_for(&issuer));
    (issuer, app)
}

/// The order of the P-256 group.
const P256_N: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn rejects_ecdsa_r_and_s_zero_cve_2022_21449() {
    let (issuer, app) = es256_app().await;
    let token = issuer.token().sign_with_signature_bytes(&[0u8; 64]);
    let description = "invalid signature";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn rejects_ecdsa_r_and_s_equal_to_the_group_order() {
    let (issuer, app) = es256_app().await;
    let n = hex(P256_N);
    let token = issuer
        .token()
        .sign_with_signature_bytes(&[n.clone(), n].concat());
    let description = "invalid signature";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn rejects_a_der_encoded_es256_signature() {
    let (issuer, app) = es256_app().await;
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
    let token = issuer.token().sign_with_der_signature();
    let description = "invalid signature";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Key URLs never fetched: a loopback server counts hits, and must see none

#[tokio::test]
async fn never_fetches_jku_x5u_or_x5c_urls() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let trap = Router::new().fallback(get(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "{\"keys\":[]}" }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, trap).await });

    let (issuer, app) = oidc_app().await;
    let description = "embedded keys are not trusted";
    for token in [
        issuer.token().sign_with_key_url("jku", &url),
        issuer.token().sign_with_key_url("x5u", &url),
        issuer.token().header("x5c", json!([url])).sign(),
        issuer.token().sign_with_embedded_jwk(),
    ] {
        app.assert_refused(&token, 401, &invalid_token(description), description)
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a key URL from a token was fetched"
    );
    server.abort();
}

// ---------------------------------------------------------------------------------------------
// kid injection (RFC 8725 §3.10)

refused!(
    rejects_a_dev_null_kid,
    |issuer| issuer.token().header("kid", "/dev/null").sign(),
    "unknown signing key"
);
refused!(
    rejects_a_shell_injection_kid,
    |issuer| issuer.token().header("kid", "|sleep 10").sign(),
    "unknown signing key"
);
refused!(
    rejects_a_url_kid,
    |issuer| issuer
        .token()
        .header("kid", "http://127.0.0.1:9/key")
        .sign(),
    "unknown signing key"
);
refused!(
    rejects_a_nul_kid,
    |issuer| issuer.token().header("kid", "key-1\u{0}").sign(),
    "unknown signing key"
);
refused!(
    rejects_an_empty_kid,
    |issuer| issuer.token().header("kid", "").sign(),
    "unknown signing key"
);
refused!(
    rejects_a_twenty_kilobyte_kid,
    |issuer| issuer.token().header("kid", "k".repeat(20_000)).sign(),
    "token too large"
);

// ---------------------------------------------------------------------------------------------
// Header and claim confusion

refused!(
    rejects_a_zip_header,
    |issuer| issuer.token().header("zip", "DEF").sign(),
    "encrypted tokens are not accepted"
);
#[tokio::test]
async fn accepts_a_maximal_cae_token_with_a_backdated_iat_and_refuses_a_longer_one() {
    let (issuer, app) = oidc_app().await;
    // 28 hours from `iat` backdated by 5 minutes (as Entra is reported to do): within the margin.
    let iat = now() - 300;
    let maximal = issuer
        .token()
        .issued_at(iat)
        .expires_at(iat + 28 * 3600 + 300)
        .sign();
    assert_eq!(app.get_me_with(&maximal).await.status, 200);
    let too_long = issuer
        .token()
        .issued_at(iat)
        .expires_at(iat + 28 * 3600 + 11 * 60)
        .sign();
    let description = "token lifetime too long";
    app.assert_refused(&too_long, 401, &invalid_token(description), description)
        .await;
}

refused!(
    rejects_exp_as_a_huge_number,
    |issuer| issuer
        .token()
        .claim("exp", 1e300)
        .claim("iat", now())
        .sign(),
    "token lifetime too long"
);
refused!(
    rejects_an_issuer_suffix,
    |issuer| issuer
        .token()
        .claim("iss", format!("{}.attacker.example", issuer.issuer_url()))
        .sign(),
    "untrusted issuer"
);
refused!(
    rejects_an_issuer_in_another_case,
    |issuer| issuer
        .token()
        .claim("iss", issuer.issuer_url().to_uppercase())
        .sign(),
    "untrusted issuer"
);
refused!(
    rejects_an_oversized_header,
    |issuer| issuer.token().header("pad", "x".repeat(17_000)).sign(),
    "token too large"
);

#[tokio::test]
async fn accepts_a_fractional_exp() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().claim("exp", now() as f64 + 300.5).sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

refused!(
    rejects_a_numeric_kid,
    |issuer| issuer.token().header("kid", 7).sign(),
    "malformed token"
);
refused!(
    /// A lone surrogate escape is skipped by the member parser but is no string: the `kid` is
    /// refused, never taken as absent (which would fall back to the single fitting key).
    rejects_a_kid_that_is_an_unpaired_surrogate,
    |issuer| issuer
        .sign_raw(r#"{"alg":"RS256","typ":"at+jwt","kid":"\ud800"}"#, "{}")
        .unwrap(),
    "malformed token"
);
refused!(
    rejects_a_typ_that_is_an_unpaired_surrogate,
    |issuer| issuer
        .sign_raw(r#"{"alg":"RS256","typ":"\ud800","kid":"key-1"}"#, "{}")
        .unwrap(),
    "malformed token"
);

// ---------------------------------------------------------------------------------------------
// Claims no reader could decode: refused whole, even where warden does not read them, so that
// `Principal::claims()` or the application's own type can never see less than the checks saw.

refused!(
    rejects_an_unread_claim_holding_a_lone_surrogate,
    |issuer| sign_with_raw_member(issuer, r#""deny_if_present":"\ud800""#),
    "malformed token"
);
refused!(
    rejects_a_lone_low_surrogate_deep_inside_an_unread_claim,
    |issuer| sign_with_raw_member(issuer, r#""ext":{"list":["ok","\udc00"]}"#),
    "malformed token"
);
refused!(
    rejects_a_surrogate_pair_in_the_wrong_order,
    |issuer| sign_with_raw_member(issuer, r#""ext":"\ude00\ud83d""#),
    "malformed token"
);
refused!(
    rejects_an_unread_number_beyond_a_double,
    |issuer| sign_with_raw_member(issuer, r#""ext":1e400"#),
    "malformed token"
);
refused!(
    /// 127 containers inside the member, the innermost empty: with the claims object, one more
    /// than serde_json reads, so `Principal::claims()` could not be built.
    rejects_an_empty_object_just_past_the_nesting_limit,
    |issuer| sign_with_raw_member(
        issuer,
        &format!(r#""ext":{}{{}}{}"#, "[".repeat(126), "]".repeat(126))
    ),
    "malformed token"
);
refused!(
    rejects_nesting_deeper_than_a_reader_accepts,
    |issuer| sign_with_raw_member(
        issuer,
        &format!(r#""ext":{}0{}"#, "[".repeat(130), "]".repeat(130))
    ),
    "malformed token"
);

#[tokio::test]
async fn every_reader_of_the_claims_sees_what_the_checks_saw() {
    let (issuer, app) = oidc_app().await;
    let token = sign_with_raw_member(&issuer, r#""ext":{"emoji":"\ud83d\ude00","url":"a\/b"}"#);
    assert_eq!(app.get_me_with(&token).await.status, 200);
    let validator = layer_for(&issuer).validator().clone();
    let principal = validator.validate(&token).await.unwrap();
    assert_eq!(
        principal.claim("ext"),
        Some(&json!({"emoji": "\u{1f600}", "url": "a/b"}))
    );
    assert_eq!(principal.claims().len(), issuer.token().claims().len() + 1);
}

// ---------------------------------------------------------------------------------------------
// Sender-constrained tokens (RFC 9449 §7.2, RFC 8705 §3): a bound token is useless without its
// proof, so it is never accepted as a bearer token.

refused!(
    rejects_a_dpop_bound_token_sent_as_bearer,
    |issuer| issuer
        .token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
        )
        .sign(),
    "DPoP-bound token (cnf.jkt) sent as a bearer token"
);
refused!(
    rejects_a_certificate_bound_token_sent_as_bearer,
    |issuer| issuer
        .token()
        .claim(
            "cnf",
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
        )
        .sign(),
    "certificate-bound token (cnf.x5t#S256) sent as a bearer token"
);
refused!(
    rejects_a_token_bound_by_a_key_of_rfc_7800,
    |issuer| issuer
        .token()
        .claim(
            "cnf",
            json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}})
        )
        .sign(),
    "token bound by an unsupported confirmation method (cnf)"
);
refused!(
    rejects_a_token_bound_by_an_unknown_confirmation_method,
    |issuer| issuer.token().claim("cnf", json!({"osc": "x"})).sign(),
    "token bound by an unsupported confirmation method (cnf)"
);
refused!(
    rejects_a_cnf_that_is_not_an_object,
    |issuer| issuer.token().claim("cnf", "jkt").sign(),
    "invalid claim"
);

#[tokio::test]
async fn accepts_an_empty_cnf_which_binds_nothing() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().claim("cnf", json!({})).sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}
refused!(
    rejects_a_non_string_cty,
    |issuer| issuer.token().header("cty", json!(["JWT"])).sign(),
    "malformed token"
);
