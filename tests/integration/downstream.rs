//! warden-client against the fake Entra issuer on loopback: app tokens with a secret and with a
//! certificate assertion, on-behalf-of for the user warden validated, the cache (one request for
//! many callers, refresh ahead of expiry, a challenge's answer bypassing it), and errors by class.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};
use warden::authz::NameSet as _;
use warden_client::{AcquireError, ClientCredential, TokenClient};
use warden_testing::{ClientRegistration, DEFAULT_TENANT, Endpoint, FakeIssuer};

const MIDDLE_TIER: &str = "7d5a3f6e-1c2b-4a9d-8e7f-0a1b2c3d4e5f";

/// A clock the test moves.
#[derive(Debug, Default)]
struct ManualClock(AtomicU64);

impl ManualClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

impl warden::config::Clock for ManualClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn entra() -> FakeIssuer {
    FakeIssuer::builder()
        .entra(DEFAULT_TENANT)
        .audience("api://orders")
        .start()
        .await
        .unwrap()
}

fn secret_file(secret: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A file per call: tests run in parallel, and a file being written is not yet readable.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!("secret-{}", NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

fn client(issuer: &FakeIssuer, credential: ClientCredential) -> TokenClient {
    TokenClient::builder(DEFAULT_TENANT, MIDDLE_TIER, credential)
        .authority(issuer.base_url())
        .audience("api://orders")
        .client_capabilities(["cp1"])
        .build()
}

#[tokio::test]
async fn app_tokens_with_a_secret_from_a_file_one_request_for_many_callers() {
    let issuer = entra().await;
    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).secret("s3cret-value"));
    let credential = ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap();
    assert_eq!(format!("{credential:?}"), "ClientCredential::Secret(..)");
    let client = client(&issuer, credential);
    let calls = (0..10).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.app_token(&["api://downstream/.default"], None).await })
    });
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap().secret().to_owned());
    }
    assert!(tokens.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(
        issuer.hits(Endpoint::Token),
        1,
        "one request for ten callers"
    );
    let token = claims(&tokens[0]);
    assert_eq!(token["aud"], "api://downstream");
    assert_eq!(token["azp"], MIDDLE_TIER);
    assert_eq!(token["idtyp"], "app");
    assert_eq!(
        token["xms_cc"],
        json!(["cp1"]),
        "the capabilities reach the token"
    );
    // Cached.
    client
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(issuer.hits(Endpoint::Token), 1);

    let wrong = ClientCredential::secret_from_file(secret_file("not-the-secret")).unwrap();
    match self::client(&issuer, wrong)
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::InvalidClient { codes }) => assert_eq!(codes, [7000215]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ClientCredential::secret_from_env("WARDEN_CLIENT_TEST_SECRET_THAT_IS_NOT_SET"),
        Err(warden_client::CredentialError::MissingVariable { .. })
    ));
}

#[tokio::test]
async fn app_tokens_with_a_certificate_assertion() {
    let issuer = entra().await;
    let make = || {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["orders-api".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (key, certificate)
    };
    let (key, certificate) = make();
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER).certificate(certificate.der(), &spki(&key)),
    );
    let credential =
        ClientCredential::certificate_from_pem(&certificate.pem(), &key.serialize_pem()).unwrap();
    assert!(format!("{credential:?}").starts_with("ClientCredential::Certificate(x5t#S256="));
    let token = client(&issuer, credential)
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.secret())["azp"], MIDDLE_TIER);

    // A certificate the registration does not know.
    let (other_key, other) = make();
    let stranger =
        ClientCredential::certificate_from_pem(&other.pem(), &other_key.serialize_pem()).unwrap();
    match client(&issuer, stranger)
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::InvalidClient { codes }) => assert_eq!(codes, [700027]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ClientCredential::certificate_from_pem("not pem", "not pem"),
        Err(warden_client::CredentialError::InvalidCertificate { .. })
    ));
    // A certificate with another certificate's key: refused at once, not at the first request.
    match ClientCredential::certificate_from_pem(&certificate.pem(), &other_key.serialize_pem()) {
        Err(warden_client::CredentialError::InvalidCertificate { reason }) => {
            assert!(reason.contains("not the certificate's"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Plain http to a host that is not loopback: no credential is sent at all.
    let insecure = TokenClient::builder(
        DEFAULT_TENANT,
        MIDDLE_TIER,
        ClientCredential::certificate_from_pem(&certificate.pem(), &key.serialize_pem()).unwrap(),
    )
    .authority("http://login.example.com")
    .build();
    assert!(matches!(
        insecure
            .app_token(&["api://downstream/.default"], None)
            .await,
        Err(AcquireError::InsecureAuthority)
    ));
}

#[tokio::test]
async fn on_behalf_of_the_user_warden_validated() {
    let issuer = entra().await;
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .secret("s3cret-value")
            .audience("api://orders"),
    );
    let client = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    let alice = "a11ce000-0000-4000-8000-000000000001";
    let incoming = issuer
        .token()
        .object_id(alice)
        .scopes(["Orders.Read"])
        .sign();
    let token = client
        .on_behalf_of(&incoming, &["api://downstream/Things.Read"], None)
        .await
        .unwrap();
    let downstream = claims(token.secret());
    assert_eq!(downstream["aud"], "api://downstream");
    assert_eq!(downstream["scp"], "Things.Read");
    assert_eq!(downstream["oid"], alice, "the same user");
    assert_eq!(downstream["azp"], MIDDLE_TIER, "through the middle tier");
    assert_eq!(downstream["xms_cc"], json!(["cp1"]));
    // Cached by the incoming token: the same token again costs nothing; another user's does.
    client
        .on_behalf_of(&incoming, &["api://downstream/Things.Read"], None)
        .await
        .unwrap();
    assert_eq!(issuer.hits(Endpoint::Token), 1);
    let bob = issuer
        .token()
        .object_id("b0b00000-0000-4000-8000-000000000002")
        .scopes(["Orders.Read"])
        .sign();
    let for_bob = client
        .on_behalf_of(&bob, &["api://downstream/Things.Read"], None)
        .await
        .unwrap();
    assert_eq!(
        claims(for_bob.secret())["oid"],
        "b0b00000-0000-4000-8000-000000000002"
    );
    assert_eq!(issuer.hits(Endpoint::Token), 2);

    // A token for another API is refused before any request.
    let elsewhere = issuer.token().audience("api://another").sign();
    assert!(matches!(
        client
            .on_behalf_of(&elsewhere, &["api://downstream/Things.Read"], None)
            .await,
        Err(AcquireError::NotForThisApi)
    ));
    assert_eq!(issuer.hits(Endpoint::Token), 2);
    // An expired one is the platform's AADSTS500133.
    let expired = issuer.token().scopes(["Orders.Read"]).expires_at(1).sign();
    assert!(matches!(
        client
            .on_behalf_of(&expired, &["api://downstream/Things.Read"], None)
            .await,
        Err(AcquireError::AssertionExpired)
    ));
}

#[tokio::test]
async fn a_claims_challenge_comes_back_by_class_and_its_answer_bypasses_the_cache() {
    let issuer = entra().await;
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .secret("s3cret-value")
            .audience("api://orders"),
    );
    let client = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    let incoming = issuer.token().scopes(["Orders.Read"]).sign();
    let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1796601600"}}}"#;
    issuer.fail_next_token(
        400,
        json!({"error": "interaction_required", "error_codes": [50079], "claims": challenge,
               "error_description": "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in MFA."}),
    );
    let claims_asked = match client
        .on_behalf_of(&incoming, &["api://downstream/Things.Read"], None)
        .await
    {
        Err(AcquireError::ClaimsChallenge { claims, codes }) => {
            assert_eq!(codes, [50079]);
            claims
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(claims_asked, challenge);
    // The caller came back with a token that satisfies it: the answer is a new token, carrying
    // the challenge's claims merged with the capabilities.
    let answer: Value = serde_json::from_str(&claims_asked).unwrap();
    let before = issuer.hits(Endpoint::Token);
    let token = client
        .on_behalf_of(&incoming, &["api://downstream/Things.Read"], Some(&answer))
        .await
        .unwrap();
    assert_eq!(issuer.hits(Endpoint::Token), before + 1);
    let downstream = claims(token.secret());
    assert!(downstream["iat"].as_i64().unwrap() >= 1_796_601_600);
    assert_eq!(downstream["xms_cc"], json!(["cp1"]));

    issuer.fail_next_token(503, json!({}));
    assert!(matches!(
        client.app_token(&["api://other/.default"], None).await,
        Err(AcquireError::Unavailable {
            status: Some(503),
            ..
        })
    ));
    issuer.fail_next_token(
        400,
        json!({"error": "invalid_grant", "error_codes": [65001]}),
    );
    assert!(matches!(
        client.app_token(&["api://third/.default"], None).await,
        Err(AcquireError::ConsentRequired { .. })
    ));
}

#[tokio::test]
async fn a_token_near_its_expiry_is_refreshed_in_the_background() {
    let issuer = entra().await;
    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).secret("s3cret-value"));
    let clock = Arc::new(ManualClock::default());
    let client = TokenClient::builder(
        DEFAULT_TENANT,
        MIDDLE_TIER,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    )
    .authority(issuer.base_url())
    .clock(clock.clone())
    .build();
    let scopes = ["api://downstream/.default"];
    let first = client.app_token(&scopes, None).await.unwrap();
    // Four minutes before it expires (the fake's tokens live an hour): within the margin.
    clock.advance(Duration::from_secs(3600 - 240));
    let served = client.app_token(&scopes, None).await.unwrap();
    assert_eq!(
        served.secret(),
        first.secret(),
        "the cached token while it refreshes"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while issuer.hits(Endpoint::Token) < 2 {
        assert!(std::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The refreshed token replaces it (the refresh ran once).
    let mut refreshed = client.app_token(&scopes, None).await.unwrap();
    while refreshed.expires_at() == first.expires_at() {
        assert!(std::time::Instant::now() < deadline, "not replaced");
        tokio::time::sleep(Duration::from_millis(10)).await;
        refreshed = client.app_token(&scopes, None).await.unwrap();
    }
    assert!(refreshed.expires_at() > first.expires_at());
    assert_eq!(issuer.hits(Endpoint::Token), 2);
    // Past its expiry, a token is fetched before it is served.
    clock.advance(Duration::from_secs(2 * 3600));
    let fresh = client.app_token(&scopes, None).await.unwrap();
    assert!(fresh.expires_at() > clock_now(&clock));
    assert_eq!(issuer.hits(Endpoint::Token), 3);
    assert!(!format!("{fresh:?}").contains(fresh.secret()));
}

/// The key's SubjectPublicKeyInfo, DER, from its PEM.
fn spki(key: &rcgen::KeyPair) -> Vec<u8> {
    let body: String = key
        .public_key_pem()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn clock_now(clock: &ManualClock) -> SystemTime {
    warden::config::Clock::now(clock)
}

warden::scopes! {
    pub ItemsRead = "Items.Read";
}

/// The middle tier's state: its token client and where the downstream API listens.
#[derive(Clone)]
struct Onward {
    tokens: TokenClient,
    downstream: String,
    /// The downstream API's last claims challenge, as it sent it.
    challenged: Arc<std::sync::Mutex<Option<String>>>,
}

/// `GET /onward`: calls the downstream API on the caller's behalf; a claims challenge, from
/// the exchange or from the downstream API, goes back to the caller as this API's own.
async fn onward(
    challenger: warden::authz::Challenger,
    headers: axum::http::HeaderMap,
    axum::extract::State(onward): axum::extract::State<Onward>,
) -> Result<String, warden::AuthRejection> {
    let incoming = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let token = match onward
        .tokens
        .on_behalf_of(incoming, &["api://inventory/Items.Read"], None)
        .await
    {
        Ok(token) => token,
        Err(AcquireError::ClaimsChallenge { claims, .. }) => {
            return Err(challenger.claims_challenge(&claims));
        }
        Err(error) => return Ok(format!("exchange failed: {error}")),
    };
    let response = reqwest::Client::new()
        .get(format!("{}/items", onward.downstream))
        .bearer_auth(token.secret())
        .send()
        .await
        .unwrap();
    if response.status() == 401 {
        let challenge = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| warden_client::claims_from_challenge(v).is_some())
            .map(str::to_owned);
        if let Some(challenge) = challenge {
            let claims = warden_client::claims_from_challenge(&challenge).unwrap();
            *onward.challenged.lock().unwrap() = Some(challenge);
            return Err(challenger.claims_challenge(&claims.to_string()));
        }
    }
    Ok(format!(
        "{} {}",
        response.status().as_u16(),
        response.text().await.unwrap()
    ))
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn entra_layer(
    issuer: &FakeIssuer,
    audience: &str,
    revocations: Arc<warden::cae::InMemoryRevocations>,
) -> warden::WardenLayer {
    let entra = warden::entra::Entra::builder()
        .authority(issuer.base_url())
        .tenant(DEFAULT_TENANT)
        .audience(audience)
        .build()
        .unwrap();
    warden::WardenLayer::builder()
        .entra(entra)
        .revocations(revocations)
        .build()
        .unwrap()
}

/// CAE across two APIs: the downstream API revokes the user; the middle tier, calling it on the
/// user's behalf, gets its claims challenge and passes it back to the caller as its own; the
/// caller signs in again with the claims, and the whole chain works again.
#[tokio::test]
async fn a_downstream_claims_challenge_reaches_the_caller_and_the_chain_recovers() {
    use axum::routing::get;
    let issuer = entra().await;
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .secret("s3cret-value")
            .audience("api://orders"),
    );
    let downstream_revocations = Arc::new(warden::cae::InMemoryRevocations::default());
    let downstream = serve(
        axum::Router::new()
            .route(
                "/items",
                get(|_: warden::authz::RequireScope<ItemsRead>| async { "items" }),
            )
            .layer(entra_layer(
                &issuer,
                "api://inventory",
                downstream_revocations.clone(),
            )),
    )
    .await;
    let tokens = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    let challenged: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let middle = serve(
        axum::Router::new()
            .route("/onward", get(onward))
            .with_state(Onward {
                tokens,
                downstream,
                challenged: challenged.clone(),
            })
            .layer(entra_layer(&issuer, "api://orders", Arc::default())),
    )
    .await;
    let alice = "a11ce000-0000-4000-8000-000000000001";
    let caller = |token: &str| {
        reqwest::Client::new()
            .get(format!("{middle}/onward"))
            .bearer_auth(token)
            .send()
    };
    let first = issuer
        .token()
        .audience("api://orders")
        .object_id(alice)
        .scopes(["Orders.Read"])
        .cae_capable()
        .sign();
    let answer = caller(&first).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "200 items");

    // The downstream API revokes the user (its own CAE: an event, an administrator).
    let revoked_at = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    warden::cae::RevocationStore::revoke(
        &*downstream_revocations,
        warden::cae::Revocation::user(alice)
            .in_tenant(DEFAULT_TENANT)
            .issued_before(revoked_at + 1),
    )
    .await
    .unwrap();
    let refused = caller(&first).await.unwrap();
    assert_eq!(
        refused.status(),
        401,
        "the caller hears the downstream challenge"
    );
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let prefix = format!(
        r#"Bearer realm="", authorization_uri="{}/common/oauth2/authorize", error="insufficient_claims", claims=""#,
        issuer.base_url()
    );
    assert!(challenge.starts_with(&prefix), "{challenge}");
    let asked = warden_client::claims_from_challenge(&challenge).unwrap();
    // Exactly the claims the downstream API asked for: a token issued after its revocation.
    let downstream_challenge = challenged.lock().unwrap().clone().unwrap();
    assert_eq!(
        asked,
        warden_client::claims_from_challenge(&downstream_challenge).unwrap(),
        "{downstream_challenge}"
    );
    assert_eq!(
        asked,
        json!({"access_token": {"nbf": {"essential": true, "value": (revoked_at + 1).to_string()}}})
    );
    let nbf = revoked_at + 1;

    // The caller's client signs in again with those claims (as MSAL does): a token issued
    // after the revocation. The exchange is new (a new incoming token), and so is the chain.
    let again = issuer
        .token()
        .audience("api://orders")
        .object_id(alice)
        .scopes(["Orders.Read"])
        .cae_capable()
        .issued_at(i64::try_from(nbf).unwrap() + 1)
        .not_before(i64::try_from(nbf).unwrap() + 1)
        .sign();
    // The exchange's token is issued now: the test waits out the revoked second, which a
    // person signing in again always does.
    while SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= revoked_at + 1
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = caller(&again).await.unwrap();
    assert_eq!(recovered.status(), 200);
    assert_eq!(recovered.text().await.unwrap(), "200 items");
}

#[tokio::test]
async fn a_failure_is_one_request_for_all_its_waiters_and_is_classed_by_its_status() {
    let issuer = entra().await;
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .secret("s3cret-value")
            .audience("api://orders"),
    );
    let client = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    // A 503 with a text body (a proxy's), not the platform's JSON.
    issuer.set_fault(Endpoint::Token, warden_testing::Fault::Status(503));
    let calls = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.app_token(&["api://downstream/.default"], None).await })
    });
    for call in calls {
        assert!(matches!(
            call.await.unwrap(),
            Err(AcquireError::Unavailable {
                status: Some(503),
                ..
            })
        ));
    }
    assert_eq!(
        issuer.hits(Endpoint::Token),
        1,
        "one request failed for five callers"
    );
    issuer.clear_fault(Endpoint::Token);

    // An application's own token is not exchanged: refused before any request.
    let app_only = issuer.token().app_only().roles(["Orders.Admin"]).sign();
    assert!(matches!(
        client
            .on_behalf_of(&app_only, &["api://downstream/Things.Read"], None)
            .await,
        Err(AcquireError::NotAUserToken)
    ));
    assert_eq!(issuer.hits(Endpoint::Token), 1);
}

warden::groups! {
    pub Finance = "f1000000-0000-4000-8000-000000000001";
}

/// Group overage resolved on (a fake) Microsoft Graph with the API's app token: paging followed,
/// a 429 waited out once, an outage answered 503, never "not a member".
#[tokio::test]
async fn group_overage_is_resolved_on_microsoft_graph() {
    use axum::routing::get;
    // This test's own recorder (thread-local; every task of the test runs on its thread).
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let issuer = entra().await;
    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).secret("s3cret-value"));
    let graph = warden_testing::FakeGraph::start().await.unwrap();
    graph.page_size(2);
    let (alice, bob, carol, dave, erin) = (
        "a11ce000-0000-4000-8000-000000000001",
        "b0b00000-0000-4000-8000-000000000002",
        "ca201000-0000-4000-8000-000000000003",
        "da7e0000-0000-4000-8000-000000000004",
        "e2110000-0000-4000-8000-000000000005",
    );
    graph.add_member(
        alice,
        [
            "11111111-0000-4000-8000-000000000001",
            "22222222-0000-4000-8000-000000000002",
            "33333333-0000-4000-8000-000000000003",
            Finance::NAMES[0],
        ],
    );
    graph.add_member(bob, ["11111111-0000-4000-8000-000000000001"]);
    graph.add_member(carol, [Finance::NAMES[0]]);
    graph.add_member(dave, [Finance::NAMES[0]]);
    graph.add_member(erin, [Finance::NAMES[0]]);
    let tokens = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    let resolver =
        warden_client::GraphGroups::with_graph(tokens, graph.url()).timeout(Duration::from_secs(5));
    let entra = warden::entra::Entra::builder()
        .authority(issuer.base_url())
        .tenant(DEFAULT_TENANT)
        .audience("api://orders")
        .build()
        .unwrap();
    let layer = warden::WardenLayer::builder()
        .entra(entra)
        .group_resolver(resolver, Duration::from_secs(60))
        .build()
        .unwrap();
    let base = serve(
        axum::Router::new()
            .route(
                "/finance",
                get(|_: warden::authz::RequireGroup<Finance>| async { "ledger" }),
            )
            .layer(layer),
    )
    .await;
    let call = |user: &'static str| {
        let token = issuer
            .token()
            .object_id(user)
            .scopes(["Orders.Read"])
            .claim("hasgroups", true)
            .sign();
        let url = format!("{base}/finance");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let answer = call(alice).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ledger");
    assert_eq!(graph.hits(), 2, "two pages of two groups");

    let answer = call(bob).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(
        answer.headers()["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="missing group membership""#
    );

    // Throttled once: Graph's Retry-After waited out, then the answer.
    let before = graph.hits();
    graph.fail_next(429, Some(1));
    assert_eq!(call(carol).await.status(), 200);
    assert_eq!(graph.hits(), before + 2);

    // Throttled with Retry-After as an HTTP date, four seconds ahead (whole seconds, so three
    // to four): waited out too, for longer than the one second assumed when Graph says nothing.
    let before = graph.hits();
    graph.fail_next_until(429, SystemTime::now() + Duration::from_secs(4));
    let started = std::time::Instant::now();
    assert_eq!(call(dave).await.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(graph.hits(), before + 2);

    // Down: the requirement answers 503, not "not a member".
    graph.fail_next(503, None);
    graph.fail_next(503, None);
    let answer = call(erin).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().get("retry-after").is_some());

    // A user in hundreds of groups (Finance the last of 250), in pages of 100: three pages.
    graph.page_size(100);
    let grace = "62ace000-0000-4000-8000-000000000007";
    graph.add_member(
        grace,
        (0..249)
            .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
            .chain([Finance::NAMES[0].to_owned()]),
    );
    let before = graph.hits();
    assert_eq!(call(grace).await.status(), 200);
    assert_eq!(graph.hits(), before + 3, "250 groups, 100 a page");

    // Graph revokes the API's tokens (CAE): its claims challenge gets a new app token carrying
    // the claims, and the same lookup goes on with it.
    let frank = "f2a11c00-0000-4000-8000-000000000006";
    graph.add_member(frank, [Finance::NAMES[0]]);
    graph.revoke_tokens_issued_before(unix_now() + 1);
    let (graph_before, tokens_before) = (graph.hits(), issuer.hits(Endpoint::Token));
    let answer = call(frank).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        graph.hits(),
        graph_before + 2,
        "the challenge, then the answer"
    );
    assert_eq!(
        issuer.hits(Endpoint::Token),
        tokens_before + 1,
        "one new token, with the claims"
    );

    // Every lookup counted by result: alice, bob, carol, dave, grace and frank looked up, erin's
    // failed; none answered from the cache (each caller asked once).
    let text = metrics.render();
    let lookups = warden_integration_tests::metric_series(&text, "warden_group_lookups_total");
    assert_eq!(lookups[r#"{result="ok"}"#], 6.0, "{text}");
    assert_eq!(lookups[r#"{result="error"}"#], 1.0, "{text}");
}

fn unix_now() -> u64 {
    warden_integration_tests::now().unsigned_abs()
}

/// CAE for an app token: the downstream API revokes the API's own tokens; `call_as_app` gets
/// the claims challenge, acquires a token carrying its claims, and retries once: the caller
/// sees 200. A downstream that challenges again gets no third call.
#[tokio::test]
async fn an_app_token_revoked_downstream_is_acquired_again_with_the_claims_and_retried_once() {
    use axum::routing::get;
    let issuer = entra().await;
    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).secret("s3cret-value"));
    let revocations = Arc::new(warden::cae::InMemoryRevocations::default());
    let downstream = serve(
        axum::Router::new()
            .route("/items", get(|| async { "items" }))
            .layer(entra_layer(&issuer, "api://inventory", revocations.clone())),
    )
    .await;
    let tokens = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    let calls = AtomicU64::new(0);
    let http = reqwest::Client::new();
    let call_inventory = || {
        tokens.call_as_app(&["api://inventory/.default"], |token| {
            calls.fetch_add(1, Ordering::SeqCst);
            http.get(format!("{downstream}/items"))
                .bearer_auth(token.secret())
                .send()
        })
    };
    let answer = call_inventory().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.hits(Endpoint::Token), 1);

    // The downstream API revokes the API's tokens (a leaked credential, an administrator).
    warden::cae::RevocationStore::revoke(
        &*revocations,
        warden::cae::Revocation::client(MIDDLE_TIER).issued_before(unix_now() + 1),
    )
    .await
    .unwrap();
    let answer = call_inventory().await.unwrap();
    assert_eq!(answer.status(), 200, "recovered with the claims' token");
    assert_eq!(answer.text().await.unwrap(), "items");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the challenged call, then one retry"
    );
    assert_eq!(
        issuer.hits(Endpoint::Token),
        2,
        "one new token, with the claims"
    );

    // The new token is cached in the old one's place.
    assert_eq!(call_inventory().await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(issuer.hits(Endpoint::Token), 2);

    // Another revocation while eight calls are in flight: each is challenged alike, and the
    // eight share one new token.
    warden::cae::RevocationStore::revoke(
        &*revocations,
        warden::cae::Revocation::client(MIDDLE_TIER).issued_before(unix_now() + 2),
    )
    .await
    .unwrap();
    let answers = futures_util::future::join_all((0..8).map(|_| call_inventory())).await;
    for answer in answers {
        assert_eq!(answer.unwrap().status(), 200);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4 + 16,
        "each challenged once, then retried"
    );
    assert_eq!(
        issuer.hits(Endpoint::Token),
        3,
        "one new token for the eight"
    );

    // A downstream API whose challenge no token can meet (revoked an hour ahead): the second
    // answer is returned, challenge and all, and there is no third call.
    warden::cae::RevocationStore::revoke(
        &*revocations,
        warden::cae::Revocation::client(MIDDLE_TIER).issued_before(unix_now() + 3600),
    )
    .await
    .unwrap();
    let answer = call_inventory().await.unwrap();
    assert_eq!(answer.status(), 401);
    // The token asked for is valid only from an hour ahead, and refused as such.
    assert_eq!(
        answer.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="token not yet valid""#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 22, "two calls, no third");
}

/// Workload identity federation: a token another issuer wrote to a file (a Kubernetes service
/// account's) signs the API in; no secret exists. The file is read again for every request.
#[tokio::test]
async fn a_federated_token_file_signs_the_api_in_with_no_secret() {
    let issuer = entra().await;
    let cluster = FakeIssuer::start().await.unwrap();
    let subject = "system:serviceaccount:orders:orders-api";
    let key = cluster.signing_key().unwrap().public_spki_der();
    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).federated(
        cluster.issuer_url(),
        subject,
        &key,
    ));
    let path = std::env::temp_dir().join(format!("warden-wif-{}", std::process::id()));
    let write = |sub: &str| {
        let token = cluster
            .token()
            .subject(sub)
            .audience(warden_testing::FEDERATED_AUDIENCE)
            .sign();
        std::fs::write(&path, token).unwrap();
    };
    write(subject);
    let (credential, source) = ClientCredential::from_variables(|name| {
        (name == "AZURE_FEDERATED_TOKEN_FILE").then(|| path.display().to_string())
    })
    .unwrap();
    assert_eq!(source, warden_client::CredentialSource::FederatedTokenFile);
    let client = client(&issuer, credential);
    let token = client
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.secret())["azp"], MIDDLE_TIER);
    // Another workload's token (the file rotated to one it should not have): no matching record.
    write("system:serviceaccount:other:intruder");
    match client.app_token(&["api://elsewhere/.default"], None).await {
        Err(AcquireError::InvalidClient { codes }) => assert_eq!(codes, [70021]),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_file(&path);
    // Nothing offered: the error names what was looked for.
    match ClientCredential::from_variables(|_| None) {
        Err(warden_client::CredentialError::MissingVariable { name }) => {
            assert!(name.contains("AZURE_FEDERATED_TOKEN_FILE"));
        }
        other => panic!("{other:?}"),
    }
}

const MANAGED_IDENTITY_CLIENT: &str = "5e29463d-71da-4fe0-8e69-999b57db23b0";
const MANAGED_IDENTITY_OBJECT: &str = "3c9e1f2a-8b7d-4e6f-9a0b-1c2d3e4f5a6b";
/// A user-assigned identity of the same host that the API's registration does not trust.
const UNTRUSTED_IDENTITY_CLIENT: &str = "6f3a2b1c-0d9e-4f8a-b7c6-d5e4f3a2b1c0";

/// The fake Entra issuer, with the user-assigned identity on its host that the middle tier's
/// registration trusts as a federated credential (issuer: the tenant's; subject: the identity's
/// object id), and another identity it does not trust.
async fn entra_with_managed_identity() -> FakeIssuer {
    let issuer = entra().await;
    issuer.assign_user_identity(MANAGED_IDENTITY_CLIENT, MANAGED_IDENTITY_OBJECT);
    issuer.assign_user_identity(
        UNTRUSTED_IDENTITY_CLIENT,
        "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d",
    );
    let key = issuer.signing_key().unwrap().public_spki_der();
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .federated(
                issuer.entra_issuer(DEFAULT_TENANT),
                MANAGED_IDENTITY_OBJECT,
                &key,
            )
            .audience("api://orders"),
    );
    issuer
}

/// A user-assigned managed identity signs the API in as its federated credential, through the
/// Azure SDK's real `ManagedIdentityCredential` against the fake App Service endpoint
/// (`IDENTITY_ENDPOINT`, `X-IDENTITY-HEADER`): app tokens and on-behalf-of, no secret anywhere.
/// The SDK reads its endpoint from the process environment, which a test cannot set in its own
/// process (`unsafe` is forbidden, and other tests share it), so the test runs itself again as a
/// child process with the variables set, and checks what the fake saw.
#[tokio::test(flavor = "multi_thread")]
async fn a_managed_identity_signs_the_api_in_as_its_federated_credential() {
    if let Ok(authority) = std::env::var("WARDEN_TEST_MI_AUTHORITY") {
        let incoming = std::env::var("WARDEN_TEST_MI_INCOMING").unwrap();
        return managed_identity_in_app_service(&authority, &incoming).await;
    }
    let issuer = entra_with_managed_identity().await;
    let incoming = issuer
        .token()
        .object_id("a11ce000-0000-4000-8000-000000000001")
        .scopes(["Orders.Read"])
        .sign();
    let name = format!(
        "{}::a_managed_identity_signs_the_api_in_as_its_federated_credential",
        module_path!().split_once("::").unwrap().1
    );
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .kill_on_drop(true)
        // Variables that would make the SDK pick another host than App Service.
        .env_remove("IDENTITY_SERVER_THUMBPRINT")
        .env_remove("IMDS_ENDPOINT")
        .env_remove("MSI_ENDPOINT")
        .env_remove("MSI_SECRET")
        .env("IDENTITY_ENDPOINT", issuer.managed_identity_endpoint())
        .env("IDENTITY_HEADER", warden_testing::IDENTITY_HEADER_SECRET)
        .env(
            warden_client::MANAGED_IDENTITY_VARIABLE,
            MANAGED_IDENTITY_CLIENT,
        )
        .env("WARDEN_TEST_MI_AUTHORITY", issuer.base_url())
        .env("WARDEN_TEST_MI_INCOMING", &incoming);
    let output = tokio::time::timeout(Duration::from_secs(120), child.output())
        .await
        .expect("the child process finishes within two minutes")
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("1 passed"),
        "the child ran the test: {report}"
    );
    // The identity's endpoint was asked (the trusted identity once, thanks to the SDK's cache;
    // the untrusted and the unassigned once each), and the token endpoint saw the assertions.
    assert_eq!(issuer.hits(Endpoint::ManagedIdentity), 3);
    assert_eq!(issuer.hits(Endpoint::Token), 3);
}

/// The child's half: the process environment is App Service's.
async fn managed_identity_in_app_service(authority: &str, incoming: &str) {
    let build = |credential| {
        TokenClient::builder(DEFAULT_TENANT, MIDDLE_TIER, credential)
            .authority(authority)
            .audience("api://orders")
            .build()
    };
    let (credential, source) = ClientCredential::from_environment().unwrap();
    assert_eq!(source, warden_client::CredentialSource::ManagedIdentity);
    let client = build(credential);
    let app = client
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(
        claims(app.secret())["azp"],
        MIDDLE_TIER,
        "the API, not the identity"
    );
    let user = client
        .on_behalf_of(incoming, &["api://downstream/Things.Read"], None)
        .await
        .unwrap();
    assert_eq!(
        claims(user.secret())["oid"],
        "a11ce000-0000-4000-8000-000000000001"
    );
    // An identity of the host the registration does not trust: Entra finds no record.
    let untrusted = build(ClientCredential::managed_identity(UNTRUSTED_IDENTITY_CLIENT).unwrap());
    match untrusted
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::InvalidClient { codes }) => assert_eq!(codes, [70021]),
        other => panic!("{other:?}"),
    }
    // An identity not assigned to the host: the credential's error, before any token request.
    let unassigned =
        build(ClientCredential::managed_identity("11111111-2222-4333-8444-555555555555").unwrap());
    match unassigned
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::Credential(warden_client::CredentialError::TokenCredential {
            reason,
        })) => assert!(reason.contains("not been assigned"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// IMDS (virtual machines, AKS): the Azure SDK's credential asks the link-local
/// `169.254.169.254`, which a test cannot serve; its transport is given a client that sends the
/// same request to the fake issuer on loopback instead, so the SDK's own request (`Metadata:
/// true`, the identity's `client_id`, the resource) meets the fake's checks.
#[derive(Debug)]
struct ImdsOnLoopback {
    port: u16,
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for ImdsOnLoopback {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        assert_eq!(request.url().host_str(), Some("169.254.169.254"));
        let mut request = request.clone();
        let url = request.url_mut();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        azure_core::http::HttpClient::execute_request(&self.client, &request).await
    }
}

/// A credential whose endpoint cannot be reached: the error says "try later", not "fix your
/// configuration".
#[derive(Debug)]
struct Unreachable;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for Unreachable {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Connection,
            "connection refused\nby the host",
        ))
    }
}

#[tokio::test]
async fn an_unreachable_identity_endpoint_is_unavailable_not_a_configuration_error() {
    let issuer = entra_with_managed_identity().await;
    let client = client(
        &issuer,
        ClientCredential::token_credential(Arc::new(Unreachable)),
    );
    match client.app_token(&["api://downstream/.default"], None).await {
        Err(AcquireError::Unavailable { status: None, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        issuer.hits(Endpoint::Token),
        0,
        "nothing sent without an assertion"
    );
}

#[tokio::test]
async fn a_managed_identity_on_a_virtual_machine_through_imds() {
    let issuer = entra_with_managed_identity().await;
    let options = azure_identity::ManagedIdentityCredentialOptions {
        user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(
            MANAGED_IDENTITY_CLIENT.to_owned(),
        )),
        client_options: azure_core::http::ClientOptions {
            transport: Some(azure_core::http::Transport::new(Arc::new(ImdsOnLoopback {
                port: issuer.addr().port(),
                client: reqwest::Client::new(),
            }))),
            ..Default::default()
        },
    };
    let identity = azure_identity::ManagedIdentityCredential::new(Some(options)).unwrap();
    let client = client(
        &issuer,
        ClientCredential::token_credential(identity.clone()),
    );
    let token = client
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.secret())["azp"], MIDDLE_TIER);
    assert_eq!(issuer.hits(Endpoint::ManagedIdentity), 1);
    // The same identity calls Graph as itself for group overage (granted GroupMember.Read.All;
    // no app registration needed for that).
    let graph = warden_testing::FakeGraph::start().await.unwrap();
    let alice = "a11ce000-0000-4000-8000-000000000001";
    graph.add_member(alice, [Finance::NAMES[0]]);
    let resolver = warden_client::GraphGroups::with_token_credential(identity, graph.url());
    let layer = warden::WardenLayer::builder()
        .entra(
            warden::entra::Entra::builder()
                .authority(issuer.base_url())
                .tenant(DEFAULT_TENANT)
                .audience("api://orders")
                .build()
                .unwrap(),
        )
        .group_resolver(resolver, Duration::from_secs(60))
        .build()
        .unwrap();
    let base = serve(
        axum::Router::new()
            .route(
                "/finance",
                axum::routing::get(|_: warden::authz::RequireGroup<Finance>| async { "ledger" }),
            )
            .layer(layer),
    )
    .await;
    let token = issuer
        .token()
        .object_id(alice)
        .scopes(["Orders.Read"])
        .claim("hasgroups", true)
        .sign();
    let answer = reqwest::Client::new()
        .get(format!("{base}/finance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(graph.hits(), 1);
    assert_eq!(
        issuer.hits(Endpoint::ManagedIdentity),
        2,
        "one token for the exchange, one for Graph"
    );
}

/// The fake hosts refuse what the real ones refuse: App Service a request without its secret
/// header, IMDS one without `Metadata: true`, both an identity not assigned to them; and the
/// fake Entra a user's token offered as a federated credential (AADSTS700229).
#[tokio::test]
async fn the_fake_managed_identity_hosts_refuse_what_azure_refuses() {
    let issuer = entra_with_managed_identity().await;
    let http = reqwest::Client::new();
    let query = [
        ("resource", "api://AzureADTokenExchange"),
        ("api-version", "2019-08-01"),
        ("client_id", MANAGED_IDENTITY_CLIENT),
    ];
    let ask = |url: String,
               header: Option<(&'static str, &'static str)>,
               query: Vec<(&'static str, &'static str)>| {
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = http.get(format!("{url}?{}", query.join("&")));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        async move {
            let answer = request.send().await.unwrap();
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        }
    };
    let app_service = issuer.managed_identity_endpoint();
    let imds = format!("{}/metadata/identity/oauth2/token", issuer.base_url());
    let secret = Some(("x-identity-header", warden_testing::IDENTITY_HEADER_SECRET));
    let (status, body) = ask(app_service.clone(), None, query.to_vec()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = ask(app_service.clone(), secret, query.to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["expires_on"]
            .as_str()
            .map(|s| s.parse::<u64>().is_ok()),
        Some(true)
    );
    let token = claims(body["access_token"].as_str().unwrap());
    assert_eq!(token["sub"], MANAGED_IDENTITY_OBJECT);
    assert_eq!(token["aud"], "api://AzureADTokenExchange");
    assert_eq!(token["idtyp"], "app");
    let (status, body) = ask(imds.clone(), None, query.to_vec()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_request_102"))
    );
    let (status, _) = ask(imds.clone(), Some(("metadata", "true")), query.to_vec()).await;
    assert_eq!(status, 200);
    // No identity named, and no system-assigned one on this host.
    let (status, body) = ask(imds, Some(("metadata", "true")), query[..2].to_vec()).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Identity not found"))
    );
    // A user's token, from the trusted issuer about the trusted subject, is no credential.
    let delegated = issuer
        .token()
        .subject(MANAGED_IDENTITY_OBJECT)
        .audience(warden_testing::FEDERATED_AUDIENCE)
        .scopes(["Orders.Read"])
        .sign();
    let answer = http
        .post(format!(
            "{}/{DEFAULT_TENANT}/oauth2/v2.0/token",
            issuer.base_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", MIDDLE_TIER),
            ("scope", "api://downstream/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &delegated),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error_codes"],
        json!([700229])
    );
}

/// A certificate from PKCS#12 (as Key Vault and Windows export it), and `x5c` for an app that
/// trusts certificates by subject name and issuer: without the chain its assertion is refused,
/// with it accepted; the chain picks both up from Azure's variables.
#[tokio::test]
async fn a_pkcs12_certificate_and_its_chain_for_subject_name_and_issuer_trust() {
    let issuer = entra().await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["orders-api".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .certificate(certificate.der(), &spki(&key))
            .require_certificate_chain(),
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "orders-api",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            b"orders-api".as_slice(),
            p12_keystore::PrivateKey::from_der(&key.serialize_der()).unwrap(),
            [p12_keystore::Certificate::from_der(certificate.der()).unwrap()],
        )),
    );
    let pkcs12 = store.writer("correct horse").write().unwrap();
    let credential = ClientCredential::certificate_from_pkcs12(&pkcs12, "correct horse").unwrap();
    // Without x5c: the app trusts by subject name and issuer, so Entra wants the chain.
    match client(&issuer, credential.clone())
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::InvalidClient { codes }) => assert_eq!(codes, [700027]),
        other => panic!("{other:?}"),
    }
    let token = client(&issuer, credential.send_certificate_chain().unwrap())
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.secret())["azp"], MIDDLE_TIER);
    // A wrong password, and a chain asked of a credential with none.
    assert!(matches!(
        ClientCredential::certificate_from_pkcs12(&pkcs12, "wrong"),
        Err(warden_client::CredentialError::InvalidCertificate { .. })
    ));
    assert!(matches!(
        ClientCredential::secret_from_file(secret_file("s"))
            .unwrap()
            .send_certificate_chain(),
        Err(warden_client::CredentialError::InvalidCertificate { .. })
    ));
    // The chain: a PKCS#12 file, its password and the chain flag, as Azure's SDKs name them.
    let path = secret_file("");
    std::fs::write(&path, &pkcs12).unwrap();
    let (credential, source) = ClientCredential::from_variables(|name| match name {
        "AZURE_CLIENT_CERTIFICATE_PATH" => Some(path.display().to_string()),
        "AZURE_CLIENT_CERTIFICATE_PASSWORD" => Some("correct horse".to_owned()),
        "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN" => Some("true".to_owned()),
        _ => None,
    })
    .unwrap();
    assert_eq!(source, warden_client::CredentialSource::Certificate);
    client(&issuer, credential)
        .app_token(&["api://elsewhere/.default"], None)
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
}

/// The fake Entra answers as Entra does where a client could go wrong: client credentials only
/// for `{resource}/.default` (AADSTS1002012), and on-behalf-of only for a user's token of the
/// tenant asked (AADSTS50013), whatever key signed it.
#[tokio::test]
async fn the_fake_entra_refuses_delegated_scopes_for_an_app_and_a_token_of_another_tenant() {
    let issuer = entra().await;
    issuer.register_client(
        ClientRegistration::new(MIDDLE_TIER)
            .secret("s3cret-value")
            .audience("api://orders"),
    );
    let client = client(
        &issuer,
        ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
    );
    match client
        .app_token(&["api://downstream/Things.Read"], None)
        .await
    {
        Err(AcquireError::Service { error, codes, .. }) => {
            assert_eq!((error.as_str(), codes), ("invalid_scope", vec![1002012]));
        }
        other => panic!("{other:?}"),
    }
    let other_tenant = issuer
        .token()
        .tenant("0b0b0b0b-1c1c-4d2d-8e3e-4f4f4f4f4f4f")
        .scopes(["Orders.Read"])
        .sign();
    match client
        .on_behalf_of(&other_tenant, &["api://downstream/Things.Read"], None)
        .await
    {
        Err(AcquireError::InteractionRequired { codes, .. }) => assert_eq!(codes, [50013]),
        other => panic!("{other:?}"),
    }
    // A token signed by an ES256 key of this issuer is exchanged like an RS256 one.
    let kid = issuer.add_key(warden::Algorithm::ES256).unwrap();
    let es256 = issuer
        .token()
        .key(kid)
        .algorithm(warden::Algorithm::ES256)
        .scopes(["Orders.Read"])
        .sign();
    client
        .on_behalf_of(&es256, &["api://downstream/Things.Read"], None)
        .await
        .unwrap();
}

/// TLS on loopback: the fake issuer serves HTTPS with a CA generated at start. warden (keys from
/// its discovery) and warden-client (a token from its endpoint) reach it with a client that
/// trusts that CA, and fail closed with one that does not.
#[tokio::test]
async fn the_fake_issuer_serves_https_with_a_ca_a_client_trusts() {
    let issuer = FakeIssuer::builder()
        .entra(DEFAULT_TENANT)
        .audience("api://orders")
        .tls()
        .start()
        .await
        .unwrap();
    assert!(issuer.base_url().starts_with("https://127.0.0.1:"));
    let root =
        reqwest::Certificate::from_pem(issuer.tls_root_certificate_pem().unwrap().as_bytes())
            .unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let guarded = |http: reqwest::Client| {
        let entra = warden::entra::Entra::builder()
            .authority(issuer.base_url())
            .tenant(DEFAULT_TENANT)
            .audience("api://orders")
            .client(http)
            .build()
            .unwrap();
        axum::Router::new()
            .route("/orders", axum::routing::get(|| async { "orders" }))
            .layer(warden::WardenLayer::builder().entra(entra).build().unwrap())
    };
    let token = issuer.token().scopes(["Orders.Read"]).sign();
    let call = |base: String| {
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/orders"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let answer = call(serve(guarded(trusting.clone())).await).await;
    assert_eq!(answer.status(), 200);
    // A client that does not trust the CA gets no keys: 503, never an admitted request.
    let answer = call(serve(guarded(reqwest::Client::new())).await).await;
    assert_eq!(answer.status(), 503);

    issuer.register_client(ClientRegistration::new(MIDDLE_TIER).secret("s3cret-value"));
    let tokens = |http: reqwest::Client| {
        TokenClient::builder(
            DEFAULT_TENANT,
            MIDDLE_TIER,
            ClientCredential::secret_from_file(secret_file("s3cret-value")).unwrap(),
        )
        .authority(issuer.base_url())
        .http_client(http)
        .build()
    };
    tokens(trusting)
        .app_token(&["api://downstream/.default"], None)
        .await
        .unwrap();
    match tokens(reqwest::Client::new())
        .app_token(&["api://downstream/.default"], None)
        .await
    {
        Err(AcquireError::Unavailable { status: None, .. }) => {}
        other => panic!("{other:?}"),
    }
}
