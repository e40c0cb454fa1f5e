//! Allocations per request and memory per cached key and per cached token, counted by dhat's
//! allocator. Run with `cargo bench -p warden-benches --bench memory`.

use std::hint::black_box;

use warden::keys::KeySet;
use warden_benches::{Fixture, app, bearer, call};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn heap() -> (u64, usize) {
    let stats = dhat::HeapStats::get();
    (stats.total_blocks, stats.curr_bytes)
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let raw_token = fixture.token();
    let token = bearer(&raw_token);

    // Allocations per valid request, through the router (the header built once, as a client
    // would, so that only the server's allocations count).
    for (name, cache) in [("first seen", 0), ("seen before", 16_384)] {
        let router = app(Some(fixture.warden(cache)));
        assert_eq!(
            runtime.block_on(call(&router, "/orders", Some(&token))),
            200
        );
        let bare = app(None);
        let (before, _) = heap();
        for _ in 0..100 {
            black_box(runtime.block_on(call(&router, "/orders", Some(&token))));
        }
        let (after, _) = heap();
        let (bare_before, _) = heap();
        for _ in 0..100 {
            black_box(runtime.block_on(call(&bare, "/me", None)));
        }
        let (bare_after, _) = heap();
        let warden = (after - before) as f64 / 100.0;
        let baseline = (bare_after - bare_before) as f64 / 100.0;
        println!(
            "allocations per valid request ({name}): {warden:.1} with warden, {baseline:.1} for the bare router, {:.1} added by warden",
            warden - baseline
        );
    }

    // Allocations of the validation alone (no router, no layer).
    for (name, cache) in [("first seen", 0), ("seen before", 16_384)] {
        let layer = fixture.warden(cache);
        let validator = layer.validator();
        assert!(runtime.block_on(validator.validate(&raw_token)).is_ok());
        let (before, _) = heap();
        for _ in 0..100 {
            black_box(runtime.block_on(validator.validate(&raw_token)).is_ok());
        }
        let (after, _) = heap();
        println!(
            "allocations per validation ({name}, `Validator::validate` alone): {:.1}",
            (after - before) as f64 / 100.0
        );
    }

    // Memory per cached key: a JWKS of 50 RSA-2048 keys.
    let keys: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let key =
                warden_testing::SigningKey::generate(format!("k{i}"), warden::Algorithm::RS256)
                    .unwrap_or_else(|e| panic!("{e}"));
            key.public_jwk()
        })
        .collect();
    let document = serde_json::json!({ "keys": keys }).to_string();
    let (_, before) = heap();
    let set = KeySet::from_jwks(document.as_bytes(), warden::config::DEFAULT_ALGORITHMS)
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, after) = heap();
    println!(
        "memory per cached RSA-2048 key, Rust heap only: {} bytes ({} keys; see the key_memory bench for the C heap)",
        after.saturating_sub(before) / set.len(),
        set.len()
    );
    drop(set);

    // Memory per cached token: 1,000 distinct tokens through one validator.
    let tokens = fixture.distinct_tokens(1000);
    let router = app(Some(fixture.warden(16_384)));
    let warm = fixture.issuer.token().sign();
    black_box(runtime.block_on(call(&router, "/me", Some(&bearer(&warm)))));
    let headers: Vec<_> = tokens.iter().map(|t| bearer(t)).collect();
    let (_, before) = heap();
    for header in &headers {
        black_box(runtime.block_on(call(&router, "/me", Some(header))));
    }
    let (_, after) = heap();
    let per_token = after.saturating_sub(before) / tokens.len();
    println!(
        "memory per cached token: {per_token} bytes for {}-byte tokens (budget: length + 256 = {})",
        tokens[0].len(),
        tokens[0].len() + 256
    );
}
