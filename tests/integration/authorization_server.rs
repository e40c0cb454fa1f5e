//! The fake issuer as a local authorization server: the authorization code grant with PKCE
//! (non-interactive and through the login page's form), refresh-token rotation, ID tokens,
//! `userinfo`, revocation, `end_session`, dynamic client registration, and `POST /_fake/token`;
//! each token checked by warden itself where it protects an API.

use base64::Engine as _;
use serde_json::{Value, json};
use warden_testing::{ClientRegistration, DEFAULT_TENANT, FakeIssuer};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:8765/callback";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
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

/// The query parameters of a redirect's `Location`.
fn location_query(response: &reqwest::Response) -> Vec<(String, String)> {
    let location = response.headers()["location"].to_str().unwrap();
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn authorize_url(issuer: &FakeIssuer, client: &str, extra: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={client}&redirect_uri={}&scope=openid%20orders.read&state=st-1&nonce=n-1{extra}",
        issuer.base_url(),
        REDIRECT.replace(':', "%3A").replace('/', "%2F"),
    )
}

/// Signs in non-interactively and returns the code.
async fn code_for(issuer: &FakeIssuer, client: &str, login: Value) -> String {
    let response = http()
        .get(authorize_url(
            issuer,
            client,
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
        ))
        .header("x-fake-login", login.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let query = location_query(&response);
    assert_eq!(param(&query, "state"), Some("st-1"));
    assert_eq!(param(&query, "iss"), Some(issuer.issuer_url().as_str()));
    param(&query, "code").unwrap().to_owned()
}

async fn redeem(issuer: &FakeIssuer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(issuer.token_endpoint())
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// An API protected by warden, trusting the fake issuer, that needs `orders.read`.
async fn protected_api(issuer: &FakeIssuer) -> String {
    warden::scopes! { pub OrdersRead = "orders.read"; }
    let layer = warden::WardenLayer::oidc(issuer.issuer_url(), warden_testing::DEFAULT_AUDIENCE)
        .await
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/orders",
            axum::routing::get(
                |_: warden::authz::RequireScope<OrdersRead>, caller: warden::Principal| async move {
                    caller.subject().to_owned()
                },
            ),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn the_authorization_code_grant_with_pkce_gives_tokens_warden_accepts() {
    let issuer = FakeIssuer::start().await.unwrap();
    let code = code_for(&issuer, "spa", json!({"user": "alice"})).await;
    let (status, tokens) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "orders.read openid");
    let access = tokens["access_token"].as_str().unwrap();
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], "spa");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["sub"], "alice");
    assert!(id.get("scope").is_none());

    let api = protected_api(&issuer).await;
    let answer = http()
        .get(format!("{api}/orders"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "alice");

    let info: Value = http()
        .get(format!("{}/userinfo", issuer.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["preferred_username"], "alice");

    // A code is good once.
    let (status, error) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn pkce_is_required_and_checked_and_redirects_are_exact() {
    let issuer = FakeIssuer::start().await.unwrap();
    // A code issued with a challenge is refused without its verifier (the peer's weakness),
    // and with a wrong or malformed one.
    for verifier in [None, Some(&VERIFIER[..42]), Some(&"x".repeat(43)[..])] {
        let code = code_for(&issuer, "spa", json!({"user": "alice"})).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        let (status, error) = redeem(&issuer, &form).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (400, Some("invalid_grant")),
            "{verifier:?}"
        );
    }
    // Another client, another redirect URI: refused too.
    let code = code_for(&issuer, "spa", json!({"user": "alice"})).await;
    let (status, _) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "other"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // At the authorization endpoint: no challenge, or `plain`, goes back as an error.
    for extra in [
        String::new(),
        format!("&code_challenge={VERIFIER}&code_challenge_method=plain"),
    ] {
        let response = http()
            .get(authorize_url(&issuer, "spa", &extra))
            .header("x-fake-login", r#"{"user":"alice"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let query = location_query(&response);
        assert_eq!(param(&query, "error"), Some("invalid_request"));
        assert_eq!(param(&query, "state"), Some("st-1"));
        assert!(param(&query, "code").is_none());
    }
    // A redirect URI that is not loopback, for a client that registered none: a page, no
    // redirect.
    let response = http()
        .get(format!(
            "{}/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256",
            issuer.base_url()
        ))
        .header("x-fake-login", r#"{"user":"alice"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    // A registered client: its URI exactly, any port on 127.0.0.1.
    issuer.register_client(ClientRegistration::new("native").redirect_uri("http://127.0.0.1/cb"));
    let ask = |redirect: &'static str| {
        let url = format!(
            "{}/authorize?response_type=code&client_id=native&redirect_uri={redirect}&code_challenge={CHALLENGE}&code_challenge_method=S256",
            issuer.base_url()
        );
        async move {
            http()
                .get(url)
                .header("x-fake-login", r#"{"user":"alice"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(ask("http://127.0.0.1:54321/cb").await, 303);
    assert_eq!(ask("http://127.0.0.1:54321/cb/").await, 400);
    assert_eq!(ask("http://localhost:54321/cb").await, 400);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_grant() {
    let issuer = FakeIssuer::start().await.unwrap();
    let code = code_for(&issuer, "spa", json!({"user": "alice"})).await;
    let (_, tokens) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let issuer = &issuer;
        async move {
            redeem(
                issuer,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "spa"),
                    ("refresh_token", &token),
                ],
            )
            .await
        }
    };
    let (status, rotated) = refresh(first.clone()).await;
    assert_eq!(status, 200);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        claims(rotated["access_token"].as_str().unwrap())["sub"],
        "alice"
    );
    // The first again: refused, and the second with it.
    let (status, error) = refresh(first).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(second).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn revocation_ends_a_grant_and_an_access_token() {
    let issuer = FakeIssuer::start().await.unwrap();
    let code = code_for(&issuer, "spa", json!({"user": "alice"})).await;
    let (_, tokens) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let revoke = |token: String| {
        let url = format!("{}/revoke", issuer.base_url());
        async move {
            http()
                .post(url)
                .form(&[("token", token.as_str()), ("client_id", "spa")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A Shared Signals receiver's poll stream, as warden's CAE receiver would create.
    let stream: Value = http()
        .post(format!("{}/ssf/streams", issuer.base_url()))
        .json(&json!({
            "delivery": {"method": "urn:ietf:rfc:8936"},
            "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoke(access.clone()).await, 200);
    let polled: Value = http()
        .post(stream["delivery"]["endpoint_url"].as_str().unwrap())
        .json(&json!({"maxEvents": 10, "returnImmediately": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sets: Vec<&str> = polled["sets"]
        .as_object()
        .map(|sets| sets.values().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(sets.len(), 1, "{polled}");
    let event = claims(sets[0]);
    assert!(
        event["events"]
            .get("https://schemas.openid.net/secevent/caep/event-type/session-revoked")
            .is_some(),
        "{event}"
    );
    assert!(event.to_string().contains("\"alice\""), "{event}");
    // The event revokes the token in warden: a receiver of this transmitter applies it to the
    // store a layer reads, which then refuses the access token it had admitted.
    let revocations = std::sync::Arc::new(warden::cae::InMemoryRevocations::default());
    let app = warden_integration_tests::App::new(
        warden::WardenLayer::builder()
            .issuer(warden_integration_tests::trust(&issuer).build().unwrap())
            .revocations(revocations.clone())
            .build()
            .unwrap(),
    );
    let configuration =
        warden::ssf::TransmitterConfiguration::discover(issuer.ssf_issuer(), &http())
            .await
            .unwrap();
    let receiver = warden::ssf::Receiver::builder(configuration, issuer.audience())
        .revocations(revocations)
        .build()
        .unwrap();
    assert_eq!(
        app.get_me_with(&access).await.status,
        200,
        "admitted before"
    );
    let received = receiver.receive(sets[0]).await.unwrap();
    assert!(
        matches!(received.action(), warden::ssf::Action::Revoked(_)),
        "{:?}",
        received.action()
    );
    app.assert_refused(
        &access,
        401,
        &warden_integration_tests::invalid_token("token revoked"),
        "token revoked",
    )
    .await;
    let info = http()
        .get(format!("{}/userinfo", issuer.base_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    assert_eq!(
        info.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="not a current access token of this issuer""#
    );
    assert_eq!(revoke(refresh_token.clone()).await, 200);
    let (status, _) = redeem(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // An unknown token: 200 all the same (RFC 7009 §2.2).
    assert_eq!(revoke("not-a-token".to_owned()).await, 200);
}

#[tokio::test]
async fn the_login_page_signs_in_with_what_the_person_chose() {
    let issuer = FakeIssuer::builder()
        .entra(DEFAULT_TENANT)
        .audience("api://orders")
        .start()
        .await
        .unwrap();
    let url = format!(
        "{}/{DEFAULT_TENANT}/oauth2/v2.0/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid%20api%3A%2F%2Forders%2FOrders.Read&state=st-2&code_challenge={CHALLENGE}&code_challenge_method=S256",
        issuer.base_url(),
        REDIRECT.replace(':', "%3A").replace('/', "%2F"),
    );
    let page = http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="granted_scope" value="api://orders/Orders.Read" checked"#));
    assert!(
        html.contains("127.0.0.1:8765"),
        "the redirect's host is shown"
    );
    let form = [
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid api://orders/Orders.Read"),
        ("state", "st-2"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("user", "bob"),
        ("granted_scope", "api://orders/Orders.Read"),
        ("more_scopes", "api://orders/Orders.Write"),
        ("roles", "Orders.Admin"),
        ("acrs", "c1"),
        ("cae", "cp1"),
        ("claims", r#"{"department": "finance"}"#),
    ];
    let response = http().post(&url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let query = location_query(&response);
    assert_eq!(
        param(&query, "iss"),
        Some(issuer.entra_issuer(DEFAULT_TENANT).as_str())
    );
    let code = param(&query, "code").unwrap().to_owned();
    let response = http()
        .post(format!(
            "{}/{DEFAULT_TENANT}/oauth2/v2.0/token",
            issuer.base_url()
        ))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = response.json().await.unwrap();
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], "api://orders");
    assert_eq!(access["scp"], "Orders.Read Orders.Write");
    assert_eq!(access["roles"], json!(["Orders.Admin"]));
    assert_eq!(access["acrs"], json!(["c1"]));
    assert_eq!(access["xms_cc"], json!(["cp1"]));
    assert_eq!(access["department"], "finance");
    assert_eq!(access["preferred_username"], "bob");
    assert_eq!(access["tid"], DEFAULT_TENANT);
    assert_eq!(access["oid"].as_str().map(str::len), Some(36));
    // warden's Entra validation accepts it.
    let entra = warden::entra::Entra::builder()
        .authority(issuer.base_url())
        .tenant(DEFAULT_TENANT)
        .audience("api://orders")
        .build()
        .unwrap();
    let layer = warden::WardenLayer::builder().entra(entra).build().unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let response = tower::ServiceExt::oneshot(
        app,
        axum::http::Request::get("/")
            .header(
                "authorization",
                format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
            )
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);

    // Bad claims JSON: the page again, with what to fix, and no code.
    let mut bad = form.to_vec();
    bad.retain(|(name, _)| *name != "claims");
    bad.push(("claims", "not json"));
    let response = http().post(&url).form(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("JSON object"));
}

#[tokio::test]
async fn clients_register_dynamically_and_sign_out() {
    let issuer = FakeIssuer::start().await.unwrap();
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let register = |body: Value| {
        let url = discovery["registration_endpoint"]
            .as_str()
            .unwrap()
            .to_owned();
        async move {
            let response = http().post(url).json(&body).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, error) = register(json!({"redirect_uris": ["http://evil.example/cb"]})).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    // A confidential client: its secret, sent as client_secret_basic.
    let (status, client) = register(json!({
        "redirect_uris": [REDIRECT],
        "client_name": "cli",
        "application_type": "native",
    }))
    .await;
    assert_eq!(status, 201);
    assert_eq!(client["client_name"], "cli");
    assert_eq!(client["client_secret_expires_at"], 0);
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let code = code_for(&issuer, client_id, json!({"user": "carol"})).await;
    let token_request = |secret: &str| {
        http()
            .post(issuer.token_endpoint())
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
    };
    let refused = token_request("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let tokens: Value = token_request(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["sub"],
        "carol"
    );

    // Signing out: back to a loopback URI with the state; elsewhere, a page.
    let response = http()
        .get(format!(
            "{}?post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fbye&state=s3",
            discovery["end_session_endpoint"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "http://127.0.0.1:8765/bye?state=s3"
    );
    let response = http()
        .get(format!(
            "{}?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
            discovery["end_session_endpoint"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn any_claims_over_http() {
    let issuer = FakeIssuer::start().await.unwrap();
    let mint = |body: Value| {
        let url = format!("{}/_fake/token", issuer.base_url());
        async move {
            let response = http().post(url).json(&body).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, answer) = mint(json!({
        "claims": {"sub": "robot", "scope": "orders.read", "tier": 3},
        "without": ["jti"],
        "lifetime_secs": 60,
    }))
    .await;
    assert_eq!(status, 200);
    let token = claims(answer["access_token"].as_str().unwrap());
    assert_eq!(
        (token["sub"].as_str(), token["tier"].as_i64()),
        (Some("robot"), Some(3))
    );
    assert!(token.get("jti").is_none());
    assert_eq!(answer["expires_in"], 60);
    // A typo is an error, not a silently ignored member.
    let (status, error) = mint(json!({"claim": {"sub": "robot"}})).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn tokens_are_exchanged_as_rfc_8693_says() {
    let issuer = FakeIssuer::start().await.unwrap();
    let user = issuer
        .token()
        .subject("alice")
        .scopes(["orders.read"])
        .sign();
    let service = issuer.token().subject("gateway").app_only().sign();
    let exchange = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("client_id", "gateway".to_owned()),
        ];
        form.extend(extra);
        let url = issuer.token_endpoint();
        async move {
            let response = http().post(url).form(&form).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let subject = |token: &str| {
        vec![
            ("subject_token", token.to_owned()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token".to_owned(),
            ),
        ]
    };
    // Delegation: the user's token, the gateway as actor, for another API.
    let mut form = subject(&user);
    form.push(("actor_token", service.clone()));
    form.push((
        "actor_token_type",
        "urn:ietf:params:oauth:token-type:access_token".to_owned(),
    ));
    form.push(("audience", "https://inventory.example".to_owned()));
    let (status, answer) = exchange(form).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(answer["token_type"], "Bearer");
    let token = claims(answer["access_token"].as_str().unwrap());
    assert_eq!(token["sub"], "alice");
    assert_eq!(token["aud"], "https://inventory.example");
    assert_eq!(token["act"], json!({"sub": "gateway"}));
    assert_eq!(token["scope"], "orders.read");
    // An actor token without its type; an unknown target; a token not of this issuer.
    let mut form = subject(&user);
    form.push(("actor_token", service));
    let (status, error) = exchange(form).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let mut form = subject(&user);
    form.push(("audience", "inventory".to_owned()));
    let (status, error) = exchange(form).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let foreign = FakeIssuer::start().await.unwrap().token().sign();
    let (status, error) = exchange(subject(&foreign)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// A client that names itself by the URL of its metadata document (the MCP authorization spec's
/// Client ID Metadata Documents): the fake fetches and checks it on every authorization request.
#[tokio::test]
async fn a_client_id_metadata_document_is_fetched_and_checked() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The client's own server, answering the document the test puts in `document`.
    let document: std::sync::Arc<std::sync::Mutex<(u16, String)>> = Default::default();
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let app = {
        let document = document.clone();
        let fetches = fetches.clone();
        axum::Router::new().route(
            "/client.json",
            axum::routing::get(move || {
                fetches.fetch_add(1, Ordering::SeqCst);
                let (status, body) = document.lock().unwrap().clone();
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_id = format!("http://{}/client.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let serve = |status: u16, body: Value| *document.lock().unwrap() = (status, body.to_string());
    let valid = json!({
        "client_id": client_id,
        "client_name": "Notes desktop",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let issuer = FakeIssuer::builder()
        .client_metadata_on_loopback()
        .start()
        .await
        .unwrap();
    let encoded_id = client_id.replace(':', "%3A").replace('/', "%2F");
    let sign_in = |issuer: &FakeIssuer| {
        let url = authorize_url(
            issuer,
            &encoded_id,
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
        );
        async move {
            http()
                .get(url)
                .header("x-fake-login", r#"{"user": "erin"}"#)
                .send()
                .await
                .unwrap()
        }
    };

    serve(200, valid.clone());
    let response = sign_in(&issuer).await;
    assert_eq!(response.status(), 303);
    let code = param(&location_query(&response), "code")
        .unwrap()
        .to_owned();
    let (status, tokens) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");

    // Documents the draft says to refuse: an error page, never a redirect.
    let mut wrong_id = valid.clone();
    wrong_id["client_id"] = json!(format!("{client_id}/"));
    let mut shared_secret = valid.clone();
    shared_secret["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mut other_redirect = valid.clone();
    other_redirect["redirect_uris"] = json!(["http://127.0.0.1:9999/elsewhere"]);
    let mut too_big = valid.clone();
    too_big["padding"] = json!("x".repeat(6 * 1024));
    for (status, body) in [
        (200, wrong_id),
        (200, shared_secret),
        (200, other_redirect),
        (200, too_big),
        (500, valid.clone()),
    ] {
        serve(status, body.clone());
        let response = sign_in(&issuer).await;
        assert_eq!(response.status(), 400, "{status} {body}");
        assert!(response.headers().get("location").is_none());
    }
    // An error is not cached: the document fixed, the next request succeeds.
    serve(200, valid);
    assert_eq!(sign_in(&issuer).await.status(), 303);

    // A server that has not been told otherwise fetches nothing from loopback, nor over http.
    let strict = FakeIssuer::start().await.unwrap();
    let before = fetches.load(Ordering::SeqCst);
    assert_eq!(sign_in(&strict).await.status(), 400);
    assert_eq!(fetches.load(Ordering::SeqCst), before, "nothing fetched");
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            strict.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["client_id_metadata_document_supported"], true);
}

/// Several issuers in one process, each at `/{id}` with its own keys: warden trusting one
/// refuses the other's tokens; each answers its metadata where RFC 8414 puts it for an issuer
/// with a path.
#[tokio::test]
async fn several_issuers_share_a_port_and_nothing_else() {
    let issuers = FakeIssuer::builder()
        .start_many(&["partner-a", "partner-b"])
        .await
        .unwrap();
    let (a, b) = (&issuers[0], &issuers[1]);
    assert_eq!(a.addr(), b.addr());
    assert!(a.issuer_url().ends_with("/partner-a"));
    assert_ne!(a.jwks_json(), b.jwks_json(), "keys of their own");
    for url in [
        format!("{}/.well-known/openid-configuration", a.issuer_url()),
        format!(
            "http://{}/.well-known/oauth-authorization-server/partner-a",
            a.addr()
        ),
    ] {
        let metadata: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["issuer"], a.issuer_url(), "{url}");
        assert_eq!(metadata["token_endpoint"], a.token_endpoint(), "{url}");
    }
    let api = protected_api(a).await;
    let call = |token: String| {
        let url = format!("{api}/orders");
        async move {
            http()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(a.token().scopes(["orders.read"]).sign()).await, 200);
    assert_eq!(call(b.token().scopes(["orders.read"]).sign()).await, 401);
    // Each one's pages call its own API, under its path.
    let page = http()
        .get(format!("{}/", a.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"const root = "/partner-a";"#), "{page}");
    let minted = http()
        .post(format!("{}/_fake/debugger/mint", a.base_url()))
        .body(
            json!({"profile": "generic", "claims": "{}", "lifetime_secs": 60,
                   "algorithm": "RS256", "attack": ""})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 200);
    // Ids that would collide or escape the path.
    for ids in [vec!["a", "a"], vec![""], vec!["a/b"], vec![]] {
        assert!(matches!(
            FakeIssuer::builder().start_many(&ids).await,
            Err(warden_testing::StartError::IssuerId(_))
        ));
    }
}

/// The configuration file: clients, users and faults in one JSON document, checked strictly.
#[tokio::test]
async fn a_configuration_file_sets_clients_users_and_faults() {
    use warden_testing::{ConfigFileError, FakeIssuerConfig};
    let config = FakeIssuerConfig::from_json(
        r#"{
            "mode": "oidc",
            "audience": "api://orders",
            "clients": [{"client_id": "web", "secret": "s3cret", "redirect_uris": ["http://127.0.0.1/cb"]}],
            "users": {"frank": {"roles": ["Orders.Admin"], "department": "finance"}},
            "faults": {"discovery": {"status": 503}}
        }"#,
    )
    .unwrap();
    let issuer = config.builder().start().await.unwrap();
    config.apply(&issuer);
    assert_eq!(issuer.audience(), "api://orders");
    // The fault.
    let discovery = http().get(issuer.discovery_url()).send().await.unwrap();
    assert_eq!(discovery.status(), 503);
    // The user, offered on the login page and given their claims at sign-in.
    let page = http()
        .get(format!(
            "{}/authorize?response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256",
            issuer.base_url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<option value="frank">"#), "{page}");
    let response = http()
        .get(format!(
            "{}/authorize?response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256",
            issuer.base_url()
        ))
        .header("x-fake-login", r#"{"user": "frank"}"#)
        .send()
        .await
        .unwrap();
    let code = param(&location_query(&response), "code")
        .unwrap()
        .to_owned();
    // The client must prove itself now: without its secret, refused; with it, tokens.
    let form = |secret: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", "web".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", "http://127.0.0.1:5555/cb".to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret.to_owned()));
        }
        form
    };
    let refused = http()
        .post(issuer.token_endpoint())
        .form(&form(None))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // The refused request did not spend the code: the client authenticates first.
    let tokens: Value = http()
        .post(issuer.token_endpoint())
        .form(&form(Some("s3cret")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["department"], "finance");
    assert_eq!(access["roles"], json!(["Orders.Admin"]));

    // What the file may not say.
    for (text, expected) in [
        (r#"{"mdoe": "entra"}"#, "Json"),
        (
            r#"{"faults": {"jwkz": {"status": 503}}}"#,
            "UnknownEndpoint",
        ),
        (
            r#"{"faults": {"jwks": {"status": 503, "kind": "html"}}}"#,
            "InvalidFault",
        ),
        (
            r#"{"clients": [{"client_id": "a"}, {"client_id": "a"}]}"#,
            "DuplicateClient",
        ),
        (r#"{"tenant": "t"}"#, "Meaningless"),
        (r#"{"users": {"u": {"roles": "Admin"}}}"#, "Meaningless"),
    ] {
        let error = FakeIssuerConfig::from_json(text).unwrap_err();
        let kind = match error {
            ConfigFileError::Json(_) => "Json",
            ConfigFileError::UnknownEndpoint(_) => "UnknownEndpoint",
            ConfigFileError::InvalidFault(_) => "InvalidFault",
            ConfigFileError::DuplicateClient(_) => "DuplicateClient",
            ConfigFileError::Meaningless(_) => "Meaningless",
            _ => "other",
        };
        assert_eq!(kind, expected, "{text}");
    }
}

async fn code_and_tokens(issuer: &FakeIssuer) -> (String, Value) {
    let code = code_for(issuer, "spa", json!({"user": "alice"})).await;
    let (status, tokens) = redeem(
        issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (code, tokens)
}

async fn userinfo_status(issuer: &FakeIssuer, token: &str) -> u16 {
    http()
        .get(format!("{}/userinfo", issuer.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// What an attacker or a careless client tries: a code presented twice (its tokens are revoked),
/// an ID token at userinfo, another client revoking a token, more scope on refresh, a
/// registration asking for what the fake cannot honour.
#[tokio::test]
async fn replays_and_overreach_are_refused() {
    let issuer = FakeIssuer::start().await.unwrap();
    let (code, tokens) = code_and_tokens(&issuer).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&issuer, access).await, 200);
    // An ID token is not an access token.
    assert_eq!(
        userinfo_status(&issuer, tokens["id_token"].as_str().unwrap()).await,
        401
    );
    // The code again: refused, and what it gave is revoked.
    let (status, error) = redeem(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(userinfo_status(&issuer, access).await, 401);
    let (status, _) = redeem(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // Another client may not revoke a token; a refresh may narrow the scope, not widen it.
    let (_, tokens) = code_and_tokens(&issuer).await;
    let refused = http()
        .post(format!("{}/revoke", issuer.base_url()))
        .form(&[
            ("token", tokens["access_token"].as_str().unwrap()),
            ("client_id", "someone-else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        userinfo_status(&issuer, tokens["access_token"].as_str().unwrap()).await,
        200
    );
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, error) = redeem(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", refresh),
            ("scope", "orders.read orders.write"),
        ],
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, narrowed) = redeem(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", refresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(
        status, 200,
        "the refused attempt did not spend the token: {narrowed}"
    );
    assert!(
        claims(narrowed["access_token"].as_str().unwrap())
            .get("scope")
            .is_none()
    );

    // Registrations the fake cannot honour.
    for body in [
        json!({"redirect_uris": [REDIRECT, 7]}),
        json!({"redirect_uris": [REDIRECT], "grant_types": ["password"]}),
        json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_secret": "x"}),
        json!({"redirect_uris": [REDIRECT], "jwks_uri": "https://c.example/jwks"}),
        json!({"redirect_uris": ["http://localhost:8080@evil.example/cb"]}),
    ] {
        let response = http()
            .post(format!("{}/register", issuer.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    // A resource that is not an absolute URI goes back as invalid_target.
    let response = http()
        .get(authorize_url(
            &issuer,
            "spa",
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256&resource=orders"),
        ))
        .header("x-fake-login", r#"{"user": "alice"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&location_query(&response), "error"),
        Some("invalid_target")
    );
}

/// The debugger's check calls loopback only, takes JSON only, and a user-information trick
/// does not take it elsewhere.
#[tokio::test]
async fn the_debugger_checks_only_loopback_urls() {
    let issuer = FakeIssuer::start().await.unwrap();
    let check = |url: &str, content_type: &str| {
        let request = http()
            .post(format!("{}/_fake/debugger/check", issuer.base_url()))
            .header("content-type", content_type)
            .body(json!({"url": url, "token": "t"}).to_string());
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    for url in [
        "http://127.0.0.1:80@169.254.169.254/latest/meta-data/",
        "http://localhost.evil.example/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ] {
        let (status, answer) = check(url, "application/json").await;
        assert_eq!(status, 400, "{url}: {answer}");
    }
    let (status, _) = check(&format!("{}/jwks", issuer.base_url()), "text/plain").await;
    assert_eq!(status, 400, "a form post from another site");
    let (status, answer) = check(&issuer.jwks_url(), "application/json").await;
    assert_eq!((status, answer["status"].as_u64()), (200, Some(200)));
}

/// CORS is opt-in, per origin, and only on the provider's endpoints: a browser app of an allowed
/// origin is answered (preflight and request), another origin and the control API are not, and
/// anything but an origin is refused at start.
#[tokio::test]
async fn browser_apps_of_the_allowed_origins_may_read_the_providers_answers() {
    const APP: &str = "http://localhost:5173";
    let issuer = FakeIssuer::builder()
        .cors_origin(APP)
        .start()
        .await
        .unwrap();
    let token_url = format!("{}/token", issuer.base_url());
    let preflight = |origin: &str| {
        http()
            .request(reqwest::Method::OPTIONS, &token_url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, dpop")
            .send()
    };
    let allowed = preflight(APP).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], APP);
    assert_eq!(
        allowed.headers()["access-control-allow-methods"],
        "GET,POST"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-headers"],
        "authorization,content-type,dpop"
    );
    let other = preflight("http://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // The token request itself: the allowed origin may read the answer, another may not.
    let token = |origin: &'static str| {
        http()
            .post(&token_url)
            .header("origin", origin)
            .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
            .send()
    };
    let answer = token(APP).await.unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], APP);
    assert_eq!(
        answer.headers()["access-control-expose-headers"],
        "www-authenticate,dpop-nonce"
    );
    let answer = token("http://evil.example").await.unwrap();
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    for path in ["/.well-known/openid-configuration", "/jwks"] {
        let answer = http()
            .get(format!("{}{path}", issuer.base_url()))
            .header("origin", APP)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            APP,
            "{path}"
        );
    }
    // The control API mints any token: never readable from a page.
    let minted = http()
        .post(format!("{}/_fake/token", issuer.base_url()))
        .header("origin", APP)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        minted
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Without the option, no origin is answered.
    let plain = FakeIssuer::start().await.unwrap();
    let answer = http()
        .get(format!("{}/jwks", plain.base_url()))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Several issuers on one port: each one's metadata at the root (RFC 8414 §3.1) answers too.
    let many = FakeIssuer::builder()
        .cors_origin(APP)
        .cors_origin("http://[::1]:3000")
        .start_many(&["tenant-a"])
        .await
        .unwrap();
    let metadata = http()
        .get(format!(
            "http://{}/.well-known/openid-configuration/tenant-a",
            many[0].addr()
        ))
        .header("origin", "http://[::1]:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(
        metadata.headers()["access-control-allow-origin"],
        "http://[::1]:3000"
    );

    // An origin is scheme, host and port exactly as a browser sends it, nothing else: one that
    // could never match is refused rather than silently ignored.
    for bad in [
        "localhost:5173",
        "http://localhost:5173/",
        "http://localhost:5173/app",
        "http://localhost:5173#x",
        "ftp://localhost",
        "http://user@localhost",
        "*",
        "HTTP://localhost:5173",
        "http://LOCALHOST:5173",
        "http://localhost:80",
        "https://localhost:443",
        "http://localhost:99999",
        "http://localhost:0",
        "http://localhost:05173",
        "http://localhost:",
        "http://localhost:abc",
    ] {
        let error = FakeIssuer::builder()
            .cors_origin(bad)
            .start()
            .await
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert_eq!(
            error.to_string(),
            format!("invalid CORS origin {bad:?}: http(s)://host[:port], with no path")
        );
    }
}
