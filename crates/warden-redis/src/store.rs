//! [`RedisRevocations`]: the store, its builder, its connection errors and its feed status.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warden::Principal;
use warden::cae::{
    DEFAULT_MAX_TOKEN_LIFETIME, InMemoryRevocations, Revocation, RevocationError, RevocationStore,
    Revoking, Stale,
};

use crate::connection::{Endpoint, Tls};
use crate::feed;
use crate::replay::RedisProofReplay;
use crate::rule;
use crate::state::{FeedState, Keys, Shared, SyncedAt};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "warden:";
/// How many announcements the stream keeps by default (trimmed approximately). A replica cut off
/// for longer than this many revocations loads every rule again when it reconnects.
pub const DEFAULT_STREAM_LENGTH: usize = 100_000;
/// How long a revocation waits for Redis by default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a rule is kept after its instant by default: warden's default longest token lifetime
/// (28 h 10 min), plus the largest leeway warden accepts (5 min), plus 5 min for the clocks of
/// Redis and the replicas to disagree (Redis expires keys by its own clock).
pub const DEFAULT_RULE_RETENTION: Duration =
    Duration::from_secs(DEFAULT_MAX_TOKEN_LIFETIME.as_secs() + 300 + 300);

/// Writes a rule unless an equal or later one is there, indexes it, and announces it,
/// atomically. The index is kept right by Redis's own clock (`TIME`): an identity whose key is
/// there is indexed with the key's expiry even when nothing changes (a key an older version
/// wrote), and identities whose rules have expired are dropped.
/// KEYS: rule key, stream, index. ARGV: instant, expiry (unix seconds), identity, stream length.
const REVOKE_SCRIPT: &str = r"
local now = tonumber(redis.call('TIME')[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[1]) then
  local ttl = tonumber(redis.call('PTTL', KEYS[1]))
  if ttl > 0 then
    redis.call('ZADD', KEYS[3], now + math.ceil(ttl / 1000), ARGV[3])
  end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'rule', ARGV[3], 'before', ARGV[1])
return 1
";
/// Configures a [`RedisRevocations`]; made by [`RedisRevocations::builder`].
#[derive(Clone)]
pub struct RedisRevocationsBuilder {
    deployment: Deployment,
    prefix: String,
    rule_retention: Duration,
    stream_length: usize,
    write_timeout: Duration,
    fail_closed_after: Option<Duration>,
    replicas: usize,
    tls_roots: Option<Vec<u8>>,
    tls_identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Where the rules live: one server's URL, or a cluster's seed nodes.
#[derive(Clone)]
enum Deployment {
    Server(String),
    Cluster(Vec<String>),
}

impl fmt::Debug for RedisRevocationsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may hold a password: never printed.
        let deployment = match &self.deployment {
            Deployment::Server(_) => "server",
            Deployment::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisRevocationsBuilder")
            .field("deployment", &deployment)
            .field("prefix", &self.prefix)
            .field("rule_retention", &self.rule_retention)
            .field("stream_length", &self.stream_length)
            .field("write_timeout", &self.write_timeout)
            .field("fail_closed_after", &self.fail_closed_after)
            .field("replicas", &self.replicas)
            .field("tls_roots", &self.tls_roots.is_some())
            .field("tls_identity", &self.tls_identity.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisRevocationsBuilder {
    /// Every key this store writes starts with `prefix` (default `warden:`), so several APIs
    /// share one Redis. Replicas of one API use the same prefix. On a cluster the prefix is also
    /// the hash tag of the rule keys (`{orders-api:}rule:…`): it must not be empty or hold a
    /// brace ([`ConnectError::InvalidPrefix`]).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a rule is kept, in Redis and in every replica, after its instant (default
    /// [`DEFAULT_RULE_RETENTION`]). It must cover the validator's longest token lifetime plus its
    /// leeway: the validator refuses to build with a store that keeps rules for less.
    pub fn rule_retention(mut self, retention: Duration) -> Self {
        self.rule_retention = retention;
        self
    }

    /// How many announcements the stream keeps (default [`DEFAULT_STREAM_LENGTH`]).
    pub fn stream_length(mut self, entries: usize) -> Self {
        self.stream_length = entries.max(1);
        self
    }

    /// How long a revocation waits for Redis before failing (default 2 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Refuses every request with 503 and `Retry-After` once the replica has been cut off from
    /// the feed for longer than `bound` (at least 2 s, the feed's heartbeat being 0.5 s). Off by
    /// default: a replica cut off keeps enforcing every rule it had, and no revocation can be
    /// submitted while Redis is unreachable, so staying up is usually the safer failure. Turn
    /// it on where a partition (Redis up, this replica cut off) must not let a revoked token
    /// through for longer than `bound`.
    pub fn fail_closed_after(mut self, bound: Duration) -> Self {
        self.fail_closed_after = Some(bound.max(Duration::from_secs(2)));
        self
    }

    /// A revocation is acknowledged only once `replicas` Redis replicas hold it too (`WAIT`, for
    /// half the write timeout); otherwise it fails as unavailable, and the caller retries.
    /// Off (0) by default: Redis replicates asynchronously, so a primary that fails right after
    /// a write may lose it when a replica is promoted. With 1 or more, an acknowledged rule
    /// survives the failover to an in-sync replica (docs/fleet.md). Writes on this replica's
    /// connection wait behind the `WAIT`.
    pub fn wait_for_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// With `rediss://`, trusts these CA certificates (PEM) instead of the system's roots: for a
    /// Redis whose certificate comes from a private CA.
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// With `rediss://`, presents this client certificate and private key (PEM) to a Redis that
    /// requires them (`tls-auth-clients yes`). Never printed.
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// Connects, loads every live rule, and starts following the stream. Fails when Redis cannot
    /// be reached: a replica does not start without the fleet's rules.
    pub async fn connect(self) -> Result<RedisRevocations, ConnectError> {
        let urls = match &self.deployment {
            Deployment::Server(url) => std::slice::from_ref(url),
            Deployment::Cluster(seeds) => seeds.as_slice(),
        };
        if urls.iter().any(|url| url.starts_with("rediss:")) {
            ensure_crypto_provider();
        }
        let tls = Tls {
            roots: self.tls_roots,
            identity: self.tls_identity,
        };
        let invalid_url = |e: redis::RedisError| ConnectError::InvalidUrl {
            reason: e.to_string(),
        };
        let (endpoint, keys) = match &self.deployment {
            Deployment::Server(url) => (
                Endpoint::server(url, tls).map_err(invalid_url)?,
                Keys::new(&self.prefix),
            ),
            Deployment::Cluster(seeds) => {
                if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
                    return Err(ConnectError::InvalidPrefix {
                        reason: "on a Redis Cluster the prefix is the rule keys' hash tag: it \
                                 must not be empty or hold a brace",
                    });
                }
                if seeds.is_empty() {
                    return Err(ConnectError::InvalidUrl {
                        reason: "a cluster needs at least one seed node".to_owned(),
                    });
                }
                (
                    Endpoint::cluster(seeds, tls, self.write_timeout).map_err(invalid_url)?,
                    Keys::hash_tagged(&self.prefix),
                )
            }
        };
        let local = InMemoryRevocations::with_retention(self.rule_retention);
        let unreachable = |e: redis::RedisError| ConnectError::Unreachable { source: e.into() };
        let mut conn = feed::connect(&endpoint).await.map_err(unreachable)?;
        if let Some(policy) = feed::unsafe_eviction_policy(&mut conn)
            .await
            .map_err(unreachable)?
        {
            return Err(ConnectError::EvictionPolicy { policy });
        }
        let position = feed::load(&mut conn, &keys, &local)
            .await
            .map_err(unreachable)?;
        // Revocations and DPoP proofs each have a connection: a revocation's `WAIT` holds its
        // connection for up to half the write timeout, and proofs must not queue behind it.
        let writer = endpoint
            .shared(self.write_timeout, feed::RECONNECT_CEILING)
            .await
            .map_err(unreachable)?;
        let proofs = endpoint
            .shared(self.write_timeout, feed::RECONNECT_CEILING)
            .await
            .map_err(unreachable)?;
        let shared = Arc::new(Shared {
            endpoint,
            writer,
            proofs,
            keys,
            local,
            rule_retention: self.rule_retention,
            stream_length: self.stream_length,
            write_timeout: self.write_timeout,
            fail_closed_after: self.fail_closed_after,
            replicas: self.replicas,
            state: AtomicU8::new(FeedState::Current as u8),
            synced: SyncedAt::now(),
            policy_checked: SyncedAt::now(),
            feed: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(feed::run(Arc::downgrade(&shared), position, Some(conn)));
        *shared.feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(RedisRevocations { shared })
    }
}

/// Why [`RedisRevocationsBuilder::connect`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a `redis://`, `rediss://` or `unix://` URL the client understands, or the
    /// TLS certificates given are not PEM, or a cluster was given no seed node.
    InvalidUrl {
        /// What is wrong with it (the URL itself is not repeated: it may hold a password).
        reason: String,
    },
    /// The prefix cannot be a cluster's hash tag: it is empty or holds `{` or `}`.
    InvalidPrefix {
        /// Why.
        reason: &'static str,
    },
    /// Redis runs with a `maxmemory-policy` other than `noeviction`: it may evict rule keys
    /// when memory runs short, and the replicas would then miss revocations while reporting
    /// current. Set `maxmemory-policy noeviction` (docs/fleet.md).
    EvictionPolicy {
        /// The policy Redis reported.
        policy: String,
    },
    /// Redis could not be reached, refused the credentials, or failed while the rules loaded.
    Unreachable {
        /// What the client reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidUrl { reason } => write!(f, "invalid Redis URL: {reason}"),
            ConnectError::InvalidPrefix { reason } => write!(f, "invalid key prefix: {reason}"),
            ConnectError::EvictionPolicy { policy } => write!(
                f,
                "Redis may evict revocation rules: its maxmemory-policy is {policy}, not noeviction"
            ),
            ConnectError::Unreachable { source } => {
                write!(f, "could not load revocations from Redis: {source}")
            }
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Unreachable { source } => Some(&**source),
            ConnectError::InvalidUrl { .. }
            | ConnectError::InvalidPrefix { .. }
            | ConnectError::EvictionPolicy { .. } => None,
        }
    }
}

/// A revocation store shared through Redis. Cheap to clone: clones share one replica and one
/// feed, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisRevocations {
    shared: Arc<Shared>,
}
impl RedisRevocations {
    /// Configures a store on the Redis at `url`: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://` for TLS (verified against the system's roots), or `unix:///path`.
    pub fn builder(url: impl Into<String>) -> RedisRevocationsBuilder {
        Self::builder_for(Deployment::Server(url.into()))
    }

    /// Configures a store on a Redis Cluster reached through these seed nodes (any of its
    /// nodes; the client learns the rest): `["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]`.
    /// The rules, their index and their stream share one hash slot (the prefix is their hash
    /// tag), so the script that writes them runs on one node; DPoP proof keys spread over every
    /// slot. Everything else works as on one server (docs/fleet.md).
    ///
    /// ```no_run
    /// use warden_redis::RedisRevocations;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let revocations = RedisRevocations::cluster_builder([
    ///     "redis://127.0.0.1:7001",
    ///     "redis://127.0.0.1:7002",
    ///     "redis://127.0.0.1:7003",
    /// ])
    /// .prefix("orders-api:")
    /// .connect()
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster_builder<S: Into<String>>(
        seed_nodes: impl IntoIterator<Item = S>,
    ) -> RedisRevocationsBuilder {
        Self::builder_for(Deployment::Cluster(
            seed_nodes.into_iter().map(Into::into).collect(),
        ))
    }

    fn builder_for(deployment: Deployment) -> RedisRevocationsBuilder {
        RedisRevocationsBuilder {
            deployment,
            prefix: DEFAULT_PREFIX.to_owned(),
            rule_retention: DEFAULT_RULE_RETENTION,
            stream_length: DEFAULT_STREAM_LENGTH,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            fail_closed_after: None,
            replicas: 0,
            tls_roots: None,
            tls_identity: None,
        }
    }

    /// The feed's state now.
    pub fn status(&self) -> FeedStatus {
        let shared = &self.shared;
        let stale_for = shared.synced.elapsed();
        let mut state = FeedState::from_u8(shared.state.load(Ordering::Acquire));
        // A feed that proves itself every BLOCK and has not for this long is not current,
        // whatever it last said (a hung connection, or a feed task that died with its runtime).
        if stale_for > feed::SILENCE_LIMIT {
            state = FeedState::Disconnected;
        }
        FeedStatus {
            state,
            synced_at: SystemTime::now()
                .checked_sub(stale_for)
                .unwrap_or(UNIX_EPOCH),
            stale_for,
            rules: shared.local.len(),
        }
    }

    /// A DPoP replay cache for the fleet on the same Redis, prefix and TLS setup
    /// (`<prefix>dpop:<hash>` keys; a connection of its own beside the revocations'): a proof
    /// used at one replica is a replay at all the others.
    pub fn proof_replay(&self) -> RedisProofReplay {
        RedisProofReplay::new(
            self.shared.proofs.clone(),
            self.shared.keys.prefix().to_owned(),
        )
    }

    /// The local replica (read-only use: rules added here alone would not reach the fleet).
    pub fn local(&self) -> &InMemoryRevocations {
        &self.shared.local
    }

    async fn share(&self, revocation: &Revocation) -> Result<(), RevocationError> {
        let shared = &self.shared;
        let Some(identity) = rule::identity(revocation) else {
            return Err(RevocationError::Unsupported {
                reason: "a target or scope warden-redis does not know",
            });
        };
        let expires_at = revocation
            .before()
            .saturating_add(shared.rule_retention.as_secs());
        let rule_key = format!("{}{identity}", shared.keys.rule_prefix);
        // `EVAL` with the script's text, not `EVALSHA`: a revocation is rare, and a script
        // missing from a node's cache (a restart, a failover) would otherwise be loaded into
        // every node of a cluster, failing while any of them is unreachable.
        let mut script = redis::cmd("EVAL");
        script
            .arg(REVOKE_SCRIPT)
            .arg(3)
            .arg(&rule_key)
            .arg(&shared.keys.stream)
            .arg(&shared.keys.index)
            .arg(revocation.before())
            .arg(expires_at)
            .arg(&identity)
            .arg(shared.stream_length);
        // Half the write timeout: `WAIT` answers (with its count) before the connection's own
        // response timeout would end the call without one.
        let wait = (shared.replicas > 0).then(|| {
            (
                shared.replicas,
                (shared.write_timeout.as_millis() as u64 / 2).max(1),
            )
        });
        let mut writer = shared.writer.clone();
        let written = tokio::time::timeout(shared.write_timeout, async {
            match writer.write_rule(&rule_key, script.clone(), wait).await {
                // The shared connection learns that Redis restarted (or that its socket died)
                // from the first command it sends, which fails; it reconnects at once. Whether
                // or not that command reached Redis, sending it once more is safe: the script
                // leaves an equal rule as it is and announces nothing, so the revocation is
                // retried once rather than refused (a soak found the first revocation after
                // each Redis restart refused this way).
                Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                    writer.write_rule(&rule_key, script, wait).await
                }
                other => other,
            }
        })
        .await;
        match written {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(count))) if count >= shared.replicas => Ok(()),
            Ok(Ok(Some(count))) => Err(RevocationError::Unavailable {
                source: format!(
                    "{count} of the {} Redis replicas asked for hold the rule",
                    shared.replicas
                )
                .into(),
            }),
            Ok(Err(error)) => Err(RevocationError::Unavailable {
                source: error.into(),
            }),
            Err(_) => Err(RevocationError::TimedOut {
                after: shared.write_timeout,
            }),
        }
    }
}

impl RevocationStore for RedisRevocations {
    /// Enforces the rule here at once, then shares it through Redis. Fails when Redis did not
    /// take it: the rule is then enforced by this replica only, and the caller retries.
    fn revoke(&self, revocation: Revocation) -> Revoking<'_> {
        Box::pin(async move {
            if !self.shared.local.is_live(revocation.before()) {
                // No valid token can match it: nothing to enforce or share.
                return Ok(());
            }
            if rule::identity(&revocation).is_none() {
                return Err(RevocationError::Unsupported {
                    reason: "a target or scope warden-redis does not know",
                });
            }
            self.shared.local.apply(revocation.clone());
            self.share(&revocation).await
        })
    }

    fn revoked_since(&self, principal: &Principal) -> Option<u64> {
        self.shared.local.revoked_since(principal)
    }

    fn retention(&self) -> Option<Duration> {
        Some(self.shared.rule_retention)
    }

    fn ensure_current(&self) -> Result<(), Stale> {
        let Some(bound) = self.shared.fail_closed_after else {
            return Ok(());
        };
        let stale_for = self.shared.synced.elapsed();
        if stale_for <= bound {
            return Ok(());
        }
        Err(Stale::new(
            SystemTime::now()
                .checked_sub(stale_for)
                .unwrap_or(UNIX_EPOCH),
            feed::RECONNECT_CEILING,
        ))
    }
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("RedisRevocations")
            .field("stream", &self.shared.keys.stream)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// What [`RedisRevocations::status`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    state: FeedState,
    synced_at: SystemTime,
    stale_for: Duration,
    rules: usize,
}

impl FeedStatus {
    /// Connected, catching up, or cut off.
    pub fn state(&self) -> FeedState {
        self.state
    }

    /// When the replica last knew it had every rule: while connected, at most about half a
    /// second ago; while cut off, the moment the feed stopped.
    pub fn synced_at(&self) -> SystemTime {
        self.synced_at
    }

    /// How long the rules had gone without a sync when the status was read (zero when just
    /// synced), measured on the monotonic clock: a wall clock stepped backwards or forwards
    /// changes nothing.
    pub fn stale_for(&self) -> Duration {
        self.stale_for
    }

    /// Whether the replica is connected and up to date.
    pub fn is_current(&self) -> bool {
        self.state == FeedState::Current
    }

    /// The number of live rules in the local replica.
    pub fn rules(&self) -> usize {
        self.rules
    }
}

/// rustls needs a process-wide crypto provider, and cannot pick one by itself when a program's
/// dependencies enable both of its backends (then the first TLS connection panics). When none is
/// installed, install aws-lc-rs, the one warden verifies signatures with; a provider the
/// application installed is kept.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one at the same moment: either way, one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
