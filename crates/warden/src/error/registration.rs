//! Why a declaration of an API's permissions was refused ([`registration`](crate::registration)).

use std::fmt;

/// Why [`ApiPermissionsBuilder::build`](crate::registration::ApiPermissionsBuilder::build)
/// refused the declaration. Raised when the manifest or the permissions page is produced (at
/// build or start-up), never on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The identifier URI (`api://…` or `https://…`) is empty, ends with `/`, holds a wildcard or
    /// whitespace, or has another scheme.
    InvalidIdentifierUri {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same scope, or the same role, is declared twice.
    DuplicatePermission {
        /// `scope` or `role`.
        kind: &'static str,
        /// Its value.
        value: String,
    },
    /// A route requires a scope or a role that is not declared: the registration would not
    /// offer it, so no token could open the route.
    UndeclaredPermission {
        /// The route, `GET /orders`.
        route: String,
        /// `scope` or `role`.
        kind: &'static str,
        /// The value it requires.
        value: String,
    },
    /// The same method and path are documented twice.
    DuplicateRoute {
        /// The route, `GET /orders`.
        route: String,
    },
    /// A route's path does not begin with `/`.
    InvalidRoute {
        /// The route as given.
        route: String,
    },
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationError::InvalidIdentifierUri { reason } => {
                write!(f, "invalid identifier URI: {reason}")
            }
            RegistrationError::DuplicatePermission { kind, value } => {
                write!(f, "the {kind} `{value}` is declared twice")
            }
            RegistrationError::UndeclaredPermission { route, kind, value } => write!(
                f,
                "`{route}` requires the {kind} `{value}`, which is not declared"
            ),
            RegistrationError::DuplicateRoute { route } => {
                write!(f, "`{route}` is documented twice")
            }
            RegistrationError::InvalidRoute { route } => {
                write!(f, "`{route}`: a route's path begins with `/`")
            }
        }
    }
}

impl std::error::Error for RegistrationError {}
