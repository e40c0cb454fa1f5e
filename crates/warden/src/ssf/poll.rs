//! Poll delivery (RFC 8936): for receivers that cannot take inbound calls, a background task
//! long-polls the transmitter, acknowledges what it acted on and reports what it refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use super::http::{self as call, CallError};
use super::receiver::{Action, Receiver};
use super::set::SetError;
use crate::clock;
use crate::error::{ConfigError, Setting};
use crate::json;
use crate::url::check_fetch_url;

/// How long one long poll may be held by the transmitter before the receiver asks again.
const LONG_POLL: Duration = Duration::from_secs(60);
/// The first pause after a failed poll; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The pause after an answer with no SET, before asking again.
const MIN_POLL_GAP: Duration = Duration::from_secs(1);

/// Configures a [`Poller`]; see [`Poller::builder`].
#[must_use]
pub struct PollerBuilder {
    receiver: Receiver,
    endpoint: String,
    authorization: Option<String>,
    max_events: u32,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for PollerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollerBuilder")
            .field("endpoint", &self.endpoint)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

/// A running poll loop; dropping it stops the loop (unacknowledged SETs stay with the
/// transmitter).
#[derive(Debug)]
pub struct Poller {
    task: JoinHandle<()>,
    last_success: Arc<AtomicU64>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    /// Starts configuring a poll loop feeding `receiver` from the transmitter's poll endpoint
    /// (the stream's `delivery.endpoint_url`).
    pub fn builder(receiver: Receiver, endpoint: impl Into<String>) -> PollerBuilder {
        PollerBuilder {
            receiver,
            endpoint: endpoint.into(),
            authorization: None,
            max_events: 100,
            client: None,
        }
    }

    /// When a poll last succeeded (seconds since the Unix epoch), for a readiness check.
    pub fn last_success(&self) -> Option<u64> {
        match self.last_success.load(Ordering::Acquire) {
            0 => None,
            at => Some(at),
        }
    }
}

impl PollerBuilder {
    /// The `Authorization` header value sent with every poll (how the transmitter knows this
    /// receiver, for example `Bearer <token>`).
    pub fn authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// The most SETs asked for per poll (`maxEvents`, default 100, at least 1).
    pub fn max_events(mut self, max: u32) -> Self {
        self.max_events = max;
        self
    }

    /// Uses the application's own HTTP client (proxy, roots). Redirects should stay off: a
    /// redirect could carry the authorization elsewhere.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Checks the configuration and starts polling on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an endpoint that is not https (http only on loopback), an
    /// authorization that is not a header value, or `max_events` 0.
    pub fn spawn(self) -> Result<Poller, ConfigError> {
        check_fetch_url(&self.endpoint, Setting::SharedSignals)?;
        if self.max_events == 0 {
            return Err(ConfigError::invalid(
                Setting::SharedSignals,
                "max_events must be at least 1",
            ));
        }
        if let Some(value) = &self.authorization
            && http::HeaderValue::from_str(value).is_err()
        {
            return Err(ConfigError::invalid(
                Setting::SharedSignals,
                "the poll authorization is not a header value",
            ));
        }
        let last_success = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(poll_loop(self, last_success.clone()));
        Ok(Poller { task, last_success })
    }
}

async fn poll_loop(config: PollerBuilder, last_success: Arc<AtomicU64>) {
    let client = config.client.clone().unwrap_or_else(call::client);
    let mut ack: Vec<String> = Vec::new();
    let mut set_errs = Map::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let body = json!({
            "maxEvents": config.max_events,
            "returnImmediately": false,
            "ack": ack,
            "setErrs": set_errs,
        });
        let mut request = client
            .post(&config.endpoint)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body.to_string());
        if let Some(value) = &config.authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let answer = match call::call(request, LONG_POLL + Duration::from_secs(10)).await {
            Ok((StatusCode::OK, body)) => read_answer(&body),
            Ok((status, _)) => Err(CallError::Status(status.as_u16())),
            Err(error) => Err(error),
        };
        match answer {
            Ok(sets) => {
                // What was sent has reached the transmitter.
                ack.clear();
                set_errs.clear();
                let now = clock::unix_secs(&crate::clock::SystemClock);
                last_success.store(now.max(1), Ordering::Release);
                let mut unprocessed = None;
                let mut applied = false;
                for (jti, set) in sets {
                    match config.receiver.receive_as(&set, Some(&jti)).await {
                        Ok(received) => {
                            if !matches!(received.action(), Action::AlreadyReceived) {
                                applied = true;
                            }
                            ack.push(jti);
                        }
                        Err(refused) => match refused.code() {
                            Some(code) => {
                                tracing::warn!(err = code, reason = %refused, "polled security event refused");
                                set_errs.insert(
                                    jti,
                                    json!({"err": code, "description": refused.to_string()}),
                                );
                            }
                            // Neither acknowledged nor refused: delivered again later.
                            None => {
                                tracing::warn!(reason = %refused, "polled security event not processed");
                                unprocessed = Some(match refused {
                                    SetError::KeysUnavailable { retry_after } => retry_after,
                                    _ => FIRST_BACKOFF,
                                });
                            }
                        },
                    }
                }
                match unprocessed {
                    // Asked again after a pause, so a transmitter that hands it straight back
                    // does not spin this loop.
                    Some(retry_after) => {
                        tokio::time::sleep(jittered(retry_after.max(backoff))).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    None => {
                        backoff = FIRST_BACKOFF;
                        // Nothing new (an empty answer, or only SETs seen or refused before): a
                        // transmitter that does not hold long polls, or ignores acknowledgements,
                        // is asked again after a gap, not in a tight loop.
                        if !applied {
                            tokio::time::sleep(MIN_POLL_GAP).await;
                        }
                    }
                }
            }
            Err(CallError::Timeout) => {
                // A long poll the transmitter held past the wait: ask again (acks resent).
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "polling the transmitter failed");
                tokio::time::sleep(jittered(backoff)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// RFC 8936 §2.3's answer: `{"sets":{jti:SET},"moreAvailable":bool}`.
fn read_answer(body: &[u8]) -> Result<Vec<(String, String)>, CallError> {
    let document = json::parse_object(body)
        .map_err(|_| CallError::InvalidAnswer("is not a strict JSON object"))?;
    match document.get("sets") {
        None => Ok(Vec::new()),
        Some(Value::Object(sets)) => sets
            .iter()
            .map(|(jti, set)| match set {
                Value::String(set) => Ok((jti.clone(), set.clone())),
                _ => Err(CallError::InvalidAnswer("holds a SET that is not a string")),
            })
            .collect(),
        Some(_) => Err(CallError::InvalidAnswer("has sets that is not an object")),
    }
}

/// A pause of 75 % to 125 % of `base`, so a fleet's pollers do not retry in step.
fn jittered(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let spread = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    base.mul_f64(0.75 + spread / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc_8936_answers() {
        assert_eq!(
            read_answer(br#"{"sets":{},"moreAvailable":false}"#).unwrap(),
            []
        );
        assert_eq!(read_answer(b"{}").unwrap(), []);
        assert_eq!(
            read_answer(br#"{"sets":{"j1":"a.b.c"}}"#).unwrap(),
            [("j1".to_owned(), "a.b.c".to_owned())]
        );
        assert!(read_answer(br#"{"sets":{"j1":1}}"#).is_err());
        assert!(read_answer(br#"{"sets":{"j1":"a","j1":"b"}}"#).is_err());
    }
}
