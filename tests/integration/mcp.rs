//! The MCP example driven by a real MCP client (rmcp's) through the whole discovery, over
//! loopback: unauthenticated call → 401 with `resource_metadata` → the resource's metadata →
//! the fake issuer's RFC 8414 metadata → a client-credentials token for the resource (RFC 8707)
//! → tool call; a tool whose scope the token lacks → 403 `insufficient_scope`.

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthorizationManager, AuthorizationMetadataSource, ClientCredentialsConfig,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use warden::keys::JwksCache;
use warden::{Issuer, WardenLayer};
use warden_examples::mcp;
use warden_testing::FakeIssuer;

struct McpServer {
    issuer: FakeIssuer,
    base: String,
    resource: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl McpServer {
    /// The example as `mcp_server` runs it: keys discovered from the issuer, the resource as
    /// the audience.
    async fn start() -> Self {
        Self::start_with(mcp::SessionLimits::default()).await
    }

    async fn start_with(limits: mcp::SessionLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{base}/mcp");
        let issuer = FakeIssuer::start().await.unwrap();
        let trusted = Issuer::builder(issuer.issuer_url())
            .audience(&resource)
            .keys(JwksCache::builder(issuer.issuer_url()).build().unwrap())
            .build()
            .unwrap();
        let app =
            mcp::app_with_limits(WardenLayer::builder().issuer(trusted), &base, limits).unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        McpServer {
            issuer,
            base,
            resource,
            server,
        }
    }

    /// A token of `user` for the MCP resource, with these scopes.
    fn token_of(&self, user: &str, scopes: &[&str]) -> String {
        self.issuer
            .token()
            .subject(user)
            .audience(self.resource.as_str())
            .scopes(scopes.iter().copied())
            .sign()
    }

    /// An `initialize` request (which opens a session) with this token.
    async fn initialize(&self, http: &reqwest::Client, token: &str) -> reqwest::Response {
        http.post(&self.resource)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "test", "version": "0"}}
            }))
            .send()
            .await
            .unwrap()
    }

    fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.base)
    }

    /// A token from the fake issuer's token endpoint, found by discovery from `challenge`.
    async fn token_through_discovery(&self, challenge: &str, scopes: &[&str]) -> String {
        let mut manager = AuthorizationManager::new(self.resource.as_str())
            .await
            .unwrap();
        let resolution = manager
            .resolve_metadata_from_challenge(Some(challenge))
            .await
            .unwrap();
        assert!(matches!(
            resolution.source,
            AuthorizationMetadataSource::ProtectedResourceMetadata
        ));
        assert_eq!(
            resolution.metadata.token_endpoint,
            format!("{}/token", self.issuer.issuer_url())
        );
        manager.set_metadata(resolution.metadata);
        let config = ClientCredentialsConfig::ClientSecret {
            client_id: "notes-app".to_owned(),
            client_secret: "not-checked-by-the-fake".to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            resource: Some(self.resource.clone()),
        };
        manager.configure_client_credentials(&config).unwrap();
        manager.exchange_client_credentials(&config).await.unwrap();
        manager.get_access_token().await.unwrap()
    }
}

#[tokio::test]
async fn a_real_mcp_client_finds_its_way_to_a_token_and_is_held_to_each_tools_scope() {
    let server = McpServer::start().await;
    let http = reqwest::Client::new();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "curl", "version": "0"}}
    });

    // 1. No token: 401 naming the metadata.
    let refused = http
        .post(&server.resource)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="api", resource_metadata="{}""#,
            server.metadata_url()
        )
    );

    // 2. The metadata, public.
    let metadata: serde_json::Value = http
        .get(server.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], server.resource.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        json!([server.issuer.issuer_url()])
    );
    assert_eq!(
        metadata["scopes_supported"],
        json!(["notes:read", "notes:write"])
    );

    // 3. rmcp's client discovers the authorization server from the challenge and gets a token
    //    for the resource.
    let reader = server
        .token_through_discovery(&challenge, &["notes:read"])
        .await;

    // 4. The MCP session with that token: the read tool works.
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.resource.as_str())
                .auth_header(reader.clone()),
        ))
        .await
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, ["add_note", "read_notes"]);
    // Every tool rmcp serves has a declared requirement (the guard refuses the others).
    for name in &names {
        assert!(mcp::tool_requirement(name).is_some(), "{name} has no scope");
    }
    client
        .call_tool(CallToolRequestParams::new("read_notes"))
        .await
        .unwrap();

    // 5. The write tool needs notes:write: 403 insufficient_scope, and the tool does not run.
    let mut add = CallToolRequestParams::new("add_note");
    add.arguments = json!({"text": "hello"}).as_object().cloned();
    let error = client.call_tool(add.clone()).await.unwrap_err();
    let expected = format!(
        r#"Bearer realm="api", error="insufficient_scope", scope="notes:write", resource_metadata="{}""#,
        server.metadata_url()
    );
    assert_eq!(error.auth_challenge(), Some(expected.as_str()));
    let raw = http
        .post(&server.resource)
        .bearer_auth(&reader)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "add_note", "arguments": {"text": "sneaky"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);
    assert_eq!(raw.headers()["www-authenticate"], expected.as_str());
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["detail"], "missing scope");
    client.cancel().await.unwrap();

    // 6. A token with notes:write adds a note, which the reader then sees.
    let writer = server
        .token_through_discovery(&challenge, &["notes:read", "notes:write"])
        .await;
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.resource.as_str())
                .auth_header(writer),
        ))
        .await
        .unwrap();
    client.call_tool(add).await.unwrap();
    let notes = client
        .call_tool(CallToolRequestParams::new("read_notes"))
        .await
        .unwrap();
    let text = serde_json::to_string(&notes.content).unwrap();
    assert!(text.contains("notes-app: hello"), "{text}");
    assert!(!text.contains("sneaky"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    let server = McpServer::start().await;
    let elsewhere = server
        .issuer
        .token()
        .audience(format!("{}/other", server.base))
        .scopes(["notes:read"])
        .sign();
    let answer = reqwest::Client::new()
        .post(&server.resource)
        .bearer_auth(elsewhere)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="api", error="invalid_token", error_description="wrong audience", resource_metadata="{}""#,
            server.metadata_url()
        )
        .as_str()
    );
}

#[tokio::test]
async fn a_session_belongs_to_the_caller_who_opened_it_and_unknown_tools_are_refused() {
    let server = McpServer::start().await;
    let http = reqwest::Client::new();
    let token = |user: &str| server.token_of(user, &["notes:read", "notes:write"]);
    let (alice, mallory) = (token("alice"), token("mallory"));
    let opened = server.initialize(&http, &alice).await;
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let call = |token: &str, name: &str| {
        http.post(&server.resource)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": name, "arguments": {"text": "x"}}}))
            .send()
    };
    // Another caller with a valid token cannot use alice's session.
    let hijack = call(&mallory, "add_note").await.unwrap();
    assert_eq!(hijack.status(), 404);
    // A tool with no declared scope is refused before rmcp sees it.
    let unknown = call(&alice, "drop_tables").await.unwrap();
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["message"], "unknown tool");
    assert_eq!(body["id"], 2);
}

#[tokio::test]
async fn an_initialize_flood_from_one_caller_is_bounded_and_idle_sessions_stop_counting() {
    let server = McpServer::start_with(mcp::SessionLimits {
        per_caller: 3,
        total: 10_000,
        idle: std::time::Duration::from_secs(1),
    })
    .await;
    let http = reqwest::Client::new();
    let (mallory, bob) = (
        server.token_of("mallory", &["notes:read"]),
        server.token_of("bob", &["notes:read"]),
    );
    // One caller floods (bounded: 50 tries): three sessions open, every other initialize is
    // refused before rmcp creates a session.
    let mut opened = Vec::new();
    for _ in 0..50 {
        let answer = server.initialize(&http, &mallory).await;
        match answer.status().as_u16() {
            200 => opened.push(
                answer.headers()["mcp-session-id"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
            429 => {
                assert!(answer.headers().get("mcp-session-id").is_none());
                assert_eq!(answer.headers()["retry-after"], "1");
                assert_eq!(
                    answer.text().await.unwrap(),
                    "too many open sessions for this caller: close one (DELETE) or let one expire"
                );
            }
            other => panic!("initialize answered {other}"),
        }
    }
    assert_eq!(opened.len(), 3);
    // Everyone else still opens sessions.
    assert_eq!(server.initialize(&http, &bob).await.status(), 200);
    // Closing one frees its place at once.
    let closed = http
        .delete(&server.resource)
        .bearer_auth(&mallory)
        .header("mcp-session-id", &opened[0])
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    assert_eq!(server.initialize(&http, &mallory).await.status(), 200);
    assert_eq!(server.initialize(&http, &mallory).await.status(), 429);
    // Sessions left idle past rmcp's timeout end there, and stop counting here.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let answer = server.initialize(&http, &mallory).await;
    assert_eq!(answer.status(), 200);
    // An expired session's id is gone for its owner too.
    let stale = http
        .post(&server.resource)
        .bearer_auth(&mallory)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &opened[1])
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}

#[tokio::test]
async fn sessions_beyond_the_total_are_refused_and_a_refused_delete_frees_no_place() {
    let server = McpServer::start_with(mcp::SessionLimits {
        per_caller: 1,
        total: 2,
        idle: std::time::Duration::from_secs(300),
    })
    .await;
    let http = reqwest::Client::new();
    let token = |user: &str| server.token_of(user, &["notes:read"]);
    let (ann, ben, cat) = (token("ann"), token("ben"), token("cat"));
    let opened = server.initialize(&http, &ann).await;
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.initialize(&http, &ben).await.status(), 200);
    // The table is full: a third caller is refused before rmcp creates a session.
    let refused = server.initialize(&http, &cat).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("mcp-session-id").is_none());
    assert!(refused.headers().get("www-authenticate").is_none());
    assert_eq!(refused.headers()["retry-after"], "60");
    assert_eq!(refused.text().await.unwrap(), "too many sessions");
    // A DELETE rmcp refuses (a protocol version it does not know) closes nothing, so it frees
    // no place: ann still cannot open a second session.
    let delete = http
        .delete(&server.resource)
        .bearer_auth(&ann)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert!(!delete.status().is_success(), "{}", delete.status());
    assert_eq!(server.initialize(&http, &ann).await.status(), 429);
    assert_eq!(server.initialize(&http, &cat).await.status(), 503);
}

/// An interactive MCP client, as the current MCP authorization spec has it: rmcp's own
/// authorization-code client discovers the fake issuer from the 401, registers itself
/// dynamically (RFC 7591), sends the person to the authorization endpoint with PKCE and the
/// resource (signed in here through the page's non-interactive mode), checks `iss` (RFC 9207),
/// exchanges the code, and calls a tool. No token pasted anywhere.
#[tokio::test]
async fn an_interactive_mcp_client_signs_in_with_the_authorization_code_flow() {
    let server = McpServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = http
        .post(&server.resource)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "curl", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut manager = AuthorizationManager::new(server.resource.as_str())
        .await
        .unwrap();
    let resolution = manager
        .resolve_metadata_from_challenge(Some(&challenge))
        .await
        .unwrap();
    manager.set_metadata(resolution.metadata);
    let redirect = "http://127.0.0.1:8765/callback";
    let registered = manager
        .register_client("notes desktop", redirect, &["notes:read"])
        .await
        .unwrap();
    assert!(registered.client_id.starts_with("dcr-"));
    assert!(registered.client_secret.is_none(), "a public client");
    let authorize = manager
        .get_authorization_url(&["notes:read"])
        .await
        .unwrap();
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    // The person signs in; the browser lands on the redirect URI with the code.
    let landed = http
        .get(&authorize)
        .header("x-fake-login", r#"{"user": "dana"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(landed.status(), 303);
    let location = reqwest::Url::parse(landed.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect));
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap()
    };
    manager
        .exchange_code_for_token_with_issuer(&param("code"), &param("state"), Some(&param("iss")))
        .await
        .unwrap();
    let token = manager.get_access_token().await.unwrap();

    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.resource.as_str())
                .auth_header(token),
        ))
        .await
        .unwrap();
    client
        .call_tool(CallToolRequestParams::new("read_notes"))
        .await
        .unwrap();
    client.cancel().await.unwrap();
}
