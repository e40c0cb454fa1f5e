//! Least privilege from the code to the app registration: the scopes and app roles an API
//! declares, with what administrators need to know of them, turned into the registration an
//! administrator configures and the page that tells them what each permission opens.
//!
//! The scope and role types the routes already require ([`RequireScope`](crate::authz::RequireScope),
//! …) say what each grants ([`scopes!`](crate::scopes) and [`roles!`](crate::roles) with a
//! `{ … }` block), and [`ApiPermissions`] collects them with the routes that require them. From
//! that one source come:
//!
//! - [`ApiPermissions::entra_manifest`]: Microsoft Entra's application manifest fragment
//!   (`identifierUris`, `api.oauth2PermissionScopes`, `api.requestedAccessTokenVersion: 2`,
//!   `appRoles`), in Microsoft Graph's format, with ids that never change from one generation to
//!   the next, and [`EntraManifest::updates_from`] to apply it over a registration that exists
//!   (a permission removed is disabled first, as Graph requires);
//! - [`ApiPermissions::generic_json`]: the same permissions for other providers (Keycloak client
//!   scopes and client roles, Auth0 API permissions; see docs/registration.md for the mapping);
//! - [`ApiPermissions::markdown`]: a permissions page for customers' administrators: each
//!   permission and what it grants, each route and the least permission that opens it.
//!
//! ```
//! use http::Method;
//! use warden::authz::{RequireRole, RequireScope, RequireScopeOrRole};
//! use warden::registration::ApiPermissions;
//!
//! warden::scopes! {
//!     pub OrdersRead = "Orders.Read" {
//!         consent: User,
//!         admin: ("Read orders", "Allows the app to read the signed-in user's orders."),
//!         user: ("Read your orders", "Allows the app to read your orders."),
//!     };
//! }
//! warden::roles! {
//!     pub OrdersReadAll = "Orders.Read.All" {
//!         members: Applications,
//!         display: ("Read all orders", "Allows the app to read every order, with no user signed in."),
//!     };
//! }
//!
//! # fn main() -> Result<(), warden::error::RegistrationError> {
//! let api = ApiPermissions::builder("api://orders")
//!     .name("Orders API")
//!     .scopes::<(OrdersRead,)>()
//!     .roles::<(OrdersReadAll,)>()
//!     .public_route(Method::GET, "/health")
//!     .route::<RequireScopeOrRole<OrdersRead, OrdersReadAll>>(Method::GET, "/orders")
//!     .build()?;
//! assert!(api.unused_scopes().is_empty() && api.unused_roles().is_empty());
//!
//! let manifest = api.entra_manifest();
//! assert_eq!(manifest.api.requested_access_token_version, Some(2));
//! assert_eq!(manifest.api.oauth2_permission_scopes[0].value, "Orders.Read");
//! // Ids are derived from the identifier URI and the value: the same on every run.
//! assert_eq!(manifest.to_json(), api.entra_manifest().to_json());
//! assert!(api.markdown().contains("| `GET /orders` | scope `Orders.Read`, or app role `Orders.Read.All` |"));
//! # Ok(())
//! # }
//! ```
//!
//! Ids are UUIDs version 5 (RFC 9562 §5.5): the identifier URI names a namespace (itself the
//! version-5 UUID of the URI in the URL namespace), and each permission is `scope:{value}` or
//! `role:{value}` in it. A scope and a role of the same value get different ids.

mod entra;
#[cfg(feature = "openapi")]
pub(crate) mod openapi;
mod page;

use std::collections::BTreeSet;

use http::Method;

use crate::authz::Needs;
use crate::authz::require::route_needs;
use crate::error::RegistrationError;

pub use crate::authz::permission::{
    Consent, DeclaredRole, DeclaredScope, Members, RoleDeclarations, RolePermission,
    ScopeDeclarations, ScopePermission, Wording, is_permission_value,
};
pub use crate::authz::require::RouteRequirement;
pub use entra::{AppRole, EntraApi, EntraManifest, PermissionScope};

/// An API's declared permissions and the routes that require them. Built with
/// [`ApiPermissions::builder`]; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ApiPermissions {
    identifier_uri: String,
    name: Option<String>,
    scopes: Vec<ScopePermission>,
    roles: Vec<RolePermission>,
    routes: Vec<Route>,
}

/// One documented route.
#[derive(Debug, Clone)]
struct Route {
    method: Method,
    path: String,
    /// `None`: public, no token; `Some(empty)`: any valid token.
    needs: Option<Vec<Needs<'static, &'static str>>>,
}

impl Route {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Builds [`ApiPermissions`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiPermissionsBuilder {
    permissions: ApiPermissions,
}

impl ApiPermissions {
    /// Starts a declaration for the API known by `identifier_uri` (Entra's Application ID URI,
    /// the audience of its tokens, e.g. `api://{appId}`).
    pub fn builder(identifier_uri: impl Into<String>) -> ApiPermissionsBuilder {
        ApiPermissionsBuilder {
            permissions: ApiPermissions {
                identifier_uri: identifier_uri.into(),
                name: None,
                scopes: Vec::new(),
                roles: Vec::new(),
                routes: Vec::new(),
            },
        }
    }

    /// The identifier URI.
    pub fn identifier_uri(&self) -> &str {
        &self.identifier_uri
    }

    /// The declared scopes, sorted by value.
    pub fn scopes(&self) -> &[ScopePermission] {
        &self.scopes
    }

    /// The declared roles, sorted by value.
    pub fn roles(&self) -> &[RolePermission] {
        &self.roles
    }

    /// The documented routes, method and path, in the order they were declared: to hold a
    /// router against the declaration, so that no route is served without being documented.
    ///
    /// ```
    /// use http::Method;
    /// use warden::registration::ApiPermissions;
    ///
    /// let permissions = ApiPermissions::builder("api://orders")
    ///     .route::<()>(Method::GET, "/me")
    ///     .public_route(Method::GET, "/health")
    ///     .build()?;
    /// let routes: Vec<_> = permissions.routes().collect();
    /// assert_eq!(routes, [(&Method::GET, "/me"), (&Method::GET, "/health")]);
    /// # Ok::<(), warden::error::RegistrationError>(())
    /// ```
    pub fn routes(&self) -> impl Iterator<Item = (&Method, &str)> {
        self.routes
            .iter()
            .map(|route| (&route.method, route.path.as_str()))
    }

    /// Declared scopes that no documented route requires: offered to clients, opening nothing.
    pub fn unused_scopes(&self) -> Vec<&'static str> {
        let used = self.required(scope_names);
        self.scopes
            .iter()
            .map(|scope| scope.value())
            .filter(|value| !used.contains(value))
            .collect()
    }

    /// Declared roles that no documented route requires.
    pub fn unused_roles(&self) -> Vec<&'static str> {
        let used = self.required(role_names);
        self.roles
            .iter()
            .map(|role| role.value())
            .filter(|value| !used.contains(value))
            .collect()
    }

    /// The stable id of a scope (`kind` `"scope"`) or a role (`"role"`) of this API.
    fn id(&self, kind: &str, value: &str) -> String {
        let namespace = uuid_v5(&URL_NAMESPACE, self.identifier_uri.as_bytes());
        format_uuid(&uuid_v5(&namespace, format!("{kind}:{value}").as_bytes()))
    }

    fn required(
        &self,
        names: impl Fn(&Needs<'static, &'static str>) -> Vec<&'static str>,
    ) -> BTreeSet<&'static str> {
        self.routes
            .iter()
            .filter_map(|route| route.needs.as_ref())
            .flatten()
            .flat_map(names)
            .collect()
    }
}

impl ApiPermissionsBuilder {
    /// The API's name, as the permissions page titles it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.permissions.name = Some(name.into());
        self
    }

    /// Declares the scopes of a tuple of types made by [`scopes!`](crate::scopes) with a
    /// `{ … }` block: `.scopes::<(OrdersRead, OrdersWrite)>()`. May be called again to add more.
    pub fn scopes<S: ScopeDeclarations>(mut self) -> Self {
        self.permissions.scopes.extend(S::declarations());
        self
    }

    /// Declares the roles of a tuple of types made by [`roles!`](crate::roles) with a `{ … }`
    /// block. May be called again to add more.
    pub fn roles<R: RoleDeclarations>(mut self) -> Self {
        self.permissions.roles.extend(R::declarations());
        self
    }

    /// Documents a route and what its handler requires: the same type as in the handler's
    /// signature (`RequireScope<OrdersRead>`), a tuple of them, or `()` for any valid token.
    pub fn route<R: RouteRequirement>(mut self, method: Method, path: impl Into<String>) -> Self {
        self.permissions.routes.push(Route {
            method,
            path: path.into(),
            needs: Some(route_needs::<R>()),
        });
        self
    }

    /// Documents a public route: no token needed.
    pub fn public_route(mut self, method: Method, path: impl Into<String>) -> Self {
        self.permissions.routes.push(Route {
            method,
            path: path.into(),
            needs: None,
        });
        self
    }

    /// Checks the declaration: a valid identifier URI, no permission or route declared twice,
    /// and every scope and role a route requires declared.
    pub fn build(self) -> Result<ApiPermissions, RegistrationError> {
        let mut permissions = self.permissions;
        check_identifier_uri(&permissions.identifier_uri)?;
        permissions.scopes.sort_by_key(|scope| scope.value());
        permissions.roles.sort_by_key(|role| role.value());
        if let Some(pair) = permissions
            .scopes
            .windows(2)
            .find(|pair| pair[0].value() == pair[1].value())
        {
            return Err(RegistrationError::DuplicatePermission {
                kind: "scope",
                value: pair[0].value().to_owned(),
            });
        }
        if let Some(pair) = permissions
            .roles
            .windows(2)
            .find(|pair| pair[0].value() == pair[1].value())
        {
            return Err(RegistrationError::DuplicatePermission {
                kind: "role",
                value: pair[0].value().to_owned(),
            });
        }
        let scopes: BTreeSet<&str> = permissions.scopes.iter().map(|s| s.value()).collect();
        let roles: BTreeSet<&str> = permissions.roles.iter().map(|r| r.value()).collect();
        let mut seen = BTreeSet::new();
        for route in &permissions.routes {
            if !route.path.starts_with('/') {
                return Err(RegistrationError::InvalidRoute {
                    route: route.name(),
                });
            }
            if !seen.insert((route.method.clone(), route.path.clone())) {
                return Err(RegistrationError::DuplicateRoute {
                    route: route.name(),
                });
            }
            for needs in route.needs.iter().flatten() {
                let undeclared = scope_names(needs)
                    .into_iter()
                    .find(|value| !scopes.contains(value))
                    .map(|value| ("scope", value))
                    .or_else(|| {
                        role_names(needs)
                            .into_iter()
                            .find(|value| !roles.contains(value))
                            .map(|value| ("role", value))
                    });
                if let Some((kind, value)) = undeclared {
                    return Err(RegistrationError::UndeclaredPermission {
                        route: route.name(),
                        kind,
                        value: value.to_owned(),
                    });
                }
            }
        }
        Ok(permissions)
    }
}

/// The scope names a requirement names.
fn scope_names(needs: &Needs<'static, &'static str>) -> Vec<&'static str> {
    match *needs {
        Needs::Scopes(names, _)
        | Needs::ScopeOrRole { scopes: names, .. }
        | Needs::UserScopeOrAppRole { scopes: names, .. } => names.to_vec(),
        Needs::Roles(..)
        | Needs::Groups(..)
        | Needs::App
        | Needs::User
        | Needs::AuthContexts(..)
        | Needs::Acr(_)
        | Needs::MaxAge(_)
        | Needs::Rule { .. } => Vec::new(),
    }
}

/// The role names a requirement names.
fn role_names(needs: &Needs<'static, &'static str>) -> Vec<&'static str> {
    match *needs {
        Needs::Roles(names, _)
        | Needs::ScopeOrRole { roles: names, .. }
        | Needs::UserScopeOrAppRole { roles: names, .. } => names.to_vec(),
        Needs::Scopes(..)
        | Needs::Groups(..)
        | Needs::App
        | Needs::User
        | Needs::AuthContexts(..)
        | Needs::Acr(_)
        | Needs::MaxAge(_)
        | Needs::Rule { .. } => Vec::new(),
    }
}

/// Entra's rules for an Application ID URI that warden can check alone: `api://` or `https://`,
/// something after the scheme, no trailing `/`, no wildcard, no whitespace.
fn check_identifier_uri(uri: &str) -> Result<(), RegistrationError> {
    let invalid = |reason| Err(RegistrationError::InvalidIdentifierUri { reason });
    let rest = match uri
        .strip_prefix("api://")
        .or_else(|| uri.strip_prefix("https://"))
    {
        Some(rest) => rest,
        None => return invalid("it must begin with `api://` or `https://`"),
    };
    if rest.is_empty() {
        invalid("nothing follows the scheme")
    } else if uri.ends_with('/') {
        invalid("it must not end with `/`")
    } else if uri.contains('*') {
        invalid("it must not hold a wildcard")
    } else if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        invalid("it must not hold whitespace")
    } else {
        Ok(())
    }
}

/// RFC 9562's namespace for URLs, `6ba7b811-9dad-11d1-80b4-00c04fd430c8`.
const URL_NAMESPACE: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// A UUID version 5 (RFC 9562 §5.5): SHA-1 of the namespace and the name, version and variant
/// bits set.
fn uuid_v5(namespace: &[u8; 16], name: &[u8]) -> [u8; 16] {
    use aws_lc_rs::digest;
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(namespace);
    context.update(name);
    let hash = context.finish();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&hash.as_ref()[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x50;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case.
fn format_uuid(uuid: &[u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v5_matches_rfc_9562() {
        // RFC 9562 Appendix A.4: "www.example.com" in the DNS namespace.
        let dns = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4,
            0x30, 0xc8,
        ];
        assert_eq!(
            format_uuid(&uuid_v5(&dns, b"www.example.com")),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
    }

    #[test]
    fn identifier_uris_are_checked() {
        for (uri, ok) in [
            ("api://orders", true),
            ("https://contoso.com/orders", true),
            ("api://", false),
            ("api://orders/", false),
            ("https://*.contoso.com", false),
            ("http://contoso.com/orders", false),
            ("api://or ders", false),
        ] {
            assert_eq!(check_identifier_uri(uri).is_ok(), ok, "{uri}");
        }
    }
}
