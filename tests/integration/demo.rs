//! The Orders demo over real HTTP on loopback, with tokens from the fake Entra issuer: every
//! route and kind of caller, and the whole Continuous Access Evaluation loop (revocation of a
//! user, a session, a token and a client; step-up with and without the CAE capability).

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warden_examples::{orders, walkthrough};
use warden_integration_tests::{metric_series, now};
use warden_testing::{FakeIssuer, TokenBuilder};

struct Demo {
    issuer: FakeIssuer,
    base: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const CAROL: &str = "0c0c0c0c-0000-4000-8000-00000000c0c0";

impl Demo {
    async fn start() -> Self {
        Self::start_with(false).await
    }

    /// As the embedded demo runs: an RFC 9728 protected resource named by its own address.
    async fn start_as_printed() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(resource: bool) -> Self {
        let (issuer, builder) = orders::embedded_issuer_builder().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let builder = if resource {
            builder.protected_resource(orders::protected_resource(&base))
        } else {
            builder
        };
        let warden = builder.build().unwrap();
        let onward = orders::embedded_onward(&issuer).await.unwrap();
        let app = orders::with_onward(orders::app(warden.clone()), warden, onward);
        // As orders_api serves it; this recorder is not installed, so it renders empty.
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let app = app.merge(orders::metrics_route(recorder.handle()));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Demo {
            issuer,
            base,
            client: reqwest::Client::new(),
            server,
        }
    }

    fn admin(&self) -> String {
        self.issuer
            .token()
            .app_only()
            .client("orders-admin-app")
            .roles(["Orders.Admin", "Reports.Read.All", "Revocations.Write"])
            .sign()
    }

    fn carol(&self) -> TokenBuilder<'_> {
        self.issuer
            .token()
            .subject("carol")
            .object_id(CAROL)
            .client("cae-capable-spa")
            .scopes(["Orders.Read", "Orders.Write"])
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, challenge, body)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Option<String>, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn revoke(&self, body: Value) {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/admin/revocations",
                Some(&self.admin()),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// The claims challenge header, decoded: `(authorization_uri, claims JSON)`.
    fn claims_challenge(&self, challenge: &str) -> Value {
        let prefix = format!(
            r#"Bearer realm="", authorization_uri="{}/common/oauth2/authorize", error="insufficient_claims", claims=""#,
            self.issuer.base_url()
        );
        let encoded = challenge
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("not a claims challenge: {challenge}"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

#[tokio::test]
async fn serves_every_route_to_the_right_caller() {
    let demo = Demo::start().await;
    let reader = demo
        .issuer
        .token()
        .subject("alice")
        .scopes(["Orders.Read", "Reports.Read"])
        .sign();
    let writer = demo
        .issuer
        .token()
        .subject("bob")
        .scopes(["Orders.Read", "Orders.Write"])
        .sign();
    let admin = demo.admin();

    let (status, challenge, body) = demo.call(Method::GET, "/health", None, None).await;
    assert_eq!(
        (status, challenge, body),
        (StatusCode::OK, None, json!("ok"))
    );

    let (status, challenge, _) = demo.call(Method::GET, "/orders", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="orders""#));

    let (status, _, me) = demo.get("/me", &reader).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["tenant"], warden_testing::DEFAULT_TENANT);
    assert_eq!(me["scopes"], json!(["Orders.Read", "Reports.Read"]));
    assert_eq!(me["caller"], "user");

    assert_eq!(demo.get("/orders", &reader).await.2, json!({"orders": []}));

    let order = json!({"item": "book"});
    let (status, challenge, _) = demo
        .call(Method::POST, "/orders", Some(&reader), Some(order.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="Orders.Write""#)
    );
    let (status, _, created) = demo
        .call(Method::POST, "/orders", Some(&writer), Some(order))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        demo.get("/orders", &writer).await.2["orders"][0]["item"],
        "book"
    );

    let (status, challenge, _) = demo
        .call(
            Method::DELETE,
            &format!("/orders/{id}"),
            Some(&writer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="orders", error="insufficient_scope", error_description="missing app role""#
        )
    );

    assert_eq!(demo.get("/reports", &reader).await.0, StatusCode::OK);
    assert_eq!(demo.get("/reports", &admin).await.0, StatusCode::OK);
    let (status, _, _) = demo.get("/reports", &writer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, _) = demo
        .call(Method::DELETE, &format!("/orders/{id}"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn revokes_a_user_and_challenges_a_cae_capable_client() {
    let demo = Demo::start().await;
    let issued = now() - 10;
    let token = demo.carol().cae_capable().issued_at(issued).sign();
    assert_eq!(demo.get("/orders", &token).await.0, StatusCode::OK);

    let before = now() as u64;
    demo.revoke(
        json!({"subject": CAROL, "tenant": warden_testing::DEFAULT_TENANT, "before": before}),
    )
    .await;

    let (status, challenge, body) = demo.get("/orders", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        demo.claims_challenge(&challenge.unwrap()),
        json!({"access_token": {"nbf": {"essential": true, "value": before.to_string()}}})
    );
    assert_eq!(body["detail"], "token revoked");

    // The client fetches a fresh token, issued after the revocation: it works.
    let fresh = demo.carol().cae_capable().issued_at(before as i64).sign();
    assert_eq!(demo.get("/orders", &fresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn answers_a_revoked_token_of_another_client_with_invalid_token() {
    let demo = Demo::start().await;
    let token = demo.carol().issued_at(now() - 10).sign();
    demo.revoke(json!({"subject": CAROL})).await;
    let (status, challenge, _) = demo.get("/orders", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="orders", error="invalid_token", error_description="token revoked""#)
    );
}

#[tokio::test]
async fn accepts_xms_cc_in_any_case_and_as_a_string() {
    let demo = Demo::start().await;
    let revoked_at = now() as u64;
    for xms_cc in [json!(["CP1"]), json!("cp1"), json!(["x", "Cp1"])] {
        let token = demo
            .carol()
            .claim("xms_cc", xms_cc.clone())
            .issued_at(now() - 10)
            .sign();
        demo.revoke(json!({"subject": CAROL, "before": revoked_at}))
            .await;
        let (status, challenge, _) = demo.get("/orders", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge
                .unwrap()
                .contains(r#"error="insufficient_claims""#),
            "{xms_cc}"
        );
    }
}

#[tokio::test]
async fn revokes_a_session() {
    let demo = Demo::start().await;
    let in_session = demo
        .carol()
        .cae_capable()
        .claim("sid", "session-42")
        .issued_at(now() - 10)
        .sign();
    let other_session = demo
        .carol()
        .claim("sid", "session-7")
        .issued_at(now() - 10)
        .sign();
    demo.revoke(json!({"kind": "session", "subject": "session-42"}))
        .await;
    let (status, challenge, _) = demo.get("/orders", &in_session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(demo.claims_challenge(&challenge.unwrap())["access_token"]["nbf"]["essential"] == true);
    assert_eq!(demo.get("/orders", &other_session).await.0, StatusCode::OK);
}

#[tokio::test]
async fn revokes_a_single_token() {
    let demo = Demo::start().await;
    let token = demo.carol().cae_capable().claim("uti", "token-1").sign();
    let sibling = demo.carol().cae_capable().claim("uti", "token-2").sign();
    // One instant for the rule and the check: two readings of the clock may straddle a second.
    let before = now() + 60;
    demo.revoke(json!({"kind": "token", "subject": "token-1", "before": before}))
        .await;
    let (status, challenge, _) = demo.get("/orders", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let claims = demo.claims_challenge(&challenge.unwrap());
    assert_eq!(claims["access_token"]["nbf"]["value"], before.to_string());
    // Another token of the same user and client is untouched: only that token was revoked.
    assert_eq!(demo.get("/orders", &sibling).await.0, StatusCode::OK);
}

#[tokio::test]
async fn revokes_every_token_of_a_compromised_client() {
    let demo = Demo::start().await;
    let leaked = demo
        .issuer
        .token()
        .app_only()
        .client("leaky-app")
        .roles(["Reports.Read.All"])
        .issued_at(now() - 10)
        .sign();
    let user_via_app = demo
        .issuer
        .token()
        .client("leaky-app")
        .scopes(["Orders.Read"])
        .issued_at(now() - 10)
        .sign();
    let other = demo
        .issuer
        .token()
        .app_only()
        .client("good-app")
        .roles(["Reports.Read.All"])
        .sign();
    demo.revoke(json!({"kind": "client", "subject": "leaky-app"}))
        .await;
    for token in [&leaked, &user_via_app] {
        let (status, challenge, _) = demo.get("/orders", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.as_deref(),
            Some(
                r#"Bearer realm="orders", error="invalid_token", error_description="token revoked""#
            )
        );
    }
    assert_eq!(demo.get("/reports", &other).await.0, StatusCode::OK);
    // A CAE-capable client of the leaked app is told to get a new token, and one issued after
    // the revocation (new credentials) works.
    let capable = demo
        .issuer
        .token()
        .client("leaky-app")
        .scopes(["Orders.Read"])
        .cae_capable()
        .issued_at(now() - 10)
        .sign();
    let (status, challenge, _) = demo.get("/orders", &capable).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    demo.claims_challenge(&challenge.unwrap());
    let fresh = demo
        .issuer
        .token()
        .client("leaky-app")
        .scopes(["Orders.Read"])
        .issued_at(now() + 1)
        .sign();
    assert_eq!(demo.get("/orders", &fresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn scopes_a_user_revocation_to_its_tenant() {
    let demo = Demo::start().await;
    let token = demo.carol().issued_at(now() - 10).sign();
    demo.revoke(json!({"subject": CAROL, "tenant": "0c9d8e7f-6a5b-4c3d-8e1f-2a3b4c5d6e7f"}))
        .await;
    assert_eq!(demo.get("/orders", &token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refuses_revocations_from_callers_without_the_role() {
    let demo = Demo::start().await;
    let token = demo.carol().sign();
    let (status, _, _) = demo
        .call(
            Method::POST,
            "/admin/revocations",
            Some(&token),
            Some(json!({"subject": CAROL})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(demo.get("/orders", &token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn steps_up_a_cae_capable_client_with_a_claims_challenge() {
    let demo = Demo::start().await;
    let token = demo.carol().cae_capable().sign();
    demo.call(
        Method::POST,
        "/orders",
        Some(&token),
        Some(json!({"item": "lamp"})),
    )
    .await;
    let (status, challenge, _) = demo
        .call(Method::POST, "/orders/1/refund", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        demo.claims_challenge(&challenge.unwrap()),
        json!({"access_token": {"acrs": {"essential": true, "value": "c1"}}})
    );
    let stepped_up = demo.carol().cae_capable().acrs(["c1"]).sign();
    let (status, _, body) = demo
        .call(Method::POST, "/orders/1/refund", Some(&stepped_up), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"refunded": 1}));
}

#[tokio::test]
async fn steps_up_another_client_with_rfc9470() {
    let demo = Demo::start().await;
    let token = demo.carol().acrs(["c2"]).sign();
    let (status, challenge, body) = demo
        .call(Method::POST, "/orders/1/refund", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="orders", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="c1""#
        )
    );
    assert_eq!(body["error"], "insufficient_user_authentication");
}

#[tokio::test]
async fn validates_the_token_before_any_step_up_challenge() {
    let demo = Demo::start().await;
    let expired = demo.carol().cae_capable().expires_at(now() - 3600).sign();
    let (status, challenge, _) = demo
        .call(Method::POST, "/orders/1/refund", Some(&expired), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="orders", error="invalid_token", error_description="token expired""#)
    );
}

#[tokio::test]
async fn issues_tokens_at_the_token_endpoint() {
    let demo = Demo::start().await;
    let response: Value = demo
        .client
        .post(demo.issuer.token_endpoint())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reporting-job"),
            ("scope", "api://orders-demo/.default"),
            ("roles", "Reports.Read.All"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 3600);
    let token = response["access_token"].as_str().unwrap();
    let (status, _, body) = demo.get("/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["caller"], "app");
    assert_eq!(body["client"], "reporting-job");
    assert_eq!(demo.get("/reports", token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_printed_walkthrough_gets_every_status_it_promises_in_order() {
    let demo = Demo::start_as_printed().await;
    let tokens = walkthrough::tokens(&demo.issuer);
    let text = walkthrough::text(&demo.issuer, &demo.base, None);
    // A person pastes the requests after the tokens were minted: revocation revokes tokens issued
    // before its second, so let that second pass as it would for them.
    let minted = now();
    while now() <= minted {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for step in walkthrough::STEPS {
        let curl = walkthrough::curl(step, &demo.base);
        assert!(text.contains(&curl), "not printed: {curl}");
        let token = step.token.map(|name| {
            tokens
                .iter()
                .find(|(var, _)| *var == name)
                .map(|(_, token)| token.as_str())
                .unwrap_or_else(|| panic!("no token for ${name}"))
        });
        assert!(
            step.token
                .is_none_or(|name| text.contains(&format!("export {name}="))),
            "${} not exported",
            step.token.unwrap_or_default()
        );
        let method = Method::from_bytes(step.method.as_bytes()).unwrap();
        let body = step.body.map(|b| serde_json::from_str(b).unwrap());
        let (status, challenge, answer) = demo.call(method, step.path, token, body).await;
        assert_eq!(status.as_u16(), step.status, "{curl}\n{answer}");
        let shown = format!("{} {answer}", challenge.unwrap_or_default());
        assert!(
            shown.contains(step.shows),
            "{curl}\nshows {shown}, not {}",
            step.shows
        );
    }
}

#[tokio::test]
async fn keys_orders_by_issuer_and_the_profiles_user_id_never_by_a_stray_oid() {
    // A generic OpenID Connect issuer: the user is `sub`; an `oid` claim names no one.
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = warden::WardenLayer::builder()
        .issuer(warden_integration_tests::trust(&issuer).build().unwrap())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, orders::app(layer)).await;
    });
    let client = reqwest::Client::new();
    let scopes = ["Orders.Read", "Orders.Write"];
    let alice = issuer.token().subject("alice").scopes(scopes).sign();
    let mallory = issuer
        .token()
        .subject("mallory")
        .claim("oid", "alice")
        .scopes(scopes)
        .sign();
    let created = client
        .post(format!("{base}/orders"))
        .bearer_auth(&alice)
        .json(&json!({"item": "book"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let list = |token: String| {
        let request = client.get(format!("{base}/orders")).bearer_auth(token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(list(alice).await["orders"].as_array().unwrap().len(), 1);
    assert_eq!(list(mallory).await["orders"], json!([]));
    server.abort();
}

#[tokio::test]
async fn serves_rfc_9728_metadata_naming_the_embedded_issuer_and_the_scopes() {
    let demo = Demo::start_as_printed().await;
    let response = demo
        .client
        .get(format!(
            "{}/.well-known/oauth-protected-resource",
            demo.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    let metadata: Value = response.json().await.unwrap();
    // `resource` is the configured value character for character: no slash added.
    assert_eq!(metadata["resource"], demo.base.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        json!([demo.issuer.issuer_url()])
    );
    assert_eq!(
        metadata["scopes_supported"],
        json!(["Orders.Read", "Orders.Write", "Reports.Read"])
    );
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));

    // Every 401 names it.
    let (status, challenge, _) = demo.call(Method::GET, "/orders", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                r#"Bearer realm="orders", resource_metadata="{}/.well-known/oauth-protected-resource""#,
                demo.base
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn the_printed_dpop_lines_work_once_and_the_token_is_useless_as_a_bearer_token() {
    let demo = Demo::start_as_printed().await;
    let text = walkthrough::dpop_text(&demo.issuer, &demo.base);
    let export = |name: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} not printed"))
            .to_owned()
    };
    let (token, proof) = (export("DPOP_TOKEN"), export("DPOP_PROOF"));
    let get = |scheme: &str, with_proof: bool| {
        let mut request = demo
            .client
            .get(format!("{}/orders", demo.base))
            .header("authorization", format!("{scheme} {token}"));
        if with_proof {
            request = request.header("dpop", &proof);
        }
        request.send()
    };
    assert_eq!(get("DPoP", true).await.unwrap().status(), StatusCode::OK);
    let replayed = get("DPoP", true).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = replayed
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges[1].starts_with(
            r#"DPoP error="invalid_dpop_proof", error_description="DPoP proof replayed""#
        ),
        "{challenges:?}"
    );
    let bearer = get("Bearer", false).await.unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_printed_shared_signals_lines_revoke_a_user_through_a_pushed_event() {
    let (issuer, builder) = orders::embedded_issuer_builder().await.unwrap();
    let warden = builder.build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let signals = orders::SharedSignals {
        transmitter: issuer.ssf_issuer().to_owned(),
        audience: orders::DEMO_AUDIENCE.to_owned(),
        push_token: "demo-push-token-0123456789abcdef".to_owned(),
        tenants: Vec::new(),
    };
    let push = orders::shared_signals(&signals, &warden).await.unwrap();
    let app = orders::with_shared_signals(orders::app(warden), push);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let text = walkthrough::text(&issuer, &base, Some(&signals.push_token));
    let export = |name: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} not printed"))
            .to_owned()
    };
    let (token, set) = (export("ERIN"), export("SET"));
    assert!(text.contains(&format!(
        r#"curl -i -X POST -H "Authorization: Bearer {}" -H "Content-Type: application/secevent+jwt" --data "$SET" {base}/ssf/events"#,
        signals.push_token
    )));
    let client = reqwest::Client::new();
    let orders = || {
        client
            .get(format!("{base}/orders"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(orders().await.unwrap().status(), StatusCode::OK);
    let pushed = client
        .post(format!("{base}/ssf/events"))
        .header("authorization", format!("Bearer {}", signals.push_token))
        .header("content-type", "application/secevent+jwt")
        .body(set.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::ACCEPTED);
    assert_eq!(pushed.text().await.unwrap(), "");
    let refused = orders().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer realm="orders", error="invalid_token", error_description="token revoked""#
    );
    // Without the push credential, nothing happens.
    let unauthenticated = client
        .post(format!("{base}/ssf/events"))
        .header("content-type", "application/secevent+jwt")
        .body(set)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    server.abort();
}

/// The registration the demo prints (`orders_api --print-manifest`) is the same bytes on every
/// run, its ids are version-5 UUIDs of the identifier URI and the value, and every route on its
/// permissions page opens with exactly the permissions the page names: checked by calling each
/// route with a token holding each declared permission alone, and with none.
#[tokio::test]
async fn the_registration_matches_what_the_routes_enforce() {
    let permissions = orders::permissions(orders::DEMO_AUDIENCE).unwrap();
    assert!(
        permissions.unused_scopes().is_empty(),
        "{:?}",
        permissions.unused_scopes()
    );
    assert!(
        permissions.unused_roles().is_empty(),
        "{:?}",
        permissions.unused_roles()
    );
    let manifest = permissions.entra_manifest();
    assert_eq!(
        manifest.to_json(),
        orders::permissions(orders::DEMO_AUDIENCE)
            .unwrap()
            .entra_manifest()
            .to_json()
    );
    // The ids, computed independently with the `uuid` crate.
    let namespace =
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, orders::DEMO_AUDIENCE.as_bytes());
    let json: Value = serde_json::from_str(&manifest.to_json()).unwrap();
    let scopes = json["api"]["oauth2PermissionScopes"].as_array().unwrap();
    let roles = json["appRoles"].as_array().unwrap();
    for (entries, kind) in [(scopes, "scope"), (roles, "role")] {
        for entry in entries {
            let value = entry["value"].as_str().unwrap();
            let id = uuid::Uuid::new_v5(&namespace, format!("{kind}:{value}").as_bytes());
            assert_eq!(entry["id"], id.to_string(), "{value}");
            assert_eq!(entry["isEnabled"], true);
        }
    }
    assert_eq!(json["api"]["requestedAccessTokenVersion"], 2);
    assert_eq!(json["identifierUris"], json!([orders::DEMO_AUDIENCE]));

    let demo = Demo::start().await;
    let routes = permissions.generic_json()["routes"]
        .as_array()
        .unwrap()
        .clone();
    // Each permission alone: a scope on a user's token, a role on an application's own token;
    // every token carries authentication context c1, so step-up is not what refuses it.
    let mut tokens: Vec<(String, String)> = Vec::new();
    for scope in scopes {
        let value = scope["value"].as_str().unwrap().to_owned();
        let token = demo
            .issuer
            .token()
            .scopes([value.as_str()])
            .acrs(["c1"])
            .sign();
        tokens.push((value, token));
    }
    for role in roles {
        let value = role["value"].as_str().unwrap().to_owned();
        let token = demo
            .issuer
            .token()
            .app_only()
            .roles([value.as_str()])
            .acrs(["c1"])
            .sign();
        tokens.push((value, token));
    }
    let none = demo
        .issuer
        .token()
        .scopes(Vec::<&str>::new())
        .acrs(["c1"])
        .sign();
    let mut checked = 0;
    for route in &routes {
        let method = Method::from_bytes(route["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = route["path"].as_str().unwrap().replace("{id}", "1");
        let requires = route["requires"].as_str().unwrap();
        let body = (method == Method::POST).then(|| json!({}));
        let opens = |status: StatusCode| {
            status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
        };
        let (status, _, _) = demo
            .call(method.clone(), &path, Some(&none), body.clone())
            .await;
        // Declared and served: the router answers it (orders.rs's `serve` checks the other
        // way, that nothing is served undeclared).
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is declared but not served: {status}"
        );
        let public_or_any = requires == "public: no token" || requires == "any valid token";
        assert_eq!(
            opens(status),
            public_or_any,
            "{method} {path} with no permission: {status}"
        );
        for (value, token) in &tokens {
            let (status, _, _) = demo
                .call(method.clone(), &path, Some(token), body.clone())
                .await;
            let named = requires.contains(&format!("`{value}`"));
            assert_eq!(
                opens(status),
                named || public_or_any,
                "{method} {path} ({requires}) with only {value}: {status}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * tokens.len());
    assert!(routes.len() >= 9 && tokens.len() == 6);
}

/// Each refused request increments exactly one refusal series (by kind and status), an admitted
/// one none; the demo serves the Prometheus text and its key freshness; no label holds a
/// subject, a token or a key id. The recorder is this test's own (thread-local, and every task
/// of a `#[tokio::test]` runs on its one thread), so parallel tests do not count here.
#[tokio::test]
async fn each_refusal_is_one_series_and_the_demo_serves_its_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let demo = Demo::start().await;
    let refusals = || metric_series(&handle.render(), "warden_refusals_total");

    let reader = demo.carol().sign();
    let expired = demo.carol().expires_at(1).sign();
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        (
            "/orders",
            None,
            Some(r#"{kind="missing_token",status="401"}"#),
        ),
        (
            "/orders",
            Some(&expired),
            Some(r#"{kind="expired",status="401"}"#),
        ),
        (
            "/reports",
            Some(&reader),
            Some(r#"{kind="forbidden",status="403"}"#),
        ),
        ("/orders", Some(&reader), None),
    ];
    for (path, token, expected) in cases {
        let before = refusals();
        let (status, _, _) = demo.call(Method::GET, path, token, None).await;
        let after = refusals();
        let changed: Vec<(&String, f64)> = after
            .iter()
            .map(|(labels, value)| (labels, value - before.get(labels).copied().unwrap_or(0.0)))
            .filter(|(_, delta)| *delta != 0.0)
            .collect();
        match expected {
            Some(labels) => assert_eq!(changed, [(&labels.to_owned(), 1.0)], "{path}: {status}"),
            None => assert!(changed.is_empty(), "{path}: {status}: {changed:?}"),
        }
    }
    let text = handle.render();
    let requests = metric_series(&text, "warden_requests_total");
    assert!(requests[r#"{outcome="admitted"}"#] >= 2.0, "{text}");
    assert!(requests[r#"{outcome="refused"}"#] >= 2.0, "{text}");
    assert!(
        metric_series(&text, "warden_key_fetches_total")
            .keys()
            .any(|labels| labels.contains(r#"result="ok""#))
    );
    for secret in ["carol", CAROL, reader.rsplit('.').next().unwrap(), "key-1"] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }

    // The demo's route renders the same text.
    let router = orders::metrics_route(handle.clone());
    let response = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );

    // Key freshness, public.
    let (status, _, body) = demo.call(Method::GET, "/health/keys", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let issuers = body["issuers"].as_array().unwrap();
    assert!(!issuers.is_empty());
    for issuer in issuers {
        assert!(issuer["keys"].as_u64().unwrap() >= 1, "{body}");
        assert!(
            issuer["fetched_at"].as_u64().unwrap() > 1_700_000_000,
            "{body}"
        );
        assert!(issuer["age_secs"].as_u64().unwrap() < 60, "{body}");
    }
}

/// Every metric of the request path is recorded where its event happens: a new token's
/// validation time and cache miss, a seen token's cache hit and the cache's size, each issuer's
/// key set (keys and when it loaded), a DPoP refusal by reason, revocation rules and the
/// requests they refuse. (Shared Signals events, group lookups and the fleet feed are checked
/// in their own tests: ssf.rs, downstream.rs, fleet.rs.)
#[tokio::test]
async fn every_metric_of_the_request_path_is_recorded() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let demo = Demo::start().await;
    let token = demo.carol().claim("sid", "session-metrics").sign();
    assert_eq!(demo.get("/orders", &token).await.0, StatusCode::OK);
    assert_eq!(demo.get("/orders", &token).await.0, StatusCode::OK);
    // The first token waited for the key set; a second new one is validated at once, and timed.
    let second = demo.carol().claim("sid", "session-other").sign();
    assert_eq!(demo.get("/orders", &second).await.0, StatusCode::OK);
    let text = handle.render();
    let lookups = metric_series(&text, "warden_token_cache_lookups_total");
    assert!(lookups[r#"{result="miss"}"#] >= 1.0, "{text}");
    assert!(lookups[r#"{result="hit"}"#] >= 1.0, "{text}");
    assert!(
        metric_series(&text, "warden_token_cache_entries")[""] >= 1.0,
        "{text}"
    );
    assert!(
        metric_series(&text, "warden_validation_seconds_count")[""] >= 1.0,
        "{text}"
    );
    // Entra's issuer by its template: one series for every tenant.
    let issuer = format!(
        r#"{{issuer="{}/{{tenantid}}/v2.0"}}"#,
        demo.issuer.base_url()
    );
    assert!(
        metric_series(&text, "warden_key_set_keys")[&issuer] >= 1.0,
        "{text}"
    );
    assert!(
        metric_series(&text, "warden_key_set_loaded_timestamp_seconds")[&issuer] > 1.7e9,
        "{text}"
    );

    // A bearer token sent under the DPoP scheme: one refusal by reason.
    let answer = demo
        .client
        .get(format!("{}/orders", demo.base))
        .header("authorization", format!("DPoP {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let text = handle.render();
    assert_eq!(
        metric_series(&text, "warden_dpop_refusals_total")[r#"{reason="not_dpop_bound"}"#],
        1.0,
        "{text}"
    );

    // A revocation: the rules' gauge, then the request it refuses.
    demo.revoke(json!({"kind": "session", "subject": "session-metrics"}))
        .await;
    assert_eq!(
        demo.get("/orders", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let text = handle.render();
    assert!(
        metric_series(&text, "warden_revocation_rules")[""] >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric_series(&text, "warden_revocation_hits_total")[""],
        1.0,
        "{text}"
    );
}

/// The demo's OpenAPI document (public) says what every route enforces: each operation's
/// `security` alternatives, checked by calling it with a token holding each declared scope or
/// role alone (it opens exactly when an alternative names that one alone), and with none.
#[tokio::test]
async fn the_openapi_document_says_what_each_route_enforces() {
    let demo = Demo::start().await;
    let (status, _, openapi) = demo.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(openapi["openapi"], "3.1.0");
    assert_eq!(
        openapi["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let permissions = orders::permissions(orders::DEMO_AUDIENCE).unwrap();
    let manifest: Value = serde_json::from_str(&permissions.entra_manifest().to_json()).unwrap();
    let scopes: Vec<String> = manifest["api"]["oauth2PermissionScopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap().to_owned())
        .collect();
    let roles: Vec<String> = manifest["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_owned())
        .collect();
    let mut tokens: Vec<(String, String)> = Vec::new();
    for scope in &scopes {
        tokens.push((
            scope.clone(),
            demo.issuer
                .token()
                .scopes([scope.as_str()])
                .acrs(["c1"])
                .sign(),
        ));
    }
    for role in &roles {
        tokens.push((
            role.clone(),
            demo.issuer
                .token()
                .app_only()
                .roles([role.as_str()])
                .acrs(["c1"])
                .sign(),
        ));
    }
    let none = demo
        .issuer
        .token()
        .scopes(Vec::<&str>::new())
        .acrs(["c1"])
        .sign();
    let mut operations = 0;
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = path.replace("{id}", "1");
            let body = (method == Method::POST).then(|| json!({}));
            let security = operation["security"]
                .as_array()
                .expect("every operation says its security");
            let opens = |status: StatusCode| {
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
            };
            // Alternatives naming nothing: public (no alternative) or any valid token.
            let any_token = security.iter().any(|alt| alt["bearer"] == json!([]));
            let public = security.is_empty();
            let (status, _, _) = demo.call(method.clone(), &url, None, body.clone()).await;
            assert_eq!(
                opens(status),
                public,
                "{method} {path} without a token: {status}"
            );
            let (status, _, _) = demo
                .call(method.clone(), &url, Some(&none), body.clone())
                .await;
            assert_eq!(
                opens(status),
                public || any_token,
                "{method} {path} with no permission: {status}"
            );
            for (value, token) in &tokens {
                let alone = security.iter().any(|alt| alt["bearer"] == json!([value]));
                let (status, _, _) = demo
                    .call(method.clone(), &url, Some(token), body.clone())
                    .await;
                assert_eq!(
                    opens(status),
                    public || any_token || alone,
                    "{method} {path} with only {value}: {status}"
                );
            }
            if !public {
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            }
            operations += 1;
        }
    }
    // Every documented route is an operation.
    assert_eq!(
        operations,
        permissions.generic_json()["routes"]
            .as_array()
            .unwrap()
            .len()
    );
    // What OpenAPI cannot say is said in the permissions page's words.
    assert_eq!(
        openapi["paths"]["/orders/{id}/refund"]["post"]["x-warden-requires"],
        "scope `Orders.Write`, and authentication context `c1`"
    );
}

/// The demo's onward route: the Orders API calls its Shipping service on the caller's behalf,
/// with no secret anywhere (a federated token file): Shipping sees the same user, through the
/// Orders API. Without `Orders.Read`, refused before any call.
#[tokio::test]
async fn the_demo_calls_its_second_service_on_the_callers_behalf() {
    let demo = Demo::start().await;
    let (status, _, body) = demo.get("/orders/shipping", &demo.carol().sign()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["for"], CAROL, "the same user at Shipping");
    assert_eq!(
        body["via"],
        orders::DEMO_CLIENT_ID,
        "through the Orders API"
    );

    let token = demo.issuer.token().scopes(["Orders.Write"]).sign();
    let (status, challenge, _) = demo.get("/orders/shipping", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="Orders.Read""#)
    );
}
