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
//!   middleware that reads the body with rmcp's own parser before rmcp runs it ([`guard`]): a
//!   tool whose scope the token lacks gets 403 `insufficient_scope` with `scope="…"` and
//!   `resource_metadata` (MCP authorization, "Runtime Insufficient Scope Errors"), and the tool
//!   never runs; a tool without a declared scope is refused. The same middleware binds each MCP
//!   session to the caller who opened it.
//! - `GET /.well-known/oauth-protected-resource/mcp` serves the metadata, outside the layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::json;
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

/// The scope each tool needs; `None` for a tool that declares none, which the guard refuses.
pub fn tool_requirement(tool: &str) -> Option<Requirement> {
    match tool {
        "read_notes" => Some(Requirement::scopes_of::<NotesRead>()),
        "add_note" => Some(Requirement::scopes_of::<NotesWrite>()),
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
/// [`guard`], the metadata outside it.
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
        // One body limit: what the guard reads is what rmcp takes.
        StreamableHttpServerConfig::default().with_max_request_body_bytes(MAX_BODY),
    );
    let metadata = warden.resource_metadata().cloned();
    let router = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(Sessions::default(), guard))
        .layer(warden);
    Ok(match metadata {
        Some(metadata) => router.route_service(metadata.path(), metadata.clone()),
        None => router,
    })
}

/// Who opened each MCP session, so no other caller can use its id (MCP security best
/// practices: bind sessions to the user). Bounded: a new session beyond the cap is refused.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Identity>>>);

/// The most sessions remembered at once.
const MAX_SESSIONS: usize = 10_000;

type Identity = (String, String);

fn identity_of(extensions: &axum::http::Extensions) -> Option<Identity> {
    extensions.get::<Principal>().map(|principal| {
        let identity = principal.identity();
        (identity.namespace.to_owned(), identity.user_id.to_owned())
    })
}

/// What stands between the warden layer and rmcp:
///
/// - A session id (`Mcp-Session-Id`) is honoured only for the caller who opened the session;
///   another caller gets 404, as for a session that does not exist.
/// - A `tools/call`, read with rmcp's own parser, needs its tool's scope: a token without it
///   gets 403 `insufficient_scope` in warden's words (with `scope` and `resource_metadata`), and
///   the tool never runs. A tool with no declared requirement is refused (deny by default).
/// - Anything rmcp cannot parse passes to rmcp, which refuses it the same way.
pub async fn guard(State(sessions): State<Sessions>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let caller = identity_of(&parts.extensions);
    if let Some(session) = parts.headers.get(SESSION_HEADER) {
        let known = sessions
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(session.to_str().unwrap_or_default())
            .cloned();
        if known.is_none() || known != caller {
            return (StatusCode::NOT_FOUND, "no such session").into_response();
        }
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    if let Ok(JsonRpcMessage::Request(request)) =
        serde_json::from_slice::<ClientJsonRpcMessage>(&bytes)
        && let ClientRequest::CallToolRequest(call) = &request.request
    {
        let Some(requirement) = tool_requirement(&call.params.name) else {
            let error = json!({
                "jsonrpc": "2.0",
                "id": request.id,
                "error": {"code": -32602, "message": "unknown tool"},
            });
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        };
        if let Err(rejection) = requirement.check_request(&parts.extensions).await {
            return rejection.into_response();
        }
    }
    let method = parts.method.clone();
    let session = parts.headers.get(SESSION_HEADER).cloned();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let mut known = sessions.0.lock().unwrap_or_else(|p| p.into_inner());
    if method == axum::http::Method::DELETE
        && let Some(session) = session
    {
        known.remove(session.to_str().unwrap_or_default());
    } else if let (Some(created), Some(caller)) = (response.headers().get(SESSION_HEADER), caller)
        && let Ok(created) = created.to_str()
        && !known.contains_key(created)
    {
        if known.len() >= MAX_SESSIONS {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many sessions").into_response();
        }
        known.insert(created.to_owned(), caller);
    }
    response
}

/// The Streamable HTTP session header.
const SESSION_HEADER: &str = "mcp-session-id";
