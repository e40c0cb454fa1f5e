//! Allocation budgets of the validation path, counted by dhat's allocator (deterministic, unlike
//! time): a token seen before costs no allocation at all, and a rejection before any signature
//! work stays within a small, fixed number. The counting allocator serves the whole process and
//! dhat allows one profiler at a time: the test runs under [`serial`](crate::serial), so no
//! other test adds its allocations to the count.

use warden::keys::{JwksCache, KeySource};
use warden::{Algorithm, Error, Issuer, Validator};
use warden_testing::FakeIssuer;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const ROUNDS: u64 = 100;

/// Allocations made by `ROUNDS` calls of `f`, in total.
fn allocations(mut f: impl FnMut()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..ROUNDS {
        f();
    }
    dhat::HeapStats::get().total_blocks - before
}

#[test]
fn validation_allocates_nothing_for_a_token_seen_before_and_little_for_a_rejection() {
    let _serial = crate::serial();
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = runtime.block_on(FakeIssuer::start()).unwrap();
    let validator = Validator::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .jwks(issuer.jwks_json())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let token = issuer.token().scopes(["Orders.Read"]).sign();
    let expired = issuer.token().expires_at(1).sign();
    let validate = |t: &str| runtime.block_on(validator.validate(t));
    // First sight verifies the token and caches it, the second is a warm hit; `block_on` itself
    // allocates nothing.
    assert!(validate(&token).is_ok());
    assert!(validate(&token).is_ok());
    assert_eq!(allocations(|| runtime.block_on(async {})), 0);

    let seen_before = allocations(|| assert!(validate(&token).is_ok()));
    assert_eq!(
        seen_before, 0,
        "allocations in {ROUNDS} validations of a cached token"
    );

    // A key refresh that republishes the key keeps the tokens it verified: the token is still
    // served from the cache, without an allocation. (Only a key leaving the set drops them.)
    let keys = runtime
        .block_on(async { JwksCache::builder(issuer.issuer_url()).build() })
        .unwrap();
    let refreshing = Validator::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .keys(keys.clone())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(runtime.block_on(refreshing.validate(&token)).is_ok());
    let new_kid = issuer.add_key(Algorithm::ES256).unwrap();
    let of_new_key = issuer.token().key(new_kid.clone()).sign();
    assert!(runtime.block_on(refreshing.validate(&of_new_key)).is_ok());
    assert!(keys.snapshot().unwrap().contains_kid(&new_kid));
    let after_refresh =
        allocations(|| assert!(runtime.block_on(refreshing.validate(&token)).is_ok()));
    assert_eq!(
        after_refresh, 0,
        "allocations in {ROUNDS} validations of a token cached before a key refresh"
    );

    // An expired token: the header and the claims decoded and read as borrowed members, `kid` and
    // `typ` copied out; nothing else.
    assert!(matches!(
        validate(&expired),
        Err(Error::InvalidToken(
            warden::error::InvalidToken::Expired { .. }
        ))
    ));
    let rejected = allocations(|| assert!(validate(&expired).is_err()));
    assert!(
        rejected <= 6 * ROUNDS,
        "allocations in {ROUNDS} rejections of an expired token: {rejected}"
    );
}
