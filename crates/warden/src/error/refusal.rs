//! [`Error`]: why a request was refused, one variant per category of answer.

use std::fmt;

use super::binding::{BindingError, ProofError};
use super::privilege::{ClaimsChallenge, Forbidden, StepUp};
use super::token::{InvalidToken, Malformed};
use super::unavailable::Unavailable;

/// Why a request carrying (or lacking) a bearer token was not authenticated or authorized.
///
/// Grouped by category, one category per kind of answer, as
/// [`Challenge::from`](crate::challenge::Challenge) writes it:
///
/// | category | status | `WWW-Authenticate` error |
/// |---|---|---|
/// | [`MissingToken`](Error::MissingToken) | 401 | none (no credentials) |
/// | [`InvalidRequest`](Error::InvalidRequest) | 400 | `invalid_request` |
/// | [`InvalidToken`](Error::InvalidToken) | 401 | `invalid_token` |
/// | [`Binding`](Error::Binding) | 401 | `invalid_dpop_proof`, `use_dpop_nonce` or `invalid_token` |
/// | [`Revoked`](Error::Revoked) | 401 | `insufficient_claims` (CAE-capable client) or `invalid_token` |
/// | [`StepUpRequired`](Error::StepUpRequired) | 401 | `insufficient_claims` or `insufficient_user_authentication` |
/// | [`Forbidden`](Error::Forbidden) | 403 | `insufficient_scope` |
/// | [`Unavailable`](Error::Unavailable) | 503 | none; `Retry-After` |
///
/// This is `non_exhaustive`, and so is each category: new checks may add variants in minor
/// versions. Match the ones you care about and keep a wildcard arm; the answer each variant gets
/// is fixed by its category.
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
    /// The token is not acceptable (RFC 6750 §3.1 `invalid_token`). Answered 401.
    InvalidToken(InvalidToken),
    /// The token's binding to its client (DPoP, a client certificate) was not proven. Answered
    /// 401 on the challenge of the scheme the client used.
    Binding(BindingError),
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
    /// Something warden needs to judge the request could not answer. Answered 503 with
    /// `Retry-After`: the caller's token was not judged.
    Unavailable(Unavailable),
}

impl Error {
    /// The fixed phrase describing this error, as sent in `error_description` (or the problem
    /// body's `detail`).
    pub fn description(&self) -> &'static str {
        match self {
            Error::MissingToken => "no bearer token",
            Error::InvalidRequest(request) => request.description(),
            Error::InvalidToken(token) => token.description(),
            Error::Binding(binding) => binding.description(),
            Error::Revoked { .. } => "token revoked",
            Error::StepUpRequired(step_up) => step_up.description(),
            Error::Forbidden(forbidden) => forbidden.description(),
            Error::Unavailable(unavailable) => unavailable.description(),
        }
    }

    /// Which check of the token refused it, for a refusal of the token itself; `None` for a
    /// refusal of the request (no token, a malformed request, its binding), of the route's
    /// requirements, or when a dependency was unavailable.
    pub fn check(&self) -> Option<super::Check> {
        match self {
            Error::InvalidToken(invalid) => Some(invalid.check()),
            Error::Revoked { .. } => Some(super::Check::Revocation),
            Error::MissingToken
            | Error::InvalidRequest(_)
            | Error::Binding(_)
            | Error::StepUpRequired(_)
            | Error::Forbidden(_)
            | Error::Unavailable(_) => None,
        }
    }

    /// A stable, machine-friendly name of the outcome, as recorded in tracing spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::MissingToken => "missing_token",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidToken(token) => token.kind(),
            Error::Binding(binding) => binding.kind(),
            Error::Revoked { .. } => "revoked",
            Error::StepUpRequired(_) => "step_up_required",
            Error::Forbidden(_) => "forbidden",
            Error::Unavailable(unavailable) => unavailable.kind(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for Error {}

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

impl InvalidRequest {
    /// The fixed phrase sent in `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            InvalidRequest::MalformedAuthorization => "malformed authorization header",
            InvalidRequest::MultipleAuthorizationHeaders => "multiple authorization headers",
            InvalidRequest::MultipleMethods => "token sent by more than one method",
        }
    }
}

macro_rules! from_category {
    ($($category:ty => $variant:expr),* $(,)?) => {$(
        impl From<$category> for Error {
            fn from(value: $category) -> Self {
                $variant(value)
            }
        }
    )*};
}

from_category! {
    InvalidRequest => Error::InvalidRequest,
    InvalidToken => Error::InvalidToken,
    BindingError => Error::Binding,
    StepUp => Error::StepUpRequired,
    Forbidden => Error::Forbidden,
    Unavailable => Error::Unavailable,
    Malformed => |malformed| Error::InvalidToken(InvalidToken::Malformed(malformed)),
    ProofError => |proof| Error::Binding(BindingError::InvalidProof(proof)),
}
