//! A gRPC service protected by warden, shared by `examples/grpc_health.rs` and the integration
//! tests: the standard health service (`grpc.health.v1.Health`, from `tonic-health`) behind the
//! warden layer, with a requirement per method.
//!
//! | method | who may call |
//! |---|---|
//! | `/grpc.health.v1.Health/Check` | scope `Health.Read` |
//! | `/grpc.health.v1.Health/Watch` | app role `Health.Watch` |
//! | any other method | nobody (`PERMISSION_DENIED`): unlisted methods are closed |

use axum::Router;
use tonic::service::Routes;
use warden::WardenLayer;
use warden::authz::{RequireMethods, Requirement};

/// The health service's routes, serving, with its reporter (keep it alive).
pub fn health() -> (tonic_health::server::HealthReporter, Routes) {
    let (reporter, service) = tonic_health::server::health_reporter();
    (reporter, Routes::new(service))
}

/// What each method requires.
pub fn requirements() -> RequireMethods {
    RequireMethods::new()
        .method(
            "/grpc.health.v1.Health/Check",
            Requirement::scope("Health.Read"),
        )
        .method(
            "/grpc.health.v1.Health/Watch",
            Requirement::role("Health.Watch"),
        )
}

/// The gRPC routes behind warden: the layer authenticates every call (refusals answered as
/// `UNAUTHENTICATED`), then each method's requirement (`PERMISSION_DENIED`).
pub fn protected(routes: Routes, warden: WardenLayer) -> Router {
    routes
        .prepare()
        .into_axum_router()
        .layer(requirements())
        .layer(warden)
}
