//! An MCP server protected by warden, with an embedded fake authorization server.
//!
//! ```not_rust
//! cargo run --example mcp_server
//! ```
//!
//! Listens on 127.0.0.1:3001 (`WARDEN_MCP_ADDR` overrides; `WARDEN_MCP_BASE` names the https base
//! URL clients use when it is not the listen address) and prints how a client discovers the
//! way to a token: the 401's `resource_metadata`, the metadata, the authorization server's
//! RFC 8414 metadata, and a client-credentials token for the resource (RFC 8707).

use std::process::ExitCode;

use warden::keys::JwksCache;
use warden::{Issuer, WardenLayer};
use warden_examples::{mcp, startup};
use warden_testing::FakeIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    startup::init_tracing();
    let (listener, addr) = match startup::listen("WARDEN_MCP_ADDR", 3001).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    // The URL clients use: plain http works on loopback only; behind TLS, set WARDEN_MCP_BASE
    // to the https base (RFC 9728 resources must be https elsewhere).
    let base = std::env::var("WARDEN_MCP_BASE").unwrap_or_else(|_| format!("http://{}", addr));
    let resource = format!("{base}/mcp");
    let issuer = match FakeIssuer::builder()
        .audience(resource.clone())
        .start()
        .await
    {
        Ok(issuer) => issuer,
        Err(error) => {
            eprintln!("cannot start the embedded issuer: {error}");
            return ExitCode::FAILURE;
        }
    };
    // As with a real provider: keys discovered over HTTP; the resource is the audience.
    let app = JwksCache::builder(issuer.issuer_url())
        .build()
        .and_then(|keys| {
            Issuer::builder(issuer.issuer_url())
                .audience(&resource)
                .keys(keys)
                .build()
        })
        .and_then(|trusted| mcp::app(WardenLayer::builder().issuer(trusted), &base));
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let issuer_url = issuer.issuer_url();
    println!(
        "\nwarden MCP example: Streamable HTTP at {resource}\n\
         Embedded authorization server: {issuer_url}\n\n\
         Discovery, step by step:\n\
         \x20 curl -i -X POST {resource}                                            # 401, resource_metadata=\"…\"\n\
         \x20 curl {base}/.well-known/oauth-protected-resource/mcp     # the metadata\n\
         \x20 curl {issuer_url}/.well-known/oauth-authorization-server  # RFC 8414\n\
         \x20 curl -d grant_type=client_credentials -d client_id=notes-app -d 'scope=notes:read' \\\n\
         \x20      --data-urlencode resource={resource} {issuer_url}/token\n\n\
         Then call {resource} from an MCP client with that token as its bearer token (rmcp's\n\
         client does the discovery above by itself, with client credentials; this fake issuer has\n\
         no login page, so interactive clients such as MCP Inspector need the pasted token):\n\
         read_notes works; add_note answers 403 insufficient_scope until the token has notes:write.\n"
    );
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
    drop(issuer);
    ExitCode::SUCCESS
}
