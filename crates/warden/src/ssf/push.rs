//! Push delivery (RFC 8935): the endpoint a transmitter POSTs SETs to.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use super::receiver::Receiver;
use super::set::SetError;
use crate::bearer::{self, Scheme};
use crate::challenge::Challenge;
use crate::error::{ConfigError, Setting};
use crate::validator::Validator;

/// The largest SET the endpoint reads.
pub const MAX_SET_BYTES: usize = 64 * 1024;
/// The longest `Authorization` header value read.
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// How the transmitter proves itself on every push (SSF 1.0 §6.1.1 `authorization_header`).
/// Checked before the body is read, so an unauthenticated caller costs no parsing and no key
/// fetch.
#[derive(Clone)]
pub struct PushAuthorization {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// The BLAKE3 hash of the shared value: compared in constant time, never held in clear.
    Shared(blake3::Hash),
    /// An access token of the transmitter, validated by warden, of one of these clients.
    OAuth(Validator, Arc<[String]>),
}

impl fmt::Debug for PushAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Shared(_) => "PushAuthorization::Bearer(<redacted>)",
            Kind::OAuth(..) => "PushAuthorization::OAuth",
        })
    }
}

impl PushAuthorization {
    /// A shared secret the transmitter sends as `Authorization: Bearer <secret>` (the stream's
    /// `authorization_header` is `Bearer <secret>`). Compared in constant time; only its BLAKE3
    /// hash is kept.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a secret shorter than 16 characters, or with a character a bearer
    /// credential cannot carry (RFC 6750 §2.1 `b64token`: letters, digits, `-._~+/`, trailing
    /// `=`): the transmitter could never present it.
    pub fn bearer(secret: impl AsRef<str>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        let body = secret.trim_end_matches('=');
        let b64token = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if secret.len() < 16 || !b64token {
            return Err(ConfigError::invalid(
                Setting::SharedSignals,
                "the push secret must be at least 16 characters of letters, digits and -._~+/",
            ));
        }
        Ok(PushAuthorization {
            kind: Kind::Shared(blake3::hash(secret.as_bytes())),
        })
    }

    /// An OAuth access token validated by `validator`, of an application (client credentials,
    /// not a user), whose client (`client_id`, `azp` or `appid`) is one of `clients`: the
    /// transmitter's own client ids. A valid token of any other client, or a user's token, is
    /// refused with `403 access_denied`; a validator that cannot judge now (keys unreachable, a
    /// fleet store cut off) answers `503` with `Retry-After`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `clients` is empty: any client of the issuer could then push.
    pub fn oauth<I, C>(validator: Validator, clients: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        let clients: Arc<[String]> = clients.into_iter().map(Into::into).collect();
        if clients.is_empty() {
            return Err(ConfigError::invalid(
                Setting::SharedSignals,
                "an OAuth push authorization needs the transmitter's client ids",
            ));
        }
        Ok(PushAuthorization {
            kind: Kind::OAuth(validator, clients),
        })
    }

    async fn check(&self, request: &http::request::Parts) -> Result<(), Refusal> {
        let token = match bearer::extract(&request.headers, &request.uri, MAX_CREDENTIAL_BYTES) {
            Ok(Some(token)) if token.scheme() == Scheme::Bearer => token,
            Ok(_) => return Err(Refusal::NoCredentials),
            Err(_) => return Err(Refusal::BadCredentials),
        };
        match &self.kind {
            Kind::Shared(expected) => {
                if blake3::hash(token.as_str().as_bytes()) == *expected {
                    Ok(())
                } else {
                    Err(Refusal::BadCredentials)
                }
            }
            Kind::OAuth(validator, clients) => match validator.validate(token.as_str()).await {
                // A transmitter authenticates as itself (client credentials): a user's token,
                // even one issued to the transmitter's client, does not push.
                Ok(principal) if principal.caller() != crate::principal::identity::Caller::App => {
                    Err(Refusal::NotAllowed)
                }
                Ok(principal) if principal.clients_all_in(clients) => Ok(()),
                Ok(_) => Err(Refusal::NotAllowed),
                Err(crate::Error::Forbidden(_)) => Err(Refusal::NotAllowed),
                Err(error) => {
                    // The receiver's own trouble (keys unreachable, a fleet store cut off): not
                    // the transmitter's credentials. It is asked to deliver again.
                    let answer = Challenge::from(&error);
                    if answer.status() == StatusCode::SERVICE_UNAVAILABLE {
                        Err(Refusal::Unavailable {
                            retry_after: answer.retry_after_secs().unwrap_or(5),
                        })
                    } else {
                        Err(Refusal::BadCredentials)
                    }
                }
            },
        }
    }
}

enum Refusal {
    NoCredentials,
    BadCredentials,
    NotAllowed,
    Unavailable { retry_after: u64 },
}

/// The push endpoint: a tower service to mount at the URL given to the transmitter, outside
/// the API's warden layer (the transmitter authenticates with its own credentials).
///
/// | request | answer |
/// |---|---|
/// | valid SET, acted on (or a redelivery) | `202`, empty body |
/// | no or wrong credentials | `401`, `WWW-Authenticate: Bearer …`, `{"err":"authentication_failed",…}` |
/// | OAuth token of a client not allowed | `403`, `{"err":"access_denied",…}` |
/// | not `POST` | `405`, `Allow: POST` |
/// | body over 64 KiB | `413`, `{"err":"invalid_request",…}` |
/// | wrong `Content-Type`, invalid SET | `400`, `{"err":"<code>","description":"…"}` |
/// | transmitter keys or revocation store unavailable | `503`, `Retry-After` (deliver again) |
///
/// Error bodies are `application/json` with `Content-Language: en` (RFC 8935 §2.3).
#[derive(Clone, Debug)]
pub struct PushEndpoint {
    receiver: Receiver,
    authorization: PushAuthorization,
}

impl PushEndpoint {
    /// The endpoint of `receiver`, answering only transmitters that present `authorization`.
    pub fn new(receiver: Receiver, authorization: PushAuthorization) -> Self {
        PushEndpoint {
            receiver,
            authorization,
        }
    }

    async fn handle(self, request: Request<Body>) -> Response<Body> {
        let (request, body) = request.into_parts();
        if request.method != Method::POST {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        match self.authorization.check(&request).await {
            Ok(()) => {}
            Err(Refusal::Unavailable { retry_after }) => {
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return response;
            }
            Err(Refusal::NotAllowed) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    "this client may not push security events",
                );
            }
            Err(refusal) => {
                let challenge = match refusal {
                    Refusal::NoCredentials => "Bearer",
                    _ => "Bearer error=\"invalid_token\"",
                };
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "authentication_failed",
                    "the transmitter did not authenticate",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                return response;
            }
        }
        if !is_secevent_jwt(request.headers.get(header::CONTENT_TYPE)) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the Content-Type is not application/secevent+jwt",
            );
        }
        let body = match read_body(body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "the SET is larger than this receiver reads",
                );
            }
            Err(BodyError::Broken) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body was broken off",
                );
            }
        };
        let Ok(set) = std::str::from_utf8(&body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the SET is not ASCII text",
            );
        };
        match self.receiver.receive(set.trim_ascii()).await {
            Ok(_) => plain(StatusCode::ACCEPTED),
            Err(refused) => set_error(&refused),
        }
    }
}

impl Service<Request<Body>> for PushEndpoint {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let endpoint = self.clone();
        Box::pin(async move { Ok(endpoint.handle(request).await) })
    }
}

/// The answer to a refused SET: `400` with its code, or `503` when the receiver should be asked
/// again.
fn set_error(refused: &SetError) -> Response<Body> {
    match refused.code() {
        Some(code) => {
            tracing::warn!(err = code, reason = %refused, "security event refused");
            error(StatusCode::BAD_REQUEST, code, &refused.to_string())
        }
        None => {
            tracing::warn!(reason = %refused, "security event not processed; the transmitter will deliver it again");
            let retry_after = match refused {
                SetError::KeysUnavailable { retry_after } => retry_after.as_secs().max(1),
                _ => 5,
            };
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
    }
}

fn is_secevent_jwt(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/secevent+jwt")
        })
}

enum BodyError {
    TooLarge,
    Broken,
}

/// The body, up to [`MAX_SET_BYTES`].
async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if collected.len() + chunk.len() > MAX_SET_BYTES {
            return Err(BodyError::TooLarge);
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

fn plain(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// RFC 8935 §2.3's error body.
pub(crate) fn error(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({ "err": code, "description": description }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en"));
    response
}
