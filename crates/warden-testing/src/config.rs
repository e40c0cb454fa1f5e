//! The fake issuer's configuration file (`fake-issuer --config fake-issuer.json`): how it runs,
//! its clients, its users and its faults, in one JSON document. Every member is optional;
//! an unknown one is an error, not ignored.
//!
//! ```json
//! {
//!   "mode": "entra", "tenant": "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c",
//!   "audience": "api://orders", "port": 4000, "tls": false,
//!   "cors_origins": ["http://localhost:5173"],
//!   "issuers": ["partner-a", "partner-b"],
//!   "clients": [{"client_id": "web", "secret": "s3cret", "redirect_uris": ["https://app.example/cb"]}],
//!   "users": {"alice": {"roles": ["Orders.Admin"], "department": "finance"}},
//!   "faults": {"jwks": {"status": 503}}
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clients::ClientRegistration;
use crate::issuer::{FakeIssuer, FakeIssuerBuilder};
use crate::state::{Endpoint, FaultRequest};

/// The configuration file, parsed and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeIssuerConfig {
    /// `oidc` (the default) or `entra`.
    #[serde(default)]
    mode: ConfigMode,
    /// Entra mode's tenant (default [`DEFAULT_TENANT`](crate::DEFAULT_TENANT)).
    tenant: Option<String>,
    audience: Option<String>,
    port: Option<u16>,
    host: Option<IpAddr>,
    public_url: Option<String>,
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    allow_plain_pkce: bool,
    /// Origins of browser apps allowed to read the provider's answers (CORS).
    #[serde(default)]
    cors_origins: Vec<String>,
    /// Several issuers at `/{id}`, all configured alike.
    #[serde(default)]
    issuers: Vec<String>,
    #[serde(default)]
    clients: Vec<ClientConfig>,
    /// A user's claims, added to their tokens when they sign in (the login page's choices win).
    #[serde(default)]
    users: BTreeMap<String, Map<String, Value>>,
    /// Faults by endpoint (`discovery`, `jwks`, `token`, `managed_identity`), as the HTTP fault
    /// API takes them.
    #[serde(default)]
    faults: BTreeMap<String, FaultRequest>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ConfigMode {
    #[default]
    Oidc,
    Entra,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    client_id: String,
    secret: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
}

/// Why a configuration file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// Not the JSON the file must be (a syntax error, a wrong type, an unknown member), with
    /// serde's line and column.
    Json(String),
    /// A fault for an endpoint that does not exist.
    UnknownEndpoint(String),
    /// A fault that names none, several, or an unknown kind.
    InvalidFault(String),
    /// A client listed twice.
    DuplicateClient(String),
    /// A member that only another member's value gives a meaning to (`tenant` without
    /// `"mode": "entra"`), or a user's `roles` that is not an array of strings: never ignored.
    Meaningless(&'static str),
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Json(e) => write!(f, "invalid configuration: {e}"),
            ConfigFileError::UnknownEndpoint(name) => write!(
                f,
                "unknown endpoint {name:?} in faults: discovery, jwks, token or managed_identity"
            ),
            ConfigFileError::InvalidFault(name) => write!(
                f,
                "the fault of {name:?} must be exactly one of status, delay_ms, oversized_bytes or a known kind"
            ),
            ConfigFileError::DuplicateClient(id) => write!(f, "client {id:?} is listed twice"),
            ConfigFileError::Meaningless(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ConfigFileError {}

impl FakeIssuerConfig {
    /// Parses and checks a configuration file's text.
    ///
    /// ```
    /// let config = warden_testing::FakeIssuerConfig::from_json(
    ///     r#"{"mode": "entra", "users": {"alice": {"department": "finance"}}}"#,
    /// )
    /// .unwrap();
    /// # let _ = config;
    /// assert!(warden_testing::FakeIssuerConfig::from_json(r#"{"mdoe": "entra"}"#).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigFileError`] saying what is wrong.
    pub fn from_json(text: &str) -> Result<FakeIssuerConfig, ConfigFileError> {
        let config: FakeIssuerConfig =
            serde_json::from_str(text).map_err(|e| ConfigFileError::Json(e.to_string()))?;
        for (name, fault) in &config.faults {
            if Endpoint::named(name).is_none() {
                return Err(ConfigFileError::UnknownEndpoint(name.clone()));
            }
            if fault.fault().is_none() {
                return Err(ConfigFileError::InvalidFault(name.clone()));
            }
        }
        if config.tenant.is_some() && !matches!(config.mode, ConfigMode::Entra) {
            return Err(ConfigFileError::Meaningless(
                "tenant is set, but mode is not entra",
            ));
        }
        for claims in config.users.values() {
            if let Some(roles) = claims.get("roles")
                && !roles
                    .as_array()
                    .is_some_and(|roles| roles.iter().all(Value::is_string))
            {
                return Err(ConfigFileError::Meaningless(
                    "a user's roles must be an array of strings",
                ));
            }
        }
        for (index, client) in config.clients.iter().enumerate() {
            if config.clients[..index]
                .iter()
                .any(|c| c.client_id == client.client_id)
            {
                return Err(ConfigFileError::DuplicateClient(client.client_id.clone()));
            }
        }
        Ok(config)
    }

    /// The issuer ids to start with [`FakeIssuerBuilder::start_many`]; none means one issuer
    /// at the root.
    pub fn issuer_ids(&self) -> Vec<&str> {
        self.issuers.iter().map(String::as_str).collect()
    }

    /// A builder with the file's mode, audience, address, TLS and PKCE settings.
    pub fn builder(&self) -> FakeIssuerBuilder {
        let mut builder = FakeIssuer::builder();
        if let ConfigMode::Entra = self.mode {
            builder = builder.entra(
                self.tenant
                    .clone()
                    .unwrap_or_else(|| crate::DEFAULT_TENANT.to_owned()),
            );
        }
        if let Some(audience) = &self.audience {
            builder = builder.audience(audience);
        }
        if let Some(port) = self.port {
            builder = builder.port(port);
        }
        if let Some(host) = self.host {
            builder = builder.host(host);
        }
        if let Some(url) = &self.public_url {
            builder = builder.public_base_url(url);
        }
        if self.tls {
            builder = builder.tls();
        }
        if self.allow_plain_pkce {
            builder = builder.allow_plain_pkce();
        }
        for origin in &self.cors_origins {
            builder = builder.cors_origin(origin);
        }
        builder
    }

    /// Registers the file's clients and users on a started issuer, and sets its faults.
    pub fn apply(&self, issuer: &FakeIssuer) {
        for client in &self.clients {
            let mut registration = ClientRegistration::new(&client.client_id);
            if let Some(secret) = &client.secret {
                registration = registration.secret(secret);
            }
            for uri in &client.redirect_uris {
                registration = registration.redirect_uri(uri);
            }
            for audience in &client.audiences {
                registration = registration.audience(audience);
            }
            issuer.register_client(registration);
        }
        for (name, claims) in &self.users {
            issuer.add_user(name, claims.clone());
        }
        for (name, fault) in &self.faults {
            // Checked by `from_json`.
            if let (Some(endpoint), Some(fault)) = (Endpoint::named(name), fault.fault()) {
                issuer.set_fault(endpoint, fault);
            }
        }
    }
}
