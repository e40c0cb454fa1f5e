//! Group membership when a token carries an overage marker instead of its `groups` list: the
//! application's resolver, behind a bounded, expiring cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::keys::BoxFuture;
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

/// When a caller's groups were resolved, and what they were.
type CachedEntry = (Instant, Arc<Vec<String>>);

/// A resolver with a cache keyed by the issuer and the caller's [`Principal::identity`].
pub(crate) struct CachedGroups {
    resolver: Arc<dyn GroupResolver>,
    ttl: Duration,
    max_entries: usize,
    cache: Mutex<HashMap<String, CachedEntry>>,
}

impl CachedGroups {
    pub(crate) fn new(resolver: Arc<dyn GroupResolver>, ttl: Duration, max_entries: usize) -> Self {
        CachedGroups {
            resolver,
            ttl,
            max_entries,
            cache: Mutex::new(HashMap::new()),
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

    pub(crate) async fn resolve(&self, p: &Principal) -> Result<Arc<Vec<String>>, Error> {
        let key = Self::key(p);
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((at, groups)) = cache.get(&key)
            && now.duration_since(*at) < self.ttl
        {
            return Ok(groups.clone());
        }
        // The lock is released before the lookup: no I/O under a lock.
        let groups = match self.resolver.groups(p).await {
            Ok(groups) => Arc::new(groups),
            Err(GroupLookupFailed) => {
                tracing::warn!("group resolver failed; refusing the group requirement");
                return Err(Error::GroupsUnavailable);
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= self.max_entries {
                cache.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
                if cache.len() >= self.max_entries {
                    cache.clear();
                }
            }
            cache.insert(key, (now, groups.clone()));
        }
        Ok(groups)
    }
}
