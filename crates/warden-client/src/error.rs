//! Why a token could not be had, by class: what a handler does next depends on it (pass a claims
//! challenge back to the caller, ask for consent, fix the API's own credential, retry later).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::credential::CredentialError;

/// A `Retry-After` header: seconds, or an HTTP date (its distance from `now`).
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .ok()
        .or_else(|| {
            httpdate::parse_http_date(value)
                .ok()
                .map(|at| at.duration_since(now).unwrap_or_default())
        })
}

/// Why a token could not be acquired. Classified as MSAL classifies the identity platform's
/// answers (docs/downstream.md); `codes` are the `AADSTS` numbers of Entra's `error_codes`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AcquireError {
    /// The platform wants more of the user (MFA, a compliant device, a fresh sign-in) and says
    /// what in `claims` (a claims request, JSON): answer the caller with warden's claims
    /// challenge carrying it, and the caller's client signs in again.
    ClaimsChallenge {
        /// The claims request, JSON text as Entra sent it.
        claims: String,
        /// Entra's error codes.
        codes: Vec<u32>,
    },
    /// The user must sign in again (`interaction_required`, or an `invalid_grant` for the user's
    /// token), with no claims to name.
    InteractionRequired {
        /// Entra's error codes.
        codes: Vec<u32>,
        /// Entra's `suberror`, if any.
        suberror: Option<String>,
    },
    /// Nobody consented to this API calling the downstream API for the user (AADSTS65001).
    ConsentRequired {
        /// Entra's error codes.
        codes: Vec<u32>,
    },
    /// The incoming token expired before it could be exchanged (AADSTS500133): answer the caller
    /// 401 `invalid_token`.
    AssertionExpired,
    /// The API's own credential was refused (a wrong or expired secret, an unregistered
    /// certificate, an assertion out of its time range): an operator must fix it.
    InvalidClient {
        /// Entra's error codes.
        codes: Vec<u32>,
    },
    /// Too many requests: try again after `retry_after` (when the platform said).
    Throttled {
        /// The platform's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The platform did not answer, or answered 5xx: try again later.
    Unavailable {
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// The platform's `Retry-After`, when it said.
        retry_after: Option<Duration>,
    },
    /// The token to exchange is not one for this API (its `aud` is not one of the API's): it is
    /// refused before any request, as Microsoft asks of a middle tier.
    NotForThisApi,
    /// The token to exchange is an application's own (app-only): Entra exchanges only users'
    /// tokens; call as the API itself with [`app_token`](crate::TokenClient::app_token).
    NotAUserToken,
    /// An error the classes above do not cover, with what Entra said to trace it.
    Service {
        /// The HTTP status.
        status: u16,
        /// Entra's `error`.
        error: String,
        /// Entra's error codes.
        codes: Vec<u32>,
        /// Entra's `suberror`, if any.
        suberror: Option<String>,
        /// Entra's `correlation_id`, for a support request.
        correlation_id: Option<String>,
    },
    /// The API's credential could not be used.
    Credential(CredentialError),
    /// The answer was not the token endpoint's JSON.
    Protocol(&'static str),
    /// The authority is plain `http` on a host that is not loopback: no credential is sent
    /// where anyone on the path could read it.
    InsecureAuthority,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::ClaimsChallenge { codes, .. } => {
                write!(
                    f,
                    "the identity platform asks for a claims challenge ({codes:?})"
                )
            }
            AcquireError::InteractionRequired { codes, .. } => {
                write!(f, "the user must sign in again ({codes:?})")
            }
            AcquireError::ConsentRequired { codes } => {
                write!(f, "consent to the downstream API is missing ({codes:?})")
            }
            AcquireError::AssertionExpired => f.write_str("the incoming token expired"),
            AcquireError::InvalidClient { codes } => {
                write!(f, "the API's credential was refused ({codes:?})")
            }
            AcquireError::Throttled { retry_after } => {
                write!(
                    f,
                    "throttled by the identity platform (retry after {retry_after:?})"
                )
            }
            AcquireError::Unavailable { status, .. } => {
                write!(f, "the identity platform is unavailable ({status:?})")
            }
            AcquireError::NotAUserToken => {
                f.write_str("the token to exchange is an application's own, not a user's")
            }
            AcquireError::NotForThisApi => {
                f.write_str("the token to exchange is not one for this API")
            }
            AcquireError::Service {
                status,
                error,
                codes,
                ..
            } => {
                write!(f, "token request refused: {status} {error} ({codes:?})")
            }
            AcquireError::Credential(error) => error.fmt(f),
            AcquireError::Protocol(what) => write!(f, "unexpected token endpoint answer: {what}"),
            AcquireError::InsecureAuthority => {
                f.write_str("the authority is plain http on a host that is not loopback: use https")
            }
        }
    }
}

impl std::error::Error for AcquireError {}

/// Why [`TokenClient::call_as_app`](crate::TokenClient::call_as_app) has no answer to return.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// No app token could be had, first or after the downstream API's claims challenge.
    Token(AcquireError),
    /// The call itself failed (the downstream API did not answer).
    Request(reqwest::Error),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Token(error) => write!(f, "no app token for the call: {error}"),
            CallError::Request(error) => write!(f, "the downstream API did not answer: {error}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Token(error) => Some(error),
            CallError::Request(error) => Some(error),
        }
    }
}

impl From<CredentialError> for AcquireError {
    fn from(error: CredentialError) -> Self {
        if let CredentialError::IdentityUnavailable { reason } = &error {
            tracing::warn!(
                reason = reason.as_str(),
                "the identity endpoint is unavailable"
            );
            return AcquireError::Unavailable {
                status: None,
                retry_after: None,
            };
        }
        AcquireError::Credential(error)
    }
}

/// The class of an error answer: `status`, its JSON `body`, its `Retry-After`.
pub(crate) fn classify(status: u16, body: &Value, retry_after: Option<Duration>) -> AcquireError {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let codes: Vec<u32> = body
        .get("error_codes")
        .and_then(Value::as_array)
        .map(|codes| {
            codes
                .iter()
                .filter_map(Value::as_u64)
                .filter_map(|code| u32::try_from(code).ok())
                .collect()
        })
        .unwrap_or_default();
    let error = text("error").unwrap_or_default();
    let suberror = text("suberror").filter(|s| !s.is_empty());
    let claims = text("claims").filter(|c| !c.trim().is_empty());
    if status == 429 || codes.contains(&50196) {
        return AcquireError::Throttled { retry_after };
    }
    if status >= 500 {
        return AcquireError::Unavailable {
            status: Some(status),
            retry_after,
        };
    }
    if error == "invalid_client" {
        return AcquireError::InvalidClient { codes };
    }
    if codes.contains(&500133) {
        return AcquireError::AssertionExpired;
    }
    if codes.contains(&65001) || suberror.as_deref() == Some("consent_required") {
        return AcquireError::ConsentRequired { codes };
    }
    let user_fault = error == "interaction_required"
        || (error == "invalid_grant"
            && !matches!(
                suberror.as_deref(),
                Some("client_mismatch" | "protection_policy_required")
            ));
    if user_fault {
        return match claims {
            Some(claims) => AcquireError::ClaimsChallenge { claims, codes },
            None => AcquireError::InteractionRequired { codes, suberror },
        };
    }
    AcquireError::Service {
        status,
        error,
        codes,
        suberror,
        correlation_id: text("correlation_id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classes_follow_msal() {
        // The reference's U1.5 inputs.
        assert!(matches!(
            classify(
                400,
                &json!({"error":"invalid_grant","suberror":"client_mismatch"}),
                None
            ),
            AcquireError::Service { .. }
        ));
        assert!(matches!(
            classify(400, &json!({"error":"invalid_grant"}), None),
            AcquireError::InteractionRequired { .. }
        ));
        let claims = r#"{"access_token":{"polids":{"essential":true,"values":["9ab03e19"]}}}"#;
        match classify(
            400,
            &json!({"error":"interaction_required","claims":claims,"error_codes":[50079]}),
            None,
        ) {
            AcquireError::ClaimsChallenge { claims: c, codes } => {
                assert_eq!(c, claims);
                assert_eq!(codes, [50079]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(
                400,
                &json!({"error":"invalid_grant","error_codes":[65001]}),
                None
            ),
            AcquireError::ConsentRequired { .. }
        ));
        assert!(matches!(
            classify(
                400,
                &json!({"error":"invalid_grant","error_codes":[500133]}),
                None
            ),
            AcquireError::AssertionExpired
        ));
        assert!(matches!(
            classify(
                401,
                &json!({"error":"invalid_client","error_codes":[7000215]}),
                None
            ),
            AcquireError::InvalidClient { .. }
        ));
        assert!(matches!(
            classify(429, &json!({}), Some(Duration::from_secs(7))),
            AcquireError::Throttled { retry_after: Some(d) } if d.as_secs() == 7
        ));
        assert!(matches!(
            classify(503, &json!({}), None),
            AcquireError::Unavailable {
                status: Some(503),
                ..
            }
        ));
    }
}
