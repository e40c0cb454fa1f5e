//! The transmitter's configuration (SSF 1.0 §7): where it is, what it says, and the checks that
//! decide whether it may be used.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value};

use super::http::{self as call, CallError};
use crate::error::{ConfigError, Setting};
use crate::json;
use crate::url::{check_fetch_url, check_issuer_url};

/// RFC 8935's delivery method URI (push).
pub const PUSH_DELIVERY: &str = "urn:ietf:rfc:8935";
/// RFC 8936's delivery method URI (poll).
pub const POLL_DELIVERY: &str = "urn:ietf:rfc:8936";

/// A transmitter's configuration metadata, read from `/.well-known/ssf-configuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmitterConfiguration {
    issuer: String,
    jwks_uri: Option<String>,
    spec_version: String,
    delivery_methods_supported: Vec<String>,
    configuration_endpoint: Option<String>,
    status_endpoint: Option<String>,
    verification_endpoint: Option<String>,
    critical_subject_members: Vec<String>,
}

/// Why a transmitter's configuration could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer URL is not https (http only on loopback), or has a query or fragment.
    InvalidIssuer(ConfigError),
    /// The configuration could not be fetched.
    Unreachable(CallError),
    /// The document is not strict JSON, or a member has the wrong type or an insecure URL.
    InvalidDocument(&'static str),
    /// The document's `issuer` is not the URL it was requested for (SSF 1.0 §7.2.4): discarded.
    IssuerMismatch,
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoveryError::InvalidIssuer(error) => write!(f, "transmitter issuer: {error}"),
            DiscoveryError::Unreachable(error) => {
                write!(f, "transmitter configuration unavailable: {error}")
            }
            DiscoveryError::InvalidDocument(reason) => {
                write!(f, "transmitter configuration invalid: {reason}")
            }
            DiscoveryError::IssuerMismatch => f.write_str(
                "transmitter configuration names another issuer than the one it was requested for; discarded",
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DiscoveryError::InvalidIssuer(error) => Some(error),
            DiscoveryError::Unreachable(error) => Some(error),
            _ => None,
        }
    }
}

impl TransmitterConfiguration {
    /// The configuration URL of a transmitter (SSF 1.0 §7.2): `/.well-known/ssf-configuration`
    /// inserted between the host and the path, the path's terminating `/` removed.
    ///
    /// ```
    /// use warden::ssf::TransmitterConfiguration;
    ///
    /// assert_eq!(
    ///     TransmitterConfiguration::url("https://tr.example.com/issuer1").unwrap(),
    ///     "https://tr.example.com/.well-known/ssf-configuration/issuer1"
    /// );
    /// assert_eq!(
    ///     TransmitterConfiguration::url("https://tr.example.com/").unwrap(),
    ///     "https://tr.example.com/.well-known/ssf-configuration"
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidIssuer`] for an issuer that is not https (http only on
    /// loopback) or has a query or fragment.
    pub fn url(issuer: &str) -> Result<String, DiscoveryError> {
        check_issuer_url(issuer, Setting::SharedSignals).map_err(DiscoveryError::InvalidIssuer)?;
        // Checked above: scheme "://" authority [path].
        let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let path = path.trim_end_matches('/');
        Ok(format!(
            "{scheme}://{authority}/.well-known/ssf-configuration{path}"
        ))
    }

    /// Fetches and checks the configuration of the transmitter `issuer`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] saying what failed.
    pub async fn discover(
        issuer: &str,
        client: &reqwest::Client,
    ) -> Result<TransmitterConfiguration, DiscoveryError> {
        let url = Self::url(issuer)?;
        let request = client
            .get(&url)
            .header(http::header::ACCEPT, "application/json");
        let (status, body) = call::call(request, Duration::from_secs(10))
            .await
            .map_err(DiscoveryError::Unreachable)?;
        if status != StatusCode::OK {
            return Err(DiscoveryError::Unreachable(CallError::Status(
                status.as_u16(),
            )));
        }
        Self::parse(issuer, &body)
    }

    /// Reads a configuration document requested for `issuer`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidDocument`] or [`DiscoveryError::IssuerMismatch`].
    pub fn parse(
        issuer: &str,
        document: &[u8],
    ) -> Result<TransmitterConfiguration, DiscoveryError> {
        let mut document = json::parse_object(document)
            .map_err(|_| DiscoveryError::InvalidDocument("not a strict JSON object"))?;
        match document.get("issuer") {
            Some(Value::String(found)) if found == issuer => {}
            Some(Value::String(_)) => return Err(DiscoveryError::IssuerMismatch),
            _ => return Err(DiscoveryError::InvalidDocument("issuer is missing")),
        }
        let jwks_uri = url_member(&mut document, "jwks_uri")?;
        let spec_version = match document.remove("spec_version") {
            None => "1_0-ID1".to_owned(),
            Some(Value::String(version)) => version,
            Some(_) => {
                return Err(DiscoveryError::InvalidDocument(
                    "spec_version is not a string",
                ));
            }
        };
        Ok(TransmitterConfiguration {
            issuer: issuer.to_owned(),
            jwks_uri,
            spec_version,
            delivery_methods_supported: strings(&mut document, "delivery_methods_supported")?,
            configuration_endpoint: url_member(&mut document, "configuration_endpoint")?,
            status_endpoint: url_member(&mut document, "status_endpoint")?,
            verification_endpoint: url_member(&mut document, "verification_endpoint")?,
            critical_subject_members: strings(&mut document, "critical_subject_members")?,
        })
    }

    /// `issuer`: the transmitter, as SETs name it in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `jwks_uri`: where the transmitter's signing keys are.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// `spec_version` (`1_0-ID1` when absent).
    pub fn spec_version(&self) -> &str {
        &self.spec_version
    }

    /// `delivery_methods_supported`.
    pub fn delivery_methods_supported(&self) -> &[String] {
        &self.delivery_methods_supported
    }

    /// `configuration_endpoint`: where streams are created and read.
    pub fn configuration_endpoint(&self) -> Option<&str> {
        self.configuration_endpoint.as_deref()
    }

    /// `status_endpoint`.
    pub fn status_endpoint(&self) -> Option<&str> {
        self.status_endpoint.as_deref()
    }

    /// `verification_endpoint`.
    pub fn verification_endpoint(&self) -> Option<&str> {
        self.verification_endpoint.as_deref()
    }

    /// `critical_subject_members`: complex-subject members a receiver must understand, or
    /// discard the event.
    pub fn critical_subject_members(&self) -> &[String] {
        &self.critical_subject_members
    }
}

/// An optional URL member: https (http only on loopback).
fn url_member(
    document: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, DiscoveryError> {
    match document.remove(name) {
        None => Ok(None),
        Some(Value::String(url)) => {
            check_fetch_url(&url, Setting::SharedSignals).map_err(|_| {
                DiscoveryError::InvalidDocument(
                    "an endpoint is not an https URL (http only on loopback)",
                )
            })?;
            Ok(Some(url))
        }
        Some(_) => Err(DiscoveryError::InvalidDocument(
            "an endpoint is not a string",
        )),
    }
}

fn strings(
    document: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Vec<String>, DiscoveryError> {
    match document.remove(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(DiscoveryError::InvalidDocument("a list holds a non-string")),
            })
            .collect(),
        Some(_) => Err(DiscoveryError::InvalidDocument(
            "a list member is not an array",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_well_known_url_as_ssf_7_2_says() {
        assert_eq!(
            TransmitterConfiguration::url("https://tr.example.com").unwrap(),
            "https://tr.example.com/.well-known/ssf-configuration"
        );
        assert_eq!(
            TransmitterConfiguration::url("http://127.0.0.1:8080/t/a/").unwrap(),
            "http://127.0.0.1:8080/.well-known/ssf-configuration/t/a"
        );
        assert!(TransmitterConfiguration::url("http://tr.example.com").is_err());
        assert!(TransmitterConfiguration::url("https://tr.example.com?x=1").is_err());
    }

    #[test]
    fn discards_a_configuration_of_another_issuer() {
        let document =
            br#"{"issuer":"https://tr.example.com/","jwks_uri":"https://tr.example.com/jwks"}"#;
        assert!(matches!(
            TransmitterConfiguration::parse("https://tr.example.com", document),
            Err(DiscoveryError::IssuerMismatch)
        ));
        let document =
            br#"{"issuer":"https://tr.example.com","jwks_uri":"http://tr.example.com/jwks"}"#;
        assert!(matches!(
            TransmitterConfiguration::parse("https://tr.example.com", document),
            Err(DiscoveryError::InvalidDocument(_))
        ));
        let document = br#"{"issuer":"https://tr.example.com","issuer":"https://tr.example.com"}"#;
        assert!(TransmitterConfiguration::parse("https://tr.example.com", document).is_err());
        let document = br#"{"issuer":"https://tr.example.com","jwks_uri":"https://tr.example.com/jwks","delivery_methods_supported":["urn:ietf:rfc:8935"]}"#;
        let configuration =
            TransmitterConfiguration::parse("https://tr.example.com", document).unwrap();
        assert_eq!(configuration.spec_version(), "1_0-ID1");
        assert_eq!(configuration.delivery_methods_supported(), [PUSH_DELIVERY]);
    }
}
