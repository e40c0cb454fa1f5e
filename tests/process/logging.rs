//! Logs never hold a token or a signature. tracing caches per-callsite interest process-wide, so
//! a thread-local subscriber is only reliable without parallel tests that hit the same callsites
//! with none: the test runs under [`serial`](crate::serial).

use std::sync::Arc;

use std::io::Write;
use std::sync::Mutex;

use warden_integration_tests::now;
use warden_integration_tests::oidc_app;

/// Everything logged, at every level, on this thread while the guard lives.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Buffer, tracing::subscriber::DefaultGuard) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[test]
fn never_logs_the_token() {
    let _serial = crate::serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(logs_no_token());
}

async fn logs_no_token() {
    let (buffer, _guard) = capture_logs();

    let (issuer, app) = oidc_app().await;
    let good = issuer.token().sign();
    let tampered = issuer.token().sign_tampered();
    let expired = issuer.token().expires_at(now() - 3600).sign();
    let garbage = "Zm9vYmFyYmF6cXV4";
    for token in [&good, &tampered, &expired, &garbage.to_owned()] {
        app.get_me_with(token).await;
    }
    // A token typed `JWT` sent to an issuer of the default profile: its line names the profile
    // to choose.
    let typed_jwt = issuer.token().header("typ", "JWT").sign();
    app.get_me_with(&typed_jwt).await;
    let logs = buffer.text();
    assert!(
        logs.contains("request refused"),
        "the refusals were logged: {logs}"
    );
    assert!(
        logs.lines().any(|line| line.contains("kind=\"wrong_type\"")
            && line.contains("needs Profile::JwtAccessToken (WARDEN_PROFILE=jwt_access_token)")),
        "the wrong type's remedy: {logs}"
    );
    for token in [&good, &tampered, &expired, &typed_jwt] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a signature reached the logs");
        assert!(!logs.contains(token.as_str()), "a token reached the logs");
    }
    assert!(!logs.contains(garbage));
}

#[test]
fn never_logs_a_set_its_subject_or_the_push_secret() {
    let _serial = crate::serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(logs_no_set());
}

async fn logs_no_set() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use warden::cae::InMemoryRevocations;
    use warden::ssf::{PushAuthorization, PushEndpoint, Receiver, TransmitterConfiguration};
    use warden_testing::FakeIssuer;

    let (buffer, _guard) = capture_logs();

    const SECRET: &str = "log-check-push-secret-5b1e";
    const SUBJECT: &str = "subject-that-must-not-be-logged";
    let issuer = FakeIssuer::start().await.unwrap();
    let configuration =
        TransmitterConfiguration::discover(issuer.ssf_issuer(), &reqwest::Client::new())
            .await
            .unwrap();
    let receiver = Receiver::builder(configuration, issuer.audience())
        .revocations(Arc::new(InMemoryRevocations::default()))
        .build()
        .unwrap();
    let push = PushEndpoint::new(receiver, PushAuthorization::bearer(SECRET).unwrap());
    let post = |set: &str, secret: &str| {
        Request::post("/ssf/events")
            .header("authorization", format!("Bearer {secret}"))
            .header("content-type", "application/secevent+jwt")
            .body(Body::from(set.to_owned()))
            .unwrap()
    };
    let good = issuer.security_event().user(SUBJECT).sign();
    let tampered = issuer.security_event().user(SUBJECT).sign_tampered();
    let misaddressed = issuer
        .security_event()
        .user(SUBJECT)
        .audience("api://elsewhere")
        .sign();
    let statuses = [
        push.clone()
            .oneshot(post(&good, SECRET))
            .await
            .unwrap()
            .status(),
        push.clone()
            .oneshot(post(&tampered, SECRET))
            .await
            .unwrap()
            .status(),
        push.clone()
            .oneshot(post(&misaddressed, SECRET))
            .await
            .unwrap()
            .status(),
        push.clone()
            .oneshot(post(&good, "a-wrong-secret-1234567"))
            .await
            .unwrap()
            .status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [202, 400, 400, 401]);
    // An event discarded for a critical member warden cannot process: refused, and the log line
    // names the member (never the subject).
    let configuration = TransmitterConfiguration::parse(
        issuer.ssf_issuer(),
        serde_json::json!({
            "issuer": issuer.ssf_issuer(),
            "jwks_uri": issuer.jwks_url(),
            "critical_subject_members": ["device"],
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let strict = PushEndpoint::new(
        Receiver::builder(configuration, issuer.audience())
            .revocations(Arc::new(InMemoryRevocations::default()))
            .build()
            .unwrap(),
        PushAuthorization::bearer(SECRET).unwrap(),
    );
    let with_device = issuer
        .security_event()
        .subject(serde_json::json!({"format":"complex",
            "user":{"format":"iss_sub","iss":issuer.issuer_url(),"sub":SUBJECT},
            "device":{"format":"opaque","id":"laptop-1"}}))
        .sign();
    let discarded = strict.oneshot(post(&with_device, SECRET)).await.unwrap();
    assert_eq!(discarded.status().as_u16(), 400);
    let logs = buffer.text();
    assert!(
        logs.contains("its subject's critical member is one warden cannot process")
            && logs.contains("member=\"device\""),
        "{logs}"
    );
    assert!(logs.contains("security event revoked tokens"), "{logs}");
    assert!(logs.contains("security event refused"), "{logs}");
    for set in [&good, &tampered, &misaddressed, &with_device] {
        for segment in set.split('.') {
            assert!(!logs.contains(segment), "a SET segment reached the logs");
        }
    }
    assert!(!logs.contains(SUBJECT), "a subject reached the logs");
    assert!(!logs.contains(SECRET), "the push secret reached the logs");
}

#[test]
fn refusals_are_logged_at_a_bounded_rate_and_every_one_is_accounted_for() {
    let _serial = crate::serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bounded_refusal_logs());
}

async fn bounded_refusal_logs() {
    let (buffer, _guard) = capture_logs();
    let issuer = warden_testing::FakeIssuer::start()
        .await
        .expect("fake issuer");
    let layer = warden::WardenLayer::builder()
        .issuer(
            warden_integration_tests::trust(&issuer)
                .build()
                .expect("issuer"),
        )
        .refusal_logs_per_second(3)
        .build()
        .expect("layer");
    let app = warden_integration_tests::App::new(layer);
    let expired = issuer.token().expires_at(now() - 3600).sign();
    let started = std::time::Instant::now();
    let flood = 50;
    for _ in 0..flood {
        app.get_me_with(&expired).await;
    }
    let seconds = started.elapsed().as_secs() + 1;
    // One more, in a later window: it carries the count of the lines left out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.get_me_with(&expired).await;

    let logs = buffer.text();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(" INFO ") && line.contains("request refused"))
        .collect();
    // At most 3 a second, per window the flood spanned (and the one after it).
    assert!(
        !lines.is_empty() && lines.len() as u64 <= 3 * (seconds + 1),
        "{} lines: {logs}",
        lines.len()
    );
    // Every refusal is either a line or counted in the next line's `suppressed_since_last`.
    let suppressed: u64 = lines
        .iter()
        .map(|line| {
            line.split("suppressed_since_last=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .expect("suppressed_since_last on every line")
        })
        .sum();
    assert_eq!(lines.len() as u64 + suppressed, flood + 1, "{logs}");
    for line in &lines {
        assert!(
            line.contains("kind=\"expired\"") || line.contains("kind=expired"),
            "{line}"
        );
        assert!(line.contains("status=401"), "{line}");
    }
    let signature = expired.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "a signature reached the logs");
}

/// What a subscriber saw, in order: spans closed (with their fields) and events (with the names
/// of the spans they were inside).
#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<Seen>>>);

#[derive(Debug, Clone)]
enum Seen {
    Closed {
        name: &'static str,
        fields: std::collections::BTreeMap<String, String>,
    },
    Event {
        message: String,
        inside: Vec<&'static str>,
    },
}

#[derive(Default)]
struct Fields(std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Trace
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }
    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(extensions.get_mut::<Fields>().unwrap());
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let inside = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name()).collect())
            .unwrap_or_default();
        let message = fields.0.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Seen::Event { message, inside });
    }
    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let fields = span
            .extensions_mut()
            .remove::<Fields>()
            .unwrap_or_default()
            .0;
        self.0.lock().unwrap().push(Seen::Closed {
            name: span.name(),
            fields,
        });
    }
}

#[test]
fn each_request_has_one_span_with_its_outcome_and_the_handler_runs_beside_it() {
    let _serial = crate::serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(one_span_per_request());
}

async fn one_span_per_request() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt as _;

    let trace = Trace::default();
    let subscriber = tracing_subscriber::registry().with(trace.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = warden_testing::FakeIssuer::start().await.unwrap();
    // No key loaded yet: the first request waits for the key set, the second is decided at once.
    let app = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|| async {
                tracing::info_span!("handler").in_scope(|| tracing::info!("handler ran"));
                "ok"
            }),
        )
        .layer(warden_integration_tests::layer_for(&issuer));
    let get = |token: String| {
        Request::get("/me")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let good = issuer.token().sign();
    for token in [good.clone(), good, issuer.token().sign_tampered()] {
        app.clone().oneshot(get(token)).await.unwrap();
    }

    let seen = trace.0.lock().unwrap().clone();
    let spans: Vec<_> = seen
        .iter()
        .filter_map(|seen| match seen {
            Seen::Closed {
                name: "warden.authenticate",
                fields,
            } => Some(fields.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(spans.len(), 3, "one span per request: {seen:#?}");
    for admitted in &spans[..2] {
        assert_eq!(admitted["outcome"], "authenticated");
        assert_eq!(admitted["iss"], issuer.issuer_url());
        assert!(admitted.contains_key("sub") && !admitted.contains_key("error.type"));
    }
    assert_eq!(spans[2]["outcome"], "bad_signature");
    assert_eq!(spans[2]["error.type"], "bad_signature");
    assert!(
        !spans[2].contains_key("iss"),
        "a refused token's claims are not believed"
    );

    // The refusal's log line is inside warden's span; the handler's events are outside it, and
    // each request's span has closed before its handler runs (the waiting one included).
    let refused = seen
        .iter()
        .find_map(|seen| match seen {
            Seen::Event { message, inside } if message == "request refused" => Some(inside),
            _ => None,
        })
        .expect("the refusal was logged");
    assert_eq!(refused, &["warden.authenticate"]);
    let order: Vec<&str> = seen
        .iter()
        .filter_map(|seen| match seen {
            Seen::Closed {
                name: "warden.authenticate",
                ..
            } => Some("warden"),
            Seen::Event { message, inside } if message == "handler ran" => {
                assert_eq!(
                    inside,
                    &["handler"],
                    "the handler runs outside warden's span"
                );
                Some("handler")
            }
            _ => None,
        })
        .collect();
    assert_eq!(order, ["warden", "handler", "warden", "handler", "warden"]);
}
