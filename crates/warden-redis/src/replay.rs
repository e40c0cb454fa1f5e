//! DPoP proofs seen by any replica of the fleet: one `SET NX` per DPoP request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use warden::dpop::{FirstUse, ProofKey, ProofReplayCache, ReplayCacheError};

use crate::connection::Connection;

/// A [`ProofReplayCache`] on Redis, shared by every replica: a proof used at one replica is a
/// replay at all the others. Each DPoP request costs one round trip (`SET key 1 NX EX`, the expiry counted from this server's clock); a
/// key expires with its proof's window, so Redis holds only the proofs still acceptable. When
/// Redis cannot answer, the proof is refused (503 `Retry-After`), never accepted unchecked; for
/// half a second after such a failure the next proofs are refused at once rather than each
/// waiting up to the 1 s timeout (a Redis outage would otherwise hold every DPoP request that
/// long), then one request tries Redis again.
///
/// Made from the fleet's [`RedisRevocations`](crate::RedisRevocations), so both share one
/// connection, prefix and TLS setup:
///
/// ```no_run
/// use std::sync::Arc;
/// use warden::dpop::Dpop;
/// use warden_redis::RedisRevocations;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let revocations = RedisRevocations::builder("redis://127.0.0.1:6379")
///     .prefix("orders-api:")
///     .connect()
///     .await?;
/// let dpop = Dpop::builder()
///     .replay_cache(Arc::new(revocations.proof_replay()))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisProofReplay {
    connection: Connection,
    prefix: String,
    timeout: Duration,
    breaker: Breaker,
}

/// After Redis failed to answer, refuses at once for [`Breaker::PAUSE`]. Shared by clones.
#[derive(Clone)]
struct Breaker {
    origin: tokio::time::Instant,
    /// Milliseconds since `origin` until which requests are refused without asking Redis.
    open_until_ms: Arc<AtomicU64>,
}

impl Breaker {
    const PAUSE: Duration = Duration::from_millis(500);

    fn new() -> Breaker {
        Breaker {
            origin: tokio::time::Instant::now(),
            open_until_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether Redis may be asked now.
    fn closed(&self) -> bool {
        self.now_ms() >= self.open_until_ms.load(Ordering::Acquire)
    }

    /// Redis failed to answer: refuse at once for the pause.
    fn trip(&self) {
        let until = self.now_ms() + Self::PAUSE.as_millis() as u64;
        self.open_until_ms.fetch_max(until, Ordering::AcqRel);
    }
}

impl fmt::Debug for RedisProofReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its info holds the password.
        f.debug_struct("RedisProofReplay")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisProofReplay {
    /// On the connection, prefix and TLS settings of `revocations`
    /// ([`RedisRevocations::proof_replay`](crate::RedisRevocations::proof_replay)).
    pub(crate) fn new(connection: Connection, prefix: String) -> Self {
        RedisProofReplay {
            connection,
            prefix,
            timeout: Duration::from_secs(1),
            breaker: Breaker::new(),
        }
    }
}

impl ProofReplayCache for RedisProofReplay {
    fn first_use(&self, _jkt: &str, key: ProofKey, now: u64, expires_at: u64) -> FirstUse<'_> {
        let mut connection = self.connection.clone();
        let mut name = String::with_capacity(self.prefix.len() + 69);
        name.push_str(&self.prefix);
        name.push_str("dpop:");
        for byte in key.0 {
            name.push_str(&format!("{byte:02x}"));
        }
        let timeout = self.timeout;
        let breaker = self.breaker.clone();
        // Relative to the validator's clock, which judged the proof's window: Redis's own clock
        // (which `EXAT` would read) may disagree.
        let ttl = expires_at.saturating_sub(now).max(1);
        Box::pin(async move {
            if !breaker.closed() {
                return Err(ReplayCacheError::Unavailable {
                    source: "Redis failed to answer less than 500 ms ago".into(),
                });
            }
            let mut command = redis::cmd("SET");
            command.arg(&name).arg(1).arg("NX").arg("EX").arg(ttl);
            let set = command.query_async::<Option<String>>(&mut connection);
            match tokio::time::timeout(timeout, set).await {
                Ok(Ok(reply)) => Ok(reply.is_some()),
                Ok(Err(error)) => {
                    breaker.trip();
                    Err(ReplayCacheError::Unavailable {
                        source: error.into(),
                    })
                }
                Err(_) => {
                    breaker.trip();
                    Err(ReplayCacheError::Unavailable {
                        source: "no answer within 1 s".into(),
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a failure, Redis is not asked for the pause, then is again; clones share it.
    #[tokio::test(start_paused = true)]
    async fn a_failure_refuses_at_once_for_half_a_second() {
        let breaker = Breaker::new();
        let clone = breaker.clone();
        assert!(breaker.closed());
        breaker.trip();
        assert!(!breaker.closed());
        assert!(!clone.closed());
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!clone.closed());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(breaker.closed());
        assert!(clone.closed());
    }
}
