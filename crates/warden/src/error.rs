//! Why a request was refused, and why a configuration was refused.
//!
//! [`Error`] is what validation returns. Each variant names one fact about the request or the token;
//! context is data (`Expired { exp, now }`), never text taken from the token. The wire answer of each
//! variant (status, `WWW-Authenticate`, problem+json body) is derived in one place,
//! [`Challenge::from(&Error)`](crate::challenge::Challenge).
//!
//! [`ConfigError`] is what a builder or [`WardenConfig`](crate::config::WardenConfig) returns when
//! the configuration itself is wrong: it names the field, and it is raised at startup, never on a request.

use std::fmt;
use std::time::Duration;

/// Why a request carrying (or lacking) a bearer token was not authenticated.
///
/// This is `non_exhaustive`: new checks may add variants in minor versions. Match the ones you
/// care about and keep a wildcard arm; the answer each variant gets is fixed by
/// [`Challenge`](crate::challenge::Challenge).
///
/// `Display` is a short lower-case phrase from a fixed vocabulary. It never holds token content,
/// a claim value or an upstream error message, so it is safe to log and to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// No bearer token was sent: no `Authorization` header, another scheme (`Basic`), or a token
    /// only in the query string (not accepted). Answered 401 with a challenge and no error code.
    MissingToken,
    /// The request is malformed (RFC 6750 §3.1 `invalid_request`). Answered 400.
    InvalidRequest(InvalidRequest),
    /// The token is longer than the configured cap; it was not parsed.
    TokenTooLarge {
        /// Length of the token, in bytes.
        len: usize,
        /// The configured cap, in bytes.
        max: usize,
    },
    /// The token is not a well-formed compact JWS with JSON object header and claims.
    Malformed(Malformed),
    /// The token is a JWE (encrypted); only signed tokens are accepted.
    Encrypted,
    /// The token is a nested JWT (`cty: JWT`).
    Nested,
    /// The header lists a `crit` extension warden does not understand (it understands none).
    UnsupportedCritical,
    /// The header carries a key or a key URL (`jwk`, `jku`, `x5u`, `x5c`); such keys are never trusted.
    EmbeddedKey,
    /// The `alg` header is missing, `none`, or not on the issuer's allow-list.
    DisallowedAlgorithm,
    /// The `typ` header is not one the issuer's profile accepts (RFC 9068 §4).
    WrongType,
    /// The token carries a claim that marks another kind of JWT (`events`: a security event token).
    WrongTokenKind,
    /// The `iss` claim is not exactly a configured issuer.
    UntrustedIssuer,
    /// The token's `tid` is not the tenant of its (Entra) issuer.
    WrongTenant,
    /// No configured audience is in the `aud` claim.
    WrongAudience,
    /// A claim the issuer's profile requires is absent.
    MissingClaim {
        /// Name of the claim (one of warden's own constants, never token content).
        claim: &'static str,
    },
    /// A claim has the wrong JSON type (for example `exp` as a string).
    InvalidClaim {
        /// Name of the claim (one of warden's own constants, never token content).
        claim: &'static str,
    },
    /// `exp` (plus leeway) is not after the current time.
    Expired {
        /// The token's `exp`, seconds since the Unix epoch.
        exp: f64,
        /// The current time, seconds since the Unix epoch.
        now: u64,
    },
    /// `nbf` is after the current time plus leeway.
    NotYetValid {
        /// The token's `nbf`, seconds since the Unix epoch.
        nbf: f64,
        /// The current time, seconds since the Unix epoch.
        now: u64,
    },
    /// `exp` − `iat` exceeds the maximum token lifetime (default 28 hours and 10 minutes).
    LifetimeTooLong,
    /// `iat` is after the current time plus leeway.
    IssuedInFuture {
        /// The token's `iat`, seconds since the Unix epoch.
        iat: f64,
        /// The current time, seconds since the Unix epoch.
        now: u64,
    },
    /// No key of the token's issuer matches its `kid` (or, without `kid`, no single key fits).
    UnknownKey,
    /// The key named by `kid` may not be used with the token's algorithm (its JWK `alg`, its key
    /// type or its curve say otherwise).
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The token is sender-constrained (`cnf`, RFC 7800) and came without its proof: a DPoP-bound
    /// token sent as a bearer token, a certificate-bound token without its client certificate,
    /// or a confirmation method warden does not verify. Refused rather than accepted as a bearer
    /// token that anyone holding it could use (RFC 9449 §7.2, RFC 8705 §3).
    UnverifiedBinding(Binding),
    /// A revocation rule matches the token (Continuous Access Evaluation). Answered 401 with
    /// Microsoft's claims challenge if the client is CAE-capable, else `invalid_token`.
    Revoked {
        /// The revocation instant, seconds since the Unix epoch.
        at: u64,
        /// The claims challenge, for a CAE-capable client.
        challenge: Option<ClaimsChallenge>,
    },
    /// The route needs stronger or more recent authentication (RFC 9470, Entra auth context).
    StepUpRequired(StepUp),
    /// The caller is authenticated but lacks what the route requires (403 `insufficient_scope`).
    Forbidden(Forbidden),
    /// A group requirement met a token whose group list was replaced by an overage marker, and
    /// the group resolver failed. Answered 503 with `Retry-After`.
    GroupsUnavailable,
    /// No key could be had because the key source failed and no key was ever loaded for this
    /// issuer. Answered 503 with `Retry-After`: the caller's token was not judged.
    KeysUnavailable {
        /// When the caller should try again.
        retry_after: Duration,
    },
    /// The request's DPoP proof is missing or invalid (RFC 9449 §4.3). Answered 401
    /// `invalid_dpop_proof` on the DPoP challenge.
    InvalidDpopProof(ProofError),
    /// Server nonces are on and the proof carries no current nonce (RFC 9449 §9). Answered 401
    /// `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`.
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
    },
    /// The DPoP proof's key is not the one the token is bound to (`cnf.jkt`). Answered 401
    /// `invalid_token`, "Invalid DPoP key binding" (RFC 9449 §7.1's example).
    DpopKeyMismatch,
    /// A bound token (`cnf`) validated outside a request
    /// ([`Validator::validate`](crate::Validator::validate)): its proof of possession cannot be
    /// checked there, so it is refused.
    BoundOutsideRequest(Binding),
    /// The connection's client certificate is not the one the token is bound to
    /// (`cnf.x5t#S256`, RFC 8705 §3). Answered 401 `invalid_token`.
    CertificateMismatch,
    /// The token's issuer requires DPoP ([`DpopPolicy::Required`](crate::DpopPolicy::Required))
    /// and the token is not DPoP-bound. Answered 401 `invalid_token`.
    DpopRequired,
    /// A DPoP-bound token where DPoP is not accepted: its issuer refuses DPoP
    /// ([`DpopPolicy::Refused`](crate::DpopPolicy::Refused)), or the layer is bearer-only and it
    /// came with the `DPoP` scheme. Answered 401 `invalid_token`.
    DpopNotAccepted,
    /// A token without a DPoP binding was presented with the `DPoP` scheme. Answered 401
    /// `invalid_token` on the DPoP challenge.
    NotDpopBound,
    /// The DPoP replay cache could not say whether the proof was seen before. Answered 503 with
    /// `Retry-After`: the proof is not accepted unchecked.
    ReplayCacheUnavailable {
        /// When the caller should try again.
        retry_after: Duration,
    },
    /// The revocation store's rules are older than its staleness bound allows (a fleet store cut
    /// off from its feed, configured to fail closed). Answered 503 with `Retry-After`: the
    /// caller's token was not judged.
    RevocationsStale {
        /// When the caller should try again.
        retry_after: Duration,
    },
}

/// What is wrong with a DPoP proof (RFC 9449 §4.3); each is answered 401 `invalid_dpop_proof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// No `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// Not a compact JWS with a JSON header and claims, or a key-pointing header member.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` missing, symmetric, `none` or not allowed.
    DisallowedAlgorithm,
    /// The header's `jwk` holds private key material.
    PrivateKey,
    /// The header's `jwk` is missing or not a usable public key.
    BadKey,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `jti`, `htm`, `htu`, `iat` or `ath` is missing or of the wrong type.
    MissingClaim,
    /// `jti` is longer than 256 bytes.
    JtiTooLong,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's URL.
    WrongUrl,
    /// `iat` is too old or too far in the future.
    OutsideWindow,
    /// `ath` is not the hash of the access token.
    WrongTokenHash,
    /// The proof was already used.
    Replayed,
}

impl ProofError {
    /// The fixed phrase sent in `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            ProofError::Missing => "DPoP proof missing",
            ProofError::Multiple => "more than one DPoP proof",
            ProofError::Malformed => "malformed DPoP proof",
            ProofError::WrongType => "DPoP proof typ must be dpop+jwt",
            ProofError::DisallowedAlgorithm => "DPoP proof algorithm not allowed",
            ProofError::PrivateKey => "DPoP proof key holds private material",
            ProofError::BadKey => "DPoP proof key unusable",
            ProofError::BadSignature => "invalid DPoP proof signature",
            ProofError::MissingClaim => "DPoP proof lacks a required claim",
            ProofError::JtiTooLong => "DPoP proof jti too long",
            ProofError::WrongMethod => "DPoP proof htm does not match the request",
            ProofError::WrongUrl => "DPoP proof htu does not match the request",
            ProofError::OutsideWindow => "DPoP proof iat outside the accepted window",
            ProofError::WrongTokenHash => "DPoP proof ath does not match the access token",
            ProofError::Replayed => "DPoP proof replayed",
        }
    }
}

impl From<ProofError> for Error {
    fn from(proof: ProofError) -> Self {
        Error::InvalidDpopProof(proof)
    }
}

/// Ways the `Authorization` header or the request can be malformed (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// The `Bearer` credentials do not follow `"Bearer" 1*SP b64token` (RFC 6750 §2.1).
    MalformedAuthorization,
    /// More than one `Authorization` header.
    MultipleAuthorizationHeaders,
    /// A token in the header and another in the query string (RFC 6750 §2: one method only).
    MultipleMethods,
}

/// Ways a token can fail the strict compact-serialization rules (RFC 7515 §3.1, §5.2; RFC 7519 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly three dot-separated segments.
    SegmentCount,
    /// A segment is not unpadded, canonical base64url.
    Base64,
    /// The header or the claims are not a UTF-8 JSON object.
    NotJsonObject,
    /// The header or the claims repeat a member name (RFC 7515 §4, RFC 7519 §4).
    DuplicateMember,
    /// A header parameter has the wrong JSON type (for example a numeric `kid`).
    HeaderParameter,
    /// A header or claim value, read or not by warden, is not what a JSON reader can decode: an
    /// escape naming no character (a lone surrogate such as `"\ud800"`), a number beyond a
    /// double's range, or nesting deeper than serde_json reads (127 levels). Refused so that no reader of the claims
    /// (an application's own type, [`Principal::claims`](crate::Principal::claims)) can see
    /// something other than what the checks saw.
    InvalidValue,
}

/// How a sender-constrained token is bound to its client (the member of its `cnf` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Binding {
    /// `cnf.jkt`: the thumbprint of a DPoP key (RFC 9449 §6).
    DpopKey,
    /// `cnf.x5t#S256`: the thumbprint of a client certificate (RFC 8705 §3).
    Certificate,
    /// Any other confirmation method (`jwk`, `jwe`, `jku`, `kid` of RFC 7800, or one not yet
    /// registered).
    Other,
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
}

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
        }
    }
}

impl From<Forbidden> for Error {
    fn from(value: Forbidden) -> Self {
        Error::Forbidden(value)
    }
}

impl Error {
    /// Whether the token itself was judged invalid (as opposed to absent, a malformed request, or
    /// keys being unavailable).
    pub fn is_invalid_token(&self) -> bool {
        !matches!(
            self,
            Error::MissingToken
                | Error::InvalidRequest(_)
                | Error::KeysUnavailable { .. }
                | Error::RevocationsStale { .. }
                | Error::ReplayCacheUnavailable { .. }
                | Error::Forbidden(_)
                | Error::GroupsUnavailable
                | Error::StepUpRequired(_)
        )
    }

    /// The fixed phrase describing this error, as sent in `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Error::MissingToken => "no bearer token",
            Error::InvalidRequest(InvalidRequest::MalformedAuthorization) => {
                "malformed authorization header"
            }
            Error::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders) => {
                "multiple authorization headers"
            }
            Error::InvalidRequest(InvalidRequest::MultipleMethods) => {
                "token sent by more than one method"
            }
            Error::TokenTooLarge { .. } => "token too large",
            Error::Malformed(_) => "malformed token",
            Error::Encrypted => "encrypted tokens are not accepted",
            Error::Nested => "nested tokens are not accepted",
            Error::UnsupportedCritical => "unsupported critical header",
            Error::EmbeddedKey => "embedded keys are not trusted",
            Error::DisallowedAlgorithm => "algorithm not allowed",
            Error::WrongType => "wrong token type",
            Error::WrongTokenKind => "not an access token",
            Error::UntrustedIssuer => "untrusted issuer",
            Error::WrongAudience => "wrong audience",
            Error::WrongTenant => "tenant does not match issuer",
            Error::MissingClaim { .. } => "missing required claim",
            Error::InvalidClaim { .. } => "invalid claim",
            Error::Expired { .. } => "token expired",
            Error::NotYetValid { .. } => "token not yet valid",
            Error::IssuedInFuture { .. } => "token issued in the future",
            Error::LifetimeTooLong => "token lifetime too long",
            Error::UnknownKey => "unknown signing key",
            Error::AlgorithmMismatch => "algorithm not allowed for key",
            Error::BadSignature => "invalid signature",
            Error::UnverifiedBinding(Binding::DpopKey) => {
                "DPoP-bound token (cnf.jkt) sent as a bearer token"
            }
            Error::UnverifiedBinding(Binding::Certificate) => {
                "certificate-bound token (cnf.x5t#S256) sent as a bearer token"
            }
            Error::UnverifiedBinding(_) => {
                "token bound by an unsupported confirmation method (cnf)"
            }
            Error::KeysUnavailable { .. } => "signing keys unavailable",
            Error::RevocationsStale { .. } => "revocation list not current",
            Error::InvalidDpopProof(proof) => proof.description(),
            Error::DpopKeyMismatch => "Invalid DPoP key binding",
            Error::UseDpopNonce { .. } => "Resource server requires nonce in DPoP proof",
            Error::NotDpopBound => "token is not DPoP-bound",
            Error::DpopRequired => "this issuer's tokens must be DPoP-bound",
            Error::DpopNotAccepted => "DPoP is not accepted for this token",
            Error::CertificateMismatch => "client certificate does not match the token",
            Error::BoundOutsideRequest(_) => {
                "bound token: its proof of possession is checked only in a request"
            }
            Error::ReplayCacheUnavailable { .. } => "DPoP replay check unavailable",
            Error::Forbidden(forbidden) => forbidden.description(),
            Error::GroupsUnavailable => "group membership unavailable",
            Error::Revoked { .. } => "token revoked",
            Error::StepUpRequired(StepUp::MaxAge { .. }) => {
                "more recent authentication is required"
            }
            Error::StepUpRequired(_) => "a different authentication level is required",
        }
    }

    /// A stable, machine-friendly name of the outcome, as recorded in tracing spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::MissingToken => "missing_token",
            Error::InvalidRequest(_) => "invalid_request",
            Error::TokenTooLarge { .. } => "token_too_large",
            Error::Malformed(_) => "malformed",
            Error::Encrypted => "encrypted",
            Error::Nested => "nested",
            Error::UnsupportedCritical => "unsupported_critical",
            Error::EmbeddedKey => "embedded_key",
            Error::DisallowedAlgorithm => "disallowed_algorithm",
            Error::WrongType => "wrong_type",
            Error::WrongTokenKind => "wrong_token_kind",
            Error::UntrustedIssuer => "untrusted_issuer",
            Error::WrongAudience => "wrong_audience",
            Error::WrongTenant => "wrong_tenant",
            Error::MissingClaim { .. } => "missing_claim",
            Error::InvalidClaim { .. } => "invalid_claim",
            Error::Expired { .. } => "expired",
            Error::NotYetValid { .. } => "not_yet_valid",
            Error::IssuedInFuture { .. } => "issued_in_future",
            Error::LifetimeTooLong => "lifetime_too_long",
            Error::UnknownKey => "unknown_key",
            Error::AlgorithmMismatch => "algorithm_mismatch",
            Error::BadSignature => "bad_signature",
            Error::UnverifiedBinding(_) => "unverified_binding",
            Error::KeysUnavailable { .. } => "keys_unavailable",
            Error::RevocationsStale { .. } => "revocations_stale",
            Error::InvalidDpopProof(_) => "invalid_dpop_proof",
            Error::DpopKeyMismatch => "dpop_key_mismatch",
            Error::UseDpopNonce { .. } => "use_dpop_nonce",
            Error::NotDpopBound => "not_dpop_bound",
            Error::DpopRequired => "dpop_required",
            Error::DpopNotAccepted => "dpop_not_accepted",
            Error::CertificateMismatch => "certificate_mismatch",
            Error::BoundOutsideRequest(_) => "bound_outside_request",
            Error::ReplayCacheUnavailable { .. } => "replay_cache_unavailable",
            Error::Forbidden(_) => "forbidden",
            Error::GroupsUnavailable => "groups_unavailable",
            Error::Revoked { .. } => "revoked",
            Error::StepUpRequired(_) => "step_up_required",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for Error {}

impl From<InvalidRequest> for Error {
    fn from(value: InvalidRequest) -> Self {
        Error::InvalidRequest(value)
    }
}

impl From<Malformed> for Error {
    fn from(value: Malformed) -> Self {
        Error::Malformed(value)
    }
}

/// A configuration that cannot work, found when it is built (never on a request).
///
/// `Display` names the field, so a service that fails to start says what to fix:
/// `invalid configuration: WARDEN_ISSUER: plain http is only allowed for loopback hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting is absent.
    Missing {
        /// The setting.
        setting: Setting,
    },
    /// A setting has a value that cannot work.
    Invalid {
        /// The setting.
        setting: Setting,
        /// What is wrong with it.
        reason: String,
    },
}

/// The setting a [`ConfigError`] is about: a builder setting, or a `WARDEN_` environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The issuer URL (`Issuer::builder`, `JwksCache::builder`).
    Issuer,
    /// The issuers of a `WardenConfig`.
    Issuers,
    /// An issuer's accepted audiences.
    Audience,
    /// An issuer's algorithm allow-list.
    Algorithms,
    /// An issuer's key source.
    Keys,
    /// A JWKS document given in configuration.
    Jwks,
    /// A PEM public key given in configuration.
    Pem,
    /// An issuer's token profile.
    Profile,
    /// The challenges' `realm`.
    Realm,
    /// The leeway for `exp`, `nbf` and `iat`.
    Leeway,
    /// The cap on token length.
    MaxTokenBytes,
    /// A built validator given to the layer builder.
    Validator,
    /// The authority named in claims challenges.
    CaeAuthority,
    /// The cap on a key set's size.
    MaxKeys,
    /// A fixed key freshness.
    JwksTtl,
    /// The key fetch timeouts.
    Timeouts,
    /// The discovery document's URL.
    DiscoveryUrl,
    /// The JWKS URL.
    JwksUri,
    /// The HTTP client for key fetches.
    HttpClient,
    /// A JWKS file of a `WardenConfig`.
    JwksFile,
    /// The Entra authority.
    EntraAuthority,
    /// The base of Entra v1 issuers.
    EntraV1IssuerBase,
    /// The allowed Entra tenants.
    EntraTenants,
    /// The Entra audiences.
    EntraAudience,
    /// The accepted Entra token versions.
    EntraVersions,
    /// The revocation store given to the builder.
    Revocations,
    /// The DPoP configuration.
    Dpop,
    /// The protected resource of RFC 9728 metadata.
    ProtectedResource,
    /// A Shared Signals receiver or its transmitter.
    SharedSignals,
    /// A `WARDEN_` environment variable.
    Variable(Variable),
}

impl Setting {
    /// Its name: the builder setting's (`max_token_bytes`), or the variable's (`WARDEN_ISSUER`).
    pub fn name(self) -> &'static str {
        match self {
            Setting::Issuer => "issuer",
            Setting::Issuers => "issuers",
            Setting::Audience => "audience",
            Setting::Algorithms => "algorithms",
            Setting::Keys => "keys",
            Setting::Jwks => "jwks",
            Setting::Pem => "pem",
            Setting::Profile => "profile",
            Setting::Realm => "realm",
            Setting::Leeway => "leeway",
            Setting::MaxTokenBytes => "max_token_bytes",
            Setting::Validator => "validator",
            Setting::CaeAuthority => "cae_authority",
            Setting::MaxKeys => "max_keys",
            Setting::JwksTtl => "jwks_ttl",
            Setting::Revocations => "revocations",
            Setting::Dpop => "dpop",
            Setting::ProtectedResource => "protected_resource",
            Setting::SharedSignals => "shared_signals",
            Setting::Timeouts => "timeouts",
            Setting::DiscoveryUrl => "discovery_url",
            Setting::JwksUri => "jwks_uri",
            Setting::HttpClient => "http_client",
            Setting::JwksFile => "jwks_file",
            Setting::EntraAuthority => "entra_authority",
            Setting::EntraV1IssuerBase => "entra_v1_issuer_base",
            Setting::EntraTenants => "entra_tenants",
            Setting::EntraAudience => "entra_audience",
            Setting::EntraVersions => "entra_versions",
            Setting::Variable(variable) => variable.name(),
        }
    }
}

/// A `WARDEN_` environment variable read by [`WardenConfig::from_env`](crate::WardenConfig::from_env).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Variable {
    /// `WARDEN_ISSUER`.
    Issuer,
    /// `WARDEN_AUDIENCE`.
    Audience,
    /// `WARDEN_LEEWAY_SECS`.
    LeewaySecs,
    /// `WARDEN_REALM`.
    Realm,
    /// `WARDEN_MAX_TOKEN_BYTES`.
    MaxTokenBytes,
    /// `WARDEN_PROFILE`.
    Profile,
    /// `WARDEN_ALGORITHMS`.
    Algorithms,
    /// `WARDEN_JWKS_FILE`.
    JwksFile,
    /// `WARDEN_JWKS_COOLDOWN_SECS`.
    JwksCooldownSecs,
    /// `WARDEN_JWKS_TTL_SECS`.
    JwksTtlSecs,
    /// `WARDEN_ENTRA_TENANTS`.
    EntraTenants,
    /// `WARDEN_ENTRA_AUDIENCE`.
    EntraAudience,
    /// `WARDEN_ENTRA_AUTHORITY`.
    EntraAuthority,
    /// `WARDEN_ENTRA_V1_ISSUER_BASE`.
    EntraV1IssuerBase,
    /// `WARDEN_ALLOW_ANONYMOUS`.
    AllowAnonymous,
}

impl Variable {
    const ALL: [Variable; 15] = [
        Variable::Issuer,
        Variable::Audience,
        Variable::LeewaySecs,
        Variable::Realm,
        Variable::MaxTokenBytes,
        Variable::Profile,
        Variable::Algorithms,
        Variable::JwksFile,
        Variable::JwksCooldownSecs,
        Variable::JwksTtlSecs,
        Variable::EntraTenants,
        Variable::EntraAudience,
        Variable::EntraAuthority,
        Variable::EntraV1IssuerBase,
        Variable::AllowAnonymous,
    ];

    /// The variable's name.
    pub fn name(self) -> &'static str {
        match self {
            Variable::Issuer => "WARDEN_ISSUER",
            Variable::Audience => "WARDEN_AUDIENCE",
            Variable::LeewaySecs => "WARDEN_LEEWAY_SECS",
            Variable::Realm => "WARDEN_REALM",
            Variable::MaxTokenBytes => "WARDEN_MAX_TOKEN_BYTES",
            Variable::Profile => "WARDEN_PROFILE",
            Variable::Algorithms => "WARDEN_ALGORITHMS",
            Variable::JwksFile => "WARDEN_JWKS_FILE",
            Variable::JwksCooldownSecs => "WARDEN_JWKS_COOLDOWN_SECS",
            Variable::JwksTtlSecs => "WARDEN_JWKS_TTL_SECS",
            Variable::EntraTenants => "WARDEN_ENTRA_TENANTS",
            Variable::EntraAudience => "WARDEN_ENTRA_AUDIENCE",
            Variable::EntraAuthority => "WARDEN_ENTRA_AUTHORITY",
            Variable::EntraV1IssuerBase => "WARDEN_ENTRA_V1_ISSUER_BASE",
            Variable::AllowAnonymous => "WARDEN_ALLOW_ANONYMOUS",
        }
    }

    /// The variable of this name, if warden reads one.
    pub(crate) fn from_name(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl ConfigError {
    pub(crate) fn missing(setting: Setting) -> Self {
        ConfigError::Missing { setting }
    }

    pub(crate) fn invalid(setting: Setting, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }

    /// The setting this error is about.
    pub fn setting(&self) -> Setting {
        match self {
            ConfigError::Missing { setting } | ConfigError::Invalid { setting, .. } => *setting,
        }
    }

    /// The name of the setting this error is about (`max_token_bytes`, `WARDEN_ISSUER`).
    pub fn field(&self) -> &'static str {
        self.setting().name()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { setting } => {
                write!(
                    f,
                    "invalid configuration: {}: required but not set",
                    setting.name()
                )
            }
            ConfigError::Invalid { setting, reason } => {
                write!(f, "invalid configuration: {}: {reason}", setting.name())
            }
        }
    }
}

impl std::error::Error for ConfigError {}
