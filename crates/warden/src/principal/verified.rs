//! [`Principal`]: the validated caller, and what it answers about itself.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::identity::{Caller, Claim};
use crate::error::{Error, InvalidToken};

use super::read::{Confirmation, Parts, Span, span_text};

/// Who a caller is, as a key for what they own: see [`Principal::identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity<'a> {
    /// The issuer (`iss`), or the tenant (`tid`) for Microsoft Entra.
    pub namespace: &'a str,
    /// `sub`, or `oid` for Microsoft Entra: [`Principal::user_id`].
    pub user_id: &'a str,
}

/// Every identifier claim of a token, whatever the profile: what a revocation rule can name, and
/// what a client allow-list must admit.
pub(crate) struct IdentifierClaims<'a> {
    /// `sub` and `oid`.
    pub(crate) users: [Option<&'a str>; 2],
    /// `sid`.
    pub(crate) session: Option<&'a str>,
    /// `jti` and `uti`.
    pub(crate) tokens: [Option<&'a str>; 2],
    /// `client_id`, `azp` and `appid`.
    pub(crate) clients: [Option<&'a str>; 3],
    /// `tid`, as the token carries it.
    pub(crate) tenant: Option<&'a str>,
    /// `email`, lowercased, when the token says it was verified.
    pub(crate) verified_email: Option<&'a str>,
}

/// The caller of a request whose bearer token warden validated.
///
/// Only warden makes one, after the signature verified and every claim check passed: holding a
/// `Principal` is proof of validation. It is cheap to clone (one `Arc`), and the layer stores it in
/// the request extensions, where extractors read it without taking it out.
///
/// It keeps the claims' JSON text once and points into it for the identifiers, scopes and roles,
/// so it costs little more memory than the token's payload; [`claims`](Self::claims) parses the
/// whole object on first use.
///
/// Identity follows RFC 8725 §3.8: a subject is only meaningful together with its issuer; for
/// Entra tokens the stable pair is (`tid`, `oid`). Never authorize on `preferred_username`,
/// `name` or `email`.
#[derive(Clone)]
pub struct Principal {
    inner: Arc<Inner>,
}

struct Inner {
    json: Box<str>,
    parts: Parts,
    expires_at: f64,
    claims: OnceLock<Map<String, Value>>,
    /// The SHA-256 of the token this principal was validated from, once a DPoP proof asked.
    token_hash: OnceLock<[u8; 32]>,
}

impl Inner {
    /// The span of an identifier claim.
    fn claim(&self, claim: Claim) -> Span {
        match claim {
            Claim::Iss => self.parts.issuer,
            Claim::Sub => self.parts.subject,
            Claim::Tid => self.parts.tenant,
            Claim::Oid => self.parts.object_id,
            Claim::ClientId => self.parts.client_id,
            Claim::Azp => self.parts.azp,
            Claim::Appid => self.parts.appid,
            Claim::Jti => self.parts.jti,
            Claim::Uti => self.parts.uti,
        }
    }

    fn text(&self, span: Span) -> Option<&str> {
        span_text(&self.json, &self.parts.spill, span)
    }
}

/// Names held by the principal (scopes, roles, groups, authentication contexts), in token order.
#[derive(Clone)]
pub struct Names<'a> {
    inner: &'a Inner,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let span = *self.spans.next()?;
        Some(self.inner.text(span).unwrap_or_default())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Names<'_> {}

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl Serialize for Names<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.clone())
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("issuer", &self.issuer())
            .field("subject", &self.subject())
            .field("tenant_id", &self.tenant_id())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes())
            .field("roles", &self.roles())
            .field("caller", &self.caller())
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Builds the principal from the verified claims' text and the parts read from it before
    /// the signature was checked ([`Parts::read`]).
    pub(crate) fn from_parts(json: String, parts: Parts, expires_at: f64) -> Self {
        Principal {
            inner: Arc::new(Inner {
                json: json.into_boxed_str(),
                parts,
                expires_at,
                claims: OnceLock::new(),
                token_hash: OnceLock::new(),
            }),
        }
    }

    /// A principal from claims text, for tests of the cache.
    #[cfg(test)]
    pub(crate) fn from_verified(
        payload: Vec<u8>,
        expires_at: f64,
        rules: &'static super::identity::IdentityRules,
    ) -> Result<Self, Error> {
        let json = String::from_utf8(payload)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))?;
        let claims = crate::json::parse_members(&json)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))?;
        let parts = Parts::read(&json, &claims, rules, Confirmation::read(&claims)?)?;
        drop(claims);
        Ok(Self::from_parts(json, parts, expires_at))
    }

    fn text(&self, span: Span) -> Option<&str> {
        self.inner.text(span)
    }

    fn names<'a>(&'a self, spans: &'a [Span]) -> Names<'a> {
        Names {
            inner: &self.inner,
            spans: spans.iter(),
        }
    }

    /// The issuer (`iss`), exactly as configured.
    pub fn issuer(&self) -> &str {
        self.text(self.inner.parts.issuer).unwrap_or_default()
    }

    /// The subject (`sub`). Empty only for a profile that does not require `sub`.
    pub fn subject(&self) -> &str {
        self.text(self.inner.parts.subject).unwrap_or_default()
    }

    /// The tenant (`tid`) of a Microsoft Entra token, checked against its issuer's tenant.
    /// `None` for every other profile, whatever `tid` claim the token carries: a claim the
    /// profile does not name is not vouched for.
    pub fn tenant_id(&self) -> Option<&str> {
        let claim = self.inner.parts.rules.tenant?;
        self.text(self.inner.claim(claim))
    }

    /// The `oid` claim as the token carries it: in Microsoft Entra tokens, the stable id of the
    /// user or service principal in its tenant. For identity use [`user_id`](Self::user_id) or
    /// [`identity`](Self::identity), which follow the issuer's profile.
    pub fn object_id(&self) -> Option<&str> {
        self.text(self.inner.parts.object_id)
    }

    /// The caller's user (or service principal) id, by the issuer's profile: `oid` for Microsoft
    /// Entra (required there), `sub` for every other profile. A claim the profile does not name
    /// (an `oid` in a generic OpenID Connect token) never changes it.
    pub fn user_id(&self) -> &str {
        self.text(self.inner.claim(self.inner.parts.rules.user))
            .unwrap_or_default()
    }

    /// Who the caller is, as a key for data they own (RFC 8725 §3.8): the issuer and `sub`, or
    /// for Microsoft Entra the tenant and `oid` (the same user in v1 and v2 tokens). Key stored
    /// data by this pair, never by `sub` or `oid` alone.
    ///
    /// ```
    /// # fn check(alice: &warden::Principal, owner: warden::principal::Identity<'_>) -> bool {
    /// alice.identity() == owner
    /// # }
    /// ```
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            namespace: self
                .text(self.inner.claim(self.inner.parts.rules.namespace))
                .unwrap_or_default(),
            user_id: self.user_id(),
        }
    }

    /// The client application, by the issuer's profile: `azp` (v2), else `appid` (v1), for
    /// Microsoft Entra; `client_id` (RFC 9068), else `azp` (OpenID Connect), for every other.
    pub fn client_id(&self) -> Option<&str> {
        let [first, second] = self.inner.parts.rules.clients;
        self.text(self.inner.claim(first))
            .or_else(|| self.text(self.inner.claim(second)))
    }

    /// The token id, by the issuer's profile: `uti` for Microsoft Entra, `jti` for every other.
    pub fn token_id(&self) -> Option<&str> {
        self.text(self.inner.claim(self.inner.parts.rules.token_id))
    }

    /// Every identifier a revocation rule can name, whatever the profile, so a rule catches
    /// every token of its user, session, token or client however the issuer spells it.
    pub(crate) fn identifier_claims(&self) -> IdentifierClaims<'_> {
        let inner = &*self.inner;
        IdentifierClaims {
            users: [
                self.text(inner.parts.subject),
                self.text(inner.parts.object_id),
            ],
            session: self.text(inner.parts.session),
            tokens: [self.text(inner.parts.jti), self.text(inner.parts.uti)],
            clients: [
                self.text(inner.parts.client_id),
                self.text(inner.parts.azp),
                self.text(inner.parts.appid),
            ],
            tenant: self.text(inner.parts.tenant),
            verified_email: self.text(inner.parts.verified_email),
        }
    }

    /// Whether the token names a client and every client claim it carries (`client_id`, `azp`,
    /// `appid`) is one of `allowed`: a fence that fails closed, so a second claim naming another
    /// client is not ignored.
    pub(crate) fn clients_all_in(&self, allowed: &[String]) -> bool {
        let mut clients = self.identifier_claims().clients.into_iter().flatten();
        let mut any = false;
        let all_allowed = clients.all(|client| {
            any = true;
            // Application ids are GUIDs (Entra): the same client in any case.
            allowed.iter().any(|a| crate::guid::same_id(a, client))
        });
        any && all_allowed
    }

    /// When the token was issued (`iat`), seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<f64> {
        self.inner.parts.issued_at
    }

    /// The sign-in session (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.text(self.inner.parts.session)
    }

    /// Whether the client declared it can answer claims challenges: `xms_cc` (string or array)
    /// contains `cp1`, in any case.
    pub fn is_cae_capable(&self) -> bool {
        self.inner.parts.cae_capable
    }

    /// What the token is bound to (`cnf`), if anything: a DPoP key or a client certificate. A
    /// bound token reached the handler only with its proof checked.
    pub fn binding(&self) -> Option<crate::error::Binding> {
        self.inner
            .parts
            .confirmation
            .as_ref()
            .map(Confirmation::kind)
    }

    pub(crate) fn confirmation(&self) -> Option<&Confirmation> {
        self.inner.parts.confirmation.as_ref()
    }

    /// Satisfied Entra authentication contexts (`acrs`).
    pub fn auth_contexts(&self) -> Names<'_> {
        self.names(&self.inner.parts.acrs)
    }

    /// The authentication context class (`acr`, RFC 9470).
    pub fn acr(&self) -> Option<&str> {
        self.text(self.inner.parts.acr)
    }

    /// When the user last authenticated (`auth_time`), seconds since the Unix epoch.
    pub fn auth_time(&self) -> Option<f64> {
        self.inner.parts.auth_time
    }

    /// Delegated scopes: `scope` (RFC 9068) and `scp` (Entra), split on spaces. Case-sensitive.
    pub fn scopes(&self) -> Names<'_> {
        self.names(&self.inner.parts.scopes)
    }

    /// App roles (`roles`), case-sensitive. An array is the standard form (Entra, RFC 9068
    /// §2.2.3.1); a single string is one role, never split on spaces.
    pub fn roles(&self) -> Names<'_> {
        self.names(&self.inner.parts.roles)
    }

    /// Security group object ids (`groups`, an array; a single string is one group), empty when
    /// absent or replaced by an overage marker
    /// (see [`has_group_overage`](Self::has_group_overage)).
    pub fn groups(&self) -> Names<'_> {
        self.names(&self.inner.parts.groups)
    }

    /// Whether Entra replaced the `groups` list because the user is in too many groups
    /// (`_claim_names.groups`, or `hasgroups: true`). Membership is then unknown, not empty.
    pub fn has_group_overage(&self) -> bool {
        self.inner.parts.group_overage
    }

    /// Whether the caller is a user acting through a client application, or an application
    /// acting as itself.
    pub fn caller(&self) -> Caller {
        self.inner.parts.caller
    }

    /// Whether the token grants this exact scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether the token carries this exact role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        let secs = self.inner.expires_at.max(0.0);
        // `exp` passed the expiry check, so it is finite; clamp absurd values instead of panicking.
        let secs = if secs > 1e12 { 1e12 } else { secs };
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    /// The SHA-256 of `token`, the token this principal was validated from (a DPoP proof's
    /// `ath` names it), computed on first use: a principal only ever comes from one exact token
    /// (the token cache matches tokens exactly), so later proofs skip hashing it again.
    pub(crate) fn token_hash(&self, token: &str) -> &[u8; 32] {
        self.inner.token_hash.get_or_init(|| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
            let mut hash = [0u8; 32];
            hash.copy_from_slice(digest.as_ref());
            hash
        })
    }

    /// The claims as the token's payload held them, byte for byte.
    pub(crate) fn claims_text(&self) -> &str {
        &self.inner.json
    }

    pub(crate) fn expires_at_secs(&self) -> f64 {
        self.inner.expires_at
    }

    /// Every claim of the token, for custom claims (parsed on first use).
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner
            .claims
            .get_or_init(|| serde_json::from_str(&self.inner.json).unwrap_or_default())
    }

    /// One claim, for custom claims.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }

    /// Reads the claims into your own type.
    ///
    /// # Errors
    ///
    /// [`InvalidToken::InvalidClaim`](crate::error::InvalidToken::InvalidClaim) (with `claim: "claims"`) if the claims do not fit `T`. The serde
    /// message, which may quote claim values, is not kept.
    pub fn deserialize_claims<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.inner.json)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))
    }

    /// Bytes held for this principal (the claims text, the spill buffer and the spans), for the
    /// memory accounting of caches; the claims map built by [`claims`](Self::claims) on first
    /// use is not counted.
    pub fn heap_bytes(&self) -> usize {
        let inner = &*self.inner;
        2 * std::mem::size_of::<usize>() // the Arc counters
            + std::mem::size_of::<Inner>()
            + inner.json.len()
            + inner.parts.spill.len()
            + std::mem::size_of::<Span>()
                * (inner.parts.scopes.len() + inner.parts.roles.len() + inner.parts.groups.len() + inner.parts.acrs.len())
    }
}
