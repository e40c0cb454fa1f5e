//! The fake issuer's HTTP routes: discovery, keys, the token endpoint, fault injection, and
//! the transmitter's endpoints.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::authorize;
use super::control;
use super::debugger;
use super::fault::fault;
use super::grants::{self, TokenRequest};
use super::managed_identity;
pub(super) use crate::state::{Endpoint, Fault};
use crate::state::{Mode, Shared, lock};
use crate::token::TokenBuilder;
use crate::transmitter::routes as transmitter;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The CORS layer for `origins`, if any: each must be an origin exactly as a browser sends it
/// (`http(s)://host[:port]`, lowercase, no default port, no path), or it could never match.
pub(super) fn cors(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::new();
    for origin in origins {
        let valid = serialized_origin(origin)
            .filter(|canonical| canonical == origin)
            .and_then(|_| axum::http::HeaderValue::from_str(origin).ok());
        allowed.push(valid.ok_or_else(|| origin.clone())?);
    }
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderName::from_static("dpop"),
            ])
            .expose_headers([
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderName::from_static("dpop-nonce"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// How a browser serializes the origin of `url` (the HTML standard's ASCII serialization of an
/// http(s) origin): lowercase scheme and host, the port only when it is not the scheme's default.
fn serialized_origin(url: &str) -> Option<String> {
    let uri = url.parse::<axum::http::Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    let (_, after_host) = authority.as_str().rsplit_once(authority.host())?;
    let port = match after_host.strip_prefix(':') {
        None if after_host.is_empty() => None,
        None => return None,
        Some(digits) => {
            let port: u16 = digits.parse().ok().filter(|p| *p != 0)?;
            (port.to_string() == digits).then_some(port)?;
            (port != default_port).then_some(port)
        }
    };
    if host.is_empty() || authority.as_str().contains('@') {
        return None;
    }
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

pub(super) fn router(state: Arc<Shared>, cors: Option<CorsLayer>) -> Router {
    let router = match state.mode {
        Mode::Oidc => Router::new()
            .route("/.well-known/openid-configuration", get(oidc_discovery))
            .route(
                "/.well-known/oauth-authorization-server",
                get(oauth_authorization_server),
            )
            .route("/jwks", get(oidc_jwks))
            .route("/token", post(token_endpoint))
            .route(
                "/authorize",
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route("/userinfo", get(grants::userinfo).post(grants::userinfo))
            .route("/revoke", post(grants::revoke))
            .route("/logout", get(grants::end_session))
            .route("/register", post(grants::register)),
        Mode::Entra { .. } => Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(entra_discovery_v2),
            )
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(entra_discovery_v1),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(entra_jwks))
            .route("/{tenant}/discovery/keys", get(entra_jwks))
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
            .route(
                "/{tenant}/oauth2/v2.0/authorize",
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route(
                "/{tenant}/oauth2/authorize",
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route("/{tenant}/oauth2/v2.0/logout", get(grants::end_session))
            .route(
                "/oidc/userinfo",
                get(grants::userinfo).post(grants::userinfo),
            )
            .route("/revoke", post(grants::revoke)),
    };
    // Only the provider's own endpoints answer CORS, and only for the origins given.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .route("/", get(debugger::page))
        .route("/_fake", get(control::page))
        .route("/_fake/state", get(control::state_json))
        .route("/_fake/keys/rotate", post(control::rotate))
        .route("/_fake/debugger/mint", post(debugger::mint))
        .route("/_fake/debugger/check", post(debugger::check))
        .route("/_fake/token", post(grants::mint))
        .route("/msi/token", get(managed_identity::app_service))
        .route(
            "/metadata/identity/oauth2/token",
            get(managed_identity::imds),
        )
        .route(
            "/.well-known/ssf-configuration",
            get(transmitter::configuration),
        )
        .route(
            "/ssf/streams",
            post(transmitter::create_stream).get(transmitter::get_stream),
        )
        .route("/ssf/status", get(transmitter::stream_status))
        .route("/ssf/verify", post(transmitter::verify))
        .route("/ssf/poll/{stream_id}", post(transmitter::poll))
        .route(
            "/_fake/faults/{endpoint}",
            post(set_fault_endpoint).delete(clear_fault_endpoint),
        )
        .with_state(state)
}

/// For an issuer at `/{id}` of a server holding several: its debugger page at `/{id}/` too (a
/// nested router answers `/{id}` only), and in generic mode its metadata where RFC 8414 §3.1
/// puts it for an issuer with a path, `/.well-known/{oauth-authorization-server,
/// openid-configuration}/{id}` (MCP clients look there first).
pub(super) fn at_root(state: Arc<Shared>, id: &str, cors: Option<CorsLayer>) -> Router {
    let pages = Router::new().route(&format!("/{id}/"), get(debugger::page));
    if state.mode != Mode::Oidc {
        return pages.with_state(state);
    }
    let metadata = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server/{id}"),
            get(oauth_authorization_server),
        )
        .route(
            &format!("/.well-known/openid-configuration/{id}"),
            get(oauth_authorization_server),
        );
    // The metadata is the provider's, and answers CORS as its other endpoints do.
    let metadata = match cors {
        Some(cors) => metadata.layer(cors),
        None => metadata,
    };
    pages.merge(metadata).with_state(state)
}

async fn set_fault_endpoint(
    State(state): State<Arc<Shared>>,
    Path(endpoint): Path<String>,
    Json(request): Json<crate::state::FaultRequest>,
) -> StatusCode {
    let Some(endpoint) = Endpoint::named(&endpoint) else {
        return StatusCode::NOT_FOUND;
    };
    // None, several, or an unknown kind: nothing is set.
    let Some(fault) = request.fault() else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    state.faults().insert(endpoint, fault);
    StatusCode::NO_CONTENT
}

async fn clear_fault_endpoint(
    State(state): State<Arc<Shared>>,
    Path(endpoint): Path<String>,
) -> StatusCode {
    match Endpoint::named(&endpoint) {
        Some(endpoint) => {
            state.faults().remove(&endpoint);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn json_response(mut document: Value, fault: Option<Fault>, max_age: Option<u64>) -> Response {
    if let Some(Fault::Oversized(size)) = fault {
        document["padding"] = json!("x".repeat(size));
    }
    let mut response = Json(document).into_response();
    if let Some(secs) = max_age
        && let Ok(value) = HeaderValue::from_str(&format!("public, max-age={secs}"))
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

fn discovery_document(
    issuer: &str,
    jwks_uri: &str,
    token_endpoint: &str,
    fault: &Option<Fault>,
) -> Value {
    let issuer = if *fault == Some(Fault::WrongIssuer) {
        format!("{issuer}/wrong")
    } else {
        issuer.to_owned()
    };
    let mut document = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": token_endpoint,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            JWT_BEARER,
            grants::TOKEN_EXCHANGE,
        ],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
            "private_key_jwt",
        ],
        "authorization_response_iss_parameter_supported": true,
    });
    if *fault == Some(Fault::EmptyKeySet)
        && let Some(map) = document.as_object_mut()
    {
        map.remove("jwks_uri");
    }
    document
}

async fn oidc_discovery(State(state): State<Arc<Shared>>) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let document = oidc_document(&state, &fault);
    json_response(document, fault, None)
}

/// The generic issuer's metadata, the same at both well-known addresses.
fn oidc_document(state: &Shared, fault: &Option<Fault>) -> Value {
    let base = &state.base;
    let mut document = discovery_document(
        base,
        &format!("{base}/jwks"),
        &format!("{base}/token"),
        fault,
    );
    document["userinfo_endpoint"] = json!(format!("{base}/userinfo"));
    document["revocation_endpoint"] = json!(format!("{base}/revoke"));
    document["end_session_endpoint"] = json!(format!("{base}/logout"));
    document["registration_endpoint"] = json!(format!("{base}/register"));
    document["client_id_metadata_document_supported"] = json!(true);
    document["code_challenge_methods_supported"] = if state.allow_plain_pkce {
        json!(["S256", "plain"])
    } else {
        json!(["S256"])
    };
    document
}

/// RFC 8414 authorization-server metadata: the discovery document.
async fn oauth_authorization_server(State(state): State<Arc<Shared>>) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let document = oidc_document(&state, &fault);
    json_response(document, fault, None)
}

async fn oidc_jwks(State(state): State<Arc<Shared>>) -> Response {
    jwks_response(&state, None).await
}

async fn jwks_response(state: &Shared, issuer_member: Option<&str>) -> Response {
    let fault = match fault(state, Endpoint::Jwks).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let document = if fault == Some(Fault::EmptyKeySet) {
        json!({ "keys": [] })
    } else {
        state.jwks(issuer_member)
    };
    let max_age = *lock(&state.jwks_max_age);
    json_response(document, fault, max_age)
}

async fn entra_discovery_v2(state: State<Arc<Shared>>, tenant: Path<String>) -> Response {
    entra_discovery(state, tenant, EntraVersion::V2).await
}

async fn entra_discovery_v1(state: State<Arc<Shared>>, tenant: Path<String>) -> Response {
    entra_discovery(state, tenant, EntraVersion::V1).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntraVersion {
    V1,
    V2,
}

/// Entra's discovery documents: v2 at `/{tenant}/v2.0/…`, v1 at `/{tenant}/…`; the multi-tenant
/// aliases answer the templated `{tenantid}` issuer.
async fn entra_discovery(
    State(state): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    version: EntraVersion,
) -> Response {
    let fault = match fault(&state, Endpoint::Discovery).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let base = &state.base;
    let issuer_tenant = if is_multi_tenant_alias(&tenant) {
        "{tenantid}"
    } else {
        &tenant
    };
    let (issuer, keys, token) = match version {
        EntraVersion::V2 => (
            format!("{base}/{issuer_tenant}/v2.0"),
            format!("{base}/{tenant}/discovery/v2.0/keys"),
            format!("{base}/{tenant}/oauth2/v2.0/token"),
        ),
        EntraVersion::V1 => (
            format!("{base}/sts/{issuer_tenant}/"),
            format!("{base}/{tenant}/discovery/keys"),
            format!("{base}/{tenant}/oauth2/token"),
        ),
    };
    let mut document = discovery_document(&issuer, &keys, &token, &fault);
    if version == EntraVersion::V2 {
        document["authorization_endpoint"] =
            json!(format!("{base}/{tenant}/oauth2/v2.0/authorize"));
        document["end_session_endpoint"] = json!(format!("{base}/{tenant}/oauth2/v2.0/logout"));
        document["userinfo_endpoint"] = json!(format!("{base}/oidc/userinfo"));
        document["code_challenge_methods_supported"] = if state.allow_plain_pkce {
            json!(["S256", "plain"])
        } else {
            json!(["S256"])
        };
        document["tenant_region_scope"] = json!("WW");
    } else {
        document["authorization_endpoint"] = json!(format!("{base}/{tenant}/oauth2/authorize"));
    }
    json_response(document, fault, None)
}

async fn entra_jwks(State(state): State<Arc<Shared>>) -> Response {
    let issuer = format!("{}/{{tenantid}}/v2.0", state.base);
    jwks_response(&state, Some(&issuer)).await
}

fn is_multi_tenant_alias(tenant: &str) -> bool {
    matches!(tenant, "common" | "organizations" | "consumers")
}

/// What a token request's `claims` asks of the access token: the CAE capability (`xms_cc`
/// values), and a token valid from an instant on (`nbf`, a claims challenge after a revocation).
fn claims_request(claims: &str) -> Option<(bool, Option<i64>)> {
    let request: serde_json::Value = serde_json::from_str(claims).ok()?;
    let access_token = request.get("access_token")?;
    let cae_capable = access_token
        .pointer("/xms_cc/values")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|values| values.iter().any(|v| v.as_str() == Some("cp1")));
    let not_before = match access_token.pointer("/nbf/value") {
        Some(serde_json::Value::String(text)) => Some(text.parse().ok()?),
        Some(value) => Some(value.as_i64()?),
        None => None,
    };
    Some((cae_capable, not_before))
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn token_endpoint(
    State(state): State<Arc<Shared>>,
    tenant: Option<Path<String>>,
    headers: axum::http::HeaderMap,
    Form(mut request): Form<TokenRequest>,
) -> Response {
    if let Err(response) = fault(&state, Endpoint::Token).await {
        return response;
    }
    let answer = |(status, body): (u16, serde_json::Value)| {
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(body),
        )
            .into_response()
    };
    if let Some(next) = crate::state::lock(&state.token_errors).pop_front() {
        return answer(next);
    }
    let oauth_error = |code: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    };
    // `client_secret_basic` (RFC 6749 §2.3.1): the client's id and secret in the header.
    if let Some((id, secret)) = grants::basic_credentials(&headers) {
        request.client_id.get_or_insert(id);
        request.client_secret.get_or_insert(secret);
    }
    let Some(client_id) = request.client_id.clone().filter(|c| !c.is_empty()) else {
        return oauth_error("invalid_request", "client_id is required");
    };
    let endpoint_url = match &tenant {
        Some(Path(tenant)) => format!("{}/{tenant}/oauth2/v2.0/token", state.base),
        None => format!("{}/token", state.base),
    };
    let now = crate::clock::unix_now();
    let registered = crate::state::lock(&state.clients).get(&client_id).cloned();
    // A public client has nothing to prove itself with.
    if let Some(client) = registered.as_ref().filter(|c| !c.is_public())
        && let Err(error) = crate::clients::authenticate(
            client,
            request.client_secret.as_deref(),
            request.client_assertion_type.as_deref(),
            request.client_assertion.as_deref(),
            &endpoint_url,
            now,
        )
    {
        return answer(error);
    }
    match request.grant_type.as_deref() {
        Some("authorization_code") => {
            return grants::authorization_code(&state, &request, &client_id);
        }
        Some("refresh_token") => return grants::refresh(&state, &request, &client_id),
        Some(grants::TOKEN_EXCHANGE) => {
            return grants::token_exchange(&state, &request, &client_id);
        }
        _ => {}
    }
    // Entra-style `scope=api://orders/.default` (or `api://orders/Orders.Read`) names the audience.
    let mut scopes: Vec<String> = Vec::new();
    let mut audience = request.resource.clone().or(request.audience.clone());
    for scope in request
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        match scope.strip_suffix("/.default") {
            Some(resource) => audience = Some(resource.to_owned()),
            None => match scope.rsplit_once('/') {
                Some((resource, name)) if resource.contains(':') => {
                    audience = Some(resource.to_owned());
                    scopes.push(name.to_owned());
                }
                _ => scopes.push(scope.to_owned()),
            },
        }
    }
    let mut builder = match request.grant_type.as_deref() {
        // Entra grants an app only the application permissions it holds on a resource:
        // `{resource}/.default`, never a delegated scope.
        Some("client_credentials")
            if matches!(state.mode, Mode::Entra { .. }) && !scopes.is_empty() =>
        {
            return answer(crate::clients::entra_error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
            ));
        }
        Some("client_credentials") => TokenBuilder::new(&state).client(&client_id).app_only(),
        Some(JWT_BEARER) => {
            let Some(client) = registered.as_ref().filter(|c| !c.is_public()) else {
                return answer(crate::clients::entra_error(
                    400,
                    "unauthorized_client",
                    700016,
                    "On-behalf-of needs a registered confidential client.",
                ));
            };
            match on_behalf_of(&state, client, &request, tenant.as_ref(), now) {
                Ok(builder) => builder,
                Err(error) => return answer(error),
            }
        }
        _ => {
            return oauth_error(
                "unsupported_grant_type",
                "authorization_code, refresh_token, client_credentials, token exchange or the jwt-bearer grant (on-behalf-of)",
            );
        }
    };
    // As Entra does, a claims request shapes the token: `xms_cc` marks a CAE-capable client, and
    // an `nbf` (a claims challenge's answer) gets a token issued no earlier than it.
    if let Some(claims) = request.claims.as_deref().filter(|c| !c.is_empty()) {
        let Some((cae_capable, not_before)) = claims_request(claims) else {
            return oauth_error("invalid_request", "claims is not a valid claims request");
        };
        if cae_capable {
            builder = builder.cae_capable();
        }
        if let Some(not_before) = not_before {
            let issued_at = now.max(not_before);
            builder = builder.issued_at(issued_at).not_before(issued_at);
        }
    }
    if let Some(Path(tenant)) = &tenant {
        builder = builder.tenant(tenant);
    }
    if let Some(audience) = audience {
        builder = builder.audience(audience);
    }
    if !scopes.is_empty() {
        builder = builder.scopes(scopes);
    }
    if let Some(roles) = request.roles {
        builder = builder.roles(roles.split(' ').filter(|r| !r.is_empty()));
    }
    let lifetime = builder.lifetime_secs();
    match builder.try_sign() {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }))
        .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
    }
}

/// The on-behalf-of grant: the incoming access token must be this issuer's, current, a user's,
/// and for the calling client (one of its audiences); the new token keeps its user.
fn on_behalf_of<'a>(
    state: &'a Shared,
    client: &crate::clients::ClientRegistration,
    request: &TokenRequest,
    tenant: Option<&Path<String>>,
    now: i64,
) -> Result<TokenBuilder<'a>, (u16, serde_json::Value)> {
    use crate::clients::{entra_error, split};
    let invalid = |code, text| entra_error(400, "invalid_grant", code, text);
    if request.requested_token_use.as_deref() != Some("on_behalf_of") {
        return Err(invalid(50013, "requested_token_use must be on_behalf_of."));
    }
    let Some((header, claims, signing_input, signature)) =
        request.assertion.as_deref().and_then(split)
    else {
        return Err(invalid(50013, "Assertion is not a JWT."));
    };
    let key = state
        .key(header.get("kid").and_then(serde_json::Value::as_str))
        .map_err(|_| invalid(50013, "Assertion signed by an unknown key."))?;
    // The key's own algorithm, whatever the header says.
    let verified = header.get("alg").and_then(serde_json::Value::as_str)
        == Some(key.algorithm().as_str())
        && key.verifies(key.algorithm(), signing_input.as_bytes(), &signature);
    if !verified {
        return Err(invalid(50013, "Assertion failed signature validation."));
    }
    if claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Err(invalid(
            500133,
            "Assertion is not within its valid time range.",
        ));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => vec![aud.as_str()],
        Some(serde_json::Value::Array(auds)) => auds.iter().filter_map(|a| a.as_str()).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|aud| client.audiences.iter().any(|a| a == aud))
    {
        return Err(invalid(
            50013,
            "Assertion audience does not match the client.",
        ));
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    if text("idtyp").as_deref() == Some("app") || claims.get("scp").is_none() {
        return Err(invalid(
            50013,
            "Only a user's token can be exchanged on its behalf.",
        ));
    }
    // The user's token is of the tenant the exchange is asked of (a multi-tenant alias takes
    // any).
    let is_guid = |t: &str| t.len() == 36 && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if let (Some(Path(tenant)), Some(tid)) = (tenant, text("tid"))
        && is_guid(tenant)
        && !tid.eq_ignore_ascii_case(tenant)
    {
        return Err(invalid(
            50013,
            "Assertion is of another tenant than the request.",
        ));
    }
    let mut builder = TokenBuilder::new(state).client(&client.client_id);
    if let Some(sub) = text("sub") {
        builder = builder.subject(sub);
    }
    if let Some(oid) = text("oid") {
        builder = builder.object_id(oid);
    }
    Ok(builder)
}
