//! The validated caller.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::issuer::Profile;
use crate::token::claims;

/// Who is calling: a user through a client application (delegated), or an application as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Caller {
    /// A user signed in to a client application: delegated scopes apply.
    User,
    /// An application acting as itself (client credentials): app roles apply.
    App,
}

/// How the caller kind is recognised:
/// - `idtyp` (Entra's optional claim) says `app` or `user`;
/// - otherwise, for Entra tokens, no `scp` claim means app-only (Microsoft's documented rule);
/// - otherwise `sub` equal to the client id means app-only (RFC 9068 §2.2: for grants without a
///   resource owner, `sub` identifies the client).
fn caller_kind(claims: &Map<String, Value>, profile: Profile) -> Caller {
    match claims::string(claims, "idtyp") {
        Some("app") => return Caller::App,
        Some("user") => return Caller::User,
        _ => {}
    }
    if profile == Profile::Entra {
        return if claims.contains_key("scp") {
            Caller::User
        } else {
            Caller::App
        };
    }
    let client = claims::string(claims, "client_id").or_else(|| claims::string(claims, "azp"));
    match (claims::string(claims, "sub"), client) {
        (Some(sub), Some(client)) if sub == client => Caller::App,
        _ => Caller::User,
    }
}

/// The caller of a request whose bearer token warden validated.
///
/// Only warden makes one, after the signature verified and every claim check passed: holding a
/// `Principal` is proof of validation. It is cheap to clone (one `Arc`), and the layer stores it in
/// the request extensions, where extractors read it without taking it out.
///
/// Identity follows RFC 8725 §3.8: a subject is only meaningful together with its issuer; for
/// Entra tokens the stable pair is (`tid`, `oid`). Never authorize on `preferred_username`,
/// `name` or `email`.
#[derive(Clone)]
pub struct Principal {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    subject: String,
    expires_at: f64,
    scopes: Vec<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    caller: Caller,
    claims: Map<String, Value>,
    payload: Vec<u8>,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("issuer", &self.inner.issuer)
            .field("subject", &self.inner.subject)
            .field("tenant_id", &self.tenant_id())
            .field("client_id", &self.client_id())
            .field("scopes", &self.inner.scopes)
            .field("roles", &self.inner.roles)
            .field("caller", &self.inner.caller)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Builds the principal from verified claims.
    pub(crate) fn from_verified(
        claims: Map<String, Value>,
        payload: Vec<u8>,
        expires_at: f64,
        profile: Profile,
    ) -> Result<Self, Error> {
        let mut scopes = claims::string_list(&claims, "scope")?;
        for scope in claims::string_list(&claims, "scp")? {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let roles = claims::string_list(&claims, "roles")?;
        let groups = claims::string_list(&claims, "groups")?;
        let caller = caller_kind(&claims, profile);
        let issuer = claims::string(&claims, "iss")
            .unwrap_or_default()
            .to_owned();
        let subject = claims::string(&claims, "sub")
            .unwrap_or_default()
            .to_owned();
        Ok(Principal {
            inner: Arc::new(Inner {
                issuer,
                subject,
                expires_at,
                scopes,
                roles,
                groups,
                caller,
                claims,
                payload,
            }),
        })
    }

    /// The issuer (`iss`), exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The subject (`sub`). Empty only for a profile that does not require `sub`.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The tenant (`tid`), for Microsoft Entra tokens.
    pub fn tenant_id(&self) -> Option<&str> {
        self.claim_str("tid")
    }

    /// The object id (`oid`): the stable id of the user or service principal in an Entra tenant.
    pub fn object_id(&self) -> Option<&str> {
        self.claim_str("oid")
    }

    /// The client application: `client_id` (RFC 9068), else `azp` (Entra v2), else `appid` (Entra v1).
    pub fn client_id(&self) -> Option<&str> {
        self.claim_str("client_id")
            .or_else(|| self.claim_str("azp"))
            .or_else(|| self.claim_str("appid"))
    }

    /// The token id: `jti`, else Entra's `uti`.
    pub fn token_id(&self) -> Option<&str> {
        self.claim_str("jti").or_else(|| self.claim_str("uti"))
    }

    /// Delegated scopes: `scope` (RFC 9068) and `scp` (Entra), split on spaces. Case-sensitive.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// App roles (`roles`). Case-sensitive.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// When the token was issued (`iat`), seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<f64> {
        self.claim("iat").and_then(Value::as_f64)
    }

    /// The sign-in session (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.claim_str("sid")
    }

    /// Whether the client declared it can answer claims challenges: `xms_cc` (string or array)
    /// contains `cp1`, in any case.
    pub fn is_cae_capable(&self) -> bool {
        let is_cp1 = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("cp1"));
        match self.claim("xms_cc") {
            Some(Value::Array(values)) => values.iter().any(is_cp1),
            Some(value) => is_cp1(value),
            None => false,
        }
    }

    /// Satisfied Entra authentication contexts (`acrs`).
    pub fn auth_contexts(&self) -> impl Iterator<Item = &str> {
        self.claim("acrs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The authentication context class (`acr`, RFC 9470).
    pub fn acr(&self) -> Option<&str> {
        self.claim_str("acr")
    }

    /// When the user last authenticated (`auth_time`), seconds since the Unix epoch.
    pub fn auth_time(&self) -> Option<f64> {
        self.claim("auth_time").and_then(Value::as_f64)
    }

    /// Security group object ids (`groups`), empty when absent or replaced by an overage marker
    /// (see [`has_group_overage`](Self::has_group_overage)).
    pub fn groups(&self) -> &[String] {
        &self.inner.groups
    }

    /// Whether Entra replaced the `groups` list because the user is in too many groups
    /// (`_claim_names.groups`, or `hasgroups: true`). Membership is then unknown, not empty.
    pub fn has_group_overage(&self) -> bool {
        let claim_names = self
            .claim("_claim_names")
            .and_then(|names| names.get("groups"))
            .is_some();
        claim_names || self.claim("hasgroups") == Some(&Value::Bool(true))
    }

    /// Whether the caller is a user acting through a client application, or an application
    /// acting as itself.
    pub fn caller(&self) -> Caller {
        self.inner.caller
    }

    /// Whether the token grants this exact scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }

    /// Whether the token carries this exact role.
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| r == role)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        let secs = self.inner.expires_at.max(0.0);
        // `exp` passed the expiry check, so it is finite; clamp absurd values instead of panicking.
        let secs = if secs > 1e12 { 1e12 } else { secs };
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    /// Every claim of the token, for custom claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.inner.claims
    }

    /// One claim, for custom claims.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.inner.claims.get(name)
    }

    fn claim_str(&self, name: &str) -> Option<&str> {
        claims::string(&self.inner.claims, name)
    }

    /// Reads the claims into your own type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClaim`] (with `claim: "claims"`) if the claims do not fit `T`. The serde
    /// message, which may quote claim values, is not kept.
    pub fn deserialize_claims<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.inner.payload)
            .map_err(|_| Error::InvalidClaim { claim: "claims" })
    }
}
