//! The foundation: bearer extraction (RFC 6750), JWT access token validation (RFC 9068, RFC 8725),
//! the layer, the extractors and the answers. Every refusal asserts the status, the exact
//! `WWW-Authenticate`, the problem+json body, and that the handler did not run.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use serde_json::json;
use warden::keys::{KeySet, KeySource, KeysUnavailable, Refresh};
use warden::{Algorithm, Claims, Issuer, Principal, WardenLayer};
use warden_integration_tests::{
    App, assert_refusal, invalid_request, invalid_token, issuer_of, jwt_profile_app, layer_for,
    now, oidc_app, send, trust,
};
use warden_testing::FakeIssuer;

use warden_integration_tests::refused;

// ---------------------------------------------------------------------------------------------
// Acceptance

#[tokio::test]
async fn accepts_a_valid_token() {
    let (issuer, app) = oidc_app().await;
    let answer = app
        .get_me_with(&issuer.token().subject("alice").sign())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "alice");
    assert_eq!(app.runs.count(), 1);
}

#[tokio::test]
async fn accepts_any_case_of_the_scheme_and_two_spaces() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().sign();
    assert_eq!(
        app.get_me(Some(&format!("bEaReR {token}"))).await.status,
        200
    );
    assert_eq!(
        app.get_me(Some(&format!("Bearer  {token}"))).await.status,
        200
    );
}

#[tokio::test]
async fn accepts_each_default_algorithm() {
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let issuer = FakeIssuer::builder().algorithm(alg).start().await.unwrap();
        let app = App::new(layer_for(&issuer));
        let answer = app.get_me_with(&issuer.token().sign()).await;
        assert_eq!(answer.status, 200, "{alg:?}");
    }
}

#[tokio::test]
async fn accepts_an_rsa_key_with_the_other_rsa_algorithms_when_its_jwk_has_no_alg() {
    let issuer = FakeIssuer::start().await.unwrap();
    let mut jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    jwks["keys"][0].as_object_mut().unwrap().remove("alg");
    let layer = WardenLayer::builder()
        .issuer(issuer_of(&issuer).jwks(jwks.to_string()).build().unwrap())
        .build()
        .unwrap();
    let app = App::new(layer);
    let token = issuer.token().algorithm(Algorithm::PS256).sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

#[tokio::test]
async fn accepts_an_extra_unknown_header_parameter() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().header("foo", "bar").sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

#[tokio::test]
async fn accepts_typ_in_any_case_and_with_application_prefix() {
    let (issuer, app) = oidc_app().await;
    for typ in ["at+JWT", "application/at+jwt", "AT+JWT"] {
        let token = issuer.token().header("typ", typ).sign();
        assert_eq!(app.get_me_with(&token).await.status, 200, "{typ}");
    }
}

#[tokio::test]
async fn accepts_an_audience_array_containing_ours() {
    let (issuer, app) = oidc_app().await;
    let token = issuer
        .token()
        .audiences(["other", issuer.audience()])
        .sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

#[tokio::test]
async fn accepts_a_token_expired_within_the_leeway() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().expires_at(now() - 30).sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

#[tokio::test]
async fn accepts_typ_jwt_when_the_issuer_profile_allows_it() {
    let (issuer, app) = jwt_profile_app().await;
    let token = issuer.token().header("typ", "JWT").sign();
    assert_eq!(app.get_me_with(&token).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// No credentials: 401 with a challenge and no error code

#[tokio::test]
async fn answers_no_authorization_header_with_401_realm_only() {
    let (_issuer, app) = oidc_app().await;
    let answer = app.get_me(None).await;
    assert_refusal(
        &answer,
        401,
        Some(r#"Bearer realm="api""#),
        "no bearer token",
    );
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn answers_basic_scheme_with_401_realm_only() {
    let (_issuer, app) = oidc_app().await;
    let answer = app.get_me(Some("Basic dXNlcjpwYXNz")).await;
    assert_refusal(
        &answer,
        401,
        Some(r#"Bearer realm="api""#),
        "no bearer token",
    );
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn ignores_a_token_only_in_the_query_string() {
    let (issuer, app) = oidc_app().await;
    let uri = format!("/me?access_token={}", issuer.token().sign());
    let answer = app
        .send(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    assert_refusal(
        &answer,
        401,
        Some(r#"Bearer realm="api""#),
        "no bearer token",
    );
    assert_eq!(app.runs.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: 400 invalid_request

macro_rules! malformed_header {
    ($name:ident, $value:expr) => {
        #[tokio::test]
        async fn $name() {
            let (_issuer, app) = oidc_app().await;
            let answer = app.get_me(Some($value)).await;
            let description = "malformed authorization header";
            assert_refusal(
                &answer,
                400,
                Some(&invalid_request(description)),
                description,
            );
            assert_eq!(app.runs.count(), 0);
        }
    };
}

malformed_header!(rejects_bearer_without_token, "Bearer");
malformed_header!(rejects_bearer_with_only_a_space, "Bearer ");
malformed_header!(rejects_a_tab_after_bearer, "Bearer\tabc.def.ghi");
malformed_header!(rejects_two_tokens, "Bearer abc def");
malformed_header!(rejects_a_quoted_token, "Bearer \"abc\"");
malformed_header!(rejects_a_comma_in_the_token, "Bearer a,b");
malformed_header!(rejects_equals_inside_the_token, "Bearer ab=cd");

#[tokio::test]
async fn rejects_two_authorization_headers() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().sign();
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    let description = "multiple authorization headers";
    assert_refusal(
        &answer,
        400,
        Some(&invalid_request(description)),
        description,
    );
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn rejects_a_token_in_both_header_and_query() {
    let (issuer, app) = oidc_app().await;
    let token = issuer.token().sign();
    // The name as any form decoder reads it: `access%5Ftoken` is `access_token` too.
    for name in [
        "access_token",
        "access%5Ftoken",
        "%61ccess_token",
        "x=1&access%5ftoken",
    ] {
        let request = Request::get(format!("/me?{name}={token}"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let answer = app.send(request).await;
        let description = "token sent by more than one method";
        assert_refusal(
            &answer,
            400,
            Some(&invalid_request(description)),
            description,
        );
    }
    assert_eq!(app.runs.count(), 0);
}

refused!(
    rejects_a_token_over_the_size_cap_without_parsing_it,
    |_issuer| "a".repeat(16 * 1024 + 1),
    "token too large"
);

// ---------------------------------------------------------------------------------------------
// Claims (RFC 9068 §4, RFC 7519 §4.1)

refused!(
    rejects_an_expired_token,
    |issuer| issuer.token().expires_at(now() - 120).sign(),
    "token expired"
);
refused!(
    rejects_a_token_not_yet_valid,
    |issuer| issuer.token().not_before(now() + 120).sign(),
    "token not yet valid"
);
refused!(
    rejects_a_token_issued_in_the_future,
    |issuer| issuer.token().issued_at(now() + 120).sign(),
    "token issued in the future"
);
refused!(
    rejects_a_missing_exp,
    |issuer| issuer.token().without_claim("exp").sign(),
    "missing required claim"
);
refused!(
    rejects_exp_as_a_string,
    |issuer| issuer
        .token()
        .claim("exp", (now() + 300).to_string())
        .sign(),
    "invalid claim"
);
refused!(
    rejects_a_huge_negative_exp,
    |issuer| issuer.token().claim("exp", -1e300).sign(),
    "token expired"
);
refused!(
    rejects_an_untrusted_issuer,
    |issuer| issuer
        .token()
        .claim("iss", "https://attacker.example")
        .sign(),
    "untrusted issuer"
);
refused!(
    rejects_an_issuer_with_a_trailing_slash,
    |issuer| issuer
        .token()
        .claim("iss", format!("{}/", issuer.issuer_url()))
        .sign(),
    "untrusted issuer"
);
refused!(
    rejects_an_issuer_prefix,
    |issuer| {
        let url = issuer.issuer_url();
        issuer
            .token()
            .claim("iss", url[..url.len() - 1].to_owned())
            .sign()
    },
    "untrusted issuer"
);
refused!(
    rejects_a_numeric_issuer,
    |issuer| issuer.token().claim("iss", 7).sign(),
    "invalid claim"
);
refused!(
    rejects_a_missing_issuer,
    |issuer| issuer.token().without_claim("iss").sign(),
    "missing required claim"
);
refused!(
    rejects_a_wrong_audience,
    |issuer| issuer.token().audience("api://other").sign(),
    "wrong audience"
);
refused!(
    rejects_an_extended_audience,
    |issuer| issuer
        .token()
        .audience(format!("{}x", issuer.audience()))
        .sign(),
    "wrong audience"
);
refused!(
    rejects_an_audience_array_without_ours,
    |issuer| issuer.token().audiences(["a", "b"]).sign(),
    "wrong audience"
);
refused!(
    rejects_an_empty_audience_array,
    |issuer| issuer.token().audiences(Vec::<String>::new()).sign(),
    "wrong audience"
);
refused!(
    rejects_a_numeric_audience,
    |issuer| issuer.token().claim("aud", 123).sign(),
    "invalid claim"
);
refused!(
    rejects_a_missing_audience,
    |issuer| issuer.token().without_claim("aud").sign(),
    "missing required claim"
);
refused!(
    rejects_a_missing_sub_under_rfc9068,
    |issuer| issuer.token().without_claim("sub").sign(),
    "missing required claim"
);
refused!(
    rejects_a_missing_client_id_under_rfc9068,
    |issuer| issuer.token().without_claim("client_id").sign(),
    "missing required claim"
);
refused!(
    rejects_a_missing_jti_under_rfc9068,
    |issuer| issuer.token().without_claim("jti").sign(),
    "missing required claim"
);
refused!(
    rejects_a_missing_iat_under_rfc9068,
    |issuer| issuer.token().without_claim("iat").sign(),
    "missing required claim"
);
refused!(
    rejects_a_numeric_scope,
    |issuer| issuer.token().claim("scope", 5).sign(),
    "invalid claim"
);

// ---------------------------------------------------------------------------------------------
// Keys unavailable: 503 with Retry-After

#[derive(Debug)]
struct DownSource {
    fetch: bool,
}

impl KeySource for DownSource {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        None
    }

    fn refresh(&self) -> Refresh {
        if self.fetch {
            Refresh::Pending(Box::pin(async {
                Err(KeysUnavailable {
                    retry_after: Duration::from_secs(17),
                })
            }))
        } else {
            Refresh::NotNow {
                retry_after: Some(Duration::from_secs(42)),
            }
        }
    }
}

async fn assert_keys_unavailable(fetch: bool, retry_after: &str) {
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .keys(DownSource { fetch })
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = App::new(layer);
    let answer = app.get_me_with(&issuer.token().sign()).await;
    assert_refusal(&answer, 503, None, "signing keys unavailable");
    assert_eq!(answer.headers["retry-after"], retry_after);
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn answers_503_with_retry_after_when_no_key_was_ever_loaded() {
    assert_keys_unavailable(false, "42").await;
}

#[tokio::test]
async fn answers_503_with_retry_after_when_the_first_fetch_fails() {
    assert_keys_unavailable(true, "17").await;
}

#[tokio::test]
async fn rejects_an_untrusted_issuer_before_asking_any_key_source() {
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .keys(DownSource { fetch: true })
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = App::new(layer);
    let token = issuer
        .token()
        .claim("iss", "https://attacker.example")
        .sign();
    let description = "untrusted issuer";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Layer modes, extractors, custom answers

#[tokio::test]
async fn lets_anonymous_callers_through_in_optional_mode_but_still_rejects_bad_tokens() {
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(trust(&issuer).build().unwrap())
        .allow_anonymous()
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/greet",
            get(|caller: Option<Principal>| async move {
                match caller {
                    Some(caller) => format!("hello {}", caller.subject()),
                    None => "hello stranger".to_owned(),
                }
            }),
        )
        .route(
            "/me",
            get(|caller: Principal| async move { caller.subject().to_owned() }),
        )
        .layer(layer);
    let get = |path: &str, auth: Option<String>| {
        let mut request = Request::get(path);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        send(router.clone(), request.body(Body::empty()).unwrap())
    };
    assert_eq!(get("/greet", None).await.body, "hello stranger");
    let token = issuer.token().subject("bob").sign();
    assert_eq!(
        get("/greet", Some(format!("Bearer {token}"))).await.body,
        "hello bob"
    );
    let expired = issuer.token().expires_at(now() - 3600).sign();
    let answer = get("/greet", Some(format!("Bearer {expired}"))).await;
    assert_refusal(
        &answer,
        401,
        Some(&invalid_token("token expired")),
        "token expired",
    );
    // A route that needs a principal still answers 401 to an anonymous caller.
    let answer = get("/me", None).await;
    assert_refusal(
        &answer,
        401,
        Some(r#"Bearer realm="api""#),
        "no bearer token",
    );
}

#[tokio::test]
async fn fails_closed_when_an_extractor_runs_without_the_layer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let router = Router::new().route(
        "/me",
        get(move |caller: Principal| async move {
            flag.store(true, Ordering::SeqCst);
            caller.subject().to_owned()
        }),
    );
    let answer = send(router, Request::get("/me").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.challenge(), None);
    assert_eq!(
        answer.body,
        "authentication is not configured for this route"
    );
    assert!(!ran.load(Ordering::SeqCst), "the handler ran");
}

#[tokio::test]
async fn reads_custom_claims_and_refuses_claims_that_do_not_fit() {
    #[derive(serde::Deserialize)]
    struct Custom {
        department: String,
    }
    let issuer = FakeIssuer::start().await.unwrap();
    let router = Router::new()
        .route(
            "/dept",
            get(|Claims(c): Claims<Custom>| async move { c.department }),
        )
        .layer(layer_for(&issuer));
    let call = |token: String| {
        send(
            router.clone(),
            Request::get("/dept")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(
        call(issuer.token().claim("department", "sales").sign())
            .await
            .body,
        "sales"
    );
    let answer = call(issuer.token().sign()).await;
    assert_refusal(
        &answer,
        401,
        Some(&invalid_token("invalid claim")),
        "invalid claim",
    );
}

/// A clock before 1970, as a host with a dead RTC battery may have.
#[derive(Debug)]
struct Before1970;

impl warden::config::Clock for Before1970 {
    fn now(&self) -> SystemTime {
        std::time::UNIX_EPOCH - std::time::Duration::from_secs(86_400)
    }
}

#[tokio::test]
async fn a_clock_before_1970_fails_every_time_check_closed() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = warden::Validator::builder()
        .issuer(trust(&issuer).build().unwrap())
        .clock(Before1970)
        .build()
        .unwrap();
    let app = App::new(WardenLayer::new(validator));
    let description = "token expired";
    app.assert_refused(
        &issuer.token().sign(),
        401,
        &invalid_token(description),
        description,
    )
    .await;
}

#[tokio::test]
async fn principal_exposes_typed_claims() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = layer_for(&issuer).validator().clone();
    let token = issuer
        .token()
        .subject("alice")
        .client("app-7")
        .scopes(["Orders.Read", "Orders.Write"])
        .roles(["Admin"])
        .claim("tid", "t-1")
        .claim("oid", "o-1")
        .sign();
    let principal = validator.validate(&token).await.unwrap();
    assert_eq!(principal.issuer(), issuer.issuer_url());
    assert_eq!(principal.subject(), "alice");
    assert_eq!(principal.client_id(), Some("app-7"));
    // A generic issuer's token: `tid` and `oid` are not its profile's claims. The tenant is not
    // vouched for, and the user is `sub` within the issuer.
    assert_eq!(principal.tenant_id(), None);
    assert_eq!(principal.object_id(), Some("o-1"));
    assert_eq!(principal.user_id(), "alice");
    assert_eq!(
        principal.identity(),
        warden::principal::Identity {
            namespace: &issuer.issuer_url(),
            user_id: "alice"
        }
    );
    assert_eq!(
        principal.scopes().collect::<Vec<_>>(),
        ["Orders.Read", "Orders.Write"]
    );
    assert!(principal.has_scope("Orders.Read") && !principal.has_scope("orders.read"));
    assert_eq!(principal.roles().collect::<Vec<_>>(), ["Admin"]);
    assert!(principal.token_id().is_some());
    assert!(principal.expires_at() > SystemTime::now());
    assert_eq!(principal.claim("sub"), Some(&json!("alice")));
}

#[tokio::test]
async fn custom_rejection_bodies_keep_the_protocol_headers() {
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(trust(&issuer).build().unwrap())
        .realm("orders")
        .on_rejection(|error, _challenge| {
            let mut response = http::Response::new(bytes::Bytes::from(format!("nope: {error}")));
            // An attempt to drop the challenge and change the status is overridden.
            *response.status_mut() = http::StatusCode::OK;
            response
        })
        .build()
        .unwrap();
    let app = App::new(layer);
    let answer = app
        .get_me_with(&issuer.token().expires_at(now() - 3600).sign())
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge(),
        Some(r#"Bearer realm="orders", error="invalid_token", error_description="token expired""#)
    );
    assert_eq!(answer.body, "nope: token expired");
    assert_eq!(app.runs.count(), 0);
}

#[tokio::test]
async fn protects_only_the_routes_under_route_layer() {
    let issuer = FakeIssuer::start().await.unwrap();
    let router = Router::new()
        .route(
            "/me",
            get(|caller: Principal| async move { caller.subject().to_owned() }),
        )
        .route_layer(layer_for(&issuer))
        .route("/health", get(|| async { "ok" }));
    let answer = send(
        router.clone(),
        Request::get("/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = send(router, Request::get("/me").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn validates_outside_the_middleware() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = layer_for(&issuer).validator().clone();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(
        validator
            .validate(&issuer.token().sign_tampered())
            .await
            .unwrap_err(),
        warden::Error::InvalidToken(warden::error::InvalidToken::BadSignature)
    );
}

#[tokio::test]
async fn serves_real_http_on_loopback() {
    let issuer = FakeIssuer::start().await.unwrap();
    let app = App::new(layer_for(&issuer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app.router).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/me");
    let ok = client
        .get(&url)
        .bearer_auth(issuer.token().subject("carol").sign())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "carol");
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    server.abort();
}

#[tokio::test]
async fn verifies_es256_eddsa_and_rs256_keys_of_one_issuer() {
    // warden verifies with aws-lc-rs directly and does not depend on jsonwebtoken, so a user's
    // build that turns on jsonwebtoken's backends cannot change it (`.ci/run` checks the graph).
    let (issuer, app) = oidc_app().await;
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let kid = issuer.add_key(alg).unwrap();
        let app = App::new(layer_for(&issuer));
        assert_eq!(
            app.get_me_with(&issuer.token().key(kid).sign())
                .await
                .status,
            200
        );
    }
    assert_eq!(app.get_me_with(&issuer.token().sign()).await.status, 200);
}

#[tokio::test]
async fn rejects_a_missing_iat_under_the_jwt_profile() {
    // Without `iat` a token's lifetime cannot be bounded, and a revocation rule could expire
    // before the token does.
    let (issuer, app) = jwt_profile_app().await;
    let token = issuer
        .token()
        .header("typ", "JWT")
        .without_claim("iat")
        .sign();
    let description = "missing required claim";
    app.assert_refused(&token, 401, &invalid_token(description), description)
        .await;
}

#[tokio::test]
async fn drops_empty_scopes_from_arrays_and_strings() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validator = layer_for(&issuer).validator().clone();
    let token = issuer
        .token()
        .claim("scope", serde_json::json!(["", "Orders.Read"]))
        .sign();
    let principal = validator.validate(&token).await.unwrap();
    assert_eq!(principal.scopes().collect::<Vec<_>>(), ["Orders.Read"]);
    assert!(!principal.has_scope(""));
    let token = issuer
        .token()
        .claim("scope", " Orders.Read  ")
        .claim("sub", "a\u{e9}\"b")
        .sign();
    let principal = validator.validate(&token).await.unwrap();
    assert_eq!(principal.scopes().collect::<Vec<_>>(), ["Orders.Read"]);
    assert_eq!(
        principal.subject(),
        "a\u{e9}\"b",
        "an escaped string is read back exactly"
    );
}

/// A refusal that depends only on the error and the scheme is written once per layer and copied
/// afterwards: every copy is the whole answer (status, every header, body), each scheme has its
/// own, and an answer with request data in it (a required scope) is still written each time.
#[tokio::test]
async fn a_refusal_written_once_is_answered_whole_every_time_and_per_scheme() {
    let issuer = FakeIssuer::start().await.unwrap();
    let app = App::new(layer_for(&issuer));
    let expired = issuer.token().expires_at(1).sign();
    let header_values = |answer: &warden_integration_tests::Answer| {
        let mut all: Vec<(String, String)> = answer
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
            .collect();
        all.sort();
        all
    };
    let first = app.get_me_with(&expired).await;
    let bearer_challenge = invalid_token("token expired");
    assert_refusal(&first, 401, Some(&bearer_challenge), "token expired");
    for _ in 0..3 {
        let again = app.get_me_with(&expired).await;
        assert_refusal(&again, 401, Some(&bearer_challenge), "token expired");
        assert_eq!(header_values(&again), header_values(&first));
        assert_eq!(again.body, first.body);
    }
    let www = |answer: &warden_integration_tests::Answer| -> Vec<String> {
        answer
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .collect()
    };
    let dpop_algs = r#"DPoP algs="ES256 ES384 PS256 RS256 EdDSA""#;
    assert_eq!(
        www(&first),
        [bearer_challenge.clone(), dpop_algs.to_owned()]
    );
    // The same error under the DPoP scheme: its own answer, the error on the DPoP challenge.
    for _ in 0..2 {
        let dpop = app.get_me(Some(&format!("DPoP {expired}"))).await;
        assert_eq!(dpop.status, 401);
        assert_eq!(
            www(&dpop),
            [
                r#"Bearer realm="api""#.to_owned(),
                r#"DPoP error="invalid_token", error_description="token expired", algs="ES256 ES384 PS256 RS256 EdDSA""#.to_owned(),
            ]
        );
        assert_eq!(app.runs.count(), 0, "the handler ran");
    }
    // And the Bearer answer is unchanged after the DPoP one was written.
    let last = app.get_me_with(&expired).await;
    assert_eq!(header_values(&last), header_values(&first));
    assert_eq!(app.runs.count(), 0, "the handler ran");
}
