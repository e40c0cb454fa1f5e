//! The token itself is not acceptable: answered 401 `invalid_token`.

/// Why the token was judged invalid (RFC 6750 §3.1 `invalid_token`, answered 401).
///
/// Every check of the token before its binding and the route's requirements: its size, its
/// strict compact form, its header, its issuer, key and signature, and its claims.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The token is longer than the configured cap; it was not parsed.
    TooLarge {
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
    /// The key named by `kid` belongs to another issuer of a key set that several share (an Entra
    /// key published for other tenants): answered like an untrusted issuer.
    KeyOfAnotherIssuer,
}

impl InvalidToken {
    /// The fixed phrase sent in `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            InvalidToken::TooLarge { .. } => "token too large",
            InvalidToken::Malformed(_) => "malformed token",
            InvalidToken::Encrypted => "encrypted tokens are not accepted",
            InvalidToken::Nested => "nested tokens are not accepted",
            InvalidToken::UnsupportedCritical => "unsupported critical header",
            InvalidToken::EmbeddedKey => "embedded keys are not trusted",
            InvalidToken::DisallowedAlgorithm => "algorithm not allowed",
            InvalidToken::WrongType => "wrong token type",
            InvalidToken::WrongTokenKind => "not an access token",
            InvalidToken::UntrustedIssuer => "untrusted issuer",
            InvalidToken::WrongAudience => "wrong audience",
            InvalidToken::WrongTenant => "tenant does not match issuer",
            InvalidToken::MissingClaim { .. } => "missing required claim",
            InvalidToken::InvalidClaim { .. } => "invalid claim",
            InvalidToken::Expired { .. } => "token expired",
            InvalidToken::NotYetValid { .. } => "token not yet valid",
            InvalidToken::IssuedInFuture { .. } => "token issued in the future",
            InvalidToken::LifetimeTooLong => "token lifetime too long",
            InvalidToken::UnknownKey => "unknown signing key",
            InvalidToken::AlgorithmMismatch => "algorithm not allowed for key",
            InvalidToken::BadSignature => "invalid signature",
            InvalidToken::KeyOfAnotherIssuer => "untrusted issuer",
        }
    }

    /// A stable, machine-friendly name, as recorded in tracing spans.
    pub fn kind(&self) -> &'static str {
        match self {
            InvalidToken::TooLarge { .. } => "token_too_large",
            InvalidToken::Malformed(_) => "malformed",
            InvalidToken::Encrypted => "encrypted",
            InvalidToken::Nested => "nested",
            InvalidToken::UnsupportedCritical => "unsupported_critical",
            InvalidToken::EmbeddedKey => "embedded_key",
            InvalidToken::DisallowedAlgorithm => "disallowed_algorithm",
            InvalidToken::WrongType => "wrong_type",
            InvalidToken::WrongTokenKind => "wrong_token_kind",
            InvalidToken::UntrustedIssuer => "untrusted_issuer",
            InvalidToken::WrongAudience => "wrong_audience",
            InvalidToken::WrongTenant => "wrong_tenant",
            InvalidToken::MissingClaim { .. } => "missing_claim",
            InvalidToken::InvalidClaim { .. } => "invalid_claim",
            InvalidToken::Expired { .. } => "expired",
            InvalidToken::NotYetValid { .. } => "not_yet_valid",
            InvalidToken::IssuedInFuture { .. } => "issued_in_future",
            InvalidToken::LifetimeTooLong => "lifetime_too_long",
            InvalidToken::UnknownKey => "unknown_key",
            InvalidToken::AlgorithmMismatch => "algorithm_mismatch",
            InvalidToken::BadSignature => "bad_signature",
            InvalidToken::KeyOfAnotherIssuer => "key_of_another_issuer",
        }
    }
}

impl InvalidToken {
    /// What the operator can change when this refusal is a configuration mismatch rather than a
    /// bad token: for [`InvalidToken::WrongType`], the profile to choose. Logged with the
    /// refusal and printed by `warden inspect`; never sent to the client.
    pub fn remedy(&self) -> Option<&'static str> {
        match self {
            InvalidToken::WrongType => Some(
                "an issuer configured with the default RFC 9068 profile whose access tokens are \
                 typed JWT or not typed (Keycloak, Auth0 without its RFC 9068 profile, Okta) \
                 needs Profile::JwtAccessToken (WARDEN_PROFILE=jwt_access_token) and an audience \
                 of the API's own; an Entra issuer accepts only JWT and at+jwt",
            ),
            InvalidToken::TooLarge { .. }
            | InvalidToken::Malformed(_)
            | InvalidToken::Encrypted
            | InvalidToken::Nested
            | InvalidToken::UnsupportedCritical
            | InvalidToken::EmbeddedKey
            | InvalidToken::DisallowedAlgorithm
            | InvalidToken::WrongTokenKind
            | InvalidToken::UntrustedIssuer
            | InvalidToken::WrongTenant
            | InvalidToken::WrongAudience
            | InvalidToken::MissingClaim { .. }
            | InvalidToken::InvalidClaim { .. }
            | InvalidToken::Expired { .. }
            | InvalidToken::NotYetValid { .. }
            | InvalidToken::LifetimeTooLong
            | InvalidToken::IssuedInFuture { .. }
            | InvalidToken::UnknownKey
            | InvalidToken::AlgorithmMismatch
            | InvalidToken::BadSignature
            | InvalidToken::KeyOfAnotherIssuer => None,
        }
    }

    /// Where on the request path this check sits.
    pub fn check(&self) -> Check {
        match self {
            InvalidToken::TooLarge { .. }
            | InvalidToken::Malformed(_)
            | InvalidToken::Encrypted
            | InvalidToken::Nested
            | InvalidToken::UnsupportedCritical
            | InvalidToken::EmbeddedKey => Check::Format,
            InvalidToken::DisallowedAlgorithm
            | InvalidToken::WrongType
            | InvalidToken::WrongTokenKind
            | InvalidToken::UntrustedIssuer
            | InvalidToken::WrongTenant
            | InvalidToken::WrongAudience
            | InvalidToken::MissingClaim { .. }
            | InvalidToken::InvalidClaim { .. }
            | InvalidToken::Expired { .. }
            | InvalidToken::NotYetValid { .. }
            | InvalidToken::IssuedInFuture { .. }
            | InvalidToken::LifetimeTooLong => Check::Claims,
            InvalidToken::UnknownKey
            | InvalidToken::AlgorithmMismatch
            | InvalidToken::KeyOfAnotherIssuer => Check::Key,
            InvalidToken::BadSignature => Check::Signature,
        }
    }
}

/// The checks of a token, in the order the validator runs them: the request path of
/// docs/architecture.md without the request's own parts (the token's binding, the route's
/// requirements). `warden inspect` explains a token with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Check {
    /// Size and strict compact form: three segments of canonical base64url, JSON objects with no
    /// repeated member, a signed (not encrypted, not nested) token with no key of its own and no
    /// critical extension.
    Format,
    /// The claims: the token kind, issuer, `typ`, algorithm, lifetime, audience and the claims the
    /// issuer's profile requires, checked before the key is looked up (they only reject); the
    /// claims the principal is read from (`scp`, `roles`, …) are read after the signature and
    /// reported here too.
    Claims,
    /// A key of the issuer's key set for the token's `kid` and algorithm, and belonging to the
    /// token's issuer when several issuers share the set.
    Key,
    /// The signature.
    Signature,
    /// No revocation names the token, its user, session or client.
    Revocation,
}

impl Check {
    /// Every check, in the order the validator runs them.
    pub const ALL: [Check; 5] = [
        Check::Format,
        Check::Claims,
        Check::Key,
        Check::Signature,
        Check::Revocation,
    ];

    /// A short name: `format`, `claims`, `key`, `signature`, `revocation`.
    pub fn name(self) -> &'static str {
        match self {
            Check::Format => "format",
            Check::Claims => "claims",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::Revocation => "revocation",
        }
    }
}

impl From<Malformed> for InvalidToken {
    fn from(value: Malformed) -> Self {
        InvalidToken::Malformed(value)
    }
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
