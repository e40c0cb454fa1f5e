//! Keys fetched from the issuer: OpenID Connect discovery, then the JWKS, cached and refreshed.
//!
//! [`JwksCache`] and its shared state are here; the background refresher, discovery and the
//! builder have a file each.

mod builder;
mod discovery;
mod refresher;

pub use builder::JwksCacheBuilder;
#[cfg(feature = "fuzzing")]
pub(crate) use discovery::fuzz_discovery;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::algorithm::Algorithm;
use crate::fetch::{BodyError, read_capped};
use arc_swap::ArcSwapOption;
use http::header;
use tokio::sync::{Notify, watch};

use crate::keys::{BoxFuture, KeySet, KeySource, KeysUnavailable, Refresh, jwk};

use discovery::{FetchError, Fetched, parse_discovery, rfc8414_url};
use refresher::{backoff, max_age};

/// Freshness when the JWKS response says nothing (`Cache-Control: max-age` absent): 12 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
/// The shortest freshness taken from `Cache-Control`: 5 minutes.
pub const MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// The longest freshness taken from `Cache-Control`: 24 hours.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most one fetch per cooldown because of unknown `kid`s: 60 seconds.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);
/// The cap on a discovery or JWKS response body: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The cap on the number of keys in a JWKS unless told otherwise ([`JwksCacheBuilder::max_keys`]).
pub const MAX_KEYS: usize = 100;

const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// An issuer's signing keys, fetched by discovery and JWKS, cached per issuer.
///
/// - The request path reads an immutable [`KeySet`] through an atomic pointer: no lock.
/// - A `kid` the set lacks starts at most one fetch per cooldown (default 60 s); every request
///   waiting for it shares that one fetch, and waits at most the fetch timeout. Within the
///   cooldown, an unknown `kid` is refused at once, with no fetch.
/// - Freshness comes from `Cache-Control: max-age`, clamped to [5 min, 24 h] (default 12 h);
///   an explicit [`ttl`](JwksCacheBuilder::ttl) wins. Keys are refreshed in the background before
///   they go stale, and a refreshed set replaces the old one whole (a retired key is gone).
/// - A failed or invalid fetch (an error status, a timeout, garbage, HTML, an empty set, the wrong
///   issuer) never replaces good keys: the last good set keeps serving, a warning is logged, and
///   retries back off exponentially with jitter.
/// - Fetches: no redirects, connect and total timeouts, 1 MiB body cap, 100-key cap,
///   `application/json` or `application/jwk-set+json` only; `jwks_uri` must be https (http only on
///   loopback). Nothing is fetched for an issuer that is not configured.
///
/// # Example
///
/// ```
/// use warden::{Issuer, keys::JwksCache};
///
/// let keys = JwksCache::builder("https://login.example.com/tenant-a").build()?;
/// let issuer = Issuer::builder("https://login.example.com/tenant-a")
///     .audience("api://orders")
///     .keys(keys)
///     .build()?;
/// # Ok::<(), warden::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    client: reqwest::Client,
    /// The keys requests read, lock-free; only the refresher writes it.
    snapshot: ArcSwapOption<KeySet>,
    /// When a fetch may start, and whether one is under way. Never held across I/O or an await.
    gate: Mutex<Gate>,
    /// The `jwks_uri` discovery found, until a fetch fails.
    known_jwks_uri: Mutex<Option<String>>,
    /// The `authorization_endpoint` discovery found (https, or http on loopback).
    authorization_endpoint: ArcSwapOption<String>,
    /// When the current key set was fetched, in Unix seconds (0: never).
    fetched_at: std::sync::atomic::AtomicU64,
    /// Wakes the refresher for a fetch that a request asked for.
    wake: Arc<Notify>,
    /// Each finished fetch's outcome, for the requests waiting on it.
    outcomes: watch::Sender<Outcome>,
}

struct Config {
    expected_issuer: String,
    discovery_url: String,
    jwks_uri: Option<String>,
    ttl: Option<Duration>,
    cooldown: Duration,
    fetch_timeout: Duration,
    algorithms: Vec<Algorithm>,
    max_keys: usize,
}

/// The outcome of the refresher's latest fetch, numbered.
#[derive(Clone)]
struct Outcome {
    fetch: u64,
    result: Result<Arc<KeySet>, KeysUnavailable>,
}

/// What requests and the refresher share about fetching.
#[derive(Default)]
struct Gate {
    /// The refresher task (one per cache), spawned on the first fetch.
    refresher: Option<tokio::task::JoinHandle<()>>,
    /// A fetch is under way, or asked for: requests join it instead of asking again.
    fetching: bool,
    /// When the fetch under way was asked for or started.
    fetching_since: Option<Instant>,
    /// The last fetch caused by an unknown `kid`, for the cooldown.
    last_kid_refresh: Option<Instant>,
    /// Back-off after failed fetches: no fetch on demand before this.
    retry_at: Option<Instant>,
}

impl Drop for Inner {
    /// Wakes the refresher so it sees the cache is gone and ends.
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("issuer", &self.inner.config.expected_issuer)
            .field("discovery_url", &self.inner.config.discovery_url)
            .field(
                "keys",
                &self.inner.snapshot.load().as_ref().map(|s| s.len()),
            )
            .finish_non_exhaustive()
    }
}
impl JwksCache {
    /// Starts configuring the keys of `issuer`, found by discovery at
    /// `{issuer}/.well-known/openid-configuration` (RFC 8414's `oauth-authorization-server` as a
    /// fallback). The discovery document's `issuer` must equal `issuer` exactly.
    pub fn builder(issuer: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder::new(issuer.into())
    }

    /// Fetches now and waits for the keys, so a service can load them before taking traffic.
    ///
    /// # Errors
    ///
    /// [`KeysUnavailable`] if the fetch failed (the cache keeps retrying in the background).
    pub async fn prefetch(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        match self.inner.ask(true) {
            Refresh::Pending(fetch) => fetch.await,
            Refresh::NotNow { retry_after } => match self.inner.snapshot.load_full() {
                Some(set) => Ok(set),
                None => Err(KeysUnavailable {
                    retry_after: retry_after.unwrap_or(FIRST_BACKOFF),
                }),
            },
        }
    }
}

impl KeySource for JwksCache {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.inner.snapshot.load_full()
    }

    fn refresh(&self) -> Refresh {
        self.inner.ask(false)
    }

    fn fetched_at(&self) -> Option<std::time::SystemTime> {
        match self
            .inner
            .fetched_at
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            secs => Some(std::time::UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    fn authorization_endpoint(&self) -> Option<Arc<str>> {
        self.inner
            .authorization_endpoint
            .load_full()
            .map(|url| Arc::from(url.as_str()))
    }
}

/// The refresh machinery, in two parts:
///
/// - **requests** ([`Inner::ask`]) decide whether a fetch may start now (back-off after failures;
///   the cooldown for fetches caused by an unknown `kid`), wake the refresher, and wait for the
///   next outcome, or join the fetch under way;
/// - **the refresher** ([`refresher`]), one task per cache, fetches when woken or when the keys are
///   due (at 90 % of their freshness, or after the back-off), swaps the new set into the snapshot,
///   and publishes the outcome to every waiter.
impl Inner {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request's ask for fresher keys. Only fetches caused by an unknown `kid` (`forced` false,
    /// keys loaded) count against the cooldown; the first load and scheduled refreshes do not.
    fn ask(self: &Arc<Self>, forced: bool) -> Refresh {
        let mut gate = self.gate();
        if !self.ensure_refresher(&mut gate) {
            return Refresh::NotNow {
                retry_after: Some(FIRST_BACKOFF),
            };
        }
        // Subscribed before the refresher can publish, so the outcome cannot be missed.
        let outcomes = self.outcomes.subscribe();
        if gate.fetching {
            return Refresh::Pending(self.wait(outcomes));
        }
        let now = Instant::now();
        if let Some(retry_at) = gate.retry_at
            && now < retry_at
        {
            return Refresh::NotNow {
                retry_after: Some(retry_at - now),
            };
        }
        let loaded = self.snapshot.load().is_some();
        if !forced && loaded {
            if let Some(last) = gate.last_kid_refresh
                && now.duration_since(last) < self.config.cooldown
            {
                return Refresh::NotNow {
                    retry_after: Some(self.config.cooldown - now.duration_since(last)),
                };
            }
            gate.last_kid_refresh = Some(now);
        }
        gate.fetching = true;
        gate.fetching_since = Some(now);
        self.wake.notify_one();
        Refresh::Pending(self.wait(outcomes))
    }

    /// Spawns the refresher if it is not running (first use, or its runtime went away). False
    /// without a tokio runtime to run it on.
    fn ensure_refresher(self: &Arc<Self>, gate: &mut Gate) -> bool {
        // A fetch asked for long past its deadline means the refresher is not running: its
        // runtime is no longer driven (a start-up runtime kept after `block_on(prefetch())`), or
        // it is stuck. Start another here, on the runtime of this request.
        let stuck = gate.fetching
            && gate.fetching_since.is_some_and(|since| {
                since.elapsed() > self.config.fetch_timeout + Duration::from_secs(1)
            });
        if stuck && let Some(task) = gate.refresher.take() {
            tracing::warn!(
                issuer = %self.config.expected_issuer,
                "signing key refresher did not answer in time; starting another"
            );
            task.abort();
        }
        if gate
            .refresher
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("warden key fetch needs a tokio runtime");
            return false;
        };
        // A refresher that ended mid-fetch left no one to finish it.
        gate.fetching = false;
        let task = refresher::refresher(Arc::downgrade(self), self.wake.clone());
        gate.refresher = Some(runtime.spawn(task));
        true
    }

    /// Waits for the next outcome, at most the fetch deadline (plus a margin for the refresher to
    /// report); the fetch itself goes on for the others.
    fn wait(
        &self,
        mut outcomes: watch::Receiver<Outcome>,
    ) -> BoxFuture<Result<Arc<KeySet>, KeysUnavailable>> {
        let limit = self.config.fetch_timeout + Duration::from_millis(250);
        let seen = outcomes.borrow_and_update().fetch;
        Box::pin(async move {
            let next = async {
                loop {
                    if outcomes.changed().await.is_err() {
                        return Err(KeysUnavailable {
                            retry_after: FIRST_BACKOFF,
                        });
                    }
                    let outcome = outcomes.borrow_and_update();
                    if outcome.fetch > seen {
                        return outcome.result.clone();
                    }
                }
            };
            tokio::time::timeout(limit, next)
                .await
                .unwrap_or(Err(KeysUnavailable {
                    retry_after: FIRST_BACKOFF,
                }))
        })
    }

    /// One fetch, start to end: discovery (unless known) and JWKS under one deadline; the new set
    /// installed, or the failure recorded. Returns the outcome and when to fetch next.
    async fn fetch_once(
        &self,
        failures: &mut u32,
    ) -> (Result<Arc<KeySet>, KeysUnavailable>, Duration) {
        let known_uri = self
            .known_jwks_uri
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // One deadline for discovery and JWKS together; a client without timeouts cannot hang it.
        let outcome =
            match tokio::time::timeout(self.config.fetch_timeout, self.fetch(known_uri)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(FetchError::Timeout),
            };
        match outcome {
            Ok(fetched) => {
                let set = match self.snapshot.load().as_deref() {
                    Some(previous) => Arc::new(fetched.set.reusing(previous)),
                    None => Arc::new(fetched.set),
                };
                self.snapshot.store(Some(set.clone()));
                *self
                    .known_jwks_uri
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(fetched.jwks_uri);
                *failures = 0;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs().max(1));
                self.fetched_at
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                crate::observability::key_fetch(&self.config.expected_issuer, Some(set.len()));
                let ttl = self.config.ttl.unwrap_or_else(|| {
                    fetched
                        .max_age
                        .map_or(DEFAULT_TTL, |age| age.clamp(MIN_TTL, MAX_TTL))
                });
                tracing::debug!(
                    issuer = %self.config.expected_issuer,
                    keys = set.len(),
                    ttl_secs = ttl.as_secs(),
                    "signing keys loaded"
                );
                // Refresh before staleness: at 90% of the freshness lifetime.
                (Ok(set), ttl.mul_f64(0.9))
            }
            Err(error) => {
                *failures = failures.saturating_add(1);
                crate::observability::key_fetch(&self.config.expected_issuer, None);
                let backoff = backoff(*failures);
                // A fetch that failed for a reason other than the document means discovery may be
                // stale too: discover again next time.
                *self
                    .known_jwks_uri
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                tracing::warn!(
                    issuer = %self.config.expected_issuer,
                    error = %error,
                    retry_in_secs = backoff.as_secs(),
                    keeping_last_good_keys = self.snapshot.load().is_some(),
                    "signing key fetch failed"
                );
                (
                    Err(KeysUnavailable {
                        retry_after: backoff,
                    }),
                    backoff,
                )
            }
        }
    }

    async fn fetch(&self, known_jwks_uri: Option<String>) -> Result<Fetched, FetchError> {
        let jwks_uri = match self.config.jwks_uri.clone().or(known_jwks_uri) {
            Some(uri) => uri,
            None => self.discover().await?,
        };
        let (body, max_age) = self
            .get(&jwks_uri, &["application/json", "application/jwk-set+json"])
            .await?;
        // One strict parse: the key count is checked on it, then the keys are read from it.
        let keys = jwk::key_array(&body).map_err(|_| FetchError::NotJson)?;
        if keys.len() > self.config.max_keys {
            return Err(FetchError::TooManyKeys {
                max: self.config.max_keys,
            });
        }
        let set = KeySet::from_keys(jwk::usable_keys(&keys, &self.config.algorithms));
        if set.is_empty() {
            return Err(FetchError::EmptyKeySet);
        }
        Ok(Fetched {
            set,
            max_age,
            jwks_uri,
        })
    }

    async fn discover(&self) -> Result<String, FetchError> {
        let accept = ["application/json"];
        let body = match self.get(&self.config.discovery_url, &accept).await {
            Ok((body, _)) => body,
            Err(FetchError::Status(404)) => match rfc8414_url(&self.config.expected_issuer) {
                Some(url) => self.get(&url, &accept).await?.0,
                None => return Err(FetchError::Status(404)),
            },
            Err(error) => return Err(error),
        };
        let discovered = parse_discovery(&body, &self.config.expected_issuer)?;
        self.authorization_endpoint
            .store(discovered.authorization_endpoint.map(Arc::new));
        Ok(discovered.jwks_uri)
    }

    /// GET with the body cap and a content-type check; returns the body and `max-age`.
    async fn get(
        &self,
        url: &str,
        accept: &[&str],
    ) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
        let mut response = self
            .client
            .get(url)
            .header(header::ACCEPT, accept.join(", "))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    FetchError::Timeout
                } else {
                    FetchError::Connect
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !accept.contains(&content_type.as_str()) {
            return Err(FetchError::ContentType);
        }
        let max_age = max_age(response.headers());
        let body =
            read_capped(&mut response, MAX_BODY_BYTES)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge => FetchError::TooLarge,
                    BodyError::Timeout => FetchError::Timeout,
                    BodyError::Connect => FetchError::Connect,
                })?;
        Ok((body, max_age))
    }
}
