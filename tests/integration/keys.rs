//! Keys from the issuer: discovery, the JWKS cache under rotation, outages and floods, and
//! Microsoft Entra multi-tenant issuers, all against the fake issuer on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use warden::entra::{Entra, TokenVersion};
use warden::keys::{JwksCache, KeySource, StaticKeys};
use warden::{Error, Issuer, WardenLayer};
use warden_integration_tests::{App, assert_refusal, invalid_token, validator_with_keys};
use warden_testing::{Algorithm, Endpoint, FakeIssuer, Fault};

fn cache(issuer: &FakeIssuer) -> warden::keys::JwksCacheBuilder {
    JwksCache::builder(issuer.issuer_url()).timeouts(Duration::from_secs(2), Duration::from_secs(2))
}

fn app(issuer: &FakeIssuer, keys: JwksCache) -> App {
    App::new(WardenLayer::new(validator_with_keys(issuer, keys)))
}

#[tokio::test]
async fn discovers_the_keys_and_accepts_tokens() {
    let issuer = FakeIssuer::start().await.unwrap();
    let app = app(&issuer, cache(&issuer).build().unwrap());
    assert_eq!(
        issuer.hits(Endpoint::Jwks),
        0,
        "nothing is fetched before a token needs it"
    );
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
    assert_eq!(issuer.hits(Endpoint::Discovery), 1);
    assert_eq!(issuer.hits(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn answers_503_with_retry_after_when_no_key_was_ever_loaded() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.set_fault(Endpoint::Discovery, Fault::Status(503));
    let app = app(&issuer, cache(&issuer).build().unwrap());
    for _ in 0..3 {
        let answer = app.get_me_with(&issuer.token().sign()).await;
        assert_refusal(&answer, 503, None, "signing keys unavailable");
        let retry: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&retry));
    }
    assert_eq!(app.runs.count(), 0);
    assert_eq!(
        issuer.hits(Endpoint::Discovery),
        1,
        "retries back off; requests do not hammer"
    );
}

#[tokio::test]
async fn refuses_discovery_naming_another_issuer() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.set_fault(Endpoint::Discovery, Fault::WrongIssuer);
    let app = app(&issuer, cache(&issuer).build().unwrap());
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    assert_eq!(
        issuer.hits(Endpoint::Jwks),
        0,
        "the discarded document's jwks_uri is not used"
    );
}

#[tokio::test]
async fn refuses_each_kind_of_bad_first_answer_with_503() {
    for fault in [
        Fault::Status(500),
        Fault::Garbage,
        Fault::Html,
        Fault::EmptyKeySet,
        Fault::Oversized(2 * 1024 * 1024),
    ] {
        let issuer = FakeIssuer::start().await.unwrap();
        issuer.set_fault(Endpoint::Jwks, fault.clone());
        let app = app(&issuer, cache(&issuer).build().unwrap());
        let answer = app.get_me_with(&issuer.token().sign()).await;
        assert_refusal(&answer, 503, None, "signing keys unavailable");
        assert_eq!(app.runs.count(), 0, "{fault:?}");
    }
}

#[tokio::test]
async fn keeps_the_last_good_keys_through_every_kind_of_failed_refresh() {
    for fault in [
        Fault::Status(503),
        Fault::Garbage,
        Fault::Html,
        Fault::EmptyKeySet,
        Fault::WrongIssuer,
        Fault::Oversized(2 * 1024 * 1024),
        Fault::Hang,
    ] {
        let issuer = FakeIssuer::start().await.unwrap();
        let keys = JwksCache::builder(issuer.issuer_url())
            .timeouts(Duration::from_millis(300), Duration::from_millis(300))
            .ttl(Duration::from_millis(100))
            .build()
            .unwrap();
        keys.prefetch().await.unwrap();
        let app = app(&issuer, keys);
        issuer.set_fault(Endpoint::Jwks, fault.clone());
        issuer.set_fault(Endpoint::Discovery, fault.clone());
        let fetches = issuer.hits(Endpoint::Jwks) + issuer.hits(Endpoint::Discovery);
        // Let the background refresh fire and fail.
        let deadline = Instant::now() + Duration::from_secs(10);
        while issuer.hits(Endpoint::Jwks) + issuer.hits(Endpoint::Discovery) == fetches
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(Instant::now() < deadline, "no background refresh happened");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            app.get_me_with(&issuer.token().sign()).await.status,
            200,
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn serves_every_valid_request_while_the_provider_is_down() {
    let issuer = FakeIssuer::start().await.unwrap();
    let keys = cache(&issuer)
        .ttl(Duration::from_millis(50))
        .build()
        .unwrap();
    let app = app(&issuer, keys);
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
    issuer.set_fault(Endpoint::Discovery, Fault::Status(503));
    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    for _ in 0..50 {
        assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn rides_through_key_rotation_under_traffic() {
    let issuer = Arc::new(FakeIssuer::start().await.unwrap());
    let keys = cache(&issuer).build().unwrap();
    let validator = validator_with_keys(&issuer, keys);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let issuer = issuer.clone();
        let validator = validator.clone();
        workers.push(tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..100 {
                if validator.validate(&issuer.token().sign()).await.is_err() {
                    failures += 1;
                }
                tokio::task::yield_now().await;
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Publish, then promote: a new kid reaches the validator and causes one refresh.
    let new = issuer.add_key(Algorithm::ES256).unwrap();
    issuer.promote(&new).unwrap();
    let mut failures = 0;
    for worker in workers {
        failures += worker.await.unwrap();
    }
    assert_eq!(failures, 0);
    assert_eq!(
        validator.validate(&issuer.token().sign()).await.map(|_| ()),
        Ok(())
    );
}

#[tokio::test]
async fn forgets_a_retired_key_after_the_next_refresh() {
    let issuer = FakeIssuer::start().await.unwrap();
    let keys = cache(&issuer).build().unwrap();
    let validator = validator_with_keys(&issuer, keys.clone());
    let old_token = issuer.token().sign();
    assert!(validator.validate(&old_token).await.is_ok());
    issuer.rotate(Algorithm::RS256).unwrap();
    // A token of the new key makes the cache refresh; the new set no longer has the old key.
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert!(!keys.snapshot().unwrap().contains_kid("key-1"));
    assert_eq!(
        validator.validate(&old_token).await.unwrap_err(),
        Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
    );
}

#[tokio::test]
async fn shares_one_fetch_between_a_thousand_requests_for_a_new_kid() {
    let issuer = Arc::new(FakeIssuer::start().await.unwrap());
    let keys = cache(&issuer).build().unwrap();
    keys.prefetch().await.unwrap();
    let validator = validator_with_keys(&issuer, keys);
    let new = issuer.add_key(Algorithm::ES256).unwrap();
    issuer.promote(&new).unwrap();
    let token = issuer.token().sign();
    let before = issuer.hits(Endpoint::Jwks);
    issuer.set_fault(Endpoint::Jwks, Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let validator = validator.clone();
            let token = token.clone();
            tokio::spawn(async move { validator.validate(&token).await.is_ok() })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await.unwrap());
    }
    assert_eq!(accepted, 1000);
    assert_eq!(issuer.hits(Endpoint::Jwks) - before, 1);
}

#[tokio::test]
async fn bounds_fetches_for_a_thousand_random_unknown_kids() {
    let issuer = FakeIssuer::start().await.unwrap();
    let keys = cache(&issuer).build().unwrap();
    keys.prefetch().await.unwrap();
    let validator = validator_with_keys(&issuer, keys);
    let before = issuer.hits(Endpoint::Jwks) + issuer.hits(Endpoint::Discovery);
    for i in 0..1000 {
        let token = issuer.token().header("kid", format!("random-{i}")).sign();
        assert_eq!(
            validator.validate(&token).await.unwrap_err(),
            Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
        );
    }
    let fetches = issuer.hits(Endpoint::Jwks) + issuer.hits(Endpoint::Discovery) - before;
    assert!(fetches <= 2, "{fetches} fetches for one cooldown");
}

#[tokio::test]
async fn bounds_the_wait_on_a_jwks_endpoint_that_hangs() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.set_fault(Endpoint::Jwks, Fault::Hang);
    let keys = JwksCache::builder(issuer.issuer_url())
        .timeouts(Duration::from_millis(500), Duration::from_millis(500))
        .build()
        .unwrap();
    let app = app(&issuer, keys);
    let started = Instant::now();
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    // A liveness bound, not a speed target: the request must not wait on the hang.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn fetches_nothing_for_an_untrusted_issuer() {
    let issuer = FakeIssuer::start().await.unwrap();
    let app = app(&issuer, cache(&issuer).build().unwrap());
    let token = issuer
        .token()
        .claim("iss", "http://127.0.0.1:1/attacker")
        .sign();
    let description = "untrusted issuer";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
    assert_eq!(
        issuer.hits(Endpoint::Discovery) + issuer.hits(Endpoint::Jwks),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra

const TENANT: &str = "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c";
const OTHER_TENANT: &str = "0c9d8e7f-6a5b-4c3d-8e1f-2a3b4c5d6e7f";

async fn entra_issuer() -> FakeIssuer {
    FakeIssuer::builder().entra(TENANT).start().await.unwrap()
}

fn entra(issuer: &FakeIssuer) -> warden::entra::EntraBuilder {
    Entra::builder()
        .authority(issuer.base_url())
        .v1_issuer_base(format!("{}/sts", issuer.base_url()))
        .audience(issuer.audience())
}

fn entra_app(builder: warden::entra::EntraBuilder) -> App {
    App::new(
        WardenLayer::builder()
            .entra(builder.build().unwrap())
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn accepts_entra_v2_and_v1_tokens_of_an_allowed_tenant() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT));
    assert_eq!(
        app.get_me_with(&issuer.token().scopes(["Orders.Read"]).sign())
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_me_with(&issuer.token().v1().sign()).await.status,
        200
    );
    assert_eq!(
        app.get_me_with(&issuer.token().app_only().roles(["Orders.Admin"]).sign())
            .await
            .status,
        200
    );
    // The common endpoint's templated issuer was accepted, and fetched once.
    assert_eq!(issuer.hits(Endpoint::Discovery), 1);
    assert_eq!(issuer.hits(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn refuses_a_foreign_tenant_without_fetching() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT));
    let token = issuer.token().tenant(OTHER_TENANT).sign();
    let description = "untrusted issuer";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
    assert_eq!(
        issuer.hits(Endpoint::Discovery) + issuer.hits(Endpoint::Jwks),
        0
    );
}

#[tokio::test]
async fn refuses_a_tid_that_differs_from_the_issuer_tenant() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT));
    let token = issuer.token().claim("tid", OTHER_TENANT).sign();
    let description = "tenant does not match issuer";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn refuses_a_version_the_api_does_not_accept() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT).versions([TokenVersion::V2]));
    let description = "untrusted issuer";
    app.assert_refused(
        &issuer.token().v1().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
    let mislabelled = issuer.token().claim("ver", "1.0").sign();
    let description = "wrong token type";
    app.assert_refused(&mislabelled, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn refuses_a_key_whose_issuer_member_names_another_tenant() {
    let issuer = entra_issuer().await;
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    jwks["keys"][0]["issuer"] = json!(format!("{}/{OTHER_TENANT}/v2.0", issuer.base_url()));
    let keys = StaticKeys::from_jwks(&jwks.to_string()).unwrap();
    let app = entra_app(entra(&issuer).tenant(TENANT).keys(keys));
    let description = "untrusted issuer";
    app.assert_refused(
        &issuer.token().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
}

#[tokio::test]
async fn accepts_any_tenant_only_when_opted_in() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).any_tenant());
    assert_eq!(
        app.get_me_with(&issuer.token().tenant(OTHER_TENANT).sign())
            .await
            .status,
        200
    );
    // Any tenant includes personal Microsoft accounts (the consumer tenant), as docs/entra.md says.
    let consumer = issuer
        .token()
        .tenant("9188040d-6c67-4c5b-b112-36a304b66dad")
        .sign();
    assert_eq!(app.get_me_with(&consumer).await.status, 200);
    let not_a_guid = issuer.token().tenant("contoso.onmicrosoft.com").sign();
    let description = "untrusted issuer";
    app.assert_refused(&not_a_guid, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn refuses_a_client_off_the_allow_list_with_403() {
    let issuer = entra_issuer().await;
    let app = entra_app(
        entra(&issuer)
            .tenant(TENANT)
            .allowed_clients(["trusted-app"]),
    );
    assert_eq!(
        app.get_me_with(&issuer.token().client("trusted-app").sign())
            .await
            .status,
        200
    );
    let description = "client application not allowed";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="{description}""#
    );
    app.assert_refused(
        &issuer.token().client("rogue-app").sign(),
        403,
        &challenge,
        description,
    )
    .await;
    // Every client claim the token carries must be allowed: a second one naming another client
    // is not ignored.
    for (claim, value) in [("appid", "rogue-app"), ("client_id", "rogue-app")] {
        let token = issuer
            .token()
            .client("trusted-app")
            .claim(claim, value)
            .sign();
        app.assert_refused(&token, 403, &challenge, description)
            .await;
    }
}

#[tokio::test]
async fn an_entra_caller_is_its_tenant_and_oid_whatever_its_sub() {
    let issuer = entra_issuer().await;
    let validator = warden::Validator::builder()
        .entra(entra(&issuer).tenant(TENANT).build().unwrap())
        .build()
        .unwrap();
    // alice's `sub` (pairwise per application) happens to equal bob's `oid`.
    let alice = issuer
        .token()
        .subject("bob-oid")
        .object_id("alice-oid")
        .sign();
    let bob = issuer.token().subject("x").object_id("bob-oid").sign();
    let alice = validator.validate(&alice).await.unwrap();
    let bob = validator.validate(&bob).await.unwrap();
    assert_eq!(alice.user_id(), "alice-oid");
    assert_ne!(alice.identity(), bob.identity());
    assert_eq!(alice.identity().namespace, TENANT);
    assert_eq!(alice.tenant_id(), Some(TENANT));
    // A token without `oid` is not an Entra access token.
    let no_oid = issuer.token().without_claim("oid").sign();
    assert_eq!(
        validator.validate(&no_oid).await.unwrap_err(),
        Error::InvalidToken(warden::error::InvalidToken::MissingClaim { claim: "oid" })
    );
}

#[tokio::test]
async fn uses_the_application_http_client() {
    let issuer = FakeIssuer::start().await.unwrap();
    let client = reqwest::Client::builder().build().unwrap();
    let keys = JwksCache::builder(issuer.issuer_url())
        .client(client)
        .build()
        .unwrap();
    let app = app(&issuer, keys);
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
}

#[tokio::test]
async fn refuses_an_entra_id_token_for_the_apis_own_registration() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT));
    // An ID token: same issuer, keys and audience, but no client claim, and a nonce.
    let id_token = issuer
        .token()
        .without_claim("azp")
        .claim("nonce", "n-0S6_WzA2Mj")
        .sign();
    let description = "missing required claim";
    app.assert_refused(&id_token, 401, &invalid_token(description), description)
        .await;
    let with_nonce = issuer.token().claim("nonce", "n-0S6_WzA2Mj").sign();
    let description = "not an access token";
    app.assert_refused(&with_nonce, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn refuses_a_v1_token_signed_by_a_key_bound_to_another_tenant() {
    let issuer = entra_issuer().await;
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    jwks["keys"][0]["issuer"] = json!(format!("{}/{OTHER_TENANT}/v2.0", issuer.base_url()));
    let keys = StaticKeys::from_jwks(&jwks.to_string()).unwrap();
    let app = entra_app(entra(&issuer).tenant(TENANT).keys(keys));
    let description = "untrusted issuer";
    app.assert_refused(
        &issuer.token().v1().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
}

#[tokio::test]
async fn refuses_a_v1_token_signed_by_a_key_whose_issuer_merely_contains_the_tenant() {
    let issuer = entra_issuer().await;
    // The key's `issuer` must resolve to this tenant's issuer exactly: containing the tenant id,
    // or being templated under another host, is not belonging to it.
    for key_issuer in [
        format!("https://attacker.example/{TENANT}/v2.0"),
        format!("{}/{OTHER_TENANT}/v2.0?{TENANT}", issuer.base_url()),
        "https://attacker.example/{tenantid}/v2.0".to_owned(),
    ] {
        let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
        jwks["keys"][0]["issuer"] = json!(key_issuer);
        let keys = StaticKeys::from_jwks(&jwks.to_string()).unwrap();
        let app = entra_app(entra(&issuer).tenant(TENANT).keys(keys));
        let description = "untrusted issuer";
        for token in [issuer.token().v1().sign(), issuer.token().sign()] {
            app.assert_refused(&token, 401, &invalid_token(description), description)
                .await;
        }
    }
}

#[tokio::test]
async fn accepts_a_tenant_id_configured_in_upper_case() {
    let issuer = entra_issuer().await;
    let app = entra_app(entra(&issuer).tenant(TENANT.to_ascii_uppercase()));
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
}

#[tokio::test]
async fn recovers_from_a_hanging_fetch_even_with_a_client_without_timeouts() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.set_fault(Endpoint::Jwks, Fault::Hang);
    let keys = JwksCache::builder(issuer.issuer_url())
        .client(reqwest::Client::new())
        .timeouts(Duration::from_millis(300), Duration::from_millis(300))
        .build()
        .unwrap();
    let app = app(&issuer, keys);
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    issuer.clear_fault(Endpoint::Jwks);
    // The failed fetch ended at its deadline; after the backoff a new one succeeds.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = app.get_me_with(&issuer.token().sign()).await.status;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the cache never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn trusts_entra_beside_another_oidc_provider() {
    let entra_issuer = entra_issuer().await;
    let oidc = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .entra(entra(&entra_issuer).tenant(TENANT).build().unwrap())
        .issuer(
            Issuer::builder(oidc.issuer_url())
                .audience(oidc.audience())
                .keys(cache(&oidc).build().unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = App::new(layer);
    assert_eq!(
        app.get_me_with(&entra_issuer.token().sign()).await.status,
        200
    );
    assert_eq!(app.get_me_with(&oidc.token().sign()).await.status, 200);
    // Each issuer's tokens are checked against its own keys only.
    let forged = oidc.token().claim("iss", entra_issuer.issuer_url()).sign();
    assert_eq!(app.get_me_with(&forged).await.status, 401);
}

#[tokio::test]
async fn the_fake_issuer_takes_faults_over_http() {
    let issuer = FakeIssuer::start().await.unwrap();
    let client = reqwest::Client::new();
    let control = format!("{}/_fake/faults/jwks", issuer.base_url());
    let set = client
        .post(&control)
        .json(&json!({"status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(
        client.get(issuer.jwks_url()).send().await.unwrap().status(),
        503
    );
    let cleared = client.delete(&control).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(
        client.get(issuer.jwks_url()).send().await.unwrap().status(),
        200
    );
    let unknown = client
        .post(format!("{}/_fake/faults/nope", issuer.base_url()))
        .json(&json!({"status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Two faults at once, or a member the API does not know: refused, and nothing set.
    for body in [
        json!({"status": 503, "kind": "html"}),
        json!({"stauts": 503}),
    ] {
        let refused = client.post(&control).json(&body).send().await.unwrap();
        assert!(refused.status().is_client_error(), "{body}");
        assert_eq!(
            client.get(issuer.jwks_url()).send().await.unwrap().status(),
            200
        );
    }
}

#[tokio::test]
async fn refuses_a_key_set_larger_than_its_cap() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.add_key(Algorithm::ES256).unwrap();
    issuer.add_key(Algorithm::ES256).unwrap();
    let capped = cache(&issuer).max_keys(2).build().unwrap();
    assert!(
        capped.prefetch().await.is_err(),
        "a 3-key set passed a cap of 2"
    );
    assert!(capped.snapshot().is_none());
    let roomy = cache(&issuer).max_keys(3).build().unwrap();
    roomy.prefetch().await.unwrap();
    assert_eq!(roomy.snapshot().map(|set| set.len()), Some(3));
    for bad in [0, 1001] {
        let err = cache(&issuer).max_keys(bad).build().unwrap_err();
        assert_eq!(err.field(), "max_keys");
    }
}

/// An RSA-2048 public key with public exponent 3, made with openssl.
const RSA_E3_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEA7/1w5tbOG0YL5/USAl06
VEbP40D/kIabZe5gACPUpS5+Qm8t/b0AiYIcWvFtCRcHuAPLOH9D0mIXAJih1dzQ
fjR/1AqVSNluIuRt59tTwXsAksjV+U7pggi6s7IjhWlM8q9n9GstL6Bd4Et7PAcN
SsEHZ4ZjqXDaiZrfy4SO+CFBMIGoCoRJfKX7Bnce8YHoqUhmDwcE9Di0dYXDMu9/
5bOKIwlx+EQ901LBJM6tnJ7YHvvmPi/S3IpXFNVPdOvV1X1ep3nKKzlFQhgD8caY
m78tj/nxM6abKxHX23vcHFv6uXeu3nBvrJgiWCWU/YBNhaIJ21YflN3FE7WQSMzF
twIBAw==
-----END PUBLIC KEY-----";

/// An RSA-1024 public key (too weak) and a P-521 public key (unsupported), made with openssl.
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDevYCVQqM/Kq0BSFOdep00fJEd
gn400hzhelutnJDOi5wiFZ+ZgTh5YEnLwQ86pJ6nJGOpjj4kSUfVPa4QjcNzNYNv
/fb2lvSLnZHVcnWamg0Bq5hg+PxKKPJrKX68FdEHYV6Qmp+3wuUth0xiCW8HI3lY
Sshnqp0O65Cq3gTT8QIDAQAB
-----END PUBLIC KEY-----";
const P521_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAaYqD9t+PYBfvumWgXOvvH5NyvAv0
/J136mUlhFLpiKhn6zinMPizIbTzVZmadTzK2exn0Tz3z0DI1nEqDKSyN8QAjBE8
vN0dIYiVLwfCDLvUUG/+swxdn504Uo6RmdREWA7JfNFmLGzrL/PZC52QRQlP/RzR
h0A+IXq09SgcCyKrVm0=
-----END PUBLIC KEY-----";

#[tokio::test]
async fn verifies_with_pem_keys_of_every_supported_type() {
    use warden_testing::SigningKey;
    let issuer = FakeIssuer::start().await.unwrap();
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = SigningKey::generate("pem", alg).unwrap();
        let mut pems = vec![key.public_pem()];
        pems.extend(key.public_pkcs1_pem());
        for pem in &pems {
            let keys = StaticKeys::from_pem([(Some("pem"), pem.as_str())]).unwrap();
            let validator = validator_with_keys(&issuer, keys);
            let token = issuer.token().sign_with(&key);
            let principal = validator.validate(&token).await;
            assert!(principal.is_ok(), "{alg:?}: {principal:?}");
            // Twice: the second verification of the prepared algorithm (RS256, ES256, ES384,
            // EdDSA) uses the key parsed by the first; PS256 rebuilds the key each time.
            let again = issuer.token().subject("again").sign_with(&key);
            assert!(validator.validate(&again).await.is_ok(), "{alg:?}");
            let impostor = SigningKey::generate("pem", alg).unwrap();
            let forged = issuer.token().sign_with(&impostor);
            assert_eq!(
                validator.validate(&forged).await.err(),
                Some(Error::InvalidToken(
                    warden::error::InvalidToken::BadSignature
                )),
                "{alg:?}"
            );
        }
    }
}

#[tokio::test]
async fn refuses_a_key_with_a_public_exponent_below_65537() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.add_key(Algorithm::ES256).unwrap();
    // The signing key published with e = 3: it is skipped, so its kid is unknown.
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], issuer.signing_kid());
    jwks["keys"][0]["e"] = json!("Aw");
    let keys = StaticKeys::from_jwks(&jwks.to_string()).unwrap();
    assert_eq!(keys.snapshot().map(|set| set.len()), Some(1));
    let app = App::new(WardenLayer::new(validator_with_keys(&issuer, keys)));
    let description = "unknown signing key";
    app.assert_refused(
        &issuer.token().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
    let err = StaticKeys::from_pem([(None, RSA_E3_PEM)]).unwrap_err();
    assert_eq!(err.field(), "pem");
}

#[test]
fn refuses_pem_blocks_that_are_not_supported_public_keys() {
    let key = warden_testing::SigningKey::generate("k", Algorithm::ES256).unwrap();
    let certificate = key.public_pem().replace("PUBLIC KEY", "CERTIFICATE");
    let private = key.public_pem().replace("PUBLIC KEY", "PRIVATE KEY");
    for pem in [
        certificate.as_str(),
        private.as_str(),
        RSA_1024_PEM,
        P521_PEM,
        "not pem",
    ] {
        let err = StaticKeys::from_pem([(None, pem)]).unwrap_err();
        assert_eq!(err.field(), "pem", "{pem}");
    }
}

// Cooldown and back-off, on tokio's paused time: the test moves the clock instead of sleeping.

#[tokio::test(start_paused = true)]
async fn refreshes_again_for_an_unknown_kid_once_the_cooldown_has_passed() {
    let issuer = FakeIssuer::start().await.unwrap();
    let keys = cache(&issuer)
        .cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    keys.prefetch().await.unwrap();
    let validator = validator_with_keys(&issuer, keys);
    let before = issuer.hits(Endpoint::Jwks);
    let unknown = issuer.token().header("kid", "not-published").sign();
    let refused = |result: Result<warden::Principal, Error>| result.unwrap_err();
    assert_eq!(
        refused(validator.validate(&unknown).await),
        Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
    );
    assert_eq!(
        issuer.hits(Endpoint::Jwks) - before,
        1,
        "the first unknown kid fetches"
    );
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        refused(validator.validate(&unknown).await),
        Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
    );
    assert_eq!(
        issuer.hits(Endpoint::Jwks) - before,
        1,
        "within the cooldown: no fetch"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        refused(validator.validate(&unknown).await),
        Error::InvalidToken(warden::error::InvalidToken::UnknownKey)
    );
    assert_eq!(
        issuer.hits(Endpoint::Jwks) - before,
        2,
        "after the cooldown: one more"
    );
}

#[tokio::test(start_paused = true)]
async fn backs_off_after_failed_fetches_then_recovers_on_its_own() {
    let issuer = FakeIssuer::start().await.unwrap();
    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    let keys = cache(&issuer).build().unwrap();
    let app = app(&issuer, keys.clone());
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (2..=3).contains(&retry_after),
        "first back-off {retry_after} s"
    );
    let fetches = issuer.hits(Endpoint::Jwks);
    // Within the back-off, requests cause no fetch.
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    assert_eq!(issuer.hits(Endpoint::Jwks), fetches);
    // The refresher retries by itself after the back-off, which then doubles.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while issuer.hits(Endpoint::Jwks) == fetches && tokio::time::Instant::now() < deadline {
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(
        issuer.hits(Endpoint::Jwks),
        fetches + 1,
        "one retry after the back-off"
    );
    let answer = app.get_me_with(&issuer.token().sign()).await;
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=5).contains(&retry_after),
        "second back-off, {retry_after} s left"
    );
    // The provider recovers; the next retry loads the keys with no request asking.
    issuer.clear_fault(Endpoint::Jwks);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while keys.snapshot().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::advance(Duration::from_millis(250)).await;
    }
    assert!(
        keys.snapshot().is_some(),
        "the keys were loaded after the back-off"
    );
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
}

/// `WardenLayer::oidc` in one line: discovery, keys loaded before the first request (a wrong URL
/// or a provider down fails the start, naming the issuer), and the builder's defaults.
#[tokio::test]
async fn the_one_line_setup_loads_the_keys_before_the_first_request() {
    let issuer = warden_testing::FakeIssuer::start().await.unwrap();
    let warden = WardenLayer::oidc(issuer.issuer_url(), issuer.audience())
        .await
        .unwrap();
    let status = warden.validator().key_status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].issuer, issuer.issuer_url());
    assert!(status[0].keys.unwrap() >= 1 && status[0].fetched_at.is_some());
    let app = warden_integration_tests::App::new(warden);
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("http://127.0.0.1:{closed}");
    match WardenLayer::oidc(unreachable.clone(), "api://orders").await {
        Err(warden::error::SetupError::KeysUnavailable {
            issuer,
            retry_after,
        }) => {
            assert_eq!(issuer, unreachable);
            assert!(retry_after.as_secs() >= 1);
        }
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
    match WardenLayer::oidc("http://login.example.com", "api://orders").await {
        Err(warden::error::SetupError::Config(error)) => {
            assert_eq!(error.setting(), warden::error::Setting::Issuer, "{error}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
