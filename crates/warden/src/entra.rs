//! Microsoft Entra ID: single- and multi-tenant APIs, v1 and v2 access tokens.
//!
//! Entra issues access tokens typed `JWT` (not `at+jwt`), with the tenant in `tid`, the client
//! in `azp` (v2) or `appid` (v1), scopes in `scp` and app permissions in `roles`. Its keys are
//! shared by every tenant and published at `{authority}/common/discovery/v2.0/keys`, each with a
//! templated `issuer` member (`{authority}/{tenantid}/v2.0`).
//!
//! [`Entra`] turns a tenant allow-list (deny by default) into one trusted issuer per tenant and
//! token version, all sharing one key cache:
//!
//! - v2 issuer `{authority}/{tid}/v2.0`, v1 issuer `https://sts.windows.net/{tid}/` (both bases
//!   configurable for national clouds and tests);
//! - the token's `tid` must equal the tenant in its `iss`, and `ver` the issuer's version;
//! - a signing key's templated `issuer`, resolved with the token's `tid`, must equal the token's
//!   `iss` (v2 tokens);
//! - any tenant only as an explicit opt-in ([`EntraBuilder::any_tenant`]); the tenant must then be
//!   a GUID, and an attacker-chosen `iss` or `tid` still causes no request of its own (the keys
//!   are the common ones).
//!
//! # Example
//!
//! ```
//! use warden::{WardenLayer, entra::Entra};
//!
//! let entra = Entra::builder()
//!     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
//!     .audience("api://6e74172b-be56-4843-9ff4-e66a39bb12e3")
//!     .audience("6e74172b-be56-4843-9ff4-e66a39bb12e3")
//!     .build()?;
//! let layer = WardenLayer::builder().entra(entra).build()?;
//! # Ok::<(), warden::ConfigError>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;

use crate::error::{ConfigError, Setting};
use crate::error::{Error, InvalidToken};
use crate::guid::{is_guid, same_id};
use crate::issuer::{Issuer, IssuerBuilder, Policy, Profile, typ_is};
use crate::json::Members;
use crate::keys::{DEFAULT_COOLDOWN, JwksCache, KeySource};
use crate::principal::identity::{Caller, Claim, IdentityRules};
use crate::url::check_issuer_url;

/// The public cloud's authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The base of v1.0 token issuers in the public cloud.
pub const DEFAULT_V1_ISSUER_BASE: &str = "https://sts.windows.net";

/// An Entra access token version (`ver`), chosen by the app registration's
/// `api.requestedAccessTokenVersion` (the Microsoft Graph-format manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[non_exhaustive]
pub enum TokenVersion {
    /// `ver: "1.0"`, issuer `https://sts.windows.net/{tid}/`.
    #[serde(rename = "v1")]
    V1,
    /// `ver: "2.0"`, issuer `{authority}/{tid}/v2.0`.
    #[serde(rename = "v2")]
    V2,
}

impl TokenVersion {
    /// The `ver` claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

/// What binds an Entra issuer to its tenant and version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntraBinding {
    tenant: String,
    version: TokenVersion,
    /// `{authority}/{tenant}/v2.0`: the issuer the tenant's keys name, for v1 tokens too.
    v2_issuer: String,
}

impl EntraBinding {
    fn new(authority: &str, tenant: &str, version: TokenVersion) -> Self {
        EntraBinding {
            tenant: tenant.to_owned(),
            version,
            v2_issuer: format!("{authority}/{tenant}/v2.0"),
        }
    }

    /// Whether a key whose JWK `issuer` member is `template` belongs to this tenant (RFC 8725
    /// §3.8): the member, with `{tenantid}` replaced by the tenant, must equal the token's issuer
    /// or the tenant's v2 issuer (Entra's keys name the v2 issuer, also for v1 tokens), exactly.
    fn owns_key(&self, template: &str, token_issuer: &str) -> bool {
        let resolved = template.replace("{tenantid}", &self.tenant);
        resolved == token_issuer || resolved == self.v2_issuer
    }
}

/// Microsoft Entra's rules for its access tokens, all of them: the validator and the principal
/// know no provider.
#[derive(Debug)]
pub(crate) struct EntraPolicy {
    binding: EntraBinding,
}

/// `oid`, not `sub` (pairwise per application), is the user; user ids are unique within a
/// tenant; the client is `azp` (v2) or `appid` (v1); the token id is `uti`.
static ENTRA_IDENTITY: IdentityRules = IdentityRules {
    user: Claim::Oid,
    namespace: Claim::Tid,
    clients: [Claim::Azp, Claim::Appid],
    token_id: Claim::Uti,
    tenant: Some(Claim::Tid),
    hasgroups: true,
    caller: entra_caller,
};

/// `idtyp` (an optional claim) says `app` or `user`; without it, a token without `scp` is an
/// application's (Microsoft's documented rule).
fn entra_caller(claims: &crate::principal::identity::CallerClaims<'_>) -> Caller {
    match claims.idtyp {
        Some("app") => Caller::App,
        Some("user") => Caller::User,
        _ if claims.has_scp => Caller::User,
        _ => Caller::App,
    }
}

impl Policy for EntraPolicy {
    fn profile(&self) -> Profile {
        Profile::Entra
    }

    /// The tenant's v2.0 endpoint, for v1 tokens too: it publishes the metadata (the v1 issuer
    /// `https://sts.windows.net/{tid}/` does not).
    fn authorization_server(&self, _issuer: &str) -> String {
        self.binding.v2_issuer.clone()
    }

    /// Entra sends `JWT` (never `at+jwt`, which is accepted all the same).
    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        typ_is(typ, &["at+jwt", "jwt"])
    }

    fn required_claims(&self) -> &'static [&'static str] {
        &["iss", "aud", "exp", "sub", "tid", "oid", "iat", "uti"]
    }

    /// An ID token shares the keys, the issuer and (for the API's own app registration) the
    /// audience: it has no client claim and may carry a nonce. The token's `tid` must be its
    /// issuer's tenant, and `ver` its issuer's version.
    fn check_claims(&self, claims: &Members<'_>) -> Result<(), Error> {
        if !claims.is_string("azp") && !claims.is_string("appid") {
            return Err(InvalidToken::MissingClaim { claim: "azp" }.into());
        }
        if claims.contains("nonce") {
            return Err(InvalidToken::WrongTokenKind.into());
        }
        match claims.string("tid") {
            // Tenant ids are GUIDs: the same tenant in any case.
            Some(Some(tid)) if same_id(&tid, &self.binding.tenant) => {}
            Some(Some(_)) => return Err(InvalidToken::WrongTenant.into()),
            _ => {
                return Err(InvalidToken::InvalidClaim { claim: "tid" }.into());
            }
        }
        match claims.string("ver") {
            Some(Some(ver)) if ver == self.binding.version.as_str() => Ok(()),
            None => Err(InvalidToken::MissingClaim { claim: "ver" }.into()),
            Some(_) => Err(InvalidToken::WrongType.into()),
        }
    }

    /// Entra publishes one key set for every tenant, each key with a templated `issuer`: a key
    /// with one must belong to the token's tenant.
    fn owns_key(&self, key_issuer: Option<&str>, token_issuer: &str) -> bool {
        key_issuer.is_none_or(|template| self.binding.owns_key(template, token_issuer))
    }

    fn identity(&self) -> &'static IdentityRules {
        &ENTRA_IDENTITY
    }
}

/// Entra issuers, ready for [`WardenBuilder::entra`](crate::config::WardenBuilder::entra).
#[derive(Debug, Clone)]
pub struct Entra {
    pub(crate) authority: String,
    pub(crate) issuers: Vec<Issuer>,
    pub(crate) any_tenant: Option<Arc<AnyTenant>>,
}

impl Entra {
    /// Starts configuring Entra issuers.
    pub fn builder() -> EntraBuilder {
        EntraBuilder {
            authority: DEFAULT_AUTHORITY.to_owned(),
            v1_issuer_base: DEFAULT_V1_ISSUER_BASE.to_owned(),
            tenants: Vec::new(),
            any_tenant: false,
            audiences: Vec::new(),
            versions: vec![TokenVersion::V1, TokenVersion::V2],
            allowed_clients: None,
            algorithms: vec![Algorithm::RS256],
            keys: None,
            client: None,
            cooldown: DEFAULT_COOLDOWN,
            ttl: None,
        }
    }

    /// The issuers of the allow-listed tenants.
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }
}

/// How many tenants' issuers any-tenant mode keeps built (the rest are built again on use).
const ANY_TENANT_ISSUERS: usize = 10_000;

/// Accepts any tenant's tokens (explicit opt-in): recognises the issuer forms and builds the
/// tenant's issuer when first seen, kept in a bounded cache, so a request of a known tenant
/// builds nothing.
pub(crate) struct AnyTenant {
    authority: String,
    v1_issuer_base: String,
    versions: Vec<TokenVersion>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    allowed_clients: Option<Vec<String>>,
    keys: Arc<dyn KeySource>,
    issuers: quick_cache::sync::Cache<String, Issuer>,
}

impl std::fmt::Debug for AnyTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyTenant")
            .field("authority", &self.authority)
            .field("versions", &self.versions)
            .field("audiences", &self.audiences)
            .field("tenants_seen", &self.issuers.len())
            .finish_non_exhaustive()
    }
}

impl AnyTenant {
    /// The one key source of every tenant.
    pub(crate) fn keys(&self) -> &Arc<dyn KeySource> {
        &self.keys
    }

    /// Where its keys stand: one source serves every tenant.
    pub(crate) fn key_status(&self) -> crate::keys::KeyStatus {
        crate::keys::KeyStatus::of(format!("{} (any tenant)", self.authority), &*self.keys)
    }

    /// Where clients of any tenant discover Entra: `{authority}/common/v2.0`. Its metadata names
    /// the templated issuer `{authority}/{tenantid}/v2.0`, which a client checking the issuer
    /// strictly (RFC 8414 §3.3) refuses; single-tenant APIs list the tenant's own issuer.
    pub(crate) fn authorization_server(&self) -> String {
        format!("{}/common/v2.0", self.authority)
    }

    /// The issuer for this `iss`, if it has an Entra form with a GUID tenant and an accepted
    /// version: built once per tenant and version, then found by `iss`.
    pub(crate) fn issuer_for(&self, iss: &str) -> Option<Issuer> {
        if let Some(issuer) = self.issuers.get(iss) {
            return Some(issuer);
        }
        let issuer = self.build_issuer(iss)?;
        self.issuers.insert(iss.to_owned(), issuer.clone());
        Some(issuer)
    }

    fn build_issuer(&self, iss: &str) -> Option<Issuer> {
        let v2 = iss
            .strip_prefix(self.authority.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix("/v2.0"))
            .map(|tid| (tid, TokenVersion::V2));
        let v1 = || {
            iss.strip_prefix(self.v1_issuer_base.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.strip_suffix('/'))
                .map(|tid| (tid, TokenVersion::V1))
        };
        let (tenant, version) = v2.or_else(v1)?;
        if !is_guid(tenant) || !self.versions.contains(&version) {
            return None;
        }
        issuer(
            iss.to_owned(),
            EntraBinding::new(&self.authority, tenant, version),
            &self.audiences,
            &self.algorithms,
            self.allowed_clients.as_deref(),
            self.keys.clone(),
        )
        .ok()
    }
}

/// Configures [`Entra`]; see [`Entra::builder`].
#[must_use]
pub struct EntraBuilder {
    authority: String,
    v1_issuer_base: String,
    tenants: Vec<String>,
    any_tenant: bool,
    audiences: Vec<String>,
    versions: Vec<TokenVersion>,
    allowed_clients: Option<Vec<String>>,
    algorithms: Vec<Algorithm>,
    keys: Option<Arc<dyn KeySource>>,
    client: Option<reqwest::Client>,
    cooldown: Duration,
    ttl: Option<Duration>,
}

impl std::fmt::Debug for EntraBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraBuilder")
            .field("authority", &self.authority)
            .field("tenants", &self.tenants)
            .field("any_tenant", &self.any_tenant)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl EntraBuilder {
    /// Sets the authority (default `https://login.microsoftonline.com`; national clouds use
    /// their own, tests a local fake).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets the base of v1.0 issuers (default `https://sts.windows.net`).
    pub fn v1_issuer_base(mut self, base: impl Into<String>) -> Self {
        self.v1_issuer_base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Allows a tenant (its id, a GUID; compared in lower case, as Entra writes it).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenants.push(tenant.into().to_ascii_lowercase());
        self
    }

    /// Allows several tenants.
    pub fn tenants<I, T>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tenants
            .extend(tenants.into_iter().map(|t| t.into().to_ascii_lowercase()));
        self
    }

    /// Accepts tokens of any tenant. Opt-in only: a multi-tenant API that serves every
    /// organization must then authorize by tenant itself.
    pub fn any_tenant(mut self) -> Self {
        self.any_tenant = true;
        self
    }

    /// Adds an accepted audience: the application (client) id GUID and/or the App ID URI.
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

    /// Sets the accepted token versions (default both).
    pub fn versions(mut self, versions: impl IntoIterator<Item = TokenVersion>) -> Self {
        self.versions = versions.into_iter().collect();
        self
    }

    /// Accepts only these client applications (`azp` or `appid`).
    pub fn allowed_clients<I, C>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        self.allowed_clients = Some(clients.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the algorithm allow-list (default RS256, the only one Entra uses).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Uses another key source instead of the common keys fetched by discovery.
    pub fn keys(mut self, keys: impl KeySource) -> Self {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// The HTTP client for key fetches.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The unknown-`kid` refresh cooldown (default 60 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// A fixed key freshness, ignoring `Cache-Control`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: no tenant (and no `any_tenant` opt-in), a tenant that is
    /// not a GUID, no audience, no version, or an authority that is not https (http only for
    /// loopback hosts).
    pub fn build(self) -> Result<Entra, ConfigError> {
        check_issuer_url(&self.authority, Setting::EntraAuthority)?;
        check_issuer_url(&self.v1_issuer_base, Setting::EntraV1IssuerBase)?;
        if self.tenants.is_empty() && !self.any_tenant {
            return Err(ConfigError::missing(Setting::EntraTenants));
        }
        if self.tenants.iter().any(|t| !is_guid(t)) {
            return Err(ConfigError::invalid(
                Setting::EntraTenants,
                "a tenant must be its id (a GUID), as it appears in tokens",
            ));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::missing(Setting::EntraAudience));
        }
        if self.versions.is_empty() {
            return Err(ConfigError::invalid(
                Setting::EntraVersions,
                "must not be empty",
            ));
        }
        let keys: Arc<dyn KeySource> = match self.keys {
            Some(keys) => keys,
            None => {
                let mut cache = JwksCache::builder(format!("{}/{{tenantid}}/v2.0", self.authority))
                    .discovery_url(format!(
                        "{}/common/v2.0/.well-known/openid-configuration",
                        self.authority
                    ))
                    .cooldown(self.cooldown)
                    .algorithms(self.algorithms.iter().copied());
                if let Some(client) = self.client {
                    cache = cache.client(client);
                }
                if let Some(ttl) = self.ttl {
                    cache = cache.ttl(ttl);
                }
                Arc::new(cache.build()?)
            }
        };
        let mut issuers = Vec::new();
        // Entra spells tenant ids in lower case in its issuers; one configured in upper case is
        // the same tenant.
        for tenant in self.tenants.iter().map(|t| t.to_ascii_lowercase()) {
            for &version in &self.versions {
                let iss = match version {
                    TokenVersion::V2 => format!("{}/{tenant}/v2.0", self.authority),
                    TokenVersion::V1 => format!("{}/{tenant}/", self.v1_issuer_base),
                };
                issuers.push(issuer(
                    iss,
                    EntraBinding::new(&self.authority, &tenant, version),
                    &self.audiences,
                    &self.algorithms,
                    self.allowed_clients.as_deref(),
                    keys.clone(),
                )?);
            }
        }
        let authority = self.authority.clone();
        let any_tenant = self.any_tenant.then(|| {
            Arc::new(AnyTenant {
                authority: self.authority,
                v1_issuer_base: self.v1_issuer_base,
                versions: self.versions,
                audiences: self.audiences,
                algorithms: self.algorithms,
                allowed_clients: self.allowed_clients,
                keys,
                issuers: quick_cache::sync::Cache::new(ANY_TENANT_ISSUERS),
            })
        });
        Ok(Entra {
            authority,
            issuers,
            any_tenant,
        })
    }
}

fn issuer(
    iss: String,
    binding: EntraBinding,
    audiences: &[String],
    algorithms: &[Algorithm],
    allowed_clients: Option<&[String]>,
    keys: Arc<dyn KeySource>,
) -> Result<Issuer, ConfigError> {
    let mut builder: IssuerBuilder = Issuer::builder(iss)
        .audiences(audiences.iter().cloned())
        .algorithms(algorithms.iter().copied())
        .keys(keys)
        .policy(Arc::new(EntraPolicy { binding }));
    if let Some(clients) = allowed_clients {
        builder = builder.allowed_clients(clients.iter().cloned());
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_guids() {
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(!is_guid("72f988bf86f141af91ab2d7cd011db47"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4g"));
    }

    #[test]
    fn denies_by_default() {
        let err = Entra::builder().audience("api://x").build().unwrap_err();
        assert_eq!(err.field(), "entra_tenants");
        let err = Entra::builder()
            .tenant("contoso.onmicrosoft.com")
            .audience("api://x")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "entra_tenants");
    }

    #[test]
    fn a_key_belongs_to_a_tenant_only_by_exact_issuer() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let v2 = format!("{DEFAULT_AUTHORITY}/{tenant}/v2.0");
        let v1 = format!("{DEFAULT_V1_ISSUER_BASE}/{tenant}/");
        for version in [TokenVersion::V1, TokenVersion::V2] {
            let binding = EntraBinding::new(DEFAULT_AUTHORITY, tenant, version);
            let token_issuer = match version {
                TokenVersion::V1 => &v1,
                TokenVersion::V2 => &v2,
            };
            let owns = |template: &str| binding.owns_key(template, token_issuer);
            assert!(owns(&format!("{DEFAULT_AUTHORITY}/{{tenantid}}/v2.0")));
            assert!(owns(&v2));
            assert!(owns(token_issuer));
            // Another tenant's key, even one whose issuer merely contains this tenant's id.
            assert!(!owns(&format!(
                "{DEFAULT_AUTHORITY}/0b0b0b0b-0000-4000-8000-00000000b0b0/v2.0"
            )));
            assert!(!owns(&format!("https://attacker.example/{tenant}/v2.0")));
            assert!(!owns(&format!("{v2}/x")));
            assert!(!owns(&format!(
                "{DEFAULT_AUTHORITY}/{{tenantid}}/v2.0/{tenant}"
            )));
            assert!(!owns("https://attacker.example/{tenantid}/v2.0"));
        }
    }

    #[tokio::test]
    async fn app_specific_keys_build_as_docs_entra_shows() {
        // docs/entra.md, "App-specific signing keys".
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let app_id = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
        let keys = JwksCache::builder("https://login.microsoftonline.com/{tenantid}/v2.0")
            .jwks_uri(format!(
                "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys?appid={app_id}"
            ))
            .build()
            .unwrap();
        let entra = Entra::builder()
            .tenant(tenant)
            .audience(app_id)
            .keys(keys)
            .build()
            .unwrap();
        assert_eq!(entra.issuers().len(), 2);
    }

    #[test]
    fn any_tenant_builds_a_tenants_issuer_once() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let entra = Entra::builder()
            .any_tenant()
            .audience("api://x")
            .keys(crate::keys::StaticKeys::from_jwks(jwks).unwrap())
            .build()
            .unwrap();
        let any = entra.any_tenant.unwrap();
        let iss = format!("{DEFAULT_AUTHORITY}/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0");
        let first = any.issuer_for(&iss).unwrap();
        let again = any.issuer_for(&iss).unwrap();
        assert!(Arc::ptr_eq(&first.inner, &again.inner));
        assert!(
            any.issuer_for(&format!("{DEFAULT_AUTHORITY}/contoso/v2.0"))
                .is_none()
        );
        assert_eq!(any.issuers.len(), 1);
    }

    #[test]
    fn builds_one_issuer_per_tenant_and_version() {
        let entra = Entra::builder()
            .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
            .audience("api://x")
            .build()
            .unwrap();
        let names: Vec<&str> = entra.issuers().iter().map(Issuer::issuer).collect();
        assert_eq!(
            names,
            [
                "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
            ]
        );
    }
}
