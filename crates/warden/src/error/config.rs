//! Configuration errors: [`ConfigError`] and the [`Setting`] (or [`Variable`]) it names. Raised
//! when a builder or [`WardenConfig`](crate::WardenConfig) is built, never on a request.

use std::fmt;

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
    /// `WARDEN_REFUSAL_LOGS_PER_SECOND`.
    RefusalLogsPerSecond,
    /// `WARDEN_TOKEN_CACHE`.
    TokenCache,
    /// `WARDEN_MAX_TOKEN_LIFETIME_SECS`.
    MaxTokenLifetimeSecs,
    /// `WARDEN_CAE_AUTHORITY`.
    CaeAuthority,
    /// `WARDEN_ALLOWED_CLIENTS`.
    AllowedClients,
    /// `WARDEN_DISCOVERY_URL`.
    DiscoveryUrl,
    /// `WARDEN_JWKS_URI`.
    JwksUri,
    /// `WARDEN_JWKS_MAX_KEYS`.
    JwksMaxKeys,
    /// `WARDEN_JWKS_TIMEOUT_SECS`.
    JwksTimeoutSecs,
    /// `WARDEN_ENTRA_VERSIONS`.
    EntraVersions,
    /// `WARDEN_DPOP`.
    Dpop,
    /// `WARDEN_BEARER_ONLY`.
    BearerOnly,
    /// `WARDEN_DPOP_PUBLIC_URL`.
    DpopPublicUrl,
    /// `WARDEN_DPOP_MAX_AGE_SECS`.
    DpopMaxAgeSecs,
    /// `WARDEN_RESOURCE`.
    Resource,
    /// `WARDEN_RESOURCE_NAME`.
    ResourceName,
}

impl Variable {
    const ALL: [Variable; 31] = [
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
        Variable::RefusalLogsPerSecond,
        Variable::TokenCache,
        Variable::MaxTokenLifetimeSecs,
        Variable::CaeAuthority,
        Variable::AllowedClients,
        Variable::DiscoveryUrl,
        Variable::JwksUri,
        Variable::JwksMaxKeys,
        Variable::JwksTimeoutSecs,
        Variable::EntraVersions,
        Variable::Dpop,
        Variable::BearerOnly,
        Variable::DpopPublicUrl,
        Variable::DpopMaxAgeSecs,
        Variable::Resource,
        Variable::ResourceName,
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
            Variable::RefusalLogsPerSecond => "WARDEN_REFUSAL_LOGS_PER_SECOND",
            Variable::TokenCache => "WARDEN_TOKEN_CACHE",
            Variable::MaxTokenLifetimeSecs => "WARDEN_MAX_TOKEN_LIFETIME_SECS",
            Variable::CaeAuthority => "WARDEN_CAE_AUTHORITY",
            Variable::AllowedClients => "WARDEN_ALLOWED_CLIENTS",
            Variable::DiscoveryUrl => "WARDEN_DISCOVERY_URL",
            Variable::JwksUri => "WARDEN_JWKS_URI",
            Variable::JwksMaxKeys => "WARDEN_JWKS_MAX_KEYS",
            Variable::JwksTimeoutSecs => "WARDEN_JWKS_TIMEOUT_SECS",
            Variable::EntraVersions => "WARDEN_ENTRA_VERSIONS",
            Variable::Dpop => "WARDEN_DPOP",
            Variable::BearerOnly => "WARDEN_BEARER_ONLY",
            Variable::DpopPublicUrl => "WARDEN_DPOP_PUBLIC_URL",
            Variable::DpopMaxAgeSecs => "WARDEN_DPOP_MAX_AGE_SECS",
            Variable::Resource => "WARDEN_RESOURCE",
            Variable::ResourceName => "WARDEN_RESOURCE_NAME",
        }
    }

    /// The variable of this name, if warden reads one.
    pub(crate) fn from_name(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The variable `name` (not one of warden's) was most likely meant to be: one edit or two
    /// away (a letter missing, extra, changed or two swapped; case ignored), or the same but for a
    /// `_SECS` suffix (`WARDEN_LEEWAY`).
    pub(crate) fn spelled_like(name: &str) -> Option<Variable> {
        let name = name.to_ascii_uppercase();
        Variable::ALL.into_iter().find(|variable| {
            let known = variable.name();
            name == known
                || known.strip_suffix("_SECS") == Some(name.as_str())
                || edit_distance(&name, known) <= 2
        })
    }
}

/// Optimal string alignment distance (insertions, deletions, substitutions and adjacent
/// transpositions), for the short ASCII names of variables.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelled_variables_name_the_one_meant() {
        for (typo, meant) in [
            ("WARDEN_AUDEINCE", Variable::Audience),
            ("WARDEN_ISUER", Variable::Issuer),
            ("WARDEN_LEEWAY", Variable::LeewaySecs),
            ("warden_realm", Variable::Realm),
            ("WARDN_AUDIENCE", Variable::Audience),
            ("WARDEN_ALGORITHM", Variable::Algorithms),
            ("WARDEN_JWKS_TTL", Variable::JwksTtlSecs),
        ] {
            assert_eq!(Variable::spelled_like(typo), Some(meant), "{typo}");
        }
        // An application's own variables are not typos of warden's.
        for other in [
            "WARDEN_DEMO_ADDR",
            "WARDEN_REDIS_URL",
            "WARDEN_SSF_PUSH_TOKEN",
            "WARDEN_PUBLIC_URL",
            "WARDEN_MCP_BASE",
            "WARDEN_MCP_ADDR",
            "WARDEN_GRPC_ADDR",
            "PATH",
            "HOME",
            "RUST_LOG",
            "WARDEN_BASELINE_ADDR",
            "WARDEN_REDIS_SERVER",
            "WARDEN_SSF_AUDIENCE",
            "WARDEN_REDIS_WAIT_FOR_REPLICAS",
            "WARDEN_REDIS_CLUSTER",
            "WARDEN_MANAGED_IDENTITY",
        ] {
            assert_eq!(Variable::spelled_like(other), None, "{other}");
        }
    }
}
