//! Extraction of the bearer token from a request (RFC 6750 §2.1, §3.1).
//!
//! Only the `Authorization` header method is accepted: `"Bearer" 1*SP b64token`, or
//! `"DPoP" 1*SP token68` for DPoP-bound tokens (RFC 9449 §7.1; [`Scheme`] says which), the scheme
//! case-insensitive (RFC 9110 §11.1), the token checked against the `b64token` grammar. No crypto
//! and no I/O happen here.
//!
//! | request | result |
//! |---|---|
//! | no `Authorization`, or another scheme (`Basic …`) | `Ok(None)`: no credentials (401, no error code) |
//! | `Bearer` alone, `Bearer a b`, a tab, quotes, `=` inside the token | [`InvalidRequest::MalformedAuthorization`] (400) |
//! | two `Authorization` headers | [`InvalidRequest::MultipleAuthorizationHeaders`] (400) |
//! | a header token and `access_token` in the query (the name form-decoded: `access%5Ftoken` too) | [`InvalidRequest::MultipleMethods`] (400) |
//! | `access_token` in the query only | `Ok(None)`: not accepted, never parsed or logged |
//! | a token longer than the cap | [`InvalidToken::TooLarge`] (401 `invalid_token`), not parsed |
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Uri};
//! use warden::bearer::extract;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", HeaderValue::from_static("bEaReR abc.def.ghi"));
//! let uri: Uri = "/orders".parse().unwrap();
//! let token = extract(&headers, &uri, 16 * 1024).unwrap().unwrap();
//! assert_eq!(token.as_str(), "abc.def.ghi");
//! // Debug never shows the token itself.
//! assert_eq!(format!("{token:?}"), "BearerToken { len: 11, scheme: Bearer }");
//! ```

use std::fmt;

use http::{HeaderMap, Uri, header};

use crate::error::{Error, InvalidRequest, InvalidToken};

/// The default cap on a token's length: 16 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A bearer token as it appeared in the `Authorization` header, not yet validated.
///
/// Its `Debug` shows the length only, so it never lands in a log by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BearerToken<'a> {
    token: &'a str,
    scheme: Scheme,
}

/// The authentication scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer …` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP …`, with a proof in the `DPoP` header (RFC 9449).
    Dpop,
}

impl<'a> BearerToken<'a> {
    /// The token text. Treat it as a secret: never log it.
    pub fn as_str(&self) -> &'a str {
        self.token
    }

    /// The scheme it came with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

impl fmt::Debug for BearerToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("len", &self.token.len())
            .field("scheme", &self.scheme)
            .finish()
    }
}

/// Finds the bearer token of a request.
///
/// Returns `Ok(None)` when the request carries no bearer credentials at all.
///
/// # Errors
///
/// [`Error::InvalidRequest`] for a malformed header, several `Authorization` headers, or a token
/// sent both in the header and in the query string; [`InvalidToken::TooLarge`] for a token longer
/// than `max_len` bytes.
pub fn extract<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
    max_len: usize,
) -> Result<Option<BearerToken<'a>>, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidRequest::MultipleAuthorizationHeaders.into());
    }
    let Some((scheme, token)) = parse_authorization(value.as_bytes())? else {
        return Ok(None);
    };
    if query_has_access_token(uri) {
        return Err(InvalidRequest::MultipleMethods.into());
    }
    if token.len() > max_len {
        return Err(InvalidToken::TooLarge {
            len: token.len(),
            max: max_len,
        }
        .into());
    }
    if !is_b64token(token) {
        return Err(InvalidRequest::MalformedAuthorization.into());
    }
    // `is_b64token` admits ASCII only, so this conversion cannot fail.
    match std::str::from_utf8(token) {
        Ok(token) => Ok(Some(BearerToken { token, scheme })),
        Err(_) => Err(InvalidRequest::MalformedAuthorization.into()),
    }
}

/// The scheme of the request's one `Authorization` header, even when its credentials are
/// malformed; `None` with no header, several, or another scheme (the refusal cannot tell).
pub(crate) fn scheme_of(headers: &HeaderMap) -> Option<Scheme> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let bytes = value.as_bytes();
    let scheme = &bytes[..bytes.iter().take_while(|b| is_tchar(**b)).count()];
    if scheme.eq_ignore_ascii_case(b"bearer") {
        Some(Scheme::Bearer)
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Some(Scheme::Dpop)
    } else {
        None
    }
}

/// Splits `Authorization` into scheme and credentials. `Ok(None)` for a scheme other than
/// Bearer and DPoP.
fn parse_authorization(value: &[u8]) -> Result<Option<(Scheme, &[u8])>, Error> {
    let scheme_len = value.iter().take_while(|b| is_tchar(**b)).count();
    let (scheme, rest) = value.split_at(scheme_len);
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    // `credentials = "Bearer" 1*SP b64token`
    let token_start = rest.iter().take_while(|b| **b == b' ').count();
    if token_start == 0 || token_start == rest.len() {
        return Err(InvalidRequest::MalformedAuthorization.into());
    }
    Ok(Some((scheme, &rest[token_start..])))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|b| **b == b'=').count();
    let chars = &token[..token.len() - padding];
    // Without an early exit, so the compiler checks many bytes per instruction.
    let valid =
        |b: u8| b.is_ascii_alphanumeric() | matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
    !chars.is_empty() && chars.iter().fold(true, |all, b| all & valid(*b))
}

/// RFC 9110 §5.6.2 `tchar`, the characters of an auth-scheme.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether the query names `access_token`, as a form decoder would read the name
/// (`application/x-www-form-urlencoded`: `%XX` escapes decoded, `+` a space): an application or
/// proxy that decodes `access%5Ftoken` sees the same parameter, so it counts as a second method.
fn query_has_access_token(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            decodes_to(name.as_bytes(), b"access_token")
        })
    })
}

/// Whether form-decoding `encoded` gives exactly `expected`, without allocating. A `%` not
/// followed by two hex digits stands for itself, as decoders leniently read it.
fn decodes_to(encoded: &[u8], expected: &[u8]) -> bool {
    let mut at = 0;
    let mut decoded = 0;
    while at < encoded.len() {
        let (byte, width) = match encoded[at] {
            b'%' => match (
                encoded.get(at + 1).and_then(|b| hex(*b)),
                encoded.get(at + 2).and_then(|b| hex(*b)),
            ) {
                (Some(high), Some(low)) => ((high << 4) | low, 3),
                _ => (b'%', 1),
            },
            b'+' => (b' ', 1),
            other => (other, 1),
        };
        if expected.get(decoded) != Some(&byte) {
            return false;
        }
        decoded += 1;
        at += width;
    }
    decoded == expected.len()
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn run(values: &[&[u8]], uri: &str) -> Result<Option<String>, Error> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        extract(&headers, &uri, 64).map(|t| t.map(|t| t.as_str().to_owned()))
    }

    const MALFORMED: Error = Error::InvalidRequest(InvalidRequest::MalformedAuthorization);

    #[test]
    fn accepts_any_case_of_the_scheme_and_several_spaces() {
        assert_eq!(run(&[b"bEaReR abc"], "/").unwrap().as_deref(), Some("abc"));
        assert_eq!(run(&[b"Bearer  abc"], "/").unwrap().as_deref(), Some("abc"));
        assert_eq!(
            run(&[b"Bearer a-._~+/b=="], "/").unwrap().as_deref(),
            Some("a-._~+/b==")
        );
    }

    #[test]
    fn other_schemes_and_no_header_are_no_credentials() {
        assert_eq!(run(&[], "/").unwrap(), None);
        assert_eq!(run(&[b"Basic dXNlcjpwYXNz"], "/").unwrap(), None);
        assert_eq!(run(&[b"Bearerabc"], "/").unwrap(), None);
        assert_eq!(run(&[], "/?access_token=abc").unwrap(), None);
    }

    #[test]
    fn rejects_malformed_credentials() {
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer\tabc",
            b"Bearer abc def",
            b"Bearer \"abc\"",
            b"Bearer a,b",
            b"Bearer ab=cd",
            b"Bearer =",
            b"Bearer abc\t",
        ] {
            assert_eq!(
                run(&[bad], "/"),
                Err(MALFORMED),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rejects_two_headers_and_two_methods() {
        assert_eq!(
            run(&[b"Bearer a", b"Bearer b"], "/"),
            Err(InvalidRequest::MultipleAuthorizationHeaders.into())
        );
        assert_eq!(
            run(&[b"Bearer a"], "/?x=1&access_token=b"),
            Err(InvalidRequest::MultipleMethods.into())
        );
    }

    #[test]
    fn a_query_token_counts_however_its_name_is_encoded() {
        let two_methods = Err(InvalidRequest::MultipleMethods.into());
        for query in [
            "access_token=b",
            "access_token",
            "access%5Ftoken=b",
            "access%5ftoken=b",
            "%61ccess_token=b",
            "%61%63%63%65%73%73%5F%74%6F%6B%65%6E=b",
            "x=1&access%5Ftoken=b&y=2",
        ] {
            assert_eq!(
                run(&[b"Bearer a"], &format!("/?{query}")),
                two_methods,
                "{query}"
            );
        }
        for query in [
            "access_tokens=b",
            "xaccess_token=b",
            "access+token=b",
            "access%20token=b",
            "access%5_token=b",
            "access%5Gtoken=b",
            "access%",
            "x=access_token",
            "access_toke%6",
        ] {
            assert_eq!(
                run(&[b"Bearer a"], &format!("/?{query}")),
                Ok(Some("a".to_owned())),
                "{query}"
            );
        }
    }

    #[test]
    fn rejects_oversized_token_before_grammar() {
        let long = format!("Bearer {}", "\"".repeat(65));
        assert_eq!(
            run(&[long.as_bytes()], "/"),
            Err(Error::InvalidToken(InvalidToken::TooLarge {
                len: 65,
                max: 64
            }))
        );
    }
}
