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
    /// gRPC when the request says so (`application/grpc`, `application/grpc+proto`, …).
    pub(crate) fn of<B>(request: &Request<B>) -> Protocol {
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .get(..16)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("application/grpc"))
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

/// `response`, the HTTP refusal of `error`, as a gRPC trailers-only answer: its challenge and
/// `retry-after` kept, its body dropped (a gRPC client reads none).
pub(crate) fn answer(error: &Error, response: Response<Bytes>) -> Response<Bytes> {
    let (parts, _) = response.into_parts();
    let mut answer = Response::new(Bytes::new());
    *answer.status_mut() = StatusCode::OK;
    let headers = answer.headers_mut();
    for name in [header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        for value in parts.headers.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
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
