//! [`TokenClient`]: tokens for the API itself (client credentials) and on a user's behalf
//! (on-behalf-of), from one confidential client, cached.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::Value;
use warden::config::{Clock, SystemClock};

use crate::claims::{claims_challenge, merge_claims};
use crate::credential::ClientCredential;
use crate::error::{AcquireError, CallError, classify, retry_after};

/// The public cloud's authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// How long before its expiry a cached token is refreshed, in the background, while callers
/// keep getting it.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How many tokens are cached, at most.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a failed request's answer is given to the callers that ask for the same token
/// after it, when the platform said nothing of when to retry: one request fails for all of
/// them, not one each.
const FAILURE_HOLD: Duration = Duration::from_secs(2);

/// The longest hold of a failure, whatever `Retry-After` says.
const MAX_FAILURE_HOLD: Duration = Duration::from_secs(60);

/// How many tokens acquired with a challenge's claims are kept for callers challenged alike.
const ANSWERED_CAPACITY: usize = 256;

/// The longest lifetime believed from `expires_in` (Entra's CAE tokens live up to 28 hours).
const MAX_LIFETIME: Duration = Duration::from_secs(2 * 86_400);

/// An access token for a downstream API. Its `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    token: Arc<str>,
    expires_at: SystemTime,
    /// When to refresh it ahead of expiry: Entra's `refresh_in` when it says, else the refresh
    /// margin before expiry (at most half its lifetime).
    refresh_at: SystemTime,
}

impl AccessToken {
    /// The token, for `Authorization: Bearer <token>`.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// When it expires.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("len", &self.token.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Gets tokens from the Microsoft identity platform (or any token endpoint that speaks its
/// dialect) for one confidential client: [`app_token`](Self::app_token) for the API itself,
/// [`on_behalf_of`](Self::on_behalf_of) for the user whose token warden validated. Tokens are
/// cached until [`DEFAULT_REFRESH_MARGIN`] before they expire, then refreshed in the background
/// while callers keep the cached one; concurrent requests for the same token make one request.
/// A request carrying claims (a challenge's answer) bypasses the cache. Clones share it all.
#[derive(Clone)]
pub struct TokenClient {
    inner: Arc<Inner>,
}

struct Inner {
    token_endpoint: String,
    client_id: String,
    credential: ClientCredential,
    audiences: Vec<String>,
    capabilities: Vec<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refresh_margin: Duration,
    cache: quick_cache::sync::Cache<Key, AccessToken>,
    /// Tokens acquired with a challenge's claims, by key and claims: callers challenged alike
    /// (after one revocation, every call in flight) share one request.
    answered: quick_cache::sync::Cache<(Key, String), AccessToken>,
    refreshing: Mutex<HashSet<Key>>,
    /// A failed request's answer, held for the callers after it until the deadline.
    failures: Mutex<HashMap<Key, (SystemTime, AcquireError)>>,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_endpoint", &self.inner.token_endpoint)
            .field("client_id", &self.inner.client_id)
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

/// A cached token's key: the scopes, sorted, and for an on-behalf-of token the SHA-256 of the
/// incoming token (MSAL's assertion hash: the token itself is never kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    assertion: Option<[u8; 32]>,
    scopes: String,
}

/// Configures a [`TokenClient`].
#[derive(Debug)]
#[must_use]
pub struct TokenClientBuilder {
    authority: String,
    tenant: String,
    client_id: String,
    credential: ClientCredential,
    audiences: Vec<String>,
    capabilities: Vec<String>,
    http: Option<reqwest::Client>,
    clock: Option<Arc<dyn Clock>>,
    refresh_margin: Duration,
    cache_capacity: usize,
}

impl TokenClient {
    /// A client of `tenant` (its id or domain), known as `client_id` (the API's application
    /// id), proving itself with `credential`.
    pub fn builder(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        credential: ClientCredential,
    ) -> TokenClientBuilder {
        let client_id = client_id.into();
        TokenClientBuilder {
            authority: DEFAULT_AUTHORITY.to_owned(),
            tenant: tenant.into(),
            audiences: vec![client_id.clone()],
            client_id,
            credential,
            capabilities: Vec::new(),
            http: None,
            clock: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// A token for the API itself (client credentials), for `scopes` (for an application
    /// permission, `{resource}/.default`). With a `challenge` (the claims a downstream API's
    /// claims challenge asked for: [`claims_from_challenge`](crate::claims_from_challenge)),
    /// a new token carrying them, bypassing the cache (callers asking with the same claims share
    /// one request), cached in the old one's place: call again once, then retry the call.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] by class.
    pub async fn app_token(
        &self,
        scopes: &[&str],
        challenge: Option<&Value>,
    ) -> Result<AccessToken, AcquireError> {
        let key = Key {
            assertion: None,
            scopes: sorted(scopes),
        };
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", scopes.join(" ")),
        ];
        self.acquire(key, form, challenge).await
    }

    /// Calls a downstream API as the API itself, recovering once from its CAE: `call` builds and
    /// sends the whole request with an app token for `scopes` (it may run twice, whatever the
    /// method: a `401` means the downstream API did not act); when the answer is `401` with a
    /// claims challenge (`error="insufficient_claims"`,
    /// [`claims_from_challenge`](crate::claims_from_challenge)), a new token carrying those
    /// claims is acquired (bypassing the cache, shared by the calls challenged alike, and cached
    /// in the old one's place) and `call` runs once more. That second answer is returned whatever it is, so a
    /// downstream API that keeps challenging cannot loop the caller.
    ///
    /// ```no_run
    /// # async fn run(tokens: warden_client::TokenClient) -> Result<(), warden_client::CallError> {
    /// let http = reqwest::Client::new();
    /// let answer = tokens
    ///     .call_as_app(&["api://inventory/.default"], |token| {
    ///         http.get("https://inventory.example.com/items")
    ///             .bearer_auth(token.secret())
    ///             .send()
    ///     })
    ///     .await?;
    /// # let _ = answer;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CallError::Token`] when no token could be had (first, or with the challenge's claims);
    /// [`CallError::Request`] when `call` failed.
    pub async fn call_as_app<F, Fut>(
        &self,
        scopes: &[&str],
        mut call: F,
    ) -> Result<reqwest::Response, CallError>
    where
        F: FnMut(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    {
        let token = self
            .app_token(scopes, None)
            .await
            .map_err(CallError::Token)?;
        let answer = call(token).await.map_err(CallError::Request)?;
        let Some(claims) = claims_challenge(&answer) else {
            return Ok(answer);
        };
        let token = self
            .app_token(scopes, Some(&claims))
            .await
            .map_err(CallError::Token)?;
        call(token).await.map_err(CallError::Request)
    }

    /// A token for a downstream API on behalf of the user whose access token `incoming` is (the
    /// token warden validated for this API: its `aud` must be this API's), for `scopes`. A
    /// `challenge` (the claims a downstream API's claims challenge asked for, JSON) is merged
    /// with the client's capabilities and sent, bypassing the cache.
    ///
    /// # Errors
    ///
    /// [`AcquireError::NotForThisApi`] before any request when `incoming` is not for this API;
    /// [`AcquireError::ClaimsChallenge`] when the user must satisfy more (pass it back to the
    /// caller as warden's claims challenge); the other classes as they come.
    pub async fn on_behalf_of(
        &self,
        incoming: &str,
        scopes: &[&str],
        challenge: Option<&Value>,
    ) -> Result<AccessToken, AcquireError> {
        self.check_incoming(incoming)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, incoming.as_bytes());
        let mut assertion = [0u8; 32];
        assertion.copy_from_slice(digest.as_ref());
        let key = Key {
            assertion: Some(assertion),
            scopes: sorted(scopes),
        };
        let form = vec![
            ("grant_type", JWT_BEARER.to_owned()),
            ("requested_token_use", "on_behalf_of".to_owned()),
            ("assertion", incoming.to_owned()),
            ("scope", scopes.join(" ")),
        ];
        self.acquire(key, form, challenge).await
    }

    /// What a middle tier checks before exchanging a token warden already validated: its `aud`
    /// names this API, and it is a user's (Entra exchanges no app-only token).
    fn check_incoming(&self, token: &str) -> Result<(), AcquireError> {
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|payload| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .ok_or(AcquireError::NotForThisApi)?;
        let ours = |aud: &str| self.inner.audiences.iter().any(|a| a == aud);
        let for_us = match claims.get("aud") {
            Some(Value::String(aud)) => ours(aud),
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(ours),
            _ => false,
        };
        if !for_us {
            return Err(AcquireError::NotForThisApi);
        }
        let app_only = claims.get("idtyp").and_then(Value::as_str) == Some("app")
            || (claims.get("scp").is_none() && claims.get("scope").is_none());
        if app_only {
            return Err(AcquireError::NotAUserToken);
        }
        Ok(())
    }

    /// The answer of a request for `key` that failed moments ago, if it is still held.
    fn held_failure(&self, key: &Key) -> Option<AcquireError> {
        let now = self.inner.clock.now();
        let mut failures = lock(&self.inner.failures);
        match failures.get(key) {
            Some((until, error)) if *until > now => Some(error.clone()),
            Some(_) => {
                failures.remove(key);
                None
            }
            None => None,
        }
    }

    async fn acquire(
        &self,
        key: Key,
        form: Vec<(&'static str, String)>,
        challenge: Option<&Value>,
    ) -> Result<AccessToken, AcquireError> {
        let inner = &self.inner;
        if let Some(challenge) = challenge {
            // A challenge's answer is a new token carrying its claims, never the cached one;
            // callers asking with the same claims share one request and its token.
            let asked = (key.clone(), challenge.to_string());
            loop {
                let now = inner.clock.now();
                match inner.answered.get_value_or_guard_async(&asked).await {
                    Ok(token) if token.expires_at > now => {
                        inner.cache.insert(key, token.clone());
                        return Ok(token);
                    }
                    Ok(_) => {
                        inner.answered.remove(&asked);
                    }
                    Err(guard) => {
                        let token = inner.request(form, Some(challenge)).await?;
                        let _ = guard.insert(token.clone());
                        inner.cache.insert(key, token.clone());
                        return Ok(token);
                    }
                }
            }
        }
        loop {
            let now = inner.clock.now();
            match inner.cache.get_value_or_guard_async(&key).await {
                Ok(token) if token.refresh_at > now => return Ok(token),
                Ok(token) if token.expires_at > now => {
                    self.refresh_in_background(key, form);
                    return Ok(token);
                }
                Ok(_) => {
                    inner.cache.remove_if(&key, |token| token.expires_at <= now);
                }
                Err(guard) => {
                    // Callers that waited on a request that failed get its answer, not a
                    // request each.
                    if let Some(error) = self.held_failure(&key) {
                        return Err(error);
                    }
                    // The one request for this key; the others wait for its token.
                    match inner.request(form, None).await {
                        Ok(token) => {
                            let _ = guard.insert(token.clone());
                            return Ok(token);
                        }
                        Err(error) => {
                            inner.hold_failure(key, &error);
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// Refreshes a token nearing its expiry, once at a time per key, while callers keep the
    /// cached one.
    fn refresh_in_background(&self, key: Key, form: Vec<(&'static str, String)>) {
        // A refresh that failed moments ago is not tried again at once.
        if self.held_failure(&key).is_some() || !lock(&self.inner.refreshing).insert(key.clone()) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match inner.request(form, None).await {
                Ok(token) => {
                    // Never over a newer token (a challenge's answer cached meanwhile).
                    let newer = inner
                        .cache
                        .get(&key)
                        .is_some_and(|cached| cached.expires_at > token.expires_at);
                    if !newer {
                        inner.cache.insert(key.clone(), token);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "refreshing a cached token failed");
                    inner.hold_failure(key.clone(), &error);
                }
            }
            lock(&inner.refreshing).remove(&key);
        });
    }
}

impl Inner {
    /// Holds a failed request's answer for the callers after it: until its `Retry-After`
    /// (at most a minute), else [`FAILURE_HOLD`].
    fn hold_failure(&self, key: Key, error: &AcquireError) {
        let hold = match error {
            AcquireError::Throttled { retry_after }
            | AcquireError::Unavailable { retry_after, .. } => {
                retry_after.unwrap_or(FAILURE_HOLD).min(MAX_FAILURE_HOLD)
            }
            _ => FAILURE_HOLD,
        };
        lock(&self.failures).insert(key, (self.clock.now() + hold, error.clone()));
    }

    /// One token request.
    async fn request(
        &self,
        mut form: Vec<(&'static str, String)>,
        challenge: Option<&Value>,
    ) -> Result<AccessToken, AcquireError> {
        if !secure(&self.token_endpoint) {
            return Err(AcquireError::InsecureAuthority);
        }
        form.push(("client_id", self.client_id.clone()));
        form.extend(
            self.credential
                .form(&self.client_id, &self.token_endpoint)
                .await?,
        );
        if let Some(claims) = merge_claims(&self.capabilities, challenge) {
            form.push(("claims", claims.to_string()));
        }
        let response = self
            .http
            .post(&self.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                tracing::debug!(
                    timeout = error.is_timeout(),
                    connect = error.is_connect(),
                    "token request failed"
                );
                AcquireError::Unavailable {
                    status: None,
                    retry_after: None,
                }
            })?;
        let status = response.status().as_u16();
        let now = self.clock.now();
        // `Retry-After`: seconds, or an HTTP date.
        let retry_after = retry_after(response.headers(), now);
        // The status first: a 5xx or a 429 is what it is, JSON body or not.
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 200 {
            return Err(classify(status, &body, retry_after));
        }
        if !body.is_object() {
            return Err(AcquireError::Protocol("not JSON"));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(AcquireError::Protocol("no access_token"))?;
        let seconds = |name: &str| match body.get(name) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let lifetime = Duration::from_secs(
            seconds("expires_in").ok_or(AcquireError::Protocol("no expires_in"))?,
        )
        .min(MAX_LIFETIME);
        // Refreshed at Entra's `refresh_in`, else the margin before expiry, and never later
        // than half way when the margin is longer than that.
        let ahead = match seconds("refresh_in") {
            Some(refresh_in) => Duration::from_secs(refresh_in).min(lifetime),
            None => lifetime
                .saturating_sub(self.refresh_margin)
                .max(lifetime / 2),
        };
        Ok(AccessToken {
            token: token.into(),
            expires_at: now + lifetime,
            refresh_at: now + ahead,
        })
    }
}

impl TokenClientBuilder {
    /// The authority (default [`DEFAULT_AUTHORITY`]; a national cloud, or a test issuer).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into().trim_end_matches('/').to_owned();
        self
    }

    /// Another audience the API's tokens carry (its Application ID URI): an on-behalf-of
    /// exchange accepts tokens for the client id and these.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The client's capabilities (`cp1`: it handles claims challenges, so its tokens are
    /// CAE-enabled), sent with every request as `xms_cc`.
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// How long before expiry cached tokens are refreshed (default
    /// [`DEFAULT_REFRESH_MARGIN`]).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How many tokens are cached, at most (default [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity.max(1);
        self
    }

    /// The HTTP client for token requests (default: reqwest's, with a 10-second timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock expiry is judged by (default the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The client.
    pub fn build(self) -> TokenClient {
        let token_endpoint = format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant);
        let http = self.http.unwrap_or_else(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        });
        TokenClient {
            inner: Arc::new(Inner {
                token_endpoint,
                client_id: self.client_id,
                credential: self.credential,
                audiences: self.audiences,
                capabilities: self.capabilities,
                http,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                refresh_margin: self.refresh_margin,
                cache: quick_cache::sync::Cache::new(self.cache_capacity),
                answered: quick_cache::sync::Cache::new(ANSWERED_CAPACITY),
                refreshing: Mutex::new(HashSet::new()),
                failures: Mutex::new(HashMap::new()),
            }),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether credentials may go to `url`: https, or plain http to a loopback address (a test).
fn secure(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split([':', '/']).next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn sorted(scopes: &[&str]) -> String {
    let mut scopes: Vec<&str> = scopes.to_vec();
    scopes.sort_unstable();
    scopes.dedup();
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::secure;

    #[test]
    fn credentials_go_over_https_or_to_loopback_only() {
        assert!(secure(
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        ));
        assert!(secure("http://127.0.0.1:4000/t/oauth2/v2.0/token"));
        assert!(secure("http://[::1]:4000/token"));
        assert!(secure("http://localhost/token"));
        assert!(!secure("http://login.example.com/token"));
        assert!(!secure("http://127.0.0.1.example.com/token"));
        assert!(!secure("ftp://127.0.0.1/token"));
    }
}
