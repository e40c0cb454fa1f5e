//! Why a one-line setup ([`WardenLayer::oidc`](crate::WardenLayer::oidc),
//! [`WardenLayer::entra`](crate::WardenLayer::entra)) or a key preload
//! ([`Validator::load_keys`](crate::Validator::load_keys)) failed: at start-up, never on a request.

use std::fmt;
use std::time::Duration;

use super::config::ConfigError;

/// Why a layer could not be set up and made ready.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration is wrong (a URL that is not https, an empty audience, …).
    Config(ConfigError),
    /// The issuer's keys could not be loaded: discovery or the JWKS failed, or timed out. The
    /// provider may be down, or the issuer URL wrong; try again after `retry_after`.
    KeysUnavailable {
        /// The issuer whose keys are missing.
        issuer: String,
        /// When a fetch may be tried again.
        retry_after: Duration,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(error) => error.fmt(f),
            SetupError::KeysUnavailable {
                issuer,
                retry_after,
            } => write!(
                f,
                "the signing keys of {issuer} could not be loaded (discovery or JWKS failed); retry in {} s",
                retry_after.as_secs()
            ),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Config(error) => Some(error),
            SetupError::KeysUnavailable { .. } => None,
        }
    }
}

impl From<ConfigError> for SetupError {
    fn from(error: ConfigError) -> Self {
        SetupError::Config(error)
    }
}
