//! [`JwksCacheBuilder`]: a key cache configured, and checked once when built.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::algorithm::Algorithm;
use arc_swap::ArcSwapOption;
use tokio::sync::{Notify, watch};

use crate::algorithm::DEFAULT_ALGORITHMS;
use crate::error::{ConfigError, Setting};
use crate::keys::KeysUnavailable;
use crate::url::{check_fetch_url, check_issuer_url};

use super::discovery::discovery_url;
use super::{Config, DEFAULT_COOLDOWN, FIRST_BACKOFF, Gate, Inner, JwksCache, MAX_KEYS, Outcome};

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

impl JwksCacheBuilder {
    pub(super) fn new(issuer: String) -> Self {
        JwksCacheBuilder {
            issuer,
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
                fetched_at: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}
