//! Which claims name the caller, by token profile: the part of a provider's rules that the
//! [`Principal`](crate::Principal) reads. Each profile (in `issuer` for the generic ones, in
//! `entra` for Microsoft Entra) states its rules here as data, so the principal knows no provider.

/// Who is calling: a user through a client application (delegated), or an application as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Caller {
    /// A user signed in to a client application: delegated scopes apply.
    User,
    /// An application acting as itself (client credentials): app roles apply.
    App,
}

/// An identifier claim a profile may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Iss,
    Sub,
    Tid,
    Oid,
    ClientId,
    Azp,
    Appid,
    Jti,
    Uti,
}

/// The claims the caller-kind rule reads.
pub(crate) struct CallerClaims<'a> {
    /// Entra's optional `idtyp`.
    pub(crate) idtyp: Option<&'a str>,
    /// Whether an `scp` claim is present.
    pub(crate) has_scp: bool,
    /// `sub`.
    pub(crate) sub: Option<&'a str>,
    /// The client, by the profile's [`IdentityRules::clients`].
    pub(crate) client: Option<&'a str>,
}

/// Which claims name the caller in one profile's tokens.
pub(crate) struct IdentityRules {
    /// The user (or service principal): `sub`, or `oid` for Entra.
    pub(crate) user: Claim,
    /// Where user ids are unique: the issuer, or the tenant for Entra.
    pub(crate) namespace: Claim,
    /// The client application, in order of preference.
    pub(crate) clients: [Claim; 2],
    /// The token id.
    pub(crate) token_id: Claim,
    /// The tenant, where the profile has tenants its issuer binding checks (Entra's `tid`).
    pub(crate) tenant: Option<Claim>,
    /// Whether `hasgroups: true` marks a group overage (Entra's implicit-flow marker); OpenID
    /// Connect's `_claim_names.groups` marks one in every profile.
    pub(crate) hasgroups: bool,
    /// Whether the caller is a user or an application.
    pub(crate) caller: fn(&CallerClaims<'_>) -> Caller,
}

/// RFC 9068 §2.2 and OpenID Connect: the user is `sub` within the issuer; the client is
/// `client_id`, else `azp`; the token id is `jti`; for grants without a resource owner `sub` is
/// the client, so `sub` equal to the client id means an application.
pub(crate) static OAUTH: IdentityRules = IdentityRules {
    user: Claim::Sub,
    namespace: Claim::Iss,
    clients: [Claim::ClientId, Claim::Azp],
    token_id: Claim::Jti,
    tenant: None,
    hasgroups: false,
    caller: |claims| match (claims.sub, claims.client) {
        (Some(sub), Some(client)) if sub == client => Caller::App,
        _ => Caller::User,
    },
};
