//! The fake issuer as a Shared Signals transmitter: SSF configuration, stream management,
//! signed SETs, push delivery (RFC 8935) and a poll endpoint (RFC 8936).
//!
//! The builder of SETs and the answer to a push ([`builder`]) are apart from delivery
//! ([`delivery`]) and the HTTP handlers ([`routes`]); the transmitter's state is `crate::state`.

mod builder;
mod delivery;
pub(crate) mod routes;

pub use builder::{PushAnswer, SetBuilder};
pub(crate) use delivery::push;

use std::time::Duration;

/// The CAEP event type prefix.
pub(super) const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// The RISC event type prefix.
pub(super) const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
/// SSF's verification event.
pub(super) const VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// How long the fake holds a long poll with nothing to deliver.
pub(super) const LONG_POLL: Duration = Duration::from_secs(2);
