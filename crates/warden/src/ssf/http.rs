//! The receiver's calls to its transmitter: bounded bodies, bounded waits, no redirects, and
//! errors that never echo a credential.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::fetch::{BodyError, read_capped};

/// The largest answer read from a transmitter (a configuration, a stream, a batch of polled
/// SETs).
pub(crate) const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why a call to the transmitter failed. Holds no header or body content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The transmitter could not be reached.
    Connect,
    /// It did not answer in time.
    Timeout,
    /// It answered this HTTP status.
    Status(u16),
    /// Its answer was larger than warden reads.
    TooLarge,
    /// Its answer was not the JSON document expected.
    InvalidAnswer(&'static str),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect => f.write_str("the transmitter could not be reached"),
            CallError::Timeout => f.write_str("the transmitter did not answer in time"),
            CallError::Status(code) => write!(f, "the transmitter answered HTTP {code}"),
            CallError::TooLarge => write!(
                f,
                "the transmitter answered more than {MAX_ANSWER_BYTES} bytes"
            ),
            CallError::InvalidAnswer(reason) => write!(f, "the transmitter's answer {reason}"),
        }
    }
}

impl std::error::Error for CallError {}

/// The client for calls to transmitters: no redirects (a redirect could carry the
/// authorization elsewhere), 3 s to connect.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default()
}

/// Sends a request and reads the answer's status and body (bounded), within `timeout`.
pub(crate) async fn call(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<(StatusCode, Vec<u8>), CallError> {
    let transport = |error: reqwest::Error| {
        // A connect timeout is an unreachable transmitter, not a long poll held too long.
        if error.is_connect() || !error.is_timeout() {
            CallError::Connect
        } else {
            CallError::Timeout
        }
    };
    let mut response = request.timeout(timeout).send().await.map_err(transport)?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).map_err(|_| CallError::Connect)?;
    let body = read_capped(&mut response, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => CallError::TooLarge,
            BodyError::Timeout => CallError::Timeout,
            BodyError::Connect => CallError::Connect,
        })?;
    Ok((status, body))
}
