//! Continuous Access Evaluation: revocation of tokens before they expire, answered with
//! Microsoft's claims challenge to clients that can take one.
//!
//! Zero Trust assumes breach: when an account is disabled, a session revoked or an application's
//! credentials leak, the API stops honouring tokens at once instead of waiting for them to expire.
//! A [`RevocationStore`] holds revocation rules; warden checks every verified token against it,
//! O(1) and without I/O, right after the signature and before any requirement.
//!
//! | rule | matches a token when |
//! |---|---|
//! | [`Revocation::user`] | its `sub` or its `oid` is the user |
//! | [`Revocation::session`] | its `sid` is the session |
//! | [`Revocation::token`] | its `jti` or its `uti` (Entra) is the token id |
//! | [`Revocation::client`] | its `client_id`, `azp` or `appid` is the application (leaked credentials) |
//! | [`Revocation::email`] | its `email`, verified (`email_verified` or Entra's `xms_edov` is `true`), is the address, in any case |
//!
//! Every identifier claim the token carries is matched, whatever the issuer's profile: a rule
//! catches every token of its user, session, token or client however the issuer spells it, and
//! no extra claim in a token (an `oid` beside `sub`, a `uti` beside `jti`) can steer it away.
//!
//! Each rule holds an instant: a token issued before it (`iat` < instant) is revoked; a token
//! issued at or after it passes (the client fetched a fresh token). A rule is scoped to a tenant
//! (`tid`), an issuer, or any issuer. Rules expire once no token they could match can still be
//! valid (the instant plus the store's retention: by default the longest token lifetime, 28 hours and
//! 10 minutes, plus 5 minutes of leeway), so memory stays bounded.
//!
//! # Answers
//!
//! A revoked token of a client that declared the CAE capability (`xms_cc` contains `cp1`, in any
//! case, string or array) gets Microsoft's claims challenge, so MSAL fetches a fresh token:
//!
//! ```text
//! 401 Unauthorized
//! WWW-Authenticate: Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAwMDAwMDAwIn19fQ=="
//! ```
//!
//! `claims` is standard base64 (padded) of `{"access_token":{"nbf":{"essential":true,"value":"<instant>"}}}`.
//! Any other client gets `401` with `error="invalid_token", error_description="token revoked"`.
//!
//! # Example
//!
//! ```
//! use warden::cae::{InMemoryRevocations, Revocation, RevocationStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), warden::cae::RevocationError> {
//! let store = InMemoryRevocations::default();
//! let user = Revocation::user("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
//! store.revoke(user.in_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")).await?;
//! assert_eq!(store.len(), 1);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::{self, SystemClock};
use crate::principal::Principal;

mod store;

pub use store::{InMemoryRevocations, RevocationError, RevocationStore, Revoking, Stale};

/// The longest an access token may live unless told otherwise: 28 hours (Entra's longest CAE
/// token, for Microsoft's own CAE-enabled resources) plus a 10-minute margin, since Entra is
/// reported to backdate `iat` by about 5 minutes.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(28 * 3600 + 10 * 60);

/// What a revocation rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every token of a user (`sub` or `oid`).
    User,
    /// Every token of a sign-in session (`sid`).
    Session,
    /// One token (`jti` or `uti`).
    Token,
    /// Every token of a client application (`azp`, `appid` or `client_id`).
    Client,
    /// Every token whose verified `email` is the address (compared lowercased).
    Email,
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Tokens of any trusted issuer.
    Any,
    /// Tokens of one tenant (`tid`).
    Tenant(Arc<str>),
    /// Tokens of one issuer (`iss`).
    Issuer(Arc<str>),
}

/// One revocation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    target: Target,
    value: String,
    scope: Scope,
    before: u64,
}

impl Revocation {
    fn new(target: Target, value: impl Into<String>) -> Self {
        Revocation {
            target,
            value: value.into(),
            scope: Scope::Any,
            before: clock::unix_secs(&SystemClock),
        }
    }

    /// Every token of a user issued before now: tokens whose `sub` or `oid` is `subject`.
    pub fn user(subject: impl Into<String>) -> Self {
        Self::new(Target::User, subject)
    }

    /// Every token of a session (`sid`) issued before now.
    pub fn session(session_id: impl Into<String>) -> Self {
        Self::new(Target::Session, session_id)
    }

    /// One token: the token whose `jti` or `uti` is `token_id`.
    pub fn token(token_id: impl Into<String>) -> Self {
        Self::new(Target::Token, token_id)
    }

    /// Every token of a client application issued before now: tokens whose `client_id`, `azp` or
    /// `appid` is `client_id`.
    pub fn client(client_id: impl Into<String>) -> Self {
        Self::new(Target::Client, client_id)
    }

    /// Every token issued before now whose `email` is `address` (compared without regard to
    /// case) and verified by its issuer: `email_verified` is `true`, or Microsoft Entra's
    /// `xms_edov` is `true`. A token with an unverified address is never matched by it: anyone
    /// may claim an address.
    pub fn email(address: impl Into<String>) -> Self {
        Self::new(Target::Email, address.into().to_lowercase())
    }

    /// Applies to one tenant's tokens only: tokens whose `tid` is `tenant`, compared without
    /// regard to case (tenant ids are GUIDs). Any token carrying that `tid` matches, whatever its
    /// issuer's profile: a revocation errs on the side of catching.
    #[must_use]
    pub fn in_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.scope = Scope::Tenant(Arc::from(tenant.into()));
        self
    }

    /// Applies to one issuer's tokens only.
    #[must_use]
    pub fn of_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.scope = Scope::Issuer(Arc::from(issuer.into()));
        self
    }

    /// Revokes tokens issued before this instant (seconds since the Unix epoch) instead of now.
    #[must_use]
    pub fn issued_before(mut self, unix_secs: u64) -> Self {
        self.before = unix_secs;
        self
    }

    /// What the rule names.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The subject, session, token or client id.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Where the rule applies.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The revocation instant, seconds since the Unix epoch.
    pub fn before(&self) -> u64 {
        self.before
    }

    /// Whether this rule revokes the token: it names one of the token's identifiers of its
    /// target ([`revocable_values`]), applies to the token's tenant or issuer, and the token was
    /// issued before the rule's instant (a token without `iat` counts as issued at 0).
    pub fn revokes(&self, principal: &Principal) -> bool {
        revokes(
            self.target,
            &self.value,
            &self.scope,
            self.before,
            principal,
        )
    }
}

/// [`Revocation::revokes`], for a rule held in parts.
fn revokes(target: Target, value: &str, scope: &Scope, before: u64, principal: &Principal) -> bool {
    let in_scope = match scope {
        Scope::Any => true,
        Scope::Tenant(tenant) => principal
            .identifier_claims()
            .tenant
            .is_some_and(|tid| tid.eq_ignore_ascii_case(tenant)),
        Scope::Issuer(issuer) => principal.issuer() == &**issuer,
    };
    in_scope
        && principal.issued_at().unwrap_or(0.0) < before as f64
        && revocable_values(principal).any(|(t, v)| t == target && v == value)
}

/// Every (target, value) pair a rule may name to revoke this token, whatever the issuer's
/// profile: the user by `sub` and by `oid`, the session by `sid`, the token by `jti` and by
/// `uti`, the client by `client_id`, `azp` and `appid`, the verified email address, lowercased. A store looks each pair up and asks the
/// rules it finds [`Revocation::revokes`]; so a rule catches every token of its user, session,
/// token or client, and no extra claim in a token can steer it away from one.
pub fn revocable_values(principal: &Principal) -> impl Iterator<Item = (Target, &str)> {
    let ids = principal.identifier_claims();
    let users = ids.users.into_iter().map(|v| (Target::User, v));
    let session = std::iter::once((Target::Session, ids.session));
    let tokens = ids.tokens.into_iter().map(|v| (Target::Token, v));
    let clients = ids.clients.into_iter().map(|v| (Target::Client, v));
    let email = std::iter::once((Target::Email, ids.verified_email));
    users
        .chain(session)
        .chain(tokens)
        .chain(clients)
        .chain(email)
        .filter_map(|(target, value)| Some((target, value?)))
}

/// Standard base64 (padded) of a claims request, as Microsoft's `claims=` parameter carries it.
pub fn claims_challenge(claims_request_json: &str) -> String {
    STANDARD.encode(claims_request_json)
}

/// `{"access_token":{"nbf":{"essential":true,"value":"<instant>"}}}`: "get a token issued after
/// the revocation".
pub fn nbf_claims_request(instant: u64) -> String {
    format!(r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{instant}"}}}}}}"#)
}

/// `{"access_token":{"acrs":{"essential":true,"value":"<id>"}}}`: "satisfy this authentication
/// context".
pub fn acrs_claims_request(auth_context: &str) -> String {
    let value = serde_json::Value::String(auth_context.to_owned()).to_string();
    format!(r#"{{"access_token":{{"acrs":{{"essential":true,"value":{value}}}}}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_microsofts_documented_claims_values() {
        // claims-challenge.md: {"access_token":{"acrs":{"essential":true,"value":"cp1"}}}
        assert_eq!(
            claims_challenge(&acrs_claims_request("cp1")),
            "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiY3AxIn19fQ=="
        );
        // The auth-context guide's c1 example.
        assert_eq!(
            claims_challenge(&acrs_claims_request("c1")),
            "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"
        );
        let decoded = STANDARD
            .decode(claims_challenge(&nbf_claims_request(1_700_000_000)))
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"access_token":{"nbf":{"essential":true,"value":"1700000000"}}})
        );
    }

    #[test]
    fn keeps_one_rule_per_target_and_scope_with_the_latest_instant() {
        let store = InMemoryRevocations::default();
        let now = clock::unix_secs(&SystemClock);
        store.apply(Revocation::user("u").issued_before(now - 10));
        store.apply(Revocation::user("u").issued_before(now));
        store.apply(Revocation::user("u").in_tenant("t").issued_before(now));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn drops_rules_older_than_the_longest_token_lifetime() {
        let store = InMemoryRevocations::with_retention(Duration::from_secs(3600));
        store.apply(Revocation::user("old").issued_before(clock::unix_secs(&SystemClock) - 7200));
        store.apply(Revocation::user("new"));
        assert_eq!(store.len(), 1);
    }
}
