//! Refusals in gRPC's terms: a request whose `content-type` is `application/grpc…` is answered
//! as gRPC clients read a failure, HTTP 200 with `grpc-status` and `grpc-message` in the headers
//! ("trailers-only"), the challenge kept in `www-authenticate` metadata. tonic clients read it
//! as a `Status` with `Code::Unauthenticated` or `Code::PermissionDenied` (docs/grpc.md).

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};

use crate::error::Error;

/// How a request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Grpc,
}

impl Protocol {
    /// gRPC when the request is one: a POST over HTTP/2 whose `content-type` is
    /// `application/grpc`, or `application/grpc+{codec}` / `application/grpc;…` (gRPC over
    /// HTTP/2's own definition). Anything else, `application/grpc-web` included, is answered as
    /// HTTP: a client cannot turn a refusal into a 200 by naming a content type.
    pub(crate) fn of<B>(request: &Request<B>) -> Protocol {
        if request.method() != http::Method::POST || request.version() != http::Version::HTTP_2 {
            return Protocol::Http;
        }
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let rest = match value.get(..16) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("application/grpc") => &value[16..],
                    _ => return false,
                };
                rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
            });
        if grpc { Protocol::Grpc } else { Protocol::Http }
    }
}

/// The gRPC status code of a refusal, by category (the gRPC status codes' own definitions).
fn code(error: &Error) -> u8 {
    match error {
        // UNAUTHENTICATED: "the request does not have valid authentication credentials".
        Error::MissingToken
        | Error::InvalidToken(_)
        | Error::Binding(_)
        | Error::Revoked { .. }
        | Error::StepUpRequired(_) => 16,
        // PERMISSION_DENIED.
        Error::Forbidden(_) => 7,
        // INVALID_ARGUMENT: the request itself is malformed (two tokens, a bad header).
        Error::InvalidRequest(_) => 3,
        // UNAVAILABLE: retry (with the `retry-after` kept).
        Error::Unavailable(_) => 14,
    }
}

/// `response`, the HTTP refusal of `error`, as a gRPC trailers-only answer: every header kept
/// (the challenge, `retry-after`, `dpop-nonce`, `cache-control: no-store`) but the body's own,
/// the body dropped (a gRPC client reads none).
pub(crate) fn answer(error: &Error, response: Response<Bytes>) -> Response<Bytes> {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut answer = Response::new(Bytes::new());
    *answer.status_mut() = StatusCode::OK;
    *answer.headers_mut() = parts.headers;
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(u16::from(code(error))));
    // A fixed phrase of warden's (never request data): percent-encoded as gRPC asks.
    let message = percent_encode(error.description());
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    answer
}

/// gRPC's `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7E).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidToken;

    fn request(method: http::Method, version: http::Version, content_type: &str) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = method;
        *request.version_mut() = version;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("x")),
        );
        request
    }

    #[test]
    fn only_a_grpc_call_is_answered_as_one() {
        let (post, h2) = (http::Method::POST, http::Version::HTTP_2);
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC;x=1",
        ] {
            let grpc = request(post.clone(), h2, content_type);
            assert_eq!(Protocol::of(&grpc), Protocol::Grpc, "{content_type}");
        }
        for (method, version, content_type) in [
            (http::Method::GET, h2, "application/grpc"),
            (post.clone(), http::Version::HTTP_11, "application/grpc"),
            (post.clone(), h2, "application/grpc-web"),
            (post.clone(), h2, "application/grpcfoo"),
            (post.clone(), h2, "application/json"),
        ] {
            let http = request(method.clone(), version, content_type);
            assert_eq!(
                Protocol::of(&http),
                Protocol::Http,
                "{method} {version:?} {content_type}"
            );
        }
    }

    #[test]
    fn the_answer_keeps_every_header_but_the_bodys() {
        let mut response = Response::new(Bytes::from_static(b"{\"detail\":\"x\"}"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("DPoP error=\"use_dpop_nonce\""),
        );
        headers.insert("dpop-nonce", HeaderValue::from_static("n-1"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("14"));
        let error = Error::InvalidToken(InvalidToken::Expired { exp: 1.0, now: 2 });
        let answer = answer(&error, response);
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.body().is_empty());
        let headers = answer.headers();
        assert_eq!(headers["grpc-status"], "16");
        assert_eq!(headers["grpc-message"], "token expired");
        assert_eq!(headers["dpop-nonce"], "n-1");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::CONTENT_TYPE], "application/grpc");
        assert!(headers.get(header::CONTENT_LENGTH).is_none());
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "DPoP error=\"use_dpop_nonce\""
        );
    }
}
