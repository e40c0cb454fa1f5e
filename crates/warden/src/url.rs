//! Checks on the URLs of configuration: issuers, metadata and key endpoints.

use crate::error::{ConfigError, Setting};

/// An issuer URL must be https, or http on a loopback host, with no query or fragment (RFC 8414 §2).
pub(crate) fn check_issuer_url(url: &str, field: Setting) -> Result<(), ConfigError> {
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
pub(crate) fn check_fetch_url(url: &str, field: Setting) -> Result<(), ConfigError> {
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
    fn refuses_plain_http_except_loopback() {
        assert!(check_issuer_url("https://login.example.com/t", Setting::Issuer).is_ok());
        assert!(check_issuer_url("http://127.0.0.1:8080/t", Setting::Issuer).is_ok());
        assert!(check_issuer_url("http://[::1]:8080", Setting::Issuer).is_ok());
        assert!(check_issuer_url("http://localhost:1", Setting::Issuer).is_ok());
        let err = check_issuer_url("http://login.example.com", Setting::Issuer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: issuer: plain http is only allowed for loopback hosts"
        );
        assert!(check_issuer_url("https://a.example/?x=1", Setting::Issuer).is_err());
        assert!(check_issuer_url("ftp://a.example", Setting::Issuer).is_err());
        assert!(check_issuer_url("/relative", Setting::Issuer).is_err());
        assert!(check_fetch_url("https://a.example/keys?appid=x", Setting::JwksUri).is_ok());
        assert!(check_fetch_url("https://a.example/keys#x", Setting::JwksUri).is_err());
    }
}
