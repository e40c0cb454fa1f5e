//! A fake Microsoft Graph on 127.0.0.1, for group overage: users' transitive security groups
//! behind `POST /v1.0/users/{id}/getMemberObjects`, answered in pages (`@odata.nextLink`), with
//! throttling, outages and CAE revocations on demand.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::state::lock;

/// The audience Graph's tokens carry.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// A fake Microsoft Graph. It checks that each request carries a bearer token for Graph (its
/// `aud`; it does not verify the signature, the fake issuer's tests do that), answers each user's
/// groups a page at a time, and can be told to throttle (429 with `Retry-After`) or fail (503).
/// Stops when dropped.
#[derive(Debug)]
pub struct FakeGraph {
    base: String,
    state: Arc<GraphState>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct GraphState {
    members: Mutex<HashMap<String, Vec<String>>>,
    page_size: AtomicUsize,
    answers: Mutex<VecDeque<(u16, Option<String>)>>,
    hits: AtomicU64,
    /// Tokens issued before this instant (unix seconds; 0: none) are revoked.
    revoked_before: AtomicU64,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGraph {
    /// Starts on a free port of 127.0.0.1, answering 100 groups per page.
    ///
    /// # Errors
    ///
    /// When the listener cannot be bound.
    pub async fn start() -> std::io::Result<FakeGraph> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(GraphState::default());
        state.page_size.store(100, Ordering::SeqCst);
        let app = axum::Router::new()
            .route(
                "/v1.0/users/{id}/getMemberObjects",
                post(member_objects).get(member_objects),
            )
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeGraph {
            base,
            state,
            server,
        })
    }

    /// Its v1.0 root, as `https://graph.microsoft.com/v1.0` is Graph's.
    pub fn url(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    /// Makes `user` (an object id) a member of `groups` (object ids).
    pub fn add_member<I, S>(&self, user: &str, groups: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        lock(&self.state.members)
            .entry(user.to_owned())
            .or_default()
            .extend(groups.into_iter().map(Into::into));
    }

    /// How many groups each page holds.
    pub fn page_size(&self, size: usize) {
        self.state.page_size.store(size.max(1), Ordering::SeqCst);
    }

    /// Makes the next request answer `status` (429, 503, …), with `Retry-After` seconds when
    /// given; several calls queue answers.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        lock(&self.state.answers).push_back((status, retry_after.map(|secs| secs.to_string())));
    }

    /// Makes the next request answer `status` with `Retry-After` as an HTTP date, `until`
    /// (Graph and its gateways send either form).
    pub fn fail_next_until(&self, status: u16, until: std::time::SystemTime) {
        lock(&self.state.answers).push_back((status, Some(httpdate::fmt_http_date(until))));
    }

    /// Revokes every token issued before `unix_secs` (an administrator revoking the API's
    /// sessions, a leaked credential), as Graph does for continuous access evaluation: a
    /// CAE-capable token (`xms_cc` holding `cp1`) issued earlier is answered `401` with Graph's
    /// claims challenge (`error="insufficient_claims"`, claims asking for `nbf` at that instant);
    /// a token that is not CAE-capable is still accepted, as Graph relies on its short lifetime.
    pub fn revoke_tokens_issued_before(&self, unix_secs: u64) {
        self.state.revoked_before.store(unix_secs, Ordering::SeqCst);
    }

    /// How many requests it received.
    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }
}

#[derive(Deserialize)]
struct Page {
    page: Option<usize>,
}

async fn member_objects(
    State(state): State<Arc<GraphState>>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    if let Some((status, retry_after)) = lock(&state.answers).pop_front() {
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            Json(json!({"error": {"code": "TooManyRequests", "message": "try later"}})),
        )
            .into_response();
        if let Some(value) = retry_after.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let claims = bearer_claims(&headers);
    if !claims
        .as_ref()
        .is_some_and(|claims| claims["aud"] == GRAPH_AUDIENCE)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
            .into_response();
    }
    let revoked_before = state.revoked_before.load(Ordering::SeqCst);
    if let Some(claims) = &claims
        && claims["iat"].as_u64().unwrap_or(0) < revoked_before
        && claims
            .pointer("/xms_cc")
            .and_then(Value::as_array)
            .is_some_and(|values| values.iter().any(|v| v == "cp1"))
    {
        return cae_challenge(revoked_before);
    }
    let groups = lock(&state.members).get(&id).cloned().unwrap_or_default();
    let size = state.page_size.load(Ordering::SeqCst);
    let index = page.page.unwrap_or(0);
    let start = index.saturating_mul(size).min(groups.len());
    let end = start.saturating_add(size).min(groups.len());
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
        "value": groups[start..end],
    });
    if end < groups.len()
        && let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok())
    {
        body["@odata.nextLink"] = Value::String(format!(
            "http://{host}/v1.0/users/{id}/getMemberObjects?page={}",
            index + 1
        ));
    }
    Json(body).into_response()
}

/// Graph's answer to a revoked CAE-capable token: 401 with its claims challenge.
fn cae_challenge(revoked_before: u64) -> Response {
    let claims =
        json!({"access_token": {"nbf": {"essential": true, "value": revoked_before.to_string()}}});
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{}""#,
        base64::engine::general_purpose::STANDARD.encode(claims.to_string())
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Continuous access evaluation resulted in challenge"}})),
    )
        .into_response();
    if let Ok(value) = header::HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The claims of the request's bearer token (decoded, not verified).
fn bearer_claims(headers: &HeaderMap) -> Option<Value> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
}
