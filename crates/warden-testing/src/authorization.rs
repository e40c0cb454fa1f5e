//! The authorization server's records and rules, apart from HTTP: what a person chose at the
//! login page ([`Login`]), what a code or a refresh token stands for ([`Grant`]), the codes and
//! refresh-token families issued ([`Authorizations`]), PKCE (RFC 7636, RFC 9700 §4.8) and
//! redirect URI matching (RFC 9700 §4.1.3, RFC 8252 §7.3).

use std::collections::{HashMap, HashSet};

use aws_lc_rs::digest;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

/// How long an authorization code can be redeemed: RFC 6749 §4.1.2 recommends at most ten
/// minutes.
pub(crate) const CODE_LIFETIME_SECS: i64 = 600;

/// The OpenID Connect scopes, which ask for the ID token and user info, not for an API.
pub(crate) const OIDC_SCOPES: [&str; 5] =
    ["openid", "profile", "email", "offline_access", "address"];

/// What the person at the login page chose, or a test said non-interactively (`X-Fake-Login` or
/// `fake_login`, this as JSON): who signs in, and what their access token carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// The user's name: `sub`, `preferred_username`, and (Entra) the seed of `oid`.
    pub(crate) user: String,
    /// The API scopes granted; none given means those requested.
    #[serde(default)]
    pub(crate) scopes: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
    /// Authentication contexts satisfied (`acrs`).
    #[serde(default)]
    pub(crate) acrs: Vec<String>,
    /// A CAE-capable client (`xms_cc: ["cp1"]`).
    #[serde(default)]
    pub(crate) cae: bool,
    /// Claims added to the access token as given (they win over the defaults).
    #[serde(default)]
    pub(crate) claims: Map<String, Value>,
}

/// What a code, then its refresh tokens, stand for.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) login: Login,
    /// Every scope requested, the OpenID Connect ones included.
    pub(crate) requested: Vec<String>,
    /// RFC 8707 `resource`: the access token's audience.
    pub(crate) resource: Option<String>,
    pub(crate) nonce: Option<String>,
    /// The Entra tenant in the authorization request's path.
    pub(crate) tenant: Option<String>,
    /// When the user signed in (`auth_time`).
    pub(crate) auth_time: i64,
}

impl Grant {
    /// Whether an ID token is asked for.
    pub(crate) fn openid(&self) -> bool {
        self.requested.iter().any(|s| s == "openid")
    }

    /// The API scopes of the access token.
    pub(crate) fn api_scopes(&self) -> Vec<String> {
        match &self.login.scopes {
            Some(scopes) => scopes.clone(),
            None => self
                .requested
                .iter()
                .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect(),
        }
    }
}

/// A code not yet redeemed.
#[derive(Debug, Clone)]
pub(crate) struct PendingCode {
    pub(crate) grant: Grant,
    pub(crate) redirect_uri: String,
    /// The PKCE challenge and its method (`S256`, or `plain` where allowed).
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) expires_at: i64,
}

/// The codes and refresh tokens issued. Refresh tokens rotate: each is good once, and using one
/// again revokes its whole family (RFC 9700 §4.14.2).
#[derive(Debug, Default)]
pub(crate) struct Authorizations {
    pub(crate) codes: HashMap<String, PendingCode>,
    /// Refresh token → its family, and whether it was used.
    pub(crate) refresh_tokens: HashMap<String, (u64, bool)>,
    /// Family → its grant, and whether it was revoked.
    pub(crate) families: HashMap<u64, (Grant, bool)>,
    next_family: u64,
    /// The `jti`/`uti` of access tokens revoked at the revocation endpoint.
    pub(crate) revoked_access_tokens: HashSet<String>,
    /// Codes already redeemed, and the family each started: a code presented again revokes it
    /// (RFC 6749 §4.1.2).
    pub(crate) redeemed: HashMap<String, u64>,
    /// The ids of the access tokens each family issued, revoked with it.
    pub(crate) family_access_tokens: HashMap<u64, Vec<String>>,
}

impl Authorizations {
    /// A new family for `grant`, and its first refresh token.
    pub(crate) fn new_family(&mut self, grant: Grant) -> (u64, String) {
        self.next_family += 1;
        let family = self.next_family;
        self.families.insert(family, (grant, false));
        (family, self.refresh_token_of(family))
    }

    /// A new refresh token in `family`.
    pub(crate) fn refresh_token_of(&mut self, family: u64) -> String {
        let token = crate::keys::random_id();
        self.refresh_tokens.insert(token.clone(), (family, false));
        token
    }

    /// Revokes a family: its every refresh token fails from now on, and the access tokens it
    /// issued with them.
    pub(crate) fn revoke_family(&mut self, family: u64) {
        if let Some((_, revoked)) = self.families.get_mut(&family) {
            *revoked = true;
        }
        if let Some(ids) = self.family_access_tokens.remove(&family) {
            self.revoked_access_tokens.extend(ids);
        }
    }
}

/// Why a PKCE check failed, as `invalid_grant`'s description.
pub(crate) fn check_pkce(
    challenge: Option<&(String, String)>,
    verifier: Option<&str>,
) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => Err("a code_verifier was sent for a code issued without a challenge"),
        // The weakness of the peer this fake replaces: a challenge, then no verifier.
        (Some(_), None) => Err("the code was issued with a challenge: code_verifier is required"),
        (Some((challenge, method)), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !well_formed {
                return Err("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]");
            }
            let computed = match method.as_str() {
                "S256" => base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(digest::digest(&digest::SHA256, verifier.as_bytes())),
                _ => verifier.to_owned(),
            };
            if computed == *challenge {
                Ok(())
            } else {
                Err("code_verifier does not match the code_challenge")
            }
        }
    }
}

/// Whether `requested` may be used as a redirect URI for a client that registered
/// `registered`: exact string comparison, except the port of a loopback IP literal over `http`
/// (RFC 8252 §7.3). A client that registered none (any client id, with no setup) may use any
/// loopback redirect URI over `http` (`127.0.0.1`, `[::1]`, `localhost`). A URI with a fragment,
/// user information, a backslash or white space is never one.
pub(crate) fn redirect_allowed(registered: &[String], requested: &str) -> bool {
    if requested.contains(['#', '@', '\\']) || requested.chars().any(char::is_whitespace) {
        return false;
    }
    if registered.is_empty() {
        return loopback(requested, &["127.0.0.1", "[::1]", "localhost"]).is_some();
    }
    registered.iter().any(|uri| {
        uri == requested
            || matches!(
                (
                    loopback(uri, &["127.0.0.1", "[::1]"]),
                    loopback(requested, &["127.0.0.1", "[::1]"])
                ),
                (Some(a), Some(b)) if a == b
            )
    })
}

/// An `http` URI to one of `hosts`, without its port: the host must end at a port (`:` and
/// digits), a path, a query or the end, so `http://localhost.evil.example` is none of them.
fn loopback(uri: &str, hosts: &[&str]) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let host = hosts.iter().find(|host| rest.starts_with(**host))?;
    let after = &rest[host.len()..];
    let after = match after.strip_prefix(':') {
        Some(port_and_path) => {
            let end = port_and_path
                .find(['/', '?'])
                .unwrap_or(port_and_path.len());
            if end == 0 || !port_and_path[..end].bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            &port_and_path[end..]
        }
        None if after.is_empty() || after.starts_with(['/', '?']) => after,
        None => return None,
    };
    Some(format!("http://{host}{after}"))
}

/// A stable Entra object id for a user name: a GUID made of its SHA-256.
pub(crate) fn object_id_of(user: &str) -> String {
    let hash = digest::digest(&digest::SHA256, user.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_ref()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_follows_rfc_7636_and_refuses_downgrades() {
        let challenge = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            "S256".to_owned(),
        );
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(check_pkce(Some(&challenge), Some(verifier)), Ok(()));
        assert!(check_pkce(Some(&challenge), Some(&verifier[..42])).is_err());
        assert!(check_pkce(Some(&challenge), None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err());
        assert_eq!(check_pkce(None, None), Ok(()));
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_a_loopback_port() {
        let registered = ["http://127.0.0.1/cb".to_owned()];
        assert!(redirect_allowed(&registered, "http://127.0.0.1:54321/cb"));
        assert!(!redirect_allowed(&registered, "http://127.0.0.1:54321/cb/"));
        assert!(!redirect_allowed(&registered, "http://localhost:54321/cb"));
        assert!(!redirect_allowed(&registered, "https://127.0.0.1:54321/cb"));
        let registered = ["https://app.example/cb".to_owned()];
        assert!(redirect_allowed(&registered, "https://app.example/cb"));
        assert!(!redirect_allowed(&registered, "https://APP.example/cb"));
        assert!(!redirect_allowed(&registered, "https://app.example/cb?x=1"));
        // No registration: any loopback redirect over http, nothing else.
        assert!(redirect_allowed(&[], "http://127.0.0.1:8765/callback"));
        assert!(redirect_allowed(&[], "http://[::1]:8765/callback"));
        assert!(redirect_allowed(&[], "http://localhost:8765/callback"));
        assert!(!redirect_allowed(
            &[],
            "http://localhost.evil.example/callback"
        ));
        assert!(!redirect_allowed(
            &[],
            "http://127.0.0.1.evil.example/callback"
        ));
        assert!(!redirect_allowed(&[], "https://app.example/cb"));
        assert!(!redirect_allowed(&[], "http://127.0.0.1:8765/cb#fragment"));
        // User information makes the browser go to the host after it.
        assert!(!redirect_allowed(&[], "http://localhost:x@evil.example/cb"));
        assert!(!redirect_allowed(
            &[],
            "http://localhost:8080@evil.example/"
        ));
        assert!(!redirect_allowed(&[], "http://127.0.0.1:80@evil.example/"));
        assert!(!redirect_allowed(
            &[],
            "http://localhost:8080\\@evil.example/"
        ));
        assert!(!redirect_allowed(
            &registered,
            "https://app.example@evil.example/cb"
        ));
    }

    #[test]
    fn object_ids_are_stable_guids() {
        let oid = object_id_of("alice");
        assert_eq!(oid, object_id_of("alice"));
        assert_ne!(oid, object_id_of("bob"));
        assert_eq!(oid.len(), 36);
        assert_eq!(&oid[14..15], "5");
    }
}
