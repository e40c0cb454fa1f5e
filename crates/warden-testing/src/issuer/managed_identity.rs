//! The managed-identity endpoints of Azure hosts, so that the Azure SDK's real
//! `ManagedIdentityCredential` runs against the fake issuer: App Service's (Functions and
//! Container Apps speak it too: `GET {IDENTITY_ENDPOINT}?resource=…&api-version=2019-08-01` with
//! `X-IDENTITY-HEADER`) at `/msi/token`, and the Instance Metadata Service's token path
//! (`GET /metadata/identity/oauth2/token`, header `Metadata: true`). Both answer a token of this
//! issuer about the identity (`sub` and `oid` its object id, `azp` its client id, app-only) for
//! the resource asked, with `expires_on` as a string of epoch seconds, as both hosts do.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::fault::fault;
use crate::state::{Endpoint, Shared, lock};
use crate::token::TokenBuilder;

/// The secret App Service puts in `IDENTITY_HEADER` for the fake's `/msi/token`: a request
/// without it in `X-IDENTITY-HEADER` is refused, as App Service refuses it (its guard against
/// request forgery).
pub const IDENTITY_HEADER_SECRET: &str = "fake-identity-header-7c1e";

/// The query both hosts take. At most one of the ids; none means the system-assigned identity.
#[derive(Debug, Deserialize)]
pub(crate) struct IdentityQuery {
    resource: Option<String>,
    #[serde(rename = "api-version")]
    api_version: Option<String>,
    client_id: Option<String>,
    object_id: Option<String>,
    principal_id: Option<String>,
    msi_res_id: Option<String>,
    mi_res_id: Option<String>,
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// App Service's endpoint: the secret header and `api-version=2019-08-01` are required.
pub(crate) async fn app_service(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<IdentityQuery>,
) -> Response {
    if let Err(response) = fault(&state, Endpoint::ManagedIdentity).await {
        return response;
    }
    let secret = headers
        .get("x-identity-header")
        .and_then(|value| value.to_str().ok());
    if secret != Some(IDENTITY_HEADER_SECRET) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "X-IDENTITY-HEADER is missing or wrong",
        );
    }
    if query.api_version.as_deref() != Some("2019-08-01") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "api-version must be 2019-08-01",
        );
    }
    token(&state, &query)
}

/// IMDS's token path: `Metadata: true` is required, and an `api-version` of 2018-02-01 or later.
pub(crate) async fn imds(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<IdentityQuery>,
) -> Response {
    if let Err(response) = fault(&state, Endpoint::ManagedIdentity).await {
        return response;
    }
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request_102",
            "Required metadata header not specified",
        );
    }
    // Dates as YYYY-MM-DD compare as text.
    if query
        .api_version
        .as_deref()
        .is_none_or(|v| v < "2018-02-01")
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "api-version must be 2018-02-01 or later",
        );
    }
    token(&state, &query)
}

/// The token for the identity the query names, for its resource.
fn token(state: &Shared, query: &IdentityQuery) -> Response {
    let Some(resource) = query.resource.as_deref().filter(|r| !r.is_empty()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "resource is required",
        );
    };
    if query.msi_res_id.is_some() || query.mi_res_id.is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the fake host names identities by client id or object id only",
        );
    }
    let named = [&query.client_id, &query.object_id, &query.principal_id]
        .iter()
        .filter(|id| id.is_some())
        .count();
    if named > 1 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "name at most one of client_id, object_id and principal_id",
        );
    }
    let object_id = query.object_id.as_deref().or(query.principal_id.as_deref());
    let identity = lock(&state.identities)
        .iter()
        .find(|identity| match (query.client_id.as_deref(), object_id) {
            (Some(client_id), _) => {
                identity.user_assigned && identity.client_id.eq_ignore_ascii_case(client_id)
            }
            (None, Some(object_id)) => {
                identity.user_assigned && identity.object_id.eq_ignore_ascii_case(object_id)
            }
            (None, None) => !identity.user_assigned,
        })
        .cloned();
    let Some(identity) = identity else {
        // What both hosts answer when the identity named is not assigned to the resource.
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        );
    };
    let builder = TokenBuilder::new(state)
        .app_only()
        .client(&identity.client_id)
        .subject(&identity.object_id)
        .object_id(&identity.object_id)
        .audience(resource.strip_suffix("/.default").unwrap_or(resource));
    let lifetime = builder.lifetime_secs();
    let expires_on = crate::clock::unix_now() + lifetime;
    match builder.try_sign() {
        Ok(token) => Json(json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "expires_in": lifetime.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }))
        .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
    }
}
