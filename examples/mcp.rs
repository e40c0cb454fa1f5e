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
//!   session to the caller who opened it, and bounds the sessions each caller may open
//!   ([`SessionLimits`]): a flood of `initialize` calls from one token holder is answered 429
//!   before rmcp creates a session, and sessions rmcp ends after its idle timeout stop counting.
//! - `GET /.well-known/oauth-protected-resource/mcp` serves the metadata, outside the layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
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
use warden::{Principal, WardenLayer};

use warden::config::WardenBuilder;

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

/// How many MCP sessions the example keeps, and for how long an idle one lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// The most sessions one caller (one user, or one application) may have open at once
    /// (default 16): beyond it, `initialize` is answered 429 with `Retry-After` before rmcp
    /// creates a session, so one token holder cannot fill the table for everyone.
    pub per_caller: usize,
    /// The most sessions open at once, all callers together (default 10,000): beyond it, 503.
    pub total: usize,
    /// How long a session lives without a request (default 5 minutes, rmcp's own default): rmcp
    /// ends it, and the guard forgets it then too.
    pub idle: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            per_caller: 16,
            total: 10_000,
            idle: Duration::from_secs(300),
        }
    }
}

/// The MCP router: `/mcp` behind `builder`'s layer (with the resource `{base}/mcp`) and the
/// [`guard`], the metadata outside it.
///
/// # Errors
///
/// The layer's configuration is refused.
pub fn app(builder: WardenBuilder, base: &str) -> Result<Router, warden::ConfigError> {
    app_with_limits(builder, base, SessionLimits::default())
}

/// [`app`], with these session limits.
///
/// # Errors
///
/// The layer's configuration is refused.
pub fn app_with_limits(
    builder: WardenBuilder,
    base: &str,
    limits: SessionLimits,
) -> Result<Router, warden::ConfigError> {
    let warden: WardenLayer = builder
        .protected_resource(protected_resource(format!("{base}/mcp")))
        .build()?;
    let notes = Notes::default();
    let mut manager = LocalSessionManager::default();
    // rmcp ends a session idle this long; the guard asks rmcp which sessions still live.
    manager.session_config.keep_alive = Some(limits.idle);
    let manager = Arc::new(manager);
    let mcp = StreamableHttpService::new(
        move || Ok(NotesServer::new(notes.clone())),
        manager.clone(),
        // One body limit: what the guard reads is what rmcp takes.
        StreamableHttpServerConfig::default().with_max_request_body_bytes(MAX_BODY),
    );
    let metadata = warden.resource_metadata().cloned();
    let sessions = Sessions {
        table: Arc::default(),
        manager,
        limits,
    };
    let router = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(sessions, guard))
        .layer(warden);
    Ok(match metadata {
        Some(metadata) => router.route_service(metadata.path(), metadata.clone()),
        None => router,
    })
}

/// Who opened each MCP session, so no other caller can use its id (MCP security best
/// practices: bind sessions to the user), bounded per caller and in all.
#[derive(Debug, Clone)]
pub struct Sessions {
    table: Arc<Mutex<SessionTable>>,
    manager: Arc<LocalSessionManager>,
    limits: SessionLimits,
}

type Identity = (String, String);

/// The sessions' owners, and how many sessions each caller holds or is opening.
#[derive(Debug, Default)]
struct SessionTable {
    owners: HashMap<String, Identity>,
    held: HashMap<Identity, usize>,
    /// Sessions being opened (their `initialize` is with rmcp).
    opening: usize,
}

/// Why an `initialize` is refused before rmcp sees it.
enum Full {
    Caller,
    Total,
}

impl SessionTable {
    /// Counts a session being opened by `caller`, within the limits.
    fn reserve(&mut self, caller: &Identity, limits: &SessionLimits) -> Result<(), Full> {
        if self.held.get(caller).copied().unwrap_or(0) >= limits.per_caller {
            return Err(Full::Caller);
        }
        if self.owners.len() + self.opening >= limits.total {
            return Err(Full::Total);
        }
        *self.held.entry(caller.clone()).or_default() += 1;
        self.opening += 1;
        Ok(())
    }

    /// The session opened (its id), or not (`None`): the reservation becomes it, or is freed.
    fn opened(&mut self, caller: &Identity, session: Option<String>) {
        self.opening = self.opening.saturating_sub(1);
        match session {
            Some(session) if !self.owners.contains_key(&session) => {
                self.owners.insert(session, caller.clone());
            }
            _ => self.release(caller),
        }
    }

    fn remove(&mut self, session: &str) {
        if let Some(owner) = self.owners.remove(session) {
            self.release(&owner);
        }
    }

    fn release(&mut self, caller: &Identity) {
        if let Some(count) = self.held.get_mut(caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.held.remove(caller);
            }
        }
    }

    /// Forgets the sessions rmcp no longer has (ended idle, or by their handler).
    fn keep_only(&mut self, live: &std::collections::HashSet<String>) {
        let ended: Vec<String> = self
            .owners
            .keys()
            .filter(|session| !live.contains(*session))
            .cloned()
            .collect();
        for session in ended {
            self.remove(&session);
        }
    }
}

impl Sessions {
    fn table(&self) -> std::sync::MutexGuard<'_, SessionTable> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a session for `caller`; at a limit, first forgets the sessions rmcp ended.
    async fn reserve(&self, caller: &Identity) -> Result<(), Full> {
        if self.table().reserve(caller, &self.limits).is_ok() {
            return Ok(());
        }
        let live: std::collections::HashSet<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(ToString::to_string)
            .collect();
        let mut table = self.table();
        table.keep_only(&live);
        table.reserve(caller, &self.limits)
    }
}

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
/// - An `initialize` that would open a session beyond the caller's limit gets 429 with
///   `Retry-After` (the idle timeout), beyond the total limit 503, before rmcp creates anything.
///   Sessions rmcp ended (idle, or deleted) no longer count.
/// - A `tools/call`, read with rmcp's own parser, needs its tool's scope: a token without it
///   gets 403 `insufficient_scope` in warden's words (with `scope` and `resource_metadata`), and
///   the tool never runs. A tool with no declared requirement is refused (deny by default).
/// - Anything rmcp cannot parse passes to rmcp, which refuses it the same way.
pub async fn guard(State(sessions): State<Sessions>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let caller = identity_of(&parts.extensions);
    let session = parts
        .headers
        .get(SESSION_HEADER)
        .map(|session| session.to_str().unwrap_or_default().to_owned());
    if let Some(session) = &session {
        let known = sessions.table().owners.get(session).cloned();
        if known.is_none() || known != caller {
            return (StatusCode::NOT_FOUND, "no such session").into_response();
        }
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut opening = None;
    if let Ok(JsonRpcMessage::Request(request)) =
        serde_json::from_slice::<ClientJsonRpcMessage>(&bytes)
    {
        match &request.request {
            ClientRequest::CallToolRequest(call) => {
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
            // rmcp opens a session for an `initialize` without a session id.
            ClientRequest::InitializeRequest(_) if session.is_none() => {
                let Some(caller) = caller.clone() else {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "no caller").into_response();
                };
                match sessions.reserve(&caller).await {
                    Ok(()) => {
                        opening = Some(Reservation {
                            sessions: sessions.clone(),
                            caller: Some(caller),
                        })
                    }
                    Err(Full::Caller) => {
                        let retry_after = sessions.limits.idle.as_secs().max(1).to_string();
                        return (
                            StatusCode::TOO_MANY_REQUESTS,
                            [(RETRY_AFTER, retry_after)],
                            "too many open sessions for this caller: close one (DELETE) or let one expire",
                        )
                            .into_response();
                    }
                    Err(Full::Total) => {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [(RETRY_AFTER, "60".to_owned())],
                            "too many sessions",
                        )
                            .into_response();
                    }
                }
            }
            _ => {}
        }
    }
    let method = parts.method.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(reservation) = opening {
        let created = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|created| created.to_str().ok())
            .map(str::to_owned);
        reservation.opened(created);
    } else if method == axum::http::Method::DELETE
        && response.status().is_success()
        && let Some(session) = session
    {
        // Only a session rmcp closed frees its place (it refuses some DELETEs and keeps them).
        sessions.table().remove(&session);
    }
    response
}

/// A place held for a session being opened: it becomes the session, or is freed, also when the
/// request is dropped half-way (the client went away), so no place leaks.
struct Reservation {
    sessions: Sessions,
    caller: Option<Identity>,
}

impl Reservation {
    fn opened(mut self, session: Option<String>) {
        if let Some(caller) = self.caller.take() {
            self.sessions.table().opened(&caller, session);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(caller) = self.caller.take() {
            self.sessions.table().opened(&caller, None);
        }
    }
}

/// The Streamable HTTP session header.
const SESSION_HEADER: &str = "mcp-session-id";
