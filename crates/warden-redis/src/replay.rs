//! DPoP proofs seen by any replica of the fleet: one `SET NX` per DPoP request.

use std::fmt;
use std::time::Duration;

use warden::dpop::{FirstUse, ProofKey, ProofReplayCache, ReplayCacheError};

use crate::connection::Connection;

/// A [`ProofReplayCache`] on Redis, shared by every replica: a proof used at one replica is a
/// replay at all the others. Each DPoP request costs one round trip (`SET key 1 NX EX`, the expiry counted from this server's clock); a
/// key expires with its proof's window, so Redis holds only the proofs still acceptable. When
/// Redis cannot answer, the proof is refused (503 `Retry-After`), never accepted unchecked.
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
        // Relative to the validator's clock, which judged the proof's window: Redis's own clock
        // (which `EXAT` would read) may disagree.
        let ttl = expires_at.saturating_sub(now).max(1);
        Box::pin(async move {
            let mut command = redis::cmd("SET");
            command.arg(&name).arg(1).arg("NX").arg("EX").arg(ttl);
            let set = command.query_async::<Option<String>>(&mut connection);
            match tokio::time::timeout(timeout, set).await {
                Ok(Ok(reply)) => Ok(reply.is_some()),
                Ok(Err(error)) => Err(ReplayCacheError::Unavailable {
                    source: error.into(),
                }),
                Err(_) => Err(ReplayCacheError::Unavailable {
                    source: "no answer within 1 s".into(),
                }),
            }
        })
    }
}
