//! The Orders API, protected by warden.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example orders_api
//! ```
//!
//! With no configuration it starts an embedded fake Microsoft Entra issuer on 127.0.0.1, listens
//! on 127.0.0.1:3000 (`WARDEN_DEMO_ADDR` overrides) and prints ready-to-paste curl commands with
//! fresh tokens for each kind of caller. With `WARDEN_ISSUER` (or `WARDEN_ENTRA_TENANTS`) and
//! `WARDEN_AUDIENCE` set, it protects the API with that real issuer instead:
//!
//! ```not_rust
//! WARDEN_ISSUER=https://login.example.com WARDEN_AUDIENCE=api://orders cargo run --example orders_api
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use warden::WardenConfig;
use warden_examples::{orders, walkthrough};
use warden_testing::FakeIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,warden=debug".into()),
        )
        .init();
    let addr: SocketAddr = match std::env::var("WARDEN_DEMO_ADDR") {
        Ok(addr) => match addr.parse() {
            Ok(addr) => addr,
            Err(_) => {
                eprintln!("WARDEN_DEMO_ADDR must be an address such as 127.0.0.1:3000");
                return ExitCode::from(2);
            }
        },
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };

    let configured = std::env::var_os("WARDEN_ISSUER").is_some()
        || std::env::var_os("WARDEN_ENTRA_TENANTS").is_some();
    // Keeps the fake issuer alive while the API serves.
    let mut fake = None;
    let warden = if configured {
        match WardenConfig::from_env().and_then(|config| config.build()) {
            Ok(layer) => layer,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::from(2);
            }
        }
    } else {
        match orders::embedded_issuer().await {
            Ok((issuer, layer)) => {
                fake = Some(issuer);
                layer
            }
            Err(error) => {
                eprintln!("cannot start the embedded issuer: {error}");
                return ExitCode::FAILURE;
            }
        }
    };

    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error} (set WARDEN_DEMO_ADDR)");
            return ExitCode::FAILURE;
        }
    };
    let base = format!("http://{}", listener.local_addr().map_or(addr, |a| a));
    match &fake {
        Some(issuer) => print_walkthrough(issuer, &base),
        None => println!("Orders API on {base}, protected by the configured issuer."),
    }
    let app = orders::app(warden);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_walkthrough(issuer: &FakeIssuer, base: &str) {
    print!("{}", walkthrough::text(issuer, base));
}
