//! Keys fetched from the issuer: OpenID Connect discovery, then the JWKS, cached and refreshed.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::algorithm::Algorithm;
use crate::fetch::{BodyError, read_capped};
use arc_swap::ArcSwapOption;
use http::header;
use tokio::sync::{Notify, watch};

use super::{BoxFuture, KeySet, KeySource, KeysUnavailable, Refresh, jwk};
use crate::algorithm::DEFAULT_ALGORITHMS;
use crate::error::{ConfigError, Setting};
use crate::json;
use crate::url::{check_fetch_url, check_issuer_url};

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

/// Configures a [`JwksCache`]; see [`JwksCache::builder`].
#[must_use]
#[derive(Debug)]
pub struct JwksCacheBuilder {
    issuer: String,
    discovery_url: Option<String>,
    jwks_uri: Option<String>,
    client: Option<reqwest::Client>,
    ttl: Option<Duration>,
    cooldown: Duration,
    connect_timeout: Duration,
    fetch_timeout: Duration,
    algorithms: Vec<Algorithm>,
    max_keys: usize,
}

impl JwksCache {
    /// Starts configuring the keys of `issuer`, found by discovery at
    /// `{issuer}/.well-known/openid-configuration` (RFC 8414's `oauth-authorization-server` as a
    /// fallback). The discovery document's `issuer` must equal `issuer` exactly.
    pub fn builder(issuer: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder {
            issuer: issuer.into(),
            discovery_url: None,
            jwks_uri: None,
            client: None,
            ttl: None,
            cooldown: DEFAULT_COOLDOWN,
            connect_timeout: Duration::from_secs(3),
            fetch_timeout: Duration::from_secs(10),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            max_keys: MAX_KEYS,
        }
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
        let task = refresher(Arc::downgrade(self), self.wake.clone());
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

/// The refresher: one task per cache. It sleeps until a request wakes it or the keys are due,
/// fetches, installs, publishes the outcome, and sleeps again. It holds the cache only weakly, so
/// dropping the cache ends it (the cache wakes it on drop).
async fn refresher(cache: Weak<Inner>, wake: Arc<Notify>) {
    let mut due: Option<Instant> = None;
    let mut failures = 0u32;
    loop {
        let woken = match due {
            Some(due) => tokio::time::timeout_at(due, wake.notified()).await.is_ok(),
            None => {
                wake.notified().await;
                true
            }
        };
        let Some(inner) = cache.upgrade() else {
            return;
        };
        {
            let mut gate = inner.gate();
            if woken && !gate.fetching {
                // A wake-up left over from a fetch that already ran: nothing was asked for.
                continue;
            }
            // Due: the scheduled refresh, which requests may join like any other.
            if !gate.fetching {
                gate.fetching = true;
                gate.fetching_since = Some(Instant::now());
            }
        }
        let (result, next) = inner.fetch_once(&mut failures).await;
        due = Some(Instant::now() + next.max(Duration::from_millis(10)));
        // Published under the same lock that ends the fetch: a request that finds no fetch under
        // way always comes after this outcome, and waits for the next one, which it starts.
        let mut gate = inner.gate();
        gate.fetching = false;
        gate.fetching_since = None;
        gate.retry_at = result.is_err().then(|| Instant::now() + next);
        inner.outcomes.send_modify(|outcome| {
            outcome.fetch += 1;
            outcome.result = result;
        });
        drop(gate);
    }
}

struct Fetched {
    set: KeySet,
    max_age: Option<Duration>,
    jwks_uri: String,
}

/// Why a fetch was refused; logged, never sent to a caller.
#[derive(Debug)]
enum FetchError {
    Connect,
    Timeout,
    Status(u16),
    ContentType,
    TooLarge,
    NotJson,
    TooManyKeys { max: usize },
    EmptyKeySet,
    MissingJwksUri,
    InsecureJwksUri,
    WrongIssuer { expected: String, found: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect => f.write_str("connection failed"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::Status(code) => write!(f, "answered HTTP {code}"),
            FetchError::ContentType => f.write_str("answered a content type other than JSON"),
            FetchError::TooLarge => write!(f, "answered more than {MAX_BODY_BYTES} bytes"),
            FetchError::NotJson => {
                f.write_str("answered a document that is not a strict JSON key set")
            }
            FetchError::TooManyKeys { max } => write!(f, "answered more than {max} keys"),
            FetchError::EmptyKeySet => f.write_str("answered no usable key"),
            FetchError::MissingJwksUri => f.write_str("discovery document has no jwks_uri"),
            FetchError::InsecureJwksUri => {
                f.write_str("jwks_uri is not https (http is only allowed for loopback hosts)")
            }
            FetchError::WrongIssuer { expected, found } => write!(
                f,
                "discovery document names issuer {found:?}, expected {expected:?}; document discarded"
            ),
        }
    }
}

/// What warden reads from a discovery document.
struct Discovered {
    jwks_uri: String,
    /// Kept only when it is https (http on loopback); it is sent to clients in challenges.
    authorization_endpoint: Option<String>,
}

/// Reads a discovery document: its `issuer` must equal `expected` exactly (OIDC Discovery §4.3,
/// RFC 8414 §3.3), and its `jwks_uri` must be https (http only on loopback).
fn parse_discovery(body: &[u8], expected: &str) -> Result<Discovered, FetchError> {
    let document = json::parse_object(body).map_err(|_| FetchError::NotJson)?;
    let issuer = document
        .get("issuer")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if issuer != expected {
        return Err(FetchError::WrongIssuer {
            expected: expected.to_owned(),
            found: issuer.chars().take(200).collect(),
        });
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or(FetchError::MissingJwksUri)?;
    check_fetch_url(jwks_uri, Setting::JwksUri).map_err(|_| FetchError::InsecureJwksUri)?;
    let authorization_endpoint = document
        .get("authorization_endpoint")
        .and_then(|v| v.as_str())
        .filter(|url| is_sendable_endpoint(url, expected))
        .map(str::to_owned);
    Ok(Discovered {
        jwks_uri: jwks_uri.to_owned(),
        authorization_endpoint,
    })
}

/// Whether an authorization endpoint may be named to clients in a challenge: an absolute https URL
/// (plain http only when the issuer itself is on loopback), without userinfo, made only of the
/// characters a challenge parameter may hold (RFC 6750 §3), so it is sent exactly as published.
fn is_sendable_endpoint(url: &str, issuer: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let issuer_on_loopback = issuer
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(crate::url::is_loopback_host))
        .unwrap_or(false);
    let scheme_ok = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => issuer_on_loopback && uri.host().is_some_and(crate::url::is_loopback_host),
        _ => false,
    };
    let no_userinfo = uri.authority().is_some_and(|a| !a.as_str().contains('@'));
    let plain = url
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
    scheme_ok && no_userinfo && plain && !url.contains('#')
}

/// Fuzzing entry point: whether a discovery document is accepted for `expected`.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_discovery(body: &[u8], expected: &str) -> Option<String> {
    parse_discovery(body, expected).ok().map(|d| d.jwks_uri)
}

/// `Cache-Control: max-age=N`; `no-store` or `no-cache` count as 0 (then clamped up).
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            return secs.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    None
}

/// Exponential backoff with jitter: 2 s, 4 s, 8 s … capped at 5 min, plus up to 25%.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    base + base.mul_f64(f64::from(byte[0]) / 255.0 * 0.25)
}

/// RFC 8414 §3: `https://host/.well-known/oauth-authorization-server{path}`.
fn rfc8414_url(issuer: &str) -> Option<String> {
    let uri: http::Uri = issuer.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let path = uri.path().trim_end_matches('/');
    Some(format!(
        "{scheme}://{authority}/.well-known/oauth-authorization-server{path}"
    ))
}

/// OIDC Discovery §4: the issuer, any terminating `/` removed, plus the well-known path.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl JwksCacheBuilder {
    /// Uses this discovery URL instead of `{issuer}/.well-known/openid-configuration` (for
    /// Microsoft Entra's multi-tenant `common` endpoint, whose issuer is templated).
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.discovery_url = Some(url.into());
        self
    }

    /// Skips discovery and fetches keys from this URL.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Uses the application's own HTTP client (proxy, roots, pooling). Its redirect policy and
    /// timeouts are the application's to set; warden still bounds each wait and body.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Fixes the freshness of fetched keys, ignoring `Cache-Control`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the minimum time between fetches caused by unknown `kid`s (default 60 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the connect timeout (default 3 s) and the whole-fetch timeout, which also bounds how
    /// long a request waits for keys (default 10 s).
    pub fn timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.fetch_timeout = total;
        self
    }

    /// The algorithms whose keys are kept (default all asymmetric ones).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Sets the most keys a JWKS may hold (default [`MAX_KEYS`], 100; between 1 and 1,000). A
    /// larger answer is a failed fetch, and the last good keys stay. Each key costs about 550
    /// bytes once loaded and about 2.5 KB once it has verified a token (docs/performance.md).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Checks the configuration. Nothing is fetched until a token needs a key, or
    /// [`JwksCache::prefetch`] is called.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an issuer, discovery or JWKS URL that is not https (http only for
    /// loopback hosts), a zero timeout, a key cap outside 1..=1000, or an HTTP client that
    /// cannot be built.
    pub fn build(self) -> Result<JwksCache, ConfigError> {
        let discovery_url = self
            .discovery_url
            .unwrap_or_else(|| discovery_url(&self.issuer));
        if !self.issuer.contains("{tenantid}") {
            check_issuer_url(&self.issuer, Setting::Issuer)?;
        }
        check_fetch_url(&discovery_url, Setting::DiscoveryUrl)?;
        if let Some(uri) = &self.jwks_uri {
            check_fetch_url(uri, Setting::JwksUri)?;
        }
        if self.ttl.is_some_and(|ttl| ttl.is_zero()) {
            return Err(ConfigError::invalid(
                Setting::JwksTtl,
                "must be greater than zero",
            ));
        }
        if !(1..=1000).contains(&self.max_keys) {
            return Err(ConfigError::invalid(
                Setting::MaxKeys,
                "must be between 1 and 1000",
            ));
        }
        if self.fetch_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConfigError::invalid(
                Setting::Timeouts,
                "must be greater than zero",
            ));
        }
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .timeout(self.fetch_timeout)
                .build()
                .map_err(|_| ConfigError::invalid(Setting::HttpClient, "cannot be built"))?,
        };
        Ok(JwksCache {
            inner: Arc::new(Inner {
                config: Config {
                    expected_issuer: self.issuer,
                    discovery_url,
                    jwks_uri: self.jwks_uri,
                    ttl: self.ttl,
                    cooldown: self.cooldown,
                    fetch_timeout: self.fetch_timeout,
                    algorithms: self.algorithms,
                    max_keys: self.max_keys,
                },
                client,
                snapshot: ArcSwapOption::empty(),
                gate: Mutex::new(Gate::default()),
                wake: Arc::new(Notify::new()),
                outcomes: watch::channel(Outcome {
                    fetch: 0,
                    result: Err(KeysUnavailable {
                        retry_after: FIRST_BACKOFF,
                    }),
                })
                .0,
                known_jwks_uri: Mutex::new(None),
                authorization_endpoint: ArcSwapOption::empty(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_only_a_sendable_authorization_endpoint_of_the_expected_issuer() {
        let issuer = "https://login.example.com";
        let doc = |endpoint: &str| {
            format!(
                r#"{{"issuer":"{issuer}","jwks_uri":"https://login.example.com/keys","authorization_endpoint":{endpoint}}}"#
            )
        };
        let endpoint = |endpoint: &str| {
            parse_discovery(doc(endpoint).as_bytes(), issuer)
                .unwrap()
                .authorization_endpoint
        };
        assert_eq!(
            endpoint(r#""https://login.example.com/authorize""#).as_deref(),
            Some("https://login.example.com/authorize")
        );
        for refused in [
            r#""http://login.example.com/authorize""#,
            r#""http://127.0.0.1/authorize""#,
            r#""https://user@login.example.com/authorize""#,
            r#""https://login.example.com/a\"b""#,
            r#""https://login.example.com/a b""#,
            r#""https://login.example.com/authorize#x""#,
            r#""/authorize""#,
            r#""javascript:alert(1)""#,
            "7",
            "null",
        ] {
            assert_eq!(endpoint(refused), None, "{refused}");
        }
        // On loopback (a development issuer), plain http on loopback is fine.
        let local = r#"{"issuer":"http://127.0.0.1:9","jwks_uri":"http://127.0.0.1:9/keys","authorization_endpoint":"http://127.0.0.1:9/authorize"}"#;
        assert_eq!(
            parse_discovery(local.as_bytes(), "http://127.0.0.1:9")
                .unwrap()
                .authorization_endpoint
                .as_deref(),
            Some("http://127.0.0.1:9/authorize")
        );
        // Another issuer's document is refused whole, endpoint and all.
        assert!(
            parse_discovery(
                doc(r#""https://x.example/a""#).as_bytes(),
                "https://other.example"
            )
            .is_err()
        );
    }

    #[test]
    fn builds_discovery_urls() {
        assert_eq!(
            discovery_url("https://as.example.com/t1/"),
            "https://as.example.com/t1/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc8414_url("https://as.example.com/t1").unwrap(),
            "https://as.example.com/.well-known/oauth-authorization-server/t1"
        );
    }

    #[test]
    fn reads_max_age() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=300".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(300)));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
        headers.insert(header::CACHE_CONTROL, "public".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn backs_off_exponentially_with_a_cap() {
        assert!(backoff(1) >= Duration::from_secs(2) && backoff(1) <= Duration::from_millis(2500));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(40) <= MAX_BACKOFF.mul_f64(1.25));
    }

    #[test]
    fn refuses_plain_http_discovery_for_remote_hosts() {
        let err = JwksCache::builder("http://login.example.com")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "issuer");
        assert!(JwksCache::builder("http://127.0.0.1:1").build().is_ok());
    }
}
