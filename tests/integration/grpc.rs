//! The warden layer protecting a tonic service, driven by a real tonic client over loopback
//! HTTP/2: refusals arrive as gRPC statuses (`UNAUTHENTICATED`, `PERMISSION_DENIED`) with the
//! challenge in `www-authenticate` metadata, each method's requirement holds, and the service
//! never runs for a refused call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use warden::WardenLayer;
use warden_examples::grpc;
use warden_integration_tests::trust;
use warden_testing::FakeIssuer;

struct Server {
    issuer: FakeIssuer,
    channel: tonic::transport::Channel,
    runs: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start() -> Self {
        Self::start_with(grpc::requirements()).await
    }

    async fn start_with(requirements: warden::authz::RequireMethods) -> Self {
        let issuer = FakeIssuer::builder()
            .audience("api://health")
            .start()
            .await
            .unwrap();
        let warden = WardenLayer::builder()
            .issuer(trust(&issuer).build().unwrap())
            .build()
            .unwrap();
        let (reporter, routes) = grpc::health();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        // The example's own requirements and layer order, with a counter where the service runs.
        let app = routes
            .prepare()
            .into_axum_router()
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request)
                },
            ))
            .layer(requirements)
            .layer(warden);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _reporter = reporter;
            let _ = axum::serve(listener, app).await;
        });
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Server {
            issuer,
            channel,
            runs,
            task,
        }
    }

    fn client(&self, token: Option<String>) -> HealthClient<Authorized> {
        HealthClient::with_interceptor(self.channel.clone(), Bearer(token))
    }

    /// `Check` with `token`; asserts the service ran or not, as `admitted` says.
    async fn check(&self, token: Option<String>, admitted: bool) -> Result<i32, tonic::Status> {
        let before = self.runs.load(Ordering::SeqCst);
        let answer = self
            .client(token)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|response| response.into_inner().status);
        let ran = self.runs.load(Ordering::SeqCst) - before;
        assert_eq!(
            ran,
            usize::from(admitted),
            "the service ran {ran} times: {answer:?}"
        );
        answer
    }
}

/// Sends `authorization: Bearer <token>` metadata, when there is a token.
#[derive(Clone)]
struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("token not ASCII"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

type Authorized =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

fn challenge(status: &tonic::Status) -> String {
    status
        .metadata()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_tonic_client_is_admitted_with_the_methods_requirement() {
    let server = Server::start().await;
    let reader = server.issuer.token().scopes(["Health.Read"]).sign();
    let status = server.check(Some(reader), true).await.unwrap();
    assert_eq!(status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn refusals_are_grpc_statuses_with_the_challenge_in_metadata() {
    let server = Server::start().await;

    let status = server.check(None, false).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "no bearer token");
    assert_eq!(challenge(&status), r#"Bearer realm="api""#);

    let expired = server
        .issuer
        .token()
        .scopes(["Health.Read"])
        .expires_at(1)
        .sign();
    let status = server.check(Some(expired), false).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token expired");
    assert_eq!(
        challenge(&status),
        r#"Bearer realm="api", error="invalid_token", error_description="token expired""#
    );

    let other = server.issuer.token().scopes(["Orders.Read"]).sign();
    let status = server.check(Some(other), false).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "missing scope");
    assert_eq!(
        challenge(&status),
        r#"Bearer realm="api", error="insufficient_scope", scope="Health.Read""#
    );
}

#[tokio::test]
async fn each_method_has_its_own_requirement_and_streaming_calls_are_refused_too() {
    let server = Server::start().await;
    let reader = server.issuer.token().scopes(["Health.Read"]).sign();
    // `Watch` (server streaming) needs the app role, which a reader lacks.
    let before = server.runs.load(Ordering::SeqCst);
    let status = server
        .client(Some(reader))
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "missing app role");
    assert_eq!(
        server.runs.load(Ordering::SeqCst),
        before,
        "the service ran"
    );
    // An application holding the role may watch.
    let watcher = server
        .issuer
        .token()
        .app_only()
        .roles(["Health.Watch"])
        .sign();
    let mut stream = server
        .client(Some(watcher))
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn a_method_no_requirement_lists_is_closed() {
    let only_check = warden::authz::RequireMethods::new().method(
        "/grpc.health.v1.Health/Check",
        warden::authz::Requirement::scope("Health.Read"),
    );
    let server = Server::start_with(only_check).await;
    let watcher = server
        .issuer
        .token()
        .app_only()
        .roles(["Health.Watch"])
        .sign();
    let before = server.runs.load(Ordering::SeqCst);
    let status = server
        .client(Some(watcher))
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "method not open to any caller");
    assert_eq!(
        challenge(&status),
        r#"Bearer realm="api", error="insufficient_scope", error_description="method not open to any caller""#
    );
    assert_eq!(
        server.runs.load(Ordering::SeqCst),
        before,
        "the service ran"
    );
}

/// A client cannot turn a refusal into a 200 by naming gRPC's content type on an ordinary
/// request: only a POST over HTTP/2 with `application/grpc` is answered as gRPC.
#[tokio::test]
async fn a_grpc_content_type_on_an_http_request_is_answered_as_http() {
    let issuer = FakeIssuer::builder()
        .audience("api://health")
        .start()
        .await
        .unwrap();
    let warden = WardenLayer::builder()
        .issuer(trust(&issuer).build().unwrap())
        .build()
        .unwrap();
    let (_reporter, routes) = grpc::health();
    let app = grpc::protected(routes, warden);
    for (method, content_type) in [
        (axum::http::Method::GET, "application/grpc"),
        (axum::http::Method::POST, "application/grpc"),
        (axum::http::Method::POST, "application/grpc-web"),
    ] {
        let request = axum::http::Request::builder()
            .method(method.clone())
            .uri("/grpc.health.v1.Health/Check")
            .header("content-type", content_type)
            .body(axum::body::Body::empty())
            .unwrap();
        // `oneshot` sends HTTP/1.1 requests.
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {content_type}");
        assert!(response.headers().get("grpc-status").is_none());
    }
}
