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

use warden::config::WardenConfig;
use warden_examples::orders;
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
    let reader = issuer
        .token()
        .subject("alice")
        .scopes(["Orders.Read", "Reports.Read"])
        .sign();
    let writer = issuer
        .token()
        .subject("bob")
        .object_id("0b0b0b0b-0000-4000-8000-00000000b0b0")
        .scopes(["Orders.Read", "Orders.Write"])
        .sign();
    let admin = issuer
        .token()
        .app_only()
        .client("orders-admin-app")
        .roles(["Orders.Admin", "Reports.Read.All", "Revocations.Write"])
        .sign();
    let cae = issuer
        .token()
        .subject("carol")
        .object_id("0c0c0c0c-0000-4000-8000-00000000c0c0")
        .client("cae-capable-spa")
        .scopes(["Orders.Read", "Orders.Write"])
        .cae_capable()
        .sign();
    let stepped_up = issuer
        .token()
        .subject("carol")
        .object_id("0c0c0c0c-0000-4000-8000-00000000c0c0")
        .client("cae-capable-spa")
        .scopes(["Orders.Read", "Orders.Write"])
        .cae_capable()
        .acrs(["c1"])
        .sign();
    println!(
        r#"
warden demo: the Orders API on {base}
Embedded fake Microsoft Entra issuer: {issuer_url}
(keys discovered over HTTP from {discovery})

Paste these into a shell (tokens are valid for one hour):

  export READER={reader}
  export WRITER={writer}
  export ADMIN={admin}
  export CAE={cae}
  export CAE_C1={stepped_up}

  curl -i {base}/health                                         # 200, no token needed
  curl -i {base}/orders                                         # 401: no token
  curl -i -H "Authorization: Bearer $READER" {base}/me          # 200: who you are
  curl -i -H "Authorization: Bearer $READER" {base}/orders      # 200: scope Orders.Read
  curl -i -X POST -H "Authorization: Bearer $READER" -H 'content-type: application/json' \
       -d '{{"item":"book"}}' {base}/orders                       # 403: needs Orders.Write
  curl -i -X POST -H "Authorization: Bearer $WRITER" -H 'content-type: application/json' \
       -d '{{"item":"book"}}' {base}/orders                       # 201
  curl -i -H "Authorization: Bearer $ADMIN" {base}/reports      # 200: app permission Reports.Read.All
  curl -i -X DELETE -H "Authorization: Bearer $ADMIN" {base}/orders/1   # 204: app role Orders.Admin
  curl -i -X POST -H "Authorization: Bearer $CAE" -H 'content-type: application/json' \
       -d '{{"item":"lamp"}}' {base}/orders                       # 201 (order 1 of carol)
  curl -i -X POST -H "Authorization: Bearer $CAE" {base}/orders/1/refund     # 401: claims challenge for c1
  curl -i -X POST -H "Authorization: Bearer $CAE_C1" {base}/orders/1/refund  # 200: stepped up

Continuous Access Evaluation: revoke carol, and her token gets a claims challenge.

  curl -i -X POST -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
       -d '{{"subject":"0c0c0c0c-0000-4000-8000-00000000c0c0"}}' {base}/admin/revocations   # 204
  curl -i -H "Authorization: Bearer $CAE" {base}/orders         # 401: insufficient_claims

Press Ctrl-C to stop.
"#,
        issuer_url = issuer.issuer_url(),
        discovery = format_args!(
            "{}/common/v2.0/.well-known/openid-configuration",
            issuer.base_url()
        ),
    );
}
