//! The authorization endpoint (RFC 6749 §4.1, OAuth 2.1): validates the request, then either
//! shows the login page (pick a user, tick scopes and roles, choose auth context and CAE
//! capability, add claims; one page, one submit) or, for automated tests, signs in at once with
//! what the `X-Fake-Login` header or the `fake_login` query parameter says (a JSON [`Login`]).
//! The answer is a redirect carrying the code, `state` and `iss` (RFC 9207).
//!
//! An unknown client or redirect URI gets an error page, never a redirect (RFC 6749 §4.1.2.1);
//! any other error goes back to the client as `error` on its redirect URI.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::pages::{STYLE, escape};
use crate::authorization::{
    CODE_LIFETIME_SECS, Grant, Login, OIDC_SCOPES, PendingCode, redirect_allowed,
};
use crate::state::{Mode, Shared, lock};

/// The authorization request's parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    resource: Option<String>,
    /// Non-interactive sign-in: a JSON [`Login`].
    fake_login: Option<String>,
}

/// A request whose client and redirect URI are known good.
struct Valid {
    client_id: String,
    redirect_uri: String,
}

enum Refusal {
    /// Shown to the person: the client or its redirect URI cannot be trusted.
    Page(&'static str),
    /// Sent back to the client on its redirect URI.
    Redirect(Valid, &'static str, &'static str),
}

/// `GET /authorize` (Entra: `/{tenant}/oauth2/v2.0/authorize`).
pub(super) async fn authorize_get(
    State(state): State<Arc<Shared>>,
    tenant: Option<Path<String>>,
    headers: HeaderMap,
    Query(request): Query<AuthorizeRequest>,
) -> Response {
    let tenant = tenant.map(|Path(tenant)| tenant);
    let valid = match validate(&state, &request).await {
        Ok(valid) => valid,
        Err(refusal) => return refuse(&state, tenant.as_deref(), &request, refusal),
    };
    let automatic = headers
        .get("x-fake-login")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.fake_login.clone());
    match automatic {
        Some(login) => match serde_json::from_str::<Login>(&login) {
            Ok(login) if !login.user.trim().is_empty() => {
                issue(&state, tenant, &request, valid, login)
            }
            _ => error_page(
                "X-Fake-Login (or fake_login) must be a JSON object with a non-empty \"user\", \
                 and only the members scopes, roles, acrs, cae and claims",
            ),
        },
        None => Html(login_page(&state, &request, &valid, None)).into_response(),
    }
}

/// `POST /authorize`: the login page's form, with the request's parameters as hidden fields.
pub(super) async fn authorize_post(
    State(state): State<Arc<Shared>>,
    tenant: Option<Path<String>>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = tenant.map(|Path(tenant)| tenant);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    let request = AuthorizeRequest {
        response_type: field("response_type"),
        client_id: field("client_id"),
        redirect_uri: field("redirect_uri"),
        scope: field("scope"),
        state: field("state"),
        nonce: field("nonce"),
        code_challenge: field("code_challenge"),
        code_challenge_method: field("code_challenge_method"),
        resource: field("resource"),
        fake_login: None,
    };
    let valid = match validate(&state, &request).await {
        Ok(valid) => valid,
        Err(refusal) => return refuse(&state, tenant.as_deref(), &request, refusal),
    };
    let words = |name: &str| -> Vec<String> {
        field(name)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let mut scopes: Vec<String> = fields
        .iter()
        .filter(|(key, _)| key == "granted_scope")
        .map(|(_, value)| value.clone())
        .collect();
    scopes.extend(words("more_scopes"));
    let claims = match field("claims").as_deref().map(serde_json::from_str) {
        None => Ok(serde_json::Map::new()),
        Some(Ok(serde_json::Value::Object(claims))) => Ok(claims),
        Some(_) => Err("the claims must be a JSON object"),
    };
    let user = field("user").map(|user| user.trim().to_owned());
    let (Some(user), Ok(claims)) = (user.filter(|u| !u.is_empty()), claims) else {
        let page = login_page(
            &state,
            &request,
            &valid,
            Some("Type a user name, and give the claims as a JSON object (or nothing)."),
        );
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    };
    let login = Login {
        user,
        scopes: Some(scopes),
        roles: words("roles"),
        acrs: words("acrs"),
        cae: field("cae").is_some(),
        claims,
    };
    issue(&state, tenant, &request, valid, login)
}

async fn validate(state: &Shared, request: &AuthorizeRequest) -> Result<Valid, Refusal> {
    let Some(client_id) = request.client_id.clone() else {
        return Err(Refusal::Page("client_id is required"));
    };
    let Some(redirect_uri) = request.redirect_uri.clone() else {
        return Err(Refusal::Page("redirect_uri is required"));
    };
    // A client id that is a URL names its own metadata document.
    if client_id.starts_with("https://") || client_id.starts_with("http://") {
        let document = crate::client_metadata::fetch(&client_id, state.client_metadata_on_loopback)
            .await
            .map_err(Refusal::Page)?;
        if !document.redirect_uris.contains(&redirect_uri) {
            return Err(Refusal::Page(
                "this redirect_uri is not in the client's metadata document",
            ));
        }
        return check_response_and_pkce(
            state,
            request,
            Valid {
                client_id,
                redirect_uri,
            },
        );
    }
    let registered = lock(&state.clients)
        .get(&client_id)
        .map(|client| client.redirect_uris.clone())
        .unwrap_or_default();
    if !redirect_allowed(&registered, &redirect_uri) {
        return Err(Refusal::Page(
            "this redirect_uri is not registered for the client (with no registration, only \
             loopback http redirect URIs are allowed)",
        ));
    }
    let valid = Valid {
        client_id,
        redirect_uri,
    };
    check_response_and_pkce(state, request, valid)
}

/// The checks after the client and its redirect URI: answered on the redirect URI.
fn check_response_and_pkce(
    state: &Shared,
    request: &AuthorizeRequest,
    valid: Valid,
) -> Result<Valid, Refusal> {
    // RFC 8707: an absolute URI without a fragment.
    if let Some(resource) = &request.resource
        && (resource.contains('#') || reqwest::Url::parse(resource).is_err())
    {
        return Err(Refusal::Redirect(
            valid,
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        ));
    }
    if request.response_type.as_deref() != Some("code") {
        return Err(Refusal::Redirect(
            valid,
            "unsupported_response_type",
            "only response_type=code",
        ));
    }
    match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (None, _) => Err(Refusal::Redirect(
            valid,
            "invalid_request",
            "code_challenge is required (PKCE, S256)",
        )),
        (Some(_), Some("S256")) => Ok(valid),
        (Some(_), None | Some("plain")) if state.allow_plain_pkce => Ok(valid),
        (Some(_), _) => Err(Refusal::Redirect(
            valid,
            "invalid_request",
            "code_challenge_method must be S256",
        )),
    }
}

fn refuse(
    state: &Shared,
    tenant: Option<&str>,
    request: &AuthorizeRequest,
    refusal: Refusal,
) -> Response {
    match refusal {
        Refusal::Page(reason) => error_page(reason),
        Refusal::Redirect(valid, error, description) => redirect(
            &valid.redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", request.state.as_deref().unwrap_or_default()),
                ("iss", &issuer(state, tenant)),
            ],
        ),
    }
}

/// Stores a code for the login, and sends the browser back to the client with it.
fn issue(
    state: &Shared,
    tenant: Option<String>,
    request: &AuthorizeRequest,
    valid: Valid,
    mut login: Login,
) -> Response {
    // A configured user's claims, under what the person chose.
    if let Some(defaults) = lock(&state.users).get(&login.user).cloned() {
        for (name, value) in defaults {
            if name == "roles" {
                if login.roles.is_empty() {
                    login.roles = value
                        .as_array()
                        .map(|roles| {
                            roles
                                .iter()
                                .filter_map(|r| r.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                }
                continue;
            }
            login.claims.entry(name).or_insert(value);
        }
    }
    let now = crate::clock::unix_now();
    let code = crate::keys::random_id();
    let challenge = request.code_challenge.clone().map(|challenge| {
        let method = request
            .code_challenge_method
            .clone()
            .unwrap_or_else(|| "plain".to_owned());
        (challenge, method)
    });
    let issuer = issuer(state, tenant.as_deref());
    let pending = PendingCode {
        grant: Grant {
            client_id: valid.client_id,
            login,
            requested: request
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            resource: request.resource.clone(),
            nonce: request.nonce.clone(),
            tenant,
            auth_time: now,
        },
        redirect_uri: valid.redirect_uri.clone(),
        challenge,
        expires_at: now + CODE_LIFETIME_SECS,
    };
    lock(&state.authorizations)
        .codes
        .insert(code.clone(), pending);
    redirect(
        &valid.redirect_uri,
        &[
            ("code", &code),
            ("state", request.state.as_deref().unwrap_or_default()),
            ("iss", &issuer),
        ],
    )
}

/// The issuer identifier, for RFC 9207's `iss`.
fn issuer(state: &Shared, tenant: Option<&str>) -> String {
    match (&state.mode, tenant) {
        (Mode::Entra { .. }, Some(tenant)) => format!("{}/{tenant}/v2.0", state.base),
        _ => state.token_issuer(),
    }
}

/// A 303 to `uri` with `parameters` added to its query (empty ones left out).
fn redirect(uri: &str, parameters: &[(&str, &str)]) -> Response {
    let present: Vec<(&str, &str)> = parameters
        .iter()
        .copied()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let query = serde_urlencoded::to_string(present).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("{uri}{separator}{query}"))],
    )
        .into_response()
}

fn error_page(reason: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused</title>\
         <style>{STYLE}</style></head><body><main><h1>Sign-in refused</h1><p class=\"error\">{}</p>\
         <p>The client is not sent back: its redirect URI could not be trusted.</p></main></body></html>",
        escape(reason)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// The login page: one form, one submit.
fn login_page(
    state: &Shared,
    request: &AuthorizeRequest,
    valid: &Valid,
    problem: Option<&str>,
) -> String {
    let requested: Vec<&str> = request
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let api_scopes: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    let hidden: String = [
        ("response_type", &request.response_type),
        ("client_id", &request.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("scope", &request.scope),
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", &request.code_challenge_method),
        ("resource", &request.resource),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.as_deref().map(|value| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
    })
    .collect();
    let scope_boxes: String = if api_scopes.is_empty() {
        "<p class=\"hint\">The client asked for no API scope.</p>".to_owned()
    } else {
        api_scopes
            .iter()
            .map(|scope| {
                format!(
                    "<label class=\"check\"><input type=\"checkbox\" name=\"granted_scope\" value=\"{0}\" checked> {0}</label>",
                    escape(scope)
                )
            })
            .collect()
    };
    let redirect_host = valid
        .redirect_uri
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or_default();
    let problem = problem
        .map(|p| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    let configured: Vec<String> = lock(&state.users).keys().cloned().collect();
    let users: Vec<String> = if configured.is_empty() {
        vec!["alice".to_owned(), "bob".to_owned(), "admin".to_owned()]
    } else {
        configured
    };
    let first_user = escape(&users[0]);
    let user_options: String = users
        .iter()
        .map(|user| format!("<option value=\"{}\">", escape(user)))
        .collect();
    let mode = match state.mode {
        Mode::Oidc => "OpenID Connect",
        Mode::Entra { .. } => "Microsoft Entra ID (imitated)",
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in: warden fake issuer</title><style>{STYLE}</style></head>
<body><main>
<h1>Sign in</h1>
<p class="hint">{mode} at <code>{issuer}</code>. <strong>{client}</strong> asks to sign you in, and
will receive the code at <strong>{redirect_host}</strong>.</p>
{problem}
<form method="post" id="login">
{hidden}
<fieldset><legend>User</legend>
<label for="user">User name</label>
<input id="user" name="user" list="users" value="{first_user}" required autofocus>
<datalist id="users">{user_options}</datalist>
</fieldset>
<fieldset><legend>Scopes</legend>
{scope_boxes}
<label for="more_scopes">More scopes (space-separated)</label>
<input id="more_scopes" name="more_scopes">
</fieldset>
<fieldset><legend>Roles and context</legend>
<label for="roles">App roles (space-separated)</label>
<input id="roles" name="roles">
<label for="acrs">Authentication contexts satisfied, <code>acrs</code> (space-separated, e.g. c1)</label>
<input id="acrs" name="acrs">
<label class="check"><input type="checkbox" id="cae" name="cae" value="cp1"> CAE-capable client (<code>xms_cc: ["cp1"]</code>)</label>
</fieldset>
<fieldset><legend>Custom claims</legend>
<label for="claims">JSON object, added to the access token</label>
<textarea id="claims" name="claims" rows="3" placeholder='{{"department": "finance"}}'></textarea>
</fieldset>
<button type="submit" id="sign-in">Sign in</button>
</form>
</main></body></html>"#,
        issuer = escape(&state.token_issuer()),
        client = escape(&valid.client_id),
        redirect_host = escape(redirect_host),
    )
}
