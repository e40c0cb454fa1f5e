//! A trusted token issuer: its exact `iss`, the audiences it issues for, its algorithms, its
//! profile, and where its keys come from.
//!
//! # Example
//!
//! ```
//! use warden::{Issuer, Profile, keys::StaticKeys};
//!
//! # let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
//! #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//! #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
//! let issuer = Issuer::builder("https://login.example.com/tenant-a")
//!     .audience("api://orders")
//!     .profile(Profile::Rfc9068)
//!     .keys(StaticKeys::from_jwks(jwks).unwrap())
//!     .build()
//!     .unwrap();
//! assert_eq!(issuer.issuer(), "https://login.example.com/tenant-a");
//! ```

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::entra::EntraBinding;
use crate::error::ConfigError;
use crate::keys::{KeySource, StaticKeys};

/// The algorithms an issuer accepts unless told otherwise: every asymmetric JWS algorithm warden
/// verifies (through aws-lc-rs). ES512 (P-521) is not among them.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What an issuer's access tokens look like: which `typ` they carry and which claims they must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Profile {
    /// RFC 9068 JWT access tokens: `typ` is `at+jwt` or `application/at+jwt` (any case), and
    /// `iss`, `aud`, `exp`, `sub`, `client_id`, `iat` and `jti` are required (§2.2).
    #[default]
    Rfc9068,
    /// Access tokens typed `JWT` (or `at+jwt`), as many OpenID Connect providers issue them
    /// (Keycloak, older Auth0 tenants): `iss`, `aud`, `exp`, `sub` and `iat` are required. Only the
    /// audience then tells such a token from an ID token of the same issuer.
    JwtAccessToken,
    /// Microsoft Entra ID access tokens: `typ` is `JWT`; `iss`, `aud`, `exp`, `sub`, `tid`, `oid`,
    /// `iat`, `uti` and a client (`azp` in v2, `appid` in v1) are required, and a `nonce` claim is refused:
    /// an ID token (no client claim, often a nonce) is never taken for an access token.
    Entra,
}

impl Profile {
    /// Whether a token of this profile may carry this `typ` header (compared case-insensitively,
    /// with an optional `application/` prefix, RFC 7515 §4.1.9).
    pub fn accepts_typ(self, typ: Option<&str>) -> bool {
        let Some(typ) = typ else {
            return false;
        };
        let media = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        let at_jwt = media.eq_ignore_ascii_case("at+jwt");
        match self {
            Profile::Rfc9068 => at_jwt,
            Profile::JwtAccessToken | Profile::Entra => at_jwt || media.eq_ignore_ascii_case("jwt"),
        }
    }

    /// The claims a token of this profile must carry.
    pub fn required_claims(self) -> &'static [&'static str] {
        match self {
            Profile::Rfc9068 => &["iss", "aud", "exp", "sub", "client_id", "iat", "jti"],
            Profile::JwtAccessToken => &["iss", "aud", "exp", "sub", "iat"],
            Profile::Entra => &["iss", "aud", "exp", "sub", "tid", "oid", "iat", "uti"],
        }
    }
}

/// A trusted issuer, checked and ready. Cheap to clone.
#[derive(Clone)]
pub struct Issuer {
    pub(crate) inner: Arc<IssuerInner>,
}

pub(crate) struct IssuerInner {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) profile: Profile,
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) entra: Option<EntraBinding>,
    pub(crate) allowed_clients: Option<Vec<String>>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("algorithms", &self.inner.algorithms)
            .field("profile", &self.inner.profile)
            .field("keys", &self.inner.keys)
            .finish()
    }
}

impl Issuer {
    /// Starts configuring an issuer whose tokens carry exactly this `iss`.
    pub fn builder(issuer: impl Into<String>) -> IssuerBuilder {
        IssuerBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms: None,
            profile: Profile::default(),
            keys: None,
            jwks: None,
            entra: None,
            allowed_clients: None,
        }
    }

    /// The exact `iss` value.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// The algorithm allow-list.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    /// The token profile.
    pub fn profile(&self) -> Profile {
        self.inner.profile
    }

    /// The key source.
    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// The client applications allowed to call, if restricted.
    pub fn allowed_clients(&self) -> Option<&[String]> {
        self.inner.allowed_clients.as_deref()
    }

    pub(crate) fn entra(&self) -> Option<&EntraBinding> {
        self.inner.entra.as_ref()
    }
}

/// Configures an [`Issuer`]; see [`Issuer::builder`].
#[must_use]
pub struct IssuerBuilder {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Option<Vec<Algorithm>>,
    profile: Profile,
    keys: Option<Arc<dyn KeySource>>,
    jwks: Option<String>,
    entra: Option<EntraBinding>,
    allowed_clients: Option<Vec<String>>,
}

impl fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl IssuerBuilder {
    pub(crate) fn issuer_url(&self) -> &str {
        &self.issuer
    }

    /// Adds an accepted audience (the API's identifier: an App ID URI, a client id, a URL).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences.
    pub fn audiences<I, A>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Replaces the algorithm allow-list (default [`DEFAULT_ALGORITHMS`]). HMAC algorithms are
    /// refused: an issuer publishing public keys must never be trusted with a shared secret.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Sets the token profile (default [`Profile::Rfc9068`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Sets where the issuer's keys come from.
    pub fn keys(mut self, keys: impl KeySource) -> Self {
        self.keys = Some(Arc::new(keys));
        self.jwks = None;
        self
    }

    /// Sets a shared key source.
    pub fn shared_keys(mut self, keys: Arc<dyn KeySource>) -> Self {
        self.keys = Some(keys);
        self.jwks = None;
        self
    }

    /// Uses a JWKS document given in configuration as the key source (parsed against this
    /// issuer's allow-list when built).
    pub fn jwks(mut self, document: impl Into<String>) -> Self {
        self.jwks = Some(document.into());
        self.keys = None;
        self
    }

    /// Accepts tokens of these client applications only (`client_id`, `azp` or `appid`); others
    /// are refused with 403 after their signature verified.
    pub fn allowed_clients<I, C>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        self.allowed_clients = Some(clients.into_iter().map(Into::into).collect());
        self
    }

    pub(crate) fn entra_binding(mut self, binding: EntraBinding) -> Self {
        self.entra = Some(binding);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: an issuer that is not an https URL (plain http only for
    /// loopback hosts), no audience, an empty or HMAC algorithm list, no key source, or a JWKS
    /// document without a usable key.
    pub fn build(self) -> Result<Issuer, ConfigError> {
        check_issuer_url(&self.issuer, "issuer")?;
        if self.audiences.is_empty() {
            return Err(ConfigError::missing("audience"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::invalid("audience", "must not be empty"));
        }
        let algorithms = self
            .algorithms
            .unwrap_or_else(|| DEFAULT_ALGORITHMS.to_vec());
        if algorithms.is_empty() {
            return Err(ConfigError::invalid("algorithms", "must not be empty"));
        }
        if algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::invalid(
                "algorithms",
                "HMAC algorithms are not accepted for an issuer with public keys",
            ));
        }
        let keys: Arc<dyn KeySource> = match (self.keys, self.jwks) {
            (Some(keys), _) => keys,
            (None, Some(jwks)) => Arc::new(StaticKeys::from_jwks_for(&jwks, &algorithms)?),
            (None, None) => return Err(ConfigError::missing("keys")),
        };
        Ok(Issuer {
            inner: Arc::new(IssuerInner {
                issuer: self.issuer,
                audiences: self.audiences,
                algorithms,
                profile: self.profile,
                keys,
                entra: self.entra,
                allowed_clients: self.allowed_clients,
            }),
        })
    }
}

/// An issuer URL must be https, or http on a loopback host, with no query or fragment (RFC 8414 §2).
pub(crate) fn check_issuer_url(url: &str, field: &str) -> Result<(), ConfigError> {
    if url.contains('?') {
        return Err(ConfigError::invalid(
            field,
            "must not have a query or fragment",
        ));
    }
    check_fetch_url(url, field)
}

/// A metadata or key URL must be https, or http on a loopback host; a query is allowed (Entra's
/// `?appid=` for applications with their own signing keys), a fragment is not.
pub(crate) fn check_fetch_url(url: &str, field: &str) -> Result<(), ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ConfigError::invalid(field, "not a URL"))?;
    let host = uri
        .host()
        .ok_or_else(|| ConfigError::invalid(field, "not an absolute URL"))?;
    if url.contains('#') {
        return Err(ConfigError::invalid(field, "must not have a fragment"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_host(host) => Ok(()),
        Some("http") => Err(ConfigError::invalid(
            field,
            "plain http is only allowed for loopback hosts",
        )),
        _ => Err(ConfigError::invalid(field, "must be an https URL")),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_at_jwt_in_any_case_and_with_application_prefix() {
        for typ in [
            "at+jwt",
            "application/at+jwt",
            "at+JWT",
            "Application/AT+JWT",
        ] {
            assert!(Profile::Rfc9068.accepts_typ(Some(typ)), "{typ}");
        }
        for typ in [
            "JWT",
            "dpop+jwt",
            "secevent+jwt",
            "logout+jwt",
            "application/jwt",
            "",
            "at+jwt ",
        ] {
            assert!(!Profile::Rfc9068.accepts_typ(Some(typ)), "{typ}");
        }
        assert!(!Profile::Rfc9068.accepts_typ(None));
        assert!(Profile::Entra.accepts_typ(Some("JWT")));
        assert!(!Profile::Entra.accepts_typ(Some("dpop+jwt")));
        assert!(!Profile::JwtAccessToken.accepts_typ(None));
    }

    #[test]
    fn refuses_plain_http_except_loopback() {
        assert!(check_issuer_url("https://login.example.com/t", "issuer").is_ok());
        assert!(check_issuer_url("http://127.0.0.1:8080/t", "issuer").is_ok());
        assert!(check_issuer_url("http://[::1]:8080", "issuer").is_ok());
        assert!(check_issuer_url("http://localhost:1", "issuer").is_ok());
        let err = check_issuer_url("http://login.example.com", "issuer").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: issuer: plain http is only allowed for loopback hosts"
        );
        assert!(check_issuer_url("https://a.example/?x=1", "issuer").is_err());
        assert!(check_issuer_url("ftp://a.example", "issuer").is_err());
        assert!(check_issuer_url("/relative", "issuer").is_err());
        assert!(check_fetch_url("https://a.example/keys?appid=x", "jwks_uri").is_ok());
        assert!(check_fetch_url("https://a.example/keys#x", "jwks_uri").is_err());
    }

    #[test]
    fn refuses_issuer_without_audience_or_with_hmac() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let err = Issuer::builder("https://a.example")
            .jwks(jwks)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "audience");
        let err = Issuer::builder("https://a.example")
            .audience("api")
            .algorithms([Algorithm::HS256])
            .jwks(jwks)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "algorithms");
        let err = Issuer::builder("https://a.example")
            .audience("api")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "keys");
    }
}
