//! A DPoP request against a bearer request, in one run: the same token (seen before, so found
//! in the verified-token cache) through the same router, once as `Bearer`, once as `DPoP` with a
//! fresh proof each time; and the proof's ES256 signature check alone, the floor of the extra
//! work.
//!
//! Run with `cargo bench -p warden-benches --bench dpop`.

use std::cell::Cell;
use std::hint::black_box;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use tower::ServiceExt;
use warden_benches::{Fixture, app, measure_all};
use warden_testing::DpopKey;

const PROOFS: usize = 40_000;
/// Requests of each kind timed back to back after the interleaved rounds.
const IN_A_ROW: usize = 6_000;

fn main() {
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let router = app(Some(fixture.warden(16_384)));
    let key = DpopKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let bearer = fixture.token();
    let bound = fixture
        .issuer
        .token()
        .subject("alice")
        .scopes(["Orders.Read"])
        .dpop_bound(&key)
        .sign();
    let proofs: Vec<String> = (0..PROOFS)
        .map(|_| {
            key.proof("GET", "http://bench.test/me")
                .access_token(&bound)
                .sign()
        })
        .collect();

    let send = |request: Request<Body>| {
        runtime
            .block_on(router.clone().oneshot(request))
            .map(|response| response.status().as_u16())
            .unwrap_or(0)
    };
    let bearer_request = || {
        Request::get("/me")
            .header("host", "bench.test")
            .header("authorization", format!("Bearer {bearer}"))
            .body(Body::empty())
            .unwrap_or_default()
    };
    let next = Cell::new(0usize);
    let dpop_request = || {
        let i = next.get();
        next.set(i + 1);
        Request::get("/me")
            .header("host", "bench.test")
            .header("authorization", format!("DPoP {bound}"))
            .header("dpop", proofs[i % PROOFS].as_str())
            .body(Body::empty())
            .unwrap_or_default()
    };
    // Both tokens are seen once before measuring: the cache holds them.
    assert_eq!(send(bearer_request()), 200);
    assert_eq!(send(dpop_request()), 200);

    // The floor: the proof's ES256 signature, the key parsed once.
    let jwk = key.public_jwk();
    let coordinate = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
    let sample = &proofs[0];
    let (input, signature) = sample.rsplit_once('.').unwrap_or_default();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    assert!(public.verify(input.as_bytes(), &signature).is_ok());

    let refused = Cell::new(0usize);
    let times = measure_all(&mut [
        &mut || {
            if send(bearer_request()) != 200 {
                refused.set(refused.get() + 1);
            }
        },
        &mut || {
            if send(dpop_request()) != 200 {
                refused.set(refused.get() + 1);
            }
        },
        &mut || {
            black_box(public.verify(black_box(input.as_bytes()), black_box(&signature))).ok();
        },
    ]);
    assert_eq!(refused.get(), 0, "a measured request was refused");

    // The same requests back to back, each kind in one timed run: no other case between them
    // to evict the path's code and data, as in a server busy with DPoP traffic. Proofs not used
    // above; the per-key quota (a hundredth of the replay cache, 10,000 a minute) bounds the
    // count.
    let in_a_row = |request: &dyn Fn() -> Request<Body>| {
        let started = std::time::Instant::now();
        for _ in 0..IN_A_ROW {
            if send(request()) != 200 {
                refused.set(refused.get() + 1);
            }
        }
        started.elapsed() / IN_A_ROW as u32
    };
    let bearer_in_a_row = in_a_row(&bearer_request);
    let dpop_in_a_row = in_a_row(&dpop_request);
    assert_eq!(refused.get(), 0, "a request in a row was refused");
    assert!(
        next.get() <= PROOFS,
        "proofs reused: {} requests",
        next.get()
    );
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    println!("DPoP against bearer, median of one request through the router (same run):\n");
    println!("| case | time | × bearer |");
    println!("|---|---|---|");
    println!(
        "| warden layer, bearer token seen before | {:.2} µs | 1.00 |",
        us(times[0])
    );
    println!(
        "| warden layer, DPoP-bound token seen before + fresh ES256 proof | {:.2} µs | {:.2} |",
        us(times[1]),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    println!(
        "| floor: the proof's ES256 signature check alone (aws-lc-rs, key parsed once) | {:.2} µs | {:.2} |",
        us(times[2]),
        times[2].as_secs_f64() / times[0].as_secs_f64()
    );
    println!(
        "\nDPoP work beyond the signature: {:.2} µs (parsing the proof and its key, the checks, the thumbprint, the replay cache)",
        us(times[1]) - us(times[0]) - us(times[2])
    );
    println!(
        "\n{IN_A_ROW} requests of each kind in a row: bearer {:.2} µs, DPoP {:.2} µs; DPoP work beyond the signature: {:.2} µs",
        us(bearer_in_a_row),
        us(dpop_in_a_row),
        us(dpop_in_a_row) - us(bearer_in_a_row) - us(times[2])
    );
}
