//! The answer to a refused request: status, `WWW-Authenticate` challenge and problem+json body.
//!
//! [`Challenge`] is the only writer of `WWW-Authenticate` in warden: the layer and every extractor
//! go through it, so the header text exists once. Each [`Error`] maps to one challenge
//! ([`Challenge::from`]), in one match:
//!
//! | error | status | `WWW-Authenticate` |
//! |---|---|---|
//! | [`Error::MissingToken`] | 401 | `Bearer realm="api"` |
//! | [`Error::InvalidRequest`] | 400 | `Bearer realm="api", error="invalid_request", error_description="…"` |
//! | [`Error::InvalidToken`] | 401 | `Bearer realm="api", error="invalid_token", error_description="…"` |
//! | [`Error::Binding`]: a DPoP proof missing or invalid | 401 | on the DPoP challenge: `DPoP error="invalid_dpop_proof", error_description="…", algs="…"` |
//! | [`Error::Binding`]: a server nonce needed | 401 | `DPoP error="use_dpop_nonce", …`, and a `DPoP-Nonce` header |
//! | [`Error::Binding`]: any other binding failure | 401 | `error="invalid_token"` on the challenge of the scheme used |
//! | [`Error::Revoked`], CAE-capable client | 401 | `Bearer realm="", authorization_uri="…", error="insufficient_claims", claims="…"` |
//! | [`Error::Revoked`], other client | 401 | `Bearer realm="api", error="invalid_token", error_description="token revoked"` |
//! | [`Error::StepUpRequired`] (auth context, CAE-capable) | 401 | the claims challenge, `acrs` |
//! | [`Error::StepUpRequired`] (other) | 401 | `Bearer realm="api", error="insufficient_user_authentication", error_description="…", acr_values="…"` or `max_age="…"` |
//! | [`Error::Forbidden`] (missing scope) | 403 | `Bearer realm="api", error="insufficient_scope", scope="…"` |
//! | [`Error::Forbidden`] (missing role, group, …) | 403 | `Bearer realm="api", error="insufficient_scope", error_description="…"` |
//! | [`Error::Unavailable`] (keys, revocations, replay cache, groups) | 503 | none; `Retry-After` from its `retry_after` |
//!
//! While DPoP is on (the default), a 401 carries a second header, `DPoP algs="…"`, after the
//! Bearer one, and the error goes on the challenge of the scheme the client used (RFC 9449 §7.2);
//! a 403 answers in that scheme only. With a protected resource configured ([`crate::metadata`]),
//! every 401 and 403 challenge ends with `resource_metadata="<the metadata URL>"` (RFC 9728 §5.1).
//!
//! Every parameter value is quoted (RFC 9110 §11.5) and restricted to the characters RFC 6750 §3
//! allows (`%x20-21 / %x23-5B / %x5D-7E`): a value can never inject a quote, a backslash, CR or LF.
//! The body is an RFC 9457 problem document:
//!
//! ```json
//! {"type":"about:blank","title":"Unauthorized","status":401,"detail":"token expired","error":"invalid_token"}
//! ```
//!
//! # Example
//!
//! ```
//! use warden::{Error, challenge::{Challenge, Realm}, error::InvalidToken};
//!
//! let realm = Realm::new("orders").unwrap();
//! let challenge = Challenge::from(&Error::from(InvalidToken::Expired { exp: 1.0, now: 100 }));
//! assert_eq!(challenge.status(), http::StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     challenge.header_value(&realm).unwrap(),
//!     r#"Bearer realm="orders", error="invalid_token", error_description="token expired""#,
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::bearer::Scheme;
use crate::error::{
    BindingError, ClaimsChallenge, ConfigError, Error, Forbidden, Setting, StepUp, Unavailable,
};

/// The OAuth error codes warden sends in a `Bearer` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// RFC 6750 §3.1: the request is malformed (400).
    InvalidRequest,
    /// RFC 6750 §3.1: the token is expired, revoked, malformed or otherwise invalid (401).
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the privileges the resource needs (403).
    InsufficientScope,
    /// RFC 9470 §3: the authentication behind the token is not strong or recent enough (401).
    InsufficientUserAuthentication,
    /// Microsoft's claims challenge: the client must get a token with the named claims (401).
    InsufficientClaims,
    /// RFC 9449 §7.1: the DPoP proof is missing or invalid (401).
    InvalidDpopProof,
    /// RFC 9449 §9: the proof must carry the nonce the server sends in `DPoP-Nonce` (401).
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::InsufficientClaims => "insufficient_claims",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `realm` sent in every challenge, checked when configured.
///
/// RFC 6750 §3 restricts it to `%x20-21 / %x23-5B / %x5D-7E` (printable ASCII without `"` and `\`),
/// so it is always sent as a quoted string that needs no escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Realm(Arc<str>);

impl Realm {
    /// The realm warden uses unless told otherwise: `api`.
    pub const DEFAULT: &'static str = "api";

    /// Checks and wraps a realm.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `realm` when it holds a quote, a backslash, a control
    /// character or non-ASCII text.
    pub fn new(realm: impl AsRef<str>) -> Result<Self, ConfigError> {
        let realm = realm.as_ref();
        if realm.bytes().all(is_param_char) {
            Ok(Realm(realm.into()))
        } else {
            Err(ConfigError::invalid(
                Setting::Realm,
                "may only hold printable ASCII without '\"' or '\\'",
            ))
        }
    }

    /// The realm as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Realm {
    fn default() -> Self {
        Realm(Self::DEFAULT.into())
    }
}

/// What a challenge's answer is made of when nothing in it comes from the request but the
/// scheme the client used: a layer writes that answer once and keeps it under this key.
///
/// Its phrases are warden's own `&'static str` constants, compared and hashed by address and
/// length (a phrase repeated at two addresses only writes its answer twice), so a lookup hashes
/// a few words, never text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedAnswer {
    status: StatusCode,
    error: Option<ErrorCode>,
    description: Option<&'static str>,
    detail: Option<&'static str>,
    presented: Option<Scheme>,
}

impl FixedAnswer {
    /// The key as words: a phrase is its address and its length, which together name its
    /// bytes (two phrases at one address with one length are the same bytes).
    fn words(&self) -> [usize; 7] {
        let address = |phrase: Option<&'static str>| phrase.map_or(0, |p| p.as_ptr() as usize);
        let length = |phrase: Option<&'static str>| phrase.map_or(usize::MAX, str::len);
        [
            usize::from(self.status.as_u16()),
            self.error.map_or(0, |code| code as usize + 1),
            address(self.description),
            length(self.description),
            address(self.detail),
            length(self.detail),
            self.presented.map_or(0, |scheme| scheme as usize + 1),
        ]
    }
}

impl PartialEq for FixedAnswer {
    fn eq(&self, other: &Self) -> bool {
        self.words() == other.words()
    }
}

impl Eq for FixedAnswer {}

impl std::hash::Hash for FixedAnswer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for word in self.words() {
            state.write_usize(word);
        }
    }
}

/// The hasher of [`FixedAnswer`]s: a multiply-rotate over its words (as rustc's FxHash). Its
/// input is warden's own constants, never request data, so it needs no defence against
/// chosen collisions.
#[derive(Default, Clone, Copy)]
pub(crate) struct AnswerHasher(u64);

impl std::hash::Hasher for AnswerHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A refusal, ready to be written as a response: status, challenge parameters, optional
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    status: StatusCode,
    error: Option<ErrorCode>,
    description: Option<&'static str>,
    detail: Option<&'static str>,
    params: Vec<(&'static str, Cow<'static, str>)>,
    leading: Option<(&'static str, Cow<'static, str>)>,
    realm: Option<Cow<'static, str>>,
    retry_after_secs: Option<u64>,
    /// RFC 9728 §5.1, on every challenge written.
    resource_metadata: Option<Cow<'static, str>>,
    /// The scheme the client used (`None`: no credentials).
    presented: Option<Scheme>,
    /// When DPoP is accepted: the `algs` of the DPoP challenge written beside the Bearer one.
    dpop_algs: Option<Cow<'static, str>>,
    /// RFC 9449 §8: the nonce the client must use, sent as `DPoP-Nonce`.
    dpop_nonce: Option<String>,
}

impl Challenge {
    /// A challenge with a status and nothing else (no error code: "no credentials").
    pub fn new(status: StatusCode) -> Self {
        Challenge {
            status,
            error: None,
            description: None,
            detail: None,
            params: Vec::new(),
            leading: None,
            realm: None,
            retry_after_secs: None,
            resource_metadata: None,
            presented: None,
            dpop_algs: None,
            dpop_nonce: None,
        }
    }

    /// Names the resource's RFC 9728 metadata in every challenge written.
    #[must_use]
    pub(crate) fn with_resource_metadata(mut self, url: impl Into<Cow<'static, str>>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The scheme the client used, and the `algs` of a DPoP challenge when DPoP is accepted: a
    /// 401 then carries the Bearer challenge first and the DPoP challenge second, the error on
    /// the scheme used (RFC 9449 §7.2); a 403 answers in the scheme used.
    #[must_use]
    pub(crate) fn with_schemes(
        mut self,
        presented: Option<Scheme>,
        dpop_algs: Option<Cow<'static, str>>,
    ) -> Self {
        self.presented = presented;
        self.dpop_algs = dpop_algs;
        self
    }

    /// Sets the error code.
    #[must_use]
    pub fn with_error(mut self, code: ErrorCode) -> Self {
        self.error = Some(code);
        self
    }

    /// Sets `error_description`. Only fixed phrases are accepted, so no request data can reach it.
    #[must_use]
    pub fn with_description(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }

    /// Sets the problem body's `detail` without an `error_description` in the header (RFC 6750
    /// §3.1: a request without credentials gets no error information in the challenge).
    #[must_use]
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Adds an auth-param (`scope`, `acr_values`, `claims`, …) after `error_description`.
    ///
    /// Names are warden's own constants. Characters outside RFC 6750 §3's set are dropped from the
    /// value when the header is written.
    #[must_use]
    pub fn with_param(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// Overrides the configured realm for this challenge (Microsoft's claims challenge sends
    /// `realm=""`).
    #[must_use]
    pub fn with_realm(mut self, realm: impl Into<Cow<'static, str>>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Microsoft's claims challenge (401): `realm=""`, `authorization_uri`,
    /// `error="insufficient_claims"`, `claims`, in that order, in one header.
    pub fn claims_challenge(claims: &ClaimsChallenge) -> Self {
        let mut challenge = Challenge::new(StatusCode::UNAUTHORIZED)
            .with_realm("")
            .with_error(ErrorCode::InsufficientClaims)
            .with_param("claims", claims.claims.clone());
        challenge.leading = Some(("authorization_uri", claims.authorization_uri.clone().into()));
        challenge
    }

    /// RFC 6750 §3.1 `invalid_token` (401) with its fixed description.
    fn invalid_token(description: &'static str) -> Self {
        Challenge::new(StatusCode::UNAUTHORIZED)
            .with_error(ErrorCode::InvalidToken)
            .with_description(description)
    }

    /// Sets `Retry-After`, in seconds.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The key of this challenge's answer for a client that used `presented`, when the answer
    /// depends on nothing else (no parameter, nonce, realm override or `Retry-After`); `None`
    /// when it does.
    pub(crate) fn fixed_answer(&self, presented: Option<Scheme>) -> Option<FixedAnswer> {
        let fixed = self.params.is_empty()
            && self.leading.is_none()
            && self.realm.is_none()
            && self.retry_after_secs.is_none()
            && self.dpop_nonce.is_none();
        fixed.then_some(FixedAnswer {
            status: self.status,
            error: self.error,
            description: self.description,
            detail: self.detail,
            presented,
        })
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Retry-After` seconds of a 503, if any.
    #[cfg(feature = "ssf")]
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The error code, if any.
    pub fn error(&self) -> Option<ErrorCode> {
        self.error
    }

    /// The `error_description`, if any.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }

    /// Whether the answer carries a `WWW-Authenticate` challenge (401, 403 and 400 do; 503 and
    /// 500 do not).
    pub fn has_www_authenticate(&self) -> bool {
        matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST
        )
    }

    /// The (first) `WWW-Authenticate` value, or `None` for answers that carry no challenge.
    pub fn header_value(&self, realm: &Realm) -> Option<HeaderValue> {
        self.header_values(realm).into_iter().next()
    }

    /// Every `WWW-Authenticate` value, in order: the Bearer challenge, then the DPoP challenge
    /// when DPoP is accepted (RFC 9449 §7.2); one challenge, in the scheme used, for a 403.
    pub fn header_values(&self, realm: &Realm) -> Vec<HeaderValue> {
        if !self.has_www_authenticate() {
            return Vec::new();
        }
        let dpop_used = self.presented == Some(Scheme::Dpop) && self.leading.is_none();
        // A malformed request whose scheme cannot be told (two `Authorization` headers) carries
        // the error on both challenges (RFC 9449 §7.2).
        let ambiguous = self.status == StatusCode::BAD_REQUEST && self.presented.is_none();
        let Some(algs) = self.dpop_algs.as_deref() else {
            return self.render_bearer(realm, true).into_iter().collect();
        };
        if self.status == StatusCode::FORBIDDEN {
            return if dpop_used {
                self.render_dpop(algs, true).into_iter().collect()
            } else {
                self.render_bearer(realm, true).into_iter().collect()
            };
        }
        [
            self.render_bearer(realm, !dpop_used || ambiguous),
            self.render_dpop(algs, dpop_used || ambiguous),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn render_bearer(&self, realm: &Realm, with_error: bool) -> Option<HeaderValue> {
        let mut out = String::with_capacity(96);
        out.push_str("Bearer ");
        let realm = self.realm.as_deref().unwrap_or(realm.as_str());
        push_param(&mut out, "realm", realm, false);
        if with_error {
            if let Some((name, value)) = &self.leading {
                push_param(&mut out, name, value, true);
            }
            self.push_error(&mut out, true);
        }
        if let Some(url) = &self.resource_metadata {
            push_param(&mut out, "resource_metadata", url, true);
        }
        // Every byte pushed is visible ASCII or space, so this cannot fail; fail closed regardless.
        HeaderValue::from_str(&out).ok()
    }

    /// `DPoP error="…", error_description="…", …, algs="…"`, as RFC 9449 §7.1's examples.
    fn render_dpop(&self, algs: &str, with_error: bool) -> Option<HeaderValue> {
        let mut out = String::with_capacity(64);
        out.push_str("DPoP ");
        let separator = with_error && self.push_error(&mut out, false);
        push_param(&mut out, "algs", algs, separator);
        if let Some(url) = &self.resource_metadata {
            push_param(&mut out, "resource_metadata", url, true);
        }
        HeaderValue::from_str(&out).ok()
    }

    /// `error`, `error_description` and the other parameters; whether anything was written.
    fn push_error(&self, out: &mut String, mut separator: bool) -> bool {
        let start = out.len();
        if let Some(code) = self.error {
            push_param(out, "error", code.as_str(), separator);
            separator = true;
        }
        if let Some(description) = self.description {
            push_param(out, "error_description", description, separator);
            separator = true;
        }
        for (name, value) in &self.params {
            push_param(out, name, value, separator);
            separator = true;
        }
        out.len() > start
    }

    /// The RFC 9457 problem+json body.
    pub fn problem_body(&self) -> Bytes {
        /// The members in RFC 9457's order, written without building a map.
        #[derive(serde::Serialize)]
        struct Problem<'a> {
            r#type: &'static str,
            title: &'a str,
            status: u16,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }
        let problem = Problem {
            r#type: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.description.or(self.detail),
            error: self.error.map(ErrorCode::as_str),
        };
        // Serializing borrowed strings and a number cannot fail; an empty body would still be
        // an answer with the right status and headers.
        serde_json::to_vec(&problem)
            .map(Bytes::from)
            .unwrap_or_default()
    }

    /// Writes the whole answer: status, `WWW-Authenticate`, `Retry-After`, `Cache-Control:
    /// no-store`, and the problem+json body.
    pub fn to_response(&self, realm: &Realm) -> Response<Bytes> {
        let mut response = Response::new(self.problem_body());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.apply_headers(&mut response, realm);
        response
    }

    /// Sets the status and the headers that carry the protocol (`WWW-Authenticate`,
    /// `Retry-After`, `Cache-Control`) on a response whose body was written by someone else.
    pub fn apply_headers<B>(&self, response: &mut Response<B>, realm: &Realm) {
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.remove(header::WWW_AUTHENTICATE);
        for value in self.header_values(realm) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(nonce) = &self.dpop_nonce
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            // "There MUST NOT be more than one DPoP-Nonce header" (RFC 9449 §8).
            headers.insert("dpop-nonce", value);
        }
    }
}

impl From<&Error> for Challenge {
    /// The answer of each category, in one exhaustive match: a new category or variant does not
    /// compile until its answer is decided here.
    fn from(error: &Error) -> Self {
        let description = error.description();
        match error {
            Error::MissingToken => {
                Challenge::new(StatusCode::UNAUTHORIZED).with_detail(description)
            }
            Error::InvalidRequest(_) => Challenge::new(StatusCode::BAD_REQUEST)
                .with_error(ErrorCode::InvalidRequest)
                .with_description(description),
            Error::InvalidToken(_)
            | Error::Revoked {
                challenge: None, ..
            } => Challenge::invalid_token(description),
            Error::Binding(binding) => Challenge::from(binding),
            Error::Revoked {
                challenge: Some(claims),
                ..
            } => Challenge::claims_challenge(claims).with_detail(description),
            Error::StepUpRequired(step_up) => Challenge::from(step_up),
            Error::Forbidden(forbidden) => Challenge::from(forbidden),
            Error::Unavailable(unavailable) => Challenge::from(unavailable),
        }
    }
}

impl From<&BindingError> for Challenge {
    fn from(error: &BindingError) -> Self {
        let description = error.description();
        match error {
            BindingError::InvalidProof(_) => Challenge::new(StatusCode::UNAUTHORIZED)
                .with_error(ErrorCode::InvalidDpopProof)
                .with_description(description),
            BindingError::UseNonce { nonce } => {
                let mut challenge = Challenge::new(StatusCode::UNAUTHORIZED)
                    .with_error(ErrorCode::UseDpopNonce)
                    .with_description(description);
                challenge.dpop_nonce = Some(nonce.clone());
                challenge
            }
            BindingError::Unverified(_)
            | BindingError::OutsideRequest(_)
            | BindingError::DpopKeyMismatch
            | BindingError::CertificateMismatch
            | BindingError::DpopRequired
            | BindingError::DpopNotAccepted
            | BindingError::NotDpopBound => Challenge::invalid_token(description),
        }
    }
}

impl From<&StepUp> for Challenge {
    fn from(step_up: &StepUp) -> Self {
        let description = step_up.description();
        let challenge = Challenge::new(StatusCode::UNAUTHORIZED)
            .with_error(ErrorCode::InsufficientUserAuthentication)
            .with_description(description);
        match step_up {
            StepUp::AuthContext {
                challenge: Some(claims),
                ..
            } => Challenge::claims_challenge(claims).with_detail(description),
            StepUp::AuthContext {
                id,
                challenge: None,
            } => challenge.with_param("acr_values", id.clone()),
            StepUp::Acr { values } => challenge.with_param("acr_values", values.join(" ")),
            StepUp::MaxAge { secs } => challenge.with_param("max_age", secs.to_string()),
            StepUp::Downstream {
                challenge: Some(claims),
            } => Challenge::claims_challenge(claims).with_detail(description),
            StepUp::Downstream { challenge: None } => challenge,
        }
    }
}

impl From<&Forbidden> for Challenge {
    fn from(forbidden: &Forbidden) -> Self {
        let description = forbidden.description();
        let challenge =
            Challenge::new(StatusCode::FORBIDDEN).with_error(ErrorCode::InsufficientScope);
        match forbidden {
            // RFC 6750 §3: the scope parameter names what the route needs; the description
            // would add nothing a client can act on.
            Forbidden::MissingScope { required } => challenge
                .with_detail(description)
                .with_param("scope", required.join(" ")),
            Forbidden::MissingScopeOrRole { scopes } => challenge
                .with_description(description)
                .with_param("scope", scopes.join(" ")),
            Forbidden::MissingRole
            | Forbidden::MissingGroup
            | Forbidden::GroupOverage
            | Forbidden::ClientNotAllowed
            | Forbidden::AppOnlyRequired
            | Forbidden::UserRequired
            | Forbidden::UnlistedMethod
            | Forbidden::Rule { .. } => challenge.with_description(description),
        }
    }
}

impl From<&Unavailable> for Challenge {
    fn from(unavailable: &Unavailable) -> Self {
        Challenge::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_description(unavailable.description())
            .with_retry_after(unavailable.retry_after.as_secs().max(1))
    }
}

/// `%x20-21 / %x23-5B / %x5D-7E`: the characters RFC 6750 §3 allows in `error_description`.
pub(crate) fn is_param_char(byte: u8) -> bool {
    matches!(byte, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

fn push_param(out: &mut String, name: &str, value: &str, separator: bool) {
    if separator {
        out.push_str(", ");
    }
    out.push_str(name);
    out.push_str("=\"");
    out.extend(value.bytes().filter(|b| is_param_char(*b)).map(char::from));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn missing_token_has_realm_only() {
        let c = Challenge::from(&Error::MissingToken);
        assert_eq!(c.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            c.header_value(&Realm::default()).unwrap(),
            r#"Bearer realm="api""#
        );
    }

    #[test]
    fn keys_unavailable_is_503_with_retry_after_and_no_challenge() {
        let c = Challenge::from(&Error::Unavailable(Unavailable::new(
            crate::error::Dependency::SigningKeys,
            Duration::from_secs(30),
        )));
        let r = c.to_response(&Realm::default());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "30");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn drops_characters_that_could_inject() {
        let c = Challenge::new(StatusCode::FORBIDDEN)
            .with_error(ErrorCode::InsufficientScope)
            .with_param("scope", "a\"b\\c\r\nd é");
        assert_eq!(
            c.header_value(&Realm::default()).unwrap(),
            r#"Bearer realm="api", error="insufficient_scope", scope="abcd ""#
        );
    }

    #[test]
    fn rejects_realm_with_quote_or_backslash() {
        assert!(Realm::new("a\"b").is_err());
        assert!(Realm::new("a\\b").is_err());
        assert!(Realm::new("caf\u{e9}").is_err());
        assert!(Realm::new("").is_ok());
    }

    #[test]
    fn problem_body_is_rfc9457() {
        let body =
            Challenge::from(&Error::from(crate::error::InvalidToken::BadSignature)).problem_body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"about:blank","title":"Unauthorized","status":401,
                "detail":"invalid signature","error":"invalid_token"})
        );
    }
}
