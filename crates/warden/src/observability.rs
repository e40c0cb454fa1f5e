//! What warden reports: metrics through the [`metrics`](https://docs.rs/metrics) facade, and
//! refusals in the log. See docs/observability.md.
//!
//! warden records to whatever recorder the application installs (Prometheus, OpenTelemetry,
//! StatsD: the `metrics` ecosystem's exporters); with none installed every call is a no-op that
//! costs a few nanoseconds (the validation bench's "metrics, no recorder" row). Labels are
//! bounded: refusal kinds, outcomes and reasons are warden's own fixed names, issuers are the
//! configured ones; no subject, token, key id or tenant ever becomes a label.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | [`REQUESTS`] | counter | `outcome`: `admitted`, `anonymous`, `refused`, `unavailable` | requests through the layer, once each |
//! | [`REFUSALS`] | counter | `kind` ([`Error::kind`]), `status` (the HTTP status, also for a gRPC answer) | every refusal, by the layer or a requirement: one per refused request (an extractor's rejection counts when it is made) |
//! | [`DPOP_REFUSALS`] | counter | `reason` | refusals of a DPoP proof or binding, by reason |
//! | [`VALIDATION_SECONDS`] | histogram | none | validations that verified a new token without waiting for keys: key lookup, signature, claims, revocation (a token seen before is counted, not timed) |
//! | [`TOKEN_CACHE_LOOKUPS`] | counter | `result`: `hit`, `miss` | the verified-token cache |
//! | [`TOKEN_CACHE_ENTRIES`] | gauge | none | tokens in the cache, read at the first insert and every 256th after |
//! | [`KEY_FETCHES`] | counter | `issuer`, `result`: `ok`, `error` | key set fetches (discovery and JWKS) |
//! | [`KEY_SET_KEYS`] | gauge | `issuer` | keys in the issuer's current set |
//! | [`KEY_SET_LOADED`] | gauge | `issuer` | Unix time the current set was fetched: its age is `time() - this` |
//! | [`REVOCATION_RULES`] | gauge | none | identifiers (users, sessions, tokens, clients) with a revocation rule in the embedded store, after each rule added |
//! | [`REVOCATION_HITS`] | counter | none | tokens refused because a rule revoked them |
//! | [`SSF_EVENTS`] | counter | `event`, `outcome` | Shared Signals events received |
//! | [`GROUP_LOOKUPS`] | counter | `result`: `ok`, `error`, `cached` | group resolver calls |
//!
//! `warden-redis` adds `warden_fleet_feed_current` (1 while the fleet's revocation feed is
//! current, else 0) and `warden_fleet_feed_synced_timestamp_seconds` (when it last knew it had
//! every rule: its lag is `time() - this`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{BindingError, Error};
use crate::principal::verified::Principal;

/// Requests through the layer, by `outcome`.
pub const REQUESTS: &str = "warden_requests_total";
/// Refusals, by `kind` and `status`.
pub const REFUSALS: &str = "warden_refusals_total";
/// DPoP refusals, by `reason`.
pub const DPOP_REFUSALS: &str = "warden_dpop_refusals_total";
/// Validations that verified a signature, in seconds.
pub const VALIDATION_SECONDS: &str = "warden_validation_seconds";
/// Verified-token cache lookups, by `result`.
pub const TOKEN_CACHE_LOOKUPS: &str = "warden_token_cache_lookups_total";
/// Tokens in the verified-token cache.
pub const TOKEN_CACHE_ENTRIES: &str = "warden_token_cache_entries";
/// Key set fetches, by `issuer` and `result`.
pub const KEY_FETCHES: &str = "warden_key_fetches_total";
/// Keys in each issuer's current set.
pub const KEY_SET_KEYS: &str = "warden_key_set_keys";
/// When each issuer's current key set was fetched, in Unix seconds.
pub const KEY_SET_LOADED: &str = "warden_key_set_loaded_timestamp_seconds";
/// Identifiers with a rule in the embedded revocation store.
pub const REVOCATION_RULES: &str = "warden_revocation_rules";
/// Tokens refused as revoked.
pub const REVOCATION_HITS: &str = "warden_revocation_hits_total";
/// Shared Signals events, by `event` and `outcome`.
pub const SSF_EVENTS: &str = "warden_ssf_events_total";
/// Group resolver calls, by `result`.
pub const GROUP_LOOKUPS: &str = "warden_group_lookups_total";

/// The default number of refusals logged at INFO per second, per layer.
pub const DEFAULT_REFUSAL_LOGS_PER_SECOND: u32 = 10;

pub(crate) fn admitted() {
    metrics::counter!(REQUESTS, "outcome" => "admitted").increment(1);
}

pub(crate) fn anonymous() {
    metrics::counter!(REQUESTS, "outcome" => "anonymous").increment(1);
}

/// A request the layer itself refused (counted once in [`REQUESTS`]; [`refused`] counts it in
/// [`REFUSALS`]).
pub(crate) fn refused_at_layer(error: &Error) {
    match error {
        Error::Unavailable(_) => {
            metrics::counter!(REQUESTS, "outcome" => "unavailable").increment(1);
        }
        Error::MissingToken
        | Error::InvalidRequest(_)
        | Error::InvalidToken(_)
        | Error::Binding(_)
        | Error::Revoked { .. }
        | Error::StepUpRequired(_)
        | Error::Forbidden(_) => {
            metrics::counter!(REQUESTS, "outcome" => "refused").increment(1);
        }
    }
}

/// Any refusal, written once: the refusal counter, DPoP's reasons, and the log line.
pub(crate) fn refused(
    error: &Error,
    status: http::StatusCode,
    principal: Option<&Principal>,
    log: &RefusalLog,
) {
    metrics::counter!(REFUSALS, "kind" => error.kind(), "status" => status_label(status))
        .increment(1);
    if let Error::Binding(binding) = error
        && let Some(reason) = dpop_reason(binding)
    {
        metrics::counter!(DPOP_REFUSALS, "reason" => reason).increment(1);
    }
    log.log(error, status, principal);
}

fn status_label(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "400",
        401 => "401",
        403 => "403",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// The reason a DPoP binding was refused, `None` for a certificate binding.
fn dpop_reason(error: &BindingError) -> Option<&'static str> {
    match error {
        BindingError::InvalidProof(proof) => Some(proof.kind()),
        BindingError::UseNonce { .. }
        | BindingError::DpopKeyMismatch
        | BindingError::DpopRequired
        | BindingError::DpopNotAccepted
        | BindingError::NotDpopBound => Some(error.kind()),
        BindingError::Unverified(_)
        | BindingError::OutsideRequest(_)
        | BindingError::CertificateMismatch => None,
    }
}

/// Literal labels only on the paths every request takes: the key is then static, and nothing is
/// allocated whether or not a recorder is installed (tests/process/allocations.rs).
pub(crate) fn cache_lookup(hit: bool) {
    if hit {
        metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "hit").increment(1);
    } else {
        metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "miss").increment(1);
    }
}

pub(crate) fn cache_entries(entries: usize) {
    metrics::gauge!(TOKEN_CACHE_ENTRIES).set(entries as f64);
}

pub(crate) fn validation(elapsed: Duration) {
    metrics::histogram!(VALIDATION_SECONDS).record(elapsed.as_secs_f64());
}

pub(crate) fn key_fetch(issuer: &str, keys: Option<usize>) {
    let issuer = issuer.to_owned();
    match keys {
        Some(keys) => {
            metrics::counter!(KEY_FETCHES, "issuer" => issuer.clone(), "result" => "ok")
                .increment(1);
            metrics::gauge!(KEY_SET_KEYS, "issuer" => issuer.clone()).set(keys as f64);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!(KEY_SET_LOADED, "issuer" => issuer).set(now);
        }
        None => {
            metrics::counter!(KEY_FETCHES, "issuer" => issuer, "result" => "error").increment(1);
        }
    }
}

pub(crate) fn revocation_rules(rules: usize) {
    metrics::gauge!(REVOCATION_RULES).set(rules as f64);
}

pub(crate) fn revocation_hit() {
    metrics::counter!(REVOCATION_HITS).increment(1);
}

pub(crate) fn group_lookup(result: &'static str) {
    metrics::counter!(GROUP_LOOKUPS, "result" => result).increment(1);
}

#[cfg(feature = "ssf")]
pub(crate) fn ssf_event(event: &'static str, outcome: &'static str) {
    metrics::counter!(SSF_EVENTS, "event" => event, "outcome" => outcome).increment(1);
}

/// Refusals logged at INFO, at most `per_second` a second (a fixed one-second window, lock-free:
/// two atomics); the ones left out are counted and reported with the next line logged. A token
/// flood cannot become a log flood. Never the token: its kind, status, and for a verified
/// caller the issuer and client id.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    per_second: u32,
    /// The window (Unix second) and the lines logged in it, packed: second << 32 | count.
    window: AtomicU64,
    /// Lines left out since the last one logged.
    suppressed: AtomicU64,
}

impl RefusalLog {
    pub(crate) fn new(per_second: u32) -> Self {
        RefusalLog {
            per_second,
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be logged now.
    fn admit(&self) -> bool {
        if self.per_second == 0 {
            return false;
        }
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            & 0xFFFF_FFFF;
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, count) = (current >> 32, current & 0xFFFF_FFFF);
            let next = if window == second {
                if count >= u64::from(self.per_second) {
                    return false;
                }
                current + 1
            } else {
                (second << 32) | 1
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    fn log(&self, error: &Error, status: http::StatusCode, principal: Option<&Principal>) {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        if !self.admit() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        let remedy = match error {
            Error::InvalidToken(invalid) => invalid.remedy(),
            Error::MissingToken
            | Error::InvalidRequest(_)
            | Error::Binding(_)
            | Error::Revoked { .. }
            | Error::StepUpRequired(_)
            | Error::Forbidden(_)
            | Error::Unavailable(_) => None,
        };
        tracing::info!(
            kind = error.kind(),
            status = status.as_u16(),
            issuer = principal.map(Principal::issuer),
            client = principal.and_then(Principal::client_id),
            remedy,
            suppressed_since_last = suppressed,
            "request refused"
        );
    }
}
