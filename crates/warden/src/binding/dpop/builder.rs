//! [`DpopBuilder`]: how DPoP proofs are checked, configured and checked once when built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::error::{ConfigError, Setting};

use super::htu::normalize_url;
use super::{
    DEFAULT_PROOF_ALGORITHMS, Dpop, InMemoryProofReplay, Inner, Nonces, ProofReplayCache,
    algs_param,
};

/// Configures [`Dpop`].
#[derive(Clone)]
pub struct DpopBuilder {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    future_skew: Duration,
    public_url: Option<String>,
    replay: Option<Arc<dyn ProofReplayCache>>,
    nonces: Option<(Vec<u8>, Duration)>,
}

impl fmt::Debug for DpopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBuilder")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl DpopBuilder {
    pub(super) fn new() -> Self {
        DpopBuilder {
            algorithms: DEFAULT_PROOF_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(60),
            future_skew: Duration::from_secs(5),
            public_url: None,
            replay: None,
            nonces: None,
        }
    }

    /// The algorithms a proof may use (default [`DEFAULT_PROOF_ALGORITHMS`]); all asymmetric.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old a proof may be (`iat`, default 60 s). Proofs are kept in the replay cache this
    /// long plus the future skew.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead of the server's clock a proof's `iat` may be (default 5 s).
    pub fn future_skew(mut self, skew: Duration) -> Self {
        self.future_skew = skew;
        self
    }

    /// The URL clients call, for an API behind a proxy or TLS terminator
    /// (`https://api.example.com`, or with a path prefix): proofs' `htu` is compared with it
    /// plus the request's path, never with the request's own `Host`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Where seen proofs are remembered (default an [`InMemoryProofReplay`] for this process;
    /// `warden-redis` provides one a fleet shares).
    pub fn replay_cache(mut self, cache: Arc<dyn ProofReplayCache>) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Requires server nonces (RFC 9449 §9): a proof must carry the nonce the server sent in
    /// `DPoP-Nonce`, which limits how long a proof made in advance stays usable. Nonces change
    /// every `period` and are accepted during their period and the next. They are derived from
    /// `secret` (at least 32 bytes) with HMAC-SHA-256, so replicas given the same secret agree
    /// without sharing state. A refused proof gets 401 `use_dpop_nonce` with a fresh nonce.
    pub fn nonces(mut self, secret: impl Into<Vec<u8>>, period: Duration) -> Self {
        self.nonces = Some((secret.into(), period));
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `dpop`: a nonce secret under 32 bytes or a period under a second,
    /// no algorithm, a window over 10 minutes, or a public URL
    /// that is not an absolute http(s) URL.
    pub fn build(mut self) -> Result<Dpop, ConfigError> {
        let setting = Setting::Dpop;
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(setting, "allows no proof algorithm"));
        }
        if self.max_age > Duration::from_secs(600) || self.future_skew > Duration::from_secs(600) {
            return Err(ConfigError::invalid(
                setting,
                "proof window must be at most 10 minutes",
            ));
        }
        if let Some(url) = &self.public_url
            && (normalize_url(url).is_none() || url.contains('?') || url.contains('#'))
        {
            return Err(ConfigError::invalid(
                setting,
                "public URL must be an absolute http(s) URL without query or fragment",
            ));
        }
        let nonces = match self.nonces.take() {
            None => None,
            Some((secret, period)) => {
                if secret.len() < 32 || period < Duration::from_secs(1) {
                    return Err(ConfigError::invalid(
                        setting,
                        "nonces need a secret of at least 32 bytes and a period of at least a second",
                    ));
                }
                Some(Nonces {
                    key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                    period,
                })
            }
        };
        Ok(self.assemble(nonces))
    }

    /// The configuration, once checked.
    pub(super) fn assemble(self, nonces: Option<Nonces>) -> Dpop {
        Dpop {
            inner: Arc::new(Inner {
                algs_param: algs_param(&self.algorithms),
                algorithms: self.algorithms,
                max_age: self.max_age,
                future_skew: self.future_skew,
                public_url: self.public_url,
                nonces,
                keys: Arc::default(),
                default_replay: self.replay.is_none(),
                replay: self
                    .replay
                    .unwrap_or_else(|| Arc::new(InMemoryProofReplay::default())),
            }),
        }
    }
}
