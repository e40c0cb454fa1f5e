//! OAuth 2.0 Protected Resource Metadata (RFC 9728): clients find their own way to a token.
//!
//! A client that calls the API without a token gets a 401 whose challenge names the resource's
//! metadata (`resource_metadata="…"`, RFC 9728 §5.1); the metadata names the authorization
//! servers that issue tokens for it and the scopes it knows; the client discovers the
//! authorization server (RFC 8414 / OpenID Connect), gets a token for the resource (RFC 8707
//! `resource`), and calls again. The Model Context Protocol requires this of every protected MCP
//! server.
//!
//! Configure the resource once on the layer ([`WardenBuilder::protected_resource`]): warden
//! derives the metadata URL (§3.1: `/.well-known/oauth-protected-resource` inserted between the
//! host and the path), lists the configured issuers as `authorization_servers` (Entra: each
//! tenant's v2.0 endpoint; sorted), takes `scopes_supported` from the scope types you name (the
//! types the routes' `RequireScope` use),
//! adds `resource_metadata` to every 401 and 403 challenge, and serves the document, public and
//! cacheable, through [`WardenLayer::resource_metadata`], mounted outside the layer:
//!
//! ```
//! use axum::{Router, routing::get};
//! use warden::{Issuer, WardenLayer, authz::RequireScope, metadata::ProtectedResource};
//!
//! warden::scopes! {
//!     pub FilesRead = "files:read";
//!     pub FilesWrite = "files:write";
//! }
//!
//! # fn main() -> Result<(), warden::ConfigError> {
//! let warden = WardenLayer::builder()
//!     .issuer(Issuer::builder("https://auth.example.com").audience("https://mcp.example.com/mcp")
//! #       .jwks(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)
//!         .build()?)
//!     .protected_resource(
//!         ProtectedResource::new("https://mcp.example.com/mcp")
//!             .scopes::<(FilesRead, FilesWrite)>()
//!             .name("Files"),
//!     )
//!     .build()?;
//! let metadata = warden.resource_metadata().expect("configured");
//! assert_eq!(
//!     metadata.url(),
//!     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! let app: Router = Router::new()
//!     .route("/mcp", get(|_: RequireScope<FilesRead>| async { "files" }))
//!     .layer(warden.clone())
//!     .route_service(metadata.path(), metadata.clone());
//! # Ok(())
//! # }
//! ```
//!
//! The document, for that configuration:
//!
//! ```json
//! {"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],
//!  "scopes_supported":["files:read","files:write"],"bearer_methods_supported":["header"],
//!  "resource_name":"Files"}
//! ```
//!
//! Signed metadata (§2.2) is not produced: a client reaches the document over TLS from the URL
//! the resource itself named, and the MCP specification does not ask for it.
//!
//! [`WardenBuilder::protected_resource`]: crate::config::WardenBuilder::protected_resource
//! [`WardenLayer::resource_metadata`]: crate::WardenLayer::resource_metadata

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use crate::error::{ConfigError, Setting};

/// The well-known suffix of RFC 9728 §3.
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// How long clients may cache the document (RFC 9728 §7.10): an hour.
const MAX_AGE: &str = "public, max-age=3600";

/// A protected resource, as its metadata describes it. Built with [`ProtectedResource::new`] and
/// given to [`WardenBuilder::protected_resource`](crate::config::WardenBuilder::protected_resource).
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    resource: String,
    scopes: Vec<&'static str>,
    name: Option<String>,
    documentation: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    authorization_servers: Option<Vec<String>>,
}

impl ProtectedResource {
    /// The resource identifier (RFC 9728 §1.2, RFC 8707): the URL clients call, such as
    /// `https://mcp.example.com/mcp`, sent back character for character (never derived from the
    /// request's `Host`). An https URL (http only on a loopback host), without fragment.
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResource {
            resource: resource.into(),
            scopes: Vec::new(),
            name: None,
            documentation: None,
            policy_uri: None,
            tos_uri: None,
            authorization_servers: None,
        }
    }

    /// Adds the scopes of these scope types (declared with [`scopes!`](crate::scopes), the same
    /// types the routes require) to `scopes_supported`: a tuple, `(OrdersRead, OrdersWrite)`.
    /// Names are never typed twice; each is listed once, in the order given.
    #[must_use]
    pub fn scopes<S: ScopeList>(mut self) -> Self {
        for name in S::names() {
            if !self.scopes.contains(&name) {
                self.scopes.push(name);
            }
        }
        self
    }

    /// `resource_name`: a human-readable name for the resource.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `resource_documentation`: where developers read how to use the resource.
    #[must_use]
    pub fn documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// `resource_policy_uri`: how the resource's data may be used.
    #[must_use]
    pub fn policy_uri(mut self, url: impl Into<String>) -> Self {
        self.policy_uri = Some(url.into());
        self
    }

    /// `resource_tos_uri`: the resource's terms of service.
    #[must_use]
    pub fn tos_uri(mut self, url: impl Into<String>) -> Self {
        self.tos_uri = Some(url.into());
        self
    }

    /// Lists these authorization servers instead of the ones derived from the configured
    /// issuers (for an issuer whose metadata lives elsewhere).
    #[must_use]
    pub fn authorization_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// The served document, with `derived` as the authorization servers unless set here, and
    /// the DPoP members when DPoP is accepted (its proof algorithms, and whether every issuer
    /// requires DPoP-bound tokens).
    pub(crate) fn build(
        self,
        derived: Vec<String>,
        dpop: Option<(Vec<&'static str>, bool)>,
    ) -> Result<ResourceMetadata, ConfigError> {
        let setting = Setting::ProtectedResource;
        // The URL goes into a challenge and becomes a route: only RFC 3986's characters, so it
        // is sent and served exactly as configured.
        if !self.resource.bytes().all(is_uri_char) {
            return Err(ConfigError::invalid(
                setting,
                "may only hold the characters of a URI (RFC 3986)",
            ));
        }
        crate::url::check_fetch_url(&self.resource, setting)?;
        let url = metadata_url(&self.resource)
            .ok_or_else(|| ConfigError::invalid(setting, "not an absolute URL"))?;
        for link in [&self.documentation, &self.policy_uri, &self.tos_uri]
            .into_iter()
            .flatten()
        {
            crate::url::check_fetch_url(link, setting)?;
        }
        let servers = self.authorization_servers.unwrap_or(derived);
        if servers.is_empty() {
            return Err(ConfigError::invalid(
                setting,
                "names no authorization server (MCP requires at least one)",
            ));
        }
        for server in &servers {
            crate::url::check_issuer_url(server, setting)?;
        }
        let document = Document {
            resource: &self.resource,
            authorization_servers: &servers,
            scopes_supported: &self.scopes,
            bearer_methods_supported: &["header"],
            dpop_signing_alg_values_supported: dpop.as_ref().map(|(algs, _)| algs.as_slice()),
            dpop_bound_access_tokens_required: dpop.as_ref().is_some_and(|(_, required)| *required),
            resource_name: self.name.as_deref(),
            resource_documentation: self.documentation.as_deref(),
            resource_policy_uri: self.policy_uri.as_deref(),
            resource_tos_uri: self.tos_uri.as_deref(),
        };
        let body = serde_json::to_vec(&document)
            .map_err(|_| ConfigError::invalid(setting, "cannot be written as JSON"))?;
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
            .map(|path| path.split('?').next().unwrap_or(path).to_owned())
            .unwrap_or_else(|| WELL_KNOWN.to_owned());
        Ok(ResourceMetadata {
            inner: Arc::new(Inner {
                url,
                path,
                body: Bytes::from(body),
            }),
        })
    }
}

/// The document's members, zero-valued ones omitted (RFC 9728 §2).
#[derive(serde::Serialize)]
struct Document<'a> {
    resource: &'a str,
    authorization_servers: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    scopes_supported: &'a [&'static str],
    bearer_methods_supported: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_signing_alg_values_supported: Option<&'a [&'static str]>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_tos_uri: Option<&'a str>,
}

/// RFC 9728 §3.1: the well-known suffix goes between the host and the path (and query); a
/// resource without a path gets it at the root, with no trailing slash.
pub(crate) fn metadata_url(resource: &str) -> Option<String> {
    let (scheme, rest) = resource.split_once("://")?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    if authority.is_empty() {
        return None;
    }
    // "the terminating slash after the host MUST be removed" when a path or query follows.
    let tail = tail
        .strip_prefix('/')
        .filter(|rest| rest.is_empty() || rest.starts_with('?'))
        .unwrap_or(tail);
    Some(format!("{scheme}://{authority}{WELL_KNOWN}{tail}"))
}

/// RFC 3986's characters: unreserved, sub-delims, `:` `/` `?` `#` `[` `]` `@`, and `%` for
/// percent-encoding.
fn is_uri_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:/?#[]@%".contains(&byte)
}

/// The metadata document of a protected resource, served by this [`Service`]: `GET` and `HEAD`
/// answer it with `Cache-Control: public, max-age=3600`; other methods get 405. Mount it at
/// [`path`](Self::path), outside the authentication layer: it is public. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    path: String,
    body: Bytes,
}

impl ResourceMetadata {
    /// The document's absolute URL, as sent in `resource_metadata`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The path to mount the service at, such as `/.well-known/oauth-protected-resource/mcp`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The JSON document.
    pub fn document(&self) -> &[u8] {
        &self.inner.body
    }

    fn respond(&self, method: &Method) -> Response<Body> {
        let mut response = match *method {
            Method::GET => Response::new(Body::from(self.inner.body.clone())),
            Method::HEAD => Response::new(Body::empty()),
            _ => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return response;
            }
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(MAX_AGE));
        response
    }
}

impl<B> Service<Request<B>> for ResourceMetadata {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.method())))
    }
}

/// Scope types listed together: a tuple of types declared with [`scopes!`](crate::scopes), for
/// [`ProtectedResource::scopes`] (implemented in `authz` for tuples of up to twelve).
pub trait ScopeList {
    /// Every scope name the types hold, in order.
    fn names() -> Vec<&'static str>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_the_well_known_suffix_between_host_and_path() {
        // RFC 9728 §3.1's examples, the MCP specification's, and a query.
        for (resource, url) in [
            (
                "https://resource.example.com",
                "https://resource.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://resource.example.com/",
                "https://resource.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://resource.example.com/resource1",
                "https://resource.example.com/.well-known/oauth-protected-resource/resource1",
            ),
            (
                "https://example.com/public/mcp",
                "https://example.com/.well-known/oauth-protected-resource/public/mcp",
            ),
            (
                "https://r.example/api?t=a",
                "https://r.example/.well-known/oauth-protected-resource/api?t=a",
            ),
            (
                "http://127.0.0.1:3000",
                "http://127.0.0.1:3000/.well-known/oauth-protected-resource",
            ),
            (
                "https://h.example/?q=1",
                "https://h.example/.well-known/oauth-protected-resource?q=1",
            ),
            (
                "https://[::1]:8443/mcp",
                "https://[::1]:8443/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            assert_eq!(metadata_url(resource).as_deref(), Some(url), "{resource}");
        }
        assert_eq!(metadata_url("no-scheme"), None);
        assert_eq!(metadata_url("https:///path"), None);
    }

    #[test]
    fn serves_the_path_without_its_query() {
        let metadata = ProtectedResource::new("https://r.example/api?t=a")
            .build(vec!["https://as.example".into()], None)
            .unwrap();
        assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/api");
        let root = ProtectedResource::new("https://r.example")
            .build(vec!["https://as.example".into()], None)
            .unwrap();
        assert_eq!(root.path(), "/.well-known/oauth-protected-resource");
    }

    #[test]
    fn refuses_resources_and_servers_that_cannot_work() {
        let servers = || vec!["https://as.example".to_owned()];
        for (resource, reason) in [
            (
                "http://api.example.com",
                "plain http is only allowed for loopback hosts",
            ),
            ("https://api.example.com/#frag", "must not have a fragment"),
            ("api.example.com", "must be an https URL"),
            (
                "https://api.example.com/a\"b",
                "may only hold the characters of a URI (RFC 3986)",
            ),
            (
                "https://api.example.com/{id}",
                "may only hold the characters of a URI (RFC 3986)",
            ),
            (
                "https://api.example.com/a b",
                "may only hold the characters of a URI (RFC 3986)",
            ),
        ] {
            let error = ProtectedResource::new(resource)
                .build(servers(), None)
                .unwrap_err();
            assert_eq!(
                error,
                ConfigError::invalid(Setting::ProtectedResource, reason),
                "{resource}"
            );
        }
        let error = ProtectedResource::new("https://api.example.com")
            .build(Vec::new(), None)
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::invalid(
                Setting::ProtectedResource,
                "names no authorization server (MCP requires at least one)"
            )
        );
    }

    #[test]
    fn omits_zero_valued_members() {
        let metadata = ProtectedResource::new("https://api.example.com")
            .build(vec!["https://as.example".into()], None)
            .unwrap();
        let document: serde_json::Value = serde_json::from_slice(metadata.document()).unwrap();
        assert_eq!(
            document,
            serde_json::json!({
                "resource": "https://api.example.com",
                "authorization_servers": ["https://as.example"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
