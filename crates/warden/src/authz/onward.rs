//! Continuous Access Evaluation across two APIs: when a downstream API this one called on the
//! caller's behalf answers with a claims challenge, [`Challenger`] passes it back to the caller
//! in warden's own terms, so the caller's client signs in again, satisfies it, and the whole
//! chain recovers (docs/downstream.md).

use axum_core::extract::FromRequestParts;
use base64::Engine as _;
use http::request::Parts;

use crate::AuthRejection;
use crate::error::{ClaimsChallenge, Error, StepUp};
use crate::http::WardenContext;
use crate::principal::Principal;

/// An extractor that turns a downstream claims challenge into this API's own answer to its
/// caller: 401 with `error="insufficient_claims"`, the caller's authorization URI and the claims,
/// as warden answers its own step-ups (or RFC 9470's `insufficient_user_authentication` when
/// the caller's issuer has no authorization endpoint to name).
///
/// ```
/// use warden::AuthRejection;
/// use warden::authz::Challenger;
///
/// async fn orders(challenger: Challenger) -> Result<String, AuthRejection> {
///     // …the on-behalf-of exchange or the downstream call answered with a claims challenge:
///     let claims = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
///     Err(challenger.claims_challenge(claims))
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(orders));
/// ```
#[derive(Clone)]
pub struct Challenger {
    context: WardenContext,
    principal: Principal,
}

impl std::fmt::Debug for Challenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenger").finish_non_exhaustive()
    }
}

impl Challenger {
    /// The answer to the caller for a downstream challenge's `claims` (the claims request, JSON
    /// text, as a claims challenge or Entra's `claims` field carries it).
    pub fn claims_challenge(&self, claims: &str) -> AuthRejection {
        let challenge = self
            .context
            .validator()
            .claims_challenge_uri(&self.principal)
            .map(|authorization_uri| ClaimsChallenge {
                authorization_uri,
                claims: base64::engine::general_purpose::STANDARD.encode(claims),
            });
        AuthRejection::refused(
            &self.context,
            Error::StepUpRequired(StepUp::Downstream { challenge }),
            Some(&self.principal),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Challenger {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        let context = parts
            .extensions
            .get::<WardenContext>()
            .ok_or(AuthRejection::LayerMissing {
                extractor: "Challenger",
            })?
            .clone();
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AuthRejection::refused(&context, Error::MissingToken, None))?;
        Ok(Challenger { context, principal })
    }
}
