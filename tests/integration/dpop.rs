//! DPoP (RFC 9449) and certificate-bound tokens (RFC 8705) through the layer: every refusal with
//! its status, exact challenges and body, and the handler not run.

use std::sync::Arc;

use axum::body::Body;
use http::Request;
use serde_json::json;
use warden::WardenLayer;
use warden::dpop::{Dpop, InMemoryProofReplay};
use warden::mtls::ClientCertificate;
use warden_integration_tests::{Answer, App, assert_refusal, now, shared_issuer, trust};
use warden_testing::DpopKey;

const ALGS: &str = r#"DPoP algs="ES256 ES384 PS256 RS256 EdDSA""#;
const URL: &str = "http://api.test/me";

fn app() -> App {
    App::new(layer(WardenLayer::builder()))
}

fn layer(builder: warden::config::WardenBuilder) -> WardenLayer {
    builder
        .issuer(trust(shared_issuer()).build().unwrap())
        .build()
        .unwrap()
}

/// `GET /me` with `Authorization: {scheme} {token}` and these `DPoP` headers.
fn request(scheme: &str, token: &str, proofs: &[&str]) -> Request<Body> {
    let mut request = Request::get("/me")
        .header("host", "api.test")
        .header("authorization", format!("{scheme} {token}"));
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    request.body(Body::empty()).unwrap()
}

fn challenges(answer: &Answer) -> Vec<&str> {
    answer
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// A refusal on the DPoP challenge: exactly `Bearer realm="api"` then `DPoP error=…`.
async fn assert_dpop_refusal(app: &App, request: Request<Body>, error: &str, description: &str) {
    let runs = app.runs.count();
    let answer = app.send(request).await;
    let dpop = format!(
        r#"DPoP error="{error}", error_description="{description}", algs="ES256 ES384 PS256 RS256 EdDSA""#
    );
    assert_refusal(&answer, 401, Some(r#"Bearer realm="api""#), description);
    assert_eq!(
        challenges(&answer),
        [r#"Bearer realm="api""#, dpop.as_str()]
    );
    assert_eq!(app.runs.count(), runs, "the handler ran");
}

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_once() {
    let app = app();
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer()
        .token()
        .subject("alice")
        .dpop_bound(&key)
        .sign();
    let proof = key.proof("GET", URL).access_token(&token).sign();
    let answer = app.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, "alice");
    // The scheme name is case-insensitive, and the URL compares after normalisation.
    let proof = key
        .proof("GET", "HTTP://API.test:80/./me")
        .access_token(&token)
        .sign();
    let answer = app.send(request("dpop", &token, &[&proof])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A `kid` in the proof header is allowed (RFC 9449 does not forbid it).
    let with_kid = key
        .proof("GET", URL)
        .access_token(&token)
        .header("kid", "client-key-1")
        .sign();
    assert_eq!(
        app.send(request("DPoP", &token, &[&with_kid])).await.status,
        200
    );
    // A header too long for the stack buffer it is usually decoded into (an RSA-4096 key's
    // size) is decoded on the heap, and accepted alike.
    let long_header = key
        .proof("GET", URL)
        .access_token(&token)
        .header("x-pad", "p".repeat(1200))
        .sign();
    assert_eq!(
        app.send(request("DPoP", &token, &[&long_header]))
            .await
            .status,
        200
    );
    // A token bound twice (key and certificate) is refused: checking one binding would drop
    // the other.
    let twice = shared_issuer()
        .token()
        .claim("cnf", json!({"jkt": key.thumbprint(), "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}))
        .sign();
    let twice_proof = key.proof("GET", URL).access_token(&twice).sign();
    assert_dpop_refusal(
        &app,
        request("DPoP", &twice, &[&twice_proof]),
        "invalid_token",
        "token bound by an unsupported confirmation method (cnf)",
    )
    .await;
    // The same proof again: a replay.
    assert_dpop_refusal(
        &app,
        request("DPoP", &token, &[&proof]),
        "invalid_dpop_proof",
        "DPoP proof replayed",
    )
    .await;
}

#[tokio::test]
async fn every_401_offers_both_schemes_and_puts_the_error_on_the_one_used() {
    let app = app();
    // No credentials: both challenges, no error (RFC 9449 §7.2).
    let answer = app.get_me(None).await;
    assert_refusal(
        &answer,
        401,
        Some(r#"Bearer realm="api""#),
        "no bearer token",
    );
    assert_eq!(challenges(&answer), [r#"Bearer realm="api""#, ALGS]);

    // A bound token sent as a bearer token: no downgrade; the error on the Bearer challenge.
    let key = DpopKey::generate().unwrap();
    let bound = shared_issuer().token().dpop_bound(&key).sign();
    let answer = app.get_me_with(&bound).await;
    let description = "DPoP-bound token (cnf.jkt) sent as a bearer token";
    let bearer =
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#);
    assert_refusal(&answer, 401, Some(&bearer), description);
    assert_eq!(challenges(&answer), [bearer.as_str(), ALGS]);
    assert_eq!(app.runs.count(), 0);

    // An unbound token under the DPoP scheme, even with a good proof.
    let plain = shared_issuer().token().sign();
    let proof = key.proof("GET", URL).access_token(&plain).sign();
    assert_dpop_refusal(
        &app,
        request("DPoP", &plain, &[&proof]),
        "invalid_token",
        "token is not DPoP-bound",
    )
    .await;

    // An invalid bearer token: the error on the Bearer challenge only.
    let answer = app.get_me_with("not.a.token").await;
    let bearer =
        r#"Bearer realm="api", error="invalid_token", error_description="malformed token""#;
    assert_eq!(challenges(&answer), [bearer, ALGS]);
}

#[tokio::test]
async fn refuses_every_kind_of_bad_proof() {
    let app = app();
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();
    let good = || key.proof("GET", URL).access_token(&token);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "DPoP proof missing"),
        (vec![good().sign(), good().sign()], "more than one DPoP proof"),
        (vec!["not-a-jwt".into()], "malformed DPoP proof"),
        (vec![good().header("typ", "JWT").sign()], "DPoP proof typ must be dpop+jwt"),
        (vec![good().header("alg", "none").sign()], "DPoP proof algorithm not allowed"),
        (vec![good().header("alg", "HS256").sign()], "DPoP proof algorithm not allowed"),
        (
            vec![good().header("jwk", json!({"kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "d": "secret"})).sign()],
            "DPoP proof key holds private material",
        ),
        (
            vec![good().header("jwk", DpopKey::generate().unwrap().public_jwk()).sign()],
            "invalid DPoP proof signature",
        ),
        (vec![good().claim("htm", "POST").sign()], "DPoP proof htm does not match the request"),
        (
            vec![key.proof("GET", "http://api.test/other").access_token(&token).sign()],
            "DPoP proof htu does not match the request",
        ),
        (
            vec![key.proof("GET", "https://api.test/me").access_token(&token).sign()],
            "DPoP proof htu does not match the request",
        ),
        (vec![good().issued_at(now() - 600).sign()], "DPoP proof iat outside the accepted window"),
        (vec![good().issued_at(now() + 60).sign()], "DPoP proof iat outside the accepted window"),
        (vec![key.proof("GET", URL).access_token("another").sign()], "DPoP proof ath does not match the access token"),
        (vec![key.proof("GET", URL).sign()], "DPoP proof lacks a required claim"),
        (vec![good().without_claim("jti").sign()], "DPoP proof lacks a required claim"),
        (vec![good().without_claim("iat").sign()], "DPoP proof lacks a required claim"),
        (vec![good().claim("htu", 7).sign()], "DPoP proof lacks a required claim"),
        (vec![good().jti("j".repeat(300)).sign()], "DPoP proof jti too long"),
        // A 10 KB jti makes the proof itself too large to read.
        (vec![good().jti("j".repeat(10_000)).sign()], "malformed DPoP proof"),
    ];
    for (proofs, description) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        assert_dpop_refusal(
            &app,
            request("DPoP", &token, &proofs),
            "invalid_dpop_proof",
            description,
        )
        .await;
    }
    // Another key's valid proof: the binding fails (RFC 9449 §7.1's example answer).
    let thief = DpopKey::generate().unwrap();
    let stolen = thief.proof("GET", URL).access_token(&token).sign();
    assert_dpop_refusal(
        &app,
        request("DPoP", &token, &[&stolen]),
        "invalid_token",
        "Invalid DPoP key binding",
    )
    .await;
}

#[tokio::test]
async fn requirements_answer_403_in_the_dpop_scheme() {
    use axum::routing::get;
    warden::scopes! { pub Write = "Orders.Write"; }
    let router = axum::Router::new()
        .route(
            "/me",
            get(|_: warden::authz::RequireScope<Write>| async { "written" }),
        )
        .layer(layer(WardenLayer::builder()));
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer()
        .token()
        .scopes(["Orders.Read"])
        .dpop_bound(&key)
        .sign();
    let proof = key.proof("GET", URL).access_token(&token).sign();
    let answer = warden_integration_tests::send(router, request("DPoP", &token, &[&proof])).await;
    let expected = r#"DPoP error="insufficient_scope", scope="Orders.Write", algs="ES256 ES384 PS256 RS256 EdDSA""#;
    assert_refusal(&answer, 403, Some(expected), "missing scope");
    assert_eq!(challenges(&answer), [expected]);
}

#[tokio::test]
async fn behind_a_proxy_htu_is_the_public_url_whatever_the_host() {
    let dpop = Dpop::builder()
        .public_url("https://api.example.com/v1")
        .build()
        .unwrap();
    let app = App::new(layer(WardenLayer::builder().dpop(dpop)));
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();
    let public = key
        .proof("GET", "https://api.example.com/v1/me")
        .access_token(&token)
        .sign();
    let answer = app.send(request("DPoP", &token, &[&public])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The internal Host the request arrived with is not what the client called.
    let internal = key.proof("GET", URL).access_token(&token).sign();
    assert_dpop_refusal(
        &app,
        request("DPoP", &token, &[&internal]),
        "invalid_dpop_proof",
        "DPoP proof htu does not match the request",
    )
    .await;
}

#[tokio::test]
async fn a_proof_replayed_at_another_replica_sharing_the_cache_is_refused() {
    let shared = Arc::new(InMemoryProofReplay::default());
    let replica = || {
        let dpop = Dpop::builder()
            .replay_cache(shared.clone())
            .build()
            .unwrap();
        App::new(layer(WardenLayer::builder().dpop(dpop)))
    };
    let (a, b) = (replica(), replica());
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();
    let proof = key.proof("GET", URL).access_token(&token).sign();
    assert_eq!(a.send(request("DPoP", &token, &[&proof])).await.status, 200);
    assert_dpop_refusal(
        &b,
        request("DPoP", &token, &[&proof]),
        "invalid_dpop_proof",
        "DPoP proof replayed",
    )
    .await;
}

#[tokio::test]
async fn bearer_only_offers_no_dpop_and_refuses_bound_tokens() {
    let app = App::new(layer(WardenLayer::builder().bearer_only()));
    let answer = app.get_me(None).await;
    assert_eq!(challenges(&answer), [r#"Bearer realm="api""#]);
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();
    let proof = key.proof("GET", URL).access_token(&token).sign();
    let answer = app.send(request("DPoP", &token, &[&proof])).await;
    let description = "DPoP is not accepted for this token";
    assert_refusal(
        &answer,
        401,
        Some(&format!(
            r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
        )),
        description,
    );
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn a_certificate_bound_token_needs_its_certificate() {
    let app = app();
    let certificate = b"the DER of the client's certificate";
    let token = shared_issuer()
        .token()
        .subject("svc")
        .certificate_bound(certificate)
        .sign();
    let with_certificate = |der: &[u8]| {
        let mut request = Request::get("/me")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientCertificate::from_der(der));
        request
    };
    let answer = app.send(with_certificate(certificate)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for (request, description) in [
        (
            with_certificate(b"another certificate"),
            "client certificate does not match the token",
        ),
        (
            request("Bearer", &token, &[]),
            "certificate-bound token (cnf.x5t#S256) sent as a bearer token",
        ),
    ] {
        let answer = app.send(request).await;
        let bearer = format!(
            r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
        );
        assert_refusal(&answer, 401, Some(&bearer), description);
        assert_eq!(challenges(&answer), [bearer.as_str(), ALGS]);
    }
    assert_eq!(app.runs.count(), 1);
}

#[tokio::test]
async fn with_server_nonces_a_proof_must_carry_the_current_one() {
    let dpop = Dpop::builder()
        .nonces([7u8; 32].to_vec(), std::time::Duration::from_secs(300))
        .build()
        .unwrap();
    let app = App::new(layer(WardenLayer::builder().dpop(dpop)));
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();

    // No nonce: 401 use_dpop_nonce, with the nonce to use (RFC 9449 §9's example answer).
    let proof = key.proof("GET", URL).access_token(&token).sign();
    let answer = app.send(request("DPoP", &token, &[&proof])).await;
    let description = "Resource server requires nonce in DPoP proof";
    assert_refusal(&answer, 401, Some(r#"Bearer realm="api""#), description);
    assert_eq!(
        challenges(&answer),
        [
            r#"Bearer realm="api""#,
            format!(
                r#"DPoP error="use_dpop_nonce", error_description="{description}", algs="ES256 ES384 PS256 RS256 EdDSA""#
            )
            .as_str()
        ]
    );
    let nonces: Vec<_> = answer.headers.get_all("dpop-nonce").iter().collect();
    assert_eq!(nonces.len(), 1, "exactly one DPoP-Nonce");
    let nonce = nonces[0].to_str().unwrap().to_owned();
    assert_eq!(app.runs.count(), 0);

    // A made-up nonce: refused the same way.
    let proof = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", "made-up")
        .sign();
    let answer = app.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.headers["dpop-nonce"], nonce.as_str());

    // With the server's nonce: accepted.
    let proof = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", nonce)
        .sign();
    let answer = app.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.runs.count(), 1);
}

#[tokio::test]
async fn an_issuer_can_require_or_refuse_dpop() {
    let with_policy = |policy: warden::config::DpopPolicy| {
        App::new(
            WardenLayer::builder()
                .issuer(trust(shared_issuer()).dpop(policy).build().unwrap())
                .build()
                .unwrap(),
        )
    };
    let key = DpopKey::generate().unwrap();
    let bound = shared_issuer().token().dpop_bound(&key).sign();
    let plain = shared_issuer().token().sign();

    let required = with_policy(warden::config::DpopPolicy::Required);
    let description = "this issuer's tokens must be DPoP-bound";
    let answer = required.get_me_with(&plain).await;
    let bearer =
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#);
    assert_refusal(&answer, 401, Some(&bearer), description);
    assert_eq!(challenges(&answer), [bearer.as_str(), ALGS]);
    let proof = key.proof("GET", URL).access_token(&bound).sign();
    assert_eq!(
        required
            .send(request("DPoP", &bound, &[&proof]))
            .await
            .status,
        200
    );
    assert_eq!(required.runs.count(), 1);

    let refused = with_policy(warden::config::DpopPolicy::Refused);
    let proof = key.proof("GET", URL).access_token(&bound).sign();
    assert_dpop_refusal(
        &refused,
        request("DPoP", &bound, &[&proof]),
        "invalid_token",
        "DPoP is not accepted for this token",
    )
    .await;
    assert_eq!(refused.get_me_with(&plain).await.status, 200);
}

#[tokio::test]
async fn a_malformed_request_puts_the_error_where_the_scheme_says() {
    let app = app();
    let malformed =
        r#"error="invalid_request", error_description="malformed authorization header""#;
    // `DPoP a b`: the scheme is clear, the error goes on the DPoP challenge only.
    let answer = app
        .send(
            Request::get("/me")
                .header("authorization", "DPoP a b")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        challenges(&answer),
        [
            r#"Bearer realm="api""#,
            format!(r#"DPoP {malformed}, algs="ES256 ES384 PS256 RS256 EdDSA""#).as_str()
        ]
    );
    // Two Authorization headers: ambiguous, the error on both (RFC 9449 §7.2's example).
    let answer = app
        .send(
            Request::get("/me")
                .header("authorization", "Bearer abc")
                .header("authorization", "DPoP abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let description = "multiple authorization headers";
    assert_refusal(
        &answer,
        400,
        Some(&format!(
            r#"Bearer realm="api", error="invalid_request", error_description="{description}""#
        )),
        description,
    );
    assert_eq!(
        challenges(&answer)[1],
        format!(
            r#"DPoP error="invalid_request", error_description="{description}", algs="ES256 ES384 PS256 RS256 EdDSA""#
        )
    );
    // A Host smuggling a path names no URL: the proof cannot match.
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer().token().dpop_bound(&key).sign();
    let proof = key
        .proof("GET", "http://api.test/me")
        .access_token(&token)
        .sign();
    let smuggled = Request::get("/me")
        .header("host", "api.test/me?")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap();
    assert_dpop_refusal(
        &app,
        smuggled,
        "invalid_dpop_proof",
        "DPoP proof htu does not match the request",
    )
    .await;
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn outside_a_request_a_bound_token_is_refused_for_want_of_its_proof() {
    let layer = layer(WardenLayer::builder());
    let key = DpopKey::generate().unwrap();
    let bound = shared_issuer().token().dpop_bound(&key).sign();
    assert_eq!(
        layer.validator().validate(&bound).await.unwrap_err(),
        warden::Error::Binding(warden::error::BindingError::OutsideRequest(
            warden::error::Binding::DpopKey
        ))
    );
    let plain = shared_issuer().token().subject("alice").sign();
    assert_eq!(
        layer.validator().validate(&plain).await.unwrap().subject(),
        "alice"
    );
}
