//! The grants of a person's sign-in and what follows it: the authorization code grant with PKCE,
//! refresh tokens with rotation (RFC 9700 §4.14.2), ID tokens, `userinfo`, RFC 7009 revocation
//! (which also tells warden's CAE receivers, over Shared Signals, that the session ended),
//! `end_session`, RFC 7591 dynamic client registration, and `POST /_fake/token`, a token with
//! any claims.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::pages::{STYLE, escape};
use crate::authorization::{Grant, OIDC_SCOPES, check_pkce, object_id_of, redirect_allowed};
use crate::clients::ClientRegistration;
use crate::state::{Mode, Shared, lock};
use crate::token::TokenBuilder;

/// The form of a token request, every grant's parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenRequest {
    pub(super) grant_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) client_assertion_type: Option<String>,
    pub(super) client_assertion: Option<String>,
    /// The on-behalf-of grant's incoming access token, and `on_behalf_of`.
    pub(super) assertion: Option<String>,
    pub(super) requested_token_use: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) resource: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) roles: Option<String>,
    /// A claims request (OpenID Connect Core §5.5), as MSAL sends it: the client's capabilities
    /// (`xms_cc`) and the answer to a claims challenge (`nbf`).
    pub(super) claims: Option<String>,
    /// The authorization code grant.
    pub(super) code: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) code_verifier: Option<String>,
    /// The refresh token grant.
    pub(super) refresh_token: Option<String>,
    /// Token exchange (RFC 8693).
    pub(super) subject_token: Option<String>,
    pub(super) subject_token_type: Option<String>,
    pub(super) actor_token: Option<String>,
    pub(super) actor_token_type: Option<String>,
    pub(super) requested_token_type: Option<String>,
}

/// RFC 8693's grant type.
pub(super) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a token of this
/// issuer (the subject, and an actor when delegating) exchanged for an access token for another
/// audience, with `act` naming the actor. A target must be a URI or a registered client's id:
/// anything else is `invalid_target`.
pub(super) fn token_exchange(state: &Shared, request: &TokenRequest, client_id: &str) -> Response {
    let invalid =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
    let (Some(subject), Some(subject_type)) = (
        request.subject_token.as_deref(),
        request.subject_token_type.as_deref(),
    ) else {
        return invalid("subject_token and subject_token_type are required");
    };
    if ![ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE].contains(&subject_type) {
        return invalid("subject_token_type must be an access token, a JWT or an ID token");
    }
    if request.actor_token.is_some() != request.actor_token_type.is_some() {
        return invalid("actor_token_type is required with actor_token, and only with it");
    }
    if request
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE && t != JWT_TOKEN_TYPE)
    {
        return invalid("only an access token can be issued");
    }
    let accept = if subject_type == ACCESS_TOKEN_TYPE {
        Accept::AccessTokens
    } else {
        Accept::AnyToken
    };
    let Some(subject) = verified_claims(state, subject, accept) else {
        return invalid("subject_token is not a current token of this issuer");
    };
    let actor = match request.actor_token.as_deref() {
        Some(actor) => match verified_claims(state, actor, Accept::AnyToken) {
            Some(actor) => Some(actor),
            None => return invalid("actor_token is not a current token of this issuer"),
        },
        None => None,
    };
    if request.audience.is_some() && request.resource.is_some() {
        return invalid("name the target once: audience or resource");
    }
    if request
        .actor_token_type
        .as_deref()
        .is_some_and(|t| ![ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE].contains(&t))
    {
        return invalid("actor_token_type must be an access token, a JWT or an ID token");
    }
    let target = request.audience.clone().or(request.resource.clone());
    if let Some(target) = &target {
        let known =
            reqwest::Url::parse(target).is_ok() || lock(&state.clients).contains_key(target);
        if !known {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "the audience or resource is neither a URI nor a registered client",
            );
        }
    }
    let text =
        |claims: &Value, name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut builder = TokenBuilder::new(state).client(client_id);
    if let Some(sub) = text(&subject, "sub") {
        builder = builder.subject(sub);
    }
    if let Some(oid) = text(&subject, "oid") {
        builder = builder.object_id(oid);
    }
    if let Some(target) = target {
        builder = builder.audience(target);
    }
    let scopes: Vec<String> = request
        .scope
        .clone()
        .or_else(|| text(&subject, "scope").or_else(|| text(&subject, "scp")))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !scopes.is_empty() {
        builder = builder.scopes(scopes.clone());
    }
    if let Some(actor) = actor {
        let mut act = Map::new();
        if let Some(sub) = text(&actor, "sub") {
            act.insert("sub".to_owned(), json!(sub));
        }
        // A chain of delegation nests (RFC 8693 §4.1).
        if let Some(previous) = actor.get("act") {
            act.insert("act".to_owned(), previous.clone());
        }
        builder = builder.claim("act", Value::Object(act));
    }
    let lifetime = builder.lifetime_secs();
    match builder.try_sign() {
        Ok(token) => {
            let mut body = json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": lifetime,
            });
            if !scopes.is_empty() {
                body["scope"] = json!(scopes.join(" "));
            }
            Json(body).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
    }
}

/// The client id and secret of an `Authorization: Basic` header (each form-urlencoded, RFC 6749
/// §2.3.1).
pub(super) fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |part: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("x={part}")).ok()?;
        pairs.into_iter().next().map(|(_, value)| value)
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `grant_type=authorization_code`: the code, once, by the client it was issued to, with the
/// same redirect URI and the PKCE verifier.
pub(super) fn authorization_code(
    state: &Shared,
    request: &TokenRequest,
    client_id: &str,
) -> Response {
    let Some(code) = request.code.as_deref() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        );
    };
    // Removed whatever happens next: a code is good once, and presented again it revokes what
    // it gave.
    let pending = {
        let mut authorizations = lock(&state.authorizations);
        match authorizations.codes.remove(code) {
            Some(pending) => pending,
            None => {
                if let Some(family) = authorizations.redeemed.get(code).copied() {
                    authorizations.revoke_family(family);
                    return invalid_grant(
                        "the code was already redeemed: the tokens it gave are revoked",
                    );
                }
                return invalid_grant("the code is unknown");
            }
        }
    };
    if pending.expires_at <= crate::clock::unix_now() {
        return invalid_grant("the code expired");
    }
    if pending.grant.client_id != client_id {
        return invalid_grant("the code was issued to another client");
    }
    if request.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri is not the one of the authorization request");
    }
    if let Err(reason) = check_pkce(pending.challenge.as_ref(), request.code_verifier.as_deref()) {
        return invalid_grant(reason);
    }
    if let Some(resource) = &request.resource
        && pending.grant.resource.as_ref() != Some(resource)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "resource is not the one of the authorization request",
        );
    }
    let (family, refresh_token) = {
        let mut authorizations = lock(&state.authorizations);
        let (family, refresh_token) = authorizations.new_family(pending.grant.clone());
        authorizations.redeemed.insert(code.to_owned(), family);
        (family, refresh_token)
    };
    tokens(state, &pending.grant, family, refresh_token)
}

/// `grant_type=refresh_token`: each refresh token is good once; a used one presented again
/// revokes its whole family, the token issued in its place included.
pub(super) fn refresh(state: &Shared, request: &TokenRequest, client_id: &str) -> Response {
    let Some(presented) = request.refresh_token.as_deref() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        );
    };
    let mut authorizations = lock(&state.authorizations);
    let Some(&(family, used)) = authorizations.refresh_tokens.get(presented) else {
        return invalid_grant("the refresh token is unknown");
    };
    let Some((mut grant, revoked)) = authorizations.families.get(&family).cloned() else {
        return invalid_grant("the refresh token is unknown");
    };
    if grant.client_id != client_id {
        return invalid_grant("the refresh token was issued to another client");
    }
    if used {
        authorizations.revoke_family(family);
        return invalid_grant("the refresh token was already used: its grant is revoked");
    }
    if revoked {
        return invalid_grant("the refresh token's grant was revoked");
    }
    // RFC 6749 §6: the same scopes, or fewer; RFC 8707: the same resource.
    if let Some(scope) = request.scope.as_deref() {
        let granted = grant.api_scopes();
        let asked: Vec<String> = scope
            .split_whitespace()
            .filter(|s| !OIDC_SCOPES.contains(s))
            .map(str::to_owned)
            .collect();
        if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("{extra} was not granted"),
            );
        }
        grant.login.scopes = Some(asked);
    }
    if request.resource.is_some() && request.resource != grant.resource {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "resource is not the grant's",
        );
    }
    authorizations
        .refresh_tokens
        .insert(presented.to_owned(), (family, true));
    let refresh_token = authorizations.refresh_token_of(family);
    drop(authorizations);
    tokens(state, &grant, family, refresh_token)
}

/// The token response for a grant: an access token, an ID token when `openid` was asked, the
/// refresh token.
fn tokens(state: &Shared, grant: &Grant, family: u64, refresh_token: String) -> Response {
    // The token's id, chosen here to revoke it with its family.
    let id = crate::keys::random_id();
    let id_claim = match state.mode {
        Mode::Oidc => "jti",
        Mode::Entra { .. } => "uti",
    };
    let access = access_token(state, grant).claim(id_claim, id.as_str());
    lock(&state.authorizations)
        .family_access_tokens
        .entry(family)
        .or_default()
        .push(id);
    let lifetime = access.lifetime_secs();
    let Ok(access_token) = access.try_sign() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response();
    };
    let mut scopes = grant.api_scopes();
    scopes.extend(
        grant
            .requested
            .iter()
            .filter(|s| OIDC_SCOPES.contains(&s.as_str()))
            .cloned(),
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scopes.join(" "),
        "refresh_token": refresh_token,
    });
    if grant.openid() {
        match id_token(state, grant).try_sign() {
            Ok(id_token) => body["id_token"] = json!(id_token),
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
        }
    }
    Json(body).into_response()
}

/// Who the grant's user is, in either mode's claims.
fn as_user<'a>(state: &'a Shared, grant: &Grant) -> TokenBuilder<'a> {
    let user = &grant.login.user;
    let mut builder = TokenBuilder::new(state)
        .client(&grant.client_id)
        .subject(user)
        .claim("preferred_username", user.as_str())
        .claim("name", user.as_str());
    if let Mode::Entra { .. } = state.mode {
        builder = builder.object_id(object_id_of(user));
        if let Some(tenant) = grant.tenant.as_deref().filter(|t| is_guid(t)) {
            builder = builder.tenant(tenant);
        }
    }
    builder
}

fn is_guid(text: &str) -> bool {
    text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The access token: the audience the `resource` or an Entra-style scope (`api://orders/…`)
/// names, the scopes, roles, contexts and capability chosen, then the custom claims.
fn access_token<'a>(state: &'a Shared, grant: &Grant) -> TokenBuilder<'a> {
    let mut builder = as_user(state, grant);
    let mut audience = grant.resource.clone();
    let mut scopes = Vec::new();
    for scope in grant.api_scopes() {
        match scope.rsplit_once('/') {
            Some((resource, name)) if resource.contains(':') => {
                audience.get_or_insert_with(|| resource.to_owned());
                scopes.push(name.to_owned());
            }
            _ => scopes.push(scope),
        }
    }
    if let Some(audience) = audience {
        builder = builder.audience(audience);
    }
    if !scopes.is_empty() {
        builder = builder.scopes(scopes);
    }
    if !grant.login.roles.is_empty() {
        builder = builder.roles(grant.login.roles.clone());
    }
    if !grant.login.acrs.is_empty() {
        builder = builder.acrs(grant.login.acrs.clone());
    }
    if grant.login.cae {
        builder = builder.cae_capable();
    }
    for (name, value) in &grant.login.claims {
        builder = builder.claim(name.clone(), value.clone());
    }
    builder
}

/// The ID token (OpenID Connect Core §2): for the client, with the nonce and `auth_time`.
fn id_token<'a>(state: &'a Shared, grant: &Grant) -> TokenBuilder<'a> {
    let mut builder = as_user(state, grant)
        .audience(grant.client_id.clone())
        .header("typ", "JWT")
        .claim("auth_time", grant.auth_time);
    for name in ["scp", "scope", "client_id", "azpacr", "uti", "jti"] {
        builder = builder.without_claim(name);
    }
    if let Some(nonce) = &grant.nonce {
        builder = builder.claim("nonce", nonce.as_str());
    }
    builder
}

/// Which tokens a caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// Access tokens only (userinfo, revocation, an `access_token` subject).
    AccessTokens,
    /// Access tokens and ID tokens (a `jwt` or `id_token` subject).
    AnyToken,
}

/// The claims of a token this issuer signed, when a key its JWKS publishes verifies it with the
/// key's own algorithm, it is current (`nbf`, `exp`), of a kind the caller accepts, and not
/// revoked.
fn verified_claims(state: &Shared, token: &str, accept: Accept) -> Option<Value> {
    let (header, claims, signing_input, signature) = crate::clients::split(token)?;
    let key = state.published_key(header.get("kid").and_then(Value::as_str)?)?;
    let alg = header.get("alg").and_then(Value::as_str)?;
    if alg != key.algorithm().as_str()
        || !key.verifies(key.algorithm(), signing_input.as_bytes(), &signature)
    {
        return None;
    }
    let now = crate::clock::unix_now();
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let current = number("exp").is_some_and(|exp| exp > now)
        && number("nbf").is_none_or(|nbf| nbf <= now + 60);
    // This issuer's ID tokens carry `auth_time` and no scope; its access tokens never do.
    let id_token = claims.get("auth_time").is_some()
        && claims.get("scp").is_none()
        && claims.get("scope").is_none();
    if accept == Accept::AccessTokens && id_token {
        return None;
    }
    let revoked = token_id(&claims).is_some_and(|id| {
        lock(&state.authorizations)
            .revoked_access_tokens
            .contains(&id)
    });
    (current && !revoked).then_some(claims)
}

fn token_id(claims: &Value) -> Option<String> {
    claims
        .get("jti")
        .or_else(|| claims.get("uti"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `GET /userinfo` (Entra: `/oidc/userinfo`) with a bearer access token of this issuer.
pub(super) async fn userinfo(State(state): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(claims) = token.and_then(|token| verified_claims(&state, token, Accept::AccessTokens))
    else {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer error="invalid_token", error_description="not a current access token of this issuer""#,
            )],
        )
            .into_response();
    };
    let mut info = Map::new();
    for name in ["sub", "name", "preferred_username", "email", "oid", "tid"] {
        if let Some(value) = claims.get(name) {
            info.insert(name.to_owned(), value.clone());
        }
    }
    Json(Value::Object(info)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct RevocationRequest {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /revoke` (RFC 7009): a refresh token's whole grant, or an access token (its `userinfo`
/// then fails, and every Shared Signals stream hears a CAEP `session-revoked` for its subject).
/// 200 also for a token that is unknown or already invalid, as the RFC asks.
pub(super) async fn revoke(
    State(state): State<Arc<Shared>>,
    Form(request): Form<RevocationRequest>,
) -> Response {
    let Some(token) = request.token.as_deref().filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    // A registered confidential client proves itself, as at the token endpoint.
    let client_id = request.client_id.clone().unwrap_or_default();
    let registered = lock(&state.clients).get(&client_id).cloned();
    if let Some(client) = registered.filter(|c| !c.is_public())
        && let Err((status, body)) = crate::clients::authenticate(
            &client,
            request.client_secret.as_deref(),
            request.client_assertion_type.as_deref(),
            request.client_assertion.as_deref(),
            &format!("{}/revoke", state.base),
            crate::clock::unix_now(),
        )
    {
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
            Json(body),
        )
            .into_response();
    }
    // The hint only says where to look first (RFC 7009 §2.1); both are looked at.
    let _ = request.token_type_hint;
    let refresh = {
        let mut authorizations = lock(&state.authorizations);
        match authorizations.refresh_tokens.get(token).copied() {
            Some((family, _)) => {
                let owner = authorizations
                    .families
                    .get(&family)
                    .map(|(grant, _)| grant.client_id.clone());
                if owner.as_deref() != Some(client_id.as_str()) {
                    return invalid_grant("the token was issued to another client");
                }
                authorizations.revoke_family(family);
                true
            }
            None => false,
        }
    };
    if !refresh && let Some(claims) = verified_claims(&state, token, Accept::AccessTokens) {
        // RFC 7009 §2.1: only the client the token was issued to may revoke it.
        let issued_to = ["client_id", "azp", "appid"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str));
        if issued_to != Some(client_id.as_str()) {
            return invalid_grant("the token was issued to another client");
        }
        if let Some(id) = token_id(&claims) {
            lock(&state.authorizations).revoked_access_tokens.insert(id);
        }
        if let Some(subject) = claims.get("sub").and_then(Value::as_str) {
            let set = crate::transmitter::SetBuilder::new(&state)
                .caep(
                    "session-revoked",
                    json!({"event_timestamp": crate::clock::unix_now()}),
                )
                .user(subject);
            let jti = set.jti_value();
            if let Ok(set) = set.try_sign() {
                state.transmitter.deliver(&jti, &set).await;
            }
        }
    }
    StatusCode::OK.into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct LogoutRequest {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// `GET /logout` (OpenID Connect RP-Initiated Logout): back to `post_logout_redirect_uri` when
/// the client registered it (or, with no registration, when it is a loopback one), else a page.
pub(super) async fn end_session(
    State(state): State<Arc<Shared>>,
    Query(request): Query<LogoutRequest>,
) -> Response {
    let page = |status, text: &str| {
        (
            status,
            Html(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title>\
                 <style>{STYLE}</style></head><body><main><h1>Signed out</h1><p>{}</p></main></body></html>",
                escape(text)
            )),
        )
            .into_response()
    };
    let Some(uri) = request.post_logout_redirect_uri else {
        return page(StatusCode::OK, "You are signed out.");
    };
    let registered = request
        .client_id
        .and_then(|id| {
            lock(&state.clients)
                .get(&id)
                .map(|c| c.redirect_uris.clone())
        })
        .unwrap_or_default();
    if !redirect_allowed(&registered, &uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "post_logout_redirect_uri is not registered for the client: you are signed out, and stay here.",
        );
    }
    let location = match request.state {
        Some(value) => format!(
            "{uri}{}{}",
            if uri.contains('?') { '&' } else { '?' },
            serde_urlencoded::to_string([("state", value)]).unwrap_or_default()
        ),
        None => uri,
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// `POST /register` (RFC 7591): a client for the redirect URIs it gives, public with
/// `token_endpoint_auth_method: none`, else given a secret. 201 with the registered metadata.
pub(super) async fn register(State(state): State<Arc<Shared>>, body: String) -> Response {
    let metadata_error =
        |error: &str, description: &str| oauth_error(StatusCode::BAD_REQUEST, error, description);
    let Ok(Value::Object(mut metadata)) = serde_json::from_str::<Value>(&body) else {
        return metadata_error("invalid_client_metadata", "the body must be a JSON object");
    };
    let uris: Option<Vec<String>> = match metadata.get("redirect_uris") {
        Some(Value::Array(uris)) if !uris.is_empty() => uris
            .iter()
            .map(|uri| uri.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    };
    let Some(uris) = uris else {
        return metadata_error(
            "invalid_redirect_uri",
            "redirect_uris must be a non-empty array of strings",
        );
    };
    // What the fake cannot honour is refused, not registered and ignored.
    let strings = |name: &str| -> Result<Vec<String>, ()> {
        match metadata.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or(()))
                .collect(),
            Some(_) => Err(()),
        }
    };
    let supported_grants = strings("grant_types").is_ok_and(|grants| {
        grants
            .iter()
            .all(|g| g == "authorization_code" || g == "refresh_token")
    });
    let supported_responses =
        strings("response_types").is_ok_and(|types| types.iter().all(|t| t == "code"));
    if !supported_grants || !supported_responses {
        return metadata_error(
            "invalid_client_metadata",
            "grant_types may hold authorization_code and refresh_token, response_types code",
        );
    }
    for member in [
        "client_secret",
        "client_secret_expires_at",
        "jwks",
        "jwks_uri",
        "client_id",
    ] {
        if metadata.contains_key(member) {
            return metadata_error(
                "invalid_client_metadata",
                &format!("{member} is not the client's to send to this fake"),
            );
        }
    }
    if metadata
        .get("token_endpoint_auth_method")
        .is_some_and(|method| !method.is_string())
    {
        return metadata_error(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be a string",
        );
    }
    // https, or http to a loopback address (OAuth 2.1, MCP); never a fragment.
    if let Some(bad) = uris.iter().find(|uri| {
        uri.contains('#') || !(uri.starts_with("https://") || redirect_allowed(&[], uri))
    }) {
        return metadata_error(
            "invalid_redirect_uri",
            &format!("{bad} is neither https nor a loopback http URI, or has a fragment"),
        );
    }
    let method = metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic")
        .to_owned();
    let client_id = format!("dcr-{}", crate::keys::random_id());
    let mut client = ClientRegistration::new(&client_id);
    for uri in &uris {
        client = client.redirect_uri(uri);
    }
    match method.as_str() {
        "none" => {}
        "client_secret_basic" | "client_secret_post" => {
            let secret = crate::keys::random_id();
            client = client.secret(&secret);
            metadata.insert("client_secret".to_owned(), json!(secret));
            metadata.insert("client_secret_expires_at".to_owned(), json!(0));
        }
        _ => {
            return metadata_error(
                "invalid_client_metadata",
                "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
            );
        }
    }
    lock(&state.clients).insert(client_id.clone(), client);
    metadata.insert("client_id".to_owned(), json!(client_id));
    metadata.insert(
        "client_id_issued_at".to_owned(),
        json!(crate::clock::unix_now()),
    );
    metadata.insert("token_endpoint_auth_method".to_owned(), json!(method));
    metadata
        .entry("grant_types")
        .or_insert_with(|| json!(["authorization_code", "refresh_token"]));
    metadata
        .entry("response_types")
        .or_insert_with(|| json!(["code"]));
    (StatusCode::CREATED, Json(Value::Object(metadata))).into_response()
}

/// `POST /_fake/token`: a token with any claims, for tests in any language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MintRequest {
    /// Claims set on the token as given, over the mode's defaults.
    #[serde(default)]
    claims: Map<String, Value>,
    /// Claims the defaults would have that the token must not.
    #[serde(default)]
    without: Vec<String>,
    /// Its lifetime, in seconds (default an hour).
    lifetime_secs: Option<u64>,
}

pub(super) async fn mint(State(state): State<Arc<Shared>>, body: String) -> Response {
    let request: MintRequest = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(error) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!(
                    "the body must be {{\"claims\": {{…}}, \"without\": […], \"lifetime_secs\": n}}: {error}"
                ),
            );
        }
    };
    let mut builder = TokenBuilder::new(&state);
    if let Some(secs) = request.lifetime_secs {
        builder = builder.lifetime(std::time::Duration::from_secs(secs));
    }
    for (name, value) in request.claims {
        builder = builder.claim(name, value);
    }
    for name in request.without {
        builder = builder.without_claim(name);
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
