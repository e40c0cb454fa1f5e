//! The background refresher: keys renewed before they go stale, failures retried with
//! backoff, freshness read from `Cache-Control`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use http::header;
use tokio::sync::Notify;

use super::{FIRST_BACKOFF, Inner, MAX_BACKOFF};

/// The refresher: one task per cache. It sleeps until a request wakes it or the keys are due,
/// fetches, installs, publishes the outcome, and sleeps again. It holds the cache only weakly, so
/// dropping the cache ends it (the cache wakes it on drop).
pub(super) async fn refresher(cache: Weak<Inner>, wake: Arc<Notify>) {
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

/// `Cache-Control: max-age=N`; `no-store` or `no-cache` count as 0 (then clamped up).
pub(super) fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
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
pub(super) fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    base + base.mul_f64(f64::from(byte[0]) / 255.0 * 0.25)
}
