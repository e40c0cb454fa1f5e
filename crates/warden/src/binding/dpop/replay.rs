//! Replay detection: the [`ProofReplayCache`] contract and the embedded cache,
//! [`InMemoryProofReplay`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// What a replay cache remembers of a proof: the SHA-256 of its target URL and `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProofKey(pub [u8; 32]);

/// The future [`ProofReplayCache::first_use`] returns.
pub type FirstUse<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayCacheError>> + Send + 'a>>;

/// Remembers the proofs seen within their window, so each is accepted once (RFC 9449 §11.1).
/// Asked only on DPoP requests.
pub trait ProofReplayCache: Send + Sync + fmt::Debug + 'static {
    /// Records `key`, a proof of the client key whose thumbprint is `jkt`, until `expires_at`;
    /// `true` if it was not there (first use), `false` for a replay. `now` and `expires_at` are
    /// seconds since the Unix epoch by the validator's clock, which judged the proof's window: a
    /// cache measures the key's life from them, never by a clock of its own.
    ///
    /// The future is polled once when the request is authenticated, with a no-op waker: a cache
    /// that answers at once (as the in-memory one does) decides the request without an await.
    /// One that is still waiting is polled again with the request's own waker, so, as the
    /// `Future` contract asks, it must wake the waker of its latest poll. The proof counts as
    /// used from that first poll, even if the client goes away before the answer.
    fn first_use(&self, jkt: &str, key: ProofKey, now: u64, expires_at: u64) -> FirstUse<'_>;
}

/// Why a replay cache could not answer. The request is answered 503 with `Retry-After`: a proof
/// that cannot be checked for replay is not accepted.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayCacheError {
    /// The cache holds as many proofs as it may.
    Full,
    /// This client key has used its share of the cache in the current minute.
    KeyQuota,
    /// The shared backend could not be reached.
    Unavailable {
        /// What the backend's client reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl fmt::Display for ReplayCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayCacheError::Full => f.write_str("DPoP replay cache full"),
            ReplayCacheError::KeyQuota => f.write_str("too many DPoP proofs for this key"),
            ReplayCacheError::Unavailable { source } => {
                write!(f, "DPoP replay cache unavailable: {source}")
            }
        }
    }
}

impl std::error::Error for ReplayCacheError {}

/// The embedded replay cache: proofs of this process, in a lock-free map, at most `capacity` at
/// once (default 1,000,000: about a minute of 16,000 DPoP requests a second). Expired proofs are
/// swept by a background thread once a second, never on the request path. One client key may
/// hold at most a hundredth of the capacity in a minute, so one client cannot fill the cache for
/// the others; beyond it, that key's proofs are refused (503). When the cache is full, new proofs
/// are refused (503) rather than forgetting one still in its window.
pub struct InMemoryProofReplay {
    state: Arc<ReplayState>,
    /// The sweeper starts with the first proof: a layer that never sees DPoP runs no thread.
    sweeper: std::sync::Once,
}

struct ReplayState {
    seen: papaya::HashMap<ProofKey, u64>,
    /// Proofs per client key (thumbprint) in the current minute.
    per_key: papaya::HashMap<Box<str>, Quota>,
    capacity: usize,
    per_key_limit: usize,
    clock: Arc<dyn crate::clock::Clock>,
}

impl fmt::Debug for InMemoryProofReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryProofReplay")
            .field("len", &self.state.seen.len())
            .field("capacity", &self.state.capacity)
            .finish()
    }
}

impl Default for InMemoryProofReplay {
    fn default() -> Self {
        Self::with_capacity(1_000_000)
    }
}

/// The window of the per-key quota.
const QUOTA_WINDOW_SECS: u64 = 60;

impl InMemoryProofReplay {
    /// A cache holding at most `capacity` proofs.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::build(capacity, Arc::new(crate::clock::SystemClock))
    }

    /// Reads the time from this clock (expiry and the per-key quota).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self::build(self.state.capacity, clock)
    }

    fn build(capacity: usize, clock: Arc<dyn crate::clock::Clock>) -> Self {
        let state = Arc::new(ReplayState {
            seen: papaya::HashMap::new(),
            per_key: papaya::HashMap::new(),
            capacity,
            per_key_limit: (capacity / 100).max(1),
            clock,
        });
        InMemoryProofReplay {
            state,
            sweeper: std::sync::Once::new(),
        }
    }

    /// Starts the thread that sweeps expired proofs once a second; it holds the state weakly
    /// and ends with the cache.
    fn start_sweeper(&self) {
        let weak = Arc::downgrade(&self.state);
        let _ = std::thread::Builder::new()
            .name("warden-dpop-sweep".into())
            .spawn(move || {
                while let Some(state) = weak.upgrade() {
                    state.sweep();
                    drop(state);
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
    }

    /// Records a proof of the client key `jkt`.
    pub(super) fn record(
        &self,
        jkt: &str,
        key: ProofKey,
        now: u64,
        expires_at: u64,
    ) -> Result<bool, ReplayCacheError> {
        self.sweeper.call_once(|| self.start_sweeper());
        let state = &self.state;
        let seen = state.seen.pin();
        if let Some(expiry) = seen.get(&key)
            && *expiry > now
        {
            return Ok(false);
        }
        let minute = now / QUOTA_WINDOW_SECS;
        let per_key = state.per_key.pin();
        // A key seen before is counted in place; only a new key's name is copied.
        let quota = match per_key.get(jkt) {
            Some(quota) => quota,
            None => per_key.get_or_insert_with(jkt.into(), || Quota::new(minute)),
        };
        let count = quota.count(minute);
        if count > state.per_key_limit {
            return Err(ReplayCacheError::KeyQuota);
        }
        if seen.len() >= state.capacity {
            return Err(ReplayCacheError::Full);
        }
        match seen.try_insert(key, expires_at) {
            Ok(_) => Ok(true),
            // An expired entry not yet swept may be replaced; a live one is a replay.
            Err(occupied) if *occupied.current <= now => {
                seen.insert(key, expires_at);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

/// One client key's proofs in a minute, counted in place (no allocation per proof).
struct Quota {
    minute: AtomicU64,
    count: AtomicUsize,
}

impl Quota {
    fn new(minute: u64) -> Self {
        Quota {
            minute: AtomicU64::new(minute),
            count: AtomicUsize::new(0),
        }
    }

    /// Counts one more proof in `minute` and returns the count so far; a new minute starts
    /// again from one. Callers racing over a minute's turn may each restart the count: the
    /// quota bounds a key's share of the cache, it is not an exact tally.
    fn count(&self, minute: u64) -> usize {
        let seen = self.minute.load(Ordering::Relaxed);
        if seen != minute
            && self
                .minute
                .compare_exchange(seen, minute, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(0, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl ReplayState {
    fn sweep(&self) {
        let now = crate::clock::unix_secs(&*self.clock);
        self.seen.pin().retain(|_, expiry| *expiry > now);
        let minute = now / QUOTA_WINDOW_SECS;
        self.per_key
            .pin()
            .retain(|_, quota| quota.minute.load(Ordering::Relaxed) == minute);
    }
}

impl ProofReplayCache for InMemoryProofReplay {
    fn first_use(&self, jkt: &str, key: ProofKey, now: u64, expires_at: u64) -> FirstUse<'_> {
        Box::pin(std::future::ready(self.record(jkt, key, now, expires_at)))
    }
}
