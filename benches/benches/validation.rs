//! Token validation, in one run on one thread, with the same token and key: the crypto floor
//! (bare jsonwebtoken), an axum router without authentication, warden's paths, and jwt-authorizer.
//! Cases are measured in interleaved rounds; each figure is printed with its ratio to the floor
//! and to jwt-authorizer (higher is faster).
//!
//! Run with `cargo bench -p warden-benches --bench validation` (pin it with `taskset -c 0`).

use std::hint::black_box;
use std::time::Duration;

use warden_benches::{Fixture, app, call, measure_all};

fn main() {
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let token = fixture.token();
    let issuer = fixture.issuer.issuer_url();
    let audience = fixture.issuer.audience().to_owned();
    let expired = fixture
        .issuer
        .token()
        .scopes(["Orders.Read"])
        .expires_at(1)
        .sign();
    let bad_signature = fixture
        .issuer
        .token()
        .scopes(["Orders.Read"])
        .sign_tampered();
    let unknown_kid = fixture
        .issuer
        .token()
        .scopes(["Orders.Read"])
        .header("kid", "nope")
        .sign();
    let wrong_issuer = fixture
        .issuer
        .token()
        .claim("iss", "https://attacker.example")
        .sign();
    let wrong_audience = fixture.issuer.token().audience("api://other").sign();

    // The floor: jsonwebtoken decode (parse + verify + validate), aws-lc-rs, key built once.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let jwks: serde_json::Value =
        serde_json::from_str(&fixture.issuer.jwks_json()).unwrap_or_default();
    let n = jwks["keys"][0]["n"].as_str().unwrap_or_default().to_owned();
    let e = jwks["keys"][0]["e"].as_str().unwrap_or_default().to_owned();
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[&audience]);
    let floor_ok = || jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).is_ok();
    assert!(floor_ok());

    // jwt-authorizer 0.15 (axum 0.7), same key (PEM) and token: its validator and its layer.
    let (authorizer, peer_router) = runtime.block_on(async {
        use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
        let build = || async {
            JwtAuthorizer::<serde_json::Value>::from_rsa_pem_text(&fixture.issuer_pem())
                .validation(Validation::new().iss(&[&issuer]).aud(&[&audience]))
                .build()
                .await
                .unwrap_or_else(|e| panic!("jwt-authorizer: {e}"))
        };
        let router = axum07::Router::new()
            .route("/me", axum07::routing::get(|| async { "ok" }))
            .layer(vec![build().await].into_layer());
        (build().await, router)
    });
    let peer_call = |token: &str| {
        use tower::ServiceExt;
        let request = http::Request::get("/me")
            .header("authorization", format!("Bearer {token}"))
            .body(axum07::body::Body::empty())
            .unwrap_or_default();
        runtime
            .block_on(peer_router.clone().oneshot(request))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert!(runtime.block_on(authorizer.check_auth(&token)).is_ok());
    assert_eq!(peer_call(&token), 200);

    // First seen with the cache on: a pool of distinct tokens 128 times the cache's capacity,
    // taken in turn, so every one has left the cache, and the eviction policy's memory of it
    // (S3-FIFO keeps a ghost history), before it comes back: a miss and an insert each time.
    let pool = fixture.distinct_tokens(8192);
    let v_small_cache = fixture.warden(64).validator().clone();
    let mut next = 0usize;
    let mut first_seen_cached = || {
        next = (next + 1) % pool.len();
        runtime
            .block_on(v_small_cache.validate(&pool[next]))
            .is_ok()
    };
    assert!(first_seen_cached());

    // warden: validators alone (like for like with the floor), and layers in a router.
    let first_seen = fixture.warden(0);
    let cached = fixture.warden(16_384);
    let v_first = first_seen.validator().clone();
    let v_cached = cached.validator().clone();
    let first_app = app(Some(first_seen));
    let cached_app = app(Some(cached));
    let bare = app(None);
    let validate = |v: &warden::Validator, t: &str| runtime.block_on(v.validate(t)).is_ok();
    let http =
        |router: &axum::Router, path: &str, t: &str| runtime.block_on(call(router, path, Some(t)));
    assert!(validate(&v_first, &token) && validate(&v_cached, &token));
    assert_eq!(http(&first_app, "/orders", &token), 200);
    assert_eq!(http(&first_app, "/admin", &token), 403);
    for t in [
        &expired,
        &bad_signature,
        &unknown_kid,
        &wrong_issuer,
        &wrong_audience,
    ] {
        assert!(!validate(&v_first, t));
        assert_eq!(http(&first_app, "/orders", t), 401);
    }

    // The signature check alone, through aws-lc-rs: the key rebuilt from (n, e) on every call
    // (what jsonwebtoken does), and parsed once.
    let (signing_input, signature) = token.rsplit_once('.').unwrap_or_default();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap_or_default()
    };
    let (n_bytes, e_bytes) = {
        use base64::Engine as _;
        let d = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap_or_default()
        };
        (d(&n), d(&e))
    };
    let components = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &n_bytes,
        e: &e_bytes,
    };
    let rebuilt_ok = || {
        components
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                signing_input.as_bytes(),
                &signature,
            )
            .is_ok()
    };
    let parsed_key = components
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .unwrap_or_else(|e| panic!("{e}"));
    let parsed_ok = || {
        parsed_key
            .verify_sig(signing_input.as_bytes(), &signature)
            .is_ok()
    };
    assert!(rebuilt_ok() && parsed_ok());
    // jwt-authorizer 0.15 verifies through jsonwebtoken 9 with ring, which rebuilds the key from
    // (n, e) on every call: this row separates that backend from warden's own work.
    let ring_components = ring::signature::RsaPublicKeyComponents {
        n: &n_bytes,
        e: &e_bytes,
    };
    let ring_ok = || {
        ring_components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                signing_input.as_bytes(),
                &signature,
            )
            .is_ok()
    };
    assert!(ring_ok());

    let empty_keys = warden::keys::KeySet::default();
    let names = [
        // Validation alone: 0..10
        "floor: jsonwebtoken 11 decode (aws-lc-rs)",
        "jwt-authorizer 0.15 `check_auth`",
        "warden `Validator::validate`, valid, first seen (cache on)",
        "warden `Validator::validate`, valid, first seen (cache off)",
        "warden `Validator::validate`, valid, seen before",
        "warden `Validator::validate`, expired",
        "warden `Validator::validate`, bad signature",
        "warden `Validator::validate`, unknown kid",
        "warden `Validator::validate`, wrong issuer",
        "warden `Validator::validate`, wrong audience",
        // Through a router: 10..17
        "jwt-authorizer 0.15 layer (axum 0.7), valid",
        "axum router, no authentication",
        "warden layer, valid, first seen (cache off)",
        "warden layer, valid, seen before",
        "warden layer, expired",
        "warden layer, unknown kid",
        "warden layer, missing scope (403)",
        // Reference costs: 17..23
        "tokio `block_on` of a ready future",
        "warden JWS parse only (`verify_jws` with no keys)",
        "BLAKE3 of the token",
        "aws-lc-rs RS256 verify, key rebuilt from n and e",
        "aws-lc-rs RS256 verify, key parsed once",
        "ring RS256 verify, key rebuilt from n and e (jwt-authorizer's backend)",
    ];
    let b = |ok: bool| {
        black_box(ok);
    };
    let times = measure_all(&mut [
        &mut || b(floor_ok()),
        &mut || {
            b(runtime
                .block_on(authorizer.check_auth(black_box(&token)))
                .is_ok())
        },
        &mut || b(first_seen_cached()),
        &mut || b(validate(&v_first, black_box(&token))),
        &mut || b(validate(&v_cached, black_box(&token))),
        &mut || b(validate(&v_first, black_box(&expired))),
        &mut || b(validate(&v_first, black_box(&bad_signature))),
        &mut || b(validate(&v_first, black_box(&unknown_kid))),
        &mut || b(validate(&v_first, black_box(&wrong_issuer))),
        &mut || b(validate(&v_first, black_box(&wrong_audience))),
        &mut || b(peer_call(black_box(&token)) == 200),
        &mut || b(runtime.block_on(call(&bare, "/me", None)) == 200),
        &mut || b(http(&first_app, "/orders", black_box(&token)) == 200),
        &mut || b(http(&cached_app, "/orders", black_box(&token)) == 200),
        &mut || b(http(&first_app, "/orders", black_box(&expired)) == 401),
        &mut || b(http(&first_app, "/orders", black_box(&unknown_kid)) == 401),
        &mut || b(http(&first_app, "/admin", black_box(&token)) == 403),
        &mut || b(runtime.block_on(async { true })),
        &mut || {
            b(warden::fuzzing::verify_jws(
                black_box(&expired),
                &empty_keys,
                warden::config::DEFAULT_ALGORITHMS,
            )
            .is_ok())
        },
        &mut || b(blake3::hash(black_box(token.as_bytes())).as_bytes()[0] == 0),
        &mut || b(rebuilt_ok()),
        &mut || b(parsed_ok()),
        &mut || b(ring_ok()),
    ]);
    let print = |title: &str, range: std::ops::Range<usize>, floor: Duration, peer: Duration| {
        println!("\n{title}\n");
        println!("| case | time | × floor | × jwt-authorizer |");
        println!("|---|---|---|---|");
        for i in range {
            let speed = |other: Duration| other.as_secs_f64() / times[i].as_secs_f64();
            println!(
                "| {} | {:.2} µs | {:.2} | {:.2} |",
                names[i],
                times[i].as_secs_f64() * 1e6,
                speed(floor),
                speed(peer)
            );
        }
    };
    print(
        "Validation alone (no HTTP; each `validate` row includes a `block_on`)",
        0..10,
        times[0],
        times[1],
    );
    print(
        "Through a router (one request, `oneshot`)",
        10..17,
        times[0],
        times[10],
    );
    println!("\nReference costs inside the path above\n");
    println!("| what | time |");
    println!("|---|---|");
    for i in 17..names.len() {
        println!("| {} | {:.2} µs |", names[i], times[i].as_secs_f64() * 1e6);
    }
    println!("\ntoken: RS256 (RSA-2048), {} bytes", token.len());
}
