//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, which the
//! MCP authorization spec asks for): a `client_id` that is an `https` URL names a JSON document
//! describing the client, which the authorization server fetches and checks before signing
//! anyone in. The fake fetches it on every authorization request (nothing is cached, errors
//! least of all), refuses addresses a real server would not fetch (loopback, private, link-local;
//! unless `FakeIssuerBuilder::client_metadata_on_loopback` allows plain `http` on loopback, for
//! tests), follows no redirect, reads at most 5 KB, and accepts public clients only.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

/// The largest document read, as the draft recommends.
const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// What the fake uses of a valid document.
#[derive(Debug)]
pub(crate) struct ClientMetadata {
    pub(crate) redirect_uris: Vec<String>,
}

/// Fetches and checks the document `client_id` names. The error says why, for the error page.
pub(crate) async fn fetch(
    client_id: &str,
    loopback_allowed: bool,
) -> Result<ClientMetadata, &'static str> {
    let url = reqwest::Url::parse(client_id).map_err(|_| "the client_id is not a valid URL")?;
    let loopback_http =
        loopback_allowed && url.scheme() == "http" && url.host_str().is_some_and(is_loopback_host);
    if url.scheme() != "https" && !loopback_http {
        return Err("a client_id URL must be https");
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("a client_id URL must have a path");
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("a client_id URL has no fragment and no user information");
    }
    // `Url` removes dot segments; the text must not have had any.
    if client_id
        .split(['/', '?'])
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("a client_id URL has no . or .. segments");
    }
    let host = url.host_str().unwrap_or_default();
    if !loopback_http && (is_loopback_host(host) || is_private(host)) {
        return Err("the client's metadata document is on an address the server does not fetch");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| "the client's metadata document could not be fetched")?;
    let response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|_| "the client's metadata document could not be fetched")?;
    if response.status() != 200 {
        return Err("the client's metadata document could not be fetched");
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err("the client's metadata document is larger than 5 KB");
    }
    // Read in chunks, never more than the limit and one chunk: a chunked answer has no length.
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "the client's metadata document could not be fetched")?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err("the client's metadata document is larger than 5 KB");
        }
    }
    let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(&body) else {
        return Err("the client's metadata document is not a JSON object");
    };
    if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("the document's client_id is not its URL");
    }
    if document.contains_key("client_secret") || document.contains_key("client_secret_expires_at") {
        return Err("a client metadata document holds no secret");
    }
    match document
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("none")
    {
        "none" => {}
        "client_secret_post" | "client_secret_basic" | "client_secret_jwt" => {
            return Err("a client metadata document cannot use a shared secret");
        }
        _ => return Err("the fake accepts public clients only (token_endpoint_auth_method none)"),
    }
    if document
        .get("client_name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("the document has no client_name");
    }
    let redirect_uris: Vec<String> = document
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|uris| {
            uris.iter()
                .filter_map(|uri| uri.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err("the document has no redirect_uris");
    }
    Ok(ClientMetadata { redirect_uris })
}

/// An IP literal, IPv4-mapped IPv6 addresses read as the IPv4 address they carry.
fn ip_of(host: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || ip_of(host).is_some_and(|ip| ip.is_loopback())
}

/// An IP literal in a private, shared (100.64/10), link-local, unspecified or unique-local
/// range.
fn is_private(host: &str) -> bool {
    match ip_of(host) {
        Some(IpAddr::V4(ip)) => {
            ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        Some(IpAddr::V6(ip)) => {
            ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fetch;

    #[tokio::test]
    async fn urls_a_server_must_not_fetch_are_refused_before_any_request() {
        for (url, loopback) in [
            ("http://client.example/c.json", false),
            ("https://client.example", false),
            ("https://client.example/", false),
            ("https://client.example/a/../c.json", false),
            ("https://client.example/c.json#frag", false),
            ("https://user@client.example/c.json", false),
            ("https://127.0.0.1/c.json", false),
            ("https://localhost/c.json", false),
            ("https://10.0.0.8/c.json", false),
            ("https://169.254.169.254/c.json", false),
            ("https://[fd00::1]/c.json", false),
            ("https://[::ffff:127.0.0.1]/c.json", false),
            ("https://[::ffff:a9fe:a9fe]/c.json", false),
            ("https://100.64.0.1/c.json", false),
            ("http://10.0.0.8/c.json", true),
            ("not a url", false),
        ] {
            assert!(fetch(url, loopback).await.is_err(), "{url}");
        }
    }
}
