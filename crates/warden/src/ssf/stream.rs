//! Stream management (SSF 1.0 §8.1): create and read the stream at the transmitter, read its
//! status, and ask for verification.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::http::{self as call, CallError};
use super::receiver::Receiver;
use super::transmitter::{POLL_DELIVERY, PUSH_DELIVERY};
use crate::json;

/// The event types warden acts on: what [`StreamClient::connect`] requests.
pub const EVENTS_ACTED_ON: [&str; 11] = [
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "session-revoked"
    ),
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "credential-change"
    ),
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "token-claims-change"
    ),
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "assurance-level-change"
    ),
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "device-compliance-change"
    ),
    concat!(
        "https://schemas.openid.net/secevent/caep/event-type/",
        "risk-level-change"
    ),
    concat!(
        "https://schemas.openid.net/secevent/risc/event-type/",
        "account-disabled"
    ),
    concat!(
        "https://schemas.openid.net/secevent/risc/event-type/",
        "account-purged"
    ),
    concat!(
        "https://schemas.openid.net/secevent/risc/event-type/",
        "credential-compromise"
    ),
    concat!(
        "https://schemas.openid.net/secevent/risc/event-type/",
        "sessions-revoked"
    ),
    super::event::VERIFICATION,
];

/// How long a management call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How the transmitter delivers a stream's events.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// RFC 8935 push to the receiver's endpoint, with the `Authorization` value the transmitter
    /// must send (for [`PushAuthorization::bearer`](super::PushAuthorization::bearer):
    /// `Bearer <secret>`).
    Push {
        /// The receiver's push endpoint URL.
        endpoint_url: String,
        /// The `Authorization` header value the transmitter sends with every push.
        authorization_header: String,
    },
    /// RFC 8936 poll: the transmitter names its poll endpoint in the stream it creates.
    Poll,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Push { endpoint_url, .. } => f
                .debug_struct("Push")
                .field("endpoint_url", endpoint_url)
                .field("authorization_header", &"<redacted>")
                .finish(),
            Delivery::Poll => f.write_str("Poll"),
        }
    }
}

/// A stream's configuration as the transmitter holds it (SSF 1.0 §8.1.1).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamConfiguration {
    /// `stream_id`.
    pub stream_id: String,
    /// `events_delivered`: the event types the transmitter will send.
    pub events_delivered: Vec<String>,
    /// `events_supported`.
    pub events_supported: Vec<String>,
    /// `delivery.method`.
    pub delivery_method: String,
    /// `delivery.endpoint_url`: the receiver's (push) or the transmitter's poll endpoint.
    pub endpoint_url: Option<String>,
    /// `min_verification_interval`, seconds.
    pub min_verification_interval: Option<u64>,
    /// `inactivity_timeout`, seconds.
    pub inactivity_timeout: Option<u64>,
}

/// Why a stream management call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The transmitter publishes no endpoint for this call.
    NotSupported(&'static str),
    /// The call failed, or was answered with an error status.
    Call(CallError),
    /// The transmitter's answer is not a valid stream configuration.
    InvalidStream(&'static str),
    /// The stream names another issuer than the transmitter (SSF 1.0 §8.1.1.1): abandoned.
    WrongIssuer,
    /// The stream's `aud` does not name this receiver: abandoned.
    WrongAudience,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::NotSupported(endpoint) => {
                write!(f, "the transmitter publishes no {endpoint}")
            }
            StreamError::Call(error) => error.fmt(f),
            StreamError::InvalidStream(reason) => write!(f, "invalid stream: {reason}"),
            StreamError::WrongIssuer => {
                f.write_str("the stream names another issuer than the transmitter; abandoned")
            }
            StreamError::WrongAudience => {
                f.write_str("the stream's aud does not name this receiver; abandoned")
            }
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Call(error) => Some(error),
            _ => None,
        }
    }
}

/// A client of the transmitter's stream management API, for one receiver.
#[derive(Clone)]
pub struct StreamClient {
    receiver: Receiver,
    authorization: String,
    client: reqwest::Client,
}

impl fmt::Debug for StreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamClient")
            .field("transmitter", &self.receiver.configuration().issuer())
            .finish_non_exhaustive()
    }
}

impl StreamClient {
    /// A client managing `receiver`'s stream, sending `authorization` (the `Authorization`
    /// header value the transmitter issued this receiver, for example `Bearer <token>`) with
    /// every call.
    pub fn new(receiver: Receiver, authorization: impl Into<String>) -> Self {
        StreamClient {
            receiver,
            authorization: authorization.into(),
            client: call::client(),
        }
    }

    /// Connects the receiver in one call: creates the stream (requesting
    /// [`EVENTS_ACTED_ON`]), then asks the transmitter to verify it.
    ///
    /// # Errors
    ///
    /// [`StreamError`] from either step.
    pub async fn connect(&self, delivery: Delivery) -> Result<StreamConfiguration, StreamError> {
        let stream = self.create(delivery, &EVENTS_ACTED_ON).await?;
        // SSF §8.1.1: the receiver relies on `events_delivered`, not on what it asked for.
        let missing: Vec<&str> = EVENTS_ACTED_ON
            .iter()
            .copied()
            .filter(|uri| {
                !stream
                    .events_delivered
                    .iter()
                    .any(|delivered| delivered == uri)
            })
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                stream = stream.stream_id.as_str(),
                ?missing,
                "the transmitter will not deliver every event type warden acts on"
            );
        }
        self.request_verification(&stream.stream_id).await?;
        Ok(stream)
    }

    /// Creates a stream (SSF 1.0 §8.1.1.1).
    ///
    /// # Errors
    ///
    /// [`StreamError`]; a stream naming another issuer or audience is abandoned.
    pub async fn create(
        &self,
        delivery: Delivery,
        events_requested: &[&str],
    ) -> Result<StreamConfiguration, StreamError> {
        let endpoint = self.endpoint(
            self.receiver.configuration().configuration_endpoint(),
            "configuration_endpoint",
        )?;
        let delivery = match delivery {
            Delivery::Push {
                endpoint_url,
                authorization_header,
            } => json!({
                "method": PUSH_DELIVERY,
                "endpoint_url": endpoint_url,
                "authorization_header": authorization_header,
            }),
            Delivery::Poll => json!({ "method": POLL_DELIVERY }),
        };
        let body = json!({
            "delivery": delivery,
            "events_requested": events_requested,
            "description": "warden",
        });
        let request = self
            .request(self.client.post(endpoint))
            .body(body.to_string());
        let document = self.send(request, StatusCode::CREATED).await?;
        self.read_stream(document)
    }

    /// Reads a stream's configuration (SSF 1.0 §8.1.1.2).
    ///
    /// # Errors
    ///
    /// [`StreamError`]; a stream naming another issuer or audience is abandoned.
    pub async fn get(&self, stream_id: &str) -> Result<StreamConfiguration, StreamError> {
        let endpoint = self.endpoint(
            self.receiver.configuration().configuration_endpoint(),
            "configuration_endpoint",
        )?;
        let request = self.request(self.client.get(with_stream_id(endpoint, stream_id)?));
        let document = self.send(request, StatusCode::OK).await?;
        self.read_stream(document)
    }

    /// Reads a stream's status (SSF 1.0 §8.1.2.1): `enabled`, `paused` or `disabled`.
    ///
    /// # Errors
    ///
    /// [`StreamError`].
    pub async fn status(&self, stream_id: &str) -> Result<String, StreamError> {
        let endpoint = self.endpoint(
            self.receiver.configuration().status_endpoint(),
            "status_endpoint",
        )?;
        let request = self.request(self.client.get(with_stream_id(endpoint, stream_id)?));
        let document = self.send(request, StatusCode::OK).await?;
        match document.get("status") {
            Some(Value::String(status)) => Ok(status.clone()),
            _ => Err(StreamError::InvalidStream(
                "the status answer has no status",
            )),
        }
    }

    /// Asks the transmitter to send a verification event (SSF 1.0 §8.1.4.2), with a fresh
    /// random `state` the receiver then expects.
    ///
    /// # Errors
    ///
    /// [`StreamError`].
    pub async fn request_verification(&self, stream_id: &str) -> Result<(), StreamError> {
        let endpoint = self.endpoint(
            self.receiver.configuration().verification_endpoint(),
            "verification_endpoint",
        )?;
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random)
            .map_err(|_| StreamError::InvalidStream("no randomness for the verification state"))?;
        let state = URL_SAFE_NO_PAD.encode(random);
        self.receiver.expect_verification(state.clone());
        let body = json!({ "stream_id": stream_id, "state": state });
        let request = self
            .request(self.client.post(endpoint))
            .body(body.to_string());
        let (status, _) = call::call(request, CALL_TIMEOUT)
            .await
            .map_err(StreamError::Call)?;
        if status.is_success() {
            Ok(())
        } else {
            Err(StreamError::Call(CallError::Status(status.as_u16())))
        }
    }

    #[allow(clippy::unused_self)]
    fn endpoint<'a>(
        &self,
        endpoint: Option<&'a str>,
        name: &'static str,
    ) -> Result<&'a str, StreamError> {
        endpoint.ok_or(StreamError::NotSupported(name))
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header(http::header::AUTHORIZATION, &self.authorization)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Result<Map<String, Value>, StreamError> {
        let (status, body) = call::call(request, CALL_TIMEOUT)
            .await
            .map_err(StreamError::Call)?;
        if status != expected {
            return Err(StreamError::Call(CallError::Status(status.as_u16())));
        }
        json::parse_object(&body)
            .map_err(|_| StreamError::InvalidStream("the answer is not a strict JSON object"))
    }

    fn read_stream(
        &self,
        mut document: Map<String, Value>,
    ) -> Result<StreamConfiguration, StreamError> {
        let configuration = self.receiver.configuration();
        match document.get("iss") {
            Some(Value::String(iss)) if iss == configuration.issuer() => {}
            _ => return Err(StreamError::WrongIssuer),
        }
        let audience = self.receiver.audience();
        let names_us = match document.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
            _ => false,
        };
        if !names_us {
            return Err(StreamError::WrongAudience);
        }
        let stream_id = match document.remove("stream_id") {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => return Err(StreamError::InvalidStream("stream_id is missing")),
        };
        let strings = |value: Option<Value>| -> Result<Vec<String>, StreamError> {
            match value {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(text) => Ok(text),
                        _ => Err(StreamError::InvalidStream(
                            "an event list holds a non-string",
                        )),
                    })
                    .collect(),
                Some(_) => Err(StreamError::InvalidStream("an event list is not an array")),
            }
        };
        let events_delivered = strings(document.remove("events_delivered"))?;
        let events_supported = strings(document.remove("events_supported"))?;
        let (delivery_method, endpoint_url) = match document.remove("delivery") {
            Some(Value::Object(mut delivery)) => {
                let method = match delivery.remove("method") {
                    Some(Value::String(method)) => method,
                    _ => return Err(StreamError::InvalidStream("delivery has no method")),
                };
                let endpoint_url = match delivery.remove("endpoint_url") {
                    None => None,
                    Some(Value::String(url)) => Some(url),
                    Some(_) => {
                        return Err(StreamError::InvalidStream(
                            "delivery.endpoint_url is not a string",
                        ));
                    }
                };
                (method, endpoint_url)
            }
            _ => return Err(StreamError::InvalidStream("delivery is missing")),
        };
        self.receiver.remember_stream(&stream_id);
        let seconds = |name: &str| document.get(name).and_then(Value::as_u64);
        Ok(StreamConfiguration {
            stream_id,
            events_delivered,
            events_supported,
            delivery_method,
            endpoint_url,
            min_verification_interval: seconds("min_verification_interval"),
            inactivity_timeout: seconds("inactivity_timeout"),
        })
    }
}

/// `endpoint?stream_id=<id>`, the id percent-encoded.
fn with_stream_id(endpoint: &str, stream_id: &str) -> Result<reqwest::Url, StreamError> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|_| StreamError::InvalidStream("an endpoint is not a URL"))?;
    url.query_pairs_mut().append_pair("stream_id", stream_id);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssf::event::{CAEP, RISC, VERIFICATION};

    #[test]
    fn requests_events_under_their_specifications_prefixes() {
        assert!(
            EVENTS_ACTED_ON
                .iter()
                .all(|uri| uri.starts_with(CAEP) || uri.starts_with(RISC) || *uri == VERIFICATION)
        );
    }
}
