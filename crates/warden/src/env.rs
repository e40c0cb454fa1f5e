//! Configuration as data: a file (any serde format) or `WARDEN_` environment variables.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::algorithm::Algorithm;
use serde::Deserialize;

use crate::binding::dpop::{Dpop, DpopBuilder};
use crate::entra::{Entra, TokenVersion};
use crate::error::{ConfigError, Setting, Variable};
use crate::http::layer::{WardenBuilder, WardenLayer};
use crate::issuer::DpopPolicy;
use crate::issuer::{Issuer, Profile};
use crate::keys::{JwksCache, KeySource, StaticKeys};
use crate::metadata::ProtectedResource;

/// Configuration from a file (any serde format) or from `WARDEN_` environment variables.
///
/// | variable | field | default |
/// |---|---|---|
/// | `WARDEN_ISSUER` | `issuers`: one or more issuer URLs, comma-separated | required unless Entra tenants are set |
/// | `WARDEN_AUDIENCE` | `audiences`: comma-separated | required with `WARDEN_ISSUER`; for Entra alone, `WARDEN_ENTRA_AUDIENCE` may take its place |
/// | `WARDEN_LEEWAY_SECS` | `leeway_secs` | 60 |
/// | `WARDEN_REALM` | `realm` | `api` |
/// | `WARDEN_MAX_TOKEN_BYTES` | `max_token_bytes` | 16384 |
/// | `WARDEN_PROFILE` | `profile`: `rfc9068`, `jwt_access_token` or `cognito` (Entra issuers come from `WARDEN_ENTRA_TENANTS`) | `rfc9068` |
/// | `WARDEN_ALGORITHMS` | `algorithms`: comma-separated, e.g. `RS256,ES256`, for every issuer, Entra's too | all asymmetric (Entra: RS256) |
/// | `WARDEN_JWKS_FILE` | `jwks_file`: a JWKS document used instead of discovery, for the one issuer or for the Entra tenants (never both) | none |
/// | `WARDEN_JWKS_COOLDOWN_SECS` | `jwks_cooldown_secs`: least time between unknown-`kid` refreshes | 60 |
/// | `WARDEN_JWKS_TTL_SECS` | `jwks_ttl_secs`: fixed key freshness; unset, `Cache-Control` decides (5 min to 24 h, else 12 h) | unset (43200 when the provider says nothing) |
/// | `WARDEN_ENTRA_TENANTS` | `entra_tenants`: allowed tenant ids, comma-separated, or `*` for any tenant | none |
/// | `WARDEN_ENTRA_AUDIENCE` | `entra_audiences`: comma-separated; falls back to `WARDEN_AUDIENCE` | none |
/// | `WARDEN_ENTRA_AUTHORITY` | `entra_authority` | `https://login.microsoftonline.com` |
/// | `WARDEN_ENTRA_V1_ISSUER_BASE` | `entra_v1_issuer_base`: the base of v1.0 issuers (national clouds) | `https://sts.windows.net` |
/// | `WARDEN_ALLOW_ANONYMOUS` | `allow_anonymous`: `true` or `false` | `false` |
/// | `WARDEN_REFUSAL_LOGS_PER_SECOND` | `refusal_logs_per_second`: refusals logged at INFO per second, at most (`0`: none) | 10 |
/// | `WARDEN_TOKEN_CACHE` | `token_cache`: verified tokens cached (`0`: no cache) | 16384 |
/// | `WARDEN_MAX_TOKEN_LIFETIME_SECS` | `max_token_lifetime_secs`: longest `exp` − `iat` accepted | 101400 (28 h 10 min) |
/// | `WARDEN_CAE_AUTHORITY` | `cae_authority`: the authority claims challenges name | the Entra authority |
/// | `WARDEN_ALLOWED_CLIENTS` | `allowed_clients`: client ids allowed, comma-separated, for every issuer (Entra's too) | any client |
/// | `WARDEN_DISCOVERY_URL` | `discovery_url`: the one issuer's discovery document, when not at the well-known place | `{issuer}/.well-known/openid-configuration` |
/// | `WARDEN_JWKS_URI` | `jwks_uri`: the one issuer's JWKS, skipping discovery | from discovery |
/// | `WARDEN_JWKS_MAX_KEYS` | `jwks_max_keys`: keys kept per issuer | 100 |
/// | `WARDEN_JWKS_TIMEOUT_SECS` | `jwks_timeout_secs`: one deadline for connecting and for a whole fetch | 3 (connect), 10 (fetch) |
/// | `WARDEN_ENTRA_VERSIONS` | `entra_versions`: `v1`, `v2`, comma-separated | both |
/// | `WARDEN_DPOP` | `dpop`: `allowed`, `required` or `refused`: DPoP-bound tokens of every generic issuer | `allowed` |
/// | `WARDEN_BEARER_ONLY` | `bearer_only`: `true` turns DPoP proofs off in the layer | `false` |
/// | `WARDEN_DPOP_PUBLIC_URL` | `dpop_public_url`: the URL clients call, behind a proxy, that proofs' `htu` name | the request's URL |
/// | `WARDEN_DPOP_MAX_AGE_SECS` | `dpop_max_age_secs`: oldest proof `iat` accepted | 60 |
/// | `WARDEN_RESOURCE` | `resource`: the RFC 9728 resource (serves its metadata, names it in challenges) | none |
/// | `WARDEN_RESOURCE_NAME` | `resource_name`: its `resource_name` | none |
///
/// Code-only settings (a clock, a revocation store, a group resolver, a refusal responder, a
/// key source or HTTP client of your own, DPoP nonces and a shared replay cache, the metadata's
/// `scopes_supported` from your scope types) are set on the builder that [`builder`](Self::builder)
/// returns.
///
/// Invalid configuration fails at startup with a message naming the field or variable.
///
/// # Example
///
/// ```
/// use warden::WardenConfig;
///
/// let config = WardenConfig::from_vars([
///     ("WARDEN_ISSUER", "https://login.example.com"),
///     ("WARDEN_AUDIENCE", "api://orders"),
///     ("WARDEN_LEEWAY_SECS", "ten"),
/// ]);
/// assert_eq!(
///     config.unwrap_err().to_string(),
///     "invalid configuration: WARDEN_LEEWAY_SECS: not a whole number of seconds",
/// );
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WardenConfig {
    /// Trusted issuers, each compared exactly with `iss` (none for an Entra-only configuration).
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences, for every issuer (and for Entra's unless `entra_audiences` is set).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Leeway for `exp`, `nbf` and `iat`, in seconds (default 60).
    #[serde(default)]
    pub leeway_secs: Option<u64>,
    /// The challenge realm (default `api`).
    #[serde(default)]
    pub realm: Option<String>,
    /// Cap on token length (default 16 KiB).
    #[serde(default)]
    pub max_token_bytes: Option<usize>,
    /// Token profile of every issuer (default RFC 9068).
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Algorithm allow-list (default every asymmetric algorithm).
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// A JWKS document on disk used as the issuers' keys.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Let requests without a token through anonymously.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Refusals logged at INFO per second, at most (default 10; `0`: none).
    #[serde(default)]
    pub refusal_logs_per_second: Option<u32>,
    /// Verified tokens cached (default 16,384; `0`: none).
    #[serde(default)]
    pub token_cache: Option<usize>,
    /// Longest `exp` − `iat` accepted, in seconds.
    #[serde(default)]
    pub max_token_lifetime_secs: Option<u64>,
    /// The authority claims challenges name.
    #[serde(default)]
    pub cae_authority: Option<String>,
    /// Client ids allowed, for every issuer (default any).
    #[serde(default)]
    pub allowed_clients: Vec<String>,
    /// The one issuer's discovery document, when not at the well-known place.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// The one issuer's JWKS, skipping discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Keys kept per issuer (default 100).
    #[serde(default)]
    pub jwks_max_keys: Option<usize>,
    /// One deadline, in seconds, for connecting and for a whole key fetch.
    #[serde(default)]
    pub jwks_timeout_secs: Option<u64>,
    /// Entra token versions accepted (default both).
    #[serde(default)]
    pub entra_versions: Vec<TokenVersion>,
    /// DPoP-bound tokens of every generic issuer: allowed (default), required or refused.
    #[serde(default)]
    pub dpop: Option<DpopPolicy>,
    /// DPoP proofs off in the layer.
    #[serde(default)]
    pub bearer_only: bool,
    /// The URL clients call, behind a proxy, that DPoP proofs' `htu` name.
    #[serde(default)]
    pub dpop_public_url: Option<String>,
    /// Oldest DPoP proof `iat` accepted, in seconds (default 60).
    #[serde(default)]
    pub dpop_max_age_secs: Option<u64>,
    /// The RFC 9728 resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// The resource's `resource_name`.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// Least time between refreshes caused by unknown `kid`s, in seconds (default 60).
    #[serde(default)]
    pub jwks_cooldown_secs: Option<u64>,
    /// Fixed key freshness in seconds; unset, `Cache-Control` decides.
    #[serde(default)]
    pub jwks_ttl_secs: Option<u64>,
    /// Microsoft Entra tenant ids allowed (`*` for any tenant).
    #[serde(default)]
    pub entra_tenants: Vec<String>,
    /// Audiences for Entra tokens (default: `audiences`).
    #[serde(default)]
    pub entra_audiences: Vec<String>,
    /// The Entra authority (default `https://login.microsoftonline.com`).
    #[serde(default)]
    pub entra_authority: Option<String>,
    /// The base of Entra v1.0 issuers (default `https://sts.windows.net`; national clouds have
    /// their own, e.g. `https://sts.chinacloudapi.cn`).
    #[serde(default)]
    pub entra_v1_issuer_base: Option<String>,
}

impl WardenConfig {
    /// Reads the `WARDEN_` variables of the process environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable that is missing or unreadable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads `WARDEN_` variables from any list of pairs (handy in tests).
    ///
    /// A variable that is not warden's but is spelled like one of them (`WARDEN_AUDEINCE`,
    /// `WARDEN_LEEWAY`) is refused, naming the one meant: a typo must not leave a setting at its
    /// default in silence. Other `WARDEN_` variables (an application's own, such as the demo's
    /// `WARDEN_DEMO_ADDR`) are listed in one warning.
    ///
    /// ```
    /// let error = warden::WardenConfig::from_vars([
    ///     ("WARDEN_ISSUER", "https://login.example.com"),
    ///     ("WARDEN_AUDEINCE", "api://orders"),
    /// ])
    /// .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid configuration: WARDEN_AUDIENCE: WARDEN_AUDEINCE is not a warden variable; did you mean WARDEN_AUDIENCE?",
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable that is missing, unreadable, or misspelled.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = WardenConfig::default();
        let mut others = Vec::new();
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            let Some(variable) = Variable::from_name(key) else {
                // Any name, in any case: `warden_realm` and `WARDN_AUDIENCE` are typos too.
                if let Some(meant) = Variable::spelled_like(key) {
                    return Err(ConfigError::invalid(
                        Setting::Variable(meant),
                        format!(
                            "{key} is not a warden variable; did you mean {}?",
                            meant.name()
                        ),
                    ));
                }
                if key.starts_with("WARDEN_") {
                    others.push(key.to_owned());
                }
                continue;
            };
            let setting = Setting::Variable(variable);
            match key {
                "WARDEN_ISSUER" => config.issuers = list(value),
                "WARDEN_AUDIENCE" => config.audiences = list(value),
                "WARDEN_LEEWAY_SECS" => {
                    config.leeway_secs = Some(value.parse().map_err(|_| {
                        ConfigError::invalid(setting, "not a whole number of seconds")
                    })?);
                }
                "WARDEN_REALM" => config.realm = Some(value.to_owned()),
                "WARDEN_MAX_TOKEN_BYTES" => {
                    config.max_token_bytes = Some(value.parse().map_err(|_| {
                        ConfigError::invalid(setting, "not a whole number of bytes")
                    })?);
                }
                "WARDEN_PROFILE" => {
                    config.profile = Some(match value {
                        "rfc9068" => Profile::Rfc9068,
                        "jwt_access_token" => Profile::JwtAccessToken,
                        "cognito" => Profile::Cognito,
                        "entra" => {
                            return Err(ConfigError::invalid(
                                setting,
                                "Entra issuers are configured with WARDEN_ENTRA_TENANTS, which binds them to their tenants",
                            ));
                        }
                        _ => {
                            return Err(ConfigError::invalid(
                                setting,
                                "expected rfc9068, jwt_access_token or cognito",
                            ));
                        }
                    });
                }
                "WARDEN_ALGORITHMS" => {
                    let algorithms = list(value)
                        .iter()
                        .map(|a| Algorithm::from_str(a))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| ConfigError::invalid(setting, "unknown algorithm name"))?;
                    config.algorithms = Some(algorithms);
                }
                "WARDEN_JWKS_FILE" => config.jwks_file = Some(PathBuf::from(value)),
                "WARDEN_JWKS_COOLDOWN_SECS" => {
                    config.jwks_cooldown_secs = Some(value.parse().map_err(|_| {
                        ConfigError::invalid(setting, "not a whole number of seconds")
                    })?);
                }
                "WARDEN_JWKS_TTL_SECS" => {
                    config.jwks_ttl_secs = Some(value.parse().map_err(|_| {
                        ConfigError::invalid(setting, "not a whole number of seconds")
                    })?);
                }
                "WARDEN_ENTRA_TENANTS" => config.entra_tenants = list(value),
                "WARDEN_ENTRA_AUDIENCE" => config.entra_audiences = list(value),
                "WARDEN_ENTRA_AUTHORITY" => config.entra_authority = Some(value.to_owned()),
                "WARDEN_ENTRA_V1_ISSUER_BASE" => {
                    config.entra_v1_issuer_base = Some(value.to_owned());
                }
                "WARDEN_TOKEN_CACHE" => config.token_cache = Some(number(value, setting)?),
                "WARDEN_MAX_TOKEN_LIFETIME_SECS" => {
                    config.max_token_lifetime_secs = Some(number(value, setting)?);
                }
                "WARDEN_CAE_AUTHORITY" => config.cae_authority = Some(value.to_owned()),
                "WARDEN_ALLOWED_CLIENTS" => config.allowed_clients = list(value),
                "WARDEN_DISCOVERY_URL" => config.discovery_url = Some(value.to_owned()),
                "WARDEN_JWKS_URI" => config.jwks_uri = Some(value.to_owned()),
                "WARDEN_JWKS_MAX_KEYS" => config.jwks_max_keys = Some(number(value, setting)?),
                "WARDEN_JWKS_TIMEOUT_SECS" => {
                    config.jwks_timeout_secs = Some(number(value, setting)?);
                }
                "WARDEN_ENTRA_VERSIONS" => {
                    config.entra_versions = list(value)
                        .iter()
                        .map(|v| match v.as_str() {
                            "v1" => Ok(TokenVersion::V1),
                            "v2" => Ok(TokenVersion::V2),
                            _ => Err(ConfigError::invalid(setting, "expected v1, v2 or both")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "WARDEN_DPOP" => {
                    config.dpop = Some(match value {
                        "allowed" => DpopPolicy::Allowed,
                        "required" => DpopPolicy::Required,
                        "refused" => DpopPolicy::Refused,
                        _ => {
                            return Err(ConfigError::invalid(
                                setting,
                                "expected allowed, required or refused",
                            ));
                        }
                    });
                }
                "WARDEN_BEARER_ONLY" => config.bearer_only = boolean(value, setting)?,
                "WARDEN_DPOP_PUBLIC_URL" => config.dpop_public_url = Some(value.to_owned()),
                "WARDEN_DPOP_MAX_AGE_SECS" => {
                    config.dpop_max_age_secs = Some(number(value, setting)?);
                }
                "WARDEN_RESOURCE" => config.resource = Some(value.to_owned()),
                "WARDEN_RESOURCE_NAME" => config.resource_name = Some(value.to_owned()),
                "WARDEN_REFUSAL_LOGS_PER_SECOND" => {
                    config.refusal_logs_per_second = Some(
                        value
                            .parse()
                            .map_err(|_| ConfigError::invalid(setting, "not a whole number"))?,
                    );
                }
                "WARDEN_ALLOW_ANONYMOUS" => {
                    config.allow_anonymous = match value {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => return Err(ConfigError::invalid(setting, "expected true or false")),
                    };
                }
                _ => {}
            }
        }
        if !others.is_empty() {
            others.sort();
            tracing::warn!(
                variables = %others.join(" "),
                "WARDEN_ variables that warden does not read (the application's own, or a typo)"
            );
        }
        if config.issuers.is_empty() && config.entra_tenants.is_empty() {
            return Err(ConfigError::missing(Setting::Variable(Variable::Issuer)));
        }
        if config.audiences.is_empty() && config.entra_audiences.is_empty() {
            return Err(ConfigError::missing(Setting::Variable(Variable::Audience)));
        }
        if !config.issuers.is_empty() && config.audiences.is_empty() {
            return Err(ConfigError::missing(Setting::Variable(Variable::Audience)));
        }
        Ok(config)
    }

    /// Builds the layer: keys by discovery and JWKS for each issuer (or from `jwks_file`), and
    /// Entra issuers for `entra_tenants`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field that cannot work.
    pub fn build(&self) -> Result<WardenLayer, ConfigError> {
        self.builder()?.build()
    }

    /// The layer's builder with everything this configuration sets, for what only code can set
    /// (a revocation store shared by a fleet, a rejection responder):
    /// `config.builder()?.revocations(store).build()`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field that cannot work.
    pub fn builder(&self) -> Result<WardenBuilder, ConfigError> {
        if let Some(path) = &self.jwks_file {
            // Keys are bound to their issuer (RFC 8725 §3.8): one file serves one issuer, or the
            // Entra issuers (whose keys name their tenant), never both.
            let served = self.issuers.len() + usize::from(!self.entra_tenants.is_empty());
            if served > 1 {
                return Err(ConfigError::invalid(
                    Setting::JwksFile,
                    "serves one issuer (or the Entra tenants) only; configure several issuers in code with their own keys",
                ));
            }
            let document = std::fs::read_to_string(path)
                .map_err(|_| ConfigError::invalid(Setting::JwksFile, "cannot be read"))?;
            return self.builder_with(Some(&document), |issuer| issuer.jwks(document.clone()));
        }
        let mut caches = self
            .issuers
            .iter()
            .map(|url| self.jwks_cache(url))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        self.builder_with(None, |issuer| match caches.next() {
            Some(cache) => issuer.keys(cache),
            None => issuer,
        })
    }

    fn jwks_cache(&self, issuer: &str) -> Result<JwksCache, ConfigError> {
        let mut cache = JwksCache::builder(issuer);
        if let Some(url) = &self.discovery_url {
            cache = cache.discovery_url(url.clone());
        }
        if let Some(url) = &self.jwks_uri {
            cache = cache.jwks_uri(url.clone());
        }
        if let Some(max) = self.jwks_max_keys {
            cache = cache.max_keys(max);
        }
        if let Some(secs) = self.jwks_timeout_secs {
            cache = cache.timeouts(Duration::from_secs(secs), Duration::from_secs(secs));
        }
        if let Some(secs) = self.jwks_cooldown_secs {
            cache = cache.cooldown(Duration::from_secs(secs));
        }
        if let Some(secs) = self.jwks_ttl_secs {
            cache = cache.ttl(Duration::from_secs(secs));
        }
        if let Some(algorithms) = &self.algorithms {
            cache = cache.algorithms(algorithms.iter().copied());
        }
        cache.build()
    }

    /// The Entra issuers, with `keys` as their key set when a JWKS file is configured.
    fn entra(&self, keys: Option<&str>) -> Result<Option<Entra>, ConfigError> {
        if self.entra_tenants.is_empty() {
            return Ok(None);
        }
        let audiences = if self.entra_audiences.is_empty() {
            &self.audiences
        } else {
            &self.entra_audiences
        };
        let mut entra = Entra::builder().audiences(audiences.iter().cloned());
        if let Some(authority) = &self.entra_authority {
            entra = entra.authority(authority.clone());
        }
        if let Some(base) = &self.entra_v1_issuer_base {
            entra = entra.v1_issuer_base(base.clone());
        }
        if let Some(algorithms) = &self.algorithms {
            entra = entra.algorithms(algorithms.iter().copied());
        }
        if let Some(document) = keys {
            let algorithms = self
                .algorithms
                .clone()
                .unwrap_or_else(|| vec![Algorithm::RS256]);
            entra = entra.keys(StaticKeys::from_jwks_for(document, &algorithms)?);
        }
        for tenant in &self.entra_tenants {
            entra = if tenant == "*" {
                entra.any_tenant()
            } else {
                entra.tenant(tenant.clone())
            };
        }
        if let Some(secs) = self.jwks_cooldown_secs {
            entra = entra.cooldown(Duration::from_secs(secs));
        }
        if let Some(secs) = self.jwks_ttl_secs {
            entra = entra.ttl(Duration::from_secs(secs));
        }
        if !self.entra_versions.is_empty() {
            entra = entra.versions(self.entra_versions.iter().copied());
        }
        if !self.allowed_clients.is_empty() {
            entra = entra.allowed_clients(self.allowed_clients.iter().cloned());
        }
        entra.build().map(Some)
    }

    /// Builds the layer with a key source per issuer made by `keys` (given the issuer URL).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field that cannot work.
    pub fn build_with_keys<K, F>(&self, mut keys: F) -> Result<WardenLayer, ConfigError>
    where
        K: KeySource,
        F: FnMut(&str) -> K,
    {
        if self.jwks_file.is_some() {
            return Err(ConfigError::invalid(
                Setting::JwksFile,
                "build_with_keys takes the keys from its caller; use build() for a JWKS file",
            ));
        }
        self.builder_with(None, |issuer| {
            let source = keys(issuer.issuer_url());
            issuer.keys(source)
        })?
        .build()
    }

    fn builder_with<F>(
        &self,
        entra_keys: Option<&str>,
        mut with_keys: F,
    ) -> Result<WardenBuilder, ConfigError>
    where
        F: FnMut(crate::issuer::IssuerBuilder) -> crate::issuer::IssuerBuilder,
    {
        if self.issuers.is_empty() && self.entra_tenants.is_empty() {
            return Err(ConfigError::missing(Setting::Issuers));
        }
        if (self.discovery_url.is_some() || self.jwks_uri.is_some()) && self.issuers.len() != 1 {
            return Err(ConfigError::invalid(
                Setting::DiscoveryUrl,
                "discovery_url and jwks_uri name the keys of one issuer: configure exactly one",
            ));
        }
        let mut builder = WardenLayer::builder();
        if let Some(entra) = self.entra(entra_keys)? {
            builder = builder.entra(entra);
        }
        for url in &self.issuers {
            let mut issuer = Issuer::builder(url.as_str())
                .audiences(self.audiences.iter().cloned())
                .profile(self.profile.unwrap_or_default());
            if let Some(algorithms) = &self.algorithms {
                issuer = issuer.algorithms(algorithms.iter().copied());
            }
            if !self.allowed_clients.is_empty() {
                issuer = issuer.allowed_clients(self.allowed_clients.iter().cloned());
            }
            if let Some(policy) = self.dpop {
                issuer = issuer.dpop(policy);
            }
            builder = builder.issuer(with_keys(issuer).build()?);
        }
        if let Some(capacity) = self.token_cache {
            builder = builder.token_cache(capacity);
        }
        if let Some(secs) = self.max_token_lifetime_secs {
            builder = builder.max_token_lifetime(Duration::from_secs(secs));
        }
        if let Some(authority) = &self.cae_authority {
            builder = builder.cae_authority(authority.clone());
        }
        if self.bearer_only {
            if self.dpop_public_url.is_some() || self.dpop_max_age_secs.is_some() {
                return Err(ConfigError::invalid(
                    Setting::Variable(Variable::BearerOnly),
                    "DPoP proofs are off: dpop_public_url and dpop_max_age_secs would do nothing",
                ));
            }
            builder = builder.bearer_only();
        } else if self.dpop_public_url.is_some() || self.dpop_max_age_secs.is_some() {
            builder = builder.dpop(self.dpop_builder().build()?);
        }
        if let Some(resource) = &self.resource {
            let mut metadata = ProtectedResource::new(resource.clone());
            if let Some(name) = &self.resource_name {
                metadata = metadata.name(name.clone());
            }
            builder = builder.protected_resource(metadata);
        }
        if let Some(secs) = self.leeway_secs {
            builder = builder.leeway(Duration::from_secs(secs));
        }
        if let Some(realm) = &self.realm {
            builder = builder.realm(realm.clone());
        }
        if let Some(max) = self.max_token_bytes {
            builder = builder.max_token_bytes(max);
        }
        if self.allow_anonymous {
            builder = builder.allow_anonymous();
        }
        if let Some(per_second) = self.refusal_logs_per_second {
            builder = builder.refusal_logs_per_second(per_second);
        }
        Ok(builder)
    }
}

impl WardenConfig {
    /// The DPoP settings configured, as a builder to complete in code (a replay cache shared by
    /// a fleet, nonces): set it on the layer with [`WardenBuilder::dpop`] after
    /// [`builder`](Self::builder), which applies the same settings when nothing else is needed.
    pub fn dpop_builder(&self) -> DpopBuilder {
        let mut dpop = Dpop::builder();
        if let Some(url) = &self.dpop_public_url {
            dpop = dpop.public_url(url.clone());
        }
        if let Some(secs) = self.dpop_max_age_secs {
            dpop = dpop.max_age(Duration::from_secs(secs));
        }
        dpop
    }
}

fn number<T: FromStr>(value: &str, setting: Setting) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::invalid(setting, "not a whole number"))
}

fn boolean(value: &str, setting: Setting) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(ConfigError::invalid(setting, "expected true or false")),
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_variable() {
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://a.example, https://b.example"),
            ("WARDEN_AUDIENCE", "api://x,api://y"),
            ("WARDEN_LEEWAY_SECS", "30"),
            ("WARDEN_REALM", "orders"),
            ("WARDEN_MAX_TOKEN_BYTES", "8192"),
            ("WARDEN_PROFILE", "jwt_access_token"),
            ("WARDEN_ALGORITHMS", "RS256,ES256"),
            ("WARDEN_ALLOW_ANONYMOUS", "true"),
            ("WARDEN_JWKS_COOLDOWN_SECS", "30"),
            ("WARDEN_JWKS_TTL_SECS", "600"),
            (
                "WARDEN_ENTRA_TENANTS",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            ),
            ("WARDEN_ENTRA_AUTHORITY", "https://login.microsoftonline.us"),
            ("OTHER", "ignored"),
        ])
        .unwrap();
        assert_eq!(config.issuers, ["https://a.example", "https://b.example"]);
        assert_eq!(config.audiences, ["api://x", "api://y"]);
        assert_eq!(config.leeway_secs, Some(30));
        assert_eq!(config.realm.as_deref(), Some("orders"));
        assert_eq!(config.max_token_bytes, Some(8192));
        assert_eq!(config.profile, Some(Profile::JwtAccessToken));
        assert_eq!(
            config.algorithms,
            Some(vec![Algorithm::RS256, Algorithm::ES256])
        );
        assert!(config.allow_anonymous);
        assert_eq!(config.jwks_cooldown_secs, Some(30));
        assert_eq!(config.jwks_ttl_secs, Some(600));
        assert_eq!(
            config.entra_tenants,
            ["72f988bf-86f1-41af-91ab-2d7cd011db47"]
        );
        assert_eq!(
            config.entra_authority.as_deref(),
            Some("https://login.microsoftonline.us")
        );
    }

    #[test]
    fn builds_discovery_backed_and_entra_layers() {
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://login.example.com"),
            ("WARDEN_AUDIENCE", "api://x"),
            (
                "WARDEN_ENTRA_TENANTS",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            ),
        ])
        .unwrap();
        let layer = config.build().unwrap();
        assert_eq!(layer.validator().issuers().count(), 3);
        let config = WardenConfig::from_vars([
            ("WARDEN_ENTRA_TENANTS", "contoso.com"),
            ("WARDEN_AUDIENCE", "api://x"),
        ])
        .unwrap();
        assert_eq!(config.build().unwrap_err().field(), "entra_tenants");
    }

    #[test]
    fn every_data_option_of_the_builders_reaches_the_layer() {
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://login.example.com"),
            ("WARDEN_AUDIENCE", "api://x"),
            ("WARDEN_ALLOWED_CLIENTS", "app-1, app-2"),
            ("WARDEN_DPOP", "required"),
            ("WARDEN_RESOURCE", "https://api.example.com"),
            ("WARDEN_RESOURCE_NAME", "Orders"),
            ("WARDEN_TOKEN_CACHE", "0"),
            ("WARDEN_MAX_TOKEN_LIFETIME_SECS", "3600"),
            ("WARDEN_CAE_AUTHORITY", "https://login.example.com"),
            (
                "WARDEN_DISCOVERY_URL",
                "https://login.example.com/.well-known/openid-configuration",
            ),
            ("WARDEN_JWKS_MAX_KEYS", "10"),
            ("WARDEN_JWKS_TIMEOUT_SECS", "4"),
            ("WARDEN_DPOP_PUBLIC_URL", "https://api.example.com"),
            ("WARDEN_DPOP_MAX_AGE_SECS", "30"),
        ])
        .unwrap();
        assert_eq!(config.allowed_clients, ["app-1", "app-2"]);
        assert_eq!(config.token_cache, Some(0));
        let layer = config.build().unwrap();
        let issuer = layer.validator().issuers().next().unwrap();
        assert_eq!(
            issuer.allowed_clients(),
            Some(&["app-1".to_owned(), "app-2".to_owned()][..])
        );
        assert_eq!(issuer.dpop_policy(), DpopPolicy::Required);
        let metadata = layer.resource_metadata().unwrap();
        assert_eq!(
            metadata.url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );

        // The same as a file.
        let json: WardenConfig = serde_json::from_str(
            r#"{"issuers": ["https://login.example.com"], "audiences": ["api://x"],
                "dpop": "refused", "entra_versions": ["v2"], "bearer_only": true,
                "jwks_timeout_secs": 4}"#,
        )
        .unwrap();
        assert_eq!(json.dpop, Some(DpopPolicy::Refused));
        assert_eq!(json.entra_versions, [TokenVersion::V2]);
        assert!(json.build().is_ok());

        let err =
            |vars: &[(&str, &str)]| WardenConfig::from_vars(vars.iter().copied()).unwrap_err();
        let base = [
            ("WARDEN_ISSUER", "https://a.example"),
            ("WARDEN_AUDIENCE", "x"),
        ];
        for (name, value) in [
            ("WARDEN_DPOP", "sometimes"),
            ("WARDEN_ENTRA_VERSIONS", "v3"),
            ("WARDEN_TOKEN_CACHE", "many"),
            ("WARDEN_BEARER_ONLY", "yes"),
        ] {
            let mut vars = base.to_vec();
            vars.push((name, value));
            assert_eq!(err(&vars).field(), name);
        }
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            WardenConfig::from_vars(vars).unwrap().build().unwrap_err()
        };
        assert_eq!(
            with(&[
                ("WARDEN_BEARER_ONLY", "true"),
                ("WARDEN_DPOP_MAX_AGE_SECS", "30")
            ])
            .field(),
            "WARDEN_BEARER_ONLY"
        );
        assert_eq!(
            with(&[
                ("WARDEN_ISSUER", "https://a.example,https://b.example"),
                ("WARDEN_JWKS_URI", "https://a.example/keys")
            ])
            .field(),
            "discovery_url"
        );
    }

    #[test]
    fn names_the_variable_that_is_wrong() {
        let err =
            |vars: &[(&str, &str)]| WardenConfig::from_vars(vars.iter().copied()).unwrap_err();
        assert_eq!(
            err(&[]).setting(),
            crate::error::Setting::Variable(crate::error::Variable::Issuer)
        );
        assert_eq!(err(&[]).field(), "WARDEN_ISSUER");
        assert_eq!(
            err(&[("WARDEN_ISSUER", "https://a")]).field(),
            "WARDEN_AUDIENCE"
        );
        let base = [("WARDEN_ISSUER", "https://a"), ("WARDEN_AUDIENCE", "x")];
        for (var, value) in [
            ("WARDEN_PROFILE", "okta"),
            ("WARDEN_PROFILE", "entra"),
            ("WARDEN_ALGORITHMS", "RS256,none"),
            ("WARDEN_ALGORITHMS", "HS256"),
            ("WARDEN_ALLOW_ANONYMOUS", "yes"),
            ("WARDEN_MAX_TOKEN_BYTES", "-1"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            assert_eq!(err(&vars).field(), var);
        }
    }

    #[test]
    fn refuses_plain_http_issuer_and_bad_realm_at_build() {
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "http://login.example.com"),
            ("WARDEN_AUDIENCE", "x"),
        ])
        .unwrap();
        let err = config
            .build_with_keys(|_| crate::keys::StaticKeys::new(crate::keys::KeySet::default()))
            .unwrap_err();
        assert_eq!(err.field(), "issuer");

        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://login.example.com"),
            ("WARDEN_AUDIENCE", "x"),
            ("WARDEN_REALM", "a\"b"),
        ])
        .unwrap();
        let err = config
            .build_with_keys(|_| crate::keys::StaticKeys::new(crate::keys::KeySet::default()))
            .unwrap_err();
        assert_eq!(err.field(), "realm");
    }

    #[test]
    fn refuses_one_key_file_for_several_issuers_and_a_zero_ttl() {
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://a.example,https://b.example"),
            ("WARDEN_AUDIENCE", "x"),
            ("WARDEN_JWKS_FILE", "/nonexistent"),
        ])
        .unwrap();
        assert_eq!(config.build().unwrap_err().field(), "jwks_file");
        let config = WardenConfig::from_vars([
            ("WARDEN_ISSUER", "https://a.example"),
            ("WARDEN_AUDIENCE", "x"),
            ("WARDEN_JWKS_TTL_SECS", "0"),
        ])
        .unwrap();
        assert_eq!(config.build().unwrap_err().field(), "jwks_ttl");
    }

    #[test]
    fn an_entra_only_configuration_reaches_every_entra_setting() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        // JSON without `issuers` or `audiences`: Entra alone.
        let config: WardenConfig = serde_json::from_str(&format!(
            r#"{{"entra_tenants":["{tenant}"],"entra_audiences":["api://x"],
                "entra_v1_issuer_base":"https://sts.chinacloudapi.cn",
                "algorithms":["RS256","PS256"]}}"#
        ))
        .unwrap();
        let layer = config.build().unwrap();
        let mut issuers: Vec<_> = layer.validator().issuers().collect();
        issuers.sort_by_key(|i| i.issuer().to_owned());
        let names: Vec<&str> = issuers.iter().map(|i| i.issuer()).collect();
        assert_eq!(
            names,
            [
                format!("https://login.microsoftonline.com/{tenant}/v2.0"),
                format!("https://sts.chinacloudapi.cn/{tenant}/"),
            ]
        );
        for issuer in &issuers {
            assert_eq!(issuer.algorithms(), [Algorithm::RS256, Algorithm::PS256]);
            assert_eq!(issuer.profile(), Profile::Entra);
        }
        // The same from the environment.
        let config = WardenConfig::from_vars([
            ("WARDEN_ENTRA_TENANTS", tenant),
            ("WARDEN_AUDIENCE", "api://x"),
            (
                "WARDEN_ENTRA_V1_ISSUER_BASE",
                "https://sts.chinacloudapi.cn",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.entra_v1_issuer_base.as_deref(),
            Some("https://sts.chinacloudapi.cn")
        );
    }

    #[test]
    fn a_jwks_file_serves_the_entra_issuers_or_one_issuer_never_both() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let path = std::env::temp_dir().join(format!("warden-config-{}.json", std::process::id()));
        std::fs::write(&path, jwks).unwrap();
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let entra_only = WardenConfig {
            entra_tenants: vec![tenant.to_owned()],
            audiences: vec!["api://x".to_owned()],
            jwks_file: Some(path.clone()),
            algorithms: Some(vec![Algorithm::EdDSA]),
            ..WardenConfig::default()
        };
        let layer = entra_only.build().unwrap();
        for issuer in layer.validator().issuers() {
            let keys = issuer.keys().snapshot().unwrap();
            assert!(keys.contains_kid("k"), "{}", issuer.issuer());
        }
        let both = WardenConfig {
            issuers: vec!["https://a.example".to_owned()],
            ..entra_only
        };
        assert_eq!(both.build().unwrap_err().setting(), Setting::JwksFile);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn deserializes_from_json() {
        let config: WardenConfig = serde_json::from_str(
            r#"{"issuers":["https://a.example"],"audiences":["api://x"],"profile":"jwt_access_token","algorithms":["ES256"]}"#,
        )
        .unwrap();
        assert_eq!(config.profile, Some(Profile::JwtAccessToken));
        assert!(
            serde_json::from_str::<WardenConfig>(r#"{"issuers":[],"audiences":[],"isuers":[]}"#)
                .is_err()
        );
    }
}
