//! Shared Signals over loopback: the fake issuer is the transmitter (SSF configuration, streams,
//! signed SETs, push and poll), the API's receiver turns its events into revocations, and the
//! API's layer enforces them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warden::Principal;
use warden::cae::{InMemoryRevocations, Revocation, RevocationError, RevocationStore, Revoking};
use warden::keys::JwksCache;
use warden::ssf::{
    Action, Delivery, Poller, PushAuthorization, PushEndpoint, Receiver, StreamClient,
    TransmitterConfiguration,
};
use warden::{Validator, WardenLayer};
use warden_integration_tests::{App, invalid_token, issuer_of, now};
use warden_testing::{Endpoint, FakeIssuer, PushAnswer};

const SECRET: &str = "push-secret-3f9c2a71e4b84d0c9a5e";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// The Entra tenant the fixture's transmitter may speak for.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The API's store, as the receiver sees it: counts the rules it is given, and can be told to
/// fail as a fleet store does when its backend is down.
#[derive(Debug, Default)]
struct Counting {
    inner: InMemoryRevocations,
    revokes: AtomicUsize,
    down: AtomicBool,
}

impl RevocationStore for Counting {
    fn revoke(&self, revocation: Revocation) -> Revoking<'_> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(RevocationError::Unavailable {
                    source: "backend down (test)".into(),
                });
            }
            self.revokes.fetch_add(1, Ordering::SeqCst);
            self.inner.revoke(revocation).await
        })
    }

    fn revoked_since(&self, principal: &Principal) -> Option<u64> {
        self.inner.revoked_since(principal)
    }
}

/// Serves a push endpoint on loopback; returns its URL and the server task.
async fn serve(push: PushEndpoint) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ssf/events", listener.local_addr().unwrap());
    let router = Router::new().route_service("/ssf/events", push);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, server)
}

/// An API protected by the fake issuer, a receiver of its transmitter feeding the same store,
/// and the receiver's push endpoint served on loopback.
struct Fixture {
    issuer: FakeIssuer,
    store: Arc<Counting>,
    app: App,
    validator: Validator,
    receiver: Receiver,
    push_url: String,
    server: JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn fixture() -> Fixture {
    let issuer = FakeIssuer::start().await.expect("fake issuer");
    let store = Arc::new(Counting::default());
    // Keys by discovery, so claims challenges name the issuer's authorization endpoint.
    let keys = JwksCache::builder(issuer.issuer_url()).build().unwrap();
    let validator = Validator::builder()
        .issuer(issuer_of(&issuer).keys(keys).build().unwrap())
        .revocations(store.clone())
        .build()
        .unwrap();
    let app = App::new(WardenLayer::new(validator.clone()));
    let configuration =
        TransmitterConfiguration::discover(issuer.ssf_issuer(), &reqwest::Client::new())
            .await
            .expect("transmitter configuration");
    let receiver = Receiver::builder(configuration, issuer.audience())
        .revocations(validator.revocations().clone())
        .speaks_for_tenant(TENANT.to_uppercase())
        .build()
        .unwrap();
    let (push_url, server) = serve(PushEndpoint::new(
        receiver.clone(),
        PushAuthorization::bearer(SECRET).unwrap(),
    ))
    .await;
    Fixture {
        issuer,
        store,
        app,
        validator,
        receiver,
        push_url,
        server,
    }
}

impl Fixture {
    async fn push(&self, set: &str) -> PushAnswer {
        self.issuer
            .push_set(&self.push_url, Some(&format!("Bearer {SECRET}")), set)
            .await
            .expect("pushed")
    }

    fn token_of(&self, user: &str, issued_at: i64) -> String {
        self.issuer
            .token()
            .subject(user)
            .issued_at(issued_at)
            .sign()
    }

    async fn assert_accepted(&self, token: &str) {
        let answer = self.app.get_me_with(token).await;
        assert_eq!(answer.status, 200, "body {}", answer.body);
    }

    async fn assert_revoked(&self, token: &str) {
        self.app
            .assert_refused(token, 401, &invalid_token("token revoked"), "token revoked")
            .await;
    }
}

fn assert_accepted_push(answer: &PushAnswer) {
    assert_eq!(answer.status, 202, "body {}", answer.body);
    assert_eq!(answer.body, "", "RFC 8935 §2.2: the body of a 202 is empty");
}

/// Asserts RFC 8935 §2.3's error answer, exactly.
fn assert_push_error(answer: &PushAnswer, status: u16, err: &str, description: &str) {
    assert_eq!(answer.status, status, "body {}", answer.body);
    let body: Value = serde_json::from_str(&answer.body).expect("a JSON error body");
    assert_eq!(body, json!({"err": err, "description": description}));
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.content_language.as_deref(), Some("en"));
    if status != 401 {
        // Only a credential failure challenges; a refused SET does not.
        assert_eq!(
            answer.www_authenticate, None,
            "WWW-Authenticate on a {status}"
        );
    }
}

async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_pushed_session_revoked_event_revokes_the_token_and_later_tokens_work() {
    // This test's own recorder (thread-local; every task of the test runs on its thread).
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let f = fixture().await;
    // The operator connects the receiver in one call: stream created, verification requested.
    let streams = StreamClient::new(f.receiver.clone(), "Bearer receiver-credential");
    let stream = streams
        .connect(Delivery::Push {
            endpoint_url: f.push_url.clone(),
            authorization_header: format!("Bearer {SECRET}"),
        })
        .await
        .expect("stream created");
    assert_eq!(stream.delivery_method, warden::ssf::PUSH_DELIVERY);
    assert!(
        stream
            .events_delivered
            .iter()
            .any(|uri| uri.ends_with("session-revoked"))
    );
    assert_eq!(streams.status(&stream.stream_id).await.unwrap(), "enabled");
    within(
        Duration::from_secs(5),
        "verification event received",
        || async { f.receiver.last_verified_at().is_some() },
    )
    .await;

    let event_time = now() - 5;
    let before = f.token_of("carol", event_time - 60);
    let cae_before = f
        .issuer
        .token()
        .subject("carol")
        .cae_capable()
        .issued_at(event_time - 60)
        .sign();
    f.assert_accepted(&before).await;
    f.assert_accepted(&cae_before).await;

    let set = f
        .issuer
        .security_event()
        .user("carol")
        .event_timestamp(event_time)
        .sign();
    let answers = f.issuer.deliver("carol-session", &set).await;
    assert_eq!(answers.len(), 1);
    assert_accepted_push(&answers[0]);

    f.assert_revoked(&before).await;
    // A CAE-capable client gets the claims challenge: a token issued after the event's second.
    let claims = base64::engine::general_purpose::STANDARD.encode(format!(
        r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{}"}}}}}}"#,
        event_time + 1
    ));
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="{}/authorize", error="insufficient_claims", claims="{claims}""#,
        f.issuer.issuer_url()
    );
    f.app
        .assert_refused(&cae_before, 401, &challenge, "token revoked")
        .await;
    // A token issued in the event's second may have come before it: revoked. One issued after
    // that second works; other users are untouched.
    f.assert_revoked(&f.token_of("carol", event_time)).await;
    f.assert_accepted(&f.token_of("carol", event_time + 1))
        .await;
    f.assert_accepted(&f.token_of("dave", event_time - 60))
        .await;

    // The same SET again: 202, and no second effect: the store is not asked again.
    let revokes = f.store.revokes.load(Ordering::SeqCst);
    assert_eq!(revokes, 1);
    assert_accepted_push(&f.push(&set).await);
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), revokes);
    let again = f.receiver.receive(&set).await.unwrap();
    assert_eq!(again.action(), &Action::AlreadyReceived);
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), revokes);

    // Each event counted once by type and outcome; the revocation it made is a rule.
    let text = metrics.render();
    let events = warden_integration_tests::metric_series(&text, "warden_ssf_events_total");
    assert_eq!(
        events[r#"{event="session-revoked",outcome="revoked"}"#], 1.0,
        "{text}"
    );
    assert_eq!(
        events[r#"{event="session-revoked",outcome="duplicate"}"#], 2.0,
        "{text}"
    );
    assert!(
        events[r#"{event="verification",outcome="verified"}"#] >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn every_refusal_answers_its_rfc_8935_code_and_adds_no_rule() {
    let f = fixture().await;
    let issuer = &f.issuer;
    let access_token = issuer.token().sign();
    let duplicate = issuer
        .sign_raw(
            &json!({"alg":"RS256","typ":"secevent+jwt","kid":issuer.signing_kid()}).to_string(),
            &format!(
                r#"{{"iss":"{0}","iss":"{0}","aud":"{1}","iat":{2},"jti":"d1","sub_id":{{"format":"iss_sub","iss":"{0}","sub":"carol"}},"events":{{"{CAEP}session-revoked":{{}}}}}}"#,
                issuer.ssf_issuer(),
                issuer.audience(),
                now()
            ),
        )
        .unwrap();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "malformed",
            "not.a.set".to_owned(),
            "invalid_request",
            "not a compact JWS with a JSON header",
        ),
        (
            "unsigned",
            issuer.security_event().sign_unsigned(),
            "invalid_key",
            "the signing algorithm is not accepted",
        ),
        // The first SET to need a key: fetched, and the kid is still unknown.
        (
            "unknown kid",
            issuer.security_event().header("kid", "no-such-key").sign(),
            "invalid_key",
            "no key of the transmitter has this kid",
        ),
        (
            "tampered",
            issuer.security_event().sign_tampered(),
            "invalid_key",
            "the signature does not verify",
        ),
        (
            "empty signature",
            {
                let set = issuer.security_event().sign();
                format!("{}.", &set[..set.rfind('.').unwrap()])
            },
            "invalid_key",
            "the signature does not verify",
        ),
        (
            "wrongly signed",
            issuer.security_event().sign_with_unpublished_key(),
            "invalid_key",
            "the signature does not verify",
        ),
        (
            "wrong issuer",
            issuer
                .security_event()
                .claim("iss", "https://elsewhere.example")
                .sign(),
            "invalid_issuer",
            "iss is not the configured transmitter",
        ),
        (
            "wrong audience",
            issuer.security_event().audience("api://another").sign(),
            "invalid_audience",
            "aud does not name this receiver",
        ),
        (
            "duplicate member",
            duplicate,
            "invalid_request",
            "a JSON member name repeats",
        ),
        (
            "typ JWT",
            issuer.security_event().header("typ", "JWT").sign(),
            "invalid_request",
            "the header's typ is not secevent+jwt",
        ),
        (
            "an access token",
            access_token,
            "invalid_request",
            "the header's typ is not secevent+jwt",
        ),
        (
            "no sub_id",
            issuer.security_event().without_claim("sub_id").sign(),
            "invalid_request",
            "sub_id is missing (SSF 1.0 §3.1 requires it)",
        ),
        (
            "exp",
            issuer.security_event().claim("exp", now() + 60).sign(),
            "invalid_request",
            "exp is present (SSF 1.0 §4.1.7: a SET does not expire)",
        ),
        (
            "a jti of 257 bytes",
            issuer.security_event().jti("j".repeat(257)).sign(),
            "invalid_request",
            "jti is missing, empty, longer than 256 bytes or not a string",
        ),
        (
            "no jti",
            issuer.security_event().without_claim("jti").sign(),
            "invalid_request",
            "jti is missing, empty, longer than 256 bytes or not a string",
        ),
        (
            "bad change_type",
            issuer
                .security_event()
                .caep(
                    "credential-change",
                    json!({"credential_type":"password","change_type":"rotate"}),
                )
                .sign(),
            "invalid_request",
            "`change_type` is not create, revoke, update or delete",
        ),
        (
            "foreign subject",
            issuer
                .security_event()
                .subject(
                    json!({"format":"iss_sub","iss":"https://other-idp.example","sub":"carol"}),
                )
                .sign(),
            "access_denied",
            "the subject names an issuer or tenant this transmitter may not speak for",
        ),
    ];
    for (case, set, err, description) in cases {
        let answer = f.push(&set).await;
        assert_push_error(&answer, 400, err, description);
        assert_eq!(f.store.inner.len(), 0, "{case}: no rule added");
    }

    // Transport-level refusals.
    let client = reqwest::Client::new();
    let valid = issuer.security_event().sign();
    let wrong_type = client
        .post(&f.push_url)
        .header("authorization", format!("Bearer {SECRET}"))
        .header("content-type", "application/json")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 400);
    assert_eq!(
        wrong_type.json::<Value>().await.unwrap(),
        json!({"err":"invalid_request","description":"the Content-Type is not application/secevent+jwt"})
    );
    let get = client.get(&f.push_url).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let oversized = issuer
        .push_set(
            &f.push_url,
            Some(&format!("Bearer {SECRET}")),
            &"a".repeat(70 * 1024),
        )
        .await
        .unwrap();
    assert_push_error(
        &oversized,
        413,
        "invalid_request",
        "the SET is larger than this receiver reads",
    );
    assert_eq!(f.store.inner.len(), 0);
}

#[tokio::test]
async fn a_transmitter_without_the_right_credentials_is_refused_before_any_parsing_or_key_fetch() {
    let f = fixture().await;
    let set = f.issuer.security_event().sign();
    let jwks_before = f.issuer.hits(Endpoint::Jwks);
    for (authorization, challenge) in [
        (None, "Bearer"),
        (
            Some("Bearer wrong-secret"),
            r#"Bearer error="invalid_token""#,
        ),
        (Some(&*format!("Basic {SECRET}")), "Bearer"),
        (
            Some(&*format!("Bearer {SECRET}x")),
            r#"Bearer error="invalid_token""#,
        ),
    ] {
        for _ in 0..25 {
            let answer = f
                .issuer
                .push_set(&f.push_url, authorization, &set)
                .await
                .unwrap();
            assert_push_error(
                &answer,
                401,
                "authentication_failed",
                "the transmitter did not authenticate",
            );
            assert_eq!(answer.www_authenticate.as_deref(), Some(challenge));
        }
    }
    assert_eq!(f.issuer.hits(Endpoint::Jwks), jwks_before, "no key fetch");
    assert_eq!(f.store.inner.len(), 0);
    assert_accepted_push(&f.push(&set).await);
    assert_eq!(f.store.inner.len(), 1);
}

#[tokio::test]
async fn subjects_map_onto_the_claims_tokens_carry() {
    let f = fixture().await;
    let iss = f.issuer.issuer_url();
    let at = now() as u64 - 10;
    let revoked = |set: String| {
        let receiver = f.receiver.clone();
        async move {
            match receiver.receive(&set).await.unwrap().action() {
                Action::Revoked(rules) => rules.clone(),
                other => panic!("not revoked: {other:?}"),
            }
        }
    };
    let event = || f.issuer.security_event().event_timestamp(at as i64);
    // iss_sub: the user of that issuer.
    assert_eq!(
        revoked(event().user("carol").sign()).await,
        [Revocation::user("carol")
            .of_issuer(iss.clone())
            .issued_at_or_before(at)]
    );
    // Entra-shaped complex subject: the object id within the tenant.
    let complex = json!({"format":"complex",
        "user":{"format":"opaque","id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"},
        "tenant":{"format":"opaque","id":"72f988bf-86f1-41af-91ab-2d7cd011db47"}});
    assert_eq!(
        revoked(event().subject(complex).sign()).await,
        [Revocation::user("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
            .in_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
            .issued_at_or_before(at)]
    );
    // A session named in a complex subject: session-revoked revokes that session, and the
    // user's tokens that name no session (they may be that session's).
    let session = json!({"format":"complex",
        "user":{"format":"iss_sub","iss":iss,"sub":"carol"},
        "session":{"format":"opaque","id":"sid-42"}});
    assert_eq!(
        revoked(event().subject(session.clone()).sign()).await,
        [
            Revocation::session("sid-42")
                .of_issuer(iss.clone())
                .issued_at_or_before(at),
            Revocation::user_without_session("carol")
                .of_issuer(iss.clone())
                .issued_at_or_before(at)
        ]
    );
    // ... but an account-disabled event revokes the whole user.
    assert_eq!(
        revoked(
            event()
                .risc("account-disabled", json!({}))
                .subject(session)
                .sign()
        )
        .await,
        [Revocation::user("carol")
            .of_issuer(iss.clone())
            .issued_at_or_before(at)]
    );
    // A jwt_id subject: that one token.
    assert_eq!(
        revoked(
            event()
                .caep("token-claims-change", json!({"claims":{"role":"ro-admin"}}))
                .subject(json!({"format":"jwt_id","iss":iss,"jti":"t-7"}))
                .sign()
        )
        .await,
        [Revocation::token("t-7")
            .of_issuer(iss.clone())
            .issued_at_or_before(at)]
    );
    // Aliases: every identifier warden can match; a phone number it cannot.
    assert_eq!(
        revoked(
            event()
                .subject(json!({"format":"aliases","identifiers":[
                    {"format":"email","email":"Carol@Example.com"},
                    {"format":"phone_number","phone_number":"+12065550100"},
                    {"format":"iss_sub","iss":iss,"sub":"carol-2"}]}))
                .sign()
        )
        .await,
        [
            Revocation::email("carol@example.com")
                .of_issuer(iss.clone())
                .issued_at_or_before(at),
            Revocation::user("carol-2")
                .of_issuer(iss.clone())
                .issued_at_or_before(at)
        ]
    );
    // An email: tokens of the issuers spoken for whose verified email is the address, only.
    assert_eq!(
        revoked(
            event()
                .subject(json!({"format":"email","email":"Mia@Example.com"}))
                .sign()
        )
        .await,
        [Revocation::email("mia@example.com")
            .of_issuer(iss.clone())
            .issued_at_or_before(at)]
    );
    let old = (at - 5) as i64;
    let with_email = |verified: bool| {
        f.issuer
            .token()
            .subject("mia-sub")
            .claim("email", "mia@example.COM")
            .claim("email_verified", verified)
            .issued_at(old)
            .sign()
    };
    f.assert_revoked(&with_email(true)).await;
    f.assert_accepted(&with_email(false)).await;
    // A subject warden cannot match: refused, never acknowledged in silence; nothing revoked.
    let revokes = f.store.revokes.load(Ordering::SeqCst);
    assert_push_error(
        &f.push(
            &event()
                .subject(json!({"format":"phone_number","phone_number":"+12065550100"}))
                .sign(),
        )
        .await,
        400,
        "invalid_request",
        "the subject's format names nothing warden matches tokens by",
    );
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), revokes);
    // Tokens of another issuer with the same `sub` are unaffected: the rule names the issuer.
    let other = FakeIssuer::start().await.unwrap();
    let both = Validator::builder()
        .issuer(
            issuer_of(&f.issuer)
                .jwks(f.issuer.jwks_json())
                .build()
                .unwrap(),
        )
        .issuer(issuer_of(&other).jwks(other.jwks_json()).build().unwrap())
        .revocations(f.store.clone())
        .build()
        .unwrap();
    assert!(both.validate(&f.token_of("carol", old)).await.is_err());
    let elsewhere = other.token().subject("carol").issued_at(old).sign();
    assert!(both.validate(&elsewhere).await.is_ok());
}

#[tokio::test]
async fn the_event_time_decides_whatever_the_order_of_delivery() {
    let f = fixture().await;
    let t = now() - 100;
    let later = f
        .issuer
        .security_event()
        .user("erin")
        .event_timestamp(t)
        .sign();
    let earlier = f
        .issuer
        .security_event()
        .user("erin")
        .caep(
            "credential-change",
            json!({"credential_type":"password","change_type":"update"}),
        )
        .event_timestamp(t - 50)
        .sign();
    // Delivered in reverse order: the later instant wins.
    assert_accepted_push(&f.push(&later).await);
    assert_accepted_push(&f.push(&earlier).await);
    f.assert_revoked(&f.token_of("erin", t - 5)).await;
    f.assert_accepted(&f.token_of("erin", t + 5)).await;
    // Without event_timestamp, the SET's iat is the event time.
    let by_iat = f
        .issuer
        .security_event()
        .user("frank")
        .without_event_timestamp()
        .claim("iat", t)
        .sign();
    assert_accepted_push(&f.push(&by_iat).await);
    f.assert_revoked(&f.token_of("frank", t - 5)).await;
    f.assert_accepted(&f.token_of("frank", t + 5)).await;
    // An event dated in the future takes effect at its arrival plus the clock skew allowed
    // (60 s), not then: tokens issued before it are revoked, tokens issued later work.
    let future = f
        .issuer
        .security_event()
        .user("gina")
        .event_timestamp(now() + 3600)
        .sign();
    let arrival = now() as u64;
    let received = f.receiver.receive(&future).await.unwrap();
    let Action::Revoked(rules) = received.action() else {
        panic!("not revoked: {:?}", received.action());
    };
    let instant = rules[0].before();
    // (The rule's instant is the second after: tokens of that second are revoked too.)
    assert!(
        (arrival + 60..=arrival + 62).contains(&instant),
        "instant {instant}, arrival {arrival}"
    );
    f.assert_revoked(&f.token_of("gina", now() - 10)).await;
}

#[tokio::test]
async fn verification_events_must_carry_the_state_asked_for() {
    let f = fixture().await;
    // The receiver's stream, created at the transmitter: verification events must name it.
    let stream = StreamClient::new(f.receiver.clone(), "Bearer receiver-credential")
        .create(Delivery::Poll, &[warden::ssf::VERIFICATION])
        .await
        .unwrap();
    let verification_of = |stream_id: &str, state: Option<&str>| {
        let fields = state.map_or(json!({}), |state| json!({"state": state}));
        f.issuer
            .security_event()
            .event(warden::ssf::VERIFICATION, fields)
            .without_event_timestamp()
            .subject(json!({"format":"opaque","id":stream_id}))
            .sign()
    };
    let verification = |state: Option<&str>| verification_of(&stream.stream_id, state);
    assert_push_error(
        &f.push(&verification_of("another-stream", None)).await,
        400,
        "invalid_request",
        "a verification event names a stream this receiver does not know",
    );
    let about_a_user = f
        .issuer
        .security_event()
        .event(warden::ssf::VERIFICATION, json!({}))
        .user("carol")
        .sign();
    assert_push_error(
        &f.push(&about_a_user).await,
        400,
        "invalid_request",
        "a verification event's subject is not the stream (an opaque id)",
    );
    f.receiver.expect_verification("expected-state");
    assert_push_error(
        &f.push(&verification(Some("forged-state"))).await,
        400,
        "invalid_state",
        "the verification state matches no verification requested",
    );
    assert_eq!(f.receiver.last_verified_at(), None);
    assert_accepted_push(&f.push(&verification(Some("expected-state"))).await);
    assert!(f.receiver.last_verified_at().is_some());
    // Used once: the same state again (a new SET) is refused.
    assert_push_error(
        &f.push(&verification(Some("expected-state"))).await,
        400,
        "invalid_state",
        "the verification state matches no verification requested",
    );
    // A verification without state, with nothing pending, is accepted.
    assert_accepted_push(&f.push(&verification(None)).await);
    // Unknown event types are acknowledged, never an error.
    let unknown = f
        .issuer
        .security_event()
        .event(
            "https://example.com/event-type/something-new",
            json!({"x": 1}),
        )
        .sign();
    assert_accepted_push(&f.push(&unknown).await);
    assert_eq!(f.store.inner.len(), 0);
}

#[tokio::test]
async fn poll_mode_acknowledges_what_it_applied_and_reports_what_it_refused() {
    let f = fixture().await;
    let streams = StreamClient::new(f.receiver.clone(), "Bearer receiver-credential");
    let stream = streams
        .create(Delivery::Poll, &warden::ssf::EVENTS_ACTED_ON)
        .await
        .unwrap();
    assert_eq!(stream.delivery_method, warden::ssf::POLL_DELIVERY);
    let endpoint = stream
        .endpoint_url
        .clone()
        .expect("the transmitter's poll endpoint");
    let poller = Poller::builder(f.receiver.clone(), endpoint)
        .authorization("Bearer receiver-credential")
        .spawn()
        .unwrap();

    let old = f.token_of("hana", now() - 60);
    f.assert_accepted(&old).await;
    let builder = f.issuer.security_event().user("hana");
    let good_jti = builder.jti_value();
    let good = builder.sign();
    let bad_builder = f.issuer.security_event().user("ivan");
    let bad_jti = bad_builder.jti_value();
    let bad = bad_builder.sign_tampered();
    assert!(
        f.issuer.deliver(&good_jti, &good).await.is_empty(),
        "queued, not pushed"
    );
    f.issuer.deliver(&bad_jti, &bad).await;

    within(
        Duration::from_secs(10),
        "polled, applied and acknowledged",
        || async {
            f.issuer.ssf_acknowledged().contains(&good_jti)
                && f.issuer
                    .ssf_set_errors()
                    .iter()
                    .any(|(jti, _)| *jti == bad_jti)
        },
    )
    .await;
    f.assert_revoked(&old).await;
    assert_eq!(
        f.issuer.ssf_set_errors(),
        [(bad_jti.clone(), "invalid_key".to_owned())]
    );
    assert!(!f.issuer.ssf_acknowledged().contains(&bad_jti));
    assert!(poller.last_success().is_some());
    assert_eq!(f.store.inner.len(), 1);
    // Delivered again (the transmitter did not see the acknowledgement): acknowledged again,
    // applied once.
    f.issuer.deliver(&good_jti, &good).await;
    within(
        Duration::from_secs(10),
        "redelivery acknowledged",
        || async {
            f.issuer
                .ssf_acknowledged()
                .iter()
                .filter(|jti| **jti == good_jti)
                .count()
                == 2
        },
    )
    .await;
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn signals_that_revoke_nothing_are_recorded_for_requirements() {
    let f = fixture().await;
    let token = f.token_of("jill", now() - 60);
    let principal = f.validator.validate(&token).await.unwrap();
    assert!(
        !f.receiver
            .signals()
            .of(&principal)
            .device_not_compliant_for(&principal)
    );
    let set = f
        .issuer
        .security_event()
        .user("jill")
        .caep(
            "device-compliance-change",
            json!({"previous_status":"compliant","current_status":"not-compliant"}),
        )
        .sign();
    assert_accepted_push(&f.push(&set).await);
    let signals = f.receiver.signals().of(&principal);
    assert!(signals.device_not_compliant_for(&principal));
    // Recorded, not revoked: the token still passes the layer.
    assert_eq!(f.store.inner.len(), 0);
    f.assert_accepted(&token).await;
    // A token issued after the signal is not affected by it.
    let fresh = f
        .validator
        .validate(&f.token_of("jill", now() + 1))
        .await
        .unwrap();
    assert!(
        !f.receiver
            .signals()
            .of(&fresh)
            .device_not_compliant_for(&fresh)
    );
}

#[tokio::test]
async fn a_set_is_not_an_access_token() {
    let f = fixture().await;
    let set = f.issuer.security_event().sign();
    f.app
        .assert_refused(
            &set,
            401,
            &invalid_token("not an access token"),
            "not an access token",
        )
        .await;
}

#[tokio::test]
async fn an_event_received_by_one_replica_is_enforced_by_the_fleet() {
    let redis = warden_testing::RedisServer::start()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let f = fixture().await;
    let replica = |store: &warden_redis::RedisRevocations| {
        App::new(
            WardenLayer::builder()
                .issuer(
                    issuer_of(&f.issuer)
                        .jwks(f.issuer.jwks_json())
                        .build()
                        .unwrap(),
                )
                .revocations(Arc::new(store.clone()))
                .build()
                .unwrap(),
        )
    };
    let connect = || {
        warden_redis::RedisRevocations::builder(redis.url())
            .prefix("ssf-test:")
            .connect()
    };
    let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
    let receiver = Receiver::builder(f.receiver.configuration().clone(), f.issuer.audience())
        .revocations(Arc::new(one.clone()))
        .build()
        .unwrap();
    let token = f.token_of("kate", now() - 60);
    let (app_one, app_two) = (replica(&one), replica(&two));
    assert_eq!(app_two.get_me_with(&token).await.status, 200);
    let received = receiver
        .receive(&f.issuer.security_event().user("kate").sign())
        .await
        .unwrap();
    assert!(matches!(received.action(), Action::Revoked(_)));
    // Resolved once Redis holds the rule; the other replica follows within a second.
    assert_eq!(app_one.get_me_with(&token).await.status, 401);
    within(
        Duration::from_secs(1),
        "the other replica enforces it",
        || async { app_two.get_me_with(&token).await.status == 401 },
    )
    .await;
    app_two
        .assert_refused(
            &token,
            401,
            &invalid_token("token revoked"),
            "token revoked",
        )
        .await;
    assert_eq!(
        two.revoked_since(
            &f.validator
                .validate(&f.token_of("kate", now() + 1))
                .await
                .unwrap()
        ),
        None
    );
}

#[tokio::test]
async fn a_transmitter_may_authenticate_with_an_oauth_token_of_an_allowed_client() {
    let f = fixture().await;
    let transmitter_tokens = Validator::builder()
        .issuer(
            issuer_of(&f.issuer)
                .jwks(f.issuer.jwks_json())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ssf/events", listener.local_addr().unwrap());
    let router = Router::new().route_service(
        "/ssf/events",
        PushEndpoint::new(
            f.receiver.clone(),
            PushAuthorization::oauth(transmitter_tokens, ["transmitter-app"]).unwrap(),
        ),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let token_of = |client: &str| f.issuer.token().app_only().client(client).sign();
    let set = f.issuer.security_event().user("lena").sign();

    let other = format!("Bearer {}", token_of("another-app"));
    let answer = f.issuer.push_set(&url, Some(&other), &set).await.unwrap();
    assert_push_error(
        &answer,
        403,
        "access_denied",
        "this client may not push security events",
    );
    // A user's token of the API, valid but of another client.
    let user = format!("Bearer {}", f.issuer.token().subject("sam").sign());
    let answer = f.issuer.push_set(&url, Some(&user), &set).await.unwrap();
    assert_push_error(
        &answer,
        403,
        "access_denied",
        "this client may not push security events",
    );
    // A user's token issued to the transmitter's own client: still not the transmitter.
    let delegated = f
        .issuer
        .token()
        .subject("sam")
        .client("transmitter-app")
        .sign();
    let answer = f
        .issuer
        .push_set(&url, Some(&format!("Bearer {delegated}")), &set)
        .await
        .unwrap();
    assert_push_error(
        &answer,
        403,
        "access_denied",
        "this client may not push security events",
    );
    let expired = f
        .issuer
        .token()
        .app_only()
        .client("transmitter-app")
        .issued_at(now() - 7200)
        .expires_at(now() - 3600)
        .sign();
    let answer = f
        .issuer
        .push_set(&url, Some(&format!("Bearer {expired}")), &set)
        .await
        .unwrap();
    assert_push_error(
        &answer,
        401,
        "authentication_failed",
        "the transmitter did not authenticate",
    );
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(f.store.inner.len(), 0);

    let allowed = format!("Bearer {}", token_of("transmitter-app"));
    assert_accepted_push(&f.issuer.push_set(&url, Some(&allowed), &set).await.unwrap());
    assert_eq!(f.store.inner.len(), 1);
    server.abort();
}

#[tokio::test]
async fn complex_subjects_reach_what_they_name_and_no_further() {
    let f = fixture().await;
    let iss = f.issuer.issuer_url();
    let receive = |sub_id: Value, event: &str| {
        let set = f
            .issuer
            .security_event()
            .caep(event, json!({}))
            .subject(sub_id)
            .sign();
        let receiver = f.receiver.clone();
        async move { receiver.receive(&set).await }
    };
    // A session-revoked event on a session warden cannot match (not opaque) reaches the user.
    let received = receive(
        json!({"format":"complex",
            "user":{"format":"iss_sub","iss":iss,"sub":"nora"},
            "session":{"format":"uri","uri":"urn:session:1"}}),
        "session-revoked",
    )
    .await
    .unwrap();
    let Action::Revoked(rules) = received.action() else {
        panic!("not revoked: {:?}", received.action());
    };
    assert_eq!(rules[0].target(), warden::cae::Target::User);
    assert_eq!(rules[0].value(), "nora");
    // A tenant alone, or a device alone: refused (never acknowledged in silence), nothing
    // revoked.
    for (sub_id, description) in [
        (
            json!({"format":"complex","tenant":{"format":"opaque","id":TENANT}}),
            "the subject is a whole tenant: warden revokes users and sessions, never a tenant on a transmitter's word",
        ),
        (
            json!({"format":"complex","device":{"format":"opaque","id":"laptop-7"}}),
            "the subject names no user or session warden matches tokens by",
        ),
    ] {
        let set = f
            .issuer
            .security_event()
            .caep("session-revoked", json!({}))
            .subject(sub_id)
            .sign();
        assert_push_error(&f.push(&set).await, 400, "invalid_request", description);
    }
    // A tenant the transmitter may not speak for: refused, nothing revoked.
    let refused = receive(
        json!({"format":"complex",
            "user":{"format":"opaque","id":"someone"},
            "tenant":{"format":"opaque","id":"00000000-0000-0000-0000-000000000bad"}}),
        "session-revoked",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Some("access_denied"));
    // Aliases: a foreign one is skipped, the others apply; foreign ones alone are refused.
    let received = receive(
        json!({"format":"aliases","identifiers":[
            {"format":"iss_sub","iss":"https://other-idp.example","sub":"nora"},
            {"format":"iss_sub","iss":iss,"sub":"nora-2"}]}),
        "session-revoked",
    )
    .await
    .unwrap();
    assert!(
        matches!(received.action(), Action::Revoked(rules) if rules.len() == 1 && rules[0].value() == "nora-2")
    );
    let refused = receive(
        json!({"format":"aliases","identifiers":[
            {"format":"iss_sub","iss":"https://other-idp.example","sub":"nora"}]}),
        "session-revoked",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Some("access_denied"));
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_revoked_session_refuses_its_tokens_and_no_other_session_of_the_user() {
    let f = fixture().await;
    let iss = f.issuer.issuer_url();
    let in_session = |sid: &str| {
        f.issuer
            .token()
            .subject("olga")
            .claim("sid", sid)
            .issued_at(now() - 30)
            .sign()
    };
    let set = f
        .issuer
        .security_event()
        .subject(json!({"format":"complex",
            "user":{"format":"iss_sub","iss":iss,"sub":"olga"},
            "session":{"format":"opaque","id":"sid-9"}}))
        .sign();
    assert_accepted_push(&f.push(&set).await);
    f.assert_revoked(&in_session("sid-9")).await;
    f.assert_accepted(&in_session("sid-10")).await;
}

#[tokio::test]
async fn a_set_signed_by_a_key_not_yet_fetched_is_delivered_again_not_lost() {
    let issuer = FakeIssuer::start().await.unwrap();
    let store = Arc::new(Counting::default());
    let configuration =
        TransmitterConfiguration::discover(issuer.ssf_issuer(), &reqwest::Client::new())
            .await
            .unwrap();
    let keys = JwksCache::builder(issuer.ssf_issuer())
        .jwks_uri(configuration.jwks_uri().unwrap())
        .cooldown(Duration::from_millis(300))
        .build()
        .unwrap();
    let receiver = Receiver::builder(configuration, issuer.audience())
        .revocations(store.clone())
        .keys(Arc::new(keys))
        .build()
        .unwrap();
    let (url, server) = serve(PushEndpoint::new(
        receiver,
        PushAuthorization::bearer(SECRET).unwrap(),
    ))
    .await;
    let push = |set: String| {
        let issuer = &issuer;
        let url = url.clone();
        async move {
            issuer
                .push_set(&url, Some(&format!("Bearer {SECRET}")), &set)
                .await
                .unwrap()
        }
    };
    // Keys loaded; then an unknown kid spends the refresh its cooldown allows.
    assert_accepted_push(&push(issuer.security_event().user("pia").sign()).await);
    let unknown = push(issuer.security_event().header("kid", "no-such-key").sign()).await;
    assert_push_error(
        &unknown,
        400,
        "invalid_key",
        "no key of the transmitter has this kid",
    );
    // The transmitter rotates its key and signs an event at once, within the cooldown: the
    // receiver cannot fetch now, so it asks for the SET again instead of refusing it for good.
    issuer.rotate(warden::Algorithm::RS256).unwrap();
    let builder = issuer.security_event().user("quinn");
    let set = builder.sign();
    let retry = push(set.clone()).await;
    assert_eq!(retry.status, 503, "body {}", retry.body);
    assert_eq!(store.revokes.load(Ordering::SeqCst), 1);
    // After the cooldown the same SET is fetched for, verified and applied.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_accepted_push(&push(set).await);
    assert_eq!(store.revokes.load(Ordering::SeqCst), 2);
    server.abort();
}

#[tokio::test]
async fn the_receivers_own_faults_ask_for_redelivery_and_remember_nothing() {
    let f = fixture().await;
    // The revocation store is down (a fleet store whose Redis is unreachable).
    f.store.down.store(true, Ordering::SeqCst);
    let set = f.issuer.security_event().user("rosa").sign();
    let client = reqwest::Client::new();
    let post = |set: String| {
        client
            .post(&f.push_url)
            .header("authorization", format!("Bearer {SECRET}"))
            .header("content-type", "application/secevent+jwt")
            .body(set)
            .send()
    };
    let answer = post(set.clone()).await.unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
    assert_eq!(answer.text().await.unwrap(), "");
    // Not remembered as received: the redelivery, once the store is back, is applied.
    f.store.down.store(false, Ordering::SeqCst);
    assert_eq!(post(set).await.unwrap().status(), 202);
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), 1);
    f.assert_revoked(&f.token_of("rosa", now() - 30)).await;

    // The transmitter's keys cannot be fetched (never were): 503 with the key source's hint.
    let configuration = TransmitterConfiguration::parse(
        f.issuer.ssf_issuer(),
        format!(
            r#"{{"issuer":"{}","jwks_uri":"http://127.0.0.1:9/jwks"}}"#,
            f.issuer.ssf_issuer()
        )
        .as_bytes(),
    )
    .unwrap();
    let unreachable = Receiver::builder(configuration, f.issuer.audience())
        .revocations(f.store.clone())
        .build()
        .unwrap();
    let refused = unreachable
        .receive(&f.issuer.security_event().sign())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, warden::ssf::SetError::KeysUnavailable { .. }),
        "{refused:?}"
    );
    assert_eq!(refused.code(), None);
}

#[tokio::test]
async fn an_oauth_push_the_receiver_cannot_judge_now_is_asked_again_not_refused() {
    let f = fixture().await;
    // The validator's keys are unreachable: the transmitter's token cannot be checked now.
    let unreachable = JwksCache::builder(f.issuer.issuer_url())
        .jwks_uri("http://127.0.0.1:9/jwks")
        .build()
        .unwrap();
    let validator = Validator::builder()
        .issuer(issuer_of(&f.issuer).keys(unreachable).build().unwrap())
        .build()
        .unwrap();
    let (url, server) = serve(PushEndpoint::new(
        f.receiver.clone(),
        PushAuthorization::oauth(validator, ["transmitter-app"]).unwrap(),
    ))
    .await;
    let token = f.issuer.token().app_only().client("transmitter-app").sign();
    let set = f.issuer.security_event().user("tara").sign();
    let answer = f
        .issuer
        .push_set(&url, Some(&format!("Bearer {token}")), &set)
        .await
        .unwrap();
    assert_eq!(answer.status, 503, "body {}", answer.body);
    assert_eq!(answer.www_authenticate, None);
    assert_eq!(f.store.revokes.load(Ordering::SeqCst), 0);
    server.abort();
}

#[tokio::test]
async fn keys_that_never_change_refuse_an_unknown_kid_for_good() {
    let f = fixture().await;
    let receiver = Receiver::builder(f.receiver.configuration().clone(), f.issuer.audience())
        .revocations(f.store.clone())
        .keys(Arc::new(
            warden::keys::StaticKeys::from_jwks(&f.issuer.jwks_json()).unwrap(),
        ))
        .build()
        .unwrap();
    let refused = receiver
        .receive(
            &f.issuer
                .security_event()
                .header("kid", "no-such-key")
                .sign(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("invalid_key"));
    assert!(
        receiver
            .receive(&f.issuer.security_event().sign())
            .await
            .is_ok()
    );
}

/// A receiver of the fixture's transmitter whose configuration declares these critical subject
/// members, feeding the fixture's store (the API enforces what it revokes), pushed to over
/// loopback.
struct CriticalReceiver {
    url: String,
    server: JoinHandle<()>,
}

impl Drop for CriticalReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Fixture {
    async fn receiver_with_critical(&self, critical: &[&str]) -> CriticalReceiver {
        let configuration = TransmitterConfiguration::parse(
            self.issuer.ssf_issuer(),
            json!({
                "issuer": self.issuer.ssf_issuer(),
                "jwks_uri": self.issuer.jwks_url(),
                "critical_subject_members": critical,
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let receiver = Receiver::builder(configuration, self.issuer.audience())
            .revocations(self.validator.revocations().clone())
            .speaks_for_tenant(TENANT)
            .build()
            .unwrap();
        let (url, server) = serve(PushEndpoint::new(
            receiver,
            PushAuthorization::bearer(SECRET).unwrap(),
        ))
        .await;
        CriticalReceiver { url, server }
    }

    async fn push_to(&self, receiver: &CriticalReceiver, set: &str) -> PushAnswer {
        self.issuer
            .push_set(&receiver.url, Some(&format!("Bearer {SECRET}")), set)
            .await
            .expect("pushed")
    }

    /// A token of an Entra-shaped user: `oid` in the fixture's tenant, in `sid` if given.
    fn entra_user_token(&self, oid: &str, sid: Option<&str>) -> String {
        let token = self
            .issuer
            .token()
            .subject(format!("pairwise-{oid}"))
            .claim("oid", oid)
            .claim("tid", TENANT)
            .issued_at(now() - 30);
        match sid {
            Some(sid) => token.claim("sid", sid).sign(),
            None => token.sign(),
        }
    }
}

#[tokio::test]
async fn critical_members_warden_processes_never_discard_an_event() {
    let f = fixture().await;
    let oid = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";
    // SSF 1.0's own example configuration: the tenant and the user are critical. A
    // session-revoked event about a session of that user in that tenant (the user's GUID in
    // upper case, as a transmitter may spell it) revokes the session, and the user's tokens
    // that name no session, and nothing else of the user.
    let receiver = f.receiver_with_critical(&["tenant", "user"]).await;
    let set = f
        .issuer
        .security_event()
        .subject(json!({"format":"complex",
            "user":{"format":"opaque","id":oid.to_uppercase()},
            "session":{"format":"opaque","id":"sid-77"},
            "tenant":{"format":"opaque","id":TENANT}}))
        .sign();
    let (in_session, without_session, other_session) = (
        f.entra_user_token(oid, Some("sid-77")),
        f.entra_user_token(oid, None),
        f.entra_user_token(oid, Some("sid-78")),
    );
    f.assert_accepted(&in_session).await;
    assert_accepted_push(&f.push_to(&receiver, &set).await);
    f.assert_revoked(&in_session).await;
    f.assert_revoked(&without_session).await;
    f.assert_accepted(&other_session).await;

    // The session is critical: an account event naming a user's session reaches the account.
    let receiver = f.receiver_with_critical(&["session"]).await;
    let iss = f.issuer.issuer_url();
    for (n, (kind, event, fields)) in [
        ("risc", "account-disabled", json!({})),
        (
            "caep",
            "credential-change",
            json!({"credential_type":"password","change_type":"revoke"}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("vera-{n}");
        let token = |sid: &str| {
            f.issuer
                .token()
                .subject(&user)
                .claim("sid", sid)
                .issued_at(now() - 30)
                .sign()
        };
        let builder = f.issuer.security_event().subject(json!({"format":"complex",
            "user":{"format":"iss_sub","iss":iss,"sub":user},
            "session":{"format":"opaque","id":"sid-1"}}));
        let set = if kind == "risc" {
            builder.risc(event, fields).sign()
        } else {
            builder.caep(event, fields).sign()
        };
        assert_accepted_push(&f.push_to(&receiver, &set).await);
        f.assert_revoked(&token("sid-1")).await;
        f.assert_revoked(&token("sid-2")).await;
    }
}

#[tokio::test]
async fn an_event_whose_critical_member_warden_cannot_process_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let iss = f.issuer.issuer_url();
    let receiver = f
        .receiver_with_critical(&["device", "session", "application", "org_unit", "group"])
        .await;
    let token = f.token_of("uma", now() - 30);
    for (member, sub_id) in [
        (
            "device",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"uma"},
                "device":{"format":"opaque","id":"laptop-1"}}),
        ),
        // A session warden cannot match (not opaque) is not widened to the user when critical.
        (
            "session",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"uma"},
                "session":{"format":"uri","uri":"urn:session:2"}}),
        ),
        (
            "application",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"uma"},
                "application":{"format":"opaque","id":"app-1"}}),
        ),
        (
            "group",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"uma"},
                "group":{"format":"opaque","id":"g-1"}}),
        ),
    ] {
        let set = f.issuer.security_event().subject(sub_id).sign();
        assert_push_error(
            &f.push_to(&receiver, &set).await,
            400,
            "invalid_request",
            &format!(
                "the subject's critical member `{member}` is one this receiver cannot process"
            ),
        );
    }
    assert_eq!(f.store.inner.len(), 0);
    f.assert_accepted(&token).await;
    // A member it cannot process that is not critical widens the rule, never narrows it: a
    // device the transmitter did not mark critical reaches the user on every device.
    let receiver = f.receiver_with_critical(&["session"]).await;
    let set = f
        .issuer
        .security_event()
        .subject(json!({"format":"complex",
            "user":{"format":"iss_sub","iss":iss,"sub":"uma"},
            "device":{"format":"opaque","id":"laptop-1"}}))
        .sign();
    assert_accepted_push(&f.push_to(&receiver, &set).await);
    f.assert_revoked(&token).await;
}

/// What a SET about one subject shape is expected to do (docs/shared-signals.md's table).
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Revoked(Vec<Revocation>),
    Recorded,
    Ignored(&'static str),
    Refused(&'static str),
}

#[tokio::test]
async fn every_event_type_and_subject_shape_produces_the_documented_outcome() {
    let f = fixture().await;
    let iss = f.issuer.issuer_url();
    let at = now() as u64 - 10;
    let oid = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";
    let user = |value: &str| Revocation::user(value).of_issuer(iss.clone());
    let in_tenant = |rule: Revocation| rule.in_tenant(TENANT);
    const UNMATCHED: &str = "the subject's format names nothing warden matches tokens by";
    const NO_USER: &str = "the subject names no user or session warden matches tokens by";
    const TENANT_ALONE: &str = "the subject is a whole tenant: warden revokes users and sessions, never a tenant on a transmitter's word";
    // (shape, subject, rules of an account event, rules of session-revoked), or the refusal.
    type Rules = Result<Vec<Revocation>, &'static str>;
    let unmatched = |name: &'static str, subject: Value| -> (&'static str, Value, Rules, Rules) {
        (name, subject, Err(UNMATCHED), Err(UNMATCHED))
    };
    let same = |name: &'static str, subject: Value, rules: Vec<Revocation>| {
        (name, subject, Ok(rules.clone()), Ok(rules))
    };
    let shapes: Vec<(&'static str, Value, Rules, Rules)> = vec![
        same(
            "iss_sub",
            json!({"format":"iss_sub","iss":iss,"sub":"u1"}),
            vec![user("u1")],
        ),
        same(
            "opaque",
            json!({"format":"opaque","id":"u1"}),
            vec![user("u1")],
        ),
        same(
            "email",
            json!({"format":"email","email":"U1@Example.com"}),
            vec![Revocation::email("u1@example.com").of_issuer(iss.clone())],
        ),
        same(
            "jwt_id",
            json!({"format":"jwt_id","iss":iss,"jti":"t1"}),
            vec![Revocation::token("t1").of_issuer(iss.clone())],
        ),
        same(
            "aliases",
            json!({"format":"aliases","identifiers":[
                {"format":"phone_number","phone_number":"+12065550100"},
                {"format":"iss_sub","iss":iss,"sub":"u2"}]}),
            vec![user("u2")],
        ),
        unmatched(
            "phone_number",
            json!({"format":"phone_number","phone_number":"+12065550100"}),
        ),
        unmatched(
            "account",
            json!({"format":"account","uri":"acct:u1@example.com"}),
        ),
        unmatched("did", json!({"format":"did","url":"did:example:123"})),
        unmatched("uri", json!({"format":"uri","uri":"urn:example:u1"})),
        unmatched(
            "saml_assertion_id",
            json!({"format":"saml_assertion_id","issuer":"https://idp.example","assertion_id":"a1"}),
        ),
        unmatched(
            "ip-addresses",
            json!({"format":"ip-addresses","ip-addresses":["192.0.2.1"]}),
        ),
        same(
            "complex {user}",
            json!({"format":"complex","user":{"format":"iss_sub","iss":iss,"sub":"u1"}}),
            vec![user("u1")],
        ),
        (
            "complex {user, session}",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"u1"},
                "session":{"format":"opaque","id":"s1"}}),
            Ok(vec![user("u1")]),
            Ok(vec![
                Revocation::session("s1").of_issuer(iss.clone()),
                Revocation::user_without_session("u1").of_issuer(iss.clone()),
            ]),
        ),
        same(
            "complex {user, tenant}",
            json!({"format":"complex",
                "user":{"format":"opaque","id":oid},
                "tenant":{"format":"opaque","id":TENANT}}),
            vec![in_tenant(Revocation::user(oid))],
        ),
        (
            "complex {user, session, tenant}",
            json!({"format":"complex",
                "user":{"format":"opaque","id":oid},
                "session":{"format":"opaque","id":"s1"},
                "tenant":{"format":"opaque","id":TENANT}}),
            Ok(vec![in_tenant(Revocation::user(oid))]),
            Ok(vec![
                in_tenant(Revocation::session("s1")),
                in_tenant(Revocation::user_without_session(oid)),
            ]),
        ),
        same(
            "complex {session}",
            json!({"format":"complex","session":{"format":"opaque","id":"s1"}}),
            vec![Revocation::session("s1").of_issuer(iss.clone())],
        ),
        same(
            "complex {user, session not opaque}",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"u1"},
                "session":{"format":"uri","uri":"urn:session:1"}}),
            vec![user("u1")],
        ),
        (
            "complex {user as phone_number, session}",
            json!({"format":"complex",
                "user":{"format":"phone_number","phone_number":"+12065550100"},
                "session":{"format":"opaque","id":"s1"}}),
            Err(
                "the subject's user is in a format warden cannot match: an account event is not narrowed to one session",
            ),
            Ok(vec![Revocation::session("s1").of_issuer(iss.clone())]),
        ),
        same(
            "complex {user, device}",
            json!({"format":"complex",
                "user":{"format":"iss_sub","iss":iss,"sub":"u1"},
                "device":{"format":"opaque","id":"laptop-1"}}),
            vec![user("u1")],
        ),
        (
            "complex {tenant}",
            json!({"format":"complex","tenant":{"format":"opaque","id":TENANT}}),
            Err(TENANT_ALONE),
            Err(TENANT_ALONE),
        ),
        (
            "complex {device}",
            json!({"format":"complex","device":{"format":"opaque","id":"laptop-1"}}),
            Err(NO_USER),
            Err(NO_USER),
        ),
    ];
    #[derive(Clone, Copy)]
    enum Kind {
        Account,
        Session,
        Signal,
        Ignored(&'static str),
    }
    let events: Vec<(&str, &str, Value, Kind)> = vec![
        ("caep", "session-revoked", json!({}), Kind::Session),
        (
            "caep",
            "credential-change",
            json!({"credential_type":"password","change_type":"update"}),
            Kind::Account,
        ),
        (
            "caep",
            "credential-change",
            json!({"credential_type":"fido2-roaming","change_type":"create"}),
            Kind::Ignored("a credential was added"),
        ),
        (
            "caep",
            "token-claims-change",
            json!({"claims":{"role":"reader"}}),
            Kind::Account,
        ),
        ("risc", "account-disabled", json!({}), Kind::Account),
        ("risc", "account-purged", json!({}), Kind::Account),
        (
            "risc",
            "credential-compromise",
            json!({"credential_type":"password"}),
            Kind::Account,
        ),
        ("risc", "sessions-revoked", json!({}), Kind::Account),
        (
            "caep",
            "assurance-level-change",
            json!({"namespace":"NIST-AAL","current_level":"nist-aal1","change_direction":"decrease"}),
            Kind::Signal,
        ),
        (
            "caep",
            "device-compliance-change",
            json!({"previous_status":"compliant","current_status":"not-compliant"}),
            Kind::Signal,
        ),
        (
            "caep",
            "risk-level-change",
            json!({"principal":"USER","current_level":"HIGH"}),
            Kind::Signal,
        ),
        (
            "caep",
            "session-established",
            json!({}),
            Kind::Ignored("an informational event"),
        ),
        (
            "risc",
            "account-enabled",
            json!({}),
            Kind::Ignored("an informational event"),
        ),
        (
            "custom",
            "https://example.com/event-type/something-new",
            json!({}),
            Kind::Ignored("an event type this receiver does not act on"),
        ),
    ];
    let mut cells = 0;
    for (family, event, fields, kind) in &events {
        for (shape, subject, account, session) in &shapes {
            let builder = f
                .issuer
                .security_event()
                .subject(subject.clone())
                .event_timestamp(at as i64);
            let set = match *family {
                "caep" => builder.caep(event, fields.clone()),
                "risc" => builder.risc(event, fields.clone()),
                _ => builder.event(*event, fields.clone()),
            }
            .sign();
            let stamped = |rules: &Rules| -> Outcome {
                match rules {
                    Ok(rules) => Outcome::Revoked(
                        rules
                            .iter()
                            .map(|rule| rule.clone().issued_at_or_before(at))
                            .collect(),
                    ),
                    Err(description) => Outcome::Refused(description),
                }
            };
            let expected = match kind {
                Kind::Account => stamped(account),
                Kind::Session => stamped(session),
                Kind::Signal => match session {
                    Ok(_) => Outcome::Recorded,
                    Err(description) => Outcome::Refused(description),
                },
                Kind::Ignored(reason) => Outcome::Ignored(reason),
            };
            let actual = match f.receiver.receive(&set).await {
                Ok(received) => match received.action() {
                    Action::Revoked(rules) => Outcome::Revoked(rules.clone()),
                    Action::Recorded => Outcome::Recorded,
                    Action::Ignored { reason } => Outcome::Ignored(reason),
                    other => panic!("{event} × {shape}: {other:?}"),
                },
                Err(refused) => {
                    assert_eq!(refused.code(), Some("invalid_request"), "{event} × {shape}");
                    match &expected {
                        Outcome::Refused(description) if refused.to_string() == *description => {
                            Outcome::Refused(description)
                        }
                        _ => panic!("{event} × {shape}: refused with {refused}"),
                    }
                }
            };
            assert_eq!(actual, expected, "{event} × {shape}");
            cells += 1;
        }
    }
    assert_eq!(cells, events.len() * shapes.len());
}

#[tokio::test]
async fn a_verification_proves_liveness_only_for_a_known_stream_fresh_and_with_the_state_asked_for()
{
    let f = fixture().await;
    let verification = |stream_id: &str, state: Option<&str>, iat: i64| {
        let fields = state.map_or(json!({}), |state| json!({"state": state}));
        f.issuer
            .security_event()
            .event(warden::ssf::VERIFICATION, fields)
            .without_event_timestamp()
            .claim("iat", iat)
            .subject(json!({"format":"opaque","id":stream_id}))
            .sign()
    };
    // A receiver that knows no stream accepts no verification: any stream id is not its own.
    assert_push_error(
        &f.push(&verification("any-stream", None, now())).await,
        400,
        "invalid_request",
        "a verification event names a stream this receiver does not know",
    );
    assert_eq!(f.receiver.last_verified_at(), None);

    // A receiver told of its stream (created in the transmitter's console).
    let configuration =
        TransmitterConfiguration::discover(f.issuer.ssf_issuer(), &reqwest::Client::new())
            .await
            .unwrap();
    let receiver = Receiver::builder(configuration, f.issuer.audience())
        .revocations(f.validator.revocations().clone())
        .stream_id("console-stream")
        .build()
        .unwrap();
    let (url, server) = serve(PushEndpoint::new(
        receiver.clone(),
        PushAuthorization::bearer(SECRET).unwrap(),
    ))
    .await;
    let push = |set: String| {
        let url = url.clone();
        let issuer = &f.issuer;
        async move {
            issuer
                .push_set(&url, Some(&format!("Bearer {SECRET}")), &set)
                .await
                .expect("pushed")
        }
    };
    // An old verification SET, replayed: it proves nothing about the stream now.
    assert_push_error(
        &push(verification("console-stream", None, now() - 3600)).await,
        400,
        "invalid_request",
        "a verification SET must be issued within the last ten minutes",
    );
    assert_eq!(receiver.last_verified_at(), None);
    // Fresh: accepted.
    assert_accepted_push(&push(verification("console-stream", None, now())).await);
    let verified = receiver.last_verified_at().expect("verified");
    // While it waits for a state it asked for, a verification without one is not the answer.
    receiver.expect_verification("asked-state");
    assert_push_error(
        &push(verification("console-stream", None, now())).await,
        400,
        "invalid_state",
        "the verification state matches no verification requested",
    );
    assert_accepted_push(&push(verification("console-stream", Some("asked-state"), now())).await);
    assert!(receiver.last_verified_at().unwrap() >= verified);
    // Revoking events have no such bound: an old revocation is still a revocation.
    let old = now() - 7200;
    let revocation = f
        .issuer
        .security_event()
        .user("wren")
        .without_event_timestamp()
        .claim("iat", old)
        .sign();
    assert_accepted_push(&push(revocation).await);
    let wren = |iat: i64| {
        f.issuer
            .token()
            .subject("wren")
            .issued_at(iat)
            .lifetime(Duration::from_secs(4 * 3600))
            .sign()
    };
    f.assert_revoked(&wren(old - 60)).await;
    f.assert_accepted(&wren(old + 60)).await;
    server.abort();
}
