//! A fleet shares its revocations through a real `redis-server` (warden-redis): each test starts
//! its own server on a free loopback port, and replicas (validators with their own store and
//! feed) share it, some through a proxy the test cuts and restores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use warden::WardenLayer;
use warden::cae::{Revocation, RevocationError, RevocationStore};
use warden_integration_tests::{App, assert_refusal, invalid_token, now, shared_issuer, trust};
use warden_redis::{ConnectError, FeedState, RedisRevocations, RedisRevocationsBuilder};
use warden_testing::{RedisCluster, RedisServer};

async fn redis() -> RedisServer {
    RedisServer::start()
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

fn store(url: &str) -> RedisRevocationsBuilder {
    RedisRevocations::builder(url).prefix("fleet-test:")
}

/// A replica: an app whose layer checks this store.
fn replica(store: &RedisRevocations) -> App {
    let layer = WardenLayer::builder()
        .issuer(trust(shared_issuer()).build().expect("issuer"))
        .revocations(Arc::new(store.clone()))
        .build()
        .expect("layer");
    App::new(layer)
}

fn token_of(user: &str) -> String {
    shared_issuer()
        .token()
        .subject(user)
        .issued_at(now() - 30)
        .sign()
}

async fn assert_revoked(app: &App, token: &str) {
    app.assert_refused(token, 401, &invalid_token("token revoked"), "token revoked")
        .await;
}

async fn assert_accepted(app: &App, token: &str) {
    let answer = app.get_me_with(token).await;
    assert_eq!(answer.status, 200, "body {}", answer.body);
}

/// Asserts the replica's fail-closed answer: 503, `Retry-After: 5`, no `WWW-Authenticate`, the
/// problem body, and the handler not run.
async fn assert_fails_closed(app: &App, token: &str) {
    let runs = app.runs.count();
    let answer = app.get_me_with(token).await;
    assert_refusal(&answer, 503, None, "revocation list not current");
    assert_eq!(answer.headers["retry-after"], "5");
    assert_eq!(app.runs.count(), runs, "the handler ran");
}

/// Waits until `check` holds, failing after `limit`; returns how long it took.
async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn refused_by(app: &App, token: &str) -> bool {
    app.get_me_with(token).await.status == 401
}

#[tokio::test]
async fn a_revocation_on_one_replica_is_enforced_by_every_other_within_a_second() {
    let server = redis().await;
    let stores = [
        store(&server.url()).connect().await.unwrap(),
        store(&server.url()).connect().await.unwrap(),
        store(&server.url()).connect().await.unwrap(),
    ];
    let apps: Vec<App> = stores.iter().map(replica).collect();
    let carol = token_of("carol");
    for app in &apps {
        assert_accepted(app, &carol).await;
    }

    stores[0].revoke(Revocation::user("carol")).await.unwrap();
    // The replica that took the revocation enforces it at once.
    assert_revoked(&apps[0], &carol).await;
    for app in &apps[1..] {
        within(Duration::from_secs(1), "revocation propagated", || {
            refused_by(app, &carol)
        })
        .await;
        assert_revoked(app, &carol).await;
    }

    // A replica started after the revocation loads it before it serves.
    let late = store(&server.url()).connect().await.unwrap();
    assert_revoked(&replica(&late), &carol).await;

    // Others' tokens, and carol's next token, still work everywhere.
    let fresh = shared_issuer()
        .token()
        .subject("carol")
        .issued_at(now() + 1)
        .sign();
    for app in &apps {
        assert_accepted(app, &token_of("dave")).await;
        assert_accepted(app, &fresh).await;
    }
    for store in &stores {
        assert_eq!(store.status().state(), FeedState::Current);
        assert_eq!(store.status().rules(), 1);
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_loses_no_rule_and_replicas_resume() {
    // This test's own recorder (thread-local; every task of the test runs on its thread): the
    // feed's gauges follow the outage.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let feed_current = || {
        warden_integration_tests::metric_series(&metrics.render(), "warden_fleet_feed_current")
            .get("")
            .copied()
    };
    let mut server = redis().await;
    let a = store(&server.url()).connect().await.unwrap();
    let b = store(&server.url()).connect().await.unwrap();
    let (app_a, app_b) = (replica(&a), replica(&b));
    a.revoke(Revocation::user("erin")).await.unwrap();
    let (erin, frank) = (token_of("erin"), token_of("frank"));
    within(Duration::from_secs(1), "erin revoked on b", || {
        refused_by(&app_b, &erin)
    })
    .await;

    server.kill();
    within(Duration::from_secs(5), "b sees the outage", || async {
        b.status().state() == FeedState::Disconnected
    })
    .await;
    within(
        Duration::from_secs(5),
        "the feed gauge says not current",
        || async { feed_current() == Some(0.0) },
    )
    .await;
    // Requests are still judged by the local rules.
    assert_revoked(&app_b, &token_of("erin")).await;
    assert_accepted(&app_b, &token_of("frank")).await;
    // A revocation made meanwhile fails clearly, and is enforced where it was made.
    let error = a.revoke(Revocation::user("frank")).await.unwrap_err();
    assert!(
        matches!(
            error,
            RevocationError::Unavailable { .. } | RevocationError::TimedOut { .. }
        ),
        "{error}"
    );
    assert_revoked(&app_a, &token_of("frank")).await;

    server.restart().await.unwrap();
    within(Duration::from_secs(10), "b reconnected", || async {
        b.status().is_current()
    })
    .await;
    within(
        Duration::from_secs(10),
        "the feed gauge says current",
        || async { feed_current() == Some(1.0) },
    )
    .await;
    assert!(
        warden_integration_tests::metric_series(
            &metrics.render(),
            "warden_fleet_feed_synced_timestamp_seconds"
        )[""]
            > 1.7e9
    );
    // The caller retries the failed revocation; it now reaches the fleet.
    within(
        Duration::from_secs(10),
        "the retried revocation is shared",
        || async { a.revoke(Revocation::user("frank")).await.is_ok() },
    )
    .await;
    within(Duration::from_secs(1), "frank revoked on b", || {
        refused_by(&app_b, &frank)
    })
    .await;
    assert_revoked(&app_b, &token_of("frank")).await;

    // A replica started now sees the rule written before the crash.
    let c = store(&server.url()).connect().await.unwrap();
    let app_c = replica(&c);
    assert_revoked(&app_c, &token_of("erin")).await;
    assert_revoked(&app_c, &token_of("frank")).await;
    assert_accepted(&app_c, &token_of("grace")).await;

    // A replica that wrote nothing during the outage: its first revocation after the restart is
    // acknowledged at once (its connection learns of the restart from that write, which is sent
    // again), not refused for the caller to retry.
    b.revoke(Revocation::user("gwen")).await.unwrap();
    let gwen = token_of("gwen");
    within(Duration::from_secs(1), "gwen revoked on c", || {
        refused_by(&app_c, &gwen)
    })
    .await;
}

/// A loopback TCP proxy the test can cut (every connection dropped, new ones refused) and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, list) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed at once
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(link);
            }
        });
        Proxy {
            port,
            up,
            links,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test]
async fn a_replica_cut_off_while_a_revocation_happens_catches_up_on_reconnect() {
    let server = redis().await;
    let proxy = Proxy::start(server.port()).await;
    let a = store(&server.url()).connect().await.unwrap();
    let b = store(&proxy.url()).connect().await.unwrap();
    let app_b = replica(&b);
    let heidi = token_of("heidi");
    assert_accepted(&app_b, &heidi).await;

    proxy.cut();
    within(Duration::from_secs(5), "b sees the cut", || async {
        b.status().state() == FeedState::Disconnected
    })
    .await;
    a.revoke(Revocation::user("heidi")).await.unwrap();
    // Cut off, b cannot know yet (by default it keeps serving from the rules it has).
    assert_accepted(&app_b, &heidi).await;

    proxy.restore();
    within(Duration::from_secs(10), "b caught up", || {
        refused_by(&app_b, &heidi)
    })
    .await;
    assert_revoked(&app_b, &heidi).await;
    within(Duration::from_secs(2), "b current", || async {
        b.status().is_current()
    })
    .await;
}

#[tokio::test]
async fn a_replica_cut_off_past_its_staleness_bound_fails_closed_then_recovers() {
    let server = redis().await;
    let proxy = Proxy::start(server.port()).await;
    let b = store(&proxy.url())
        .fail_closed_after(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let app_b = replica(&b);
    let ivan = token_of("ivan");
    assert_accepted(&app_b, &ivan).await;

    proxy.cut();
    within(Duration::from_secs(6), "b fails closed", || async {
        app_b.get_me_with(&ivan).await.status == 503
    })
    .await;
    assert_fails_closed(&app_b, &ivan).await;
    assert!(b.status().stale_for() >= Duration::from_secs(2));

    proxy.restore();
    within(Duration::from_secs(10), "b serves again", || async {
        app_b.get_me_with(&ivan).await.status == 200
    })
    .await;
}

#[tokio::test]
async fn a_replica_that_missed_more_than_the_stream_holds_loads_every_rule_again() {
    let server = redis().await;
    let proxy = Proxy::start(server.port()).await;
    // A stream this short is trimmed by whole nodes (100 entries each by default).
    let a = store(&server.url())
        .stream_length(1)
        .connect()
        .await
        .unwrap();
    let b = store(&proxy.url())
        .stream_length(1)
        .connect()
        .await
        .unwrap();
    proxy.cut();
    within(Duration::from_secs(5), "b sees the cut", || async {
        b.status().state() == FeedState::Disconnected
    })
    .await;
    for n in 0..250 {
        a.revoke(Revocation::token(format!("token-{n}")))
            .await
            .unwrap();
    }
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let held: usize = redis::cmd("XLEN")
        .arg("fleet-test:revocations")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(held < 250, "the stream was not trimmed ({held} entries)");

    proxy.restore();
    within(Duration::from_secs(10), "b holds every rule", || async {
        b.status().rules() == 250
    })
    .await;
    let first = shared_issuer()
        .token()
        .subject("judy")
        .claim("jti", "token-0")
        .issued_at(now() - 30)
        .sign();
    assert_revoked(&replica(&b), &first).await;
}

#[tokio::test]
async fn a_rule_expires_from_redis_after_its_ttl() {
    let server = redis().await;
    let lifetime = Duration::from_secs(3600);
    let a = store(&server.url())
        .rule_retention(lifetime)
        .connect()
        .await
        .unwrap();
    // A store that forgets rules before the validator's tokens expire is refused.
    let refused = match WardenLayer::builder()
        .issuer(trust(shared_issuer()).build().expect("issuer"))
        .revocations(Arc::new(a.clone()))
        .build()
    {
        Ok(_) => panic!("a store keeping rules 1 h under a 28 h token lifetime was accepted"),
        Err(error) => error,
    };
    assert_eq!(
        refused.to_string(),
        "invalid configuration: revocations: keeps rules for less than the longest token lifetime plus the leeway"
    );
    // A rule whose instant is 3597 s ago can match tokens for three more seconds (room for a
    // loaded machine between the write and the reads below).
    let before = now() as u64 - 3597;
    a.revoke(Revocation::user("kim").issued_before(before))
        .await
        .unwrap();
    let key = r#"fleet-test:rule:["user","any","","kim"]"#;
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((0..=4000).contains(&ttl_ms), "PTTL {ttl_ms}");
    let value: u64 = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, before);
    within(
        Duration::from_secs(6),
        "the rule expired from Redis",
        || {
            let mut conn = conn.clone();
            async move {
                let exists: bool = redis::cmd("EXISTS")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                !exists
            }
        },
    )
    .await;
    // A rule that can no longer match any valid token is not written at all.
    a.revoke(Revocation::user("old").issued_before(now() as u64 - 7200))
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("fleet-test:rule:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn prefixes_keep_apis_sharing_one_redis_apart() {
    let server = redis().await;
    let orders = RedisRevocations::builder(server.url())
        .prefix("orders:")
        .connect()
        .await
        .unwrap();
    let billing = RedisRevocations::builder(server.url())
        .prefix("billing*[")
        .connect()
        .await
        .unwrap();
    orders.revoke(Revocation::user("leo")).await.unwrap();
    // Keys someone else wrote under the prefix are skipped, never a reason to fail a load.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for (key, value) in [
        ("orders:rule:garbage", "1"),
        (r#"orders:rule:["user","any","","zed"]"#, "not a number"),
    ] {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    billing.revoke(Revocation::user("mia")).await.unwrap();
    let late_orders = RedisRevocations::builder(server.url())
        .prefix("orders:")
        .connect()
        .await
        .unwrap();
    let late_billing = RedisRevocations::builder(server.url())
        .prefix("billing*[")
        .connect()
        .await
        .unwrap();
    assert_revoked(&replica(&late_orders), &token_of("leo")).await;
    assert_accepted(&replica(&late_orders), &token_of("mia")).await;
    assert_revoked(&replica(&late_billing), &token_of("mia")).await;
    assert_accepted(&replica(&late_billing), &token_of("leo")).await;
}

#[tokio::test]
async fn connection_errors_are_clear_and_never_show_the_password() {
    // A closed port: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let builder = RedisRevocations::builder(format!("redis://warden:s3cr3t-pw@127.0.0.1:{port}/2"));
    assert!(!format!("{builder:?}").contains("s3cr3t-pw"));
    let error = builder.connect().await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("could not load revocations from Redis"),
        "{message}"
    );
    assert!(!message.contains("s3cr3t-pw"), "{message}");
    assert!(!format!("{error:?}").contains("s3cr3t-pw"));

    let error = RedisRevocations::builder("http://127.0.0.1:6379")
        .connect()
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with("invalid Redis URL"),
        "{error}"
    );

    // With the right password the store connects, and still prints none.
    let server = redis().await;
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "warden", "on", ">s3cr3t-pw", "~*", "+@all"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let url = format!("redis://warden:s3cr3t-pw@127.0.0.1:{}/2", server.port());
    let store = RedisRevocations::builder(&url).connect().await.unwrap();
    store.revoke(Revocation::user("nina")).await.unwrap();
    assert!(!format!("{store:?}").contains("s3cr3t-pw"));
    let wrong = RedisRevocations::builder(url.replace("s3cr3t-pw", "guess"))
        .connect()
        .await
        .unwrap_err();
    assert!(!wrong.to_string().contains("guess"), "{wrong}");
}

/// One demo replica on a loopback port, sharing revocations through `fleet`.
async fn demo_replica(
    issuer: &warden_testing::FakeIssuer,
    fleet: RedisRevocations,
) -> (String, JoinHandle<()>) {
    let layer = warden_examples::orders::layer_builder_for(issuer)
        .unwrap()
        .revocations(Arc::new(fleet.clone()))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = warden_examples::orders::fleet_app(layer, fleet);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, server)
}

#[tokio::test]
async fn demo_replicas_share_revocations_and_report_their_feed() {
    let mut server = redis().await;
    let issuer = warden_testing::FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .audience(warden_examples::orders::DEMO_AUDIENCE)
        .start()
        .await
        .unwrap();
    let (a, server_a) = demo_replica(&issuer, store(&server.url()).connect().await.unwrap()).await;
    let (b, server_b) = demo_replica(&issuer, store(&server.url()).connect().await.unwrap()).await;
    let http = reqwest::Client::new();
    let oid = "0c0c0c0c-0000-4000-8000-00000000c0c0";
    let carol = issuer
        .token()
        .subject("carol")
        .object_id(oid)
        .scopes(["Orders.Read"])
        .issued_at(now() - 30)
        .sign();
    let admin = issuer
        .token()
        .app_only()
        .client("orders-admin-app")
        .roles(["Revocations.Write"])
        .sign();
    let orders = |base: &str| {
        http.get(format!("{base}/orders"))
            .bearer_auth(&carol)
            .send()
    };
    assert_eq!(orders(&b).await.unwrap().status(), 200);
    let ready = http.get(format!("{b}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["revocations"], "redis");
    assert_eq!(body["state"], "current");

    let revoke = |base: &str| {
        http.post(format!("{base}/admin/revocations"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"subject": oid, "tenant": warden_testing::DEFAULT_TENANT}))
            .send()
    };
    assert_eq!(revoke(&a).await.unwrap().status(), 204);
    within(
        Duration::from_secs(1),
        "replica b refuses carol",
        || async { orders(&b).await.unwrap().status() == 401 },
    )
    .await;
    let refused = orders(&b).await.unwrap();
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer realm="orders", error="invalid_token", error_description="token revoked""#
    );

    // Redis down: /health stays 200, /health/ready says the feed is not current, and a
    // revocation fails instead of vanishing.
    server.kill();
    within(Duration::from_secs(5), "b reports the outage", || async {
        http.get(format!("{b}/health/ready"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
    })
    .await;
    assert_eq!(
        http.get(format!("{b}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let body: serde_json::Value = http
        .get(format!("{b}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["state"], "disconnected");
    let failed = revoke(&a).await.unwrap();
    assert_eq!(failed.status(), 503);
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["error"], "revocation not shared with the fleet; retry");
    assert_eq!(orders(&b).await.unwrap().status(), 401);
    server_a.abort();
    server_b.abort();
}

/// A private CA, and a server certificate it issued for 127.0.0.1: (CA PEM, server chain PEM,
/// server key PEM).
fn private_ca_and_server_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "warden test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "redis test server");
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

#[tokio::test]
async fn shares_revocations_over_tls_verified_against_a_private_ca() {
    let (ca, chain, key) = private_ca_and_server_certificate();
    let server = RedisServer::start_with_tls(&chain, &key)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let tls_url = server.tls_url().unwrap();

    // Not trusted by the system's roots: refused, so the certificate is really checked.
    let untrusted = store(&tls_url).connect().await.unwrap_err();
    assert!(
        untrusted
            .to_string()
            .starts_with("could not load revocations from Redis"),
        "{untrusted}"
    );

    let over_tls = store(&tls_url)
        .tls_root_certificates(ca.as_bytes())
        .connect()
        .await
        .unwrap();
    assert!(!format!("{over_tls:?}").contains("BEGIN"));
    let plain = store(&server.url()).connect().await.unwrap();
    over_tls.revoke(Revocation::user("olga")).await.unwrap();
    within(Duration::from_secs(1), "the plain replica sees it", || {
        let token = token_of("olga");
        let app = replica(&plain);
        async move { refused_by(&app, &token).await }
    })
    .await;
    plain.revoke(Revocation::user("pia")).await.unwrap();
    let app = replica(&over_tls);
    let pia = token_of("pia");
    within(Duration::from_secs(1), "the TLS replica sees it", || {
        refused_by(&app, &pia)
    })
    .await;
}

#[tokio::test]
async fn a_dpop_proof_used_at_one_replica_is_a_replay_at_another_through_redis() {
    use warden::dpop::Dpop;
    use warden_testing::DpopKey;
    let mut server = redis().await;
    let replica = || async {
        let fleet = store(&server.url()).connect().await.unwrap();
        let dpop = Dpop::builder()
            .replay_cache(Arc::new(fleet.proof_replay()))
            .build()
            .unwrap();
        App::new(
            WardenLayer::builder()
                .issuer(trust(shared_issuer()).build().unwrap())
                .dpop(dpop)
                .build()
                .unwrap(),
        )
    };
    let (a, b) = (replica().await, replica().await);
    let key = DpopKey::generate().unwrap();
    let token = shared_issuer()
        .token()
        .subject("nia")
        .dpop_bound(&key)
        .sign();
    let request = |proof: &str| {
        http::Request::get("/me")
            .header("host", "api.test")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let proof = key
        .proof("GET", "http://api.test/me")
        .access_token(&token)
        .sign();
    assert_eq!(a.send(request(&proof)).await.status, 200);
    let runs = b.runs.count();
    let replayed = b.send(request(&proof)).await;
    assert_refusal(
        &replayed,
        401,
        Some(r#"Bearer realm="api""#),
        "DPoP proof replayed",
    );
    assert_eq!(b.runs.count(), runs, "the handler ran");
    // The key expires with the proof's window (iat + 65 s), so Redis holds only live proofs.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("fleet-test:dpop:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=67).contains(&ttl), "TTL {ttl}");

    // Redis down: a proof cannot be checked, so it is refused with 503, never accepted.
    server.kill();
    let fresh = key
        .proof("GET", "http://api.test/me")
        .access_token(&token)
        .sign();
    let runs = a.runs.count();
    let answer = a.send(request(&fresh)).await;
    assert_refusal(&answer, 503, None, "DPoP replay check unavailable");
    assert_eq!(answer.headers["retry-after"], "5");
    assert_eq!(a.runs.count(), runs, "the handler ran");
    // The next proof is refused at once (Redis failed less than 500 ms ago), with the same
    // answer.
    let next = key
        .proof("GET", "http://api.test/me")
        .access_token(&token)
        .sign();
    let answer = a.send(request(&next)).await;
    assert_refusal(&answer, 503, None, "DPoP replay check unavailable");
    assert_eq!(a.runs.count(), runs, "the handler ran");
    // Redis back: proofs are checked, and accepted, again.
    server.restart().await.unwrap();
    within(
        Duration::from_secs(10),
        "DPoP accepted after Redis is back",
        || {
            let proof = key
                .proof("GET", "http://api.test/me")
                .access_token(&token)
                .sign();
            let request = request(&proof);
            let a = &a;
            async move { a.send(request).await.status == 200 }
        },
    )
    .await;
}

/// Sets a Redis configuration directive at run time, as an operator's `CONFIG SET` would.
async fn config_set(server: &RedisServer, name: &str, value: &str) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_redis_that_may_evict_rules_is_refused_at_connect_and_never_reported_current() {
    // Started as a cache would be: a small memory and an LRU among keys with a TTL, which every
    // rule key has. A DPoP flood could evict rules, so no replica starts on it.
    let evicting = RedisServer::start_with_config(&[
        ("maxmemory-policy", "volatile-lru"),
        ("maxmemory", "2mb"),
    ])
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let refused = store(&evicting.url()).connect().await.unwrap_err();
    assert!(
        matches!(&refused, warden_redis::ConnectError::EvictionPolicy { policy } if policy == "volatile-lru"),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "Redis may evict revocation rules: its maxmemory-policy is volatile-lru, not noeviction"
    );

    // Switched to an evicting policy while replicas run (no reconnect): the replica stops
    // reporting current within seconds, and one with a staleness bound fails closed.
    let server = redis().await;
    let b = store(&server.url())
        .fail_closed_after(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let app_b = replica(&b);
    let ivan = token_of("ivan");
    assert_accepted(&app_b, &ivan).await;
    assert!(b.status().is_current());
    config_set(&server, "maxmemory-policy", "allkeys-lru").await;
    within(
        Duration::from_secs(10),
        "b stops reporting current",
        || async { !b.status().is_current() },
    )
    .await;
    within(Duration::from_secs(10), "b fails closed", || async {
        app_b.get_me_with(&ivan).await.status == 503
    })
    .await;
    assert_fails_closed(&app_b, &ivan).await;
    // Set back to noeviction: the replica is current again and serves.
    config_set(&server, "maxmemory-policy", "noeviction").await;
    within(Duration::from_secs(15), "b serves again", || async {
        app_b.get_me_with(&ivan).await.status == 200
    })
    .await;
    assert!(b.status().is_current());
}

/// A replica reloads the rules through their index, one sorted set, never by scanning the
/// keyspace of a Redis other applications share: a key under the prefix that the index does not
/// name is not even read (which shows no scan ran). Rules written before the index existed (an
/// older warden-redis) are found by one scan, which indexes them; rules an older replica writes
/// during a rolling upgrade arrive through the stream.
#[tokio::test]
async fn a_replica_reloads_the_rules_through_their_index() {
    let server = redis().await;
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let writer = store(&server.url()).connect().await.unwrap();
    writer
        .revoke(Revocation::user("lee").issued_before(now() as u64 - 10))
        .await
        .unwrap();
    let indexed: Vec<String> = redis::cmd("ZRANGE")
        .arg("fleet-test:rules")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(indexed, [r#"["user","any","","lee"]"#]);
    // A key under the prefix that the index does not name, and no announcement of it.
    let _: () = redis::cmd("SET")
        .arg(r#"fleet-test:rule:["user","any","","max"]"#)
        .arg(now() - 10)
        .arg("EX")
        .arg(3600)
        .query_async(&mut conn)
        .await
        .unwrap();
    // A replica of an older warden-redis, mid-upgrade: its rule is not indexed, but announced.
    let _: () = redis::cmd("SET")
        .arg(r#"fleet-test:rule:["user","any","","pat"]"#)
        .arg(now() - 10)
        .arg("EX")
        .arg(3600)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("fleet-test:revocations")
        .arg("*")
        .arg("rule")
        .arg(r#"["user","any","","pat"]"#)
        .arg("before")
        .arg(now() - 10)
        .query_async(&mut conn)
        .await
        .unwrap();
    let reader = store(&server.url()).connect().await.unwrap();
    let app = replica(&reader);
    assert_revoked(&app, &token_of("lee")).await;
    assert_revoked(&app, &token_of("pat")).await;
    assert_accepted(&app, &token_of("max")).await;
    // An older revocation of an identity whose key is there changes nothing, but indexes the key.
    writer
        .revoke(Revocation::user("max").issued_before(now() as u64 - 100))
        .await
        .unwrap();
    let reader = store(&server.url()).connect().await.unwrap();
    assert_revoked(&replica(&reader), &token_of("max")).await;

    // An older deployment: rules and a stream, no index. Found by one scan.
    let legacy = redis().await;
    let mut conn = redis::Client::open(legacy.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(r#"fleet-test:rule:["user","any","","ode"]"#)
        .arg(now() - 10)
        .arg("EX")
        .arg(3600)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("fleet-test:revocations")
        .arg("*")
        .arg("rule")
        .arg(r#"["user","any","","ode"]"#)
        .arg("before")
        .arg(now() - 10)
        .query_async(&mut conn)
        .await
        .unwrap();
    let reader = store(&legacy.url()).connect().await.unwrap();
    assert_revoked(&replica(&reader), &token_of("ode")).await;
    // The scan indexed what it found, and says so: the next load reads the index alone.
    let (indexed, marker): (Vec<String>, bool) = redis::pipe()
        .cmd("ZRANGE")
        .arg("fleet-test:rules")
        .arg(0)
        .arg(-1)
        .cmd("EXISTS")
        .arg("fleet-test:rules-indexed")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(indexed, [r#"["user","any","","ode"]"#]);
    assert!(marker);
    let again = store(&legacy.url()).connect().await.unwrap();
    assert_revoked(&replica(&again), &token_of("ode")).await;
}

/// Failover: a primary and a replica on loopback. With `wait_for_replicas(1)` a revocation is
/// acknowledged only once the replica holds it; the primary dies, the replica is promoted
/// (`REPLICAOF NO ONE`), and a replica of the API connecting to it enforces every acknowledged
/// rule, through the index. With the replica gone, a revocation is not acknowledged.
#[tokio::test]
async fn an_acknowledged_rule_survives_the_failover_to_an_in_sync_replica() {
    let mut primary = redis().await;
    let standby = redis().await;
    let mut standby_conn = redis::Client::open(standby.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port())
        .query_async(&mut standby_conn)
        .await
        .unwrap();
    // Until the standby has synced, WAIT cannot count it: wait for the link.
    within(Duration::from_secs(10), "the standby synced", || {
        let mut conn = standby_conn.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .unwrap();
            info.contains("master_link_status:up")
        }
    })
    .await;
    let writer = store(&primary.url())
        .wait_for_replicas(1)
        .write_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let users = ["nia", "oli", "pia"];
    for user in users {
        writer
            .revoke(Revocation::user(user).issued_before(now() as u64 - 10))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
    }
    primary.kill();
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut standby_conn)
        .await
        .unwrap();
    let promoted = store(&standby.url()).connect().await.unwrap();
    let app = replica(&promoted);
    for user in users {
        assert_revoked(&app, &token_of(user)).await;
    }
    assert_accepted(&app, &token_of("quinn")).await;

    // A primary with no replica to wait for: the revocation is not acknowledged.
    let lonely = redis().await;
    let waiting = store(&lonely.url())
        .wait_for_replicas(1)
        .write_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    match waiting.revoke(Revocation::user("rae")).await {
        Err(RevocationError::Unavailable { source }) => {
            assert_eq!(
                source.to_string(),
                "0 of the 1 Redis replicas asked for hold the rule"
            );
        }
        other => panic!("{other:?}"),
    }
}

async fn cluster() -> RedisCluster {
    RedisCluster::start(3)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

fn cluster_store(cluster: &RedisCluster) -> RedisRevocationsBuilder {
    RedisRevocations::cluster_builder(cluster.urls()).prefix("fleet-test:")
}

/// A real three-node Redis Cluster on loopback: revocations propagate between replicas, a late
/// replica loads them through the index, DPoP proofs are shared, and the node holding the
/// rules' slot killed and restarted loses no acknowledged rule; the feed and the writer
/// recover by themselves.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_shares_revocations_and_dpop_proofs_on_a_redis_cluster() {
    use warden::dpop::Dpop;
    use warden_testing::DpopKey;
    let mut cluster = cluster().await;
    let stores = [
        cluster_store(&cluster).connect().await.unwrap(),
        cluster_store(&cluster).connect().await.unwrap(),
    ];
    let apps: Vec<App> = stores.iter().map(replica).collect();
    let carol = token_of("carol");
    assert_accepted(&apps[1], &carol).await;
    stores[0].revoke(Revocation::user("carol")).await.unwrap();
    assert_revoked(&apps[0], &carol).await;
    within(Duration::from_secs(1), "revocation propagated", || {
        refused_by(&apps[1], &carol)
    })
    .await;
    assert_revoked(&apps[1], &carol).await;
    let late = cluster_store(&cluster).connect().await.unwrap();
    assert_revoked(&replica(&late), &carol).await;
    assert_accepted(&replica(&late), &token_of("dave")).await;

    // The rule, the index and the stream share the prefix's slot, on one node.
    let holder = cluster.node_for_key("{fleet-test:}").await.unwrap();
    let mut conn = redis::Client::open(cluster.urls()[holder].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("{fleet-test:}*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "{fleet-test:}revocations",
            r#"{fleet-test:}rule:["user","any","","carol"]"#,
            "{fleet-test:}rules"
        ]
    );

    // DPoP: a proof used at one replica is a replay at the other.
    let dpop_replica = |fleet: &RedisRevocations| {
        App::new(
            WardenLayer::builder()
                .issuer(trust(shared_issuer()).build().unwrap())
                .dpop(
                    Dpop::builder()
                        .replay_cache(Arc::new(fleet.proof_replay()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
    };
    let (a, b) = (dpop_replica(&stores[0]), dpop_replica(&stores[1]));
    let key = DpopKey::generate().unwrap();
    let bound = shared_issuer()
        .token()
        .subject("nia")
        .dpop_bound(&key)
        .sign();
    let request = |proof: &str| {
        http::Request::get("/me")
            .header("host", "api.test")
            .header("authorization", format!("DPoP {bound}"))
            .header("dpop", proof)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let proof = key
        .proof("GET", "http://api.test/me")
        .access_token(&bound)
        .sign();
    assert_eq!(a.send(request(&proof)).await.status, 200);
    let runs = b.runs.count();
    let replayed = b.send(request(&proof)).await;
    assert_refusal(
        &replayed,
        401,
        Some(r#"Bearer realm="api""#),
        "DPoP proof replayed",
    );
    assert_eq!(b.runs.count(), runs, "the handler ran");

    // The node holding the rules dies and comes back with its data: nothing acknowledged is
    // lost, the feeds resume, and revocations work again.
    cluster.node(holder).kill();
    cluster.node(holder).restart().await.unwrap();
    cluster
        .wait_until_ok(Duration::from_secs(20))
        .await
        .unwrap();
    let eve = token_of("eve");
    within(
        Duration::from_secs(15),
        "a revocation after the restart",
        || {
            let store = stores[0].clone();
            async move { store.revoke(Revocation::user("eve")).await.is_ok() }
        },
    )
    .await;
    within(
        Duration::from_secs(10),
        "propagated after the restart",
        || refused_by(&apps[1], &eve),
    )
    .await;
    assert_revoked(&apps[1], &carol).await;
    let after = cluster_store(&cluster).connect().await.unwrap();
    assert_revoked(&replica(&after), &carol).await;
    assert_revoked(&replica(&after), &eve).await;
    within(Duration::from_secs(5), "the feeds report current", || {
        let current = stores.iter().all(|store| store.status().is_current());
        async move { current }
    })
    .await;

    // No primary here has a replica: a revocation that must reach one is not acknowledged.
    let waiting = cluster_store(&cluster)
        .wait_for_replicas(1)
        .write_timeout(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    match waiting.revoke(Revocation::user("fay")).await {
        Err(RevocationError::Unavailable { source }) => assert_eq!(
            source.to_string(),
            "0 of the 1 Redis replicas asked for hold the rule"
        ),
        other => panic!("{other:?}"),
    }
}

/// Failover on a cluster with a replica of each primary: revocations acknowledged once a replica
/// holds them (`WAIT` on the rules' primary, in one pipeline with the write) survive the death
/// of that primary and the promotion of its replica by the cluster itself; replicas of the API
/// reconnect and new ones load every rule.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_rules_survive_a_cluster_failover() {
    let mut cluster = RedisCluster::start_with_replicas(3, 1)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let writer = cluster_store(&cluster)
        .wait_for_replicas(1)
        .connect()
        .await
        .unwrap();
    let users = ["gus", "hal", "ivy"];
    for user in users {
        writer
            .revoke(Revocation::user(user).issued_before(now() as u64 - 10))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
    }
    let holder = cluster.node_for_key("{fleet-test:}").await.unwrap();
    cluster.node(holder).kill();
    // The cluster promotes the dead primary's replica (node timeout 2 s, then an election).
    cluster
        .wait_until_ok(Duration::from_secs(30))
        .await
        .unwrap();
    within(
        Duration::from_secs(30),
        "a replica of the API connects",
        || async { cluster_store(&cluster).connect().await.is_ok() },
    )
    .await;
    let promoted = cluster_store(&cluster).connect().await.unwrap();
    let app = replica(&promoted);
    for user in users {
        assert_revoked(&app, &token_of(user)).await;
    }
    assert_accepted(&app, &token_of("jon")).await;
    // The writer follows the slot to its new primary (which has no replica left to wait for:
    // refused, as it must be, rather than acknowledged).
    within(
        Duration::from_secs(15),
        "the writer reaches the new primary",
        || {
            let writer = writer.clone();
            async move {
                matches!(
                    writer.revoke(Revocation::user("kim")).await,
                    Err(RevocationError::Unavailable { source })
                        if source.to_string() == "0 of the 1 Redis replicas asked for hold the rule"
                )
            }
        },
    )
    .await;
}

/// On a cluster the prefix is the rule keys' hash tag: one that cannot be (empty, or holding a
/// brace, which would end the tag early or start another) is refused before any connection,
/// as is a cluster without seed nodes.
#[tokio::test]
async fn a_prefix_that_cannot_be_a_hash_tag_is_refused_on_a_cluster() {
    for prefix in ["", "orders{api}:", "orders}:", "{orders:"] {
        let error = RedisRevocations::cluster_builder(["redis://127.0.0.1:1"])
            .prefix(prefix)
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectError::InvalidPrefix { .. }),
            "{prefix}: {error}"
        );
        assert_eq!(
            error.to_string(),
            "invalid key prefix: on a Redis Cluster the prefix is the rule keys' hash tag: it \
             must not be empty or hold a brace"
        );
    }
    let error = RedisRevocations::cluster_builder(Vec::<String>::new())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid Redis URL: a cluster needs at least one seed node"
    );
}

/// The demo on a cluster: `WARDEN_REDIS_CLUSTER=true` with the seed nodes comma-separated in
/// `WARDEN_REDIS_URL`; a revocation at one demo replica reaches the other.
#[tokio::test(flavor = "multi_thread")]
async fn demo_replicas_share_revocations_on_a_redis_cluster() {
    let cluster = cluster().await;
    let issuer = warden_testing::FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .audience(warden_examples::orders::DEMO_AUDIENCE)
        .start()
        .await
        .unwrap();
    let seeds = cluster.urls().join(",");
    let env = |name: &str| match name {
        "WARDEN_REDIS_URL" => Some(seeds.clone()),
        "WARDEN_REDIS_CLUSTER" => Some("true".to_owned()),
        _ => None,
    };
    let fleet = || async {
        warden_examples::orders::fleet_store(env)
            .await
            .unwrap()
            .expect("a store")
    };
    let (a, server_a) = demo_replica(&issuer, fleet().await).await;
    let (b, server_b) = demo_replica(&issuer, fleet().await).await;
    let http = reqwest::Client::new();
    let oid = "0c0c0c0c-0000-4000-8000-00000000c0c1";
    let carol = issuer
        .token()
        .subject("carol")
        .object_id(oid)
        .scopes(["Orders.Read"])
        .issued_at(now() - 30)
        .sign();
    let admin = issuer
        .token()
        .app_only()
        .client("orders-admin-app")
        .roles(["Revocations.Write"])
        .sign();
    let orders = |base: &str| {
        http.get(format!("{base}/orders"))
            .bearer_auth(&carol)
            .send()
    };
    assert_eq!(orders(&b).await.unwrap().status(), 200);
    let revoked = http
        .post(format!("{a}/admin/revocations"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"subject": oid, "tenant": warden_testing::DEFAULT_TENANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    within(
        Duration::from_secs(1),
        "replica b refuses carol",
        || async { orders(&b).await.unwrap().status() == 401 },
    )
    .await;
    let body: serde_json::Value = http
        .get(format!("{b}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "current");
    let wrong = |name: &str| match name {
        "WARDEN_REDIS_URL" => Some(seeds.clone()),
        "WARDEN_REDIS_CLUSTER" => Some("yes".to_owned()),
        _ => None,
    };
    assert_eq!(
        warden_examples::orders::fleet_store(wrong)
            .await
            .unwrap_err(),
        "WARDEN_REDIS_CLUSTER must be true or false"
    );
    server_a.abort();
    server_b.abort();
}
