//! Token validation, in one run on one thread, with the same token and key: the crypto floor
//! (bare jsonwebtoken), an axum router without authentication, warden's paths, and jwt-authorizer.
//! Cases are measured in interleaved rounds; each figure is printed with its ratio to the floor
//! and to jwt-authorizer (higher is faster).
//!
//! Run with `cargo bench -p warden-benches --bench validation` (pin it with `taskset -c 0`).

use std::hint::black_box;
use std::time::Duration;

use warden_benches::{Fixture, app, bearer, call, measure_all, ready};

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

    // ES256 and EdDSA keys beside the RS256 one (published before any validator is built).
    let es256_kid = fixture
        .issuer
        .add_key(warden::Algorithm::ES256)
        .unwrap_or_else(|e| panic!("{e}"));
    let eddsa_kid = fixture
        .issuer
        .add_key(warden::Algorithm::EdDSA)
        .unwrap_or_else(|e| panic!("{e}"));
    let es256_token = fixture
        .issuer
        .token()
        .key(es256_kid.clone())
        .scopes(["Orders.Read"])
        .sign();
    let eddsa_token = fixture
        .issuer
        .token()
        .key(eddsa_kid.clone())
        .scopes(["Orders.Read"])
        .sign();

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
    let peer_call = |authorization: &http::HeaderValue| {
        use tower::ServiceExt;
        let request = http::Request::get("/me")
            .header(http::header::AUTHORIZATION, authorization.clone())
            .body(axum07::body::Body::empty())
            .unwrap_or_default();
        runtime
            .block_on(peer_router.clone().oneshot(request))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert!(runtime.block_on(authorizer.check_auth(&token)).is_ok());
    assert_eq!(peer_call(&bearer(&token)), 200);

    // First seen with the cache on: a pool of distinct tokens 128 times the cache's capacity,
    // taken in turn, so every one has left the cache, and the eviction policy's memory of it
    // (S3-FIFO keeps a ghost history), before it comes back: a miss and an insert each time.
    let pool = fixture.distinct_tokens(8192);
    let v_small_cache = fixture.warden(64).validator().clone();
    let mut next = 0usize;
    let mut first_seen_cached = || {
        next = (next + 1) % pool.len();
        ready(&runtime, v_small_cache.validate(&pool[next])).is_ok()
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
    let validate = |v: &warden::Validator, t: &str| ready(&runtime, v.validate(t)).is_ok();
    let http = |router: &axum::Router, path: &str, t: &http::HeaderValue| {
        runtime.block_on(call(router, path, Some(t)))
    };
    let [token_header, expired_header, unknown_kid_header] =
        [&token, &expired, &unknown_kid].map(|t| bearer(t));
    assert!(validate(&v_first, &token) && validate(&v_cached, &token));
    assert_eq!(http(&first_app, "/orders", &token_header), 200);
    assert_eq!(http(&first_app, "/admin", &token_header), 403);
    for t in [
        &expired,
        &bad_signature,
        &unknown_kid,
        &wrong_issuer,
        &wrong_audience,
    ] {
        assert!(!validate(&v_first, t));
        assert_eq!(http(&first_app, "/orders", &bearer(t)), 401);
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

    // The text a cache hit hashes (`warden::cache`): the header, a dot, the signature's bytes.
    let fingerprinted = {
        let header = token.split('.').next().unwrap_or_default();
        let mut text = format!("{header}.").into_bytes();
        text.extend_from_slice(&signature);
        text
    };
    let empty_keys = warden::keys::KeySet::default();
    // A recorder as the demo installs one, set for this thread only around its row.
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
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
        // Reference costs: 17..
        "tokio `block_on` of a ready future",
        "warden JWS parse only (`verify_jws` with no keys)",
        "SHA-256 of the whole token",
        "SHA-256 of the header and the signature's bytes (what a cache hit hashes)",
        "aws-lc-rs RS256 verify, key rebuilt from n and e",
        "aws-lc-rs RS256 verify, key parsed once",
        "ring RS256 verify, key rebuilt from n and e (jwt-authorizer's backend)",
        "metrics, no recorder: warden's calls for one admitted request",
        "warden layer, valid, seen before, with a Prometheus recorder installed",
    ];
    let b = |ok: bool| {
        black_box(ok);
    };
    let times = measure_all(&mut [
        &mut || b(floor_ok()),
        &mut || b(ready(&runtime, authorizer.check_auth(black_box(&token))).is_ok()),
        &mut || b(first_seen_cached()),
        &mut || b(validate(&v_first, black_box(&token))),
        &mut || b(validate(&v_cached, black_box(&token))),
        &mut || b(validate(&v_first, black_box(&expired))),
        &mut || b(validate(&v_first, black_box(&bad_signature))),
        &mut || b(validate(&v_first, black_box(&unknown_kid))),
        &mut || b(validate(&v_first, black_box(&wrong_issuer))),
        &mut || b(validate(&v_first, black_box(&wrong_audience))),
        &mut || b(peer_call(black_box(&token_header)) == 200),
        &mut || b(runtime.block_on(call(&bare, "/me", None)) == 200),
        &mut || b(http(&first_app, "/orders", black_box(&token_header)) == 200),
        &mut || b(http(&cached_app, "/orders", black_box(&token_header)) == 200),
        &mut || b(http(&first_app, "/orders", black_box(&expired_header)) == 401),
        &mut || b(http(&first_app, "/orders", black_box(&unknown_kid_header)) == 401),
        &mut || b(http(&first_app, "/admin", black_box(&token_header)) == 403),
        &mut || b(runtime.block_on(async { true })),
        &mut || {
            b(warden::fuzzing::verify_jws(
                black_box(&expired),
                &empty_keys,
                warden::config::DEFAULT_ALGORITHMS,
            )
            .is_ok())
        },
        &mut || {
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(token.as_bytes()));
            b(digest.as_ref()[0] == 0)
        },
        &mut || {
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(&fingerprinted));
            b(digest.as_ref()[0] == 0)
        },
        &mut || b(rebuilt_ok()),
        &mut || b(parsed_ok()),
        &mut || b(ring_ok()),
        &mut || {
            warden::fuzzing::record_admission();
            b(true)
        },
        &mut || {
            metrics::with_local_recorder(&prometheus, || {
                b(http(&cached_app, "/orders", black_box(&token_header)) == 200)
            })
        },
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
        "Validation alone (no HTTP; each async row polled once, with a no-op waker)",
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
        println!("| {} | {:.3} µs |", names[i], times[i].as_secs_f64() * 1e6);
    }
    println!("\ntoken: RS256 (RSA-2048), {} bytes", token.len());

    algorithms(
        &runtime,
        &jwks,
        &v_first,
        [
            ("RS256", token.as_str(), None),
            ("ES256", es256_token.as_str(), Some(es256_kid.as_str())),
            ("EdDSA", eddsa_token.as_str(), Some(eddsa_kid.as_str())),
        ],
        &parsed_ok,
    );
    threads(&fixture);
    mixed_traffic(&runtime, &fixture);
}

/// Each algorithm against its own floor: the bare aws-lc-rs verification of the same token with
/// a key parsed once.
fn algorithms(
    runtime: &tokio::runtime::Runtime,
    jwks: &serde_json::Value,
    validator: &warden::Validator,
    cases: [(&str, &str, Option<&str>); 3],
    rs256_floor: &dyn Fn() -> bool,
) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
    use base64::Engine as _;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap_or_default()
    };
    let jwk = |kid: &str| {
        jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
            .cloned()
            .unwrap_or_default()
    };
    let mut floors: Vec<Box<dyn Fn() -> bool>> = vec![Box::new(rs256_floor)];
    for (_, token, kid) in &cases[1..] {
        let key = jwk(kid.unwrap_or_default());
        let parsed = match key["kty"].as_str() {
            Some("EC") => {
                let mut point = vec![4u8];
                point.extend(b64(key["x"].as_str().unwrap_or_default()));
                point.extend(b64(key["y"].as_str().unwrap_or_default()));
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            }
            _ => ParsedPublicKey::new(&ED25519, b64(key["x"].as_str().unwrap_or_default())),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let (input, signature) = token.rsplit_once('.').unwrap_or_default();
        let (input, signature) = (input.to_owned(), b64(signature));
        floors.push(Box::new(move || {
            parsed.verify_sig(input.as_bytes(), &signature).is_ok()
        }));
    }
    let validate = |t: &str| ready(runtime, validator.validate(t)).is_ok();
    for (_, token, _) in &cases {
        assert!(validate(token));
    }
    for floor in &floors {
        assert!(floor());
    }
    let mut closures: Vec<Box<dyn FnMut()>> = Vec::new();
    for (i, (_, token, _)) in cases.iter().enumerate() {
        let floor = &floors[i];
        closures.push(Box::new(move || {
            black_box(floor());
        }));
        closures.push(Box::new(move || {
            black_box(validate(black_box(token)));
        }));
    }
    let mut cases_mut: Vec<&mut dyn FnMut()> = closures
        .iter_mut()
        .map(|c| &mut **c as &mut dyn FnMut())
        .collect();
    let times = measure_all(&mut cases_mut);
    println!(
        "\nAlgorithms: warden `Validator::validate`, first seen (cache off), against the bare aws-lc-rs verify of the same token with a parsed key\n"
    );
    println!("| algorithm | bare verify | warden | × floor | beyond the signature |");
    println!("|---|---|---|---|---|");
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let (floor, warden) = (times[2 * i], times[2 * i + 1]);
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {:.2} | {:.2} µs |",
            floor.as_secs_f64() * 1e6,
            warden.as_secs_f64() * 1e6,
            floor.as_secs_f64() / warden.as_secs_f64(),
            (warden.as_secs_f64() - floor.as_secs_f64()) * 1e6
        );
    }
}

/// Seen tokens validated by 1 and 2 threads against one validator, each thread with its own
/// token (as distinct callers are: usually in different shards of the cache, at least 16) or all
/// with the same token (one shard, one entry: the worst case for shared writes). Throughput over a fixed time per case; each
/// thread pinned to its own core.
fn threads(fixture: &Fixture) {
    const SECONDS: f64 = 0.5;
    let validator = fixture.warden(16_384).validator().clone();
    let tokens = fixture.distinct_tokens(2);
    let run = |threads: usize, same: bool| -> f64 {
        let total: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let validator = validator.clone();
                    let token = tokens[if same { 0 } else { i }].clone();
                    scope.spawn(move || {
                        // One core per thread, whatever the process was pinned to (the bench
                        // runs under `taskset -c 0`): thread i on core i.
                        assert!(
                            core_affinity::set_for_current(core_affinity::CoreId { id: i }),
                            "cannot pin thread {i} to core {i}"
                        );
                        let runtime = warden_benches::runtime();
                        assert!(runtime.block_on(validator.validate(&token)).is_ok());
                        let started = std::time::Instant::now();
                        let mut count = 0u64;
                        while started.elapsed().as_secs_f64() < SECONDS {
                            for _ in 0..256 {
                                black_box(
                                    runtime
                                        .block_on(validator.validate(black_box(&token)))
                                        .is_ok(),
                                );
                            }
                            count += 256;
                        }
                        count
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        total as f64 / SECONDS
    };
    // Interleaved, three rounds, the median of each.
    let mut samples = vec![Vec::new(); 4];
    for _ in 0..3 {
        samples[0].push(run(1, false));
        samples[1].push(run(2, false));
        samples[2].push(run(1, true));
        samples[3].push(run(2, true));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let [one, two, one_same, two_same] = [0, 1, 2, 3].map(|i| median(samples[i].clone()));
    println!(
        "\nMany cores: `Validator::validate` of seen tokens, one validator shared by the threads\n"
    );
    println!("| case | validations per second | × 1 thread |");
    println!("|---|---|---|");
    println!("| 1 thread | {one:.0} | 1.00 |");
    println!("| 2 threads | {two:.0} | {:.2} |", two / one);
    println!("| 1 thread, one token | {one_same:.0} | 1.00 |");
    println!(
        "| 2 threads, one token | {two_same:.0} | {:.2} |",
        two_same / one_same
    );
}

/// Mixed traffic through one validator with keys from discovery: 90 % seen tokens, 9 % first
/// seen, 1 % forged, and a key rotation in the middle (a new signing key published and promoted;
/// the first token it signs makes warden fetch the key set). Throughput and p99 against the same
/// number of seen tokens only.
fn mixed_traffic(runtime: &tokio::runtime::Runtime, fixture: &Fixture) {
    const REQUESTS: usize = 20_000;
    let issuer = &fixture.issuer;
    let keys = runtime
        .block_on(async { warden::keys::JwksCache::builder(issuer.issuer_url()).build() })
        .unwrap_or_else(|e| panic!("{e}"));
    let validator = warden::Validator::builder()
        .issuer(
            warden::Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .keys(keys)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let seen = fixture.distinct_tokens(100);
    for t in &seen {
        assert!(runtime.block_on(validator.validate(t)).is_ok());
    }
    let forged = issuer.token().scopes(["Orders.Read"]).sign_tampered();
    // The plan: which kind each request is, spread evenly (every 100 requests: 90 seen, 9 new,
    // 1 forged).
    let kind = |i: usize| match i % 100 {
        0 => 2,
        n if n % 11 == 1 => 1,
        _ => 0,
    };
    let new_count = (0..REQUESTS).filter(|i| kind(*i) == 1).count();
    let half = REQUESTS / 2;
    let fresh_before: Vec<String> = (0..new_count / 2 + 1)
        .map(|i| {
            issuer
                .token()
                .subject(format!("new-{i}"))
                .scopes(["Orders.Read"])
                .sign()
        })
        .collect();
    let run = |plan: &dyn Fn(usize) -> u8,
               fresh: &mut dyn FnMut() -> String,
               range: std::ops::Range<usize>,
               latencies: &mut Vec<f64>| {
        for i in range {
            let token = match plan(i) {
                0 => seen[i % seen.len()].clone(),
                1 => fresh(),
                _ => forged.clone(),
            };
            let started = std::time::Instant::now();
            let ok = runtime.block_on(validator.validate(&token)).is_ok();
            latencies.push(started.elapsed().as_secs_f64() * 1e6);
            assert_eq!(ok, plan(i) != 2, "request {i}");
        }
    };
    let p99 = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() * 99 / 100]
    };
    // All seen.
    let mut all_seen = Vec::with_capacity(REQUESTS);
    run(&|_| 0, &mut || String::new(), 0..REQUESTS, &mut all_seen);
    // Mixed: the first half, then the rotation (not timed), then the second half.
    let mut mixed = Vec::with_capacity(REQUESTS);
    let mut next = fresh_before.into_iter();
    run(
        &|i| kind(i) as u8,
        &mut || next.next().unwrap_or_default(),
        0..half,
        &mut mixed,
    );
    let new_kid = issuer
        .add_key(warden::Algorithm::RS256)
        .unwrap_or_else(|e| panic!("{e}"));
    issuer.promote(&new_kid).unwrap_or_else(|e| panic!("{e}"));
    let fresh_after: Vec<String> = (0..new_count / 2 + 1)
        .map(|i| {
            issuer
                .token()
                .subject(format!("rotated-{i}"))
                .scopes(["Orders.Read"])
                .sign()
        })
        .collect();
    let mut next = fresh_after.into_iter();
    run(
        &|i| kind(i) as u8,
        &mut || next.next().unwrap_or_default(),
        half..REQUESTS,
        &mut mixed,
    );
    let throughput = |v: &[f64]| v.len() as f64 / (v.iter().sum::<f64>() / 1e6);
    println!(
        "\nMixed traffic: {REQUESTS} validations, 90 % seen, 9 % first seen, 1 % forged, a key rotation halfway (keys by discovery)\n"
    );
    println!("| case | validations per second | p99 | × all seen (throughput) |");
    println!("|---|---|---|---|");
    println!(
        "| all seen | {:.0} | {:.2} µs | 1.00 |",
        throughput(&all_seen),
        p99(all_seen.clone())
    );
    println!(
        "| mixed traffic | {:.0} | {:.2} µs | {:.2} |",
        throughput(&mixed),
        p99(mixed.clone()),
        throughput(&mixed) / throughput(&all_seen)
    );
}
