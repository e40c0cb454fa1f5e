//! DPoP proofs seen by any replica of the fleet: one `SET NX` per DPoP request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use warden::dpop::{FirstUse, ProofKey, ProofReplayCache, ReplayCacheError};

use crate::connection::Connection;

/// A [`ProofReplayCache`] on Redis, shared by every replica: a proof used at one replica is a
/// replay at all the others. Each DPoP request costs one round trip (`SET key 1 NX EX`, the expiry counted from this server's clock); a
/// key expires with its proof's window, so Redis holds only the proofs still acceptable. When
/// Redis cannot answer, the proof is refused (503 `Retry-After`), never accepted unchecked; for
/// half a second after such a failure the next proofs are refused at once rather than each
/// waiting up to the 1 s timeout (a Redis outage would otherwise hold every DPoP request that
/// long), then one request asks Redis while the others are still refused, and its answer
/// decides.
///
/// Made from the fleet's [`RedisRevocations`](crate::RedisRevocations), so both share one
/// Redis, prefix and TLS setup:
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

/// After Redis failed to answer, refuses at once for [`Breaker::PAUSE`]; then lets one request
/// ask Redis (the probe) while the others are still refused, and closes when it succeeds or
/// pauses again when it fails. Shared by clones.
#[derive(Clone)]
struct Breaker {
    origin: tokio::time::Instant,
    /// Milliseconds since `origin` until which requests are refused without asking Redis;
    /// 0 while closed.
    open_until_ms: Arc<AtomicU64>,
    /// Whether a probe is asking Redis now.
    probing: Arc<AtomicBool>,
}

/// What the breaker lets a request do.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// Ask Redis.
    Ask,
    /// Ask Redis as the probe: report how it went.
    Probe,
    /// Refuse without asking.
    Refuse,
}

impl Breaker {
    const PAUSE: Duration = Duration::from_millis(500);

    fn new() -> Breaker {
        Breaker {
            origin: tokio::time::Instant::now(),
            open_until_ms: Arc::new(AtomicU64::new(0)),
            probing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn pass(&self) -> Pass {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return Pass::Ask;
        }
        if self.now_ms() < until {
            return Pass::Refuse;
        }
        match self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Pass::Probe,
            Err(_) => Pass::Refuse,
        }
    }

    /// Redis answered: close.
    fn succeeded(&self) {
        self.open_until_ms.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }

    /// Redis failed to answer: refuse at once for the pause.
    fn trip(&self) {
        let until = self.now_ms() + Self::PAUSE.as_millis() as u64;
        self.open_until_ms.fetch_max(until.max(1), Ordering::AcqRel);
        self.probing.store(false, Ordering::Release);
    }
}

/// The request that probes Redis for the breaker. Dropped without an answer (its request was
/// cancelled, a client gone), it counts as a failure, so that another request probes after the
/// pause rather than none ever again.
struct Probe(Option<Breaker>);

impl Probe {
    fn succeeded(mut self) {
        if let Some(breaker) = self.0.take() {
            breaker.succeeded();
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(breaker) = self.0.take() {
            breaker.trip();
        }
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
    /// On the Redis, prefix and TLS settings of `revocations`
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
            let probe = match breaker.pass() {
                Pass::Refuse => {
                    return Err(ReplayCacheError::Unavailable {
                        source: "Redis failed to answer less than 500 ms ago".into(),
                    });
                }
                Pass::Probe => Some(Probe(Some(breaker.clone()))),
                Pass::Ask => None,
            };
            let mut command = redis::cmd("SET");
            command.arg(&name).arg(1).arg("NX").arg("EX").arg(ttl);
            let set = command.query_async::<Option<String>>(&mut connection);
            match tokio::time::timeout(timeout, set).await {
                Ok(Ok(reply)) => {
                    if let Some(probe) = probe {
                        probe.succeeded();
                    }
                    Ok(reply.is_some())
                }
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

    /// After a failure, Redis is not asked for the pause; then one request probes while the
    /// others are refused; a failed probe pauses again, a good one closes. Clones share it.
    #[tokio::test(start_paused = true)]
    async fn a_failure_refuses_at_once_then_one_request_probes() {
        let breaker = Breaker::new();
        let clone = breaker.clone();
        assert_eq!(breaker.pass(), Pass::Ask);
        breaker.trip();
        assert_eq!(breaker.pass(), Pass::Refuse);
        assert_eq!(clone.pass(), Pass::Refuse);
        tokio::time::advance(Duration::from_millis(499)).await;
        assert_eq!(clone.pass(), Pass::Refuse);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(clone.pass(), Pass::Probe);
        assert_eq!(breaker.pass(), Pass::Refuse, "one probe at a time");
        clone.trip();
        assert_eq!(breaker.pass(), Pass::Refuse);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(breaker.pass(), Pass::Probe);
        breaker.succeeded();
        assert_eq!(breaker.pass(), Pass::Ask);
        assert_eq!(clone.pass(), Pass::Ask);
    }

    /// A probe whose request is cancelled before Redis answers counts as a failure: after the
    /// pause another request probes (never none again).
    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_lets_another_probe_after_the_pause() {
        let breaker = Breaker::new();
        breaker.trip();
        tokio::time::advance(Breaker::PAUSE).await;
        assert_eq!(breaker.pass(), Pass::Probe);
        drop(Probe(Some(breaker.clone())));
        assert_eq!(breaker.pass(), Pass::Refuse);
        tokio::time::advance(Breaker::PAUSE).await;
        assert_eq!(breaker.pass(), Pass::Probe);
        Probe(Some(breaker.clone())).succeeded();
        assert_eq!(breaker.pass(), Pass::Ask);
    }
}
