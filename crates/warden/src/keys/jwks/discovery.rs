//! OpenID Connect discovery (and RFC 8414): where the JWKS is, what a fetch may fail with.

use std::fmt;
use std::time::Duration;

use crate::error::Setting;
use crate::json;
use crate::keys::KeySet;
use crate::url::check_fetch_url;

use super::MAX_BODY_BYTES;

pub(super) struct Fetched {
    pub(super) set: KeySet,
    pub(super) max_age: Option<Duration>,
    pub(super) jwks_uri: String,
}

/// Why a fetch was refused; logged, never sent to a caller.
#[derive(Debug)]
pub(super) enum FetchError {
    Connect,
    Timeout,
    Status(u16),
    ContentType,
    TooLarge,
    NotJson,
    TooManyKeys { max: usize },
    EmptyKeySet,
    MissingJwksUri,
    InsecureJwksUri,
    WrongIssuer { expected: String, found: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect => f.write_str("connection failed"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::Status(code) => write!(f, "answered HTTP {code}"),
            FetchError::ContentType => f.write_str("answered a content type other than JSON"),
            FetchError::TooLarge => write!(f, "answered more than {MAX_BODY_BYTES} bytes"),
            FetchError::NotJson => {
                f.write_str("answered a document that is not a strict JSON key set")
            }
            FetchError::TooManyKeys { max } => write!(f, "answered more than {max} keys"),
            FetchError::EmptyKeySet => f.write_str("answered no usable key"),
            FetchError::MissingJwksUri => f.write_str("discovery document has no jwks_uri"),
            FetchError::InsecureJwksUri => {
                f.write_str("jwks_uri is not https (http is only allowed for loopback hosts)")
            }
            FetchError::WrongIssuer { expected, found } => write!(
                f,
                "discovery document names issuer {found:?}, expected {expected:?}; document discarded"
            ),
        }
    }
}

/// What warden reads from a discovery document.
pub(super) struct Discovered {
    pub(super) jwks_uri: String,
    /// Kept only when it is https (http on loopback); it is sent to clients in challenges.
    pub(super) authorization_endpoint: Option<String>,
}

/// Reads a discovery document: its `issuer` must equal `expected` exactly (OIDC Discovery §4.3,
/// RFC 8414 §3.3), and its `jwks_uri` must be https (http only on loopback).
pub(super) fn parse_discovery(body: &[u8], expected: &str) -> Result<Discovered, FetchError> {
    let document = json::parse_object(body).map_err(|_| FetchError::NotJson)?;
    let issuer = document
        .get("issuer")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if issuer != expected {
        return Err(FetchError::WrongIssuer {
            expected: expected.to_owned(),
            found: issuer.chars().take(200).collect(),
        });
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or(FetchError::MissingJwksUri)?;
    check_fetch_url(jwks_uri, Setting::JwksUri).map_err(|_| FetchError::InsecureJwksUri)?;
    let authorization_endpoint = document
        .get("authorization_endpoint")
        .and_then(|v| v.as_str())
        .filter(|url| is_sendable_endpoint(url, expected))
        .map(str::to_owned);
    Ok(Discovered {
        jwks_uri: jwks_uri.to_owned(),
        authorization_endpoint,
    })
}

/// Whether an authorization endpoint may be named to clients in a challenge: an absolute https URL
/// (plain http only when the issuer itself is on loopback), without userinfo, made only of the
/// characters a challenge parameter may hold (RFC 6750 §3), so it is sent exactly as published.
pub(super) fn is_sendable_endpoint(url: &str, issuer: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let issuer_on_loopback = issuer
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(crate::url::is_loopback_host))
        .unwrap_or(false);
    let scheme_ok = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => issuer_on_loopback && uri.host().is_some_and(crate::url::is_loopback_host),
        _ => false,
    };
    let no_userinfo = uri.authority().is_some_and(|a| !a.as_str().contains('@'));
    let plain = url
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
    scheme_ok && no_userinfo && plain && !url.contains('#')
}

/// Fuzzing entry point: whether a discovery document is accepted for `expected`.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_discovery(body: &[u8], expected: &str) -> Option<String> {
    parse_discovery(body, expected).ok().map(|d| d.jwks_uri)
}

/// RFC 8414 §3: `https://host/.well-known/oauth-authorization-server{path}`.
pub(super) fn rfc8414_url(issuer: &str) -> Option<String> {
    let uri: http::Uri = issuer.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let path = uri.path().trim_end_matches('/');
    Some(format!(
        "{scheme}://{authority}/.well-known/oauth-authorization-server{path}"
    ))
}

/// OIDC Discovery §4: the issuer, any terminating `/` removed, plus the well-known path.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::jwks::refresher::{backoff, max_age};
    use crate::keys::jwks::{JwksCache, MAX_BACKOFF};
    use http::header;

    #[test]
    fn names_only_a_sendable_authorization_endpoint_of_the_expected_issuer() {
        let issuer = "https://login.example.com";
        let doc = |endpoint: &str| {
            format!(
                r#"{{"issuer":"{issuer}","jwks_uri":"https://login.example.com/keys","authorization_endpoint":{endpoint}}}"#
            )
        };
        let endpoint = |endpoint: &str| {
            parse_discovery(doc(endpoint).as_bytes(), issuer)
                .unwrap()
                .authorization_endpoint
        };
        assert_eq!(
            endpoint(r#""https://login.example.com/authorize""#).as_deref(),
            Some("https://login.example.com/authorize")
        );
        for refused in [
            r#""http://login.example.com/authorize""#,
            r#""http://127.0.0.1/authorize""#,
            r#""https://user@login.example.com/authorize""#,
            r#""https://login.example.com/a\"b""#,
            r#""https://login.example.com/a b""#,
            r#""https://login.example.com/authorize#x""#,
            r#""/authorize""#,
            r#""javascript:alert(1)""#,
            "7",
            "null",
        ] {
            assert_eq!(endpoint(refused), None, "{refused}");
        }
        // On loopback (a development issuer), plain http on loopback is fine.
        let local = r#"{"issuer":"http://127.0.0.1:9","jwks_uri":"http://127.0.0.1:9/keys","authorization_endpoint":"http://127.0.0.1:9/authorize"}"#;
        assert_eq!(
            parse_discovery(local.as_bytes(), "http://127.0.0.1:9")
                .unwrap()
                .authorization_endpoint
                .as_deref(),
            Some("http://127.0.0.1:9/authorize")
        );
        // Another issuer's document is refused whole, endpoint and all.
        assert!(
            parse_discovery(
                doc(r#""https://x.example/a""#).as_bytes(),
                "https://other.example"
            )
            .is_err()
        );
    }

    #[test]
    fn builds_discovery_urls() {
        assert_eq!(
            discovery_url("https://as.example.com/t1/"),
            "https://as.example.com/t1/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc8414_url("https://as.example.com/t1").unwrap(),
            "https://as.example.com/.well-known/oauth-authorization-server/t1"
        );
    }

    #[test]
    fn reads_max_age() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=300".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(300)));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
        headers.insert(header::CACHE_CONTROL, "public".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn backs_off_exponentially_with_a_cap() {
        assert!(backoff(1) >= Duration::from_secs(2) && backoff(1) <= Duration::from_millis(2500));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(40) <= MAX_BACKOFF.mul_f64(1.25));
    }

    #[test]
    fn refuses_plain_http_discovery_for_remote_hosts() {
        let err = JwksCache::builder("http://login.example.com")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "issuer");
        assert!(JwksCache::builder("http://127.0.0.1:1").build().is_ok());
    }
}
