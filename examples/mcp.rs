//! An MCP server protected by warden: the official Rust SDK (`rmcp`) over Streamable HTTP on
//! axum, whose tools need different scopes, discoverable by any MCP client (RFC 9728).
//!
//! | tool | scope |
//! |---|---|
//! | `read_notes` | `notes:read` |
//! | `add_note` | `notes:write` |
//!
//! - `POST /mcp` (and `GET`, `DELETE` for the session) sits behind the warden layer: no token,
//!   401 with `resource_metadata`; a token for another resource, 401 `invalid_token`.
//! - A `tools/call` names its tool in the JSON-RPC body, so the tool's scope is checked by a
//!   middleware that reads the body before rmcp does ([`tool_scopes`]): a tool whose scope the
//!   token lacks gets 403 `insufficient_scope` with `scope="…"` and `resource_metadata` (MCP
//!   authorization, "Runtime Insufficient Scope Errors"), and the tool never runs.
//! - `GET /.well-known/oauth-protected-resource/mcp` serves the metadata, outside the layer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::Value;
use warden::authz::Requirement;
use warden::metadata::ProtectedResource;
use warden::{Principal, WardenBuilder, WardenLayer};

warden::scopes! {
    /// Read the caller's notes.
    pub NotesRead = "notes:read";
    /// Add notes.
    pub NotesWrite = "notes:write";
}

/// The largest JSON-RPC body the scope check reads (and rmcp then takes).
const MAX_BODY: usize = 1 << 20;

/// The scope each tool needs.
fn tool_requirement(tool: &str) -> Option<Requirement> {
    match tool {
        "read_notes" => Some(Requirement::scopes::<NotesRead>()),
        "add_note" => Some(Requirement::scopes::<NotesWrite>()),
        _ => None,
    }
}

/// The notes, shared by every session; each note records who wrote it.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<Mutex<Vec<(String, String)>>>);

/// The MCP server: one instance per session, sharing [`Notes`].
#[derive(Debug, Clone)]
pub struct NotesServer {
    notes: Notes,
    tool_router: ToolRouter<Self>,
}

/// `add_note`'s arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NewNote {
    /// The note's text.
    pub text: String,
}

/// The caller warden admitted, from the HTTP request rmcp keeps in the context.
fn caller(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .map(|principal| principal.subject().to_owned())
        .unwrap_or_default()
}

#[tool_router]
impl NotesServer {
    /// A server over these notes.
    pub fn new(notes: Notes) -> Self {
        NotesServer {
            notes,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read every note (scope notes:read)")]
    async fn read_notes(&self) -> String {
        let notes = self.notes.0.lock().unwrap_or_else(|p| p.into_inner());
        notes
            .iter()
            .map(|(author, text)| format!("{author}: {text}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tool(description = "Add a note (scope notes:write)")]
    async fn add_note(
        &self,
        Parameters(NewNote { text }): Parameters<NewNote>,
        context: RequestContext<RoleServer>,
    ) -> String {
        let author = caller(&context);
        let mut notes = self.notes.0.lock().unwrap_or_else(|p| p.into_inner());
        notes.push((author.clone(), text));
        format!("note {} added by {author}", notes.len())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The protected resource: `resource` is the MCP endpoint's URL (`…/mcp`), and the scopes are
/// the tools'.
pub fn protected_resource(resource: impl Into<String>) -> ProtectedResource {
    ProtectedResource::new(resource)
        .scopes::<(NotesRead, NotesWrite)>()
        .name("Notes (warden MCP example)")
}

/// The MCP router: `/mcp` behind `builder`'s layer (with the resource `{base}/mcp`) and the
/// tool scope check, the metadata outside it.
///
/// # Errors
///
/// The layer's configuration is refused.
pub fn app(builder: WardenBuilder, base: &str) -> Result<Router, warden::ConfigError> {
    let warden: WardenLayer = builder
        .protected_resource(protected_resource(format!("{base}/mcp")))
        .build()?;
    let notes = Notes::default();
    let mcp = StreamableHttpService::new(
        move || Ok(NotesServer::new(notes.clone())),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let metadata = warden.resource_metadata().cloned();
    let router = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(tool_scopes))
        .layer(warden);
    Ok(match metadata {
        Some(metadata) => router.route_service(metadata.path(), metadata.clone()),
        None => router,
    })
}

/// Refuses a `tools/call` whose tool needs a scope the token lacks, before rmcp runs it: 403
/// `insufficient_scope` in warden's words (with `scope` and `resource_metadata`). Other
/// messages pass untouched. A body that is not JSON passes too: rmcp answers it.
pub async fn tool_scopes(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
        // One message, or a batch (older protocol versions): every call is checked.
        let messages = match &message {
            Value::Array(batch) => batch.iter().collect(),
            single => vec![single],
        };
        for message in messages {
            if message["method"] != "tools/call" {
                continue;
            }
            let Some(requirement) = message["params"]["name"]
                .as_str()
                .and_then(tool_requirement)
            else {
                continue;
            };
            if let Err(rejection) = requirement.check_request(&parts.extensions).await {
                return rejection.into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
