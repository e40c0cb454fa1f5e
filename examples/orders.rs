//! The Orders API protected by warden: the demo's router, shared by `examples/orders_api.rs` and
//! the integration tests.
//!
//! | route | who may call |
//! |---|---|
//! | GET /health | anyone, no token |
//! | GET /health/ready | anyone, no token; 503 while a fleet's revocation feed is not current |
//! | GET /health/keys | anyone, no token; key-set freshness per issuer |
//! | GET /openapi.json | anyone, no token; the OpenAPI document, its security from the routes' types |
//! | GET /.well-known/oauth-protected-resource | anyone, no token; RFC 9728 metadata, when `WARDEN_RESOURCE` is set (the embedded demo sets it) |
//! | GET /me | any valid token; the principal as JSON |
//! | GET /orders | scope `Orders.Read` |
//! | POST /orders | scope `Orders.Write`; 201 |
//! | DELETE /orders/{id} | app role `Orders.Admin`; 204 |
//! | GET /reports | scope `Reports.Read`, or app permission `Reports.Read.All` |
//! | POST /orders/{id}/refund | scope `Orders.Write` and authentication context `c1` |
//! | POST /admin/revocations | app role `Revocations.Write`; 204 |
//! | GET /orders/shipping | scope `Orders.Read`; calls the Shipping service on the caller's behalf (the embedded demo) |
//! | POST /ssf/events | the Shared Signals transmitter (its push credential), when configured; 202 |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use warden::authz::{RequireAuthContext, RequireRole, RequireScope, RequireScopeOrRole};
use warden::cae::{Revocation, RevocationStore};
use warden::entra::Entra;
use warden::metadata::ProtectedResource;
use warden::registration::ApiPermissions;
use warden::ssf::{PushAuthorization, PushEndpoint, Receiver, TransmitterConfiguration};
use warden::{Principal, WardenLayer};

use warden::principal::Caller;

use warden::config::WardenBuilder;
use warden_redis::{FeedState, RedisRevocations};
use warden_testing::{DEFAULT_TENANT, FakeIssuer};

warden::scopes! {
    /// Read the caller's orders.
    pub OrdersRead = "Orders.Read" {
        consent: User,
        admin: ("Read orders", "Allows the app to read the signed-in user's orders."),
        user: ("Read your orders", "Allows the app to read your orders."),
    };
    /// Place and refund orders.
    pub OrdersWrite = "Orders.Write" {
        consent: User,
        admin: ("Place and refund orders", "Allows the app to place orders and refund them for the signed-in user."),
        user: ("Place and refund your orders", "Allows the app to place orders and refund them for you."),
    };
    /// Read reports as a user.
    pub ReportsRead = "Reports.Read" {
        consent: Admin,
        admin: ("Read order reports", "Allows the app to read the organisation's order reports as the signed-in user."),
    };
}

warden::roles! {
    /// Delete any order (an application permission).
    pub OrdersAdmin = "Orders.Admin" {
        members: Applications,
        display: ("Delete any order", "Allows the app to delete any order, with no user signed in."),
    };
    /// Read every report (an application permission).
    pub ReportsReadAll = "Reports.Read.All" {
        members: Applications,
        display: ("Read all order reports", "Allows the app to read every order report, with no user signed in."),
    };
    /// Revoke tokens (an application permission).
    pub RevocationsWrite = "Revocations.Write" {
        members: Applications,
        display: ("Revoke access", "Allows the app to revoke users', sessions' and clients' tokens for this API."),
    };
}

warden::auth_contexts! {
    /// Step-up for refunds: a Conditional Access authentication context.
    pub RefundStepUp = "c1";
}

// What each protected route requires: the handler's extractor and the permissions page
// (`permissions`) name the same type.
type ListOrders = RequireScope<OrdersRead>;
type CreateOrder = RequireScope<OrdersWrite>;
type DeleteOrder = RequireRole<OrdersAdmin>;
type RefundOrder = (RequireScope<OrdersWrite>, RequireAuthContext<RefundStepUp>);
type Reports = RequireScopeOrRole<ReportsRead, ReportsReadAll>;
type Revoke = RequireRole<RevocationsWrite>;

/// The demo's permissions and routes, for the Entra manifest (`orders_api --print-manifest`) and
/// the permissions page (docs/registration.md): `identifier_uri` is the Application ID URI
/// (the demo's audience, [`DEMO_AUDIENCE`], unless configured).
///
/// # Errors
///
/// When a route requires a permission the demo does not declare, or the URI is not one Entra
/// accepts.
pub fn permissions(
    identifier_uri: &str,
) -> Result<ApiPermissions, warden::error::RegistrationError> {
    ApiPermissions::builder(identifier_uri)
        .name("Orders API")
        .scopes::<(OrdersRead, OrdersWrite, ReportsRead)>()
        .roles::<(OrdersAdmin, ReportsReadAll, RevocationsWrite)>()
        .public_route(Method::GET, "/health")
        .public_route(Method::GET, "/health/ready")
        .public_route(Method::GET, "/health/keys")
        .public_route(Method::GET, "/openapi.json")
        .public_route(Method::GET, "/metrics")
        .route::<()>(Method::GET, "/me")
        .route::<ListOrders>(Method::GET, "/orders")
        .route::<CreateOrder>(Method::POST, "/orders")
        .route::<DeleteOrder>(Method::DELETE, "/orders/{id}")
        .route::<RefundOrder>(Method::POST, "/orders/{id}/refund")
        .route::<Reports>(Method::GET, "/reports")
        .route::<Revoke>(Method::POST, "/admin/revocations")
        .route::<Shipping>(Method::GET, "/orders/shipping")
        .build()
}

/// Routes `method path` to `handler`, once [`permissions`] declares it: every route the demo
/// serves is in its manifest, permissions page and OpenAPI document, and a route added here
/// but not there stops the demo at its start (and every test that builds it). Services that
/// authenticate by other means are outside the declaration: the Shared Signals push endpoint
/// (its push credential) and the RFC 9728 metadata (public by its standard).
fn serve<H, T, S>(router: Router<S>, method: Method, path: &'static str, handler: H) -> Router<S>
where
    H: axum::handler::Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    let declared = permissions(DEMO_AUDIENCE)
        .expect("the demo's permissions")
        .routes()
        .any(|(m, p)| *m == method && p == path);
    assert!(
        declared,
        "{method} {path} is served but not declared in orders::permissions"
    );
    let filter = axum::routing::MethodFilter::try_from(method).expect("a method axum routes");
    router.route(path, axum::routing::on(filter, handler))
}

/// The demo's second service, Shipping: another API protected by warden, which the Orders API
/// calls on its caller's behalf (`GET /orders/shipping`).
pub const SHIPPING_AUDIENCE: &str = "api://shipping-demo";

/// The Orders API's application (client) id, as the embedded issuer knows it.
pub const DEMO_CLIENT_ID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

warden::scopes! {
    /// Shipping's own scope.
    pub ShipmentsRead = "Shipments.Read";
}

/// Shipping: `GET /shipments` (scope `Shipments.Read`), the caller's shipments.
pub fn shipping_app(warden: WardenLayer) -> Router {
    Router::new()
        .route(
            "/shipments",
            get(
                |_: RequireScope<ShipmentsRead>, caller: Principal| async move {
                    let identity = caller.identity();
                    Json(json!({
                        "shipments": [],
                        "for": identity.user_id,
                        "via": caller.client_id(),
                    }))
                },
            ),
        )
        .layer(warden)
}

/// How the Orders API calls Shipping: its token client (no secret: a federated token file) and
/// Shipping's address.
#[derive(Clone)]
pub struct Onward {
    tokens: warden_client::TokenClient,
    shipping: String,
}

/// Starts Shipping on 127.0.0.1 beside the embedded issuer, and lets the Orders API call it on
/// its callers' behalf with no secret anywhere: the issuer knows the Orders API as a client with
/// a federated identity credential (workload identity federation), and the demo writes the
/// workload's token to a file, as Kubernetes would.
///
/// # Errors
///
/// Shipping cannot listen, or its configuration is refused.
pub async fn embedded_onward(issuer: &FakeIssuer) -> Result<Onward, Box<dyn std::error::Error>> {
    let entra = Entra::builder()
        .authority(issuer.base_url())
        .v1_issuer_base(format!("{}/sts", issuer.base_url()))
        .tenant(DEFAULT_TENANT)
        .audience(SHIPPING_AUDIENCE)
        .build()?;
    let shipping = shipping_app(
        WardenLayer::builder()
            .entra(entra)
            .realm("shipping")
            .build()?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, shipping).await;
    });
    let workload = "system:serviceaccount:orders:orders-api";
    issuer.register_client(
        warden_testing::ClientRegistration::new(DEMO_CLIENT_ID)
            .federated(
                issuer.issuer_url(),
                workload,
                &issuer.signing_key()?.public_spki_der(),
            )
            .audience(DEMO_AUDIENCE),
    );
    // One file per issuer (its port): tests start several demos in one process.
    let port = issuer
        .base_url()
        .rsplit(':')
        .next()
        .unwrap_or("0")
        .to_owned();
    let token_file = std::env::temp_dir().join(format!(
        "warden-demo-workload-{}-{port}",
        std::process::id()
    ));
    let workload_token = issuer
        .token()
        .subject(workload)
        .audience(warden_testing::FEDERATED_AUDIENCE)
        .lifetime(std::time::Duration::from_secs(24 * 3600))
        .sign();
    std::fs::write(&token_file, workload_token)?;
    let tokens = warden_client::TokenClient::builder(
        DEFAULT_TENANT,
        DEMO_CLIENT_ID,
        warden_client::ClientCredential::federated_token_file(token_file),
    )
    .authority(issuer.base_url())
    .audience(DEMO_AUDIENCE)
    .client_capabilities(["cp1"])
    .build();
    Ok(Onward {
        tokens,
        shipping: url,
    })
}

/// The Orders API with its onward route: `GET /orders/shipping` (scope `Orders.Read`) calls
/// Shipping on the caller's behalf (on-behalf-of) and answers what it says; a claims challenge,
/// from the exchange or from Shipping, goes back to the caller as this API's own.
pub fn with_onward(app: Router, warden: WardenLayer, onward: Onward) -> Router {
    app.merge(
        serve(Router::new(), Method::GET, "/orders/shipping", shipping)
            .with_state(onward)
            .layer(warden),
    )
}

type Shipping = RequireScope<OrdersRead>;

async fn shipping(
    _: Shipping,
    challenger: warden::authz::Challenger,
    headers: axum::http::HeaderMap,
    State(onward): State<Onward>,
) -> Result<axum::response::Response, warden::AuthRejection> {
    use warden_client::AcquireError;
    let incoming = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' ').map(|(_, token)| token.trim()))
        .unwrap_or_default();
    let token = match onward
        .tokens
        .on_behalf_of(incoming, &["api://shipping-demo/Shipments.Read"], None)
        .await
    {
        Ok(token) => token,
        Err(AcquireError::ClaimsChallenge { claims, .. }) => {
            return Err(challenger.claims_challenge(&claims));
        }
        Err(error) => {
            tracing::warn!(%error, "the on-behalf-of exchange failed");
            return Ok(StatusCode::BAD_GATEWAY.into_response());
        }
    };
    let answer = reqwest::Client::new()
        .get(format!("{}/shipments", onward.shipping))
        .bearer_auth(token.secret())
        .send()
        .await;
    let Ok(answer) = answer else {
        return Ok(StatusCode::BAD_GATEWAY.into_response());
    };
    if answer.status() == reqwest::StatusCode::UNAUTHORIZED {
        let claims = answer
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(warden_client::claims_from_challenge);
        if let Some(claims) = claims {
            return Err(challenger.claims_challenge(&claims.to_string()));
        }
    }
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    Ok((status, Json(body)).into_response())
}

/// Who owns an order: the caller's [`Principal::identity`], the issuer and `sub` (for Entra, the
/// tenant and `oid`). Never `sub` or `oid` alone: one user's `oid` may equal another's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owner {
    namespace: String,
    user_id: String,
}

impl Owner {
    /// The owner the load script's baseline serves: the fake issuer's default user.
    fn baseline() -> Self {
        Owner {
            namespace: warden_testing::DEFAULT_TENANT.to_owned(),
            user_id: warden_testing::DEFAULT_USER_OID.to_owned(),
        }
    }

    fn of(caller: &Principal) -> Self {
        let identity = caller.identity();
        Owner {
            namespace: identity.namespace.to_owned(),
            user_id: identity.user_id.to_owned(),
        }
    }
}

/// One order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Order {
    id: u64,
    owner: Owner,
    item: String,
    quantity: u32,
    refunded: bool,
}

/// The demo's state: orders in memory, and the revocation store warden checks.
#[derive(Clone)]
pub struct Demo {
    orders: Arc<Mutex<Vec<Order>>>,
    next_id: Arc<AtomicU64>,
    revocations: Arc<dyn RevocationStore>,
}

/// The audience of the demo's tokens.
pub const DEMO_AUDIENCE: &str = "api://orders-demo";

/// A fake Microsoft Entra issuer on 127.0.0.1 and a warden layer that discovers its keys over
/// HTTP, as it would Microsoft's: the demo's default when no real issuer is configured.
///
/// # Errors
///
/// The fake issuer cannot start, or the configuration is refused.
pub async fn embedded_issuer() -> Result<(FakeIssuer, WardenLayer), Box<dyn std::error::Error>> {
    let (issuer, builder) = embedded_issuer_builder().await?;
    Ok((issuer, builder.build()?))
}

/// [`embedded_issuer`], with the layer still to build (to add a fleet's revocation store).
///
/// # Errors
///
/// The fake issuer cannot start, or the configuration is refused.
pub async fn embedded_issuer_builder()
-> Result<(FakeIssuer, WardenBuilder), Box<dyn std::error::Error>> {
    let issuer = FakeIssuer::builder()
        .entra(DEFAULT_TENANT)
        .audience(DEMO_AUDIENCE)
        .start()
        .await?;
    let builder = layer_builder_for(&issuer)?;
    Ok((issuer, builder))
}

/// The demo's layer for an embedded issuer already running: one per replica of a fleet that
/// trusts the same issuer.
///
/// # Errors
///
/// The configuration is refused.
pub fn layer_builder_for(issuer: &FakeIssuer) -> Result<WardenBuilder, warden::ConfigError> {
    let entra = Entra::builder()
        .authority(issuer.base_url())
        .v1_issuer_base(format!("{}/sts", issuer.base_url()))
        .tenant(DEFAULT_TENANT)
        .audience(issuer.audience())
        .build()?;
    Ok(WardenLayer::builder().entra(entra).realm("orders"))
}

/// The Orders API: public `/health` and `/health/ready`, everything else behind `warden`.
pub fn app(warden: WardenLayer) -> Router {
    router(warden, None)
}

/// The Orders API of one replica in a fleet sharing revocations through Redis: `/health/ready`
/// answers 503 while the revocation feed is not current.
pub fn fleet_app(warden: WardenLayer, fleet: RedisRevocations) -> Router {
    router(warden, Some(fleet))
}

fn router(warden: WardenLayer, fleet: Option<RedisRevocations>) -> Router {
    let demo = Demo {
        orders: Arc::new(Mutex::new(Vec::new())),
        next_id: Arc::new(AtomicU64::new(1)),
        revocations: warden.validator().revocations().clone(),
    };
    let metadata = warden.resource_metadata().cloned();
    let validator = warden.validator().clone();
    let protected = Router::new();
    let protected = serve(protected, Method::GET, "/me", me);
    let protected = serve(protected, Method::GET, "/orders", list_orders);
    let protected = serve(protected, Method::POST, "/orders", create_order);
    let protected = serve(protected, Method::DELETE, "/orders/{id}", delete_order);
    let protected = serve(protected, Method::POST, "/orders/{id}/refund", refund_order);
    let protected = serve(protected, Method::GET, "/reports", reports);
    let protected = serve(protected, Method::POST, "/admin/revocations", revoke);
    let protected = protected.with_state(demo).layer(warden);
    let public = Router::new();
    let public = serve(public, Method::GET, "/health", || async { "ok" });
    let public = serve(public, Method::GET, "/health/ready", move || {
        ready(fleet.clone())
    });
    let public = serve(public, Method::GET, "/health/keys", move || {
        keys_health(validator.clone())
    });
    let public = serve(public, Method::GET, "/openapi.json", openapi_document);
    // RFC 9728 metadata, public: outside the layer.
    let public = match metadata {
        Some(metadata) => public.route_service(metadata.path(), metadata.clone()),
        None => public,
    };
    public.merge(protected)
}

/// The demo's Shared Signals settings: a transmitter, the audience its SETs name, and the value
/// it sends as `Authorization: Bearer …` on each push.
#[derive(Debug, Clone)]
pub struct SharedSignals {
    /// The transmitter's issuer URL (`WARDEN_SSF_TRANSMITTER`); its configuration is discovered.
    pub transmitter: String,
    /// The receiver's audience (`WARDEN_SSF_AUDIENCE`; default the API's first audience).
    pub audience: String,
    /// The push credential (`WARDEN_SSF_PUSH_TOKEN`).
    pub push_token: String,
    /// The tenants whose users the transmitter may name by object id (`WARDEN_ENTRA_TENANTS`;
    /// the embedded demo: its tenant).
    pub tenants: Vec<String>,
}

/// The push endpoint of a receiver of `signals`' transmitter, feeding the revocation store of
/// `warden`'s validator. The transmitter may speak for its own users and for the users of every
/// issuer the API trusts.
///
/// # Errors
///
/// The transmitter's configuration cannot be discovered or the receiver is misconfigured.
pub async fn shared_signals(
    signals: &SharedSignals,
    warden: &WardenLayer,
) -> Result<PushEndpoint, Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let configuration = TransmitterConfiguration::discover(&signals.transmitter, &client).await?;
    let mut receiver = Receiver::builder(configuration, &signals.audience)
        .revocations(warden.validator().revocations().clone())
        .speaks_for(&signals.transmitter);
    for issuer in warden.validator().issuers() {
        receiver = receiver.speaks_for(issuer.issuer());
    }
    for tenant in &signals.tenants {
        receiver = receiver.speaks_for_tenant(tenant);
    }
    Ok(PushEndpoint::new(
        receiver.build()?,
        PushAuthorization::bearer(&signals.push_token)?,
    ))
}

/// The app with the Shared Signals push endpoint at `POST /ssf/events` (outside warden's layer:
/// the transmitter authenticates with its own credential).
pub fn with_shared_signals(app: Router, push: PushEndpoint) -> Router {
    app.route_service("/ssf/events", push)
}

/// The Orders API as an RFC 9728 protected resource: `resource` is the URL clients call
/// (`WARDEN_RESOURCE`), and the scopes are the ones the routes require.
pub fn protected_resource(resource: impl Into<String>) -> ProtectedResource {
    ProtectedResource::new(resource)
        .scopes::<(OrdersRead, OrdersWrite, ReportsRead)>()
        .name("Orders API (warden demo)")
}

/// `GET /openapi.json`: the demo's OpenAPI 3.1 document, its security (the bearer scheme, each
/// route's scopes and roles, 401 and 403) written by warden from the same requirement types the
/// handlers take ([`permissions`]); no token needed.
async fn openapi_document() -> axum::response::Response {
    let mut openapi = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Orders API")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .build();
    match permissions(DEMO_AUDIENCE) {
        Ok(permissions) => {
            warden::openapi::secure(&mut openapi, &permissions);
            Json(openapi).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "the demo's permissions are inconsistent");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Key-set freshness per trusted issuer: how many keys, fetched when and how long ago. 503 while
/// an issuer has no keys at all (its tokens are then answered 503 too).
async fn keys_health(validator: warden::Validator) -> axum::response::Response {
    let now = std::time::SystemTime::now();
    let issuers: Vec<Value> = validator
        .key_status()
        .into_iter()
        .map(|status| {
            let fetched = status
                .fetched_at
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            let age = status
                .fetched_at
                .and_then(|at| now.duration_since(at).ok())
                .map(|d| d.as_secs());
            json!({
                "issuer": status.issuer,
                "keys": status.keys,
                "fetched_at": fetched,
                "age_secs": age,
            })
        })
        .collect();
    let all_loaded = issuers.iter().all(|issuer| issuer["keys"].is_u64());
    let code = if all_loaded {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({ "issuers": issuers }))).into_response()
}

/// `GET /metrics`: the Prometheus text of what warden (and anything else in the process)
/// recorded, no token needed. In production, serve it on an internal port instead
/// (docs/observability.md).
pub fn metrics_route(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    serve(Router::new(), Method::GET, "/metrics", move || {
        let text = handle.render();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
        }
    })
}

/// Whether this replica judges revocations by current rules. `/health` stays 200 while Redis is
/// down (requests are still served from the local rules); this says whether the feed is current.
async fn ready(fleet: Option<RedisRevocations>) -> axum::response::Response {
    let Some(fleet) = fleet else {
        return Json(json!({ "ready": true, "revocations": "in-memory" })).into_response();
    };
    let status = fleet.status();
    let state = match status.state() {
        FeedState::Current => "current",
        FeedState::CatchingUp => "catching-up",
        _ => "disconnected",
    };
    let body = json!({
        "ready": status.is_current(),
        "revocations": "redis",
        "state": state,
        "rules": status.rules(),
        "stale_for_ms": status.stale_for().as_millis() as u64,
    });
    let code = if status.is_current() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn me(caller: Principal) -> Json<Value> {
    Json(json!({
        "issuer": caller.issuer(),
        "subject": caller.subject(),
        "object_id": caller.object_id(),
        "user_id": caller.user_id(),
        "tenant": caller.tenant_id(),
        "client": caller.client_id(),
        "caller": match caller.caller() { Caller::App => "app", _ => "user" },
        "scopes": caller.scopes(),
        "roles": caller.roles(),
        "cae_capable": caller.is_cae_capable(),
    }))
}

fn lock(demo: &Demo) -> std::sync::MutexGuard<'_, Vec<Order>> {
    demo.orders.lock().unwrap_or_else(|p| p.into_inner())
}

async fn list_orders(_: ListOrders, caller: Principal, State(demo): State<Demo>) -> Json<Value> {
    orders_of(&demo, &Owner::of(&caller))
}

fn orders_of(demo: &Demo, owner: &Owner) -> Json<Value> {
    let orders: Vec<Order> = lock(demo)
        .iter()
        .filter(|o| &o.owner == owner)
        .cloned()
        .collect();
    Json(json!({ "orders": orders }))
}

/// `GET /orders` with no warden at all: the load script's baseline (scripts/load.sh). The same
/// state, handler body and response as the protected route; the caller is a fixed owner, since
/// no token names one. Never serve it as an API: it authenticates nobody.
pub fn unprotected_baseline() -> Router {
    let demo = Demo {
        orders: Arc::new(Mutex::new(Vec::new())),
        next_id: Arc::new(AtomicU64::new(1)),
        revocations: Arc::new(warden::cae::InMemoryRevocations::default()),
    };
    Router::new()
        .route(
            "/orders",
            get(|State(demo): State<Demo>| async move { orders_of(&demo, &Owner::baseline()) }),
        )
        .with_state(demo)
}

/// The body of `POST /orders`.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    item: String,
    #[serde(default = "one")]
    quantity: u32,
}

fn one() -> u32 {
    1
}

async fn create_order(
    _: CreateOrder,
    caller: Principal,
    State(demo): State<Demo>,
    Json(new): Json<NewOrder>,
) -> impl IntoResponse {
    let mut orders = lock(&demo);
    let order = Order {
        id: demo.next_id.fetch_add(1, Ordering::Relaxed),
        owner: Owner::of(&caller),
        item: new.item,
        quantity: new.quantity,
        refunded: false,
    };
    orders.push(order.clone());
    (StatusCode::CREATED, Json(order))
}

async fn delete_order(_: DeleteOrder, State(demo): State<Demo>, Path(id): Path<u64>) -> StatusCode {
    let mut orders = lock(&demo);
    let before = orders.len();
    orders.retain(|o| o.id != id);
    if orders.len() < before {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn refund_order(
    _: RefundOrder,
    caller: Principal,
    State(demo): State<Demo>,
    Path(id): Path<u64>,
) -> impl IntoResponse {
    let owner = Owner::of(&caller);
    let mut orders = lock(&demo);
    match orders.iter_mut().find(|o| o.id == id && o.owner == owner) {
        Some(order) => {
            order.refunded = true;
            (StatusCode::OK, Json(json!({ "refunded": id })))
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such order" })),
        ),
    }
}

async fn reports(_: Reports, State(demo): State<Demo>) -> Json<Value> {
    let orders = lock(&demo);
    let refunded = orders.iter().filter(|o| o.refunded).count();
    Json(json!({ "orders": orders.len(), "refunded": refunded }))
}

/// The body of `POST /admin/revocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// The user (`sub` or `oid`), session, token id (`jti` or `uti`) or client id (`client_id`,
    /// `azp` or `appid`).
    subject: String,
    /// `user` (default), `session`, `token` or `client`.
    #[serde(default)]
    kind: Option<String>,
    tenant: Option<String>,
    issuer: Option<String>,
    /// Unix seconds: tokens issued before it are revoked. Default: tokens issued up to now,
    /// this second included.
    before: Option<u64>,
}

async fn revoke(
    _: Revoke,
    State(demo): State<Demo>,
    Json(request): Json<RevocationRequest>,
) -> impl IntoResponse {
    let mut revocation = match request.kind.as_deref().unwrap_or("user") {
        "user" => Revocation::user(request.subject),
        "session" => Revocation::session(request.subject),
        "token" => Revocation::token(request.subject),
        "client" => Revocation::client(request.subject),
        "email" => Revocation::email(request.subject),
        _ => {
            let body = json!({ "error": "kind must be user, session, token, client or email" });
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
    };
    if let Some(tenant) = request.tenant {
        revocation = revocation.in_tenant(tenant);
    }
    if let Some(issuer) = request.issuer {
        revocation = revocation.of_issuer(issuer);
    }
    // By default the rule reaches tokens issued up to now, this second included.
    if let Some(before) = request.before {
        revocation = revocation.issued_before(before);
    }
    match demo.revocations.revoke(revocation).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        // Enforced here, but perhaps not by the other replicas: the caller must retry.
        Err(error) => {
            tracing::warn!(%error, "revocation not shared");
            let body = json!({ "error": "revocation not shared with the fleet; retry", "detail": error.to_string() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The fleet's revocation store when `WARDEN_REDIS_URL` is set, read through `var` (the
/// environment, in the demo): `WARDEN_REDIS_URL` is one server's URL, or with
/// `WARDEN_REDIS_CLUSTER=true` a cluster's seed nodes as comma-separated URLs;
/// `WARDEN_REDIS_PREFIX`, `WARDEN_REDIS_FAIL_CLOSED_AFTER_SECS` and
/// `WARDEN_REDIS_WAIT_FOR_REPLICAS` set the store's options (docs/configuration.md).
///
/// # Errors
///
/// A message naming the variable that is wrong, or why Redis could not be reached.
pub async fn fleet_store(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<warden_redis::RedisRevocations>, String> {
    use warden_redis::RedisRevocations;
    let Some(url) = var("WARDEN_REDIS_URL") else {
        return Ok(None);
    };
    let cluster = match var("WARDEN_REDIS_CLUSTER").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err("WARDEN_REDIS_CLUSTER must be true or false".to_owned()),
    };
    let mut builder = if cluster {
        RedisRevocations::cluster_builder(url.split(',').map(str::trim).filter(|u| !u.is_empty()))
    } else {
        RedisRevocations::builder(url)
    };
    if let Some(prefix) = var("WARDEN_REDIS_PREFIX") {
        builder = builder.prefix(prefix);
    }
    if let Some(secs) = var("WARDEN_REDIS_FAIL_CLOSED_AFTER_SECS") {
        let secs: u64 = secs
            .parse()
            .map_err(|_| "WARDEN_REDIS_FAIL_CLOSED_AFTER_SECS must be a number of seconds")?;
        builder = builder.fail_closed_after(std::time::Duration::from_secs(secs));
    }
    if let Some(replicas) = var("WARDEN_REDIS_WAIT_FOR_REPLICAS") {
        let replicas: usize = replicas
            .parse()
            .map_err(|_| "WARDEN_REDIS_WAIT_FOR_REPLICAS must be a number of Redis replicas")?;
        builder = builder.wait_for_replicas(replicas);
    }
    builder
        .connect()
        .await
        .map(Some)
        .map_err(|error| format!("WARDEN_REDIS_URL: {error}"))
}
