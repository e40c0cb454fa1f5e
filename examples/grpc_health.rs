//! A gRPC service protected by warden: the standard health service behind the layer, with a
//! requirement per method (examples/grpc.rs), and an embedded fake issuer.
//!
//! ```not_rust
//! cargo run --example grpc_health
//! ```
//!
//! Listens on 127.0.0.1:3002 (`WARDEN_GRPC_ADDR` overrides) and prints `grpcurl` commands with a
//! token that may call `Check`, and one that may not.

use std::process::ExitCode;

use warden::WardenLayer;
use warden::keys::JwksCache;
use warden::{Issuer, config::Profile};
use warden_examples::{grpc, startup};
use warden_testing::FakeIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    startup::init_tracing();
    let (listener, addr) = match startup::listen("WARDEN_GRPC_ADDR", 3002).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    let issuer = match FakeIssuer::builder().audience("api://health").start().await {
        Ok(issuer) => issuer,
        Err(error) => {
            eprintln!("cannot start the embedded issuer: {error}");
            return ExitCode::FAILURE;
        }
    };
    let warden = JwksCache::builder(issuer.issuer_url())
        .build()
        .and_then(|keys| {
            Issuer::builder(issuer.issuer_url())
                .audience("api://health")
                .profile(Profile::Rfc9068)
                .keys(keys)
                .build()
        })
        .and_then(|trusted| WardenLayer::builder().issuer(trusted).build());
    let warden = match warden {
        Ok(warden) => warden,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let (_reporter, routes) = grpc::health();
    let app = grpc::protected(routes, warden);
    let reader = issuer.token().scopes(["Health.Read"]).sign();
    let other = issuer.token().scopes(["Orders.Read"]).sign();
    println!(
        "\nwarden gRPC example: grpc.health.v1.Health on {addr} (plaintext HTTP/2)\n\n  \
         export READER={reader}\n  export OTHER={other}\n\n  \
         grpcurl -plaintext -H \"authorization: Bearer $READER\" {addr} grpc.health.v1.Health/Check   # SERVING\n  \
         grpcurl -plaintext -H \"authorization: Bearer $OTHER\" {addr} grpc.health.v1.Health/Check    # PermissionDenied\n  \
         grpcurl -plaintext {addr} grpc.health.v1.Health/Check                                        # Unauthenticated\n"
    );
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
