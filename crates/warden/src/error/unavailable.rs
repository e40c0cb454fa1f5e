//! Something warden needs to judge the request cannot answer: answered 503 with `Retry-After`,
//! and the caller's token was not judged.

use std::time::Duration;

/// A dependency that could not answer, and when to ask again (503 with `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unavailable {
    /// What could not answer.
    pub dependency: Dependency,
    /// When the caller should try again, sent as `Retry-After` (at least one second).
    pub retry_after: Duration,
}

/// What could not answer, making a request impossible to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dependency {
    /// No key could be had: the key source failed and no key was ever loaded for this issuer.
    SigningKeys,
    /// The revocation store's rules are older than its staleness bound allows (a fleet store cut
    /// off from its feed, configured to fail closed).
    Revocations,
    /// The DPoP replay cache could not say whether the proof was seen before; the proof is not
    /// accepted unchecked.
    ReplayCache,
    /// A group requirement met a token whose group list was replaced by an overage marker, and
    /// the group resolver failed.
    GroupMembership,
}

impl Unavailable {
    pub(crate) fn new(dependency: Dependency, retry_after: Duration) -> Self {
        Unavailable {
            dependency,
            retry_after,
        }
    }

    /// The fixed phrase sent in the problem body's `detail`.
    pub fn description(&self) -> &'static str {
        match self.dependency {
            Dependency::SigningKeys => "signing keys unavailable",
            Dependency::Revocations => "revocation list not current",
            Dependency::ReplayCache => "DPoP replay check unavailable",
            Dependency::GroupMembership => "group membership unavailable",
        }
    }

    /// A stable, machine-friendly name, as recorded in tracing spans.
    pub fn kind(&self) -> &'static str {
        match self.dependency {
            Dependency::SigningKeys => "keys_unavailable",
            Dependency::Revocations => "revocations_stale",
            Dependency::ReplayCache => "replay_cache_unavailable",
            Dependency::GroupMembership => "groups_unavailable",
        }
    }
}
