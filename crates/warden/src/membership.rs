//! Group membership when a token carries an overage marker instead of its `groups` list: the
//! application's resolver, behind a bounded, expiring cache.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::boxed::BoxFuture;
use crate::error::{Dependency, Error, Unavailable};
use crate::principal::Principal;

/// Looks up a user's groups when the token carries an overage marker instead of the list (for
/// example by asking Microsoft Graph `/users/{oid}/transitiveMemberOf`). Results are cached.
pub trait GroupResolver: Send + Sync + 'static {
    /// The group object ids of the caller.
    fn groups(&self, principal: &Principal) -> BoxFuture<Result<Vec<String>, GroupLookupFailed>>;
}

/// A [`GroupResolver`] could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupLookupFailed;

impl fmt::Display for GroupLookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("group lookup failed")
    }
}

impl std::error::Error for GroupLookupFailed {}

/// How long a failed lookup is remembered: every request waiting on it, and those in the next
/// moments, get the failure at once instead of each calling a resolver that just failed.
const FAILURE_TTL: Duration = Duration::from_secs(2);

/// When a caller refused because the resolver failed should try again (`Retry-After`).
const GROUP_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A caller's groups as last resolved: when, and what (or that the resolver failed).
type CachedEntry = (Instant, Result<Arc<Vec<String>>, GroupLookupFailed>);

/// A resolver behind a cache keyed by the issuer and the caller's [`Principal::identity`]:
/// bounded (S3-FIFO eviction, by quick_cache), each answer kept for the TTL, and one lookup per
/// caller at a time: concurrent requests of a caller whose groups are not cached wait for the
/// first one's lookup and share its outcome, success or failure (a failure is kept 2 seconds).
pub(crate) struct CachedGroups {
    resolver: Arc<dyn GroupResolver>,
    ttl: Duration,
    cache: quick_cache::sync::Cache<String, CachedEntry>,
}

impl CachedGroups {
    pub(crate) fn new(resolver: Arc<dyn GroupResolver>, ttl: Duration, max_entries: usize) -> Self {
        CachedGroups {
            resolver,
            ttl,
            cache: quick_cache::sync::Cache::new(max_entries),
        }
    }

    fn key(p: &Principal) -> String {
        // The issuer too: a v1 and a v2 token of one Entra user may come with different groups
        // configurations, and a generic issuer's namespace is the issuer already.
        let identity = p.identity();
        format!(
            "{}\u{0}{}\u{0}{}",
            p.issuer(),
            identity.namespace,
            identity.user_id
        )
    }

    /// Whether a cached outcome still stands.
    fn fresh(&self, (at, outcome): &CachedEntry) -> bool {
        let lifetime = if outcome.is_ok() {
            self.ttl
        } else {
            FAILURE_TTL.min(self.ttl)
        };
        at.elapsed() < lifetime
    }

    pub(crate) async fn resolve(&self, p: &Principal) -> Result<Arc<Vec<String>>, Error> {
        let key = Self::key(p);
        loop {
            // No lock is held across the lookup: the placeholder guard is not a lock, only a
            // marker that makes later callers of this key wait for its value.
            let guard = match self.cache.get_value_or_guard_async(&key).await {
                Ok(entry) if self.fresh(&entry) => {
                    crate::observability::group_lookup("cached");
                    return outcome(entry.1);
                }
                Ok(_) => {
                    // Stale: drop it (unless another caller refreshed it meanwhile), then look
                    // again, so one caller becomes the loader.
                    self.cache.remove_if(&key, |entry| !self.fresh(entry));
                    continue;
                }
                Err(guard) => guard,
            };
            let looked_up = self.resolver.groups(p).await.map(Arc::new);
            if looked_up.is_err() {
                tracing::warn!("group resolver failed; refusing the group requirement");
            }
            crate::observability::group_lookup(if looked_up.is_ok() { "ok" } else { "error" });
            // Filled either way, so every waiting request gets this outcome at once.
            let _ = guard.insert((Instant::now(), looked_up.clone()));
            return outcome(looked_up);
        }
    }
}

fn outcome(
    looked_up: Result<Arc<Vec<String>>, GroupLookupFailed>,
) -> Result<Arc<Vec<String>>, Error> {
    looked_up.map_err(|GroupLookupFailed| {
        Unavailable::new(Dependency::GroupMembership, GROUP_RETRY_AFTER).into()
    })
}
