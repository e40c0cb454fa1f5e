//! Shared Signals (OpenID SSF 1.0, CAEP 1.0, RISC 1.0): revocations that arrive on their own.
//!
//! Identity providers publish security events (a session revoked, an account disabled, a
//! credential changed) as signed Security Event Tokens (SETs, RFC 8417). A [`Receiver`] takes
//! them from one transmitter, verifies each, and turns its event into revocation rules in the
//! same [`RevocationStore`](crate::cae::RevocationStore) the API's validator reads: the next
//! request with a token issued before the event gets the CAE answer, with no human in the loop.
//! With a fleet store (`warden-redis`), an event received by one replica is enforced by all.
//!
//! - **Push** (RFC 8935): mount a [`PushEndpoint`] where the transmitter POSTs; it checks the
//!   transmitter's credentials first ([`PushAuthorization`]: a shared bearer value compared in
//!   constant time, or an OAuth token validated by warden), then the SET, and answers `202` once
//!   the rules are stored, or `400` with RFC 8935's error codes.
//! - **Poll** (RFC 8936): a [`Poller`] long-polls the transmitter, acknowledges what it acted on
//!   and reports refused SETs in `setErrs`.
//! - **Streams** (SSF §8): a [`StreamClient`] creates or reads the stream at the transmitter,
//!   reads its status and asks for verification; [`StreamClient::connect`] does it in one call.
//!
//! A SET must be a compact JWS with `typ` `secevent+jwt`, an asymmetric `alg`, a key from the
//! transmitter's `jwks_uri` (warden's [`JwksCache`](crate::keys::JwksCache): rotation,
//! unknown-`kid` refresh, outage behaviour), `iss` the transmitter, `aud` the receiver, `iat`,
//! `jti`, one event, a valid `sub_id`, and no `sub` or `exp`; duplicate JSON members are refused
//! at every depth. A SET received again (same `jti`) is acknowledged and has no second effect.
//!
//! | event | effect |
//! |---|---|
//! | CAEP `session-revoked` | the session's tokens (a complex subject's `session`), else the user's, issued before the event |
//! | CAEP `credential-change` (not `create`), `token-claims-change`; RISC `account-disabled`, `account-purged`, `credential-compromise`, `sessions-revoked` | the user's tokens issued before the event (a `jwt_id` subject: that token) |
//! | CAEP `assurance-level-change`, `device-compliance-change`, `risk-level-change` | recorded in [`Receiver::signals`] for requirements to read |
//! | SSF `verification` | its subject (the stream) and its `state` checked against the ones requested |
//! | anything else | acknowledged and logged |
//!
//! The event's time is its `event_timestamp`, else the SET's `iat`, never the arrival time, and
//! at most the arrival plus the clock skew allowed (60 s): a token issued after the event keeps
//! working. docs/shared-signals.md
//! says how subjects map onto tokens' claims and why.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::Router;
//! use warden::cae::InMemoryRevocations;
//! use warden::ssf::{PushAuthorization, PushEndpoint, Receiver, TransmitterConfiguration};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually `TransmitterConfiguration::discover(issuer, &client).await?`.
//! let transmitter = TransmitterConfiguration::parse(
//!     "https://idp.example.com",
//!     br#"{"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks"}"#,
//! )?;
//! let store = Arc::new(InMemoryRevocations::default()); // the validator's store
//! let receiver = Receiver::builder(transmitter, "https://api.example.com")
//!     .revocations(store)
//!     .build()?;
//! let push = PushEndpoint::new(receiver, PushAuthorization::bearer("a-long-random-secret-7f3a9c")?);
//! let app: Router = Router::new().route_service("/ssf/events", push);
//! # Ok(())
//! # }
//! ```

mod event;
mod http;
mod mapping;
mod poll;
mod push;
mod receiver;
mod set;
mod signals;
mod stream;
mod subject;
mod transmitter;

pub use event::{
    CAEP, ChangeDirection, Compliance, CredentialChangeType, Event, EventKind, InitiatingEntity,
    RISC, RiskLevel, STREAM_UPDATED, VERIFICATION,
};
pub use http::CallError;
pub use poll::{Poller, PollerBuilder};
pub use push::{MAX_SET_BYTES, PushAuthorization, PushEndpoint};
pub use receiver::{Action, Received, Receiver, ReceiverBuilder};
pub use set::{SecurityEvent, SetError};
pub use signals::{AssuranceSignal, ComplianceSignal, RiskSignal, Signals, SubjectSignals};
pub use stream::{Delivery, EVENTS_ACTED_ON, StreamClient, StreamConfiguration, StreamError};
pub use subject::{ComplexSubject, Subject};
pub use transmitter::{DiscoveryError, POLL_DELIVERY, PUSH_DELIVERY, TransmitterConfiguration};

#[cfg(feature = "fuzzing")]
pub(crate) use set::fuzz_read;
