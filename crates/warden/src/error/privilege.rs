//! The caller is authenticated and lacks what the route needs: privileges (403
//! `insufficient_scope`) or a stronger or more recent authentication (401 step-up).

/// What an authenticated caller lacks (RFC 6750 §3.1 `insufficient_scope`, answered 403).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forbidden {
    /// None of (`all: false`) or not all of (`all: true`) the required delegated scopes.
    MissingScope {
        /// The scopes the route names, sent in the challenge's `scope` parameter.
        required: Vec<String>,
    },
    /// Not the required app role(s).
    MissingRole,
    /// Not in the required group(s).
    MissingGroup,
    /// The token's group list was replaced by an overage marker (`_claim_names.groups` or
    /// `hasgroups`) and no resolver is configured: membership is unknown, never read as "none".
    GroupOverage,
    /// Neither one of the scopes nor one of the roles (strictly: neither a delegated token with
    /// one of the scopes nor an app-only token with one of the roles).
    MissingScopeOrRole {
        /// The scopes a delegated caller could hold, sent in the `scope` parameter.
        scopes: Vec<String>,
    },
    /// The client application (`client_id`, `azp`, `appid`) is not on the issuer's allow-list.
    ClientNotAllowed,
    /// The route is for applications acting as themselves; a user's token was sent.
    AppOnlyRequired,
    /// The route is for users acting through a client; an app-only token was sent.
    UserRequired,
    /// A gRPC method that [`RequireMethods`](crate::authz::RequireMethods) does not list: closed
    /// until someone says who may call it.
    UnlistedMethod,
    /// A requirement the application defined ([`Rule`](crate::authz::Rule)) refused the caller.
    Rule {
        /// The application's description, sent as `error_description`.
        description: &'static str,
    },
}

impl Forbidden {
    /// The fixed phrase describing this refusal.
    pub fn description(&self) -> &'static str {
        match self {
            Forbidden::MissingScope { .. } => "missing scope",
            Forbidden::MissingRole => "missing app role",
            Forbidden::MissingGroup => "missing group membership",
            Forbidden::GroupOverage => "group membership not in token (overage)",
            Forbidden::MissingScopeOrRole { .. } => "missing scope or app permission",
            Forbidden::ClientNotAllowed => "client application not allowed",
            Forbidden::AppOnlyRequired => "application token required",
            Forbidden::UserRequired => "user token required",
            Forbidden::UnlistedMethod => "method not open to any caller",
            Forbidden::Rule { description } => description,
        }
    }
}

/// The authentication a route needs and the token lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepUp {
    /// An Entra authentication context (`acrs`), e.g. `c1`.
    AuthContext {
        /// The auth context id.
        id: String,
        /// The claims challenge, for a CAE-capable client.
        challenge: Option<ClaimsChallenge>,
    },
    /// One of these `acr` values (RFC 9470 `acr_values`).
    Acr {
        /// The acceptable values, in order of preference.
        values: Vec<String>,
    },
    /// Authentication no older than this (RFC 9470 `max_age`, against `auth_time`).
    MaxAge {
        /// Seconds.
        secs: u64,
    },
    /// A downstream API this one called for the caller answered with a claims challenge
    /// (CAE across APIs): passed back, so the caller's client signs in again and satisfies it.
    Downstream {
        /// The claims challenge; `None` when the caller's issuer has no known authorization
        /// endpoint to name (the answer is then RFC 9470's `insufficient_user_authentication`).
        challenge: Option<ClaimsChallenge>,
    },
}

impl StepUp {
    /// The fixed phrase sent in `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            StepUp::MaxAge { .. } => "more recent authentication is required",
            StepUp::AuthContext { .. } | StepUp::Acr { .. } => {
                "a different authentication level is required"
            }
            StepUp::Downstream { .. } => {
                "a service this request needs requires more authentication"
            }
        }
    }
}

/// Microsoft's claims challenge: where to get a new token, and the claims it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsChallenge {
    /// Where the client gets a new token: `{authority}/common/oauth2/authorize` for Entra tokens,
    /// the issuer's discovered `authorization_endpoint` for others.
    pub authorization_uri: String,
    /// Standard base64 (padded) of the claims request JSON.
    pub claims: String,
}
