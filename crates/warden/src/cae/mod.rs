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
//! | [`Revocation::user_without_session`] | its `sub` or its `oid` is the user, and it names no session (`sid`) |
//! | [`Revocation::session`] | its `sid` is the session |
//! | [`Revocation::token`] | its `jti` or its `uti` (Entra) is the token id |
//! | [`Revocation::client`] | its `client_id`, `azp` or `appid` is the application (leaked credentials) |
//! | [`Revocation::email`] | its `email`, verified (`email_verified` or Entra's `xms_edov` is `true`), is the address, in any case |
//!
//! Every identifier claim the token carries is matched, whatever the issuer's profile: a rule
//! catches every token of its user, session, token or client however the issuer spells it, and
//! no extra claim in a token (an `oid` beside `sub`, a `uti` beside `jti`) can steer it away.
//! GUIDs (Entra's `oid`, `tid`, `sid`, `appid`, `azp`) match in any case; `sub` and `jti`, which
//! RFC 7519 defines as case-sensitive, match exactly; email addresses match lowercased.
//!
//! Each rule holds an instant: a token issued before it (`iat` < instant) is revoked; a token
//! issued at or after it passes (the client fetched a fresh token). Tokens carry `iat` in whole
//! seconds, so a revocation made "now" cannot tell a token issued earlier in the same second
//! from one issued later: it rounds toward revoking, and its instant is the next second
//! ([`Revocation::issued_at_or_before`]). A client that fetches a new token in that second is
//! refused once more, with a claims challenge naming that next second, and its next token passes.
//! A rule is scoped to a tenant
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
    /// Every token of a user (`sub` or `oid`) that names no session (`sid`): with
    /// [`Target::Session`], what a session's revocation reaches among tokens that cannot say
    /// which session they belong to.
    UserWithoutSession,
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
    /// A rule of tokens issued up to now, this second included.
    fn new(target: Target, value: impl Into<String>) -> Self {
        Revocation {
            target,
            value: value.into(),
            scope: Scope::Any,
            before: 0,
        }
        .issued_at_or_before(clock::unix_secs(&SystemClock))
    }

    /// Every token of a user issued up to now: tokens whose `sub` or `oid` is `subject`.
    pub fn user(subject: impl Into<String>) -> Self {
        Self::new(Target::User, subject)
    }

    /// Every token of a user issued up to now that names no session (no `sid`). Beside
    /// [`Revocation::session`], it reaches the tokens of a revoked session that do not say which
    /// session they belong to, and leaves the user's other sessions alone.
    pub fn user_without_session(subject: impl Into<String>) -> Self {
        Self::new(Target::UserWithoutSession, subject)
    }

    /// Every token of a session (`sid`) issued up to now.
    pub fn session(session_id: impl Into<String>) -> Self {
        Self::new(Target::Session, session_id)
    }

    /// One token: the token whose `jti` or `uti` is `token_id`.
    pub fn token(token_id: impl Into<String>) -> Self {
        Self::new(Target::Token, token_id)
    }

    /// Every token of a client application issued up to now: tokens whose `client_id`, `azp` or
    /// `appid` is `client_id`.
    pub fn client(client_id: impl Into<String>) -> Self {
        Self::new(Target::Client, client_id)
    }

    /// Every token issued up to now whose `email` is `address` (compared without regard to
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

    /// Revokes tokens issued before this instant (seconds since the Unix epoch), exactly: a
    /// token whose `iat` is `unix_secs` passes.
    #[must_use]
    pub fn issued_before(mut self, unix_secs: u64) -> Self {
        self.before = unix_secs;
        self
    }

    /// Revokes tokens issued up to and including the second `unix_secs` (the instant becomes
    /// the next second): what an event that happened during that second revokes, since a token's
    /// `iat` in the same second may come before it. The constructors use it with now.
    #[must_use]
    pub fn issued_at_or_before(self, unix_secs: u64) -> Self {
        self.issued_before(unix_secs.saturating_add(1))
    }

    /// The same rule naming another kind of identifier.
    #[cfg(feature = "ssf")]
    pub(crate) fn with_target(mut self, target: Target) -> Self {
        self.target = target;
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
        revocable_values(principal).any(|identifier| {
            identifier.target == self.target
                && identifier.matches(&self.value)
                && in_force(&self.scope, self.before, principal)
        })
    }
}

/// Whether a rule with this scope and instant applies to the token: the token is of its tenant
/// (any case: tenant ids are GUIDs) or issuer, and was issued before the instant.
pub(crate) fn in_force(scope: &Scope, before: u64, principal: &Principal) -> bool {
    let in_scope = match scope {
        Scope::Any => true,
        Scope::Tenant(tenant) => principal
            .identifier_claims()
            .tenant
            .is_some_and(|tid| crate::guid::same_id(tid, tenant)),
        Scope::Issuer(issuer) => principal.issuer() == &**issuer,
    };
    in_scope && principal.issued_at().unwrap_or(0.0) < before as f64
}

/// How a rule's value is compared with a token's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Comparison {
    /// Exactly (`sub`, `jti`: case-sensitive strings, RFC 7519).
    Exact,
    /// Exactly, or without regard to case when both are GUIDs (Entra's `oid`, `sid`, `appid`,
    /// `azp`, `client_id`; `uti`; an email address, already lowercased).
    GuidInAnyCase,
}

/// One identifier of a token that a rule may name: what it identifies, its value as the token
/// spells it, and how a rule's value compares with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenIdentifier<'a> {
    /// What the identifier names.
    pub target: Target,
    /// The value, as the token spells it.
    pub value: &'a str,
    /// How a rule's value is compared with it.
    pub comparison: Comparison,
}

impl<'a> TokenIdentifier<'a> {
    /// Whether a rule naming `value` names this identifier.
    pub fn matches(&self, value: &str) -> bool {
        match self.comparison {
            Comparison::Exact => self.value == value,
            Comparison::GuidInAnyCase => crate::guid::same_id(self.value, value),
        }
    }

    /// The key a store that files rules by [`filing_key`] looks this identifier up under: the
    /// value, a GUID lowercased into `buffer` (no allocation).
    pub fn lookup_key<'b>(&'b self, buffer: &'b mut [u8; 36]) -> &'b str {
        crate::guid::canonical(self.value, buffer)
    }
}

/// The key a store files a rule's value under, so that [`TokenIdentifier::lookup_key`] finds it
/// in whatever case either spells a GUID: a GUID lowercased, anything else as it is. Keep the
/// value as the rule spelled it too, and compare it with [`TokenIdentifier::matches`] once found:
/// an exact identifier (`sub`) compared with the lowercased key would miss an upper-case GUID.
pub fn filing_key(value: &str) -> String {
    crate::guid::canonical_owned(value)
}

/// Every identifier a rule may name to revoke this token, whatever the issuer's profile: the
/// user by `sub` and by `oid` (also as a user without session when the token has no `sid`), the
/// session by `sid`, the token by `jti` and by `uti`, the client by `client_id`, `azp` and
/// `appid`, the verified email address, lowercased. A store looks each up and asks the rules it
/// finds [`Revocation::revokes`]; so a rule catches every token of its user, session, token or
/// client, and no extra claim in a token can steer it away from one.
pub fn revocable_values(principal: &Principal) -> impl Iterator<Item = TokenIdentifier<'_>> {
    use Comparison::{Exact, GuidInAnyCase};
    let ids = principal.identifier_claims();
    let [sub, oid] = ids.users;
    let [jti, uti] = ids.tokens;
    let sessionless = ids.session.is_none();
    let users = [(sub, Exact), (oid, GuidInAnyCase)];
    let users_without_session = users
        .into_iter()
        .filter(move |_| sessionless)
        .map(|(v, c)| (Target::UserWithoutSession, v, c));
    let users = users.into_iter().map(|(v, c)| (Target::User, v, c));
    let session = std::iter::once((Target::Session, ids.session, GuidInAnyCase));
    let tokens = [(jti, Exact), (uti, GuidInAnyCase)]
        .into_iter()
        .map(|(v, c)| (Target::Token, v, c));
    let clients = ids
        .clients
        .into_iter()
        .map(|v| (Target::Client, v, GuidInAnyCase));
    let email = std::iter::once((Target::Email, ids.verified_email, GuidInAnyCase));
    users
        .chain(users_without_session)
        .chain(session)
        .chain(tokens)
        .chain(clients)
        .chain(email)
        .filter_map(|(target, value, comparison)| {
            Some(TokenIdentifier {
                target,
                value: value?,
                comparison,
            })
        })
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
