//! Memory per cached key, everything included: the Rust heap and aws-lc's C heap, which a
//! counting allocator cannot see. Measured as the growth of the resident set (Linux
//! `/proc/self/statm`) over 10,000 RSA-2048 keys: once loaded, and again after each key has
//! verified a token (aws-lc then keeps the modulus' Montgomery constants with the key). An upper
//! bound: freed temporaries can leave holes the resident set still counts.
//!
//! Run with `cargo bench -p warden-benches --bench key_memory`.

use warden::config::DEFAULT_ALGORITHMS;
use warden::keys::KeySet;
use warden_benches::Fixture;
use warden_testing::SigningKey;

const KEYS: usize = 50;
const SETS: usize = 200;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .unwrap_or_else(|e| panic!("this measure needs Linux /proc: {e}"));
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable /proc/self/statm"));
    pages * 4096
}

fn main() {
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let keys: Vec<SigningKey> = (0..KEYS)
        .map(|i| {
            SigningKey::generate(format!("k{i}"), warden::Algorithm::RS256)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let document = serde_json::json!({
        "keys": keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>()
    })
    .to_string();
    let tokens: Vec<String> = keys
        .iter()
        .map(|key| fixture.issuer.token().sign_with(key))
        .collect();

    let start = resident_bytes();
    let sets: Vec<KeySet> = (0..SETS)
        .map(|_| {
            KeySet::from_jwks(document.as_bytes(), DEFAULT_ALGORITHMS)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let loaded = resident_bytes();
    for set in &sets {
        assert_eq!(set.len(), KEYS);
        for token in &tokens {
            let verified = warden::fuzzing::verify_jws(token, set, DEFAULT_ALGORITHMS);
            assert!(verified.is_ok(), "{verified:?}");
        }
    }
    let used = resident_bytes();
    let count = KEYS * SETS;
    println!(
        "memory per cached RSA-2048 key, Rust and C heaps ({count} keys, resident set growth): \
         {} bytes loaded, {} bytes once it has verified a token",
        loaded.saturating_sub(start) / count,
        used.saturating_sub(start) / count
    );
}
