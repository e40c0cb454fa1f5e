//! Why a request was refused, and why a configuration was refused.
//!
//! [`Error`] is what validation returns, grouped by category as rustls groups its
//! errors: each category is one kind of answer ([`InvalidToken`], [`BindingError`],
//! [`Forbidden`], [`StepUp`], [`Unavailable`], …) and each variant inside it names one fact
//! about the request or the token. Context is data (`Expired { exp, now }`, `retry_after`), never
//! text taken from the token. The wire answer (status, `WWW-Authenticate`, problem+json body) is
//! derived from the category in one exhaustive match,
//! [`Challenge::from(&Error)`](crate::challenge::Challenge).
//!
//! [`ConfigError`] is what a builder or
//! [`WardenConfig`](crate::WardenConfig) returns when the configuration itself is wrong: it names
//! the [`Setting`], and it is raised at startup, never on a request.
//!
//! ```
//! use warden::Error;
//! use warden::error::InvalidToken;
//!
//! let error = Error::from(InvalidToken::Expired { exp: 1.0, now: 100 });
//! assert_eq!(error.to_string(), "token expired");
//! assert!(matches!(error, Error::InvalidToken(InvalidToken::Expired { .. })));
//! ```

mod binding;
pub(crate) mod config;
mod privilege;
pub(crate) mod refusal;
mod registration;
mod setup;
mod token;
mod unavailable;

pub use binding::{Binding, BindingError, ProofError};
pub use config::{Setting, Variable};
pub use privilege::{ClaimsChallenge, Forbidden, StepUp};
pub use refusal::InvalidRequest;
pub use registration::RegistrationError;
pub use setup::SetupError;
pub use token::{Check, InvalidToken, Malformed};
pub use unavailable::{Dependency, Unavailable};

pub(crate) use config::ConfigError;
pub(crate) use refusal::Error;
