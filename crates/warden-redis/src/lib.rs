//! A revocation store shared by a fleet of warden-protected APIs, on Redis (or Valkey).
//!
//! Revoke a compromised user on one replica and every replica refuses the user's tokens within
//! milliseconds. [`RedisRevocations`] implements warden's
//! [`RevocationStore`](warden::cae::RevocationStore):
//!
//! - **The check stays in memory.** Each replica keeps every live rule in a local
//!   [`InMemoryRevocations`](warden::cae::InMemoryRevocations); a request never waits on Redis, and a lookup costs the same with ten
//!   rules or a million.
//! - **Rules are durable and bounded.** [`revoke`](warden::cae::RevocationStore::revoke) writes
//!   the rule as a Redis key that expires when no token it could match can still be valid (its
//!   instant plus the longest token lifetime), and announces it on a Redis Stream, in one atomic
//!   script. It resolves only once Redis took the rule; otherwise it fails with
//!   [`RevocationError`](warden::cae::RevocationError) and the caller retries.
//! - **Nothing is missed.** A replica loads every live rule, then follows the stream from the
//!   position it read before loading. After a lost connection it resumes from the last entry it
//!   applied, or loads everything again when the stream no longer holds what it missed
//!   (trimmed, or Redis restarted without persistence). Applying a rule twice changes nothing.
//! - **Redis down.** Requests keep being judged by the local rules; revocations fail clearly;
//!   [`RedisRevocations::status`] says since when the replica is stale, and
//!   [`fail_closed_after`](RedisRevocationsBuilder::fail_closed_after) makes the replica answer
//!   503 with `Retry-After` beyond a staleness bound (off by default).
//!
//! [`RedisProofReplay`] shares DPoP proofs seen by the fleet, so a proof is accepted once by all
//! replicas together (RFC 9449 §11.1).
//!
//! Design, guarantees and operation: `docs/fleet.md`.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use warden::{Issuer, WardenLayer};
//! use warden_redis::RedisRevocations;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let revocations = RedisRevocations::builder("redis://127.0.0.1:6379")
//!     .prefix("orders-api:")
//!     .connect()
//!     .await?;
//! let warden = WardenLayer::builder()
//!     .issuer(Issuer::builder("https://login.example.com").audience("api://orders").build()?)
//!     .revocations(Arc::new(revocations.clone()))
//!     .build()?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
mod connection;
mod feed;
mod replay;
mod rule;
mod state;
mod store;

pub use replay::RedisProofReplay;
pub use state::FeedState;
pub use store::{
    ConnectError, DEFAULT_PREFIX, DEFAULT_RULE_RETENTION, DEFAULT_STREAM_LENGTH,
    DEFAULT_WRITE_TIMEOUT, FeedStatus, RedisRevocations, RedisRevocationsBuilder,
};

/// docs/fleet.md's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/fleet.md")]
mod fleet_doctests {}
