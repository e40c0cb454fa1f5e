//! The verified-token cache: a token seen before skips verification, but never revocation, expiry
//! or the removal of its key; the cache is bounded, and an entry costs at most the token's length
//! plus 256 bytes.

use std::sync::Arc;
use std::time::Duration;

use warden::cae::{InMemoryRevocations, Revocation, RevocationStore};
use warden::keys::JwksCache;
use warden::{Error, Validator};
use warden_integration_tests::{now, trust, validator_with_keys};
use warden_testing::{Algorithm, FakeIssuer, TestClock};

fn validator(issuer: &FakeIssuer, capacity: usize) -> Validator {
    Validator::builder()
        .issuer(trust(issuer).build().unwrap())
        .token_cache(capacity)
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_a_token_seen_before_from_the_cache() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = validator(&issuer, 1024);
    let token = issuer
        .token()
        .subject("alice")
        .scopes(["Orders.Read"])
        .sign();
    let first = validator.validate(&token).await.unwrap();
    let second = validator.validate(&token).await.unwrap();
    assert_eq!(validator.cached_tokens(), 1);
    assert_eq!(second.subject(), "alice");
    assert_eq!(
        first.scopes().collect::<Vec<_>>(),
        second.scopes().collect::<Vec<_>>()
    );
    // A tampered twin is a different string: not served from the cache.
    assert_eq!(
        validator
            .validate(&issuer.token().sign_tampered())
            .await
            .unwrap_err(),
        Error::InvalidToken(warden::error::InvalidToken::BadSignature)
    );
}

#[tokio::test]
async fn still_checks_revocation_for_a_cached_token() {
    let issuer = FakeIssuer::start().await.unwrap();
    let store = Arc::new(InMemoryRevocations::default());
    let validator = Validator::builder()
        .issuer(trust(&issuer).build().unwrap())
        .revocations(store.clone())
        .build()
        .unwrap();
    let token = issuer.token().subject("bob").issued_at(now() - 10).sign();
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(validator.cached_tokens(), 1);
    store
        .revoke(Revocation::user("bob").issued_before(now() as u64))
        .await
        .unwrap();
    assert!(matches!(
        validator.validate(&token).await,
        Err(Error::Revoked { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn lets_a_cached_token_expire() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = Validator::builder()
        .issuer(trust(&issuer).build().unwrap())
        .leeway(Duration::from_secs(5))
        .clock(TestClock::new())
        .build()
        .unwrap();
    let token = issuer.token().expires_at(now() + 60).sign();
    assert!(validator.validate(&token).await.is_ok());
    // Within the leeway after `exp`, the cached token still serves; past it, it is expired.
    tokio::time::advance(Duration::from_secs(63)).await;
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(validator.cached_tokens(), 1);
    tokio::time::advance(Duration::from_secs(3)).await;
    assert!(matches!(
        validator.validate(&token).await,
        Err(Error::InvalidToken(
            warden::error::InvalidToken::Expired { .. }
        ))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_revocation_store_forgets_rules_by_its_clock() {
    let clock = TestClock::new();
    let store =
        InMemoryRevocations::with_retention(Duration::from_secs(3600)).with_clock(Arc::new(clock));
    store
        .revoke(Revocation::user("carol").issued_before(now() as u64))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(3599)).await;
    store.prune();
    assert_eq!(
        store.len(),
        1,
        "a token issued before the rule may still be valid"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    store.prune();
    assert_eq!(
        store.len(),
        0,
        "no token the rule could match is valid any more"
    );
}

#[tokio::test]
async fn drops_a_cached_token_when_its_key_leaves_the_key_set() {
    let issuer = FakeIssuer::start().await.unwrap();
    let keys = JwksCache::builder(issuer.issuer_url()).build().unwrap();
    let validator = validator_with_keys(&issuer, keys);
    let old = issuer.token().sign();
    assert!(validator.validate(&old).await.is_ok());
    issuer.rotate(Algorithm::RS256).unwrap();
    // A token of the new key makes the cache refresh; the old key is gone, and so is its token.
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(
        validator.validate(&old).await.unwrap_err(),
        Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
    );
}

#[tokio::test]
async fn stays_within_its_capacity() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = validator(&issuer, 32);
    for i in 0..200 {
        let token = issuer.token().subject(format!("user-{i}")).sign();
        assert!(validator.validate(&token).await.is_ok());
    }
    assert!(
        validator.cached_tokens() <= 32,
        "{}",
        validator.cached_tokens()
    );
    let off = validator_without_cache(&issuer);
    assert!(off.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(off.cached_tokens(), 0);
}

fn validator_without_cache(issuer: &FakeIssuer) -> Validator {
    validator(issuer, 0)
}

#[tokio::test]
async fn costs_at_most_the_token_length_plus_256_bytes_per_token() {
    let oidc = FakeIssuer::start().await.unwrap();
    let entra = FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .start()
        .await
        .unwrap();
    let cases = [
        (
            validator(&oidc, 16),
            oidc.token().scopes(["Orders.Read", "Orders.Write"]).sign(),
        ),
        (
            validator(&oidc, 16),
            oidc.token().app_only().roles(["Reports.Read.All"]).sign(),
        ),
    ];
    for (validator, token) in cases {
        let principal = validator.validate(&token).await.unwrap();
        let cost = principal.heap_bytes() + validator.cache_entry_overhead();
        assert!(
            cost <= token.len() + 256,
            "{cost} bytes for a {}-byte token",
            token.len()
        );
    }
    let validator = Validator::builder()
        .entra(
            warden::entra::Entra::builder()
                .authority(entra.base_url())
                .v1_issuer_base(format!("{}/sts", entra.base_url()))
                .tenant(warden_testing::DEFAULT_TENANT)
                .audience(entra.audience())
                .keys(warden::keys::StaticKeys::from_jwks(&entra.jwks_json()).unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let token = entra
        .token()
        .scopes(["Orders.Read"])
        .cae_capable()
        .acrs(["c1"])
        .sign();
    let principal = validator.validate(&token).await.unwrap();
    let cost = principal.heap_bytes() + validator.cache_entry_overhead();
    assert!(
        cost <= token.len() + 256,
        "{cost} bytes for a {}-byte Entra token",
        token.len()
    );
}
