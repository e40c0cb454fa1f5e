//! A trusted issuer and the provider rules its tokens follow ([`Policy`]).

use std::fmt;
use std::sync::Arc;

use crate::algorithm::Algorithm;
use serde::Deserialize;

use crate::error::{ConfigError, Error, InvalidToken, Setting};
use crate::json::Members;
use crate::keys::{KeySource, StaticKeys};
use crate::principal::identity::{self, IdentityRules};
use crate::url::check_issuer_url;

use crate::algorithm::DEFAULT_ALGORITHMS;

/// What an issuer's access tokens look like: which `typ` they carry and which claims they must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Profile {
    /// RFC 9068 JWT access tokens: `typ` is `at+jwt` or `application/at+jwt` (any case), and
    /// `iss`, `aud`, `exp`, `sub`, `client_id`, `iat` and `jti` are required (§2.2).
    #[default]
    Rfc9068,
    /// Access tokens typed `JWT` (or `at+jwt`), or not typed, as many OpenID Connect providers
    /// issue them (Keycloak, Auth0 without its RFC 9068 profile, Okta): `iss`, `aud`, `exp`, `sub`
    /// and `iat` are required. Only the audience then tells such a token from an ID token of the
    /// same issuer: give the API an audience of its own (docs/providers.md).
    JwtAccessToken,
    /// Amazon Cognito user pools' access tokens: no `typ` (or `JWT`), no `aud`. The app client
    /// in `client_id` takes the audience's place (the configured audiences are the app client
    /// ids allowed), `token_use` must be `access`, and `iss`, `exp`, `sub`, `iat`, `client_id`
    /// and `token_use` are required (docs/providers.md).
    Cognito,
    /// Microsoft Entra ID access tokens, as [`Entra`](crate::entra::Entra) issuers check them:
    /// `typ` is `JWT`; `iss`, `aud`, `exp`, `sub`, `tid`, `oid`, `iat`, `uti` and a client (`azp`
    /// in v2, `appid` in v1) are required, `tid` and `ver` must be the issuer's, and a `nonce`
    /// claim is refused: an ID token (no client claim, often a nonce) is never taken for an access
    /// token. Reported by [`Issuer::profile`]; an issuer gets it only from the Entra builder
    /// ([`IssuerBuilder::profile`] refuses it, since it needs the tenant binding).
    Entra,
}

/// A provider's rules for its tokens, in one place: the `typ` it sends, the claims it requires,
/// its checks on the unverified claims, which keys may sign for an issuer, and which claims name
/// the caller. The generic profiles implement it here, Microsoft Entra in `entra`; the validator
/// and the principal ask it and know no provider. A new provider profile is one implementation.
pub(crate) trait Policy: Send + Sync + fmt::Debug + 'static {
    /// The profile this policy implements.
    fn profile(&self) -> Profile;

    /// Whether a token may carry this `typ` header.
    fn accepts_typ(&self, typ: Option<&str>) -> bool;

    /// The claim the configured audiences are compared with: `aud`, but Cognito's access
    /// tokens name their app client in `client_id` instead.
    fn audience_claim(&self) -> &'static str {
        "aud"
    }

    /// The claims a token must carry.
    fn required_claims(&self) -> &'static [&'static str];

    /// The provider's own checks on the unverified claims, after the common ones; they only
    /// reject.
    fn check_claims(&self, _claims: &Members<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// For a token with no `typ` (which [`Policy::accepts_typ`] let through): the claims must
    /// not mark an ID token. Only reject.
    fn check_untyped(&self, _claims: &Members<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Whether a key whose JWK `issuer` member is `key_issuer` may sign tokens of `token_issuer`
    /// (RFC 8725 §3.8), for key sets shared between issuers.
    fn owns_key(&self, _key_issuer: Option<&str>, _token_issuer: &str) -> bool {
        true
    }

    /// Which claims name the caller.
    fn identity(&self) -> &'static IdentityRules;

    /// The authorization server a client should discover to get tokens of `issuer` (RFC 9728
    /// `authorization_servers`): the issuer itself, unless the provider publishes its metadata
    /// under another issuer.
    fn authorization_server(&self, issuer: &str) -> String {
        issuer.to_owned()
    }
}

/// Whether a `typ` header names one of `media_types`, compared case-insensitively with an
/// optional `application/` prefix (RFC 7515 §4.1.9).
pub(crate) fn typ_is(typ: Option<&str>, media_types: &[&str]) -> bool {
    let Some(typ) = typ else {
        return false;
    };
    let media = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    media_types.iter().any(|m| media.eq_ignore_ascii_case(m))
}

/// RFC 9068 and OpenID Connect providers' JWT access tokens.
#[derive(Debug)]
struct Generic(Profile);

impl Policy for Generic {
    fn profile(&self) -> Profile {
        self.0
    }

    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        match self.0 {
            Profile::Rfc9068 => typ_is(typ, &["at+jwt"]),
            Profile::Cognito => typ.is_none() || typ_is(typ, &["jwt"]),
            // Typed `JWT`, or not typed at all (Okta): neither tells an access token from an ID
            // token, so the audience does, as for every token of this profile.
            _ => typ.is_none() || typ_is(typ, &["at+jwt", "jwt"]),
        }
    }

    fn required_claims(&self) -> &'static [&'static str] {
        match self.0 {
            Profile::Rfc9068 => &["iss", "aud", "exp", "sub", "client_id", "iat", "jti"],
            Profile::Cognito => &["iss", "exp", "sub", "iat", "client_id", "token_use"],
            _ => &["iss", "aud", "exp", "sub", "iat"],
        }
    }

    /// An untyped token is taken for an access token only without an ID token's marks: OpenID
    /// Connect's `nonce`, `at_hash` and `c_hash`, or Cognito's `token_use` other than `access`.
    /// Okta's and Cognito's ID tokens carry no `typ` either.
    fn check_untyped(&self, claims: &Members<'_>) -> Result<(), Error> {
        let marked = ["nonce", "at_hash", "c_hash"]
            .iter()
            .any(|name| claims.contains(name))
            || claims
                .string("token_use")
                .is_some_and(|value| value.as_deref() != Some("access"));
        if marked {
            Err(InvalidToken::WrongTokenKind.into())
        } else {
            Ok(())
        }
    }

    fn audience_claim(&self) -> &'static str {
        match self.0 {
            Profile::Cognito => "client_id",
            _ => "aud",
        }
    }

    /// Cognito's access tokens say what they are: `token_use: access` (its ID tokens say `id`).
    fn check_claims(&self, claims: &Members<'_>) -> Result<(), Error> {
        match self.0 {
            Profile::Cognito => match claims.string("token_use") {
                Some(Some(kind)) if kind == "access" => Ok(()),
                Some(Some(_)) => Err(InvalidToken::WrongTokenKind.into()),
                Some(None) => Err(InvalidToken::InvalidClaim { claim: "token_use" }.into()),
                None => Err(InvalidToken::MissingClaim { claim: "token_use" }.into()),
            },
            _ => Ok(()),
        }
    }

    fn identity(&self) -> &'static IdentityRules {
        &identity::OAUTH
    }
}

/// A trusted token issuer: its exact `iss`, the audiences it issues for, its algorithms, its
/// profile, and where its keys come from.
///
/// # Example
///
/// ```
/// use warden::{Issuer, config::Profile, keys::StaticKeys};
///
/// # let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
/// #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
/// #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
/// let issuer = Issuer::builder("https://login.example.com/tenant-a")
///     .audience("api://orders")
///     .profile(Profile::Rfc9068)
///     .keys(StaticKeys::from_jwks(jwks).unwrap())
///     .build()
///     .unwrap();
/// assert_eq!(issuer.issuer(), "https://login.example.com/tenant-a");
/// ```
#[derive(Clone)]
pub struct Issuer {
    pub(crate) inner: Arc<IssuerInner>,
}

pub(crate) struct IssuerInner {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) allowed_clients: Option<Vec<String>>,
    pub(crate) dpop: DpopPolicy,
}

/// Which schemes an issuer's tokens may come with (RFC 9449). Whatever the policy, a
/// DPoP-bound token is accepted only with its proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DpopPolicy {
    /// Bearer tokens with `Bearer`, DPoP-bound tokens with `DPoP` and their proof (the default:
    /// a provider that starts binding tokens needs no change in the API).
    #[default]
    Allowed,
    /// DPoP-bound tokens only: a bearer token of this issuer is refused.
    Required,
    /// Bearer tokens only: a DPoP-bound token of this issuer is refused, even with its proof.
    Refused,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("algorithms", &self.inner.algorithms)
            .field("profile", &self.inner.policy.profile())
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
            policy: None,
            allowed_clients: None,
            dpop: DpopPolicy::Allowed,
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
        self.inner.policy.profile()
    }

    /// The provider's rules for this issuer's tokens.
    pub(crate) fn policy(&self) -> &dyn Policy {
        &*self.inner.policy
    }

    /// The key source.
    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// Which schemes this issuer's tokens may come with.
    pub fn dpop_policy(&self) -> DpopPolicy {
        self.inner.dpop
    }

    /// The client applications allowed to call, if restricted.
    pub fn allowed_clients(&self) -> Option<&[String]> {
        self.inner.allowed_clients.as_deref()
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
    policy: Option<Arc<dyn Policy>>,
    allowed_clients: Option<Vec<String>>,
    dpop: DpopPolicy,
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

    /// Which schemes this issuer's tokens may come with (default [`DpopPolicy::Allowed`]).
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.dpop = policy;
        self
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

    /// Replaces the algorithm allow-list (default [`DEFAULT_ALGORITHMS`]). [`Algorithm`] has no
    /// HMAC variant: an issuer publishing public keys can never be trusted with a shared secret.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Sets the token profile (default [`Profile::Rfc9068`]). Microsoft Entra issuers are
    /// configured with [`Entra`](crate::entra::Entra), which binds them to their tenants; here
    /// [`Profile::Entra`] is refused when the issuer is built.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Sets where the issuer's keys come from: a [`JwksCache`](crate::keys::JwksCache), a
    /// [`StaticKeys`], your own [`KeySource`], or an `Arc` of one shared between issuers.
    /// Set the keys once: with [`jwks`](Self::jwks) too, the issuer is refused when built.
    pub fn keys(mut self, keys: impl KeySource) -> Self {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// Uses a JWKS document given in configuration as the key source (parsed against this
    /// issuer's allow-list when built). Set the keys once: with [`keys`](Self::keys) too, the
    /// issuer is refused when built.
    pub fn jwks(mut self, document: impl Into<String>) -> Self {
        self.jwks = Some(document.into());
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

    /// A provider's policy (the Entra builder's), instead of a generic profile.
    pub(crate) fn policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: an issuer that is not an https URL (plain http only for
    /// loopback hosts), no audience, an empty algorithm list, no key source or two of them
    /// (`keys` and `jwks`), [`Profile::Entra`] (which only the Entra builder sets), or a JWKS
    /// document without a usable key.
    pub fn build(self) -> Result<Issuer, ConfigError> {
        check_issuer_url(&self.issuer, Setting::Issuer)?;
        if self.audiences.is_empty() {
            return Err(ConfigError::missing(Setting::Audience));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(Setting::Audience, "must not be empty"));
        }
        let algorithms = self
            .algorithms
            .unwrap_or_else(|| DEFAULT_ALGORITHMS.to_vec());
        if algorithms.is_empty() {
            return Err(ConfigError::invalid(
                Setting::Algorithms,
                "must not be empty",
            ));
        }
        let keys: Arc<dyn KeySource> = match (self.keys, self.jwks) {
            (Some(keys), None) => keys,
            (None, Some(jwks)) => Arc::new(StaticKeys::from_jwks_for(&jwks, &algorithms)?),
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    Setting::Keys,
                    "set once: keys() and jwks() both name the issuer's keys",
                ));
            }
            (None, None) => return Err(ConfigError::missing(Setting::Keys)),
        };
        let policy = match (self.policy, self.profile) {
            (Some(policy), _) => policy,
            (None, Profile::Entra) => {
                return Err(ConfigError::invalid(
                    Setting::Profile,
                    "Entra issuers are configured with warden::entra::Entra, which binds them to their tenants",
                ));
            }
            (None, profile) => Arc::new(Generic(profile)),
        };
        Ok(Issuer {
            inner: Arc::new(IssuerInner {
                issuer: self.issuer,
                audiences: self.audiences,
                algorithms,
                policy,
                keys,
                allowed_clients: self.allowed_clients,
                dpop: self.dpop,
            }),
        })
    }
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
            assert!(Generic(Profile::Rfc9068).accepts_typ(Some(typ)), "{typ}");
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
            assert!(!Generic(Profile::Rfc9068).accepts_typ(Some(typ)), "{typ}");
        }
        assert!(!Generic(Profile::Rfc9068).accepts_typ(None));
        assert!(Generic(Profile::JwtAccessToken).accepts_typ(Some("JWT")));
        assert!(!Generic(Profile::JwtAccessToken).accepts_typ(Some("dpop+jwt")));
        // Untyped tokens (Okta's, Cognito's): no weaker than `JWT`-typed ones, which ID tokens
        // also are; the audience tells them apart (docs/providers.md).
        assert!(Generic(Profile::JwtAccessToken).accepts_typ(None));
        assert!(!Generic(Profile::JwtAccessToken).accepts_typ(Some("secevent+jwt")));
    }

    #[test]
    fn refuses_the_entra_profile_and_keys_set_twice() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let entra = Issuer::builder("https://a.example")
            .audience("api")
            .profile(Profile::Entra)
            .jwks(jwks)
            .build()
            .unwrap_err();
        assert_eq!(entra.field(), "profile");
        let twice = Issuer::builder("https://a.example")
            .audience("api")
            .jwks(jwks)
            .keys(StaticKeys::from_jwks(jwks).unwrap())
            .build()
            .unwrap_err();
        assert_eq!(twice.field(), "keys");
    }

    #[test]
    fn refuses_issuer_without_audience_or_keys() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let err = Issuer::builder("https://a.example")
            .jwks(jwks)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "audience");
        let err = Issuer::builder("https://a.example")
            .audience("api")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "keys");
    }
}
