//! What a replica's store and its feed share: where the keys live in Redis, the state the feed
//! keeps current, and when it last was. A leaf both import (the store starts the feed; the feed
//! writes this state), so neither imports the other back.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use warden::cae::InMemoryRevocations;

use crate::connection::{Connection, Endpoint};

/// How often a connected feed asks Redis its eviction policy again: `CONFIG SET` changes it
/// without a reconnect.
pub(crate) const POLICY_CHECK: Duration = Duration::from_secs(2);

/// Where the rules and their announcements live.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    pub(crate) rule_prefix: String,
    pub(crate) stream: String,
    /// The index of rule keys: a sorted set of identities scored by their expiry, so that a
    /// replica reloads the rules without scanning a shared Redis's whole keyspace.
    pub(crate) index: String,
    /// Set once the index holds every rule, after a first load backfilled it from a scan: from
    /// then on, loads read the index alone.
    pub(crate) indexed_marker: String,
    /// The `SCAN MATCH` pattern of rule keys: the prefix with glob characters escaped (for rules
    /// written before the index existed).
    pub(crate) rule_pattern: String,
    /// On a cluster: the rule keys, the stream and the index share one hash slot (the prefix
    /// is their hash tag, `{prefix}rule:…`), so the script that writes all three runs on one
    /// node. Keys under a hash tag were indexed from the first, so a load never scans.
    pub(crate) hash_tagged: bool,
}

impl Keys {
    /// The keys of one server: `<prefix>rule:<identity>`, `<prefix>revocations`, ….
    pub(crate) fn new(prefix: &str) -> Keys {
        Self::with_stem(prefix, prefix.to_owned(), false)
    }

    /// The keys of a cluster: `{<prefix>}rule:<identity>`, `{<prefix>}revocations`, …, all in
    /// the slot of the prefix. The prefix must be neither empty nor hold a brace (checked at
    /// connect), or the tag would not be the prefix.
    pub(crate) fn hash_tagged(prefix: &str) -> Keys {
        Self::with_stem(prefix, format!("{{{prefix}}}"), true)
    }

    fn with_stem(prefix: &str, stem: String, hash_tagged: bool) -> Keys {
        let mut escaped = String::with_capacity(stem.len() + 8);
        for c in stem.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        Keys {
            prefix: prefix.to_owned(),
            rule_prefix: format!("{stem}rule:"),
            stream: format!("{stem}revocations"),
            index: format!("{stem}rules"),
            indexed_marker: format!("{stem}rules-indexed"),
            rule_pattern: format!("{escaped}rule:*"),
            hash_tagged,
        }
    }
}

impl Keys {
    /// The prefix every key starts with (inside the braces of a cluster's hash tag). DPoP proof
    /// keys carry it without braces, so a cluster spreads them over its slots.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

pub(crate) struct Shared {
    pub(crate) endpoint: Endpoint,
    /// Writes revocations.
    pub(crate) writer: Connection,
    /// Checks DPoP proofs ([`RedisProofReplay`](crate::RedisProofReplay)).
    pub(crate) proofs: Connection,
    pub(crate) keys: Keys,
    pub(crate) local: InMemoryRevocations,
    pub(crate) rule_retention: Duration,
    pub(crate) stream_length: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) fail_closed_after: Option<Duration>,
    /// How many Redis replicas must hold a rule before a revocation is acknowledged.
    pub(crate) replicas: usize,
    pub(crate) state: AtomicU8,
    /// When the feed last knew it had every rule.
    pub(crate) synced: SyncedAt,
    /// When the feed last found Redis's eviction policy safe.
    pub(crate) policy_checked: SyncedAt,
    pub(crate) feed: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.feed.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// 1 while the feed is current, else 0.
pub(crate) const FEED_CURRENT: &str = "warden_fleet_feed_current";
/// When the feed last knew it had every rule, in Unix seconds: its lag is `time() - this`.
pub(crate) const FEED_SYNCED: &str = "warden_fleet_feed_synced_timestamp_seconds";

impl Shared {
    pub(crate) fn mark_synced(&self, state: FeedState) {
        self.synced.mark();
        self.state.store(state as u8, Ordering::Release);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!(FEED_SYNCED).set(now);
        metrics::gauge!(FEED_CURRENT).set(if state == FeedState::Current {
            1.0
        } else {
            0.0
        });
    }

    /// Whether the eviction policy is due to be read again (and, if so, counts it as read).
    pub(crate) fn policy_check_due(&self) -> bool {
        if self.policy_checked.elapsed() < POLICY_CHECK {
            return false;
        }
        self.policy_checked.mark();
        true
    }

    pub(crate) fn mark_catching_up(&self) {
        self.state
            .store(FeedState::CatchingUp as u8, Ordering::Release);
        metrics::gauge!(FEED_CURRENT).set(0.0);
    }

    pub(crate) fn mark_disconnected(&self) {
        self.state
            .store(FeedState::Disconnected as u8, Ordering::Release);
        metrics::gauge!(FEED_CURRENT).set(0.0);
    }
}

/// Where the feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedState {
    /// Connected and up to date (it last proved so at [`FeedStatus::synced_at`](crate::FeedStatus::synced_at)).
    Current,
    /// Connected, reading a backlog of announcements.
    CatchingUp,
    /// Cut off from Redis, reconnecting with back-off; rules are as of [`FeedStatus::synced_at`](crate::FeedStatus::synced_at).
    Disconnected,
}

impl FeedState {
    pub(crate) fn from_u8(value: u8) -> FeedState {
        match value {
            v if v == FeedState::Current as u8 => FeedState::Current,
            v if v == FeedState::CatchingUp as u8 => FeedState::CatchingUp,
            _ => FeedState::Disconnected,
        }
    }
}

/// An instant on tokio's monotonic clock (so paused-time tests move it), readable and movable
/// without a lock: milliseconds since an origin taken at creation.
pub(crate) struct SyncedAt {
    origin: tokio::time::Instant,
    at_ms: AtomicU64,
}

impl SyncedAt {
    pub(crate) fn now() -> SyncedAt {
        SyncedAt {
            origin: tokio::time::Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    fn since_origin_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Moves the instant to now.
    pub(crate) fn mark(&self) {
        self.at_ms
            .fetch_max(self.since_origin_ms(), Ordering::AcqRel);
    }

    /// How long ago the instant is.
    pub(crate) fn elapsed(&self) -> Duration {
        let at = self.at_ms.load(Ordering::Acquire);
        Duration::from_millis(self.since_origin_ms().saturating_sub(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Staleness is elapsed time on tokio's monotonic clock: a wall clock stepped backwards
    /// (NTP, a VM resumed) cannot make a cut-off replica look current, and paused-time tests
    /// move it.
    #[tokio::test(start_paused = true)]
    async fn staleness_is_measured_on_the_monotonic_clock() {
        let synced = SyncedAt::now();
        assert_eq!(synced.elapsed(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(synced.elapsed(), Duration::from_secs(3));
        synced.mark();
        assert_eq!(synced.elapsed(), Duration::ZERO);
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert_eq!(synced.elapsed(), Duration::from_millis(2500));
    }
}
